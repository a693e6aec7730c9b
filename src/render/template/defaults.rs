//! sprig's defaults, flow control and reflection: `default empty coalesce all any ternary fail`
//! and `typeOf typeIs typeIsLike kindOf kindIs deepEqual`.
//!
//! Go types are named as Go names them for what a template makes: `int`, `float64`, `string`,
//! `bool`, `[]interface {}`, `map[string]interface {}`, `time.Time`, `<nil>`. A template value
//! here does not remember a narrower Go type: an `int64` from `add`, a `[]string` from
//! `splitList` and the data itself (`map[string]string`) are named as above.

use gtmpl_ng::{Func, FuncError, Value};

use super::lists::deep_equal;
use super::values::{arity, generic, go_kind, go_type, is_empty, kind, str_arg};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("default", default),
    ("empty", empty),
    ("coalesce", coalesce),
    ("all", all),
    ("any", any),
    ("ternary", ternary),
    ("fail", fail),
    ("typeOf", type_of),
    ("typeIs", type_is),
    ("typeIsLike", type_is_like),
    ("kindOf", kind_of),
    ("kindIs", kind_is),
    ("deepEqual", deep_equal_fn),
];

fn all(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Bool(args.iter().all(|v| !is_empty(v))))
}

fn any(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Bool(args.iter().any(|v| !is_empty(v))))
}

fn type_of(args: &[Value]) -> Result<Value, FuncError> {
    arity("typeOf", args, 1)?;
    Ok(Value::from(go_type(&args[0])))
}

fn type_is(args: &[Value]) -> Result<Value, FuncError> {
    arity("typeIs", args, 2)?;
    Ok(Value::Bool(
        str_arg("typeIs", &args[0])? == go_type(&args[1]),
    ))
}

fn type_is_like(args: &[Value]) -> Result<Value, FuncError> {
    arity("typeIsLike", args, 2)?;
    let target = str_arg("typeIsLike", &args[0])?;
    let t = go_type(&args[1]);
    Ok(Value::Bool(
        target == t || t.strip_prefix('*') == Some(target),
    ))
}

fn kind_of(args: &[Value]) -> Result<Value, FuncError> {
    arity("kindOf", args, 1)?;
    Ok(Value::from(go_kind(&args[0])))
}

fn kind_is(args: &[Value]) -> Result<Value, FuncError> {
    arity("kindIs", args, 2)?;
    Ok(Value::Bool(
        str_arg("kindIs", &args[0])? == go_kind(&args[1]),
    ))
}

fn deep_equal_fn(args: &[Value]) -> Result<Value, FuncError> {
    arity("deepEqual", args, 2)?;
    Ok(Value::Bool(deep_equal(&args[0], &args[1])))
}

fn default(args: &[Value]) -> Result<Value, FuncError> {
    let Some((d, given)) = args.split_first() else {
        return Err(generic(
            "wrong number of args for default: want at least 1 got 0",
        ));
    };
    match given.first() {
        Some(g) if !is_empty(g) => Ok(g.clone()),
        _ => Ok(d.clone()),
    }
}

fn empty(args: &[Value]) -> Result<Value, FuncError> {
    arity("empty", args, 1)?;
    Ok(Value::Bool(is_empty(&args[0])))
}

fn coalesce(args: &[Value]) -> Result<Value, FuncError> {
    Ok(args
        .iter()
        .find(|v| !is_empty(v))
        .cloned()
        .unwrap_or(Value::Nil))
}

fn ternary(args: &[Value]) -> Result<Value, FuncError> {
    arity("ternary", args, 3)?;
    match &args[2] {
        Value::Bool(true) => Ok(args[0].clone()),
        Value::Bool(false) => Ok(args[1].clone()),
        other => Err(generic(format!(
            "wrong type for value in ternary; expected bool; got {}",
            kind(other)
        ))),
    }
}

fn fail(args: &[Value]) -> Result<Value, FuncError> {
    arity("fail", args, 1)?;
    Err(generic(str_arg("fail", &args[0])?))
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    /// What Go renders with ESO's sprig fork.
    #[test]
    fn reflection_as_go() {
        let d: &[(&str, &str)] = &[];
        check(&[
            (
                r#"{{ typeOf 1 }} {{ typeOf 1.5 }} {{ typeOf "s" }} {{ typeOf (list) }} {{ typeOf (dict) }} {{ typeOf nil }} {{ typeOf true }} {{ kindOf 1 }} {{ kindOf "s" }} {{ kindOf (list) }} {{ kindOf (dict) }} {{ kindOf nil }} {{ kindOf 1.5 }}"#,
                d,
                "int float64 string []interface {} map[string]interface {} <nil> bool int string slice map invalid float64",
            ),
            (
                r#"{{ typeIs "int" 1 }} {{ typeIsLike "string" "s" }} {{ kindIs "slice" (list) }} {{ deepEqual (list 1 (dict "a" "b")) (list 1 (dict "a" "b")) }} {{ deepEqual 1 1.5 }} {{ deepEqual 1 "1" }}"#,
                d,
                "true true true true false false",
            ),
            (
                r#"{{ all 1 "a" true }} {{ all 1 "" }} {{ all }} {{ any 0 "" "x" }} {{ any }} {{ any 0 false }}"#,
                d,
                "true false true true false false",
            ),
        ]);
    }

    #[test]
    fn defaults_and_logic() {
        let d: &[(&str, &str)] = &[("empty", ""), ("v", "y")];
        check(&[
            (r#"{{ .empty | default "x" }}"#, d, "x"),
            (r#"{{ .v | default "x" }}"#, d, "y"),
            (r#"{{ default "d" 0 }}"#, d, "d"),
            (r#"{{ default "d" false }}"#, d, "d"),
            (r#"{{ default "d" }}"#, d, "d"),
            (r#"{{ default "d" (list) }}"#, d, "d"),
            (
                r#"{{ empty "" }} {{ empty "a" }} {{ empty 0 }} {{ empty (dict) }}"#,
                d,
                "true false true true",
            ),
            (r#"{{ coalesce "" .empty .v "z" }}"#, d, "y"),
            (
                r#"{{ ternary "y" "n" true }}{{ ternary "y" "n" false }}"#,
                d,
                "yn",
            ),
        ]);
        let err = render(r#"{{ fail "stop here" }}"#, d).unwrap_err();
        assert!(err.to_string().contains("stop here"), "{err}");
    }
}
