//! The restart engine: one task that watches opted-in workloads and the Secrets they may depend
//! on, keeps only digests (never Secret data) and a few fields per workload, and decides:
//!
//! - nothing happens before every watch has listed once (a half-known world would look like
//!   Secrets appearing and disappearing);
//! - a workload's changes wait until the Secrets it uses that are being rewritten are written
//!   (at most `--restart-debounce`), so one rotation touching three Secrets is one rollout;
//! - rollouts pass a cluster-wide rate limiter in order (a queue, never dropped);
//! - every write is a server-side apply of all the fields stagesync owns on the workload.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt, stream};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};

use super::plan::{
    ANNOTATION_RESTARTED_AT, ANNOTATION_SECRETS_HASH, ANNOTATION_SECRETS_SEEN, Decision, Seen,
    data_digest, decide,
};
use super::usage::{RELOADER_IGNORE, ReloadSpec, Strategy, dependencies, reload_spec};
use super::workload::{Kind, Owned, Progress, progress};
use super::{RestartConfig, RolloutOutcome, SecretRef};
use crate::api::externalsecret::ExternalSecret;
use crate::controller::Context;
use crate::write::events::{publish, publish_related};
use crate::write::{FIELD_MANAGER, LABEL_MANAGED, writers};

mod report;
mod watch;

use report::{label, names};
use watch::{secret_inputs, workload_inputs};

/// Quiet time after a Secret change before a rollout, when no rewrite is expected.
const QUIET: Duration = Duration::from_millis(200);
/// How often the engine looks at its timers.
const TICK: Duration = Duration::from_millis(100);
/// How often rollouts in progress are checked against their deadline.
const PROGRESS_CHECK: Duration = Duration::from_secs(5);
/// Wait before retrying a write that failed for a transient reason.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// How often a missing Rollout CRD is looked for again.
const CRD_RECHECK: Duration = Duration::from_secs(60);

/// (kind, namespace, name).
type WorkloadKey = (Kind, String, String);

/// A watch: what it lists, in which namespace scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Source {
    Workloads(Kind, Option<String>),
    Secrets {
        managed: bool,
        scope: Option<String>,
    },
}

enum Input {
    Workload(watcher::Event<DynamicObject>),
    Secret(watcher::Event<Secret>),
}

struct SecretEntry {
    digest: [u8; 32],
    ignored: bool,
    writers: Vec<String>,
}

struct Workload {
    uid: String,
    spec: Result<ReloadSpec, Vec<String>>,
    deps: BTreeSet<String>,
    paused: bool,
    deleting: bool,
    recorded: Option<Seen>,
    owned: Owned,
    started: Option<Timestamp>,
    /// metadata.generation, the spec fields and the status that rollout progress reads.
    rollout_view: Value,
    progress: Option<Progress>,
    warned: Option<String>,
    held: bool,
}

struct Dirty {
    first: Instant,
    last: Instant,
    not_before: Instant,
}

impl Dirty {
    /// Dirty since `at`, and not to be looked at before.
    fn at(at: Instant) -> Self {
        Self {
            first: at,
            last: at,
            not_before: at,
        }
    }
}

struct Engine {
    ctx: Arc<Context>,
    config: RestartConfig,
    managed: HashMap<SecretRef, SecretEntry>,
    other: HashMap<SecretRef, SecretEntry>,
    workloads: HashMap<WorkloadKey, Workload>,
    by_secret: HashMap<SecretRef, BTreeSet<WorkloadKey>>,
    dirty: HashMap<WorkloadKey, Dirty>,
    queue: VecDeque<WorkloadKey>,
    queued: HashSet<WorkloadKey>,
    limiter: DefaultDirectRateLimiter,
    not_listed: HashSet<Source>,
    relisting: HashMap<Source, HashSet<(String, String)>>,
    last_progress_check: Instant,
}

/// Runs the restart engine until `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send) {
    let config = ctx.config.restart.clone();
    let scopes: Vec<Option<String>> = if ctx.config.namespaces.is_empty() {
        vec![None]
    } else {
        ctx.config.namespaces.iter().cloned().map(Some).collect()
    };
    let mut inputs = Vec::new();
    let mut not_listed = HashSet::new();
    for scope in &scopes {
        for kind in Kind::ALL {
            let source = Source::Workloads(kind, scope.clone());
            if kind != Kind::Rollout {
                // Rollouts are optional (their CRD may never be installed): not waited for.
                not_listed.insert(source.clone());
            }
            inputs.push(workload_inputs(&ctx, kind, scope.clone(), source));
        }
        let mut managed = vec![true];
        if config.reloader_compatible {
            managed.push(false);
        }
        for managed in managed {
            let source = Source::Secrets {
                managed,
                scope: scope.clone(),
            };
            not_listed.insert(source.clone());
            inputs.push(secret_inputs(&ctx, &config, source));
        }
    }
    let mut inputs = stream::select_all(inputs);
    let rate = NonZeroU32::new(config.max_rollouts_per_minute.max(1)).expect("at least 1");
    let mut engine = Engine {
        ctx: ctx.clone(),
        config,
        managed: HashMap::new(),
        other: HashMap::new(),
        workloads: HashMap::new(),
        by_secret: HashMap::new(),
        dirty: HashMap::new(),
        queue: VecDeque::new(),
        queued: HashSet::new(),
        limiter: RateLimiter::direct(Quota::per_minute(rate)),
        not_listed,
        relisting: HashMap::new(),
        last_progress_check: Instant::now(),
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            input = inputs.next() => match input {
                Some((source, input)) => engine.handle(source, input),
                None => break,
            },
            _ = tick.tick() => {}
            () = ctx.restarts.settled_notified() => {}
        }
        if engine.not_listed.is_empty() {
            engine.process().await;
        }
    }
}

impl Engine {
    fn upsert_secret(&mut self, managed: bool, secret: &Secret) {
        let key = (secret.namespace().unwrap_or_default(), secret.name_any());
        let entry = SecretEntry {
            digest: data_digest(secret.data.as_ref()),
            ignored: secret
                .annotations()
                .get(RELOADER_IGNORE)
                .is_some_and(|v| v == "true"),
            writers: writers(secret),
        };
        let map = self.secrets_mut(managed);
        let changed = map
            .get(&key)
            .is_none_or(|old| old.digest != entry.digest || old.ignored != entry.ignored);
        map.insert(key.clone(), entry);
        if changed {
            self.secret_changed(&key);
        }
    }

    fn remove_secret(&mut self, managed: bool, key: &SecretRef) {
        if self.secrets_mut(managed).remove(key).is_some() {
            self.secret_changed(key);
        }
    }

    /// The managed Secrets, or the others (Reloader-compatible mode).
    fn secrets_mut(&mut self, managed: bool) -> &mut HashMap<SecretRef, SecretEntry> {
        if managed {
            &mut self.managed
        } else {
            &mut self.other
        }
    }

    fn secret_changed(&mut self, secret: &SecretRef) {
        let now = Instant::now();
        for key in self.by_secret.get(secret).into_iter().flatten() {
            let d = self.dirty.entry(key.clone()).or_insert(Dirty::at(now));
            d.last = now;
        }
    }

    fn upsert_workload(&mut self, kind: Kind, obj: DynamicObject) {
        let key = (kind, obj.namespace().unwrap_or_default(), obj.name_any());
        let Some(spec) =
            reload_spec(obj.annotations(), self.config.reloader_compatible).transpose()
        else {
            // Not opted in (any more): never touched.
            self.remove_workload(&key);
            return;
        };
        let object_spec = &obj.data["spec"];
        let deps: BTreeSet<String> = match &spec {
            Ok(s) => dependencies(s, kind.pod_spec(object_spec)),
            Err(_) => BTreeSet::new(),
        };
        let annotations = obj.annotations();
        let restarted_at = annotations.get(ANNOTATION_RESTARTED_AT).cloned();
        let owned = Owned {
            seen: annotations
                .get(ANNOTATION_SECRETS_SEEN)
                .cloned()
                .unwrap_or_default(),
            restarted_at: restarted_at.clone(),
            template_hash: kind.template_annotations(object_spec)[ANNOTATION_SECRETS_HASH]
                .as_str()
                .map(str::to_owned),
            restart_at: object_spec["restartAt"].as_str().map(str::to_owned),
        };
        let previous = self.workloads.remove(&key);
        if let Some(old) = &previous {
            self.unindex(&key, &old.deps);
        }
        for dep in &deps {
            self.by_secret
                .entry((key.1.clone(), dep.clone()))
                .or_default()
                .insert(key.clone());
        }
        let workload = Workload {
            uid: obj.uid().unwrap_or_default(),
            paused: kind.paused(object_spec),
            deleting: obj.metadata.deletion_timestamp.is_some(),
            recorded: annotations
                .get(ANNOTATION_SECRETS_SEEN)
                .and_then(|s| Seen::decode(s)),
            owned,
            started: restarted_at.and_then(|t| t.parse().ok()),
            rollout_view: json!({
                "metadata": {"generation": obj.metadata.generation},
                "spec": {
                    "replicas": object_spec["replicas"],
                    "updateStrategy": object_spec["updateStrategy"],
                },
                "status": obj.data["status"],
            }),
            progress: previous.as_ref().and_then(|p| p.progress.clone()),
            warned: previous.as_ref().and_then(|p| p.warned.clone()),
            held: previous.as_ref().is_some_and(|p| p.held) && kind.paused(object_spec),
            spec,
            deps,
        };
        self.workloads.insert(key.clone(), workload);
        let now = Instant::now();
        self.dirty.entry(key.clone()).or_insert(Dirty::at(now));
        self.evaluate_progress(&key);
    }

    fn unindex(&mut self, key: &WorkloadKey, deps: &BTreeSet<String>) {
        for dep in deps {
            let secret = (key.1.clone(), dep.clone());
            if let Some(set) = self.by_secret.get_mut(&secret) {
                set.remove(key);
                if set.is_empty() {
                    self.by_secret.remove(&secret);
                }
            }
        }
    }

    fn remove_workload(&mut self, key: &WorkloadKey) {
        if let Some(old) = self.workloads.remove(key) {
            self.unindex(key, &old.deps);
            self.dirty.remove(key);
            self.queued.remove(key);
            for dep in &old.deps {
                self.refresh_outcome(&(key.1.clone(), dep.clone()));
            }
        }
    }

    /// The record of the data a workload depends on now.
    fn current(&self, key: &WorkloadKey, w: &Workload) -> Seen {
        let reloader = w.spec.as_ref().is_ok_and(|s| s.reloader);
        let digests: Vec<(&String, &[u8; 32])> = w
            .deps
            .iter()
            .filter_map(|name| {
                let secret = (key.1.clone(), name.clone());
                let entry = self
                    .managed
                    .get(&secret)
                    .or_else(|| reloader.then(|| self.other.get(&secret)).flatten())?;
                let ignored = self.config.reloader_compatible && entry.ignored;
                (!ignored).then_some((name, &entry.digest))
            })
            .collect();
        Seen::of(&w.uid, digests)
    }

    async fn process(&mut self) {
        let now = Instant::now();
        let due: Vec<WorkloadKey> = self
            .dirty
            .iter()
            .filter(|(_, d)| d.not_before <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.plan(&key, now).await;
        }
        self.drain_queue().await;
        if now.duration_since(self.last_progress_check) >= PROGRESS_CHECK {
            self.last_progress_check = now;
            let rolling: Vec<WorkloadKey> = self
                .workloads
                .iter()
                .filter(|(_, w)| matches!(w.progress, Some(Progress::InProgress(_))))
                .map(|(k, _)| k.clone())
                .collect();
            for key in rolling {
                self.evaluate_progress(&key);
            }
        }
    }

    async fn plan(&mut self, key: &WorkloadKey, now: Instant) {
        let Some(w) = self.workloads.get(key) else {
            self.dirty.remove(key);
            return;
        };
        let spec = match &w.spec {
            Ok(spec) if !w.deleting => spec.clone(),
            Err(problems) => {
                let note = problems.join("; ");
                self.dirty.remove(key);
                self.warn_once(key, "InvalidReloadAnnotation", note).await;
                return;
            }
            Ok(_) => {
                self.dirty.remove(key);
                return;
            }
        };
        let current = self.current(key, w);
        match decide(w.recorded.as_ref(), &current) {
            Decision::Nothing => {
                self.dirty.remove(key);
            }
            Decision::Record => {
                self.dirty.remove(key);
                self.write(key, current, None).await;
            }
            Decision::Rollout(changed) => {
                let Some(d) = self.dirty.get(key) else {
                    return;
                };
                if w.paused {
                    self.dirty.remove(key);
                    if !w.held {
                        let note = format!(
                            "Secret {} changed; {} is paused, it is restarted once resumed",
                            names(&changed),
                            label(key.0, &key.2)
                        );
                        self.event(key, false, "RestartHeld", &note).await;
                        if let Some(w) = self.workloads.get_mut(key) {
                            w.held = true;
                        }
                    }
                    return;
                }
                let writing = w
                    .deps
                    .iter()
                    .any(|s| self.ctx.restarts.in_flight(&(key.1.clone(), s.clone())));
                let settled =
                    !writing && now.duration_since(d.last) >= QUIET.min(self.config.debounce);
                if !settled && now.duration_since(d.first) < self.config.debounce {
                    return;
                }
                self.dirty.remove(key);
                if spec.strategy == Strategy::None {
                    let note = format!(
                        "{} not restarted (reload-strategy none): {}",
                        label(key.0, &key.2),
                        self.change_note(&key.1, &changed)
                    );
                    self.ctx.metrics.restart(key.0.as_str(), "skipped");
                    self.write(key, current, None).await;
                    self.event(key, false, "RestartSkipped", &note).await;
                } else if self.queued.insert(key.clone()) {
                    self.queue.push_back(key.clone());
                }
            }
        }
    }

    /// Starts queued rollouts as fast as the rate limit allows, in order.
    async fn drain_queue(&mut self) {
        while let Some(key) = self.queue.front().cloned() {
            if !self.queued.contains(&key) {
                // Deleted or no longer opted in while waiting.
                self.queue.pop_front();
                continue;
            }
            if self.limiter.check().is_err() {
                break;
            }
            self.queue.pop_front();
            self.queued.remove(&key);
            // Decide again from what is known now (the data may have changed back).
            let Some(w) = self.workloads.get(&key) else {
                continue;
            };
            if w.deleting || w.paused || w.spec.is_err() {
                self.dirty
                    .entry(key.clone())
                    .or_insert_with(|| Dirty::at(Instant::now()));
                continue;
            }
            let current = self.current(&key, w);
            match decide(w.recorded.as_ref(), &current) {
                Decision::Rollout(changed) => self.write(&key, current, Some(changed)).await,
                Decision::Record => self.write(&key, current, None).await,
                Decision::Nothing => {}
            }
        }
        self.ctx.metrics.restart_queue(self.queue.len());
    }

    /// Server-side applies the fields stagesync owns: the new record, and with `rollout` the
    /// restart itself.
    async fn write(&mut self, key: &WorkloadKey, current: Seen, rollout: Option<BTreeSet<String>>) {
        let Some(w) = self.workloads.get(key) else {
            return;
        };
        let mut owned = w.owned.clone();
        owned.seen = current.encode();
        if rollout.is_some() {
            let now = Timestamp::now()
                .round(k8s_openapi::jiff::Unit::Second)
                .unwrap_or(Timestamp::now())
                .to_string();
            owned.restarted_at = Some(now.clone());
            if key.0 == Kind::Rollout {
                owned.restart_at = Some(now);
            } else {
                owned.template_hash = Some(current.template_hash());
            }
        }
        let resource = key.0.api_resource();
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.ctx.client.clone(), &key.1, &resource);
        let body = owned.apply_body(key.0, &key.2);
        let result = api
            .patch(
                &key.2,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await;
        match result {
            Ok(obj) => {
                self.upsert_workload(key.0, obj);
                if let Some(changed) = rollout {
                    self.ctx.metrics.restart(key.0.as_str(), "restarted");
                    let note = format!(
                        "restarted {}: {}",
                        label(key.0, &key.2),
                        self.change_note(&key.1, &changed)
                    );
                    tracing::info!(namespace = %key.1, workload = %label(key.0, &key.2), "{note}");
                    self.event(key, false, "Restarted", &note).await;
                    for es in self.writers_of(&key.1, &changed) {
                        self.es_event(key, &es, "Restarted", &note).await;
                    }
                }
            }
            Err(kube::Error::Api(status)) if matches!(status.code, 403 | 404 | 422) => {
                if rollout.is_some() {
                    self.ctx.metrics.restart(key.0.as_str(), "failed");
                }
                let note = format!(
                    "stagesync could not update {}: {} ({})",
                    label(key.0, &key.2),
                    status.message,
                    status.reason
                );
                self.warn_once(key, "RestartFailed", note).await;
            }
            Err(err) => {
                tracing::warn!(namespace = %key.1, workload = %label(key.0, &key.2), error = %err, "updating the workload failed; retrying");
                let retry = Instant::now() + crate::controller::backoff::jitter(RETRY_AFTER, 0.3);
                self.dirty.insert(key.clone(), Dirty::at(retry));
            }
        }
    }
}
