//! The stagesync API (group `stagesync.io`, version `v1alpha1`): CRD types, one file per kind,
//! shared parts apart. The CRD YAML in `crds/` is generated from these types (`stagesync crds`).

// kube's printcolumn(...) attributes repeat `type_ = ...`, which this lint mistakes for
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

pub mod duration;
pub mod externalsecret;
pub mod names;
pub mod reason;
pub mod secretstore;
pub mod shared;
pub mod version;

pub use externalsecret::{ExternalSecret, ExternalSecretSpec, ExternalSecretStatus};
pub use reason::Reason;
pub use secretstore::{ClusterSecretStore, SecretStore};
pub use version::VersionSelector;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD of stagesync, with the file name it has in `crds/`, in file-name order.
pub fn crds() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        (
            "clustersecretstores.stagesync.io.yaml",
            tidy(ClusterSecretStore::crd()),
        ),
        (
            "externalsecrets.stagesync.io.yaml",
            tidy(ExternalSecret::crd()),
        ),
        ("secretstores.stagesync.io.yaml", tidy(SecretStore::crd())),
    ]
}

/// The `openAPIV3Schema` of every served version of every stagesync CRD, as
/// `(kind, apiVersion, schema)`: what admission (the fake, `stagesync check`) compiles.
pub fn open_api_schemas() -> Vec<(String, String, serde_json::Value)> {
    crds()
        .into_iter()
        .flat_map(|(_, crd)| {
            let kind = crd.spec.names.kind.clone();
            let group = crd.spec.group.clone();
            crd.spec.versions.into_iter().map(move |version| {
                let schema = version
                    .schema
                    .and_then(|s| s.open_api_v3_schema)
                    .map(|s| serde_json::to_value(s).expect("a schema serializes"))
                    .unwrap_or_default();
                (kind.clone(), format!("{group}/{}", version.name), schema)
            })
        })
        .collect()
}

/// Doc comments are wrapped at 100 columns in the source; `kubectl explain` re-wraps text
/// itself, so the source's line breaks are joined into paragraphs (blank lines are kept).
/// A 32-bit integer (`format: int32`, or an int-or-string, whose integer is an int32) gets its
/// range as `minimum`/`maximum`: the API server checks no `format` range, and an object it
/// admitted with a larger number could not be read into the Rust type — which would break the
/// operator's watch of every object of the kind.
fn tidy(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                let int32 = map.get("format").and_then(|f| f.as_str()) == Some("int32")
                    || map.get("x-kubernetes-int-or-string")
                        == Some(&serde_json::Value::Bool(true));
                if int32 {
                    map.entry("minimum").or_insert(i32::MIN.into());
                    map.entry("maximum").or_insert(i32::MAX.into());
                }
                for (k, child) in map.iter_mut() {
                    match child {
                        serde_json::Value::String(text) if k == "description" => {
                            *text = unwrap_lines(text)
                        }
                        other => walk(other),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(&crd).expect("a CRD serializes");
    walk(&mut value);
    serde_json::from_value(value).expect("descriptions and bounds changed only")
}

/// Joins wrapped lines with spaces; paragraph breaks (blank lines) stay.
fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            paragraph
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// One CRD as the YAML document written to `crds/`.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> String {
    let yaml = serde_yaml_ng::to_string(crd).expect("a CRD always serializes to YAML");
    format!("---\n{yaml}")
}

/// Every CRD as one multi-document YAML stream: the concatenation of `crds/*.yaml` in file-name
/// order, byte for byte.
pub fn crds_yaml() -> String {
    crds().iter().map(|(_, crd)| crd_yaml(crd)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_paragraphs() {
        assert_eq!(
            unwrap_lines("one\ntwo\n\nthree\nfour"),
            "one two\n\nthree four"
        );
        assert!(crds_yaml().contains(
            "How keys produced by `find` are made valid Secret keys: `Default` replaces invalid characters"
        ));
    }

    #[test]
    fn int32_fields_carry_their_range() {
        fn walk(v: &serde_json::Value, found: &mut usize) {
            if let Some(map) = v.as_object() {
                let int32 = map.get("format").and_then(|f| f.as_str()) == Some("int32")
                    || map.contains_key("x-kubernetes-int-or-string");
                if int32 {
                    *found += 1;
                    assert_eq!(map["maximum"].as_f64(), Some(f64::from(i32::MAX)), "{v}");
                    assert!(map["minimum"].as_f64() >= Some(f64::from(i32::MIN)), "{v}");
                }
                map.values().for_each(|c| walk(c, found));
            } else if let Some(items) = v.as_array() {
                items.iter().for_each(|c| walk(c, found));
            }
        }
        let mut found = 0;
        for (_, crd) in crds() {
            walk(&serde_json::to_value(crd).unwrap(), &mut found);
        }
        assert!(found >= 2, "{found} int32 fields");
    }
}
