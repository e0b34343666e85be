//! The advisory store's own promises: records come back exactly as stored, with and without the
//! trained compression dictionary; withdrawn records stay findable but leave the package index;
//! a store written by another schema version is refused for reading with a clear message.

use palisade_vulndb::VulnDb;
use palisade_vulns::{Advisory, Affected, Ecosystem, Interval, PackageKey, Source};

fn advisory(i: usize) -> Advisory {
    let mut a = Advisory::new(Source::Osv, format!("GHSA-test-{i:04}"));
    a.summary = format!("Cross-site scripting in widget-{i} when rendering untrusted templates");
    a.details = "The template engine did not escape attribute values. ".repeat(1 + i % 5);
    a.aliases = vec![format!("CVE-2024-{:05}", 10_000 + i)];
    let mut e = Affected::new(PackageKey::new(
        Ecosystem::Npm,
        "",
        &format!("widget-{}", i % 50),
    ));
    e.intervals = vec![Interval::ALL];
    e.versions = vec!["1.0.0".into()];
    a.affected = vec![e];
    a
}

#[test]
fn records_round_trip_with_the_trained_dictionary_and_without() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = VulnDb::open(dir.path()).unwrap();
    // Too few samples: stored plainly.
    db.upsert(&[advisory(9999)]).unwrap();
    let batch: Vec<Advisory> = (0..800).map(advisory).collect();
    db.train_dictionary(&batch).unwrap();
    db.upsert(&batch).unwrap();
    drop(db);
    let db = VulnDb::open_existing(dir.path()).unwrap();
    assert_eq!(db.find("GHSA-test-9999").unwrap(), vec![advisory(9999)]);
    assert_eq!(db.find("GHSA-test-0123").unwrap(), vec![advisory(123)]);
    assert_eq!(
        db.find("CVE-2024-10123").unwrap(),
        vec![advisory(123)],
        "found by alias"
    );
    let key = PackageKey::new(Ecosystem::Npm, "", "widget-7");
    assert_eq!(db.candidates(&key).unwrap().len(), 16);
}

#[test]
fn withdrawn_records_stay_findable_but_leave_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = VulnDb::open(dir.path()).unwrap();
    let mut a = advisory(1);
    db.upsert(std::slice::from_ref(&a)).unwrap();
    let key = a.affected[0].package.clone();
    assert_eq!(db.candidates(&key).unwrap().len(), 1);
    a.withdrawn = Some(jiff::Timestamp::UNIX_EPOCH);
    let s = db.upsert(std::slice::from_ref(&a)).unwrap();
    assert_eq!(s.updated, 1);
    assert!(db.candidates(&key).unwrap().is_empty());
    assert!(db.find(&a.id).unwrap()[0].is_withdrawn());
    assert_eq!(db.stats().unwrap().withdrawn, 1);
}

#[test]
fn a_store_from_another_schema_version_is_refused_for_reading() {
    let dir = tempfile::tempdir().unwrap();
    drop(VulnDb::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(palisade_vulndb::DB_FILE)).unwrap();
    conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema'", [])
        .unwrap();
    drop(conn);
    let err = VulnDb::open_existing(dir.path()).unwrap_err().to_string();
    assert!(err.contains("import the advisories again"), "{err}");
    // Opening for writing rebuilds it.
    let db = VulnDb::open(dir.path()).unwrap();
    assert_eq!(db.stats().unwrap().advisories.len(), 0);
}

#[test]
fn the_change_log_names_the_packages_an_advisory_named_before_and_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = VulnDb::open(dir.path()).unwrap();
    let generation = db.generation().unwrap();
    let mut a = advisory(1);
    db.upsert(std::slice::from_ref(&a)).unwrap();
    let first = db.changes_since(0, 100).unwrap();
    assert_eq!(first.keys, vec![a.affected[0].package.clone()]);
    assert!(!first.everything);

    // Unchanged re-import: nothing to re-evaluate.
    db.upsert(std::slice::from_ref(&a)).unwrap();
    assert!(db.changes_since(first.last, 100).unwrap().keys.is_empty());

    // Moved to another package: both the old and the new one are named.
    let old = a.affected[0].package.clone();
    a.affected[0].package = PackageKey::new(Ecosystem::Npm, "", "gadget");
    db.upsert(std::slice::from_ref(&a)).unwrap();
    let moved = db.changes_since(first.last, 100).unwrap();
    let mut want = vec![old, a.affected[0].package.clone()];
    want.sort();
    assert_eq!(moved.keys, want);

    // Withdrawal names the package it no longer affects.
    a.withdrawn = Some(jiff::Timestamp::UNIX_EPOCH);
    db.upsert(std::slice::from_ref(&a)).unwrap();
    let withdrawn = db.changes_since(moved.last, 100).unwrap();
    assert_eq!(withdrawn.keys, vec![a.affected[0].package.clone()]);

    assert_eq!(db.last_change().unwrap(), withdrawn.last);
    // New KEV or EPSS data re-ranks everything.
    db.replace_kev(&[]).unwrap();
    assert!(db.changes_since(withdrawn.last, 100).unwrap().everything);
    assert_eq!(db.generation().unwrap(), generation);
}
