//! `manifest::parse` (YAML with the line of every field) on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagesync::manifest::{Source, parse};

fuzz_target!(|text: &str| {
    let _ = parse(&Source {
        name: "fuzz.yaml".into(),
        text: text.to_owned(),
    });
});
