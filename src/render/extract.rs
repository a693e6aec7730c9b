//! `dataFrom.extract`: every top-level property of a JSON object becomes a key. String values
//! are written unquoted; other values (numbers, booleans, objects, arrays) as their JSON text
//! exactly as stored (ESO keeps them as Go `json.RawMessage`: same key order, same spacing), and
//! `null` as the empty string; of duplicate keys the last wins (Go's `encoding/json`) — as ESO
//! does.

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
    let text = std::str::from_utf8(object_bytes)
        .ok()
        .filter(|t| gjson::valid(t))
        .ok_or_else(not_object)?;
    let object = gjson::parse(text);
    if object.kind() != gjson::Kind::Object {
        return Err(not_object());
    }
    let mut out = BTreeMap::new();
    object.each(|k, v| {
        // ESO: a value that unmarshals as a Go string is that string (`null` too: ""), any other
        // is its raw JSON text.
        let bytes = match v.kind() {
            gjson::Kind::Null => Vec::new(),
            _ => serde_json::from_str::<String>(v.json())
                .map(String::into_bytes)
                .unwrap_or_else(|_| v.json().as_bytes().to_vec()),
        };
        out.insert(k.str().to_owned(), SecretBytes::from(bytes));
        true
    });
    Ok(out)
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
    fn nested_values_keep_their_stored_text_and_the_last_duplicate_wins() {
        let m = extract_map(
            "k",
            br#"{"db": {"port": 5432, "host": "h"}, "n": 1.50, "k":"first", "k":"last", "esc":"a\u00e9\n"}"#,
            None,
        )
        .unwrap();
        assert_eq!(text(&m, "db"), r#"{"port": 5432, "host": "h"}"#);
        assert_eq!(text(&m, "n"), "1.50");
        assert_eq!(text(&m, "k"), "last");
        assert_eq!(text(&m, "esc"), "a\u{e9}\n");
        assert_eq!(m.len(), 4);
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
