//! The operator as a real process: the `stagesync` binary run against a [`TestCluster`] with
//! the operator's identity (the chart's ServiceAccount on the fake), its `/metrics` and
//! `/readyz` on a loopback port, killed with SIGKILL or stopped with SIGTERM, started again as
//! Kubernetes would.
//!
//! `STAGESYNC_OPERATOR_LOG=DIR` keeps each process's log (`RUST_LOG`, default `info`) in
//! `DIR/<name>.log`; otherwise it logs warnings to nowhere.

use std::process::Stdio;
use std::time::Duration;

use super::cluster::{TestCluster, eventually};

/// Environment variable naming a directory for the operators' logs.
pub const LOG_ENV: &str = "STAGESYNC_OPERATOR_LOG";

/// A running `stagesync run`.
pub struct OperatorProcess {
    /// Its `POD_NAME` (the leader-election identity).
    pub name: String,
    /// Port of `/metrics`, `/healthz` and `/readyz`.
    pub metrics_port: u16,
    child: tokio::process::Child,
}

impl OperatorProcess {
    /// Starts `stagesync run` with the operator's kubeconfig, `POD_NAME=name`, the Lease in the
    /// chart's namespace, its metrics on a free port, and `args`.
    pub fn start(cluster: &TestCluster, name: &str, args: &[String]) -> Self {
        let metrics_port = super::free_port();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_stagesync"));
        cmd.arg("run")
            .arg("--kubeconfig")
            .arg(&cluster.operator_kubeconfig)
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(args)
            .env("POD_NAME", name)
            .env("POD_NAMESPACE", super::chart::NAMESPACE)
            .stdout(Stdio::null())
            .kill_on_drop(true);
        match std::env::var_os(LOG_ENV) {
            Some(dir) => {
                let path = std::path::Path::new(&dir).join(format!("{name}.log"));
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .expect("open the operator log");
                let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
                cmd.env("RUST_LOG", filter).stderr(log);
            }
            None => {
                cmd.env("RUST_LOG", "warn").stderr(Stdio::null());
            }
        }
        let child = cmd.spawn().expect("stagesync starts");
        Self {
            name: name.to_owned(),
            metrics_port,
            child,
        }
    }

    /// One HTTP/1.0 GET on the metrics port: (status, whole response).
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some((body.get(9..12)?.parse().ok()?, body))
    }

    /// The `/metrics` page, if it answers.
    pub fn metrics(&self) -> Option<String> {
        self.get("/metrics").map(|(_, body)| body)
    }

    /// The sum of the samples of the metric lines starting with `prefix`.
    pub fn metric(&self, prefix: &str) -> Option<f64> {
        let body = self.metrics()?;
        Some(
            body.lines()
                .filter(|l| l.starts_with(prefix))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum(),
        )
    }

    /// Waits until this replica leads (`stagesync_leader 1`) or stands by (`0`).
    pub async fn wait_leading(&self, leading: bool, timeout: Duration) {
        let want = if leading { 1.0 } else { 0.0 };
        let what = format!("{} stagesync_leader {want}", self.name);
        eventually(timeout, &what, || async {
            (self.metric("stagesync_leader ") == Some(want)).then_some(())
        })
        .await;
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self, timeout: Duration) {
        let what = format!("{} ready", self.name);
        eventually(timeout, &what, || async {
            (self.get("/readyz").map(|r| r.0) == Some(200)).then_some(())
        })
        .await;
    }

    /// Sends `signal` (`-KILL`, `-TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill {signal} {pid}");
    }

    /// SIGKILL, and waits until the process is gone.
    pub async fn kill(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait().await;
    }

    /// The exit status, if the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits (at most `timeout`) for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()?
            .ok()
    }
}
