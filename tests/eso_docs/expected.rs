//! What each example of the corpus needs in AWS (`remotes`) and what ESO documents it gives
//! (`expectations`); values written by hand, or read from the certificate and key files of
//! `src/render/template/testdata/` (see its README).

use base64::Engine as _;
use serde_json::json;

use super::{Note, Outcome, Remote, Want, binary, synced, t, testdata, testdata_text, text, typed};

/// Every AWS secret of the corpus (several examples may read one).
pub(crate) fn remotes() -> Vec<Remote> {
    let certificate = |pem: &str, what: &str| {
        json!({"cert": base64::engine::general_purpose::STANDARD.encode(pem), "description": what})
            .to_string()
    };
    let ca_central = "ca-central-1";
    let ap_south = "ap-south-1";
    let billing = [("environment", "docs-prod"), ("application", "billing")];
    vec![
        // aws-json-properties
        text(
            "docs/roster",
            r#"{"lead":{"given":"Grace","family":"Hopper"},"members":[{"given":"Alan"},{"given":"Katherine"}]}"#,
        ),
        text("docs/tagged-credentials", "not read: only its tags are")
            .tagged(&[("owner", "payments-team"), ("tier", "gold")]),
        // aws-version-stages, aws-version-id
        Remote {
            earlier: vec!["token-2024"],
            ..text("docs/service-token", "token-2025")
        },
        Remote {
            earlier: vec!["pinned-v1"],
            first_version_id: Some("5b1d6a0e-8c3f-4e27-9a61-2f0c7d4e9b13"),
            ..text("docs/pinned-token", "pinned-v2")
        },
        // aws-push-settings, refused-manifest
        text("docs/greeting", "hello from the docs"),
        text("docs/team-b/flags", r#"{"beta":true}"#),
        text("docs/team-a/db", r#"{"password":"irsa-pass"}"#),
        Remote {
            account_role: Some("arn:aws:iam::222222222222:role/team-b"),
            ..text("docs/partner/api-key", "partner-key-222")
        },
        text("docs/motd", "welcome aboard"),
        text("docs/abac/simple", "simple-tagged"),
        text("docs/abac/custom", "custom-tagged"),
        text("docs/finance/ledger-url", "https://ledger.example/api"),
        text("staging/queue-password", "q-pass"),
        text(
            "staging/queue-settings",
            r#"{"vhost":"/staging","max-connections":"20"}"#,
        ),
        text(
            "docs/shared/smtp",
            r#"{"host":"smtp.example","port":"587"}"#,
        ),
        // find-by-name: a region of its own
        text("/path/key1", "first").in_region(ap_south),
        text("key2/path", "second").in_region(ap_south),
        text("path/to/keyring", "third").in_region(ap_south),
        text("unrelated", "not found").in_region(ap_south),
        // find-by-tags
        text("docs/billing/db", "db-pass").tagged(&billing),
        text("docs/billing/api", "api-token").tagged(&billing),
        text("docs/billing/staging", "not found")
            .tagged(&[("environment", "docs-staging"), ("application", "billing")]),
        // find-unicode
        text("docs-unicode-a_c", "underscore"),
        text("docs-unicode-a/c", "slash"),
        // rewrite-*
        text("docs/apps/checkout/credentials/username", "checkout"),
        text("docs/apps/checkout/credentials/password", "s3cret!"),
        text("docs/apps/checkout/other", "not found"),
        text("docs/broker-dev", r#"{"password":"bar"}"#),
        text("docs/broker-prod", r#"{"password":"safebar"}"#),
        text("docs/odd-keys", r#"{"foo/bar":"1111","foo$baz":"2222"}"#),
        text(
            "docs/platform/object-storage-credentials",
            r#"{"ACCESS_KEY":"AKID","SECRET_KEY":"SKEY"}"#,
        ),
        text(
            "docs/platform/mongo-credentials",
            r#"{"USERNAME":"mongo","PASSWORD":"m0ng0"}"#,
        ),
        text("docs/platform/notes", "not found"),
        text("foo-nut-bar", "HELLO1").in_region(ca_central),
        text("foo-naz-bar", "HELLO2").in_region(ca_central),
        text("foo-bar-baz", r#"{"john": "doe"}"#).in_region(ca_central),
        // decoding-auto
        text(
            "docs/person",
            r#"{"name":"Ada Lovelace","city":"London, UK","address":"aGFwcHkgc3RyZWV0"}"#,
        ),
        // tpl-*
        text("docs/metrics/user", "grafana"),
        text("docs/metrics/password", "gr@f4na"),
        text("docs/metrics/dburl", "mysql://db.example:3306/metrics"),
        text("docs/credentials", "hunter2-long"),
        text("docs/merge/password", "cGFzc3dvcmQtZnJvbS1hd3M="),
        text("docs/merge/username", "merge-user"),
        text("docs/grafana/user", "admin"),
        text("docs/grafana/password", "p4ss"),
        text("docs/grafana/uri", "https://logs.example"),
        text(
            "docs/ingress/users",
            r#"{"alice":"wonderland","bob":"builder"}"#,
        ),
        text(
            "docs-products/nginx/site-a",
            &certificate(&testdata_text(&["leaf.pem"]), "site a's leaf"),
        ),
        text(
            "docs-products/nginx/site-b",
            &certificate(&testdata_text(&["inter.pem"]), "site b's intermediate"),
        ),
        binary("docs/tls/web.p12", testdata("3des-nopass.p12")),
        binary("docs/tls/web-locked.p12", testdata("legacy-1234.p12")),
        text("docs/jwt/signing-jwk", &testdata_text(&["rsa.jwk"])),
        text("docs/jwt/verifying-jwk", &testdata_text(&["rsa.pub.jwk"])),
        text(
            "docs/tls/key-and-cert",
            &testdata_text(&["leaf.key.pkcs8", "leaf.pem"]),
        ),
        text(
            "docs/tls/full-chain",
            &testdata_text(&["leaf.key.pkcs8", "leaf.pem", "inter.pem", "root.pem"]),
        ),
        text(
            "docs/tls/chain-only",
            &testdata_text(&["leaf.pem", "inter.pem"]),
        ),
        text(
            "docs/rsa/keys",
            &json!({"privatekey": testdata_text(&["rsa.pkcs1"])}).to_string(),
        ),
        text(
            "docs/rsa/password-encrypted",
            testdata_text(&["oaep-sha1.b64"]).trim_end(),
        ),
        text(
            "docs/docker/config-json",
            r#"{"auths":{"registry.example":{"auth":"dXNlcjpwYXNz"}}}"#,
        ),
        text("docs/docker/registry-name", "MyRegistry"),
        text("docs/docker/registry-host", "docker.io"),
        text("docs/docker/registry-password", "r3g!stry"),
        text("docs/ssh/deploy-key", SSH_KEY),
    ]
}

pub(crate) const SSH_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

const TLS: &str = "kubernetes.io/tls";

/// (file stem, ExternalSecret, what ESO documents for it).
pub(crate) fn expectations() -> Vec<(&'static str, &'static str, Outcome)> {
    let pem = |names: &[&str]| Want::Text(testdata_text(names));
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let sans = "a.example,b.example,10.0.0.1,2001:db8::1,ops@example.com,spiffe://example/ns/a";
    let sans_json = r#"["a.example","b.example","10.0.0.1","2001:db8::1","ops@example.com","spiffe://example/ns/a"]"#;
    let docker_built = format!(
        r#"{{"auths":{{"myregistry.docker.io":{{"username":"MyRegistry","password":"r3g!stry","auth":"{}"}}}}}}"#,
        b64(b"MyRegistry:r3g!stry")
    );
    let prometheus = "remote_write:\n  - url: https://metrics.example/api/v1/write\n    basic_auth:\n      username: \"grafana\"\n      password: \"gr@f4na\"\n";
    let grafana = "datasources:\n  - name: Loki\n    type: loki\n    url: \"https://logs.example\"\n    basicAuthUser: \"admin\"\n    basicAuthPassword: \"p4ss\"\n";
    let refused = |reason, message, secret| Outcome::Refused {
        reason,
        message,
        secret,
    };
    vec![
        (
            "aws-json-properties",
            "team-roster",
            synced(
                "roster",
                vec![
                    ("lead", t("Grace")),
                    ("second_member", t("Katherine")),
                    ("all_tags", t(r#"{"owner":"payments-team","tier":"gold"}"#)),
                    ("owner", t("payments-team")),
                ],
            ),
        ),
        (
            "aws-version-stages",
            "rolling-token",
            synced(
                "rolling-token",
                vec![
                    ("old-token", t("token-2024")),
                    ("new-token", t("token-2025")),
                ],
            ),
        ),
        (
            "aws-version-id",
            "pinned-token",
            synced("pinned-token", vec![("token", t("pinned-v1"))]),
        ),
        (
            "aws-push-settings",
            "push-configured-store",
            synced(
                "push-configured-store",
                vec![("greeting", t("hello from the docs"))],
            ),
        ),
        (
            "aws-session-token",
            "team-b-config",
            synced(
                "team-b-config",
                vec![("feature-flags", t(r#"{"beta":true}"#))],
            ),
        ),
        (
            "aws-service-account",
            "team-a-db",
            synced("team-a-db", vec![("password", t("irsa-pass"))]),
        ),
        (
            "aws-role-chain",
            "from-the-other-account",
            synced(
                "from-the-other-account",
                vec![("api-key", t("partner-key-222"))],
            ),
        ),
        (
            "aws-pod-identity",
            "ambient",
            synced("ambient", vec![("motd", t("welcome aboard"))]),
        ),
        (
            "aws-session-tags-simple",
            "abac-simple",
            synced("abac-simple", vec![("value", t("simple-tagged"))]),
        ),
        (
            "aws-session-tags-custom",
            "abac-custom",
            synced("abac-custom", vec![("value", t("custom-tagged"))]),
        ),
        (
            "aws-session-tags-manual",
            "ledger",
            synced(
                "ledger",
                vec![("ledger-url", t("https://ledger.example/api"))],
            ),
        ),
        (
            "aws-prefix",
            "queue",
            synced(
                "queue",
                vec![
                    ("queue-password", t("q-pass")),
                    ("vhost", t("/staging")),
                    ("max-connections", t("20")),
                ],
            ),
        ),
        (
            "aws-cluster-store",
            "shared-smtp",
            synced(
                "smtp",
                vec![("host", t("smtp.example")), ("port", t("587"))],
            ),
        ),
        (
            "find-by-name",
            "find-by-name",
            synced(
                "every-key",
                vec![
                    ("_path_key1", t("first")),
                    ("key2_path", t("second")),
                    ("path_to_keyring", t("third")),
                ],
            ),
        ),
        (
            "find-by-tags",
            "find-by-tags",
            synced(
                "tagged-secrets",
                vec![
                    ("docs_billing_db", t("db-pass")),
                    ("docs_billing_api", t("api-token")),
                ],
            ),
        ),
        (
            "find-unicode",
            "no-collisions",
            synced(
                "no-collisions",
                vec![
                    ("docs-unicode-a_c", t("underscore")),
                    ("docs-unicode-a_U002f_c", t("slash")),
                ],
            ),
        ),
        (
            "rewrite-remove-path",
            "example",
            synced(
                "secret-to-be-created",
                vec![("username", t("checkout")), ("password", t("s3cret!"))],
            ),
        ),
        (
            "rewrite-conflict",
            "example",
            synced(
                "secret-to-be-created",
                vec![("dev-password", t("bar")), ("prod-password", t("safebar"))],
            ),
        ),
        (
            "rewrite-invalid-characters",
            "example",
            synced(
                "secret-to-be-created",
                vec![("foo_bar", t("1111")), ("foo_baz", t("2222"))],
            ),
        ),
        (
            "rewrite-merge",
            "merge-basic-example",
            synced(
                "merge-basic-example",
                vec![
                    ("ACCESS_KEY", t("AKID")),
                    ("SECRET_KEY", t("SKEY")),
                    ("USERNAME", t("mongo")),
                    ("PASSWORD", t("m0ng0")),
                ],
            ),
        ),
        (
            "rewrite-transform",
            "external-secret-transform",
            synced(
                "external-secret-transform",
                vec![
                    ("APP_FOO_NUT_BAR", t("HELLO1")),
                    ("APP_FOO_NAZ_BAR", t("HELLO2")),
                    ("APP_FOO_BAR_BAZ", t(r#"{"john": "doe"}"#)),
                ],
            ),
        ),
        (
            "decoding-auto",
            "person",
            synced(
                "person",
                vec![
                    ("name", t("Ada Lovelace")),
                    ("city", t("London, UK")),
                    ("address", t("happy street")),
                ],
            ),
        ),
        (
            "tpl-config-file",
            "metrics-config",
            synced(
                "metrics-config",
                vec![
                    ("prometheus.yml", t(prometheus)),
                    ("connection", t("mysql+tls://db.example:3306/metrics")),
                ],
            ),
        ),
        (
            "tpl-two-keys",
            "template",
            Outcome::Synced {
                secret: "template",
                data: vec![("name", t("operator")), ("password", t("hunter2-long"))],
                type_: None,
                labels: vec![("app.kubernetes.io/part-of", "billing")],
                annotations: vec![("docs.example/owner", Note::Exact("12 bytes from AWS"))],
            },
        ),
        (
            "tpl-merge-policy",
            "template",
            synced(
                "template",
                vec![
                    ("role", t("reader")),
                    ("password", t("password-from-aws")),
                    ("username", t("merge-user")),
                ],
            ),
        ),
        (
            "tpl-from-configmap",
            "my-template-example",
            Outcome::Synced {
                secret: "secret-to-be-created",
                data: vec![
                    ("config.yaml", t(grafana)),
                    ("token-for-admin", t("cDRzcw==")),
                    ("tls", t("on")),
                    ("kind", t("observability")),
                    ("footer", t("-- managed for admin --")),
                ],
                type_: None,
                labels: Vec::new(),
                annotations: vec![("synced-for/admin", Note::Year)],
            },
        ),
        (
            "tpl-htpasswd",
            "basic-auth",
            synced(
                "basic-auth",
                vec![(
                    "auth",
                    Want::Htpasswd(vec![("alice", "wonderland"), ("bob", "builder")]),
                )],
            ),
        ),
        (
            "tpl-values-decoding-plain",
            "nginx-certs",
            synced(
                "nginx-certs",
                vec![
                    ("site-a", Want::Text(b64(&testdata("leaf.pem")))),
                    ("site-b", Want::Text(b64(&testdata("inter.pem")))),
                ],
            ),
        ),
        (
            "tpl-values-decoding-base64",
            "nginx-certs",
            synced(
                "nginx-certs",
                vec![
                    ("site-a", pem(&["leaf.pem"])),
                    ("site-b", pem(&["inter.pem"])),
                ],
            ),
        ),
        (
            "tpl-pkcs12-tls",
            "template-tls-example",
            typed(
                TLS,
                "web-tls",
                vec![
                    ("tls.crt", pem(&["leaf.pem", "inter.pem"])),
                    ("tls.key", pem(&["leaf.key.pkcs8"])),
                    ("with-password.crt", pem(&["leaf.pem", "inter.pem"])),
                ],
            ),
        ),
        (
            "tpl-jwk",
            "signing-key",
            synced(
                "signing-key",
                vec![
                    ("jwk_pub", pem(&["rsa.pub"])),
                    ("jwk_priv", pem(&["rsa.pkcs8"])),
                ],
            ),
        ),
        (
            "tpl-filter-pem",
            "template",
            typed(
                TLS,
                "template",
                vec![
                    ("tls.crt", pem(&["leaf.pem"])),
                    ("tls.key", pem(&["leaf.key.pkcs8"])),
                ],
            ),
        ),
        (
            "tpl-cert-chain",
            "template",
            typed(
                TLS,
                "template",
                vec![
                    ("ca.crt", pem(&["inter.pem"])),
                    ("tls.crt", pem(&["leaf.pem"])),
                    ("tls.key", pem(&["leaf.key.pkcs8"])),
                ],
            ),
        ),
        (
            "tpl-cert-sans",
            "cert-sans-example",
            synced(
                "cert-sans-example",
                vec![
                    ("sans", t(sans)),
                    ("primary-domain", t("a.example")),
                    ("sans-json", t(sans_json)),
                ],
            ),
        ),
        (
            "tpl-rsa-decrypt",
            "rsa-decrypt-template-v2",
            synced(
                "rsa-decrypt-template-v2",
                vec![("password", t("s3cr3t-value"))],
            ),
        ),
        (
            "type-dockerconfigjson",
            "dk-cfg-example",
            typed(
                "kubernetes.io/dockerconfigjson",
                "registry-config",
                vec![(
                    ".dockerconfigjson",
                    t(r#"{"auths":{"registry.example":{"auth":"dXNlcjpwYXNz"}}}"#),
                )],
            ),
        ),
        (
            "type-dockerconfigjson",
            "dk-cfg-built",
            typed(
                "kubernetes.io/dockerconfigjson",
                "dk-cfg-built",
                vec![(".dockerconfigjson", Want::Text(docker_built))],
            ),
        ),
        (
            "type-ssh-auth",
            "ssh-auth-example",
            typed(
                "kubernetes.io/ssh-auth",
                "deploy-key",
                vec![("ssh-privatekey", t(SSH_KEY))],
            ),
        ),
        (
            "refused-boolean-values",
            "flags",
            refused(
                "TemplateFailed",
                r#""enableOCI" is a boolean, not a string"#,
                "flags",
            ),
        ),
        (
            "refused-missing-key",
            "my-template-example",
            refused(
                "TemplateFailed",
                r#"map has no entry for key "now""#,
                "secret-to-be-created",
            ),
        ),
        (
            "refused-generator",
            "generated-password",
            refused(
                "InvalidSpec",
                "dataFrom[0].sourceRef.generatorRef",
                "generated-password",
            ),
        ),
        (
            "refused-manifest",
            "to-a-configmap",
            refused("InvalidSpec", "target.manifest", "app-settings"),
        ),
    ]
}
