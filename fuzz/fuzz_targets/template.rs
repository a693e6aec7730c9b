//! `render::template::apply_template`: a template (up to the first NUL) over one data value (the
//! rest). A render may take up to the engine's 10 s deadline: run with `-timeout=30`.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use stagesync::api::externalsecret::ExternalSecretTemplate;
use stagesync::render::template::{TemplateSources, apply_template};
use stagesync::value::SecretBytes;

fuzz_target!(|input: &[u8]| {
    let split = input.iter().position(|b| *b == 0).unwrap_or(input.len());
    let text = String::from_utf8_lossy(&input[..split]).into_owned();
    let value = input.get(split + 1..).unwrap_or_default().to_vec();
    let template = ExternalSecretTemplate {
        data: BTreeMap::from([("out".to_owned(), text)]),
        ..Default::default()
    };
    let fetched = BTreeMap::from([("value".to_owned(), SecretBytes::new(value))]);
    let _ = apply_template(Some(&template), fetched, &TemplateSources::default());
});
