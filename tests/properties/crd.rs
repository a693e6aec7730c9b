//! The CRD types (`ExternalSecret`, `SecretStore`, `ClusterSecretStore`) read from JSON the API
//! server hands the operator. Deserialising never panics, whatever the JSON; and every object
//! the CRD's own schema admits (pruned, defaulted, validated, CEL rules — `crd_schema`, the API
//! server fake's admission) deserialises into the Rust type: the schema is never looser than the
//! types. An object the server admits but the types refuse would break the operator's watch of
//! every object of that kind (a list is decoded whole), so such a case is a bug in the schema or
//! the type.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use crd_schema::CrdSchema;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::BoxedStrategy;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use stagesync::api::{ClusterSecretStore, ExternalSecret, SecretStore};

use crate::{Found, Target, config, regressions};

const ARBITRARY: u32 = 400;
const MUTATED: u32 = 600;
const FROM_SCHEMA: u32 = 600;

pub const TARGETS: &[Target] = &[
    Target {
        test: "crd_types_never_panic_on_arbitrary_json",
        code: "serde of `ExternalSecret`, `SecretStore`, `ClusterSecretStore`",
        checks: "arbitrary JSON (biased to the CRDs' field names), as the whole object and as its \
                 `spec`/`status`, from a `Value` and from text: a value or an error, never a panic",
        cases: ARBITRARY,
    },
    Target {
        test: "mutated_objects_never_panic_and_admitted_ones_deserialise",
        code: "serde of the three kinds + `crd_schema` admission",
        checks: "a valid manifest (the examples, ESO's AWS manifests) with one field replaced, \
                 removed, retyped or nulled: never a panic; when the schema admits it, it \
                 deserialises",
        cases: MUTATED,
    },
    Target {
        test: "objects_the_schema_admits_deserialise",
        code: "`stagesync::api::crds()` schemas vs the Rust types",
        checks: "objects generated from the CRD schema itself (every property, enum, pattern, \
                 bound, huge and negative numbers, nulls): each one the schema admits deserialises",
        cases: FROM_SCHEMA,
    },
];

pub const FOUND: &[Found] = &[
    Found {
        bug: "the schema admitted a 32-bit field past its range (`retrySettings.maxRetries: \
              2147483648`, a store's integer `refreshInterval`) that the Rust type (`i32`, \
              `IntOrString`) cannot hold: one such store would have broken the operator's watch of \
              every store",
        fix: "`api/mod.rs` gives every `int32` and int-or-string field its range as \
              `minimum`/`maximum` in the generated CRDs",
        test: "int32_fields_refuse_numbers_past_their_range",
    },
    Found {
        bug: "the fake's admission (`crd-schema`) took an integer past the int64 range (or a \
              whole float past 2⁵³) as an `integer`, where the API server decodes it as a float and \
              refuses it; an `i64` field could not hold it",
        fix: "`crd-schema/src/validate.rs` types such a number as the server does \
              (go-openapi's `IsFloat64AJSONInteger`)",
        test: "integers_past_int64_are_refused_as_the_server_refuses_them",
    },
];

/// The three kinds, by `kind`.
pub const KINDS: [&str; 3] = ["ExternalSecret", "SecretStore", "ClusterSecretStore"];

/// Each kind's `openAPIV3Schema`, as JSON.
pub static SCHEMA_JSON: LazyLock<BTreeMap<String, Value>> = LazyLock::new(|| {
    stagesync::api::crds()
        .into_iter()
        .map(|(_, crd)| {
            let schema = crd.spec.versions[0]
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .expect("every CRD has a schema");
            (
                crd.spec.names.kind.clone(),
                serde_json::to_value(schema).unwrap(),
            )
        })
        .collect()
});

/// Each kind's compiled schema.
pub static SCHEMAS: LazyLock<BTreeMap<String, CrdSchema>> = LazyLock::new(|| {
    SCHEMA_JSON
        .iter()
        .map(|(kind, s)| (kind.clone(), CrdSchema::new(s).expect("the CRD compiles")))
        .collect()
});

/// Admits `obj` as the API server would: `Some(admitted)` (pruned and defaulted, its numbers as
/// the server serves them back) or `None`.
pub fn admit(obj: &Value) -> Option<Value> {
    let kind = obj["kind"].as_str()?;
    let mut admitted = obj.clone();
    SCHEMAS.get(kind)?.admit(&mut admitted, None).ok()?;
    as_served(&mut admitted);
    Some(admitted)
}

/// The API server decodes a JSON number as an int64, or a float64 when it is not one, and
/// encodes a whole float64 without a fraction: `2.0` is served as `2`.
fn as_served(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n
                .as_f64()
                .filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9.2e18)
            {
                *v = Value::from(f as i64);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(as_served),
        Value::Object(m) => m.values_mut().for_each(as_served),
        _ => {}
    }
}

/// Deserialises `obj` as its kind, from the value and from its text; the error as text.
pub fn deserialise(kind: &str, obj: &Value) -> Result<(), String> {
    fn both<T: DeserializeOwned>(obj: &Value) -> Result<(), String> {
        let from_text = serde_json::from_str::<T>(&obj.to_string()).map(|_| ());
        let from_value = serde_json::from_value::<T>(obj.clone()).map(|_| ());
        match (from_value, from_text) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
        }
    }
    match kind {
        "ExternalSecret" => both::<ExternalSecret>(obj),
        "SecretStore" => both::<SecretStore>(obj),
        _ => both::<ClusterSecretStore>(obj),
    }
}

/// Every property name in the three schemas, so arbitrary JSON hits real fields.
static FIELD_NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
    fn walk(v: &Value, out: &mut Vec<String>) {
        if let Some(props) = v.get("properties").and_then(Value::as_object) {
            out.extend(props.keys().cloned());
        }
        match v {
            Value::Object(m) => m.values().for_each(|c| walk(c, out)),
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let mut names = Vec::new();
    SCHEMA_JSON.values().for_each(|s| walk(s, &mut names));
    names.sort();
    names.dedup();
    names
});

/// Numbers that break narrow types: extremes of every integer width, negative, huge, fractions.
fn nasty_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![
            json!(0),
            json!(-1),
            json!(i32::MAX),
            json!(i64::from(i32::MAX) + 1),
            json!(u32::MAX),
            json!(u64::from(u32::MAX) + 1),
            json!(i64::MIN),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(1.5),
            json!(-0.0),
            json!(1e300),
        ]),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
    ]
}

fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9.-]{0,12}",
        "[\u{0}\u{7f}\u{202e}\u{fffd}é ]{0,4}",
        Just(String::new()),
        prop::sample::select(vec![
            "1h",
            "0",
            "-1s",
            "AWSCURRENT",
            "uuid/",
            "true",
            "null",
            "Owner",
            "v2",
        ])
        .prop_map(str::to_owned),
    ]
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(FIELD_NAMES.clone()),
        1 => nasty_string(),
    ]
}

/// Arbitrary JSON, its object keys mostly the CRDs' field names.
pub fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        nasty_number(),
        nasty_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn metadata() -> impl Strategy<Value = Value> {
    (
        "[a-z][a-z0-9-]{0,10}",
        prop::option::of("[a-z][a-z0-9-]{0,10}"),
    )
        .prop_map(|(name, ns)| {
            let mut m = json!({"name": name});
            if let Some(ns) = ns {
                m["namespace"] = json!(ns);
            }
            m
        })
}

/// An object of `kind` with generated `apiVersion`, `metadata` and the given body fields.
fn object(kind: &str, body: Map<String, Value>, metadata: Value) -> Value {
    let mut obj =
        json!({"apiVersion": "stagesync.io/v1alpha1", "kind": kind, "metadata": metadata});
    obj.as_object_mut().unwrap().extend(body);
    obj
}

// ---------------------------------------------------------------------------------------------
// Objects generated from the schema.

/// A strategy for values of `schema` (a structural schema node): mostly valid, sometimes not
/// (wrong enum value, out-of-bounds length or number, missing required field, null).
fn from_schema(schema: &Value) -> BoxedStrategy<Value> {
    let valid = valid_for(schema);
    prop_oneof![
        150 => valid,
        1 => any_json(),
        1 => Just(Value::Null),
    ]
    .boxed()
}

fn string_for(schema: &Value) -> BoxedStrategy<Value> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return prop_oneof![
            30 => prop::sample::select(values.clone()),
            1 => nasty_string().prop_map(Value::from),
        ]
        .boxed();
    }
    let mut choices: Vec<(u32, BoxedStrategy<Value>)> =
        vec![(1, nasty_string().prop_map(Value::from).boxed())];
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        let unanchored = pattern.trim_start_matches('^').trim_end_matches('$');
        let max = schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX) as usize;
        if let Ok(s) = proptest::string::string_regex(unanchored) {
            choices.push((
                30,
                s.prop_filter("maxLength", move |s| s.chars().count() <= max)
                    .prop_map(Value::from)
                    .boxed(),
            ));
        }
    } else {
        let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
        let max = schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .map_or(min + 12, |m| (m as usize).min(min + 12));
        let len = min..=max.max(min);
        choices.push((
            8,
            prop::collection::vec(prop::char::any(), len.clone())
                .prop_map(|c| Value::from(c.into_iter().collect::<String>()))
                .boxed(),
        ));
        choices.push((
            20,
            proptest::string::string_regex(&format!(
                "[a-zA-Z0-9._/-]{{{},{}}}",
                len.start(),
                len.end()
            ))
            .unwrap()
            .prop_map(Value::from)
            .boxed(),
        ));
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time") {
        choices.push((
            60,
            (1970u32..2100, 1u32..13, 1u32..29, 0u32..24, 0u32..60)
                .prop_map(|(y, mo, d, h, mi)| {
                    Value::from(format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:00Z"))
                })
                .boxed(),
        ));
    }
    proptest::strategy::Union::new_weighted(choices).boxed()
}

fn valid_for(schema: &Value) -> BoxedStrategy<Value> {
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return prop_oneof![
            2 => (0i64..100_000).prop_map(Value::from),
            1 => nasty_number(),
            2 => "[0-9]{1,4}(s|m|h)".prop_map(Value::from),
            1 => nasty_string().prop_map(Value::from),
        ]
        .boxed();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => object_for(schema),
        Some("array") => {
            let items = schema
                .get("items")
                .map_or_else(|| any_json().boxed(), from_schema);
            let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            prop::collection::vec(items, min..min + 3)
                .prop_map(Value::Array)
                .boxed()
        }
        Some("string") => string_for(schema),
        Some("integer") => {
            let min = schema.get("minimum").and_then(Value::as_i64);
            prop_oneof![
                4 => (min.unwrap_or(0)..min.unwrap_or(0) + 100).prop_map(Value::from),
                2 => nasty_number(),
            ]
            .boxed()
        }
        Some("number") => nasty_number().boxed(),
        Some("boolean") => any::<bool>().prop_map(Value::from).boxed(),
        _ => any_json().boxed(),
    }
}

fn object_for(schema: &Value) -> BoxedStrategy<Value> {
    let required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = props
            .iter()
            .map(|(name, sub)| {
                let name = name.clone();
                let value = from_schema(sub);
                if required.contains(&name) {
                    prop_oneof![
                        100 => value.prop_map(move |v| Some((name.clone(), v))),
                        1 => Just(None),
                    ]
                    .boxed()
                } else {
                    prop::option::weighted(0.3, value.prop_map(move |v| (name.clone(), v))).boxed()
                }
            })
            .collect();
        return fields
            .prop_map(|fields| Value::Object(fields.into_iter().flatten().collect()))
            .boxed();
    }
    if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
        return prop::collection::btree_map(
            prop_oneof![4 => "[a-zA-Z0-9._/-]{1,12}", 1 => nasty_string()],
            from_schema(additional),
            0..4,
        )
        .prop_map(|m| Value::Object(m.into_iter().collect()))
        .boxed();
    }
    any_json().boxed()
}

/// A whole object of one of the three kinds, generated from its schema.
fn schema_object() -> impl Strategy<Value = Value> {
    let per_kind: Vec<BoxedStrategy<Value>> = KINDS
        .iter()
        .map(|kind| {
            let mut schema = SCHEMA_JSON[*kind].clone();
            // `data` or `dataFrom` must be there (a CEL rule): generate `data` always (one
            // item at least), `dataFrom` sometimes.
            if *kind == "ExternalSecret" {
                let spec = schema.pointer_mut("/properties/spec").unwrap();
                spec["required"].as_array_mut().unwrap().push(json!("data"));
                spec["properties"]["data"]["minItems"] = json!(1);
            }
            let body_schema = json!({
                "type": "object",
                "properties": {
                    "spec": schema["properties"]["spec"],
                    "status": schema["properties"]["status"],
                },
                "required": schema.get("required").cloned().unwrap_or(json!([])),
            });
            let kind = kind.to_string();
            (valid_for(&body_schema), metadata())
                .prop_map(move |(body, meta)| {
                    object(&kind, body.as_object().cloned().unwrap_or_default(), meta)
                })
                .boxed()
        })
        .collect();
    proptest::strategy::Union::new(per_kind)
}

// ---------------------------------------------------------------------------------------------
// Mutated manifests.

/// Valid manifests to mutate: the examples and ESO's AWS manifests with `apiVersion` changed.
static SEEDS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seeds = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.push(root.join("tests/fixtures/eso/aws.yaml"));
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let mut doc: Value = serde::Deserialize::deserialize(doc).unwrap();
            if doc["apiVersion"] == "external-secrets.io/v1" {
                doc["apiVersion"] = json!("stagesync.io/v1alpha1");
            }
            if doc["apiVersion"] == "stagesync.io/v1alpha1"
                && KINDS.contains(&doc["kind"].as_str().unwrap_or_default())
            {
                seeds.push(doc);
            }
        }
    }
    assert!(seeds.len() >= 8, "{} seeds", seeds.len());
    seeds
});

/// Paths (JSON pointers) of every value under `spec` and `status` of `v`. `metadata` is left
/// alone: its decoding is Kubernetes' ObjectMeta, not the CRD's.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                if at.is_empty() && !matches!(k.as_str(), "spec" | "status") {
                    continue;
                }
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(c, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    Replace(Value),
    Remove,
    Null,
    /// A number where a string was, a string where anything else was.
    Retype,
    /// An extra field with an arbitrary value.
    Add(String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => any_json().prop_map(Mutation::Replace),
        2 => Just(Mutation::Remove),
        1 => Just(Mutation::Null),
        2 => Just(Mutation::Retype),
        2 => (field_name(), any_json()).prop_map(|(k, v)| Mutation::Add(k, v)),
    ]
}

fn mutate(seed: &Value, at: &str, m: &Mutation) -> Value {
    let mut obj = seed.clone();
    if at.is_empty() {
        return obj;
    }
    let (parent, last) = at.rsplit_once('/').unwrap();
    let last = last.replace("~1", "/").replace("~0", "~");
    match m {
        Mutation::Replace(v) => *obj.pointer_mut(at).unwrap() = v.clone(),
        Mutation::Null => *obj.pointer_mut(at).unwrap() = Value::Null,
        Mutation::Retype => {
            let target = obj.pointer_mut(at).unwrap();
            *target = match &*target {
                Value::String(s) => s.parse::<i64>().map_or(json!(12345), Value::from),
                other => Value::from(other.to_string()),
            };
        }
        Mutation::Remove => match obj.pointer_mut(parent).unwrap() {
            Value::Object(m) => {
                m.remove(&last);
            }
            Value::Array(a) => {
                a.remove(last.parse::<usize>().unwrap());
            }
            _ => unreachable!(),
        },
        Mutation::Add(k, v) => {
            if let Some(Value::Object(m)) = obj.pointer_mut(at) {
                m.insert(k.clone(), v.clone());
            } else {
                *obj.pointer_mut(at).unwrap() = json!({ k.clone(): v.clone() });
            }
        }
    }
    obj
}

fn mutated() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(SEEDS.clone()),
        prop::collection::vec((any::<Index>(), mutation()), 1..3),
    )
        .prop_map(|(seed, mutations)| {
            let mut obj = seed;
            for (at, m) in mutations {
                let mut paths = Vec::new();
                pointers(&obj, String::new(), &mut paths);
                let at = at.get(&paths).clone();
                obj = mutate(&obj, &at, &m);
            }
            obj
        })
}

/// When the schema admits `obj`, the admitted object deserialises as its kind.
fn admitted_deserialises(obj: &Value) -> Result<bool, TestCaseError> {
    let kind = obj["kind"].as_str().unwrap_or_default().to_owned();
    let _ = deserialise(&kind, obj);
    let Some(admitted) = admit(obj) else {
        return Ok(false);
    };
    deserialise(&kind, &admitted).map_err(|e| {
        TestCaseError::fail(format!(
            "the schema admits this {kind} but the type refuses it: {e}\n{}",
            serde_json::to_string_pretty(&admitted).unwrap()
        ))
    })?;
    Ok(true)
}

proptest! {
    #![proptest_config(config(regressions!("crd"), ARBITRARY))]

    #[test]
    fn crd_types_never_panic_on_arbitrary_json(
        kind in prop::sample::select(KINDS.to_vec()),
        whole in any_json(),
        spec in any_json(),
        status in any_json(),
    ) {
        for k in KINDS {
            let _ = deserialise(k, &whole);
        }
        let obj = object(
            kind,
            [("spec".to_owned(), spec), ("status".to_owned(), status)].into_iter().collect(),
            json!({"name": "x", "namespace": "ns"}),
        );
        let _ = deserialise(kind, &obj);
    }
}

proptest! {
    #![proptest_config(config(regressions!("crd"), MUTATED))]

    #[test]
    fn mutated_objects_never_panic_and_admitted_ones_deserialise(obj in mutated()) {
        admitted_deserialises(&obj)?;
    }
}

proptest! {
    #![proptest_config(config(regressions!("crd"), FROM_SCHEMA))]

    #[test]
    fn objects_the_schema_admits_deserialise(obj in schema_object()) {
        admitted_deserialises(&obj)?;
    }
}

/// The schema-driven generator has teeth: a good share of its objects is admitted, for every
/// kind, so the property above does test admitted objects.
#[test]
fn the_schema_generator_makes_admissible_objects() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = schema_object();
    let mut admitted: BTreeMap<String, u32> = BTreeMap::new();
    let mut refusals: BTreeMap<String, u32> = BTreeMap::new();
    for _ in 0..300 {
        let obj = strategy.new_tree(&mut runner).unwrap().current();
        let kind = obj["kind"].as_str().unwrap().to_owned();
        let mut copy = obj.clone();
        match SCHEMAS[&kind].admit(&mut copy, None) {
            Ok(()) => *admitted.entry(kind).or_default() += 1,
            Err(causes) => {
                for c in causes {
                    *refusals
                        .entry(format!(
                            "{kind} {}: {}",
                            c.field,
                            c.message.chars().take(90).collect::<String>()
                        ))
                        .or_default() += 1;
                }
            }
        }
    }
    let mut common: Vec<_> = refusals.into_iter().collect();
    common.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    common.truncate(8);
    for kind in KINDS {
        let n = admitted.get(kind).copied().unwrap_or(0);
        assert!(
            n >= 25,
            "only {n} of ~100 generated {kind}s admitted: {admitted:?}; most refused: {common:?}"
        );
    }
}

#[test]
fn every_seed_is_admitted_and_deserialises() {
    for seed in SEEDS.iter() {
        let admitted = admit(seed).unwrap_or_else(|| panic!("seed refused: {seed}"));
        deserialise(seed["kind"].as_str().unwrap(), &admitted).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: what the properties above found.

fn store_with(field: &str, value: Value) -> Value {
    let mut store = json!({
        "apiVersion": "stagesync.io/v1alpha1", "kind": "ClusterSecretStore",
        "metadata": {"name": "aws"},
        "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "eu-west-1"}}},
    });
    *store
        .pointer_mut("/spec")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .entry(field.to_owned())
        .or_insert(Value::Null) = value;
    store
}

#[test]
fn int32_fields_refuse_numbers_past_their_range() {
    for (field, past, within) in [
        (
            "retrySettings",
            json!({"maxRetries": 2_147_483_648u64}),
            json!({"maxRetries": 2_147_483_647}),
        ),
        (
            "refreshInterval",
            json!(2_147_483_648u64),
            json!(2_147_483_647),
        ),
    ] {
        assert!(
            admit(&store_with(field, past.clone())).is_none(),
            "{field}: {past}"
        );
        let admitted = admit(&store_with(field, within.clone())).expect("within the range");
        deserialise("ClusterSecretStore", &admitted).unwrap();
    }
}

#[test]
fn integers_past_int64_are_refused_as_the_server_refuses_them() {
    let mut es = SEEDS
        .iter()
        .find(|s| s["kind"] == "ExternalSecret")
        .unwrap()
        .clone();
    es["status"] =
        json!({"conditions": [{"type": "Ready", "status": "True", "observedGeneration": 1}]});
    assert!(admit(&es).is_some());
    for past in [json!(i64::MAX as u64 + 1), json!(1e20)] {
        es["status"]["conditions"][0]["observedGeneration"] = past.clone();
        assert!(admit(&es).is_none(), "{past}");
    }
}
