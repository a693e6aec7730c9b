//! Pure value shaping: from a fetched secret (or its tags) to the bytes that go under Secret
//! keys. No I/O here, so every rule is tested in isolation and can be fuzzed.
//!
//! - [`property`]: one JSON property, in ESO's (gjson) path syntax.
//! - [`extract`]: every top-level property of a JSON object.
//! - [`decode`]: the `decodingStrategy` of a reference.
//! - [`tags`]: a secret's tags as a value (`metadataPolicy: Fetch`).

pub mod decode;
pub mod extract;
pub mod property;
pub mod tags;

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
}

impl RenderError {
    /// The condition reason this error is reported with.
    pub fn reason(&self) -> Reason {
        match self {
            Self::PropertyNotFound { .. } => Reason::PropertyNotFound,
            Self::InvalidJson { .. } => Reason::InvalidJSON,
            Self::Decoding { .. } => Reason::DecodingFailed,
        }
    }
}
