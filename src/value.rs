//! Secret material that cannot leak by accident, and the wiping of the copies other types hold.
//!
//! - [`SecretBytes`]: a value. It has no `Display`, its `Debug` prints only the length, and it
//!   is never serialized, so a value cannot reach a log line, an event, a status or an error
//!   message through formatting. Its memory is zeroed when it is dropped (`zeroize`), so a value
//!   evicted from the cache does not linger in freed memory.
//! - [`SecretObject`]: a Kubernetes Secret as read from or written to the API server, whose
//!   data is zeroed when dropped and whose `Debug` shows its keys only.
//! - [`wipe_json`], [`wipe_secret`]: zero the strings of a JSON document or a Secret object
//!   that held values, before they are dropped.
//!
//! What cannot be wiped here: copies inside other crates' own types — the AWS SDK's response
//! bodies and output structs (freed by the SDK), kube's request and response bodies, gtmpl-ng's
//! values during a template render, gjson's and serde's scratch buffers, the SHA-256 state of
//! the data hash, a ServiceAccount token handed to STS (`auth.jwt`). Each is dropped at the end
//! of the call that made it; the places that make them say so. An access key id is an
//! identifier (SigV4 sends it in clear), held as plain text. A Secret the kubectl plugin reads is
//! read for its metadata only.

use std::fmt;
use std::ops::{Deref, DerefMut};

use k8s_openapi::api::core::v1::Secret;
use zeroize::Zeroize;

/// Bytes of a secret value. There is no `Display`, so it cannot be formatted into a message:
///
/// ```compile_fail
/// let v = stagesync::value::SecretBytes::from("hunter2".to_owned());
/// let shown = format!("{v}");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps secret material.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The secret bytes, for the code that must hand them on (render, Secret writing).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret bytes, by value (the caller now owns the material).
    pub fn into_exposed(mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }

    /// Length in bytes; safe to log.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty; safe to log.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<redacted, {} bytes>)", self.0.len())
    }
}

/// A Kubernetes Secret holding values: zeroed when dropped, keys only in `Debug`.
#[derive(Clone, Default)]
pub struct SecretObject(Secret);

impl SecretObject {
    /// Takes a Secret object read from or meant for the API server.
    pub fn new(secret: Secret) -> Self {
        Self(secret)
    }
}

impl Deref for SecretObject {
    type Target = Secret;
    fn deref(&self) -> &Secret {
        &self.0
    }
}

impl DerefMut for SecretObject {
    fn deref_mut(&mut self) -> &mut Secret {
        &mut self.0
    }
}

impl Drop for SecretObject {
    fn drop(&mut self) {
        wipe_secret(&mut self.0);
    }
}

impl fmt::Debug for SecretObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&String> = self
            .0
            .data
            .iter()
            .flat_map(|d| d.keys())
            .chain(self.0.string_data.iter().flat_map(|d| d.keys()))
            .collect();
        f.debug_struct("SecretObject")
            .field("namespace", &self.0.metadata.namespace)
            .field("name", &self.0.metadata.name)
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

/// Zeroes the values of a Secret object (`data` and `stringData`).
pub fn wipe_secret(secret: &mut Secret) {
    for value in secret.data.iter_mut().flat_map(|d| d.values_mut()) {
        value.0.zeroize();
    }
    for value in secret.string_data.iter_mut().flat_map(|d| d.values_mut()) {
        value.zeroize();
    }
}

/// Zeroes every string of a JSON document that held values (object keys are names and stay;
/// numbers are held inside `serde_json` and cannot be reached).
pub fn wipe_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(items) => items.iter_mut().for_each(wipe_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(wipe_json),
        _ => {}
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl From<String> for SecretBytes {
    fn from(s: String) -> Self {
        Self(s.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use k8s_openapi::ByteString;

    #[test]
    fn debug_never_shows_the_value() {
        let v = SecretBytes::from("hunter2-super-secret".to_owned());
        let printed = format!("{v:?} {:#?}", v);
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("20 bytes"), "{printed}");
        // Nor does anything that holds one.
        let payload = crate::provider::Payload::Binary(v.clone());
        let remote = crate::provider::RemoteSecret {
            name: "db".into(),
            arn: "arn:db".into(),
            version_id: "v1".into(),
            version_stages: vec!["AWSCURRENT".into()],
            payload,
        };
        let printed = format!("{remote:?} {remote:#?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("db") && printed.contains("v1"),
            "{printed}"
        );
    }

    #[test]
    fn the_types_holding_values_never_show_them() {
        use crate::provider::aws::{AwsClientConfig, CredentialSource};
        use crate::render::template::{RenderedSecret, TemplateSources};
        let value = || SecretBytes::from("hunter2-super-secret".to_owned());
        let rendered = RenderedSecret {
            data: [("password".to_owned(), value())].into(),
            ..RenderedSecret::default()
        };
        let sources = TemplateSources {
            secrets: [("s".to_owned(), [("k".to_owned(), value())].into())].into(),
            ..TemplateSources::default()
        };
        let config = AwsClientConfig::new(
            "eu-west-1",
            CredentialSource::Static {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: value(),
                session_token: Some(value()),
            },
        );
        let printed = format!("{rendered:?} {sources:#?} {config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("password") && printed.contains("AKIDEXAMPLE"),
            "{printed}"
        );
    }

    fn secret_with(value: &str) -> Secret {
        Secret {
            data: Some([("password".to_owned(), ByteString(value.as_bytes().to_vec()))].into()),
            string_data: Some([("token".to_owned(), value.to_owned())].into()),
            ..Secret::default()
        }
    }

    #[test]
    fn a_secret_object_shows_its_keys_not_its_values() {
        let mut object = SecretObject::new(secret_with("hunter2-super-secret"));
        object.metadata.name = Some("db".into());
        let printed = format!("{object:?} {object:#?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("password") && printed.contains("token") && printed.contains("db"),
            "{printed}"
        );
    }

    #[test]
    fn wiping_zeroes_values_and_keeps_names() {
        let mut secret = secret_with("hunter2");
        wipe_secret(&mut secret);
        let data = secret.data.as_ref().unwrap();
        assert!(data["password"].0.iter().all(|b| *b == 0) || data["password"].0.is_empty());
        assert!(secret.string_data.as_ref().unwrap()["token"].is_empty());

        let mut doc = serde_json::json!({"a": "hunter2", "b": [{"c": "x"}], "n": 1});
        wipe_json(&mut doc);
        assert_eq!(doc, serde_json::json!({"a": "", "b": [{"c": ""}], "n": 1}));
    }
}
