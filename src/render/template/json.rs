//! sprig's JSON functions, with Go's `encoding/json` output (sorted keys, HTML escaping), and
//! the conversions between template values and JSON values that YAML and others reuse.

use gtmpl_ng::{Func, FuncError, Value};

use super::values::{arity, generic, str_arg};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("toJson", to_json),
    ("mustToJson", must_to_json),
    ("toRawJson", to_raw_json),
    ("mustToRawJson", must_to_raw_json),
    ("toPrettyJson", to_pretty_json),
    ("mustToPrettyJson", must_to_pretty_json),
    ("fromJson", from_json),
    ("mustFromJson", must_from_json),
];

/// Go's `encoding/json` for a template value: sorted keys, `<no value>`/nil as `null`.
pub(super) fn to_serde_json(v: &Value) -> Result<serde_json::Value, FuncError> {
    Ok(match v {
        Value::NoValue | Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => {
            serde_json::Value::String(super::dates::json_text(v).unwrap_or_else(|| s.clone()))
        }
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                serde_json::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                serde_json::Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(serde_json::Value::Number)
                    .ok_or_else(|| generic(format!("json: unsupported value: {f}")))?
            }
        }
        Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(to_serde_json).collect::<Result<_, _>>()?)
        }
        Value::Object(m) | Value::Map(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), to_serde_json(v)?)))
                .collect::<Result<_, FuncError>>()?,
        ),
        Value::Function(_) => {
            return Err(generic("json: unsupported type: func"));
        }
    })
}

pub(super) fn from_serde_json(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(u)) => Value::from(u),
            _ => Value::from(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(a) => Value::Array(a.into_iter().map(from_serde_json).collect()),
        // An Object, like the data: a missing field is an error, as under `missingkey=error`.
        serde_json::Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, from_serde_json(v)))
                .collect(),
        ),
    }
}

/// Go's `json.Marshal` escapes `<`, `>`, `&`, U+2028 and U+2029 in strings; serde_json does
/// not. They only occur inside strings in JSON text, so a plain replace is exact.
fn escape_html(json: String) -> String {
    if !json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return json;
    }
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

enum JsonStyle {
    Compact,
    Raw,
    Pretty,
}

fn marshal(name: &str, args: &[Value], style: JsonStyle) -> Result<String, FuncError> {
    arity(name, args, 1)?;
    let v = to_serde_json(&args[0])?;
    let text = match style {
        JsonStyle::Compact => {
            escape_html(serde_json::to_string(&v).map_err(|e| generic(e.to_string()))?)
        }
        JsonStyle::Raw => {
            // Go's Encoder with SetEscapeHTML(false) still escapes U+2028/U+2029.
            serde_json::to_string(&v)
                .map_err(|e| generic(e.to_string()))?
                .replace('\u{2028}', "\\u2028")
                .replace('\u{2029}', "\\u2029")
        }
        JsonStyle::Pretty => {
            escape_html(serde_json::to_string_pretty(&v).map_err(|e| generic(e.to_string()))?)
        }
    };
    Ok(text)
}

fn to_json(args: &[Value]) -> Result<Value, FuncError> {
    // sprig's toJson swallows a marshalling error into "".
    Ok(Value::String(
        marshal("toJson", args, JsonStyle::Compact).unwrap_or_default(),
    ))
}

fn must_to_json(args: &[Value]) -> Result<Value, FuncError> {
    marshal("mustToJson", args, JsonStyle::Compact).map(Value::String)
}

fn to_raw_json(args: &[Value]) -> Result<Value, FuncError> {
    marshal("toRawJson", args, JsonStyle::Raw).map(Value::String)
}

fn must_to_raw_json(args: &[Value]) -> Result<Value, FuncError> {
    marshal("mustToRawJson", args, JsonStyle::Raw).map(Value::String)
}

fn to_pretty_json(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        marshal("toPrettyJson", args, JsonStyle::Pretty).unwrap_or_default(),
    ))
}

fn must_to_pretty_json(args: &[Value]) -> Result<Value, FuncError> {
    marshal("mustToPrettyJson", args, JsonStyle::Pretty).map(Value::String)
}

fn parse_json(name: &str, args: &[Value]) -> Result<Value, FuncError> {
    arity(name, args, 1)?;
    let s = str_arg(name, &args[0])?;
    serde_json::from_str::<serde_json::Value>(s)
        .map(from_serde_json)
        .map_err(|e| generic(format!("{name}: invalid JSON: {e}")))
}

fn from_json(args: &[Value]) -> Result<Value, FuncError> {
    // sprig's fromJson gives nil on invalid JSON; only a wrong call is an error.
    arity("fromJson", args, 1)?;
    str_arg("fromJson", &args[0])?;
    Ok(parse_json("fromJson", args).unwrap_or(Value::Nil))
}

fn must_from_json(args: &[Value]) -> Result<Value, FuncError> {
    parse_json("mustFromJson", args)
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    #[test]
    fn json() {
        let d: &[(&str, &str)] = &[
            ("creds", r#"{"user":"admin","port":5432,"tags":["a","b"]}"#),
            ("bad", "not json"),
            ("cfg", "host: db\nport: 5432\n"),
            ("q", r#"pa"ss"#),
        ];
        check(&[
            // encoding/json sorts map keys and escapes <, > and & in strings.
            (
                r#"{{ dict "b" "x<y" "a" 1 | toJson }}"#,
                d,
                r#"{"a":1,"b":"x\u003cy"}"#,
            ),
            (
                r#"{{ dict "b" "x<y" "a" 1 | toRawJson }}"#,
                d,
                r#"{"a":1,"b":"x<y"}"#,
            ),
            (
                r#"{{ dict "b" "x<y" "a" 1 | mustToJson }}"#,
                d,
                r#"{"a":1,"b":"x\u003cy"}"#,
            ),
            (r#"{{ dict "a" 1 | toPrettyJson }}"#, d, "{\n  \"a\": 1\n}"),
            ("{{ .q | toJson }}", d, r#""pa\"ss""#),
            (r#"{{ list 1 "a" true | toJson }}"#, d, r#"[1,"a",true]"#),
            ("{{ (.creds | fromJson).user }}", d, "admin"),
            ("{{ (.creds | fromJson).port }}", d, "5432"),
            ("{{ (.creds | fromJson).tags | join \",\" }}", d, "a,b"),
            (
                "{{ .creds | fromJson | toJson }}",
                d,
                r#"{"port":5432,"tags":["a","b"],"user":"admin"}"#,
            ),
            // sprig's fromJson swallows the error: the result is nil, printed as <no value>.
            ("{{ .bad | fromJson }}", d, "<no value>"),
        ]);
        // missingkey=error holds in parsed maps too, and the error does not print the map.
        let err = render("{{ (.creds | fromJson).nope }}", d).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(r#"map has no entry for key "nope""#),
            "{text}"
        );
        assert!(!text.contains("admin") && !text.contains("5432"), "{text}");
        let err = render("{{ .bad | mustFromJson }}", d).unwrap_err();
        assert!(err.to_string().contains("invalid JSON"), "{err}");
    }
}
