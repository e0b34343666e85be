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
        f.write_str(&hex::encode(self.0))
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
        // Decoded in place: `hex::decode` collects into a growing `Vec`, and those reallocations
        // were a quarter of the CPU of verifying the database (BENCHMARKS.md, issue 5).
        if s.len() != 64 {
            return Err(format!("a hash has 64 hex digits, not {}", s.len()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|e| format!("not a hex hash: {e}"))?;
        Ok(Hash(out))
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
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
    pub fn leaf_hash(&self, scratch: &mut Vec<u8>) -> Hash {
        self.as_ref().leaf_hash(scratch)
    }

    /// The event's fields borrowed.
    pub fn as_ref(&self) -> EventRef<'_> {
        EventRef {
            id: self.id.0.as_bytes(),
            at_micros: self.at_micros,
            kind: self.kind,
            action: &self.action,
            actor: self.actor.as_deref(),
            client: self.client.as_deref(),
            object: self.object.as_deref(),
            request_id: self.request_id.as_deref(),
            data: &self.data,
        }
    }
}

/// An event's fields borrowed from wherever they are stored, so that a reader can hash a row
/// without first copying it into an [`Event`]: verifying ten million events is mostly this.
#[derive(Clone, Copy, Debug)]
pub struct EventRef<'a> {
    pub id: &'a [u8; 16],
    pub at_micros: i64,
    pub kind: EventKind,
    pub action: &'a str,
    pub actor: Option<&'a str>,
    pub client: Option<&'a str>,
    pub object: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub data: &'a str,
}

impl EventRef<'_> {
    /// The canonical bytes (see [`Event::canonical_bytes`]); the one place they are written.
    pub fn canonical_bytes(&self, out: &mut Vec<u8>) {
        out.clear();
        out.push(ENCODING_VERSION);
        out.extend_from_slice(self.id);
        out.extend_from_slice(&self.at_micros.to_be_bytes());
        out.push(self.kind.code());
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
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(&s.as_bytes()[..len as usize]);
                }
                None => out.extend_from_slice(&u32::MAX.to_be_bytes()),
            }
        }
    }

    /// The RFC 6962 leaf hash: `SHA-256(0x00 || canonical bytes)`.
    pub fn leaf_hash(&self, scratch: &mut Vec<u8>) -> Hash {
        self.canonical_bytes(scratch);
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(&scratch[..]);
        Hash(h.finalize().into())
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
    let mut scratch = Vec::with_capacity(512);
    events
        .into_iter()
        .map(|event| {
            seq += 1;
            let hash = link(&prev, &event.leaf_hash(&mut scratch));
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

    #[test]
    fn absent_and_empty_values_hash_differently() {
        let mut a = sample(1);
        let mut b = sample(1);
        a.actor = None;
        b.actor = Some(String::new());
        let mut s = Vec::new();
        assert_ne!(a.leaf_hash(&mut s), b.leaf_hash(&mut s));
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_hash() {
        let mut a = sample(1);
        let mut b = sample(1);
        a.action = "ab".into();
        a.object = Some("c".into());
        b.action = "a".into();
        b.object = Some("bc".into());
        let mut s = Vec::new();
        assert_ne!(a.leaf_hash(&mut s), b.leaf_hash(&mut s));
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
