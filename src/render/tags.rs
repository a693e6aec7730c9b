//! `metadataPolicy: Fetch`: a secret's tags stand in for its value — the whole set as a JSON
//! object, or one tag's value with `property`.

use std::collections::BTreeMap;

use super::RenderError;
use crate::value::SecretBytes;

/// The tags as a value.
pub fn tags_value(
    key: &str,
    tags: &BTreeMap<String, String>,
    property: Option<&str>,
) -> Result<SecretBytes, RenderError> {
    match property.filter(|p| !p.is_empty()) {
        None => Ok(SecretBytes::from(
            serde_json::to_vec(tags).expect("a map of strings always serializes"),
        )),
        Some(p) => tags
            .get(p)
            .map(|v| SecretBytes::from(v.clone()))
            .ok_or_else(|| RenderError::PropertyNotFound {
                key: key.to_owned(),
                property: p.to_owned(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_tags_or_one() {
        let tags = BTreeMap::from([
            ("env".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "a".to_owned()),
        ]);
        let all = tags_value("k", &tags, None).unwrap();
        assert_eq!(all.expose(), br#"{"env":"prod","team":"a"}"#);
        assert_eq!(tags_value("k", &tags, Some("team")).unwrap().expose(), b"a");
        assert_eq!(
            tags_value("k", &tags, Some("x"))
                .unwrap_err()
                .reason()
                .as_str(),
            "PropertyNotFound"
        );
    }
}
