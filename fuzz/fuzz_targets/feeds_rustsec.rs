//! Fuzz target: the rustsec feed parser must never panic, whatever the text; format detection
//! runs on the same input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = palisade_feeds::detect("fuzz.input", data);
    let text = String::from_utf8_lossy(data);
    let _ = palisade_feeds::rustsec::parse("fuzz", &text);
});
