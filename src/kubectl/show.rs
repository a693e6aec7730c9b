//! The `status` report as kubectl-style tables: the ExternalSecrets, the version of each AWS
//! secret they wrote, the workloads restarted on their next change and their stores. Ages are
//! computed against `now`, given by the caller (the binary passes the clock).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::output::{Palette, Tone, age, interval};
use super::status::{ConditionSummary, RotationState, StatusReport};
use super::stores::COST_BASIS;
use super::table::{Cell, Table};
use super::workloads::RolloutState;

/// Renders the report; `all_namespaces` adds a NAMESPACE column.
pub fn render(
    report: &StatusReport,
    all_namespaces: bool,
    palette: Palette,
    now: Timestamp,
) -> String {
    let when = |t: &Option<Time>| t.as_ref().map_or("-".to_owned(), |t| age(t.0, now));
    let with_ns = |ns: &str, mut cells: Vec<Cell>| {
        if all_namespaces {
            cells.insert(0, ns.into());
        }
        cells
    };
    let headers = |names: &[&'static str]| {
        let mut h: Vec<&str> = names.to_vec();
        if all_namespaces {
            h.insert(0, "NAMESPACE");
        }
        Table::new(&h)
    };

    let mut sections = Vec::new();
    if report.external_secrets.is_empty() {
        sections.push("No ExternalSecrets found.\n".to_owned());
    }
    let mut es_table = headers(&[
        "NAME",
        "STORE",
        "READY",
        "REASON",
        "ROTATION",
        "ROLLOUTS",
        "SECRET",
        "LAST WRITE",
    ]);
    let mut keys = headers(&[
        "EXTERNALSECRET",
        "REMOTE KEY",
        "STAGES",
        "VERSION",
        "CURRENT FOR",
    ]);
    let mut workloads = headers(&[
        "EXTERNALSECRET",
        "RESTARTS ON CHANGE",
        "STRATEGY",
        "LAST ROLLOUT",
    ]);
    let mut hints = Vec::new();
    for es in &report.external_secrets {
        let secret = match es.secret.exists {
            Some(false) => format!("{} (missing)", es.secret.name),
            _ => es.secret.name.clone(),
        };
        es_table.row(with_ns(
            &es.namespace,
            vec![
                es.name.as_str().into(),
                es.store.display().into(),
                condition_cell(es.ready.as_ref()),
                es.ready
                    .as_ref()
                    .and_then(|r| r.reason.clone())
                    .unwrap_or_else(|| "-".into())
                    .into(),
                Cell::new(es.rotation.state.as_str(), rotation_tone(es.rotation.state)),
                es.workloads_updated.as_ref().map_or(Cell::from("-"), |w| {
                    Cell::new(
                        w.reason.clone().unwrap_or_default(),
                        tone_of_status(&w.status),
                    )
                }),
                secret.into(),
                when(&es.secret.last_write).into(),
            ],
        ));
        for key in &es.keys {
            keys.row(with_ns(
                &es.namespace,
                vec![
                    es.name.as_str().into(),
                    key.key.as_str().into(),
                    if key.stages.is_empty() {
                        "-".into()
                    } else {
                        key.stages.join(",").into()
                    },
                    key.version_id.as_str().into(),
                    when(&key.current_since).into(),
                ],
            ));
        }
        for w in &es.workloads {
            let mut strategy = match w.strategy.as_str() {
                "none" => "none (record only)".to_owned(),
                other => other.to_owned(),
            };
            if w.paused {
                strategy.push_str(", paused");
            }
            let rollout = if !w.problems.is_empty() {
                Cell::new(format!("ignored: {}", w.problems.join("; ")), Tone::Bad)
            } else {
                let text = match &w.rollout.detail {
                    Some(detail) => format!("{}: {detail}", w.rollout.state.as_str()),
                    None => w.rollout.state.as_str().to_owned(),
                };
                Cell::new(text, rollout_tone(w.rollout.state))
            };
            workloads.row(with_ns(
                &es.namespace,
                vec![
                    es.name.as_str().into(),
                    format!("{}/{}", w.kind, w.name).into(),
                    strategy.into(),
                    rollout,
                ],
            ));
        }
        if es.has_problems() {
            hints.push(format!(
                "{} needs attention: kubectl stagesync why {}{}",
                es.name,
                es.name,
                if all_namespaces {
                    format!(" -n {}", es.namespace)
                } else {
                    String::new()
                }
            ));
        }
    }
    if !es_table.is_empty() {
        sections.push(es_table.render(palette));
    }
    if !keys.is_empty() {
        sections.push(keys.render(palette));
    }
    if !workloads.is_empty() {
        sections.push(workloads.render(palette));
    }

    let mut stores = headers(&[
        "STORE",
        "READY",
        "MODE",
        "STRATEGY",
        "TRACKED",
        "CALLS LAST CYCLE",
        "CYCLE",
        "EST. $/MONTH",
    ]);
    for s in &report.stores {
        let ready = match s.found {
            Some(false) => Cell::new("not found", Tone::Bad),
            _ => condition_cell(s.ready.as_ref()),
        };
        let calls = if s.last_cycle_calls.is_empty() {
            "-".to_owned()
        } else {
            let by_op: Vec<String> = s
                .last_cycle_calls
                .iter()
                .map(|(op, n)| format!("{op} {n}"))
                .collect();
            format!("{} ({})", s.calls_last_cycle, by_op.join(", "))
        };
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        stores.row(with_ns(
            s.key.namespace.as_deref().unwrap_or(""),
            vec![
                s.key.display().into(),
                ready,
                dash(&s.mode).into(),
                dash(&s.strategy).into(),
                s.tracked_secrets
                    .map_or("-".to_owned(), |n| n.to_string())
                    .into(),
                calls.into(),
                s.cycle_seconds.map_or("-".to_owned(), interval).into(),
                s.estimated_monthly_cost_usd
                    .as_ref()
                    .map_or("-".to_owned(), |c| format!("${c}"))
                    .into(),
            ],
        ));
    }
    if !stores.is_empty() {
        sections.push(format!("{}{COST_BASIS}\n", stores.render(palette)));
    }
    let mut footer: Vec<String> = hints;
    footer.extend(report.notes.iter().map(|n| format!("note: {n}")));
    if !footer.is_empty() {
        sections.push(footer.join("\n") + "\n");
    }
    sections.join("\n")
}

fn tone_of_status(status: &str) -> Tone {
    match status {
        "True" => Tone::Good,
        "False" => Tone::Bad,
        _ => Tone::Warn,
    }
}

fn condition_cell(c: Option<&ConditionSummary>) -> Cell {
    match c {
        Some(c) => Cell::new(c.status.clone(), tone_of_status(&c.status)),
        None => Cell::new("-", Tone::Warn),
    }
}

fn rotation_tone(state: RotationState) -> Tone {
    match state {
        RotationState::Ok => Tone::Plain,
        RotationState::InProgress => Tone::Warn,
        RotationState::Stuck | RotationState::ScheduledDeletion => Tone::Bad,
    }
}

fn rollout_tone(state: RolloutState) -> Tone {
    match state {
        RolloutState::NotRestarted => Tone::Plain,
        RolloutState::Finished => Tone::Good,
        RolloutState::InProgress => Tone::Warn,
        RolloutState::Stuck => Tone::Bad,
    }
}
