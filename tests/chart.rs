//! The Helm chart `charts/stagesync`, rendered by Helm's own engine (`helm`, see
//! `tests/support/chart.rs`): `helm lint`, `helm template` for the default values and the value
//! sets below, each rendering validated offline with `kubernetes-validate --strict` (Kubernetes
//! 1.29, the chart's oldest, and 1.37) and applied with the real `kubectl apply` to the cluster
//! harness (the API server fake, or server-side dry run on a real cluster); bad values fail with
//! Helm's schema message; the chart follows the crate version, `crds/`, `values.yaml`, the
//! operator's command line and metrics; the Dockerfile runs the binary as non-root.
//!
//! After changing `crds/`: `STAGESYNC_UPDATE_CHART_CRDS=1 cargo test --test chart`; after
//! changing `values.yaml`: `STAGESYNC_UPDATE_CHART_README=1 cargo test --test chart`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use apiserver_fake::schema::CrdSchema;
use clap::{CommandFactory, Parser};
use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};
use stagesync::cli::{Cli, Command as CliCommand, RunArgs};
use stagesync::telemetry::LogFormat;
use support::chart::*;
use support::cluster::{E2E_KUBECONFIG, TestCluster};

/// Kubernetes versions the renderings are validated against: the chart's `kubeVersion` floor
/// and the newest kubernetes-validate knows.
const KUBE_VERSIONS: [&str; 2] = ["1.29.0", "1.37.0"];

/// Kinds kubernetes-validate has no schema for, and why they are still checked.
const NO_UPSTREAM_SCHEMA: [&str; 1] = [
    // Prometheus Operator's CRD: checked structurally in `service_monitor_scrapes_the_metrics_service`.
    "ServiceMonitor",
];

fn read(rel: &str) -> String {
    let path = support::workspace_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Validation and apply helpers
// ---------------------------------------------------------------------------------------------

/// Validates every rendered object: built-in kinds with `kubernetes-validate --strict` against
/// [`KUBE_VERSIONS`], stagesync objects against the chart's own CRD schemas; only
/// [`NO_UPSTREAM_SCHEMA`] kinds may be unknown to the validator.
fn validate(rendered: &Rendered) {
    let file = std::env::temp_dir().join(format!(
        "{}.rendered.yaml",
        support::unique_name("stagesync-chart")
    ));
    std::fs::write(&file, &rendered.text).unwrap();
    let mut args = vec!["--strict"];
    for v in KUBE_VERSIONS {
        args.extend(["-k", v]);
    }
    let path = file.display().to_string();
    args.push(&path);
    let out = run_tool("kubernetes-validate", &args);
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && !report.contains("ERROR") && !report.contains("FATAL"),
        "kubernetes-validate --strict refused the rendering:\n{report}"
    );
    let mut passed: BTreeSet<(String, String)> = BTreeSet::new();
    for line in stdout.lines() {
        if let Some(rest) = line.split_once(" passed for resource ").map(|(_, r)| r) {
            let (kn, version) = rest.split_once(" against version ").unwrap();
            passed.insert((kn.to_owned(), version.trim().to_owned()));
        } else if let Some((_, rest)) = line.split_once("Couldn't find schema for kind ") {
            let kind = rest.split(' ').next().unwrap();
            assert!(
                NO_UPSTREAM_SCHEMA.contains(&kind),
                "kubernetes-validate has no schema for {kind}: {line}"
            );
        }
    }
    let chart_crds = crd_schemas(&rendered.docs);
    for doc in &rendered.docs {
        let kind = doc["kind"].as_str().unwrap();
        let name = doc["metadata"]["name"].as_str().unwrap();
        if doc["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("stagesync.io/"))
        {
            admit(&chart_crds, doc).unwrap_or_else(|e| panic!("{kind} {name} is invalid: {e:?}"));
            continue;
        }
        if NO_UPSTREAM_SCHEMA.contains(&kind) {
            continue;
        }
        for v in KUBE_VERSIONS {
            let minor = v.rsplit_once('.').unwrap().0;
            assert!(
                passed.contains(&(format!("{}/{name}", kind.to_lowercase()), minor.to_owned())),
                "{kind} {name} was not validated against Kubernetes {minor}:\n{report}"
            );
        }
    }
}

/// The CRD schemas a rendering installs, else the repository's (`crds.install=false`).
fn crd_schemas(docs: &[Value]) -> BTreeMap<String, CrdSchema> {
    let mut crds: Vec<Value> = of_kind(docs, "CustomResourceDefinition")
        .into_iter()
        .cloned()
        .collect();
    if crds.is_empty() {
        crds = stagesync::api::crds()
            .into_iter()
            .map(|(_, c)| serde_json::to_value(c).unwrap())
            .collect();
    }
    crds.iter()
        .map(|crd| {
            let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_owned();
            let schema = CrdSchema::new(&crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
                .unwrap_or_else(|e| panic!("the {kind} CRD schema does not compile: {e:?}"));
            (kind, schema)
        })
        .collect()
}

/// Admits a stagesync object as the API server would, refusing fields the schema would prune.
fn admit(schemas: &BTreeMap<String, CrdSchema>, doc: &Value) -> Result<(), Vec<String>> {
    let kind = doc["kind"].as_str().unwrap();
    let schema = schemas
        .get(kind)
        .ok_or_else(|| vec![format!("no CRD for {kind}")])?;
    support::admission::admit_with(schema, doc).map(|_| ())
}

fn on_real_cluster() -> bool {
    std::env::var_os(E2E_KUBECONFIG).is_some()
}

/// What [`apply`] did.
struct Applied {
    /// `Kind namespace/name` of every object kubectl applied.
    applied: Vec<String>,
    /// Kinds the cluster does not serve (the fake serves no Service, PodDisruptionBudget,
    /// NetworkPolicy; no cluster without the Prometheus Operator serves ServiceMonitor).
    skipped: BTreeSet<String>,
}

/// Applies a rendering with the real `kubectl apply -f` (server-side dry run on a real cluster),
/// leaving out the kinds the cluster does not serve; on the fake, reads every object back and
/// checks it holds what was rendered.
async fn apply(cluster: &TestCluster, rendered: &Rendered) -> Applied {
    let mut served: BTreeMap<String, Option<kube::discovery::ApiResource>> = BTreeMap::new();
    let mut manifest = String::new();
    let mut applied = Vec::new();
    let mut skipped = BTreeSet::new();
    let mut kept = Vec::new();
    for (doc, (_, text)) in rendered.docs.iter().zip(&rendered.sources) {
        let api_version = doc["apiVersion"].as_str().unwrap();
        let kind = doc["kind"].as_str().unwrap();
        let key = format!("{api_version}/{kind}");
        if !served.contains_key(&key) {
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let gvk = GroupVersionKind::gvk(group, version, kind);
            let found = kube::discovery::pinned_kind(&cluster.client, &gvk)
                .await
                .ok()
                .map(|(ar, _)| ar);
            served.insert(key.clone(), found);
        }
        match &served[&key] {
            Some(ar) => {
                manifest.push_str("---\n");
                manifest.push_str(text);
                manifest.push('\n');
                applied.push(format!(
                    "{kind} {}/{}",
                    doc["metadata"]["namespace"].as_str().unwrap_or(""),
                    doc["metadata"]["name"].as_str().unwrap()
                ));
                kept.push((doc, ar.clone()));
            }
            None => {
                skipped.insert(kind.to_owned());
            }
        }
    }
    if !skipped.is_empty() {
        eprintln!("not applied, the cluster does not serve: {skipped:?}");
    }
    let file = std::env::temp_dir().join(format!(
        "{}.apply.yaml",
        support::unique_name("stagesync-chart")
    ));
    std::fs::write(&file, &manifest).unwrap();
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let path = file.display().to_string();
    let mut args = vec!["--kubeconfig", &kubeconfig, "apply", "-f", &path];
    if on_real_cluster() {
        args.push("--dry-run=server");
    }
    // kubectl talks to the fake, which this test's runtime serves: wait for it asynchronously.
    let out = tokio::process::Command::new(tool("kubectl"))
        .args(&args)
        .output()
        .await
        .expect("running kubectl");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "kubectl apply of the rendering failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !on_real_cluster() {
        for (doc, ar) in kept {
            let name = doc["metadata"]["name"].as_str().unwrap();
            let api: Api<DynamicObject> = match doc["metadata"]["namespace"].as_str() {
                Some(ns) => Api::namespaced_with(cluster.client.clone(), ns, &ar),
                None => Api::all_with(cluster.client.clone(), &ar),
            };
            let stored = serde_json::to_value(api.get(name).await.unwrap_or_else(|e| {
                panic!("{} {name} is not in the cluster after apply: {e}", ar.kind)
            }))
            .unwrap();
            for field in ["spec", "rules", "roleRef", "subjects", "data"] {
                if let Some(want) = doc.get(field) {
                    assert_contains(&stored[field], want, &format!("{} {name}.{field}", ar.kind));
                }
            }
        }
    }
    Applied { applied, skipped }
}

/// `have` holds everything in `want` (the server may add defaults).
fn assert_contains(have: &Value, want: &Value, path: &str) {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => {
            for (k, v) in w {
                assert_contains(h.get(k).unwrap_or(&Value::Null), v, &format!("{path}.{k}"));
            }
        }
        (Value::Array(h), Value::Array(w)) => {
            assert_eq!(h.len(), w.len(), "{path}: {have} vs {want}");
            for (i, (hv, wv)) in h.iter().zip(w).enumerate() {
                assert_contains(hv, wv, &format!("{path}[{i}]"));
            }
        }
        // 0.0 in a manifest may come back as 0: numbers compare by value.
        (Value::Number(h), Value::Number(w)) => {
            assert_eq!(h.as_f64(), w.as_f64(), "{path} as stored")
        }
        _ => assert_eq!(have, want, "{path} as stored"),
    }
}

/// Renders in a fresh namespace of a fresh cluster, validates and applies; returns the
/// rendering.
async fn render_validate_apply(
    prefix: &str,
    scope: usize,
    values_yaml: Option<&str>,
    set: &[(&str, &str)],
) -> (Rendered, Applied, String, Vec<String>) {
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace(prefix).await;
    let mut scoped = Vec::new();
    for _ in 0..scope {
        scoped.push(cluster.namespace(&format!("{prefix}-app")).await);
    }
    let mut set: Vec<(&str, &str)> = set.to_vec();
    let list = format!("{{{}}}", scoped.join(","));
    if scope > 0 {
        set.push(("scope.namespaces", &list));
    }
    let rendered = helm_template(&ns, values_yaml, &set)
        .unwrap_or_else(|e| panic!("helm template {set:?} failed: {e}"));
    lint(values_yaml, &set);
    validate(&rendered);
    let applied = apply(&cluster, &rendered).await;
    for kind in ["Deployment", "ServiceAccount", "RoleBinding"] {
        assert!(
            applied.applied.iter().any(|a| a.starts_with(kind)),
            "{kind} applied: {:?}",
            applied.applied
        );
    }
    (rendered, applied, ns, scoped)
}

/// `helm lint --strict` with the same values.
fn lint(values_yaml: Option<&str>, set: &[(&str, &str)]) {
    let chart = chart_dir().display().to_string();
    let file = values_yaml.map(|y| {
        let p = std::env::temp_dir().join(format!(
            "{}.lint.yaml",
            support::unique_name("stagesync-chart")
        ));
        std::fs::write(&p, y).unwrap();
        p.display().to_string()
    });
    let mut args: Vec<String> = vec!["lint".into(), chart, "--strict".into()];
    if let Some(f) = &file {
        args.extend(["--values".into(), f.clone()]);
    }
    for (k, v) in set {
        args.extend(["--set".into(), format!("{k}={v}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_tool("helm", &args);
    if let Some(f) = file {
        let _ = std::fs::remove_file(f);
    }
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.contains("0 chart(s) failed"),
        "helm lint --strict {set:?}:\n{report}"
    );
}

fn pod_spec(docs: &[Value]) -> &Value {
    &deployment(docs)["spec"]["template"]["spec"]
}

fn container(docs: &[Value]) -> &Value {
    &pod_spec(docs)["containers"][0]
}

/// (group, resource, verbs) of rules, for comparisons.
fn rule_set(rules: &[BoundRule]) -> BTreeSet<(Option<String>, String, String, String)> {
    let mut out = BTreeSet::new();
    for r in rules {
        for g in r.rule.api_groups.iter().flatten() {
            for res in r.rule.resources.iter().flatten() {
                for v in &r.rule.verbs {
                    out.insert((r.namespace.clone(), g.clone(), res.clone(), v.clone()));
                }
            }
        }
    }
    out
}

const WORKLOAD_RESOURCES: [(&str, &str); 5] = [
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "cronjobs"),
    ("argoproj.io", "rollouts"),
];

// ---------------------------------------------------------------------------------------------
// Renderings validated and applied
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn default_values_lint_render_validate_and_apply() {
    let (rendered, applied, ns, _) = render_validate_apply("chart-default", 0, None, &[]).await;
    let docs = &rendered.docs;
    let kinds: BTreeSet<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
        ]),
        "default rendering"
    );
    assert!(
        applied
            .applied
            .iter()
            .any(|a| a.starts_with("ClusterRole "))
    );
    assert!(
        applied
            .applied
            .iter()
            .filter(|a| a.starts_with("CustomResourceDefinition"))
            .count()
            == 3
    );
    assert!(
        of_kind(docs, "PodDisruptionBudget").is_empty(),
        "one replica: no PDB"
    );
    for d in docs {
        if d["kind"] != "ClusterRole"
            && d["kind"] != "ClusterRoleBinding"
            && d["kind"] != "CustomResourceDefinition"
        {
            assert_eq!(d["metadata"]["namespace"], ns.as_str(), "{d}");
        }
        // The CRDs are crds/ as they are, but for the keep annotation.
        if d["kind"] != "CustomResourceDefinition" {
            assert_eq!(
                d["metadata"]["labels"]["app.kubernetes.io/instance"],
                RELEASE
            );
        }
    }
    let d = deployment(docs);
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(
        container(docs)["image"],
        format!("ghcr.io/stagesync/stagesync:{}", env!("CARGO_PKG_VERSION"))
    );
    // Probes on the metrics port; the lease namespace and identity from the downward API.
    let c = container(docs);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "metrics");
    assert_eq!(
        c["ports"][0],
        json!({"name": "metrics", "containerPort": 8080, "protocol": "TCP"})
    );
    let env: BTreeMap<&str, &Value> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e))
        .collect();
    assert_eq!(
        env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(
        env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert_eq!(env["RUST_LOG"]["value"], "info");
    assert_eq!(pod_spec(docs)["terminationGracePeriodSeconds"], 30);
    let args = rendered_args(docs);
    for want in [
        "--log-format=json",
        "--metrics-addr=0.0.0.0:8080",
        "--value-cache-bytes=67108864",
        "--restarts=true",
        "--leader-elect=true",
        "--leader-elect-lease-name=stagesync",
        "--leader-elect-lease-duration=15s",
    ] {
        assert!(args.iter().any(|a| a == want), "{want} in {args:?}");
    }
    assert!(
        !args.iter().any(|a| a.starts_with("--namespace")),
        "cluster-wide: {args:?}"
    );
    // The metrics Service selects the operator's pods on the metrics port.
    let svc = of_kind(docs, "Service")[0];
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "metrics");
    assert_selects(&svc["spec"]["selector"], d);
}

/// `selector` (matchLabels or a plain map) selects the Deployment's pods.
fn assert_selects(selector: &Value, deployment: &Value) {
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let selector = selector.get("matchLabels").unwrap_or(selector);
    let map = selector.as_object().expect("a label map");
    assert!(!map.is_empty());
    for (k, v) in map {
        assert_eq!(&labels[k], v, "pod label {k}");
    }
}

#[tokio::test]
async fn namespaced_scope_has_roles_per_namespace_and_no_cluster_wide_secret_access() {
    let (rendered, _, ns, scoped) = render_validate_apply("chart-scoped", 2, None, &[]).await;
    let docs = &rendered.docs;
    let args = rendered_args(docs);
    for s in &scoped {
        assert!(args.contains(&format!("--namespace={s}")), "{args:?}");
    }
    let rules = rendered_rbac_rules(docs);
    for s in &scoped {
        let here: Vec<&BoundRule> = rules
            .iter()
            .filter(|r| r.namespace.as_deref() == Some(s.as_str()))
            .collect();
        assert!(
            here.iter().any(|r| r.grants("", "secrets", "watch")),
            "{s}: {here:#?}"
        );
        assert!(
            here.iter()
                .any(|r| r.grants("stagesync.io", "externalsecrets", "list"))
        );
        assert!(here.iter().all(|r| r.role.starts_with("Role/")));
    }
    // Cluster-wide: ClusterSecretStores and the watched Namespaces by name, nothing else.
    let cluster_wide: Vec<&BoundRule> = rules.iter().filter(|r| r.namespace.is_none()).collect();
    assert!(!cluster_wide.is_empty());
    for r in &cluster_wide {
        let resources = r.rule.resources.clone().unwrap_or_default();
        assert!(
            resources
                .iter()
                .all(|x| x.starts_with("clustersecretstores"))
                || (resources == ["namespaces"]
                    && r.rule.verbs == ["get"]
                    && r.rule.resource_names.as_deref() == Some(&scoped[..])),
            "unexpected cluster-wide rule {r:#?}"
        );
    }
    // Events about ClusterSecretStores land in namespace default.
    assert!(
        rules
            .iter()
            .any(|r| r.namespace.as_deref() == Some("default")
                && r.grants("events.k8s.io", "events", "create"))
    );
    // The lease Role stays in the release namespace.
    assert!(
        rules
            .iter()
            .any(|r| r.namespace.as_deref() == Some(ns.as_str())
                && r.grants("coordination.k8s.io", "leases", "create"))
    );
    assert!(
        !rules
            .iter()
            .any(|r| r.namespace.as_deref() == Some(ns.as_str()) && r.grants("", "secrets", "get")),
        "the release namespace is not watched"
    );

    // Strictly namespaced: no cluster-wide rule at all.
    let list = format!("{{{}}}", scoped.join(","));
    let strict = render_chart(&[
        ("scope.namespaces", &list),
        ("clusterSecretStores.enabled", "false"),
    ]);
    let rules = rendered_rbac_rules(&strict);
    assert!(rules.iter().all(|r| r.namespace.is_some()), "{rules:#?}");
    assert!(of_kind(&strict, "ClusterRole").is_empty());
    assert!(of_kind(&strict, "ClusterRoleBinding").is_empty());
    assert!(
        !rules
            .iter()
            .any(|r| r.namespace.as_deref() == Some("default"))
    );
}

#[tokio::test]
async fn three_replicas_get_a_pod_disruption_budget() {
    let (rendered, applied, _, _) =
        render_validate_apply("chart-ha", 0, None, &[("replicaCount", "3")]).await;
    let docs = &rendered.docs;
    assert_eq!(deployment(docs)["spec"]["replicas"], 3);
    let pdb = of_kind(docs, "PodDisruptionBudget");
    assert_eq!(pdb.len(), 1);
    assert_eq!(pdb[0]["apiVersion"], "policy/v1");
    assert_eq!(pdb[0]["spec"]["maxUnavailable"], 1);
    assert_selects(&pdb[0]["spec"]["selector"], deployment(docs));
    if !on_real_cluster() {
        assert!(applied.skipped.contains("PodDisruptionBudget"));
    }
    assert!(rendered_args(docs).contains(&"--leader-elect=true".to_owned()));
    // Forced with one replica; none for one replica by default.
    let forced = render_chart(&[("podDisruptionBudget.enabled", "true")]);
    assert_eq!(of_kind(&forced, "PodDisruptionBudget").len(), 1);
    assert!(
        of_kind(
            &render_chart(&[("replicaCount", "1")]),
            "PodDisruptionBudget"
        )
        .is_empty()
    );
}

#[tokio::test]
async fn service_monitor_scrapes_the_metrics_service() {
    let values = r#"
metrics:
  port: 9090
  serviceMonitor:
    enabled: true
    labels: {release: kube-prometheus-stack}
    interval: 15s
    scrapeTimeout: 10s
grafana:
  dashboard:
    enabled: true
    annotations: {grafana_folder: Operators}
networkPolicy:
  enabled: true
  metricsFrom:
    - namespaceSelector:
        matchLabels: {kubernetes.io/metadata.name: monitoring}
"#;
    let (rendered, _, ns, _) = render_validate_apply("chart-metrics", 0, Some(values), &[]).await;
    let docs = &rendered.docs;
    let svc = of_kind(docs, "Service")[0];
    let sm = of_kind(docs, "ServiceMonitor");
    assert_eq!(sm.len(), 1);
    let sm = sm[0];
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["metadata"]["labels"]["release"], "kube-prometheus-stack");
    assert_eq!(sm["spec"]["namespaceSelector"]["matchNames"], json!([ns]));
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&svc["metadata"]["labels"][k], v, "the Service carries {k}");
    }
    let endpoint = &sm["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], svc["spec"]["ports"][0]["name"]);
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(endpoint["interval"], "15s");
    assert_eq!(endpoint["scrapeTimeout"], "10s");
    assert_eq!(svc["spec"]["ports"][0]["port"], 9090);
    assert!(rendered_args(docs).contains(&"--metrics-addr=0.0.0.0:9090".to_owned()));
    assert_eq!(container(docs)["ports"][0]["containerPort"], 9090);
    // The dashboard ConfigMap carries the dashboard file as it is.
    let cm = of_kind(docs, "ConfigMap");
    assert_eq!(cm.len(), 1);
    assert_eq!(cm[0]["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(
        cm[0]["metadata"]["annotations"]["grafana_folder"],
        "Operators"
    );
    assert_eq!(
        cm[0]["data"]["stagesync.json"].as_str().unwrap(),
        read("charts/stagesync/dashboards/stagesync.json").trim_end()
    );
    // NetworkPolicy: ingress to the metrics port only, from the given peers; egress anywhere.
    let np = of_kind(docs, "NetworkPolicy");
    assert_eq!(np.len(), 1);
    let spec = &np[0]["spec"];
    assert_eq!(spec["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(spec["ingress"].as_array().unwrap().len(), 1);
    assert_eq!(
        spec["ingress"][0]["ports"],
        json!([{"port": "metrics", "protocol": "TCP"}])
    );
    assert_eq!(
        spec["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );
    assert_eq!(spec["egress"], json!([{}]));
    assert_selects(&spec["podSelector"], deployment(docs));
    // A ServiceMonitor without the Service cannot scrape anything.
    let err = try_render_chart(&[
        ("metrics.serviceMonitor.enabled", "true"),
        ("metrics.service.enabled", "false"),
    ])
    .unwrap_err();
    assert!(
        err.contains("metrics.serviceMonitor.enabled needs metrics.service.enabled"),
        "{err}"
    );
}

#[tokio::test]
async fn custom_image_with_digest_and_pull_secrets() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let (rendered, _, _, _) = render_validate_apply(
        "chart-image",
        0,
        None,
        &[
            (
                "image.repository",
                "registry.example.com/platform/stagesync",
            ),
            ("image.tag", "9.9.9"),
            ("image.digest", &digest),
            ("image.pullPolicy", "Always"),
            ("imagePullSecrets[0].name", "regcred"),
        ],
    )
    .await;
    let docs = &rendered.docs;
    assert_eq!(
        container(docs)["image"],
        format!("registry.example.com/platform/stagesync@{digest}")
    );
    assert_eq!(container(docs)["imagePullPolicy"], "Always");
    assert_eq!(
        pod_spec(docs)["imagePullSecrets"],
        json!([{"name": "regcred"}])
    );
    let tagged = render_chart(&[("image.tag", "1.2.3")]);
    assert_eq!(
        container(&tagged)["image"],
        "ghcr.io/stagesync/stagesync:1.2.3"
    );
}

#[tokio::test]
async fn irsa_annotation_on_the_service_account() {
    let role = "arn:aws:iam::123456789012:role/stagesync";
    let values =
        format!("serviceAccount:\n  annotations:\n    eks.amazonaws.com/role-arn: {role}\n");
    let (rendered, _, ns, _) = render_validate_apply("chart-irsa", 0, Some(&values), &[]).await;
    let docs = &rendered.docs;
    let sa = of_kind(docs, "ServiceAccount");
    assert_eq!(sa.len(), 1);
    assert_eq!(
        sa[0]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        role
    );
    assert_eq!(
        operator_service_account(docs),
        (ns, sa[0]["metadata"]["name"].as_str().unwrap().to_owned())
    );
    // An existing ServiceAccount instead: none rendered, the bindings name it.
    let existing = render_chart(&[
        ("serviceAccount.create", "false"),
        ("serviceAccount.name", "ops"),
    ]);
    assert!(of_kind(&existing, "ServiceAccount").is_empty());
    assert_eq!(operator_service_account(&existing).1, "ops");
    assert!(!rendered_rbac_rules(&existing).is_empty());
    let err = try_render_chart(&[("serviceAccount.create", "false")]).unwrap_err();
    assert!(err.contains("serviceAccount.name is required"), "{err}");
}

#[tokio::test]
async fn restarts_disabled_render_no_workload_rules() {
    let (rendered, _, _, _) = render_validate_apply(
        "chart-norestart",
        0,
        None,
        &[("operator.restarts.enabled", "false")],
    )
    .await;
    let docs = &rendered.docs;
    assert!(rendered_args(docs).contains(&"--restarts=false".to_owned()));
    let rules = rendered_rbac_rules(docs);
    for (group, resource) in WORKLOAD_RESOURCES {
        for verb in ["get", "list", "watch", "patch"] {
            assert!(
                !rules.iter().any(|r| r.grants(group, resource, verb)),
                "{verb} {group}/{resource} without restarts"
            );
        }
    }
    // Enabled (the default): every workload kind is watched and patched, nothing more.
    let rules = rendered_rbac_rules(&render_chart(&[]));
    for (group, resource) in WORKLOAD_RESOURCES {
        for verb in ["get", "list", "watch", "patch"] {
            assert!(
                rules.iter().any(|r| r.grants(group, resource, verb)),
                "{verb} {group}/{resource}"
            );
        }
        for verb in ["create", "update", "delete"] {
            assert!(
                !rules.iter().any(|r| r.grants(group, resource, verb)),
                "{verb} {group}/{resource}"
            );
        }
    }
}

#[tokio::test]
async fn crds_install_false_renders_no_crds() {
    let (rendered, applied, _, _) =
        render_validate_apply("chart-nocrds", 0, None, &[("crds.install", "false")]).await;
    assert!(of_kind(&rendered.docs, "CustomResourceDefinition").is_empty());
    assert!(
        !applied
            .applied
            .iter()
            .any(|a| a.starts_with("CustomResourceDefinition"))
    );
    assert!(!rendered.text.contains("CustomResourceDefinition"));
}

// ---------------------------------------------------------------------------------------------
// Bad values
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_values_fail_with_a_clear_message() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case; 7] = [
        (&[("replicaCount", "-1")], &["/replicaCount", "minimum"]),
        (
            &[("replicaCount", "three")],
            &["/replicaCount", "want integer"],
        ),
        (
            &[("image.pullPolicy", "Sometimes")],
            &["/image/pullPolicy", "IfNotPresent", "Always", "Never"],
        ),
        (
            &[("replicas", "2")],
            &["additional properties 'replicas' not allowed"],
        ),
        (
            &[("operator.restart.enabled", "false")],
            &["/operator", "'restart' not allowed"],
        ),
        (
            &[("operator.awsTimeout", "ten seconds")],
            &["/operator/awsTimeout", "pattern"],
        ),
        (
            &[("replicaCount", "2"), ("leaderElection.enabled", "false")],
            &["leaderElection.enabled is false"],
        ),
    ];
    for (set, wanted) in cases {
        let err = try_render_chart(set).expect_err(&format!("{set:?} must not render"));
        for w in wanted {
            assert!(
                err.contains(w),
                "helm template {set:?}: {w:?} missing from {err}"
            );
        }
        // helm lint refuses what the schema refuses (it only logs a template's `fail`).
        if set.iter().any(|(k, _)| *k == "leaderElection.enabled") {
            continue;
        }
        let mut args = vec!["lint".to_owned(), chart_dir().display().to_string()];
        for (k, v) in set {
            args.extend(["--set".to_owned(), format!("{k}={v}")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_tool("helm", &args);
        assert!(!out.status.success(), "helm lint {set:?} passed");
    }
}

// ---------------------------------------------------------------------------------------------
// The chart follows the repository
// ---------------------------------------------------------------------------------------------

#[test]
fn chart_version_and_app_version_are_the_crate_version() {
    let chart = yaml(&read("charts/stagesync/Chart.yaml"));
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(chart["name"], "stagesync");
    assert_eq!(
        chart["appVersion"],
        env!("CARGO_PKG_VERSION"),
        "Chart.yaml appVersion"
    );
    assert_eq!(
        chart["version"],
        env!("CARGO_PKG_VERSION"),
        "Chart.yaml version"
    );
}

/// The template of a chart CRD: the file in `crds/`, annotated `helm.sh/resource-policy: keep`,
/// behind `crds.install`, with Go-template braces in descriptions escaped.
fn chart_crd_template(file: &str, crd: &str) -> String {
    let escaped =
        regex::Regex::new(r"\{\{|\}\}")
            .unwrap()
            .replace_all(crd, |c: &regex::Captures| {
                if &c[0] == "{{" {
                    r#"{{ "{{" }}"#
                } else {
                    r#"{{ "}}" }}"#
                }
            });
    let annotated = escaped.replacen(
        "\nmetadata:\n",
        "\nmetadata:\n  annotations:\n    helm.sh/resource-policy: keep\n",
        1,
    );
    format!(
        "{{{{- /* Generated from crds/{file} by tests/chart.rs (STAGESYNC_UPDATE_CHART_CRDS=1\n\
         cargo test --test chart): the same CRD, annotated so that Helm never deletes it. Do not edit. */}}}}\n\
         {{{{- if .Values.crds.install }}}}\n{annotated}{{{{- end }}}}\n"
    )
}

#[test]
fn chart_crds_are_the_crds_directory() {
    let update = std::env::var_os("STAGESYNC_UPDATE_CHART_CRDS").is_some();
    let dir = support::workspace_root().join("crds");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".yaml"))
        .collect();
    files.sort();
    let templates = chart_dir().join("templates/crds");
    let mut drifted = Vec::new();
    for f in &files {
        let wanted = chart_crd_template(f, &std::fs::read_to_string(dir.join(f)).unwrap());
        if update {
            std::fs::write(templates.join(f), &wanted).unwrap();
        } else if std::fs::read_to_string(templates.join(f)).ok().as_deref() != Some(&wanted) {
            drifted.push(f.clone());
        }
    }
    assert!(
        drifted.is_empty(),
        "charts/stagesync/templates/crds differs from crds/ for {drifted:?}: run \
         STAGESYNC_UPDATE_CHART_CRDS=1 cargo test --test chart"
    );
    let mut in_chart: Vec<String> = std::fs::read_dir(&templates)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    in_chart.sort();
    assert_eq!(in_chart, files, "one chart template per file of crds/");

    // What Helm renders is byte for byte the file in crds/, but for the added annotation.
    let rendered = helm_template(NAMESPACE, None, &[]).unwrap();
    for f in &files {
        let crd = std::fs::read_to_string(dir.join(f)).unwrap();
        let (_, text) = rendered
            .sources
            .iter()
            .find(|(source, _)| source.ends_with(&format!("templates/crds/{f}")))
            .unwrap_or_else(|| panic!("{f} is rendered"));
        let without = text.replacen("  annotations:\n    helm.sh/resource-policy: keep\n", "", 1);
        assert_eq!(
            without.trim_end(),
            crd.strip_prefix("---\n").unwrap().trim_end(),
            "rendered {f} differs from crds/{f}"
        );
        let doc = yaml(text);
        assert_eq!(
            doc["metadata"]["annotations"],
            json!({"helm.sh/resource-policy": "keep"})
        );
    }
    assert_eq!(
        of_kind(&rendered.docs, "CustomResourceDefinition").len(),
        files.len()
    );
}

#[test]
fn chart_crds_admit_every_example_manifest() {
    let schemas = crd_schemas(&render_chart(&[]));
    assert_eq!(schemas.len(), 3);
    let mut checked = 0;
    for entry in std::fs::read_dir(support::workspace_root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let doc: Value = serde::Deserialize::deserialize(doc).unwrap();
            if doc["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("stagesync.io/"))
            {
                admit(&schemas, &doc)
                    .unwrap_or_else(|e| panic!("{} is invalid: {e:#?}", path.display()));
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "checked {checked}");
}

/// `values.yaml` keys in file order, with the comment lines right above each.
fn values_with_comments(text: &str) -> Vec<(String, String)> {
    let key_line = regex::Regex::new(r"^( *)([A-Za-z0-9_.\-/]+):(?: |$)").unwrap();
    let mut out = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut comment: Vec<String> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            comment.clear();
        } else if let Some(c) = trimmed.strip_prefix('#') {
            comment.push(c.trim().to_owned());
        } else if let Some(m) = key_line.captures(line) {
            let indent = m[1].len();
            while stack.last().is_some_and(|(i, _)| *i >= indent) {
                stack.pop();
            }
            stack.push((indent, m[2].to_owned()));
            let path: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).collect();
            out.push((path.join("."), comment.join(" ")));
            comment.clear();
        } else {
            // A list item or a continuation: not a key.
            comment.clear();
        }
    }
    out
}

fn lookup<'a>(root: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(root, |v, k| &v[k])
}

fn is_leaf(v: &Value) -> bool {
    v.as_object().is_none_or(|m| m.is_empty())
}

fn all_leaf_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Some(m) = v.as_object().filter(|m| !m.is_empty()) {
        for (k, child) in m {
            let p = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            all_leaf_paths(child, &p, out);
        }
    } else {
        out.insert(prefix.to_owned());
    }
}

fn values_table(values_text: &str) -> String {
    let values = yaml(values_text);
    let cell = |s: &str| s.replace('|', "\\|");
    let mut table =
        String::from("| Key | Type | Default | Description |\n| --- | --- | --- | --- |\n");
    for (path, comment) in values_with_comments(values_text) {
        let v = lookup(&values, &path);
        if !is_leaf(v) {
            continue;
        }
        let ty = match v {
            Value::String(_) => "string",
            Value::Bool(_) => "bool",
            Value::Number(n) if n.is_i64() || n.is_u64() => "int",
            Value::Number(_) => "number",
            Value::Array(_) => "list",
            Value::Object(_) => "object",
            Value::Null => "null",
        };
        table.push_str(&format!(
            "| `{path}` | {ty} | `{}` | {} |\n",
            cell(&v.to_string()),
            cell(&comment)
        ));
    }
    table
}

#[test]
fn every_value_is_commented_and_in_the_readme_table() {
    let text = read("charts/stagesync/values.yaml");
    let keys = values_with_comments(&text);
    let uncommented: Vec<&String> = keys
        .iter()
        .filter(|(_, c)| c.is_empty())
        .map(|(k, _)| k)
        .collect();
    assert!(
        uncommented.is_empty(),
        "values.yaml keys without a comment: {uncommented:?}"
    );
    // The line parser saw every value.
    let mut leaves = BTreeSet::new();
    all_leaf_paths(&yaml(&text), "", &mut leaves);
    let parsed: BTreeSet<String> = keys
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| is_leaf(lookup(&yaml(&text), k)))
        .collect();
    assert_eq!(parsed, leaves, "values.yaml parsed by lines and as YAML");

    let readme_path = chart_dir().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let (start, end) = ("<!-- values-table:start -->\n", "<!-- values-table:end -->");
    let a = readme.find(start).expect("values-table:start marker") + start.len();
    let b = readme.find(end).expect("values-table:end marker");
    let wanted = values_table(&text);
    if std::env::var_os("STAGESYNC_UPDATE_CHART_README").is_some() {
        std::fs::write(
            &readme_path,
            format!("{}{wanted}{}", &readme[..a], &readme[b..]),
        )
        .unwrap();
        return;
    }
    let current = &readme[a..b];
    let rows = |t: &str| -> BTreeSet<String> {
        t.lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .map(|l| l.split('`').next().unwrap().to_owned())
            .collect()
    };
    let (have, want) = (rows(current), rows(&wanted));
    assert_eq!(
        have.difference(&want).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "stale rows in the chart README's values table"
    );
    assert_eq!(
        want.difference(&have).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "values missing from the chart README's values table"
    );
    assert_eq!(
        current, wanted,
        "the chart README's values table differs from values.yaml: run \
         STAGESYNC_UPDATE_CHART_README=1 cargo test --test chart"
    );
}

#[test]
fn every_rbac_rule_says_which_code_needs_it() {
    let text = read("charts/stagesync/templates/rbac.yaml");
    let lines: Vec<&str> = text.lines().collect();
    let mut rules = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("- apiGroups:") {
            rules += 1;
            // The comment block right above the rule (template lines aside).
            let comment: Vec<&str> = lines[..i]
                .iter()
                .rev()
                .map(|l| l.trim_start())
                .filter(|l| !l.starts_with("{{"))
                .take_while(|l| l.starts_with('#'))
                .collect();
            // Every rule names its code, but the one kept for a feature not written yet.
            assert!(
                comment
                    .iter()
                    .any(|l| l.contains("src/") || l.contains("jwtAuth.enabled")),
                "the rule at templates/rbac.yaml:{} does not say which code needs it",
                i + 1
            );
        }
    }
    assert!(rules >= 20, "{rules} rules");
}

/// The whole default RBAC: what the operator calls, and nothing else.
#[test]
fn default_rbac_is_exactly_what_the_operator_calls() {
    let docs = render_chart(&[]);
    let rules = rendered_rbac_rules(&docs);
    let mut want = BTreeSet::new();
    let mut add = |ns: Option<&str>, group: &str, resources: &[&str], verbs: &[&str]| {
        for r in resources {
            for v in verbs {
                want.insert((
                    ns.map(str::to_owned),
                    group.to_owned(),
                    (*r).to_owned(),
                    (*v).to_owned(),
                ));
            }
        }
    };
    let reads = ["get", "list", "watch"];
    add(
        None,
        "stagesync.io",
        &["externalsecrets", "secretstores", "clustersecretstores"],
        &reads,
    );
    add(None, "stagesync.io", &["externalsecrets"], &["patch"]);
    add(
        None,
        "stagesync.io",
        &[
            "externalsecrets/status",
            "secretstores/status",
            "clustersecretstores/status",
        ],
        &["patch"],
    );
    add(
        None,
        "",
        &["secrets"],
        &["get", "list", "watch", "create", "patch", "delete"],
    );
    add(None, "", &["configmaps", "namespaces"], &["get"]);
    add(None, "events.k8s.io", &["events"], &["create", "patch"]);
    add(
        None,
        "apps",
        &["deployments", "statefulsets", "daemonsets"],
        &["get", "list", "watch", "patch"],
    );
    add(
        None,
        "batch",
        &["cronjobs"],
        &["get", "list", "watch", "patch"],
    );
    add(
        None,
        "argoproj.io",
        &["rollouts"],
        &["get", "list", "watch", "patch"],
    );
    add(
        Some(NAMESPACE),
        "coordination.k8s.io",
        &["leases"],
        &["create", "get", "update", "patch"],
    );
    assert_eq!(rule_set(&rules), want);
    // No wildcard, no update on Secrets, the Lease by name.
    for r in &rules {
        let all = [
            r.rule.api_groups.clone(),
            r.rule.resources.clone(),
            Some(r.rule.verbs.clone()),
        ];
        assert!(
            !all.iter().flatten().flatten().any(|x| x == "*"),
            "wildcard in {r:#?}"
        );
    }
    for r in rules
        .iter()
        .filter(|r| r.grants("coordination.k8s.io", "leases", "get"))
    {
        assert_eq!(
            r.rule.resource_names.as_deref(),
            Some(&["stagesync".to_owned()][..])
        );
    }
    // Optional rules.
    assert!(
        !rules
            .iter()
            .any(|r| r.grants("", "serviceaccounts/token", "create"))
    );
    let jwt = rendered_rbac_rules(&render_chart(&[("jwtAuth.enabled", "true")]));
    assert!(
        jwt.iter()
            .any(|r| r.grants("", "serviceaccounts/token", "create"))
    );
    let no_leader = render_chart(&[("leaderElection.enabled", "false")]);
    assert!(!rendered_rbac_rules(&no_leader).iter().any(|r| r.grants(
        "coordination.k8s.io",
        "leases",
        "get"
    )));
    assert!(rendered_args(&no_leader).contains(&"--leader-elect=false".to_owned()));
    let renamed = rendered_rbac_rules(&render_chart(&[("leaderElection.leaseName", "ops-lease")]));
    assert!(
        renamed
            .iter()
            .any(|r| r.rule.resource_names.as_deref() == Some(&["ops-lease".to_owned()][..]))
    );
    assert!(
        render_chart(&[("rbac.create", "false")])
            .iter()
            .all(|d| !d["kind"].as_str().unwrap().contains("Role"))
    );
}

// ---------------------------------------------------------------------------------------------
// The chart follows the operator's command line
// ---------------------------------------------------------------------------------------------

fn parse_run(args: &[String]) -> RunArgs {
    let cli =
        Cli::try_parse_from(std::iter::once("stagesync".to_owned()).chain(args.iter().cloned()))
            .unwrap_or_else(|e| {
                panic!("stagesync does not accept the chart's arguments {args:?}: {e}")
            });
    match cli.command {
        CliCommand::Run(run) => *run,
        other => panic!("the chart runs {other:?}"),
    }
}

#[test]
fn the_chart_defaults_are_the_binary_defaults_but_json_logs() {
    let mut from_chart = parse_run(&rendered_args(&render_chart(&[])));
    let defaults = parse_run(&["run".to_owned()]);
    assert_eq!(from_chart.log_format, LogFormat::Json);
    from_chart.log_format = defaults.log_format;
    assert_eq!(format!("{from_chart:#?}"), format!("{defaults:#?}"));
}

/// Every `stagesync run` flag is set by a chart value (or the downward API).
#[test]
fn every_run_flag_is_a_chart_value() {
    let values = r#"
scope: {namespaces: [team-a, team-b]}
operator:
  concurrency: 16
  defaultRefreshInterval: 30m
  storeRefreshInterval: 5m
  logFormat: text
  allowAmbientCredentials: true
  allowedRoles: "arn:aws:iam::123456789012:role/(stagesync|ops)-.*"
  controllerClass: stagesync
  stsEndpoint: https://sts.eu-west-1.amazonaws.com
  awsTimeout: 5s
  awsMaxAttempts: 5
  rotationStuckAfter: 2h
  listConfirmInterval: 12h
  resyncFloor: 15m
  valueCacheBytes: 134217728
  restarts:
    enabled: true
    debounce: 10s
    maxRolloutsPerMinute: 60
    rolloutDeadline: 20m
    reloaderCompatible: true
    reloaderSecretSelector: "team in (a, b),!skip"
leaderElection: {enabled: true, leaseName: ops-lease, leaseDuration: 30s}
metrics: {port: 9443}
extraArgs: ["--kubeconfig=/etc/stagesync/kubeconfig"]
"#;
    let docs = helm_template(NAMESPACE, Some(values), &[]).unwrap().docs;
    let args = rendered_args(&docs);
    let run = parse_run(&args);
    assert_eq!(run.namespaces, ["team-a", "team-b"]);
    assert_eq!(run.concurrency, 16);
    assert_eq!(
        run.kubeconfig.as_deref(),
        Some(Path::new("/etc/stagesync/kubeconfig")),
        "extraArgs are passed after the chart's own"
    );
    assert_eq!(
        args.last().unwrap(),
        "--kubeconfig=/etc/stagesync/kubeconfig"
    );
    assert_eq!(run.default_refresh_interval.as_secs(), 1800);
    assert_eq!(run.log_format, LogFormat::Text);
    assert!(run.allow_ambient_credentials && run.reloader_compatible);
    assert_eq!(
        run.allowed_roles.as_deref(),
        Some("arn:aws:iam::123456789012:role/(stagesync|ops)-.*")
    );
    assert_eq!(
        run.reloader_secret_selector.as_deref(),
        Some("team in (a, b),!skip")
    );
    assert_eq!(run.value_cache_bytes, 134_217_728);
    assert_eq!(run.controller_class.as_deref(), Some("stagesync"));
    assert_eq!(run.max_rollouts_per_minute, 60);
    assert_eq!(run.metrics_addr.port(), 9443);
    assert_eq!(run.leader_elect_lease_name, "ops-lease");
    assert_eq!(run.leader_elect_lease_duration.as_secs(), 30);

    // Flags the chart leaves to the environment: the in-cluster config, and the lease namespace
    // from POD_NAMESPACE (the downward API; the lease Role lives there).
    let env_or_cluster = ["kubeconfig", "leader-elect-namespace"];
    let cmd = Cli::command();
    let run_cmd = cmd.find_subcommand("run").unwrap();
    for arg in run_cmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if arg.is_hide_set() || env_or_cluster.contains(&long) || long == "help" {
            continue;
        }
        assert!(
            args.iter()
                .any(|a| a == &format!("--{long}") || a.starts_with(&format!("--{long}="))),
            "`stagesync run --{long}` has no chart value (rendered: {args:?})"
        );
    }
    let env = container(&docs)["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "POD_NAMESPACE"
        && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"));
}

#[test]
fn pods_meet_the_restricted_pod_security_standard() {
    let docs = render_chart(&[]);
    let pod = &pod_spec(&docs)["securityContext"];
    assert_eq!(pod["runAsNonRoot"], true);
    assert_eq!(pod["runAsUser"], 65532);
    assert_eq!(pod["seccompProfile"]["type"], "RuntimeDefault");
    let c = &container(&docs)["securityContext"];
    assert_eq!(c["runAsNonRoot"], true);
    assert_eq!(c["runAsUser"], 65532);
    assert_eq!(c["readOnlyRootFilesystem"], true);
    assert_eq!(c["allowPrivilegeEscalation"], false);
    assert_eq!(c["capabilities"]["drop"], json!(["ALL"]));
    assert!(c["capabilities"].get("add").is_none());
    assert_eq!(c["seccompProfile"]["type"], "RuntimeDefault");
    let spec = pod_spec(&docs);
    for forbidden in ["hostNetwork", "hostPID", "hostIPC", "volumes"] {
        assert!(spec.get(forbidden).is_none(), "{forbidden}");
    }
    // Scheduling values reach the pod; a spread constraint gets the pods' own selector.
    let values = r#"
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: ops, effect: NoSchedule}]
affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: arch, operator: In, values: [amd64]}]}]}}}
topologySpreadConstraints: [{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway}]
priorityClassName: system-cluster-critical
podAnnotations: {example.com/team: platform}
podLabels: {team: platform}
extraEnv: [{name: AWS_REGION, value: eu-west-1}]
terminationGracePeriodSeconds: 60
resources: {requests: {cpu: 100m, memory: 256Mi}, limits: {memory: 1Gi}}
"#;
    let rendered = helm_template(NAMESPACE, Some(values), &[]).unwrap();
    validate(&rendered);
    let docs = rendered.docs;
    let spec = pod_spec(&docs);
    assert_eq!(spec["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(spec["tolerations"][0]["key"], "dedicated");
    assert_eq!(spec["priorityClassName"], "system-cluster-critical");
    assert_eq!(spec["terminationGracePeriodSeconds"], 60);
    assert!(spec["affinity"]["nodeAffinity"].is_object());
    assert_selects(
        &spec["topologySpreadConstraints"][0]["labelSelector"],
        deployment(&docs),
    );
    let meta = &deployment(&docs)["spec"]["template"]["metadata"];
    assert_eq!(meta["annotations"]["example.com/team"], "platform");
    assert_eq!(meta["labels"]["team"], "platform");
    assert_eq!(
        deployment(&docs)["spec"]["selector"]["matchLabels"]
            .as_object()
            .unwrap()
            .len(),
        2
    );
    let c = container(&docs);
    assert!(
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "AWS_REGION")
    );
    assert_eq!(c["resources"]["limits"]["memory"], "1Gi");
}

// ---------------------------------------------------------------------------------------------
// Dashboard and image
// ---------------------------------------------------------------------------------------------

#[test]
fn every_dashboard_metric_is_exported() {
    // A family shows in the output once it has a sample: record one of each.
    let metrics = std::sync::Arc::new(stagesync::metrics::Metrics::default());
    metrics.observe_reconcile(None, std::time::Duration::from_millis(5));
    metrics.aws_call(
        "SecretStore/ns/aws",
        "GetSecretValue",
        stagesync::provider::aws::CallOutcome::Success,
    );
    metrics.values_fetched("SecretStore/ns/aws", 1);
    metrics.versions_changed("SecretStore/ns/aws", 1);
    metrics.tracker_cycle("SecretStore/ns/aws", std::time::Duration::from_millis(5), 1);
    metrics.rotations_stuck("SecretStore/ns/aws", 0);
    metrics.scheduled_for_deletion("SecretStore/ns/aws", 0);
    metrics.secret_write("created");
    metrics.restart("Deployment", "restarted");
    metrics.restart_queue(0);
    metrics.rollout("Deployment", "finished");
    metrics.set_leader(true);
    let rendered = metrics.render();
    let mut families: BTreeMap<String, String> = BTreeMap::new();
    for line in rendered.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap();
            families.insert(name.to_owned(), ty.to_owned());
        }
    }
    assert!(families.len() >= 10, "{rendered}");
    let exported = |metric: &str| -> bool {
        if families.get(metric).is_some_and(|t| t == "gauge") {
            return true;
        }
        let counter = metric
            .strip_suffix("_total")
            .is_some_and(|base| families.get(base).is_some_and(|t| t == "counter"));
        let histogram = ["_bucket", "_sum", "_count"].iter().any(|s| {
            metric
                .strip_suffix(s)
                .is_some_and(|base| families.get(base).is_some_and(|t| t == "histogram"))
        });
        counter || histogram
    };
    let text = read("charts/stagesync/dashboards/stagesync.json");
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let names: BTreeSet<String> = regex::Regex::new(r"stagesync_[a-z0-9_]+")
        .unwrap()
        .find_iter(&text)
        .map(|m| m.as_str().to_owned())
        .collect();
    let missing: Vec<&String> = names.iter().filter(|m| !exported(m)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard names metrics src/metrics.rs does not export: {missing:?} (exported: {families:?})"
    );
    // What the dashboard is for.
    for wanted in [
        "stagesync_aws_calls_total",
        "stagesync_aws_estimated_cost_dollars_total",
        "stagesync_syncs_total",
        "stagesync_versions_changed_total",
        "stagesync_rotations_stuck",
        "stagesync_workload_restarts_total",
        "stagesync_restart_queue_length",
        "stagesync_rollouts_total",
        "stagesync_sync_duration_seconds_bucket",
    ] {
        assert!(names.contains(wanted), "the dashboard shows {wanted}");
    }
    assert!(text.contains("by (reason)"), "sync errors by reason");
    assert!(
        text.contains("by (kind, result)"),
        "restarts by kind and result"
    );
    assert!(text.contains("histogram_quantile(0.99"), "p99");
    // Well-formed: unique panel ids, a query in every target, the data source a variable.
    let panels = dashboard["panels"].as_array().unwrap();
    let ids: BTreeSet<i64> = panels.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), panels.len());
    for p in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        for t in p["targets"].as_array().unwrap() {
            assert!(t["expr"].as_str().is_some_and(|e| e.contains("stagesync_")));
        }
    }
}

#[test]
fn dockerfile_builds_the_binary_and_runs_it_as_non_root() {
    let text = read("Dockerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    assert!(
        froms[0].starts_with("FROM rust:1-bookworm AS builder"),
        "{}",
        froms[0]
    );
    assert_eq!(
        **froms.last().unwrap(),
        "FROM gcr.io/distroless/cc-debian12:nonroot"
    );
    assert!(text.contains("cargo build --release --locked --bin stagesync"));
    let last_from = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    let final_stage = &lines[last_from..];
    assert!(
        final_stage
            .iter()
            .any(|l| l.starts_with("COPY --from=builder") && l.ends_with(" /stagesync"))
    );
    let user = final_stage
        .iter()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER in the final stage");
    assert_eq!(user, "65532:65532");
    assert_ne!(user.split(':').next().unwrap(), "0");
    assert!(final_stage.contains(&r#"ENTRYPOINT ["/stagesync"]"#));
    assert!(final_stage.contains(&r#"CMD ["run"]"#));
    // The chart runs the image as that user.
    let docs = render_chart(&[]);
    assert_eq!(container(&docs)["securityContext"]["runAsUser"], 65532);
    assert_eq!(rendered_args(&docs)[0], "run");
    let ignore = read(".dockerignore");
    let ignored: BTreeSet<&str> = ignore
        .lines()
        .map(|l| l.trim().trim_start_matches('/').trim_end_matches('/'))
        .collect();
    for p in ["target", ".tools", ".git"] {
        assert!(ignored.contains(p), ".dockerignore has {p}");
    }
    assert!(Path::new(&support::workspace_root().join("Cargo.lock")).exists());
}

#[test]
fn helm_is_helm_v4_engine_or_a_real_helm() {
    let out = run_tool("helm", &["version"]);
    assert!(out.status.success());
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(v.contains("v3.") || v.contains("v4."), "{v}");
}
