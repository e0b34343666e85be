//! Cargo version requirements (RustSec's `patched` and `unaffected` lists) as exact sets of
//! versions, ordered by SemVer precedence.
//!
//! Each comparator becomes one interval following the Cargo book ("Specifying dependencies"):
//! `^1.2.3` is `>=1.2.3, <2.0.0`, `~1.2` is `>=1.2.0, <1.3.0`, `1.*` is `>=1.0.0, <2.0.0`, `>1` is
//! `>=2.0.0`, `<=1.2` is `<1.3.0`, a bare version is a caret requirement, and a missing minor or
//! patch on a lower end is zero (`>= 1.2` is `>= 1.2.0`, and `< 1.2` is `< 1.2.0`, so the two
//! split the versions with neither gap nor overlap). The comparators of one requirement all hold
//! (intersection); the requirements of a list are alternatives (union).
//!
//! Pre-releases: we use pure precedence, as OSV does (`1.2.3-rc.1 < 1.2.3`). Where Cargo's
//! book says "below the next series" (`<2.0.0` for a caret), the end is written `2.0.0-0`, the
//! lowest version of that series, so `2.0.0-alpha` is outside `^1.2.3` just as in Cargo. Cargo's
//! own matching (`semver::VersionReq::matches`, which cargo-audit used to match advisories) adds
//! one more rule: a pre-release only matches a requirement whose comparators name a pre-release
//! of the same major.minor.patch. So for a pre-release our verdict can differ from that rule's:
//! `unaffected = ["<= 1.2.3"]` covers `1.2.3-rc.1` here, while Cargo's rule would leave it
//! affected. (Newer `rustsec` crates also convert to OSV-style ranges, but read a partial version
//! after `>` or `<=` as zero-filled — `> 0` as `> 0.0.0` — where Cargo means `>= 1.0.0`; we
//! follow Cargo.) For released versions our sets equal Cargo's exactly, which the property test
//! below and the real-data test check against the `semver` crate.

use semver::{Comparator, Op, Prerelease, Version, VersionReq};

use palisade_vulns::interval::{End, Span};

/// The lowest version of a series: `-0` sorts below every other pre-release.
fn series_start(major: u64, minor: u64, patch: u64) -> Version {
    Version {
        major,
        minor,
        patch,
        pre: Prerelease::new("0").unwrap_or(Prerelease::EMPTY),
        build: semver::BuildMetadata::EMPTY,
    }
}

/// The comparator's version with missing parts as zero (its own pre-release kept).
fn filled(c: &Comparator) -> Version {
    Version {
        major: c.major,
        minor: c.minor.unwrap_or(0),
        patch: c.patch.unwrap_or(0),
        pre: c.pre.clone(),
        build: semver::BuildMetadata::EMPTY,
    }
}

/// The start of the series after the one a partial version names (`1` → `2.0.0-0`,
/// `1.2` → `1.3.0-0`); `None` for a full version, or when the next series would overflow — then
/// nothing lies above the named series.
fn after_partial(c: &Comparator) -> Option<Option<Version>> {
    match (c.minor, c.patch) {
        (None, _) => Some(c.major.checked_add(1).map(|m| series_start(m, 0, 0))),
        (Some(minor), None) => Some(minor.checked_add(1).map(|n| series_start(c.major, n, 0))),
        (Some(_), Some(_)) => None,
    }
}

/// The exclusive upper end "below the next series" for an upper limit that may overflow.
fn below(v: Option<Version>) -> Option<End<Version>> {
    v.map(End::exclusive)
}

/// The versions one comparator admits; `Ok(None)` is the empty set.
pub(crate) fn comparator_span(c: &Comparator) -> Result<Option<Span<Version>>, String> {
    let lo = filled(c);
    let span = match c.op {
        Op::Exact | Op::Wildcard => match after_partial(c) {
            None => Span::new(Some(End::inclusive(lo.clone())), Some(End::inclusive(lo))),
            Some(next) => Span::new(Some(End::inclusive(lo)), below(next)),
        },
        Op::Greater => match after_partial(c) {
            None => Span::new(Some(End::exclusive(lo)), None),
            Some(Some(next)) => Span::new(Some(End::inclusive(next)), None),
            Some(None) => return Ok(None),
        },
        Op::GreaterEq => Span::new(Some(End::inclusive(lo)), None),
        Op::Less => Span::new(None, Some(End::exclusive(lo))),
        Op::LessEq => match after_partial(c) {
            None => Span::new(None, Some(End::inclusive(lo))),
            Some(next) => Span::new(None, below(next)),
        },
        Op::Tilde => {
            let next = match c.minor {
                None => c.major.checked_add(1).map(|m| series_start(m, 0, 0)),
                Some(minor) => minor.checked_add(1).map(|n| series_start(c.major, n, 0)),
            };
            Span::new(Some(End::inclusive(lo)), below(next))
        }
        Op::Caret => {
            let next = match (c.major, c.minor, c.patch) {
                (0, None, _) => Some(series_start(1, 0, 0)),
                (0, Some(0), Some(patch)) => patch.checked_add(1).map(|p| series_start(0, 0, p)),
                (0, Some(minor), _) => minor.checked_add(1).map(|n| series_start(0, n, 0)),
                (major, _, _) => major.checked_add(1).map(|m| series_start(m, 0, 0)),
            };
            Span::new(Some(End::inclusive(lo)), below(next))
        }
        // `Op` is non-exhaustive: an operator added to the `semver` crate later is refused
        // rather than guessed.
        _ => return Err(format!("unsupported operator in {c}")),
    };
    Ok(if span.is_empty() { None } else { Some(span) })
}

/// The versions a requirement (`">= 1.2, < 1.5"`) admits: all its comparators at once.
/// `Ok(None)` is the empty set.
pub(crate) fn requirement_span(text: &str) -> Result<Option<Span<Version>>, String> {
    let req = VersionReq::parse(text.trim())
        .map_err(|e| format!("{text:?} is not a Cargo version requirement: {e}"))?;
    let mut acc = Span::ALL;
    for c in &req.comparators {
        match comparator_span(c)? {
            Some(s) => acc = acc.intersect(&s),
            None => return Ok(None),
        }
    }
    Ok(if acc.is_empty() { None } else { Some(acc) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn admits(req: &str, version: &str) -> bool {
        requirement_span(req)
            .unwrap()
            .is_some_and(|s| s.contains(&v(version)))
    }

    #[test]
    fn caret_follows_the_cargo_book() {
        for (req, inside, outside) in [
            ("^1.2.3", ["1.2.3", "1.9.0"], ["1.2.2", "2.0.0-alpha.1"]),
            ("^1.2", ["1.2.0", "1.99.0"], ["1.1.9", "2.0.0"]),
            ("^1", ["1.0.0", "1.5.0"], ["0.9.9", "2.0.0"]),
            ("^0.2.3", ["0.2.3", "0.2.9"], ["0.2.2", "0.3.0-rc.1"]),
            ("^0.2", ["0.2.0", "0.2.9"], ["0.1.9", "0.3.0"]),
            ("^0.0.3", ["0.0.3", "0.0.3"], ["0.0.2", "0.0.4"]),
            ("^0.0", ["0.0.0", "0.0.9"], ["0.1.0", "0.1.0"]),
            ("^0", ["0.0.0", "0.9.9"], ["1.0.0", "1.0.0"]),
            ("1.2.3", ["1.2.3", "1.3.0"], ["1.2.2", "2.0.0"]),
        ] {
            for i in inside {
                assert!(admits(req, i), "{req} should admit {i}");
            }
            for o in outside {
                assert!(!admits(req, o), "{req} should not admit {o}");
            }
        }
    }

    #[test]
    fn partial_comparisons_cover_whole_series() {
        assert!(admits("> 1", "2.0.0") && !admits("> 1", "1.9.9"));
        assert!(admits("<= 1.2", "1.2.9") && !admits("<= 1.2", "1.3.0"));
        assert!(admits("= 1.2", "1.2.7") && !admits("= 1.2", "1.3.0"));
        assert!(admits(">= 1.2", "1.2.0") && !admits(">= 1.2", "1.1.9"));
        assert!(admits("< 1.2", "1.1.9") && !admits("< 1.2", "1.2.0"));
        assert!(admits("~1", "1.9.0") && !admits("~1", "2.0.0"));
        assert!(admits("1.2.*", "1.2.9") && !admits("1.2.*", "1.3.0"));
        assert!(admits("*", "0.0.1"));
        assert_eq!(requirement_span("> 1.0.0, < 1.0.0").unwrap(), None);
    }

    #[test]
    fn le_bound_stays_inclusive() {
        let s = requirement_span("<= 1.2.3").unwrap().unwrap();
        assert_eq!(s.upper, Some(End::inclusive(v("1.2.3"))));
        assert!(s.contains(&v("1.2.3")));
        assert!(
            s.contains(&v("1.2.3-rc.1")),
            "pure precedence: rc.1 is below 1.2.3"
        );
        assert!(!s.contains(&v("1.2.4-0")));
    }

    #[test]
    fn overflowing_series_ends_are_unbounded() {
        let max = u64::MAX;
        assert!(admits(&format!("^{max}"), &format!("{max}.5.0")));
        assert_eq!(requirement_span(&format!("> {max}")).unwrap(), None);
        assert!(admits(&format!("<= {max}"), &format!("{max}.1.1")));
    }

    fn arb_comparator() -> impl Strategy<Value = String> {
        let op = prop_oneof![
            Just(""),
            Just("="),
            Just(">"),
            Just(">="),
            Just("<"),
            Just("<="),
            Just("~"),
            Just("^"),
        ];
        let pre = prop_oneof![Just(""), Just("-alpha.1"), Just("-0"), Just("-rc")];
        (
            op,
            0u64..4,
            proptest::option::of(0u64..4),
            proptest::option::of(0u64..4),
            pre,
        )
            .prop_map(|(op, major, minor, patch, pre)| match (minor, patch) {
                (None, _) => format!("{op}{major}"),
                (Some(m), None) => format!("{op}{major}.{m}"),
                (Some(m), Some(p)) => format!("{op}{major}.{m}.{p}{pre}"),
            })
    }

    proptest! {
        /// For released versions our intervals agree with Cargo's own matching.
        #[test]
        fn agrees_with_cargo_for_releases(
            comparators in proptest::collection::vec(arb_comparator(), 1..3),
            major in 0u64..5, minor in 0u64..5, patch in 0u64..5,
        ) {
            let text = comparators.join(", ");
            let req = VersionReq::parse(&text).unwrap();
            let version = Version::new(major, minor, patch);
            let ours = requirement_span(&text).unwrap().is_some_and(|s| s.contains(&version));
            prop_assert_eq!(ours, req.matches(&version), "{} vs {}", text, version);
        }
    }
}
