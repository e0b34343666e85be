//! The SQLite read path (and bulk writes). sqlx's SQLite driver runs each connection on its own worker thread and
//! hands every command and row across threads; measured here, a 50-row page costs it 220–560 µs
//! against 38 µs through rusqlite on the same file (`examples/list_latency.rs`). Reads therefore go
//! through a small pool of rusqlite connections on Tokio's blocking threads, while writes and
//! migrations stay on sqlx. Both drivers link the same SQLite library and, in WAL mode, a read
//! connection sees every committed write. The SQL text is the same for both drivers and for
//! PostgreSQL: only the execution differs. Bulk writes (request records, inventory snapshots,
//! finding batches) use one read-write rusqlite connection for the same reason; SQLite's own write
//! lock orders them with sqlx's writes.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use palisade_core::FieldError;
use palisade_store::StoreError;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{ErrorCode, OpenFlags, ToSql, ffi};

/// Most idle read connections kept open.
const MAX_IDLE: usize = 8;

/// A bound query argument, typed so that PostgreSQL gets the right parameter type even for NULL.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    Bytes(Option<Vec<u8>>),
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_owned()))
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_owned))
    }
}

impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Self {
        Arg::Text(v.clone())
    }
}

impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl From<Option<Vec<u8>>> for Arg {
    fn from(v: Option<Vec<u8>>) -> Self {
        Arg::Bytes(v)
    }
}

impl ToSql for Arg {
    // Borrowed: SQLite copies the bytes it is given anyway, and a copy made here first was
    // another allocation per argument, freed on the writer's thread (most of the 17 million
    // arguments of a first full match are text).
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Arg::Text(Some(s)) => ValueRef::Text(s.as_bytes()),
            Arg::Int(Some(i)) => ValueRef::Integer(*i),
            Arg::Bool(b) => ValueRef::Integer(i64::from(*b)),
            Arg::Bytes(Some(b)) => ValueRef::Blob(b),
            Arg::Text(None) | Arg::Int(None) | Arg::Bytes(None) => ValueRef::Null,
        }))
    }
}

/// `args![a, b]`: a list of [`Arg`]s from values of the supported types.
macro_rules! args {
    ($($e:expr),* $(,)?) => { vec![$($crate::reader::Arg::from($e)),*] };
}
pub(crate) use args;

/// Whether the `$N` placeholders of `sql` first appear in the order 1, 2, 3…, each later use
/// repeating an earlier one. SQLite numbers `$N` by first appearance and PostgreSQL by N, so any
/// other order would bind the same arguments differently on the two backends.
/// The statement with `$N` placeholders written `?N`. SQLite takes `$N` for a *named* parameter
/// and resolves each by a linear search of the names seen so far, so preparing a multi-row insert
/// of P parameters cost O(P²) string compares — a third of the CPU of writing a batch of findings
/// (BENCHMARKS.md, fleet profiles); `?N` is looked up by number. The SQL texts hold no `$` other
/// than placeholders (no JSON paths), which `placeholders_in_order` keeps checkable.
pub(crate) fn numbered(sql: &str) -> Cow<'_, str> {
    // Texts numbered in advance (`number_in_advance`) are passed through as they are.
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    for (i, c) in sql.char_indices() {
        if c == '$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Numbers the placeholders of `statements` for SQLite before they reach the writer, so that a
/// batch prepared on another thread spares the writer, which a first full match waits on, from
/// rewriting 9,500 placeholders per statement. Statements of one size share their text, so each
/// run of equal texts is rewritten once.
pub(crate) fn number_in_advance(statements: &mut [Stmt]) {
    let mut last: Option<(String, String)> = None;
    for s in statements {
        let to = match &last {
            Some((from, to)) if *from == s.sql => to.clone(),
            _ => numbered(&s.sql).into_owned(),
        };
        let from = std::mem::replace(&mut s.sql, to.clone());
        last = Some((from, to));
    }
}

pub(crate) fn placeholders_in_order(sql: &str) -> bool {
    let mut highest = 0u32;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let Ok(n) = rest[..digits].parse::<u32>() else {
            continue;
        };
        if n > highest + 1 {
            return false;
        }
        highest = highest.max(n);
    }
    true
}

/// A row type that can be read from a rusqlite row (generated by `row!`).
pub(crate) trait FromSqliteRow: Sized {
    fn from_sqlite_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

/// A pool of read-only rusqlite connections to one database file.
#[derive(Debug)]
pub(crate) struct Reader {
    path: String,
    idle: Mutex<Vec<rusqlite::Connection>>,
    /// Reads running at once. More than the machine's cores only adds threads contending for them.
    running: tokio::sync::Semaphore,
    /// The connection bulk appends use, opened on first use.
    writer: Mutex<Option<rusqlite::Connection>>,
    /// Wakes the checkpointer after a write; started with the writer.
    checkpointer: Mutex<Option<Checkpointer>>,
    /// Connections that only read `PRAGMA data_version`, each opened on first use.
    watchers: [Mutex<Option<rusqlite::Connection>>; WATCHERS],
}

/// Connections `data_version` reads through: requests on different threads take different ones
/// instead of queueing for one (measured: one connection behind a mutex cost a tenth of a busy
/// server's CPU in context switches).
const WATCHERS: usize = 4;

/// WAL pages after which the writer checkpoints on its own commit path: a backstop, far above
/// what the checkpointer lets the log grow to. Under a steady stream of commits a background
/// checkpoint always ends a commit or two behind the log's end, and the log starts over from its
/// beginning only after a checkpoint that reached the end; this one does, copying only the few
/// pages the checkpointer had not yet. At 8,192 pages (32 MB) every batch of a first full match
/// (10,000 findings) went past it in one commit, so the writer copied the whole batch into the
/// database itself while the checkpointer's core sat idle: a quarter of the writer's time. At
/// 256 MB the match took 71–80 s instead of 94 s (BENCHMARKS.md, fleet).
const WRITER_AUTOCHECKPOINT: u32 = 65_536;

/// The shortest time between two background checkpoints. The log grows by at most this much
/// writing in between, and a store being closed still checkpoints what was left. Each checkpoint
/// takes a core for a while, and a write that runs meanwhile is slower: at 100 ms, one new
/// advisory in eight shared its time with one, which made the slowest twentieth of them about
/// 2 ms slower (p95 19.9–20.4 ms against 18.0–18.8 ms at 1 s; inventory intake the same at both,
/// BENCHMARKS.md, fleet).
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// A thread of its own that checkpoints the WAL into the database file after writes. With SQLite's
/// default, the connection whose commit takes the WAL past 1,000 pages runs the checkpoint itself,
/// before its caller hears back; an audit commit of a few hundred events did so almost every time,
/// a quarter of the append's CPU and a second sync of the disk on every commit (BENCHMARKS.md,
/// issue 5). Here commits only signal; the checkpoint (PASSIVE: it never blocks the writer or a
/// reader) runs beside the next commits. Durability is unchanged: each commit still syncs the WAL.
#[derive(Debug)]
struct Checkpointer {
    wake: std::sync::mpsc::SyncSender<()>,
    /// Set when the store closes: the pause between checkpoints ends early.
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &str) -> rusqlite::Result<Self> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Room for one more signal while a checkpoint runs; more would be the same checkpoint.
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    // A checkpoint that cannot run now (another holds the lock) is retried at the
                    // next signal; nothing is lost by skipping it.
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::debug!(error = %e, "background checkpoint skipped");
                    }
                    // Commits meanwhile wait for the next checkpoint: a page rewritten by many
                    // of them (an index's hot leaves, the audit chain's head) is copied once,
                    // not once per commit. Checkpointing after every commit of an upload stream
                    // was a tenth of inventory intake's CPU.
                    let until = std::time::Instant::now() + CHECKPOINT_INTERVAL;
                    while !stopping.load(std::sync::atomic::Ordering::Acquire) {
                        let now = std::time::Instant::now();
                        if now >= until {
                            break;
                        }
                        std::thread::park_timeout(until - now);
                    }
                }
            })
            .map_err(|e| {
                rusqlite::Error::SqliteFailure(
                    ffi::Error::new(ffi::SQLITE_CANTOPEN),
                    Some(format!("cannot start the checkpoint thread: {e}")),
                )
            })?;
        Ok(Self {
            wake,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // Ends the checkpointer and waits for it, so that its connection is closed once the store
        // is: whoever copies the database file next finds it whole.
        let cp = self
            .checkpointer
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(Checkpointer { wake, stop, thread }) = cp {
            // A signal already sent is still checkpointed: the thread ends at the empty channel.
            drop(wake);
            stop.store(true, std::sync::atomic::Ordering::Release);
            if let Some(t) = thread {
                t.thread().unpark();
                let _ = t.join();
            }
        }
    }
}

impl Reader {
    pub(crate) fn new(path: String) -> Arc<Self> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Arc::new(Self {
            path,
            idle: Mutex::new(Vec::new()),
            running: tokio::sync::Semaphore::new(cores.clamp(2, MAX_IDLE)),
            writer: Mutex::new(None),
            checkpointer: Mutex::new(None),
            watchers: Default::default(),
        })
    }

    /// SQLite's `data_version` as seen from connections that never write: it changes with every
    /// commit of any other connection, in this process (the sqlx pool, the writer) or another
    /// (`palisade admin …` beside a running server). A connection's values are only comparable
    /// with its own, so the result also names the connection (low bits): two results are equal
    /// only if they came from the same one and nothing was committed in between. `None` if it
    /// cannot be read.
    pub(crate) fn data_version(&self) -> Option<u64> {
        let free = self
            .watchers
            .iter()
            .enumerate()
            .find_map(|(i, w)| Some((i, w.try_lock().ok()?)));
        let (i, mut slot) = match free {
            Some(found) => found,
            None => (
                0,
                self.watchers[0].lock().unwrap_or_else(|e| e.into_inner()),
            ),
        };
        if slot.is_none() {
            *slot = Some(self.open().ok()?);
        }
        let version = slot
            .as_ref()?
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
            .ok()?;
        Some((version as u64) << 8 | i as u64)
    }

    fn connection(&self) -> rusqlite::Result<rusqlite::Connection> {
        if let Some(c) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(c);
        }
        self.open()
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        let c = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        c.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(c)
    }

    /// Runs `f` on a read connection on a blocking thread, for reads that do more with each row
    /// than [`FromSqliteRow`] can (hashing it where it lies).
    pub(crate) async fn with_conn<R, F>(self: &Arc<Self>, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let _turn = self
            .running
            .acquire()
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = me.connection().map_err(sqlite_err)?;
            let out = f(&conn);
            me.give_back(conn);
            out
        })
        .await
        .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }

    /// Runs a query on a blocking thread and reads every row.
    pub(crate) async fn all<T: FromSqliteRow + Send + 'static>(
        self: &Arc<Self>,
        sql: String,
        args: Vec<Arg>,
    ) -> Result<Vec<T>, StoreError> {
        self.with_conn(move |conn| rows_of(conn, &sql, &args)).await
    }

    /// Reads a page: a keyset query through an index with a LIMIT of at most
    /// `MAX_PAGE_SIZE + 1` rows, on the calling thread. That costs tens of microseconds, less than
    /// handing the read to a blocking thread and waking the task again: serving pages inline took
    /// `GET /api/v1/sites` from 9,100 to 12,800 requests/s (BENCHMARKS.md). `block_in_place` was
    /// slower than either. Reads without such a bound go through [`Reader::all`].
    pub(crate) fn page<T: FromSqliteRow>(
        &self,
        sql: &str,
        args: &[Arg],
    ) -> Result<Vec<T>, StoreError> {
        let conn = self.connection().map_err(sqlite_err)?;
        let out = rows_of(&conn, sql, args);
        self.give_back(conn);
        out
    }

    fn give_back(&self, conn: rusqlite::Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

fn rows_of<T: FromSqliteRow>(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Arg],
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(&numbered(sql)).map_err(sqlite_err)?;
    let params: Vec<&dyn ToSql> = args.iter().map(|a| a as &dyn ToSql).collect();
    stmt.query_map(params.as_slice(), |r| T::from_sqlite_row(r))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<T>>>())
        .map_err(sqlite_err)
}

/// One statement of a write transaction. `if_none` is the error the whole transaction fails with
/// when the statement changes no row: how a compare-and-swap that lost, or a parent that does not
/// exist, is noticed without a read between the writes.
#[derive(Debug)]
pub(crate) struct Stmt {
    pub(crate) sql: String,
    pub(crate) args: Vec<Arg>,
    pub(crate) if_none: Option<StoreError>,
}

impl Stmt {
    pub(crate) fn new(sql: impl Into<String>, args: Vec<Arg>) -> Self {
        Self {
            sql: sql.into(),
            args,
            if_none: None,
        }
    }

    /// Fails the transaction with `e` if this statement changes no row.
    pub(crate) fn or_fail(mut self, e: StoreError) -> Self {
        self.if_none = Some(e);
        self
    }
}

/// The same mapping as `db_err` for sqlx: constraint violations are the caller's, not the
/// database's, fault.
pub(crate) fn sqlite_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => match f
            .extended_code
        {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                StoreError::Conflict("a record with the same unique value already exists".into())
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => StoreError::Invalid(FieldError::new(
                "id",
                "refers to a record that does not exist",
            )),
            _ => StoreError::Backend(e.to_string()),
        },
        _ => StoreError::Backend(e.to_string()),
    }
}

/// Arguments from which a written batch is freed on a thread of its own (see `write_batch`).
const LARGE_BATCH_ARGS: usize = 10_000;

impl Reader {
    /// Runs `f` on the read-write connection, on a blocking thread, one caller at a time.
    pub(crate) async fn with_writer<R, F>(self: &Arc<Self>, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut slot = me.writer.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                let c = rusqlite::Connection::open(&me.path).map_err(sqlite_err)?;
                c.busy_timeout(std::time::Duration::from_secs(10))
                    .map_err(sqlite_err)?;
                c.pragma_update(None, "foreign_keys", true)
                    .map_err(sqlite_err)?;
                // The same durability as the sqlx pool (WAL with NORMAL: a commit survives a crash
                // of the process, not necessarily of the machine). `synchronous` is a setting of
                // the connection, and rusqlite's default, FULL, syncs the log on every commit:
                // measured here, that made each inventory upload wait ~35 ms for the disk.
                c.pragma_update(None, "synchronous", "NORMAL")
                    .map_err(sqlite_err)?;
                // A finding batch rewrites tens of megabytes of table and index pages in one
                // transaction; with the default 2 MiB cache SQLite spills dirty pages to the WAL
                // mid-transaction, which cost a quarter of a 30,000-finding batch.
                c.pragma_update(None, "cache_size", WRITER_CACHE)
                    .map_err(sqlite_err)?;
                // A statement that inserts many rows keeps a statement journal so it can be
                // undone alone; by default that journal is a temporary file, and writing it was a
                // fifth of storing one new advisory's findings (`perf`: `subjournalPage` under
                // `pwrite`). In memory it costs what the statement touches, a batch at most.
                c.pragma_update(None, "temp_store", "MEMORY")
                    .map_err(sqlite_err)?;
                // Room for every statement text the writer runs (each table's multi-row inserts
                // come in a few sizes); rusqlite keeps 16 by default.
                c.set_prepared_statement_cache_capacity(256);
                // Checkpoints are the checkpointer's (see `Checkpointer`), this a backstop.
                c.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT)
                    .map_err(sqlite_err)?;
                *me.checkpointer.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(Checkpointer::start(&me.path).map_err(sqlite_err)?);
                *slot = Some(c);
            }
            let Some(conn) = slot.as_mut() else {
                unreachable!("opened above")
            };
            let out = f(conn);
            drop(slot);
            if let Some(cp) = &*me.checkpointer.lock().unwrap_or_else(|e| e.into_inner()) {
                // Full means a checkpoint is already due; it will cover this write too.
                let _ = cp.wake.try_send(());
            }
            out
        })
        .await
        .map_err(|e| StoreError::Backend(format!("write task failed: {e}")))?
    }

    /// Runs `statements` in one immediate write transaction: all of them or none.
    pub(crate) async fn write_batch(
        self: &Arc<Self>,
        statements: Vec<Stmt>,
    ) -> Result<(), StoreError> {
        let done = self
            .with_writer(move |conn| run_batch(conn, statements))
            .await?;
        // A large batch is freed on another thread, after the writer is free for the next one:
        // its arguments are hundreds of thousands of strings, allocated by the thread that built
        // them, and freeing them cost the writer several per cent of a first full match. A small
        // one is cheaper to free than to hand over.
        if done.iter().map(|s| s.args.len()).sum::<usize>() > LARGE_BATCH_ARGS {
            drop(tokio::task::spawn_blocking(move || drop(done)));
        }
        Ok(())
    }

    /// Runs `statements` that build indexes, in one transaction, with a smaller page cache than
    /// the writer's: SQLite's sorter works in pieces the size of the cache, and at 8 MB the five
    /// findings indexes a first full match defers were built 0.2–0.4 s faster than at 32 MB
    /// (BENCHMARKS.md, fleet). The writer's own cache is back afterwards, whatever the outcome.
    pub(crate) async fn build_indexes(
        self: &Arc<Self>,
        statements: Vec<Stmt>,
    ) -> Result<(), StoreError> {
        self.with_writer(move |conn| {
            conn.pragma_update(None, "cache_size", INDEX_BUILD_CACHE)
                .map_err(sqlite_err)?;
            let built = run_batch(conn, statements);
            conn.pragma_update(None, "cache_size", WRITER_CACHE)
                .map_err(sqlite_err)?;
            built.map(drop)
        })
        .await
    }
}

/// The writer's page cache (negative: KiB).
const WRITER_CACHE: i64 = -32_768;
/// The page cache while indexes are built ([`Reader::build_indexes`]).
const INDEX_BUILD_CACHE: i64 = -8_192;

/// `statements` in one immediate transaction on the writer connection; they are handed back to
/// be freed by the caller.
fn run_batch(
    conn: &mut rusqlite::Connection,
    mut statements: Vec<Stmt>,
) -> Result<Vec<Stmt>, StoreError> {
    // Dropping the transaction without committing rolls it back.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sqlite_err)?;
    for s in &mut statements {
        let params: Vec<&dyn ToSql> = s.args.iter().map(|a| a as &dyn ToSql).collect();
        let n = tx
            .prepare_cached(&numbered(&s.sql))
            .and_then(|mut stmt| stmt.execute(params.as_slice()))
            .map_err(sqlite_err)?;
        if n == 0
            && let Some(e) = s.if_none.take()
        {
            return Err(e);
        }
    }
    tx.commit().map_err(sqlite_err)?;
    Ok(statements)
}

#[cfg(test)]
mod tests {
    use super::placeholders_in_order;

    #[test]
    fn placeholders_are_numbered_for_sqlite() {
        assert_eq!(
            super::numbered("a = $1 AND b IN ($2, $13) AND c = '$x'"),
            "a = ?1 AND b IN (?2, ?13) AND c = '$x'"
        );
    }

    #[test]
    fn placeholders_must_first_appear_in_ascending_order() {
        assert!(placeholders_in_order("SELECT 1"));
        assert!(placeholders_in_order(
            "a = $1 AND b = $2 OR a = $1 LIMIT $3"
        ));
        assert!(!placeholders_in_order("UPDATE t SET a = $2 WHERE id = $1"));
        assert!(!placeholders_in_order("a = $1 AND b = $3"));
    }

    /// The smaller cache of an index build is the build's alone: the writer has its own back
    /// after a build that succeeds and after one that fails (and is rolled back).
    #[tokio::test]
    async fn an_index_build_gives_the_writer_its_cache_back() {
        let dir = tempfile::tempdir().unwrap();
        let reader = super::Reader::new(dir.path().join("t.db").display().to_string());
        let cache = || {
            reader.with_writer(|c| {
                c.pragma_query_value(None, "cache_size", |r| r.get::<_, i64>(0))
                    .map_err(super::sqlite_err)
            })
        };
        let stmt = |sql: &str| super::Stmt::new(sql, Vec::new());
        reader
            .write_batch(vec![stmt("CREATE TABLE t (a INTEGER)")])
            .await
            .unwrap();
        assert_eq!(cache().await.unwrap(), super::WRITER_CACHE);
        reader
            .build_indexes(vec![stmt("CREATE INDEX t_a ON t (a)")])
            .await
            .unwrap();
        assert_eq!(cache().await.unwrap(), super::WRITER_CACHE);
        let failed = reader
            .build_indexes(vec![
                stmt("CREATE INDEX t_a2 ON t (a)"),
                stmt("CREATE INDEX t_b ON t (no_such_column)"),
            ])
            .await;
        assert!(failed.is_err());
        assert_eq!(cache().await.unwrap(), super::WRITER_CACHE);
        let kept: i64 = reader
            .with_writer(|c| {
                c.query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE name = 't_a2'",
                    [],
                    |r| r.get(0),
                )
                .map_err(super::sqlite_err)
            })
            .await
            .unwrap();
        assert_eq!(kept, 0, "the failed build is rolled back");
    }

    /// The SQLite every build links is compiled with `.cargo/config.toml`'s options: without
    /// them, every allocation and every page fetch of every connection takes a global mutex
    /// (a first full match of the benchmark fleet took 24.9 s instead of 19.7 s).
    #[test]
    fn sqlite_is_built_without_global_locks() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let options: Vec<String> = conn
            .prepare("PRAGMA compile_options")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
    }
}
