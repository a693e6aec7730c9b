//! The soak benchmark: the operator under steady churn, rotations and faults for a long while,
//! then checked for what a long life could cost — a Secret left behind its AWS version, memory
//! that grew, a watch or task that leaked.
//!
//! `cargo bench --bench soak` (full: 10,000 ExternalSecrets, 10 minutes of faulted load, about
//! 25 minutes in all) or `cargo bench --bench soak -- --quick` (500 ExternalSecrets, 2 minutes,
//! about 5 minutes in all). As in the other benchmarks, the API server fake runs in this process,
//! moto and the operator (the release `stagesync` binary, so its memory is its own) as processes,
//! the operator reaching moto through the counting, fault-injecting AWS proxy.
//!
//! 1. Warm-up: one AWS secret and one ExternalSecret per index, all synced; then churn (create,
//!    update — another AWS secret, another Secret key —, delete, in turn, at a steady rate) and
//!    rotations (a new `AWSCURRENT` every few seconds) for a while.
//! 2. Quiet point A: load stopped, every Secret converged on its AWS version; the baselines are
//!    taken (RSS, open watches, tasks alive, tracked references).
//! 3. The run: churn and rotations again, and a fault every minute (every 30 s in `--quick`),
//!    in turn: watch streams dropped (ended now, and again every 20 events, for 10 s), the API
//!    server refusing connections for 10 s, AWS answering 503 for 10 s.
//! 4. Quiet point B: load stopped, converged, measured again, against A.
//!
//! "Converged" is checked against the truth: every ExternalSecret the API server holds, the
//! current AWS value of the secret its spec names (read from moto), and its Secret's data, which
//! must be exactly that one key; no managed Secret may be left without its ExternalSecret. RSS is
//! sampled from `/proc/<pid>/status` every few seconds; the rest comes from the operator's
//! `/metrics` (`stagesync_watches`, `stagesync_runtime_tasks`, `stagesync_tracked_references`).
//! Prints a markdown table.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apiserver_fake::FaultRule;
use apiserver_fake::faults::Faults;
use common::{Operator, fill_aws, reset_moto, samples, secs};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use stagesync::api::externalsecret::ExternalSecret;
use support::aws_proxy::AwsFault;
use support::moto::moto;

/// What one configuration runs.
struct Sizes {
    external_secrets: usize,
    warmup: Duration,
    run: Duration,
    /// Churn operations per second (create, update, delete in turn).
    churn_per_second: f64,
    rotate_every: Duration,
    fault_every: Duration,
    fault_length: Duration,
    /// The ExternalSecrets' `refreshInterval`.
    refresh: Duration,
    sample_every: Duration,
    /// How long the operator may take to converge at a quiet point.
    converge_within: Duration,
}

fn sizes(quick: bool) -> Sizes {
    if quick {
        Sizes {
            external_secrets: 500,
            warmup: Duration::from_secs(30),
            run: Duration::from_secs(120),
            churn_per_second: 2.0,
            rotate_every: Duration::from_secs(2),
            fault_every: Duration::from_secs(30),
            fault_length: Duration::from_secs(10),
            refresh: Duration::from_secs(20),
            sample_every: Duration::from_secs(2),
            converge_within: Duration::from_secs(300),
        }
    } else {
        Sizes {
            external_secrets: 10_000,
            warmup: Duration::from_secs(120),
            run: Duration::from_secs(600),
            churn_per_second: 5.0,
            rotate_every: Duration::from_secs(3),
            fault_every: Duration::from_secs(60),
            fault_length: Duration::from_secs(10),
            refresh: Duration::from_secs(30),
            sample_every: Duration::from_secs(5),
            converge_within: Duration::from_secs(900),
        }
    }
}

/// The faults, injected in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    WatchesDropped,
    ApiServerRefusing,
    Aws503,
}

const FAULTS: [Fault; 3] = [
    Fault::WatchesDropped,
    Fault::ApiServerRefusing,
    Fault::Aws503,
];

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Self::WatchesDropped => "watch streams dropped",
            Self::ApiServerRefusing => "API server refusing connections",
            Self::Aws503 => "AWS answering 503",
        }
    }
}

/// What the load generators did.
#[derive(Default)]
struct Load {
    created: AtomicU64,
    updated: AtomicU64,
    deleted: AtomicU64,
    /// Churn calls the API server did not take (refused during a fault, mostly).
    failed: AtomicU64,
    rotations: AtomicU64,
}

/// The benchmark's world: the operator, AWS, the ExternalSecrets it believes exist.
struct Soak {
    op: Operator,
    aws: aws_sdk_secretsmanager::Client,
    faults: Faults,
    keys: Vec<String>,
    refresh: Duration,
    /// ExternalSecrets created and not deleted (names), for picking what to update or delete.
    live: Mutex<Vec<String>>,
    next_name: AtomicU64,
    load: Load,
}

/// One sample of the operator.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    rss_mib: f64,
    watches: f64,
    tasks: f64,
    references: f64,
    tracked_secrets: f64,
}

/// The state at a quiet point.
struct Quiet {
    check: Check,
    converged_in: Option<Duration>,
    sample: Sample,
}

/// What the truth check found.
#[derive(Clone, Debug, Default)]
struct Check {
    external_secrets: usize,
    matching: usize,
    /// A few of the ExternalSecrets whose Secret does not hold their AWS value, with why.
    wrong: Vec<String>,
    orphans: usize,
}

impl Check {
    fn converged(&self) -> bool {
        self.matching == self.external_secrets && self.orphans == 0
    }
}

fn spec(key: &str, secret_key: &str, refresh: Duration) -> Value {
    json!({
        "secretStoreRef": {"name": "aws"},
        "refreshInterval": format!("{}s", refresh.as_secs()),
        "data": [{"secretKey": secret_key, "remoteRef": {"key": key, "property": "password"}}],
    })
}

impl Soak {
    fn external_secrets(&self) -> Api<ExternalSecret> {
        Api::namespaced(self.op.client.clone(), &self.op.ns)
    }

    fn random_key(&self) -> &str {
        &self.keys[fastrand::usize(..self.keys.len())]
    }

    async fn create(&self, name: &str, key: &str) -> bool {
        let es: ExternalSecret = serde_json::from_value(json!({
            "apiVersion": "stagesync.io/v1alpha1", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": self.op.ns},
            "spec": spec(key, "password", self.refresh),
        }))
        .unwrap();
        self.external_secrets()
            .create(&PostParams::default(), &es)
            .await
            .is_ok()
    }

    /// One churn operation: the `n`th of create, update, delete in turn.
    async fn churn(&self, n: u64) {
        let pick = || {
            let live = self.live.lock().unwrap();
            (!live.is_empty()).then(|| live[fastrand::usize(..live.len())].clone())
        };
        let (done, counter) = match n % 3 {
            0 => {
                let name = format!("es-c{:06}", self.next_name.fetch_add(1, Ordering::Relaxed));
                let ok = self.create(&name, self.random_key()).await;
                if ok {
                    self.live.lock().unwrap().push(name);
                }
                (ok, &self.load.created)
            }
            1 => {
                let Some(name) = pick() else { return };
                // Another AWS secret, and the other Secret key: the old key must go.
                let secret_key = if fastrand::bool() { "password" } else { "pass" };
                let patch = json!({"spec": spec(self.random_key(), secret_key, self.refresh)});
                let ok = self
                    .external_secrets()
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .is_ok();
                (ok, &self.load.updated)
            }
            _ => {
                let Some(name) = pick() else { return };
                let ok = self
                    .external_secrets()
                    .delete(&name, &DeleteParams::default())
                    .await
                    .is_ok();
                if ok {
                    self.live.lock().unwrap().retain(|n| *n != name);
                }
                (ok, &self.load.deleted)
            }
        };
        if done {
            counter.fetch_add(1, Ordering::Relaxed);
        } else {
            self.load.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A new `AWSCURRENT` value of a random secret (moto directly: AWS itself never fails here,
    /// only the operator's way to it).
    async fn rotate(&self, n: u64) {
        let key = self.random_key();
        let rotated = self
            .aws
            .put_secret_value()
            .secret_id(key)
            .secret_string(json!({"password": format!("rotated-{n}-{key}")}).to_string())
            .send()
            .await;
        if rotated.is_ok() {
            self.load.rotations.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Churn and rotations until `stop` is set.
    async fn load(&self, stop: &AtomicBool, churn_per_second: f64, rotate_every: Duration) {
        let churn = async {
            let every = Duration::from_secs_f64(1.0 / churn_per_second);
            let mut tick = tokio::time::interval(every);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                self.churn(n).await;
                n += 1;
            }
        };
        let rotations = async {
            let mut tick = tokio::time::interval(rotate_every);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                self.rotate(n).await;
                n += 1;
            }
        };
        tokio::join!(churn, rotations);
    }

    /// Injects `fault` for `length`, then ends it.
    async fn fault(&self, fault: Fault, length: Duration) {
        match fault {
            Fault::WatchesDropped => {
                self.faults.add(FaultRule {
                    verb: Some("watch".into()),
                    drop_watch_after_events: Some(20),
                    ..Default::default()
                });
                self.faults.end_watches();
                tokio::time::sleep(length).await;
                self.faults.clear();
            }
            Fault::ApiServerRefusing => {
                self.faults.refuse_connections(length);
                tokio::time::sleep(length).await;
                while self.faults.refusing_until().is_some() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Fault::Aws503 => {
                self.op.proxy.inject(None, AwsFault::unavailable());
                tokio::time::sleep(length).await;
                self.op.proxy.heal(None);
            }
        }
    }

    /// The operator now: RSS from `/proc`, the rest from `/metrics`.
    async fn sample(&self) -> Option<Sample> {
        let pid = self.op.process.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib: f64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        let text = self.op.metrics().await;
        let sum = |name: &str| samples(&text, name).iter().map(|s| s.1).sum::<f64>();
        Some(Sample {
            rss_mib: kib / 1024.0,
            watches: sum("stagesync_watches"),
            tasks: sum("stagesync_runtime_tasks"),
            references: sum("stagesync_tracked_references"),
            tracked_secrets: sum("stagesync_tracked_secrets"),
        })
    }

    /// The truth: every ExternalSecret the API server holds, the AWS value its spec names, and
    /// its Secret.
    async fn check(&self) -> Result<Check, String> {
        let ess = self
            .external_secrets()
            .list(&ListParams::default())
            .await
            .map_err(|e| format!("list ExternalSecrets: {e}"))?;
        let wanted: BTreeMap<String, (String, String)> = ess
            .items
            .iter()
            .filter(|es| es.metadata.deletion_timestamp.is_none())
            .filter_map(|es| {
                let d = es.spec.data.first()?;
                Some((
                    es.metadata.name.clone()?,
                    (d.remote_ref.key.clone(), d.secret_key.clone()),
                ))
            })
            .collect();
        let keys: BTreeSet<&String> = wanted.values().map(|(k, _)| k).collect();
        let current = self
            .aws_passwords(keys.into_iter().cloned().collect())
            .await?;
        let secrets = Api::<Secret>::namespaced(self.op.client.clone(), &self.op.ns)
            .list(&ListParams::default().labels("stagesync.io/managed=true"))
            .await
            .map_err(|e| format!("list Secrets: {e}"))?;
        let by_name: BTreeMap<String, BTreeMap<String, String>> = secrets
            .items
            .into_iter()
            .filter_map(|s| {
                let data = s
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                    .collect();
                Some((s.metadata.name?, data))
            })
            .collect();
        let mut check = Check {
            external_secrets: wanted.len(),
            orphans: by_name.keys().filter(|n| !wanted.contains_key(*n)).count(),
            ..Check::default()
        };
        for (name, (key, secret_key)) in &wanted {
            let expected = current
                .get(key)
                .map(|v| BTreeMap::from([(secret_key.clone(), v.clone())]));
            match (by_name.get(name), expected) {
                (Some(data), Some(expected)) if *data == expected => check.matching += 1,
                (got, expected) if check.wrong.len() < 5 => check.wrong.push(format!(
                    "{name} ({key} → {secret_key}): Secret {:?}, AWS {:?}",
                    got.map(|d| d.keys().collect::<Vec<_>>()),
                    expected.map(|e| e.into_values().collect::<Vec<_>>())
                )),
                _ => {}
            }
        }
        Ok(check)
    }

    /// The current `password` of each secret, from moto (BatchGetSecretValue, 20 a call).
    async fn aws_passwords(&self, keys: Vec<String>) -> Result<BTreeMap<String, String>, String> {
        let chunks: Vec<Vec<String>> = keys.chunks(20).map(<[String]>::to_vec).collect();
        let answers: Vec<Result<Vec<(String, String)>, String>> = stream::iter(chunks)
            .map(|chunk| async move {
                let out = self
                    .aws
                    .batch_get_secret_value()
                    .set_secret_id_list(Some(chunk))
                    .send()
                    .await
                    .map_err(|e| format!("BatchGetSecretValue: {e:?}"))?;
                Ok(out
                    .secret_values()
                    .iter()
                    .filter_map(|v| {
                        let text: Value = serde_json::from_str(v.secret_string()?).ok()?;
                        Some((v.name()?.to_owned(), text["password"].as_str()?.to_owned()))
                    })
                    .collect())
            })
            .buffer_unordered(8)
            .collect()
            .await;
        let mut all = BTreeMap::new();
        for answer in answers {
            all.extend(answer?);
        }
        Ok(all)
    }

    /// Waits (load stopped) until the check passes or `within` passes; then samples the
    /// operator a few times and keeps the median.
    async fn quiet_point(&self, within: Duration) -> Quiet {
        let started = Instant::now();
        let mut check = Check::default();
        let mut converged_in = None;
        while started.elapsed() < within {
            match self.check().await {
                Ok(c) => {
                    let done = c.converged();
                    check = c;
                    if done {
                        converged_in = Some(started.elapsed());
                        break;
                    }
                }
                Err(e) => eprintln!("check: {e}"),
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        // Reconnected watches and finished reconciles settle, and the connections left idle by
        // the load close (hyper's pools keep an idle one 90 s; each open connection is a task):
        // then sample a few times, keep the median.
        tokio::time::sleep(POOL_IDLE + Duration::from_secs(5)).await;
        let mut taken = Vec::new();
        for _ in 0..5 {
            if let Some(s) = self.sample().await {
                taken.push(s);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Quiet {
            check,
            converged_in,
            sample: median(&taken),
        }
    }
}

/// How long the kube and AWS clients keep an idle connection (hyper-util's pool default).
const POOL_IDLE: Duration = Duration::from_secs(90);

fn median(samples: &[Sample]) -> Sample {
    let pick = |f: fn(&Sample) -> f64| {
        let mut v: Vec<f64> = samples.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    Sample {
        rss_mib: pick(|s| s.rss_mib),
        watches: pick(|s| s.watches),
        tasks: pick(|s| s.tasks),
        references: pick(|s| s.references),
        tracked_secrets: pick(|s| s.tracked_secrets),
    }
}

/// Samples the operator every `every` until `stop` is set.
async fn sampler(
    soak: &Soak,
    stop: &AtomicBool,
    every: Duration,
    out: &Mutex<Vec<(Duration, Sample)>>,
) {
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Some(s) = soak.sample().await {
            out.lock().unwrap().push((started.elapsed(), s));
        }
        tokio::time::sleep(every).await;
    }
}

/// One row of the result table.
struct Row {
    what: String,
    a: String,
    b: String,
    goal: String,
    met: Option<bool>,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(quick));
}

async fn run(quick: bool) {
    let z = sizes(quick);
    let started = Instant::now();
    eprintln!(
        "soak benchmark ({}): {} ExternalSecrets, {} of faulted load",
        if quick { "quick" } else { "full" },
        z.external_secrets,
        secs(z.run)
    );
    reset_moto();
    let aws = moto().admin_client().await;
    let keys = fill_aws(&aws, z.external_secrets).await;
    let op = Operator::start(&["--concurrency", "16"]).await;
    let faults = op
        .cluster
        .faults("soak benchmark")
        .expect("the soak runs on the API server fake");
    let soak = Arc::new(Soak {
        op,
        aws,
        faults,
        keys,
        refresh: z.refresh,
        live: Mutex::default(),
        next_name: AtomicU64::new(0),
        load: Load::default(),
    });

    // 1. Warm-up: everything synced, then churn and rotations.
    let names: Vec<String> = (0..z.external_secrets)
        .map(|i| format!("es-{i:05}"))
        .collect();
    stream::iter(names.iter().zip(&soak.keys))
        .map(|(name, key)| {
            let soak = soak.clone();
            async move { soak.create(name, key).await }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    *soak.live.lock().unwrap() = names;
    let synced = soak
        .op
        .wait_synced(z.external_secrets, z.converge_within)
        .await;
    eprintln!("initial sync: {:?}", synced.map(secs));
    let stop = AtomicBool::new(false);
    tokio::select! {
        _ = soak.load(&stop, z.churn_per_second, z.rotate_every) => {}
        _ = tokio::time::sleep(z.warmup) => {}
    }
    stop.store(true, Ordering::Relaxed);

    // 2. Quiet point A.
    let a = soak.quiet_point(z.converge_within).await;
    eprintln!(
        "quiet point A: {:?} {:?} {:?}",
        a.check, a.converged_in, a.sample
    );
    let load_before = (
        soak.load.created.load(Ordering::Relaxed),
        soak.load.updated.load(Ordering::Relaxed),
        soak.load.deleted.load(Ordering::Relaxed),
        soak.load.failed.load(Ordering::Relaxed),
        soak.load.rotations.load(Ordering::Relaxed),
    );
    let calls_before: u64 = soak.op.wire().values().sum();

    // 3. The run: load, a fault every `fault_every`, samples.
    let stop = AtomicBool::new(false);
    let stop_sampling = AtomicBool::new(false);
    let series = Mutex::new(Vec::new());
    let mut injected: BTreeMap<Fault, u32> = BTreeMap::new();
    let run_started = Instant::now();
    let faults_in_turn = async {
        let mut k = 0;
        loop {
            let at = z.fault_every * (k + 1);
            if at + z.fault_length > z.run {
                break;
            }
            tokio::time::sleep_until((run_started + at).into()).await;
            let fault = FAULTS[k as usize % FAULTS.len()];
            eprintln!("{}: {}", secs(run_started.elapsed()), fault.name());
            soak.fault(fault, z.fault_length).await;
            *injected.entry(fault).or_default() += 1;
            k += 1;
        }
        tokio::time::sleep_until((run_started + z.run).into()).await;
        stop.store(true, Ordering::Relaxed);
    };
    tokio::join!(
        soak.load(&stop, z.churn_per_second, z.rotate_every),
        faults_in_turn,
        async {
            sampler(&soak, &stop_sampling, z.sample_every, &series).await;
        },
        async {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            stop_sampling.store(true, Ordering::Relaxed);
        },
    );
    let ran = run_started.elapsed();
    let calls_during = soak.op.wire().values().sum::<u64>() - calls_before;

    // 4. Quiet point B.
    let b = soak.quiet_point(z.converge_within).await;
    eprintln!(
        "quiet point B: {:?} {:?} {:?}",
        b.check, b.converged_in, b.sample
    );
    let peak_rss = soak.op.peak_rss_mib();
    let series = series.into_inner().unwrap();

    let load = (
        soak.load.created.load(Ordering::Relaxed) - load_before.0,
        soak.load.updated.load(Ordering::Relaxed) - load_before.1,
        soak.load.deleted.load(Ordering::Relaxed) - load_before.2,
        soak.load.failed.load(Ordering::Relaxed) - load_before.3,
        soak.load.rotations.load(Ordering::Relaxed) - load_before.4,
    );
    let rows = table(&a, &b);
    println!(
        "Soak ({}): {} ExternalSecrets at the start, {} of load with faults; A = quiet point after \
         the warm-up, B = quiet point after the run.\n",
        if quick { "quick" } else { "full" },
        z.external_secrets,
        secs(ran)
    );
    println!("| What | A (after warm-up) | B (after the run) | Goal | Met |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        println!("| {} | {} | {} | {} | {met} |", r.what, r.a, r.b, r.goal);
    }
    println!();
    let faults: Vec<String> = injected
        .iter()
        .map(|(f, n)| format!("{} × {n}", f.name()))
        .collect();
    println!(
        "- Load during the run: {} created, {} updated, {} deleted ({} churn calls refused during \
         faults), {} rotations; faults, {} s each: {}.",
        load.0,
        load.1,
        load.2,
        load.3,
        load.4,
        z.fault_length.as_secs(),
        faults.join(", ")
    );
    println!(
        "- Secrets Manager calls through the proxy during the run: {calls_during} ({:.0} a minute).",
        calls_during as f64 / ran.as_secs_f64() * 60.0
    );
    let (lo, hi) = series.iter().fold((f64::MAX, 0f64), |(lo, hi), (_, s)| {
        (lo.min(s.rss_mib), hi.max(s.rss_mib))
    });
    let watches: BTreeSet<i64> = series.iter().map(|(_, s)| s.watches as i64).collect();
    println!(
        "- During the run ({} samples): RSS {lo:.1}–{hi:.1} MiB, peak (VmHWM) {}; open watches \
         seen: {watches:?}.",
        series.len(),
        peak_rss.map_or("?".into(), |m| format!("{m:.1} MiB"))
    );
    for (label, q) in [("A", &a), ("B", &b)] {
        if !q.check.wrong.is_empty() {
            println!("- Not converged at {label}: {}", q.check.wrong.join("; "));
        }
    }
    println!();
    println!("Run time: {}", secs(started.elapsed()));
    Arc::into_inner(soak)
        .expect("every task is done")
        .op
        .stop()
        .await;
}

fn table(a: &Quiet, b: &Quiet) -> Vec<Row> {
    let converged = |q: &Quiet| {
        format!(
            "{} / {}{}",
            q.check.matching,
            q.check.external_secrets,
            q.converged_in
                .map_or(" (not converged)".into(), |d| format!(", in {}", secs(d)))
        )
    };
    let growth = (b.sample.rss_mib - a.sample.rss_mib) / a.sample.rss_mib * 100.0;
    vec![
        Row {
            what: "Secrets holding exactly their ExternalSecret's AWS value, once load stopped"
                .into(),
            a: converged(a),
            b: converged(b),
            goal: "all".into(),
            met: Some(a.check.converged() && b.check.converged()),
        },
        Row {
            what: "managed Secrets left without their ExternalSecret".into(),
            a: a.check.orphans.to_string(),
            b: b.check.orphans.to_string(),
            goal: "0".into(),
            met: Some(a.check.orphans == 0 && b.check.orphans == 0),
        },
        Row {
            what: "operator RSS (median of 5 samples)".into(),
            a: format!("{:.1} MiB", a.sample.rss_mib),
            b: format!("{:.1} MiB ({growth:+.1} %)", b.sample.rss_mib),
            goal: "B ≤ A + 5 %".into(),
            met: Some(growth <= 5.0),
        },
        Row {
            what: "watches open on the API server (`stagesync_watches`)".into(),
            a: format!("{:.0}", a.sample.watches),
            b: format!("{:.0}", b.sample.watches),
            goal: "B = A".into(),
            met: Some(a.sample.watches == b.sample.watches && a.sample.watches > 0.0),
        },
        Row {
            what: "tasks alive (`stagesync_runtime_tasks`)".into(),
            a: format!("{:.0}", a.sample.tasks),
            b: format!("{:.0}", b.sample.tasks),
            goal: "B ≤ A + 5 %".into(),
            met: Some(b.sample.tasks <= a.sample.tasks * 1.05),
        },
        Row {
            what: "tracked references (`stagesync_tracked_references`) vs ExternalSecrets".into(),
            a: format!("{:.0} / {}", a.sample.references, a.check.external_secrets),
            b: format!("{:.0} / {}", b.sample.references, b.check.external_secrets),
            goal: "one each".into(),
            met: Some(
                a.sample.references == a.check.external_secrets as f64
                    && b.sample.references == b.check.external_secrets as f64,
            ),
        },
        Row {
            what: "remote secrets tracked (`stagesync_tracked_secrets`)".into(),
            a: format!("{:.0}", a.sample.tracked_secrets),
            b: format!("{:.0}", b.sample.tracked_secrets),
            goal: "—".into(),
            met: None,
        },
    ]
}
