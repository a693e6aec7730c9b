//! The verbs (create, get, list, update, patch, delete, deletecollection) with the real
//! API server's semantics, independent of HTTP: preconditions, server-set metadata,
//! status subresource rules, generation, managedFields, finalizers, dryRun, and the
//! optimistic-concurrency retry loop around the store.

use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult, Cause};
use crate::merge::{self, PatchError};
use crate::registry::{GenerationPolicy, Registry, ResourceType};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Expect, ObjKey, Store, WriteError, object_rv};
use crate::typed::{self, FieldValidation};
use crate::{crd, validation};

/// RFC 3339 timestamp with second precision, as metav1.Time serializes.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Options common to every write verb.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub user_agent: Option<String>,
    /// Server-side apply `force`.
    pub force: bool,
    /// `fieldValidation` for unknown fields.
    pub field_validation: FieldValidation,
    /// Warnings for the response's `Warning` headers.
    pub warnings: Arc<Mutex<Vec<String>>>,
}

impl WriteOpts {
    /// The same options as a dry run with its own warnings (to compute what a write would
    /// store before checking it).
    pub fn preview(&self) -> WriteOpts {
        WriteOpts {
            dry_run: true,
            warnings: Default::default(),
            ..self.clone()
        }
    }

    fn warn(&self, w: Vec<String>) {
        if let Ok(mut ws) = self.warnings.lock() {
            ws.extend(w);
        }
    }

    fn manager(&self) -> String {
        self.field_manager
            .clone()
            .unwrap_or_else(|| merge::default_manager(self.user_agent.as_deref()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let ct = ct.split(';').next().unwrap_or_default().trim();
        match ct {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

/// DeleteOptions (body and query merged).
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub propagation: Option<Propagation>,
    /// Deprecated `orphanDependents`.
    pub orphan_dependents: Option<bool>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub grace_period_seconds: Option<i64>,
}

impl DeleteOpts {
    pub fn from_value(v: &Value) -> ApiResult<Self> {
        let propagation = match v["propagationPolicy"].as_str() {
            None => None,
            Some(p) => Some(parse_propagation(p)?),
        };
        Ok(Self {
            propagation,
            orphan_dependents: v["orphanDependents"].as_bool(),
            precondition_uid: v["preconditions"]["uid"].as_str().map(String::from),
            precondition_rv: v["preconditions"]["resourceVersion"]
                .as_str()
                .map(String::from),
            grace_period_seconds: v["gracePeriodSeconds"].as_i64(),
        })
    }
}

pub fn parse_propagation(p: &str) -> ApiResult<Propagation> {
    match p {
        "Background" => Ok(Propagation::Background),
        "Foreground" => Ok(Propagation::Foreground),
        "Orphan" => Ok(Propagation::Orphan),
        other => Err(ApiError::invalid(
            "",
            "DeleteOptions",
            "",
            vec![Cause::new(
                "FieldValueNotSupported",
                "propagationPolicy",
                format!(
                    "Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                ),
            )],
        )),
    }
}

/// List parameters.
#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

/// A page of a list: items already in the requested version.
pub struct ListPage {
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
    pub items: Vec<Arc<Value>>,
}

/// The fake cluster: store + registry + the verbs.
pub struct Cluster {
    pub store: Store,
    pub registry: Registry,
}

fn meta(obj: &Value) -> &Value {
    &obj["metadata"]
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    obj["metadata"].as_object_mut().expect("metadata object")
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn set_finalizers(obj: &mut Value, fins: &[String]) {
    let m = meta_mut(obj);
    if fins.is_empty() {
        m.remove("finalizers");
    } else {
        m.insert("finalizers".into(), json!(fins));
    }
}

fn is_deleting(obj: &Value) -> bool {
    meta(obj)["deletionTimestamp"].is_string()
}

fn random_suffix() -> String {
    // Upstream's generateName alphabet (no vowels, no confusable digits).
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let u = uuid::Uuid::new_v4();
    u.as_bytes()[..5]
        .iter()
        .map(|b| ALPHA[*b as usize % ALPHA.len()] as char)
        .collect()
}

/// Compare two objects ignoring managedFields timestamps and resourceVersion
/// (upstream skips such no-op writes: no new resourceVersion, no watch event).
fn same_object(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
                for e in mf {
                    if let Some(e) = e.as_object_mut() {
                        e.remove("time");
                    }
                }
            }
        }
        v
    }
    strip(a) == strip(b)
}

/// Server-owned metadata a write cannot change: taken from the stored object (and removed when
/// the stored object has none), with its resourceVersion.
fn carry_system_metadata(cur: &Value, new: &mut Value) {
    let cm = &cur["metadata"];
    let m = meta_mut(new);
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match cm.get(k) {
            Some(v) => {
                m.insert(k.into(), v.clone());
            }
            None => {
                m.remove(k);
            }
        }
    }
    m.insert("resourceVersion".into(), cm["resourceVersion"].clone());
}

fn patch_error(rt: &ResourceType, e: PatchError) -> ApiError {
    match e {
        PatchError::UnsupportedMediaType(_) => {
            ApiError::unsupported_media_type(&accepted_patch_types(rt))
        }
        PatchError::Conflict { ref conflicts } => {
            let mut err = ApiError::new(409, "Conflict", e.to_string());
            err.details = Some(json!({
                "causes": conflicts
                    .iter()
                    .map(|c| json!({"reason": "FieldManagerConflict", "message": c.message(), "field": c.field}))
                    .collect::<Vec<_>>(),
            }));
            err
        }
        PatchError::Internal(m) => ApiError::internal(m),
        other => ApiError::new(other.code(), other.reason(), other.to_string()),
    }
}

pub fn accepted_patch_types(rt: &ResourceType) -> Vec<&'static str> {
    let mut v = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ];
    if rt.strategic() {
        v.insert(2, "application/strategic-merge-patch+json");
    }
    v
}

impl Cluster {
    pub fn new(history_limit: usize) -> Self {
        Self {
            store: Store::new(history_limit),
            registry: Registry::with_builtins(),
        }
    }

    fn key(rt: &ResourceType, ns: Option<&str>, name: &str) -> ObjKey {
        let ns = if rt.namespaced {
            ns.unwrap_or_default()
        } else {
            ""
        };
        (ns.to_string(), name.to_string())
    }

    /// The stored object (internal form) or 404.
    pub fn get_raw(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
    ) -> ApiResult<Arc<Value>> {
        self.store
            .get(&rt.storage, &Self::key(rt, ns, name))
            .ok_or_else(|| ApiError::not_found(&rt.gr(), name))
    }

    /// The object as served at `rt`'s version.
    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        let obj = self.get_raw(rt, ns, name)?;
        Ok(to_external(rt, &obj))
    }

    /// 404 for a missing namespace, 403 for one being deleted (creates only).
    fn check_namespace(&self, rt: &ResourceType, ns: &str, creating: bool) -> ApiResult<()> {
        if !rt.namespaced {
            return Ok(());
        }
        let ns_obj = self
            .store
            .get("namespaces", &(String::new(), ns.to_string()))
            .ok_or_else(|| {
                ApiError::not_found(&crate::error::GroupResource::new("", "namespaces"), ns)
            })?;
        if creating && is_deleting(&ns_obj) {
            let mut e = ApiError::forbidden(
                &rt.gr(),
                "",
                &format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            );
            e.details = Some(json!({
                "name": "", "kind": rt.plural, "group": rt.group,
                "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]
            }));
            return Err(e);
        }
        Ok(())
    }

    /// Built-ins: typed decoding (400 on type errors, unknown fields dropped and reported
    /// per fieldValidation). `obj` is in the served version's form.
    fn decode_typed(rt: &ResourceType, obj: Value, o: &WriteOpts) -> ApiResult<Value> {
        validation::precheck(rt, &obj)?;
        let (obj, warnings) = typed::decode_builtin(rt, obj, o.field_validation)?;
        o.warn(warnings);
        Ok(obj)
    }

    /// Check kind/apiVersion of a request body against the resource.
    fn check_type(rt: &ResourceType, body: &Value) -> ApiResult<()> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
            ));
        }
        match body["kind"].as_str() {
            None | Some("") => {
                return Err(ApiError::bad_request(format!(
                    "Object 'Kind' is missing in '{}'",
                    body
                )));
            }
            Some(k) if k != rt.kind => {
                return Err(ApiError::bad_request(format!(
                    "{} in version \"{}\" cannot be handled as a {}: no kind \"{k}\" is registered for version \"{}\"",
                    rt.kind,
                    rt.version,
                    rt.kind,
                    rt.api_version()
                )));
            }
            _ => {}
        }
        match body["apiVersion"].as_str() {
            Some(v) if v == rt.api_version() => Ok(()),
            Some(v) => Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({})",
                rt.api_version()
            ))),
            None => Err(ApiError::bad_request(format!(
                "Object 'apiVersion' is missing in '{}'",
                body
            ))),
        }
    }

    /// Set namespace from the URL (400 on mismatch) or drop it for cluster scope.
    fn fix_namespace(rt: &ResourceType, ns: Option<&str>, obj: &mut Value) -> ApiResult<()> {
        let m = meta_mut(obj);
        if rt.namespaced {
            let url_ns = ns.unwrap_or_default();
            match m.get("namespace").and_then(Value::as_str) {
                Some(n) if !n.is_empty() && n != url_ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    m.insert("namespace".into(), json!(url_ns));
                }
            }
        } else {
            m.remove("namespace");
        }
        Ok(())
    }

    /// Status subresource rules, and the generation of a create (updates: `set_generation`
    /// after admission): `old` is the live object (None on create), `sub` the subresource
    /// written through.
    fn apply_strategy(rt: &ResourceType, old: Option<&Value>, new: &mut Value, sub: Option<&str>) {
        let obj = new.as_object_mut().expect("object");
        match (old, sub) {
            (None, _) => {
                if rt.status {
                    if rt.is_custom() {
                        obj.remove("status");
                    } else {
                        match rt.kind.as_str() {
                            "Namespace" => {
                                obj.insert("status".into(), json!({"phase": "Active"}));
                                // Upstream's PrepareForCreate: the namespace controller's
                                // finalizer, always.
                                obj.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
                            }
                            "Pod" => {
                                obj.insert(
                                    "status".into(),
                                    json!({"phase": "Pending", "qosClass": "BestEffort"}),
                                );
                            }
                            "CustomResourceDefinition" => {}
                            _ => {
                                obj.insert("status".into(), json!({}));
                            }
                        }
                    }
                }
                if rt.generation != GenerationPolicy::None {
                    meta_mut(new).insert("generation".into(), json!(1));
                }
            }
            (Some(old), Some("status")) => {
                // Only status (and managedFields) may change through /status.
                let status = obj.remove("status");
                let mf = new["metadata"]["managedFields"].clone();
                let mut out = old.clone();
                match status {
                    Some(s) => {
                        out["status"] = s;
                    }
                    None => {
                        out.as_object_mut().expect("object").remove("status");
                    }
                }
                if !mf.is_null() {
                    out["metadata"]["managedFields"] = mf;
                }
                *new = out;
            }
            (Some(old), _) => {
                if rt.status {
                    match old.get("status") {
                        Some(s) => {
                            obj.insert("status".into(), s.clone());
                        }
                        None => {
                            obj.remove("status");
                        }
                    }
                }
            }
        }
    }

    /// `metadata.generation` of an update, once `new` is defaulted (upstream defaults while
    /// decoding, before the strategy compares: a write that drops a defaulted field which the
    /// defaults put back is no spec change).
    fn set_generation(rt: &ResourceType, old: &Value, new: &mut Value) {
        let bump = match rt.generation {
            GenerationPolicy::None => return,
            GenerationPolicy::Spec => old.get("spec") != new.get("spec"),
            GenerationPolicy::CustomResource => {
                let strip = |v: &Value| {
                    let mut m = v.as_object().cloned().unwrap_or_default();
                    m.remove("metadata");
                    if rt.status {
                        m.remove("status");
                    }
                    m
                };
                strip(old) != strip(new)
            }
        };
        let gen_old = old["metadata"]["generation"].as_i64().unwrap_or(0);
        meta_mut(new).insert(
            "generation".into(),
            json!(if bump { gen_old + 1 } else { gen_old.max(1) }),
        );
    }

    /// Normalize + validate (built-in rules or the CRD schema). `old` for updates.
    fn admit(
        &self,
        rt: &ResourceType,
        obj: &mut Value,
        old: Option<&Value>,
        o: &WriteOpts,
    ) -> ApiResult<()> {
        if let Some(c) = &rt.crd
            && let Some(schema) = &c.schema
            && o.field_validation != FieldValidation::Ignore
        {
            // Unknown fields are what pruning would drop.
            let mut pruned = obj.clone();
            schema.prune(&mut pruned);
            let unknown = typed::dropped_fields(obj, &pruned);
            o.warn(typed::report_unknown(o.field_validation, &unknown)?);
        }
        validation::normalize(rt, obj)?;
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut causes = validation::validate_meta(rt, obj);
        causes.extend(validation::validate(rt, obj, old));
        if let Some(old) = old {
            // No new finalizers once deletion started (upstream ValidateObjectMetaUpdate).
            if is_deleting(old) {
                let of = finalizers(old);
                for f in finalizers(obj) {
                    if !of.contains(&f) {
                        causes.push(Cause::forbidden(
                            "metadata.finalizers",
                            &format!("no new finalizers can be added if the object is being deleted, found new finalizers []string{{\"{f}\"}}"),
                        ));
                    }
                }
            }
        }
        if causes.is_empty()
            && let Some(c) = &rt.crd
            && let Some(schema) = &c.schema
            && let Err(fc) = schema.admit(obj, old)
        {
            causes.extend(
                fc.into_iter()
                    .map(|f| Cause::new(&f.reason, &f.field, f.message)),
            );
        }
        if causes.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(&rt.group, &rt.kind, &name, causes))
        }
    }

    fn track(
        rt: &ResourceType,
        old: Option<&Value>,
        new: &mut Value,
        o: &WriteOpts,
        sub: Option<&str>,
    ) {
        if new["metadata"].get("managedFields").is_none()
            && let Some(mf) = old.and_then(|o| o["metadata"].get("managedFields"))
        {
            meta_mut(new).insert("managedFields".into(), mf.clone());
        }
        let out = merge::track_update(
            old,
            new,
            &o.manager(),
            &rt.merge_schema,
            &now_rfc3339(),
            sub,
        );
        match out {
            Value::Array(mf) => {
                meta_mut(new).insert("managedFields".into(), Value::Array(mf));
            }
            Value::Object(_) => *new = out,
            _ => {}
        }
        if new["metadata"]["managedFields"]
            .as_array()
            .is_some_and(Vec::is_empty)
        {
            meta_mut(new).remove("managedFields");
        }
    }

    /// POST.
    pub fn create(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        body: Value,
        o: &WriteOpts,
    ) -> ApiResult<Value> {
        Self::check_type(rt, &body)?;
        let body = Self::decode_typed(rt, body, o)?;
        let mut obj = to_internal(rt, body);
        Self::fix_namespace(rt, ns, &mut obj)?;
        self.prepare_create(rt, &mut obj)?;
        Self::apply_strategy(rt, None, &mut obj, None);
        self.admit(rt, &mut obj, None, o)?;
        Self::track(rt, None, &mut obj, o, None);
        self.commit_create(rt, obj, o)
    }

    /// Server-set metadata of a new object; generateName.
    fn prepare_create(&self, rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
        let ns = obj["metadata"]["namespace"].as_str().map(String::from);
        let m = meta_mut(obj);
        if m.get("resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let name = m.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty()
            && let Some(g) = m.get("generateName").and_then(Value::as_str)
            && !g.is_empty()
        {
            let n = format!("{}{}", g, random_suffix());
            m.insert("name".into(), json!(n));
        }
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), json!(now_rfc3339()));
        m.remove("deletionTimestamp");
        m.remove("deletionGracePeriodSeconds");
        m.remove("selfLink");
        m.remove("generation");
        if let Some(ns) = ns {
            self.check_namespace(rt, &ns, true)?;
        }
        Ok(())
    }

    fn commit_create(
        &self,
        rt: &Arc<ResourceType>,
        mut obj: Value,
        o: &WriteOpts,
    ) -> ApiResult<Value> {
        let key = crate::store::key_of(&obj);
        if rt.kind == "CustomResourceDefinition" {
            crd::on_create(&mut obj);
        }
        if o.dry_run {
            if self.store.get(&rt.storage, &key).is_some() {
                return Err(ApiError::already_exists(&rt.gr(), &key.1));
            }
            return Ok(to_external(rt, &obj));
        }
        match self
            .store
            .write(&rt.storage, key.clone(), Expect::Absent, obj)
        {
            Ok(stored) => {
                if rt.kind == "CustomResourceDefinition" {
                    crd::sync_types(self, &stored);
                }
                Ok(to_external(rt, &stored))
            }
            Err(WriteError::Exists(_)) => Err(ApiError::already_exists(&rt.gr(), &key.1)),
            Err(_) => Err(ApiError::internal("unexpected store state on create")),
        }
    }

    /// PUT (main resource or `status`). Returns (code, object): 201 when created on update.
    pub fn update(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        name: &str,
        body: Value,
        sub: Option<&str>,
        o: &WriteOpts,
    ) -> ApiResult<(u16, Value)> {
        Self::check_type(rt, &body)?;
        let body = Self::decode_typed(rt, body, o)?;
        let body = to_internal(rt, body);
        let body_name = body["metadata"]["name"].as_str().unwrap_or_default();
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let want_rv = body["metadata"]["resourceVersion"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from);
        loop {
            let Some(cur) = self.store.get(&rt.storage, &Self::key(rt, ns, name)) else {
                if rt.create_on_update && sub.is_none() {
                    if want_rv.is_some() {
                        return Err(ApiError::not_found(&rt.gr(), name));
                    }
                    return self
                        .create(rt, ns, to_external(rt, &body), o)
                        .map(|v| (201, v));
                }
                return Err(ApiError::not_found(&rt.gr(), name));
            };
            if let Some(rv) = &want_rv
                && *rv != object_rv(&cur).to_string()
            {
                return Err(ApiError::stale(&rt.gr(), name));
            }
            let mut new = body.clone();
            Self::fix_namespace(rt, ns, &mut new)?;
            match self.finish_update(rt, &cur, new, sub, o, want_rv.is_some())? {
                Some(done) => return Ok((200, done)),
                None => continue,
            }
        }
    }

    /// Carry server-owned metadata over from `cur`, run strategy/admission/tracking and
    /// commit. Ok(None): the live object changed underneath, retry.
    fn finish_update(
        &self,
        rt: &Arc<ResourceType>,
        cur: &Arc<Value>,
        mut new: Value,
        sub: Option<&str>,
        o: &WriteOpts,
        conditional: bool,
    ) -> ApiResult<Option<Value>> {
        let name = cur["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(uid) = new["metadata"]["uid"].as_str().filter(|u| !u.is_empty())
            && Some(uid) != cur["metadata"]["uid"].as_str()
        {
            return Err(ApiError::conflict(
                &rt.gr(),
                &name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    cur["metadata"]["uid"].as_str().unwrap_or_default()
                ),
            ));
        }
        carry_system_metadata(cur, &mut new);
        {
            let cm = &cur["metadata"];
            let m = meta_mut(&mut new);
            if cm.get("generateName").is_some() && m.get("generateName").is_none() {
                m.insert("generateName".into(), cm["generateName"].clone());
            }
        }
        Self::apply_strategy(rt, Some(cur), &mut new, sub);
        self.admit(rt, &mut new, Some(cur), o)?;
        Self::set_generation(rt, cur, &mut new);
        Self::track(rt, Some(cur), &mut new, o, sub);
        self.commit_update(rt, cur, new, o, conditional)
    }

    /// Commit an update of `cur` to `new` (no-op detection, last-finalizer deletion).
    fn commit_update(
        &self,
        rt: &Arc<ResourceType>,
        cur: &Arc<Value>,
        mut new: Value,
        o: &WriteOpts,
        conditional: bool,
    ) -> ApiResult<Option<Value>> {
        let name = cur["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if rt.kind == "CustomResourceDefinition" {
            crd::on_update(&mut new);
        }
        if same_object(cur, &new) {
            return Ok(Some(to_external(rt, cur)));
        }
        let key = crate::store::key_of(cur);
        // The update that removes the last finalizer of a deleting object deletes it.
        if is_deleting(&new) && finalizers(&new).is_empty() && !ns_spec_finalizers_left(rt, &new) {
            if o.dry_run {
                return Ok(Some(to_external(rt, &new)));
            }
            return match self.store.remove(&rt.storage, &key, Some(object_rv(cur))) {
                Ok(last) => {
                    self.after_remove(rt, &last);
                    Ok(Some(to_external(rt, &new)))
                }
                Err(WriteError::Stale(_)) if conditional => Err(ApiError::stale(&rt.gr(), &name)),
                Err(WriteError::Stale(_)) => Ok(None),
                Err(_) => Err(ApiError::not_found(&rt.gr(), &name)),
            };
        }
        if o.dry_run {
            return Ok(Some(to_external(rt, &new)));
        }
        match self
            .store
            .write(&rt.storage, key, Expect::Rv(object_rv(cur)), new)
        {
            Ok(stored) => {
                if rt.kind == "CustomResourceDefinition" {
                    crd::sync_types(self, &stored);
                }
                Ok(Some(to_external(rt, &stored)))
            }
            Err(WriteError::Stale(_)) if conditional => Err(ApiError::stale(&rt.gr(), &name)),
            Err(WriteError::Stale(_)) => Ok(None),
            Err(_) => Err(ApiError::not_found(&rt.gr(), &name)),
        }
    }

    fn after_remove(&self, rt: &ResourceType, last: &Value) {
        if rt.kind == "CustomResourceDefinition" {
            crd::on_removed(self, last);
        }
    }

    /// PATCH (any patch type; apply creates missing objects).
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        name: &str,
        ptype: PatchType,
        patch: Value,
        sub: Option<&str>,
        o: &WriteOpts,
    ) -> ApiResult<(u16, Value)> {
        if ptype == PatchType::Strategic && !rt.strategic() {
            return Err(ApiError::unsupported_media_type(&accepted_patch_types(rt)));
        }
        if ptype == PatchType::Apply {
            if o.field_manager.as_deref().is_none_or(str::is_empty) {
                return Err(ApiError::bad_request(
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                ));
            }
            return self.apply(rt, ns, name, patch, sub, o);
        }
        loop {
            let cur = self.get_raw(rt, ns, name)?;
            let ext = to_external(rt, &cur);
            let patched = match ptype {
                PatchType::Merge => {
                    if !patch.is_object() {
                        return Err(ApiError::bad_request(
                            "json: cannot unmarshal into Go value of type map[string]interface {}",
                        ));
                    }
                    merge::json_merge_patch(&ext, &patch)
                }
                PatchType::Json => {
                    merge::json_patch(&ext, &patch).map_err(|e| patch_error(rt, e))?
                }
                PatchType::Strategic => {
                    merge::strategic_merge_patch(&ext, &patch, &rt.merge_schema)
                        .map_err(|e| patch_error(rt, e))?
                }
                PatchType::Apply => unreachable!("handled above"),
            };
            // A patch that names a resourceVersion makes it a precondition.
            let want_rv = patched["metadata"]["resourceVersion"]
                .as_str()
                .map(String::from);
            let conditional = want_rv.as_deref() != ext["metadata"]["resourceVersion"].as_str()
                || patch["metadata"].get("resourceVersion").is_some();
            if let Some(rv) = &want_rv
                && *rv != object_rv(&cur).to_string()
            {
                return Err(ApiError::stale(&rt.gr(), name));
            }
            if patched["metadata"]["name"].as_str() != Some(name) {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    patched["metadata"]["name"].as_str().unwrap_or_default()
                )));
            }
            let patched = Self::decode_typed(rt, patched, o)?;
            let mut new = to_internal(rt, patched);
            Self::fix_namespace(rt, ns, &mut new)?;
            if let Some(done) = self.finish_update(rt, &cur, new, sub, o, conditional)? {
                return Ok((200, done));
            }
        }
    }

    fn apply(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        name: &str,
        applied: Value,
        sub: Option<&str>,
        o: &WriteOpts,
    ) -> ApiResult<(u16, Value)> {
        merge::check_apply_target(&applied, &rt.api_version(), &rt.kind, name, ns)
            .map_err(|e| patch_error(rt, e))?;
        let manager = o.manager();
        loop {
            let cur = self.store.get(&rt.storage, &Self::key(rt, ns, name));
            let ext = cur.as_ref().map(|c| to_external(rt, c));
            let mut new = merge::apply(
                ext.as_ref(),
                &applied,
                &manager,
                o.force,
                &rt.merge_schema,
                &now_rfc3339(),
                sub,
            )
            .map_err(|e| patch_error(rt, e))?;
            meta_mut(&mut new).insert("name".into(), json!(name));
            let new = Self::decode_typed(rt, new, o)?;
            let mut new = to_internal(rt, new);
            Self::fix_namespace(rt, ns, &mut new)?;
            match cur {
                None => {
                    if sub.is_some() {
                        return Err(ApiError::not_found(&rt.gr(), name));
                    }
                    if applied
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .is_empty()
                    {
                        return Err(ApiError::bad_request(format!(
                            "the name of the object () does not match the name on the URL ({name})"
                        )));
                    }
                    meta_mut(&mut new).remove("resourceVersion");
                    self.prepare_create(rt, &mut new)?;
                    Self::apply_strategy(rt, None, &mut new, None);
                    self.admit(rt, &mut new, None, o)?;
                    match self.commit_create(rt, new, o) {
                        Err(e) if e.reason == "AlreadyExists" => continue,
                        other => return other.map(|v| (201, v)),
                    }
                }
                Some(cur) => {
                    let want_rv = applied["metadata"]["resourceVersion"].as_str();
                    if let Some(rv) = want_rv
                        && rv != object_rv(&cur).to_string()
                    {
                        return Err(ApiError::stale(&rt.gr(), name));
                    }
                    // managedFields come from apply(); carry the rest like an update.
                    let mf = new["metadata"]["managedFields"].clone();
                    let mut new2 = new;
                    carry_system_metadata(&cur, &mut new2);
                    Self::apply_strategy(rt, Some(&cur), &mut new2, sub);
                    if !mf.is_null() {
                        meta_mut(&mut new2).insert("managedFields".into(), mf);
                    }
                    self.admit(rt, &mut new2, Some(&cur), o)?;
                    Self::set_generation(rt, &cur, &mut new2);
                    if let Some(done) = self.commit_update(rt, &cur, new2, o, want_rv.is_some())? {
                        return Ok((200, done));
                    }
                }
            }
        }
    }

    /// DELETE of one object. Returns (code, body).
    pub fn delete(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        name: &str,
        d: &DeleteOpts,
        o: &WriteOpts,
    ) -> ApiResult<(u16, Value)> {
        let policy = match (d.propagation, d.orphan_dependents) {
            (Some(p), _) => p,
            (None, Some(true)) => Propagation::Orphan,
            // batch/v1 Jobs orphan their pods unless told otherwise (upstream's
            // DefaultGarbageCollectionPolicy, kept for backwards compatibility).
            (None, None) if rt.group == "batch" && rt.kind == "Job" => Propagation::Orphan,
            (None, _) => Propagation::Background,
        };
        if rt.kind == "Namespace" && matches!(name, "default" | "kube-system" | "kube-public") {
            // The NamespaceLifecycle admission plugin's immortal namespaces.
            return Err(ApiError::forbidden(
                &rt.gr(),
                name,
                "this namespace may not be deleted",
            ));
        }
        loop {
            let cur = self.get_raw(rt, ns, name)?;
            if let Some(uid) = &d.precondition_uid
                && Some(uid.as_str()) != cur["metadata"]["uid"].as_str()
            {
                return Err(ApiError::conflict(
                    &rt.gr(),
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        cur["metadata"]["uid"].as_str().unwrap_or_default()
                    ),
                ));
            }
            if let Some(rv) = &d.precondition_rv
                && *rv != object_rv(&cur).to_string()
            {
                return Err(ApiError::conflict(
                    &rt.gr(),
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        object_rv(&cur)
                    ),
                ));
            }
            let mut obj = (*cur).clone();
            let mut fins = finalizers(&obj);
            let explicit = d.propagation.is_some() || d.orphan_dependents.is_some();
            let (want, other) = match policy {
                Propagation::Orphan => (Some("orphan"), "foregroundDeletion"),
                Propagation::Foreground => (Some("foregroundDeletion"), "orphan"),
                Propagation::Background => (None, ""),
            };
            if explicit || !is_deleting(&obj) {
                if let Some(w) = want {
                    fins.retain(|f| f != other);
                    if !fins.iter().any(|f| f == w) {
                        fins.push(w.to_string());
                    }
                } else if explicit {
                    fins.retain(|f| f != "orphan" && f != "foregroundDeletion");
                }
            }
            let ns_pending = rt.kind == "Namespace"
                && obj["spec"]["finalizers"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty());
            if fins.is_empty() && !ns_pending {
                // Immediate deletion.
                if o.dry_run {
                    return Ok((200, self.deleted_body(rt, &cur)));
                }
                match self.store.remove(
                    &rt.storage,
                    &crate::store::key_of(&cur),
                    Some(object_rv(&cur)),
                ) {
                    Ok(last) => {
                        self.after_remove(rt, &last);
                        return Ok((200, self.deleted_body(rt, &cur)));
                    }
                    Err(WriteError::Stale(_)) => continue,
                    Err(_) => return Err(ApiError::not_found(&rt.gr(), name)),
                }
            }
            let already = is_deleting(&obj);
            set_finalizers(&mut obj, &fins);
            if !already {
                let m = meta_mut(&mut obj);
                m.insert("deletionTimestamp".into(), json!(now_rfc3339()));
                m.insert(
                    "deletionGracePeriodSeconds".into(),
                    json!(d.grace_period_seconds.unwrap_or(0).max(0)),
                );
                if let Some(g) = m.get("generation").and_then(Value::as_i64)
                    && g > 0
                {
                    m.insert("generation".into(), json!(g + 1));
                }
                if rt.kind == "Namespace" {
                    obj["status"]["phase"] = json!("Terminating");
                }
                if rt.kind == "CustomResourceDefinition" {
                    crd::on_terminating(&mut obj);
                }
            }
            let code = if d.orphan_dependents == Some(false) {
                202
            } else {
                200
            };
            if same_object(&cur, &obj) || o.dry_run {
                return Ok((code, to_external(rt, &obj)));
            }
            match self.store.write(
                &rt.storage,
                crate::store::key_of(&cur),
                Expect::Rv(object_rv(&cur)),
                obj,
            ) {
                Ok(stored) => return Ok((code, to_external(rt, &stored))),
                Err(WriteError::Stale(_)) => continue,
                Err(_) => return Err(ApiError::not_found(&rt.gr(), name)),
            }
        }
    }

    fn deleted_body(&self, rt: &ResourceType, obj: &Value) -> Value {
        if rt.return_deleted {
            return to_external(rt, obj);
        }
        let mut details = json!({
            "name": obj["metadata"]["name"],
            "kind": rt.plural,
            "uid": obj["metadata"]["uid"],
        });
        if !rt.group.is_empty() {
            details["group"] = json!(rt.group);
        }
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        })
    }

    /// DELETE on a collection: deletes every matching object, returns the list of what
    /// was deleted (as upstream does).
    pub fn delete_collection(
        &self,
        rt: &Arc<ResourceType>,
        ns: Option<&str>,
        l: &ListOpts,
        d: &DeleteOpts,
        o: &WriteOpts,
    ) -> ApiResult<Value> {
        let page = self.list(
            rt,
            ns,
            &ListOpts {
                label_selector: l.label_selector.clone(),
                field_selector: l.field_selector.clone(),
                ..Default::default()
            },
        )?;
        let mut items = Vec::new();
        for obj in page.items {
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let ons = obj["metadata"]["namespace"].as_str().map(String::from);
            match self.delete(rt, ons.as_deref(), &name, d, o) {
                Ok(_) => items.push((*obj).clone()),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(json!({
            "kind": rt.list_kind(),
            "apiVersion": rt.api_version(),
            "metadata": {"resourceVersion": self.store.current_rv().to_string()},
            "items": items,
        }))
    }

    /// LIST with selectors, resourceVersion semantics and pagination.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>, l: &ListOpts) -> ApiResult<ListPage> {
        let labels = LabelSelector::parse(l.label_selector.as_deref().unwrap_or_default())?;
        let fields = FieldSelector::parse(l.field_selector.as_deref().unwrap_or_default(), rt)?;
        let ns = if rt.namespaced {
            ns.filter(|n| !n.is_empty())
        } else {
            None
        };
        let (rv, items, start) = if let Some(tok) = &l.continue_token {
            let (rv, start) = decode_continue(tok)?;
            let items = self.store.list_at(&rt.storage, ns, rv).map_err(|_| {
                ApiError::gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
            })?;
            (rv, items, Some(start))
        } else {
            let requested: Option<u64> = match l.resource_version.as_deref() {
                None | Some("") => None,
                Some(s) => Some(s.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version: {s}"))
                })?),
            };
            match (l.resource_version_match.as_deref(), requested) {
                (Some("Exact"), Some(r)) => {
                    let items = self.store.list_at(&rt.storage, ns, r)?;
                    (r, items, None)
                }
                (Some("Exact"), None) => {
                    return Err(ApiError::bad_request(
                        "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"\"",
                    ));
                }
                (Some("NotOlderThan") | None, _) | (Some(""), _) => {
                    let (cur_rv, items) = self.store.list(&rt.storage, ns);
                    if let Some(r) = requested
                        && r > cur_rv
                    {
                        let mut e = ApiError::new(
                            504,
                            "Timeout",
                            format!("Too large resource version: {r}, current: {cur_rv}"),
                        );
                        e.details = Some(
                            json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
                        );
                        return Err(e);
                    }
                    (cur_rv, items, None)
                }
                (Some(other), _) => {
                    return Err(ApiError::bad_request(format!(
                        "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\", \"\""
                    )));
                }
            }
        };
        let needs_ext = needs_conversion(rt);
        let mut out = Vec::new();
        let mut next = None;
        let mut remaining = 0usize;
        let limit = l.limit.filter(|n| *n > 0);
        for obj in items {
            if let Some((sns, sname)) = &start {
                let k = (
                    obj["metadata"]["namespace"].as_str().unwrap_or_default(),
                    obj["metadata"]["name"].as_str().unwrap_or_default(),
                );
                if (k.0, k.1) <= (sns.as_str(), sname.as_str()) {
                    continue;
                }
            }
            let ext = if needs_ext {
                Arc::new(to_external(rt, &obj))
            } else {
                obj
            };
            if !labels.matches(&ext) || !fields.matches(&ext) {
                continue;
            }
            if let Some(lim) = limit
                && out.len() >= lim
            {
                if next.is_none() {
                    let last: &Arc<Value> = out.last().expect("limit > 0");
                    next = Some(encode_continue(
                        rv,
                        last["metadata"]["namespace"].as_str().unwrap_or_default(),
                        last["metadata"]["name"].as_str().unwrap_or_default(),
                    ));
                }
                remaining += 1;
                continue;
            }
            out.push(ext);
        }
        let remaining =
            (next.is_some() && labels.is_empty() && fields.is_empty()).then_some(remaining);
        Ok(ListPage {
            resource_version: rv,
            continue_token: next,
            remaining,
            items: out,
        })
    }
}

fn ns_spec_finalizers_left(rt: &ResourceType, obj: &Value) -> bool {
    rt.kind == "Namespace"
        && obj["spec"]["finalizers"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
}

fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    let raw = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": [ns, name]}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(tok: &str) -> ApiResult<(u64, (String, String))> {
    let bad = || ApiError::bad_request("continue key is not valid: illegal base64 data");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(tok.trim_end_matches('='))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v["rv"].as_u64().ok_or_else(bad)?;
    let ns = v["start"][0].as_str().ok_or_else(bad)?.to_string();
    let name = v["start"][1].as_str().ok_or_else(bad)?.to_string();
    Ok((rv, (ns, name)))
}

pub use crate::convert::{needs_conversion, to_external, to_internal};
