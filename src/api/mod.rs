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
            ClusterSecretStore::crd(),
        ),
        ("externalsecrets.stagesync.io.yaml", ExternalSecret::crd()),
        ("secretstores.stagesync.io.yaml", SecretStore::crd()),
    ]
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
