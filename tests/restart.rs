//! Rolling restarts of annotated workloads, end to end: AWS (moto) rotates, stagesync rewrites
//! the Secret, and each workload that opted in rolls exactly once — and only when the data it
//! uses really changed.
//!
//! Absence ("nothing rolled") is never asserted after a sleep: a test waits until stagesync's
//! record on the workload equals the current data of its Secrets (after which no rollout can
//! follow), or until a later change to a canary in the same namespace rolled (the engine sees one
//! namespace's Secret changes in order). The same tests run on a real cluster.

mod support;

use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use stagesync::restart::plan::ANNOTATION_SECRETS_SEEN;
use stagesync::restart::workload::Kind;
use support::cluster::eventually;
use support::objects::*;
use support::rig::*;
use support::unique_name;
use support::workloads::*;

/// An ExternalSecret `name` writing Secret `name` with key `v` from AWS secret `key`.
async fn synced(r: &Rig, name: &str, key: &str, value: &str) {
    create_es(r.client(), &r.ns, name, current(key)).await;
    wait_data(r.client(), &r.ns, name, &[("v", value)]).await;
}

/// A new AWS secret read by ExternalSecret (and Secret) `name`; returns the AWS key.
async fn aws_secret(r: &Rig, name: &str, value: &str) -> String {
    let key = unique_name(&format!("restart/{name}"));
    create_aws(&r.aws, &key, value).await;
    synced(r, name, &key, value).await;
    key
}

fn reload() -> Value {
    json!({"stagesync.io/reload": "true"})
}

/// Creates a workload of `kind` in the rig's namespace.
async fn add(r: &Rig, kind: Kind, name: &str, annotations: Value, template: Value) {
    create(
        r.client(),
        &r.ns,
        kind,
        workload(kind, name, annotations, template),
    )
    .await;
}

/// Waits until the workload carries a restart mark different from `before`; returns it.
async fn wait_restarted(r: &Rig, kind: Kind, name: &str, before: Option<String>) -> String {
    eventually(WAIT, &format!("{} {name} restarted", kind.as_str()), || {
        let before = before.clone();
        async move {
            let obj = get(r.client(), &r.ns, kind, name).await;
            restart_mark(kind, &obj).filter(|m| Some(m) != before.as_ref())
        }
    })
    .await
}

/// The (type, reason, note) of the events about `name`, once one of them has `reason`.
async fn restart_events(r: &Rig, name: &str, reason: &str) -> Vec<(String, String, String)> {
    let what = format!("a {reason} event about {name}");
    wait_events(r.client(), &r.ns, name, &what, |e| e.1 == reason).await
}

/// A canary: a Deployment using its own Secret; `bump` changes that Secret in AWS and waits
/// until the canary rolled, so every earlier Secret change of the namespace was handled.
struct Canary {
    key: String,
    round: u32,
}

impl Canary {
    async fn new(r: &Rig) -> Self {
        let key = aws_secret(r, "canary", "c0").await;
        add(
            r,
            Kind::Deployment,
            "canary",
            reload(),
            pod_template("env", "canary", false),
        )
        .await;
        wait_recorded(r.client(), &r.ns, Kind::Deployment, "canary", &["canary"]).await;
        Self { key, round: 0 }
    }

    async fn bump(&mut self, r: &Rig) {
        self.round += 1;
        let before = restart_mark(
            Kind::Deployment,
            &get(r.client(), &r.ns, Kind::Deployment, "canary").await,
        );
        put_current(&r.aws, &self.key, &format!("c{}", self.round)).await;
        wait_restarted(r, Kind::Deployment, "canary", before).await;
    }
}

#[tokio::test]
async fn a_rotation_rolls_each_annotated_kind_exactly_once_and_nothing_else() {
    let mut r = Rig::configured("restart-kinds", |_| {}, |c| c.restart.enabled = false).await;
    install_rollout_crd(r.client()).await;
    r.config.restart.enabled = true;
    r.restart_operator().await;
    let key = aws_secret(&r, "db", "one").await;
    aws_secret(&r, "other", "o").await;
    // Each kind reads the Secret in another of the ways a pod template can.
    let annotated = [
        (Kind::Deployment, "env", false),
        (Kind::StatefulSet, "envFrom", false),
        (Kind::DaemonSet, "volume", false),
        (Kind::CronJob, "projected", false),
        (Kind::Rollout, "env", true),
    ];
    for (kind, form, init) in annotated {
        let name = kind.as_str().to_lowercase();
        create(
            r.client(),
            &r.ns,
            kind,
            workload(kind, &name, reload(), pod_template(form, "db", init)),
        )
        .await;
    }
    add(
        &r,
        Kind::Deployment,
        "unannotated",
        json!({}),
        pod_template("env", "db", false),
    )
    .await;
    add(
        &r,
        Kind::Deployment,
        "unrelated",
        reload(),
        pod_template("env", "other", false),
    )
    .await;
    let mut generations = Vec::new();
    for (kind, _, _) in annotated {
        let name = kind.as_str().to_lowercase();
        let obj = wait_recorded(r.client(), &r.ns, kind, &name, &["db"]).await;
        // Seen for the first time: recorded, not restarted.
        assert_eq!(
            restart_mark(kind, &obj),
            None,
            "{name} was restarted on first sight"
        );
        generations.push(obj.metadata.generation.unwrap());
    }
    wait_recorded(r.client(), &r.ns, Kind::Deployment, "unrelated", &["other"]).await;
    let unannotated = get(r.client(), &r.ns, Kind::Deployment, "unannotated").await;

    let old = r.es("db").await.status.unwrap().synced_versions[&key]
        .version_id
        .clone();
    let new = put_current(&r.aws, &key, "two").await;
    wait_data(r.client(), &r.ns, "db", &[("v", "two")]).await;
    for ((kind, _, _), generation) in annotated.iter().zip(&generations) {
        let name = kind.as_str().to_lowercase();
        wait_restarted(&r, *kind, &name, None).await;
        let obj = wait_recorded(r.client(), &r.ns, *kind, &name, &["db"]).await;
        assert_eq!(
            obj.metadata.generation.unwrap(),
            generation + 1,
            "{name}: exactly one template change"
        );
        // The Event is published after the workload is patched.
        let events = restart_events(&r, &name, "Restarted").await;
        let restarted: Vec<_> = events.iter().filter(|e| e.1 == "Restarted").collect();
        assert_eq!(restarted.len(), 1, "{name}: {events:?}");
        let note = &restarted[0].2;
        assert!(
            note.contains("\"db\" changed") && note.contains(&old) && note.contains(&new),
            "{note}"
        );
        assert!(
            !note.contains("two") && !note.contains("one"),
            "a value leaked: {note}"
        );
    }
    wait_events(
        r.client(),
        &r.ns,
        "db",
        "a Restarted event about the ExternalSecret",
        |e| e.1 == "Restarted" && e.2.contains("Deployment deployment"),
    )
    .await;
    let after = get(r.client(), &r.ns, Kind::Deployment, "unannotated").await;
    assert_eq!(after.metadata.generation, unannotated.metadata.generation);
    assert_eq!(
        after.annotations(),
        unannotated.annotations(),
        "an unannotated workload was touched"
    );
    let unrelated = get(r.client(), &r.ns, Kind::Deployment, "unrelated").await;
    assert_eq!(restart_mark(Kind::Deployment, &unrelated), None);
}

#[tokio::test]
async fn same_bytes_labels_and_new_versions_with_equal_values_restart_nothing() {
    let r = Rig::start("restart-same", |_| {}).await;
    let key = aws_secret(&r, "db", "same").await;
    add(
        &r,
        Kind::Deployment,
        "web",
        reload(),
        pod_template("envFrom", "db", false),
    )
    .await;
    let g0 = wait_recorded(r.client(), &r.ns, Kind::Deployment, "web", &["db"])
        .await
        .metadata
        .generation;
    let mut canary = Canary::new(&r).await;

    // A new AWS version with a byte-identical value, then a label change of the Secret.
    let v2 = put_current(&r.aws, &key, "same").await;
    eventually(WAIT, "the new version synced", || async {
        let es = r.es("db").await;
        (es.status?.synced_versions.get(&key)?.version_id == v2).then_some(())
    })
    .await;
    let mut spec = current(&key);
    spec["target"] = json!({"template": {"metadata": {"labels": {"team": "payments"}}}});
    apply_es_spec(r.client(), &r.ns, "db", spec).await;
    eventually(WAIT, "the label written", || async {
        let s = secret_data_object(&r, "db").await;
        (s.labels().get("team").map(String::as_str) == Some("payments")).then_some(())
    })
    .await;
    canary.bump(&r).await;
    let web = get(r.client(), &r.ns, Kind::Deployment, "web").await;
    assert_eq!(
        web.metadata.generation, g0,
        "identical data rolled the workload"
    );
    assert_eq!(restart_mark(Kind::Deployment, &web), None);
}

async fn secret_data_object(r: &Rig, name: &str) -> k8s_openapi::api::core::v1::Secret {
    kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(r.client().clone(), &r.ns)
        .get(name)
        .await
        .unwrap()
}

#[tokio::test]
async fn three_secrets_changed_by_one_rotation_give_one_rollout() {
    let r = Rig::start("restart-three", |_| {}).await;
    let key = unique_name("restart/shared");
    create_aws(&r.aws, &key, r#"{"user":"u1","password":"p1","host":"h1"}"#).await;
    for (name, property) in [("user", "user"), ("password", "password"), ("host", "host")] {
        let spec = reads(store_ref(), &key, json!({"property": property}));
        create_es(r.client(), &r.ns, name, spec).await;
    }
    for (name, v) in [("user", "u1"), ("password", "p1"), ("host", "h1")] {
        wait_data(r.client(), &r.ns, name, &[("v", v)]).await;
    }
    let mut template = pod_template("env", "user", false);
    template["spec"]["containers"][0]["envFrom"] =
        json!([{"secretRef": {"name": "password"}}, {"secretRef": {"name": "host"}}]);
    create(
        r.client(),
        &r.ns,
        Kind::Deployment,
        workload(Kind::Deployment, "api", reload(), template),
    )
    .await;
    let all = ["host", "password", "user"];
    let g0 = wait_recorded(r.client(), &r.ns, Kind::Deployment, "api", &all)
        .await
        .metadata
        .generation
        .unwrap();

    put_current(&r.aws, &key, r#"{"user":"u2","password":"p2","host":"h2"}"#).await;
    for (name, v) in [("user", "u2"), ("password", "p2"), ("host", "h2")] {
        wait_data(r.client(), &r.ns, name, &[("v", v)]).await;
    }
    // Once the record is the new data of all three, no further rollout can follow.
    let obj = wait_recorded(r.client(), &r.ns, Kind::Deployment, "api", &all).await;
    assert_eq!(
        obj.metadata.generation.unwrap(),
        g0 + 1,
        "one rollout for three Secrets"
    );
    let restarted: Vec<_> = restart_events(&r, "api", "Restarted")
        .await
        .into_iter()
        .filter(|e| e.1 == "Restarted")
        .collect();
    assert_eq!(restarted.len(), 1, "{restarted:?}");
    for name in all {
        assert!(
            restarted[0].2.contains(&format!("{name:?} changed")),
            "{restarted:?}"
        );
    }
}

#[tokio::test]
async fn an_operator_restart_after_a_rollout_does_not_roll_again() {
    let mut r = Rig::start("restart-again", |_| {}).await;
    let key = aws_secret(&r, "db", "a").await;
    add(
        &r,
        Kind::StatefulSet,
        "db-client",
        reload(),
        pod_template("volume", "db", false),
    )
    .await;
    wait_recorded(r.client(), &r.ns, Kind::StatefulSet, "db-client", &["db"]).await;
    put_current(&r.aws, &key, "b").await;
    let mark = wait_restarted(&r, Kind::StatefulSet, "db-client", None).await;
    let g1 = wait_recorded(r.client(), &r.ns, Kind::StatefulSet, "db-client", &["db"])
        .await
        .metadata
        .generation;

    r.restart_operator().await;
    let mut canary = Canary::new(&r).await;
    canary.bump(&r).await;
    let obj = get(r.client(), &r.ns, Kind::StatefulSet, "db-client").await;
    assert_eq!(
        obj.metadata.generation, g1,
        "rolled again after the operator restarted"
    );
    assert_eq!(restart_mark(Kind::StatefulSet, &obj), Some(mark));
}

#[tokio::test]
async fn installing_on_existing_workloads_and_late_secrets_roll_nothing() {
    // The Secrets and workloads exist before stagesync restarts anything (an install or an
    // upgrade from a version without restarts).
    let mut r = Rig::configured("restart-install", |_| {}, |c| c.restart.enabled = false).await;
    aws_secret(&r, "db", "x").await;
    add(
        &r,
        Kind::Deployment,
        "web",
        reload(),
        pod_template("env", "db", false),
    )
    .await;
    // This one waits for a Secret that does not exist yet.
    add(
        &r,
        Kind::DaemonSet,
        "agent",
        reload(),
        pod_template("volume", "late", false),
    )
    .await;
    let g_web = generation(r.client(), &r.ns, Kind::Deployment, "web").await;
    let g_agent = generation(r.client(), &r.ns, Kind::DaemonSet, "agent").await;

    r.config.restart.enabled = true;
    r.restart_operator().await;
    wait_recorded(r.client(), &r.ns, Kind::Deployment, "web", &["db"]).await;
    wait_recorded(r.client(), &r.ns, Kind::DaemonSet, "agent", &["late"]).await;
    // The initial sync of the Secret the DaemonSet waits for.
    aws_secret(&r, "late", "first").await;
    let agent = wait_recorded(r.client(), &r.ns, Kind::DaemonSet, "agent", &["late"]).await;
    let web = get(r.client(), &r.ns, Kind::Deployment, "web").await;
    assert_eq!(web.metadata.generation.unwrap(), g_web);
    assert_eq!(agent.metadata.generation.unwrap(), g_agent);
    assert_eq!(restart_mark(Kind::Deployment, &web), None);
    assert_eq!(restart_mark(Kind::DaemonSet, &agent), None);
    assert!(agent.annotations()[ANNOTATION_SECRETS_SEEN].starts_with("late="));
}

#[tokio::test]
async fn a_paused_deployment_rolls_once_when_resumed() {
    let r = Rig::start("restart-paused", |_| {}).await;
    let key = aws_secret(&r, "db", "1").await;
    let mut manifest = workload(
        Kind::Deployment,
        "web",
        reload(),
        pod_template("env", "db", false),
    );
    manifest["spec"]["paused"] = json!(true);
    create(r.client(), &r.ns, Kind::Deployment, manifest).await;
    let g0 = wait_recorded(r.client(), &r.ns, Kind::Deployment, "web", &["db"])
        .await
        .metadata
        .generation
        .unwrap();
    put_current(&r.aws, &key, "2").await;
    eventually(WAIT, "RestartHeld event", || async {
        typed_events_about(r.client(), &r.ns, "web")
            .await
            .into_iter()
            .find(|e| e.1 == "RestartHeld")
    })
    .await;
    let held = get(r.client(), &r.ns, Kind::Deployment, "web").await;
    assert_eq!(
        held.metadata.generation.unwrap(),
        g0,
        "a paused Deployment was changed"
    );
    assert_eq!(restart_mark(Kind::Deployment, &held), None);

    api(r.client(), &r.ns, Kind::Deployment)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": false}})),
        )
        .await
        .unwrap();
    wait_restarted(&r, Kind::Deployment, "web", None).await;
    let obj = wait_recorded(r.client(), &r.ns, Kind::Deployment, "web", &["db"]).await;
    // Resuming is one spec change, the rollout the other.
    assert_eq!(obj.metadata.generation.unwrap(), g0 + 2);
}

#[tokio::test]
async fn reload_secrets_names_secrets_the_template_does_not_use() {
    let r = Rig::start("restart-named", |_| {}).await;
    let key = aws_secret(&r, "license", "l1").await;
    // The container reads the license from a file the platform mounts some other way.
    let annotations = json!({"stagesync.io/reload-secrets": "license, unrelated-name"});
    add(
        &r,
        Kind::Deployment,
        "web",
        annotations,
        pod_template("env", "some-other", false),
    )
    .await;
    wait_recorded(r.client(), &r.ns, Kind::Deployment, "web", &["license"]).await;
    put_current(&r.aws, &key, "l2").await;
    wait_restarted(&r, Kind::Deployment, "web", None).await;
}

#[tokio::test]
async fn strategy_none_records_and_reports_without_restarting() {
    let r = Rig::start("restart-none", |_| {}).await;
    let key = aws_secret(&r, "db", "1").await;
    let annotations =
        json!({"stagesync.io/reload": "true", "stagesync.io/reload-strategy": "none"});
    add(
        &r,
        Kind::Deployment,
        "web",
        annotations,
        pod_template("env", "db", false),
    )
    .await;
    let g0 = wait_recorded(r.client(), &r.ns, Kind::Deployment, "web", &["db"])
        .await
        .metadata
        .generation;
    put_current(&r.aws, &key, "2").await;
    wait_data(r.client(), &r.ns, "db", &[("v", "2")]).await;
    let obj = wait_recorded(r.client(), &r.ns, Kind::Deployment, "web", &["db"]).await;
    assert_eq!(obj.metadata.generation, g0);
    assert_eq!(restart_mark(Kind::Deployment, &obj), None);
    let events = restart_events(&r, "web", "RestartSkipped").await;
    assert!(
        events
            .iter()
            .any(|e| e.1 == "RestartSkipped" && e.2.contains("reload-strategy none")),
        "{events:?}"
    );
}

#[tokio::test]
async fn rollouts_beyond_the_rate_limit_queue_in_order_and_none_is_dropped() {
    const WORKLOADS: usize = 24;
    let r = Rig::configured(
        "restart-rate",
        |_| {},
        |c| c.restart.max_rollouts_per_minute = 20,
    )
    .await;
    let key = aws_secret(&r, "shared", "1").await;
    for i in 0..WORKLOADS {
        let name = format!("w{i:02}");
        add(
            &r,
            Kind::Deployment,
            &name,
            reload(),
            pod_template("env", "shared", false),
        )
        .await;
    }
    for i in 0..WORKLOADS {
        wait_recorded(
            r.client(),
            &r.ns,
            Kind::Deployment,
            &format!("w{i:02}"),
            &["shared"],
        )
        .await;
    }
    let started = std::time::Instant::now();
    put_current(&r.aws, &key, "2").await;
    let metrics = r.operator.metrics.clone();
    let queued = eventually(WAIT, "rollouts queued", || async {
        let text = metrics.render();
        text.lines()
            .find(|l| l.starts_with("stagesync_restart_queue_length "))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .filter(|n| *n > 0)
    })
    .await;
    assert!(
        queued <= (WORKLOADS - 20) as u64,
        "burst of 20 then queued: {queued}"
    );
    for i in 0..WORKLOADS {
        let name = format!("w{i:02}");
        wait_restarted(&r, Kind::Deployment, &name, None).await;
    }
    // 20 at once, then one every 3 s: the last 4 cannot all be done sooner than ~9 s.
    assert!(
        started.elapsed() >= Duration::from_secs(8),
        "the rate limit was not applied: {:?}",
        started.elapsed()
    );
    for i in 0..WORKLOADS {
        let obj = wait_recorded(
            r.client(),
            &r.ns,
            Kind::Deployment,
            &format!("w{i:02}"),
            &["shared"],
        )
        .await;
        assert_eq!(
            obj.metadata.generation,
            Some(2),
            "w{i:02} rolled more than once"
        );
    }
}

#[tokio::test]
async fn reloader_annotations_are_honoured_in_compatible_mode() {
    let r = Rig::configured(
        "restart-reloader",
        |_| {},
        |c| c.restart.reloader_compatible = true,
    )
    .await;
    // Secrets stagesync does not manage, as Reloader users have them.
    create_secret(r.client(), &r.ns, "plain", json!({"v": "1"})).await;
    create_secret(r.client(), &r.ns, "named", json!({"v": "1"})).await;
    let secrets =
        kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(r.client().clone(), &r.ns);
    add(
        &r,
        Kind::Deployment,
        "auto",
        json!({"reloader.stakater.com/auto": "true"}),
        pod_template("envFrom", "plain", false),
    )
    .await;
    add(
        &r,
        Kind::Deployment,
        "secret-auto",
        json!({"secret.reloader.stakater.com/auto": "true"}),
        pod_template("volume", "plain", false),
    )
    .await;
    add(
        &r,
        Kind::StatefulSet,
        "named",
        json!({"secret.reloader.stakater.com/reload": "named"}),
        pod_template("env", "x", false),
    )
    .await;
    wait_recorded(r.client(), &r.ns, Kind::Deployment, "auto", &["plain"]).await;
    wait_recorded(
        r.client(),
        &r.ns,
        Kind::Deployment,
        "secret-auto",
        &["plain"],
    )
    .await;
    wait_recorded(r.client(), &r.ns, Kind::StatefulSet, "named", &["named"]).await;
    let change = |name: &'static str, v: &'static str| {
        let secrets = secrets.clone();
        async move {
            secrets
                .patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"stringData": {"v": v}})),
                )
                .await
                .unwrap();
        }
    };
    change("plain", "2").await;
    change("named", "2").await;
    wait_restarted(&r, Kind::Deployment, "auto", None).await;
    wait_restarted(&r, Kind::Deployment, "secret-auto", None).await;
    wait_restarted(&r, Kind::StatefulSet, "named", None).await;

    // reloader.stakater.com/ignore on the Secret: its changes restart nothing.
    secrets
        .patch(
            "plain",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"reloader.stakater.com/ignore": "true"}}}),
            ),
        )
        .await
        .unwrap();
    let auto = wait_recorded(r.client(), &r.ns, Kind::Deployment, "auto", &[]).await;
    change("plain", "3").await;
    change("named", "3").await;
    wait_restarted(
        &r,
        Kind::StatefulSet,
        "named",
        restart_mark(
            Kind::StatefulSet,
            &get(r.client(), &r.ns, Kind::StatefulSet, "named").await,
        )
        .filter(|_| false),
    )
    .await;
    let named = wait_recorded(r.client(), &r.ns, Kind::StatefulSet, "named", &["named"]).await;
    assert_eq!(
        named.metadata.generation,
        Some(3),
        "named: one rollout per change"
    );
    let after = get(r.client(), &r.ns, Kind::Deployment, "auto").await;
    assert_eq!(
        after.metadata.generation, auto.metadata.generation,
        "an ignored Secret restarted a workload"
    );
}

#[tokio::test]
async fn reapplying_the_manifest_from_git_neither_removes_the_hash_nor_rolls() {
    let r = Rig::start("restart-gitops", |_| {}).await;
    let key = aws_secret(&r, "db", "1").await;
    let manifest = workload(
        Kind::Deployment,
        "web",
        reload(),
        pod_template("env", "db", false),
    );
    // Argo CD / Flux apply the manifest from Git with their own field manager.
    let gitops = PatchParams::apply("argocd-controller").force();
    api(r.client(), &r.ns, Kind::Deployment)
        .patch("web", &gitops, &Patch::Apply(&manifest))
        .await
        .unwrap();
    wait_recorded(r.client(), &r.ns, Kind::Deployment, "web", &["db"]).await;
    put_current(&r.aws, &key, "2").await;
    let mark = wait_restarted(&r, Kind::Deployment, "web", None).await;
    let g1 = wait_recorded(r.client(), &r.ns, Kind::Deployment, "web", &["db"])
        .await
        .metadata
        .generation;

    api(r.client(), &r.ns, Kind::Deployment)
        .patch("web", &gitops, &Patch::Apply(&manifest))
        .await
        .unwrap();
    let obj = get(r.client(), &r.ns, Kind::Deployment, "web").await;
    assert_eq!(
        restart_mark(Kind::Deployment, &obj),
        Some(mark),
        "the re-apply removed the hash"
    );
    assert_eq!(
        obj.metadata.generation, g1,
        "the re-apply rolled the workload back"
    );
    assert!(obj.annotations().contains_key(ANNOTATION_SECRETS_SEEN));
}

#[tokio::test]
async fn rollout_outcome_is_reported_on_the_external_secret() {
    let r = Rig::start("restart-outcome", |_| {}).await;
    let key = aws_secret(&r, "db", "1").await;
    for name in ["good", "bad"] {
        add(
            &r,
            Kind::Deployment,
            name,
            reload(),
            pod_template("env", "db", false),
        )
        .await;
        wait_recorded(r.client(), &r.ns, Kind::Deployment, name, &["db"]).await;
    }
    put_current(&r.aws, &key, "2").await;
    for name in ["good", "bad"] {
        wait_restarted(&r, Kind::Deployment, name, None).await;
    }
    eventually(WAIT, "WorkloadsUpdated in progress", || async {
        es_condition(r.client(), &r.ns, "db", "WorkloadsUpdated")
            .await
            .filter(|c| c.0 == "Unknown" && c.1 == "RolloutInProgress")
    })
    .await;
    // The Deployment controller's report: "good" rolled, "bad" crash-loops past its deadline.
    let generation = generation(r.client(), &r.ns, Kind::Deployment, "good").await;
    set_status(r.client(), &r.ns, Kind::Deployment, "good", json!({"observedGeneration": generation, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "readyReplicas": 2})).await;
    set_status(r.client(), &r.ns, Kind::Deployment, "bad", json!({"observedGeneration": generation, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"bad-7d9\" has timed out progressing."}
    ]})).await;
    let (_, _, message) = eventually(WAIT, "RolloutStuck", || async {
        es_condition(r.client(), &r.ns, "db", "WorkloadsUpdated")
            .await
            .filter(|c| c.0 == "False" && c.1 == "RolloutStuck")
    })
    .await;
    assert!(
        message.contains("Deployment bad") && !message.contains("Deployment good"),
        "{message}"
    );
    eventually(WAIT, "a RolloutStuck warning", || async {
        typed_events_about(r.client(), &r.ns, "db")
            .await
            .into_iter()
            .find(|e| e.0 == "Warning" && e.1 == "RolloutStuck")
    })
    .await;
    // The fix rolls out: every restarted workload finished.
    set_status(r.client(), &r.ns, Kind::Deployment, "bad", json!({"observedGeneration": generation, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "conditions": [
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "done"}
    ]})).await;
    eventually(WAIT, "WorkloadsUpdated=True", || async {
        es_condition(r.client(), &r.ns, "db", "WorkloadsUpdated")
            .await
            .filter(|c| c.0 == "True" && c.1 == "RolloutFinished")
    })
    .await;
    assert!(
        visible_text(r.client(), &r.ns, "db")
            .await
            .contains("WorkloadsUpdated")
    );
}

#[tokio::test]
async fn bad_annotations_and_forbidden_patches_are_warnings_on_the_workload() {
    let r = Rig::start("restart-bad", |_| {}).await;
    let key = aws_secret(&r, "db", "1").await;
    let cases = [
        (
            "strategy",
            json!({"stagesync.io/reload": "true", "stagesync.io/reload-strategy": "sometimes"}),
            "sometimes",
        ),
        (
            "list",
            json!({"stagesync.io/reload-secrets": "db,,Not_A_Name"}),
            "Not_A_Name",
        ),
        ("flag", json!({"stagesync.io/reload": "yes"}), "\"yes\""),
    ];
    for (name, annotations, _) in &cases {
        add(
            &r,
            Kind::Deployment,
            name,
            annotations.clone(),
            pod_template("env", "db", false),
        )
        .await;
    }
    for (name, _, problem) in &cases {
        let (kind, _, note) = eventually(WAIT, &format!("warning on {name}"), || async {
            typed_events_about(r.client(), &r.ns, name)
                .await
                .into_iter()
                .find(|e| e.1 == "InvalidReloadAnnotation")
        })
        .await;
        assert_eq!(kind, "Warning");
        assert!(note.contains(problem), "{note}");
        let obj = get(r.client(), &r.ns, Kind::Deployment, name).await;
        assert!(
            !obj.annotations().contains_key(ANNOTATION_SECRETS_SEEN),
            "{name} was touched"
        );
    }
    let Some(faults) = r
        .cluster
        .faults("bad_annotations_and_forbidden_patches (forbidden part)")
    else {
        return;
    };
    add(
        &r,
        Kind::Deployment,
        "locked",
        reload(),
        pod_template("env", "db", false),
    )
    .await;
    wait_recorded(r.client(), &r.ns, Kind::Deployment, "locked", &["db"]).await;
    faults.add(apiserver_fake::FaultRule {
        verb: Some("patch".into()),
        resource: Some("deployments".into()),
        name: Some("locked".into()),
        status: Some(403),
        message: Some("deployments.apps \"locked\" is forbidden: User \"system:serviceaccount:stagesync:stagesync\" cannot patch resource \"deployments\"".into()),
        ..Default::default()
    });
    put_current(&r.aws, &key, "2").await;
    let (kind, _, note) = eventually(WAIT, "RestartFailed", || async {
        typed_events_about(r.client(), &r.ns, "locked")
            .await
            .into_iter()
            .find(|e| e.1 == "RestartFailed")
    })
    .await;
    assert_eq!(kind, "Warning");
    assert!(note.contains("forbidden"), "{note}");
    // The Secret is still written: a workload the operator may not patch costs nothing else.
    wait_data(r.client(), &r.ns, "db", &[("v", "2")]).await;
}
