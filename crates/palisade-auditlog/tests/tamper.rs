//! Tampering with a real database and with real shipped objects, each kind separately: `verify`
//! must find every one and say where.

mod common;

use common::*;
use palisade_audit::{Problem, Report, SigningKey, Verifier, VerifyingKey};
use palisade_auditlog::check::{compare, load_bucket, verify_shipped, verify_store};
use palisade_auditlog::ship::{Bucket, BucketConfig, Shipper};
use palisade_store::AuditStore;

const MAX_GAP: i64 = 15 * MINUTE;

async fn verify_db(store: &palisade_store_sql::SqlStore, key: &VerifyingKey) -> Vec<Problem> {
    verify_store(store, &[*key], MAX_GAP, &|_| {})
        .await
        .expect("verify")
        .problems
}

fn sql(path: &str, statements: &str) {
    let c = rusqlite::Connection::open(path).expect("open for tampering");
    c.execute_batch(statements).expect("tamper");
}

#[tokio::test]
async fn every_kind_of_tampering_in_the_database_is_found_and_located() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate();
    let public = key.verifying_key();
    let (store, path) = sqlite(dir.path()).await;
    fill(&store, &key, 6, 20).await;
    assert_eq!(
        verify_db(&store, &public).await,
        vec![],
        "an untouched log verifies"
    );
    // Every connection closed, so the file holds everything (no write-ahead log beside it).
    store.close().await;
    drop(store);
    let copy = dir.path().join("clean.db");
    std::fs::copy(&path, &copy).unwrap();
    // Each kind of tampering on its own copy of the clean database.
    let mut n = 0;
    let mut tampered = |statements: &str| {
        n += 1;
        let case = dir.path().join(format!("case{n}"));
        std::fs::create_dir_all(&case).unwrap();
        let target = case.join("palisade.db");
        std::fs::copy(&copy, &target).unwrap();
        sql(target.to_str().unwrap(), statements);
        case
    };
    let problems = |case: std::path::PathBuf| async move {
        let (store, _) = sqlite(&case).await;
        verify_db(&store, &public).await
    };

    // Edited event.
    let p = problems(tampered(
        "UPDATE audit_events SET data = '{\"i\":999}' WHERE seq = 37",
    ))
    .await;
    assert!(
        p.iter()
            .any(|p| matches!(p, Problem::EventAltered { seq: 37, .. })),
        "{p:?}"
    );

    // Deleted event.
    let p = problems(tampered("DELETE FROM audit_events WHERE seq = 50")).await;
    assert!(
        p.contains(&Problem::EventsMissing {
            from_seq: 50,
            to_seq: 50
        }),
        "{p:?}"
    );

    // Reordered: two events swap places (their contents and hashes move, the numbers stay).
    let p = problems(tampered(
        "UPDATE audit_events SET seq = -1 WHERE seq = 61;
         UPDATE audit_events SET seq = 61 WHERE seq = 62;
         UPDATE audit_events SET seq = 62 WHERE seq = -1;",
    ))
    .await;
    assert!(
        p.contains(&Problem::EventsReordered {
            seq: 61,
            other_seq: 62
        }),
        "{p:?}"
    );

    // Inserted: a copy of event 70 under a new id, linked to event 70 as if appended after it (with
    // a made-up hash of its own, as the forger cannot make the next event link to it), the rest
    // renumbered to make room.
    let p = problems(tampered(
        "UPDATE audit_events SET seq = -seq - 1 WHERE seq > 70;
         UPDATE audit_events SET seq = -seq WHERE seq < 0;
         INSERT INTO audit_events (seq, id, at, kind, action, actor, client_id, object, request_id, data, prev, hash)
           SELECT 71, '0190c6f1-dead-7000-8000-000000000000', at, kind, action, actor, client_id, object, request_id, data, hash, '77' || substr(hash, 3)
           FROM audit_events WHERE seq = 70;",
    ))
    .await;
    assert!(
        p.iter()
            .any(|p| matches!(p, Problem::EventInserted { seq: 71, .. })),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|p| matches!(p, Problem::DigestMismatch { number: 4, .. })),
        "{p:?}"
    );

    // Digests: deleted, edited, inserted.
    let p = problems(tampered("DELETE FROM audit_digests WHERE number = 3")).await;
    assert!(
        p.contains(&Problem::DigestsMissing {
            from_number: 3,
            to_number: 3
        }),
        "{p:?}"
    );

    let p = problems(tampered(
        "UPDATE audit_digests SET count = count - 1 WHERE number = 2",
    ))
    .await;
    assert!(p.contains(&Problem::DigestForged { number: 2 }), "{p:?}");

    let p = problems(tampered(
        "INSERT INTO audit_digests SELECT 7, first_seq + count, 0, root, chain_head, previous, sealed_at + 1, key_id, signature FROM audit_digests WHERE number = 6",
    ))
    .await;
    assert!(p.contains(&Problem::DigestForged { number: 7 }), "{p:?}");

    let p = problems(tampered("SELECT 1")).await;
    assert_eq!(p, vec![], "an untampered copy verifies");
}

#[tokio::test]
async fn every_kind_of_tampering_in_shipped_objects_is_found_and_located() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate();
    let public = key.verifying_key();
    let (store, _) = sqlite(dir.path()).await;
    fill(&store, &key, 4, 25).await;
    let objects = dir.path().join("objects");
    let bucket = Bucket::open(&BucketConfig::Local(objects.clone())).unwrap();
    let shipper = Shipper::new(bucket.clone());
    shipper.ship(&store, T0 + 30 * MINUTE).await.expect("ship");

    let check = || async {
        let shipped = load_bucket(&bucket, &|_| {}).await.expect("load");
        let mut p = verify_shipped(&shipped, &[public], MAX_GAP).problems;
        p.extend(compare(&store, &shipped).await.expect("compare"));
        p
    };
    assert_eq!(
        check().await,
        vec![],
        "shipped objects verify and match the database"
    );

    let names = bucket.list("events").await.unwrap();
    let first = names[0].clone();
    let original = bucket.get(&first).await.unwrap();
    let lines = palisade_auditlog::ship::read_lines(&first, &original).unwrap();

    // Edited: one event's action changed in place.
    let mut edited = lines.clone();
    edited[3].event.action = "site.archive".into();
    let victim = edited[3].seq;
    bucket
        .overwrite(
            &first,
            palisade_auditlog::ship::gzip_lines(&edited.iter().collect::<Vec<_>>()),
        )
        .await
        .unwrap();
    let p = check().await;
    assert!(
        p.iter()
            .any(|p| matches!(p, Problem::EventAltered { seq, .. } if *seq == victim)),
        "{p:?}"
    );
    assert!(p.contains(&Problem::EventDiffers { seq: victim }), "{p:?}");

    // Deleted: one line removed.
    let mut deleted = lines.clone();
    let gone = deleted.remove(5).seq;
    bucket
        .overwrite(
            &first,
            palisade_auditlog::ship::gzip_lines(&deleted.iter().collect::<Vec<_>>()),
        )
        .await
        .unwrap();
    let p = check().await;
    assert!(
        p.contains(&Problem::EventsMissing {
            from_seq: gone,
            to_seq: gone
        }),
        "{p:?}"
    );
    assert!(
        p.contains(&Problem::MissingFromBucket {
            from_seq: gone,
            to_seq: gone
        }),
        "{p:?}"
    );

    // Reordered: two lines exchange their sequence numbers.
    let mut swapped = lines.clone();
    let (a, b) = (swapped[7].seq, swapped[8].seq);
    swapped[7].seq = b;
    swapped[8].seq = a;
    bucket
        .overwrite(
            &first,
            palisade_auditlog::ship::gzip_lines(&swapped.iter().collect::<Vec<_>>()),
        )
        .await
        .unwrap();
    let p = check().await;
    assert!(
        p.contains(&Problem::EventsReordered {
            seq: a,
            other_seq: b
        }),
        "{p:?}"
    );

    // Inserted: a well-linked extra event in a new object of its own.
    bucket.overwrite(&first, original.clone()).await.unwrap();
    let mut extra = lines[lines.len() - 1].clone();
    extra.seq = 1000;
    extra.event.id = palisade_core::AuditEventId::new();
    bucket
        .overwrite(
            "events/2026/01/01/provider/00000000000000001000-00000000000000001000.jsonl.gz",
            palisade_auditlog::ship::gzip_lines(&[&extra]),
        )
        .await
        .unwrap();
    let p = check().await;
    assert!(
        p.contains(&Problem::MissingFromDatabase {
            from_seq: 1000,
            to_seq: 1000
        }),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|p| matches!(p, Problem::EventsMissing { to_seq: 999, .. })),
        "{p:?}"
    );
    bucket
        .delete("events/2026/01/01/provider/00000000000000001000-00000000000000001000.jsonl.gz")
        .await
        .unwrap();

    // Digests: deleted, then edited.
    let digests = bucket.list("digests").await.unwrap();
    let d2 = bucket.get(&digests[1]).await.unwrap();
    bucket.delete(&digests[1]).await.unwrap();
    let p = check().await;
    assert!(
        p.contains(&Problem::DigestsMissing {
            from_number: 2,
            to_number: 2
        }),
        "{p:?}"
    );
    let text = String::from_utf8(d2)
        .unwrap()
        .replace("\"count\": 25", "\"count\": 24");
    bucket
        .overwrite(&digests[1], text.into_bytes())
        .await
        .unwrap();
    let p = check().await;
    assert!(p.contains(&Problem::DigestForged { number: 2 }), "{p:?}");
    // A garbled object is named.
    bucket
        .overwrite(&digests[2], b"{not json".to_vec())
        .await
        .unwrap();
    let p = check().await;
    assert!(
        p.iter().any(
            |p| matches!(p, Problem::ObjectUnreadable { object, .. } if *object == digests[2])
        ),
        "{p:?}"
    );
}

/// The reference: every event through `Verifier::push`, one page after another.
async fn verify_sequentially(store: &palisade_store_sql::SqlStore, key: &VerifyingKey) -> Report {
    let digests = palisade_auditlog::check::store_digests(store)
        .await
        .expect("digests");
    let mut v = Verifier::new(&[*key], digests, MAX_GAP);
    let mut next = 1;
    loop {
        let page = store.audit_events_from(next, 1000).await.expect("read");
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        page.iter().for_each(|e| v.push(e));
        next = last + 1;
    }
    v.finish()
}

#[tokio::test]
async fn verification_in_parallel_windows_reports_what_the_sequential_verifier_does() {
    // More than two of verify_store's windows of 10,000, so the windows' seams and a gap longer than
    // a window are crossed.
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate();
    let public = key.verifying_key();
    let (store, path) = sqlite(dir.path()).await;
    fill(&store, &key, 5, 7_000).await;
    let clean = verify_store(&store, &[public], MAX_GAP, &|_| {})
        .await
        .expect("verify");
    assert_eq!(clean.events, 35_000);
    assert!(clean.ok(), "{:?}", clean.problems);
    store.close().await;
    drop(store);

    // A stretch longer than a window removed, an edit on each side of a window's seam, a swap.
    sql(
        &path,
        "DELETE FROM audit_events WHERE seq BETWEEN 12000 AND 23500;
         UPDATE audit_events SET data = '{\"i\":-1}' WHERE seq IN (10000, 10001, 30001);
         UPDATE audit_events SET seq = -1 WHERE seq = 27000;
         UPDATE audit_events SET seq = 27000 WHERE seq = 27001;
         UPDATE audit_events SET seq = 27001 WHERE seq = -1;",
    );
    let (store, _) = sqlite(dir.path()).await;
    let mut seen = Vec::new();
    let seen_cell = std::sync::Mutex::new(&mut seen);
    let parallel = verify_store(&store, &[public], MAX_GAP, &|n| {
        seen_cell.lock().unwrap().push(n)
    })
    .await
    .expect("verify");
    let reference = verify_sequentially(&store, &public).await;
    assert_eq!(parallel.events, 35_000 - 11_501);
    assert_eq!(parallel.events, reference.events);
    assert_eq!(parallel.unsealed, reference.unsealed);
    assert_eq!(parallel.problems, reference.problems);
    for expected in [
        Problem::EventsMissing {
            from_seq: 12000,
            to_seq: 23500,
        },
        Problem::EventsReordered {
            seq: 27000,
            other_seq: 27001,
        },
    ] {
        assert!(
            parallel.problems.contains(&expected),
            "{:?}",
            parallel.problems
        );
    }
    for seq in [10000, 10001, 30001] {
        assert!(
            parallel
                .problems
                .iter()
                .any(|p| matches!(p, Problem::EventAltered { seq: s, .. } if *s == seq)),
            "{seq}: {:?}",
            parallel.problems
        );
    }
    assert_eq!(
        seen.last(),
        Some(&parallel.events),
        "progress counts every event"
    );
}
