//! `stagesync check --aws`: each AWS secret an ExternalSecret references is looked up with
//! `DescribeSecret` — metadata only, never `GetSecretValue` — to prove it exists, is not
//! scheduled for deletion, and has the stage or version id asked for. Keys are given the
//! store's `prefix`, as the operator gives them. Each secret is described once per AWS client,
//! however many ExternalSecrets name it.
//!
//! Identity: the default AWS credential chain of whoever runs the check (a developer, a CI
//! role), in each ExternalSecret's store region and endpoint; or, with `--aws-store NAME`, that
//! store's region, endpoint and role (assumed with the default chain) for every ExternalSecret.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Finding, Severity};
use crate::api::VersionSelector;
use crate::api::externalsecret::{ExternalSecret, ExternalSecretDataRemoteRef, MetadataPolicy};
use crate::api::secretstore::AwsProvider;
use crate::controller::sources::with_prefixes;
use crate::provider::aws::{AssumeRole, AwsBackend, AwsClientConfig, CredentialSource};
use crate::provider::{ProviderError, SecretMetadata, SecretsBackend};

/// Settings of the AWS lookups.
#[derive(Clone, Debug, Default)]
pub struct AwsCheckOptions {
    /// Use this store's region, endpoint and role for every ExternalSecret.
    pub store: Option<String>,
    /// Region overriding the stores'.
    pub region: Option<String>,
    /// Secrets Manager endpoint overriding the stores' (VPC endpoints, tests).
    pub endpoint: Option<String>,
    /// STS endpoint for assuming the store's role.
    pub sts_endpoint: Option<String>,
}

/// Where an ExternalSecret's secrets are looked up: region, endpoint and role.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lookup {
    region: String,
    endpoint: Option<String>,
    role: Option<String>,
}

impl Lookup {
    /// The lookup of a store under `options`.
    pub fn for_store(store: &AwsProvider, options: &AwsCheckOptions, use_role: bool) -> Self {
        Self {
            region: options
                .region
                .clone()
                .unwrap_or_else(|| store.region.clone()),
            endpoint: options.endpoint.clone().or_else(|| store.endpoint.clone()),
            role: store.role.clone().filter(|_| use_role),
        }
    }
}

/// One ExternalSecret to look up, with its store's lookup and key prefix.
pub struct Target<'a> {
    /// The ExternalSecret.
    pub es: &'a ExternalSecret,
    /// Where its store points.
    pub lookup: Lookup,
    /// Its store's `prefix`.
    pub prefix: Option<String>,
}

/// Describes every referenced secret; findings by target index.
pub async fn lookup(targets: &[Target<'_>], options: &AwsCheckOptions) -> Vec<(usize, Finding)> {
    let mut backends: HashMap<Lookup, Result<Arc<AwsBackend>, String>> = HashMap::new();
    let mut described: HashMap<(Lookup, String), Result<SecretMetadata, ProviderError>> =
        HashMap::new();
    let mut out = Vec::new();
    for (index, target) in targets.iter().enumerate() {
        let backend = match backends.get(&target.lookup) {
            Some(b) => b.clone(),
            None => {
                let b = connect(&target.lookup, options).await;
                backends.insert(target.lookup.clone(), b.clone());
                b
            }
        };
        let backend = match backend {
            Ok(b) => b,
            Err(e) => {
                out.push((
                    index,
                    Finding::warning(
                        "spec.secretStoreRef",
                        format!("AWS could not be asked: {e}"),
                    ),
                ));
                continue;
            }
        };
        let spec = with_prefixes(&target.es.spec, |_| target.prefix.as_deref());
        for (field, r) in references(&spec) {
            let slot = (target.lookup.clone(), r.key.clone());
            if !described.contains_key(&slot) {
                let answer = backend.describe_secret(&r.key).await;
                described.insert(slot.clone(), answer);
            }
            if let Some(f) = judge(&field, r, &target.lookup.region, &described[&slot]) {
                out.push((index, f));
            }
        }
    }
    out
}

async fn connect(lookup: &Lookup, options: &AwsCheckOptions) -> Result<Arc<AwsBackend>, String> {
    let mut config = AwsClientConfig::new(lookup.region.clone(), CredentialSource::DefaultChain);
    config.endpoint = lookup.endpoint.clone();
    config.sts_endpoint = options.sts_endpoint.clone();
    config.assume_role = lookup.role.as_ref().map(|role| AssumeRole {
        role_arn: role.clone(),
        external_id: None,
        session_tags: Vec::new(),
        session_name: "stagesync-check".into(),
        transitive_tag_keys: Vec::new(),
    });
    AwsBackend::from_config(&config)
        .await
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// Every remote reference of a spec with the field path of its key (`find` is not looked up).
fn references(
    spec: &crate::api::externalsecret::ExternalSecretSpec,
) -> Vec<(String, &ExternalSecretDataRemoteRef)> {
    let data = spec
        .data
        .iter()
        .enumerate()
        .map(|(i, d)| (format!("spec.data[{i}].remoteRef.key"), &d.remote_ref));
    let extracts = spec.data_from.iter().enumerate().filter_map(|(i, d)| {
        d.extract
            .as_ref()
            .map(|r| (format!("spec.dataFrom[{i}].extract.key"), r))
    });
    data.chain(extracts).collect()
}

/// What one reference's metadata says: nothing when all is well.
fn judge(
    field: &str,
    r: &ExternalSecretDataRemoteRef,
    region: &str,
    answer: &Result<SecretMetadata, ProviderError>,
) -> Option<Finding> {
    let meta = match answer {
        Ok(m) => m,
        Err(ProviderError::SecretNotFound { .. }) => {
            return Some(Finding::error(
                field,
                format!("AWS secret {:?} does not exist in region {region}", r.key),
            ));
        }
        Err(ProviderError::ScheduledForDeletion { .. }) => {
            return Some(scheduled(field, &r.key));
        }
        Err(e) => {
            return Some(Finding::warning(
                field,
                format!("AWS secret {:?} could not be described: {e}", r.key),
            ));
        }
    };
    if meta.deleted_date.is_some() {
        return Some(scheduled(field, &r.key));
    }
    if r.metadata_policy == MetadataPolicy::Fetch {
        return None;
    }
    let selector = r.version_selector();
    if meta.version_id_for(&selector).is_some() {
        return None;
    }
    Some(match &selector {
        VersionSelector::Stage(stage) => Finding::error(
            field,
            format!(
                "no version of AWS secret {:?} carries the stage {stage:?}",
                r.key
            ),
        )
        .hint(format!("its stages are {}", stages_of(meta))),
        VersionSelector::Id(id) => Finding::new(
            Severity::Warning,
            field,
            format!(
                "AWS secret {:?} has no version {id:?} carrying a staging label: it does not exist, or is deprecated and may be removed by AWS at any time",
                r.key
            ),
        ),
    })
}

fn scheduled(field: &str, key: &str) -> Finding {
    Finding::error(
        field,
        format!("AWS secret {key:?} is scheduled for deletion"),
    )
    .hint("restore it (RestoreSecret) or stop referencing it")
}

fn stages_of(meta: &SecretMetadata) -> String {
    let mut stages: Vec<&str> = meta
        .versions
        .values()
        .flatten()
        .map(String::as_str)
        .collect();
    stages.sort_unstable();
    if stages.is_empty() {
        "none".into()
    } else {
        stages.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(stage: Option<&str>, id: Option<&str>) -> ExternalSecretDataRemoteRef {
        serde_json::from_value(serde_json::json!({
            "key": "db", "versionStage": stage, "versionId": id
        }))
        .unwrap()
    }

    fn meta() -> SecretMetadata {
        SecretMetadata {
            name: "db".into(),
            versions: litemap::LiteMap::from_iter([
                ("v2".into(), vec!["AWSCURRENT".into()]),
                ("v1".into(), vec!["AWSPREVIOUS".into()]),
            ]),
            ..SecretMetadata::default()
        }
    }

    #[test]
    fn stages_and_ids_are_judged_from_metadata() {
        let ok = Ok(meta());
        assert_eq!(judge("f", &reference(None, None), "eu-west-1", &ok), None);
        assert_eq!(
            judge("f", &reference(Some("AWSPREVIOUS"), None), "r", &ok),
            None
        );
        assert_eq!(judge("f", &reference(None, Some("v1")), "r", &ok), None);
        let pending = judge("f", &reference(Some("AWSPENDING"), None), "r", &ok).unwrap();
        assert_eq!(pending.severity, Severity::Error);
        assert_eq!(
            pending.hint.as_deref(),
            Some("its stages are AWSCURRENT, AWSPREVIOUS")
        );
        let gone = judge("f", &reference(None, Some("v0")), "r", &ok).unwrap();
        assert_eq!(gone.severity, Severity::Warning);
    }

    #[test]
    fn missing_and_deleted_secrets_are_errors() {
        let missing = Err(ProviderError::SecretNotFound { key: "db".into() });
        let f = judge(
            "spec.data[0].remoteRef.key",
            &reference(None, None),
            "eu-west-1",
            &missing,
        )
        .unwrap();
        assert_eq!(f.severity, Severity::Error);
        assert!(f.message.contains("does not exist in region eu-west-1"));
        let mut deleted = meta();
        deleted.deleted_date = Some(std::time::SystemTime::now());
        let f = judge("f", &reference(None, None), "r", &Ok(deleted)).unwrap();
        assert!(f.message.contains("scheduled for deletion"));
    }
}
