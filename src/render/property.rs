//! One JSON property of a secret's value, in ESO's syntax: gjson paths (`a.b.c`, `a\.b`,
//! `arr.1`), where a property containing dots is first tried as one top-level key (its dots
//! escaped) and only then as a path — the same order as ESO's AWS provider, so a secret with a
//! key `"db.host"` keeps working after migration.
//!
//! Guards stand before gjson, whose validator and reader recurse per level of the value and per
//! component of the path: a value nested more than 128 deep is refused as invalid JSON, a path of
//! more than 128 components (`.`, `|`) does not match, and a wildcard pattern that would take
//! more than 10⁷ match steps against the value's keys does not match (gjson's matcher backtracks
//! once per `*`, so `*a*a*a…b` is exponential; Go's gjson gives up past a complexity limit the
//! same way, and ESO then reports the key as not found).

use super::RenderError;
use crate::value::SecretBytes;

/// Reads `property` from a JSON value. Strings come out unquoted; integers, booleans, objects and
/// arrays as their JSON text; other numbers as Go prints a float64 (`1.50` → `1.5`, `1e2` →
/// `100`); `null` as the empty string — Go's gjson `String()`, as ESO gives them. The result is
/// copied out of gjson's own value, which is freed by gjson at the end of the call without being
/// zeroed (its fields are private).
pub fn get_property(key: &str, value: &[u8], property: &str) -> Result<SecretBytes, RenderError> {
    if nested_deeper_than(value, MAX_NESTING) {
        return Err(RenderError::InvalidJson {
            key: key.to_owned(),
            expected: NESTING_EXPECTED,
            what: format!("property {property:?}"),
        });
    }
    let json = std::str::from_utf8(value)
        .ok()
        .filter(|s| gjson::valid(s))
        .ok_or_else(|| RenderError::InvalidJson {
            key: key.to_owned(),
            expected: "valid JSON",
            what: format!("property {property:?}"),
        })?;
    if components(property) > MAX_NESTING || wildcard_match_steps(value, property) > MAX_MATCH_STEPS
    {
        return Err(RenderError::PropertyNotFound {
            key: key.to_owned(),
            property: property.to_owned(),
        });
    }
    if property.contains('.') {
        let escaped = property.replace('.', "\\.");
        let whole = gjson::get(json, &escaped);
        if whole.exists() {
            return Ok(go_string(&whole));
        }
    }
    let found = gjson::get(json, property);
    if found.exists() {
        Ok(go_string(&found))
    } else {
        Err(RenderError::PropertyNotFound {
            key: key.to_owned(),
            property: property.to_owned(),
        })
    }
}

/// Nesting gjson is given at most: serde_json's limit, which `extract` and the merge rewrite
/// already have. gjson's validator recurses once per `[` or `{`, and its reader once per level of
/// the path, and a 64 KiB AWS secret can nest 32,000 deep — far past what a 2 MiB worker stack
/// holds (a debug build overflows near 700 levels read, 16,000 validated). Real JSON secrets nest
/// a few levels.
const MAX_NESTING: usize = 128;
const NESTING_EXPECTED: &str = "JSON nested at most 128 deep";

/// Whether `json` opens more than `max` arrays or objects inside each other (outside strings),
/// counted without recursion.
fn nested_deeper_than(json: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The components of a path (separated by unescaped `.` and `|`): gjson's reader recurses once
/// per component, whether it descends the value (`a.b`) or not (`@this|@this`).
fn components(property: &str) -> usize {
    let p = property.as_bytes();
    let (mut n, mut i) = (1, 0);
    while i < p.len() {
        match p[i] {
            b'\\' => i += 1,
            b'.' | b'|' => n += 1,
            _ => {}
        }
        i += 1;
    }
    n
}

/// Match steps a wildcard pattern may cost; about a tenth of a second.
const MAX_MATCH_STEPS: f64 = 1e7;

/// What matching `property`'s wildcards against `json` costs at most: gjson's matcher tries every
/// suffix of a key at each `*` that has more pattern after it, so each key of length `n` costs
/// up to `(n + 1)^stars` steps per pattern character. Keys are what a path matches; a query
/// (`#(…%"pattern")`) matches values too, so then every string counts.
fn wildcard_match_steps(json: &[u8], property: &str) -> f64 {
    let p = property.as_bytes();
    let (mut stars, mut i) = (0, 0);
    while i < p.len() {
        if p[i] == b'\\' {
            i += 2;
            continue;
        }
        if p[i] == b'*'
            && p.get(i + 1)
                .is_some_and(|c| !matches!(c, b'*' | b'.' | b'|'))
        {
            stars += 1;
        }
        i += 1;
    }
    if stars == 0 {
        return 0.0;
    }
    let values_too = property.contains("#(");
    let mut steps = 0.0;
    let mut i = 0;
    while i < json.len() {
        if json[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < json.len() && json[i] != b'"' {
            i += if json[i] == b'\\' { 2 } else { 1 };
        }
        let len = i.saturating_sub(start + 1);
        i += 1;
        let next = json[i.min(json.len())..]
            .iter()
            .find(|b| !b.is_ascii_whitespace());
        if values_too || next == Some(&b':') {
            steps += (len as f64 + 1.0).powi(stars);
        }
    }
    steps * p.len() as f64
}

/// Go's gjson `Result.String()`: a number that is not a plain integer is printed as Go's
/// `strconv.FormatFloat(f, 'f', -1, 64)` (shortest digits that read back, no exponent, `+Inf`
/// past the float range), which Rust's `Display` of an `f64` matches.
fn go_string(found: &gjson::Value) -> SecretBytes {
    let text = found.str();
    if found.kind() == gjson::Kind::Number {
        let digits = text.strip_prefix('-').unwrap_or(text);
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return SecretBytes::from(match text.parse::<f64>() {
                Ok(f) if f.is_infinite() => if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned(),
                Ok(f) => f.to_string(),
                Err(_) => text.to_owned(),
            });
        }
    }
    SecretBytes::from(text.to_owned())
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
