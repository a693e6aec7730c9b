//! Everything one ExternalSecret's spec references, read through its store's resolver: each
//! `(remote key, version)` once per reconcile however many entries name it, a few at a time.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};
use regex::Regex;

use crate::api::VersionSelector;
use crate::api::externalsecret::{ExternalSecretDataRemoteRef, ExternalSecretSpec, MetadataPolicy};
use crate::provider::{FindQuery, ProviderError, RemoteSecret, SecretMetadata};

use super::{EsRef, StoreResolver};

/// How many backend calls one reconcile runs at once.
const FETCH_CONCURRENCY: usize = 4;

/// Everything an ExternalSecret's spec needs from the backend. `None` marks a secret that does
/// not exist in the backend, kept only when the deletion policy tolerates missing secrets.
#[derive(Debug, Default)]
pub struct FetchedValues {
    /// Values by `(remote key, version)`.
    pub values: HashMap<(String, VersionSelector), Option<Arc<RemoteSecret>>>,
    /// Metadata (tags) by remote key, for `metadataPolicy: Fetch`.
    pub metadata: HashMap<String, Option<Arc<SecretMetadata>>>,
    /// Secrets found by each `dataFrom[].find`, by the index of the dataFrom entry.
    pub finds: HashMap<usize, Vec<Arc<RemoteSecret>>>,
}

impl FetchedValues {
    /// The value a reference reads (`Ok(None)`: the secret is missing and that is tolerated).
    pub fn value(&self, r: &ExternalSecretDataRemoteRef) -> Option<&Arc<RemoteSecret>> {
        self.values
            .get(&(r.key.clone(), r.version_selector()))
            .and_then(Option::as_ref)
    }

    /// The metadata a reference reads.
    pub fn metadata(&self, key: &str) -> Option<&Arc<SecretMetadata>> {
        self.metadata.get(key).and_then(Option::as_ref)
    }

    /// Whether the specs fetched through several stores referenced at least one secret and
    /// every one of them is missing.
    pub fn all_missing_in(all: &[FetchedValues]) -> bool {
        let refs: usize = all.iter().map(|f| f.values.len() + f.metadata.len()).sum();
        refs > 0
            && all.iter().all(|f| {
                f.values.values().all(Option::is_none)
                    && f.metadata.values().all(Option::is_none)
                    && f.finds.values().all(Vec::is_empty)
            })
    }

    /// Whether the spec referenced at least one secret and every one of them is missing.
    pub fn all_missing(&self) -> bool {
        let refs = self.values.len() + self.metadata.len();
        refs > 0
            && self.values.values().all(Option::is_none)
            && self.metadata.values().all(Option::is_none)
            && self.finds.values().all(Vec::is_empty)
    }
}

/// Why the spec's references could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The backend failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A `find` sets no criterion; it would copy every secret of the account.
    #[error(
        "dataFrom[{index}].find sets none of name.regexp, path or tags; refusing to copy every secret of the account"
    )]
    UnboundedFind {
        /// Index of the dataFrom entry.
        index: usize,
    },
    /// A `find.name.regexp` does not compile.
    #[error("dataFrom[{index}].find.name.regexp is not a valid regular expression: {detail}")]
    InvalidRegexp {
        /// Index of the dataFrom entry.
        index: usize,
        /// The compiler's explanation.
        detail: String,
    },
}

impl FetchError {
    /// The condition reason this error is reported with.
    pub fn reason(&self) -> crate::api::Reason {
        match self {
            Self::Provider(e) => e.reason(),
            Self::UnboundedFind { .. } | Self::InvalidRegexp { .. } => {
                crate::api::Reason::InvalidSpec
            }
        }
    }
}

/// The `(key, version)` values and the metadata keys a spec reads (not `find`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct References {
    /// Values by `(remote key, version)`.
    pub values: BTreeSet<(String, VersionSelector)>,
    /// Keys whose metadata (tags) is read.
    pub metadata: BTreeSet<String>,
}

/// What a spec references.
pub fn references(spec: &ExternalSecretSpec) -> References {
    let mut out = References::default();
    let refs = spec
        .data
        .iter()
        .map(|d| &d.remote_ref)
        .chain(spec.data_from.iter().filter_map(|d| d.extract.as_ref()));
    for r in refs {
        match r.metadata_policy {
            MetadataPolicy::None => out.values.insert((r.key.clone(), r.version_selector())),
            MetadataPolicy::Fetch => out.metadata.insert(r.key.clone()),
        };
    }
    out
}

/// Tells the store's tracker which references `es` reads and how often (`interval`; `None`: no
/// periodic refresh, nothing tracked).
pub fn track(
    resolver: &StoreResolver,
    es: &EsRef,
    spec: &ExternalSecretSpec,
    interval: Option<Duration>,
) {
    let refs = references(spec);
    let tracked: Vec<(String, VersionSelector)> = refs
        .values
        .into_iter()
        .chain(
            refs.metadata
                .into_iter()
                .map(|k| (k, VersionSelector::default())),
        )
        .collect();
    resolver.subscribe(es, &tracked, interval);
}

/// How fresh what a reconcile reads must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Version knowledge older than this is checked with AWS again.
    pub max_age: Duration,
    /// Read every value from AWS now, whatever the tracker knows (force-sync).
    pub force: bool,
}

/// Fetches every value and metadata the spec references, and records the versions `es` was
/// served (the caller has told the tracker what `es` reads, with [`track`]). With
/// `tolerate_missing`, secrets that do not exist are recorded as `None` instead of failing the
/// whole fetch (deletionPolicy Delete/Merge: a deleted AWS secret is not an error).
pub async fn fetch_all(
    resolver: &StoreResolver,
    es: &EsRef,
    spec: &ExternalSecretSpec,
    tolerate_missing: bool,
    opts: ReadOptions,
) -> Result<FetchedValues, FetchError> {
    let References {
        values: value_refs,
        metadata: metadata_refs,
    } = references(spec);

    let backend = resolver.backend().as_ref();
    let mut fetched = FetchedValues::default();
    let missing_ok = |r: Result<Arc<RemoteSecret>, ProviderError>| match r {
        Ok(v) => Ok(Some(v)),
        Err(ProviderError::SecretNotFound { .. }) if tolerate_missing => Ok(None),
        Err(e) => Err(e),
    };
    fetched.values = stream::iter(value_refs)
        .map(|(key, version)| async move {
            let got = resolver.read(&key, &version, opts).await;
            missing_ok(got).map(|v| ((key, version), v))
        })
        .buffer_unordered(FETCH_CONCURRENCY)
        .try_collect()
        .await?;
    let served: Vec<(String, VersionSelector, String)> = fetched
        .values
        .iter()
        .filter_map(|((key, selector), v)| {
            v.as_ref()
                .map(|v| (key.clone(), selector.clone(), v.version_id.clone()))
        })
        .collect();
    resolver.served(es, &served);
    fetched.metadata = stream::iter(metadata_refs)
        .map(|key| async move {
            let got = match resolver.metadata(&key, opts).await {
                Ok(m) => Ok(Some(m)),
                Err(ProviderError::SecretNotFound { .. }) if tolerate_missing => Ok(None),
                Err(e) => Err(e),
            };
            got.map(|m| (key, m))
        })
        .buffer_unordered(FETCH_CONCURRENCY)
        .try_collect()
        .await?;

    for (index, entry) in spec.data_from.iter().enumerate() {
        let Some(find) = &entry.find else { continue };
        let name_regexp = match find.name.as_ref().and_then(|n| n.regexp.as_deref()) {
            Some(re) => Some(Regex::new(re).map_err(|e| FetchError::InvalidRegexp {
                index,
                detail: e.to_string(),
            })?),
            None => None,
        };
        let query = FindQuery {
            name_regexp,
            path: find.path.clone().filter(|p| !p.is_empty()),
            tags: find.tags.clone(),
        };
        if query.name_regexp.is_none() && query.path.is_none() && query.tags.is_empty() {
            return Err(FetchError::UnboundedFind { index });
        }
        let listed = backend.find_secrets(&query).await?;
        // The listing names each secret's current version: a version read before comes from
        // the cache. A secret listed a moment ago may be deleted before its value is read: skip
        // it then, as a later listing would.
        let values: Vec<Option<Arc<RemoteSecret>>> = stream::iter(listed)
            .map(|meta| async move {
                let current = VersionSelector::default();
                if !opts.force
                    && let Some(hit) = meta
                        .version_id_for(&current)
                        .and_then(|v| resolver.cached(&meta.arn, v))
                {
                    return Ok(Some(hit));
                }
                match resolver.read(&meta.arn, &current, opts).await {
                    Ok(v) => Ok(Some(v)),
                    Err(
                        ProviderError::SecretNotFound { .. }
                        | ProviderError::ScheduledForDeletion { .. },
                    ) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .buffered(FETCH_CONCURRENCY)
            .try_collect()
            .await?;
        fetched
            .finds
            .insert(index, values.into_iter().flatten().collect());
    }
    Ok(fetched)
}
