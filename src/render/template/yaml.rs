//! ESO's own `toYaml`/`fromYaml` (`yaml.go`): `sigs.k8s.io/yaml`, i.e. JSON then go-yaml v2,
//! written in go-yaml v2's style.

use std::collections::HashMap;
use std::sync::LazyLock;

use gtmpl_ng::{Func, FuncError, Value};

use super::json::{from_serde_json, to_serde_json};
use super::values::{arity, str_arg};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[("toYaml", to_yaml), ("fromYaml", from_yaml)];

/// ESO's `toYaml` (`sigs.k8s.io/yaml.Marshal`, i.e. JSON then go-yaml v2), final newline
/// trimmed, "" on error.
fn to_yaml(args: &[Value]) -> Result<Value, FuncError> {
    arity("toYaml", args, 1)?;
    let text = to_serde_json(&args[0])
        .map(|v| go_yaml(&v))
        .unwrap_or_default();
    Ok(Value::String(
        text.strip_suffix('\n').unwrap_or(&text).to_owned(),
    ))
}

/// go-yaml v2's block style for a JSON value: maps with its key order, sequences under a key
/// not indented, two-space indentation.
fn go_yaml(v: &serde_json::Value) -> String {
    let mut out = String::new();
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => yaml_map(m, 0, &mut out, false),
        serde_json::Value::Array(a) if !a.is_empty() => yaml_seq(a, 0, &mut out, false),
        other => {
            out.push_str(&yaml_inline(other, 2));
            out.push('\n');
        }
    }
    out
}

fn yaml_map(
    m: &serde_json::Map<String, serde_json::Value>,
    indent: usize,
    out: &mut String,
    first_inline: bool,
) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort_by(|a, b| go_yaml_key_order(a, b));
    for (i, k) in keys.into_iter().enumerate() {
        if !(i == 0 && first_inline) {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&yaml_key(k));
        out.push(':');
        match &m[k] {
            serde_json::Value::Object(c) if !c.is_empty() => {
                out.push('\n');
                yaml_map(c, indent + 2, out, false);
            }
            serde_json::Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                yaml_seq(a, indent, out, false);
            }
            other => {
                out.push(' ');
                out.push_str(&yaml_inline(other, indent + 2));
                out.push('\n');
            }
        }
    }
}

fn yaml_seq(a: &[serde_json::Value], indent: usize, out: &mut String, first_inline: bool) {
    for (i, item) in a.iter().enumerate() {
        if !(i == 0 && first_inline) {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str("- ");
        match item {
            serde_json::Value::Object(c) if !c.is_empty() => yaml_map(c, indent + 2, out, true),
            serde_json::Value::Array(x) if !x.is_empty() => yaml_seq(x, indent + 2, out, true),
            other => {
                out.push_str(&yaml_inline(other, indent + 2));
                out.push('\n');
            }
        }
    }
}

fn yaml_inline(v: &serde_json::Value, content_indent: usize) -> String {
    match v {
        serde_json::Value::Null => "null".to_owned(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() => go_format_float(f),
            _ => n.to_string(),
        },
        serde_json::Value::String(s) => yaml_string(s, content_indent),
        serde_json::Value::Object(_) => "{}".to_owned(),
        serde_json::Value::Array(_) => "[]".to_owned(),
    }
}

fn go_double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn yaml_key(k: &str) -> String {
    if k.contains('\n') {
        return go_double_quoted(k);
    }
    yaml_string(k, 0)
}

/// A string scalar as go-yaml v2 writes it. A string that YAML 1.1 would read as something else
/// is double-quoted; otherwise libyaml's own analysis picks plain, single-quoted, double-quoted
/// or literal block, and serde_yaml_ng runs the same libyaml emitter for that part.
fn yaml_string(s: &str, content_indent: usize) -> String {
    if !s.contains('\n') && go_yaml_resolves_non_string(s) {
        return go_double_quoted(s);
    }
    let text = serde_yaml_ng::to_string(s).unwrap_or_default();
    let text = text.strip_suffix('\n').unwrap_or(&text);
    if !text.starts_with('|') {
        return text.to_owned();
    }
    // A literal block: serde_yaml_ng indents its content by 2 at top level; move it to this
    // node's content indentation.
    let mut lines = text.split('\n');
    let mut out = lines.next().unwrap_or_default().to_owned();
    for line in lines {
        out.push('\n');
        if let Some(content) = line.strip_prefix("  ") {
            out.push_str(&" ".repeat(content_indent));
            out.push_str(content);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Whether go-yaml v2's resolver reads a plain scalar as something other than a string (bool,
/// null, int, float, timestamp, merge key, or base-60 float).
fn go_yaml_resolves_non_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N",
        "no", "No", "NO", "off", "Off", "OFF", "true", "True", "TRUE", "false", "False", "FALSE",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    static FLOAT: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
            .expect("static regex")
    });
    static BASE60: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
            .expect("static regex")
    });
    static TIMESTAMP: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r"^[0-9]{4}-(0?[1-9]|1[0-2])-(0?[1-9]|[12][0-9]|3[01])(([Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?(Z|[-+][0-9]{2}:[0-9]{2}))|( [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?))?$",
        )
        .expect("static regex")
    });
    if SPECIAL.contains(&s) || BASE60.is_match(s) {
        return true;
    }
    match s.as_bytes()[0] {
        b'.' => s.parse::<f64>().is_ok(),
        b'0'..=b'9' | b'+' | b'-' => {
            let plain = s.replace('_', "");
            TIMESTAMP.is_match(s) || go_parse_int(&plain) || FLOAT.is_match(&plain)
        }
        _ => false,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` syntax (range not checked: an out-of-range decimal still
/// reads as a float).
fn go_parse_int(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let digits =
        |rest: &str, radix: u32| !rest.is_empty() && rest.chars().all(|c| c.is_digit(radix));
    let lower = s.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("0x") {
        digits(rest, 16)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        digits(rest, 8)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        digits(rest, 2)
    } else if let Some(rest) = s.strip_prefix('0') {
        rest.is_empty() || digits(rest, 8)
    } else {
        digits(s, 10)
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: shortest digits, exponent form below 1e-4 or
/// from 1e6 (Go's threshold for the shortest format), `e+06` style exponents.
pub(super) fn go_format_float(f: f64) -> String {
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        f.to_string()
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    }
}

/// go-yaml v2's map key order (`keyList.Less`): non-letters before letters, runs of digits
/// compared as numbers, otherwise by character.
fn go_yaml_key_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let less = |a: &str, b: &str| -> bool {
        let ar: Vec<char> = a.chars().collect();
        let br: Vec<char> = b.chars().collect();
        for i in 0..ar.len().min(br.len()) {
            if ar[i] == br[i] {
                continue;
            }
            let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
            if al && bl {
                return ar[i] < br[i];
            }
            if al || bl {
                return bl;
            }
            let (mut an, mut bn) = (0i64, 0i64);
            if ar[i] == '0' || br[i] == '0' {
                for j in (0..i).rev() {
                    if !ar[j].is_ascii_digit() {
                        break;
                    }
                    if ar[j] != '0' {
                        an = 1;
                        bn = 1;
                        break;
                    }
                }
            }
            let number = |r: &[char], mut n: i64| {
                let mut k = i;
                while k < r.len() && r[k].is_ascii_digit() {
                    n = n
                        .wrapping_mul(10)
                        .wrapping_add(i64::from(r[k] as u8 - b'0'));
                    k += 1;
                }
                (n, k)
            };
            let (an, ai) = number(&ar, an);
            let (bn, bi) = number(&br, bn);
            if an != bn {
                return an < bn;
            }
            if ai != bi {
                return ai < bi;
            }
            return ar[i] < br[i];
        }
        ar.len() < br.len()
    };
    if less(a, b) {
        Ordering::Less
    } else if less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// ESO's `fromYaml`: a map; a document that is not one gives `{"Error": "..."}`.
fn from_yaml(args: &[Value]) -> Result<Value, FuncError> {
    arity("fromYaml", args, 1)?;
    let s = str_arg("fromYaml", &args[0])?;
    let parsed = serde_yaml_ng::from_str::<serde_json::Value>(s);
    let mut map = HashMap::new();
    match parsed {
        Ok(serde_json::Value::Object(o)) => {
            return Ok(from_serde_json(serde_json::Value::Object(o)));
        }
        Ok(serde_json::Value::Null) => {}
        Ok(other) => {
            let got = match other {
                serde_json::Value::Array(_) => "array",
                serde_json::Value::String(_) => "string",
                serde_json::Value::Number(_) => "number",
                _ => "bool",
            };
            map.insert(
                "Error".to_owned(),
                Value::String(format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {got} into Go value of type map[string]interface {{}}"
                )),
            );
        }
        Err(e) => {
            map.insert(
                "Error".to_owned(),
                Value::String(format!("error converting YAML to JSON: {e}")),
            );
        }
    }
    Ok(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    #[test]
    fn yaml() {
        let d: &[(&str, &str)] = &[
            ("creds", r#"{"user":"admin","port":5432,"tags":["a","b"]}"#),
            ("bad", "not json"),
            ("cfg", "host: db\nport: 5432\n"),
            ("q", r#"pa"ss"#),
        ];
        check(&[
            // sigs.k8s.io/yaml: keys sorted, lists not indented, final newline trimmed by ESO.
            (
                r#"{{ dict "b" "x" "a" (list 1 2) | toYaml }}"#,
                d,
                "a:\n- 1\n- 2\nb: x",
            ),
            ("{{ (.cfg | fromYaml).host }}", d, "db"),
            ("{{ (.cfg | fromYaml).port }}", d, "5432"),
            (
                "{{ .cfg | fromYaml | toJson }}",
                d,
                r#"{"host":"db","port":5432}"#,
            ),
            (
                r#"{{ (fromYaml "- a").Error }}"#,
                d,
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}",
            ),
        ]);
        let err = render("{{ (.cfg | fromYaml).nope }}", d).unwrap_err();
        assert!(!err.to_string().contains("5432"), "{err}");
    }

    #[test]
    fn yaml_style_as_go_yaml_v2() {
        let d: &[(&str, &str)] = &[];
        check(&[
            (
                r#"{{ dict "a" "l1\nl2" | toYaml }}"#,
                d,
                "a: |-\n  l1\n  l2",
            ),
            // go-yaml v2 double-quotes what YAML 1.1 would read as another type; libyaml's
            // analysis single-quotes what cannot be plain.
            (
                r#"{{ dict "a" "true" "b" "" "c" "yes" "d" "1_000" "e" "- x" "f" "plain" "g" "2024-01-02" "h" "0x1F" "i" "1:20" | toYaml }}"#,
                d,
                "a: \"true\"\nb: \"\"\nc: \"yes\"\nd: \"1_000\"\ne: '- x'\nf: plain\ng: \"2024-01-02\"\nh: \"0x1F\"\ni: \"1:20\"",
            ),
            // keyList.Less: non-letters first, digit runs compared as numbers.
            (
                r#"{{ dict "a10" 1 "a2" 2 "B" 3 "_x" 4 | toYaml }}"#,
                d,
                "_x: 4\nB: 3\na2: 2\na10: 1",
            ),
            // "y" is a YAML 1.1 boolean, so go-yaml v2 quotes it even as a key.
            (
                r#"{{ dict "m" (dict "k" "v" "s" "l1\nl2") "l" (list "a" (dict "x" 1 "y" 2) (list 1 2)) "e" (dict) "z" (list) | toYaml }}"#,
                d,
                "e: {}\nl:\n- a\n- x: 1\n  \"y\": 2\n- - 1\n  - 2\nm:\n  k: v\n  s: |-\n    l1\n    l2\nz: []",
            ),
            (
                r#"{{ dict "f" 1.5 "g" 1234567.5 "h" 0.00001 | toYaml }}"#,
                d,
                "f: 1.5\ng: 1.2345675e+06\nh: 1e-05",
            ),
            (
                r#"{{ toYaml "x" }}|{{ toYaml (list) }}|{{ toYaml "true" }}"#,
                d,
                "x|[]|\"true\"",
            ),
        ]);
    }
}
