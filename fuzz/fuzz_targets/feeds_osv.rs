//! Fuzz target: the osv feed parser must never panic, whatever the bytes; format detection
//! runs on the same input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = palisade_feeds::detect("fuzz.input", data);
    let _ = palisade_feeds::osv::parse("fuzz", data);
});
