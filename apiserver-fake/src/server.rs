//! The two front doors over one cluster: an in-process `tower::Service` for
//! `kube::Client::new`, and a loopback HTTP(S) listener with a generated kubeconfig.
//! Also startup (default namespaces, CRD preload), fault-driven listener restarts and shutdown,
//! and (when asked) a record of the error answers' bodies, so tests can check what clients were
//! told.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use futures::future::BoxFuture;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tower::{Service, ServiceExt};

use crate::faults::{FaultRule, Faults};
use crate::http::{AppState, DropConnection, router};
use crate::ops::{Cluster, WriteOpts};
use crate::token::TokenIssuer;
use crate::{FakeError, gc, kubeconfig, rbac, tls};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How to start the fake.
#[derive(Debug, Clone)]
pub struct Options {
    /// Changes kept for watch resumption and consistent pagination; older resourceVersions
    /// get 410 Gone (the fake's "etcd compaction window").
    pub history_limit: usize,
    /// Interval of periodic BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
    /// Require `Authorization: Bearer <token>` on every request.
    pub token: Option<String>,
    /// Directories of CRD YAML files created at start.
    pub crd_dirs: Vec<PathBuf>,
    /// Fault rules active from the start.
    pub faults: Vec<FaultRule>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            history_limit: 20_000,
            bookmark_interval: Duration::from_secs(5),
            token: None,
            crd_dirs: Vec::new(),
            faults: Vec::new(),
        }
    }
}

/// In-process front door: the router plus the "refuse connections" fault, which
/// surfaces to the client as a transport error. A service made by `client()`/`client_as()`
/// adds its bearer token to requests that carry no `Authorization` header.
#[derive(Clone)]
pub struct FakeService {
    router: Router,
    faults: Faults,
    bearer: Option<http::HeaderValue>,
    errors: Arc<ErrorLog>,
}

/// The bodies of error answers (4xx/5xx), kept while recording is on
/// ([`FakeApiServer::record_error_responses`]).
#[derive(Default)]
struct ErrorLog {
    on: std::sync::atomic::AtomicBool,
    bodies: Mutex<Vec<(u16, String)>>,
}

impl ErrorLog {
    fn recording(&self) -> bool {
        self.on.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn refused() -> BoxError {
    Box::new(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "connection refused (apiserver-fake: simulated restart)",
    ))
}

impl<B> Service<http::Request<B>> for FakeService
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let refusing = self.faults.refuse_now();
        let router = self.router.clone();
        let errors = self.errors.clone();
        if let Some(b) = &self.bearer
            && !req.headers().contains_key(http::header::AUTHORIZATION)
        {
            req.headers_mut()
                .insert(http::header::AUTHORIZATION, b.clone());
        }
        Box::pin(async move {
            if refusing {
                return Err(refused());
            }
            let resp = router
                .oneshot(req.map(Body::new))
                .await
                .map_err(|e| -> BoxError { Box::new(e) })?;
            if resp.extensions().get::<DropConnection>().is_some() {
                return Err(refused());
            }
            let status = resp.status();
            if !errors.recording() || !(status.is_client_error() || status.is_server_error()) {
                return Ok(resp);
            }
            // An error answer is a small Status object, never a stream: read it, keep a copy.
            let (parts, body) = resp.into_parts();
            let bytes = http_body_util::BodyExt::collect(body)
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            errors.bodies.lock().expect("lock").push((
                status.as_u16(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
            Ok(Response::from_parts(parts, Body::from(bytes)))
        })
    }
}

/// A listening front door.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `http://127.0.0.1:PORT` or `https://...`.
    pub url: String,
    pub addr: SocketAddr,
    /// The generated kubeconfig file.
    pub kubeconfig: PathBuf,
    /// PEM of the generated CA (HTTPS only).
    pub ca_pem: Option<String>,
}

/// A running fake API server.
pub struct FakeApiServer {
    state: Arc<AppState>,
    errors: Arc<ErrorLog>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    shutdown: Arc<Notify>,
    temp_dirs: Mutex<Vec<PathBuf>>,
}

impl FakeApiServer {
    /// Start the cluster (inside a tokio runtime): default namespaces, controllers, CRDs.
    pub fn start(opts: Options) -> Result<Self, FakeError> {
        let cluster = Arc::new(Cluster::new(opts.history_limit));
        let faults = Faults::new();
        for r in opts.faults.clone() {
            faults.add(r);
        }
        let gc_rx = cluster.store.listen();
        let gc_task = tokio::spawn(gc::run(cluster.clone(), gc_rx));
        let agg_rx = cluster.store.listen();
        let agg_task = tokio::spawn(rbac::run_aggregation(cluster.clone(), agg_rx));
        let state = Arc::new(AppState {
            cluster: cluster.clone(),
            faults: faults.clone(),
            token: opts.token.clone(),
            issuer: TokenIssuer::new(),
            bookmark_interval: opts.bookmark_interval,
            server_addr: Mutex::new("127.0.0.1:443".into()),
        });
        // Closing every watch when a refusal window starts mirrors a restart.
        let mut refusals = faults.refusals();
        let c2 = cluster.clone();
        let refuse_task = tokio::spawn(async move {
            while refusals.changed().await.is_ok() {
                if refusals.borrow_and_update().is_some() {
                    c2.store.close_watches(None, None, None);
                }
            }
        });
        let server = Self {
            state,
            errors: Arc::default(),
            tasks: Mutex::new(vec![gc_task, agg_task, refuse_task]),
            shutdown: Arc::new(Notify::new()),
            temp_dirs: Mutex::new(Vec::new()),
        };
        let ns = server
            .cluster()
            .registry
            .find("", "v1", "namespaces")
            .expect("namespaces are built in");
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            server
                .cluster()
                .create(
                    &ns,
                    None,
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
                    &WriteOpts::default(),
                )
                .map_err(FakeError::Api)?;
        }
        rbac::bootstrap(server.cluster()).map_err(FakeError::Api)?;
        for dir in &opts.crd_dirs {
            server.load_crds(dir)?;
        }
        Ok(server)
    }

    /// Create every CustomResourceDefinition found in the YAML/JSON files of `dir`.
    pub fn load_crds(&self, dir: &Path) -> Result<usize, FakeError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
            })
            .collect();
        files.sort();
        let rt = self
            .cluster()
            .registry
            .find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .expect("CRDs are built in");
        let mut n = 0;
        for f in files {
            let text = std::fs::read_to_string(&f)?;
            for doc in serde_yaml_ng::Deserializer::from_str(&text) {
                let v: Value = serde::Deserialize::deserialize(doc)
                    .map_err(|e| FakeError::Config(format!("{}: {e}", f.display())))?;
                if v.is_null() || v["kind"] != "CustomResourceDefinition" {
                    continue;
                }
                self.cluster()
                    .create(
                        &rt,
                        None,
                        v,
                        &WriteOpts {
                            field_manager: Some("apiserver-fake".into()),
                            ..Default::default()
                        },
                    )
                    .map_err(FakeError::Api)?;
                n += 1;
            }
        }
        Ok(n)
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.state.cluster
    }

    /// The fault handle (shared with both front doors).
    pub fn faults(&self) -> Faults {
        self.state.faults.clone()
    }

    /// The in-process front door as a tower service (requests authenticate as over HTTP).
    pub fn service(&self) -> FakeService {
        FakeService {
            router: router(self.state.clone()),
            faults: self.state.faults.clone(),
            bearer: None,
            errors: self.errors.clone(),
        }
    }

    /// From now on (`true`), keeps the body of every error answer (status 4xx or 5xx) of both
    /// front doors, for [`FakeApiServer::take_error_responses`]; off by default.
    pub fn record_error_responses(&self, on: bool) {
        self.errors
            .on
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// The error answers recorded since the last call: (status code, body).
    pub fn take_error_responses(&self) -> Vec<(u16, String)> {
        std::mem::take(&mut *self.errors.bodies.lock().expect("lock"))
    }

    fn service_with_token(&self, token: &str) -> Result<FakeService, FakeError> {
        let v = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|e| FakeError::Config(format!("token: {e}")))?;
        Ok(FakeService {
            bearer: Some(v),
            ..self.service()
        })
    }

    /// A kube client talking to the fake in-process (default namespace `default`), as the
    /// superuser (`system:masters`, with the admin token when one is configured).
    pub fn client(&self) -> kube::Client {
        let svc = match self.state.token.as_deref() {
            Some(t) => self
                .service_with_token(t)
                .unwrap_or_else(|_| self.service()),
            None => self.service(),
        };
        kube::Client::new(svc, "default")
    }

    /// A kube client talking to the fake in-process with `token` as its bearer token (e.g. a
    /// ServiceAccount token from `service_account_token`): authenticated and authorized
    /// (RBAC) as over HTTP. Default namespace `default`.
    pub fn client_as(&self, token: &str) -> Result<kube::Client, FakeError> {
        Ok(kube::Client::new(
            self.service_with_token(token)?,
            "default",
        ))
    }

    /// A token for ServiceAccount `namespace/name`, as a TokenRequest with default
    /// audiences and a one-hour expiry issues it (404 Api error when the ServiceAccount does
    /// not exist). Requests with it authenticate as `system:serviceaccount:<ns>:<name>`.
    pub fn service_account_token(&self, namespace: &str, name: &str) -> Result<String, FakeError> {
        self.state
            .issuer
            .service_account_token(&self.state.cluster, namespace, name)
            .map_err(FakeError::Api)
    }

    /// The ServiceAccount token issuer (JWKS, verification).
    pub fn token_issuer(&self) -> &TokenIssuer {
        &self.state.issuer
    }

    /// A kubeconfig for a listening endpoint that authenticates with `token` instead of the
    /// admin token (written to a fresh temporary file, removed on shutdown).
    pub fn kubeconfig_as(&self, ep: &Endpoint, token: &str) -> Result<PathBuf, FakeError> {
        let dir = std::env::temp_dir().join(format!("apiserver-fake-{}", uuid::Uuid::new_v4()));
        self.temp_dirs.lock().expect("lock").push(dir.clone());
        let path = dir.join("kubeconfig");
        kubeconfig::write(
            &path,
            &kubeconfig::render(&ep.url, ep.ca_pem.as_deref(), Some(token)),
        )?;
        Ok(path)
    }

    /// Like `serve_http`, with a kubeconfig that authenticates with `token` (e.g. a
    /// ServiceAccount token): a kube::Client or the real binary built from it runs as that
    /// ServiceAccount.
    pub async fn serve_http_as(
        &self,
        addr: SocketAddr,
        use_tls: bool,
        token: &str,
    ) -> Result<Endpoint, FakeError> {
        let dir = std::env::temp_dir().join(format!("apiserver-fake-{}", uuid::Uuid::new_v4()));
        self.temp_dirs.lock().expect("lock").push(dir.clone());
        self.serve(addr, use_tls, &dir.join("kubeconfig"), Some(token))
            .await
    }

    /// Serve on `addr` (e.g. `127.0.0.1:0`) over HTTP or HTTPS and write a kubeconfig
    /// into a fresh temporary directory.
    pub async fn serve_http(&self, addr: SocketAddr, use_tls: bool) -> Result<Endpoint, FakeError> {
        let dir = std::env::temp_dir().join(format!("apiserver-fake-{}", uuid::Uuid::new_v4()));
        self.temp_dirs.lock().expect("lock").push(dir.clone());
        self.serve_http_with_kubeconfig(addr, use_tls, &dir.join("kubeconfig"))
            .await
    }

    /// Like `serve_http`, writing the kubeconfig to `kubeconfig_path`.
    pub async fn serve_http_with_kubeconfig(
        &self,
        addr: SocketAddr,
        use_tls: bool,
        kubeconfig_path: &Path,
    ) -> Result<Endpoint, FakeError> {
        let admin = self.state.token.clone();
        self.serve(addr, use_tls, kubeconfig_path, admin.as_deref())
            .await
    }

    async fn serve(
        &self,
        addr: SocketAddr,
        use_tls: bool,
        kubeconfig_path: &Path,
        token: Option<&str>,
    ) -> Result<Endpoint, FakeError> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let tls = if use_tls {
            Some(tls::generate()?)
        } else {
            None
        };
        let scheme = if use_tls { "https" } else { "http" };
        let url = format!("{scheme}://{local}");
        *self.state.server_addr.lock().expect("lock") = local.to_string();
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        kubeconfig::write(
            kubeconfig_path,
            &kubeconfig::render(&url, ca_pem.as_deref(), token),
        )?;
        let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.server_config));
        let task = tokio::spawn(accept_loop(
            listener,
            acceptor,
            self.service(),
            self.state.faults.clone(),
            self.shutdown.clone(),
        ));
        self.tasks.lock().expect("lock").push(task);
        Ok(Endpoint {
            url,
            addr: local,
            kubeconfig: kubeconfig_path.to_path_buf(),
            ca_pem,
        })
    }

    /// Stop listeners, controllers and open connections.
    pub fn shutdown(&self) {
        self.shutdown.notify_waiters();
        for t in self.tasks.lock().expect("lock").drain(..) {
            t.abort();
        }
        self.state.cluster.store.close_watches(None, None, None);
        for d in self.temp_dirs.lock().expect("lock").drain(..) {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    service: FakeService,
    faults: Faults,
    shutdown: Arc<Notify>,
) {
    let mut conns: JoinSet<()> = JoinSet::new();
    let mut refusals = faults.refusals();
    loop {
        while conns.try_join_next().is_some() {}
        tokio::select! {
            _ = shutdown.notified() => {
                conns.abort_all();
                return;
            }
            changed = refusals.changed() => {
                if changed.is_err() {
                    return;
                }
                let until = *refusals.borrow_and_update();
                if until.is_some() {
                    // Simulated restart: every open connection ends at once, and connections
                    // made until the window ends are closed as soon as they are accepted. The
                    // port stays bound: released, it could be taken by another server of the
                    // same test run, and the "restarted" fake could never come back.
                    conns.abort_all();
                }
            }
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                if faults.refuse_now() {
                    drop(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let svc = TowerToHyperService::new(service.clone());
                let acceptor = acceptor.clone();
                conns.spawn(async move {
                    let builder = auto::Builder::new(TokioExecutor::new());
                    match acceptor {
                        Some(a) => {
                            if let Ok(tls) = a.accept(stream).await {
                                let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
                            }
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                });
            }
        }
    }
}
