//! Parts shared by the stagesync CRDs: references to Kubernetes objects, status conditions and
//! the list-merge markers that make them server-side-apply friendly.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of every stagesync resource.
pub const GROUP: &str = "stagesync.io";
/// The served (and stored) version of every stagesync resource.
pub const VERSION: &str = "v1alpha1";

/// A reference to one key of a Kubernetes Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the Secret. Ignored for a namespaced SecretStore (its own namespace is used);
    /// required for a ClusterSecretStore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Key inside the Secret's data.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// A reference to a Kubernetes ServiceAccount, whose tokens are exchanged for AWS credentials.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountSelector {
    /// Name of the ServiceAccount.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the ServiceAccount. Ignored for a namespaced SecretStore (its own namespace is
    /// used); required for a ClusterSecretStore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Audiences of the requested token; defaults to `sts.amazonaws.com`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

/// Status of a condition, as in Kubernetes: `True`, `False` or `Unknown`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// It is not known yet whether the condition holds.
    #[default]
    Unknown,
}

/// One observation of the resource's state, following Kubernetes API conventions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of the condition: `Ready` (the target Secret holds the wanted data) or `Deleted`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Status of the condition: `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// Machine-readable reason for the last transition, in CamelCase (for example `SecretSynced`,
    /// `SecretNotFound`, `AccessDenied`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail about the last transition. Never contains secret values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the condition last changed status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// The `.metadata.generation` the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Status shared by SecretStore and ClusterSecretStore.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreStatus {
    /// Conditions of the store; `Ready` is True once its credentials were checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// How the store's version tracker checks for new versions, and what that costs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_tracking: Option<VersionTrackingStatus>,
}

/// What the store's version tracker did in its last cycle that made calls.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionTrackingStatus {
    /// The configured mode: `List` or `Describe`.
    pub mode: String,
    /// How the last cycle checked versions: `FullSweep` (every ListSecrets page),
    /// `NameFilteredList` (ListSecrets filtered by the referenced names, 10 a call),
    /// `DescribeSecret` (one call per secret) or `Idle`.
    pub strategy: String,
    /// Set when the store's identity is denied ListSecrets and the tracker fell back to
    /// DescribeSecret by itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub list_secrets_denied: bool,
    /// Remote secrets the tracker follows for this store's ExternalSecrets.
    pub tracked_secrets: i64,
    /// Secrets in the AWS account and region, as last counted by a full sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_secrets: Option<i64>,
    /// AWS calls of the last cycle that made calls, by operation.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub last_cycle_calls: std::collections::BTreeMap<String, i64>,
    /// Estimated Secrets Manager API cost per 30-day month at the call rate of the last ten
    /// minutes ($0.05 per 10,000 calls), in US dollars, for example `0.4320`.
    pub estimated_monthly_cost_usd: String,
}
