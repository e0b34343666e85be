//! The audit log's rules, free of I/O so that `palisade audit verify` and any third party's verifier
//! can share them with the server that writes the log.
//!
//! - [`event`]: what an audit event is, its canonical bytes and the hash chain that links each event
//!   to its predecessor;
//! - [`merkle`]: RFC 6962 tree hashes over a range of events, and inclusion proofs for one event;
//! - [`digest`]: the periodic seal, a record naming a range of events, their Merkle root, the chain
//!   head and the previous digest, signed with Ed25519;
//! - [`redact`]: keyed HMAC of sensitive values, so they never enter the log in clear but can still
//!   be compared;
//! - [`verify`]: walks events and digests in order and reports every problem with its location.

pub mod digest;
pub mod event;
pub mod merkle;
pub mod redact;
pub mod verify;

pub use digest::{Digest, DigestBody, SigningKey, VerifyingKey};
pub use event::{ChainedEvent, Event, EventKind, EventRef, Hash};
pub use verify::{Leaf, Problem, Report, Verifier};
