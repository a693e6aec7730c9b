//! Secrets stagesync does not manage but that ExternalSecrets wait for: the target of a `Merge`
//! that does not exist yet, the Secrets `templateFrom` reads, a store's credential Secret. Each
//! reconcile records what its ExternalSecret waits for; a metadata-only watch of unmanaged
//! Secrets (names and resourceVersions, never data) asks this index whom a change concerns, so
//! such an ExternalSecret runs as soon as its Secret appears or changes instead of at its next
//! retry, and the operator never holds the data of every Secret in the cluster.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::resolve::EsRef;

/// A Secret by namespace and name.
type SecretRef = (String, String);

#[derive(Debug, Default)]
struct Index {
    /// Secret → ExternalSecrets waiting for it.
    waiters: HashMap<SecretRef, HashSet<EsRef>>,
    /// ExternalSecret → the Secrets it waits for (one or a few: sorted, without repeats; a
    /// vector costs a fraction of a hash set for each of 10,000s of ExternalSecrets).
    by_es: HashMap<EsRef, Vec<SecretRef>>,
    /// Last resourceVersion seen of each wanted Secret (a re-list repeats unchanged ones).
    seen: HashMap<SecretRef, String>,
}

/// The index (cheap to clone: shared).
#[derive(Clone, Debug, Default)]
pub struct WantedSecrets(Arc<Mutex<Index>>);

impl WantedSecrets {
    /// Records the Secrets an ExternalSecret waits for now, replacing what it waited for.
    pub fn set(&self, es: &EsRef, secrets: impl IntoIterator<Item = SecretRef>) {
        let mut index = self.0.lock().expect("wanted lock");
        let mut now: Vec<SecretRef> = secrets.into_iter().collect();
        now.sort_unstable();
        now.dedup();
        let before = index.by_es.remove(es).unwrap_or_default();
        for gone in before.iter().filter(|s| now.binary_search(s).is_err()) {
            if let Some(w) = index.waiters.get_mut(gone) {
                w.remove(es);
                if w.is_empty() {
                    index.waiters.remove(gone);
                    index.seen.remove(gone);
                }
            }
        }
        for s in &now {
            index
                .waiters
                .entry(s.clone())
                .or_default()
                .insert(es.clone());
        }
        if !now.is_empty() {
            index.by_es.insert(es.clone(), now);
        }
    }

    /// Forgets a deleted ExternalSecret.
    pub fn forget(&self, es: &EsRef) {
        self.set(es, []);
    }

    /// Forgets each ExternalSecret `keep` refuses (after a re-list: those deleted unseen).
    pub fn retain(&self, keep: impl Fn(&EsRef) -> bool) {
        let gone: Vec<EsRef> = {
            let index = self.0.lock().expect("wanted lock");
            index.by_es.keys().filter(|es| !keep(es)).cloned().collect()
        };
        for es in &gone {
            self.forget(es);
        }
    }

    /// A Secret was seen at `resource_version`: the ExternalSecrets to wake, when it is wanted
    /// and new or changed since last seen.
    pub fn changed(
        &self,
        namespace: &str,
        name: &str,
        resource_version: Option<&str>,
    ) -> Vec<EsRef> {
        let mut index = self.0.lock().expect("wanted lock");
        let key = (namespace.to_owned(), name.to_owned());
        let Some(waiters) = index.waiters.get(&key) else {
            return Vec::new();
        };
        let waiters: Vec<EsRef> = waiters.iter().cloned().collect();
        let rv = resource_version.unwrap_or_default().to_owned();
        if index.seen.insert(key, rv.clone()).as_deref() == Some(rv.as_str()) && !rv.is_empty() {
            return Vec::new();
        }
        waiters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(n: &str) -> EsRef {
        std::sync::Arc::new(("ns".into(), n.into()))
    }

    fn secret(n: &str) -> SecretRef {
        ("ns".into(), n.into())
    }

    #[test]
    fn wakes_waiters_once_per_resource_version() {
        let w = WantedSecrets::default();
        w.set(&es("a"), [secret("creds"), secret("target")]);
        w.set(&es("b"), [secret("creds")]);
        let mut woken = w.changed("ns", "creds", Some("1"));
        woken.sort();
        assert_eq!(woken, vec![es("a"), es("b")]);
        assert!(w.changed("ns", "creds", Some("1")).is_empty(), "unchanged");
        assert_eq!(w.changed("ns", "creds", Some("2")).len(), 2);
        assert!(w.changed("other", "creds", Some("3")).is_empty());
        assert!(w.changed("ns", "unwanted", Some("1")).is_empty());
    }

    #[test]
    fn set_replaces_and_forget_removes() {
        let w = WantedSecrets::default();
        w.set(&es("a"), [secret("old")]);
        w.set(&es("a"), [secret("new")]);
        assert!(w.changed("ns", "old", Some("1")).is_empty());
        assert_eq!(w.changed("ns", "new", Some("1")), vec![es("a")]);
        w.forget(&es("a"));
        assert!(w.changed("ns", "new", Some("2")).is_empty());
    }

    #[test]
    fn retain_forgets_only_the_refused() {
        let w = WantedSecrets::default();
        w.set(&es("kept"), [secret("shared"), secret("k")]);
        w.set(&es("gone"), [secret("shared"), secret("g")]);
        w.retain(|e| e.1 == "kept");
        assert_eq!(w.changed("ns", "shared", Some("1")), vec![es("kept")]);
        assert!(
            w.changed("ns", "g", Some("1")).is_empty(),
            "gone's own Secret"
        );
        assert_eq!(w.changed("ns", "k", Some("1")), vec![es("kept")]);
    }
}
