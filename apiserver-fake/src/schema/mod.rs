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

/// One node of a structural schema.
#[derive(Debug, Default)]
struct Sch {
    types: Option<String>,
    nullable: bool,
    int_or_string: bool,
    preserve_unknown: bool,
    embedded: bool,
    format: Option<String>,
    properties: BTreeMap<String, Sch>,
    additional: Option<Box<Sch>>,
    items: Option<Box<Sch>>,
    required: Vec<String>,
    enumeration: Option<Vec<Value>>,
    pattern: Option<(String, regex::Regex)>,
    maximum: Option<f64>,
    exclusive_maximum: bool,
    minimum: Option<f64>,
    exclusive_minimum: bool,
    multiple_of: Option<f64>,
    max_length: Option<u64>,
    min_length: Option<u64>,
    max_items: Option<u64>,
    min_items: Option<u64>,
    max_properties: Option<u64>,
    min_properties: Option<u64>,
    all_of: Vec<Sch>,
    any_of: Vec<Sch>,
    one_of: Vec<Sch>,
    not: Option<Box<Sch>>,
    default: Option<Value>,
    list_type: Option<String>,
    list_map_keys: Vec<String>,
}

fn u64_of(m: &Map<String, Value>, k: &str) -> Option<u64> {
    m.get(k).and_then(Value::as_u64)
}

impl Sch {
    fn parse(v: &Value, path: &str) -> Result<Sch, String> {
        let Some(m) = v.as_object() else {
            return Err(format!("{path}: must be an object"));
        };
        let mut s = Sch {
            types: m.get("type").and_then(Value::as_str).map(str::to_string),
            nullable: m.get("nullable").and_then(Value::as_bool).unwrap_or(false),
            int_or_string: m
                .get("x-kubernetes-int-or-string")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            preserve_unknown: m
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            embedded: m
                .get("x-kubernetes-embedded-resource")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            format: m.get("format").and_then(Value::as_str).map(str::to_string),
            required: m
                .get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            enumeration: m.get("enum").and_then(Value::as_array).cloned(),
            maximum: m.get("maximum").and_then(Value::as_f64),
            exclusive_maximum: m
                .get("exclusiveMaximum")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            minimum: m.get("minimum").and_then(Value::as_f64),
            exclusive_minimum: m
                .get("exclusiveMinimum")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            multiple_of: m.get("multipleOf").and_then(Value::as_f64),
            max_length: u64_of(m, "maxLength"),
            min_length: u64_of(m, "minLength"),
            max_items: u64_of(m, "maxItems"),
            min_items: u64_of(m, "minItems"),
            max_properties: u64_of(m, "maxProperties"),
            min_properties: u64_of(m, "minProperties"),
            default: m.get("default").cloned(),
            list_type: m
                .get("x-kubernetes-list-type")
                .and_then(Value::as_str)
                .map(str::to_string),
            list_map_keys: m
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            ..Sch::default()
        };
        if let Some(p) = m.get("pattern").and_then(Value::as_str) {
            let re = regex::Regex::new(p)
                .map_err(|e| format!("{path}.pattern: invalid regular expression {p:?}: {e}"))?;
            s.pattern = Some((p.to_string(), re));
        }
        if let Some(props) = m.get("properties").and_then(Value::as_object) {
            for (k, pv) in props {
                s.properties.insert(
                    k.clone(),
                    Sch::parse(pv, &format!("{path}.properties[{k}]"))?,
                );
            }
        }
        if let Some(ap) = m.get("additionalProperties")
            && ap.is_object()
        {
            s.additional = Some(Box::new(Sch::parse(
                ap,
                &format!("{path}.additionalProperties"),
            )?));
        }
        if let Some(items) = m.get("items") {
            s.items = Some(Box::new(Sch::parse(items, &format!("{path}.items"))?));
        }
        for (key, dst) in [
            ("allOf", &mut s.all_of),
            ("anyOf", &mut s.any_of),
            ("oneOf", &mut s.one_of),
        ] {
            if let Some(a) = m.get(key).and_then(Value::as_array) {
                for (i, b) in a.iter().enumerate() {
                    dst.push(Sch::parse(b, &format!("{path}.{key}[{i}]"))?);
                }
            }
        }
        if let Some(n) = m.get("not") {
            s.not = Some(Box::new(Sch::parse(n, &format!("{path}.not"))?));
        }
        Ok(s)
    }

    fn child(&self, key: &str) -> Option<&Sch> {
        self.properties.get(key).or(self.additional.as_deref())
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

// ---------------------------------------------------------------------------------------------
// pruning

/// The fields of `metav1.ObjectMeta`, with the JSON type each must have to survive decoding.
const OBJECT_META: &[(&str, &str)] = &[
    ("name", "string"),
    ("generateName", "string"),
    ("namespace", "string"),
    ("selfLink", "string"),
    ("uid", "string"),
    ("resourceVersion", "string"),
    ("generation", "integer"),
    ("creationTimestamp", "time"),
    ("deletionTimestamp", "time"),
    ("deletionGracePeriodSeconds", "integer"),
    ("labels", "stringmap"),
    ("annotations", "stringmap"),
    ("ownerReferences", "array"),
    ("finalizers", "stringlist"),
    ("managedFields", "array"),
];

/// Coerces `metadata` to what decoding into ObjectMeta keeps: known fields of the right type.
fn coerce_object_meta(meta: &mut Map<String, Value>) {
    meta.retain(|k, v| {
        let Some((_, ty)) = OBJECT_META.iter().find(|(n, _)| n == k) else {
            return false;
        };
        match *ty {
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "time" => v.is_string() || v.is_null(),
            "stringmap" => v
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string)),
            "stringlist" => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            "array" => v.is_array(),
            _ => true,
        }
    });
}

fn prune(v: &mut Value, s: &Sch, embedded_root: bool) {
    match v {
        Value::Object(m) => {
            let is_resource = embedded_root || s.embedded;
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if is_resource {
                    match k.as_str() {
                        "apiVersion" | "kind" if m[&k].is_string() => continue,
                        "metadata" => {
                            if let Some(meta) = m.get_mut(&k).and_then(Value::as_object_mut) {
                                coerce_object_meta(meta);
                                continue;
                            }
                        }
                        _ => {}
                    }
                }
                match s.child(&k) {
                    Some(cs) => {
                        if let Some(cv) = m.get_mut(&k) {
                            prune(cv, cs, false);
                        }
                    }
                    None if s.preserve_unknown => {}
                    None => {
                        m.remove(&k);
                    }
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = &s.items {
                for item in a.iter_mut() {
                    prune(item, items, false);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// defaulting

fn is_non_nullable_null(v: &Value, s: &Sch) -> bool {
    v.is_null() && !s.nullable
}

/// `PruneNonNullableNullsWithoutDefaults`.
fn prune_nulls(v: &mut Value, s: &Sch) {
    match v {
        Value::Object(m) => {
            m.retain(|k, cv| match s.child(k) {
                Some(cs) => !(is_non_nullable_null(cv, cs) && cs.default.is_none()),
                None => true,
            });
            for (k, cv) in m.iter_mut() {
                if let Some(cs) = s.child(k) {
                    prune_nulls(cv, cs);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = &s.items {
                a.iter_mut().for_each(|i| prune_nulls(i, items));
            }
        }
        _ => {}
    }
}

/// `structuraldefaulting.Default`.
fn apply_defaults(v: &mut Value, s: &Sch) {
    match v {
        Value::Object(m) => {
            for (k, prop) in &s.properties {
                if let Some(d) = &prop.default {
                    let missing = match m.get(k) {
                        None => true,
                        Some(cv) => is_non_nullable_null(cv, prop),
                    };
                    if missing {
                        m.insert(k.clone(), d.clone());
                    }
                }
            }
            for (k, cv) in m.iter_mut() {
                if let Some(prop) = s.properties.get(k) {
                    apply_defaults(cv, prop);
                } else if let Some(ap) = &s.additional {
                    if is_non_nullable_null(cv, ap)
                        && let Some(d) = &ap.default
                    {
                        *cv = d.clone();
                    }
                    apply_defaults(cv, ap);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = &s.items {
                for item in a.iter_mut() {
                    if is_non_nullable_null(item, items)
                        && let Some(d) = &items.default
                    {
                        *item = d.clone();
                    }
                    apply_defaults(item, items);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Go-style value rendering (field.Error.ErrorBody)

fn go_num(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    go_float(f)
}

fn go_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{f:.0}")
    } else if f.abs() >= 1e21 || (f != 0.0 && f.abs() < 1e-4) {
        let s = format!("{f:e}");
        // Go prints 1e+21, Rust 1e21.
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
            None => s,
        }
    } else {
        f.to_string()
    }
}

fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Go's `%#v` of a decoded JSON value.
fn go_sharp_v(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_num(n),
        Value::String(s) => go_quote(s),
        Value::Array(a) => format!(
            "[]interface {{}}{{{}}}",
            a.iter().map(go_sharp_v).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "map[string]interface {{}}{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_sharp_v(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The bad value as `field.Error.ErrorBody` prints it.
fn bad_value(v: &Value) -> String {
    match v {
        Value::Null => "\"null\"".into(),
        Value::String(s) => go_quote(s),
        Value::Number(n) => go_num(n),
        Value::Bool(b) => b.to_string(),
        other => go_sharp_v(other),
    }
}

/// `minItems`/`maxItems` and `minProperties`/`maxProperties`, with the real server's messages
/// (`Too many` counts "items" either way; the lower bound names what is counted).
fn check_count(
    len: usize,
    min: Option<u64>,
    max: Option<u64>,
    noun: &str,
    path: &str,
    field: &str,
    errs: &mut Vec<FieldCause>,
) {
    let len = len as u64;
    if let Some(max) = max
        && len > max
    {
        let unit = if max == 1 { "item" } else { "items" };
        errs.push(cause(
            "FieldValueTooMany",
            field,
            format!("Too many: {len}: must have at most {max} {unit}"),
        ));
    }
    if let Some(min) = min
        && len < min
    {
        errs.push(invalid(
            field,
            &Value::from(len),
            &format!("{path} in body should have at least {min} {noun}"),
        ));
    }
}

fn cause(reason: &str, field: &str, message: String) -> FieldCause {
    FieldCause {
        reason: reason.into(),
        message,
        field: field.into(),
    }
}

fn invalid(field: &str, value: &Value, detail: &str) -> FieldCause {
    cause(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {}: {detail}", bad_value(value)),
    )
}

fn type_invalid(field: &str, value: &Value, detail: &str) -> FieldCause {
    cause(
        "FieldValueTypeInvalid",
        field,
        format!("Invalid value: {}: {detail}", bad_value(value)),
    )
}

fn is_blocking(c: &FieldCause) -> bool {
    matches!(
        c.reason.as_str(),
        "FieldValueNotSupported"
            | "FieldValueRequired"
            | "FieldValueTooLong"
            | "FieldValueTooMany"
            | "FieldValueTypeInvalid"
    )
}

// ---------------------------------------------------------------------------------------------
// OpenAPI validation (kube-openapi semantics, apiextensions error conversion)

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn check_format(format: &str, s: &str) -> bool {
    match format {
        "date-time" | "datetime" => is_date_time(s),
        "date" => is_date(s),
        "byte" => {
            use base64_check::is_std_base64;
            is_std_base64(s)
        }
        "uuid" => is_uuid(s),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        _ => true,
    }
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_date(s: &str) -> bool {
    let p: Vec<&str> = s.split('-').collect();
    if p.len() != 3 || !digits(p[0], 4) || !digits(p[1], 2) || !digits(p[2], 2) {
        return false;
    }
    let (m, d): (u32, u32) = (p[1].parse().unwrap_or(0), p[2].parse().unwrap_or(0));
    (1..=12).contains(&m) && (1..=31).contains(&d)
}

fn is_date_time(s: &str) -> bool {
    let Some((date, time)) = s.split_once(['T', 't', ' ']) else {
        return false;
    };
    if !is_date(date) || !time.is_char_boundary(8.min(time.len())) || time.len() < 8 {
        return false;
    }
    let (hms, mut rest) = time.split_at(8);
    let hp: Vec<&str> = hms.split(':').collect();
    if hp.len() != 3 || !hp.iter().all(|x| digits(x, 2)) {
        return false;
    }
    let (h, mi, se): (u32, u32, u32) = (
        hp[0].parse().unwrap_or(99),
        hp[1].parse().unwrap_or(99),
        hp[2].parse().unwrap_or(99),
    );
    if h > 23 || mi > 59 || se > 60 {
        return false;
    }
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &r[n..];
    }
    match rest {
        "Z" | "z" => true,
        _ => {
            let Some(off) = rest.strip_prefix(['+', '-']) else {
                return false;
            };
            let off = off.replace(':', "");
            digits(&off, 4)
        }
    }
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

mod base64_check {
    pub(super) fn is_std_base64(s: &str) -> bool {
        let b = s.as_bytes();
        if !b.len().is_multiple_of(4) {
            return false;
        }
        let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return false;
        }
        b[..b.len() - pad]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
    }
}

fn validate(v: &Value, s: &Sch, path: &str, errs: &mut Vec<FieldCause>) {
    let field = path;
    if v.is_null() {
        if s.nullable {
            return;
        }
        if s.types.is_some() || s.int_or_string {
            let expected = if s.int_or_string {
                "integer,string".to_string()
            } else {
                s.types.clone().unwrap_or_default()
            };
            errs.push(type_invalid(
                field,
                &Value::String("null".into()),
                &format!("{path} in body must be of type {expected}: \"null\""),
            ));
        }
        return;
    }
    let actual = json_type(v);
    let type_ok = if s.int_or_string {
        matches!(actual, "integer" | "string")
    } else {
        match s.types.as_deref() {
            None | Some("") => true,
            Some(t) => {
                t == actual
                    || (t == "number" && actual == "integer")
                    || (t == "integer"
                        && actual == "number"
                        && v.as_f64().is_some_and(|f| f.fract() == 0.0))
            }
        }
    };
    if !type_ok {
        let expected = if s.int_or_string {
            "integer,string".to_string()
        } else {
            s.types.clone().unwrap_or_default()
        };
        errs.push(type_invalid(
            field,
            &Value::String(actual.into()),
            &format!(
                "{path} in body must be of type {expected}: {}",
                go_quote(actual)
            ),
        ));
        check_enum(v, s, field, errs);
        return;
    }

    match v {
        Value::String(st) => {
            if let Some(f) = &s.format
                && !check_format(f, st)
            {
                errs.push(type_invalid(
                    field,
                    v,
                    &format!("{path} in body must be of type {f}: {}", go_quote(st)),
                ));
            }
            let len = st.chars().count() as u64;
            if let Some(max) = s.max_length
                && len > max
            {
                let unit = if max == 1 { "byte" } else { "bytes" };
                errs.push(cause(
                    "FieldValueTooLong",
                    field,
                    format!("Too long: may not be more than {max} {unit}"),
                ));
            }
            if let Some(min) = s.min_length
                && len < min
            {
                errs.push(invalid(
                    field,
                    v,
                    &format!("{path} in body should be at least {min} chars long"),
                ));
            }
            if let Some((p, re)) = &s.pattern
                && !re.is_match(st)
            {
                errs.push(invalid(
                    field,
                    v,
                    &format!("{path} in body should match '{p}'"),
                ));
            }
        }
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            if let Some(m) = s.multiple_of
                && m > 0.0
                && (f / m).fract() != 0.0
            {
                errs.push(invalid(
                    field,
                    v,
                    &format!("{path} in body should be a multiple of {}", go_float(m)),
                ));
            }
            if let Some(max) = s.maximum {
                let bad = if s.exclusive_maximum {
                    f >= max
                } else {
                    f > max
                };
                if bad {
                    let op = if s.exclusive_maximum {
                        "less than"
                    } else {
                        "less than or equal to"
                    };
                    errs.push(invalid(
                        field,
                        v,
                        &format!("{path} in body should be {op} {}", go_float(max)),
                    ));
                }
            }
            if let Some(min) = s.minimum {
                let bad = if s.exclusive_minimum {
                    f <= min
                } else {
                    f < min
                };
                if bad {
                    let op = if s.exclusive_minimum {
                        "greater than"
                    } else {
                        "greater than or equal to"
                    };
                    errs.push(invalid(
                        field,
                        v,
                        &format!("{path} in body should be {op} {}", go_float(min)),
                    ));
                }
            }
        }
        Value::Array(a) => {
            check_count(
                a.len(),
                s.min_items,
                s.max_items,
                "items",
                path,
                field,
                errs,
            );
            if let Some(items) = &s.items {
                for (i, item) in a.iter().enumerate() {
                    validate(item, items, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Value::Object(m) => {
            check_count(
                m.len(),
                s.min_properties,
                s.max_properties,
                "properties",
                path,
                field,
                errs,
            );
            for r in &s.required {
                if !m.contains_key(r) {
                    errs.push(cause(
                        "FieldValueRequired",
                        &child_path(path, r),
                        "Required value".into(),
                    ));
                }
            }
            for (k, cv) in m {
                if let Some(cs) = s.child(k) {
                    validate(cv, cs, &child_path(path, k), errs);
                }
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
    check_enum(v, s, field, errs);
    check_composition(v, s, path, errs);
}

fn check_enum(v: &Value, s: &Sch, field: &str, errs: &mut Vec<FieldCause>) {
    let Some(values) = &s.enumeration else { return };
    if values.iter().any(|e| json_eq(e, v)) {
        return;
    }
    let supported: Vec<String> = values
        .iter()
        .map(|e| match e {
            Value::String(s) => go_quote(s),
            other => go_quote(&serde_json::to_string(other).unwrap_or_default()),
        })
        .collect();
    let mut msg = format!("Unsupported value: {}", bad_value(v));
    if !supported.is_empty() {
        msg.push_str(&format!(": supported values: {}", supported.join(", ")));
    }
    errs.push(cause("FieldValueNotSupported", field, msg));
}

/// `allOf`/`anyOf`/`oneOf`/`not`. The composite error is not a `*Validation` error, so the
/// server reports it on the object root (`field.Invalid(nil, "", msg)`), the path being in the
/// message.
fn check_composition(v: &Value, s: &Sch, path: &str, errs: &mut Vec<FieldCause>) {
    let run = |b: &Sch| {
        let mut e = Vec::new();
        validate(v, b, path, &mut e);
        e
    };
    let composite = |msg: String| invalid("", &Value::String(String::new()), &msg);
    if !s.all_of.is_empty() {
        let mut failed = Vec::new();
        for b in &s.all_of {
            failed.extend(run(b));
        }
        if !failed.is_empty() {
            errs.push(composite(format!(
                "{} must validate all the schemas (allOf)",
                go_quote(path)
            )));
            errs.extend(failed);
        }
    }
    if !s.any_of.is_empty() {
        let results: Vec<Vec<FieldCause>> = s.any_of.iter().map(run).collect();
        if !results.iter().any(Vec::is_empty) {
            errs.push(composite(format!(
                "{} must validate at least one schema (anyOf)",
                go_quote(path)
            )));
            if let Some(best) = results.into_iter().min_by_key(Vec::len) {
                errs.extend(best);
            }
        }
    }
    if !s.one_of.is_empty() {
        let results: Vec<Vec<FieldCause>> = s.one_of.iter().map(run).collect();
        let valid = results.iter().filter(|r| r.is_empty()).count();
        if valid != 1 {
            let extra = if valid == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {valid} valid alternatives")
            };
            errs.push(composite(format!(
                "{} must validate one and only one schema (oneOf). {extra}",
                go_quote(path)
            )));
            if valid == 0
                && let Some(best) = results.into_iter().min_by_key(Vec::len)
            {
                errs.extend(best);
            }
        }
    }
    if let Some(n) = &s.not
        && run(n).is_empty()
    {
        errs.push(composite(format!(
            "{} must not validate the schema (not)",
            go_quote(path)
        )));
    }
}

/// `structurallisttype.ValidateListSetsAndMaps`: no duplicate items in sets, no duplicate keys in
/// maps.
fn list_invariants(v: &Value, s: &Sch, path: &str, errs: &mut Vec<FieldCause>) {
    match v {
        Value::Array(a) => {
            match s.list_type.as_deref() {
                Some("set") => {
                    for (i, item) in a.iter().enumerate() {
                        if a[..i].iter().any(|p| json_eq(p, item)) {
                            errs.push(cause(
                                "FieldValueDuplicate",
                                &format!("{path}[{i}]"),
                                format!("Duplicate value: {}", bad_value(item)),
                            ));
                        }
                    }
                }
                Some("map") => {
                    let key_of = |item: &Value| -> Option<Map<String, Value>> {
                        let m = item.as_object()?;
                        let mut k = Map::new();
                        for name in &s.list_map_keys {
                            let kv = m.get(name).cloned().or_else(|| {
                                s.items
                                    .as_ref()
                                    .and_then(|it| it.properties.get(name))
                                    .and_then(|p| p.default.clone())
                            });
                            if let Some(kv) = kv {
                                k.insert(name.clone(), kv);
                            }
                        }
                        Some(k)
                    };
                    let keys: Vec<Option<Map<String, Value>>> = a.iter().map(key_of).collect();
                    for i in 0..keys.len() {
                        if let Some(k) = &keys[i]
                            && keys[..i].iter().any(|p| p.as_ref() == Some(k))
                        {
                            errs.push(cause(
                                "FieldValueDuplicate",
                                &format!("{path}[{i}]"),
                                format!(
                                    "Duplicate value: {}",
                                    go_sharp_v(&Value::Object(k.clone()))
                                ),
                            ));
                        }
                    }
                }
                _ => {}
            }
            if let Some(items) = &s.items {
                for (i, item) in a.iter().enumerate() {
                    list_invariants(item, items, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Value::Object(m) => {
            for (k, cv) in m {
                if let Some(cs) = s.child(k) {
                    list_invariants(cv, cs, &child_path(path, k), errs);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// CEL errors

/// The value at a kube-cel field path (`spec.data[0].key`).
fn value_at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    if path.is_empty() {
        return Some(cur);
    }
    for seg in path.split('.') {
        let (name, mut rest) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let idx: usize = r[..end].parse().ok()?;
            cur = cur.get(idx)?;
            rest = &r[end + 1..];
        }
    }
    Some(cur)
}

/// `fieldErrorForReason` of apiextensions' CEL validator.
fn cel_cause(e: &kube_cel::ValidationError, obj: &Value) -> FieldCause {
    let field = e.field_path.clone();
    let value = value_at(obj, &field);
    let composite = matches!(value, Some(Value::Object(_) | Value::Array(_)) | None);
    let detail = e.message.trim().to_string();
    if e.kind != kube_cel::ErrorKind::ValidationFailure {
        let ty = value.map(json_type).unwrap_or("object");
        return cause(
            "FieldValueInvalid",
            &field,
            format!("Invalid value: {}: {detail}", go_quote(ty)),
        );
    }
    match e.reason.as_deref() {
        Some("FieldValueForbidden") => cause(
            "FieldValueForbidden",
            &field,
            format!("Forbidden: {detail}"),
        ),
        Some("FieldValueRequired") => cause(
            "FieldValueRequired",
            &field,
            format!("Required value: {detail}"),
        ),
        Some("FieldValueDuplicate") => {
            let shown = match value {
                Some(v) if !composite => bad_value(v),
                Some(v) => go_quote(json_type(v)),
                None => "\"object\"".into(),
            };
            cause(
                "FieldValueDuplicate",
                &field,
                format!("Duplicate value: {shown}"),
            )
        }
        _ => {
            let message = match value {
                Some(v) if !composite => format!("Invalid value: {}: {detail}", bad_value(v)),
                _ => format!("Invalid value: {detail}"),
            };
            cause("FieldValueInvalid", &field, message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn schema_types_are_send_and_sync() {
        assert_send_sync::<CrdSchema>();
        assert_send_sync::<crate::merge::MergeSchema>();
    }

    /// A trimmed ExternalSecret-like schema, the shape stagesync's CRDs have.
    fn external_secret() -> Value {
        serde_json::from_str(
            r#"{
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {
                    "type": "object",
                    "required": ["secretStoreRef", "data"],
                    "x-kubernetes-validations": [
                        {"rule": "!(has(self.versionStage) && has(self.versionId))",
                         "message": "versionStage and versionId are mutually exclusive"}
                    ],
                    "properties": {
                        "refreshInterval": {"type": "string", "default": "1h"},
                        "versionStage": {"type": "string"},
                        "versionId": {"type": "string"},
                        "creationPolicy": {"type": "string", "enum": ["Owner", "Orphan", "Merge"], "default": "Owner"},
                        "replicas": {"type": "integer", "minimum": 1, "maximum": 5},
                        "name": {"type": "string", "maxLength": 5, "minLength": 2, "pattern": "^[a-z]+$"},
                        "expiresAt": {"type": "string", "format": "date-time"},
                        "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                        "note": {"type": "string", "nullable": true},
                        "secretStoreRef": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {
                                "name": {"type": "string"},
                                "kind": {"type": "string", "default": "SecretStore", "enum": ["SecretStore", "ClusterSecretStore"]}
                            }
                        },
                        "target": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "template": {"type": "object", "properties": {"type": {"type": "string", "default": "Opaque"}}}
                            }
                        },
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 2},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "data": {
                            "type": "array",
                            "maxItems": 3,
                            "minItems": 1,
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["secretKey"],
                            "items": {
                                "type": "object",
                                "required": ["secretKey", "remoteRef"],
                                "properties": {
                                    "secretKey": {"type": "string"},
                                    "remoteRef": {
                                        "type": "object",
                                        "required": ["key"],
                                        "properties": {
                                            "key": {"type": "string", "minLength": 1},
                                            "property": {"type": "string"}
                                        }
                                    }
                                }
                            }
                        },
                        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}
                    }
                },
                "status": {
                    "type": "object",
                    "properties": {
                        "phase": {"type": "string"},
                        "observedGeneration": {"type": "integer"}
                    }
                }
            }
        }"#,
        )
        .unwrap()
    }

    fn obj(spec: Value) -> Value {
        json!({"apiVersion": "stagesync.io/v1alpha1", "kind": "ExternalSecret",
               "metadata": {"name": "e", "namespace": "ns"}, "spec": spec})
    }

    fn valid_spec() -> Value {
        json!({"secretStoreRef": {"name": "aws"},
               "data": [{"secretKey": "password", "remoteRef": {"key": "db/creds"}}]})
    }

    fn admit(spec: Value) -> Result<Value, Vec<FieldCause>> {
        let s = CrdSchema::new(&external_secret()).unwrap();
        let mut o = obj(spec);
        s.admit(&mut o, None).map(|()| o)
    }

    fn with(mut base: Value, k: &str, v: Value) -> Value {
        base[k] = v;
        base
    }

    #[test]
    fn defaults_are_filled_including_nested_ones_under_present_objects() {
        let o = admit(with(valid_spec(), "target", json!({"template": {}}))).unwrap();
        assert_eq!(o["spec"]["refreshInterval"], "1h");
        assert_eq!(o["spec"]["creationPolicy"], "Owner");
        assert_eq!(o["spec"]["secretStoreRef"]["kind"], "SecretStore");
        assert_eq!(o["spec"]["target"]["template"]["type"], "Opaque");
        // No default for an absent parent object.
        let o = admit(valid_spec()).unwrap();
        assert!(o["spec"].get("target").is_none());
        // An explicit value wins.
        let o = admit(with(valid_spec(), "refreshInterval", json!("5m"))).unwrap();
        assert_eq!(o["spec"]["refreshInterval"], "5m");
    }

    #[test]
    fn null_of_a_non_nullable_field_is_dropped_or_defaulted() {
        let o = admit(with(
            with(valid_spec(), "refreshInterval", Value::Null),
            "versionId",
            Value::Null,
        ))
        .unwrap();
        assert_eq!(o["spec"]["refreshInterval"], "1h");
        assert!(o["spec"].get("versionId").is_none());
        let o = admit(with(valid_spec(), "note", Value::Null)).unwrap();
        assert!(o["spec"]["note"].is_null(), "nullable keeps null");
    }

    #[test]
    fn unknown_fields_are_pruned_but_preserved_where_declared() {
        let mut spec = valid_spec();
        spec["bogus"] = json!(1);
        spec["secretStoreRef"]["extraField"] = json!("x");
        spec["extra"] = json!({"anything": {"goes": [1]}});
        let s = CrdSchema::new(&external_secret()).unwrap();
        let mut o = obj(spec);
        o["topLevel"] = json!(true);
        o["metadata"]["labels"] = json!({"a": "b"});
        o["metadata"]["bogusMeta"] = json!("x");
        s.admit(&mut o, None).unwrap();
        assert!(o.get("topLevel").is_none());
        assert!(o["spec"].get("bogus").is_none());
        assert!(o["spec"]["secretStoreRef"].get("extraField").is_none());
        assert_eq!(o["spec"]["extra"], json!({"anything": {"goes": [1]}}));
        assert_eq!(o["metadata"]["labels"], json!({"a": "b"}));
        assert!(o["metadata"].get("bogusMeta").is_none());
        assert_eq!(o["apiVersion"], "stagesync.io/v1alpha1");
    }

    #[test]
    fn enum_violation_is_not_supported_with_the_real_message() {
        let errs = admit(with(valid_spec(), "creationPolicy", json!("Foo"))).unwrap_err();
        assert!(
            errs.contains(&FieldCause {
                reason: "FieldValueNotSupported".into(),
                message:
                    "Unsupported value: \"Foo\": supported values: \"Owner\", \"Orphan\", \"Merge\""
                        .into(),
                field: "spec.creationPolicy".into(),
            }),
            "{errs:?}"
        );
    }

    #[test]
    fn missing_required_fields() {
        let errs = admit(json!({"data": [{"secretKey": "k", "remoteRef": {}}]})).unwrap_err();
        let fields: Vec<(&str, &str, &str)> = errs
            .iter()
            .map(|c| (c.reason.as_str(), c.field.as_str(), c.message.as_str()))
            .collect();
        assert!(
            fields.contains(&(
                "FieldValueRequired",
                "spec.secretStoreRef",
                "Required value"
            )),
            "{fields:?}"
        );
        assert!(
            fields.contains(&(
                "FieldValueRequired",
                "spec.data[0].remoteRef.key",
                "Required value"
            )),
            "{fields:?}"
        );
    }

    #[test]
    fn type_errors_name_the_expected_and_actual_types() {
        let errs = admit(with(valid_spec(), "replicas", json!("three"))).unwrap_err();
        assert_eq!(errs[0], FieldCause {
            reason: "FieldValueTypeInvalid".into(),
            message: "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"".into(),
            field: "spec.replicas".into(),
        });
        let mut spec = valid_spec();
        spec["data"][0]["remoteRef"]["key"] = json!(5);
        let errs = admit(spec).unwrap_err();
        assert_eq!(errs[0].field, "spec.data[0].remoteRef.key");
        assert_eq!(
            errs[0].message,
            "Invalid value: \"integer\": spec.data[0].remoteRef.key in body must be of type string: \"integer\""
        );
        let errs = admit(with(valid_spec(), "port", json!(true))).unwrap_err();
        assert_eq!(
            errs[0].message,
            "Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\""
        );
        assert!(admit(with(valid_spec(), "port", json!("http"))).is_ok());
        assert!(
            admit(with(valid_spec(), "replicas", json!(2.0))).is_ok(),
            "integral float is an integer"
        );
    }

    #[test]
    fn bounds_lengths_patterns_and_formats() {
        let e = admit(with(valid_spec(), "replicas", json!(0))).unwrap_err();
        assert_eq!(
            e[0].message,
            "Invalid value: 0: spec.replicas in body should be greater than or equal to 1"
        );
        let e = admit(with(valid_spec(), "replicas", json!(9))).unwrap_err();
        assert_eq!(
            e[0].message,
            "Invalid value: 9: spec.replicas in body should be less than or equal to 5"
        );
        let e = admit(with(valid_spec(), "name", json!("toolong"))).unwrap_err();
        assert_eq!(
            (e[0].reason.as_str(), e[0].message.as_str()),
            (
                "FieldValueTooLong",
                "Too long: may not be more than 5 bytes"
            )
        );
        let e = admit(with(valid_spec(), "name", json!("a"))).unwrap_err();
        assert_eq!(
            e[0].message,
            "Invalid value: \"a\": spec.name in body should be at least 2 chars long"
        );
        let e = admit(with(valid_spec(), "name", json!("AB"))).unwrap_err();
        assert_eq!(
            e[0].message,
            "Invalid value: \"AB\": spec.name in body should match '^[a-z]+$'"
        );
        let e = admit(with(valid_spec(), "expiresAt", json!("tomorrow"))).unwrap_err();
        assert_eq!(
            e[0].message,
            "Invalid value: \"tomorrow\": spec.expiresAt in body must be of type date-time: \"tomorrow\""
        );
        assert!(
            admit(with(
                valid_spec(),
                "expiresAt",
                json!("2024-05-01T10:00:00.5+02:00")
            ))
            .is_ok()
        );
        let e = admit(with(valid_spec(), "data", json!([]))).unwrap_err();
        assert_eq!(
            e[0].message,
            "Invalid value: 0: spec.data in body should have at least 1 items"
        );
        let items: Vec<Value> = (0..4)
            .map(|i| json!({"secretKey": format!("k{i}"), "remoteRef": {"key": "r"}}))
            .collect();
        let e = admit(with(valid_spec(), "data", Value::Array(items))).unwrap_err();
        assert_eq!(
            (e[0].reason.as_str(), e[0].message.as_str()),
            (
                "FieldValueTooMany",
                "Too many: 4: must have at most 3 items"
            )
        );
        let e = admit(with(
            valid_spec(),
            "labels",
            json!({"a": "1", "b": "2", "c": "3"}),
        ))
        .unwrap_err();
        assert_eq!(e[0].message, "Too many: 3: must have at most 2 items");
        let e = admit(with(valid_spec(), "labels", json!({"a": 1}))).unwrap_err();
        assert_eq!(e[0].field, "spec.labels.a");
    }

    #[test]
    fn format_checks_do_not_panic_on_odd_input() {
        assert!(!is_date_time("2024-01-01T0000000\u{e9}Z"));
        assert!(!is_date_time("2024-01-01T\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"));
        assert!(is_date_time("2024-02-29T23:59:59Z"));
        assert!(!is_date_time("2024-13-01T00:00:00Z"));
        assert!(check_format("byte", "aGVsbG8="));
        assert!(!check_format("byte", "not base64!"));
        assert!(check_format("uuid", "123e4567-e89b-12d3-a456-426614174000"));
    }

    #[test]
    fn list_type_invariants_report_duplicates() {
        let mut spec = valid_spec();
        spec["data"] = json!([
            {"secretKey": "a", "remoteRef": {"key": "x"}},
            {"secretKey": "a", "remoteRef": {"key": "y"}}
        ]);
        spec["tags"] = json!(["t", "t"]);
        let e = admit(spec).unwrap_err();
        assert!(
            e.contains(&FieldCause {
                reason: "FieldValueDuplicate".into(),
                message: "Duplicate value: map[string]interface {}{\"secretKey\":\"a\"}".into(),
                field: "spec.data[1]".into(),
            }),
            "{e:?}"
        );
        assert!(
            e.contains(&FieldCause {
                reason: "FieldValueDuplicate".into(),
                message: "Duplicate value: \"t\"".into(),
                field: "spec.tags[1]".into(),
            }),
            "{e:?}"
        );
    }

    #[test]
    fn cel_rule_rejects_with_its_message() {
        let spec = with(
            with(valid_spec(), "versionStage", json!("AWSCURRENT")),
            "versionId",
            json!("v1"),
        );
        let e = admit(spec).unwrap_err();
        assert_eq!(
            e,
            vec![FieldCause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: versionStage and versionId are mutually exclusive".into(),
                field: "spec".into(),
            }]
        );
        assert!(admit(with(valid_spec(), "versionStage", json!("AWSCURRENT"))).is_ok());
    }

    #[test]
    fn blocking_errors_skip_cel_with_the_real_notice() {
        let spec = with(
            with(
                with(valid_spec(), "versionStage", json!("A")),
                "versionId",
                json!("v1"),
            ),
            "creationPolicy",
            json!("Nope"),
        );
        let e = admit(spec).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0].reason, "FieldValueNotSupported");
        assert_eq!(
            e[1].message,
            "Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"
        );
    }

    fn immutable_schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "provider": {
                "type": "string",
                "x-kubernetes-validations": [
                    {"rule": "self == oldSelf", "message": "provider is immutable", "reason": "FieldValueForbidden"}
                ]
            },
            "count": {
                "type": "integer",
                "x-kubernetes-validations": [
                    {"rule": "self >= oldSelf", "messageExpression": "'count may not decrease below ' + string(oldSelf)"}
                ]
            },
            "items": {
                "type": "array", "items": {"type": "string"},
                "x-kubernetes-validations": [{"rule": "self.size() <= 2", "fieldPath": ".items", "message": "at most two"}]
            }
        }}}})
    }

    #[test]
    fn transition_rules_use_old_self_only_on_update() {
        let s = CrdSchema::new(&immutable_schema()).unwrap();
        let old = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "k"}, "spec": {"provider": "aws", "count": 3}});
        let mut created = old.clone();
        assert!(
            s.admit(&mut created, None).is_ok(),
            "transition rules are skipped on create"
        );
        let mut same = old.clone();
        assert!(s.admit(&mut same, Some(&old)).is_ok());
        let mut changed = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "k"}, "spec": {"provider": "gcp", "count": 2}});
        let e = s.admit(&mut changed, Some(&old)).unwrap_err();
        assert!(
            e.contains(&FieldCause {
                reason: "FieldValueForbidden".into(),
                message: "Forbidden: provider is immutable".into(),
                field: "spec.provider".into(),
            }),
            "{e:?}"
        );
        assert!(
            e.contains(&FieldCause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: 2: count may not decrease below 3".into(),
                field: "spec.count".into(),
            }),
            "{e:?}"
        );
    }

    #[test]
    fn cel_field_path_reason_items_and_root_rules() {
        let s = CrdSchema::new(&json!({
            "type": "object",
            "x-kubernetes-validations": [{"rule": "has(self.spec)", "message": "spec is required", "reason": "FieldValueRequired"}],
            "properties": {"spec": {"type": "object",
                "x-kubernetes-validations": [{"rule": "size(self.items) <= 2", "fieldPath": ".items", "message": "at most two items"}],
                "properties": {"items": {"type": "array", "items": {
                    "type": "object",
                    "x-kubernetes-validations": [{"rule": "self.key != 'forbidden'", "message": "key is forbidden"}],
                    "properties": {"key": {"type": "string"}}
                }}}}}
        }))
        .unwrap();
        let mut o = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "k"}});
        let e = s.admit(&mut o, None).unwrap_err();
        assert_eq!(
            e,
            vec![FieldCause {
                reason: "FieldValueRequired".into(),
                message: "Required value: spec is required".into(),
                field: "".into(),
            }]
        );
        let mut o = json!({"spec": {"items": [{"key": "a"}, {"key": "forbidden"}, {"key": "c"}]}});
        let e = s.admit(&mut o, None).unwrap_err();
        assert!(
            e.contains(&FieldCause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: at most two items".into(),
                field: "spec.items".into(),
            }),
            "{e:?}"
        );
        assert!(
            e.contains(&FieldCause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: key is forbidden".into(),
                field: "spec.items[1]".into(),
            }),
            "{e:?}"
        );
    }

    #[test]
    fn default_object_fills_defaults_on_read() {
        let s = CrdSchema::new(&external_secret()).unwrap();
        let mut stored = obj(valid_spec());
        s.default_object(&mut stored);
        assert_eq!(stored["spec"]["refreshInterval"], "1h");
    }

    #[test]
    fn cel_compilation_errors_reject_the_schema() {
        let bad = json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.x >"}]});
        assert!(CrdSchema::new(&bad).is_err());
        let bad_pattern =
            json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}});
        assert!(CrdSchema::new(&bad_pattern).is_err());
    }

    #[test]
    fn one_of_and_not_are_reported_on_the_root_with_the_path_in_the_message() {
        let s = CrdSchema::new(&json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
            "not": {"required": ["c"]}
        }}}))
        .unwrap();
        let mut o = json!({"spec": {"a": "1", "b": "2"}});
        let e = s.admit(&mut o, None).unwrap_err();
        assert_eq!(e, vec![FieldCause {
            reason: "FieldValueInvalid".into(),
            message: "Invalid value: \"\": \"spec\" must validate one and only one schema (oneOf). Found 2 valid alternatives".into(),
            field: "".into(),
        }]);
        let mut o = json!({"spec": {}});
        let e = s.admit(&mut o, None).unwrap_err();
        assert!(e[0].message.ends_with("Found none valid"), "{e:?}");
        assert!(e.iter().any(|c| c.reason == "FieldValueRequired"), "{e:?}");
    }

    #[test]
    fn embedded_resources_keep_their_type_meta() {
        let s = CrdSchema::new(&json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
        }}}})).unwrap();
        let mut o = json!({"spec": {"template": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x", "junk": 1}, "data": {"a": "b"}}}});
        s.admit(&mut o, None).unwrap();
        assert_eq!(
            o["spec"]["template"],
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {"a": "b"}})
        );
    }
}
