//! The `FleetStore` implementation: inventory snapshots and the installations index, findings
//! with their history and daily counts, and the matcher's named state. Same rules as `store.rs`:
//! one SQL text for both backends, reads through `read_all`, and every multi-statement write as
//! one list of statements run in one transaction by `write_tx` (the rusqlite writer on an SQLite
//! file), so a batch of tens of thousands of findings is a few multi-row statements, not a round
//! trip per row.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use palisade_core::tenant::{Contract, EnvironmentKind};
use palisade_core::{ClientId, EnvironmentId, FieldError, FindingId, SnapshotId};
use palisade_fleet::priority::band;
use palisade_fleet::{
    Change, ChangeKind, EnvFacts, Finding, FindingChanges, FindingEvent, FindingState, Package,
};
use palisade_store::{
    ClientFindings, DEFAULT_PAGE_SIZE, DailyFindings, EnvironmentFacts, FindingQuery,
    FindingsSummary, FleetStore, Installation, ListQuery, NewSnapshot, Page, PreparedFindings,
    Snapshot, SnapshotSummary, StoreError, StoreResult, VersionInstalls,
};
use palisade_vulns::{Ecosystem, PackageKey};

use crate::SqlStore;
use crate::finding_rows::{
    DETAIL_JOIN, DetailRow, Details, EventRow, FINDING_READ, FINDING_READ_BARE, FindingRow,
    event_body, event_from, finding_from, findings_from, findings_joined, own_body,
};
use crate::reader::{Arg, Stmt, args, number_in_advance, numbered, sqlite_err};
use crate::rows::*;
use crate::store::{AnyRow, multi_row_insert};

const SNAPSHOT_COLS: [&str; 14] = [
    "id",
    "environment_id",
    "site_id",
    "client_id",
    "taken_at",
    "actor",
    "previous",
    "sources",
    "packages",
    "dev_packages",
    "added",
    "removed",
    "changed",
    "unevaluable",
];
const FINDING_COLS: &str = "id, client_id, site_id, environment_id, ecosystem, qualifier, name, version, \
     alias_group, state, is_open, priority, kev, due_at, risk_until, detected_at, updated_at, body, detail_id";
const FINDING_WIDTH: usize = 19;
const EVENT_COLS: &str = "id, finding_id, client_id, at, actor, kind, body";
const INSTALLATION_COLS: &str = "ecosystem, qualifier, name, version, environment_id, dev";

/// Rows per multi-row statement. The widest (findings, 19 columns) stays at 9,500 parameters,
/// far under SQLite's 32,766 and PostgreSQL's 65,535.
const ROWS_PER_STATEMENT: usize = 500;
/// Package keys per lookup (three parameters each).
const KEYS_PER_QUERY: usize = 300;
/// An environment's facts with its site's and client's names, for a `WHERE` to follow.
const ENV_FACTS: &str = "SELECT e.id, e.client_id, e.site_id, e.kind, e.name AS environment_name, \
     s.name AS site_name, c.name AS client_name, c.contract, i.taken_at AS inventory_at \
     FROM environments e JOIN sites s ON s.id = e.site_id JOIN clients c ON c.id = e.client_id \
     LEFT JOIN environment_inventory i ON i.environment_id = e.id";

/// The findings indexes a first full match drops and builds after its rows. Kept row by row,
/// every finding is an insert into each, and those led by client, environment, state, priority
/// or alias group put it on a page of its own; sorting the finished table builds the five in
/// about 4 s. Matching itself reads none of them: it finds findings by the identity key, which
/// leads with the package it works through (migration 0015). The events' index by finding is
/// kept: a match creates findings with ever larger (time-ordered) IDs, so each event lands at or
/// near the end of that index, and building it afterwards cost more than that (BENCHMARKS.md,
/// fleet).
const DEFERRABLE_INDEXES: [&str; 5] = [
    "findings_by_environment",
    "findings_by_group",
    "findings_by_state",
    "findings_open",
    "findings_open_by_client",
];
/// The fleet-state entry holding the definitions of deferred indexes until they are rebuilt.
const DEFERRED_INDEXES: &str = "findings.deferred_indexes";

/// Plain IDs per `IN` list.
const IDS_PER_QUERY: usize = 500;

/// `SELECT` list of the snapshot summary columns, qualified by `alias`.
fn snapshot_cols(alias: &str) -> String {
    SNAPSHOT_COLS
        .iter()
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$from, $from+1, …` for `n` parameters.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `VALUES ($from, …), (…)`: `rows` tuples of `width` parameters, numbered from `from`.
fn values_list(from: usize, width: usize, rows: usize) -> String {
    let tuples: Vec<String> = (0..rows)
        .map(|r| format!("({})", placeholders(from + r * width, width)))
        .collect();
    format!("VALUES {}", tuples.join(", "))
}

/// The page size lists clamp `limit` to.
fn page_size(limit: u32) -> u32 {
    ListQuery {
        limit,
        ..Default::default()
    }
    .page_size()
}

fn count(what: &str, n: i64) -> StoreResult<u32> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} {n}")))
}

fn unsigned(what: &str, n: i64) -> StoreResult<u64> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} {n}")))
}

/// A package key from its stored columns. The ecosystem is stored as its OSV name and the
/// qualifier on its own, so nothing is parsed out of a display string (qualifiers may hold '/').
pub(crate) fn package_key(
    ecosystem: &str,
    qualifier: String,
    name: String,
) -> StoreResult<PackageKey> {
    let (ecosystem, _) = Ecosystem::from_osv(ecosystem)
        .ok_or_else(|| StoreError::Corrupt(format!("ecosystem {ecosystem:?}")))?;
    Ok(PackageKey {
        ecosystem,
        qualifier,
        name,
    })
}

/// The key's three columns as arguments.
fn key_args(k: &PackageKey) -> Vec<Arg> {
    args![
        k.ecosystem.osv_name(),
        k.qualifier.as_str(),
        k.name.as_str()
    ]
}

/// The UTC day of a time, as `finding_daily` stores it.
fn day_of(t: Timestamp) -> String {
    t.to_zoned(TimeZone::UTC).date().to_string()
}

fn compress_packages(packages: &[Package]) -> StoreResult<Vec<u8>> {
    let json = to_json("packages", packages)?;
    zstd::encode_all(json.as_bytes(), 3)
        .map_err(|e| StoreError::Backend(format!("compressing packages: {e}")))
}

fn decompress_packages(blob: &[u8]) -> StoreResult<Vec<Package>> {
    let json = zstd::decode_all(blob)
        .map_err(|e| StoreError::Corrupt(format!("snapshot package list: {e}")))?;
    serde_json::from_slice(&json)
        .map_err(|e| StoreError::Corrupt(format!("snapshot package list: {e}")))
}

impl TryFrom<SnapshotRow> for SnapshotSummary {
    type Error = StoreError;
    fn try_from(r: SnapshotRow) -> Result<Self, StoreError> {
        Ok(SnapshotSummary {
            id: parse("snapshot id", &r.id)?,
            environment_id: parse("environment id", &r.environment_id)?,
            site_id: parse("site id", &r.site_id)?,
            client_id: parse("client id", &r.client_id)?,
            taken_at: ts(r.taken_at)?,
            actor: r.actor.as_deref().map(|a| parse("actor", a)).transpose()?,
            previous: r
                .previous
                .as_deref()
                .map(|p| parse("previous snapshot", p))
                .transpose()?,
            sources: json("snapshot sources", &r.sources)?,
            packages: count("package count", r.packages)?,
            dev_packages: count("dev package count", r.dev_packages)?,
            added: count("added count", r.added)?,
            removed: count("removed count", r.removed)?,
            changed: count("changed count", r.changed)?,
            unevaluable: count("unevaluable count", r.unevaluable)?,
        })
    }
}

impl TryFrom<SnapshotDetailRow> for Snapshot {
    type Error = StoreError;
    fn try_from(r: SnapshotDetailRow) -> Result<Self, StoreError> {
        let packages = match &r.packages_blob {
            Some(blob) => decompress_packages(blob)?,
            None if r.packages == 0 => Vec::new(),
            None => {
                return Err(StoreError::Corrupt(format!(
                    "snapshot {} has no package list to resolve",
                    r.id
                )));
            }
        };
        let changes: Vec<Change> = json("snapshot changes", &r.changes)?;
        let unevaluable: Vec<String> = json("snapshot unevaluable entries", &r.unevaluable_lines)?;
        let summary = SnapshotSummary::try_from(SnapshotRow {
            id: r.id,
            environment_id: r.environment_id,
            site_id: r.site_id,
            client_id: r.client_id,
            taken_at: r.taken_at,
            actor: r.actor,
            previous: r.previous,
            sources: r.sources,
            packages: r.packages,
            dev_packages: r.dev_packages,
            added: r.added,
            removed: r.removed,
            changed: r.changed,
            unevaluable: r.unevaluable,
        })?;
        Ok(Snapshot {
            summary,
            changes,
            packages,
            unevaluable,
        })
    }
}

/// Installations gathered into one entry per (package, version), in whatever order rows come.
/// Packages are named by their position in the (sorted, distinct) list asked about, so a row costs
/// no comparison of package keys.
#[derive(Default)]
struct Grouper {
    out: Vec<VersionInstalls>,
    at: HashMap<(usize, String), usize>,
    /// The package and entry of the previous row: rows of one version usually come together.
    last: Option<(usize, usize)>,
}

impl Grouper {
    fn add(&mut self, keys: &[PackageKey], key: usize, version: &str, env: (EnvironmentId, bool)) {
        let g = match self.last {
            Some((k, g)) if k == key && self.out[g].version == version => g,
            _ => {
                let out = &mut self.out;
                *self.at.entry((key, version.to_owned())).or_insert_with(|| {
                    out.push(VersionInstalls {
                        key: keys[key].clone(),
                        version: version.to_owned(),
                        environments: Vec::new(),
                    });
                    out.len() - 1
                })
            }
        };
        self.last = Some((key, g));
        self.out[g].environments.push(env);
    }
}

/// [`FleetStore::installations_of`] on SQLite, reading each row where it lies: a popular
/// package has ten thousand installations, and building an owned row for each (its package key,
/// version and id as new strings) was most of the read.
fn sqlite_installations(
    conn: &rusqlite::Connection,
    keys: &[PackageKey],
) -> Result<Vec<VersionInstalls>, StoreError> {
    let mut grouped = Grouper::default();
    for (c, chunk) in keys.chunks(KEYS_PER_QUERY).enumerate() {
        // A join with the key list rather than `IN (VALUES …)`, so that each key is looked up in
        // the primary key; the key's position in the chunk comes back instead of its three text
        // columns.
        let sql = format!(
            "SELECT k.column4, i.version, i.environment_id, i.dev \
             FROM ({}) AS k JOIN installations i \
             ON i.ecosystem = k.column1 AND i.qualifier = k.column2 AND i.name = k.column3",
            values_list(1, 4, chunk.len())
        );
        let mut stmt = conn.prepare_cached(&numbered(&sql)).map_err(sqlite_err)?;
        let mut args: Vec<Arg> = Vec::with_capacity(chunk.len() * 4);
        for (n, k) in chunk.iter().enumerate() {
            args.extend(key_args(k));
            args.push(Arg::Int(Some(n as i64)));
        }
        let params: Vec<&dyn rusqlite::ToSql> =
            args.iter().map(|a| a as &dyn rusqlite::ToSql).collect();
        let mut rows = stmt.query(params.as_slice()).map_err(sqlite_err)?;
        while let Some(r) = rows.next().map_err(sqlite_err)? {
            let n: i64 = r.get(0).map_err(sqlite_err)?;
            let at = usize::try_from(n)
                .ok()
                .filter(|&n| n < chunk.len())
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "installations index: a row for package {n} of a list of {}",
                        chunk.len()
                    ))
                })?;
            let key = &chunk[at];
            let version = r
                .get_ref(1)
                .and_then(|v| v.as_str().map_err(Into::into))
                .map_err(sqlite_err)?;
            let id = r
                .get_ref(2)
                .and_then(|v| v.as_bytes().map_err(Into::into))
                .map_err(sqlite_err)?;
            let env = uuid::Uuid::try_parse_ascii(id)
                .map(EnvironmentId)
                .map_err(|e| {
                    StoreError::Corrupt(format!("installation of {key}: environment id: {e}"))
                })?;
            let dev: bool = r.get(3).map_err(sqlite_err)?;
            grouped.add(keys, c * KEYS_PER_QUERY + at, version, (env, dev));
        }
    }
    Ok(grouped.out)
}

impl TryFrom<InstallationRow> for Installation {
    type Error = StoreError;
    fn try_from(r: InstallationRow) -> Result<Self, StoreError> {
        Ok(Installation {
            environment_id: parse("environment id", &r.environment_id)?,
            key: package_key(&r.ecosystem, r.qualifier, r.name)?,
            version: r.version,
            dev: r.dev,
        })
    }
}

impl TryFrom<EnvFactsRow> for EnvironmentFacts {
    type Error = StoreError;
    fn try_from(r: EnvFactsRow) -> Result<Self, StoreError> {
        let contract: Contract = json("client contract", &r.contract)?;
        Ok(EnvironmentFacts {
            facts: EnvFacts {
                id: parse("environment id", &r.id)?,
                client_id: parse("client id", &r.client_id)?,
                site_id: parse("site id", &r.site_id)?,
                kind: parse::<EnvironmentKind>("environment kind", &r.kind)?,
                tier: contract.sla_tier,
                inventory_at: opt_ts(r.inventory_at)?,
            },
            environment_name: r.environment_name,
            site_name: r.site_name,
            client_name: r.client_name,
        })
    }
}

/// A finding's columns in `FINDING_COLS` order; its detail goes into `details` (by id), to be
/// written before it.
fn finding_args<'a>(f: &'a Finding, details: &mut Details<'a>) -> StoreResult<Vec<Arg>> {
    let detail_id = details.id_of(f)?;
    Ok(args![
        f.id.to_string(),
        f.client_id.to_string(),
        f.site_id.to_string(),
        f.environment_id.to_string(),
        f.package.ecosystem.osv_name(),
        f.package.qualifier.as_str(),
        f.package.name.as_str(),
        f.version.as_str(),
        f.alias_group.as_str(),
        f.state.as_str(),
        f.state.is_open(),
        i64::from(f.priority),
        f.kev.is_some(),
        f.due_at.map(micros),
        f.risk_accepted_until.map(micros),
        micros(f.detected_at),
        micros(f.updated_at),
        own_body(f)?,
        detail_id
    ])
}

/// Inserts of finding details that are not stored yet.
fn detail_statements(details: BTreeMap<String, String>) -> Vec<Stmt> {
    let rows = details
        .into_iter()
        .map(|(id, body)| args![id, body])
        .collect();
    chunked_inserts(
        "finding_details",
        "detail_id, detail_body",
        2,
        rows,
        " ON CONFLICT (detail_id) DO NOTHING",
    )
}

fn event_args(e: &FindingEvent) -> StoreResult<Vec<Arg>> {
    Ok(args![
        e.id.to_string(),
        e.finding_id.to_string(),
        e.client_id.to_string(),
        micros(e.at),
        e.actor.map(|a| a.to_string()),
        e.kind.as_str(),
        event_body(e)?
    ])
}

/// Multi-row inserts of `rows` (already turned into argument lists of `width`), `suffix`
/// appended to each statement (an `ON CONFLICT` clause).
fn chunked_inserts(
    table: &str,
    cols: &str,
    width: usize,
    rows: Vec<Vec<Arg>>,
    suffix: &str,
) -> Vec<Stmt> {
    let mut out = Vec::new();
    let mut left = rows.len();
    let mut rows = rows.into_iter();
    // The text of a full statement, written once: 9,500 placeholders for the findings.
    let full = (left >= ROWS_PER_STATEMENT).then(|| {
        format!(
            "{}{suffix}",
            multi_row_insert(table, cols, width, ROWS_PER_STATEMENT)
        )
    });
    while left > 0 {
        // Full statements, then the rest in powers of two: a few statement texts per table that
        // stay prepared, where a text for every row count was prepared anew for almost every
        // batch (a twentieth of the writer's time storing one advisory's findings).
        let take = if left >= ROWS_PER_STATEMENT {
            ROWS_PER_STATEMENT
        } else {
            1 << left.ilog2()
        };
        left -= take;
        let sql = match &full {
            Some(text) if take == ROWS_PER_STATEMENT => text.clone(),
            _ => format!("{}{suffix}", multi_row_insert(table, cols, width, take)),
        };
        let args = rows.by_ref().take(take).flatten().collect();
        out.push(Stmt::new(sql, args));
    }
    out
}

/// Opened and closed counts per (UTC day, client) for a batch: a finding created open is opened
/// on its detection day; an event is an opening when it moves a finding from a non-open state to
/// an open one and a closing the other way round. Events without a `from` record a creation,
/// which the created finding already counts.
fn daily_counts(
    created: &[Finding],
    events: &[FindingEvent],
) -> BTreeMap<(String, String), (i64, i64)> {
    let mut out: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for f in created.iter().filter(|f| f.state.is_open()) {
        out.entry((day_of(f.detected_at), f.client_id.to_string()))
            .or_default()
            .0 += 1;
    }
    for e in events {
        let Some(from) = e.from else { continue };
        let delta = match (from.is_open(), e.to.is_open()) {
            (false, true) => (1, 0),
            (true, false) => (0, 1),
            _ => continue,
        };
        let counts = out
            .entry((day_of(e.at), e.client_id.to_string()))
            .or_default();
        counts.0 += delta.0;
        counts.1 += delta.1;
    }
    out
}

/// Upserts that add a batch's counts to `finding_daily`. Rows go in key order, so concurrent
/// batches lock them in the same order and cannot deadlock each other on PostgreSQL.
fn daily_statements(counts: BTreeMap<(String, String), (i64, i64)>) -> Vec<Stmt> {
    let rows = counts
        .into_iter()
        .map(|((day, client), (opened, closed))| args![day, client, opened, closed])
        .collect();
    chunked_inserts(
        "finding_daily",
        "day, client_id, opened, closed",
        4,
        rows,
        " ON CONFLICT (day, client_id) DO UPDATE SET opened = finding_daily.opened + excluded.opened, \
         closed = finding_daily.closed + excluded.closed",
    )
}

/// A finding list's keyset position: the last item's priority and ID.
fn decode_cursor(after: &str) -> StoreResult<(i32, FindingId)> {
    let bad = || StoreError::Invalid(FieldError::new("after", "not a position a list returned"));
    let (priority, id) = after.split_once(':').ok_or_else(bad)?;
    Ok((
        priority.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

/// SQL text under construction with its arguments, numbering placeholders in the order they are
/// written (the order SQLite binds them in).
#[derive(Default)]
struct Query {
    args: Vec<Arg>,
}

impl Query {
    fn arg(&mut self, a: impl Into<Arg>) -> String {
        self.args.push(a.into());
        format!("${}", self.args.len())
    }

    fn list<A: Into<Arg>>(&mut self, items: impl IntoIterator<Item = A>) -> String {
        items
            .into_iter()
            .map(|a| self.arg(a))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The `WHERE` terms of a finding list. Only the filters asked for are written: a
/// `($1 IS NULL OR col = $1)` term would keep either engine from using the index for `col`.
/// Open findings are selected by `is_open`, the condition of the partial ranking indexes.
fn finding_filters(q: &FindingQuery, sql: &mut Query) -> String {
    let mut terms = Vec::new();
    let states: BTreeSet<FindingState> = q.effective_states().into_iter().collect();
    let open: BTreeSet<FindingState> = FindingState::ALL
        .into_iter()
        .filter(|s| s.is_open())
        .collect();
    let open_only = states == open;
    // Within an environment, site or client, their findings are few and found by environment
    // (below). There `state` is written as an expression, which no index serves: SQLite's
    // planner, without statistics, would otherwise walk `findings_by_state` through every
    // finding of that state in the fleet (0.3–3 s at 874,602 findings).
    let scoped = q.environment.is_some() || q.site.is_some() || q.client.is_some();
    if open_only {
        terms.push("is_open".to_owned());
    } else {
        let list = sql.list(states.iter().map(|s| s.as_str()));
        let state = if scoped { "(state || '')" } else { "state" };
        terms.push(format!("{state} IN ({list})"));
    }
    // Only open findings have an index that leads with the client; the rest of a client's, and
    // a site's, are found through their environments by `findings_by_environment` (migrations
    // 0012 and 0015).
    if let Some(c) = q.client {
        let c = c.to_string();
        terms.push(format!("client_id = {}", sql.arg(c.clone())));
        if !open_only {
            terms.push(format!(
                "environment_id IN (SELECT id FROM environments WHERE client_id = {})",
                sql.arg(c)
            ));
        }
    }
    if let Some(s) = q.site {
        let s = s.to_string();
        terms.push(format!("site_id = {}", sql.arg(s.clone())));
        terms.push(format!(
            "environment_id IN (SELECT id FROM environments WHERE site_id = {})",
            sql.arg(s)
        ));
    }
    if let Some(e) = q.environment {
        terms.push(format!("environment_id = {}", sql.arg(e.to_string())));
    }
    if !q.alias_groups.is_empty() {
        let groups: BTreeSet<&str> = q.alias_groups.iter().map(String::as_str).collect();
        terms.push(format!("alias_group IN ({})", sql.list(groups)));
    }
    if let Some(k) = &q.package {
        let eco = sql.arg(k.ecosystem.osv_name());
        let qual = sql.arg(k.qualifier.as_str());
        let name = sql.arg(k.name.as_str());
        terms.push(format!(
            "ecosystem = {eco} AND qualifier = {qual} AND name = {name}"
        ));
    }
    if q.kev_only {
        terms.push("kev".to_owned());
    }
    if let Some(t) = q.due_before {
        terms.push(format!("due_at < {}", sql.arg(micros(t))));
    }
    terms.join(" AND ")
}

/// The statements that store new and changed findings, their events and the daily counts.
fn finding_statements(changes: &FindingChanges) -> StoreResult<Vec<Stmt>> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let mut details = Details::default();
    let created = changes
        .created
        .iter()
        .map(|f| finding_args(f, &mut details))
        .collect::<StoreResult<Vec<_>>>()?;
    // Whole rows replaced by ID, the last version of each, in ID order (the lock order).
    // An upsert is the one multi-row update both dialects share.
    let updated: BTreeMap<FindingId, &Finding> =
        changes.updated.iter().map(|f| (f.id, f)).collect();
    let updated = updated
        .into_values()
        .map(|f| finding_args(f, &mut details))
        .collect::<StoreResult<Vec<_>>>()?;
    let mut statements = detail_statements(details.texts);
    statements.extend(chunked_inserts(
        "findings",
        FINDING_COLS,
        FINDING_WIDTH,
        created,
        "",
    ));
    let set = FINDING_COLS
        .split(", ")
        .skip(1)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    statements.extend(chunked_inserts(
        "findings",
        FINDING_COLS,
        FINDING_WIDTH,
        updated,
        &format!(" ON CONFLICT (id) DO UPDATE SET {set}"),
    ));
    let events = changes
        .events
        .iter()
        .map(event_args)
        .collect::<StoreResult<Vec<_>>>()?;
    statements.extend(chunked_inserts("finding_events", EVENT_COLS, 7, events, ""));
    statements.extend(daily_statements(daily_counts(
        &changes.created,
        &changes.events,
    )));
    Ok(statements)
}

impl SqlStore {
    /// The present definitions of [`DEFERRABLE_INDEXES`], as (name, `CREATE INDEX …`).
    async fn index_definitions(&self) -> StoreResult<Vec<(String, String)>> {
        let names = DEFERRABLE_INDEXES
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = if self.backend_name() == "sqlite" {
            format!(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN ({names}) ORDER BY name"
            )
        } else {
            format!(
                "SELECT indexname AS name, indexdef AS sql FROM pg_indexes \
                 WHERE schemaname = current_schema() AND indexname IN ({names}) ORDER BY indexname"
            )
        };
        let rows: Vec<IndexDefRow> = self.read_all(&sql, Vec::new()).await?;
        Ok(rows.into_iter().map(|r| (r.name, r.sql)).collect())
    }

    /// The rows of `select`, which ends in `IN`, for each of `ids` once, [`IDS_PER_QUERY`] of
    /// them per query.
    async fn read_in<'a, T: AnyRow>(
        &self,
        select: &str,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> StoreResult<Vec<T>> {
        let ids: Vec<&str> = ids
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let sql = format!("{select} ({})", placeholders(1, chunk.len()));
            let a = chunk.iter().map(|id| Arg::from(*id)).collect();
            out.extend(self.read_all::<T>(&sql, a).await?);
        }
        Ok(out)
    }

    /// The texts of the details `rows` name, by id.
    async fn detail_texts(&self, rows: &[FindingRow]) -> StoreResult<HashMap<String, String>> {
        let found: Vec<DetailRow> = self
            .read_in(
                "SELECT detail_id, detail_body FROM finding_details WHERE detail_id IN",
                rows.iter().filter_map(|r| r.detail_id.as_deref()),
            )
            .await?;
        Ok(found
            .into_iter()
            .map(|d| (d.detail_id, d.detail_body))
            .collect())
    }

    async fn snapshot_summary(&self, id: SnapshotId) -> StoreResult<SnapshotSummary> {
        let sql = format!(
            "SELECT {} FROM inventory_snapshots s WHERE s.id = $1",
            snapshot_cols("s")
        );
        let row: SnapshotRow = self.read_one(&sql, args![id.to_string()]).await?;
        row.try_into()
    }

    async fn finding_exists(&self, id: FindingId) -> StoreResult<bool> {
        match self.get_finding(id).await {
            Ok(_) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl FleetStore for SqlStore {
    async fn latest_snapshot(&self, env: EnvironmentId) -> StoreResult<Option<SnapshotSummary>> {
        let sql = format!(
            "SELECT {} FROM environment_inventory i JOIN inventory_snapshots s ON s.id = i.snapshot_id \
             WHERE i.environment_id = $1",
            snapshot_cols("s")
        );
        let row: Option<SnapshotRow> = self.read_opt(&sql, args![env.to_string()]).await?;
        row.map(SnapshotSummary::try_from).transpose()
    }

    async fn environment_packages(&self, env: EnvironmentId) -> StoreResult<Vec<Package>> {
        let sql = "SELECT environment_id, ecosystem, qualifier, name, version, dev FROM installations \
                   WHERE environment_id = $1 ORDER BY ecosystem, qualifier, name, version";
        let rows: Vec<InstallationRow> = self.read_all(sql, args![env.to_string()]).await?;
        rows.into_iter()
            .map(|r| {
                Ok(Package {
                    key: package_key(&r.ecosystem, r.qualifier, r.name)?,
                    version: r.version,
                    dev: r.dev,
                })
            })
            .collect()
    }

    async fn save_snapshot(&self, s: &NewSnapshot) -> StoreResult<SnapshotSummary> {
        self.save_snapshot_with_findings(s, &FindingChanges::default())
            .await
    }

    async fn save_snapshot_with_findings(
        &self,
        s: &NewSnapshot,
        findings: &FindingChanges,
    ) -> StoreResult<SnapshotSummary> {
        let id = s.id.to_string();
        let env = s.environment_id.to_string();
        let kinds = |pred: fn(ChangeKind) -> bool| {
            i64::try_from(s.changes.iter().filter(|c| pred(c.kind)).count()).unwrap_or(i64::MAX)
        };
        let len = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        // An unchanged re-upload keeps no copy of the list: it points at the snapshot that has one.
        // A first upload always stores its list, so every chain starts with one.
        let blob = if s.changes.is_empty() && s.previous.is_some() {
            None
        } else {
            Some(compress_packages(&s.packages)?)
        };
        let packages_from = blob.as_ref().map(|_| id.clone());
        let previous = s.previous.map(|p| p.to_string());

        let mut statements = Vec::new();
        // The snapshot takes its site and client from the environment row; no row, no environment.
        statements.push(
            Stmt::new(
                "INSERT INTO inventory_snapshots (id, environment_id, site_id, client_id, taken_at, actor, \
                 previous, sources, packages, dev_packages, added, removed, changed, unevaluable, changes, \
                 unevaluable_lines, packages_from, packages_blob) \
                 SELECT $1, e.id, e.site_id, e.client_id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                 COALESCE($14, (SELECT p.packages_from FROM inventory_snapshots p WHERE p.id = $4)), $15 \
                 FROM environments e WHERE e.id = $16",
                args![
                    id.as_str(),
                    micros(s.taken_at),
                    s.actor.map(|a| a.to_string()),
                    &previous,
                    to_json("snapshot sources", &s.sources)?,
                    len(s.packages.len()),
                    len(s.packages.iter().filter(|p| p.dev).count()),
                    kinds(|k| k == ChangeKind::Added),
                    kinds(|k| k == ChangeKind::Removed),
                    kinds(|k| {
                        matches!(
                            k,
                            ChangeKind::Upgraded | ChangeKind::Downgraded | ChangeKind::Changed
                        )
                    }),
                    len(s.unevaluable.len()),
                    to_json("snapshot changes", &s.changes)?,
                    to_json("snapshot unevaluable entries", &s.unevaluable)?,
                    packages_from,
                    blob,
                    env.as_str()
                ],
            )
            .or_fail(StoreError::NotFound),
        );
        // Compare-and-swap of the environment's newest snapshot: a concurrent upload that got
        // there first makes this change no row, and the whole upload rolls back.
        let conflict = || {
            StoreError::Conflict(
                "inventory changed concurrently: the environment has a newer snapshot".into(),
            )
        };
        statements.push(match &previous {
            None => Stmt::new(
                "INSERT INTO environment_inventory (environment_id, snapshot_id, taken_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (environment_id) DO NOTHING",
                args![env.as_str(), id.as_str(), micros(s.taken_at)],
            )
            .or_fail(conflict()),
            Some(p) => Stmt::new(
                "UPDATE environment_inventory SET snapshot_id = $1, taken_at = $2 \
                 WHERE environment_id = $3 AND snapshot_id = $4",
                args![id.as_str(), micros(s.taken_at), env.as_str(), p.as_str()],
            )
            .or_fail(conflict()),
        });

        // The installations index follows the changes: versions that went away, then versions
        // that arrived or changed their dev flag. Sets, so a repeated line cannot hit a row twice
        // in one statement (which PostgreSQL's upsert refuses).
        let mut gone: BTreeSet<(&PackageKey, &str)> = BTreeSet::new();
        let mut present: BTreeMap<(&PackageKey, &str), bool> = BTreeMap::new();
        for (i, c) in s.changes.iter().enumerate() {
            let missing = |side: &str| {
                StoreError::Invalid(FieldError::new(
                    format!("changes[{i}].{side}"),
                    "required for this kind of change",
                ))
            };
            if matches!(
                c.kind,
                ChangeKind::Removed
                    | ChangeKind::Upgraded
                    | ChangeKind::Downgraded
                    | ChangeKind::Changed
            ) {
                gone.insert((&c.key, c.from.as_deref().ok_or_else(|| missing("from"))?));
            }
            if c.kind != ChangeKind::Removed {
                present.insert(
                    (&c.key, c.to.as_deref().ok_or_else(|| missing("to"))?),
                    c.dev,
                );
            }
        }
        let gone: Vec<_> = gone.into_iter().collect();
        for chunk in gone.chunks(ROWS_PER_STATEMENT) {
            // Row-value IN over a subquery: SQLite turns it into primary-key lookups, where
            // `IN (VALUES …)` scans the table.
            let sql = format!(
                "DELETE FROM installations WHERE environment_id = $1 AND (ecosystem, qualifier, name, version) \
                 IN (SELECT column1, column2, column3, column4 FROM ({}) AS gone)",
                values_list(2, 4, chunk.len())
            );
            let mut a = args![env.as_str()];
            for (k, v) in chunk {
                a.extend(key_args(k));
                a.push(Arg::from(*v));
            }
            statements.push(Stmt::new(sql, a));
        }
        let rows = present
            .into_iter()
            .map(|((k, v), dev)| {
                let mut a = key_args(k);
                a.extend(args![v, env.as_str(), dev]);
                a
            })
            .collect();
        statements.extend(chunked_inserts(
            "installations",
            INSTALLATION_COLS,
            6,
            rows,
            " ON CONFLICT (ecosystem, qualifier, name, version, environment_id) DO UPDATE SET dev = excluded.dev",
        ));
        statements.extend(finding_statements(findings)?);

        self.write_tx(statements).await?;
        self.snapshot_summary(s.id).await
    }

    async fn get_snapshot(&self, id: SnapshotId) -> StoreResult<Snapshot> {
        let sql = format!(
            "SELECT {}, s.changes, s.unevaluable_lines, b.packages_blob FROM inventory_snapshots s \
             LEFT JOIN inventory_snapshots b ON b.id = s.packages_from WHERE s.id = $1",
            snapshot_cols("s")
        );
        let row: SnapshotDetailRow = self.read_one(&sql, args![id.to_string()]).await?;
        row.try_into()
    }

    async fn list_snapshots(
        &self,
        env: EnvironmentId,
        after: Option<SnapshotId>,
        limit: u32,
    ) -> StoreResult<Page<SnapshotSummary>> {
        let size = page_size(limit) as usize;
        let mut q = Query::default();
        let env_arg = q.arg(env.to_string());
        let position = match after {
            Some(a) => format!(" AND s.id < {}", q.arg(a.to_string())),
            None => String::new(),
        };
        let limit_arg = q.arg(i64::try_from(size + 1).unwrap_or(i64::MAX));
        let sql = format!(
            "SELECT {} FROM inventory_snapshots s WHERE s.environment_id = {env_arg}{position} \
             ORDER BY s.id DESC LIMIT {limit_arg}",
            snapshot_cols("s")
        );
        let rows: Vec<SnapshotRow> = self.read_all(&sql, q.args).await?;
        let more = rows.len() > size;
        let items = rows
            .into_iter()
            .take(size)
            .map(SnapshotSummary::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        let next_after = if more {
            items.last().map(|s| s.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_after })
    }

    async fn environment_facts(
        &self,
        envs: &[EnvironmentId],
    ) -> StoreResult<Vec<EnvironmentFacts>> {
        let ids: Vec<String> = envs.iter().map(|e| e.to_string()).collect();
        let rows: Vec<EnvFactsRow> = self
            .read_in(
                &format!("{ENV_FACTS} WHERE e.id IN"),
                ids.iter().map(String::as_str),
            )
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn all_environment_facts(&self) -> StoreResult<Vec<EnvironmentFacts>> {
        let rows: Vec<EnvFactsRow> = self.read_all(ENV_FACTS, args![]).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn tenant_version(&self) -> StoreResult<i64> {
        let row: VersionRow = self
            .read_one("SELECT n FROM tenant_version WHERE id = 1", Vec::new())
            .await?;
        Ok(row.n)
    }

    async fn installations_of(&self, keys: &[PackageKey]) -> StoreResult<Vec<VersionInstalls>> {
        let keys: Vec<PackageKey> = keys
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        if let Some(direct) = &self.reader {
            return direct
                .with_conn(move |conn| sqlite_installations(conn, &keys))
                .await;
        }
        let mut grouped = Grouper::default();
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            // As in `sqlite_installations`; VALUES columns are `column1…` on both engines.
            let sql = format!(
                "SELECT i.environment_id, i.ecosystem, i.qualifier, i.name, i.version, i.dev \
                 FROM ({}) AS k JOIN installations i \
                 ON i.ecosystem = k.column1 AND i.qualifier = k.column2 AND i.name = k.column3",
                values_list(1, 3, chunk.len())
            );
            let rows: Vec<InstallationRow> = self
                .read_all(&sql, chunk.iter().flat_map(key_args).collect())
                .await?;
            for r in rows {
                let i = Installation::try_from(r)?;
                let Ok(at) = keys.binary_search(&i.key) else {
                    return Err(StoreError::Corrupt(format!(
                        "installations index: a row for {}, which was not asked for",
                        i.key
                    )));
                };
                grouped.add(&keys, at, &i.version, (i.environment_id, i.dev));
            }
        }
        Ok(grouped.out)
    }

    async fn installed_versions(
        &self,
        after: Option<&(PackageKey, String)>,
        limit: u32,
    ) -> StoreResult<Vec<(PackageKey, String)>> {
        let mut q = Query::default();
        let position = match after {
            Some((k, v)) => {
                let eco = q.arg(k.ecosystem.osv_name());
                let qual = q.arg(k.qualifier.as_str());
                let name = q.arg(k.name.as_str());
                let version = q.arg(v.as_str());
                format!(
                    " WHERE (ecosystem, qualifier, name, version) > ({eco}, {qual}, {name}, {version})"
                )
            }
            None => String::new(),
        };
        // Not clamped like a page: this is a batch of work, whose size is the matcher's choice.
        let limit = if limit == 0 { DEFAULT_PAGE_SIZE } else { limit };
        let limit_arg = q.arg(i64::from(limit));
        // GROUP BY rather than DISTINCT: both engines read the primary key in order and stop
        // after `limit` groups.
        let sql = format!(
            "SELECT ecosystem, qualifier, name, version FROM installations{position} \
             GROUP BY ecosystem, qualifier, name, version \
             ORDER BY ecosystem, qualifier, name, version LIMIT {limit_arg}"
        );
        let rows: Vec<PackageVersionRow> = self.read_all(&sql, q.args).await?;
        rows.into_iter()
            .map(|r| Ok((package_key(&r.ecosystem, r.qualifier, r.name)?, r.version)))
            .collect()
    }

    async fn findings_of(
        &self,
        keys: &[PackageKey],
        envs: Option<&[EnvironmentId]>,
    ) -> StoreResult<Vec<Finding>> {
        let keys: Vec<&PackageKey> = keys.iter().collect::<BTreeSet<_>>().into_iter().collect();
        let envs: Option<Vec<String>> = envs.map(|e| {
            e.iter()
                .map(|e| e.to_string())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        });
        let env_chunks: Vec<Option<&[String]>> = match &envs {
            None => vec![None],
            Some(e) => e.chunks(IDS_PER_QUERY).map(Some).collect(),
        };
        let mut out = Vec::new();
        for key_chunk in keys.chunks(KEYS_PER_QUERY) {
            for env_chunk in &env_chunks {
                let mut a: Vec<Arg> = key_chunk.iter().flat_map(|k| key_args(k)).collect();
                let env_filter = match env_chunk {
                    Some(ids) => {
                        let list = placeholders(a.len() + 1, ids.len());
                        a.extend(ids.iter().map(|e| Arg::from(e.as_str())));
                        format!(" WHERE f.environment_id IN ({list})")
                    }
                    None => String::new(),
                };
                let sql = format!(
                    "SELECT {FINDING_READ_BARE} FROM ({}) AS k JOIN findings f \
                     ON f.ecosystem = k.column1 AND f.qualifier = k.column2 AND f.name = k.column3 \
                     {env_filter}",
                    values_list(1, 3, key_chunk.len())
                );
                let rows: Vec<FindingRow> = self.read_all(&sql, a).await?;
                let details = self.detail_texts(&rows).await?;
                out.extend(findings_from(&rows, &details)?);
            }
        }
        out.sort_by_key(|f| f.id);
        Ok(out)
    }

    async fn finding_packages(&self, keys: &[PackageKey]) -> StoreResult<Vec<PackageKey>> {
        let keys: Vec<&PackageKey> = keys.iter().collect::<BTreeSet<_>>().into_iter().collect();
        let mut out = BTreeSet::new();
        for key_chunk in keys.chunks(KEYS_PER_QUERY) {
            let a: Vec<Arg> = key_chunk.iter().flat_map(|k| key_args(k)).collect();
            // EXISTS per key: one index probe each on (ecosystem, qualifier, name, …), never a
            // read of the findings themselves.
            let sql = format!(
                "SELECT k.column1 AS ecosystem, k.column2 AS qualifier, k.column3 AS name FROM ({}) AS k \
                 WHERE EXISTS (SELECT 1 FROM findings f WHERE f.ecosystem = k.column1 \
                 AND f.qualifier = k.column2 AND f.name = k.column3 \
                 AND f.state NOT IN ('inactive', 'verified'))",
                values_list(1, 3, key_chunk.len())
            );
            let rows: Vec<PackageRow> = self.read_all(&sql, a).await?;
            for r in rows {
                out.insert(package_key(&r.ecosystem, r.qualifier, r.name)?);
            }
        }
        Ok(out.into_iter().collect())
    }

    fn prepare_finding_changes(&self, changes: &FindingChanges) -> StoreResult<PreparedFindings> {
        let mut statements = finding_statements(changes)?;
        if self.reader.is_some() {
            number_in_advance(&mut statements);
        }
        Ok(PreparedFindings::new(statements))
    }

    async fn apply_prepared_findings(&self, prepared: PreparedFindings) -> StoreResult<()> {
        let statements: Vec<Stmt> = prepared.into_inner().ok_or_else(|| {
            StoreError::Backend("finding changes prepared by another store".into())
        })?;
        self.write_tx(statements).await
    }

    async fn defer_finding_indexes(&self) -> StoreResult<bool> {
        let any: Option<ValueRow> = self
            .read_opt("SELECT id AS value FROM findings LIMIT 1", Vec::new())
            .await?;
        if any.is_some() || self.fleet_state(DEFERRED_INDEXES).await?.is_some() {
            return Ok(false);
        }
        let defs = self.index_definitions().await?;
        if defs.is_empty() {
            return Ok(false);
        }
        // The definitions are kept in the same transaction that drops the indexes, so a process
        // that stops before rebuilding them leaves what the next start needs to.
        let mut statements = vec![Stmt::new(
            "INSERT INTO fleet_state (name, value) VALUES ($1, $2)",
            args![DEFERRED_INDEXES, to_json("index definitions", &defs)?],
        )];
        statements.extend(
            defs.iter()
                .map(|(name, _)| Stmt::new(format!("DROP INDEX {name}"), Vec::new())),
        );
        self.write_tx(statements).await?;
        tracing::info!(indexes = defs.len(), "findings indexes deferred");
        Ok(true)
    }

    async fn restore_finding_indexes(&self) -> StoreResult<()> {
        let Some(saved) = self.fleet_state(DEFERRED_INDEXES).await? else {
            return Ok(());
        };
        let defs: Vec<(String, String)> = json("deferred index definitions", &saved)?;
        let mut statements = Vec::new();
        for (name, sql) in &defs {
            let create = sql.strip_prefix("CREATE INDEX ").ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "fleet state {DEFERRED_INDEXES}: the saved definition of index {name} \
                     is not a CREATE INDEX statement: {sql}"
                ))
            })?;
            statements.push(Stmt::new(
                format!("CREATE INDEX IF NOT EXISTS {create}"),
                Vec::new(),
            ));
        }
        statements.push(Stmt::new(
            "DELETE FROM fleet_state WHERE name = $1",
            args![DEFERRED_INDEXES],
        ));
        match &self.reader {
            Some(direct) => direct.build_indexes(statements).await?,
            None => self.write_tx(statements).await?,
        }
        tracing::info!(indexes = defs.len(), "findings indexes rebuilt");
        Ok(())
    }

    async fn get_finding(&self, id: FindingId) -> StoreResult<Finding> {
        let row: FindingRow = self
            .read_one(
                &format!("SELECT {FINDING_READ} FROM findings f {DETAIL_JOIN} WHERE f.id = $1"),
                args![id.to_string()],
            )
            .await?;
        finding_from(&row)
    }

    async fn save_triage(
        &self,
        f: &Finding,
        event: &FindingEvent,
        seen_at: Timestamp,
    ) -> StoreResult<()> {
        // SET takes $1…$17 and WHERE the last two: SQLite numbers parameters by first appearance.
        let set = FINDING_COLS
            .split(", ")
            .skip(1)
            .enumerate()
            .map(|(i, c)| format!("{c} = ${}", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let mut details = Details::default();
        let mut a = finding_args(f, &mut details)?;
        let id = a.remove(0);
        a.push(id);
        a.push(Arg::from(micros(seen_at)));
        let update = Stmt::new(
            format!(
                "UPDATE findings SET {set} WHERE id = ${} AND updated_at = ${}",
                FINDING_WIDTH,
                FINDING_WIDTH + 1
            ),
            a,
        )
        .or_fail(StoreError::Conflict(
            "the finding was changed by someone else meanwhile: reload it and decide again".into(),
        ));
        let mut statements = detail_statements(details.texts);
        statements.extend([
            update,
            Stmt::new(
                multi_row_insert("finding_events", EVENT_COLS, 7, 1),
                event_args(event)?,
            ),
        ]);
        statements.extend(daily_statements(daily_counts(
            &[],
            std::slice::from_ref(event),
        )));
        let result = self.write_tx(statements).await;
        // No row changed: tell a missing finding apart from a stale one, after the rollback.
        if matches!(result, Err(StoreError::Conflict(_))) && !self.finding_exists(f.id).await? {
            return Err(StoreError::NotFound);
        }
        result
    }

    async fn finding_events(&self, id: FindingId) -> StoreResult<Vec<FindingEvent>> {
        let rows: Vec<EventRow> = self
            .read_all(
                "SELECT id, finding_id, client_id, at, actor, kind, body FROM finding_events \
                 WHERE finding_id = $1 ORDER BY at, id",
                args![id.to_string()],
            )
            .await?;
        rows.iter().map(event_from).collect()
    }

    async fn list_findings(&self, q: &FindingQuery) -> StoreResult<Page<Finding>> {
        let size = page_size(q.limit) as usize;
        let cursor = q.after.as_deref().map(decode_cursor).transpose()?;
        let mut sql = Query::default();
        let filters = finding_filters(q, &mut sql);
        let text = match cursor {
            None => {
                let limit = sql.arg(i64::try_from(size + 1).unwrap_or(i64::MAX));
                format!(
                    "SELECT {FINDING_READ} FROM findings f {DETAIL_JOIN} WHERE {filters} \
                     ORDER BY f.priority DESC, f.id LIMIT {limit}"
                )
            }
            // Past a position: the rest of its priority, then the lower priorities. Two index
            // range scans, where `priority < $p OR (priority = $p AND id > $id)` would make
            // both engines read every row of the position's priority up to the position.
            Some((priority, id)) => {
                let p = sql.arg(i64::from(priority));
                let id = sql.arg(id.to_string());
                let limit = sql.arg(i64::try_from(size + 1).unwrap_or(i64::MAX));
                format!(
                    "SELECT * FROM (SELECT {FINDING_READ} FROM findings f {DETAIL_JOIN} \
                     WHERE {filters} AND f.priority = {p} AND f.id > {id} ORDER BY f.id LIMIT {limit}) AS tie \
                     UNION ALL SELECT * FROM (SELECT {FINDING_READ} FROM findings f {DETAIL_JOIN} \
                     WHERE {filters} AND f.priority < {p} ORDER BY f.priority DESC, f.id LIMIT {limit}) AS rest \
                     ORDER BY priority DESC, id LIMIT {limit}"
                )
            }
        };
        let rows: Vec<FindingRow> = self.read_all(&text, sql.args).await?;
        let more = rows.len() > size;
        let items = findings_joined(&rows[..rows.len().min(size)])?;
        let next_after = match rows.get(size - 1) {
            Some(last) if more => Some(format!("{}:{}", last.priority, last.id)),
            _ => None,
        };
        Ok(Page { items, next_after })
    }

    async fn all_findings(&self, q: &FindingQuery) -> StoreResult<Vec<Finding>> {
        let mut sql = Query::default();
        let filters = finding_filters(q, &mut sql);
        let rows: Vec<FindingRow> = self
            .read_all(
                &format!(
                    "SELECT {FINDING_READ} FROM findings f {DETAIL_JOIN} WHERE {filters} \
                     ORDER BY f.priority DESC, f.id"
                ),
                sql.args,
            )
            .await?;
        findings_joined(&rows)
    }

    async fn findings_summary(
        &self,
        client: Option<ClientId>,
        now: Timestamp,
    ) -> StoreResult<FindingsSummary> {
        let client = client.map(|c| c.to_string());

        let mut q = Query::default();
        let now_arg = q.arg(micros(now));
        let only = match &client {
            Some(c) => format!(" AND client_id = {}", q.arg(c.as_str())),
            None => String::new(),
        };
        let counts: OpenCountsRow = self
            .read_one(
                &format!(
                    "SELECT COUNT(*) AS open, COUNT(CASE WHEN kev THEN 1 END) AS kev, \
                     COUNT(CASE WHEN due_at <= {now_arg} THEN 1 END) AS breached \
                     FROM findings WHERE is_open{only}"
                ),
                q.args,
            )
            .await?;

        // Counted per priority and banded here, so the bands' thresholds stay in one place
        // (`priority::band`); there are only as many rows as distinct priorities.
        let mut q = Query::default();
        let only = match &client {
            Some(c) => format!(" AND client_id = {}", q.arg(c.as_str())),
            None => String::new(),
        };
        let per_priority: Vec<PriorityCountRow> = self
            .read_all(
                &format!(
                    "SELECT priority, COUNT(*) AS n FROM findings WHERE is_open{only} GROUP BY priority"
                ),
                q.args,
            )
            .await?;
        let mut by_band: Vec<(String, u64)> = ["urgent", "high", "medium", "low"]
            .into_iter()
            .map(|b| (b.to_owned(), 0))
            .collect();
        for r in per_priority {
            let name = band(r.priority);
            let n = unsigned("finding count", r.n)?;
            match by_band.iter_mut().find(|(b, _)| b == name) {
                Some((_, total)) => *total += n,
                None => by_band.push((name.to_owned(), n)),
            }
        }

        let mut q = Query::default();
        // Through the client's environments: no index leads with the client for every state.
        let only = match &client {
            Some(c) => format!(
                " WHERE client_id = {} AND environment_id IN \
                 (SELECT id FROM environments WHERE client_id = {})",
                q.arg(c.as_str()),
                q.arg(c.as_str())
            ),
            None => String::new(),
        };
        let per_state: Vec<StateCountRow> = self
            .read_all(
                &format!("SELECT state, COUNT(*) AS n FROM findings{only} GROUP BY state"),
                q.args,
            )
            .await?;
        let mut by_state: Vec<(FindingState, u64)> =
            FindingState::ALL.into_iter().map(|s| (s, 0)).collect();
        for r in per_state {
            let state = FindingState::parse(&r.state)
                .ok_or_else(|| StoreError::Corrupt(format!("finding state {:?}", r.state)))?;
            let n = unsigned("finding count", r.n)?;
            if let Some((_, total)) = by_state.iter_mut().find(|(s, _)| *s == state) {
                *total = n;
            }
        }

        let mut q = Query::default();
        let now_arg = q.arg(micros(now));
        let only = match &client {
            Some(c) => format!(" AND client_id = {}", q.arg(c.as_str())),
            None => String::new(),
        };
        // Grouped by client alone, in the order of the covering index `findings_open_by_client`;
        // grouping by the joined name as well had SQLite sort every open finding first.
        let per_client: Vec<ClientFindingsRow> = self
            .read_all(
                &format!(
                    "SELECT f.client_id, c.name AS client_name, f.open, f.kev, f.breached, \
                     f.top_priority FROM (SELECT client_id, COUNT(*) AS open, \
                     COUNT(CASE WHEN kev THEN 1 END) AS kev, \
                     COUNT(CASE WHEN due_at <= {now_arg} THEN 1 END) AS breached, \
                     MAX(priority) AS top_priority \
                     FROM findings WHERE is_open{only} GROUP BY client_id) f \
                     JOIN clients c ON c.id = f.client_id \
                     ORDER BY f.top_priority DESC, f.client_id LIMIT 100"
                ),
                q.args,
            )
            .await?;
        let by_client = per_client
            .into_iter()
            .map(|r| {
                Ok(ClientFindings {
                    client_id: parse("client id", &r.client_id)?,
                    client_name: r.client_name,
                    open: unsigned("finding count", r.open)?,
                    kev: unsigned("finding count", r.kev)?,
                    breached: unsigned("finding count", r.breached)?,
                    top_priority: r.top_priority,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;

        Ok(FindingsSummary {
            open: unsigned("finding count", counts.open)?,
            kev: unsigned("finding count", counts.kev)?,
            breached: unsigned("finding count", counts.breached)?,
            by_band,
            by_state,
            by_client,
        })
    }

    async fn findings_daily(
        &self,
        client: Option<ClientId>,
        from: Date,
    ) -> StoreResult<Vec<DailyFindings>> {
        let mut q = Query::default();
        let from_arg = q.arg(from.to_string());
        let only = match client {
            Some(c) => format!(" AND client_id = {}", q.arg(c.to_string())),
            None => String::new(),
        };
        // The casts keep PostgreSQL's SUM of BIGINT (NUMERIC) an integer.
        let rows: Vec<DailyRow> = self
            .read_all(
                &format!(
                    "SELECT day, CAST(SUM(opened) AS BIGINT) AS opened, CAST(SUM(closed) AS BIGINT) AS closed \
                     FROM finding_daily WHERE day >= {from_arg}{only} GROUP BY day ORDER BY day"
                ),
                q.args,
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(DailyFindings {
                    day: parse("day", &r.day)?,
                    opened: r.opened,
                    closed: r.closed,
                })
            })
            .collect()
    }

    async fn expired_risk_acceptances(&self, now: Timestamp) -> StoreResult<Vec<Finding>> {
        let rows: Vec<FindingRow> = self
            .read_all(
                &format!(
                    "SELECT {FINDING_READ} FROM findings f {DETAIL_JOIN} \
                     WHERE f.state = $1 AND f.risk_until <= $2 ORDER BY f.id"
                ),
                args![FindingState::RiskAccepted.as_str(), micros(now)],
            )
            .await?;
        findings_joined(&rows)
    }

    async fn fleet_state(&self, name: &str) -> StoreResult<Option<String>> {
        let row: Option<ValueRow> = self
            .read_opt("SELECT value FROM fleet_state WHERE name = $1", args![name])
            .await?;
        Ok(row.map(|r| r.value))
    }

    async fn set_fleet_state(&self, name: &str, value: &str) -> StoreResult<()> {
        self.write_tx(vec![Stmt::new(
            "INSERT INTO fleet_state (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            args![name, value],
        )])
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::numbered;
    use std::sync::Arc;

    #[test]
    fn inserts_keep_every_row_in_order_with_few_statement_texts() {
        let mut texts = BTreeSet::new();
        for n in 0..1_300_i64 {
            let rows: Vec<Vec<Arg>> = (0..n).map(|i| args![i, -i]).collect();
            let statements = chunked_inserts("t", "a, b", 2, rows, "");
            let written: Vec<String> = statements
                .iter()
                .flat_map(|s| s.args.iter().map(|a| format!("{a:?}")))
                .collect();
            let expected: Vec<String> = (0..n)
                .flat_map(|i| args![i, -i])
                .map(|a| format!("{a:?}"))
                .collect();
            assert_eq!(written, expected, "{n} rows");
            texts.extend(statements.into_iter().map(|s| s.sql));
        }
        // 500 rows, then 256, 128, …, 1: a text per size for any number of rows.
        assert_eq!(texts.len(), 10);
    }

    /// A list within one environment, site or client reaches its findings through the
    /// environment, whatever states it asks for. Walking `findings_by_state` instead read every
    /// finding of those states in the fleet: 3 s for one environment's new findings at 874,602.
    #[tokio::test]
    async fn scoped_finding_lists_are_found_by_environment() {
        use palisade_keyring::{Keyring, LiveKeyring};
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("plans.db");
        let keys = Arc::new(LiveKeyring::fixed(Keyring::generate()));
        let store = SqlStore::connect(&format!("sqlite://{}", path.display()), keys)
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        let conn = rusqlite::Connection::open(&path).expect("open directly");
        let one = |states: Vec<FindingState>| FindingQuery {
            states,
            ..FindingQuery::default()
        };
        let scopes = [
            FindingQuery {
                environment: Some(EnvironmentId::new()),
                ..one(vec![FindingState::New])
            },
            FindingQuery {
                site: Some(palisade_core::SiteId::new()),
                ..one(vec![FindingState::Fixed, FindingState::Verified])
            },
            FindingQuery {
                site: Some(palisade_core::SiteId::new()),
                ..one(Vec::new())
            },
            FindingQuery {
                client: Some(ClientId::new()),
                ..one(vec![FindingState::New])
            },
        ];
        for q in scopes {
            let mut sql = Query::default();
            let filters = finding_filters(&q, &mut sql);
            let text = format!(
                "EXPLAIN QUERY PLAN SELECT body FROM findings WHERE {filters} \
                 ORDER BY priority DESC, id LIMIT 51"
            );
            let text = numbered(&text);
            let mut stmt = conn.prepare(&text).expect("prepare");
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(sql.args.iter()), |r| r.get(3))
                .expect("plan")
                .collect::<Result<_, _>>()
                .expect("plan rows");
            let first = plan.first().map(String::as_str).unwrap_or_default();
            assert!(
                first.starts_with(
                    "SEARCH findings USING INDEX findings_by_environment (environment_id=?)"
                ),
                "{filters}: {plan:?}"
            );
        }
        store.close().await;
    }

    #[test]
    fn cursors_round_trip_and_garbage_names_the_field() {
        let id = FindingId::new();
        assert_eq!(decode_cursor(&format!("-12:{id}")).ok(), Some((-12, id)));
        for bad in ["", "12", "x:y", &format!("12:{id}x"), &format!(":{id}")] {
            assert!(
                matches!(decode_cursor(bad), Err(StoreError::Invalid(ref f)) if f.field == "after"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn placeholders_are_numbered_in_writing_order() {
        assert_eq!(values_list(2, 2, 2), "VALUES ($2, $3), ($4, $5)");
        let mut q = Query::default();
        assert_eq!(q.list(["a", "b"]), "$1, $2");
        assert_eq!(q.arg(3i64), "$3");
    }
}
