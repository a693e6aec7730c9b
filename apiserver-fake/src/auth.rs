//! Authentication: who a request is. The admin bearer token (`Options.token`), the in-process
//! client and — when no admin token is configured — any request that carries no ServiceAccount
//! token are the superuser (`kubernetes-admin` in `system:masters`, which the authorizer lets do
//! anything, as upstream's privileged-group authorizer). A bearer token that this fake issued
//! (TokenRequest, `FakeApiServer::service_account_token`) authenticates as its ServiceAccount;
//! everything else is 401.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::ops::Cluster;
use crate::token::{TokenCheck, TokenIssuer};

/// `system:masters`: upstream's privileged group, allowed everything without RBAC.
pub const SYSTEM_MASTERS: &str = "system:masters";
pub const AUTHENTICATED: &str = "system:authenticated";
pub const ALL_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
/// The superuser's name (what a kubeadm admin kubeconfig authenticates as).
pub const ADMIN_USER: &str = "kubernetes-admin";

/// An authenticated user, as upstream's `user.Info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The superuser: the admin token, the in-process client, unauthenticated requests when no
    /// admin token is configured.
    pub fn superuser() -> Self {
        Self {
            name: ADMIN_USER.into(),
            uid: String::new(),
            groups: vec![SYSTEM_MASTERS.into(), AUTHENTICATED.into()],
            extra: BTreeMap::new(),
        }
    }

    /// A ServiceAccount's user (before `system:authenticated` is added).
    pub fn service_account(namespace: &str, name: &str, uid: &str) -> Self {
        Self {
            name: service_account_username(namespace, name),
            uid: uid.into(),
            groups: vec![
                ALL_SERVICE_ACCOUNTS.into(),
                format!("{ALL_SERVICE_ACCOUNTS}:{namespace}"),
            ],
            extra: BTreeMap::new(),
        }
    }

    /// Member of `system:masters`: every request is allowed.
    pub fn is_privileged(&self) -> bool {
        self.groups.iter().any(|g| g == SYSTEM_MASTERS)
    }

    /// upstream's AuthenticatedGroupAdder.
    pub fn with_authenticated_group(mut self) -> Self {
        if !self.groups.iter().any(|g| g == AUTHENTICATED) {
            self.groups.push(AUTHENTICATED.into());
        }
        self
    }

    /// `status.userInfo` of TokenReview / SelfSubjectReview.
    pub fn to_value(&self) -> Value {
        let mut v = json!({"username": self.name});
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        if !self.groups.is_empty() {
            v["groups"] = json!(self.groups);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }
}

/// `system:serviceaccount:<ns>:<name>`.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// Who sent the request. `authorization` is the `Authorization` header; `open_path` marks
/// `/healthz`, `/livez`, `/readyz`, which stay open without credentials.
pub fn authenticate(
    cluster: &Cluster,
    issuer: &TokenIssuer,
    admin_token: Option<&str>,
    authorization: Option<&str>,
    open_path: bool,
) -> ApiResult<UserInfo> {
    let bearer = authorization
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let (Some(t), Some(admin)) = (bearer, admin_token)
        && t == admin
    {
        return Ok(UserInfo::superuser());
    }
    if let Some(t) = bearer {
        match issuer.authenticate(cluster, t) {
            TokenCheck::User(u) => return Ok(u.with_authenticated_group()),
            TokenCheck::Invalid(why) => {
                tracing::debug!("service account token rejected: {why}");
                return Err(ApiError::unauthorized());
            }
            TokenCheck::NotOurs => {}
        }
    }
    if admin_token.is_none() || open_path {
        return Ok(UserInfo::superuser());
    }
    Err(ApiError::unauthorized())
}

/// upstream's impersonation filter: `Impersonate-User`, `Impersonate-Group` (repeated),
/// `Impersonate-Uid` and `Impersonate-Extra-<key>` headers, each authorized with the
/// `impersonate` verb (users / groups / serviceaccounts / uids / userextras), then the
/// request runs as the impersonated user. `Ok(None)` when the request impersonates nobody.
pub fn impersonate(
    cluster: &Cluster,
    requestor: &UserInfo,
    headers: &http::HeaderMap,
) -> ApiResult<Option<UserInfo>> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect()
    };
    let user = values("impersonate-user").into_iter().next();
    let groups = values("impersonate-group");
    let uid = values("impersonate-uid").into_iter().next();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, v) in headers {
        if let Some(key) = name.as_str().strip_prefix("impersonate-extra-")
            && let Ok(v) = v.to_str()
        {
            let key = path_unescape(key);
            extra.entry(key).or_default().push(v.to_string());
        }
    }
    let Some(username) = user else {
        if !groups.is_empty() || uid.is_some() || !extra.is_empty() {
            return Err(ApiError::internal(
                "requested impersonation of groups, extra or uid without impersonating a user",
            ));
        }
        return Ok(None);
    };
    let check = |attrs: crate::rbac::Attributes| crate::rbac::check(cluster, &attrs);
    let base = crate::rbac::Attributes {
        user: requestor.clone(),
        verb: "impersonate".into(),
        resource_request: true,
        ..Default::default()
    };
    let sa = username
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
        .map(|(ns, n)| (ns.to_string(), n.to_string()));
    match &sa {
        Some((ns, n)) => check(crate::rbac::Attributes {
            namespace: ns.clone(),
            resource: "serviceaccounts".into(),
            name: n.clone(),
            ..base.clone()
        })?,
        None => check(crate::rbac::Attributes {
            resource: "users".into(),
            name: username.clone(),
            ..base.clone()
        })?,
    }
    for g in &groups {
        check(crate::rbac::Attributes {
            resource: "groups".into(),
            name: g.clone(),
            ..base.clone()
        })?;
    }
    if let Some(u) = &uid {
        check(crate::rbac::Attributes {
            api_group: "authentication.k8s.io".into(),
            resource: "uids".into(),
            name: u.clone(),
            ..base.clone()
        })?;
    }
    for (k, vs) in &extra {
        for v in vs {
            check(crate::rbac::Attributes {
                api_group: "authentication.k8s.io".into(),
                resource: "userextras".into(),
                subresource: k.clone(),
                name: v.clone(),
                ..base.clone()
            })?;
        }
    }
    let mut groups = groups;
    if groups.is_empty()
        && let Some((ns, _)) = &sa
    {
        groups = vec![
            ALL_SERVICE_ACCOUNTS.into(),
            format!("{ALL_SERVICE_ACCOUNTS}:{ns}"),
        ];
    }
    if username == "system:anonymous" {
        if !groups.iter().any(|g| g == "system:unauthenticated") {
            groups.push("system:unauthenticated".into());
        }
    } else if !groups
        .iter()
        .any(|g| g == AUTHENTICATED || g == "system:unauthenticated")
    {
        groups.push(AUTHENTICATED.into());
    }
    Ok(Some(UserInfo {
        name: username,
        uid: uid.unwrap_or_default(),
        groups,
        extra,
    }))
}

/// Go's `url.PathUnescape` (percent-decoding; `+` stays `+`).
fn path_unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && s.is_char_boundary(i + 3)
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
