//! `dataFrom[].rewrite`: the key rewrites applied, in order, to the keys one dataFrom entry
//! produced (ESO's `RewriteMap` in `runtime/esutils/utils.go`).
//!
//! - `regexp {source, target}`: Go's `regexp.ReplaceAllString` on each key. `$1`, `$name`,
//!   `${1}`, `${name}` expand as in Go, and the Rust `regex` crate expands the same way: a name
//!   is the longest run of letters, digits and `_`, so `$1x` is the group named `1x` (empty when
//!   there is none), not group 1 followed by `x`; `$$` is a `$`. Go's RE2 syntax is translated
//!   where Rust's differs: `\d \w \s \b` (and their negations) are ASCII as in Go, `\Q…\E`
//!   quotes, octal escapes are accepted, and `[`, `&`, `~` inside a class are literal.
//! - `transform {template}`: a Go template rendered with `.value` the key (ESO's functions,
//!   Go's default `missingkey`, so `{{ .other }}` is `<no value>`).
//! - `merge {...}`: the produced JSON values merged into one ([`super::merge`]).
//! - A rewrite with no field does nothing; with several, the first of `merge`, `regexp`,
//!   `transform` is applied, as ESO's switch picks them.
//!
//! Keys that become equal: ESO writes each rewritten key into a fresh map while iterating the
//! input map, so one value silently replaces the other, and which one depends on Go's random map
//! order. Here that is an error naming both original keys (`RewriteFailed`): a value would be
//! lost, and which one would be chance.

use std::collections::{BTreeMap, HashMap};

use regex::Regex;

use super::RenderError;
use super::merge::rewrite_merge;
use super::template::render_text;
use crate::api::externalsecret::ExternalSecretRewrite;
use crate::value::SecretBytes;

/// Applies `rewrites` in order to the keys of `map`.
pub fn rewrite_keys(
    map: BTreeMap<String, SecretBytes>,
    rewrites: &[ExternalSecretRewrite],
) -> Result<BTreeMap<String, SecretBytes>, RenderError> {
    let mut map = map;
    for (index, rw) in rewrites.iter().enumerate() {
        let fail = |detail: String| RenderError::Rewrite { index, detail };
        if let Some(merge) = &rw.merge {
            map = rewrite_merge(merge, map).map_err(fail)?;
        } else if let Some(re) = &rw.regexp {
            let compiled =
                go_regex(&re.source).map_err(|e| fail(format!("regexp failed to compile: {e}")))?;
            let mut out = Renamed::default();
            for (k, v) in map {
                let renamed = compiled.replace_all(&k, re.target.as_str()).into_owned();
                out.insert(k, renamed, v).map_err(fail)?;
            }
            map = out.keys;
        } else if let Some(tr) = &rw.transform {
            let mut out = Renamed::default();
            for (k, v) in map {
                let data = gtmpl_ng::Value::Map(HashMap::from([(
                    "value".to_owned(),
                    gtmpl_ng::Value::from(k.as_str()),
                )]));
                let data = gtmpl_ng::Context::from(data);
                let rendered = render_text("transform", &tr.template, &data)
                    .map_err(|e| fail(format!("transform failed for key {k:?}: {e}")))?;
                let renamed = String::from_utf8_lossy(&rendered).into_owned();
                out.insert(k, renamed, v).map_err(fail)?;
            }
            map = out.keys;
        }
    }
    Ok(map)
}

/// Keys renamed by one rewrite, refusing two keys that become one.
#[derive(Default)]
struct Renamed {
    keys: BTreeMap<String, SecretBytes>,
    /// New key → the key it was renamed from.
    from: BTreeMap<String, String>,
}

impl Renamed {
    fn insert(&mut self, old: String, new: String, value: SecretBytes) -> Result<(), String> {
        if let Some(first) = self.from.get(&new) {
            return Err(format!(
                "keys {first:?} and {old:?} both become {new:?}; one value would be lost"
            ));
        }
        self.from.insert(new.clone(), old);
        self.keys.insert(new, value);
        Ok(())
    }
}

/// Compiles a Go (RE2) regular expression with Go's meaning.
pub(crate) fn go_regex(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(&translate_go_regex(pattern))
        .octal(true)
        .build()
}

const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\f\r ";

/// Rewrites the parts of a Go pattern that Rust reads differently; everything else is passed
/// through unchanged.
fn translate_go_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    // Inside a class, and whether the class has had its first member (a leading `]` is literal).
    let mut in_class = false;
    let mut class_start = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let e = chars[i + 1];
            i += 2;
            if e == 'Q' {
                // \Q...\E: everything up to \E (or the end) is literal.
                let mut lit = String::new();
                while i < chars.len() && !(chars[i] == '\\' && chars.get(i + 1) == Some(&'E')) {
                    lit.push(chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    i += 2;
                }
                for ch in lit.chars() {
                    if in_class {
                        out.push('\\');
                        out.push(ch);
                    } else {
                        out.push_str(&regex::escape(&ch.to_string()));
                    }
                }
                class_start = false;
                continue;
            }
            let ascii = match e {
                'd' => Some((false, DIGIT)),
                'D' => Some((true, DIGIT)),
                'w' => Some((false, WORD)),
                'W' => Some((true, WORD)),
                's' => Some((false, SPACE)),
                'S' => Some((true, SPACE)),
                _ => None,
            };
            match (ascii, in_class) {
                (Some((false, set)), true) => out.push_str(set),
                (Some((true, set)), true) => {
                    out.push_str("[^");
                    out.push_str(set);
                    out.push(']');
                }
                (Some((negated, set)), false) => {
                    out.push_str(if negated { "[^" } else { "[" });
                    out.push_str(set);
                    out.push(']');
                }
                (None, false) if e == 'b' || e == 'B' => {
                    out.push_str("(?-u:\\");
                    out.push(e);
                    out.push(')');
                }
                (None, _) => {
                    out.push('\\');
                    out.push(e);
                }
            }
            class_start = false;
            continue;
        }
        if in_class {
            match c {
                ']' if !class_start => in_class = false,
                '[' if chars.get(i + 1) == Some(&':') => {
                    // A POSIX class like [:alpha:], copied whole.
                    let end = (i + 2..chars.len().saturating_sub(1))
                        .find(|&j| chars[j] == ':' && chars[j + 1] == ']');
                    if let Some(end) = end {
                        out.extend(&chars[i..end + 2]);
                        i = end + 2;
                        class_start = false;
                        continue;
                    }
                    out.push_str("\\[");
                    i += 1;
                    class_start = false;
                    continue;
                }
                // Literal in Go, nesting or set operators in Rust.
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                    i += 1;
                    class_start = false;
                    continue;
                }
                '^' if class_start && out.ends_with('[') => {
                    out.push(c);
                    i += 1;
                    continue;
                }
                _ => {}
            }
            out.push(c);
            class_start = false;
            i += 1;
            continue;
        }
        if c == '[' {
            in_class = true;
            class_start = true;
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::externalsecret::{ExternalSecretRewriteRegexp, ExternalSecretRewriteTransform};

    fn regexp(source: &str, target: &str) -> ExternalSecretRewrite {
        ExternalSecretRewrite {
            merge: None,
            regexp: Some(ExternalSecretRewriteRegexp {
                source: source.into(),
                target: target.into(),
            }),
            transform: None,
        }
    }

    fn transform(template: &str) -> ExternalSecretRewrite {
        ExternalSecretRewrite {
            merge: None,
            regexp: None,
            transform: Some(ExternalSecretRewriteTransform {
                template: template.into(),
            }),
        }
    }

    fn map(keys: &[(&str, &str)]) -> BTreeMap<String, SecretBytes> {
        keys.iter()
            .map(|(k, v)| (k.to_string(), SecretBytes::from(v.to_string())))
            .collect()
    }

    fn keys(m: &BTreeMap<String, SecretBytes>) -> Vec<&str> {
        m.keys().map(String::as_str).collect()
    }

    fn one(source: &str, target: &str, key: &str) -> String {
        let out = rewrite_keys(map(&[(key, "v")]), &[regexp(source, target)]).unwrap();
        out.into_keys().next().unwrap()
    }

    #[test]
    fn go_replace_all_string_expansion() {
        // The examples of Go's regexp.ReplaceAllString documentation, with their outputs.
        assert_eq!(one("a(x*)b", "T", "-ab-axxb-"), "-T-T-");
        assert_eq!(one("a(x*)b", "$1", "-ab-axxb-"), "--xx-");
        // `$1W` names the group `1W`, which does not exist: it expands to nothing.
        assert_eq!(one("a(x*)b", "$1W", "-ab-axxb-"), "---");
        assert_eq!(one("a(x*)b", "${1}W", "-ab-axxb-"), "-W-xxW-");
        // Named groups, and `$$` for a dollar.
        assert_eq!(
            one("(?P<env>[a-z]+)-(?P<name>.*)", "${name}_$env", "prod-db"),
            "db_prod"
        );
        assert_eq!(one("^", "$$", "k"), "$k");
    }

    #[test]
    fn typical_eso_rewrites() {
        // ESO docs: strip a path prefix, then replace the remaining separators.
        let out = rewrite_keys(
            map(&[
                ("path/to/secret/db-password", "p"),
                ("path/to/secret/user", "u"),
            ]),
            &[regexp("path/to/secret/(.*)", "$1"), regexp("-", "_")],
        )
        .unwrap();
        assert_eq!(keys(&out), ["db_password", "user"]);
        assert_eq!(out["db_password"].expose(), b"p");
    }

    #[test]
    fn perl_classes_are_ascii_as_in_go() {
        // Go's \d is [0-9]: the Arabic-Indic digit stays. Rust's Unicode \d would take it.
        assert_eq!(one(r"\d", "#", "a1\u{661}"), "a#\u{661}");
        assert_eq!(one(r"\w+", "W", "é-ab_9"), "é-W");
        assert_eq!(one(r"[\d\s]", "_", "a 1\u{a0}"), "a__\u{a0}");
        assert_eq!(one(r"[^\D]", "n", "x7"), "xn");
        assert_eq!(one(r"\S+", "x", "a b"), "x x");
        // é is not a word character for Go's ASCII \b, so "ék" has a boundary before k.
        assert_eq!(one(r"\bk", "K", "k ék"), "K éK");
    }

    #[test]
    fn go_literal_syntax() {
        assert_eq!(one(r"\Q.*\E", "-", "a.*b"), "a-b");
        assert_eq!(one(r"[a[]", "x", "[a"), "xx");
        assert_eq!(one(r"[&~]", "x", "a&~"), "axx");
        assert_eq!(one(r"[]a]", "x", "]a"), "xx");
        assert_eq!(one(r"[[:digit:]]", "d", "a1"), "ad");
        assert_eq!(one(r"\101", "a", "A"), "a");
    }

    #[test]
    fn invalid_regexp_is_an_error() {
        let err = rewrite_keys(map(&[("k", "v")]), &[regexp("(", "x")]).unwrap_err();
        assert!(
            matches!(err, RenderError::Rewrite { index: 0, .. }),
            "{err}"
        );
        assert_eq!(err.reason(), crate::api::Reason::RewriteFailed);
    }

    #[test]
    fn keys_that_become_one_are_refused_naming_both() {
        let err = rewrite_keys(
            map(&[("a-x", "first"), ("b-x", "second")]),
            &[regexp("^.-", "")],
        )
        .unwrap_err();
        assert_eq!(err.reason(), crate::api::Reason::RewriteFailed);
        assert_eq!(
            err.to_string(),
            r#"rewrite[0] failed: keys "a-x" and "b-x" both become "x"; one value would be lost"#
        );
        let err = rewrite_keys(
            map(&[("a", "1"), ("b", "2")]),
            &[regexp("^k$", "k"), transform("same")],
        )
        .unwrap_err();
        assert!(
            matches!(err, RenderError::Rewrite { index: 1, .. }),
            "{err}"
        );
        // Renamed onto a key that keeps its name: a collision too.
        assert!(rewrite_keys(map(&[("a", "1"), ("b", "2")]), &[regexp("^a$", "b")]).is_err());
        let out =
            rewrite_keys(map(&[("a", "1"), ("b", "2")]), &[regexp("^(.)$", "${1}x")]).unwrap();
        assert_eq!(keys(&out), ["ax", "bx"]);
    }

    #[test]
    fn transform_templates() {
        let out = rewrite_keys(
            map(&[("db-password", "p")]),
            &[transform(r#"{{ .value | upper | replace "-" "_" }}"#)],
        )
        .unwrap();
        assert_eq!(keys(&out), ["DB_PASSWORD"]);
        // Go's default missingkey: a missing field prints <no value>.
        let out = rewrite_keys(
            map(&[("k", "v")]),
            &[transform("{{ .other }}-{{ .value }}")],
        )
        .unwrap();
        assert_eq!(keys(&out), ["<no value>-k"]);
        // Applied in order after a regexp.
        let out = rewrite_keys(
            map(&[("app/token", "t")]),
            &[regexp("^app/", ""), transform("prefix-{{ .value }}")],
        )
        .unwrap();
        assert_eq!(keys(&out), ["prefix-token"]);
    }

    #[test]
    fn transform_errors() {
        let err = rewrite_keys(map(&[("k", "v")]), &[transform("{{ .value")]).unwrap_err();
        assert!(
            matches!(err, RenderError::Rewrite { index: 0, .. }),
            "{err}"
        );
        let err = rewrite_keys(map(&[("k", "v")]), &[transform(r#"{{ fail "no" }}"#)]).unwrap_err();
        assert!(err.to_string().contains("no"), "{err}");
    }

    #[test]
    fn empty_and_double_rewrites() {
        let out = rewrite_keys(map(&[("k", "v")]), &[ExternalSecretRewrite::default()]).unwrap();
        assert_eq!(keys(&out), ["k"]);
        let both = ExternalSecretRewrite {
            merge: None,
            regexp: Some(ExternalSecretRewriteRegexp {
                source: "k".into(),
                target: "r".into(),
            }),
            transform: Some(ExternalSecretRewriteTransform {
                template: "t".into(),
            }),
        };
        let out = rewrite_keys(map(&[("k", "v")]), &[both]).unwrap();
        assert_eq!(keys(&out), ["r"]);
    }
}
