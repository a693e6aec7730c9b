//! `render::property::get_property`: ESO's gjson property paths over a secret's value. Never
//! panics or hangs on any value and any path; finds what a JSON object built from a generated
//! path holds at that path (the model: the path written with gjson's escapes, the value as Go's
//! gjson `String()` prints it).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use stagesync::render::RenderError;
use stagesync::render::property::get_property;

use crate::{Found, Target, config, regressions};

const ANY_INPUT: u32 = 1500;
const MODEL: u32 = 1500;
const DOTTED_KEY: u32 = 300;

pub const TARGETS: &[Target] = &[
    Target {
        test: "property_reader_never_panics",
        code: "`render::property::get_property` (gjson paths)",
        checks: "arbitrary bytes, near-JSON text and deeply nested JSON read at arbitrary paths \
                 (escapes, wildcards, `#`, modifiers, multipaths): an answer or a typed error, \
                 never a panic, within 2 s",
        cases: ANY_INPUT,
    },
    Target {
        test: "property_reader_finds_what_the_path_holds",
        code: "`render::property::get_property`",
        checks: "model: a JSON document built along a generated path (keys with dots, gjson's \
                 special characters, unicode, digits; array indexes) is read at that path written \
                 with gjson's escapes, and gives the leaf as Go's gjson prints it",
        cases: MODEL,
    },
    Target {
        test: "a_whole_dotted_key_wins_over_the_path",
        code: "`render::property::get_property`",
        checks: "model: a top-level key spelled like a dotted path wins over the nested path (ESO's \
                 order)",
        cases: DOTTED_KEY,
    },
];

pub const FOUND: &[Found] = &[
    Found {
        bug: "a secret value nested ~16,000 deep (`[[[[…`, 32 KiB; AWS allows 64 KiB) read with any \
              `property` overflowed the stack and aborted the operator: gjson's validator recurses \
              per level",
        fix: "`render/property.rs` counts the nesting first (no recursion) and refuses a value \
              nested over 128 deep (serde_json's limit) as `InvalidJSON`",
        test: "deep_nesting_is_invalid_json_not_a_stack_overflow",
    },
    Found {
        bug: "a wildcard `property` such as `*a*a*a*a*a*a*a*a*a*a*a*a*b` against a secret with a \
              40-character key ran for hours (gjson's matcher backtracks exponentially in the \
              number of `*`; Go's gjson has a match limit)",
        fix: "`render/property.rs` bounds the match cost ((key length + 1)^stars per key) and, \
              past 10⁷ steps, answers no match (`PropertyNotFound`), as Go's gjson does",
        test: "a_wildcard_bomb_does_not_match_instead_of_hanging",
    },
    Found {
        bug: "a `property` of thousands of components (`@this|@this|…`, `@this.@this.…`, 30 KiB) \
              overflowed the stack and aborted the operator: gjson's reader recurses per component",
        fix: "`render/property.rs`: a property of more than 128 components (unescaped `.` and \
              `|`) does not match (`PropertyNotFound`)",
        test: "a_property_of_thousands_of_components_does_not_match",
    },
    Found {
        bug: "a number that is not a plain integer came out as written (`1.50`, `1e2`, `-0.0`) \
              where ESO (Go's gjson `String()`) gives `1.5`, `100`, `-0`",
        fix: "`render/property.rs` prints such numbers as Go's `FormatFloat(f, 'f', -1, 64)`",
        test: "numbers_read_as_go_prints_them",
    },
];

/// One step of a path: an object key or an array index.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// Characters gjson gives a meaning in a path; written with a backslash in front.
const SPECIAL: &[char] = &[
    '.', '*', '?', '|', '#', '@', '\\', '{', '[', '!', '=', '<', '>', '%', '(', ')', ',', ':', '"',
    '~', ']', '}',
];

fn special_char() -> impl Strategy<Value = String> {
    prop::sample::select(SPECIAL).prop_map(String::from)
}

/// Object keys: plain names, digits, gjson's special characters, unicode, NUL.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z_][a-zA-Z0-9_-]{0,8}",
        1 => "[0-9]{1,3}",
        2 => prop::collection::vec(prop_oneof![special_char(), "[a-z]{1,2}", "\\PC"], 1..6)
            .prop_map(|parts| parts.concat()),
        1 => "\\PC{1,6}",
        1 => "[a-z]{1,3}\u{0}[a-z]{0,2}",
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![3 => key().prop_map(Step::Key), 1 => (0usize..4).prop_map(Step::Index)],
        1..6,
    )
    .prop_map(|mut steps| {
        // A property starts at the document, which is an object.
        if let Some(Step::Index(i)) = steps.first() {
            steps[0] = Step::Key(format!("k{i}"));
        }
        steps
    })
}

/// Leaves: strings (unicode, NUL, escapes), integers of every size, floats, booleans, null,
/// objects and arrays.
fn leaf() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        any::<String>().prop_map(Value::from),
        "[\"\\\\/\u{0}\u{1f}\u{7f}\u{2028}a-z ]{0,8}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ];
    scalar.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The path written for gjson: keys with every special character escaped, joined by dots.
fn written(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| match s {
            Step::Index(i) => i.to_string(),
            Step::Key(k) => k
                .chars()
                .map(|c| {
                    if SPECIAL.contains(&c) {
                        format!("\\{c}")
                    } else {
                        c.to_string()
                    }
                })
                .collect(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A document holding `leaf` at `steps` (arrays padded with other values before the index).
fn document(steps: &[Step], leaf: Value) -> Value {
    steps.iter().rev().fold(leaf, |inner, step| match step {
        Step::Key(k) => {
            let mut m = Map::new();
            m.insert(format!("{k}-sibling"), json!("other"));
            m.insert(k.clone(), inner);
            Value::Object(m)
        }
        Step::Index(i) => {
            let mut items: Vec<Value> = (0..*i).map(|n| json!(format!("pad{n}"))).collect();
            items.push(inner);
            items.push(json!("after"));
            Value::Array(items)
        }
    })
}

/// What ESO (Go's gjson `Result.String()`) gives for a value: strings unquoted, `null` empty,
/// integers as written, other numbers as Go's `strconv.FormatFloat(f, 'f', -1, 64)`, objects and
/// arrays as their JSON text.
fn go_string(leaf: &Value) -> String {
    match leaf {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => {
            let raw = n.to_string();
            let digits = raw.strip_prefix('-').unwrap_or(&raw);
            if digits.bytes().all(|b| b.is_ascii_digit()) {
                raw
            } else {
                format!("{}", n.as_f64().unwrap())
            }
        }
        other => other.to_string(),
    }
}

fn read(doc: &[u8], property: &str) -> Result<String, RenderError> {
    get_property("k", doc, property).map(|v| String::from_utf8(v.into_exposed()).unwrap())
}

/// Arbitrary and near-valid inputs: raw bytes, JSON-ish text, real documents, deep nesting.
fn any_document() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        "[\\[\\]{}\":,.0-9a-z\\\\ \u{0}-]{0,64}".prop_map(String::into_bytes),
        leaf().prop_map(|v| v.to_string().into_bytes()),
        (1usize..40_000, prop::sample::select(vec!["[", "{\"a\":"]))
            .prop_map(|(depth, open)| open.repeat(depth).into_bytes()),
        (1usize..40_000).prop_map(|depth| {
            format!("{}1{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        }),
        (1usize..20_000).prop_map(|depth| {
            format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)).into_bytes()
        }),
        // Long keys and values, for the wildcard patterns.
        ("[a]{1,60}", "[a]{0,200}", 1usize..50).prop_map(|(k, v, n)| {
            let fields: Vec<String> = (0..n).map(|i| format!("\"{k}{i}\":\"{v}\"")).collect();
            format!("{{{}}}", fields.join(",")).into_bytes()
        }),
    ]
}

/// Arbitrary and near-valid paths: gjson syntax in every combination.
fn any_path() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop_oneof![
                special_char(),
                "[a-z0-9]{1,3}",
                Just("#(a==1)".to_owned()),
                Just("#(a%\"*\")#".to_owned()),
                Just("@reverse".to_owned()),
                Just("@join".to_owned()),
                Just("@pretty:{\"indent\":\"\\t\"}".to_owned()),
                Just("[a,b]".to_owned()),
                Just("{a,\"b\":c}".to_owned()),
                Just("\\".to_owned()),
                Just("\u{0}".to_owned()),
                "\\PC",
            ],
            0..10,
        )
        .prop_map(|parts| parts.concat()),
        // Deeply nested multipaths and modifier arguments, and wildcard bombs.
        (
            1usize..5_000,
            prop::sample::select(vec!["[", "{", "[a,", "@this|", "#(a==", "@pretty:{\"a\":"])
        )
            .prop_map(|(n, part)| part.repeat(n)),
        (
            1usize..14,
            prop::sample::select(vec!["*a", "*?", "\\\\*a", "#(a%\"*a"])
        )
            .prop_map(|(n, part)| format!("{}b", part.repeat(n))),
    ]
}

/// Runs `read` on a thread of the operator's stack size (2 MiB, as tokio's workers) and fails if
/// it has not answered within `limit`.
fn read_bounded(doc: Vec<u8>, property: String, limit: Duration) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let _ = tx.send(get_property("k", &doc, &property).map(|_| ()));
        })
        .unwrap();
    match rx.recv_timeout(limit) {
        Ok(_) => Ok(()),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            Err(format!("no answer after {:?}", started.elapsed()))
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            Err("the reader panicked".to_owned())
        }
    }
}

proptest! {
    #![proptest_config(config(regressions!("path"), ANY_INPUT))]

    #[test]
    fn property_reader_never_panics(doc in any_document(), property in any_path()) {
        read_bounded(doc, property, Duration::from_secs(2)).map_err(TestCaseError::fail)?;
    }
}

proptest! {
    #![proptest_config(config(regressions!("path"), MODEL))]

    #[test]
    fn property_reader_finds_what_the_path_holds(steps in steps(), leaf in leaf()) {
        let doc = document(&steps, leaf.clone()).to_string();
        let property = written(&steps);
        prop_assert_eq!(read(doc.as_bytes(), &property), Ok(go_string(&leaf)), "{} in {}", property, doc);
    }
}

proptest! {
    #![proptest_config(config(regressions!("path"), DOTTED_KEY))]

    #[test]
    fn a_whole_dotted_key_wins_over_the_path(
        parts in prop::collection::vec("[a-zA-Z0-9_-]{1,6}", 2..5),
        nested in leaf(),
        whole in leaf(),
    ) {
        let property = parts.join(".");
        let steps: Vec<Step> = parts.iter().cloned().map(Step::Key).collect();
        let mut doc = document(&steps, nested);
        doc.as_object_mut().unwrap().insert(property.clone(), whole.clone());
        prop_assert_eq!(read(doc.to_string().as_bytes(), &property), Ok(go_string(&whole)));
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: what the properties above found.

#[test]
fn deep_nesting_is_invalid_json_not_a_stack_overflow() {
    for doc in [
        "[".repeat(32_000),
        format!("{}1{}", "[".repeat(32_000), "]".repeat(32_000)),
        format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)),
    ] {
        let read = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || get_property("k", doc.as_bytes(), "a").unwrap_err())
            .unwrap()
            .join()
            .expect("no panic, no stack overflow");
        assert_eq!(read.reason().as_str(), "InvalidJSON", "{read}");
        assert!(
            read.to_string().contains("nested at most 128 deep"),
            "{read}"
        );
    }
    // 128 levels are still read, on the same stack.
    let doc = format!("{}7{}", "{\"a\":".repeat(128), "}".repeat(128));
    let path = vec!["a"; 128].join(".");
    let read = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || read(doc.as_bytes(), &path))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(read, Ok("7".into()));
}

#[test]
fn a_wildcard_bomb_does_not_match_instead_of_hanging() {
    let doc = format!("{{\"{}\": 1, \"ab\": 2}}", "a".repeat(40));
    for property in [
        format!("{}b", "*a".repeat(16)),
        format!("{}b", "\\\\*a".repeat(16)),
        format!("#(x%\"{}b\")", "*a".repeat(16)),
    ] {
        let started = Instant::now();
        let found = read(doc.as_bytes(), &property);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(
            matches!(found, Err(RenderError::PropertyNotFound { .. })),
            "{found:?}"
        );
    }
    // Wildcards that cost little still match, as in Go.
    assert_eq!(read(doc.as_bytes(), "a*b"), Ok("2".into()));
    assert_eq!(
        read(br#"{"db_password":"p","user":"u"}"#, "*pass*"),
        Ok("p".into())
    );
    assert_eq!(
        read(br#"{"db_password":"p","user":"u"}"#, "d?_*word"),
        Ok("p".into())
    );
}

#[test]
fn a_property_of_thousands_of_components_does_not_match() {
    for property in [
        "@this|".repeat(5000),
        "@this.".repeat(5000),
        "a.".repeat(5000),
    ] {
        let found = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || read(br#"{"a":{"a":1}}"#, &property))
            .unwrap()
            .join()
            .expect("no panic, no stack overflow");
        assert!(
            matches!(found, Err(RenderError::PropertyNotFound { .. })),
            "{found:?}"
        );
    }
    // 128 components are still read.
    let property = format!("{}a", "@this|".repeat(127));
    assert_eq!(read(br#"{"a":"x"}"#, &property), Ok("x".into()));
}

#[test]
fn numbers_read_as_go_prints_them() {
    let doc = br#"{"a":1.50,"b":1e2,"c":-0.0,"d":12345678901234567890123,"e":1E400,"f":-1e400,
        "g":1.0e-7,"h":0.1,"i":-7,"j":5e-324,"k":123.456e1}"#;
    for (property, go) in [
        ("a", "1.5"),
        ("b", "100"),
        ("c", "-0"),
        ("d", "12345678901234567890123"),
        ("e", "+Inf"),
        ("f", "-Inf"),
        ("g", "0.0000001"),
        ("h", "0.1"),
        ("i", "-7"),
        ("j", &format!("0.{}5", "0".repeat(323))),
        ("k", "1234.56"),
    ] {
        assert_eq!(read(doc, property), Ok(go.to_owned()), "{property}");
    }
}
