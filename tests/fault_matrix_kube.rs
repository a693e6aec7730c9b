//! The fault matrix, Kubernetes side: the `stagesync` binary as a process (the chart's
//! ServiceAccount, leader election on) against the API server fake, whose fault injection
//! drops watch streams, answers resumed watches `410 Gone`, refuses Secret writes with `409
//! Conflict`, refuses every connection for 30 s (a restart) and answers `429` with
//! `Retry-After`. For every fault: the managed Secrets stay byte-identical (or are updated
//! correctly), every ExternalSecret is Ready again within a bound after the fault, the
//! operator's requests to the API server and to AWS stay under a bound during it, and where the
//! fault reaches an ExternalSecret its condition and a Warning event name it. Each fault has its
//! own fake and operator, and they run at the same time; the figures go to
//! `docs/reliability.md`.
//!
//! Needs the API server fake's fault injection: skipped on a real cluster.

mod support;

use std::time::{Duration, Instant};

use apiserver_fake::FaultRule;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use support::fault_matrix::*;
use support::objects::*;

/// ExternalSecrets synced before each fault.
const STEADY: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// Every watch of the operator ends after this many events (bookmarks count).
    WatchDrops(usize),
    /// Every open watch ends and the resourceVersions seen so far expire: resuming is answered
    /// `410 Gone` (a watch cache reset, a compaction).
    Gone,
    /// The operator's Secret writes in the namespace are answered `409 Conflict`.
    WriteConflicts,
    /// Every connection is refused (the API server restarting).
    Refused,
    /// The operator's requests in the namespace are answered `429` with this `Retry-After`.
    TooManyRequests(u64),
}

#[derive(Clone, Debug)]
struct Case {
    label: &'static str,
    fault: Fault,
    duration: Duration,
    /// The operator's API requests per second during the fault (all of them, watches and
    /// leader election included; for a refusal, the connections refused), at most.
    api_bound: f64,
    /// AWS calls per second during the fault, at most (the version tracker keeps checking).
    aws_bound: f64,
    /// Every ExternalSecret Ready again this long after the fault, at most.
    ready_bound: Duration,
    /// Whether a rotation and a new ExternalSecret are synced while the fault lasts.
    keeps_syncing: bool,
    /// The Ready reason (and what its message says) of an ExternalSecret whose sync the fault
    /// makes fail; `None`: nothing fails.
    fails: Option<(&'static str, &'static str)>,
    /// What the table says when nothing fails, or about the requests.
    note: &'static str,
}

fn cases() -> Vec<Case> {
    let case = |label, fault, secs, api_bound, note| Case {
        label,
        fault,
        duration: Duration::from_secs(secs),
        api_bound,
        aws_bound: 2.0,
        ready_bound: Duration::from_secs(30),
        keeps_syncing: false,
        fails: None,
        note,
    };
    vec![
        Case {
            keeps_syncing: true,
            ..case(
                "watch streams dropped every 2 events (bookmarks count)",
                Fault::WatchDrops(2),
                20,
                5.0,
                "— nothing fails: each watch resumes from its last resourceVersion",
            )
        },
        Case {
            keeps_syncing: true,
            ..case(
                "`410 Gone` on resume: every watch dropped and its resourceVersion expired",
                Fault::Gone,
                20,
                20.0,
                "— nothing fails: each watcher relists once (≤ 15 lists in all) and watches again; one watch failing holds back no other trigger",
            )
        },
        Case {
            fails: Some(("SecretWriteFailed", "Conflict (409)")),
            ..case(
                "`409 Conflict` on every Secret write",
                Fault::WriteConflicts,
                15,
                10.0,
                "Secret writes retried with backoff (requests decaying: 2nd half ≤ 1st)",
            )
        },
        Case {
            ready_bound: Duration::from_secs(45),
            ..case(
                "API server refusing every connection (a restart)",
                Fault::Refused,
                30,
                10.0,
                "— nothing can be reported while the API server is down (the log says it); the operator keeps running and its lease",
            )
        },
        case(
            "`429 Too Many Requests`, `Retry-After: 2`, on all the operator's requests in the namespace",
            Fault::TooManyRequests(2),
            15,
            3.0,
            "— nothing fails: the client waits `Retry-After` and retries",
        ),
    ]
}

/// The cases whose label contains `STAGESYNC_FAULT_CASES` (all when unset); the document
/// is checked only when all ran.
fn selected(all: Vec<Case>) -> Vec<Case> {
    match std::env::var("STAGESYNC_FAULT_CASES") {
        Ok(only) => all
            .into_iter()
            .filter(|c| c.label.contains(&only))
            .collect(),
        Err(_) => all,
    }
}

/// What a case measured.
struct Measured {
    row: Row,
    problems: Vec<String>,
}

fn rule(user: &str) -> FaultRule {
    FaultRule {
        user: Some(user.to_owned()),
        ..Default::default()
    }
}

fn begin(world: &World, fault: Fault, user: &str) {
    let faults = &world.faults;
    match fault {
        Fault::WatchDrops(n) => {
            faults.add(FaultRule {
                verb: Some("watch".into()),
                drop_watch_after_events: Some(n),
                ..rule(user)
            });
            faults.end_watches();
        }
        Fault::Gone => world
            .cluster
            .fake()
            .expect("the fake")
            .cluster()
            .store
            .expire_watches(),
        Fault::WriteConflicts => faults.add(FaultRule {
            verb: Some("patch".into()),
            resource: Some("secrets".into()),
            namespace: Some(world.ns.clone()),
            status: Some(409),
            ..rule(user)
        }),
        Fault::Refused => faults.refuse_connections(Duration::from_secs(30)),
        Fault::TooManyRequests(seconds) => faults.add(FaultRule {
            namespace: Some(world.ns.clone()),
            status: Some(429),
            retry_after_seconds: Some(seconds),
            ..rule(user)
        }),
    }
}

/// Ends the fault (a refusal window ends by itself).
async fn end(world: &World, fault: Fault, until: Instant) {
    if fault == Fault::Refused {
        tokio::time::sleep_until(until.into()).await;
        while world.faults.refusing_until().is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    world.faults.clear();
}

async fn run(case: Case, index: usize) -> Option<Measured> {
    let label = case.label;
    let test = format!("kubernetes fault matrix: {label}");
    let world = World::new(&test, &format!("fm-kube-{index}"), STEADY).await?;
    let client = world.cluster.client.clone();
    let ns = world.ns.clone();
    let mut operator = world.operator(&format!("fm-kube-{index}"));
    wait_all_ready(&client, &ns, &world.steady(), Duration::from_secs(60)).await;
    let names = world.es_names();
    let before = snapshot(&client, &ns, &names).await.unwrap();
    let probe_key = support::unique_name(&format!("fm/kube/{index}/probe"));
    create_aws(&world.aws, &probe_key, "probe").await;
    // The API server refuses everyone, this test too: the new ExternalSecret comes before.
    let refused = case.fault == Fault::Refused;
    if refused {
        create_es(&client, &ns, "probe", reads(&probe_key)).await;
    }
    let user = world.operator_user();

    let started = Instant::now();
    let until = started + case.duration;
    let api0 = operator_requests(&world.faults, None);
    let refused0 = world.faults.refused_connections();
    let aws0 = world.aws_calls();
    let counts0 = world.faults.requests();
    begin(&world, case.fault, &user);
    put_current(&world.aws, &world.names[0], "rotated").await;
    if !refused {
        create_es(&client, &ns, "probe", reads(&probe_key)).await;
    }

    // During the fault nothing is lost or half-written: each Secret holds exactly what it held
    // or exactly its new data.
    let mut synced_during = (false, false);
    let mut condition = None;
    let mut first_half = None;
    let requests = |w: &World| {
        if refused {
            w.faults.refused_connections() - refused0
        } else {
            operator_requests(&w.faults, None) - api0
        }
    };
    while Instant::now() < until {
        if first_half.is_none() && Instant::now() >= started + case.duration / 2 {
            first_half = Some(requests(&world));
        }
        // While the API server refuses everyone there is nothing to look at (and the test's
        // own attempts would be counted with the operator's).
        if refused {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        check_during(&client, &ns, &names, &before, label, &mut synced_during).await;
        if condition.is_none()
            && let Some((status, reason, message)) = ready(&client, &ns, "es-0").await
            && status == "False"
        {
            condition = Some((reason, message));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    end(&world, case.fault, until).await;
    let ended = Instant::now();
    let during = ended - started;
    let counted = requests(&world);
    let first_half = first_half.unwrap_or(0);
    let second_half = counted - first_half;
    let aws_during = world.aws_calls() - aws0;
    let breakdown = request_breakdown_all(&counts0, &world.faults.requests());
    let lists: u64 = breakdown
        .iter()
        .filter(|(k, _)| k.starts_with("list "))
        .map(|(_, n)| n)
        .sum();

    // A leader that could not renew its lease stops (Kubernetes would start it again).
    let exited = operator.exited();
    if exited.is_some() {
        operator = world.operator(&format!("fm-kube-{index}-again"));
    }

    let mut want = world.steady();
    want[0] = Expected::one("es-0", "rotated");
    want.push(Expected::one("probe", "probe"));
    let took = wait_all_ready(&client, &ns, &want, Duration::from_secs(90)).await;
    let after = snapshot(&client, &ns, &names).await.unwrap();
    for name in &names[1..] {
        assert!(
            same(&before, &after, name),
            "{label}: Secret {name} rewritten"
        );
    }

    let rate = per_second(counted, during);
    let aws_rate = per_second(aws_during, during);
    println!(
        "{label}: {:.0} s; {} {counted} ({rate:.2}/s; halves {first_half} then {second_half}); AWS calls {aws_during} \
         ({aws_rate:.2}/s); synced during the fault (rotated, new): {synced_during:?}; Ready again {:.1} s after; \
         es-0 condition during: {condition:?}; operator exited: {exited:?}\n  {breakdown:?}",
        during.as_secs_f64(),
        if refused {
            "refused connections"
        } else {
            "API requests"
        },
        took.as_secs_f64()
    );
    let mut problems = Vec::new();
    let mut fail = |p: String| problems.push(p);
    if rate > case.api_bound {
        fail(format!("{rate:.2} requests/s (bound {})", case.api_bound));
    }
    if aws_rate > case.aws_bound {
        fail(format!(
            "{aws_rate:.2} AWS calls/s (bound {})",
            case.aws_bound
        ));
    }
    if took > case.ready_bound {
        fail(format!(
            "Ready again {took:?} after the fault (bound {:?})",
            case.ready_bound
        ));
    }
    if exited.is_some() {
        fail(format!("the operator exited during the fault: {exited:?}"));
    }
    if case.keeps_syncing && synced_during != (true, true) {
        fail(format!(
            "not kept syncing during the fault: {synced_during:?}"
        ));
    }
    if !case.keeps_syncing && synced_during != (false, false) {
        fail(format!(
            "a Secret written during the fault: {synced_during:?}"
        ));
    }
    if case.fault == Fault::Gone && lists > 15 {
        fail(format!("{lists} lists after the expiry"));
    }
    if matches!(case.fault, Fault::WriteConflicts | Fault::Refused) && second_half > first_half {
        fail(format!(
            "requests did not decay ({first_half} then {second_half})"
        ));
    }
    match (case.fails, &condition) {
        (Some((reason, says)), Some((r, message))) if r == reason && message.contains(says) => {
            let events = warnings(&client, &ns, "es-0", reason).await;
            if !events.iter().any(|n| n.contains(says)) {
                fail(format!("no {reason} event saying {says:?}: {events:?}"));
            }
        }
        (None, None) => {}
        (want, got) => fail(format!(
            "Ready condition during the fault {got:?}, wanted {want:?}"
        )),
    }
    drop(operator);

    let secrets = if case.keeps_syncing {
        "byte-identical; a rotation and a new ExternalSecret synced during the fault"
    } else {
        "byte-identical, nothing written during the fault; a rotation and a new ExternalSecret synced after"
    };
    let requests_cell = if refused {
        format!(
            "connections tried {} (decaying: 2nd half ≤ 1st), AWS {}",
            rate_bound(case.api_bound),
            rate_bound(case.aws_bound)
        )
    } else {
        format!(
            "API server {} (all the operator's requests), AWS {}",
            rate_bound(case.api_bound),
            rate_bound(case.aws_bound)
        )
    };
    let (requests_cell, reported) = match case.fails {
        Some((reason, says)) => (
            format!("{requests_cell}; {}", case.note),
            format!("`{reason}` (\"{says}\"); Warning event `{reason}`"),
        ),
        None => (requests_cell, case.note.to_owned()),
    };
    Some(Measured {
        row: Row {
            fault: label.to_owned(),
            duration: format!("{} s", case.duration.as_secs()),
            secrets: secrets.to_owned(),
            ready_after: format!("≤ {} s", case.ready_bound.as_secs()),
            rate: requests_cell,
            reported,
        },
        problems,
    })
}

/// One look at the cluster during a fault: every Secret but `es-0` as it was, `es-0` as it was
/// or exactly rotated, the probe's absent or exactly written (noted in `synced`).
async fn check_during(
    client: &kube::Client,
    ns: &str,
    names: &[String],
    before: &Snapshot,
    label: &str,
    synced: &mut (bool, bool),
) {
    if let Some(now) = snapshot(client, ns, names).await {
        for name in &names[1..] {
            assert!(
                same(before, &now, name),
                "{label}: Secret {name} changed during the fault"
            );
        }
        if !same(before, &now, &names[0]) {
            let data = &now.get(&names[0]).expect("Secret es-0 deleted").0;
            assert_eq!(data.get("v").map(Vec::as_slice), Some(&b"rotated"[..]));
            synced.0 = true;
        }
    }
    if let Ok(Some(probe)) = Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt("probe")
        .await
    {
        let value = probe.data.unwrap_or_default().remove("v").map(|v| v.0);
        assert_eq!(
            value.as_deref(),
            Some(&b"probe"[..]),
            "{label}: probe half-written"
        );
        synced.1 = true;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_faults_never_cost_a_secret_and_the_operator_recovers() {
    let measured = futures::future::join_all(
        selected(cases())
            .into_iter()
            .enumerate()
            .map(|(i, c)| run(c, i)),
    )
    .await;
    let Some(measured) = measured.into_iter().collect::<Option<Vec<_>>>() else {
        return; // skipped (printed why)
    };
    let problems: Vec<String> = measured
        .iter()
        .flat_map(|m| m.problems.iter().map(|p| format!("{}: {p}", m.row.fault)))
        .collect();
    assert!(
        problems.is_empty(),
        "bounds not met:\n{}",
        problems.join("\n")
    );
    let rows: Vec<Row> = measured.into_iter().map(|m| m.row).collect();
    if rows.len() == cases().len() {
        support::docs::check_block("docs/reliability.md", "fault-matrix-kube", &render(&rows));
    }
}
