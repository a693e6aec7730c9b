//! OpenAPI documents: `/openapi/v3` (index + one document per group-version) and
//! `/openapi/v2`. Custom resources carry their CRD schema (so `kubectl explain` works);
//! every resource path lists the `fieldValidation`/`dryRun`/`fieldManager` parameters
//! kubectl probes for before sending server-side field validation.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use k8s_openapi::schemars::{JsonSchema, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceType};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const TOKEN_REQUEST: &str = "io.k8s.api.authentication.v1.TokenRequest";

/// (schema name, every definition it needs) for a type with a k8s-openapi schema.
type Defs = (String, Map<String, Value>);

fn defs_of<T: JsonSchema>() -> Defs {
    let mut g = SchemaSettings::openapi3().into_generator();
    let _ = g.subschema_for::<T>();
    (T::schema_name().into_owned(), g.take_definitions(true))
}

/// Field schemas of the built-in kinds (from k8s-openapi), generated once.
fn builtin_defs() -> &'static HashMap<(&'static str, &'static str), Defs> {
    static DEFS: OnceLock<HashMap<(&'static str, &'static str), Defs>> = OnceLock::new();
    DEFS.get_or_init(|| {
        use k8s_openapi::api::{
            apps, authentication, authorization, batch, coordination, core, events, rbac,
        };
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
        use k8s_openapi::apimachinery::pkg::apis::meta;
        let mut m = HashMap::new();
        m.insert(("", "Namespace"), defs_of::<core::v1::Namespace>());
        m.insert(("", "Secret"), defs_of::<core::v1::Secret>());
        m.insert(("", "ConfigMap"), defs_of::<core::v1::ConfigMap>());
        m.insert(("", "Event"), defs_of::<core::v1::Event>());
        m.insert(
            ("", "ServiceAccount"),
            defs_of::<core::v1::ServiceAccount>(),
        );
        m.insert(("", "Pod"), defs_of::<core::v1::Pod>());
        m.insert(("apps", "Deployment"), defs_of::<apps::v1::Deployment>());
        m.insert(("apps", "StatefulSet"), defs_of::<apps::v1::StatefulSet>());
        m.insert(("apps", "DaemonSet"), defs_of::<apps::v1::DaemonSet>());
        m.insert(("apps", "ReplicaSet"), defs_of::<apps::v1::ReplicaSet>());
        m.insert(("batch", "CronJob"), defs_of::<batch::v1::CronJob>());
        m.insert(("batch", "Job"), defs_of::<batch::v1::Job>());
        m.insert(
            ("coordination.k8s.io", "Lease"),
            defs_of::<coordination::v1::Lease>(),
        );
        m.insert(("events.k8s.io", "Event"), defs_of::<events::v1::Event>());
        m.insert(
            ("rbac.authorization.k8s.io", "Role"),
            defs_of::<rbac::v1::Role>(),
        );
        m.insert(
            ("rbac.authorization.k8s.io", "ClusterRole"),
            defs_of::<rbac::v1::ClusterRole>(),
        );
        m.insert(
            ("rbac.authorization.k8s.io", "RoleBinding"),
            defs_of::<rbac::v1::RoleBinding>(),
        );
        m.insert(
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            defs_of::<rbac::v1::ClusterRoleBinding>(),
        );
        m.insert(
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            defs_of::<apiextensions::v1::CustomResourceDefinition>(),
        );
        m.insert(
            ("authentication.k8s.io", "TokenRequest"),
            defs_of::<authentication::v1::TokenRequest>(),
        );
        m.insert(
            ("authentication.k8s.io", "TokenReview"),
            defs_of::<authentication::v1::TokenReview>(),
        );
        m.insert(
            ("authentication.k8s.io", "SelfSubjectReview"),
            defs_of::<authentication::v1::SelfSubjectReview>(),
        );
        m.insert(
            ("authorization.k8s.io", "SelfSubjectAccessReview"),
            defs_of::<authorization::v1::SelfSubjectAccessReview>(),
        );
        m.insert(
            ("authorization.k8s.io", "SelfSubjectRulesReview"),
            defs_of::<authorization::v1::SelfSubjectRulesReview>(),
        );
        m.insert(
            ("authorization.k8s.io", "SubjectAccessReview"),
            defs_of::<authorization::v1::SubjectAccessReview>(),
        );
        m.insert(
            ("authorization.k8s.io", "LocalSubjectAccessReview"),
            defs_of::<authorization::v1::LocalSubjectAccessReview>(),
        );
        m.insert(("meta", "ObjectMeta"), defs_of::<meta::v1::ObjectMeta>());
        m
    })
}

fn schema_name(t: &ResourceType) -> String {
    if t.crd.is_none()
        && let Some((name, _)) = builtin_defs().get(&(t.group.as_str(), t.kind.as_str()))
    {
        return name.clone();
    }
    let group = if t.group.is_empty() {
        "io.k8s.api.core".to_string()
    } else if t.crd.is_none() {
        let short = t.group.split('.').next().unwrap_or_default();
        format!("io.k8s.api.{short}")
    } else {
        t.group.split('.').rev().collect::<Vec<_>>().join(".")
    };
    format!("{group}.{}.{}", t.version, t.kind)
}

fn gvk(t: &ResourceType) -> Value {
    json!([{"group": t.group, "version": t.version, "kind": t.kind}])
}

fn type_schema(t: &ResourceType) -> Value {
    let mut s = match &t.crd {
        Some(c) if c.openapi.is_object() => c.openapi.clone(),
        _ => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    };
    let props = s
        .as_object_mut()
        .expect("schema object")
        .entry("properties")
        .or_insert_with(|| json!({}));
    if let Some(p) = props.as_object_mut() {
        p.entry("apiVersion").or_insert(json!({
            "type": "string",
            "description": "APIVersion defines the versioned schema of this representation of an object."
        }));
        p.entry("kind").or_insert(json!({
            "type": "string",
            "description": "Kind is a string value representing the REST resource this object represents."
        }));
        p.insert(
            "metadata".into(),
            json!({"description": "Standard object's metadata.", "allOf": [{"$ref": format!("#/components/schemas/{OBJECT_META}")}]}),
        );
    }
    s["x-kubernetes-group-version-kind"] = gvk(t);
    s
}

fn params() -> Value {
    json!([
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
    ])
}

fn op(t: &ResourceType, action: &str, write: bool) -> Value {
    let mut o = json!({
        "operationId": format!("{action}{}", t.kind),
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", schema_name(t))}}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(t)[0],
    });
    if write {
        o["parameters"] = params();
    }
    o
}

fn prefix(t: &ResourceType) -> String {
    if t.group.is_empty() {
        format!("/api/{}", t.version)
    } else {
        format!("/apis/{}/{}", t.group, t.version)
    }
}

fn paths_for(t: &ResourceType, paths: &mut Map<String, Value>) {
    let base = if t.namespaced {
        format!("{}/namespaces/{{namespace}}/{}", prefix(t), t.plural)
    } else {
        format!("{}/{}", prefix(t), t.plural)
    };
    if t.is_review() {
        paths.insert(base, json!({"post": op(t, "post", true)}));
        return;
    }
    if t.group.is_empty() && t.kind == "ServiceAccount" {
        let mut post = op(t, "post", true);
        let gvk =
            json!({"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"});
        post["operationId"] = json!("createServiceAccountToken");
        post["x-kubernetes-group-version-kind"] = gvk;
        post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] =
            json!(format!("#/components/schemas/{}", TOKEN_REQUEST));
        paths.insert(format!("{base}/{{name}}/token"), json!({"post": post}));
    }
    paths.insert(
        base.clone(),
        json!({"get": op(t, "list", false), "post": op(t, "post", true), "delete": op(t, "deletecollection", false)}),
    );
    paths.insert(
        format!("{base}/{{name}}"),
        json!({"get": op(t, "get", false), "put": op(t, "put", true), "patch": op(t, "patch", true), "delete": op(t, "delete", false)}),
    );
    if t.status {
        paths.insert(
            format!("{base}/{{name}}/status"),
            json!({"get": op(t, "get", false), "put": op(t, "put", true), "patch": op(t, "patch", true)}),
        );
    }
}

/// Component schemas for some resource types: k8s-openapi's for built-ins, the CRD's for
/// custom resources (with ObjectMeta), each top-level kind marked with its GVK.
fn schemas_for(types: &[std::sync::Arc<ResourceType>]) -> Map<String, Value> {
    let mut schemas = Map::new();
    if types
        .iter()
        .any(|t| t.group.is_empty() && t.kind == "ServiceAccount")
        && let Some((_, defs)) = builtin_defs().get(&("authentication.k8s.io", "TokenRequest"))
    {
        for (k, v) in defs {
            schemas.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if let Some(s) = schemas.get_mut(TOKEN_REQUEST) {
            s["x-kubernetes-group-version-kind"] = json!([{"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"}]);
        }
    }
    for t in types {
        match builtin_defs().get(&(t.group.as_str(), t.kind.as_str())) {
            Some((name, defs)) if t.crd.is_none() => {
                for (k, v) in defs {
                    schemas.entry(k.clone()).or_insert_with(|| v.clone());
                }
                if let Some(s) = schemas.get_mut(name) {
                    s["x-kubernetes-group-version-kind"] = gvk(t);
                }
            }
            _ => {
                schemas.insert(schema_name(t), type_schema(t));
                if let Some((_, defs)) = builtin_defs().get(&("meta", "ObjectMeta")) {
                    for (k, v) in defs {
                        schemas.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
        }
    }
    schemas
}

/// The OpenAPI v3 document of one group-version.
pub fn v3_group_version(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let types: Vec<_> = reg
        .all()
        .into_iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if types.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    for t in &types {
        paths_for(t, &mut paths);
    }
    let schemas = schemas_for(&types);
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.36.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// `/openapi/v3`: one entry per group-version, with a content hash for client caches.
pub fn v3_index(reg: &Registry) -> Value {
    let mut gvs: BTreeMap<String, (String, String)> = BTreeMap::new();
    for t in reg.all() {
        let key = if t.group.is_empty() {
            format!("api/{}", t.version)
        } else {
            format!("apis/{}/{}", t.group, t.version)
        };
        gvs.insert(key, (t.group.clone(), t.version.clone()));
    }
    let mut paths = Map::new();
    for (key, (g, v)) in gvs {
        let doc = v3_group_version(reg, &g, &v).unwrap_or_default();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        doc.to_string().hash(&mut h);
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={:016X}", h.finish())}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v2`: definitions for every kind (custom resources with their schema).
pub fn v2(reg: &Registry) -> Value {
    let types = reg.all();
    let mut paths = Map::new();
    for t in &types {
        paths_for(t, &mut paths);
    }
    let doc = json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.36.0"},
        "paths": paths,
        "definitions": schemas_for(&types),
    });
    // Same schemas, Swagger 2.0's reference location.
    let text = doc
        .to_string()
        .replace("#/components/schemas/", "#/definitions/");
    serde_json::from_str(&text).unwrap_or(doc)
}
