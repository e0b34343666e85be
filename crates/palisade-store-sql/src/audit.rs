//! The audit log in SQL. Appends read the chain head and write the events and the new head in one
//! transaction, so concurrent appenders (the server and a CLI command on the same database) queue
//! on the head instead of forking the chain: SQLite's write lock does that, PostgreSQL's row lock on
//! `audit_head` (`FOR UPDATE`) does it there. The commit of an append is synced to disk even though
//! the rest of the store commits with `synchronous = NORMAL`: an acknowledged audit event must
//! survive the machine, not only the process. Many events share that one sync (group commit).

use async_trait::async_trait;
use palisade_audit::event::chain;
use palisade_audit::{ChainedEvent, Digest, DigestBody, Event, EventKind, EventRef, Hash, Leaf};
use palisade_core::AuditEventId;
use palisade_store::{AuditQuery, AuditStore, ShippingState, StoreError, StoreResult};

use crate::reader::{Arg, Stmt, args, numbered, sqlite_err};
use crate::rows::{parse, row};
use crate::store::multi_row_insert;
use crate::{Backend, SqlStore, db_err, on_pool};

const EVENT_COLS: &str =
    "seq, id, at, kind, action, actor, client_id, object, request_id, data, prev, hash";
const DIGEST_COLS: &str =
    "number, first_seq, count, root, chain_head, previous, sealed_at, key_id, signature";
/// Rows per multi-row insert on the sqlx path (12 parameters each, far below both drivers' limits).
const INSERT_CHUNK: usize = 500;

row!(AuditRow {
    seq: i64,
    id: String,
    at: i64,
    kind: String,
    action: String,
    actor: Option<String>,
    client_id: Option<String>,
    object: Option<String>,
    request_id: Option<String>,
    data: String,
    prev: String,
    hash: String,
});

row!(DigestRow {
    number: i64,
    first_seq: i64,
    count: i64,
    root: String,
    chain_head: String,
    previous: String,
    sealed_at: i64,
    key_id: String,
    signature: String,
});

row!(HeadRow {
    seq: i64,
    hash: String
});

row!(MaxSeqRow { seq: i64 });

row!(ShippingRow {
    shipped_seq: i64,
    planned_seq: i64,
    shipped_digest: i64,
});

fn seq_of(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} is negative")))
}

fn to_i64(v: u64) -> i64 {
    // Sequence numbers and digest numbers start at 1 and grow by one; i64 is ample.
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl TryFrom<AuditRow> for ChainedEvent {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(ChainedEvent {
            seq: seq_of(r.seq, "audit sequence number")?,
            event: Event {
                id: parse("audit event id", &r.id)?,
                at_micros: r.at,
                kind: parse::<EventKind>("audit event kind", &r.kind)?,
                action: r.action,
                actor: r.actor,
                client: r.client_id,
                object: r.object,
                request_id: r.request_id,
                data: r.data,
            },
            prev: parse("audit prev hash", &r.prev)?,
            hash: parse("audit hash", &r.hash)?,
        })
    }
}

impl TryFrom<DigestRow> for Digest {
    type Error = StoreError;
    fn try_from(r: DigestRow) -> Result<Self, StoreError> {
        Ok(Digest {
            body: DigestBody {
                number: seq_of(r.number, "digest number")?,
                first_seq: seq_of(r.first_seq, "digest first_seq")?,
                count: seq_of(r.count, "digest count")?,
                root: parse("digest root", &r.root)?,
                chain_head: parse("digest chain head", &r.chain_head)?,
                previous: parse("digest previous", &r.previous)?,
                sealed_at_micros: r.sealed_at,
                key_id: r.key_id,
            },
            signature: r.signature,
        })
    }
}

fn event_args(c: &ChainedEvent) -> Vec<Arg> {
    let e = &c.event;
    args![
        to_i64(c.seq),
        e.id.to_string(),
        e.at_micros,
        e.kind.as_str(),
        e.action.as_str(),
        e.actor.as_deref(),
        e.client.as_deref(),
        e.object.as_deref(),
        e.request_id.as_deref(),
        e.data.as_str(),
        c.prev.to_string(),
        c.hash.to_string()
    ]
}

/// One row through a prepared rusqlite statement, bound by reference rather than copied into owned
/// arguments: this is the path every audited request waits on.
fn insert_one(
    stmt: &mut rusqlite::CachedStatement<'_>,
    c: &ChainedEvent,
) -> Result<(), StoreError> {
    let e = &c.event;
    stmt.execute(rusqlite::params![
        to_i64(c.seq),
        e.id.to_string(),
        e.at_micros,
        e.kind.as_str(),
        e.action,
        e.actor,
        e.client,
        e.object,
        e.request_id,
        e.data,
        c.prev.to_string(),
        c.hash.to_string()
    ])
    .map_err(sqlite_err)?;
    Ok(())
}

/// The leaves of up to `limit` events from `from_seq`, read straight from SQLite's row buffers:
/// no `String` per column, hashes decoded in place. Verifying ten million events is mostly this.
fn sqlite_leaves(
    conn: &rusqlite::Connection,
    from_seq: u64,
    limit: u32,
) -> Result<Vec<Leaf>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {EVENT_COLS} FROM audit_events WHERE seq >= ?1 ORDER BY seq LIMIT ?2"
        ))
        .map_err(sqlite_err)?;
    let mut rows = stmt
        .query(rusqlite::params![to_i64(from_seq), i64::from(limit)])
        .map_err(sqlite_err)?;
    let mut out = Vec::with_capacity(limit.min(100_000) as usize);
    while let Some(r) = rows.next().map_err(sqlite_err)? {
        let seq: i64 = r.get(0).map_err(sqlite_err)?;
        // Names the event and the column, so a damaged row can be found.
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("audit event {seq}, {what}: {e}"))
        };
        // Text read as bytes, in place: the hash covers the bytes, so a UTF-8 check would only
        // cost time (a changed byte fails the hash either way).
        let text = |i: usize| -> Result<&[u8], StoreError> {
            r.get_ref(i)
                .and_then(|v| v.as_bytes().map_err(Into::into))
                .map_err(|e| corrupt(EVENT_COL_NAMES[i], &e))
        };
        let opt = |i: usize| -> Result<Option<&[u8]>, StoreError> {
            r.get_ref(i)
                .and_then(|v| v.as_bytes_or_null().map_err(Into::into))
                .map_err(|e| corrupt(EVENT_COL_NAMES[i], &e))
        };
        let id = uuid::Uuid::try_parse_ascii(text(1)?).map_err(|e| corrupt("id", &e))?;
        let kind = std::str::from_utf8(text(3)?)
            .map_err(|e| corrupt("kind", &e))
            .and_then(|k| k.parse::<EventKind>().map_err(|e| corrupt("kind", &e)))?;
        let event = EventRef {
            id: id.as_bytes(),
            at_micros: r.get(2).map_err(sqlite_err)?,
            kind,
            action: text(4)?,
            actor: opt(5)?,
            client: opt(6)?,
            object: opt(7)?,
            request_id: opt(8)?,
            data: text(9)?,
        };
        let prev = Hash::from_hex(text(10)?).map_err(|e| corrupt("prev", &e))?;
        let hash = Hash::from_hex(text(11)?).map_err(|e| corrupt("hash", &e))?;
        out.push(Leaf::new(
            seq_of(seq, "audit sequence number")?,
            event,
            prev,
            hash,
        ));
    }
    Ok(out)
}

/// The columns of [`EVENT_COLS`], to name the one that cannot be read.
const EVENT_COL_NAMES: [&str; 12] = [
    "seq",
    "id",
    "at",
    "kind",
    "action",
    "actor",
    "client_id",
    "object",
    "request_id",
    "data",
    "prev",
    "hash",
];

fn head_of(r: HeadRow) -> Result<(u64, Hash), StoreError> {
    Ok((
        seq_of(r.seq, "audit head")?,
        parse("audit head hash", &r.hash)?,
    ))
}

fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> StoreResult<Vec<T>> {
    rows.into_iter().map(T::try_from).collect()
}

/// `LIKE` pattern matching `prefix` literally.
fn like_prefix(prefix: &str) -> String {
    let mut p = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Sequence numbers per bucket of the search indexes; `seq / 1024` is written out in the SQL, as
/// it must match the indexes' expression (migration 0006) exactly.
const SEARCH_BUCKET: i64 = 1024;

/// Most buckets one search query looks in.
const MAX_SPAN: i64 = 1024;

/// The search's SQL and arguments: newest first, at most `limit` rows. With a `(column, value, hi,
/// lo)` term, only buckets `hi` down to `lo` of that column's bucketed index, each looked up.
fn search_sql(
    q: &AuditQuery,
    term: Option<(&str, &str, i64, i64)>,
    limit: usize,
) -> (String, Vec<Arg>) {
    let mut conds: Vec<String> = Vec::new();
    let mut a: Vec<Arg> = Vec::new();
    if let Some((_, _, hi, lo)) = term {
        // The bucket numbers written out: an `IN` list of constants is what both planners turn
        // into one index lookup per bucket. SQLite scanned instead when they came from a
        // subquery, and with `ORDER BY … LIMIT` it prefers walking the whole table backwards
        // to a range of buckets. They are integers computed here, never caller input.
        let buckets: Vec<String> = (lo..=hi).rev().map(|b| b.to_string()).collect();
        conds.push(format!("seq / 1024 IN ({})", buckets.join(", ")));
    }
    let mut add = |cond: &str, arg: Arg| {
        a.push(arg);
        conds.push(cond.replace('?', &format!("${}", a.len())));
    };
    if let Some((col, value, _, _)) = term {
        // The leading value again, first, so its column is the one the planner seeks on.
        add(&format!("{col} = ?"), value.into());
    }
    if let Some(v) = &q.actor {
        add("actor = ?", v.as_str().into());
    }
    if let Some(v) = &q.client {
        add("client_id = ?", v.as_str().into());
    }
    if let Some(v) = &q.object {
        add("object = ?", v.as_str().into());
    }
    if let Some(v) = &q.action {
        add("action LIKE ? ESCAPE '\\'", like_prefix(v).into());
    }
    if let Some(k) = q.kind {
        add("kind = ?", k.as_str().into());
    }
    if let Some(t) = q.from_micros {
        add("at >= ?", t.into());
    }
    if let Some(t) = q.to_micros {
        add("at < ?", t.into());
    }
    if let Some(s) = q.before_seq {
        add("seq < ?", to_i64(s).into());
    }
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    a.push(i64::try_from(limit).unwrap_or(1000).into());
    let sql = format!(
        "SELECT {EVENT_COLS} FROM audit_events {filter} ORDER BY seq DESC LIMIT ${}",
        a.len()
    );
    (sql, a)
}

impl SqlStore {
    /// Appends through the rusqlite writer: one immediate transaction, synced.
    fn append_sqlite(
        conn: &mut rusqlite::Connection,
        events: Vec<Event>,
    ) -> Result<Vec<ChainedEvent>, StoreError> {
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sqlite_err)?;
        let result = (|| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(sqlite_err)?;
            let head = tx
                .query_row("SELECT seq, hash FROM audit_head WHERE one = 1", [], |r| {
                    Ok(HeadRow {
                        seq: r.get(0)?,
                        hash: r.get(1)?,
                    })
                })
                .map_err(sqlite_err)?;
            let chained = chain(head_of(head)?, events);
            {
                let mut insert = tx
                    .prepare_cached(&numbered(&multi_row_insert(
                        "audit_events",
                        EVENT_COLS,
                        12,
                        1,
                    )))
                    .map_err(sqlite_err)?;
                for c in &chained {
                    insert_one(&mut insert, c)?;
                }
            }
            if let Some(last) = chained.last() {
                tx.execute(
                    "UPDATE audit_head SET seq = ?1, hash = ?2 WHERE one = 1",
                    rusqlite::params![to_i64(last.seq), last.hash.to_string()],
                )
                .map_err(sqlite_err)?;
            }
            tx.commit().map_err(sqlite_err)?;
            Ok(chained)
        })();
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite_err)?;
        result
    }

    /// The same as a bare insert of already chained rows, without reading or moving the head: the
    /// reference the append benchmark compares chaining against.
    pub async fn insert_audit_rows_unchained(&self, rows: Vec<ChainedEvent>) -> StoreResult<()> {
        if let Some(direct) = &self.reader {
            return direct
                .with_writer(move |conn| {
                    conn.pragma_update(None, "synchronous", "FULL")
                        .map_err(sqlite_err)?;
                    let tx = conn
                        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                        .map_err(sqlite_err)?;
                    {
                        let mut insert = tx
                            .prepare_cached(&numbered(&multi_row_insert(
                                "audit_events",
                                EVENT_COLS,
                                12,
                                1,
                            )))
                            .map_err(sqlite_err)?;
                        for c in &rows {
                            insert_one(&mut insert, c)?;
                        }
                    }
                    tx.commit().map_err(sqlite_err)?;
                    conn.pragma_update(None, "synchronous", "NORMAL")
                        .map_err(sqlite_err)
                })
                .await;
        }
        let statements = rows
            .chunks(INSERT_CHUNK)
            .map(|chunk| {
                Stmt::new(
                    multi_row_insert("audit_events", EVENT_COLS, 12, chunk.len()),
                    chunk.iter().flat_map(event_args).collect(),
                )
            })
            .collect();
        self.write_tx(statements).await
    }
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, events: Vec<Event>) -> StoreResult<Vec<ChainedEvent>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(direct) = &self.reader {
            return direct
                .with_writer(move |conn| Self::append_sqlite(conn, events))
                .await;
        }
        let lock = match self.backend {
            Backend::Postgres(_) => "SELECT seq, hash FROM audit_head WHERE one = 1 FOR UPDATE",
            Backend::Sqlite(_) => "SELECT seq, hash FROM audit_head WHERE one = 1",
        };
        on_pool!(self, p => async {
            let mut tx = p.begin().await.map_err(db_err)?;
            let head: HeadRow = sqlx::query_as(lock).fetch_one(&mut *tx).await.map_err(db_err)?;
            let chained = chain(head_of(head)?, events);
            for chunk in chained.chunks(INSERT_CHUNK) {
                let sql = multi_row_insert("audit_events", EVENT_COLS, 12, chunk.len());
                let mut q = sqlx::query(&sql);
                for a in chunk.iter().flat_map(event_args) {
                    q = match a {
                        Arg::Text(v) => q.bind(v),
                        Arg::Int(v) => q.bind(v),
                        Arg::Bool(b) => q.bind(b),
                        Arg::Bytes(v) => q.bind(v),
                    };
                }
                q.execute(&mut *tx).await.map_err(db_err)?;
            }
            if let Some(last) = chained.last() {
                sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE one = 1")
                    .bind(to_i64(last.seq))
                    .bind(last.hash.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            tx.commit().await.map_err(db_err)?;
            Ok(chained)
        }.await)
    }

    async fn audit_head(&self) -> StoreResult<(u64, Hash)> {
        let r: HeadRow = self
            .read_one("SELECT seq, hash FROM audit_head WHERE one = 1", args![])
            .await?;
        head_of(r)
    }

    async fn audit_events_from(&self, from_seq: u64, limit: u32) -> StoreResult<Vec<ChainedEvent>> {
        let rows: Vec<AuditRow> = self
            .read_all(
                &format!(
                    "SELECT {EVENT_COLS} FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2"
                ),
                args![to_i64(from_seq), i64::from(limit)],
            )
            .await?;
        convert(rows)
    }

    async fn audit_leaves_from(&self, from_seq: u64, limit: u32) -> StoreResult<Vec<Leaf>> {
        if let Some(direct) = &self.reader {
            return direct
                .with_conn(move |conn| sqlite_leaves(conn, from_seq, limit))
                .await;
        }
        let events = self.audit_events_from(from_seq, limit).await?;
        // Hashing a page is CPU work: off the runtime's worker threads.
        tokio::task::spawn_blocking(move || events.iter().map(Leaf::of).collect())
            .await
            .map_err(|e| StoreError::Backend(format!("hashing task failed: {e}")))
    }

    async fn audit_event(&self, id: AuditEventId) -> StoreResult<ChainedEvent> {
        let r: AuditRow = self
            .read_one(
                &format!("SELECT {EVENT_COLS} FROM audit_events WHERE id = $1"),
                args![id.to_string()],
            )
            .await?;
        r.try_into()
    }

    async fn search_audit(&self, q: &AuditQuery) -> StoreResult<Vec<ChainedEvent>> {
        let limit = q.limit.clamp(1, 1000) as usize;
        // The most selective of the values kept in a bucketed index (migration 0006) leads the
        // search; the others are checked on the rows it finds.
        let term = [
            ("object", &q.object),
            ("actor", &q.actor),
            ("client_id", &q.client),
        ]
        .into_iter()
        .find_map(|(col, v)| v.as_deref().map(|v| (col, v)));
        let Some((term_col, term)) = term else {
            let (sql, a) = search_sql(q, None, limit);
            let rows: Vec<AuditRow> = self.read_all(&sql, a).await?;
            return convert(rows);
        };
        let top = match q.before_seq {
            Some(s) => to_i64(s) - 1,
            None => {
                let r: MaxSeqRow = self
                    .read_one(
                        "SELECT COALESCE(MAX(seq), 0) AS seq FROM audit_events",
                        args![],
                    )
                    .await?;
                r.seq
            }
        };
        if top < 1 {
            return Ok(Vec::new());
        }
        // Newest buckets first, in spans eight times wider each round: a frequent value fills the
        // page from the first few buckets, a rare one is looked up in every bucket in a handful
        // of queries.
        let mut out = Vec::new();
        let mut hi = top / SEARCH_BUCKET;
        let mut span = 8;
        while out.len() < limit && hi >= 0 {
            let lo = (hi - span + 1).max(0);
            // At most MAX_SPAN buckets a query, to keep the statement's text small.
            span = (span * 8).min(MAX_SPAN);
            let (sql, a) = search_sql(q, Some((term_col, term, hi, lo)), limit - out.len());
            let rows: Vec<AuditRow> = self.read_all(&sql, a).await?;
            out.extend(convert::<_, ChainedEvent>(rows)?);
            hi = lo - 1;
        }
        Ok(out)
    }

    async fn last_digest(&self) -> StoreResult<Option<Digest>> {
        let r: Option<DigestRow> = self
            .read_opt(
                &format!("SELECT {DIGEST_COLS} FROM audit_digests ORDER BY number DESC LIMIT 1"),
                args![],
            )
            .await?;
        r.map(Digest::try_from).transpose()
    }

    async fn insert_digest(&self, d: &Digest) -> StoreResult<()> {
        let b = &d.body;
        self.write_tx(vec![Stmt::new(
            multi_row_insert("audit_digests", DIGEST_COLS, 9, 1),
            args![
                to_i64(b.number),
                to_i64(b.first_seq),
                to_i64(b.count),
                b.root.to_string(),
                b.chain_head.to_string(),
                b.previous.to_string(),
                b.sealed_at_micros,
                b.key_id.as_str(),
                d.signature.as_str()
            ],
        )])
        .await
    }

    async fn digests_from(&self, from_number: u64, limit: u32) -> StoreResult<Vec<Digest>> {
        let rows: Vec<DigestRow> = self
            .read_all(
                &format!("SELECT {DIGEST_COLS} FROM audit_digests WHERE number >= $1 ORDER BY number LIMIT $2"),
                args![to_i64(from_number), i64::from(limit)],
            )
            .await?;
        convert(rows)
    }

    async fn digest_covering(&self, seq: u64) -> StoreResult<Option<Digest>> {
        let r: Option<DigestRow> = self
            .read_opt(
                &format!(
                    "SELECT {DIGEST_COLS} FROM audit_digests WHERE first_seq <= $1 AND first_seq + count > $1 \
                     ORDER BY number LIMIT 1"
                ),
                args![to_i64(seq)],
            )
            .await?;
        r.map(Digest::try_from).transpose()
    }

    async fn shipping_state(&self) -> StoreResult<ShippingState> {
        let r: ShippingRow = self
            .read_one(
                "SELECT shipped_seq, planned_seq, shipped_digest FROM audit_shipping WHERE one = 1",
                args![],
            )
            .await?;
        Ok(ShippingState {
            shipped_seq: seq_of(r.shipped_seq, "shipped_seq")?,
            planned_seq: seq_of(r.planned_seq, "planned_seq")?,
            shipped_digest: seq_of(r.shipped_digest, "shipped_digest")?,
        })
    }

    async fn set_shipping_state(
        &self,
        expected: ShippingState,
        new: ShippingState,
    ) -> StoreResult<()> {
        self.write_tx(vec![
            Stmt::new(
                "UPDATE audit_shipping SET shipped_seq = $1, planned_seq = $2, shipped_digest = $3 \
                 WHERE one = 1 AND shipped_seq = $4 AND planned_seq = $5 AND shipped_digest = $6",
                args![
                    to_i64(new.shipped_seq),
                    to_i64(new.planned_seq),
                    to_i64(new.shipped_digest),
                    to_i64(expected.shipped_seq),
                    to_i64(expected.planned_seq),
                    to_i64(expected.shipped_digest)
                ],
            )
            .or_fail(StoreError::Conflict("the shipping state moved on".into())),
        ])
        .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefixes_match_literally() {
        assert_eq!(super::like_prefix("client_x."), "client\\_x.%");
    }
}
