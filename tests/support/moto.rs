//! A real `moto_server` (AWS Secrets Manager and STS emulator, from PyPI) for the tests.
//!
//! One server per test process, started on 127.0.0.1 on a free port the first time a test asks,
//! and stopped when the process ends: it runs under a small shell guard that kills it as soon as
//! the guard's stdin (a pipe held by this process) closes, which happens on any exit, panics and
//! aborts included. `tests/run.sh` installs moto into `.tools/venv`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use stagesync::provider::aws::{AwsBackend, AwsClientConfig, CredentialSource, Timeouts};
use stagesync::value::SecretBytes;

/// Region every test uses.
pub const REGION: &str = "us-east-1";

/// A running moto server.
pub struct Moto {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub endpoint: String,
    // Kept open for the life of the process; closing it stops the server.
    _guard_stdin: Mutex<ChildStdin>,
    _guard: Mutex<Child>,
}

/// The process-wide moto server, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| start_with_retries(&[]))
}

/// A second moto server that enforces IAM authentication: every request signed with
/// credentials it does not know is refused (`UnrecognizedClientException`), as AWS does.
pub fn moto_enforcing_auth() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| start_with_retries(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]))
}

fn start_with_retries(env: &[(&str, &str)]) -> Moto {
    let mut last_error = String::new();
    for _ in 0..3 {
        match start(env) {
            Ok(m) => return m,
            Err(e) => last_error = e,
        }
    }
    panic!("could not start moto_server: {last_error}");
}

fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("STAGESYNC_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = super::workspace_root().join(".tools/venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    panic!(
        "moto_server not found (looked at $STAGESYNC_MOTO_SERVER and {}): run ./tests/run.sh, \
         which installs it",
        venv.display()
    );
}

fn start(env: &[(&str, &str)]) -> Result<Moto, String> {
    let bin = moto_binary();
    let port = super::free_port();
    let script = r#"
"$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
# Returns when our parent's end of the pipe closes (the test process ended).
cat >/dev/null
"#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&bin)
        .arg(port.to_string())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", bin.display()))?;
    let stdin = child.stdin.take().expect("piped stdin");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("guard exited early: {status}"));
        }
        if ready(port) {
            return Ok(Moto {
                endpoint: format!("http://127.0.0.1:{port}"),
                _guard_stdin: Mutex::new(stdin),
                _guard: Mutex::new(child),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    Err(format!(
        "moto_server did not answer on port {port} within 30s"
    ))
}

/// Ready when moto's own API answers an HTTP request.
fn ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && buf.starts_with(b"HTTP/1.") && &buf[9..12] == b"200")
}

impl Moto {
    /// A raw SDK client, to set up secrets the way an AWS user (or a rotation Lambda) would.
    pub async fn admin_client(&self) -> aws_sdk_secretsmanager::Client {
        admin_client_at(&self.endpoint).await
    }

    /// Client settings for a store pointed at this moto with static credentials.
    pub fn store_config(&self) -> AwsClientConfig {
        let mut c = AwsClientConfig::new(
            REGION,
            CredentialSource::Static {
                access_key_id: "testing".into(),
                secret_access_key: SecretBytes::from("testing".to_owned()),
                session_token: None,
            },
        );
        c.endpoint = Some(self.endpoint.clone());
        c.sts_endpoint = Some(self.endpoint.clone());
        c.timeouts = Timeouts {
            connect: Duration::from_secs(2),
            attempt: Duration::from_secs(10),
            operation: Duration::from_secs(20),
        };
        c
    }

    /// The stagesync backend for a store pointed at this moto.
    pub async fn backend(&self) -> AwsBackend {
        AwsBackend::from_config(&self.store_config())
            .await
            .expect("backend builds")
    }
}

/// An admin client (see [`Moto::admin_client`]) for another endpoint, such as a proxy in front
/// of moto.
pub async fn admin_client_at(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_secretsmanager::Client::from_conf(conf)
}
