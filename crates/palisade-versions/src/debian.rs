//! Debian package versions, ordered exactly as `dpkg --compare-versions` orders them (Debian Policy
//! §5.6.12): `[epoch:]upstream[-revision]`, compared epoch first (a missing epoch is 0), then the
//! upstream part, then the revision. Within a part, runs of non-digits and digits alternate; non-digit
//! runs compare character by character with `~` before everything (even the end of the string), then
//! the end, then letters, then all other characters; digit runs compare as numbers.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Why a string is not a Debian version.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DebianVersionError {
    #[error("version is empty")]
    Empty,
    #[error("epoch {0:?} is not a number")]
    BadEpoch(String),
    #[error("upstream version is empty")]
    EmptyUpstream,
    #[error("upstream version {0:?} does not start with a digit")]
    UpstreamNotDigit(String),
    #[error("revision is empty after '-'")]
    EmptyRevision,
    #[error("character {0:?} is not allowed in a version")]
    BadCharacter(char),
}

/// A parsed Debian version.
#[derive(Clone, Debug)]
pub struct DebianVersion {
    epoch: u64,
    upstream: String,
    revision: String,
    original: String,
}

impl DebianVersion {
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The Debian revision; empty for a native package.
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// The text the version was parsed from.
    pub fn as_str(&self) -> &str {
        &self.original
    }
}

impl FromStr for DebianVersion {
    type Err = DebianVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let original = s.to_owned();
        let s = s.trim();
        if s.is_empty() {
            return Err(DebianVersionError::Empty);
        }
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) => {
                let epoch = e
                    .parse::<u64>()
                    .map_err(|_| DebianVersionError::BadEpoch(e.to_owned()))?;
                (epoch, rest)
            }
            None => (0, s),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => {
                if r.is_empty() {
                    return Err(DebianVersionError::EmptyRevision);
                }
                (u, r)
            }
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(DebianVersionError::EmptyUpstream);
        }
        if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(DebianVersionError::UpstreamNotDigit(upstream.to_owned()));
        }
        // Policy allows `-` in upstream only when there is a revision, and `:` only after an epoch;
        // split_once/rsplit_once above already consumed the separators that make those valid.
        let upstream_ok =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~' | '-' | ':');
        if let Some(c) = upstream.chars().find(|&c| !upstream_ok(c)) {
            return Err(DebianVersionError::BadCharacter(c));
        }
        if let Some(c) = revision
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~')))
        {
            return Err(DebianVersionError::BadCharacter(c));
        }
        Ok(Self {
            epoch,
            upstream: upstream.to_owned(),
            revision: revision.to_owned(),
            original,
        })
    }
}

impl fmt::Display for DebianVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// The weight of one character in a non-digit run (`None` is the end of the run).
fn weight(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit and digit runs.
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit run, character by character.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ca = a.get(i).copied().filter(|c| !c.is_ascii_digit());
            let cb = b.get(j).copied().filter(|c| !c.is_ascii_digit());
            match weight(ca).cmp(&weight(cb)) {
                Ordering::Equal => {}
                other => return other,
            }
            if ca.is_some() {
                i += 1;
            }
            if cb.is_some() {
                j += 1;
            }
        }
        // Digit run, as a number of any length: skip leading zeros, then longer is larger, then
        // the first differing digit decides.
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let (si, sj) = (i, j);
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        match (i - si)
            .cmp(&(j - sj))
            .then_with(|| a[si..i].cmp(&b[sj..j]))
        {
            Ordering::Equal => {}
            other => return other,
        }
    }
    Ordering::Equal
}

impl Ord for DebianVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(&self.upstream, &other.upstream))
            .then_with(|| compare_part(&self.revision, &other.revision))
    }
}

impl PartialOrd for DebianVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equal in dpkg's sense: `1.0` equals `0:1.0` and `1.0-0` is not `1.0` only by revision text.
impl PartialEq for DebianVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for DebianVersion {}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> DebianVersion {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn policy_examples_order_as_dpkg_does() {
        // Each is strictly less than the next (Debian Policy 5.6.12 and dpkg's own test cases).
        let chain = [
            "1.0~rc1",
            "1.0",
            "1.0-1",
            "1.0-1.1",
            "1.0-2~bpo1",
            "1.0-2",
            "1.0a",
            "1.0+b1",
            "1.0.1",
            "1.2",
            "1.10",
            "1:0.9",
            "2:0",
        ];
        for pair in chain.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("1.0"), v("0:1.0"));
        assert_eq!(v("1.001"), v("1.1"), "leading zeros do not count");
        assert!(v("1.0~~") < v("1.0~"), "more tildes sort earlier");
        assert!(v("1.0-0") == v("1.0"), "an empty revision compares like 0");
        assert!(
            v("9999999999999999999999.1") > v("999999999999999999999.1"),
            "digit runs of any length"
        );
    }

    #[test]
    fn malformed_versions_are_errors_not_guesses() {
        assert_eq!(
            "".parse::<DebianVersion>().unwrap_err(),
            DebianVersionError::Empty
        );
        assert!(matches!(
            "a:1.0".parse::<DebianVersion>(),
            Err(DebianVersionError::BadEpoch(_))
        ));
        assert!(matches!(
            "abc".parse::<DebianVersion>(),
            Err(DebianVersionError::UpstreamNotDigit(_))
        ));
        assert_eq!(
            "1.0-".parse::<DebianVersion>().unwrap_err(),
            DebianVersionError::EmptyRevision
        );
        assert_eq!(
            "1.0 beta".parse::<DebianVersion>().unwrap_err(),
            DebianVersionError::BadCharacter(' ')
        );
        assert_eq!(
            "1.0-1_2".parse::<DebianVersion>().unwrap_err(),
            DebianVersionError::BadCharacter('_')
        );
    }
}
