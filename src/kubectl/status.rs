//! `kubectl stagesync status`: what each ExternalSecret, its Secret, the workloads restarted on
//! its next change and its store say, gathered into one report that [`super::show`] prints as
//! tables and `-o json|yaml` prints as is (timestamps in RFC 3339, no ages: those depend on
//! when the report is read).
//!
//! Only metadata of Secrets is read (never their data). Everything derived is derived by the
//! operator's own code: the target name (`controller::externalsecret::target_name`), the Secret's
//! field managers (`write::secret`), the workloads' opt-in and dependencies (`restart::usage`)
//! and their rollout progress (`restart::workload::progress`).

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::core::PartialObjectMeta;
use kube::{Api, Client, ResourceExt};
use serde::Serialize;

use super::KubectlError;
use super::connect::Scope;
use super::stores::{StoreKey, StoreStatus, gather_stores};
use super::workloads::{WorkloadStatus, Workloads};
use crate::api::ExternalSecret;
use crate::api::Reason;
use crate::api::reason::{
    CONDITION_READY, CONDITION_ROTATION_HEALTHY, CONDITION_WORKLOADS_UPDATED,
};
use crate::api::shared::{Condition, ConditionStatus};
use crate::api::version::{AWS_CURRENT, AWS_PENDING};
use crate::controller::externalsecret::target_name;
use crate::write::secret::{WriteMode, field_manager, merged_annotation};
use crate::write::{ANNOTATION_DATA_HASH, ANNOTATION_OWNER};

/// Settings the operator was started with that change what the plugin reports.
#[derive(Clone, Debug)]
pub struct GatherOptions {
    /// The operator runs with `--reloader-compatible` (Reloader's annotations count).
    pub reloader_compatible: bool,
    /// The operator's `--rollout-deadline`.
    pub rollout_deadline: Duration,
}

impl Default for GatherOptions {
    fn default() -> Self {
        let restart = crate::restart::RestartConfig::default();
        Self {
            reloader_compatible: restart.reloader_compatible,
            rollout_deadline: restart.rollout_deadline,
        }
    }
}

/// Everything `status` shows.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// The ExternalSecrets asked about, by namespace and name.
    pub external_secrets: Vec<EsStatus>,
    /// The stores they reference.
    pub stores: Vec<StoreStatus>,
    /// What could not be read (missing permissions), so an empty list is not mistaken for
    /// "none".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl StatusReport {
    /// Whether anything needs attention: an ExternalSecret not Ready, a stuck rotation, an AWS
    /// secret scheduled for deletion, a stuck rollout, a store missing or not Ready.
    pub fn has_problems(&self) -> bool {
        self.external_secrets.iter().any(EsStatus::has_problems)
            || self.stores.iter().any(StoreStatus::has_problems)
    }
}

/// One ExternalSecret.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EsStatus {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The store it reads through.
    pub store: StoreKey,
    /// The `Ready` condition (absent before the operator's first look).
    pub ready: Option<ConditionSummary>,
    /// Rotations of the AWS secrets it reads.
    pub rotation: Rotation,
    /// When AWS was last read successfully.
    pub refresh_time: Option<Time>,
    /// The force-sync value last acted upon.
    pub force_synced: Option<String>,
    /// The target Secret.
    pub secret: SecretSummary,
    /// Each AWS secret read: the version written into the Secret.
    pub keys: Vec<KeyStatus>,
    /// The `WorkloadsUpdated` condition (absent until stagesync restarted a workload).
    pub workloads_updated: Option<ConditionSummary>,
    /// Workloads that opted in and use the target Secret.
    pub workloads: Vec<WorkloadStatus>,
}

impl EsStatus {
    /// Whether this ExternalSecret needs attention.
    pub fn has_problems(&self) -> bool {
        self.ready.as_ref().is_none_or(|r| r.status != "True")
            || matches!(
                self.rotation.state,
                RotationState::Stuck | RotationState::ScheduledDeletion
            )
            || self
                .workloads_updated
                .as_ref()
                .is_some_and(|w| w.status == "False")
    }
}

/// A condition as shown.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConditionSummary {
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// The reason.
    pub reason: Option<String>,
    /// The message.
    pub message: Option<String>,
    /// When the status last changed.
    pub last_transition_time: Option<Time>,
}

impl ConditionSummary {
    /// The condition of `type_` among `conditions`.
    pub fn of(conditions: &[Condition], type_: &str) -> Option<Self> {
        conditions.iter().find(|c| c.type_ == type_).map(|c| Self {
            status: match c.status {
                ConditionStatus::True => "True",
                ConditionStatus::False => "False",
                ConditionStatus::Unknown => "Unknown",
            }
            .to_owned(),
            reason: c.reason.clone(),
            message: c.message.clone(),
            last_transition_time: c.last_transition_time.clone(),
        })
    }

    /// The reason, when it is one of stagesync's.
    pub fn known_reason(&self) -> Option<Reason> {
        self.reason.as_deref().and_then(Reason::parse)
    }
}

/// How the rotations of an ExternalSecret's AWS secrets are doing.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    /// The state.
    pub state: RotationState,
    /// What the operator said about it, when it said something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The state of the rotations.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum RotationState {
    /// Nothing in progress that the status shows.
    Ok,
    /// The ExternalSecret reads a version staged AWSPENDING, not yet AWSCURRENT.
    InProgress,
    /// A version carries AWSPENDING for too long (`RotationHealthy` False).
    Stuck,
    /// An AWS secret it reads is scheduled for deletion.
    ScheduledDeletion,
}

impl RotationState {
    /// As shown in a table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::InProgress => "in progress",
            Self::Stuck => "stuck",
            Self::ScheduledDeletion => "scheduled deletion",
        }
    }
}

/// The target Secret, from its metadata only.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretSummary {
    /// Its name.
    pub name: String,
    /// Whether it exists (`None`: it could not be read).
    pub exists: Option<bool>,
    /// When this ExternalSecret's field manager last wrote it.
    pub last_write: Option<Time>,
    /// The field manager this ExternalSecret writes it with.
    pub field_manager: Option<String>,
    /// The salted hash of its data stagesync recorded (`stagesync.io/data-hash`; owned Secrets
    /// only).
    pub data_hash: Option<String>,
}

/// One AWS secret an ExternalSecret reads, as last written.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KeyStatus {
    /// The AWS secret, as the spec names it (store prefix included).
    pub key: String,
    /// The staging labels the version carried when it was read.
    pub stages: Vec<String>,
    /// The version id written.
    pub version_id: String,
    /// When the Secret started carrying this version.
    pub current_since: Option<Time>,
}

/// Gathers the report for every ExternalSecret in `scope`, or the one called `name`.
pub async fn gather(
    client: &Client,
    scope: &Scope,
    name: Option<&str>,
    options: &GatherOptions,
    now: Timestamp,
) -> Result<StatusReport, KubectlError> {
    let api: Api<ExternalSecret> = match scope {
        Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
        Scope::All => Api::all(client.clone()),
    };
    let all = api
        .list(&ListParams::default())
        .await
        .map_err(|e| KubectlError::kube("listing ExternalSecrets", e))?
        .items;
    let shown: Vec<&ExternalSecret> = match name {
        Some(name) => {
            let found: Vec<_> = all.iter().filter(|es| es.name_any() == name).collect();
            if found.is_empty() {
                return Err(KubectlError::NotFound {
                    kind: "ExternalSecret",
                    name: name.to_owned(),
                    namespace: match scope {
                        Scope::Namespace(ns) => ns.clone(),
                        Scope::All => String::new(),
                    },
                });
            }
            found
        }
        None => all.iter().collect(),
    };
    let mut notes = BTreeSet::new();
    let mut workloads = Workloads::new(client.clone(), options.clone(), now);
    let mut external_secrets = Vec::with_capacity(shown.len());
    for es in &shown {
        let namespace = es.namespace().unwrap_or_default();
        let target = target_name(es);
        let secret_meta = match Api::<Secret>::namespaced(client.clone(), &namespace)
            .get_metadata_opt(&target)
            .await
        {
            Ok(meta) => Ok(meta),
            Err(e) => {
                notes.insert(format!(
                    "Secret {namespace}/{target} could not be read: {e}"
                ));
                Err(())
            }
        };
        let restarting = workloads.using(&namespace, &target, &mut notes).await;
        external_secrets.push(summarize(
            es,
            &target,
            secret_meta.as_ref().ok(),
            restarting,
        ));
    }
    let stores = gather_stores(client, &shown, &all, &mut notes).await;
    Ok(StatusReport {
        external_secrets,
        stores,
        notes: notes.into_iter().collect(),
    })
}

/// The status of one ExternalSecret, from the objects read.
fn summarize(
    es: &ExternalSecret,
    target: &str,
    secret: Option<&Option<PartialObjectMeta<Secret>>>,
    workloads: Vec<WorkloadStatus>,
) -> EsStatus {
    let status = es.status.clone().unwrap_or_default();
    let ready = ConditionSummary::of(&status.conditions, CONDITION_READY);
    let rotation_healthy = ConditionSummary::of(&status.conditions, CONDITION_ROTATION_HEALTHY);
    let keys: Vec<KeyStatus> = status
        .synced_versions
        .iter()
        .map(|(key, v)| KeyStatus {
            key: key.clone(),
            stages: v.version_stages.clone(),
            version_id: v.version_id.clone(),
            current_since: v.current_since.clone(),
        })
        .collect();
    let rotation = rotation(ready.as_ref(), rotation_healthy.as_ref(), &keys);
    EsStatus {
        namespace: es.namespace().unwrap_or_default(),
        name: es.name_any(),
        store: StoreKey::of(es, &es.spec.secret_store_ref),
        ready,
        rotation,
        refresh_time: status.refresh_time.clone(),
        force_synced: status.force_synced.clone(),
        secret: secret_summary(&es.name_any(), target, secret),
        keys,
        workloads_updated: ConditionSummary::of(&status.conditions, CONDITION_WORKLOADS_UPDATED),
        workloads,
    }
}

/// Stuck (the operator's `RotationHealthy`) first, then a deletion AWS has scheduled, then a
/// pending version being read.
fn rotation(
    ready: Option<&ConditionSummary>,
    healthy: Option<&ConditionSummary>,
    keys: &[KeyStatus],
) -> Rotation {
    if let Some(h) = healthy.filter(|h| h.status == "False") {
        return Rotation {
            state: RotationState::Stuck,
            detail: h.message.clone(),
        };
    }
    if let Some(r) =
        ready.filter(|r| r.reason.as_deref() == Some(Reason::SecretScheduledForDeletion.as_str()))
    {
        return Rotation {
            state: RotationState::ScheduledDeletion,
            detail: r.message.clone(),
        };
    }
    let pending: Vec<String> = keys
        .iter()
        .filter(|k| {
            k.stages.iter().any(|s| s == AWS_PENDING) && !k.stages.iter().any(|s| s == AWS_CURRENT)
        })
        .map(|k| format!("{} reads AWSPENDING version {}", k.key, k.version_id))
        .collect();
    if !pending.is_empty() {
        return Rotation {
            state: RotationState::InProgress,
            detail: Some(pending.join("; ")),
        };
    }
    Rotation {
        state: RotationState::Ok,
        detail: None,
    }
}

/// The Secret's last write by this ExternalSecret: the time of its field manager's entry.
fn secret_summary(
    es_name: &str,
    target: &str,
    secret: Option<&Option<PartialObjectMeta<Secret>>>,
) -> SecretSummary {
    let mut summary = SecretSummary {
        name: target.to_owned(),
        exists: secret.map(Option::is_some),
        last_write: None,
        field_manager: None,
        data_hash: None,
    };
    let Some(Some(meta)) = secret else {
        return summary;
    };
    let annotations = meta.annotations();
    let manager = if annotations.get(ANNOTATION_OWNER).map(String::as_str) == Some(es_name) {
        summary.data_hash = annotations.get(ANNOTATION_DATA_HASH).cloned();
        Some(field_manager(WriteMode::Own, es_name))
    } else if annotations.contains_key(&merged_annotation(es_name)) {
        Some(field_manager(WriteMode::Merge, es_name))
    } else {
        None
    };
    summary.last_write = manager.as_ref().and_then(|m| {
        meta.metadata
            .managed_fields
            .iter()
            .flatten()
            .filter(|f| f.manager.as_deref() == Some(m.as_str()))
            .filter_map(|f| f.time.clone())
            .max()
    });
    summary.field_manager = manager;
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(stages: &[&str]) -> KeyStatus {
        KeyStatus {
            key: "prod/db".into(),
            stages: stages.iter().map(|s| (*s).to_owned()).collect(),
            version_id: "v2".into(),
            current_since: None,
        }
    }

    fn condition(status: &str, reason: &str) -> ConditionSummary {
        ConditionSummary {
            status: status.into(),
            reason: Some(reason.into()),
            message: Some("m".into()),
            last_transition_time: None,
        }
    }

    #[test]
    fn rotation_state_from_conditions_and_stages() {
        let ok = condition("True", "SecretSynced");
        assert_eq!(
            rotation(Some(&ok), None, &[key(&["AWSCURRENT"])]).state,
            RotationState::Ok
        );
        let pending = rotation(Some(&ok), None, &[key(&["AWSPENDING"])]);
        assert_eq!(pending.state, RotationState::InProgress);
        assert_eq!(
            pending.detail.as_deref(),
            Some("prod/db reads AWSPENDING version v2")
        );
        let stuck = condition("False", "RotationStuck");
        assert_eq!(
            rotation(Some(&ok), Some(&stuck), &[key(&["AWSPENDING"])]).state,
            RotationState::Stuck
        );
        let deleting = condition("False", "SecretScheduledForDeletion");
        assert_eq!(
            rotation(Some(&deleting), None, &[]).state,
            RotationState::ScheduledDeletion
        );
    }
}
