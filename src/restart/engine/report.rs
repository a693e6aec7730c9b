//! What the engine tells people: events on workloads and ExternalSecrets, and the rollout
//! outcome per Secret that becomes the ExternalSecrets' `WorkloadsUpdated` condition.

use super::*;

pub(super) fn label(kind: Kind, name: &str) -> String {
    format!("{} {name}", kind.as_str())
}

pub(super) fn names(secrets: &BTreeSet<String>) -> String {
    secrets
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Engine {
    /// "Secret "db" changed (prod/db: version v1 → v2)" for each changed Secret.
    pub(super) fn change_note(&self, namespace: &str, changed: &BTreeSet<String>) -> String {
        changed
            .iter()
            .map(|name| {
                match self
                    .ctx
                    .restarts
                    .versions_note(&(namespace.to_owned(), name.clone()))
                {
                    Some(versions) => format!("Secret {name:?} changed ({versions})"),
                    None => format!("Secret {name:?} changed"),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(super) fn writers_of(
        &self,
        namespace: &str,
        secrets: &BTreeSet<String>,
    ) -> BTreeSet<String> {
        secrets
            .iter()
            .filter_map(|s| self.managed.get(&(namespace.to_owned(), s.clone())))
            .flat_map(|e| e.writers.iter().cloned())
            .collect()
    }

    /// Re-reads a restarted workload's rollout progress; reports changes.
    pub(super) fn evaluate_progress(&mut self, key: &WorkloadKey) {
        let deadline = self.config.rollout_deadline;
        let Some(w) = self.workloads.get_mut(key) else {
            return;
        };
        let now = progress(
            key.0,
            &w.rollout_view,
            w.started,
            deadline,
            Timestamp::now(),
        );
        let now = w.owned.restarted_at.is_some().then_some(now);
        if now == w.progress {
            return;
        }
        let before = std::mem::replace(&mut w.progress, now.clone());
        match (&before, &now) {
            (Some(Progress::InProgress(_)), Some(Progress::Finished)) => {
                self.ctx.metrics.rollout(key.0.as_str(), "finished");
            }
            (_, Some(Progress::Stuck(why))) => {
                self.ctx.metrics.rollout(key.0.as_str(), "stuck");
                tracing::warn!(namespace = %key.1, workload = %label(key.0, &key.2), "rollout stuck: {why}");
            }
            _ => {}
        }
        let deps: Vec<SecretRef> = w.deps.iter().map(|d| (key.1.clone(), d.clone())).collect();
        for dep in deps {
            self.refresh_outcome(&dep);
        }
    }

    /// Recomputes one Secret's rollout outcome; wakes its ExternalSecrets when it changed.
    pub(super) fn refresh_outcome(&mut self, secret: &SecretRef) {
        let mut outcome = RolloutOutcome::default();
        for key in self.by_secret.get(secret).into_iter().flatten() {
            let Some(w) = self.workloads.get(key) else {
                continue;
            };
            let name = label(key.0, &key.2);
            match &w.progress {
                Some(Progress::Finished) => outcome.finished.push(name),
                Some(Progress::InProgress(why)) => {
                    outcome.in_progress.push(format!("{name}: {why}"))
                }
                Some(Progress::Stuck(why)) => outcome.stuck.push(format!("{name}: {why}")),
                None => {}
            }
        }
        let empty = outcome == RolloutOutcome::default();
        if self
            .ctx
            .restarts
            .set_outcome(secret, (!empty).then_some(outcome))
        {
            for es in self
                .managed
                .get(secret)
                .map(|e| e.writers.clone())
                .unwrap_or_default()
            {
                self.ctx
                    .restarts
                    .wake(std::sync::Arc::new((secret.0.clone(), es)));
            }
        }
    }

    /// A Warning event on the workload, once per distinct problem.
    pub(super) async fn warn_once(&mut self, key: &WorkloadKey, reason: &str, note: String) {
        let Some(w) = self.workloads.get_mut(key) else {
            return;
        };
        if w.warned.as_deref() == Some(note.as_str()) {
            return;
        }
        w.warned = Some(note.clone());
        tracing::warn!(namespace = %key.1, workload = %label(key.0, &key.2), reason, "{note}");
        self.event(key, true, reason, &note).await;
    }

    pub(super) fn reference(&self, key: &WorkloadKey) -> ObjectReference {
        let resource = key.0.api_resource();
        ObjectReference {
            api_version: Some(resource.api_version),
            kind: Some(resource.kind),
            namespace: Some(key.1.clone()),
            name: Some(key.2.clone()),
            uid: self.workloads.get(key).map(|w| w.uid.clone()),
            ..ObjectReference::default()
        }
    }

    pub(super) async fn event(&self, key: &WorkloadKey, warning: bool, reason: &str, note: &str) {
        let regarding = self.reference(key);
        publish(
            &self.ctx.recorder,
            &regarding,
            warning,
            reason,
            "Restart",
            note,
        )
        .await;
    }

    /// An event on ExternalSecret `name` about workload `key` (one series per workload).
    pub(super) async fn es_event(&self, key: &WorkloadKey, name: &str, reason: &str, note: &str) {
        let regarding = ObjectReference {
            api_version: Some(ExternalSecret::api_version(&()).into_owned()),
            kind: Some(ExternalSecret::kind(&()).into_owned()),
            namespace: Some(key.1.clone()),
            name: Some(name.to_owned()),
            ..ObjectReference::default()
        };
        let related = Some(self.reference(key));
        publish_related(
            &self.ctx.recorder,
            &regarding,
            related,
            false,
            reason,
            "Restart",
            note,
        )
        .await;
    }
}
