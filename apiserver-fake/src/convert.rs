//! Conversion between the stored form of an object and the version a request is served
//! at: custom resources (conversion strategy None: only `apiVersion` changes) and Events,
//! stored as core/v1 and served also as events.k8s.io/v1 (field renames as upstream's
//! conversion functions do).

use serde_json::{Map, Value, json};

use crate::registry::ResourceType;

/// core/v1 field -> events.k8s.io/v1 field (top level; `source` is handled apart).
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("related", "related"),
    ("reason", "reason"),
    ("message", "note"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("type", "type"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("action", "action"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
];

fn is_events_v1(rt: &ResourceType) -> bool {
    rt.group == "events.k8s.io"
}

/// Whether objects of `rt` are served in another form than stored.
pub fn needs_conversion(rt: &ResourceType) -> bool {
    is_events_v1(rt)
        || rt
            .crd
            .as_ref()
            .is_some_and(|c| c.storage_api_version != rt.api_version())
}

/// Stored form -> served version.
pub fn to_external(rt: &ResourceType, obj: &Value) -> Value {
    if is_events_v1(rt) {
        return core_event_to_v1(obj);
    }
    let mut v = obj.clone();
    if needs_conversion(rt) {
        v["apiVersion"] = json!(rt.api_version());
    }
    v
}

/// Served version -> stored form.
pub fn to_internal(rt: &ResourceType, obj: Value) -> Value {
    if is_events_v1(rt) && obj.is_object() {
        return v1_event_to_core(&obj);
    }
    let mut obj = obj;
    if let Some(c) = &rt.crd
        && obj.is_object()
    {
        obj["apiVersion"] = json!(c.storage_api_version);
    }
    obj
}

fn core_event_to_v1(obj: &Value) -> Value {
    let Some(src) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    out.insert("kind".into(), json!("Event"));
    if let Some(m) = src.get("metadata") {
        out.insert("metadata".into(), m.clone());
    }
    for (core, v1) in EVENT_FIELDS {
        if let Some(v) = src.get(*core).filter(|v| !v.is_null()) {
            out.insert((*v1).into(), v.clone());
        }
    }
    if let Some(s) = src.get("source").and_then(Value::as_object)
        && !s.is_empty()
    {
        out.insert("deprecatedSource".into(), Value::Object(s.clone()));
    }
    Value::Object(out)
}

fn v1_event_to_core(obj: &Value) -> Value {
    let Some(src) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("v1"));
    out.insert("kind".into(), json!("Event"));
    if let Some(m) = src.get("metadata") {
        out.insert("metadata".into(), m.clone());
    }
    for (core, v1) in EVENT_FIELDS {
        if let Some(v) = src.get(*v1).filter(|v| !v.is_null()) {
            out.insert((*core).into(), v.clone());
        }
    }
    if let Some(s) = src.get("deprecatedSource").and_then(Value::as_object) {
        out.insert("source".into(), Value::Object(s.clone()));
    }
    // Upstream's conversion fills involvedObject when absent so the core form is valid.
    out.entry("involvedObject").or_insert_with(|| json!({}));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_round_trip() {
        let v1 = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "ns"},
            "regarding": {"kind": "Widget", "name": "w"},
            "note": "hello", "reason": "Synced", "type": "Normal", "action": "Sync",
            "reportingController": "stagesync", "reportingInstance": "pod-1",
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:01.000000Z"},
            "deprecatedSource": {"component": "x"},
        });
        let core = v1_event_to_core(&v1);
        assert_eq!(core["involvedObject"]["name"], "w");
        assert_eq!(core["message"], "hello");
        assert_eq!(core["reportingComponent"], "stagesync");
        assert_eq!(core["source"]["component"], "x");
        assert_eq!(core_event_to_v1(&core), v1);
    }
}
