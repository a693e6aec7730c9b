//! The resolver: what an ExternalSecret references, read through its store's [`StoreResolver`]
//! — a version tracker fed by cheap metadata calls, and a value cache keyed by
//! `(ARN, version id)` — so a value is fetched only when its version changed, once however many
//! ExternalSecrets of the store (in any namespace) read it.
//!
//! - `tracker`: which version each referenced stage points at, who uses it, how stale each user
//!   accepts it (pure bookkeeping).
//! - `sweep`: the store's background loop choosing and making the metadata calls (ListSecrets
//!   pages, name-filtered listings, DescribeSecret), fetching changed values ahead in batches and
//!   waking the ExternalSecrets whose versions moved.
//! - `cache`: values by `(ARN, version id)`, capped, zeroised on drop.
//!
//! The reconciler never calls AWS itself; it calls [`fetch_all`].

mod batch;
pub mod cache;
mod fetch;
mod sweep;
pub mod tracker;

pub use fetch::{FetchError, FetchedValues, ReadOptions, References, fetch_all, references, track};
pub use sweep::CycleReport;
pub use tracker::EsRef;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::sync::broadcast;

use crate::api::VersionSelector;
use crate::api::secretstore::TrackingMode;
use crate::api::version::AWS_CURRENT;
use crate::metrics::Metrics;
use crate::provider::{ProviderError, RemoteSecret, SecretMetadata, SecretsBackend};
use cache::{CacheLimits, ValueCache};
use tracker::{Known, Tracker};

/// Operator-wide settings of version tracking.
#[derive(Clone, Debug)]
pub struct TrackingSettings {
    /// Baseline for benchmarks: no tracker, no cache; every read is a `GetSecretValue` (what
    /// ESO does). Never the right choice in production.
    pub naive: bool,
    /// Bounds of each store's value cache.
    pub cache: CacheLimits,
    /// How often each store's sweep looks for due work.
    pub tick: Duration,
    /// DescribeSecret period of secrets in a rotation (a version staged AWSPENDING that is not
    /// AWSCURRENT yet): the promotion reaches the Secret within about this.
    pub rotation_poll: Duration,
    /// DescribeSecret period of secrets whose NextRotationDate is near, to see the rotation
    /// start (its AWSPENDING version) early.
    pub rotation_watch_poll: Duration,
    /// How close to NextRotationDate a secret is watched.
    pub rotation_window: Duration,
    /// In list mode, each secret is also confirmed with DescribeSecret (strongly consistent) at
    /// least this often: the bound on staleness if ListSecrets kept answering from a stale view.
    pub list_confirm_interval: Duration,
    /// A version staged AWSPENDING longer than this without becoming AWSCURRENT is a stuck
    /// rotation.
    pub rotation_stuck_after: Duration,
}

impl Default for TrackingSettings {
    fn default() -> Self {
        Self {
            naive: false,
            cache: CacheLimits::default(),
            tick: Duration::from_millis(500),
            rotation_poll: Duration::from_millis(500),
            rotation_watch_poll: Duration::from_secs(5),
            rotation_window: Duration::from_secs(300),
            list_confirm_interval: Duration::from_secs(24 * 3600),
            rotation_stuck_after: Duration::from_secs(3600),
        }
    }
}

/// How long after a start reconciles wait for the tracker's first checks rather than read.
const WARM_UP: Duration = Duration::from_secs(30);

type InFlight = Shared<BoxFuture<'static, Result<Arc<RemoteSecret>, ProviderError>>>;

/// Reading one store: its backend, tracker, cache and sweep. One per store and identity; two
/// stores never share one.
pub struct StoreResolver {
    label: String,
    backend: Arc<dyn SecretsBackend>,
    mode: TrackingMode,
    settings: TrackingSettings,
    tracker: Mutex<Tracker>,
    cache: ValueCache,
    batcher: Option<Arc<batch::Batcher>>,
    in_flight: Mutex<HashMap<(String, VersionSelector), InFlight>>,
    sweep: Mutex<sweep::SweepState>,
    metrics: Arc<Metrics>,
    wake: broadcast::Sender<EsRef>,
    /// Secrets Manager requests of this store so far (every attempt, counted by the SDK).
    calls: Arc<std::sync::atomic::AtomicU64>,
    /// When the resolver started.
    born: Instant,
}

impl std::fmt::Debug for StoreResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreResolver")
            .field("store", &self.label)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl StoreResolver {
    /// A resolver for the store `label` (kind/namespace/name, for metrics and logs), with its
    /// sweep running on the current tokio runtime until the resolver is dropped.
    /// `calls` counts the store's Secrets Manager requests (the backend's observer adds to it).
    pub fn start(
        label: String,
        backend: Arc<dyn SecretsBackend>,
        mode: TrackingMode,
        settings: TrackingSettings,
        metrics: Arc<Metrics>,
        wake: broadcast::Sender<EsRef>,
        calls: Arc<std::sync::atomic::AtomicU64>,
    ) -> Arc<Self> {
        // Least-privilege stores (Describe mode) never ask for BatchGetSecretValue.
        let batcher = (!settings.naive && mode == TrackingMode::List)
            .then(|| Arc::new(batch::Batcher::start(backend.clone())));
        let resolver = Arc::new(Self {
            label,
            backend,
            batcher,
            mode,
            cache: ValueCache::new(settings.cache),
            settings,
            tracker: Mutex::default(),
            in_flight: Mutex::default(),
            sweep: Mutex::default(),
            metrics,
            wake,
            calls,
            born: Instant::now(),
        });
        if !resolver.settings.naive {
            tokio::spawn(sweep::run(Arc::downgrade(&resolver)));
        }
        resolver
    }

    /// The backend, for the store's own credential check.
    pub fn backend(&self) -> &Arc<dyn SecretsBackend> {
        &self.backend
    }

    /// The store's label (kind/namespace/name).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// What the last sweep did, for the store's status.
    pub fn report(&self) -> CycleReport {
        sweep::report(self)
    }

    /// The ExternalSecrets that use this store, to wake when it is replaced.
    pub fn subscribers(&self) -> Vec<EsRef> {
        let tracker = self.tracker.lock().expect("tracker lock");
        let mut all: Vec<EsRef> = tracker
            .entries()
            .flat_map(|(_, e)| e.subscribers().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// Wakes ExternalSecrets whose versions moved.
    fn notify(&self, wake: Vec<EsRef>) {
        for es in wake {
            // No receiver (no controller running): nothing to wake.
            let _ = self.wake.send(es);
        }
    }

    /// Records the versions an ExternalSecret was served (by a read, or confirmed unchanged):
    /// a later check that finds another version wakes it.
    pub fn served(&self, es: &EsRef, served: &[(String, VersionSelector, String)]) {
        let mut tracker = self.tracker.lock().expect("tracker lock");
        for (key, selector, version_id) in served {
            tracker.served(es, key, selector, version_id);
        }
    }

    /// Forgets a deleted ExternalSecret.
    pub fn forget(&self, es: &EsRef) {
        self.tracker.lock().expect("tracker lock").forget(es);
    }

    /// Forgets every ExternalSecret `keep` refuses.
    pub fn retain(&self, keep: impl FnMut(&EsRef) -> bool) {
        self.tracker.lock().expect("tracker lock").retain(keep);
    }

    /// Health of a referenced secret's rotation: the AWSPENDING version and how long it has been
    /// pending, when longer than the stuck threshold.
    pub fn stuck_rotation(&self, key: &str) -> Option<(String, Duration)> {
        let tracker = self.tracker.lock().expect("tracker lock");
        let (version, since) = tracker.entry(key)?.pending_since.clone()?;
        let age = since.elapsed();
        (age > self.settings.rotation_stuck_after).then_some((version, age))
    }

    /// Reads one version of a secret: from the cache when the tracker knows, within `max_age`,
    /// which version the selector points at and that version was fetched before; otherwise from
    /// AWS (once, however many callers ask at the same time).
    pub async fn read(
        &self,
        key: &str,
        selector: &VersionSelector,
        opts: ReadOptions,
    ) -> Result<Arc<RemoteSecret>, ProviderError> {
        if self.settings.naive || opts.force {
            return self.fetch(key.to_owned(), selector.clone()).await;
        }
        let known = self.tracker.lock().expect("tracker lock").known(
            key,
            selector,
            opts.max_age,
            Instant::now(),
        );
        match known {
            Known::Version {
                arn,
                version_id,
                stages,
            } => {
                if let Some(hit) = self.cache.get(&arn, &version_id) {
                    return Ok(with_stages(hit, stages));
                }
                // The current version can be read in a batch; should it have moved meanwhile,
                // the version asked for is read by its id.
                if stages.iter().any(|s| s == AWS_CURRENT) {
                    let got = self.fetch(arn.clone(), VersionSelector::default()).await?;
                    if got.version_id == version_id {
                        return Ok(with_stages(got, stages));
                    }
                }
                let got = self.fetch(arn, VersionSelector::Id(version_id)).await?;
                Ok(with_stages(got, stages))
            }
            Known::SecretMissing => Err(ProviderError::SecretNotFound {
                key: key.to_owned(),
            }),
            Known::VersionMissing => Err(ProviderError::VersionNotFound {
                key: key.to_owned(),
                version: selector.clone(),
            }),
            Known::ScheduledForDeletion(deleted_date) => Err(ProviderError::ScheduledForDeletion {
                key: key.to_owned(),
                deleted_date,
            }),
            Known::Unknown => {
                // A pinned version never changes: once read, it is served from the cache.
                if let VersionSelector::Id(id) = selector {
                    let arn = self
                        .tracker
                        .lock()
                        .expect("tracker lock")
                        .arn(key)
                        .map(str::to_owned);
                    if let Some(hit) = arn.and_then(|arn| self.cache.get(&arn, id)) {
                        return Ok(hit);
                    }
                }
                let got = self.fetch(key.to_owned(), selector.clone()).await?;
                self.tracker.lock().expect("tracker lock").learn_from_value(
                    key,
                    selector,
                    &got.arn,
                    &got.version_id,
                    &got.version_stages,
                    Instant::now(),
                );
                Ok(got)
            }
        }
    }

    /// A secret's metadata (tags, versions): the tracker's when confirmed within `max_age`, else
    /// a DescribeSecret (which the tracker then learns from).
    pub async fn metadata(
        &self,
        key: &str,
        opts: ReadOptions,
    ) -> Result<Arc<SecretMetadata>, ProviderError> {
        if !self.settings.naive && !opts.force {
            let tracker = self.tracker.lock().expect("tracker lock");
            if let Some(entry) = tracker.entry(key)
                && let (Some(meta), Some(at)) = (&entry.meta, entry.checked_at)
                && at.elapsed() <= opts.max_age
            {
                return Ok(meta.clone());
            }
        }
        let meta = Arc::new(self.backend.describe_secret(key).await?);
        let applied = self.tracker.lock().expect("tracker lock").apply(
            key,
            Some(meta.clone()),
            true,
            Instant::now(),
        );
        self.notify(applied.wake);
        Ok(meta)
    }

    /// The version ids the references point at, when the tracker confirmed every one of them
    /// within `max_age` (`None` otherwise, or in the naive baseline).
    pub fn known_versions(
        &self,
        refs: &std::collections::BTreeSet<(String, VersionSelector)>,
        max_age: Duration,
    ) -> Option<HashMap<String, String>> {
        if self.settings.naive {
            return None;
        }
        let tracker = self.tracker.lock().expect("tracker lock");
        let now = Instant::now();
        refs.iter()
            .map(
                |(key, selector)| match tracker.known(key, selector, max_age, now) {
                    Known::Version { version_id, .. } => Some((key.clone(), version_id)),
                    _ => None,
                },
            )
            .collect()
    }

    /// Whether the resolver started less than [`WARM_UP`] ago and its tracker's checks are not
    /// failing: it is still learning what to check. A tracker whose checks fail (AWS down,
    /// credentials refused) is waited for by nobody: reconciles then read, fail with the reason
    /// and back off, instead of polling for the tracker every few seconds.
    pub fn warming_up(&self) -> bool {
        // The naive baseline has no tracker to wait for: it reads at once.
        !self.settings.naive && self.born.elapsed() < WARM_UP && !sweep::failing(self)
    }

    /// Whether the tracker has tried to check none of these keys yet (it learns them from
    /// reconciles).
    pub fn never_checked(
        &self,
        refs: &std::collections::BTreeSet<(String, VersionSelector)>,
    ) -> bool {
        let tracker = self.tracker.lock().expect("tracker lock");
        refs.iter()
            .all(|(key, _)| tracker.entry(key).is_none_or(|e| e.awaits_first_check()))
    }

    /// The cached value of a version, if held.
    pub fn cached(&self, arn: &str, version_id: &str) -> Option<Arc<RemoteSecret>> {
        if self.settings.naive {
            return None;
        }
        self.cache.get(arn, version_id)
    }

    /// One `GetSecretValue`, shared by concurrent callers of the same `(key, selector)`.
    async fn fetch(
        &self,
        key: String,
        selector: VersionSelector,
    ) -> Result<Arc<RemoteSecret>, ProviderError> {
        let slot = (key.clone(), selector.clone());
        let shared = {
            let mut in_flight = self.in_flight.lock().expect("in-flight lock");
            if let Some(f) = in_flight.get(&slot) {
                f.clone()
            } else {
                let backend = self.backend.clone();
                let batcher = self
                    .batcher
                    .clone()
                    .filter(|b| b.usable() && selector == VersionSelector::default());
                let f = async move {
                    match batcher {
                        Some(b) => b.current(&key).await,
                        None => backend.get_secret(&key, &selector).await,
                    }
                    .map(Arc::new)
                }
                .boxed()
                .shared();
                in_flight.insert(slot.clone(), f.clone());
                f
            }
        };
        let result = shared.await;
        // The first caller to finish clears the slot; later ones find it gone.
        self.in_flight.lock().expect("in-flight lock").remove(&slot);
        if let Ok(v) = &result {
            self.metrics.values_fetched(&self.label, 1);
            if !self.settings.naive {
                self.cache.insert(v.clone());
            }
        }
        result
    }

    /// Records the references an ExternalSecret reads and the staleness it accepts (`None`: it
    /// does not refresh periodically, so nothing is tracked for it).
    fn subscribe(
        &self,
        es: &EsRef,
        refs: &[(String, VersionSelector)],
        interval: Option<Duration>,
    ) {
        if self.settings.naive {
            return;
        }
        let mut tracker = self.tracker.lock().expect("tracker lock");
        match interval {
            Some(i) if !i.is_zero() => tracker.subscribe(es, refs, i),
            _ => tracker.forget(es),
        }
    }
}

/// The value with the stages its version carries now (they move on rotation, the value does not;
/// none known: as read).
fn with_stages(value: Arc<RemoteSecret>, stages: Vec<String>) -> Arc<RemoteSecret> {
    if stages.is_empty() || value.version_stages == stages {
        value
    } else {
        Arc::new(RemoteSecret {
            version_stages: stages,
            ..(*value).clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{FindQuery, ListPage};

    /// A backend whose every call fails as AWS does when it rejects the credentials.
    struct Rejecting;

    fn rejected() -> ProviderError {
        ProviderError::CredentialsRejected {
            detail: "ExpiredTokenException: expired".into(),
        }
    }

    #[async_trait::async_trait]
    impl SecretsBackend for Rejecting {
        async fn check_credentials(&self) -> Result<(), ProviderError> {
            Err(rejected())
        }
        async fn get_secret(
            &self,
            _: &str,
            _: &VersionSelector,
        ) -> Result<RemoteSecret, ProviderError> {
            Err(rejected())
        }
        async fn describe_secret(&self, _: &str) -> Result<SecretMetadata, ProviderError> {
            Err(rejected())
        }
        async fn find_secrets(&self, _: &FindQuery) -> Result<Vec<SecretMetadata>, ProviderError> {
            Err(rejected())
        }
        async fn list_page(
            &self,
            _: &[String],
            _: Option<String>,
        ) -> Result<ListPage, ProviderError> {
            Err(rejected())
        }
        async fn batch_get_current(
            &self,
            _: &[String],
        ) -> Result<Vec<RemoteSecret>, ProviderError> {
            Err(rejected())
        }
    }

    #[tokio::test]
    async fn a_tracker_whose_checks_fail_holds_no_reconcile_back() {
        let settings = TrackingSettings {
            tick: Duration::from_millis(10),
            ..TrackingSettings::default()
        };
        let resolver = StoreResolver::start(
            "SecretStore/ns/aws".into(),
            Arc::new(Rejecting),
            TrackingMode::List,
            settings,
            Arc::new(Metrics::default()),
            broadcast::channel(8).0,
            Arc::default(),
        );
        let refs =
            std::collections::BTreeSet::from([("app/db".to_owned(), VersionSelector::default())]);
        let es = Arc::new(("ns".to_owned(), "es".to_owned()));
        resolver.subscribe(
            &es,
            &refs.iter().cloned().collect::<Vec<_>>(),
            Some(Duration::from_secs(1)),
        );
        // Just started: reconciles wait for the first check.
        assert!(resolver.warming_up() && resolver.never_checked(&refs));
        let deadline = Instant::now() + Duration::from_secs(5);
        while resolver.warming_up() {
            assert!(
                Instant::now() < deadline,
                "still waited for after its checks failed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(sweep::failing(&resolver));
        // Rejected credentials fail the whole cycle (backoff), not the secret alone.
        assert!(resolver.never_checked(&refs));
    }
}
