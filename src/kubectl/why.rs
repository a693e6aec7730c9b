//! `kubectl stagesync why NAME`: the last failure of an ExternalSecret in plain words — what
//! each failing condition's reason means and how to fix it ([`super::explain`]), the
//! condition's own message, and the object's recent Warning events.

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, Client};
use serde::Serialize;

use super::explain::explain;
use super::output::{Palette, Tone, age};
use super::status::ConditionSummary;
use super::table::{Cell, Table};
use super::{KubectlError, Verdict};
use crate::api::ExternalSecret;
use crate::api::reason::{
    CONDITION_READY, CONDITION_ROTATION_HEALTHY, CONDITION_WORKLOADS_UPDATED,
};

/// Warning events shown, newest first.
const MAX_EVENTS: usize = 5;

/// What `why` found.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WhyReport {
    /// The ExternalSecret's namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its `Ready` condition.
    pub ready: Option<ConditionSummary>,
    /// Each condition that reports a problem, explained.
    pub findings: Vec<Finding>,
    /// Recent Warning events about it, newest first.
    pub events: Vec<WarningEvent>,
    /// What could not be read (events the user may not list).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl WhyReport {
    /// `Problem` when anything was found.
    pub fn verdict(&self) -> Verdict {
        Verdict::from_problem(!self.findings.is_empty())
    }
}

/// One condition reporting a problem.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The condition type (`Ready`, `RotationHealthy`, `WorkloadsUpdated`).
    pub condition: String,
    /// Its status.
    pub status: String,
    /// Its reason.
    pub reason: Option<String>,
    /// What happened, in plain words.
    pub explanation: String,
    /// What to do.
    pub fix: String,
    /// The operator's message.
    pub message: Option<String>,
}

/// A Warning event about the ExternalSecret.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WarningEvent {
    /// Its reason.
    pub reason: String,
    /// Its note.
    pub note: String,
    /// When it was last seen.
    pub last_seen: Option<Time>,
    /// How many times it was seen.
    pub count: i32,
}

/// Reads the ExternalSecret and its Warning events.
pub async fn gather(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<WhyReport, KubectlError> {
    let es = Api::<ExternalSecret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| KubectlError::kube(format!("reading ExternalSecret {name:?}"), e))?
        .ok_or_else(|| KubectlError::NotFound {
            kind: "ExternalSecret",
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        })?;
    let selector = format!("regarding.kind=ExternalSecret,regarding.name={name},type=Warning");
    let (events, notes) = match Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().fields(&selector))
        .await
    {
        Ok(list) => (list.items, Vec::new()),
        Err(e) => (Vec::new(), vec![format!("events could not be listed: {e}")]),
    };
    let mut report = report(&es, namespace, name, events);
    report.notes = notes;
    Ok(report)
}

/// The report from what was read.
fn report(es: &ExternalSecret, namespace: &str, name: &str, events: Vec<Event>) -> WhyReport {
    let conditions = es
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let ready = ConditionSummary::of(&conditions, CONDITION_READY);
    let mut findings = Vec::new();
    match &ready {
        None => findings.push(Finding {
            condition: CONDITION_READY.to_owned(),
            status: "Unknown".to_owned(),
            reason: None,
            explanation: "The operator has not reported on this ExternalSecret yet.".to_owned(),
            fix: "Check that stagesync runs and that its --namespace and --controller-class cover this ExternalSecret and its store; its logs name every ExternalSecret it syncs.".to_owned(),
            message: None,
        }),
        Some(r) if r.status != "True" => findings.push(finding(CONDITION_READY, r)),
        Some(_) => {}
    }
    for (type_, failing) in [
        (CONDITION_ROTATION_HEALTHY, "False"),
        (CONDITION_WORKLOADS_UPDATED, "False"),
    ] {
        if let Some(c) = ConditionSummary::of(&conditions, type_).filter(|c| c.status == failing) {
            findings.push(finding(type_, &c));
        }
    }
    let mut events: Vec<WarningEvent> = events
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .map(|e| WarningEvent {
            reason: e.reason.unwrap_or_default(),
            note: e.note.unwrap_or_default(),
            last_seen: e
                .series
                .as_ref()
                .map(|s| Time(s.last_observed_time.0))
                .or_else(|| e.event_time.as_ref().map(|t| Time(t.0)))
                .or(e.deprecated_last_timestamp),
            count: e.series.as_ref().map_or(1, |s| s.count),
        })
        .collect();
    events.sort_by(|a, b| b.last_seen.cmp(&a.last_seen));
    events.truncate(MAX_EVENTS);
    WhyReport {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        ready,
        findings,
        events,
        notes: Vec::new(),
    }
}

fn finding(type_: &str, c: &ConditionSummary) -> Finding {
    let (explanation, fix) = match c.known_reason() {
        Some(reason) => {
            let e = explain(reason);
            (e.what.to_owned(), e.fix.to_owned())
        }
        None => (
            format!(
                "{} is not a reason stagesync reports; another controller may have written this condition.",
                c.reason.as_deref().unwrap_or("(no reason)")
            ),
            "Read the message below.".to_owned(),
        ),
    };
    Finding {
        condition: type_.to_owned(),
        status: c.status.clone(),
        reason: c.reason.clone(),
        explanation,
        fix,
        message: c.message.clone(),
    }
}

/// The report in plain words; event ages against `now`.
pub fn render(report: &WhyReport, palette: Palette, now: Timestamp) -> String {
    let mut out = String::new();
    if report.findings.is_empty() {
        let (reason, message) = report
            .ready
            .as_ref()
            .map(|r| (r.reason.clone().unwrap_or_default(), r.message.clone()))
            .unwrap_or_default();
        out.push_str(&format!(
            "ExternalSecret {} is {} ({reason}){}\n",
            report.name,
            palette.paint(Tone::Good, "Ready"),
            message.map(|m| format!(": {m}")).unwrap_or_default()
        ));
        return out;
    }
    for (i, f) in report.findings.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let tone = if f.status == "False" {
            Tone::Bad
        } else {
            Tone::Warn
        };
        out.push_str(&format!(
            "ExternalSecret {}: {} {}{}\n",
            report.name,
            f.condition,
            palette.paint(tone, &f.status),
            f.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
        out.push_str(&format!("What happened: {}\n", f.explanation));
        out.push_str(&format!("Fix: {}\n", f.fix));
        if let Some(m) = &f.message {
            out.push_str(&format!("Message: {m}\n"));
        }
    }
    if !report.events.is_empty() {
        let mut table = Table::new(&["LAST SEEN", "REASON", "MESSAGE"]);
        for e in &report.events {
            table.row(vec![
                e.last_seen
                    .as_ref()
                    .map_or("-".to_owned(), |t| age(t.0, now))
                    .into(),
                Cell::new(e.reason.clone(), Tone::Warn),
                e.note.as_str().into(),
            ]);
        }
        out.push_str("\nRecent warnings:\n");
        out.push_str(&table.render(palette));
    }
    for note in &report.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn es(conditions: serde_json::Value) -> ExternalSecret {
        serde_json::from_value(json!({
            "apiVersion": "stagesync.io/v1alpha1", "kind": "ExternalSecret",
            "metadata": {"name": "app", "namespace": "team"},
            "spec": {"secretStoreRef": {"name": "aws"}},
            "status": {"conditions": conditions},
        }))
        .unwrap()
    }

    fn warning(reason: &str, note: &str, at: &str) -> Event {
        serde_json::from_value(json!({
            "metadata": {"name": format!("app.{reason}")},
            "eventTime": at,
            "type": "Warning", "reason": reason, "note": note,
        }))
        .unwrap()
    }

    #[test]
    fn a_failing_ready_condition_is_explained_with_its_message_and_events() {
        let failing = es(json!([{
            "type": "Ready", "status": "False", "reason": "SecretNotFound",
            "message": "secret \"prod/db\" not found",
        }]));
        let events = vec![
            warning("AccessDenied", "older", "2026-01-01T00:00:00.000000Z"),
            warning(
                "SecretNotFound",
                "secret \"prod/db\" not found",
                "2026-01-01T00:05:00.000000Z",
            ),
        ];
        let r = report(&failing, "team", "app", events);
        assert_eq!(r.verdict(), Verdict::Problem);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(
            r.findings[0].explanation,
            explain(crate::api::Reason::SecretNotFound).what
        );
        assert_eq!(r.events[0].reason, "SecretNotFound", "newest first");
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let text = render(&r, Palette::plain(), now);
        assert!(
            text.starts_with("ExternalSecret app: Ready False (SecretNotFound)\n"),
            "{text}"
        );
        assert!(
            text.contains("Message: secret \"prod/db\" not found\n"),
            "{text}"
        );
        assert!(
            text.contains("\n5m          SecretNotFound   secret"),
            "{text}"
        );
        assert!(
            text.contains("\n10m         AccessDenied     older\n"),
            "{text}"
        );
    }

    #[test]
    fn a_ready_one_says_so_unless_another_condition_fails() {
        let ready = es(
            json!([{"type": "Ready", "status": "True", "reason": "SecretSynced", "message": "Secret \"app\" is synced"}]),
        );
        let r = report(&ready, "team", "app", vec![]);
        assert_eq!(r.verdict(), Verdict::Ok);
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        assert_eq!(
            render(&r, Palette::plain(), now),
            "ExternalSecret app is Ready (SecretSynced): Secret \"app\" is synced\n"
        );
        let stuck = es(json!([
            {"type": "Ready", "status": "True", "reason": "SecretSynced"},
            {"type": "RotationHealthy", "status": "False", "reason": "RotationStuck", "message": "secret \"prod/db\": version v2 has carried AWSPENDING for 4000s"},
        ]));
        let r = report(&stuck, "team", "app", vec![]);
        assert_eq!(r.findings[0].condition, "RotationHealthy");
        assert_eq!(r.verdict(), Verdict::Problem);
        let unknown = es(json!([{"type": "Ready", "status": "False", "reason": "SomethingElse"}]));
        let r = report(&unknown, "team", "app", vec![]);
        assert!(r.findings[0].explanation.contains("SomethingElse"));
        let never = es(json!([]));
        assert_eq!(
            report(&never, "team", "app", vec![]).verdict(),
            Verdict::Problem
        );
    }
}
