//! sprig's regexp functions: `(regex, string[, …])` argument order, Go's RE2 meaning (ASCII
//! `\d \w \s \b`, `\Q…\E`), see [`crate::render::rewrite`]. An invalid regexp is an error in
//! the plain and the `must` form alike (sprig's plain form panics), except in `regexMatch`,
//! which answers false.

use gtmpl_ng::{Func, FuncError, Value};

use super::values::{arity, generic, int_arg, str_arg};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("regexMatch", regex_match),
    ("mustRegexMatch", must_regex_match),
    ("regexFind", regex_find),
    ("mustRegexFind", regex_find),
    ("regexFindAll", regex_find_all),
    ("mustRegexFindAll", regex_find_all),
    ("regexReplaceAll", regex_replace_all),
    ("mustRegexReplaceAll", regex_replace_all),
    ("regexReplaceAllLiteral", regex_replace_all_literal),
    ("mustRegexReplaceAllLiteral", regex_replace_all_literal),
    ("regexSplit", regex_split),
    ("mustRegexSplit", regex_split),
    ("regexQuoteMeta", regex_quote_meta),
];

fn compile(name: &str, pattern: &str) -> Result<regex::Regex, FuncError> {
    crate::render::rewrite::go_regex(pattern)
        .map_err(|e| generic(format!("{name}: invalid regexp: {e}")))
}

fn regex_match(args: &[Value]) -> Result<Value, FuncError> {
    // sprig ignores a compile error here: an invalid regexp matches nothing.
    Ok(Value::Bool(
        must_regex_match(args).is_ok_and(|v| v == Value::Bool(true)),
    ))
}

fn must_regex_match(args: &[Value]) -> Result<Value, FuncError> {
    arity("regexMatch", args, 2)?;
    let re = compile("regexMatch", str_arg("regexMatch", &args[0])?)?;
    Ok(Value::Bool(re.is_match(str_arg("regexMatch", &args[1])?)))
}

fn regex_find(args: &[Value]) -> Result<Value, FuncError> {
    arity("regexFind", args, 2)?;
    let re = compile("regexFind", str_arg("regexFind", &args[0])?)?;
    let s = str_arg("regexFind", &args[1])?;
    Ok(Value::from(re.find(s).map_or("", |m| m.as_str())))
}

/// Go's `FindAllStringIndex(s, n)`: at most `n` matches (all when negative).
fn find_all(re: &regex::Regex, s: &str, n: i64) -> Vec<(usize, usize)> {
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    re.find_iter(s)
        .map(|m| (m.start(), m.end()))
        .take(limit)
        .collect()
}

fn regex_find_all(args: &[Value]) -> Result<Value, FuncError> {
    arity("regexFindAll", args, 3)?;
    let re = compile("regexFindAll", str_arg("regexFindAll", &args[0])?)?;
    let s = str_arg("regexFindAll", &args[1])?;
    let n = int_arg("regexFindAll", &args[2])?;
    Ok(Value::Array(
        find_all(&re, s, n)
            .into_iter()
            .map(|(a, b)| Value::from(&s[a..b]))
            .collect(),
    ))
}

fn regex_replace_all(args: &[Value]) -> Result<Value, FuncError> {
    arity("regexReplaceAll", args, 3)?;
    let re = compile("regexReplaceAll", str_arg("regexReplaceAll", &args[0])?)?;
    let s = str_arg("regexReplaceAll", &args[1])?;
    let repl = str_arg("regexReplaceAll", &args[2])?;
    Ok(Value::String(re.replace_all(s, repl).into_owned()))
}

fn regex_replace_all_literal(args: &[Value]) -> Result<Value, FuncError> {
    arity("regexReplaceAllLiteral", args, 3)?;
    let re = compile(
        "regexReplaceAllLiteral",
        str_arg("regexReplaceAllLiteral", &args[0])?,
    )?;
    let s = str_arg("regexReplaceAllLiteral", &args[1])?;
    let repl = str_arg("regexReplaceAllLiteral", &args[2])?;
    Ok(Value::String(
        re.replace_all(s, regex::NoExpand(repl)).into_owned(),
    ))
}

/// Go's `Regexp.Split`.
fn regex_split(args: &[Value]) -> Result<Value, FuncError> {
    arity("regexSplit", args, 3)?;
    let pattern = str_arg("regexSplit", &args[0])?;
    let re = compile("regexSplit", pattern)?;
    let s = str_arg("regexSplit", &args[1])?;
    let n = int_arg("regexSplit", &args[2])?;
    if n == 0 {
        return Ok(Value::Array(Vec::new()));
    }
    if !pattern.is_empty() && s.is_empty() {
        return Ok(Value::Array(vec![Value::from("")]));
    }
    let mut parts = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for (a, b) in find_all(&re, s, n) {
        if n > 0 && i64::try_from(parts.len()).unwrap_or(i64::MAX) == n - 1 {
            break;
        }
        end = a;
        if b != 0 {
            parts.push(Value::from(&s[beg..end]));
        }
        beg = b;
    }
    if end != s.len() {
        parts.push(Value::from(&s[beg..]));
    }
    Ok(Value::Array(parts))
}

fn regex_quote_meta(args: &[Value]) -> Result<Value, FuncError> {
    arity("regexQuoteMeta", args, 1)?;
    // Go's QuoteMeta escapes exactly \.+*?()|[]{}^$ ; regex::escape also escapes # & - ~,
    // which Go leaves alone.
    let s = str_arg("regexQuoteMeta", &args[0])?;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    #[test]
    fn must_forms() {
        let d: &[(&str, &str)] = &[];
        check(&[(
            r#"{{ mustRegexFind "b+" "abbc" }} {{ mustRegexFindAll "b" "abb" -1 | len }} {{ mustRegexReplaceAll "b" "abc" "x" }} {{ mustRegexReplaceAllLiteral "b" "abc" "$1" }} {{ mustRegexSplit "b" "abc" -1 | join "|" }}"#,
            d,
            "bb 2 axc a$1c a|c",
        )]);
        for tpl in [
            r#"{{ regexFind "(" "x" }}"#,
            r#"{{ mustRegexMatch "(" "x" }}"#,
        ] {
            assert!(render(tpl, d).is_err(), "{tpl}");
        }
    }

    #[test]
    fn regexps() {
        let d: &[(&str, &str)] = &[];
        check(&[
            (r#"{{ regexMatch "^a.c$" "abc" }}"#, d, "true"),
            (r#"{{ regexFind "[0-9]+" "ab123cd45" }}"#, d, "123"),
            (
                r#"{{ regexFindAll "[0-9]+" "a1b22c333" -1 | join "," }}"#,
                d,
                "1,22,333",
            ),
            (
                r#"{{ regexFindAll "[0-9]+" "a1b22c333" 2 | join "," }}"#,
                d,
                "1,22",
            ),
            (
                r#"{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }}"#,
                d,
                "-W-xxW-",
            ),
            (
                r#"{{ regexReplaceAllLiteral "a(x*)b" "-ab-" "$1" }}"#,
                d,
                "-$1-",
            ),
            (r#"{{ regexSplit "," "a,b,c" -1 | join "|" }}"#, d, "a|b|c"),
            (r#"{{ regexSplit "," "a,b,c" 2 | join "|" }}"#, d, "a|b,c"),
            // Go's Split documentation: s := regexp.MustCompile("a*").Split("abaabaccadaaae", 5)
            // gives ["", "b", "b", "c", "cadaaae"].
            (
                r#"{{ regexSplit "a*" "abaabaccadaaae" 5 | toJson }}"#,
                d,
                r#"["","b","b","c","cadaaae"]"#,
            ),
            // Go's allMatches drops the empty match at 4, right after "aaa" ended there:
            // FindAllString("a*", "baaac", -1) is ["" "aaa" ""].
            (
                r#"{{ regexFindAll "a*" "baaac" -1 | toJson }}"#,
                d,
                r#"["","aaa",""]"#,
            ),
            (r#"{{ regexMatch "(" "x" }}"#, d, "false"),
            (r#"{{ regexQuoteMeta "a.b*c-d" }}"#, d, r"a\.b\*c-d"),
        ]);
    }
}
