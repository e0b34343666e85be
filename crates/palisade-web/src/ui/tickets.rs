//! The support desk in the UI: the staff queue (soonest SLA deadline first, with "at risk" and
//! "breached" badges) and a client user's own tickets, one ticket with its timeline (internal
//! notes marked, and never rendered for client users) and its forms (reply or note, state,
//! priority, escalation, work log), the new-ticket form, and the out-of-hours line's form.
//!
//! Every read and change goes through the API's functions (`api::desk`), so a page can never see
//! or change more than the API allows the same person; every form carries the CSRF token.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use palisade_core::policy::{self, Action, Resource, Scope};
use palisade_core::tenant::{Client, Site};
use palisade_core::{ClientId, FieldError, SiteId, TicketId};
use palisade_desk::sla::{ClockState, ClockStatus, Priority};
use palisade_desk::ticket::{
    Actor, Category, Line, TicketState, TimelineEvent, TimelineKind, Visibility, parse_priority,
    priority_str,
};
use palisade_store::{ListQuery, MAX_PAGE_SIZE};
use serde::Deserialize;

use super::findings::{minute, user_names};
use super::{Posted, Shell, UiError, UiResult, Visitor, render};
use crate::AppState;
use crate::api::desk::{
    self as api, CreateTicket, Intake, NewWork, OutOfHoursTicket, TicketParams,
};
use crate::auth::Caller;
use crate::deskops::SlaSummary;

const PRIORITIES: [Priority; 4] = [
    Priority::Critical,
    Priority::High,
    Priority::Normal,
    Priority::Low,
];
const CATEGORIES: [Category; 4] = [
    Category::Incident,
    Category::Request,
    Category::Question,
    Category::Security,
];

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn bad(field: &str, message: &str, back: &str) -> UiError {
    UiError::from(FieldError::new(field, message)).with_back(back.to_owned())
}

/// An SLA verdict in words and the CSS class of its badge.
pub(crate) struct SlaBadge {
    /// `breached`, `at-risk`, `ok` or `none`.
    pub class: &'static str,
    pub label: &'static str,
    /// "first-response due 2026-11-23 10:30 UTC", or empty.
    pub due: String,
    pub clocks: String,
}

fn badge(s: &SlaSummary) -> SlaBadge {
    let label = match s.status {
        "breached" => "breached",
        "at-risk" => "at risk",
        "ok" => "on track",
        _ => "",
    };
    let due = match (s.next_due, s.next_due_clock) {
        (Some(d), Some(clock)) => format!("{} due {}", clock.replace('-', " "), minute(d)),
        _ => String::new(),
    };
    let clocks = match s.status {
        "breached" => s.breached.join(", ").replace('-', " "),
        "at-risk" => s.at_risk.join(", ").replace('-', " "),
        _ => String::new(),
    };
    SlaBadge {
        class: s.status,
        label,
        due,
        clocks,
    }
}

// ---- the queue and a client's list ----

/// The queue's filters as the form sends them: empty means "any".
#[derive(Debug, Default, Deserialize)]
pub(crate) struct QueueFilter {
    client_id: Option<String>,
    state: Option<String>,
    priority: Option<String>,
    line: Option<String>,
    cursor: Option<String>,
}

impl QueueFilter {
    /// The link to the next page: the same filters from `cursor` on.
    fn next(&self, cursor: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("client_id", &self.client_id),
            ("state", &self.state),
            ("priority", &self.priority),
            ("line", &self.line),
        ] {
            if let Some(v) = non_empty(v) {
                q.append_pair(k, v);
            }
        }
        q.append_pair("cursor", cursor);
        format!("/tickets?{}", q.finish())
    }

    fn params(&self) -> Result<TicketParams, UiError> {
        let client_id = match non_empty(&self.client_id) {
            Some(id) => Some(
                id.parse::<ClientId>()
                    .map_err(|_| bad("client_id", "choose a client from the list", "/tickets"))?,
            ),
            None => None,
        };
        let state = match non_empty(&self.state) {
            Some(s) => Some(
                s.parse::<TicketState>()
                    .map_err(|e| bad("state", &e.to_string(), "/tickets"))?,
            ),
            None => None,
        };
        let priority = match non_empty(&self.priority) {
            Some(p) => {
                Some(parse_priority(p).map_err(|e| bad("priority", &e.to_string(), "/tickets"))?)
            }
            None => None,
        };
        let line = match non_empty(&self.line) {
            Some(l) => Some(
                l.parse::<Line>()
                    .map_err(|e| bad("line", &e.to_string(), "/tickets"))?,
            ),
            None => None,
        };
        Ok(TicketParams {
            client_id,
            state,
            priority,
            line,
            limit: None,
            cursor: non_empty(&self.cursor).map(str::to_owned),
        })
    }
}

struct QueueRow {
    id: TicketId,
    number: i64,
    subject: String,
    client: String,
    priority: &'static str,
    state: &'static str,
    line: &'static str,
    out_of_hours: bool,
    sla: SlaBadge,
}

#[derive(Template)]
#[template(path = "tickets.html")]
struct TicketsPage {
    shell: Option<Shell>,
    staff: bool,
    rows: Vec<QueueRow>,
    /// The next page's link, if there is one.
    next: Option<String>,
    /// (value, label, chosen)
    clients: Vec<(String, String, bool)>,
    states: Vec<(&'static str, &'static str, bool)>,
    priorities: Vec<(&'static str, bool)>,
    lines: Vec<(&'static str, &'static str, bool)>,
    /// (tickets, at risk, breached, second line, escalated automatically)
    summary: (u64, u64, u64, u64, u64),
    /// The counts stopped at the limit: "tickets" is a floor.
    capped: bool,
    out_of_hours_line: bool,
}

async fn all_clients(s: &AppState) -> Result<Vec<Client>, UiError> {
    Ok(s.store
        .list_clients(&ListQuery {
            limit: MAX_PAGE_SIZE,
            ..Default::default()
        })
        .await?
        .items)
}

pub(crate) async fn list(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Query(filter): Query<QueueFilter>,
) -> UiResult {
    let params = filter.params()?;
    let queue = api::queue(&s, &c, &params)
        .await
        .map_err(|e| UiError::from(e).with_back("/tickets"))?;
    let staff = c.principal.client_id.is_none();
    let clients = if staff {
        all_clients(&s).await?
    } else {
        Vec::new()
    };
    let names: HashMap<ClientId, String> =
        clients.iter().map(|cl| (cl.id, cl.name.clone())).collect();
    let out_of_hours_line = match c.principal.client_id {
        Some(own) => s.store.get_client(own).await?.contract.out_of_hours,
        None => false,
    };
    let rows = queue
        .items
        .iter()
        .map(|i| QueueRow {
            id: i.ticket.id,
            number: i.ticket.number,
            subject: i.ticket.subject.clone(),
            client: names.get(&i.ticket.client_id).cloned().unwrap_or_default(),
            priority: priority_str(i.ticket.priority),
            state: i.ticket.state.as_str(),
            line: if i.ticket.line == Line::Second {
                "2nd"
            } else {
                "1st"
            },
            out_of_hours: i.ticket.out_of_hours,
            sla: badge(&i.sla),
        })
        .collect();
    let mut states = vec![(
        "",
        "still open (new, open, waiting)",
        params.state.is_none(),
    )];
    states.extend(
        TicketState::ALL
            .iter()
            .map(|st| (st.as_str(), st.as_str(), params.state == Some(*st))),
    );
    let q = &queue.summary;
    Ok(render(&TicketsPage {
        shell: Shell::of(&c),
        staff,
        rows,
        next: queue.next_cursor.as_deref().map(|c| filter.next(c)),
        clients: clients
            .iter()
            .map(|cl| {
                (
                    cl.id.to_string(),
                    cl.name.clone(),
                    params.client_id == Some(cl.id),
                )
            })
            .collect(),
        states,
        priorities: PRIORITIES
            .iter()
            .map(|p| (priority_str(*p), params.priority == Some(*p)))
            .collect(),
        lines: [
            ("first", "1st line", Line::First),
            ("second", "2nd line", Line::Second),
        ]
        .into_iter()
        .map(|(v, l, line)| (v, l, params.line == Some(line)))
        .collect(),
        capped: q.capped,
        summary: (
            q.tickets,
            q.at_risk,
            q.breached,
            q.second_line,
            q.escalated_automatically,
        ),
        out_of_hours_line,
    }))
}

// ---- opening a ticket ----

#[derive(Template)]
#[template(path = "ticket_new.html")]
struct NewTicketPage {
    shell: Option<Shell>,
    csrf: String,
    staff: bool,
    /// The out-of-hours form rather than the normal one.
    out_of_hours: bool,
    clients: Vec<(String, String)>,
    /// (id, label)
    sites: Vec<(String, String)>,
    categories: Vec<&'static str>,
    priorities: Vec<&'static str>,
    /// For the out-of-hours form: whether the visitor's client has the line, and its hours.
    note: String,
}

async fn sites_for(s: &AppState, c: &Caller) -> Result<Vec<(String, String)>, UiError> {
    let own = c.principal.client_id;
    let q = ListQuery {
        client: own,
        limit: MAX_PAGE_SIZE,
        ..Default::default()
    };
    let scope = own.map(Scope::Client).unwrap_or(Scope::Provider);
    c.authorize(Action::Read(Resource::Site), scope)?;
    let sites: Vec<Site> = s.store.list_sites(&q).await?.items;
    let names: HashMap<ClientId, String> = if own.is_none() {
        all_clients(s)
            .await?
            .into_iter()
            .map(|cl| (cl.id, cl.name))
            .collect()
    } else {
        HashMap::new()
    };
    Ok(sites
        .into_iter()
        .map(|site| {
            let label = match names.get(&site.client_id) {
                Some(client) => format!("{client}: {} ({})", site.name, site.url),
                None => format!("{} ({})", site.name, site.url),
            };
            (site.id.to_string(), label)
        })
        .collect())
}

async fn new_form(s: &AppState, c: &Caller, out_of_hours: bool) -> UiResult {
    let staff = c.principal.client_id.is_none();
    let clients = if staff {
        all_clients(s)
            .await?
            .into_iter()
            .filter(|cl| !out_of_hours || cl.contract.out_of_hours)
            .map(|cl| (cl.id.to_string(), cl.name))
            .collect()
    } else {
        Vec::new()
    };
    let note = match c.principal.client_id {
        Some(own) if out_of_hours => {
            let client = s.store.get_client(own).await?;
            if client.contract.out_of_hours {
                format!(
                    "For critical issues (a service is down) outside your support hours ({}). \
                     During support hours, open a ticket on the normal desk.",
                    client.contract.support_hours.time_zone
                )
            } else {
                "Your contract does not include the out-of-hours line: please open a ticket on \
                 the normal desk, answered in your support hours."
                    .into()
            }
        }
        _ => String::new(),
    };
    Ok(render(&NewTicketPage {
        shell: Shell::of(c),
        csrf: c.csrf(),
        staff,
        out_of_hours,
        clients,
        sites: sites_for(s, c).await?,
        categories: CATEGORIES.iter().map(|c| c.as_str()).collect(),
        priorities: PRIORITIES.iter().map(|p| priority_str(*p)).collect(),
        note,
    }))
}

pub(crate) async fn new_page(State(s): State<AppState>, Visitor(c): Visitor) -> UiResult {
    new_form(&s, &c, false).await
}

pub(crate) async fn out_of_hours_page(State(s): State<AppState>, Visitor(c): Visitor) -> UiResult {
    new_form(&s, &c, true).await
}

fn form_ids(
    form: &super::FormData,
    back: &str,
) -> Result<(Option<ClientId>, Option<SiteId>), UiError> {
    let client_id = match form.opt("client_id") {
        Some(v) => Some(
            v.parse()
                .map_err(|_| bad("client_id", "choose a client from the list", back))?,
        ),
        None => None,
    };
    let site_id = match form.opt("site_id") {
        Some(v) => Some(
            v.parse()
                .map_err(|_| bad("site_id", "choose a site from the list", back))?,
        ),
        None => None,
    };
    Ok((client_id, site_id))
}

pub(crate) async fn create(
    State(s): State<AppState>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    let back = "/tickets/new";
    let (client_id, site_id) = form_ids(&form, back)?;
    let category = form
        .get("category")
        .parse::<Category>()
        .map_err(|e| bad("category", &e.to_string(), back))?;
    let priority =
        parse_priority(form.get("priority")).map_err(|e| bad("priority", &e.to_string(), back))?;
    let req = CreateTicket {
        client_id,
        site_id,
        subject: form.get("subject").trim().to_owned(),
        category,
        priority: Some(priority),
        body: form.get("body").to_owned(),
    };
    let ticket = api::open_ticket(&s, &c, req, Intake::Desk)
        .await
        .map_err(|e| UiError::from(e).with_back(back))?;
    Ok(Redirect::to(&format!("/tickets/{}", ticket.id)).into_response())
}

pub(crate) async fn create_out_of_hours(
    State(s): State<AppState>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    let back = "/out-of-hours";
    let (client_id, site_id) = form_ids(&form, back)?;
    let req = OutOfHoursTicket {
        client_id,
        site_id,
        subject: form.get("subject").trim().to_owned(),
        category: None,
        priority: None,
        body: form.get("body").to_owned(),
    };
    let ticket = api::open_out_of_hours_ticket(&s, &c, req)
        .await
        .map_err(|e| UiError::from(e).with_back(back))?;
    Ok(Redirect::to(&format!("/tickets/{}", ticket.id)).into_response())
}

// ---- one ticket ----

struct EventRow {
    seq: u32,
    at: String,
    who: String,
    what: String,
    body: String,
    internal: bool,
    /// Written by the system (automatic escalations).
    system: bool,
}

struct ClockRow {
    name: &'static str,
    state: &'static str,
    class: &'static str,
    detail: String,
}

struct WorkRow {
    start: String,
    end: String,
    who: String,
    note: String,
    in_hours: String,
    out_of_hours: String,
    amount: String,
}

#[derive(Template)]
#[template(path = "ticket.html")]
struct TicketPage {
    shell: Option<Shell>,
    csrf: String,
    id: TicketId,
    number: i64,
    subject: String,
    client: String,
    client_id: ClientId,
    site: String,
    category: &'static str,
    priority: &'static str,
    state: &'static str,
    line: &'static str,
    out_of_hours: bool,
    staff: bool,
    closed: bool,
    sla: SlaBadge,
    clocks: Vec<ClockRow>,
    events: Vec<EventRow>,
    can_note: bool,
    can_handle: bool,
    /// A security ticket staff may turn into a patch campaign once the vulnerability is confirmed.
    can_plan_campaign: bool,
    next_states: Vec<&'static str>,
    priorities: Vec<(&'static str, bool)>,
    work: Option<Vec<WorkRow>>,
    work_total: String,
    zone: String,
}

fn money(minor: i64, currency: &str) -> String {
    format!("{}.{:02} {currency}", minor / 100, minor % 100)
}

fn hm(seconds: i64) -> String {
    format!("{}h{:02}", seconds / 3600, (seconds % 3600) / 60)
}

fn clock_row(name: &'static str, c: &ClockStatus) -> ClockRow {
    let (state, class) = match c.state {
        ClockState::Running if c.warning => ("at risk", "at-risk"),
        ClockState::Running => ("running", "ok"),
        ClockState::Paused => ("paused (waiting on the customer)", "none"),
        ClockState::Met => ("met", "ok"),
        ClockState::Breached => ("breached", "breached"),
    };
    let detail = match (c.deadline, c.stopped_at) {
        (Some(d), None) => format!("due {}", minute(d)),
        (Some(d), Some(stop)) => format!("was due {}, stopped {}", minute(d), minute(stop)),
        (None, Some(stop)) => format!("stopped {}", minute(stop)),
        (None, None) => format!("{} minutes left", c.remaining.as_secs() / 60),
    };
    ClockRow {
        name,
        state,
        class,
        detail,
    }
}

fn event_row(e: &TimelineEvent, who: String) -> EventRow {
    let (what, body) = match &e.kind {
        TimelineKind::Created { priority, body } => (
            format!("opened the ticket ({})", priority_str(*priority)),
            body.clone(),
        ),
        TimelineKind::Reply {
            visibility: Visibility::Internal,
            body,
        } => (
            "Internal note (staff only, not visible to the client)".to_owned(),
            body.clone(),
        ),
        TimelineKind::Reply { body, .. } => ("replied".to_owned(), body.clone()),
        TimelineKind::StateChanged { from, to, reason } => (
            format!("changed the state from {from} to {to}"),
            reason.clone().unwrap_or_default(),
        ),
        TimelineKind::PriorityChanged { from, to, reason } => (
            format!(
                "changed the priority from {} to {}",
                priority_str(*from),
                priority_str(*to)
            ),
            reason.clone().unwrap_or_default(),
        ),
        TimelineKind::Escalated { reason } => (
            "escalated to the second line (internal)".to_owned(),
            reason.clone(),
        ),
    };
    EventRow {
        seq: e.seq,
        at: minute(e.at),
        who,
        what,
        body,
        internal: !e.client_visible(),
        system: e.actor == Actor::System,
    }
}

async fn ticket_page(s: &AppState, c: &Caller, id: TicketId) -> UiResult {
    let detail = api::ticket_detail(s, c, id).await?;
    let t = &detail.ticket;
    let scope = Scope::Client(t.client_id);
    let staff = detail.staff_view;
    let client = s.store.get_client(t.client_id).await?;
    let site = match t.site_id {
        Some(site) => s
            .store
            .get_site(site)
            .await
            .map(|x| x.name)
            .unwrap_or_default(),
        None => String::new(),
    };
    let ids = detail.timeline.iter().filter_map(|e| e.actor.user());
    let names = user_names(s, ids).await?;
    let who = |a: Actor| match a {
        Actor::System => "Palisade".to_owned(),
        // Client users see the desk as one team; staff see who answered.
        Actor::Staff(_) if !staff => "Support team".to_owned(),
        Actor::Staff(u) | Actor::Client(u) => names.get(&u).cloned().unwrap_or_default(),
        // A contact who wrote by e-mail without a user account.
        Actor::Contact(_) => "Customer (by e-mail)".to_owned(),
    };
    let events = detail
        .timeline
        .iter()
        .map(|e| event_row(e, who(e.actor)))
        .collect();
    let clocks = detail
        .sla
        .as_ref()
        .map(|sla| {
            [
                ("First response", sla.first_response),
                ("Next response", sla.next_response),
                ("Resolution", sla.resolution),
            ]
            .into_iter()
            .filter_map(|(name, c)| c.map(|c| clock_row(name, &c)))
            .collect()
        })
        .unwrap_or_default();
    let can_handle =
        policy::authorize(&c.principal, Action::Write(Resource::TicketWorkflow), scope).is_ok();
    let (work, work_total) = if staff
        && policy::authorize(&c.principal, Action::Read(Resource::TicketWorkflow), scope).is_ok()
    {
        let list = api::work_of(s, c, id).await?;
        let names = user_names(s, list.items.iter().map(|w| w.log.user_id)).await?;
        let tz = TimeZone::get(&client.contract.support_hours.time_zone).unwrap_or(TimeZone::UTC);
        let local = |t: Timestamp| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        };
        let rows = list
            .items
            .iter()
            .map(|w| WorkRow {
                start: local(w.log.start),
                end: local(w.log.end),
                who: names.get(&w.log.user_id).cloned().unwrap_or_default(),
                note: w.log.note.clone(),
                in_hours: hm(w.priced.in_hours_seconds),
                out_of_hours: hm(w.priced.out_of_hours_seconds),
                amount: money(w.priced.amount, &w.priced.currency),
            })
            .collect();
        let total = format!(
            "{} in hours, {} out of hours: {}",
            hm(list.in_hours_seconds),
            hm(list.out_of_hours_seconds),
            money(list.amount, &list.currency)
        );
        (Some(rows), total)
    } else {
        (None, String::new())
    };
    Ok(render(&TicketPage {
        shell: Shell::of(c),
        csrf: c.csrf(),
        id: t.id,
        number: t.number,
        subject: t.subject.clone(),
        client: client.name.clone(),
        client_id: client.id,
        site,
        category: t.category.as_str(),
        priority: priority_str(t.priority),
        state: t.state.as_str(),
        line: if t.line == Line::Second {
            "2nd line"
        } else {
            "1st line"
        },
        out_of_hours: t.out_of_hours,
        staff,
        closed: t.state == TicketState::Closed,
        sla: badge(&detail.sla_summary),
        clocks,
        events,
        can_note: staff
            && policy::authorize(&c.principal, Action::Write(Resource::TicketNote), scope).is_ok(),
        can_handle,
        can_plan_campaign: staff
            && t.category == Category::Security
            && t.state != TicketState::Closed
            && policy::authorize(
                &c.principal,
                Action::Write(Resource::Campaign),
                Scope::Provider,
            )
            .is_ok(),
        next_states: TicketState::ALL
            .into_iter()
            .filter(|to| t.state.can_become(*to))
            .map(TicketState::as_str)
            .collect(),
        priorities: PRIORITIES
            .iter()
            .map(|p| (priority_str(*p), *p == t.priority))
            .collect(),
        work,
        work_total,
        zone: client.contract.support_hours.time_zone.clone(),
    })
    .into_response())
}

pub(crate) async fn ticket(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Path(id): Path<TicketId>,
) -> UiResult {
    ticket_page(&s, &c, id).await
}

fn back_to(id: TicketId) -> String {
    format!("/tickets/{id}")
}

fn done(id: TicketId) -> UiResult {
    Ok(Redirect::to(&back_to(id)).into_response())
}

pub(crate) async fn reply(
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    let visibility = match form.get("visibility") {
        "internal" => Visibility::Internal,
        "" | "public" => Visibility::Public,
        _ => {
            return Err(bad(
                "visibility",
                "choose a reply or an internal note",
                &back_to(id),
            ));
        }
    };
    api::post_message(&s, &c, id, form.get("body").to_owned(), visibility)
        .await
        .map_err(|e| UiError::from(e).with_back(back_to(id)))?;
    done(id)
}

pub(crate) async fn change_state(
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    let to = form
        .get("state")
        .parse::<TicketState>()
        .map_err(|e| bad("state", &e.to_string(), &back_to(id)))?;
    api::move_state(&s, &c, id, to, form.opt("reason"))
        .await
        .map_err(|e| UiError::from(e).with_back(back_to(id)))?;
    done(id)
}

pub(crate) async fn change_priority(
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    let to = parse_priority(form.get("priority"))
        .map_err(|e| bad("priority", &e.to_string(), &back_to(id)))?;
    api::set_priority(&s, &c, id, to, form.opt("reason"))
        .await
        .map_err(|e| UiError::from(e).with_back(back_to(id)))?;
    done(id)
}

pub(crate) async fn escalate(
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    api::escalate_ticket(&s, &c, id, form.get("reason").trim().to_owned())
        .await
        .map_err(|e| UiError::from(e).with_back(back_to(id)))?;
    done(id)
}

/// A `datetime-local` value read in the client's zone (the page says so).
fn local_time(v: &str, zone: &str, field: &str, back: &str) -> Result<Timestamp, UiError> {
    let wrong = || bad(field, "give a date and time", back);
    let dt: jiff::civil::DateTime = v.trim().parse().map_err(|_| wrong())?;
    let tz = TimeZone::get(zone).map_err(|_| wrong())?;
    Ok(dt.to_zoned(tz).map_err(|_| wrong())?.timestamp())
}

pub(crate) async fn log_work(
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    let back = back_to(id);
    let ticket = s.store.get_ticket(id).await?;
    c.authorize(
        Action::Read(Resource::Ticket),
        Scope::Client(ticket.client_id),
    )?;
    let client = s.store.get_client(ticket.client_id).await?;
    let zone = &client.contract.support_hours.time_zone;
    let req = NewWork {
        start: local_time(form.get("start"), zone, "start", &back)?,
        end: local_time(form.get("end"), zone, "end", &back)?,
        note: form.get("note").trim().to_owned(),
    };
    api::add_work(&s, &c, id, req)
        .await
        .map_err(|e| UiError::from(e).with_back(back))?;
    done(id)
}
