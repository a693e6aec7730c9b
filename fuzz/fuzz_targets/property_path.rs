//! `render::property::get_property`: a property path (up to the first NUL) over arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let split = input.iter().position(|b| *b == 0).unwrap_or(input.len());
    let property = String::from_utf8_lossy(&input[..split]);
    let value = input.get(split + 1..).unwrap_or_default();
    let _ = stagesync::render::property::get_property("fuzz", value, &property);
});
