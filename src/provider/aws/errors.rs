//! Mapping of AWS SDK errors onto [`ProviderError`]: by the service's error code where there is
//! one, by the failure kind (timeout, network) otherwise. AWS error messages describe the call,
//! never the secret's value, so they are kept as detail.

use std::error::Error as StdError;
use std::time::Duration;

use aws_sdk_secretsmanager::config::http::HttpResponse as Response;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::provider::ProviderError;

/// What kind of failure an SDK error is, before it is tied to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CallError {
    NotFound,
    InvalidRequest(String),
    AccessDenied(String),
    Throttled(Option<Duration>),
    Unavailable(String),
}

impl CallError {
    pub(super) fn into_error(self, key: &str) -> ProviderError {
        let k = Some(key.to_owned()).filter(|k| !k.is_empty());
        match self {
            Self::NotFound => ProviderError::SecretNotFound {
                key: key.to_owned(),
            },
            Self::InvalidRequest(detail) => ProviderError::InvalidRequest { key: k, detail },
            Self::AccessDenied(detail) => ProviderError::AccessDenied { key: k, detail },
            Self::Throttled(retry_after) => ProviderError::Throttled {
                key: k,
                retry_after,
            },
            Self::Unavailable(detail) => ProviderError::Unavailable { key: k, detail },
        }
    }

    pub(super) fn into_error_without_key(self) -> ProviderError {
        match self {
            Self::NotFound => ProviderError::InvalidRequest {
                key: None,
                detail: "resource not found".into(),
            },
            other => other.into_error(""),
        }
    }
}

const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredTokenException",
    "ExpiredToken",
    // KMS refused to decrypt the value with the store's identity.
    "DecryptionFailure",
    "KMSAccessDeniedException",
];

const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
];

/// Classifies an SDK error.
pub(super) fn classify<E>(err: &SdkError<E, Response>, _key: &str) -> CallError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let detail = || {
        let code = err.code().unwrap_or("");
        let message = err.message().unwrap_or("");
        if code.is_empty() && message.is_empty() {
            DisplayErrorContext(err).to_string()
        } else {
            format!("{code}: {message}")
                .trim_matches([' ', ':'])
                .to_owned()
        }
    };
    match err {
        SdkError::TimeoutError(_) => {
            return CallError::Unavailable("timed out waiting for AWS Secrets Manager".into());
        }
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => {
            let context = DisplayErrorContext(err).to_string();
            // Failing to obtain credentials (no chain, STS refusing AssumeRole) surfaces before
            // the request is sent; it is an identity problem, not an outage.
            if mentions_credentials(err) {
                return CallError::AccessDenied(format!(
                    "could not obtain AWS credentials: {context}"
                ));
            }
            return CallError::Unavailable(context);
        }
        SdkError::ResponseError(_) => {
            return CallError::Unavailable(DisplayErrorContext(err).to_string());
        }
        _ => {}
    }
    let code = err.code().unwrap_or_default();
    if code == "ResourceNotFoundException" {
        return CallError::NotFound;
    }
    if code == "InvalidRequestException" || code == "InvalidParameterException" {
        return CallError::InvalidRequest(detail());
    }
    if ACCESS_DENIED_CODES.contains(&code) {
        return CallError::AccessDenied(detail());
    }
    let status = err.raw_response().map(|r| r.status().as_u16());
    if THROTTLING_CODES.contains(&code) || status == Some(429) {
        let retry_after = err
            .raw_response()
            .and_then(|r| r.headers().get("retry-after"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return CallError::Throttled(retry_after);
    }
    if status == Some(403) {
        return CallError::AccessDenied(detail());
    }
    CallError::Unavailable(detail())
}

fn mentions_credentials(err: &(dyn StdError + 'static)) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("credential") || text.contains("identity") {
            return true;
        }
        current = e.source();
    }
    false
}
