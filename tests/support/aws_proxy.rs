//! A small HTTP proxy in front of the test moto server, for integration tests and benchmarks that
//! need to see or bend what the AWS SDK sends: it counts requests per operation and logs each
//! one (when, who signed it, which secret, what it was answered), answers chosen Secrets Manager
//! operations with `AccessDeniedException`, serves stale `ListSecrets` answers (AWS documents
//! `ListSecrets` as eventually consistent), adds latency, and plays AWS faults
//! ([`AwsFault`]: 5xx, throttling, hung requests, bad credentials, a disabled KMS key) for
//! everyone or for one access key, and refuses connections outright (the port closed).
//!
//! It runs on its own thread with its own tokio runtime, so one proxy keeps working across
//! `#[tokio::test]` runtimes and in benchmarks; dropping the [`AwsProxy`] stops it. HTTP/1.1
//! keep-alive is supported on both sides (the SDK reuses connections).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap};
use hyper::http::request;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::runtime::Builder;
use tokio::sync::oneshot::{self, Receiver};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use super::aws_faults::AwsFault;
use super::aws_faults::{names_one_of, secrets_manager_error, sts_error, without_disabled_values};

type Reply = Response<Full<Bytes>>;
type Error = Box<dyn std::error::Error + Send + Sync>;

/// A running proxy; see the module documentation.
pub struct AwsProxy {
    /// Base URL to point clients at, e.g. `http://127.0.0.1:41235`.
    pub endpoint: String,
    proxy: Arc<Proxy>,
    /// Dropping the sender stops the proxy's thread.
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

/// What every connection shares.
struct Proxy {
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: Uri,
    state: Mutex<State>,
    /// While true the port is closed and no connection is kept.
    refusing: watch::Sender<bool>,
}

/// One request the proxy saw.
#[derive(Clone, Debug)]
pub struct Logged {
    /// When it arrived.
    pub at: Instant,
    /// The access key id that signed it.
    pub access_key: Option<String>,
    /// The operation, as [`AwsProxy::count`] names it.
    pub operation: String,
    /// The `SecretId` of the request, if it names one.
    pub secret_id: Option<String>,
    /// Every secret the request names: its `SecretId`, or a batch's `SecretIdList`.
    pub secrets: Vec<String>,
    /// The fault it was answered with (its error code, or "read timeout"), if any.
    pub fault: Option<&'static str>,
    /// The SDK's `amz-sdk-invocation-id`: the same for every attempt of one call.
    pub invocation: Option<String>,
}

/// What the proxy has seen and how it should behave.
#[derive(Default)]
struct State {
    counts: BTreeMap<String, u64>,
    denied: BTreeSet<String>,
    stale_lists: bool,
    /// Successful `ListSecrets` responses, by request body.
    lists: HashMap<Bytes, Reply>,
    /// `ListSecrets` responses recorded so far (answered by AWS, not replayed).
    lists_recorded: u64,
    latency: Duration,
    /// Access key ids that signed requests (from the SigV4 `Authorization` header).
    access_keys: BTreeSet<String>,
    /// Bodies of STS requests (form-encoded), in order.
    sts_requests: Vec<String>,
    /// Faults in effect: for the requests signed by an access key, or (`None`) for everyone.
    faults: BTreeMap<Option<String>, AwsFault>,
    /// Every request, in order.
    log: Vec<Logged>,
}

impl AwsProxy {
    /// Starts the proxy on 127.0.0.1 on a free port, forwarding to `upstream` (e.g.
    /// `moto().endpoint`). It accepts connections as soon as this returns.
    pub fn start(upstream: &str) -> AwsProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy port");
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let proxy = Arc::new(Proxy {
            client: Client::builder(TokioExecutor::new()).build_http(),
            upstream: upstream.parse().expect("upstream is a URL"),
            state: Mutex::default(),
            refusing: watch::Sender::new(false),
        });
        let (stop, stopped) = oneshot::channel();
        let shared = proxy.clone();
        let thread = std::thread::spawn(move || {
            let runtime = Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(serve(listener, shared, stopped));
        });
        AwsProxy {
            endpoint,
            proxy,
            running: Some((stop, thread)),
        }
    }

    /// Requests seen for one operation: a Secrets Manager one by its name (`"GetSecretValue"`,
    /// `"ListSecrets"`, ...), an STS one as `"sts:<Action>"`. Denied requests count too.
    pub fn count(&self, op: &str) -> u64 {
        self.state().counts.get(op).copied().unwrap_or(0)
    }

    /// Requests seen per operation.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.state().counts.clone()
    }

    /// Requests seen for all Secrets Manager operations (STS excluded).
    pub fn secrets_manager_calls(&self) -> u64 {
        let sm = |(op, n): (&String, &u64)| if op.starts_with("sts:") { 0 } else { *n };
        self.state().counts.iter().map(sm).sum()
    }

    /// The access key ids that signed the requests seen (which identity the client used).
    pub fn access_keys(&self) -> BTreeSet<String> {
        self.state().access_keys.clone()
    }

    /// The STS requests seen, as decoded form fields (`Action`, `RoleArn`, `Tags.member.1.Key`,
    /// ...), in order.
    pub fn sts_requests(&self) -> Vec<BTreeMap<String, String>> {
        self.state()
            .sts_requests
            .iter()
            .map(|body| {
                body.split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (percent_decode(k), percent_decode(v)))
                    .collect()
            })
            .collect()
    }

    /// Forgets the counts (denials, stale mode, recorded lists and latency stay).
    pub fn reset(&self) {
        self.state().counts.clear();
    }

    /// From now on answers this Secrets Manager operation with AWS's `AccessDeniedException`.
    pub fn deny(&self, op: &str) {
        self.state().denied.insert(op.to_owned());
    }

    /// Forwards this operation again after [`AwsProxy::deny`].
    pub fn allow(&self, op: &str) {
        self.state().denied.remove(op);
    }

    /// While on, a `ListSecrets` request whose body equals one answered successfully before gets
    /// that earlier response instead of being forwarded (also one already with AWS when this was
    /// switched on). Successful `ListSecrets` responses are recorded (the latest per request
    /// body) while no earlier one is served in their place.
    pub fn serve_stale_lists(&self, on: bool) {
        self.state().stale_lists = on;
    }

    /// `ListSecrets` answers from AWS recorded so far. Unlike `count("ListSecrets")`, which
    /// counts a request when it arrives, this counts it once AWS has answered it: a listing
    /// counted here is one [`AwsProxy::serve_stale_lists`] can replay, and it can no longer
    /// show a change made after this was read.
    pub fn lists_recorded(&self) -> u64 {
        self.state().lists_recorded
    }

    /// Delay added before answering every request (zero by default).
    pub fn set_latency(&self, d: Duration) {
        self.state().latency = d;
    }

    /// From now on answers the requests signed by `access_key` (`None`: every request) as
    /// `fault` says, until [`AwsProxy::heal`]. A fault for a key wins over one for everyone.
    pub fn inject(&self, access_key: Option<&str>, fault: AwsFault) {
        self.state()
            .faults
            .insert(access_key.map(str::to_owned), fault);
    }

    /// Ends the fault of `access_key` (`None`: the one for everyone); hung requests are
    /// released (answered 503, to whoever still waits).
    pub fn heal(&self, access_key: Option<&str>) {
        self.state().faults.remove(&access_key.map(str::to_owned));
    }

    /// While on, the proxy's port is closed (connections are refused) and every open
    /// connection is dropped; off, it listens on the same port again.
    pub fn refuse_connections(&self, on: bool) {
        self.proxy.refusing.send_replace(on);
        if on {
            // Returns once the port is closed.
            let address = self.endpoint.trim_start_matches("http://").to_owned();
            let deadline = Instant::now() + Duration::from_secs(5);
            while std::net::TcpStream::connect(&address).is_ok() {
                assert!(Instant::now() < deadline, "the proxy still accepts");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Every request seen so far, in order.
    pub fn log(&self) -> Vec<Logged> {
        self.state().log.clone()
    }

    /// Requests signed by `access_key` that arrived within `[from, to)`.
    pub fn requests_between(&self, access_key: &str, from: Instant, to: Instant) -> Vec<Logged> {
        self.state()
            .log
            .iter()
            .filter(|l| l.access_key.as_deref() == Some(access_key) && l.at >= from && l.at < to)
            .cloned()
            .collect()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.proxy.state.lock().unwrap()
    }
}

impl Drop for AwsProxy {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.running.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

/// Accepts connections until told to stop; dropping the runtime then ends every connection.
/// While refusing, the listener is closed and every connection dropped.
async fn serve(listener: TcpListener, proxy: Arc<Proxy>, mut stop: Receiver<()>) {
    let address = listener.local_addr().expect("bound");
    let mut listener = Some(tokio::net::TcpListener::from_std(listener).expect("tokio listener"));
    let mut refusing = proxy.refusing.subscribe();
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let refuse = *refusing.borrow_and_update();
        if refuse && listener.is_some() {
            listener = None;
            connections.abort_all();
        } else if !refuse && listener.is_none() {
            listener = Some(rebind(address).await);
        }
        let accept = async {
            match &listener {
                Some(l) => l.accept().await,
                None => std::future::pending().await,
            }
        };
        let accepted = tokio::select! {
            _ = &mut stop => return,
            _ = refusing.changed() => continue,
            accepted = accept => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let proxy = proxy.clone();
        let service = service_fn(move |req| {
            let proxy = proxy.clone();
            async move { Ok::<_, Infallible>(proxy.handle(req).await) }
        });
        connections.spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    }
}

/// Listens on `address` again after a refusal (the port is free unless another test took it in
/// the meantime, which the retries wait out for a while).
async fn rebind(address: SocketAddr) -> tokio::net::TcpListener {
    for _ in 0..100 {
        if let Ok(l) = tokio::net::TcpListener::bind(address).await {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the proxy could not listen on {address} again");
}

impl Proxy {
    async fn handle(&self, req: Request<Incoming>) -> Reply {
        let (parts, body) = req.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return plain(StatusCode::BAD_REQUEST, "could not read the request".into());
        };
        let op = operation(&parts.headers, &body);
        let listing = op.as_deref() == Some("ListSecrets");
        let sts = op.as_deref().is_some_and(|op| op.starts_with("sts:"));
        let key = access_key(&parts.headers);
        let secret_id = secret_id(&body);
        let (latency, denied, stale, fault) = {
            let mut s = self.state.lock().unwrap();
            if let Some(op) = &op {
                *s.counts.entry(op.clone()).or_default() += 1;
            }
            if let Some(key) = &key {
                s.access_keys.insert(key.clone());
            }
            if sts {
                s.sts_requests
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let denied = op.as_ref().is_some_and(|op| s.denied.contains(op));
            let stale = (listing && s.stale_lists).then(|| s.lists.get(&body).cloned());
            let fault = s.faults.get(&key).or(s.faults.get(&None)).cloned();
            let answer = fault
                .as_ref()
                .and_then(|f| fault_answer(f, op.as_deref(), secret_id.as_deref()));
            s.log.push(Logged {
                at: Instant::now(),
                access_key: key.clone(),
                operation: op.clone().unwrap_or_default(),
                secret_id: secret_id.clone(),
                secrets: secret_ids(&body),
                fault: answer,
                invocation: parts
                    .headers
                    .get("amz-sdk-invocation-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            });
            (
                s.latency,
                denied,
                stale.flatten(),
                fault.filter(|_| answer.is_some()),
            )
        };
        tokio::time::sleep(latency).await;
        match fault {
            Some(AwsFault::Error {
                status,
                code,
                sts_code,
                retry_after,
            }) => {
                return match (sts, sts_code) {
                    (true, Some(sts_code)) => sts_error(sts_code),
                    _ => secrets_manager_error(status, code, retry_after),
                };
            }
            Some(AwsFault::Hang) => {
                self.hang_while_faulted(key.as_deref()).await;
                return secrets_manager_error(503, "ServiceUnavailable", None);
            }
            Some(AwsFault::KmsDisabled(_)) => {
                return secrets_manager_error(400, "DecryptionFailure", None);
            }
            None => {}
        }
        if denied {
            return access_denied(op.as_deref().unwrap_or_default());
        }
        if let Some(recorded) = stale {
            return recorded;
        }
        let response = match self.forward(parts, body.clone()).await {
            Ok(response) => response,
            Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("proxy: {e:?}")),
        };
        if listing && response.status().is_success() {
            let mut s = self.state.lock().unwrap();
            // Stale mode switched on while this listing was with AWS: its answer may already show
            // what the test changed after switching, so the old view is served instead.
            if s.stale_lists
                && let Some(recorded) = s.lists.get(&body)
            {
                return recorded.clone();
            }
            s.lists.insert(body, response.clone());
            s.lists_recorded += 1;
        }
        if op.as_deref() == Some("BatchGetSecretValue") && response.status().is_success() {
            return self.batch_without_disabled(key.as_deref(), response).await;
        }
        response
    }

    /// Waits while the requests of `key` are to hang (at most two minutes).
    async fn hang_while_faulted(&self, key: Option<&str>) {
        let key = key.map(str::to_owned);
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let hung = {
                let s = self.state.lock().unwrap();
                let fault = s.faults.get(&key).or(s.faults.get(&None));
                fault == Some(&AwsFault::Hang)
            };
            if !hung {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A successful `BatchGetSecretValue` answer, with the values of secrets whose KMS key is
    /// disabled (for this key) moved to its errors, as AWS reports them.
    async fn batch_without_disabled(&self, key: Option<&str>, response: Reply) -> Reply {
        let disabled = {
            let s = self.state.lock().unwrap();
            match s
                .faults
                .get(&key.map(str::to_owned))
                .or(s.faults.get(&None))
            {
                Some(AwsFault::KmsDisabled(names)) => names.clone(),
                _ => return response,
            }
        };
        let (mut parts, body) = response.into_parts();
        let Ok(collected) = body.collect().await;
        let bytes = collected.to_bytes();
        let rewritten = without_disabled_values(&bytes, &disabled).unwrap_or(bytes.to_vec());
        parts.headers.remove(header::CONTENT_LENGTH);
        Response::from_parts(parts, Full::new(Bytes::from(rewritten)))
    }

    /// Sends the request upstream and reads the whole answer.
    async fn forward(&self, mut parts: request::Parts, body: Bytes) -> Result<Reply, Error> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = format!("{}{}", self.upstream, path.trim_start_matches('/')).parse()?;
        parts.headers.remove(header::HOST); // the client sets it from the upstream URL
        strip_hop_by_hop(&mut parts.headers);
        let request = Request::from_parts(parts, Full::new(body));
        let (mut parts, body) = self.client.request(request).await?.into_parts();
        let body = body.collect().await?.to_bytes();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, Full::new(body)))
    }
}

/// `secretsmanager.<Op>` in `X-Amz-Target` gives `<Op>`; an STS form body `Action=<Op>&...`
/// gives `sts:<Op>`.
fn operation(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.strip_prefix("secretsmanager.").map(str::to_owned);
    }
    let form = std::str::from_utf8(body).ok()?;
    let action = form.split('&').find_map(|kv| kv.strip_prefix("Action="))?;
    Some(format!("sts:{action}"))
}

/// The error code `fault` answers this request with, if it touches it: errors answer every
/// Secrets Manager request (and STS ones when they have an STS code), a hang holds Secrets
/// Manager requests, a disabled KMS key refuses `GetSecretValue` of its secrets.
fn fault_answer(fault: &AwsFault, op: Option<&str>, secret: Option<&str>) -> Option<&'static str> {
    let sts = op.is_some_and(|op| op.starts_with("sts:"));
    match fault {
        AwsFault::Error { sts_code: None, .. } | AwsFault::Hang if sts => None,
        AwsFault::Error { .. } | AwsFault::Hang => Some(fault.code()),
        AwsFault::KmsDisabled(names) => (op == Some("GetSecretValue")
            && secret.is_some_and(|id| names_one_of(id, names)))
        .then_some("DecryptionFailure"),
    }
}

/// The `SecretId` of a Secrets Manager JSON request.
fn secret_id(body: &[u8]) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(json.get("SecretId")?.as_str()?.to_owned())
}

/// The secrets a Secrets Manager JSON request names (`SecretId`, `SecretIdList`).
fn secret_ids(body: &[u8]) -> Vec<String> {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let one = json.get("SecretId").and_then(|v| v.as_str());
    let list = json.get("SecretIdList").and_then(|v| v.as_array());
    let listed = list.into_iter().flatten().filter_map(|v| v.as_str());
    one.into_iter().chain(listed).map(str::to_owned).collect()
}

/// Decodes `application/x-www-form-urlencoded` text.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `AKID` of a SigV4 `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/...` header.
fn access_key(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    Some(credential.split('/').next()?.to_owned())
}

/// AWS's answer to a call the identity has no permission for. The SDK takes the error code
/// from `x-amzn-errortype` first, then from the body's `__type`; both say the same here.
fn access_denied(op: &str) -> Reply {
    let message = format!(
        "User: arn:aws:iam::123456789012:user/test is not authorized to perform: \
         secretsmanager:{op} because no identity-based policy allows the secretsmanager:{op} action"
    );
    let body = serde_json::json!({"__type": "AccessDeniedException", "Message": message});
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header(header::CONTENT_TYPE, "application/x-amz-json-1.1")
        .header("x-amzn-errortype", "AccessDeniedException")
        .body(body.to_string().into())
        .unwrap()
}

fn plain(status: StatusCode, text: String) -> Reply {
    let response = Response::builder().status(status);
    response.body(text.into()).unwrap()
}

/// Headers about one connection, not the message (an upstream `connection: close` must not
/// close the client's connection); each side sets its own.
const HOP_BY_HOP: &str = "connection keep-alive te trailer transfer-encoding upgrade";

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in HOP_BY_HOP.split(' ') {
        headers.remove(name);
    }
}
