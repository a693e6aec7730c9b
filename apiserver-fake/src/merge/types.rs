//! The per-kind "merge schema": which lists are associative (and by which keys), which are sets,
//! which lists and maps are atomic, which object keys are named struct fields, and the strategic
//! merge patch tags (`patchStrategy` / `patchMergeKey`) of built-in kinds.
//!
//! Built-in kinds use a hand-written table (the subset listed in [`MergeSchema::builtin`]); custom
//! resources derive it from the CRD version's structural `openAPIV3Schema`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::Value;

use super::{ListKind, MergeSchema};

/// Strategic-merge-patch strategy of a field (the Go `patchStrategy` tag).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Smp {
    /// No tag: lists are replaced, maps merged.
    #[default]
    None,
    /// `patchStrategy:"merge"`, with `patchMergeKey` for lists of objects (`None` for primitive
    /// lists, which get set semantics).
    Merge(Option<String>),
    /// `patchStrategy:"replace"`.
    Replace,
}

/// Schema of one node of an object.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    /// Declared (named) struct fields.
    pub fields: BTreeMap<String, Node>,
    /// Undeclared keys of this object are struct fields too (hand-written tables list only the
    /// fields that need special semantics; the real types know all their fields).
    pub open_struct: bool,
    /// Map values (`additionalProperties`) or list items.
    pub elem: Option<Box<Node>>,
    /// Server-side-apply list semantics; `None` means atomic.
    pub list: Option<ListKind>,
    /// `x-kubernetes-map-type: atomic` / `+structType=atomic` / `+mapType=atomic`.
    pub atomic: bool,
    /// Untyped: every object key is a map key (not a named field), lists are atomic.
    pub deduced: bool,
    /// Defaults of associative-list key fields (e.g. `protocol: TCP` for container ports).
    pub key_defaults: BTreeMap<String, Value>,
    /// Strategic merge patch tag.
    pub smp: Smp,
    /// A Go value-typed struct (or non-omitempty list): the typed object always has it, so it is
    /// never reported as added/removed as a whole.
    pub always_present: bool,
}

pub(crate) static DEDUCED: LazyLock<Node> = LazyLock::new(|| Node {
    deduced: true,
    ..Node::default()
});

pub(crate) static OPEN_STRUCT: LazyLock<Node> = LazyLock::new(|| Node {
    open_struct: true,
    ..Node::default()
});

impl Node {
    /// The schema of `key` in this object, and whether `key` is a named struct field.
    pub(crate) fn child(&self, key: &str) -> (&Node, bool) {
        if let Some(n) = self.fields.get(key) {
            return (n, true);
        }
        if let Some(e) = &self.elem {
            return (e, false);
        }
        if self.open_struct {
            return (&OPEN_STRUCT, true);
        }
        (&DEDUCED, false)
    }

    /// The schema of the items of this list.
    pub(crate) fn item(&self) -> &Node {
        match &self.elem {
            Some(e) => e,
            None if self.deduced => &DEDUCED,
            None => &OPEN_STRUCT,
        }
    }

    /// List semantics of this node when its value is a list.
    pub(crate) fn list_kind(&self) -> &ListKind {
        static ATOMIC: ListKind = ListKind::Atomic;
        match &self.list {
            Some(k) if !self.deduced => k,
            _ => &ATOMIC,
        }
    }

    // ---- builders for the hand-written tables ----

    fn strukt() -> Node {
        Node {
            open_struct: true,
            ..Node::default()
        }
    }

    fn with(mut self, key: &str, n: Node) -> Node {
        self.fields.insert(key.to_string(), n);
        self
    }

    fn present(mut self) -> Node {
        self.always_present = true;
        self
    }

    fn atomic() -> Node {
        Node {
            atomic: true,
            list: Some(ListKind::Atomic),
            ..Node::default()
        }
    }

    /// A granular map of scalars (labels, data, ...).
    fn map_of_scalars() -> Node {
        Node {
            elem: Some(Box::new(Node::default())),
            ..Node::default()
        }
    }

    fn map_list(keys: &[&str], item: Node) -> Node {
        Node {
            list: Some(ListKind::Map(keys.iter().map(|k| k.to_string()).collect())),
            elem: Some(Box::new(item)),
            ..Node::default()
        }
    }

    fn set_list() -> Node {
        Node {
            list: Some(ListKind::Set),
            ..Node::default()
        }
    }

    fn smp_merge(mut self, key: Option<&str>) -> Node {
        self.smp = Smp::Merge(key.map(str::to_string));
        self
    }

    fn key_default(mut self, key: &str, v: Value) -> Node {
        self.key_defaults.insert(key.to_string(), v);
        self
    }
}

fn object_meta() -> Node {
    Node::strukt()
        .with("labels", Node::map_of_scalars())
        .with("annotations", Node::map_of_scalars())
        .with("finalizers", Node::set_list().smp_merge(None))
        .with(
            "ownerReferences",
            // OwnerReference is `+structType=atomic`.
            Node::map_list(&["uid"], Node::atomic()).smp_merge(Some("uid")),
        )
        .with("managedFields", Node::atomic())
        .present()
}

fn conditions() -> Node {
    Node::map_list(&["type"], Node::strukt()).smp_merge(Some("type"))
}

fn label_selector() -> Node {
    // metav1.LabelSelector is `+structType=atomic`.
    Node::atomic()
}

fn container() -> Node {
    Node::strukt()
        .with(
            "ports",
            Node::map_list(&["containerPort", "protocol"], Node::strukt())
                .smp_merge(Some("containerPort"))
                .key_default("protocol", Value::String("TCP".into())),
        )
        .with(
            "env",
            Node::map_list(
                &["name"],
                // The key selectors are `+structType=atomic`.
                Node::strukt().with(
                    "valueFrom",
                    Node::strukt()
                        .with("secretKeyRef", Node::atomic())
                        .with("configMapKeyRef", Node::atomic())
                        .with("fieldRef", Node::atomic())
                        .with("resourceFieldRef", Node::atomic()),
                ),
            )
            .smp_merge(Some("name")),
        )
        .with(
            "volumeMounts",
            Node::map_list(&["mountPath"], Node::strukt()).smp_merge(Some("mountPath")),
        )
        .with(
            "volumeDevices",
            Node::map_list(&["devicePath"], Node::strukt()).smp_merge(Some("devicePath")),
        )
        .with(
            "resources",
            Node::strukt()
                .with("limits", Node::map_of_scalars())
                .with("requests", Node::map_of_scalars())
                .with("claims", Node::map_list(&["name"], Node::strukt())),
        )
}

fn named_list(key: &str, item: Node) -> Node {
    Node::map_list(&[key], item).smp_merge(Some(key))
}

fn pod_spec() -> Node {
    let mut containers = named_list("name", container());
    containers.always_present = true;
    Node::strukt()
        .with("containers", containers)
        .with("initContainers", named_list("name", container()))
        .with("ephemeralContainers", named_list("name", container()))
        .with("volumes", named_list("name", Node::strukt()))
        // LocalObjectReference is `+structType=atomic`.
        .with("imagePullSecrets", named_list("name", Node::atomic()))
        .with("hostAliases", named_list("ip", Node::strukt()))
        .with(
            "topologySpreadConstraints",
            Node::map_list(&["topologyKey", "whenUnsatisfiable"], Node::strukt())
                .smp_merge(Some("topologyKey")),
        )
        .with("resourceClaims", named_list("name", Node::strukt()))
        .with("schedulingGates", named_list("name", Node::strukt()))
        .with("nodeSelector", {
            let mut n = Node::map_of_scalars();
            n.atomic = true;
            n
        })
        .with("overhead", Node::map_of_scalars())
        .present()
}

fn pod_status() -> Node {
    Node::strukt()
        .with("conditions", conditions())
        .with("podIPs", named_list("ip", Node::strukt()))
        .with("hostIPs", named_list("ip", Node::strukt()))
        .with("resourceClaimStatuses", named_list("name", Node::strukt()))
        .present()
}

fn pod_template() -> Node {
    Node::strukt()
        .with("metadata", object_meta())
        .with("spec", pod_spec())
        .present()
}

fn workload(kind: &str) -> Node {
    let mut spec = Node::strukt()
        .with("selector", label_selector())
        .with("template", pod_template())
        .present();
    match kind {
        "Deployment" => {
            spec = spec.with("strategy", Node::strukt().present());
        }
        "StatefulSet" => {
            spec = spec
                .with("volumeClaimTemplates", Node::atomic())
                .with("updateStrategy", Node::strukt().present());
        }
        "DaemonSet" => {
            spec = spec.with("updateStrategy", Node::strukt().present());
        }
        _ => {}
    }
    Node::strukt().with("spec", spec).with(
        "status",
        Node::strukt().with("conditions", conditions()).present(),
    )
}

/// `batch/v1` JobSpec: the pod template as for the `apps/v1` workloads, `selector` atomic.
fn job_spec() -> Node {
    Node::strukt()
        .with("selector", label_selector())
        .with("template", pod_template())
        .present()
}

/// `batch/v1` Job: `status.conditions` is `+listType=atomic` (strategic merge: merged by `type`).
fn job() -> Node {
    let conditions = Node {
        list: Some(ListKind::Atomic),
        elem: Some(Box::new(Node::strukt())),
        ..Node::default()
    }
    .smp_merge(Some("type"));
    Node::strukt().with("spec", job_spec()).with(
        "status",
        Node::strukt().with("conditions", conditions).present(),
    )
}

/// `batch/v1` CronJob: `spec.jobTemplate` is a JobTemplateSpec (ObjectMeta + JobSpec), so
/// `spec.jobTemplate.spec.template` is a pod template like a Deployment's `spec.template`.
fn cron_job() -> Node {
    let job_template = Node::strukt()
        .with("metadata", object_meta())
        .with("spec", job_spec())
        .present();
    Node::strukt()
        .with(
            "spec",
            Node::strukt().with("jobTemplate", job_template).present(),
        )
        .with(
            "status",
            // `active` (ObjectReferences) is `+listType=atomic`.
            Node::strukt().with("active", Node::atomic()).present(),
        )
}

fn root() -> Node {
    Node::strukt().with("metadata", object_meta())
}

impl MergeSchema {
    fn from_root(root: Node) -> MergeSchema {
        MergeSchema {
            root,
            gvk: None,
            custom: false,
            status_subresource: false,
        }
    }

    /// The hand-written table of the built-in kinds the fake serves.
    ///
    /// Covered (from the upstream `patchStrategy`/`patchMergeKey` tags and `+listType` markers):
    /// - every kind: `metadata` (labels/annotations granular maps, `finalizers` set,
    ///   `ownerReferences` associative by `uid`, `managedFields` atomic);
    /// - `v1` Secret (`data`, `stringData` granular maps), ConfigMap (`data`, `binaryData`),
    ///   Namespace (`spec.finalizers` atomic, `status.conditions` by `type`), ServiceAccount
    ///   (`secrets` by `name`, `imagePullSecrets` atomic), Event (no special lists);
    /// - Pod and the pod templates of `apps/v1` Deployment, StatefulSet, DaemonSet, ReplicaSet:
    ///   `containers`/`initContainers`/`ephemeralContainers`/`volumes`/`imagePullSecrets`/
    ///   `resourceClaims`/`schedulingGates` by `name`, `hostAliases` by `ip`,
    ///   `topologySpreadConstraints` by `topologyKey`(+`whenUnsatisfiable` for apply),
    ///   container `ports` by `containerPort` (apply: `containerPort`+`protocol`, default `TCP`),
    ///   `env` by `name`, `volumeMounts` by `mountPath`, `volumeDevices` by `devicePath`,
    ///   `nodeSelector` atomic map, `tolerations`/`readinessGates` atomic, `selector` atomic,
    ///   `status.conditions` by `type`, pod `podIPs`/`hostIPs` by `ip`;
    /// - `batch/v1` CronJob and Job: the same pod template at `spec.jobTemplate.spec.template`
    ///   (CronJob, whose `spec.jobTemplate.metadata` is an ObjectMeta) and `spec.template` (Job),
    ///   JobSpec `selector` atomic, CronJob `status.active` atomic, Job `status.conditions` atomic
    ///   for apply and merged by `type` for strategic merge patch;
    /// - `coordination.k8s.io/v1` Lease, `rbac.authorization.k8s.io/v1` Role/ClusterRole
    ///   (`rules` atomic) and RoleBinding/ClusterRoleBinding (`subjects` atomic).
    ///
    /// Any other list is atomic (and replaced by strategic merge patch), any other object granular.
    pub fn builtin(api_version: &str, kind: &str) -> MergeSchema {
        let group = api_version
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or_default();
        let r = root();
        let known = |root: Node| {
            let mut s = MergeSchema::from_root(root);
            s.gvk = Some((api_version.to_string(), kind.to_string()));
            s
        };
        match (group, kind) {
            ("", "Secret") => known(
                r.with("data", Node::map_of_scalars())
                    .with("stringData", Node::map_of_scalars()),
            ),
            ("", "ConfigMap") => known(
                r.with("data", Node::map_of_scalars())
                    .with("binaryData", Node::map_of_scalars()),
            ),
            ("", "Namespace") => {
                let mut s = known(
                    r.with(
                        "spec",
                        Node::strukt().with("finalizers", Node::atomic()).present(),
                    )
                    .with(
                        "status",
                        Node::strukt().with("conditions", conditions()).present(),
                    ),
                );
                s.status_subresource = true;
                s
            }
            ("", "ServiceAccount") => known(
                // ObjectReference is `+structType=atomic`.
                r.with("secrets", named_list("name", Node::atomic()))
                    .with("imagePullSecrets", Node::atomic()),
            ),
            ("", "Event") | ("events.k8s.io", "Event") => known(
                r.with("involvedObject", Node::atomic().present())
                    .with("source", Node::strukt().present()),
            ),
            ("", "Pod") => {
                let mut s = known(r.with("spec", pod_spec()).with("status", pod_status()));
                s.status_subresource = true;
                s
            }
            ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") => {
                let mut s = known(workload(kind).with("metadata", object_meta()));
                s.status_subresource = true;
                s
            }
            ("batch", "CronJob") => {
                let mut s = known(cron_job().with("metadata", object_meta()));
                s.status_subresource = true;
                s
            }
            ("batch", "Job") => {
                let mut s = known(job().with("metadata", object_meta()));
                s.status_subresource = true;
                s
            }
            ("coordination.k8s.io", "Lease") => known(r.with("spec", Node::strukt().present())),
            ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => {
                known(r.with("rules", Node::atomic()).with(
                    "aggregationRule",
                    Node::strukt().with("clusterRoleSelectors", Node::atomic()),
                ))
            }
            ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => known(
                r.with("subjects", Node::atomic())
                    .with("roleRef", Node::strukt().present()),
            ),
            _ => {
                // Unknown kind: untyped ("deduced") below the root, but metadata is always an
                // ObjectMeta.
                let mut n = root();
                n.open_struct = false;
                n.deduced = true;
                MergeSchema::from_root(n)
            }
        }
    }

    /// The merge schema of a custom resource, from its CRD version's `openAPIV3Schema`.
    ///
    /// `x-kubernetes-list-type` (`atomic`, default for lists; `set`; `map` with
    /// `x-kubernetes-list-map-keys`, key defaults from the item schema), `x-kubernetes-map-type`
    /// (`atomic`/`granular`), `properties` (named fields), `additionalProperties` (map values) and
    /// `x-kubernetes-preserve-unknown-fields` (untyped below) are honoured. `metadata` at the root
    /// is always an ObjectMeta. Strategic merge patch is rejected for these schemas.
    pub fn from_openapi(schema: &Value) -> MergeSchema {
        let mut root = openapi_node(schema);
        root.fields.insert("metadata".into(), object_meta());
        root.fields.entry("apiVersion".into()).or_default();
        root.fields.entry("kind".into()).or_default();
        let mut s = MergeSchema::from_root(root);
        s.custom = true;
        s
    }

    /// Records the served `apiVersion`/`kind`: `apply` then rejects bodies of another type with
    /// the real `invalid object type` error.
    pub fn with_gvk(mut self, api_version: &str, kind: &str) -> MergeSchema {
        self.gvk = Some((api_version.to_string(), kind.to_string()));
        self
    }

    /// Declares whether the resource has a `status` subresource. With one, field ownership
    /// ignores `status` for writes to the main resource and `spec` for writes to `status`, as the
    /// real reset-fields do (the caller still resets the values themselves).
    pub fn with_status_subresource(mut self, enabled: bool) -> MergeSchema {
        self.status_subresource = enabled;
        self
    }

    /// True for custom resources (strategic merge patch unsupported).
    pub fn is_custom(&self) -> bool {
        self.custom
    }
}

fn openapi_node(s: &Value) -> Node {
    let mut n = Node::default();
    let Some(m) = s.as_object() else {
        n.deduced = true;
        return n;
    };
    let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
    let preserve = m
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            n.fields.insert(k.clone(), openapi_node(v));
        }
    }
    if let Some(ap) = m.get("additionalProperties")
        && ap.is_object()
    {
        n.elem = Some(Box::new(openapi_node(ap)));
    }
    if m.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic") {
        n.atomic = true;
    }
    if ty == "array" {
        if let Some(items) = m.get("items") {
            n.elem = Some(Box::new(openapi_node(items)));
        }
        n.list = Some(
            match m.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => ListKind::Set,
                Some("map") => {
                    let keys: Vec<String> = m
                        .get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|k| k.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    if let Some(items) = m.get("items") {
                        for k in &keys {
                            if let Some(d) = items.pointer(&format!("/properties/{k}/default")) {
                                n.key_defaults.insert(k.clone(), d.clone());
                            }
                        }
                    }
                    ListKind::Map(keys)
                }
                _ => ListKind::Atomic,
            },
        );
    }
    let is_untyped_object = (ty == "object" || ty.is_empty())
        && n.fields.is_empty()
        && n.elem.is_none()
        && (preserve || ty.is_empty())
        && !m.contains_key("x-kubernetes-int-or-string");
    if is_untyped_object {
        n.deduced = true;
    } else if preserve && ty == "object" && n.elem.is_none() {
        // Declared fields plus arbitrary others: undeclared keys are untyped map entries.
        n.elem = Some(Box::new(DEDUCED.clone()));
    }
    n
}
