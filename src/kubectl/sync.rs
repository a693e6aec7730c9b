//! `kubectl stagesync sync NAME`: forces a refresh from AWS and waits for its outcome.
//!
//! It sets the force-sync annotation (`controller::externalsecret::FORCE_SYNC_ANNOTATIONS`,
//! stagesync's own key) to a new value by server-side apply under the plugin's own field
//! manager, then watches the ExternalSecret until the operator records that value in
//! `status.forceSynced` — it does in the same status write as the sync's `Ready` — and reports
//! `Ready`: True is success, False a failure with its reason. A progress line goes to the
//! progress writer (stderr in the binary): rewritten in place on a terminal, one line per new
//! state otherwise.

use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use super::output::{Palette, Tone};
use super::status::ConditionSummary;
use super::{FIELD_MANAGER, KubectlError, Verdict};
use crate::api::ExternalSecret;
use crate::api::externalsecret::RefreshPolicy;
use crate::api::reason::CONDITION_READY;
use crate::controller::externalsecret::FORCE_SYNC_ANNOTATIONS;

/// Where progress goes, and whether it is a terminal (then one line is rewritten in place).
pub struct Progress<'a> {
    /// The writer (stderr in the binary).
    pub out: &'a mut dyn Write,
    /// A terminal: rewrite one line, with the time waited.
    pub live: bool,
}

impl Progress<'_> {
    fn show(&mut self, line: &str, waited: Duration) -> std::io::Result<()> {
        if self.live {
            write!(self.out, "\r\x1b[K{line} ({}s)", waited.as_secs())?;
        } else {
            writeln!(self.out, "{line}")?;
        }
        self.out.flush()
    }

    fn done(&mut self) -> std::io::Result<()> {
        if self.live {
            write!(self.out, "\r\x1b[K")?;
            self.out.flush()?;
        }
        Ok(())
    }
}

/// How the operator answered.
#[derive(Clone, Debug, PartialEq)]
enum Answer {
    /// It has not acted on the value yet (or is still computing Ready).
    Waiting(String),
    /// It acted and Ready is True.
    Synced(ConditionSummary),
    /// It acted and Ready is False.
    Failed(ConditionSummary),
}

/// What the ExternalSecret says about the force-sync `value`.
fn answer(es: &ExternalSecret, value: &str) -> Answer {
    let status = es.status.clone().unwrap_or_default();
    let ready = ConditionSummary::of(&status.conditions, CONDITION_READY);
    let now = ready
        .as_ref()
        .map_or("no Ready condition yet".to_owned(), |r| {
            format!(
                "Ready {}{}",
                r.status,
                r.reason
                    .as_ref()
                    .map(|x| format!(" ({x})"))
                    .unwrap_or_default()
            )
        });
    if status.force_synced.as_deref() != Some(value) {
        return Answer::Waiting(format!("waiting for the operator to act on it; now {now}"));
    }
    match ready {
        Some(r) if r.status == "True" => Answer::Synced(r),
        Some(r) if r.status == "False" => Answer::Failed(r),
        _ => Answer::Waiting(format!("acted on; {now}")),
    }
}

/// A force-sync value that differs from anything acted upon before: the time `now`.
fn new_value(es: &ExternalSecret, now: Timestamp) -> String {
    let value = now.to_string();
    let used = es
        .status
        .as_ref()
        .and_then(|s| s.force_synced.as_deref())
        .into_iter()
        .chain(
            FORCE_SYNC_ANNOTATIONS
                .iter()
                .filter_map(|a| es.annotations().get(*a).map(String::as_str)),
        )
        .any(|v| v == value);
    if used {
        format!("{value}-again")
    } else {
        value
    }
}

/// Forces a sync of `namespace/name` and waits (at most `timeout`). `now` makes the annotation
/// value (the binary passes the clock).
#[allow(clippy::too_many_arguments)]
pub async fn sync(
    client: &Client,
    namespace: &str,
    name: &str,
    now: Timestamp,
    timeout: Duration,
    out: &mut dyn Write,
    progress: &mut Progress<'_>,
    palette: Palette,
) -> Result<Verdict, KubectlError> {
    let api: Api<ExternalSecret> = Api::namespaced(client.clone(), namespace);
    let es = api
        .get_opt(name)
        .await
        .map_err(|e| KubectlError::kube(format!("reading ExternalSecret {name:?}"), e))?
        .ok_or_else(|| KubectlError::NotFound {
            kind: "ExternalSecret",
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        })?;
    if let Some(policy @ (RefreshPolicy::CreatedOnce | RefreshPolicy::OnChange)) =
        es.spec.refresh_policy
    {
        return Err(KubectlError::Usage(format!(
            "ExternalSecret {name:?} has refreshPolicy {policy:?}: once synced, the operator reads it again only when its spec changes, so force-sync does not apply"
        )));
    }
    let value = new_value(&es, now);
    let patch = json!({
        "apiVersion": "stagesync.io/v1alpha1",
        "kind": "ExternalSecret",
        "metadata": {"name": name, "annotations": {FORCE_SYNC_ANNOTATIONS[0]: value}},
    });
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|e| {
        KubectlError::kube(
            format!("setting {} on {name:?}", FORCE_SYNC_ANNOTATIONS[0]),
            e,
        )
    })?;
    writeln!(
        progress.out,
        "externalsecret/{name}: {}={value}",
        FORCE_SYNC_ANNOTATIONS[0]
    )?;

    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_line = String::new();
    let (final_answer, es) = loop {
        let next = tokio::select! {
            event = events.next() => Some(event),
            _ = tick.tick(), if progress.live => None,
            _ = tokio::time::sleep_until(deadline) => {
                progress.done()?;
                return Err(KubectlError::Timeout(
                    super::output::interval(timeout.as_secs()),
                    format!("the operator did not act on {}={value}; is stagesync running and watching namespace {namespace:?}?", FORCE_SYNC_ANNOTATIONS[0]),
                ));
            }
        };
        let line = match next {
            // A tick: show the time waited.
            None => last_line.clone(),
            Some(None) => {
                return Err(KubectlError::Connect("the watch ended".to_owned()));
            }
            Some(Some(Err(e))) => format!("watch interrupted, retrying: {e}"),
            Some(Some(Ok(Event::Delete(_)))) => {
                progress.done()?;
                return Err(KubectlError::NotFound {
                    kind: "ExternalSecret",
                    name: name.to_owned(),
                    namespace: namespace.to_owned(),
                });
            }
            Some(Some(Ok(Event::Apply(es) | Event::InitApply(es)))) => match answer(&es, &value) {
                Answer::Waiting(line) => line,
                done => break (done, es),
            },
            Some(Some(Ok(Event::Init | Event::InitDone))) => continue,
        };
        if progress.live || line != last_line {
            progress.show(&format!("externalsecret/{name}: {line}"), started.elapsed())?;
        }
        last_line = line;
    };
    progress.done()?;
    let with_message = |r: &ConditionSummary| {
        format!(
            "{}{}",
            r.reason.as_deref().unwrap_or("-"),
            r.message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        )
    };
    match final_answer {
        Answer::Synced(ready) => {
            writeln!(
                out,
                "externalsecret/{name} {}: {}",
                palette.paint(Tone::Good, "synced"),
                with_message(&ready)
            )?;
            for (key, version) in es.status.iter().flat_map(|s| &s.synced_versions) {
                writeln!(
                    out,
                    "  {key}: version {} ({})",
                    version.version_id,
                    version.version_stages.join(",")
                )?;
            }
            Ok(Verdict::Ok)
        }
        Answer::Failed(ready) => {
            writeln!(
                out,
                "externalsecret/{name} {}: {}",
                palette.paint(Tone::Bad, "failed"),
                with_message(&ready)
            )?;
            writeln!(
                out,
                "The Secret was left unchanged. For the fix: kubectl stagesync why {name}"
            )?;
            Ok(Verdict::Problem)
        }
        Answer::Waiting(_) => unreachable!("the loop ends on an answer"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn es(status: serde_json::Value) -> ExternalSecret {
        serde_json::from_value(json!({
            "apiVersion": "stagesync.io/v1alpha1", "kind": "ExternalSecret",
            "metadata": {"name": "app", "namespace": "team", "annotations": {"force-sync": "old"}},
            "spec": {"secretStoreRef": {"name": "aws"}},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn waits_for_the_value_then_reads_ready() {
        let ready = json!([{"type": "Ready", "status": "True", "reason": "SecretSynced"}]);
        let before = es(json!({"conditions": ready, "forceSynced": "old"}));
        assert!(
            matches!(answer(&before, "new"), Answer::Waiting(l) if l.contains("Ready True (SecretSynced)"))
        );
        let synced = es(json!({"conditions": ready, "forceSynced": "new"}));
        assert!(matches!(answer(&synced, "new"), Answer::Synced(_)));
        let failed = es(
            json!({"conditions": [{"type": "Ready", "status": "False", "reason": "AccessDenied"}], "forceSynced": "new"}),
        );
        assert!(
            matches!(answer(&failed, "new"), Answer::Failed(r) if r.reason.as_deref() == Some("AccessDenied"))
        );
    }

    #[test]
    fn a_new_value_is_never_one_already_used() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let fresh = es(json!({}));
        assert_eq!(new_value(&fresh, now), "2026-01-01T00:00:00Z");
        let used = es(json!({"forceSynced": "2026-01-01T00:00:00Z"}));
        assert_eq!(new_value(&used, now), "2026-01-01T00:00:00Z-again");
    }
}
