//! The bad-input table: manifests and AWS states that cannot work, each with the exact outcome a
//! user sees — the API server refusing the object at admission, or `Ready=False` with a specific
//! reason, a Warning event, and the Secret as it was (byte-identical when one existed, none when
//! none did) — or, where ESO's documented behaviour makes it a success, that success.
//!
//! One cluster, one moto and one operator serve every row at once (rows in the shared namespace
//! under their own names, store rows in namespaces of their own), and a canary ExternalSecret in
//! the shared namespace must follow a rotation while the bad rows sit there. The rows live in
//! `bad_input/cases.rs` (what a row is: `bad_input/rows.rs`); the table printed in
//! `docs/reliability.md` is rendered from the same rows and the outcomes observed (regenerate with
//! `STAGESYNC_UPDATE_DOCS=1 cargo test --test bad_input`). `BAD_INPUT_ROWS=id,id` runs some rows
//! only (the table is then not compared).

mod support;

#[path = "bad_input/rows.rs"]
mod rows;

#[path = "bad_input/cases.rs"]
mod cases;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use rows::{Case, Change, Ctx, Expect, World};
use serde_json::json;
use stagesync::api::externalsecret::ExternalSecret;
use support::cluster::{TestCluster, test_policy};
use support::moto::moto;
use support::objects::*;

/// How long a row may take to reach its outcome (every row runs at once).
const SETTLE: Duration = Duration::from_secs(60);

/// What a row ended with, as a user would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The API server refused the object (422) with this message (after `is invalid: `).
    Refused(String),
    /// The Ready condition: (status, reason, message).
    Ready(String, String, String),
    /// The write was answered with something else than 422.
    ApiError(String),
    /// No Ready condition for the current spec within [`SETTLE`].
    NoCondition,
}

/// The parts of a Secret a write could change.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SecretState {
    resource_version: String,
    type_: Option<String>,
    data: BTreeMap<String, Vec<u8>>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    owners: Vec<String>,
}

async fn secret_state(client: &kube::Client, ns: &str, name: &str) -> Option<SecretState> {
    let s = Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .expect("read Secret")?;
    Some(SecretState {
        resource_version: s.resource_version().unwrap_or_default(),
        type_: s.type_.clone(),
        labels: s.labels().clone(),
        annotations: s.annotations().clone(),
        owners: s
            .owner_references()
            .iter()
            .map(|o| o.name.clone())
            .collect(),
        data: s
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect(),
    })
}

/// What happened to the target Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    /// There was none and there is none.
    NotWritten,
    /// It is exactly as before (data, labels, annotations, type, owners, resourceVersion).
    Untouched,
    /// It holds exactly the expected data.
    Written(Vec<String>),
    /// Anything else: what differs.
    Changed(String),
}

/// One row's observation.
struct Observed {
    outcome: Outcome,
    warning_event: bool,
    fate: Fate,
    /// What went wrong against the row's expectation (empty: the row holds).
    problems: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_table() {
    let started = Instant::now();
    let m = moto();
    let cluster = TestCluster::start().await;
    let shared = cluster.namespace("bad-input").await;
    create_store(&cluster.client, &shared, &m.endpoint).await;
    let operator = cluster.run_operator(test_policy(&m.endpoint));
    let world = Arc::new(World {
        client: cluster.client.clone(),
        aws: m.admin_client().await,
        endpoint: m.endpoint.clone(),
        shared: shared.clone(),
        cluster,
        notes: Default::default(),
        started,
    });

    // The canary: a healthy ExternalSecret beside the bad rows.
    let canary_key = "bad-input/canary";
    let canary_v1 = create_aws(&world.aws, canary_key, "canary-one").await;
    create_es(
        &world.client,
        &shared,
        "canary",
        json!({
            "secretStoreRef": store_ref(),
            "refreshInterval": "1s",
            "data": [{"secretKey": "v", "remoteRef": {"key": canary_key}}],
        }),
    )
    .await;
    wait_data(&world.client, &shared, "canary", &[("v", "canary-one")]).await;

    // `BAD_INPUT_ROWS=id,id` runs only those rows (the table is then not compared).
    let only: Option<Vec<String>> = std::env::var("BAD_INPUT_ROWS")
        .ok()
        .map(|v| v.split(',').map(str::to_owned).collect());
    let mut cases = cases::cases();
    assert!(cases.len() >= 40, "the table has {} rows", cases.len());
    let mut ids: Vec<_> = cases.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), cases.len(), "row ids are unique");
    if let Some(only) = &only {
        cases.retain(|c| only.iter().any(|id| id == c.id));
    }

    let observed =
        futures::future::join_all(cases.iter().map(|case| run_case(world.clone(), case))).await;
    let settled = started.elapsed();

    // Every bad row sits there (failing rows keep retrying with backoff): the canary still
    // follows a rotation.
    let rotated = Instant::now();
    rotate(&world.aws, canary_key, &canary_v1, "canary-two").await;
    wait_data(&world.client, &shared, "canary", &[("v", "canary-two")]).await;
    let canary_took = rotated.elapsed();
    let (status, _) = wait_reason(&world.client, &shared, "canary", "SecretSynced").await;
    assert_eq!(status, "True");

    let failures: Vec<String> = cases
        .iter()
        .zip(&observed)
        .filter(|(_, o)| !o.problems.is_empty())
        .map(|(c, o)| format!("{}: {}", c.id, o.problems.join("; ")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows do not hold:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    let table = render(&cases, &observed);
    // The published table is the fake's: a real API server may word its refusals differently.
    if only.is_some() {
        eprintln!("docs/reliability.md not compared: only some rows ran");
    } else if std::env::var_os(support::cluster::E2E_KUBECONFIG).is_none() {
        support::docs::check_block("docs/reliability.md", "bad-input", &table);
    } else {
        eprintln!("docs/reliability.md not compared: the table is measured on the API server fake");
    }
    println!(
        "bad input: {} rows settled in {:.1}s; the canary followed a rotation in {:.1}s; total {:.1}s",
        cases.len(),
        settled.as_secs_f64(),
        canary_took.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    operator.stop().await;
}

/// Runs one row: its setup, the good sync (rows about a change), the change, then observes.
async fn run_case(world: Arc<World>, case: &Case) -> Observed {
    let ns = if case.own_namespace {
        world.cluster.namespace(case.id).await
    } else {
        world.shared.clone()
    };
    let ctx = Ctx {
        world: world.clone(),
        ns: ns.clone(),
        id: case.id,
    };
    let client = &world.client;
    let target = case.target.unwrap_or(case.id);
    (case.setup)(ctx.clone()).await;
    eprintln!(
        "[{:>5.1}s] {}: set up",
        world.started.elapsed().as_secs_f64(),
        case.id
    );
    if let Some(good) = case.good {
        create_es(client, &ns, case.id, good(&ctx)).await;
        let reached = settle(client, &ns, case.id, &Expect::Keeps("")).await;
        if !matches!(&reached, Outcome::Ready(s, r, _) if s == "True" && r == "SecretSynced") {
            return Observed {
                outcome: reached,
                warning_event: false,
                fate: Fate::NotWritten,
                problems: vec!["the good spec did not sync before the change".into()],
            };
        }
    }
    eprintln!(
        "[{:>5.1}s] {}: changing",
        world.started.elapsed().as_secs_f64(),
        case.id
    );
    let before = secret_state(client, &ns, target).await;
    let generation_before = es_generation(client, &ns, case.id).await;

    let outcome = match &case.change {
        Change::Spec(spec) => {
            let spec = spec(&ctx);
            let written = if case.good.is_some() {
                apply_spec(client, &ns, case.id, spec).await
            } else {
                create_spec(client, &ns, case.id, spec).await
            };
            written.err()
        }
        Change::Step(step) => {
            step(ctx.clone()).await;
            None
        }
    };
    let outcome = match outcome {
        Some(refused) => refused,
        None => settle(client, &ns, case.id, &case.expect).await,
    };

    eprintln!(
        "[{:>5.1}s] {}: {outcome:?}",
        world.started.elapsed().as_secs_f64(),
        case.id
    );
    let mut problems = Vec::new();
    let expected_reason = match &case.expect {
        Expect::Fails(reason, _) => Some(reason.as_str()),
        _ => None,
    };
    let warning_event = match expected_reason {
        Some(reason) => tokio::time::timeout(SETTLE, async {
            loop {
                let events = typed_events_about(client, &ns, case.id).await;
                if events.iter().any(|(t, r, _)| t == "Warning" && r == reason) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .is_ok(),
        None => false,
    };
    let after = secret_state(client, &ns, target).await;
    let fate = match (&before, &after, &case.expect) {
        (_, Some(after), Expect::Syncs(want, _)) => {
            let want: BTreeMap<String, Vec<u8>> = want
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
                .collect();
            if after.data == want {
                Fate::Written(want.keys().cloned().collect())
            } else {
                Fate::Changed(format!("data {:?}", printable(&after.data)))
            }
        }
        (None, None, _) => Fate::NotWritten,
        (Some(b), Some(a), _) if a == b => Fate::Untouched,
        (b, a, _) => Fate::Changed(describe_change(b.as_ref(), a.as_ref())),
    };

    match (&case.expect, &outcome) {
        (Expect::Refused(fragment), Outcome::Refused(message)) => {
            if !message.contains(fragment) {
                problems.push(format!("refused with {message:?}, expected {fragment:?}"));
            }
            // A refused object changes nothing: a new one does not exist, a changed one keeps
            // its spec.
            let generation_after = es_generation(client, &ns, case.id).await;
            if generation_after != generation_before {
                problems.push(format!(
                    "the ExternalSecret changed: generation {generation_before:?} -> {generation_after:?}"
                ));
            }
        }
        (Expect::Fails(reason, fragment), Outcome::Ready(status, got, message)) => {
            if status != "False" || got != reason.as_str() || !message.contains(fragment) {
                problems.push(format!(
                    "Ready={status} {got}: {message:?}, expected Ready=False {reason}: …{fragment}…"
                ));
            }
            if !warning_event {
                problems.push(format!("no Warning event with reason {reason}"));
            }
        }
        (
            Expect::Syncs(_, fragment) | Expect::Keeps(fragment),
            Outcome::Ready(status, got, message),
        ) => {
            if status != "True" || got != "SecretSynced" || !message.contains(fragment) {
                problems.push(format!(
                    "Ready={status} {got}: {message:?}, expected Ready=True SecretSynced: …{fragment}…"
                ));
            }
        }
        (expect, got) => problems.push(format!("expected {expect:?}, observed {got:?}")),
    }
    let fate_ok = match (&case.expect, &fate) {
        (Expect::Syncs(..), Fate::Written(_)) => true,
        (_, Fate::Untouched) => before.is_some() && !matches!(case.expect, Expect::Syncs(..)),
        (_, Fate::NotWritten) => !matches!(case.expect, Expect::Syncs(..)),
        _ => false,
    };
    if !fate_ok {
        problems.push(format!("Secret {target}: {fate:?}"));
    }
    Observed {
        outcome,
        warning_event,
        fate,
        problems,
    }
}

/// The ExternalSecret's generation, if it exists.
async fn es_generation(client: &kube::Client, ns: &str, name: &str) -> Option<i64> {
    Api::<ExternalSecret>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .expect("read ExternalSecret")
        .and_then(|es| es.metadata.generation)
}

/// Creates the row's ExternalSecret; a refusal (422) is the row's outcome.
async fn create_spec(
    client: &kube::Client,
    ns: &str,
    name: &str,
    spec: serde_json::Value,
) -> Result<(), Outcome> {
    let object: ExternalSecret = serde_json::from_value(json!({
        "apiVersion": "stagesync.io/v1alpha1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }))
    .map_err(|e| Outcome::ApiError(format!("not an ExternalSecret: {e}")))?;
    Api::<ExternalSecret>::namespaced(client.clone(), ns)
        .create(&Default::default(), &object)
        .await
        .map(|_| ())
        .map_err(refusal)
}

/// Replaces the row's ExternalSecret's spec as a GitOps tool would (server-side apply); a
/// refusal (422) is the row's outcome.
async fn apply_spec(
    client: &kube::Client,
    ns: &str,
    name: &str,
    spec: serde_json::Value,
) -> Result<(), Outcome> {
    try_apply_es_spec(client, ns, name, spec)
        .await
        .map_err(refusal)
}

fn refusal(err: kube::Error) -> Outcome {
    match err {
        kube::Error::Api(status) if status.code == 422 => {
            let message = status.message;
            Outcome::Refused(match message.split_once(" is invalid: ") {
                Some((_, causes)) => causes.to_owned(),
                None => message,
            })
        }
        other => Outcome::ApiError(other.to_string()),
    }
}

/// Waits until the row's Ready condition (for the current spec) is the expected one, or
/// [`SETTLE`] passed; returns the last condition seen.
async fn settle(client: &kube::Client, ns: &str, name: &str, expect: &Expect) -> Outcome {
    let deadline = Instant::now() + SETTLE;
    let mut last = Outcome::NoCondition;
    loop {
        if let Some((status, reason, message)) = ready(client, ns, name).await {
            let done = match expect {
                Expect::Fails(want, fragment) => {
                    status == "False" && reason == want.as_str() && message.contains(fragment)
                }
                Expect::Syncs(_, fragment) | Expect::Keeps(fragment) => {
                    status == "True" && reason == "SecretSynced" && message.contains(fragment)
                }
                Expect::Refused(_) => true,
            };
            last = Outcome::Ready(status, reason, message);
            if done {
                if let Expect::Syncs(want, _) = expect {
                    // The data lands with the condition; wait for it too (same deadline).
                    let want: BTreeMap<String, Vec<u8>> = want
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
                        .collect();
                    let state = secret_state(client, ns, name).await;
                    if state.is_some_and(|s| s.data == want) || Instant::now() > deadline {
                        return last;
                    }
                } else {
                    return last;
                }
            }
        }
        if Instant::now() > deadline {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn printable(data: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
    data.iter()
        .map(|(k, v)| {
            (
                k.clone(),
                String::from_utf8_lossy(v).chars().take(40).collect(),
            )
        })
        .collect()
}

fn describe_change(before: Option<&SecretState>, after: Option<&SecretState>) -> String {
    match (before, after) {
        (None, Some(a)) => format!("written with keys {:?}", a.data.keys().collect::<Vec<_>>()),
        (Some(_), None) => "deleted".into(),
        (Some(b), Some(a)) => {
            let mut parts = Vec::new();
            if a.data != b.data {
                parts.push(format!(
                    "data {:?} -> {:?}",
                    printable(&b.data),
                    printable(&a.data)
                ));
            }
            if a.labels != b.labels {
                parts.push(format!("labels {:?} -> {:?}", b.labels, a.labels));
            }
            if a.annotations != b.annotations {
                parts.push("annotations changed".into());
            }
            if a.type_ != b.type_ || a.owners != b.owners {
                parts.push("type or owners changed".into());
            }
            if parts.is_empty() {
                parts.push(format!(
                    "rewritten (resourceVersion {} -> {})",
                    b.resource_version, a.resource_version
                ));
            }
            parts.join(", ")
        }
        (None, None) => "none".into(),
    }
}

/// The markdown table: one row per case, outcomes as observed.
fn render(cases: &[Case], observed: &[Observed]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{} cases (`cargo test --test bad_input`, about 10 to 20 s), each run against the API \
         server fake and moto with the operator serving all of them at once; a canary ExternalSecret in the same run followed an AWS rotation while the \
         failing rows kept retrying. \"Untouched\" means the Secret's data, labels, annotations, \
         type, owners and resourceVersion are what they were before the row's change; \"none \
         written\" that no Secret exists once the row's outcome was reported. Every `Ready=False` \
         row also got a Warning event with its reason.\n\n",
        cases.len()
    ));
    out.push_str("| # | Input | Outcome | Secret | Why this outcome |\n");
    out.push_str("|---|---|---|---|---|\n");
    for (i, (case, seen)) in cases.iter().zip(observed).enumerate() {
        let outcome = match (&seen.outcome, &case.expect) {
            (Outcome::Refused(message), _) => {
                format!("refused at admission (422): `{message}`")
            }
            (Outcome::Ready(status, reason, _), Expect::Fails(_, fragment)) => {
                format!("`Ready={status}` `{reason}`: “…{fragment}…”")
            }
            (
                Outcome::Ready(status, reason, _),
                Expect::Syncs(_, fragment) | Expect::Keeps(fragment),
            ) => {
                format!("`Ready={status}` `{reason}`: “…{fragment}…”")
            }
            (other, _) => format!("{other:?}"),
        };
        let secret = match &seen.fate {
            Fate::NotWritten => "none written".to_owned(),
            Fate::Untouched => "untouched".to_owned(),
            Fate::Written(keys) => format!("written: `{}`", keys.join("`, `")),
            Fate::Changed(what) => what.clone(),
        };
        debug_assert!(seen.warning_event || !matches!(case.expect, Expect::Fails(..)));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            i + 1,
            cell(case.input),
            cell(&outcome),
            cell(&secret),
            cell(case.why),
        ));
    }
    out
}

/// Text safe inside a markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
