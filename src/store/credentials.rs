//! A store's identity: the credentials it reads (static keys from a Secret, a ServiceAccount's
//! web identity, or the operator's own), the roles it assumes and their session tags — after
//! the tenancy checks on where each may be read from.

use super::*;

impl StoreRegistry {
    /// Client settings for a store, after the tenancy checks, with a version string of the
    /// credentials it read (so a changed credential Secret rebuilds the client).
    pub(super) async fn client_config(
        &self,
        store: &StoreObject,
        tenant: Option<&str>,
    ) -> Result<(AwsClientConfig, String), StoreError> {
        let aws = &store.aws;
        if let Some(allowed) = &self.policy.allowed_roles
            && let Some(role) = aws
                .additional_roles
                .iter()
                .chain(aws.role.iter())
                .find(|role| !allowed.is_match(role))
        {
            return Err(StoreError::RoleNotAllowed { role: role.clone() });
        }
        let auth = aws
            .auth
            .as_ref()
            .filter(|a| a.secret_ref.is_some() || a.jwt.is_some());
        let (credentials, credentials_version) = match auth {
            None => {
                if store.kind == StoreKind::SecretStore
                    && !self.policy.allow_ambient_credentials_in_namespaced_stores
                {
                    return Err(StoreError::AmbientNotAllowed {
                        store: store.name.clone(),
                        namespace: store.namespace.clone().unwrap_or_default(),
                    });
                }
                (CredentialSource::DefaultChain, String::new())
            }
            Some(auth) => match (&auth.secret_ref, &auth.jwt) {
                (Some(secret_ref), None) => {
                    let mut versions = CredentialReads::default();
                    let access_key_id = self
                        .read_key(store, &secret_ref.access_key_id, &mut versions)
                        .await?;
                    let secret_access_key = self
                        .read_key(
                            store,
                            &secret_ref.secret_access_key_secret_ref,
                            &mut versions,
                        )
                        .await?;
                    let session_token = match &secret_ref.session_token_secret_ref {
                        Some(sel) => Some(self.read_key(store, sel, &mut versions).await?),
                        None => None,
                    };
                    // An identifier, sent in clear in every signed request (SigV4): plain text.
                    let access_key_id = String::from_utf8(access_key_id.into_exposed())
                        .map_err(|_| {
                            StoreError::InvalidConfig("the access key id is not valid UTF-8".into())
                        })?
                        .trim()
                        .to_owned();
                    (
                        CredentialSource::Static {
                            access_key_id,
                            secret_access_key,
                            session_token,
                        },
                        versions.version(),
                    )
                }
                (Some(_), Some(_)) => {
                    return Err(StoreError::InvalidConfig(
                        "auth sets both secretRef and jwt; set one".into(),
                    ));
                }
                (None, Some(jwt)) => self.web_identity(store, jwt, &session_name(store)).await?,
                (None, None) => unreachable!("auth without secretRef or jwt is filtered out above"),
            },
        };
        let mut config = AwsClientConfig::new(aws.region.clone(), credentials);
        config.endpoint = aws.endpoint.clone();
        config.sts_endpoint = self.policy.sts_endpoint.clone();
        config.timeouts = self.policy.timeouts;
        config.max_attempts = self.policy.max_attempts;
        config.additional_roles = aws.additional_roles.clone();
        config.assume_role = aws.role.as_ref().map(|role| AssumeRole {
            role_arn: role.clone(),
            external_id: aws.external_id.clone(),
            session_tags: session_tags(store, tenant),
            session_name: session_name(store),
            transitive_tag_keys: aws.transitive_tag_keys.clone(),
        });
        Ok((config, credentials_version))
    }

    /// `auth.jwt`: the ServiceAccount's role (its `eks.amazonaws.com/role-arn` annotation) and a
    /// source of its tokens (TokenRequest, audiences `eks.amazonaws.com/audience` or
    /// `sts.amazonaws.com`, plus `serviceAccountRef.audiences`), as ESO does. One token is minted
    /// here, so a ServiceAccount the operator may not mint tokens for fails the store at once.
    async fn web_identity(
        &self,
        store: &StoreObject,
        jwt: &crate::api::secretstore::AwsJwtAuth,
        session: &str,
    ) -> Result<(CredentialSource, String), StoreError> {
        let sa = &jwt.service_account_ref;
        let namespace = referenced_namespace(
            store.namespace.as_deref(),
            sa.namespace.as_deref(),
            Referenced::ServiceAccount(&sa.name),
        )?;
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &namespace);
        let account = api.get_opt(&sa.name).await?.ok_or_else(|| {
            StoreError::InvalidConfig(format!(
                "ServiceAccount {:?} of auth.jwt does not exist in namespace {namespace:?}",
                sa.name
            ))
        })?;
        let annotation = |k: &str| {
            account
                .annotations()
                .get(k)
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let role_arn = annotation("eks.amazonaws.com/role-arn").ok_or_else(|| {
            StoreError::InvalidConfig(format!(
                "an IAM role must be associated with ServiceAccount {:?} (namespace {namespace:?}): annotate it with eks.amazonaws.com/role-arn",
                sa.name
            ))
        })?;
        if let Some(allowed) = &self.policy.allowed_roles
            && !allowed.is_match(&role_arn)
        {
            return Err(StoreError::RoleNotAllowed { role: role_arn });
        }
        let mut audiences = vec![
            annotation("eks.amazonaws.com/audience").unwrap_or_else(|| "sts.amazonaws.com".into()),
        ];
        audiences.extend(sa.audiences.iter().cloned());
        let token = token_source(api, sa.name.clone(), namespace.clone(), audiences);
        (token.0)().await.map_err(StoreError::InvalidConfig)?;
        Ok((
            CredentialSource::WebIdentity {
                role_arn,
                session_name: session.to_owned(),
                token,
            },
            account.resource_version().unwrap_or_default(),
        ))
    }

    /// Reads one credential key, enforcing where it may be read from.
    async fn read_key(
        &self,
        store: &StoreObject,
        selector: &SecretKeySelector,
        reads: &mut CredentialReads,
    ) -> Result<SecretBytes, StoreError> {
        let namespace = referenced_namespace(
            store.namespace.as_deref(),
            selector.namespace.as_deref(),
            Referenced::CredentialSecret(&selector.name),
        )?;
        let slot = (namespace.clone(), selector.name.clone());
        let secret = match reads.secrets.get(&slot) {
            Some(s) => s,
            None => {
                let got = Api::<Secret>::namespaced(self.client.clone(), &namespace)
                    .get_opt(&selector.name)
                    .await?
                    .ok_or_else(|| StoreError::CredentialsNotFound {
                        what: format!("Secret {:?} in namespace {namespace:?}", selector.name),
                        secret: slot.clone(),
                    })?;
                reads
                    .secrets
                    .entry(slot.clone())
                    .or_insert(crate::value::SecretObject::new(got))
            }
        };
        let data: &BTreeMap<_, _> = match &secret.data {
            Some(d) => d,
            None => &BTreeMap::new(),
        };
        let value = data
            .get(&selector.key)
            .ok_or_else(|| StoreError::CredentialsNotFound {
                what: format!(
                    "key {:?} of Secret {:?} in namespace {namespace:?}",
                    selector.key, selector.name
                ),
                secret: (namespace.clone(), selector.name.clone()),
            })?;
        Ok(SecretBytes::new(value.0.clone()))
    }
}

/// The credential Secrets read for one client configuration, each read once; their data is
/// zeroed when dropped (the keys taken out of them are [`SecretBytes`]).
#[derive(Default)]
struct CredentialReads {
    secrets: BTreeMap<(String, String), crate::value::SecretObject>,
}

impl CredentialReads {
    /// Identifies the credentials read (their resourceVersions), so a change rebuilds the client.
    fn version(&self) -> String {
        self.secrets
            .values()
            .map(|s| s.resource_version().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The Secrets (namespace, name) a store reads its credentials from.
pub(super) fn credential_secrets(store: &StoreObject) -> Vec<(String, String)> {
    let Some(secret_ref) = store.aws.auth.as_ref().and_then(|a| a.secret_ref.as_ref()) else {
        return Vec::new();
    };
    [
        Some(&secret_ref.access_key_id),
        Some(&secret_ref.secret_access_key_secret_ref),
        secret_ref.session_token_secret_ref.as_ref(),
    ]
    .into_iter()
    .flatten()
    .filter_map(|sel| {
        let ns = store.namespace.clone().or_else(|| sel.namespace.clone())?;
        Some((ns, sel.name.clone()))
    })
    .collect()
}

/// Mints tokens of a ServiceAccount for STS (an hour each; the SDK renews the credentials, and
/// with them the token, before they expire).
fn token_source(
    api: Api<ServiceAccount>,
    name: String,
    namespace: String,
    audiences: Vec<String>,
) -> TokenSource {
    TokenSource(Arc::new(move || {
        let (api, name, namespace, audiences) = (
            api.clone(),
            name.clone(),
            namespace.clone(),
            audiences.clone(),
        );
        Box::pin(async move {
            let request = TokenRequest {
                spec: TokenRequestSpec {
                    audiences,
                    expiration_seconds: Some(3600),
                    ..TokenRequestSpec::default()
                },
                ..TokenRequest::default()
            };
            let answer = api
                .create_token_request(&name, &Default::default(), &request)
                .await
                .map_err(|e| {
                    format!("could not get a token for ServiceAccount {name:?} in namespace {namespace:?}: {e}")
                })?;
            answer
                .status
                .map(|s| s.token)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    format!("the TokenRequest for ServiceAccount {name:?} returned no token")
                })
        })
    }))
}

/// Whether the store's identity depends on the ExternalSecret's namespace (ESO's session tags).
pub(super) fn tags_per_namespace(aws: &AwsProvider) -> bool {
    aws.role.is_some()
        && matches!(
            aws.session_tags_policy,
            Some(SessionTagsPolicy::Simple | SessionTagsPolicy::Custom)
        )
}

/// The session tags of the store's role, as ESO builds them: `sessionTags` with policy `None`;
/// `esoNamespace` (the ExternalSecrets' namespace: `tenant`, or the SecretStore's own),
/// `esoStoreName` and `esoStoreKind` instead with `Simple`, plus `customSessionTags` with
/// `Custom` (empty keys and values skipped, reserved keys never overridden).
fn session_tags(store: &StoreObject, tenant: Option<&str>) -> Vec<(String, String)> {
    let aws = &store.aws;
    let policy = aws.session_tags_policy.unwrap_or_default();
    if policy == SessionTagsPolicy::None {
        return aws
            .session_tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect();
    }
    let mut tags = BTreeMap::new();
    if policy == SessionTagsPolicy::Custom {
        tags.extend(
            aws.custom_session_tags
                .iter()
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    let namespace = tenant
        .map(str::to_owned)
        .or_else(|| store.namespace.clone())
        .unwrap_or_default();
    let kind = match store.kind {
        StoreKind::SecretStore => "SecretStore",
        StoreKind::ClusterSecretStore => "ClusterSecretStore",
    };
    tags.insert("esoNamespace".to_owned(), namespace);
    tags.insert("esoStoreName".to_owned(), store.name.clone());
    tags.insert("esoStoreKind".to_owned(), kind.to_owned());
    tags.into_iter().collect()
}

/// STS session name visible in CloudTrail: which store assumed the role. At most 64 characters
/// of `[\w+=,.@-]`, as STS requires.
fn session_name(store: &StoreObject) -> String {
    let raw = match &store.namespace {
        Some(ns) => format!("stagesync-{ns}-{}", store.name),
        None => format!("stagesync-{}", store.name),
    };
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

/// What a store's auth refers to in some namespace.
#[derive(Clone, Copy, Debug)]
pub enum Referenced<'a> {
    /// The Secret holding access keys (`auth.secretRef`), by name.
    CredentialSecret(&'a str),
    /// The ServiceAccount of `auth.jwt`, by name.
    ServiceAccount(&'a str),
}

/// The namespace a store's reference points into. A SecretStore (`store_namespace` set) may only
/// use objects of its own namespace, whatever the reference says; a ClusterSecretStore must name
/// the namespace. Also used by `stagesync check`.
pub fn referenced_namespace(
    store_namespace: Option<&str>,
    reference_namespace: Option<&str>,
    what: Referenced<'_>,
) -> Result<String, StoreError> {
    match (store_namespace, reference_namespace) {
        (Some(own), Some(other)) if own != other => Err(StoreError::InvalidConfig(match what {
            Referenced::CredentialSecret(_) => format!(
                "a SecretStore may only read credentials from its own namespace {own:?}, not {other:?}"
            ),
            Referenced::ServiceAccount(_) => format!(
                "a SecretStore may only use ServiceAccounts of its own namespace {own:?}, not {other:?}"
            ),
        })),
        (Some(own), _) => Ok(own.to_owned()),
        (None, Some(ns)) => Ok(ns.to_owned()),
        (None, None) => Err(StoreError::InvalidConfig(match what {
            Referenced::CredentialSecret(name) => format!(
                "the credential reference to Secret {name:?} must set namespace in a ClusterSecretStore"
            ),
            Referenced::ServiceAccount(name) => format!(
                "auth.jwt.serviceAccountRef {name:?} must set namespace in a ClusterSecretStore"
            ),
        })),
    }
}
