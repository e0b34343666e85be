//! OSV records (`ossf/osv-schema` `docs/schema.md`), as osv.dev's per-ecosystem exports, GHSA,
//! RustSec's OSV branch and the malicious-packages repository write them.
//!
//! What this parser must not get wrong (vuln-management notes, section 2): every window of every
//! range counts (`from_osv_events` turns a range into all its windows); a `GIT` range is skipped,
//! not taken as a verdict, so an `ECOSYSTEM` range after it still counts; `last_affected` stays
//! inclusive; GHSA's `last_known_affected_version_range` is kept as a hint, not a bound; a
//! withdrawn record is kept with its withdrawal time; `upstream` stays apart from `aliases`; the
//! ecosystem suffix (`Debian:12`) becomes part of the package key; `MAL-` records are malicious,
//! RustSec's informational ones are not vulnerabilities. A bound that does not parse marks the
//! entry's `problem` instead of failing the record.

use std::collections::BTreeMap;

use palisade_versions::Scheme;
use palisade_vulns::interval::{Event, Interval, from_osv_events, normalize};
use palisade_vulns::{
    Advisory, AdvisoryKind, Affected, Ecosystem, PackageKey, SeverityVector, Source,
};
use serde::Deserialize;
use serde_json::Value;

use crate::MAX_RECORD_BYTES;
use crate::error::{FeedError, check_size, strip_bom_bytes};
use crate::util::{extend_unique, null_default, parse_timestamp, read_json};

/// What parsing skipped, so an import can report coverage instead of dropping data silently.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsvStats {
    pub records: usize,
    /// `affected` entries turned into model entries.
    pub affected: usize,
    /// `affected` entries skipped because Palisade does not evaluate their ecosystem, by the
    /// ecosystem's base name (`Go`, `Maven`, `Alpine`…).
    pub skipped_ecosystems: BTreeMap<String, usize>,
    /// `affected` entries without a package (some records list only `GIT` ranges).
    pub skipped_without_package: usize,
    /// Ranges skipped for their type (`GIT`), counted by type.
    pub skipped_ranges: BTreeMap<String, usize>,
    /// Entries whose ranges could not all be turned into intervals (`Affected::problem`).
    pub entries_with_problems: usize,
}

/// Parses a file holding one OSV record or an array of records.
pub fn parse(file: &str, content: &[u8]) -> Result<Vec<Advisory>, FeedError> {
    parse_with_stats(file, content).map(|(list, _)| list)
}

/// Like `parse`, also counting what was skipped.
pub fn parse_with_stats(
    file: &str,
    content: &[u8],
) -> Result<(Vec<Advisory>, OsvStats), FeedError> {
    check_size(file, content.len(), MAX_RECORD_BYTES, "an OSV file")?;
    let content = strip_bom_bytes(content);
    let first = content.iter().copied().find(|b| !b.is_ascii_whitespace());
    let is_array = first == Some(b'[');
    let records: Vec<Record> = if is_array {
        read_json(file, content)?
    } else {
        vec![read_json(file, content)?]
    };
    let mut stats = OsvStats::default();
    let mut out = Vec::with_capacity(records.len());
    for (i, record) in records.into_iter().enumerate() {
        let prefix = if is_array {
            format!("[{i}].")
        } else {
            String::new()
        };
        out.push(convert(file, &prefix, record, &mut stats)?);
    }
    Ok((out, stats))
}

#[derive(Deserialize)]
struct Record {
    id: String,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    aliases: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    upstream: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    related: Vec<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    severity: Vec<Severity>,
    #[serde(default, deserialize_with = "null_default")]
    affected: Vec<AffectedEntry>,
    #[serde(default, deserialize_with = "null_default")]
    references: Vec<Reference>,
    #[serde(default)]
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct Severity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct AffectedEntry {
    #[serde(default)]
    package: Option<Package>,
    #[serde(default, deserialize_with = "null_default")]
    severity: Vec<Severity>,
    #[serde(default, deserialize_with = "null_default")]
    ranges: Vec<Range>,
    #[serde(default, deserialize_with = "null_default")]
    versions: Vec<String>,
    #[serde(default)]
    database_specific: Option<Value>,
    #[serde(default)]
    ecosystem_specific: Option<Value>,
}

#[derive(Deserialize)]
struct Package {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct Range {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, deserialize_with = "null_default")]
    events: Vec<RangeEvent>,
}

#[derive(Deserialize)]
struct RangeEvent {
    #[serde(default)]
    introduced: Option<String>,
    #[serde(default)]
    fixed: Option<String>,
    #[serde(default)]
    last_affected: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

fn timestamp(
    file: &str,
    field: String,
    value: Option<&str>,
) -> Result<Option<jiff::Timestamp>, FeedError> {
    match value {
        None => Ok(None),
        Some(text) => parse_timestamp(text).map(Some).ok_or_else(|| {
            FeedError::new(file, format!("{text:?} is not an RFC 3339 timestamp")).with_field(field)
        }),
    }
}

/// A string field of a `database_specific` object, if it is one.
fn text_field<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a str> {
    v?.get(key)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn convert(
    file: &str,
    prefix: &str,
    r: Record,
    stats: &mut OsvStats,
) -> Result<Advisory, FeedError> {
    stats.records += 1;
    let mut a = Advisory::new(Source::Osv, r.id.trim());
    if a.id.is_empty() {
        return Err(
            FeedError::new(file, "the record id is empty").with_field(format!("{prefix}id"))
        );
    }
    a.modified = timestamp(file, format!("{prefix}modified"), r.modified.as_deref())?;
    a.published = timestamp(file, format!("{prefix}published"), r.published.as_deref())?;
    a.withdrawn = timestamp(file, format!("{prefix}withdrawn"), r.withdrawn.as_deref())?;
    extend_unique(&mut a.aliases, r.aliases.iter().map(String::as_str));
    // `upstream` is transitive but not symmetric: kept apart so a distribution record never
    // joins its CVE's alias group.
    extend_unique(&mut a.upstream, r.upstream.iter().map(String::as_str));
    extend_unique(&mut a.related, r.related.iter().map(String::as_str));
    a.summary = r.summary.unwrap_or_default().trim().to_owned();
    a.details = r.details.unwrap_or_default();
    for s in r
        .severity
        .iter()
        .chain(r.affected.iter().flat_map(|e| e.severity.iter()))
    {
        let v = SeverityVector::new(s.kind.trim(), s.score.trim());
        if !a.severity.contains(&v) {
            a.severity.push(v);
        }
    }
    let db = r.database_specific.as_ref();
    a.severity_text = text_field(db, "severity").map(str::to_owned);
    extend_unique(
        &mut a.references,
        r.references.iter().filter_map(|x| x.url.as_deref()),
    );
    a.kind = kind(&a.id, db, &r.affected);
    for entry in r.affected {
        if let Some(affected) = convert_affected(entry, stats) {
            stats.affected += 1;
            if affected.problem.is_some() {
                stats.entries_with_problems += 1;
            }
            a.affected.push(affected);
        }
    }
    Ok(a)
}

/// Malicious-package records by id prefix or by the origin list the malicious-packages
/// repository writes; RustSec's informational labels (`unmaintained`, `unsound`, `notice`) at
/// record or entry level.
fn kind(id: &str, db: Option<&Value>, affected: &[AffectedEntry]) -> AdvisoryKind {
    let malicious_origins = db
        .and_then(|d| d.get("malicious-packages-origins"))
        .is_some_and(|v| !v.is_null());
    if id.starts_with("MAL-") || malicious_origins {
        return AdvisoryKind::Malicious;
    }
    let label = text_field(db, "informational").or_else(|| {
        affected.iter().find_map(|e| {
            text_field(e.database_specific.as_ref(), "informational")
                .or_else(|| text_field(e.ecosystem_specific.as_ref(), "informational"))
        })
    });
    match label {
        Some(l) => AdvisoryKind::Informational(l.to_owned()),
        None => AdvisoryKind::Vulnerability,
    }
}

fn events(range: &Range) -> Vec<Event> {
    let mut out = Vec::with_capacity(range.events.len());
    for e in &range.events {
        if let Some(v) = &e.introduced {
            out.push(Event::Introduced(v.clone()));
        }
        if let Some(v) = &e.fixed {
            out.push(Event::Fixed(v.clone()));
        }
        if let Some(v) = &e.last_affected {
            out.push(Event::LastAffected(v.clone()));
        }
        if let Some(v) = &e.limit {
            out.push(Event::Limit(v.clone()));
        }
    }
    out
}

fn convert_affected(entry: AffectedEntry, stats: &mut OsvStats) -> Option<Affected> {
    let Some(package) = entry.package.as_ref().filter(|p| !p.name.trim().is_empty()) else {
        stats.skipped_without_package += 1;
        return None;
    };
    let Some((ecosystem, qualifier)) = Ecosystem::from_osv(package.ecosystem.trim()) else {
        let base = package.ecosystem.split(':').next().unwrap_or("").trim();
        *stats.skipped_ecosystems.entry(base.to_owned()).or_default() += 1;
        return None;
    };
    let scheme = ecosystem.scheme();
    let mut out = Affected::new(PackageKey::new(ecosystem, qualifier, &package.name));
    let mut intervals: Vec<Interval> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for (i, range) in entry.ranges.iter().enumerate() {
        let kind = range.kind.trim();
        let list = match kind {
            "ECOSYSTEM" => from_osv_events(scheme, &events(range)),
            "SEMVER" => semver_range(scheme, &events(range)),
            _ => {
                // Not a version range (`GIT` holds commits): skipped, and the next range is
                // still read — a `GIT` range listed first must not hide an `ECOSYSTEM` one.
                *stats.skipped_ranges.entry(kind.to_owned()).or_default() += 1;
                if !out.skipped_ranges.iter().any(|k| k == kind) {
                    out.skipped_ranges.push(kind.to_owned());
                }
                continue;
            }
        };
        extend_unique(
            &mut out.fixed,
            range.events.iter().filter_map(|e| e.fixed.as_deref()),
        );
        match list {
            Ok(list) => intervals.extend(list),
            Err(e) => problems.push(format!("ranges[{i}] ({kind}): {e}")),
        }
    }
    match normalize(scheme, &intervals) {
        Ok(list) => out.intervals = list,
        Err(e) => problems.push(e),
    }
    extend_unique(&mut out.versions, entry.versions.iter().map(String::as_str));
    // GHSA's "no fix yet" hint: not part of the verdict (the spec gives `database_specific` no
    // effect on evaluation), kept to label findings "possibly fixed after".
    out.last_known_affected = text_field(
        entry.database_specific.as_ref(),
        "last_known_affected_version_range",
    )
    .map(str::to_owned);
    if !problems.is_empty() {
        out.problem = Some(problems.join("; "));
    }
    Some(out)
}

/// A `SEMVER` range in an ecosystem with another scheme: its windows are computed in SemVer
/// order, and kept only if every bound also parses in the ecosystem's own scheme — the matcher
/// compares installed versions in that scheme, and a bound it cannot read would silently turn
/// into "cannot evaluate" for every version.
fn semver_range(scheme: Scheme, events: &[Event]) -> Result<Vec<Interval>, String> {
    let list = from_osv_events(Scheme::SemVer, events)?;
    if matches!(scheme, Scheme::SemVer) {
        return Ok(list);
    }
    for bound in list
        .iter()
        .flat_map(|i| i.lower.iter().chain(i.upper.iter()))
    {
        scheme.parse(&bound.version).map_err(|e| {
            format!(
                "SEMVER bound {:?} does not parse in the ecosystem's scheme: {e}",
                bound.version
            )
        })?;
    }
    Ok(list)
}
