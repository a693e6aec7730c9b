//! Leader election with real `stagesync` processes against the cluster harness: exactly one
//! replica reconciles, a standby takes over within the lease duration when the leader is killed
//! with SIGKILL, and a graceful stop releases the lease at once.

mod support;

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::json;
use support::cluster::{TestCluster, eventually};
use support::moto::moto;
use support::objects::*;
use support::unique_name;

/// Lease duration of the test (short so the test is quick; production default 15s).
const LEASE: Duration = Duration::from_secs(4);

struct Replica {
    child: tokio::process::Child,
    port: u16,
}

impl Replica {
    fn start(cluster: &TestCluster, ns: &str, name: &str) -> Self {
        let port = support::free_port();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_stagesync"));
        cmd.arg("run")
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .args(["--namespace", ns, "--leader-elect-namespace", ns])
            .args([
                "--leader-elect-lease-duration",
                &format!("{}s", LEASE.as_secs()),
            ])
            .args(["--sts-endpoint", &moto().endpoint])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .env("POD_NAME", name)
            .env(
                "RUST_LOG",
                std::env::var("LEADER_TEST_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::null())
            .kill_on_drop(true);
        if std::env::var("LEADER_TEST_LOG").is_ok() {
            cmd.stderr(Stdio::inherit());
        } else {
            support::leak::log_to_scanned_file(
                &mut cmd,
                &format!("replica {name} (tests/leader.rs)"),
            );
        }
        let child = cmd.spawn().expect("stagesync starts");
        Self { child, port }
    }

    fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some((body.get(9..12)?.parse().ok()?, body))
    }

    /// The value of a metric line starting with `prefix`, summed over its label sets.
    fn metric(&self, prefix: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics")?;
        Some(
            body.lines()
                .filter(|l| l.starts_with(prefix))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum(),
        )
    }

    async fn wait_role(&self, leading: bool) {
        let want = if leading { 1.0 } else { 0.0 };
        eventually(WAIT, &format!("stagesync_leader {want}"), || async {
            (self.metric("stagesync_leader ") == Some(want)).then_some(())
        })
        .await;
    }

    fn syncs(&self) -> f64 {
        self.metric("stagesync_syncs_total{").unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(sent.success());
    }
}

async fn holder(cluster: &TestCluster, ns: &str) -> Option<String> {
    Api::<Lease>::namespaced(cluster.client.clone(), ns)
        .get_opt("stagesync")
        .await
        .unwrap()?
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

#[tokio::test]
async fn one_replica_leads_a_standby_takes_over_and_a_graceful_stop_releases_the_lease() {
    let aws = moto().admin_client().await;
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace("leader").await;
    create_store(&cluster.client, &ns, &moto().endpoint).await;
    let key = unique_name("leader/db");
    create_aws(&aws, &key, "one").await;
    create_es(
        &cluster.client,
        &ns,
        "db",
        json!({
            "secretStoreRef": {"name": "aws"},
            "refreshInterval": "1s",
            "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
        }),
    )
    .await;

    let mut a = Replica::start(&cluster, &ns, "replica-a");
    a.wait_role(true).await;
    assert_eq!(holder(&cluster, &ns).await.as_deref(), Some("replica-a"));
    let b = Replica::start(&cluster, &ns, "replica-b");
    // A standby becomes ready (it can take over at any moment) without leading; its leader
    // gauge is 0 from the start, so readiness is what says it joined the election.
    eventually(WAIT, "the standby ready", || async {
        (b.get("/readyz").map(|r| r.0) == Some(200)).then_some(())
    })
    .await;
    b.wait_role(false).await;
    assert_eq!(holder(&cluster, &ns).await.as_deref(), Some("replica-a"));
    wait_data(&cluster.client, &ns, "db", &[("v", "one")]).await;
    put_current(&aws, &key, "two").await;
    wait_data(&cluster.client, &ns, "db", &[("v", "two")]).await;
    assert!(a.syncs() > 0.0);
    assert_eq!(b.syncs(), 0.0, "the standby reconciled");

    // The leader dies without a word.
    a.signal("-KILL");
    let _ = a.child.wait().await;
    let killed = Instant::now();
    b.wait_role(true).await;
    let took = killed.elapsed();
    assert!(
        took <= LEASE + Duration::from_secs(3),
        "the standby took over after {took:?} (lease {LEASE:?})"
    );
    put_current(&aws, &key, "three").await;
    wait_data(&cluster.client, &ns, "db", &[("v", "three")]).await;
    assert!(b.syncs() > 0.0);

    // A graceful stop releases the lease at once.
    let mut b = b;
    let c = Replica::start(&cluster, &ns, "replica-c");
    eventually(WAIT, "the new standby ready", || async {
        (c.get("/readyz").map(|r| r.0) == Some(200)).then_some(())
    })
    .await;
    c.wait_role(false).await;
    b.signal("-TERM");
    let status = tokio::time::timeout(Duration::from_secs(15), b.child.wait())
        .await
        .expect("stops within 15s")
        .unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    let after_stop = holder(&cluster, &ns).await;
    assert!(
        after_stop.is_none() || after_stop.as_deref() == Some("replica-c"),
        "the lease still names the stopped leader: {after_stop:?}"
    );
    c.wait_role(true).await;
}
