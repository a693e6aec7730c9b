//! ServiceAccount tokens as the real API server issues and checks them: the TokenRequest
//! subresource (`POST .../serviceaccounts/{name}/token`), RS256 JWTs signed with an RSA-2048 key
//! generated per fake (lazily, on first use), the token authenticator (`pkg/serviceaccount`
//! `jwt.go`/`claims.go`: issuer, signature, exp/nbf/iat with go-jose's 60 s leeway, API
//! audiences, the ServiceAccount and bound object still existing with the claimed uid), and
//! the OIDC discovery documents (`/.well-known/openid-configuration`, `/openid/v1/jwks`).

use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::{Value, json};

use crate::auth::{UserInfo, service_account_username};
use crate::error::{ApiError, ApiResult, Cause, GroupResource};
use crate::ops::Cluster;

/// `--service-account-issuer` of a default cluster, also the only API audience.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// `--api-audiences` (defaults to the issuer).
pub const API_AUDIENCES: &[&str] = &[ISSUER];
/// TokenRequest `spec.expirationSeconds` default, minimum and maximum.
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
const MIN_EXPIRATION_SECONDS: i64 = 600;
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
/// go-jose's `DefaultLeeway` for exp/nbf/iat.
const LEEWAY_SECONDS: i64 = 60;

pub const JWKS_PATH: &str = "/openid/v1/jwks";
pub const OIDC_DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

struct SigningKey {
    pair: KeyPair,
    /// base64url(SHA-256(PKIX DER of the public key)), as upstream's keyIDFromPublicKey.
    kid: String,
    /// PKCS#1 RSAPublicKey DER (what RSA verification takes).
    public_pkcs1: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
}

/// The fake's token signer/verifier.
#[derive(Default)]
pub struct TokenIssuer {
    key: OnceLock<Result<SigningKey, String>>,
}

/// The result of checking a bearer token.
#[derive(Debug)]
pub enum TokenCheck {
    /// Not a JWT with this fake's issuer: other authenticators may have a say.
    NotOurs,
    /// One of ours, but not valid (signature, expiry, audience, deleted ServiceAccount...).
    Invalid(String),
    User(UserInfo),
}

/// A big-endian DER INTEGER's magnitude (leading zero dropped).
fn der_uint(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, rest) = input.split_first()?;
    if *tag != 0x02 {
        return None;
    }
    let (len, rest) = der_len(rest)?;
    if rest.len() < len {
        return None;
    }
    let (mut v, rest) = rest.split_at(len);
    while v.len() > 1 && v[0] == 0 {
        v = &v[1..];
    }
    Some((v, rest))
}

fn der_len(input: &[u8]) -> Option<(usize, &[u8])> {
    let (first, rest) = input.split_first()?;
    if first & 0x80 == 0 {
        return Some((*first as usize, rest));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 || rest.len() < n {
        return None;
    }
    let len = rest[..n]
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | *b as usize);
    Some((len, &rest[n..]))
}

/// (n, e) of a PKCS#1 RSAPublicKey (SEQUENCE { INTEGER n, INTEGER e }).
fn rsa_components(pkcs1: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (tag, rest) = pkcs1.split_first()?;
    if *tag != 0x30 {
        return None;
    }
    let (_, rest) = der_len(rest)?;
    let (n, rest) = der_uint(rest)?;
    let (e, _) = der_uint(rest)?;
    Some((n.to_vec(), e.to_vec()))
}

fn generate_key() -> Result<SigningKey, String> {
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|e| format!("RSA key: {e}"))?;
    let public = pair.public_key();
    let public_pkcs1 = public.as_ref().to_vec();
    let pkix = public
        .as_der()
        .map_err(|e| format!("public key DER: {e}"))?;
    let kid = B64URL.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        pkix.as_ref(),
    ));
    let (n, e) = rsa_components(&public_pkcs1).ok_or("unparsable RSA public key")?;
    Ok(SigningKey {
        pair,
        kid,
        public_pkcs1,
        n,
        e,
    })
}

fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

impl TokenIssuer {
    pub fn new() -> Self {
        Self::default()
    }

    fn key(&self) -> ApiResult<&SigningKey> {
        self.key
            .get_or_init(generate_key)
            .as_ref()
            .map_err(|e| ApiError::internal(format!("failed to generate token: {e}")))
    }

    /// Sign `claims` as a compact RS256 JWS.
    pub fn sign(&self, claims: &Value) -> ApiResult<String> {
        let key = self.key()?;
        let header = json!({"alg": "RS256", "kid": key.kid});
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let mut sig = vec![0u8; key.pair.public_modulus_len()];
        key.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|e| ApiError::internal(format!("failed to generate token: {e}")))?;
        Ok(format!("{input}.{}", B64URL.encode(sig)))
    }

    /// The verified claims of a token with this fake's issuer; `Err(None)` when the token is not
    /// a JWT naming this issuer (upstream's `hasCorrectIssuer`), `Err(Some(why))` when it is but
    /// does not verify.
    pub fn verify(&self, token: &str) -> Result<Value, Option<String>> {
        if token.trim_start().starts_with('{') {
            return Err(None);
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [h, p, s] = parts.as_slice() else {
            return Err(None);
        };
        let claims: Value = B64URL
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(None)?;
        if claims["iss"] != ISSUER {
            return Err(None);
        }
        let header: Value = B64URL
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| Some("malformed JWS header".to_string()))?;
        let key = self.key().map_err(|e| Some(e.message))?;
        if header["alg"] != "RS256" {
            return Err(Some(format!(
                "unexpected signature algorithm {}",
                header["alg"]
            )));
        }
        if let Some(kid) = header["kid"].as_str()
            && !kid.is_empty()
            && kid != key.kid
        {
            return Err(Some("invalid signature, no keys found".into()));
        }
        let sig = B64URL
            .decode(s)
            .map_err(|_| Some("malformed signature".to_string()))?;
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &key.public_pkcs1)
            .verify(format!("{h}.{p}").as_bytes(), &sig)
            .map_err(|_| Some("square/go-jose: error in cryptographic primitive".to_string()))?;
        Ok(claims)
    }

    /// `/openid/v1/jwks`.
    pub fn jwks(&self) -> ApiResult<Value> {
        let key = self.key()?;
        Ok(json!({"keys": [{
            "use": "sig",
            "kty": "RSA",
            "kid": key.kid,
            "alg": "RS256",
            "n": B64URL.encode(&key.n),
            "e": B64URL.encode(&key.e),
        }]}))
    }

    /// A token for an existing ServiceAccount, as TokenRequest issues it.
    #[allow(clippy::too_many_arguments)]
    fn issue(
        &self,
        sa: &Value,
        audiences: &[String],
        now: i64,
        expiration_seconds: i64,
        pod: Option<&Value>,
        secret: Option<&Value>,
    ) -> ApiResult<String> {
        let m = &sa["metadata"];
        let ns = m["namespace"].as_str().unwrap_or_default();
        let name = m["name"].as_str().unwrap_or_default();
        let mut k8s = json!({
            "namespace": ns,
            "serviceaccount": {"name": name, "uid": m["uid"]},
        });
        let oref = |o: &Value| json!({"name": o["metadata"]["name"], "uid": o["metadata"]["uid"]});
        if let Some(p) = pod {
            k8s["pod"] = oref(p);
        } else if let Some(s) = secret {
            k8s["secret"] = oref(s);
        }
        let claims = json!({
            "aud": audiences,
            "exp": now + expiration_seconds,
            "iat": now,
            "iss": ISSUER,
            "jti": uuid::Uuid::new_v4().to_string(),
            "kubernetes.io": k8s,
            "nbf": now,
            "sub": service_account_username(ns, name),
        });
        self.sign(&claims)
    }

    /// A default token (API audiences, one hour) for ServiceAccount `ns/name`.
    pub fn service_account_token(
        &self,
        cluster: &Cluster,
        ns: &str,
        name: &str,
    ) -> ApiResult<String> {
        let sa = get(cluster, "serviceaccounts", ns, name)?;
        let auds: Vec<String> = API_AUDIENCES.iter().map(|s| s.to_string()).collect();
        self.issue(
            &sa,
            &auds,
            now_unix(),
            DEFAULT_EXPIRATION_SECONDS,
            None,
            None,
        )
    }

    /// upstream's JWTTokenAuthenticator + the ServiceAccount validator.
    pub fn authenticate(&self, cluster: &Cluster, token: &str) -> TokenCheck {
        let claims = match self.verify(token) {
            Ok(c) => c,
            Err(None) => return TokenCheck::NotOurs,
            Err(Some(why)) => return TokenCheck::Invalid(why),
        };
        match validate(cluster, &claims) {
            Ok(u) => TokenCheck::User(u),
            Err(why) => TokenCheck::Invalid(why),
        }
    }
}

fn numeric(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

fn deleted_before(obj: &Value, cutoff: i64) -> bool {
    obj["metadata"]["deletionTimestamp"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .is_some_and(|t| t.as_second() < cutoff)
}

fn stored(cluster: &Cluster, storage: &str, ns: &str, name: &str) -> Option<Value> {
    cluster
        .store
        .get(storage, &(ns.to_string(), name.to_string()))
        .map(|v| (*v).clone())
}

fn get(cluster: &Cluster, plural: &str, ns: &str, name: &str) -> ApiResult<Value> {
    stored(cluster, plural, ns, name)
        .ok_or_else(|| ApiError::not_found(&GroupResource::new("", plural), name))
}

/// Claims checks after the signature (times, audiences, the objects behind the token).
fn validate(cluster: &Cluster, c: &Value) -> Result<UserInfo, String> {
    let now = now_unix();
    if let Some(nbf) = numeric(&c["nbf"])
        && now + LEEWAY_SECONDS < nbf
    {
        return Err("Token could not be validated.".into());
    }
    if let Some(exp) = numeric(&c["exp"])
        && now - LEEWAY_SECONDS > exp
    {
        return Err("Token has expired.".into());
    }
    if let Some(iat) = numeric(&c["iat"])
        && now + LEEWAY_SECONDS < iat
    {
        return Err("Token could not be validated.".into());
    }
    let auds = strings(&c["aud"]);
    if !auds.is_empty() && !auds.iter().any(|a| API_AUDIENCES.contains(&a.as_str())) {
        return Err(format!(
            "token audiences {auds:?} is invalid for the target audiences {API_AUDIENCES:?}"
        ));
    }
    let k = &c["kubernetes.io"];
    let ns = k["namespace"].as_str().unwrap_or_default();
    let sa_name = k["serviceaccount"]["name"].as_str().unwrap_or_default();
    let sa_uid = k["serviceaccount"]["uid"].as_str().unwrap_or_default();
    let cutoff = now - LEEWAY_SECONDS;
    let sa = stored(cluster, "serviceaccounts", ns, sa_name)
        .ok_or_else(|| format!("serviceaccounts \"{sa_name}\" not found"))?;
    if deleted_before(&sa, cutoff) {
        return Err(format!("ServiceAccount {ns}/{sa_name} has been deleted"));
    }
    let uid = sa["metadata"]["uid"].as_str().unwrap_or_default();
    if uid != sa_uid {
        return Err(format!(
            "ServiceAccount UID ({uid}) does not match claim ({sa_uid})"
        ));
    }
    for (claim, plural) in [("secret", "secrets"), ("pod", "pods")] {
        let r = &k[claim];
        if r.is_null() {
            continue;
        }
        let rname = r["name"].as_str().unwrap_or_default();
        let obj = stored(cluster, plural, ns, rname)
            .filter(|o| !deleted_before(o, cutoff))
            .ok_or("Token has been invalidated")?;
        if obj["metadata"]["uid"] != r["uid"] {
            return Err(format!("{claim} UID does not match claim"));
        }
    }
    let mut user = UserInfo::service_account(ns, sa_name, sa_uid);
    if let Some(jti) = c["jti"].as_str() {
        user.extra.insert(
            "authentication.kubernetes.io/credential-id".into(),
            vec![format!("JTI={jti}")],
        );
    }
    if let Some(p) = k["pod"].as_object() {
        let s = |k: &str| {
            p.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        user.extra.insert(
            "authentication.kubernetes.io/pod-name".into(),
            vec![s("name")],
        );
        user.extra.insert(
            "authentication.kubernetes.io/pod-uid".into(),
            vec![s("uid")],
        );
    }
    Ok(user)
}

/// `/.well-known/openid-configuration`; `external` is `host:port` of the serving address.
pub fn openid_configuration(jwks_uri: &str) -> Value {
    json!({
        "issuer": ISSUER,
        "jwks_uri": jwks_uri,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}

fn invalid_token_request(name: &str, field: &str, value: &Value, detail: &str) -> ApiError {
    ApiError::invalid(
        "authentication.k8s.io",
        "TokenRequest",
        name,
        vec![Cause::invalid(field, value, detail)],
    )
}

/// `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token` (upstream's TokenREST.Create).
pub fn token_request(
    cluster: &Cluster,
    issuer: &TokenIssuer,
    ns: &str,
    name: &str,
    body: &Value,
) -> ApiResult<Value> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
        ));
    }
    match (body["kind"].as_str(), body["apiVersion"].as_str()) {
        (Some("TokenRequest") | None, Some("authentication.k8s.io/v1") | None) => {}
        (kind, api_version) => {
            return Err(ApiError::bad_request(format!(
                "TokenRequest in version \"v1\" cannot be handled as a TokenRequest: no kind {:?} is registered for version {:?}",
                kind.unwrap_or_default(),
                api_version.unwrap_or_default()
            )));
        }
    }
    let meta = &body["metadata"];
    if let Some(n) = meta["name"]
        .as_str()
        .filter(|n| !n.is_empty() && *n != name)
    {
        return Err(invalid_token_request(
            name,
            "metadata.name",
            &json!(n),
            "must match the service account name if specified",
        ));
    }
    if let Some(n) = meta["namespace"]
        .as_str()
        .filter(|n| !n.is_empty() && *n != ns)
    {
        return Err(invalid_token_request(
            name,
            "metadata.namespace",
            &json!(n),
            "must match the service account namespace if specified",
        ));
    }
    let sa = get(cluster, "serviceaccounts", ns, name)?;
    let sa_uid = sa["metadata"]["uid"].as_str().unwrap_or_default();
    if let Some(uid) = meta["uid"]
        .as_str()
        .filter(|u| !u.is_empty() && *u != sa_uid)
    {
        return Err(ApiError::conflict(
            &GroupResource::new("authentication.k8s.io", "TokenRequest"),
            name,
            &format!(
                "the UID in the token request ({uid}) does not match the UID of the service account ({sa_uid})"
            ),
        ));
    }
    let spec = &body["spec"];
    let mut audiences = strings(&spec["audiences"]);
    if audiences.is_empty() {
        audiences = API_AUDIENCES.iter().map(|s| s.to_string()).collect();
    }
    let expiration = match &spec["expirationSeconds"] {
        Value::Null => DEFAULT_EXPIRATION_SECONDS,
        v => v.as_i64().ok_or_else(|| {
            ApiError::bad_request(format!(
                "TokenRequest in version \"v1\" cannot be handled as a TokenRequest: json: cannot unmarshal {} into Go struct field TokenRequestSpec.spec.expirationSeconds of type int64",
                if v.is_string() { "string" } else { "number" }
            ))
        })?,
    };
    if expiration < MIN_EXPIRATION_SECONDS {
        return Err(invalid_token_request(
            "",
            "spec.expirationSeconds",
            &json!(expiration),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration > MAX_EXPIRATION_SECONDS {
        return Err(invalid_token_request(
            "",
            "spec.expirationSeconds",
            &json!(expiration),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    let (mut pod, mut secret) = (None, None);
    let bound = &spec["boundObjectRef"];
    if bound.is_object() {
        let kind = bound["kind"].as_str().unwrap_or_default();
        let api_version = bound["apiVersion"].as_str().unwrap_or_default();
        let ref_name = bound["name"].as_str().unwrap_or_default();
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        let obj = match (group, kind) {
            ("", "Pod") => {
                let p = get(cluster, "pods", ns, ref_name)?;
                if p["spec"]["serviceAccountName"].as_str().unwrap_or_default() != name {
                    return Err(ApiError::bad_request(format!(
                        "cannot bind token for serviceaccount {name:?} to pod running with different serviceaccount name."
                    )));
                }
                pod = Some(p.clone());
                p
            }
            ("", "Secret") => {
                let s = get(cluster, "secrets", ns, ref_name)?;
                secret = Some(s.clone());
                s
            }
            ("", "Node") => {
                return Err(ApiError::not_found(
                    &GroupResource::new("", "nodes"),
                    ref_name,
                ));
            }
            _ => {
                let version = api_version.rsplit('/').next().unwrap_or_default();
                return Err(ApiError::bad_request(format!(
                    "cannot bind token to object of type {}",
                    if group.is_empty() {
                        format!("/{version}, Kind={kind}")
                    } else {
                        format!("{group}/{version}, Kind={kind}")
                    }
                )));
            }
        };
        if let Some(uid) = bound["uid"].as_str().filter(|u| !u.is_empty())
            && Some(uid) != obj["metadata"]["uid"].as_str()
        {
            return Err(ApiError::conflict(
                &GroupResource::new("", kind),
                ref_name,
                &format!(
                    "the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
            ));
        }
    }
    let now = now_unix();
    let token = issuer.issue(
        &sa,
        &audiences,
        now,
        expiration,
        pod.as_ref(),
        secret.as_ref(),
    )?;
    let mut metadata = meta.as_object().cloned().unwrap_or_default();
    metadata.insert("name".into(), json!(name));
    metadata.insert("namespace".into(), json!(ns));
    metadata.insert("creationTimestamp".into(), json!(rfc3339(now)));
    let mut out_spec = spec.as_object().cloned().unwrap_or_default();
    out_spec.insert("audiences".into(), json!(audiences));
    out_spec.insert("expirationSeconds".into(), json!(expiration));
    out_spec.entry("boundObjectRef").or_insert(Value::Null);
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": metadata,
        "spec": out_spec,
        "status": {
            "token": token,
            "expirationTimestamp": rfc3339(now + expiration),
        },
    }))
}

/// The claims of a token, unverified (for tests and debugging).
pub fn decode_claims(token: &str) -> Option<Value> {
    let p = token.split('.').nth(1)?;
    serde_json::from_slice(&B64URL.decode(p).ok()?).ok()
}

/// `status` of a TokenReview for `token` (upstream's TokenReview REST).
pub fn token_review_status(cluster: &Cluster, issuer: &TokenIssuer, token: &str) -> Value {
    match issuer.authenticate(cluster, token) {
        TokenCheck::User(u) => json!({
            "authenticated": true,
            "user": u.with_authenticated_group().to_value(),
            "audiences": API_AUDIENCES,
        }),
        TokenCheck::Invalid(why) => json!({"user": {}, "error": why}),
        TokenCheck::NotOurs => json!({"user": {}}),
    }
}
