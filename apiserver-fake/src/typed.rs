//! Typed decoding of built-in kinds, standing in for upstream's decoding of request bodies
//! into Go structs: wrong types are a 400 (`... cannot be handled as a Deployment: ...`),
//! unknown fields are dropped and reported for `fieldValidation` (Strict: 400, Warn: a
//! `Warning` header, Ignore: silent). Custom resources get the same through their schema.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::registry::ResourceType;

/// How unknown fields are reported (`fieldValidation` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    /// The server default when the parameter is absent.
    #[default]
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(s: Option<&str>) -> Result<Self, ApiError> {
        match s {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Ignore") => Ok(Self::Ignore),
            Some("Strict") => Ok(Self::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(v: Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(v).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// Decode `obj` as the Go struct of a built-in kind would: returns the object without
/// unknown fields; None for kinds without a typed form here (custom resources).
pub fn decode(rt: &ResourceType, obj: Value) -> Option<Result<Value, String>> {
    use k8s_openapi::api::{apps, batch, coordination, core, events, rbac};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
    let f: fn(Value) -> Result<Value, String> = match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => round_trip::<core::v1::Namespace>,
        ("", "Secret") => round_trip::<core::v1::Secret>,
        ("", "ConfigMap") => round_trip::<core::v1::ConfigMap>,
        ("", "Event") => round_trip::<core::v1::Event>,
        ("", "ServiceAccount") => round_trip::<core::v1::ServiceAccount>,
        ("", "Pod") => round_trip::<core::v1::Pod>,
        ("apps", "Deployment") => round_trip::<apps::v1::Deployment>,
        ("apps", "StatefulSet") => round_trip::<apps::v1::StatefulSet>,
        ("apps", "DaemonSet") => round_trip::<apps::v1::DaemonSet>,
        ("apps", "ReplicaSet") => round_trip::<apps::v1::ReplicaSet>,
        ("batch", "CronJob") => round_trip::<batch::v1::CronJob>,
        ("batch", "Job") => round_trip::<batch::v1::Job>,
        ("coordination.k8s.io", "Lease") => round_trip::<coordination::v1::Lease>,
        ("events.k8s.io", "Event") => round_trip::<events::v1::Event>,
        ("rbac.authorization.k8s.io", "Role") => round_trip::<rbac::v1::Role>,
        ("rbac.authorization.k8s.io", "ClusterRole") => round_trip::<rbac::v1::ClusterRole>,
        ("rbac.authorization.k8s.io", "RoleBinding") => round_trip::<rbac::v1::RoleBinding>,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            round_trip::<rbac::v1::ClusterRoleBinding>
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            round_trip::<apiextensions::v1::CustomResourceDefinition>
        }
        _ => return None,
    };
    Some(f(obj))
}

/// Paths (`spec.foo`, `spec.list[0].bar`) present with a non-null value in `before` and
/// missing from `after`.
pub fn dropped_fields(before: &Value, after: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(before, after, "", &mut out);
    out
}

fn walk(before: &Value, after: &Value, path: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, bv) in b {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match a.get(k) {
                    None if !is_empty(bv) => out.push(p),
                    None => {}
                    Some(av) => walk(bv, av, &p, out),
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for (i, (bv, av)) in b.iter().zip(a.iter()).enumerate() {
                walk(bv, av, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Apply the `fieldValidation` policy to the unknown fields found; returns warnings.
pub fn report_unknown(mode: FieldValidation, unknown: &[String]) -> Result<Vec<String>, ApiError> {
    if unknown.is_empty() || mode == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    let msgs: Vec<String> = unknown
        .iter()
        .map(|p| format!("unknown field \"{p}\""))
        .collect();
    match mode {
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            msgs.join(", ")
        ))),
        _ => Ok(msgs),
    }
}

/// Decode a built-in object: 400 on type errors, unknown fields per `mode`.
pub fn decode_builtin(
    rt: &ResourceType,
    obj: Value,
    mode: FieldValidation,
) -> Result<(Value, Vec<String>), ApiError> {
    let Some(res) = decode(rt, obj.clone()) else {
        return Ok((obj, Vec::new()));
    };
    let decoded = res.map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            rt.kind, rt.version, rt.kind
        ))
    })?;
    let unknown = dropped_fields(&obj, &decoded);
    let warnings = report_unknown(mode, &unknown)?;
    // Keep the client's representation except for the dropped fields (the typed
    // round trip may normalize values that are semantically equal).
    let mut kept = obj;
    for p in &unknown {
        remove_path(&mut kept, p);
    }
    Ok((kept, warnings))
}

/// Remove a dotted path with `[i]` indexes.
pub fn remove_path(v: &mut Value, path: &str) {
    let mut segs: Vec<(String, Option<usize>)> = Vec::new();
    for part in path.split('.') {
        match part.find('[') {
            Some(i) => {
                segs.push((part[..i].to_string(), None));
                for idx in part[i..].split('[').filter(|s| !s.is_empty()) {
                    let n = idx.trim_end_matches(']').parse().unwrap_or(usize::MAX);
                    segs.push((String::new(), Some(n)));
                }
            }
            None => segs.push((part.to_string(), None)),
        }
    }
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut cur = v;
    for (k, idx) in parents {
        let next = match idx {
            Some(i) => cur.get_mut(*i),
            None if k.is_empty() => Some(cur),
            None => cur.get_mut(k.as_str()),
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if last.1.is_none()
        && let Some(m) = cur.as_object_mut()
    {
        m.remove(&last.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dropped_and_removed() {
        let before = json!({"spec": {"a": 1, "x": {"y": 2}, "l": [{"k": 1, "z": 3}], "n": null}});
        let after = json!({"spec": {"a": 1, "l": [{"k": 1}]}});
        let d = dropped_fields(&before, &after);
        assert_eq!(d, vec!["spec.l[0].z", "spec.x"]);
        let mut v = before.clone();
        for p in &d {
            remove_path(&mut v, p);
        }
        assert_eq!(v, json!({"spec": {"a": 1, "l": [{"k": 1}], "n": null}}));
    }
}
