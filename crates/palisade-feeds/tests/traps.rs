//! Regression tests for the correctness traps of the vuln-management notes (section 2) that
//! concern parsing and matching. Each goes from a hand-written fixture through the parser and
//! `palisade_vulns::evaluate_advisory`, so it fails if the trap comes back anywhere between the
//! feed's bytes and the final verdict.

use std::path::{Path, PathBuf};

use palisade_feeds::{debian, friendsofphp, osv, rustsec};
use palisade_vulns::interval::Bound;
use palisade_vulns::{Advisory, AdvisoryKind, Ecosystem, PackageKey, Verdict, evaluate_advisory};

fn fixture_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(fixture_path(rel)).unwrap()
}

fn osv_one(rel: &str) -> Advisory {
    let mut list = osv::parse(rel, read(rel).as_bytes()).unwrap();
    assert_eq!(list.len(), 1, "{rel}");
    list.remove(0)
}

/// RustSec fixtures are named by their path below the database root, as the importer does.
fn rustsec_fixture(rel: &str) -> Advisory {
    rustsec::parse(rel, &read(&format!("rustsec/{rel}"))).unwrap()
}

fn fop_fixture(rel: &str) -> Advisory {
    friendsofphp::parse(rel, &read(&format!("friendsofphp/{rel}"))).unwrap()
}

fn key(eco: Ecosystem, qualifier: &str, name: &str) -> PackageKey {
    PackageKey::new(eco, qualifier, name)
}

#[track_caller]
fn check(a: &Advisory, k: &PackageKey, table: &[(&str, bool)]) {
    for (v, want) in table {
        let got = evaluate_advisory(a, k, v);
        let expected = if *want {
            Verdict::Affected
        } else {
            Verdict::NotAffected
        };
        assert_eq!(got, expected, "{} {k} {v}", a.id);
    }
}

#[track_caller]
fn cannot_evaluate(a: &Advisory, k: &PackageKey, v: &str) {
    let got = evaluate_advisory(a, k, v);
    assert!(
        matches!(got, Verdict::CannotEvaluate(_)),
        "{} {k} {v}: expected cannot-evaluate, got {got:?}",
        a.id
    );
}

#[test]
fn trap_01_every_window_of_every_range_counts() {
    let a = osv_one("osv/trap01_windows.json");
    let k = key(Ecosystem::PyPi, "", "example-lib");
    assert_eq!(
        a.affected[0].package, k,
        "PyPI names are PEP 503-normalised"
    );
    check(
        &a,
        &k,
        &[
            ("0.1", true),
            ("1.0.4", true),
            ("1.0.5", false),
            ("1.4", false),
            // Second range: [1.5, 1.6], last_affected inclusive.
            ("1.5", true),
            ("1.6", true),
            ("1.6.1", false),
            ("1.9", false),
            // Later windows of the first range, although the events were out of order.
            ("2.0", true),
            ("2.1.2", true),
            ("2.1.3", false),
            ("2.9", false),
            ("3.0", true),
            ("99.0", true),
        ],
    );
    assert_eq!(a.affected[0].fixed, vec!["2.1.3", "1.0.5"]);
    assert_eq!(a.aliases, vec!["CVE-2099-0001"]);
    assert_eq!(a.references, vec!["https://example.invalid/PYSEC-2099-1"]);
    assert!(a.published.is_some() && a.modified.is_some());
}

#[test]
fn trap_02_git_range_first_does_not_hide_ecosystem_range() {
    let a = osv_one("osv/trap02_git_first.json");
    let k = key(Ecosystem::PyPi, "", "Pillow");
    let entry = &a.affected[0];
    assert_eq!(entry.skipped_ranges, vec!["GIT"]);
    assert!(
        entry.versions.is_empty(),
        "the verdict must come from the ECOSYSTEM range"
    );
    assert_eq!(entry.problem, None);
    // The GIT range's commit is not a version to upgrade to.
    assert_eq!(entry.fixed, vec!["9.0.1"]);
    check(
        &a,
        &k,
        &[("8.4.0", false), ("9.0.0", true), ("9.0.1", false)],
    );
    let (_, stats) =
        osv::parse_with_stats("x.json", read("osv/trap02_git_first.json").as_bytes()).unwrap();
    assert_eq!(stats.skipped_ranges.get("GIT"), Some(&1));
}

#[test]
fn trap_03_last_affected_inclusive_and_rustsec_le_bound_exact() {
    // OSV: last_affected is an inclusive ceiling, never rewritten as "fixed = next patch".
    let a = osv_one("osv/trap03_last_affected.json");
    let k = key(Ecosystem::CratesIo, "", "lastcrate");
    check(
        &a,
        &k,
        &[
            ("0.9.0", false),
            ("1.0.0", true),
            ("1.2.3", true),
            ("1.2.4-rc.1", false),
            ("1.2.4", false),
        ],
    );

    // RustSec: unaffected "<= 1.2.3" makes the affected range start just above 1.2.3,
    // an exclusive lower bound at 1.2.3 — not "1.2.4", which would miss 1.2.4-rc.1.
    let a = rustsec_fixture("crates/tokio-x/RUSTSEC-2099-0003.md");
    let entry = &a.affected[0];
    let first = &entry.intervals[0];
    assert_eq!(first.lower, Some(Bound::exclusive("1.2.3")));
    let k = key(Ecosystem::CratesIo, "", "tokio-x");
    check(
        &a,
        &k,
        &[
            ("1.0.0", false),
            ("1.2.3", false),
            ("1.2.4-rc.1", true),
            ("1.2.4", true),
            ("1.3.8", true),
            // ~1.3.9 patched: 1.3.9 up to (not including) 1.4.0-0.
            ("1.3.9", false),
            ("1.3.12", false),
            ("1.4.0-alpha.1", true),
            ("1.4.0", true),
            ("1.4.6", true),
            // ^1.4.7 and >= 1.5.0 patched.
            ("1.4.7", false),
            ("1.4.99", false),
            ("1.5.0-rc.1", false),
            ("1.5.0", false),
            ("2.0.0", false),
        ],
    );
    assert_eq!(entry.fixed, vec!["1.5.0", "1.4.7", "1.3.9"]);
}

#[test]
fn trap_04_ghsa_no_fix_keeps_last_known_affected_hint() {
    let a = osv_one("osv/trap04_ghsa_no_fix.json");
    let k = key(Ecosystem::Npm, "", "nofix-lib");
    let entry = &a.affected[0];
    assert_eq!(entry.last_known_affected.as_deref(), Some("<= 1.18.17"));
    assert!(entry.fixed.is_empty());
    // By the spec the hint has no effect on evaluation: later versions are still flagged, and
    // the hint is there to label the finding "possibly fixed after 1.18.17".
    check(&a, &k, &[("1.18.17", true), ("1.19.0", true)]);
    assert_eq!(a.severity_text.as_deref(), Some("CRITICAL"));
    assert_eq!(a.score(), Some(9.8));
}

#[test]
fn trap_05_withdrawn_is_kept_as_state() {
    let a = osv_one("osv/trap05_withdrawn.json");
    assert!(
        a.is_withdrawn(),
        "the record is kept with its withdrawal time"
    );
    assert_eq!(a.affected.len(), 1, "its ranges are kept too, for history");
    let k = key(Ecosystem::Npm, "", "withdrawn-lib");
    check(&a, &k, &[("1.0.0", false)]);
    let mut live = a.clone();
    live.withdrawn = None;
    check(&live, &k, &[("1.0.0", true)]);

    let r = rustsec_fixture("crates/oldcrate/RUSTSEC-2099-0005.md");
    assert_eq!(
        r.withdrawn,
        Some("2099-02-10T00:00:00Z".parse().unwrap()),
        "a RustSec withdrawal date is midnight UTC"
    );
    check(
        &r,
        &key(Ecosystem::CratesIo, "", "oldcrate"),
        &[("0.1.0", false)],
    );
}

#[test]
fn trap_06_debian_upstream_is_not_an_alias() {
    let list = debian::parse("tracker.json", read("debian/tracker.json").as_bytes()).unwrap();
    let a = list
        .iter()
        .find(|a| a.id == "DEBIAN-CVE-2099-0006")
        .unwrap();
    assert_eq!(a.upstream, vec!["CVE-2099-0006"]);
    assert!(
        a.aliases.is_empty(),
        "a distribution record must not alias its CVE"
    );
    let temp = list
        .iter()
        .find(|a| a.id == "DEBIAN-TEMP-0999999-ABCDEF")
        .unwrap();
    assert!(temp.upstream.is_empty() && temp.aliases.is_empty());

    // The same rule for OSV's own Debian records.
    let o = osv_one("osv/trap06_upstream.json");
    assert_eq!(o.upstream, vec!["CVE-2099-0006"]);
    assert!(o.aliases.is_empty());
}

#[test]
fn trap_07_names_and_release_suffixes_normalised() {
    let list = osv::parse("trap07.json", read("osv/trap07_names.json").as_bytes()).unwrap();
    let debian = &list[0];
    let bookworm = key(Ecosystem::Debian, "bookworm", "samba");
    assert_eq!(
        debian.affected[0].package, bookworm,
        "Debian:12 is bookworm"
    );
    check(
        debian,
        &bookworm,
        &[
            ("2:4.17.12+dfsg-0+deb12u1", false),
            ("2:4.17.11+dfsg-0+deb12u1", true),
        ],
    );
    // Another release never matches a bookworm record.
    check(
        debian,
        &key(Ecosystem::Debian, "bullseye", "samba"),
        &[("2:4.13.0", false)],
    );

    let other = &list[1];
    check(
        other,
        &key(Ecosystem::PyPi, "", "django-rest-framework"),
        &[("3.15.1", true)],
    );
    let drupal = key(
        Ecosystem::Packagist,
        "https://packages.drupal.org/8",
        "drupal/views_extra",
    );
    check(other, &drupal, &[("2.0.0", true), ("2.0.1", false)]);
    // The same name on Packagist itself is a different package.
    check(
        other,
        &key(Ecosystem::Packagist, "", "drupal/views_extra"),
        &[("2.0.0", false)],
    );
    assert_eq!(other.affected.len(), 2, "Go and Alpine entries are skipped");
    let (_, stats) =
        osv::parse_with_stats("t.json", read("osv/trap07_names.json").as_bytes()).unwrap();
    assert_eq!(stats.skipped_ecosystems.get("Go"), Some(&1));
    assert_eq!(stats.skipped_ecosystems.get("Alpine"), Some(&1));
    assert_eq!(stats.records, 2);
    assert_eq!(stats.affected, 3);

    // The tracker keys by codename and source package.
    let list = debian::parse("tracker.json", read("debian/tracker.json").as_bytes()).unwrap();
    let a = list
        .iter()
        .find(|a| a.id == "DEBIAN-CVE-2099-0006")
        .unwrap();
    let keys: Vec<String> = a.affected.iter().map(|e| e.package.to_string()).collect();
    assert_eq!(
        keys,
        vec![
            "Debian:bookworm/openssl",
            "Debian:sid/openssl",
            "Debian:trixie/openssl",
            "Debian:bookworm/libssl-compat",
        ]
    );
}

#[test]
fn trap_08_debian_tracker_states() {
    let list = debian::parse("tracker.json", read("debian/tracker.json").as_bytes()).unwrap();
    let a = list
        .iter()
        .find(|a| a.id == "DEBIAN-CVE-2099-0006")
        .unwrap();
    assert_eq!(a.summary, "OpenSSL: example buffer overread");
    let bookworm = key(Ecosystem::Debian, "bookworm", "openssl");
    // `~` sorts before everything: a backport build below the fixed version is affected.
    check(
        a,
        &bookworm,
        &[
            ("3.0.7-1", true),
            ("3.0.8-1~deb12u1", true),
            ("3.0.8-1", false),
            ("3.0.11-1~deb12u2", false),
        ],
    );
    // fixed_version "0": this release never had the bug, no entry at all.
    assert!(a.affected.iter().all(|e| e.package.qualifier != "bullseye"));
    check(
        a,
        &key(Ecosystem::Debian, "bullseye", "openssl"),
        &[("1.1.1w-0+deb11u1", false)],
    );
    // open / undetermined: not yet fixed, every version.
    check(
        a,
        &key(Ecosystem::Debian, "trixie", "openssl"),
        &[("3.1.0-1", true), ("9:9.9-9", true)],
    );
    check(
        a,
        &key(Ecosystem::Debian, "sid", "openssl"),
        &[("3.1.0-1", true)],
    );
    let trixie = a
        .affected
        .iter()
        .find(|e| e.package.qualifier == "trixie")
        .and_then(|e| e.debian.clone())
        .unwrap();
    assert_eq!(trixie.status, "open");
    assert_eq!(trixie.nodsa_reason.as_deref(), Some("postponed"));
    assert_eq!(
        trixie.nodsa.as_deref(),
        Some("Minor issue, fix via point release")
    );
    // The highest urgency across releases, without the tracker's "guessed" marker.
    assert_eq!(a.severity_text.as_deref(), Some("high"));
    let compat = a
        .affected
        .iter()
        .find(|e| e.package.name == "libssl-compat")
        .and_then(|e| e.debian.clone())
        .unwrap();
    assert_eq!(
        (compat.nodsa, compat.nodsa_reason),
        (None, None),
        "empty means none"
    );
    let bw = a.affected.iter().find(|e| e.package == bookworm).unwrap();
    assert_eq!(bw.fixed, vec!["3.0.8-1"]);
}

#[test]
fn trap_09_composer_one_oh_equals_one_oh_oh() {
    let a = fop_fixture("acme/widget/CVE-2099-0009.yaml");
    assert_eq!(a.id, "FRIENDSOFPHP-acme/widget/CVE-2099-0009");
    assert_eq!(a.aliases, vec!["CVE-2099-0009", "GHSA-ffff-oooo-pppp"]);
    let k = key(Ecosystem::Packagist, "", "acme/widget");
    assert_eq!(a.affected[0].package, k, "Composer names are lower case");
    check(
        &a,
        &k,
        &[
            // "<1.0" does not cover 1.0.0: Composer treats them as the same version.
            ("0.9.9", true),
            ("1.0.0", false),
            ("1.0", false),
            ("v1.0.0", false),
            ("1.5.0", false),
            // Branch 2.0.x: ['>=2.0.0', '<2.0.17'].
            ("2.0.0", true),
            ("2.0.16", true),
            ("2.0.17", false),
            // Branch 3.x written as one comma-separated string.
            ("3.0.0", true),
            ("3.1.4", true),
            ("3.1.5", false),
            // Branch 4.x with a space after the operator.
            ("4.1.9", true),
            ("4.2.0", false),
        ],
    );
    assert_eq!(a.affected[0].fixed, vec!["1.0", "2.0.17", "3.1.5", "4.2"]);
    // A branch name is not a version: `dev-main` cannot be range-matched.
    cannot_evaluate(&a, &k, "dev-main");
}

#[test]
fn trap_10_npm_prerelease_inside_range() {
    let a = osv_one("osv/trap10_npm_prerelease.json");
    let k = key(Ecosystem::Npm, "", "@scope/pre-lib");
    check(
        &a,
        &k,
        &[
            ("1.0.0-rc.1", false),
            ("1.0.0", true),
            // node-semver's default range matching would skip this pre-release.
            ("1.2.3-beta.1", true),
            ("1.2.3", false),
            ("1.2.3+build.5", false),
        ],
    );
}

#[test]
fn trap_11_pep440_local_version() {
    let a = osv_one("osv/trap11_pep440.json");
    // A local label does not lift a version out of the range it belongs to.
    check(
        &a,
        &key(Ecosystem::PyPi, "", "Django"),
        &[
            ("4.2.8+sp1", true),
            ("4.2.9", false),
            ("4.2.9rc1", true),
            ("4.1", false),
        ],
    );
    // A vendor fix scoped by a local label.
    check(
        &a,
        &key(Ecosystem::PyPi, "", "vendored_fork"),
        &[("4.2.8", true), ("4.2.8+sp1", false), ("4.2.8+sp2", false)],
    );
    // Epochs outrank the release number.
    check(
        &a,
        &key(Ecosystem::PyPi, "", "epoch-lib"),
        &[("1.9", true), ("1!1.0", false)],
    );
}

#[test]
fn trap_12_rustsec_informational_apart() {
    let r = rustsec_fixture("crates/oldcrate/RUSTSEC-2099-0012.md");
    assert_eq!(r.kind, AdvisoryKind::Informational("unmaintained".into()));
    assert!(!r.kind.is_vulnerability());
    // "> 0" unaffected, patched empty: every 0.x release is flagged (as informational).
    let k = key(Ecosystem::CratesIo, "", "oldcrate");
    check(
        &r,
        &k,
        &[("0.0.1", true), ("0.9.9", true), ("1.0.0", false)],
    );
    assert_eq!(r.published, Some("2099-03-01T00:00:00Z".parse().unwrap()));

    // The same label through RustSec's OSV export.
    let o = osv_one("osv/trap12_rustsec_informational.json");
    assert_eq!(o.kind, AdvisoryKind::Informational("unmaintained".into()));
    check(&o, &k, &[("0.1.0", true)]);

    // Toolchain advisories never match a crate of the same name.
    let std = rustsec_fixture("rust/std/CVE-2099-0020.md");
    assert_eq!(
        std.affected[0].package.qualifier,
        rustsec::TOOLCHAIN_QUALIFIER
    );
    check(
        &std,
        &key(Ecosystem::CratesIo, "", "std"),
        &[("1.0.0", false)],
    );
    check(
        &std,
        &key(Ecosystem::CratesIo, rustsec::TOOLCHAIN_QUALIFIER, "std"),
        &[("1.58.0", true), ("1.58.1", false)],
    );
}

#[test]
fn trap_13_unparsable_bound_cannot_evaluate() {
    let a = osv_one("osv/trap13_unparsable.json");
    assert!(a.aliases.is_empty(), "null aliases read as none");
    let k = key(Ecosystem::PyPi, "", "broken-bounds");
    let entry = &a.affected[0];
    assert!(entry.problem.as_deref().unwrap().contains("ranges[0]"));
    // Enumerated versions and the other, readable range still decide.
    check(&a, &k, &[("1.0", true), ("5.0.1", true)]);
    // Anything else cannot be decided either way.
    cannot_evaluate(&a, &k, "2.0");
    cannot_evaluate(&a, &k, "5.1");

    // A SEMVER range whose bounds PEP 440 cannot read.
    cannot_evaluate(&a, &key(Ecosystem::PyPi, "", "semver-in-pypi"), "1.0.0");
    // A SEMVER range whose bounds PEP 440 reads is used.
    check(
        &a,
        &key(Ecosystem::PyPi, "", "semver-ok-in-pypi"),
        &[("1.2", true), ("1.4", false)],
    );

    // RustSec: a requirement that does not parse leaves no intervals, not a wrong complement.
    let r = rustsec_fixture("crates/oldcrate/RUSTSEC-2099-0013.md");
    assert!(
        r.affected[0]
            .problem
            .as_deref()
            .unwrap()
            .contains("versions.patched[0]")
    );
    cannot_evaluate(&r, &key(Ecosystem::CratesIo, "", "oldcrate"), "1.0.0");

    // FriendsOfPHP: a typo in one branch makes it unreadable; other branches still match.
    let f = fop_fixture("acme/widget/2099-02-02-1.yaml");
    assert!(
        f.affected[0]
            .problem
            .as_deref()
            .unwrap()
            .contains("branches.1.x")
    );
    assert!(f.aliases.is_empty(), "cve: ~ is no alias");
    let k = key(Ecosystem::Packagist, "", "acme/widget");
    check(&f, &k, &[("2.3.1", true)]);
    cannot_evaluate(&f, &k, "1.2.0");
    cannot_evaluate(&f, &k, "2.3.2");
}

#[test]
fn malicious_records_match_exact_versions() {
    let a = osv_one("osv/malicious.json");
    assert_eq!(a.kind, AdvisoryKind::Malicious);
    let k = key(Ecosystem::Npm, "", "evil-pkg");
    // The range says "every version"; only the enumerated releases carried the payload.
    check(
        &a,
        &k,
        &[
            ("1.0.0", false),
            ("1.0.1", true),
            ("1.0.2", true),
            ("1.0.3", false),
        ],
    );

    // The origins list alone marks a record malicious, whatever its id.
    let text = read("osv/malicious.json").replace("MAL-2099-14", "GHSA-mmmm-aaaa-llll");
    let b = osv::parse("m.json", text.as_bytes()).unwrap();
    assert_eq!(b[0].kind, AdvisoryKind::Malicious);
}
