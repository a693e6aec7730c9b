//! One test per mapping of the table: the text written, and the findings reported.

use super::*;

/// Migrates one text; returns the output and the findings as `rule-id@line`.
fn run(text: &str) -> (String, Vec<String>) {
    let report = migrate(&[Input {
        name: "in.yaml".into(),
        text: text.into(),
    }])
    .unwrap();
    let ids = report
        .findings
        .iter()
        .map(|f| format!("{}@{}", f.rule.id, f.line))
        .collect();
    (report.files[0].text.clone(), ids)
}

fn ids(findings: &[String]) -> Vec<&str> {
    findings
        .iter()
        .map(|f| f.split('@').next().unwrap())
        .collect()
}

const STORE: &str = "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: aws\nspec:\n  provider:\n    aws:\n      service: SecretsManager\n      region: eu-west-1\n";

#[test]
fn an_eso_v1_external_secret_changes_only_its_api_version() {
    let es = "# the app's database\napiVersion: \"external-secrets.io/v1\" # ESO\nkind: ExternalSecret\nmetadata:\n  name: db\nspec:\n  refreshInterval: 1h\n  secretStoreRef: {name: aws, kind: SecretStore}\n  data:\n    - secretKey: password   # from AWS\n      remoteRef:\n        key: 'prod/db'\n        property: password\n";
    let (out, findings) = run(&format!("{STORE}---\n{es}"));
    assert!(findings.is_empty(), "{findings:?}");
    let want = format!(
        "{}---\n{}",
        STORE.replace("external-secrets.io/v1", "stagesync.io/v1alpha1"),
        es.replace("\"external-secrets.io/v1\"", "\"stagesync.io/v1alpha1\"")
    );
    assert_eq!(out, want);
}

#[test]
fn a_v1beta1_external_secret_changes_only_its_api_version() {
    let es = "apiVersion: external-secrets.io/v1beta1\nkind: ExternalSecret\nmetadata:\n  name: db\nspec:\n  secretStoreRef:\n    name: aws\n  dataFrom:\n    - extract:\n        key: prod/db\n";
    let (out, findings) = run(&format!("{STORE}---\n{es}"));
    assert!(findings.is_empty(), "{findings:?}");
    assert!(out.ends_with(&es.replace("external-secrets.io/v1beta1", "stagesync.io/v1alpha1")));
}

#[test]
fn template_engine_v1_generators_and_manifests_stay_on_eso() {
    let es = "apiVersion: external-secrets.io/v1beta1\nkind: ExternalSecret\nmetadata:\n  name: old\nspec:\n  secretStoreRef:\n    name: aws\n  target:\n    template:\n      engineVersion: v1\n      data:\n        a: \"{{ .a | toString }}\"\n  data:\n    - secretKey: pw\n      sourceRef:\n        generatorRef:\n          apiVersion: generators.external-secrets.io/v1alpha1\n          kind: Password\n          name: pw\n";
    let input = format!("{STORE}---\n{es}");
    let (out, findings) = run(&input);
    assert_eq!(
        findings,
        [
            "store-kept-for-eso@1",
            "template-engine-v1@20",
            "generator@26"
        ],
        "each reason once, at its line"
    );
    assert!(
        out.ends_with(es),
        "an untranslated object is left as it was"
    );
    let both_stores = format!(
        "{STORE}---\n{}",
        STORE.replace("external-secrets.io/v1", "stagesync.io/v1alpha1")
    );
    assert!(
        out.starts_with(&both_stores),
        "its store is kept for it: {out}"
    );
    let manifest = "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: cm\nspec:\n  secretStoreRef:\n    name: aws\n  target:\n    manifest:\n      apiVersion: v1\n      kind: ConfigMap\n  data:\n    - secretKey: k\n      remoteRef:\n        key: prod/db\n";
    let (_, findings) = run(&format!("{STORE}---\n{manifest}"));
    assert_eq!(ids(&findings), ["store-kept-for-eso", "manifest-target"]);
}

#[test]
fn fields_stagesync_lacks_or_refuses_are_reported_with_their_line() {
    let es = "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: x\nspec:\n  secretStoreRef:\n    name: aws\n  future: 1\n  data:\n    - secretKey: a\n      remoteRef:\n        key: k\n        version: AWSCURRENT\n        versionStage: AWSPREVIOUS\n";
    let (out, findings) = run(&format!("{STORE}---\n{es}"));
    assert_eq!(
        findings,
        [
            "store-kept-for-eso@1",
            "unknown-field@18",
            "schema-refused@21"
        ]
    );
    assert!(out.ends_with(es));
}

#[test]
fn stores_keep_a_duration_refresh_interval_and_drop_ignored_conditions() {
    let store = "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: aws\nspec:\n  refreshInterval: \"5m\"\n  conditions:\n    - namespaces: [a]\n  provider:\n    aws:\n      service: SecretsManager\n      region: eu-west-1\n      secretsManager:\n        recoveryWindowInDays: 7\n";
    let (out, findings) = run(store);
    assert_eq!(
        out,
        "apiVersion: stagesync.io/v1alpha1\nkind: SecretStore\nmetadata:\n  name: aws\nspec:\n  refreshInterval: \"5m\"\n  provider:\n    aws:\n      service: SecretsManager\n      region: eu-west-1\n      secretsManager:\n        recoveryWindowInDays: 7\n"
    );
    assert_eq!(
        findings,
        ["store-conditions-namespaced@7", "store-secrets-manager@13"]
    );
    let cluster = store.replace("kind: SecretStore", "kind: ClusterSecretStore");
    let (out, findings) = run(&cluster);
    assert!(
        out.contains("  conditions:\n    - namespaces: [a]\n"),
        "a ClusterSecretStore keeps them"
    );
    assert_eq!(ids(&findings), ["store-secrets-manager"]);
}

#[test]
fn other_services_and_providers_stay_on_eso_with_their_external_secrets() {
    let parameter_store = STORE.replace("SecretsManager", "ParameterStore");
    let vault = "apiVersion: external-secrets.io/v1\nkind: ClusterSecretStore\nmetadata:\n  name: vault\nspec:\n  provider:\n    vault:\n      server: https://vault\n";
    let es = |store: &str, kind: &str| {
        format!(
            "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: x\nspec:\n  secretStoreRef:\n    name: {store}\n    kind: {kind}\n  data:\n    - secretKey: a\n      remoteRef: {{key: k}}\n"
        )
    };
    let input = format!(
        "{parameter_store}---\n{vault}---\n{}---\n{}---\n{}",
        es("aws", "SecretStore"),
        es("vault", "ClusterSecretStore"),
        es("elsewhere", "ClusterSecretStore")
    );
    let (out, findings) = run(&input);
    assert_eq!(
        findings,
        [
            "store-parameter-store@8",
            "store-other-provider@16",
            "store-not-translated@25",
            "store-not-translated@37",
            "store-not-given@49"
        ]
    );
    assert_eq!(
        out.matches("stagesync.io/v1alpha1").count(),
        1,
        "only the last one moves"
    );
}

#[test]
fn a_cluster_external_secret_with_namespaces_becomes_one_external_secret_each() {
    let ces = "# shared credentials\napiVersion: external-secrets.io/v1\nkind: ClusterExternalSecret\nmetadata:\n  name: shared\nspec:\n  externalSecretName: db\n  externalSecretMetadata:\n    labels:\n      team: a\n  namespaces: [team-a, team-b]\n  refreshTime: 1m\n  externalSecretSpec:\n    # from the shared store\n    secretStoreRef:\n      name: aws\n      kind: ClusterSecretStore\n    # the password only\n    data:\n      - secretKey: password\n        remoteRef: {key: prod/db, property: password}\n";
    let store = STORE.replace("kind: SecretStore", "kind: ClusterSecretStore");
    let (out, findings) = run(&format!("{store}---\n{ces}"));
    let spec = "spec:\n  # from the shared store\n  secretStoreRef:\n    name: aws\n    kind: ClusterSecretStore\n  # the password only\n  data:\n    - secretKey: password\n      remoteRef: {key: prod/db, property: password}\n";
    let es = |ns: &str| {
        format!(
            "apiVersion: stagesync.io/v1alpha1\nkind: ExternalSecret\nmetadata:\n  name: db\n  namespace: {ns}\n  labels:\n    team: \"a\"\n{spec}"
        )
    };
    let translated_store = store.replace("external-secrets.io/v1", "stagesync.io/v1alpha1");
    assert_eq!(
        out,
        format!(
            "{translated_store}---\n# shared credentials\n{}---\n{}",
            es("team-a"),
            es("team-b")
        )
    );
    assert_eq!(findings, ["ces-namespaces@12", "ces-refresh-time@22"]);
    let selected = ces.replace(
        "namespaces: [team-a, team-b]",
        "namespaceSelectors:\n    - matchLabels: {team: a}",
    );
    let (out, findings) = run(&format!("{store}---\n{selected}"));
    assert!(out.ends_with(&selected));
    assert_eq!(findings, ["store-kept-for-eso@1", "ces-selector@21"]);
}

#[test]
fn eso_kinds_without_an_equivalent_are_reported() {
    let doc =
        |api: &str, kind: &str| format!("apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: x\n");
    let input = [
        doc("external-secrets.io/v1alpha1", "PushSecret"),
        doc("external-secrets.io/v1alpha1", "ExternalSecret"),
        doc("external-secrets.io/v1", "ClusterPushSecret"),
        doc("generators.external-secrets.io/v1alpha1", "Password"),
        doc("external-secrets.io/v1", "Whatever"),
        "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: external-secrets.io/v1\n    kind: ExternalSecret\n    metadata: {name: x}\n".into(),
    ]
    .join("---\n");
    let (out, findings) = run(&input);
    assert_eq!(out, input);
    assert_eq!(
        ids(&findings),
        [
            "push-secret",
            "eso-v1alpha1",
            "push-secret",
            "generator-kind",
            "other-eso-kind",
            "in-list"
        ]
    );
}

const ES_WRITING_DB: &str = "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: db\nspec:\n  secretStoreRef: {name: aws}\n  dataFrom: [{extract: {key: prod/db}}]\n";

fn deployment(annotations: &str, template_annotations: &str, pod: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n{annotations}spec:\n  template:\n    metadata:\n{template_annotations}      labels: {{app: web}}\n    spec:\n      containers:\n        - name: app\n          image: app\n{pod}"
    )
}

const USES_DB: &str = "          envFrom:\n            - secretRef: {name: db}\n";

#[test]
fn reloader_auto_and_named_become_stagesync_annotations_in_place() {
    let d = deployment(
        "  annotations:\n    reloader.stakater.com/auto: \"true\" # restart on rotation\n    secret.reloader.stakater.com/reload: 'db,api'\n    reloader.stakater.com/rollout-strategy: rollout\n    team: web\n",
        "",
        USES_DB,
    );
    let (out, findings) = run(&format!("{STORE}---\n{ES_WRITING_DB}---\n{d}"));
    let want = d
        .replace(
            "reloader.stakater.com/auto: \"true\"",
            "stagesync.io/reload: \"true\"",
        )
        .replace(
            "secret.reloader.stakater.com/reload: 'db,api'",
            "stagesync.io/reload-secrets: 'db,api'",
        )
        .replace(
            "reloader.stakater.com/rollout-strategy: rollout",
            "stagesync.io/reload-strategy: rollout",
        );
    assert!(out.ends_with(&want), "{out}");
    assert_eq!(
        ids(&findings),
        ["reloader-unmanaged-secrets"],
        "api is written by no ExternalSecret given: {findings:?}"
    );
}

#[test]
fn both_auto_annotations_become_one_and_false_stays_false() {
    let d = deployment(
        "  annotations:\n    reloader.stakater.com/auto: \"false\"\n    secret.reloader.stakater.com/auto: \"true\"\n",
        "",
        USES_DB,
    );
    let (out, findings) = run(&format!("{STORE}---\n{ES_WRITING_DB}---\n{d}"));
    assert!(
        out.contains("  annotations:\n    stagesync.io/reload: \"true\"\nspec:"),
        "{out}"
    );
    assert!(findings.is_empty(), "{findings:?}");
    let off = deployment(
        "  annotations:\n    reloader.stakater.com/auto: \"false\"\n",
        "",
        USES_DB,
    );
    let (out, _) = run(&off);
    assert!(out.contains("stagesync.io/reload: \"false\""));
    let bad = deployment(
        "  annotations:\n    reloader.stakater.com/auto: \"yes\"\n",
        "",
        USES_DB,
    );
    let (out, findings) = run(&bad);
    assert_eq!((out, ids(&findings)), (bad, vec!["reloader-bad-bool"]));
}

#[test]
fn configmaps_and_csi_volumes_stay_with_reloader() {
    let pod = "          envFrom:\n            - secretRef: {name: db}\n            - configMapRef: {name: settings}\n      volumes:\n        - name: vault\n          csi: {driver: secrets-store.csi.k8s.io}\n";
    let d = deployment(
        "  annotations:\n    reloader.stakater.com/auto: \"true\"\n    configmap.reloader.stakater.com/reload: other\n",
        "",
        pod,
    );
    let (out, findings) = run(&format!("{STORE}---\n{ES_WRITING_DB}---\n{d}"));
    assert!(
        out.contains("  annotations:\n    stagesync.io/reload: \"true\"\n    configmap.reloader.stakater.com/reload: other\n    configmap.reloader.stakater.com/auto: \"true\"\n    secretproviderclass.reloader.stakater.com/auto: \"true\"\n"),
        "{out}"
    );
    assert_eq!(
        ids(&findings),
        ["reloader-configmap", "reloader-auto-configmaps"]
    );
}

#[test]
fn exclusions_become_an_explicit_list_and_regexes_are_not_guessed() {
    let pod = "          envFrom:\n            - secretRef: {name: db}\n            - secretRef: {name: tls}\n            - secretRef: {name: other}\n";
    let d = deployment(
        "  annotations:\n    secret.reloader.stakater.com/auto: \"true\"\n    secrets.exclude.reloader.stakater.com/reload: tls, other\n",
        "",
        pod,
    );
    let (out, findings) = run(&format!("{STORE}---\n{ES_WRITING_DB}---\n{d}"));
    assert!(
        out.contains("  annotations:\n    stagesync.io/reload-secrets: \"db\"\nspec:"),
        "{out}"
    );
    assert_eq!(ids(&findings), ["reloader-secrets-exclude"]);
    let regex = deployment(
        "  annotations:\n    secret.reloader.stakater.com/reload: \"db-.*\"\n",
        "",
        USES_DB,
    );
    let (out, findings) = run(&regex);
    assert_eq!(
        (out, ids(&findings)),
        (regex, vec!["reloader-secret-regex"])
    );
}

#[test]
fn what_has_no_stagesync_meaning_is_left_and_reported() {
    let d = deployment(
        "  annotations:\n    reloader.stakater.com/search: \"true\"\n    reloader.stakater.com/rollout-strategy: restart\n    deployment.reloader.stakater.com/pause-period: 5m\n    deployment.reloader.stakater.com/paused-at: \"2024-01-01T00:00:00Z\"\n    configmaps.exclude.reloader.stakater.com/reload: a\n    secretproviderclass.reloader.stakater.com/reload: spc\n",
        "      annotations:\n        reloader.stakater.com/last-reloaded-from: '{\"name\":\"db\"}'\n",
        USES_DB,
    );
    let (out, findings) = run(&d);
    assert_eq!(out, d);
    let mut got = ids(&findings);
    got.sort();
    assert_eq!(
        got,
        [
            "reloader-csi",
            "reloader-last-reloaded-from",
            "reloader-other-exclude",
            "reloader-pause-period",
            "reloader-paused-at",
            "reloader-restart-strategy",
            "reloader-search"
        ]
    );
}

#[test]
fn annotations_on_the_pod_template_are_added_to_the_workload() {
    let d = deployment(
        "",
        "      annotations:\n        secret.reloader.stakater.com/auto: \"true\"\n",
        USES_DB,
    );
    let (out, findings) = run(&format!("{STORE}---\n{ES_WRITING_DB}---\n{d}"));
    assert!(
        out.ends_with(&d.replace(
            "  name: web\n",
            "  name: web\n  annotations:\n    stagesync.io/reload: \"true\"\n"
        )),
        "{out}"
    );
    assert_eq!(ids(&findings), ["reloader-on-template"]);
}

#[test]
fn flow_annotations_cronjobs_rollouts_and_other_kinds() {
    let cron = "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: c\n  annotations: {reloader.stakater.com/auto: \"true\", team: x}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: a, image: a}]\n";
    let (out, findings) = run(cron);
    assert!(
        out.contains("annotations: {stagesync.io/reload: \"true\", team: x}"),
        "{out}"
    );
    assert!(findings.is_empty(), "{findings:?}");
    let rollout = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\n  annotations:\n    secret.reloader.stakater.com/reload: db\nspec: {}\n";
    let (out, _) = run(rollout);
    assert!(
        out.contains("stagesync.io/reload-secrets: db\n"),
        "plain stays plain: {out}"
    );
    let job = "apiVersion: apps.openshift.io/v1\nkind: DeploymentConfig\nmetadata:\n  name: j\n  annotations:\n    reloader.stakater.com/auto: \"true\"\n";
    let (out, findings) = run(job);
    assert_eq!(
        (out.as_str(), ids(&findings)),
        (job, vec!["reloader-other-kind"])
    );
}

#[test]
fn existing_stagesync_annotations_are_kept_or_conflict() {
    let same = deployment(
        "  annotations:\n    stagesync.io/reload: \"true\"\n    reloader.stakater.com/auto: \"true\"\n",
        "",
        "",
    );
    let (out, _) = run(&same);
    assert!(
        out.contains("  annotations:\n    stagesync.io/reload: \"true\"\nspec:"),
        "{out}"
    );
    let other = deployment(
        "  annotations:\n    stagesync.io/reload: \"false\"\n    reloader.stakater.com/auto: \"true\"\n",
        "",
        "",
    );
    let (out, findings) = run(&other);
    assert_eq!((out, ids(&findings)), (other, vec!["reloader-conflict"]));
}

#[test]
fn secrets_configmaps_and_templates_carrying_ignore_or_match() {
    let input = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  annotations:\n    reloader.stakater.com/ignore: \"true\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    reloader.stakater.com/match: \"true\"\n    reloader.stakater.com/ignore: \"true\"\n";
    let (out, findings) = run(input);
    assert_eq!(out, input);
    assert_eq!(
        ids(&findings),
        [
            "reloader-ignore",
            "reloader-ignore-configmap",
            "reloader-match"
        ]
    );
    let es = format!("{STORE}---\n{}", ES_WRITING_DB.replace(
        "  secretStoreRef: {name: aws}\n",
        "  secretStoreRef: {name: aws}\n  target:\n    template:\n      metadata:\n        annotations: {reloader.stakater.com/match: \"true\"}\n",
    ));
    let (out, findings) = run(&es);
    assert_eq!(
        ids(&findings),
        ["reloader-match"],
        "a note: the ExternalSecret still moves"
    );
    assert!(out.ends_with("annotations: {reloader.stakater.com/match: \"true\"}\n  dataFrom: [{extract: {key: prod/db}}]\n"));
}

#[test]
fn unrelated_documents_are_byte_identical_and_a_second_run_changes_nothing() {
    let service = "# the web service\napiVersion: v1\nkind: Service\nmetadata:\n  name: web   # keep\nspec:\n  ports: [{port: 80}]\n";
    let input = format!("{service}---\n{STORE}...\n---\n{service}");
    let report = migrate(&[Input {
        name: "a.yaml".into(),
        text: input.clone(),
    }])
    .unwrap();
    let file = &report.files[0];
    assert_eq!(file.documents.len(), 3);
    for doc in &file.documents {
        let same = file.original[doc.input.clone()] == file.text[doc.output.clone()];
        assert_eq!(same, !doc.touched, "{doc:?}");
    }
    assert_eq!(report.translated, 1);
    let (again, findings) = run(&file.text);
    assert_eq!(again, file.text);
    assert!(findings.is_empty());
}

#[test]
fn yaml_that_does_not_parse_is_an_error_naming_the_file() {
    let errors = migrate(&[
        Input {
            name: "good.yaml".into(),
            text: STORE.into(),
        },
        Input {
            name: "bad.yaml".into(),
            text: "a: [1,\nb: c: d\n".into(),
        },
    ])
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .to_string()
            .starts_with("bad.yaml: YAML does not parse: line "),
        "{}",
        errors[0]
    );
}

#[test]
fn the_documentation_carries_the_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/migration.md");
    let doc = std::fs::read_to_string(path).expect("docs/migration.md");
    let begin = "<!-- migrate-table:begin -->\n";
    let end = "<!-- migrate-table:end -->";
    let start = doc.find(begin).expect("begin marker") + begin.len();
    let stop = doc.find(end).expect("end marker");
    let table = table::markdown();
    if std::env::var_os("STAGESYNC_UPDATE_GOLDEN").is_some() {
        std::fs::write(path, format!("{}{table}{}", &doc[..start], &doc[stop..])).unwrap();
        return;
    }
    assert_eq!(
        &doc[start..stop],
        table,
        "docs/migration.md's table differs from src/migrate/table.rs (regenerate with STAGESYNC_UPDATE_GOLDEN=1)"
    );
}

#[test]
fn windows_line_breaks_are_kept() {
    let d = deployment(
        "",
        "      annotations:\n        secret.reloader.stakater.com/auto: \"true\"\n",
        USES_DB,
    );
    let ces = "apiVersion: external-secrets.io/v1\nkind: ClusterExternalSecret\nmetadata:\n  name: c\nspec:\n  namespaces: [a, b]\n  externalSecretSpec:\n    secretStoreRef: {name: aws}\n    dataFrom: [{extract: {key: prod/db}}]\n";
    let input = format!("{STORE}---\n{d}---\n{ces}").replace('\n', "\r\n");
    let (out, findings) = run(&input);
    assert_ne!(out, input);
    assert!(!out.replace("\r\n", "").contains('\n'), "{out:?}");
    assert_eq!(
        ids(&findings),
        [
            "reloader-unmanaged-secrets",
            "reloader-on-template",
            "ces-namespaces"
        ]
    );
}
