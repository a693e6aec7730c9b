//! Go-style rendering of values and the field errors the API server reports.

use super::*;

// ---------------------------------------------------------------------------------------------
// Go-style value rendering (field.Error.ErrorBody)

pub(crate) fn go_num(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    go_float(f)
}

pub(crate) fn go_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{f:.0}")
    } else if f.abs() >= 1e21 || (f != 0.0 && f.abs() < 1e-4) {
        let s = format!("{f:e}");
        // Go prints 1e+21, Rust 1e21.
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
            None => s,
        }
    } else {
        f.to_string()
    }
}

pub(crate) fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Go's `%#v` of a decoded JSON value.
pub(crate) fn go_sharp_v(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_num(n),
        Value::String(s) => go_quote(s),
        Value::Array(a) => format!(
            "[]interface {{}}{{{}}}",
            a.iter().map(go_sharp_v).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "map[string]interface {{}}{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_sharp_v(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The bad value as `field.Error.ErrorBody` prints it.
pub(crate) fn bad_value(v: &Value) -> String {
    match v {
        Value::Null => "\"null\"".into(),
        Value::String(s) => go_quote(s),
        Value::Number(n) => go_num(n),
        Value::Bool(b) => b.to_string(),
        other => go_sharp_v(other),
    }
}

/// `minItems`/`maxItems` and `minProperties`/`maxProperties`, with the real server's messages
/// (`Too many` counts "items" either way; the lower bound names what is counted).
pub(crate) fn check_count(
    len: usize,
    min: Option<u64>,
    max: Option<u64>,
    noun: &str,
    path: &str,
    field: &str,
    errs: &mut Vec<FieldCause>,
) {
    let len = len as u64;
    if let Some(max) = max
        && len > max
    {
        let unit = if max == 1 { "item" } else { "items" };
        errs.push(cause(
            "FieldValueTooMany",
            field,
            format!("Too many: {len}: must have at most {max} {unit}"),
        ));
    }
    if let Some(min) = min
        && len < min
    {
        errs.push(invalid(
            field,
            &Value::from(len),
            &format!("{path} in body should have at least {min} {noun}"),
        ));
    }
}

pub(crate) fn cause(reason: &str, field: &str, message: String) -> FieldCause {
    FieldCause {
        reason: reason.into(),
        message,
        field: field.into(),
    }
}

pub(crate) fn invalid(field: &str, value: &Value, detail: &str) -> FieldCause {
    cause(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {}: {detail}", bad_value(value)),
    )
}

pub(crate) fn type_invalid(field: &str, value: &Value, detail: &str) -> FieldCause {
    cause(
        "FieldValueTypeInvalid",
        field,
        format!("Invalid value: {}: {detail}", bad_value(value)),
    )
}

pub(crate) fn is_blocking(c: &FieldCause) -> bool {
    matches!(
        c.reason.as_str(),
        "FieldValueNotSupported"
            | "FieldValueRequired"
            | "FieldValueTooLong"
            | "FieldValueTooMany"
            | "FieldValueTypeInvalid"
    )
}
