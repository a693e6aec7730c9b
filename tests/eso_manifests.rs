//! Manifests written the way ESO's AWS documentation writes them (`tests/fixtures/eso/aws.yaml`,
//! every field ESO's v1 API has for AWS Secrets Manager) work with only `apiVersion` changed:
//! our CRDs admit every one of them unchanged, and the plain ones sync the Secrets ESO
//! documents.

mod support;

use std::collections::BTreeMap;

use apiserver_fake::schema::CrdSchema;
use serde_json::{Value, json};
use support::cluster::{TestCluster, test_policy};
use support::moto::moto;
use support::objects::*;

fn manifests() -> Vec<Value> {
    let text =
        std::fs::read_to_string(support::workspace_root().join("tests/fixtures/eso/aws.yaml"))
            .unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| {
            let mut doc: Value = serde::Deserialize::deserialize(d).unwrap();
            assert_eq!(doc["apiVersion"], "external-secrets.io/v1");
            doc["apiVersion"] = json!("stagesync.io/v1alpha1");
            doc
        })
        .collect()
}

#[test]
fn every_eso_manifest_is_admitted_unchanged() {
    let schemas: BTreeMap<String, CrdSchema> = stagesync::api::open_api_schemas()
        .into_iter()
        .map(|(kind, _, schema)| (kind, CrdSchema::new(&schema).unwrap()))
        .collect();
    let docs = manifests();
    assert!(docs.len() >= 7);
    for doc in &docs {
        let kind = doc["kind"].as_str().unwrap();
        if let Err(errors) = support::admission::admit_with(&schemas[kind], doc) {
            panic!("{kind} {} refused: {errors:#?}", doc["metadata"]["name"]);
        }
    }
}

#[tokio::test]
async fn the_documented_examples_sync_the_documented_secrets() {
    // The manifests name no endpoint, as ESO's documentation does: the SDK's own variable points
    // every Secrets Manager client of this test binary at moto.
    // SAFETY: no other thread reads the environment meanwhile (this binary's other test reads
    // no variable, and no client is built yet).
    unsafe { std::env::set_var("AWS_ENDPOINT_URL_SECRETS_MANAGER", &moto().endpoint) };
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace("eso-docs").await;
    create_secret(
        &cluster.client,
        &ns,
        "awssm-secret",
        json!({"access-key": "testing", "secret-access-key": "testing"}),
    )
    .await;
    let aws = moto().admin_client().await;
    let _ = aws
        .delete_secret()
        .secret_id("docs/db")
        .force_delete_without_recovery(true)
        .send()
        .await;
    create_aws(
        &aws,
        "docs/db",
        r#"{"username":"app","password":"p@ss word"}"#,
    )
    .await;
    let _operator = cluster.run_operator_with(
        test_policy(&moto().endpoint),
        stagesync::controller::ControllerConfig {
            namespaces: vec![ns.clone()],
            ..Default::default()
        },
    );
    let docs = manifests();
    let named = |name: &str| {
        let mut d = docs
            .iter()
            .find(|d| d["metadata"]["name"] == name)
            .unwrap()
            .clone();
        d["metadata"]["namespace"] = json!(ns);
        d
    };
    let store = named("aws-static");
    create_store_spec(&cluster.client, &ns, "aws-static", store["spec"].clone()).await;
    for es in ["db-credentials", "templated"] {
        create_es(&cluster.client, &ns, es, named(es)["spec"].clone()).await;
    }
    wait_data(
        &cluster.client,
        &ns,
        "db-credentials",
        &[("username", "app"), ("password", "p@ss word")],
    )
    .await;
    wait_data(
        &cluster.client,
        &ns,
        "templated",
        &[
            ("url", "postgresql://app:p%40ss+word@db:5432/app"),
            ("upper", "APP"),
            ("b64", "YXBw"),
        ],
    )
    .await;
}
