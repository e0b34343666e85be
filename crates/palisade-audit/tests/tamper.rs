//! Tampering with the log in every way the issue names, each separately: the verifier must find it
//! and say where. These run on the pure model; the store and object-storage tests repeat them on
//! real databases and shipped objects.

use palisade_audit::digest::{Digest, DigestBody, SigningKey};
use palisade_audit::event::{ChainedEvent, Event, EventKind, Hash, chain, link};
use palisade_audit::merkle::{RootBuilder, empty_root};
use palisade_audit::{Problem, Report, Verifier};
use palisade_core::ids::AuditEventId;

const MINUTE: i64 = 60_000_000;

fn event(i: u64) -> Event {
    Event {
        id: AuditEventId(uuid::Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0000 + u128::from(i),
        )),
        at_micros: 1_700_000_000_000_000 + i as i64 * 1000,
        kind: EventKind::Change,
        action: "site.update".into(),
        actor: Some("user:1".into()),
        client: Some(format!("client-{}", i % 3)),
        object: Some(format!("site:{i}")),
        request_id: None,
        data: format!("{{\"name\":\"site {i}\"}}"),
    }
}

/// A log of `n` events sealed every `per` events (plus one empty digest at the end), a digest per
/// five minutes.
fn log(n: u64, per: u64, key: &SigningKey) -> (Vec<ChainedEvent>, Vec<Digest>) {
    let events = chain((0, Hash::GENESIS), (1..=n).map(event).collect());
    let mut digests: Vec<Digest> = Vec::new();
    let mut first = 1;
    let mut head = Hash::GENESIS;
    let mut ranges: Vec<(u64, u64)> = (0..n.div_ceil(per))
        .map(|i| (i * per + 1, ((i + 1) * per).min(n)))
        .collect();
    ranges.push((n + 1, n));
    for (a, b) in ranges {
        let mut builder = RootBuilder::new();
        for e in &events[(a - 1) as usize..b as usize] {
            builder.push(e.event.leaf_hash());
            head = e.hash;
        }
        let count = b + 1 - a;
        let body = DigestBody {
            number: digests.len() as u64 + 1,
            first_seq: first,
            count,
            root: if count == 0 {
                empty_root()
            } else {
                builder.root()
            },
            chain_head: head,
            previous: digests.last().map_or(Hash::GENESIS, Digest::fingerprint),
            sealed_at_micros: 1_700_000_000_000_000 + digests.len() as i64 * 5 * MINUTE,
            key_id: key.verifying_key().key_id(),
        };
        digests.push(key.sign(body));
        first = b + 1;
    }
    (events, digests)
}

fn verify(events: &[ChainedEvent], digests: &[Digest], key: &SigningKey) -> Report {
    let mut v = Verifier::new(&[key.verifying_key()], digests.to_vec(), 10 * MINUTE);
    events.iter().for_each(|e| v.push(e));
    v.finish()
}

fn rehash_from(events: &mut [ChainedEvent], from: usize) {
    for i in from..events.len() {
        let prev = if i == 0 {
            Hash::GENESIS
        } else {
            events[i - 1].hash
        };
        events[i].prev = prev;
        events[i].hash = link(&prev, &events[i].event.leaf_hash());
    }
}

#[test]
fn an_untouched_log_verifies() {
    let key = SigningKey::generate();
    let (events, digests) = log(50, 10, &key);
    let r = verify(&events, &digests, &key);
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!((r.events, r.digests, r.unsealed), (50, 6, 0));

    let (mut more, _) = log(53, 10, &key);
    more.truncate(53);
    let r = verify(&more, &digests, &key);
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(
        r.unsealed, 3,
        "events after the last digest are counted as unsealed"
    );
}

#[test]
fn an_edited_event_is_named() {
    let key = SigningKey::generate();
    let (mut events, digests) = log(50, 10, &key);
    events[16].event.data = "{\"name\":\"changed\"}".into();
    let r = verify(&events, &digests, &key);
    assert!(
        r.problems.contains(&Problem::EventAltered {
            seq: 17,
            id: events[16].event.id.to_string()
        }),
        "{:?}",
        r.problems
    );
    assert!(
        r.problems
            .iter()
            .any(|p| matches!(p, Problem::DigestMismatch { number: 2, .. }))
    );
    assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
}

#[test]
fn a_deleted_event_is_named_with_or_without_renumbering() {
    let key = SigningKey::generate();
    let (mut events, digests) = log(50, 10, &key);
    events.remove(24);
    let r = verify(&events, &digests, &key);
    assert!(
        r.problems.contains(&Problem::EventsMissing {
            from_seq: 25,
            to_seq: 25
        }),
        "{:?}",
        r.problems
    );
    assert!(
        !r.problems
            .iter()
            .any(|p| matches!(p, Problem::PredecessorMissing { .. })),
        "{:?}",
        r.problems
    );

    for e in &mut events[24..] {
        e.seq -= 1;
    }
    let r = verify(&events, &digests, &key);
    assert!(
        r.problems.contains(&Problem::PredecessorMissing {
            seq: 25,
            id: events[24].event.id.to_string()
        }),
        "{:?}",
        r.problems
    );
    assert!(
        r.problems
            .iter()
            .any(|p| matches!(p, Problem::DigestMismatch { number: 3, .. }))
    );
}

#[test]
fn an_inserted_event_is_named() {
    let key = SigningKey::generate();
    let (mut events, digests) = log(50, 10, &key);
    // A well-formed extra event, linked to its predecessor as if appended there, the rest renumbered.
    let mut forged = chain((30, events[29].hash), vec![event(999)]).remove(0);
    forged.seq = 31;
    events.insert(30, forged);
    for e in &mut events[31..] {
        e.seq += 1;
    }
    let r = verify(&events, &digests, &key);
    assert!(
        r.problems.contains(&Problem::EventInserted {
            seq: 31,
            id: events[30].event.id.to_string()
        }),
        "{:?}",
        r.problems
    );
    assert!(
        !r.problems.iter().any(|p| matches!(
            p,
            Problem::EventAltered { .. } | Problem::PredecessorMissing { .. }
        )),
        "{:?}",
        r.problems
    );
}

#[test]
fn reordered_events_are_named() {
    let key = SigningKey::generate();
    let (mut events, digests) = log(50, 10, &key);
    // Swap two rows' contents, keeping the sequence numbers in place.
    let (a, b) = (events[11].clone(), events[12].clone());
    events[11] = ChainedEvent { seq: 12, ..b };
    events[12] = ChainedEvent { seq: 13, ..a };
    let r = verify(&events, &digests, &key);
    assert!(
        r.problems.contains(&Problem::EventsReordered {
            seq: 12,
            other_seq: 13
        }),
        "{:?}",
        r.problems
    );
    assert!(
        !r.problems.iter().any(|p| matches!(
            p,
            Problem::EventInserted { .. }
                | Problem::EventAltered { .. }
                | Problem::PredecessorMissing { .. }
        )),
        "{:?}",
        r.problems
    );
}

#[test]
fn events_moved_further_apart_are_named_by_their_places() {
    let key = SigningKey::generate();
    let (mut events, digests) = log(50, 10, &key);
    let (a, b) = (events[14].clone(), events[16].clone());
    events[14] = ChainedEvent { seq: 15, ..b };
    events[16] = ChainedEvent { seq: 17, ..a };
    let r = verify(&events, &digests, &key);
    assert!(
        r.problems.contains(&Problem::EventsReordered {
            seq: 15,
            other_seq: 17
        }),
        "{:?}",
        r.problems
    );
    assert!(
        !r.problems.iter().any(|p| matches!(
            p,
            Problem::EventInserted { .. }
                | Problem::EventAltered { .. }
                | Problem::PredecessorMissing { .. }
        )),
        "{:?}",
        r.problems
    );
}

#[test]
fn damage_at_the_very_end_is_still_classified() {
    let key = SigningKey::generate();
    let (mut events, digests) = log(50, 10, &key);
    let junk = chain((0, Hash([5; 32])), vec![event(777)]).remove(0);
    events.push(ChainedEvent { seq: 51, ..junk });
    let r = verify(&events, &digests, &key);
    assert!(
        r.problems
            .iter()
            .any(|p| matches!(p, Problem::PredecessorMissing { seq: 51, .. })),
        "{:?}",
        r.problems
    );
}

#[test]
fn rehashing_after_an_edit_is_caught_by_the_digest() {
    let key = SigningKey::generate();
    let (mut events, digests) = log(50, 10, &key);
    events[33].event.actor = Some("user:someone-else".into());
    rehash_from(&mut events, 33);
    let r = verify(&events, &digests, &key);
    assert_eq!(
        r.problems.len(),
        3,
        "the edited range and every later chain head: {:?}",
        r.problems
    );
    assert!(matches!(
        &r.problems[0],
        Problem::DigestMismatch {
            number: 4,
            first_seq: 31,
            last_seq: 40,
            ..
        }
    ));
}

#[test]
fn digests_deleted_edited_forged_or_inserted_are_named() {
    let key = SigningKey::generate();
    let (events, digests) = log(50, 10, &key);

    let mut deleted = digests.clone();
    deleted.remove(2);
    let r = verify(&events, &deleted, &key);
    assert!(
        r.problems.contains(&Problem::DigestsMissing {
            from_number: 3,
            to_number: 3
        }),
        "{:?}",
        r.problems
    );

    let mut edited = digests.clone();
    edited[1].body.count = 9;
    let r = verify(&events, &edited, &key);
    assert!(
        r.problems.contains(&Problem::DigestForged { number: 2 }),
        "{:?}",
        r.problems
    );

    let mut forged = digests.clone();
    let other = SigningKey::generate();
    forged[3] = other.sign(DigestBody {
        key_id: key.verifying_key().key_id(),
        ..forged[3].body.clone()
    });
    let r = verify(&events, &forged, &key);
    assert!(
        r.problems.contains(&Problem::DigestForged { number: 4 }),
        "{:?}",
        r.problems
    );

    let mut inserted = digests.clone();
    inserted.push(other.sign(DigestBody {
        number: 7,
        key_id: other.verifying_key().key_id(),
        ..digests[5].body.clone()
    }));
    let r = verify(&events, &inserted, &key);
    assert_eq!(r.problems, vec![Problem::DigestForged { number: 7 }]);
}

#[test]
fn a_pause_in_sealing_is_a_time_gap() {
    let key = SigningKey::generate();
    let (events, mut digests) = log(50, 10, &key);
    // Re-seal digests 4 onward an hour later, correctly signed and linked.
    for i in 3..digests.len() {
        let mut body = digests[i].body.clone();
        body.sealed_at_micros += 60 * MINUTE;
        body.previous = digests[i - 1].fingerprint();
        digests[i] = key.sign(body);
    }
    let r = verify(&events, &digests, &key);
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(matches!(
        r.problems[0],
        Problem::TimeGap {
            after_number: 3,
            ..
        }
    ));
    assert!(
        r.problems[0].to_string().contains("2023-11-14T22:"),
        "{}",
        r.problems[0]
    );
}
