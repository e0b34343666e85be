//! Fuzzes the debian version scheme: any UTF-8 text parses to a version or an error, never a panic;
//! when the text splits at its first newline into two versions that both parse, their order is
//! antisymmetric (`a.cmp(&b) == b.cmp(&a).reverse()`) and each equals itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade_versions::Scheme;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Scheme::Debian.parse(text);
    let Some((a, b)) = text.split_once('\n') else {
        return;
    };
    if let (Ok(a), Ok(b)) = (Scheme::Debian.parse(a), Scheme::Debian.parse(b)) {
        assert_eq!(a.cmp(&a), std::cmp::Ordering::Equal, "{a:?} != itself");
        assert_eq!(
            a.cmp(&b),
            b.cmp(&a).reverse(),
            "order not antisymmetric: {a:?} vs {b:?}"
        );
    }
});
