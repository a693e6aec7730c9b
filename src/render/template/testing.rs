//! Helpers for the tests of every function family: render a template over some data through
//! [`apply_template`], as a Secret's `data` key would be.

use std::collections::BTreeMap;

use super::{TemplateSources, apply_template};
use crate::api::externalsecret::ExternalSecretTemplate;
use crate::render::RenderError;
use crate::value::SecretBytes;

pub(crate) fn bytes_map(data: &[(&str, &[u8])]) -> BTreeMap<String, SecretBytes> {
    data.iter()
        .map(|(k, v)| (k.to_string(), SecretBytes::new(v.to_vec())))
        .collect()
}

pub(crate) fn str_map(data: &[(&str, &str)]) -> BTreeMap<String, SecretBytes> {
    data.iter()
        .map(|(k, v)| (k.to_string(), SecretBytes::from(v.to_string())))
        .collect()
}

pub(crate) fn data_template(templates: &[(&str, &str)]) -> ExternalSecretTemplate {
    ExternalSecretTemplate {
        data: templates
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

/// Renders one template over `data` and returns the bytes written under its key.
pub(crate) fn render_bytes(
    tpl: &str,
    data: BTreeMap<String, SecretBytes>,
) -> Result<Vec<u8>, RenderError> {
    let t = data_template(&[("out", tpl)]);
    let mut out = apply_template(Some(&t), data, &TemplateSources::default())?;
    Ok(out.data.remove("out").expect("rendered").into_exposed())
}

pub(crate) fn render(tpl: &str, data: &[(&str, &str)]) -> Result<String, RenderError> {
    render_bytes(tpl, str_map(data)).map(|b| String::from_utf8(b).expect("utf-8"))
}

/// (template, data, what Go renders).
pub(crate) type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

pub(crate) fn check(cases: &[Case<'_>]) {
    for (tpl, data, want) in cases {
        match render(tpl, data) {
            Ok(got) => assert_eq!(&got, want, "template {tpl:?}"),
            Err(e) => panic!("template {tpl:?} failed: {e}"),
        }
    }
}

/// The files of `testdata/` (see its README), keyed by name with `.` and `-` as `_`:
/// `{{ .leaf_pem }}`, `{{ .legacy_1234_p12 }}`.
pub(crate) fn fixtures() -> BTreeMap<String, SecretBytes> {
    macro_rules! files {
        ($($name:literal),* $(,)?) => {
            [$(($name, &include_bytes!(concat!("testdata/", $name))[..])),*]
        };
    }
    files!(
        "root.pem",
        "inter.pem",
        "leaf.pem",
        "leaf.key.pkcs8",
        "leaf.key.sec1",
        "rsa.pkcs1",
        "rsa.pkcs8",
        "rsa.pub",
        "oaep-sha1.b64",
        "oaep-sha256.b64",
        "oaep-sha512.b64",
        "rsa.jwk",
        "rsa.pub.jwk",
        "ec.jwk",
        "ec.pub.jwk",
        "ec.pub.pem",
        "ed.jwk",
        "ed.pub.jwk",
        "ed.pkcs8",
        "ed.pub.pem",
        "legacy-1234.p12",
        "3des-nopass.p12",
        "modern-pass.p12",
        "plain.p12",
    )
    .into_iter()
    .map(|(name, bytes)| {
        (
            name.replace(['.', '-'], "_"),
            SecretBytes::new(bytes.to_vec()),
        )
    })
    .collect()
}

/// A fixture's text.
pub(crate) fn fixture(name: &str) -> String {
    let key = name.replace(['.', '-'], "_");
    String::from_utf8(fixtures()[&key].expose().to_vec()).expect("a text fixture")
}

/// Renders `tpl` over the fixtures; the output as text.
pub(crate) fn render_fixtures(tpl: &str) -> Result<String, RenderError> {
    render_bytes(tpl, fixtures()).map(|b| String::from_utf8(b).expect("utf-8"))
}
