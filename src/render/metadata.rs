//! What a template produced, checked against the API server's rules before anything is written:
//! Secret keys, label keys and values, annotation keys and their total size. The API server
//! refuses an invalid object with a message quoting the refused value — which a template may
//! have taken from a secret — so the operator refuses it first, naming the key and the rule,
//! never the value.

use std::collections::BTreeMap;

use super::RenderError;
use super::keys::{MAX_KEY_LEN, is_valid_secret_key};
use crate::value::SecretBytes;

/// Longest label value, and longest name part of a qualified key.
const MAX_NAME_LEN: usize = 63;
/// Most bytes of all annotation keys and values together.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

const NAME_RULE: &str = "at most 63 characters: alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 characters.
fn is_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Why a label or annotation key is not a qualified name (`[prefix/]name`), if it is not.
pub fn key_error(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && !crate::api::names::is_dns_subdomain(p)
    {
        return Some(
            "its prefix must be a DNS subdomain (lowercase alphanumerics, '-' and '.', at most 253 characters)"
                .to_owned(),
        );
    }
    (!is_name(name)).then(|| format!("its name must be {NAME_RULE}"))
}

/// Why a label value is invalid, if it is (the value itself is never part of the answer).
pub fn label_value_error(value: &str) -> Option<String> {
    (!value.is_empty() && !is_name(value))
        .then(|| format!("a label value must be empty or {NAME_RULE}"))
}

/// Checks what a template produced. `redact` hides values in what is quoted (keys produced by
/// `KeysAndValues` templates may come from a secret).
pub fn check(
    data: &BTreeMap<String, SecretBytes>,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    redact: impl Fn(&str) -> String,
) -> Result<(), RenderError> {
    if let Some(key) = data.keys().find(|k| !is_valid_secret_key(k)) {
        return Err(RenderError::InvalidKey {
            key: redact(&key.chars().take(MAX_KEY_LEN).collect::<String>()),
            why: format!("must be 1 to {MAX_KEY_LEN} characters of [-._a-zA-Z0-9]"),
        });
    }
    let refuse = |what: &str, key: &str, why: String| RenderError::Template {
        key: format!("metadata.{what}"),
        detail: format!(
            "{} {:?}: {why}; nothing was written",
            &what[..what.len() - 1],
            redact(key)
        ),
    };
    for (key, value) in labels {
        if let Some(why) = key_error(key) {
            return Err(refuse("labels", key, format!("the key is invalid: {why}")));
        }
        if let Some(why) = label_value_error(value) {
            return Err(refuse("labels", key, why));
        }
    }
    for key in annotations.keys() {
        if let Some(why) = key_error(key) {
            return Err(refuse(
                "annotations",
                key,
                format!("the key is invalid: {why}"),
            ));
        }
    }
    let size: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_ANNOTATIONS_BYTES {
        return Err(RenderError::Template {
            key: "metadata.annotations".to_owned(),
            detail: format!(
                "the annotations take {size} bytes, more than the {MAX_ANNOTATIONS_BYTES} a Secret may have; nothing was written"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(k: &str, v: &str) -> BTreeMap<String, String> {
        [(k.to_owned(), v.to_owned())].into()
    }

    fn run(l: BTreeMap<String, String>, a: BTreeMap<String, String>) -> Result<(), RenderError> {
        check(&BTreeMap::new(), &l, &a, |t| {
            t.replace("s3cr3t", "<redacted>")
        })
    }

    #[test]
    fn valid_metadata_passes() {
        for (k, v) in [
            ("app", "web"),
            ("app.kubernetes.io/name", "a.b-c_d"),
            ("x", ""),
            ("example.com/team", "9"),
        ] {
            assert_eq!(
                run(labels(k, v), labels(k, "any text at all")),
                Ok(()),
                "{k}={v}"
            );
        }
    }

    #[test]
    fn invalid_label_values_are_refused_without_the_value() {
        for v in [
            "s3cr3t value",
            "-s3cr3t",
            "s3cr3t-",
            &"s3cr3t".repeat(11),
            "s3cr3t\"q",
        ] {
            let err = run(labels("l", v), BTreeMap::new()).unwrap_err();
            let text = err.to_string();
            assert!(!text.contains("s3cr3t"), "{text}");
            assert!(
                text.contains("\"l\"") && text.contains("label value"),
                "{text}"
            );
            assert_eq!(err.reason().as_str(), "TemplateFailed");
        }
    }

    #[test]
    fn invalid_keys_are_refused_with_values_redacted() {
        for k in [
            "s3cr3t key",
            "Bad.Prefix/x",
            "a/b/c",
            "/x",
            "x/",
            &"k".repeat(64),
        ] {
            let err = run(labels(k, "v"), BTreeMap::new()).unwrap_err();
            assert!(!err.to_string().contains("s3cr3t"), "{err}");
            let err = run(BTreeMap::new(), labels(k, "v")).unwrap_err();
            assert!(err.to_string().contains("annotation"), "{err}");
        }
        let data: BTreeMap<String, SecretBytes> =
            [("s3cr3t:key".to_owned(), SecretBytes::from("v".to_owned()))].into();
        let err = check(&data, &BTreeMap::new(), &BTreeMap::new(), |t| {
            t.replace("s3cr3t", "<redacted>")
        })
        .unwrap_err();
        assert_eq!(err.reason().as_str(), "InvalidKey");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn annotations_over_the_size_limit_are_refused() {
        let big = "x".repeat(MAX_ANNOTATIONS_BYTES);
        let err = run(BTreeMap::new(), labels("a", &big)).unwrap_err();
        assert!(err.to_string().contains("bytes"), "{err}");
        assert!(run(BTreeMap::new(), labels("a", &big[1..])).is_ok());
    }
}
