//! The `stagesync check` benchmark: how long validating a GitOps repository of 1,000 manifests
//! takes, in process (parse, schema and CEL admission, the run-time rules with a placeholder
//! render of each ExternalSecret) and as a user runs it (the release binary on a directory,
//! process start included).
//!
//! `cargo bench --bench check`. The repository is generated: 10 namespaces, each with a
//! SecretStore, 97 ExternalSecrets (a third templated, a third with `dataFrom.extract`, sync
//! windows on some) and a Deployment opting in to restarts; 1,000 documents in 10 files.
//! Prints a markdown table (min / median / max of 10 runs).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use stagesync::check::schema::Schemas;
use stagesync::check::{CheckOptions, check};
use stagesync::manifest::read_sources;

const NAMESPACES: usize = 10;
const EXTERNAL_SECRETS_PER_NAMESPACE: usize = 97;
const RUNS: usize = 10;

fn external_secret(ns: &str, i: usize) -> String {
    let mut doc = format!(
        "apiVersion: stagesync.io/v1alpha1\nkind: ExternalSecret\nmetadata:\n  name: app-{i}\n  namespace: {ns}\nspec:\n  refreshInterval: 1h\n  secretStoreRef:\n    name: aws\n  target:\n    name: app-{i}\n"
    );
    if i.is_multiple_of(3) {
        doc.push_str("    template:\n      data:\n        dsn: \"postgres://{{ .user }}:{{ .password }}@db-{{ .host }}:5432/app\"\n        user: \"{{ .user | upper }}\"\n");
    }
    doc.push_str(&format!(
        "  data:\n    - secretKey: user\n      remoteRef:\n        key: {ns}/app-{i}\n        property: user\n    - secretKey: password\n      remoteRef:\n        key: {ns}/app-{i}\n        property: password\n    - secretKey: host\n      remoteRef:\n        key: {ns}/app-{i}\n        property: conn.host\n        versionStage: AWSCURRENT\n"
    ));
    if i % 3 == 1 {
        doc.push_str(&format!(
            "  dataFrom:\n    - extract:\n        key: {ns}/shared\n      rewrite:\n        - regexp:\n            source: \"^(.*)$\"\n            target: \"shared-$1\"\n"
        ));
    }
    if i.is_multiple_of(5) {
        doc.push_str("  syncWindows:\n    kind: deny\n    windows:\n      - schedule: \"0 9 * * 1-5\"\n        duration: 8h\n");
    }
    doc
}

fn write_repository(dir: &Path) -> usize {
    let mut documents = 0;
    for n in 0..NAMESPACES {
        let ns = format!("team-{n}");
        let mut docs = vec![format!(
            "apiVersion: stagesync.io/v1alpha1\nkind: SecretStore\nmetadata:\n  name: aws\n  namespace: {ns}\nspec:\n  provider:\n    aws:\n      service: SecretsManager\n      region: eu-west-1\n      auth:\n        secretRef:\n          accessKeyIDSecretRef: {{name: aws, key: id}}\n          secretAccessKeySecretRef: {{name: aws, key: secret}}\n"
        )];
        docs.extend((0..EXTERNAL_SECRETS_PER_NAMESPACE).map(|i| external_secret(&ns, i)));
        docs.push(format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: {ns}\n  annotations:\n    stagesync.io/reload: \"true\"\nspec:\n  selector:\n    matchLabels: {{app: app}}\n  template:\n    metadata:\n      labels: {{app: app}}\n    spec:\n      containers:\n        - name: app\n          image: app:1\n          envFrom:\n            - secretRef: {{name: app-0}}\n"
        ));
        docs.push(format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"
        ));
        documents += docs.len();
        std::fs::write(dir.join(format!("{ns}.yaml")), docs.join("---\n")).unwrap();
    }
    documents
}

fn stats(mut d: Vec<Duration>) -> (Duration, Duration, Duration) {
    d.sort();
    (d[0], d[d.len() / 2], d[d.len() - 1])
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("stagesync-check-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let documents = write_repository(&dir);
    assert_eq!(documents, 1000, "the generated repository");

    // In process: everything `check` does after reading the files.
    let sources = read_sources(std::slice::from_ref(&dir)).unwrap();
    let mut in_process = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let schemas = Schemas::new().unwrap();
        let report = check(&sources, &schemas, &CheckOptions::default());
        in_process.push(started.elapsed());
        assert!(
            !report.has_errors(),
            "the generated repository is valid: {:?}",
            report.problems.first()
        );
        assert_eq!(report.objects, 980);
        assert_eq!(report.secrets.len(), 970);
    }

    // As a user runs it: the release binary on the directory.
    let mut binary = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_stagesync"))
            .arg("check")
            .arg(&dir)
            .output()
            .unwrap();
        binary.push(started.elapsed());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();

    let (a, b, c) = stats(in_process);
    let (d, e, f) = stats(binary);
    println!("| # | What | stagesync: min / median / max of {RUNS} | Goal | Met |");
    println!("|---|---|---|---|---|");
    println!(
        "| C1 | `check` of 1,000 manifests, in process (parse, admission, rules, renders) | {} / {} / {} | — | — |",
        ms(a),
        ms(b),
        ms(c)
    );
    println!(
        "| C1 | `stagesync check DIR` of 1,000 manifests, release binary, process start included | {} / {} / {} | < 1 s | {} |",
        ms(d),
        ms(e),
        ms(f),
        if f < Duration::from_secs(1) {
            "yes"
        } else {
            "**no**"
        }
    );
}
