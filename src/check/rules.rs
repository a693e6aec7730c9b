//! The run-time half of `stagesync check`: the rules the operator applies when it reconciles,
//! evaluated offline over the whole set of manifests. Every rule is the operator's own code
//! (`controller::sources`, `controller::windows`, `store`, `render`, `restart::usage`), called
//! here with what the manifests say instead of what the cluster holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::placeholder;
use super::{Finding, Severity};
use crate::api::duration::parse_go_duration;
use crate::api::externalsecret::{ExternalSecret, SecretStoreRef, StoreKind};
use crate::api::secretstore::{ClusterSecretStore, SecretStore};
use crate::controller::sources::{entry_store, unsupported, with_prefixes};
use crate::controller::windows::invalid_windows;
use crate::render::RenderError;
use crate::render::keys::is_valid_secret_key;
use crate::render::template::{TemplateSources, syntax_errors};
use crate::restart::usage::{reload_spec, secrets_used};
use crate::restart::workload::Kind;
use crate::store::{Referenced, namespace_admitted, referenced_namespace};
use crate::value::SecretBytes;

/// What the manifests hold that rules look up, by namespace and name.
#[derive(Debug, Default)]
pub struct Inventory {
    /// SecretStores by (namespace, name).
    pub stores: HashMap<(String, String), SecretStore>,
    /// ClusterSecretStores by name.
    pub cluster_stores: HashMap<String, ClusterSecretStore>,
    /// Namespaces' labels, for the namespaces written as manifests.
    pub namespaces: HashMap<String, BTreeMap<String, String>>,
    /// ConfigMaps' data by (namespace, name), for `templateFrom`.
    pub config_maps: HashMap<(String, String), BTreeMap<String, String>>,
    /// Secrets' data by (namespace, name), for `templateFrom`.
    pub secrets: HashMap<(String, String), BTreeMap<String, SecretBytes>>,
    /// The Secrets ExternalSecrets write, by namespace.
    pub targets: HashMap<String, BTreeSet<String>>,
}

impl Inventory {
    /// The AWS settings of the store a reference names, if among the manifests.
    pub fn store_for(
        &self,
        namespace: &str,
        r: &SecretStoreRef,
    ) -> Option<&crate::api::secretstore::AwsProvider> {
        match r.kind {
            StoreKind::SecretStore => self
                .stores
                .get(&(namespace.to_owned(), r.name.clone()))
                .map(|s| &s.spec.provider.aws),
            StoreKind::ClusterSecretStore => self
                .cluster_stores
                .get(&r.name)
                .map(|s| &s.spec.provider.aws),
        }
    }
}

/// A Secret's data from a manifest: `data` (base64) and `stringData`.
pub fn secret_data(object: &Value) -> BTreeMap<String, SecretBytes> {
    use base64::Engine as _;
    let mut out = BTreeMap::new();
    if let Some(data) = object["data"].as_object() {
        for (k, v) in data {
            let bytes = v
                .as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .unwrap_or_default();
            out.insert(k.clone(), SecretBytes::new(bytes));
        }
    }
    if let Some(data) = object["stringData"].as_object() {
        for (k, v) in data {
            out.insert(
                k.clone(),
                SecretBytes::from(v.as_str().unwrap_or_default().to_owned()),
            );
        }
    }
    out
}

/// Settings of the rules that depend on how the operator runs.
#[derive(Clone, Debug, Default)]
pub struct RuleSettings {
    /// Stores not among the manifests are a warning rather than an error.
    pub allow_external_stores: bool,
    /// The operator runs with `--reloader-compatible`.
    pub reloader_compatible: bool,
    /// The operator runs with `--allow-ambient-credentials`.
    pub allow_ambient_credentials: bool,
}

/// What checking an ExternalSecret found, and the keys it would write.
pub struct ExternalSecretCheck {
    /// Problems, by field.
    pub findings: Vec<Finding>,
    /// The offline render, when it ran.
    pub rendered: Option<placeholder::Rendered>,
}

/// The rules of one ExternalSecret in `namespace`.
pub fn external_secret(
    es: &ExternalSecret,
    namespace: &str,
    inventory: &Inventory,
    settings: &RuleSettings,
) -> ExternalSecretCheck {
    let spec = &es.spec;
    let mut findings = Vec::new();
    if let Some(refused) = unsupported(spec) {
        let field = refused.split(':').next().unwrap_or_default();
        findings.push(Finding::error(format!("spec.{field}"), refused.clone()));
    }
    if !spec.refresh_interval.is_empty()
        && let Err(e) = parse_go_duration(&spec.refresh_interval)
    {
        findings.push(Finding::error(
            "spec.refreshInterval",
            format!("refreshInterval {:?}: {e}", spec.refresh_interval),
        ));
    }
    if let Some(windows) = &spec.sync_windows {
        for (i, why) in invalid_windows(windows) {
            findings.push(
                Finding::error(format!("spec.syncWindows.windows[{i}]"), why)
                    .hint("such a window never opens"),
            );
        }
    }
    let target = spec
        .target
        .name
        .clone()
        .unwrap_or_else(|| es.metadata.name.clone().unwrap_or_default());
    if !crate::api::names::is_dns_subdomain(&target) {
        findings.push(Finding::error(
            "spec.target.name",
            format!("Secret name {target:?} is not a valid DNS subdomain name"),
        ));
    }
    store_rules(spec, namespace, inventory, settings, &mut findings);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, d) in spec.data.iter().enumerate() {
        if let Some(first) = seen.insert(&d.secret_key, i) {
            findings.push(
                Finding::error(
                    format!("spec.data[{i}].secretKey"),
                    format!(
                        "secretKey {:?} is also written by data[{first}]",
                        d.secret_key
                    ),
                )
                .hint("each data entry needs its own secretKey; the later entry would win"),
            );
        }
    }
    let mut rendered = None;
    let syntax = spec
        .target
        .template
        .as_ref()
        .map(syntax_errors)
        .unwrap_or_default();
    let syntax_ok = syntax.is_empty();
    findings.extend(
        syntax
            .into_iter()
            .map(|(field, message)| Finding::error(field, message)),
    );
    if syntax_ok {
        match template_sources(es, namespace, inventory) {
            Err(missing) => findings.push(
                Finding::warning("spec.target.template.templateFrom", missing)
                    .hint("add it to the checked manifests to have the templates rendered"),
            ),
            Ok(sources) => match placeholder::render(
                &with_prefixes(spec, |r| {
                    inventory
                        .store_for(namespace, r.unwrap_or(&spec.secret_store_ref))
                        .and_then(|aws| aws.prefix.as_deref())
                }),
                &sources,
            ) {
                Ok(r) => {
                    for key in r.keys.iter().filter(|k| !is_valid_secret_key(k)) {
                        findings.push(Finding::error(
                            "spec",
                            format!("Secret key {key:?} is not valid: keys may hold only letters, digits, '-', '_' and '.'"),
                        ));
                    }
                    rendered = Some(r);
                }
                Err(e) => findings.push(render_finding(spec, &e)),
            },
        }
    }
    ExternalSecretCheck { findings, rendered }
}

/// A render failure over placeholder values: certain when a rule failed, a warning when the
/// real values might behave differently.
fn render_finding(
    spec: &crate::api::externalsecret::ExternalSecretSpec,
    e: &RenderError,
) -> Finding {
    let keys_unknown = spec
        .data_from
        .iter()
        .any(|d| d.extract.is_some() || d.find.is_some());
    match e {
        RenderError::Template { key, detail } if detail.contains("map has no entry for key") => {
            let in_data = spec
                .target
                .template
                .as_ref()
                .is_some_and(|t| t.data.contains_key(key));
            let field = if in_data {
                format!("spec.target.template.data.{key}")
            } else {
                "spec.target.template".to_owned()
            };
            let f = Finding::new(
                if keys_unknown {
                    Severity::Warning
                } else {
                    Severity::Error
                },
                field,
                e.to_string(),
            );
            f.hint("a template reads a key that no data or dataFrom entry produces")
        }
        RenderError::Template { .. } | RenderError::Decoding { .. } => Finding::warning(
            "spec.target.template",
            format!("not rendered over placeholder values: {e}"),
        )
        .hint("functions that parse the value (certificates, keys, JSON) need the real one; check in a cluster"),
        RenderError::Rewrite { .. } | RenderError::KeyCollision { .. } => {
            Finding::error("spec.dataFrom", e.to_string())
        }
        _ => Finding::error("spec", e.to_string()),
    }
}

/// ConfigMaps and Secrets `templateFrom` reads, from the manifests; `Err` names the first that
/// is not among them.
fn template_sources(
    es: &ExternalSecret,
    namespace: &str,
    inventory: &Inventory,
) -> Result<TemplateSources, String> {
    let mut sources = TemplateSources::default();
    let Some(tpl) = &es.spec.target.template else {
        return Ok(sources);
    };
    for from in &tpl.template_from {
        if let Some(cm) = &from.config_map {
            let data = inventory
                .config_maps
                .get(&(namespace.to_owned(), cm.name.clone()))
                .ok_or_else(|| {
                    format!(
                        "templateFrom ConfigMap {:?} is not among the checked manifests",
                        cm.name
                    )
                })?;
            sources.config_maps.insert(cm.name.clone(), data.clone());
        }
        if let Some(s) = &from.secret {
            let data = inventory
                .secrets
                .get(&(namespace.to_owned(), s.name.clone()))
                .ok_or_else(|| {
                    format!(
                        "templateFrom Secret {:?} is not among the checked manifests",
                        s.name
                    )
                })?;
            sources.secrets.insert(s.name.clone(), data.clone());
        }
    }
    Ok(sources)
}

/// Every store the ExternalSecret reads through exists among the manifests and admits its
/// namespace.
fn store_rules(
    spec: &crate::api::externalsecret::ExternalSecretSpec,
    namespace: &str,
    inventory: &Inventory,
    settings: &RuleSettings,
    findings: &mut Vec<Finding>,
) {
    let mut refs: Vec<(String, &SecretStoreRef)> =
        vec![("spec.secretStoreRef".into(), &spec.secret_store_ref)];
    for (i, d) in spec.data.iter().enumerate() {
        if let Some(r) = entry_store(d.source_ref.as_ref()) {
            refs.push((format!("spec.data[{i}].sourceRef.storeRef"), r));
        }
    }
    for (i, d) in spec.data_from.iter().enumerate() {
        if let Some(r) = entry_store(d.source_ref.as_ref()) {
            refs.push((format!("spec.dataFrom[{i}].sourceRef.storeRef"), r));
        }
    }
    let missing_severity = if settings.allow_external_stores {
        Severity::Warning
    } else {
        Severity::Error
    };
    for (field, r) in refs {
        match r.kind {
            StoreKind::SecretStore => {
                if !inventory
                    .stores
                    .contains_key(&(namespace.to_owned(), r.name.clone()))
                {
                    findings.push(
                        Finding::new(
                            missing_severity,
                            format!("{field}.name"),
                            format!("SecretStore {:?} is not among the checked manifests in namespace {namespace:?}", r.name),
                        )
                        .hint("check the name; pass --allow-external-stores when the store is applied from elsewhere"),
                    );
                }
            }
            StoreKind::ClusterSecretStore => match inventory.cluster_stores.get(&r.name) {
                None => findings.push(
                    Finding::new(
                        missing_severity,
                        format!("{field}.name"),
                        format!("ClusterSecretStore {:?} is not among the checked manifests", r.name),
                    )
                    .hint("check the name; pass --allow-external-stores when the store is applied from elsewhere"),
                ),
                Some(store) => {
                    let conditions = &store.spec.conditions;
                    let labels = inventory.namespaces.get(namespace);
                    let selects_labels = conditions.iter().any(|c| c.namespace_selector.is_some());
                    let empty = BTreeMap::new();
                    let admitted = namespace_admitted(conditions, namespace, labels.unwrap_or(&empty));
                    if !admitted && (labels.is_some() || !selects_labels) {
                        findings.push(
                            Finding::error(
                                field,
                                format!("ClusterSecretStore {:?} does not admit namespace {namespace:?} (see its spec.conditions)", r.name),
                            )
                            .hint("add the namespace to the store's conditions, or use a store of the namespace"),
                        );
                    } else if !admitted {
                        findings.push(Finding::warning(
                            field,
                            format!("ClusterSecretStore {:?} admits namespaces by label; Namespace {namespace:?} is not among the checked manifests, so whether it is admitted is unknown", r.name),
                        ));
                    }
                }
            },
        }
    }
}

/// The rules of a store: its refresh interval, where its auth may point, and the operator's
/// own identity.
pub fn store(
    namespace: Option<&str>,
    refresh_interval: Option<&k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>,
    provider: &crate::api::secretstore::AwsProvider,
    settings: &RuleSettings,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Err(e) = crate::api::secretstore::store_refresh_interval(refresh_interval) {
        findings.push(Finding::error("spec.refreshInterval", e));
    }
    let auth = provider.auth.as_ref();
    if let Some(secret_ref) = auth.and_then(|a| a.secret_ref.as_ref()) {
        for (field, selector) in [
            ("accessKeyIDSecretRef", &secret_ref.access_key_id),
            (
                "secretAccessKeySecretRef",
                &secret_ref.secret_access_key_secret_ref,
            ),
        ] {
            if let Err(e) = referenced_namespace(
                namespace,
                selector.namespace.as_deref(),
                Referenced::CredentialSecret(&selector.name),
            ) {
                let at = if selector.namespace.is_some() {
                    ".namespace"
                } else {
                    ""
                };
                findings.push(Finding::error(
                    format!("spec.provider.aws.auth.secretRef.{field}{at}"),
                    e.to_string(),
                ));
            }
        }
    }
    if let Some(jwt) = auth.and_then(|a| a.jwt.as_ref()) {
        let sa = &jwt.service_account_ref;
        if let Err(e) = referenced_namespace(
            namespace,
            sa.namespace.as_deref(),
            Referenced::ServiceAccount(&sa.name),
        ) {
            let at = if sa.namespace.is_some() {
                ".namespace"
            } else {
                ""
            };
            findings.push(Finding::error(
                format!("spec.provider.aws.auth.jwt.serviceAccountRef{at}"),
                e.to_string(),
            ));
        }
    }
    let no_auth = auth.is_none_or(|a| a.secret_ref.is_none() && a.jwt.is_none());
    if namespace.is_some() && no_auth && !settings.allow_ambient_credentials {
        findings.push(
            Finding::error(
                "spec.provider.aws.auth",
                "a SecretStore without auth would use the operator's own AWS identity, which the operator refuses unless it runs with --allow-ambient-credentials",
            )
            .hint("set auth.secretRef or auth.jwt, or use a ClusterSecretStore"),
        );
    }
    findings
}

/// The rules of a workload that may opt in to restarts: its annotations parse, and the Secrets
/// it would restart for are written by an ExternalSecret among the manifests.
pub fn workload(
    kind: Kind,
    object: &Value,
    namespace: &str,
    inventory: &Inventory,
    settings: &RuleSettings,
) -> Vec<Finding> {
    let annotations: BTreeMap<String, String> =
        serde_json::from_value(object["metadata"]["annotations"].clone()).unwrap_or_default();
    let spec = match reload_spec(&annotations, settings.reloader_compatible) {
        Ok(Some(spec)) => spec,
        Ok(None) => return Vec::new(),
        Err(problems) => {
            return problems
                .into_iter()
                .map(|p| Finding::error("metadata.annotations", p))
                .collect();
        }
    };
    let mut watched: BTreeSet<String> = spec.named.clone();
    if spec.auto {
        watched.extend(secrets_used(kind.pod_spec(&object["spec"])));
    }
    let managed = inventory.targets.get(namespace);
    let uses_managed = watched
        .iter()
        .any(|s| managed.is_some_and(|m| m.contains(s)));
    if uses_managed {
        return Vec::new();
    }
    vec![
        Finding::warning(
            "metadata.annotations",
            format!(
                "{} opts in to restarts but uses no Secret an ExternalSecret among the checked manifests writes{}",
                kind.as_str(),
                if watched.is_empty() {
                    String::new()
                } else {
                    format!(" (it uses {})", watched.into_iter().collect::<Vec<_>>().join(", "))
                }
            ),
        )
        .hint("it will never be restarted by stagesync; check the Secret names"),
    ]
}
