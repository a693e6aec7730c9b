//! The rows of the bad-input table, in the order printed (`rows.rs` says what a row is).

use futures::FutureExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use stagesync::api::Reason;
use stagesync::api::secretstore::ClusterSecretStore;

use crate::rows::*;
use crate::support::objects::*;

const JSON_USER: &str = r#"{"user":"admin","password":"pw-one"}"#;
const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
/// Bytes that are not UTF-8 (and hold no NUL).
const BINARY: &[u8] = &[0xff, 0xfe, 0x80, b'A'];

/// Every row of the table, in the order printed.
pub fn cases() -> Vec<Case> {
    let mut rows = admission();
    rows.extend(values());
    rows.extend(templates());
    rows.extend(bulk());
    rows.extend(aws_states());
    rows.extend(ownership());
    rows.extend(stores());
    rows
}

/// Refused by the CRD schema (OpenAPI and CEL): the API server answers 422 and nothing exists.
fn admission() -> Vec<Case> {
    vec![
        row("refresh-words", "`refreshInterval: 1 hour`")
            .spec(|c| es(json!({"refreshInterval": "1 hour", "data": [entry("v", &c.key("x"), json!({}))]})))
            .refused("spec.refreshInterval: Invalid value: \"1 hour\"")
            .why("a Go duration is required, as ESO; the CRD's pattern refuses it before any reconcile"),
        row("refresh-days", "a synced ExternalSecret changed to `refreshInterval: 1d`")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), "day-one").await; }.boxed())
            .good(|c| reads(c, "db", json!({})))
            .spec(|c| {
                let mut s = reads(c, "db", json!({}));
                s["refreshInterval"] = json!("1d");
                s
            })
            .refused("spec.refreshInterval: Invalid value: \"1d\"")
            .why("Go durations have no days; the change is refused, the ExternalSecret keeps its spec and the Secret its data"),
        row("stage-and-id", "`versionStage` and `versionId` both set")
            .spec(|c| reads(c, "x", json!({"versionStage": "AWSPREVIOUS", "versionId": "00000000-0000-4000-8000-000000000001"})))
            .refused("versionStage and versionId are mutually exclusive")
            .why("one reference reads one version: a CEL rule refuses the pair"),
        row("version-and-stage", "ESO's `version` with `versionStage`")
            .spec(|c| reads(c, "x", json!({"version": "AWSCURRENT", "versionStage": "AWSPREVIOUS"})))
            .refused("version (ESO syntax) cannot be combined with versionStage or versionId")
            .why("ESO's `version` is accepted for migration, but never beside the explicit fields"),
        row("version-id-short", "`versionId: v1` (not a version id)")
            .spec(|c| reads(c, "x", json!({"versionId": "v1"})))
            .refused("spec.data[0].remoteRef.versionId: Invalid value: \"v1\"")
            .why("AWS version ids are 32 to 64 characters; the schema says so"),
        row("empty-key", "`remoteRef.key: \"\"`")
            .spec(|_| es(json!({"data": [entry("v", "", json!({}))]})))
            .refused("spec.data[0].remoteRef.key: Invalid value: \"\"")
            .why("AWS secret names have at least one character"),
        row("secret-key-slash", "`secretKey: db/password`")
            .spec(|c| es(json!({"data": [entry("db/password", &c.key("x"), json!({}))]})))
            .refused("spec.data[0].secretKey: Invalid value: \"db/password\"")
            .why("Secret keys match `[-._a-zA-Z0-9]+`; the schema refuses the key before a Secret could"),
        row("secret-key-twice", "two `data` entries with the same `secretKey`")
            .spec(|c| es(json!({"data": [entry("v", &c.key("a"), json!({})), entry("v", &c.key("b"), json!({}))]})))
            .fails(Reason::InvalidSpec, "duplicate secretKey found: v")
            .why("one of the two values would be lost: ESO's webhook refuses it with this message; no CEL rule is affordable, so the operator refuses it before reading anything"),
        row("target-name-invalid", "`target.name: Bad_Name`")
            .spec(|c| {
                let mut s = reads(c, "x", json!({}));
                s["target"] = json!({"name": "Bad_Name"});
                s
            })
            .refused("spec.target.name: Invalid value: \"Bad_Name\"")
            .why("a Secret name is a DNS subdomain; no Secret could ever be written"),
        row("extract-and-find", "one `dataFrom` entry with both `extract` and `find`")
            .spec(|c| es(json!({"dataFrom": [{"extract": {"key": c.key("x")}, "find": {"path": c.key("")}}]})))
            .refused("extract, find, or generatorRef cannot be set at the same time")
            .why("the entry's meaning would be ambiguous; a CEL rule refuses it"),
        row("arn-malformed", "`remoteRef.key: arn:aws:secretsmanager:us-east-1:123456789012:secret` (an ARN without a name)")
            .spec(|_| es(json!({"data": [entry("v", "arn:aws:secretsmanager:us-east-1:123456789012:secret", json!({}))]})))
            .refused("spec.data[0].remoteRef: Invalid value: key starts with arn: but is not a Secrets Manager secret ARN")
            .why("a key starting with `arn:` must be a whole Secrets Manager secret ARN; a CEL rule refuses a broken one"),
    ]
}

/// Values that cannot be shaped as asked.
fn values() -> Vec<Case> {
    vec![
        row("key-missing", "`remoteRef.key` names no AWS secret")
            .spec(|c| reads(c, "never-created", json!({})))
            .fails(Reason::SecretNotFound, "never-created")
            .why("AWS answers ResourceNotFoundException"),
        row("key-malformed", "`remoteRef.key: \"db password!\"` (characters AWS names cannot hold)")
            .spec(|_| es(json!({"data": [entry("v", "db password!", json!({}))]})))
            .fails(Reason::SecretNotFound, "db password!")
            .why("no AWS secret can have that name, and AWS says it does not exist"),
        row("property-missing", "a synced ExternalSecret changed to a `property` the JSON lacks")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), JSON_USER).await; }.boxed())
            .good(|c| reads(c, "db", json!({"property": "user"})))
            .spec(|c| reads(c, "db", json!({"property": "token"})))
            .fails(Reason::PropertyNotFound, "has no property \"token\"")
            .why("gjson finds nothing; the Secret keeps the value of the spec that worked"),
        row("property-into-string", "`property: db.host` where `db` is a string")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), r#"{"db":"db.internal"}"#).await; }.boxed())
            .spec(|c| reads(c, "db", json!({"property": "db.host"})))
            .fails(Reason::PropertyNotFound, "has no property \"db.host\"")
            .why("a path cannot go into a string"),
        row("property-array-index", "`property: hosts.1.name` through an array")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), r#"{"hosts":[{"name":"a"},{"name":"b"}]}"#).await; }.boxed())
            .spec(|c| reads(c, "db", json!({"property": "hosts.1.name"})))
            .syncs(&[("v", b"b")], "is synced")
            .why("gjson (ESO's path syntax) indexes arrays by number"),
        row("property-array-field", "`property: hosts.name` through an array without an index")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), r#"{"hosts":[{"name":"a"},{"name":"b"}]}"#).await; }.boxed())
            .spec(|c| reads(c, "db", json!({"property": "hosts.name"})))
            .fails(Reason::PropertyNotFound, "has no property \"hosts.name\"")
            .why("an array has no field `name` (gjson needs `hosts.1.name` or `hosts.#.name`)"),
        row("property-escaped-dot", r"`property: db\.host` with keys `db.host` and `db` both present")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), r#"{"db.host":"dotted","db":{"host":"nested"}}"#).await; }.boxed())
            .spec(|c| reads(c, "db", json!({"property": r"db\.host"})))
            .syncs(&[("v", b"dotted")], "is synced")
            .why("an escaped dot is part of the key name, as in gjson"),
        row("property-dotted-key", "`property: db.host` with keys `db.host` and `db` both present")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), r#"{"db.host":"dotted","db":{"host":"nested"}}"#).await; }.boxed())
            .spec(|c| reads(c, "db", json!({"property": "db.host"})))
            .syncs(&[("v", b"dotted")], "is synced")
            .why("ESO tries the whole dotted name as one key before the path, so a migrated manifest reads the same value"),
        row("property-escaped-missing", r"`property: db\.host` where only `db` (an object) exists")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), r#"{"db":{"host":"nested"}}"#).await; }.boxed())
            .spec(|c| reads(c, "db", json!({"property": r"db\.host"})))
            .fails(Reason::PropertyNotFound, r#"has no property "db\\.host""#)
            .why("an escaped dot never falls back to the path"),
        row("json-duplicate-property", r#"`property: k` of `{"k":"first","k":"last"}`"#)
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), r#"{"k":"first","k":"last"}"#).await; }.boxed())
            .spec(|c| reads(c, "db", json!({"property": "k"})))
            .syncs(&[("v", b"first")], "is synced")
            .why("ESO reads properties with gjson, which stops at the first match"),
        row("json-duplicate-extract", r#"`dataFrom.extract` of `{"k":"first","k":"last"}`"#)
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), r#"{"k":"first","k":"last"}"#).await; }.boxed())
            .spec(|c| es(json!({"dataFrom": [{"extract": {"key": c.key("db")}}]})))
            .syncs(&[("k", b"last")], "is synced")
            .why("ESO extracts with Go's encoding/json, where the last duplicate wins"),
        row("not-json-property", "a synced `property` read, then AWS rotates to a value that is not JSON")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), JSON_USER).await; }.boxed())
            .good(|c| reads(c, "db", json!({"property": "user"})))
            .step(|c| async move { put_current(c.aws(), &c.key("db"), "plain text, not JSON").await; }.boxed())
            .fails(Reason::InvalidJSON, "is not valid JSON")
            .why("a property needs JSON; the Secret keeps the last good value"),
        row("binary-property", "`property` of a binary (non-UTF-8) secret")
            .setup(|c| async move { create_binary(c.aws(), &c.key("bin"), BINARY).await; }.boxed())
            .spec(|c| reads(c, "bin", json!({"property": "a"})))
            .fails(Reason::InvalidJSON, "is not valid JSON")
            .why("bytes that are not UTF-8 are not JSON"),
        row("extract-not-object", "`dataFrom.extract` of `[1,2]`")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), "[1,2]").await; }.boxed())
            .spec(|c| es(json!({"dataFrom": [{"extract": {"key": c.key("db")}}]})))
            .fails(Reason::InvalidJSON, "is not a JSON object")
            .why("only an object has keys to extract"),
        row("extract-nested", r#"`dataFrom.extract` of `{"db": {"port": 5432, "host": "h"}, "user": "u"}`"#)
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), r#"{"db": {"port": 5432, "host": "h"}, "user": "u"}"#).await; }.boxed())
            .spec(|c| es(json!({"dataFrom": [{"extract": {"key": c.key("db")}}]})))
            .syncs(&[("db", br#"{"port": 5432, "host": "h"}"#), ("user", b"u")], "is synced")
            .why("ESO writes a nested value as its JSON text exactly as stored (Go's json.RawMessage): same order, same spacing"),
        row("decoding-failed", "`decodingStrategy: Base64` of a value that is not base64")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), "not base64!").await; }.boxed())
            .spec(|c| reads(c, "db", json!({"decodingStrategy": "Base64"})))
            .fails(Reason::DecodingFailed, "is not valid base64")
            .why("the value cannot be decoded as asked"),
        row("null-bytes", "`nullBytePolicy: Fail` and a binary value holding NUL")
            .setup(|c| async move { create_binary(c.aws(), &c.key("bin"), b"a\0b").await; }.boxed())
            .spec(|c| reads(c, "bin", json!({"nullBytePolicy": "Fail"})))
            .fails(Reason::NullBytesRefused, "contains null bytes")
            .why("the policy refuses NUL bytes, naming the key"),
        row("half-written", "two secrets synced into one Secret; AWS rotates one fine and the other without its property")
            .setup(|c| async move {
                create_aws(c.aws(), &c.key("a"), r#"{"x":"a-one"}"#).await;
                create_aws(c.aws(), &c.key("b"), r#"{"y":"b-one"}"#).await;
            }.boxed())
            .good(|c| es(json!({"data": [
                entry("a", &c.key("a"), json!({"property": "x"})),
                entry("b", &c.key("b"), json!({"property": "y"})),
            ]})))
            .step(|c| async move {
                // The bad one first: no moment in between holds a good pair with `a-two`.
                put_current(c.aws(), &c.key("b"), r#"{"z":"b-two"}"#).await;
                put_current(c.aws(), &c.key("a"), r#"{"x":"a-two"}"#).await;
            }.boxed())
            .fails(Reason::PropertyNotFound, "has no property \"y\"")
            .why("a Secret is written whole or not at all: `a` does not move to its new value alone"),
        row("data-over-extract", "a `data` entry and a `dataFrom.extract` producing the same key")
            .setup(|c| async move {
                create_aws(c.aws(), &c.key("all"), r#"{"k":"from-extract","other":"o"}"#).await;
                create_aws(c.aws(), &c.key("one"), "from-data").await;
            }.boxed())
            .spec(|c| es(json!({
                "dataFrom": [{"extract": {"key": c.key("all")}}],
                "data": [entry("k", &c.key("one"), json!({}))],
            })))
            .syncs(&[("k", b"from-data"), ("other", b"o")], "is synced")
            .why("ESO's documented precedence: `data` wins over every `dataFrom` key"),
    ]
}

/// Templates.
fn templates() -> Vec<Case> {
    vec![
        row("binary-template", "a binary (non-UTF-8) value used by a text template `blob={{ .bin }}`")
            .setup(|c| async move { create_binary(c.aws(), &c.key("bin"), BINARY).await; }.boxed())
            .spec(|c| es(json!({
                "data": [entry("bin", &c.key("bin"), json!({}))],
                "target": {"template": {"data": {"blob": "blob={{ .bin }}"}}},
            })))
            .syncs(&[("blob", b"blob=\xff\xfe\x80A")], "is synced")
            .why("Go strings hold any bytes: ESO writes the same bytes, and so does stagesync"),
        row("template-syntax", "a synced template changed to `{{ .user `")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), JSON_USER).await; }.boxed())
            .good(|c| es(json!({
                "data": [entry("user", &c.key("db"), json!({"property": "user"}))],
                "target": {"template": {"data": {"dsn": "user={{ .user }}"}}},
            })))
            .spec(|c| es(json!({
                "data": [entry("user", &c.key("db"), json!({"property": "user"}))],
                "target": {"template": {"data": {"dsn": "user={{ .user "}}},
            })))
            .fails(Reason::TemplateFailed, "template \"dsn\"")
            .why("the template does not parse; the Secret keeps what the working template wrote"),
        row("template-missing-key", "a template reading `{{ .nope }}`, a key nothing fetched")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), JSON_USER).await; }.boxed())
            .spec(|c| es(json!({
                "data": [entry("user", &c.key("db"), json!({"property": "user"}))],
                "target": {"template": {"data": {"dsn": "{{ .nope }}"}}},
            })))
            .fails(Reason::TemplateFailed, "map has no entry for key \"nope\"")
            .why("ESO renders with `missingkey=error`"),
        row("template-tls-incomplete", "a template of `type: kubernetes.io/tls` producing only `tls.crt`")
            .setup(|c| async move { create_aws(c.aws(), &c.key("cert"), PEM).await; }.boxed())
            .spec(|c| es(json!({
                "data": [entry("cert", &c.key("cert"), json!({}))],
                "target": {"template": {"type": "kubernetes.io/tls", "data": {"tls.crt": "{{ .cert }}"}}},
            })))
            .fails(Reason::InvalidSecret, "data[tls.key]: Required value")
            .why("the API server refuses a TLS Secret without `tls.key`; the operator says so before writing"),
        row("template-dockerconfig-not-json", "a template of `type: kubernetes.io/dockerconfigjson` producing text that is not JSON")
            .setup(|c| async move { create_aws(c.aws(), &c.key("auth"), JSON_USER).await; }.boxed())
            .spec(|c| es(json!({
                "data": [entry("user", &c.key("auth"), json!({"property": "user"}))],
                "target": {"template": {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "auths: {{ .user }}"}}},
            })))
            .fails(Reason::InvalidSecret, "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\"")
            .why("the API server refuses a docker config that is not JSON (without quoting it)"),
        row("template-type-change", "a synced Opaque Secret whose template changes `type` to `kubernetes.io/basic-auth`")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), JSON_USER).await; }.boxed())
            .good(|c| es(json!({"data": [entry("username", &c.key("db"), json!({"property": "user"}))]})))
            .spec(|c| es(json!({
                "data": [entry("username", &c.key("db"), json!({"property": "user"}))],
                "target": {"template": {"type": "kubernetes.io/basic-auth"}},
            })))
            .fails(Reason::InvalidSecret, "has type \"Opaque\", and a Secret's type never changes")
            .why("a Secret's type never changes (the API server refuses it); delete the Secret to change it"),
        row("template-key-invalid", "a template producing the key `bad/key`")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), JSON_USER).await; }.boxed())
            .spec(|c| es(json!({
                "data": [entry("user", &c.key("db"), json!({"property": "user"}))],
                "target": {"template": {"data": {"bad/key": "{{ .user }}"}}},
            })))
            .fails(Reason::InvalidKey, "bad/key")
            .why("Secret keys match `[-._a-zA-Z0-9]+`; nothing is written"),
        row("template-random", "a template using `randAlpha`")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), JSON_USER).await; }.boxed())
            .spec(|c| es(json!({
                "data": [entry("user", &c.key("db"), json!({"property": "user"}))],
                "target": {"template": {"data": {"salt": "{{ randAlpha 8 }}"}}},
            })))
            .fails(Reason::TemplateFailed, "randAlpha")
            .why("a synced Secret must not change on every refresh; the random generators are refused"),
        row("template-from-missing", "`templateFrom` a ConfigMap that does not exist")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), JSON_USER).await; }.boxed())
            .spec(|c| es(json!({
                "data": [entry("user", &c.key("db"), json!({"property": "user"}))],
                "target": {"template": {"templateFrom": [{"configMap": {"name": "no-such-configmap", "items": [{"key": "dsn"}]}}]}},
            })))
            .fails(Reason::TemplateFailed, "ConfigMap \"no-such-configmap\" was not found")
            .why("the template's source is missing"),
    ]
}

/// `dataFrom.find`, rewrites, sizes and unsupported sources.
fn bulk() -> Vec<Case> {
    vec![
        row("find-bad-regexp", "`dataFrom.find.name.regexp: \"(\"`")
            .spec(|_| es(json!({"dataFrom": [{"find": {"name": {"regexp": "("}}}]})))
            .fails(Reason::InvalidSpec, "is not a valid regular expression")
            .why("the search cannot run"),
        row("find-unbounded", "`dataFrom.find: {}`")
            .spec(|_| es(json!({"dataFrom": [{"find": {}}]})))
            .fails(Reason::InvalidSpec, "sets none of name.regexp, path or tags")
            .why("it would copy every secret of the account"),
        row("find-zero-matches", "`dataFrom.find` matching no secret")
            .spec(|c| es(json!({"dataFrom": [{"find": {"path": c.key("nothing-here/")}}]})))
            .keeps("is kept as it was (deletionPolicy Retain)")
            .why("ESO with `deletionPolicy: Retain` (the default) writes nothing when the provider returns no data and reports the ExternalSecret synced"),
        row("find-matches-vanish", "a synced `find` whose only match is deleted from AWS")
            .setup(|c| async move { create_aws(c.aws(), &c.key("found/one"), "found-one").await; }.boxed())
            .good(|c| es(json!({"dataFrom": [{"find": {"path": c.key("found/")}}]})))
            .step(|c| async move { force_delete(c.aws(), &c.key("found/one")).await; }.boxed())
            .keeps("is kept as it was (deletionPolicy Retain)")
            .why("as ESO with `Retain`: no data is not a reason to empty the Secret"),
        row("rewrite-collision", "a `rewrite` turning two found secrets into the same key")
            .setup(|c| async move {
                create_aws(c.aws(), &c.key("team-a/token"), "a").await;
                create_aws(c.aws(), &c.key("team-b/token"), "b").await;
            }.boxed())
            .spec(|c| es(json!({"dataFrom": [{
                "find": {"path": c.key("team-")},
                "rewrite": [{"regexp": {"source": ".*/(token)$", "target": "$1"}}],
            }]})))
            .fails(Reason::RewriteFailed, "both become \"token\"; one value would be lost")
            .why("one of the two values would be lost (ESO keeps one at random)"),
        row("rewrite-invalid-key", "a `rewrite` producing the key `bad/user`")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), JSON_USER).await; }.boxed())
            .spec(|c| es(json!({"dataFrom": [{
                "extract": {"key": c.key("db")},
                "rewrite": [{"regexp": {"source": "^(.*)$", "target": "bad/$1"}}],
            }]})))
            .fails(Reason::InvalidKey, "bad/user")
            .why("Secret keys match `[-._a-zA-Z0-9]+`; nothing is written"),
        row("rewrite-bad-regexp", "a `rewrite.regexp.source` that does not compile")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), JSON_USER).await; }.boxed())
            .spec(|c| es(json!({"dataFrom": [{
                "extract": {"key": c.key("db")},
                "rewrite": [{"regexp": {"source": "(", "target": "x"}}],
            }]})))
            .fails(Reason::RewriteFailed, "rewrite[0] failed: regexp failed to compile")
            .why("the rewrite cannot run"),
        row("too-large", "18 keys of 60,000 bytes each (1,080,000 bytes, over the 1 MiB Secret limit)")
            .setup(|c| async move {
                // Not through `create_aws`: 60,000 `x` is no canary for the leak scan.
                c.aws().create_secret().name(c.key("big")).secret_string("x".repeat(60_000)).send().await.expect("create the big secret");
            }.boxed())
            .spec(|c| es(json!({"data": (1..=18).map(|i| entry(&format!("k{i:02}"), &c.key("big"), json!({}))).collect::<Vec<_>>()})))
            .fails(Reason::InvalidSecret, "data: Too long: may not be more than 1048576 bytes")
            .why("the API server refuses a Secret whose data exceeds 1 MiB; the operator says so without sending it"),
        row("generator", "a `data[].sourceRef.generatorRef`")
            .spec(|c| es(json!({"data": [{
                "secretKey": "v", "remoteRef": {"key": c.key("x")},
                "sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}},
            }]})))
            .fails(Reason::InvalidSpec, "generatorRef")
            .why("generators are out of scope"),
    ]
}

/// AWS states: secrets deleted, recreated, versions gone.
fn aws_states() -> Vec<Case> {
    vec![
        row(
            "aws-deleted",
            "a synced secret force-deleted in AWS (`deletionPolicy: Retain`)",
        )
        .setup(|c| {
            async move {
                create_aws(c.aws(), &c.key("db"), "deleted-one").await;
            }
            .boxed()
        })
        .good(|c| reads(c, "db", json!({})))
        .step(|c| {
            async move {
                force_delete(c.aws(), &c.key("db")).await;
            }
            .boxed()
        })
        .fails(Reason::SecretNotFound, "db")
        .why("Retain keeps the Secret and reports the missing AWS secret"),
        row(
            "aws-scheduled-deletion",
            "a synced secret scheduled for deletion in AWS",
        )
        .setup(|c| {
            async move {
                create_aws(c.aws(), &c.key("db"), "scheduled-one").await;
            }
            .boxed()
        })
        .good(|c| reads(c, "db", json!({})))
        .step(|c| {
            async move {
                c.aws()
                    .delete_secret()
                    .secret_id(c.key("db"))
                    .recovery_window_in_days(7)
                    .send()
                    .await
                    .expect("schedule deletion");
            }
            .boxed()
        })
        .fails(Reason::SecretScheduledForDeletion, "scheduled for deletion")
        .why("the value cannot be read; the Secret keeps it until the secret is really gone"),
        row(
            "aws-recreated",
            "a synced secret deleted and recreated under the same name (new ARN suffix)",
        )
        .setup(|c| {
            async move {
                create_aws(c.aws(), &c.key("db"), "first-life").await;
            }
            .boxed()
        })
        .good(|c| reads(c, "db", json!({})))
        .step(|c| {
            async move {
                force_delete(c.aws(), &c.key("db")).await;
                create_aws(c.aws(), &c.key("db"), "second-life").await;
            }
            .boxed()
        })
        .syncs(&[("v", b"second-life")], "is synced")
        .why("the reference is by name: the new secret of that name is followed"),
        row(
            "version-removed",
            "a pinned `versionId` that AWS removed (its secret deleted and recreated)",
        )
        .setup(|c| {
            async move {
                c.note(create_aws(c.aws(), &c.key("db"), "pinned-one").await);
            }
            .boxed()
        })
        .good(|c| reads(c, "db", json!({"versionId": c.noted()})))
        .step(|c| {
            async move {
                force_delete(c.aws(), &c.key("db")).await;
                create_aws(c.aws(), &c.key("db"), "pinned-two").await;
            }
            .boxed()
        })
        .fails(Reason::VersionNotFound, "has no version")
        .why("a pinned version never moves; the Secret keeps the pinned value"),
        row(
            "stage-missing",
            "`versionStage: AWSPENDING` with no rotation in progress",
        )
        .setup(|c| {
            async move {
                create_aws(c.aws(), &c.key("db"), "current").await;
            }
            .boxed()
        })
        .spec(|c| reads(c, "db", json!({"versionStage": "AWSPENDING"})))
        .fails(Reason::VersionNotFound, "AWSPENDING")
        .why("no version carries the stage"),
    ]
}

/// Who owns the target Secret.
fn ownership() -> Vec<Case> {
    vec![
        row("foreign-secret", "the target Secret exists, created by another controller (Helm)")
            .setup(|c| async move {
                let mut secret = plain_secret(&c.ns, c.id, json!({"password": "helm-owned"}));
                secret.metadata.labels = Some([("app.kubernetes.io/managed-by".to_owned(), "Helm".to_owned())].into());
                Api::<Secret>::namespaced(c.client().clone(), &c.ns)
                    .create(&PostParams::default(), &secret)
                    .await
                    .expect("create the Helm Secret");
                create_aws(c.aws(), &c.key("db"), "stagesync-value").await;
            }.boxed())
            .spec(|c| reads(c, "db", json!({})))
            .fails(Reason::SecretConflict, "a Secret stagesync did not create (managed by \"Helm\")")
            .why("a Secret owned by something else is never taken over (creationPolicy Merge would add keys)"),
        row("other-es-secret", "`target.name` is the Secret of another ExternalSecret")
            .target("other-es-secret-owner")
            .setup(|c| async move {
                create_aws(c.aws(), &c.key("db"), "owner-value").await;
                create_es(c.client(), &c.ns, "other-es-secret-owner", reads(&c, "db", json!({}))).await;
                wait_data(c.client(), &c.ns, "other-es-secret-owner", &[("v", "owner-value")]).await;
                create_aws(c.aws(), &c.key("mine"), "intruder-value").await;
            }.boxed())
            .spec(|c| {
                let mut s = reads(c, "mine", json!({}));
                s["target"] = json!({"name": "other-es-secret-owner"});
                s
            })
            .fails(Reason::SecretConflict, "belongs to ExternalSecret \"other-es-secret-owner\"")
            .why("two ExternalSecrets never fight over one Secret"),
        row("merge-missing", "`creationPolicy: Merge` into a Secret that does not exist")
            .setup(|c| async move { create_aws(c.aws(), &c.key("db"), "merge-value").await; }.boxed())
            .spec(|c| {
                let mut s = reads(c, "db", json!({}));
                s["target"] = json!({"creationPolicy": "Merge"});
                s
            })
            .fails(Reason::SecretMissing, "creationPolicy Merge never creates it")
            .why("Merge only adds keys to an existing Secret, as ESO"),
    ]
}

/// Stores: missing, out of reach, misconfigured.
fn stores() -> Vec<Case> {
    vec![
        row("store-missing", "`secretStoreRef` names no store")
            .spec(|c| {
                let mut s = reads(c, "x", json!({}));
                s["secretStoreRef"] = json!({"name": "no-such-store"});
                s
            })
            .fails(Reason::StoreNotFound, "SecretStore \"no-such-store\" not found")
            .why("nothing to read with"),
        row("store-other-namespace", "`secretStoreRef` names a SecretStore of another namespace")
            .own_namespace()
            .spec(|c| reads(c, "x", json!({})))
            .fails(Reason::StoreNotFound, "SecretStore \"aws\" not found in namespace")
            .why("a SecretStore serves its own namespace only"),
        row("css-not-allowed", "a ClusterSecretStore whose conditions do not admit the namespace")
            .own_namespace()
            .setup(|c| async move {
                create_credentials(c.client(), &c.ns).await;
                create_cluster_store(c.client(), &css_name(&c), json!({
                    "provider": aws_provider(&c.world.endpoint, Some(&c.ns)),
                    "conditions": [{"namespaces": ["somewhere-else"]}],
                })).await;
            }.boxed())
            .spec(|c| {
                let mut s = reads(c, "x", json!({}));
                s["secretStoreRef"] = css_ref(c);
                s
            })
            .fails(Reason::StoreNotAllowed, "does not admit namespace")
            .why("tenancy: the store's conditions decide"),
        row("css-selector-stops-matching", "a synced ExternalSecret whose ClusterSecretStore's namespace selector is changed to stop matching")
            .own_namespace()
            .setup(|c| async move {
                Api::<Namespace>::all(c.client().clone())
                    .patch(&c.ns, &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"bad-input-tenant": "a"}}})))
                    .await
                    .expect("label the namespace");
                create_credentials(c.client(), &c.ns).await;
                create_aws(c.aws(), &c.key("db"), "tenant-value").await;
                create_cluster_store(c.client(), &css_name(&c), json!({
                    "provider": aws_provider(&c.world.endpoint, Some(&c.ns)),
                    "conditions": [{"namespaceSelector": {"matchLabels": {"bad-input-tenant": "a"}}}],
                })).await;
            }.boxed())
            .good(|c| {
                let mut s = reads(c, "db", json!({}));
                s["secretStoreRef"] = css_ref(c);
                s
            })
            .step(|c| async move {
                Api::<ClusterSecretStore>::all(c.client().clone())
                    .patch(&css_name(&c), &PatchParams::default(), &Patch::Merge(json!({"spec": {
                        "conditions": [{"namespaceSelector": {"matchLabels": {"bad-input-tenant": "b"}}}],
                    }})))
                    .await
                    .expect("change the selector");
            }.boxed())
            .fails(Reason::StoreNotAllowed, "does not admit namespace")
            .why("the store's admission is checked on every sync; the Secret already written stays"),
        row("creds-missing", "a SecretStore whose credential Secret does not exist")
            .own_namespace()
            .setup(|c| async move {
                create_store_with(c.client(), &c.ns, "aws", aws_provider(&c.world.endpoint, None)).await;
            }.boxed())
            .spec(|c| reads(c, "x", json!({})))
            .fails(Reason::CredentialsNotFound, "aws-credentials")
            .why("the store has no identity to use"),
        row("creds-key-missing", "a credential Secret without `secret-access-key`")
            .own_namespace()
            .setup(|c| async move {
                create_secret(c.client(), &c.ns, "aws-credentials", json!({"access-key-id": "testing"})).await;
                create_store_with(c.client(), &c.ns, "aws", aws_provider(&c.world.endpoint, None)).await;
            }.boxed())
            .spec(|c| reads(c, "x", json!({})))
            .fails(Reason::CredentialsNotFound, "secret-access-key")
            .why("the store has no whole identity to use"),
        row("creds-deleted", "a synced ExternalSecret whose store's credential Secret is deleted")
            .own_namespace()
            .setup(|c| async move {
                own_store(&c, |_| {}).await;
                create_aws(c.aws(), &c.key("db"), "creds-value").await;
            }.boxed())
            .good(|c| reads(c, "db", json!({})))
            .step(|c| async move {
                Api::<Secret>::namespaced(c.client().clone(), &c.ns)
                    .delete("aws-credentials", &Default::default())
                    .await
                    .expect("delete the credentials");
            }.boxed())
            .fails(Reason::CredentialsNotFound, "aws-credentials")
            .why("the store lost its identity; the Secret keeps its data"),
        row("role-malformed", "a SecretStore with `role: arn:aws:iam::123:role/reader` (no 12-digit account)")
            .own_namespace()
            .setup(|c| async move { own_store(&c, |p| p["aws"]["role"] = json!("arn:aws:iam::123:role/reader")).await; }.boxed())
            .spec(|c| reads(c, "x", json!({})))
            .fails(Reason::InvalidStoreConfig, "is not an IAM role ARN")
            .why("STS would refuse it; the store says why before any call"),
        row("region-unknown", "a synced ExternalSecret whose SecretStore's region is changed to `mars-1`")
            .own_namespace()
            .setup(|c| async move {
                own_store(&c, |_| {}).await;
                create_aws(c.aws(), &c.key("db"), "region-value").await;
            }.boxed())
            .good(|c| reads(c, "db", json!({})))
            .step(|c| async move { patch_store(&c, json!({"spec": {"provider": {"aws": {"region": "mars-1"}}}})).await; }.boxed())
            .fails(Reason::InvalidStoreConfig, "region \"mars-1\"")
            .why("no AWS partition has that region; the Secret keeps its data"),
        row("endpoint-bad", "a SecretStore with `endpoint: localhost:4566` (no scheme)")
            .own_namespace()
            .setup(|c| async move { own_store(&c, |p| p["aws"]["endpoint"] = json!("localhost:4566")).await; }.boxed())
            .spec(|c| reads(c, "x", json!({})))
            .fails(Reason::InvalidStoreConfig, "endpoint \"localhost:4566\" is not an http(s) URL")
            .why("the endpoint cannot be called"),
        row("store-ambient", "a namespaced SecretStore without `auth`")
            .own_namespace()
            .setup(|c| async move {
                let mut p = aws_provider(&c.world.endpoint, None);
                p["aws"].as_object_mut().expect("aws").remove("auth");
                create_store_with(c.client(), &c.ns, "aws", p).await;
            }.boxed())
            .spec(|c| reads(c, "x", json!({})))
            .fails(Reason::AmbientCredentialsNotAllowed, "sets no auth")
            .why("it would lend the operator's own AWS identity to the namespace"),
    ]
}
