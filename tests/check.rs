//! `stagesync check` as a user runs it: the binary on files, directories and standard input,
//! with each output format and exit code, and `--aws` against moto (metadata calls only).

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::aws_proxy::AwsProxy;
use support::moto::{admin_client_at, moto};
use support::unique_name;

fn fixtures() -> PathBuf {
    support::workspace_root().join("tests/fixtures/check")
}

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stagesync"))
        .arg("check")
        .args(args)
        .output()
        .expect("stagesync runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The 1-based line of the fixture line carrying `# marker`.
fn line_of(file: &Path, marker: &str) -> u64 {
    let text = std::fs::read_to_string(file).unwrap();
    let needle = format!("# {marker}");
    let index = text
        .lines()
        .position(|l| l.trim_end().ends_with(&needle))
        .unwrap_or_else(|| panic!("no line marked {marker:?}"));
    index as u64 + 1
}

#[test]
fn a_clean_tree_passes_and_says_which_keys_each_secret_gets() {
    let out = check(&[fixtures().join("clean").to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(
            "ExternalSecret team-a/db writes Secret team-a/app-db: dsn, password, username\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "ExternalSecret team-a/settings writes Secret team-a/settings: previous-token, <keys of shared/settings>\n"
        ),
        "the store's prefix names the secret whose keys are read: {text}"
    );
    assert!(
        text.ends_with("4 stagesync objects checked: 0 errors, 0 warnings\n"),
        "{text}"
    );
}

#[test]
fn the_examples_directory_passes() {
    let out = check(&[
        support::workspace_root().join("examples").to_str().unwrap(),
        "--allow-external-stores",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn every_mistake_is_reported_at_its_line() {
    let file = fixtures().join("broken.yaml");
    let out = check(&[file.to_str().unwrap(), "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let problems = report["problems"].as_array().unwrap();
    let expect = |marker: &str, severity: &str, object: &str, needle: &str| {
        let line = line_of(&file, marker);
        let found = problems.iter().any(|p| {
            p["line"] == line
                && p["severity"] == severity
                && p["object"] == object
                && p["message"].as_str().unwrap().contains(needle)
        });
        assert!(
            found,
            "{marker}: no {severity} at line {line} on {object} containing {needle:?}; problems: {problems:#?}"
        );
    };
    expect(
        "other-namespace-credentials",
        "error",
        "SecretStore team-b/aws",
        "may only read credentials from its own namespace",
    );
    expect(
        "ambient-store",
        "error",
        "SecretStore team-b/ambient",
        "--allow-ambient-credentials",
    );
    expect(
        "bad-store-interval",
        "error",
        "ClusterSecretStore payments",
        "refreshInterval \"soon\"",
    );
    expect(
        "unknown-field",
        "error",
        "ExternalSecret team-b/typo",
        "unknown field \"spec.refreshIntervall\"",
    );
    expect(
        "stage-and-id",
        "error",
        "ExternalSecret team-b/both-selectors",
        "versionStage and versionId are mutually exclusive",
    );
    expect(
        "bad-interval",
        "error",
        "ExternalSecret team-b/bad-interval",
        "1 hour",
    );
    expect(
        "bad-window",
        "error",
        "ExternalSecret team-b/bad-window",
        "0 25 * * *",
    );
    expect(
        "template-syntax",
        "error",
        "ExternalSecret team-b/bad-template",
        "",
    );
    expect(
        "template-missing-key",
        "error",
        "ExternalSecret team-b/missing-key",
        "map has no entry for key \"usr\"",
    );
    expect(
        "duplicate-key",
        "error",
        "ExternalSecret team-b/duplicate-keys",
        "secretKey \"password\" is also written by data[0]",
    );
    expect(
        "missing-store",
        "error",
        "ExternalSecret team-b/no-store",
        "SecretStore \"awss\" is not among the checked manifests",
    );
    expect(
        "not-admitted",
        "error",
        "ExternalSecret team-b/not-admitted",
        "does not admit namespace \"team-b\"",
    );
    expect(
        "generator",
        "error",
        "ExternalSecret team-b/generator",
        "generators are not supported",
    );
    expect(
        "invalid-key",
        "error",
        "ExternalSecret team-b/bad-rewrite",
        "",
    );
    expect(
        "reload-unmanaged",
        "warning",
        "Deployment team-b/orphan",
        "uses no Secret an ExternalSecret among the checked manifests writes (it uses hand-made)",
    );
    // Objects with errors are not listed as writing anything.
    let secrets = report["secrets"].as_array().unwrap();
    assert!(
        secrets
            .iter()
            .all(|s| s["object"] != "ExternalSecret team-b/typo"),
        "{secrets:?}"
    );
    assert_eq!(report["objects"], 14, "3 stores and 11 ExternalSecrets");
}

#[test]
fn github_annotations_and_text_point_at_the_same_lines() {
    let file = fixtures().join("broken.yaml");
    let path = file.to_str().unwrap();
    let github = stdout(&check(&[path, "--output", "github"]));
    let line = line_of(&file, "missing-store");
    assert!(
        github.contains(&format!(
            "::error file={path},line={line},title=ExternalSecret team-b/no-store::spec.secretStoreRef.name: SecretStore \"awss\""
        )),
        "{github}"
    );
    assert!(
        github
            .lines()
            .all(|l| l.starts_with("::error ") || l.starts_with("::warning "))
    );
    let text = stdout(&check(&[path]));
    assert!(
        text.contains(&format!(
            "{path}:{line}: error: ExternalSecret team-b/no-store: spec.secretStoreRef.name: SecretStore \"awss\""
        )),
        "{text}"
    );
    assert!(
        text.contains("    hint: check the name; pass --allow-external-stores"),
        "{text}"
    );
}

#[test]
fn allow_external_stores_and_strict_change_what_fails() {
    let dir = std::env::temp_dir().join(unique_name("check-external"));
    std::fs::create_dir_all(&dir).unwrap();
    let es = dir.join("es.yaml");
    std::fs::write(
        &es,
        "apiVersion: stagesync.io/v1alpha1\nkind: ExternalSecret\nmetadata:\n  name: a\nspec:\n  secretStoreRef:\n    name: platform-store\n  data:\n    - secretKey: k\n      remoteRef:\n        key: db\n",
    )
    .unwrap();
    let path = es.to_str().unwrap();
    assert_eq!(check(&[path]).status.code(), Some(1));
    let allowed = check(&[path, "--allow-external-stores"]);
    assert_eq!(allowed.status.code(), Some(0), "{}", stdout(&allowed));
    assert!(stdout(&allowed).contains("0 errors, 1 warning"));
    assert_eq!(
        check(&[path, "--allow-external-stores", "--strict"])
            .status
            .code(),
        Some(1)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn standard_input_bad_yaml_and_unreadable_paths() {
    let clean = std::fs::read_to_string(fixtures().join("clean/externalsecrets.yaml")).unwrap();
    let stores = std::fs::read_to_string(fixtures().join("clean/stores.yaml")).unwrap();
    let namespaces = std::fs::read_to_string(fixtures().join("clean/namespaces.yaml")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagesync"))
        .args(["check", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    write!(
        child.stdin.take().unwrap(),
        "{namespaces}---\n{stores}---\n{clean}"
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    let dir = std::env::temp_dir().join(unique_name("check-bad-yaml"));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "apiVersion: v1\nkind: ConfigMap\ndata: [unclosed\n").unwrap();
    let out = check(&[bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("error: not valid YAML"),
        "{}",
        stdout(&out)
    );

    let out = check(&[dir.join("nope.yaml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.yaml"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_mode_proves_secrets_stages_and_versions_with_metadata_calls_only() {
    let proxy = AwsProxy::start(&moto().endpoint);
    let aws = admin_client_at(&proxy.endpoint).await;
    let base = unique_name("check");
    let present = format!("{base}/db");
    let doomed = format!("{base}/old");
    let absent = format!("{base}/nope");
    aws.create_secret()
        .name(&present)
        .secret_string(r#"{"user":"u","password":"not-printed-anywhere"}"#)
        .send()
        .await
        .unwrap();
    aws.create_secret()
        .name(&doomed)
        .secret_string("x")
        .send()
        .await
        .unwrap();
    aws.delete_secret()
        .secret_id(&doomed)
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    proxy.reset();

    let dir = std::env::temp_dir().join(unique_name("check-aws"));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("es.yaml");
    let entry = |key: &str, name: &str, extra: &str| {
        format!("    - secretKey: {name}\n      remoteRef:\n        key: {key}\n{extra}")
    };
    let data = [
        entry(&present, "user", "        property: user\n"),
        entry(
            &present,
            "pending",
            "        versionStage: AWSPENDING # pending\n",
        ),
        entry(&doomed, "old", ""),
        entry(&absent, "nope", ""),
    ]
    .concat();
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: stagesync.io/v1alpha1\nkind: ClusterSecretStore\nmetadata:\n  name: aws\nspec:\n  provider:\n    aws:\n      service: SecretsManager\n      region: us-east-1\n---\napiVersion: stagesync.io/v1alpha1\nkind: ExternalSecret\nmetadata:\n  name: app\nspec:\n  secretStoreRef:\n    kind: ClusterSecretStore\n    name: aws\n  data:\n{data}"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stagesync"))
        .args([
            "check",
            "--aws",
            "--aws-endpoint",
            &proxy.endpoint,
            "-o",
            "json",
        ])
        .arg(&manifest)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    let messages: Vec<(u64, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["line"].as_u64().unwrap(),
                p["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let has = |needle: &str| messages.iter().any(|(_, m)| m.contains(needle));
    assert!(
        has(&format!(
            "no version of AWS secret {present:?} carries the stage \"AWSPENDING\""
        )),
        "{messages:?}"
    );
    // Reported at the entry's `key:` line, the one above the marked `versionStage:` line.
    let pending_key_line = line_of(&manifest, "pending") - 1;
    assert!(
        messages
            .iter()
            .any(|(l, m)| *l == pending_key_line && m.contains("AWSPENDING")),
        "{messages:?}"
    );
    assert!(
        has(&format!("AWS secret {doomed:?} is scheduled for deletion")),
        "{messages:?}"
    );
    assert!(
        has(&format!(
            "AWS secret {absent:?} does not exist in region us-east-1"
        )),
        "{messages:?}"
    );
    assert_eq!(
        messages.len(),
        3,
        "the property read of {present} is fine: {messages:?}"
    );
    assert!(!text.contains("not-printed-anywhere"));
    // Each secret described once, although `present` is referenced twice; no value read.
    assert_eq!(proxy.count("DescribeSecret"), 3, "{:?}", proxy.counts());
    assert_eq!(proxy.count("GetSecretValue"), 0, "{:?}", proxy.counts());
    assert_eq!(
        proxy.count("BatchGetSecretValue"),
        0,
        "{:?}",
        proxy.counts()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The README's example is what the binary prints for `tests/fixtures/check/readme`.
#[test]
fn the_readme_example_is_what_check_prints() {
    let root = support::workspace_root();
    let args = ["check", "tests/fixtures/check/readme"];
    let out = Command::new(env!("CARGO_BIN_EXE_stagesync"))
        .args(args)
        .current_dir(&root)
        .output()
        .unwrap();
    let block = format!(
        "```console\n$ stagesync {}\n{}$ echo $?\n{}\n```\n",
        args.join(" "),
        stdout(&out),
        out.status.code().unwrap()
    );
    let (start, end) = (
        "<!-- stagesync-check:start -->\n",
        "<!-- stagesync-check:end -->",
    );
    let readme_path = root.join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let from = readme.find(start).expect("start marker") + start.len();
    let to = readme.find(end).expect("end marker");
    if std::env::var_os("STAGESYNC_UPDATE_README").is_some() {
        let updated = format!("{}{block}{}", &readme[..from], &readme[to..]);
        std::fs::write(&readme_path, updated).unwrap();
        return;
    }
    assert_eq!(
        &readme[from..to],
        block,
        "README's stagesync check example is stale: STAGESYNC_UPDATE_README=1 cargo test --test check readme"
    );
}
