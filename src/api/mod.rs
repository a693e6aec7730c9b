//! The stagesync API (group `stagesync.io`, version `v1alpha1`): CRD types, one file per kind,
//! shared parts apart. The CRD YAML in `crds/` is generated from these types (`stagesync crds`).

// kube's printcolumn(...) attributes repeat `type_ = ...`, which this lint mistakes for
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

pub mod duration;
pub mod externalsecret;
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

/// Doc comments are wrapped at 100 columns in the source; `kubectl explain` re-wraps text
/// itself, so the source's line breaks are joined into paragraphs (blank lines are kept).
fn tidy(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
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
    serde_json::from_value(value).expect("descriptions changed only")
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
}
