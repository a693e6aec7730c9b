//! The no-read path of a reconcile: when the store's tracker confirms that every version an
//! ExternalSecret reads is the one it last wrote, and the live Secret still holds exactly what it
//! wrote (its data matches the salted hash it carries, its metadata what the spec asks), nothing
//! needs a value from AWS. This is what makes an operator restart on a warm cluster, a resync and
//! a wake-up by our own write cost no value call.
//!
//! Only specs whose Secret is a function of the values alone qualify: an owned Secret
//! (`Owner`/`Orphan`), no `find`, no `metadataPolicy: Fetch`, no templated data or metadata, no
//! `templateFrom`. Anything else takes the full path.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;

use crate::api::externalsecret::{
    CreationPolicy, ExternalSecret, ExternalSecretSpec, SyncedVersions,
};
use crate::api::reason::CONDITION_READY;
use crate::api::shared::ConditionStatus;
use crate::resolve::{StoreResolver, references};
use crate::value::SecretBytes;
use crate::write::ANNOTATION_DATA_HASH;
use crate::write::secret::{
    DesiredContent, WriteMode, data_hash, desired_secret, field_manager, needs_apply,
};

/// What the no-read path decided.
#[derive(Debug, PartialEq)]
pub enum Shortcut {
    /// Nothing changed since the last sync: the recorded versions stand.
    Unchanged(SyncedVersions),
    /// The tracker has not checked these secrets yet (just started): try again shortly instead
    /// of reading every value.
    Defer,
}

/// Whether the reconcile can skip reading values.
pub fn shortcut(
    es: &ExternalSecret,
    spec: &ExternalSecretSpec,
    resolver: &StoreResolver,
    existing: Option<&Secret>,
    max_age: Duration,
) -> Option<Shortcut> {
    if !matches!(
        spec.target.creation_policy,
        CreationPolicy::Owner | CreationPolicy::Orphan
    ) || spec.data_from.iter().any(|d| d.find.is_some())
    {
        return None;
    }
    let static_template = spec.target.template.as_ref().is_none_or(|t| {
        t.data.is_empty()
            && t.template_from.is_empty()
            && t.metadata.as_ref().is_none_or(|m| {
                m.labels
                    .values()
                    .chain(m.annotations.values())
                    .all(|v| !v.contains("{{"))
            })
    });
    let refs = references(spec);
    let one_version_per_key = refs
        .values
        .iter()
        .map(|(k, _)| k)
        .collect::<HashSet<_>>()
        .len()
        == refs.values.len();
    if !static_template
        || !refs.metadata.is_empty()
        || refs.values.is_empty()
        || !one_version_per_key
    {
        return None;
    }
    let status = es.status.as_ref()?;
    let synced_this_generation = status.conditions.iter().any(|c| {
        c.type_ == CONDITION_READY
            && c.status == ConditionStatus::True
            && c.reason.as_deref() == Some("SecretSynced")
            && c.observed_generation == es.metadata.generation
    });
    if !synced_this_generation || !secret_is_as_written(es, existing?) {
        return None;
    }
    let es_ref = super::es_ref(es);
    match resolver.known_versions(&refs.values, max_age) {
        Some(known) => {
            let same = known.iter().all(|(key, version)| {
                status
                    .synced_versions
                    .get(key)
                    .is_some_and(|v| &v.version_id == version)
            });
            if !same {
                return None;
            }
            let served: Vec<_> = refs
                .values
                .iter()
                .filter_map(|(key, selector)| {
                    known
                        .get(key)
                        .map(|v| (key.clone(), selector.clone(), v.clone()))
                })
                .collect();
            resolver.served(&es_ref, &served);
            Some(Shortcut::Unchanged(status.synced_versions.clone()))
        }
        // Right after a start the tracker learns what to check from these very reconciles;
        // a tracker that cannot check for long (AWS failing) holds nothing back.
        None if resolver.never_checked(&refs.values) && resolver.warming_up() => {
            Some(Shortcut::Defer)
        }
        None => None,
    }
}

/// The live Secret holds exactly the data this ExternalSecret wrote (it matches the salted hash
/// the Secret carries) and the metadata its spec asks for.
fn secret_is_as_written(es: &ExternalSecret, live: &Secret) -> bool {
    let data: BTreeMap<String, SecretBytes> = live
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, SecretBytes::new(v.0)))
        .collect();
    let uid = es.uid().unwrap_or_default();
    if live.annotations().get(ANNOTATION_DATA_HASH) != Some(&data_hash(&uid, &data)) {
        return false;
    }
    let template = es.spec.target.template.as_ref();
    let meta = template
        .and_then(|t| t.metadata.clone())
        .unwrap_or_default();
    let content = DesiredContent {
        data,
        labels: meta.labels,
        annotations: meta.annotations,
        type_: template
            .and_then(|t| t.type_.clone())
            .filter(|t| !t.is_empty()),
        immutable: es.spec.target.immutable,
        finalizers: meta.finalizers,
    };
    let name = live.name_any();
    let desired = desired_secret(es, &name, WriteMode::Own, &content);
    !needs_apply(
        Some(live),
        &desired,
        &field_manager(WriteMode::Own, &es.name_any()),
    )
}
