//! The real `stagesync` binary against the cluster harness over HTTPS (the fake's generated
//! kubeconfig carries its CA and a bearer token) and moto: what a platform team runs.

mod support;

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use support::cluster::{TestCluster, eventually};
use support::moto::moto;
use support::objects::*;
use support::unique_name;

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let code = body.get(9..12)?.parse().ok()?;
    Some((code, body))
}

/// Starts `stagesync run` on the cluster's kubeconfig, watching `ns`, logging JSON at trace level
/// to a file the leak scan reads (returned too).
fn spawn_operator(
    cluster: &TestCluster,
    ns: &str,
    moto_endpoint: &str,
    port: u16,
) -> (tokio::process::Child, std::path::PathBuf) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_stagesync"));
    cmd.arg("run")
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args([
            "--namespace",
            ns,
            "--log-format",
            "json",
            "--sts-endpoint",
            moto_endpoint,
        ])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .kill_on_drop(true);
    let log = support::leak::log_to_scanned_file(&mut cmd, "stagesync run (tests/binary.rs)");
    (cmd.spawn().expect("stagesync starts"), log)
}

#[tokio::test]
async fn stagesync_run_syncs_follows_a_rotation_serves_metrics_and_stops_on_sigterm() {
    let m = moto();
    let aws = m.admin_client().await;
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace("binary").await;
    create_store(&cluster.client, &ns, &m.endpoint).await;
    let key = unique_name("bin/db");
    let v1 = create_aws(&aws, &key, "binary-one").await;

    let port = support::free_port();
    let (mut child, log) = spawn_operator(&cluster, &ns, &m.endpoint, port);

    create_es(
        &cluster.client,
        &ns,
        "db",
        json!({
            "secretStoreRef": {"name": "aws"},
            "refreshInterval": "1s",
            "data": [{"secretKey": "password", "remoteRef": {"key": key}}],
        }),
    )
    .await;
    wait_data(&cluster.client, &ns, "db", &[("password", "binary-one")]).await;

    // Rotation as AWS performs it: staged AWSPENDING, then promoted.
    rotate(&aws, &key, &v1, "binary-two").await;
    wait_data(&cluster.client, &ns, "db", &[("password", "binary-two")]).await;

    let (code, _) = eventually(WAIT, "/readyz", || async { http_get(port, "/readyz") }).await;
    assert_eq!(code, 200);
    let (_, metrics) = http_get(port, "/metrics").unwrap();
    assert!(
        metrics.contains("stagesync_syncs_total{result=\"success\""),
        "{metrics}"
    );
    // What the soak benchmark follows to see leaks: the watches open on the API server (one per
    // watched kind at least), the tasks alive, and the tracker's references (one ExternalSecret
    // reading one AWS secret).
    let gauge = |text: &str, name: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    };
    assert!(
        gauge(&metrics, "stagesync_watches").is_some_and(|n| n >= 4.0),
        "{metrics}"
    );
    assert!(
        gauge(&metrics, "stagesync_runtime_tasks").is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    eventually(WAIT, "one tracked reference on /metrics", || async {
        let (_, text) = http_get(port, "/metrics")?;
        text.lines()
            .any(|l| l.starts_with("stagesync_tracked_references{") && l.ends_with("} 1"))
            .then_some(())
    })
    .await;

    let pid = child.id().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("stops within 15s")
        .unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status}");

    let logs = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        lines.iter().any(|l| l["message"] == "stagesync starting"),
        "JSON log lines: {logs}"
    );
    assert!(
        lines.iter().any(|l| l["message"] == "stagesync stopped"),
        "{logs}"
    );
    for value in ["binary-one", "binary-two"] {
        assert!(!logs.contains(value), "a secret value leaked into the logs");
    }
}

#[tokio::test]
async fn stagesync_run_keeps_the_secret_and_reports_when_aws_loses_it() {
    let m = moto();
    let aws = m.admin_client().await;
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace("binary-fail").await;
    create_store(&cluster.client, &ns, &m.endpoint).await;
    let key = unique_name("bin/lost");
    create_aws(&aws, &key, "kept-value").await;
    let (_child, _) = spawn_operator(&cluster, &ns, &m.endpoint, support::free_port());
    create_es(
        &cluster.client,
        &ns,
        "lost",
        json!({
            "secretStoreRef": store_ref(),
            "refreshInterval": "1s",
            "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
        }),
    )
    .await;
    wait_data(&cluster.client, &ns, "lost", &[("v", "kept-value")]).await;
    aws.delete_secret()
        .secret_id(&key)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let (status, message) = wait_reason(&cluster.client, &ns, "lost", "SecretNotFound").await;
    assert_eq!(status, "False");
    assert!(message.contains(&key), "{message}");
    let events = eventually(WAIT, "a SecretNotFound event", || async {
        let ev = events_about(&cluster.client, &ns, "lost").await;
        ev.iter().any(|(r, _)| r == "SecretNotFound").then_some(ev)
    })
    .await;
    assert!(events.iter().all(|(_, note)| !note.contains("kept-value")));
    let after = secret_data(&cluster.client, &ns, "lost").await.unwrap();
    assert_eq!(after["v"], "kept-value", "the Secret is kept as it was");
}

#[tokio::test]
async fn stagesync_run_refuses_a_bad_kubeconfig_with_a_clear_error() {
    let dir = std::env::temp_dir().join(unique_name("badkc"));
    std::fs::create_dir_all(&dir).unwrap();
    let kc = dir.join("kubeconfig");
    std::fs::write(&kc, "not: [a kubeconfig").unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_stagesync"))
        .arg("run")
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["--metrics-addr", "127.0.0.1:0"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Error"), "{stderr}");
}

#[tokio::test]
async fn stagesync_run_fails_at_once_when_the_metrics_port_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_stagesync"))
            .args(["run", "--metrics-addr", &addr])
            .env("KUBECONFIG", "/nonexistent")
            .output(),
    )
    .await
    .expect("exits at once")
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--metrics-addr"), "{stderr}");
}

#[tokio::test]
async fn unusable_tracking_flags_are_refused_before_anything_starts() {
    for (flag, value) in [
        ("--rotation-stuck-after", "soon"),
        ("--list-confirm-interval", "1y"),
        ("--resync-floor", "10 minutes"),
        ("--value-cache-bytes", "lots"),
    ] {
        let out = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::process::Command::new(env!("CARGO_BIN_EXE_stagesync"))
                .args(["run", flag, value, "--metrics-addr", "127.0.0.1:0"])
                .env("KUBECONFIG", "/nonexistent")
                .output(),
        )
        .await
        .expect("exits at once")
        .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: usage error");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(flag) && stderr.contains(value),
            "{flag} {value}: {stderr}"
        );
    }
}
