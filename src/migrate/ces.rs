//! ClusterExternalSecret → one ExternalSecret per listed namespace, named and labelled as ESO's
//! controller names and labels the ExternalSecrets it creates. stagesync has no such CRD, so the
//! document is written anew: a small header (apiVersion, kind, metadata) and the original
//! `externalSecretSpec` text re-indented under `spec:`, comments and quoting included.
//! Namespace selectors are only resolvable in the cluster: reported, not guessed.

use serde_json::Value;

use super::edit::{self, Edit};
use super::eso::{self, API_VERSION};
use super::table;
use super::{Corpus, Doc, DocPlan};

/// The fields of ESO's ClusterExternalSecret spec.
const KNOWN: &[&str] = &[
    "externalSecretSpec",
    "externalSecretName",
    "externalSecretMetadata",
    "namespaceSelector",
    "namespaceSelectors",
    "namespaces",
    "refreshTime",
];

pub(super) fn plan(doc: &Doc, corpus: &mut Corpus) -> DocPlan {
    let mut plan = DocPlan::default();
    let spec = &doc.json["spec"];
    let selectors = !spec["namespaceSelector"].is_null()
        || spec["namespaceSelectors"]
            .as_array()
            .is_some_and(|s| !s.is_empty());
    let namespaces: Vec<&str> = spec["namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if selectors {
        let field = if spec["namespaceSelector"].is_null() {
            "spec.namespaceSelectors"
        } else {
            "spec.namespaceSelector"
        };
        plan.find(
            doc.line_of(field),
            &table::CES_SELECTOR,
            format!("{field}: namespaces chosen by labels"),
        );
    } else if namespaces.is_empty() {
        plan.find(
            doc.line_of("spec"),
            &table::CES_SELECTOR,
            "neither namespaces nor selectors",
        );
    }
    for key in spec.as_object().into_iter().flat_map(|m| m.keys()) {
        if !KNOWN.contains(&key.as_str()) {
            plan.find(
                doc.line_of(&format!("spec.{key}")),
                &table::UNKNOWN_FIELD,
                format!("spec.{key}: no such ClusterExternalSecret field"),
            );
        }
    }
    let es_name = spec["externalSecretName"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or(doc.name())
        .to_owned();
    let inner = &spec["externalSecretSpec"];
    let mut checked = DocPlan::default();
    for namespace in namespaces.iter().map(|ns| Some(*ns)).chain(
        // Without namespaces, the spec is still checked once so everything is reported.
        namespaces.is_empty().then_some(None),
    ) {
        eso::check_spec(
            doc,
            "spec.externalSecretSpec",
            inner,
            &es_name,
            namespace,
            corpus,
            &mut checked,
        );
    }
    for finding in checked.findings {
        if !plan.findings.contains(&finding) {
            plan.findings.push(finding);
        }
    }
    if plan.untranslated() {
        let targets: Vec<Option<&str>> = if namespaces.is_empty() {
            vec![None]
        } else {
            namespaces.iter().map(|ns| Some(*ns)).collect()
        };
        for ns in targets {
            corpus.left_on_eso(inner, ns, &doc.object);
        }
        return eso::finish(plan);
    }
    let Some(expanded) = expand(doc, &es_name, &namespaces) else {
        plan.find(
            doc.line_of("spec.externalSecretSpec"),
            &table::UNKNOWN_FIELD,
            "spec.externalSecretSpec: not a mapping",
        );
        return eso::finish(plan);
    };
    plan.edits.push(expanded);
    plan.find(
        doc.root.line,
        &table::CES_NAMESPACES,
        format!(
            "ExternalSecret {es_name} in namespaces {}",
            namespaces.join(", ")
        ),
    );
    if !spec["refreshTime"].is_null() {
        plan.find(
            doc.line_of("spec.refreshTime"),
            &table::CES_REFRESH_TIME,
            "spec.refreshTime dropped",
        );
    }
    for ns in &namespaces {
        corpus
            .written
            .push((Some((*ns).to_owned()), eso::target_name(inner, &es_name)));
    }
    eso::finish(plan)
}

/// The edit replacing the whole document with the ExternalSecrets.
fn expand(doc: &Doc, es_name: &str, namespaces: &[&str]) -> Option<Edit> {
    let entry = doc.root.get("spec")?.entry("externalSecretSpec")?;
    let inner = &entry.value;
    let nl = edit::newline(doc.src);
    let spec_text = if inner.is_block_map() {
        // From the line after the key: comments above the first field come along.
        let start = (edit::line_end(doc.src, entry.key.end) + 1).min(inner.start);
        let end = edit::value_line_end(doc.src, inner);
        format!(
            "spec:{nl}{}",
            edit::reindent(&doc.src[start..end], inner.column, 2)
        )
    } else if inner.is_flow_map() {
        format!("spec: {}", &doc.src[inner.start..inner.end])
    } else {
        return None;
    };
    let meta = &doc.json["spec"]["externalSecretMetadata"];
    let documents: Vec<String> = namespaces
        .iter()
        .map(|ns| {
            let mut text = format!(
                "apiVersion: {API_VERSION}{nl}kind: ExternalSecret{nl}metadata:{nl}  name: {}{nl}  namespace: {}{nl}",
                edit::key_text(es_name),
                edit::key_text(ns)
            );
            for field in ["labels", "annotations"] {
                if let Some(map) = meta[field].as_object().filter(|m| !m.is_empty()) {
                    text.push_str(&format!("  {field}:{nl}"));
                    for (k, v) in map {
                        let value = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                        text.push_str(&format!(
                            "    {}: {}{nl}",
                            edit::key_text(k),
                            edit::double_quoted(&value)
                        ));
                    }
                }
            }
            text.push_str(&spec_text);
            text
        })
        .collect();
    Some(Edit {
        start: doc.root.start,
        end: edit::value_line_end(doc.src, doc.root),
        text: documents.join(&format!("{nl}---{nl}")),
    })
}
