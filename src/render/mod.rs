//! Pure value shaping: from a fetched secret (or its tags) to the bytes that go under Secret
//! keys. No I/O here, so every rule is tested in isolation and can be fuzzed.
//!
//! - [`property`]: one JSON property, in ESO's (gjson) path syntax.
//! - [`extract`]: every top-level property of a JSON object.
//! - [`decode`]: the `decodingStrategy` of a reference.
//! - [`tags`]: a secret's tags as a value (`metadataPolicy: Fetch`).
//! - [`template`]: `target.template`, ESO's Go-template engine v2 and its merge rules.
//! - [`rewrite`]: `dataFrom[].rewrite`, regexp and template rewrites of produced keys;
//!   [`merge`]: the merge rewrite.
//! - [`keys`]: Secret key validity and `conversionStrategy`.
//! - [`metadata`]: what a template produced (keys, labels, annotations) checked before a write.

pub mod data;
pub mod decode;
pub mod extract;
pub mod keys;
pub mod merge;
pub mod metadata;
pub mod property;
pub mod rewrite;
pub mod tags;
pub mod template;

use crate::api::Reason;

/// Why a fetched value could not be shaped. Messages name the secret and property, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The JSON value has no such property.
    #[error("secret {key:?} has no property {property:?}")]
    PropertyNotFound {
        /// The AWS secret.
        key: String,
        /// The property asked for.
        property: String,
    },
    /// A property or extract was asked of a value that is not JSON (or not an object).
    #[error("secret {key:?} is not {expected}, so {what} cannot be read from it")]
    InvalidJson {
        /// The AWS secret.
        key: String,
        /// What the value should have been ("valid JSON", "a JSON object").
        expected: &'static str,
        /// What was asked ("property \"a.b\"", "its keys").
        what: String,
    },
    /// The value is not valid for the requested decoding.
    #[error("value of secret {key:?} is not valid {strategy}")]
    Decoding {
        /// The AWS secret (and property, if any).
        key: String,
        /// The decoding strategy.
        strategy: &'static str,
    },
    /// A template could not be parsed or executed. `detail` never holds a secret value.
    #[error("template {key:?}: {detail}")]
    Template {
        /// Where the template is: the data/label/annotation key or the templateFrom item.
        key: String,
        /// What went wrong, with secret values redacted.
        detail: String,
    },
    /// A ConfigMap or Secret named by templateFrom, or one of its keys, is missing.
    #[error("templateFrom {kind} {name:?} {}", match key { Some(k) => format!("has no key {k:?}"), None => "was not found".to_owned() })]
    TemplateSourceMissing {
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The missing key; `None` when the object itself is missing.
        key: Option<String>,
    },
    /// The template asks for something ESO refuses (a privileged Secret type).
    #[error("{detail}")]
    TemplateNotAllowed {
        /// Which combination is refused.
        detail: String,
    },
    /// A dataFrom rewrite failed (invalid regexp, template error).
    #[error("rewrite[{index}] failed: {detail}")]
    Rewrite {
        /// Position of the rewrite in the list.
        index: usize,
        /// What went wrong.
        detail: String,
    },
    /// Two keys became the same key.
    #[error("secret key collision during {during}: {key:?}")]
    KeyCollision {
        /// The key both became.
        key: String,
        /// `conversion`.
        during: &'static str,
    },
    /// A fetched value contains NUL bytes and its `nullBytePolicy` is `Fail`.
    #[error(
        "fetched secret value for key {key:?} contains null bytes; use a text-safe format such as PEM/base64 or leave nullBytePolicy unset for intentional binary data"
    )]
    NullBytes {
        /// The Secret key the value was for.
        key: String,
    },
    /// A produced key is not a valid Secret key.
    #[error("invalid secret key {key:?}: it {why}")]
    InvalidKey {
        /// The key (at most 253 characters of it).
        key: String,
        /// Why it is invalid.
        why: String,
    },
}

/// Refuses a value with NUL bytes under `nullBytePolicy: Fail`.
pub fn check_null_bytes(
    policy: Option<crate::api::externalsecret::NullBytePolicy>,
    key: &str,
    value: &crate::value::SecretBytes,
) -> Result<(), RenderError> {
    if policy == Some(crate::api::externalsecret::NullBytePolicy::Fail)
        && value.expose().contains(&0)
    {
        return Err(RenderError::NullBytes {
            key: key.to_owned(),
        });
    }
    Ok(())
}

impl RenderError {
    /// The condition reason this error is reported with.
    pub fn reason(&self) -> Reason {
        match self {
            Self::PropertyNotFound { .. } => Reason::PropertyNotFound,
            Self::InvalidJson { .. } => Reason::InvalidJSON,
            Self::Decoding { .. } => Reason::DecodingFailed,
            Self::Template { .. } | Self::TemplateSourceMissing { .. } => Reason::TemplateFailed,
            Self::TemplateNotAllowed { .. } => Reason::InvalidSpec,
            Self::Rewrite { .. } => Reason::RewriteFailed,
            Self::KeyCollision { .. } | Self::InvalidKey { .. } => Reason::InvalidKey,
            Self::NullBytes { .. } => Reason::NullBytesRefused,
        }
    }
}
