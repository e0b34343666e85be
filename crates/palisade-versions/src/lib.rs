//! Version schemes with the ordering their ecosystems really use: SemVer (crates.io, npm; checked
//! against node-semver), Composer (Packagist; composer/semver's normalisation and PHP's
//! `version_compare`), PEP 440 (PyPI; checked against Python's `packaging`) and Debian (checked
//! against `dpkg --compare-versions`).
//!
//! A version that does not parse is an error, which callers turn into the third verdict, "cannot
//! evaluate", instead of guessing. [`Scheme::parse`] is the one entry point the engine uses: it
//! gives a [`Version`] that orders against other versions of its scheme, or a [`VersionError`]
//! whose [`VersionErrorKind`] says whether the text is malformed or is something that exists but
//! has no order (a Composer branch such as `dev-main`).

pub mod composer;
pub mod debian;
pub mod pep440;
pub mod semver;

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A versioning scheme. The order of the variants orders versions of different schemes, which
/// never meet in practice but must not break `Ord`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    SemVer,
    Composer,
    Pep440,
    Debian,
}

impl Scheme {
    pub const ALL: [Scheme; 4] = [
        Scheme::SemVer,
        Scheme::Composer,
        Scheme::Pep440,
        Scheme::Debian,
    ];

    /// Parses `s` as a version of this scheme.
    pub fn parse(self, s: &str) -> Result<Version, VersionError> {
        let error = |e: &dyn fmt::Display, kind| VersionError {
            scheme: self,
            input: s.to_owned(),
            reason: e.to_string(),
            kind,
        };
        let invalid = |e: &dyn fmt::Display| error(e, VersionErrorKind::Invalid);
        match self {
            Scheme::SemVer => s.parse().map(Version::SemVer).map_err(|e| invalid(&e)),
            Scheme::Composer => s.parse().map(Version::Composer).map_err(|e| match e {
                composer::ComposerVersionError::Branch(_) => {
                    error(&e, VersionErrorKind::NotComparable)
                }
                e => invalid(&e),
            }),
            Scheme::Pep440 => s.parse().map(Version::Pep440).map_err(|e| invalid(&e)),
            Scheme::Debian => s.parse().map(Version::Debian).map_err(|e| invalid(&e)),
        }
    }

    /// The scheme's name in configuration and messages.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::SemVer => "semver",
            Scheme::Composer => "composer",
            Scheme::Pep440 => "pep440",
            Scheme::Debian => "debian",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A scheme name that is not one of `semver`, `composer`, `pep440`, `debian`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown version scheme {0:?} (expected semver, composer, pep440 or debian)")]
pub struct UnknownScheme(pub String);

impl FromStr for Scheme {
    type Err = UnknownScheme;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scheme::ALL
            .into_iter()
            .find(|scheme| scheme.name() == s)
            .ok_or_else(|| UnknownScheme(s.to_owned()))
    }
}

/// A parsed version of some scheme.
#[derive(Clone, Debug)]
pub enum Version {
    SemVer(semver::SemVersion),
    Composer(composer::ComposerVersion),
    Pep440(pep440::Pep440Version),
    Debian(debian::DebianVersion),
}

impl Version {
    pub fn scheme(&self) -> Scheme {
        match self {
            Version::SemVer(_) => Scheme::SemVer,
            Version::Composer(_) => Scheme::Composer,
            Version::Pep440(_) => Scheme::Pep440,
            Version::Debian(_) => Scheme::Debian,
        }
    }

    /// The text the version was parsed from, unchanged.
    pub fn as_str(&self) -> &str {
        match self {
            Version::SemVer(v) => v.as_str(),
            Version::Composer(v) => v.as_str(),
            Version::Pep440(v) => v.as_str(),
            Version::Debian(v) => v.as_str(),
        }
    }
}

impl From<semver::SemVersion> for Version {
    fn from(v: semver::SemVersion) -> Self {
        Version::SemVer(v)
    }
}

impl From<composer::ComposerVersion> for Version {
    fn from(v: composer::ComposerVersion) -> Self {
        Version::Composer(v)
    }
}

impl From<pep440::Pep440Version> for Version {
    fn from(v: pep440::Pep440Version) -> Self {
        Version::Pep440(v)
    }
}

impl From<debian::DebianVersion> for Version {
    fn from(v: debian::DebianVersion) -> Self {
        Version::Debian(v)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Version::SemVer(a), Version::SemVer(b)) => a.cmp(b),
            (Version::Composer(a), Version::Composer(b)) => a.cmp(b),
            (Version::Pep440(a), Version::Pep440(b)) => a.cmp(b),
            (Version::Debian(a), Version::Debian(b)) => a.cmp(b),
            _ => self.scheme().cmp(&other.scheme()),
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equal in the scheme's sense (`1.0 == 1.0.0` in PEP 440), never across schemes.
impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string could not be used as a version of a scheme.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{scheme} version {input:?}: {reason}")]
pub struct VersionError {
    pub scheme: Scheme,
    pub input: String,
    pub reason: String,
    pub kind: VersionErrorKind,
}

/// Whether a version failed because it is malformed or because it names something without an
/// order; both mean "cannot evaluate", but they are reported differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VersionErrorKind {
    /// Not a version of the scheme at all.
    Invalid,
    /// A real reference that has no place in the order: a Composer branch (`dev-main`, `1.x-dev`).
    NotComparable,
}
