//! Condition types and reasons: the stable, machine-readable vocabulary of stagesync's status.
//! Every error maps to exactly one reason; dashboards and alerts key on these strings, so a
//! reason is never renamed.

use std::fmt;

/// Condition type telling whether the target Secret holds the wanted data.
pub const CONDITION_READY: &str = "Ready";
/// Condition type set while the target Secret is being deleted.
pub const CONDITION_DELETED: &str = "Deleted";
/// Condition type: whether the rotations of the AWS secrets an ExternalSecret reads complete
/// (`False` with reason `RotationStuck` when an AWSPENDING version is never promoted).
pub const CONDITION_ROTATION_HEALTHY: &str = "RotationHealthy";
/// Condition type: whether the workloads stagesync restarted after the Secret's data changed
/// finished their rollouts (`False` with reason `RolloutStuck` when one failed or stalled).
pub const CONDITION_WORKLOADS_UPDATED: &str = "WorkloadsUpdated";

/// Why a condition has its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The Secret holds the data of the wanted versions.
    SecretSynced,
    /// Syncing failed for a reason no finer reason describes.
    SecretSyncedError,
    /// The Secret was deleted because its AWS secrets were deleted (deletionPolicy Delete).
    SecretDeleted,
    /// The target Secret is missing and may not be created (creationPolicy Merge).
    SecretMissing,
    /// The AWS secret does not exist.
    SecretNotFound,
    /// The AWS secret exists but has no version with the wanted stage or id.
    VersionNotFound,
    /// The AWS secret's value has no such JSON property.
    PropertyNotFound,
    /// A property or extract was asked of a value that is not valid JSON (or not a JSON object).
    #[allow(clippy::upper_case_acronyms)]
    InvalidJSON,
    /// A value could not be decoded with the requested decodingStrategy.
    DecodingFailed,
    /// AWS refused the call for the store's identity (IAM, KMS key policy, assume role).
    AccessDenied,
    /// AWS throttled the calls; they are retried with backoff.
    Throttled,
    /// The AWS secret is scheduled for deletion and can no longer be read.
    SecretScheduledForDeletion,
    /// AWS could not be reached or failed (network, timeout, 5xx).
    Unavailable,
    /// The store's configuration cannot work (bad region, endpoint, credentials reference).
    InvalidStoreConfig,
    /// The referenced SecretStore or ClusterSecretStore does not exist.
    StoreNotFound,
    /// The ClusterSecretStore's conditions do not admit the ExternalSecret's namespace.
    StoreNotAllowed,
    /// A namespaced SecretStore without credentials would use the operator's own AWS identity,
    /// which the operator does not allow.
    AmbientCredentialsNotAllowed,
    /// The store's role is outside the operator's allow-list of assumable roles.
    RoleNotAllowed,
    /// The Secret or key holding the store's credentials does not exist.
    CredentialsNotFound,
    /// A produced key is not a valid Secret key; nothing was written.
    InvalidKey,
    /// The Secret the ExternalSecret would write is one the API server refuses (data over
    /// 1 MiB, keys its type requires missing, a type change); nothing was written.
    InvalidSecret,
    /// A fetched value contains NUL bytes and `nullBytePolicy` is `Fail`; nothing was written.
    NullBytesRefused,
    /// The target Secret exists and is managed by something else (another ExternalSecret, or not
    /// by stagesync at all); it was left untouched.
    SecretConflict,
    /// The API server failed the write of the Secret (a conflict, throttling, an error, an
    /// outage); the Secret is as it was and the write is retried with backoff.
    SecretWriteFailed,
    /// The ExternalSecret's spec cannot work as written (beyond what the CRD schema checks).
    InvalidSpec,
    /// A template (`target.template`) could not be rendered, or a ConfigMap/Secret it reads
    /// from is missing.
    TemplateFailed,
    /// A `dataFrom[].rewrite` could not be applied (invalid regexp, template error).
    RewriteFailed,
    /// A store's credentials were checked and work (ESO's store reason `Valid`).
    StoreValid,
    /// A version has carried AWSPENDING without becoming AWSCURRENT for longer than
    /// `--rotation-stuck-after`: the rotation function keeps failing.
    RotationStuck,
    /// No rotation of the referenced secrets is stuck.
    RotationHealthy,
    /// Every workload restarted after the Secret changed finished its rollout.
    RolloutFinished,
    /// A workload restarted after the Secret changed is still rolling.
    RolloutInProgress,
    /// A workload restarted after the Secret changed failed or stalled its rollout.
    RolloutStuck,
}

impl Reason {
    /// Every reason, in declaration order (a test checks none is missing).
    pub const ALL: [Reason; 33] = [
        Self::SecretSynced,
        Self::SecretSyncedError,
        Self::SecretDeleted,
        Self::SecretMissing,
        Self::SecretNotFound,
        Self::VersionNotFound,
        Self::PropertyNotFound,
        Self::InvalidJSON,
        Self::DecodingFailed,
        Self::AccessDenied,
        Self::Throttled,
        Self::SecretScheduledForDeletion,
        Self::Unavailable,
        Self::InvalidStoreConfig,
        Self::StoreNotFound,
        Self::StoreNotAllowed,
        Self::AmbientCredentialsNotAllowed,
        Self::RoleNotAllowed,
        Self::CredentialsNotFound,
        Self::InvalidKey,
        Self::InvalidSecret,
        Self::NullBytesRefused,
        Self::SecretConflict,
        Self::SecretWriteFailed,
        Self::InvalidSpec,
        Self::TemplateFailed,
        Self::RewriteFailed,
        Self::StoreValid,
        Self::RotationStuck,
        Self::RotationHealthy,
        Self::RolloutFinished,
        Self::RolloutInProgress,
        Self::RolloutStuck,
    ];

    /// The reason written as `text` in a condition or event, if it is one of stagesync's.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// The reason as written into conditions and events.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SecretSynced => "SecretSynced",
            Self::SecretSyncedError => "SecretSyncedError",
            Self::SecretDeleted => "SecretDeleted",
            Self::SecretMissing => "SecretMissing",
            Self::SecretNotFound => "SecretNotFound",
            Self::VersionNotFound => "VersionNotFound",
            Self::PropertyNotFound => "PropertyNotFound",
            Self::InvalidJSON => "InvalidJSON",
            Self::DecodingFailed => "DecodingFailed",
            Self::AccessDenied => "AccessDenied",
            Self::Throttled => "Throttled",
            Self::SecretScheduledForDeletion => "SecretScheduledForDeletion",
            Self::Unavailable => "Unavailable",
            Self::InvalidStoreConfig => "InvalidStoreConfig",
            Self::StoreNotFound => "StoreNotFound",
            Self::StoreNotAllowed => "StoreNotAllowed",
            Self::AmbientCredentialsNotAllowed => "AmbientCredentialsNotAllowed",
            Self::RoleNotAllowed => "RoleNotAllowed",
            Self::CredentialsNotFound => "CredentialsNotFound",
            Self::InvalidKey => "InvalidKey",
            Self::InvalidSecret => "InvalidSecret",
            Self::NullBytesRefused => "NullBytesRefused",
            Self::SecretConflict => "SecretConflict",
            Self::SecretWriteFailed => "SecretWriteFailed",
            Self::InvalidSpec => "InvalidSpec",
            Self::TemplateFailed => "TemplateFailed",
            Self::RewriteFailed => "RewriteFailed",
            Self::StoreValid => "Valid",
            Self::RotationStuck => "RotationStuck",
            Self::RotationHealthy => "RotationHealthy",
            Self::RolloutFinished => "RolloutFinished",
            Self::RolloutInProgress => "RolloutInProgress",
            Self::RolloutStuck => "RolloutStuck",
        }
    }

    /// Whether retrying the same call later can succeed without anyone changing anything.
    pub const fn is_transient(self) -> bool {
        matches!(self, Self::Throttled | Self::Unavailable)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variant names declared in `pub enum Reason { ... }`, read from this file.
    fn declared_variants() -> Vec<String> {
        let source = include_str!("reason.rs");
        let start = source.find("pub enum Reason {").expect("the enum");
        let body = &source[start..];
        let body = &body[..body.find("\n}").expect("the enum's end")];
        body.lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("//") && !l.starts_with('#') && l.ends_with(','))
            .map(|l| l.trim_end_matches(',').to_owned())
            .collect()
    }

    #[test]
    fn all_lists_every_variant_once_and_parse_inverts_as_str() {
        let listed: Vec<String> = Reason::ALL.iter().map(|r| format!("{r:?}")).collect();
        assert_eq!(listed, declared_variants());
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(Reason::parse("NoSuchReason"), None);
    }
}
