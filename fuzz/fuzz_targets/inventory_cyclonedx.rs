//! Fuzzes the cyclonedx inventory parser: any bytes give an inventory or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade_inventory::{Format, parse};

fuzz_target!(|data: &[u8]| {
    let _ = parse(Format::CycloneDx, "fuzz", data);
});
