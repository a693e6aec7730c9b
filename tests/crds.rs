//! The CRDs in `crds/` are generated from the Rust types: they must not drift, `stagesync crds`
//! must print exactly them, and every field must be documented so `kubectl explain` helps.
//!
//! After changing the types, regenerate with `STAGESYNC_UPDATE_CRDS=1 cargo test --test crds`.

use std::path::PathBuf;
use std::process::Command;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;
use stagesync::api::{crd_yaml, crds};

fn crds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crds")
}

#[test]
fn crd_files_match_the_types() {
    let update = std::env::var_os("STAGESYNC_UPDATE_CRDS").is_some();
    let mut drifted = Vec::new();
    for (file, crd) in crds() {
        let path = crds_dir().join(file);
        let wanted = crd_yaml(&crd);
        if update {
            std::fs::write(&path, &wanted).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(wanted.as_str()) {
            drifted.push(file);
        }
    }
    assert!(
        drifted.is_empty(),
        "crds/ differs from the Rust types for {drifted:?}: run STAGESYNC_UPDATE_CRDS=1 cargo test --test crds"
    );
    let mut on_disk: Vec<String> = std::fs::read_dir(crds_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let generated: Vec<&str> = crds().iter().map(|(f, _)| *f).collect();
    assert_eq!(on_disk, generated, "crds/ holds exactly one file per CRD");
}

#[test]
fn stagesync_crds_prints_the_crd_files_in_name_order() {
    let out = Command::new(env!("CARGO_BIN_EXE_stagesync"))
        .arg("crds")
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut files: Vec<PathBuf> = std::fs::read_dir(crds_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let concatenated: Vec<u8> = files
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(concatenated).unwrap()
    );
}

#[test]
fn stagesync_version_prints_the_crate_version() {
    let out = Command::new(env!("CARGO_BIN_EXE_stagesync"))
        .arg("version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("stagesync {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// Collects the paths of schema nodes without a description.
fn undocumented(schema: &Value, path: &str, out: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else {
        return;
    };
    if !obj.contains_key("description") {
        out.push(path.to_owned());
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            undocumented(sub, &format!("{path}.{name}"), out);
        }
    }
    if let Some(items) = obj.get("items") {
        // List items are explained by the list's own description when they are scalars.
        if items.get("properties").is_some() {
            undocumented(items, &format!("{path}[]"), out);
        }
    }
    if let Some(extra) = obj
        .get("additionalProperties")
        .filter(|v| v.get("properties").is_some())
    {
        undocumented(extra, &format!("{path}{{}}"), out);
    }
}

#[test]
fn every_field_has_a_description() {
    for (file, crd) in crds() {
        for version in &crd.spec.versions {
            let schema = serde_json::to_value(
                version
                    .schema
                    .as_ref()
                    .unwrap()
                    .open_api_v3_schema
                    .as_ref()
                    .unwrap(),
            )
            .unwrap();
            let mut missing = Vec::new();
            for (name, sub) in schema["properties"].as_object().unwrap() {
                // apiVersion, kind and metadata are described by Kubernetes itself.
                if !matches!(name.as_str(), "apiVersion" | "kind" | "metadata") {
                    undocumented(sub, name, &mut missing);
                }
            }
            assert!(
                missing.is_empty(),
                "{file}: fields without description: {missing:#?}"
            );
        }
    }
}

#[test]
fn names_columns_and_validation_rules() {
    let all = crds();
    for (_, crd) in &all {
        assert_eq!(crd.spec.group, "stagesync.io");
        let short = crd.spec.names.short_names.clone().unwrap_or_default();
        assert!(!short.is_empty());
        for taken in ["es", "ss", "css"] {
            assert!(
                !short.iter().any(|s| s == taken),
                "{short:?} collides with ESO's {taken}"
            );
        }
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version.subresources.as_ref().unwrap().status.is_some(),
            "status subresource"
        );
    }
    let es = &all
        .iter()
        .find(|(f, _)| f.starts_with("externalsecrets"))
        .unwrap()
        .1;
    assert_eq!(
        column_names(es),
        [
            "Store",
            "Refresh Interval",
            "Ready",
            "Reason",
            "Last Refresh",
            "Age"
        ]
    );
    let yaml = crd_yaml(es);
    assert!(yaml.contains("!(has(self.versionStage) && has(self.versionId))"));
    let stores: Vec<_> = all
        .iter()
        .filter(|(f, _)| f.contains("secretstores"))
        .collect();
    for (_, crd) in stores {
        assert_eq!(column_names(crd), ["Region", "Ready", "Age"]);
    }
}

/// The `kubectl get` columns of a CRD's first version.
fn column_names(crd: &CustomResourceDefinition) -> Vec<String> {
    crd.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.clone())
        .collect()
}

/// Every leaf field of a CRD schema below `path` (`[]` for list items).
fn leaf_fields(schema: &Value, path: &str, out: &mut Vec<String>) {
    if let Some(props) = schema["properties"].as_object() {
        for (k, v) in props {
            leaf_fields(v, &format!("{path}.{k}"), out);
        }
    } else if schema["type"] == "array" {
        leaf_fields(&schema["items"], &format!("{path}[]"), out);
    } else {
        out.push(path.to_owned());
    }
}

/// The field paths named by the README's ESO table: `spec.a.b` absolute, `.c` a sibling of the
/// last absolute path.
fn readme_fields() -> Vec<String> {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let table = readme
        .split("<!-- eso-fields:begin -->")
        .nth(1)
        .and_then(|t| t.split("<!-- eso-fields:end -->").next())
        .expect("README has the ESO fields table");
    let mut out = Vec::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let field = row.split('|').nth(1).unwrap();
        let mut last = String::new();
        for token in field.split('`').skip(1).step_by(2) {
            let full = match token.strip_prefix('.') {
                Some(rel) => format!("{}.{rel}", last.rsplit_once('.').map_or("", |(p, _)| p)),
                None => token.to_owned(),
            };
            last = full.clone();
            out.push(full);
        }
    }
    out
}

#[test]
fn the_readme_says_what_becomes_of_every_eso_field() {
    let named = readme_fields();
    let mut missing = Vec::new();
    for (_, crd) in stagesync::api::crds() {
        let schema = serde_json::to_value(
            crd.spec.versions[0]
                .schema
                .as_ref()
                .unwrap()
                .open_api_v3_schema
                .as_ref()
                .unwrap(),
        )
        .unwrap();
        let mut fields = Vec::new();
        leaf_fields(&schema["properties"]["spec"], "spec", &mut fields);
        for f in fields {
            let covered = named.iter().any(|n| {
                f == *n || f.starts_with(&format!("{n}.")) || f.starts_with(&format!("{n}[]"))
            });
            if !covered {
                missing.push(format!("{}: {f}", crd.spec.names.kind));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "fields without a row in README's ESO table: {missing:#?}"
    );
}

/// Admits `doc` as the API server fake (and a real API server) would with our CRD of its kind;
/// the refusal messages otherwise.
fn admit(doc: &Value) -> Result<(), Vec<String>> {
    let kind = doc["kind"].as_str().unwrap();
    let (_, crd) = crds()
        .into_iter()
        .find(|(_, c)| c.spec.names.kind == kind)
        .unwrap();
    let schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap();
    let mut doc = doc.clone();
    apiserver_fake::schema::CrdSchema::new(&schema)
        .unwrap()
        .admit(&mut doc, None)
        .map_err(|causes| {
            causes
                .into_iter()
                .map(|c| format!("{}: {}", c.field, c.message))
                .collect()
        })
}

fn object(kind: &str, spec: Value) -> Value {
    serde_json::json!({
        "apiVersion": "stagesync.io/v1alpha1", "kind": kind,
        "metadata": {"name": "x", "namespace": "team"},
        "spec": spec,
    })
}

/// `base` with the top-level fields of `change` replaced.
fn with(base: &Value, change: Value) -> Value {
    let mut out = base.clone();
    for (k, v) in change.as_object().unwrap() {
        out[k] = v.clone();
    }
    out
}

/// The checks ESO's admission webhook makes on an ExternalSecret (`externalsecret_validator.go`),
/// as CEL rules of our CRD with ESO's messages: what ESO refuses is refused, what it admits is
/// admitted. (Two `data` entries writing one key under `deletionPolicy: Retain` is checked at run
/// time instead, see `controller::sources::unsupported`.)
#[test]
fn eso_webhook_rules_for_external_secrets_are_cel_rules() {
    use serde_json::json;
    let base = json!({
        "secretStoreRef": {"name": "aws"},
        "data": [{"secretKey": "k", "remoteRef": {"key": "app/db"}}],
    });
    let es = |change: Value| object("ExternalSecret", with(&base, change));
    let tpl = |template: Value| es(json!({"target": {"template": template}}));
    let sa_token = "kubernetes.io/service-account-token";
    let refused = [
        (
            es(json!({"data": []})),
            "either data or dataFrom should be specified",
        ),
        (
            es(json!({"target": {"creationPolicy": "Merge", "deletionPolicy": "Delete"}})),
            "deletionPolicy=Delete must not be used when the controller doesn't own the secret",
        ),
        (
            es(json!({"target": {"creationPolicy": "CreateOrMerge", "deletionPolicy": "Delete"}})),
            "deletionPolicy=Delete must not be used when the controller doesn't own the secret",
        ),
        (
            es(json!({"target": {"creationPolicy": "None", "deletionPolicy": "Delete"}})),
            "deletionPolicy=Delete must not be used when the controller doesn't own the secret",
        ),
        (
            es(json!({"target": {"creationPolicy": "None", "deletionPolicy": "Merge"}})),
            "deletionPolicy=Merge must not be used with creationPolicy=None",
        ),
        (
            tpl(
                json!({"type": sa_token, "metadata": {"annotations": {"kubernetes.io/service-account.name": "default"}}}),
            ),
            r#"with annotation "kubernetes.io/service-account.name" is not allowed"#,
        ),
        (
            tpl(
                json!({"type": sa_token, "templateFrom": [{"target": "annotations", "literal": "a: b"}]}),
            ),
            r#"with templateFrom target="Annotations" is not allowed"#,
        ),
        (
            tpl(json!({"type": "bootstrap.kubernetes.io/token"})),
            r#"template.type="bootstrap.kubernetes.io/token" is not allowed"#,
        ),
        (
            tpl(json!({"templateFrom": [{"target": "type", "literal": "a: b"}]})),
            r#"must be one of "Data", "Annotations" or "Labels""#,
        ),
        (
            es(json!({"dataFrom": [{"extract": {"key": "a"}, "find": {"path": "b"}}]})),
            "extract, find, or generatorRef cannot be set at the same time",
        ),
        (
            es(
                json!({"dataFrom": [{"find": {"path": "b"}, "sourceRef": {"generatorRef": {"kind": "Password", "name": "p"}}}]}),
            ),
            "extract, find, or generatorRef cannot be set at the same time",
        ),
        (
            es(json!({"dataFrom": [{"rewrite": [{"regexp": {"source": "a", "target": "b"}}]}]})),
            "either extract, find, or sourceRef.generatorRef must be set to dataFrom",
        ),
        (
            es(json!({"dataFrom": [{"extract": {"key": "a"}, "sourceRef": {}}]})),
            "generatorRef or storeRef must be set when using sourceRef in dataFrom",
        ),
    ];
    for (doc, message) in refused {
        let errors = admit(&doc).expect_err(&doc["spec"].to_string()).join("\n");
        assert!(errors.contains(message), "{}: {errors}", doc["spec"]);
    }
    let admitted = [
        es(json!({})),
        es(json!({"data": [], "dataFrom": [{"find": {"path": "app/"}}]})),
        es(json!({"target": {"creationPolicy": "Owner", "deletionPolicy": "Delete"}})),
        es(json!({"target": {"creationPolicy": "Orphan", "deletionPolicy": "Delete"}})),
        es(json!({"target": {"creationPolicy": "Merge", "deletionPolicy": "Merge"}})),
        tpl(json!({"type": sa_token, "templateFrom": [{"target": "Labels", "literal": "a: b"}]})),
        tpl(
            json!({"templateFrom": [{"target": "data", "literal": "a: b"}, {"target": "LABELS", "literal": "c: d"}, {"target": "", "literal": "e: f"}]}),
        ),
        es(
            json!({"dataFrom": [{"sourceRef": {"generatorRef": {"kind": "Password", "name": "p"}}}]}),
        ),
        es(
            json!({"dataFrom": [{"extract": {"key": "a"}, "sourceRef": {"storeRef": {"name": "other"}}}]}),
        ),
    ];
    for doc in admitted {
        assert_eq!(admit(&doc), Ok(()), "{}", doc["spec"]);
    }
    // ESO compares templateFrom targets case-insensitively: so does the type.
    let spec: stagesync::api::externalsecret::ExternalSecretSpec = serde_json::from_value(with(
        &base,
        json!({"target": {"template": {"templateFrom": [{"target": "LABELS", "literal": "a: b"}, {"target": "annotations", "literal": "a: b"}]}}}),
    ))
    .unwrap();
    use stagesync::api::externalsecret::TemplateTarget;
    let targets: Vec<TemplateTarget> = spec
        .target
        .template
        .unwrap()
        .template_from
        .iter()
        .map(|f| f.target)
        .collect();
    assert_eq!(
        targets,
        [TemplateTarget::Labels, TemplateTarget::Annotations]
    );
}

/// The checks ESO's AWS provider makes on a store (`ValidateStore`): a region the SDK cannot
/// build the endpoint host from, and the PushSecret delete settings AWS would refuse. (Credential
/// references naming another namespace than a SecretStore's own are refused at run time: a CRD's
/// CEL rule cannot read the object's namespace on a real API server; a ClusterSecretStore's
/// `conditions[].namespaceRegexes` that do not compile admit no namespace, as CEL has no way to
/// check a regular expression but to run it.)
#[test]
fn eso_webhook_rules_for_stores_are_cel_rules() {
    use serde_json::json;
    let store = |kind: &str, region: &str, push: Value| {
        let mut aws = json!({"service": "SecretsManager", "region": region});
        if !push.is_null() {
            aws["secretsManager"] = push;
        }
        object(kind, json!({"provider": {"aws": aws}}))
    };
    for kind in ["SecretStore", "ClusterSecretStore"] {
        let refused = [
            (store(kind, "eu west 1", Value::Null), "region not found"),
            (
                store(kind, "eu-west-1:443", Value::Null),
                "region not found",
            ),
            (store(kind, "eu-west-1\t", Value::Null), "region not found"),
            (store(kind, "{region}", Value::Null), "region not found"),
            (
                store(kind, "eu-west-1", json!({"recoveryWindowInDays": 3})),
                "RecoveryWindowInDays must be between 7 and 30 days",
            ),
            (
                store(kind, "eu-west-1", json!({"recoveryWindowInDays": 31})),
                "RecoveryWindowInDays must be between 7 and 30 days",
            ),
            (
                store(
                    kind,
                    "eu-west-1",
                    json!({"recoveryWindowInDays": 7, "forceDeleteWithoutRecovery": true}),
                ),
                "ForceDeleteWithoutRecovery conflicts with RecoveryWindowInDays",
            ),
        ];
        for (doc, message) in refused {
            let errors = admit(&doc).expect_err(&doc["spec"].to_string()).join("\n");
            assert!(errors.contains(message), "{kind} {}: {errors}", doc["spec"]);
        }
        for doc in [
            store(kind, "eu-west-1", Value::Null),
            store(kind, "us-gov-west-1", Value::Null),
            store(kind, "cn-north-1", json!({"recoveryWindowInDays": 7})),
            store(kind, "eu-west-1", json!({"recoveryWindowInDays": 30})),
            store(
                kind,
                "eu-west-1",
                json!({"forceDeleteWithoutRecovery": true}),
            ),
            store(
                kind,
                "eu-west-1",
                json!({"forceDeleteWithoutRecovery": false, "recoveryWindowInDays": 7}),
            ),
        ] {
            assert_eq!(admit(&doc), Ok(()), "{kind} {}", doc["spec"]);
        }
    }
}
