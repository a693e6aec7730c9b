//! The restart benchmark: how soon, and how often, stagesync rolls the workloads that use a
//! Secret after AWS rotates the secret it comes from.
//!
//! `cargo bench --bench restart` (full, about 22 minutes, most of it R3 waiting out the rate
//! limit) or `cargo bench --bench restart -- --quick` (about 2 minutes); `-- --only R1,R3` runs
//! some rows only. As in the refresh benchmark, the API server fake runs in this process and
//! moto and the operator (the release `stagesync` binary, default restart settings:
//! `--restart-debounce 5s`, `--max-rollouts-per-minute 30`) run as processes. Rotations are done
//! as AWS rotation does them: a new version staged `AWSPENDING`, then promoted to `AWSCURRENT`.
//! The fake has no Deployment controller, so no pod ever runs: a rollout is the change of the
//! pod-template annotation `stagesync.io/secrets-hash` (one more `metadata.generation`). Secrets
//! and Deployments are followed by watches, which timestamp each change as it arrives. Prints a
//! markdown table.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Operator, percentile, reset_moto, samples, secs};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use stagesync::restart::plan::ANNOTATION_SECRETS_SEEN;
use stagesync::restart::workload::Kind;
use support::moto::moto;
use support::objects::{create_aws, create_es, promote, stage_pending, store_ref};
use support::workloads::{api, create, expected_record, pod_template, restart_mark, workload};

/// What one configuration of the benchmark runs.
struct Sizes {
    /// R1: rotations of a secret one Deployment uses.
    r1_rotations: usize,
    /// R2: rotations of a secret three Secrets of one Deployment come from.
    r2_rotations: usize,
    /// R3: Deployments sharing one rotated Secret.
    r3_workloads: usize,
    /// The ExternalSecrets' `refreshInterval`: a staged `AWSPENDING` version is seen within it.
    interval: Duration,
}

fn sizes(quick: bool) -> Sizes {
    if quick {
        Sizes {
            r1_rotations: 5,
            r2_rotations: 3,
            r3_workloads: 50,
            interval: Duration::from_secs(5),
        }
    } else {
        Sizes {
            r1_rotations: 20,
            r2_rotations: 10,
            r3_workloads: 500,
            interval: Duration::from_secs(10),
        }
    }
}

/// The operator's defaults the rows depend on.
const DEBOUNCE: Duration = Duration::from_secs(5);
const ROLLOUTS_PER_MINUTE: usize = 30;

/// One row of the result table.
struct Row {
    id: &'static str,
    what: String,
    measured: String,
    goal: String,
    met: Option<bool>,
}

/// A Deployment as the watch last showed it.
#[derive(Clone, Debug)]
struct Observed {
    uid: String,
    generation: i64,
    /// The pod-template `stagesync.io/secrets-hash`.
    hash: Option<String>,
    /// When the watch first showed the present hash.
    hash_since: Instant,
    /// How often the hash changed while watched.
    hash_changes: u32,
    /// The metadata `stagesync.io/secrets-seen`.
    record: Option<String>,
}

/// What the watches showed.
#[derive(Default)]
struct World {
    /// Secret → its key `v` as last shown.
    secrets: HashMap<String, String>,
    /// (Secret, value of `v`) → when the watch first showed the Secret holding it.
    written: HashMap<(String, String), Instant>,
    /// Deployment name → its state.
    workloads: HashMap<String, Observed>,
}

impl World {
    fn written(&self, secret: &str, value: &str) -> Option<Instant> {
        self.written
            .get(&(secret.to_owned(), value.to_owned()))
            .copied()
    }
}

/// Watches of the namespace's managed Secrets and Deployments, stopped when dropped.
struct Watches {
    world: Arc<Mutex<World>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Watches {
    fn start(client: &Client, ns: &str) -> Self {
        let world = Arc::new(Mutex::new(World::default()));
        let secrets = {
            let world = world.clone();
            let api = Api::<Secret>::namespaced(client.clone(), ns);
            let config = watcher::Config::default().labels("stagesync.io/managed=true");
            tokio::spawn(async move {
                let mut events = watcher(api, config).default_backoff().boxed();
                while let Some(event) = events.next().await {
                    let now = Instant::now();
                    let (Ok(Event::Apply(s)) | Ok(Event::InitApply(s))) = event else {
                        continue;
                    };
                    let v = s
                        .data
                        .as_ref()
                        .and_then(|d| d.get("v"))
                        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                        .unwrap_or_default();
                    let mut w = world.lock().unwrap();
                    w.written.entry((s.name_any(), v.clone())).or_insert(now);
                    w.secrets.insert(s.name_any(), v);
                }
            })
        };
        let deployments = {
            let world = world.clone();
            let api = api(client, ns, Kind::Deployment);
            tokio::spawn(async move {
                let mut events = watcher(api, watcher::Config::default())
                    .default_backoff()
                    .boxed();
                while let Some(event) = events.next().await {
                    let now = Instant::now();
                    let (Ok(Event::Apply(d)) | Ok(Event::InitApply(d))) = event else {
                        continue;
                    };
                    let hash = restart_mark(Kind::Deployment, &d);
                    let mut w = world.lock().unwrap();
                    let o = w.workloads.entry(d.name_any()).or_insert_with(|| Observed {
                        uid: d.uid().unwrap_or_default(),
                        generation: 0,
                        hash: hash.clone(),
                        hash_since: now,
                        hash_changes: 0,
                        record: None,
                    });
                    if o.hash != hash {
                        o.hash = hash;
                        o.hash_since = now;
                        o.hash_changes += 1;
                    }
                    o.generation = d.metadata.generation.unwrap_or_default();
                    o.record = d.annotations().get(ANNOTATION_SECRETS_SEEN).cloned();
                }
            })
        };
        Self {
            world,
            tasks: vec![secrets, deployments],
        }
    }

    /// Looks at what the watches showed every 10 ms until `check` returns `Some`, at most for
    /// `timeout`.
    async fn until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&World) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check(&self.world.lock().unwrap()) {
                return Some(v);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn workload(&self, name: &str) -> Option<Observed> {
        self.world.lock().unwrap().workloads.get(name).cloned()
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// One row's world: AWS emptied, the operator running with default restart settings, watches.
struct Scenario {
    op: Operator,
    aws: aws_sdk_secretsmanager::Client,
    watches: Watches,
    interval: Duration,
}

impl Scenario {
    async fn start(interval: Duration) -> Self {
        reset_moto();
        let aws = moto().admin_client().await;
        let op = Operator::start(&[]).await;
        let watches = Watches::start(&op.client, &op.ns);
        Self {
            op,
            aws,
            watches,
            interval,
        }
    }

    fn client(&self) -> &Client {
        &self.op.client
    }

    /// ExternalSecret (and Secret) `name` reading AWS secret `key` (its `property`, if any)
    /// into key `v`.
    async fn external_secret(&self, name: &str, key: &str, property: Option<&str>) {
        let mut remote = json!({"key": key});
        if let Some(p) = property {
            remote["property"] = json!(p);
        }
        let spec = json!({
            "secretStoreRef": store_ref(),
            "refreshInterval": format!("{}s", self.interval.as_secs()),
            "data": [{"secretKey": "v", "remoteRef": remote}],
        });
        create_es(self.client(), &self.op.ns, name, spec).await;
    }

    /// Creates Deployment `name` (opted in with `stagesync.io/reload`) with `template`.
    async fn deployment(&self, name: &str, template: Value) {
        let manifest = workload(
            Kind::Deployment,
            name,
            json!({"stagesync.io/reload": "true"}),
            template,
        );
        create(self.client(), &self.op.ns, Kind::Deployment, manifest).await;
    }

    /// Waits until each of `names` records the present data of `secrets` (after which nothing
    /// about them is pending); returns them as the watch shows them, or `None` after `timeout`.
    async fn settled(
        &self,
        names: &[String],
        secrets: &[&str],
        timeout: Duration,
    ) -> Option<Vec<Observed>> {
        let deadline = Instant::now() + timeout;
        loop {
            let shown: Option<Vec<Observed>> = {
                let w = self.watches.world.lock().unwrap();
                names
                    .iter()
                    .map(|n| w.workloads.get(n).filter(|o| o.record.is_some()).cloned())
                    .collect()
            };
            if let Some(shown) = shown {
                let agree = stream::iter(&shown)
                    .map(|o| async move {
                        let want = expected_record(self.client(), &self.op.ns, &o.uid, secrets)
                            .await
                            .encode();
                        o.record.as_deref() == Some(want.as_str())
                    })
                    .buffer_unordered(16)
                    .all(|agrees| async move { agrees })
                    .await;
                if agree {
                    return Some(shown);
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An AWS rotation of `key` from version `from`: `value` staged `AWSPENDING`, a wait of one
    /// `refreshInterval` (+ 2 s) for the operator's sweep to notice the rotation in progress,
    /// then the promotion to `AWSCURRENT`. Returns the new version id and when AWS answered the
    /// promotion.
    async fn rotate(&self, key: &str, from: &str, value: &str) -> (String, Instant) {
        let new = stage_pending(&self.aws, key, value).await;
        tokio::time::sleep(self.interval + Duration::from_secs(2)).await;
        promote(&self.aws, key, from, &new).await;
        (new, Instant::now())
    }

    /// The operator's `stagesync_restart_queue_length`.
    async fn queue_length(&self) -> Option<f64> {
        let text = self.op.metrics().await;
        samples(&text, "stagesync_restart_queue_length")
            .first()
            .map(|s| s.1)
    }

    /// Deployments restarted as the operator counts them.
    async fn restarts_counted(&self) -> f64 {
        let text = self.op.metrics().await;
        samples(&text, "stagesync_workload_restarts_total")
            .iter()
            .filter(|(l, _)| common::label(l, "result") == Some("restarted"))
            .map(|s| s.1)
            .sum()
    }
}

fn p50_p99(mut d: Vec<Duration>, missed: usize) -> (String, Duration) {
    d.sort();
    let p99 = percentile(&d, 0.99);
    let text = format!(
        "{} / {}{}",
        secs(percentile(&d, 0.5)),
        secs(p99),
        if missed > 0 {
            format!(" ({missed} missed)")
        } else {
            String::new()
        }
    );
    (text, p99)
}

/// R1: one ExternalSecret → Secret `db`, one Deployment using it; rotation after rotation, how
/// long until the Deployment's template changed — from the promotion, and from the Secret write.
async fn r1(z: &Sizes, notes: &mut Vec<String>) -> Vec<Row> {
    let s = Scenario::start(z.interval).await;
    let key = "bench/r1";
    let mut version = create_aws(&s.aws, key, "v0").await;
    s.external_secret("db", key, None).await;
    s.op.wait_synced(1, Duration::from_secs(60))
        .await
        .expect("Secret db synced");
    s.deployment("web", pod_template("env", "db", false)).await;
    let web = vec!["web".to_owned()];
    s.settled(&web, &["db"], Duration::from_secs(60))
        .await
        .expect("web recorded");
    let n = z.r1_rotations;
    let (mut from_promotion, mut from_write, mut to_write) = (Vec::new(), Vec::new(), Vec::new());
    let mut rollouts = Vec::new();
    let mut missed = 0;
    for i in 1..=n {
        let before = s.watches.workload("web").expect("web watched");
        let value = format!("v{i}");
        let (new, promoted) = s.rotate(key, &version, &value).await;
        version = new;
        let seen = s
            .watches
            .until(Duration::from_secs(30), |w| {
                let written = w.written("db", &value)?;
                let o = w.workloads.get("web")?;
                (o.hash != before.hash).then_some((written, o.hash_since))
            })
            .await;
        let Some((written, rolled)) = seen else {
            eprintln!("R1 rotation {i}: no rollout within 30 s");
            missed += 1;
            continue;
        };
        from_promotion.push(rolled.saturating_duration_since(promoted));
        from_write.push(rolled.saturating_duration_since(written));
        to_write.push(written.saturating_duration_since(promoted));
        let after = s.settled(&web, &["db"], Duration::from_secs(30)).await;
        let rolled_times = after.map(|a| a[0].generation - before.generation);
        eprintln!(
            "R1 rotation {i}: Secret written {:.3} s after the promotion, template {:.3} s after the write, {rolled_times:?} rollouts",
            to_write.last().unwrap().as_secs_f64(),
            from_write.last().unwrap().as_secs_f64(),
        );
        rollouts.push(rolled_times.unwrap_or(-1));
    }
    let (written_text, _) = p50_p99(to_write, missed);
    notes.push(format!(
        "R1: AWS promotion → Secret written, p50 / p99: {written_text}; rollouts per rotation: {rollouts:?}"
    ));
    let (promo_text, _) = p50_p99(from_promotion, missed);
    let (write_text, write_p99) = p50_p99(from_write, missed);
    let goal = Duration::from_secs(2);
    s.op.stop().await;
    vec![
        Row {
            id: "R1",
            what: format!(
                "rotation promoted in AWS → workload template updated, {n} rotations: p50 / p99"
            ),
            measured: promo_text,
            goal: "—".into(),
            met: None,
        },
        Row {
            id: "R1",
            what: format!("Secret written → workload template updated, {n} rotations: p50 / p99"),
            measured: write_text,
            goal: format!("p99 ≤ {}", secs(goal)),
            met: Some(missed == 0 && write_p99 <= goal),
        },
    ]
}

/// A pod template with one container reading key `v` of each of `secrets` (env secretKeyRef).
fn template_using(secrets: &[&str]) -> Value {
    let env: Vec<Value> = secrets
        .iter()
        .map(|s| {
            json!({"name": s.to_uppercase(), "valueFrom": {"secretKeyRef": {"name": s, "key": "v"}}})
        })
        .collect();
    json!({
        "metadata": {"labels": {"app": "x"}},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1", "env": env}]},
    })
}

/// R2: one AWS secret `{"a", "b", "c"}`, three ExternalSecrets each reading one property into
/// Secrets `a`, `b`, `c`, one Deployment using all three; rollouts per rotation.
async fn r2(z: &Sizes, notes: &mut Vec<String>) -> Vec<Row> {
    let s = Scenario::start(z.interval).await;
    let key = "bench/r2";
    let value =
        |i: usize| json!({"a": format!("a{i}"), "b": format!("b{i}"), "c": format!("c{i}")});
    let mut version = create_aws(&s.aws, key, &value(0).to_string()).await;
    let secrets = ["a", "b", "c"];
    for p in secrets {
        s.external_secret(p, key, Some(p)).await;
    }
    s.op.wait_synced(3, Duration::from_secs(60))
        .await
        .expect("Secrets a, b, c synced");
    s.deployment("multi", template_using(&secrets)).await;
    let multi = vec!["multi".to_owned()];
    s.settled(&multi, &secrets, Duration::from_secs(60))
        .await
        .expect("multi recorded");
    let n = z.r2_rotations;
    let mut rollouts: Vec<i64> = Vec::new();
    let mut last_write_to_rollout = Vec::new();
    let mut spread = Vec::new();
    let mut missed = 0;
    for i in 1..=n {
        let before = s.watches.workload("multi").expect("multi watched");
        let (new, _) = s.rotate(key, &version, &value(i).to_string()).await;
        version = new;
        // All three Secrets hold the new values, and the workload records exactly that.
        let written = s
            .watches
            .until(Duration::from_secs(30), |w| {
                secrets
                    .iter()
                    .map(|p| w.written(p, &format!("{p}{i}")))
                    .collect::<Option<Vec<Instant>>>()
            })
            .await;
        let after = match written {
            Some(_) => s.settled(&multi, &secrets, Duration::from_secs(30)).await,
            None => None,
        };
        let (Some(written), Some(after)) = (written, after) else {
            eprintln!("R2 rotation {i}: not settled within 30 s");
            missed += 1;
            continue;
        };
        let after = &after[0];
        let count = after.generation - before.generation;
        let (first, last) = (
            *written.iter().min().unwrap(),
            *written.iter().max().unwrap(),
        );
        spread.push(last - first);
        if count > 0 {
            last_write_to_rollout.push(after.hash_since.saturating_duration_since(last));
        }
        eprintln!(
            "R2 rotation {i}: Secrets written within {:.3} s, {count} rollouts ({} hash changes), last {:.3} s after the last write",
            (last - first).as_secs_f64(),
            after.hash_changes - before.hash_changes,
            after
                .hash_since
                .saturating_duration_since(last)
                .as_secs_f64(),
        );
        rollouts.push(count);
    }
    let (min, max) = (
        rollouts.iter().min().copied().unwrap_or(0),
        rollouts.iter().max().copied().unwrap_or(0),
    );
    let (latency, _) = p50_p99(last_write_to_rollout, 0);
    notes.push(format!(
        "R2: rollouts per rotation: {rollouts:?}; the three Secrets were written within {} of each other (max); last Secret written → rollout p50 / p99: {latency}",
        secs(spread.iter().max().copied().unwrap_or_default()),
    ));
    s.op.stop().await;
    vec![Row {
        id: "R2",
        what: format!(
            "rollouts per rotation, workload using 3 Secrets from one rotated AWS secret, {n} rotations: min / max"
        ),
        measured: format!(
            "{min} / {max}{}",
            if missed > 0 {
                format!(" ({missed} not settled)")
            } else {
                String::new()
            }
        ),
        goal: "exactly 1".into(),
        met: Some(missed == 0 && min == 1 && max == 1),
    }]
}

/// R3: `n` Deployments sharing one rotated Secret, default rate limit: how long until all rolled,
/// whether each rolled once, and how long the queue got.
async fn r3(z: &Sizes, notes: &mut Vec<String>) -> Vec<Row> {
    let s = Scenario::start(z.interval).await;
    let n = z.r3_workloads;
    let key = "bench/r3";
    let version = create_aws(&s.aws, key, "s0").await;
    s.external_secret("shared", key, None).await;
    s.op.wait_synced(1, Duration::from_secs(60))
        .await
        .expect("Secret shared synced");
    let names: Vec<String> = (0..n).map(|i| format!("w-{i:04}")).collect();
    let created = Instant::now();
    stream::iter(&names)
        .map(|name| s.deployment(name, pod_template("env", "shared", false)))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let before = s
        .settled(&names, &["shared"], Duration::from_secs(300))
        .await
        .expect("every workload recorded");
    eprintln!(
        "R3: {n} Deployments created and recorded in {}",
        secs(created.elapsed())
    );
    let unrolled = before.iter().filter(|o| o.hash.is_none()).count();
    let (_, promoted) = s.rotate(key, &version, "s1").await;
    let expected = Duration::from_secs(
        (n.saturating_sub(ROLLOUTS_PER_MINUTE) * 60 / ROLLOUTS_PER_MINUTE) as u64,
    );
    let timeout = expected + Duration::from_secs(300);
    let done = AtomicBool::new(false);
    let sample_queue = async {
        let mut max = 0f64;
        while !done.load(Ordering::Relaxed) {
            if let Some(q) = s.queue_length().await {
                max = max.max(q);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        max
    };
    let wait_all = async {
        let written = s
            .watches
            .until(Duration::from_secs(60), |w| w.written("shared", "s1"))
            .await;
        let mut last_report = Instant::now();
        let all = s
            .watches
            .until(timeout, |w| {
                let rolled: Vec<Instant> = before
                    .iter()
                    .zip(&names)
                    .filter_map(|(b, name)| {
                        let o = w.workloads.get(name)?;
                        (o.hash != b.hash).then_some(o.hash_since)
                    })
                    .collect();
                if last_report.elapsed() >= Duration::from_secs(60) {
                    last_report = Instant::now();
                    eprintln!(
                        "R3: {} of {n} restarted, {} after the promotion",
                        rolled.len(),
                        secs(promoted.elapsed())
                    );
                }
                (rolled.len() == n).then_some(rolled)
            })
            .await;
        done.store(true, Ordering::Relaxed);
        (written, all)
    };
    let (max_queue, (written, all)) = tokio::join!(sample_queue, wait_all);
    // The same rotation must not roll anything twice: once every record is the new data,
    // nothing about it is pending.
    let after = s
        .settled(&names, &["shared"], Duration::from_secs(60))
        .await;
    let shown: Vec<Observed> = {
        let w = s.watches.world.lock().unwrap();
        names
            .iter()
            .filter_map(|name| w.workloads.get(name).cloned())
            .collect()
    };
    let restarted = shown
        .iter()
        .zip(&before)
        .filter(|(o, b)| o.hash != b.hash)
        .count();
    let once = shown
        .iter()
        .zip(&before)
        .filter(|(o, b)| o.generation == b.generation + 1 && o.hash_changes == b.hash_changes + 1)
        .count();
    let counted = s.restarts_counted().await;
    let rss = s.op.peak_rss_mib();
    s.op.stop().await;
    let (all_text, all_met) = match (&written, &all) {
        (Some(written), Some(rolled)) => {
            let first = rolled
                .iter()
                .min()
                .unwrap()
                .saturating_duration_since(*written);
            let last = rolled
                .iter()
                .max()
                .unwrap()
                .saturating_duration_since(*written);
            notes.push(format!(
                "R3: Secret written {} after the promotion; first rollout {} after the write",
                secs(written.saturating_duration_since(promoted)),
                secs(first)
            ));
            // Faster than the limit allows would be a bug too.
            let met = last + Duration::from_secs(2) >= expected
                && last <= expected.mul_f64(1.1) + Duration::from_secs(5);
            (secs(last), met)
        }
        (None, _) => ("the Secret was not written".into(), false),
        (Some(_), None) => (format!("not all within {}", secs(timeout)), false),
    };
    notes.push(format!(
        "R3: {unrolled} of {n} had no secrets-hash before the rotation (recorded, never rolled); \
         every record settled on the new data afterwards: {}; operator's \
         stagesync_workload_restarts_total{{result=\"restarted\"}}: {counted}; operator peak RSS: {}",
        after.is_some(),
        rss.map_or("?".into(), |m| format!("{m:.0} MiB"))
    ));
    vec![
        Row {
            id: "R3",
            what: format!(
                "{n} workloads sharing one rotated Secret: Secret written → all {n} have a new secrets-hash"
            ),
            measured: all_text,
            goal: format!(
                "≈ {} ({ROLLOUTS_PER_MINUTE} at once, then one per {} s)",
                secs(expected),
                60 / ROLLOUTS_PER_MINUTE
            ),
            met: Some(all_met),
        },
        Row {
            id: "R3",
            what: format!("{n} workloads: restarted / rolled exactly once (generation +1)"),
            measured: format!("{restarted} / {once}"),
            goal: format!("{n} / {n}"),
            met: Some(restarted == n && once == n),
        },
        Row {
            id: "R3",
            what: format!("{n} workloads: max stagesync_restart_queue_length seen on /metrics"),
            measured: format!("{max_queue:.0}"),
            goal: format!("≈ {}", n.saturating_sub(ROLLOUTS_PER_MINUTE)),
            met: None,
        },
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|rows| rows.split(',').map(|r| r.trim().to_uppercase()).collect());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(quick, only));
}

async fn run(quick: bool, only: Option<Vec<String>>) {
    let z = sizes(quick);
    let started = Instant::now();
    let wanted = |id: &str| only.as_ref().is_none_or(|o| o.iter().any(|r| r == id));
    eprintln!(
        "restart benchmark ({}), refreshInterval {:?}, restart debounce {DEBOUNCE:?}, {ROLLOUTS_PER_MINUTE} rollouts per minute",
        if quick { "quick" } else { "full" },
        z.interval
    );
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    if wanted("R1") {
        rows.extend(r1(&z, &mut notes).await);
    }
    if wanted("R2") {
        rows.extend(r2(&z, &mut notes).await);
    }
    if wanted("R3") {
        rows.extend(r3(&z, &mut notes).await);
    }
    println!("| # | What | stagesync | Goal | Met |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        println!(
            "| {} | {} | {} | {} | {} |",
            r.id, r.what, r.measured, r.goal, met
        );
    }
    println!();
    for n in &notes {
        println!("- {n}");
    }
    println!();
    println!("Run time: {}", secs(started.elapsed()));
}
