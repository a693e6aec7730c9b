//! Custom resource admission against a CRD version's structural `openAPIV3Schema`, as the
//! apiextensions-apiserver does it: pruning of unknown fields, defaulting, OpenAPI validation with
//! the real error texts, `x-kubernetes-list-type` invariants, and CEL `x-kubernetes-validations`.
//!
//! Order, as in `customResourceStrategy` and its decoder: prune (`pruning/algorithm.go`, root
//! `apiVersion`/`kind`/`metadata` kept, `metadata` coerced to ObjectMeta) → drop non-nullable
//! nulls without default and apply `default`s (`defaulting/algorithm.go`, also inside defaults
//! just inserted) → validate (kube-openapi messages converted by
//! `kubeOpenAPIResultToFieldErrors`) → list-type invariants → CEL, unless an earlier error is
//! "blocking" (`hasBlockingErr`), in which case CEL is skipped with the real notice.
//!
//! The OpenAPI part is a hand-written walker rather than the `jsonschema` crate: the API server's
//! answers depend on kube-openapi's exact messages and paths (`spec.data[0].key in body must be
//! of type string: "integer"`), on Kubernetes extensions (`nullable`, `x-kubernetes-int-or-string`,
//! `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-embedded-resource`) and on the
//! blocking/non-blocking split, none of which a generic JSON-schema validator reproduces. CEL rules
//! are evaluated by `kube-cel` (compiled once per schema).
//!
//! # Differences from the real API server
//! - CEL: `kube-cel` correlates `oldSelf` of list items by index (the server correlates
//!   `x-kubernetes-list-type: map` items by key and does not correlate other lists); CEL cost
//!   budgets are not enforced; rules using macros `kube-cel` lacks (`sortBy`, `cel.bind`,
//!   two-variable comprehensions) fail closed; root `self.metadata` exposes all metadata fields
//!   (the server only `name` and `generateName`).
//! - Validation ratcheting (1.30+: errors on unchanged fields of an update are ignored) is not
//!   implemented: every error is reported.
//! - Formats checked: `date-time`, `date`, `byte`, `uuid`, `ipv4`, `ipv6` (others accepted);
//!   `int32`/`int64` ranges are not checked, like the server.
//! - `uniqueItems`, `patternProperties`, `$ref` and other constructs a structural schema forbids are
//!   ignored; `CrdSchema::new` does not re-check structural-schema rules (the core validates CRDs).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

mod cel;
mod gofmt;
mod prune;
mod structural;
mod validate;

#[cfg(test)]
mod tests;

use cel::*;
use gofmt::*;
use prune::*;
use structural::*;
use validate::*;

/// One cause of a `422 Invalid` status, as the real server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldCause {
    /// `StatusCause.reason`: `FieldValueRequired`, `FieldValueInvalid`, ...
    pub reason: String,
    /// `StatusCause.message`: `Required value`, `Unsupported value: "x": supported values: ...`.
    pub message: String,
    /// `StatusCause.field`: `spec.data[0].remoteRef.key` (empty for the object itself).
    pub field: String,
}

/// A compiled CRD version schema.
#[derive(Clone)]
pub struct CrdSchema {
    root: Arc<Sch>,
    cel: Option<Arc<kube_cel::CompiledSchema>>,
}

impl std::fmt::Debug for CrdSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrdSchema")
            .field("cel_rules", &self.cel.is_some())
            .finish_non_exhaustive()
    }
}

fn has_cel_rules(v: &Value) -> bool {
    match v {
        Value::Object(m) => {
            m.get("x-kubernetes-validations")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
                || m.values().any(has_cel_rules)
        }
        Value::Array(a) => a.iter().any(has_cel_rules),
        _ => false,
    }
}

impl CrdSchema {
    /// Compiles a CRD version's `openAPIV3Schema`. Fails on an invalid `pattern` or a CEL rule
    /// (or `messageExpression`) that does not compile, which the real server rejects when the CRD
    /// is written.
    pub fn new(open_api_v3_schema: &Value) -> Result<CrdSchema, String> {
        let root = Sch::parse(open_api_v3_schema, "openAPIV3Schema")?;
        let cel = if has_cel_rules(open_api_v3_schema) {
            let compiled = kube_cel::compile_schema(open_api_v3_schema);
            let errs = compiled.compilation_errors();
            if let Some(e) = errs.first() {
                return Err(format!(
                    "openAPIV3Schema: x-kubernetes-validations: compilation failed: {e}"
                ));
            }
            Some(Arc::new(compiled))
        } else {
            None
        };
        Ok(CrdSchema {
            root: Arc::new(root),
            cel,
        })
    }

    /// Prune unknown fields, apply defaults, then validate (CEL with oldSelf when `old` is given).
    /// Ok => obj is pruned+defaulted.
    pub fn admit(&self, obj: &mut Value, old: Option<&Value>) -> Result<(), Vec<FieldCause>> {
        self.prune(obj);
        self.default_object(obj);
        let mut errs = Vec::new();
        validate(obj, &self.root, "", &mut errs);
        list_invariants(obj, &self.root, "", &mut errs);
        if let Some(cel) = &self.cel {
            if errs.iter().any(is_blocking) {
                errs.push(FieldCause {
                    reason: "FieldValueInvalid".into(),
                    message: "Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".into(),
                    field: String::new(),
                });
            } else {
                let old = old.map(|o| {
                    let mut o = o.clone();
                    self.default_object(&mut o);
                    o
                });
                if let Err(cel_errs) = kube_cel::validate_compiled(cel, obj, old.as_ref()) {
                    errs.extend(cel_errs.iter().map(|e| cel_cause(e, obj)));
                }
            }
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }

    /// Structural pruning: drops fields the schema does not know (the root keeps `apiVersion`,
    /// `kind` and an ObjectMeta `metadata`).
    pub fn prune(&self, obj: &mut Value) {
        prune(obj, &self.root, true);
    }

    /// Defaulting as the server does on decoding (create/update) and on reads from storage:
    /// non-nullable `null`s without default are dropped, then `default`s are filled in.
    pub fn default_object(&self, obj: &mut Value) {
        prune_nulls(obj, &self.root);
        apply_defaults(obj, &self.root);
    }
}
