//! The secrets backend: one trait ([`SecretsBackend`]) for "a place secrets are read from", so
//! other backends and test fakes slot in, and its AWS Secrets Manager implementation in [`aws`].
//!
//! A backend reads values and metadata and reports typed errors; it never decides what goes into
//! a Kubernetes Secret (that is `render`) and never touches Kubernetes.

pub mod aws;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use litemap::LiteMap;
use regex::Regex;

use crate::api::{Reason, VersionSelector};
use crate::value::SecretBytes;

/// One version of a secret, with its value.
#[derive(Clone, Debug)]
pub struct RemoteSecret {
    /// The secret's name.
    pub name: String,
    /// The secret's full ARN.
    pub arn: String,
    /// Id of the version that was read.
    pub version_id: String,
    /// Staging labels that version carried when it was read.
    pub version_stages: Vec<String>,
    /// The value.
    pub payload: Payload,
}

/// A secret's value as the backend stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// A text value (AWS `SecretString`), UTF-8.
    Text(SecretBytes),
    /// A binary value (AWS `SecretBinary`).
    Binary(SecretBytes),
}

impl Payload {
    /// The value's bytes, whichever kind it is.
    pub fn bytes(&self) -> &SecretBytes {
        match self {
            Self::Text(b) | Self::Binary(b) => b,
        }
    }
}

/// What is known about a secret without reading its value: cheap to ask, safe to log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretMetadata {
    /// The secret's name.
    pub name: String,
    /// The secret's full ARN.
    pub arn: String,
    /// Every version that carries at least one staging label: version id → labels. A sorted
    /// vector: a secret has two or three such versions, and one of these is kept per tracked
    /// secret (a B-tree's smallest node costs about 0.5 KB).
    pub versions: LiteMap<String, Vec<String>>,
    /// Set when the secret is scheduled for deletion.
    pub deleted_date: Option<SystemTime>,
    /// When the secret's value or metadata last changed.
    pub last_changed_date: Option<SystemTime>,
    /// Rotation settings and history.
    pub rotation: RotationInfo,
    /// The secret's tags.
    pub tags: BTreeMap<String, String>,
}

impl SecretMetadata {
    /// Id of the version a selector points at, if the secret has it.
    pub fn version_id_for(&self, selector: &VersionSelector) -> Option<&str> {
        match selector {
            VersionSelector::Id(id) => (self.versions.find_index(id).ok())
                .and_then(|i| self.versions.get_indexed(i))
                .map(|(k, _)| k.as_str()),
            VersionSelector::Stage(stage) => self
                .versions
                .iter()
                .find(|(_, stages)| stages.iter().any(|s| s == stage))
                .map(|(id, _)| id.as_str()),
        }
    }
}

/// Rotation settings of a secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RotationInfo {
    /// Whether automatic rotation is on.
    pub enabled: bool,
    /// When the secret was last rotated.
    pub last_rotated_date: Option<SystemTime>,
    /// When AWS will next rotate it.
    pub next_rotation_date: Option<SystemTime>,
}

/// A search over a backend's secrets; every criterion given must match.
#[derive(Clone, Debug, Default)]
pub struct FindQuery {
    /// The name must match this regular expression.
    pub name_regexp: Option<Regex>,
    /// The name must start with this prefix.
    pub path: Option<String>,
    /// The secret must carry each of these tags with this value.
    pub tags: BTreeMap<String, String>,
}

impl FindQuery {
    /// Whether a secret's name and tags satisfy the query.
    pub fn matches(&self, name: &str, tags: &BTreeMap<String, String>) -> bool {
        self.path.as_deref().is_none_or(|p| name.starts_with(p))
            && self.name_regexp.as_ref().is_none_or(|re| re.is_match(name))
            && self.tags.iter().all(|(k, v)| tags.get(k) == Some(v))
    }
}

/// A secrets backend.
#[async_trait]
pub trait SecretsBackend: Send + Sync {
    /// Proves the backend accepts the store's identity, as cheaply as possible.
    async fn check_credentials(&self) -> Result<(), ProviderError>;

    /// Reads one version of a secret (by name or ARN), value included.
    async fn get_secret(
        &self,
        key: &str,
        version: &VersionSelector,
    ) -> Result<RemoteSecret, ProviderError>;

    /// Reads a secret's metadata (versions and their labels, deletion, rotation, tags) without
    /// its value.
    async fn describe_secret(&self, key: &str) -> Result<SecretMetadata, ProviderError>;

    /// Lists the secrets matching a query, with their metadata, without values. Secrets scheduled
    /// for deletion are not listed.
    async fn find_secrets(&self, query: &FindQuery) -> Result<Vec<SecretMetadata>, ProviderError>;

    /// One page (up to 100) of the account's secrets with their version → stages maps, no
    /// values; secrets scheduled for deletion included (with their deletion date). `names`
    /// (at most 10) narrows the listing to names starting with one of them; empty lists all.
    async fn list_page(
        &self,
        names: &[String],
        next_token: Option<String>,
    ) -> Result<ListPage, ProviderError>;

    /// The `AWSCURRENT` values of up to 20 secrets in one call. Secrets that fail one by one are
    /// left out of the answer (the caller reads them singly, which reports the failure).
    async fn batch_get_current(&self, keys: &[String]) -> Result<Vec<RemoteSecret>, ProviderError>;
}

/// One page of a listing.
#[derive(Clone, Debug, Default)]
pub struct ListPage {
    /// The secrets of this page.
    pub secrets: Vec<SecretMetadata>,
    /// Token of the next page; `None` on the last page.
    pub next_token: Option<String>,
}

/// Why a backend call failed. Messages name the secret and version, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The secret does not exist.
    #[error("secret {key:?} not found")]
    SecretNotFound {
        /// Name or ARN asked for.
        key: String,
    },
    /// The secret exists but has no such version.
    #[error("secret {key:?} has no version with {version}")]
    VersionNotFound {
        /// Name or ARN asked for.
        key: String,
        /// The version asked for.
        version: VersionSelector,
    },
    /// The secret is scheduled for deletion and cannot be read.
    #[error(
        "secret {key:?} is scheduled for deletion{}; the Secret keeps its data until the AWS secret is gone or restored",
        since(deleted_date)
    )]
    ScheduledForDeletion {
        /// Name or ARN asked for.
        key: String,
        /// AWS's `DeletedDate` of the secret, when known.
        deleted_date: Option<SystemTime>,
    },
    /// The backend refused the store's identity.
    #[error("access denied{}: {detail}", for_key(key))]
    AccessDenied {
        /// Name or ARN asked for, if the call was about one secret.
        key: Option<String>,
        /// The backend's explanation (error code and message).
        detail: String,
    },
    /// The backend does not accept the store's credentials at all (expired, unknown, badly
    /// signed, or none could be obtained): every call fails alike until they are fixed.
    #[error("AWS rejected the store's credentials: {detail}")]
    CredentialsRejected {
        /// The backend's explanation (error code and message).
        detail: String,
    },
    /// The backend throttled the call.
    #[error("throttled by the backend{}", for_key(key))]
    Throttled {
        /// Name or ARN asked for, if the call was about one secret.
        key: Option<String>,
        /// How long the backend asked to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The backend could not be reached or failed internally.
    #[error("backend unavailable{}: {detail}", for_key(key))]
    Unavailable {
        /// Name or ARN asked for, if the call was about one secret.
        key: Option<String>,
        /// What failed (network, timeout, service error).
        detail: String,
    },
    /// The request itself is invalid (for example a malformed ARN).
    #[error("invalid request{}: {detail}", for_key(key))]
    InvalidRequest {
        /// Name or ARN asked for, if the call was about one secret.
        key: Option<String>,
        /// The backend's explanation.
        detail: String,
    },
    /// The store's configuration cannot work.
    #[error("invalid store configuration: {0}")]
    InvalidStoreConfig(String),
}

fn since(date: &Option<SystemTime>) -> String {
    date.and_then(|d| k8s_openapi::jiff::Timestamp::try_from(d).ok())
        .map(|t| format!(" (deletion date {t})"))
        .unwrap_or_default()
}

fn for_key(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!(" for secret {k:?}"))
        .unwrap_or_default()
}

impl ProviderError {
    /// The condition reason this error is reported with.
    pub fn reason(&self) -> Reason {
        match self {
            Self::SecretNotFound { .. } => Reason::SecretNotFound,
            Self::VersionNotFound { .. } => Reason::VersionNotFound,
            Self::ScheduledForDeletion { .. } => Reason::SecretScheduledForDeletion,
            Self::AccessDenied { .. } | Self::CredentialsRejected { .. } => Reason::AccessDenied,
            Self::Throttled { .. } => Reason::Throttled,
            Self::Unavailable { .. } => Reason::Unavailable,
            Self::InvalidRequest { .. } => Reason::SecretSyncedError,
            Self::InvalidStoreConfig(_) => Reason::InvalidStoreConfig,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> SecretMetadata {
        SecretMetadata {
            versions: LiteMap::from_iter([
                ("v1".to_owned(), vec!["AWSPREVIOUS".to_owned()]),
                (
                    "v2".to_owned(),
                    vec!["AWSCURRENT".to_owned(), "blue".to_owned()],
                ),
            ]),
            ..Default::default()
        }
    }

    #[test]
    fn version_id_for_stage_and_id() {
        let m = metadata();
        assert_eq!(m.version_id_for(&VersionSelector::default()), Some("v2"));
        assert_eq!(
            m.version_id_for(&VersionSelector::Stage("blue".into())),
            Some("v2")
        );
        assert_eq!(
            m.version_id_for(&VersionSelector::Stage("AWSPREVIOUS".into())),
            Some("v1")
        );
        assert_eq!(
            m.version_id_for(&VersionSelector::Stage("AWSPENDING".into())),
            None
        );
        assert_eq!(
            m.version_id_for(&VersionSelector::Id("v1".into())),
            Some("v1")
        );
        assert_eq!(m.version_id_for(&VersionSelector::Id("v9".into())), None);
    }

    #[test]
    fn find_query_requires_every_criterion() {
        let tags = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
        let q = FindQuery {
            name_regexp: Some(Regex::new("^app/.*db").unwrap()),
            path: Some("app/".into()),
            tags: tags.clone(),
        };
        assert!(q.matches("app/main-db", &tags));
        assert!(!q.matches("app/main-cache", &tags));
        assert!(!q.matches("other/app/main-db", &tags));
        assert!(!q.matches("app/main-db", &BTreeMap::new()));
        let wrong_value = BTreeMap::from([("team".to_owned(), "b".to_owned())]);
        assert!(!q.matches("app/main-db", &wrong_value));
    }

    #[test]
    fn errors_map_to_stable_reasons() {
        let cases = [
            (
                ProviderError::SecretNotFound { key: "k".into() },
                "SecretNotFound",
            ),
            (
                ProviderError::VersionNotFound {
                    key: "k".into(),
                    version: VersionSelector::default(),
                },
                "VersionNotFound",
            ),
            (
                ProviderError::ScheduledForDeletion {
                    key: "k".into(),
                    deleted_date: None,
                },
                "SecretScheduledForDeletion",
            ),
            (
                ProviderError::AccessDenied {
                    key: None,
                    detail: String::new(),
                },
                "AccessDenied",
            ),
            (
                ProviderError::CredentialsRejected {
                    detail: String::new(),
                },
                "AccessDenied",
            ),
            (
                ProviderError::Throttled {
                    key: None,
                    retry_after: None,
                },
                "Throttled",
            ),
            (
                ProviderError::Unavailable {
                    key: None,
                    detail: String::new(),
                },
                "Unavailable",
            ),
            (
                ProviderError::InvalidStoreConfig(String::new()),
                "InvalidStoreConfig",
            ),
        ];
        for (err, reason) in cases {
            assert_eq!(err.reason().as_str(), reason, "{err}");
        }
    }

    #[test]
    fn messages_name_key_and_version() {
        let e = ProviderError::VersionNotFound {
            key: "prod/db".into(),
            version: VersionSelector::Stage("AWSPENDING".into()),
        };
        assert_eq!(
            e.to_string(),
            r#"secret "prod/db" has no version with stage AWSPENDING"#
        );
    }
}
