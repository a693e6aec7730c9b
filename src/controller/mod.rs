//! The controllers: one reconciler per kind (ExternalSecret, SecretStore, ClusterSecretStore),
//! sharing a [`Context`]. The ExternalSecret controller is woken by changes of its ExternalSecrets
//! (spec, labels, annotations, finalizers — not its own status writes), of the Secrets stagesync
//! manages (by label, so memory does not grow with every Secret of the cluster), of the stores
//! they reference, by the stores' version trackers when a version they read moved, and by a
//! metadata-only watch of other Secrets that an ExternalSecret waits for (a `Merge` target that
//! appears, a store's credential Secret that changes).

pub mod backoff;
mod conditions;
pub mod externalsecret;
mod finalizer;
pub(crate) mod sources;
pub mod store;
mod template_sources;
mod unchanged;
mod versions;
mod wanted;
pub(crate) mod windows;

pub use wanted::WantedSecrets;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::write::events::Recorder;
use futures::{FutureExt, StreamExt, TryStreamExt, future::BoxFuture, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerRuntimeConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use crate::api::externalsecret::{ExternalSecret, StoreKind};
use crate::api::secretstore::{ClusterSecretStore, SecretStore};
use crate::metrics::Metrics;
use crate::resolve;
use crate::restart::{RestartConfig, RestartHub};
use crate::store::StoreRegistry;
use crate::write::LABEL_MANAGED;
use backoff::Backoff;

/// Settings of the controllers.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Refresh interval of ExternalSecrets that do not set one.
    pub default_refresh_interval: Duration,
    /// How often stores' credentials are checked again.
    pub store_refresh_interval: Duration,
    /// ExternalSecrets reconciled at once.
    pub concurrency: u16,
    /// Namespaces to watch; empty: all.
    pub namespaces: Vec<String>,
    /// First delay after a failure (doubles up to `backoff_cap`).
    pub backoff_base: Duration,
    /// Longest delay after failures.
    pub backoff_cap: Duration,
    /// Safety-net re-check of every ExternalSecret at least this often even when its store's
    /// tracker reports no change (the tracker wakes it sooner when a version moves).
    pub resync_floor: Duration,
    /// Workload restarts.
    pub restart: RestartConfig,
    /// `--controller-class`: stores whose `spec.controller` names another class (and their
    /// ExternalSecrets) are left alone; stores without a class are everyone's.
    pub controller_class: Option<String>,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            default_refresh_interval: Duration::from_secs(3600),
            store_refresh_interval: Duration::from_secs(600),
            concurrency: 4,
            namespaces: Vec::new(),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            resync_floor: Duration::from_secs(600),
            restart: RestartConfig::default(),
            controller_class: None,
        }
    }
}

/// What every reconciler gets.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Stores and their backends.
    pub stores: StoreRegistry,
    /// Event recorder.
    pub recorder: Recorder,
    /// Failure backoff per object.
    pub backoff: Backoff,
    /// Settings.
    pub config: ControllerConfig,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Secrets stagesync does not manage that ExternalSecrets wait for.
    pub wanted: WantedSecrets,
    /// What the ExternalSecret controller and the restart engine share.
    pub restarts: Arc<RestartHub>,
    /// Set once the ExternalSecret cache is synced (the `/readyz` of a leader).
    pub ready: Arc<std::sync::atomic::AtomicBool>,
}

impl Context {
    /// A context for the controllers.
    pub fn new(
        client: Client,
        stores: StoreRegistry,
        config: ControllerConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            recorder: Recorder::new(client.clone(), "stagesync", std::env::var("POD_NAME").ok()),
            backoff: Backoff::new(config.backoff_base, config.backoff_cap),
            restarts: Arc::new(RestartHub::new(config.restart.debounce)),
            client,
            stores,
            config,
            metrics,
            wanted: WantedSecrets::default(),
            ready: Arc::default(),
        }
    }

    /// Forgets an ExternalSecret that is gone: its store trackers stop checking secrets for it and
    /// no unmanaged Secret wakes it.
    pub fn forget(&self, es: &resolve::EsRef) {
        self.stores.forget(es);
        self.wanted.forget(es);
    }
}

impl ControllerConfig {
    /// Whether this operator handles a store of controller class `class` (ESO's rule: a store
    /// without a class is handled by every controller).
    pub fn handles_class(&self, class: Option<&str>) -> bool {
        class.is_none_or(|c| c.is_empty() || self.controller_class.as_deref() == Some(c))
    }
}

/// Runs every controller until `shutdown` resolves, then lets in-flight reconciles finish.
pub async fn run(ctx: Arc<Context>, shutdown: BoxFuture<'static, ()>) {
    let shutdown = shutdown.shared();
    let scopes: Vec<Option<String>> = if ctx.config.namespaces.is_empty() {
        vec![None]
    } else {
        ctx.config.namespaces.iter().cloned().map(Some).collect()
    };
    let mut controllers: Vec<BoxFuture<'static, ()>> = Vec::new();
    for scope in scopes {
        controllers.push(external_secrets(ctx.clone(), scope.clone(), shutdown.clone()).boxed());
        let stores: Api<SecretStore> = scoped(&ctx.client, scope.as_deref());
        let (reader, trigger) = store_trigger(stores);
        controllers.push(
            Controller::for_stream(trigger, reader)
                .graceful_shutdown_on(shutdown.clone())
                .run(
                    store::reconcile_secret_store,
                    store::error_policy,
                    ctx.clone(),
                )
                .for_each(log_result)
                .boxed(),
        );
    }
    if ctx.config.restart.enabled {
        controllers.push(crate::restart::run(ctx.clone(), shutdown.clone()).boxed());
    }
    let (reader, trigger) = store_trigger(Api::<ClusterSecretStore>::all(ctx.client.clone()));
    controllers.push(
        Controller::for_stream(trigger, reader)
            .graceful_shutdown_on(shutdown.clone())
            .run(
                store::reconcile_cluster_secret_store,
                store::error_policy,
                ctx.clone(),
            )
            .for_each(log_result)
            .boxed(),
    );
    futures::future::join_all(controllers).await;
}

fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

async fn log_result<K: Resource, E: std::fmt::Display>(
    result: Result<(ObjectRef<K>, kube::runtime::controller::Action), E>,
) {
    if let Err(err) = result {
        tracing::debug!(error = %err, "controller event");
    }
}

/// What wakes an ExternalSecret besides time: spec (generation), labels, annotations and
/// finalizers — not the status the reconciler writes itself, which would loop.
fn external_secret_trigger(es: &ExternalSecret) -> Option<u64> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    es.metadata.generation.hash(&mut h);
    es.labels().hash(&mut h);
    es.annotations().hash(&mut h);
    es.finalizers().hash(&mut h);
    es.metadata.deletion_timestamp.is_some().hash(&mut h);
    Some(h.finish())
}

/// What wakes a store's check besides its refresh interval: spec (generation), labels and
/// annotations — not the status the check writes itself, which would make every check trigger
/// the next (and a credential check with it) whenever the status changes.
fn store_change<K: Resource>(store: &K) -> Option<u64> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    store.meta().generation.hash(&mut h);
    store.meta().labels.hash(&mut h);
    store.meta().annotations.hash(&mut h);
    Some(h.finish())
}

/// The stores' cache and the stream of their changes that matter ([`store_change`]).
fn store_trigger<K>(
    api: Api<K>,
) -> (
    Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let trigger = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(store_change, Default::default());
    (reader, own_errors(trigger, K::kind(&()).into_owned()))
}

/// A trigger stream that keeps its failures to itself: its watch backs off on its own and the
/// errors are logged, not passed on. kube-runtime backs off the merged stream of all of a
/// controller's triggers on any error, so one failing watch (a `410 Gone`, an API server
/// restart) would hold back every other trigger — the version trackers' wake-ups included —
/// for up to half a minute.
fn own_errors<T: Send + 'static>(
    stream: impl futures::Stream<Item = Result<T, watcher::Error>> + Send + 'static,
    what: impl std::fmt::Display + Send + 'static,
) -> impl futures::Stream<Item = Result<T, watcher::Error>> + Send + 'static {
    stream.filter_map(move |item| {
        futures::future::ready(match item {
            Ok(object) => Some(Ok(object)),
            Err(err) => {
                tracing::warn!(watch = %what, error = %err, "watch failed; retrying with backoff");
                None
            }
        })
    })
}

/// The objects a watch touches, as a controller trigger with its own backoff ([`own_errors`]).
fn touched<K>(
    api: Api<K>,
    config: watcher::Config,
    what: &'static str,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    own_errors(
        watcher(api, config).default_backoff().touched_objects(),
        what,
    )
}

/// Last seen generation of each store (kind, namespace, name).
type StoreGenerations = HashMap<(StoreKind, Option<String>, String), i64>;

/// The reference the trackers and the wanted-Secrets index know an ExternalSecret by.
fn es_ref(es: &ExternalSecret) -> resolve::EsRef {
    Arc::new((es.namespace().unwrap_or_default(), es.name_any()))
}

/// Whether an ExternalSecret of `namespace` belongs to a controller watching `scope`.
fn namespace_in_scope(scope: Option<&str>, namespace: &str) -> bool {
    scope.is_none_or(|s| s == namespace)
}

/// A broadcast receiver as a stream; a receiver that fell behind skips what it missed (the
/// periodic re-check covers it).
fn broadcast_stream<T: Clone + Send + 'static>(
    rx: tokio::sync::broadcast::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(item) => return Some((item, rx)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "version-change wake-ups were dropped; the periodic re-check covers them"
                    );
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

async fn external_secrets(
    ctx: Arc<Context>,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let namespace_filter = namespace.clone();
    let namespace_filter_clone = namespace.clone();
    let client = ctx.client.clone();
    let (reader, writer) = reflector::store::<ExternalSecret>();
    let forget = ctx.clone();
    let relisted = reader.clone();
    let relisted_scope = namespace.clone();
    let trigger = watcher(
        scoped::<ExternalSecret>(&client, namespace.as_deref()),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    // managedFields are the bulk of a stored object and no reconcile reads them: the cache of
    // every ExternalSecret holds the rest.
    .modify(|es| {
        es.managed_fields_mut().clear();
        es.annotations_mut()
            .remove("kubectl.kubernetes.io/last-applied-configuration");
    })
    .reflect(writer)
    .inspect_ok(move |event| {
        // The cache is synced once the first list is complete: the leader is ready.
        if let watcher::Event::InitDone = event {
            forget
                .ready
                .store(true, std::sync::atomic::Ordering::Relaxed);
            // A re-list after a watch gap (dropped stream, 410 Gone, API server away) brings no
            // Delete for what went meanwhile: forget whatever the fresh list no longer holds.
            forget_unlisted(&forget, &relisted, relisted_scope.as_deref());
        }
        // A deleted ExternalSecret no longer needs its secrets tracked.
        if let watcher::Event::Delete(es) = event {
            forget.forget(&es_ref(es));
        }
    })
    .applied_objects()
    .predicate_filter(external_secret_trigger, Default::default());
    let trigger = own_errors(trigger, "ExternalSecrets");
    let in_scope =
        move |es: &resolve::EsRef| namespace_in_scope(namespace_filter.as_deref(), &es.0);
    let expecting = (reader.clone(), ctx.restarts.clone());
    let tracker_wakes = broadcast_stream(ctx.stores.wakes())
        .filter(move |es| futures::future::ready(in_scope(es)))
        .map(move |woken| {
            let es = ObjectRef::new(&woken.1).within(&woken.0);
            // A version moved: this ExternalSecret's Secret is about to be rewritten, and
            // workloads using it wait for that before they roll.
            if let Some(obj) = expecting.0.get(&es) {
                expecting
                    .1
                    .expect_write((woken.0.clone(), externalsecret::target_name(&obj)));
            }
            es
        });
    let in_scope_restarts = namespace_filter_clone.clone();
    let restart_wakes = broadcast_stream(ctx.restarts.es_wakes())
        .filter(move |es| {
            futures::future::ready(namespace_in_scope(in_scope_restarts.as_deref(), &es.0))
        })
        .map(|es| ObjectRef::new(&es.1).within(&es.0));
    let wanted = ctx.wanted.clone();
    let unmanaged = watcher(
        scoped::<PartialObjectMeta<Secret>>(&client, namespace.as_deref()),
        watcher::Config::default().labels(&format!("{LABEL_MANAGED}!=true")),
    )
    .default_backoff()
    .touched_objects()
    .filter_map(move |secret| {
        let woken = match secret {
            Ok(s) => wanted.changed(
                &s.namespace().unwrap_or_default(),
                &s.name_any(),
                s.resource_version().as_deref(),
            ),
            Err(_) => Vec::new(),
        };
        futures::future::ready(Some(stream::iter(woken)))
    })
    .flatten()
    .map(|es| ObjectRef::new(&es.1).within(&es.0));
    let managed = watcher::Config::default().labels(&format!("{LABEL_MANAGED}=true"));
    let store_generations: Arc<Mutex<StoreGenerations>> = Arc::default();
    let by_store = |kind: StoreKind| {
        let reader = reader.clone();
        let seen = store_generations.clone();
        move |store_ns: Option<String>, store_name: String, generation: Option<i64>| {
            // Stores write their own status; only a spec change matters to ExternalSecrets.
            let key = (kind, store_ns.clone(), store_name.clone());
            let generation = generation.unwrap_or_default();
            if seen
                .lock()
                .expect("generations lock")
                .insert(key, generation)
                == Some(generation)
            {
                return Vec::new();
            }
            referencing(&reader, kind, store_ns.as_deref(), &store_name)
        }
    };
    let namespaced_stores = by_store(StoreKind::SecretStore);
    let cluster_stores = by_store(StoreKind::ClusterSecretStore);
    // A reconcile still running on a stale copy when the re-list came may track it again: the
    // cache is compared with what is tracked now and then too.
    let collect = {
        let (ctx, reader, scope) = (ctx.clone(), reader.clone(), namespace.clone());
        async move {
            let mut every = tokio::time::interval(UNLISTED_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if ctx.ready.load(std::sync::atomic::Ordering::Relaxed) {
                    forget_unlisted(&ctx, &reader, scope.as_deref());
                }
            }
        }
    };
    let controller = Controller::for_stream(trigger, reader.clone())
        .reconcile_on(tracker_wakes)
        .reconcile_on(restart_wakes)
        .reconcile_on(unmanaged)
        .watches_stream(
            touched(
                scoped::<Secret>(&client, namespace.as_deref()),
                managed,
                "managed Secrets",
            ),
            secret_to_external_secrets,
        )
        .watches_stream(
            touched(
                scoped::<SecretStore>(&client, namespace.as_deref()),
                watcher::Config::default(),
                "SecretStores",
            ),
            move |s| namespaced_stores(s.namespace(), s.name_any(), s.metadata.generation),
        )
        .watches_stream(
            touched(
                Api::<ClusterSecretStore>::all(client.clone()),
                watcher::Config::default(),
                "ClusterSecretStores",
            ),
            move |s| cluster_stores(None, s.name_any(), s.metadata.generation),
        )
        .with_config(ControllerRuntimeConfig::default().concurrency(ctx.config.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(externalsecret::reconcile, externalsecret::error_policy, ctx)
        .for_each(log_result);
    futures::future::select(Box::pin(controller), Box::pin(collect)).await;
}

/// How often what the trackers and the wanted-Secrets index hold is compared with the cache.
const UNLISTED_EVERY: Duration = Duration::from_secs(30);

/// Forgets, in the store trackers and the wanted-Secrets index, every ExternalSecret of `scope`
/// that the cache no longer holds.
fn forget_unlisted(ctx: &Context, cache: &Store<ExternalSecret>, scope: Option<&str>) {
    let listed = |es: &resolve::EsRef| {
        !namespace_in_scope(scope, &es.0)
            || cache.get(&ObjectRef::new(&es.1).within(&es.0)).is_some()
    };
    ctx.stores.retain(listed);
    ctx.wanted.retain(listed);
}

/// The ExternalSecrets that wrote a managed Secret.
fn secret_to_external_secrets(secret: Secret) -> Vec<ObjectRef<ExternalSecret>> {
    let Some(ns) = secret.namespace() else {
        return Vec::new();
    };
    crate::write::writers(&secret)
        .into_iter()
        .map(|name| ObjectRef::new(&name).within(&ns))
        .collect()
}

/// The ExternalSecrets (from the controller's cache) that read through a store (as
/// `secretStoreRef` or an entry's `sourceRef.storeRef`).
fn referencing(
    reader: &Store<ExternalSecret>,
    kind: StoreKind,
    store_namespace: Option<&str>,
    store_name: &str,
) -> Vec<ObjectRef<ExternalSecret>> {
    reader
        .state()
        .iter()
        .filter(|es| {
            (kind == StoreKind::ClusterSecretStore || es.namespace().as_deref() == store_namespace)
                && sources::store_refs(&es.spec)
                    .iter()
                    .any(|r| r.kind == kind && r.name == store_name)
        })
        .map(|es| ObjectRef::from_obj(es.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_trigger_stream_passes_objects_on_and_keeps_its_errors() {
        let items = stream::iter(vec![Ok(1), Err(watcher::Error::NoResourceVersion), Ok(2)]);
        let passed: Vec<i32> = own_errors(items, "test")
            .map(|r| r.expect("no error passed on"))
            .collect()
            .await;
        assert_eq!(passed, [1, 2]);
    }

    #[test]
    fn a_store_is_not_woken_by_its_own_status() {
        let store: SecretStore = serde_json::from_value(serde_json::json!({
            "apiVersion": "stagesync.io/v1alpha1", "kind": "SecretStore",
            "metadata": {"name": "aws", "namespace": "ns", "generation": 1},
            "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "us-east-1"}}},
        }))
        .unwrap();
        let mut checked = store.clone();
        checked.status = Some(Default::default());
        checked.metadata.resource_version = Some("42".into());
        assert_eq!(store_change(&store), store_change(&checked));
        let mut edited = store.clone();
        edited.metadata.generation = Some(2);
        assert_ne!(store_change(&store), store_change(&edited));
        let mut annotated = store.clone();
        annotated.metadata.annotations = Some([("a".to_owned(), "b".to_owned())].into());
        assert_ne!(store_change(&store), store_change(&annotated));
    }
}
