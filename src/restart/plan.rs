//! The restart decision, pure: which Secret data a workload last saw (recorded on the workload
//! in one annotation), what it depends on now, and whether that difference is a rollout.
//!
//! Digests are salted with the workload's uid, so the annotations (readable by anyone who may
//! read the workload) cannot be matched across workloads or against a table of common values.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use sha2::{Digest, Sha256};

/// Metadata annotation on the workload: per Secret, the digest of the data last seen. Written
/// when a workload is first seen and after every rollout; never in the pod template, so writing
/// it rolls nothing.
pub const ANNOTATION_SECRETS_SEEN: &str = "stagesync.io/secrets-seen";
/// Pod-template annotation whose change is the rollout: a hash over every watched Secret's data.
pub const ANNOTATION_SECRETS_HASH: &str = "stagesync.io/secrets-hash";
/// Metadata annotation: when stagesync last started a rollout of the workload (RFC 3339).
pub const ANNOTATION_RESTARTED_AT: &str = "stagesync.io/restarted-at";

/// SHA-256 over a Secret's data (keys sorted, lengths framed).
pub fn data_digest(data: Option<&BTreeMap<String, ByteString>>) -> [u8; 32] {
    let mut h = Sha256::new();
    for (k, v) in data.into_iter().flatten() {
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update((v.0.len() as u64).to_be_bytes());
        h.update(&v.0);
    }
    h.finalize().into()
}

/// Secret name → short salted digest of its data, as recorded on a workload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen(pub BTreeMap<String, String>);

impl Seen {
    /// The record of `secrets` (name → data digest) for the workload with `uid`.
    pub fn of<'a>(
        uid: &str,
        secrets: impl IntoIterator<Item = (&'a String, &'a [u8; 32])>,
    ) -> Self {
        Self(
            secrets
                .into_iter()
                .map(|(name, digest)| {
                    let mut h = Sha256::new();
                    h.update(uid.as_bytes());
                    h.update([0]);
                    h.update(name.as_bytes());
                    h.update([0]);
                    h.update(digest);
                    (name.clone(), hex(&h.finalize()[..8]))
                })
                .collect(),
        )
    }

    /// The annotation value: `name=digest` pairs, comma-separated, sorted.
    pub fn encode(&self) -> String {
        self.0
            .iter()
            .map(|(n, d)| format!("{n}={d}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Reads an annotation value; `None` when it is not one this module wrote (then the
    /// workload counts as never seen, and is recorded again without a rollout).
    pub fn decode(s: &str) -> Option<Self> {
        if s.is_empty() {
            return Some(Self::default());
        }
        s.split(',')
            .map(|pair| {
                let (n, d) = pair.split_once('=')?;
                (!n.is_empty() && d.len() == 16 && d.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| (n.to_owned(), d.to_owned()))
            })
            .collect::<Option<BTreeMap<_, _>>>()
            .map(Self)
    }

    /// The pod-template hash for this data.
    pub fn template_hash(&self) -> String {
        hex(&Sha256::digest(self.encode().as_bytes())[..16])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the difference between the recorded and the current data calls for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Recorded and current agree.
    Nothing,
    /// Record the current data without a rollout: the workload was never seen, or Secrets only
    /// appeared (initial sync: the pods waiting for them start by themselves) or disappeared.
    Record,
    /// The data of these Secrets (present before and now) changed: roll.
    Rollout(BTreeSet<String>),
}

/// Compares what the workload last saw with what it depends on now.
pub fn decide(recorded: Option<&Seen>, current: &Seen) -> Decision {
    let Some(recorded) = recorded else {
        return Decision::Record;
    };
    let changed: BTreeSet<String> = current
        .0
        .iter()
        .filter(|(name, digest)| recorded.0.get(*name).is_some_and(|d| d != *digest))
        .map(|(name, _)| name.clone())
        .collect();
    if !changed.is_empty() {
        Decision::Rollout(changed)
    } else if recorded != current {
        Decision::Record
    } else {
        Decision::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
            .collect()
    }

    fn seen(uid: &str, secrets: &[(&str, &[(&str, &str)])]) -> Seen {
        let digests: BTreeMap<String, [u8; 32]> = secrets
            .iter()
            .map(|(n, d)| ((*n).to_owned(), data_digest(Some(&data(d)))))
            .collect();
        Seen::of(uid, &digests)
    }

    #[test]
    fn digests_depend_on_data_only_and_are_framed() {
        assert_eq!(
            data_digest(Some(&data(&[("a", "1"), ("b", "2")]))),
            data_digest(Some(&data(&[("b", "2"), ("a", "1")])))
        );
        // Moving bytes between key and value is a different Secret.
        assert_ne!(
            data_digest(Some(&data(&[("ab", "c")]))),
            data_digest(Some(&data(&[("a", "bc")])))
        );
        assert_eq!(data_digest(None), data_digest(Some(&BTreeMap::new())));
    }

    #[test]
    fn records_are_salted_per_workload_and_round_trip() {
        let a = seen("uid-1", &[("db", &[("password", "hunter2")])]);
        let b = seen("uid-2", &[("db", &[("password", "hunter2")])]);
        assert_ne!(a, b);
        assert_ne!(a.template_hash(), b.template_hash());
        assert!(!a.encode().contains("hunter2"));
        assert_eq!(Seen::decode(&a.encode()), Some(a.clone()));
        assert_eq!(Seen::decode(""), Some(Seen::default()));
        assert_eq!(Seen::decode("db"), None);
        assert_eq!(Seen::decode("db=xyz"), None);
        assert_eq!(a.template_hash().len(), 32);
    }

    #[test]
    fn only_changed_data_of_a_secret_seen_before_is_a_rollout() {
        let v1 = seen("u", &[("db", &[("p", "1")]), ("api", &[("k", "x")])]);
        let v2 = seen("u", &[("db", &[("p", "2")]), ("api", &[("k", "x")])]);
        assert_eq!(decide(None, &v1), Decision::Record);
        assert_eq!(decide(Some(&v1), &v1), Decision::Nothing);
        assert_eq!(
            decide(Some(&v1), &v2),
            Decision::Rollout(BTreeSet::from(["db".to_owned()]))
        );
        // A Secret that appears after its workload (initial sync) or goes away: record only.
        let only_api = seen("u", &[("api", &[("k", "x")])]);
        assert_eq!(decide(Some(&only_api), &v1), Decision::Record);
        assert_eq!(decide(Some(&v1), &only_api), Decision::Record);
        // Two Secrets changed together: one rollout naming both.
        let both = seen("u", &[("db", &[("p", "3")]), ("api", &[("k", "y")])]);
        assert_eq!(
            decide(Some(&v1), &both),
            Decision::Rollout(BTreeSet::from(["api".to_owned(), "db".to_owned()]))
        );
    }
}
