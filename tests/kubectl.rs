//! `kubectl stagesync`, end to end: the built `kubectl-stagesync` binary runs with the test's
//! admin kubeconfig (a user, not the operator) against the cluster harness, while the operator
//! runs in-process and AWS is moto. The README's examples are the outputs of a fixed scenario
//! rendered by the same library functions the binary calls, with a fixed clock:
//! `STAGESYNC_UPDATE_README=1 cargo test --test kubectl readme` rewrites them.

mod support;

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use serde_json::{Value, json};
use stagesync::api::ExternalSecret;
use stagesync::api::Reason;
use stagesync::api::shared::VersionTrackingStatus;
use stagesync::kubectl::connect::Scope;
use stagesync::kubectl::explain::explain;
use stagesync::kubectl::output::Palette;
use stagesync::kubectl::status::GatherOptions;
use stagesync::kubectl::stores::monthly_cost;
use stagesync::kubectl::{Verdict, show, status, sync, why};
use stagesync::restart::workload::Kind;
use support::cluster::eventually;
use support::objects::*;
use support::rig::Rig;
use support::unique_name;
use support::workloads;

/// The longest a plugin command may take.
const COMMAND: Duration = Duration::from_secs(90);

/// What a run of the plugin printed, and its exit code.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `kubectl-stagesync ARGS` as the user of `kubeconfig`.
async fn plugin(kubeconfig: &Path, args: &[&str]) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubectl-stagesync"));
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("NO_COLOR")
        .kill_on_drop(true);
    let output = tokio::time::timeout(COMMAND, command.output())
        .await
        .unwrap_or_else(|_| panic!("kubectl-stagesync {args:?} did not finish in {COMMAND:?}"))
        .expect("the plugin runs");
    Run {
        code: output.status.code().expect("an exit code"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// The table line whose first cell is `first` (cells split on runs of two or more spaces).
fn row<'a>(table: &'a str, first: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row {first:?} in\n{table}"))
}

/// Every table row whose first cell is `first`.
fn rows<'a>(table: &'a str, first: &str) -> Vec<Vec<&'a str>> {
    table
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|cells| cells.first() == Some(&first))
        .collect()
}

/// An AWS secret whose first version has the id `version` (a ClientRequestToken).
async fn create_aws_version(
    aws: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
    version: &str,
) {
    let got = aws
        .create_secret()
        .name(name)
        .secret_string(value)
        .client_request_token(version)
        .send()
        .await
        .expect("create secret");
    assert_eq!(got.version_id.as_deref(), Some(version));
}

/// A new AWSCURRENT version with the id `version`.
async fn put_version(aws: &aws_sdk_secretsmanager::Client, name: &str, value: &str, version: &str) {
    let got = aws
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .client_request_token(version)
        .send()
        .await
        .expect("put secret value");
    assert_eq!(got.version_id.as_deref(), Some(version));
}

/// An ExternalSecret of the store `aws` reading each (Secret key, AWS secret), hourly.
fn reading(entries: &[(&str, &str)]) -> Value {
    let data: Vec<Value> = entries
        .iter()
        .map(|(secret_key, key)| json!({"secretKey": secret_key, "remoteRef": {"key": key}}))
        .collect();
    json!({"secretStoreRef": store_ref(), "refreshInterval": "1h", "data": data})
}

/// A Deployment that opted in to restarts and uses Secret `secret` (envFrom).
async fn deployment(r: &Rig, name: &str, annotations: Value, secret: &str) {
    let manifest = workloads::workload(
        Kind::Deployment,
        name,
        annotations,
        workloads::pod_template("envFrom", secret, false),
    );
    workloads::create(r.client(), &r.ns, Kind::Deployment, manifest).await;
}

/// Waits until the store's tracker status satisfies `ready`.
async fn tracking(
    r: &Rig,
    ready: impl Fn(&VersionTrackingStatus) -> bool,
) -> VersionTrackingStatus {
    eventually(WAIT, "the store's versionTracking status", || async {
        r.tracking("aws").await.filter(|t| ready(t))
    })
    .await
}

async fn es(r: &Rig, name: &str) -> ExternalSecret {
    Api::<ExternalSecret>::namespaced(r.client().clone(), &r.ns)
        .get(name)
        .await
        .unwrap()
}

#[tokio::test]
async fn status_shows_versions_the_store_and_its_cost_and_the_workloads_to_restart() {
    let r = Rig::start("kst-status", |_| {}).await;
    let (db, api) = (unique_name("app/db"), unique_name("app/api"));
    let (db_v1, api_v1) = (
        "0d1e2f3a-4b5c-4d6e-8f70-000000000001",
        "0d1e2f3a-4b5c-4d6e-8f70-0000000000a1",
    );
    create_aws_version(&r.aws, &db, "db-one", db_v1).await;
    create_aws_version(&r.aws, &api, "api-one", api_v1).await;
    create_es(
        r.client(),
        &r.ns,
        "app",
        reading(&[("db", &db), ("api", &api)]),
    )
    .await;
    deployment(&r, "web", json!({"stagesync.io/reload": "true"}), "app").await;
    deployment(&r, "batch", json!({}), "app").await;
    deployment(
        &r,
        "other",
        json!({"stagesync.io/reload": "true"}),
        "elsewhere",
    )
    .await;
    wait_reason(r.client(), &r.ns, "app", "SecretSynced").await;
    tracking(&r, |t| {
        t.tracked_secrets == 2 && !t.last_cycle_calls.is_empty()
    })
    .await;
    // The store's status moves with the tracker's cycles: compare with a status that stayed
    // the same while the plugin ran.
    let (run, tracked) = loop {
        let before = r.tracking("aws").await.unwrap();
        let run = plugin(&r.cluster.kubeconfig, &["status", "-n", &r.ns]).await;
        if r.tracking("aws").await.as_ref() == Some(&before) {
            break (run, before);
        }
    };
    let calls: i64 = tracked.last_cycle_calls.values().sum();
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    assert!(
        !out.contains('\x1b'),
        "no colours when stdout is not a terminal:\n{out}"
    );
    let app = row(out, "app");
    assert_eq!(
        app[..7],
        [
            "app",
            "SecretStore/aws",
            "True",
            "SecretSynced",
            "ok",
            "-",
            "app"
        ],
        "{out}"
    );
    let keys = rows(out, "app");
    let key_row = |key: &str| {
        keys.iter()
            .find(|cells| cells.get(1) == Some(&key))
            .unwrap_or_else(|| panic!("no row for {key} in\n{out}"))
            .clone()
    };
    assert_eq!(key_row(&db)[2..4], ["AWSCURRENT", db_v1], "{out}");
    assert_eq!(key_row(&api)[2..4], ["AWSCURRENT", api_v1], "{out}");
    let web = keys
        .iter()
        .find(|cells| cells.get(1) == Some(&"Deployment/web"))
        .unwrap_or_else(|| panic!("the opted-in Deployment is listed:\n{out}"));
    assert_eq!(web[2..], ["rollout", "not restarted yet"], "{out}");
    assert!(!out.contains("Deployment/batch"), "not opted in:\n{out}");
    assert!(
        !out.contains("Deployment/other"),
        "uses another Secret:\n{out}"
    );
    let store = row(out, "SecretStore/aws");
    assert_eq!(
        store[1..5],
        ["True", "List", tracked.strategy.as_str(), "2"],
        "{out}"
    );
    assert!(store[5].starts_with(&format!("{calls} (")), "{out}");
    assert_eq!(
        store[6], "1h",
        "the cycle is the ExternalSecret's refreshInterval: {out}"
    );
    let cost = monthly_cost(calls, Duration::from_secs(3600));
    assert!(
        (cost - calls as f64 * 720.0 * 0.05 / 10_000.0).abs() < 1e-12,
        "calls per cycle × 720 hourly cycles in 30 days × $0.05 per 10,000 calls"
    );
    assert_eq!(store[7], format!("${cost:.4}"), "{out}");

    // -o json holds the same facts, with timestamps instead of ages.
    let run = plugin(
        &r.cluster.kubeconfig,
        &["status", "app", "-n", &r.ns, "-o", "json"],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let live = es(&r, "app").await.status.unwrap();
    let shown = &report["externalSecrets"][0];
    assert_eq!(shown["name"], "app");
    assert_eq!(
        shown["store"],
        json!({"kind": "SecretStore", "namespace": r.ns, "name": "aws"})
    );
    assert_eq!(shown["ready"]["reason"], "SecretSynced");
    for (key, version) in [(&db, db_v1), (&api, api_v1)] {
        let entry = shown["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key"] == json!(key))
            .unwrap_or_else(|| panic!("{key} in {shown}"));
        assert_eq!(entry["versionId"], version);
        let since = live.synced_versions[key]
            .current_since
            .clone()
            .expect("the operator records when the version became current");
        assert_eq!(entry["currentSince"], json!(since));
        assert!(since.0 <= Timestamp::now());
    }
    assert_eq!(shown["workloads"][0]["name"], "web");
    assert_eq!(shown["workloads"].as_array().unwrap().len(), 1);
    assert_eq!(shown["secret"]["name"], "app");
    assert_eq!(shown["secret"]["fieldManager"], "stagesync");
    assert!(shown["secret"]["lastWrite"].is_string(), "{shown}");
    let secret = Api::<Secret>::namespaced(r.client().clone(), &r.ns)
        .get("app")
        .await
        .unwrap();
    assert_eq!(
        shown["secret"]["dataHash"],
        json!(secret.metadata.annotations.unwrap()["stagesync.io/data-hash"])
    );
    let store = &report["stores"][0];
    assert_eq!(store["mode"], "List");
    let json_calls: i64 = store["lastCycleCalls"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_i64().unwrap())
        .sum();
    assert_eq!(store["callsLastCycle"], json_calls);
    assert_eq!(store["cycleSeconds"], 3600);
    assert_eq!(
        store["estimatedMonthlyCostUsd"],
        format!("{:.4}", monthly_cost(json_calls, Duration::from_secs(3600)))
    );
    assert!(store["operatorEstimatedMonthlyCostUsd"].is_string());

    let run = plugin(
        &r.cluster.kubeconfig,
        &["status", "app", "-n", &r.ns, "-o", "yaml"],
    )
    .await;
    let yaml: Value = serde_yaml_ng::from_str(&run.stdout).expect("YAML");
    assert_eq!(yaml["externalSecrets"][0]["keys"], shown["keys"]);
}

#[tokio::test]
async fn status_of_a_failing_external_secret_exits_1_and_names_its_reason() {
    let r = Rig::start("kst-failing", |_| {}).await;
    let missing = unique_name("app/missing");
    create_es(r.client(), &r.ns, "broken", reading(&[("v", &missing)])).await;
    wait_reason(r.client(), &r.ns, "broken", "SecretNotFound").await;

    let run = plugin(&r.cluster.kubeconfig, &["status", "broken", "-n", &r.ns]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let broken = row(&run.stdout, "broken");
    assert_eq!(
        broken,
        [
            "broken",
            "SecretStore/aws",
            "False",
            "SecretNotFound",
            "ok",
            "-",
            "broken (missing)",
            "-"
        ],
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("kubectl stagesync why broken"),
        "{}",
        run.stdout
    );

    // Every namespace: a NAMESPACE column first.
    let run = plugin(&r.cluster.kubeconfig, &["status", "-A"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.starts_with("NAMESPACE "), "{}", run.stdout);
    assert_eq!(
        row(&run.stdout, &r.ns)[1..4],
        ["broken", "SecretStore/aws", "False"]
    );
    assert!(
        run.stdout
            .contains(&format!("kubectl stagesync why broken -n {}", r.ns)),
        "{}",
        run.stdout
    );

    // The current context's namespace is the default, as for kubectl.
    let kubeconfig = r
        .cluster
        .kubeconfig
        .with_extension(format!("{}.yaml", r.ns));
    let mut config: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&r.cluster.kubeconfig).unwrap()).unwrap();
    let current = config["current-context"].as_str().unwrap().to_owned();
    let contexts = config["contexts"].as_array_mut().unwrap();
    let context = contexts
        .iter_mut()
        .find(|c| c["name"] == json!(current))
        .unwrap();
    context["context"]["namespace"] = json!(r.ns);
    std::fs::write(&kubeconfig, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
    let run = plugin(&kubeconfig, &["status", "-o", "json"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["externalSecrets"][0]["name"], "broken");
    let run = plugin(&kubeconfig, &["--context", &current, "status", "broken"]).await;
    assert_eq!(run.code, 1, "{run:?}");

    // Could not run: exit 2.
    let run = plugin(&r.cluster.kubeconfig, &["status", "nosuch", "-n", &r.ns]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("\"nosuch\" not found"), "{run:?}");
    let run = plugin(&kubeconfig, &["--context", "no-such-context", "status"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    std::fs::remove_file(&kubeconfig).unwrap();
}

#[tokio::test]
async fn sync_forces_a_refresh_that_picks_up_a_rotated_value() {
    let r = Rig::start("kst-sync", |_| {}).await;
    let db = unique_name("app/db");
    let (v1, v2) = (
        "5a6b7c8d-9e0f-4a1b-8c2d-000000000001",
        "5a6b7c8d-9e0f-4a1b-8c2d-000000000002",
    );
    create_aws_version(&r.aws, &db, "before", v1).await;
    create_es(r.client(), &r.ns, "app", reading(&[("db", &db)])).await;
    wait_data(r.client(), &r.ns, "app", &[("db", "before")]).await;
    // Rotated in AWS: the hourly refresh would notice within the hour; `sync` reads now.
    put_version(&r.aws, &db, "after", v2).await;

    let run = plugin(
        &r.cluster.kubeconfig,
        &["sync", "app", "-n", &r.ns, "--timeout", "60s"],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .starts_with("externalsecret/app synced: SecretSynced"),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains(&format!("{db}: version {v2} (AWSCURRENT)")),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("externalsecret/app: stagesync.io/force-sync="),
        "{run:?}"
    );
    assert_eq!(
        secret_data(r.client(), &r.ns, "app").await.unwrap()["db"],
        "after",
        "the Secret holds the rotated value when sync returns"
    );
    // The annotation is the user's write, under the plugin's own field manager.
    let live = es(&r, "app").await;
    let value = &live.metadata.annotations.as_ref().unwrap()["stagesync.io/force-sync"];
    assert_eq!(
        live.status.as_ref().unwrap().force_synced.as_ref(),
        Some(value)
    );
    let managers: Vec<_> = live
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|f| {
            f.fields_v1
                .as_ref()
                .is_some_and(|v| v.0.to_string().contains("stagesync.io/force-sync"))
        })
        .filter_map(|f| f.manager.clone())
        .collect();
    assert_eq!(managers, ["kubectl-stagesync"]);
}

#[tokio::test]
async fn sync_of_a_failing_external_secret_exits_1_with_the_reason() {
    let r = Rig::start("kst-sync-fail", |_| {}).await;
    let missing = unique_name("app/missing");
    create_es(r.client(), &r.ns, "broken", reading(&[("v", &missing)])).await;
    wait_reason(r.client(), &r.ns, "broken", "SecretNotFound").await;

    let run = plugin(
        &r.cluster.kubeconfig,
        &["sync", "broken", "-n", &r.ns, "--timeout", "60s"],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.starts_with(&format!(
            "externalsecret/broken failed: SecretNotFound: secret {missing:?} not found\n"
        )),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("kubectl stagesync why broken"),
        "{run:?}"
    );

    let run = plugin(&r.cluster.kubeconfig, &["sync", "nosuch", "-n", &r.ns]).await;
    assert_eq!(run.code, 2, "{run:?}");

    // Could not run: no operator watches this namespace, so nobody acts within the timeout;
    // an ExternalSecret synced only on spec changes is refused at once.
    let unwatched = r.cluster.namespace("kst-unwatched").await;
    create_es(r.client(), &unwatched, "idle", reading(&[("v", &missing)])).await;
    let run = plugin(
        &r.cluster.kubeconfig,
        &["sync", "idle", "-n", &unwatched, "--timeout", "2s"],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("timed out after 2s"), "{run:?}");
    let mut on_change = reading(&[("v", &missing)]);
    on_change["refreshPolicy"] = json!("OnChange");
    create_es(r.client(), &unwatched, "on-change", on_change).await;
    let run = plugin(
        &r.cluster.kubeconfig,
        &["sync", "on-change", "-n", &unwatched],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("refreshPolicy OnChange"), "{run:?}");
}

#[tokio::test]
async fn why_explains_a_failure_and_says_a_ready_one_is_ready() {
    let r = Rig::start("kst-why", |_| {}).await;
    let (missing, good) = (unique_name("app/missing"), unique_name("app/good"));
    create_aws(&r.aws, &good, "fine").await;
    create_es(r.client(), &r.ns, "broken", reading(&[("v", &missing)])).await;
    create_es(r.client(), &r.ns, "app", reading(&[("v", &good)])).await;
    wait_reason(r.client(), &r.ns, "broken", "SecretNotFound").await;
    wait_reason(r.client(), &r.ns, "app", "SecretSynced").await;
    eventually(WAIT, "a Warning event about broken", || async {
        typed_events_about(r.client(), &r.ns, "broken")
            .await
            .iter()
            .any(|(t, reason, _)| t == "Warning" && reason == "SecretNotFound")
            .then_some(())
    })
    .await;

    let run = plugin(&r.cluster.kubeconfig, &["why", "broken", "-n", &r.ns]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let explained = explain(Reason::SecretNotFound);
    let out = &run.stdout;
    assert!(
        out.starts_with("ExternalSecret broken: Ready False (SecretNotFound)\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("What happened: {}\n", explained.what)),
        "{out}"
    );
    assert!(out.contains(&format!("Fix: {}\n", explained.fix)), "{out}");
    assert!(
        out.contains(&format!("Message: secret {missing:?} not found\n")),
        "{out}"
    );
    let warnings = &out[out.find("Recent warnings:\n").expect("warnings")..];
    let event = row(warnings, "LAST SEEN");
    assert_eq!(event, ["LAST SEEN", "REASON", "MESSAGE"]);
    assert!(
        warnings.contains(&format!("SecretNotFound   secret {missing:?} not found")),
        "{out}"
    );

    let run = plugin(
        &r.cluster.kubeconfig,
        &["why", "broken", "-n", &r.ns, "-o", "json"],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["findings"][0]["reason"], "SecretNotFound");
    assert_eq!(report["findings"][0]["fix"], explained.fix);
    assert_eq!(report["events"][0]["reason"], "SecretNotFound");

    let run = plugin(&r.cluster.kubeconfig, &["why", "app", "-n", &r.ns]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "ExternalSecret app is Ready (SecretSynced): Secret \"app\" is synced\n"
    );
    let run = plugin(&r.cluster.kubeconfig, &["why", "nosuch", "-n", &r.ns]).await;
    assert_eq!(run.code, 2, "{run:?}");
}

/// The README's `kubectl stagesync` examples: a shop namespace with an ExternalSecret `app`
/// reading two AWS secrets whose versions have fixed ids, a Deployment restarted on its
/// changes, and an ExternalSecret `legacy` whose AWS secret is gone. Ages are rendered against
/// a clock fixed at 10 h 30 min after the scenario started, so every age reads `10h` however
/// long the scenario took (up to half an hour).
#[tokio::test]
async fn readme_examples_are_the_outputs_of_a_fixed_scenario() {
    let started = Timestamp::now();
    let now = started + SignedDuration::from_mins(10 * 60 + 30);
    let (r, _) = Rig::bare(
        "kst-readme",
        0,
        |_| {},
        (Duration::from_millis(200), Duration::from_secs(2)),
    )
    .await;
    create_credentials(r.client(), &r.ns).await;
    r.store("aws", json!({"mode": "Describe"})).await;
    let client = r.client();
    let names = ["shop/db-password", "shop/api-key", "shop/legacy-token"];
    // One moto serves the whole test process: these names are this test's alone.
    let [db, api, legacy] = names;
    let db_v1 = "3c2f9a41-6d1e-4b7a-9f0e-1a2b3c4d5e01";
    let db_v2 = "3c2f9a41-6d1e-4b7a-9f0e-1a2b3c4d5e02";
    let api_v1 = "8e7d6c5b-4a39-4281-b7c6-d5e4f3a2b101";

    // `legacy` fails first, so that the store's last cycle is the one that checked `app`'s two
    // secrets.
    create_es(client, &r.ns, "legacy", reading(&[("token", legacy)])).await;
    wait_reason(client, &r.ns, "legacy", "SecretNotFound").await;
    tracking(&r, |t| {
        t.tracked_secrets == 1 && !t.last_cycle_calls.is_empty()
    })
    .await;
    create_aws_version(&r.aws, db, "correct-horse", db_v1).await;
    create_aws_version(&r.aws, api, "sk-live-1", api_v1).await;
    create_es(
        client,
        &r.ns,
        "app",
        reading(&[("password", db), ("api-key", api)]),
    )
    .await;
    deployment(&r, "web", json!({"stagesync.io/reload": "true"}), "app").await;
    wait_reason(client, &r.ns, "app", "SecretSynced").await;
    tracking(&r, |t| {
        t.tracked_secrets == 3
            && t.last_cycle_calls == [("DescribeSecret".to_owned(), 2)].into_iter().collect()
    })
    .await;
    eventually(WAIT, "a Warning event about legacy", || async {
        typed_events_about(client, &r.ns, "legacy")
            .await
            .iter()
            .any(|(t, _, _)| t == "Warning")
            .then_some(())
    })
    .await;

    let scope = Scope::Namespace(r.ns.clone());
    let report = status::gather(client, &scope, None, &GatherOptions::default(), now)
        .await
        .unwrap();
    assert!(report.has_problems(), "legacy is failing");
    let status_text = show::render(&report, false, Palette::plain(), now);

    let explained = why::gather(client, &r.ns, "legacy").await.unwrap();
    assert_eq!(explained.verdict(), Verdict::Problem);
    let why_text = why::render(&explained, Palette::plain(), now);

    // The database password is rotated in AWS; `sync` makes the Secret follow at once.
    put_version(&r.aws, db, "battery-staple", db_v2).await;
    let mut sync_text = Vec::new();
    let mut progress_text = Vec::new();
    let verdict = sync::sync(
        client,
        &r.ns,
        "app",
        now,
        Duration::from_secs(60),
        &mut sync_text,
        &mut sync::Progress {
            out: &mut progress_text,
            live: false,
        },
        Palette::plain(),
    )
    .await
    .unwrap();
    assert_eq!(verdict, Verdict::Ok);
    wait_data(
        client,
        &r.ns,
        "app",
        &[("password", "battery-staple"), ("api-key", "sk-live-1")],
    )
    .await;
    let sync_text = String::from_utf8(sync_text).unwrap();

    let block = format!(
        "```console\n$ kubectl stagesync status\n{status_text}```\n\n\
         ```console\n$ kubectl stagesync why legacy\n{why_text}```\n\n\
         ```console\n$ kubectl stagesync sync app\n{sync_text}```\n"
    );
    check_readme_block(&block);
}

/// Compares the README's block between the kubectl markers with `wanted`; rewrites it when
/// `STAGESYNC_UPDATE_README` is set.
fn check_readme_block(wanted: &str) {
    let path = support::workspace_root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (start, end) = (
        "<!-- kubectl-stagesync:start -->\n",
        "<!-- kubectl-stagesync:end -->",
    );
    let a = readme.find(start).expect("kubectl-stagesync:start marker") + start.len();
    let b = readme.find(end).expect("kubectl-stagesync:end marker");
    if std::env::var_os("STAGESYNC_UPDATE_README").is_some() {
        std::fs::write(&path, format!("{}{wanted}{}", &readme[..a], &readme[b..])).unwrap();
        return;
    }
    assert_eq!(
        &readme[a..b],
        wanted,
        "the README's kubectl stagesync examples differ from the scenario's outputs: run \
         STAGESYNC_UPDATE_README=1 cargo test --test kubectl readme"
    );
}
