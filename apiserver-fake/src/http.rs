//! The HTTP surface: URL routing (`/api`, `/apis`, resource paths, discovery, openapi,
//! health), authentication, fault hooks, request decoding (JSON/YAML bodies, query
//! parameters) and response encoding (objects, lists, Tables, Status errors, watch streams).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Value, json};

use crate::auth;
use crate::discovery;
use crate::error::{ApiError, ApiResult};
use crate::faults::{Faults, RequestInfo};
use crate::openapi;
use crate::ops::{
    Cluster, DeleteOpts, ListOpts, ListPage, PatchType, WriteOpts, parse_propagation,
};
use crate::rbac::{self, Attributes};
use crate::registry::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::table::{self, Presentation};
use crate::token::{self, TokenIssuer};
use crate::typed::FieldValidation;
use crate::watch::{self, WatchRequest};

/// Everything a request handler needs.
pub struct AppState {
    pub cluster: Arc<Cluster>,
    pub faults: Faults,
    /// Bearer token required on every request when set (the superuser's token).
    pub token: Option<String>,
    /// Signs and checks ServiceAccount tokens.
    pub issuer: TokenIssuer,
    pub bookmark_interval: Duration,
    /// `host:port` reported in `/api`'s serverAddressByClientCIDRs.
    pub server_addr: Mutex<String>,
}

/// Marker on a response whose connection must be dropped (fault: refuse connections).
#[derive(Clone, Copy, Debug)]
pub struct DropConnection;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(State(st): State<Arc<AppState>>, req: Request) -> Response {
    match handle_inner(st, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

pub fn error_response(e: &ApiError) -> Response {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(s) = e.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

fn json_response(code: u16, v: &Value) -> Response {
    bytes_response(
        code,
        serde_json::to_vec(v).unwrap_or_default(),
        "application/json",
    )
}

fn bytes_response(code: u16, body: Vec<u8>, ct: &str) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(body))
        .expect("valid response")
}

fn query_map(q: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A request for a resource.
struct ResReq {
    rt: Arc<ResourceType>,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

enum Target {
    Version,
    Health,
    ApiVersions,
    GroupList,
    Group(String),
    ResourceList(String, String),
    OpenApiV2,
    OpenApiV3Index,
    OpenApiV3(String, String),
    OpenIdConfiguration,
    Jwks,
    Resource(ResReq),
}

fn route(cluster: &Cluster, path: &str) -> ApiResult<Target> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest): (String, String, &[&str]) = match segs.as_slice() {
        ["version"] => return Ok(Target::Version),
        [".well-known", "openid-configuration"] => return Ok(Target::OpenIdConfiguration),
        ["openid", "v1", "jwks"] => return Ok(Target::Jwks),
        ["healthz" | "livez" | "readyz", ..] => return Ok(Target::Health),
        ["openapi", "v2"] => return Ok(Target::OpenApiV2),
        ["openapi", "v3"] => return Ok(Target::OpenApiV3Index),
        ["openapi", "v3", "api", v] => return Ok(Target::OpenApiV3(String::new(), v.to_string())),
        ["openapi", "v3", "apis", g, v] => {
            return Ok(Target::OpenApiV3(g.to_string(), v.to_string()));
        }
        ["api"] => return Ok(Target::ApiVersions),
        ["apis"] => return Ok(Target::GroupList),
        ["apis", g] => return Ok(Target::Group(g.to_string())),
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return Err(ApiError::no_route()),
    };
    if rest.is_empty() {
        return Ok(Target::ResourceList(group, version));
    }
    let find = |plural: &str| cluster.registry.find(&group, &version, plural);
    let (namespace, plural, name, sub) = match rest {
        ["namespaces", ns, plural, more @ ..]
            if !(group.is_empty()
                && more.is_empty()
                && matches!(*plural, "status" | "finalize")
                && find(plural).is_none()) =>
        {
            (
                Some(ns.to_string()),
                *plural,
                more.first().copied(),
                more.get(1).copied(),
            )
        }
        [plural, more @ ..] => (None, *plural, more.first().copied(), more.get(1).copied()),
        [] => unreachable!("rest is not empty"),
    };
    if rest.len() > 5 || (namespace.is_none() && rest.len() > 3) {
        return Err(ApiError::no_route());
    }
    let rt = find(plural).ok_or_else(ApiError::no_route)?;
    if namespace.is_some() && !rt.namespaced {
        return Err(ApiError::no_route());
    }
    if let Some(s) = sub {
        let ok = (s == "status" && rt.status)
            || (s == "finalize" && rt.kind == "Namespace")
            || (s == "token" && rt.group.is_empty() && rt.kind == "ServiceAccount")
            || (s == "scale" && crate::scale::paths(&rt).is_some());
        if !ok {
            return Err(ApiError::no_route());
        }
    }
    Ok(Target::Resource(ResReq {
        rt,
        namespace,
        name: name.map(String::from),
        sub: sub.map(String::from),
    }))
}

fn verb_of(method: &Method, r: &ResReq, q: &HashMap<String, String>) -> &'static str {
    let watch = rbac::watch_param(q.get("watch").map(String::as_str));
    match (method.as_str(), r.name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", false) => "create",
        ("POST", true) if r.sub.as_deref() == Some("token") => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "",
    }
}

fn header_str(req: &Request, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn handle_inner(st: Arc<AppState>, req: Request) -> ApiResult<Response> {
    let path = req.uri().path().to_string();
    let target = route(&st.cluster, &path);
    let user = auth::authenticate(
        &st.cluster,
        &st.issuer,
        st.token.as_deref(),
        header_str(&req, header::AUTHORIZATION),
        matches!(target, Ok(Target::Health)),
    )?;
    let user = auth::impersonate(&st.cluster, &user, req.headers())?.unwrap_or(user);
    let q = query_map(req.uri().query());
    // Authorization comes before routing, from the URL alone (a denied request for a
    // resource that does not exist is a 403, as upstream).
    let attrs = rbac::request_attributes(user, req.method().as_str(), &path, &q);
    rbac::check(&st.cluster, &attrs)?;
    let accept = header_str(&req, header::ACCEPT).map(String::from);
    let reg = &st.cluster.registry;
    match target? {
        Target::Version => Ok(json_response(200, &discovery::version())),
        Target::Health => Ok(bytes_response(200, b"ok".to_vec(), "text/plain")),
        Target::ApiVersions => {
            if discovery::wants_aggregated(accept.as_deref()) {
                return Ok(bytes_response(
                    200,
                    serde_json::to_vec(&discovery::aggregated(reg, true)).unwrap_or_default(),
                    discovery::AGGREGATED_CT,
                ));
            }
            let addr = st.server_addr.lock().map(|a| a.clone()).unwrap_or_default();
            Ok(json_response(200, &discovery::api_versions(&addr)))
        }
        Target::GroupList => {
            if discovery::wants_aggregated(accept.as_deref()) {
                return Ok(bytes_response(
                    200,
                    serde_json::to_vec(&discovery::aggregated(reg, false)).unwrap_or_default(),
                    discovery::AGGREGATED_CT,
                ));
            }
            Ok(json_response(200, &discovery::api_group_list(reg)))
        }
        Target::Group(g) => discovery::api_group_doc(reg, &g)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::no_route),
        Target::ResourceList(g, v) => discovery::resource_list(reg, &g, &v)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::no_route),
        Target::OpenApiV2 => Ok(json_response(200, &openapi::v2(reg))),
        Target::OpenApiV3Index => Ok(json_response(200, &openapi::v3_index(reg))),
        Target::OpenApiV3(g, v) => openapi::v3_group_version(reg, &g, &v)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::no_route),
        Target::OpenIdConfiguration => {
            let addr = st.server_addr.lock().map(|a| a.clone()).unwrap_or_default();
            let mut r = json_response(
                200,
                &token::openid_configuration(&format!("https://{addr}{}", token::JWKS_PATH)),
            );
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            Ok(r)
        }
        Target::Jwks => {
            let mut r = bytes_response(
                200,
                serde_json::to_vec(&st.issuer.jwks()?).unwrap_or_default(),
                "application/jwk-set+json",
            );
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            Ok(r)
        }
        Target::Resource(r) => resource(st, req, r, q, accept, attrs).await,
    }
}

async fn read_body(req: Request) -> ApiResult<(Option<String>, Bytes)> {
    let ct = header_str(&req, header::CONTENT_TYPE).map(String::from);
    let body = axum::body::to_bytes(req.into_body(), 16 * 1024 * 1024)
        .await
        .map_err(|e| ApiError::new(413, "RequestEntityTooLarge", e.to_string()))?;
    Ok((ct, body))
}

/// Decode a request body that must be an object of `rt` (create/update): JSON, YAML or,
/// for the kinds `protobuf` knows, protobuf.
fn decode_object(rt: &ResourceType, ct: Option<&str>, body: &[u8]) -> ApiResult<Value> {
    decode_kind(&rt.group, &rt.kind, ct, body)
}

/// `decode_object` for a body of kind `group`/`kind` (e.g. a subresource's TokenRequest).
fn decode_kind(group: &str, kind: &str, ct: Option<&str>, body: &[u8]) -> ApiResult<Value> {
    let mt = ct
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if mt == "application/vnd.kubernetes.protobuf" {
        return crate::protobuf::decode(body, group, kind).map_err(|e| match e {
            Some(msg) => ApiError::bad_request(msg),
            None => ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (apiserver-fake decodes protobuf only for ConfigMap, Secret, Namespace, ServiceAccount, RBAC kinds, TokenRequest and the reviews, not {})",
                    kind
                ),
            ),
        });
    }
    decode(ct, body)
}

fn decode(ct: Option<&str>, body: &[u8]) -> ApiResult<Value> {
    let mt = ct
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    match mt {
        "application/json" | "" | "*/*" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        }),
        "application/yaml" | "application/apply-patch+yaml" => {
            serde_yaml_ng::from_slice::<Value>(body)
                .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
        }
        other => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {other})"
            ),
        )),
    }
}

fn write_opts(q: &HashMap<String, String>, user_agent: Option<String>) -> ApiResult<WriteOpts> {
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            )));
        }
    };
    let force = match q.get("force").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid force value: {other:?}"
            )));
        }
    };
    Ok(WriteOpts {
        dry_run,
        field_manager: q.get("fieldManager").cloned().filter(|m| !m.is_empty()),
        user_agent,
        force,
        field_validation: FieldValidation::parse(q.get("fieldValidation").map(String::as_str))?,
        warnings: Default::default(),
    })
}

/// Response with one `Warning: 299 - "..."` header per warning.
fn with_warnings(mut resp: Response, o: &WriteOpts) -> Response {
    if let Ok(ws) = o.warnings.lock() {
        for w in ws.iter() {
            let text = format!("299 - {}", serde_json::Value::String(w.clone()));
            if let Ok(v) = HeaderValue::from_str(&text) {
                resp.headers_mut().append(header::WARNING, v);
            }
        }
    }
    resp
}

fn list_opts(q: &HashMap<String, String>) -> ApiResult<ListOpts> {
    Ok(ListOpts {
        label_selector: q.get("labelSelector").cloned(),
        field_selector: q.get("fieldSelector").cloned(),
        limit: match q.get("limit") {
            None => None,
            Some(l) => Some(
                l.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
            ),
        },
        continue_token: q.get("continue").cloned().filter(|c| !c.is_empty()),
        resource_version: q.get("resourceVersion").cloned(),
        resource_version_match: q
            .get("resourceVersionMatch")
            .cloned()
            .filter(|m| !m.is_empty()),
    })
}

async fn resource(
    st: Arc<AppState>,
    req: Request,
    r: ResReq,
    q: HashMap<String, String>,
    accept: Option<String>,
    attrs: Attributes,
) -> ApiResult<Response> {
    let method = req.method().clone();
    let verb = verb_of(&method, &r, &q);
    if verb.is_empty() || !r.rt.has_verb(verb) {
        return Err(ApiError::method_not_allowed());
    }
    if r.rt.namespaced
        && r.namespace.is_none()
        && !matches!(verb, "list" | "watch" | "deletecollection")
    {
        return Err(ApiError::no_route());
    }
    let decision = st.faults.decide(&RequestInfo {
        verb: verb.into(),
        group: r.rt.group.clone(),
        resource: r.rt.plural.clone(),
        subresource: r.sub.clone(),
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        user: attrs.user.name.clone(),
    });
    if let Some(d) = decision.latency {
        tokio::time::sleep(d).await;
    }
    if decision.refuse_for.is_some() {
        let mut resp = error_response(&ApiError::new(
            503,
            "ServiceUnavailable",
            "connection refused",
        ));
        resp.extensions_mut().insert(DropConnection);
        return Ok(resp);
    }
    if let Some(e) = decision.error {
        return Err(e);
    }
    let presentation = Presentation::from_accept(
        accept.as_deref(),
        q.get("includeObject").map(String::as_str),
    );
    let ua = header_str(&req, header::USER_AGENT).map(String::from);
    let cluster = st.cluster.clone();
    let rt = r.rt.clone();
    let ns = r.namespace.as_deref();
    let sub = r.sub.as_deref();
    if sub == Some("token") {
        let (ct, body) = read_body(req).await?;
        let v = decode_kind(
            "authentication.k8s.io",
            "TokenRequest",
            ct.as_deref(),
            &body,
        )?;
        let out = token::token_request(
            &cluster,
            &st.issuer,
            ns.unwrap_or_default(),
            r.name.as_deref().unwrap_or_default(),
            &v,
        )?;
        return Ok(json_response(201, &out));
    }
    if rt.is_review() {
        let (ct, body) = read_body(req).await?;
        let v = decode_object(&rt, ct.as_deref(), &body)?;
        let out = crate::reviews::handle(&cluster, &st.issuer, &attrs.user, &rt, ns, &v)?;
        return Ok(json_response(201, &out));
    }
    let guarded = !attrs.user.is_privileged() && rbac::guarded_kind(&rt.group, &rt.kind);
    if sub == Some("scale") {
        let name = r.name.as_deref().unwrap_or_default();
        return match verb {
            "get" => Ok(json_response(200, &cluster.get_scale(&rt, ns, name)?)),
            "update" => {
                let o = write_opts(&q, ua)?;
                let (ct, body) = read_body(req).await?;
                let v = decode(ct.as_deref(), &body)?;
                Ok(json_response(
                    200,
                    &cluster.update_scale(&rt, ns, name, &v, &o)?,
                ))
            }
            "patch" => {
                let o = write_opts(&q, ua)?;
                let (ct, body) = read_body(req).await?;
                let pt = PatchType::from_content_type(ct.as_deref().unwrap_or_default())
                    .ok_or_else(|| {
                        ApiError::unsupported_media_type(&[
                            "application/json-patch+json",
                            "application/merge-patch+json",
                            "application/strategic-merge-patch+json",
                        ])
                    })?;
                let patch: Value = serde_json::from_slice(&body)
                    .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
                Ok(json_response(
                    200,
                    &cluster.patch_scale(&rt, ns, name, pt, &patch, &o)?,
                ))
            }
            _ => Err(ApiError::method_not_allowed()),
        };
    }
    match verb {
        "get" => {
            let obj = cluster.get(&rt, ns, r.name.as_deref().unwrap_or_default())?;
            Ok(json_response(200, &presentation.render_one(&rt, obj)))
        }
        "list" => {
            let page = cluster.list(&rt, ns, &list_opts(&q)?)?;
            Ok(list_response(&rt, page, &presentation))
        }
        "watch" => {
            let wr = WatchRequest {
                rt: rt.clone(),
                namespace: r.namespace.clone(),
                labels: LabelSelector::parse(
                    q.get("labelSelector")
                        .map(String::as_str)
                        .unwrap_or_default(),
                )?,
                fields: FieldSelector::parse(
                    q.get("fieldSelector")
                        .map(String::as_str)
                        .unwrap_or_default(),
                    &rt,
                )?,
                resource_version: q.get("resourceVersion").cloned(),
                resource_version_match: q.get("resourceVersionMatch").cloned(),
                send_initial_events: q.get("sendInitialEvents").is_some_and(|v| v == "true"),
                bookmarks: q.get("allowWatchBookmarks").is_some_and(|v| v == "true"),
                timeout: q
                    .get("timeoutSeconds")
                    .and_then(|t| t.parse::<u64>().ok())
                    .filter(|t| *t > 0)
                    .map(Duration::from_secs),
                presentation,
                drop_after: decision.drop_watch_after,
                force_gone: decision.watch_gone,
            };
            let rx = watch::start(cluster, wr, st.bookmark_interval)?;
            let stream = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
            });
            // A stream ended by the faults closes as an API server's would.
            let stream = futures::StreamExt::take_until(stream, st.faults.watches_ended());
            Ok(Response::builder()
                .status(200)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CACHE_CONTROL, "no-cache, private")
                .body(Body::from_stream(stream))
                .expect("valid response"))
        }
        "create" => {
            let o = write_opts(&q, ua)?;
            let (ct, body) = read_body(req).await?;
            let v = decode_object(&rt, ct.as_deref(), &body)?;
            if guarded {
                rbac::check_escalation(&cluster, &attrs, &rt.kind, &v, None)?;
            }
            let created = cluster.create(&rt, ns, v, &o)?;
            Ok(with_warnings(json_response(201, &created), &o))
        }
        "update" => {
            let o = write_opts(&q, ua)?;
            let (ct, body) = read_body(req).await?;
            let mut v = decode_object(&rt, ct.as_deref(), &body)?;
            let name = r.name.as_deref().unwrap_or_default();
            if sub == Some("finalize") {
                // Only spec.finalizers changes through /finalize.
                let cur = cluster.get(&rt, ns, name)?;
                let mut new = cur.clone();
                new["spec"]["finalizers"] = v["spec"]["finalizers"].clone();
                if let Some(rv) = v["metadata"]["resourceVersion"].as_str() {
                    new["metadata"]["resourceVersion"] = json!(rv);
                }
                v = new;
                let (code, obj) = cluster.update(&rt, ns, name, v, None, &o)?;
                return Ok(json_response(code, &obj));
            }
            if !attrs.user.is_privileged() && sub.is_none() && (guarded || rt.create_on_update) {
                let old = cluster.get(&rt, ns, name).ok();
                if guarded {
                    let (_, preview) =
                        cluster.update(&rt, ns, name, v.clone(), sub, &o.preview())?;
                    rbac::check_escalation(&cluster, &attrs, &rt.kind, &preview, old.as_ref())?;
                }
                if old.is_none() && rt.create_on_update {
                    rbac::check_create_on_update(&cluster, &attrs)?;
                }
            }
            let (code, obj) = cluster.update(&rt, ns, name, v, sub, &o)?;
            Ok(with_warnings(json_response(code, &obj), &o))
        }
        "patch" => {
            let o = write_opts(&q, ua)?;
            let (ct, body) = read_body(req).await?;
            let ct = ct.unwrap_or_default();
            let Some(pt) = PatchType::from_content_type(&ct) else {
                return Err(ApiError::unsupported_media_type(
                    &crate::ops::accepted_patch_types(&rt),
                ));
            };
            let patch = match pt {
                PatchType::Apply => decode(Some("application/yaml"), &body)?,
                _ => serde_json::from_slice(&body)
                    .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?,
            };
            let name = r.name.as_deref().unwrap_or_default();
            if !attrs.user.is_privileged() && sub.is_none() && (guarded || pt == PatchType::Apply) {
                let old = cluster.get(&rt, ns, name).ok();
                if guarded {
                    let (_, preview) =
                        cluster.patch(&rt, ns, name, pt, patch.clone(), sub, &o.preview())?;
                    rbac::check_escalation(&cluster, &attrs, &rt.kind, &preview, old.as_ref())?;
                }
                if old.is_none() && pt == PatchType::Apply {
                    rbac::check_create_on_update(&cluster, &attrs)?;
                }
            }
            let (code, obj) = cluster.patch(&rt, ns, name, pt, patch, sub, &o)?;
            Ok(with_warnings(json_response(code, &obj), &o))
        }
        "delete" | "deletecollection" => {
            let mut o = write_opts(&q, ua)?;
            let (ct, body) = read_body(req).await?;
            let mut d = if body.iter().all(u8::is_ascii_whitespace) {
                DeleteOpts::default()
            } else {
                let v = decode(ct.as_deref(), &body)?;
                // DeleteOptions in the body carry dryRun as a list.
                if let Some(dr) = v["dryRun"].as_array() {
                    for x in dr {
                        match x.as_str() {
                            Some("All") => o.dry_run = true,
                            other => {
                                return Err(ApiError::bad_request(format!(
                                    "dryRun: Unsupported value: {}: supported values: \"All\"",
                                    json!(other)
                                )));
                            }
                        }
                    }
                }
                DeleteOpts::from_value(&v)?
            };
            if let Some(p) = q.get("propagationPolicy") {
                d.propagation = Some(parse_propagation(p)?);
            }
            if let Some(g) = q.get("gracePeriodSeconds").and_then(|g| g.parse().ok()) {
                d.grace_period_seconds = Some(g);
            }
            if let Some(od) = q.get("orphanDependents") {
                d.orphan_dependents = Some(od == "true");
            }
            if verb == "delete" {
                let (code, body) =
                    cluster.delete(&rt, ns, r.name.as_deref().unwrap_or_default(), &d, &o)?;
                Ok(json_response(code, &body))
            } else {
                let list = cluster.delete_collection(&rt, ns, &list_opts(&q)?, &d, &o)?;
                Ok(json_response(200, &list))
            }
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// An item of a built-in list: upstream omits the per-item kind/apiVersion.
struct Item<'a> {
    obj: &'a Value,
    strip_type: bool,
}

impl Serialize for Item<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.obj, self.strip_type) {
            (Value::Object(m), true) => {
                let mut map = s.serialize_map(None)?;
                for (k, v) in m {
                    if k != "kind" && k != "apiVersion" {
                        map.serialize_entry(k, v)?;
                    }
                }
                map.end()
            }
            (v, _) => v.serialize(s),
        }
    }
}

fn list_meta(page: &ListPage) -> Value {
    let mut meta = json!({"resourceVersion": page.resource_version.to_string()});
    if let Some(c) = &page.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(n) = page.remaining {
        meta["remainingItemCount"] = json!(n);
    }
    meta
}

fn list_response(rt: &ResourceType, page: ListPage, p: &Presentation) -> Response {
    match p {
        Presentation::Table { version, include } => json_response(
            200,
            &table::table(
                rt,
                version,
                &page.items,
                *include,
                page.resource_version,
                page.continue_token.as_deref(),
            ),
        ),
        Presentation::Metadata { version } => json_response(
            200,
            &json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": format!("meta.k8s.io/{version}"),
                "metadata": list_meta(&page),
                "items": page.items.iter().map(|o| table::partial_item(o, version)).collect::<Vec<_>>(),
            }),
        ),
        Presentation::Object => {
            // Streamed by hand: 10k items are serialized straight into one buffer.
            let mut buf = Vec::with_capacity(256 + page.items.len() * 512);
            buf.extend_from_slice(b"{\"kind\":");
            let _ = serde_json::to_writer(&mut buf, &rt.list_kind());
            buf.extend_from_slice(b",\"apiVersion\":");
            let _ = serde_json::to_writer(&mut buf, &rt.api_version());
            buf.extend_from_slice(b",\"metadata\":");
            let _ = serde_json::to_writer(&mut buf, &list_meta(&page));
            buf.extend_from_slice(b",\"items\":[");
            let strip = !rt.is_custom();
            for (i, it) in page.items.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                let _ = serde_json::to_writer(
                    &mut buf,
                    &Item {
                        obj: it,
                        strip_type: strip,
                    },
                );
            }
            buf.extend_from_slice(b"]}");
            bytes_response(200, buf, "application/json")
        }
    }
}
