//! The local advisory store used by `palisade scan` and `palisade advisories`: one SQLite file in
//! a folder. Advisories are kept whole (compressed JSON of the normalised model) beside an index
//! from package key to each affected entry, so a scan reads only the entries for the packages it
//! has; aliases are kept as asserted edges, and KEV and EPSS as their own tables keyed by CVE.
//! Re-importing a record that did not change writes nothing.

mod load;
mod schema;

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use palisade_vulns::aliases::{AliasGraph, DEFAULT_GROUP_CAP};
use palisade_vulns::{Advisory, AdvisoryKind, Affected, EpssScore, KevEntry, PackageKey};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

pub use load::{ImportStats, Progress, import_path, scan_files};

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

/// The advisory store.
pub struct VulnDb {
    conn: Connection,
    path: PathBuf,
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
        let db = VulnDb { conn, path };
        db.run(schema::migrate)?;
        Ok(db)
    }

    /// Opens an existing store for reading; an absent store is an error that says how to fill it.
    pub fn open_existing(dir: &Path) -> Result<VulnDb, DbError> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            return Err(DbError::Missing(path.display().to_string()));
        }
        VulnDb::open(dir)
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
        let tx = self.conn.transaction().map_err(to_err)?;
        let mut stats = UpsertStats::default();
        {
            let mut find = tx
                .prepare_cached("SELECT rowid, hash FROM advisories WHERE source = ?1 AND id = ?2")
                .map_err(to_err)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO advisories (source, id, kind, modified, withdrawn, severity, \
                     score, summary, hash, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(to_err)?;
            let mut update = tx
                .prepare_cached(
                    "UPDATE advisories SET kind = ?2, modified = ?3, withdrawn = ?4, \
                     severity = ?5, score = ?6, summary = ?7, hash = ?8, body = ?9 \
                     WHERE rowid = ?1",
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
                    "INSERT INTO affected (package, advisory, entry) VALUES (?1, ?2, ?3)",
                )
                .map_err(to_err)?;
            let mut add_alias = tx
                .prepare_cached("INSERT INTO aliases (a, b, advisory) VALUES (?1, ?2, ?3)")
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
                let body = zstd::bulk::compress(&json, 3).map_err(|source| DbError::Io {
                    path: path.clone(),
                    source,
                })?;
                let severity = adv.severity_level().name();
                let score = adv.score();
                let modified = adv.modified.map(micros);
                let withdrawn = adv.withdrawn.map(micros);
                let kind = kind_text(&adv.kind);
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
                                hash,
                                body
                            ])
                            .map_err(to_err)?;
                        stats.inserted += 1;
                        tx.last_insert_rowid()
                    }
                };
                for a in &adv.affected {
                    let entry = serde_json::to_string(a).map_err(|e| DbError::Corrupt {
                        path: path.clone(),
                        message: format!("{}: cannot encode: {e}", adv.id),
                    })?;
                    add_affected
                        .execute(params![a.package.to_string(), rowid, entry])
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
        tx.commit().map_err(to_err)?;
        Ok(stats)
    }

    /// Every live (not withdrawn) affected entry for `key`.
    pub fn candidates(&self, key: &PackageKey) -> Result<Vec<Candidate>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT f.advisory, a.kind, f.entry FROM affected f \
                 JOIN advisories a ON a.rowid = f.advisory \
                 WHERE f.package = ?1 AND a.withdrawn IS NULL",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([key.to_string()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (advisory, kind, entry) = row.map_err(|e| self.err(e))?;
            let affected: Affected =
                serde_json::from_str(&entry).map_err(|e| DbError::Corrupt {
                    path: self.path.display().to_string(),
                    message: format!("affected entry of advisory {advisory}: {e}"),
                })?;
            out.push(Candidate {
                advisory,
                kind: kind_from_text(&kind),
                affected,
            });
        }
        Ok(out)
    }

    /// The advisory stored under `rowid`.
    pub fn advisory(&self, rowid: i64) -> Result<Advisory, DbError> {
        let body: Vec<u8> = self
            .conn
            .prepare_cached("SELECT body FROM advisories WHERE rowid = ?1")
            .and_then(|mut s| s.query_row([rowid], |r| r.get(0)))
            .map_err(|e| self.err(e))?;
        self.decode(&body, &rowid.to_string())
    }

    fn decode(&self, body: &[u8], what: &str) -> Result<Advisory, DbError> {
        let corrupt = |message: String| DbError::Corrupt {
            path: self.path.display().to_string(),
            message: format!("advisory {what}: {message}"),
        };
        let json = zstd::stream::decode_all(body).map_err(|e| corrupt(e.to_string()))?;
        serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))
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

    /// The alias group of `id`: every id reachable through asserted alias edges, capped as
    /// `AliasGraph` caps it.
    pub fn alias_group(&self, id: &str) -> Result<Vec<String>, DbError> {
        let mut graph = AliasGraph::with_cap(DEFAULT_GROUP_CAP);
        let mut seen = std::collections::HashSet::from([id.to_owned()]);
        let mut queue = vec![id.to_owned()];
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT a, b, advisory FROM aliases WHERE a = ?1 UNION \
                 SELECT a, b, advisory FROM aliases WHERE b = ?1",
            )
            .map_err(|e| self.err(e))?;
        // Walking stops well past the cap: a longer chain is exactly the bad data the cap is for.
        while let Some(next) = queue.pop() {
            if seen.len() > DEFAULT_GROUP_CAP * 4 {
                break;
            }
            let edges: Vec<(String, String, i64)> = stmt
                .query_map([&next], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(|rows| rows.collect())
                .map_err(|e| self.err(e))?;
            for (a, b, adv) in edges {
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

    /// Replaces the KEV catalogue (it is published whole).
    pub fn replace_kev(&mut self, entries: &[KevEntry]) -> Result<(), DbError> {
        let tx = self.conn.transaction().map_err(|e| DbError::Sqlite {
            path: self.path.display().to_string(),
            source: e,
        })?;
        let r = (|| {
            tx.execute("DELETE FROM kev", [])?;
            let mut s = tx.prepare("INSERT OR REPLACE INTO kev (cve, body) VALUES (?1, ?2)")?;
            for e in entries {
                let body = serde_json::to_string(e)
                    .map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))?;
                s.execute(params![e.cve, body])?;
            }
            Ok(())
        })();
        r.and_then(|()| tx.commit()).map_err(|e| self.err(e))
    }

    /// Replaces the EPSS scores (a daily file covers every CVE).
    pub fn replace_epss(
        &mut self,
        date: Option<&str>,
        scores: &[EpssScore],
    ) -> Result<(), DbError> {
        let tx = self.conn.transaction().map_err(|e| DbError::Sqlite {
            path: self.path.display().to_string(),
            source: e,
        })?;
        let r = (|| {
            tx.execute("DELETE FROM epss", [])?;
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
        })();
        r.and_then(|()| tx.commit()).map_err(|e| self.err(e))
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

    /// Rewrites the file compactly; worth it after a large import.
    pub fn vacuum(&self) -> Result<(), DbError> {
        self.run(|c| c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;"))
    }
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
