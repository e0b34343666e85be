//! What is installed, read from the files that record it: lockfiles, the dpkg status database and
//! SBOMs. Each parser turns bytes into an [`Inventory`] of [`InstalledPackage`]s keyed by
//! [`PackageKey`], plus the entries that cannot be evaluated ([`Unevaluable`]) — an unpinned
//! requirement or a component without a usable purl is reported, never silently dropped, because
//! a package nobody looked at is the false negative a scanner must not produce.
//!
//! Pure code: the caller reads the file and passes its bytes and name. Every failure is a
//! [`ParseError`] naming the file, the line and the field where known; no input makes a parser
//! panic or recurse without bound.

use std::collections::HashSet;
use std::fmt;

use palisade_vulns::{Ecosystem, PackageKey};
use serde::{Deserialize, Serialize};

#[doc(hidden)]
pub mod cargo;
mod composer;
mod de;
mod detect;
mod dpkg;
mod error;
mod lines;
mod npm;
mod pnpm;
pub mod purl;
mod python;
mod sbom;
mod yaml_guard;
mod yarn;

pub use detect::detect;
pub use error::ParseError;

/// The largest input a parser accepts. Real lockfiles and status databases are a few megabytes;
/// the limit keeps a hostile or mistaken input (a disk image, a log) from exhausting memory.
pub const MAX_INPUT_BYTES: usize = 256 * 1024 * 1024;

/// The most entries (packages plus unevaluable entries) one inventory may hold.
pub const MAX_PACKAGES: usize = 1_000_000;

/// The file formats Palisade reads inventories from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Format {
    #[serde(rename = "composer.lock")]
    ComposerLock,
    #[serde(rename = "installed.json")]
    ComposerInstalled,
    #[serde(rename = "package-lock.json")]
    PackageLock,
    #[serde(rename = "yarn.lock")]
    YarnLock,
    #[serde(rename = "pnpm-lock.yaml")]
    PnpmLock,
    #[serde(rename = "Cargo.lock")]
    CargoLock,
    #[serde(rename = "poetry.lock")]
    PoetryLock,
    #[serde(rename = "uv.lock")]
    UvLock,
    #[serde(rename = "Pipfile.lock")]
    PipfileLock,
    #[serde(rename = "requirements.txt")]
    Requirements,
    #[serde(rename = "dpkg-status")]
    DpkgStatus,
    #[serde(rename = "cyclonedx")]
    CycloneDx,
    #[serde(rename = "spdx")]
    Spdx,
}

impl Format {
    pub const ALL: [Format; 13] = [
        Format::ComposerLock,
        Format::ComposerInstalled,
        Format::PackageLock,
        Format::YarnLock,
        Format::PnpmLock,
        Format::CargoLock,
        Format::PoetryLock,
        Format::UvLock,
        Format::PipfileLock,
        Format::Requirements,
        Format::DpkgStatus,
        Format::CycloneDx,
        Format::Spdx,
    ];

    /// The conventional file name, or a short name for formats without one.
    pub fn name(self) -> &'static str {
        match self {
            Format::ComposerLock => "composer.lock",
            Format::ComposerInstalled => "installed.json",
            Format::PackageLock => "package-lock.json",
            Format::YarnLock => "yarn.lock",
            Format::PnpmLock => "pnpm-lock.yaml",
            Format::CargoLock => "Cargo.lock",
            Format::PoetryLock => "poetry.lock",
            Format::UvLock => "uv.lock",
            Format::PipfileLock => "Pipfile.lock",
            Format::Requirements => "requirements.txt",
            Format::DpkgStatus => "dpkg-status",
            Format::CycloneDx => "cyclonedx",
            Format::Spdx => "spdx",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything one file says is installed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub format: Format,
    /// In file order; identical (key, version, dev) entries appear once.
    pub packages: Vec<InstalledPackage>,
    pub unevaluable: Vec<Unevaluable>,
    /// The Debian release codename (`bookworm`), from a dpkg status database's `base-files`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debian_release: Option<String>,
}

/// One installed package at one version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledPackage {
    pub key: PackageKey,
    /// As the file writes it (`v5.4.1`, `dev-main`, `1:2.3-4`); the matcher decides whether it
    /// can be evaluated.
    pub version: String,
    /// Only needed for development. Flagged, never dropped: dev dependencies are often deployed
    /// (PHPUnit's CVE-2017-9841 was exploited on production hosts).
    pub dev: bool,
    /// 1-based line in the file where the entry starts, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Debian: the binary packages built from this source package that are installed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binaries: Vec<String>,
}

/// An entry that names a package but cannot be matched against advisories.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unevaluable {
    pub ecosystem: Option<Ecosystem>,
    pub name: String,
    /// What the file says (the requirement line, the purl, the version field).
    pub requirement: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// Parses `content` as `format`. `file` names the input in errors.
pub fn parse(format: Format, file: &str, content: &[u8]) -> Result<Inventory, ParseError> {
    if content.len() > MAX_INPUT_BYTES {
        return Err(ParseError::new(
            file,
            format!(
                "input is {} bytes, more than the limit of {MAX_INPUT_BYTES}",
                content.len()
            ),
        ));
    }
    // Editors on Windows put a byte order mark in front of text files; no format here means
    // anything by it.
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content);
    let mut out = Collector::new(file, format);
    match format {
        Format::ComposerLock => composer::parse_lock(&mut out, content)?,
        Format::ComposerInstalled => composer::parse_installed(&mut out, content)?,
        Format::PackageLock => npm::parse(&mut out, content)?,
        Format::YarnLock => yarn::parse(&mut out, content)?,
        Format::PnpmLock => pnpm::parse(&mut out, content)?,
        Format::CargoLock => cargo::parse(&mut out, content)?,
        Format::PoetryLock => python::parse_poetry(&mut out, content)?,
        Format::UvLock => python::parse_uv(&mut out, content)?,
        Format::PipfileLock => python::parse_pipfile(&mut out, content)?,
        Format::Requirements => python::parse_requirements(&mut out, content)?,
        Format::DpkgStatus => dpkg::parse(&mut out, content)?,
        Format::CycloneDx => sbom::parse_cyclonedx(&mut out, content)?,
        Format::Spdx => sbom::parse_spdx(&mut out, content)?,
    }
    Ok(out.finish())
}

/// Detects the format from the file name and content, then parses.
pub fn parse_auto(file: &str, content: &[u8]) -> Result<Inventory, ParseError> {
    match detect(file, content) {
        Some(format) => parse(format, file, content),
        None => Err(ParseError::new(file, "not a recognised inventory format")),
    }
}

/// Accumulates a parser's results, enforcing [`MAX_PACKAGES`] (entries as the file lists them)
/// and removing duplicates at the end.
pub(crate) struct Collector<'a> {
    pub(crate) file: &'a str,
    format: Format,
    packages: Vec<InstalledPackage>,
    unevaluable: Vec<Unevaluable>,
    debian_release: Option<String>,
}

impl<'a> Collector<'a> {
    fn new(file: &'a str, format: Format) -> Self {
        Collector {
            file,
            format,
            packages: Vec::new(),
            unevaluable: Vec::new(),
            debian_release: None,
        }
    }

    /// Room for `n` more packages, when a parser knows how many are coming.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.packages.reserve(n.min(MAX_PACKAGES));
    }

    fn check_limit(&self) -> Result<(), ParseError> {
        if self.packages.len() + self.unevaluable.len() >= MAX_PACKAGES {
            return Err(ParseError::new(
                self.file,
                format!("more than {MAX_PACKAGES} packages"),
            ));
        }
        Ok(())
    }

    pub(crate) fn package(
        &mut self,
        key: PackageKey,
        version: &str,
        dev: bool,
        line: Option<u32>,
    ) -> Result<(), ParseError> {
        self.package_with_binaries(key, version, dev, line, Vec::new())
    }

    pub(crate) fn package_with_binaries(
        &mut self,
        key: PackageKey,
        version: &str,
        dev: bool,
        line: Option<u32>,
        binaries: Vec<String>,
    ) -> Result<(), ParseError> {
        self.check_limit()?;
        self.packages.push(InstalledPackage {
            key,
            version: version.to_owned(),
            dev,
            line,
            binaries,
        });
        Ok(())
    }

    pub(crate) fn unevaluable(
        &mut self,
        ecosystem: Option<Ecosystem>,
        name: &str,
        requirement: &str,
        reason: &str,
        line: Option<u32>,
    ) -> Result<(), ParseError> {
        self.check_limit()?;
        self.unevaluable.push(Unevaluable {
            ecosystem,
            name: name.to_owned(),
            requirement: requirement.to_owned(),
            reason: reason.to_owned(),
            line,
        });
        Ok(())
    }

    pub(crate) fn set_debian_release(&mut self, release: Option<String>) {
        self.debian_release = release;
    }

    /// An error at a line, with the field it concerns.
    pub(crate) fn error(
        &self,
        line: Option<u32>,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> ParseError {
        ParseError {
            file: self.file.to_owned(),
            line,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    fn finish(mut self) -> Inventory {
        // The same package installed in several places (nested node_modules) is one finding;
        // the first occurrence is kept. A set of borrowed entries: cloning keys into a set was a
        // fifth of parsing a lockfile, and sorting positions to find the repeats a sixth of a
        // 475-package scan's instructions. foldhash's per-process seed keeps a hostile file
        // from choosing colliding names.
        let keep: Vec<bool> = {
            let mut seen: HashSet<(&PackageKey, &str, bool), foldhash::fast::RandomState> =
                HashSet::with_capacity_and_hasher(self.packages.len(), Default::default());
            self.packages
                .iter()
                .map(|p| seen.insert((&p.key, p.version.as_str(), p.dev)))
                .collect()
        };
        if keep.contains(&false) {
            let mut at = 0;
            self.packages.retain(|_| {
                at += 1;
                keep[at - 1]
            });
        }
        Inventory {
            format: self.format,
            packages: self.packages,
            unevaluable: self.unevaluable,
            debian_release: self.debian_release,
        }
    }
}
