//! ServiceAccount tokens (TokenRequest, OIDC discovery), authentication, and RBAC as the real
//! API server enforces it: every rule form allowing and denying with upstream's message.

use std::time::Duration;

use apiserver_fake::{FakeApiServer, Options};
use base64::Engine;
use futures::{StreamExt, TryStreamExt};
use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::support::{api_err, eventually, namespace};

const SA: &str = "system:serviceaccount:ops:stagesync";

struct Env {
    fake: FakeApiServer,
    admin: Client,
    sa: Client,
}

async fn service_account(admin: &Client, ns: &str, name: &str) -> ServiceAccount {
    Api::<ServiceAccount>::namespaced(admin.clone(), ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
        )
        .await
        .unwrap()
}

/// A fake with namespaces ops, team-a, team-b, ServiceAccount ops/stagesync without any
/// binding, and a client running as it.
async fn env() -> Env {
    let fake = FakeApiServer::start(Options {
        bookmark_interval: Duration::from_millis(200),
        ..Default::default()
    })
    .unwrap();
    let admin = fake.client();
    for ns in ["ops", "team-a", "team-b"] {
        namespace(&admin, ns).await;
    }
    service_account(&admin, "ops", "stagesync").await;
    let token = fake.service_account_token("ops", "stagesync").unwrap();
    let sa = fake.client_as(&token).unwrap();
    Env { fake, admin, sa }
}

fn obj<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

async fn role(admin: &Client, ns: &str, name: &str, rules: Value) {
    Api::<Role>::namespaced(admin.clone(), ns)
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": name}, "rules": rules})),
        )
        .await
        .unwrap();
}

async fn cluster_role(admin: &Client, body: Value) {
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &obj(body))
        .await
        .unwrap();
}

fn sa_subject() -> Value {
    json!([{"kind": "ServiceAccount", "name": "stagesync", "namespace": "ops"}])
}

async fn role_binding(
    admin: &Client,
    ns: &str,
    name: &str,
    kind: &str,
    role: &str,
    subjects: Value,
) {
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .create(
            &PostParams::default(),
            &obj(json!({
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
                "subjects": subjects,
            })),
        )
        .await
        .unwrap();
}

async fn cluster_role_binding(admin: &Client, name: &str, role: &str, subjects: Value) {
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(
            &PostParams::default(),
            &obj(json!({
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": subjects,
            })),
        )
        .await
        .unwrap();
}

/// Grant the ServiceAccount `rules` in namespace `ns` (Role + RoleBinding named `name`).
async fn grant(e: &Env, ns: &str, name: &str, rules: Value) {
    role(&e.admin, ns, name, rules).await;
    role_binding(&e.admin, ns, name, "Role", name, sa_subject()).await;
}

/// The 403 message of a failed call.
fn forbidden<T>(r: Result<T, kube::Error>) -> String {
    let Err(e) = r else {
        panic!("should be forbidden")
    };
    let st = api_err(e);
    assert_eq!((st.code, st.reason.as_str()), (403, "Forbidden"), "{st:?}");
    st.message
}

fn msg(head: &str, verb: &str, resource: &str, group: &str, ns: Option<&str>) -> String {
    let scope = match ns {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".into(),
    };
    format!(
        "{head} is forbidden: User \"{SA}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" {scope}"
    )
}

async fn raw(c: &Client, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    raw_with(c, method, path, body, &[]).await
}

async fn raw_with(
    c: &Client,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut b = http::Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let req = b
        .body(body.map(|v| v.to_string().into_bytes()).unwrap_or_default())
        .unwrap();
    let resp = c.send(req.map(kube::client::Body::from)).await.unwrap();
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        code,
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes))),
    )
}

async fn secret(admin: &Client, ns: &str, name: &str) {
    Api::<Secret>::namespaced(admin.clone(), ns)
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": name}, "stringData": {"k": "v"}})),
        )
        .await
        .unwrap();
}

fn b64url(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

// ---- tokens -------------------------------------------------------------------------------

#[tokio::test]
async fn token_request_issues_a_verifiable_jwt_with_upstreams_claims() {
    let e = env().await;
    let sas = Api::<ServiceAccount>::namespaced(e.admin.clone(), "ops");
    let uid = sas.get("stagesync").await.unwrap().metadata.uid.unwrap();
    let tr = sas
        .create_token_request(
            "stagesync",
            &PostParams::default(),
            &TokenRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(tr.metadata.name.as_deref(), Some("stagesync"));
    assert_eq!(tr.metadata.namespace.as_deref(), Some("ops"));
    assert_eq!(
        tr.spec.audiences,
        vec!["https://kubernetes.default.svc.cluster.local".to_string()]
    );
    assert_eq!(tr.spec.expiration_seconds, Some(3600));
    let st = tr.status.unwrap();
    let parts: Vec<&str> = st.token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&b64url(parts[0])).unwrap();
    let claims: Value = serde_json::from_slice(&b64url(parts[1])).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(
        claims["iss"],
        "https://kubernetes.default.svc.cluster.local"
    );
    assert_eq!(claims["sub"], SA);
    assert_eq!(
        claims["aud"],
        json!(["https://kubernetes.default.svc.cluster.local"])
    );
    let (iat, nbf, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["nbf"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!((nbf, exp - iat), (iat, 3600));
    let now = jiff::Timestamp::now().as_second();
    assert!((now - iat).abs() < 30, "iat {iat} now {now}");
    assert_eq!(
        claims["kubernetes.io"],
        json!({"namespace": "ops", "serviceaccount": {"name": "stagesync", "uid": uid}})
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(st.expiration_timestamp.0.as_second(), exp);

    // The signature verifies with the key published at /openid/v1/jwks, found through the
    // OIDC discovery document, both readable by any ServiceAccount (as upstream's
    // system:service-account-issuer-discovery binding grants).
    let (code, disco) = raw(&e.sa, "GET", "/.well-known/openid-configuration", None).await;
    assert_eq!(code, 200, "{disco}");
    assert_eq!(
        disco["issuer"],
        "https://kubernetes.default.svc.cluster.local"
    );
    assert_eq!(
        disco["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert!(
        disco["jwks_uri"]
            .as_str()
            .unwrap()
            .ends_with("/openid/v1/jwks")
    );
    let (code, jwks) = raw(&e.sa, "GET", "/openid/v1/jwks", None).await;
    assert_eq!(code, 200, "{jwks}");
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert_eq!(key["kid"], header["kid"]);
    let components = aws_lc_rs::signature::RsaPublicKeyComponents {
        n: b64url(key["n"].as_str().unwrap()),
        e: b64url(key["e"].as_str().unwrap()),
    };
    let signed = format!("{}.{}", parts[0], parts[1]);
    components
        .verify(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &b64url(parts[2]),
        )
        .expect("signature verifies with the published key");

    // The token authenticates as the ServiceAccount.
    let (code, review) = raw(
        &e.sa,
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        Some(json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})),
    )
    .await;
    assert_eq!(code, 201, "{review}");
    let user = &review["status"]["userInfo"];
    assert_eq!(user["username"], SA);
    assert_eq!(user["uid"], json!(uid));
    assert_eq!(
        user["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:ops",
            "system:authenticated"
        ])
    );
    let fresh = e.fake.client_as(&st.token).unwrap();
    let (code, review) = raw(
        &fresh,
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        Some(json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})),
    )
    .await;
    assert_eq!(
        (code, &review["status"]["userInfo"]["username"]),
        (201, &json!(SA))
    );
}

#[tokio::test]
async fn token_request_audiences_expiry_validation_and_missing_service_account() {
    let e = env().await;
    let sas = Api::<ServiceAccount>::namespaced(e.admin.clone(), "ops");
    let req = |auds: Vec<&str>, secs: Option<i64>| TokenRequest {
        spec: TokenRequestSpec {
            audiences: auds.into_iter().map(String::from).collect(),
            expiration_seconds: secs,
            ..Default::default()
        },
        ..Default::default()
    };
    let tr = sas
        .create_token_request(
            "stagesync",
            &PostParams::default(),
            &req(vec!["vault", "sts.amazonaws.com"], Some(7200)),
        )
        .await
        .unwrap();
    let token = tr.status.unwrap().token;
    let claims = apiserver_fake::token::decode_claims(&token).unwrap();
    assert_eq!(claims["aud"], json!(["vault", "sts.amazonaws.com"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        7200
    );
    // A token for other audiences does not authenticate to the API server.
    let other = e.fake.client_as(&token).unwrap();
    let st = api_err(
        Api::<Namespace>::all(other)
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (st.code, st.reason.as_str(), st.message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );

    // Below the 10 minute minimum: 422 as upstream.
    let st = api_err(
        sas.create_token_request("stagesync", &PostParams::default(), &req(vec![], Some(599)))
            .await
            .unwrap_err(),
    );
    assert_eq!(st.code, 422);
    assert_eq!(
        st.message,
        "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes"
    );
    // The minimum itself is fine.
    sas.create_token_request("stagesync", &PostParams::default(), &req(vec![], Some(600)))
        .await
        .unwrap();

    // A missing ServiceAccount is a 404.
    let st = api_err(
        sas.create_token_request("nope", &PostParams::default(), &TokenRequest::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (st.code, st.reason.as_str(), st.message.as_str()),
        (404, "NotFound", "serviceaccounts \"nope\" not found")
    );
    assert!(e.fake.service_account_token("ops", "nope").is_err());

    // Discovery lists the subresource as the real server does.
    let (_, v1) = raw(&e.admin, "GET", "/api/v1", None).await;
    let token_res = v1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "serviceaccounts/token")
        .cloned()
        .expect("serviceaccounts/token in /api/v1");
    assert_eq!(
        token_res,
        json!({"name": "serviceaccounts/token", "singularName": "", "namespaced": true,
               "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest",
               "verbs": ["create"]})
    );
    // And OpenAPI describes the POST with the TokenRequest schema.
    let (_, doc) = raw(&e.admin, "GET", "/openapi/v3/api/v1", None).await;
    let post = &doc["paths"]["/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"]["post"];
    let schema_ref = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap();
    let name = schema_ref.trim_start_matches("#/components/schemas/");
    assert!(
        doc["components"]["schemas"][name]["properties"]["spec"].is_object(),
        "{name}"
    );
    assert_eq!(
        post["x-kubernetes-group-version-kind"],
        json!({"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"})
    );
}

#[tokio::test]
async fn invalid_tampered_expired_or_orphaned_tokens_are_401() {
    let e = env().await;
    let token = e.fake.service_account_token("ops", "stagesync").unwrap();
    let unauthorized = |c: Client| async move {
        let st = api_err(
            Api::<Namespace>::all(c)
                .list(&ListParams::default())
                .await
                .unwrap_err(),
        );
        assert_eq!((st.code, st.reason.as_str()), (401, "Unauthorized"));
    };
    // A flipped signature byte.
    let mut bad_sig = token.clone();
    let last = bad_sig.pop().unwrap();
    bad_sig.push(if last == 'A' { 'B' } else { 'A' });
    unauthorized(e.fake.client_as(&bad_sig).unwrap()).await;
    // A payload naming another ServiceAccount, signature kept.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = apiserver_fake::token::decode_claims(&token).unwrap();
    claims["sub"] = json!("system:serviceaccount:kube-system:admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    unauthorized(e.fake.client_as(&forged).unwrap()).await;
    // Expired (beyond the 60 s leeway), signed with the fake's own key.
    let mut old = apiserver_fake::token::decode_claims(&token).unwrap();
    let now = jiff::Timestamp::now().as_second();
    old["iat"] = json!(now - 7200);
    old["nbf"] = json!(now - 7200);
    old["exp"] = json!(now - 120);
    let expired = e.fake.token_issuer().sign(&old).unwrap();
    unauthorized(e.fake.client_as(&expired).unwrap()).await;
    old["exp"] = json!(now - 10); // within the leeway: still accepted, as upstream
    let grace = e.fake.token_issuer().sign(&old).unwrap();
    let st = api_err(
        Api::<Namespace>::all(e.fake.client_as(&grace).unwrap())
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(st.code, 403, "authenticated, not authorized: {st:?}");
    // The ServiceAccount deleted and recreated: new uid, old tokens stop working.
    let sas = Api::<ServiceAccount>::namespaced(e.admin.clone(), "ops");
    sas.delete("stagesync", &DeleteParams::default())
        .await
        .unwrap();
    unauthorized(e.fake.client_as(&token).unwrap()).await;
    service_account(&e.admin, "ops", "stagesync").await;
    unauthorized(e.fake.client_as(&token).unwrap()).await;
    let renewed = e.fake.service_account_token("ops", "stagesync").unwrap();
    let st = api_err(
        Api::<Namespace>::all(e.fake.client_as(&renewed).unwrap())
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(st.code, 403);
    // Garbage that is not a JWT of this issuer: 401 when an admin token is configured.
    let guarded = FakeApiServer::start(Options {
        token: Some("admin-s3cret".into()),
        ..Default::default()
    })
    .unwrap();
    unauthorized(guarded.client_as("not-a-jwt").unwrap()).await;
}

#[tokio::test]
async fn admin_token_and_in_process_client_stay_superusers() {
    let fake = FakeApiServer::start(Options {
        token: Some("admin-s3cret".into()),
        ..Default::default()
    })
    .unwrap();
    // In-process, with the admin token configured.
    let admin = fake.client();
    namespace(&admin, "ops").await;
    service_account(&admin, "ops", "stagesync").await;
    Api::<ClusterRole>::all(admin.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    // Over HTTPS with the generated kubeconfig (admin token) and with an SA kubeconfig.
    let ep = fake
        .serve_http("127.0.0.1:0".parse().unwrap(), true)
        .await
        .unwrap();
    let kc = |p: &std::path::Path| {
        let p = p.to_path_buf();
        async move {
            let kc = kube::config::Kubeconfig::read_from(&p).unwrap();
            let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .unwrap();
            Client::try_from(cfg).unwrap()
        }
    };
    let https_admin = kc(&ep.kubeconfig).await;
    Api::<Secret>::all(https_admin.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    let token = fake.service_account_token("ops", "stagesync").unwrap();
    let sa_kc = fake.kubeconfig_as(&ep, &token).unwrap();
    let https_sa = kc(&sa_kc).await;
    let m = forbidden(
        Api::<Secret>::all(https_sa.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(m, msg("secrets", "list", "secrets", "", None));
    // A second listener whose kubeconfig carries the SA token.
    let ep2 = fake
        .serve_http_as("127.0.0.1:0".parse().unwrap(), false, &token)
        .await
        .unwrap();
    let plain_sa = kc(&ep2.kubeconfig).await;
    let m = forbidden(
        Api::<ConfigMap>::namespaced(plain_sa.clone(), "ops")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(m, msg("configmaps", "list", "configmaps", "", Some("ops")));
    // Discovery, version and OpenAPI work for any authenticated ServiceAccount.
    assert_eq!(plain_sa.apiserver_version().await.unwrap().major, "1");
    plain_sa.list_api_groups().await.unwrap();
    plain_sa.list_core_api_versions().await.unwrap();
    for path in [
        "/api/v1",
        "/apis/apps/v1",
        "/openapi/v3",
        "/openapi/v2",
        "/healthz",
    ] {
        let (code, _) = raw(&plain_sa, "GET", path, None).await;
        assert_eq!(code, 200, "{path}");
    }
    // Other paths are forbidden with the non-resource message.
    let (code, st) = raw(&plain_sa, "GET", "/metrics", None).await;
    assert_eq!(code, 403);
    assert_eq!(
        st["message"],
        format!("forbidden: User \"{SA}\" cannot get path \"/metrics\"")
    );
}

// ---- rule forms -------------------------------------------------------------------------

#[tokio::test]
async fn role_binding_grants_in_its_namespace_only_and_cluster_bindings_everywhere() {
    let e = env().await;
    secret(&e.admin, "team-a", "db").await;
    secret(&e.admin, "team-b", "db").await;
    let secrets = |ns: &str| Api::<Secret>::namespaced(e.sa.clone(), ns);
    let m = forbidden(secrets("team-a").list(&ListParams::default()).await);
    assert_eq!(m, msg("secrets", "list", "secrets", "", Some("team-a")));

    grant(
        &e,
        "team-a",
        "read-secrets",
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]),
    )
    .await;
    assert_eq!(
        secrets("team-a")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    secrets("team-a").get("db").await.unwrap();
    let m = forbidden(secrets("team-b").list(&ListParams::default()).await);
    assert_eq!(m, msg("secrets", "list", "secrets", "", Some("team-b")));
    let m = forbidden(secrets("team-b").get("db").await);
    assert_eq!(
        m,
        msg("secrets \"db\"", "get", "secrets", "", Some("team-b"))
    );
    // A RoleBinding grants namespaced rules only: listing across namespaces is cluster scope.
    let m = forbidden(
        Api::<Secret>::all(e.sa.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(m, msg("secrets", "list", "secrets", "", None));
    // Verbs not in the rule.
    let m = forbidden(
        secrets("team-a")
            .delete("db", &DeleteParams::default())
            .await,
    );
    assert_eq!(
        m,
        msg("secrets \"db\"", "delete", "secrets", "", Some("team-a"))
    );
    let m = forbidden(
        secrets("team-a")
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await,
    );
    assert_eq!(
        m,
        msg("secrets", "deletecollection", "secrets", "", Some("team-a"))
    );

    // A RoleBinding to a ClusterRole grants its rules in the binding's namespace only.
    cluster_role(&e.admin, json!({"metadata": {"name": "cm-reader"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]})).await;
    role_binding(
        &e.admin,
        "team-b",
        "cm-reader",
        "ClusterRole",
        "cm-reader",
        sa_subject(),
    )
    .await;
    Api::<ConfigMap>::namespaced(e.sa.clone(), "team-b")
        .list(&ListParams::default())
        .await
        .unwrap();
    let m = forbidden(
        Api::<ConfigMap>::namespaced(e.sa.clone(), "team-a")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        m,
        msg("configmaps", "list", "configmaps", "", Some("team-a"))
    );
    let m = forbidden(
        Api::<ConfigMap>::all(e.sa.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(m, msg("configmaps", "list", "configmaps", "", None));

    // A ClusterRoleBinding grants everywhere, cluster scope included.
    cluster_role_binding(&e.admin, "cm-reader", "cm-reader", sa_subject()).await;
    Api::<ConfigMap>::all(e.sa.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    Api::<ConfigMap>::namespaced(e.sa.clone(), "team-a")
        .list(&ListParams::default())
        .await
        .unwrap();

    // Cluster-scoped resources.
    let m = forbidden(
        Api::<ClusterRole>::all(e.sa.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        m,
        msg(
            "clusterroles.rbac.authorization.k8s.io",
            "list",
            "clusterroles",
            "rbac.authorization.k8s.io",
            None
        )
    );
    let m = forbidden(Api::<Namespace>::all(e.sa.clone()).get("team-a").await);
    // A Namespace is requested "in" itself: RoleBindings in team-a apply to it.
    assert_eq!(
        m,
        msg(
            "namespaces \"team-a\"",
            "get",
            "namespaces",
            "",
            Some("team-a")
        )
    );
    grant(
        &e,
        "team-a",
        "see-ns",
        json!([{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]),
    )
    .await;
    Api::<Namespace>::all(e.sa.clone())
        .get("team-a")
        .await
        .unwrap();
    forbidden(Api::<Namespace>::all(e.sa.clone()).get("team-b").await);
}

#[tokio::test]
async fn verbs_groups_and_resource_wildcards() {
    let e = env().await;
    secret(&e.admin, "team-a", "db").await;
    grant(
        &e,
        "team-a",
        "secrets-all",
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}]),
    )
    .await;
    let secrets = Api::<Secret>::namespaced(e.sa.clone(), "team-a");
    secrets
        .delete("db", &DeleteParams::default())
        .await
        .unwrap();
    secrets
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "new"}})),
        )
        .await
        .unwrap();

    // apiGroups: "apps" does not cover "batch"; "*" covers every group.
    grant(
        &e,
        "team-b",
        "apps",
        json!([{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["list"]}]),
    )
    .await;
    Api::<Deployment>::namespaced(e.sa.clone(), "team-b")
        .list(&ListParams::default())
        .await
        .unwrap();
    let m = forbidden(
        Api::<Job>::namespaced(e.sa.clone(), "team-b")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        m,
        msg("jobs.batch", "list", "jobs", "batch", Some("team-b"))
    );
    let m = forbidden(
        Api::<ConfigMap>::namespaced(e.sa.clone(), "team-b")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        m,
        msg("configmaps", "list", "configmaps", "", Some("team-b"))
    );
    grant(
        &e,
        "team-b",
        "any-group",
        json!([{"apiGroups": ["*"], "resources": ["jobs"], "verbs": ["list"]}]),
    )
    .await;
    Api::<Job>::namespaced(e.sa.clone(), "team-b")
        .list(&ListParams::default())
        .await
        .unwrap();
    // Authorization comes before routing: an unknown resource is 403 without a rule, 404 with.
    let (code, st) = raw(
        &e.sa,
        "GET",
        "/apis/example.com/v1/namespaces/team-b/widgets",
        None,
    )
    .await;
    assert_eq!(code, 403, "{st}");
    assert_eq!(
        st["message"],
        msg(
            "widgets.example.com",
            "list",
            "widgets",
            "example.com",
            Some("team-b")
        )
    );
    assert_eq!(
        st["details"],
        json!({"group": "example.com", "kind": "widgets"})
    );
    grant(
        &e,
        "team-b",
        "everything",
        json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
    )
    .await;
    let (code, _) = raw(
        &e.sa,
        "GET",
        "/apis/example.com/v1/namespaces/team-b/widgets",
        None,
    )
    .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn resource_names_restrict_named_requests_only() {
    let e = env().await;
    for n in ["db", "other"] {
        secret(&e.admin, "team-a", n).await;
    }
    grant(&e, "team-a", "db-only", json!([{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["db"], "verbs": ["get", "list", "watch", "update", "patch", "delete", "create"]}])).await;
    let secrets = Api::<Secret>::namespaced(e.sa.clone(), "team-a");
    secrets.get("db").await.unwrap();
    let m = forbidden(secrets.get("other").await);
    assert_eq!(
        m,
        msg("secrets \"other\"", "get", "secrets", "", Some("team-a"))
    );
    secrets
        .patch(
            "db",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    // Collections are not matched by a rule with resourceNames...
    let m = forbidden(secrets.list(&ListParams::default()).await);
    assert_eq!(m, msg("secrets", "list", "secrets", "", Some("team-a")));
    let m = forbidden(
        secrets
            .create(
                &PostParams::default(),
                &obj(json!({"metadata": {"name": "db"}})),
            )
            .await,
    );
    assert_eq!(m, msg("secrets", "create", "secrets", "", Some("team-a")));
    let m = forbidden(
        secrets
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await,
    );
    assert_eq!(
        m,
        msg("secrets", "deletecollection", "secrets", "", Some("team-a"))
    );
    // ...except list/watch with a metadata.name field selector naming an allowed object.
    let one = secrets
        .list(&ListParams::default().fields("metadata.name=db"))
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    let m = forbidden(
        secrets
            .list(&ListParams::default().fields("metadata.name=other"))
            .await,
    );
    assert_eq!(
        m,
        msg("secrets \"other\"", "list", "secrets", "", Some("team-a"))
    );
    let mut w = secrets
        .watch(&WatchParams::default().fields("metadata.name=db"), "0")
        .await
        .unwrap()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(first, kube::api::WatchEvent::Added(_)));
    let m = forbidden(secrets.watch(&WatchParams::default(), "0").await);
    assert_eq!(m, msg("secrets", "watch", "secrets", "", Some("team-a")));
}

#[tokio::test]
async fn subresources_need_their_own_rules() {
    let e = env().await;
    let deploy = json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    });
    Api::<Deployment>::namespaced(e.admin.clone(), "team-a")
        .create(&PostParams::default(), &obj(deploy))
        .await
        .unwrap();
    let deployments = Api::<Deployment>::namespaced(e.sa.clone(), "team-a");
    let status = Patch::Merge(json!({"status": {"observedGeneration": 1}}));
    let spec = Patch::Merge(json!({"spec": {"replicas": 2}}));

    grant(
        &e,
        "team-a",
        "deploy",
        json!([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]}]),
    )
    .await;
    deployments
        .patch("web", &PatchParams::default(), &spec)
        .await
        .unwrap();
    let m = forbidden(
        deployments
            .patch_status("web", &PatchParams::default(), &status)
            .await,
    );
    assert_eq!(
        m,
        msg(
            "deployments.apps \"web\"",
            "patch",
            "deployments/status",
            "apps",
            Some("team-a")
        )
    );
    let m = forbidden(deployments.get_status("web").await);
    assert_eq!(
        m,
        msg(
            "deployments.apps \"web\"",
            "get",
            "deployments/status",
            "apps",
            Some("team-a")
        )
    );
    let m = forbidden(deployments.get_scale("web").await);
    assert_eq!(
        m,
        msg(
            "deployments.apps \"web\"",
            "get",
            "deployments/scale",
            "apps",
            Some("team-a")
        )
    );

    // `deployments/*` is not a wildcard upstream: it matches only a subresource named "*".
    grant(
        &e,
        "team-a",
        "deploy-star",
        json!([{"apiGroups": ["apps"], "resources": ["deployments/*"], "verbs": ["patch"]}]),
    )
    .await;
    forbidden(
        deployments
            .patch_status("web", &PatchParams::default(), &status)
            .await,
    );
    // `deployments/status` grants the status subresource only.
    grant(
        &e,
        "team-a",
        "deploy-status",
        json!([{"apiGroups": ["apps"], "resources": ["deployments/status"], "verbs": ["patch"]}]),
    )
    .await;
    deployments
        .patch_status("web", &PatchParams::default(), &status)
        .await
        .unwrap();
    // `*/scale` grants the scale subresource of every resource.
    grant(
        &e,
        "team-a",
        "any-scale",
        json!([{"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["get"]}]),
    )
    .await;
    deployments.get_scale("web").await.unwrap();

    // A status-only rule does not grant the main resource.
    let e2 = env().await;
    Api::<Deployment>::namespaced(e2.admin.clone(), "team-a")
        .create(&PostParams::default(), &obj(json!({
            "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        })))
        .await
        .unwrap();
    grant(
        &e2,
        "team-a",
        "status-only",
        json!([{"apiGroups": ["apps"], "resources": ["*/status"], "verbs": ["patch"]}]),
    )
    .await;
    let d2 = Api::<Deployment>::namespaced(e2.sa.clone(), "team-a");
    d2.patch_status("web", &PatchParams::default(), &status)
        .await
        .unwrap();
    let m = forbidden(d2.patch("web", &PatchParams::default(), &spec).await);
    assert_eq!(
        m,
        msg(
            "deployments.apps \"web\"",
            "patch",
            "deployments",
            "apps",
            Some("team-a")
        )
    );

    // serviceaccounts/token: creating tokens for another ServiceAccount needs its own rule.
    service_account(&e2.admin, "team-a", "builder").await;
    let sas = Api::<ServiceAccount>::namespaced(e2.sa.clone(), "team-a");
    let m = forbidden(
        sas.create_token_request("builder", &PostParams::default(), &TokenRequest::default())
            .await,
    );
    assert_eq!(
        m,
        msg(
            "serviceaccounts \"builder\"",
            "create",
            "serviceaccounts/token",
            "",
            Some("team-a")
        )
    );
    grant(&e2, "team-a", "tokens", json!([{"apiGroups": [""], "resources": ["serviceaccounts/token"], "resourceNames": ["builder"], "verbs": ["create"]}])).await;
    let tr = sas
        .create_token_request("builder", &PostParams::default(), &TokenRequest::default())
        .await
        .unwrap();
    assert_eq!(
        apiserver_fake::token::decode_claims(&tr.status.unwrap().token).unwrap()["sub"],
        "system:serviceaccount:team-a:builder"
    );
}

#[tokio::test]
async fn custom_resources_and_their_status_subresource() {
    let e = env().await;
    e.fake
        .load_crds(std::path::Path::new(crate::support::CRD_FIXTURE))
        .unwrap();
    let ar = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let widget: kube::api::DynamicObject = obj(json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w"}, "spec": {"size": 1},
    }));
    Api::<kube::api::DynamicObject>::namespaced_with(e.admin.clone(), "team-a", &ar)
        .create(&PostParams::default(), &widget)
        .await
        .unwrap();
    let widgets = Api::<kube::api::DynamicObject>::namespaced_with(e.sa.clone(), "team-a", &ar);
    // What a controller of Widgets needs: read the objects, write their status only.
    grant(&e, "team-a", "widget-controller", json!([
        {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["example.com"], "resources": ["widgets/status"], "verbs": ["patch", "update"]},
    ])).await;
    widgets.list(&ListParams::default()).await.unwrap();
    let status = Patch::Merge(json!({"status": {"phase": "Ready"}}));
    widgets
        .patch_status("w", &PatchParams::default(), &status)
        .await
        .unwrap();
    let m = forbidden(
        widgets
            .patch(
                "w",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"size": 2}})),
            )
            .await,
    );
    assert_eq!(
        m,
        msg(
            "widgets.example.com \"w\"",
            "patch",
            "widgets",
            "example.com",
            Some("team-a")
        )
    );
    let m = forbidden(widgets.delete("w", &DeleteParams::default()).await);
    assert_eq!(
        m,
        msg(
            "widgets.example.com \"w\"",
            "delete",
            "widgets",
            "example.com",
            Some("team-a")
        )
    );
    let m = forbidden(
        widgets
            .patch_scale(
                "w",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 3}})),
            )
            .await,
    );
    assert_eq!(
        m,
        msg(
            "widgets.example.com \"w\"",
            "patch",
            "widgets/scale",
            "example.com",
            Some("team-a")
        )
    );
    // Cluster-scoped custom resources are at the cluster scope.
    let gadgets = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("example.com", "v1", "Gadget"),
        "gadgets",
    );
    let m = forbidden(
        Api::<kube::api::DynamicObject>::all_with(e.sa.clone(), &gadgets)
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        m,
        msg(
            "gadgets.example.com",
            "list",
            "gadgets",
            "example.com",
            None
        )
    );
}

#[tokio::test]
async fn subjects_users_groups_and_service_accounts() {
    let e = env().await;
    cluster_role(&e.admin, json!({"metadata": {"name": "cm-list"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]})).await;
    let cms = |ns: &str| Api::<ConfigMap>::namespaced(e.sa.clone(), ns);
    // A subject for another ServiceAccount, or a ServiceAccount subject whose namespace
    // defaults to the binding's (team-a here, not ops): nothing.
    role_binding(
        &e.admin,
        "team-a",
        "other",
        "ClusterRole",
        "cm-list",
        json!([
            {"kind": "ServiceAccount", "name": "stagesync"},
            {"kind": "ServiceAccount", "name": "other", "namespace": "ops"},
            {"kind": "User", "name": "stagesync"},
            {"kind": "Group", "name": "system:serviceaccounts:team-a"},
        ]),
    )
    .await;
    forbidden(cms("team-a").list(&ListParams::default()).await);
    // The User subject with the ServiceAccount's username.
    role_binding(
        &e.admin,
        "team-a",
        "user",
        "ClusterRole",
        "cm-list",
        json!([{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": SA}]),
    )
    .await;
    cms("team-a").list(&ListParams::default()).await.unwrap();
    // The namespace's ServiceAccount group.
    role_binding(&e.admin, "team-b", "group", "ClusterRole", "cm-list", json!([{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:serviceaccounts:ops"}])).await;
    cms("team-b").list(&ListParams::default()).await.unwrap();
    // A ServiceAccount subject without namespace in a RoleBinding in the SA's namespace.
    role_binding(
        &e.admin,
        "ops",
        "local",
        "ClusterRole",
        "cm-list",
        json!([{"kind": "ServiceAccount", "name": "stagesync"}]),
    )
    .await;
    cms("ops").list(&ListParams::default()).await.unwrap();
    // All ServiceAccounts, cluster-wide; and system:authenticated.
    let e2 = env().await;
    cluster_role(&e2.admin, json!({"metadata": {"name": "cm-list"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]})).await;
    cluster_role_binding(&e2.admin, "all-sas", "cm-list", json!([{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:serviceaccounts"}])).await;
    Api::<ConfigMap>::all(e2.sa.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    cluster_role(&e2.admin, json!({"metadata": {"name": "secret-list"}, "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]})).await;
    cluster_role_binding(&e2.admin, "authenticated", "secret-list", json!([{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:authenticated"}])).await;
    Api::<Secret>::all(e2.sa.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn missing_roles_are_reported_and_changes_apply_at_once() {
    let e = env().await;
    role_binding(&e.admin, "team-a", "dangling", "Role", "gone", sa_subject()).await;
    role_binding(
        &e.admin,
        "team-a",
        "dangling2",
        "ClusterRole",
        "gone-too",
        sa_subject(),
    )
    .await;
    let cms = Api::<ConfigMap>::namespaced(e.sa.clone(), "team-a");
    let m = forbidden(cms.list(&ListParams::default()).await);
    assert_eq!(
        m,
        format!(
            "{}: RBAC: [role.rbac.authorization.k8s.io \"gone\" not found, clusterrole.rbac.authorization.k8s.io \"gone-too\" not found]",
            msg("configmaps", "list", "configmaps", "", Some("team-a"))
        )
    );
    // The Role appears: the very next request sees it.
    role(
        &e.admin,
        "team-a",
        "gone",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]}]),
    )
    .await;
    cms.list(&ListParams::default()).await.unwrap();
    // A watch authorized before the Role changes keeps running (as upstream); new requests are
    // denied at once.
    let mut w = cms
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let roles = Api::<Role>::namespaced(e.admin.clone(), "team-a");
    roles
        .patch("gone", &PatchParams::default(), &Patch::Merge(json!({"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]})))
        .await
        .unwrap();
    forbidden(cms.list(&ListParams::default()).await);
    Api::<ConfigMap>::namespaced(e.admin.clone(), "team-a")
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "after"}})),
        )
        .await
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match w.next().await.unwrap().unwrap() {
                kube::api::WatchEvent::Added(cm) => break cm,
                _ => continue,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(ev.metadata.name.as_deref(), Some("after"));
}

#[tokio::test]
async fn aggregated_cluster_roles() {
    let e = env().await;
    cluster_role(&e.admin, json!({
        "metadata": {"name": "stagesync-aggregate"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"example.com/aggregate-to-stagesync": "true"}}]},
        "rules": [],
    })).await;
    role_binding(
        &e.admin,
        "team-a",
        "agg",
        "ClusterRole",
        "stagesync-aggregate",
        sa_subject(),
    )
    .await;
    let cms = Api::<ConfigMap>::namespaced(e.sa.clone(), "team-a");
    forbidden(cms.list(&ListParams::default()).await);
    // Unlabeled roles are not aggregated.
    cluster_role(&e.admin, json!({"metadata": {"name": "unlabeled"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]})).await;
    forbidden(cms.list(&ListParams::default()).await);
    cluster_role(&e.admin, json!({
        "metadata": {"name": "cm-part", "labels": {"example.com/aggregate-to-stagesync": "true"}},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
    })).await;
    cms.list(&ListParams::default()).await.unwrap();
    // The aggregation controller writes the rules into the aggregated role.
    let roles = Api::<ClusterRole>::all(e.admin.clone());
    eventually("aggregated rules written", || async {
        roles
            .get("stagesync-aggregate")
            .await
            .unwrap()
            .rules
            .unwrap_or_default()
            .len()
            == 1
    })
    .await;
    // matchExpressions work too; removing the label removes the rules.
    cluster_role(&e.admin, json!({
        "metadata": {"name": "other-agg"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchExpressions": [{"key": "example.com/aggregate-to-stagesync", "operator": "Exists"}]}]},
    })).await;
    role_binding(
        &e.admin,
        "team-b",
        "agg",
        "ClusterRole",
        "other-agg",
        sa_subject(),
    )
    .await;
    Api::<ConfigMap>::namespaced(e.sa.clone(), "team-b")
        .list(&ListParams::default())
        .await
        .unwrap();
    roles
        .patch(
            "cm-part",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"example.com/aggregate-to-stagesync": null}}}),
            ),
        )
        .await
        .unwrap();
    forbidden(cms.list(&ListParams::default()).await);
    eventually("aggregated rules emptied", || async {
        roles
            .get("stagesync-aggregate")
            .await
            .unwrap()
            .rules
            .unwrap_or_default()
            .is_empty()
    })
    .await;
}

#[tokio::test]
async fn non_resource_urls_need_a_cluster_role_binding() {
    let e = env().await;
    let (code, _) = raw(&e.sa, "GET", "/metrics", None).await;
    assert_eq!(code, 403);
    // In a Role bound by a RoleBinding, nonResourceURLs grant nothing (no namespace).
    cluster_role(&e.admin, json!({"metadata": {"name": "metrics"}, "rules": [{"nonResourceURLs": ["/metrics", "/debug/*"], "verbs": ["get"]}]})).await;
    role_binding(
        &e.admin,
        "ops",
        "metrics",
        "ClusterRole",
        "metrics",
        sa_subject(),
    )
    .await;
    let (code, _) = raw(&e.sa, "GET", "/metrics", None).await;
    assert_eq!(code, 403);
    cluster_role_binding(&e.admin, "metrics", "metrics", sa_subject()).await;
    // Allowed, then not served by the fake: 404.
    let (code, _) = raw(&e.sa, "GET", "/metrics", None).await;
    assert_eq!(code, 404);
    let (code, _) = raw(&e.sa, "GET", "/debug/pprof", None).await;
    assert_eq!(code, 404);
    let (code, st) = raw(&e.sa, "POST", "/metrics", Some(json!({}))).await;
    assert_eq!(code, 403);
    assert_eq!(
        st["message"],
        format!("forbidden: User \"{SA}\" cannot post path \"/metrics\"")
    );
}

#[tokio::test]
async fn impersonation_needs_the_impersonate_verb() {
    let e = env().await;
    let whoami = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let path = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
    // The admin may impersonate anyone; a ServiceAccount gets its groups.
    let (code, v) = raw_with(
        &e.admin,
        "POST",
        path,
        Some(whoami.clone()),
        &[("Impersonate-User", SA)],
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(
        v["status"]["userInfo"],
        json!({"username": SA, "groups": ["system:serviceaccounts", "system:serviceaccounts:ops", "system:authenticated"]})
    );
    let (code, st) = raw_with(
        &e.admin,
        "GET",
        "/api/v1/namespaces/team-a/secrets",
        None,
        &[("Impersonate-User", SA)],
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        st["message"],
        msg("secrets", "list", "secrets", "", Some("team-a"))
    );
    let (code, v) = raw_with(
        &e.admin,
        "POST",
        path,
        Some(whoami.clone()),
        &[
            ("Impersonate-User", "bob"),
            ("Impersonate-Group", "devs"),
            ("Impersonate-Extra-Scopes", "view"),
        ],
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(
        v["status"]["userInfo"],
        json!({"username": "bob", "groups": ["devs", "system:authenticated"], "extra": {"scopes": ["view"]}})
    );
    // A ServiceAccount without the verb is forbidden.
    let (code, st) = raw_with(
        &e.sa,
        "POST",
        path,
        Some(whoami.clone()),
        &[("Impersonate-User", "bob")],
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        st["message"],
        format!(
            "users \"bob\" is forbidden: User \"{SA}\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        )
    );
    cluster_role(&e.admin, json!({"metadata": {"name": "impersonate-bob"}, "rules": [{"apiGroups": [""], "resources": ["users"], "resourceNames": ["bob"], "verbs": ["impersonate"]}]})).await;
    cluster_role_binding(&e.admin, "impersonate-bob", "impersonate-bob", sa_subject()).await;
    let (code, v) = raw_with(
        &e.sa,
        "POST",
        path,
        Some(whoami.clone()),
        &[("Impersonate-User", "bob")],
    )
    .await;
    assert_eq!(
        (code, &v["status"]["userInfo"]["username"]),
        (201, &json!("bob"))
    );
    // Groups need their own permission.
    let (code, st) = raw_with(
        &e.sa,
        "POST",
        path,
        Some(whoami),
        &[
            ("Impersonate-User", "bob"),
            ("Impersonate-Group", "system:masters"),
        ],
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        st["message"],
        format!(
            "groups \"system:masters\" is forbidden: User \"{SA}\" cannot impersonate resource \"groups\" in API group \"\" at the cluster scope"
        )
    );
}

// ---- writes: create on update/apply, escalation ------------------------------------------

#[tokio::test]
async fn apply_that_creates_needs_create_too() {
    let e = env().await;
    grant(
        &e,
        "team-a",
        "patch-cm",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "patch"]}]),
    )
    .await;
    let cms = Api::<ConfigMap>::namespaced(e.sa.clone(), "team-a");
    let pp = PatchParams::apply("stagesync");
    let body = |n: &str| {
        Patch::Apply(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n}, "data": {"a": "b"}}),
        )
    };
    let m = forbidden(cms.patch("new", &pp, &body("new")).await);
    assert_eq!(m, "configmaps \"new\" is forbidden: ");
    // An existing object only needs patch.
    Api::<ConfigMap>::namespaced(e.admin.clone(), "team-a")
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "old"}})),
        )
        .await
        .unwrap();
    cms.patch("old", &pp, &body("old")).await.unwrap();
    grant(
        &e,
        "team-a",
        "create-cm",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}]),
    )
    .await;
    cms.patch("new", &pp, &body("new")).await.unwrap();
}

#[tokio::test]
async fn rbac_writes_cannot_escalate() {
    let e = env().await;
    grant(&e, "team-a", "rbac-admin", json!([
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": ["create", "update", "patch", "get"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
    ])).await;
    let roles = Api::<Role>::namespaced(e.sa.clone(), "team-a");
    // A Role within the SA's own rights is fine.
    roles
        .create(&PostParams::default(), &obj(json!({"metadata": {"name": "cm-get"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]})))
        .await
        .unwrap();
    // Granting what it does not hold is forbidden with upstream's message.
    let m = forbidden(
        roles
            .create(&PostParams::default(), &obj(json!({"metadata": {"name": "secrets"}, "rules": [{"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get", "list"]}]})))
            .await,
    );
    assert_eq!(
        m,
        format!(
            "roles.rbac.authorization.k8s.io \"secrets\" is forbidden: user \"{SA}\" (groups=[\"system:serviceaccounts\" \"system:serviceaccounts:ops\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\" \"list\"]}}"
        )
    );
    // Also through a patch of an existing Role.
    let m = forbidden(
        roles
            .patch("cm-get", &PatchParams::default(), &Patch::Merge(json!({"rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["delete"]}]})))
            .await,
    );
    assert!(m.contains("is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"configmaps\"], Verbs:[\"delete\"]}"), "{m}");
    // Only garbage-collection fields changed: no check.
    roles
        .patch(
            "cm-get",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/keep"]}})),
        )
        .await
        .unwrap();
    // Binding a role whose rules the SA holds is fine; one it does not hold is forbidden.
    let bindings = Api::<RoleBinding>::namespaced(e.sa.clone(), "team-a");
    let binding = |name: &str, kind: &str, role: &str| -> RoleBinding {
        obj(
            json!({"metadata": {"name": name}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role}, "subjects": [{"kind": "ServiceAccount", "name": "builder", "namespace": "team-a"}]}),
        )
    };
    bindings
        .create(&PostParams::default(), &binding("ok", "Role", "cm-get"))
        .await
        .unwrap();
    cluster_role(&e.admin, json!({"metadata": {"name": "secret-reader"}, "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]})).await;
    let m = forbidden(
        bindings
            .create(
                &PostParams::default(),
                &binding("nope", "ClusterRole", "secret-reader"),
            )
            .await,
    );
    assert!(
        m.starts_with(&format!(
            "rolebindings.rbac.authorization.k8s.io \"nope\" is forbidden: user \"{SA}\""
        )),
        "{m}"
    );
    // `bind` on that role lifts the check; `escalate` lifts it for roles.
    grant(&e, "team-a", "binder", json!([
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "resourceNames": ["secret-reader"], "verbs": ["bind"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]},
    ])).await;
    bindings
        .create(
            &PostParams::default(),
            &binding("nope", "ClusterRole", "secret-reader"),
        )
        .await
        .unwrap();
    roles
        .create(&PostParams::default(), &obj(json!({"metadata": {"name": "secrets"}, "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}]})))
        .await
        .unwrap();
    // The superuser is never checked.
    Api::<Role>::namespaced(e.admin.clone(), "team-b")
        .create(&PostParams::default(), &obj(json!({"metadata": {"name": "all"}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]})))
        .await
        .unwrap();
}

// ---- watches -----------------------------------------------------------------------------

#[tokio::test]
async fn watcher_as_a_service_account() {
    let e = env().await;
    grant(
        &e,
        "team-a",
        "cm-watch",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]}]),
    )
    .await;
    let cms = Api::<ConfigMap>::namespaced(e.sa.clone(), "team-a");
    let mut stream = watcher(cms, watcher::Config::default()).boxed();
    let admin_cms = Api::<ConfigMap>::namespaced(e.admin.clone(), "team-a");
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        let mut created = false;
        loop {
            match stream.try_next().await.unwrap().unwrap() {
                watcher::Event::InitDone if !created => {
                    admin_cms
                        .create(
                            &PostParams::default(),
                            &obj(json!({"metadata": {"name": "live"}})),
                        )
                        .await
                        .unwrap();
                    created = true;
                }
                watcher::Event::Apply(cm) => break cm,
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(seen.metadata.name.as_deref(), Some("live"));

    // list without watch: the watch start is a 403.
    grant(
        &e,
        "team-b",
        "cm-list",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]),
    )
    .await;
    let mut stream = watcher(
        Api::<ConfigMap>::namespaced(e.sa.clone(), "team-b"),
        watcher::Config::default(),
    )
    .boxed();
    let err = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Err(err) = stream.next().await.unwrap() {
                break err;
            }
        }
    })
    .await
    .unwrap();
    let st = match err {
        watcher::Error::WatchStartFailed(kube::Error::Api(st)) => st,
        other => panic!("expected a failed watch start, got {other:?}"),
    };
    assert_eq!(st.code, 403);
    assert_eq!(
        st.message,
        msg("configmaps", "watch", "configmaps", "", Some("team-b"))
    );
    // Without list, the initial list fails.
    let mut stream = watcher(
        Api::<Secret>::namespaced(e.sa.clone(), "team-b"),
        watcher::Config::default(),
    )
    .boxed();
    let err = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Err(err) = stream.next().await.unwrap() {
                break err;
            }
        }
    })
    .await
    .unwrap();
    match err {
        watcher::Error::InitialListFailed(kube::Error::Api(st)) => {
            assert_eq!(
                st.message,
                msg("secrets", "list", "secrets", "", Some("team-b"))
            );
        }
        other => panic!("expected a failed initial list, got {other:?}"),
    }
}

// ---- reviews -----------------------------------------------------------------------------

#[tokio::test]
async fn access_and_rules_reviews_use_the_same_evaluator() {
    let e = env().await;
    grant(
        &e,
        "team-a",
        "read-secrets",
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]),
    )
    .await;
    let ssar = |attrs: Value| {
        let sa = e.sa.clone();
        async move {
            let (code, v) = raw(
                &sa,
                "POST",
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                Some(json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": attrs})),
            )
            .await;
            assert_eq!(code, 201, "{v}");
            v["status"].clone()
        }
    };
    let st = ssar(json!({"resourceAttributes": {"namespace": "team-a", "verb": "list", "resource": "secrets"}})).await;
    assert_eq!(st["allowed"], true);
    assert_eq!(
        st["reason"],
        "RBAC: allowed by RoleBinding \"read-secrets/team-a\" of Role \"read-secrets\" to ServiceAccount \"stagesync/ops\""
    );
    let st = ssar(json!({"resourceAttributes": {"namespace": "team-b", "verb": "list", "resource": "secrets"}})).await;
    assert_eq!(st, json!({"allowed": false}));
    let st = ssar(json!({"nonResourceAttributes": {"path": "/version", "verb": "get"}})).await;
    assert_eq!(st["allowed"], true);
    let (code, v) = raw(
        &e.sa,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        Some(json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {}})),
    )
    .await;
    assert_eq!(code, 422, "{v}");

    let (code, v) = raw(
        &e.sa,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        Some(json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": "team-a"}})),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    let rules = v["status"]["resourceRules"].as_array().unwrap();
    assert!(
        rules.contains(
            &json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets"]})
        ),
        "{v}"
    );
    assert!(
        v["status"]["nonResourceRules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["nonResourceURLs"]
                .as_array()
                .unwrap()
                .contains(&json!("/version")))
    );

    // SubjectAccessReview needs its own permission (system:auth-delegator); the admin has it.
    let sar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {
        "user": SA, "groups": ["system:serviceaccounts", "system:serviceaccounts:ops", "system:authenticated"],
        "resourceAttributes": {"namespace": "team-a", "verb": "get", "resource": "secrets", "name": "db"}}});
    let (code, _) = raw(
        &e.sa,
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        Some(sar.clone()),
    )
    .await;
    assert_eq!(code, 403);
    let (code, v) = raw(
        &e.admin,
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        Some(sar),
    )
    .await;
    assert_eq!((code, &v["status"]["allowed"]), (201, &json!(true)), "{v}");
    // The admin's own review: allowed by system:masters.
    let (code, v) = raw(
        &e.admin,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        Some(json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": {"verb": "delete", "resource": "nodes"}}})),
    )
    .await;
    assert_eq!((code, &v["status"]["allowed"]), (201, &json!(true)));
    // TokenReview of the SA's token.
    let token = e.fake.service_account_token("ops", "stagesync").unwrap();
    let (code, v) = raw(
        &e.admin,
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        Some(json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})),
    )
    .await;
    assert_eq!(code, 201);
    assert_eq!(v["status"]["authenticated"], true);
    assert_eq!(v["status"]["user"]["username"], SA);
    // The review resources are in discovery, create only.
    let (_, authz) = raw(&e.sa, "GET", "/apis/authorization.k8s.io/v1", None).await;
    let names: Vec<&str> = authz["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"selfsubjectaccessreviews") && names.contains(&"subjectaccessreviews"),
        "{names:?}"
    );
    let (code, _) = raw(
        &e.admin,
        "GET",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        None,
    )
    .await;
    assert_eq!(code, 405);
}

#[tokio::test]
async fn bootstrap_policy_is_stored_like_a_real_clusters() {
    let e = env().await;
    let roles = Api::<ClusterRole>::all(e.admin.clone());
    for name in [
        "cluster-admin",
        "system:discovery",
        "system:basic-user",
        "system:public-info-viewer",
        "system:service-account-issuer-discovery",
    ] {
        let r = roles.get(name).await.unwrap();
        assert_eq!(
            r.metadata
                .labels
                .unwrap()
                .get("kubernetes.io/bootstrapping")
                .map(String::as_str),
            Some("rbac-defaults")
        );
    }
    let crb = Api::<ClusterRoleBinding>::all(e.admin.clone())
        .get("cluster-admin")
        .await
        .unwrap();
    assert_eq!(crb.subjects.unwrap()[0].name, "system:masters");
    // Binding the SA to cluster-admin makes it all-powerful, as on a real cluster.
    cluster_role_binding(&e.admin, "sa-admin", "cluster-admin", sa_subject()).await;
    Api::<Secret>::all(e.sa.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    let (code, _) = raw(&e.sa, "GET", "/metrics", None).await;
    assert_eq!(code, 404);
}
