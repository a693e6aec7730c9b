//! OpenAPI documents: `/openapi/v3` (index + one document per group-version) and
//! `/openapi/v2`. Custom resources carry their CRD schema (so `kubectl explain` works);
//! every resource path lists the `fieldValidation`/`dryRun`/`fieldManager` parameters
//! kubectl probes for before sending server-side field validation.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceType};

fn schema_name(t: &ResourceType) -> String {
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
            json!({"type": "object", "description": "Standard object's metadata.", "x-kubernetes-preserve-unknown-fields": true}),
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
    let mut schemas = Map::new();
    for t in &types {
        paths_for(t, &mut paths);
        schemas.insert(schema_name(t), type_schema(t));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.34.0"},
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
    let mut defs = Map::new();
    let mut paths = Map::new();
    for t in reg.all() {
        defs.insert(schema_name(&t), type_schema(&t));
        paths_for(&t, &mut paths);
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.34.0"},
        "paths": paths,
        "definitions": defs,
    })
}
