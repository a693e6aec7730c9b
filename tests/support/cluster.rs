//! The cluster every integration test runs against: the real cluster named by
//! `STAGESYNC_E2E_KUBECONFIG` when it is set, the project's API server fake otherwise — the same
//! tests either way. The fake is served on loopback HTTPS with a bearer token and reached through
//! its generated kubeconfig, so the operator's rustls client path is what the tests exercise.
//! Tests that need the fake's fault injection call [`TestCluster::faults`], which skips them
//! (with the reason printed) on a real cluster.
//!
//! On the fake the operator runs as the ServiceAccount the Helm chart creates, with exactly the
//! RBAC rules the chart renders (the fake enforces RBAC for ServiceAccount tokens): every
//! operator test is then also a proof that those rules suffice. The tests themselves use the
//! fake's admin token.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use apiserver_fake::{FakeApiServer, Faults, Options};
use futures::FutureExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, Config};
use stagesync::controller::{Context, ControllerConfig};
use stagesync::metrics::Metrics;
use stagesync::provider::aws::Timeouts;
use stagesync::store::{BackendFactory, StorePolicy, StoreRegistry, aws_backend_factory};
use tokio::sync::oneshot;

use super::{unique_name, workspace_root};

/// Environment variable naming a real cluster's kubeconfig.
pub const E2E_KUBECONFIG: &str = "STAGESYNC_E2E_KUBECONFIG";

/// A cluster for one test.
pub struct TestCluster {
    /// A client for the test itself.
    pub client: Client,
    /// Kubeconfig for processes (the `stagesync` binary, `kubectl`), with the test's identity.
    pub kubeconfig: PathBuf,
    /// The operator's client: the chart's ServiceAccount on the fake.
    pub operator_client: Client,
    /// Kubeconfig with the operator's identity.
    pub operator_kubeconfig: PathBuf,
    fake: Option<FakeApiServer>,
    /// Metrics of the operators run on this cluster, for the leak scan at its stop.
    operators: std::sync::Mutex<Vec<Arc<Metrics>>>,
}

impl TestCluster {
    /// The real cluster, or a fresh fake with stagesync's CRDs installed.
    pub async fn start() -> Self {
        Self::start_with_rbac(None).await
    }

    /// Like [`TestCluster::start`], with the operator on the test's own (admin) identity and no
    /// ServiceAccount or RBAC installed.
    ///
    /// Only `tests/faults.rs`'s simulated API-server restart uses it: when the operator talks
    /// through the ServiceAccount's own kubeconfig, its new TLS connections after the restart
    /// keep failing ("tls handshake eof", though the refusal window is over) for about 20 s
    /// before it recovers; through the admin kubeconfig it recovers at once. Not understood yet
    /// (see the session notes).
    pub async fn start_without_operator_identity() -> Self {
        Self::start_inner(None, false).await
    }

    /// Like [`TestCluster::start`], with the operator's RBAC objects given (`None`: the chart's
    /// rendering with default values). On a real cluster the operator uses the kubeconfig's
    /// identity.
    pub async fn start_with_rbac(rbac: Option<Vec<serde_json::Value>>) -> Self {
        Self::start_inner(rbac, true).await
    }

    async fn start_inner(rbac: Option<Vec<serde_json::Value>>, identity: bool) -> Self {
        super::leak::install();
        if let Some(path) = std::env::var_os(E2E_KUBECONFIG) {
            let kubeconfig = PathBuf::from(path);
            let client = client_from(&kubeconfig).await;
            install_crds(&client).await;
            return Self {
                operator_client: client.clone(),
                operator_kubeconfig: kubeconfig.clone(),
                client,
                kubeconfig,
                fake: None,
                operators: Default::default(),
            };
        }
        let fake = FakeApiServer::start(Options {
            token: Some(format!("token-{}", unique_name("t"))),
            crd_dirs: vec![workspace_root().join("crds")],
            bookmark_interval: Duration::from_secs(1),
            ..Options::default()
        })
        .expect("the API server fake starts");
        fake.record_error_responses(cfg!(test));
        let endpoint = fake
            .serve_http("127.0.0.1:0".parse().unwrap(), true)
            .await
            .expect("the API server fake serves HTTPS");
        assert!(endpoint.url.starts_with("https://"));
        let client = client_from(&endpoint.kubeconfig).await;
        if !identity {
            return Self {
                operator_client: client.clone(),
                operator_kubeconfig: endpoint.kubeconfig.clone(),
                client,
                kubeconfig: endpoint.kubeconfig,
                fake: Some(fake),
                operators: Default::default(),
            };
        }
        let rbac = rbac.unwrap_or_else(|| super::chart::operator_rbac().to_vec());
        let (sa_namespace, sa_name) = super::chart::install_operator_identity(&client, &rbac).await;
        let token = fake
            .service_account_token(&sa_namespace, &sa_name)
            .expect("a token for the operator's ServiceAccount");
        let operator_kubeconfig = fake
            .kubeconfig_as(&endpoint, &token)
            .expect("the operator's kubeconfig");
        let operator_client = client_from(&operator_kubeconfig).await;
        Self {
            client,
            kubeconfig: endpoint.kubeconfig,
            operator_client,
            operator_kubeconfig,
            fake: Some(fake),
            operators: Default::default(),
        }
    }

    /// The fake's fault injection, or `None` on a real cluster — the caller then returns early;
    /// this prints why the test is skipped.
    pub fn faults(&self, test: &str) -> Option<Faults> {
        match &self.fake {
            Some(f) => Some(f.faults()),
            None => {
                eprintln!(
                    "SKIPPED {test}: needs the API server fake's fault injection, not available on a real cluster"
                );
                None
            }
        }
    }

    /// The API server fake, or `None` on a real cluster (prefer [`TestCluster::faults`], which
    /// says why a test is skipped).
    pub fn fake(&self) -> Option<&FakeApiServer> {
        self.fake.as_ref()
    }

    /// Creates a namespace unique to this test run.
    pub async fn namespace(&self, prefix: &str) -> String {
        let name = unique_name(prefix).replace('/', "-");
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        name
    }

    /// Runs the operator's controllers in this process until the returned handle is dropped.
    pub fn run_operator(&self, policy: StorePolicy) -> OperatorHandle {
        self.run_operator_with(
            policy,
            ControllerConfig {
                backoff_base: Duration::from_millis(200),
                backoff_cap: Duration::from_secs(2),
                ..ControllerConfig::default()
            },
        )
    }

    /// Runs the operator with these controller settings.
    pub fn run_operator_with(
        &self,
        policy: StorePolicy,
        config: ControllerConfig,
    ) -> OperatorHandle {
        self.run_operator_with_backends(policy, config, aws_backend_factory())
    }

    /// Runs the operator with these controller settings and this way of building each store's
    /// AWS backend (a test can wrap [`aws_backend_factory`] to give the operator an identity).
    pub fn run_operator_with_backends(
        &self,
        policy: StorePolicy,
        config: ControllerConfig,
        backends: BackendFactory,
    ) -> OperatorHandle {
        let metrics = Arc::new(Metrics::default());
        self.scan_metrics_of(metrics.clone());
        let stores = StoreRegistry::new(
            self.operator_client.clone(),
            policy,
            backends,
            metrics.clone(),
        );
        let ctx = Arc::new(Context::new(
            self.operator_client.clone(),
            stores,
            config,
            metrics.clone(),
        ));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(stagesync::controller::run(ctx, stopped.map(|_| ()).boxed()));
        OperatorHandle {
            metrics,
            stop: Some(stop),
            task: Some(task),
        }
    }
}

impl TestCluster {
    /// Adds an operator's metrics to what the leak scan reads at this cluster's stop (operators
    /// started by [`TestCluster::run_operator`] are added already).
    pub fn scan_metrics_of(&self, metrics: Arc<Metrics>) {
        self.operators.lock().unwrap().push(metrics);
    }

    /// The leak scan of this cluster now (as its stop does): see `support::leak`.
    pub fn leak_scan(&self) -> super::leak::Report {
        let operators = self.operators.lock().unwrap().clone();
        super::leak::scan_cluster(self.fake.as_ref(), &operators)
    }

    /// A client authenticated as ServiceAccount `namespace/name` (a token from the TokenRequest
    /// API, on the fake as on a real cluster): what a tenant's tools use.
    pub async fn client_as_service_account(&self, namespace: &str, name: &str) -> Client {
        use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
        use k8s_openapi::api::core::v1::ServiceAccount;
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: Vec::new(),
                expiration_seconds: Some(3600),
                ..TokenRequestSpec::default()
            },
            ..TokenRequest::default()
        };
        let token = Api::<ServiceAccount>::namespaced(self.client.clone(), namespace)
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .expect("a token for the ServiceAccount")
            .status
            .expect("the TokenRequest's status")
            .token;
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("read kubeconfig");
        let mut config = Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("kubeconfig is usable");
        config.auth_info = kube::config::AuthInfo {
            token: Some(token.into()),
            ..Default::default()
        };
        Client::try_from(config).expect("client")
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if cfg!(test) {
            let report = self.leak_scan();
            if let Some(failure) = report.failure() {
                if std::thread::panicking() {
                    eprintln!("{failure}");
                } else {
                    if let Some(f) = &self.fake {
                        f.shutdown();
                    }
                    panic!("{failure}");
                }
            }
        }
        if let Some(f) = &self.fake {
            f.shutdown();
        }
    }
}

/// The operator's store policy for tests: AWS is the moto server, reached quickly.
pub fn test_policy(sts_endpoint: &str) -> StorePolicy {
    StorePolicy {
        sts_endpoint: Some(sts_endpoint.to_owned()),
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            attempt: Duration::from_secs(5),
            operation: Duration::from_secs(10),
        },
        max_attempts: 1,
        ..StorePolicy::default()
    }
}

/// A running in-process operator; stops when dropped.
pub struct OperatorHandle {
    /// The operator's metrics.
    pub metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl OperatorHandle {
    /// Stops the controllers and waits for in-flight reconciles.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

impl Drop for OperatorHandle {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn client_from(kubeconfig: &std::path::Path) -> Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kubeconfig is usable");
    Client::try_from(config).expect("client")
}

/// Installs (server-side applies) stagesync's CRDs on a real cluster and waits until served.
async fn install_crds(client: &Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Patch, PatchParams};
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, crd) in stagesync::api::crds() {
        let name = crd.metadata.name.clone().unwrap();
        api.patch(
            &name,
            &PatchParams::apply("stagesync-tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("apply CRD");
        let established = kube::runtime::wait::await_condition(
            api.clone(),
            &name,
            kube::runtime::wait::conditions::is_crd_established(),
        );
        let _ = tokio::time::timeout(Duration::from_secs(30), established).await;
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The usual scenario: a cluster, a namespace with a SecretStore `aws` on moto, the operator
/// running, and an AWS admin client.
pub struct Env {
    /// The cluster.
    pub cluster: TestCluster,
    _operator: OperatorHandle,
    /// The test's namespace.
    pub ns: String,
    /// AWS (moto) as its administrator.
    pub aws: aws_sdk_secretsmanager::Client,
}

impl Env {
    /// The test's Kubernetes client.
    pub fn client(&self) -> &Client {
        &self.cluster.client
    }
}

/// Sets up the usual scenario.
pub async fn env(prefix: &str) -> Env {
    let m = super::moto::moto();
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace(prefix).await;
    super::objects::create_store(&cluster.client, &ns, &m.endpoint).await;
    let operator = cluster.run_operator(test_policy(&m.endpoint));
    Env {
        _operator: operator,
        ns,
        aws: m.admin_client().await,
        cluster,
    }
}
