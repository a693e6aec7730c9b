//! The create-only review resources, answered with the fake's authenticator and authorizer:
//! SelfSubjectAccessReview (`kubectl auth can-i`), SelfSubjectRulesReview (`can-i --list`),
//! SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectReview (`kubectl auth whoami`)
//! and TokenReview. Nothing is stored; the answer is the request with `status` filled in.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::auth::UserInfo;
use crate::error::{ApiError, ApiResult, Cause};
use crate::ops::{Cluster, now_rfc3339};
use crate::rbac::{self, Attributes};
use crate::registry::ResourceType;
use crate::token::{self, TokenIssuer};

fn invalid(rt: &ResourceType, field: &str, value: &Value, detail: &str) -> ApiError {
    ApiError::invalid(
        &rt.group,
        &rt.kind,
        "",
        vec![Cause::invalid(field, value, detail)],
    )
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

/// Attributes of a (Self|Local)SubjectAccessReview spec for `user`.
fn spec_attributes(rt: &ResourceType, spec: &Value, user: UserInfo) -> ApiResult<Attributes> {
    let ra = &spec["resourceAttributes"];
    let nra = &spec["nonResourceAttributes"];
    match (ra.is_object(), nra.is_object()) {
        (true, true) => Err(invalid(
            rt,
            "spec.nonResourceAttributes",
            nra,
            "cannot be specified in combination with resourceAttributes",
        )),
        (false, false) => Err(invalid(
            rt,
            "spec.resourceAttributes",
            &json!("null"),
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        (true, false) => Ok(Attributes {
            user,
            verb: s(ra, "verb"),
            resource_request: true,
            path: String::new(),
            api_group: s(ra, "group"),
            api_version: s(ra, "version"),
            namespace: s(ra, "namespace"),
            resource: s(ra, "resource"),
            subresource: s(ra, "subresource"),
            name: s(ra, "name"),
        }),
        (false, true) => Ok(Attributes {
            user,
            verb: s(nra, "verb"),
            path: s(nra, "path"),
            ..Default::default()
        }),
    }
}

fn access_status(c: &Cluster, a: &Attributes) -> Value {
    let d = rbac::authorize(c, a);
    let mut st = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        st["reason"] = json!(d.reason);
    }
    st
}

fn echo(rt: &ResourceType, body: &Value, status: Value) -> Value {
    let mut meta = body["metadata"].as_object().cloned().unwrap_or_default();
    meta.entry("creationTimestamp").or_insert(Value::Null);
    json!({
        "kind": rt.kind,
        "apiVersion": rt.api_version(),
        "metadata": meta,
        "spec": body.get("spec").cloned().unwrap_or_else(|| json!({})),
        "status": status,
    })
}

fn user_from_spec(spec: &Value) -> UserInfo {
    let extra: BTreeMap<String, Vec<String>> = spec["extra"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let vs = v
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
                    (k.clone(), vs)
                })
                .collect()
        })
        .unwrap_or_default();
    UserInfo {
        name: s(spec, "user"),
        uid: s(spec, "uid"),
        groups: spec["groups"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        extra,
    }
}

/// The rules `user` has in `namespace`, as SelfSubjectRulesReview reports them.
fn rules_status(c: &Cluster, user: &UserInfo, namespace: &str) -> Value {
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    if user.is_privileged() {
        resource_rules.push(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}));
        non_resource_rules.push(json!({"verbs": ["*"], "nonResourceURLs": ["*"]}));
    }
    let (rules, errors) = rbac::rules_for(c, user, namespace);
    for r in &rules {
        if !r.resources.is_empty() {
            let mut v =
                json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
            if !r.resource_names.is_empty() {
                v["resourceNames"] = json!(r.resource_names);
            }
            resource_rules.push(v);
        }
        if !r.non_resource_urls.is_empty() {
            non_resource_rules
                .push(json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}));
        }
    }
    let mut st = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": false,
    });
    if !errors.is_empty() {
        let mut uniq: Vec<&String> = Vec::new();
        for e in &errors {
            if !uniq.contains(&e) {
                uniq.push(e);
            }
        }
        st["evaluationError"] = json!(if uniq.len() == 1 {
            uniq[0].clone()
        } else {
            format!(
                "[{}]",
                uniq.iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
    }
    st
}

/// Answer a review POST (`rt.is_review()`), from `user`, in namespace `ns` (Local SARs).
pub fn handle(
    c: &Cluster,
    issuer: &TokenIssuer,
    user: &UserInfo,
    rt: &ResourceType,
    ns: Option<&str>,
    body: &Value,
) -> ApiResult<Value> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
        ));
    }
    if let Some(k) = body["kind"].as_str().filter(|k| *k != rt.kind) {
        return Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: no kind \"{k}\" is registered for version \"{}\"",
            rt.kind,
            rt.version,
            rt.kind,
            rt.api_version()
        )));
    }
    let spec = &body["spec"];
    match rt.kind.as_str() {
        "SelfSubjectAccessReview" => {
            let a = spec_attributes(rt, spec, user.clone())?;
            Ok(echo(rt, body, access_status(c, &a)))
        }
        "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            let subject = user_from_spec(spec);
            if subject.name.is_empty() && subject.groups.is_empty() {
                return Err(invalid(
                    rt,
                    "spec.user",
                    &json!(""),
                    "at least one of user or group must be specified",
                ));
            }
            let mut a = spec_attributes(rt, spec, subject)?;
            if rt.kind == "LocalSubjectAccessReview" {
                let ns = ns.unwrap_or_default();
                if !a.resource_request {
                    return Err(invalid(
                        rt,
                        "spec.nonResourceAttributes",
                        &spec["nonResourceAttributes"],
                        "disallowed on this kind of request",
                    ));
                }
                if a.namespace.is_empty() {
                    a.namespace = ns.to_string();
                } else if a.namespace != ns {
                    return Err(ApiError::bad_request(format!(
                        "spec.resourceAttributes.namespace must match namespace: {ns}"
                    )));
                }
            }
            Ok(echo(rt, body, access_status(c, &a)))
        }
        "SelfSubjectRulesReview" => {
            let namespace = s(spec, "namespace");
            if namespace.is_empty() {
                return Err(ApiError::bad_request("no namespace on request"));
            }
            Ok(json!({
                "kind": rt.kind,
                "apiVersion": rt.api_version(),
                "metadata": {"creationTimestamp": null},
                "spec": {},
                "status": rules_status(c, user, &namespace),
            }))
        }
        "SelfSubjectReview" => Ok(json!({
            "kind": rt.kind,
            "apiVersion": rt.api_version(),
            "metadata": {"creationTimestamp": now_rfc3339()},
            "status": {"userInfo": user.to_value()},
        })),
        "TokenReview" => {
            let t = spec["token"].as_str().unwrap_or_default();
            if t.is_empty() {
                return Err(invalid(rt, "spec.token", &json!(""), "Required value"));
            }
            Ok(echo(rt, body, token::token_review_status(c, issuer, t)))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}
