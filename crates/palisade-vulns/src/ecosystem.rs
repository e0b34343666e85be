//! Package identity across ecosystems. A package key is (ecosystem, qualifier, normalised name):
//! the qualifier holds what makes two same-named packages different things — the Debian release
//! (`bookworm`), or a registry other than the ecosystem's default (a Cargo git source, Drupal's
//! Composer repository). Advisories only ever match installations with an equal key, so names are
//! normalised here, once, the way each ecosystem's own tools compare them.

use std::fmt;

use palisade_versions::Scheme;
use serde::{Deserialize, Serialize};

/// The ecosystems Palisade evaluates. Names follow the OSV schema's ecosystem list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Ecosystem {
    #[serde(rename = "crates.io")]
    CratesIo,
    #[serde(rename = "npm")]
    Npm,
    #[serde(rename = "PyPI")]
    PyPi,
    #[serde(rename = "Packagist")]
    Packagist,
    #[serde(rename = "Debian")]
    Debian,
}

impl Ecosystem {
    pub const ALL: [Ecosystem; 5] = [
        Ecosystem::CratesIo,
        Ecosystem::Npm,
        Ecosystem::PyPi,
        Ecosystem::Packagist,
        Ecosystem::Debian,
    ];

    /// The name the OSV schema uses.
    pub fn osv_name(self) -> &'static str {
        match self {
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::Npm => "npm",
            Ecosystem::PyPi => "PyPI",
            Ecosystem::Packagist => "Packagist",
            Ecosystem::Debian => "Debian",
        }
    }

    /// Parses an OSV ecosystem string, which may carry a suffix after `:` (`Debian:12`,
    /// `Packagist:https://packages.drupal.org/8`). Returns the ecosystem and the key qualifier the
    /// suffix stands for; `None` for ecosystems Palisade does not evaluate.
    pub fn from_osv(s: &str) -> Option<(Ecosystem, String)> {
        let (base, suffix) = match s.split_once(':') {
            Some((b, rest)) => (b, rest),
            None => (s, ""),
        };
        let eco = Ecosystem::ALL.into_iter().find(|e| e.osv_name() == base)?;
        let qualifier = match eco {
            // A Debian release is part of the key: querying without it matches other releases'
            // packages (osv.dev's samba example). Unknown releases keep their text.
            Ecosystem::Debian => debian_codename(suffix)
                .map(str::to_owned)
                .unwrap_or_else(|| suffix.to_ascii_lowercase()),
            _ => suffix.to_owned(),
        };
        Some((eco, qualifier))
    }

    /// The version scheme this ecosystem orders its versions by.
    pub fn scheme(self) -> Scheme {
        match self {
            Ecosystem::CratesIo | Ecosystem::Npm => Scheme::SemVer,
            Ecosystem::PyPi => Scheme::Pep440,
            Ecosystem::Packagist => Scheme::Composer,
            Ecosystem::Debian => Scheme::Debian,
        }
    }

    /// The package-URL type (purl spec `PURL-TYPES.rst`).
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::CratesIo => "cargo",
            Ecosystem::Npm => "npm",
            Ecosystem::PyPi => "pypi",
            Ecosystem::Packagist => "composer",
            Ecosystem::Debian => "deb",
        }
    }

    pub fn from_purl_type(t: &str) -> Option<Ecosystem> {
        Ecosystem::ALL
            .into_iter()
            .find(|e| e.purl_type().eq_ignore_ascii_case(t))
    }

    /// The name as the ecosystem compares it.
    pub fn normalize_name(self, name: &str) -> String {
        let name = name.trim();
        match self {
            // PEP 503: lower case, every run of `-`, `_` and `.` becomes one `-`.
            Ecosystem::PyPi => {
                let mut out = String::with_capacity(name.len());
                let mut in_run = false;
                for c in name.chars() {
                    if matches!(c, '-' | '_' | '.') {
                        if !in_run {
                            out.push('-');
                        }
                        in_run = true;
                    } else {
                        out.extend(c.to_lowercase());
                        in_run = false;
                    }
                }
                out
            }
            // Composer package names are case-insensitive (`vendor/package`, stored lower case
            // by Packagist); Debian package names are lower case by policy.
            Ecosystem::Packagist | Ecosystem::Debian => name.to_ascii_lowercase(),
            // npm names (with their `@scope/`) and crate names are compared as written:
            // registries forbid case variants, and lockfiles carry the canonical spelling.
            Ecosystem::Npm | Ecosystem::CratesIo => name.to_owned(),
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.osv_name())
    }
}

/// Debian releases by number and codename. The tracker names releases by codename, OSV by number
/// (`Debian:12`); both map to the codename.
const DEBIAN_RELEASES: [(&str, &str); 8] = [
    ("7", "wheezy"),
    ("8", "jessie"),
    ("9", "stretch"),
    ("10", "buster"),
    ("11", "bullseye"),
    ("12", "bookworm"),
    ("13", "trixie"),
    ("14", "forky"),
];

/// The codename for a Debian release given by number (`12`, `12.4`) or codename.
pub fn debian_codename(release: &str) -> Option<&'static str> {
    let release = release.trim().to_ascii_lowercase();
    let major = release.split('.').next().unwrap_or("");
    DEBIAN_RELEASES
        .iter()
        .find(|(num, name)| *num == major || *name == release)
        .map(|(_, name)| *name)
}

/// What an advisory and an installation must share to be compared. Ordered by ecosystem,
/// qualifier, then name.
#[derive(Clone, Debug, Eq, Serialize, Deserialize)]
pub struct PackageKey {
    pub ecosystem: Ecosystem,
    /// Debian release codename, or a non-default registry; empty for the ecosystem's default.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub qualifier: String,
    /// The normalised name.
    pub name: String,
}

impl PackageKey {
    /// Builds a key, normalising the name for its ecosystem.
    pub fn new(ecosystem: Ecosystem, qualifier: impl Into<String>, name: &str) -> PackageKey {
        PackageKey {
            ecosystem,
            qualifier: qualifier.into(),
            name: ecosystem.normalize_name(name),
        }
    }
}

// By hand rather than derived only to compare the text with [`crate::bytes`]: scans and the
// fleet matcher sort and look up thousands of keys.
impl PartialEq for PackageKey {
    fn eq(&self, other: &Self) -> bool {
        self.ecosystem == other.ecosystem
            && crate::bytes::eq(self.name.as_bytes(), other.name.as_bytes())
            && crate::bytes::eq(self.qualifier.as_bytes(), other.qualifier.as_bytes())
    }
}

// Hashes what `eq` compares, field by field as a derive would.
impl std::hash::Hash for PackageKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.ecosystem.hash(state);
        self.qualifier.hash(state);
        self.name.hash(state);
    }
}

impl Ord for PackageKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.ecosystem
            .cmp(&other.ecosystem)
            .then_with(|| crate::bytes::cmp(self.qualifier.as_bytes(), other.qualifier.as_bytes()))
            .then_with(|| crate::bytes::cmp(self.name.as_bytes(), other.name.as_bytes()))
    }
}

impl PartialOrd for PackageKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// `ecosystem[:qualifier]/name`, e.g. `npm/@babel/core`, `Debian:bookworm/openssl`. Used as the
/// index key in stores, so it must stay stable.
impl fmt::Display for PackageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Pieces rather than `write!`: a scan writes one key per package looked up, and the
        // formatting machinery was 3 % of a scan's instructions.
        f.write_str(self.ecosystem.osv_name())?;
        if !self.qualifier.is_empty() {
            f.write_str(":")?;
            f.write_str(&self.qualifier)?;
        }
        f.write_str("/")?;
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pypi_names_are_pep503_normalised() {
        assert_eq!(
            Ecosystem::PyPi.normalize_name("Django_Rest.Framework"),
            "django-rest-framework"
        );
        assert_eq!(Ecosystem::PyPi.normalize_name("a__-.b"), "a-b");
    }

    #[test]
    fn composer_names_are_lower_case_and_npm_scopes_kept() {
        assert_eq!(
            Ecosystem::Packagist.normalize_name("Symfony/HTTP-Kernel"),
            "symfony/http-kernel"
        );
        assert_eq!(Ecosystem::Npm.normalize_name("@babel/core"), "@babel/core");
    }

    #[test]
    fn osv_ecosystem_suffixes_become_qualifiers() {
        assert_eq!(
            Ecosystem::from_osv("Debian:12"),
            Some((Ecosystem::Debian, "bookworm".to_owned()))
        );
        assert_eq!(
            Ecosystem::from_osv("Packagist:https://packages.drupal.org/8"),
            Some((
                Ecosystem::Packagist,
                "https://packages.drupal.org/8".to_owned()
            ))
        );
        assert_eq!(
            Ecosystem::from_osv("crates.io"),
            Some((Ecosystem::CratesIo, String::new()))
        );
        assert_eq!(Ecosystem::from_osv("Alpine:v3.20"), None);
    }

    #[test]
    fn keys_display_with_their_qualifier() {
        let k = PackageKey::new(Ecosystem::Debian, "bookworm", "OpenSSL");
        assert_eq!(k.to_string(), "Debian:bookworm/openssl");
        assert_eq!(
            PackageKey::new(Ecosystem::Npm, "", "@a/b").to_string(),
            "npm/@a/b"
        );
    }
}
