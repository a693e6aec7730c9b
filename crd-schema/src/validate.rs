//! OpenAPI validation with kube-openapi's semantics and messages, and list-type invariants.

use super::*;

// ---------------------------------------------------------------------------------------------
// OpenAPI validation (kube-openapi semantics, apiextensions error conversion)

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        // The server decodes a number as an int64, or as a float64 when it is not one (a
        // fraction, an exponent, or past the int64 range).
        Value::Number(n) if n.as_i64().is_none() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// go-openapi's `IsFloat64AJSONInteger`: a whole float64 within ±(2⁵³−1), what kube-openapi
/// accepts as an `integer` when the number was decoded as a float.
fn is_json_integer(f: f64) -> bool {
    const MAX_JSON_FLOAT: f64 = 9_007_199_254_740_991.0;
    f.is_finite() && f.fract() == 0.0 && f.abs() <= MAX_JSON_FLOAT
}

pub(crate) fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

pub(crate) fn check_format(format: &str, s: &str) -> bool {
    match format {
        "date-time" | "datetime" => is_date_time(s),
        "date" => is_date(s),
        "byte" => {
            use base64_check::is_std_base64;
            is_std_base64(s)
        }
        "uuid" => is_uuid(s),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        _ => true,
    }
}

pub(crate) fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn is_date(s: &str) -> bool {
    let p: Vec<&str> = s.split('-').collect();
    if p.len() != 3 || !digits(p[0], 4) || !digits(p[1], 2) || !digits(p[2], 2) {
        return false;
    }
    let (m, d): (u32, u32) = (p[1].parse().unwrap_or(0), p[2].parse().unwrap_or(0));
    (1..=12).contains(&m) && (1..=31).contains(&d)
}

pub(crate) fn is_date_time(s: &str) -> bool {
    let Some((date, time)) = s.split_once(['T', 't', ' ']) else {
        return false;
    };
    if !is_date(date) || !time.is_char_boundary(8.min(time.len())) || time.len() < 8 {
        return false;
    }
    let (hms, mut rest) = time.split_at(8);
    let hp: Vec<&str> = hms.split(':').collect();
    if hp.len() != 3 || !hp.iter().all(|x| digits(x, 2)) {
        return false;
    }
    let (h, mi, se): (u32, u32, u32) = (
        hp[0].parse().unwrap_or(99),
        hp[1].parse().unwrap_or(99),
        hp[2].parse().unwrap_or(99),
    );
    if h > 23 || mi > 59 || se > 60 {
        return false;
    }
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &r[n..];
    }
    match rest {
        "Z" | "z" => true,
        _ => {
            let Some(off) = rest.strip_prefix(['+', '-']) else {
                return false;
            };
            let off = off.replace(':', "");
            digits(&off, 4)
        }
    }
}

pub(crate) fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub(crate) mod base64_check {
    pub(super) fn is_std_base64(s: &str) -> bool {
        let b = s.as_bytes();
        if !b.len().is_multiple_of(4) {
            return false;
        }
        let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return false;
        }
        b[..b.len() - pad]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
    }
}

pub(crate) fn validate(v: &Value, s: &Sch, path: &str, errs: &mut Vec<FieldCause>) {
    let field = path;
    if v.is_null() {
        if s.nullable {
            return;
        }
        if s.types.is_some() || s.int_or_string {
            let expected = if s.int_or_string {
                "integer,string".to_string()
            } else {
                s.types.clone().unwrap_or_default()
            };
            errs.push(type_invalid(
                field,
                &Value::String("null".into()),
                &format!("{path} in body must be of type {expected}: \"null\""),
            ));
        }
        return;
    }
    let actual = json_type(v);
    let type_ok = if s.int_or_string {
        matches!(actual, "integer" | "string")
    } else {
        match s.types.as_deref() {
            None | Some("") => true,
            Some(t) => {
                t == actual
                    || (t == "number" && actual == "integer")
                    || (t == "integer"
                        && actual == "number"
                        && v.as_f64().is_some_and(is_json_integer))
            }
        }
    };
    if !type_ok {
        let expected = if s.int_or_string {
            "integer,string".to_string()
        } else {
            s.types.clone().unwrap_or_default()
        };
        errs.push(type_invalid(
            field,
            &Value::String(actual.into()),
            &format!(
                "{path} in body must be of type {expected}: {}",
                go_quote(actual)
            ),
        ));
        check_enum(v, s, field, errs);
        return;
    }

    match v {
        Value::String(st) => {
            if let Some(f) = &s.format
                && !check_format(f, st)
            {
                errs.push(type_invalid(
                    field,
                    v,
                    &format!("{path} in body must be of type {f}: {}", go_quote(st)),
                ));
            }
            let len = st.chars().count() as u64;
            if let Some(max) = s.max_length
                && len > max
            {
                let unit = if max == 1 { "byte" } else { "bytes" };
                errs.push(cause(
                    "FieldValueTooLong",
                    field,
                    format!("Too long: may not be more than {max} {unit}"),
                ));
            }
            if let Some(min) = s.min_length
                && len < min
            {
                errs.push(invalid(
                    field,
                    v,
                    &format!("{path} in body should be at least {min} chars long"),
                ));
            }
            if let Some((p, re)) = &s.pattern
                && !re.is_match(st)
            {
                errs.push(invalid(
                    field,
                    v,
                    &format!("{path} in body should match '{p}'"),
                ));
            }
        }
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            if let Some(m) = s.multiple_of
                && m > 0.0
                && (f / m).fract() != 0.0
            {
                errs.push(invalid(
                    field,
                    v,
                    &format!("{path} in body should be a multiple of {}", go_float(m)),
                ));
            }
            if let Some(max) = s.maximum {
                let bad = if s.exclusive_maximum {
                    f >= max
                } else {
                    f > max
                };
                if bad {
                    let op = if s.exclusive_maximum {
                        "less than"
                    } else {
                        "less than or equal to"
                    };
                    errs.push(invalid(
                        field,
                        v,
                        &format!("{path} in body should be {op} {}", go_float(max)),
                    ));
                }
            }
            if let Some(min) = s.minimum {
                let bad = if s.exclusive_minimum {
                    f <= min
                } else {
                    f < min
                };
                if bad {
                    let op = if s.exclusive_minimum {
                        "greater than"
                    } else {
                        "greater than or equal to"
                    };
                    errs.push(invalid(
                        field,
                        v,
                        &format!("{path} in body should be {op} {}", go_float(min)),
                    ));
                }
            }
        }
        Value::Array(a) => {
            check_count(
                a.len(),
                s.min_items,
                s.max_items,
                "items",
                path,
                field,
                errs,
            );
            if let Some(items) = &s.items {
                for (i, item) in a.iter().enumerate() {
                    validate(item, items, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Value::Object(m) => {
            check_count(
                m.len(),
                s.min_properties,
                s.max_properties,
                "properties",
                path,
                field,
                errs,
            );
            for r in &s.required {
                if !m.contains_key(r) {
                    errs.push(cause(
                        "FieldValueRequired",
                        &child_path(path, r),
                        "Required value".into(),
                    ));
                }
            }
            for (k, cv) in m {
                if let Some(cs) = s.child(k) {
                    validate(cv, cs, &child_path(path, k), errs);
                }
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
    check_enum(v, s, field, errs);
    check_composition(v, s, path, errs);
}

pub(crate) fn check_enum(v: &Value, s: &Sch, field: &str, errs: &mut Vec<FieldCause>) {
    let Some(values) = &s.enumeration else { return };
    if values.iter().any(|e| json_eq(e, v)) {
        return;
    }
    let supported: Vec<String> = values
        .iter()
        .map(|e| match e {
            Value::String(s) => go_quote(s),
            other => go_quote(&serde_json::to_string(other).unwrap_or_default()),
        })
        .collect();
    let mut msg = format!("Unsupported value: {}", bad_value(v));
    if !supported.is_empty() {
        msg.push_str(&format!(": supported values: {}", supported.join(", ")));
    }
    errs.push(cause("FieldValueNotSupported", field, msg));
}

/// `allOf`/`anyOf`/`oneOf`/`not`. The composite error is not a `*Validation` error, so the
/// server reports it on the object root (`field.Invalid(nil, "", msg)`), the path being in the
/// message.
pub(crate) fn check_composition(v: &Value, s: &Sch, path: &str, errs: &mut Vec<FieldCause>) {
    let run = |b: &Sch| {
        let mut e = Vec::new();
        validate(v, b, path, &mut e);
        e
    };
    let composite = |msg: String| invalid("", &Value::String(String::new()), &msg);
    if !s.all_of.is_empty() {
        let mut failed = Vec::new();
        for b in &s.all_of {
            failed.extend(run(b));
        }
        if !failed.is_empty() {
            errs.push(composite(format!(
                "{} must validate all the schemas (allOf)",
                go_quote(path)
            )));
            errs.extend(failed);
        }
    }
    if !s.any_of.is_empty() {
        let results: Vec<Vec<FieldCause>> = s.any_of.iter().map(run).collect();
        if !results.iter().any(Vec::is_empty) {
            errs.push(composite(format!(
                "{} must validate at least one schema (anyOf)",
                go_quote(path)
            )));
            if let Some(best) = results.into_iter().min_by_key(Vec::len) {
                errs.extend(best);
            }
        }
    }
    if !s.one_of.is_empty() {
        let results: Vec<Vec<FieldCause>> = s.one_of.iter().map(run).collect();
        let valid = results.iter().filter(|r| r.is_empty()).count();
        if valid != 1 {
            let extra = if valid == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {valid} valid alternatives")
            };
            errs.push(composite(format!(
                "{} must validate one and only one schema (oneOf). {extra}",
                go_quote(path)
            )));
            if valid == 0
                && let Some(best) = results.into_iter().min_by_key(Vec::len)
            {
                errs.extend(best);
            }
        }
    }
    if let Some(n) = &s.not
        && run(n).is_empty()
    {
        errs.push(composite(format!(
            "{} must not validate the schema (not)",
            go_quote(path)
        )));
    }
}

/// `structurallisttype.ValidateListSetsAndMaps`: no duplicate items in sets, no duplicate keys in
/// maps.
pub(crate) fn list_invariants(v: &Value, s: &Sch, path: &str, errs: &mut Vec<FieldCause>) {
    match v {
        Value::Array(a) => {
            match s.list_type.as_deref() {
                Some("set") => {
                    for (i, item) in a.iter().enumerate() {
                        if a[..i].iter().any(|p| json_eq(p, item)) {
                            errs.push(cause(
                                "FieldValueDuplicate",
                                &format!("{path}[{i}]"),
                                format!("Duplicate value: {}", bad_value(item)),
                            ));
                        }
                    }
                }
                Some("map") => {
                    let key_of = |item: &Value| -> Option<Map<String, Value>> {
                        let m = item.as_object()?;
                        let mut k = Map::new();
                        for name in &s.list_map_keys {
                            let kv = m.get(name).cloned().or_else(|| {
                                s.items
                                    .as_ref()
                                    .and_then(|it| it.properties.get(name))
                                    .and_then(|p| p.default.clone())
                            });
                            if let Some(kv) = kv {
                                k.insert(name.clone(), kv);
                            }
                        }
                        Some(k)
                    };
                    let keys: Vec<Option<Map<String, Value>>> = a.iter().map(key_of).collect();
                    for i in 0..keys.len() {
                        if let Some(k) = &keys[i]
                            && keys[..i].iter().any(|p| p.as_ref() == Some(k))
                        {
                            errs.push(cause(
                                "FieldValueDuplicate",
                                &format!("{path}[{i}]"),
                                format!(
                                    "Duplicate value: {}",
                                    go_sharp_v(&Value::Object(k.clone()))
                                ),
                            ));
                        }
                    }
                }
                _ => {}
            }
            if let Some(items) = &s.items {
                for (i, item) in a.iter().enumerate() {
                    list_invariants(item, items, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Value::Object(m) => {
            for (k, cv) in m {
                if let Some(cs) = s.child(k) {
                    list_invariants(cv, cs, &child_path(path, k), errs);
                }
            }
        }
        _ => {}
    }
}
