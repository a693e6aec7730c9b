//! The `scale` subresource (autoscaling/v1 Scale) of Deployments, StatefulSets,
//! ReplicaSets and custom resources whose CRD enables it (`kubectl scale`, HPAs).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::merge;
use crate::ops::{Cluster, PatchType, WriteOpts, to_external};
use crate::registry::ResourceType;

/// (spec replicas path, status replicas path, label selector path), dotted.
pub fn paths(rt: &ResourceType) -> Option<(String, String, Option<String>)> {
    if let Some(c) = &rt.crd {
        let s = c.scale.as_ref()?;
        return Some((
            s["specReplicasPath"].as_str()?.to_string(),
            s["statusReplicasPath"].as_str()?.to_string(),
            s["labelSelectorPath"].as_str().map(String::from),
        ));
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment" | "StatefulSet" | "ReplicaSet") => {
            Some((".spec.replicas".into(), ".status.replicas".into(), None))
        }
        _ => None,
    }
}

fn get_path<'a>(v: &'a Value, path: &str) -> &'a Value {
    let mut cur = v;
    for seg in path.trim_start_matches('.').split('.') {
        cur = cur.get(seg).unwrap_or(&Value::Null);
    }
    cur
}

fn set_path(v: &mut Value, path: &str, val: Value) {
    let segs: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    let mut cur = v;
    for seg in &segs[..segs.len() - 1] {
        if !cur[*seg].is_object() {
            cur[*seg] = json!({});
        }
        cur = &mut cur[*seg];
    }
    cur[segs[segs.len() - 1]] = val;
}

fn selector_string(sel: &Value) -> String {
    sel["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// The Scale view of an object.
pub fn scale_of(rt: &ResourceType, obj: &Value) -> ApiResult<Value> {
    let (spec, status, sel) = paths(rt).ok_or_else(ApiError::no_route)?;
    let m = &obj["metadata"];
    let selector = match sel {
        Some(p) => get_path(obj, &p).clone(),
        None => json!(selector_string(&obj["spec"]["selector"])),
    };
    let mut meta = json!({
        "name": m["name"], "uid": m["uid"], "resourceVersion": m["resourceVersion"],
        "creationTimestamp": m["creationTimestamp"],
    });
    if m["namespace"].is_string() {
        meta["namespace"] = m["namespace"].clone();
    }
    let mut st = json!({"replicas": get_path(obj, &status).as_i64().unwrap_or(0)});
    if selector.as_str().is_some_and(|s| !s.is_empty()) {
        st["selector"] = selector;
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": get_path(obj, &spec).as_i64().unwrap_or(0)},
        "status": st,
    }))
}

impl Cluster {
    pub fn get_scale(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        scale_of(rt, &self.get(rt, ns, name)?)
    }

    /// PUT of a Scale: sets the replicas of the object (a conditional write when the
    /// Scale carries a resourceVersion).
    pub fn update_scale(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        name: &str,
        scale: &Value,
        o: &WriteOpts,
    ) -> ApiResult<Value> {
        let (spec, _, _) = paths(rt).ok_or_else(ApiError::no_route)?;
        let Some(replicas) = scale["spec"]["replicas"].as_i64() else {
            return Err(ApiError::invalid(
                "autoscaling",
                "Scale",
                name,
                vec![crate::error::Cause::required("spec.replicas")],
            ));
        };
        if replicas < 0 {
            return Err(ApiError::invalid(
                "autoscaling",
                "Scale",
                name,
                vec![crate::error::Cause::invalid(
                    "spec.replicas",
                    &json!(replicas),
                    "must be greater than or equal to 0",
                )],
            ));
        }
        let cur = self.get_raw(rt, ns, name)?;
        let mut new = to_external(rt, &cur);
        match scale["metadata"]["resourceVersion"].as_str() {
            Some(rv) if !rv.is_empty() => new["metadata"]["resourceVersion"] = json!(rv),
            _ => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove("resourceVersion");
                }
            }
        }
        set_path(&mut new, &spec, json!(replicas));
        let (_, obj) = self.update(rt, ns, name, new, None, o)?;
        scale_of(rt, &obj)
    }

    /// PATCH of a Scale (merge, JSON or strategic patch on the Scale object).
    pub fn patch_scale(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        name: &str,
        ptype: PatchType,
        patch: &Value,
        o: &WriteOpts,
    ) -> ApiResult<Value> {
        let cur = self.get_scale(rt, ns, name)?;
        let patched = match ptype {
            PatchType::Json => merge::json_patch(&cur, patch)
                .map_err(|e| ApiError::new(e.code(), e.reason(), e.to_string()))?,
            PatchType::Merge | PatchType::Strategic => merge::json_merge_patch(&cur, patch),
            PatchType::Apply => {
                return Err(ApiError::unsupported_media_type(&[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/strategic-merge-patch+json",
                ]));
            }
        };
        // A patch does not carry the read resourceVersion as a precondition.
        let mut patched = patched;
        if patch["metadata"].get("resourceVersion").is_none()
            && let Some(m) = patched["metadata"].as_object_mut()
        {
            m.remove("resourceVersion");
        }
        self.update_scale(rt, ns, name, &patched, o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_set_and_get() {
        let mut v = json!({});
        set_path(&mut v, ".spec.replicas", json!(3));
        assert_eq!(get_path(&v, ".spec.replicas"), &json!(3));
        assert_eq!(selector_string(&json!({"matchLabels": {"a": "b"}})), "a=b");
    }
}
