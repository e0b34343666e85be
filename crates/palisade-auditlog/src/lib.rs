//! The audit log at work, over the [`AuditStore`](palisade_store::AuditStore) and an object store:
//!
//! - [`appender`]: the one way events enter the log. Callers hand events to a writer task, which
//!   appends everything queued in one transaction with one sync (group commit) and then answers each
//!   caller; a state change is acknowledged only once its event is durable.
//! - [`seal`]: the periodic digest over everything appended since the last one, signed.
//! - [`ship`]: writes events and digests as compressed objects to a local folder or an S3 bucket,
//!   laid out by date and client, with names derived from the sequence range so retries overwrite
//!   instead of duplicating; what is not shipped yet stays in the database, the backlog.
//! - [`check`]: verification of the database, of the shipped objects, or both against each other,
//!   and inclusion proofs.
//! - [`keys`]: the signing and redaction keys, from files outside the database.

pub mod appender;
pub mod check;
pub mod keys;
pub mod seal;
pub mod ship;

pub use appender::{AuditLog, AuditLogStats};
pub use keys::AuditKeys;
pub use ship::{Bucket, BucketConfig, Shipper};

/// Something the audit log could not do.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log is unavailable: {0}")]
    Unavailable(String),
    #[error("audit store: {0}")]
    Store(#[from] palisade_store::StoreError),
    #[error("object storage: {0}")]
    Objects(String),
    #[error("refusing to seal: the stored log is broken at event {seq}: {detail}")]
    Broken { seq: u64, detail: String },
    #[error("{0}")]
    Key(String),
    #[error("{path}: {detail}")]
    File { path: String, detail: String },
}

impl From<object_store::Error> for AuditError {
    fn from(e: object_store::Error) -> Self {
        AuditError::Objects(e.to_string())
    }
}
