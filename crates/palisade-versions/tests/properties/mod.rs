//! The properties every version scheme's ordering must have, shared by the per-scheme property
//! tests: a total order that agrees with equality (and with hashing, where the type hashes), and
//! parsing that never panics, gives the same answer twice and prints back the text it was given.

// Each test binary uses the checks its scheme supports (Debian versions do not hash).
#![allow(dead_code)]

use std::cmp::Ordering;
use std::fmt::{Debug, Display};
use std::hash::{BuildHasher, Hash, RandomState};
use std::str::FromStr;

use proptest::prelude::*;

/// Reflexive, antisymmetric, and `==` exactly when `cmp` says equal.
pub fn total_order<V: Ord + Debug>(a: &V, b: &V) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.cmp(a), Ordering::Equal);
    prop_assert_eq!(a.cmp(b), b.cmp(a).reverse());
    prop_assert_eq!(a == b, a.cmp(b) == Ordering::Equal);
    Ok(())
}

/// Sorting three versions gives a chain in which the ends compare too.
pub fn transitive<V: Ord>(mut v: [V; 3]) -> Result<(), TestCaseError> {
    v.sort();
    prop_assert!(v[0] <= v[1] && v[1] <= v[2] && v[0] <= v[2]);
    Ok(())
}

/// Equal versions hash alike.
pub fn hash_agrees<V: Hash + Eq>(a: &V, b: &V) -> Result<(), TestCaseError> {
    let state = RandomState::new();
    if a == b {
        prop_assert_eq!(state.hash_one(a), state.hash_one(b));
    }
    Ok(())
}

/// Parses `s` twice: no panic, the same verdict both times, and a parsed version prints back as
/// given. Returns both parses for scheme-specific checks.
pub fn roundtrip<V>(s: &str) -> Result<Option<(V, V)>, TestCaseError>
where
    V: FromStr + Display + Ord,
    V::Err: PartialEq + Debug,
{
    match (s.parse::<V>(), s.parse::<V>()) {
        (Ok(a), Ok(b)) => {
            prop_assert_eq!(a.to_string(), s);
            prop_assert_eq!(a.cmp(&b), Ordering::Equal);
            Ok(Some((a, b)))
        }
        (Err(a), Err(b)) => {
            prop_assert_eq!(a, b);
            Ok(None)
        }
        _ => Err(TestCaseError::fail(format!(
            "parsing {s:?} is not deterministic"
        ))),
    }
}
