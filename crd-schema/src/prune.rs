//! Pruning of unknown fields and defaulting, as the apiextensions decoder does them.

use super::*;

// ---------------------------------------------------------------------------------------------
// pruning

/// The fields of `metav1.ObjectMeta`, with the JSON type each must have to survive decoding.
const OBJECT_META: &[(&str, &str)] = &[
    ("name", "string"),
    ("generateName", "string"),
    ("namespace", "string"),
    ("selfLink", "string"),
    ("uid", "string"),
    ("resourceVersion", "string"),
    ("generation", "integer"),
    ("creationTimestamp", "time"),
    ("deletionTimestamp", "time"),
    ("deletionGracePeriodSeconds", "integer"),
    ("labels", "stringmap"),
    ("annotations", "stringmap"),
    ("ownerReferences", "array"),
    ("finalizers", "stringlist"),
    ("managedFields", "array"),
];

/// Coerces `metadata` to what decoding into ObjectMeta keeps: known fields of the right type.
pub(crate) fn coerce_object_meta(meta: &mut Map<String, Value>) {
    meta.retain(|k, v| {
        let Some((_, ty)) = OBJECT_META.iter().find(|(n, _)| n == k) else {
            return false;
        };
        match *ty {
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "time" => v.is_string() || v.is_null(),
            "stringmap" => v
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string)),
            "stringlist" => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            "array" => v.is_array(),
            _ => true,
        }
    });
}

pub(crate) fn prune(v: &mut Value, s: &Sch, embedded_root: bool) {
    match v {
        Value::Object(m) => {
            let is_resource = embedded_root || s.embedded;
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if is_resource {
                    match k.as_str() {
                        "apiVersion" | "kind" if m[&k].is_string() => continue,
                        "metadata" => {
                            if let Some(meta) = m.get_mut(&k).and_then(Value::as_object_mut) {
                                coerce_object_meta(meta);
                                continue;
                            }
                        }
                        _ => {}
                    }
                }
                match s.child(&k) {
                    Some(cs) => {
                        if let Some(cv) = m.get_mut(&k) {
                            prune(cv, cs, false);
                        }
                    }
                    None if s.preserve_unknown => {}
                    None => {
                        m.remove(&k);
                    }
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = &s.items {
                for item in a.iter_mut() {
                    prune(item, items, false);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// defaulting

pub(crate) fn is_non_nullable_null(v: &Value, s: &Sch) -> bool {
    v.is_null() && !s.nullable
}

/// `PruneNonNullableNullsWithoutDefaults`.
pub(crate) fn prune_nulls(v: &mut Value, s: &Sch) {
    match v {
        Value::Object(m) => {
            m.retain(|k, cv| match s.child(k) {
                Some(cs) => !(is_non_nullable_null(cv, cs) && cs.default.is_none()),
                None => true,
            });
            for (k, cv) in m.iter_mut() {
                if let Some(cs) = s.child(k) {
                    prune_nulls(cv, cs);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = &s.items {
                a.iter_mut().for_each(|i| prune_nulls(i, items));
            }
        }
        _ => {}
    }
}

/// `structuraldefaulting.Default`.
pub(crate) fn apply_defaults(v: &mut Value, s: &Sch) {
    match v {
        Value::Object(m) => {
            for (k, prop) in &s.properties {
                if let Some(d) = &prop.default {
                    let missing = match m.get(k) {
                        None => true,
                        Some(cv) => is_non_nullable_null(cv, prop),
                    };
                    if missing {
                        m.insert(k.clone(), d.clone());
                    }
                }
            }
            for (k, cv) in m.iter_mut() {
                if let Some(prop) = s.properties.get(k) {
                    apply_defaults(cv, prop);
                } else if let Some(ap) = &s.additional {
                    if is_non_nullable_null(cv, ap)
                        && let Some(d) = &ap.default
                    {
                        *cv = d.clone();
                    }
                    apply_defaults(cv, ap);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = &s.items {
                for item in a.iter_mut() {
                    if is_non_nullable_null(item, items)
                        && let Some(d) = &items.default
                    {
                        *item = d.clone();
                    }
                    apply_defaults(item, items);
                }
            }
        }
        _ => {}
    }
}
