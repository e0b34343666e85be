//! Per-format behaviour outside the traps: KEV and EPSS fields, format detection on the
//! fixtures, the size limits, and errors that name the file, the line and the field.

use std::path::Path;

use palisade_feeds::{
    FeedError, FeedFormat, MAX_RECORD_BYTES, debian, detect, epss, friendsofphp, kev, osv, rustsec,
};

fn read(rel: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel),
    )
    .unwrap()
}

#[test]
fn kev_entries_carry_dates_and_ransomware_use() {
    let list = kev::parse("kev.json", read("kev/kev.json").as_bytes()).unwrap();
    assert_eq!(list.len(), 2);
    let a = &list[0];
    assert_eq!(a.cve, "CVE-2099-0006");
    assert_eq!(a.vendor, "OpenSSL");
    assert_eq!(a.product, "OpenSSL");
    assert_eq!(a.name, "OpenSSL Example Buffer Overread");
    assert_eq!(a.date_added.to_string(), "2099-01-02");
    assert_eq!(
        a.due_date.map(|d| d.to_string()).as_deref(),
        Some("2099-01-23")
    );
    assert!(a.ransomware);
    assert_eq!(
        a.required_action,
        "Apply mitigations per vendor instructions."
    );
    assert!(!list[1].ransomware);
    assert_eq!(list[1].due_date, None);
}

#[test]
fn epss_reads_model_line_and_scores() {
    let f = epss::parse("epss.csv", &read("epss/epss_scores-2025-06-01.csv")).unwrap();
    assert_eq!(f.model_version.as_deref(), Some("v2025.03.14"));
    assert_eq!(
        f.score_date.map(|d| d.to_string()).as_deref(),
        Some("2025-06-01")
    );
    assert_eq!(f.scores.len(), 3);
    assert_eq!(f.scores[0].cve, "CVE-2099-0006");
    assert_eq!(f.scores[0].score, 0.97125);
    assert_eq!(f.scores[0].percentile, 0.99921);
    // A CRLF line ending is not part of the number.
    assert_eq!(f.scores[1].percentile, 0.10112);

    // Without the model line (older files) and with columns in another order.
    let f = epss::parse("e.csv", "percentile,cve,epss\n0.5,CVE-1,0.25\n").unwrap();
    assert_eq!((f.model_version, f.score_date), (None, None));
    assert_eq!(f.scores[0].cve, "CVE-1");
    assert_eq!(f.scores[0].score, 0.25);
}

#[test]
fn fixtures_are_detected() {
    for (rel, want) in [
        ("osv/trap01_windows.json", FeedFormat::Osv),
        ("osv/trap07_names.json", FeedFormat::Osv),
        (
            "rustsec/crates/tokio-x/RUSTSEC-2099-0003.md",
            FeedFormat::Rustsec,
        ),
        (
            "friendsofphp/acme/widget/CVE-2099-0009.yaml",
            FeedFormat::FriendsOfPhp,
        ),
        ("debian/tracker.json", FeedFormat::DebianTracker),
        ("kev/kev.json", FeedFormat::Kev),
        ("epss/epss_scores-2025-06-01.csv", FeedFormat::Epss),
    ] {
        assert_eq!(detect(rel, read(rel).as_bytes()), Some(want), "{rel}");
    }
}

#[track_caller]
fn assert_located(e: &FeedError, file: &str, line: Option<u32>, field: Option<&str>) {
    assert_eq!(e.file, file, "{e}");
    assert_eq!(e.line, line, "{e}");
    assert_eq!(e.field.as_deref(), field, "{e}");
    assert!(e.to_string().starts_with(file), "{e}");
}

#[test]
fn errors_name_file_line_and_field() {
    // OSV: a wrong type deep in the record.
    let text = "{\n  \"id\": \"X-1\",\n  \"affected\": [\n    { \"package\": { \"ecosystem\": 5, \"name\": \"a\" } }\n  ]\n}";
    let e = osv::parse("x.json", text.as_bytes()).unwrap_err();
    assert_located(&e, "x.json", Some(4), Some("affected[0].package.ecosystem"));
    assert!(
        e.to_string()
            .starts_with("x.json:4: affected[0].package.ecosystem: "),
        "{e}"
    );

    // OSV array: the record's index is in the path.
    let text = "[{\"id\":\"A\"},\n{\"id\":\"B\",\"withdrawn\":\"soon\"}]";
    let e = osv::parse("a.json", text.as_bytes()).unwrap_err();
    assert_located(&e, "a.json", None, Some("[1].withdrawn"));

    // RustSec: the TOML error's line is a line of the file, below the fence.
    let text = "```toml\n[advisory]\nid = \"RUSTSEC-1\"\npackage = \"a\"\ndate = \"2020-01-01\"\naliases = \"not a list\"\n```\n# T\n";
    let e = rustsec::parse("crates/a/RUSTSEC-1.md", text).unwrap_err();
    assert_located(
        &e,
        "crates/a/RUSTSEC-1.md",
        Some(6),
        Some("advisory.aliases"),
    );
    let text =
        "```toml\n[advisory]\nid = \"RUSTSEC-1\"\npackage = \"a\"\ndate = \"last year\"\n```\n";
    let e = rustsec::parse("r.md", text).unwrap_err();
    assert_located(&e, "r.md", Some(5), Some("advisory.date"));
    let e = rustsec::parse("r.md", "```toml\n[advisory]\nid = \n```\n").unwrap_err();
    assert_located(&e, "r.md", Some(3), None);
    assert!(!e.message.contains('\n'), "{e}");
    let e = rustsec::parse("r.md", "\n# no front matter\n").unwrap_err();
    assert_located(&e, "r.md", Some(2), None);
    let e = rustsec::parse("r.md", "```toml\n[advisory]\n").unwrap_err();
    assert_located(&e, "r.md", Some(1), None);

    // FriendsOfPHP: YAML position and path.
    let text = "title: x\nbranches:\n    1.x:\n        time: ~\n        versions: {a: 1}\nreference: composer://a/b\n";
    let e = friendsofphp::parse("a/b/x.yaml", text).unwrap_err();
    assert_located(&e, "a/b/x.yaml", Some(5), Some("branches.1.x.versions"));
    assert!(
        e.to_string()
            .starts_with("a/b/x.yaml:5: branches.1.x.versions: invalid type"),
        "the path is not repeated: {e}"
    );
    let text = "title: x\nbranches: {}\nreference: https://a/b\n";
    let e = friendsofphp::parse("a/b/y.yaml", text).unwrap_err();
    assert_located(&e, "a/b/y.yaml", Some(3), Some("reference"));

    // Debian tracker: the path through package and issue.
    let text = "{\"openssl\": {\"CVE-1\": {\"releases\": {\"bookworm\": {\"status\": [1]}}}}}";
    let e = debian::parse("json", text.as_bytes()).unwrap_err();
    assert_located(
        &e,
        "json",
        Some(1),
        Some("openssl.CVE-1.releases.bookworm.status"),
    );

    // KEV: a bad date.
    let text = "{\"vulnerabilities\": [\n{\"cveID\": \"CVE-1\", \"dateAdded\": \"2020-13-45\"}]}";
    let e = kev::parse("kev.json", text.as_bytes()).unwrap_err();
    assert_located(
        &e,
        "kev.json",
        Some(2),
        Some("vulnerabilities[0].dateAdded"),
    );

    // EPSS: the line of the bad row and the column name.
    let text = "#model_version:v1,score_date:2025-01-01T00:00:00+0000\ncve,epss,percentile\nCVE-1,0.1,0.2\nCVE-2,high,0.3\n";
    let e = epss::parse("epss.csv", text).unwrap_err();
    assert_located(&e, "epss.csv", Some(4), Some("epss"));
    assert_eq!(e.to_string(), "epss.csv:4: epss: \"high\" is not a number");
    let e = epss::parse("epss.csv", "cve,score\n").unwrap_err();
    assert_located(&e, "epss.csv", Some(1), None);
    let e = epss::parse("epss.csv", "cve,epss,percentile\nCVE-1,0.1\n").unwrap_err();
    assert_located(&e, "epss.csv", Some(2), None);
    let e = epss::parse("epss.csv", "cve,epss,percentile\nCVE-1,1.5,0.2\n").unwrap_err();
    assert_located(&e, "epss.csv", Some(2), Some("epss"));
}

#[test]
fn oversized_records_are_refused_before_parsing() {
    let big = vec![b' '; MAX_RECORD_BYTES + 1];
    let e = osv::parse("big.json", &big).unwrap_err();
    assert!(e.message.contains("limit"), "{e}");
    let text = String::from_utf8(big).unwrap();
    assert!(
        rustsec::parse("big.md", &text)
            .unwrap_err()
            .message
            .contains("limit")
    );
    assert!(
        friendsofphp::parse("big.yaml", &text)
            .unwrap_err()
            .message
            .contains("limit")
    );
    // Exactly at the limit is allowed through to the parser (which then finds no record).
    let at_limit = vec![b' '; MAX_RECORD_BYTES];
    assert!(
        !osv::parse("edge.json", &at_limit)
            .unwrap_err()
            .message
            .contains("limit")
    );
}

#[test]
fn osv_record_fields_are_mapped() {
    let list = osv::parse("t.json", read("osv/trap04_ghsa_no_fix.json").as_bytes()).unwrap();
    let a = &list[0];
    assert_eq!(a.id, "GHSA-aaaa-bbbb-cccc");
    assert_eq!(a.source, palisade_vulns::Source::Osv);
    assert_eq!(a.aliases, vec!["CVE-2099-0004"]);
    assert_eq!(a.summary, "No patched version yet");
    assert_eq!(a.severity[0].kind, "CVSS_V3");
    assert_eq!(a.published, Some("2024-02-01T12:00:00Z".parse().unwrap()));
    // A byte-order mark in front of the JSON is tolerated.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(read("osv/trap04_ghsa_no_fix.json").as_bytes());
    assert_eq!(osv::parse("bom.json", &bom).unwrap(), list);
}

#[test]
fn rustsec_record_fields_are_mapped() {
    let text = read("rustsec/crates/tokio-x/RUSTSEC-2099-0003.md");
    let a = rustsec::parse("crates/tokio-x/RUSTSEC-2099-0003.md", &text).unwrap();
    assert_eq!(a.id, "RUSTSEC-2099-0003");
    assert_eq!(a.source, palisade_vulns::Source::Rustsec);
    assert_eq!(a.kind, palisade_vulns::AdvisoryKind::Vulnerability);
    assert_eq!(a.summary, "Use after free in `Runtime::spawn`");
    assert!(a.details.starts_with("Affected versions dropped"));
    assert!(a.details.ends_with("1.3.9."));
    assert_eq!(a.aliases, vec!["CVE-2099-1003", "GHSA-tttt-oooo-kkkk"]);
    assert_eq!(a.related, vec!["CVE-2099-2003"]);
    assert_eq!(
        a.references,
        vec![
            "https://example.invalid/tokio-x/issues/1",
            "https://example.invalid/tokio-x/pull/2"
        ]
    );
    assert_eq!(a.severity[0].kind, "CVSS_V3");
    assert_eq!(a.score(), Some(7.5));
    assert_eq!(a.published, Some("2099-01-31T00:00:00Z".parse().unwrap()));
    // CRLF line endings read the same.
    let crlf = text.replace('\n', "\r\n");
    let b = rustsec::parse("crates/tokio-x/RUSTSEC-2099-0003.md", &crlf).unwrap();
    assert_eq!(b.affected, a.affected);
    assert_eq!(b.summary, a.summary);
}
