//! Vulnerability findings in the UI: the list by priority with its filters, one finding with its
//! history and the triage form, and the findings shown on a site page and in the client portal.
//! Queries go through the API's `FindingParams` and triage through `apply_triage`, so a page can
//! never see or change more than the API would allow the same person.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use palisade_core::policy::{self, Action, Resource, Scope};
use palisade_core::tenant::{Client, Site};
use palisade_core::validate::Validate;
use palisade_core::{ClientId, EnvironmentId, FieldError, FindingId, SiteId, UserId};
use palisade_fleet::{
    Finding, FindingEvent, FindingState, Justification, Reason, SlaPolicy, SlaStatus,
};
use palisade_store::{EnvironmentFacts, FindingQuery, ListQuery, MAX_PAGE_SIZE};
use serde::Deserialize;

use super::{FormData, Posted, Shell, UiError, UiResult, Visitor, render};
use crate::AppState;
use crate::api::fleet::{FindingParams, TriageRequest, apply_triage};
use crate::auth::Caller;

/// Rows per page of the findings list.
const PAGE: u32 = 50;

/// A calendar day in UTC, as deadlines are counted.
pub(crate) fn day(t: Timestamp) -> String {
    t.to_zoned(TimeZone::UTC).strftime("%Y-%m-%d").to_string()
}

/// A moment to the minute, in UTC so staff in different zones read the same history.
pub(crate) fn minute(t: Timestamp) -> String {
    t.to_zoned(TimeZone::UTC)
        .strftime("%Y-%m-%d %H:%M UTC")
        .to_string()
}

/// Where a finding stands against its deadline, in staff and in customer words.
pub(crate) struct SlaView {
    /// `none`, `on-track`, `due-soon` or `breached`: the CSS class too.
    pub class: &'static str,
    pub label: String,
    pub plain: String,
}

fn sla_view(f: &Finding, now: Timestamp) -> SlaView {
    let open = f.state.is_open();
    let (class, label, plain) = match SlaPolicy::status(open, f.detected_at, f.due_at, now) {
        SlaStatus::None if open => (
            "none",
            "no deadline yet (waits for a fix)".to_owned(),
            "no deadline yet: there is no fixed version to apply".to_owned(),
        ),
        SlaStatus::None => ("none", String::new(), String::new()),
        SlaStatus::OnTrack { due } => (
            "on-track",
            format!("due {}", day(due)),
            format!("to be fixed by {}", day(due)),
        ),
        SlaStatus::DueSoon { due } => (
            "due-soon",
            format!("due soon: {}", day(due)),
            format!("due soon: to be fixed by {}", day(due)),
        ),
        SlaStatus::Breached { due } => (
            "breached",
            format!("breached: was due {}", day(due)),
            format!("overdue: it was due on {}", day(due)),
        ),
    };
    SlaView {
        class,
        label,
        plain,
    }
}

/// One finding as the lists show it, with the names of where it is.
pub(crate) struct FindingRow {
    pub id: FindingId,
    pub priority: i32,
    pub band: &'static str,
    pub reasons: Vec<Reason>,
    pub title: String,
    pub package: String,
    pub ecosystem: String,
    pub version: String,
    pub fixed: Vec<String>,
    pub alias_group: String,
    pub advisories: Vec<String>,
    pub kev: bool,
    pub dev: bool,
    pub client_id: ClientId,
    pub client: String,
    pub site_id: SiteId,
    pub site: String,
    pub environment_id: EnvironmentId,
    pub environment: String,
    pub kind: &'static str,
    pub state: &'static str,
    /// Waiting for the provider (new or affected).
    pub open: bool,
    pub plain_state: &'static str,
    /// Why it is not affected, in plain words.
    pub justification: Option<&'static str>,
    pub sla: SlaView,
}

async fn names(
    s: &AppState,
    findings: &[Finding],
) -> Result<HashMap<EnvironmentId, EnvironmentFacts>, UiError> {
    let ids: Vec<EnvironmentId> = findings
        .iter()
        .map(|f| f.environment_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(s.store
        .environment_facts(&ids)
        .await?
        .into_iter()
        .map(|f| (f.facts.id, f))
        .collect())
}

fn row(f: &Finding, facts: Option<&EnvironmentFacts>, now: Timestamp) -> FindingRow {
    let name = |g: fn(&EnvironmentFacts) -> &String| facts.map(g).cloned().unwrap_or_default();
    FindingRow {
        id: f.id,
        priority: f.priority,
        band: palisade_fleet::priority::band(f.priority),
        reasons: f.reasons.clone(),
        title: f.title.clone(),
        package: f.package.name.clone(),
        ecosystem: f.package.ecosystem.to_string(),
        version: f.version.clone(),
        fixed: f.fixed_versions.clone(),
        alias_group: f.alias_group.clone(),
        advisories: f.advisories.clone(),
        kev: f.kev.is_some(),
        dev: f.dev,
        client_id: f.client_id,
        client: name(|n| &n.client_name),
        site_id: f.site_id,
        site: name(|n| &n.site_name),
        environment_id: f.environment_id,
        environment: name(|n| &n.environment_name),
        kind: f.environment_kind.as_str(),
        state: f.state.as_str(),
        open: f.state.is_open(),
        plain_state: f.state.plain(),
        justification: f
            .justification
            .filter(|_| f.state == FindingState::NotAffected)
            .map(Justification::plain),
        sla: sla_view(f, now),
    }
}

pub(crate) async fn rows(
    s: &AppState,
    findings: &[Finding],
    now: Timestamp,
) -> Result<Vec<FindingRow>, UiError> {
    let names = names(s, findings).await?;
    Ok(findings
        .iter()
        .map(|f| row(f, names.get(&f.environment_id), now))
        .collect())
}

// ---- the list ----

/// The list's filters as the form sends them: empty fields mean "any", which the API's typed
/// parameters would refuse.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListFilter {
    cursor: Option<String>,
    /// Rows per page; the form does not offer it, but a bookmarked link may carry it.
    limit: Option<u32>,
    client_id: Option<String>,
    state: Option<String>,
    kev: Option<String>,
    breached: Option<String>,
    alias: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn ticked(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("on" | "true" | "1"))
}

impl ListFilter {
    fn params(&self) -> Result<FindingParams, UiError> {
        let client_id = match non_empty(&self.client_id) {
            Some(id) => Some(id.parse().map_err(|_| {
                UiError::from(FieldError::new(
                    "client_id",
                    "choose a client from the list",
                ))
                .with_back("/findings")
            })?),
            None => None,
        };
        Ok(FindingParams {
            limit: Some(self.limit.unwrap_or(PAGE)),
            cursor: non_empty(&self.cursor),
            client_id,
            state: non_empty(&self.state).filter(|s| s != "open"),
            alias: non_empty(&self.alias),
            kev: Some(ticked(&self.kev)),
            breached: Some(ticked(&self.breached)),
            ..FindingParams::default()
        })
    }

    /// The query string of the next page: the same filters from `cursor` on.
    fn next(&self, cursor: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("client_id", &self.client_id),
            ("state", &self.state),
            ("alias", &self.alias),
        ] {
            if let Some(v) = non_empty(v) {
                q.append_pair(k, &v);
            }
        }
        for (k, v) in [("kev", &self.kev), ("breached", &self.breached)] {
            if ticked(v) {
                q.append_pair(k, "on");
            }
        }
        if let Some(l) = self.limit {
            q.append_pair("limit", &l.to_string());
        }
        q.append_pair("cursor", cursor);
        format!("/findings?{}", q.finish())
    }
}

#[derive(Template)]
#[template(path = "findings.html")]
struct FindingsPage {
    shell: Option<Shell>,
    rows: Vec<FindingRow>,
    next: Option<String>,
    /// Staff choose a client; a client user's list is always their own.
    clients: Option<Vec<(Client, bool)>>,
    states: Vec<(&'static str, &'static str, bool)>,
    alias: String,
    kev: bool,
    breached: bool,
    first_page: bool,
}

pub(crate) async fn list(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Query(filter): Query<ListFilter>,
) -> UiResult {
    let now = s.clock.now();
    let params = filter.params()?;
    let (q, scope) = params
        .resolve(&c, &s)
        .await
        .map_err(|e| UiError::from(e).with_back("/findings"))?;
    c.authorize(Action::Read(Resource::Finding), scope)?;
    let page = s.store.list_findings(&q).await?;
    let clients = if c.principal.client_id.is_none() {
        let all = s
            .store
            .list_clients(&ListQuery {
                limit: MAX_PAGE_SIZE,
                ..Default::default()
            })
            .await?
            .items;
        Some(
            all.into_iter()
                .map(|cl| {
                    let chosen = params.client_id == Some(cl.id);
                    (cl, chosen)
                })
                .collect(),
        )
    } else {
        None
    };
    let chosen = non_empty(&filter.state).unwrap_or_else(|| "open".into());
    let mut states = vec![
        ("open", "open (new or affected)", chosen == "open"),
        ("all", "all states", chosen == "all"),
    ];
    states.extend(
        FindingState::ALL
            .iter()
            .map(|st| (st.as_str(), st.as_str(), chosen == st.as_str())),
    );
    Ok(render(&FindingsPage {
        shell: Shell::of(&c),
        rows: rows(&s, &page.items, now).await?,
        next: page.next_after.as_deref().map(|n| filter.next(n)),
        clients,
        states,
        alias: non_empty(&filter.alias).unwrap_or_default(),
        kev: ticked(&filter.kev),
        breached: ticked(&filter.breached),
        first_page: q.after.is_none(),
    }))
}

// ---- one finding ----

/// One line of a finding's history.
struct EventRow {
    at: String,
    actor: String,
    kind: &'static str,
    from: &'static str,
    to: &'static str,
    reason: String,
}

/// The decisions the triage form offers, with the value `Triage` is built from.
const DECISIONS: [(&str, &str); 7] = [
    ("affected", "Affected: confirmed, must be patched"),
    ("not-affected", "Not affected (choose the justification)"),
    ("false-positive", "False positive: the match is wrong"),
    (
        "request-risk-acceptance",
        "Request risk acceptance until a date",
    ),
    (
        "approve-risk-acceptance",
        "Approve the pending risk acceptance",
    ),
    ("fixed", "Fixed: the patch is applied"),
    ("reopen", "Reopen: back to the triage queue"),
];

/// What the person typed, kept when the page comes back with an error.
#[derive(Default)]
struct TriageDraft {
    decision: String,
    justification: String,
    until: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "finding.html")]
struct FindingPage {
    shell: Option<Shell>,
    csrf: String,
    f: FindingRow,
    finding: Finding,
    staff: bool,
    events: Vec<EventRow>,
    can_triage: bool,
    /// Verified and inactive findings take no decision.
    closed: bool,
    decisions: Vec<(&'static str, &'static str, bool)>,
    justifications: Vec<(&'static str, &'static str, bool)>,
    /// The pending risk acceptance: who asked, until when, why.
    pending: Option<(String, String, String)>,
    /// The finding's moments, labelled, in the order they happen.
    dates: Vec<(&'static str, String)>,
    seen_at: String,
    draft: TriageDraft,
    error: Option<String>,
}

pub(crate) async fn user_names(
    s: &AppState,
    ids: impl Iterator<Item = UserId>,
) -> Result<HashMap<UserId, String>, UiError> {
    let mut out = HashMap::new();
    for id in ids.collect::<BTreeSet<_>>() {
        let name = match s.store.get_user(id).await {
            Ok(u) => u.display_name,
            Err(palisade_store::StoreError::NotFound) => "a former user".to_owned(),
            Err(e) => return Err(e.into()),
        };
        out.insert(id, name);
    }
    Ok(out)
}

async fn finding_page(
    s: &AppState,
    c: &Caller,
    id: FindingId,
    draft: TriageDraft,
    error: Option<(StatusCode, String)>,
) -> UiResult {
    let finding = s.store.get_finding(id).await?;
    let scope = Scope::Client(finding.client_id);
    c.authorize(Action::Read(Resource::Finding), scope)?;
    let now = s.clock.now();
    let events: Vec<FindingEvent> = s.store.finding_events(id).await?;
    let staff = c.principal.client_id.is_none();
    // Customers learn that a person decided, not which member of the provider's staff.
    let people = if staff {
        let ids = events
            .iter()
            .filter_map(|e| e.actor)
            .chain(finding.risk_request.as_ref().map(|r| r.by));
        user_names(s, ids).await?
    } else {
        HashMap::new()
    };
    let who = |u: Option<UserId>| match u {
        None => "Palisade".to_owned(),
        Some(u) => people
            .get(&u)
            .cloned()
            .unwrap_or_else(|| "your provider".to_owned()),
    };
    let events = events
        .iter()
        .map(|e| EventRow {
            at: minute(e.at),
            actor: who(e.actor),
            kind: e.kind.as_str(),
            from: e.from.map(FindingState::as_str).unwrap_or(""),
            to: e.to.as_str(),
            reason: e.reason.clone(),
        })
        .collect();
    let names = names(s, std::slice::from_ref(&finding)).await?;
    let f = row(&finding, names.get(&finding.environment_id), now);
    let can_triage =
        policy::authorize(&c.principal, Action::Write(Resource::Finding), scope).is_ok();
    let pending = finding
        .risk_request
        .as_ref()
        .map(|r| (who(Some(r.by)), day(r.until), r.reason.clone()));
    let decisions = DECISIONS
        .iter()
        .filter(|(v, _)| *v != "approve-risk-acceptance" || pending.is_some())
        .map(|(v, l)| (*v, *l, draft.decision == *v))
        .collect();
    let justifications = Justification::ALL
        .iter()
        .map(|j| (j.as_str(), j.plain(), draft.justification == j.as_str()))
        .collect();
    let dates = [
        ("Detected", Some(finding.detected_at)),
        ("Fix known since", finding.fix_available_at),
        ("Due", finding.due_at),
        ("Risk accepted until", finding.risk_accepted_until),
        ("Marked fixed", finding.fixed_at),
        ("Last changed", Some(finding.updated_at)),
    ]
    .into_iter()
    .filter_map(|(label, t)| t.map(|t| (label, minute(t))))
    .collect();
    let page = FindingPage {
        dates,
        shell: Shell::of(c),
        csrf: c.csrf(),
        staff,
        events,
        can_triage,
        closed: matches!(
            finding.state,
            FindingState::Verified | FindingState::Inactive
        ),
        decisions,
        justifications,
        pending,
        seen_at: finding.updated_at.to_string(),
        draft,
        error: error.as_ref().map(|e| e.1.clone()),
        f,
        finding,
    };
    let status = error.map(|e| e.0).unwrap_or(StatusCode::OK);
    Ok((status, render(&page)).into_response())
}

pub(crate) async fn finding(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Path(id): Path<FindingId>,
) -> UiResult {
    finding_page(&s, &c, id, TriageDraft::default(), None).await
}

fn triage_request(form: &FormData) -> Result<TriageRequest, FieldError> {
    let justification = match form.get("justification") {
        "" => None,
        j => Some(Justification::parse(j).ok_or_else(|| {
            FieldError::new(
                "justification",
                "choose why the environment is not affected",
            )
        })?),
    };
    let until = match form.get("until").trim() {
        "" => None,
        d => {
            let bad = || FieldError::new("until", "give the date the acceptance ends");
            let date: jiff::civil::Date = d.parse().map_err(|_| bad())?;
            Some(date.to_zoned(TimeZone::UTC).map_err(|_| bad())?.timestamp())
        }
    };
    let seen_at =
        match form.opt("seen_at") {
            Some(t) => Some(t.parse().map_err(|_| {
                FieldError::new("seen_at", "reload the page: the form is out of date")
            })?),
            None => None,
        };
    let req = TriageRequest {
        decision: form.get("decision").to_owned(),
        justification,
        until,
        reason: form.get("reason").trim().to_owned(),
        seen_at,
    };
    req.validate()?;
    Ok(req)
}

pub(crate) async fn triage(
    State(s): State<AppState>,
    Path(id): Path<FindingId>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    let draft = TriageDraft {
        decision: form.get("decision").to_owned(),
        justification: form.get("justification").to_owned(),
        until: form.get("until").to_owned(),
        reason: form.get("reason").to_owned(),
    };
    let outcome = match triage_request(&form) {
        Ok(req) => apply_triage(&s, &c, id, &req).await,
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok(_) => Ok(Redirect::to(&format!("/findings/{id}")).into_response()),
        // Mistakes and races are answered on the finding's own page, with what was typed kept.
        Err(e) if e.code == "conflict" => {
            let msg = "Someone else changed this finding while you were deciding. Its current \
                       state and history are shown below: check them and decide again."
                .to_owned();
            finding_page(&s, &c, id, draft, Some((e.status, msg))).await
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let msg = match &e.field {
                Some(f) => format!("{f}: {}", e.message),
                None => e.message.clone(),
            };
            finding_page(&s, &c, id, draft, Some((e.status, msg))).await
        }
        Err(e) => Err(UiError::from(e).with_back(format!("/findings/{id}"))),
    }
}

// ---- findings on other pages ----

/// A site's open findings, or `None` when the visitor may not read findings.
pub(crate) async fn of_site(
    s: &AppState,
    c: &Caller,
    site: &Site,
) -> Result<Option<Vec<FindingRow>>, UiError> {
    let scope = Scope::Client(site.client_id);
    if policy::authorize(&c.principal, Action::Read(Resource::Finding), scope).is_err() {
        return Ok(None);
    }
    let q = FindingQuery {
        client: Some(site.client_id),
        site: Some(site.id),
        limit: PAGE,
        ..FindingQuery::default()
    };
    let page = s.store.list_findings(&q).await?;
    Ok(Some(rows(s, &page.items, s.clock.now()).await?))
}

/// A client user's own findings: those waiting for the provider, and those already assessed or
/// fixed. `FindingParams` pins the query to the visitor's organisation.
pub(crate) async fn of_portal(
    s: &AppState,
    c: &Caller,
) -> Result<(Vec<FindingRow>, Vec<FindingRow>), UiError> {
    let now = s.clock.now();
    let mut out = Vec::new();
    for state in [
        None,
        Some("not-affected,false-positive,risk-accepted,fixed,verified"),
    ] {
        let params = FindingParams {
            limit: Some(PAGE),
            state: state.map(str::to_owned),
            ..FindingParams::default()
        };
        let (q, scope) = params.query(c, now)?;
        c.authorize(Action::Read(Resource::Finding), scope)?;
        let page = s.store.list_findings(&q).await?;
        out.push(rows(s, &page.items, now).await?);
    }
    let assessed = out.pop().unwrap_or_default();
    let open = out.pop().unwrap_or_default();
    Ok((open, assessed))
}
