use super::*;
use serde_json::json;

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn schema_types_are_send_and_sync() {
    assert_send_sync::<CrdSchema>();
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

/// The server decodes a JSON number past the int64 range as a float64, and kube-openapi takes a
/// float as an `integer` only when it is whole and within ±(2⁵³−1): such numbers are refused,
/// as they are by the real server (a Rust `i64` field could not hold them either).
#[test]
fn integers_past_int64_are_refused_as_numbers() {
    let s = CrdSchema::new(
        &json!({"type": "object", "properties": {"spec": {"type": "object",
        "properties": {"n": {"type": "integer"}}}}}),
    )
    .unwrap();
    let admit_n = |n: Value| {
        let mut obj =
            json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "k"}, "spec": {"n": n}});
        s.admit(&mut obj, None)
    };
    assert!(admit_n(json!(i64::MAX)).is_ok());
    assert!(admit_n(json!(i64::MIN)).is_ok());
    assert!(admit_n(json!(9_007_199_254_740_991.0)).is_ok());
    for n in [
        json!(i64::MAX as u64 + 1),
        json!(u64::MAX),
        json!(1e20),
        json!(9_007_199_254_740_993.0),
    ] {
        let errs = admit_n(n.clone()).unwrap_err();
        assert_eq!(
            errs[0].message,
            "Invalid value: \"number\": spec.n in body must be of type integer: \"number\"",
            "{n}"
        );
    }
}
