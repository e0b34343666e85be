//! The scanner end to end on hand-written data: an advisory store filled from OSV records,
//! lockfiles in a project folder, and the report in every format. Each test states behaviour a
//! user sees: what is reported, what is kept apart, what stops a CI job.

use std::path::{Path, PathBuf};

use palisade_scan::report;
use palisade_scan::{IgnoreFile, ScanOptions};
use palisade_vulndb::VulnDb;
use palisade_vulns::SeverityLevel;

const OSV_LODASH: &str = r#"{
  "id": "GHSA-aaaa-bbbb-cccc", "modified": "2024-05-01T00:00:00Z",
  "aliases": ["CVE-2021-23337"],
  "summary": "Command injection in lodash",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.21"}]}]}],
  "references": [{"type": "ADVISORY", "url": "https://example.org/lodash"}]
}"#;

const OSV_UNMAINTAINED: &str = r#"{
  "id": "RUSTSEC-2020-0016", "modified": "2024-05-01T00:00:00Z",
  "summary": "net2 is unmaintained",
  "affected": [{"package": {"ecosystem": "crates.io", "name": "net2"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}],
  "database_specific": {"informational": "unmaintained"}
}"#;

const OSV_PHPUNIT: &str = r#"{
  "id": "GHSA-r7c9-c69m-rph8", "modified": "2024-05-01T00:00:00Z",
  "aliases": ["CVE-2017-9841"],
  "summary": "phpunit eval-stdin remote code execution",
  "database_specific": {"severity": "CRITICAL"},
  "affected": [{"package": {"ecosystem": "Packagist", "name": "phpunit/phpunit"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "4.8.19"}, {"fixed": "4.8.28"}, {"introduced": "5.0.10"}, {"fixed": "5.6.3"}]}]}]
}"#;

const KEV: &str = r#"{"title": "CISA KEV", "catalogVersion": "2025.01.01", "dateReleased": "2025-01-01T00:00:00.000Z", "count": 1,
  "vulnerabilities": [{"cveID": "CVE-2017-9841", "vendorProject": "PHPUnit", "product": "PHPUnit",
   "vulnerabilityName": "PHPUnit Command Injection", "dateAdded": "2022-02-15", "shortDescription": "x",
   "requiredAction": "Apply updates.", "dueDate": "2022-08-15", "knownRansomwareCampaignUse": "Known", "notes": ""}]}"#;

const PACKAGE_LOCK: &str = r#"{"name": "site", "lockfileVersion": 3, "packages": {
  "": {"name": "site"},
  "node_modules/lodash": {"version": "4.17.20"},
  "node_modules/left-pad": {"version": "1.3.0"}
}}"#;

const COMPOSER_LOCK: &str = r#"{"packages": [{"name": "monolog/monolog", "version": "2.9.1"}],
  "packages-dev": [{"name": "phpunit/phpunit", "version": "5.6.2"}]}"#;

const CARGO_LOCK: &str = "version = 3\n\n[[package]]\nname = \"net2\"\nversion = \"0.2.37\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";

struct Fixture {
    _dir: tempfile::TempDir,
    db: VulnDb,
    project: PathBuf,
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("feeds");
    write(&feeds.join("lodash.json"), OSV_LODASH);
    write(&feeds.join("net2.json"), OSV_UNMAINTAINED);
    write(&feeds.join("phpunit.json"), OSV_PHPUNIT);
    write(&feeds.join("known_exploited_vulnerabilities.json"), KEV);
    let mut db = VulnDb::open(&dir.path().join("db")).unwrap();
    let stats = palisade_vulndb::import_path(&mut db, &feeds, None, &mut |_| {}).unwrap();
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    assert_eq!(stats.records, 3);
    let project = dir.path().join("site");
    write(&project.join("package-lock.json"), PACKAGE_LOCK);
    write(&project.join("composer.lock"), COMPOSER_LOCK);
    write(&project.join("tools/Cargo.lock"), CARGO_LOCK);
    Fixture {
        _dir: dir,
        db,
        project,
    }
}

fn opts() -> ScanOptions {
    ScanOptions {
        debian_release: None,
        ignore: IgnoreFile::default(),
        today: jiff::civil::date(2026, 11, 23),
    }
}

#[test]
fn a_folder_scan_finds_vulnerabilities_kev_first_and_keeps_informational_apart() {
    let f = fixture();
    let r = palisade_scan::scan(&f.db, std::slice::from_ref(&f.project), &opts()).unwrap();
    assert_eq!(r.files.len(), 3);
    let found: Vec<(&str, &str, bool)> = r
        .findings
        .iter()
        .map(|x| (x.package.as_str(), x.advisory.as_str(), x.dev))
        .collect();
    // The KEV-listed PHPUnit finding comes first, and it is a dev dependency: flagged, not dropped.
    assert_eq!(
        found,
        [
            ("phpunit/phpunit", "GHSA-r7c9-c69m-rph8", true),
            ("lodash", "GHSA-aaaa-bbbb-cccc", false)
        ]
    );
    let kev = r.findings[0]
        .kev
        .as_ref()
        .expect("KEV through the CVE alias");
    assert!(kev.ransomware);
    assert_eq!(r.findings[0].severity, SeverityLevel::Critical);
    assert_eq!(r.findings[1].fixed, ["4.17.21"]);
    assert_eq!(r.notices.len(), 1);
    assert_eq!(r.notices[0].package, "net2");
    let table = report::to_table(&r);
    assert!(table.contains("phpunit/phpunit (dev)"), "{table}");
    assert!(table.contains("yes, ransomware"), "{table}");
    assert!(table.contains("Informational advisories"), "{table}");
}

#[test]
fn fail_on_counts_only_live_findings_at_or_above_the_threshold() {
    let f = fixture();
    let r = palisade_scan::scan(&f.db, std::slice::from_ref(&f.project), &opts()).unwrap();
    assert_eq!(r.failing(SeverityLevel::Critical), 1);
    assert_eq!(r.failing(SeverityLevel::Medium), 2);
}

#[test]
fn an_ignore_entry_with_reason_suppresses_until_it_expires_and_stale_entries_warn() {
    let f = fixture();
    let text = r#"
[[ignore]]
id = "CVE-2017-9841"
reason = "phpunit is not deployed"
expires = "2027-01-31"

[[ignore]]
id = "GHSA-0000-0000-0000"
reason = "old"
expires = "2027-01-31"
"#;
    let mut o = opts();
    o.ignore = IgnoreFile::parse("ignore.toml", text).unwrap();
    let r = palisade_scan::scan(&f.db, std::slice::from_ref(&f.project), &o).unwrap();
    let php = r
        .findings
        .iter()
        .find(|x| x.package == "phpunit/phpunit")
        .unwrap();
    assert_eq!(php.ignored.as_deref(), Some("phpunit is not deployed"));
    assert_eq!(r.failing(SeverityLevel::Critical), 0);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("GHSA-0000-0000-0000") && w.contains("matches nothing"))
    );
    // After the expiry date the entry stops applying and says so.
    o.today = jiff::civil::date(2027, 2, 1);
    let r = palisade_scan::scan(&f.db, std::slice::from_ref(&f.project), &o).unwrap();
    assert_eq!(r.failing(SeverityLevel::Critical), 1);
    assert!(r.warnings.iter().any(|w| w.contains("expired")));
}

#[test]
fn an_ignore_file_without_a_reason_or_with_a_typo_is_refused_with_its_location() {
    let e = IgnoreFile::parse(
        "i.toml",
        "[[ignore]]\nid = \"X\"\nreason = \"\"\nexpires = \"2027-01-01\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("reason"), "{e}");
    let e = IgnoreFile::parse(
        "i.toml",
        "[[ignore]]\nid = \"X\"\nreason = \"r\"\nexpire = \"2027-01-01\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("i.toml:"), "{e}");
}

#[test]
fn a_broken_file_is_reported_and_the_good_ones_are_still_scanned() {
    let f = fixture();
    write(
        &f.project.join("web/package-lock.json"),
        "{\"lockfileVersion\": 3, \"packages\": {",
    );
    let r = palisade_scan::scan(&f.db, std::slice::from_ref(&f.project), &opts()).unwrap();
    let broken = r
        .files
        .iter()
        .find(|x| x.error.is_some())
        .expect("broken file reported");
    assert!(broken.path.ends_with("web/package-lock.json"));
    assert!(
        broken
            .error
            .as_deref()
            .unwrap()
            .contains("web/package-lock.json")
    );
    assert_eq!(
        r.findings.len(),
        2,
        "the good files still give their findings"
    );
}

#[test]
fn unpinned_requirements_are_reported_as_cannot_evaluate() {
    let f = fixture();
    write(
        &f.project.join("requirements.txt"),
        "django==3.2.1\nrequests>=2.0\n",
    );
    let r = palisade_scan::scan(&f.db, std::slice::from_ref(&f.project), &opts()).unwrap();
    assert!(
        r.cannot_evaluate
            .iter()
            .any(|u| u.package.contains("requests")),
        "{:?}",
        r.cannot_evaluate
    );
}

#[test]
fn json_sarif_and_cyclonedx_vex_are_valid_and_carry_the_findings() {
    let f = fixture();
    let r = palisade_scan::scan(&f.db, std::slice::from_ref(&f.project), &opts()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&report::to_json(&r)).unwrap();
    assert_eq!(json["findings"].as_array().unwrap().len(), 2);
    let sarif: serde_json::Value = serde_json::from_str(&report::to_sarif(&r)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert!(results.iter().any(|x| x["ruleId"] == "GHSA-aaaa-bbbb-cccc"
        && x["properties"]["purl"] == "pkg:npm/lodash@4.17.20"));
    let vex: serde_json::Value =
        serde_json::from_str(&report::to_cyclonedx_vex(&r, jiff::Timestamp::UNIX_EPOCH)).unwrap();
    assert_eq!(vex["bomFormat"], "CycloneDX");
    let v = vex["vulnerabilities"].as_array().unwrap();
    assert!(v.iter().any(|x| x["id"] == "GHSA-r7c9-c69m-rph8"
        && x["affects"][0]["ref"] == "pkg:composer/phpunit/phpunit@5.6.2"));
}

#[test]
fn a_withdrawn_advisory_stops_matching_but_stays_in_the_store() {
    let f = fixture();
    let mut db = f.db;
    let withdrawn = OSV_LODASH.replace(
        "\"modified\": \"2024-05-01T00:00:00Z\"",
        "\"modified\": \"2024-06-01T00:00:00Z\", \"withdrawn\": \"2024-06-01T00:00:00Z\"",
    );
    let list = palisade_feeds::osv::parse("w.json", withdrawn.as_bytes()).unwrap();
    db.upsert(&list).unwrap();
    let r = palisade_scan::scan(&db, std::slice::from_ref(&f.project), &opts()).unwrap();
    assert!(r.findings.iter().all(|x| x.package != "lodash"));
    assert_eq!(db.find("GHSA-aaaa-bbbb-cccc").unwrap().len(), 1);
}

#[test]
fn reimporting_unchanged_records_writes_nothing() {
    let f = fixture();
    let mut db = f.db;
    let list = palisade_feeds::osv::parse("l.json", OSV_LODASH.as_bytes()).unwrap();
    let s = db.upsert(&list).unwrap();
    assert_eq!((s.inserted, s.updated, s.unchanged), (0, 0, 1));
}

#[test]
fn progress_is_reported_for_every_file_found() {
    let f = fixture();
    let mut calls = Vec::new();
    let r = palisade_scan::scan_with_progress(
        &f.db,
        std::slice::from_ref(&f.project),
        &opts(),
        &mut |done, total| calls.push((done, total)),
    )
    .unwrap();
    assert_eq!(calls, [(0, 3), (1, 3), (2, 3)]);
    assert_eq!(r.files.len(), 3);
}

/// A Debian host: packages are matched by their *source* package and source version (a binNMU
/// carries its own), only installed packages count, and the release (read from base-files, or
/// given) decides which of the tracker's per-release verdicts applies.
#[test]
fn a_dpkg_status_is_matched_by_source_package_and_release() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = r#"{"openssl": {"CVE-2099-0100": {"description": "example overread", "scope": "remote",
      "releases": {
        "bookworm": {"status": "resolved", "repositories": {}, "fixed_version": "3.0.14-1~deb12u1", "urgency": "medium"},
        "bullseye": {"status": "resolved", "repositories": {}, "fixed_version": "0", "urgency": "not yet assigned"}
      }}}}"#;
    write(&dir.path().join("feed/debian.json"), tracker);
    let mut db = VulnDb::open(&dir.path().join("db")).unwrap();
    let s =
        palisade_vulndb::import_path(&mut db, &dir.path().join("feed"), None, &mut |_| {}).unwrap();
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let status = "\
Package: base-files
Status: install ok installed
Version: 12.4+deb12u5

Package: libssl3
Status: install ok installed
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.11-1~deb12u2+b1

Package: openssl
Status: install ok installed
Version: 3.0.11-1~deb12u2

Package: libssl1.1
Status: deinstall ok config-files
Source: openssl
Version: 1.1.1n-0+deb11u5
";
    let host = dir.path().join("host/var/lib/dpkg/status");
    write(&host, status);
    let r = palisade_scan::scan(&db, std::slice::from_ref(&host), &opts()).unwrap();
    let found: Vec<_> = r
        .findings
        .iter()
        .map(|f| {
            (
                f.package.as_str(),
                f.installed.as_str(),
                f.advisory.as_str(),
            )
        })
        .collect();
    // One finding for the openssl source at its source version, not one per binary, and the
    // removed libssl1.1 (config files only) is not there at all.
    assert_eq!(
        found,
        [("openssl", "3.0.11-1~deb12u2", "DEBIAN-CVE-2099-0100")]
    );
    assert_eq!(r.findings[0].fixed, ["3.0.14-1~deb12u1"]);
    assert!(r.findings[0].aliases.contains(&"CVE-2099-0100".to_owned()));
    // The same host declared bullseye: the tracker says that release was never affected.
    let mut o = opts();
    o.debian_release = Some("11".into());
    let r = palisade_scan::scan(&db, std::slice::from_ref(&host), &o).unwrap();
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

/// An SBOM mixes ecosystems: a Debian component whose release is unknown must not stop the npm
/// components beside it from being matched, and one whose purl names its release (`distro`) is
/// evaluated in that release without `--debian-release`.
#[test]
fn an_sbom_with_an_unknown_debian_release_still_scans_its_other_components() {
    let f = fixture();
    let sbom = r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
      {"name": "libssl3", "version": "3.0.11-1", "purl": "pkg:deb/debian/libssl3@3.0.11-1?upstream=openssl"},
      {"name": "zlib1g", "version": "1.2.13", "purl": "pkg:deb/debian/zlib1g@1.2.13?distro=debian-12"},
      {"name": "lodash", "version": "4.17.20", "purl": "pkg:npm/lodash@4.17.20"}
    ]}"#;
    let path = f.project.join("image/bom.cdx.json");
    write(&path, sbom);
    let r = palisade_scan::scan(&f.db, std::slice::from_ref(&path), &opts()).unwrap();
    let found: Vec<_> = r.findings.iter().map(|x| x.package.as_str()).collect();
    assert_eq!(found, ["lodash"]);
    let unknown: Vec<_> = r
        .cannot_evaluate
        .iter()
        .filter(|u| u.reason.contains("Debian release is unknown"))
        .collect();
    assert_eq!(unknown.len(), 1, "{:?}", r.cannot_evaluate);
}

fn finding(package: &str, installed: &str, advisory: &str) -> palisade_scan::Finding {
    palisade_scan::Finding {
        path: "package-lock.json".into(),
        line: None,
        ecosystem: palisade_vulns::Ecosystem::Npm,
        package: package.into(),
        installed: installed.into(),
        dev: false,
        advisory: advisory.into(),
        source: "osv".into(),
        aliases: Vec::new(),
        kind: palisade_vulns::AdvisoryKind::Vulnerability,
        summary: String::new(),
        severity: SeverityLevel::High,
        score: None,
        kev: None,
        epss: None,
        fixed: Vec::new(),
        last_known_affected: None,
        url: None,
        ignored: None,
    }
}

/// A fleet-sized report: one vulnerability per advisory, each component listed once under it.
/// (The lookup by advisory was a scan of every vulnerability so far, which made this take
/// minutes; the time itself is left to benchmarks.)
#[test]
fn cyclonedx_vex_groups_a_large_report_by_advisory() {
    let mut r = palisade_scan::Report::default();
    for i in 0..40_000 {
        r.findings
            .push(finding(&format!("p{i}"), "1.0.0", &format!("GHSA-{i}")));
    }
    r.findings.push(finding("p0", "1.0.0", "GHSA-1"));
    r.findings.push(finding("p1", "1.0.0", "GHSA-1"));
    let vex: serde_json::Value =
        serde_json::from_str(&report::to_cyclonedx_vex(&r, jiff::Timestamp::UNIX_EPOCH)).unwrap();
    let vulns = vex["vulnerabilities"].as_array().unwrap();
    assert_eq!(vulns.len(), 40_000);
    let refs: Vec<_> = vulns[1]["affects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ref"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["pkg:npm/p1@1.0.0", "pkg:npm/p0@1.0.0"]);
}

#[test]
fn a_scan_through_the_scan_index_reports_exactly_what_the_store_does() {
    let mut f = fixture();
    let paths = std::slice::from_ref(&f.project);
    let from_store = palisade_scan::scan(&f.db, paths, &opts()).unwrap();
    assert!(f.db.refresh_scan_index().unwrap());
    let index = palisade_vulndb::ScanIndex::open(&f._dir.path().join("db"))
        .unwrap()
        .expect("built");
    let from_index = palisade_scan::scan(&index, paths, &opts()).unwrap();
    assert_eq!(report::to_json(&from_index), report::to_json(&from_store));
    // What was compared: a KEV-flagged finding, a plain one and an informational notice.
    assert!(from_store.findings.iter().any(|x| x.kev.is_some()));
    assert!(from_store.findings.iter().any(|x| x.kev.is_none()));
    assert!(!from_store.notices.is_empty());
}
