//! `stagesync::manifest::parse` (YAML with the line of every field, as `stagesync check` and
//! `stagesync migrate` read manifests): never panics or overflows its stack on any text, and reads
//! back a document written as JSON (which is YAML) with the line of every field.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Map, Value};
use stagesync::manifest::{Source, parse};

use crate::{Found, Target, config, regressions};

const ANY_TEXT: u32 = 800;
const ROUND_TRIP: u32 = 500;

pub const TARGETS: &[Target] = &[
    Target {
        test: "manifest_parser_never_panics",
        code: "`manifest::parse` (serde-saphyr)",
        checks: "arbitrary text, YAML-alphabet soup, near-valid manifests (anchors, aliases, tags, \
                 `!!binary`, duplicate keys, `kind: List`, huge numbers) and nesting 10,000 deep, \
                 on the CLI's 8 MiB main-thread stack: manifests or a problem with a line, never a panic",
        cases: ANY_TEXT,
    },
    Target {
        test: "json_documents_read_back_with_their_lines",
        code: "`manifest::parse`",
        checks: "model: an object of strings (unicode, NUL, YAML 1.1 words), integers, booleans \
                 and nulls, written as pretty JSON, parses to the same object, and each field's \
                 line is the line its key is written on",
        cases: ROUND_TRIP,
    },
];

pub const FOUND: &[Found] = &[];

fn source(text: String) -> Source {
    Source {
        name: "fuzz.yaml".into(),
        text,
    }
}

/// Near-valid manifest text: lines of YAML constructs in random order.
fn yaml_soup() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("apiVersion: stagesync.io/v1alpha1".to_owned()),
        Just("kind: ExternalSecret".to_owned()),
        Just("kind: List".to_owned()),
        Just("items:".to_owned()),
        Just("- kind: Secret".to_owned()),
        Just("metadata: {name: a, namespace: b}".to_owned()),
        Just("spec:".to_owned()),
        Just("  data: &anchor [1, 2, *anchor]".to_owned()),
        Just("  x: *anchor".to_owned()),
        Just("  b: !!binary aGVsbG8=".to_owned()),
        Just("  t: !custom {a: 1}".to_owned()),
        Just("  n: 99999999999999999999999999".to_owned()),
        Just("  f: .inf".to_owned()),
        Just("  y: yes".to_owned()),
        Just("  k: 1\n  k: 2".to_owned()),
        Just("? [complex, key]\n: value".to_owned()),
        Just("---".to_owned()),
        Just("...".to_owned()),
        Just("%YAML 1.2".to_owned()),
        Just("  - |\n    block\n  - >-\n    folded".to_owned()),
        Just("\t tab".to_owned()),
        Just("\u{feff}bom: 1".to_owned()),
        Just("nul: \"\\0\u{0}\"".to_owned()),
        "[a-z]{1,5}: [a-z0-9 \"'{}\\[\\],&*!|>%@`-]{0,12}",
        " {0,4}- [a-z0-9]{0,5}",
    ];
    prop::collection::vec(line, 0..14).prop_map(|lines| lines.join("\n"))
}

fn deeply_nested() -> impl Strategy<Value = String> {
    (1usize..10_000, 0u8..4).prop_map(|(depth, shape)| match shape {
        0 => "[".repeat(depth),
        1 => format!("{}1{}", "[".repeat(depth), "]".repeat(depth)),
        2 => format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth)),
        _ => (0..depth.min(2_000))
            .map(|i| format!("{}- ", "  ".repeat(i)))
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

/// Parses on a thread with the stack `stagesync check` parses on (its main thread's, 8 MiB on
/// Linux): a stack overflow would abort the whole test binary, a panic fails the case. (On a
/// 2 MiB thread a debug build overflows at serde-saphyr's own depth limit, 64 nested block
/// collections; a release build does not.)
fn parse_bounded(text: String) -> Result<(), String> {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let _ = parse(&source(text));
        })
        .unwrap()
        .join()
        .map_err(|_| "the parser panicked".to_owned())
}

proptest! {
    #![proptest_config(config(regressions!("manifest"), ANY_TEXT))]

    #[test]
    fn manifest_parser_never_panics(
        text in prop_oneof![any::<String>(), yaml_soup(), deeply_nested()],
    ) {
        parse_bounded(text).map_err(TestCaseError::fail)?;
    }
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::from),
        prop::sample::select(vec![
            "yes", "no", "on", "off", "null", "~", "1e3", "0x10", "", " "
        ])
        .prop_map(Value::from),
        "[\u{0}\u{85}\u{2028}\u{feff}\"'#:\\-a ]{0,6}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ]
}

fn json_object() -> impl Strategy<Value = Value> {
    let key = prop_oneof![3 => "[a-zA-Z][a-zA-Z0-9]{0,8}", 1 => "[\\PC\u{0}]{1,10}"];
    let value = scalar().prop_recursive(3, 16, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map(key, value, 1..6)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>()))
}

/// The line (1-based) each field of `v` is written on by `to_string_pretty` (one key per line),
/// by the API server's field path.
fn lines_of(v: &Value, path: &str, line: &mut u64, out: &mut BTreeMap<String, u64>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                *line += 1;
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                out.insert(child.clone(), *line);
                lines_of(c, &child, line, out);
            }
            *line += 1;
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, c) in a.iter().enumerate() {
                *line += 1;
                let child = format!("{path}[{i}]");
                out.insert(child.clone(), *line);
                lines_of(c, &child, line, out);
            }
            *line += 1;
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(config(regressions!("manifest"), ROUND_TRIP))]

    #[test]
    fn json_documents_read_back_with_their_lines(obj in json_object()) {
        let text = serde_json::to_string_pretty(&obj).unwrap();
        let parsed = parse(&source(text.clone())).map_err(|p| TestCaseError::fail(format!("{p:?}\n{text}")))?;
        prop_assert_eq!(parsed.len(), 1);
        prop_assert_eq!(&parsed[0].object, &obj, "{}", text);
        let mut expected = BTreeMap::new();
        lines_of(&obj, "", &mut 1, &mut expected);
        // A field path is ambiguous when a key holds `.`, `[` or `]`: lines are checked without.
        let ambiguous = obj.as_object().unwrap().keys().any(|k| k.contains(['.', '[', ']']));
        for (field, line) in expected.into_iter().filter(|_| !ambiguous) {
            prop_assert_eq!(parsed[0].line_of(&field), line, "{} in\n{}", field, text);
        }
    }
}
