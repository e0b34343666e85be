//! Sealing: a digest over every event appended since the previous digest. The sealer re-checks the
//! chain of the events it seals (each event's hash, each link) and refuses to sign a broken log, so
//! a signature never vouches for tampering that happened before it.

use palisade_audit::event::link;
use palisade_audit::merkle::{RootBuilder, empty_root};
use palisade_audit::{Digest, DigestBody, Hash, SigningKey};
use palisade_store::{AuditStore, StoreError};

use crate::AuditError;

/// Events read per query while sealing or shipping.
pub const PAGE: u32 = 10_000;

/// Seals everything appended since the last digest (possibly nothing: an empty interval still gets
/// its digest). Returns `None` when another sealer stored the same digest number first.
pub async fn seal_once(
    store: &dyn AuditStore,
    key: &SigningKey,
    now_micros: i64,
) -> Result<Option<Digest>, AuditError> {
    let last = store.last_digest().await?;
    let (number, first_seq, previous, mut chain_head) = match &last {
        Some(d) => (
            d.body.number + 1,
            d.body.first_seq + d.body.count,
            d.fingerprint(),
            d.body.chain_head,
        ),
        None => (1, 1, Hash::GENESIS, Hash::GENESIS),
    };
    let (head_seq, _) = store.audit_head().await?;
    let mut builder = RootBuilder::new();
    let mut next = first_seq;
    while next <= head_seq {
        let page = store.audit_events_from(next, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for e in page.iter().take_while(|e| e.seq <= head_seq) {
            if e.seq != next {
                return Err(AuditError::Broken {
                    seq: next,
                    detail: format!("the next stored event is {}", e.seq),
                });
            }
            let leaf = e.event.leaf_hash();
            if e.prev != chain_head || link(&e.prev, &leaf) != e.hash {
                return Err(AuditError::Broken {
                    seq: e.seq,
                    detail: "its hash or its link to the previous event does not match".into(),
                });
            }
            builder.push(leaf);
            chain_head = e.hash;
            next += 1;
        }
    }
    if next <= head_seq {
        return Err(AuditError::Broken {
            seq: next,
            detail: "the event is missing".into(),
        });
    }
    let count = builder.count();
    let body = DigestBody {
        number,
        first_seq,
        count,
        root: if count == 0 {
            empty_root()
        } else {
            builder.root()
        },
        chain_head,
        previous,
        sealed_at_micros: now_micros,
        key_id: key.verifying_key().key_id(),
    };
    let digest = key.sign(body);
    match store.insert_digest(&digest).await {
        Ok(()) => {
            tracing::info!(number, first_seq, count, "Sealed the audit log.");
            Ok(Some(digest))
        }
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
