//! sprig's path functions: `base dir clean ext isAbs` (Go's `path`) and their `os*` forms
//! (Go's `path/filepath`, the same on Linux, where the operator runs).

use gtmpl_ng::{Func, FuncError, Value};

use super::values::{arity, str_arg};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("base", base),
    ("osBase", base),
    ("dir", dir),
    ("osDir", dir),
    ("clean", clean),
    ("osClean", clean),
    ("ext", ext),
    ("osExt", ext),
    ("isAbs", is_abs),
    ("osIsAbs", is_abs),
];

/// Go's `path.Clean`: one slash between elements, `.` and `..` resolved lexically, no trailing
/// slash, "." for nothing.
pub(super) fn go_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".to_owned();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

fn base(args: &[Value]) -> Result<Value, FuncError> {
    arity("base", args, 1)?;
    let p = str_arg("base", &args[0])?;
    if p.is_empty() {
        return Ok(Value::from("."));
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(Value::from("/"));
    }
    Ok(Value::from(trimmed.rsplit('/').next().unwrap_or(trimmed)))
}

fn dir(args: &[Value]) -> Result<Value, FuncError> {
    arity("dir", args, 1)?;
    let p = str_arg("dir", &args[0])?;
    let head = p.rfind('/').map_or("", |i| &p[..=i]);
    Ok(Value::String(go_clean(head)))
}

fn clean(args: &[Value]) -> Result<Value, FuncError> {
    arity("clean", args, 1)?;
    Ok(Value::String(go_clean(str_arg("clean", &args[0])?)))
}

fn ext(args: &[Value]) -> Result<Value, FuncError> {
    arity("ext", args, 1)?;
    let p = str_arg("ext", &args[0])?;
    let last = p.rsplit('/').next().unwrap_or(p);
    Ok(Value::from(last.rfind('.').map_or("", |i| &last[i..])))
}

fn is_abs(args: &[Value]) -> Result<Value, FuncError> {
    arity("isAbs", args, 1)?;
    Ok(Value::Bool(str_arg("isAbs", &args[0])?.starts_with('/')))
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    /// What Go's `path` package answers (sprig calls it directly).
    #[test]
    fn paths_as_go() {
        let d: &[(&str, &str)] = &[];
        check(&[
            (
                r#"{{ base "/a/b.txt" }}|{{ base "/a/b/" }}|{{ base "" }}|{{ base "///" }}|{{ base "x" }}"#,
                d,
                "b.txt|b|.|/|x",
            ),
            (
                r#"{{ dir "/a/b/c" }}|{{ dir "a/b/" }}|{{ dir "x" }}|{{ dir "/" }}|{{ dir "" }}"#,
                d,
                "/a/b|a/b|.|/|.",
            ),
            (
                r#"{{ clean "a//b/./c/.." }}|{{ clean "/../x" }}|{{ clean "../../y" }}|{{ clean "" }}|{{ clean "a/.." }}"#,
                d,
                "a/b|/x|../../y|.|.",
            ),
            (
                r#"{{ ext "a/b.tar.gz" }}|{{ ext "a.d/b" }}|{{ ext "x." }}"#,
                d,
                ".gz||.",
            ),
            (
                r#"{{ isAbs "/x" }} {{ isAbs "x" }} {{ osBase "/a/b" }} {{ osDir "/a/b" }} {{ osClean "a/../b" }} {{ osExt "f.pem" }} {{ osIsAbs "/" }}"#,
                d,
                "true false b /a b .pem true",
            ),
        ]);
    }
}
