//! `target.template`: ESO's template engine v2 — Go `text/template` with ESO's sprig fork — and
//! the rules that combine templated keys with fetched ones. Pure: the ConfigMaps and Secrets
//! named by `templateFrom` are read by the caller and handed in as [`TemplateSources`].
//!
//! Templates are rendered by `gtmpl-ng`, a Go `text/template` engine, with the functions below
//! registered through its function API. The data is what ESO gives a template: a map of key →
//! string (`{{ .password }}`, `{{ index . "db.host" }}`), with `missingkey=error`, so a key that
//! was not fetched is an error, while `index` of one answers `""` (Go's zero value).
//!
//! # What ESO does, and what this does (`externalsecret_controller_template.go`,
//! `templating/parser.go`, `runtime/template/v2/template.go`)
//!
//! - No template: the fetched data unchanged.
//! - A template: `type` sets the Secret type; `metadata.labels`/`annotations` are copied and
//!   their values rendered as templates too (v2 templates them; keys are kept as written).
//! - `mergePolicy: Replace` (default): with `data` or `templateFrom` present the Secret holds
//!   only the templated keys; with neither, the fetched data. `Merge`: templated keys over the
//!   fetched ones.
//! - Order, later wins: fetched data (Merge only), then each `templateFrom` in order (its
//!   `configMap`, then `secret`, then `literal`), then `data`, then labels, then annotations.
//! - `templateFrom` items: `templateAs: Values` renders the item's value into the key of the same
//!   name; `KeysAndValues` renders the whole item, which must give a YAML map of string → string
//!   (a number or boolean value is an error, as in ESO); `literal` is a `KeysAndValues` template.
//!   `target` sends the result to the data, the labels or the annotations.
//! - Refused as ESO refuses them: `type: kubernetes.io/service-account-token` with the
//!   `kubernetes.io/service-account.name` annotation or a `templateFrom` targeting annotations
//!   (they would mint long-lived tokens), and `type: bootstrap.kubernetes.io/token`.
//!
//! Values are bytes and Go strings hold any bytes, so `{{ .keystore | b64enc }}` of a binary
//! value and `{{ .jks | b64dec }}` into a binary key both work: bytes that are not UTF-8 travel
//! through the engine as private-use characters (U+10FF80–U+10FFFF) and are turned back into the
//! same bytes by the byte-aware functions and the output.
//!
//! Secret values never reach an error message: an engine error that quotes the data shows it as
//! `map[<data>]`, and every occurrence of a value (4 bytes or more) is replaced by `<redacted>`.
//!
//! # Functions
//!
//! Each supported function is tested against the output Go gives, worked out from the Go,
//! sprig and ESO sources (`runtime/template/v2/sprig/*.go`, `pem.go`, `yaml.go`).
//!
//! | Function | Status | Notes |
//! |---|---|---|
//! | Go builtins `and or not eq ne lt le gt ge len print printf println urlquery html js slice` | supported | gtmpl-ng's; `len` counts bytes; `slice` is Go's builtin (ESO's sprig `slice` takes only lists) |
//! | `index` | supported | missing key of the data → `""` as Go; other maps → `<no value>` |
//! | `b64enc b64dec` | supported | byte-exact; invalid input renders sprig's error text `illegal base64 data at input byte N` (N best effort for padding errors) |
//! | `upper lower` | supported | Go's per-character mapping; a character whose uppercase is several characters (`ß`, ligatures) is kept, as Go keeps it |
//! | `trim trimPrefix trimSuffix trimAll` | supported | `trimAll` takes a set of characters, as Go's `strings.Trim` |
//! | `quote squote` | supported | variadic, nil arguments skipped; `quote` is Go's `%q` |
//! | `replace indent nindent repeat contains hasPrefix hasSuffix nospace cat` | supported | `cat` drops nil arguments |
//! | `join split splitList splitn` | supported | `split` gives sprig's map `_0`, `_1`, … |
//! | `toJson toRawJson toPrettyJson mustToJson mustToRawJson mustToPrettyJson` | supported | sorted keys; `toJson` escapes `<>&` as Go's `encoding/json` does |
//! | `fromJson mustFromJson` | supported | `fromJson` gives nothing (`<no value>`) on invalid JSON, as sprig |
//! | `toYaml fromYaml` | supported | ESO's own: `toYaml` writes go-yaml v2's style (key order, quoting) without the final newline; `fromYaml` puts a parse error under `Error` |
//! | `default empty coalesce ternary fail` | supported | |
//! | `dict list get hasKey first last` | supported | `get` of a missing key is `""` |
//! | `sha1sum sha256sum sha512sum adler32sum` | supported | hash of the bytes, lowercase hex (`adler32sum` in decimal) |
//! | `b32enc b32dec hexdec` | supported | invalid input renders Go's error text, as sprig does |
//! | `trunc substr sortAlpha` | supported | `trunc`/`substr` count bytes, as Go |
//! | `atoi int int64 toString` | supported | `atoi` of a non-integer is 0 |
//! | `regexMatch mustRegexMatch regexFind regexFindAll regexReplaceAll regexReplaceAllLiteral regexSplit regexQuoteMeta` | supported | sprig's argument order; Go's RE2 meaning (ASCII `\d \w \s \b`, `\Q…\E`), see [`super::rewrite`]; `regexMatch` of an invalid regexp is `false` |
//! | `add add1 sub mul div mod` | supported | integer arithmetic |
//! | `filterPEM` | supported | Go's `pem.Decode`/`pem.Encode`: blocks re-encoded at 64 columns |
//! | `pkcs12key pkcs12keyPass pkcs12cert pkcs12certPass pemToPkcs12 pemToPkcs12Pass fullPemToPkcs12 fullPemToPkcs12Pass pemTruststoreToPKCS12 pemTruststoreToPKCS12Pass` | not supported | needs a PKCS#12 codec (RC2/3DES/AES bags, SHA-1 MAC) |
//! | `filterCertChain certSANs jwkPublicKeyPem jwkPrivateKeyPem rsaDecrypt` | not supported | needs X.509/JWK/RSA parsing |
//! | sprig date functions (`now date toDate dateModify duration …`) | not supported | |
//! | sprig crypto (`bcrypt htpasswd genPrivateKey derivePassword genCA genSelfSignedCert genSignedCert buildCustomCert encryptAES decryptAES randBytes`) | not supported | |
//! | random (`randAlpha randAlphaNum randAscii randNumeric randInt uuidv4 shuffle`) | not supported | a synced Secret must not change on every refresh |
//! | everything else in ESO's sprig map (`title untitle abbrev wrap plural snakecase camelcase kebabcase swapcase initials keys values pick omit merge pluck dig set unset append prepend concat uniq without has compact chunk until untilStep seq typeOf kindOf typeIs deepEqual semver semverCompare urlParse urlJoin base dir ext clean isAbs float64 addf …`) | not supported | a template using one fails with "function not defined" |
//!
//! Known differences from Go for supported functions: a missing key in a map made by `dict`
//! renders `<no value>` where ESO's `missingkey=error` stops (maps from `fromJson`/`fromYaml` do
//! stop), and `index` of a missing key in a `fromJson` map is `""` where Go prints `<no value>`;
//! `toYaml` does not fold scalars longer than 80 columns as go-yaml v2 does; `fromYaml` reads
//! YAML 1.2 (`yes` is a string), Go YAML 1.1 (`yes` is `true`) — the same holds for a
//! `KeysAndValues` result, so `key: yes` is accepted here where ESO refuses a boolean.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::LazyLock;

use base64::Engine as _;
use gtmpl_ng::{Context, Func, FuncError, Template, Value};

use super::RenderError;
use crate::api::externalsecret::{
    ExternalSecretTemplate, TemplateFrom, TemplateMergePolicy, TemplateScope, TemplateTarget,
};
use crate::value::SecretBytes;

/// Contents of the ConfigMaps/Secrets named by templateFrom, read by the caller (I/O lives
/// elsewhere). Keyed by object name, then by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateSources {
    /// ConfigMaps of the ExternalSecret's namespace: name → data.
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// Secrets of the ExternalSecret's namespace: name → data.
    pub secrets: BTreeMap<String, BTreeMap<String, SecretBytes>>,
}

/// What the Secret should hold once templates are applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RenderedSecret {
    /// The Secret's data.
    pub data: BTreeMap<String, SecretBytes>,
    /// Labels the template sets (none without a template: copying the ExternalSecret's own
    /// labels, as ESO does then, is the caller's).
    pub labels: BTreeMap<String, String>,
    /// Annotations the template sets.
    pub annotations: BTreeMap<String, String>,
    /// `template.type`, when given.
    pub type_: Option<String>,
}

const SA_TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
const SA_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
const BOOTSTRAP_TOKEN_TYPE: &str = "bootstrap.kubernetes.io/token";

/// Applies `target.template` to the fetched data. See the module documentation for the rules.
pub fn apply_template(
    template: Option<&ExternalSecretTemplate>,
    fetched: BTreeMap<String, SecretBytes>,
    sources: &TemplateSources,
) -> Result<RenderedSecret, RenderError> {
    let Some(tpl) = template else {
        return Ok(RenderedSecret {
            data: fetched,
            ..RenderedSecret::default()
        });
    };
    check_privileged(tpl)?;

    let meta = tpl.metadata.clone().unwrap_or_default();
    let mut out = RenderedSecret {
        data: BTreeMap::new(),
        // ESO copies the template's metadata first, then overwrites each value with its render.
        labels: meta.labels.clone(),
        annotations: meta.annotations.clone(),
        type_: tpl.type_.clone().filter(|t| !t.is_empty()),
    };

    let no_templates = tpl.data.is_empty() && tpl.template_from.is_empty();
    let mut engine = DataEngine::new(&fetched, sources);
    if tpl.merge_policy == TemplateMergePolicy::Merge || no_templates {
        out.data = fetched;
    }

    for (i, from) in tpl.template_from.iter().enumerate() {
        apply_template_from(&mut engine, i, from, sources, &mut out)?;
    }
    for (key, text) in &tpl.data {
        let bytes = engine.render(key, text)?;
        put(&mut out, TemplateTarget::Data, key.clone(), bytes);
    }
    for (key, text) in &meta.labels {
        let bytes = engine.render(key, text)?;
        put(&mut out, TemplateTarget::Labels, key.clone(), bytes);
    }
    for (key, text) in &meta.annotations {
        let bytes = engine.render(key, text)?;
        put(&mut out, TemplateTarget::Annotations, key.clone(), bytes);
    }
    Ok(out)
}

fn check_privileged(tpl: &ExternalSecretTemplate) -> Result<(), RenderError> {
    let refuse = |detail: String| Err(RenderError::TemplateNotAllowed { detail });
    match tpl.type_.as_deref() {
        Some(SA_TOKEN_TYPE) => {
            let annotated = tpl
                .metadata
                .as_ref()
                .is_some_and(|m| m.annotations.contains_key(SA_NAME_ANNOTATION));
            if annotated {
                return refuse(format!(
                    "template.type={SA_TOKEN_TYPE:?} with annotation {SA_NAME_ANNOTATION:?} is not allowed"
                ));
            }
            if tpl
                .template_from
                .iter()
                .any(|f| f.target == TemplateTarget::Annotations)
            {
                return refuse(format!(
                    "template.type={SA_TOKEN_TYPE:?} with templateFrom target=\"Annotations\" is not allowed"
                ));
            }
            Ok(())
        }
        Some(BOOTSTRAP_TOKEN_TYPE) => refuse(format!(
            "template.type={BOOTSTRAP_TOKEN_TYPE:?} is not allowed"
        )),
        _ => Ok(()),
    }
}

fn put(out: &mut RenderedSecret, target: TemplateTarget, key: String, value: Vec<u8>) {
    match target {
        TemplateTarget::Data => {
            out.data.insert(key, SecretBytes::from(value));
        }
        TemplateTarget::Labels => {
            out.labels
                .insert(key, String::from_utf8_lossy(&value).into_owned());
        }
        TemplateTarget::Annotations => {
            out.annotations
                .insert(key, String::from_utf8_lossy(&value).into_owned());
        }
    }
}

fn apply_template_from(
    engine: &mut DataEngine,
    index: usize,
    from: &TemplateFrom,
    sources: &TemplateSources,
    out: &mut RenderedSecret,
) -> Result<(), RenderError> {
    if let Some(cm) = &from.config_map {
        let Some(data) = sources.config_maps.get(&cm.name) else {
            return Err(missing("ConfigMap", &cm.name, None));
        };
        for item in &cm.items {
            let text = data
                .get(&item.key)
                .ok_or_else(|| missing("ConfigMap", &cm.name, Some(&item.key)))?;
            let at = format!("templateFrom[{index}].configMap {}/{}", cm.name, item.key);
            apply_item(
                engine,
                &at,
                &item.key,
                text,
                item.template_as,
                from.target,
                out,
            )?;
        }
    }
    if let Some(sec) = &from.secret {
        let Some(data) = sources.secrets.get(&sec.name) else {
            return Err(missing("Secret", &sec.name, None));
        };
        for item in &sec.items {
            let raw = data
                .get(&item.key)
                .ok_or_else(|| missing("Secret", &sec.name, Some(&item.key)))?;
            let text = bytes_to_tstr(raw.expose());
            let at = format!("templateFrom[{index}].secret {}/{}", sec.name, item.key);
            apply_item(
                engine,
                &at,
                &item.key,
                &text,
                item.template_as,
                from.target,
                out,
            )?;
        }
    }
    if let Some(literal) = &from.literal {
        let at = format!("templateFrom[{index}].literal");
        apply_item(
            engine,
            &at,
            "",
            literal,
            TemplateScope::KeysAndValues,
            from.target,
            out,
        )?;
    }
    Ok(())
}

fn missing(kind: &'static str, name: &str, key: Option<&str>) -> RenderError {
    RenderError::TemplateSourceMissing {
        kind,
        name: name.to_owned(),
        key: key.map(str::to_owned),
    }
}

fn apply_item(
    engine: &mut DataEngine,
    at: &str,
    key: &str,
    text: &str,
    scope: TemplateScope,
    target: TemplateTarget,
    out: &mut RenderedSecret,
) -> Result<(), RenderError> {
    match scope {
        TemplateScope::Values => {
            let bytes = engine.render(at, text)?;
            put(out, target, key.to_owned(), bytes);
        }
        TemplateScope::KeysAndValues => {
            let bytes = engine.render(at, text)?;
            for (k, v) in engine.yaml_string_map(at, &bytes)? {
                put(out, target, k, v.into_bytes());
            }
        }
    }
    Ok(())
}

/// Renders templates over one ExternalSecret's fetched data, with errors redacted.
struct DataEngine {
    root: Value,
    /// The root as the engine prints it in an error (sorted, Go's `%v` of a map).
    root_text: String,
    /// Strings that must not appear in an error, longest first.
    secrets: Vec<String>,
}

impl DataEngine {
    fn new(fetched: &BTreeMap<String, SecretBytes>, sources: &TemplateSources) -> Self {
        let map: HashMap<String, Value> = fetched
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(bytes_to_tstr(v.expose()))))
            .collect();
        // An Object, not a Map: gtmpl-ng refuses a missing field of an Object, which is ESO's
        // `missingkey=error`.
        let root = Value::Object(map);
        let root_text = root.to_string();
        let mut secrets: Vec<String> = fetched
            .values()
            .chain(sources.secrets.values().flat_map(|m| m.values()))
            .flat_map(|v| {
                let s = bytes_to_tstr(v.expose());
                let escaped = format!("{s:?}");
                let escaped = escaped[1..escaped.len() - 1].to_owned();
                [s, escaped]
            })
            .filter(|s| s.len() >= 4)
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self {
            root,
            root_text,
            secrets,
        }
    }

    fn redact(&self, text: &str) -> String {
        let mut text = text.replace(&self.root_text, "map[<data>]");
        for s in &self.secrets {
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

    fn render(&mut self, at: &str, text: &str) -> Result<Vec<u8>, RenderError> {
        render_text(at, text, self.root.clone()).map_err(|e| self.fail(at, &e))
    }

    /// ESO's `yaml.Unmarshal(rendered, &map[string]string{})`: a YAML map whose values are
    /// strings (or null, read as ""); keys of any scalar type are read as their text.
    fn yaml_string_map(
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

/// Renders one Go template over `data` with ESO's functions. The error is the engine's text,
/// unredacted: the caller redacts.
pub(crate) fn render_text(name: &str, text: &str, data: Value) -> Result<Vec<u8>, String> {
    let mut t = Template::with_name(name);
    t.add_funcs(&FUNCS);
    t.parse(text).map_err(|e| e.to_string())?;
    let out = t.render(&Context::from(data)).map_err(|e| e.to_string())?;
    Ok(tstr_to_bytes(&out))
}

// ---------------------------------------------------------------------------------------------
// Bytes in engine strings.

/// First of the 128 private-use characters that stand for the bytes 0x80..=0xFF.
const BYTE_ESCAPE_BASE: u32 = 0x10_FF00;

fn escape_byte(b: u8) -> char {
    char::from_u32(BYTE_ESCAPE_BASE + u32::from(b)).expect("U+10FF80..U+10FFFF are scalars")
}

fn escaped_byte(c: char) -> Option<u8> {
    let n = u32::from(c);
    (n >= BYTE_ESCAPE_BASE + 0x80)
        .then(|| u8::try_from(n - BYTE_ESCAPE_BASE).ok())
        .flatten()
}

/// Bytes as an engine string: UTF-8 stays text, every other byte (and, to stay reversible, the
/// UTF-8 bytes of a character in the escape range) becomes its escape character.
pub(crate) fn bytes_to_tstr(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if escaped_byte(c).is_some() {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push(escape_byte(b));
                }
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            out.push(escape_byte(b));
        }
    }
    out
}

/// The bytes an engine string stands for.
pub(crate) fn tstr_to_bytes(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match escaped_byte(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out
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
    "dict",
    "list",
    "hasKey",
    "first",
    "last",
    "int",
    "int64",
    "toString",
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
];

/// The function table: the kept Helm functions, then ours (which win on a shared name).
static FUNCS: LazyLock<Vec<(&'static str, Func)>> = LazyLock::new(|| {
    let mut funcs: Vec<(&'static str, Func)> = gtmpl_ng::helm_functions::HELM_FUNCTIONS
        .iter()
        .filter(|(name, _)| HELM_KEPT.contains(name))
        .copied()
        .collect();
    funcs.extend_from_slice(&[
        ("index", index as Func),
        ("len", len),
        ("b64enc", b64enc),
        ("b64dec", b64dec),
        ("upper", upper),
        ("lower", lower),
        ("trim", trim),
        ("trimAll", trim_all),
        ("quote", quote),
        ("squote", squote),
        ("replace", replace),
        ("indent", indent),
        ("nindent", nindent),
        ("join", join),
        ("split", split),
        ("splitList", split_list),
        ("splitn", splitn),
        ("toJson", to_json),
        ("mustToJson", must_to_json),
        ("toRawJson", to_raw_json),
        ("mustToRawJson", must_to_raw_json),
        ("toPrettyJson", to_pretty_json),
        ("mustToPrettyJson", must_to_pretty_json),
        ("fromJson", from_json),
        ("mustFromJson", must_from_json),
        ("toYaml", to_yaml),
        ("fromYaml", from_yaml),
        ("default", default),
        ("empty", empty),
        ("coalesce", coalesce),
        ("ternary", ternary),
        ("fail", fail),
        ("sha1sum", sha1sum),
        ("sha256sum", sha256sum),
        ("sha512sum", sha512sum),
        ("filterPEM", filter_pem),
        ("atoi", atoi),
        ("get", get),
        ("cat", cat),
        ("b32enc", b32enc),
        ("b32dec", b32dec),
        ("hexdec", hexdec),
        ("adler32sum", adler32sum),
        ("trunc", trunc),
        ("substr", substr),
        ("sortAlpha", sort_alpha),
        ("regexMatch", regex_match),
        ("mustRegexMatch", must_regex_match),
        ("regexFind", regex_find),
        ("regexFindAll", regex_find_all),
        ("regexReplaceAll", regex_replace_all),
        ("regexReplaceAllLiteral", regex_replace_all_literal),
        ("regexSplit", regex_split),
        ("regexQuoteMeta", regex_quote_meta),
    ]);
    funcs
});

fn generic(msg: impl Into<String>) -> FuncError {
    FuncError::Generic(msg.into())
}

fn arity(name: &str, args: &[Value], n: usize) -> Result<(), FuncError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(generic(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::NoValue | Value::Nil => "nil",
        Value::Bool(_) => "bool",
        Value::String(_) => "string",
        Value::Object(_) | Value::Map(_) => "map",
        Value::Array(_) => "slice",
        Value::Function(_) => "func",
        Value::Number(_) => "number",
    }
}

/// A `string` parameter: Go's template engine passes only strings to one.
fn str_arg<'a>(name: &str, v: &'a Value) -> Result<&'a str, FuncError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(generic(format!(
            "wrong type for value in {name}; expected string; got {}",
            kind(other)
        ))),
    }
}

/// An `int` parameter.
fn int_arg(name: &str, v: &Value) -> Result<i64, FuncError> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| {
            generic(format!(
                "wrong type for value in {name}; expected int; got {n}"
            ))
        }),
        other => Err(generic(format!(
            "wrong type for value in {name}; expected int; got {}",
            kind(other)
        ))),
    }
}

fn is_nil(v: &Value) -> bool {
    matches!(v, Value::Nil | Value::NoValue)
}

/// sprig's `strval`: a string as is, anything else as Go's `%v` prints it.
fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// sprig's `empty`.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::NoValue | Value::Nil => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Object(m) | Value::Map(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Function(_) => false,
        Value::Number(n) => n.as_f64().map_or_else(
            || n.as_i64().map_or(n.as_u64() == Some(0), |i| i == 0),
            |f| f == 0.0,
        ),
    }
}

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

fn b64enc(args: &[Value]) -> Result<Value, FuncError> {
    arity("b64enc", args, 1)?;
    let bytes = tstr_to_bytes(str_arg("b64enc", &args[0])?);
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(bytes),
    ))
}

/// Go's `base64.StdEncoding`: padding required, CR and LF skipped, trailing bits not checked.
const GO_STD_B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
);

fn b64dec(args: &[Value]) -> Result<Value, FuncError> {
    arity("b64dec", args, 1)?;
    let input = tstr_to_bytes(str_arg("b64dec", &args[0])?);
    let stripped: Vec<u8> = input
        .iter()
        .copied()
        .filter(|b| !matches!(b, b'\r' | b'\n'))
        .collect();
    let text = match GO_STD_B64.decode(&stripped) {
        Ok(bytes) => bytes_to_tstr(&bytes),
        // sprig renders the decoder's error text in place of the value.
        Err(_) => format!(
            "illegal base64 data at input byte {}",
            b64_error_offset(&input)
        ),
    };
    Ok(Value::String(text))
}

/// Where Go's decoder reports a failure: the first byte outside the alphabet, else the start of
/// the incomplete final group (offsets count the skipped CR/LF, as Go's do).
fn b64_error_offset(input: &[u8]) -> usize {
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    if let Some(i) = input
        .iter()
        .position(|&b| !alphabet(b) && !matches!(b, b'=' | b'\r' | b'\n'))
    {
        return i;
    }
    let mut group = 0;
    let mut start = 0;
    for (i, &b) in input.iter().enumerate() {
        if matches!(b, b'\r' | b'\n') {
            continue;
        }
        if group == 0 {
            start = i;
        }
        group = (group + 1) % 4;
    }
    if group == 0 { input.len() } else { start }
}

/// Go's `unicode.ToUpper`/`ToLower` per character: simple case mapping, so a character whose
/// full mapping is several characters keeps its one-character mapping or itself.
fn go_case(s: &str, upper: bool) -> String {
    s.chars()
        .map(|c| {
            if escaped_byte(c).is_some() {
                return c;
            }
            let mapped: Vec<char> = if upper {
                c.to_uppercase().collect()
            } else {
                c.to_lowercase().collect()
            };
            match mapped.as_slice() {
                [one] => *one,
                // U+0130's simple lowercase is 'i'; the full mapping adds a combining dot.
                _ if c == '\u{130}' && !upper => 'i',
                _ => c,
            }
        })
        .collect()
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    arity("upper", args, 1)?;
    Ok(Value::String(go_case(str_arg("upper", &args[0])?, true)))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    arity("lower", args, 1)?;
    Ok(Value::String(go_case(str_arg("lower", &args[0])?, false)))
}

fn trim(args: &[Value]) -> Result<Value, FuncError> {
    arity("trim", args, 1)?;
    // Go's strings.TrimSpace and Rust's trim agree: both trim Unicode White_Space.
    Ok(Value::from(str_arg("trim", &args[0])?.trim()))
}

fn trim_all(args: &[Value]) -> Result<Value, FuncError> {
    arity("trimAll", args, 2)?;
    let cutset: Vec<char> = str_arg("trimAll", &args[0])?.chars().collect();
    let s = str_arg("trimAll", &args[1])?;
    Ok(Value::from(s.trim_matches(cutset.as_slice())))
}

/// Go's `strconv.Quote` of an engine string: gtmpl-ng's `%q` for text, `\xNN` for raw bytes.
fn go_quote(s: &str) -> Result<String, FuncError> {
    let mut out = String::from("\"");
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| -> Result<(), FuncError> {
        if !run.is_empty() {
            let q = gtmpl_ng::funcs::printf(&[Value::from("%q"), Value::from(run.as_str())])?;
            let q = q.to_string();
            out.push_str(&q[1..q.len() - 1]);
            run.clear();
        }
        Ok(())
    };
    for c in s.chars() {
        match escaped_byte(c) {
            Some(b) => {
                flush(&mut run, &mut out)?;
                let _ = write!(out, "\\x{b:02x}");
            }
            None => run.push(c),
        }
    }
    flush(&mut run, &mut out)?;
    out.push('"');
    Ok(out)
}

fn quote(args: &[Value]) -> Result<Value, FuncError> {
    let quoted: Result<Vec<String>, FuncError> = args
        .iter()
        .filter(|v| !is_nil(v))
        .map(|v| go_quote(&strval(v)))
        .collect();
    Ok(Value::String(quoted?.join(" ")))
}

fn squote(args: &[Value]) -> Result<Value, FuncError> {
    let quoted: Vec<String> = args
        .iter()
        .filter(|v| !is_nil(v))
        .map(|v| format!("'{v}'"))
        .collect();
    Ok(Value::String(quoted.join(" ")))
}

fn replace(args: &[Value]) -> Result<Value, FuncError> {
    arity("replace", args, 3)?;
    let old = str_arg("replace", &args[0])?;
    let new = str_arg("replace", &args[1])?;
    let src = str_arg("replace", &args[2])?;
    Ok(Value::String(src.replace(old, new)))
}

fn indent_str(name: &str, args: &[Value]) -> Result<String, FuncError> {
    arity(name, args, 2)?;
    let spaces = int_arg(name, &args[0])?;
    let s = str_arg(name, &args[1])?;
    let spaces = gtmpl_ng::helm_functions::bounded_count(spaces, "spaces", name)?;
    let pad = " ".repeat(spaces);
    Ok(format!("{pad}{}", s.replace('\n', &format!("\n{pad}"))))
}

fn indent(args: &[Value]) -> Result<Value, FuncError> {
    indent_str("indent", args).map(Value::String)
}

fn nindent(args: &[Value]) -> Result<Value, FuncError> {
    indent_str("nindent", args).map(|s| Value::String(format!("\n{s}")))
}

/// sprig's `strslice`: a list's non-nil items as strings; nil is no items; any other value is
/// one item.
fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().filter(|i| !is_nil(i)).map(strval).collect(),
        v if is_nil(v) => Vec::new(),
        other => vec![strval(other)],
    }
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    arity("join", args, 2)?;
    let sep = str_arg("join", &args[0])?;
    Ok(Value::String(strslice(&args[1]).join(sep)))
}

fn parts_map(parts: Vec<&str>) -> Value {
    let map: HashMap<String, Value> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("_{i}"), Value::from(p)))
        .collect();
    Value::Map(map)
}

/// Go's `strings.Split`: an empty separator splits after each character.
fn go_split(s: &str, sep: &str, n: Option<usize>) -> Vec<String> {
    if sep.is_empty() {
        let chars: Vec<String> = s.chars().map(String::from).collect();
        return match n {
            Some(n) if n < chars.len() => {
                let mut head: Vec<String> = chars[..n - 1].to_vec();
                head.push(chars[n - 1..].concat());
                head
            }
            _ => chars,
        };
    }
    match n {
        Some(n) => s.splitn(n, sep).map(str::to_owned).collect(),
        None => s.split(sep).map(str::to_owned).collect(),
    }
}

fn split(args: &[Value]) -> Result<Value, FuncError> {
    arity("split", args, 2)?;
    let parts = go_split(
        str_arg("split", &args[1])?,
        str_arg("split", &args[0])?,
        None,
    );
    Ok(parts_map(parts.iter().map(String::as_str).collect()))
}

fn split_list(args: &[Value]) -> Result<Value, FuncError> {
    arity("splitList", args, 2)?;
    let parts = go_split(
        str_arg("splitList", &args[1])?,
        str_arg("splitList", &args[0])?,
        None,
    );
    Ok(Value::Array(parts.into_iter().map(Value::from).collect()))
}

fn splitn(args: &[Value]) -> Result<Value, FuncError> {
    arity("splitn", args, 3)?;
    let sep = str_arg("splitn", &args[0])?;
    let n = int_arg("splitn", &args[1])?;
    let s = str_arg("splitn", &args[2])?;
    // Go's SplitN: n == 0 gives nothing, n < 0 everything.
    let parts = match n {
        0 => Vec::new(),
        n if n < 0 => go_split(s, sep, None),
        n => go_split(s, sep, Some(usize::try_from(n).unwrap_or(usize::MAX))),
    };
    Ok(parts_map(parts.iter().map(String::as_str).collect()))
}

/// Go's `encoding/json` for a template value: sorted keys, `<no value>`/nil as `null`.
fn to_serde_json(v: &Value) -> Result<serde_json::Value, FuncError> {
    Ok(match v {
        Value::NoValue | Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                serde_json::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                serde_json::Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(serde_json::Value::Number)
                    .ok_or_else(|| generic(format!("json: unsupported value: {f}")))?
            }
        }
        Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(to_serde_json).collect::<Result<_, _>>()?)
        }
        Value::Object(m) | Value::Map(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), to_serde_json(v)?)))
                .collect::<Result<_, FuncError>>()?,
        ),
        Value::Function(_) => {
            return Err(generic("json: unsupported type: func"));
        }
    })
}

fn from_serde_json(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(u)) => Value::from(u),
            _ => Value::from(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(a) => Value::Array(a.into_iter().map(from_serde_json).collect()),
        // An Object, like the data: a missing field is an error, as under `missingkey=error`.
        serde_json::Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, from_serde_json(v)))
                .collect(),
        ),
    }
}

/// Go's `json.Marshal` escapes `<`, `>`, `&`, U+2028 and U+2029 in strings; serde_json does
/// not. They only occur inside strings in JSON text, so a plain replace is exact.
fn escape_html(json: String) -> String {
    if !json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return json;
    }
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

enum JsonStyle {
    Compact,
    Raw,
    Pretty,
}

fn marshal(name: &str, args: &[Value], style: JsonStyle) -> Result<String, FuncError> {
    arity(name, args, 1)?;
    let v = to_serde_json(&args[0])?;
    let text = match style {
        JsonStyle::Compact => {
            escape_html(serde_json::to_string(&v).map_err(|e| generic(e.to_string()))?)
        }
        JsonStyle::Raw => {
            // Go's Encoder with SetEscapeHTML(false) still escapes U+2028/U+2029.
            serde_json::to_string(&v)
                .map_err(|e| generic(e.to_string()))?
                .replace('\u{2028}', "\\u2028")
                .replace('\u{2029}', "\\u2029")
        }
        JsonStyle::Pretty => {
            escape_html(serde_json::to_string_pretty(&v).map_err(|e| generic(e.to_string()))?)
        }
    };
    Ok(text)
}

fn to_json(args: &[Value]) -> Result<Value, FuncError> {
    // sprig's toJson swallows a marshalling error into "".
    Ok(Value::String(
        marshal("toJson", args, JsonStyle::Compact).unwrap_or_default(),
    ))
}

fn must_to_json(args: &[Value]) -> Result<Value, FuncError> {
    marshal("mustToJson", args, JsonStyle::Compact).map(Value::String)
}

fn to_raw_json(args: &[Value]) -> Result<Value, FuncError> {
    marshal("toRawJson", args, JsonStyle::Raw).map(Value::String)
}

fn must_to_raw_json(args: &[Value]) -> Result<Value, FuncError> {
    marshal("mustToRawJson", args, JsonStyle::Raw).map(Value::String)
}

fn to_pretty_json(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        marshal("toPrettyJson", args, JsonStyle::Pretty).unwrap_or_default(),
    ))
}

fn must_to_pretty_json(args: &[Value]) -> Result<Value, FuncError> {
    marshal("mustToPrettyJson", args, JsonStyle::Pretty).map(Value::String)
}

fn parse_json(name: &str, args: &[Value]) -> Result<Value, FuncError> {
    arity(name, args, 1)?;
    let s = str_arg(name, &args[0])?;
    serde_json::from_str::<serde_json::Value>(s)
        .map(from_serde_json)
        .map_err(|e| generic(format!("{name}: invalid JSON: {e}")))
}

fn from_json(args: &[Value]) -> Result<Value, FuncError> {
    // sprig's fromJson gives nil on invalid JSON; only a wrong call is an error.
    arity("fromJson", args, 1)?;
    str_arg("fromJson", &args[0])?;
    Ok(parse_json("fromJson", args).unwrap_or(Value::Nil))
}

fn must_from_json(args: &[Value]) -> Result<Value, FuncError> {
    parse_json("mustFromJson", args)
}

/// ESO's `toYaml` (`sigs.k8s.io/yaml.Marshal`, i.e. JSON then go-yaml v2), final newline
/// trimmed, "" on error.
fn to_yaml(args: &[Value]) -> Result<Value, FuncError> {
    arity("toYaml", args, 1)?;
    let text = to_serde_json(&args[0])
        .map(|v| go_yaml(&v))
        .unwrap_or_default();
    Ok(Value::String(
        text.strip_suffix('\n').unwrap_or(&text).to_owned(),
    ))
}

/// go-yaml v2's block style for a JSON value: maps with its key order, sequences under a key
/// not indented, two-space indentation.
fn go_yaml(v: &serde_json::Value) -> String {
    let mut out = String::new();
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => yaml_map(m, 0, &mut out, false),
        serde_json::Value::Array(a) if !a.is_empty() => yaml_seq(a, 0, &mut out, false),
        other => {
            out.push_str(&yaml_inline(other, 2));
            out.push('\n');
        }
    }
    out
}

fn yaml_map(
    m: &serde_json::Map<String, serde_json::Value>,
    indent: usize,
    out: &mut String,
    first_inline: bool,
) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort_by(|a, b| go_yaml_key_order(a, b));
    for (i, k) in keys.into_iter().enumerate() {
        if !(i == 0 && first_inline) {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&yaml_key(k));
        out.push(':');
        match &m[k] {
            serde_json::Value::Object(c) if !c.is_empty() => {
                out.push('\n');
                yaml_map(c, indent + 2, out, false);
            }
            serde_json::Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                yaml_seq(a, indent, out, false);
            }
            other => {
                out.push(' ');
                out.push_str(&yaml_inline(other, indent + 2));
                out.push('\n');
            }
        }
    }
}

fn yaml_seq(a: &[serde_json::Value], indent: usize, out: &mut String, first_inline: bool) {
    for (i, item) in a.iter().enumerate() {
        if !(i == 0 && first_inline) {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str("- ");
        match item {
            serde_json::Value::Object(c) if !c.is_empty() => yaml_map(c, indent + 2, out, true),
            serde_json::Value::Array(x) if !x.is_empty() => yaml_seq(x, indent + 2, out, true),
            other => {
                out.push_str(&yaml_inline(other, indent + 2));
                out.push('\n');
            }
        }
    }
}

fn yaml_inline(v: &serde_json::Value, content_indent: usize) -> String {
    match v {
        serde_json::Value::Null => "null".to_owned(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() => go_format_float(f),
            _ => n.to_string(),
        },
        serde_json::Value::String(s) => yaml_string(s, content_indent),
        serde_json::Value::Object(_) => "{}".to_owned(),
        serde_json::Value::Array(_) => "[]".to_owned(),
    }
}

fn go_double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn yaml_key(k: &str) -> String {
    if k.contains('\n') {
        return go_double_quoted(k);
    }
    yaml_string(k, 0)
}

/// A string scalar as go-yaml v2 writes it. A string that YAML 1.1 would read as something else
/// is double-quoted; otherwise libyaml's own analysis picks plain, single-quoted, double-quoted
/// or literal block, and serde_yaml_ng runs the same libyaml emitter for that part.
fn yaml_string(s: &str, content_indent: usize) -> String {
    if !s.contains('\n') && go_yaml_resolves_non_string(s) {
        return go_double_quoted(s);
    }
    let text = serde_yaml_ng::to_string(s).unwrap_or_default();
    let text = text.strip_suffix('\n').unwrap_or(&text);
    if !text.starts_with('|') {
        return text.to_owned();
    }
    // A literal block: serde_yaml_ng indents its content by 2 at top level; move it to this
    // node's content indentation.
    let mut lines = text.split('\n');
    let mut out = lines.next().unwrap_or_default().to_owned();
    for line in lines {
        out.push('\n');
        if let Some(content) = line.strip_prefix("  ") {
            out.push_str(&" ".repeat(content_indent));
            out.push_str(content);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Whether go-yaml v2's resolver reads a plain scalar as something other than a string (bool,
/// null, int, float, timestamp, merge key, or base-60 float).
fn go_yaml_resolves_non_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N",
        "no", "No", "NO", "off", "Off", "OFF", "true", "True", "TRUE", "false", "False", "FALSE",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    static FLOAT: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
            .expect("static regex")
    });
    static BASE60: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
            .expect("static regex")
    });
    static TIMESTAMP: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r"^[0-9]{4}-(0?[1-9]|1[0-2])-(0?[1-9]|[12][0-9]|3[01])(([Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?(Z|[-+][0-9]{2}:[0-9]{2}))|( [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?))?$",
        )
        .expect("static regex")
    });
    if SPECIAL.contains(&s) || BASE60.is_match(s) {
        return true;
    }
    match s.as_bytes()[0] {
        b'.' => s.parse::<f64>().is_ok(),
        b'0'..=b'9' | b'+' | b'-' => {
            let plain = s.replace('_', "");
            TIMESTAMP.is_match(s) || go_parse_int(&plain) || FLOAT.is_match(&plain)
        }
        _ => false,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` syntax (range not checked: an out-of-range decimal still
/// reads as a float).
fn go_parse_int(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let digits =
        |rest: &str, radix: u32| !rest.is_empty() && rest.chars().all(|c| c.is_digit(radix));
    let lower = s.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("0x") {
        digits(rest, 16)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        digits(rest, 8)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        digits(rest, 2)
    } else if let Some(rest) = s.strip_prefix('0') {
        rest.is_empty() || digits(rest, 8)
    } else {
        digits(s, 10)
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: shortest digits, exponent form below 1e-4 or
/// from 1e6 (Go's threshold for the shortest format), `e+06` style exponents.
fn go_format_float(f: f64) -> String {
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        f.to_string()
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    }
}

/// go-yaml v2's map key order (`keyList.Less`): non-letters before letters, runs of digits
/// compared as numbers, otherwise by character.
fn go_yaml_key_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let less = |a: &str, b: &str| -> bool {
        let ar: Vec<char> = a.chars().collect();
        let br: Vec<char> = b.chars().collect();
        for i in 0..ar.len().min(br.len()) {
            if ar[i] == br[i] {
                continue;
            }
            let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
            if al && bl {
                return ar[i] < br[i];
            }
            if al || bl {
                return bl;
            }
            let (mut an, mut bn) = (0i64, 0i64);
            if ar[i] == '0' || br[i] == '0' {
                for j in (0..i).rev() {
                    if !ar[j].is_ascii_digit() {
                        break;
                    }
                    if ar[j] != '0' {
                        an = 1;
                        bn = 1;
                        break;
                    }
                }
            }
            let number = |r: &[char], mut n: i64| {
                let mut k = i;
                while k < r.len() && r[k].is_ascii_digit() {
                    n = n
                        .wrapping_mul(10)
                        .wrapping_add(i64::from(r[k] as u8 - b'0'));
                    k += 1;
                }
                (n, k)
            };
            let (an, ai) = number(&ar, an);
            let (bn, bi) = number(&br, bn);
            if an != bn {
                return an < bn;
            }
            if ai != bi {
                return ai < bi;
            }
            return ar[i] < br[i];
        }
        ar.len() < br.len()
    };
    if less(a, b) {
        Ordering::Less
    } else if less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// ESO's `fromYaml`: a map; a document that is not one gives `{"Error": "..."}`.
fn from_yaml(args: &[Value]) -> Result<Value, FuncError> {
    arity("fromYaml", args, 1)?;
    let s = str_arg("fromYaml", &args[0])?;
    let parsed = serde_yaml_ng::from_str::<serde_json::Value>(s);
    let mut map = HashMap::new();
    match parsed {
        Ok(serde_json::Value::Object(o)) => {
            return Ok(from_serde_json(serde_json::Value::Object(o)));
        }
        Ok(serde_json::Value::Null) => {}
        Ok(other) => {
            let got = match other {
                serde_json::Value::Array(_) => "array",
                serde_json::Value::String(_) => "string",
                serde_json::Value::Number(_) => "number",
                _ => "bool",
            };
            map.insert(
                "Error".to_owned(),
                Value::String(format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {got} into Go value of type map[string]interface {{}}"
                )),
            );
        }
        Err(e) => {
            map.insert(
                "Error".to_owned(),
                Value::String(format!("error converting YAML to JSON: {e}")),
            );
        }
    }
    Ok(Value::Object(map))
}

fn default(args: &[Value]) -> Result<Value, FuncError> {
    let Some((d, given)) = args.split_first() else {
        return Err(generic(
            "wrong number of args for default: want at least 1 got 0",
        ));
    };
    match given.first() {
        Some(g) if !is_empty(g) => Ok(g.clone()),
        _ => Ok(d.clone()),
    }
}

fn empty(args: &[Value]) -> Result<Value, FuncError> {
    arity("empty", args, 1)?;
    Ok(Value::Bool(is_empty(&args[0])))
}

fn coalesce(args: &[Value]) -> Result<Value, FuncError> {
    Ok(args
        .iter()
        .find(|v| !is_empty(v))
        .cloned()
        .unwrap_or(Value::Nil))
}

fn ternary(args: &[Value]) -> Result<Value, FuncError> {
    arity("ternary", args, 3)?;
    match &args[2] {
        Value::Bool(true) => Ok(args[0].clone()),
        Value::Bool(false) => Ok(args[1].clone()),
        other => Err(generic(format!(
            "wrong type for value in ternary; expected bool; got {}",
            kind(other)
        ))),
    }
}

fn fail(args: &[Value]) -> Result<Value, FuncError> {
    arity("fail", args, 1)?;
    Err(generic(str_arg("fail", &args[0])?))
}

const B32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn b32enc(args: &[Value]) -> Result<Value, FuncError> {
    arity("b32enc", args, 1)?;
    let bytes = tstr_to_bytes(str_arg("b32enc", &args[0])?);
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = buf.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        // 5 input bytes are 8 output characters; a short chunk gives fewer, then padding.
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                let idx = usize::try_from((n >> (35 - 5 * i)) & 0x1f).unwrap_or(0);
                out.push(char::from(B32_ALPHABET[idx]));
            } else {
                out.push('=');
            }
        }
    }
    Ok(Value::String(out))
}

/// Go's `base32.StdEncoding.DecodeString`, or sprig's error text in place of the value.
fn b32dec(args: &[Value]) -> Result<Value, FuncError> {
    arity("b32dec", args, 1)?;
    let input = tstr_to_bytes(str_arg("b32dec", &args[0])?);
    let symbols: Vec<(usize, u8)> = input
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, b)| !matches!(b, b'\r' | b'\n'))
        .collect();
    let fail = |at: usize| {
        Ok(Value::String(format!(
            "illegal base32 data at input byte {at}"
        )))
    };
    if let Some(&(at, _)) = symbols
        .iter()
        .find(|(_, b)| *b != b'=' && !B32_ALPHABET.contains(b))
    {
        return fail(at);
    }
    if !symbols.len().is_multiple_of(8) {
        return fail(
            symbols
                .get(symbols.len() / 8 * 8)
                .map_or(input.len(), |s| s.0),
        );
    }
    let mut out = Vec::with_capacity(symbols.len() / 8 * 5);
    for (g, group) in symbols.chunks(8).enumerate() {
        let data: Vec<u8> = group
            .iter()
            .map(|s| s.1)
            .take_while(|&b| b != b'=')
            .collect();
        let pad = 8 - data.len();
        let last = g + 1 == symbols.len() / 8;
        // Only the last group may be padded, and only to a length base32 can produce, with
        // nothing but padding after the first '='.
        if (pad > 0 && !last)
            || !matches!(pad, 0 | 1 | 3 | 4 | 6)
            || group[data.len()..].iter().any(|s| s.1 != b'=')
        {
            return fail(group[data.len().min(7)].0);
        }
        let n = data.iter().fold(0u64, |acc, b| {
            let v = B32_ALPHABET.iter().position(|a| a == b).unwrap_or(0);
            (acc << 5) | u64::try_from(v).unwrap_or(0)
        }) << (5 * pad);
        let bytes = n.to_be_bytes();
        let len = match pad {
            0 => 5,
            1 => 4,
            3 => 3,
            4 => 2,
            _ => 1,
        };
        out.extend_from_slice(&bytes[3..3 + len]);
    }
    Ok(Value::String(bytes_to_tstr(&out)))
}

/// Go's `hex.DecodeString`, or sprig's error text in place of the value.
fn hexdec(args: &[Value]) -> Result<Value, FuncError> {
    arity("hexdec", args, 1)?;
    let input = tstr_to_bytes(str_arg("hexdec", &args[0])?);
    let invalid = |b: u8| {
        // Go prints the byte as a rune with %#U: the character is shown when printable.
        let c = char::from(b);
        let printable = c.is_ascii_graphic() || c == ' ' || (b >= 0xa1 && b != 0xad);
        let text = if printable {
            format!("encoding/hex: invalid byte: U+{:04X} '{c}'", u32::from(b))
        } else {
            format!("encoding/hex: invalid byte: U+{:04X}", u32::from(b))
        };
        Ok(Value::String(text))
    };
    let nibble = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(input.len() / 2);
    for pair in input.chunks(2) {
        let Some(hi) = nibble(pair[0]) else {
            return invalid(pair[0]);
        };
        let Some(&lo_byte) = pair.get(1) else {
            return Ok(Value::from("encoding/hex: odd length hex string"));
        };
        let Some(lo) = nibble(lo_byte) else {
            return invalid(lo_byte);
        };
        out.push((hi << 4) | lo);
    }
    Ok(Value::String(bytes_to_tstr(&out)))
}

fn adler32sum(args: &[Value]) -> Result<Value, FuncError> {
    arity("adler32sum", args, 1)?;
    let (mut a, mut b) = (1u32, 0u32);
    for byte in tstr_to_bytes(str_arg("adler32sum", &args[0])?) {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    // sprig prints the checksum in decimal.
    Ok(Value::String(((b << 16) | a).to_string()))
}

/// sprig's `trunc`: by bytes, from the end when negative.
fn trunc(args: &[Value]) -> Result<Value, FuncError> {
    arity("trunc", args, 2)?;
    let c = int_arg("trunc", &args[0])?;
    let s = tstr_to_bytes(str_arg("trunc", &args[1])?);
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    let out = if c < 0 && len + c > 0 {
        &s[usize::try_from(len + c).unwrap_or(0)..]
    } else if c >= 0 && len > c {
        &s[..usize::try_from(c).unwrap_or(0)]
    } else {
        &s[..]
    };
    Ok(Value::String(bytes_to_tstr(out)))
}

/// sprig's `substr`: by bytes; an index Go would panic on is an error.
fn substr(args: &[Value]) -> Result<Value, FuncError> {
    arity("substr", args, 3)?;
    let start = int_arg("substr", &args[0])?;
    let end = int_arg("substr", &args[1])?;
    let s = tstr_to_bytes(str_arg("substr", &args[2])?);
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    let (from, to) = if start < 0 {
        (0, end)
    } else if end < 0 || end > len {
        (start, len)
    } else {
        (start, end)
    };
    if from < 0 || to < 0 || from > to || to > len {
        return Err(generic(format!(
            "substr: slice bounds out of range [{from}:{to}] with length {len}"
        )));
    }
    let (from, to) = (
        usize::try_from(from).unwrap_or(0),
        usize::try_from(to).unwrap_or(0),
    );
    Ok(Value::String(bytes_to_tstr(&s[from..to])))
}

fn sort_alpha(args: &[Value]) -> Result<Value, FuncError> {
    arity("sortAlpha", args, 1)?;
    let mut items = match &args[0] {
        Value::Array(_) => strslice(&args[0]),
        other => vec![strval(other)],
    };
    // Go compares strings bytewise, as Rust does.
    items.sort();
    Ok(Value::Array(items.into_iter().map(Value::String).collect()))
}

fn cat(args: &[Value]) -> Result<Value, FuncError> {
    // sprig: nil arguments dropped, the rest printed with %v and joined by spaces.
    let parts: Vec<String> = args
        .iter()
        .filter(|v| !is_nil(v))
        .map(ToString::to_string)
        .collect();
    Ok(Value::String(parts.join(" ")))
}

fn get(args: &[Value]) -> Result<Value, FuncError> {
    arity("get", args, 2)?;
    let key = str_arg("get", &args[1])?;
    match &args[0] {
        Value::Map(m) | Value::Object(m) => {
            Ok(m.get(key).cloned().unwrap_or_else(|| Value::from("")))
        }
        other => Err(generic(format!(
            "wrong type for value in get; expected map; got {}",
            kind(other)
        ))),
    }
}

fn atoi(args: &[Value]) -> Result<Value, FuncError> {
    arity("atoi", args, 1)?;
    // sprig ignores strconv.Atoi's error: anything that is not a decimal integer is 0.
    Ok(Value::from(
        str_arg("atoi", &args[0])?.parse::<i64>().unwrap_or(0),
    ))
}

// sprig's regex functions: (regex, string[, …]) argument order, Go's RE2 meaning.

fn compile(name: &str, pattern: &str) -> Result<regex::Regex, FuncError> {
    super::rewrite::go_regex(pattern).map_err(|e| generic(format!("{name}: invalid regexp: {e}")))
}

fn regex_match(args: &[Value]) -> Result<Value, FuncError> {
    // sprig ignores a compile error here: an invalid regexp matches nothing.
    Ok(Value::Bool(
        must_regex_match(args).is_ok_and(|v| v == Value::Bool(true)),
    ))
}

fn must_regex_match(args: &[Value]) -> Result<Value, FuncError> {
    arity("regexMatch", args, 2)?;
    let re = compile("regexMatch", str_arg("regexMatch", &args[0])?)?;
    Ok(Value::Bool(re.is_match(str_arg("regexMatch", &args[1])?)))
}

fn regex_find(args: &[Value]) -> Result<Value, FuncError> {
    arity("regexFind", args, 2)?;
    let re = compile("regexFind", str_arg("regexFind", &args[0])?)?;
    let s = str_arg("regexFind", &args[1])?;
    Ok(Value::from(re.find(s).map_or("", |m| m.as_str())))
}

/// Go's `FindAllStringIndex(s, n)`: at most `n` matches (all when negative).
fn find_all(re: &regex::Regex, s: &str, n: i64) -> Vec<(usize, usize)> {
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    re.find_iter(s)
        .map(|m| (m.start(), m.end()))
        .take(limit)
        .collect()
}

fn regex_find_all(args: &[Value]) -> Result<Value, FuncError> {
    arity("regexFindAll", args, 3)?;
    let re = compile("regexFindAll", str_arg("regexFindAll", &args[0])?)?;
    let s = str_arg("regexFindAll", &args[1])?;
    let n = int_arg("regexFindAll", &args[2])?;
    Ok(Value::Array(
        find_all(&re, s, n)
            .into_iter()
            .map(|(a, b)| Value::from(&s[a..b]))
            .collect(),
    ))
}

fn regex_replace_all(args: &[Value]) -> Result<Value, FuncError> {
    arity("regexReplaceAll", args, 3)?;
    let re = compile("regexReplaceAll", str_arg("regexReplaceAll", &args[0])?)?;
    let s = str_arg("regexReplaceAll", &args[1])?;
    let repl = str_arg("regexReplaceAll", &args[2])?;
    Ok(Value::String(re.replace_all(s, repl).into_owned()))
}

fn regex_replace_all_literal(args: &[Value]) -> Result<Value, FuncError> {
    arity("regexReplaceAllLiteral", args, 3)?;
    let re = compile(
        "regexReplaceAllLiteral",
        str_arg("regexReplaceAllLiteral", &args[0])?,
    )?;
    let s = str_arg("regexReplaceAllLiteral", &args[1])?;
    let repl = str_arg("regexReplaceAllLiteral", &args[2])?;
    Ok(Value::String(
        re.replace_all(s, regex::NoExpand(repl)).into_owned(),
    ))
}

/// Go's `Regexp.Split`.
fn regex_split(args: &[Value]) -> Result<Value, FuncError> {
    arity("regexSplit", args, 3)?;
    let pattern = str_arg("regexSplit", &args[0])?;
    let re = compile("regexSplit", pattern)?;
    let s = str_arg("regexSplit", &args[1])?;
    let n = int_arg("regexSplit", &args[2])?;
    if n == 0 {
        return Ok(Value::Array(Vec::new()));
    }
    if !pattern.is_empty() && s.is_empty() {
        return Ok(Value::Array(vec![Value::from("")]));
    }
    let mut parts = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for (a, b) in find_all(&re, s, n) {
        if n > 0 && i64::try_from(parts.len()).unwrap_or(i64::MAX) == n - 1 {
            break;
        }
        end = a;
        if b != 0 {
            parts.push(Value::from(&s[beg..end]));
        }
        beg = b;
    }
    if end != s.len() {
        parts.push(Value::from(&s[beg..]));
    }
    Ok(Value::Array(parts))
}

fn regex_quote_meta(args: &[Value]) -> Result<Value, FuncError> {
    arity("regexQuoteMeta", args, 1)?;
    // Go's QuoteMeta escapes exactly \.+*?()|[]{}^$ ; regex::escape also escapes # & - ~,
    // which Go leaves alone.
    let s = str_arg("regexQuoteMeta", &args[0])?;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(Value::String(out))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn sha1sum(args: &[Value]) -> Result<Value, FuncError> {
    use sha1::Digest as _;
    arity("sha1sum", args, 1)?;
    let bytes = tstr_to_bytes(str_arg("sha1sum", &args[0])?);
    Ok(Value::String(hex(&sha1::Sha1::digest(bytes))))
}

fn sha256sum(args: &[Value]) -> Result<Value, FuncError> {
    use sha2::Digest as _;
    arity("sha256sum", args, 1)?;
    let bytes = tstr_to_bytes(str_arg("sha256sum", &args[0])?);
    Ok(Value::String(hex(&sha2::Sha256::digest(bytes))))
}

fn sha512sum(args: &[Value]) -> Result<Value, FuncError> {
    use sha2::Digest as _;
    arity("sha512sum", args, 1)?;
    let bytes = tstr_to_bytes(str_arg("sha512sum", &args[0])?);
    Ok(Value::String(hex(&sha2::Sha512::digest(bytes))))
}

// ---------------------------------------------------------------------------------------------
// PEM, as Go's encoding/pem reads and writes it.

struct PemBlock {
    type_: String,
    headers: Vec<(String, String)>,
    bytes: Vec<u8>,
}

/// Go's `getLine`: one line without its ending and trailing spaces/tabs, and the rest.
fn pem_line(data: &[u8]) -> (&[u8], &[u8]) {
    let (line, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let line = &data[..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line, &data[i + 1..])
        }
        None => (data, &data[data.len()..]),
    };
    let end = line
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    (&line[..end], rest)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Go's `pem.Decode`: the first well-formed block anywhere in `data`, and what follows it;
/// `None` and all of `data` when there is none.
fn pem_decode(data: &[u8]) -> (Option<PemBlock>, &[u8]) {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const DASHES: &[u8] = b"-----";
    let mut rest = data;
    loop {
        // BEGIN counts at the very start or at the start of a line.
        let after = if let Some(after) = rest.strip_prefix(BEGIN) {
            after
        } else if let Some(i) = find(rest, b"\n-----BEGIN ") {
            &rest[i + 1 + BEGIN.len()..]
        } else {
            return (None, data);
        };
        let (type_line, mut body) = pem_line(after);
        // A failed candidate is skipped; the search resumes after its BEGIN line.
        rest = body;
        let Some(type_bytes) = type_line.strip_suffix(DASHES) else {
            continue;
        };
        let type_ = String::from_utf8_lossy(type_bytes).into_owned();

        let mut headers = Vec::new();
        loop {
            if body.is_empty() {
                break;
            }
            let (line, next) = pem_line(body);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                break;
            };
            let key = String::from_utf8_lossy(line[..colon].trim_ascii()).into_owned();
            let val = String::from_utf8_lossy(line[colon + 1..].trim_ascii()).into_owned();
            headers.push((key, val));
            body = next;
        }

        // The END line may follow the BEGIN line directly when there is no body.
        let (end_index, end_trailer_index) = if headers.is_empty() && body.starts_with(b"-----END ")
        {
            (0, b"-----END ".len())
        } else if let Some(i) = find(body, b"\n-----END ") {
            (i, i + b"\n-----END ".len())
        } else {
            continue;
        };
        let trailer = &body[end_trailer_index..];
        let (end_line, after_end) = pem_line(trailer);
        let Some(end_type) = end_line.strip_suffix(DASHES) else {
            continue;
        };
        if end_type != type_bytes {
            continue;
        }
        let b64: Vec<u8> = body[..end_index]
            .iter()
            .copied()
            .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .collect();
        let Ok(bytes) = GO_STD_B64.decode(&b64) else {
            continue;
        };
        return (
            Some(PemBlock {
                type_,
                headers,
                bytes,
            }),
            after_end,
        );
    }
}

/// Go's `pem.Encode`: headers with `Proc-Type` first then sorted, base64 in 64-column lines.
fn pem_encode(block: &PemBlock) -> String {
    let mut out = format!("-----BEGIN {}-----\n", block.type_);
    if !block.headers.is_empty() {
        let mut headers = block.headers.clone();
        headers.sort_by(|a, b| (a.0 != "Proc-Type", &a.0).cmp(&(b.0 != "Proc-Type", &b.0)));
        // Go keeps the last value of a repeated header (its map overwrites).
        headers.reverse();
        headers.dedup_by(|a, b| a.0 == b.0);
        headers.reverse();
        for (k, v) in headers {
            let _ = writeln!(out, "{k}: {v}");
        }
        out.push('\n');
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(&block.bytes);
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    let _ = writeln!(out, "-----END {}-----", block.type_);
    out
}

fn filter_pem(args: &[Value]) -> Result<Value, FuncError> {
    arity("filterPEM", args, 2)?;
    let want = str_arg("filterPEM", &args[0])?;
    let input = tstr_to_bytes(str_arg("filterPEM", &args[1])?);
    // ESO's trimJunk: drop anything before the first BEGIN.
    let start = find(&input, b"-----BEGIN").unwrap_or(0);
    let mut data: &[u8] = &input[start..];
    let mut blocks = String::new();
    let rest = loop {
        let (block, rest) = pem_decode(data);
        data = rest;
        let Some(block) = block else {
            break rest;
        };
        // Go's strings.EqualFold: Unicode simple case folding; lowercasing both is the same for
        // PEM type names.
        if block.type_.to_lowercase() == want.to_lowercase() {
            blocks.push_str(&pem_encode(&block));
        }
    };
    if blocks.is_empty() && !rest.is_empty() {
        return Err(generic("error filtering pem: found junk"));
    }
    Ok(Value::String(blocks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Reason;
    use crate::api::externalsecret::{
        ExternalSecretTemplateMetadata, TemplateRef, TemplateRefItem,
    };

    fn bytes_map(data: &[(&str, &[u8])]) -> BTreeMap<String, SecretBytes> {
        data.iter()
            .map(|(k, v)| (k.to_string(), SecretBytes::new(v.to_vec())))
            .collect()
    }

    fn str_map(data: &[(&str, &str)]) -> BTreeMap<String, SecretBytes> {
        data.iter()
            .map(|(k, v)| (k.to_string(), SecretBytes::from(v.to_string())))
            .collect()
    }

    fn data_template(templates: &[(&str, &str)]) -> ExternalSecretTemplate {
        ExternalSecretTemplate {
            data: templates
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    /// Renders one template over `data` and returns the bytes written under its key.
    fn render_bytes(
        tpl: &str,
        data: BTreeMap<String, SecretBytes>,
    ) -> Result<Vec<u8>, RenderError> {
        let t = data_template(&[("out", tpl)]);
        let mut out = apply_template(Some(&t), data, &TemplateSources::default())?;
        Ok(out.data.remove("out").expect("rendered").into_exposed())
    }

    fn render(tpl: &str, data: &[(&str, &str)]) -> Result<String, RenderError> {
        render_bytes(tpl, str_map(data)).map(|b| String::from_utf8(b).expect("utf-8"))
    }

    /// (template, data, what Go renders).
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

    fn check(cases: &[Case<'_>]) {
        for (tpl, data, want) in cases {
            match render(tpl, data) {
                Ok(got) => assert_eq!(&got, want, "template {tpl:?}"),
                Err(e) => panic!("template {tpl:?} failed: {e}"),
            }
        }
    }

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
    fn base64_functions() {
        let d: &[(&str, &str)] = &[("v", "hello"), ("nl", "aGVs\nbG8=")];
        check(&[
            ("{{ .v | b64enc }}", d, "aGVsbG8="),
            (r#"{{ "aGVsbG8=" | b64dec }}"#, d, "hello"),
            // Go's decoder skips CR and LF.
            ("{{ .nl | b64dec }}", d, "hello"),
            // Not strict: non-zero trailing bits are accepted.
            (r#"{{ "aGVsbG9=" | b64dec }}"#, d, "hello"),
            // sprig returns the decoder's error text. Go reports the invalid byte's offset, and
            // for a missing pad the start of the incomplete quantum (si - j = 7 - 3).
            (
                r#"{{ "a$bc" | b64dec }}"#,
                d,
                "illegal base64 data at input byte 1",
            ),
            (
                r#"{{ "aGVsbG8" | b64dec }}"#,
                d,
                "illegal base64 data at input byte 4",
            ),
        ]);
    }

    #[test]
    fn binary_values_survive_the_engine() {
        let data = bytes_map(&[("bin", &[0xff, 0x00, 0x80]), ("b64", b"/wCA")]);
        assert_eq!(
            render_bytes("{{ .bin | b64enc }}", data.clone()).unwrap(),
            b"/wCA"
        );
        assert_eq!(
            render_bytes("{{ .b64 | b64dec }}", data.clone()).unwrap(),
            [0xff, 0x00, 0x80]
        );
        assert_eq!(
            render_bytes("x{{ .bin }}y", data.clone()).unwrap(),
            [b'x', 0xff, 0x00, 0x80, b'y']
        );
        assert_eq!(
            render_bytes("{{ .bin | sha256sum }}", data.clone()).unwrap(),
            b"ef192b7af54e943f206ab27075ec1805384c972c9959fc5820f1fa7d5268fcef"
        );
        // Go's %q writes a byte that is not UTF-8 as \xNN.
        assert_eq!(
            render_bytes("{{ .bin | quote }}", data).unwrap(),
            br#""\xff\x00\x80""#
        );
        // A genuine character from the escape range round-trips too.
        let odd = "a\u{10FFAA}b".as_bytes().to_vec();
        let data = bytes_map(&[("odd", &odd)]);
        assert_eq!(render_bytes("{{ .odd }}", data).unwrap(), odd);
    }

    #[test]
    fn string_functions() {
        let d: &[(&str, &str)] = &[("v", "line1\nline2\ttab"), ("s", "it's")];
        check(&[
            (r#"{{ "straße" | upper }}"#, d, "STRAßE"),
            (r#"{{ "ÀB" | lower }}"#, d, "àb"),
            (r#"{{ "İ" | lower }}"#, d, "i"),
            ("{{ \"  a b \\n\" | trim }}", d, "a b"),
            (r#"{{ trimAll "$-" "$-a-$" }}"#, d, "a"),
            (r#"{{ trimPrefix "pre-" "pre-x" }}"#, d, "x"),
            (r#"{{ trimSuffix ".txt" "a.txt" }}"#, d, "a"),
            (r#"{{ quote "a\"b" }}"#, d, r#""a\"b""#),
            ("{{ .v | quote }}", d, r#""line1\nline2\ttab""#),
            (r#"{{ quote "a" 1 }}"#, d, r#""a" "1""#),
            (r#"{{ squote "a" "b" }}"#, d, "'a' 'b'"),
            ("{{ .s | squote }}", d, "'it's'"),
            (r#"{{ "a-b-c" | replace "-" "_" }}"#, d, "a_b_c"),
            (r#"{{ "abc" | replace "" "-" }}"#, d, "-a-b-c-"),
            (r#"{{ "a\nb" | indent 2 }}"#, d, "  a\n  b"),
            (r#"{{ "a\n" | indent 2 }}"#, d, "  a\n  "),
            (r#"x:{{ "a\nb" | nindent 2 }}"#, d, "x:\n  a\n  b"),
            (r#"{{ list "a" "b" 1 | join "," }}"#, d, "a,b,1"),
            (r#"{{ join "-" "x" }}"#, d, "x"),
            (
                r#"{{ $p := split "." "a.b.c" }}{{ $p._0 }}|{{ $p._2 }}"#,
                d,
                "a|c",
            ),
            (r#"{{ splitList "," "a,b" | join "+" }}"#, d, "a+b"),
            (r#"{{ (splitn "." 2 "a.b.c")._1 }}"#, d, "b.c"),
            (r#"{{ if contains "b" "abc" }}yes{{ end }}"#, d, "yes"),
            (
                r#"{{ hasPrefix "ab" "abc" }} {{ hasSuffix "x" "abc" }}"#,
                d,
                "true false",
            ),
            (r#"{{ cat "a" 1 "b" }}"#, d, "a 1 b"),
            (r#"{{ repeat 3 "ab" }}"#, d, "ababab"),
            (r#"{{ nospace " a b " }}"#, d, "ab"),
        ]);
    }

    #[test]
    fn json_and_yaml() {
        let d: &[(&str, &str)] = &[
            ("creds", r#"{"user":"admin","port":5432,"tags":["a","b"]}"#),
            ("bad", "not json"),
            ("cfg", "host: db\nport: 5432\n"),
            ("q", r#"pa"ss"#),
        ];
        check(&[
            // encoding/json sorts map keys and escapes <, > and & in strings.
            (
                r#"{{ dict "b" "x<y" "a" 1 | toJson }}"#,
                d,
                r#"{"a":1,"b":"x\u003cy"}"#,
            ),
            (
                r#"{{ dict "b" "x<y" "a" 1 | toRawJson }}"#,
                d,
                r#"{"a":1,"b":"x<y"}"#,
            ),
            (
                r#"{{ dict "b" "x<y" "a" 1 | mustToJson }}"#,
                d,
                r#"{"a":1,"b":"x\u003cy"}"#,
            ),
            (r#"{{ dict "a" 1 | toPrettyJson }}"#, d, "{\n  \"a\": 1\n}"),
            ("{{ .q | toJson }}", d, r#""pa\"ss""#),
            (r#"{{ list 1 "a" true | toJson }}"#, d, r#"[1,"a",true]"#),
            ("{{ (.creds | fromJson).user }}", d, "admin"),
            ("{{ (.creds | fromJson).port }}", d, "5432"),
            ("{{ (.creds | fromJson).tags | join \",\" }}", d, "a,b"),
            (
                "{{ .creds | fromJson | toJson }}",
                d,
                r#"{"port":5432,"tags":["a","b"],"user":"admin"}"#,
            ),
            // sprig's fromJson swallows the error: the result is nil, printed as <no value>.
            ("{{ .bad | fromJson }}", d, "<no value>"),
            // sigs.k8s.io/yaml: keys sorted, lists not indented, final newline trimmed by ESO.
            (
                r#"{{ dict "b" "x" "a" (list 1 2) | toYaml }}"#,
                d,
                "a:\n- 1\n- 2\nb: x",
            ),
            ("{{ (.cfg | fromYaml).host }}", d, "db"),
            ("{{ (.cfg | fromYaml).port }}", d, "5432"),
            (
                "{{ .cfg | fromYaml | toJson }}",
                d,
                r#"{"host":"db","port":5432}"#,
            ),
            (
                r#"{{ (fromYaml "- a").Error }}"#,
                d,
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}",
            ),
        ]);
        // missingkey=error holds in parsed maps too, and the error does not print the map.
        let err = render("{{ (.creds | fromJson).nope }}", d).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(r#"map has no entry for key "nope""#),
            "{text}"
        );
        assert!(!text.contains("admin") && !text.contains("5432"), "{text}");
        let err = render("{{ (.cfg | fromYaml).nope }}", d).unwrap_err();
        assert!(!err.to_string().contains("5432"), "{err}");
        let err = render("{{ .bad | mustFromJson }}", d).unwrap_err();
        assert!(err.to_string().contains("invalid JSON"), "{err}");
    }

    #[test]
    fn defaults_and_logic() {
        let d: &[(&str, &str)] = &[("empty", ""), ("v", "y")];
        check(&[
            (r#"{{ .empty | default "x" }}"#, d, "x"),
            (r#"{{ .v | default "x" }}"#, d, "y"),
            (r#"{{ default "d" 0 }}"#, d, "d"),
            (r#"{{ default "d" false }}"#, d, "d"),
            (r#"{{ default "d" }}"#, d, "d"),
            (r#"{{ default "d" (list) }}"#, d, "d"),
            (
                r#"{{ empty "" }} {{ empty "a" }} {{ empty 0 }} {{ empty (dict) }}"#,
                d,
                "true false true true",
            ),
            (r#"{{ coalesce "" .empty .v "z" }}"#, d, "y"),
            (
                r#"{{ ternary "y" "n" true }}{{ ternary "y" "n" false }}"#,
                d,
                "yn",
            ),
        ]);
        let err = render(r#"{{ fail "stop here" }}"#, d).unwrap_err();
        assert!(err.to_string().contains("stop here"), "{err}");
    }

    #[test]
    fn collections_numbers_regex() {
        let d: &[(&str, &str)] = &[];
        check(&[
            (
                r#"{{ $d := dict "k" "v" }}{{ get $d "k" }} {{ hasKey $d "k" }} {{ hasKey $d "x" }}"#,
                d,
                "v true false",
            ),
            ("{{ list 1 2 3 | first }}{{ list 1 2 3 | last }}", d, "13"),
            // sprig's get answers "" for a missing key.
            (r#"[{{ get (dict "a" "b") "x" }}]"#, d, "[]"),
            // sprig's cat drops nil arguments.
            (r#"{{ cat "a" nil "b" }}"#, d, "a b"),
            (
                r#"{{ dict "a" "l1\nl2" | toYaml }}"#,
                d,
                "a: |-\n  l1\n  l2",
            ),
            // go-yaml v2 double-quotes what YAML 1.1 would read as another type; libyaml's
            // analysis single-quotes what cannot be plain.
            (
                r#"{{ dict "a" "true" "b" "" "c" "yes" "d" "1_000" "e" "- x" "f" "plain" "g" "2024-01-02" "h" "0x1F" "i" "1:20" | toYaml }}"#,
                d,
                "a: \"true\"\nb: \"\"\nc: \"yes\"\nd: \"1_000\"\ne: '- x'\nf: plain\ng: \"2024-01-02\"\nh: \"0x1F\"\ni: \"1:20\"",
            ),
            // keyList.Less: non-letters first, digit runs compared as numbers.
            (
                r#"{{ dict "a10" 1 "a2" 2 "B" 3 "_x" 4 | toYaml }}"#,
                d,
                "_x: 4\nB: 3\na2: 2\na10: 1",
            ),
            // "y" is a YAML 1.1 boolean, so go-yaml v2 quotes it even as a key.
            (
                r#"{{ dict "m" (dict "k" "v" "s" "l1\nl2") "l" (list "a" (dict "x" 1 "y" 2) (list 1 2)) "e" (dict) "z" (list) | toYaml }}"#,
                d,
                "e: {}\nl:\n- a\n- x: 1\n  \"y\": 2\n- - 1\n  - 2\nm:\n  k: v\n  s: |-\n    l1\n    l2\nz: []",
            ),
            (
                r#"{{ dict "f" 1.5 "g" 1234567.5 "h" 0.00001 | toYaml }}"#,
                d,
                "f: 1.5\ng: 1.2345675e+06\nh: 1e-05",
            ),
            (
                r#"{{ toYaml "x" }}|{{ toYaml (list) }}|{{ toYaml "true" }}"#,
                d,
                "x|[]|\"true\"",
            ),
            (r#"{{ atoi "42" | add 1 }}"#, d, "43"),
            (r#"{{ atoi "x" }}"#, d, "0"),
            (r#"{{ int "7" }} {{ int64 "8" }}"#, d, "7 8"),
            ("{{ toString 5 }}", d, "5"),
            (
                "{{ add 1 2 3 }} {{ sub 5 2 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ mod 7 2 }} {{ add1 4 }}",
                d,
                "6 3 24 3 1 5",
            ),
            (r#"{{ regexMatch "^a.c$" "abc" }}"#, d, "true"),
            (r#"{{ regexFind "[0-9]+" "ab123cd45" }}"#, d, "123"),
            (
                r#"{{ regexFindAll "[0-9]+" "a1b22c333" -1 | join "," }}"#,
                d,
                "1,22,333",
            ),
            (
                r#"{{ regexFindAll "[0-9]+" "a1b22c333" 2 | join "," }}"#,
                d,
                "1,22",
            ),
            (
                r#"{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }}"#,
                d,
                "-W-xxW-",
            ),
            (
                r#"{{ regexReplaceAllLiteral "a(x*)b" "-ab-" "$1" }}"#,
                d,
                "-$1-",
            ),
            (r#"{{ regexSplit "," "a,b,c" -1 | join "|" }}"#, d, "a|b|c"),
            (r#"{{ regexSplit "," "a,b,c" 2 | join "|" }}"#, d, "a|b,c"),
            // Go's Split documentation: s := regexp.MustCompile("a*").Split("abaabaccadaaae", 5)
            // gives ["", "b", "b", "c", "cadaaae"].
            (
                r#"{{ regexSplit "a*" "abaabaccadaaae" 5 | toJson }}"#,
                d,
                r#"["","b","b","c","cadaaae"]"#,
            ),
            // Go's allMatches drops the empty match at 4, right after "aaa" ended there:
            // FindAllString("a*", "baaac", -1) is ["" "aaa" ""].
            (
                r#"{{ regexFindAll "a*" "baaac" -1 | toJson }}"#,
                d,
                r#"["","aaa",""]"#,
            ),
            (r#"{{ regexMatch "(" "x" }}"#, d, "false"),
            (r#"{{ regexQuoteMeta "a.b*c-d" }}"#, d, r"a\.b\*c-d"),
        ]);
    }

    #[test]
    fn more_encodings_and_substrings() {
        let d: &[(&str, &str)] = &[];
        check(&[
            // RFC 4648 test vectors, which Go's StdEncoding follows.
            (
                r#"{{ b32enc "f" }}|{{ b32enc "fo" }}|{{ b32enc "foob" }}|{{ b32enc "foobar" }}"#,
                d,
                "MY======|MZXQ====|MZXW6YQ=|MZXW6YTBOI======",
            ),
            (
                r#"{{ b32dec "MZXW6YTBOI======" }}|{{ b32dec "MZXW6===" }}"#,
                d,
                "foobar|foo",
            ),
            (
                r#"{{ b32dec "MZ!W6===" }}"#,
                d,
                "illegal base32 data at input byte 2",
            ),
            (r#"{{ hexdec "68656c6c6f" }}"#, d, "hello"),
            (
                r#"{{ hexdec "6g" }}"#,
                d,
                "encoding/hex: invalid byte: U+0067 'g'",
            ),
            (
                r#"{{ hexdec "686" }}"#,
                d,
                "encoding/hex: odd length hex string",
            ),
            // adler32("Wikipedia") = 0x11E60398 = 300286872, printed in decimal by sprig.
            (r#"{{ adler32sum "Wikipedia" }}"#, d, "300286872"),
            (
                r#"{{ trunc 3 "abcdef" }}|{{ trunc -2 "abcdef" }}|{{ trunc 10 "ab" }}"#,
                d,
                "abc|ef|ab",
            ),
            (
                r#"{{ substr 1 3 "abcdef" }}|{{ substr -1 2 "abcdef" }}|{{ substr 2 -1 "abcdef" }}|{{ substr 2 99 "abcdef" }}"#,
                d,
                "bc|ab|cdef|cdef",
            ),
            (
                r#"{{ list "b" "a" "C" | sortAlpha | join "," }}"#,
                d,
                "C,a,b",
            ),
        ]);
        assert!(render(r#"{{ substr 5 2 "abc" }}"#, d).is_err());
    }

    #[test]
    fn hashes() {
        let d: &[(&str, &str)] = &[("v", "hello")];
        check(&[
            (
                "{{ .v | sha1sum }}",
                d,
                "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
            ),
            (
                "{{ .v | sha256sum }}",
                d,
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            ),
            (
                "{{ .v | sha512sum }}",
                d,
                "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043",
            ),
        ]);
    }

    const BODY_76: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\nOTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiYw==";
    const BODY_64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\nMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5f\nYGFiYw==";

    #[test]
    fn filter_pem_reencodes_matching_blocks() {
        let bundle = format!(
            "subject=CN=x\n-----BEGIN CERTIFICATE-----\n{BODY_76}\n-----END CERTIFICATE-----\n\
             -----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n\
             -----BEGIN CERTIFICATE-----\r\naGk=\r\n-----END CERTIFICATE-----\r\n"
        );
        let d: &[(&str, &str)] = &[("pem", &bundle)];
        check(&[
            (
                r#"{{ .pem | filterPEM "CERTIFICATE" }}"#,
                d,
                &format!(
                    "-----BEGIN CERTIFICATE-----\n{BODY_64}\n-----END CERTIFICATE-----\n\
                     -----BEGIN CERTIFICATE-----\naGk=\n-----END CERTIFICATE-----\n"
                ),
            ),
            // Go compares the type with strings.EqualFold.
            (
                r#"{{ .pem | filterPEM "private key" }}"#,
                d,
                "-----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n",
            ),
            // No block of that type and nothing left over: empty, no error.
            (r#"{{ .pem | filterPEM "EC PRIVATE KEY" }}"#, d, ""),
        ]);
        let err = render(r#"{{ .v | filterPEM "CERTIFICATE" }}"#, &[("v", "garbage")]).unwrap_err();
        assert!(
            err.to_string().contains("error filtering pem: found junk"),
            "{err}"
        );
    }

    #[test]
    fn unsupported_functions_fail_to_parse() {
        for f in ["genCA", "now", "randAlpha", "pkcs12key", "title", "env"] {
            let err = render(&format!("{{{{ {f} }}}}"), &[]).unwrap_err();
            assert_eq!(err.reason(), Reason::TemplateFailed, "{f}");
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
    fn no_template_keeps_fetched_data() {
        let fetched = str_map(&[("a", "1")]);
        let out = apply_template(None, fetched.clone(), &TemplateSources::default()).unwrap();
        assert_eq!(out.data, fetched);
        assert!(out.labels.is_empty() && out.annotations.is_empty() && out.type_.is_none());

        // A template with only a type and metadata keeps the fetched data too.
        let t = ExternalSecretTemplate {
            type_: Some("kubernetes.io/tls".into()),
            metadata: Some(ExternalSecretTemplateMetadata {
                labels: BTreeMap::from([("team".into(), "a".into())]),
                annotations: BTreeMap::new(),
                finalizers: Vec::new(),
            }),
            ..Default::default()
        };
        let out = apply_template(Some(&t), fetched.clone(), &TemplateSources::default()).unwrap();
        assert_eq!(out.data, fetched);
        assert_eq!(out.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(out.labels["team"], "a");
    }

    #[test]
    fn merge_policies() {
        let fetched = str_map(&[("user", "admin"), ("password", "pw")]);
        let mut t = data_template(&[("dsn", "{{ .user }}:{{ .password }}@db")]);
        let out = apply_template(Some(&t), fetched.clone(), &TemplateSources::default()).unwrap();
        assert_eq!(out.data.keys().collect::<Vec<_>>(), ["dsn"]);
        assert_eq!(out.data["dsn"].expose(), b"admin:pw@db");

        t.merge_policy = TemplateMergePolicy::Merge;
        t.data.insert("user".into(), "{{ .user | upper }}".into());
        let out = apply_template(Some(&t), fetched, &TemplateSources::default()).unwrap();
        assert_eq!(
            out.data.keys().collect::<Vec<_>>(),
            ["dsn", "password", "user"]
        );
        assert_eq!(out.data["user"].expose(), b"ADMIN");
        assert_eq!(out.data["password"].expose(), b"pw");
    }

    #[test]
    fn template_from_to_labels_alone_still_replaces_the_data() {
        // ESO's noTemplate test looks at data and templateFrom, not at their targets: a
        // templateFrom that only writes labels leaves the Secret without the fetched keys.
        let t = ExternalSecretTemplate {
            template_from: vec![TemplateFrom {
                literal: Some("team: a".into()),
                target: TemplateTarget::Labels,
                ..Default::default()
            }],
            ..Default::default()
        };
        let out = apply_template(
            Some(&t),
            str_map(&[("k", "v")]),
            &TemplateSources::default(),
        )
        .unwrap();
        assert!(out.data.is_empty());
        assert_eq!(out.labels["team"], "a");
    }

    #[test]
    fn metadata_is_templated() {
        let t = ExternalSecretTemplate {
            metadata: Some(ExternalSecretTemplateMetadata {
                labels: BTreeMap::from([("owner".into(), "{{ .user }}".into())]),
                annotations: BTreeMap::from([(
                    "checksum".into(),
                    "{{ .password | sha256sum | title }}".into(),
                )]),
                finalizers: Vec::new(),
            }),
            ..Default::default()
        };
        // `title` is not supported: the annotation fails to parse, and the error names it.
        let fetched = str_map(&[("user", "admin"), ("password", "hello")]);
        let err =
            apply_template(Some(&t), fetched.clone(), &TemplateSources::default()).unwrap_err();
        assert!(
            matches!(&err, RenderError::Template { key, .. } if key == "checksum"),
            "{err}"
        );

        let mut t = t;
        t.metadata.as_mut().unwrap().annotations.insert(
            "checksum".into(),
            "{{ .password | sha256sum | trunc 8 }}".into(),
        );
        let out = apply_template(Some(&t), fetched, &TemplateSources::default()).unwrap();
        assert_eq!(out.labels["owner"], "admin");
        assert_eq!(out.annotations["checksum"], "2cf24dba");
    }

    fn item(key: &str, scope: TemplateScope) -> TemplateRefItem {
        TemplateRefItem {
            key: key.into(),
            template_as: scope,
        }
    }

    #[test]
    fn template_from_sources_targets_and_order() {
        let sources = TemplateSources {
            config_maps: BTreeMap::from([(
                "tpl".into(),
                BTreeMap::from([
                    ("config.yaml".into(), "user: {{ .user }}".into()),
                    (
                        "multi".into(),
                        "{{ .user }}-key: \"{{ .password }}\"\nempty:\nlit: plain".into(),
                    ),
                ]),
            )]),
            secrets: BTreeMap::from([(
                "stpl".into(),
                BTreeMap::from([(
                    "token".into(),
                    SecretBytes::from("t-{{ .password }}".to_owned()),
                )]),
            )]),
        };
        let t = ExternalSecretTemplate {
            template_from: vec![
                TemplateFrom {
                    config_map: Some(TemplateRef {
                        name: "tpl".into(),
                        items: vec![
                            item("config.yaml", TemplateScope::Values),
                            item("multi", TemplateScope::KeysAndValues),
                        ],
                    }),
                    ..Default::default()
                },
                TemplateFrom {
                    secret: Some(TemplateRef {
                        name: "stpl".into(),
                        items: vec![item("token", TemplateScope::Values)],
                    }),
                    ..Default::default()
                },
                TemplateFrom {
                    literal: Some("app: \"{{ .user }}\"".into()),
                    target: TemplateTarget::Labels,
                    ..Default::default()
                },
                TemplateFrom {
                    literal: Some("note: \"by {{ .user }}\"".into()),
                    target: TemplateTarget::Annotations,
                    ..Default::default()
                },
            ],
            // template.data wins over templateFrom for the same key.
            data: BTreeMap::from([("lit".into(), "from data".into())]),
            ..Default::default()
        };
        let fetched = str_map(&[("user", "admin"), ("password", "pw")]);
        let out = apply_template(Some(&t), fetched, &sources).unwrap();
        let got: BTreeMap<&str, &[u8]> = out
            .data
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        assert_eq!(
            got,
            BTreeMap::from([
                ("admin-key", &b"pw"[..]),
                ("config.yaml", b"user: admin"),
                ("empty", b""),
                ("lit", b"from data"),
                ("token", b"t-pw"),
            ])
        );
        assert_eq!(out.labels, BTreeMap::from([("app".into(), "admin".into())]));
        assert_eq!(
            out.annotations,
            BTreeMap::from([("note".into(), "by admin".into())])
        );
    }

    #[test]
    fn template_from_errors() {
        let fetched = str_map(&[("n", "5")]);
        let with = |from: TemplateFrom, sources: &TemplateSources| {
            let t = ExternalSecretTemplate {
                template_from: vec![from],
                ..Default::default()
            };
            apply_template(Some(&t), fetched.clone(), sources).unwrap_err()
        };
        let cm = |items| TemplateFrom {
            config_map: Some(TemplateRef {
                name: "tpl".into(),
                items,
            }),
            ..Default::default()
        };
        let err = with(
            cm(vec![item("k", TemplateScope::Values)]),
            &TemplateSources::default(),
        );
        assert_eq!(
            err,
            RenderError::TemplateSourceMissing {
                kind: "ConfigMap",
                name: "tpl".into(),
                key: None
            }
        );
        assert_eq!(err.reason(), Reason::TemplateFailed);
        let sources = TemplateSources {
            config_maps: BTreeMap::from([(
                "tpl".into(),
                BTreeMap::from([("num".into(), "port: {{ .n }}".into())]),
            )]),
            ..Default::default()
        };
        let err = with(cm(vec![item("k", TemplateScope::Values)]), &sources);
        assert_eq!(
            err.to_string(),
            r#"templateFrom ConfigMap "tpl" has no key "k""#
        );
        // ESO unmarshals into map[string]string: a number value is an error.
        let err = with(
            cm(vec![item("num", TemplateScope::KeysAndValues)]),
            &sources,
        );
        assert!(err.to_string().contains("not a string"), "{err}");
        let err = with(
            TemplateFrom {
                literal: Some("- a\n- b".into()),
                ..Default::default()
            },
            &sources,
        );
        assert!(err.to_string().contains("not a map"), "{err}");
    }

    #[test]
    fn privileged_templates_are_refused() {
        let sa = |annotations: &[(&str, &str)], from: Vec<TemplateFrom>| ExternalSecretTemplate {
            type_: Some(SA_TOKEN_TYPE.into()),
            metadata: Some(ExternalSecretTemplateMetadata {
                annotations: annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                labels: BTreeMap::new(),
                finalizers: Vec::new(),
            }),
            template_from: from,
            ..Default::default()
        };
        let run = |t: &ExternalSecretTemplate| {
            apply_template(Some(t), BTreeMap::new(), &TemplateSources::default())
        };
        let err = run(&sa(&[(SA_NAME_ANNOTATION, "default")], vec![])).unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidSpec);
        let to_annotations = TemplateFrom {
            literal: Some("a: b".into()),
            target: TemplateTarget::Annotations,
            ..Default::default()
        };
        assert!(run(&sa(&[], vec![to_annotations])).is_err());
        assert!(run(&sa(&[("other", "x")], vec![])).is_ok());
        let boot = ExternalSecretTemplate {
            type_: Some(BOOTSTRAP_TOKEN_TYPE.into()),
            ..Default::default()
        };
        assert!(run(&boot).is_err());
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

    #[test]
    fn byte_escaping_round_trips() {
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(tstr_to_bytes(&bytes_to_tstr(&all)), all);
        let text = "plain ascii and ünïcödé";
        assert_eq!(bytes_to_tstr(text.as_bytes()), text);
    }
}
