//! Discovery documents: `/version`, legacy `/api`, `/apis`, `/api/v1`, `/apis/<g>`,
//! `/apis/<g>/<v>`, and aggregated discovery (apidiscovery.k8s.io/v2) for `/api` and
//! `/apis` when the client asks for it in `Accept`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::crd::version_priority;
use crate::registry::{Registry, ResourceType};

pub const AGGREGATED_CT: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the client asked for aggregated discovery v2 in any media range.
pub fn wants_aggregated(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|range| {
            let params: Vec<&str> = range.split(';').map(str::trim).collect();
            params.contains(&"as=APIGroupDiscoveryList")
                && params.contains(&"g=apidiscovery.k8s.io")
                && params.contains(&"v=v2")
        })
    })
}

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "36",
        "emulationMajor": "1",
        "emulationMinor": "36",
        "gitVersion": "v1.36.0-apiserver-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// group -> versions (preferred first).
fn groups(reg: &Registry) -> BTreeMap<String, Vec<String>> {
    let mut g: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in reg.all() {
        let vs = g.entry(t.group.clone()).or_default();
        if !vs.contains(&t.version) {
            vs.push(t.version.clone());
        }
    }
    for vs in g.values_mut() {
        vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    }
    g
}

fn gv(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

pub fn api_versions(server_addr: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_addr}],
    })
}

fn api_group(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": gv(name, v), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

pub fn api_group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = groups(reg)
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| api_group(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn api_group_doc(reg: &Registry, group: &str) -> Option<Value> {
    let g = groups(reg);
    let vs = g.get(group).filter(|_| !group.is_empty())?;
    let mut doc = api_group(group, vs);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// A subresource: name, the (group, version, kind) it answers with when not the parent's,
/// verbs.
type Subresource = (
    &'static str,
    Option<(&'static str, &'static str, &'static str)>,
    Vec<&'static str>,
);

fn subresources(t: &ResourceType) -> Vec<Subresource> {
    let mut out = Vec::new();
    if t.status {
        out.push(("status", None, vec!["get", "patch", "update"]));
    }
    if t.kind == "Namespace" {
        out.push(("finalize", None, vec!["update"]));
    }
    if crate::scale::paths(t).is_some() {
        out.push(("scale", None, vec!["get", "patch", "update"]));
    }
    if t.group.is_empty() && t.kind == "ServiceAccount" {
        out.push((
            "token",
            Some(("authentication.k8s.io", "v1", "TokenRequest")),
            vec!["create"],
        ));
    }
    out
}

pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let types: Vec<Arc<ResourceType>> = reg
        .all()
        .into_iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if types.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for t in &types {
        let mut r = json!({
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": t.verbs,
        });
        if !t.short_names.is_empty() {
            r["shortNames"] = json!(t.short_names);
        }
        if !t.categories.is_empty() {
            r["categories"] = json!(t.categories);
        }
        resources.push(r);
        for (sub, response, verbs) in subresources(t) {
            let mut r = json!({
                "name": format!("{}/{}", t.plural, sub),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": verbs,
            });
            if let Some((g, v, k)) = response {
                r["group"] = json!(g);
                r["version"] = json!(v);
                r["kind"] = json!(k);
            }
            resources.push(r);
        }
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv(group, version),
        "resources": resources,
    }))
}

/// Aggregated discovery for the core group (`legacy`) or every named group.
pub fn aggregated(reg: &Registry, legacy: bool) -> Value {
    let all = reg.all();
    let mut items = Vec::new();
    for (g, vs) in groups(reg) {
        if g.is_empty() != legacy {
            continue;
        }
        let versions: Vec<Value> = vs
            .iter()
            .map(|v| {
                let resources: Vec<Value> = all
                    .iter()
                    .filter(|t| t.group == g && &t.version == v)
                    .map(|t| {
                        let kind = json!({"group": t.group, "version": t.version, "kind": t.kind});
                        let mut r = json!({
                            "resource": t.plural,
                            "responseKind": kind,
                            "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
                            "singularResource": t.singular,
                            "verbs": t.verbs,
                        });
                        if !t.short_names.is_empty() {
                            r["shortNames"] = json!(t.short_names);
                        }
                        if !t.categories.is_empty() {
                            r["categories"] = json!(t.categories);
                        }
                        let subs: Vec<Value> = subresources(t)
                            .into_iter()
                            .map(|(s, response, verbs)| {
                                let rk = match response {
                                    Some((g, v, k)) => {
                                        json!({"group": g, "version": v, "kind": k})
                                    }
                                    None => kind.clone(),
                                };
                                json!({"subresource": s, "responseKind": rk, "verbs": verbs})
                            })
                            .collect();
                        if !subs.is_empty() {
                            r["subresources"] = Value::Array(subs);
                        }
                        r
                    })
                    .collect();
                json!({"version": v, "resources": resources, "freshness": "Current"})
            })
            .collect();
        items.push(
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions}),
        );
    }
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}
