//! CustomResourceDefinition lifecycle: what the apiextensions server and its controllers
//! do on CRD writes — status (Established, NamesAccepted, acceptedNames, storedVersions),
//! the `customresourcecleanup` finalizer, and (un)registering the served resources.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::merge::MergeSchema;
use crate::ops::{Cluster, now_rfc3339};
use crate::registry::{CrdInfo, GenerationPolicy, ResourceType};
use crate::schema::CrdSchema;

pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn condition(ty: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({
        "type": ty,
        "status": status,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    })
}

fn refresh_status(obj: &mut Value) {
    let now = now_rfc3339();
    let names = obj["spec"]["names"].clone();
    let mut accepted = names.clone();
    if accepted["singular"].as_str().is_none_or(str::is_empty) {
        accepted["singular"] = json!(names["kind"].as_str().unwrap_or_default().to_lowercase());
    }
    if accepted["listKind"].as_str().is_none_or(str::is_empty) {
        accepted["listKind"] = json!(format!(
            "{}List",
            names["kind"].as_str().unwrap_or_default()
        ));
    }
    let storage = obj["spec"]["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["storage"].as_bool() == Some(true)))
        .and_then(|v| v["name"].as_str())
        .unwrap_or_default()
        .to_string();
    let mut stored: Vec<Value> = obj["status"]["storedVersions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !storage.is_empty() && !stored.iter().any(|v| v == &json!(storage)) {
        stored.push(json!(storage));
    }
    let old_conditions = obj["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let keep_time = |ty: &str| {
        old_conditions
            .iter()
            .find(|c| c["type"] == ty && c["status"] == "True")
            .map(|c| c["lastTransitionTime"].clone())
    };
    let mut conditions = vec![
        condition(
            "NamesAccepted",
            "True",
            "NoConflicts",
            "no conflicts found",
            &now,
        ),
        condition(
            "Established",
            "True",
            "InitialNamesAccepted",
            "the initial names have been accepted",
            &now,
        ),
    ];
    for c in conditions.iter_mut() {
        if let Some(t) = keep_time(c["type"].as_str().unwrap_or_default()) {
            c["lastTransitionTime"] = t;
        }
    }
    if let Some(t) = old_conditions.iter().find(|c| c["type"] == "Terminating") {
        conditions.push(t.clone());
    }
    obj["status"] = json!({
        "acceptedNames": accepted,
        "conditions": conditions,
        "storedVersions": stored,
    });
}

/// A new CRD: cleanup finalizer and an Established status.
pub fn on_create(obj: &mut Value) {
    let mut fins = crate::ops::finalizers(obj);
    if !fins.iter().any(|f| f == CLEANUP_FINALIZER) {
        fins.push(CLEANUP_FINALIZER.to_string());
    }
    crate::ops::set_finalizers(obj, &fins);
    refresh_status(obj);
}

pub fn on_update(obj: &mut Value) {
    refresh_status(obj);
}

/// Deletion started: the Terminating condition (the controller then removes CRs).
pub fn on_terminating(obj: &mut Value) {
    let now = now_rfc3339();
    if let Some(cs) = obj["status"]["conditions"].as_array_mut() {
        cs.retain(|c| c["type"] != "Terminating");
        cs.push(condition(
            "Terminating",
            "True",
            "InstanceDeletionInProgress",
            "CustomResource deletion is in progress",
            &now,
        ));
    }
}

/// Kubernetes version ordering for discovery's preferred version (v1 > v1beta1 > v1alpha1).
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    let (level, num) = if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        return (0, 0, 0);
    };
    match num.parse::<u32>() {
        Ok(n) => (level, major, n),
        Err(_) => (0, 0, 0),
    }
}

/// The resource types a CRD serves.
pub fn types_for(crd: &Value) -> Vec<Arc<ResourceType>> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default().to_string();
    let names = &spec["names"];
    let kind = names["kind"].as_str().unwrap_or_default().to_string();
    let plural = names["plural"].as_str().unwrap_or_default().to_string();
    let crd_name = crd["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let crd_uid = crd["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    let storage_version = versions
        .iter()
        .find(|v| v["storage"].as_bool() == Some(true))
        .and_then(|v| v["name"].as_str())
        .unwrap_or_default();
    let served: Vec<&Value> = versions
        .iter()
        .filter(|v| v["served"].as_bool() != Some(false))
        .collect();
    let preferred = served
        .iter()
        .filter_map(|v| v["name"].as_str())
        .max_by_key(|v| version_priority(v))
        .unwrap_or_default()
        .to_string();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let storage: Arc<str> = Arc::from(format!("{plural}.{group}"));
    served
        .iter()
        .map(|v| {
            let version = v["name"].as_str().unwrap_or_default().to_string();
            let openapi = v["schema"]["openAPIV3Schema"].clone();
            let schema = if openapi.is_object() {
                CrdSchema::new(&openapi).ok()
            } else {
                None
            };
            let merge_schema = if openapi.is_object() {
                MergeSchema::from_openapi(&openapi)
            } else {
                MergeSchema::from_openapi(
                    &json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
                )
            };
            let singular = names["singular"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(String::from)
                .unwrap_or_else(|| kind.to_lowercase());
            let storage_api_version = format!("{group}/{storage_version}");
            let merge_schema = merge_schema
                .with_gvk(&format!("{group}/{version}"), &kind)
                .with_status_subresource(v["subresources"]["status"].is_object());
            Arc::new(ResourceType {
                group: group.clone(),
                version: version.clone(),
                kind: kind.clone(),
                plural: plural.clone(),
                singular,
                short_names: strings(&names["shortNames"]),
                categories: strings(&names["categories"]),
                namespaced: spec["scope"].as_str() != Some("Cluster"),
                verbs: [
                    "delete",
                    "deletecollection",
                    "get",
                    "list",
                    "patch",
                    "create",
                    "update",
                    "watch",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
                status: v["subresources"]["status"].is_object(),
                generation: GenerationPolicy::CustomResource,
                create_on_update: false,
                return_deleted: true,
                field_selectors: Vec::new(),
                storage: storage.clone(),
                preferred: version == preferred,
                merge_schema: Arc::new(merge_schema),
                crd: Some(Arc::new(CrdInfo {
                    crd_name: crd_name.clone(),
                    crd_uid: crd_uid.clone(),
                    schema,
                    openapi,
                    printer_columns: v["additionalPrinterColumns"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                    selectable_fields: v["selectableFields"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|f| f["jsonPath"].as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default(),
                    scale: v["subresources"].get("scale").cloned(),
                    storage_api_version,
                })),
            })
        })
        .collect()
}

/// Register (or refresh) the resources served by a stored CRD.
pub fn sync_types(cluster: &Cluster, crd: &Value) {
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    cluster.registry.set_crd_types(name, types_for(crd));
}

/// The CRD is gone: stop serving its resources and end their watches.
pub fn on_removed(cluster: &Cluster, crd: &Value) {
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    let group = crd["spec"]["group"].as_str().unwrap_or_default();
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
    let storage = format!("{plural}.{group}");
    cluster.registry.set_crd_types(name, Vec::new());
    cluster.store.close_watches(Some(&storage), None, None);
    cluster.store.drop_storage(&storage);
}

#[cfg(test)]
mod tests {
    use super::version_priority;

    #[test]
    fn kube_version_order() {
        assert!(version_priority("v1") > version_priority("v1beta2"));
        assert!(version_priority("v1beta2") > version_priority("v1beta1"));
        assert!(version_priority("v1beta1") > version_priority("v1alpha1"));
        assert!(version_priority("v2") > version_priority("v1"));
        assert!(version_priority("v1alpha1") > version_priority("foo"));
    }
}
