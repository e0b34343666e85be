//! The store's tables. The store is a cache of public data that can always be re-imported, so a
//! schema change bumps `SCHEMA_VERSION` and rebuilds the file instead of migrating it.

use rusqlite::{Connection, OptionalExtension};

pub const SCHEMA_VERSION: &str = "5";

const TABLES: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE blobs (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE advisories (
    rowid INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    modified INTEGER,
    withdrawn INTEGER,
    severity TEXT NOT NULL,
    score REAL,
    summary TEXT NOT NULL,
    aliases TEXT NOT NULL,
    url TEXT,
    hash BLOB NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (source, id)
);
CREATE INDEX advisories_id ON advisories (id);
-- Clustered by package key, so a scan reads each package's entries as one contiguous range and
-- never touches the (much larger) advisories table for packages with no live advisory. Withdrawn
-- advisories have no rows here; their full records stay in `advisories`.
CREATE TABLE affected (
    package TEXT NOT NULL,
    advisory INTEGER NOT NULL REFERENCES advisories (rowid),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (package, advisory, seq)
) WITHOUT ROWID;
CREATE INDEX affected_advisory ON affected (advisory);
CREATE TABLE aliases (
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    advisory INTEGER NOT NULL REFERENCES advisories (rowid)
);
CREATE INDEX aliases_a ON aliases (a);
CREATE INDEX aliases_b ON aliases (b);
CREATE INDEX aliases_advisory ON aliases (advisory);
-- The change log the server's matcher follows: one row per package key named (before or after)
-- by an advisory that was inserted, changed or withdrawn; a NULL package means 're-evaluate
-- everything' (KEV or EPSS replaced, which changes priorities fleet-wide).
CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, package TEXT);
CREATE TABLE kev (cve TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE epss (cve TEXT PRIMARY KEY, score REAL NOT NULL, percentile REAL NOT NULL);
CREATE TABLE sources (
    name TEXT PRIMARY KEY,
    location TEXT NOT NULL,
    high_water INTEGER,
    etag TEXT,
    last_run INTEGER
);
";

/// Creates the tables, or rebuilds them for another schema version; true when it did either.
pub fn migrate(c: &Connection) -> rusqlite::Result<bool> {
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )?;
    let has_meta: bool = c
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            [],
            |_| Ok(true),
        )
        .optional()?
        .unwrap_or(false);
    if has_meta {
        let version: Option<String> = c
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()?;
        if version.as_deref() == Some(SCHEMA_VERSION) {
            return Ok(false);
        }
        c.execute_batch(
            "DROP TABLE IF EXISTS affected; DROP TABLE IF EXISTS aliases; \
             DROP TABLE IF EXISTS advisories; DROP TABLE IF EXISTS kev; DROP TABLE IF EXISTS epss; \
             DROP TABLE IF EXISTS sources; DROP TABLE IF EXISTS meta; DROP TABLE IF EXISTS blobs; \
             DROP TABLE IF EXISTS changes;",
        )?;
    }
    let tx = c.unchecked_transaction()?;
    tx.execute_batch(TABLES)?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
        [SCHEMA_VERSION],
    )?;
    // A new generation tells followers of the change log that its sequence numbers restarted.
    let generation = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('generation', ?1)",
        [format!("{generation:x}-{:x}", std::process::id())],
    )?;
    tx.commit()?;
    Ok(true)
}
