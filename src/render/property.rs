//! One JSON property of a secret's value, in ESO's syntax: gjson paths (`a.b.c`, `a\.b`,
//! `arr.1`), where a property containing dots is first tried as one top-level key (its dots
//! escaped) and only then as a path — the same order as ESO's AWS provider, so a secret with a
//! key `"db.host"` keeps working after migration.

use super::RenderError;
use crate::value::SecretBytes;

/// Reads `property` from a JSON value. Strings come out unquoted; numbers, booleans, objects and
/// arrays as their JSON text; `null` as the empty string (gjson's `String()`).
pub fn get_property(key: &str, value: &[u8], property: &str) -> Result<SecretBytes, RenderError> {
    let json = std::str::from_utf8(value)
        .ok()
        .filter(|s| gjson::valid(s))
        .ok_or_else(|| RenderError::InvalidJson {
            key: key.to_owned(),
            expected: "valid JSON",
            what: format!("property {property:?}"),
        })?;
    if property.contains('.') {
        let escaped = property.replace('.', "\\.");
        let whole = gjson::get(json, &escaped);
        if whole.exists() {
            return Ok(SecretBytes::from(whole.str().to_owned()));
        }
    }
    let found = gjson::get(json, property);
    if found.exists() {
        Ok(SecretBytes::from(found.str().to_owned()))
    } else {
        Err(RenderError::PropertyNotFound {
            key: key.to_owned(),
            property: property.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"user":"admin","port":5432,"tls":true,"none":null,
        "db":{"host":"h1","replicas":["r0","r1"]},"db.host":"dotted","a.b":{"c":"x"}}"#;

    fn get(p: &str) -> Result<String, RenderError> {
        get_property("k", DOC.as_bytes(), p).map(|v| String::from_utf8(v.into_exposed()).unwrap())
    }

    #[test]
    fn reads_scalars_as_text() {
        assert_eq!(get("user").unwrap(), "admin");
        assert_eq!(get("port").unwrap(), "5432");
        assert_eq!(get("tls").unwrap(), "true");
        assert_eq!(get("none").unwrap(), "");
    }

    #[test]
    fn nested_paths_and_array_indexes() {
        assert_eq!(get("db.replicas.1").unwrap(), "r1");
        assert_eq!(get("db.replicas").unwrap(), r#"["r0","r1"]"#);
    }

    #[test]
    fn whole_dotted_key_wins_over_path() {
        assert_eq!(get("db.host").unwrap(), "dotted");
        // Escaped dots address a dotted key explicitly, then nest.
        assert_eq!(get(r"a\.b.c").unwrap(), "x");
    }

    #[test]
    fn missing_property_and_invalid_json() {
        assert_eq!(
            get("db.password"),
            Err(RenderError::PropertyNotFound {
                key: "k".into(),
                property: "db.password".into()
            })
        );
        let err = get_property("k", b"not json {", "a").unwrap_err();
        assert_eq!(err.reason().as_str(), "InvalidJSON");
        let err = get_property("k", &[0xff, 0xfe], "a").unwrap_err();
        assert_eq!(err.reason().as_str(), "InvalidJSON");
    }

    #[test]
    fn errors_never_contain_the_value() {
        let err = get_property("k", br#"{"password":"s3cr3t-value"}"#, "nope").unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"));
        let err = get_property("k", b"s3cr3t-value", "nope").unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"));
    }
}
