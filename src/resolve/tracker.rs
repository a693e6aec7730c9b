//! The version tracker of one store: for every remote secret an ExternalSecret references, the
//! version id behind each stage, learnt from metadata calls (no values, no KMS decrypt), who uses
//! it and how stale each user accepts it to be.
//!
//! Pure bookkeeping, no I/O: the sweep (`sweep.rs`) decides which calls to make and feeds their
//! answers in; the resolver asks it which version a reference reads. Time is passed in, so every
//! rule here is unit-tested without sleeping.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::api::VersionSelector;
use crate::api::version::{AWS_CURRENT, AWS_PENDING};
use crate::provider::SecretMetadata;

/// An ExternalSecret, by namespace and name.
pub type EsRef = (String, String);

/// What the tracker knows of one remote secret.
#[derive(Debug, Default)]
pub struct Entry {
    /// The last metadata seen (`None`: never checked, or the secret does not exist).
    pub meta: Option<Arc<SecretMetadata>>,
    /// When the metadata was last confirmed (by a listing or a DescribeSecret).
    pub checked_at: Option<Instant>,
    /// When a DescribeSecret (strongly consistent) last confirmed it.
    pub described_at: Option<Instant>,
    /// The secret did not exist at the last check.
    pub missing: bool,
    /// The version carrying AWSPENDING (not AWSCURRENT) and when it was first seen so.
    pub pending_since: Option<(String, Instant)>,
    subscribers: HashMap<EsRef, Subscription>,
}

#[derive(Debug, Clone)]
struct Subscription {
    interval: Duration,
    selectors: BTreeSet<VersionSelector>,
}

impl Entry {
    /// The shortest refresh interval of the ExternalSecrets using this secret.
    pub fn interval(&self) -> Option<Duration> {
        self.subscribers.values().map(|s| s.interval).min()
    }

    /// Whether this secret is due for a metadata check.
    pub fn due(&self, now: Instant) -> bool {
        match (self.interval(), self.checked_at) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(interval), Some(at)) => now.saturating_duration_since(at) >= interval,
        }
    }

    /// A rotation is in progress: some version carries AWSPENDING without AWSCURRENT.
    pub fn rotation_in_progress(&self) -> bool {
        self.meta
            .as_ref()
            .is_some_and(|m| pending_version(m).is_some())
    }

    /// AWS will rotate the secret within `window` from `now` (or should have just done so).
    pub fn rotation_due_within(&self, now: SystemTime, window: Duration) -> bool {
        let Some(meta) = &self.meta else { return false };
        if !meta.rotation.enabled {
            return false;
        }
        meta.rotation.next_rotation_date.is_some_and(|next| {
            let until = next.duration_since(now).unwrap_or_default();
            let since = now.duration_since(next).unwrap_or_default();
            until <= window && since <= window
        })
    }

    /// The ExternalSecrets using this secret.
    pub fn subscribers(&self) -> impl Iterator<Item = &EsRef> {
        self.subscribers.keys()
    }

    fn version_for(&self, selector: &VersionSelector) -> Option<String> {
        self.meta
            .as_ref()
            .and_then(|m| m.version_id_for(selector))
            .map(str::to_owned)
    }
}

/// The version AWSPENDING points at when it is not also AWSCURRENT.
fn pending_version(meta: &SecretMetadata) -> Option<&str> {
    meta.versions
        .iter()
        .find(|(_, stages)| {
            stages.iter().any(|s| s == AWS_PENDING) && !stages.iter().any(|s| s == AWS_CURRENT)
        })
        .map(|(id, _)| id.as_str())
}

/// What the tracker can say about a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// The version the reference reads, confirmed recently enough.
    Version {
        /// The secret's ARN.
        arn: String,
        /// The version id.
        version_id: String,
        /// The version's stages.
        stages: Vec<String>,
    },
    /// The secret does not exist.
    SecretMissing,
    /// The secret exists but has no version for the selector.
    VersionMissing,
    /// The secret is scheduled for deletion (AWS's `DeletedDate`).
    ScheduledForDeletion(Option<SystemTime>),
    /// Not known, or not fresh enough: ask AWS.
    Unknown,
}

/// What applying a metadata answer changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// ExternalSecrets whose referenced version (or the secret's existence) changed.
    pub wake: Vec<EsRef>,
    /// `(ARN, version id)` that AWSCURRENT consumers now read and that should be fetched ahead.
    pub new_current: Option<(String, String)>,
    /// The version ids referenced moved.
    pub changed: bool,
}

/// The tracker of one store.
#[derive(Debug, Default)]
pub struct Tracker {
    entries: HashMap<String, Entry>,
    /// Remote keys each ExternalSecret uses, to unsubscribe it cheaply.
    by_es: HashMap<EsRef, HashSet<String>>,
}

impl Tracker {
    /// Records which references an ExternalSecret uses now and the staleness it accepts,
    /// replacing what it used before. An empty list unsubscribes it.
    pub fn subscribe(
        &mut self,
        es: &EsRef,
        refs: &[(String, VersionSelector)],
        interval: Duration,
    ) {
        let mut wanted: HashMap<&str, BTreeSet<VersionSelector>> = HashMap::new();
        for (key, selector) in refs {
            wanted
                .entry(key.as_str())
                .or_default()
                .insert(selector.clone());
        }
        let before = self.by_es.remove(es).unwrap_or_default();
        for key in before.iter().filter(|k| !wanted.contains_key(k.as_str())) {
            if let Some(entry) = self.entries.get_mut(key) {
                entry.subscribers.remove(es);
                if entry.subscribers.is_empty() {
                    self.entries.remove(key);
                }
            }
        }
        if wanted.is_empty() {
            return;
        }
        let mut keys = HashSet::new();
        for (key, selectors) in wanted {
            keys.insert(key.to_owned());
            self.entries
                .entry(key.to_owned())
                .or_default()
                .subscribers
                .insert(
                    es.clone(),
                    Subscription {
                        interval,
                        selectors,
                    },
                );
        }
        self.by_es.insert(es.clone(), keys);
    }

    /// Forgets a deleted ExternalSecret.
    pub fn forget(&mut self, es: &EsRef) {
        self.subscribe(es, &[], Duration::ZERO);
    }

    /// Every tracked remote key with its entry.
    pub fn entries(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter()
    }

    /// One entry.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Number of tracked remote secrets.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What a reference reads, if the tracker confirmed it within `max_age`.
    pub fn known(
        &self,
        key: &str,
        selector: &VersionSelector,
        max_age: Duration,
        now: Instant,
    ) -> Known {
        let Some(entry) = self.entries.get(key) else {
            return Known::Unknown;
        };
        let fresh = entry
            .checked_at
            .is_some_and(|at| now.saturating_duration_since(at) <= max_age);
        if !fresh {
            return Known::Unknown;
        }
        if entry.missing {
            return Known::SecretMissing;
        }
        let Some(meta) = &entry.meta else {
            return Known::Unknown;
        };
        if meta.deleted_date.is_some() {
            return Known::ScheduledForDeletion(meta.deleted_date);
        }
        match meta.version_id_for(selector) {
            Some(id) => Known::Version {
                arn: meta.arn.clone(),
                version_id: id.to_owned(),
                stages: meta.versions.get(id).cloned().unwrap_or_default(),
            },
            None => Known::VersionMissing,
        }
    }

    /// Feeds in a metadata answer for `key` (`None`: the secret does not exist), and says whom
    /// it concerns. `described`: the answer came from DescribeSecret (strongly consistent).
    /// A secret's first check wakes nobody unless it contradicts what was read before it.
    pub fn apply(
        &mut self,
        key: &str,
        meta: Option<SecretMetadata>,
        described: bool,
        now: Instant,
    ) -> Applied {
        let Some(entry) = self.entries.get_mut(key) else {
            return Applied::default();
        };
        let had_knowledge = entry.meta.is_some() || entry.missing;
        let first_check = entry.checked_at.is_none();
        let selectors: BTreeSet<VersionSelector> = entry
            .subscribers
            .values()
            .flat_map(|s| s.selectors.iter().cloned())
            .collect();
        let before: Vec<Option<String>> = selectors.iter().map(|s| entry.version_for(s)).collect();
        let was_missing = entry.missing;
        let was_deleted = entry
            .meta
            .as_ref()
            .is_some_and(|m| m.deleted_date.is_some());
        let old_current = entry.version_for(&VersionSelector::default());

        entry.missing = meta.is_none();
        entry.meta = meta.map(Arc::new);
        entry.checked_at = Some(now);
        if described {
            entry.described_at = Some(now);
        }
        let pending = entry
            .meta
            .as_ref()
            .and_then(|m| pending_version(m).map(str::to_owned));
        entry.pending_since = match (pending, entry.pending_since.take()) {
            (Some(v), Some((old, since))) if v == old => Some((old, since)),
            (Some(v), _) => Some((v, now)),
            (None, _) => None,
        };

        let after: Vec<Option<String>> = selectors.iter().map(|s| entry.version_for(s)).collect();
        let is_deleted = entry
            .meta
            .as_ref()
            .is_some_and(|m| m.deleted_date.is_some());
        // Only what was known before can have changed: a selector first resolved now is news to
        // nobody (its users read it themselves).
        let moved: BTreeSet<&VersionSelector> = selectors
            .iter()
            .zip(before.iter().zip(after.iter()))
            .filter(|(_, (b, a))| b != a && (!first_check || b.is_some()))
            .map(|(s, _)| s)
            .collect();
        let everyone = had_knowledge && (was_missing != entry.missing || was_deleted != is_deleted);
        if moved.is_empty() && !everyone {
            return Applied::default();
        }
        let new_current = entry
            .version_for(&VersionSelector::default())
            .filter(|v| Some(v) != old_current.as_ref())
            .filter(|_| moved.contains(&VersionSelector::default()))
            .and_then(|v| entry.meta.as_ref().map(|m| (m.arn.clone(), v)));
        let wake = entry
            .subscribers
            .iter()
            .filter(|(_, sub)| everyone || sub.selectors.iter().any(|s| moved.contains(s)))
            .map(|(es, _)| es.clone())
            .collect();
        Applied {
            wake,
            new_current,
            changed: true,
        }
    }

    /// Records what a value read taught: the version it returned carries these stages now.
    /// Before the first check this is what later checks are compared with; after it, a read
    /// that contradicts the last check (a stale listing) makes the secret due again.
    pub fn learn_from_value(&mut self, key: &str, arn: &str, version_id: &str, stages: &[String]) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        match &entry.meta {
            Some(meta) if entry.checked_at.is_some() => {
                if meta.versions.get(version_id).map(Vec::as_slice) != Some(stages) {
                    entry.checked_at = None;
                }
            }
            _ => {
                let mut meta = entry
                    .meta
                    .as_deref()
                    .cloned()
                    .unwrap_or_else(|| SecretMetadata {
                        name: key.to_owned(),
                        arn: arn.to_owned(),
                        ..SecretMetadata::default()
                    });
                for labels in meta.versions.values_mut() {
                    labels.retain(|l| !stages.contains(l));
                }
                meta.versions.retain(|_, labels| !labels.is_empty());
                meta.versions.insert(version_id.to_owned(), stages.to_vec());
                entry.meta = Some(Arc::new(meta));
                entry.missing = false;
            }
        }
    }

    /// Tracked secrets scheduled for deletion.
    pub fn scheduled_for_deletion(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.meta.as_ref().is_some_and(|m| m.deleted_date.is_some()))
            .count()
    }

    /// Secrets whose rotation has carried AWSPENDING for longer than `stuck_after`.
    pub fn stuck(&self, now: Instant, stuck_after: Duration) -> Vec<&String> {
        self.entries
            .iter()
            .filter(|(_, e)| {
                e.pending_since
                    .as_ref()
                    .is_some_and(|(_, since)| now.saturating_duration_since(*since) > stuck_after)
            })
            .map(|(k, _)| k)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn es(name: &str) -> EsRef {
        ("ns".to_owned(), name.to_owned())
    }

    fn meta(versions: &[(&str, &[&str])]) -> SecretMetadata {
        SecretMetadata {
            name: "app/db".into(),
            arn: "arn:aws:secretsmanager:us-east-1:1:secret:app/db-AbCdEf".into(),
            versions: versions
                .iter()
                .map(|(id, stages)| {
                    (
                        (*id).to_owned(),
                        stages.iter().map(|s| (*s).to_owned()).collect(),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            ..Default::default()
        }
    }

    const CURRENT: &[&str] = &["AWSCURRENT"];
    const PREVIOUS: &[&str] = &["AWSPREVIOUS"];
    const PENDING: &[&str] = &["AWSPENDING"];

    fn stage(s: &str) -> VersionSelector {
        VersionSelector::Stage(s.to_owned())
    }

    #[test]
    fn due_follows_the_shortest_interval_of_its_users() {
        let mut t = Tracker::default();
        let now = Instant::now();
        let key = "app/db".to_owned();
        t.subscribe(
            &es("a"),
            &[(key.clone(), stage("AWSCURRENT"))],
            Duration::from_secs(60),
        );
        t.subscribe(
            &es("b"),
            &[(key.clone(), stage("AWSCURRENT"))],
            Duration::from_secs(10),
        );
        assert!(t.entry(&key).unwrap().due(now), "never checked: due");
        t.apply(&key, Some(meta(&[("v1", CURRENT)])), false, now);
        let e = t.entry(&key).unwrap();
        assert!(!e.due(now + Duration::from_secs(9)));
        assert!(e.due(now + Duration::from_secs(10)));
        t.forget(&es("b"));
        assert!(!t.entry(&key).unwrap().due(now + Duration::from_secs(10)));
        t.forget(&es("a"));
        assert!(t.is_empty(), "an unused secret is not tracked");
    }

    #[test]
    fn rotation_wakes_the_users_of_each_stage_that_moved() {
        let mut t = Tracker::default();
        let now = Instant::now();
        let key = "app/db".to_owned();
        let subscribe = |t: &mut Tracker, name: &str, s: &str| {
            t.subscribe(
                &es(name),
                &[(key.clone(), stage(s))],
                Duration::from_secs(10),
            )
        };
        subscribe(&mut t, "current", "AWSCURRENT");
        subscribe(&mut t, "previous", "AWSPREVIOUS");
        subscribe(&mut t, "pending", "AWSPENDING");
        let first = t.apply(&key, Some(meta(&[("v1", CURRENT)])), false, now);
        assert_eq!(first, Applied::default(), "the first check is no change");

        // A rotation stages v2 as AWSPENDING: only AWSPENDING consumers move.
        let staged = t.apply(
            &key,
            Some(meta(&[("v1", CURRENT), ("v2", PENDING)])),
            false,
            now,
        );
        assert_eq!(staged.wake, vec![es("pending")]);
        assert_eq!(staged.new_current, None);
        assert!(t.entry(&key).unwrap().rotation_in_progress());

        // Promotion: AWSCURRENT and AWSPREVIOUS consumers move, AWSPENDING ones too (gone).
        let promoted = t.apply(
            &key,
            Some(meta(&[("v1", PREVIOUS), ("v2", CURRENT)])),
            false,
            now,
        );
        let mut woken = promoted.wake.clone();
        woken.sort();
        assert_eq!(woken, vec![es("current"), es("pending"), es("previous")]);
        assert_eq!(promoted.new_current, Some((meta(&[]).arn, "v2".to_owned())));
        assert!(!t.entry(&key).unwrap().rotation_in_progress());
        assert_eq!(
            t.known(&key, &stage("AWSPREVIOUS"), Duration::from_secs(10), now),
            Known::Version {
                arn: meta(&[]).arn,
                version_id: "v1".into(),
                stages: vec!["AWSPREVIOUS".into()]
            }
        );

        // The same answer again changes nothing.
        let same = t.apply(
            &key,
            Some(meta(&[("v1", PREVIOUS), ("v2", CURRENT)])),
            false,
            now,
        );
        assert_eq!(same, Applied::default());
    }

    #[test]
    fn known_only_when_fresh_enough() {
        let mut t = Tracker::default();
        let now = Instant::now();
        let key = "app/db".to_owned();
        t.subscribe(
            &es("a"),
            &[(key.clone(), stage("AWSCURRENT"))],
            Duration::from_secs(10),
        );
        let max = Duration::from_secs(10);
        assert_eq!(
            t.known(&key, &stage("AWSCURRENT"), max, now),
            Known::Unknown
        );
        t.apply(&key, Some(meta(&[("v1", CURRENT)])), false, now);
        assert!(matches!(
            t.known(&key, &stage("AWSCURRENT"), max, now + max),
            Known::Version { .. }
        ));
        assert_eq!(
            t.known(&key, &stage("AWSCURRENT"), max, now + max * 2),
            Known::Unknown
        );
        assert_eq!(
            t.known(&key, &stage("AWSPENDING"), max, now),
            Known::VersionMissing
        );
        assert_eq!(
            t.known(&key, &VersionSelector::Id("gone".into()), max, now),
            Known::VersionMissing
        );
        let gone = t.apply(&key, None, true, now);
        assert_eq!(gone.wake, vec![es("a")]);
        assert_eq!(
            t.known(&key, &stage("AWSCURRENT"), max, now),
            Known::SecretMissing
        );
        let mut deleted = meta(&[("v1", CURRENT)]);
        let deleted_at = Some(SystemTime::now());
        deleted.deleted_date = deleted_at;
        let scheduled = t.apply(&key, Some(deleted), true, now);
        assert_eq!(scheduled.wake, vec![es("a")]);
        assert_eq!(
            t.known(&key, &stage("AWSCURRENT"), max, now),
            Known::ScheduledForDeletion(deleted_at)
        );
    }

    #[test]
    fn a_pending_version_that_never_becomes_current_is_stuck() {
        let mut t = Tracker::default();
        let now = Instant::now();
        let key = "app/db".to_owned();
        t.subscribe(
            &es("a"),
            &[(key.clone(), stage("AWSCURRENT"))],
            Duration::from_secs(10),
        );
        let stuck_after = Duration::from_secs(3600);
        let rotating = meta(&[("v1", CURRENT), ("v2", PENDING)]);
        t.apply(&key, Some(rotating.clone()), false, now);
        t.apply(
            &key,
            Some(rotating.clone()),
            false,
            now + Duration::from_secs(1800),
        );
        assert!(
            t.stuck(now + Duration::from_secs(1800), stuck_after)
                .is_empty()
        );
        assert_eq!(
            t.stuck(now + Duration::from_secs(3601), stuck_after),
            vec![&key]
        );
        // A new attempt (another pending version) starts the clock again.
        t.apply(
            &key,
            Some(meta(&[("v1", CURRENT), ("v3", PENDING)])),
            false,
            now + Duration::from_secs(3602),
        );
        assert!(
            t.stuck(now + Duration::from_secs(3700), stuck_after)
                .is_empty()
        );
    }

    #[test]
    fn a_value_read_that_contradicts_the_listing_makes_the_secret_due() {
        let mut t = Tracker::default();
        let now = Instant::now();
        let key = "app/db".to_owned();
        t.subscribe(
            &es("a"),
            &[(key.clone(), stage("AWSCURRENT"))],
            Duration::from_secs(60),
        );
        t.apply(&key, Some(meta(&[("v1", CURRENT)])), false, now);
        t.learn_from_value(&key, "arn", "v1", &["AWSCURRENT".to_owned()]);
        assert!(!t.entry(&key).unwrap().due(now));
        t.learn_from_value(&key, "arn", "v2", &["AWSCURRENT".to_owned()]);
        assert!(t.entry(&key).unwrap().due(now));
    }

    #[test]
    fn a_first_check_that_contradicts_an_earlier_read_wakes_its_users() {
        let mut t = Tracker::default();
        let now = Instant::now();
        let key = "app/db".to_owned();
        t.subscribe(
            &es("a"),
            &[(key.clone(), stage("AWSCURRENT"))],
            Duration::from_secs(60),
        );
        // The reconcile read v1 before the tracker ever checked the secret...
        t.learn_from_value(&key, "arn", "v1", &["AWSCURRENT".to_owned()]);
        assert_eq!(
            t.known(&key, &stage("AWSCURRENT"), Duration::from_secs(60), now),
            Known::Unknown,
            "a read is no check"
        );
        // ...and the secret was deleted before the first check.
        let gone = t.apply(&key, None, true, now);
        assert_eq!(gone.wake, vec![es("a")]);

        // A first check that agrees with the read wakes nobody.
        let other = "app/other".to_owned();
        t.subscribe(
            &es("b"),
            &[(other.clone(), stage("AWSCURRENT"))],
            Duration::from_secs(60),
        );
        t.learn_from_value(&other, "arn", "v1", &["AWSCURRENT".to_owned()]);
        let same = t.apply(&other, Some(meta(&[("v1", CURRENT)])), false, now);
        assert_eq!(same, Applied::default());
    }
}
