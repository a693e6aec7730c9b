//! The workload kinds stagesync restarts, read as plain JSON: where each keeps its pod template,
//! how it is restarted, whether it is paused, and how far its rollout got. Pure.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use kube::discovery::ApiResource;
use serde_json::{Value, json};

use super::plan::{ANNOTATION_RESTARTED_AT, ANNOTATION_SECRETS_HASH, ANNOTATION_SECRETS_SEEN};

/// A kind of workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// batch/v1 CronJob: the next Job runs with the new data.
    CronJob,
    /// argoproj.io/v1alpha1 Rollout, restarted through its own `spec.restartAt`.
    Rollout,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 5] = [
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::CronJob,
        Kind::Rollout,
    ];

    /// The kind's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::CronJob => "CronJob",
            Kind::Rollout => "Rollout",
        }
    }

    /// Group, version and plural for the dynamic API.
    pub fn api_resource(self) -> ApiResource {
        let (group, version, plural) = match self {
            Kind::Deployment => ("apps", "v1", "deployments"),
            Kind::StatefulSet => ("apps", "v1", "statefulsets"),
            Kind::DaemonSet => ("apps", "v1", "daemonsets"),
            Kind::CronJob => ("batch", "v1", "cronjobs"),
            Kind::Rollout => ("argoproj.io", "v1alpha1", "rollouts"),
        };
        ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: format!("{group}/{version}"),
            kind: self.as_str().into(),
            plural: plural.into(),
        }
    }

    /// The pod spec inside the workload's spec.
    pub fn pod_spec(self, spec: &Value) -> &Value {
        match self {
            Kind::CronJob => &spec["jobTemplate"]["spec"]["template"]["spec"],
            _ => &spec["template"]["spec"],
        }
    }

    /// The pod template's annotations.
    pub fn template_annotations(self, spec: &Value) -> &Value {
        match self {
            Kind::CronJob => &spec["jobTemplate"]["spec"]["template"]["metadata"]["annotations"],
            _ => &spec["template"]["metadata"]["annotations"],
        }
    }

    /// Whether the workload is paused (a rollout waits until it is resumed).
    pub fn paused(self, spec: &Value) -> bool {
        match self {
            Kind::Deployment | Kind::Rollout => spec["paused"].as_bool().unwrap_or(false),
            _ => false,
        }
    }
}

/// The fields stagesync owns on a workload, as one server-side apply configuration. Every apply
/// carries all of them (a field left out of an apply is released, and the pod-template
/// annotation released would itself be a rollout).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owned {
    /// `stagesync.io/secrets-seen`.
    pub seen: String,
    /// `stagesync.io/restarted-at`.
    pub restarted_at: Option<String>,
    /// Pod-template `stagesync.io/secrets-hash` (Rollouts: none).
    pub template_hash: Option<String>,
    /// A Rollout's `spec.restartAt`.
    pub restart_at: Option<String>,
}

impl Owned {
    /// The apply body for a workload of `kind` called `name`.
    pub fn apply_body(&self, kind: Kind, name: &str) -> Value {
        let mut annotations = BTreeMap::from([(ANNOTATION_SECRETS_SEEN, self.seen.clone())]);
        if let Some(at) = &self.restarted_at {
            annotations.insert(ANNOTATION_RESTARTED_AT, at.clone());
        }
        let resource = kind.api_resource();
        let mut body = json!({
            "apiVersion": resource.api_version,
            "kind": resource.kind,
            "metadata": {"name": name, "annotations": annotations},
        });
        if let Some(hash) = &self.template_hash {
            let template = json!({"metadata": {"annotations": {ANNOTATION_SECRETS_HASH: hash}}});
            body["spec"] = match kind {
                Kind::CronJob => json!({"jobTemplate": {"spec": {"template": template}}}),
                _ => json!({"template": template}),
            };
        }
        if let Some(at) = &self.restart_at {
            body["spec"]["restartAt"] = json!(at);
        }
        body
    }
}

/// How far a workload's latest rollout got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Every replica runs the latest template.
    Finished,
    /// Still rolling.
    InProgress(String),
    /// It failed or stalled: the rotated data may not work in the new pods.
    Stuck(String),
}

/// Reads a workload's rollout progress from its status, like `kubectl rollout status`.
/// `started`: when stagesync started the rollout; `deadline`: how long a rollout may take when
/// the workload has no deadline of its own.
pub fn progress(
    kind: Kind,
    object: &Value,
    started: Option<Timestamp>,
    deadline: std::time::Duration,
    now: Timestamp,
) -> Progress {
    let spec = &object["spec"];
    let status = &object["status"];
    let generation = object["metadata"]["generation"].as_i64().unwrap_or(0);
    let observed = status["observedGeneration"].as_i64().unwrap_or(0);
    let overdue = started.is_some_and(|s| {
        now.duration_since(s)
            .unsigned_abs()
            .checked_sub(deadline)
            .is_some()
    });
    let desired = spec["replicas"].as_i64().unwrap_or(1);
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    let waiting = match kind {
        Kind::CronJob => None,
        Kind::Deployment => {
            if let Some(c) = status["conditions"].as_array().and_then(|cs| {
                cs.iter().find(|c| {
                    c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded"
                })
            }) {
                return Progress::Stuck(format!(
                    "progress deadline exceeded: {}",
                    c["message"].as_str().unwrap_or_default()
                ));
            }
            if observed < generation {
                Some("the new template is not observed yet".to_owned())
            } else if int(&status["updatedReplicas"]) < desired {
                Some(format!(
                    "{} of {desired} replicas updated",
                    int(&status["updatedReplicas"])
                ))
            } else if int(&status["replicas"]) > int(&status["updatedReplicas"]) {
                Some(format!(
                    "{} old replicas pending termination",
                    int(&status["replicas"]) - int(&status["updatedReplicas"])
                ))
            } else if int(&status["availableReplicas"]) < int(&status["updatedReplicas"]) {
                Some(format!(
                    "{} of {} updated replicas available",
                    int(&status["availableReplicas"]),
                    int(&status["updatedReplicas"])
                ))
            } else {
                None
            }
        }
        Kind::StatefulSet => {
            let on_delete = spec["updateStrategy"]["type"] == "OnDelete";
            if observed < generation {
                Some("the new template is not observed yet".to_owned())
            } else if on_delete {
                // Pods are replaced only when someone deletes them: nothing to wait for.
                None
            } else if int(&status["updatedReplicas"]) < desired
                || int(&status["readyReplicas"]) < desired
            {
                Some(format!(
                    "{} of {desired} replicas updated, {} ready",
                    int(&status["updatedReplicas"]),
                    int(&status["readyReplicas"])
                ))
            } else if status["updateRevision"] != status["currentRevision"] {
                Some("waiting for the update revision to become current".to_owned())
            } else {
                None
            }
        }
        Kind::DaemonSet => {
            let want = int(&status["desiredNumberScheduled"]);
            if observed < generation {
                Some("the new template is not observed yet".to_owned())
            } else if int(&status["updatedNumberScheduled"]) < want {
                Some(format!(
                    "{} of {want} pods updated",
                    int(&status["updatedNumberScheduled"])
                ))
            } else if int(&status["numberAvailable"]) < want {
                Some(format!(
                    "{} of {want} updated pods available",
                    int(&status["numberAvailable"])
                ))
            } else {
                None
            }
        }
        Kind::Rollout => match status["phase"].as_str() {
            Some("Degraded") => {
                return Progress::Stuck(format!(
                    "Rollout degraded: {}",
                    status["message"].as_str().unwrap_or_default()
                ));
            }
            Some("Healthy") if restarted_since(status, started) => None,
            Some(phase) => Some(format!("phase {phase}")),
            None => Some("no status yet".to_owned()),
        },
    };
    match waiting {
        None => Progress::Finished,
        Some(why) if overdue => Progress::Stuck(format!(
            "not finished {}s after the restart: {why}",
            deadline.as_secs()
        )),
        Some(why) => Progress::InProgress(why),
    }
}

/// Whether a Rollout's pods were restarted at or after stagesync asked.
fn restarted_since(status: &Value, started: Option<Timestamp>) -> bool {
    let Some(started) = started else {
        return true;
    };
    status["restartedAt"]
        .as_str()
        .and_then(|t| t.parse::<Timestamp>().ok())
        .is_some_and(|t| t >= started)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const DEADLINE: Duration = Duration::from_secs(600);

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn check(kind: Kind, object: Value, now: &str) -> Progress {
        progress(
            kind,
            &object,
            Some(at("2026-01-01T00:00:00Z")),
            DEADLINE,
            at(now),
        )
    }

    #[test]
    fn apply_bodies_carry_every_owned_field_in_the_right_place() {
        let owned = Owned {
            seen: "db=0123456789abcdef".into(),
            restarted_at: Some("2026-01-01T00:00:00Z".into()),
            template_hash: Some("h".into()),
            restart_at: None,
        };
        let body = owned.apply_body(Kind::Deployment, "web");
        assert_eq!(body["apiVersion"], "apps/v1");
        assert_eq!(
            body["spec"]["template"]["metadata"]["annotations"][ANNOTATION_SECRETS_HASH],
            "h"
        );
        assert_eq!(
            body["metadata"]["annotations"][ANNOTATION_RESTARTED_AT],
            "2026-01-01T00:00:00Z"
        );
        let cron = owned.apply_body(Kind::CronJob, "nightly");
        assert_eq!(
            cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]
                [ANNOTATION_SECRETS_HASH],
            "h"
        );
        let rollout = Owned {
            restart_at: Some("2026-01-01T00:00:00Z".into()),
            template_hash: None,
            ..owned.clone()
        }
        .apply_body(Kind::Rollout, "canary");
        assert_eq!(rollout["apiVersion"], "argoproj.io/v1alpha1");
        assert_eq!(rollout["spec"]["restartAt"], "2026-01-01T00:00:00Z");
        assert!(rollout["spec"].get("template").is_none());
        // Record only, never rolled: nothing under spec.
        let record = Owned {
            seen: "db=0123456789abcdef".into(),
            ..Owned::default()
        }
        .apply_body(Kind::StatefulSet, "db");
        assert!(record.get("spec").is_none());
    }

    #[test]
    fn deployment_rollout_follows_kubectl_rollout_status() {
        let base = |status: Value| json!({"metadata": {"generation": 2}, "spec": {"replicas": 3}, "status": status});
        let p = |status| check(Kind::Deployment, base(status), "2026-01-01T00:01:00Z");
        assert!(matches!(
            p(json!({"observedGeneration": 1})),
            Progress::InProgress(_)
        ));
        assert!(matches!(
            p(json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3})),
            Progress::InProgress(m) if m.contains("old replicas")
        ));
        assert_eq!(
            p(
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3})
            ),
            Progress::Finished
        );
        assert!(matches!(
            p(json!({"observedGeneration": 2, "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet web-2 has timed out"}
            ]})),
            Progress::Stuck(m) if m.contains("timed out")
        ));
        // Past stagesync's deadline without finishing: stuck.
        assert!(matches!(
            check(Kind::Deployment, base(json!({"observedGeneration": 2, "updatedReplicas": 1})), "2026-01-01T00:11:00Z"),
            Progress::Stuck(m) if m.contains("1 of 3")
        ));
    }

    #[test]
    fn statefulset_daemonset_cronjob_and_rollout_progress() {
        let sts = |status: Value, strategy: &str| json!({"metadata": {"generation": 1}, "spec": {"replicas": 2, "updateStrategy": {"type": strategy}}, "status": status});
        let now = "2026-01-01T00:01:00Z";
        assert!(matches!(
            check(
                Kind::StatefulSet,
                sts(
                    json!({"observedGeneration": 1, "updatedReplicas": 2, "readyReplicas": 2, "updateRevision": "b", "currentRevision": "a"}),
                    "RollingUpdate"
                ),
                now
            ),
            Progress::InProgress(_)
        ));
        assert_eq!(
            check(
                Kind::StatefulSet,
                sts(
                    json!({"observedGeneration": 1, "updatedReplicas": 2, "readyReplicas": 2, "updateRevision": "b", "currentRevision": "b"}),
                    "RollingUpdate"
                ),
                now
            ),
            Progress::Finished
        );
        assert_eq!(
            check(
                Kind::StatefulSet,
                sts(json!({"observedGeneration": 1}), "OnDelete"),
                now
            ),
            Progress::Finished
        );
        let ds =
            |status: Value| json!({"metadata": {"generation": 1}, "spec": {}, "status": status});
        assert!(matches!(
            check(
                Kind::DaemonSet,
                ds(
                    json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2})
                ),
                now
            ),
            Progress::InProgress(_)
        ));
        assert_eq!(
            check(
                Kind::DaemonSet,
                ds(
                    json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3})
                ),
                now
            ),
            Progress::Finished
        );
        assert_eq!(check(Kind::CronJob, json!({}), now), Progress::Finished);
        let ro =
            |status: Value| json!({"metadata": {"generation": 1}, "spec": {}, "status": status});
        assert!(matches!(
            check(
                Kind::Rollout,
                ro(json!({"phase": "Healthy", "restartedAt": "2025-12-31T00:00:00Z"})),
                now
            ),
            Progress::InProgress(_)
        ));
        assert_eq!(
            check(
                Kind::Rollout,
                ro(json!({"phase": "Healthy", "restartedAt": "2026-01-01T00:00:30Z"})),
                now
            ),
            Progress::Finished
        );
        assert!(matches!(
            check(
                Kind::Rollout,
                ro(json!({"phase": "Degraded", "message": "analysis failed"})),
                now
            ),
            Progress::Stuck(_)
        ));
    }

    #[test]
    fn paused_and_pod_spec_by_kind() {
        let spec = json!({"paused": true, "template": {"spec": {"containers": []}}});
        assert!(Kind::Deployment.paused(&spec));
        assert!(!Kind::StatefulSet.paused(&spec));
        assert!(Kind::Deployment.pod_spec(&spec)["containers"].is_array());
        let cron = json!({"jobTemplate": {"spec": {"template": {"spec": {"volumes": []}}}}});
        assert!(Kind::CronJob.pod_spec(&cron)["volumes"].is_array());
    }
}
