//! Role assumption for stores: the web identity of a ServiceAccount (`auth.jwt`, exchanged with
//! STS `AssumeRoleWithWebIdentity` for a fresh token each time the credentials are renewed), and a credentials provider that calls STS `AssumeRole` with
//! everything a store can ask for (external id, session tags, transitive tag keys — the SDK's own
//! `AssumeRoleProvider` has no transitive keys), chained for `additionalRoles`. The SDK's
//! identity cache in front of it reuses the credentials until shortly before they expire.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials, future};
use aws_sdk_sts::operation::assume_role::builders::AssumeRoleFluentBuilder;

use super::client::AssumeRole;

/// Credentials of one assumed role.
#[derive(Debug)]
pub struct AssumedRole {
    request: AssumeRoleFluentBuilder,
}

impl AssumedRole {
    /// Assumes `role` with the identity of `sts`.
    pub fn new(sts: &aws_sdk_sts::Client, role: &AssumeRole) -> Self {
        let tags = role
            .session_tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_sts::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("key and value are set")
            })
            .collect::<Vec<_>>();
        let request = sts
            .assume_role()
            .role_arn(&role.role_arn)
            .role_session_name(&role.session_name)
            .set_external_id(role.external_id.clone())
            .set_tags((!tags.is_empty()).then_some(tags))
            .set_transitive_tag_keys(
                (!role.transitive_tag_keys.is_empty()).then(|| role.transitive_tag_keys.clone()),
            );
        Self { request }
    }

    async fn fetch(&self) -> provider::Result {
        let out = self.request.clone().send().await.map_err(|e| {
            CredentialsError::provider_error(aws_sdk_sts::error::DisplayErrorContext(e).to_string())
        })?;
        let c = out.credentials.ok_or_else(|| {
            CredentialsError::unhandled("AssumeRole answered without credentials")
        })?;
        let expiry = SystemTime::try_from(c.expiration).map_err(|_| {
            CredentialsError::unhandled("AssumeRole answered an invalid expiration")
        })?;
        Ok(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            Some(expiry),
            "stagesync-assume-role",
        ))
    }
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.fetch())
    }
}

/// Mints a ServiceAccount token (the TokenRequest API); the error is a message naming the
/// ServiceAccount.
#[derive(Clone)]
pub struct TokenSource(
    pub  std::sync::Arc<
        dyn Fn() -> futures::future::BoxFuture<'static, Result<String, String>> + Send + Sync,
    >,
);

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSource")
    }
}

/// Credentials of a role assumed with a ServiceAccount's web identity.
pub struct WebIdentityRole {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    session_name: String,
    token: TokenSource,
}

impl std::fmt::Debug for WebIdentityRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebIdentityRole")
            .field("role_arn", &self.role_arn)
            .finish_non_exhaustive()
    }
}

impl WebIdentityRole {
    /// Assumes `role_arn` with tokens from `token` (`sts` needs no credentials of its own).
    pub fn new(
        sts: aws_sdk_sts::Client,
        role_arn: String,
        session_name: String,
        token: TokenSource,
    ) -> Self {
        Self {
            sts,
            role_arn,
            session_name,
            token,
        }
    }

    async fn fetch(&self) -> provider::Result {
        let token = (self.token.0)()
            .await
            .map_err(CredentialsError::provider_error)?;
        let out = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(&self.role_arn)
            .role_session_name(&self.session_name)
            .web_identity_token(token)
            .send()
            .await
            .map_err(|e| {
                CredentialsError::provider_error(
                    aws_sdk_sts::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        let c = out.credentials.ok_or_else(|| {
            CredentialsError::unhandled("AssumeRoleWithWebIdentity answered without credentials")
        })?;
        let expiry = SystemTime::try_from(c.expiration).map_err(|_| {
            CredentialsError::unhandled("AssumeRoleWithWebIdentity answered an invalid expiration")
        })?;
        Ok(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            Some(expiry),
            "stagesync-web-identity",
        ))
    }
}

impl ProvideCredentials for WebIdentityRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.fetch())
    }
}
