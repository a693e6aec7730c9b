//! sprig's list functions (`list` is kept from gtmpl-ng's Helm set, see
//! [`super::engine`]). A non-list argument is an error in both the plain and the `must` form:
//! the plain one panics in sprig, which Go's template engine reports as an error.

use gtmpl_ng::{Func, FuncError, NumberKind, Value};

use super::values::{arity, generic, int_arg, is_empty, is_nil, list_arg, to_i64};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("tuple", tuple),
    ("first", must_first),
    ("mustFirst", must_first),
    ("last", must_last),
    ("mustLast", must_last),
    ("rest", rest),
    ("mustRest", rest),
    ("initial", initial),
    ("mustInitial", initial),
    ("append", append),
    ("push", append),
    ("mustAppend", append),
    ("mustPush", append),
    ("prepend", prepend),
    ("mustPrepend", prepend),
    ("concat", concat),
    ("reverse", reverse),
    ("mustReverse", reverse),
    ("uniq", uniq),
    ("mustUniq", uniq),
    ("without", without),
    ("mustWithout", without),
    ("has", has),
    ("mustHas", has),
    ("compact", compact),
    ("mustCompact", compact),
    ("chunk", chunk),
    ("mustChunk", chunk),
    ("mustSlice", must_slice),
];

/// Go's `reflect.DeepEqual` of two template values: numbers are equal when they are the same
/// kind (integer or float) and value, maps when they hold the same keys and equal values.
pub(super) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.kind(), y.kind()) {
            (NumberKind::Float(x), NumberKind::Float(y)) => x == y,
            (NumberKind::Float(_), _) | (_, NumberKind::Float(_)) => false,
            _ => to_i64(a) == to_i64(b),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| deep_equal(x, y))
        }
        (Value::Map(x) | Value::Object(x), Value::Map(y) | Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        (a, b) if is_nil(a) && is_nil(b) => true,
        (a, b) => a == b,
    }
}

fn tuple(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Array(args.to_vec()))
}

fn must_first(args: &[Value]) -> Result<Value, FuncError> {
    arity("mustFirst", args, 1)?;
    let l = list_arg("find first", &args[0])?;
    Ok(l.first().cloned().unwrap_or(Value::Nil))
}

fn must_last(args: &[Value]) -> Result<Value, FuncError> {
    arity("mustLast", args, 1)?;
    let l = list_arg("find last", &args[0])?;
    Ok(l.last().cloned().unwrap_or(Value::Nil))
}

fn rest(args: &[Value]) -> Result<Value, FuncError> {
    arity("rest", args, 1)?;
    let l = list_arg("find rest", &args[0])?;
    Ok(Value::Array(l.iter().skip(1).cloned().collect()))
}

fn initial(args: &[Value]) -> Result<Value, FuncError> {
    arity("initial", args, 1)?;
    let l = list_arg("find initial", &args[0])?;
    let n = l.len().saturating_sub(1);
    Ok(Value::Array(l[..n].to_vec()))
}

fn append(args: &[Value]) -> Result<Value, FuncError> {
    arity("append", args, 2)?;
    let mut l = list_arg("push", &args[0])?.to_vec();
    l.push(args[1].clone());
    Ok(Value::Array(l))
}

fn prepend(args: &[Value]) -> Result<Value, FuncError> {
    arity("prepend", args, 2)?;
    let l = list_arg("prepend", &args[0])?;
    let mut out = Vec::with_capacity(l.len() + 1);
    out.push(args[1].clone());
    out.extend_from_slice(l);
    Ok(Value::Array(out))
}

fn concat(args: &[Value]) -> Result<Value, FuncError> {
    let mut out = Vec::new();
    for a in args {
        match a {
            Value::Array(items) => out.extend_from_slice(items),
            other => {
                return Err(generic(format!(
                    "Cannot concat type {} as list",
                    super::values::go_kind(other)
                )));
            }
        }
    }
    Ok(Value::Array(out))
}

fn reverse(args: &[Value]) -> Result<Value, FuncError> {
    arity("reverse", args, 1)?;
    let l = list_arg("find reverse", &args[0])?;
    Ok(Value::Array(l.iter().rev().cloned().collect()))
}

fn uniq(args: &[Value]) -> Result<Value, FuncError> {
    arity("uniq", args, 1)?;
    let l = list_arg("find uniq", &args[0])?;
    let mut out: Vec<Value> = Vec::new();
    for item in l {
        if !out.iter().any(|o| deep_equal(o, item)) {
            out.push(item.clone());
        }
    }
    Ok(Value::Array(out))
}

fn without(args: &[Value]) -> Result<Value, FuncError> {
    let Some((list, omit)) = args.split_first() else {
        return Err(generic(
            "wrong number of args for without: want at least 1 got 0",
        ));
    };
    let l = list_arg("find without", list)?;
    Ok(Value::Array(
        l.iter()
            .filter(|item| !omit.iter().any(|o| deep_equal(o, item)))
            .cloned()
            .collect(),
    ))
}

fn has(args: &[Value]) -> Result<Value, FuncError> {
    arity("has", args, 2)?;
    if is_nil(&args[1]) {
        return Ok(Value::Bool(false));
    }
    let l = list_arg("find has", &args[1])?;
    Ok(Value::Bool(l.iter().any(|item| deep_equal(&args[0], item))))
}

fn compact(args: &[Value]) -> Result<Value, FuncError> {
    arity("compact", args, 1)?;
    let l = list_arg("compact", &args[0])?;
    Ok(Value::Array(
        l.iter().filter(|v| !is_empty(v)).cloned().collect(),
    ))
}

fn chunk(args: &[Value]) -> Result<Value, FuncError> {
    arity("chunk", args, 2)?;
    let size = int_arg("chunk", &args[0])?;
    let l = list_arg("chunk type", &args[1])?;
    let size = match usize::try_from(size) {
        Ok(n) if n > 0 => n,
        // Go divides by the size and makes a slice of what comes out: a runtime panic.
        _ => return Err(generic("runtime error: makeslice: len out of range")),
    };
    Ok(Value::Array(
        l.chunks(size).map(|c| Value::Array(c.to_vec())).collect(),
    ))
}

/// sprig's `mustSlice list [start [end]]` (`slice` stays Go's builtin, see the module doc).
fn must_slice(args: &[Value]) -> Result<Value, FuncError> {
    let Some((list, idx)) = args.split_first() else {
        return Err(generic(
            "wrong number of args for mustSlice: want at least 1 got 0",
        ));
    };
    let l = match list {
        Value::Array(items) => items,
        other => {
            return Err(generic(format!(
                "list should be type of slice or array but {}",
                super::values::go_kind(other)
            )));
        }
    };
    if l.is_empty() {
        return Ok(Value::Nil);
    }
    let start = idx.first().map_or(0, to_i64);
    let end = idx
        .get(1)
        .map_or(i64::try_from(l.len()).unwrap_or(i64::MAX), to_i64);
    let len = i64::try_from(l.len()).unwrap_or(i64::MAX);
    if start < 0 || end < start || end > len {
        return Err(generic(format!(
            "reflect: slice index out of range [{start}:{end}] with length {len}"
        )));
    }
    let (s, e) = (
        usize::try_from(start).unwrap_or(0),
        usize::try_from(end).unwrap_or(0),
    );
    Ok(Value::Array(l[s..e].to_vec()))
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    /// What Go renders with ESO's sprig fork.
    #[test]
    fn lists_as_go() {
        let d: &[(&str, &str)] = &[];
        check(&[
            ("{{ list 1 2 3 | rest | toJson }}", d, "[2,3]"),
            ("{{ list | first }}", d, "<no value>"),
            ("{{ list 1 2 | last }} {{ list | last }}", d, "2 <no value>"),
            ("{{ list 1 2 3 | initial | toJson }}", d, "[1,2]"),
            ("{{ append (list 1) 2 | toJson }}", d, "[1,2]"),
            ("{{ mustPush (list 1) 2 | toJson }}", d, "[1,2]"),
            ("{{ prepend (list 1) 0 | toJson }}", d, "[0,1]"),
            (
                "{{ concat (list 1) (list 2 3) (list) | toJson }}",
                d,
                "[1,2,3]",
            ),
            ("{{ reverse (list 1 2 3) | toJson }}", d, "[3,2,1]"),
            (
                r#"{{ uniq (list 1 1 "1" 2 1.5 1.5) | toJson }}"#,
                d,
                r#"[1,"1",2,1.5]"#,
            ),
            (
                r#"{{ uniq (list (dict "a" 1) (dict "a" 1)) | len }}"#,
                d,
                "1",
            ),
            ("{{ without (list 1 2 3 2) 2 3 | toJson }}", d, "[1]"),
            ("{{ without (list 1 nil) nil | toJson }}", d, "[1]"),
            (
                r#"{{ has 2 (list 1 2) }} {{ has "2" (list 1 2) }} {{ has 1 nil }}"#,
                d,
                "true false false",
            ),
            (
                "{{ has 1 (list 1.5) }} {{ has (list 1) (list (list 1)) }}",
                d,
                "false true",
            ),
            (
                r#"{{ compact (list 1 0 "" nil "a" false (list)) | toJson }}"#,
                d,
                r#"[1,"a"]"#,
            ),
            (
                "{{ chunk 2 (list 1 2 3 4 5) | toJson }}",
                d,
                "[[1,2],[3,4],[5]]",
            ),
            ("{{ chunk 2 (list) | toJson }}", d, "[]"),
            ("{{ mustSlice (list 1 2 3 4) 1 3 | toJson }}", d, "[2,3]"),
            ("{{ mustSlice (list 1 2 3 4) 2 | toJson }}", d, "[3,4]"),
            (r#"{{ tuple 1 "a" | toJson }}"#, d, r#"[1,"a"]"#),
        ]);
        for (tpl, want) in [
            (r#"{{ append "x" 1 }}"#, "Cannot push on type string"),
            (r#"{{ mustFirst "x" }}"#, "Cannot find first on type string"),
            (r#"{{ rest "x" }}"#, "Cannot find rest on type string"),
            (r#"{{ mustHas 1 "x" }}"#, "Cannot find has on type string"),
            (
                r#"{{ concat (list 1) "x" }}"#,
                "Cannot concat type string as list",
            ),
            ("{{ mustChunk 0 (list 1) }}", "makeslice: len out of range"),
        ] {
            let err = render(tpl, d).unwrap_err().to_string();
            assert!(err.contains(want), "{tpl}: {err}");
        }
    }
}
