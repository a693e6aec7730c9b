//! RBAC as the real API server enforces it (`plugin/pkg/auth/authorizer/rbac`,
//! `pkg/registry/rbac/validation`, `pkg/registry/rbac/*/policybased`):
//!
//! * request attributes from the URL alone (upstream's `RequestInfoFactory`), before routing:
//!   verb from the method (`get`/`list`/`watch`/`create`/`update`/`patch`/`delete`/
//!   `deletecollection`), resource, subresource, name (also from a `metadata.name=` field
//!   selector on list/watch), namespace (a Namespace's own name for `namespaces/<name>`);
//!   everything that is not under `/api/v1/...` or `/apis/<g>/<v>/...` is a non-resource URL;
//! * rules from ClusterRoleBindings (cluster-wide) and the RoleBindings of the request's
//!   namespace, subjects User / Group / ServiceAccount, `RuleAllows` with upstream's
//!   `VerbMatches`/`APIGroupMatches`/`ResourceMatches` (`*`, `res/sub`, `*/sub`; no `res/*`)/
//!   `ResourceNameMatches`/`NonResourceURLMatches` (`*` suffix);
//! * ClusterRole `aggregationRule`s resolved at evaluation time (and written into `rules` by
//!   a controller, as upstream's clusterrole-aggregation controller);
//! * `system:masters` allowed everything; bootstrap ClusterRoles/Bindings for discovery;
//! * the 403 Status with upstream's message, `RBAC: ...` resolution errors appended;
//! * privilege-escalation checks on writes of Roles/ClusterRoles (`escalate`) and bindings
//!   (`bind`), with upstream's `Covers` and message.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::auth::{ALL_SERVICE_ACCOUNTS, AUTHENTICATED, SYSTEM_MASTERS, UserInfo};
use crate::error::{ApiError, ApiResult, GroupResource};
use crate::ops::{Cluster, PatchType, WriteOpts};

pub const GROUP: &str = "rbac.authorization.k8s.io";
const ROLES: &str = "roles.rbac.authorization.k8s.io";
const CLUSTER_ROLES: &str = "clusterroles.rbac.authorization.k8s.io";
const ROLE_BINDINGS: &str = "rolebindings.rbac.authorization.k8s.io";
const CLUSTER_ROLE_BINDINGS: &str = "clusterrolebindings.rbac.authorization.k8s.io";
const AGGREGATION_MANAGER: &str = "clusterrole-aggregation-controller";

/// One `PolicyRule`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn has(set: &[String], s: &str) -> bool {
    set.iter().any(|x| x == s)
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_quote_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

impl PolicyRule {
    pub fn from_value(v: &Value) -> Self {
        Self {
            verbs: strs(&v["verbs"]),
            api_groups: strs(&v["apiGroups"]),
            resources: strs(&v["resources"]),
            resource_names: strs(&v["resourceNames"]),
            non_resource_urls: strs(&v["nonResourceURLs"]),
        }
    }

    pub fn to_value(&self) -> Value {
        let mut v = json!({"verbs": self.verbs});
        if !self.api_groups.is_empty() {
            v["apiGroups"] = json!(self.api_groups);
        }
        if !self.resources.is_empty() {
            v["resources"] = json!(self.resources);
        }
        if !self.resource_names.is_empty() {
            v["resourceNames"] = json!(self.resource_names);
        }
        if !self.non_resource_urls.is_empty() {
            v["nonResourceURLs"] = json!(self.non_resource_urls);
        }
        v
    }

    fn rules_of(obj: &Value) -> Vec<Self> {
        obj["rules"]
            .as_array()
            .map(|a| a.iter().map(Self::from_value).collect())
            .unwrap_or_default()
    }

    /// upstream's `CompactString` (escalation messages).
    pub fn compact_string(&self) -> String {
        let mut parts = Vec::new();
        if !self.api_groups.is_empty() {
            parts.push(format!("APIGroups:{}", go_quote_list(&self.api_groups)));
        }
        if !self.resources.is_empty() {
            parts.push(format!("Resources:{}", go_quote_list(&self.resources)));
        }
        if !self.non_resource_urls.is_empty() {
            parts.push(format!(
                "NonResourceURLs:{}",
                go_quote_list(&self.non_resource_urls)
            ));
        }
        if !self.resource_names.is_empty() {
            parts.push(format!(
                "ResourceNames:{}",
                go_quote_list(&self.resource_names)
            ));
        }
        if !self.verbs.is_empty() {
            parts.push(format!("Verbs:{}", go_quote_list(&self.verbs)));
        }
        format!("{{{}}}", parts.join(", "))
    }
}

/// The authorizer's view of a request (upstream's `authorizer.Attributes`).
#[derive(Debug, Clone, Default)]
pub struct Attributes {
    pub user: UserInfo,
    pub verb: String,
    pub resource_request: bool,
    pub path: String,
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

/// `watch` query parameter as upstream decodes it (anything but `0`/`false` is true).
pub fn watch_param(v: Option<&str>) -> bool {
    v.is_some_and(|w| w != "0" && !w.eq_ignore_ascii_case("false"))
}

/// The `metadata.name` a field selector requires exactly (`metadata.name=x`, `==`), if any.
fn field_selector_name(sel: &str) -> Option<String> {
    let mut terms = Vec::new();
    let mut cur = String::new();
    let mut esc = false;
    for c in sel.chars() {
        if esc {
            cur.push('\\');
            cur.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == ',' {
            terms.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    terms.push(cur);
    let unescape = |s: &str| {
        let mut out = String::new();
        let mut esc = false;
        for c in s.chars() {
            if esc {
                out.push(c);
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else {
                out.push(c);
            }
        }
        out
    };
    for t in terms {
        let t = t.trim();
        if t.contains("!=") {
            continue;
        }
        let (k, v) = match t.split_once("==") {
            Some(kv) => kv,
            None => match t.split_once('=') {
                Some(kv) => kv,
                None => continue,
            },
        };
        if k.trim() == "metadata.name" {
            return Some(unescape(v.trim()));
        }
    }
    None
}

fn valid_path_segment(s: &str) -> bool {
    s != "." && s != ".." && !s.contains('/') && !s.contains('%')
}

/// upstream's `RequestInfoFactory.NewRequestInfo`.
pub fn request_attributes(
    user: UserInfo,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
) -> Attributes {
    let mut a = Attributes {
        user,
        verb: method.to_ascii_lowercase(),
        path: path.to_string(),
        ..Default::default()
    };
    let trimmed = path.trim_matches('/');
    let parts: Vec<&str> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    };
    if parts.len() < 3 || !matches!(parts[0], "api" | "apis") {
        return a;
    }
    let mut cur = &parts[1..];
    if parts[0] == "apis" {
        if cur.len() < 3 {
            return a;
        }
        a.api_group = cur[0].to_string();
        cur = &cur[1..];
    }
    a.api_version = cur[0].to_string();
    cur = &cur[1..];
    if matches!(cur[0], "proxy" | "watch") {
        if cur.len() < 2 {
            // upstream: "unable to determine kind and namespace from url" (request fails).
            return a;
        }
        a.verb = cur[0].to_string();
        cur = &cur[1..];
    } else {
        a.verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .to_string();
    }
    a.resource_request = true;
    if cur[0] == "namespaces" && cur.len() > 1 {
        a.namespace = cur[1].to_string();
        if cur.len() > 2 && !matches!(cur[2], "status" | "finalize") {
            cur = &cur[2..];
        }
    }
    if cur.len() >= 3 && a.verb != "proxy" {
        a.subresource = cur[2].to_string();
    }
    if cur.len() >= 2 {
        a.name = cur[1].to_string();
    }
    a.resource = cur[0].to_string();
    if a.name.is_empty() && a.verb == "get" {
        a.verb = if watch_param(query.get("watch").map(String::as_str)) {
            "watch"
        } else {
            "list"
        }
        .to_string();
        if let Some(n) = query
            .get("fieldSelector")
            .and_then(|s| field_selector_name(s))
            .filter(|n| valid_path_segment(n))
        {
            a.name = n;
        }
    }
    if a.name.is_empty() && a.verb == "delete" {
        a.verb = "deletecollection".into();
    }
    a
}

fn verb_matches(r: &PolicyRule, verb: &str) -> bool {
    r.verbs.iter().any(|v| v == "*" || v == verb)
}

fn api_group_matches(r: &PolicyRule, group: &str) -> bool {
    r.api_groups.iter().any(|g| g == "*" || g == group)
}

fn resource_matches(r: &PolicyRule, combined: &str, sub: &str) -> bool {
    r.resources.iter().any(|res| {
        res == "*"
            || res == combined
            || (!sub.is_empty()
                && res.len() == sub.len() + 2
                && res.starts_with("*/")
                && res.ends_with(sub))
    })
}

fn resource_name_matches(r: &PolicyRule, name: &str) -> bool {
    r.resource_names.is_empty() || r.resource_names.iter().any(|n| n == name)
}

fn non_resource_url_matches(r: &PolicyRule, path: &str) -> bool {
    r.non_resource_urls.iter().any(|u| {
        u == "*" || u == path || (u.ends_with('*') && path.starts_with(u.trim_end_matches('*')))
    })
}

/// upstream's `RuleAllows`.
pub fn rule_allows(a: &Attributes, r: &PolicyRule) -> bool {
    if a.resource_request {
        let combined = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        return verb_matches(r, &a.verb)
            && api_group_matches(r, &a.api_group)
            && resource_matches(r, &combined, &a.subresource)
            && resource_name_matches(r, &a.name);
    }
    verb_matches(r, &a.verb) && non_resource_url_matches(r, &a.path)
}

/// A `metav1.LabelSelector` (matchLabels + matchExpressions) against an object's labels.
fn label_selector_matches(sel: &Value, obj: &Value) -> bool {
    let labels = &obj["metadata"]["labels"];
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    if let Some(ml) = sel["matchLabels"].as_object()
        && !ml.iter().all(|(k, v)| get(k) == v.as_str())
    {
        return false;
    }
    sel["matchExpressions"]
        .as_array()
        .map(|es| {
            es.iter().all(|e| {
                let key = e["key"].as_str().unwrap_or_default();
                let values = strs(&e["values"]);
                match e["operator"].as_str().unwrap_or_default() {
                    "In" => get(key).is_some_and(|v| has(&values, v)),
                    "NotIn" => get(key).is_none_or(|v| !has(&values, v)),
                    "Exists" => get(key).is_some(),
                    "DoesNotExist" => get(key).is_none(),
                    _ => false,
                }
            })
        })
        .unwrap_or(true)
}

fn obj_name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or_default()
}

fn not_found_msg(singular: &str, name: &str) -> String {
    format!("{singular}.{GROUP} \"{name}\" not found")
}

/// The rules of ClusterRole `obj`: its `rules`, or for an aggregated role the union of the
/// rules of every other ClusterRole its selectors match (sorted by name, deduplicated), as the
/// aggregation controller fills them in.
fn cluster_role_rules(c: &Cluster, obj: &Value, seen: &mut HashSet<String>) -> Vec<PolicyRule> {
    let name = obj_name(obj).to_string();
    let Some(selectors) = obj["aggregationRule"].as_object().map(|a| {
        a.get("clusterRoleSelectors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }) else {
        return PolicyRule::rules_of(obj);
    };
    if !seen.insert(name.clone()) {
        return PolicyRule::rules_of(obj);
    }
    let (_, all) = c.store.list(CLUSTER_ROLES, None);
    let mut rules: Vec<PolicyRule> = Vec::new();
    for sel in &selectors {
        for other in &all {
            if obj_name(other) == name || !label_selector_matches(sel, other) {
                continue;
            }
            for r in cluster_role_rules(c, other, seen) {
                if !rules.contains(&r) {
                    rules.push(r);
                }
            }
        }
    }
    seen.remove(&name);
    rules
}

/// upstream's `GetRoleReferenceRules`.
pub fn role_ref_rules(
    c: &Cluster,
    role_ref: &Value,
    binding_ns: &str,
) -> Result<Vec<PolicyRule>, String> {
    let name = role_ref["name"].as_str().unwrap_or_default();
    match role_ref["kind"].as_str().unwrap_or_default() {
        "Role" => c
            .store
            .get(ROLES, &(binding_ns.to_string(), name.to_string()))
            .map(|r| PolicyRule::rules_of(&r))
            .ok_or_else(|| not_found_msg("role", name)),
        "ClusterRole" => c
            .store
            .get(CLUSTER_ROLES, &(String::new(), name.to_string()))
            .map(|r| cluster_role_rules(c, &r, &mut HashSet::new()))
            .ok_or_else(|| not_found_msg("clusterrole", name)),
        other => Err(format!("unsupported role reference kind: {other:?}")),
    }
}

/// upstream's `appliesToUser`.
fn applies_to_user(user: &UserInfo, subject: &Value, namespace: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or_default();
    match subject["kind"].as_str().unwrap_or_default() {
        "User" => user.name == name,
        "Group" => user.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = subject["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(namespace);
            !ns.is_empty() && user.name == crate::auth::service_account_username(ns, name)
        }
        _ => false,
    }
}

fn describe_subject(s: &Value, binding_ns: &str) -> String {
    let kind = s["kind"].as_str().unwrap_or_default();
    let name = s["name"].as_str().unwrap_or_default();
    if kind == "ServiceAccount" {
        let ns = s["namespace"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or(binding_ns);
        return format!("{kind} \"{name}/{ns}\"");
    }
    format!("{kind} {name:?}")
}

/// A rule visitor: `(source description, rule, resolution error)`; false stops the visit.
pub type RuleVisitor<'a> =
    dyn FnMut(Option<&str>, Option<&PolicyRule>, Option<String>) -> bool + 'a;

/// upstream's `VisitRulesFor`: `visit(source, rule, error)`; stop when it returns false.
pub fn visit_rules_for(c: &Cluster, user: &UserInfo, namespace: &str, visit: &mut RuleVisitor<'_>) {
    let (_, crbs) = c.store.list(CLUSTER_ROLE_BINDINGS, None);
    for b in &crbs {
        let subjects = b["subjects"].as_array().cloned().unwrap_or_default();
        let Some(subject) = subjects.iter().find(|s| applies_to_user(user, s, "")) else {
            continue;
        };
        match role_ref_rules(c, &b["roleRef"], "") {
            Err(e) => {
                if !visit(None, None, Some(e)) {
                    return;
                }
            }
            Ok(rules) => {
                let source = format!(
                    "ClusterRoleBinding {:?} of {} {:?} to {}",
                    obj_name(b),
                    b["roleRef"]["kind"].as_str().unwrap_or_default(),
                    b["roleRef"]["name"].as_str().unwrap_or_default(),
                    describe_subject(subject, "")
                );
                for r in &rules {
                    if !visit(Some(&source), Some(r), None) {
                        return;
                    }
                }
            }
        }
    }
    if namespace.is_empty() {
        return;
    }
    let (_, rbs) = c.store.list(ROLE_BINDINGS, Some(namespace));
    for b in &rbs {
        let subjects = b["subjects"].as_array().cloned().unwrap_or_default();
        let Some(subject) = subjects
            .iter()
            .find(|s| applies_to_user(user, s, namespace))
        else {
            continue;
        };
        match role_ref_rules(c, &b["roleRef"], namespace) {
            Err(e) => {
                if !visit(None, None, Some(e)) {
                    return;
                }
            }
            Ok(rules) => {
                let source = format!(
                    "RoleBinding \"{}/{namespace}\" of {} {:?} to {}",
                    obj_name(b),
                    b["roleRef"]["kind"].as_str().unwrap_or_default(),
                    b["roleRef"]["name"].as_str().unwrap_or_default(),
                    describe_subject(subject, namespace)
                );
                for r in &rules {
                    if !visit(Some(&source), Some(r), None) {
                        return;
                    }
                }
            }
        }
    }
}

/// utilerrors.NewAggregate(errs).Error().
fn aggregate(errors: &[String]) -> String {
    if errors.len() <= 1 {
        return errors.first().cloned().unwrap_or_default();
    }
    let mut seen: Vec<&String> = Vec::new();
    for e in errors {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    if seen.len() == 1 {
        return seen[0].clone();
    }
    let joined: Vec<&str> = seen.iter().map(|s| s.as_str()).collect();
    format!("[{}]", joined.join(", "))
}

/// Every rule that applies to `user` in `namespace`, and the resolution errors.
pub fn rules_for(c: &Cluster, user: &UserInfo, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    visit_rules_for(c, user, namespace, &mut |_, r, e| {
        if let Some(r) = r {
            rules.push(r.clone());
        }
        if let Some(e) = e {
            errors.push(e);
        }
        true
    });
    (rules, errors)
}

/// An authorization decision and its reason (`RBAC: allowed by ...` / resolution errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// The union authorizer of a default cluster: `system:masters`, then RBAC.
pub fn authorize(c: &Cluster, a: &Attributes) -> Decision {
    if a.user.is_privileged() {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let mut allowed = None;
    let mut errors = Vec::new();
    visit_rules_for(c, &a.user, &a.namespace, &mut |source, rule, err| {
        if let Some(r) = rule
            && rule_allows(a, r)
        {
            allowed = Some(format!("RBAC: allowed by {}", source.unwrap_or_default()));
            return false;
        }
        if let Some(e) = err {
            errors.push(e);
        }
        true
    });
    match allowed {
        Some(reason) => Decision {
            allowed: true,
            reason,
        },
        None => Decision {
            allowed: false,
            reason: if errors.is_empty() {
                String::new()
            } else {
                format!("RBAC: {}", aggregate(&errors))
            },
        },
    }
}

/// upstream's `forbiddenMessage`.
pub fn forbidden_message(a: &Attributes) -> String {
    let user = &a.user.name;
    if !a.resource_request {
        return format!("User {user:?} cannot {} path {:?}", a.verb, a.path);
    }
    let resource = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    if !a.namespace.is_empty() {
        return format!(
            "User {user:?} cannot {} resource {resource:?} in API group {:?} in the namespace {:?}",
            a.verb, a.api_group, a.namespace
        );
    }
    format!(
        "User {user:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
        a.verb, a.api_group
    )
}

/// `apierrors.NewForbidden(gr, name, err)`: `<gr> ["name" ]is forbidden: <err>`.
pub fn new_forbidden(group: &str, resource: &str, name: &str, err: &str) -> ApiError {
    let gr = GroupResource::new(group, resource);
    let message = if group.is_empty() && resource.is_empty() {
        format!("forbidden: {err}")
    } else if name.is_empty() {
        format!("{gr} is forbidden: {err}")
    } else {
        format!("{gr} {name:?} is forbidden: {err}")
    };
    let mut details = json!({});
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    if !resource.is_empty() {
        details["kind"] = json!(resource);
    }
    if !name.is_empty() {
        details["name"] = json!(name);
    }
    let mut e = ApiError::new(403, "Forbidden", message);
    e.details = Some(details);
    e
}

/// The 403 the authorization filter answers (upstream's `responsewriters.Forbidden`).
pub fn forbidden(a: &Attributes, reason: &str) -> ApiError {
    let msg = forbidden_message(a);
    let err = if reason.is_empty() {
        msg
    } else {
        format!("{msg}: {reason}")
    };
    if !a.resource_request {
        return new_forbidden("", "", "", &err);
    }
    new_forbidden(&a.api_group, &a.resource, &a.name, &err)
}

/// Authorize `a`, or the 403 for it.
pub fn check(c: &Cluster, a: &Attributes) -> ApiResult<()> {
    let d = authorize(c, a);
    if d.allowed {
        Ok(())
    } else {
        Err(forbidden(a, &d.reason))
    }
}

/// A create-on-update/apply also needs `create` (upstream's `withAuthorization`).
pub fn check_create_on_update(c: &Cluster, a: &Attributes) -> ApiResult<()> {
    let mut create = a.clone();
    create.verb = "create".into();
    let d = authorize(c, &create);
    if d.allowed {
        return Ok(());
    }
    Err(new_forbidden(&a.api_group, &a.resource, &a.name, &d.reason))
}

// ---- privilege escalation ----------------------------------------------------------------

fn breakdown(r: &PolicyRule) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    for g in &r.api_groups {
        for res in &r.resources {
            for v in &r.verbs {
                if r.resource_names.is_empty() {
                    out.push(PolicyRule {
                        api_groups: vec![g.clone()],
                        resources: vec![res.clone()],
                        verbs: vec![v.clone()],
                        ..Default::default()
                    });
                } else {
                    for n in &r.resource_names {
                        out.push(PolicyRule {
                            api_groups: vec![g.clone()],
                            resources: vec![res.clone()],
                            verbs: vec![v.clone()],
                            resource_names: vec![n.clone()],
                            ..Default::default()
                        });
                    }
                }
            }
        }
    }
    for u in &r.non_resource_urls {
        for v in &r.verbs {
            out.push(PolicyRule {
                non_resource_urls: vec![u.clone()],
                verbs: vec![v.clone()],
                ..Default::default()
            });
        }
    }
    out
}

fn has_all(set: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|w| has(set, w))
}

fn resource_covers_all(set: &[String], wanted: &[String]) -> bool {
    if has(set, "*") || has_all(set, wanted) {
        return true;
    }
    wanted.iter().all(|path| {
        if has(set, path) {
            return true;
        }
        match path.split_once('/') {
            Some((_, sub)) => has(set, &format!("*/{sub}")),
            None => false,
        }
    })
}

fn non_resource_urls_cover_all(set: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|path| {
        set.iter().any(|owner| {
            owner == path || (owner.ends_with('*') && path.starts_with(owner.trim_end_matches('*')))
        })
    })
}

fn rule_covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let verbs = has(&owner.verbs, "*") || has_all(&owner.verbs, &sub.verbs);
    let groups = has(&owner.api_groups, "*") || has_all(&owner.api_groups, &sub.api_groups);
    let resources = resource_covers_all(&owner.resources, &sub.resources);
    let urls = non_resource_urls_cover_all(&owner.non_resource_urls, &sub.non_resource_urls);
    let names = if sub.resource_names.is_empty() {
        owner.resource_names.is_empty()
    } else {
        owner.resource_names.is_empty() || has_all(&owner.resource_names, &sub.resource_names)
    };
    verbs && groups && resources && names && urls
}

/// upstream's `Covers`: whether `owner` covers `servant`, and the uncovered atomic rules.
pub fn covers(owner: &[PolicyRule], servant: &[PolicyRule]) -> (bool, Vec<PolicyRule>) {
    let missing: Vec<PolicyRule> = servant
        .iter()
        .flat_map(breakdown)
        .filter(|s| !owner.iter().any(|o| rule_covers(o, s)))
        .collect();
    (missing.is_empty(), missing)
}

/// upstream's `CompactRules`: single group/resource rules differing only in verbs merged.
fn compact_rules(rules: Vec<PolicyRule>) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    let mut simple: Vec<((String, String), PolicyRule)> = Vec::new();
    for r in rules {
        let is_simple = r.resource_names.is_empty()
            && r.non_resource_urls.is_empty()
            && r.api_groups.len() == 1
            && r.resources.len() == 1;
        if !is_simple {
            out.push(r);
            continue;
        }
        let key = (r.api_groups[0].clone(), r.resources[0].clone());
        match simple.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => existing.verbs.extend(r.verbs),
            None => simple.push((key, r)),
        }
    }
    out.extend(simple.into_iter().map(|(_, r)| r));
    out
}

/// upstream's `ConfirmNoEscalation`: the user's rules in `namespace` must cover `rules`.
pub fn confirm_no_escalation(
    c: &Cluster,
    user: &UserInfo,
    namespace: &str,
    rules: &[PolicyRule],
) -> Result<(), String> {
    let (owner, errors) = rules_for(c, user, namespace);
    let (ok, missing) = covers(&owner, rules);
    if ok {
        return Ok(());
    }
    let descriptions: BTreeSet<String> = compact_rules(missing)
        .iter()
        .map(PolicyRule::compact_string)
        .collect();
    let mut msg = format!(
        "user {:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        go_quote_list(&user.groups),
        descriptions.into_iter().collect::<Vec<_>>().join("\n")
    );
    if !errors.is_empty() {
        msg.push_str(&format!("; resolution errors: [{}]", aggregate(&errors)));
    }
    Err(msg)
}

fn full_authority() -> Vec<PolicyRule> {
    vec![
        PolicyRule {
            verbs: vec!["*".into()],
            api_groups: vec!["*".into()],
            resources: vec!["*".into()],
            ..Default::default()
        },
        PolicyRule {
            verbs: vec!["*".into()],
            non_resource_urls: vec!["*".into()],
            ..Default::default()
        },
    ]
}

fn has_aggregation_rule(obj: Option<&Value>) -> bool {
    obj.is_some_and(|o| {
        o["aggregationRule"]["clusterRoleSelectors"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    })
}

/// upstream's `IsOnlyMutatingGCFields`: only ownerReferences/finalizers (and managedFields)
/// differ.
fn only_gc_fields(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "ownerReferences",
                "finalizers",
                "managedFields",
                "resourceVersion",
                "selfLink",
            ] {
                m.remove(k);
            }
        }
        v
    };
    strip(new) == strip(old)
}

/// Whether writes of `kind` go through upstream's policy-based (escalation-checking) storage.
pub fn guarded_kind(group: &str, kind: &str) -> bool {
    group == GROUP
        && matches!(
            kind,
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
        )
}

/// The escalation checks of a Role/ClusterRole/RoleBinding/ClusterRoleBinding create or update:
/// `a` is the request, `new` the object to be stored, `old` the live one (None on create).
pub fn check_escalation(
    c: &Cluster,
    a: &Attributes,
    kind: &str,
    new: &Value,
    old: Option<&Value>,
) -> ApiResult<()> {
    if a.user.is_privileged() {
        return Ok(());
    }
    let name = obj_name(new);
    let resource = match kind {
        "Role" => "roles",
        "ClusterRole" => "clusterroles",
        "RoleBinding" => "rolebindings",
        _ => "clusterrolebindings",
    };
    let namespace = if matches!(kind, "Role" | "RoleBinding") {
        a.namespace.as_str()
    } else {
        ""
    };
    let forbid = |msg: &str| new_forbidden(GROUP, resource, name, msg);
    match kind {
        "Role" | "ClusterRole" => {
            // RoleEscalationAuthorized: the `escalate` verb on the request's resource.
            let mut esc = a.clone();
            esc.verb = "escalate".into();
            esc.api_version = "*".into();
            esc.subresource.clear();
            if authorize(c, &esc).allowed {
                return Ok(());
            }
            if let Some(o) = old
                && only_gc_fields(new, o)
            {
                return Ok(());
            }
            confirm_no_escalation(c, &a.user, namespace, &PolicyRule::rules_of(new))
                .map_err(|m| forbid(&m))?;
            if kind == "ClusterRole"
                && (has_aggregation_rule(Some(new)) || has_aggregation_rule(old))
                && confirm_no_escalation(c, &a.user, namespace, &full_authority()).is_err()
            {
                return Err(forbid(
                    "must have cluster-admin privileges to use the aggregationRule",
                ));
            }
            Ok(())
        }
        _ => {
            if let Some(o) = old
                && only_gc_fields(new, o)
            {
                return Ok(());
            }
            let role_ref = &new["roleRef"];
            // BindingAuthorized: the `bind` verb on the referenced role.
            let bind = Attributes {
                user: a.user.clone(),
                verb: "bind".into(),
                resource_request: true,
                api_group: role_ref["apiGroup"].as_str().unwrap_or_default().into(),
                namespace: namespace.into(),
                resource: match role_ref["kind"].as_str() {
                    Some("ClusterRole") => "clusterroles",
                    Some("Role") => "roles",
                    _ => "",
                }
                .into(),
                name: role_ref["name"].as_str().unwrap_or_default().into(),
                ..Default::default()
            };
            if !bind.resource.is_empty() && authorize(c, &bind).allowed {
                return Ok(());
            }
            let rules = role_ref_rules(c, role_ref, namespace).map_err(|e| {
                if e.ends_with("not found") {
                    let (singular, n) = match role_ref["kind"].as_str() {
                        Some("Role") => ("role", bind.name.as_str()),
                        _ => ("clusterrole", bind.name.as_str()),
                    };
                    let mut err = ApiError::not_found(&GroupResource::new(GROUP, singular), n);
                    err.message = e;
                    err
                } else {
                    ApiError::internal(e)
                }
            })?;
            confirm_no_escalation(c, &a.user, namespace, &rules).map_err(|m| forbid(&m))
        }
    }
}

// ---- bootstrap policy and the aggregation controller ---------------------------------------

fn bootstrap_meta(name: &str) -> Value {
    json!({
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

/// The default ClusterRoles/ClusterRoleBindings a fresh cluster has that matter here:
/// `cluster-admin` (bound to `system:masters`), discovery, health and version for every
/// authenticated user, self-reviews, the ServiceAccount issuer discovery documents.
pub fn bootstrap_objects() -> Vec<Value> {
    let url_rule = |urls: &[&str]| json!({"verbs": ["get"], "nonResourceURLs": urls});
    let roles = [
        (
            "cluster-admin",
            json!([
                {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                {"verbs": ["*"], "nonResourceURLs": ["*"]},
            ]),
        ),
        (
            "system:discovery",
            json!([url_rule(&[
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/healthz",
                "/livez",
                "/openapi",
                "/openapi/*",
                "/readyz",
                "/version",
                "/version/",
            ])]),
        ),
        (
            "system:basic-user",
            json!([
                {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]},
                {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
            ]),
        ),
        (
            "system:public-info-viewer",
            json!([url_rule(&[
                "/healthz",
                "/livez",
                "/readyz",
                "/version",
                "/version/"
            ])]),
        ),
        (
            "system:monitoring",
            json!([url_rule(&[
                "/healthz",
                "/healthz/*",
                "/livez",
                "/livez/*",
                "/metrics",
                "/metrics/slis",
                "/readyz",
                "/readyz/*",
            ])]),
        ),
        (
            "system:service-account-issuer-discovery",
            json!([url_rule(&[
                "/.well-known/openid-configuration",
                "/.well-known/openid-configuration/",
                "/openid/v1/jwks",
                "/openid/v1/jwks/",
            ])]),
        ),
        (
            "system:auth-delegator",
            json!([
                {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"]},
                {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"]},
            ]),
        ),
    ];
    let bindings: [(&str, &[&str]); 6] = [
        ("cluster-admin", &[SYSTEM_MASTERS]),
        ("system:discovery", &[AUTHENTICATED]),
        ("system:basic-user", &[AUTHENTICATED]),
        (
            "system:public-info-viewer",
            &[AUTHENTICATED, "system:unauthenticated"],
        ),
        ("system:monitoring", &["system:monitoring"]),
        (
            "system:service-account-issuer-discovery",
            &[ALL_SERVICE_ACCOUNTS],
        ),
    ];
    let mut out = Vec::new();
    for (name, rules) in roles {
        out.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": bootstrap_meta(name),
            "rules": rules,
        }));
    }
    for (name, groups) in bindings {
        let subjects: Vec<Value> = groups
            .iter()
            .map(|g| json!({"kind": "Group", "apiGroup": GROUP, "name": g}))
            .collect();
        out.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": bootstrap_meta(name),
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
            "subjects": subjects,
        }));
    }
    out
}

/// Create the bootstrap policy (at start).
pub fn bootstrap(c: &Cluster) -> ApiResult<()> {
    let opts = WriteOpts {
        field_manager: Some("kube-apiserver".into()),
        ..Default::default()
    };
    for obj in bootstrap_objects() {
        let plural = if obj["kind"] == "ClusterRole" {
            "clusterroles"
        } else {
            "clusterrolebindings"
        };
        let rt = c
            .registry
            .find(GROUP, "v1", plural)
            .ok_or_else(|| ApiError::internal("RBAC kinds are built in"))?;
        c.create(&rt, None, obj, &opts)?;
    }
    Ok(())
}

/// Write the aggregated rules into every ClusterRole with an `aggregationRule` whose stored
/// `rules` differ (upstream's clusterrole-aggregation controller).
pub fn sync_aggregated(c: &Cluster) {
    let Some(rt) = c.registry.find(GROUP, "v1", "clusterroles") else {
        return;
    };
    let (_, all) = c.store.list(CLUSTER_ROLES, None);
    for role in all {
        if !role["aggregationRule"].is_object() || role["metadata"]["deletionTimestamp"].is_string()
        {
            continue;
        }
        let want = cluster_role_rules(c, &role, &mut HashSet::new());
        if want == PolicyRule::rules_of(&role) {
            continue;
        }
        let rules: Vec<Value> = want.iter().map(PolicyRule::to_value).collect();
        let _ = c.patch(
            &rt,
            None,
            obj_name(&role),
            PatchType::Merge,
            json!({"rules": rules}),
            None,
            &WriteOpts {
                field_manager: Some(AGGREGATION_MANAGER.into()),
                ..Default::default()
            },
        );
    }
}

/// The aggregation controller: resync on every ClusterRole change.
pub async fn run_aggregation(
    c: Arc<Cluster>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Arc<crate::store::Change>>,
) {
    while let Some(first) = rx.recv().await {
        let mut relevant = &*first.storage == CLUSTER_ROLES;
        while let Ok(ch) = rx.try_recv() {
            relevant |= &*ch.storage == CLUSTER_ROLES;
        }
        if relevant {
            sync_aggregated(&c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, path: &str, query: &[(&str, &str)]) -> Attributes {
        let q = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        request_attributes(UserInfo::default(), method, path, &q)
    }

    fn key(a: &Attributes) -> (bool, &str, &str, &str, &str, &str, &str) {
        (
            a.resource_request,
            a.verb.as_str(),
            a.api_group.as_str(),
            a.namespace.as_str(),
            a.resource.as_str(),
            a.subresource.as_str(),
            a.name.as_str(),
        )
    }

    #[test]
    fn request_info_as_upstream() {
        let a = attrs("GET", "/api/v1/namespaces/ns/pods/p/log", &[]);
        assert_eq!(key(&a), (true, "get", "", "ns", "pods", "log", "p"));
        let a = attrs("GET", "/apis/apps/v1/deployments", &[("watch", "1")]);
        assert_eq!(key(&a), (true, "watch", "apps", "", "deployments", "", ""));
        let a = attrs(
            "GET",
            "/api/v1/namespaces/ns/secrets",
            &[("watch", "false")],
        );
        assert_eq!(key(&a), (true, "list", "", "ns", "secrets", "", ""));
        let a = attrs("GET", "/api/v1/namespaces/team", &[]);
        assert_eq!(key(&a), (true, "get", "", "team", "namespaces", "", "team"));
        let a = attrs("PUT", "/api/v1/namespaces/team/finalize", &[]);
        assert_eq!(
            key(&a),
            (true, "update", "", "team", "namespaces", "finalize", "team")
        );
        let a = attrs("GET", "/api/v1/namespaces", &[]);
        assert_eq!(key(&a), (true, "list", "", "", "namespaces", "", ""));
        let a = attrs("DELETE", "/api/v1/namespaces/ns/configmaps", &[]);
        assert_eq!(key(&a).1, "deletecollection");
        let a = attrs("GET", "/api/v1/watch/namespaces/ns/pods/p", &[]);
        assert_eq!(key(&a), (true, "watch", "", "ns", "pods", "", "p"));
        let a = attrs(
            "GET",
            "/api/v1/namespaces/ns/secrets",
            &[("fieldSelector", "type=Opaque,metadata.name==db")],
        );
        assert_eq!(key(&a), (true, "list", "", "ns", "secrets", "", "db"));
        let a = attrs(
            "GET",
            "/api/v1/namespaces/ns/secrets",
            &[("fieldSelector", "metadata.name!=db")],
        );
        assert_eq!(a.name, "");
        for p in [
            "/api",
            "/api/v1",
            "/apis/apps",
            "/apis/apps/v1",
            "/version",
            "/openapi/v3/apis/apps/v1",
        ] {
            let a = attrs("GET", p, &[]);
            assert!(!a.resource_request, "{p}");
            assert_eq!((a.verb.as_str(), a.path.as_str()), ("get", p));
        }
    }

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        PolicyRule {
            api_groups: v(groups),
            resources: v(resources),
            verbs: v(verbs),
            ..Default::default()
        }
    }

    #[test]
    fn resource_matching_and_covers() {
        let mut a = attrs(
            "PATCH",
            "/apis/apps/v1/namespaces/ns/deployments/d/status",
            &[],
        );
        assert!(rule_allows(&a, &rule(&["apps"], &["*/status"], &["patch"])));
        assert!(rule_allows(
            &a,
            &rule(&["*"], &["deployments/status"], &["*"])
        ));
        assert!(!rule_allows(
            &a,
            &rule(&["apps"], &["deployments/*"], &["patch"])
        ));
        assert!(!rule_allows(
            &a,
            &rule(&["apps"], &["deployments"], &["patch"])
        ));
        a.subresource.clear();
        assert!(!rule_allows(
            &a,
            &rule(&["apps"], &["*/status"], &["patch"])
        ));

        let owner = [rule(
            &["apps"],
            &["deployments", "*/scale"],
            &["get", "list"],
        )];
        assert!(covers(&owner, &[rule(&["apps"], &["deployments/scale"], &["get"])]).0);
        let (ok, missing) = covers(
            &owner,
            &[rule(
                &["apps"],
                &["deployments", "replicasets"],
                &["get", "watch"],
            )],
        );
        assert!(!ok);
        let compact: Vec<String> = compact_rules(missing)
            .iter()
            .map(PolicyRule::compact_string)
            .collect();
        assert_eq!(
            compact,
            vec![
                r#"{APIGroups:["apps"], Resources:["deployments"], Verbs:["watch"]}"#,
                r#"{APIGroups:["apps"], Resources:["replicasets"], Verbs:["get" "watch"]}"#,
            ]
        );
    }
}
