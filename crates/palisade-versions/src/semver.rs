//! Semantic Versioning 2.0.0 as OSV's `SEMVER` range type uses it (crates.io, npm and Go-style
//! `v` tags): `MAJOR.MINOR.PATCH[-prerelease][+build]`, ordered by precedence (semver.org §11).
//!
//! Precedence: the three numbers compare numerically; a version with a pre-release is below the
//! same version without one; pre-release identifiers compare left to right, numeric ones as numbers
//! and below alphanumeric ones, alphanumeric ones in ASCII order, and when all shared identifiers
//! are equal the longer list is higher. Build metadata is kept in the text but ignored for both
//! ordering and equality, so `1.0.0+a == 1.0.0+b`.
//!
//! Accepted text is exactly what node-semver's `semver.clean` turns into a version, restricted to
//! one optional `=` followed by one optional `v` (`=v1.2.3` is node-semver's own example), with
//! surrounding JavaScript whitespace (what `String.prototype.trim` removes). Everything else is an
//! error: two-part versions, leading zeros in numeric identifiers, empty identifiers, `V`.
//! Two limits differ from node-semver on purpose: numbers go up to `u64::MAX` (node stops at
//! 2^53 − 1 and compares larger pre-release numbers as floating point), and there is no 256
//! character limit. Checked against node-semver on generated pairs in `tests/semver_order.rs`.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Why a string is not a semantic version.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SemVersionError {
    #[error("version is empty")]
    Empty,
    #[error("expected MAJOR.MINOR.PATCH, found {0:?}")]
    BadCore(String),
    #[error("numeric identifier {0:?} has a leading zero")]
    LeadingZero(String),
    #[error("number {0:?} is larger than {max}", max = u64::MAX)]
    TooLarge(String),
    #[error("empty identifier in {0:?}")]
    EmptyIdentifier(String),
    #[error("character {0:?} is not allowed in a version")]
    BadCharacter(char),
}

/// One dot-separated pre-release identifier. The variant order is the precedence order: numeric
/// identifiers sort below alphanumeric ones, so the derived `Ord` is the spec's rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Identifier {
    Numeric(u64),
    Alphanumeric(Box<str>),
}

/// A parsed semantic version.
#[derive(Clone, Debug)]
pub struct SemVersion {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Box<[Identifier]>,
    build: Box<str>,
    original: String,
}

impl SemVersion {
    pub fn major(&self) -> u64 {
        self.major
    }

    pub fn minor(&self) -> u64 {
        self.minor
    }

    pub fn patch(&self) -> u64 {
        self.patch
    }

    /// Whether the version has a pre-release part (`1.0.0-rc.1`).
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    /// The build metadata after `+`, empty when there is none. It never affects ordering.
    pub fn build(&self) -> &str {
        &self.build
    }

    /// The text the version was parsed from.
    pub fn as_str(&self) -> &str {
        &self.original
    }
}

/// The characters JavaScript's `String.prototype.trim` removes (ECMAScript WhiteSpace and
/// LineTerminator), which is what node-semver trims. Unlike Rust's `char::is_whitespace` it
/// includes U+FEFF and excludes U+0085.
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// `0|[1-9][0-9]*` as a `u64`.
fn parse_number(s: &str, whole: &str) -> Result<u64, SemVersionError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SemVersionError::BadCore(whole.to_owned()));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(SemVersionError::LeadingZero(s.to_owned()));
    }
    s.parse()
        .map_err(|_| SemVersionError::TooLarge(s.to_owned()))
}

/// Checks a dot-separated identifier list (pre-release or build) for empty identifiers and
/// characters outside `[0-9A-Za-z-]`.
fn check_identifiers(list: &str) -> Result<(), SemVersionError> {
    if let Some(c) = list.chars().find(|&c| !(is_identifier_char(c) || c == '.')) {
        return Err(SemVersionError::BadCharacter(c));
    }
    if list.split('.').any(str::is_empty) {
        return Err(SemVersionError::EmptyIdentifier(list.to_owned()));
    }
    Ok(())
}

fn parse_prerelease(list: &str) -> Result<Box<[Identifier]>, SemVersionError> {
    check_identifiers(list)?;
    list.split('.')
        .map(|id| {
            if id.bytes().all(|b| b.is_ascii_digit()) {
                parse_number(id, list).map(Identifier::Numeric)
            } else {
                Ok(Identifier::Alphanumeric(id.into()))
            }
        })
        .collect()
}

impl FromStr for SemVersion {
    type Err = SemVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim_matches(is_js_space);
        let text = text.strip_prefix('=').unwrap_or(text);
        let text = text.strip_prefix('v').unwrap_or(text);
        if text.is_empty() {
            return Err(SemVersionError::Empty);
        }
        // Build metadata runs from the first `+` to the end; a pre-release runs from the first `-`
        // before it (later hyphens belong to identifiers, where `-` is an ordinary character).
        let (rest, build) = match text.split_once('+') {
            Some((rest, build)) => {
                check_identifiers(build)?;
                (rest, build)
            }
            None => (text, ""),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (rest, None),
        };
        if let Some(c) = core.chars().find(|&c| !(c.is_ascii_digit() || c == '.')) {
            return Err(SemVersionError::BadCharacter(c));
        }
        let mut numbers = core.split('.');
        let (Some(major), Some(minor), Some(patch), None) = (
            numbers.next(),
            numbers.next(),
            numbers.next(),
            numbers.next(),
        ) else {
            return Err(SemVersionError::BadCore(core.to_owned()));
        };
        let major = parse_number(major, core)?;
        let minor = parse_number(minor, core)?;
        let patch = parse_number(patch, core)?;
        let pre = match pre {
            Some(pre) => parse_prerelease(pre)?,
            None => Box::default(),
        };
        Ok(Self {
            major,
            minor,
            patch,
            pre,
            build: build.into(),
            original: s.to_owned(),
        })
    }
}

impl fmt::Display for SemVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl Ord for SemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                // Slice order is the spec's: first difference decides, else the longer is higher.
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for SemVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equal in precedence: build metadata and a leading `v` or `=` do not count.
impl PartialEq for SemVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SemVersion {}

/// Hashes exactly the fields `Ord` looks at, so equal versions hash alike.
impl Hash for SemVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.major, self.minor, self.patch).hash(state);
        self.pre.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> SemVersion {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn spec_example_orders_as_semver_org_says() {
        // semver.org §11.4, each strictly less than the next.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
            "10.0.0",
        ];
        for pair in chain.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn build_metadata_and_prefixes_do_not_count() {
        assert_eq!(v("1.0.0+a"), v("1.0.0+b"));
        assert_eq!(v("v1.2.3"), v("1.2.3"));
        assert_eq!(v("=v1.2.3"), v(" 1.2.3\u{feff}"));
        assert_eq!(v("1.0.0-rc.1+build.5").build(), "build.5");
        assert_eq!(v(" v1.2.3 ").to_string(), " v1.2.3 ");
        assert!(v("1.0.0-0a") > v("1.0.0-99"), "0a is alphanumeric");
        assert!(v("1.0.0-B") < v("1.0.0-a"), "ASCII order: upper case first");
        assert!(v("1.0.0--") < v("1.0.0-0a"), "'-' sorts before digits");
    }

    #[test]
    fn malformed_versions_are_errors_not_guesses() {
        assert_eq!(v_err(""), SemVersionError::Empty);
        assert_eq!(v_err("v"), SemVersionError::Empty);
        assert!(matches!(v_err("1.2"), SemVersionError::BadCore(_)));
        assert!(matches!(v_err("1.2.3.4"), SemVersionError::BadCore(_)));
        assert!(matches!(v_err("1..3"), SemVersionError::BadCore(_)));
        assert!(matches!(v_err("01.2.3"), SemVersionError::LeadingZero(_)));
        assert!(matches!(
            v_err("1.2.3-rc.01"),
            SemVersionError::LeadingZero(_)
        ));
        assert!(matches!(
            v_err("1.2.3-"),
            SemVersionError::EmptyIdentifier(_)
        ));
        assert!(matches!(
            v_err("1.2.3-a..b"),
            SemVersionError::EmptyIdentifier(_)
        ));
        assert!(matches!(
            v_err("1.2.3+"),
            SemVersionError::EmptyIdentifier(_)
        ));
        assert!(matches!(
            v_err("18446744073709551616.0.0"),
            SemVersionError::TooLarge(_)
        ));
        assert_eq!(v_err("V1.2.3"), SemVersionError::BadCharacter('V'));
        assert_eq!(v_err("v=1.2.3"), SemVersionError::BadCharacter('='));
        assert_eq!(v_err("1.2.3-a_b"), SemVersionError::BadCharacter('_'));
        assert_eq!(
            v_err("1.2.3\u{85}"),
            SemVersionError::BadCharacter('\u{85}')
        );
        assert!(
            v("1.2.3+01").build() == "01",
            "leading zeros are fine in build metadata"
        );
    }

    fn v_err(s: &str) -> SemVersionError {
        s.parse::<SemVersion>()
            .expect_err(&format!("{s:?} should not parse"))
    }
}
