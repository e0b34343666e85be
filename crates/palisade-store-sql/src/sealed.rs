//! Encryption at rest, at the row boundary: sensitive columns are sealed with the keyring
//! (`palisade-keyring`) as rows are written and opened as they are read, so the rest of Palisade
//! only ever sees plaintext and the database only ever holds sealed text. Each sealed value's
//! associated data is `table.column/record id`, so a value copied to another field or record
//! does not open.
//!
//! Every table with sealed columns has a `key_version` column: the key version its sealed values
//! are under, `0` for rows written before encryption existed (plaintext, which the re-encryption
//! pass seals). Every write that touches a sealed column seals all of the row's sealed columns
//! with one keyring, so one number describes the row; that number is what `key_usage` counts and
//! what the re-encryption pass searches by, without opening anything.
//!
//! Sealed now: contacts' e-mail and phone, users' TOTP secrets, and ticket event bodies (messages
//! and reasons). Users' e-mail stays in clear:
//! it is the login name, looked up through `email_key` and kept unique there; sealing it would
//! need a keyed blind index whose key could never rotate without rehashing every login. Password
//! hashes and session and API token hashes are one-way already. A later sensitive column is one
//! entry in [`SEALED`] plus sealing in its writes and opening in its row's `unseal`.

use std::sync::Arc;

use palisade_keyring::{Keyring, KeyringError, LiveKeyring};
use palisade_store::{StoreError, StoreResult};

use crate::SqlStore;
use crate::reader::{Arg, Stmt, args};
use crate::rows::{KeyUsageRow, KeyVersionRow, SealedRow};

/// How a column stored its values before it was sealed (key version 0).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Legacy {
    /// The text itself.
    Text,
    /// Bytes as lowercase hex (the TOTP secret).
    Hex,
}

/// A table with sealed columns (at most two; the re-encryption query reads them as `v0`, `v1`).
#[derive(Debug)]
pub(crate) struct SealedTable {
    pub(crate) table: &'static str,
    pub(crate) columns: &'static [(&'static str, Legacy)],
}

pub(crate) const SEALED: &[SealedTable] = &[
    SealedTable {
        table: "contacts",
        columns: &[("email", Legacy::Text), ("phone", Legacy::Text)],
    },
    SealedTable {
        table: "users",
        columns: &[("totp_secret", Legacy::Hex)],
    },
    // Ticket messages and reasons: the whole event body, sealed from the first row on.
    SealedTable {
        table: "ticket_events",
        columns: &[("body", Legacy::Text)],
    },
    // E-mail (`mail.rs`): attachments' names and bytes, and rendered outbox e-mails.
    SealedTable {
        table: "ticket_attachments",
        columns: &[("filename", Legacy::Text), ("data", Legacy::Text)],
    },
    SealedTable {
        table: "mail_outbox",
        columns: &[("payload", Legacy::Text)],
    },
];

/// Rows per re-encryption batch of `t`: attachments are up to megabytes each, so a batch of them
/// is kept small enough to hold in memory.
fn batch_of(t: &SealedTable) -> i64 {
    if t.table == "ticket_attachments" {
        4
    } else {
        BATCH
    }
}

/// How many rows, and how many sealed values in them, are under one key version of one table.
/// Version 0 is plaintext written before encryption at rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUsage {
    pub table: &'static str,
    pub version: u32,
    pub records: u64,
    pub values: u64,
}

/// What a re-encryption pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reencrypted {
    /// Rows rewritten under the newest key (a row changed by someone else meanwhile is skipped:
    /// that write sealed it afresh).
    pub records: u64,
    /// The key version everything was sealed under.
    pub version: u32,
}

/// The associated data of a sealed field.
pub(crate) fn context(table: &str, column: &str, id: &str) -> String {
    format!("{table}.{column}/{id}")
}

/// Seals one field value with `ring` (a whole row is sealed with one ring, so one version).
pub(crate) fn seal(ring: &Keyring, table: &str, column: &str, id: &str, value: &[u8]) -> String {
    ring.seal(value, &context(table, column, id))
}

fn corrupt(table: &str, column: &str, id: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{table}.{column} of {id}: {e}"))
}

/// Opens a stored field value: plaintext as written before sealing when the row's key version is
/// 0, a sealed value otherwise.
pub(crate) fn open(
    keys: &LiveKeyring,
    (table, column, legacy): (&str, &str, Legacy),
    id: &str,
    key_version: i64,
    stored: &str,
) -> StoreResult<Vec<u8>> {
    if key_version == 0 {
        return match legacy {
            Legacy::Text => Ok(stored.as_bytes().to_vec()),
            Legacy::Hex => hex::decode(stored).map_err(|e| corrupt(table, column, id, e)),
        };
    }
    keys.open(stored, &context(table, column, id))
        .map(|plain| plain.to_vec())
        .map_err(|e: KeyringError| corrupt(table, column, id, e))
}

/// [`open`] for a text column.
pub(crate) fn open_text(
    keys: &LiveKeyring,
    table: &str,
    column: &str,
    id: &str,
    key_version: i64,
    stored: &str,
) -> StoreResult<String> {
    let bytes = open(keys, (table, column, Legacy::Text), id, key_version, stored)?;
    String::from_utf8(bytes).map_err(|e| corrupt(table, column, id, e))
}

/// Rows read per re-encryption batch, each batch written in one transaction.
const BATCH: i64 = 200;

impl SqlStore {
    /// The keyring this store seals and opens with.
    pub fn keyring(&self) -> &Arc<LiveKeyring> {
        &self.keys
    }

    /// How many rows and sealed values of each table are under each key version (0: plaintext
    /// from before encryption at rest). Counted from `key_version`, nothing is opened.
    pub async fn key_usage(&self) -> StoreResult<Vec<KeyUsage>> {
        let mut out = Vec::new();
        for t in SEALED {
            let values: Vec<String> = t
                .columns
                .iter()
                .map(|(c, _)| format!("COUNT({c})"))
                .collect();
            let sql = format!(
                "SELECT key_version, COUNT(*) AS records, {} AS sealed FROM {} \
                 GROUP BY key_version ORDER BY key_version",
                values.join(" + "),
                t.table
            );
            let rows: Vec<KeyUsageRow> = self.read_all(&sql, Vec::new()).await?;
            for r in rows {
                out.push(KeyUsage {
                    table: t.table,
                    version: u32::try_from(r.key_version).map_err(|_| {
                        StoreError::Corrupt(format!("{}.key_version {}", t.table, r.key_version))
                    })?,
                    records: u64::try_from(r.records).unwrap_or(0),
                    values: u64::try_from(r.sealed).unwrap_or(0),
                });
            }
        }
        Ok(out)
    }

    /// Opens one sealed value under each key version in use, so a keyring with the right version
    /// numbers but the wrong keys (another installation's file) is noticed at start rather than
    /// at the first read of each record. The error names the table, column, record and version.
    pub async fn probe_keys(&self) -> StoreResult<()> {
        for t in SEALED {
            let any_sealed: Vec<String> = t
                .columns
                .iter()
                .map(|(c, _)| format!("{c} IS NOT NULL"))
                .collect();
            let sql = format!(
                "SELECT DISTINCT key_version FROM {} WHERE key_version > 0 AND ({})",
                t.table,
                any_sealed.join(" OR ")
            );
            let versions: Vec<KeyVersionRow> = self.read_all(&sql, Vec::new()).await?;
            for v in versions {
                let sql = format!(
                    "SELECT id, key_version, {} FROM {} WHERE key_version = $1 AND ({}) LIMIT 1",
                    sealed_columns(t),
                    t.table,
                    any_sealed.join(" OR ")
                );
                let rows: Vec<SealedRow> = self.read_all(&sql, args![v.key_version]).await?;
                for row in rows {
                    for ((column, legacy), value) in t.columns.iter().zip([&row.v0, &row.v1]) {
                        if let Some(value) = value {
                            open(
                                &self.keys,
                                (t.table, *column, *legacy),
                                &row.id,
                                row.key_version,
                                value,
                            )?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Rewrites every row whose sealed values are under a key older than the newest (or are
    /// plaintext from before encryption at rest) under the newest key, in batches of one
    /// transaction each. Safe beside live traffic and other passes: each row is rewritten only if
    /// its sealed values are still those that were read. Resumable by running it again, since the
    /// progress is the rows' own `key_version`. `progress` hears each batch: table and rows done.
    pub async fn reencrypt(
        &self,
        progress: &mut (dyn FnMut(&'static str, u64) + Send),
    ) -> StoreResult<Reencrypted> {
        let mut done = Reencrypted::default();
        for t in SEALED {
            let mut after: Option<String> = None;
            loop {
                // The keyring may have been reloaded with a newer key meanwhile: the pass then
                // moves on to it, and rows already done at the older one are picked up by the
                // next pass.
                let ring = self.keys.current();
                let newest = i64::from(ring.newest());
                done.version = ring.newest();
                let rows: Vec<SealedRow> = self
                    .read_all(&reencrypt_select(t), args![newest, &after, batch_of(t)])
                    .await?;
                let Some(last) = rows.last() else { break };
                after = Some(last.id.clone());
                let n = rows.len() as u64;
                let mut statements = Vec::with_capacity(rows.len());
                for row in rows {
                    statements.push(self.reseal(t, &ring, row)?);
                }
                self.write_tx(statements).await?;
                done.records += n;
                progress(t.table, n);
            }
        }
        Ok(done)
    }

    /// The compare-and-swap update that re-seals one row under `ring`'s newest key.
    fn reseal(&self, t: &SealedTable, ring: &Keyring, row: SealedRow) -> StoreResult<Stmt> {
        let stored = [row.v0, row.v1];
        let mut fresh: Vec<Arg> = Vec::new();
        for ((column, legacy), value) in t.columns.iter().zip(&stored) {
            fresh.push(Arg::Text(match value {
                Some(v) => {
                    let plain = open(
                        &self.keys,
                        (t.table, *column, *legacy),
                        &row.id,
                        row.key_version,
                        v,
                    )?;
                    Some(seal(ring, t.table, column, &row.id, &plain))
                }
                None => None,
            }));
        }
        let mut args = fresh;
        args.push(Arg::from(i64::from(ring.newest())));
        args.push(Arg::from(row.id.clone()));
        args.push(Arg::from(row.key_version));
        for value in stored.into_iter().take(t.columns.len()) {
            args.push(Arg::Text(value));
        }
        Ok(Stmt::new(reencrypt_update(t), args))
    }
}

/// `v0`, `v1`: the table's sealed columns, NULL where it has fewer.
fn sealed_columns(t: &SealedTable) -> String {
    let cols: Vec<String> = (0..2)
        .map(|i| match t.columns.get(i) {
            Some((c, _)) => format!("{c} AS v{i}"),
            None => format!("CAST(NULL AS TEXT) AS v{i}"),
        })
        .collect();
    cols.join(", ")
}

fn reencrypt_select(t: &SealedTable) -> String {
    format!(
        "SELECT id, key_version, {} FROM {} WHERE key_version < $1 AND ($2 IS NULL OR id > $2) \
         ORDER BY id LIMIT $3",
        sealed_columns(t),
        t.table
    )
}

/// `SET c = $1, … , key_version = $k WHERE id = $k+1 AND key_version = $k+2 AND c IS NOT
/// DISTINCT FROM $…`: the old values are part of the condition because a random nonce makes
/// every sealing different, so any write since the read shows as a changed value.
fn reencrypt_update(t: &SealedTable) -> String {
    let n = t.columns.len();
    let set: Vec<String> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{c} = ${}", i + 1))
        .collect();
    let same: Vec<String> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!(" AND {c} IS NOT DISTINCT FROM ${}", n + 4 + i))
        .collect();
    format!(
        "UPDATE {} SET {}, key_version = ${} WHERE id = ${} AND key_version = ${}{}",
        t.table,
        set.join(", "),
        n + 1,
        n + 2,
        n + 3,
        same.join("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::placeholders_in_order;

    #[test]
    fn reencryption_statements_number_their_placeholders_in_order() {
        for t in SEALED {
            assert!(
                t.columns.len() <= 2,
                "{} has too many sealed columns",
                t.table
            );
            assert!(placeholders_in_order(&reencrypt_select(t)));
            let update = reencrypt_update(t);
            assert!(placeholders_in_order(&update), "{update}");
        }
        assert_eq!(
            reencrypt_update(&SEALED[0]),
            "UPDATE contacts SET email = $1, phone = $2, key_version = $3 WHERE id = $4 \
             AND key_version = $5 AND email IS NOT DISTINCT FROM $6 AND phone IS NOT DISTINCT FROM $7"
        );
    }
}
