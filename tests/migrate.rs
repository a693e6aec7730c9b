//! `stagesync migrate`, run as the binary: the corpus in `tests/fixtures/migrate/input` becomes
//! `expected/` byte for byte with the report in `expected-report.txt`; unrelated documents stay
//! byte-identical; `--dry-run` prints a diff and writes nothing; in place only changed files are
//! written, and a second run changes nothing; `-` reads stdin and writes stdout; exit codes 0,
//! 1 and 2. `STAGESYNC_UPDATE_GOLDEN=1` rewrites the expected files and the worked example of
//! `docs/migration.md` from the command's output.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use stagesync::migrate::{Input, migrate};
use support::{unique_name, workspace_root};

fn corpus() -> PathBuf {
    workspace_root().join("tests/fixtures/migrate")
}

fn updating() -> bool {
    std::env::var_os("STAGESYNC_UPDATE_GOLDEN").is_some()
}

/// Runs `stagesync migrate ARGS` in `dir` with `stdin`.
fn stagesync(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagesync"))
        .arg("migrate")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Every file under `dir`, by path relative to it.
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let text = std::fs::read_to_string(&path).unwrap();
                out.insert(path.strip_prefix(root).unwrap().to_path_buf(), text);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A fresh directory holding a copy of the corpus input.
fn copy_of_input() -> PathBuf {
    let dir = scratch();
    for (path, text) in tree(&corpus().join("input")) {
        let target = dir.join(&path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, text).unwrap();
    }
    dir
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name("stagesync-migrate"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_corpus_becomes_the_expected_tree_with_the_expected_report() {
    let out = scratch();
    let run = stagesync(
        &workspace_root(),
        &[
            "--output-dir",
            out.to_str().unwrap(),
            "tests/fixtures/migrate/input",
        ],
        "",
    );
    let report = text(&run.stderr).replace(out.to_str().unwrap(), "OUT");
    if updating() {
        let expected = corpus().join("expected");
        let _ = std::fs::remove_dir_all(&expected);
        for (path, text) in tree(&out) {
            let target = expected.join(path);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(target, text).unwrap();
        }
        std::fs::write(corpus().join("expected-report.txt"), &report).unwrap();
    }
    assert_eq!(run.status.code(), Some(1), "{report}");
    assert!(run.stdout.is_empty());
    let got = tree(&out);
    let want = tree(&corpus().join("expected"));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (path, text) in &want {
        assert_eq!(
            &got[path],
            text,
            "{} differs from the golden file",
            path.display()
        );
    }
    let want_report = std::fs::read_to_string(corpus().join("expected-report.txt")).unwrap();
    assert_eq!(report, want_report);
    // Every rule reported names a row of the documented table.
    for line in report.lines().filter(|l| l.contains(" [")) {
        let id = line.split(" [").nth(1).unwrap().split(']').next().unwrap();
        assert!(
            stagesync::migrate::table::RULES.iter().any(|r| r.id == id),
            "{id}"
        );
    }
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn documents_nothing_applies_to_stay_byte_identical() {
    let inputs: Vec<Input> = tree(&corpus().join("input"))
        .into_iter()
        .map(|(path, text)| Input {
            name: path.display().to_string(),
            text,
        })
        .collect();
    let report = migrate(&inputs).unwrap();
    let mut untouched = 0;
    for file in &report.files {
        for doc in &file.documents {
            if !doc.touched {
                untouched += 1;
                assert_eq!(
                    file.original[doc.input.clone()],
                    file.text[doc.output.clone()],
                    "{} {}",
                    file.name,
                    doc.object
                );
            } else {
                let kind = doc.object.split(' ').next().unwrap();
                assert!(
                    [
                        "ExternalSecret",
                        "ClusterExternalSecret",
                        "SecretStore",
                        "ClusterSecretStore",
                        "Deployment",
                        "StatefulSet",
                        "DaemonSet",
                        "CronJob",
                        "Rollout"
                    ]
                    .contains(&kind),
                    "{} was touched",
                    doc.object
                );
            }
        }
        // Between documents (separators, comments) nothing changes either: every edit lies
        // inside a touched document.
        for edit in &file.edits {
            assert!(
                file.documents
                    .iter()
                    .any(|d| d.touched && d.input.start <= edit.start && edit.end <= d.input.end),
                "{}: edit {edit:?} outside the documents it translates",
                file.name
            );
        }
    }
    assert!(untouched >= 15, "{untouched}");
    let unrelated = report
        .files
        .iter()
        .find(|f| f.name == "unrelated.yaml")
        .unwrap();
    assert_eq!(unrelated.text, unrelated.original);
}

#[test]
fn dry_run_prints_a_unified_diff_and_writes_nothing() {
    let dir = copy_of_input();
    let before = tree(&dir);
    let run = stagesync(&dir, &["--dry-run", "."], "");
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(tree(&dir), before, "nothing written");
    let diff = text(&run.stdout);
    let expected = tree(&corpus().join("expected"));
    for (path, original) in &before {
        let header = format!("--- ./{}\n+++ ./{}\n", path.display(), path.display());
        assert_eq!(
            diff.contains(&header),
            expected[path] != *original,
            "{}: a diff exactly for changed files",
            path.display()
        );
    }
    assert!(diff.contains(
        "-apiVersion: external-secrets.io/v1beta1\n+apiVersion: stagesync.io/v1alpha1\n"
    ));
    assert!(diff.contains(
        "-    reloader.stakater.com/auto: \"true\"   # restart when the password rotates\n"
    ));
    assert!(text(&run.stderr).contains("files would change"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn in_place_rewrites_changed_files_only_and_a_second_run_changes_nothing() {
    let dir = copy_of_input();
    let unrelated = dir.join("unrelated.yaml");
    let modified = std::fs::metadata(&unrelated).unwrap().modified().unwrap();
    let run = stagesync(&dir, &["."], "");
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    assert_eq!(tree(&dir), tree(&corpus().join("expected")));
    assert_eq!(
        std::fs::metadata(&unrelated).unwrap().modified().unwrap(),
        modified,
        "an unchanged file is not rewritten"
    );
    let again = stagesync(&dir, &["--dry-run", "."], "");
    assert!(again.stdout.is_empty(), "{}", text(&again.stdout));
    assert_eq!(
        again.status.code(),
        Some(1),
        "what is left untranslated is still listed"
    );
    let _ = std::fs::remove_dir_all(dir);
}

const STORE_AND_ES: &str = "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: aws\nspec:\n  provider:\n    aws: {service: SecretsManager, region: eu-west-1}\n---\napiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: db\nspec:\n  secretStoreRef: {name: aws}\n  dataFrom: [{extract: {key: prod/db}}]\n";

#[test]
fn stdin_is_migrated_to_stdout_with_exit_code_0_when_all_translates() {
    let run = stagesync(&scratch(), &["-"], STORE_AND_ES);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert_eq!(
        text(&run.stdout),
        STORE_AND_ES.replace("external-secrets.io/v1", "stagesync.io/v1alpha1")
    );
    assert_eq!(
        text(&run.stderr),
        "stagesync migrate: 2 translated, 0 left untranslated, 0 notes; 1 of 1 files changed\n"
    );
    let diff = stagesync(&scratch(), &["--dry-run", "-"], STORE_AND_ES);
    assert_eq!(diff.status.code(), Some(0));
    assert!(text(&diff.stdout).starts_with("--- -\n+++ -\n@@ -1,4 +1,4 @@\n-apiVersion: external-secrets.io/v1\n+apiVersion: stagesync.io/v1alpha1\n"));
}

#[test]
fn yaml_that_does_not_parse_or_a_missing_file_is_exit_code_2_and_nothing_is_written() {
    let dir = scratch();
    std::fs::write(dir.join("good.yaml"), STORE_AND_ES).unwrap();
    std::fs::write(dir.join("bad.yml"), "kind: [Deployment\nmetadata: {\n").unwrap();
    let run = stagesync(&dir, &["."], "");
    assert_eq!(run.status.code(), Some(2));
    let err = text(&run.stderr);
    assert!(
        err.contains("./bad.yml: YAML does not parse: line "),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("good.yaml")).unwrap(),
        STORE_AND_ES
    );
    let missing = stagesync(&dir, &["nope.yaml"], "");
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).starts_with("stagesync migrate: nope.yaml: "));
    let empty = scratch();
    let none = stagesync(&empty, &["."], "");
    assert_eq!(none.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(dir);
}

/// The block of `doc` after `marker`, inside its code fence.
fn block<'a>(doc: &'a str, marker: &str) -> (usize, usize, &'a str) {
    let at = doc.find(marker).unwrap_or_else(|| panic!("{marker}"));
    let fence = at + doc[at..].find("```").unwrap();
    let start = fence + doc[fence..].find('\n').unwrap() + 1;
    let end = start + doc[start..].find("```\n<!-- example:end -->").unwrap();
    (start, end, &doc[start..end])
}

/// The console block between the README's `stagesync-migrate` markers.
fn readme_block(readme: &str) -> (usize, usize, &str) {
    let at = readme
        .find("<!-- stagesync-migrate:start -->")
        .expect("README marker");
    let start = at + readme[at..].find("```console\n").unwrap() + "```console\n".len();
    let end = start
        + readme[start..]
            .find("```\n<!-- stagesync-migrate:end -->")
            .unwrap();
    (start, end, &readme[start..end])
}

#[test]
fn the_worked_example_of_the_docs_is_what_the_command_prints() {
    let path = workspace_root().join("docs/migration.md");
    let mut doc = std::fs::read_to_string(&path).unwrap();
    let (_, _, input) = block(&doc, "<!-- example:input -->");
    let dir = scratch();
    std::fs::write(dir.join("app.yaml"), input).unwrap();
    let run = stagesync(&dir, &["--dry-run", "app.yaml"], "");
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    let (diff, report) = (text(&run.stdout), text(&run.stderr));
    if updating() {
        for (marker, new) in [
            ("<!-- example:diff -->", &diff),
            ("<!-- example:report -->", &report),
        ] {
            let (start, end, _) = block(&doc, marker);
            doc.replace_range(start..end, new);
        }
        std::fs::write(&path, &doc).unwrap();
    }
    assert_eq!(block(&doc, "<!-- example:diff -->").2, diff);
    assert_eq!(block(&doc, "<!-- example:report -->").2, report);
    // The README shows the same run as a console session.
    let readme_path = workspace_root().join("README.md");
    let mut readme = std::fs::read_to_string(&readme_path).unwrap();
    let session = format!("$ stagesync migrate --dry-run app.yaml\n{diff}{report}$ echo $?\n1\n");
    let (start, end, shown) = readme_block(&readme);
    if updating() {
        readme.replace_range(start..end, &session);
        std::fs::write(&readme_path, &readme).unwrap();
    } else {
        assert_eq!(shown, session, "README's stagesync migrate example");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_migrated_corpus_passes_stagesync_check() {
    let run = Command::new(env!("CARGO_BIN_EXE_stagesync"))
        .args(["check", "tests/fixtures/migrate/expected"])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    let report = format!("{}{}", text(&run.stdout), text(&run.stderr));
    assert_eq!(run.status.code(), Some(0), "{report}");
    // It did check the migrated objects (ESO's left-overs are not stagesync's to check).
    assert!(
        report.contains("7 stagesync objects checked: 0 errors"),
        "{report}"
    );
}
