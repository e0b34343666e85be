//! The verifier: given the events (in stored order) and the digests, it reports every problem with
//! its location, using nothing but the public keys.
//!
//! Events carry both their predecessor's hash (`prev`) and their own (`hash`), so a broken link can
//! be told apart from a broken event: an edited event no longer hashes to its own `hash`; a deleted
//! one leaves its successor pointing at a hash nobody has; an inserted one is skipped by its
//! successor's link; a reordered pair points at each other out of order. Someone who recomputes
//! every hash after tampering still cannot produce the signed digests, so the damage is then located
//! to the digest's range of events.

use std::collections::VecDeque;
use std::fmt;

use palisade_core::ids::AuditEventId;
use serde::Serialize;

use crate::digest::{Digest, VerifyingKey};
use crate::event::{ChainedEvent, EventRef, Hash, link};
use crate::merkle::{RootBuilder, empty_root};

/// One thing wrong with the log, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum Problem {
    /// The event's fields no longer hash to its recorded hash.
    EventAltered { seq: u64, id: String },
    /// Sequence numbers are missing from the stored log.
    EventsMissing { from_seq: u64, to_seq: u64 },
    /// The event's predecessor is not in the log: one or more events before it were removed.
    PredecessorMissing { seq: u64, id: String },
    /// The event is not on the chain: its successor links past it.
    EventInserted { seq: u64, id: String },
    /// Two events are in each other's places.
    EventsReordered { seq: u64, other_seq: u64 },
    /// Two different events claim the same sequence number.
    EventDuplicated { seq: u64 },
    /// A digest's signature does not verify with any known key: forged or edited.
    DigestForged { number: u64 },
    /// Digest numbers are missing.
    DigestsMissing { from_number: u64, to_number: u64 },
    /// A digest does not name its predecessor's fingerprint.
    DigestChainBroken { number: u64 },
    /// A digest's range does not start where the previous one ended.
    DigestRangeBroken {
        number: u64,
        expected_first_seq: u64,
        first_seq: u64,
    },
    /// The events in a digest's range do not match what it sealed.
    DigestMismatch {
        number: u64,
        first_seq: u64,
        last_seq: u64,
        detail: String,
    },
    /// A shipped object cannot be read.
    ObjectUnreadable { object: String, detail: String },
    /// The database and the bucket hold different events under one sequence number.
    EventDiffers { seq: u64 },
    /// Events shipped to the bucket are not in the database.
    MissingFromDatabase { from_seq: u64, to_seq: u64 },
    /// Events the database says were shipped are not in the bucket.
    MissingFromBucket { from_seq: u64, to_seq: u64 },
    /// Sealing stopped for longer than allowed.
    TimeGap {
        after_number: u64,
        from_micros: i64,
        to_micros: i64,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::EventAltered { seq, id } => write!(
                f,
                "event {seq} ({id}) was altered: its fields no longer match its hash"
            ),
            Problem::EventsMissing { from_seq, to_seq } if from_seq == to_seq => {
                write!(f, "event {from_seq} is missing")
            }
            Problem::EventsMissing { from_seq, to_seq } => {
                write!(f, "events {from_seq} to {to_seq} are missing")
            }
            Problem::PredecessorMissing { seq, id } => write!(
                f,
                "the event(s) before event {seq} ({id}) were removed: it links to an event that is not in the log"
            ),
            Problem::EventInserted { seq, id } => write!(
                f,
                "event {seq} ({id}) was inserted: the next event links past it"
            ),
            Problem::EventsReordered { seq, other_seq } => {
                write!(f, "events {seq} and {other_seq} are out of order")
            }
            Problem::EventDuplicated { seq } => {
                write!(f, "two different events claim sequence number {seq}")
            }
            Problem::DigestForged { number } => write!(
                f,
                "digest {number} is forged or edited: its signature does not verify"
            ),
            Problem::DigestsMissing {
                from_number,
                to_number,
            } if from_number == to_number => write!(f, "digest {from_number} is missing"),
            Problem::DigestsMissing {
                from_number,
                to_number,
            } => write!(f, "digests {from_number} to {to_number} are missing"),
            Problem::DigestChainBroken { number } => {
                write!(f, "digest {number} does not link to the digest before it")
            }
            Problem::DigestRangeBroken {
                number,
                expected_first_seq,
                first_seq,
            } => write!(
                f,
                "digest {number} starts at event {first_seq}, not at {expected_first_seq} where the previous digest ended"
            ),
            Problem::DigestMismatch {
                number,
                first_seq,
                last_seq,
                detail,
            } => write!(
                f,
                "events {first_seq} to {last_seq} do not match digest {number}: {detail}"
            ),
            Problem::ObjectUnreadable { object, detail } => {
                write!(f, "object {object} cannot be read: {detail}")
            }
            Problem::EventDiffers { seq } => {
                write!(f, "event {seq} differs between the database and the bucket")
            }
            Problem::MissingFromDatabase { from_seq, to_seq } => write!(
                f,
                "events {from_seq} to {to_seq} are in the bucket but not in the database"
            ),
            Problem::MissingFromBucket { from_seq, to_seq } => write!(
                f,
                "events {from_seq} to {to_seq} were shipped but are not in the bucket"
            ),
            Problem::TimeGap {
                after_number,
                from_micros,
                to_micros,
            } => write!(
                f,
                "no digest for {} s after digest {after_number} (sealed at {} until {})",
                (to_micros - from_micros) / 1_000_000,
                micros_text(*from_micros),
                micros_text(*to_micros)
            ),
        }
    }
}

fn micros_text(micros: i64) -> String {
    jiff_free_rfc3339(micros)
}

/// RFC 3339 without pulling a time library into the pure verifier: days from the civil calendar
/// algorithm (Howard Hinnant's `civil_from_days`).
fn jiff_free_rfc3339(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The outcome of a verification.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub events: u64,
    pub digests: u64,
    /// Events after the last digest: not sealed yet, so only the chain vouches for them.
    pub unsealed: u64,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// How many recent events are kept for classifying a broken stretch of the chain.
const WINDOW: usize = 1024;
/// Good links in a row after which a broken stretch is considered over.
const SETTLE: u64 = 8;

/// An event as the verifier's in-order checks need it, with the work that does not depend on other
/// events (the leaf hash and the event's own link) already done. Readers build these in parallel,
/// several ranges at a time, and hand them to [`Verifier::push_leaf`] in stored order: the hashing
/// is most of a verification's CPU, the in-order checks a small part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub seq: u64,
    pub id: AuditEventId,
    pub prev: Hash,
    pub hash: Hash,
    /// The leaf hash recomputed from the event's fields.
    pub leaf: Hash,
    /// Whether `SHA-256(prev || leaf)` is the stored `hash`.
    intact: bool,
}

impl Leaf {
    /// Hashes an event's fields as stored.
    pub fn new(seq: u64, event: EventRef<'_>, prev: Hash, hash: Hash) -> Self {
        let leaf = event.leaf_hash();
        Leaf {
            seq,
            id: AuditEventId(uuid::Uuid::from_bytes(*event.id)),
            prev,
            hash,
            leaf,
            intact: link(&prev, &leaf) == hash,
        }
    }

    pub fn of(ev: &ChainedEvent) -> Self {
        Self::new(ev.seq, ev.event.as_ref(), ev.prev, ev.hash)
    }

    /// Whether the event's fields still hash to its recorded hash.
    pub fn intact(&self) -> bool {
        self.intact
    }
}

/// A digest whose range is being checked against the events.
struct Open {
    digest: Digest,
    builder: RootBuilder,
    chain_head: Option<Hash>,
}

/// A recent event, as much of it as classification needs.
#[derive(Clone)]
struct Seen {
    pos: u64,
    seq: u64,
    // Kept as the id, not its text: formatting a string for each of ten million events cost more
    // than the check it serves, and only the few events in a broken stretch are ever named.
    id: AuditEventId,
    prev: Hash,
    hash: Hash,
}

/// A stretch of positions where links are broken, being watched until the chain settles.
struct Region {
    start: u64,
    last_break: u64,
    settled: u64,
}

/// Checks events in stored order against each other and against the signed digests.
pub struct Verifier {
    report: Report,
    /// Digests with good signatures, in range order, not yet closed.
    pending: VecDeque<Digest>,
    open: Option<Open>,
    last: Option<(u64, Hash)>,
    recent: VecDeque<Seen>,
    region: Option<Region>,
    position: u64,
    head_before_range: Hash,
    /// The last sequence number any good digest covers.
    sealed_through: u64,
}

impl Verifier {
    /// Checks the digests at once (signatures, numbering, links, ranges, time gaps) and prepares to
    /// check the events against the good ones. `max_gap_micros` is the longest allowed time between
    /// two digests.
    pub fn new(keys: &[VerifyingKey], mut digests: Vec<Digest>, max_gap_micros: i64) -> Self {
        digests.sort_by_key(|d| d.body.number);
        let mut report = Report {
            digests: digests.len() as u64,
            ..Report::default()
        };
        let mut good: Vec<Digest> = Vec::new();
        let mut prev: Option<&Digest> = None;
        for d in &digests {
            let b = &d.body;
            let signed = keys.iter().any(|k| k.key_id() == b.key_id && k.verify(d));
            if !signed {
                report
                    .problems
                    .push(Problem::DigestForged { number: b.number });
                continue;
            }
            let expected_number = prev.map_or(1, |p| p.body.number + 1);
            if b.number > expected_number {
                report.problems.push(Problem::DigestsMissing {
                    from_number: expected_number,
                    to_number: b.number - 1,
                });
            }
            match prev {
                Some(p) if p.body.number + 1 == b.number && b.previous != p.fingerprint() => {
                    report
                        .problems
                        .push(Problem::DigestChainBroken { number: b.number });
                }
                None if b.number == 1 && b.previous != Hash::GENESIS => {
                    report
                        .problems
                        .push(Problem::DigestChainBroken { number: b.number });
                }
                _ => {}
            }
            let expected_first = prev.map_or(1, |p| p.body.first_seq + p.body.count);
            if b.first_seq != expected_first && (prev.is_some() || b.number == 1) {
                report.problems.push(Problem::DigestRangeBroken {
                    number: b.number,
                    expected_first_seq: expected_first,
                    first_seq: b.first_seq,
                });
            }
            if let Some(p) = prev
                && b.sealed_at_micros - p.body.sealed_at_micros > max_gap_micros
            {
                report.problems.push(Problem::TimeGap {
                    after_number: p.body.number,
                    from_micros: p.body.sealed_at_micros,
                    to_micros: b.sealed_at_micros,
                });
            }
            good.push(d.clone());
            prev = Some(d);
        }
        good.sort_by_key(|d| (d.body.first_seq, d.body.number));
        let sealed_through = good.iter().map(|d| d.body.last_seq()).max().unwrap_or(0);
        Self {
            report,
            pending: good.into(),
            open: None,
            last: None,
            recent: VecDeque::with_capacity(WINDOW),
            region: None,
            position: 0,
            head_before_range: Hash::GENESIS,
            sealed_through,
        }
    }

    /// Checks the next event in stored order.
    pub fn push(&mut self, ev: &ChainedEvent) {
        let leaf = Leaf::of(ev);
        self.push_leaf(&leaf);
    }

    /// Checks the next event in stored order, its hashes already computed.
    pub fn push_leaf(&mut self, ev: &Leaf) {
        self.report.events += 1;
        let pos = self.position;
        self.position += 1;

        match self.last {
            Some((seq, hash)) if ev.seq == seq => {
                if ev.hash != hash {
                    self.report.problems.push(Problem::EventDuplicated { seq });
                }
                return;
            }
            Some((seq, _)) if ev.seq < seq => {
                self.report.problems.push(Problem::EventsReordered {
                    seq: ev.seq,
                    other_seq: seq,
                });
            }
            Some((seq, _)) if ev.seq > seq + 1 => {
                self.report.problems.push(Problem::EventsMissing {
                    from_seq: seq + 1,
                    to_seq: ev.seq - 1,
                });
            }
            _ => {}
        }
        if ev.seq > self.sealed_through {
            self.report.unsealed += 1;
        }

        let leaf = ev.leaf;
        if !ev.intact {
            self.report.problems.push(Problem::EventAltered {
                seq: ev.seq,
                id: ev.id.to_string(),
            });
        }
        let link_ok = match self.last {
            Some((_, h)) => h == ev.prev,
            None if ev.seq == 1 => ev.prev == Hash::GENESIS,
            // Verifying from the middle of the log: the first event's predecessor is not ours to see.
            None => true,
        };
        if link_ok {
            if let Some(r) = &mut self.region {
                r.settled += 1;
                if r.settled >= SETTLE {
                    self.close_region();
                }
            }
        } else {
            // A link to an event a few places back means the ones in between are suspect too.
            let linked_to = self
                .recent
                .iter()
                .rev()
                .find(|s| s.hash == ev.prev)
                .map(|s| s.pos + 1);
            let start = linked_to.unwrap_or(pos).min(pos);
            match &mut self.region {
                Some(r) => {
                    r.start = r.start.min(start);
                    r.last_break = pos;
                    r.settled = 0;
                }
                None => {
                    self.region = Some(Region {
                        start,
                        last_break: pos,
                        settled: 0,
                    });
                }
            }
        }

        self.close_ranges_before(ev.seq);
        if let Some(open) = &mut self.open
            && ev.seq >= open.digest.body.first_seq
        {
            open.builder.push(leaf);
            open.chain_head = Some(ev.hash);
        }
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
            // A stretch longer than the window is classified with what is left of it.
            if self
                .region
                .as_ref()
                .is_some_and(|r| r.start + (WINDOW as u64) / 2 < pos)
            {
                self.close_region();
            }
        }
        self.recent.push_back(Seen {
            pos,
            seq: ev.seq,
            id: ev.id,
            prev: ev.prev,
            hash: ev.hash,
        });
        self.last = Some((ev.seq, ev.hash));
    }

    /// Classifies a broken stretch. The chain's true order is recovered by walking backwards, by
    /// hash, from the first event after the stretch (or the last event, at the end of the log) to
    /// the event before it: events the walk does not pass were inserted; a walk that runs into a
    /// hash nobody has means events were removed; a walk that passes events out of stored order
    /// means they were reordered.
    fn close_region(&mut self) {
        let Some(region) = self.region.take() else {
            return;
        };
        let in_region: Vec<Seen> = self
            .recent
            .iter()
            .filter(|s| s.pos >= region.start && s.pos <= region.last_break)
            .cloned()
            .collect();
        let Some(first) = in_region.first() else {
            return;
        };
        let before = self
            .recent
            .iter()
            .find(|s| s.pos + 1 == first.pos)
            .map(|s| s.hash)
            .or_else(|| (first.pos == 0).then_some(Hash::GENESIS));
        let exit = self.recent.iter().find(|s| s.pos == region.last_break + 1);
        let (mut cur, mut chain): (Hash, Vec<&Seen>) = match exit {
            Some(e) => (e.prev, Vec::new()),
            None => match in_region.last() {
                Some(l) => (l.prev, vec![l]),
                None => return,
            },
        };
        let mut missing_at: Option<&Seen> = None;
        while Some(cur) != before && chain.len() <= in_region.len() {
            match in_region
                .iter()
                .find(|s| s.hash == cur && !chain.iter().any(|c| c.pos == s.pos))
            {
                Some(s) => {
                    chain.push(s);
                    cur = s.prev;
                }
                None => {
                    missing_at = chain.last().copied().or(exit);
                    break;
                }
            }
        }
        chain.reverse();
        if let Some(s) = missing_at {
            let gap_reported = self.report.problems.iter().any(
                |p| matches!(p, Problem::EventsMissing { to_seq, .. } if *to_seq + 1 == s.seq),
            );
            if !gap_reported {
                self.report.problems.push(Problem::PredecessorMissing {
                    seq: s.seq,
                    id: s.id.to_string(),
                });
            }
        }
        for s in in_region
            .iter()
            .filter(|s| !chain.iter().any(|c| c.pos == s.pos))
        {
            // An event not on the chain was put there; that its own hash may not add up is moot.
            self.report
                .problems
                .retain(|p| !matches!(p, Problem::EventAltered { seq, .. } if *seq == s.seq));
            self.report.problems.push(Problem::EventInserted {
                seq: s.seq,
                id: s.id.to_string(),
            });
        }
        let mut sorted: Vec<&Seen> = chain.clone();
        sorted.sort_by_key(|s| s.pos);
        let moved: Vec<u64> = chain
            .iter()
            .zip(&sorted)
            .filter(|(a, b)| a.pos != b.pos)
            .map(|(_, b)| b.seq)
            .collect();
        if let (Some(&lo), Some(&hi)) = (moved.iter().min(), moved.iter().max()) {
            self.report.problems.push(Problem::EventsReordered {
                seq: lo,
                other_seq: hi,
            });
        }
    }

    /// Closes every digest whose range ends before `seq` and opens the one that contains it.
    fn close_ranges_before(&mut self, seq: u64) {
        loop {
            if let Some(open) = &self.open {
                if open.digest.body.last_seq() >= seq {
                    return;
                }
                let open = self.open.take().expect("checked above");
                self.close(open);
                continue;
            }
            match self.pending.front() {
                Some(d) if d.body.first_seq <= seq => {
                    let d = self.pending.pop_front().expect("checked above");
                    self.head_before_range = self.last.map_or(Hash::GENESIS, |(_, h)| h);
                    self.open = Some(Open {
                        digest: d,
                        builder: RootBuilder::new(),
                        chain_head: None,
                    });
                }
                _ => return,
            }
        }
    }

    fn close(&mut self, open: Open) {
        let b = &open.digest.body;
        let mut detail = Vec::new();
        if open.builder.count() != b.count {
            detail.push(format!(
                "{} events sealed, {} found",
                b.count,
                open.builder.count()
            ));
        }
        let root = if b.count == 0 {
            empty_root()
        } else {
            open.builder.root()
        };
        if root != b.root {
            detail.push("the Merkle root differs".to_string());
        }
        let head = open.chain_head.unwrap_or(self.head_before_range);
        if head != b.chain_head {
            detail.push("the chain head differs".to_string());
        }
        if !detail.is_empty() {
            self.report.problems.push(Problem::DigestMismatch {
                number: b.number,
                first_seq: b.first_seq,
                last_seq: b.last_seq(),
                detail: detail.join("; "),
            });
        }
    }

    /// Ends the walk and returns the report.
    pub fn finish(mut self) -> Report {
        self.close_region();
        // Digests whose events never came are closed empty-handed, and so reported.
        self.close_ranges_before(u64::MAX);
        self.report
    }
}
