//! Equality and order of short byte strings (package names, versions, index keys) without
//! calling the C library's `memcmp`.
//!
//! Why by hand: Rust compares slices with `memcmp`, and glibc picks its AVX-512 version on CPUs
//! that have it. On the AMD EPYC virtual machine this was measured on, that version's masked
//! loads made each short comparison cost tens of nanoseconds: `perf` put 22 % of a
//! one-lockfile scan in `__memcmp_evex_movbe`, from about 29,000 calls (BENCHMARKS.md). The
//! comparisons here read eight bytes at a time as big-endian integers, which gives the same order
//! as bytes compared one by one, and never leave the slices.

use std::cmp::Ordering;

/// The order of `a` and `b` as byte strings: what `a.cmp(b)` gives.
pub fn cmp(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    let (mut x, mut y) = (a[..n].chunks_exact(8), b[..n].chunks_exact(8));
    for (p, q) in x.by_ref().zip(y.by_ref()) {
        let (p, q) = (word(p), word(q));
        if p != q {
            return p.cmp(&q);
        }
    }
    for (p, q) in x.remainder().iter().zip(y.remainder()) {
        if p != q {
            return p.cmp(q);
        }
    }
    a.len().cmp(&b.len())
}

/// Whether `a` and `b` are the same bytes: what `a == b` gives.
pub fn eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && cmp(a, b) == Ordering::Equal
}

fn word(chunk: &[u8]) -> u64 {
    // Chunks are exactly eight bytes long; the fallback is never taken.
    u64::from_be_bytes(chunk.try_into().unwrap_or([0; 8]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn orders_like_bytes_one_by_one() {
        let cases: [(&[u8], &[u8]); 8] = [
            (b"", b""),
            (b"", b"a"),
            (b"serde", b"serde_json"),
            (b"tokio-util", b"tokio-macros"),
            (b"windows_x86_64_gnu", b"windows_x86_64_gnullvm"),
            (b"0.10.0", b"0.9.0"),
            (&[0xff, 1], &[0x01, 0xff]),
            (b"abcdefgh-same-prefix-1", b"abcdefgh-same-prefix-2"),
        ];
        for (a, b) in cases {
            assert_eq!(cmp(a, b), a.cmp(b), "{a:?} {b:?}");
            assert_eq!(cmp(b, a), b.cmp(a), "{b:?} {a:?}");
            assert_eq!(eq(a, b), a == b);
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_standard_comparison(
            prefix in proptest::collection::vec(any::<u8>(), 0..40),
            a in proptest::collection::vec(any::<u8>(), 0..20),
            b in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            // A shared prefix, so that differences also come after whole words.
            let a = [prefix.as_slice(), &a].concat();
            let b = [prefix.as_slice(), &b].concat();
            prop_assert_eq!(cmp(&a, &b), a.cmp(&b));
            prop_assert_eq!(eq(&a, &b), a == b);
            prop_assert!(eq(&a, &a));
        }
    }
}
