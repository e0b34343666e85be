//! Shipping to object storage. Events go out in chunks soon after they are appended (the lag is a
//! metric, and the goal is under a minute); digests follow once the events they cover are out.
//!
//! Layout, under the bucket's prefix:
//! - `events/YYYY/MM/DD/<client id or "provider">/<first seq>-<last seq>.jsonl.gz`: one object per
//!   client per chunk, so one client's logs can be handed over by copying its folders; each line is
//!   one event with its sequence number and hashes;
//! - `digests/YYYY/MM/DD/<number>.json`: the signed digests.
//!
//! Delivery is at least once: a chunk's range is recorded in the database before its objects are
//! written, so a retry after a crash or an outage writes the same names again instead of a second
//! copy. Whatever is not shipped yet stays in the database: that is the backlog, drained in order
//! when the bucket answers again.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use futures_util::StreamExt as _;
use object_store::ObjectStore;
use object_store::path::Path as ObjPath;
use palisade_audit::{ChainedEvent, Digest};
use palisade_store::{AuditStore, ShippingState};

use crate::AuditError;
use crate::seal::PAGE;

/// Most events in one chunk.
pub const CHUNK: u64 = 50_000;
/// Objects written at once: enough to hide a round trip to the bucket, few enough not to
/// flood it.
pub const PUTS_AT_ONCE: usize = 8;

/// Where shipped objects go. `Debug` leaves the secret out.
#[derive(Clone, PartialEq, Eq)]
pub enum BucketConfig {
    /// A folder on local disk (the default: `audit-objects` in the data folder).
    Local(PathBuf),
    /// An S3-compatible bucket.
    S3 {
        bucket: String,
        prefix: String,
        /// The service's URL for S3-compatible servers (MinIO, Garage); AWS when absent.
        endpoint: Option<String>,
        region: String,
        access_key_id: String,
        secret_access_key: String,
    },
}

impl std::fmt::Debug for BucketConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BucketConfig::Local(dir) => f.debug_tuple("Local").field(dir).finish(),
            BucketConfig::S3 {
                bucket,
                prefix,
                endpoint,
                region,
                access_key_id,
                ..
            } => f
                .debug_struct("S3")
                .field("bucket", bucket)
                .field("prefix", prefix)
                .field("endpoint", endpoint)
                .field("region", region)
                .field("access_key_id", access_key_id)
                .finish_non_exhaustive(),
        }
    }
}

/// An opened object store with the prefix objects go under.
#[derive(Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl std::fmt::Debug for Bucket {
    // The store's own Debug may show its client configuration, credentials included.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket")
            .field("store", &self.store.to_string())
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Bucket {
    pub fn open(config: &BucketConfig) -> Result<Self, AuditError> {
        match config {
            BucketConfig::Local(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| AuditError::File {
                    path: dir.display().to_string(),
                    detail: e.to_string(),
                })?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)?;
                Ok(Self {
                    store: Arc::new(fs),
                    prefix: String::new(),
                })
            }
            BucketConfig::S3 {
                bucket,
                prefix,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
            } => {
                let mut b = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key);
                if let Some(url) = endpoint {
                    // Plain HTTP is allowed only to a server on this machine: credentials and logs
                    // never cross a network unencrypted.
                    let loopback = url::Url::parse(url)
                        .ok()
                        .and_then(|u| u.host_str().map(str::to_owned))
                        .is_some_and(|h| {
                            h == "localhost"
                                || h.parse::<std::net::IpAddr>()
                                    .is_ok_and(|ip| ip.is_loopback())
                                || h == "[::1]"
                        });
                    b = b
                        .with_endpoint(url)
                        .with_virtual_hosted_style_request(false)
                        .with_allow_http(loopback);
                }
                Ok(Self {
                    store: Arc::new(b.build()?),
                    prefix: prefix.trim_matches('/').to_owned(),
                })
            }
        }
    }

    fn path(&self, rest: &str) -> ObjPath {
        if self.prefix.is_empty() {
            ObjPath::from(rest)
        } else {
            ObjPath::from(format!("{}/{rest}", self.prefix))
        }
    }

    async fn put(&self, rest: &str, bytes: Vec<u8>) -> Result<(), AuditError> {
        self.store
            .put(&self.path(rest), bytes::Bytes::from(bytes).into())
            .await?;
        Ok(())
    }

    /// Every object name under `folder` (`events` or `digests`), relative to the prefix.
    pub async fn list(&self, folder: &str) -> Result<Vec<String>, AuditError> {
        use futures_util::TryStreamExt as _;
        let base = self.path(folder);
        let metas: Vec<_> = self.store.list(Some(&base)).try_collect().await?;
        let strip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let mut names: Vec<String> = metas
            .into_iter()
            .map(|m| m.location.as_ref()[strip..].to_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    pub async fn get(&self, rest: &str) -> Result<Vec<u8>, AuditError> {
        Ok(self
            .store
            .get(&self.path(rest))
            .await?
            .bytes()
            .await?
            .to_vec())
    }

    /// Deletes one object (tests use this to play an attacker).
    pub async fn delete(&self, rest: &str) -> Result<(), AuditError> {
        self.store.delete(&self.path(rest)).await?;
        Ok(())
    }

    /// Replaces one object's content (tests use this to play an attacker).
    pub async fn overwrite(&self, rest: &str, bytes: Vec<u8>) -> Result<(), AuditError> {
        self.put(rest, bytes).await
    }
}

fn date_folder(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros)
        .map(|t| t.strftime("%Y/%m/%d").to_string())
        .unwrap_or_else(|_| "0000/00/00".into())
}

/// The object name of one client's part of a chunk.
pub fn events_object(first_at: i64, client: Option<&str>, first: u64, last: u64) -> String {
    // Client ids are UUIDs; anything else is made safe for a path rather than trusted.
    let folder: String = client
        .unwrap_or("provider")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "events/{}/{folder}/{first:020}-{last:020}.jsonl.gz",
        date_folder(first_at)
    )
}

pub fn digest_object(d: &Digest) -> String {
    format!(
        "digests/{}/{:020}.json",
        date_folder(d.body.sealed_at_micros),
        d.body.number
    )
}

pub fn gzip_lines(events: &[&ChainedEvent]) -> Vec<u8> {
    // serde_json writes a key or a quote at a time, and each write into the encoder clears its
    // 32 KiB output buffer: unbuffered, that memset was a fifth of a busy server's CPU. The fast
    // level: every request is an event, and the default level's search was a tenth of the CPU of
    // a server under load for objects a tenth smaller (measured on shipped events: 863 against
    // 953 KB for 6.7 MB of lines).
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, gz);
    for e in events {
        // Serialising plain data to memory cannot fail.
        let _ = serde_json::to_writer(&mut out, e);
        let _ = out.write_all(b"\n");
    }
    out.into_inner()
        .ok()
        .and_then(|gz| gz.finish().ok())
        .unwrap_or_default()
}

/// The events of one shipped object, with the line of any that cannot be read.
pub fn read_lines(name: &str, bytes: &[u8]) -> Result<Vec<ChainedEvent>, String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| format!("{name}: not a gzip text: {e}"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{name}, line {}: {e}", i + 1)))
        .collect()
}

/// Shipping's progress, for `/metrics` and the UI.
#[derive(Debug, Default)]
pub struct ShipStats {
    /// Seconds since the oldest event not yet in the bucket was appended (0 when caught up).
    pub lag_seconds: AtomicI64,
    /// Events in the database not yet in the bucket.
    pub backlog_events: AtomicU64,
    pub objects_written: AtomicU64,
    pub failures: AtomicU64,
}

/// Ships events and digests from the store to a bucket.
#[derive(Clone, Debug)]
pub struct Shipper {
    pub bucket: Bucket,
    pub stats: Arc<ShipStats>,
}

impl Shipper {
    pub fn new(bucket: Bucket) -> Self {
        Self {
            bucket,
            stats: Arc::default(),
        }
    }

    /// Ships what the database holds when the call starts (events up to the head read then, and
    /// the digests they complete); returns how many events went out. Events appended meanwhile wait
    /// for the next call: chasing the head instead kept one call going for as long as the load
    /// lasted and wrote an object per client for every few events (BENCHMARKS.md, issue 5).
    pub async fn ship(&self, store: &dyn AuditStore, now_micros: i64) -> Result<u64, AuditError> {
        let result = self.ship_inner(store).await;
        if result.is_err() {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.update_lag(store, now_micros).await;
        result
    }

    async fn ship_inner(&self, store: &dyn AuditStore) -> Result<u64, AuditError> {
        let (target, _) = store.audit_head().await?;
        let mut shipped = 0;
        loop {
            let mut state = store.shipping_state().await?;
            if state.planned_seq <= state.shipped_seq {
                if target <= state.shipped_seq {
                    break;
                }
                let planned = ShippingState {
                    planned_seq: target.min(state.shipped_seq + CHUNK),
                    ..state
                };
                store.set_shipping_state(state, planned).await?;
                state = planned;
            }
            // A chunk planned before a crash or an outage is finished as planned, even if it ends
            // past `target`, so that a retry writes the same object names.
            shipped += self
                .ship_chunk(store, state.shipped_seq + 1, state.planned_seq)
                .await?;
            let done = ShippingState {
                shipped_seq: state.planned_seq,
                ..state
            };
            store.set_shipping_state(state, done).await?;
        }
        // Digests go out once the events they cover are out, so a digest in the bucket always has
        // its events there too.
        loop {
            let state = store.shipping_state().await?;
            let digests = store.digests_from(state.shipped_digest + 1, 100).await?;
            let ready: Vec<&Digest> = digests
                .iter()
                .take_while(|d| d.body.last_seq() <= state.shipped_seq)
                .collect();
            let Some(last) = ready.last() else { break };
            for d in &ready {
                let json = serde_json::to_vec_pretty(d).unwrap_or_default();
                self.bucket.put(&digest_object(d), json).await?;
                self.stats.objects_written.fetch_add(1, Ordering::Relaxed);
            }
            let done = ShippingState {
                shipped_digest: last.body.number,
                ..state
            };
            store.set_shipping_state(state, done).await?;
        }
        Ok(shipped)
    }

    async fn ship_chunk(
        &self,
        store: &dyn AuditStore,
        first: u64,
        last: u64,
    ) -> Result<u64, AuditError> {
        let mut events = Vec::with_capacity((last + 1 - first) as usize);
        let mut next = first;
        while next <= last {
            let page = store.audit_events_from(next, PAGE).await?;
            let Some(end) = page.last().map(|e| e.seq) else {
                break;
            };
            events.extend(page.into_iter().filter(|e| e.seq <= last));
            next = end + 1;
        }
        let count = events.len() as u64;
        let Some(first_at) = events.first().map(|e| e.event.at_micros) else {
            return Ok(0);
        };
        // JSON and gzip of a chunk take a second or two of CPU: on a blocking thread, not on one
        // of the runtime's workers, which serve requests meanwhile.
        let objects = tokio::task::spawn_blocking(move || {
            let mut by_client: BTreeMap<Option<&str>, Vec<&ChainedEvent>> = BTreeMap::new();
            for e in &events {
                by_client
                    .entry(e.event.client.as_deref())
                    .or_default()
                    .push(e);
            }
            by_client
                .into_iter()
                .map(|(client, part)| {
                    (
                        events_object(first_at, client, first, last),
                        gzip_lines(&part),
                    )
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| AuditError::Unavailable(format!("compressing a chunk failed: {e}")))?;
        // A few PUTs at a time: one client's object after another waited a round trip each.
        let mut puts = futures_util::stream::iter(objects)
            .map(|(name, bytes)| async move { self.bucket.put(&name, bytes).await })
            .buffer_unordered(PUTS_AT_ONCE);
        while let Some(put) = puts.next().await {
            put?;
            self.stats.objects_written.fetch_add(1, Ordering::Relaxed);
        }
        Ok(count)
    }

    async fn update_lag(&self, store: &dyn AuditStore, now_micros: i64) {
        let Ok(state) = store.shipping_state().await else {
            return;
        };
        let Ok((head, _)) = store.audit_head().await else {
            return;
        };
        self.stats
            .backlog_events
            .store(head.saturating_sub(state.shipped_seq), Ordering::Relaxed);
        let lag = match store.audit_events_from(state.shipped_seq + 1, 1).await {
            Ok(v) => v
                .first()
                .map_or(0, |e| (now_micros - e.event.at_micros).max(0) / 1_000_000),
            Err(_) => return,
        };
        self.stats.lag_seconds.store(lag, Ordering::Relaxed);
    }
}
