//! sprig's string functions that ESO's templates use most: case, trimming, quoting, splitting
//! and joining, indentation, truncation. Go strings are bytes: functions that count or cut count
//! bytes, as Go does.

use std::collections::HashMap;
use std::fmt::Write as _;

use gtmpl_ng::{Func, FuncError, Value};

use super::values::{
    arity, bytes_to_tstr, escaped_byte, generic, int_arg, is_nil, str_arg, strslice, strval,
    tstr_to_bytes,
};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("upper", upper),
    ("lower", lower),
    ("trim", trim),
    ("trimAll", trim_all),
    ("quote", quote),
    ("squote", squote),
    ("replace", replace),
    ("indent", indent),
    ("nindent", nindent),
    ("join", join),
    ("split", split),
    ("splitList", split_list),
    ("splitn", splitn),
    ("cat", cat),
    ("trunc", trunc),
    ("substr", substr),
    ("sortAlpha", sort_alpha),
];

/// Go's `unicode.ToUpper`/`ToLower` per character: simple case mapping, so a character whose
/// full mapping is several characters keeps its one-character mapping or itself.
fn go_case(s: &str, upper: bool) -> String {
    s.chars()
        .map(|c| {
            if escaped_byte(c).is_some() {
                return c;
            }
            let mapped: Vec<char> = if upper {
                c.to_uppercase().collect()
            } else {
                c.to_lowercase().collect()
            };
            match mapped.as_slice() {
                [one] => *one,
                // U+0130's simple lowercase is 'i'; the full mapping adds a combining dot.
                _ if c == '\u{130}' && !upper => 'i',
                _ => c,
            }
        })
        .collect()
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    arity("upper", args, 1)?;
    Ok(Value::String(go_case(str_arg("upper", &args[0])?, true)))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    arity("lower", args, 1)?;
    Ok(Value::String(go_case(str_arg("lower", &args[0])?, false)))
}

fn trim(args: &[Value]) -> Result<Value, FuncError> {
    arity("trim", args, 1)?;
    // Go's strings.TrimSpace and Rust's trim agree: both trim Unicode White_Space.
    Ok(Value::from(str_arg("trim", &args[0])?.trim()))
}

fn trim_all(args: &[Value]) -> Result<Value, FuncError> {
    arity("trimAll", args, 2)?;
    let cutset: Vec<char> = str_arg("trimAll", &args[0])?.chars().collect();
    let s = str_arg("trimAll", &args[1])?;
    Ok(Value::from(s.trim_matches(cutset.as_slice())))
}

/// Go's `strconv.Quote` of an engine string: gtmpl-ng's `%q` for text, `\xNN` for raw bytes.
fn go_quote(s: &str) -> Result<String, FuncError> {
    let mut out = String::from("\"");
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| -> Result<(), FuncError> {
        if !run.is_empty() {
            let q = gtmpl_ng::funcs::printf(&[Value::from("%q"), Value::from(run.as_str())])?;
            let q = q.to_string();
            out.push_str(&q[1..q.len() - 1]);
            run.clear();
        }
        Ok(())
    };
    for c in s.chars() {
        match escaped_byte(c) {
            Some(b) => {
                flush(&mut run, &mut out)?;
                let _ = write!(out, "\\x{b:02x}");
            }
            None => run.push(c),
        }
    }
    flush(&mut run, &mut out)?;
    out.push('"');
    Ok(out)
}

fn quote(args: &[Value]) -> Result<Value, FuncError> {
    let quoted: Result<Vec<String>, FuncError> = args
        .iter()
        .filter(|v| !is_nil(v))
        .map(|v| go_quote(&strval(v)))
        .collect();
    Ok(Value::String(quoted?.join(" ")))
}

fn squote(args: &[Value]) -> Result<Value, FuncError> {
    let quoted: Vec<String> = args
        .iter()
        .filter(|v| !is_nil(v))
        .map(|v| format!("'{v}'"))
        .collect();
    Ok(Value::String(quoted.join(" ")))
}

fn replace(args: &[Value]) -> Result<Value, FuncError> {
    arity("replace", args, 3)?;
    let old = str_arg("replace", &args[0])?;
    let new = str_arg("replace", &args[1])?;
    let src = str_arg("replace", &args[2])?;
    Ok(Value::String(src.replace(old, new)))
}

fn indent_str(name: &str, args: &[Value]) -> Result<String, FuncError> {
    arity(name, args, 2)?;
    let spaces = int_arg(name, &args[0])?;
    let s = str_arg(name, &args[1])?;
    let spaces = gtmpl_ng::helm_functions::bounded_count(spaces, "spaces", name)?;
    let pad = " ".repeat(spaces);
    Ok(format!("{pad}{}", s.replace('\n', &format!("\n{pad}"))))
}

fn indent(args: &[Value]) -> Result<Value, FuncError> {
    indent_str("indent", args).map(Value::String)
}

fn nindent(args: &[Value]) -> Result<Value, FuncError> {
    indent_str("nindent", args).map(|s| Value::String(format!("\n{s}")))
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    arity("join", args, 2)?;
    let sep = str_arg("join", &args[0])?;
    Ok(Value::String(strslice(&args[1]).join(sep)))
}

fn parts_map(parts: Vec<&str>) -> Value {
    let map: HashMap<String, Value> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("_{i}"), Value::from(p)))
        .collect();
    Value::Map(map)
}

/// Go's `strings.Split`: an empty separator splits after each character.
fn go_split(s: &str, sep: &str, n: Option<usize>) -> Vec<String> {
    if sep.is_empty() {
        let chars: Vec<String> = s.chars().map(String::from).collect();
        return match n {
            Some(n) if n < chars.len() => {
                let mut head: Vec<String> = chars[..n - 1].to_vec();
                head.push(chars[n - 1..].concat());
                head
            }
            _ => chars,
        };
    }
    match n {
        Some(n) => s.splitn(n, sep).map(str::to_owned).collect(),
        None => s.split(sep).map(str::to_owned).collect(),
    }
}

fn split(args: &[Value]) -> Result<Value, FuncError> {
    arity("split", args, 2)?;
    let parts = go_split(
        str_arg("split", &args[1])?,
        str_arg("split", &args[0])?,
        None,
    );
    Ok(parts_map(parts.iter().map(String::as_str).collect()))
}

fn split_list(args: &[Value]) -> Result<Value, FuncError> {
    arity("splitList", args, 2)?;
    let parts = go_split(
        str_arg("splitList", &args[1])?,
        str_arg("splitList", &args[0])?,
        None,
    );
    Ok(Value::Array(parts.into_iter().map(Value::from).collect()))
}

fn splitn(args: &[Value]) -> Result<Value, FuncError> {
    arity("splitn", args, 3)?;
    let sep = str_arg("splitn", &args[0])?;
    let n = int_arg("splitn", &args[1])?;
    let s = str_arg("splitn", &args[2])?;
    // Go's SplitN: n == 0 gives nothing, n < 0 everything.
    let parts = match n {
        0 => Vec::new(),
        n if n < 0 => go_split(s, sep, None),
        n => go_split(s, sep, Some(usize::try_from(n).unwrap_or(usize::MAX))),
    };
    Ok(parts_map(parts.iter().map(String::as_str).collect()))
}

/// sprig's `trunc`: by bytes, from the end when negative.
fn trunc(args: &[Value]) -> Result<Value, FuncError> {
    arity("trunc", args, 2)?;
    let c = int_arg("trunc", &args[0])?;
    let s = tstr_to_bytes(str_arg("trunc", &args[1])?);
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    let out = if c < 0 && len + c > 0 {
        &s[usize::try_from(len + c).unwrap_or(0)..]
    } else if c >= 0 && len > c {
        &s[..usize::try_from(c).unwrap_or(0)]
    } else {
        &s[..]
    };
    Ok(Value::String(bytes_to_tstr(out)))
}

/// sprig's `substr`: by bytes; an index Go would panic on is an error.
fn substr(args: &[Value]) -> Result<Value, FuncError> {
    arity("substr", args, 3)?;
    let start = int_arg("substr", &args[0])?;
    let end = int_arg("substr", &args[1])?;
    let s = tstr_to_bytes(str_arg("substr", &args[2])?);
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    let (from, to) = if start < 0 {
        (0, end)
    } else if end < 0 || end > len {
        (start, len)
    } else {
        (start, end)
    };
    if from < 0 || to < 0 || from > to || to > len {
        return Err(generic(format!(
            "substr: slice bounds out of range [{from}:{to}] with length {len}"
        )));
    }
    let (from, to) = (
        usize::try_from(from).unwrap_or(0),
        usize::try_from(to).unwrap_or(0),
    );
    Ok(Value::String(bytes_to_tstr(&s[from..to])))
}

fn sort_alpha(args: &[Value]) -> Result<Value, FuncError> {
    arity("sortAlpha", args, 1)?;
    let mut items = match &args[0] {
        Value::Array(_) => strslice(&args[0]),
        other => vec![strval(other)],
    };
    // Go compares strings bytewise, as Rust does.
    items.sort();
    Ok(Value::Array(items.into_iter().map(Value::String).collect()))
}

fn cat(args: &[Value]) -> Result<Value, FuncError> {
    // sprig: nil arguments dropped, the rest printed with %v and joined by spaces.
    let parts: Vec<String> = args
        .iter()
        .filter(|v| !is_nil(v))
        .map(ToString::to_string)
        .collect();
    Ok(Value::String(parts.join(" ")))
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    #[test]
    fn string_functions() {
        let d: &[(&str, &str)] = &[("v", "line1\nline2\ttab"), ("s", "it's")];
        check(&[
            (r#"{{ "straße" | upper }}"#, d, "STRAßE"),
            (r#"{{ "ÀB" | lower }}"#, d, "àb"),
            (r#"{{ "İ" | lower }}"#, d, "i"),
            ("{{ \"  a b \\n\" | trim }}", d, "a b"),
            (r#"{{ trimAll "$-" "$-a-$" }}"#, d, "a"),
            (r#"{{ trimPrefix "pre-" "pre-x" }}"#, d, "x"),
            (r#"{{ trimSuffix ".txt" "a.txt" }}"#, d, "a"),
            (r#"{{ quote "a\"b" }}"#, d, r#""a\"b""#),
            ("{{ .v | quote }}", d, r#""line1\nline2\ttab""#),
            (r#"{{ quote "a" 1 }}"#, d, r#""a" "1""#),
            (r#"{{ squote "a" "b" }}"#, d, "'a' 'b'"),
            ("{{ .s | squote }}", d, "'it's'"),
            (r#"{{ "a-b-c" | replace "-" "_" }}"#, d, "a_b_c"),
            (r#"{{ "abc" | replace "" "-" }}"#, d, "-a-b-c-"),
            (r#"{{ "a\nb" | indent 2 }}"#, d, "  a\n  b"),
            (r#"{{ "a\n" | indent 2 }}"#, d, "  a\n  "),
            (r#"x:{{ "a\nb" | nindent 2 }}"#, d, "x:\n  a\n  b"),
            (r#"{{ list "a" "b" 1 | join "," }}"#, d, "a,b,1"),
            (r#"{{ join "-" "x" }}"#, d, "x"),
            (
                r#"{{ $p := split "." "a.b.c" }}{{ $p._0 }}|{{ $p._2 }}"#,
                d,
                "a|c",
            ),
            (r#"{{ splitList "," "a,b" | join "+" }}"#, d, "a+b"),
            (r#"{{ (splitn "." 2 "a.b.c")._1 }}"#, d, "b.c"),
            (r#"{{ if contains "b" "abc" }}yes{{ end }}"#, d, "yes"),
            (
                r#"{{ hasPrefix "ab" "abc" }} {{ hasSuffix "x" "abc" }}"#,
                d,
                "true false",
            ),
            (r#"{{ cat "a" 1 "b" }}"#, d, "a 1 b"),
            (r#"{{ repeat 3 "ab" }}"#, d, "ababab"),
            (r#"{{ nospace " a b " }}"#, d, "ab"),
        ]);
    }

    #[test]
    fn truncation_and_substrings() {
        let d: &[(&str, &str)] = &[];
        check(&[
            // sprig's cat drops nil arguments.
            (r#"{{ cat "a" nil "b" }}"#, d, "a b"),
            (
                r#"{{ trunc 3 "abcdef" }}|{{ trunc -2 "abcdef" }}|{{ trunc 10 "ab" }}"#,
                d,
                "abc|ef|ab",
            ),
            (
                r#"{{ substr 1 3 "abcdef" }}|{{ substr -1 2 "abcdef" }}|{{ substr 2 -1 "abcdef" }}|{{ substr 2 99 "abcdef" }}"#,
                d,
                "bc|ab|cdef|cdef",
            ),
            (
                r#"{{ list "b" "a" "C" | sortAlpha | join "," }}"#,
                d,
                "C,a,b",
            ),
        ]);
        assert!(render(r#"{{ substr 5 2 "abc" }}"#, d).is_err());
    }
}
