//! The store registry: the one place that decides which store an ExternalSecret may use and
//! with which AWS identity, and that keeps one backend per store, rebuilt when the store or its
//! credential Secret changes.
//!
//! Tenancy rules enforced here and nowhere else:
//! - a `SecretStore` serves only ExternalSecrets of its own namespace, and reads its credential
//!   Secret from that namespace;
//! - a `ClusterSecretStore` serves a namespace only if one of its `conditions` admits it, and its
//!   credential references must name their namespace;
//! - a namespaced `SecretStore` without `auth` would lend a tenant the operator's own AWS
//!   identity: refused unless the operator allows it;
//! - a store's `role`, each of its `additionalRoles` and an `auth.jwt` ServiceAccount's role
//!   must match the operator's allow-list, when one is set;
//! - `auth.jwt` uses a ServiceAccount of the SecretStore's own namespace (a ClusterSecretStore
//!   names it).
//!
//! `credentials.rs` builds a store's identity (keys, web identity, roles, session tags).

mod admission;
mod credentials;

use credentials::{credential_secrets, tags_per_namespace};

pub use admission::namespace_admitted;
pub use credentials::{Referenced, referenced_namespace};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::{Api, Client, ResourceExt};
use regex::Regex;

use crate::api::Reason;
use crate::api::externalsecret::{SecretStoreRef, StoreKind};
use crate::api::secretstore::{AwsProvider, ClusterSecretStore, SecretStore, SessionTagsPolicy};
use crate::api::shared::SecretKeySelector;
use crate::metrics::Metrics;
use crate::provider::aws::{
    AssumeRole, AwsBackend, AwsClientConfig, CredentialSource, Timeouts, TokenSource,
};
use crate::provider::{ProviderError, SecretsBackend};
use crate::resolve::{EsRef, StoreResolver, TrackingSettings};
use crate::value::SecretBytes;

/// Operator-wide rules and defaults for stores.
#[derive(Clone, Debug)]
pub struct StorePolicy {
    /// Let namespaced SecretStores without `auth` use the operator's own AWS identity.
    pub allow_ambient_credentials_in_namespaced_stores: bool,
    /// Roles a store may assume (the whole ARN must match); `None` allows any role.
    pub allowed_roles: Option<Regex>,
    /// STS endpoint override for assuming roles (private STS endpoints, tests).
    pub sts_endpoint: Option<String>,
    /// Timeouts of AWS calls.
    pub timeouts: Timeouts,
    /// Attempts per AWS call.
    pub max_attempts: u32,
    /// Version tracking and value caching.
    pub tracking: TrackingSettings,
}

impl Default for StorePolicy {
    fn default() -> Self {
        Self {
            allow_ambient_credentials_in_namespaced_stores: false,
            allowed_roles: None,
            sts_endpoint: None,
            timeouts: Timeouts::default(),
            max_attempts: 3,
            tracking: TrackingSettings::default(),
        }
    }
}

/// Why a store cannot be used. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The referenced store does not exist.
    #[error("{kind:?} {name:?} not found{}", in_namespace(namespace))]
    NotFound {
        /// Kind of the reference.
        kind: StoreKind,
        /// Name of the store.
        name: String,
        /// Namespace looked in, for a SecretStore.
        namespace: Option<String>,
    },
    /// The ClusterSecretStore does not admit the namespace.
    #[error(
        "ClusterSecretStore {store:?} does not admit namespace {namespace:?} (see its spec.conditions)"
    )]
    NotAllowed {
        /// Name of the ClusterSecretStore.
        store: String,
        /// The ExternalSecret's namespace.
        namespace: String,
    },
    /// A namespaced SecretStore without credentials, and the operator forbids ambient ones.
    #[error(
        "SecretStore {store:?} in namespace {namespace:?} sets no auth, which would use the operator's own AWS identity; \
         set spec.provider.aws.auth, use a ClusterSecretStore, or start the operator with --allow-ambient-credentials"
    )]
    AmbientNotAllowed {
        /// Name of the SecretStore.
        store: String,
        /// Its namespace.
        namespace: String,
    },
    /// The role is outside the operator's allow-list.
    #[error("role {role:?} is not allowed by the operator's --allowed-roles pattern")]
    RoleNotAllowed {
        /// The role ARN.
        role: String,
    },
    /// The credential Secret or key is missing.
    #[error("credentials not found: {what}")]
    CredentialsNotFound {
        /// Which Secret (and key) is missing.
        what: String,
        /// The Secret (namespace, name), so whoever waits for it can watch for it.
        secret: (String, String),
    },
    /// The store's configuration cannot work.
    #[error("invalid store configuration: {0}")]
    InvalidConfig(String),
    /// Building the backend failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The Kubernetes API failed; retried.
    #[error("reading the store from Kubernetes failed: {0}")]
    Kube(#[from] kube::Error),
}

fn in_namespace(ns: &Option<String>) -> String {
    ns.as_ref()
        .map(|n| format!(" in namespace {n:?}"))
        .unwrap_or_default()
}

impl StoreError {
    /// The condition reason this error is reported with.
    pub fn reason(&self) -> Reason {
        match self {
            Self::NotFound { .. } => Reason::StoreNotFound,
            Self::NotAllowed { .. } => Reason::StoreNotAllowed,
            Self::AmbientNotAllowed { .. } => Reason::AmbientCredentialsNotAllowed,
            Self::RoleNotAllowed { .. } => Reason::RoleNotAllowed,
            Self::CredentialsNotFound { .. } => Reason::CredentialsNotFound,
            Self::InvalidConfig(_) => Reason::InvalidStoreConfig,
            Self::Provider(e) => e.reason(),
            Self::Kube(_) => Reason::Unavailable,
        }
    }
}

/// Builds a backend from client settings. The default builds an [`AwsBackend`]; tests and the
/// rotation-aware resolver wrap or replace it.
pub type BackendFactory = Arc<
    dyn Fn(AwsClientConfig) -> BoxFuture<'static, Result<Arc<dyn SecretsBackend>, ProviderError>>
        + Send
        + Sync,
>;

/// The factory that talks to AWS.
pub fn aws_backend_factory() -> BackendFactory {
    Arc::new(|config: AwsClientConfig| {
        Box::pin(async move {
            let backend = AwsBackend::from_config(&config).await?;
            Ok(Arc::new(backend) as Arc<dyn SecretsBackend>)
        })
    })
}

/// A usable store.
#[derive(Clone)]
pub struct StoreHandle {
    /// Kind of the store.
    pub kind: StoreKind,
    /// Name of the store.
    pub name: String,
    /// The store's resolver (backend, version tracker, value cache).
    pub resolver: Arc<StoreResolver>,
    /// The Secrets (namespace, name) the store's credentials come from.
    pub credential_secrets: Vec<(String, String)>,
    /// Prepended to the keys the ExternalSecrets read (`provider.aws.prefix`).
    pub prefix: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct StoreKey {
    kind: StoreKind,
    namespace: Option<String>,
    name: String,
    /// The ExternalSecrets' namespace, when the identity depends on it (session tags of a
    /// ClusterSecretStore): each namespace then gets its own session, tracker and cache.
    tenant: Option<String>,
}

struct CachedBackend {
    /// Identifies the store's spec and credentials the backend was built from.
    fingerprint: String,
    resolver: Arc<StoreResolver>,
}

/// The store registry.
pub struct StoreRegistry {
    client: Client,
    policy: StorePolicy,
    factory: BackendFactory,
    metrics: Arc<Metrics>,
    wake: tokio::sync::broadcast::Sender<EsRef>,
    cache: Mutex<HashMap<StoreKey, CachedBackend>>,
}

/// A store object of either kind, reduced to what the registry needs.
struct StoreObject {
    kind: StoreKind,
    name: String,
    /// The store's namespace (SecretStore) or `None` (ClusterSecretStore).
    namespace: Option<String>,
    uid: String,
    generation: i64,
    aws: AwsProvider,
    conditions: Vec<crate::api::secretstore::ClusterSecretStoreCondition>,
    controller: Option<String>,
}

impl StoreRegistry {
    /// A registry reading stores through `client`, counting AWS calls into `metrics`.
    pub fn new(
        client: Client,
        policy: StorePolicy,
        factory: BackendFactory,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (wake, _) = tokio::sync::broadcast::channel(4096);
        Self {
            client,
            policy,
            factory,
            metrics,
            wake,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// ExternalSecrets to reconcile because a version they read changed (or their store was
    /// rebuilt).
    pub fn wakes(&self) -> tokio::sync::broadcast::Receiver<EsRef> {
        self.wake.subscribe()
    }

    /// Forgets a deleted ExternalSecret in every store's tracker.
    pub fn forget(&self, es: &EsRef) {
        self.forget_except(es, &[]);
    }

    /// Forgets an ExternalSecret in the tracker of every store but `using` (those it reads
    /// through now): one re-pointed to another store, or whose spec or store went bad, no longer
    /// keeps the old store checking secrets for it.
    pub fn forget_except(&self, es: &EsRef, using: &[&Arc<StoreResolver>]) {
        for r in self.resolvers() {
            if !using.iter().any(|u| Arc::ptr_eq(u, &r)) {
                r.forget(es);
            }
        }
    }

    /// Forgets, in every store's tracker, each ExternalSecret `keep` refuses: after a re-list,
    /// those deleted while no watch was open to tell.
    pub fn retain(&self, keep: impl Fn(&EsRef) -> bool) {
        for r in self.resolvers() {
            r.retain(&keep);
        }
    }

    fn resolvers(&self) -> Vec<Arc<StoreResolver>> {
        self.cache
            .lock()
            .expect("store cache lock")
            .values()
            .map(|c| c.resolver.clone())
            .collect()
    }

    /// The resolver of a store already in use, if any (for its status).
    pub fn resolver_of(
        &self,
        kind: StoreKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Arc<StoreResolver>> {
        let namespace = namespace
            .filter(|_| kind == StoreKind::SecretStore)
            .map(str::to_owned);
        // A store with a session per namespace has several resolvers: any one tells its mode.
        self.cache
            .lock()
            .expect("store cache lock")
            .iter()
            .filter(|(k, _)| k.kind == kind && k.namespace == namespace && k.name == name)
            .min_by(|a, b| a.0.tenant.cmp(&b.0.tenant))
            .map(|(_, c)| c.resolver.clone())
    }

    /// The operator's store policy.
    pub fn policy(&self) -> &StorePolicy {
        &self.policy
    }

    /// The store an ExternalSecret in `namespace` references, if it may use it.
    pub async fn for_external_secret(
        &self,
        namespace: &str,
        store_ref: &SecretStoreRef,
    ) -> Result<StoreHandle, StoreError> {
        let store = self
            .load(store_ref.kind, Some(namespace), &store_ref.name)
            .await?;
        if store.kind == StoreKind::ClusterSecretStore {
            let ns = Api::<Namespace>::all(self.client.clone())
                .get_opt(namespace)
                .await?;
            let labels = ns.as_ref().map(|n| n.labels().clone()).unwrap_or_default();
            if !namespace_admitted(&store.conditions, namespace, &labels) {
                return Err(StoreError::NotAllowed {
                    store: store.name,
                    namespace: namespace.to_owned(),
                });
            }
        }
        self.handle(store, Some(namespace)).await
    }

    /// The controller class of the store an ExternalSecret in `namespace` references.
    pub async fn controller_class(
        &self,
        namespace: &str,
        store_ref: &SecretStoreRef,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .load(store_ref.kind, Some(namespace), &store_ref.name)
            .await?
            .controller)
    }

    /// A store by itself, for checking its own readiness (no namespace admission).
    pub async fn for_store(
        &self,
        kind: StoreKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<StoreHandle, StoreError> {
        let store = self.load(kind, namespace, name).await?;
        self.handle(store, None).await
    }

    async fn load(
        &self,
        kind: StoreKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<StoreObject, StoreError> {
        let not_found = || StoreError::NotFound {
            kind,
            name: name.to_owned(),
            namespace: namespace
                .filter(|_| kind == StoreKind::SecretStore)
                .map(str::to_owned),
        };
        match kind {
            StoreKind::SecretStore => {
                let ns = namespace.ok_or_else(not_found)?;
                let s = Api::<SecretStore>::namespaced(self.client.clone(), ns)
                    .get_opt(name)
                    .await?
                    .ok_or_else(not_found)?;
                Ok(StoreObject {
                    kind,
                    name: name.to_owned(),
                    namespace: Some(ns.to_owned()),
                    uid: s.uid().unwrap_or_default(),
                    generation: s.metadata.generation.unwrap_or_default(),
                    aws: s.spec.provider.aws,
                    conditions: Vec::new(),
                    controller: s.spec.controller,
                })
            }
            StoreKind::ClusterSecretStore => {
                let s = Api::<ClusterSecretStore>::all(self.client.clone())
                    .get_opt(name)
                    .await?
                    .ok_or_else(not_found)?;
                Ok(StoreObject {
                    kind,
                    name: name.to_owned(),
                    namespace: None,
                    uid: s.uid().unwrap_or_default(),
                    generation: s.metadata.generation.unwrap_or_default(),
                    aws: s.spec.provider.aws,
                    conditions: s.spec.conditions,
                    controller: s.spec.controller,
                })
            }
        }
    }

    /// The store's resolver for ExternalSecrets of `tenant` (`None`: the store's own check).
    async fn handle(
        &self,
        store: StoreObject,
        tenant: Option<&str>,
    ) -> Result<StoreHandle, StoreError> {
        let tenant = tenant
            .filter(|_| {
                store.kind == StoreKind::ClusterSecretStore && tags_per_namespace(&store.aws)
            })
            .map(str::to_owned);
        let (mut config, credentials_version) =
            self.client_config(&store, tenant.as_deref()).await?;
        let fingerprint = format!("{}/{}/{}", store.uid, store.generation, credentials_version);
        let key = StoreKey {
            kind: store.kind,
            namespace: store.namespace.clone(),
            name: store.name.clone(),
            tenant: tenant.clone(),
        };
        if let Some(cached) = self.cache.lock().expect("store cache lock").get(&key)
            && cached.fingerprint == fingerprint
        {
            return Ok(StoreHandle {
                credential_secrets: credential_secrets(&store),
                prefix: store.aws.prefix.clone(),
                kind: store.kind,
                name: store.name,
                resolver: cached.resolver.clone(),
            });
        }
        let label = match (&store.namespace, &tenant) {
            (Some(ns), _) => format!("{:?}/{ns}/{}", store.kind, store.name),
            (None, Some(tenant)) => format!("{:?}/{}@{tenant}", store.kind, store.name),
            (None, None) => format!("{:?}/{}", store.kind, store.name),
        };
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        config.observer = Some(self.metrics.observer(&label, calls.clone()));
        let backend = (self.factory)(config).await?;
        let mode = store
            .aws
            .version_tracking
            .as_ref()
            .map(|t| t.mode)
            .unwrap_or_default();
        let resolver = StoreResolver::start(
            label,
            backend,
            mode,
            self.policy.tracking.clone(),
            self.metrics.clone(),
            self.wake.clone(),
            calls,
        );
        let replaced = self.cache.lock().expect("store cache lock").insert(
            key,
            CachedBackend {
                fingerprint,
                resolver: resolver.clone(),
            },
        );
        // The store changed (spec or credentials): its ExternalSecrets read through the new
        // identity now, without waiting for their next refresh.
        if let Some(old) = replaced {
            for es in old.resolver.subscribers() {
                let _ = self.wake.send(es);
            }
        }
        Ok(StoreHandle {
            credential_secrets: credential_secrets(&store),
            prefix: store.aws.prefix.clone(),
            kind: store.kind,
            name: store.name,
            resolver,
        })
    }
}
