//! Template values: how bytes travel through the engine as strings, and the argument helpers
//! every function family shares (Go's `string`/`int` parameters, sprig's `strval`, `empty`, …).

use std::fmt::Write as _;

use gtmpl_ng::{FuncError, NumberKind, Value};

// ---------------------------------------------------------------------------------------------
// Bytes in engine strings.

/// First of the 128 private-use characters that stand for the bytes 0x80..=0xFF.
pub(super) const BYTE_ESCAPE_BASE: u32 = 0x10_FF00;

pub(super) fn escape_byte(b: u8) -> char {
    char::from_u32(BYTE_ESCAPE_BASE + u32::from(b)).expect("U+10FF80..U+10FFFF are scalars")
}

pub(super) fn escaped_byte(c: char) -> Option<u8> {
    let n = u32::from(c);
    (n >= BYTE_ESCAPE_BASE + 0x80)
        .then(|| u8::try_from(n - BYTE_ESCAPE_BASE).ok())
        .flatten()
}

/// Whether `c` is one of the 128 private-use characters below the byte escapes (U+10FF00 to
/// U+10FF7F): they carry hidden ASCII text (see [`hidden`]) and print as nothing.
fn is_hidden(c: char) -> bool {
    (BYTE_ESCAPE_BASE..BYTE_ESCAPE_BASE + 0x80).contains(&u32::from(c))
}

/// ASCII text that travels with an engine string without being printed: a date keeps its instant
/// and time zone this way beside the text Go prints for it. Not ASCII is dropped.
pub(super) fn hidden(text: &str) -> String {
    text.bytes()
        .filter(u8::is_ascii)
        .filter_map(|b| char::from_u32(BYTE_ESCAPE_BASE + u32::from(b)))
        .collect()
}

/// The hidden text in `s` (see [`hidden`]), if any.
pub(super) fn hidden_text(s: &str) -> Option<String> {
    let text: String = s
        .chars()
        .filter(|&c| is_hidden(c))
        .filter_map(|c| u8::try_from(u32::from(c) - BYTE_ESCAPE_BASE).ok())
        .map(char::from)
        .collect();
    (!text.is_empty()).then_some(text)
}

/// Bytes as an engine string: UTF-8 stays text, every other byte (and, to stay reversible, the
/// UTF-8 bytes of a character in the escape or hidden range) becomes its escape character.
pub(crate) fn bytes_to_tstr(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if escaped_byte(c).is_some() || is_hidden(c) {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push(escape_byte(b));
                }
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            out.push(escape_byte(b));
        }
    }
    out
}

/// The bytes an engine string stands for (hidden text is not part of them).
pub(crate) fn tstr_to_bytes(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars().filter(|&c| !is_hidden(c)) {
        match escaped_byte(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Arguments.

pub(super) fn generic(msg: impl Into<String>) -> FuncError {
    FuncError::Generic(msg.into())
}

pub(super) fn arity(name: &str, args: &[Value], n: usize) -> Result<(), FuncError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(generic(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )))
    }
}

pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::NoValue | Value::Nil => "nil",
        Value::Bool(_) => "bool",
        Value::String(_) => "string",
        Value::Object(_) | Value::Map(_) => "map",
        Value::Array(_) => "slice",
        Value::Function(_) => "func",
        Value::Number(_) => "number",
    }
}

/// A `string` parameter: Go's template engine passes only strings to one.
pub(super) fn str_arg<'a>(name: &str, v: &'a Value) -> Result<&'a str, FuncError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(generic(format!(
            "wrong type for value in {name}; expected string; got {}",
            kind(other)
        ))),
    }
}

/// An `int` parameter.
pub(super) fn int_arg(name: &str, v: &Value) -> Result<i64, FuncError> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| {
            generic(format!(
                "wrong type for value in {name}; expected int; got {n}"
            ))
        }),
        other => Err(generic(format!(
            "wrong type for value in {name}; expected int; got {}",
            kind(other)
        ))),
    }
}

pub(super) fn is_nil(v: &Value) -> bool {
    matches!(v, Value::Nil | Value::NoValue)
}

/// sprig's `strval`: a string as is, anything else as Go's `%v` prints it.
pub(super) fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// sprig's `empty`.
pub(super) fn is_empty(v: &Value) -> bool {
    match v {
        Value::NoValue | Value::Nil => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Object(m) | Value::Map(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Function(_) => false,
        Value::Number(n) => n.as_f64().map_or_else(
            || n.as_i64().map_or(n.as_u64() == Some(0), |i| i == 0),
            |f| f == 0.0,
        ),
    }
}

/// sprig's `strslice`: a list's non-nil items as strings; nil is no items; any other value is
/// one item.
pub(super) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().filter(|i| !is_nil(i)).map(strval).collect(),
        v if is_nil(v) => Vec::new(),
        other => vec![strval(other)],
    }
}

/// spf13/cast's `ToInt64` (v1.10, as ESO builds sprig): numbers truncated, booleans 1/0, a string
/// parsed by `strconv.ParseInt(s, 0, 64)` after dropping a decimal part; anything else, or an
/// error, is 0.
pub(super) fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Number(n) => number_i64(n),
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => go_parse_int(&trim_decimal(s)).unwrap_or(0),
        _ => 0,
    }
}

fn number_i64(n: &gtmpl_ng::Number) -> i64 {
    match n.kind() {
        NumberKind::Signed(i) => i,
        // Go converts with wrapping, as int64(uint64) does.
        NumberKind::Unsigned(u) => u as i64,
        NumberKind::Float(f) => f as i64,
    }
}

/// cast's `trimDecimal`: "12.5" → "12", "-.5" → "-0"; other text unchanged.
fn trim_decimal(s: &str) -> String {
    if !s.contains('.') {
        return s.to_owned();
    }
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let sign_len = usize::from(int.starts_with(['+', '-']));
    let digits_ok = int[sign_len..].bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    if !digits_ok {
        return s.to_owned();
    }
    match int {
        "" => "0".to_owned(),
        "+" | "-" => format!("{int}0"),
        _ => int.to_owned(),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: sign, base prefix (`0x`, `0o`, `0b`, or a leading `0` for
/// octal), underscores between digits as in Go literals.
pub(super) fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    let bad_underscore = (digits.starts_with('_') && !prefixed) || digits.ends_with('_');
    if digits.is_empty() || bad_underscore || digits.contains("__") {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    let magnitude = u64::from_str_radix(&clean, radix).ok()?;
    if neg {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// spf13/cast's `ToFloat64`: numbers as floats, booleans 1/0, a string by
/// `strconv.ParseFloat`; anything else, or an error, is 0.
pub(super) fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Number(n) => match n.kind() {
            NumberKind::Signed(i) => i as f64,
            NumberKind::Unsigned(u) => u as f64,
            NumberKind::Float(f) => f,
        },
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => go_parse_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal text, `inf`/`infinity`/`nan` in any case, and
/// hexadecimal mantissas are not read (0, as an error).
pub(super) fn go_parse_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return s.parse::<f64>().ok();
    }
    let ok = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if ok { s.parse::<f64>().ok() } else { None }
}

/// A Go float64 result: kept a float even when whole, so `typeOf` and `kindOf` say float64.
pub(super) fn float(f: f64) -> Value {
    Value::Number(gtmpl_ng::Number::float(f))
}

/// A Go int/int64 result.
pub(super) fn int(i: i64) -> Value {
    Value::Number(gtmpl_ng::Number::signed(i))
}

/// A list argument (Go's reflect Slice or Array); `what` words sprig's error, "Cannot {what} on
/// type string".
pub(super) fn list_arg<'a>(what: &str, v: &'a Value) -> Result<&'a [Value], FuncError> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(generic(format!("Cannot {what} on type {}", go_kind(other)))),
    }
}

/// A `map[string]interface{}` argument.
pub(super) fn map_arg<'a>(
    name: &str,
    v: &'a Value,
) -> Result<&'a std::collections::HashMap<String, Value>, FuncError> {
    match v {
        Value::Map(m) | Value::Object(m) => Ok(m),
        other => Err(generic(format!(
            "wrong type for value in {name}; expected map[string]interface {{}}; got {}",
            go_type(other)
        ))),
    }
}

/// Go's `reflect.Kind` name of a value, as sprig's `kindOf` prints it.
pub(super) fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::NoValue | Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::String(s) if hidden_text(s).is_some() => "struct",
        Value::String(_) => "string",
        Value::Object(_) | Value::Map(_) => "map",
        Value::Array(_) => "slice",
        Value::Function(_) => "func",
        Value::Number(n) => match n.kind() {
            NumberKind::Float(_) => "float64",
            _ => "int",
        },
    }
}

/// Go's `%T` of a value, as sprig's `typeOf` prints it.
pub(super) fn go_type(v: &Value) -> &'static str {
    match v {
        Value::NoValue | Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::String(s) if hidden_text(s).is_some() => "time.Time",
        Value::String(_) => "string",
        Value::Object(_) | Value::Map(_) => "map[string]interface {}",
        Value::Array(_) => "[]interface {}",
        Value::Function(_) => "func",
        Value::Number(n) => match n.kind() {
            NumberKind::Float(_) => "float64",
            _ => "int",
        },
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::template::testing::*;

    #[test]
    fn binary_values_survive_the_engine() {
        let data = bytes_map(&[("bin", &[0xff, 0x00, 0x80]), ("b64", b"/wCA")]);
        assert_eq!(
            render_bytes("{{ .bin | b64enc }}", data.clone()).unwrap(),
            b"/wCA"
        );
        assert_eq!(
            render_bytes("{{ .b64 | b64dec }}", data.clone()).unwrap(),
            [0xff, 0x00, 0x80]
        );
        assert_eq!(
            render_bytes("x{{ .bin }}y", data.clone()).unwrap(),
            [b'x', 0xff, 0x00, 0x80, b'y']
        );
        assert_eq!(
            render_bytes("{{ .bin | sha256sum }}", data.clone()).unwrap(),
            b"ef192b7af54e943f206ab27075ec1805384c972c9959fc5820f1fa7d5268fcef"
        );
        // Go's %q writes a byte that is not UTF-8 as \xNN.
        assert_eq!(
            render_bytes("{{ .bin | quote }}", data).unwrap(),
            br#""\xff\x00\x80""#
        );
        // A genuine character from the escape range round-trips too.
        let odd = "a\u{10FFAA}b".as_bytes().to_vec();
        let data = bytes_map(&[("odd", &odd)]);
        assert_eq!(render_bytes("{{ .odd }}", data).unwrap(), odd);
    }

    #[test]
    fn byte_escaping_round_trips() {
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(tstr_to_bytes(&bytes_to_tstr(&all)), all);
        let text = "plain ascii and ünïcödé";
        assert_eq!(bytes_to_tstr(text.as_bytes()), text);
    }
}
