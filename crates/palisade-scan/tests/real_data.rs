//! Real data: every lockfile under `../shared/data/lockfiles` scanned against the real RustSec,
//! FriendsOfPHP and KEV data under `../shared/data/advisories`, with expectations derived
//! independently of Palisade's matcher:
//!
//! - Cargo: cargo-audit's own JSON output on the same lockfiles and the same database. Every
//!   disagreement is listed in `CARGO_AUDIT_DIFFERENCES` with the reason Palisade is right; the
//!   test fails when a disagreement appears or disappears.
//! - Composer: a deliberately simple evaluator written here from Composer's documented rules
//!   (normalise to four numbers, compare numerically, stability suffixes ordered), applied to the
//!   FriendsOfPHP YAML read with a plain YAML parser.
//! - Other ecosystems: no advisories for them in the data set, so every file must parse and give
//!   no finding at all (a finding there would be a false positive).
//!
//! Without the shared data the test says it did not run, except in CI (`CI` set), where that is
//! a failure; the same holds for cargo-audit.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use palisade_scan::{IgnoreFile, Report, ScanOptions};
use palisade_vulndb::VulnDb;
use palisade_vulns::Ecosystem;

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if p.join("advisories").is_dir() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI must provide ../shared/data (advisories and lockfiles)");
    }
    println!("real data: ../shared/data is absent; this test did not run");
    None
}

fn options() -> ScanOptions {
    ScanOptions {
        debian_release: None,
        ignore: IgnoreFile::default(),
        today: jiff::civil::date(2026, 11, 23),
    }
}

/// (lockfile, advisory, crate, version, why Palisade's answer is the right one).
/// cargo-audit reports exactly these where Palisade does not, or the reverse.
const CARGO_AUDIT_DIFFERENCES: &[(&str, &str, &str, &str, &str)] = &[];

type Triple = (String, String, String);

fn ours(report: &Report) -> (BTreeSet<Triple>, BTreeSet<Triple>) {
    let t =
        |f: &palisade_scan::Finding| (f.advisory.clone(), f.package.clone(), f.installed.clone());
    (
        report.findings.iter().map(t).collect(),
        report.notices.iter().map(t).collect(),
    )
}

fn cargo_audit_available() -> bool {
    let ok = Command::new("cargo")
        .args(["audit", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("CI").is_some() {
        panic!("CI must install cargo-audit (cargo install cargo-audit --locked)");
    }
    ok
}

fn cargo_audit(db: &Path, lockfile: &Path) -> (BTreeSet<Triple>, BTreeSet<Triple>) {
    let out = Command::new("cargo")
        .args([
            "audit",
            "--json",
            "--no-fetch",
            "--no-yanked",
            "--stale",
            "--db",
        ])
        .arg(db)
        .arg("--file")
        .arg(lockfile)
        .output()
        .expect("run cargo audit");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("cargo audit output for {}: {e}", lockfile.display()));
    let triple = |x: &serde_json::Value| {
        (
            x["advisory"]["id"].as_str().unwrap_or_default().to_owned(),
            x["package"]["name"].as_str().unwrap_or_default().to_owned(),
            x["package"]["version"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    let vulns = v["vulnerabilities"]["list"]
        .as_array()
        .map(|l| l.iter().map(triple).collect())
        .unwrap_or_default();
    let mut warnings = BTreeSet::new();
    if let Some(map) = v["warnings"].as_object() {
        for list in map.values() {
            for w in list.as_array().into_iter().flatten() {
                if w["advisory"].is_object() {
                    warnings.insert(triple(w));
                }
            }
        }
    }
    (vulns, warnings)
}

#[test]
fn every_real_lockfile_scanned_and_cargo_agrees_with_cargo_audit() {
    let Some(data) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut db = VulnDb::open(dir.path()).unwrap();
    for src in ["rustsec", "friendsofphp", "cisa-kev"] {
        let stats = palisade_vulndb::import_path(
            &mut db,
            &data.join("advisories").join(src),
            None,
            &mut |_| {},
        )
        .unwrap();
        assert!(stats.errors.is_empty(), "{src}: {:?}", stats.errors);
        println!(
            "real data: imported {src}: {} records, {} KEV",
            stats.records, stats.kev
        );
    }
    // Scans read the scan index, as `palisade scan` does after an import; every file is also
    // scanned from the store itself, and the two reports must be identical.
    assert!(db.refresh_scan_index().unwrap());
    let index = palisade_vulndb::ScanIndex::open(dir.path())
        .unwrap()
        .expect("built");
    let audit = cargo_audit_available();
    let rustsec = data.join("advisories/rustsec");
    let mut lockfiles: Vec<PathBuf> = walk(&data.join("lockfiles"));
    lockfiles.retain(|p| !p.ends_with("SOURCES.md"));
    assert!(lockfiles.len() >= 30, "expected the whole lockfile set");
    let mut differences = BTreeSet::new();
    for file in &lockfiles {
        let report = palisade_scan::scan(&index, std::slice::from_ref(file), &options()).unwrap();
        let name = file
            .strip_prefix(data.join("lockfiles"))
            .unwrap()
            .display()
            .to_string();
        let from_store = palisade_scan::scan(&db, std::slice::from_ref(file), &options()).unwrap();
        assert_eq!(
            palisade_scan::report::to_json(&report),
            palisade_scan::report::to_json(&from_store),
            "{name}: the scan index and the store disagree"
        );
        let fr = &report.files[0];
        assert!(fr.error.is_none(), "{name}: {:?}", fr.error);
        assert!(fr.packages > 0, "{name}: no packages");
        let eco = report.files[0].format.clone().unwrap_or_default();
        println!(
            "real data: {name} ({eco}): {} packages, {} vulnerabilities, {} informational, {} cannot evaluate",
            fr.packages,
            report.findings.len(),
            report.notices.len(),
            report.cannot_evaluate.len()
        );
        let (vulns, notices) = ours(&report);
        match eco.as_str() {
            "Cargo.lock" if audit => {
                let (theirs_v, theirs_n) = cargo_audit(&rustsec, file);
                for (a, b, kind) in [
                    (&vulns, &theirs_v, "vulnerability"),
                    (&notices, &theirs_n, "informational"),
                ] {
                    for t in a.symmetric_difference(b) {
                        let side = if a.contains(t) {
                            "only palisade"
                        } else {
                            "only cargo-audit"
                        };
                        differences.insert((
                            name.clone(),
                            t.0.clone(),
                            t.1.clone(),
                            t.2.clone(),
                            format!("{kind}, {side}"),
                        ));
                    }
                }
                println!(
                    "real data: {name}: cargo-audit {} vulnerabilities, {} informational",
                    theirs_v.len(),
                    theirs_n.len()
                );
            }
            "composer.lock" => {
                let expected = independent_composer(&data.join("advisories/friendsofphp"), file);
                let got: BTreeSet<(String, String)> = report
                    .findings
                    .iter()
                    .filter(|f| f.source == "friendsofphp")
                    .map(|f| (f.advisory.clone(), f.package.clone()))
                    .collect();
                assert_eq!(
                    got, expected,
                    "{name}: palisade vs the independent Composer evaluator"
                );
            }
            "Cargo.lock" => {}
            _ => {
                let eco_findings: Vec<_> = report
                    .findings
                    .iter()
                    .filter(|f| {
                        f.ecosystem != Ecosystem::CratesIo && f.ecosystem != Ecosystem::Packagist
                    })
                    .collect();
                assert!(
                    eco_findings.is_empty(),
                    "{name}: no advisories exist for this ecosystem in the data set, yet: {eco_findings:?}"
                );
            }
        }
    }
    let known: BTreeSet<_> = CARGO_AUDIT_DIFFERENCES
        .iter()
        .map(|(f, a, p, v, _)| (f.to_string(), a.to_string(), p.to_string(), v.to_string()))
        .collect();
    let found: BTreeSet<_> = differences
        .iter()
        .map(|(f, a, p, v, _)| (f.clone(), a.clone(), p.clone(), v.clone()))
        .collect();
    if audit {
        for d in &differences {
            println!("real data: difference with cargo-audit: {d:?}");
        }
        assert_eq!(
            found, known,
            "disagreements with cargo-audit changed: {differences:#?}"
        );
        println!(
            "real data: cargo-audit agreement checked on {} Cargo.lock files, {} listed differences",
            lockfiles
                .iter()
                .filter(|p| p.to_string_lossy().ends_with("Cargo.lock"))
                .count(),
            known.len()
        );
    } else {
        println!("real data: cargo-audit is not installed; the Cargo comparison did not run");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Composer's documented version rules, written independently and simply: strip `v`, split
/// into numbers and an optional stability suffix, pad to four numbers, order stabilities
/// dev < alpha < beta < RC < stable < patch. Returns None for what it cannot read.
fn composer_key(v: &str) -> Option<(Vec<u64>, u8, u64)> {
    let v = v.trim().trim_start_matches(['v', 'V']);
    let (nums, suffix) = match v.find(|c: char| c == '-' || c.is_ascii_alphabetic()) {
        Some(i) => (&v[..i], v[i..].trim_start_matches(['-', '.', '_'])),
        None => (v, ""),
    };
    let mut parts = nums
        .trim_end_matches('.')
        .split('.')
        .map(|n| n.parse::<u64>().ok())
        .collect::<Option<Vec<_>>>()?;
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    parts.resize(4, 0);
    let lower = suffix.to_ascii_lowercase();
    let (rank, rest) = [
        ("dev", 0u8),
        ("alpha", 1),
        ("a", 1),
        ("beta", 2),
        ("b", 2),
        ("rc", 3),
        ("patch", 5),
        ("pl", 5),
        ("p", 5),
    ]
    .iter()
    .find(|(s, _)| lower.starts_with(s))
    .map(|(s, r)| (*r, &lower[s.len()..]))
    .unwrap_or((4, lower.as_str()));
    if rank == 4 && !lower.is_empty() && lower != "stable" {
        return None;
    }
    let n = rest
        .trim_start_matches(['.', '-'])
        .parse::<u64>()
        .unwrap_or(0);
    Some((parts, rank, n))
}

fn satisfies(version: &str, constraint: &str) -> Option<bool> {
    let c = constraint.trim();
    let (op, rest) = [">=", "<=", "==", ">", "<", "="]
        .iter()
        .find(|op| c.starts_with(**op))
        .map(|op| (*op, &c[op.len()..]))
        .unwrap_or(("=", c));
    let (a, b) = (composer_key(version)?, composer_key(rest.trim())?);
    Some(match op {
        ">=" => a >= b,
        "<=" => a <= b,
        ">" => a > b,
        "<" => a < b,
        _ => a == b,
    })
}

/// (advisory id, package) pairs the lockfile is affected by, per the independent evaluator.
fn independent_composer(fop: &Path, lockfile: &Path) -> BTreeSet<(String, String)> {
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lockfile).unwrap()).unwrap();
    let mut installed = Vec::new();
    for section in ["packages", "packages-dev"] {
        for p in lock[section].as_array().into_iter().flatten() {
            if let (Some(n), Some(v)) = (p["name"].as_str(), p["version"].as_str()) {
                installed.push((n.to_ascii_lowercase(), v.to_owned()));
            }
        }
    }
    let mut out = BTreeSet::new();
    for (name, version) in installed {
        if composer_key(&version).is_none() {
            continue;
        }
        let dir = fop.join(&name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.extension().is_none_or(|x| x != "yaml" && x != "yml") {
                continue;
            }
            let y: serde_norway::Value =
                serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let Some(branches) = y["branches"].as_mapping() else {
                continue;
            };
            let hit = branches.values().any(|b| {
                let list: Vec<String> = match &b["versions"] {
                    serde_norway::Value::Sequence(s) => s
                        .iter()
                        .filter_map(|x| x.as_str())
                        .flat_map(|x| x.split(','))
                        .map(str::to_owned)
                        .collect(),
                    serde_norway::Value::String(s) => s.split(',').map(str::to_owned).collect(),
                    _ => Vec::new(),
                };
                !list.is_empty() && list.iter().all(|c| satisfies(&version, c) == Some(true))
            });
            if hit {
                let rel = path.strip_prefix(fop).unwrap().with_extension("");
                out.insert((format!("FRIENDSOFPHP-{}", rel.display()), name.clone()));
            }
        }
    }
    out
}
