//! `dataFrom[].rewrite[].merge`: the values one dataFrom entry produced, each a JSON object,
//! merged into one (ESO's `RewriteMerge` in `runtime/esutils/utils.go`):
//!
//! - keys are merged in sorted order, then the `priority` keys in their listed order (so the last
//!   priority key wins); a priority key that was not produced is an error with `Strict` (the
//!   default) and skipped with `IgnoreNotFound`;
//! - a property set by two values is a conflict: an error naming the properties with
//!   `conflictPolicy: Error` (the default, whether or not the values are equal, as ESO), the later
//!   value wins with `Ignore`;
//! - `strategy: Extract` (default): each merged property becomes a key (strings as they are,
//!   numbers as Go prints a float64, `true`/`false`, objects and arrays as JSON, `null` empty);
//!   `JSON`: the produced keys stay and the merged object is written as JSON into `into`.
//!
//! Numbers go through a float64 as in Go (`1.0` → `1`, large integers lose precision).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api::externalsecret::{
    ExternalSecretRewriteMerge, MergeConflictPolicy, MergePriorityPolicy, MergeStrategy,
};
use crate::value::SecretBytes;

/// Applies one merge rewrite; the error is the detail of a `RenderError::Rewrite`.
pub fn rewrite_merge(
    merge: &ExternalSecretRewriteMerge,
    input: BTreeMap<String, SecretBytes>,
) -> Result<BTreeMap<String, SecretBytes>, String> {
    let mut order: Vec<&String> = input
        .keys()
        .filter(|k| !merge.priority.contains(k))
        .collect();
    order.extend(merge.priority.iter());
    let mut merged = serde_json::Map::new();
    let mut conflicts = Vec::new();
    for key in order {
        let Some(value) = input.get(key) else {
            if merge.priority_policy == MergePriorityPolicy::IgnoreNotFound {
                continue;
            }
            return Err(format!("merge: key {key:?} of priority was not produced"));
        };
        let object: serde_json::Map<String, Value> = serde_json::from_slice(value.expose())
            .map_err(|_| format!("merge: the value of key {key:?} is not a JSON object"))?;
        for (k, v) in object {
            if merged.insert(k.clone(), v).is_some() {
                conflicts.push(k);
            }
        }
    }
    if merge.conflict_policy == MergeConflictPolicy::Error && !conflicts.is_empty() {
        merged.values_mut().for_each(crate::value::wipe_json);
        return Err(format!(
            "merge: conflicting properties {}",
            conflicts
                .iter()
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    match merge.strategy {
        MergeStrategy::Extract => Ok(merged
            .into_iter()
            .map(|(k, v)| {
                let bytes = match v {
                    Value::String(s) => s.into_bytes(),
                    Value::Null => Vec::new(),
                    Value::Bool(b) => b.to_string().into_bytes(),
                    Value::Number(n) => go_float(n.as_f64().unwrap_or_default()).into_bytes(),
                    mut other => {
                        let text = go_json(&other, true);
                        crate::value::wipe_json(&mut other);
                        text.into_bytes()
                    }
                };
                (k, SecretBytes::from(bytes))
            })
            .collect()),
        MergeStrategy::Json => {
            if merge.into.is_empty() {
                return Err("merge: strategy JSON needs `into`, the key to write to".to_owned());
            }
            let mut out = input;
            let mut merged = Value::Object(merged);
            let text = go_json(&merged, false);
            crate::value::wipe_json(&mut merged);
            out.insert(merge.into.clone(), SecretBytes::from(text.into_bytes()));
            Ok(out)
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest digits, never an exponent.
fn go_float(f: f64) -> String {
    format!("{f}")
}

/// Go's `encoding/json` text of a value decoded into `any`: sorted keys, numbers as float64
/// (exponent form outside 1e-6..1e21), `<`, `>`, `&` escaped when `escape_html`.
fn go_json(v: &Value, escape_html: bool) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or_default();
            let abs = f.abs();
            if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
                let s = format!("{f:e}");
                // Rust: 1e21, 1.5e-7; Go: 1e+21, 1.5e-07 (then trimmed to e-7).
                match s.split_once('e') {
                    Some((m, e)) if e.starts_with('-') => format!("{m}e{e}"),
                    Some((m, e)) => format!("{m}e+{e}"),
                    None => s,
                }
            } else {
                go_float(f)
            }
        }
        Value::String(s) => {
            let quoted = serde_json::to_string(s).unwrap_or_default();
            if escape_html {
                quoted
                    .replace('<', "\\u003c")
                    .replace('>', "\\u003e")
                    .replace('&', "\\u0026")
            } else {
                quoted
            }
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter()
                .map(|x| go_json(x, escape_html))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Value::Object(o) => {
            let sorted: BTreeMap<&String, &Value> = o.iter().collect();
            format!(
                "{{{}}}",
                sorted
                    .iter()
                    .map(|(k, x)| format!(
                        "{}:{}",
                        go_json(&Value::String((*k).clone()), escape_html),
                        go_json(x, escape_html)
                    ))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(pairs: &[(&str, &str)]) -> BTreeMap<String, SecretBytes> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), SecretBytes::from(v.as_bytes().to_vec())))
            .collect()
    }

    fn text(m: &BTreeMap<String, SecretBytes>) -> BTreeMap<String, String> {
        m.iter()
            .map(|(k, v)| (k.clone(), String::from_utf8(v.expose().to_vec()).unwrap()))
            .collect()
    }

    fn merge(f: impl FnOnce(&mut ExternalSecretRewriteMerge)) -> ExternalSecretRewriteMerge {
        let mut m = ExternalSecretRewriteMerge::default();
        f(&mut m);
        m
    }

    #[test]
    fn extract_merges_in_key_order_then_priority() {
        let data = input(&[
            ("b", r#"{"user":"b","port":5432}"#),
            ("a", r#"{"user":"a","tls":true}"#),
            ("c", r#"{"user":"c","nested":{"x":"<1>"}}"#),
        ]);
        // ESO: sorted keys a, b, then priority c; conflicts ignored → c's user wins.
        let out = rewrite_merge(
            &merge(|m| {
                m.priority = vec!["c".into()];
                m.conflict_policy = MergeConflictPolicy::Ignore;
            }),
            data.clone(),
        )
        .unwrap();
        let got = text(&out);
        assert_eq!(got["user"], "c");
        assert_eq!(got["port"], "5432");
        assert_eq!(got["tls"], "true");
        // Go: json.Marshal(map[string]any{"x":"<1>"}) escapes HTML.
        assert_eq!(got["nested"], r#"{"x":"\u003c1\u003e"}"#);
        assert_eq!(got.len(), 4, "only the merged properties remain: {got:?}");
    }

    #[test]
    fn conflicts_and_missing_priorities_are_errors_by_default() {
        let data = input(&[("a", r#"{"user":"x"}"#), ("b", r#"{"user":"x"}"#)]);
        let err = rewrite_merge(&ExternalSecretRewriteMerge::default(), data.clone()).unwrap_err();
        assert!(err.contains("\"user\""), "{err}");
        let err = rewrite_merge(
            &merge(|m| {
                m.priority = vec!["missing".into()];
                m.conflict_policy = MergeConflictPolicy::Ignore;
            }),
            data.clone(),
        )
        .unwrap_err();
        assert!(err.contains("\"missing\""), "{err}");
        let ok = rewrite_merge(
            &merge(|m| {
                m.priority = vec!["missing".into()];
                m.priority_policy = MergePriorityPolicy::IgnoreNotFound;
                m.conflict_policy = MergeConflictPolicy::Ignore;
            }),
            data,
        );
        assert!(ok.is_ok());
        let not_json = rewrite_merge(
            &ExternalSecretRewriteMerge::default(),
            input(&[("a", "plain")]),
        )
        .unwrap_err();
        assert!(
            not_json.contains("\"a\"") && !not_json.contains("plain"),
            "{not_json}"
        );
    }

    #[test]
    fn json_strategy_keeps_the_inputs_and_writes_go_json_into_the_target() {
        let data = input(&[
            ("a", r#"{"n":1.0,"big":1e21,"small":0.0000001,"s":"<&>"}"#),
            ("b", r#"{"list":[1,"x",null]}"#),
        ]);
        let out = rewrite_merge(
            &merge(|m| {
                m.strategy = MergeStrategy::Json;
                m.into = "config".into();
            }),
            data,
        )
        .unwrap();
        let got = text(&out);
        assert_eq!(got.len(), 3);
        // Go: JSONMarshal (no HTML escaping) of map[string]any, numbers as float64.
        assert_eq!(
            got["config"],
            r#"{"big":1e+21,"list":[1,"x",null],"n":1,"s":"<&>","small":1e-7}"#
        );
        let err = rewrite_merge(
            &merge(|m| m.strategy = MergeStrategy::Json),
            input(&[("a", "{}")]),
        )
        .unwrap_err();
        assert!(err.contains("into"));
    }
}
