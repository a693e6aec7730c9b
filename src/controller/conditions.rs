//! The ExternalSecret conditions beside `Ready`: `RotationHealthy` (from the store's version
//! tracker) and `WorkloadsUpdated` (from the restart engine), and the version note of a write.

use std::time::Duration;

use crate::api::Reason;
use crate::api::externalsecret::{ExternalSecretStatus, SyncedVersions};
use crate::api::reason::{CONDITION_ROTATION_HEALTHY, CONDITION_WORKLOADS_UPDATED};
use crate::api::shared::ConditionStatus;
use crate::restart::RolloutOutcome;
use crate::write::status::{condition, set_condition, truncate};

/// Sets or clears `RotationHealthy`; returns the note of a Warning event when a rotation just
/// became stuck. The condition appears only once a rotation was stuck.
pub(super) fn rotation_condition(
    status: &mut ExternalSecretStatus,
    previous: &ExternalSecretStatus,
    stuck: &[(String, String, Duration)],
    generation: Option<i64>,
) -> Option<String> {
    let had = previous
        .conditions
        .iter()
        .find(|c| c.type_ == CONDITION_ROTATION_HEALTHY);
    if stuck.is_empty() {
        if had.is_some() {
            let healthy = condition(
                &previous.conditions,
                CONDITION_ROTATION_HEALTHY,
                ConditionStatus::True,
                Reason::RotationHealthy.as_str(),
                "no rotation of the referenced AWS secrets is stuck",
                generation,
            );
            set_condition(&mut status.conditions, healthy);
        }
        return None;
    }
    let message = stuck
        .iter()
        .map(|(key, version, age)| {
            format!(
                "secret {key:?}: version {version} has carried AWSPENDING for {}s without becoming AWSCURRENT; the rotation function keeps failing, the Secret keeps the current value",
                age.as_secs()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let was_stuck = had.is_some_and(|c| c.status == ConditionStatus::False);
    let c = condition(
        &previous.conditions,
        CONDITION_ROTATION_HEALTHY,
        ConditionStatus::False,
        Reason::RotationStuck.as_str(),
        &message,
        generation,
    );
    set_condition(&mut status.conditions, c);
    (!was_stuck).then_some(message)
}

/// "prod/db v1 → v2, prod/api v7 → v8": the AWS versions a write moved between (ids only).
pub(super) fn versions_note(before: &SyncedVersions, after: &SyncedVersions) -> String {
    let moved: Vec<String> = after
        .iter()
        .filter_map(|(key, v)| match before.get(key) {
            Some(old) if old.version_id == v.version_id => None,
            Some(old) => Some(format!(
                "{key}: version {} → {}",
                old.version_id, v.version_id
            )),
            None => Some(format!("{key}: version {}", v.version_id)),
        })
        .collect();
    if moved.is_empty() {
        "same AWS versions".to_owned()
    } else {
        moved.join(", ")
    }
}

/// Sets `WorkloadsUpdated` from the rollouts of the workloads restarted for this Secret (absent
/// when none were); returns the event to publish when it changed status.
pub(super) fn workloads_condition(
    status: &mut ExternalSecretStatus,
    previous: &ExternalSecretStatus,
    outcome: Option<RolloutOutcome>,
    generation: Option<i64>,
) -> Option<(bool, &'static str, String)> {
    let Some(outcome) = outcome else {
        status
            .conditions
            .retain(|c| c.type_ != CONDITION_WORKLOADS_UPDATED);
        return None;
    };
    let (state, reason, message) = if !outcome.stuck.is_empty() {
        (
            ConditionStatus::False,
            Reason::RolloutStuck,
            format!(
                "the rollout after the last change is stuck: {}; the pods still running the old data keep serving",
                outcome.stuck.join("; ")
            ),
        )
    } else if !outcome.in_progress.is_empty() {
        (
            ConditionStatus::Unknown,
            Reason::RolloutInProgress,
            format!("rolling: {}", outcome.in_progress.join("; ")),
        )
    } else {
        (
            ConditionStatus::True,
            Reason::RolloutFinished,
            format!(
                "every restarted workload finished its rollout: {}",
                outcome.finished.join(", ")
            ),
        )
    };
    let before = previous
        .conditions
        .iter()
        .find(|c| c.type_ == CONDITION_WORKLOADS_UPDATED)
        .map(|c| c.status);
    let c = condition(
        &previous.conditions,
        CONDITION_WORKLOADS_UPDATED,
        state,
        reason.as_str(),
        &truncate(&message, 1000),
        generation,
    );
    set_condition(&mut status.conditions, c);
    let changed = before.as_ref() != Some(&state);
    match state {
        ConditionStatus::False if changed => Some((true, reason.as_str(), message)),
        ConditionStatus::True if changed => Some((false, reason.as_str(), message)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::externalsecret::SyncedVersion;

    fn synced(pairs: &[(&str, &str)]) -> SyncedVersions {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    SyncedVersion {
                        version_id: (*v).to_owned(),
                        version_stages: vec!["AWSCURRENT".into()],
                        current_since: None,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn version_notes_name_ids_that_moved() {
        let before = synced(&[("prod/db", "v1"), ("prod/api", "a1")]);
        let after = synced(&[("prod/db", "v2"), ("prod/api", "a1"), ("prod/new", "n1")]);
        assert_eq!(
            versions_note(&before, &after),
            "prod/db: version v1 → v2, prod/new: version n1"
        );
        assert_eq!(versions_note(&before, &before), "same AWS versions");
    }

    #[test]
    fn workloads_updated_follows_the_worst_rollout_and_reports_transitions() {
        let mut status = ExternalSecretStatus::default();
        let previous = status.clone();
        let rolling = RolloutOutcome {
            finished: vec!["Deployment a".into()],
            in_progress: vec!["Deployment b: 1 of 3 replicas updated".into()],
            stuck: vec![],
        };
        assert_eq!(
            workloads_condition(&mut status, &previous, Some(rolling.clone()), Some(1)),
            None
        );
        assert_eq!(status.conditions[0].status, ConditionStatus::Unknown);
        let previous = status.clone();
        let stuck = RolloutOutcome {
            stuck: vec!["Deployment b: progress deadline exceeded".into()],
            ..rolling
        };
        let event = workloads_condition(&mut status, &previous, Some(stuck.clone()), Some(1));
        let (warning, reason, note) = event.expect("a Warning event");
        assert!(warning && reason == "RolloutStuck" && note.contains("Deployment b"));
        // Still stuck: no second event.
        let previous = status.clone();
        assert_eq!(
            workloads_condition(&mut status, &previous, Some(stuck), Some(1)),
            None
        );
        let done = RolloutOutcome {
            finished: vec!["Deployment a".into(), "Deployment b".into()],
            ..RolloutOutcome::default()
        };
        let previous = status.clone();
        let (warning, reason, _) =
            workloads_condition(&mut status, &previous, Some(done), Some(1)).unwrap();
        assert!(!warning && reason == "RolloutFinished");
        assert_eq!(status.conditions[0].status, ConditionStatus::True);
        // No restarted workload left: the condition goes.
        let previous = status.clone();
        workloads_condition(&mut status, &previous, None, Some(1));
        assert!(status.conditions.is_empty());
    }
}
