//! The `ExternalSecret` resource: which AWS secrets (and which versions of them) become one
//! Kubernetes Secret. Field names, types, defaults and enum values follow ESO's
//! `external-secrets.io/v1` `ExternalSecret` wherever the concepts overlap, so a manifest migrates
//! by changing its `apiVersion`.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::version::VersionSelector;

mod status;
pub use status::{ExternalSecretStatus, SecretBinding, SyncedVersion, SyncedVersions};

/// Desired state of an ExternalSecret: where the data comes from and which Secret it goes to.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "stagesync.io",
    version = "v1alpha1",
    kind = "ExternalSecret",
    namespaced,
    status = "ExternalSecretStatus",
    shortname = "stes",
    category = "stagesync",
    doc = "ExternalSecret keeps one Kubernetes Secret in sync with secrets stored in AWS Secrets Manager, following a version stage (AWSCURRENT, AWSPREVIOUS, AWSPENDING or a custom label) or a pinned version id.",
    printcolumn(
        name = "Store",
        type_ = "string",
        json_path = ".spec.secretStoreRef.name"
    ),
    printcolumn(
        name = "Refresh Interval",
        type_ = "string",
        json_path = ".spec.refreshInterval"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Last Refresh",
        type_ = "date",
        json_path = ".status.refreshTime"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
// ESO's admission webhook refuses an ExternalSecret reading nothing.
#[x_kube(
    validation = Rule::new("(has(self.data) && size(self.data) > 0) || (has(self.dataFrom) && size(self.dataFrom) > 0)").message("either data or dataFrom should be specified")
)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretSpec {
    /// The SecretStore or ClusterSecretStore that holds the AWS region and credentials.
    pub secret_store_ref: SecretStoreRef,

    /// The Kubernetes Secret to write and how to own it.
    #[serde(default)]
    pub target: ExternalSecretTarget,

    /// When the Secret is refreshed: `Periodic` (every refreshInterval; the default when unset),
    /// `CreatedOnce` (created once, never updated) or `OnChange` (only when the ExternalSecret
    /// itself changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_policy: Option<RefreshPolicy>,

    /// How often AWS is checked for a new version, as a Go duration (`1h`, `15m`, `1h30m`, `10s`).
    /// `0` fetches once and never refreshes. Defaults to `1h`.
    #[serde(default = "default_refresh_interval")]
    #[schemars(regex(pattern = r"^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$"))]
    pub refresh_interval: String,

    /// Secret keys taken one by one from AWS secrets (or from one JSON property of them). Wins
    /// over `dataFrom` when both produce the same key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<ExternalSecretData>,

    /// Secret keys taken in bulk: every property of a JSON secret (`extract`) or every secret
    /// matching a search (`find`). Later entries win over earlier ones for the same key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_from: Vec<ExternalSecretDataFromRemoteRef>,

    /// Windows (UTC) that allow or deny the periodic refresh, as ESO: the first sync and spec
    /// changes are always written; a refresh held back by a window writes nothing, and the
    /// status says when the next window opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_windows: Option<SyncWindows>,
}

/// When periodic refreshes may run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncWindows {
    /// `allow`: refreshes run only while a window is open. `deny`: refreshes are held back while
    /// a window is open.
    pub kind: SyncWindowKind,
    /// The windows, all of the same kind.
    #[schemars(length(min = 1))]
    pub windows: Vec<SyncWindow>,
}

/// Whether windows permit or block refreshes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncWindowKind {
    /// Refreshes only inside a window.
    Allow,
    /// No refreshes inside a window.
    Deny,
}

/// One window: opens at each firing of `schedule`, stays open for `duration`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncWindow {
    /// 5-field cron expression in UTC (`0 22 * * 1-5`), a shorthand (`@daily`, `@hourly`,
    /// `@weekly`, `@monthly`, `@yearly`) or `@every <Go duration>`.
    #[schemars(
        length(min = 1),
        regex(
            pattern = r"^(@(annually|yearly|monthly|weekly|daily|midnight|hourly)|@every [^\s]+.*|[^\s]+( [^\s]+){4})$"
        )
    )]
    pub schedule: String,
    /// How long the window stays open after each firing (Go duration, e.g. `8h`).
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"))]
    pub duration: String,
}

fn default_refresh_interval() -> String {
    "1h".to_owned()
}

impl ExternalSecretSpec {
    /// A spec reading through the SecretStore `store`, with every other field at its default.
    pub fn for_store(store: &str) -> Self {
        Self {
            secret_store_ref: SecretStoreRef {
                name: store.to_owned(),
                kind: StoreKind::default(),
            },
            target: ExternalSecretTarget::default(),
            refresh_policy: None,
            refresh_interval: default_refresh_interval(),
            data: Vec::new(),
            data_from: Vec::new(),
            sync_windows: None,
        }
    }
}

/// Which store an ExternalSecret reads through.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreRef {
    /// Name of the SecretStore (in the ExternalSecret's namespace) or ClusterSecretStore.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
    /// Kind of the store: `SecretStore` (default) or `ClusterSecretStore`.
    #[serde(default)]
    pub kind: StoreKind,
}

/// Kind of a store reference.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum StoreKind {
    /// A namespaced SecretStore in the ExternalSecret's own namespace.
    #[default]
    SecretStore,
    /// A cluster-wide ClusterSecretStore whose `conditions` admit the ExternalSecret's namespace.
    ClusterSecretStore,
}

/// When an ExternalSecret is refreshed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RefreshPolicy {
    /// Create the Secret once if it does not exist; never update it afterwards.
    CreatedOnce,
    /// Refresh every `refreshInterval` (no periodic refresh when it is `0`).
    Periodic,
    /// Refresh only when the ExternalSecret's metadata or spec changes.
    OnChange,
}

/// The Kubernetes Secret an ExternalSecret writes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
// ESO's webhook: deleting a Secret the ExternalSecret does not own, or merging into none.
#[x_kube(
    validation = Rule::new("!(has(self.deletionPolicy) && self.deletionPolicy == 'Delete' && has(self.creationPolicy) && self.creationPolicy in ['Merge', 'None', 'CreateOrMerge'])").message("deletionPolicy=Delete must not be used when the controller doesn't own the secret. Please set creationPolicy=Owner"),
    validation = Rule::new("!(has(self.deletionPolicy) && self.deletionPolicy == 'Merge' && has(self.creationPolicy) && self.creationPolicy == 'None')").message("deletionPolicy=Merge must not be used with creationPolicy=None. There is no Secret to merge with")
)]
pub struct ExternalSecretTarget {
    /// Name of the Secret. Defaults to the ExternalSecret's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: Option<String>,
    /// How the Secret is created and owned. Defaults to `Owner`.
    #[serde(default)]
    pub creation_policy: CreationPolicy,
    /// What happens to the Secret when the AWS secrets it comes from are deleted. Defaults to
    /// `Retain`.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Shape of the written Secret: type, labels, annotations and templated data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ExternalSecretTemplate>,
    /// Write the Secret with `immutable: true`; it can then never be updated, only replaced.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub immutable: bool,
    /// ESO writes a custom resource instead of a Secret here; stagesync writes Secrets only and
    /// refuses it with `InvalidSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestReference>,
}

/// ESO's custom-resource target (accepted by the schema, refused at run time).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManifestReference {
    /// API version of the resource.
    pub api_version: String,
    /// Kind of the resource.
    pub kind: String,
}

/// How the target Secret is created and owned.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CreationPolicy {
    /// Create the Secret with an ownerReference to the ExternalSecret: it is garbage-collected
    /// when the ExternalSecret is deleted.
    #[default]
    Owner,
    /// Create the Secret without an ownerReference: it stays when the ExternalSecret is deleted.
    Orphan,
    /// Never create the Secret: add and update this ExternalSecret's keys in a Secret that
    /// already exists, leaving its other keys alone.
    Merge,
    /// Write no Secret; only the status is updated.
    None,
    /// Create the Secret (without ownerReference) when missing, merge keys into it when it exists.
    CreateOrMerge,
}

/// What happens to the target Secret when its AWS secrets are deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the Secret once every AWS secret it comes from is gone.
    Delete,
    /// Remove this ExternalSecret's keys from the Secret, keep the Secret itself.
    Merge,
    /// Keep the Secret as it was; the ExternalSecret reports the missing AWS secret.
    #[default]
    Retain,
}

/// Blueprint of the written Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
// ESO's webhook: templates that would mint long-lived ServiceAccount or bootstrap tokens.
#[x_kube(
    validation = Rule::new("!(has(self.type) && self.type == 'kubernetes.io/service-account-token' && has(self.metadata) && has(self.metadata.annotations) && 'kubernetes.io/service-account.name' in self.metadata.annotations)").message("template.type=\"kubernetes.io/service-account-token\" with annotation \"kubernetes.io/service-account.name\" is not allowed"),
    validation = Rule::new("!(has(self.type) && self.type == 'kubernetes.io/service-account-token' && has(self.templateFrom) && self.templateFrom.exists(f, has(f.target) && f.target.lowerAscii() == 'annotations'))").message("template.type=\"kubernetes.io/service-account-token\" with templateFrom target=\"Annotations\" is not allowed"),
    validation = Rule::new("!(has(self.type) && self.type == 'bootstrap.kubernetes.io/token')").message("template.type=\"bootstrap.kubernetes.io/token\" is not allowed")
)]
pub struct ExternalSecretTemplate {
    /// Secret type, for example `Opaque` (default) or `kubernetes.io/dockerconfigjson`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Template engine version; only `v2` (Go text/template with sprig functions) exists.
    #[serde(default)]
    pub engine_version: TemplateEngineVersion,
    /// Labels and annotations added to the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ExternalSecretTemplateMetadata>,
    /// `Replace` (default): with `data` set only the templated keys are written. `Merge`: the
    /// templated keys are added to the fetched ones.
    #[serde(default)]
    pub merge_policy: TemplateMergePolicy,
    /// Secret keys rendered from Go templates, e.g. `{{ .password | b64enc }}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Templates read from ConfigMaps or Secrets, or given literally.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub template_from: Vec<TemplateFrom>,
}

/// Template engine version.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TemplateEngineVersion {
    /// Go text/template with sprig functions, as ESO's v2 engine.
    #[default]
    #[serde(rename = "v2")]
    V2,
}

/// How templated keys combine with fetched keys.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TemplateMergePolicy {
    /// Only the templated keys are written when templates are given.
    #[default]
    Replace,
    /// Templated keys are added to the fetched keys.
    Merge,
}

/// Labels and annotations of the written Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretTemplateMetadata {
    /// Annotations added to the Secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Labels added to the Secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Finalizers set on the Secret (owned by stagesync's field manager: removing one here
    /// removes it from the Secret).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

/// A source of templates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateFrom {
    /// Templates stored in a ConfigMap of the ExternalSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<TemplateRef>,
    /// Templates stored in a Secret of the ExternalSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<TemplateRef>,
    /// What the templates render into: `Data` (default), `Annotations` or `Labels`.
    #[serde(default)]
    pub target: TemplateTarget,
    /// A template given inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub literal: Option<String>,
    /// How the rendered values are decoded before they are written: `None` (default),
    /// `Base64`, `Base64URL` or `Auto`, as `remoteRef.decodingStrategy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_decoding_strategy: Option<DecodingStrategy>,
}

/// What a template renders into. Read in any case (`data`, `DATA`), as ESO compares it;
/// written back as below.
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TemplateTarget {
    /// The Secret's data.
    #[default]
    Data,
    /// The Secret's annotations.
    Annotations,
    /// The Secret's labels.
    Labels,
}

impl<'de> Deserialize<'de> for TemplateTarget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.to_ascii_lowercase().as_str() {
            // ESO reads an empty target as Data.
            "" | "data" => Ok(Self::Data),
            "annotations" => Ok(Self::Annotations),
            "labels" => Ok(Self::Labels),
            _ => Err(serde::de::Error::unknown_variant(
                &text,
                &["Data", "Annotations", "Labels"],
            )),
        }
    }
}

impl JsonSchema for TemplateTarget {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TemplateTarget".into()
    }

    fn inline_schema() -> bool {
        true
    }

    // A string checked as ESO's webhook checks it (case-insensitively) rather than an enum; the
    // length bound keeps the rule's cost small.
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "maxLength": 11,
            "x-kubernetes-validations": [{
                "rule": "self.lowerAscii() in ['', 'data', 'annotations', 'labels']",
                "message": "templateFrom target is not allowed when targeting a Secret, must be one of \"Data\", \"Annotations\" or \"Labels\""
            }]
        })
    }
}

/// Templates held in a ConfigMap or Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRef {
    /// Name of the ConfigMap or Secret.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
    /// Keys of the ConfigMap or Secret to use as templates.
    pub items: Vec<TemplateRefItem>,
}

/// One template key of a ConfigMap or Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRefItem {
    /// Key in the ConfigMap or Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
    /// `Values` (default): the item's value is a template. `KeysAndValues`: the item is a YAML
    /// map whose keys and values are both templates.
    #[serde(default)]
    pub template_as: TemplateScope,
}

/// How a template item is interpreted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TemplateScope {
    /// The value is a template.
    #[default]
    Values,
    /// Keys and values are templates.
    KeysAndValues,
}

/// One Secret key fetched from one AWS secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretData {
    /// Key of the value in the Kubernetes Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub secret_key: String,
    /// Which AWS secret, version and property to read.
    pub remote_ref: ExternalSecretDataRemoteRef,
    /// Read this entry through another store than `secretStoreRef` (its tenancy rules apply to
    /// this namespace as for `secretStoreRef`). `generatorRef` is not supported: refused with
    /// `InvalidSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<StoreSourceRef>,
}

/// Another source for one `data` entry.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreSourceRef {
    /// The store to read through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_ref: Option<SecretStoreRef>,
    /// ESO generators are not supported by stagesync (refused with `InvalidSpec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_ref: Option<GeneratorRef>,
}

/// An ESO generator reference (accepted by the schema, refused at run time).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorRef {
    /// API version of the generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the generator.
    pub kind: String,
    /// Name of the generator.
    pub name: String,
}

/// What to do with fetched values that contain NUL bytes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum NullBytePolicy {
    /// Write them (binary data is legitimate).
    #[default]
    Ignore,
    /// Fail the sync (`InvalidSpec`) naming the key; the Secret keeps its data.
    Fail,
}

/// Location of a value in AWS Secrets Manager: secret, version and property.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!(has(self.versionStage) && has(self.versionId))").message("versionStage and versionId are mutually exclusive"),
    validation = Rule::new("!(has(self.version) && (has(self.versionStage) || has(self.versionId)))").message("version (ESO syntax) cannot be combined with versionStage or versionId"),
    validation = Rule::new("!self.key.startsWith('arn:') || self.key.matches('^arn:aws(-[a-z]+)*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$')").message("key starts with arn: but is not a Secrets Manager secret ARN (arn:<partition>:secretsmanager:<region>:<12-digit account>:secret:<name>)")
)]
pub struct ExternalSecretDataRemoteRef {
    /// Name or full ARN of the AWS secret (an ARN must be whole:
    /// `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`).
    #[schemars(length(min = 1, max = 2048))]
    pub key: String,
    /// JSON property of the secret's value to read, in gjson syntax: `a.b.c` for nesting,
    /// `a\.b` for a key containing a dot, `arr.1` for a list item. A property whose whole name
    /// (dots included) is a top-level key is read as that key first. Unset: the whole value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// Version stage label to read: `AWSCURRENT` (the default when neither versionStage,
    /// versionId nor version is set), `AWSPREVIOUS` (the version before the last rotation),
    /// `AWSPENDING` (a rotation in progress), or any custom staging label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub version_stage: Option<String>,
    /// Version id to pin (a UUID as listed by `aws secretsmanager list-secret-version-ids`).
    /// Mutually exclusive with versionStage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 32, max = 64))]
    pub version_id: Option<String>,
    /// ESO's version field, accepted for migration: empty means AWSCURRENT, `uuid/<id>` a version
    /// id, anything else a stage label. Mutually exclusive with versionStage and versionId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `None` (default) reads the secret's value; `Fetch` reads the secret's tags instead (as a
    /// JSON object, or one tag with `property`).
    #[serde(default)]
    pub metadata_policy: MetadataPolicy,
    /// How keys produced by `find` are made valid Secret keys: `Default` replaces invalid
    /// characters with `_`; `Unicode` replaces them with their `_Uxxxx_` code point.
    #[serde(default)]
    pub conversion_strategy: ConversionStrategy,
    /// How the fetched value is decoded before it is written: `None` (default), `Base64`,
    /// `Base64URL`, or `Auto` (decode when the value is valid base64, keep it as is otherwise).
    #[serde(default)]
    pub decoding_strategy: DecodingStrategy,
    /// `Ignore` (default) writes values containing NUL bytes; `Fail` refuses them (the sync
    /// fails naming the key, the Secret keeps its data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_byte_policy: Option<NullBytePolicy>,
}

impl ExternalSecretDataRemoteRef {
    /// The version this reference reads, resolving ESO's `version` syntax.
    pub fn version_selector(&self) -> VersionSelector {
        VersionSelector::from_fields(
            self.version_stage.as_deref(),
            self.version_id.as_deref(),
            self.version.as_deref(),
        )
    }
}

/// Whether a reference reads the secret's value or its tags.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum MetadataPolicy {
    /// Read the secret's value.
    #[default]
    None,
    /// Read the secret's tags instead of its value.
    Fetch,
}

/// How keys are made valid Secret keys.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ConversionStrategy {
    /// Replace characters that are invalid in a Secret key with `_`.
    #[default]
    Default,
    /// Replace invalid characters with `_U<code point>_`.
    Unicode,
}

/// How fetched values are decoded.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DecodingStrategy {
    /// Decode standard base64 when the value is valid base64, else keep the value.
    Auto,
    /// Decode standard base64 (padding optional).
    Base64,
    /// Decode URL-safe base64 (padding optional).
    #[serde(rename = "Base64URL")]
    Base64Url,
    /// Keep the value as fetched.
    #[default]
    None,
}

/// A bulk source of Secret keys: one of `extract` or `find`, then optional key rewrites.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
// ESO's webhook rules for a dataFrom entry; a `sourceRef.storeRef` alone (which ESO admits and
// then reads nothing with) is refused too.
#[x_kube(
    validation = Rule::new("!(has(self.extract) && has(self.find)) && !((has(self.extract) || has(self.find)) && has(self.sourceRef) && has(self.sourceRef.generatorRef))").message("extract, find, or generatorRef cannot be set at the same time"),
    validation = Rule::new("has(self.extract) || has(self.find) || (has(self.sourceRef) && has(self.sourceRef.generatorRef))").message("either extract, find, or sourceRef.generatorRef must be set to dataFrom"),
    validation = Rule::new("!has(self.sourceRef) || has(self.sourceRef.generatorRef) || has(self.sourceRef.storeRef)").message("generatorRef or storeRef must be set when using sourceRef in dataFrom")
)]
pub struct ExternalSecretDataFromRemoteRef {
    /// Every top-level property of a JSON secret becomes a Secret key; values that are not
    /// strings are written as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<ExternalSecretDataRemoteRef>,
    /// Every AWS secret matching the search becomes a Secret key named after the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub find: Option<ExternalSecretFind>,
    /// Rewrites of the produced keys, applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrite: Vec<ExternalSecretRewrite>,
    /// Read this entry through another store than `secretStoreRef` (its tenancy rules apply).
    /// `generatorRef` is not supported: refused with `InvalidSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<StoreSourceRef>,
}

/// A search over the AWS account's secrets (ListSecrets). All given criteria must match.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretFind {
    /// Only secrets whose name starts with this prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only secrets whose name matches a regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<FindName>,
    /// Only secrets carrying all of these tags with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// How secret names are made valid Secret keys; see remoteRef.conversionStrategy.
    #[serde(default)]
    pub conversion_strategy: ConversionStrategy,
    /// How the fetched values are decoded; see remoteRef.decodingStrategy.
    #[serde(default)]
    pub decoding_strategy: DecodingStrategy,
    /// What to do with found values containing NUL bytes; see remoteRef.nullBytePolicy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_byte_policy: Option<NullBytePolicy>,
}

/// Name criterion of a find.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindName {
    /// Regular expression (RE2 syntax) the secret name must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regexp: Option<String>,
}

/// One rewrite of the keys produced by a dataFrom entry; exactly one field is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct ExternalSecretRewrite {
    /// Merge the values (JSON objects) of the produced keys into one (ESO's rules: `priority`,
    /// `conflictPolicy`, `strategy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<ExternalSecretRewriteMerge>,
    /// Rewrite keys with a regular expression (`regexp.ReplaceAll`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regexp: Option<ExternalSecretRewriteRegexp>,
    /// Rewrite keys with a Go template; `.value` is the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<ExternalSecretRewriteTransform>,
}

/// Merging the produced values into one set of keys.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretRewriteMerge {
    /// The key the merged JSON is written to; required with `strategy: JSON`, ignored
    /// otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub into: String,
    /// Keys whose values win conflicts, highest priority last (as ESO: merged last).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priority: Vec<String>,
    /// `Strict` (default): a key named in `priority` that was not produced is an error;
    /// `IgnoreNotFound`: it is skipped.
    #[serde(default)]
    pub priority_policy: MergePriorityPolicy,
    /// `Error` (default): two values setting the same property differently is an error;
    /// `Ignore`: the later one wins.
    #[serde(default)]
    pub conflict_policy: MergeConflictPolicy,
    /// `Extract` (default): every property of the merged object becomes a key; `JSON`: the
    /// merged object is written as JSON into `into`.
    #[serde(default)]
    pub strategy: MergeStrategy,
}

/// Priority keys that were not produced.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum MergePriorityPolicy {
    /// Skipped.
    IgnoreNotFound,
    /// An error.
    #[default]
    Strict,
}

/// Properties set differently by two merged values.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum MergeConflictPolicy {
    /// The later value wins.
    Ignore,
    /// An error naming the property.
    #[default]
    Error,
}

/// What the merge produces.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum MergeStrategy {
    /// Every property of the merged object is a key.
    #[default]
    Extract,
    /// The merged object as JSON in one key.
    #[serde(rename = "JSON")]
    Json,
}

/// A regular-expression key rewrite.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretRewriteRegexp {
    /// Regular expression matched against each key.
    pub source: String,
    /// Replacement; `$1` and `${name}` refer to capture groups.
    pub target: String,
}

/// A template key rewrite.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretRewriteTransform {
    /// Go template producing the new key; `.value` is the current key.
    pub template: String,
}
