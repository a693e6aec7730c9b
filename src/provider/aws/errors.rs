//! Mapping of AWS SDK errors onto [`ProviderError`]: by the service's error code where there is
//! one, by the failure kind (timeout, network) otherwise. AWS error messages describe the call,
//! never the secret's value, so they are kept as detail. Credentials AWS does not accept at all
//! (expired, unknown, badly signed, not obtainable) are told apart from a permission refused on
//! one call: the former fails every call alike and is retried with backoff, the latter may
//! concern one secret only.

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
    Credentials(String),
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
            Self::Credentials(detail) => ProviderError::CredentialsRejected { detail },
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

/// A permission refused: the identity is known, this call (or this secret) is not allowed.
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    // KMS refused to decrypt the value with the store's identity.
    "DecryptionFailure",
    "KMSAccessDeniedException",
];

/// The credentials themselves are refused (Secrets Manager's and STS's codes).
const CREDENTIAL_CODES: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredTokenException",
    "ExpiredToken",
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
                return CallError::Credentials(format!(
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
    if CREDENTIAL_CODES.contains(&code) {
        return CallError::Credentials(detail());
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::error::ErrorMetadata;
    use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError;
    use aws_smithy_types::body::SdkBody;

    /// What AWS answering `status` with error `code` (and `retry-after`) classifies as.
    fn answered(status: u16, code: &str, retry_after: Option<&str>) -> CallError {
        let meta = ErrorMetadata::builder().code(code).message("m").build();
        let mut raw = Response::new(status.try_into().unwrap(), SdkBody::empty());
        if let Some(seconds) = retry_after {
            raw.headers_mut().insert("retry-after", seconds.to_owned());
        }
        let err = SdkError::service_error(DescribeSecretError::generic(meta), raw);
        classify(&err, "k")
    }

    #[test]
    fn bad_credentials_are_told_apart_from_a_refused_permission() {
        for code in [
            "ExpiredTokenException",
            "UnrecognizedClientException",
            "ExpiredToken",
        ] {
            assert_eq!(
                answered(400, code, None),
                CallError::Credentials(format!("{code}: m")),
                "{code}"
            );
        }
        for code in ["AccessDeniedException", "DecryptionFailure"] {
            assert_eq!(
                answered(400, code, None),
                CallError::AccessDenied(format!("{code}: m"))
            );
        }
        let rejected = CallError::Credentials("ExpiredTokenException: m".into()).into_error("k");
        assert_eq!(
            rejected,
            ProviderError::CredentialsRejected {
                detail: "ExpiredTokenException: m".into()
            }
        );
        assert_eq!(rejected.reason().as_str(), "AccessDenied");
    }

    #[test]
    fn throttling_and_outages_by_code_and_status() {
        assert_eq!(
            answered(400, "ThrottlingException", None),
            CallError::Throttled(None)
        );
        assert_eq!(
            answered(429, "", Some("5")),
            CallError::Throttled(Some(Duration::from_secs(5)))
        );
        assert_eq!(
            answered(500, "InternalServiceError", None),
            CallError::Unavailable("InternalServiceError: m".into())
        );
        assert_eq!(
            answered(400, "ResourceNotFoundException", None),
            CallError::NotFound
        );
    }
}
