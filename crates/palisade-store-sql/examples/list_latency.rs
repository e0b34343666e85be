//! Measures one store call in isolation: `list_sites` with a page of 50, sequentially and with 32
//! concurrent callers, against an existing SQLite file, and the same query through bare rusqlite.
//! Used to tell the store's cost from the web edge's when reading `scripts/bench-api.sh` results.
//!
//! Usage: `list_latency sqlite://PATH/palisade.db`

use std::time::Instant;

use palisade_store::{ListQuery, Store};

/// A `sites` row as raw columns.
type SiteTuple = (String, String, String, String, Option<i64>, i64, i64);
use palisade_store_sql::SqlStore;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .ok_or("usage: list_latency sqlite://PATH")?;
    // Sites hold no sealed field, so any keyring reads them.
    let keys = std::sync::Arc::new(palisade_keyring::LiveKeyring::fixed(
        palisade_keyring::Keyring::generate(),
    ));
    let store = std::sync::Arc::new(SqlStore::connect(&url, keys).await?);
    let q = ListQuery {
        limit: 50,
        ..Default::default()
    };
    let n = 5_000;
    let start = Instant::now();
    for _ in 0..n {
        store.list_sites(&q).await?;
    }
    let seq = start.elapsed();
    println!(
        "sequential: {:.1} µs per call",
        seq.as_secs_f64() * 1e6 / f64::from(n)
    );
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (store, q) = (store.clone(), q.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..n / 32 {
                store
                    .list_sites(&q)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let conc = start.elapsed();
    println!(
        "32 concurrent: {:.0} calls per second",
        f64::from(n / 32 * 32) / conc.as_secs_f64()
    );
    let path = url.trim_start_matches("sqlite://");
    let conn = rusqlite::Connection::open(path)?;
    let sql = "SELECT id, client_id, name, url, archived_at, created_at, updated_at FROM sites WHERE ($1 IS NULL OR client_id = $1) AND ($2 IS NULL OR id > $2) AND ($3 OR archived_at IS NULL) ORDER BY id LIMIT $4";
    let start = Instant::now();
    for _ in 0..n {
        let mut st = conn.prepare_cached(sql)?;
        let rows: Vec<SiteTuple> = st
            .query_map(
                rusqlite::params![Option::<String>::None, Option::<String>::None, false, 51i64],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )?
            .collect::<Result<_, _>>()?;
        assert_eq!(rows.len(), 51);
    }
    println!(
        "rusqlite sequential: {:.1} µs per call",
        start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
    Ok(())
}
