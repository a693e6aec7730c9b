//! Building an AWS Secrets Manager client from a store's settings: region, endpoint override,
//! credentials (static, or the default chain), an optional role to assume (with external id and
//! session tags), and explicit timeouts and retries.
//!
//! Which credentials a store may use is decided by the store registry (tenancy rules); this
//! module only builds what it is told to build.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

use super::assume::{AssumedRole, TokenSource, WebIdentityRole};
use super::observe::{CallObserver, CountingInterceptor};
use crate::provider::ProviderError;
use crate::value::SecretBytes;

/// Everything needed to build a Secrets Manager client for one store.
#[derive(Clone, Debug)]
pub struct AwsClientConfig {
    /// AWS region, for example `eu-west-1`.
    pub region: String,
    /// Secrets Manager endpoint URL overriding the regional one (VPC endpoint, tests).
    pub endpoint: Option<String>,
    /// STS endpoint URL for assuming roles, when the regional one must not be used (tests,
    /// private STS endpoints). Set by the operator, never by a store.
    pub sts_endpoint: Option<String>,
    /// Where the base credentials come from.
    pub credentials: CredentialSource,
    /// Roles assumed one after the other with the base credentials before `assume_role`
    /// (role chaining; no external id or tags, as ESO).
    pub additional_roles: Vec<String>,
    /// A role to assume with the base credentials (after `additional_roles`).
    pub assume_role: Option<AssumeRole>,
    /// Timeouts of every call.
    pub timeouts: Timeouts,
    /// Attempts per call, first one included, with the SDK's standard retry strategy
    /// (exponential backoff with jitter, throttling-aware).
    pub max_attempts: u32,
    /// Told about every request (attempts included), for metrics.
    pub observer: Option<Arc<dyn CallObserver>>,
}

impl AwsClientConfig {
    /// A configuration with the operator's defaults for a region and credentials.
    pub fn new(region: impl Into<String>, credentials: CredentialSource) -> Self {
        Self {
            region: region.into(),
            endpoint: None,
            sts_endpoint: None,
            credentials,
            additional_roles: Vec::new(),
            assume_role: None,
            timeouts: Timeouts::default(),
            max_attempts: 3,
            observer: None,
        }
    }
}

/// Where base credentials come from.
#[derive(Clone, Debug)]
pub enum CredentialSource {
    /// Access keys read from a Kubernetes Secret.
    Static {
        /// The access key id.
        access_key_id: String,
        /// The secret access key.
        secret_access_key: SecretBytes,
        /// The session token of temporary credentials.
        session_token: Option<SecretBytes>,
    },
    /// The operator's own identity from the default AWS chain (IRSA, EKS Pod Identity,
    /// environment, instance profile).
    DefaultChain,
    /// A ServiceAccount's web identity exchanged for `role_arn` (store `auth.jwt`).
    WebIdentity {
        /// The role of the ServiceAccount (`eks.amazonaws.com/role-arn`).
        role_arn: String,
        /// STS session name.
        session_name: String,
        /// Mints the ServiceAccount's tokens.
        token: TokenSource,
    },
}

/// A role to assume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssumeRole {
    /// ARN of the role.
    pub role_arn: String,
    /// External id the role's trust policy requires.
    pub external_id: Option<String>,
    /// Session tags.
    pub session_tags: Vec<(String, String)>,
    /// Session name, visible in CloudTrail.
    pub session_name: String,
    /// Session tag keys that stay set on roles assumed later in a chain.
    pub transitive_tag_keys: Vec<String>,
}

/// Timeouts of AWS calls. Explicit so a hung endpoint never blocks a reconcile for long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a connection.
    pub connect: Duration,
    /// One attempt of a call, connection included.
    pub attempt: Duration,
    /// A whole call, retries included.
    pub operation: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            attempt: Duration::from_secs(10),
            operation: Duration::from_secs(30),
        }
    }
}

/// The clients a store needs: Secrets Manager, and STS for the credential check.
#[derive(Clone, Debug)]
pub struct AwsClients {
    /// Secrets Manager.
    pub secrets_manager: aws_sdk_secretsmanager::Client,
    /// STS, with the same identity (GetCallerIdentity needs no IAM permission).
    pub sts: aws_sdk_sts::Client,
}

/// Builds the clients. No network call is made here; bad credentials surface on the first call.
pub async fn build_client(config: &AwsClientConfig) -> Result<AwsClients, ProviderError> {
    if config.region.trim().is_empty() {
        return Err(ProviderError::InvalidStoreConfig("region is empty".into()));
    }
    if !is_aws_region(&config.region) {
        return Err(ProviderError::InvalidStoreConfig(format!(
            "region {:?} is not an AWS region (no AWS partition has it)",
            config.region
        )));
    }
    if config.max_attempts == 0 {
        return Err(ProviderError::InvalidStoreConfig(
            "max attempts must be at least 1".into(),
        ));
    }
    for url in config.endpoint.iter().chain(config.sts_endpoint.iter()) {
        validate_endpoint(url)?;
    }

    let timeouts = TimeoutConfig::builder()
        .connect_timeout(config.timeouts.connect)
        .operation_attempt_timeout(config.timeouts.attempt)
        .operation_timeout(config.timeouts.operation)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(config.max_attempts));
    if let CredentialSource::Static {
        access_key_id,
        secret_access_key,
        session_token,
    } = &config.credentials
    {
        if access_key_id.is_empty() || secret_access_key.is_empty() {
            return Err(ProviderError::InvalidStoreConfig(
                "static credentials need a non-empty access key id and secret access key".into(),
            ));
        }
        let secret = utf8_credential(secret_access_key, "secret access key")?;
        let token = session_token
            .as_ref()
            .map(|t| utf8_credential(t, "session token"))
            .transpose()?;
        loader = loader.credentials_provider(Credentials::new(
            access_key_id.clone(),
            secret,
            token,
            None,
            "stagesync-store-secret",
        ));
    }
    if matches!(config.credentials, CredentialSource::WebIdentity { .. }) {
        // AssumeRoleWithWebIdentity is not signed: the token is the identity.
        loader = loader.no_credentials();
    }
    let mut base = loader.load().await;
    if let CredentialSource::WebIdentity {
        role_arn,
        session_name,
        token,
    } = &config.credentials
    {
        let mut sts = aws_sdk_sts::config::Builder::from(&base);
        if let Some(endpoint) = &config.sts_endpoint {
            sts = sts.endpoint_url(endpoint);
        }
        let provider = WebIdentityRole::new(
            aws_sdk_sts::Client::from_conf(sts.build()),
            role_arn.clone(),
            session_name.clone(),
            token.clone(),
        );
        base = base
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
    }

    let mut chain: Vec<AssumeRole> = config
        .additional_roles
        .iter()
        .map(|arn| AssumeRole {
            role_arn: arn.clone(),
            external_id: None,
            session_tags: Vec::new(),
            session_name: config
                .assume_role
                .as_ref()
                .map_or_else(|| "stagesync".to_owned(), |r| r.session_name.clone()),
            transitive_tag_keys: Vec::new(),
        })
        .collect();
    chain.extend(config.assume_role.clone());
    let mut sdk_config = base;
    for role in &chain {
        sdk_config = with_assumed_role(sdk_config, role, config.sts_endpoint.as_deref())?;
    }

    let mut sm = aws_sdk_secretsmanager::config::Builder::from(&sdk_config);
    if let Some(endpoint) = &config.endpoint {
        sm = sm.endpoint_url(endpoint);
    }
    let mut sts = aws_sdk_sts::config::Builder::from(&sdk_config);
    if let Some(endpoint) = &config.sts_endpoint {
        sts = sts.endpoint_url(endpoint);
    }
    if let Some(observer) = &config.observer {
        sm = sm.interceptor(CountingInterceptor(observer.clone()));
        sts = sts.interceptor(CountingInterceptor(observer.clone()));
    }
    Ok(AwsClients {
        secrets_manager: aws_sdk_secretsmanager::Client::from_conf(sm.build()),
        sts: aws_sdk_sts::Client::from_conf(sts.build()),
    })
}

/// The configuration whose credentials are `role` assumed with the credentials of `base`.
fn with_assumed_role(
    base: SdkConfig,
    role: &AssumeRole,
    sts_endpoint: Option<&str>,
) -> Result<SdkConfig, ProviderError> {
    if !is_role_arn(&role.role_arn) {
        return Err(ProviderError::InvalidStoreConfig(format!(
            "role {:?} is not an IAM role ARN (arn:<partition>:iam::<12-digit account>:role/<name>)",
            role.role_arn
        )));
    }
    let mut sts = aws_sdk_sts::config::Builder::from(&base);
    if let Some(endpoint) = sts_endpoint {
        sts = sts.endpoint_url(endpoint);
    }
    let provider = AssumedRole::new(&aws_sdk_sts::Client::from_conf(sts.build()), role);
    Ok(base
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}

/// Whether a region belongs to an AWS partition: it matches a partition's `regionRegex` or is
/// one of the partitions' named regions (the SDK's `partitions.json`). Any other name would be
/// resolved to an endpoint that does not exist, or signed for a region no endpoint accepts.
fn is_aws_region(region: &str) -> bool {
    static REGIONS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(concat!(
            r"^(?:(?:us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+",
            r"|cn-\w+-\d+|eusc-de-\w+-\d+|us-gov-\w+-\d+",
            r"|us-iso-\w+-\d+|us-isob-\w+-\d+|eu-isoe-\w+-\d+|us-isof-\w+-\d+",
            r"|aws-global|aws-cn-global|aws-us-gov-global|aws-iso-global|aws-iso-b-global",
            r"|aws-iso-e-global|aws-iso-f-global)$",
        ))
        .expect("the partitions' region pattern")
    });
    region.is_ascii() && REGIONS.is_match(region)
}

/// Whether `arn` is an IAM role ARN, the only thing `sts:AssumeRole` accepts.
fn is_role_arn(arn: &str) -> bool {
    static ROLE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^arn:aws(?:-[a-z]+)*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+$")
            .expect("the role ARN pattern")
    });
    ROLE.is_match(arn)
}

fn validate_endpoint(url: &str) -> Result<(), ProviderError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
    if ok {
        Ok(())
    } else {
        Err(ProviderError::InvalidStoreConfig(format!(
            "endpoint {url:?} is not an http(s) URL"
        )))
    }
}

/// A credential as the SDK takes it. The SDK's `Credentials` keeps it in a `Zeroizing` string
/// and redacts it in `Debug`; only the trimmed copy handed over survives this call.
fn utf8_credential(bytes: &SecretBytes, what: &str) -> Result<String, ProviderError> {
    let text = std::str::from_utf8(bytes.expose())
        .map_err(|_| ProviderError::InvalidStoreConfig(format!("the {what} is not valid UTF-8")))?;
    Ok(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn static_creds() -> CredentialSource {
        CredentialSource::Static {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: SecretBytes::from("secret".to_owned()),
            session_token: None,
        }
    }

    #[tokio::test]
    async fn rejects_unusable_settings_before_any_call() {
        let mut c = AwsClientConfig::new("", static_creds());
        assert!(matches!(
            build_client(&c).await,
            Err(ProviderError::InvalidStoreConfig(_))
        ));
        c.region = "eu-west-1".into();
        c.endpoint = Some("ftp://example".into());
        assert!(matches!(
            build_client(&c).await,
            Err(ProviderError::InvalidStoreConfig(_))
        ));
        c.endpoint = None;
        c.assume_role = Some(AssumeRole {
            role_arn: "not-an-arn".into(),
            external_id: None,
            session_tags: vec![],
            session_name: "s".into(),
            transitive_tag_keys: vec![],
        });
        assert!(matches!(
            build_client(&c).await,
            Err(ProviderError::InvalidStoreConfig(_))
        ));
        let c = AwsClientConfig::new(
            "eu-west-1",
            CredentialSource::Static {
                access_key_id: String::new(),
                secret_access_key: SecretBytes::default(),
                session_token: None,
            },
        );
        assert!(matches!(
            build_client(&c).await,
            Err(ProviderError::InvalidStoreConfig(_))
        ));
    }

    #[test]
    fn regions_of_the_aws_partitions_only() {
        for region in [
            "us-east-1",
            "eu-central-2",
            "ap-southeast-7",
            "mx-central-1",
            "cn-northwest-1",
            "us-gov-west-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "us-isof-south-1",
            "eusc-de-east-1",
            "aws-global",
        ] {
            assert!(is_aws_region(region), "{region}");
        }
        for region in [
            "mars-1",
            "us-east",
            "US-EAST-1",
            "eu_west_1",
            "eu-west-1 ",
            "noop.",
            "local",
        ] {
            assert!(!is_aws_region(region), "{region}");
        }
    }

    #[test]
    fn role_arns() {
        for arn in [
            "arn:aws:iam::123456789012:role/reader",
            "arn:aws:iam::123456789012:role/path/to/app+x=y,z.w@v_u-1",
            "arn:aws-cn:iam::123456789012:role/r",
            "arn:aws-us-gov:iam::123456789012:role/r",
        ] {
            assert!(is_role_arn(arn), "{arn}");
        }
        for arn in [
            "reader",
            "arn:aws:iam::123:role/reader",
            "arn:aws:iam::123456789012:user/bob",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:sts::123456789012:role/r",
        ] {
            assert!(!is_role_arn(arn), "{arn}");
        }
    }

    #[tokio::test]
    async fn credential_errors_do_not_echo_the_secret() {
        let c = AwsClientConfig::new(
            "eu-west-1",
            CredentialSource::Static {
                access_key_id: "AKID".into(),
                secret_access_key: SecretBytes::new(vec![0xff, 0xfe, b'x']),
                session_token: None,
            },
        );
        let err = build_client(&c).await.unwrap_err().to_string();
        assert!(
            err.contains("secret access key is not valid UTF-8"),
            "{err}"
        );
    }
}
