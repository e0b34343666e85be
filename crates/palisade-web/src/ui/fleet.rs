//! Fleet pages beyond the finding list: the staff portfolio dashboard (numbers, clients, the
//! open-findings chart, the matcher's state), "who is affected by this advisory", and inventory
//! snapshots (an environment's uploads and one upload's difference from the one before).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use jiff::tz::TimeZone;
use palisade_core::policy::{self, Action, Resource, Scope};
use palisade_core::tenant::{Environment, Site};
use palisade_core::{SnapshotId, UserId};
use palisade_fleet::ChangeKind;
use palisade_matcher::affected::AffectedReport;
use palisade_store::{ClientFindings, FindingsSummary, SnapshotSummary};
use serde::Deserialize;

use super::chart::{self, Chart};
use super::findings::minute;
use super::{Shell, UiError, UiResult, Visitor, render};
use crate::AppState;
use crate::api::fleet::trend;
use crate::auth::Caller;

/// Days of history the dashboard chart shows.
const CHART_DAYS: i64 = 90;

fn when(t: Option<jiff::Timestamp>) -> String {
    t.map(minute).unwrap_or_else(|| "never".to_owned())
}

// ---- dashboard ----

/// The matcher's and the advisory sync's state, as text.
struct StatusView {
    last_catch_up: String,
    last_full_match: String,
    last_error: Option<String>,
    last_packages: usize,
    last_created: usize,
    last_updated: usize,
    sync_last_run: String,
    sync_last_result: Option<String>,
    sync_next_run: String,
}

#[derive(Template)]
#[template(path = "findings_dashboard.html")]
struct DashboardPage {
    shell: Option<Shell>,
    summary: FindingsSummary,
    bands: Vec<(&'static str, u64)>,
    /// Each client's counts with the band of its top priority.
    clients: Vec<(ClientFindings, &'static str)>,
    chart: Chart,
    status: StatusView,
}

pub(crate) async fn dashboard(State(s): State<AppState>, Visitor(c): Visitor) -> UiResult {
    if c.principal.client_id.is_some() {
        // A client's view of its own findings is the portal.
        return Ok(Redirect::to("/#vulnerabilities").into_response());
    }
    c.authorize(Action::Read(Resource::Finding), Scope::Provider)?;
    let now = s.clock.now();
    let summary = s.store.findings_summary(None, now).await?;
    let bands = ["urgent", "high", "medium", "low"]
        .into_iter()
        .map(|b| {
            let n = summary
                .by_band
                .iter()
                .find(|(name, _)| name == b)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            (b, n)
        })
        .collect();
    let today = now.to_zoned(TimeZone::UTC).date();
    let from = today
        .checked_sub(jiff::Span::new().days(CHART_DAYS))
        .unwrap_or(today);
    // The running total starts at the first day ever counted, not at the chart's first day.
    let daily = s
        .store
        .findings_daily(None, jiff::civil::date(1970, 1, 1))
        .await?;
    let points = trend(&daily, jiff::civil::date(1970, 1, 1));
    let chart = chart::chart(&chart::daily_series(&points, from, today));
    let st = if policy::authorize(
        &c.principal,
        Action::Read(Resource::Advisory),
        Scope::Provider,
    )
    .is_ok()
    {
        s.matcher.status()
    } else {
        Default::default()
    };
    let clients = summary
        .by_client
        .iter()
        .map(|cl| (cl.clone(), palisade_fleet::priority::band(cl.top_priority)))
        .collect();
    Ok(render(&DashboardPage {
        shell: Shell::of(&c),
        bands,
        clients,
        chart,
        status: StatusView {
            last_catch_up: when(st.last_catch_up),
            last_full_match: when(st.last_full_match),
            last_error: st.last_error,
            last_packages: st.last_packages,
            last_created: st.last_changes.created,
            last_updated: st.last_changes.updated,
            sync_last_run: when(st.sync_last_run),
            sync_last_result: st.sync_last_result,
            sync_next_run: st
                .sync_next_run
                .map(minute)
                .unwrap_or_else(|| "not scheduled".to_owned()),
        },
        summary,
    }))
}

// ---- who is affected ----

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AdvisoryQuery {
    id: Option<String>,
}

#[derive(Template)]
#[template(path = "advisory.html")]
struct AdvisoryPage {
    shell: Option<Shell>,
    query: String,
    report: Option<AffectedReport>,
    csv: String,
    staff: bool,
    may_plan: bool,
}

/// An advisory id as one path segment: ids are typed by people, so anything outside the
/// unreserved characters is percent-encoded rather than trusted to be URL-safe.
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) async fn advisory(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Query(q): Query<AdvisoryQuery>,
) -> UiResult {
    let client = c.principal.client_id;
    c.authorize(
        Action::Read(Resource::Advisory),
        client.map(Scope::Client).unwrap_or(Scope::Provider),
    )?;
    let query = q.id.as_deref().map(str::trim).unwrap_or("").to_owned();
    if query.chars().count() > 200 {
        return Err(UiError::from(palisade_core::FieldError::new(
            "id",
            "an advisory id of 1 to 200 characters",
        ))
        .with_back("/advisories"));
    }
    let report = if query.is_empty() {
        None
    } else {
        Some(
            s.matcher
                .affected(&query, client)
                .await
                .map_err(|e| UiError::from(crate::ApiError::from(e)).with_back("/advisories"))?,
        )
    };
    Ok(render(&AdvisoryPage {
        shell: Shell::of(&c),
        csv: format!(
            "/api/v1/advisories/{}/affected?format=csv",
            path_segment(&query)
        ),
        staff: client.is_none(),
        may_plan: policy::authorize(
            &c.principal,
            Action::Write(Resource::Campaign),
            Scope::Provider,
        )
        .is_ok(),
        query,
        report,
    }))
}

// ---- inventories ----

/// One snapshot in a list.
pub(crate) struct SnapshotRow {
    pub id: SnapshotId,
    pub taken: String,
    pub files: String,
    pub packages: u32,
    pub dev_packages: u32,
    pub added: u32,
    pub removed: u32,
    pub changed: u32,
    pub unevaluable: u32,
}

impl SnapshotRow {
    fn of(s: &SnapshotSummary) -> Self {
        Self {
            id: s.id,
            taken: minute(s.taken_at),
            files: s
                .sources
                .iter()
                .map(|f| f.file.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            packages: s.packages,
            dev_packages: s.dev_packages,
            added: s.added,
            removed: s.removed,
            changed: s.changed,
            unevaluable: s.unevaluable,
        }
    }
}

fn may_read_inventory(c: &Caller, env: &Environment) -> bool {
    policy::authorize(
        &c.principal,
        Action::Read(Resource::Inventory),
        Scope::Client(env.client_id),
    )
    .is_ok()
}

/// An environment's newest snapshots, or `None` when the visitor may not read inventories.
pub(crate) async fn env_snapshots(
    s: &AppState,
    c: &Caller,
    env: &Environment,
) -> Result<Option<Vec<SnapshotRow>>, UiError> {
    if !may_read_inventory(c, env) {
        return Ok(None);
    }
    let page = s.store.list_snapshots(env.id, None, 20).await?;
    Ok(Some(page.items.iter().map(SnapshotRow::of).collect()))
}

/// Each environment with its newest snapshot (id and when), for the site page.
pub(crate) async fn latest_snapshots(
    s: &AppState,
    c: &Caller,
    envs: Vec<Environment>,
) -> Result<Vec<(Environment, Option<(SnapshotId, String)>)>, UiError> {
    let mut out = Vec::with_capacity(envs.len());
    for env in envs {
        let latest = if may_read_inventory(c, &env) {
            s.store
                .latest_snapshot(env.id)
                .await?
                .map(|l| (l.id, minute(l.taken_at)))
        } else {
            None
        };
        out.push((env, latest));
    }
    Ok(out)
}

/// One line of a snapshot's difference from the previous one.
struct ChangeRow {
    kind: &'static str,
    package: String,
    ecosystem: String,
    from: String,
    to: String,
    dev: bool,
}

fn kind_label(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Upgraded => "upgraded",
        ChangeKind::Downgraded => "downgraded",
        ChangeKind::Changed => "changed",
        ChangeKind::DevFlag => "dev flag",
    }
}

#[derive(Template)]
#[template(path = "snapshot.html")]
struct SnapshotPage {
    shell: Option<Shell>,
    snap: SnapshotRow,
    env: Environment,
    site: Site,
    actor: String,
    previous: Option<SnapshotId>,
    first: bool,
    sources: Vec<(String, String, u32)>,
    /// Kind and how many changes of it, in the order the kinds are listed.
    counts: Vec<(&'static str, usize)>,
    changes: Vec<ChangeRow>,
    unevaluable: Vec<String>,
}

pub(crate) async fn snapshot(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Path(id): Path<SnapshotId>,
) -> UiResult {
    let snap = s.store.get_snapshot(id).await?;
    c.authorize(
        Action::Read(Resource::Inventory),
        Scope::Client(snap.summary.client_id),
    )?;
    let env = s.store.get_environment(snap.summary.environment_id).await?;
    let site = s.store.get_site(snap.summary.site_id).await?;
    let actor = match snap.summary.actor {
        None => "Palisade".to_owned(),
        Some(_) if c.principal.client_id.is_some() => "your provider".to_owned(),
        Some(u) => actor_name(&s, u).await?,
    };
    let mut changes = snap.changes.clone();
    // Grouped by what happened, then by package, so a long upgrade list reads as one block.
    changes.sort_by(|a, b| a.kind.cmp(&b.kind).then_with(|| a.key.cmp(&b.key)));
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for ch in &changes {
        let k = kind_label(ch.kind);
        match counts.last_mut() {
            Some((last, n)) if *last == k => *n += 1,
            _ => counts.push((k, 1)),
        }
    }
    Ok(render(&SnapshotPage {
        shell: Shell::of(&c),
        snap: SnapshotRow::of(&snap.summary),
        actor,
        previous: snap.summary.previous,
        first: snap.summary.previous.is_none(),
        sources: snap
            .summary
            .sources
            .iter()
            .map(|f| (f.file.clone(), f.format.clone(), f.packages))
            .collect(),
        counts,
        changes: changes
            .iter()
            .map(|ch| ChangeRow {
                kind: kind_label(ch.kind),
                package: ch.key.name.clone(),
                ecosystem: ch.key.ecosystem.to_string(),
                from: ch.from.clone().unwrap_or_default(),
                to: ch.to.clone().unwrap_or_default(),
                dev: ch.dev,
            })
            .collect(),
        unevaluable: snap.unevaluable,
        env,
        site,
    }))
}

async fn actor_name(s: &AppState, id: UserId) -> Result<String, UiError> {
    match s.store.get_user(id).await {
        Ok(u) => Ok(u.display_name),
        Err(palisade_store::StoreError::NotFound) => Ok("a former user".to_owned()),
        Err(e) => Err(e.into()),
    }
}
