//! sprig's `semver` and `semverCompare`, with Masterminds/semver's semantics
//! ([`super::masterminds`]).
//!
//! In templates `semver` gives a map (gtmpl-ng cannot call methods of Go values): its fields
//! `Major`, `Minor`, `Patch`, `Prerelease`, `Metadata` and `Original` hold the values, and
//! `String`, `IncMajor`, `IncMinor` and `IncPatch` are methods without arguments, as in Go. Go's
//! methods that take an argument (`Compare`, `LessThan`, `GreaterThan`, `Equal`,
//! `SetPrerelease`, `SetMetadata`) cannot be called in this engine (use `semverCompare`); a
//! version printed as a whole shows the map where Go prints `1.2.3` (print `.String` or
//! `.Original`), and `toJson` of one is an error where Go gives the version string. Errors do
//! not quote the text parsed: it may be a secret.

use std::collections::HashMap;

use gtmpl_ng::{Func, FuncError, Value};

use super::masterminds::{Constraints, Part, Version};
use super::values::{arity, generic, str_arg};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[("semver", semver), ("semverCompare", semver_compare)];

fn version_value(v: &Version) -> Value {
    let mut fields: HashMap<String, Value> = HashMap::from([
        ("Major".to_owned(), Value::from(v.major)),
        ("Minor".to_owned(), Value::from(v.minor)),
        ("Patch".to_owned(), Value::from(v.patch)),
        ("Prerelease".to_owned(), Value::from(v.pre.clone())),
        ("Metadata".to_owned(), Value::from(v.metadata.clone())),
        ("Original".to_owned(), Value::from(v.original.clone())),
    ]);
    let methods: [(&str, Func); 4] = [
        ("String", version_string),
        ("IncMajor", inc_major),
        ("IncMinor", inc_minor),
        ("IncPatch", inc_patch),
    ];
    for (name, f) in methods {
        fields.insert(name.to_owned(), Value::Function(gtmpl_ng::Function { f }));
    }
    // An Object: a field it does not have is an error, as on Go's *Version.
    Value::Object(fields)
}

/// The version a method is called on (gtmpl-ng passes the receiver as the one argument).
fn receiver(method: &str, args: &[Value]) -> Result<Version, FuncError> {
    let not_a_version = || {
        generic(format!(
            "{method}: the receiver is not a version from semver"
        ))
    };
    let [Value::Object(fields)] = args else {
        return Err(not_a_version());
    };
    let number = |name: &str| match fields.get(name) {
        Some(Value::Number(n)) => n.as_u64().ok_or_else(not_a_version),
        _ => Err(not_a_version()),
    };
    let text = |name: &str| match fields.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(not_a_version()),
    };
    Ok(Version {
        major: number("Major")?,
        minor: number("Minor")?,
        patch: number("Patch")?,
        pre: text("Prerelease")?,
        metadata: text("Metadata")?,
        original: text("Original")?,
    })
}

fn version_string(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(receiver("String", args)?.canonical()))
}

fn inc_major(args: &[Value]) -> Result<Value, FuncError> {
    Ok(version_value(
        &receiver("IncMajor", args)?.incremented(Part::Major),
    ))
}

fn inc_minor(args: &[Value]) -> Result<Value, FuncError> {
    Ok(version_value(
        &receiver("IncMinor", args)?.incremented(Part::Minor),
    ))
}

fn inc_patch(args: &[Value]) -> Result<Value, FuncError> {
    Ok(version_value(
        &receiver("IncPatch", args)?.incremented(Part::Patch),
    ))
}

fn semver(args: &[Value]) -> Result<Value, FuncError> {
    arity("semver", args, 1)?;
    let version =
        Version::parse(str_arg("semver", &args[0])?).map_err(|e| generic(e.to_string()))?;
    Ok(version_value(&version))
}

fn semver_compare(args: &[Value]) -> Result<Value, FuncError> {
    arity("semverCompare", args, 2)?;
    let constraints = Constraints::parse(str_arg("semverCompare", &args[0])?)
        .map_err(|e| generic(e.to_string()))?;
    let version =
        Version::parse(str_arg("semverCompare", &args[1])?).map_err(|e| generic(e.to_string()))?;
    Ok(Value::Bool(constraints.check(&version)))
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    /// sprig's semver_test.go (TestSemverCompare, TestSemverCompareErr, TestSemver) and its
    /// documentation's fields.
    #[test]
    fn template_functions() {
        let d: &[(&str, &str)] = &[("v", "v2.4.1-rc.1+build.7")];
        check(&[
            (r#"{{ semverCompare "1.2.3" "1.2.3" }}"#, d, "true"),
            (r#"{{ semverCompare "^1.2.0" "1.2.3" }}"#, d, "true"),
            (r#"{{ semverCompare "^1.2.0" "2.2.3" }}"#, d, "false"),
            (
                r#"{{ $s := semver "1.2.3-beta.1+c0ff33" }}{{ $s.Prerelease }}"#,
                d,
                "beta.1",
            ),
            (
                r#"{{ $s := semver "1.2.3-beta.1+c0ff33" }}{{ $s.Major}}"#,
                d,
                "1",
            ),
            // Worked out from Masterminds' rules: the prerelease satisfies only a constraint
            // naming a prerelease.
            (r#"{{ semverCompare ">=2.4.0" .v }}"#, d, "false"),
            (r#"{{ semverCompare ">=2.4.0-0" .v }}"#, d, "true"),
            (
                r#"{{ semverCompare "~2.3 || ^2.4.1-alpha" .v }}"#,
                d,
                "true",
            ),
            (
                "{{ with semver .v }}{{ .Major }}|{{ .Minor }}|{{ .Patch }}|{{ .Prerelease }}|{{ .Metadata }}|{{ .Original }}|{{ .String }}{{ end }}",
                d,
                "2|4|1|rc.1|build.7|v2.4.1-rc.1+build.7|2.4.1-rc.1+build.7",
            ),
            // TestInc's rows through the methods.
            (
                r#"{{ (semver "v1.2.4-beta+meta").IncPatch.Original }}"#,
                d,
                "v1.2.4",
            ),
            (r#"{{ (semver "1.2.3").IncMinor.String }}"#, d, "1.3.0"),
            (r#"{{ (semver "v1.2.4").IncMajor.Original }}"#, d, "v2.0.0"),
            (r#"{{ (semver "1.2").Patch }}"#, d, "0"),
        ]);
        for tpl in [
            r#"{{ semverCompare "badConstraint" "1.2.3" }}"#,
            r#"{{ semverCompare "1.2.0" "badVersion" }}"#,
            r#"{{ semver "1.2.3.4" }}"#,
            // Methods with an argument cannot be called here (Go's sprig test
            // `semver "1.2.3" | (semver "1.3.3").Compare` gives 1 there).
            r#"{{ semver "1.2.3" | (semver "1.3.3").Compare }}"#,
            r#"{{ (semver "1.2.3").NoSuchField }}"#,
        ] {
            assert!(render(tpl, d).is_err(), "{tpl}");
        }
        // The text parsed is not quoted in an error: it may be a secret.
        // (Three bytes: too short for the engine's redaction, so only the message could hide it.)
        let secret: &[(&str, &str)] = &[("pw", "q%z")];
        for tpl in [r#"{{ semver .pw }}"#, r#"{{ semverCompare .pw "1.0.0" }}"#] {
            let err = render(tpl, secret).unwrap_err().to_string();
            assert!(!err.contains("q%z"), "{err}");
        }
    }
}
