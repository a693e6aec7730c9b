//! What the benchmarks share: moto reset and filled, and an operator under test — the API server
//! fake in this process, a counting proxy in front of moto, the release `stagesync` binary as a
//! process with its `/metrics` — plus a few figures helpers. Included by each bench with
//! `#[path = "common/mod.rs"] mod common;` (next to `mod support;`).
#![allow(dead_code)] // each bench uses a different subset

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ListParams};
use stagesync::api::externalsecret::ExternalSecret;

use crate::support;
use crate::support::aws_proxy::AwsProxy;
use crate::support::cluster::TestCluster;
use crate::support::moto::moto;
use crate::support::objects::{aws_provider, create_credentials, create_store_with};

/// Set to a file path to keep the operator's log there (`RUST_LOG` as set, `info` otherwise);
/// by default the operator logs warnings to nowhere.
pub const LOG_ENV: &str = "STAGESYNC_BENCH_OPERATOR_LOG";

/// One plain HTTP/1.0 request to a loopback `base` URL; returns the whole response.
pub fn http(method: &str, base: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Empties moto (every secret of every region).
pub fn reset_moto() {
    let answer = http("POST", &moto().endpoint, "/moto-api/reset");
    assert!(
        answer.starts_with("HTTP/1.") && answer.contains(" 200 "),
        "moto reset failed"
    );
}

/// Creates `n` secrets named `bench/<i>`; returns their names.
pub async fn fill_aws(aws: &aws_sdk_secretsmanager::Client, n: usize) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("bench/{i:05}")).collect();
    stream::iter(names.clone())
        .map(|name| async move {
            // moto answers a 500 now and then under load: try again.
            for attempt in 1.. {
                let created = aws
                    .create_secret()
                    .name(&name)
                    .secret_string(format!("{{\"password\":\"initial-{name}\"}}"))
                    .send()
                    .await;
                match created {
                    Ok(_) => break,
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_resource_exists_exception()) =>
                    {
                        break;
                    }
                    Err(e) if attempt >= 5 => panic!("create secret {name}: {e:?}"),
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    names
}

/// The operator under test: a fresh cluster with a namespace `bench-…` holding the AWS
/// credentials and a SecretStore `aws` on the proxy, and the release binary watching that
/// namespace. AWS is as the caller left it (see [`reset_moto`]).
pub struct Operator {
    pub cluster: TestCluster,
    pub client: Client,
    pub ns: String,
    pub proxy: AwsProxy,
    pub process: tokio::process::Child,
    pub metrics_port: u16,
}

impl Operator {
    /// Starts it all; `args` are added to `stagesync run`'s own (`--kubeconfig`, `--namespace`,
    /// `--sts-endpoint`, `--metrics-addr`).
    pub async fn start(args: &[&str]) -> Self {
        let proxy = AwsProxy::start(&moto().endpoint);
        let cluster = TestCluster::start().await;
        let client = cluster.client.clone();
        let ns = cluster.namespace("bench").await;
        create_credentials(&client, &ns).await;
        create_store_with(&client, &ns, "aws", aws_provider(&proxy.endpoint, None)).await;
        let metrics_port = support::free_port();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_stagesync"));
        cmd.arg("run")
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .args(["--namespace", &ns])
            .args(["--sts-endpoint", &proxy.endpoint])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(args)
            .stdout(Stdio::null())
            .kill_on_drop(true);
        match std::env::var_os(LOG_ENV) {
            Some(path) => {
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .expect("open the operator log");
                cmd.env(
                    "RUST_LOG",
                    std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
                )
                .stderr(log);
            }
            None => {
                cmd.env("RUST_LOG", "warn").stderr(Stdio::null());
            }
        }
        let process = cmd.spawn().expect("stagesync starts");
        Self {
            cluster,
            client,
            ns,
            proxy,
            process,
            metrics_port,
        }
    }

    /// Waits until `n` Secrets are written and `n` ExternalSecrets are Ready.
    pub async fn wait_synced(&self, n: usize, timeout: Duration) -> Option<Duration> {
        let started = Instant::now();
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.ns);
        let ess: Api<ExternalSecret> = Api::namespaced(self.client.clone(), &self.ns);
        let lp = ListParams::default().labels("stagesync.io/managed=true");
        let poll = if n > 2_000 {
            Duration::from_millis(1000)
        } else {
            Duration::from_millis(100)
        };
        while started.elapsed() < timeout {
            let written = secrets.list_metadata(&lp).await.map(|l| l.items.len());
            if written.is_ok_and(|w| w >= n) {
                let ready = ess
                    .list(&ListParams::default())
                    .await
                    .map(|l| {
                        l.items
                            .iter()
                            .filter(|es| {
                                es.status.as_ref().is_some_and(|s| {
                                    s.conditions.iter().any(|c| {
                                        c.type_ == "Ready"
                                            && c.reason.as_deref() == Some("SecretSynced")
                                    })
                                })
                            })
                            .count()
                    })
                    .unwrap_or(0);
                if ready >= n {
                    return Some(started.elapsed());
                }
            }
            tokio::time::sleep(poll).await;
        }
        None
    }

    /// Secrets Manager calls counted on the wire, by operation.
    pub fn wire(&self) -> BTreeMap<String, u64> {
        self.proxy
            .counts()
            .into_iter()
            .filter(|(op, _)| !op.starts_with("sts:"))
            .collect()
    }

    /// The operator's `/metrics` page.
    pub async fn metrics(&self) -> String {
        let base = format!("http://127.0.0.1:{}", self.metrics_port);
        tokio::task::spawn_blocking(move || http("GET", &base, "/metrics"))
            .await
            .unwrap()
    }

    /// Peak resident memory of the operator process, in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let pid = self.process.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib: f64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }

    pub async fn stop(mut self) {
        let _ = self.process.kill().await;
        drop(self.cluster);
    }
}

/// The samples of metric `name` in a `/metrics` page: (the labels between the braces, or empty,
/// value).
pub fn samples<'a>(text: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(r) => r.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            let value = value.split_whitespace().next()?.parse().ok()?;
            Some((labels, value))
        })
        .collect()
}

/// The value of label `label` in a sample's labels (`a="x",b="y"`).
pub fn label<'a>(labels: &'a str, label: &str) -> Option<&'a str> {
    labels
        .split(&format!("{label}=\""))
        .nth(1)
        .and_then(|r| r.split('"').next())
}

/// The `p` quantile (0..=1) of sorted durations, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
