//! ESO stores and ExternalSecrets → stagesync. A translatable object changes its `apiVersion`
//! (plus a store's quoted-number `refreshInterval` as seconds, and a namespaced store's ignored
//! `conditions` removed); anything else is found by admitting the translated object to
//! stagesync's own CRD schema, with the API server's admission code (`crd-schema`): a field it
//! would prune or a value it would refuse leaves the object on ESO, reported.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crd_schema::CrdSchema;
use serde_json::{Value, json};

use super::edit::{self, Edit};
use super::table::{self, Rule};
use super::{Corpus, Doc, DocPlan};

/// stagesync's `apiVersion`.
pub const API_VERSION: &str = "stagesync.io/v1alpha1";

/// stagesync's CRD schemas by kind, compiled once.
fn schemas() -> &'static BTreeMap<String, CrdSchema> {
    static SCHEMAS: OnceLock<BTreeMap<String, CrdSchema>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        crate::api::crds()
            .into_iter()
            .map(|(_, crd)| {
                let version = &crd.spec.versions[0];
                let schema = serde_json::to_value(
                    version
                        .schema
                        .as_ref()
                        .and_then(|s| s.open_api_v3_schema.as_ref())
                        .expect("every stagesync CRD has a schema"),
                )
                .expect("a schema serializes");
                let compiled = CrdSchema::new(&schema).expect("stagesync's own CRD compiles");
                (crd.spec.names.kind.clone(), compiled)
            })
            .collect()
    })
}

/// What admitting `object` (already translated) to stagesync's CRD of `kind` finds: paths of
/// pruned fields and the refusals, each as (path under `spec`, rule, detail).
pub(super) fn admission(kind: &str, object: &Value) -> Vec<(String, &'static Rule, String)> {
    let Some(schema) = schemas().get(kind) else {
        return Vec::new();
    };
    let mut admitted = object.clone();
    let causes = schema.admit(&mut admitted, None).err().unwrap_or_default();
    let mut out = Vec::new();
    let mut lost = Vec::new();
    pruned(&object["spec"], &admitted["spec"], "spec", &mut lost);
    for path in lost {
        let detail = format!("{path}: stagesync has no such field");
        out.push((path, &table::UNKNOWN_FIELD, detail));
    }
    for cause in causes {
        // The server's notice that CEL rules were skipped repeats the errors above it.
        if cause.field.is_empty() && cause.message.contains("validation rules were not checked") {
            continue;
        }
        let detail = if cause.field.is_empty() {
            cause.message.clone()
        } else {
            format!("{}: {}", cause.field, cause.message)
        };
        out.push((cause.field, &table::SCHEMA_REFUSED, detail));
    }
    out
}

/// Paths present (and not null) in `original` but missing from `admitted`.
fn pruned(original: &Value, admitted: &Value, path: &str, out: &mut Vec<String>) {
    match (original, admitted) {
        (Value::Object(o), Value::Object(a)) => {
            for (k, v) in o {
                match a.get(k) {
                    Some(av) => pruned(v, av, &format!("{path}.{k}"), out),
                    None if !v.is_null() => out.push(format!("{path}.{k}")),
                    None => {}
                }
            }
        }
        (Value::Array(o), Value::Array(a)) => {
            for (i, (v, av)) in o.iter().zip(a).enumerate() {
                pruned(v, av, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The edit that turns the document's `apiVersion` into stagesync's.
fn api_version_edit(doc: &Doc) -> Option<Edit> {
    let node = doc.root.get("apiVersion")?;
    Some(edit::replace(
        node,
        edit::scalar_like(node.style(), API_VERSION),
    ))
}

/// A SecretStore or ClusterSecretStore.
pub(super) fn plan_store(doc: &Doc) -> DocPlan {
    let mut plan = DocPlan::default();
    let spec = &doc.json["spec"];
    let provider = spec["provider"].as_object();
    let providers: Vec<&String> = provider.map(|p| p.keys().collect()).unwrap_or_default();
    if providers.iter().any(|p| *p != "aws") || providers.is_empty() {
        let named = providers
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let detail = if named.is_empty() {
            "no provider".to_owned()
        } else {
            format!("provider {named}")
        };
        plan.find(
            doc.line_of("spec.provider"),
            &table::STORE_OTHER_PROVIDER,
            detail,
        );
        return plan;
    }
    let service = spec["provider"]["aws"]["service"].as_str().unwrap_or("");
    if service != "SecretsManager" {
        let detail = format!("service {service:?}");
        plan.find(
            doc.line_of("spec.provider.aws.service"),
            &table::STORE_PARAMETER_STORE,
            detail,
        );
        return plan;
    }
    let mut translated = doc.json.clone();
    translated["apiVersion"] = json!(API_VERSION);
    plan.edits.extend(api_version_edit(doc));
    if let Some(text) = spec["refreshInterval"].as_str() {
        let node = doc.root.path(&["spec", "refreshInterval"]);
        match crate::api::duration::parse_go_duration(text) {
            // stagesync reads the same int-or-string as ESO v1: a duration stays as written.
            Ok(_) => {}
            // A number in quotes ("60") is ESO's legacy seconds.
            Err(_) if text.trim().parse::<u64>().is_ok() => {
                let seconds: u64 = text.trim().parse().unwrap_or_default();
                translated["spec"]["refreshInterval"] = json!(seconds);
                plan.edits
                    .extend(node.map(|n| edit::replace(n, seconds.to_string())));
            }
            Err(e) => plan.find(
                doc.line_of("spec.refreshInterval"),
                &table::SCHEMA_REFUSED,
                format!("spec.refreshInterval: {e}"),
            ),
        }
    }
    if doc.kind() == "SecretStore"
        && let Some(spec_node) = doc.root.get("spec")
        && let Some(index) = spec_node
            .entries()
            .iter()
            .position(|e| e.key.as_str() == Some("conditions"))
    {
        match edit::remove_entry(doc.src, spec_node, index) {
            Some(removal) => {
                plan.edits.push(removal);
                if let Some(spec) = translated["spec"].as_object_mut() {
                    spec.remove("conditions");
                }
                plan.find(
                    doc.line_of("spec.conditions"),
                    &table::STORE_CONDITIONS_NAMESPACED,
                    "spec.conditions removed",
                );
            }
            None => plan.find(
                doc.line_of("spec.conditions"),
                &table::UNKNOWN_FIELD,
                "spec.conditions: stagesync has no such field",
            ),
        }
    }
    if let Some(class) = spec["controller"].as_str().filter(|c| !c.is_empty()) {
        plan.find(
            doc.line_of("spec.controller"),
            &table::STORE_CONTROLLER,
            format!("spec.controller {class:?} kept"),
        );
    }
    if !spec["provider"]["aws"]["secretsManager"].is_null() {
        plan.find(
            doc.line_of("spec.provider.aws.secretsManager"),
            &table::STORE_SECRETS_MANAGER,
            "spec.provider.aws.secretsManager kept (no effect)",
        );
    }
    for (path, rule, detail) in admission(doc.kind(), &translated) {
        plan.find(doc.line_of(&path), rule, detail);
    }
    finish(plan)
}

/// An untranslated object keeps nothing but its untranslated findings; a translated one counts.
pub(super) fn finish(mut plan: DocPlan) -> DocPlan {
    if plan.untranslated() {
        plan.edits.clear();
        plan.findings
            .retain(|(_, r, _)| r.outcome == table::Outcome::Untranslated);
    } else {
        plan.translated = true;
    }
    plan
}

/// The Secret an ExternalSecret spec writes.
pub(super) fn target_name(spec: &Value, es_name: &str) -> String {
    spec["target"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or(es_name)
        .to_owned()
}

/// The stores an ExternalSecret spec reads through: (kind, name, path under the spec).
pub(super) fn store_refs(spec: &Value) -> Vec<(String, String, String)> {
    let mut refs = vec![(&spec["secretStoreRef"], ".secretStoreRef".to_owned())];
    for list in ["data", "dataFrom"] {
        for (i, entry) in spec[list].as_array().into_iter().flatten().enumerate() {
            if !entry["sourceRef"]["storeRef"].is_null() {
                refs.push((
                    &entry["sourceRef"]["storeRef"],
                    format!(".{list}[{i}].sourceRef.storeRef"),
                ));
            }
        }
    }
    refs.into_iter()
        .filter_map(|(store, path)| {
            let name = store["name"].as_str()?;
            let kind = store["kind"].as_str().unwrap_or("SecretStore");
            Some((kind.to_owned(), name.to_owned(), path))
        })
        .collect()
}

/// An ExternalSecret (v1 or v1beta1).
pub(super) fn plan_external_secret(doc: &Doc, corpus: &Corpus) -> DocPlan {
    let mut plan = DocPlan::default();
    check_spec(
        doc,
        "spec",
        &doc.json["spec"],
        doc.name(),
        doc.namespace(),
        corpus,
        &mut plan,
    );
    plan.edits.extend(api_version_edit(doc));
    finish(plan)
}

/// Checks an ExternalSecret spec found at `spec_path` of the document (`spec`, or a
/// ClusterExternalSecret's `spec.externalSecretSpec`), read in `namespace`.
pub(super) fn check_spec(
    doc: &Doc,
    spec_path: &str,
    spec: &Value,
    name: &str,
    namespace: Option<&str>,
    corpus: &Corpus,
    plan: &mut DocPlan,
) {
    let at = |path: &str| doc.line_of(&format!("{spec_path}{path}"));
    // Paths already explained by a specific rule; admission's findings under them are repeats.
    let mut explained: Vec<String> = Vec::new();
    if spec["target"]["template"]["engineVersion"] == "v1" {
        plan.find(
            at(".target.template.engineVersion"),
            &table::TEMPLATE_ENGINE_V1,
            "spec.target.template.engineVersion: v1",
        );
        explained.push("spec.target.template.engineVersion".into());
    }
    if !spec["target"]["manifest"].is_null() {
        let what = format!(
            "spec.target.manifest: {} {}",
            spec["target"]["manifest"]["apiVersion"]
                .as_str()
                .unwrap_or("?"),
            spec["target"]["manifest"]["kind"].as_str().unwrap_or("?")
        );
        plan.find(at(".target.manifest"), &table::MANIFEST_TARGET, what);
        explained.push("spec.target".into());
    }
    for list in ["data", "dataFrom"] {
        for (i, entry) in spec[list].as_array().into_iter().flatten().enumerate() {
            let source = &entry["sourceRef"];
            let path = format!(".{list}[{i}].sourceRef");
            if !source["generatorRef"].is_null() {
                let what = format!(
                    "spec{path}.generatorRef: {} {}",
                    source["generatorRef"]["kind"].as_str().unwrap_or("?"),
                    source["generatorRef"]["name"].as_str().unwrap_or("?")
                );
                plan.find(at(&format!("{path}.generatorRef")), &table::GENERATOR, what);
                explained.push(format!("spec.{list}[{i}]"));
            }
        }
    }
    let mut noted: Vec<(String, String)> = Vec::new();
    for (kind, store_name, path) in &store_refs(spec) {
        let (kind, store_name) = (kind.as_str(), store_name.as_str());
        match corpus.store(kind, store_name, namespace) {
            Some(true) => {}
            Some(false) => plan.find(
                at(path),
                &table::STORE_NOT_TRANSLATED,
                format!("{kind} {store_name} is not translated"),
            ),
            None if !noted.contains(&(kind.to_owned(), store_name.to_owned())) => {
                noted.push((kind.to_owned(), store_name.to_owned()));
                plan.find(
                    at(path),
                    &table::STORE_NOT_GIVEN,
                    format!("{kind} {store_name} is not among the given files"),
                );
            }
            None => {}
        }
    }
    let annotations = &spec["target"]["template"]["metadata"]["annotations"];
    super::reloader::secret_annotations(
        annotations,
        at(".target.template.metadata.annotations"),
        true,
        plan,
    );
    let object = json!({
        "apiVersion": API_VERSION,
        "kind": "ExternalSecret",
        "metadata": {"name": if name.is_empty() { "unnamed" } else { name }},
        "spec": spec,
    });
    for (path, rule, detail) in admission("ExternalSecret", &object) {
        if explained.iter().any(|e| path.starts_with(e.as_str())) {
            continue;
        }
        let under = path.strip_prefix("spec").unwrap_or(&path);
        let detail = if spec_path == "spec" {
            detail
        } else {
            detail.replacen("spec", spec_path, 1)
        };
        plan.find(at(under), rule, detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_names_pruned_and_refused_fields() {
        let found = admission(
            "ExternalSecret",
            &json!({
                "apiVersion": API_VERSION, "kind": "ExternalSecret",
                "metadata": {"name": "x"},
                "spec": {
                    "secretStoreRef": {"name": "s"},
                    "refreshInterval": "soon",
                    "data": [{"secretKey": "k", "remoteRef": {"key": "a", "bogus": 1}}],
                    "nothing": null
                }
            }),
        );
        let paths: Vec<_> = found.iter().map(|(p, r, _)| (p.as_str(), r.id)).collect();
        assert!(
            paths.contains(&("spec.data[0].remoteRef.bogus", "unknown-field")),
            "{paths:?}"
        );
        assert!(
            paths.contains(&("spec.refreshInterval", "schema-refused")),
            "{paths:?}"
        );
        assert_eq!(paths.len(), 2, "a null is not a pruned field: {paths:?}");
        assert!(admission("Nope", &json!({})).is_empty());
    }

    #[test]
    fn target_defaults_to_the_external_secret_name() {
        assert_eq!(target_name(&json!({"target": {"name": "t"}}), "es"), "t");
        assert_eq!(target_name(&json!({"target": {}}), "es"), "es");
        assert_eq!(target_name(&json!({}), "es"), "es");
    }
}
