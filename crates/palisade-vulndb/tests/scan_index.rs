//! The scan index's promises: it answers every lookup a scan makes exactly as the store does; a
//! write that changes what a scan sees removes it before committing and the next refresh builds
//! it again; and a damaged or cut-short index never panics: it is passed over at open, or a
//! lookup fails with an error that names it.

use std::path::Path;

use palisade_vulndb::{AdvisoryLookup, INDEX_FILE, ScanIndex, VulnDb};
use palisade_vulns::{
    Advisory, AdvisoryKind, Affected, Bound, DebianState, Ecosystem, EpssScore, Interval, KevEntry,
    PackageKey, Source,
};
use proptest::prelude::*;

fn key(eco: Ecosystem, qualifier: &str, name: &str) -> PackageKey {
    PackageKey::new(eco, qualifier, name)
}

/// Advisories that use every part of an entry and every kind, with an alias chain in which only
/// the far end names a CVE.
fn advisories() -> Vec<Advisory> {
    let mut out = Vec::new();
    for i in 0..120 {
        let mut a = Advisory::new(Source::Osv, format!("GHSA-ix-{i:04}"));
        a.summary = format!("Flaw {i} in widget-{}", i % 40);
        a.aliases = if i % 3 == 0 {
            vec![]
        } else {
            vec![format!("CVE-2025-{:05}", 20_000 + i)]
        };
        a.kind = match i % 10 {
            0 => AdvisoryKind::Malicious,
            1 => AdvisoryKind::Informational("unmaintained".into()),
            _ => AdvisoryKind::Vulnerability,
        };
        let mut e = Affected::new(key(Ecosystem::Npm, "", &format!("widget-{}", i % 40)));
        e.intervals = vec![
            Interval::new(Some(Bound::inclusive("1.0.0")), None),
            Interval::new(
                Some(Bound::inclusive("2.0.0")),
                Some(Bound {
                    version: format!("2.{i}.0"),
                    inclusive: false,
                }),
            ),
        ];
        e.versions = vec![format!("0.{i}.0")];
        e.fixed = vec![format!("2.{i}.0")];
        e.last_known_affected = (i % 7 == 0).then(|| "1.9.9".to_owned());
        e.skipped_ranges = if i % 11 == 0 {
            vec!["GIT".into()]
        } else {
            vec![]
        };
        a.affected = vec![e];
        out.push(a);
    }
    let mut deb = Advisory::new(Source::DebianTracker, "CVE-2025-30000");
    let mut e = Affected::new(key(Ecosystem::Debian, "bookworm", "openssl"));
    e.problem = Some("no version information".into());
    e.debian = Some(DebianState {
        status: "open".into(),
        urgency: "high".into(),
        nodsa: Some("postponed".into()),
        nodsa_reason: None,
    });
    deb.affected = vec![e];
    out.push(deb);
    // RUSTSEC-X → GHSA-X → CVE-2025-40000: the RUSTSEC record reaches its CVE through the group.
    let mut r = Advisory::new(Source::Rustsec, "RUSTSEC-2025-0001");
    r.aliases = vec!["GHSA-x".into()];
    r.affected = vec![Affected::new(key(Ecosystem::CratesIo, "", "tokio"))];
    let mut g = Advisory::new(Source::Osv, "GHSA-x");
    g.aliases = vec!["CVE-2025-40000".into()];
    g.affected = vec![Affected::new(key(Ecosystem::CratesIo, "", "tokio"))];
    out.push(r);
    out.push(g);
    out
}

fn store(dir: &Path) -> VulnDb {
    let mut db = VulnDb::open(dir).unwrap();
    db.upsert(&advisories()).unwrap();
    db.replace_kev(&[KevEntry {
        cve: "CVE-2025-40000".into(),
        vendor: "v".into(),
        product: "p".into(),
        name: "n".into(),
        date_added: jiff::civil::date(2025, 3, 1),
        due_date: Some(jiff::civil::date(2025, 3, 22)),
        ransomware: true,
        required_action: "patch".into(),
    }])
    .unwrap();
    db.replace_epss(
        Some("2025-03-01"),
        &[EpssScore {
            cve: "CVE-2025-20001".into(),
            score: 0.42,
            percentile: 0.97,
        }],
    )
    .unwrap();
    db
}

/// Every answer a scan could ask for, as text, so two sources can be compared whole.
fn answers(src: &dyn AdvisoryLookup) -> Result<Vec<String>, palisade_vulndb::DbError> {
    let mut keys: Vec<PackageKey> = (0..45)
        .map(|i| key(Ecosystem::Npm, "", &format!("widget-{i}")))
        .collect();
    keys.push(key(Ecosystem::Debian, "bookworm", "openssl"));
    keys.push(key(Ecosystem::Debian, "trixie", "openssl"));
    keys.push(key(Ecosystem::CratesIo, "", "tokio"));
    keys.push(key(Ecosystem::CratesIo, "git", "tokio"));
    let mut out = vec![format!("enrichment {}", src.has_enrichment()?)];
    for (k, list) in keys.iter().zip(src.candidates_many(&keys)?) {
        out.push(format!("{k}: {list:?}"));
        for c in &list {
            let head = src.head(c.advisory)?;
            out.push(format!("{head:?}"));
            out.push(format!("group {:?}", src.alias_group(&head.id)?));
            for id in head.aliases.iter().chain([&head.id]) {
                out.push(format!("{id}: {:?} {:?}", src.kev(id)?, src.epss(id)?));
            }
        }
    }
    // Heads asked for together, out of order and one twice, come back in the order asked.
    let mut rowids: Vec<i64> = src
        .candidates_many(&keys)?
        .iter()
        .flatten()
        .map(|c| c.advisory)
        .collect();
    rowids.reverse();
    rowids.extend(rowids.first().copied());
    out.push(format!("{:?}", src.heads(&rowids)?));
    out.push(format!("{:?}", src.kev("CVE-2025-40000")?));
    out.push(format!("{:?}", src.epss("CVE-2025-20001")?));
    out.push(format!("{:?}", src.alias_group("RUSTSEC-2025-0001")?));
    Ok(out)
}

#[test]
fn the_index_answers_every_lookup_exactly_as_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = store(dir.path());
    assert!(db.refresh_scan_index().unwrap(), "built");
    let ix = ScanIndex::open(dir.path()).unwrap().expect("an index");
    let from_store = answers(&db).unwrap();
    assert_eq!(answers(&ix).unwrap(), from_store);
    // The comparison covers what matters: entries of every shape, KEV through the alias group.
    let all = from_store.join("\n");
    assert!(all.contains("postponed") && all.contains("1.9.9") && all.contains("GIT"));
    assert!(all.contains("CVE-2025-40000\", \"GHSA-x\", \"RUSTSEC-2025-0001"));
    assert!(all.contains("ransomware: true"));
    // And the scanner is handed the index when there is one.
    let opened = palisade_vulndb::open_for_scan(dir.path()).unwrap();
    assert_eq!(answers(opened.as_ref()).unwrap(), from_store);
}

/// Batched lookups walk a table once, reading runs of neighbouring blocks together; with
/// thousands of packages and heads there are many blocks and several runs, keys in between
/// that are absent, and keys before the first and after the last.
#[test]
fn lookups_in_one_pass_over_many_blocks_answer_as_the_store_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = VulnDb::open(dir.path()).unwrap();
    let many: Vec<Advisory> = (0..3000)
        .map(|i| {
            let mut a = Advisory::new(Source::Osv, format!("GHSA-many-{i:05}"));
            a.summary = format!("Flaw number {i}, described at some length to fill the blocks");
            let mut e = Affected::new(key(Ecosystem::Npm, "", &format!("pkg-{i:05}")));
            e.intervals = vec![Interval::new(
                Some(Bound::inclusive("1.0.0")),
                Some(Bound {
                    version: format!("1.{i}.0"),
                    inclusive: false,
                }),
            )];
            a.affected = vec![e];
            a
        })
        .collect();
    db.upsert(&many).unwrap();
    assert!(db.refresh_scan_index().unwrap());
    let ix = ScanIndex::open(dir.path()).unwrap().expect("an index");
    // Every seventh package, an absent name after each, in reverse order, one twice, and names
    // that sort before and after every key in the table.
    let mut keys: Vec<PackageKey> = (0..3000)
        .step_by(7)
        .flat_map(|i| {
            [
                key(Ecosystem::Npm, "", &format!("pkg-{i:05}")),
                key(Ecosystem::Npm, "", &format!("pkg-{i:05}-absent")),
            ]
        })
        .rev()
        .collect();
    keys.push(keys[3].clone());
    keys.push(key(Ecosystem::Npm, "", "aaa"));
    keys.push(key(Ecosystem::Npm, "", "zzz"));
    let from_store = db.candidates_many(&keys).unwrap();
    let from_index = ix.candidates_many(&keys).unwrap();
    assert_eq!(format!("{from_index:?}"), format!("{from_store:?}"));
    let found = from_index.iter().filter(|list| !list.is_empty()).count();
    assert_eq!(
        found,
        3000usize.div_ceil(7) + 1,
        "each present package, one twice"
    );
    let rowids: Vec<i64> = from_store.iter().flatten().map(|c| c.advisory).collect();
    assert_eq!(
        format!("{:?}", ix.heads(&rowids).unwrap()),
        format!("{:?}", AdvisoryLookup::heads(&db, &rowids).unwrap())
    );
    // A row number the index does not hold is an error that names the index, not a gap.
    let e = ix.heads(&[rowids[0], i64::MAX]).unwrap_err().to_string();
    assert!(e.contains(INDEX_FILE) && e.contains("no advisory"), "{e}");
}

#[test]
fn writes_that_change_what_a_scan_sees_remove_the_index_and_refresh_rebuilds_it() {
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join(INDEX_FILE);
    let mut db = store(dir.path());
    assert!(db.refresh_scan_index().unwrap());
    assert!(!db.refresh_scan_index().unwrap(), "a current index is kept");

    // Re-importing unchanged records writes nothing and keeps the index.
    db.upsert(&advisories()).unwrap();
    assert!(idx.exists());

    // A changed record: the index goes, and scans read the store until it is rebuilt.
    let mut changed = advisories();
    changed[5].affected[0].fixed = vec!["9.9.9".into()];
    db.upsert(&changed[5..6]).unwrap();
    assert!(!idx.exists());
    let store_answers = answers(&db).unwrap();
    assert!(store_answers.join("").contains("9.9.9"));
    let opened = palisade_vulndb::open_for_scan(dir.path()).unwrap();
    assert_eq!(answers(opened.as_ref()).unwrap(), store_answers);
    assert!(db.refresh_scan_index().unwrap());
    let ix = ScanIndex::open(dir.path()).unwrap().unwrap();
    assert_eq!(answers(&ix).unwrap(), store_answers);

    // KEV and EPSS replacements change rankings: they remove it too.
    db.replace_kev(&[]).unwrap();
    assert!(!idx.exists());
    assert!(db.refresh_scan_index().unwrap());
    db.replace_epss(None, &[]).unwrap();
    assert!(!idx.exists());
}

#[test]
fn a_store_rebuilt_for_another_schema_drops_the_index_of_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = store(dir.path());
    db.refresh_scan_index().unwrap();
    drop(db);
    let conn = rusqlite::Connection::open(dir.path().join(palisade_vulndb::DB_FILE)).unwrap();
    conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema'", [])
        .unwrap();
    drop(conn);
    let db = VulnDb::open(dir.path()).unwrap();
    assert!(!dir.path().join(INDEX_FILE).exists());
    assert!(answers(&db).unwrap().join("").contains("enrichment false"));
}

#[test]
fn a_cut_short_index_is_passed_over_and_the_scan_reads_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = store(dir.path());
    db.refresh_scan_index().unwrap();
    let idx = dir.path().join(INDEX_FILE);
    let bytes = std::fs::read(&idx).unwrap();
    std::fs::write(&idx, &bytes[..bytes.len() / 2]).unwrap();
    let err = ScanIndex::open(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains(INDEX_FILE) && err.contains("scan index"),
        "{err}"
    );
    let opened = palisade_vulndb::open_for_scan(dir.path()).unwrap();
    assert_eq!(answers(opened.as_ref()).unwrap(), answers(&db).unwrap());
}

/// An index a scan passes over (damaged, or written by a release with another index format)
/// is rebuilt by the next refresh: an import that changed nothing had kept it, and every scan
/// read the slower store until some write replaced it.
#[test]
fn refresh_replaces_an_index_that_scans_would_pass_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = store(dir.path());
    db.refresh_scan_index().unwrap();
    let idx = dir.path().join(INDEX_FILE);
    let good = std::fs::read(&idx).unwrap();
    let mut older = good.clone();
    let end = older.len();
    // The format's magic closes the file; an earlier format ends with another one.
    older[end - 1] ^= 0x01;
    for bad in [older, good[..good.len() / 2].to_vec()] {
        std::fs::write(&idx, &bad).unwrap();
        assert!(palisade_vulndb::usable_scan_index(dir.path()).is_none());
        assert!(db.refresh_scan_index().unwrap(), "rebuilt");
        assert_eq!(std::fs::read(&idx).unwrap().len(), good.len());
        assert!(palisade_vulndb::usable_scan_index(dir.path()).is_some());
        assert!(!db.refresh_scan_index().unwrap(), "a usable index is kept");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Damage anywhere in the file: opening and every lookup return answers or errors that name
    /// the index, never a panic, and never read past the file's end.
    #[test]
    fn a_damaged_index_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = store(dir.path());
        db.refresh_scan_index().unwrap();
        let idx = dir.path().join(INDEX_FILE);
        let mut bytes = std::fs::read(&idx).unwrap();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= b | 1;
        }
        if let Some(c) = cut {
            bytes.truncate(c.index(bytes.len()));
        }
        std::fs::write(&idx, &bytes).unwrap();
        if let Ok(Some(ix)) = ScanIndex::open(dir.path())
            && let Err(e) = answers(&ix)
        {
            let e = e.to_string();
            prop_assert!(e.contains(INDEX_FILE), "{}", e);
        }
    }
}
