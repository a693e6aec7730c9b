//! `SecretStore` (namespaced) and `ClusterSecretStore` (cluster-wide): where AWS is and which
//! identity reads it. Field names follow ESO's `external-secrets.io/v1` stores.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::shared::{SecretKeySelector, SecretStoreStatus, ServiceAccountSelector};

/// Desired state of a namespaced SecretStore.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "stagesync.io",
    version = "v1alpha1",
    kind = "SecretStore",
    namespaced,
    status = "SecretStoreStatus",
    shortname = "stss",
    category = "stagesync",
    doc = "SecretStore tells ExternalSecrets of its namespace which AWS region and identity to read Secrets Manager with.",
    printcolumn(
        name = "Region",
        type_ = "string",
        json_path = ".spec.provider.aws.region"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreSpec {
    /// Controller class: only a stagesync started with the same `--controller-class` handles
    /// this store and its ExternalSecrets; unset, every stagesync does (as ESO's
    /// `spec.controller`, so stagesync can run beside ESO during a migration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// The secrets backend and how to reach it.
    pub provider: SecretStoreProvider,
    /// Retries of failed backend calls, on top of the SDK's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_settings: Option<SecretStoreRetrySettings>,
    /// How often the store's credentials are checked again, as ESO takes it: seconds (an
    /// integer) or a Go duration (`"5m"`); unset or `0` uses the operator's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<IntOrString>,
}

/// Desired state of a ClusterSecretStore.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "stagesync.io",
    version = "v1alpha1",
    kind = "ClusterSecretStore",
    status = "SecretStoreStatus",
    shortname = "stcss",
    category = "stagesync",
    doc = "ClusterSecretStore is a SecretStore usable from every namespace its conditions admit.",
    printcolumn(
        name = "Region",
        type_ = "string",
        json_path = ".spec.provider.aws.region"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSecretStoreSpec {
    /// Controller class: only a stagesync started with the same `--controller-class` handles
    /// this store and its ExternalSecrets; unset, every stagesync does (as ESO's
    /// `spec.controller`, so stagesync can run beside ESO during a migration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// The secrets backend and how to reach it.
    pub provider: SecretStoreProvider,
    /// Retries of failed backend calls, on top of the SDK's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_settings: Option<SecretStoreRetrySettings>,
    /// How often the store's credentials are checked again, as ESO takes it: seconds (an
    /// integer) or a Go duration (`"5m"`); unset or `0` uses the operator's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<IntOrString>,
    /// Namespaces whose ExternalSecrets may use this store. A namespace is admitted when any
    /// criterion of any condition matches it. No conditions: every namespace is admitted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ClusterSecretStoreCondition>,
}

/// One rule admitting namespaces to a ClusterSecretStore: its selector, its names and its
/// regular expressions each admit the namespaces they match (as in ESO).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSecretStoreCondition {
    /// Namespaces whose labels match this selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Namespaces with one of these names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    ))]
    pub namespaces: Vec<String>,
    /// Namespaces whose whole name matches one of these regular expressions (anchored: `team-a`
    /// does not admit `evil-team-a`). An invalid expression admits nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_regexes: Vec<String>,
}

/// Retries of failed backend calls.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreRetrySettings {
    /// Maximum number of attempts of one call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_retries: Option<i32>,
    /// Initial wait between attempts, as a Go duration (`1s`, `500ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<String>,
}

/// The secrets backend of a store.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreProvider {
    /// AWS Secrets Manager.
    pub aws: AwsProvider,
}

/// How to reach AWS Secrets Manager and with which identity.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsProvider {
    /// AWS service to read; only `SecretsManager` is supported.
    pub service: AwsService,
    /// AWS region of the secrets, for example `eu-west-1`.
    #[schemars(length(min = 1, max = 64))]
    // ESO's webhook refuses a region the SDK cannot build the service's endpoint host from.
    #[schemars(extend("x-kubernetes-validations" = [{
        // The regular expression `[\s\x00-\x1f\x7f%:\[\\^`{|}]`, its backslashes doubled for CEL.
        "rule": r#"!self.matches('[\\s\\x00-\\x1f\\x7f%:\\[\\\\^`{|}]')"#,
        "message": "region not found: a region cannot hold whitespace, control characters or any of %:[\\^`{|}"
    }]))]
    pub region: String,
    /// ARN of an IAM role to assume (with the credentials below, or the operator's own when no
    /// auth is given). The operator may restrict which roles may be assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// External ID passed when assuming `role`.
    #[serde(
        default,
        rename = "externalID",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<String>,
    /// Session tags set when assuming `role`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_tags: Vec<AwsTag>,
    /// Endpoint URL overriding the regional one, for example a VPC interface endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Credentials. Unset: the operator's own identity from the default AWS credential chain
    /// (IRSA, EKS Pod Identity, environment, instance profile) — refused for namespaced
    /// SecretStores unless the operator allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AwsAuth>,
    /// How the operator notices new versions of this store's secrets (stagesync only; ESO has
    /// no such field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_tracking: Option<VersionTracking>,
    /// Role ARNs assumed one after the other, in order, before `role` (role chaining across
    /// accounts). The operator's `--allowed-roles` applies to each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_roles: Vec<String>,
    /// Prepended to every `remoteRef.key` (data and `dataFrom[].extract`) before it is read; not
    /// to `find`, whose results are full names (as ESO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Session tags added when assuming `role`: `None` (default) only `sessionTags`; `Simple`
    /// the tags `esoNamespace` (the ExternalSecret's namespace), `esoStoreName` and
    /// `esoStoreKind` (replacing `sessionTags`, as ESO); `Custom` those plus
    /// `customSessionTags`. With `Simple` or `Custom` each namespace gets its own session, and
    /// the role needs `sts:TagSession`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_tags_policy: Option<SessionTagsPolicy>,
    /// Extra session tags with `sessionTagsPolicy: Custom`; the keys `esoNamespace`,
    /// `esoStoreName` and `esoStoreKind` are reserved.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "!('esoNamespace' in self) && !('esoStoreName' in self) && !('esoStoreKind' in self)",
        "message": "customSessionTags cannot contain automatically injected reserved keys: esoNamespace, esoStoreName, esoStoreKind"
    }]))]
    pub custom_session_tags: std::collections::BTreeMap<String, String>,
    /// Session tag keys that stay set on roles assumed later in a role chain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,
    /// How ESO's PushSecret deletes secrets. stagesync only reads, so these settings have no
    /// effect; they are accepted so ESO manifests apply unchanged (an event says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_manager: Option<SecretsManagerSettings>,
}

/// Which STS session tags are added when assuming a store's role.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SessionTagsPolicy {
    /// Only the store's `sessionTags`.
    #[default]
    None,
    /// `esoNamespace`, `esoStoreName`, `esoStoreKind`.
    Simple,
    /// `esoNamespace`, `esoStoreName`, `esoStoreKind` and `customSessionTags`.
    Custom,
}

/// ESO's PushSecret deletion settings (no effect in stagesync, which never deletes AWS secrets).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
// ESO's webhook checks these as AWS's DeleteSecret would.
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.recoveryWindowInDays) || self.recoveryWindowInDays == 0 || (self.recoveryWindowInDays >= 7 && self.recoveryWindowInDays <= 30)",
        "message": "invalid DeleteSecretInput: RecoveryWindowInDays must be between 7 and 30 days"
    },
    {
        "rule": "!(has(self.recoveryWindowInDays) && self.recoveryWindowInDays != 0 && has(self.forceDeleteWithoutRecovery) && self.forceDeleteWithoutRecovery)",
        "message": "invalid DeleteSecretInput: ForceDeleteWithoutRecovery conflicts with RecoveryWindowInDays"
    }
]))]
pub struct SecretsManagerSettings {
    /// ESO: delete without a recovery window. No effect here.
    #[serde(default)]
    pub force_delete_without_recovery: bool,
    /// ESO: days AWS keeps a deleted secret recoverable (7 to 30). No effect here.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub recovery_window_in_days: i64,
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

/// How new versions are noticed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionTracking {
    /// `List` (default): versions come from ListSecrets pages (100 secrets a call), listings
    /// filtered by the referenced names, or DescribeSecret, whichever takes the fewest calls;
    /// needs `secretsmanager:ListSecrets` and falls back to DescribeSecret by itself when it is
    /// denied. `Describe`: one DescribeSecret per referenced secret, for identities without
    /// ListSecrets (least privilege). Neither reads values; values are read only when a version
    /// changed.
    #[serde(default)]
    pub mode: TrackingMode,
}

/// How a store's version tracker checks for new versions.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TrackingMode {
    /// ListSecrets (full or name-filtered) or DescribeSecret, whichever is cheaper.
    #[default]
    List,
    /// DescribeSecret only.
    Describe,
}

/// AWS service behind a store.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AwsService {
    /// AWS Secrets Manager.
    #[default]
    SecretsManager,
}

/// A key-value tag.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsTag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
}

/// Credentials of a store; set exactly one of `secretRef` or `jwt`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsAuth {
    /// Static access keys read from a Kubernetes Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<AwsAuthSecretRef>,
    /// A ServiceAccount token exchanged for credentials of `role` (AssumeRoleWithWebIdentity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<AwsJwtAuth>,
}

/// Static AWS credentials held in a Kubernetes Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsAuthSecretRef {
    /// The access key id.
    #[serde(rename = "accessKeyIDSecretRef")]
    pub access_key_id: SecretKeySelector,
    /// The secret access key.
    pub secret_access_key_secret_ref: SecretKeySelector,
    /// The session token, when the keys are temporary credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token_secret_ref: Option<SecretKeySelector>,
}

/// Credentials from a ServiceAccount token.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsJwtAuth {
    /// The ServiceAccount whose token is exchanged.
    pub service_account_ref: ServiceAccountSelector,
}

/// A store's `refreshInterval`, as ESO's `GetRefreshInterval` reads it: an integer is seconds, a
/// string a Go duration. `Ok(None)`: unset or zero, the operator's default applies.
pub fn store_refresh_interval(value: Option<&IntOrString>) -> Result<Option<Duration>, String> {
    let interval = match value {
        None => return Ok(None),
        Some(IntOrString::Int(seconds)) => u64::try_from(*seconds)
            .map(Duration::from_secs)
            .map_err(|_| format!("refreshInterval {seconds}: must not be negative"))?,
        Some(IntOrString::String(text)) => super::duration::parse_go_duration(text)
            .map_err(|e| format!("refreshInterval {text:?}: {e}"))?,
    };
    Ok((!interval.is_zero()).then_some(interval))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_interval_is_seconds_or_a_go_duration_as_in_eso() {
        let read = |v: IntOrString| store_refresh_interval(Some(&v));
        assert_eq!(store_refresh_interval(None), Ok(None));
        assert_eq!(read(IntOrString::Int(0)), Ok(None));
        assert_eq!(
            read(IntOrString::Int(300)),
            Ok(Some(Duration::from_secs(300)))
        );
        assert_eq!(
            read(IntOrString::String("5m".into())),
            Ok(Some(Duration::from_secs(300)))
        );
        assert_eq!(read(IntOrString::String("0".into())), Ok(None));
        assert!(read(IntOrString::Int(-1)).unwrap_err().contains("negative"));
        assert!(
            read(IntOrString::String("soon".into()))
                .unwrap_err()
                .contains("refreshInterval \"soon\"")
        );
    }

    #[test]
    fn refresh_interval_takes_both_forms_from_yaml() {
        let spec = |v: &str| -> SecretStoreSpec {
            serde_json::from_value(serde_json::json!({
                "refreshInterval": serde_json::from_str::<serde_json::Value>(v).unwrap(),
                "provider": {"aws": {"service": "SecretsManager", "region": "eu-west-1"}}
            }))
            .unwrap()
        };
        assert_eq!(spec("600").refresh_interval, Some(IntOrString::Int(600)));
        assert_eq!(
            spec("\"10m\"").refresh_interval,
            Some(IntOrString::String("10m".into()))
        );
    }
}
