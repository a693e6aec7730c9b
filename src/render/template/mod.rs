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
//! same bytes by the byte-aware functions and the output ([`values`]). The 128 characters below
//! them carry hidden text that prints as nothing: a date keeps its instant and zone that way.
//!
//! Secret values never reach an error message: an engine error that quotes the data shows it as
//! `map[<data>]`, and every occurrence of a value (4 bytes or more) is replaced by `<redacted>`;
//! the functions that read a value (dates, durations, keys, certificates, PKCS#12) say what is
//! wrong without quoting it.
//!
//! # Files
//!
//! This file: the rules above. [`engine`]: rendering (with a 10 s deadline), redaction, the
//! function table; [`literals`]: the template's string and character literals read by Go's rules
//! (gtmpl-ng's own reading loops, panics or differs on some).
//! [`values`]: bytes in engine strings, argument helpers. One file per function family:
//! [`strings`], [`text`], [`encoding`], [`json`], [`yaml`], [`defaults`], [`collections`]
//! (dicts), [`lists`], [`numbers`], [`regex`], [`paths`], [`dates`] (with [`gotime`], Go's
//! layouts and durations), [`crypto`] (hashes, bcrypt, derivePassword, decryptAES, the refused
//! generators), [`pem`], [`certs`], [`keys`] (JWK, RSA, private keys), [`pkcs12`], [`semver`]
//! (with [`masterminds`], Masterminds/semver's rules), [`urls`] (with [`gourl`], Go's
//! `net/url`). Test data: `testdata/`.
//!
//! # Functions
//!
//! ESO's function map is its sprig fork (sprig v3.3 less `env`, `expandenv` and
//! `getHostByName`) plus its own functions. Each supported function is tested, beside its code,
//! against the output Go gives: run with ESO's sprig fork and its libraries (spf13/cast v1.10,
//! goutils, xstrings v1.5, mergo v1, shopspring/decimal) or worked out from their sources; each
//! test states the Go template. Functions Go sprig does not have fail to parse ("function …
//! not defined"), as in ESO.
//!
//! | Function | Status | Notes |
//! |---|---|---|
//! | Go builtins `and or not eq ne lt le gt ge len print printf println urlquery html js slice` | supported | gtmpl-ng's; `len` counts bytes; `slice` is Go's builtin, where ESO's sprig `slice` (lists only) replaces it — `mustSlice` is sprig's |
//! | `index` | supported | missing key of the data → `""` as Go; other maps → `<no value>` |
//! | `b64enc b64dec b32enc b32dec hexdec` | supported | byte-exact; invalid input renders Go's error text, as sprig does (`b64dec`'s offset best effort for padding errors) |
//! | `upper lower title untitle swapcase` | supported | Go's per-character mappings (a character whose upper case is several characters, `ß`, is kept); `title` is `strings.Title`, the others goutils' |
//! | `trim trimPrefix trimSuffix trimAll trimall nospace` | supported | `trimAll` takes a set of characters, as Go's `strings.Trim` |
//! | `quote squote cat replace indent nindent repeat contains hasPrefix hasSuffix` | supported | variadic `quote`/`squote`/`cat` skip nil; `quote` is Go's `%q` |
//! | `join split splitList splitn toStrings sortAlpha` | supported | `split` gives sprig's map `_0`, `_1`, … |
//! | `trunc substr abbrev abbrevboth initials wrap wrapWith` | supported | count bytes, as Go and goutils do |
//! | `snakecase kebabcase camelcase plural hello` | supported | xstrings v1.5 (`camelcase` is its `ToPascalCase`) |
//! | `toJson toRawJson toPrettyJson mustToJson mustToRawJson mustToPrettyJson fromJson mustFromJson` | supported | sorted keys; `toJson` escapes `<>&` as `encoding/json`; `fromJson` of invalid JSON is nil; a date is RFC 3339 |
//! | `toYaml fromYaml` | supported | ESO's own: go-yaml v2's style (key order, quoting) without the final newline; `fromYaml` puts a parse error under `Error` |
//! | `default empty coalesce all any ternary fail` | supported | sprig's `empty` |
//! | `typeOf typeIs typeIsLike kindOf kindIs deepEqual` | supported | Go's names for what templates make (`int`, `float64`, `string`, `[]interface {}`, `map[string]interface {}`, `time.Time`); see the differences below |
//! | `dict get set unset hasKey keys values pick omit pluck dig merge mustMerge mergeOverwrite mustMergeOverwrite deepCopy mustDeepCopy` | supported | mergo v1's merge rules; `keys`/`values` in key order (Go's is random); see the differences below |
//! | `list tuple first mustFirst last mustLast rest mustRest initial mustInitial append push mustAppend mustPush prepend mustPrepend concat reverse mustReverse uniq mustUniq without mustWithout has mustHas compact mustCompact chunk mustChunk mustSlice` | supported | `reflect.DeepEqual` for `uniq`/`without`/`has`; a non-list is an error in both forms (sprig's plain form panics) |
//! | `atoi int int64 float64 toString toDecimal` | supported | spf13/cast v1.10: `int "3.7"` is 3, `int "0x10"` 16, unreadable 0; `atoi` of a non-integer is 0 |
//! | `add add1 sub mul div mod max biggest min` | supported | int64 arithmetic, wrapping as Go; division by 0 is an error |
//! | `addf add1f subf mulf divf maxf minf floor ceil round` | supported | shopspring/decimal on each float's shortest decimal (`addf 1.1 2.2` = 3.3; `divf` to 16 places) |
//! | `until untilStep seq` | supported | bounded by the engine's iteration limit |
//! | `regexMatch mustRegexMatch regexFind mustRegexFind regexFindAll mustRegexFindAll regexReplaceAll mustRegexReplaceAll regexReplaceAllLiteral mustRegexReplaceAllLiteral regexSplit mustRegexSplit regexQuoteMeta` | supported | sprig's argument order; Go's RE2 meaning (ASCII `\d \w \s \b`, `\Q…\E`), see [`super::rewrite`]; `regexMatch` of an invalid regexp is `false` |
//! | `base dir clean ext isAbs osBase osDir osClean osExt osIsAbs` | supported | Go's `path` (Linux's `filepath` is the same) |
//! | `sha1sum sha256sum sha512sum adler32sum` | supported | hash of the bytes, lowercase hex (`adler32sum` in decimal) |
//! | `bcrypt htpasswd` | supported | `$2a$` at cost 10; `htpasswd user password "sha"\|"bcrypt"` (ESO's three arguments); salted, so the Secret changes on every render, as in ESO |
//! | `now date dateInZone date_in_zone htmlDate htmlDateInZone toDate mustToDate dateModify date_modify mustDateModify must_date_modify duration durationRound ago unixEpoch` | supported | Go's reference-time layouts (`2006-01-02 15:04:05`), IANA zones (jiff); `now`/`ago` change on every render, as in ESO, so a Secret using them is rewritten on every refresh; see the differences below |
//! | `filterPEM` | supported | Go's `pem.Decode`/`pem.Encode`: blocks re-encoded at 64 columns |
//! | `filterCertChain certSANs` | supported | ESO's chain order by key ids (nothing verified); SANs as DNS, IP, email, URI |
//! | `jwkPublicKeyPem jwkPrivateKeyPem` | supported | RSA, EC (P-256/384/521), OKP (Ed25519, X25519) → PKIX / PKCS#8 PEM as Go marshals; a private JWK to `jwkPublicKeyPem` is an error, as in ESO |
//! | `rsaDecrypt` | supported | `rsaDecrypt "RSA-OAEP"\|"None" "SHA1"\|"SHA256"\|"SHA512" ciphertext keyPem`, OAEP without label, raw ciphertext (`b64dec` it) |
//! | `pkcs12key pkcs12keyPass pkcs12cert pkcs12certPass` | supported | reads legacy (RC2-40/3DES, SHA-1 MAC), modern (PBES2 AES, SHA-2 MAC) and unencrypted files; key as Go's PKCS#8, certificates ordered leaf → root |
//! | `pemToPkcs12 pemToPkcs12Pass fullPemToPkcs12 fullPemToPkcs12Pass pemTruststoreToPKCS12 pemTruststoreToPKCS12Pass` | supported | go-pkcs12 `Modern`'s algorithms (AES-256, HMAC-SHA-256, 2048 iterations), base64; salted, so it changes on every render, as in ESO |
//! | `randAlpha randAlphaNum randAscii randNumeric randInt randBytes uuidv4 shuffle genPrivateKey genCA genCAWithKey genSelfSignedCert genSelfSignedCertWithKey genSignedCert genSignedCertWithKey buildCustomCert encryptAES` | refused | fail naming the function: "a synced Secret must not change on every refresh" |
//! | `semverCompare semver` | supported | Masterminds/semver v3.4.0's rules (`^ ~ x * -` ranges, `\|\|`, commas, `v` prefix, partial versions, prereleases only where a constraint names one); `semver` gives a map, see the differences below |
//! | `urlParse urlJoin` | supported | Go 1.26's `net/url`: `urlParse` gives `scheme host hostname path query opaque fragment userinfo` (path and fragment decoded, query raw), `urlJoin` prints a dict of them as `URL.String` does |
//! | `derivePassword decryptAES` | supported | sprig's Master Password (scrypt N 32768, HMAC-SHA-256; each call costs an scrypt); `decryptAES` reads `encryptAES`'s AES-256-CBC (IV first, base64), padding unchecked as in Go |
//! | `env expandenv getHostByName` | not defined | removed by ESO |
//!
//! Known differences from Go, and why:
//!
//! - A template value is a value, not a Go reference: `set`, `unset`, `merge` and
//!   `mergeOverwrite` return the changed dict but leave the one they were given as it was, so
//!   `{{ $_ := set $d "k" "v" }}` does not change `$d` (write `{{ $d = set $d "k" "v" }}`).
//! - A value does not remember a narrower Go type: Go's `int` and `int64` are one kind of
//!   integer (`typeOf (add 1 2)` is `int`, Go `int64`; `duration 95` is `1m35s` where Go, which
//!   reads only an `int64` there, gives `0s`), `splitList` gives `[]interface {}` (Go
//!   `[]string`), and the data is `map[string]interface {}` (Go `map[string]string`).
//! - `keys` and `values` come in key order, Go's in random order; `rest`, `initial` and
//!   `concat` of nothing give an empty list where Go gives nil (`null` in `toJson`).
//! - Dates: `now` does not print Go's monotonic clock reading (` m=+0.001`); parse and duration
//!   errors do not quote the text (it may be a secret); a zone abbreviation in parsed text is
//!   the local zone's only when the local zone has it at that instant, else (as Go for an
//!   unknown one) a zone of that name at offset 0.
//! - PKCS#12: the bytes differ from go-pkcs12's (random salts, and `p12-keystore` adds friendly
//!   names); a file with more than two authenticated safes is read where go-pkcs12 refuses it;
//!   the empty password is tried only as go-pkcs12's first form (two zero bytes), not also as
//!   an absent password.
//! - A missing key in a map made by `dict` renders `<no value>` where ESO's `missingkey=error`
//!   stops (maps from `fromJson`/`fromYaml` do stop), and `index` of a missing key in a
//!   `fromJson` map is `""` where Go prints `<no value>`.
//! - `semver` gives a map with the fields `Major Minor Patch Prerelease Metadata Original` and
//!   the methods without arguments `String IncMajor IncMinor IncPatch`: printed whole it shows
//!   the map (Go prints `1.2.3`), `toJson` of it is an error, and methods with an argument
//!   (`Compare`, `LessThan`, …) cannot be called — gtmpl-ng calls a method with its receiver
//!   only. `derivePassword` takes any integer from 0 to 2³²−1 as its counter, where Go's
//!   template takes only an integer constant there.
//! - `toYaml` does not fold scalars longer than 80 columns as go-yaml v2 does; `fromYaml` reads
//!   YAML 1.2 (`yes` is a string), Go YAML 1.1 (`yes` is `true`) — the same holds for a
//!   `KeysAndValues` result, so `key: yes` is accepted here where ESO refuses a boolean.

mod certs;
mod collections;
mod crypto;
mod dates;
mod defaults;
mod encoding;
mod engine;
mod gotime;
mod gourl;
mod json;
mod keys;
mod lists;
mod literals;
mod masterminds;
mod numbers;
mod paths;
mod pem;
mod pkcs12;
mod regex;
mod semver;
mod strings;
#[cfg(test)]
mod testing;
mod text;
mod urls;
mod values;
mod yaml;

use std::collections::BTreeMap;

use super::RenderError;
use super::decode::decode;
use crate::api::externalsecret::{
    ExternalSecretTemplate, TemplateFrom, TemplateMergePolicy, TemplateScope, TemplateTarget,
};
use crate::value::SecretBytes;
use engine::DataEngine;
pub(crate) use engine::render_text;
use values::bytes_to_tstr;

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
    crate::render::metadata::check(&out.data, &out.labels, &out.annotations, |t| {
        engine.redact(t)
    })?;
    Ok(out)
}

/// The templates of `tpl` written in the spec (data, labels, annotations, `templateFrom`
/// literals) that do not parse, by field path (`spec.target.template.data.config`), without
/// rendering anything: what `stagesync check` reports offline.
pub fn syntax_errors(tpl: &ExternalSecretTemplate) -> Vec<(String, String)> {
    const AT: &str = "spec.target.template";
    let meta = tpl.metadata.clone().unwrap_or_default();
    let texts = tpl
        .data
        .iter()
        .map(|(k, t)| (format!("{AT}.data.{k}"), t))
        .chain(
            meta.labels
                .iter()
                .map(|(k, t)| (format!("{AT}.metadata.labels.{k}"), t)),
        )
        .chain(
            meta.annotations
                .iter()
                .map(|(k, t)| (format!("{AT}.metadata.annotations.{k}"), t)),
        )
        .chain(tpl.template_from.iter().enumerate().filter_map(|(i, f)| {
            f.literal
                .as_ref()
                .map(|t| (format!("{AT}.templateFrom[{i}].literal"), t))
        }));
    let mut out = Vec::new();
    for (field, text) in texts {
        if let Err(e) = engine::parse_text(&field, text) {
            out.push((field, e));
        }
    }
    if let Err(e) = check_privileged(tpl) {
        out.push((AT.to_owned(), e.to_string()));
    }
    out
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
            apply_item(engine, &at, &item.key, text, item.template_as, from, out)?;
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
            let text = zeroize::Zeroizing::new(bytes_to_tstr(raw.expose()));
            let at = format!("templateFrom[{index}].secret {}/{}", sec.name, item.key);
            apply_item(engine, &at, &item.key, &text, item.template_as, from, out)?;
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
            from,
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
    from: &TemplateFrom,
    out: &mut RenderedSecret,
) -> Result<(), RenderError> {
    // `valuesDecodingStrategy` decodes each rendered value, whatever its target (as ESO).
    let strategy = from.values_decoding_strategy.unwrap_or_default();
    let decoded = |k: &str, v: Vec<u8>| -> Result<Vec<u8>, RenderError> {
        decode(&format!("{at} {k}"), SecretBytes::from(v), strategy).map(SecretBytes::into_exposed)
    };
    match scope {
        TemplateScope::Values => {
            let bytes = engine.render(at, text)?;
            put(out, from.target, key.to_owned(), decoded(key, bytes)?);
        }
        TemplateScope::KeysAndValues => {
            let bytes = SecretBytes::from(engine.render(at, text)?);
            for (k, v) in engine.yaml_string_map(at, bytes.expose())? {
                let v = decoded(&k, v.into_bytes())?;
                put(out, from.target, k, v);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Reason;
    use crate::api::externalsecret::{
        ExternalSecretTemplateMetadata, TemplateRef, TemplateRefItem,
    };
    use testing::*;

    #[test]
    fn syntax_errors_name_each_template_without_rendering() {
        let mut t = data_template(&[("ok", "{{ .a }}"), ("bad", "{{ .a ")]);
        t.metadata = Some(ExternalSecretTemplateMetadata {
            labels: BTreeMap::from([("team".into(), "{{ nosuchfunc .a }}".into())]),
            ..Default::default()
        });
        let errors = syntax_errors(&t);
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.target.template.data.bad",
                "spec.target.template.metadata.labels.team"
            ]
        );
        // `.missing` is an execution error (missing key), not a syntax error.
        assert!(syntax_errors(&data_template(&[("k", "{{ .missing }}")])).is_empty());
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
                    "{{ .password | sha256sum | env }}".into(),
                )]),
                finalizers: Vec::new(),
            }),
            ..Default::default()
        };
        // `env` is not in ESO's function map: the annotation fails to parse, and the error names it.
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
    fn values_decoding_strategy_decodes_each_rendered_value() {
        let fetched = str_map(&[("b64", "aGVsbG8=")]);
        let t = ExternalSecretTemplate {
            template_from: vec![
                TemplateFrom {
                    literal: Some("greeting: \"{{ .b64 }}\"".into()),
                    values_decoding_strategy: Some(
                        crate::api::externalsecret::DecodingStrategy::Base64,
                    ),
                    ..Default::default()
                },
                TemplateFrom {
                    literal: Some("kept: \"{{ .b64 }}\"".into()),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let out = apply_template(Some(&t), fetched.clone(), &TemplateSources::default()).unwrap();
        assert_eq!(out.data["greeting"].expose(), b"hello");
        assert_eq!(out.data["kept"].expose(), b"aGVsbG8=");
        let bad = ExternalSecretTemplate {
            template_from: vec![TemplateFrom {
                literal: Some("x: \"not base64!\"".into()),
                values_decoding_strategy: Some(
                    crate::api::externalsecret::DecodingStrategy::Base64,
                ),
                ..Default::default()
            }],
            ..Default::default()
        };
        let err = apply_template(Some(&bad), fetched, &TemplateSources::default()).unwrap_err();
        assert_eq!(err.reason(), Reason::DecodingFailed);
        assert!(!err.to_string().contains("not base64"), "{err}");
    }
}
