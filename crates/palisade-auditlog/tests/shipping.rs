//! Shipping to a real S3 API (s3s-fs on loopback): objects arrive; an outage builds a backlog that
//! drains after the server returns; nothing is lost or duplicated in the verified result.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use palisade_audit::SigningKey;
use palisade_audit::{ChainedEvent, Digest, Event, Hash, Leaf};
use palisade_auditlog::check::{compare, load_bucket, verify_shipped};
use palisade_auditlog::seal::seal_once;
use palisade_auditlog::ship::{Bucket, Shipper};
use palisade_core::AuditEventId;
use palisade_store::{AuditQuery, AuditStore, ShippingState, StoreResult};

#[tokio::test]
async fn shipping_survives_an_outage_of_the_bucket_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut s3) = S3Server::start(&dir.path().join("s3")) else {
        return;
    };
    let key = SigningKey::generate();
    let (store, _) = sqlite(dir.path()).await;
    let bucket = Bucket::open(&s3.config()).expect("bucket");
    let shipper = Shipper::new(bucket.clone());

    fill(&store, &key, 2, 30).await;
    let shipped = shipper.ship(&store, T0 + 10 * MINUTE).await.expect("ship");
    assert_eq!(shipped, 60);
    assert_eq!(shipper.stats.backlog_events.load(Ordering::Relaxed), 0);
    let names = bucket.list("events").await.unwrap();
    assert!(
        names
            .iter()
            .any(|n| n.contains("/0190c6f1-0000-7000-8000-00000000000a/")),
        "laid out by client: {names:?}"
    );
    assert_eq!(bucket.list("digests").await.unwrap().len(), 2);

    // Outage: the server goes away while events keep coming and get sealed.
    s3.down();
    let at = T0 + 10 * MINUTE;
    store
        .append_audit((100..140).map(|i| event(i, at)).collect())
        .await
        .unwrap();
    seal_once(&store, &key, at + 5 * MINUTE).await.unwrap();
    store
        .append_audit((140..150).map(|i| event(i, at + 6 * MINUTE)).collect())
        .await
        .unwrap();
    let failed = shipper.ship(&store, at + 7 * MINUTE).await;
    assert!(failed.is_err(), "shipping to a stopped server fails");
    assert_eq!(
        shipper.stats.backlog_events.load(Ordering::Relaxed),
        50,
        "the backlog is visible"
    );
    assert_eq!(
        shipper.stats.lag_seconds.load(Ordering::Relaxed),
        7 * 60,
        "and so is the lag"
    );

    // Back again: the backlog drains, in order, and retried chunks overwrite rather than add.
    s3.up();
    let drained = shipper.ship(&store, at + 8 * MINUTE).await.expect("drain");
    assert_eq!(drained, 50);
    assert_eq!(shipper.stats.backlog_events.load(Ordering::Relaxed), 0);
    assert_eq!(shipper.stats.lag_seconds.load(Ordering::Relaxed), 0);
    seal_once(&store, &key, at + 10 * MINUTE).await.unwrap();
    shipper
        .ship(&store, at + 10 * MINUTE)
        .await
        .expect("ship the last digest");

    let loaded = load_bucket(&bucket, &|_| {}).await.expect("load");
    assert_eq!(loaded.events.len(), 110, "every event once");
    assert_eq!(loaded.digests.len(), 4);
    let report = verify_shipped(&loaded, &[key.verifying_key()], 15 * MINUTE);
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.unsealed, 0);
    assert_eq!(compare(&store, &loaded).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_chunk_planned_before_a_crash_is_written_again_under_the_same_names() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate();
    let (store, _) = sqlite(dir.path()).await;
    fill(&store, &key, 1, 10).await;
    // A shipper that crashed after planning the chunk (the plan is in the database) ...
    let state = store.shipping_state().await.unwrap();
    let planned = palisade_store::ShippingState {
        planned_seq: 10,
        ..state
    };
    store.set_shipping_state(state, planned).await.unwrap();
    // ... while more events arrived.
    store
        .append_audit((10..20).map(|i| event(i, T0 + MINUTE)).collect())
        .await
        .unwrap();
    let bucket = Bucket::open(&palisade_auditlog::BucketConfig::Local(
        dir.path().join("objects"),
    ))
    .unwrap();
    Shipper::new(bucket.clone())
        .ship(&store, T0 + 2 * MINUTE)
        .await
        .unwrap();
    let names = bucket.list("events").await.unwrap();
    assert!(
        names.iter().all(
            |n| n.ends_with("00000000000000000001-00000000000000000010.jsonl.gz")
                || n.ends_with("00000000000000000011-00000000000000000020.jsonl.gz")
        ),
        "{names:?}"
    );
}

/// A store under steady load: every change of the shipping state lets `per` more events in, as
/// requests keep arriving while a shipper works.
struct UnderLoad {
    inner: palisade_store_sql::SqlStore,
    per: u64,
    next: std::sync::atomic::AtomicU64,
}

#[async_trait::async_trait]
impl AuditStore for UnderLoad {
    async fn append_audit(&self, events: Vec<Event>) -> StoreResult<Vec<ChainedEvent>> {
        self.inner.append_audit(events).await
    }
    async fn audit_head(&self) -> StoreResult<(u64, Hash)> {
        self.inner.audit_head().await
    }
    async fn audit_events_from(&self, from_seq: u64, limit: u32) -> StoreResult<Vec<ChainedEvent>> {
        self.inner.audit_events_from(from_seq, limit).await
    }
    async fn audit_leaves_from(&self, from_seq: u64, limit: u32) -> StoreResult<Vec<Leaf>> {
        self.inner.audit_leaves_from(from_seq, limit).await
    }
    async fn audit_event(&self, id: AuditEventId) -> StoreResult<ChainedEvent> {
        self.inner.audit_event(id).await
    }
    async fn search_audit(&self, q: &AuditQuery) -> StoreResult<Vec<ChainedEvent>> {
        self.inner.search_audit(q).await
    }
    async fn last_digest(&self) -> StoreResult<Option<Digest>> {
        self.inner.last_digest().await
    }
    async fn insert_digest(&self, digest: &Digest) -> StoreResult<()> {
        self.inner.insert_digest(digest).await
    }
    async fn digests_from(&self, from_number: u64, limit: u32) -> StoreResult<Vec<Digest>> {
        self.inner.digests_from(from_number, limit).await
    }
    async fn digest_covering(&self, seq: u64) -> StoreResult<Option<Digest>> {
        self.inner.digest_covering(seq).await
    }
    async fn shipping_state(&self) -> StoreResult<ShippingState> {
        self.inner.shipping_state().await
    }
    async fn set_shipping_state(
        &self,
        expected: ShippingState,
        new: ShippingState,
    ) -> StoreResult<()> {
        let from = self.next.fetch_add(self.per, Ordering::Relaxed);
        // Bounded, so that a shipper chasing the head still ends and the test can say by how much.
        if from < 1_000 {
            self.inner
                .append_audit(
                    (from..from + self.per)
                        .map(|i| event(i, T0 + MINUTE))
                        .collect(),
                )
                .await?;
        }
        self.inner.set_shipping_state(expected, new).await
    }
}

#[tokio::test]
async fn a_ship_call_ships_up_to_the_head_it_found_and_no_further() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate();
    let (inner, _) = sqlite(dir.path()).await;
    fill(&inner, &key, 1, 40).await;
    let store = UnderLoad {
        inner,
        per: 10,
        next: 100.into(),
    };
    let bucket = Bucket::open(&palisade_auditlog::BucketConfig::Local(
        dir.path().join("objects"),
    ))
    .unwrap();
    let shipper = Shipper::new(bucket.clone());

    let shipped = shipper.ship(&store, T0 + 2 * MINUTE).await.unwrap();
    assert_eq!(shipped, 40, "only what was there when the call started");
    let state = store.shipping_state().await.unwrap();
    assert_eq!(state.shipped_seq, 40);
    assert_eq!(state.planned_seq, 40);
    assert_eq!(state.shipped_digest, 1);
    let (head, _) = store.audit_head().await.unwrap();
    assert!(head > 40, "events kept arriving during the call");
    // One object per client for the call's one chunk, and the digest.
    let names = bucket.list("events").await.unwrap();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.ends_with("00000000000000000001-00000000000000000040.jsonl.gz")),
        "{names:?}"
    );
    assert_eq!(
        shipper.stats.backlog_events.load(Ordering::Relaxed),
        head - 40,
        "what arrived meanwhile is the backlog"
    );

    // What arrived meanwhile goes with the next call, again up to the head it finds.
    let (before, _) = store.audit_head().await.unwrap();
    let more = shipper.ship(&store, T0 + 3 * MINUTE).await.unwrap();
    assert_eq!(more, before - 40);
    assert_eq!(store.shipping_state().await.unwrap().shipped_seq, before);
}
