//! The migration story end to end: ESO and Reloader manifests (`tests/fixtures/migrate/
//! roundtrip.yaml`) go through `stagesync migrate`, are applied, and the operator writes the
//! Secrets the ESO originals describe, with the exact data; the migrated Deployment is
//! recognised as opting in to restarts (stagesync records what it saw on it); and a Secret ESO
//! wrote before is handed over as `docs/migration.md` says: left untouched (`SecretConflict`)
//! until it is deleted and the ExternalSecret nudged, then written.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};
use stagesync::api::{ClusterSecretStore, ExternalSecret, SecretStore};
use stagesync::controller::ControllerConfig;
use stagesync::restart::workload::Kind;
use support::cluster::{TestCluster, test_policy};
use support::moto::moto;
use support::objects::*;
use support::unique_name;
use support::workloads::wait_recorded;

/// `stagesync migrate -` on `text`: (stdout, stderr, exit code).
fn migrate(text: &str) -> (String, String, i32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagesync"))
        .args(["migrate", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap(),
    )
}

/// The API resource of a migrated document.
fn resource(doc: &Value) -> ApiResource {
    match (doc["apiVersion"].as_str(), doc["kind"].as_str()) {
        (Some("stagesync.io/v1alpha1"), Some("ExternalSecret")) => {
            ApiResource::erase::<ExternalSecret>(&())
        }
        (Some("stagesync.io/v1alpha1"), Some("SecretStore")) => {
            ApiResource::erase::<SecretStore>(&())
        }
        (Some("stagesync.io/v1alpha1"), Some("ClusterSecretStore")) => {
            ApiResource::erase::<ClusterSecretStore>(&())
        }
        (Some("apps/v1"), Some("Deployment")) => Kind::Deployment.api_resource(),
        other => panic!("not migrated: {other:?}"),
    }
}

/// Server-side applies a document, as `kubectl apply --server-side` does.
async fn apply(client: &kube::Client, doc: &Value) {
    let ar = resource(doc);
    let name = doc["metadata"]["name"].as_str().unwrap();
    let api: Api<DynamicObject> = match doc["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    api.patch(
        name,
        &PatchParams::apply("kubectl").force(),
        &Patch::Apply(doc),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {} {name}: {e}", ar.kind));
}

#[tokio::test]
async fn migrated_eso_and_reloader_manifests_do_what_the_originals_did() {
    // ESO's manifests name no endpoint: the SDK's own variable points every Secrets Manager
    // client of this test binary at moto.
    // SAFETY: this binary's only test sets it before any client exists or any thread reads it.
    unsafe { std::env::set_var("AWS_ENDPOINT_URL_SECRETS_MANAGER", &moto().endpoint) };
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace("migrate").await;
    let client = &cluster.client;
    create_credentials(client, &ns).await;
    let aws = moto().admin_client().await;
    let (db_key, token_key) = (unique_name("migrate/db"), unique_name("migrate/token"));
    create_aws(
        &aws,
        &db_key,
        r#"{"username":"app","password":"p@ss word"}"#,
    )
    .await;
    create_aws(&aws, &token_key, "t0ken").await;
    let cluster_store = unique_name("migrate-shared");
    let original = std::fs::read_to_string(
        support::workspace_root().join("tests/fixtures/migrate/roundtrip.yaml"),
    )
    .unwrap()
    .replace("NAMESPACE", &ns)
    .replace("CLUSTER_STORE", &cluster_store)
    .replace("DB_KEY", &db_key)
    .replace("TOKEN_KEY", &token_key);

    let (migrated, report, code) = migrate(&original);
    assert_eq!(code, 0, "everything translates: {report}");
    assert!(report.contains("[ces-namespaces]"), "{report}");
    assert!(!migrated.contains("external-secrets.io"), "{migrated}");
    assert!(!migrated.contains("reloader.stakater.com"), "{migrated}");

    // The Secret ESO wrote for `handed-over` before the switch.
    let secrets = Api::<Secret>::namespaced(client.clone(), &ns);
    let mut eso_secret = plain_secret(&ns, "handed-over", json!({"token": "written by ESO"}));
    eso_secret.metadata.labels = Some(
        [(
            "reconcile.external-secrets.io/managed".to_owned(),
            "true".to_owned(),
        )]
        .into(),
    );
    secrets
        .create(&PostParams::default(), &eso_secret)
        .await
        .unwrap();

    let _operator = cluster.run_operator_with(
        test_policy(&moto().endpoint),
        ControllerConfig {
            namespaces: vec![ns.clone()],
            ..ControllerConfig::default()
        },
    );
    for document in serde_yaml_ng::Deserializer::from_str(&migrated) {
        let doc: Value = serde::Deserialize::deserialize(document).unwrap();
        apply(client, &doc).await;
    }

    wait_data(
        client,
        &ns,
        "db-credentials",
        &[("username", "app"), ("password", "p@ss word")],
    )
    .await;
    wait_data(
        client,
        &ns,
        "dsn",
        &[
            ("url", "postgresql://app:p%40ss+word@db:5432/app"),
            ("user", "APP"),
        ],
    )
    .await;
    wait_data(client, &ns, "shared-token", &[("token", "t0ken")]).await;
    // The migrated Deployment opted in: stagesync records the Secret it uses on it.
    wait_recorded(client, &ns, Kind::Deployment, "api", &["db-credentials"]).await;

    // The handover: untouched while ESO's Secret is there...
    let (status, message) = wait_reason(client, &ns, "handed-over", "SecretConflict").await;
    assert_eq!(status, "False");
    assert!(message.contains("handed-over"), "{message}");
    assert_eq!(
        secret_data(client, &ns, "handed-over").await.unwrap(),
        expected_data(&[("token", "written by ESO")])
    );
    // ...then written once it is deleted and the ExternalSecret nudged.
    secrets
        .delete("handed-over", &DeleteParams::default())
        .await
        .unwrap();
    annotate_es(client, &ns, "handed-over", json!({"force-sync": "1"})).await;
    wait_data(client, &ns, "handed-over", &[("token", "t0ken")]).await;
}
