//! The observed state of an `ExternalSecret`: its conditions and which AWS versions its Secret
//! holds. Never a secret value.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use litemap::LiteMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::shared::Condition;

/// Observed state of an ExternalSecret. Never contains secret values.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretStatus {
    /// Conditions: `Ready` tells whether the target Secret holds the wanted data, and why not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// When AWS was last read and the Secret last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<Time>,
    /// Per AWS secret (as named in the spec), the version written into the Secret.
    #[serde(default, skip_serializing_if = "LiteMap::is_empty")]
    #[schemars(with = "BTreeMap<String, SyncedVersion>")]
    pub synced_versions: SyncedVersions,
    /// The written Secret, as a servicebinding.io provisioned-service reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<SecretBinding>,
    /// The value of the `force-sync` (or `stagesync.io/force-sync`) annotation last acted
    /// upon: setting the annotation to a new value reads every value from AWS at once. Recorded
    /// whether that sync succeeded or failed (`Ready` tells which); retries after a failure
    /// read as usual, and a new value forces again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_synced: Option<String>,
}

/// Per AWS secret, the version written into the Secret. A sorted vector, not a B-tree: it
/// holds one or a few entries, in every cached ExternalSecret (a B-tree's smallest node is
/// about 1 KB here).
pub type SyncedVersions = LiteMap<String, SyncedVersion>;

/// The version of one AWS secret that was written into the Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncedVersion {
    /// AWS version id that was read.
    pub version_id: String,
    /// Staging labels the version carried when it was read (for example AWSCURRENT).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub version_stages: Vec<String>,
    /// When the Secret started carrying this version (RFC 3339): set when a sync first wrote
    /// this version id for this AWS secret, kept while the version id stays the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_since: Option<Time>,
}

/// Reference to the written Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretBinding {
    /// Name of the Secret in the ExternalSecret's namespace.
    pub name: String,
}
