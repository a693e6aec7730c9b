//! What the test proxy in front of moto (`aws_proxy`) can make AWS do wrong, and the answers it
//! gives then, shaped as AWS gives them: Secrets Manager errors as JSON with `__type` and
//! `x-amzn-errortype`, STS errors as XML, a `BatchGetSecretValue` whose failing secrets move to
//! its `Errors` list. A fault applies to everyone or to the requests signed by one access key
//! (so concurrent scenarios on one proxy do not see each other's faults).

use std::collections::BTreeSet;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header;
use hyper::{Response, StatusCode};

type Reply = Response<Full<Bytes>>;

/// A fault of AWS as the proxy plays it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AwsFault {
    /// Every Secrets Manager request is answered with this error (STS too when `sts_code` is
    /// set: credentials that are bad are bad for every service).
    Error {
        /// HTTP status.
        status: u16,
        /// Secrets Manager error code (`__type`).
        code: &'static str,
        /// STS's code for the same failure, when STS requests fail too.
        sts_code: Option<&'static str>,
        /// `Retry-After` seconds, if any.
        retry_after: Option<u64>,
    },
    /// Requests are read and never answered (until the fault is healed): a read timeout.
    Hang,
    /// Reading the value of these secrets (by name; ARNs of them too) fails with
    /// `DecryptionFailure`, as when their KMS key is disabled; everything else works.
    KmsDisabled(BTreeSet<String>),
}

impl AwsFault {
    /// `InternalServiceError`, HTTP 500.
    pub fn internal_error() -> Self {
        Self::error(500, "InternalServiceError")
    }

    /// `ServiceUnavailable`, HTTP 503.
    pub fn unavailable() -> Self {
        Self::error(503, "ServiceUnavailable")
    }

    /// `ThrottlingException`, HTTP 400 (how Secrets Manager throttles).
    pub fn throttling() -> Self {
        Self::error(400, "ThrottlingException")
    }

    /// HTTP 429 `TooManyRequestsException` with a `Retry-After`.
    pub fn too_many_requests(retry_after: u64) -> Self {
        Self::Error {
            status: 429,
            code: "TooManyRequestsException",
            sts_code: None,
            retry_after: Some(retry_after),
        }
    }

    /// Credentials refused with this Secrets Manager code (`ExpiredTokenException`,
    /// `UnrecognizedClientException`, `AccessDeniedException`), by STS too.
    pub fn credentials(code: &'static str) -> Self {
        let sts_code = match code {
            "ExpiredTokenException" => "ExpiredToken",
            "UnrecognizedClientException" => "InvalidClientTokenId",
            _ => "AccessDenied",
        };
        Self::Error {
            status: 400,
            code,
            sts_code: Some(sts_code),
            retry_after: None,
        }
    }

    fn error(status: u16, code: &'static str) -> Self {
        Self::Error {
            status,
            code,
            sts_code: None,
            retry_after: None,
        }
    }

    /// The error code requests see (for reports).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Error { code, .. } => code,
            Self::Hang => "read timeout",
            Self::KmsDisabled(_) => "DecryptionFailure",
        }
    }
}

/// Whether `id` (a name or an ARN, as in a request's `SecretId`) names one of `names`.
pub fn names_one_of(id: &str, names: &BTreeSet<String>) -> bool {
    names.contains(id)
        || names
            .iter()
            .any(|n| id.contains(&format!(":secret:{n}-")) && id.starts_with("arn:"))
}

/// A Secrets Manager error answer.
pub fn secrets_manager_error(status: u16, code: &str, retry_after: Option<u64>) -> Reply {
    let message = match code {
        "ExpiredTokenException" => "The security token included in the request is expired",
        "UnrecognizedClientException" => "The security token included in the request is invalid.",
        "AccessDeniedException" => {
            "User: arn:aws:iam::123456789012:user/test is not authorized to perform this action"
        }
        "ThrottlingException" | "TooManyRequestsException" => "Rate exceeded",
        "DecryptionFailure" => {
            "Secrets Manager can't decrypt the protected secret text using the provided KMS key: the key is disabled"
        }
        _ => "injected by the test proxy",
    };
    let body = serde_json::json!({"__type": code, "Message": message});
    let mut response = Response::builder()
        .status(StatusCode::from_u16(status).expect("a valid status"))
        .header(header::CONTENT_TYPE, "application/x-amz-json-1.1")
        .header("x-amzn-errortype", code);
    if let Some(seconds) = retry_after {
        response = response.header(header::RETRY_AFTER, seconds.to_string());
    }
    response.body(body.to_string().into()).unwrap()
}

/// An STS (query protocol) error answer.
pub fn sts_error(code: &str) -> Reply {
    let status = if code == "ExpiredToken" { 400 } else { 403 };
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
         <Type>Sender</Type><Code>{code}</Code><Message>injected by the test proxy</Message>\
         </Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    );
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/xml")
        .body(body.into())
        .unwrap()
}

/// A `BatchGetSecretValue` answer with the values of `disabled` secrets moved to `Errors` as
/// `DecryptionFailure` (what AWS answers for them). Anything unparsable is returned as it was.
pub fn without_disabled_values(body: &[u8], disabled: &BTreeSet<String>) -> Option<Vec<u8>> {
    let mut answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    let values = answer.get_mut("SecretValues")?.as_array_mut()?;
    let mut errors = Vec::new();
    values.retain(|v| {
        let name = v.get("Name").and_then(|n| n.as_str()).unwrap_or_default();
        let hit = disabled.contains(name);
        if hit {
            errors.push(serde_json::json!({
                "SecretId": name,
                "ErrorCode": "DecryptionFailure",
                "Message": "Secrets Manager can't decrypt the protected secret text using the provided KMS key",
            }));
        }
        !hit
    });
    let list = answer
        .as_object_mut()?
        .entry("Errors")
        .or_insert_with(|| serde_json::json!([]));
    list.as_array_mut()?.extend(errors);
    serde_json::to_vec(&answer).ok()
}
