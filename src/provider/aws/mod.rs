//! AWS Secrets Manager behind [`SecretsBackend`]: `GetSecretValue` for values,
//! `DescribeSecret` for metadata (version ids → stages, deletion, rotation, tags) and
//! `ListSecrets` for `find`. Every SDK error is mapped to one [`ProviderError`].

mod assume;
mod client;
mod errors;
mod observe;

pub use assume::TokenSource;
pub use client::{
    AssumeRole, AwsClientConfig, AwsClients, CredentialSource, Timeouts, build_client,
};
pub use observe::{CallObserver, CallOutcome};

use std::collections::BTreeMap;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use aws_smithy_types::DateTime;

use super::{
    FindQuery, ListPage, Payload, ProviderError, RemoteSecret, RotationInfo, SecretMetadata,
    SecretsBackend,
};
use crate::api::VersionSelector;
use crate::value::SecretBytes;
use errors::{CallError, classify};

/// Page size of `ListSecrets` (the API's maximum).
const LIST_PAGE_SIZE: i32 = 100;

/// Secrets per `BatchGetSecretValue` call (the API's maximum for `SecretIdList`).
pub const BATCH_GET_MAX: usize = 20;

/// Values per `ListSecrets` filter (the API's maximum).
pub const LIST_FILTER_MAX_VALUES: usize = 10;

/// A Secrets Manager client for one store.
#[derive(Clone, Debug)]
pub struct AwsBackend {
    client: Client,
    sts: aws_sdk_sts::Client,
}

impl AwsBackend {
    /// Wraps clients built by [`build_client`].
    pub fn new(clients: AwsClients) -> Self {
        Self {
            client: clients.secrets_manager,
            sts: clients.sts,
        }
    }

    /// Builds the client from a store's settings.
    pub async fn from_config(config: &AwsClientConfig) -> Result<Self, ProviderError> {
        Ok(Self::new(build_client(config).await?))
    }

    /// Tells apart a missing secret, a missing version and a secret scheduled for deletion after
    /// `GetSecretValue` said "not found" or "invalid request": AWS answers all of them with the
    /// same few error codes, and message texts are not a contract. Costs one `DescribeSecret`,
    /// on the error path only.
    async fn explain_missing(
        &self,
        key: &str,
        version: &VersionSelector,
        original: ProviderError,
    ) -> ProviderError {
        match self.describe_secret(key).await {
            Ok(meta) if meta.deleted_date.is_some() => ProviderError::ScheduledForDeletion {
                key: key.to_owned(),
                deleted_date: meta.deleted_date,
            },
            Ok(meta) if meta.version_id_for(version).is_none() => ProviderError::VersionNotFound {
                key: key.to_owned(),
                version: version.clone(),
            },
            Ok(_) => original,
            Err(err @ ProviderError::SecretNotFound { .. }) => err,
            Err(_) => original,
        }
    }
}

#[async_trait]
impl SecretsBackend for AwsBackend {
    /// `sts:GetCallerIdentity`: proves the credentials (and any role assumption) work without
    /// needing a Secrets Manager permission on any particular secret.
    async fn check_credentials(&self) -> Result<(), ProviderError> {
        self.sts
            .get_caller_identity()
            .send()
            .await
            .map(|_| ())
            .map_err(|err| classify(&err, "").into_error_without_key())
    }

    async fn get_secret(
        &self,
        key: &str,
        version: &VersionSelector,
    ) -> Result<RemoteSecret, ProviderError> {
        let mut request = self.client.get_secret_value().secret_id(key);
        request = match version {
            VersionSelector::Stage(stage) => request.version_stage(stage),
            VersionSelector::Id(id) => request.version_id(id),
        };
        let out = match request.send().await {
            Ok(out) => out,
            Err(err) => {
                return Err(match classify(&err, key) {
                    CallError::NotFound | CallError::InvalidRequest(_) => {
                        let fallback = classify(&err, key).into_error(key);
                        self.explain_missing(key, version, fallback).await
                    }
                    other => other.into_error(key),
                });
            }
        };
        Ok(RemoteSecret {
            name: out.name.unwrap_or_else(|| key.to_owned()),
            arn: out.arn.unwrap_or_default(),
            version_id: out.version_id.unwrap_or_default(),
            version_stages: out.version_stages.unwrap_or_default(),
            payload: payload(out.secret_string, out.secret_binary),
        })
    }

    async fn describe_secret(&self, key: &str) -> Result<SecretMetadata, ProviderError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(key)
            .send()
            .await
            .map_err(|err| classify(&err, key).into_error(key))?;
        Ok(SecretMetadata {
            name: out.name.unwrap_or_else(|| key.to_owned()),
            arn: out.arn.unwrap_or_default(),
            versions: out
                .version_ids_to_stages
                .map(labelled_versions)
                .unwrap_or_default(),
            deleted_date: out.deleted_date.and_then(to_system_time),
            last_changed_date: out.last_changed_date.and_then(to_system_time),
            rotation: RotationInfo {
                enabled: out.rotation_enabled.unwrap_or(false),
                last_rotated_date: out.last_rotated_date.and_then(to_system_time),
                next_rotation_date: out.next_rotation_date.and_then(to_system_time),
            },
            tags: tag_map(out.tags.as_deref()),
        })
    }

    async fn find_secrets(&self, query: &FindQuery) -> Result<Vec<SecretMetadata>, ProviderError> {
        // Server-side filters narrow the listing; `FindQuery::matches` then checks every
        // criterion exactly (AWS's tag-key and tag-value filters match independently, so a
        // secret with tag a=2,b=1 would pass a filter for a=1).
        let mut filters = Vec::new();
        if let Some(path) = query.path.as_deref().filter(|p| !p.is_empty()) {
            filters.push(filter(FilterNameStringType::Name, path));
        }
        for (k, v) in &query.tags {
            filters.push(filter(FilterNameStringType::TagKey, k));
            filters.push(filter(FilterNameStringType::TagValue, v));
        }
        let mut found = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let page = self
                .list_secrets_page(filters.clone(), next_token.take(), false)
                .await?;
            found.extend(
                page.secrets
                    .into_iter()
                    .filter(|m| m.deleted_date.is_none() && query.matches(&m.name, &m.tags)),
            );
            match page.next_token {
                Some(token) => next_token = Some(token),
                None => break,
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    async fn list_page(
        &self,
        names: &[String],
        next_token: Option<String>,
    ) -> Result<ListPage, ProviderError> {
        let filters = if names.is_empty() {
            Vec::new()
        } else {
            vec![
                Filter::builder()
                    .key(FilterNameStringType::Name)
                    .set_values(Some(names.to_vec()))
                    .build(),
            ]
        };
        self.list_secrets_page(filters, next_token, true).await
    }

    async fn batch_get_current(&self, keys: &[String]) -> Result<Vec<RemoteSecret>, ProviderError> {
        let out = self
            .client
            .batch_get_secret_value()
            .set_secret_id_list(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|err| classify(&err, "").into_error_without_key())?;
        // Secrets that failed one by one (out.errors) are left out: the caller reads them with
        // GetSecretValue, which reports each failure precisely.
        Ok(out
            .secret_values
            .unwrap_or_default()
            .into_iter()
            .map(|v| RemoteSecret {
                name: v.name.unwrap_or_default(),
                arn: v.arn.unwrap_or_default(),
                version_id: v.version_id.unwrap_or_default(),
                version_stages: v.version_stages.unwrap_or_default(),
                payload: payload(v.secret_string, v.secret_binary),
            })
            .collect())
    }
}

impl AwsBackend {
    /// One `ListSecrets` page: metadata only, no values, no KMS decrypt.
    async fn list_secrets_page(
        &self,
        filters: Vec<Filter>,
        next_token: Option<String>,
        include_planned_deletion: bool,
    ) -> Result<ListPage, ProviderError> {
        let out = self
            .client
            .list_secrets()
            .set_filters((!filters.is_empty()).then_some(filters))
            .max_results(LIST_PAGE_SIZE)
            .include_planned_deletion(include_planned_deletion)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|err| classify(&err, "").into_error_without_key())?;
        let secrets = out
            .secret_list
            .unwrap_or_default()
            .into_iter()
            .map(|entry| SecretMetadata {
                name: entry.name.unwrap_or_default(),
                arn: entry.arn.unwrap_or_default(),
                versions: entry
                    .secret_versions_to_stages
                    .map(labelled_versions)
                    .unwrap_or_default(),
                deleted_date: entry.deleted_date.and_then(to_system_time),
                last_changed_date: entry.last_changed_date.and_then(to_system_time),
                rotation: RotationInfo {
                    enabled: entry.rotation_enabled.unwrap_or(false),
                    last_rotated_date: entry.last_rotated_date.and_then(to_system_time),
                    next_rotation_date: entry.next_rotation_date.and_then(to_system_time),
                },
                tags: tag_map(entry.tags.as_deref()),
            })
            .collect();
        Ok(ListPage {
            secrets,
            next_token: out.next_token.filter(|t| !t.is_empty()),
        })
    }
}

fn filter(key: FilterNameStringType, value: &str) -> Filter {
    Filter::builder().key(key).values(value).build()
}

/// The value as the SDK parsed it, moved (not copied) into [`SecretBytes`]. The SDK's own copies
/// — the HTTP response body it parsed this from, and its output struct's other fields — are its
/// own and freed without being zeroed; its output types redact the value in `Debug`.
fn payload(text: Option<String>, binary: Option<aws_smithy_types::Blob>) -> Payload {
    match (text, binary) {
        (Some(text), _) => Payload::Text(SecretBytes::from(text)),
        (None, Some(blob)) => Payload::Binary(SecretBytes::from(blob.into_inner())),
        (None, None) => Payload::Text(SecretBytes::default()),
    }
}

/// The versions that carry a staging label (AWS may list unlabelled ones; they are reachable by
/// id only), so a listing and a description of the same secret compare equal.
fn labelled_versions(
    versions: std::collections::HashMap<String, Vec<String>>,
) -> litemap::LiteMap<String, Vec<String>> {
    versions
        .into_iter()
        .filter(|(_, stages)| !stages.is_empty())
        .map(|(id, mut stages)| {
            stages.sort();
            (id, stages)
        })
        .collect()
}

fn tag_map(tags: Option<&[Tag]>) -> BTreeMap<String, String> {
    tags.unwrap_or_default()
        .iter()
        .filter_map(|t| Some((t.key.clone()?, t.value.clone().unwrap_or_default())))
        .collect()
}

fn to_system_time(t: DateTime) -> Option<SystemTime> {
    SystemTime::try_from(t).ok()
}
