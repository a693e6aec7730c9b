//! Measures what the operator's benchmarks need from the fake: holding 20,000 objects,
//! listing 10,000 Secrets (in-process and over loopback HTTP), fanning one change out to
//! 50 concurrent watches, and resident memory. Run with `cargo bench -p apiserver-fake`
//! (release). Prints measured figures; nothing is asserted against fixed numbers.

use std::time::{Duration, Instant};

use apiserver_fake::{FakeApiServer, Options};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let p = |q: f64| ms(v[((v.len() - 1) as f64 * q).round() as usize]);
    (p(0.5), p(0.95), p(1.0))
}

async fn run() {
    let rss0 = rss_mib();
    let fake = FakeApiServer::start(Options::default()).expect("fake starts");
    let client = fake.client();
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "bench"}})).unwrap(),
    )
    .await
    .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "bench");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "bench");

    // 20,000 objects: 10k Secrets (~300 B of data each) + 10k ConfigMaps, 8 writers.
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (secrets, cms) = (secrets.clone(), cms.clone());
        tasks.push(tokio::spawn(async move {
            for i in (w..10_000).step_by(8) {
                let s: Secret = serde_json::from_value(json!({
                    "metadata": {"name": format!("s-{i:05}"), "labels": {"app": "bench", "shard": (i % 10).to_string()}},
                    "stringData": {"username": format!("user-{i}"), "password": "x".repeat(200)},
                }))
                .unwrap();
                secrets.create(&PostParams::default(), &s).await.unwrap();
                let c: ConfigMap = serde_json::from_value(json!({
                    "metadata": {"name": format!("c-{i:05}")},
                    "data": {"k": "v".repeat(100)},
                }))
                .unwrap();
                cms.create(&PostParams::default(), &c).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let create = t.elapsed();
    let objects = fake.cluster().store.len();
    println!(
        "create 20,000 objects (8 concurrent writers, in-process): {:.0} ms ({:.0} writes/s); store holds {objects}",
        ms(create),
        20_000.0 / create.as_secs_f64()
    );

    // List 10k Secrets, in-process and over HTTP.
    let mut runs = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let l = secrets.list(&ListParams::default()).await.unwrap();
        runs.push(t.elapsed());
        assert_eq!(l.items.len(), 10_000);
    }
    let (p50, p95, max) = stats(runs);
    println!(
        "list 10,000 Secrets in-process (incl. kube decoding): p50 {p50:.1} ms, p95 {p95:.1} ms, max {max:.1} ms"
    );
    let ep = fake
        .serve_http("127.0.0.1:0".parse().unwrap(), false)
        .await
        .unwrap();
    let kc = kube::config::Kubeconfig::read_from(&ep.kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let http_client = kube::Client::try_from(cfg).unwrap();
    let http_secrets: Api<Secret> = Api::namespaced(http_client.clone(), "bench");
    let mut runs = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let l = http_secrets.list(&ListParams::default()).await.unwrap();
        runs.push(t.elapsed());
        assert_eq!(l.items.len(), 10_000);
    }
    let (p50, p95, max) = stats(runs);
    println!(
        "list 10,000 Secrets over loopback HTTP (incl. kube decoding): p50 {p50:.1} ms, p95 {p95:.1} ms, max {max:.1} ms"
    );
    let mut runs = Vec::new();
    for _ in 0..10 {
        let req = http::Request::get("/api/v1/namespaces/bench/secrets")
            .body(Vec::new())
            .unwrap();
        let t = Instant::now();
        let body = http_client.request_text(req).await.unwrap();
        runs.push(t.elapsed());
        assert!(body.len() > 1_000_000);
    }
    let (p50, p95, max) = stats(runs);
    println!(
        "list 10,000 Secrets over loopback HTTP (raw bytes, server side + transfer): p50 {p50:.1} ms, p95 {p95:.1} ms, max {max:.1} ms"
    );
    let mut runs = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let l = secrets
            .list(&ListParams::default().labels("shard=3"))
            .await
            .unwrap();
        runs.push(t.elapsed());
        assert_eq!(l.items.len(), 1_000);
    }
    let (p50, _, _) = stats(runs);
    println!("list with label selector over 10,000 (1,000 match): p50 {p50:.1} ms");

    // 50 concurrent watches (25 in-process, 25 over HTTP), one change, time to reach all.
    let start_rv = secrets
        .list(&ListParams::default().limit(1))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut streams = Vec::new();
    for i in 0..50 {
        let api = if i % 2 == 0 {
            secrets.clone()
        } else {
            http_secrets.clone()
        };
        let wp = WatchParams::default().timeout(280);
        streams.push(api.watch(&wp, &start_rv).await.unwrap().boxed());
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String, Instant)>();
    for (i, mut s) in streams.into_iter().enumerate() {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(ev)) = s.next().await {
                if let WatchEvent::Modified(o) = ev {
                    let _ = tx.send((
                        i,
                        o.metadata.resource_version.unwrap_or_default(),
                        Instant::now(),
                    ));
                }
            }
        });
    }
    let mut all = Vec::new();
    let mut slowest = Vec::new();
    for round in 0..20 {
        let t = Instant::now();
        let patched = secrets
            .patch(
                "s-00042",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"round": round.to_string()}}})),
            )
            .await
            .unwrap();
        let rv = patched.metadata.resource_version.unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut max = Duration::ZERO;
        while seen.len() < 50 {
            let (i, erv, at) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("fan-out in time")
                .unwrap();
            if erv == rv && seen.insert(i) {
                let d = at.duration_since(t);
                all.push(d);
                max = max.max(d);
            }
        }
        slowest.push(max);
    }
    let watches = fake.cluster().store.watch_count();
    let (p50, p95, _) = stats(all);
    let (s50, s95, smax) = stats(slowest);
    println!(
        "fan-out of one change to {watches} watches (25 in-process, 25 HTTP; from the write call, 20 rounds): \
         per-watch p50 {p50:.2} ms, p95 {p95:.2} ms; last watch reached p50 {s50:.2} ms, p95 {s95:.2} ms, max {smax:.2} ms"
    );
    println!(
        "resident memory: {:.0} MiB at start, {:.0} MiB holding 20,000 objects with 50 watches",
        rss0,
        rss_mib()
    );
    fake.shutdown();
}

fn main() {
    // Two worker threads: the CI machine has 2 cores.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}
