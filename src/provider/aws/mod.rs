//! AWS Secrets Manager behind [`SecretsBackend`]: `GetSecretValue` for values,
//! `DescribeSecret` for metadata (version ids → stages, deletion, rotation, tags) and
//! `ListSecrets` for `find`. Every SDK error is mapped to one [`ProviderError`].

mod client;
mod errors;

pub use client::{
    AssumeRole, AwsClientConfig, AwsClients, CredentialSource, Timeouts, build_client,
};

use std::collections::BTreeMap;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use aws_smithy_types::DateTime;

use super::{
    FindQuery, Payload, ProviderError, RemoteSecret, RotationInfo, SecretMetadata, SecretsBackend,
};
use crate::api::VersionSelector;
use crate::value::SecretBytes;
use errors::{CallError, classify};

/// Page size of `ListSecrets` (the API's maximum).
const LIST_PAGE_SIZE: i32 = 100;

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
        let payload = match (out.secret_string, out.secret_binary) {
            (Some(text), _) => Payload::Text(SecretBytes::from(text)),
            (None, Some(blob)) => Payload::Binary(SecretBytes::from(blob.into_inner())),
            (None, None) => Payload::Text(SecretBytes::default()),
        };
        Ok(RemoteSecret {
            name: out.name.unwrap_or_else(|| key.to_owned()),
            arn: out.arn.unwrap_or_default(),
            version_id: out.version_id.unwrap_or_default(),
            version_stages: out.version_stages.unwrap_or_default(),
            payload,
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
                .unwrap_or_default()
                .into_iter()
                .collect(),
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
            let out = self
                .client
                .list_secrets()
                .set_filters((!filters.is_empty()).then(|| filters.clone()))
                .max_results(LIST_PAGE_SIZE)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|err| classify(&err, "").into_error_without_key())?;
            for entry in out.secret_list.unwrap_or_default() {
                let name = entry.name.unwrap_or_default();
                let tags = tag_map(entry.tags.as_deref());
                if entry.deleted_date.is_some() || !query.matches(&name, &tags) {
                    continue;
                }
                found.push(SecretMetadata {
                    name,
                    arn: entry.arn.unwrap_or_default(),
                    versions: entry
                        .secret_versions_to_stages
                        .unwrap_or_default()
                        .into_iter()
                        .collect(),
                    deleted_date: None,
                    last_changed_date: entry.last_changed_date.and_then(to_system_time),
                    rotation: RotationInfo {
                        enabled: entry.rotation_enabled.unwrap_or(false),
                        last_rotated_date: entry.last_rotated_date.and_then(to_system_time),
                        next_rotation_date: entry.next_rotation_date.and_then(to_system_time),
                    },
                    tags,
                });
            }
            match out.next_token {
                Some(token) if !token.is_empty() => next_token = Some(token),
                _ => break,
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }
}

fn filter(key: FilterNameStringType, value: &str) -> Filter {
    Filter::builder().key(key).values(value).build()
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
