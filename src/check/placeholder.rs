//! An ExternalSecret rendered offline over placeholder values: every AWS secret it reads is
//! given a value that holds each property it asks for, so the operator's own pipeline — data
//! and dataFrom precedence, decoding, conversion, rewrites, templates, key checks — runs as in
//! the cluster and says which keys the Secret would get and which rules fail. The placeholder
//! is valid text, valid JSON and valid base64 and base64url, so no decoding strategy trips on it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::api::externalsecret::{ExternalSecretSpec, MetadataPolicy};
use crate::provider::{Payload, RemoteSecret, SecretMetadata};
use crate::render::RenderError;
use crate::render::data::build_data;
use crate::render::template::{TemplateSources, apply_template};
use crate::resolve::FetchedValues;
use crate::value::SecretBytes;

/// The placeholder every property is given: base64 of "stagesync".
pub const PLACEHOLDER: &str = "c3RhZ2VzeW5j";

/// What an offline render gives.
#[derive(Debug)]
pub struct Rendered {
    /// The keys the Secret would hold (names only).
    pub keys: Vec<String>,
    /// AWS secrets whose keys are only known once read (`extract`, `find`).
    pub unknown_keys_from: Vec<String>,
}

/// Values for every secret `spec` references: a JSON object holding each property asked of it
/// as a key of its own (the operator looks a dotted property up as a whole key first, as ESO).
fn placeholders(spec: &ExternalSecretSpec) -> FetchedValues {
    let mut objects: HashMap<(String, crate::api::version::VersionSelector), Map<String, Value>> =
        HashMap::new();
    let mut tags: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut extracted: HashSet<String> = HashSet::new();
    let refs = spec.data.iter().map(|d| (&d.remote_ref, false)).chain(
        spec.data_from
            .iter()
            .filter_map(|d| d.extract.as_ref().map(|r| (r, true))),
    );
    for (r, extract) in refs {
        match r.metadata_policy {
            MetadataPolicy::Fetch => {
                let entry = tags.entry(r.key.clone()).or_default();
                if let Some(p) = r.property.as_ref().filter(|p| !p.is_empty()) {
                    entry.insert(p.clone(), PLACEHOLDER.into());
                }
            }
            MetadataPolicy::None => {
                if extract {
                    extracted.insert(r.key.clone());
                }
                let object = objects
                    .entry((r.key.clone(), r.version_selector()))
                    .or_default();
                if let Some(p) = r.property.as_ref().filter(|p| !p.is_empty()) {
                    // An extract of a property wants an object there; a data entry a string.
                    let value = if extract {
                        Value::Object(Map::new())
                    } else {
                        Value::String(PLACEHOLDER.into())
                    };
                    object.entry(p.clone()).or_insert(value);
                }
            }
        }
    }
    let mut fetched = FetchedValues::default();
    for ((key, selector), object) in objects {
        // A secret read only whole is the placeholder itself; one read by property or
        // extracted is a JSON object.
        let value = if object.is_empty() && !extracted.contains(&key) {
            PLACEHOLDER.to_owned()
        } else {
            Value::Object(object).to_string()
        };
        let secret = RemoteSecret {
            name: key.clone(),
            arn: String::new(),
            version_id: "placeholder".into(),
            version_stages: Vec::new(),
            payload: Payload::Text(SecretBytes::from(value)),
        };
        fetched
            .values
            .insert((key, selector), Some(Arc::new(secret)));
    }
    for (key, tags) in tags {
        let metadata = SecretMetadata {
            name: key.clone(),
            tags,
            ..SecretMetadata::default()
        };
        fetched.metadata.insert(key, Some(Arc::new(metadata)));
    }
    fetched
}

/// Renders `spec` over placeholder values with the given template sources.
pub fn render(
    spec: &ExternalSecretSpec,
    sources: &TemplateSources,
) -> Result<Rendered, RenderError> {
    let fetched = placeholders(spec);
    let built = build_data(spec, &fetched)?;
    let rendered = apply_template(spec.target.template.as_ref(), built.data, sources)?;
    let unknown_keys_from = spec
        .data_from
        .iter()
        .filter_map(|d| {
            d.extract
                .as_ref()
                .map(|e| e.key.clone())
                .or_else(|| d.find.as_ref().map(|_| "dataFrom.find".to_owned()))
        })
        .collect();
    Ok(Rendered {
        keys: rendered.data.into_keys().collect(),
        unknown_keys_from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: Value) -> ExternalSecretSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn properties_templates_and_decoding_run_over_placeholders() {
        let s = spec(serde_json::json!({
            "secretStoreRef": {"name": "s"},
            "data": [
                {"secretKey": "user", "remoteRef": {"key": "db", "property": "user"}},
                {"secretKey": "host", "remoteRef": {"key": "db", "property": "conn.host"}},
                {"secretKey": "raw", "remoteRef": {"key": "cert", "decodingStrategy": "Base64"}},
                {"secretKey": "team", "remoteRef": {"key": "db", "metadataPolicy": "Fetch", "property": "team"}}
            ],
            "target": {"template": {"data": {"dsn": "{{ .user }}@{{ .host }}", "t": "{{ .team }}", "raw": "{{ .raw }}"}}}
        }));
        let out = render(&s, &TemplateSources::default()).unwrap();
        assert_eq!(out.keys, ["dsn", "raw", "t"]);
        assert!(out.unknown_keys_from.is_empty());
    }

    #[test]
    fn a_template_reading_a_key_nothing_produces_fails_as_in_the_cluster() {
        let s = spec(serde_json::json!({
            "secretStoreRef": {"name": "s"},
            "data": [{"secretKey": "user", "remoteRef": {"key": "db", "property": "user"}}],
            "target": {"template": {"data": {"dsn": "{{ .usr }}"}}}
        }));
        let err = render(&s, &TemplateSources::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains(r#"map has no entry for key "usr""#),
            "{err}"
        );
    }

    #[test]
    fn extract_and_find_keys_are_known_only_once_read() {
        let s = spec(serde_json::json!({
            "secretStoreRef": {"name": "s"},
            "dataFrom": [{"extract": {"key": "app"}}, {"find": {"name": {"regexp": "^team/"}}}]
        }));
        let out = render(&s, &TemplateSources::default()).unwrap();
        assert!(out.keys.is_empty());
        assert_eq!(out.unknown_keys_from, ["app", "dataFrom.find"]);
    }
}
