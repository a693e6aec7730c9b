//! `stagesync check`: every stagesync object of a set of manifests validated offline, in a pull
//! request rather than in the cluster. Two halves, both the operator's own code:
//! [`schema`] admits each object against the CRDs generated from the Rust types (OpenAPI and
//! CEL, as the API server does, plus unknown fields); [`rules`] applies what the operator checks
//! when it reconciles — refused fields, durations, sync windows, store references and tenancy,
//! templates parsed and rendered over placeholder values, key validity, duplicate keys, and
//! workloads opting in to restarts for Secrets nothing writes. With `--aws`, [`aws`] also asks
//! AWS (metadata calls only) whether each referenced secret, stage and version exists.
//!
//! Output ([`output`]) is for people (file:line, object, problem, hint), for tools (JSON) and for
//! GitHub workflow annotations. Secret values are never read, so none can be printed.

pub mod aws;
pub mod command;
pub mod output;
mod placeholder;
pub mod rules;
pub mod schema;

use serde::Serialize;

use crate::api::externalsecret::ExternalSecret;
use crate::api::secretstore::{ClusterSecretStore, SecretStore};
use crate::manifest::{Manifest, Source};
use crate::restart::workload::Kind;
use rules::{Inventory, RuleSettings};
use schema::Schemas;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The object will not work as written (exit code 1).
    Error,
    /// Probably a mistake, or something only the cluster can tell.
    Warning,
}

/// A problem of one object, by field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// Field path as the API server names it (`spec.data[0].remoteRef.key`).
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is more to say.
    pub hint: Option<String>,
}

impl Finding {
    /// A finding of some severity.
    pub fn new(severity: Severity, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity,
            field: field.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// An error.
    pub fn error(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, field, message)
    }

    /// A warning.
    pub fn warning(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, field, message)
    }

    /// With a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// A problem where the user can find it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// File name, or `-`.
    pub file: String,
    /// Line (1-based; 0 when unknown).
    pub line: u64,
    /// `Kind namespace/name` of the object (empty for a file that does not parse).
    pub object: String,
    /// How bad.
    pub severity: Severity,
    /// Field path.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// The Secret an ExternalSecret would write: key names only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WouldWrite {
    /// `ExternalSecret namespace/name`.
    pub object: String,
    /// `namespace/name` of the Secret.
    pub secret: String,
    /// Keys known offline.
    pub keys: Vec<String>,
    /// AWS secrets (or `dataFrom.find`) whose keys are known only once read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys_read_from: Vec<String>,
}

/// Everything `check` found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// stagesync objects checked.
    pub objects: usize,
    /// Problems, in file and line order.
    pub problems: Vec<Problem>,
    /// The Secret each valid ExternalSecret would write.
    pub secrets: Vec<WouldWrite>,
}

impl Report {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }
}

/// Settings of a check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Namespace of objects that do not say theirs (`kubectl apply` without `-n`).
    pub default_namespace: String,
    /// How the rules that depend on the operator's flags are evaluated.
    pub rules: RuleSettings,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            default_namespace: "default".into(),
            rules: RuleSettings::default(),
        }
    }
}

/// A stagesync object that passed its schema, typed.
enum Typed<'m> {
    ExternalSecret(&'m Manifest, String, Box<ExternalSecret>),
    SecretStore(&'m Manifest, String, Box<SecretStore>),
    ClusterSecretStore(&'m Manifest, Box<ClusterSecretStore>),
}

const GROUP: &str = "stagesync.io";

/// Checks every source offline.
pub fn check(sources: &[Source], schemas: &Schemas, options: &CheckOptions) -> Report {
    let (mut report, manifests) = parse_all(sources);
    check_manifests(&manifests, schemas, options, &mut report);
    finish(report)
}

/// Checks every source offline, then looks up in AWS each secret the valid ExternalSecrets
/// reference (see [`aws`]).
pub async fn check_with_aws(
    sources: &[Source],
    schemas: &Schemas,
    options: &CheckOptions,
    aws_options: &aws::AwsCheckOptions,
) -> Report {
    let (mut report, manifests) = parse_all(sources);
    let checked = check_manifests(&manifests, schemas, options, &mut report);
    let named = aws_options.store.as_ref().map(|name| {
        checked
            .inventory
            .cluster_stores
            .get(name)
            .map(|s| s.spec.provider.aws.clone())
            .or_else(|| {
                checked
                    .inventory
                    .stores
                    .iter()
                    .find(|((_, n), _)| n == name)
                    .map(|(_, s)| s.spec.provider.aws.clone())
            })
    });
    if let Some(None) = named {
        report.problems.push(Problem {
            file: String::new(),
            line: 0,
            object: String::new(),
            severity: Severity::Error,
            field: String::new(),
            message: format!(
                "--aws-store {:?}: no SecretStore or ClusterSecretStore of that name among the manifests",
                aws_options.store.as_deref().unwrap_or_default()
            ),
            hint: None,
        });
        return finish(report);
    }
    let named = named.flatten();
    let mut targets = Vec::new();
    let mut owners = Vec::new();
    for (m, ns, es) in &checked.valid {
        let store = checked.inventory.store_for(ns, &es.spec.secret_store_ref);
        let (lookup, prefix) = match (&named, store) {
            (Some(p), _) => (
                aws::Lookup::for_store(p, aws_options, true),
                p.prefix.clone(),
            ),
            (None, Some(p)) => (
                aws::Lookup::for_store(p, aws_options, false),
                p.prefix.clone(),
            ),
            (None, None) => continue,
        };
        targets.push(aws::Target { es, lookup, prefix });
        owners.push((*m, object_name(m, Some(ns))));
    }
    for (index, finding) in aws::lookup(&targets, aws_options).await {
        let (m, object) = &owners[index];
        push(&mut report, m, object, vec![finding]);
    }
    finish(report)
}

fn parse_all(sources: &[Source]) -> (Report, Vec<Manifest>) {
    let mut report = Report::default();
    let mut manifests = Vec::new();
    for source in sources {
        match crate::manifest::parse(source) {
            Ok(m) => manifests.extend(m),
            Err(p) => report.problems.push(Problem {
                file: p.file,
                line: p.line,
                object: String::new(),
                severity: Severity::Error,
                field: String::new(),
                message: format!("not valid YAML: {}", p.message),
                hint: None,
            }),
        }
    }
    (report, manifests)
}

fn finish(mut report: Report) -> Report {
    report.problems.sort_by(|a, b| {
        (a.file.as_str(), a.line, a.severity).cmp(&(b.file.as_str(), b.line, b.severity))
    });
    report
}

/// What the offline check leaves for the AWS lookups: the ExternalSecrets without errors and
/// what the manifests hold.
struct Checked<'m> {
    valid: Vec<(&'m Manifest, String, ExternalSecret)>,
    inventory: Inventory,
}

fn object_name(m: &Manifest, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("{} {ns}/{}", m.kind(), m.name()),
        None => format!("{} {}", m.kind(), m.name()),
    }
}

fn push(report: &mut Report, m: &Manifest, object: &str, findings: Vec<Finding>) {
    for f in findings {
        report.problems.push(Problem {
            file: m.file.clone(),
            line: m.line_of(&f.field),
            object: object.to_owned(),
            severity: f.severity,
            field: f.field,
            message: f.message,
            hint: f.hint,
        });
    }
}

fn check_manifests<'m>(
    manifests: &'m [Manifest],
    schemas: &Schemas,
    options: &CheckOptions,
    report: &mut Report,
) -> Checked<'m> {
    let namespace_of = |m: &Manifest| {
        m.namespace()
            .unwrap_or(&options.default_namespace)
            .to_owned()
    };
    let mut inventory = Inventory::default();
    let mut typed = Vec::new();
    for m in manifests {
        let group = m.api_version().split('/').next().unwrap_or_default();
        if group == GROUP {
            report.objects += 1;
            let cluster_scoped = m.kind() == "ClusterSecretStore";
            let ns = (!cluster_scoped).then(|| namespace_of(m));
            let object = object_name(m, ns.as_deref());
            match schemas.api_version_of(m.kind()) {
                None => {
                    push(report, m, &object, vec![Finding::error("kind", format!("stagesync has no kind {:?}", m.kind()))
                        .hint("the kinds are ExternalSecret, SecretStore and ClusterSecretStore")]);
                    continue;
                }
                Some(v) if v != m.api_version() => {
                    push(
                        report,
                        m,
                        &object,
                        vec![Finding::error(
                            "apiVersion",
                            format!("{} is served as {v}, not {}", m.kind(), m.api_version()),
                        )],
                    );
                    continue;
                }
                Some(_) => {}
            }
            let admitted = match schemas.admit(m.kind(), &m.object) {
                Ok(a) => a,
                Err(problems) => {
                    let findings = problems
                        .into_iter()
                        .map(|p| Finding::error(p.field, p.message))
                        .collect();
                    push(report, m, &object, findings);
                    continue;
                }
            };
            let t = match m.kind() {
                "ExternalSecret" => serde_json::from_value(admitted).map(|es| {
                    Typed::ExternalSecret(m, ns.clone().unwrap_or_default(), Box::new(es))
                }),
                "SecretStore" => serde_json::from_value(admitted)
                    .map(|s| Typed::SecretStore(m, ns.clone().unwrap_or_default(), Box::new(s))),
                _ => serde_json::from_value(admitted)
                    .map(|s| Typed::ClusterSecretStore(m, Box::new(s))),
            };
            match t {
                Ok(t) => typed.push(t),
                Err(e) => push(
                    report,
                    m,
                    &object,
                    vec![Finding::error(
                        "",
                        format!("the object does not decode: {e}"),
                    )],
                ),
            }
            continue;
        }
        match (m.api_version(), m.kind()) {
            ("v1", "Namespace") => {
                let labels = serde_json::from_value(m.object["metadata"]["labels"].clone())
                    .unwrap_or_default();
                inventory.namespaces.insert(m.name().to_owned(), labels);
            }
            ("v1", "ConfigMap") => {
                let data = serde_json::from_value(m.object["data"].clone()).unwrap_or_default();
                inventory
                    .config_maps
                    .insert((namespace_of(m), m.name().to_owned()), data);
            }
            ("v1", "Secret") => {
                inventory.secrets.insert(
                    (namespace_of(m), m.name().to_owned()),
                    rules::secret_data(&m.object),
                );
            }
            _ => {}
        }
    }
    for t in &typed {
        match t {
            Typed::ExternalSecret(_, ns, es) => {
                let target = es
                    .spec
                    .target
                    .name
                    .clone()
                    .unwrap_or_else(|| es.metadata.name.clone().unwrap_or_default());
                inventory
                    .targets
                    .entry(ns.clone())
                    .or_default()
                    .insert(target);
            }
            Typed::SecretStore(_, ns, s) => {
                let name = s.metadata.name.clone().unwrap_or_default();
                inventory.stores.insert((ns.clone(), name), (**s).clone());
            }
            Typed::ClusterSecretStore(_, s) => {
                let name = s.metadata.name.clone().unwrap_or_default();
                inventory.cluster_stores.insert(name, (**s).clone());
            }
        }
    }
    let mut valid = Vec::new();
    for t in &typed {
        match t {
            Typed::ExternalSecret(m, ns, es) => {
                let object = object_name(m, Some(ns));
                let checked = rules::external_secret(es, ns, &inventory, &options.rules);
                let clean = !checked
                    .findings
                    .iter()
                    .any(|f| f.severity == Severity::Error);
                if clean {
                    valid.push((*m, ns.clone(), (**es).clone()));
                }
                if let Some(r) = checked.rendered.filter(|_| clean) {
                    let target = es
                        .spec
                        .target
                        .name
                        .clone()
                        .unwrap_or_else(|| m.name().to_owned());
                    report.secrets.push(WouldWrite {
                        object: object.clone(),
                        secret: format!("{ns}/{target}"),
                        keys: r.keys,
                        keys_read_from: r.unknown_keys_from,
                    });
                }
                push(report, m, &object, checked.findings);
            }
            Typed::SecretStore(m, ns, s) => {
                let object = object_name(m, Some(ns));
                push(
                    report,
                    m,
                    &object,
                    rules::store(
                        Some(ns),
                        s.spec.refresh_interval.as_ref(),
                        &s.spec.provider.aws,
                        &options.rules,
                    ),
                );
            }
            Typed::ClusterSecretStore(m, s) => {
                let object = object_name(m, None);
                push(
                    report,
                    m,
                    &object,
                    rules::store(
                        None,
                        s.spec.refresh_interval.as_ref(),
                        &s.spec.provider.aws,
                        &options.rules,
                    ),
                );
            }
        }
    }
    for m in manifests {
        let Some(kind) = workload_kind(m) else {
            continue;
        };
        let ns = namespace_of(m);
        let object = object_name(m, Some(&ns));
        let findings = rules::workload(kind, &m.object, &ns, &inventory, &options.rules);
        push(report, m, &object, findings);
    }
    Checked { valid, inventory }
}

/// The restartable kind of a manifest, if it is one.
fn workload_kind(m: &Manifest) -> Option<Kind> {
    Kind::ALL
        .into_iter()
        .find(|k| k.as_str() == m.kind() && k.api_resource().api_version == m.api_version())
}
