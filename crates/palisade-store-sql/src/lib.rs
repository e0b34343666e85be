//! Palisade's [`Store`](palisade_store::Store) on SQLite (the embedded default) and PostgreSQL,
//! chosen at runtime from the database URL. Both backends run the same SQL text: columns are
//! portable types (UUIDs as text, times as integer microseconds, JSON as text) and placeholders are
//! `$N` in ascending order, which SQLite binds by first appearance. Where the dialects really differ
//! a query says so. Each backend has its own embedded migrations folder, applied at start.

mod audit;
mod campaign;
mod desk;
mod finding_rows;
mod fleet;
mod mail;
mod reader;
mod rows;
mod sealed;
mod store;

pub use sealed::{KeyUsage, Reencrypted};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use palisade_keyring::LiveKeyring;

use palisade_store::StoreError;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

/// Opening or migrating the database failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("unsupported database URL scheme in {0:?}: use sqlite://PATH or postgres://…")]
    Scheme(String),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot apply migrations: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("cannot rebuild the deferred findings indexes: {0}")]
    Restore(#[source] StoreError),
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The SQL store. Cheap to clone: it wraps a connection pool.
#[derive(Debug, Clone)]
pub struct SqlStore {
    backend: Backend,
    /// The rusqlite read path, for an SQLite file (not for `:memory:`, which other connections cannot see).
    reader: Option<Arc<reader::Reader>>,
    /// The keys that seal sensitive columns (`sealed.rs`). Never stored in the database.
    keys: Arc<LiveKeyring>,
    /// The blind index of contacts' addresses (`mail.rs`), once the binary has given its key.
    blind: Arc<std::sync::OnceLock<palisade_mail::BlindIndex>>,
    /// The at-risk share the tickets' SLA stamps are taken with (`desk.rs`): the desk's setting.
    sla_warn_percent: Arc<std::sync::atomic::AtomicU8>,
}

/// Runs the same expression against whichever pool is in use. The body is compiled once per
/// backend, so each gets its own statically typed sqlx calls from one piece of source.
macro_rules! on_pool {
    ($self:expr, $pool:ident => $body:expr) => {
        match &$self.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Like `on_pool!` for statements: evaluates to the number of rows affected.
macro_rules! rows_on_pool {
    ($self:expr, $pool:ident => $body:expr) => {
        match &$self.backend {
            $crate::Backend::Sqlite($pool) => $body.map(|r| r.rows_affected()),
            $crate::Backend::Postgres($pool) => $body.map(|r| r.rows_affected()),
        }
    };
}
pub(crate) use rows_on_pool;

impl SqlStore {
    /// Connects to `url` (`sqlite://path/to/file.db`, `sqlite::memory:`, `postgres://…`), sealing
    /// sensitive columns with `keys`. Does not migrate: call [`SqlStore::migrate`].
    pub async fn connect(url: &str, keys: Arc<LiveKeyring>) -> Result<Self, OpenError> {
        let mut reader = None;
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                // A broken connection surfaces as a query error anyway; pinging on every checkout
                // doubles the round trips of every query.
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(OpenError::Connect)?;
            Backend::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(OpenError::Connect)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let in_memory = url.contains(":memory:");
            if !in_memory {
                reader = Some(reader::Reader::new(
                    opts.get_filename().to_string_lossy().into_owned(),
                ));
            }
            let pool = SqlitePoolOptions::new()
                // An in-memory database exists per connection, so it must have exactly one.
                .max_connections(if in_memory { 1 } else { 8 })
                .min_connections(1)
                // An embedded database cannot drop the connection; a ping per checkout is pure cost.
                .test_before_acquire(false)
                .connect_with(opts)
                .await
                .map_err(OpenError::Connect)?;
            Backend::Sqlite(pool)
        } else {
            return Err(OpenError::Scheme(redact(url)));
        };
        Ok(Self {
            backend,
            reader,
            keys,
            blind: Arc::default(),
            sla_warn_percent: Arc::new(palisade_desk::ticket::DEFAULT_AT_RISK_PERCENT.into()),
        })
    }

    /// Applies the embedded migrations this backend has not seen yet, then rebuilds findings
    /// indexes that a first full match deferred and did not get to rebuild.
    pub async fn migrate(&self) -> Result<(), OpenError> {
        self.migrate_until(i64::MAX).await?;
        palisade_store::FleetStore::restore_finding_indexes(self)
            .await
            .map_err(OpenError::Restore)
    }

    /// Applies the migrations up to version `last`: all of them for [`SqlStore::migrate`], an
    /// older one for a test that stores rows the way an older release did and then checks what
    /// a later migration makes of them.
    #[doc(hidden)]
    pub async fn migrate_until(&self, last: i64) -> Result<(), OpenError> {
        let up_to = |mut m: sqlx::migrate::Migrator| {
            m.migrations = m
                .migrations
                .iter()
                .filter(|m| m.version <= last)
                .cloned()
                .collect::<Vec<_>>()
                .into();
            m
        };
        let migrator = up_to(match &self.backend {
            Backend::Sqlite(_) => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres(_) => sqlx::migrate!("migrations/postgres"),
        });
        // On a database that already has tables, say what is about to run and how long it took:
        // a migration that rebuilds a table (0015, the findings) runs for about a minute per
        // million rows before the server answers.
        let applied: Vec<i64> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success"
        )
        .fetch_all(p)
        .await)
        .unwrap_or_default();
        let pending: Vec<String> = migrator
            .migrations
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| format!("{:04} {}", m.version, m.description))
            .collect();
        let upgrade = !applied.is_empty() && !pending.is_empty();
        if upgrade {
            tracing::info!(
                migrations = %pending.join(", "),
                "Applying database migrations; a large findings table can take minutes."
            );
        }
        let started = std::time::Instant::now();
        match &self.backend {
            Backend::Sqlite(p) => migrator.run(p).await,
            Backend::Postgres(p) => migrator.run(p).await,
        }
        .map_err(OpenError::Migrate)?;
        if upgrade {
            tracing::info!(
                seconds = started.elapsed().as_secs_f64(),
                "Database migrations applied."
            );
        }
        Ok(())
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool, waiting for connections to return.
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}

/// Drops the password from a URL before it is shown in an error or a log line.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict("a record with the same unique value already exists".into())
        }
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::Invalid(
            palisade_core::FieldError::new("id", "refers to a record that does not exist"),
        ),
        _ => StoreError::Backend(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_lose_their_password_before_display() {
        assert_eq!(
            super::redact("postgres://app:s3cret@db:5432/p"),
            "postgres://app:***@db:5432/p"
        );
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
    }
}
