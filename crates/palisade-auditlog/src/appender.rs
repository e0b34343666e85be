//! Group commit. Every caller's event goes through one channel to one writer task; the writer takes
//! everything queued, appends it in one transaction (one sync to disk) in the order of the events'
//! times, and then answers each caller with its sequence number. While a commit is in flight new events queue up, so batches
//! grow with load on their own: a quiet server commits each event at once, a busy one shares each
//! sync among thousands.
//!
//! Events whose callers do not wait (the record of a read request) linger up to
//! [`DETACHED_LINGER`] for company, since nobody's latency depends on them. The channel is bounded
//! and senders wait for room rather than dropping: the promise is that every request is logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use palisade_audit::redact::Redactor;
use palisade_audit::{Event, VerifyingKey};
use palisade_store::AuditStore;
use tokio::sync::{mpsc, oneshot};

use crate::ship::ShipStats;
use crate::{AuditError, AuditKeys};

/// Events waiting for the writer before senders have to wait.
const QUEUE: usize = 65_536;
/// Most events in one transaction.
pub const MAX_BATCH: usize = 8_192;
/// Longest an event nobody waits for waits for others to share its commit.
pub const DETACHED_LINGER: Duration = Duration::from_millis(100);
/// Largest `data` accepted, in bytes; longer details are replaced by a note saying so, so that a
/// huge request cannot make its own audit event fail.
pub const MAX_DATA_BYTES: usize = 64 * 1024;
/// Longest action, actor, client, object or request id, in bytes.
pub const MAX_FIELD_BYTES: usize = 512;

type Reply = oneshot::Sender<Result<u64, String>>;

enum Msg {
    Event(Event, Option<Reply>),
    Flush(oneshot::Sender<()>),
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct AuditLogStats {
    pub appended: AtomicU64,
    pub commits: AtomicU64,
    pub failures: AtomicU64,
    /// Events nobody waited for that were lost because the database refused their batch.
    pub lost_detached: AtomicU64,
}

/// The handle every part of Palisade records events with. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    redactor: Arc<Redactor>,
    public_key: VerifyingKey,
    stats: Arc<AuditLogStats>,
    shipping: Option<Arc<ShipStats>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Starts the writer task (inside a Tokio runtime).
    pub fn start(store: Arc<dyn AuditStore>, keys: &AuditKeys) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(AuditLogStats::default());
        tokio::spawn(write(store, rx, stats.clone()));
        Self {
            tx,
            redactor: Arc::new(keys.redactor.clone()),
            public_key: keys.signing.verifying_key(),
            stats,
            shipping: None,
        }
    }

    /// Lets `/metrics` and the UI show how shipping is doing.
    pub fn with_shipping(mut self, stats: Arc<ShipStats>) -> Self {
        self.shipping = Some(stats);
        self
    }

    pub fn shipping(&self) -> Option<&ShipStats> {
        self.shipping.as_deref()
    }

    /// The key digests are signed with, for publishing.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.public_key
    }

    /// The key sensitive values are redacted with before they enter an event.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    pub fn stats(&self) -> &AuditLogStats {
        &self.stats
    }

    /// Appends `event` and waits until it is durable; returns its sequence number.
    pub async fn record(&self, event: Event) -> Result<u64, AuditError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Event(bounded(event), Some(reply)))
            .await
            .map_err(|_| AuditError::Unavailable("the audit writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| AuditError::Unavailable("the audit writer has stopped".into()))?
            .map_err(AuditError::Unavailable)
    }

    /// Queues `event` without waiting for it to be durable (waiting only for room in the queue).
    pub async fn record_detached(&self, event: Event) {
        if self
            .tx
            .send(Msg::Event(bounded(event), None))
            .await
            .is_err()
        {
            self.stats.lost_detached.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until everything queued so far has been written (or has failed).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Applies the size limits: a field over the limit is cut (at a character boundary) and marked.
fn bounded(mut e: Event) -> Event {
    fn cut(s: &mut String, max: usize) {
        if s.len() > max {
            let mut end = max - 3;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            s.push_str("...");
        }
    }
    cut(&mut e.action, MAX_FIELD_BYTES);
    for f in [
        &mut e.actor,
        &mut e.client,
        &mut e.object,
        &mut e.request_id,
    ]
    .into_iter()
    .flatten()
    {
        cut(f, MAX_FIELD_BYTES);
    }
    if e.data.len() > MAX_DATA_BYTES {
        e.data = serde_json::json!({
            "truncated": true,
            "original_bytes": e.data.len(),
        })
        .to_string();
    }
    e
}

/// Puts one commit's events in the order of their times (stable, each reply moving with its
/// event). Callers arrive in any order, so the order within a commit carries no meaning; in time
/// order the log's time index is appended to at its end instead of having its last pages split
/// by out-of-order keys, which cost a third more disk writes per event (BENCHMARKS.md, issue 5).
fn in_time_order(events: &mut Vec<Event>, replies: &mut Vec<Option<Reply>>) {
    if events.is_sorted_by_key(|e| e.at_micros) {
        return;
    }
    let mut pairs: Vec<(Event, Option<Reply>)> = events.drain(..).zip(replies.drain(..)).collect();
    pairs.sort_by_key(|(e, _)| e.at_micros);
    for (e, r) in pairs {
        events.push(e);
        replies.push(r);
    }
}

async fn write(store: Arc<dyn AuditStore>, mut rx: mpsc::Receiver<Msg>, stats: Arc<AuditLogStats>) {
    let mut events = Vec::with_capacity(1024);
    let mut replies: Vec<Option<Reply>> = Vec::with_capacity(1024);
    let mut flushes = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut deadline = None;
        loop {
            match next.take() {
                Some(Msg::Event(e, r)) => {
                    events.push(e);
                    replies.push(r);
                }
                Some(Msg::Flush(f)) => flushes.push(f),
                None => {}
            }
            if events.len() >= MAX_BATCH {
                break;
            }
            if let Ok(m) = rx.try_recv() {
                next = Some(m);
                continue;
            }
            // Nothing else queued. Someone waits: commit now. Nobody does: linger a little.
            if !flushes.is_empty() || replies.iter().any(Option::is_some) || events.is_empty() {
                break;
            }
            let until =
                *deadline.get_or_insert_with(|| tokio::time::Instant::now() + DETACHED_LINGER);
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(m)) => next = Some(m),
                _ => break,
            }
        }
        if !events.is_empty() {
            let count = events.len();
            in_time_order(&mut events, &mut replies);
            match store.append_audit(std::mem::take(&mut events)).await {
                Ok(chained) => {
                    stats.appended.fetch_add(count as u64, Ordering::Relaxed);
                    stats.commits.fetch_add(1, Ordering::Relaxed);
                    for (reply, c) in replies.drain(..).zip(&chained) {
                        if let Some(r) = reply {
                            let _ = r.send(Ok(c.seq));
                        }
                    }
                }
                Err(error) => {
                    stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(%error, count, "Could not append audit events.");
                    for reply in replies.drain(..) {
                        match reply {
                            Some(r) => {
                                let _ = r.send(Err(error.to_string()));
                            }
                            None => {
                                stats.lost_detached.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }
        }
        for f in flushes.drain(..) {
            let _ = f.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use palisade_audit::EventKind;

    use super::*;

    /// A commit's events go in time order and each caller still hears about its own event.
    #[test]
    fn a_commit_is_put_in_time_order_with_each_reply_following_its_event() {
        let times = [30, 10, 20, 10];
        let mut events: Vec<Event> = times
            .iter()
            .enumerate()
            .map(|(i, &t)| Event::new(t, EventKind::Request, format!("call {i}")))
            .collect();
        let (senders, mut answers): (Vec<_>, Vec<_>) = times
            .iter()
            .map(|_| {
                let (tx, rx) = oneshot::channel::<Result<u64, String>>();
                (Some(tx), rx)
            })
            .unzip();
        let mut replies = senders;
        in_time_order(&mut events, &mut replies);
        let order: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            order,
            ["call 1", "call 3", "call 2", "call 0"],
            "stable in time"
        );
        // Answer each position with its index: caller i must get the position of "call i".
        for (pos, r) in replies.into_iter().enumerate() {
            let _ = r.expect("reply").send(Ok(pos as u64));
        }
        let got: Vec<u64> = answers
            .iter_mut()
            .map(|a| a.try_recv().expect("answered").expect("ok"))
            .collect();
        assert_eq!(got, [3, 0, 2, 1]);
    }
}
