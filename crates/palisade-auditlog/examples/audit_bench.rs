//! The audit log's three figures (BENCHMARKS.md, "Audit log (issue 5)"), on the SQLite default:
//!
//! - `append`: durable appends per second with hash chaining, through [`AuditLog`] with many
//!   concurrent callers each awaiting `record()` and through `append_audit` batches directly; the
//!   reference in the same run is `SqlStore::insert_audit_rows_unchained` of the same rows, already
//!   chained in memory, in batches of the same sizes (both commit with `synchronous = FULL`). Every
//!   run starts from an empty database, or from a copy of one base log.
//! - `fill` then `verify`: a database of 10 million events sealed every 100,000, then
//!   `check::verify_store` over it, the store's read path alone, a bare rusqlite scan of the same
//!   rows, a prototype of a faster read path (bench only), and the pure `Verifier` over events in
//!   memory. The fill also writes every event's canonical bytes to `canonical.bin`, for `sha256sum`
//!   as the reference.
//! - `ship`: events at a steady rate through `AuditLog`, a shipper every N seconds to a folder or to
//!   an S3 API (s3s-fs on loopback); the lag of each event is the last-modified time of the object
//!   that holds it (its file's modification time, which both backends report as such) minus the
//!   event's `at`.
//!
//! Usage (`scripts/bench-audit.sh` runs them all):
//! - `audit_bench append DIR [--events N] [--secs S] [--tasks 64,256,1024]
//!   [--batches 1,10,100,1000,8192] [--base N] [--what-if 'actor,object:1000,8192;…']`: `--base`
//!   starts every run from a copy of a log of N events; `--what-if` repeats the batch runs with
//!   those search indexes dropped;
//! - `audit_bench fill DIR [--events N] [--seal-every N]`;
//! - `audit_bench verify DIR [--memory N] [--only store|prototype|parallel]` (`--only` for
//!   profiling);
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
use palisade_auditlog::{AuditLog, Bucket, BucketConfig, Shipper};
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

/// The search indexes the what-if runs drop (`client`, `actor`, `object`, `at`).
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
) -> Res<(Run, u64, Vec<f64>)> {
    let (store, d) = fresh(dir, "log").await?;
    let (h0, _) = store.audit_head().await?;
    let log = AuditLog::start(
        Arc::new(store.clone()),
        &palisade_auditlog::AuditKeys::ephemeral(),
    );
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
    drop(log);
    drop(store);
    std::fs::remove_dir_all(d)?;
    Ok((Run { events, secs, cost }, commits, lat))
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
        let (run, commits, lat) = run_log(dir, &pool, t as usize, limit).await?;
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
        table.push((
            format!("`AuditLog::record`, {t} tasks (mean batch {mean:.0})"),
            run.rate(),
            reference.rate(),
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

/// The prototype read path: one statement over the whole table on a reader thread, pages of
/// 10,000 events handed to the verifier on this thread and handed back once checked, so that the
/// reader refills the same events' strings in place: no allocation once the pages exist, and no
/// memory freed on another thread than the one that allocated it.
fn pipelined_verify(
    db: &Path,
    keys: &[VerifyingKey],
    digests: Vec<palisade_audit::Digest>,
) -> Res<palisade_audit::Report> {
    const PAGE: usize = 10_000;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<ChainedEvent>>(4);
    let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<ChainedEvent>>();
    let path = db.to_owned();
    let reader = std::thread::spawn(move || -> Res<()> {
        let conn = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let mut stmt = conn.prepare(
            "SELECT seq, id, at, kind, action, actor, client_id, object, request_id, data, prev, hash \
             FROM audit_events ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        let set = |s: &mut String, v: &str| {
            s.clear();
            s.push_str(v);
        };
        let set_opt = |s: &mut Option<String>, v: Option<&str>| match (s.as_mut(), v) {
            (Some(s), Some(v)) => {
                s.clear();
                s.push_str(v);
            }
            (_, v) => *s = v.map(str::to_owned),
        };
        let hash = |r: &rusqlite::Row<'_>, i: usize| -> Res<Hash> {
            let mut h = [0u8; 32];
            hex::decode_to_slice(r.get_ref(i)?.as_bytes()?, &mut h)?;
            Ok(Hash(h))
        };
        let mut page: Vec<ChainedEvent> = Vec::with_capacity(PAGE);
        let mut n = 0;
        while let Some(r) = rows.next()? {
            if n == page.len() {
                page.push(ChainedEvent {
                    seq: 0,
                    event: Event::new(0, EventKind::Request, ""),
                    prev: Hash::GENESIS,
                    hash: Hash::GENESIS,
                });
            }
            let c = &mut page[n];
            c.seq = r.get::<_, i64>(0)? as u64;
            c.event.id = r.get_ref(1)?.as_str()?.parse()?;
            c.event.at_micros = r.get(2)?;
            c.event.kind = r.get_ref(3)?.as_str()?.parse()?;
            set(&mut c.event.action, r.get_ref(4)?.as_str()?);
            set_opt(&mut c.event.actor, r.get_ref(5)?.as_str_or_null()?);
            set_opt(&mut c.event.client, r.get_ref(6)?.as_str_or_null()?);
            set_opt(&mut c.event.object, r.get_ref(7)?.as_str_or_null()?);
            set_opt(&mut c.event.request_id, r.get_ref(8)?.as_str_or_null()?);
            set(&mut c.event.data, r.get_ref(9)?.as_str()?);
            c.prev = hash(r, 10)?;
            c.hash = hash(r, 11)?;
            n += 1;
            if n == PAGE {
                let next = back_rx.try_recv().unwrap_or_default();
                if tx.send(std::mem::replace(&mut page, next)).is_err() {
                    return Ok(());
                }
                n = 0;
            }
        }
        page.truncate(n);
        let _ = tx.send(page);
        Ok(())
    });
    let mut v = Verifier::new(keys, digests, MAX_GAP);
    for page in rx {
        page.iter().for_each(|e| v.push(e));
        let _ = back_tx.send(page);
    }
    reader.join().map_err(|_| "reader panicked")??;
    Ok(v.finish())
}

/// One event as the in-order checks need it.
struct Hashed {
    seq: u64,
    leaf: Hash,
    prev: Hash,
    hash: Hash,
}

/// The second prototype: `workers` threads each read every `workers`-th block of 10,000 sequence
/// numbers and compute the events' leaf hashes (the expensive part, independent per event); this
/// thread takes the blocks in order and checks what must be sequential: numbering, each link, each
/// digest's root and chain head. It reports counts, not located problems: it measures what a
/// verifier organised this way can reach, and refuses a log it cannot vouch for.
fn parallel_verify(
    db: &Path,
    keys: &[VerifyingKey],
    digests: &[palisade_audit::Digest],
    workers: u64,
) -> Res<(u64, u64)> {
    const BLOCK: u64 = 10_000;
    let mut rxs = Vec::new();
    let mut handles = Vec::new();
    for w in 0..workers {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Hashed>>(2);
        rxs.push(rx);
        let path = db.to_owned();
        handles.push(std::thread::spawn(move || -> Res<()> {
            let conn = rusqlite::Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            let mut stmt = conn.prepare(
                "SELECT seq, id, at, kind, action, actor, client_id, object, request_id, data, prev, hash \
                 FROM audit_events WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
            )?;
            let mut e = Event::new(0, EventKind::Request, "");
            let mut scratch = Vec::with_capacity(1024);
            let set = |s: &mut String, v: &str| {
                s.clear();
                s.push_str(v);
            };
            let set_opt = |s: &mut Option<String>, v: Option<&str>| match (s.as_mut(), v) {
                (Some(s), Some(v)) => {
                    s.clear();
                    s.push_str(v);
                }
                (_, v) => *s = v.map(str::to_owned),
            };
            let hash = |r: &rusqlite::Row<'_>, i: usize| -> Res<Hash> {
                let mut h = [0u8; 32];
                hex::decode_to_slice(r.get_ref(i)?.as_bytes()?, &mut h)?;
                Ok(Hash(h))
            };
            let mut block = w;
            loop {
                let from = 1 + block * BLOCK;
                let mut out = Vec::with_capacity(BLOCK as usize);
                let mut rows = stmt.query([from as i64, (from + BLOCK) as i64])?;
                while let Some(r) = rows.next()? {
                    e.id = r.get_ref(1)?.as_str()?.parse()?;
                    e.at_micros = r.get(2)?;
                    e.kind = r.get_ref(3)?.as_str()?.parse()?;
                    set(&mut e.action, r.get_ref(4)?.as_str()?);
                    set_opt(&mut e.actor, r.get_ref(5)?.as_str_or_null()?);
                    set_opt(&mut e.client, r.get_ref(6)?.as_str_or_null()?);
                    set_opt(&mut e.object, r.get_ref(7)?.as_str_or_null()?);
                    set_opt(&mut e.request_id, r.get_ref(8)?.as_str_or_null()?);
                    set(&mut e.data, r.get_ref(9)?.as_str()?);
                    out.push(Hashed {
                        seq: r.get::<_, i64>(0)? as u64,
                        leaf: e.leaf_hash(&mut scratch),
                        prev: hash(r, 10)?,
                        hash: hash(r, 11)?,
                    });
                }
                let end = out.is_empty();
                if tx.send(out).is_err() || end {
                    return Ok(());
                }
                block += workers;
            }
        }));
    }
    let mut problems = digests
        .iter()
        .filter(|d| {
            !keys
                .iter()
                .any(|k| k.key_id() == d.body.key_id && k.verify(d))
        })
        .count() as u64;
    let mut pending = digests.iter().peekable();
    let mut builder = palisade_audit::merkle::RootBuilder::new();
    let (mut last_seq, mut last_hash, mut n) = (0u64, Hash::GENESIS, 0u64);
    'blocks: for b in 0.. {
        let Ok(block) = rxs[(b % workers) as usize].recv() else {
            break;
        };
        if block.is_empty() {
            break 'blocks;
        }
        for h in &block {
            n += 1;
            problems += u64::from(h.seq != last_seq + 1)
                + u64::from(h.prev != last_hash)
                + u64::from(link(&h.prev, &h.leaf) != h.hash);
            builder.push(h.leaf);
            if let Some(d) = pending.peek()
                && d.body.last_seq() == h.seq
            {
                problems += u64::from(builder.root() != d.body.root)
                    + u64::from(d.body.chain_head != h.hash);
                builder = palisade_audit::merkle::RootBuilder::new();
                pending.next();
            }
            last_seq = h.seq;
            last_hash = h.hash;
        }
    }
    drop(rxs);
    for h in handles {
        h.join().map_err(|_| "reader panicked")??;
    }
    problems += pending.count() as u64;
    Ok((n, problems))
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
    if o.get("--only") == Some("prototype") {
        let digests = store_digests(&store).await?;
        let t = Instant::now();
        let r = pipelined_verify(&dir.join("palisade.db"), &keys, digests)?;
        println!(
            "prototype: {} events in {:.2} s",
            r.events,
            t.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    if o.get("--only") == Some("parallel") {
        let digests = store_digests(&store).await?;
        let t = Instant::now();
        let (n, p) = parallel_verify(&dir.join("palisade.db"), &keys, &digests, 2)?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "parallel: {n} events, {p} problems in {s:.2} s = {:.0}/s",
            n as f64 / s
        );
        return Ok(());
    }
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
        let mut next = 1;
        let mut n = 0u64;
        loop {
            let page = store.audit_events_from(next, 10_000).await?;
            let Some(last) = page.last().map(|e| e.seq) else {
                break;
            };
            n += page.len() as u64;
            next = last + 1;
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "store read path alone (audit_events_from, pages of 10,000, into ChainedEvent): {n} events in {s:.2} s = {:.0} events/s",
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

    // A prototype of the proposed read path (not the product's): rows decoded straight into
    // events, hashes decoded in place, on a thread of its own that hands pages to the verifier.
    let digests = store_digests(&store).await?;
    let db = dir.join("palisade.db");
    let t = Instant::now();
    let k = keys.clone();
    let report = tokio::task::spawn_blocking(move || pipelined_verify(&db, &k, digests)).await??;
    let s = t.elapsed().as_secs_f64();
    println!(
        "prototype (bench only): lean decode on a reader thread + Verifier on another: {} events, {} problems in {s:.2} s = {:.0} events/s",
        report.events,
        report.problems.len(),
        report.events as f64 / s
    );

    let digests = store_digests(&store).await?;
    let db = dir.join("palisade.db");
    let t = Instant::now();
    let k = keys.clone();
    let (n, problems) =
        tokio::task::spawn_blocking(move || parallel_verify(&db, &k, &digests, 2)).await??;
    let s = t.elapsed().as_secs_f64();
    println!(
        "prototype (bench only): leaf hashes computed by 2 range readers, links, roots and heads checked in order on a third thread: {n} events, {problems} problems in {s:.2} s = {:.0} events/s",
        n as f64 / s
    );
    if problems > 0 {
        return Err("the parallel prototype found problems in a good log".into());
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
    let mut scratch = Vec::with_capacity(1024);
    let mut ok = 0u64;
    for e in &events {
        let leaf = e.event.leaf_hash(&mut scratch);
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
    let log = AuditLog::start(
        Arc::new(store.clone()),
        &palisade_auditlog::AuditKeys::ephemeral(),
    );
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
