//! The fault matrix, the operator itself: the `stagesync` binary killed with SIGKILL in the
//! middle of the first sync of 1,000 ExternalSecrets and started again (nothing lost, no Secret
//! written twice — counted by the API server fake — and no opted-in workload rolled), and the
//! leader of two replicas killed (the standby takes over within the lease duration; a rotation
//! rolls its workload exactly once whoever leads). Both run at the same time, each on its own
//! fake; the figures go to `docs/reliability.md`.
//!
//! Needs the API server fake's request counters: skipped on a real cluster.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde_json::json;
use stagesync::restart::workload::Kind;
use support::fault_matrix::*;
use support::objects::*;
use support::workloads;

/// ExternalSecrets of the SIGKILL case.
const N: usize = 1000;
/// AWS secrets they read (ten properties each).
const AWS_SECRETS: usize = 100;
/// Opted-in Deployments of the SIGKILL case, each using one of the Secrets.
const DEPLOYMENTS: usize = 20;
/// The replicas' lease duration in the leader case (production default 15 s).
const LEASE: Duration = Duration::from_secs(4);

/// A Deployment `name` opted in to restarts, reading Secret `secret` through `env`.
fn deployment(name: &str, secret: &str) -> serde_json::Value {
    workloads::workload(
        Kind::Deployment,
        name,
        json!({"stagesync.io/reload": "true"}),
        workloads::pod_template("env", secret, false),
    )
}

/// Managed Secrets of `ns`: name → (data, resourceVersion). Errors read as none.
async fn managed(
    client: &kube::Client,
    ns: &str,
) -> BTreeMap<String, (BTreeMap<String, Vec<u8>>, String)> {
    let lp = ListParams::default().labels("stagesync.io/managed=true");
    let Ok(list) = Api::<Secret>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
    else {
        return BTreeMap::new();
    };
    list.items
        .into_iter()
        .map(|s| {
            let (rv, name) = (s.resource_version().unwrap_or_default(), s.name_any());
            let data = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            (name, (data, rv))
        })
        .collect()
}

/// The operator's Secret writes in `ns` so far, counted by the fake.
fn secret_writes(faults: &apiserver_fake::Faults, ns: &str) -> u64 {
    faults.count_requests(|k| {
        is_operator(&k.user)
            && k.namespace == ns
            && k.resource == "secrets"
            && matches!(k.verb.as_str(), "create" | "update" | "patch")
    })
}

async fn sigkill_in_the_middle_of_a_sync() -> Option<Row> {
    let world = World::new("SIGKILL in the middle of a sync", "fm-kill", 0).await?;
    let client = world.cluster.client.clone();
    let ns = world.ns.clone();
    // 100 AWS secrets of ten properties, read by 1,000 ExternalSecrets.
    let names: Vec<String> = (0..AWS_SECRETS)
        .map(|i| support::unique_name(&format!("fm/kill/{i}")))
        .collect();
    let mut want = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let value: serde_json::Map<_, _> = (0..10)
            .map(|p| (format!("p{p}"), json!(format!("{i}-{p}"))))
            .collect();
        create_aws(
            &world.aws,
            name,
            &serde_json::Value::Object(value).to_string(),
        )
        .await;
    }
    stream::iter(0..N)
        .map(|i| {
            let (client, ns, key) = (client.clone(), ns.clone(), names[i / 10].clone());
            async move {
                let spec = json!({
                    "secretStoreRef": {"name": "aws"},
                    "refreshInterval": "1h",
                    "data": [{"secretKey": "v", "remoteRef": {"key": key, "property": format!("p{}", i % 10)}}],
                });
                create_es(&client, &ns, &format!("es-{i:04}"), spec).await;
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    for i in 0..N {
        want.push(Expected::one(
            &format!("es-{i:04}"),
            &format!("{}-{}", i / 10, i % 10),
        ));
    }
    for d in 0..DEPLOYMENTS {
        let secret = format!("es-{:04}", d * (N / DEPLOYMENTS));
        workloads::create(
            &client,
            &ns,
            Kind::Deployment,
            deployment(&format!("web-{d}"), &secret),
        )
        .await;
    }

    // The first operator is killed once a good part of the Secrets is written.
    let first = world.operator("fm-kill-a");
    let started = Instant::now();
    let at_kill = loop {
        let written = managed(&client, &ns).await;
        if written.len() >= N * 3 / 10 {
            break written.len();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the first sync is stuck"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    first.kill().await;
    let killed = Instant::now();
    let before = managed(&client, &ns).await;
    // The first operator's writes, as the fake counted them on arrival: one the kill cut off
    // before it took effect is counted too, so only the restarted operator's are checked below.
    let writes_first = secret_writes(&world.faults, &ns);
    let aws_first = world.aws_calls();
    let value_reads = |w: &World| {
        w.proxy
            .log()
            .iter()
            .filter(|l| {
                matches!(
                    l.operation.as_str(),
                    "GetSecretValue" | "BatchGetSecretValue"
                )
            })
            .count()
    };
    let reads_first = value_reads(&world);
    assert!(
        before.len() < N,
        "the kill came after the sync ({} Secrets)",
        before.len()
    );

    // Started again, as Kubernetes does.
    let api0 = operator_requests(&world.faults, None);
    let second = world.operator("fm-kill-b");
    let took = wait_all_ready_many(&client, &ns, &want, Duration::from_secs(240)).await;
    let after = managed(&client, &ns).await;
    let api_rate = per_second(operator_requests(&world.faults, None) - api0, took);
    let rewritten: Vec<&String> = before
        .iter()
        .filter(|(name, was)| after.get(*name) != Some(was))
        .map(|(name, _)| name)
        .collect();
    let writes_second = secret_writes(&world.faults, &ns) - writes_first;
    let missing = (N - before.len()) as u64;
    let reads_second = value_reads(&world) - reads_first;
    let mut rolled = Vec::new();
    for d in 0..DEPLOYMENTS {
        let name = format!("web-{d}");
        let obj = workloads::get(&client, &ns, Kind::Deployment, &name).await;
        if obj.metadata.generation != Some(1)
            || workloads::restart_mark(Kind::Deployment, &obj).is_some()
        {
            rolled.push(name);
        }
    }
    let restarts = second
        .metric("stagesync_workload_restarts_total{")
        .unwrap_or_default();
    println!(
        "SIGKILL: {at_kill} of {N} Secrets written when killed ({} after), restarted operator synced the rest in {:.1} s \
         ({api_rate:.1} API requests/s); Secret writes {writes_first} before the kill, {writes_second} after for {missing} missing; rewritten {rewritten:?}; value reads {reads_first} \
         then {reads_second} (AWS calls before the kill {aws_first}); Deployments rolled {rolled:?}; restarts metric {restarts}",
        before.len(),
        took.as_secs_f64()
    );
    assert!(
        rewritten.is_empty(),
        "Secrets written before the kill were written again: {rewritten:?}"
    );
    // Each Secret missing at the kill written once at most (one the first operator's last
    // requests wrote after `before` was read needs none).
    assert!(
        writes_second <= missing,
        "the restarted operator wrote {writes_second} times for {missing} missing Secrets"
    );
    assert!(rolled.is_empty(), "workloads rolled: {rolled:?}");
    assert_eq!(restarts, 0.0);
    assert!(
        reads_second <= AWS_SECRETS,
        "{reads_second} value reads after the restart"
    );
    let bound = Duration::from_secs(120);
    assert!(
        took <= bound,
        "all Ready {took:?} after the restart (bound {bound:?})"
    );
    let _ = killed;
    drop(second);
    Some(Row {
        fault: format!(
            "operator killed (SIGKILL) in the middle of the first sync of {N} ExternalSecrets, started again at once"
        ),
        duration: "a restart".into(),
        secrets: format!(
            "none lost; the ≥ {} written before the kill not written again; the restarted operator wrote only the missing ones, each once at most",
            N * 3 / 10
        ),
        ready_after: format!("≤ {} s after the restart (debug build)", bound.as_secs()),
        rate: format!(
            "after the restart: ≤ {AWS_SECRETS} value reads (one per AWS secret at most); {DEPLOYMENTS} opted-in Deployments: none rolled"
        ),
        reported: "— (nothing failed)".into(),
    })
}

/// Like [`wait_all_ready`], checking every second (1,000 objects a listing).
async fn wait_all_ready_many(
    client: &kube::Client,
    ns: &str,
    want: &[Expected],
    timeout: Duration,
) -> Duration {
    let started = Instant::now();
    while !all_ready(client, ns, want).await {
        assert!(
            started.elapsed() < timeout,
            "{ns}: not all {} Ready within {timeout:?}",
            want.len()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    started.elapsed()
}

async fn leader_killed() -> Option<Row> {
    let mut world = World::new("leader killed", "fm-leader", 3).await?;
    world.args.extend([
        "--leader-elect-lease-duration".into(),
        format!("{}s", LEASE.as_secs()),
    ]);
    let client = world.cluster.client.clone();
    let ns = world.ns.clone();
    workloads::create(&client, &ns, Kind::Deployment, deployment("web", "es-0")).await;
    let a = world.operator("fm-leader-a");
    a.wait_leading(true, WAIT).await;
    let b = world.operator("fm-leader-b");
    b.wait_ready(WAIT).await;
    b.wait_leading(false, WAIT).await;
    wait_all_ready(&client, &ns, &world.steady(), WAIT).await;
    workloads::wait_recorded(&client, &ns, Kind::Deployment, "web", &["es-0"]).await;
    let generation = |c: kube::Client, ns: String| async move {
        workloads::generation(&c, &ns, Kind::Deployment, "web").await
    };
    assert_eq!(generation(client.clone(), ns.clone()).await, 1);

    // A rotation, rolled by the leader.
    put_current(&world.aws, &world.names[0], "rotated-1").await;
    wait_data(&client, &ns, "es-0", &[("v", "rotated-1")]).await;
    support::cluster::eventually(WAIT, "web rolled once", || async {
        (generation(client.clone(), ns.clone()).await == 2).then_some(())
    })
    .await;
    let writes0 = secret_writes(&world.faults, &ns);

    // The leader dies without a word; the standby takes over.
    a.kill().await;
    let killed = Instant::now();
    b.wait_leading(true, LEASE * 3).await;
    let takeover = killed.elapsed();
    let took_over_ready = wait_all_ready(
        &client,
        &ns,
        &{
            let mut w = world.steady();
            w[0] = Expected::one("es-0", "rotated-1");
            w
        },
        WAIT,
    )
    .await;
    // A rotation after the takeover rolls once more: had the new leader rolled on taking over,
    // the generation would be one higher.
    put_current(&world.aws, &world.names[0], "rotated-2").await;
    wait_data(&client, &ns, "es-0", &[("v", "rotated-2")]).await;
    workloads::wait_recorded(&client, &ns, Kind::Deployment, "web", &["es-0"]).await;
    let final_generation = generation(client.clone(), ns.clone()).await;
    let writes = secret_writes(&world.faults, &ns) - writes0;
    println!(
        "leader killed: standby leading {:.1} s after (lease {} s), ExternalSecrets Ready {:.1} s after that; \
         Deployment generation {final_generation} after 2 rotations; Secret writes after the takeover {writes}",
        takeover.as_secs_f64(),
        LEASE.as_secs(),
        took_over_ready.as_secs_f64()
    );
    assert!(
        takeover <= LEASE + Duration::from_secs(3),
        "takeover after {takeover:?}"
    );
    assert_eq!(
        final_generation, 3,
        "one rollout per rotation, none on the takeover"
    );
    assert_eq!(writes, 1, "the new leader wrote only the rotated Secret");
    Some(Row {
        fault: "leader killed (SIGKILL), two replicas".into(),
        duration: format!("until the lease ({} s) lapses", LEASE.as_secs()),
        secrets: "intact; the new leader wrote only the Secret rotated after the takeover".into(),
        ready_after: format!("standby leading ≤ lease + 3 s ({} s)", (LEASE + Duration::from_secs(3)).as_secs()),
        rate: "one rollout per rotation (2 rotations, Deployment generation 1 → 3): none on the takeover".into(),
        reported: "— (nothing failed)".into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_killed_mid_sync_or_as_leader_loses_nothing_and_rolls_nothing_twice() {
    // One after the other: the takeover is timed against the lease, and the 1,000-Secret sync
    // beside it would share the fake's two workers.
    let killed = sigkill_in_the_middle_of_a_sync().await;
    let leader = leader_killed().await;
    let (Some(killed), Some(leader)) = (killed, leader) else {
        return; // skipped (printed why)
    };
    support::docs::check_block(
        "docs/reliability.md",
        "fault-matrix-process",
        &render(&[killed, leader]),
    );
}
