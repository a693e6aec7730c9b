//! Status of stagesync resources: conditions that follow Kubernetes conventions (the transition
//! time moves only when the status flips) and a server-side apply of the status subresource.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::FIELD_MANAGER;
use crate::api::shared::{Condition, ConditionStatus};

/// Longest condition message kept (the API server allows 32768 bytes).
const MAX_MESSAGE: usize = 4096;

/// Builds a condition of `type_`, keeping the previous transition time when the status did not
/// change.
pub fn condition(
    previous: &[Condition],
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
) -> Condition {
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(k8s_openapi::jiff::Timestamp::now()));
    Condition {
        type_: type_.to_owned(),
        status,
        reason: Some(reason.to_owned()),
        message: Some(truncate(message, MAX_MESSAGE)),
        last_transition_time: Some(last_transition_time),
        observed_generation,
    }
}

/// Replaces the condition of the same type, keeping the others.
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition) {
    conditions.retain(|c| c.type_ != new.type_);
    conditions.push(new);
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
}

/// Cuts a message at a character boundary.
pub fn truncate(message: &str, max: usize) -> String {
    if message.len() <= max {
        return message.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}

/// Applies the whole status of an object (fields not sent are dropped, so callers send every
/// status field they want to keep).
pub async fn apply_status<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    // An apply body names its object, as the API server requires.
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": {"name": name},
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let old_time = Time("2020-01-01T00:00:00Z".parse().unwrap());
        let previous = vec![Condition {
            type_: "Ready".into(),
            status: ConditionStatus::False,
            reason: Some("SecretNotFound".into()),
            message: Some("m".into()),
            last_transition_time: Some(old_time.clone()),
            observed_generation: Some(1),
        }];
        let same = condition(
            &previous,
            "Ready",
            ConditionStatus::False,
            "AccessDenied",
            "x",
            Some(2),
        );
        assert_eq!(same.last_transition_time, Some(old_time.clone()));
        assert_eq!(same.reason.as_deref(), Some("AccessDenied"));
        let flipped = condition(
            &previous,
            "Ready",
            ConditionStatus::True,
            "SecretSynced",
            "ok",
            Some(2),
        );
        assert_ne!(flipped.last_transition_time, Some(old_time));

        let mut all = previous.clone();
        set_condition(&mut all, flipped);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].status, ConditionStatus::True);
    }

    #[test]
    fn truncates_at_char_boundaries() {
        assert_eq!(truncate("short", 10), "short");
        let t = truncate(&"é".repeat(100), 11);
        assert!(t.len() <= 11 && t.ends_with("..."), "{t}");
    }
}
