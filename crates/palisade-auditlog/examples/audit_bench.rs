//! The audit log's three figures (BENCHMARKS.md, "Audit log (issue 5)"), on the SQLite default:
//!
//! - `append`: durable appends per second with hash chaining, through [`AuditLog`] with many
//!   concurrent callers each awaiting `record()` and through `append_audit` batches directly; the
//!   reference in the same run is `SqlStore::insert_audit_rows_unchained` of the same rows, already
//!   chained in memory, in batches of the same sizes (both commit with `synchronous = FULL`). Every
//!   run starts from an empty database, or from a copy of one base log.
//! - `fill` then `verify`: a database of 10 million events sealed every 100,000, then
//!   `check::verify_store` over it, the store's read path alone, a bare rusqlite scan of the same
//!   rows, the store's leaf read path alone, and the pure `Verifier` over events in memory. The fill also writes every event's canonical bytes to `canonical.bin`, for `sha256sum`
//!   as the reference.
//! - `ship`: events at a steady rate through `AuditLog`, a shipper every N seconds to a folder or to
//!   an S3 API (s3s-fs on loopback); the lag of each event is the last-modified time of the object
//!   that holds it (its file's modification time, which both backends report as such) minus the
//!   event's `at`.
//!
//! Usage (`scripts/bench-audit.sh` runs them all):
//! - `audit_bench append DIR [--events N] [--secs S] [--tasks 64,256,1024]
//!   [--batches 1,10,100,1000,8192] [--base N] [--what-if 'actor_bucket,at:1000,8192;…']
//!   [--before-tasks 1024] [--before-batches 8192]`: `--base` starts every run from a copy of a
//!   log of N events; `--what-if` repeats the batch runs with those search indexes dropped;
//!   `--before-*` repeat those runs with the search indexes of migration 0003 instead of 0006;
//! - `audit_bench fill DIR [--events N] [--seal-every N]`;
//! - `audit_bench verify DIR [--memory N] [--only store]` (`--only` for profiling);
//! - `audit_bench search DIR [--events N]`: search latency on a log of N events with the search
//!   indexes of migration 0006 (the product's `search_audit`) and, on a copy, with those of 0003
//!   and the query `search_audit` ran then;
//! - `audit_bench ship DIR [--rate R] [--secs S] [--interval S] [--clients N] [--s3]`;
//! - `audit_bench probe DIR [--s3] [--n N] [--size BYTES]`: latency of single PUTs and GETs.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use palisade_audit::event::{chain, link};
use palisade_audit::{ChainedEvent, Event, EventKind, Hash, SigningKey, Verifier, VerifyingKey};
use palisade_auditlog::check::{store_digests, verify_store};
use palisade_auditlog::seal::seal_once;
use palisade_auditlog::ship::read_lines;
use palisade_auditlog::{AuditKeys, AuditLog, Bucket, BucketConfig, Shipper};
use palisade_core::AuditEventId;
use palisade_store::AuditStore;
use palisade_store_sql::SqlStore;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Longest time allowed between two digests when verifying (the fill seals on a synthetic clock).
const MAX_GAP: i64 = 3_600_000_000;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(cmd), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: audit_bench append|fill|verify|ship|probe DIR [options]  (see the module documentation)"
        );
        std::process::exit(2);
    };
    let opts = Opts(args[2..].to_vec());
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cmd.as_str() {
            "append" => append(&dir, &opts).await,
            "fill" => fill(&dir, &opts).await,
            "verify" => verify(&dir, &opts).await,
            "ship" => ship(&dir, &opts).await,
            "probe" => probe(&dir, &opts).await,
            "search" => search(&dir, &opts).await,
            other => Err(format!("unknown command {other}").into()),
        }
    })
}

struct Opts(Vec<String>);

impl Opts {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1))
            .map(String::as_str)
    }
    fn num(&self, name: &str, default: u64) -> u64 {
        self.get(name)
            .map(|v| v.replace('_', "").parse().expect("a number"))
            .unwrap_or(default)
    }
    fn list(&self, name: &str, default: &[u64]) -> Vec<u64> {
        self.get(name).map_or_else(
            || default.to_vec(),
            |v| {
                v.split(',')
                    .filter(|x| !x.is_empty())
                    .map(|x| x.parse().expect("a number"))
                    .collect()
            },
        )
    }
    fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

async fn open(dir: &Path) -> Res<SqlStore> {
    std::fs::create_dir_all(dir)?;
    let keys = Arc::new(palisade_keyring::LiveKeyring::fixed(
        palisade_keyring::Keyring::generate(),
    ));
    let url = format!("sqlite://{}", dir.join("palisade.db").display());
    let store = SqlStore::connect(&url, keys).await?;
    store.migrate().await?;
    Ok(store)
}

/// Realistic request events: a few thousand users and tokens, two hundred clients (a tenth of the
/// events concern no client), twenty thousand objects, details of about 200 bytes.
struct Gen {
    state: u64,
    users: Vec<String>,
    clients: Vec<String>,
    objects: Vec<String>,
}

const ROUTES: [(&str, &str, &str); 6] = [
    ("GET", "/api/v1/sites/{id}", "sites"),
    ("GET", "/api/v1/findings", "findings"),
    (
        "POST",
        "/api/v1/environments/{id}/inventory",
        "environments",
    ),
    ("PATCH", "/api/v1/tickets/{id}", "tickets"),
    ("GET", "/api/v1/clients/{id}/dashboard", "clients"),
    ("DELETE", "/api/v1/tokens/{id}", "tokens"),
];

impl Gen {
    fn new(seed: u64, clients: usize) -> Self {
        let uuid = |_| AuditEventId::new().to_string();
        Self {
            state: seed | 1,
            users: (0..2000)
                .map(|i| {
                    if i % 10 == 0 {
                        format!("token:{}", uuid(i))
                    } else {
                        format!("user:{}", uuid(i))
                    }
                })
                .collect(),
            clients: (0..clients).map(uuid).collect(),
            objects: (0..20_000).map(|i| format!("site:{}", uuid(i))).collect(),
        }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic and cheap.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl Gen {
    /// One request event at `at`.
    fn ev(&mut self, at: i64) -> Event {
        let r = self.next();
        let (method, route, kind) = ROUTES[(r % ROUTES.len() as u64) as usize];
        let o = (self.next() % self.objects.len() as u64) as usize;
        let u = (self.next() % self.users.len() as u64) as usize;
        let c = (self.next() % self.clients.len() as u64) as usize;
        let ip = self.next();
        let object = &self.objects[o];
        let id = &object[5..];
        let status = [200, 200, 200, 201, 204, 304, 403, 404][((r >> 8) % 8) as usize];
        let data = format!(
            concat!(
                r#"{{"method":"{}","route":"{}","path":"{}","status":{},"#,
                r#""latency_us":{},"bytes_out":{},"ip":"hmac:{:016x}","ua":"palisade-cli/0.1 ({})"}}"#
            ),
            method,
            route,
            route.replace("{id}", id),
            status,
            200 + (r >> 16) % 20_000,
            (r >> 32) % 65_536,
            ip,
            kind,
        );
        let mut e = Event::new(at, EventKind::Request, "http.request")
            .actor(self.users[u].clone())
            .client((!r.is_multiple_of(10)).then(|| self.clients[c].clone()))
            .object(object.clone())
            .request(Some(AuditEventId::new().to_string()));
        e.data = data;
        e
    }
}

fn describe(events: &[Event]) -> String {
    let n = events.len().max(1);
    let data: usize = events.iter().map(|e| e.data.len()).sum();
    let mut scratch = Vec::new();
    let canon: usize = events
        .iter()
        .map(|e| {
            e.canonical_bytes(&mut scratch);
            scratch.len()
        })
        .sum();
    format!(
        "events: action http.request, data {} bytes mean, canonical bytes {} mean; e.g. {}",
        data / n,
        canon / n,
        serde_json::to_string(&events[0]).unwrap_or_default()
    )
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn dist(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "n={} p50={:.2} p95={:.2} p99={:.2} max={:.2}",
        v.len(),
        pct(&v, 0.5),
        pct(&v, 0.95),
        pct(&v, 0.99),
        v.last().copied().unwrap_or(f64::NAN)
    )
}

// ---------------------------------------------------------------------------------------------
// 1. Appends

/// What a run cost the process: bytes it sent to the disk (`/proc/self/io`, `write_bytes`) and CPU
/// seconds of all its threads (`/proc/self/stat`, user + system, at 100 ticks a second).
#[derive(Clone, Copy, Default)]
struct Cost {
    disk: u64,
    cpu: f64,
}

impl Cost {
    fn now() -> Self {
        let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
        let disk = io
            .lines()
            .find_map(|l| l.strip_prefix("write_bytes:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the command name, which is in parentheses: utime and stime are 14 and 15.
        let rest = stat.rsplit(')').next().unwrap_or_default();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Self {
            disk,
            cpu: (ticks(11) + ticks(12)) as f64 / 100.0,
        }
    }

    fn since(self, before: Cost) -> Cost {
        Cost {
            disk: self.disk.saturating_sub(before.disk),
            cpu: self.cpu - before.cpu,
        }
    }
}

struct Run {
    events: u64,
    secs: f64,
    cost: Cost,
}

impl Run {
    fn rate(&self) -> f64 {
        self.events as f64 / self.secs
    }

    /// `N events in S s = R events/s; disk K KB/event, CPU C µs/event (U % of one core)`.
    fn text(&self) -> String {
        let n = self.events.max(1) as f64;
        format!(
            "{} events in {:.2} s = {:.0} events/s; written to disk {:.1} KB/event, CPU {:.1} µs/event ({:.0} % of a core)",
            self.events,
            self.secs,
            self.rate(),
            self.cost.disk as f64 / n / 1000.0,
            self.cost.cpu / n * 1e6,
            self.cost.cpu / self.secs * 100.0
        )
    }
}

async fn fresh(dir: &Path, name: &str) -> Res<(SqlStore, PathBuf)> {
    let d = dir.join(name);
    if d.exists() {
        std::fs::remove_dir_all(&d)?;
    }
    // Let the disk settle after the previous run's files.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base = BASE.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(template) = base {
        std::fs::create_dir_all(&d)?;
        std::fs::copy(template.join("palisade.db"), d.join("palisade.db"))?;
    }
    let store = open(&d).await?;
    let drop = WITHOUT_INDEXES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if BEFORE_0006.load(Ordering::Relaxed) {
        // Before: the randomly keyed search indexes of migration 0003 instead of 0006's.
        let c = rusqlite::Connection::open(d.join("palisade.db"))?;
        c.execute_batch(INDEXES_0003)?;
    }
    if !drop.is_empty() {
        // What-if: the table without some of its search indexes (the primary key and the unique
        // id stay), to measure what they cost each append.
        let c = rusqlite::Connection::open(d.join("palisade.db"))?;
        for name in drop {
            c.execute_batch(&format!("DROP INDEX audit_events_{name}"))?;
        }
    }
    Ok((store, d))
}

/// Whether runs use the search indexes of migration 0003 (before 0006).
static BEFORE_0006: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Migration 0006 undone: its bucketed indexes replaced by 0003's.
const INDEXES_0003: &str = "DROP INDEX audit_events_client_bucket;
    DROP INDEX audit_events_actor_bucket;
    DROP INDEX audit_events_object_bucket;
    CREATE INDEX audit_events_client ON audit_events (client_id, seq) WHERE client_id IS NOT NULL;
    CREATE INDEX audit_events_actor ON audit_events (actor, seq) WHERE actor IS NOT NULL;
    CREATE INDEX audit_events_object ON audit_events (object, seq) WHERE object IS NOT NULL;";

/// The database every run starts from a copy of, when not empty.
static BASE: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

/// Drops the search indexes of `audit_events` and returns the statements that create them again,
/// exactly as the migration wrote them.
fn drop_search_indexes(db: &Path) -> Res<Vec<String>> {
    let c = rusqlite::Connection::open(db)?;
    let found: Vec<(String, String)> = c
        .prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' \
             AND sql IS NOT NULL ORDER BY name",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, _) in &found {
        c.execute_batch(&format!("DROP INDEX {name}"))?;
    }
    Ok(found.into_iter().map(|(_, sql)| sql).collect())
}

/// Creates indexes again and folds the log into the database file.
fn create_indexes(db: &Path, statements: &[String]) -> Res<()> {
    let c = rusqlite::Connection::open(db)?;
    c.pragma_update(None, "cache_size", -262_144)?;
    for sql in statements {
        c.execute_batch(sql)?;
    }
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

/// A log of `n` events to start runs from, so that appends land in indexes of a realistic size.
/// Filled through `append_audit` without the search indexes, which are created afterwards.
async fn build_base(dir: &Path, n: u64) -> Res<(u64, Hash)> {
    let d = dir.join("base");
    if d.exists() {
        std::fs::remove_dir_all(&d)?;
    }
    let store = open(&d).await?;
    let db = d.join("palisade.db");
    let indexes = drop_search_indexes(&db)?;
    let mut g = Gen::new(99, 200);
    let t0 = now_micros() - 3_600_000_000;
    let mut i = 0;
    while i < n {
        let k = 10_000.min(n - i);
        let batch = (i..i + k).map(|j| g.ev(t0 + j as i64 * 500)).collect();
        store.append_audit(batch).await?;
        i += k;
    }
    let head = store.audit_head().await?;
    drop(store);
    create_indexes(&db, &indexes)?;
    *BASE.lock().unwrap_or_else(|e| e.into_inner()) = Some(d);
    Ok(head)
}

/// The search indexes the what-if runs drop (`client_bucket`, `actor_bucket`, `object_bucket`,
/// `at`).
static WITHOUT_INDEXES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Unchained inserts of already chained rows, `batch` at a time, until `n` rows or `limit`.
async fn run_unchained(
    dir: &Path,
    rows: &[ChainedEvent],
    batch: usize,
    limit: Duration,
) -> Res<Run> {
    let (store, d) = fresh(dir, "unchained").await?;
    let before = Cost::now();
    let start = Instant::now();
    let mut done = 0;
    for chunk in rows.chunks(batch) {
        store.insert_audit_rows_unchained(chunk.to_vec()).await?;
        done += chunk.len() as u64;
        if start.elapsed() > limit {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let cost = Cost::now().since(before);
    drop(store);
    std::fs::remove_dir_all(d)?;
    Ok(Run {
        events: done,
        secs,
        cost,
    })
}

/// Chained appends through `append_audit`, `batch` at a time, from one caller.
async fn run_direct(dir: &Path, pool: &[Event], batch: usize, limit: Duration) -> Res<Run> {
    let (store, d) = fresh(dir, "direct").await?;
    let (h0, _) = store.audit_head().await?;
    let before = Cost::now();
    let start = Instant::now();
    let mut done = 0;
    for chunk in pool.chunks(batch) {
        let chained = store.append_audit(chunk.to_vec()).await?;
        done += chained.len() as u64;
        if start.elapsed() > limit {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let cost = Cost::now().since(before);
    let (head, _) = store.audit_head().await?;
    assert_eq!(head - h0, done, "every append is in the chain");
    drop(store);
    std::fs::remove_dir_all(d)?;
    Ok(Run {
        events: done,
        secs,
        cost,
    })
}

/// `tasks` callers, each awaiting `AuditLog::record` for its share of the pool in turn. Returns the
/// run, the number of commits and each call's latency in milliseconds.
async fn run_log(
    dir: &Path,
    pool: &[Event],
    tasks: usize,
    limit: Duration,
) -> Res<(Run, u64, Vec<f64>, Vec<ChainedEvent>)> {
    let (store, d) = fresh(dir, "log").await?;
    let (h0, _) = store.audit_head().await?;
    let log = AuditLog::start(Arc::new(store.clone()), &AuditKeys::ephemeral());
    let mut shares: Vec<Vec<Event>> = (0..tasks).map(|_| Vec::new()).collect();
    for (i, e) in pool.iter().enumerate() {
        shares[i % tasks].push(e.clone());
    }
    let before = Cost::now();
    let start = Instant::now();
    let deadline = start + limit;
    let mut set = tokio::task::JoinSet::new();
    for share in shares {
        let log = log.clone();
        set.spawn(async move {
            let mut lat = Vec::with_capacity(share.len());
            for e in share {
                let t = Instant::now();
                log.record(e).await.expect("recorded");
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                if Instant::now() > deadline {
                    break;
                }
            }
            lat
        });
    }
    let mut lat = Vec::with_capacity(pool.len());
    while let Some(r) = set.join_next().await {
        lat.extend(r?);
    }
    let secs = start.elapsed().as_secs_f64();
    let cost = Cost::now().since(before);
    let events = lat.len() as u64;
    let stats = log.stats();
    assert_eq!(stats.appended.load(Ordering::Relaxed), events);
    let commits = stats.commits.load(Ordering::Relaxed);
    let (head, _) = store.audit_head().await?;
    assert_eq!(
        head - h0,
        events,
        "every acknowledged event is in the chain"
    );
    // The rows as the appender wrote them, in its order: concurrent callers interleave, so the
    // log's order is not the pool's.
    let mut logged = Vec::with_capacity(events as usize);
    while (logged.len() as u64) < events {
        let from = h0 + 1 + logged.len() as u64;
        let page = store.audit_events_from(from, 10_000).await?;
        if page.is_empty() {
            break;
        }
        logged.extend(page);
    }
    drop(log);
    drop(store);
    std::fs::remove_dir_all(d)?;
    Ok((Run { events, secs, cost }, commits, lat, logged))
}

/// Reads the whole log a page at a time from sequence number 1 (each page from the one after the
/// last it got), returning how many items it read.
async fn read_pages<T, Fut>(mut fetch: impl FnMut(u64) -> Fut, seq: impl Fn(&T) -> u64) -> Res<u64>
where
    Fut: std::future::Future<Output = palisade_store::StoreResult<Vec<T>>>,
{
    let mut next = 1;
    let mut n = 0u64;
    loop {
        let page = fetch(next).await?;
        let Some(last) = page.last().map(&seq) else {
            return Ok(n);
        };
        n += page.len() as u64;
        next = last + 1;
    }
}

async fn append(dir: &Path, o: &Opts) -> Res<()> {
    let n = o.num("--events", 400_000) as usize;
    let limit = Duration::from_secs(o.num("--secs", 8));
    let tasks = o.list("--tasks", &[64, 256, 1024]);
    let batches = o.list("--batches", &[1, 10, 100, 1000, 8192]);
    let mut g = Gen::new(7, 200);
    let t0 = now_micros();
    let pool: Vec<Event> = (0..n).map(|i| g.ev(t0 + i as i64 * 20)).collect();
    let base = o.num("--base", 0);
    let start_head = if base > 0 {
        let t = Instant::now();
        let head = build_base(dir, base).await?;
        println!(
            "base log: {base} events (built in {:.0} s); every run starts from a copy of it",
            t.elapsed().as_secs_f64()
        );
        head
    } else {
        (0, Hash::GENESIS)
    };
    // The reference inserts the same rows, chained in memory after the same head.
    let rows = chain(start_head, pool.clone());
    println!("{}", describe(&pool));
    println!(
        "each run: {} SQLite database (WAL; every commit synced, synchronous = FULL), up to {n} events or {} s",
        if base > 0 {
            "a copy of the base"
        } else {
            "an empty"
        },
        limit.as_secs()
    );
    let mut table = Vec::new();
    for &t in &tasks {
        let (run, commits, lat, logged) = run_log(dir, &pool, t as usize, limit).await?;
        let mean = run.events as f64 / commits.max(1) as f64;
        println!(
            "chained  AuditLog::record, {t} tasks: {}; {commits} commits, mean batch {mean:.1}; record() latency ms {}",
            run.text(),
            dist(lat)
        );
        let b = mean.round().max(1.0) as usize;
        let reference = run_unchained(dir, &rows, b, limit).await?;
        println!(
            "plain    insert_audit_rows_unchained, batches of {b}: {}",
            reference.text()
        );
        // The same rows in the order the log holds them: the callers' interleaving puts event
        // times slightly out of order, which costs the time index page splits that rows in time
        // order do not pay.
        let same_order = run_unchained(dir, &logged, b, limit).await?;
        println!(
            "plain    insert_audit_rows_unchained, the log's rows in the log's order, batches of {b}: {}",
            same_order.text()
        );
        table.push((
            format!("`AuditLog::record`, {t} tasks (mean batch {mean:.0})"),
            run.rate(),
            reference.rate(),
        ));
        table.push((
            format!("`AuditLog::record`, {t} tasks, against the same rows in the log's order"),
            run.rate(),
            same_order.rate(),
        ));
    }
    for &b in &batches {
        let reference = run_unchained(dir, &rows, b as usize, limit).await?;
        println!(
            "plain    insert_audit_rows_unchained, batches of {b}: {}",
            reference.text()
        );
        let run = run_direct(dir, &pool, b as usize, limit).await?;
        println!("chained  append_audit, batches of {b}: {}", run.text());
        table.push((
            format!("`append_audit`, batches of {b}"),
            run.rate(),
            reference.rate(),
        ));
    }
    for what_if in o.get("--what-if").unwrap_or_default().split(';') {
        // `actor,object:8192,1000`: drop those indexes, run those batch sizes.
        let Some((names, sizes)) = what_if.split_once(':') else {
            continue;
        };
        let names: Vec<String> = names.split(',').map(str::to_owned).collect();
        *WITHOUT_INDEXES.lock().unwrap_or_else(|e| e.into_inner()) = names.clone();
        let label = format!("without the {} index(es)", names.join(", "));
        for b in sizes.split(',').map(|x| x.parse::<usize>()) {
            let b = b?;
            let reference = run_unchained(dir, &rows, b, limit).await?;
            println!(
                "plain    insert_audit_rows_unchained, {label}, batches of {b}: {}",
                reference.text()
            );
            let run = run_direct(dir, &pool, b, limit).await?;
            println!(
                "chained  append_audit, {label}, batches of {b}: {}",
                run.text()
            );
            table.push((
                format!("what-if {label}: `append_audit`, batches of {b}"),
                run.rate(),
                reference.rate(),
            ));
        }
        WITHOUT_INDEXES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
    let before_tasks = o.list("--before-tasks", &[]);
    let before_batches = o.list("--before-batches", &[]);
    BEFORE_0006.store(true, Ordering::Relaxed);
    for &t in &before_tasks {
        let (run, commits, lat, _) = run_log(dir, &pool, t as usize, limit).await?;
        let mean = run.events as f64 / commits.max(1) as f64;
        println!(
            "chained  AuditLog::record, 0003's indexes, {t} tasks: {}; {commits} commits, mean batch {mean:.1}; record() latency ms {}",
            run.text(),
            dist(lat)
        );
        let b = mean.round().max(1.0) as usize;
        let reference = run_unchained(dir, &rows, b, limit).await?;
        println!(
            "plain    insert_audit_rows_unchained, 0003's indexes, batches of {b}: {}",
            reference.text()
        );
        table.push((
            format!(
                "before (0003's indexes): `AuditLog::record`, {t} tasks (mean batch {mean:.0})"
            ),
            run.rate(),
            reference.rate(),
        ));
    }
    for &b in &before_batches {
        let reference = run_unchained(dir, &rows, b as usize, limit).await?;
        println!(
            "plain    insert_audit_rows_unchained, 0003's indexes, batches of {b}: {}",
            reference.text()
        );
        let run = run_direct(dir, &pool, b as usize, limit).await?;
        println!(
            "chained  append_audit, 0003's indexes, batches of {b}: {}",
            run.text()
        );
        table.push((
            format!("before (0003's indexes): `append_audit`, batches of {b}"),
            run.rate(),
            reference.rate(),
        ));
    }
    BEFORE_0006.store(false, Ordering::Relaxed);
    println!("\n| path | chained events/s | plain inserts events/s | ratio |");
    println!("|---|---|---|---|");
    for (name, c, p) in table {
        println!("| {name} | {c:.0} | {p:.0} | {:.2} |", c / p);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. Verification

const T0: i64 = 1_780_000_000_000_000;

async fn fill(dir: &Path, o: &Opts) -> Res<()> {
    let total = o.num("--events", 10_000_000);
    let seal_every = o.num("--seal-every", 100_000);
    // Batches that divide the sealing interval, so that every digest covers `seal_every` events.
    let batch = if seal_every.is_multiple_of(10_000) {
        10_000
    } else {
        seal_every
    };
    if dir.join("palisade.db").exists() {
        std::fs::remove_file(dir.join("palisade.db"))?;
        let _ = std::fs::remove_file(dir.join("palisade.db-wal"));
        let _ = std::fs::remove_file(dir.join("palisade.db-shm"));
    }
    let store = open(dir).await?;
    // The search indexes are created after the fill (a sorted build instead of ten million random
    // inserts; the verifier reads by primary key and never uses them).
    let indexes = drop_search_indexes(&dir.join("palisade.db"))?;
    let key = SigningKey::generate();
    std::fs::write(dir.join("verifying-key.pem"), key.verifying_key().to_pem())?;
    let mut canonical = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(dir.join("canonical.bin"))?,
    );
    let start = Instant::now();
    // Events are generated on a thread of their own, a batch ahead, 2,000 a second on the synthetic
    // clock.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Event>>(2);
    std::thread::spawn(move || {
        let mut g = Gen::new(11, 200);
        let mut i = 0u64;
        while i < total {
            let n = batch.min(total - i);
            let v = (i..i + n).map(|j| g.ev(T0 + j as i64 * 500)).collect();
            if tx.send(v).is_err() {
                return;
            }
            i += n;
        }
    });
    let mut appended = 0u64;
    let mut scratch = Vec::with_capacity(1024);
    let mut bytes = 0u64;
    let mut seals = 0u64;
    while let Ok(this) = rx.recv() {
        let n = this.len() as u64;
        let chained = store.append_audit(this).await?;
        for c in &chained {
            c.event.canonical_bytes(&mut scratch);
            canonical.write_all(&scratch)?;
            bytes += scratch.len() as u64;
        }
        appended += n;
        if appended.is_multiple_of(seal_every) || appended == total {
            seal_once(&store, &key, T0 + appended as i64 * 500)
                .await?
                .ok_or("not sealed")?;
            seals += 1;
        }
        if appended.is_multiple_of(1_000_000) {
            eprintln!(
                "  {appended} events, {seals} digests, {:.0} s, {:.0} events/s",
                start.elapsed().as_secs_f64(),
                appended as f64 / start.elapsed().as_secs_f64()
            );
        }
    }
    canonical.flush()?;
    let secs = start.elapsed().as_secs_f64();
    drop(store);
    let t = Instant::now();
    create_indexes(&dir.join("palisade.db"), &indexes)?;
    let index_secs = t.elapsed().as_secs_f64();
    let db = std::fs::metadata(dir.join("palisade.db"))?.len()
        + std::fs::metadata(dir.join("palisade.db-wal")).map_or(0, |m| m.len());
    println!(
        "fill: {appended} events and {seals} digests (one per {seal_every}) through append_audit (batches of {batch}) and seal_once in {secs:.1} s ({:.0} events/s), then the search indexes in {index_secs:.1} s; database {} MB; canonical bytes {} MB ({} per event)",
        appended as f64 / secs,
        db / 1_000_000,
        bytes / 1_000_000,
        bytes / appended.max(1)
    );
    Ok(())
}

fn keys(dir: &Path) -> Res<Vec<VerifyingKey>> {
    let pem = std::fs::read_to_string(dir.join("verifying-key.pem"))?;
    Ok(vec![VerifyingKey::from_pem(&pem)?])
}

/// Every row through rusqlite with no conversion: the floor of any read path over this table.
fn bare_scan(db: &Path) -> Res<(u64, u64)> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut stmt = conn.prepare(
        "SELECT seq, id, at, kind, action, actor, client_id, object, request_id, data, prev, hash \
         FROM audit_events ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Some(r) = rows.next()? {
        n += 1;
        for i in 0..12 {
            bytes += match r.get_ref(i)? {
                rusqlite::types::ValueRef::Text(t) => t.len() as u64,
                _ => 8,
            };
        }
    }
    Ok((n, bytes))
}

async fn verify(dir: &Path, o: &Opts) -> Res<()> {
    let keys = keys(dir)?;
    let store = open(dir).await?;
    let only_store = o.get("--only") == Some("store");
    let (head, _) = store.audit_head().await?;
    println!("database: {head} events");

    if !only_store {
        // The floor: SQLite alone, twice (the first pass also warms the page cache).
        for pass in ["first pass", "again"] {
            let db = dir.join("palisade.db");
            let t = Instant::now();
            let (n, bytes) = tokio::task::spawn_blocking(move || bare_scan(&db)).await??;
            let s = t.elapsed().as_secs_f64();
            println!(
                "bare rusqlite scan of audit_events (columns read in place, no conversion), {pass}: {n} rows, {} MB of values in {s:.2} s = {:.0} events/s",
                bytes / 1_000_000,
                n as f64 / s
            );
        }

        // The store's read path alone: pages of 10,000 through audit_events_from.
        let t = Instant::now();
        let n = read_pages(|from| store.audit_events_from(from, 10_000), |e| e.seq).await?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "store read path alone (audit_events_from, pages of 10,000, into ChainedEvent): {n} events in {s:.2} s = {:.0} events/s",
            n as f64 / s
        );

        // What verification reads: leaves hashed where the rows are read, one window after
        // another (verify_store reads several at once).
        let t = Instant::now();
        let n = read_pages(|from| store.audit_leaves_from(from, 10_000), |l| l.seq).await?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "store leaf read path alone (audit_leaves_from, windows of 10,000, one at a time): {n} events in {s:.2} s = {:.0} events/s",
            n as f64 / s
        );
    }

    let t = Instant::now();
    let report = verify_store(&store, &keys, MAX_GAP, &|_| {}).await?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "check::verify_store: {} events, {} digests, {} unsealed, {} problems in {s:.2} s = {:.0} events/s",
        report.events,
        report.digests,
        report.unsealed,
        report.problems.len(),
        report.events as f64 / s
    );
    if !report.ok() {
        return Err(format!(
            "the filled log does not verify: {:?}",
            &report.problems[..1]
        )
        .into());
    }
    if only_store {
        return Ok(());
    }

    // The pure verifier over events in memory.
    let m = o.num("--memory", 1_000_000).min(head);
    let mut events = Vec::with_capacity(m as usize);
    let mut next = 1;
    while (events.len() as u64) < m {
        let page = store.audit_events_from(next, 10_000).await?;
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        events.extend(page.into_iter().take((m - events.len() as u64) as usize));
        next = last + 1;
    }
    let digests: Vec<_> = store_digests(&store)
        .await?
        .into_iter()
        .filter(|d| d.body.last_seq() <= m)
        .collect();
    let mut runs = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let mut v = Verifier::new(&keys, digests.clone(), MAX_GAP);
        events.iter().for_each(|e| v.push(e));
        let r = v.finish();
        runs.push(t.elapsed().as_secs_f64());
        assert!(r.ok() && r.unsealed == 0, "{:?}", r.problems);
    }
    runs.sort_by(f64::total_cmp);
    println!(
        "pure Verifier over {m} events in memory ({} digests), median of 3: {:.3} s = {:.0} events/s",
        digests.len(),
        runs[1],
        m as f64 / runs[1]
    );
    // Of which the hashing (leaf, link) that any verifier must do.
    let t = Instant::now();
    let mut ok = 0u64;
    for e in &events {
        let leaf = e.event.leaf_hash();
        ok += u64::from(link(&e.prev, &leaf) == e.hash);
    }
    let s = t.elapsed().as_secs_f64();
    assert_eq!(ok, m);
    println!(
        "of which leaf + link hashes alone: {s:.3} s = {:.0} events/s",
        m as f64 / s
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 1c. Search

/// Milliseconds of each of `runs` calls of `f`, as a distribution.
async fn timed<F, Fut>(runs: usize, mut f: F) -> Res<(String, usize)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Res<usize>>,
{
    let mut ms = Vec::with_capacity(runs);
    let mut found = 0;
    for _ in 0..runs {
        let t = Instant::now();
        found = f().await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((dist(ms), found))
}

/// Search latency on a log of `--events` events (default 1,000,000): the product's `search_audit`
/// over the indexes of migration 0006, then the same searches as `search_audit` ran them before
/// (its SQL of then, through rusqlite) over a copy with the indexes of migration 0003.
async fn search(dir: &Path, o: &Opts) -> Res<()> {
    use palisade_store::AuditQuery;
    let n = o.num("--events", 1_000_000);
    let d = dir.join("search");
    if d.exists() {
        std::fs::remove_dir_all(&d)?;
    }
    let store = open(&d).await?;
    let db = d.join("palisade.db");
    let indexes = drop_search_indexes(&db)?;
    let mut g = Gen::new(5, 200);
    let t0 = T0;
    let mut samples = Vec::new();
    let mut i = 0;
    while i < n {
        let k = 10_000.min(n - i);
        let batch: Vec<Event> = (i..i + k).map(|j| g.ev(t0 + j as i64 * 500)).collect();
        if i == 0 || i + k >= n / 2 && samples.len() < 2 {
            samples.push(batch[0].clone());
        }
        store.append_audit(batch).await?;
        i += k;
    }
    drop(store);
    create_indexes(&db, &indexes)?;
    let old = d.join("before");
    std::fs::create_dir_all(&old)?;
    std::fs::copy(&db, old.join("palisade.db"))?;
    let c = rusqlite::Connection::open(old.join("palisade.db"))?;
    c.execute_batch(INDEXES_0003)?;
    drop(c);
    let store = open(&d).await?;
    let newest = &samples[samples.len() - 1];
    let oldest = &samples[0];
    let client = newest.client.clone().ok_or("a client")?;
    let cases: Vec<(&str, AuditQuery)> = vec![
        (
            "a client (1 event in 220), newest 50",
            AuditQuery {
                client: Some(client.clone()),
                ..AuditQuery::default()
            },
        ),
        (
            "an actor (1 in 2,000), newest 50",
            AuditQuery {
                actor: newest.actor.clone(),
                ..AuditQuery::default()
            },
        ),
        (
            "an object (1 in 20,000), newest 50",
            AuditQuery {
                object: oldest.object.clone(),
                ..AuditQuery::default()
            },
        ),
        (
            "an object nobody touched",
            AuditQuery {
                object: Some("site:none".into()),
                ..AuditQuery::default()
            },
        ),
        (
            "a client's events of one hour, newest 50",
            AuditQuery {
                client: Some(client.clone()),
                from_micros: Some(t0 + n as i64 * 250),
                to_micros: Some(t0 + n as i64 * 250 + 3_600_000_000),
                ..AuditQuery::default()
            },
        ),
        (
            "an action prefix, newest 50",
            AuditQuery {
                action: Some("http.".into()),
                ..AuditQuery::default()
            },
        ),
    ];
    println!(
        "search over {n} events, 200 clients, 2,000 actors, 20,000 objects; each search 20 times, ms:"
    );
    let conn = rusqlite::Connection::open_with_flags(
        old.join("palisade.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    for (name, q) in cases {
        let q = AuditQuery { limit: 50, ..q };
        let (after, found) = timed(20, || {
            let q = q.clone();
            let store = &store;
            async move { Ok(store.search_audit(&q).await?.len()) }
        })
        .await?;
        // search_audit of before migration 0006: one statement, filters on the table.
        let mut conds = Vec::new();
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        for (col, v) in [
            ("actor", &q.actor),
            ("client_id", &q.client),
            ("object", &q.object),
        ] {
            if let Some(v) = v {
                args.push(v.clone().into());
                conds.push(format!("{col} = ?{}", args.len()));
            }
        }
        if let Some(v) = &q.action {
            args.push(format!("{v}%").into());
            conds.push(format!("action LIKE ?{} ESCAPE '\\'", args.len()));
        }
        if let Some(t) = q.from_micros {
            args.push(t.into());
            conds.push(format!("at >= ?{}", args.len()));
        }
        if let Some(t) = q.to_micros {
            args.push(t.into());
            conds.push(format!("at < ?{}", args.len()));
        }
        let sql = format!(
            "SELECT seq, id, at, kind, action, actor, client_id, object, request_id, data, prev, hash \
             FROM audit_events WHERE {} ORDER BY seq DESC LIMIT 50",
            conds.join(" AND ")
        );
        let (before, found_before) = timed(20, || {
            let r = (|| -> Res<usize> {
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    r.get::<_, String>(9)
                })?;
                Ok(rows.count())
            })();
            async move { r }
        })
        .await?;
        println!("  {name}: {found} found; after (0006): {after}");
        println!("  {name}: {found_before} found; before (0003): {before}");
        if found != found_before {
            return Err(format!("{name}: {found} found after, {found_before} before").into());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. Shipping lag

struct S3sFs(std::process::Child);

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const ACCESS_KEY: &str = "palisade-bench";
const SECRET_KEY: &str = "palisade-bench-secret";

fn start_s3s(root: &Path) -> Res<(S3sFs, BucketConfig)> {
    let binary = std::env::var_os("PALISADE_BENCH_S3S_FS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH")
                .into_iter()
                .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .chain(std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin")))
                .map(|d| d.join("s3s-fs"))
                .find(|p| p.is_file())
        })
        .ok_or(
            "s3s-fs is not installed (cargo install s3s-fs --version 0.14.1 --features binary)",
        )?;
    std::fs::create_dir_all(root.join("audit"))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = std::process::Command::new(binary)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let server = S3sFs(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("s3s-fs did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((
        server,
        BucketConfig::S3 {
            bucket: "audit".into(),
            prefix: "palisade".into(),
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            region: "us-east-1".into(),
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
        },
    ))
}

/// Every object under `events/` in the bucket's backing folder, with its content and the time it
/// was last written. Both backends keep an object as a plain file and report its modification time
/// as the object's last-modified time (object_store's `LocalFileSystem`; s3s-fs answers
/// `LastModified` from the file's metadata, to the millisecond), so the files give the bucket's own
/// figure without listing and fetching a hundred thousand objects through s3s-fs, whose listing
/// walks the whole tree for every page and whose GETs take about 44 ms each on loopback.
fn bucket_files(root: &Path) -> Res<Vec<(String, i64, Vec<u8>)>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, i64, Vec<u8>)>) -> Res<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(base, &path, out)?;
            } else if path.extension().is_some_and(|e| e == "gz") {
                let modified = std::fs::metadata(&path)?
                    .modified()?
                    .duration_since(UNIX_EPOCH)?
                    .as_micros() as i64;
                let name = path.strip_prefix(base)?.to_string_lossy().into_owned();
                out.push((name, modified, std::fs::read(&path)?));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, &root.join("events"), &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

async fn ship(dir: &Path, o: &Opts) -> Res<()> {
    let rate = o.num("--rate", 2000);
    let secs = o.num("--secs", 180);
    let interval = Duration::from_secs(o.num("--interval", 10));
    let clients = o.num("--clients", 200) as usize;
    let s3 = o.flag("--s3");
    let name = if s3 { "ship-s3" } else { "ship-local" };
    let (store, work) = fresh(dir, name).await?;
    let (_server, config) = if s3 {
        let (server, config) = start_s3s(&work.join("s3"))?;
        (Some(server), config)
    } else {
        (None, BucketConfig::Local(work.join("bucket")))
    };
    let bucket = Bucket::open(&config)?;
    let shipper = Shipper::new(bucket.clone());
    let key = Arc::new(SigningKey::generate());
    let log = AuditLog::start(Arc::new(store.clone()), &AuditKeys::ephemeral());
    println!(
        "ship to {}: {rate} events/s for {secs} s through AuditLog::record_detached ({clients} clients), shipper every {} s, sealer every 60 s",
        if s3 {
            "s3s-fs on loopback (S3 API)"
        } else {
            "a local folder"
        },
        interval.as_secs()
    );

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = Arc::new(tokio::sync::Notify::new());
    let run_start = Instant::now();
    // Shipper and sealer, as the server would run them.
    let ship_task = {
        let (store, shipper, stop) = (store.clone(), shipper.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            let mut calls = Vec::new();
            loop {
                tick.tick().await;
                let done = stop.load(Ordering::Relaxed);
                let t = Instant::now();
                let n = shipper.ship(&store, now_micros()).await.expect("shipped");
                calls.push((n, t.elapsed().as_secs_f64()));
                eprintln!(
                    "  ship call at {:.1} s: {n} events in {:.2} s, {} objects so far",
                    run_start.elapsed().as_secs_f64(),
                    t.elapsed().as_secs_f64(),
                    shipper.stats.objects_written.load(Ordering::Relaxed)
                );
                if done {
                    let (head, _) = store.audit_head().await.expect("head");
                    let state = store.shipping_state().await.expect("state");
                    if state.shipped_seq >= head {
                        break;
                    }
                }
            }
            calls
        })
    };
    let seal_task = {
        let (store, key, done) = (store.clone(), key.clone(), done.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.tick().await;
            let mut n = 0;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = done.notified() => break,
                }
                seal_once(&store, &key, now_micros()).await.expect("sealed");
                n += 1;
            }
            n
        })
    };

    // The load: `rate` events a second, created with `at` = now, as requests are.
    let mut g = Gen::new(13, clients);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    while start.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            log.record_detached(g.ev(now_micros())).await;
            sent += 1;
        }
    }
    let load_secs = start.elapsed().as_secs_f64();
    log.flush().await;
    stop.store(true, Ordering::Relaxed);
    done.notify_one();
    let calls = ship_task.await?;
    let seals = seal_task.await?;
    let (head, _) = store.audit_head().await?;
    println!(
        "sent {sent} events in {load_secs:.1} s; {head} in the log; {seals} digests; {} ship calls, the last done {:.1} s after the load stopped",
        calls.len(),
        start.elapsed().as_secs_f64() - load_secs
    );
    let busy: Vec<f64> = calls.iter().filter(|c| c.0 > 0).map(|c| c.1).collect();
    let objects = shipper.stats.objects_written.load(Ordering::Relaxed);
    println!(
        "ship() calls that shipped something, duration s: {}; {objects} objects written, {:.1} events per object ({:.0} objects per hour)",
        dist(busy),
        head as f64 / objects.max(1) as f64,
        objects as f64 * 3600.0 / start.elapsed().as_secs_f64()
    );

    // Lag per event: the object's last-modified time minus the event's `at`.
    let root = match &config {
        BucketConfig::Local(dir) => dir.clone(),
        BucketConfig::S3 { .. } => work.join("s3").join("audit").join("palisade"),
    };
    let list = bucket_files(&root)?;
    let mut first_seen: HashMap<u64, f64> = HashMap::new();
    let mut lags = Vec::with_capacity(sent as usize);
    for (name, modified, bytes) in &list {
        for e in read_lines(name, bytes)? {
            if first_seen.contains_key(&e.seq) {
                continue;
            }
            let lag = (*modified - e.event.at_micros) as f64 / 1e6;
            first_seen.insert(e.seq, lag);
            lags.push(lag);
        }
    }
    println!(
        "objects in the bucket {}; events found in them {} of {head}",
        list.len(),
        lags.len()
    );
    if let Some((name, modified, _)) = list.first() {
        println!("e.g. {name} last modified {modified} µs");
    }
    println!("lag event → object in the bucket, s: {}", dist(lags));
    drop(log);
    drop(store);
    std::fs::remove_dir_all(&work)?;
    Ok(())
}

async fn probe(dir: &Path, o: &Opts) -> Res<()> {
    let (_server, config) = if o.flag("--s3") {
        let (a, b) = start_s3s(&dir.join("probe-s3"))?;
        (Some(a), b)
    } else {
        (None, BucketConfig::Local(dir.join("probe-local")))
    };
    let bucket = Bucket::open(&config)?;
    let size = o.num("--size", 40_000) as usize;
    let mut lat = Vec::new();
    for i in 0..o.num("--n", 200) {
        let t = Instant::now();
        bucket
            .overwrite(&format!("events/x/{i}.bin"), vec![7u8; size])
            .await?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!("put ms {}", dist(lat));
    let mut lat = Vec::new();
    for i in 0..o.num("--n", 200) {
        let t = Instant::now();
        bucket.get(&format!("events/x/{i}.bin")).await?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!("get ms {}", dist(lat));
    Ok(())
}
