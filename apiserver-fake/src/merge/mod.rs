//! Patch semantics and server-side apply of the fake API server.
//!
//! This module owns the pure logic of writes that merge something into a stored object:
//! JSON merge patch (RFC 7386) and JSON patch (RFC 6902) through the `json-patch` crate,
//! strategic merge patch for built-in kinds ([`strategic_merge_patch`]), server-side apply
//! ([`apply`]) and the `metadata.managedFields` bookkeeping of every other write
//! ([`track_update`]). The list/map semantics they need come from a [`MergeSchema`]: a
//! hand-written table for built-in kinds, or the CRD version's `openAPIV3Schema`.
//!
//! The algorithms follow `k8s.io/apimachinery/pkg/util/strategicpatch`,
//! `sigs.k8s.io/structured-merge-diff/v6` (`typed`, `merge`, `fieldpath`) and
//! `k8s.io/apimachinery/pkg/util/managedfields/internal` (the field manager chain: strip-meta,
//! `before-first-apply`, `ancient-changes` capping at 10 update entries, reset of
//! managedFields with `[]`/`[{}]`, entry sorting, conflict messages).
//!
//! # Differences from the real API server
//! - Built-in kinds: only the subset of list/map semantics listed on [`MergeSchema::builtin`];
//!   other lists of those kinds are atomic. The real server also drops unknown fields and applies
//!   defaults when it decodes the result into the typed object; here the caller does what it
//!   does (no typed decoding happens in this module, except that leftover `$` directive keys are
//!   dropped after a strategic merge patch).
//! - One API version per resource: managed fields recorded at another `apiVersion` are compared
//!   as-is (the real server converts between versions).
//! - `$setElementOrder` is honoured like upstream; the comparator is a plain stable sort (upstream
//!   uses a non-strict one, identical for valid patches).
//! - Reset fields: with [`MergeSchema::with_status_subresource`], ownership ignores `status` on the
//!   main resource and `spec` on `status` (upstream strategies list a few more metadata fields);
//!   resetting the values themselves is the caller's job.
//! - The kubectl `last-applied-configuration` upgrade path (`lastAppliedManager/Updater`) is not
//!   implemented.
//! - JSON patch error texts are those of the `json-patch` crate, not of evanphx/json-patch.
//! - Duplicate items in a stored associative list are tolerated but handled more simply than
//!   upstream (the first one wins when merging).

mod fieldpath;
mod smp;
mod ssa;
mod types;

use serde_json::Value;

/// Semantics of a list for server-side apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced as a whole; owned as one field (`x-kubernetes-list-type: atomic`, the default).
    Atomic,
    /// A set of scalars; each item owned as `v:<value>` (`x-kubernetes-list-type: set`).
    Set,
    /// An associative list keyed by these fields; each item owned as `k:{...}`
    /// (`x-kubernetes-list-type: map` + `x-kubernetes-list-map-keys`).
    Map(Vec<String>),
}

/// Per-path list/map semantics of one kind (see [`MergeSchema::builtin`] and
/// [`MergeSchema::from_openapi`]).
#[derive(Debug, Clone)]
pub struct MergeSchema {
    pub(crate) root: types::Node,
    pub(crate) gvk: Option<(String, String)>,
    pub(crate) custom: bool,
    pub(crate) status_subresource: bool,
}

/// One conflict of a server-side apply: the manager owning `field` with another value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyConflict {
    /// Name of the manager that owns the field (`metadata.managedFields[].manager`).
    pub manager: String,
    /// The field, as the real server prints it (`.data.foo`, `.spec.containers[name="a"].image`).
    pub field: String,
    /// The manager as `printManager` describes it (`"kubectl" using v1`).
    described: String,
}

impl ApplyConflict {
    /// A conflict with an applier named `manager` (its description is just the quoted name).
    pub fn new(manager: &str, field: &str) -> ApplyConflict {
        ApplyConflict {
            manager: manager.to_string(),
            field: field.to_string(),
            described: fieldpath::go_json(&Value::String(manager.to_string())),
        }
    }

    /// The `message` of the `FieldManagerConflict` status cause: `conflict with "kubectl" using v1`.
    pub fn message(&self) -> String {
        format!("conflict with {}", self.described)
    }
}

/// Errors of patches and applies. [`PatchError::code`] and [`PatchError::reason`] give the HTTP
/// status and `Status.reason` the real server answers with; the `Display` text is the message.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// 400 BadRequest (malformed patch, apply body of the wrong type, name mismatch, ...).
    #[error("{0}")]
    BadRequest(String),
    /// 422 Invalid (e.g. a JSON patch operation that cannot be applied).
    #[error("{0}")]
    Invalid(String),
    /// 500 InternalError (errors upstream does not map to a status, e.g. a strategic merge patch
    /// list item without its merge key). The real `Status.message` is
    /// `Internal error occurred: <this text>`.
    #[error("{0}")]
    Internal(String),
    /// 415 UnsupportedMediaType (strategic merge patch on a custom resource).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 409 Conflict of a server-side apply without `force`.
    #[error("{}", conflict_message(.conflicts))]
    Conflict { conflicts: Vec<ApplyConflict> },
}

impl PatchError {
    /// HTTP status code of the real server's answer.
    pub fn code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::Invalid(_) => 422,
            PatchError::Internal(_) => 500,
            PatchError::UnsupportedMediaType(_) => 415,
            PatchError::Conflict { .. } => 409,
        }
    }

    /// `Status.reason` of the real server's answer.
    pub fn reason(&self) -> &'static str {
        match self {
            PatchError::BadRequest(_) => "BadRequest",
            PatchError::Invalid(_) => "Invalid",
            PatchError::Internal(_) => "InternalError",
            PatchError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            PatchError::Conflict { .. } => "Conflict",
        }
    }
}

/// `getConflictMessage` of the real field manager.
fn conflict_message(conflicts: &[ApplyConflict]) -> String {
    if conflicts.len() == 1 {
        let c = &conflicts[0];
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.described, c.field
        );
    }
    // Conflicts arrive grouped by manager identifier, in sorted order.
    let mut lines: Vec<String> = Vec::new();
    let mut current: Option<&str> = None;
    for c in conflicts {
        if current != Some(c.described.as_str()) {
            lines.push(format!("conflicts with {}:", c.described));
            current = Some(c.described.as_str());
        }
        lines.push(format!("- {}", c.field));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// The message of the 415 answer to a strategic merge patch of a custom resource.
pub const SMP_UNSUPPORTED_FOR_CRDS: &str = "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

/// JSON merge patch (RFC 7386).
pub fn json_merge_patch(target: &Value, patch: &Value) -> Value {
    let mut out = target.clone();
    json_patch::merge(&mut out, patch);
    out
}

/// JSON patch (RFC 6902). A patch that is not a list of operations is a 400, an operation that
/// fails (missing path, failed `test`) a 422, as on the real server.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let p: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| PatchError::BadRequest(e.to_string()))?;
    let mut out = target.clone();
    json_patch::patch(&mut out, &p).map_err(|e| PatchError::Invalid(e.to_string()))?;
    Ok(out)
}

/// Strategic merge patch of a built-in kind. Custom resources (schemas from
/// [`MergeSchema::from_openapi`]) get [`PatchError::UnsupportedMediaType`].
pub fn strategic_merge_patch(
    target: &Value,
    patch: &Value,
    schema: &MergeSchema,
) -> Result<Value, PatchError> {
    if schema.custom {
        return Err(PatchError::UnsupportedMediaType(
            SMP_UNSUPPORTED_FOR_CRDS.into(),
        ));
    }
    smp::strategic_merge_patch(target, patch, &schema.root)
}

/// Server-side apply. `live` is the stored object (None = create). Returns the new object with
/// `metadata.managedFields` updated.
///
/// Errors as the real server: a body with `metadata.managedFields` (400), of another
/// `apiVersion`/`kind` than the schema's (see [`MergeSchema::with_gvk`]) or the live object's
/// (400 `invalid object type`), another `metadata.name` than the live object's (400), an empty
/// manager (422), conflicts without `force` (409).
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    schema: &MergeSchema,
    now: &str,
    subresource: Option<&str>,
) -> Result<Value, PatchError> {
    ssa::apply(live, applied, manager, force, schema, now, subresource)
}

/// Checks an apply body against the request URL (apiVersion, kind, name, namespace), with the
/// real server's messages. Call it before [`apply`] when creating.
pub fn check_apply_target(
    applied: &Value,
    api_version: &str,
    kind: &str,
    name: &str,
    namespace: Option<&str>,
) -> Result<(), PatchError> {
    let av = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let k = applied.get("kind").and_then(Value::as_str).unwrap_or("");
    if av != api_version || k != kind {
        let (g, v) = av.rsplit_once('/').unwrap_or(("", av));
        return Err(PatchError::BadRequest(format!(
            "invalid object type: {g}/{v}, Kind={k}"
        )));
    }
    let n = applied
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    // An apply that leaves the name out keeps the live object's (upstream merges the applied
    // configuration into the live object before it compares names); creating needs it.
    if !n.is_empty() && n != name {
        return Err(PatchError::BadRequest(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    if let (Some(ns), Some(url_ns)) = (
        applied
            .pointer("/metadata/namespace")
            .and_then(Value::as_str),
        namespace,
    ) && !ns.is_empty()
        && ns != url_ns
    {
        return Err(PatchError::BadRequest(format!(
            "the namespace of the object ({ns}) does not match the namespace on the URL ({url_ns})"
        )));
    }
    Ok(())
}

/// For create/update/patch (non-apply) writes: returns `new` with managedFields updated for
/// `manager` (operation Update).
///
/// As on the real server: managedFields given in `new` replace the stored ones (`[]` or `[{}]`
/// resets them), except on subresources; an existing object without managedFields stays
/// untracked; the manager takes the fields it added or changed, other managers lose them, and
/// removed fields are taken from everyone.
pub fn track_update(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    schema: &MergeSchema,
    now: &str,
    subresource: Option<&str>,
) -> Value {
    ssa::track_update(old, new, manager, schema, now, subresource)
}

/// Field manager name the real server derives from a User-Agent when fieldManager is not given:
/// the part before the first `/`, without unprintable characters, at most 128 bytes.
pub fn default_manager(user_agent: Option<&str>) -> String {
    ssa::default_manager(user_agent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: &str = "2024-05-01T10:00:00Z";
    const T1: &str = "2024-05-01T10:01:00Z";
    const T2: &str = "2024-05-01T10:02:00Z";

    #[test]
    fn merge_schema_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<MergeSchema>();
    }

    fn secret_schema() -> MergeSchema {
        MergeSchema::builtin("v1", "Secret")
    }

    fn secret(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "s", "namespace": "ns"}, "data": data})
    }

    fn stored(mut v: Value) -> Value {
        v["metadata"]["uid"] = json!("0000-1111");
        v["metadata"]["resourceVersion"] = json!("1");
        v
    }

    fn entry<'a>(obj: &'a Value, manager: &str, op: &str) -> Option<&'a Value> {
        obj["metadata"]["managedFields"]
            .as_array()?
            .iter()
            .find(|e| e["manager"] == manager && e["operation"] == op)
    }

    fn apply_secret(
        live: Option<&Value>,
        data: Value,
        mgr: &str,
        force: bool,
        now: &str,
    ) -> Result<Value, PatchError> {
        apply(live, &secret(data), mgr, force, &secret_schema(), now, None).map(stored)
    }

    #[test]
    fn apply_creates_and_records_fields_v1() {
        let obj = apply_secret(None, json!({"a": "MQ==", "b": "Mg=="}), "A", false, T0).unwrap();
        assert_eq!(obj["data"], json!({"a": "MQ==", "b": "Mg=="}));
        let e = entry(&obj, "A", "Apply").unwrap();
        // apiVersion/kind/metadata.name/namespace are stripped (stripmeta.go).
        assert_eq!(
            e,
            &json!({"manager": "A", "operation": "Apply", "apiVersion": "v1", "time": T0,
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}, "f:b": {}}}})
        );
    }

    #[test]
    fn reapply_without_a_key_removes_it() {
        let o1 = apply_secret(None, json!({"a": "MQ==", "b": "Mg=="}), "A", false, T0).unwrap();
        let o2 = apply_secret(Some(&o1), json!({"a": "MQ=="}), "A", false, T1).unwrap();
        assert_eq!(o2["data"], json!({"a": "MQ=="}));
        assert_eq!(
            o2["metadata"]["uid"], "0000-1111",
            "unowned fields survive pruning"
        );
        assert_eq!(
            entry(&o2, "A", "Apply").unwrap()["fieldsV1"],
            json!({"f:data": {"f:a": {}}})
        );
        assert_eq!(entry(&o2, "A", "Apply").unwrap()["time"], T1);
    }

    #[test]
    fn key_also_owned_by_an_updater_is_kept_when_applier_drops_it() {
        let o1 = apply_secret(None, json!({"a": "MQ==", "b": "Mg=="}), "A", false, T0).unwrap();
        // B updates b to the same value: nothing changes, so B takes nothing (no entry)...
        let same = track_update(Some(&o1), &o1, "B", &secret_schema(), T1, None);
        assert!(entry(&same, "B", "Update").is_none());
        // ...but changing b makes B its owner (and A loses it).
        let mut new = o1.clone();
        new["data"]["b"] = json!("Mw==");
        let o2 = track_update(Some(&o1), &new, "B", &secret_schema(), T1, None);
        let b = entry(&o2, "B", "Update").unwrap();
        assert_eq!(b["fieldsV1"], json!({"f:data": {"f:b": {}}}));
        assert_eq!(b["apiVersion"], "v1");
        assert_eq!(b["time"], T1);
        assert_eq!(
            entry(&o2, "A", "Apply").unwrap()["fieldsV1"],
            json!({"f:data": {"f:a": {}}})
        );
        let o3 = apply_secret(Some(&stored(o2)), json!({"a": "MQ=="}), "A", false, T2).unwrap();
        assert_eq!(o3["data"], json!({"a": "MQ==", "b": "Mw=="}));
    }

    #[test]
    fn shared_ownership_releases_without_removing() {
        let o1 = apply_secret(None, json!({"a": "MQ==", "b": "Mg=="}), "A", false, T0).unwrap();
        let o2 = apply_secret(Some(&o1), json!({"b": "Mg=="}), "B", false, T1).unwrap();
        assert_eq!(
            entry(&o2, "B", "Apply").unwrap()["fieldsV1"],
            json!({"f:data": {"f:b": {}}})
        );
        // No value changed: B's entry has no time (managedfieldsupdater.go sets it on change only).
        assert!(entry(&o2, "B", "Apply").unwrap().get("time").is_none());
        let o3 = apply_secret(Some(&o2), json!({"a": "MQ=="}), "A", false, T2).unwrap();
        assert_eq!(
            o3["data"],
            json!({"a": "MQ==", "b": "Mg=="}),
            "b still owned by B"
        );
        assert_eq!(
            entry(&o3, "A", "Apply").unwrap()["fieldsV1"],
            json!({"f:data": {"f:a": {}}})
        );
    }

    #[test]
    fn conflicting_apply_lists_the_owner_and_force_moves_ownership() {
        let o1 = apply_secret(None, json!({"x": "MQ=="}), "A", false, T0).unwrap();
        let err = apply_secret(Some(&o1), json!({"x": "Mg=="}), "B", false, T1).unwrap_err();
        let PatchError::Conflict { conflicts } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(conflicts, &vec![ApplyConflict::new("A", ".data.x")]);
        assert_eq!(conflicts[0].message(), "conflict with \"A\"");
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"A\": .data.x"
        );
        assert_eq!((err.code(), err.reason()), (409, "Conflict"));

        let o2 = apply_secret(Some(&o1), json!({"x": "Mg=="}), "B", true, T1).unwrap();
        assert_eq!(o2["data"]["x"], "Mg==");
        assert_eq!(
            entry(&o2, "B", "Apply").unwrap()["fieldsV1"],
            json!({"f:data": {"f:x": {}}})
        );
        assert!(
            entry(&o2, "A", "Apply").is_none(),
            "A lost its only field, its entry is gone"
        );
    }

    #[test]
    fn conflict_with_an_updater_names_its_api_version() {
        // The real message: `conflict with "kubectl" using v1: .data.foo`.
        let created = secret(json!({"foo": "MQ==", "bar": "MQ=="}));
        let o1 = stored(track_update(
            None,
            &created,
            "kubectl",
            &secret_schema(),
            T0,
            None,
        ));
        assert_eq!(
            entry(&o1, "kubectl", "Update").unwrap()["fieldsV1"],
            json!({"f:data": {".": {}, "f:bar": {}, "f:foo": {}}})
        );
        let err = apply_secret(
            Some(&o1),
            json!({"foo": "Mg==", "bar": "Mg=="}),
            "stagesync",
            false,
            T1,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 2 conflicts: conflicts with \"kubectl\" using v1:\n- .data.bar\n- .data.foo"
        );
        let PatchError::Conflict { conflicts } = err else {
            unreachable!()
        };
        assert_eq!(conflicts[0].message(), "conflict with \"kubectl\" using v1");
        assert_eq!(conflicts[0].manager, "kubectl");
    }

    #[test]
    fn apply_on_an_object_without_managed_fields_assigns_before_first_apply() {
        let live = stored(secret(json!({"a": "MQ=="})));
        let err = apply_secret(Some(&live), json!({"a": "Mg=="}), "A", false, T1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"before-first-apply\" using v1: .data.a"
        );
    }

    #[test]
    fn update_of_an_untracked_object_stays_untracked_but_create_is_tracked() {
        let live = stored(secret(json!({"a": "MQ=="})));
        let mut new = live.clone();
        new["data"]["a"] = json!("Mg==");
        let out = track_update(Some(&live), &new, "kubectl", &secret_schema(), T1, None);
        assert!(out["metadata"].get("managedFields").is_none());
        let created = track_update(
            None,
            &secret(json!({})),
            "kubectl",
            &secret_schema(),
            T1,
            None,
        );
        assert_eq!(
            entry(&created, "kubectl", "Update").unwrap()["fieldsV1"],
            json!({"f:data": {}})
        );
    }

    #[test]
    fn managed_fields_reset_with_empty_entry() {
        let o1 = apply_secret(None, json!({"a": "MQ=="}), "A", false, T0).unwrap();
        let mut new = o1.clone();
        new["metadata"]["managedFields"] = json!([{}]);
        let out = track_update(Some(&o1), &new, "B", &secret_schema(), T1, None);
        assert!(out["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn subresource_writes_ignore_managed_fields_in_the_body() {
        let s = MergeSchema::builtin("v1", "Pod");
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}});
        let o1 = stored(track_update(None, &pod, "kubectl", &s, T0, None));
        let mut new = o1.clone();
        new["status"] = json!({"phase": "Running"});
        new["metadata"]["managedFields"] = json!([{}]);
        let o2 = track_update(Some(&o1), &new, "kubelet", &s, T1, Some("status"));
        let kubelet = o2["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["manager"] == "kubelet")
            .unwrap();
        assert_eq!(kubelet["subresource"], "status");
        assert_eq!(kubelet["fieldsV1"], json!({"f:status": {"f:phase": {}}}));
        assert!(
            entry(&o2, "kubectl", "Update").is_some(),
            "the reset in the body was ignored"
        );
    }

    #[test]
    fn managed_fields_in_apply_body_are_rejected() {
        let mut body = secret(json!({}));
        body["metadata"]["managedFields"] = json!([]);
        let err = apply(None, &body, "A", false, &secret_schema(), T0, None).unwrap_err();
        assert_eq!(
            (err.code(), err.to_string().as_str()),
            (400, "metadata.managedFields must be nil")
        );
    }

    #[test]
    fn apply_body_of_another_type_or_name_is_rejected() {
        let o1 = apply_secret(None, json!({}), "A", false, T0).unwrap();
        let mut body = secret(json!({}));
        body["kind"] = json!("ConfigMap");
        let err = apply(Some(&o1), &body, "A", false, &secret_schema(), T1, None).unwrap_err();
        assert_eq!(err.to_string(), "invalid object type: /v1, Kind=ConfigMap");
        let mut body = secret(json!({}));
        body["metadata"]["name"] = json!("other");
        let err = apply(Some(&o1), &body, "A", false, &secret_schema(), T1, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the name of the object (other) does not match the name on the URL (s)"
        );
        assert!(check_apply_target(&secret(json!({})), "v1", "Secret", "s", Some("ns")).is_ok());
        let err =
            check_apply_target(&secret(json!({})), "v1", "Secret", "t", Some("ns")).unwrap_err();
        assert_eq!(err.code(), 400);
    }

    #[test]
    fn labels_annotations_owner_references_and_finalizers() {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"app": "x"},
                "ownerReferences": [{"apiVersion": "stagesync.io/v1alpha1", "kind": "ExternalSecret", "name": "e", "uid": "u-1"}],
                "finalizers": ["stagesync.io/cleanup"]},
            "data": {"k": "v"}});
        let s = MergeSchema::builtin("v1", "ConfigMap");
        let o = apply(None, &body, "op", false, &s, T0, None).unwrap();
        assert_eq!(
            entry(&o, "op", "Apply").unwrap()["fieldsV1"],
            json!({
                "f:data": {"f:k": {}},
                "f:metadata": {
                    "f:finalizers": {"v:\"stagesync.io/cleanup\"": {}},
                    "f:labels": {"f:app": {}},
                    "f:ownerReferences": {"k:{\"uid\":\"u-1\"}": {}}
                }
            })
        );
    }

    #[test]
    fn containers_are_associative_by_name_and_removed_items_pruned() {
        let s = MergeSchema::builtin("apps/v1", "Deployment");
        let dep = |containers: Value| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"app": "d"}},
                     "template": {"spec": {"containers": containers}}}})
        };
        let o1 = stored(
            apply(
                None,
                &dep(json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}])),
                "A",
                false,
                &s,
                T0,
                None,
            )
            .unwrap(),
        );
        let fields = &entry(&o1, "A", "Apply").unwrap()["fieldsV1"];
        assert_eq!(
            fields["f:spec"]["f:selector"],
            json!({}),
            "LabelSelector is atomic"
        );
        assert_eq!(
            fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"a\"}"],
            json!({".": {}, "f:image": {}, "f:name": {}})
        );
        // Another manager sets a field of container a: B owns only that field.
        let mut new = o1.clone();
        new["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
        let o2 = stored(track_update(Some(&o1), &new, "B", &s, T1, None));
        assert_eq!(
            entry(&o2, "B", "Update").unwrap()["fieldsV1"],
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {"f:imagePullPolicy": {}}}}}}})
        );
        // A drops container b: it goes away; container a keeps B's field.
        let o3 = apply(
            Some(&o2),
            &dep(json!([{"name": "a", "image": "a:2"}])),
            "A",
            false,
            &s,
            T2,
            None,
        )
        .unwrap();
        assert_eq!(
            o3["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "image": "a:2", "imagePullPolicy": "Always"}])
        );
    }

    #[test]
    fn ports_are_keyed_by_container_port_and_defaulted_protocol() {
        let s = MergeSchema::builtin("v1", "Pod");
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80}]}]}});
        let o = apply(None, &pod, "A", false, &s, T0, None).unwrap();
        let c = &entry(&o, "A", "Apply").unwrap()["fieldsV1"]["f:spec"]["f:containers"]["k:{\"name\":\"a\"}"];
        assert_eq!(
            c["f:ports"],
            json!({"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}})
        );
    }

    #[test]
    fn duplicate_keys_in_an_applied_list_are_rejected() {
        let s = MergeSchema::builtin("v1", "Pod");
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}, {"name": "a"}]}});
        let err = apply(None, &pod, "A", false, &s, T0, None).unwrap_err();
        assert_eq!(err.code(), 500);
        assert!(
            err.to_string()
                .ends_with(".spec.containers: duplicate entries for key [name=\"a\"]"),
            "{err}"
        );
    }

    #[test]
    fn status_is_not_owned_through_the_main_resource() {
        let crd = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"x": {"type": "string"}}},
            "status": {"type": "object", "properties": {"y": {"type": "string"}}}}});
        let s = MergeSchema::from_openapi(&crd).with_status_subresource(true);
        let body = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "k"},
                          "spec": {"x": "1"}, "status": {"y": "2"}});
        let o = apply(None, &body, "A", false, &s, T0, None).unwrap();
        assert_eq!(
            entry(&o, "A", "Apply").unwrap()["fieldsV1"],
            json!({"f:spec": {"f:x": {}}})
        );
        let st = apply(Some(&o), &json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "k"}, "status": {"y": "3"}}), "ctl", false, &s, T1, Some("status")).unwrap();
        let e = st["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["manager"] == "ctl")
            .unwrap();
        assert_eq!(e["subresource"], "status");
        assert_eq!(e["fieldsV1"], json!({"f:status": {"f:y": {}}}));
    }

    #[test]
    fn crd_list_types_from_openapi() {
        let crd = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "data": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["secretKey"],
                     "items": {"type": "object", "properties": {"secretKey": {"type": "string"}, "remoteRef": {"type": "object", "properties": {"key": {"type": "string"}}}}}},
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "args": {"type": "array", "items": {"type": "string"}},
            "sel": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {"a": {"type": "string"}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}
        }}}});
        let s = MergeSchema::from_openapi(&crd);
        let body = json!({"apiVersion": "stagesync.io/v1alpha1", "kind": "ExternalSecret", "metadata": {"name": "e"},
            "spec": {"data": [{"secretKey": "k", "remoteRef": {"key": "r"}}], "tags": ["t"], "args": ["a"],
                     "sel": {"a": "b"}, "labels": {"x": "y"}}});
        let o = apply(None, &body, "A", false, &s, T0, None).unwrap();
        assert_eq!(
            entry(&o, "A", "Apply").unwrap()["fieldsV1"],
            json!({"f:spec": {
                "f:args": {}, "f:labels": {"f:x": {}}, "f:sel": {}, "f:tags": {"v:\"t\"": {}},
                "f:data": {"k:{\"secretKey\":\"k\"}": {".": {}, "f:remoteRef": {"f:key": {}}, "f:secretKey": {}}}
            }})
        );
        // Removing one set item through apply prunes it; atomic lists are replaced.
        let mut body2 = body.clone();
        body2["spec"]["tags"] = json!(["u"]);
        body2["spec"]["args"] = json!(["b"]);
        let o2 = apply(Some(&o), &body2, "A", false, &s, T1, None).unwrap();
        assert_eq!(o2["spec"]["tags"], json!(["u"]));
        assert_eq!(o2["spec"]["args"], json!(["b"]));
    }

    fn list_crd() -> MergeSchema {
        // The `associativeListParser` type of structured-merge-diff's merge tests, as a CRD.
        MergeSchema::from_openapi(&json!({"type": "object", "properties": {"list": {
            "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "value": {"type": "integer"}}}
        }}}))
    }

    fn list_obj(list: Value) -> Value {
        json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "k"}, "list": list})
    }

    #[test]
    fn smd_multiple_appliers_remove_one_keep_one() {
        // merge/multiple_appliers_test.go "remove_one_keep_one".
        let s = list_crd();
        let o1 = apply(
            None,
            &list_obj(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}])),
            "apply-one",
            false,
            &s,
            T0,
            None,
        )
        .unwrap();
        let o2 = apply(
            Some(&o1),
            &list_obj(json!([{"name": "c"}, {"name": "d"}])),
            "apply-two",
            false,
            &s,
            T1,
            None,
        )
        .unwrap();
        assert_eq!(
            o2["list"],
            json!([{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}])
        );
        let o3 = apply(
            Some(&o2),
            &list_obj(json!([{"name": "a"}])),
            "apply-one",
            false,
            &s,
            T2,
            None,
        )
        .unwrap();
        assert_eq!(
            o3["list"],
            json!([{"name": "a"}, {"name": "c"}, {"name": "d"}])
        );
        assert_eq!(
            entry(&o3, "apply-one", "Apply").unwrap()["fieldsV1"],
            json!({"f:list": {"k:{\"name\":\"a\"}": {".": {}, "f:name": {}}}})
        );
        assert_eq!(
            entry(&o3, "apply-two", "Apply").unwrap()["fieldsV1"],
            json!({"f:list": {"k:{\"name\":\"c\"}": {".": {}, "f:name": {}}, "k:{\"name\":\"d\"}": {".": {}, "f:name": {}}}})
        );
    }

    #[test]
    fn smd_multiple_appliers_same_value_and_changed_value() {
        // merge/multiple_appliers_test.go "same_value_no_conflict" / "change_value_yes_conflict".
        let s = list_crd();
        let o1 = apply(
            None,
            &list_obj(json!([{"name": "a", "value": 0}])),
            "apply-one",
            false,
            &s,
            T0,
            None,
        )
        .unwrap();
        let o2 = apply(
            Some(&o1),
            &list_obj(json!([{"name": "a", "value": 0}])),
            "apply-two",
            false,
            &s,
            T1,
            None,
        )
        .unwrap();
        assert_eq!(
            entry(&o2, "apply-one", "Apply").unwrap()["fieldsV1"],
            entry(&o2, "apply-two", "Apply").unwrap()["fieldsV1"]
        );
        let err = apply(
            Some(&o1),
            &list_obj(json!([{"name": "a", "value": 1}])),
            "apply-two",
            false,
            &s,
            T1,
            None,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"apply-one\": .list[name=\"a\"].value"
        );
    }

    #[test]
    fn labels_added_by_another_manager_survive_the_appliers_removal_of_its_own() {
        let s = secret_schema();
        let mut body = secret(json!({"a": "MQ=="}));
        body["metadata"]["labels"] = json!({"app": "x"});
        let o1 = stored(apply(None, &body, "A", false, &s, T0, None).unwrap());
        // `kubectl label secret s team=y` is an update by "kubectl-label".
        let mut labelled = o1.clone();
        labelled["metadata"]["labels"]["team"] = json!("y");
        let o2 = stored(track_update(
            Some(&o1),
            &labelled,
            "kubectl-label",
            &s,
            T1,
            None,
        ));
        let o3 = apply(
            Some(&o2),
            &secret(json!({"a": "MQ=="})),
            "A",
            false,
            &s,
            T2,
            None,
        )
        .unwrap();
        assert_eq!(o3["metadata"]["labels"], json!({"team": "y"}));
        assert_eq!(o3["metadata"]["uid"], "0000-1111");
    }

    #[test]
    fn apply_status_through_the_status_subresource_keeps_spec_owners() {
        let crd = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"x": {"type": "string"}}},
            "status": {"type": "object", "properties": {
                "conditions": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                               "items": {"type": "object", "properties": {"type": {"type": "string"}, "status": {"type": "string"}}}}}}}});
        let s = MergeSchema::from_openapi(&crd).with_status_subresource(true);
        let o1 = apply(None, &json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "k"}, "spec": {"x": "1"}}), "user", false, &s, T0, None).unwrap();
        let status = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "k"},
                            "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let o2 = apply(
            Some(&o1),
            &status,
            "controller",
            true,
            &s,
            T1,
            Some("status"),
        )
        .unwrap();
        assert_eq!(o2["spec"], json!({"x": "1"}));
        assert_eq!(o2["status"]["conditions"][0]["status"], "True");
        let user = entry(&o2, "user", "Apply").unwrap();
        assert_eq!(user["fieldsV1"], json!({"f:spec": {"f:x": {}}}));
        // Re-applying without the condition removes it.
        let o3 = apply(Some(&o2), &json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "k"}, "status": {"conditions": []}}), "controller", false, &s, T2, Some("status")).unwrap();
        // The applier no longer owns anything under `status` (a named field, so it is pruned as a
        // whole when nobody else owns a part of it).
        assert!(o3.get("status").is_none(), "{o3}");
    }

    #[test]
    fn updater_entries_are_capped_at_ten() {
        let s = MergeSchema::builtin("v1", "ConfigMap");
        let mut obj = stored(track_update(
            None,
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}),
            "m0",
            &s,
            T0,
            None,
        ));
        for i in 1..=11 {
            let mut new = obj.clone();
            new["data"][format!("k{i}")] = json!("v");
            let now = format!("2024-05-01T10:{i:02}:00Z");
            obj = stored(track_update(
                Some(&obj),
                &new,
                &format!("m{i}"),
                &s,
                &now,
                None,
            ));
        }
        let entries = obj["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries.len(), 10);
        let ancient = entries
            .iter()
            .find(|e| e["manager"] == "ancient-changes")
            .unwrap();
        assert_eq!(ancient["fieldsV1"]["f:data"]["f:k1"], json!({}));
        assert_eq!(ancient["fieldsV1"]["f:data"]["f:k2"], json!({}));
    }

    #[test]
    fn entries_are_sorted_apply_first_then_by_time() {
        let o1 = apply_secret(None, json!({"a": "MQ=="}), "Z", false, T0).unwrap();
        let mut new = o1.clone();
        new["data"]["b"] = json!("Mg==");
        let o2 = stored(track_update(
            Some(&o1),
            &new,
            "B",
            &secret_schema(),
            T1,
            None,
        ));
        let o3 = apply_secret(Some(&o2), json!({"c": "Mw=="}), "A", false, T2).unwrap();
        let order: Vec<(&str, &str)> = o3["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["manager"].as_str().unwrap(),
                    e["operation"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(order, vec![("Z", "Apply"), ("A", "Apply"), ("B", "Update")]);
    }

    #[test]
    fn default_manager_is_the_user_agent_prefix() {
        assert_eq!(
            default_manager(Some("kubectl/v1.30.0 (linux/amd64) kubernetes/abc")),
            "kubectl"
        );
        assert_eq!(default_manager(Some("kube-rs/0.99")), "kube-rs");
        assert_eq!(default_manager(None), "");
        assert_eq!(default_manager(Some(&"x".repeat(200))).len(), 128);
    }

    #[test]
    fn json_patch_and_merge_patch() {
        let t = json!({"a": 1, "b": {"c": 2}});
        assert_eq!(
            json_merge_patch(&t, &json!({"b": {"c": null, "d": 3}})),
            json!({"a": 1, "b": {"d": 3}})
        );
        let out = json_patch(&t, &json!([{"op": "replace", "path": "/a", "value": 5}])).unwrap();
        assert_eq!(out["a"], 5);
        let err = json_patch(&t, &json!([{"op": "test", "path": "/a", "value": 9}])).unwrap_err();
        assert_eq!(err.code(), 422);
        let err = json_patch(&t, &json!({"op": "add"})).unwrap_err();
        assert_eq!(err.code(), 400);
    }
}
