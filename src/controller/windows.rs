//! `spec.syncWindows`, as ESO evaluates them (`isPeriodicRefreshAllowedByWindows`): each window
//! opens at every firing of its schedule (5-field cron in UTC, or a shorthand such as `@daily`)
//! and stays open for its duration; `allow` lets periodic refreshes run only while a window is
//! open, `deny` holds them back while one is. A schedule that does not parse counts as never
//! open (the CRD pattern refuses most such values first).
//!
//! `@every <d>` has no fixed start in ESO's cron library: a window `@every d` of duration `w` is
//! open at all times when `d <= w + 1s` and never otherwise; the same here.

use std::str::FromStr;
use std::time::Duration;

use croner::Cron;
use k8s_openapi::jiff::{SignedDuration, Timestamp, tz::TimeZone};

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::Context;
use crate::api::Reason;
use crate::api::duration::parse_go_duration;
use crate::api::externalsecret::{
    ExternalSecret, RefreshPolicy, SyncWindow, SyncWindowKind, SyncWindows,
};
use crate::api::reason::CONDITION_READY;
use crate::api::shared::ConditionStatus;
use crate::write::status::{apply_status, condition, set_condition};

/// Whether a periodic refresh may run now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// It may.
    Open,
    /// Held back; the next moment it may run, when one is known.
    HeldUntil(Option<Timestamp>),
}

enum Schedule {
    Cron(Box<Cron>),
    Every(Duration),
}

fn parse(w: &SyncWindow) -> Option<(Schedule, Duration)> {
    let duration = parse_go_duration(&w.duration).ok()?;
    let schedule = match w.schedule.trim().strip_prefix("@every ") {
        Some(every) => Schedule::Every(parse_go_duration(every.trim()).ok()?),
        None => Schedule::Cron(Box::new(Cron::from_str(w.schedule.trim()).ok()?)),
    };
    Some((schedule, duration))
}

/// The windows whose schedule or duration does not parse, by index, with why: such a window is
/// never open. Also what `stagesync check` reports.
pub fn invalid_windows(windows: &SyncWindows) -> Vec<(usize, String)> {
    windows
        .windows
        .iter()
        .enumerate()
        .filter(|(_, w)| parse(w).is_none())
        .map(|(i, w)| {
            let why = match parse_go_duration(&w.duration) {
                Err(e) => format!("duration {:?}: {e}", w.duration),
                Ok(_) => format!(
                    "schedule {:?} is neither a 5-field cron expression, a shorthand such as @daily, nor @every <duration>",
                    w.schedule
                ),
            };
            (i, why)
        })
        .collect()
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

/// When the window open at `now` closes (`Some(None)`: it never does), or `None` if it is
/// closed.
fn open_until(
    schedule: &Schedule,
    duration: Duration,
    now: Timestamp,
) -> Option<Option<Timestamp>> {
    match schedule {
        Schedule::Every(every) => (*every <= duration + Duration::from_secs(1)).then_some(None),
        Schedule::Cron(cron) => {
            let at = now.to_zoned(TimeZone::UTC);
            let start = cron.find_previous_occurrence(&at, true).ok()?;
            let end = start.timestamp().checked_add(signed(duration)).ok()?;
            (now <= end).then_some(Some(end))
        }
    }
}

/// When the window opens next after `now` (`None`: never).
fn next_opening(schedule: &Schedule, now: Timestamp) -> Option<Timestamp> {
    match schedule {
        Schedule::Every(_) => None,
        Schedule::Cron(cron) => cron
            .find_next_occurrence(&now.to_zoned(TimeZone::UTC), false)
            .ok()
            .map(|z| z.timestamp()),
    }
}

/// Evaluates the windows at `now`.
pub fn gate(windows: &SyncWindows, now: Timestamp) -> Gate {
    let parsed: Vec<(Schedule, Duration)> = windows.windows.iter().filter_map(parse).collect();
    let open: Vec<Option<Timestamp>> = parsed
        .iter()
        .filter_map(|(s, d)| open_until(s, *d, now))
        .collect();
    match windows.kind {
        SyncWindowKind::Allow if !open.is_empty() => Gate::Open,
        SyncWindowKind::Allow => Gate::HeldUntil(
            parsed
                .iter()
                .filter_map(|(s, _)| next_opening(s, now))
                .min(),
        ),
        SyncWindowKind::Deny if open.is_empty() => Gate::Open,
        // Held while any deny window is open: until the last of them closes.
        SyncWindowKind::Deny => Gate::HeldUntil(if open.iter().any(Option::is_none) {
            None
        } else {
            open.into_iter().flatten().max()
        }),
    }
}

/// Holds back a periodic refresh that the ExternalSecret's windows do not allow now: the
/// status says until when, nothing is read or written, and the reconcile comes back when the
/// window opens (or after the resync floor when none will). The first sync, a spec change and a
/// new force-sync value are never held back. `None`: go ahead.
pub async fn hold(
    es: &ExternalSecret,
    ctx: &Context,
    es_api: &Api<ExternalSecret>,
    secrets: &Api<Secret>,
    target: &str,
    forced: bool,
) -> Result<Option<Action>, kube::Error> {
    let Some(windows) = &es.spec.sync_windows else {
        return Ok(None);
    };
    if forced
        || matches!(
            es.spec.refresh_policy,
            Some(RefreshPolicy::CreatedOnce | RefreshPolicy::OnChange)
        )
    {
        return Ok(None);
    }
    let previous = es.status.clone().unwrap_or_default();
    let synced_this_generation = previous.conditions.iter().any(|c| {
        c.type_ == CONDITION_READY
            && c.status == ConditionStatus::True
            && c.observed_generation == es.metadata.generation
    });
    // Only whether the Secret exists matters: its data is zeroed at once.
    let exists = secrets
        .get_opt(target)
        .await?
        .map(crate::value::SecretObject::new)
        .is_some();
    if !synced_this_generation || !exists {
        return Ok(None);
    }
    let now = Timestamp::now();
    let Gate::HeldUntil(until) = gate(windows, now) else {
        return Ok(None);
    };
    let message = match until {
        Some(t) => format!(
            "Secret {target:?} is synced; periodic refreshes are held back by syncWindows until {t}"
        ),
        None => format!(
            "Secret {target:?} is synced; periodic refreshes are held back by syncWindows, and no window lets them run"
        ),
    };
    let mut status = previous.clone();
    set_condition(
        &mut status.conditions,
        condition(
            &previous.conditions,
            CONDITION_READY,
            ConditionStatus::True,
            Reason::SecretSynced.as_str(),
            &message,
            es.metadata.generation,
        ),
    );
    if status != previous {
        apply_status(es_api, &es.name_any(), &status).await?;
    }
    let wait = until
        .and_then(|t| Duration::try_from(t.duration_since(now)).ok())
        .map_or(ctx.config.resync_floor, |d| d.min(ctx.config.resync_floor))
        + Duration::from_secs(1);
    Ok(Some(Action::requeue(wait)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(kind: SyncWindowKind, w: &[(&str, &str)]) -> SyncWindows {
        SyncWindows {
            kind,
            windows: w
                .iter()
                .map(|(s, d)| SyncWindow {
                    schedule: (*s).into(),
                    duration: (*d).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn invalid_windows_say_which_part_does_not_parse() {
        let w = windows(
            SyncWindowKind::Allow,
            &[
                ("0 9 * * 1-5", "8h"),
                ("every day", "1h"),
                ("@every 1h", "1 hour"),
            ],
        );
        let invalid = invalid_windows(&w);
        assert_eq!(invalid.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1, 2]);
        assert!(
            invalid[0].1.contains("schedule \"every day\""),
            "{invalid:?}"
        );
        assert!(invalid[1].1.contains("duration \"1 hour\""), "{invalid:?}");
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn allow_windows_open_at_each_firing_for_their_duration() {
        // Weekdays 22:00 UTC for 8 hours. 2026-11-30 is a Monday.
        let w = windows(SyncWindowKind::Allow, &[("0 22 * * 1-5", "8h")]);
        assert_eq!(gate(&w, at("2026-11-30T23:00:00Z")), Gate::Open);
        assert_eq!(gate(&w, at("2026-12-01T05:59:59Z")), Gate::Open);
        assert_eq!(
            gate(&w, at("2026-12-01T06:00:01Z")),
            Gate::HeldUntil(Some(at("2026-12-01T22:00:00Z")))
        );
        // Saturday 12:00: the next window opens on Monday.
        assert_eq!(
            gate(&w, at("2026-12-05T12:00:00Z")),
            Gate::HeldUntil(Some(at("2026-12-07T22:00:00Z")))
        );
    }

    #[test]
    fn deny_windows_hold_refreshes_until_they_close() {
        let w = windows(
            SyncWindowKind::Deny,
            &[("@daily", "2h"), ("30 0 * * *", "3h")],
        );
        assert_eq!(
            gate(&w, at("2026-11-30T01:00:00Z")),
            Gate::HeldUntil(Some(at("2026-11-30T03:30:00Z")))
        );
        assert_eq!(gate(&w, at("2026-11-30T04:00:00Z")), Gate::Open);
    }

    #[test]
    fn every_and_unparseable_schedules_behave_as_in_eso() {
        let always = windows(SyncWindowKind::Allow, &[("@every 1h", "1h")]);
        assert_eq!(gate(&always, at("2026-11-30T04:00:00Z")), Gate::Open);
        let never = windows(SyncWindowKind::Allow, &[("@every 2h", "1h")]);
        assert_eq!(
            gate(&never, at("2026-11-30T04:00:00Z")),
            Gate::HeldUntil(None)
        );
        // A schedule that does not parse is a window that never opens.
        let broken = windows(SyncWindowKind::Deny, &[("61 * * * *", "1h")]);
        assert_eq!(gate(&broken, at("2026-11-30T04:00:00Z")), Gate::Open);
        let broken_allow = windows(SyncWindowKind::Allow, &[("61 * * * *", "1h")]);
        assert_eq!(
            gate(&broken_allow, at("2026-11-30T04:00:00Z")),
            Gate::HeldUntil(None)
        );
    }
}
