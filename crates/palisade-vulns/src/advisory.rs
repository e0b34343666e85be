//! One model for every advisory source. Each parser (OSV, RustSec, FriendsOfPHP, the Debian
//! tracker) fills this shape; the store keeps it; the matcher reads only `Affected`. Ranges arrive
//! here already turned into intervals (see `interval`), so nothing downstream re-reads a source's
//! event lists.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ecosystem::PackageKey;
use crate::interval::Interval;
use crate::severity::{SeverityLevel, SeverityVector};

/// Where an advisory came from. Records are identified by (source, id): the same id can reach
/// us from two feeds (a RUSTSEC id from the RustSec folder and from osv.dev), and each copy
/// stays attributable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Osv,
    Rustsec,
    Friendsofphp,
    DebianTracker,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Osv => "osv",
            Source::Rustsec => "rustsec",
            Source::Friendsofphp => "friendsofphp",
            Source::DebianTracker => "debian-tracker",
        }
    }

    pub fn from_name(s: &str) -> Option<Source> {
        [
            Source::Osv,
            Source::Rustsec,
            Source::Friendsofphp,
            Source::DebianTracker,
        ]
        .into_iter()
        .find(|x| x.name() == s)
    }
}

/// What kind of record this is. Informational advisories (a crate is unmaintained or unsound)
/// are not vulnerabilities and are reported apart from them; malicious-package records match by
/// exact version where they list versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "label", rename_all = "kebab-case")]
pub enum AdvisoryKind {
    Vulnerability,
    Malicious,
    /// `unmaintained`, `unsound`, `notice` or another RustSec label.
    Informational(String),
}

impl AdvisoryKind {
    pub fn is_vulnerability(&self) -> bool {
        !matches!(self, AdvisoryKind::Informational(_))
    }
}

/// A normalised advisory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    pub id: String,
    pub source: Source,
    pub kind: AdvisoryKind,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub details: String,
    /// Ids asserted to name the same vulnerability (symmetric, transitive).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Ids this record derives from (a Debian record's CVE): transitive, not symmetric, and kept
    /// out of alias groups so a distribution record never merges with its upstream.
    #[serde(default)]
    pub upstream: Vec<String>,
    #[serde(default)]
    pub related: Vec<String>,
    pub published: Option<Timestamp>,
    pub modified: Option<Timestamp>,
    /// Set when the source withdrew the record: kept, never deleted, and matched by no one.
    pub withdrawn: Option<Timestamp>,
    #[serde(default)]
    pub severity: Vec<SeverityVector>,
    /// A qualitative severity the source states when it gives no vector (GHSA's
    /// `database_specific.severity`, Debian urgency).
    pub severity_text: Option<String>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub references: Vec<String>,
}

impl Advisory {
    /// An empty vulnerability record, for parsers to fill.
    pub fn new(source: Source, id: impl Into<String>) -> Advisory {
        Advisory {
            id: id.into(),
            source,
            kind: AdvisoryKind::Vulnerability,
            summary: String::new(),
            details: String::new(),
            aliases: Vec::new(),
            upstream: Vec::new(),
            related: Vec::new(),
            published: None,
            modified: None,
            withdrawn: None,
            severity: Vec::new(),
            severity_text: None,
            affected: Vec::new(),
            references: Vec::new(),
        }
    }

    pub fn is_withdrawn(&self) -> bool {
        self.withdrawn.is_some()
    }

    /// The highest CVSS base score among the vectors that parse.
    pub fn score(&self) -> Option<f64> {
        self.severity
            .iter()
            .filter_map(SeverityVector::score)
            .max_by(f64::total_cmp)
    }

    /// The severity level: from the best CVSS score, else from the stated text.
    pub fn severity_level(&self) -> SeverityLevel {
        match self.score() {
            Some(score) => SeverityLevel::from_score(score),
            None => self
                .severity_text
                .as_deref()
                .map(SeverityLevel::from_text)
                .unwrap_or(SeverityLevel::Unknown),
        }
    }

    /// The record's id and aliases, the id first.
    pub fn all_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

/// One package an advisory affects, with the versions it affects as intervals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    pub package: PackageKey,
    /// Affected versions: the union of these intervals, in the package ecosystem's scheme,
    /// sorted and disjoint.
    #[serde(default)]
    pub intervals: Vec<Interval>,
    /// Versions the source enumerates as affected; unioned with the intervals.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Versions that fix it, for display ("upgrade to").
    #[serde(default)]
    pub fixed: Vec<String>,
    /// GHSA's hint for records without an upper bound (`last_known_affected_version_range`):
    /// not part of the verdict, shown as "possibly fixed after".
    pub last_known_affected: Option<String>,
    /// Range types that were skipped rather than evaluated (e.g. `GIT`), for display.
    #[serde(default)]
    pub skipped_ranges: Vec<String>,
    /// Why this entry's ranges cannot be evaluated (a bound that does not parse in the
    /// ecosystem's scheme). Versions not enumerated then get the "cannot evaluate" verdict.
    pub problem: Option<String>,
    /// Debian tracker state for this package and release.
    pub debian: Option<DebianState>,
}

impl Affected {
    pub fn new(package: PackageKey) -> Affected {
        Affected {
            package,
            intervals: Vec::new(),
            versions: Vec::new(),
            fixed: Vec::new(),
            last_known_affected: None,
            skipped_ranges: Vec::new(),
            problem: None,
            debian: None,
        }
    }
}

/// The Debian security tracker's view of one CVE in one source package and release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebianState {
    /// `resolved`, `open` ("not yet fixed") or `undetermined`.
    pub status: String,
    /// `unimportant`, `low`, `medium`, `high`, `not yet assigned`, `end-of-life`.
    pub urgency: String,
    /// Set when the security team decided not to issue a DSA (`ignored`, `postponed`).
    pub nodsa: Option<String>,
    pub nodsa_reason: Option<String>,
}

/// A CISA Known Exploited Vulnerabilities entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KevEntry {
    pub cve: String,
    pub vendor: String,
    pub product: String,
    pub name: String,
    pub date_added: jiff::civil::Date,
    pub due_date: Option<jiff::civil::Date>,
    /// CISA's `knownRansomwareCampaignUse` is "Known".
    pub ransomware: bool,
    pub required_action: String,
}

/// An EPSS score for one CVE on one model date.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpssScore {
    pub cve: String,
    /// Probability of exploitation activity in the next 30 days, 0–1.
    pub score: f64,
    pub percentile: f64,
}
