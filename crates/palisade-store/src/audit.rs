//! The audit part of the storage interface: appending events to the hash chain (many at once, so
//! one commit serves many callers), reading them back in order for sealing, shipping and
//! verification, the signed digests, search, and where shipping has got to. What the hashes and
//! digests mean lives in `palisade-audit`; this trait only keeps them.

use async_trait::async_trait;
use palisade_audit::{ChainedEvent, Digest, Event, EventKind, Hash, Leaf};
use palisade_core::AuditEventId;

use crate::StoreResult;

/// Which events a search returns, newest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditQuery {
    pub actor: Option<String>,
    /// Only events concerning this client (client users always search with their own).
    pub client: Option<String>,
    pub object: Option<String>,
    /// An action or its beginning (`POST /api/v1/clients` finds every client creation and update).
    pub action: Option<String>,
    pub kind: Option<EventKind>,
    /// Microseconds since the epoch, inclusive.
    pub from_micros: Option<i64>,
    /// Microseconds since the epoch, exclusive.
    pub to_micros: Option<i64>,
    /// Only events with a smaller sequence number (the cursor of the previous page).
    pub before_seq: Option<u64>,
    pub limit: u32,
}

/// How far shipping to object storage has got. Chunks are planned before they are written so that
/// a retry after a crash or an outage writes the same objects under the same names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShippingState {
    /// Every event up to here is in the bucket.
    pub shipped_seq: u64,
    /// The chunk being written ends here (equal to `shipped_seq` when none is in flight).
    pub planned_seq: u64,
    /// Every digest up to this number is in the bucket.
    pub shipped_digest: u64,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `events` after the current head in one transaction, committed durably (the disk is
    /// synced before this returns), and returns them with their places in the chain.
    async fn append_audit(&self, events: Vec<Event>) -> StoreResult<Vec<ChainedEvent>>;

    /// The last event's sequence number and hash, `(0, GENESIS)` for an empty log.
    async fn audit_head(&self) -> StoreResult<(u64, Hash)>;

    /// Up to `limit` events with `seq >= from_seq`, in sequence order.
    async fn audit_events_from(&self, from_seq: u64, limit: u32) -> StoreResult<Vec<ChainedEvent>>;

    /// What verification needs of the same events as `audit_events_from`: each one's place, id and
    /// stored hashes, with its leaf hash recomputed from its stored fields. Hashed where the rows
    /// are read, without building an `Event` of each, so that a verifier can have several ranges
    /// read and hashed at once and keep only the in-order checks to itself.
    async fn audit_leaves_from(&self, from_seq: u64, limit: u32) -> StoreResult<Vec<Leaf>>;

    async fn audit_event(&self, id: AuditEventId) -> StoreResult<ChainedEvent>;

    async fn search_audit(&self, q: &AuditQuery) -> StoreResult<Vec<ChainedEvent>>;

    async fn last_digest(&self) -> StoreResult<Option<Digest>>;

    /// Stores a digest; `StoreError::Conflict` if its number is taken (another sealer won).
    async fn insert_digest(&self, digest: &Digest) -> StoreResult<()>;

    /// Up to `limit` digests with `number >= from_number`, in order.
    async fn digests_from(&self, from_number: u64, limit: u32) -> StoreResult<Vec<Digest>>;

    /// The digest whose range holds `seq`.
    async fn digest_covering(&self, seq: u64) -> StoreResult<Option<Digest>>;

    async fn shipping_state(&self) -> StoreResult<ShippingState>;

    /// Replaces the shipping state if it still is `expected`; `StoreError::Conflict` otherwise.
    async fn set_shipping_state(
        &self,
        expected: ShippingState,
        new: ShippingState,
    ) -> StoreResult<()>;
}
