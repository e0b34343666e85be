//! Audit events, their canonical bytes and the hash chain.
//!
//! The canonical bytes are a length-prefixed binary encoding rather than JSON because JSON has no
//! single spelling of a value (key order, escapes, number forms): a verifier written elsewhere must
//! be able to rebuild exactly the bytes that were hashed. The sequence number is deliberately left out
//! of the bytes: an event's position is proven by the chain, so renumbering rows to hide an insertion
//! or a deletion shows up as a broken link, not as every later event looking edited.

use std::fmt;
use std::str::FromStr;

use palisade_core::ids::AuditEventId;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A SHA-256 value: a leaf, a chain link, a tree node or a digest's fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The chain's starting point: the `prev` of the first event ever appended.
    pub const GENESIS: Hash = Hash([0; 32]);

    pub fn from_slice(bytes: &[u8]) -> Option<Hash> {
        <[u8; 32]>::try_from(bytes).ok().map(Hash)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex(&mut [0; 64]))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl FromStr for Hash {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s.as_bytes())
    }
}

/// The lowercase hex digits, by value.
const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Each byte's value as a hex digit (either case), or 0xFF.
const HEX: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

impl Hash {
    /// The 64 hex digits, written into `buf`. Every event's two hashes are written out when it is
    /// stored and shipped; `hex::encode` built each digit through a char iterator into a new
    /// `String`, 4 % of a busy server's CPU.
    pub fn hex<'b>(&self, buf: &'b mut [u8; 64]) -> &'b str {
        for (pair, b) in buf.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0xF)];
        }
        // Only ASCII digits were written.
        std::str::from_utf8(buf).unwrap_or_default()
    }

    /// From 64 hex digits, given as bytes (as a database row holds them: no UTF-8 check needed).
    pub fn from_hex(s: &[u8]) -> Result<Self, String> {
        // Decoded in place: `hex::decode` collects into a growing `Vec`, and those reallocations
        // were a quarter of the CPU of verifying the database (BENCHMARKS.md, issue 5).
        if s.len() != 64 {
            return Err(format!("a hash has 64 hex digits, not {}", s.len()));
        }
        // By table, two digits a byte: this runs twice per event when a log is verified, and
        // the general decoder's per-digit checks were a measurable part of that.
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            let (hi, lo) = (HEX[usize::from(pair[0])], HEX[usize::from(pair[1])]);
            if (hi | lo) & 0xF0 != 0 {
                return Err("not a hex hash: a character is not a hex digit".into());
            }
            *o = hi << 4 | lo;
        }
        Ok(Hash(out))
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.hex(&mut [0; 64]))
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What kind of thing an event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// One HTTP request, whatever it did.
    Request,
    /// A state change: something was created, changed, archived or decided.
    Change,
    /// Authentication and access: logins, MFA, tokens, lockouts.
    Security,
    /// Palisade's own work: migrations, advisory syncs, seals, key rotations.
    System,
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [
        EventKind::Request,
        EventKind::Change,
        EventKind::Security,
        EventKind::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Request => "request",
            EventKind::Change => "change",
            EventKind::Security => "security",
            EventKind::System => "system",
        }
    }

    /// The byte that stands for the kind in the canonical bytes.
    pub fn code(self) -> u8 {
        match self {
            EventKind::Request => 1,
            EventKind::Change => 2,
            EventKind::Security => 3,
            EventKind::System => 4,
        }
    }
}

impl FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("unknown event kind {s:?}; expected request, change, security or system")
            })
    }
}

/// One audit event before it has a place in the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: AuditEventId,
    /// When it happened, in microseconds since the Unix epoch (UTC). Data, not order: order is the
    /// sequence assigned at commit, so clock skew cannot reorder the log.
    pub at_micros: i64,
    pub kind: EventKind,
    /// What happened, dotted: `client.update`, `http.request`, `login.failure`.
    pub action: String,
    /// Who did it: `user:<id>`, `token:<id>`, `cli`, `system`.
    pub actor: Option<String>,
    /// The client organisation whose data it concerns, if any.
    pub client: Option<String>,
    /// The record it concerns, as `<type>:<id>`.
    pub object: Option<String>,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// Details as a JSON text (before/after, status, reason), sensitive values already redacted.
    pub data: String,
}

const ENCODING_VERSION: u8 = 1;

impl Event {
    /// A new event with a fresh id and empty details; the builder methods fill in the rest.
    pub fn new(at_micros: i64, kind: EventKind, action: impl Into<String>) -> Self {
        Event {
            id: AuditEventId::new(),
            at_micros,
            kind,
            action: action.into(),
            actor: None,
            client: None,
            object: None,
            request_id: None,
            data: "{}".into(),
        }
    }

    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    pub fn client(mut self, client: Option<impl Into<String>>) -> Self {
        self.client = client.map(Into::into);
        self
    }

    pub fn object(mut self, object: impl Into<String>) -> Self {
        self.object = Some(object.into());
        self
    }

    pub fn request(mut self, request_id: Option<impl Into<String>>) -> Self {
        self.request_id = request_id.map(Into::into);
        self
    }

    pub fn data(mut self, data: &serde_json::Value) -> Self {
        self.data = data.to_string();
        self
    }

    /// The bytes that are hashed. Layout: version byte; id (16 bytes); time (i64, big-endian); kind
    /// (1 byte); then action, actor, client, object, request id and data, each as a big-endian u32
    /// length and its UTF-8 bytes, with `0xFFFFFFFF` for an absent value.
    pub fn canonical_bytes(&self, out: &mut Vec<u8>) {
        self.as_ref().canonical_bytes(out);
    }

    /// The RFC 6962 leaf hash: `SHA-256(0x00 || canonical bytes)`.
    pub fn leaf_hash(&self) -> Hash {
        self.as_ref().leaf_hash()
    }

    /// The event's fields borrowed.
    pub fn as_ref(&self) -> EventRef<'_> {
        EventRef {
            id: self.id.0.as_bytes(),
            at_micros: self.at_micros,
            kind: self.kind,
            action: self.action.as_bytes(),
            actor: self.actor.as_deref().map(str::as_bytes),
            client: self.client.as_deref().map(str::as_bytes),
            object: self.object.as_deref().map(str::as_bytes),
            request_id: self.request_id.as_deref().map(str::as_bytes),
            data: self.data.as_bytes(),
        }
    }
}

/// An event's fields borrowed from wherever they are stored, so that a reader can hash a row
/// without first copying it into an [`Event`]: verifying ten million events is mostly this. The
/// text fields are bytes: hashing needs no UTF-8 check, and bytes that are not the UTF-8 once
/// hashed cannot hash the same anyway.
#[derive(Clone, Copy, Debug)]
pub struct EventRef<'a> {
    pub id: &'a [u8; 16],
    pub at_micros: i64,
    pub kind: EventKind,
    pub action: &'a [u8],
    pub actor: Option<&'a [u8]>,
    pub client: Option<&'a [u8]>,
    pub object: Option<&'a [u8]>,
    pub request_id: Option<&'a [u8]>,
    pub data: &'a [u8],
}

impl EventRef<'_> {
    /// Writes the canonical bytes (see [`Event::canonical_bytes`]) to `sink` piece by piece: the
    /// one place their layout is written.
    fn write_canonical(&self, mut sink: impl FnMut(&[u8])) {
        sink(&[ENCODING_VERSION]);
        sink(self.id);
        sink(&self.at_micros.to_be_bytes());
        sink(&[self.kind.code()]);
        for field in [
            Some(self.action),
            self.actor,
            self.client,
            self.object,
            self.request_id,
            Some(self.data),
        ] {
            match field {
                Some(s) => {
                    // Fields are bounded far below 4 GiB by the appender's limits.
                    let len = u32::try_from(s.len()).unwrap_or(u32::MAX - 1);
                    sink(&len.to_be_bytes());
                    sink(&s[..len as usize]);
                }
                None => sink(&u32::MAX.to_be_bytes()),
            }
        }
    }

    /// The canonical bytes (see [`Event::canonical_bytes`]).
    pub fn canonical_bytes(&self, out: &mut Vec<u8>) {
        out.clear();
        self.write_canonical(|b| out.extend_from_slice(b));
    }

    /// The RFC 6962 leaf hash: `SHA-256(0x00 || canonical bytes)`. The bytes are assembled in a
    /// buffer kept per thread and hashed in one call: feeding the hash piece by piece measured
    /// 10–15 % slower (its per-call buffering outweighs the copy).
    pub fn leaf_hash(&self) -> Hash {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(1024));
        }
        SCRATCH.with_borrow_mut(|buf| {
            buf.clear();
            buf.push(0);
            self.write_canonical(|b| buf.extend_from_slice(b));
            Hash(Sha256::digest(&buf[..]).into())
        })
    }
}

/// The chain link of an event: `SHA-256(prev || leaf)`.
pub fn link(prev: &Hash, leaf: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(prev.0);
    h.update(leaf.0);
    Hash(h.finalize().into())
}

/// An event with its place in the log: its sequence number and the hashes that bind it to its
/// predecessor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainedEvent {
    pub seq: u64,
    #[serde(flatten)]
    pub event: Event,
    /// The previous event's `hash` ([`Hash::GENESIS`] for the first).
    pub prev: Hash,
    /// `SHA-256(prev || leaf)`.
    pub hash: Hash,
}

/// Gives `events` their places after `head` (the last event's sequence number and hash, or `(0,
/// GENESIS)` for an empty log).
pub fn chain(head: (u64, Hash), events: Vec<Event>) -> Vec<ChainedEvent> {
    let (mut seq, mut prev) = head;
    events
        .into_iter()
        .map(|event| {
            seq += 1;
            let hash = link(&prev, &event.leaf_hash());
            let chained = ChainedEvent {
                seq,
                event,
                prev,
                hash,
            };
            prev = hash;
            chained
        })
        .collect()
}

#[cfg(test)]
pub(crate) fn sample(i: u64) -> Event {
    Event {
        id: AuditEventId(uuid::Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0000 + i as u128,
        )),
        at_micros: 1_700_000_000_000_000 + i as i64,
        kind: if i.is_multiple_of(3) {
            EventKind::Request
        } else {
            EventKind::Change
        },
        action: format!("thing.update.{i}"),
        actor: Some("user:0190".into()),
        client: i.is_multiple_of(2).then(|| "client-a".to_string()),
        object: Some(format!("site:{i}")),
        request_id: None,
        data: format!("{{\"n\":{i}}}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaf hash of a fixed event, computed outside this code (a few lines of Python following
    /// the layout documented on `canonical_bytes`): logs written by any earlier build must still
    /// verify, so the bytes may never change by accident.
    #[test]
    fn the_leaf_hash_matches_an_independent_computation_of_the_documented_layout() {
        let e = Event {
            id: AuditEventId(uuid::Uuid::from_bytes(std::array::from_fn(|i| i as u8 + 1))),
            at_micros: 1_700_000_000_000_000,
            kind: EventKind::Change,
            action: "ticket.reply".into(),
            actor: Some("user:ann".into()),
            client: Some("client:é".into()),
            object: None,
            request_id: Some("req-1".into()),
            data: r#"{"n":1}"#.into(),
        };
        assert_eq!(
            e.leaf_hash().to_string(),
            "91349fa2625ffee638f30e7642a2164cc18c20198b2eff7937d6cce9e8321abf"
        );
        let mut bytes = Vec::new();
        e.canonical_bytes(&mut bytes);
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(&bytes);
        assert_eq!(Hash(h.finalize().into()), e.leaf_hash());
    }

    #[test]
    fn hashes_read_back_from_hex_in_either_case_and_refuse_anything_else() {
        let h = Hash(std::array::from_fn(|i| (i * 37) as u8));
        let text = h.to_string();
        assert_eq!(text.parse::<Hash>(), Ok(h));
        assert_eq!(text.to_uppercase().parse::<Hash>(), Ok(h));
        for bad in [
            &text[1..],
            "g".repeat(64).as_str(),
            &format!("{}x", &text[..63]),
        ] {
            assert!(bad.parse::<Hash>().is_err(), "{bad}");
        }
        assert!(format!("{}é", &text[..62]).parse::<Hash>().is_err());
    }

    #[test]
    fn absent_and_empty_values_hash_differently() {
        let mut a = sample(1);
        let mut b = sample(1);
        a.actor = None;
        b.actor = Some(String::new());
        assert_ne!(a.leaf_hash(), b.leaf_hash());
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_hash() {
        let mut a = sample(1);
        let mut b = sample(1);
        a.action = "ab".into();
        a.object = Some("c".into());
        b.action = "a".into();
        b.object = Some("bc".into());
        assert_ne!(a.leaf_hash(), b.leaf_hash());
    }

    #[test]
    fn chain_links_each_event_to_its_predecessor() {
        let chained = chain((0, Hash::GENESIS), (1..=3).map(sample).collect());
        assert_eq!(chained[0].prev, Hash::GENESIS);
        assert_eq!(chained[1].prev, chained[0].hash);
        assert_eq!(chained.iter().map(|c| c.seq).collect::<Vec<_>>(), [1, 2, 3]);
        let more = chain((3, chained[2].hash), vec![sample(4)]);
        assert_eq!(more[0].seq, 4);
        assert_eq!(more[0].prev, chained[2].hash);
    }

    #[test]
    fn hashes_round_trip_through_text() {
        let h = chain((0, Hash::GENESIS), vec![sample(1)])[0].hash;
        assert_eq!(h.to_string().parse::<Hash>().unwrap(), h);
        assert!("abc".parse::<Hash>().is_err());
        assert!(h.to_string()[..62].parse::<Hash>().is_err());
        assert!(format!("{h}00").parse::<Hash>().is_err());
        assert!(
            format!("{}zz", &h.to_string()[..62])
                .parse::<Hash>()
                .is_err()
        );
    }
}
