//! Response presentations negotiated by `Accept`: plain objects, `Table` (kubectl's
//! server-side printing: built-in columns, CRD `additionalPrinterColumns`) and
//! `PartialObjectMetadata` (kube's metadata API).

use serde_json::{Value, json};

use crate::registry::ResourceType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presentation {
    Object,
    /// `as=Table`, with the meta.k8s.io version asked for and `includeObject`.
    Table {
        version: &'static str,
        include: Include,
    },
    /// `as=PartialObjectMetadata[List]`.
    Metadata {
        version: &'static str,
    },
}

impl Presentation {
    /// Pick the first media range of `Accept` the fake can answer.
    pub fn from_accept(accept: Option<&str>, include_object: Option<&str>) -> Self {
        let include = match include_object {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        };
        let Some(accept) = accept else {
            return Self::Object;
        };
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let mt = parts.next().unwrap_or_default();
            if mt != "application/json" && mt != "*/*" && mt != "application/*" {
                continue;
            }
            let (mut as_, mut v, mut g) = ("", "", "");
            for p in parts {
                if let Some((k, val)) = p.split_once('=') {
                    match k.trim() {
                        "as" => as_ = val.trim(),
                        "v" => v = val.trim(),
                        "g" => g = val.trim(),
                        _ => {}
                    }
                }
            }
            let version = if v == "v1beta1" { "v1beta1" } else { "v1" };
            match (as_, g) {
                ("", _) => return Self::Object,
                ("Table", "meta.k8s.io") => return Self::Table { version, include },
                ("PartialObjectMetadata" | "PartialObjectMetadataList", "meta.k8s.io") => {
                    return Self::Metadata { version };
                }
                _ => continue,
            }
        }
        Self::Object
    }

    /// One object in this presentation (GET and watch events).
    pub fn render_one(&self, rt: &ResourceType, obj: Value) -> Value {
        match self {
            Self::Object => obj,
            Self::Metadata { version } => partial(&obj, version),
            Self::Table { version, include } => json!({
                "kind": "Table",
                "apiVersion": format!("meta.k8s.io/{version}"),
                "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
                "columnDefinitions": columns(rt),
                "rows": [row(rt, &obj, *include)],
            }),
        }
    }
}

fn partial(obj: &Value, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": obj["metadata"],
    })
}

/// A list of objects as `PartialObjectMetadataList` items.
pub fn partial_item(obj: &Value, version: &str) -> Value {
    partial(obj, version)
}

fn col(name: &str, ty: &str, format: &str, description: &str, priority: i64) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str =
    "CreationTimestamp is a timestamp representing the server time when this object was created.";

/// Column definitions for a resource.
pub fn columns(rt: &ResourceType) -> Vec<Value> {
    let name = col("Name", "string", "name", NAME_DESC, 0);
    if let Some(crd) = &rt.crd {
        let mut cols = vec![name];
        if crd.printer_columns.is_empty() {
            cols.push(col("Age", "date", "", AGE_DESC, 0));
        }
        for c in &crd.printer_columns {
            cols.push(col(
                c["name"].as_str().unwrap_or_default(),
                c["type"].as_str().unwrap_or("string"),
                c["format"].as_str().unwrap_or_default(),
                c["description"].as_str().unwrap_or_default(),
                c["priority"].as_i64().unwrap_or(0),
            ));
        }
        return cols;
    }
    let age = col("Age", "string", "", AGE_DESC, 0);
    let s = |n: &str| col(n, "string", "", "", 0);
    let i = |n: &str| col(n, "integer", "", "", 0);
    match rt.kind.as_str() {
        "Secret" => vec![name, s("Type"), i("Data"), age],
        "ConfigMap" => vec![name, i("Data"), age],
        "Namespace" => vec![name, s("Status"), age],
        "Deployment" => vec![name, s("Ready"), i("Up-to-date"), i("Available"), age],
        "StatefulSet" => vec![name, s("Ready"), age],
        "ReplicaSet" => vec![name, i("Desired"), i("Current"), i("Ready"), age],
        "DaemonSet" => vec![name, i("Desired"), i("Current"), i("Ready"), age],
        "CronJob" => vec![
            name,
            s("Schedule"),
            s("Timezone"),
            col("Suspend", "boolean", "", "", 0),
            i("Active"),
            s("Last Schedule"),
            age,
        ],
        "Job" => vec![name, s("Status"), s("Completions"), s("Duration"), age],
        "Pod" => vec![name, s("Ready"), s("Status"), s("Restarts"), age],
        "Lease" => vec![name, s("Holder"), age],
        "Event" => vec![
            s("Last Seen"),
            s("Type"),
            s("Reason"),
            s("Object"),
            s("Message"),
        ],
        "CustomResourceDefinition" => vec![name, col("Created At", "date", "", "", 0)],
        _ => vec![name, age],
    }
}

/// One table row.
pub fn row(rt: &ResourceType, obj: &Value, include: Include) -> Value {
    let name = obj["metadata"]["name"].clone();
    let created = obj["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap_or_default();
    let age = json!(human_age(created));
    let n = |v: &Value| v.as_i64().unwrap_or(0);
    let cells: Vec<Value> = if let Some(crd) = &rt.crd {
        let mut cells = vec![name];
        if crd.printer_columns.is_empty() {
            cells.push(age.clone());
        }
        for c in &crd.printer_columns {
            let v = jsonpath(obj, c["jsonPath"].as_str().unwrap_or_default());
            // Upstream's table convertor renders `date` columns as human durations.
            let v = match (c["type"].as_str(), v) {
                (Some("date"), Some(Value::String(ts))) => json!(human_age(&ts)),
                (_, v) => v.unwrap_or(Value::Null),
            };
            cells.push(v);
        }
        cells
    } else {
        match rt.kind.as_str() {
            "Secret" => vec![
                name,
                obj["type"].clone(),
                json!(obj["data"].as_object().map_or(0, |m| m.len())),
                age,
            ],
            "ConfigMap" => {
                let d = obj["data"].as_object().map_or(0, |m| m.len())
                    + obj["binaryData"].as_object().map_or(0, |m| m.len());
                vec![name, json!(d), age]
            }
            "Namespace" => vec![name, obj["status"]["phase"].clone(), age],
            "Deployment" => {
                let st = &obj["status"];
                vec![
                    name,
                    json!(format!(
                        "{}/{}",
                        n(&st["readyReplicas"]),
                        n(&obj["spec"]["replicas"])
                    )),
                    json!(n(&st["updatedReplicas"])),
                    json!(n(&st["availableReplicas"])),
                    age,
                ]
            }
            "StatefulSet" => vec![
                name,
                json!(format!(
                    "{}/{}",
                    n(&obj["status"]["readyReplicas"]),
                    n(&obj["spec"]["replicas"])
                )),
                age,
            ],
            "ReplicaSet" => vec![
                name,
                json!(n(&obj["spec"]["replicas"])),
                json!(n(&obj["status"]["replicas"])),
                json!(n(&obj["status"]["readyReplicas"])),
                age,
            ],
            "DaemonSet" => vec![
                name,
                json!(n(&obj["status"]["desiredNumberScheduled"])),
                json!(n(&obj["status"]["currentNumberScheduled"])),
                json!(n(&obj["status"]["numberReady"])),
                age,
            ],
            "CronJob" => {
                let spec = &obj["spec"];
                let or_none = |v: &Value| match v.as_str() {
                    Some(s) => json!(s),
                    None => json!("<none>"),
                };
                let last = match obj["status"]["lastScheduleTime"].as_str() {
                    Some(ts) => json!(human_age(ts)),
                    None => json!("<none>"),
                };
                vec![
                    name,
                    spec["schedule"].clone(),
                    or_none(&spec["timeZone"]),
                    json!(match spec["suspend"].as_bool() {
                        Some(true) => "True",
                        Some(false) => "False",
                        None => "<unset>",
                    }),
                    json!(obj["status"]["active"].as_array().map_or(0, Vec::len)),
                    last,
                    age,
                ]
            }
            "Job" => {
                let st = &obj["status"];
                let has = |ty: &str| {
                    st["conditions"].as_array().is_some_and(|cs| {
                        cs.iter().any(|c| c["type"] == ty && c["status"] == "True")
                    })
                };
                let status = if has("Complete") {
                    "Complete"
                } else if has("Failed") {
                    "Failed"
                } else if !obj["metadata"]["deletionTimestamp"].is_null() {
                    "Terminating"
                } else if has("Suspended") {
                    "Suspended"
                } else if has("FailureTarget") {
                    "FailureTarget"
                } else if has("SuccessCriteriaMet") {
                    "SuccessCriteriaMet"
                } else {
                    "Running"
                };
                let succeeded = n(&st["succeeded"]);
                let completions = match obj["spec"]["completions"].as_i64() {
                    Some(c) => format!("{succeeded}/{c}"),
                    None => match n(&obj["spec"]["parallelism"]) {
                        p if p > 1 => format!("{succeeded}/1 of {p}"),
                        _ => format!("{succeeded}/1"),
                    },
                };
                let ts = |v: &Value| v.as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok());
                let duration = match (ts(&st["startTime"]), ts(&st["completionTime"])) {
                    (None, _) => String::new(),
                    (Some(start), None) => {
                        human_duration(jiff::Timestamp::now().as_second() - start.as_second())
                    }
                    (Some(start), Some(end)) => human_duration(end.as_second() - start.as_second()),
                };
                vec![
                    name,
                    json!(status),
                    json!(completions),
                    json!(duration),
                    age,
                ]
            }
            "Pod" => {
                let containers = obj["spec"]["containers"].as_array().map_or(0, Vec::len);
                vec![
                    name,
                    json!(format!("0/{containers}")),
                    obj["status"]["phase"].clone(),
                    json!("0"),
                    age,
                ]
            }
            "Lease" => vec![name, obj["spec"]["holderIdentity"].clone(), age],
            "Event" => {
                let last = obj["lastTimestamp"]
                    .as_str()
                    .or(obj["eventTime"].as_str())
                    .or(obj["deprecatedLastTimestamp"].as_str())
                    .unwrap_or(created);
                let involved = if obj["involvedObject"].is_object() {
                    &obj["involvedObject"]
                } else {
                    &obj["regarding"]
                };
                vec![
                    json!(human_age(last)),
                    obj["type"].clone(),
                    obj["reason"].clone(),
                    json!(format!(
                        "{}/{}",
                        involved["kind"].as_str().unwrap_or_default().to_lowercase(),
                        involved["name"].as_str().unwrap_or_default()
                    )),
                    if obj["message"].is_string() {
                        obj["message"].clone()
                    } else {
                        obj["note"].clone()
                    },
                ]
            }
            "CustomResourceDefinition" => vec![name, json!(created)],
            _ => vec![name, age],
        }
    };
    let mut r = json!({"cells": cells});
    match include {
        Include::None => {}
        Include::Metadata => r["object"] = partial(obj, "v1"),
        Include::Object => r["object"] = obj.clone(),
    }
    r
}

/// A Table for a list of objects.
pub fn table(
    rt: &ResourceType,
    version: &str,
    items: &[std::sync::Arc<Value>],
    include: Include,
    rv: u64,
    cont: Option<&str>,
) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": meta,
        "columnDefinitions": columns(rt),
        "rows": items.iter().map(|o| row(rt, o, include)).collect::<Vec<_>>(),
    })
}

/// Upstream's duration.HumanDuration of the time since an RFC 3339 timestamp.
pub fn human_age(ts: &str) -> String {
    let Ok(t) = ts.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = jiff::Timestamp::now().as_second() - t.as_second();
    human_duration(secs)
}

pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let secs = secs.max(0);
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let d = (hours / 24) % 365;
        return if d == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{d}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The JSONPath subset CRD printer columns use: `.a.b`, `.a[0]`, `.a[?(@.k=="v")].b`.
pub fn jsonpath(obj: &Value, path: &str) -> Option<Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut cur = obj.clone();
    let mut rest = path.trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            cur = cur.get(key)?.clone();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            // Filters can contain ']' only inside quotes; the subset here does not.
            let inner = &r[..end];
            rest = &r[end + 1..];
            if let Some(f) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (k, v) = f.split_once("==")?;
                let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
                let arr = cur.as_array()?;
                cur = arr
                    .iter()
                    .find(|e| {
                        e.get(k.trim()).is_some_and(|x| match x {
                            Value::String(s) => s == v,
                            other => {
                                let s = other.to_string();
                                s == v
                            }
                        })
                    })?
                    .clone();
            } else if let Ok(i) = inner.parse::<usize>() {
                cur = cur.get(i)?.clone();
            } else {
                let key = inner.trim_matches(|c| c == '"' || c == '\'');
                cur = cur.get(key)?.clone();
            }
        } else {
            return None;
        }
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let a = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            Presentation::from_accept(Some(a), None),
            Presentation::Table {
                version: "v1",
                include: Include::Metadata
            }
        );
        assert_eq!(
            Presentation::from_accept(Some("application/json"), None),
            Presentation::Object
        );
        assert_eq!(
            Presentation::from_accept(
                Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
                None
            ),
            Presentation::Metadata { version: "v1" }
        );
    }

    #[test]
    fn jsonpath_subset() {
        let o = json!({"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]}, "spec": {"n": 3}});
        assert_eq!(jsonpath(&o, ".spec.n"), Some(json!(3)));
        assert_eq!(
            jsonpath(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(json!("True"))
        );
        assert_eq!(jsonpath(&o, ".status.conditions[0].type"), Some(json!("A")));
        assert_eq!(jsonpath(&o, ".spec.missing"), None);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(60 * 179), "179m");
        assert_eq!(human_duration(3600 * 3), "3h");
        assert_eq!(human_duration(3600 * 5 + 60), "5h1m");
        assert_eq!(human_duration(86400 * 3), "3d");
    }
}
