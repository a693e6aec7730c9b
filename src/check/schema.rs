//! The schema half of `stagesync check`: each stagesync object is admitted against the CRD
//! generated from the Rust types (the same as `crds/`) by `crd-schema`, the code the API server
//! fake admits custom resources with — OpenAPI validation with the server's messages and the
//! CEL rules. Unknown fields, which the server would prune silently (and `kubectl apply`
//! refuses with its default strict field validation), are reported too.

use std::collections::BTreeMap;

use crd_schema::CrdSchema;
use serde_json::Value;

/// One schema finding: the field path as the API server names it, and the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaProblem {
    /// `spec.data[0].remoteRef.key`, empty for the object itself.
    pub field: String,
    /// The API server's message.
    pub message: String,
}

/// The compiled schemas of stagesync's kinds.
#[derive(Debug)]
pub struct Schemas {
    by_kind: BTreeMap<String, (String, CrdSchema)>,
}

/// A CRD of stagesync that does not compile (a bug of this build, caught by the tests).
#[derive(Debug, thiserror::Error)]
#[error("the {kind} CRD of this build does not compile: {detail}")]
pub struct SchemaError {
    kind: String,
    detail: String,
}

impl Schemas {
    /// Compiles every stagesync CRD's served version.
    pub fn new() -> Result<Self, SchemaError> {
        let mut by_kind = BTreeMap::new();
        for (kind, api_version, schema) in crate::api::open_api_schemas() {
            let compiled = CrdSchema::new(&schema).map_err(|detail| SchemaError {
                kind: kind.clone(),
                detail,
            })?;
            by_kind.insert(kind, (api_version, compiled));
        }
        Ok(Self { by_kind })
    }

    /// The apiVersion stagesync serves a kind under, if it is one of its kinds.
    pub fn api_version_of(&self, kind: &str) -> Option<&str> {
        self.by_kind.get(kind).map(|(v, _)| v.as_str())
    }

    /// Admits `object` as the API server would: returns the pruned and defaulted object, or
    /// the problems. Unknown fields are problems as well.
    pub fn admit(&self, kind: &str, object: &Value) -> Result<Value, Vec<SchemaProblem>> {
        let Some((_, schema)) = self.by_kind.get(kind) else {
            return Err(vec![SchemaProblem {
                field: "kind".into(),
                message: format!("{kind:?} is not a stagesync kind"),
            }]);
        };
        let mut pruned = object.clone();
        schema.prune(&mut pruned);
        let mut problems: Vec<SchemaProblem> = Vec::new();
        unknown_fields(object, &pruned, "", &mut problems);
        let mut admitted = object.clone();
        if let Err(causes) = schema.admit(&mut admitted, None) {
            problems.extend(causes.into_iter().map(|c| SchemaProblem {
                field: c.field,
                message: c.message,
            }));
        }
        if problems.is_empty() {
            Ok(admitted)
        } else {
            Err(problems)
        }
    }
}

/// Fields of `original` that pruning removed, with kubectl's wording.
fn unknown_fields(original: &Value, pruned: &Value, path: &str, out: &mut Vec<SchemaProblem>) {
    match (original, pruned) {
        (Value::Object(o), Value::Object(p)) => {
            for (k, v) in o {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match p.get(k) {
                    Some(pv) => unknown_fields(v, pv, &child, out),
                    None => out.push(SchemaProblem {
                        message: format!("unknown field {child:?}"),
                        field: child,
                    }),
                }
            }
        }
        (Value::Array(o), Value::Array(p)) => {
            for (i, (ov, pv)) in o.iter().zip(p).enumerate() {
                unknown_fields(ov, pv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn es(spec: Value) -> Value {
        json!({"apiVersion": "stagesync.io/v1alpha1", "kind": "ExternalSecret",
               "metadata": {"name": "a"}, "spec": spec})
    }

    #[test]
    fn a_valid_object_is_admitted_with_defaults() {
        let schemas = Schemas::new().unwrap();
        let admitted = schemas
            .admit(
                "ExternalSecret",
                &es(json!({"secretStoreRef": {"name": "s"},
                           "data": [{"secretKey": "k", "remoteRef": {"key": "db"}}]})),
            )
            .unwrap();
        assert_eq!(admitted["spec"]["secretStoreRef"]["kind"], "SecretStore");
        assert_eq!(
            schemas.api_version_of("SecretStore"),
            Some("stagesync.io/v1alpha1")
        );
    }

    #[test]
    fn unknown_fields_type_errors_and_cel_rules_are_reported_with_their_paths() {
        let schemas = Schemas::new().unwrap();
        let problems = schemas
            .admit(
                "ExternalSecret",
                &es(
                    json!({"secretStoreRef": {"name": "s"}, "refreshIntervall": "1h",
                           "data": [{"secretKey": "k", "remoteRef": {"key": 5}}]}),
                ),
            )
            .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"spec.refreshIntervall"), "{problems:?}");
        assert!(
            fields.contains(&"spec.data[0].remoteRef.key"),
            "{problems:?}"
        );
        let cel = schemas
            .admit(
                "ExternalSecret",
                &es(json!({"secretStoreRef": {"name": "s"},
                           "data": [{"secretKey": "k", "remoteRef": {"key": "db",
                               "versionStage": "AWSCURRENT", "versionId": "v1"}}]})),
            )
            .unwrap_err();
        assert!(
            cel.iter().any(|p| p
                .message
                .contains("versionStage and versionId are mutually exclusive")),
            "{cel:?}"
        );
    }
}
