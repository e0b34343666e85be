//! `palisade scan`: inventories found under the given paths, matched offline against the local
//! advisory store. Each installed package is looked up by its key; every affected entry found is
//! evaluated by the OSV rules; results are vulnerabilities, informational notices (unmaintained,
//! unsound) kept apart, and "cannot evaluate" verdicts, which are counted and shown rather than
//! guessed. A file that fails to parse is reported and the rest of the scan goes on.

pub mod discover;
pub mod ignore;
pub mod report;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use palisade_inventory::{Inventory, MAX_INPUT_BYTES};
use palisade_vulndb::{AdvisoryHead, AdvisoryLookup, Candidate, DbError};
use palisade_vulns::{
    AdvisoryKind, CompiledAffected, Ecosystem, PackageKey, SeverityLevel, Verdict, bytes,
};
use serde::Serialize;

pub use ignore::{IgnoreEntry, IgnoreFile};

/// How to scan.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// The Debian release (codename or number) for dpkg status files that do not reveal it.
    pub debian_release: Option<String>,
    pub ignore: IgnoreFile,
    /// "Today", for ignore-entry expiry; a parameter so tests control it.
    pub today: Date,
}

/// A CISA KEV listing, as shown with a finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KevFlag {
    pub cve: String,
    pub date_added: Date,
    pub due_date: Option<Date>,
    pub ransomware: bool,
}

/// EPSS as shown with a finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpssFlag {
    pub cve: String,
    pub score: f64,
    pub percentile: f64,
}

/// One installed package affected by one advisory.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub path: String,
    pub line: Option<u32>,
    pub ecosystem: Ecosystem,
    pub package: String,
    pub installed: String,
    pub dev: bool,
    pub advisory: String,
    pub source: String,
    pub aliases: Vec<String>,
    pub kind: AdvisoryKind,
    pub summary: String,
    pub severity: SeverityLevel,
    pub score: Option<f64>,
    pub kev: Option<KevFlag>,
    pub epss: Option<EpssFlag>,
    pub fixed: Vec<String>,
    /// "Possibly fixed after": the source's hint when it gives no upper bound.
    pub last_known_affected: Option<String>,
    pub url: Option<String>,
    /// Set when an ignore entry covers this finding: its reason.
    pub ignored: Option<String>,
}

/// A package the scanner could not decide about, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Undecided {
    pub path: String,
    pub package: String,
    pub installed: String,
    pub advisory: Option<String>,
    pub reason: String,
}

/// What happened to one file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileResult {
    pub path: String,
    pub format: Option<String>,
    pub packages: usize,
    pub dev_packages: usize,
    pub error: Option<String>,
}

/// The scan's result.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub files: Vec<FileResult>,
    /// Vulnerabilities and malicious packages, most severe first.
    pub findings: Vec<Finding>,
    /// Informational advisories (unmaintained, unsound, notices).
    pub notices: Vec<Finding>,
    pub cannot_evaluate: Vec<Undecided>,
    pub warnings: Vec<String>,
    pub packages: usize,
}

impl Report {
    /// Live (not ignored) vulnerability findings at or above `level`. An unknown severity counts
    /// as meeting any threshold: not knowing how bad it is is no reason to pass.
    pub fn failing(&self, level: SeverityLevel) -> usize {
        self.findings
            .iter()
            .filter(|f| f.ignored.is_none())
            .filter(|f| f.severity >= level || f.severity == SeverityLevel::Unknown)
            .count()
    }
}

/// Why a scan could not run at all (a bad file is not one of these: it is in the report).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What one advisory entry says about one installed version, when it says anything.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// The advisory's row in the store.
    pub advisory: i64,
    /// Affected or cannot evaluate (not-affected verdicts are not kept).
    pub verdict: Verdict,
    pub fixed: Vec<String>,
    /// "Possibly fixed after": the source's hint when it gives no upper bound.
    pub last_known_affected: Option<String>,
}

/// The evaluator's maps. foldhash rather than the standard SipHash: hashing package keys and
/// versions was 7 % of a one-lockfile scan's instructions, and foldhash keeps a per-process
/// random seed, so a hostile lockfile still cannot choose colliding keys ahead of time.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The matching engine over a store, with its caches: each (package, version) is evaluated once
/// and each advisory read once, however many inventories share them. Only verdicts that say
/// something are kept; the entries they came from are dropped as soon as they are evaluated
/// (keeping ten thousand compiled entries to the end of a large scan cost a fifth of its time in
/// freeing them). Used by `scan` and by the server's fleet matcher.
pub struct Evaluator<'a> {
    db: &'a dyn AdvisoryLookup,
    /// Whether KEV or EPSS data is loaded at all; without it there is nothing to look up.
    enrichment: bool,
    /// Package → installed version → what the advisories say about it; `None` for a package no
    /// advisory names, which is most of them and needs no versions kept at all.
    verdicts: Map<PackageKey, Option<Map<String, Vec<Hit>>>>,
    advisories: Map<i64, AdvisoryHead>,
    flags: Map<i64, (Option<KevFlag>, Option<EpssFlag>)>,
}

impl<'a> Evaluator<'a> {
    pub fn new(db: &'a dyn AdvisoryLookup) -> Result<Evaluator<'a>, DbError> {
        Ok(Evaluator {
            db,
            enrichment: db.has_enrichment()?,
            verdicts: Map::default(),
            advisories: Map::default(),
            flags: Map::default(),
        })
    }

    /// What the advisories say about `version` of `key` (empty: nothing, or not evaluated yet).
    pub fn hits(&self, key: &PackageKey, version: &str) -> &[Hit] {
        self.verdicts
            .get(key)
            .and_then(|m| m.as_ref()?.get(version))
            .map_or(&[], Vec::as_slice)
    }

    /// Whether `version` of `key` has been evaluated.
    pub fn knows(&self, key: &PackageKey, version: &str) -> bool {
        self.verdicts
            .get(key)
            .is_some_and(|m| m.as_ref().is_none_or(|m| m.contains_key(version)))
    }

    /// Evaluates every (package, versions) pair not yet seen, looking the packages up in one
    /// statement per ten thousand. Versions may be borrowed: only those of packages that some
    /// advisory names are copied into the evaluator.
    pub fn evaluate<V: AsRef<str> + Into<String>>(
        &mut self,
        wanted: Vec<(PackageKey, Vec<V>)>,
    ) -> Result<(), DbError> {
        let mut wanted = wanted.into_iter();
        loop {
            let (keys, versions): (Vec<PackageKey>, Vec<Vec<V>>) =
                wanted.by_ref().take(10_000).unzip();
            if keys.is_empty() {
                return Ok(());
            }
            // Room for every package at once: each doubling of the map touches fresh memory.
            self.verdicts.reserve(keys.len());
            let found = self.db.candidates_many(&keys)?;
            for ((key, versions), list) in keys.into_iter().zip(versions).zip(found) {
                if list.is_empty() {
                    self.verdicts.insert(key, None);
                    continue;
                }
                let compiled: Vec<(Candidate, CompiledAffected)> = list
                    .into_iter()
                    .map(|c| {
                        let compiled = CompiledAffected::compile(&c.affected, &c.kind);
                        (c, compiled)
                    })
                    .collect();
                let by_version = self
                    .verdicts
                    .entry(key)
                    .or_insert(None)
                    .get_or_insert_default();
                for v in versions {
                    let hits = compiled
                        .iter()
                        .filter_map(|(c, comp)| match comp.evaluate(v.as_ref()) {
                            Verdict::NotAffected => None,
                            verdict => Some(Hit {
                                advisory: c.advisory,
                                verdict,
                                fixed: c.affected.fixed.clone(),
                                last_known_affected: c.affected.last_known_affected.clone(),
                            }),
                        })
                        .collect();
                    by_version.insert(v.into(), hits);
                }
            }
        }
    }

    /// Reads the report columns of every advisory among `rowids` not read yet, in one pass
    /// over the store, so that [`Evaluator::advisory`] finds them.
    pub fn read_advisories(
        &mut self,
        rowids: impl IntoIterator<Item = i64>,
    ) -> Result<(), DbError> {
        let mut missing: Vec<i64> = rowids
            .into_iter()
            .filter(|r| !self.advisories.contains_key(r))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let heads = self.db.heads(&missing)?;
        self.advisories.extend(missing.into_iter().zip(heads));
        Ok(())
    }

    /// The report columns of an advisory, read once.
    pub fn advisory(&mut self, rowid: i64) -> Result<&AdvisoryHead, DbError> {
        if !self.advisories.contains_key(&rowid) {
            let a = self.db.head(rowid)?;
            self.advisories.insert(rowid, a);
        }
        Ok(&self.advisories[&rowid])
    }

    /// KEV and EPSS through aliases, upstream ids and the alias group: they are attached to CVE
    /// ids, and a GHSA or RUSTSEC record inherits them from its CVE.
    pub fn flags(&mut self, rowid: i64) -> Result<(Option<KevFlag>, Option<EpssFlag>), DbError> {
        if !self.enrichment {
            return Ok((None, None));
        }
        if let Some(f) = self.flags.get(&rowid) {
            return Ok(f.clone());
        }
        let adv = self.advisory(rowid)?;
        let mut ids: Vec<String> = adv.aliases.clone();
        let own = adv.id.clone();
        // The record's own aliases usually name its CVE; the group is walked only when not.
        if !ids.iter().any(|i| i.starts_with("CVE-")) {
            ids.extend(self.db.alias_group(&own)?);
        }
        ids.push(own);
        ids.sort();
        ids.dedup();
        let (mut kev, mut epss) = (None::<KevFlag>, None::<EpssFlag>);
        for cve in ids.iter().filter(|i| i.starts_with("CVE-")) {
            if kev.is_none()
                && let Some(k) = self.db.kev(cve)?
            {
                kev = Some(KevFlag {
                    cve: k.cve,
                    date_added: k.date_added,
                    due_date: k.due_date,
                    ransomware: k.ransomware,
                });
            }
            if let Some(e) = self.db.epss(cve)?
                && epss.as_ref().is_none_or(|x| e.score > x.score)
            {
                epss = Some(EpssFlag {
                    cve: e.cve,
                    score: e.score,
                    percentile: e.percentile,
                });
            }
        }
        self.flags.insert(rowid, (kev.clone(), epss.clone()));
        Ok((kev, epss))
    }
}

/// The file's bytes; errors name the file, as the parsers' errors do.
fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if meta.len() > MAX_INPUT_BYTES as u64 {
        return Err(format!(
            "{shown}: larger than the {MAX_INPUT_BYTES}-byte limit for one inventory"
        ));
    }
    std::fs::read(path).map_err(|e| format!("{shown}: {e}"))
}

/// Scans every inventory under `paths` against `db`, in one consistent snapshot of the store.
pub fn scan(
    db: &dyn AdvisoryLookup,
    paths: &[PathBuf],
    opts: &ScanOptions,
) -> Result<Report, ScanError> {
    scan_with_progress(db, paths, opts, &mut |_, _| {})
}

/// [`scan`], calling `progress(files done, files found)` as each file starts, for a progress bar
/// on scans of whole fleets' folders.
pub fn scan_with_progress(
    db: &dyn AdvisoryLookup,
    paths: &[PathBuf],
    opts: &ScanOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Report, ScanError> {
    palisade_vulndb::in_snapshot(db, || scan_in_snapshot(db, paths, opts, progress))
}

fn scan_in_snapshot(
    db: &dyn AdvisoryLookup,
    paths: &[PathBuf],
    opts: &ScanOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Report, ScanError> {
    let (files, walk_errors) = discover::discover(paths);
    let total = files.len();
    let mut report = Report {
        warnings: walk_errors,
        ..Report::default()
    };
    let mut cache = Evaluator::new(db)?;
    let mut used_ignores = vec![false; opts.ignore.ignore.len()];
    for (done, file) in files.into_iter().enumerate() {
        progress(done, total);
        let shown = file.display().to_string();
        let parsed = read_file(&file).and_then(|bytes| {
            palisade_inventory::parse_auto(&shown, &bytes).map_err(|e| e.to_string())
        });
        match parsed {
            Err(e) => report.files.push(FileResult {
                path: shown.clone(),
                format: None,
                packages: 0,
                dev_packages: 0,
                error: Some(e),
            }),
            Ok(inv) => {
                scan_inventory(
                    &mut cache,
                    &shown,
                    inv,
                    opts,
                    &mut report,
                    &mut used_ignores,
                )?;
            }
        }
    }
    for (i, used) in used_ignores.iter().enumerate() {
        let e = &opts.ignore.ignore[i];
        if e.expires < opts.today {
            report.warnings.push(format!(
                "ignore entry {} expired on {}: it no longer applies",
                e.id, e.expires
            ));
        } else if !used {
            report.warnings.push(format!(
                "ignore entry {} matches nothing in this scan: remove it or check its id",
                e.id
            ));
        }
    }
    report.findings.sort_by(|a, b| {
        b.kev
            .is_some()
            .cmp(&a.kev.is_some())
            .then(b.severity.cmp(&a.severity))
            .then(a.path.cmp(&b.path))
            .then(a.package.cmp(&b.package))
            .then(a.advisory.cmp(&b.advisory))
    });
    Ok(report)
}

fn scan_inventory(
    cache: &mut Evaluator<'_>,
    shown: &str,
    mut inv: Inventory,
    opts: &ScanOptions,
    report: &mut Report,
    used_ignores: &mut [bool],
) -> Result<(), DbError> {
    let dev_packages = inv.packages.iter().filter(|p| p.dev).count();
    report.files.push(FileResult {
        path: shown.to_owned(),
        format: Some(inv.format.name().to_owned()),
        packages: inv.packages.len(),
        dev_packages,
        error: None,
    });
    report.packages += inv.packages.len();
    for u in inv.unevaluable.drain(..) {
        report.cannot_evaluate.push(Undecided {
            path: shown.to_owned(),
            package: u.name,
            installed: u.requirement,
            advisory: None,
            reason: u.reason,
        });
    }
    let release = opts
        .debian_release
        .as_deref()
        .map(|r| {
            palisade_vulns::ecosystem::debian_codename(r)
                .map(str::to_owned)
                .unwrap_or_else(|| r.to_ascii_lowercase())
        })
        .or(inv.debian_release.clone());
    if let Some(r) = &release {
        for pkg in &mut inv.packages {
            if pkg.key.ecosystem == Ecosystem::Debian {
                pkg.key.qualifier = r.clone();
            }
        }
    }
    // A Debian package without a release (an SBOM purl without `distro`) cannot be evaluated;
    // the other packages of the same file still can, so only those are set aside.
    let before = inv.packages.len();
    inv.packages
        .retain(|p| !(p.key.ecosystem == Ecosystem::Debian && p.key.qualifier.is_empty()));
    let unplaced = before - inv.packages.len();
    if unplaced > 0 {
        report.cannot_evaluate.push(Undecided {
            path: shown.to_owned(),
            package: format!("{unplaced} Debian packages"),
            installed: String::new(),
            advisory: None,
            reason: "their Debian release is unknown (no base-files package in a dpkg status, \
                     no `distro` in a purl): pass --debian-release"
                .to_owned(),
        });
    }
    // Look keys up in order: neighbouring keys share pages of the store and blocks of the
    // index. One sort of borrowed pairs: an ordered map of cloned keys cost a tenth of a scan.
    // By key alone, and stable: lockfiles list packages in long runs of name order, which the
    // stable sort merges rather than re-sorts. They order two versions of one name
    // semantically, so sorting by key and version text sorted nearly every file in full (4 % of
    // a 475-package scan's instructions); the unstable sort by key alone costs 3 % more here.
    let mut pairs: Vec<(&PackageKey, &str)> = inv
        .packages
        .iter()
        .filter(|p| !cache.knows(&p.key, &p.version))
        .map(|p| (&p.key, p.version.as_str()))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    // Sized once, as the lists below: each doubling touches fresh memory, a page fault per 4 KB
    // (growing these two was 30 of a 345-package scan's 330 faults).
    let mut wanted: Vec<(PackageKey, Vec<&str>)> = Vec::with_capacity(pairs.len());
    for (key, version) in pairs {
        match wanted.last_mut() {
            // A package's versions are few: a linear check finds the repeats.
            Some((k, versions)) if k == key => {
                if !versions
                    .iter()
                    .any(|v| bytes::eq(v.as_bytes(), version.as_bytes()))
                {
                    versions.push(version);
                }
            }
            _ => wanted.push((key.clone(), vec![version])),
        }
    }
    cache.evaluate(wanted)?;
    let rowids: Vec<i64> = inv
        .packages
        .iter()
        .flat_map(|p| cache.hits(&p.key, &p.version))
        .map(|h| h.advisory)
        .collect();
    // Every hit may become a finding, the usual kind; notices are few.
    report.findings.reserve(rowids.len());
    cache.read_advisories(rowids)?;
    for pkg in &inv.packages {
        let hits: Vec<Hit> = cache.hits(&pkg.key, &pkg.version).to_vec();
        // One advisory may list the same package in several entries: report it once.
        let mut seen: Vec<i64> = Vec::new();
        for Hit {
            advisory: rowid,
            verdict,
            fixed,
            last_known_affected: lka,
        } in hits
        {
            match verdict {
                Verdict::NotAffected => {}
                Verdict::CannotEvaluate(reason) => {
                    let adv = cache.advisory(rowid)?;
                    report.cannot_evaluate.push(Undecided {
                        path: shown.to_owned(),
                        package: pkg.key.name.clone(),
                        installed: pkg.version.clone(),
                        advisory: Some(adv.id.clone()),
                        reason,
                    });
                }
                Verdict::Affected => {
                    if seen.contains(&rowid) {
                        continue;
                    }
                    seen.push(rowid);
                    let (kev, epss) = cache.flags(rowid)?;
                    let adv = cache.advisory(rowid)?;
                    let mut finding = Finding {
                        path: shown.to_owned(),
                        line: pkg.line,
                        ecosystem: pkg.key.ecosystem,
                        package: pkg.key.name.clone(),
                        installed: pkg.version.clone(),
                        dev: pkg.dev,
                        advisory: adv.id.clone(),
                        source: adv.source.clone(),
                        aliases: adv.aliases.clone(),
                        kind: adv.kind.clone(),
                        summary: adv.summary.clone(),
                        severity: adv.severity,
                        score: adv.score,
                        kev,
                        epss,
                        fixed,
                        last_known_affected: lka,
                        url: adv.url.clone(),
                        ignored: None,
                    };
                    let ids: Vec<&str> = std::iter::once(finding.advisory.as_str())
                        .chain(finding.aliases.iter().map(String::as_str))
                        .collect();
                    if let Some((i, entry)) =
                        opts.ignore
                            .matching(opts.today, &ids, &finding.package, &finding.path)
                    {
                        used_ignores[i] = true;
                        finding.ignored = Some(entry.reason.clone());
                    }
                    if finding.kind.is_vulnerability() {
                        report.findings.push(finding);
                    } else {
                        report.notices.push(finding);
                    }
                }
            }
        }
    }
    Ok(())
}
