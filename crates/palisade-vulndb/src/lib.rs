//! The local advisory store used by `palisade scan` and `palisade advisories`: one SQLite file in
//! a folder. Advisories are kept whole (compressed JSON of the normalised model) beside an index
//! from package key to each affected entry, so a scan reads only the entries for the packages it
//! has; aliases are kept as asserted edges, and KEV and EPSS as their own tables keyed by CVE.
//! Re-importing a record that did not change writes nothing.

mod index;
mod load;
mod schema;

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use palisade_vulns::aliases::{AliasGraph, DEFAULT_GROUP_CAP};
use palisade_vulns::{Advisory, AdvisoryKind, Affected, EpssScore, KevEntry, PackageKey};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

pub use index::{INDEX_FILE, ScanIndex};
pub use load::{ImportStats, Progress, import_path};

/// The store's file name inside its folder.
pub const DB_FILE: &str = "advisories.db";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("advisory store {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("advisory store {path}: {message}")]
    Corrupt { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "advisory store {0} does not exist: import advisories first (`palisade advisories import PATH`)"
    )]
    Missing(String),
}

/// One affected entry found for a package, with what the matcher needs about its advisory.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub advisory: i64,
    pub kind: AdvisoryKind,
    pub affected: Affected,
}

/// The columns a report needs about an advisory.
#[derive(Clone, Debug, PartialEq)]
pub struct AdvisoryHead {
    pub id: String,
    pub source: String,
    pub kind: AdvisoryKind,
    pub summary: String,
    pub severity: palisade_vulns::SeverityLevel,
    pub score: Option<f64>,
    /// Aliases, then upstream ids.
    pub aliases: Vec<String>,
    pub url: Option<String>,
}

/// Counts per source, for `palisade advisories status`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct StoreStats {
    pub advisories: Vec<(String, u64)>,
    pub withdrawn: u64,
    pub affected_entries: u64,
    pub kev: u64,
    pub epss: u64,
    pub epss_date: Option<String>,
    pub sources: Vec<SourceState>,
}

/// What `advisories sync` remembers about one configured source.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SourceState {
    pub name: String,
    pub location: String,
    /// The newest `modified` time imported so far; the next sync skips records not newer.
    pub high_water: Option<Timestamp>,
    /// The HTTP entity tag of the last download, to skip unchanged archives.
    pub etag: Option<String>,
    pub last_run: Option<Timestamp>,
}

/// What one upsert did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpsertStats {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// A stretch of the change log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeBatch {
    /// The packages named by changed advisories, each once.
    pub keys: Vec<PackageKey>,
    /// KEV or EPSS data was replaced: every finding's priority may have changed.
    pub everything: bool,
    /// The sequence number to continue after.
    pub last: i64,
}

/// The advisory store.
pub struct VulnDb {
    conn: Connection,
    path: PathBuf,
    /// The store's compression dictionary, once one has been trained.
    dict: Option<Vec<u8>>,
}

impl std::fmt::Debug for VulnDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VulnDb").field("path", &self.path).finish()
    }
}

fn kind_text(kind: &AdvisoryKind) -> String {
    match kind {
        AdvisoryKind::Vulnerability => "vulnerability".to_owned(),
        AdvisoryKind::Malicious => "malicious".to_owned(),
        AdvisoryKind::Informational(label) => format!("informational:{label}"),
    }
}

fn kind_from_text(s: &str) -> AdvisoryKind {
    match s {
        "vulnerability" => AdvisoryKind::Vulnerability,
        "malicious" => AdvisoryKind::Malicious,
        other => AdvisoryKind::Informational(
            other
                .strip_prefix("informational:")
                .unwrap_or(other)
                .to_owned(),
        ),
    }
}

/// An affected entry as stored: the package is the row's index key, so it is not repeated, and
/// empty fields are left out (half the size of the full form on osv.dev-like data).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredEntry {
    #[serde(default, rename = "i", skip_serializing_if = "Vec::is_empty")]
    intervals: Vec<palisade_vulns::Interval>,
    #[serde(default, rename = "v", skip_serializing_if = "Vec::is_empty")]
    versions: Vec<String>,
    #[serde(default, rename = "f", skip_serializing_if = "Vec::is_empty")]
    fixed: Vec<String>,
    #[serde(default, rename = "l", skip_serializing_if = "Option::is_none")]
    last_known_affected: Option<String>,
    #[serde(default, rename = "s", skip_serializing_if = "Vec::is_empty")]
    skipped_ranges: Vec<String>,
    #[serde(default, rename = "p", skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
    #[serde(default, rename = "d", skip_serializing_if = "Option::is_none")]
    debian: Option<palisade_vulns::DebianState>,
}

impl StoredEntry {
    fn from_affected(a: &Affected) -> StoredEntry {
        StoredEntry {
            intervals: a.intervals.clone(),
            versions: a.versions.clone(),
            fixed: a.fixed.clone(),
            last_known_affected: a.last_known_affected.clone(),
            skipped_ranges: a.skipped_ranges.clone(),
            problem: a.problem.clone(),
            debian: a.debian.clone(),
        }
    }

    fn into_affected(self, package: PackageKey) -> Affected {
        Affected {
            package,
            intervals: self.intervals,
            versions: self.versions,
            fixed: self.fixed,
            last_known_affected: self.last_known_affected,
            skipped_ranges: self.skipped_ranges,
            problem: self.problem,
            debian: self.debian,
        }
    }
}

/// Body encodings: a leading byte says how the rest is compressed.
const BODY_PLAIN: u8 = 0;
const BODY_DICT: u8 = 1;

/// Size of the zstd dictionary trained on a store's first records. Advisories are small JSON
/// documents that repeat the same keys and phrases; a shared dictionary roughly halves them where
/// compressing each alone cannot.
const DICT_BYTES: usize = 64 * 1024;

fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

impl VulnDb {
    /// Opens (creating when needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<VulnDb, DbError> {
        std::fs::create_dir_all(dir).map_err(|source| DbError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|source| DbError::Sqlite {
            path: path.display().to_string(),
            source,
        })?;
        let mut db = VulnDb {
            conn,
            path,
            dict: None,
        };
        if db.run(schema::migrate)? {
            // A new or rebuilt store: an index left from an earlier one describes nothing here.
            drop_scan_index(&db.path)?;
        }
        db.dict = db.load_dict()?;
        Ok(db)
    }

    /// Opens an existing store read-only, as a scan does; an absent store is an error that says
    /// how to fill it, and one written by another schema version asks for a re-import.
    pub fn open_existing(dir: &Path) -> Result<VulnDb, DbError> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            return Err(DbError::Missing(path.display().to_string()));
        }
        let conn = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| DbError::Sqlite {
            path: path.display().to_string(),
            source,
        })?;
        let mut db = VulnDb {
            conn,
            path,
            dict: None,
        };
        // No memory map: mapped pages count as the scanner's own memory, and on a 10 MB SBOM
        // that doubled the peak (417 MB against 178 MB) for no measurable gain in speed.
        let version: Option<String> = db
            .run(|c| {
                c.query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                    r.get(0)
                })
                .optional()
            })
            .ok()
            .flatten();
        if version.as_deref() != Some(schema::SCHEMA_VERSION) {
            return Err(DbError::Corrupt {
                path: db.path.display().to_string(),
                message: "written by another version of Palisade: import the advisories again"
                    .into(),
            });
        }
        db.dict = db.load_dict()?;
        Ok(db)
    }

    fn load_dict(&self) -> Result<Option<Vec<u8>>, DbError> {
        self.run(|c| {
            c.query_row("SELECT value FROM blobs WHERE key = 'zstd_dict'", [], |r| {
                r.get(0)
            })
            .optional()
        })
    }

    /// Trains and stores the compression dictionary from sample records, unless the store has
    /// one. Called by the importer with its first full batch; smaller stores do without.
    pub fn train_dictionary(&mut self, samples: &[Advisory]) -> Result<(), DbError> {
        if self.dict.is_some() || samples.len() < 500 {
            return Ok(());
        }
        let encoded: Vec<Vec<u8>> = samples
            .iter()
            .filter_map(|a| serde_json::to_vec(a).ok())
            .collect();
        let Ok(dict) = zstd::dict::from_samples(&encoded, DICT_BYTES) else {
            return Ok(());
        };
        self.run(|c| {
            c.execute(
                "INSERT OR REPLACE INTO blobs (key, value) VALUES ('zstd_dict', ?1)",
                [&dict],
            )
        })?;
        self.dict = Some(dict);
        Ok(())
    }

    /// A compressor for a batch of bodies: building one loads the dictionary, so it is reused.
    fn compressor(&self) -> std::io::Result<(u8, zstd::bulk::Compressor<'static>)> {
        Ok(match &self.dict {
            Some(d) => (BODY_DICT, zstd::bulk::Compressor::with_dictionary(3, d)?),
            None => (BODY_PLAIN, zstd::bulk::Compressor::new(3)?),
        })
    }

    /// What a report shows about an advisory, read from columns without decoding the record.
    pub fn head(&self, rowid: i64) -> Result<AdvisoryHead, DbError> {
        let cols = self.run(|c| {
            c.prepare_cached(&format!(
                "SELECT {HEAD_COLUMNS} FROM advisories WHERE rowid = ?1"
            ))?
            .query_row([rowid], |r| head_columns_at(r, 0))
        })?;
        Ok(cols.into_head())
    }

    /// Runs `f` inside one read transaction: a consistent snapshot, and the file lock taken
    /// once rather than for every query (a scan makes hundreds).
    pub fn snapshot<T, E: From<DbError>>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        in_snapshot(self, f)
    }

    /// Whether any KEV or EPSS data is loaded (when none is, a scan skips looking for it).
    pub fn has_enrichment(&self) -> Result<bool, DbError> {
        self.run(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM kev) OR EXISTS (SELECT 1 FROM epss)",
                [],
                |r| r.get(0),
            )
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> DbError {
        DbError::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn run<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, DbError> {
        f(&self.conn).map_err(|e| self.err(e))
    }

    /// Inserts or replaces `batch` in one transaction. A record whose content hash is unchanged
    /// is left alone, so re-importing a feed costs reads, not writes.
    pub fn upsert(&mut self, batch: &[Advisory]) -> Result<UpsertStats, DbError> {
        let path = self.path.display().to_string();
        let to_err = |source| DbError::Sqlite {
            path: path.clone(),
            source,
        };
        let io = |source| DbError::Io {
            path: path.clone(),
            source,
        };
        // Owned, so it outlives the borrow of the connection below; built once per batch
        // because loading the dictionary is the expensive part.
        let (tag, mut compressor) = self.compressor().map_err(io)?;
        let dict = self.dict.clone();
        let db_path = self.path.clone();
        let tx = self.conn.transaction().map_err(to_err)?;
        let mut stats = UpsertStats::default();
        {
            let mut find = tx
                .prepare_cached("SELECT rowid, hash FROM advisories WHERE source = ?1 AND id = ?2")
                .map_err(to_err)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO advisories (source, id, kind, modified, withdrawn, severity, \
                     score, summary, aliases, url, hash, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .map_err(to_err)?;
            let mut update = tx
                .prepare_cached(
                    "UPDATE advisories SET kind = ?2, modified = ?3, withdrawn = ?4, \
                     severity = ?5, score = ?6, summary = ?7, aliases = ?8, url = ?9, hash = ?10, \
                     body = ?11 WHERE rowid = ?1",
                )
                .map_err(to_err)?;
            let mut del_affected = tx
                .prepare_cached("DELETE FROM affected WHERE advisory = ?1")
                .map_err(to_err)?;
            let mut del_aliases = tx
                .prepare_cached("DELETE FROM aliases WHERE advisory = ?1")
                .map_err(to_err)?;
            let mut add_affected = tx
                .prepare_cached(
                    "INSERT INTO affected (package, advisory, seq, kind, entry) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(to_err)?;
            let mut add_alias = tx
                .prepare_cached("INSERT INTO aliases (a, b, advisory) VALUES (?1, ?2, ?3)")
                .map_err(to_err)?;
            let mut old_body = tx
                .prepare_cached("SELECT body FROM advisories WHERE rowid = ?1")
                .map_err(to_err)?;
            let mut log = tx
                .prepare_cached("INSERT INTO changes (package) VALUES (?1)")
                .map_err(to_err)?;
            for adv in batch {
                let json = serde_json::to_vec(adv).map_err(|e| DbError::Corrupt {
                    path: path.clone(),
                    message: format!("{}: cannot encode: {e}", adv.id),
                })?;
                let hash = Sha256::digest(&json)[..16].to_vec();
                let existing: Option<(i64, Vec<u8>)> = find
                    .query_row(params![adv.source.name(), adv.id], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()
                    .map_err(to_err)?;
                if let Some((_, old)) = &existing
                    && *old == hash
                {
                    stats.unchanged += 1;
                    continue;
                }
                // The packages the record named before and names now: their installations are
                // what the server's matcher must re-evaluate.
                let mut touched: std::collections::BTreeSet<&PackageKey> =
                    adv.affected.iter().map(|a| &a.package).collect();
                let old_packages = match &existing {
                    Some((rowid, _)) => {
                        let body: Vec<u8> =
                            old_body.query_row([rowid], |r| r.get(0)).map_err(to_err)?;
                        decode_body(dict.as_deref(), &db_path, &body, &adv.id)?
                            .affected
                            .into_iter()
                            .map(|a| a.package)
                            .collect()
                    }
                    None => Vec::new(),
                };
                touched.extend(old_packages.iter());
                for key in touched {
                    let json = serde_json::to_string(key).map_err(|e| DbError::Corrupt {
                        path: path.clone(),
                        message: format!("{}: cannot encode: {e}", adv.id),
                    })?;
                    log.execute([json]).map_err(to_err)?;
                }
                // Compressed only once it is known to be written: a re-import of an unchanged
                // feed hashes every record and compresses none.
                let mut body = vec![tag];
                body.extend(compressor.compress(&json).map_err(io)?);
                let severity = adv.severity_level().name();
                let score = adv.score();
                let modified = adv.modified.map(micros);
                let withdrawn = adv.withdrawn.map(micros);
                let kind = kind_text(&adv.kind);
                let names: Vec<&String> = adv.aliases.iter().chain(&adv.upstream).collect();
                let aliases = serde_json::to_string(&names).unwrap_or_else(|_| "[]".into());
                let url = adv.references.first();
                let rowid = match existing {
                    Some((rowid, _)) => {
                        update
                            .execute(params![
                                rowid,
                                kind,
                                modified,
                                withdrawn,
                                severity,
                                score,
                                adv.summary,
                                aliases,
                                url,
                                hash,
                                body
                            ])
                            .map_err(to_err)?;
                        del_affected.execute([rowid]).map_err(to_err)?;
                        del_aliases.execute([rowid]).map_err(to_err)?;
                        stats.updated += 1;
                        rowid
                    }
                    None => {
                        insert
                            .execute(params![
                                adv.source.name(),
                                adv.id,
                                kind,
                                modified,
                                withdrawn,
                                severity,
                                score,
                                adv.summary,
                                aliases,
                                url,
                                hash,
                                body
                            ])
                            .map_err(to_err)?;
                        stats.inserted += 1;
                        tx.last_insert_rowid()
                    }
                };
                // Withdrawn records match no one, so they get no index rows at all.
                let live = if adv.is_withdrawn() {
                    &[][..]
                } else {
                    &adv.affected[..]
                };
                for (seq, a) in live.iter().enumerate() {
                    let entry =
                        serde_json::to_string(&StoredEntry::from_affected(a)).map_err(|e| {
                            DbError::Corrupt {
                                path: path.clone(),
                                message: format!("{}: cannot encode: {e}", adv.id),
                            }
                        })?;
                    add_affected
                        .execute(params![
                            a.package.to_string(),
                            rowid,
                            seq as i64,
                            kind,
                            entry
                        ])
                        .map_err(to_err)?;
                }
                // Withdrawn records keep no alias edges: they must not join groups (osv.dev
                // leaves them out of alias computation for the same reason).
                if !adv.is_withdrawn() {
                    for alias in &adv.aliases {
                        if alias != &adv.id {
                            add_alias
                                .execute(params![adv.id, alias, rowid])
                                .map_err(to_err)?;
                        }
                    }
                }
            }
        }
        if stats.inserted + stats.updated > 0 {
            drop_scan_index(&db_path)?;
        }
        tx.commit().map_err(to_err)?;
        Ok(stats)
    }

    /// This store's generation: it changes when the file is rebuilt, which restarts the change
    /// log's sequence numbers.
    pub fn generation(&self) -> Result<String, DbError> {
        self.run(|c| {
            c.query_row("SELECT value FROM meta WHERE key = 'generation'", [], |r| {
                r.get(0)
            })
        })
    }

    /// The newest sequence number in the change log (0 when empty).
    pub fn last_change(&self) -> Result<i64, DbError> {
        self.run(|c| {
            c.query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| {
                r.get(0)
            })
        })
    }

    /// The package keys changed after sequence number `after`, at most `limit` log rows.
    pub fn changes_since(&self, after: i64, limit: u32) -> Result<ChangeBatch, DbError> {
        let rows: Vec<(i64, Option<String>)> = self.run(|c| {
            let mut s = c.prepare_cached(
                "SELECT seq, package FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            s.query_map(params![after, limit], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })?;
        let mut batch = ChangeBatch {
            last: rows.last().map_or(after, |(seq, _)| *seq),
            ..ChangeBatch::default()
        };
        let mut keys = std::collections::BTreeSet::new();
        for (seq, package) in rows {
            match package {
                None => batch.everything = true,
                Some(json) => {
                    let key: PackageKey =
                        serde_json::from_str(&json).map_err(|e| DbError::Corrupt {
                            path: self.path.display().to_string(),
                            message: format!("change log entry {seq}: {e}"),
                        })?;
                    keys.insert(key);
                }
            }
        }
        batch.keys = keys.into_iter().collect();
        Ok(batch)
    }

    /// Every live (not withdrawn) affected entry for `key`.
    pub fn candidates(&self, key: &PackageKey) -> Result<Vec<Candidate>, DbError> {
        let mut all = self.candidates_many(std::slice::from_ref(key))?;
        Ok(all.pop().unwrap_or_default())
    }

    /// Every live affected entry for each of `keys`, in the same order: one statement for the
    /// whole list (the keys travel as one JSON array), not one per key.
    pub fn candidates_many(&self, keys: &[PackageKey]) -> Result<Vec<Vec<Candidate>>, DbError> {
        let names: Vec<String> = keys.iter().map(PackageKey::to_string).collect();
        let list = serde_json::to_string(&names).map_err(|e| DbError::Corrupt {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut out: Vec<Vec<Candidate>> = vec![Vec::new(); keys.len()];
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT k.key, f.advisory, f.kind, f.entry \
                 FROM json_each(?1) AS k JOIN affected AS f ON f.package = k.value",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([list]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let (i, advisory, kind, entry) = candidate_row(r).map_err(|e| self.err(e))?;
            let stored = self.stored_entry(&entry, advisory)?;
            let Some(slot) = out.get_mut(i) else { continue };
            slot.push(Candidate {
                advisory,
                kind: kind_from_text(&kind),
                affected: stored.into_affected(keys[i].clone()),
            });
        }
        Ok(out)
    }

    /// An `affected` row's entry, as stored.
    fn stored_entry(&self, entry: &str, advisory: i64) -> Result<StoredEntry, DbError> {
        serde_json::from_str(entry).map_err(|e| DbError::Corrupt {
            path: self.path.display().to_string(),
            message: format!("affected entry of advisory {advisory}: {e}"),
        })
    }

    fn decode(&self, body: &[u8], what: &str) -> Result<Advisory, DbError> {
        decode_body(self.dict.as_deref(), &self.path, body, what)
    }

    /// Advisories whose id or alias is `id` (any source), withdrawn ones included.
    pub fn find(&self, id: &str) -> Result<Vec<Advisory>, DbError> {
        let bodies: Vec<Vec<u8>> = self.run(|c| {
            let mut s = c.prepare_cached(
                "SELECT body FROM advisories WHERE id = ?1 \
                     UNION SELECT a.body FROM aliases x JOIN advisories a ON a.rowid = x.advisory \
                     WHERE x.b = ?1",
            )?;
            s.query_map([id], |r| r.get(0))?.collect()
        })?;
        bodies.iter().map(|b| self.decode(b, id)).collect()
    }

    /// The asserted alias edges (a, b, advisory) that name `id` on either side.
    pub fn alias_edges(&self, id: &str) -> Result<Vec<(String, String, i64)>, DbError> {
        self.run(|c| {
            c.prepare_cached(
                "SELECT a, b, advisory FROM aliases WHERE a = ?1 UNION \
                 SELECT a, b, advisory FROM aliases WHERE b = ?1",
            )?
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect()
        })
    }

    /// The alias group of `id` (see [`AdvisoryLookup::alias_group`]).
    pub fn alias_group(&self, id: &str) -> Result<Vec<String>, DbError> {
        AdvisoryLookup::alias_group(self, id)
    }

    /// Runs `f` in one write transaction: all of it is stored or none. What it writes changes
    /// what a scan sees, so the scan index goes before the commit (see [`index`]).
    fn in_transaction(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>,
    ) -> Result<(), DbError> {
        let path = self.path.clone();
        let err = |source| DbError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        f(&tx).map_err(err)?;
        drop_scan_index(&path)?;
        tx.commit().map_err(err)
    }

    /// Replaces the KEV catalogue (it is published whole).
    pub fn replace_kev(&mut self, entries: &[KevEntry]) -> Result<(), DbError> {
        self.in_transaction(|tx| {
            tx.execute("DELETE FROM kev", [])?;
            tx.execute("INSERT INTO changes (package) VALUES (NULL)", [])?;
            let mut s = tx.prepare("INSERT OR REPLACE INTO kev (cve, body) VALUES (?1, ?2)")?;
            for e in entries {
                let body = serde_json::to_string(e)
                    .map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))?;
                s.execute(params![e.cve, body])?;
            }
            Ok(())
        })
    }

    /// Replaces the EPSS scores (a daily file covers every CVE).
    pub fn replace_epss(
        &mut self,
        date: Option<&str>,
        scores: &[EpssScore],
    ) -> Result<(), DbError> {
        self.in_transaction(|tx| {
            tx.execute("DELETE FROM epss", [])?;
            tx.execute("INSERT INTO changes (package) VALUES (NULL)", [])?;
            let mut s = tx.prepare(
                "INSERT OR REPLACE INTO epss (cve, score, percentile) VALUES (?1, ?2, ?3)",
            )?;
            for e in scores {
                s.execute(params![e.cve, e.score, e.percentile])?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('epss_date', ?1)",
                [date.unwrap_or("")],
            )?;
            Ok(())
        })
    }

    pub fn kev(&self, cve: &str) -> Result<Option<KevEntry>, DbError> {
        let body: Option<String> = self.run(|c| {
            c.prepare_cached("SELECT body FROM kev WHERE cve = ?1")?
                .query_row([cve], |r| r.get(0))
                .optional()
        })?;
        body.map(|b| {
            serde_json::from_str(&b).map_err(|e| DbError::Corrupt {
                path: self.path.display().to_string(),
                message: format!("kev {cve}: {e}"),
            })
        })
        .transpose()
    }

    pub fn epss(&self, cve: &str) -> Result<Option<EpssScore>, DbError> {
        self.run(|c| {
            c.prepare_cached("SELECT score, percentile FROM epss WHERE cve = ?1")?
                .query_row([cve], |r| {
                    Ok(EpssScore {
                        cve: cve.to_owned(),
                        score: r.get(0)?,
                        percentile: r.get(1)?,
                    })
                })
                .optional()
        })
    }

    pub fn source_state(&self, name: &str) -> Result<Option<SourceState>, DbError> {
        self.run(|c| {
            c.prepare_cached(
                "SELECT name, location, high_water, etag, last_run FROM sources WHERE name = ?1",
            )?
            .query_row([name], source_row)
            .optional()
        })
    }

    pub fn set_source_state(&mut self, s: &SourceState) -> Result<(), DbError> {
        self.run(|c| {
            c.execute(
                "INSERT OR REPLACE INTO sources (name, location, high_water, etag, last_run) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    s.name,
                    s.location,
                    s.high_water.map(micros),
                    s.etag,
                    s.last_run.map(micros)
                ],
            )
            .map(|_| ())
        })
    }

    pub fn stats(&self) -> Result<StoreStats, DbError> {
        self.run(|c| {
            let advisories = c
                .prepare("SELECT source, count(*) FROM advisories GROUP BY source ORDER BY source")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, u64>(0));
            let sources = c
                .prepare(
                    "SELECT name, location, high_water, etag, last_run FROM sources ORDER BY name",
                )?
                .query_map([], source_row)?
                .collect::<Result<_, _>>()?;
            Ok(StoreStats {
                advisories,
                withdrawn: count("SELECT count(*) FROM advisories WHERE withdrawn IS NOT NULL")?,
                affected_entries: count("SELECT count(*) FROM affected")?,
                kev: count("SELECT count(*) FROM kev")?,
                epss: count("SELECT count(*) FROM epss")?,
                epss_date: c
                    .query_row("SELECT value FROM meta WHERE key = 'epss_date'", [], |r| {
                        r.get(0)
                    })
                    .optional()?,
                sources,
            })
        })
    }
}

/// What the matcher reads about advisories, from the store itself or from its scan index.
pub trait AdvisoryLookup {
    /// Every live affected entry for each of `keys`, in the same order.
    fn candidates_many(&self, keys: &[PackageKey]) -> Result<Vec<Vec<Candidate>>, DbError>;
    /// The report columns of the advisory with this row number.
    fn head(&self, rowid: i64) -> Result<AdvisoryHead, DbError>;
    /// The report columns of each advisory in `rowids`, in that order.
    fn heads(&self, rowids: &[i64]) -> Result<Vec<AdvisoryHead>, DbError> {
        rowids.iter().map(|&rowid| self.head(rowid)).collect()
    }
    /// Whether any KEV or EPSS data is loaded.
    fn has_enrichment(&self) -> Result<bool, DbError>;
    /// The asserted alias edges (a, b, advisory) that name `id` on either side.
    fn alias_edges(&self, id: &str) -> Result<Vec<(String, String, i64)>, DbError>;
    fn kev(&self, cve: &str) -> Result<Option<KevEntry>, DbError>;
    fn epss(&self, cve: &str) -> Result<Option<EpssScore>, DbError>;
    /// Starts and ends one consistent read (many lookups, one snapshot).
    fn begin_read(&self) -> Result<(), DbError> {
        Ok(())
    }
    fn end_read(&self) -> Result<(), DbError> {
        Ok(())
    }

    /// The alias group of `id`: every id reachable through asserted alias edges, capped as
    /// `AliasGraph` caps it.
    fn alias_group(&self, id: &str) -> Result<Vec<String>, DbError> {
        let mut graph = AliasGraph::with_cap(DEFAULT_GROUP_CAP);
        let mut seen = std::collections::HashSet::from([id.to_owned()]);
        let mut queue = vec![id.to_owned()];
        // Walking stops well past the cap: a longer chain is exactly the bad data the cap is for.
        while let Some(next) = queue.pop() {
            if seen.len() > DEFAULT_GROUP_CAP * 4 {
                break;
            }
            for (a, b, adv) in self.alias_edges(&next)? {
                graph.assert_alias(&a, &b, &adv.to_string());
                for n in [a, b] {
                    if seen.insert(n.clone()) {
                        queue.push(n);
                    }
                }
            }
        }
        Ok(graph.group(id))
    }
}

impl AdvisoryLookup for VulnDb {
    fn candidates_many(&self, keys: &[PackageKey]) -> Result<Vec<Vec<Candidate>>, DbError> {
        VulnDb::candidates_many(self, keys)
    }
    fn head(&self, rowid: i64) -> Result<AdvisoryHead, DbError> {
        VulnDb::head(self, rowid)
    }
    fn has_enrichment(&self) -> Result<bool, DbError> {
        VulnDb::has_enrichment(self)
    }
    fn alias_edges(&self, id: &str) -> Result<Vec<(String, String, i64)>, DbError> {
        VulnDb::alias_edges(self, id)
    }
    fn kev(&self, cve: &str) -> Result<Option<KevEntry>, DbError> {
        VulnDb::kev(self, cve)
    }
    fn epss(&self, cve: &str) -> Result<Option<EpssScore>, DbError> {
        VulnDb::epss(self, cve)
    }
    fn begin_read(&self) -> Result<(), DbError> {
        self.run(|c| c.execute_batch("BEGIN"))
    }
    fn end_read(&self) -> Result<(), DbError> {
        // A read transaction has nothing to commit; ending it only releases the lock.
        self.run(|c| c.execute_batch("COMMIT"))
    }
}

impl AdvisoryLookup for ScanIndex {
    fn candidates_many(&self, keys: &[PackageKey]) -> Result<Vec<Vec<Candidate>>, DbError> {
        // One buffer for the keys' text and no copy of the values: a scan looks up every
        // package it finds, and most are in no advisory at all.
        // Sized for a typical key ("crates.io/" and a name) so that it seldom grows.
        let mut text = String::with_capacity(keys.len() * 32);
        let mut spans = Vec::with_capacity(keys.len());
        for key in keys {
            let start = text.len();
            // Writing into a String cannot fail.
            let _ = std::fmt::Write::write_fmt(&mut text, format_args!("{key}"));
            spans.push(start..text.len());
        }
        let key_bytes = |i: usize| &text.as_bytes()[spans[i].clone()];
        // Callers mostly pass keys in order already, which this sort only checks.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| palisade_vulns::bytes::cmp(key_bytes(a), key_bytes(b)));
        let sorted: Vec<&[u8]> = order.iter().map(|&i| key_bytes(i)).collect();
        let mut out: Vec<Vec<Candidate>> = vec![Vec::new(); keys.len()];
        self.with_values(index::PACKAGES, &sorted, |k, raw| {
            let i = order[k];
            out[i] = decode_candidates(raw, &keys[i])
                .ok_or_else(|| index::corrupt(self.path(), &format!("entries of {}", keys[i])))?;
            Ok(())
        })?;
        Ok(out)
    }
    fn head(&self, rowid: i64) -> Result<AdvisoryHead, DbError> {
        let raw = self
            .get(index::HEADS, &rowid.to_be_bytes())?
            .ok_or_else(|| index::corrupt(self.path(), &format!("no advisory {rowid}")))?;
        decode_head(&raw).ok_or_else(|| index::corrupt(self.path(), &format!("advisory {rowid}")))
    }
    /// One pass over the heads table (see [`ScanIndex::with_values`]): a scan with findings
    /// from 50 advisories read 26 blocks of it in 26 system calls when it asked for each head
    /// as it reported it.
    fn heads(&self, rowids: &[i64]) -> Result<Vec<AdvisoryHead>, DbError> {
        // Big-endian row numbers sort as numbers do (they are positive).
        let mut order: Vec<usize> = (0..rowids.len()).collect();
        order.sort_by_key(|&i| rowids[i]);
        let keys: Vec<[u8; 8]> = order.iter().map(|&i| rowids[i].to_be_bytes()).collect();
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
        let mut out: Vec<Option<AdvisoryHead>> = vec![None; rowids.len()];
        self.with_values(index::HEADS, &keys, |k, raw| {
            let rowid = rowids[order[k]];
            out[order[k]] = Some(
                decode_head(raw)
                    .ok_or_else(|| index::corrupt(self.path(), &format!("advisory {rowid}")))?,
            );
            Ok(())
        })?;
        out.into_iter()
            .zip(rowids)
            .map(|(head, rowid)| {
                head.ok_or_else(|| index::corrupt(self.path(), &format!("no advisory {rowid}")))
            })
            .collect()
    }
    fn has_enrichment(&self) -> Result<bool, DbError> {
        Ok(self.get(index::META, b"enrichment")?.as_deref() == Some(b"1"))
    }
    fn alias_edges(&self, id: &str) -> Result<Vec<(String, String, i64)>, DbError> {
        let Some(raw) = self.get(index::ALIASES, id.as_bytes())? else {
            return Ok(Vec::new());
        };
        let mut d = index::Dec::new(&raw);
        let mut edges = Vec::new();
        while !d.done() {
            let edge = (|| Some((d.string()?, d.string()?, d.i64()?)))();
            edges.push(
                edge.ok_or_else(|| index::corrupt(self.path(), &format!("aliases of {id}")))?,
            );
        }
        Ok(edges)
    }
    fn kev(&self, cve: &str) -> Result<Option<KevEntry>, DbError> {
        self.get(index::KEV, cve.as_bytes())?
            .map(|raw| {
                serde_json::from_slice(&raw)
                    .map_err(|e| index::corrupt(self.path(), &format!("kev {cve}: {e}")))
            })
            .transpose()
    }
    fn epss(&self, cve: &str) -> Result<Option<EpssScore>, DbError> {
        let Some(raw) = self.get(index::EPSS, cve.as_bytes())? else {
            return Ok(None);
        };
        let mut d = index::Dec::new(&raw);
        match (d.f64(), d.f64(), d.done()) {
            (Some(score), Some(percentile), true) => Ok(Some(EpssScore {
                cve: cve.to_owned(),
                score,
                percentile,
            })),
            _ => Err(index::corrupt(self.path(), &format!("epss {cve}"))),
        }
    }
}

/// Runs `f` inside one consistent read of `db` (see [`AdvisoryLookup::begin_read`]).
pub fn in_snapshot<T, E: From<DbError>>(
    db: &dyn AdvisoryLookup,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    db.begin_read()?;
    let out = f();
    db.end_read()?;
    out
}

/// Opens what a scan reads: the scan index when the store has one for this schema, else the
/// store itself. An index that cannot be opened (cut short, damaged header) is passed over: it
/// is only a faster copy, and the next import replaces it.
pub fn open_for_scan(dir: &Path) -> Result<Box<dyn AdvisoryLookup>, DbError> {
    if let Some(ix) = usable_scan_index(dir) {
        return Ok(Box::new(ix));
    }
    Ok(Box::new(VulnDb::open_existing(dir)?))
}

/// The scan index in `dir` if a scan would read it: it opens, and it was built for this store
/// schema by this index format. Anything else is passed over by scans and rebuilt by
/// [`VulnDb::refresh_scan_index`].
pub fn usable_scan_index(dir: &Path) -> Option<ScanIndex> {
    let ix = ScanIndex::open(dir).ok().flatten()?;
    let schema = ix.get(index::META, b"schema").ok().flatten();
    (schema.as_deref() == Some(schema::SCHEMA_VERSION.as_bytes())).then_some(ix)
}

/// What the heads table holds for an advisory (written by `VulnDb::fill_scan_index`); `None` if
/// malformed.
fn decode_head(raw: &[u8]) -> Option<AdvisoryHead> {
    let mut d = index::Dec::new(raw);
    let head = AdvisoryHead {
        id: d.string()?,
        source: d.string()?,
        kind: kind_from_text(d.str()?),
        summary: d.string()?,
        severity: d.str()?.parse().unwrap_or_default(),
        score: d.opt_f64()?,
        aliases: d.strings()?,
        url: d.opt_string()?,
    };
    d.done().then_some(head)
}

/// A package's entries in the index: per entry the advisory's row number, its kind and the
/// entry (see [`encode_entry`]); `None` if malformed.
fn decode_candidates(raw: &[u8], key: &PackageKey) -> Option<Vec<Candidate>> {
    let mut d = index::Dec::new(raw);
    let mut out = Vec::new();
    while !d.done() {
        let advisory = d.i64()?;
        let kind = kind_from_text(d.str()?);
        out.push(Candidate {
            advisory,
            kind,
            affected: decode_entry(&mut d)?.into_affected(key.clone()),
        });
    }
    Some(out)
}

fn encode_bound(e: &mut index::Enc, b: Option<&palisade_vulns::Bound>) {
    match b {
        None => e.u8(0),
        Some(b) => {
            e.u8(if b.inclusive { 2 } else { 1 });
            e.str(&b.version);
        }
    }
}

fn decode_bound(d: &mut index::Dec<'_>) -> Option<Option<palisade_vulns::Bound>> {
    let inclusive = match d.u8()? {
        0 => return Some(None),
        1 => false,
        2 => true,
        _ => return None,
    };
    Some(Some(palisade_vulns::Bound {
        version: d.string()?,
        inclusive,
    }))
}

fn encode_entry(e: &mut index::Enc, s: &StoredEntry) {
    e.u32(s.intervals.len() as u32);
    for i in &s.intervals {
        encode_bound(e, i.lower.as_ref());
        encode_bound(e, i.upper.as_ref());
    }
    e.strs(&s.versions);
    e.strs(&s.fixed);
    e.opt_str(s.last_known_affected.as_deref());
    e.strs(&s.skipped_ranges);
    e.opt_str(s.problem.as_deref());
    match &s.debian {
        None => e.u8(0),
        Some(d) => {
            e.u8(1);
            e.str(&d.status);
            e.str(&d.urgency);
            e.opt_str(d.nodsa.as_deref());
            e.opt_str(d.nodsa_reason.as_deref());
        }
    }
}

fn decode_entry(d: &mut index::Dec<'_>) -> Option<StoredEntry> {
    let n = d.u32()?;
    let mut intervals = Vec::new();
    for _ in 0..n {
        let lower = decode_bound(d)?;
        let upper = decode_bound(d)?;
        intervals.push(palisade_vulns::Interval { lower, upper });
    }
    Some(StoredEntry {
        intervals,
        versions: d.strings()?,
        fixed: d.strings()?,
        last_known_affected: d.opt_string()?,
        skipped_ranges: d.strings()?,
        problem: d.opt_string()?,
        debian: match d.u8()? {
            0 => None,
            1 => Some(palisade_vulns::DebianState {
                status: d.string()?,
                urgency: d.string()?,
                nodsa: d.opt_string()?,
                nodsa_reason: d.opt_string()?,
            }),
            _ => return None,
        },
    })
}

const HEAD_COLUMNS: &str = "id, source, kind, summary, severity, score, aliases, url";

/// The report columns as stored (kind, severity and aliases as text).
struct HeadColumns(
    String,
    String,
    String,
    String,
    String,
    Option<f64>,
    String,
    Option<String>,
);

/// The [`HEAD_COLUMNS`] of a row that has them from column `at` on.
fn head_columns_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<HeadColumns> {
    Ok(HeadColumns(
        r.get(at)?,
        r.get(at + 1)?,
        r.get(at + 2)?,
        r.get(at + 3)?,
        r.get(at + 4)?,
        r.get(at + 5)?,
        r.get(at + 6)?,
        r.get(at + 7)?,
    ))
}

impl HeadColumns {
    fn into_head(self) -> AdvisoryHead {
        let HeadColumns(id, source, kind, summary, severity, score, aliases, url) = self;
        AdvisoryHead {
            id,
            source,
            kind: kind_from_text(&kind),
            summary,
            severity: severity.parse().unwrap_or_default(),
            score,
            aliases: serde_json::from_str(&aliases).unwrap_or_default(),
            url,
        }
    }
}

/// Deletes the scan index of the store at `db_path` (the store's file), if there is one.
fn drop_scan_index(db_path: &Path) -> Result<(), DbError> {
    let path = db_path.with_file_name(INDEX_FILE);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(DbError::Io {
            path: path.display().to_string(),
            source: e,
        }),
        _ => Ok(()),
    }
}

impl VulnDb {
    /// Builds the scan index when the store has none a scan would read: it was never built, a
    /// write since deleted it, or it is damaged or of another format (an index written by an
    /// earlier release would otherwise be passed over by every scan until the store changed).
    /// True when it built one. Holds the store's write lock meanwhile, so no write can commit
    /// between what the index reads and its publication.
    pub fn refresh_scan_index(&mut self) -> Result<bool, DbError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        self.run(|c| c.execute_batch("BEGIN IMMEDIATE"))?;
        let built = if usable_scan_index(dir).is_some() {
            Ok(false)
        } else {
            self.write_scan_index(dir).map(|()| true)
        };
        // Nothing was written to the store: ending the transaction only releases the lock.
        self.run(|c| c.execute_batch("ROLLBACK"))?;
        built
    }

    /// Writes the scan index into `dir`, the store's folder.
    fn write_scan_index(&self, dir: &Path) -> Result<(), DbError> {
        let mut w = index::IndexWriter::create(dir)?;
        match self.fill_scan_index(&mut w) {
            Ok(()) => w.finish(&dir.join(INDEX_FILE)),
            Err(e) => {
                w.abandon();
                Err(e)
            }
        }
    }

    /// Runs `sql` (no parameters) and hands each row to `f`.
    fn each_row(
        &self,
        sql: &str,
        mut f: impl FnMut(&rusqlite::Row<'_>) -> Result<(), RowError>,
    ) -> Result<(), DbError> {
        let e = |source| self.err(source);
        let mut s = self.conn.prepare(sql).map_err(e)?;
        let mut rows = s.query([]).map_err(e)?;
        while let Some(r) = rows.next().map_err(e)? {
            f(r).map_err(|err| match err {
                RowError::Sql(source) => self.err(source),
                RowError::Db(db) => db,
            })?;
        }
        Ok(())
    }

    fn fill_scan_index(&self, w: &mut index::IndexWriter) -> Result<(), DbError> {
        // Tables in key order; SQLite's default (binary) collation orders text as bytes.
        let mut edges: std::collections::BTreeMap<String, Vec<(String, String, i64)>> =
            std::collections::BTreeMap::new();
        self.each_row("SELECT a, b, advisory FROM aliases", |r| {
            let (a, b, adv): (String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            edges
                .entry(b.clone())
                .or_default()
                .push((a.clone(), b.clone(), adv));
            edges.entry(a.clone()).or_default().push((a, b, adv));
            Ok(())
        })?;
        let mut t = w.table(index::ALIASES);
        for (id, mut list) in edges {
            list.sort();
            list.dedup();
            let mut v = index::Enc::default();
            for (a, b, adv) in &list {
                v.str(a);
                v.str(b);
                v.i64(*adv);
            }
            t.add(id.as_bytes(), &v.0)?;
        }
        t.finish()?;

        let mut t = w.table(index::EPSS);
        self.each_row(
            "SELECT cve, score, percentile FROM epss ORDER BY cve",
            |r| {
                let cve: String = r.get(0)?;
                let mut v = index::Enc::default();
                v.f64(r.get(1)?);
                v.f64(r.get(2)?);
                t.add(cve.as_bytes(), &v.0)?;
                Ok(())
            },
        )?;
        t.finish()?;

        // Only advisories a scan can reach: those with live affected entries.
        let mut t = w.table(index::HEADS);
        self.each_row(
            &format!(
                "SELECT rowid, {HEAD_COLUMNS} FROM advisories AS a WHERE EXISTS \
                 (SELECT 1 FROM affected AS f WHERE f.advisory = a.rowid) ORDER BY rowid"
            ),
            |r| {
                let rowid: i64 = r.get(0)?;
                let HeadColumns(id, source, kind, summary, severity, score, aliases, url) =
                    head_columns_at(r, 1)?;
                let mut v = index::Enc::default();
                v.str(&id);
                v.str(&source);
                v.str(&kind);
                v.str(&summary);
                v.str(&severity);
                v.opt_f64(score);
                v.strs(&serde_json::from_str::<Vec<String>>(&aliases).unwrap_or_default());
                v.opt_str(url.as_deref());
                // Big-endian, so that byte order is numeric order (row numbers are positive).
                t.add(&rowid.to_be_bytes(), &v.0)?;
                Ok(())
            },
        )?;
        t.finish()?;

        let mut t = w.table(index::KEV);
        self.each_row("SELECT cve, body FROM kev ORDER BY cve", |r| {
            let (cve, body): (String, String) = (r.get(0)?, r.get(1)?);
            t.add(cve.as_bytes(), body.as_bytes())?;
            Ok(())
        })?;
        t.finish()?;

        // A package's entries, all advisories, become one value.
        let mut t = w.table(index::PACKAGES);
        let mut current: Option<(String, index::Enc)> = None;
        self.each_row(
            "SELECT package, advisory, kind, entry FROM affected ORDER BY package, advisory, seq",
            |r| {
                let package: String = r.get(0)?;
                let advisory: i64 = r.get(1)?;
                let kind: String = r.get(2)?;
                let entry: String = r.get(3)?;
                let stored = self.stored_entry(&entry, advisory)?;
                if current.as_ref().is_some_and(|(p, _)| *p != package)
                    && let Some((p, v)) = current.take()
                {
                    t.add(p.as_bytes(), &v.0)?;
                }
                let (_, v) = current.get_or_insert_with(|| (package, index::Enc::default()));
                v.i64(advisory);
                v.str(&kind);
                encode_entry(v, &stored);
                Ok(())
            },
        )?;
        if let Some((p, v)) = current {
            t.add(p.as_bytes(), &v.0)?;
        }
        t.finish()?;

        // Last, so that its one block lies in the file's tail, which opening reads anyway.
        let mut t = w.table(index::META);
        let enrichment = if self.has_enrichment()? { "1" } else { "0" };
        t.add(b"enrichment", enrichment.as_bytes())?;
        t.add(b"generation", self.generation()?.as_bytes())?;
        t.add(b"last_change", self.last_change()?.to_string().as_bytes())?;
        t.add(b"schema", schema::SCHEMA_VERSION.as_bytes())?;
        t.finish()
    }
}

/// What a row handler of [`VulnDb::each_row`] can fail with: reading the row, or storing what it
/// made of it.
enum RowError {
    Sql(rusqlite::Error),
    Db(DbError),
}

impl From<rusqlite::Error> for RowError {
    fn from(e: rusqlite::Error) -> Self {
        RowError::Sql(e)
    }
}

impl From<DbError> for RowError {
    fn from(e: DbError) -> Self {
        RowError::Db(e)
    }
}

/// (position in the key list, advisory rowid, kind, stored entry).
fn candidate_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(usize, i64, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn source_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SourceState> {
    let ts = |v: Option<i64>| v.and_then(|m| Timestamp::from_microsecond(m).ok());
    Ok(SourceState {
        name: r.get(0)?,
        location: r.get(1)?,
        high_water: ts(r.get(2)?),
        etag: r.get(3)?,
        last_run: ts(r.get(4)?),
    })
}

/// Decodes a stored advisory body; a free function so that `upsert` can decode old records while
/// its transaction borrows the connection.
fn decode_body(
    dict: Option<&[u8]>,
    path: &Path,
    body: &[u8],
    what: &str,
) -> Result<Advisory, DbError> {
    let corrupt = |message: String| DbError::Corrupt {
        path: path.display().to_string(),
        message: format!("advisory {what}: {message}"),
    };
    let json = match body.split_first() {
        Some((&BODY_PLAIN, rest)) => zstd::stream::decode_all(rest),
        Some((&BODY_DICT, rest)) => match dict {
            Some(d) => zstd::stream::Decoder::with_dictionary(rest, d).and_then(|mut dec| {
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut dec, &mut out).map(|_| out)
            }),
            None => {
                return Err(corrupt(
                    "compressed with a dictionary the store lacks".into(),
                ));
            }
        },
        _ => return Err(corrupt("unknown body encoding".into())),
    }
    .map_err(|e| corrupt(e.to_string()))?;
    serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))
}
