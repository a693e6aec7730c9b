//! stakater Reloader's annotations → stagesync's restart annotations. On a workload kind stagesync
//! restarts, each Reloader annotation with a stagesync meaning is renamed in place (its line,
//! comment and quoting kept) and the others are left for a Reloader that may stay (ConfigMaps, CSI
//! volumes) and reported. The result is read back with the operator's own annotation parser
//! ([`crate::restart::usage::reload_spec`]), so what is written is what stagesync accepts.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::edit::{self, Edit};
use super::table;
use super::yaml::Node;
use super::{Corpus, Doc, DocPlan};
use crate::restart::usage::{
    ANNOTATION_RELOAD, ANNOTATION_RELOAD_SECRETS, ANNOTATION_RELOAD_STRATEGY, RELOADER_AUTO,
    RELOADER_IGNORE, RELOADER_SECRET_AUTO, RELOADER_SECRET_RELOAD, reload_spec, secrets_used,
};
use crate::restart::workload::Kind;

const CONFIGMAP_AUTO: &str = "configmap.reloader.stakater.com/auto";
const CONFIGMAP_RELOAD: &str = "configmap.reloader.stakater.com/reload";
const CSI_AUTO: &str = "secretproviderclass.reloader.stakater.com/auto";
const CSI_RELOAD: &str = "secretproviderclass.reloader.stakater.com/reload";
const SECRETS_EXCLUDE: &str = "secrets.exclude.reloader.stakater.com/reload";
const CONFIGMAPS_EXCLUDE: &str = "configmaps.exclude.reloader.stakater.com/reload";
const CSI_EXCLUDE: &str = "secretproviderclasses.exclude.reloader.stakater.com/reload";
const SEARCH: &str = "reloader.stakater.com/search";
const MATCH: &str = "reloader.stakater.com/match";
const ROLLOUT_STRATEGY: &str = "reloader.stakater.com/rollout-strategy";
const PAUSE_PERIOD: &str = "deployment.reloader.stakater.com/pause-period";
const PAUSED_AT: &str = "deployment.reloader.stakater.com/paused-at";
const LAST_RELOADED_FROM: &str = "reloader.stakater.com/last-reloaded-from";
const CSI_DRIVER: &str = "secrets-store.csi.k8s.io";

/// The annotations Reloader looks for on the pod template when the workload has none of them.
const PRIMARY: &[&str] = &[
    RELOADER_SECRET_RELOAD,
    RELOADER_AUTO,
    RELOADER_SECRET_AUTO,
    SEARCH,
];

fn is_reloader(key: &str) -> bool {
    key.contains("reloader.stakater.com/")
}

/// Annotations as strings (a non-string value, which Kubernetes refuses anyway, as its JSON).
fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let s = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            (k.clone(), s)
        })
        .collect()
}

/// Reloader's `ignore` and `match` on a Secret or an ExternalSecret's template (which lands
/// them on the Secret it writes): `secret`; or on a ConfigMap: `!secret`.
pub(super) fn secret_annotations(
    annotations: &Value,
    line: usize,
    secret: bool,
    plan: &mut DocPlan,
) {
    let map = string_map(annotations);
    if map.get(RELOADER_IGNORE).is_some_and(|v| v == "true") {
        let rule = if secret {
            &table::RELOADER_IGNORE
        } else {
            &table::RELOADER_IGNORE_CONFIGMAP
        };
        plan.find(line, rule, format!("{RELOADER_IGNORE}: \"true\""));
    }
    if map.contains_key(MATCH) {
        plan.find(line, &table::RELOADER_MATCH, format!("{MATCH} left"));
    }
}

/// Go's `strconv.ParseBool`, which Reloader reads its auto annotations with.
fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Every document that is neither ESO's nor a `List`.
pub(super) fn plan(doc: &Doc, corpus: &Corpus) -> DocPlan {
    let mut plan = DocPlan::default();
    let annotations = &doc.json["metadata"]["annotations"];
    let line = doc.line_of("metadata.annotations");
    match (doc.api_version(), doc.kind()) {
        ("v1", "Secret") => {
            secret_annotations(annotations, line, true, &mut plan);
            return plan;
        }
        ("v1", "ConfigMap") => {
            secret_annotations(annotations, line, false, &mut plan);
            return plan;
        }
        _ => {}
    }
    let Some(kind) = Kind::ALL.into_iter().find(|k| {
        let r = k.api_resource();
        r.api_version == doc.api_version() && r.kind == doc.kind()
    }) else {
        let template = &doc.json["spec"]["template"]["metadata"]["annotations"];
        let keys: Vec<String> = string_map(annotations)
            .into_keys()
            .chain(string_map(template).into_keys())
            .filter(|k| is_reloader(k))
            .collect();
        if !keys.is_empty() {
            plan.find(line, &table::RELOADER_OTHER_KIND, keys.join(", "));
        }
        return plan;
    };
    workload(doc, kind, corpus, &mut plan);
    plan.translated = !plan.edits.is_empty();
    plan
}

/// What a workload's annotations become.
#[derive(Default)]
struct Translation {
    /// Reloader keys of the source map that are replaced (in source order).
    consumed: Vec<String>,
    /// stagesync (or kept-Reloader) annotations to write, in order.
    produced: Vec<(String, String)>,
}

fn workload(doc: &Doc, kind: Kind, corpus: &Corpus, plan: &mut DocPlan) {
    let spec = &doc.json["spec"];
    let meta = string_map(&doc.json["metadata"]["annotations"]);
    let template = string_map(kind.template_annotations(spec));
    let template_line = doc.line_of(match kind {
        Kind::CronJob => "spec.jobTemplate.spec.template.metadata.annotations",
        _ => "spec.template.metadata.annotations",
    });
    let line = doc.line_of("metadata.annotations");
    if template.contains_key(LAST_RELOADED_FROM) {
        plan.find(
            template_line,
            &table::RELOADER_LAST_RELOADED,
            format!("{LAST_RELOADED_FROM} left in the pod template"),
        );
    }
    let has_primary = |m: &BTreeMap<String, String>| PRIMARY.iter().any(|k| m.contains_key(*k));
    let on_template = !has_primary(&meta) && has_primary(&template);
    // Reloader reads these four from the template only as a fallback; the rest always from the
    // workload.
    let mut source: BTreeMap<String, String> = meta.clone();
    if on_template {
        for key in PRIMARY {
            source.remove(*key);
            if let Some(v) = template.get(*key) {
                source.insert((*key).to_owned(), v.clone());
            }
        }
    }
    if !source.keys().any(|k| is_reloader(k)) {
        return;
    }
    let source_line = if on_template { template_line } else { line };
    let mut t = Translation::default();
    let mut auto: Option<bool> = None;
    for key in [RELOADER_AUTO, RELOADER_SECRET_AUTO] {
        let Some(value) = source.get(key) else {
            continue;
        };
        match go_bool(value.trim()) {
            Some(b) => {
                auto = Some(auto.unwrap_or(false) || b);
                t.consumed.push(key.to_owned());
            }
            None => plan.find(
                source_line,
                &table::RELOADER_BAD_BOOL,
                format!("{key}: {value:?}"),
            ),
        }
    }
    let mut named: Option<String> = None;
    if let Some(value) = source.get(RELOADER_SECRET_RELOAD) {
        let probe = BTreeMap::from([(ANNOTATION_RELOAD_SECRETS.to_owned(), value.clone())]);
        if matches!(reload_spec(&probe, false), Ok(Some(_))) {
            named = Some(value.clone());
            t.consumed.push(RELOADER_SECRET_RELOAD.to_owned());
        } else {
            plan.find(
                source_line,
                &table::RELOADER_SECRET_REGEX,
                format!("{RELOADER_SECRET_RELOAD}: {value:?}"),
            );
        }
    }
    if source.get(SEARCH).is_some_and(|v| v.trim() == "true") {
        plan.find(
            source_line,
            &table::RELOADER_SEARCH,
            format!("{SEARCH} left"),
        );
    }
    let left = |keys: &[&str]| -> Vec<String> {
        keys.iter()
            .filter(|k| source.contains_key(**k))
            .map(|k| (*k).to_owned())
            .collect()
    };
    let configmap = left(&[CONFIGMAP_AUTO, CONFIGMAP_RELOAD]);
    if !configmap.is_empty() {
        plan.find(
            source_line,
            &table::RELOADER_CONFIGMAP,
            configmap.join(", "),
        );
    }
    let csi = left(&[CSI_AUTO, CSI_RELOAD]);
    if !csi.is_empty() {
        plan.find(source_line, &table::RELOADER_CSI, csi.join(", "));
    }
    let other_exclude = left(&[CONFIGMAPS_EXCLUDE, CSI_EXCLUDE]);
    if !other_exclude.is_empty() {
        plan.find(
            line,
            &table::RELOADER_OTHER_EXCLUDE,
            other_exclude.join(", "),
        );
    }
    if let Some(strategy) = meta.get(ROLLOUT_STRATEGY) {
        if strategy.trim() == "rollout" {
            t.consumed.push(ROLLOUT_STRATEGY.to_owned());
        } else {
            plan.find(
                line,
                &table::RELOADER_STRATEGY_RESTART,
                format!("{ROLLOUT_STRATEGY}: {strategy:?}"),
            );
        }
    }
    if meta.contains_key(PAUSE_PERIOD) {
        plan.find(
            line,
            &table::RELOADER_PAUSE_PERIOD,
            format!("{PAUSE_PERIOD} left"),
        );
    }
    if meta.contains_key(PAUSED_AT) {
        plan.find(
            line,
            &table::RELOADER_PAUSED_AT,
            format!("{PAUSED_AT} left"),
        );
    }
    let pod = kind.pod_spec(spec);
    let used = secrets_used(pod);
    let auto_on = auto == Some(true);
    // Exclusions only narrow auto: the followed set is then written out by name.
    let excluded: Option<BTreeSet<String>> = meta
        .get(SECRETS_EXCLUDE)
        .filter(|_| auto_on)
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect());
    if excluded.is_some() {
        t.consumed.push(SECRETS_EXCLUDE.to_owned());
    }
    let mut followed: BTreeSet<String> = BTreeSet::new();
    match &excluded {
        Some(excluded) => {
            let mut names: BTreeSet<String> = used.difference(excluded).cloned().collect();
            names.extend(
                named
                    .iter()
                    .flat_map(|n| n.split(','))
                    .map(|s| s.trim().to_owned()),
            );
            followed.extend(names.iter().cloned());
            plan.find(
                line,
                &table::RELOADER_EXCLUDE,
                format!(
                    "excluded {}; {} lists {}",
                    excluded.iter().cloned().collect::<Vec<_>>().join(","),
                    ANNOTATION_RELOAD_SECRETS,
                    names.iter().cloned().collect::<Vec<_>>().join(",")
                ),
            );
            if !names.is_empty() {
                t.produced.push((
                    ANNOTATION_RELOAD_SECRETS.to_owned(),
                    names.into_iter().collect::<Vec<_>>().join(","),
                ));
            }
        }
        None => {
            match auto {
                Some(true) => {
                    followed.extend(used.iter().cloned());
                    t.produced
                        .push((ANNOTATION_RELOAD.to_owned(), "true".to_owned()));
                }
                Some(false) => t
                    .produced
                    .push((ANNOTATION_RELOAD.to_owned(), "false".to_owned())),
                None => {}
            }
            if let Some(named) = &named {
                followed.extend(named.split(',').map(|s| s.trim().to_owned()));
                t.produced
                    .push((ANNOTATION_RELOAD_SECRETS.to_owned(), named.clone()));
            }
        }
    }
    if t.consumed.iter().any(|k| k == ROLLOUT_STRATEGY) {
        t.produced
            .push((ANNOTATION_RELOAD_STRATEGY.to_owned(), "rollout".to_owned()));
    }
    if auto_on && source.contains_key(RELOADER_AUTO) {
        let configmaps = configmaps_used(pod);
        let csi_volumes = csi_volumes(pod);
        if !configmaps.is_empty() && !source.contains_key(CONFIGMAP_AUTO) {
            t.produced
                .push((CONFIGMAP_AUTO.to_owned(), "true".to_owned()));
        }
        if !csi_volumes.is_empty() && !source.contains_key(CSI_AUTO) {
            t.produced.push((CSI_AUTO.to_owned(), "true".to_owned()));
        }
        if !configmaps.is_empty() || !csi_volumes.is_empty() {
            let names: Vec<String> = configmaps
                .iter()
                .map(|c| format!("ConfigMap {c}"))
                .chain(csi_volumes.iter().map(|v| format!("CSI volume {v}")))
                .collect();
            plan.find(
                source_line,
                &table::RELOADER_AUTO_CONFIGMAPS,
                format!("{} stay with Reloader", names.join(", ")),
            );
        }
    }
    let unmanaged: Vec<&String> = followed
        .iter()
        .filter(|s| !corpus.writes(doc.namespace(), s))
        .collect();
    if !unmanaged.is_empty() && (auto_on || named.is_some()) {
        plan.find(
            source_line,
            &table::RELOADER_UNMANAGED,
            format!(
                "no ExternalSecret among the given files writes Secret {}",
                unmanaged
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    // Already written in stagesync's terms: the same value is fine, another is a conflict.
    let mut produced = Vec::new();
    for (key, value) in std::mem::take(&mut t.produced) {
        match meta.get(&key) {
            Some(existing) if existing.trim() == value => {}
            Some(existing) => {
                plan.find(
                    line,
                    &table::RELOADER_CONFLICT,
                    format!("{key} is {existing:?}, Reloader's annotations say {value:?}"),
                );
                return;
            }
            None => produced.push((key, value)),
        }
    }
    t.produced = produced;
    if on_template {
        plan.find(
            template_line,
            &table::RELOADER_ON_TEMPLATE,
            "stagesync annotations added to the workload, the template's left",
        );
        t.consumed.clear();
    }
    if let Err(problems) = written_is_accepted(&meta, &t) {
        plan.find(line, &table::RELOADER_CONFLICT, problems.join("; "));
        return;
    }
    plan.edits.extend(edits(doc, &t));
}

/// The annotations after the translation parse as an opt-in (or a clear opt-out) with the
/// operator's own reader.
fn written_is_accepted(
    meta: &BTreeMap<String, String>,
    t: &Translation,
) -> Result<(), Vec<String>> {
    let mut after = meta.clone();
    for key in &t.consumed {
        after.remove(key);
    }
    after.extend(t.produced.iter().cloned());
    reload_spec(&after, false).map(|_| ())
}

/// The ConfigMaps a pod spec uses (the same places as Secrets).
fn configmaps_used(pod: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |v: &Value| {
        if let Some(name) = v.as_str().filter(|n| !n.is_empty()) {
            out.insert(name.to_owned());
        }
    };
    for list in ["containers", "initContainers"] {
        for c in pod[list].as_array().into_iter().flatten() {
            for env in c["env"].as_array().into_iter().flatten() {
                add(&env["valueFrom"]["configMapKeyRef"]["name"]);
            }
            for from in c["envFrom"].as_array().into_iter().flatten() {
                add(&from["configMapRef"]["name"]);
            }
        }
    }
    for volume in pod["volumes"].as_array().into_iter().flatten() {
        add(&volume["configMap"]["name"]);
        for source in volume["projected"]["sources"]
            .as_array()
            .into_iter()
            .flatten()
        {
            add(&source["configMap"]["name"]);
        }
    }
    out
}

/// Volumes of the Secrets Store CSI driver (SecretProviderClasses).
fn csi_volumes(pod: &Value) -> BTreeSet<String> {
    pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["csi"]["driver"] == CSI_DRIVER)
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect()
}

/// The text edits: each consumed Reloader entry takes one produced annotation in its place;
/// consumed entries left over are removed, produced ones left over are added at the end.
fn edits(doc: &Doc, t: &Translation) -> Vec<Edit> {
    if t.consumed.is_empty() && t.produced.is_empty() {
        return Vec::new();
    }
    let metadata = doc.root.get("metadata");
    let Some(annotations) = metadata
        .and_then(|m| m.get("annotations"))
        .filter(|a| !a.entries().is_empty() || a.is_flow_map())
    else {
        // No annotations yet (Reloader's were on the template): add the mapping.
        let Some(metadata) = metadata else {
            return Vec::new();
        };
        let lines: Vec<String> = if metadata.is_flow_map() {
            vec![format!(
                "annotations: {{{}}}",
                rendered(&t.produced).join(", ")
            )]
        } else {
            std::iter::once("annotations:".to_owned())
                .chain(rendered(&t.produced).into_iter().map(|l| format!("  {l}")))
                .collect()
        };
        return vec![edit::insert_lines(doc.src, metadata, &lines)];
    };
    if annotations.is_flow_map() {
        return vec![rebuild_flow(doc.src, annotations, t)];
    }
    let mut out = Vec::new();
    let mut produced = t.produced.iter();
    for (index, entry) in annotations.entries().iter().enumerate() {
        let Some(key) = entry.key.as_str() else {
            continue;
        };
        if !t.consumed.iter().any(|c| c == key) {
            continue;
        }
        match produced.next() {
            Some((new_key, value)) => {
                out.push(edit::replace(&entry.key, edit::key_text(new_key)));
                out.push(edit::replace(
                    &entry.value,
                    edit::scalar_like(entry.value.style(), value),
                ));
            }
            None => out.extend(edit::remove_entry(doc.src, annotations, index)),
        }
    }
    let rest: Vec<(String, String)> = produced.cloned().collect();
    if !rest.is_empty() {
        out.push(edit::insert_lines(doc.src, annotations, &rendered(&rest)));
    }
    out
}

fn rendered(pairs: &[(String, String)]) -> Vec<String> {
    pairs
        .iter()
        .map(|(k, v)| format!("{}: {}", edit::key_text(k), edit::double_quoted(v)))
        .collect()
}

/// A flow mapping written again: each consumed entry replaced in place by the next produced
/// annotation (or dropped), the others kept as written, produced ones left over at the end.
fn rebuild_flow(src: &str, map: &Node, t: &Translation) -> Edit {
    let mut produced = rendered(&t.produced).into_iter();
    let mut parts = Vec::new();
    for e in map.entries() {
        if e.key
            .as_str()
            .is_some_and(|k| t.consumed.iter().any(|c| c == k))
        {
            parts.extend(produced.next());
        } else {
            parts.push(src[e.key.start..e.value.end].to_owned());
        }
    }
    parts.extend(produced);
    edit::replace(map, format!("{{{}}}", parts.join(", ")))
}
