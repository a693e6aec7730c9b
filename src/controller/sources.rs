//! The stores one ExternalSecret reads through: its `secretStoreRef`, and the stores named by
//! `data[].sourceRef.storeRef` / `dataFrom[].sourceRef.storeRef` (ESO's per-entry sources).
//! Each store is resolved with its own tenancy rules, and each entry's keys get its own store's
//! `prefix`; the spec is then sliced per store for tracking and fetching, while rendering sees
//! every entry in its original order (ESO's precedence does not depend on the stores).

use crate::api::externalsecret::{
    DeletionPolicy, ExternalSecretSpec, SecretStoreRef, StoreSourceRef,
};

/// The store an entry reads through (`None`: the ExternalSecret's `secretStoreRef`).
pub fn entry_store(source: Option<&StoreSourceRef>) -> Option<&SecretStoreRef> {
    source.and_then(|s| s.store_ref.as_ref())
}

/// Every store the spec reads through, `secretStoreRef` first, each once.
pub fn store_refs(spec: &ExternalSecretSpec) -> Vec<SecretStoreRef> {
    let mut out = vec![spec.secret_store_ref.clone()];
    let others = spec
        .data
        .iter()
        .filter_map(|d| entry_store(d.source_ref.as_ref()))
        .chain(
            spec.data_from
                .iter()
                .filter_map(|d| entry_store(d.source_ref.as_ref())),
        );
    for r in others {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    out
}

/// Refuses what stagesync does not implement, naming the field (ESO generators and custom
/// resource targets), and the one rule of ESO's admission webhook that the CRD's CEL cannot
/// state at a cost a real API server accepts: two `data` entries writing the same key under
/// `deletionPolicy: Retain` (a uniqueness check over an unbounded list).
pub fn unsupported(spec: &ExternalSecretSpec) -> Option<String> {
    if spec.target.deletion_policy == DeletionPolicy::Retain {
        let mut seen = std::collections::BTreeSet::new();
        if let Some(d) = spec.data.iter().find(|d| !seen.insert(&d.secret_key)) {
            return Some(format!("duplicate secretKey found: {}", d.secret_key));
        }
    }
    let generator = |s: Option<&StoreSourceRef>| s.and_then(|s| s.generator_ref.as_ref()).is_some();
    if let Some(i) = spec
        .data
        .iter()
        .position(|d| generator(d.source_ref.as_ref()))
    {
        return Some(format!(
            "data[{i}].sourceRef.generatorRef: ESO generators are not supported by stagesync; read the value from a store"
        ));
    }
    if let Some(i) = spec
        .data_from
        .iter()
        .position(|d| generator(d.source_ref.as_ref()))
    {
        return Some(format!(
            "dataFrom[{i}].sourceRef.generatorRef: ESO generators are not supported by stagesync; read the values from a store"
        ));
    }
    if let Some(m) = &spec.target.manifest {
        return Some(format!(
            "target.manifest ({}/{}): stagesync writes Secrets only; remove target.manifest",
            m.api_version, m.kind
        ));
    }
    None
}

/// The spec with each entry's key behind its store's prefix (`prefix_of(None)` is the
/// `secretStoreRef` store's).
pub fn with_prefixes<'a>(
    spec: &ExternalSecretSpec,
    prefix_of: impl Fn(Option<&SecretStoreRef>) -> Option<&'a str>,
) -> ExternalSecretSpec {
    let mut out = spec.clone();
    for d in &mut out.data {
        if let Some(p) = prefix_of(entry_store(d.source_ref.as_ref())).filter(|p| !p.is_empty()) {
            d.remote_ref.key = format!("{p}{}", d.remote_ref.key);
        }
    }
    for d in &mut out.data_from {
        let p = prefix_of(entry_store(d.source_ref.as_ref())).filter(|p| !p.is_empty());
        if let (Some(p), Some(r)) = (p, d.extract.as_mut()) {
            r.key = format!("{p}{}", r.key);
        }
    }
    out
}

/// The entries of `spec` that read through `store` (`is_default`: it is `secretStoreRef`'s).
/// `dataFrom` entries of other stores stay as empty placeholders, so `find` results keep the
/// index of their entry.
pub fn slice(
    spec: &ExternalSecretSpec,
    store: &SecretStoreRef,
    is_default: bool,
) -> ExternalSecretSpec {
    let mine = |s: Option<&StoreSourceRef>| match entry_store(s) {
        None => is_default,
        Some(r) => r == store,
    };
    let mut out = spec.clone();
    out.data.retain(|d| mine(d.source_ref.as_ref()));
    for d in &mut out.data_from {
        if !mine(d.source_ref.as_ref()) {
            d.extract = None;
            d.find = None;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec() -> ExternalSecretSpec {
        serde_json::from_value(json!({
            "secretStoreRef": {"name": "main"},
            "data": [
                {"secretKey": "a", "remoteRef": {"key": "db"}},
                {"secretKey": "b", "remoteRef": {"key": "db"}, "sourceRef": {"storeRef": {"name": "staging"}}},
            ],
            "dataFrom": [
                {"extract": {"key": "app"}, "sourceRef": {"storeRef": {"name": "shared", "kind": "ClusterSecretStore"}}},
                {"find": {"path": "team/"}},
            ],
        }))
        .unwrap()
    }

    #[test]
    fn stores_are_listed_once_default_first() {
        let refs: Vec<String> = store_refs(&spec()).into_iter().map(|r| r.name).collect();
        assert_eq!(refs, ["main", "staging", "shared"]);
    }

    #[test]
    fn prefixes_and_slices_follow_each_entry_store() {
        let s = spec();
        let refs = store_refs(&s);
        let prefixed = with_prefixes(&s, |r| match r.map(|r| r.name.as_str()) {
            None => Some("prod/"),
            Some("staging") => Some("stg/"),
            _ => None,
        });
        assert_eq!(prefixed.data[0].remote_ref.key, "prod/db");
        assert_eq!(prefixed.data[1].remote_ref.key, "stg/db");
        assert_eq!(prefixed.data_from[0].extract.as_ref().unwrap().key, "app");
        let main = slice(&prefixed, &refs[0], true);
        assert_eq!(main.data.len(), 1);
        assert!(
            main.data_from[0].extract.is_none(),
            "shared's entry is a placeholder"
        );
        assert!(main.data_from[1].find.is_some(), "the default store finds");
        let shared = slice(&prefixed, &refs[2], false);
        assert!(shared.data.is_empty());
        assert!(shared.data_from[0].extract.is_some() && shared.data_from[1].find.is_none());
    }

    #[test]
    fn generators_and_manifests_are_refused_naming_the_field() {
        let mut s = spec();
        assert_eq!(unsupported(&s), None);
        s.data_from[1].source_ref =
            serde_json::from_value(json!({"generatorRef": {"kind": "Password", "name": "p"}}))
                .unwrap();
        assert!(
            unsupported(&s)
                .unwrap()
                .starts_with("dataFrom[1].sourceRef.generatorRef")
        );
        let mut s = spec();
        s.target.manifest =
            serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap"})).unwrap();
        assert!(unsupported(&s).unwrap().starts_with("target.manifest"));
    }

    /// ESO's webhook refuses a key written twice by `data` while the Secret is retained; with
    /// another deletion policy it admits it (the later entry wins, as here).
    #[test]
    fn a_data_key_written_twice_is_refused_under_retain() {
        let mut s = spec();
        s.data.push(s.data[0].clone());
        let key = s.data[0].secret_key.clone();
        assert_eq!(
            unsupported(&s),
            Some(format!("duplicate secretKey found: {key}"))
        );
        s.target.deletion_policy = DeletionPolicy::Delete;
        assert_eq!(unsupported(&s), None);
    }
}
