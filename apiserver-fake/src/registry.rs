//! The table of served kinds: one `ResourceType` per (group, version, resource), built-ins
//! from a static table and custom resources added when their CRD is created.

use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::error::GroupResource;
use crate::merge::MergeSchema;
use crate::schema::CrdSchema;

/// How `metadata.generation` is kept (upstream: per-kind strategy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerationPolicy {
    /// The kind has no generation (Secret, ConfigMap, Namespace, ...).
    None,
    /// Bumped when `.spec` changes (Deployment, CronJob, Job, CRD, ...).
    Spec,
    /// Custom resources: bumped on any change outside `metadata` (and outside
    /// `status` when the status subresource is on).
    CustomResource,
}

/// Custom-resource specifics, taken from the CRD version that serves the resource.
#[derive(Debug)]
pub struct CrdInfo {
    /// `metadata.name` of the CRD (`plural.group`).
    pub crd_name: String,
    pub crd_uid: String,
    /// Validation/defaulting/pruning (None: no schema, `x-kubernetes-preserve-unknown-fields`).
    pub schema: Option<CrdSchema>,
    /// The version's `openAPIV3Schema` (served in /openapi and used by `kubectl explain`).
    pub openapi: Value,
    /// `additionalPrinterColumns` of the version.
    pub printer_columns: Vec<Value>,
    /// `selectableFields[].jsonPath` of the version.
    pub selectable_fields: Vec<String>,
    /// `scale` subresource paths (specReplicasPath, statusReplicasPath), if enabled.
    pub scale: Option<Value>,
    /// apiVersion objects are stored in (the CRD's storage version).
    pub storage_api_version: String,
}

/// One served (group, version, resource).
#[derive(Debug)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub verbs: Vec<String>,
    /// Has a `status` subresource (spec ignored there, status ignored on the main resource).
    pub status: bool,
    pub generation: GenerationPolicy,
    /// PUT of a missing object creates it (Events, RBAC).
    pub create_on_update: bool,
    /// DELETE answers with the object instead of a Success Status (pods, custom resources).
    pub return_deleted: bool,
    /// Extra field selectors beyond metadata.name/namespace: (selector label, dotted path).
    pub field_selectors: Vec<(String, String)>,
    /// Storage key shared by every version of the same resource.
    pub storage: Arc<str>,
    /// Version this resource prefers in discovery.
    pub preferred: bool,
    pub merge_schema: Arc<MergeSchema>,
    pub crd: Option<Arc<CrdInfo>>,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    pub fn gr(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.plural)
    }
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
    pub fn is_custom(&self) -> bool {
        self.crd.is_some()
    }
    /// Accepts strategic merge patch (built-ins only; upstream answers 415 for CRs).
    pub fn strategic(&self) -> bool {
        self.crd.is_none()
    }
    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
    /// A create-only review resource (TokenReview, SubjectAccessReview, ...): answered, never
    /// stored.
    pub fn is_review(&self) -> bool {
        self.crd.is_none()
            && REVIEWS
                .iter()
                .any(|r| r.0 == self.group && r.1 == self.kind)
    }
}

/// Create-only resources of authentication.k8s.io / authorization.k8s.io (group, kind, plural,
/// namespaced), served by `reviews`.
pub const REVIEWS: &[(&str, &str, &str, bool)] = &[
    (
        "authentication.k8s.io",
        "TokenReview",
        "tokenreviews",
        false,
    ),
    (
        "authentication.k8s.io",
        "SelfSubjectReview",
        "selfsubjectreviews",
        false,
    ),
    (
        "authorization.k8s.io",
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        true,
    ),
    (
        "authorization.k8s.io",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        false,
    ),
    (
        "authorization.k8s.io",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        false,
    ),
    (
        "authorization.k8s.io",
        "SubjectAccessReview",
        "subjectaccessreviews",
        false,
    ),
];

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    namespaced: bool,
    status: bool,
    generation: GenerationPolicy,
    create_on_update: bool,
    return_deleted: bool,
    fields: &'static [(&'static str, &'static str)],
    storage: &'static str,
}

const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject.kind", "involvedObject.kind"),
    ("involvedObject.namespace", "involvedObject.namespace"),
    ("involvedObject.name", "involvedObject.name"),
    ("involvedObject.uid", "involvedObject.uid"),
    ("involvedObject.apiVersion", "involvedObject.apiVersion"),
    (
        "involvedObject.resourceVersion",
        "involvedObject.resourceVersion",
    ),
    ("involvedObject.fieldPath", "involvedObject.fieldPath"),
    ("reason", "reason"),
    ("reportingComponent", "reportingComponent"),
    ("source", "source.component"),
    ("type", "type"),
];

/// events.k8s.io/v1 serves the same objects with renamed fields.
const EVENTS_V1_FIELDS: &[(&str, &str)] = &[
    ("regarding.kind", "regarding.kind"),
    ("regarding.namespace", "regarding.namespace"),
    ("regarding.name", "regarding.name"),
    ("regarding.uid", "regarding.uid"),
    ("regarding.apiVersion", "regarding.apiVersion"),
    ("regarding.resourceVersion", "regarding.resourceVersion"),
    ("regarding.fieldPath", "regarding.fieldPath"),
    ("reason", "reason"),
    ("reportingController", "reportingController"),
    ("type", "type"),
];

const POD_FIELDS: &[(&str, &str)] = &[
    ("spec.nodeName", "spec.nodeName"),
    ("spec.restartPolicy", "spec.restartPolicy"),
    ("spec.schedulerName", "spec.schedulerName"),
    ("spec.serviceAccountName", "spec.serviceAccountName"),
    ("spec.hostNetwork", "spec.hostNetwork"),
    ("status.phase", "status.phase"),
    ("status.podIP", "status.podIP"),
    ("status.nominatedNodeName", "status.nominatedNodeName"),
];

use GenerationPolicy as G;

#[rustfmt::skip]
const BUILTINS: &[Builtin] = &[
    Builtin { group: "", version: "v1", kind: "Namespace", plural: "namespaces", short: &["ns"], categories: &[], namespaced: false, status: true, generation: G::None, create_on_update: false, return_deleted: true, fields: &[("status.phase", "status.phase")], storage: "namespaces" },
    Builtin { group: "", version: "v1", kind: "Secret", plural: "secrets", short: &[], categories: &[], namespaced: true, status: false, generation: G::None, create_on_update: false, return_deleted: false, fields: &[("type", "type")], storage: "secrets" },
    Builtin { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", short: &["cm"], categories: &[], namespaced: true, status: false, generation: G::None, create_on_update: false, return_deleted: false, fields: &[], storage: "configmaps" },
    Builtin { group: "", version: "v1", kind: "Event", plural: "events", short: &["ev"], categories: &[], namespaced: true, status: false, generation: G::None, create_on_update: true, return_deleted: false, fields: EVENT_FIELDS, storage: "events" },
    Builtin { group: "", version: "v1", kind: "ServiceAccount", plural: "serviceaccounts", short: &["sa"], categories: &[], namespaced: true, status: false, generation: G::None, create_on_update: false, return_deleted: false, fields: &[], storage: "serviceaccounts" },
    Builtin { group: "", version: "v1", kind: "Pod", plural: "pods", short: &["po"], categories: &["all"], namespaced: true, status: true, generation: G::None, create_on_update: false, return_deleted: true, fields: POD_FIELDS, storage: "pods" },
    Builtin { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", short: &["deploy"], categories: &["all"], namespaced: true, status: true, generation: G::Spec, create_on_update: false, return_deleted: false, fields: &[], storage: "deployments.apps" },
    Builtin { group: "apps", version: "v1", kind: "StatefulSet", plural: "statefulsets", short: &["sts"], categories: &["all"], namespaced: true, status: true, generation: G::Spec, create_on_update: false, return_deleted: false, fields: &[], storage: "statefulsets.apps" },
    Builtin { group: "apps", version: "v1", kind: "DaemonSet", plural: "daemonsets", short: &["ds"], categories: &["all"], namespaced: true, status: true, generation: G::Spec, create_on_update: false, return_deleted: false, fields: &[], storage: "daemonsets.apps" },
    Builtin { group: "apps", version: "v1", kind: "ReplicaSet", plural: "replicasets", short: &["rs"], categories: &["all"], namespaced: true, status: true, generation: G::Spec, create_on_update: false, return_deleted: false, fields: &[("status.replicas", "status.replicas")], storage: "replicasets.apps" },
    Builtin { group: "batch", version: "v1", kind: "CronJob", plural: "cronjobs", short: &["cj"], categories: &["all"], namespaced: true, status: true, generation: G::Spec, create_on_update: false, return_deleted: false, fields: &[], storage: "cronjobs.batch" },
    Builtin { group: "batch", version: "v1", kind: "Job", plural: "jobs", short: &[], categories: &["all"], namespaced: true, status: true, generation: G::Spec, create_on_update: false, return_deleted: false, fields: &[], storage: "jobs.batch" },
    Builtin { group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", short: &[], categories: &[], namespaced: true, status: false, generation: G::None, create_on_update: false, return_deleted: false, fields: &[], storage: "leases.coordination.k8s.io" },
    Builtin { group: "events.k8s.io", version: "v1", kind: "Event", plural: "events", short: &["ev"], categories: &[], namespaced: true, status: false, generation: G::None, create_on_update: true, return_deleted: false, fields: EVENTS_V1_FIELDS, storage: "events" },
    Builtin { group: "rbac.authorization.k8s.io", version: "v1", kind: "Role", plural: "roles", short: &[], categories: &[], namespaced: true, status: false, generation: G::None, create_on_update: true, return_deleted: false, fields: &[], storage: "roles.rbac.authorization.k8s.io" },
    Builtin { group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRole", plural: "clusterroles", short: &[], categories: &[], namespaced: false, status: false, generation: G::None, create_on_update: true, return_deleted: false, fields: &[], storage: "clusterroles.rbac.authorization.k8s.io" },
    Builtin { group: "rbac.authorization.k8s.io", version: "v1", kind: "RoleBinding", plural: "rolebindings", short: &[], categories: &[], namespaced: true, status: false, generation: G::None, create_on_update: true, return_deleted: false, fields: &[], storage: "rolebindings.rbac.authorization.k8s.io" },
    Builtin { group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRoleBinding", plural: "clusterrolebindings", short: &[], categories: &[], namespaced: false, status: false, generation: G::None, create_on_update: true, return_deleted: false, fields: &[], storage: "clusterrolebindings.rbac.authorization.k8s.io" },
    Builtin { group: "apiextensions.k8s.io", version: "v1", kind: "CustomResourceDefinition", plural: "customresourcedefinitions", short: &["crd", "crds"], categories: &["api-extensions"], namespaced: false, status: true, generation: G::Spec, create_on_update: false, return_deleted: true, fields: &[], storage: "customresourcedefinitions.apiextensions.k8s.io" },
];

/// The set of served resources. Cheap to read concurrently; CRD changes take the write lock.
#[derive(Debug, Default)]
pub struct Registry {
    types: RwLock<Vec<Arc<ResourceType>>>,
}

impl Registry {
    pub fn with_builtins() -> Self {
        let types = BUILTINS
            .iter()
            .map(|b| {
                let api_version = if b.group.is_empty() {
                    b.version.to_string()
                } else {
                    format!("{}/{}", b.group, b.version)
                };
                Arc::new(ResourceType {
                    group: b.group.into(),
                    version: b.version.into(),
                    kind: b.kind.into(),
                    plural: b.plural.into(),
                    singular: b.kind.to_lowercase(),
                    short_names: b.short.iter().map(|s| s.to_string()).collect(),
                    categories: b.categories.iter().map(|s| s.to_string()).collect(),
                    namespaced: b.namespaced,
                    verbs: ALL_VERBS.iter().map(|s| s.to_string()).collect(),
                    status: b.status,
                    generation: b.generation,
                    create_on_update: b.create_on_update,
                    return_deleted: b.return_deleted,
                    field_selectors: b
                        .fields
                        .iter()
                        .map(|(a, p)| (a.to_string(), p.to_string()))
                        .collect(),
                    storage: Arc::from(b.storage),
                    preferred: true,
                    merge_schema: Arc::new(
                        MergeSchema::builtin(&api_version, b.kind)
                            .with_gvk(&api_version, b.kind)
                            .with_status_subresource(b.status),
                    ),
                    crd: None,
                })
            })
            .collect::<Vec<_>>();
        let mut types = types;
        for (group, kind, plural, namespaced) in REVIEWS {
            let api_version = format!("{group}/v1");
            types.push(Arc::new(ResourceType {
                group: group.to_string(),
                version: "v1".into(),
                kind: kind.to_string(),
                plural: plural.to_string(),
                singular: kind.to_lowercase(),
                short_names: Vec::new(),
                categories: Vec::new(),
                namespaced: *namespaced,
                verbs: vec!["create".into()],
                status: false,
                generation: GenerationPolicy::None,
                create_on_update: false,
                return_deleted: false,
                field_selectors: Vec::new(),
                storage: Arc::from(format!("{plural}.{group}")),
                preferred: true,
                merge_schema: Arc::new(
                    MergeSchema::builtin(&api_version, kind).with_gvk(&api_version, kind),
                ),
                crd: None,
            }));
        }
        Self {
            types: RwLock::new(types),
        }
    }

    pub fn all(&self) -> Vec<Arc<ResourceType>> {
        self.types.read().expect("registry lock").clone()
    }

    /// Resource by group, version and plural (the URL form).
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .read()
            .expect("registry lock")
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    /// Resource by apiVersion and kind (owner references, applied manifests).
    pub fn find_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = split_api_version(api_version);
        self.types
            .read()
            .expect("registry lock")
            .iter()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
            .cloned()
    }

    /// Resource by group and kind, any version (owner references resolve across versions).
    pub fn find_group_kind(&self, group: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let types = self.types.read().expect("registry lock");
        types
            .iter()
            .find(|t| t.group == group && t.kind == kind && t.preferred)
            .or_else(|| types.iter().find(|t| t.group == group && t.kind == kind))
            .cloned()
    }

    /// Any served version of a storage key (to resolve a stored object's kind).
    pub fn by_storage(&self, storage: &str) -> Option<Arc<ResourceType>> {
        let types = self.types.read().expect("registry lock");
        types
            .iter()
            .find(|t| &*t.storage == storage && t.preferred && t.group != "events.k8s.io")
            .or_else(|| types.iter().find(|t| &*t.storage == storage))
            .cloned()
    }

    /// Whether the group/version is served at all (for discovery 404s).
    pub fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.types
            .read()
            .expect("registry lock")
            .iter()
            .any(|t| t.group == group && t.version == version)
    }

    /// Replace every resource served by the CRD `crd_name` (none when `types` is empty).
    pub fn set_crd_types(&self, crd_name: &str, types: Vec<Arc<ResourceType>>) {
        let mut all = self.types.write().expect("registry lock");
        all.retain(|t| t.crd.as_ref().is_none_or(|c| c.crd_name != crd_name));
        all.extend(types);
    }
}

/// `apps/v1` -> (`apps`, `v1`); `v1` -> (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}
