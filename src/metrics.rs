//! Prometheus metrics of the operator (the `prometheus-client` crate, OpenMetrics text). Labels
//! are stores (kind/namespace/name), operations, reasons and outcomes — never names of secrets,
//! let alone values.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::api::Reason;
use crate::provider::aws::{CallObserver, CallOutcome};

/// Dollars per Secrets Manager API call ($0.05 per 10,000 calls).
pub const DOLLARS_PER_CALL: f64 = 0.05 / 10_000.0;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SyncLabels {
    result: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    store: String,
    operation: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RestartLabels {
    kind: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabels {
    outcome: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn cycle_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The operator's metrics.
pub struct Metrics {
    registry: Registry,
    syncs: Family<SyncLabels, Counter>,
    sync_duration: Histogram,
    aws_calls: Family<CallLabels, Counter>,
    aws_cost: Family<StoreLabels, Counter<f64, AtomicU64>>,
    values_fetched: Family<StoreLabels, Counter>,
    versions_changed: Family<StoreLabels, Counter>,
    tracker_cycle: HistogramFamily<StoreLabels>,
    tracked_secrets: Family<StoreLabels, Gauge>,
    tracked_references: Family<StoreLabels, Gauge>,
    rotations_stuck: Family<StoreLabels, Gauge>,
    scheduled_for_deletion: Family<StoreLabels, Gauge>,
    secret_writes: Family<WriteLabels, Counter>,
    restarts: Family<RestartLabels, Counter>,
    restart_queue: Gauge,
    rollouts: Family<RestartLabels, Counter>,
    leader: Gauge,
    watches: Gauge,
    runtime_tasks: Gauge,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("stagesync");
        let syncs = Family::default();
        registry.register(
            "syncs",
            "ExternalSecret syncs by result and reason",
            syncs.clone(),
        );
        let sync_duration = Histogram::new(exponential_buckets(0.01, 2.5, 8));
        registry.register(
            "sync_duration_seconds",
            "Duration of ExternalSecret syncs",
            sync_duration.clone(),
        );
        let aws_calls = Family::default();
        registry.register(
            "aws_calls",
            "AWS requests (retries included) by store, operation and outcome",
            aws_calls.clone(),
        );
        let aws_cost = Family::default();
        registry.register(
            "aws_estimated_cost_dollars",
            "Estimated AWS Secrets Manager API cost by store, at $0.05 per 10,000 calls",
            aws_cost.clone(),
        );
        let values_fetched = Family::default();
        registry.register(
            "aws_values_fetched",
            "Secret values read from AWS by store (each changed version once)",
            values_fetched.clone(),
        );
        let versions_changed = Family::default();
        registry.register(
            "versions_changed",
            "Tracked secrets whose referenced version changed, by store",
            versions_changed.clone(),
        );
        let tracker_cycle: HistogramFamily<StoreLabels> =
            Family::new_with_constructor(cycle_histogram);
        registry.register(
            "tracker_cycle_duration_seconds",
            "Duration of the version tracker's cycles that made calls, by store",
            tracker_cycle.clone(),
        );
        let tracked_secrets = Family::default();
        registry.register(
            "tracked_secrets",
            "Remote secrets the version tracker follows, by store",
            tracked_secrets.clone(),
        );
        let tracked_references = Family::default();
        registry.register(
            "tracked_references",
            "References (ExternalSecret, remote secret) the version tracker holds, by store",
            tracked_references.clone(),
        );
        let rotations_stuck = Family::default();
        registry.register(
            "rotations_stuck",
            "Secrets whose AWSPENDING version has not become AWSCURRENT within --rotation-stuck-after, by store",
            rotations_stuck.clone(),
        );
        let scheduled_for_deletion = Family::default();
        registry.register(
            "secrets_scheduled_for_deletion",
            "Referenced AWS secrets that are scheduled for deletion (ExternalSecrets still use them), by store",
            scheduled_for_deletion.clone(),
        );
        let secret_writes = Family::default();
        registry.register(
            "secret_writes",
            "Kubernetes Secret writes by outcome (created, updated, deleted)",
            secret_writes.clone(),
        );
        let restarts = Family::default();
        registry.register(
            "workload_restarts",
            "Workload restarts because Secret data changed, by kind and result (restarted, skipped by reload-strategy none, failed)",
            restarts.clone(),
        );
        let restart_queue = Gauge::default();
        registry.register(
            "restart_queue_length",
            "Workload rollouts waiting for the --max-rollouts-per-minute rate limit",
            restart_queue.clone(),
        );
        let rollouts = Family::default();
        registry.register(
            "rollouts",
            "Rollouts started by stagesync that ended, by kind and result (finished, stuck)",
            rollouts.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader lease and runs the controllers, 0 as a standby",
            leader.clone(),
        );
        let watches = Gauge::default();
        registry.register(
            "watches",
            "Watch requests open on the API server",
            watches.clone(),
        );
        let runtime_tasks = Gauge::default();
        registry.register(
            "runtime_tasks",
            "Tasks alive in the operator's async runtime",
            runtime_tasks.clone(),
        );
        Self {
            registry,
            leader,
            watches,
            runtime_tasks,
            tracked_references,
            restarts,
            restart_queue,
            rollouts,
            syncs,
            sync_duration,
            aws_calls,
            aws_cost,
            values_fetched,
            versions_changed,
            tracker_cycle,
            tracked_secrets,
            rotations_stuck,
            scheduled_for_deletion,
            secret_writes,
        }
    }
}

fn store(store: &str) -> StoreLabels {
    StoreLabels {
        store: store.to_owned(),
    }
}

impl Metrics {
    /// Records one ExternalSecret sync.
    pub fn observe_reconcile(&self, failure: Option<Reason>, took: Duration) {
        let labels = SyncLabels {
            result: if failure.is_some() {
                "error"
            } else {
                "success"
            },
            reason: failure.map_or("", Reason::as_str),
        };
        self.syncs.get_or_create(&labels).inc();
        self.sync_duration.observe(took.as_secs_f64());
    }

    /// Records one AWS request of a store.
    pub fn aws_call(&self, store: &str, operation: &str, outcome: CallOutcome) {
        let labels = CallLabels {
            store: store.to_owned(),
            operation: operation.to_owned(),
            outcome: outcome.as_str(),
        };
        self.aws_calls.get_or_create(&labels).inc();
        // STS requests are free; Secrets Manager bills every request, errors included.
        if !operation.starts_with("sts:") {
            self.aws_cost
                .get_or_create(&self::store(store))
                .inc_by(DOLLARS_PER_CALL);
        }
    }

    /// Records values read from AWS.
    pub fn values_fetched(&self, store: &str, n: u64) {
        self.values_fetched
            .get_or_create(&self::store(store))
            .inc_by(n);
    }

    /// Records tracked secrets whose referenced version changed.
    pub fn versions_changed(&self, store: &str, n: u64) {
        self.versions_changed
            .get_or_create(&self::store(store))
            .inc_by(n);
    }

    /// Records a tracker cycle that made calls, and how many secrets the store tracks.
    pub fn tracker_cycle(&self, store: &str, took: Duration, tracked: usize) {
        self.tracker_cycle
            .get_or_create(&self::store(store))
            .observe(took.as_secs_f64());
        self.tracked_secrets
            .get_or_create(&self::store(store))
            .set(i64::try_from(tracked).unwrap_or(i64::MAX));
    }

    /// Sets what a store's version tracker holds now: remote secrets, and references to them
    /// (one per ExternalSecret and remote secret it reads). Set every tracker cycle, so a deleted
    /// ExternalSecret's references are seen to go.
    pub fn tracking(&self, store: &str, secrets: usize, references: usize) {
        self.tracked_secrets
            .get_or_create(&self::store(store))
            .set(i64::try_from(secrets).unwrap_or(i64::MAX));
        self.tracked_references
            .get_or_create(&self::store(store))
            .set(i64::try_from(references).unwrap_or(i64::MAX));
    }

    /// The gauge of open watch requests, for the kube client's [`crate::watches`] layer.
    pub fn open_watches(&self) -> Gauge {
        self.watches.clone()
    }

    /// Sets how many of a store's secrets have a stuck rotation.
    pub fn rotations_stuck(&self, store: &str, n: usize) {
        self.rotations_stuck
            .get_or_create(&self::store(store))
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Sets how many of a store's referenced secrets are scheduled for deletion.
    pub fn scheduled_for_deletion(&self, store: &str, n: usize) {
        self.scheduled_for_deletion
            .get_or_create(&self::store(store))
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Records a Secret write.
    pub fn secret_write(&self, outcome: &'static str) {
        self.secret_writes
            .get_or_create(&WriteLabels { outcome })
            .inc();
    }

    /// Records a workload restart (`restarted`, `skipped`, `failed`).
    pub fn restart(&self, kind: &'static str, result: &'static str) {
        self.restarts
            .get_or_create(&RestartLabels { kind, result })
            .inc();
    }

    /// Sets how many rollouts wait for the rate limit.
    pub fn restart_queue(&self, len: usize) {
        self.restart_queue
            .set(i64::try_from(len).unwrap_or(i64::MAX));
    }

    /// Records a rollout that ended (`finished`, `stuck`).
    pub fn rollout(&self, kind: &'static str, result: &'static str) {
        self.rollouts
            .get_or_create(&RestartLabels { kind, result })
            .inc();
    }

    /// Sets whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// An observer counting one store's AWS requests into these metrics, and its Secrets
    /// Manager requests into `total` (for the store's cost estimate).
    pub fn observer(
        self: &Arc<Self>,
        store: &str,
        total: Arc<std::sync::atomic::AtomicU64>,
    ) -> Arc<dyn CallObserver> {
        Arc::new(StoreCalls {
            metrics: self.clone(),
            store: store.to_owned(),
            total,
        })
    }

    /// The metrics in the OpenMetrics text format. The runtime's task count is read now, from
    /// the runtime this is called on.
    pub fn render(&self) -> String {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let tasks = runtime.metrics().num_alive_tasks();
            self.runtime_tasks
                .set(i64::try_from(tasks).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[derive(Debug)]
struct StoreCalls {
    metrics: Arc<Metrics>,
    store: String,
    total: Arc<std::sync::atomic::AtomicU64>,
}

impl CallObserver for StoreCalls {
    fn aws_call(&self, operation: &str, outcome: CallOutcome) {
        self.metrics.aws_call(&self.store, operation, outcome);
        if !operation.starts_with("sts:") {
            self.total
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_result_and_reason() {
        let m = Metrics::default();
        m.observe_reconcile(None, Duration::from_millis(20));
        m.observe_reconcile(Some(Reason::AccessDenied), Duration::from_secs(3));
        let text = m.render();
        assert!(
            text.contains("stagesync_syncs_total{result=\"success\",reason=\"\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("stagesync_syncs_total{result=\"error\",reason=\"AccessDenied\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("stagesync_sync_duration_seconds_count 2"),
            "{text}"
        );
    }

    #[test]
    fn aws_calls_and_their_cost_by_store() {
        let m = Arc::new(Metrics::default());
        let total = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let obs = m.observer("SecretStore/team-a/aws", total.clone());
        for _ in 0..4 {
            obs.aws_call("ListSecrets", CallOutcome::Success);
        }
        obs.aws_call("GetSecretValue", CallOutcome::Error);
        obs.aws_call("sts:GetCallerIdentity", CallOutcome::Success);
        let text = m.render();
        assert!(
            text.contains(
                "stagesync_aws_calls_total{store=\"SecretStore/team-a/aws\",operation=\"ListSecrets\",outcome=\"success\"} 4"
            ),
            "{text}"
        );
        assert!(
            text.contains("operation=\"GetSecretValue\",outcome=\"error\"} 1"),
            "{text}"
        );
        // 5 billable calls (STS is free) at $0.000005 each.
        let cost_line = text
            .lines()
            .find(|l| l.starts_with("stagesync_aws_estimated_cost_dollars_total{"))
            .expect("cost line");
        let cost: f64 = cost_line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((cost - 5.0 * DOLLARS_PER_CALL).abs() < 1e-12, "{cost_line}");
        assert_eq!(total.load(std::sync::atomic::Ordering::Relaxed), 5);
    }

    #[test]
    fn tracking_gauges_follow_the_tracker() {
        let m = Metrics::default();
        m.tracking("SecretStore/ns/aws", 3, 7);
        let text = m.render();
        assert!(
            text.contains("stagesync_tracked_secrets{store=\"SecretStore/ns/aws\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("stagesync_tracked_references{store=\"SecretStore/ns/aws\"} 7"),
            "{text}"
        );
        // References going away are seen to go.
        m.tracking("SecretStore/ns/aws", 0, 0);
        assert!(
            m.render()
                .contains("stagesync_tracked_references{store=\"SecretStore/ns/aws\"} 0")
        );
    }

    #[tokio::test]
    async fn runtime_tasks_are_counted_when_rendered() {
        let m = Metrics::default();
        let tasks_now = |text: &str| -> i64 {
            text.lines()
                .find_map(|l| l.strip_prefix("stagesync_runtime_tasks "))
                .and_then(|v| v.parse().ok())
                .expect("the gauge is rendered")
        };
        let before = tasks_now(&m.render());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let waiting: Vec<_> = (0..5)
            .map(|_| tokio::spawn(async {}))
            .chain([tokio::spawn(async move {
                let _ = stopped.await;
            })])
            .collect();
        // Five finish at once; the sixth waits.
        tokio::task::yield_now().await;
        let during = tasks_now(&m.render());
        assert!(during > before, "{before} → {during}");
        drop(stop);
        for t in waiting {
            t.await.unwrap();
        }
        assert_eq!(tasks_now(&m.render()), before);
    }
}
