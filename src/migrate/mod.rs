//! `stagesync migrate`: ESO manifests (`external-secrets.io/v1` and `v1beta1` ExternalSecrets,
//! ClusterExternalSecrets, SecretStores and ClusterSecretStores on AWS Secrets Manager) and
//! workloads carrying stakater Reloader annotations, rewritten as their stagesync equivalents.
//!
//! The user's text is edited, not re-serialised: nodes know their byte spans ([`yaml`]), and a
//! translation is a handful of [`edit::Edit`]s (an `apiVersion` value, an annotation key), so
//! comments, quoting, key order and every unrelated document stay byte for byte. The one
//! exception, a ClusterExternalSecret expanded into one ExternalSecret per namespace, is written
//! anew around its original spec text and says so in a note.
//!
//! What cannot be translated is left exactly as it was and reported with the [`table::Rule`] that
//! says why; nothing is dropped silently. Pure: texts in, texts and findings out ([`command`]
//! does the files, the diff and the exit code).
//!
//! - [`yaml`]: the span-aware parse; [`edit`]: text edits.
//! - [`eso`]: stores and ExternalSecrets; [`ces`]: ClusterExternalSecrets.
//! - [`reloader`]: Reloader annotations on workloads, Secrets and ConfigMaps.
//! - [`table`]: what becomes of every ESO kind, field and Reloader annotation.

mod ces;
pub mod command;
pub mod edit;
mod eso;
mod reloader;
pub mod table;
pub mod yaml;

use std::ops::Range;

use serde_json::Value;

use edit::Edit;
use table::{Outcome, Rule};
use yaml::{Document, Node};

pub use command::{MigrateArgs, run};

/// The API group of ESO's objects.
pub const ESO_GROUP: &str = "external-secrets.io";

/// One input text and the name to report it by (a path, or `-`).
#[derive(Clone, Debug)]
pub struct Input {
    /// Path as the user gave or as found in a directory; `-` for standard input.
    pub name: String,
    /// The whole text.
    pub text: String,
}

/// Something the user should know about one object.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The input it is in.
    pub file: String,
    /// 1-based line of the object or field.
    pub line: usize,
    /// `Kind namespace/name`.
    pub object: String,
    /// What happened, and why.
    pub rule: &'static Rule,
    /// The specifics (fields, names); never a secret value (manifests hold none we read).
    pub detail: String,
}

impl Finding {
    /// Whether this leaves something untranslated (exit code 1).
    pub fn untranslated(&self) -> bool {
        self.rule.outcome == Outcome::Untranslated
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.untranslated() {
            "not translated"
        } else {
            "note"
        };
        write!(
            f,
            "{}:{}: {}: {what} [{}]: {} — {}",
            self.file, self.line, self.object, self.rule.id, self.detail, self.rule.why
        )
    }
}

/// What became of one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocSummary {
    /// `Kind namespace/name`, or `document N` for one without kind.
    pub object: String,
    /// The document's root node in the input (empty for an empty document).
    pub input: Range<usize>,
    /// The same span in the output.
    pub output: Range<usize>,
    /// Whether any edit touched it.
    pub touched: bool,
}

/// One input after migration.
#[derive(Clone, Debug)]
pub struct Migrated {
    /// The input's name.
    pub name: String,
    /// The input text.
    pub original: String,
    /// The migrated text (equal to `original` when nothing changed).
    pub text: String,
    /// The edits that made it.
    pub edits: Vec<Edit>,
    /// Every document, in order.
    pub documents: Vec<DocSummary>,
}

/// The outcome of a run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every input, migrated.
    pub files: Vec<Migrated>,
    /// Findings, by file and line.
    pub findings: Vec<Finding>,
    /// Objects translated (an expanded ClusterExternalSecret counts once).
    pub translated: usize,
}

impl Report {
    /// Whether something was left untranslated.
    pub fn has_untranslated(&self) -> bool {
        self.findings.iter().any(Finding::untranslated)
    }
}

/// Why a run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// An input is not YAML.
    #[error("{file}: YAML does not parse: {source}")]
    Parse {
        /// The input's name.
        file: String,
        /// Where and why.
        source: yaml::ParseError,
    },
    /// Two edits collided: a bug in the translation, never in the input.
    #[error("{file}: internal error: {source}")]
    Overlap {
        /// The input's name.
        file: String,
        /// The colliding edits.
        source: edit::Overlap,
    },
}

/// What one document's translation amounts to.
#[derive(Default)]
struct DocPlan {
    edits: Vec<Edit>,
    findings: Vec<(usize, &'static Rule, String)>,
    /// Counted as translated.
    translated: bool,
}

impl DocPlan {
    fn find(&mut self, line: usize, rule: &'static Rule, detail: impl Into<String>) {
        self.findings.push((line, rule, detail.into()));
    }

    fn untranslated(&self) -> bool {
        self.findings
            .iter()
            .any(|(_, r, _)| r.outcome == Outcome::Untranslated)
    }
}

/// One parsed document with what the translations need of it.
struct Doc<'a> {
    src: &'a str,
    root: &'a Node,
    json: Value,
    object: String,
}

impl Doc<'_> {
    fn api_version(&self) -> &str {
        self.json["apiVersion"].as_str().unwrap_or_default()
    }

    fn kind(&self) -> &str {
        self.json["kind"].as_str().unwrap_or_default()
    }

    fn namespace(&self) -> Option<&str> {
        self.json["metadata"]["namespace"].as_str()
    }

    fn name(&self) -> &str {
        self.json["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// The line of the field at `path` (`spec.data[0].remoteRef`: the line of its key), or of
    /// the document when there is no such field.
    fn line_of(&self, path: &str) -> usize {
        locate(self.root, path).unwrap_or(self.root.line)
    }
}

/// The line of the field at a path like `spec.data[0].remoteRef.key` (leading `.` allowed):
/// of its key for a mapping field, of the item for a sequence index.
fn locate(root: &Node, path: &str) -> Option<usize> {
    let mut node = root;
    let mut line = root.line;
    for part in path
        .trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        let (key, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            let entry = node.entry(key)?;
            line = entry.key.line;
            node = &entry.value;
        }
        for index in indices
            .split(['[', ']'])
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<usize>().ok())
        {
            node = node.items().get(index?)?;
            line = node.line;
        }
    }
    Some(line)
}

/// Stores and written Secrets found among all the inputs: what ExternalSecrets and workloads
/// are checked against.
#[derive(Default)]
struct Corpus {
    /// (kind, name, namespace, translatable).
    stores: Vec<(String, String, Option<String>, bool)>,
    /// (namespace, Secret name) written by an ExternalSecret being translated.
    written: Vec<(Option<String>, String)>,
    /// Stores that objects left on ESO use: (kind, name, namespace, the object).
    eso_needs: Vec<(String, String, Option<String>, String)>,
    /// stagesync stores already among the inputs (a file migrated before): (kind, name,
    /// namespace).
    stagesync_stores: Vec<(String, String, Option<String>)>,
}

impl Corpus {
    /// `Some(translatable)` when a store of that kind and name is among the inputs.
    fn store(&self, kind: &str, name: &str, namespace: Option<&str>) -> Option<bool> {
        let matching: Vec<bool> = self
            .stores
            .iter()
            .filter(|(k, n, ns, _)| {
                k == kind
                    && n == name
                    && (kind == "ClusterSecretStore" || same_namespace(ns.as_deref(), namespace))
            })
            .map(|(_, _, _, ok)| *ok)
            .collect();
        (!matching.is_empty()).then(|| matching.iter().all(|ok| *ok))
    }

    /// Whether a stagesync store of this kind and name is already among the inputs.
    fn has_stagesync_store(&self, kind: &str, name: &str, namespace: Option<&str>) -> bool {
        self.stagesync_stores.iter().any(|(k, n, ns)| {
            k == kind
                && n == name
                && (kind == "ClusterSecretStore" || same_namespace(ns.as_deref(), namespace))
        })
    }

    /// The objects left on ESO that use this store.
    fn needed_by(&self, kind: &str, name: &str, namespace: Option<&str>) -> Vec<&str> {
        self.eso_needs
            .iter()
            .filter(|(k, n, ns, _)| {
                k == kind
                    && n == name
                    && (kind == "ClusterSecretStore" || same_namespace(ns.as_deref(), namespace))
            })
            .map(|(_, _, _, object)| object.as_str())
            .collect()
    }

    /// Records that `object`, left on ESO, reads through the stores of `spec`.
    fn left_on_eso(&mut self, spec: &Value, namespace: Option<&str>, object: &str) {
        for (kind, name, _) in eso::store_refs(spec) {
            self.eso_needs
                .push((kind, name, namespace.map(str::to_owned), object.to_owned()));
        }
    }

    fn writes(&self, namespace: Option<&str>, secret: &str) -> bool {
        self.written
            .iter()
            .any(|(ns, name)| name == secret && same_namespace(ns.as_deref(), namespace))
    }
}

/// Namespaces match when equal, or when a manifest leaves its namespace to `kubectl -n`.
fn same_namespace(a: Option<&str>, b: Option<&str>) -> bool {
    a.is_none() || b.is_none() || a == b
}

/// The kinds of documents, in the order their plans depend on each other.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Stores,
    ExternalSecrets,
    Rest,
}

/// Migrates every input. Parse errors stop the run (nothing is translated then).
pub fn migrate(inputs: &[Input]) -> Result<Report, Vec<MigrateError>> {
    let mut parsed = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        match yaml::parse(&input.text) {
            Ok(docs) => parsed.push(docs),
            Err(source) => errors.push(MigrateError::Parse {
                file: input.name.clone(),
                source,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let docs: Vec<Vec<Option<Doc>>> = inputs
        .iter()
        .zip(&parsed)
        .map(|(input, documents)| documents.iter().map(|d| doc_of(&input.text, d)).collect())
        .collect();
    let mut plans: Vec<Vec<DocPlan>> = docs
        .iter()
        .map(|file| file.iter().map(|_| DocPlan::default()).collect())
        .collect();
    let mut corpus = Corpus::default();
    for doc in docs.iter().flatten().flatten() {
        if doc.api_version() == eso::API_VERSION
            && matches!(doc.kind(), "SecretStore" | "ClusterSecretStore")
        {
            corpus.stagesync_stores.push((
                doc.kind().to_owned(),
                doc.name().to_owned(),
                doc.namespace().map(str::to_owned),
            ));
        }
    }
    for pass in [Pass::Stores, Pass::ExternalSecrets, Pass::Rest] {
        for (f, file) in docs.iter().enumerate() {
            for (d, doc) in file.iter().enumerate() {
                if let Some(doc) = doc
                    && pass_of(doc) == pass
                {
                    plans[f][d] = plan(doc, &mut corpus);
                }
            }
        }
    }
    keep_stores_for_eso(&docs, &mut plans, &corpus);
    let mut report = Report::default();
    for ((input, file), file_plans) in inputs.iter().zip(&docs).zip(plans) {
        let mut edits = Vec::new();
        let mut ranges = Vec::new();
        for (doc, plan) in file.iter().zip(file_plans) {
            let object = doc.as_ref().map(|d| d.object.clone()).unwrap_or_default();
            let range = doc.as_ref().map_or(0..0, |d| d.root.start..d.root.end);
            report.translated += usize::from(plan.translated);
            for (line, rule, detail) in plan.findings {
                report.findings.push(Finding {
                    file: input.name.clone(),
                    line,
                    object: object.clone(),
                    rule,
                    detail,
                });
            }
            ranges.push((object, range, !plan.edits.is_empty()));
            edits.extend(plan.edits);
        }
        let text = edit::apply(&input.text, &edits).map_err(|source| {
            vec![MigrateError::Overlap {
                file: input.name.clone(),
                source,
            }]
        })?;
        let documents = ranges
            .into_iter()
            .map(|(object, input, touched)| DocSummary {
                object,
                output: shift(&edits, input.start, false)..shift(&edits, input.end, true),
                input,
                touched,
            })
            .collect();
        report.files.push(Migrated {
            name: input.name.clone(),
            original: input.text.clone(),
            text,
            edits,
            documents,
        });
    }
    report
        .findings
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok(report)
}

/// A translated store still used by objects left on ESO is written twice: the ESO original, then
/// the stagesync one.
fn keep_stores_for_eso(docs: &[Vec<Option<Doc>>], plans: &mut [Vec<DocPlan>], corpus: &Corpus) {
    for (file, file_plans) in docs.iter().zip(plans.iter_mut()) {
        for (doc, plan) in file.iter().zip(file_plans.iter_mut()) {
            let Some(doc) = doc else { continue };
            if pass_of(doc) != Pass::Stores || !plan.translated {
                continue;
            }
            let users = corpus.needed_by(doc.kind(), doc.name(), doc.namespace());
            if corpus.has_stagesync_store(doc.kind(), doc.name(), doc.namespace()) {
                // Migrated before: the ESO copy stays as it is, however many runs.
                plan.edits.clear();
                plan.findings.clear();
                plan.translated = false;
                let why = if users.is_empty() {
                    "its stagesync twin exists and nothing left on ESO uses it: remove it"
                        .to_owned()
                } else {
                    format!(
                        "its stagesync twin exists; used by {} (left on ESO)",
                        users.join(", ")
                    )
                };
                plan.find(doc.root.line, &table::STORE_KEPT_FOR_ESO, why);
                continue;
            }
            if users.is_empty() {
                continue;
            }
            let end = edit::value_line_end(doc.src, doc.root);
            plan.edits.push(Edit {
                start: doc.root.start,
                end: doc.root.start,
                text: format!(
                    "{}{nl}---{nl}",
                    &doc.src[doc.root.start..end],
                    nl = edit::newline(doc.src)
                ),
            });
            plan.find(
                doc.root.line,
                &table::STORE_KEPT_FOR_ESO,
                format!("used by {} (left on ESO)", users.join(", ")),
            );
        }
    }
}

/// Where input offset `pos` lands in the output (`end`: edits ending at `pos` count).
fn shift(edits: &[Edit], pos: usize, end: bool) -> usize {
    let delta: isize = edits
        .iter()
        .filter(|e| e.end < pos || (e.end == pos && (end || e.start < pos)))
        .map(|e| e.text.len() as isize - (e.end - e.start) as isize)
        .sum();
    (pos as isize + delta) as usize
}

fn doc_of<'a>(src: &'a str, document: &'a Document) -> Option<Doc<'a>> {
    let root = document.root.as_ref()?;
    let json = yaml::to_json(root);
    let kind = json["kind"].as_str().unwrap_or("document");
    let name = json["metadata"]["name"].as_str().unwrap_or("(no name)");
    let object = match json["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    };
    Some(Doc {
        src,
        root,
        json,
        object,
    })
}

fn is_eso(doc: &Doc) -> bool {
    doc.api_version()
        .strip_prefix(ESO_GROUP)
        .is_some_and(|rest| rest.starts_with('/'))
}

fn pass_of(doc: &Doc) -> Pass {
    match (is_eso(doc), doc.kind()) {
        (true, "SecretStore" | "ClusterSecretStore") => Pass::Stores,
        (true, "ExternalSecret" | "ClusterExternalSecret") => Pass::ExternalSecrets,
        _ => Pass::Rest,
    }
}

/// Plans one document (its pass's dependencies are already in `corpus`).
fn plan(doc: &Doc, corpus: &mut Corpus) -> DocPlan {
    if is_eso(doc) {
        if matches!(doc.kind(), "PushSecret" | "ClusterPushSecret") {
            let mut plan = DocPlan::default();
            plan.find(doc.root.line, &table::PUSH_SECRET, doc.kind());
            return plan;
        }
        let version = &doc.api_version()[ESO_GROUP.len() + 1..];
        if version != "v1" && version != "v1beta1" {
            let mut plan = DocPlan::default();
            let detail = format!("apiVersion {}", doc.api_version());
            plan.find(doc.line_of("apiVersion"), &table::ES_OLD_VERSION, detail);
            if matches!(doc.kind(), "SecretStore" | "ClusterSecretStore") {
                corpus.stores.push((
                    doc.kind().to_owned(),
                    doc.name().to_owned(),
                    doc.namespace().map(str::to_owned),
                    false,
                ));
            }
            return plan;
        }
        return match doc.kind() {
            "SecretStore" | "ClusterSecretStore" => {
                let plan = eso::plan_store(doc);
                corpus.stores.push((
                    doc.kind().to_owned(),
                    doc.name().to_owned(),
                    doc.namespace().map(str::to_owned),
                    !plan.untranslated(),
                ));
                plan
            }
            "ExternalSecret" => {
                let plan = eso::plan_external_secret(doc, corpus);
                if plan.untranslated() {
                    corpus.left_on_eso(&doc.json["spec"], doc.namespace(), &doc.object);
                } else {
                    corpus.written.push((
                        doc.namespace().map(str::to_owned),
                        eso::target_name(&doc.json["spec"], doc.name()),
                    ));
                }
                plan
            }
            "ClusterExternalSecret" => ces::plan(doc, corpus),
            other => {
                let mut plan = DocPlan::default();
                plan.find(doc.root.line, &table::OTHER_ESO_KIND, other);
                plan
            }
        };
    }
    if doc
        .api_version()
        .starts_with("generators.external-secrets.io/")
    {
        let mut plan = DocPlan::default();
        plan.find(doc.root.line, &table::GENERATOR_KIND, doc.kind());
        return plan;
    }
    if doc.kind() == "List" {
        return list_plan(doc);
    }
    reloader::plan(doc, corpus)
}

/// A `kind: List` is not looked into; ESO objects or Reloader annotations inside are reported.
fn list_plan(doc: &Doc) -> DocPlan {
    let mut plan = DocPlan::default();
    for (i, item) in doc.json["items"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let eso = item["apiVersion"]
            .as_str()
            .is_some_and(|v| v.contains(ESO_GROUP));
        let reloader = item["metadata"]["annotations"]
            .as_object()
            .is_some_and(|a| a.keys().any(|k| k.contains("reloader.stakater.com")));
        if eso || reloader {
            let what = format!(
                "items[{i}]: {} {}",
                item["kind"].as_str().unwrap_or("?"),
                item["metadata"]["name"].as_str().unwrap_or("?")
            );
            plan.find(doc.line_of(&format!("items[{i}]")), &table::IN_LIST, what);
        }
    }
    plan
}

#[cfg(test)]
mod tests;
