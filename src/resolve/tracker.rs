//! The version tracker of one store: for every remote secret an ExternalSecret references, the
//! version id behind each stage, learnt from metadata calls (no values, no KMS decrypt), who uses
//! it and how stale each user accepts it to be.
//!
//! Pure bookkeeping, no I/O: the sweep (`sweep.rs`) decides which calls to make and feeds their
//! answers in; the resolver asks it which version a reference reads. Time is passed in, so every
//! rule here is unit-tested without sleeping.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use litemap::LiteMap;

use crate::api::VersionSelector;
use crate::api::version::{AWS_CURRENT, AWS_PENDING};
use crate::provider::SecretMetadata;

/// An ExternalSecret, by namespace and name. Shared: one is held by the trackers of each store
/// it reads through and by the wanted-Secrets index (twice each), for 10,000s of them.
pub type EsRef = Arc<(String, String)>;

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
    /// The last value read of each selector (ARN, version id, when), before or between checks:
    /// another reader within its staleness bound is served the same version from the cache.
    reads: LiteMap<VersionSelector, (String, String, Instant)>,
    /// A check of this secret alone failed (access denied to it, say): not before then again.
    not_before: Option<Instant>,
    /// Usually one ExternalSecret per secret, or a handful: a sorted vector, as below.
    subscribers: LiteMap<EsRef, Subscription>,
}

// Per-secret and per-subscriber maps hold one or two selectors: sorted vectors (`LiteMap`) cost a
// fraction of a hash map's or B-tree's smallest allocation, for each of 10,000s of references.
#[derive(Debug, Clone, Default)]
struct Subscription {
    interval: Duration,
    /// Sorted, without repeats.
    selectors: Vec<VersionSelector>,
    /// The version id each selector was last served to this ExternalSecret: whatever the
    /// tracker knew or did not know then, a check that finds another version wakes it.
    served: LiteMap<VersionSelector, String>,
    /// The version id it was last woken for, per selector: it is woken once per version; should
    /// its sync fail, its own backoff paces the retries, not every check of the secret.
    woken: LiteMap<VersionSelector, String>,
}

impl Entry {
    /// Whether no check of this secret was made yet: none answered, and none failed for it
    /// alone (a check that failed says as much as one that answered: there is nothing to wait
    /// for).
    pub fn awaits_first_check(&self) -> bool {
        self.checked_at.is_none() && self.not_before.is_none()
    }

    /// The shortest refresh interval of the ExternalSecrets using this secret.
    pub fn interval(&self) -> Option<Duration> {
        self.subscribers.values().map(|s| s.interval).min()
    }

    /// Whether this secret is due for a metadata check.
    pub fn due(&self, now: Instant) -> bool {
        if self.not_before.is_some_and(|t| now < t) {
            return false;
        }
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
    by_es: HashMap<EsRef, Vec<String>>,
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
        // One or a few keys per ExternalSecret (distinct: they were map keys).
        let mut keys = Vec::with_capacity(wanted.len());
        for (key, selectors) in wanted {
            keys.push(key.to_owned());
            let sub = self
                .entries
                .entry(key.to_owned())
                .or_default()
                .subscribers
                .entry(es.clone())
                .or_default();
            sub.interval = interval;
            sub.served.retain(|s, _| selectors.contains(s));
            sub.selectors = selectors.into_iter().collect();
        }
        self.by_es.insert(es.clone(), keys);
    }

    /// Forgets a deleted ExternalSecret.
    pub fn forget(&mut self, es: &EsRef) {
        self.subscribe(es, &[], Duration::ZERO);
    }

    /// Forgets every ExternalSecret `keep` refuses (those deleted while no watch saw it happen).
    pub fn retain(&mut self, mut keep: impl FnMut(&EsRef) -> bool) {
        let gone: Vec<EsRef> = self.by_es.keys().filter(|es| !keep(es)).cloned().collect();
        for es in &gone {
            self.forget(es);
        }
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

    /// Number of references: one per ExternalSecret and remote secret it reads.
    pub fn references(&self) -> usize {
        self.by_es.values().map(Vec::len).sum()
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
        let within = |at: Instant| now.saturating_duration_since(at) <= max_age;
        if !entry.checked_at.is_some_and(within) {
            return match entry.reads.get(selector) {
                Some((arn, version_id, at)) if within(*at) => Known::Version {
                    arn: arn.clone(),
                    version_id: version_id.clone(),
                    stages: Vec::new(),
                },
                _ => Known::Unknown,
            };
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
            // AWS leaves versions without a staging label out of its version map, yet still
            // serves them by id: only GetSecretValue can tell.
            None if matches!(selector, VersionSelector::Id(_)) => Known::Unknown,
            None => Known::VersionMissing,
        }
    }

    /// The ARN of a secret, when known.
    pub fn arn(&self, key: &str) -> Option<&str> {
        let entry = self.entries.get(key)?;
        entry
            .meta
            .as_ref()
            .map(|m| m.arn.as_str())
            .or_else(|| entry.reads.values().next().map(|(arn, _, _)| arn.as_str()))
            .filter(|a| !a.is_empty())
    }

    /// Records that `es` was served `version_id` for `(key, selector)`.
    pub fn served(&mut self, es: &EsRef, key: &str, selector: &VersionSelector, version_id: &str) {
        if let Some(sub) = self
            .entries
            .get_mut(key)
            .and_then(|e| e.subscribers.get_mut(es))
            .filter(|sub| sub.selectors.contains(selector))
        {
            sub.served.insert(selector.clone(), version_id.to_owned());
        }
    }

    /// A check of this secret alone failed: it waits one interval (its readers meet the error
    /// themselves) instead of holding back the store's other secrets.
    pub fn postpone(&mut self, key: &str, now: Instant) {
        if let Some(e) = self.entries.get_mut(key) {
            e.not_before = Some(now + e.interval().unwrap_or(Duration::from_secs(60)));
        }
    }

    /// Whether a listed answer contradicts what a DescribeSecret confirmed: the listing may be
    /// stale (AWS documents ListSecrets as eventually consistent), so the caller describes the
    /// secret instead of believing it.
    pub fn contradicts_confirmed(&self, key: &str, listed: &SecretMetadata) -> bool {
        self.entries.get(key).is_some_and(|e| {
            e.described_at.is_some()
                && e.meta.as_ref().is_some_and(|m| {
                    m.versions != listed.versions
                        || m.deleted_date.is_some() != listed.deleted_date.is_some()
                })
        })
    }

    /// Feeds in a metadata answer for `key` (`None`: the secret does not exist), and says whom
    /// it concerns: every ExternalSecret whose referenced version moved since the last check,
    /// or differs from the version it was last served. `described`: the answer came from
    /// DescribeSecret (strongly consistent).
    pub fn apply(
        &mut self,
        key: &str,
        meta: Option<Arc<SecretMetadata>>,
        described: bool,
        now: Instant,
    ) -> Applied {
        let Some(entry) = self.entries.get_mut(key) else {
            return Applied::default();
        };
        let first_check = entry.checked_at.is_none();
        let selectors: BTreeSet<VersionSelector> = entry
            .subscribers
            .values()
            .flat_map(|s| s.selectors.iter().cloned())
            .collect();
        let before: HashMap<&VersionSelector, Option<String>> = selectors
            .iter()
            .map(|s| (s, entry.version_for(s)))
            .collect();
        let state = |e: &Entry| {
            (
                e.missing,
                e.meta.as_ref().is_some_and(|m| m.deleted_date.is_some()),
            )
        };
        let state_before = state(entry);
        // The secret as last seen: by a check, or else by a value read (before the first check).
        let arn_before = entry
            .meta
            .as_ref()
            .map(|m| m.arn.clone())
            .or_else(|| entry.reads.values().next().map(|(arn, _, _)| arn.clone()));

        entry.missing = meta.is_none();
        entry.meta = meta;
        entry.checked_at = Some(now);
        entry.not_before = None;
        entry.reads.clear();
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

        let after: HashMap<&VersionSelector, Option<String>> = selectors
            .iter()
            .map(|s| (s, entry.version_for(s)))
            .collect();
        // A secret found deleted (or scheduled for deletion) concerns its readers even at the
        // first check: they read it while it was there.
        let state_after = state(entry);
        let gone = state_after.0 || state_after.1;
        let state_changed = state_after != state_before && (!first_check || gone);
        // Deleted and created again under the same name since it was last seen: another secret
        // (new ARN, none of the old version ids), which concerns every reader — a pinned version
        // id above all, since its version is gone and no stage moved to say so.
        let recreated = matches!(
            (&arn_before, entry.meta.as_ref()),
            (Some(old), Some(new)) if !old.is_empty() && !new.arn.is_empty() && *old != new.arn
        );
        let state_changed = state_changed || recreated;
        // A selector that moved since the last check; a first check is news to nobody but the
        // readers it contradicts (below).
        let moved = |s: &VersionSelector| !first_check && before[s] != after[s];
        let stale_for = |sub: &Subscription, s: &VersionSelector| {
            !matches!(s, VersionSelector::Id(_))
                && sub
                    .served
                    .get(s)
                    .is_some_and(|v| after[s].as_ref() != Some(v))
                && sub.woken.get(s) != after[s].as_ref()
        };
        let mut wake: Vec<EsRef> = Vec::new();
        for (es, sub) in entry.subscribers.iter_mut() {
            let news: Vec<&VersionSelector> = sub
                .selectors
                .iter()
                .filter(|s| moved(s) || stale_for(sub, s))
                .collect();
            if !state_changed && news.is_empty() {
                continue;
            }
            let woken: Vec<(VersionSelector, String)> = news
                .into_iter()
                .filter_map(|s| Some((s.clone(), after[s].clone()?)))
                .collect();
            sub.woken.extend(woken);
            wake.push(es.clone());
        }
        let current = VersionSelector::default();
        let new_current = after
            .get(&current)
            .cloned()
            .flatten()
            .filter(|v| {
                moved(&current)
                    || entry
                        .subscribers
                        .values()
                        .any(|sub| sub.served.get(&current).is_some_and(|s| s != v))
            })
            .and_then(|v| entry.meta.as_ref().map(|m| (m.arn.clone(), v)));
        let changed = state_changed || selectors.iter().any(moved) || !wake.is_empty();
        Applied {
            wake,
            new_current,
            changed,
        }
    }

    /// Records what a value read taught. Before or between checks, the read serves other
    /// readers of the same selector within their staleness bound; a read that contradicts the
    /// last check (a stale listing) makes the secret due again at once.
    pub fn learn_from_value(
        &mut self,
        key: &str,
        selector: &VersionSelector,
        arn: &str,
        version_id: &str,
        stages: &[String],
        now: Instant,
    ) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if let (Some(meta), Some(_)) = (&entry.meta, entry.checked_at)
            && meta.versions.get(version_id).map(Vec::as_slice) != Some(stages)
        {
            entry.checked_at = None;
        }
        entry.reads.insert(
            selector.clone(),
            (arn.to_owned(), version_id.to_owned(), now),
        );
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
mod tests;
