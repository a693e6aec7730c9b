//! Tests of `write::secret`: ownership, write modes, desired Secrets and apply results.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};

use super::*;
use crate::api::externalsecret::ExternalSecretSpec;

fn es(name: &str, policy: CreationPolicy) -> ExternalSecret {
    let mut es = ExternalSecret::new(name, ExternalSecretSpec::for_store("s"));
    es.spec.target.creation_policy = policy;
    es.metadata.namespace = Some("ns".into());
    es.metadata.uid = Some("uid-1".into());
    es
}

fn content(pairs: &[(&str, &str)]) -> DesiredContent {
    DesiredContent {
        data: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), SecretBytes::from((*v).to_owned())))
            .collect(),
        ..Default::default()
    }
}

fn with_annotation(key: &str, value: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            annotations: Some(BTreeMap::from([(key.to_owned(), value.to_owned())])),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn ownership_and_write_modes() {
    let ours = with_annotation(ANNOTATION_OWNER, "app");
    let theirs = with_annotation(ANNOTATION_OWNER, "other");
    let unmanaged = Secret::default();
    assert_eq!(ownership(None, "app"), Ownership::Missing);
    assert_eq!(ownership(Some(&ours), "app"), Ownership::Ours);
    assert!(
        matches!(ownership(Some(&theirs), "app"), Ownership::Foreign(o) if o.contains("other"))
    );
    assert!(matches!(
        ownership(Some(&unmanaged), "app"),
        Ownership::Foreign(_)
    ));

    use CreationPolicy::{CreateOrMerge, Merge, Orphan, Owner};
    let foreign = Ownership::Foreign("x".into());
    assert!(matches!(
        write_mode(Owner, &foreign, "s"),
        Err(WriteError::Conflict { .. })
    ));
    assert!(matches!(
        write_mode(Orphan, &foreign, "s"),
        Err(WriteError::Conflict { .. })
    ));
    assert_eq!(
        write_mode(Owner, &Ownership::Missing, "s").unwrap(),
        Some(WriteMode::Own)
    );
    assert_eq!(
        write_mode(Owner, &Ownership::Ours, "s").unwrap(),
        Some(WriteMode::Own)
    );
    assert!(matches!(
        write_mode(Merge, &Ownership::Missing, "s"),
        Err(WriteError::Missing { .. })
    ));
    assert_eq!(
        write_mode(Merge, &foreign, "s").unwrap(),
        Some(WriteMode::Merge)
    );
    assert_eq!(
        write_mode(CreateOrMerge, &Ownership::Missing, "s").unwrap(),
        Some(WriteMode::Own)
    );
    assert_eq!(
        write_mode(CreateOrMerge, &foreign, "s").unwrap(),
        Some(WriteMode::Merge)
    );
    assert_eq!(
        write_mode(CreationPolicy::None, &foreign, "s").unwrap(),
        None
    );
}

#[test]
fn owned_secret_shape() {
    let e = es("app", CreationPolicy::Owner);
    let s = desired_secret(&e, "target", WriteMode::Own, &content(&[("k", "v")]));
    assert_eq!(s.metadata.name.as_deref(), Some("target"));
    assert_eq!(s.metadata.namespace.as_deref(), Some("ns"));
    assert_eq!(s.labels()[LABEL_MANAGED], "true");
    assert_eq!(s.labels()[LABEL_MANAGED_BY], "stagesync");
    assert_eq!(s.annotations()[ANNOTATION_OWNER], "app");
    assert_eq!(s.annotations()[ANNOTATION_DATA_HASH].len(), 64);
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
        ("ExternalSecret", "app", "uid-1")
    );
    assert_eq!(owner.controller, Some(true));

    let orphan = desired_secret(
        &es("app", CreationPolicy::Orphan),
        "t",
        WriteMode::Own,
        &content(&[]),
    );
    assert!(orphan.metadata.owner_references.is_none());
}

#[test]
fn merged_secret_shape() {
    let e = es("app", CreationPolicy::Merge);
    let s = desired_secret(&e, "t", WriteMode::Merge, &content(&[("k", "v")]));
    assert!(s.metadata.owner_references.is_none());
    assert!(s.type_.is_none());
    assert!(!s.labels().contains_key(LABEL_MANAGED_BY));
    assert!(!s.annotations().contains_key(ANNOTATION_OWNER));
    assert_eq!(s.annotations()["merge.stagesync.io/app"], "app");
    assert_eq!(field_manager(WriteMode::Merge, "app"), "stagesync:app");
    let long = "a".repeat(200);
    assert!(merged_annotation(&long).len() <= ANNOTATION_MERGED_PREFIX.len() + 63);
    assert!(field_manager(WriteMode::Merge, &long).len() <= 128);
}

#[test]
fn hash_is_salted_and_tracks_data() {
    let a = content(&[("k", "v")]).data;
    let b = content(&[("k", "w")]).data;
    assert_ne!(data_hash("uid", &a), data_hash("uid", &b));
    assert_ne!(data_hash("uid-1", &a), data_hash("uid-2", &a));
    assert_eq!(data_hash("uid", &a), data_hash("uid", &a));
    // Length-prefixing keeps ("ab","c") and ("a","bc") apart.
    assert_ne!(
        data_hash("u", &content(&[("ab", "c")]).data),
        data_hash("u", &content(&[("a", "bc")]).data)
    );
}

#[test]
fn needs_apply_detects_changes_and_removals() {
    let e = es("app", CreationPolicy::Owner);
    let desired = desired_secret(&e, "t", WriteMode::Own, &content(&[("a", "1")]));
    assert!(needs_apply(None, &desired, "stagesync"));
    let mut live = desired.clone();
    let managed = |data_keys: &[&str]| {
        let data: serde_json::Map<String, Value> = data_keys
            .iter()
            .map(|k| (format!("f:{k}"), json!({})))
            .collect();
        let labels: serde_json::Map<String, Value> = desired
            .labels()
            .keys()
            .map(|k| (format!("f:{k}"), json!({})))
            .collect();
        let annotations: serde_json::Map<String, Value> = desired
            .annotations()
            .keys()
            .map(|k| (format!("f:{k}"), json!({})))
            .collect();
        vec![ManagedFieldsEntry {
            manager: Some("stagesync".into()),
            operation: Some("Apply".into()),
            fields_v1: Some(FieldsV1(json!({
                "f:data": data,
                "f:metadata": {"f:labels": labels, "f:annotations": annotations},
            }))),
            ..Default::default()
        }]
    };
    live.metadata.managed_fields = Some(managed(&["a"]));
    live.metadata.resource_version = Some("7".into());
    assert!(
        !needs_apply(Some(&live), &desired, "stagesync"),
        "identical: no write"
    );

    let changed = desired_secret(&e, "t", WriteMode::Own, &content(&[("a", "2")]));
    assert!(
        needs_apply(Some(&live), &changed, "stagesync"),
        "a value changed"
    );

    live.metadata.managed_fields = Some(managed(&["a", "gone"]));
    live.data
        .as_mut()
        .unwrap()
        .insert("gone".into(), ByteString(b"x".to_vec()));
    assert!(
        needs_apply(Some(&live), &desired, "stagesync"),
        "a key we own must be removed"
    );

    live.metadata.managed_fields = Some(managed(&["a"]));
    assert!(
        !needs_apply(Some(&live), &desired, "stagesync"),
        "someone else's extra key is left alone"
    );
}

#[test]
fn an_api_refusal_is_told_without_the_value_it_quotes() {
    let status: kube::core::Status = serde_json::from_value(json!({
        "status": "Failure", "code": 422, "reason": "Invalid",
        "message": "Secret \"db\" is invalid: metadata.labels: Invalid value: \"hunter2-secret\": a valid label must ...",
        "details": {"name": "db", "kind": "Secret", "causes": [{
            "reason": "FieldValueInvalid",
            "message": "Invalid value: \"hunter2-secret\": a valid label must ...",
            "field": "metadata.labels",
        }]},
    }))
    .unwrap();
    let err = WriteError::Kube {
        secret: "db".into(),
        error: kube::Error::Api(Box::new(status.clone())),
    };
    let shown = format!("{err} {err:?} {err:#?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains("metadata.labels: Invalid value: \"<redacted>\": a valid label")
            && shown.contains("422"),
        "{shown}"
    );
    // Fields that come from the spec are told whole; the API server's own redaction stays.
    let cause = |field: &str, message: &str| json!({"field": field, "message": message, "reason": "FieldValueInvalid"});
    let mixed: kube::core::Status = serde_json::from_value(json!({
        "code": 422, "reason": "Invalid", "message": "...",
        "details": {"causes": [
            cause("type", "Invalid value: \"kubernetes.io/tls\": field is immutable"),
            cause("data[.dockerconfigjson]", "Invalid value: \"<secret contents redacted>\": invalid character"),
            cause("data[tls.key]", "Required value"),
            cause("data", "Invalid value: \"a \\\"quoted\\\" hunter2\": odd"),
        ]},
    }))
    .unwrap();
    let told = api_refusal(&kube::Error::Api(Box::new(mixed)));
    assert_eq!(
        told,
        "Invalid (422): type: Invalid value: \"kubernetes.io/tls\": field is immutable; \
         data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": invalid \
         character; data[tls.key]: Required value; data: Invalid value: \"<redacted>\": odd"
    );
    // Without causes, an invalid object is told by its reason only.
    let mut bare = status;
    bare.details = None;
    let told = api_refusal(&kube::Error::Api(Box::new(bare)));
    assert_eq!(told, "Invalid (422)");
}
