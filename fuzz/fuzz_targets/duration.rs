//! `api::duration::parse_go_duration` on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = stagesync::api::duration::parse_go_duration(text);
});
