//! sprig's dict functions (`hasKey` is kept from gtmpl-ng's Helm set, see
//! [`super::engine`]; lists are in [`super::lists`]).
//!
//! Two differences from Go, both because a template value here is a value, not a reference:
//! `set`, `unset`, `merge` and `mergeOverwrite` return the changed dict but do not change the
//! one they were given, so `{{ $_ := set $d "k" "v" }}` leaves `$d` as it was (write
//! `{{ $d = set $d "k" "v" }}`); and `keys`/`values` come in key order, where Go's map order is
//! random (`keys | sortAlpha` gives the same either way).

use std::collections::HashMap;

use gtmpl_ng::{Func, FuncError, Value};

use super::values::{arity, generic, is_empty, kind, map_arg, str_arg, strval};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("dict", dict),
    ("get", get),
    ("set", set),
    ("unset", unset),
    ("keys", keys),
    ("values", values),
    ("pick", pick),
    ("omit", omit),
    ("pluck", pluck),
    ("dig", dig),
    ("merge", merge),
    ("mustMerge", must_merge),
    ("mergeOverwrite", merge_overwrite),
    ("mustMergeOverwrite", must_merge_overwrite),
    ("deepCopy", deep_copy),
    ("mustDeepCopy", deep_copy),
];

type Dict = HashMap<String, Value>;

fn sorted_keys(d: &Dict) -> Vec<&String> {
    let mut k: Vec<&String> = d.keys().collect();
    k.sort();
    k
}

fn get(args: &[Value]) -> Result<Value, FuncError> {
    arity("get", args, 2)?;
    let key = str_arg("get", &args[1])?;
    match &args[0] {
        Value::Map(m) | Value::Object(m) => {
            Ok(m.get(key).cloned().unwrap_or_else(|| Value::from("")))
        }
        other => Err(generic(format!(
            "wrong type for value in get; expected map; got {}",
            kind(other)
        ))),
    }
}

/// sprig's `dict`: keys printed as strings; a key without a value gets "".
fn dict(args: &[Value]) -> Result<Value, FuncError> {
    let mut out = Dict::new();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_else(|| Value::from(""));
        out.insert(strval(&pair[0]), value);
    }
    Ok(Value::Map(out))
}

fn set(args: &[Value]) -> Result<Value, FuncError> {
    arity("set", args, 3)?;
    let mut d = map_arg("set", &args[0])?.clone();
    d.insert(str_arg("set", &args[1])?.to_owned(), args[2].clone());
    Ok(Value::Map(d))
}

fn unset(args: &[Value]) -> Result<Value, FuncError> {
    arity("unset", args, 2)?;
    let mut d = map_arg("unset", &args[0])?.clone();
    d.remove(str_arg("unset", &args[1])?);
    Ok(Value::Map(d))
}

fn keys(args: &[Value]) -> Result<Value, FuncError> {
    let mut out = Vec::new();
    for a in args {
        out.extend(
            sorted_keys(map_arg("keys", a)?)
                .into_iter()
                .map(|k| Value::String(k.clone())),
        );
    }
    Ok(Value::Array(out))
}

fn values(args: &[Value]) -> Result<Value, FuncError> {
    arity("values", args, 1)?;
    let d = map_arg("values", &args[0])?;
    Ok(Value::Array(
        sorted_keys(d).into_iter().map(|k| d[k].clone()).collect(),
    ))
}

fn pick(args: &[Value]) -> Result<Value, FuncError> {
    let Some((d, names)) = args.split_first() else {
        return Err(generic(
            "wrong number of args for pick: want at least 1 got 0",
        ));
    };
    let d = map_arg("pick", d)?;
    let mut out = Dict::new();
    for n in names {
        let n = str_arg("pick", n)?;
        if let Some(v) = d.get(n) {
            out.insert(n.to_owned(), v.clone());
        }
    }
    Ok(Value::Map(out))
}

fn omit(args: &[Value]) -> Result<Value, FuncError> {
    let Some((d, names)) = args.split_first() else {
        return Err(generic(
            "wrong number of args for omit: want at least 1 got 0",
        ));
    };
    let mut out = map_arg("omit", d)?.clone();
    for n in names {
        out.remove(str_arg("omit", n)?);
    }
    Ok(Value::Map(out))
}

fn pluck(args: &[Value]) -> Result<Value, FuncError> {
    let Some((key, dicts)) = args.split_first() else {
        return Err(generic(
            "wrong number of args for pluck: want at least 1 got 0",
        ));
    };
    let key = str_arg("pluck", key)?;
    let mut out = Vec::new();
    for d in dicts {
        if let Some(v) = map_arg("pluck", d)?.get(key) {
            out.push(v.clone());
        }
    }
    Ok(Value::Array(out))
}

/// sprig's `dig "a" "b" default dict`: the value at that path, or the default when a key is
/// missing; a value on the way that is not a dict is an error, as Go's failed type assertion.
fn dig(args: &[Value]) -> Result<Value, FuncError> {
    if args.len() < 3 {
        return Err(generic("dig needs at least three arguments"));
    }
    let (dict, rest) = args.split_last().expect("three arguments");
    let (default, path) = rest.split_last().expect("two arguments");
    let mut cur = match dict {
        Value::Map(m) | Value::Object(m) => m,
        other => {
            return Err(generic(format!(
                "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                kind(other)
            )));
        }
    };
    for (i, k) in path.iter().enumerate() {
        let Value::String(k) = k else {
            return Err(generic(format!(
                "interface conversion: interface {{}} is {}, not string",
                kind(k)
            )));
        };
        let Some(step) = cur.get(k) else {
            return Ok(default.clone());
        };
        if i + 1 == path.len() {
            return Ok(step.clone());
        }
        cur = match step {
            Value::Map(m) | Value::Object(m) => m,
            other => {
                return Err(generic(format!(
                    "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                    kind(other)
                )));
            }
        };
    }
    Ok(default.clone())
}

/// mergo v1's map merge: a key missing from `dst` is copied; two dicts merge recursively;
/// otherwise `overwrite` replaces the value, and without it only an empty value is replaced.
fn merge_into(dst: &mut Dict, src: &Dict, overwrite: bool) {
    for (k, sv) in src {
        match dst.get_mut(k) {
            None => {
                dst.insert(k.clone(), sv.clone());
            }
            Some(dv) => match (dv, sv) {
                (Value::Map(dm) | Value::Object(dm), Value::Map(sm) | Value::Object(sm)) => {
                    merge_into(dm, sm, overwrite);
                }
                (dv, sv) => {
                    if overwrite || is_empty(dv) {
                        *dv = sv.clone();
                    }
                }
            },
        }
    }
}

fn merge_with(name: &str, args: &[Value], overwrite: bool) -> Result<Value, FuncError> {
    let Some((dst, srcs)) = args.split_first() else {
        return Err(generic(format!(
            "wrong number of args for {name}: want at least 1 got 0"
        )));
    };
    let mut out = map_arg(name, dst)?.clone();
    for src in srcs {
        merge_into(&mut out, map_arg(name, src)?, overwrite);
    }
    Ok(Value::Map(out))
}

fn merge(args: &[Value]) -> Result<Value, FuncError> {
    merge_with("merge", args, false)
}

fn must_merge(args: &[Value]) -> Result<Value, FuncError> {
    merge_with("mustMerge", args, false)
}

fn merge_overwrite(args: &[Value]) -> Result<Value, FuncError> {
    merge_with("mergeOverwrite", args, true)
}

fn must_merge_overwrite(args: &[Value]) -> Result<Value, FuncError> {
    merge_with("mustMergeOverwrite", args, true)
}

/// Values here are copies already.
fn deep_copy(args: &[Value]) -> Result<Value, FuncError> {
    arity("deepCopy", args, 1)?;
    Ok(args[0].clone())
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    #[test]
    fn dicts_and_lists() {
        let d: &[(&str, &str)] = &[];
        check(&[
            (
                r#"{{ $d := dict "k" "v" }}{{ get $d "k" }} {{ hasKey $d "k" }} {{ hasKey $d "x" }}"#,
                d,
                "v true false",
            ),
            ("{{ list 1 2 3 | first }}{{ list 1 2 3 | last }}", d, "13"),
            // sprig's get answers "" for a missing key.
            (r#"[{{ get (dict "a" "b") "x" }}]"#, d, "[]"),
            (r#"{{ get (dict "a" 1) "a" }}"#, d, "1"),
            (r#"{{ dict "a" 1 "b" | toJson }}"#, d, r#"{"a":1,"b":""}"#),
            (r#"{{ dict 1 2 | toJson }}"#, d, r#"{"1":2}"#),
        ]);
    }

    /// What Go renders with ESO's sprig fork and mergo v1.0.2.
    #[test]
    fn dict_functions_as_go() {
        let d: &[(&str, &str)] = &[];
        check(&[
            (
                r#"{{ set (dict "a" 1) "b" 2 | toJson }}"#,
                d,
                r#"{"a":1,"b":2}"#,
            ),
            (
                r#"{{ unset (dict "a" 1 "b" 2) "a" | toJson }}"#,
                d,
                r#"{"b":2}"#,
            ),
            // Go's map order is random; sorted, the keys are the same.
            (
                r#"{{ keys (dict "b" 1 "a" 2) (dict "c" 3 "a" 4) | sortAlpha | toJson }}"#,
                d,
                r#"["a","a","b","c"]"#,
            ),
            (r#"{{ values (dict "a" 1) | toJson }}"#, d, "[1]"),
            (
                r#"{{ pick (dict "a" 1 "b" 2 "c" 3) "a" "c" "z" | toJson }}"#,
                d,
                r#"{"a":1,"c":3}"#,
            ),
            (
                r#"{{ omit (dict "a" 1 "b" 2 "c" 3) "a" "z" | toJson }}"#,
                d,
                r#"{"b":2,"c":3}"#,
            ),
            (
                r#"{{ pluck "a" (dict "a" 1) (dict "b" 2) (dict "a" 3) | toJson }}"#,
                d,
                "[1,3]",
            ),
            (
                r#"{{ dig "a" "b" "dflt" (dict "a" (dict "b" 1)) }}"#,
                d,
                "1",
            ),
            (
                r#"{{ dig "a" "x" "dflt" (dict "a" (dict "b" 1)) }}"#,
                d,
                "dflt",
            ),
            (
                r#"{{ merge (dict "a" "" "b" 1 "n" (dict "x" 1 "y" "")) (dict "a" "x" "b" 2 "c" 3 "n" (dict "y" "Y" "z" 3)) | toJson }}"#,
                d,
                r#"{"a":"x","b":1,"c":3,"n":{"x":1,"y":"Y","z":3}}"#,
            ),
            (
                r#"{{ mergeOverwrite (dict "a" "" "b" 1 "n" (dict "x" 1 "y" "")) (dict "a" "x" "b" 2 "c" 3 "d" "" "n" (dict "y" "Y" "z" 3)) | toJson }}"#,
                d,
                r#"{"a":"x","b":2,"c":3,"d":"","n":{"x":1,"y":"Y","z":3}}"#,
            ),
            (
                r#"{{ mergeOverwrite (dict "a" "keep" "b" 1) (dict "a" "" "b" 0) | toJson }}"#,
                d,
                r#"{"a":"","b":0}"#,
            ),
            (
                r#"{{ merge (dict "a" 0 "b" false "c" (list) "d" (dict)) (dict "a" 5 "b" true "c" (list 1) "d" (dict "k" 1)) | toJson }}"#,
                d,
                r#"{"a":5,"b":true,"c":[1],"d":{"k":1}}"#,
            ),
            (
                r#"{{ merge (dict "a" (list 1)) (dict "a" (list 2 3)) | toJson }}"#,
                d,
                r#"{"a":[1]}"#,
            ),
            (
                r#"{{ mergeOverwrite (dict "a" (dict "x" 1)) (dict "a" "str") | toJson }}"#,
                d,
                r#"{"a":"str"}"#,
            ),
            (
                r#"{{ merge (dict) (dict "a" 1) (dict "a" 2 "b" 3) | toJson }}"#,
                d,
                r#"{"a":1,"b":3}"#,
            ),
            (
                r#"{{ deepCopy (dict "a" (list 1 2)) | toJson }}"#,
                d,
                r#"{"a":[1,2]}"#,
            ),
        ]);
    }
}
