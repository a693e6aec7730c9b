//! The Secret's data before templating, from the spec and what was fetched. Precedence, as in
//! ESO: `dataFrom` entries in order (a later entry wins over an earlier one for the same key),
//! then `data[]` entries, which win over every `dataFrom` key.

use std::collections::BTreeMap;

use super::decode::decode;
use super::extract::extract_map;
use super::keys::convert_key;
use super::property::get_property;
use super::rewrite::rewrite_keys;
use super::tags::tags_value;
use super::{RenderError, check_null_bytes};
use crate::api::externalsecret::{
    ExternalSecretDataRemoteRef, ExternalSecretSpec, MetadataPolicy, SecretStoreRef,
    StoreSourceRef, SyncedVersion, SyncedVersions,
};
use crate::resolve::FetchedValues;
use crate::value::SecretBytes;

/// The data and the versions it was built from.
#[derive(Debug, Default)]
pub struct BuiltData {
    /// Secret key → value.
    pub data: BTreeMap<String, SecretBytes>,
    /// Remote key (as named in the spec, or the found secret's name) → version read.
    pub synced_versions: SyncedVersions,
}

/// The store an entry reads through (`None`: the `secretStoreRef` store).
fn store_of(source: Option<&StoreSourceRef>) -> Option<&SecretStoreRef> {
    source.and_then(|s| s.store_ref.as_ref())
}

/// Builds the data. References whose secret is missing (tolerated by the deletion policy) are
/// skipped.
pub fn build_data(
    spec: &ExternalSecretSpec,
    fetched: &FetchedValues,
) -> Result<BuiltData, RenderError> {
    build_data_from(spec, &|_| fetched)
}

/// Builds the data of a spec whose entries read through several stores: `fetched` gives what
/// was fetched through an entry's `sourceRef.storeRef` (`None`: the `secretStoreRef` store).
pub fn build_data_from<'f>(
    spec: &ExternalSecretSpec,
    fetched_from: &dyn Fn(Option<&SecretStoreRef>) -> &'f FetchedValues,
) -> Result<BuiltData, RenderError> {
    let mut out = BuiltData::default();
    for (index, entry) in spec.data_from.iter().enumerate() {
        let fetched = fetched_from(store_of(entry.source_ref.as_ref()));
        let mut produced = BTreeMap::new();
        if let Some(r) = &entry.extract
            && let Some(value) = referenced_value(r, fetched, false, &mut out.synced_versions)?
        {
            let property = match r.metadata_policy {
                MetadataPolicy::None => r.property.as_deref(),
                MetadataPolicy::Fetch => None,
            };
            for (k, v) in extract_map(&r.key, value.expose(), property)? {
                let v = decode(&r.key, v, r.decoding_strategy)?;
                check_null_bytes(r.null_byte_policy, &k, &v)?;
                produced.insert(k, v);
            }
        }
        if let Some(find) = &entry.find {
            for secret in fetched.finds.get(&index).into_iter().flatten() {
                record_version(
                    &mut out.synced_versions,
                    &secret.name,
                    &secret.version_id,
                    &secret.version_stages,
                );
                // Found secrets are named by their path (`team/db`); without a rewrite the names
                // are made valid keys with the conversion strategy, as ESO does.
                let key = if entry.rewrite.is_empty() {
                    convert_key(&secret.name, find.conversion_strategy)
                } else {
                    secret.name.clone()
                };
                let value = decode(
                    &secret.name,
                    secret.payload.bytes().clone(),
                    find.decoding_strategy,
                )?;
                check_null_bytes(find.null_byte_policy, &key, &value)?;
                produced.insert(key, value);
            }
        }
        let produced = rewrite_keys(produced, &entry.rewrite)?;
        out.data.extend(produced);
    }
    for d in &spec.data {
        let fetched = fetched_from(store_of(d.source_ref.as_ref()));
        if let Some(value) =
            referenced_value(&d.remote_ref, fetched, true, &mut out.synced_versions)?
        {
            let value = match d.remote_ref.property.as_deref().filter(|p| !p.is_empty()) {
                Some(p) if d.remote_ref.metadata_policy == MetadataPolicy::None => {
                    get_property(&d.remote_ref.key, value.expose(), p)?
                }
                _ => value,
            };
            let value = decode(&d.remote_ref.key, value, d.remote_ref.decoding_strategy)?;
            check_null_bytes(d.remote_ref.null_byte_policy, &d.secret_key, &value)?;
            out.data.insert(d.secret_key.clone(), value);
        }
    }
    Ok(out)
}

/// The whole value a reference reads — the secret's value, or its tags with
/// `metadataPolicy: Fetch` (narrowed to one tag by `property` when `tag_property` is set) — or
/// `None` when the secret is missing and that is tolerated.
fn referenced_value(
    r: &ExternalSecretDataRemoteRef,
    fetched: &FetchedValues,
    tag_property: bool,
    synced: &mut SyncedVersions,
) -> Result<Option<SecretBytes>, RenderError> {
    match r.metadata_policy {
        MetadataPolicy::None => Ok(fetched.value(r).map(|secret| {
            record_version(synced, &r.key, &secret.version_id, &secret.version_stages);
            secret.payload.bytes().clone()
        })),
        MetadataPolicy::Fetch => fetched
            .metadata(&r.key)
            .map(|meta| {
                tags_value(
                    &r.key,
                    &meta.tags,
                    r.property.as_deref().filter(|_| tag_property),
                )
            })
            .transpose(),
    }
}

fn record_version(synced: &mut SyncedVersions, key: &str, version_id: &str, stages: &[String]) {
    synced.insert(
        key.to_owned(),
        SyncedVersion {
            version_id: version_id.to_owned(),
            version_stages: stages.to_vec(),
            current_since: None,
        },
    );
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::VersionSelector;
    use crate::api::externalsecret::{ExternalSecretData, ExternalSecretDataFromRemoteRef};
    use crate::provider::{Payload, RemoteSecret, SecretMetadata};

    fn remote(name: &str, version: &str, value: &str) -> Arc<RemoteSecret> {
        Arc::new(RemoteSecret {
            name: name.into(),
            arn: format!("arn:aws:secretsmanager:us-east-1:1:secret:{name}"),
            version_id: version.into(),
            version_stages: vec!["AWSCURRENT".into()],
            payload: Payload::Text(SecretBytes::from(value.to_owned())),
        })
    }

    fn reference(key: &str) -> ExternalSecretDataRemoteRef {
        ExternalSecretDataRemoteRef {
            key: key.into(),
            ..Default::default()
        }
    }

    fn spec(
        data: Vec<ExternalSecretData>,
        data_from: Vec<ExternalSecretDataFromRemoteRef>,
    ) -> ExternalSecretSpec {
        ExternalSecretSpec {
            data,
            data_from,
            ..ExternalSecretSpec::for_store("s")
        }
    }

    fn text(b: &BuiltData, k: &str) -> String {
        String::from_utf8(b.data[k].expose().to_vec()).unwrap()
    }

    #[test]
    fn data_wins_over_data_from_and_later_data_from_wins() {
        let mut fetched = FetchedValues::default();
        let cur = VersionSelector::default();
        fetched.values.insert(
            ("a".into(), cur.clone()),
            Some(remote("a", "va", r#"{"x":"from-a","y":"a-y"}"#)),
        );
        fetched.values.insert(
            ("b".into(), cur.clone()),
            Some(remote("b", "vb", r#"{"x":"from-b"}"#)),
        );
        fetched.values.insert(
            ("c".into(), cur),
            Some(remote("c", "vc", r#"{"p":"prop"}"#)),
        );
        let extract = |k: &str| ExternalSecretDataFromRemoteRef {
            extract: Some(reference(k)),
            ..Default::default()
        };
        let mut by_prop = reference("c");
        by_prop.property = Some("p".into());
        let s = spec(
            vec![ExternalSecretData {
                secret_key: "y".into(),
                remote_ref: by_prop,
                source_ref: None,
            }],
            vec![extract("a"), extract("b")],
        );
        let built = build_data(&s, &fetched).unwrap();
        assert_eq!(text(&built, "x"), "from-b");
        assert_eq!(text(&built, "y"), "prop");
        assert_eq!(built.data.len(), 2);
        let versions: Vec<_> = built
            .synced_versions
            .iter()
            .map(|(k, v)| (k.as_str(), v.version_id.as_str()))
            .collect();
        assert_eq!(versions, [("a", "va"), ("b", "vb"), ("c", "vc")]);
    }

    #[test]
    fn missing_tolerated_secrets_are_skipped() {
        let mut fetched = FetchedValues::default();
        fetched
            .values
            .insert(("gone".into(), VersionSelector::default()), None);
        let s = spec(
            vec![ExternalSecretData {
                secret_key: "k".into(),
                remote_ref: reference("gone"),
                source_ref: None,
            }],
            vec![],
        );
        let built = build_data(&s, &fetched).unwrap();
        assert!(built.data.is_empty());
        assert!(fetched.all_missing());
    }

    #[test]
    fn tags_and_find_results() {
        let mut fetched = FetchedValues::default();
        let meta = SecretMetadata {
            tags: BTreeMap::from([("owner".into(), "team-a".into())]),
            ..Default::default()
        };
        fetched.metadata.insert("m".into(), Some(Arc::new(meta)));
        fetched
            .finds
            .insert(0, vec![remote("team/db-password", "v1", "pw")]);
        let mut tag_ref = reference("m");
        tag_ref.metadata_policy = MetadataPolicy::Fetch;
        tag_ref.property = Some("owner".into());
        let find = ExternalSecretDataFromRemoteRef {
            find: Some(crate::api::externalsecret::ExternalSecretFind {
                path: Some("team/".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let s = spec(
            vec![ExternalSecretData {
                secret_key: "owner".into(),
                remote_ref: tag_ref,
                source_ref: None,
            }],
            vec![find],
        );
        let built = build_data(&s, &fetched).unwrap();
        assert_eq!(text(&built, "owner"), "team-a");
        assert_eq!(
            text(&built, "team_db-password"),
            "pw",
            "find keys are converted to valid Secret keys"
        );
        assert_eq!(
            built
                .synced_versions
                .get("team/db-password")
                .unwrap()
                .version_id,
            "v1"
        );
    }

    #[test]
    fn null_bytes_fail_only_under_policy_fail_naming_the_key() {
        let mut fetched = FetchedValues::default();
        fetched.values.insert(
            ("bin".into(), VersionSelector::default()),
            Some(Arc::new(RemoteSecret {
                payload: Payload::Binary(SecretBytes::from(b"a\0b".to_vec())),
                ..(*remote("bin", "v", "")).clone()
            })),
        );
        let entry = |policy| ExternalSecretData {
            secret_key: "blob".into(),
            remote_ref: ExternalSecretDataRemoteRef {
                null_byte_policy: policy,
                ..reference("bin")
            },
            source_ref: None,
        };
        assert!(build_data(&spec(vec![entry(None)], vec![]), &fetched).is_ok());
        let ignore = Some(crate::api::externalsecret::NullBytePolicy::Ignore);
        assert!(build_data(&spec(vec![entry(ignore)], vec![]), &fetched).is_ok());
        let fail = Some(crate::api::externalsecret::NullBytePolicy::Fail);
        let err = build_data(&spec(vec![entry(fail)], vec![]), &fetched).unwrap_err();
        assert_eq!(err.reason(), crate::api::Reason::NullBytesRefused);
        assert!(err.to_string().contains("\"blob\""), "{err}");
    }
}
