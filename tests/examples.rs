//! Every manifest in `examples/` is valid against the CRD schemas generated from the types —
//! checked with the same validator the API server fake uses (pruning, defaulting, types, enums,
//! patterns, CEL rules) — and contains no field the schema would silently drop.

mod support;

use std::path::PathBuf;

use apiserver_fake::schema::CrdSchema;
use serde_json::{Value, json};
use stagesync::api::crds;

fn schema_for(kind: &str) -> CrdSchema {
    let (_, crd) = crds()
        .into_iter()
        .find(|(_, c)| c.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for {kind}"));
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .unwrap()
        .open_api_v3_schema
        .as_ref()
        .unwrap();
    CrdSchema::new(&serde_json::to_value(schema).unwrap()).expect("the generated schema compiles")
}

/// Admits a stagesync object; returns the admitted object or the validation messages.
fn admit(doc: &Value) -> Result<Value, Vec<String>> {
    support::admission::admit_with(&schema_for(doc["kind"].as_str().unwrap()), doc)
}

#[test]
fn every_example_manifest_is_valid() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let doc: Value = serde::Deserialize::deserialize(doc).unwrap();
            if doc["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("stagesync.io/"))
            {
                if let Err(errors) = admit(&doc) {
                    panic!("{} is invalid: {errors:#?}", path.display());
                }
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 4,
        "expected the example stores and ExternalSecrets, checked {checked}"
    );
}

fn es(remote_ref: Value) -> Value {
    json!({
        "apiVersion": "stagesync.io/v1alpha1", "kind": "ExternalSecret",
        "metadata": {"name": "x", "namespace": "ns"},
        "spec": {"secretStoreRef": {"name": "s"}, "data": [{"secretKey": "k", "remoteRef": remote_ref}]},
    })
}

#[test]
fn the_validator_catches_what_the_api_server_would() {
    // Defaults applied as the API server applies them.
    let admitted = admit(&es(json!({"key": "a"}))).unwrap();
    assert_eq!(admitted["spec"]["refreshInterval"], "1h");
    assert_eq!(admitted["spec"]["target"]["creationPolicy"], "Owner");
    assert_eq!(admitted["spec"]["secretStoreRef"]["kind"], "SecretStore");
    // CEL: versionStage and versionId are mutually exclusive.
    let errors = admit(&es(json!({"key": "a", "versionStage": "AWSCURRENT", "versionId": "0123456789abcdef0123456789abcdef"}))).unwrap_err();
    assert!(
        errors.iter().any(|e| e.contains("mutually exclusive")),
        "{errors:?}"
    );
    // Enums, patterns, typos.
    assert!(admit(&es(json!({"key": "a", "decodingStrategy": "Base32"}))).is_err());
    let mut bad_interval = es(json!({"key": "a"}));
    bad_interval["spec"]["refreshInterval"] = json!("1 day");
    assert!(admit(&bad_interval).is_err());
    let errors = admit(&es(json!({"key": "a", "proprety": "typo"}))).unwrap_err();
    assert!(errors.iter().any(|e| e.contains("proprety")), "{errors:?}");
    // A version-tracking mode that does not exist is refused at admission.
    let store = |mode: &str| {
        json!({
            "apiVersion": "stagesync.io/v1alpha1", "kind": "SecretStore",
            "metadata": {"name": "s", "namespace": "ns"},
            "spec": {"provider": {"aws": {
                "service": "SecretsManager", "region": "eu-west-1",
                "versionTracking": {"mode": mode},
            }}},
        })
    };
    assert!(admit(&store("Describe")).is_ok());
    let errors = admit(&store("Poll")).unwrap_err();
    assert!(
        errors.iter().any(|e| e.contains("versionTracking.mode")),
        "{errors:?}"
    );
}
