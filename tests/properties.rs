//! Property tests of the code that reads untrusted input: the property-path reader, the template
//! engine, the duration parser, the version selector, the CRD types and the manifest parser.
//! Each target generates nasty inputs (arbitrary text and bytes, near-valid structured inputs,
//! deep nesting, huge numbers, unicode, NUL bytes) and checks that nothing panics or hangs, and,
//! where a model exists, that the answer is the model's.
//!
//! The case counts below keep the whole run short in a debug build; `PROPTEST_CASES=N` sets
//! every target to N cases for a longer run (see `docs/reliability.md`). A failure is saved under
//! `proptest-regressions/properties/` (replayed first on every run; commit it) and then gets a
//! named regression test beside its property.

mod support;

#[path = "properties/crd.rs"]
mod crd;
#[path = "properties/duration.rs"]
mod duration;
#[path = "properties/manifest.rs"]
mod manifest;
#[path = "properties/path.rs"]
mod path;
#[path = "properties/template.rs"]
mod template;
#[path = "properties/version.rs"]
mod version;

use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};

/// One property: where it lives, what it checks, and its cases in the test command.
pub struct Target {
    /// The test function.
    pub test: &'static str,
    /// The code under test.
    pub code: &'static str,
    /// What each case checks.
    pub checks: &'static str,
    /// Cases in the test command.
    pub cases: u32,
}

/// The environment variable that sets every target's case count.
const CASES_ENV: &str = "PROPTEST_CASES";

/// proptest's configuration for a target: `cases` unless `PROPTEST_CASES` says otherwise, and
/// failures persisted to `proptest-regressions/properties/<file>.txt`.
pub fn config(file: &'static str, cases: u32) -> ProptestConfig {
    let cases = std::env::var(CASES_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(file))),
        ..ProptestConfig::default()
    }
}

/// The persistence file of a target module, as a `&'static str`.
#[macro_export]
macro_rules! regressions {
    ($name:literal) => {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/properties/",
            $name,
            ".txt"
        )
    };
}

/// A bug a property found, and the regression test that keeps it fixed.
pub struct Found {
    /// What failed, on which input.
    pub bug: &'static str,
    /// How it was fixed, and where.
    pub fix: &'static str,
    /// The regression test.
    pub test: &'static str,
}

fn targets() -> Vec<&'static Target> {
    [
        path::TARGETS,
        template::TARGETS,
        duration::TARGETS,
        version::TARGETS,
        crd::TARGETS,
        manifest::TARGETS,
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn found() -> Vec<&'static Found> {
    [
        path::FOUND,
        template::FOUND,
        duration::FOUND,
        version::FOUND,
        crd::FOUND,
        manifest::FOUND,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The fuzzing block of `docs/reliability.md`, from the targets' own constants.
fn fuzzing_block() -> String {
    let targets = targets();
    let total: u32 = targets.iter().map(|t| t.cases).sum();
    let mut out = String::new();
    out.push_str(
        "Property tests (`proptest`) in `tests/properties.rs` and `tests/properties/`, run by the \
         test command as `cargo test --test properties`: each generates nasty inputs (arbitrary \
         text and bytes, near-valid structured inputs, deep nesting, huge numbers, unicode, NUL \
         bytes) and checks that nothing panics or hangs and, where a model exists, that the answer \
         is the model's. A failure is saved in `proptest-regressions/properties/` (replayed first \
         on every run) and becomes a named regression test.\n\n",
    );
    out.push_str("| Test | Code | Each case checks | Cases in the test command |\n");
    out.push_str("|---|---|---|---:|\n");
    for t in &targets {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            t.test,
            cell(t.code),
            cell(t.checks),
            t.cases
        ));
    }
    out.push_str(&format!(
        "\n{} targets, {total} cases in all in the test command. A longer run sets every target's \
         count: `PROPTEST_CASES=100000 cargo test --release --test properties` (failures are \
         written to `proptest-regressions/`; commit them with the fix).\n\n",
        targets.len()
    ));
    out.push_str(
        "Coverage-guided fuzzing of the same entry points, for a nightly toolchain with \
         `cargo install cargo-fuzz`: `cd fuzz && cargo +nightly fuzz run <target>` (targets \
         `property_path`, `template`, `duration`, `crd_json`, `manifest`; see `fuzz/README.md`). \
         It is not part of the test command.\n\n",
    );
    let found = found();
    out.push_str(&format!(
        "Bugs found by these properties ({}):\n\n",
        found.len()
    ));
    out.push_str("| Bug | Fix | Regression test |\n|---|---|---|\n");
    for f in &found {
        out.push_str(&format!(
            "| {} | {} | `{}` |\n",
            cell(f.bug),
            cell(f.fix),
            f.test
        ));
    }
    out
}

/// Text for a markdown table cell: a `|` would end the cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[test]
fn reliability_doc_lists_the_targets_and_bugs() {
    support::docs::check_block("docs/reliability.md", "fuzzing", &fuzzing_block());
}

#[test]
fn every_target_is_a_test_of_this_binary() {
    let sources: String = [
        include_str!("properties/crd.rs"),
        include_str!("properties/duration.rs"),
        include_str!("properties/manifest.rs"),
        include_str!("properties/path.rs"),
        include_str!("properties/template.rs"),
        include_str!("properties/version.rs"),
    ]
    .concat();
    for t in targets() {
        assert!(
            sources.contains(&format!("fn {}(", t.test)),
            "{} is listed but not defined",
            t.test
        );
        assert!(t.cases > 0);
    }
    for f in found() {
        assert!(
            sources.contains(&format!("fn {}(", f.test)),
            "regression test {} is listed but not defined",
            f.test
        );
    }
}
