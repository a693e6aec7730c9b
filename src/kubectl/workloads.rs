//! The workloads that restart on an ExternalSecret's next change: those of its namespace that
//! opted in (`restart::usage::reload_spec`) and depend on its target Secret
//! (`restart::usage::dependencies`), with how their last stagesync-started rollout went
//! (`restart::workload::progress`). The rules are the restart engine's own functions.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::jiff::Timestamp;
use kube::api::{DynamicObject, ListParams};
use kube::{Api, Client, ResourceExt};
use serde::Serialize;

use super::status::GatherOptions;
use crate::restart::plan::ANNOTATION_RESTARTED_AT;
use crate::restart::usage::{Strategy, dependencies, reload_spec, secrets_used};
use crate::restart::workload::{Kind, Progress, progress};

/// One workload that restarts when the Secret changes.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    /// Its kind (`Deployment`, `StatefulSet`, ...).
    pub kind: String,
    /// Its name.
    pub name: String,
    /// `rollout`, or `none` (the change is recorded and reported, nothing restarts).
    pub strategy: String,
    /// Paused: its rollout waits until it is resumed.
    pub paused: bool,
    /// When stagesync last started a rollout of it (RFC 3339).
    pub restarted_at: Option<String>,
    /// How that rollout went.
    pub rollout: RolloutStatus,
    /// Malformed opt-in annotations: the operator leaves the workload alone until fixed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// How a workload's last stagesync-started rollout went.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// The state.
    pub state: RolloutState,
    /// Why it is not finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The state of a rollout.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum RolloutState {
    /// stagesync never restarted this workload.
    NotRestarted,
    /// Every replica runs the latest template.
    Finished,
    /// Still rolling.
    InProgress,
    /// Failed or stalled.
    Stuck,
}

impl RolloutState {
    /// As shown in a table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRestarted => "not restarted yet",
            Self::Finished => "finished",
            Self::InProgress => "in progress",
            Self::Stuck => "stuck",
        }
    }
}

/// The workloads of the namespaces looked at, listed once per namespace.
pub(super) struct Workloads {
    client: Client,
    options: GatherOptions,
    now: Timestamp,
    listed: HashMap<String, Vec<(Kind, DynamicObject)>>,
}

impl Workloads {
    pub(super) fn new(client: Client, options: GatherOptions, now: Timestamp) -> Self {
        Self {
            client,
            options,
            now,
            listed: HashMap::new(),
        }
    }

    /// The workloads of `namespace` that restart when Secret `secret` changes.
    pub(super) async fn using(
        &mut self,
        namespace: &str,
        secret: &str,
        notes: &mut BTreeSet<String>,
    ) -> Vec<WorkloadStatus> {
        if !self.listed.contains_key(namespace) {
            let listed = list(&self.client, namespace, notes).await;
            self.listed.insert(namespace.to_owned(), listed);
        }
        self.listed[namespace]
            .iter()
            .filter_map(|(kind, obj)| assess(*kind, obj, secret, &self.options, self.now))
            .collect()
    }
}

/// Every workload of every kind stagesync restarts in `namespace`. A kind that is not served
/// (no Argo Rollouts) is skipped; one the user may not list is noted.
async fn list(
    client: &Client,
    namespace: &str,
    notes: &mut BTreeSet<String>,
) -> Vec<(Kind, DynamicObject)> {
    let mut out = Vec::new();
    for kind in Kind::ALL {
        let resource = kind.api_resource();
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
        match api.list(&ListParams::default()).await {
            Ok(list) => out.extend(list.items.into_iter().map(|o| (kind, o))),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                notes.insert(format!(
                    "{} in namespace {namespace} could not be listed: {e}",
                    resource.plural
                ));
            }
        }
    }
    out
}

/// The workload's restart view when it opted in and depends on `secret` (also when its opt-in
/// is malformed but its pod template uses the Secret: the user should learn why it will not
/// restart).
pub fn assess(
    kind: Kind,
    object: &DynamicObject,
    secret: &str,
    options: &GatherOptions,
    now: Timestamp,
) -> Option<WorkloadStatus> {
    let spec = &object.data["spec"];
    let pod_spec = kind.pod_spec(spec);
    let (strategy, problems) = match reload_spec(object.annotations(), options.reloader_compatible)
    {
        Ok(None) => return None,
        Ok(Some(wish)) => {
            if !dependencies(&wish, pod_spec).contains(secret) {
                return None;
            }
            (wish.strategy, Vec::new())
        }
        Err(problems) => {
            if !secrets_used(pod_spec).contains(secret) {
                return None;
            }
            (Strategy::Rollout, problems)
        }
    };
    let restarted_at = object.annotations().get(ANNOTATION_RESTARTED_AT).cloned();
    let started = restarted_at.as_deref().and_then(|t| t.parse().ok());
    let rollout = match started {
        None => RolloutStatus {
            state: RolloutState::NotRestarted,
            detail: None,
        },
        Some(started) => {
            let whole = serde_json::to_value(object).unwrap_or_default();
            match progress(kind, &whole, Some(started), options.rollout_deadline, now) {
                Progress::Finished => RolloutStatus {
                    state: RolloutState::Finished,
                    detail: None,
                },
                Progress::InProgress(why) => RolloutStatus {
                    state: RolloutState::InProgress,
                    detail: Some(why),
                },
                Progress::Stuck(why) => RolloutStatus {
                    state: RolloutState::Stuck,
                    detail: Some(why),
                },
            }
        }
    };
    Some(WorkloadStatus {
        kind: kind.as_str().to_owned(),
        name: object.name_any(),
        strategy: match strategy {
            Strategy::Rollout => "rollout",
            Strategy::None => "none",
        }
        .to_owned(),
        paused: kind.paused(spec),
        restarted_at,
        rollout,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(
        annotations: serde_json::Value,
        secret: &str,
        status: serde_json::Value,
    ) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "team", "generation": 2, "annotations": annotations},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "app", "envFrom": [{"secretRef": {"name": secret}}]}
            ]}}},
            "status": status,
        }))
        .unwrap()
    }

    fn now() -> Timestamp {
        "2026-01-01T00:01:00Z".parse().unwrap()
    }

    #[test]
    fn lists_only_opted_in_workloads_using_the_secret() {
        let options = GatherOptions::default();
        let opted = deployment(json!({"stagesync.io/reload": "true"}), "db", json!({}));
        let found = assess(Kind::Deployment, &opted, "db", &options, now()).unwrap();
        assert_eq!(found.strategy, "rollout");
        assert_eq!(found.rollout.state, RolloutState::NotRestarted);
        assert!(assess(Kind::Deployment, &opted, "other", &options, now()).is_none());
        let not_opted = deployment(json!({}), "db", json!({}));
        assert!(assess(Kind::Deployment, &not_opted, "db", &options, now()).is_none());
        // Reloader's annotation counts only when the operator is Reloader-compatible.
        let reloader = deployment(
            json!({"reloader.stakater.com/auto": "true"}),
            "db",
            json!({}),
        );
        assert!(assess(Kind::Deployment, &reloader, "db", &options, now()).is_none());
        let compatible = GatherOptions {
            reloader_compatible: true,
            ..options.clone()
        };
        assert!(assess(Kind::Deployment, &reloader, "db", &compatible, now()).is_some());
        let malformed = deployment(json!({"stagesync.io/reload": "yes"}), "db", json!({}));
        let shown = assess(Kind::Deployment, &malformed, "db", &options, now()).unwrap();
        assert!(
            shown.problems[0].contains("\"yes\""),
            "{:?}",
            shown.problems
        );
    }

    #[test]
    fn rollout_progress_of_a_restarted_workload() {
        let options = GatherOptions::default();
        let annotations = json!({
            "stagesync.io/reload": "true",
            "stagesync.io/restarted-at": "2026-01-01T00:00:00Z",
        });
        let rolling = deployment(
            annotations.clone(),
            "db",
            json!({"observedGeneration": 2, "updatedReplicas": 1}),
        );
        let shown = assess(Kind::Deployment, &rolling, "db", &options, now()).unwrap();
        assert_eq!(shown.rollout.state, RolloutState::InProgress);
        assert_eq!(
            shown.rollout.detail.as_deref(),
            Some("1 of 2 replicas updated")
        );
        let done = deployment(
            annotations,
            "db",
            json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
        );
        let shown = assess(Kind::Deployment, &done, "db", &options, now()).unwrap();
        assert_eq!(shown.rollout.state, RolloutState::Finished);
    }
}
