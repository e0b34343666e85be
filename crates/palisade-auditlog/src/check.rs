//! Verification drivers and proofs: read events and digests from the database or from a bucket,
//! feed them to [`palisade_audit::Verifier`], and compare the two sources event by event. Only the
//! public keys are needed.

use std::collections::BTreeMap;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesOrdered;
use palisade_audit::merkle::{inclusion_proof, verify_inclusion};
use palisade_audit::{ChainedEvent, Digest, Hash, Leaf, Problem, Report, Verifier, VerifyingKey};
use palisade_core::AuditEventId;
use palisade_store::{AuditStore, StoreError};
use serde::{Deserialize, Serialize};

use crate::AuditError;
use crate::seal::PAGE;
use crate::ship::{Bucket, read_lines};

/// Every digest in the database, in order.
pub async fn store_digests(store: &dyn AuditStore) -> Result<Vec<Digest>, AuditError> {
    let mut all = Vec::new();
    let mut next = 1;
    loop {
        let page = store.digests_from(next, 1000).await?;
        let Some(last) = page.last().map(|d| d.body.number) else {
            break;
        };
        all.extend(page);
        next = last + 1;
    }
    Ok(all)
}

/// Events per read of [`verify_store`]: a window of sequence numbers.
const WINDOW: u64 = 10_000;
/// Windows read ahead of the in-order checks. The store runs as many reads at once as the machine
/// has cores; a few more keep one queued behind each.
const READ_AHEAD: usize = 4;

/// Verifies the database's log. `progress` is called with the number of events checked so far.
///
/// Organised for speed, since a log of ten million events must verify in seconds: the store reads
/// windows of sequence numbers several at once and hashes each event where it reads it
/// ([`AuditStore::audit_leaves_from`]), while the [`Verifier`]'s in-order checks (numbering,
/// links, Merkle roots, chain heads) run on a thread of their own, taking the windows in order.
pub async fn verify_store(
    store: &dyn AuditStore,
    keys: &[VerifyingKey],
    max_gap_micros: i64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Report, AuditError> {
    let digests = store_digests(store).await?;
    let mut verifier = Verifier::new(keys, digests, max_gap_micros);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Leaf>>(READ_AHEAD);
    let checker = tokio::task::spawn_blocking(move || {
        while let Some(window) = rx.blocking_recv() {
            window.iter().for_each(|l| verifier.push_leaf(l));
        }
        verifier.finish()
    });
    let read = async {
        let mut reads = FuturesOrdered::new();
        let mut next = 1u64;
        let mut seen = 0u64;
        loop {
            while reads.len() < READ_AHEAD {
                let from = next;
                next += WINDOW;
                reads.push_back(async move {
                    let leaves = store.audit_leaves_from(from, WINDOW as u32).await;
                    (from, leaves)
                });
            }
            let Some((from, leaves)) = reads.next().await else {
                break;
            };
            let mut leaves = leaves?;
            // Each window is read as "WINDOW events from `from`" and cut at its end, so windows
            // never overlap whatever gaps the stored numbering has.
            let Some(first) = leaves.first().map(|l| l.seq) else {
                break;
            };
            if first >= from + WINDOW {
                // A gap longer than a window: skip to the next stored event, dropping the reads
                // ahead, which would be cut to nothing.
                reads.clear();
                next = first;
                continue;
            }
            leaves.retain(|l| l.seq < from + WINDOW);
            seen += leaves.len() as u64;
            if tx.send(leaves).await.is_err() {
                break;
            }
            progress(seen);
        }
        drop(tx);
        Ok::<_, AuditError>(())
    };
    let read_result = read.await;
    let report = checker
        .await
        .map_err(|e| AuditError::Unavailable(format!("the verifier failed: {e}")))?;
    read_result?;
    Ok(report)
}

/// What a bucket holds: events by sequence number, digests, and what could not be read.
#[derive(Debug, Default)]
pub struct Shipped {
    pub events: BTreeMap<u64, ChainedEvent>,
    pub digests: Vec<Digest>,
    pub problems: Vec<Problem>,
}

/// Objects fetched from the bucket at once. One at a time, a bucket of a day's objects took an hour
/// to read from an S3 server answering each GET in 44 ms (BENCHMARKS.md, issue 5).
pub const GETS_AT_ONCE: usize = 16;

/// Reads every shipped object, [`GETS_AT_ONCE`] at a time (decoded on blocking threads), taking
/// them in name order. The same event in two objects (a retried delivery) counts once; two
/// different events under one number are reported.
pub async fn load_bucket(
    bucket: &Bucket,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Shipped, AuditError> {
    let mut out = Shipped::default();
    let digests = bucket.list("digests").await?;
    let mut fetched = futures_util::stream::iter(digests)
        .map(|name| async move {
            let bytes = bucket.get(&name).await?;
            Ok::<_, AuditError>((name, bytes))
        })
        .buffered(GETS_AT_ONCE);
    while let Some(got) = fetched.next().await {
        let (name, bytes) = got?;
        match serde_json::from_slice::<Digest>(&bytes) {
            Ok(d) => out.digests.push(d),
            Err(e) => out.problems.push(Problem::ObjectUnreadable {
                object: name,
                detail: e.to_string(),
            }),
        }
    }
    let names = bucket.list("events").await?;
    let mut fetched = futures_util::stream::iter(names)
        .map(|name| async move {
            let bytes = bucket.get(&name).await?;
            tokio::task::spawn_blocking(move || {
                let lines = read_lines(&name, &bytes);
                (name, lines)
            })
            .await
            .map_err(|e| AuditError::Unavailable(format!("decoding an object failed: {e}")))
        })
        .buffered(GETS_AT_ONCE);
    while let Some(got) = fetched.next().await {
        let (name, lines) = got?;
        match lines {
            Ok(events) => {
                for e in events {
                    match out.events.get(&e.seq) {
                        Some(existing) if *existing != e => {
                            out.problems.push(Problem::EventDuplicated { seq: e.seq });
                        }
                        Some(_) => {}
                        None => {
                            out.events.insert(e.seq, e);
                        }
                    }
                }
                progress(out.events.len() as u64);
            }
            Err(detail) => out.problems.push(Problem::ObjectUnreadable {
                object: name,
                detail,
            }),
        }
    }
    Ok(out)
}

/// Verifies what a bucket holds.
pub fn verify_shipped(shipped: &Shipped, keys: &[VerifyingKey], max_gap_micros: i64) -> Report {
    let mut v = Verifier::new(keys, shipped.digests.clone(), max_gap_micros);
    shipped.events.values().for_each(|e| v.push(e));
    let mut report = v.finish();
    report
        .problems
        .splice(0..0, shipped.problems.iter().cloned());
    report
}

/// Compares the database's events with the bucket's, up to what the database says was shipped.
pub async fn compare(
    store: &dyn AuditStore,
    shipped: &Shipped,
) -> Result<Vec<Problem>, AuditError> {
    let shipped_seq = store.shipping_state().await?.shipped_seq;
    let mut problems = Vec::new();
    let mut missing_db: Vec<u64> = Vec::new();
    let mut missing_bucket: Vec<u64> = Vec::new();
    let mut next = 1;
    let mut db_seqs = std::collections::HashSet::new();
    loop {
        let page = store.audit_events_from(next, PAGE).await?;
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        for e in &page {
            db_seqs.insert(e.seq);
            match shipped.events.get(&e.seq) {
                Some(s) if s != e => problems.push(Problem::EventDiffers { seq: e.seq }),
                Some(_) => {}
                None if e.seq <= shipped_seq => missing_bucket.push(e.seq),
                None => {}
            }
        }
        next = last + 1;
    }
    missing_db.extend(shipped.events.keys().filter(|s| !db_seqs.contains(s)));
    problems.extend(
        ranges(&missing_bucket)
            .map(|(from_seq, to_seq)| Problem::MissingFromBucket { from_seq, to_seq }),
    );
    problems.extend(
        ranges(&missing_db)
            .map(|(from_seq, to_seq)| Problem::MissingFromDatabase { from_seq, to_seq }),
    );
    Ok(problems)
}

/// Consecutive runs of sorted numbers as (first, last).
fn ranges(sorted: &[u64]) -> impl Iterator<Item = (u64, u64)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let start = *sorted.get(i)?;
        let mut end = start;
        i += 1;
        while sorted.get(i) == Some(&(end + 1)) {
            end += 1;
            i += 1;
        }
        Some((start, end))
    })
}

/// Proof that one event is in the log: the event, the digest whose range holds it, and its audit
/// path to the digest's root. Checkable offline with the public key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proof {
    pub event: ChainedEvent,
    pub digest: Digest,
    /// The event's position in the digest's range (0-based).
    pub index: u64,
    pub path: Vec<Hash>,
}

impl Proof {
    /// Checks the digest's signature and the event's path to its root.
    pub fn check(&self, keys: &[VerifyingKey]) -> Result<(), String> {
        let b = &self.digest.body;
        if !keys
            .iter()
            .any(|k| k.key_id() == b.key_id && k.verify(&self.digest))
        {
            return Err(format!("digest {} is not signed by a known key", b.number));
        }
        if self.event.seq != b.first_seq + self.index {
            return Err(format!(
                "event {} is not at position {} of digest {}",
                self.event.seq, self.index, b.number
            ));
        }
        let leaf = self.event.event.leaf_hash();
        if verify_inclusion(&leaf, self.index, b.count, &self.path, &b.root) {
            Ok(())
        } else {
            Err(format!(
                "event {} is not under digest {}'s root",
                self.event.seq, b.number
            ))
        }
    }
}

/// Builds the inclusion proof of an event. `Ok(None)` when the event is not sealed yet.
pub async fn prove(store: &dyn AuditStore, id: AuditEventId) -> Result<Option<Proof>, AuditError> {
    let event = match store.audit_event(id).await {
        Ok(e) => e,
        Err(StoreError::NotFound) => return Err(AuditError::Store(StoreError::NotFound)),
        Err(e) => return Err(e.into()),
    };
    let Some(digest) = store.digest_covering(event.seq).await? else {
        return Ok(None);
    };
    let b = &digest.body;
    let mut leaves = Vec::with_capacity(b.count as usize);
    let mut next = b.first_seq;
    while next <= b.last_seq() {
        let page = store.audit_events_from(next, PAGE).await?;
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        leaves.extend(
            page.iter()
                .filter(|e| e.seq <= b.last_seq())
                .map(|e| e.event.leaf_hash()),
        );
        next = last + 1;
    }
    let index = event.seq - b.first_seq;
    let path = inclusion_proof(&leaves, index as usize);
    Ok(Some(Proof {
        event,
        digest,
        index,
        path,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_of_numbers() {
        let r: Vec<_> = super::ranges(&[1, 2, 3, 7, 9, 10]).collect();
        assert_eq!(r, [(1, 3), (7, 7), (9, 10)]);
    }
}
