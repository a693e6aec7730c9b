//! The engine: one Go template rendered over an ExternalSecret's data with ESO's functions, and
//! the redaction that keeps secret values out of its errors.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::LazyLock;
use std::time::Duration;

use gtmpl_ng::{Context, Func, FuncError, Template, Value};
use zeroize::{Zeroize, Zeroizing};

use super::TemplateSources;
use super::literals;
use super::values::{bytes_to_tstr, tstr_to_bytes};
use crate::render::RenderError;
use crate::value::SecretBytes;

/// Renders templates over one ExternalSecret's fetched data, with errors redacted.
///
/// The values are handed to gtmpl-ng once, as the render context; that copy, and every value
/// the engine derives while rendering (pipeline results, function outputs), are gtmpl-ng's own
/// strings, freed by it without being zeroed — the one copy of the values this crate cannot
/// wipe. The engine's own copies are [`SecretBytes`] (zeroed on drop).
pub(super) struct DataEngine {
    context: Context,
    /// The fetched data (key, value), for the redaction of errors.
    fetched: Vec<(String, SecretBytes)>,
    /// The values of templateFrom Secrets, for the same.
    source_values: Vec<SecretBytes>,
}

impl DataEngine {
    pub(super) fn new(fetched: &BTreeMap<String, SecretBytes>, sources: &TemplateSources) -> Self {
        let map: HashMap<String, Value> = fetched
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(bytes_to_tstr(v.expose()))))
            .collect();
        // An Object, not a Map: gtmpl-ng refuses a missing field of an Object, which is ESO's
        // `missingkey=error`.
        Self {
            context: Context::from(Value::Object(map)),
            fetched: fetched
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            source_values: sources
                .secrets
                .values()
                .flat_map(|m| m.values().cloned())
                .collect(),
        }
    }

    /// Replaces, in an error text, the data map as the engine prints it and every form of a value
    /// the leak scan looks for: see [`redactions`].
    pub(super) fn redact(&self, text: &str) -> String {
        let mut root = Value::Object(
            self.fetched
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(bytes_to_tstr(v.expose()))))
                .collect(),
        );
        let root_text = Zeroizing::new(root.to_string());
        wipe_engine_value(&mut root);
        let mut text = text.replace(root_text.as_str(), "map[<data>]");
        let values = self
            .fetched
            .iter()
            .map(|(_, v)| v)
            .chain(&self.source_values);
        for s in redactions(values).iter() {
            if text.contains(s.as_str()) {
                text = text.replace(s.as_str(), "<redacted>");
            }
        }
        text
    }

    fn fail(&self, at: &str, detail: &str) -> RenderError {
        let detail = self.redact(&missing_key_as_go(detail));
        RenderError::Template {
            key: at.to_owned(),
            detail,
        }
    }

    pub(super) fn render(&mut self, at: &str, text: &str) -> Result<Vec<u8>, RenderError> {
        render_text(at, text, &self.context).map_err(|mut e| {
            let failure = self.fail(at, &e);
            e.zeroize();
            failure
        })
    }

    /// ESO's `yaml.Unmarshal(rendered, &map[string]string{})`: a YAML map whose values are
    /// strings (or null, read as ""); keys of any scalar type are read as their text.
    pub(super) fn yaml_string_map(
        &self,
        at: &str,
        rendered: &[u8],
    ) -> Result<Vec<(String, String)>, RenderError> {
        let text = String::from_utf8_lossy(rendered);
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).map_err(|e| {
            self.fail(
                at,
                &format!("could not unmarshal template to 'map[string][]byte': {e}"),
            )
        })?;
        let map = match doc {
            serde_yaml_ng::Value::Null => return Ok(Vec::new()),
            serde_yaml_ng::Value::Mapping(m) => m,
            other => {
                return Err(self.fail(
                    at,
                    &format!(
                        "could not unmarshal template to 'map[string][]byte': the result is {}, not a map",
                        yaml_kind(&other)
                    ),
                ));
            }
        };
        let mut out = Vec::with_capacity(map.len());
        for (k, v) in map {
            let key = match k {
                serde_yaml_ng::Value::String(s) => s,
                serde_yaml_ng::Value::Bool(b) => b.to_string(),
                serde_yaml_ng::Value::Number(n) => n.to_string(),
                serde_yaml_ng::Value::Null => "null".to_owned(),
                other => {
                    return Err(self.fail(
                        at,
                        &format!(
                            "could not unmarshal template to 'map[string][]byte': a key is {}",
                            yaml_kind(&other)
                        ),
                    ));
                }
            };
            let value = match v {
                serde_yaml_ng::Value::String(s) => s,
                serde_yaml_ng::Value::Null => String::new(),
                other => {
                    return Err(self.fail(
                        at,
                        &format!(
                            "could not unmarshal template to 'map[string][]byte': the value of {key:?} is {}, not a string",
                            yaml_kind(&other)
                        ),
                    ));
                }
            };
            out.push((key, value));
        }
        Ok(out)
    }
}

fn yaml_kind(v: &serde_yaml_ng::Value) -> &'static str {
    match v {
        serde_yaml_ng::Value::Null => "null",
        serde_yaml_ng::Value::Bool(_) => "a boolean",
        serde_yaml_ng::Value::Number(_) => "a number",
        serde_yaml_ng::Value::String(_) => "a string",
        serde_yaml_ng::Value::Sequence(_) => "a list",
        serde_yaml_ng::Value::Mapping(_) => "a map",
        serde_yaml_ng::Value::Tagged(_) => "a tagged value",
    }
}

/// gtmpl-ng words a missing field as "no field `x` in <receiver>", printing the whole map, which
/// may hold values parsed out of a secret. Say it as Go's `missingkey=error` does, without the
/// receiver: the message runs to the next "caused by" line or the end.
fn missing_key_as_go(detail: &str) -> String {
    const START: &str = "no field `";
    const CAUSE: &str = "\n  caused by: ";
    let mut out = String::with_capacity(detail.len());
    let mut rest = detail;
    while let Some(i) = rest.find(START) {
        out.push_str(&rest[..i]);
        let after = &rest[i + START.len()..];
        let Some(name_end) = after.find("` in ") else {
            out.push_str(&rest[i..]);
            return out;
        };
        let _ = write!(out, "map has no entry for key {:?}", &after[..name_end]);
        let tail = &after[name_end..];
        rest = tail.find(CAUSE).map_or("", |j| &tail[j..]);
    }
    out.push_str(rest);
    out
}

/// How long one render may run. gtmpl-ng's default budgets (iterations, output, function
/// results) bound memory, not time, and leave the deadline off: a tenant's template looping over
/// key derivations (`{{ range 10000 }}{{ bcrypt "x" }}{{ end }}`) would hold a reconcile worker
/// for many minutes. The render stops at its first step past the deadline (a single function
/// call runs to its end).
pub(crate) const RENDER_DEADLINE: Duration = Duration::from_secs(10);

/// A template with ESO's functions and this engine's limits, its literals read by Go's rules
/// ([`literals`]).
fn template(name: &str, text: &str) -> Result<Template, String> {
    let text = literals::for_gtmpl(name, text)?;
    let mut t = Template::with_name(name);
    t.limits = t.limits.with_deadline(RENDER_DEADLINE);
    t.add_funcs(&FUNCS);
    t.parse(text.as_ref()).map_err(|e| e.to_string())?;
    Ok(t)
}

/// Runs a call into gtmpl-ng, a panic of the engine becoming an error: a template comes from a
/// tenant, and no input may take the operator down, whatever is left to find in the engine.
fn guarded<T>(call: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call))
        .unwrap_or_else(|_| Err("the template engine failed on this template".to_owned()))
}

/// Parses one Go template with ESO's functions, without running it: the syntax errors and the
/// unknown functions. Template text comes from the spec, never from a secret.
pub(crate) fn parse_text(name: &str, text: &str) -> Result<(), String> {
    guarded(|| template(name, text).map(drop))
}

/// Renders one Go template over `data` with ESO's functions. The error is the engine's text,
/// unredacted: the caller redacts.
pub(crate) fn render_text(name: &str, text: &str, data: &Context) -> Result<Vec<u8>, String> {
    guarded(|| {
        let mut out = template(name, text)?
            .render(data)
            .map_err(|e| e.to_string())?;
        let bytes = tstr_to_bytes(&out);
        out.zeroize();
        Ok(bytes)
    })
}

/// Every form of the values that must not appear in an error, longest first: each value, each
/// string leaf of a value that is JSON, and the base64 decoding of a value that is base64; each
/// of them as it is, Go-quoted (`%q`, which is also its JSON escaping for the characters that
/// matter) and base64-encoded. Shorter than 4 bytes, a text is too common to redact. A value the
/// template itself transforms otherwise (upper-cased, hashed, split, ...) and prints into its
/// own error is out of reach: the template author chose to print it.
fn redactions<'a>(values: impl Iterator<Item = &'a SecretBytes>) -> Zeroizing<Vec<String>> {
    use base64::Engine as _;
    let b64 = &base64::engine::general_purpose::STANDARD;
    let mut out = Zeroizing::new(Vec::new());
    let mut forms_of = |bytes: &[u8]| {
        let text = bytes_to_tstr(bytes);
        let quoted = format!("{text:?}");
        out.push(quoted[1..quoted.len() - 1].to_owned());
        out.push(b64.encode(bytes));
        out.push(text);
    };
    for value in values {
        let raw = value.expose();
        forms_of(raw);
        if let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(raw) {
            for leaf in string_leaves(&json) {
                forms_of(leaf.as_bytes());
            }
            crate::value::wipe_json(&mut json);
        }
        let trimmed = raw.trim_ascii();
        if let Ok(decoded) = b64
            .decode(trimmed)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(trimmed))
        {
            let decoded = SecretBytes::from(decoded);
            forms_of(decoded.expose());
        }
    }
    out.retain(|s| s.len() >= 4);
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

fn string_leaves(v: &serde_json::Value) -> Vec<&str> {
    match v {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(items) => items.iter().flat_map(string_leaves).collect(),
        serde_json::Value::Object(map) => map.values().flat_map(string_leaves).collect(),
        _ => Vec::new(),
    }
}

/// Zeroes the strings of an engine value this crate owns (one gtmpl-ng has not been given).
fn wipe_engine_value(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Object(map) | Value::Map(map) => map.values_mut().for_each(wipe_engine_value),
        Value::Array(items) => items.iter_mut().for_each(wipe_engine_value),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Functions.

/// gtmpl-ng's Helm functions that behave as ESO's sprig does (each is tested below).
const HELM_KEPT: &[&str] = &[
    "trimPrefix",
    "trimSuffix",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "repeat",
    "nospace",
    "list",
    "hasKey",
    "toString",
];

/// Each family's functions, in the files beside this one.
const FAMILIES: &[&[(&str, Func)]] = &[
    super::strings::FUNCS,
    super::text::FUNCS,
    super::encoding::FUNCS,
    super::json::FUNCS,
    super::yaml::FUNCS,
    super::defaults::FUNCS,
    super::collections::FUNCS,
    super::lists::FUNCS,
    super::numbers::FUNCS,
    super::regex::FUNCS,
    super::crypto::FUNCS,
    super::pem::FUNCS,
    super::keys::FUNCS,
    super::certs::FUNCS,
    super::pkcs12::FUNCS,
    super::dates::FUNCS,
    super::paths::FUNCS,
    super::semver::FUNCS,
    super::urls::FUNCS,
    super::crypto::REFUSED,
];

/// The function table: the kept Helm functions, then ours (which win on a shared name).
static FUNCS: LazyLock<Vec<(&'static str, Func)>> = LazyLock::new(|| {
    let mut funcs: Vec<(&'static str, Func)> = gtmpl_ng::helm_functions::HELM_FUNCTIONS
        .iter()
        .filter(|(name, _)| HELM_KEPT.contains(name))
        .copied()
        .collect();
    funcs.extend_from_slice(&[("index", index as Func), ("len", len)]);
    for family in FAMILIES {
        funcs.extend_from_slice(family);
    }
    funcs
});

fn index(args: &[Value]) -> Result<Value, FuncError> {
    // The data is Go's map[string]string: a missing key indexes to "", its zero value. (Maps
    // from fromJson/fromYaml are Objects too and answer "" where Go prints <no value>.)
    if let [Value::Object(m), Value::String(k)] = args {
        return Ok(m.get(k).cloned().unwrap_or_else(|| Value::from("")));
    }
    gtmpl_ng::funcs::index(args)
}

fn len(args: &[Value]) -> Result<Value, FuncError> {
    // Go's len of a string counts bytes; a raw byte is one byte, not its escape character.
    if let [Value::String(s)] = args {
        return Ok(Value::from(tstr_to_bytes(s).len() as u64));
    }
    gtmpl_ng::funcs::len(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Reason;
    use crate::render::template::testing::*;

    #[test]
    fn data_access_as_eso() {
        let d: &[(&str, &str)] = &[("password", "hunter2"), ("db.host", "db.local")];
        check(&[
            ("{{ .password }}", d, "hunter2"),
            (r#"{{ index . "db.host" }}"#, d, "db.local"),
            // index of a missing key of a map[string]string is the zero value "".
            (r#"[{{ index . "nope" }}]"#, d, "[]"),
            // Keys iterate sorted, as Go ranges over a map.
            (
                "{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}",
                d,
                "db.host=db.local;password=hunter2;",
            ),
            (
                r#"{{ if eq .password "hunter2" }}yes{{ else }}no{{ end }}"#,
                d,
                "yes",
            ),
            ("{{ len .password }}", d, "7"),
            (r#"{{ printf "%s:%d" .password 5432 }}"#, d, "hunter2:5432"),
            (r#"{{ printf "%q" "a" }}"#, d, r#""a""#),
            (r#"{{ printf "%05.1f" 3.14159 }}"#, d, "003.1"),
            (r#"{{ urlquery "a b&c" }}"#, d, "a+b%26c"),
            (r#"{{ html "<a>" }}"#, d, "&lt;a&gt;"),
        ]);
    }

    #[test]
    fn go_builtins() {
        let d: &[(&str, &str)] = &[("v", "x")];
        check(&[
            ("{{ and 1 0 }} {{ and 1 2 }}", d, "0 2"),
            (r#"{{ or 0 "" "x" }}"#, d, "x"),
            ("{{ not true }}", d, "false"),
            // fmt.Sprint puts a space between operands only when neither is a string.
            (r#"{{ print "a" 1 2 "b" }}"#, d, "a1 2b"),
            (r#"{{ println "a" 1 }}"#, d, "a 1\n"),
            (r#"{{ js "a'b" }}"#, d, r"a\'b"),
            (r#"{{ slice "abcd" 1 3 }}"#, d, "bc"),
            (
                r#"{{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt 1 2 }} {{ ge 3 2 }}"#,
                d,
                "true true true false true",
            ),
            (
                r#"{{ dict "a" 1 | mustToPrettyJson }}|{{ list "<" | mustToRawJson }}"#,
                d,
                "{\n  \"a\": 1\n}|[\"<\"]",
            ),
        ]);
        let data = bytes_map(&[("bin", &[0xff, 0xfe, b'a'])]);
        assert_eq!(render_bytes("{{ len .bin }}", data).unwrap(), b"3");
    }

    #[test]
    fn missing_key_is_an_error_as_with_missingkey_error() {
        let err = render("{{ .nope }}", &[("password", "hunter2")]).unwrap_err();
        assert_eq!(err.reason(), Reason::TemplateFailed);
        let text = err.to_string();
        assert!(
            text.contains(r#"map has no entry for key "nope""#),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn unsupported_functions_fail_to_parse() {
        // ESO removes env, expandenv and getHostByName from its sprig map.
        for f in ["env", "expandenv", "getHostByName", "noSuchFunction"] {
            let err = render(&format!("{{{{ {f} }}}}"), &[]).unwrap_err();
            assert_eq!(err.reason(), Reason::TemplateFailed, "{f}");
            assert!(err.to_string().contains("not defined"), "{f}: {err}");
        }
    }

    #[test]
    fn errors_never_show_values() {
        let d: &[(&str, &str)] = &[
            ("password", "hunter2-secret"),
            ("pin", "123"),
            ("multi", "line-one\nline-two"),
        ];
        for tpl in [
            "{{ fail .password }}",
            r#"{{ printf "prefix %s suffix" .password | fail }}"#,
            r#"{{ printf "%q" .multi | fail }}"#,
            "{{ .multi | fail }}",
            "{{ .nope }}",
            "{{ range .password }}{{ end }}",
            // The functions that read a value report what is wrong, not the value.
            r#"{{ mustToDate "2006-01-02" .password }}"#,
            r#"{{ mustToDate "2006-01-02" .multi }}"#,
            "{{ jwkPrivateKeyPem .password }}",
            "{{ jwkPublicKeyPem .multi }}",
            "{{ .password | pkcs12keyPass .multi }}",
            "{{ .password | pkcs12cert }}",
            r#"{{ pemToPkcs12 .password .multi }}"#,
            r#"{{ filterCertChain "leaf" .multi }}"#,
            "{{ certSANs .password }}",
            r#"{{ rsaDecrypt "RSA-OAEP" "SHA256" .password .multi }}"#,
            r#"{{ .password | mustDateModify .multi }}"#,
            r#"{{ mustDateModify .password now }}"#,
            r#"{{ dig "a" "b" .password }}"#,
            "{{ semver .password }}",
            r#"{{ semverCompare .multi "1.0.0" }}"#,
            "{{ urlParse .multi }}",
            r#"{{ urlJoin (dict "userinfo" .multi) }}"#,
            "{{ decryptAES .password .multi }}",
            "{{ decryptAES .multi .password }}",
        ] {
            let err = render(tpl, d).unwrap_err();
            let text = format!("{err} {err:?}");
            for secret in ["hunter2-secret", "line-one", "line-two"] {
                assert!(!text.contains(secret), "{tpl}: {text}");
            }
            assert!(!text.contains("pin:123"), "{tpl}: {text}");
        }
        let err = render("{{ fail .password }}", d).unwrap_err();
        assert!(err.to_string().contains("<redacted>"), "{err}");
        // A value shorter than 4 bytes is too common to redact: it may show up when the
        // template itself prints it into the error.
        let err = render("{{ fail .pin }}", d).unwrap_err();
        assert!(err.to_string().contains("123"), "{err}");
    }

    #[test]
    fn errors_never_show_the_forms_the_leak_scan_looks_for() {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let encoded = b64("decoded-secret");
        let d: &[(&str, &str)] = &[
            ("text", "plain-secret\"q"),
            (
                "json",
                r#"{"db":{"pw":"leaf-secret"},"list":["item-secret"]}"#,
            ),
            ("enc", &encoded),
        ];
        for tpl in [
            "{{ .text | b64enc | fail }}",
            "{{ .text | quote | fail }}",
            "{{ (.json | fromJson).db.pw | fail }}",
            "{{ (.json | fromJson).db.pw | b64enc | fail }}",
            "{{ index (.json | fromJson).list 0 | fail }}",
            "{{ .enc | b64dec | fail }}",
            "{{ .text.field }}",
            "{{ (.json | fromJson).db.nope.x }}",
        ] {
            let err = render(tpl, d).unwrap_err();
            let text = format!("{err} {err:?}");
            for secret in [
                "plain-secret",
                "leaf-secret",
                "item-secret",
                "decoded-secret",
            ] {
                assert!(!text.contains(secret), "{tpl}: {text}");
                assert!(!text.contains(&b64(secret)), "{tpl}: {text}");
            }
        }
    }

    #[test]
    fn eso_documentation_examples() {
        let d: &[(&str, &str)] = &[
            ("registry", "r.io"),
            ("username", "u"),
            ("password", "p\"w"),
            ("user", "admin"),
        ];
        check(&[
            // The dockerconfigjson example; base64("u:p\"w") is "dTpwInc=".
            (
                r#"{"auths":{"{{ .registry }}":{"auth":"{{ printf "%s:%s" .username .password | b64enc }}"}}}"#,
                d,
                r#"{"auths":{"r.io":{"auth":"dTpwInc="}}}"#,
            ),
            // A config file with a block scalar, trim markers and a quoted value.
            (
                "database:\n  user: {{ .user }}\n  password: {{ .password | quote }}\n{{- if .user }}\n  admin: true\n{{- end }}\n",
                d,
                "database:\n  user: admin\n  password: \"p\\\"w\"\n  admin: true\n",
            ),
            // define/template and with, as Go has them.
            (
                r#"{{ define "dsn" }}{{ .user }}@{{ .registry }}{{ end }}{{ with .user }}[{{ . }}]{{ end }}{{ template "dsn" . }}"#,
                d,
                "[admin]admin@r.io",
            ),
        ]);
    }

    #[test]
    fn missing_field_message_drops_the_receiver() {
        let engine = "template: out:1:3:5:no field `nope` in map[a:x\ny b:z]\n  caused by: template: out:1:0:9:while evaluating";
        assert_eq!(
            missing_key_as_go(engine),
            "template: out:1:3:5:map has no entry for key \"nope\"\n  caused by: template: out:1:0:9:while evaluating"
        );
        assert_eq!(
            missing_key_as_go("x: no field `k` in map[secret]"),
            "x: map has no entry for key \"k\""
        );
        let err = render("{{ .nope }}", &[("a", "x")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"template "out": template: out:1:4:5:map has no entry for key "nope""#
        );
    }
}
