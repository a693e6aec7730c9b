//! `dataFrom.extract`: every top-level property of a JSON object becomes a key. String values
//! are written unquoted; other values (numbers, booleans, objects, arrays) as their JSON text,
//! and `null` as the empty string — as ESO does.

use std::collections::BTreeMap;

use super::RenderError;
use super::property::get_property;
use crate::value::SecretBytes;

/// Splits a JSON object (or, with `property`, the object at that property) into key → value.
pub fn extract_map(
    key: &str,
    value: &[u8],
    property: Option<&str>,
) -> Result<BTreeMap<String, SecretBytes>, RenderError> {
    let selected;
    let object_bytes = match property.filter(|p| !p.is_empty()) {
        Some(p) => {
            selected = get_property(key, value, p)?;
            selected.expose()
        }
        None => value,
    };
    let not_object = || RenderError::InvalidJson {
        key: key.to_owned(),
        expected: "a JSON object",
        what: "its keys".to_owned(),
    };
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(object_bytes).map_err(|_| not_object())?;
    Ok(object
        .into_iter()
        .map(|(k, v)| {
            let bytes = match v {
                serde_json::Value::String(s) => s.into_bytes(),
                serde_json::Value::Null => Vec::new(),
                mut other => {
                    let text = other.to_string();
                    crate::value::wipe_json(&mut other);
                    text.into_bytes()
                }
            };
            (k, SecretBytes::from(bytes))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: &BTreeMap<String, SecretBytes>, k: &str) -> String {
        String::from_utf8(m[k].expose().to_vec()).unwrap()
    }

    #[test]
    fn strings_unquoted_others_as_json() {
        let m = extract_map(
            "k",
            br#"{"user":"admin","port":5432,"on":false,"nested":{"a":1},"list":[1,"x"],"nil":null}"#,
            None,
        )
        .unwrap();
        assert_eq!(m.len(), 6);
        assert_eq!(text(&m, "user"), "admin");
        assert_eq!(text(&m, "port"), "5432");
        assert_eq!(text(&m, "on"), "false");
        assert_eq!(text(&m, "nested"), r#"{"a":1}"#);
        assert_eq!(text(&m, "list"), r#"[1,"x"]"#);
        assert_eq!(text(&m, "nil"), "");
    }

    #[test]
    fn extract_below_a_property() {
        let m = extract_map("k", br#"{"db":{"host":"h","port":1}}"#, Some("db")).unwrap();
        assert_eq!(text(&m, "host"), "h");
        assert_eq!(text(&m, "port"), "1");
    }

    #[test]
    fn non_objects_are_invalid_json() {
        for bad in [&b"plain text"[..], b"[1,2]", b"\"str\"", b"42"] {
            let err = extract_map("k", bad, None).unwrap_err();
            assert_eq!(err.reason().as_str(), "InvalidJSON");
        }
    }
}
