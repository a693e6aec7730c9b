//! The template engine (`render::template::apply_template`, Go `text/template` by gtmpl-ng with
//! ESO's functions) on arbitrary template text and arbitrary data bytes. A template comes from a
//! tenant's ExternalSecret and the data from AWS, so neither may crash or stall the operator:
//! every render returns (a result or an error) on a 2 MiB stack within the engine's deadline
//! plus one function call, and no error contains a data value of 4 bytes or more (the engine's
//! redaction promise) — raw, JSON-escaped or Rust-escaped.

use std::collections::BTreeMap;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use stagesync::api::externalsecret::{
    ExternalSecretTemplate, ExternalSecretTemplateMetadata, TemplateFrom, TemplateRef,
    TemplateRefItem, TemplateScope,
};
use stagesync::render::RenderError;
use stagesync::render::template::{TemplateSources, apply_template};
use stagesync::value::SecretBytes;

use crate::{Found, Target, config, regressions};

const ARBITRARY_TEXT: u32 = 600;
const STRUCTURED: u32 = 1200;

pub const TARGETS: &[Target] = &[
    Target {
        test: "arbitrary_template_text_never_panics_or_hangs",
        code: "`render::template::apply_template` (gtmpl-ng + ESO's functions)",
        checks: "arbitrary text (delimiters, NUL, unicode) as a `data`, label, `templateFrom` \
                 literal and source-Secret template, over arbitrary data bytes: an answer or an \
                 error within the deadline, on a 2 MiB stack, never a panic; no error holds a \
                 data value",
        cases: ARBITRARY_TEXT,
    },
    Target {
        test: "generated_templates_never_panic_hang_or_leak",
        code: "`render::template::apply_template`",
        checks: "near-valid templates from Go's grammar (nested `if`/`range`/`with`/`define`, \
                 variables, pipelines of every ESO function with huge, negative, float, string \
                 and data arguments, one character dropped or added) over arbitrary data (bytes, \
                 JSON, unicode, NUL): as above",
        cases: STRUCTURED,
    },
];

pub const FOUND: &[Found] = &[
    Found {
        bug: "a string literal with a short `\\u` or `\\x` escape (`{{ \"\\u0\" }}`, also in a raw \
              string) never finished parsing: gtmpl-ng's unquoting loops forever, so a tenant's \
              template held a reconcile worker for good",
        fix: "`render/template/literals.rs` reads every literal by Go's `strconv.Unquote` rules \
              before gtmpl-ng sees it: refused with Go's `invalid syntax`, or handed on in a form \
              gtmpl-ng reads right",
        test: "a_short_escape_in_a_literal_is_an_error_not_a_hang",
    },
    Found {
        bug: "a multi-byte character right after an escape in a literal (`\"\\u{a8¡1}\"`) panicked \
              in gtmpl-ng (a string sliced inside a character)",
        fix: "the same reading of literals; and every call into gtmpl-ng is guarded: an engine \
              panic becomes a template error",
        test: "a_multibyte_character_after_an_escape_is_an_error_not_a_panic",
    },
    Found {
        bug: "no deadline: gtmpl-ng bounds iterations and memory but not time by default, so \
              `{{ range 10000 }}{{ derivePassword … }}{{ end }}` ran for many minutes",
        fix: "`render/template/engine.rs` renders with a 10 s deadline",
        test: "a_long_render_is_stopped_by_the_deadline",
    },
    Found {
        bug: "raw strings were read with escapes (gtmpl-ng): `` {{ regexMatch `\\d+` .x }} `` \
              failed to parse and `` `C:\\temp` `` held a tab, where Go keeps raw text as written",
        fix: "`render/template/literals.rs` hands raw strings with backslashes on as quoted \
              strings of the same text",
        test: "raw_strings_keep_their_backslashes",
    },
];

/// How long a render may take in these tests: the engine's deadline (10 s) and one slow function
/// call on a loaded debug build.
const RENDER_LIMIT: Duration = Duration::from_secs(30);

/// ESO's functions, less the three that cost a key derivation per call (`bcrypt`, `htpasswd`,
/// `derivePassword`: their cost is time by design; the deadline test below covers them).
const FUNCTIONS: &[&str] = &[
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "len",
    "print",
    "printf",
    "println",
    "urlquery",
    "html",
    "js",
    "slice",
    "index",
    "b64enc",
    "b64dec",
    "b32enc",
    "b32dec",
    "hexdec",
    "upper",
    "lower",
    "title",
    "untitle",
    "swapcase",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "trimAll",
    "trimall",
    "nospace",
    "quote",
    "squote",
    "cat",
    "replace",
    "indent",
    "nindent",
    "repeat",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "join",
    "split",
    "splitList",
    "splitn",
    "toStrings",
    "sortAlpha",
    "trunc",
    "substr",
    "abbrev",
    "abbrevboth",
    "initials",
    "wrap",
    "wrapWith",
    "snakecase",
    "kebabcase",
    "camelcase",
    "plural",
    "hello",
    "toJson",
    "toRawJson",
    "toPrettyJson",
    "mustToJson",
    "mustToRawJson",
    "mustToPrettyJson",
    "fromJson",
    "mustFromJson",
    "toYaml",
    "fromYaml",
    "default",
    "empty",
    "coalesce",
    "all",
    "any",
    "ternary",
    "fail",
    "typeOf",
    "typeIs",
    "typeIsLike",
    "kindOf",
    "kindIs",
    "deepEqual",
    "dict",
    "get",
    "set",
    "unset",
    "hasKey",
    "keys",
    "values",
    "pick",
    "omit",
    "pluck",
    "dig",
    "merge",
    "mustMerge",
    "mergeOverwrite",
    "mustMergeOverwrite",
    "deepCopy",
    "mustDeepCopy",
    "list",
    "tuple",
    "first",
    "mustFirst",
    "last",
    "mustLast",
    "rest",
    "mustRest",
    "initial",
    "mustInitial",
    "append",
    "push",
    "mustAppend",
    "mustPush",
    "prepend",
    "mustPrepend",
    "concat",
    "reverse",
    "mustReverse",
    "uniq",
    "mustUniq",
    "without",
    "mustWithout",
    "has",
    "mustHas",
    "compact",
    "mustCompact",
    "chunk",
    "mustChunk",
    "mustSlice",
    "atoi",
    "int",
    "int64",
    "float64",
    "toString",
    "toDecimal",
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "biggest",
    "min",
    "addf",
    "add1f",
    "subf",
    "mulf",
    "divf",
    "maxf",
    "minf",
    "floor",
    "ceil",
    "round",
    "until",
    "untilStep",
    "seq",
    "regexMatch",
    "mustRegexMatch",
    "regexFind",
    "mustRegexFind",
    "regexFindAll",
    "mustRegexFindAll",
    "regexReplaceAll",
    "mustRegexReplaceAll",
    "regexReplaceAllLiteral",
    "mustRegexReplaceAllLiteral",
    "regexSplit",
    "mustRegexSplit",
    "regexQuoteMeta",
    "base",
    "dir",
    "clean",
    "ext",
    "isAbs",
    "osBase",
    "osDir",
    "osClean",
    "osExt",
    "osIsAbs",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "adler32sum",
    "now",
    "date",
    "dateInZone",
    "date_in_zone",
    "htmlDate",
    "htmlDateInZone",
    "toDate",
    "mustToDate",
    "dateModify",
    "date_modify",
    "mustDateModify",
    "must_date_modify",
    "duration",
    "durationRound",
    "ago",
    "unixEpoch",
    "filterPEM",
    "filterCertChain",
    "certSANs",
    "jwkPublicKeyPem",
    "jwkPrivateKeyPem",
    "rsaDecrypt",
    "pkcs12key",
    "pkcs12keyPass",
    "pkcs12cert",
    "pkcs12certPass",
    "pemToPkcs12",
    "pemToPkcs12Pass",
    "fullPemToPkcs12",
    "fullPemToPkcs12Pass",
    "pemTruststoreToPKCS12",
    "pemTruststoreToPKCS12Pass",
    "randAlpha",
    "uuidv4",
    "genCA",
    "encryptAES",
    "decryptAES",
    "semverCompare",
    "semver",
    "urlParse",
    "urlJoin",
    "env",
    "expandenv",
    "noSuchFunction",
];

/// Keys of the generated data; templates refer to them as `.k0` … and `index . "k0"`.
const KEYS: &[&str] = &["k0", "k1", "k2", "db.host"];

// ---------------------------------------------------------------------------------------------
// Data.

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..24),
        3 => any::<String>().prop_map(String::into_bytes),
        1 => "[a-z0-9 ]{4,12}".prop_map(String::into_bytes),
        1 => "[0-9]{1,25}".prop_map(String::into_bytes),
        1 => ("[a-z]{1,4}", "[\\PC\u{0}\"\\\\]{0,8}", -5i64..5)
            .prop_map(|(k, v, n)| format!("{{\"{k}\":{v:?},\"n\":{n},\"l\":[1,{{}}]}}").into_bytes()),
        1 => "[a-z]{1,4}: [a-z0-9]{0,6}\n[a-z]{1,4}:\n  - [0-9]{1,3}".prop_map(String::into_bytes),
        1 => "-----BEGIN [A-Z ]{3,12}-----\n[A-Za-z0-9+/=]{0,40}\n-----END [A-Z ]{3,12}-----\n"
            .prop_map(String::into_bytes),
    ]
}

fn data() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    (
        prop::collection::vec(value(), KEYS.len()),
        prop::collection::btree_map("[-._a-zA-Z0-9]{1,8}", value(), 0..3),
    )
        .prop_map(|(values, extra)| {
            let mut data: BTreeMap<String, Vec<u8>> =
                KEYS.iter().map(|k| k.to_string()).zip(values).collect();
            data.extend(extra);
            data
        })
}

// ---------------------------------------------------------------------------------------------
// Templates from Go's grammar.

fn string_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ,.:/_-]{0,10}".prop_map(|s| format!("{s:?}")),
        "[\\PC\u{0}]{0,6}".prop_map(|s| format!("{s:?}")),
        Just(r#""\x00\u00e9\n\t\"""#.to_owned()),
        "[^`]{0,8}".prop_map(|s| format!("`{s}`")),
        prop::sample::select(vec![
            r#""2006-01-02T15:04:05Z07:00""#,
            r#""%v %q %x %s %d %1000000d %.999f""#,
            r#""[a-z]+(""#,
            r#""(a*)*b""#,
            r#""SHA256""#,
            r#""RSA-OAEP""#,
            r#""1h2m""#,
            r#""UTC""#,
            r#""Europe/Paris""#,
            r#""^1.2.x || >=3""#,
            r#""https://u:p@h/p?q#f""#,
            r#""a.b.c""#,
        ])
        .prop_map(str::to_owned),
    ]
}

fn number_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        (-20i64..20).prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551615",
            "99999999999999999999999",
            "1e308",
            "1e-400",
            "-0.0",
            "0x7fffffffffffffff",
            "0o777",
            "0b101",
            "1_000",
            "'a'",
            "'\\x00'",
            "3.14159",
            "1000000",
            "100000000",
            "2147483648",
        ])
        .prop_map(str::to_owned),
    ]
}

fn operand() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            ".", "$", ".k0", ".k1", ".k2", ".nope", "$.k0", "$x", "$v", "nil", "true", "false",
            ".k0.field", "(index . \"db.host\")", "(index . \"missing\")",
        ])
        .prop_map(str::to_owned),
        2 => string_literal(),
        2 => number_literal(),
    ]
}

/// A pipeline: a command (function with arguments, or an operand), maybe piped on.
fn pipeline() -> impl Strategy<Value = String> {
    let command = (
        prop::sample::select(FUNCTIONS),
        prop::collection::vec(operand(), 0..4),
    )
        .prop_map(|(f, args)| {
            let mut c = f.to_owned();
            for a in args {
                c.push(' ');
                c.push_str(&a);
            }
            c
        });
    let simple = prop_oneof![3 => command, 1 => operand()];
    simple.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(FUNCTIONS),
                prop::collection::vec(operand(), 0..3)
            )
                .prop_map(|(p, f, args)| format!("{p} | {f} {}", args.join(" "))),
            (prop::sample::select(FUNCTIONS), inner.clone(), operand())
                .prop_map(|(f, p, a)| format!("{f} ({p}) {a}")),
            inner.prop_map(|p| format!("$x := {p}")),
        ]
    })
}

/// Template text: text, actions and the control structures, nested.
fn template_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        2 => "[a-z :\n]{0,6}",
        4 => pipeline().prop_map(|p| format!("{{{{ {p} }}}}")),
        1 => pipeline().prop_map(|p| format!("{{{{- {p} -}}}}")),
        1 => Just("{{/* a comment */}}".to_owned()),
        1 => Just("{{ $x := .k0 }}{{ $v := 1 }}".to_owned()),
        1 => Just("{{ template \"t\" . }}".to_owned()),
    ];
    let structured = leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|parts| parts.concat()),
            (pipeline(), inner.clone(), inner.clone())
                .prop_map(|(p, a, b)| format!("{{{{ if {p} }}}}{a}{{{{ else }}}}{b}{{{{ end }}}}")),
            (pipeline(), inner.clone())
                .prop_map(|(p, a)| format!("{{{{ range $i, $e := {p} }}}}{a}{{{{ if $i }}}}{{{{ break }}}}{{{{ end }}}}{{{{ end }}}}")),
            (pipeline(), inner.clone()).prop_map(|(p, a)| format!("{{{{ with {p} }}}}{a}{{{{ end }}}}")),
            inner.clone().prop_map(|a| format!("{{{{ define \"t\" }}}}{a}{{{{ end }}}}{a}")),
            (number_literal(), inner)
                .prop_map(|(n, a)| format!("{{{{ range {n} }}}}{a}{{{{ end }}}}")),
        ]
    });
    // Near-valid: sometimes one character dropped or one added.
    (
        structured,
        any::<prop::sample::Index>(),
        0u8..6,
        prop::char::any(),
    )
        .prop_map(|(text, at, edit, c)| {
            let chars: Vec<char> = text.chars().collect();
            if chars.is_empty() || edit > 1 {
                return text;
            }
            let i = at.index(chars.len());
            let mut out: Vec<char> = chars.clone();
            if edit == 0 {
                out.remove(i);
            } else {
                out.insert(i, c);
            }
            out.into_iter().collect()
        })
}

// ---------------------------------------------------------------------------------------------
// Rendering, bounded.

/// Where a template is put: each place runs the engine through a different path.
#[derive(Clone, Copy, Debug)]
enum Place {
    Data,
    Label,
    Literal,
    SourceSecret,
}

fn place() -> impl Strategy<Value = Place> {
    prop_oneof![
        4 => Just(Place::Data),
        1 => Just(Place::Label),
        2 => Just(Place::Literal),
        1 => Just(Place::SourceSecret),
    ]
}

/// The source Secret a `SourceSecret` template comes from, and the values it holds.
const SOURCE: &str = "tpl-source";

fn spec_for(text: &str, place: Place) -> (ExternalSecretTemplate, TemplateSources) {
    let mut tpl = ExternalSecretTemplate::default();
    let mut sources = TemplateSources::default();
    match place {
        Place::Data => {
            tpl.data.insert("out".into(), text.into());
        }
        Place::Label => {
            tpl.metadata = Some(ExternalSecretTemplateMetadata {
                labels: BTreeMap::from([("l".into(), text.into())]),
                ..Default::default()
            });
        }
        Place::Literal => tpl.template_from.push(TemplateFrom {
            literal: Some(text.into()),
            ..Default::default()
        }),
        Place::SourceSecret => {
            tpl.template_from.push(TemplateFrom {
                secret: Some(TemplateRef {
                    name: SOURCE.into(),
                    items: vec![TemplateRefItem {
                        key: "t".into(),
                        template_as: TemplateScope::KeysAndValues,
                    }],
                }),
                ..Default::default()
            });
            sources.secrets.insert(
                SOURCE.into(),
                BTreeMap::from([("t".into(), SecretBytes::from(text.to_owned()))]),
            );
        }
    }
    (tpl, sources)
}

/// Renders `text` at `place` over `data` on a thread with a 2 MiB stack (a tokio worker's);
/// `Err` if it panicked or did not answer within [`RENDER_LIMIT`].
fn render_bounded(
    text: &str,
    place: Place,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<Result<(), RenderError>, String> {
    let (tpl, sources) = spec_for(text, place);
    let fetched: BTreeMap<String, SecretBytes> = data
        .iter()
        .map(|(k, v)| (k.clone(), SecretBytes::new(v.clone())))
        .collect();
    let (tx, rx) = channel();
    let started = Instant::now();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                apply_template(Some(&tpl), fetched, &sources).map(|_| ())
            }));
            let _ = tx.send(rendered.map_err(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            }));
        })
        .unwrap();
    match rx.recv_timeout(RENDER_LIMIT) {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(panic)) => Err(format!("the render panicked for {text:?}: {panic}")),
        Err(RecvTimeoutError::Timeout) => Err(format!(
            "no answer after {:?} for {text:?}",
            started.elapsed()
        )),
        Err(RecvTimeoutError::Disconnected) => Err(format!("the render thread died for {text:?}")),
    }
}

/// The forms a value of 4 bytes or more could be written in: as text, JSON-escaped,
/// Rust-escaped. (A shorter value is too common to redact, and the engine promises nothing.)
fn forms(value: &[u8]) -> Vec<String> {
    if value.len() < 4 {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(value).into_owned();
    let json = serde_json::to_string(&text).unwrap();
    let debug = format!("{text:?}");
    let mut forms = vec![
        text,
        json[1..json.len() - 1].to_owned(),
        debug[1..debug.len() - 1].to_owned(),
    ];
    forms.retain(|f| f.len() >= 4);
    forms.dedup();
    forms
}

/// Fails if the error of rendering `text` over `data` holds a data value (or the source
/// Secret's template, which is a value too) that it would not hold with other values of the
/// same keys: a value written in the template itself, or in the engine's own words, is not a
/// leak.
fn check_redacted(
    text: &str,
    place: Place,
    data: &BTreeMap<String, Vec<u8>>,
    err: &RenderError,
) -> Result<(), TestCaseError> {
    let shown = format!("{err} {err:?}");
    let mut values: Vec<&[u8]> = data.values().map(Vec::as_slice).collect();
    if matches!(place, Place::SourceSecret) {
        values.push(text.as_bytes());
    }
    for value in values {
        for form in forms(value) {
            let in_spec = matches!(place, Place::SourceSecret)
                && form.as_bytes() == text.as_bytes()
                || !matches!(place, Place::SourceSecret) && text.contains(&form);
            if !shown.contains(&form) || in_spec || data.keys().any(|k| k.contains(&form)) {
                continue;
            }
            // The same render with every value replaced: does the error say it anyway?
            let placeholders: BTreeMap<String, Vec<u8>> = data
                .keys()
                .enumerate()
                .map(|(i, k)| (k.clone(), format!("\u{e000}{i}\u{e000}").into_bytes()))
                .collect();
            let baseline = match render_bounded(text, place, &placeholders) {
                Ok(Err(e)) => format!("{e} {e:?}"),
                _ => String::new(),
            };
            if !baseline.contains(&form) {
                return Err(TestCaseError::fail(format!(
                    "the error shows the value {form:?}: {shown}"
                )));
            }
        }
    }
    Ok(())
}

fn check_render(
    text: &str,
    place: Place,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<(), TestCaseError> {
    match render_bounded(text, place, data).map_err(TestCaseError::fail)? {
        Ok(()) => Ok(()),
        Err(err) => check_redacted(text, place, data, &err),
    }
}

proptest! {
    #![proptest_config(config(regressions!("template"), ARBITRARY_TEXT))]

    #[test]
    fn arbitrary_template_text_never_panics_or_hangs(
        text in prop_oneof![
            any::<String>(),
            "[{}\\[\\]()|$.:=\"`' a-z0-9\u{0}-]{0,40}",
            "\\{\\{[^}]{0,20}\\}\\}",
        ],
        place in place(),
        data in data(),
    ) {
        check_render(&text, place, &data)?;
    }
}

proptest! {
    #![proptest_config(config(regressions!("template"), STRUCTURED))]

    #[test]
    fn generated_templates_never_panic_hang_or_leak(
        text in template_text(),
        place in place(),
        data in data(),
    ) {
        check_render(&text, place, &data)?;
    }
}

/// The leak check is not blind: a template that prints a value into its error is caught as a
/// leak would be, were the engine not to redact it — so show that the engine does redact, and
/// that the check sees a value the engine cannot know (a transformed one).
#[test]
fn the_leak_check_sees_values_in_errors() {
    let data = BTreeMap::from([("k0".to_owned(), b"hunter2-secret".to_vec())]);
    let err = render_bounded("{{ fail .k0 }}", Place::Data, &data)
        .unwrap()
        .unwrap_err();
    assert!(check_redacted("{{ fail .k0 }}", Place::Data, &data, &err).is_ok());
    let upper = BTreeMap::from([("k0".to_owned(), b"HUNTER2-SECRET".to_vec())]);
    let err = render_bounded("{{ fail (upper .k0) }}", Place::Data, &data)
        .unwrap()
        .unwrap_err();
    assert!(
        check_redacted("{{ fail (upper .k0) }}", Place::Data, &upper, &err).is_err(),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Regressions: what the properties above found.

fn render_one(text: &str) -> Result<String, RenderError> {
    let data = BTreeMap::from([("k0".to_owned(), b"x12".to_vec())]);
    match render_bounded(text, Place::Data, &data) {
        Ok(r) => r.map(|()| {
            let (tpl, sources) = spec_for(text, Place::Data);
            let fetched = BTreeMap::from([("k0".to_owned(), SecretBytes::from(b"x12".to_vec()))]);
            let out = apply_template(Some(&tpl), fetched, &sources).unwrap();
            String::from_utf8(out.data["out"].expose().to_vec()).unwrap()
        }),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_short_escape_in_a_literal_is_an_error_not_a_hang() {
    for text in [
        r#"{{ "\u0" }}"#,
        r#"{{ "\x1" }}"#,
        r#"{{ print "a" "\u12" }}"#,
    ] {
        let started = Instant::now();
        let err = render_one(text).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(err.to_string().contains("invalid syntax"), "{text}: {err}");
    }
    // In a raw string the same text is no escape at all, as in Go.
    assert_eq!(render_one(r"{{ `\u0` }}").unwrap(), r"\u0");
}

#[test]
fn a_multibyte_character_after_an_escape_is_an_error_not_a_panic() {
    for text in [
        "{{ get .k0 \"a \\u{a8¡1}\" }}",
        "{{ \"\\x1é\" }}",
        "{{ '\\x1é' }}",
    ] {
        assert!(render_one(text).is_err(), "{text}");
    }
    // gtmpl-ng read the text after a `\u` escape as more escapes, and sliced inside `é`.
    assert_eq!(render_one("{{ \"\\u0041abcéé\" }}").unwrap(), "Aabcéé");
    // Escapes Go reads are read as Go reads them.
    assert_eq!(
        render_one(r#"{{ "\x41bcd\u00e9\101" }}"#).unwrap(),
        "Abcdé\u{41}"
    );
    assert_eq!(render_one(r"{{ print '\x41' }}").unwrap(), "65");
}

#[test]
fn raw_strings_keep_their_backslashes() {
    assert_eq!(render_one("{{ regexMatch `\\d+` .k0 }}").unwrap(), "true");
    assert_eq!(
        render_one("{{ `C:\\temp\\new` }}").unwrap(),
        "C:\\temp\\new"
    );
}

#[test]
fn a_long_render_is_stopped_by_the_deadline() {
    // Each call derives a key (scrypt); ten thousand of them would take many minutes.
    let text =
        r#"{{ range 10000 }}{{ derivePassword 1 "long" "password" "user" "site" }}{{ end }}"#;
    let started = Instant::now();
    let err = render_one(text).unwrap_err();
    let took = started.elapsed();
    assert!(
        err.to_string().contains("did not finish within 10s"),
        "{err}"
    );
    assert!(
        took >= Duration::from_secs(10) && took < RENDER_LIMIT,
        "{took:?}"
    );
}
