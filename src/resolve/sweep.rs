//! The sweep of one store: every tick it looks for tracked secrets whose check is due, picks the
//! cheapest way to check them (a full `ListSecrets` sweep, name-filtered listings or one
//! `DescribeSecret` each, from the numbers it has seen), feeds the answers to the tracker,
//! fetches the changed `AWSCURRENT` values ahead (`BatchGetSecretValue`, 20 a call) and wakes the
//! ExternalSecrets whose versions moved.
//!
//! Secrets in a rotation (AWSPENDING staged) are polled precisely with `DescribeSecret` every
//! `rotation_poll`, those whose NextRotationDate is near every `rotation_watch_poll`. In list
//! mode every secret is also confirmed with `DescribeSecret` at least every
//! `list_confirm_interval`, which bounds how long a stale listing (AWS documents `ListSecrets`
//! as eventually consistent) can hide a change; a listing that contradicts a description is
//! checked with `DescribeSecret` before it is believed. Failures back off exponentially with
//! jitter; a secret whose check fails alone waits one interval; nothing loops hot.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use futures::{StreamExt, stream};

use super::StoreResolver;
use super::tracker::EsRef;
use crate::api::secretstore::TrackingMode;
use crate::provider::aws::{BATCH_GET_MAX, LIST_FILTER_MAX_VALUES};
use crate::provider::{ProviderError, SecretMetadata};

/// DescribeSecret calls of one cycle made at once.
const DESCRIBE_CONCURRENCY: usize = 8;
/// Secrets per ListSecrets page.
const PAGE: usize = 100;
/// After `ListSecrets` was denied, how long until it is tried again.
const LIST_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Longest wait after failing cycles.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Window over which the call rate (and the monthly cost estimate) is measured.
const RATE_WINDOW: Duration = Duration::from_secs(600);

/// How a cycle checked its due secrets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Nothing was due.
    #[default]
    Idle,
    /// Every page of the account's listing.
    FullSweep,
    /// Listings filtered by the due secrets' names, 10 names a call.
    NameFiltered,
    /// One DescribeSecret per due secret.
    Describe,
}

impl Strategy {
    /// Name shown in the store's status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::FullSweep => "FullSweep",
            Self::NameFiltered => "NameFilteredList",
            Self::Describe => "DescribeSecret",
        }
    }
}

/// What the last cycle of a store did (for its status).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CycleReport {
    /// The configured mode.
    pub mode: String,
    /// How the last cycle that did anything checked its secrets.
    pub strategy: Strategy,
    /// Why listing is not used, when it is not although the mode allows it.
    pub list_denied: bool,
    /// Calls of that cycle by operation.
    pub calls: BTreeMap<String, u64>,
    /// Remote secrets tracked.
    pub tracked: usize,
    /// Secrets in the account, as last seen by a full sweep.
    pub account_size: Option<usize>,
    /// Secrets Manager calls per second over the last ten minutes.
    pub calls_per_second: f64,
    /// What that rate costs per 30-day month, in dollars.
    pub dollars_per_month: f64,
}

/// Sweep bookkeeping of one store.
#[derive(Debug, Default)]
pub(super) struct SweepState {
    account_size: Option<usize>,
    list_denied_until: Option<Instant>,
    failures: u32,
    resume_at: Option<Instant>,
    last: CycleReport,
    /// (when, the store's Secrets Manager requests so far), one sample a cycle that made calls.
    history: Vec<(Instant, u64)>,
    confirm_credit: f64,
    stuck_reported: HashSet<String>,
}

pub(super) fn report(r: &StoreResolver) -> CycleReport {
    let state = r.sweep.lock().expect("sweep lock");
    let mut report = state.last.clone();
    report.mode = format!("{:?}", r.mode);
    report.tracked = r.tracker.lock().expect("tracker lock").len();
    report.account_size = state.account_size;
    report.list_denied = state.list_denied_until.is_some_and(|t| t > Instant::now());
    // Every Secrets Manager request of the store (reconciles' reads included) over the last ten
    // minutes, or since the store's resolver started when that is more recent.
    let now = Instant::now();
    let total = r.calls.load(std::sync::atomic::Ordering::Relaxed);
    let (since, base) = state
        .history
        .iter()
        .find(|(at, _)| now.duration_since(*at) <= RATE_WINDOW)
        .copied()
        .filter(|(at, _)| now.duration_since(*at) >= Duration::from_secs(1))
        .unwrap_or((r.born, 0));
    let elapsed = now.duration_since(since).max(Duration::from_secs(1));
    report.calls_per_second = total.saturating_sub(base) as f64 / elapsed.as_secs_f64();
    report.dollars_per_month =
        report.calls_per_second * 30.0 * 86_400.0 * crate::metrics::DOLLARS_PER_CALL;
    report
}

/// Whether the store's last cycle failed (it is backing off).
pub(super) fn failing(r: &StoreResolver) -> bool {
    r.sweep.lock().expect("sweep lock").failures > 0
}

/// Runs the sweep until the resolver is dropped.
pub(super) async fn run(resolver: Weak<StoreResolver>) {
    loop {
        let tick = {
            let Some(r) = resolver.upgrade() else { return };
            cycle(&r).await;
            r.settings.tick
        };
        tokio::time::sleep(super::super::controller::backoff::jitter(tick, 0.1)).await;
    }
}

/// The work of one cycle, decided under the tracker's lock.
#[derive(Debug, Default)]
struct Plan {
    /// Names to check by listing (full or filtered).
    listed: Vec<String>,
    /// Keys to check with DescribeSecret.
    described: Vec<String>,
    strategy: Strategy,
    /// Whether any secret was due (a full sweep also refreshes the others).
    tracked: usize,
}

fn plan(r: &StoreResolver, now: Instant, wall: SystemTime) -> Plan {
    let mut sweep = r.sweep.lock().expect("sweep lock");
    let tracker = r.tracker.lock().expect("tracker lock");
    let s = &r.settings;
    let may_list =
        r.mode == TrackingMode::List && sweep.list_denied_until.is_none_or(|until| until <= now);
    let mut due = Vec::new();
    let mut hot = Vec::new();
    let mut stale_confirm = Vec::new();
    for (key, entry) in tracker.entries() {
        let Some(_) = entry.interval() else { continue };
        let in_progress = entry.rotation_in_progress();
        let rotating = in_progress || entry.rotation_due_within(wall, s.rotation_window);
        let poll = if in_progress {
            s.rotation_poll
        } else {
            s.rotation_watch_poll
        };
        let described_ago = entry
            .described_at
            .map(|at| now.saturating_duration_since(at));
        if rotating && described_ago.is_none_or(|d| d >= poll) {
            hot.push(key.clone());
            continue;
        }
        if may_list
            && entry.checked_at.is_some()
            && described_ago.is_none_or(|d| d >= s.list_confirm_interval)
        {
            stale_confirm.push((entry.described_at, key.clone()));
        }
        if entry.due(now) {
            due.push(key.clone());
        }
    }
    // Confirmations are spread: on average tracked × tick / list_confirm_interval a cycle, the
    // longest unconfirmed first.
    sweep.confirm_credit += tracker.len() as f64 * s.tick.as_secs_f64()
        / s.list_confirm_interval.as_secs_f64().max(1.0);
    stale_confirm.sort();
    let confirm_now = (sweep.confirm_credit.floor() as usize).min(stale_confirm.len());
    sweep.confirm_credit -= confirm_now as f64;
    sweep.confirm_credit = sweep.confirm_credit.min(16.0);
    let mut described: Vec<String> = hot;
    described.extend(stale_confirm.into_iter().take(confirm_now).map(|(_, k)| k));
    // A secret confirmed this cycle needs no listing.
    due.retain(|k| !described.contains(k));

    r.metrics
        .tracking(&r.label, tracker.len(), tracker.references());
    let mut plan = Plan {
        tracked: tracker.len(),
        ..Plan::default()
    };
    if due.is_empty() {
        plan.described = described;
        plan.strategy = if plan.described.is_empty() {
            Strategy::Idle
        } else {
            Strategy::Describe
        };
        return plan;
    }
    // ARNs cannot be name-filtered: they are described (or matched in a full sweep).
    let (arns, names): (Vec<String>, Vec<String>) =
        due.into_iter().partition(|k| k.starts_with("arn:"));
    let describe_cost = names.len() + arns.len();
    let filtered_cost = names.len().div_ceil(LIST_FILTER_MAX_VALUES) + arns.len();
    let account = sweep.account_size.unwrap_or(tracker.len()).max(1);
    let full_cost = account.div_ceil(PAGE);
    plan.strategy = if !may_list {
        Strategy::Describe
    } else if full_cost <= filtered_cost.min(describe_cost) {
        Strategy::FullSweep
    } else if filtered_cost < describe_cost {
        Strategy::NameFiltered
    } else {
        Strategy::Describe
    };
    match plan.strategy {
        Strategy::FullSweep => {
            plan.listed = names;
            plan.listed.extend(arns);
        }
        Strategy::NameFiltered => {
            plan.listed = names;
            described.extend(arns);
        }
        _ => {
            described.extend(names);
            described.extend(arns);
        }
    }
    described.sort();
    described.dedup();
    plan.described = described;
    plan
}

/// One cycle: plan, call, apply, fetch ahead, wake.
async fn cycle(r: &Arc<StoreResolver>) {
    let now = Instant::now();
    if r.sweep
        .lock()
        .expect("sweep lock")
        .resume_at
        .is_some_and(|t| t > now)
    {
        return;
    }
    report_stuck(r, now);
    let plan = plan(r, now, SystemTime::now());
    if plan.strategy == Strategy::Idle {
        return;
    }
    let started = Instant::now();
    let mut calls: BTreeMap<String, u64> = BTreeMap::new();
    // Shared with the tracker: a full sweep's answers are the whole account's metadata, which
    // is not copied again for each tracked secret.
    let mut answers: Vec<(String, Option<Arc<SecretMetadata>>, bool)> = Vec::new();
    let mut failed = false;
    let mut describe: Vec<String> = plan.described.clone();

    if !plan.listed.is_empty() {
        let filtered = plan.strategy == Strategy::NameFiltered;
        match list(r, &plan.listed, filtered, &mut calls).await {
            Ok(listed) => {
                let listed: Vec<Arc<SecretMetadata>> = listed.into_iter().map(Arc::new).collect();
                let by_name: HashMap<&str, &Arc<SecretMetadata>> =
                    listed.iter().map(|m| (m.name.as_str(), m)).collect();
                let by_arn: HashMap<&str, &Arc<SecretMetadata>> =
                    listed.iter().map(|m| (m.arn.as_str(), m)).collect();
                if plan.strategy == Strategy::FullSweep {
                    r.sweep.lock().expect("sweep lock").account_size = Some(listed.len());
                }
                // A full sweep refreshes every tracked secret, due or not; a filtered one the
                // names asked for.
                let keys: Vec<String> = if plan.strategy == Strategy::FullSweep {
                    let tracker = r.tracker.lock().expect("tracker lock");
                    tracker.entries().map(|(k, _)| k.clone()).collect()
                } else {
                    plan.listed.clone()
                };
                let listed_keys: HashSet<&String> = plan.listed.iter().collect();
                let tracker = r.tracker.lock().expect("tracker lock");
                for key in keys {
                    match by_name.get(key.as_str()).or(by_arn.get(key.as_str())) {
                        // A listing that contradicts what DescribeSecret confirmed may be stale:
                        // DescribeSecret (strongly consistent) tells.
                        Some(m) if tracker.contradicts_confirmed(&key, m) => describe.push(key),
                        Some(m) => answers.push((key, Some(Arc::clone(m)), false)),
                        // Not listed: deleted, or a listing that lags behind.
                        None if listed_keys.contains(&key) => describe.push(key),
                        None => {}
                    }
                }
            }
            Err(ProviderError::AccessDenied { .. }) => {
                tracing::warn!(store = %r.label, "ListSecrets is denied to this store's identity; checking versions with DescribeSecret instead (least-privilege mode)");
                r.sweep.lock().expect("sweep lock").list_denied_until =
                    Some(Instant::now() + LIST_RETRY_AFTER);
                describe.extend(plan.listed.iter().cloned());
            }
            Err(err) => {
                tracing::warn!(store = %r.label, error = %err, "listing secrets failed; retrying with backoff");
                failed = true;
            }
        }
    }
    describe.sort();
    describe.dedup();
    if !failed && !describe.is_empty() {
        *calls.entry("DescribeSecret".into()).or_default() += describe.len() as u64;
        let results: Vec<(String, Result<SecretMetadata, ProviderError>)> = stream::iter(describe)
            .map(|key| async move {
                let got = r.backend.describe_secret(&key).await;
                (key, got)
            })
            .buffer_unordered(DESCRIBE_CONCURRENCY)
            .collect()
            .await;
        for (key, got) in results {
            match got {
                Ok(m) => answers.push((key, Some(Arc::new(m)), true)),
                Err(ProviderError::SecretNotFound { .. }) => answers.push((key, None, true)),
                // A problem of this secret alone (no permission on it, say).
                Err(
                    err @ (ProviderError::AccessDenied { key: Some(_), .. }
                    | ProviderError::InvalidRequest { .. }),
                ) => {
                    tracing::warn!(store = %r.label, secret = %key, error = %err, "DescribeSecret failed for this secret; checking it again after its refresh interval");
                    r.tracker
                        .lock()
                        .expect("tracker lock")
                        .postpone(&key, Instant::now());
                }
                Err(err) => {
                    tracing::warn!(store = %r.label, secret = %key, error = %err, "DescribeSecret failed; retrying with backoff");
                    failed = true;
                }
            }
        }
    }

    // What the answers say is true as of the calls' start: the next check is due one interval
    // after that, so a secret is never seen less often than its readers ask.
    let now = started;
    let mut wake: Vec<EsRef> = Vec::new();
    let mut ahead: Vec<(String, String)> = Vec::new();
    let mut changed = 0u64;
    let answered = answers.len();
    {
        let mut tracker = r.tracker.lock().expect("tracker lock");
        for (key, meta, described) in answers {
            let applied = tracker.apply(&key, meta, described, now);
            if applied.changed {
                changed += 1;
            }
            wake.extend(applied.wake);
            ahead.extend(applied.new_current);
        }
        r.metrics
            .scheduled_for_deletion(&r.label, tracker.scheduled_for_deletion());
    }
    if changed > 0 {
        r.metrics.versions_changed(&r.label, changed);
    }
    fetch_ahead(r, ahead, &mut calls).await;
    tracing::debug!(
        store = %r.label,
        strategy = plan.strategy.as_str(),
        tracked = plan.tracked,
        changed,
        answered,
        woken = wake.len(),
        calls = ?calls,
        "version check"
    );
    r.notify(wake);

    let mut sweep = r.sweep.lock().expect("sweep lock");
    sweep
        .history
        .retain(|(at, _)| now.duration_since(*at) <= RATE_WINDOW);
    sweep
        .history
        .push((now, r.calls.load(std::sync::atomic::Ordering::Relaxed)));
    sweep.last.strategy = plan.strategy;
    sweep.last.calls = calls;
    if failed {
        sweep.failures = sweep.failures.saturating_add(1);
        let wait = r
            .settings
            .tick
            .saturating_mul(1 << sweep.failures.min(16))
            .min(MAX_BACKOFF);
        sweep.resume_at = Some(now + super::super::controller::backoff::jitter(wait, 0.2));
    } else {
        sweep.failures = 0;
        sweep.resume_at = None;
    }
    drop(sweep);
    r.metrics
        .tracker_cycle(&r.label, started.elapsed(), plan.tracked);
}

/// Lists the account (all pages) or the given names (10 a call), metadata only.
async fn list(
    r: &StoreResolver,
    names: &[String],
    filtered: bool,
    calls: &mut BTreeMap<String, u64>,
) -> Result<Vec<SecretMetadata>, ProviderError> {
    let mut all = Vec::new();
    let groups: Vec<&[String]> = if filtered {
        names.chunks(LIST_FILTER_MAX_VALUES).collect()
    } else {
        vec![&[]]
    };
    for group in groups {
        let mut token = None;
        loop {
            *calls.entry("ListSecrets".into()).or_default() += 1;
            let page = r.backend.list_page(group, token.take()).await?;
            all.extend(page.secrets);
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
    }
    Ok(all)
}

/// Fetches the new AWSCURRENT values ahead of the reconciles that will want them, 20 a call.
/// Best effort: what is not fetched here is read by the reconcile itself.
async fn fetch_ahead(
    r: &StoreResolver,
    wanted: Vec<(String, String)>,
    calls: &mut BTreeMap<String, u64>,
) {
    let missing: Vec<(String, String)> = wanted
        .into_iter()
        .filter(|(arn, v)| r.cache.get(arn, v).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let Some(batcher) = r.batcher.as_ref().filter(|b| b.usable()) else {
        return;
    };
    for chunk in missing.chunks(BATCH_GET_MAX) {
        let arns: Vec<String> = chunk.iter().map(|(arn, _)| arn.clone()).collect();
        *calls.entry("BatchGetSecretValue".into()).or_default() += 1;
        match r.backend.batch_get_current(&arns).await {
            Ok(values) => {
                r.metrics.values_fetched(&r.label, values.len() as u64);
                for v in values {
                    r.cache.insert(Arc::new(v));
                }
            }
            Err(ProviderError::AccessDenied { .. }) => {
                batcher.denied();
                return;
            }
            Err(err) => {
                tracing::debug!(store = %r.label, error = %err, "fetching changed values ahead failed; the reconciles read them");
                return;
            }
        }
    }
}

/// Wakes the users of secrets whose rotation just became stuck (once per stuck version).
fn report_stuck(r: &StoreResolver, now: Instant) {
    let stuck: Vec<(String, Vec<EsRef>)> = {
        let tracker = r.tracker.lock().expect("tracker lock");
        tracker
            .stuck(now, r.settings.rotation_stuck_after)
            .into_iter()
            .filter_map(|k| {
                let e = tracker.entry(k)?;
                let version = e.pending_since.as_ref()?.0.clone();
                Some((format!("{k}@{version}"), e.subscribers().cloned().collect()))
            })
            .collect()
    };
    let mut sweep = r.sweep.lock().expect("sweep lock");
    let current: HashSet<String> = stuck.iter().map(|(k, _)| k.clone()).collect();
    sweep.stuck_reported.retain(|k| current.contains(k));
    let mut wake = Vec::new();
    for (k, users) in stuck {
        if sweep.stuck_reported.insert(k) {
            wake.extend(users);
        }
    }
    r.metrics.rotations_stuck(&r.label, current.len());
    drop(sweep);
    r.notify(wake);
}
