//! Admitting a stagesync object as the API server would, offline: the CRD schema's validation,
//! defaulting and CEL rules (the fake's own validator), plus the fields it would silently prune.

use apiserver_fake::schema::CrdSchema;
use serde_json::Value;

/// The admitted object, or what the API server would refuse (and every field it would drop, as
/// `path: unknown field`).
pub fn admit_with(schema: &CrdSchema, doc: &Value) -> Result<Value, Vec<String>> {
    let mut admitted = doc.clone();
    schema.admit(&mut admitted, None).map_err(|causes| {
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect::<Vec<_>>()
    })?;
    let mut lost = Vec::new();
    pruned(doc, &admitted, "", &mut lost);
    if lost.is_empty() {
        Ok(admitted)
    } else {
        Err(lost)
    }
}

/// Paths of `original` that are missing from `admitted` (pruned as unknown).
fn pruned(original: &Value, admitted: &Value, path: &str, out: &mut Vec<String>) {
    match (original, admitted) {
        (Value::Object(o), Value::Object(a)) => {
            for (k, v) in o {
                match a.get(k) {
                    Some(av) => pruned(v, av, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}: unknown field")),
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
