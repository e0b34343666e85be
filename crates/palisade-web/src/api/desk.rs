//! API for the support desk: opening tickets (client users from the portal or the API, staff on
//! a client's behalf), the out-of-hours line for critical issues, listing them and the staff
//! queue in order of the next SLA deadline, one ticket with its timeline and SLA status, messages
//! (public replies and internal notes), state and priority changes, escalations, work logs and
//! the monthly billing export. Client users are pinned to their own client and never see internal
//! notes; what each caller may do is decided by the policy (`Resource::Ticket`, `TicketNote`,
//! `TicketWorkflow`), the ticket rules by `palisade-desk`.
//!
//! SLA status is computed on every read from the timeline, the client's contract (support hours
//! and holiday calendar) and `palisade_desk::default_targets`, so nothing about it is stored.
//! The handlers are thin: the work is in `pub(crate)` functions the UI calls too, so a page can
//! never do more than the API allows the same person.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use palisade_core::policy::{Action, Resource, Scope};
use palisade_core::tenant::Client;
use palisade_core::{ClientId, FieldError, Role, SiteId, TicketId, Validate, WorkLogId, validate};
use palisade_desk::billing::{Month, WorkLog};
use palisade_desk::sla::{Priority, SlaStatus};
use palisade_desk::ticket::{
    Actor, Category, Line, NewTicket, Ticket, TicketError, TicketState, TimelineEvent,
    TimelineKind, Visibility,
};
use palisade_store::{QueueCounts, StoreError, TicketOrder, TicketQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ListResponse, pinned_client};
use crate::auth::Caller;
use crate::deskops::{self, PricedWork, SlaSummary};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, ApiResult, AppState};

/// How many times a message is retried when another change to the ticket won the race. A reply
/// does not depend on the state it was written against, so re-applying it is safe; a state change
/// does, and is never retried.
const MESSAGE_ATTEMPTS: usize = 3;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_ticket, list_tickets))
        .routes(routes!(get_ticket))
        .routes(routes!(add_message))
        .routes(routes!(change_state))
        .routes(routes!(change_priority))
        .routes(routes!(escalate))
        .routes(routes!(ticket_queue))
        .routes(routes!(log_work, list_work))
        .routes(routes!(open_out_of_hours))
        .routes(routes!(billing_export))
}

impl From<TicketError> for ApiError {
    fn from(e: TicketError) -> Self {
        let message = e.to_string();
        match e {
            TicketError::InvalidTransition { .. } => {
                ApiError::field(StatusCode::CONFLICT, "invalid_transition", "state", message)
            }
            TicketError::Closed => ApiError::new(StatusCode::CONFLICT, "ticket_closed", message),
            TicketError::Stale { field, .. } => {
                ApiError::field(StatusCode::CONFLICT, "conflict", field, message)
            }
            TicketError::InternalNoteByClient => ApiError::forbidden(),
            TicketError::Invalid { field, reason } => ApiError::field(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                field,
                reason,
            ),
        }
    }
}

/// Who the caller is in a ticket's timeline.
pub(crate) fn actor(c: &Caller) -> Actor {
    if c.principal.role == Role::ClientUser {
        Actor::Client(c.user.id)
    } else {
        Actor::Staff(c.user.id)
    }
}

type Created<T> = (StatusCode, Json<T>);

/// A ticket to open.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTicket {
    /// The client it is for: required for staff; client users open tickets for their own.
    pub client_id: Option<ClientId>,
    /// The site concerned, if one; it must be the client's.
    pub site_id: Option<SiteId>,
    pub subject: String,
    pub category: Category,
    /// Default `normal`. `critical` means a service is down.
    pub priority: Option<Priority>,
    /// The first message.
    pub body: String,
}

impl Validate for CreateTicket {
    /// The subject is one line; the body is free text (its size is the desk's rule).
    fn validate(&self) -> Result<(), FieldError> {
        validate::name("subject", &self.subject)?;
        validate::text(
            "subject",
            &self.subject,
            palisade_desk::ticket::MAX_SUBJECT_CHARS,
        )
    }
}

/// Opens a ticket.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets", request_body = CreateTicket,
    responses((status = 201, body = Ticket), (status = 422, body = crate::error::ErrorBody)))]
async fn create_ticket(
    State(s): State<AppState>,
    c: Caller,
    ApiJson(req): ApiJson<CreateTicket>,
) -> ApiResult<Created<Ticket>> {
    let ticket = open_ticket(&s, &c, req, Intake::Desk).await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

/// Where a ticket is being opened: the normal desk, or the out-of-hours line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Intake {
    Desk,
    OutOfHours,
}

/// The client a new ticket is for, authorised and known to exist.
async fn ticket_client(s: &AppState, c: &Caller, asked: Option<ClientId>) -> ApiResult<Client> {
    let client = pinned_client(c, asked)?.ok_or_else(|| {
        ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "client_id",
            "which client the ticket is for",
        )
    })?;
    c.authorize(Action::Write(Resource::Ticket), Scope::Client(client))?;
    // Exists (and is answered 404 otherwise, as any unknown record).
    Ok(s.store.get_client(client).await?)
}

/// Opens a ticket for the caller (checked, authorised, stored). The out-of-hours line's own
/// checks (contract, priority, time) are `open_out_of_hours_ticket`'s.
pub(crate) async fn open_ticket(
    s: &AppState,
    c: &Caller,
    req: CreateTicket,
    intake: Intake,
) -> ApiResult<Ticket> {
    req.validate()?;
    let client = ticket_client(s, c, req.client_id).await?;
    if let Some(site) = req.site_id {
        // Another client's site reads like a missing one: no probing for IDs.
        let not_theirs = || {
            ApiError::field(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "site_id",
                "no such site of this client",
            )
        };
        match s.store.get_site(site).await {
            Ok(found) if found.client_id == client.id => {}
            Ok(_) | Err(StoreError::NotFound) => return Err(not_theirs()),
            Err(e) => return Err(e.into()),
        }
    }
    let new = NewTicket {
        id: TicketId::new(),
        client_id: client.id,
        site_id: req.site_id,
        subject: req.subject,
        category: req.category,
        priority: req.priority.unwrap_or(Priority::Normal),
        body: req.body,
        created_by: actor(c),
        at: s.clock.now(),
    };
    let created = new.created_event()?;
    let out_of_hours = intake == Intake::OutOfHours;
    if out_of_hours {
        c.note("line", serde_json::json!("out-of-hours"));
    }
    Ok(s.store
        .create_ticket_flagged(&new, &created, out_of_hours)
        .await?)
}

/// A critical issue for the out-of-hours line.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutOfHoursTicket {
    /// The client it is for: required for staff opening it on a client's behalf.
    pub client_id: Option<ClientId>,
    pub site_id: Option<SiteId>,
    pub subject: String,
    /// Default `incident`.
    pub category: Option<Category>,
    /// Only `critical` is accepted (the default): the line is for services that are down.
    pub priority: Option<Priority>,
    pub body: String,
}

impl Validate for OutOfHoursTicket {
    fn validate(&self) -> Result<(), FieldError> {
        validate::name("subject", &self.subject)?;
        validate::text(
            "subject",
            &self.subject,
            palisade_desk::ticket::MAX_SUBJECT_CHARS,
        )
    }
}

/// Opens a ticket on the out-of-hours line, after its three checks: the client's contract
/// includes the line (`out_of_hours_not_included`), the issue is critical
/// (`out_of_hours_critical_only`), and the client's support hours are closed now
/// (`inside_support_hours`: use the normal desk).
pub(crate) async fn open_out_of_hours_ticket(
    s: &AppState,
    c: &Caller,
    req: OutOfHoursTicket,
) -> ApiResult<Ticket> {
    req.validate()?;
    let client = ticket_client(s, c, req.client_id).await?;
    if !client.contract.out_of_hours {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_hours_not_included",
            "this client's contract does not include the out-of-hours line",
        ));
    }
    if req.priority.is_some_and(|p| p != Priority::Critical) {
        return Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_hours_critical_only",
            "priority",
            "the out-of-hours line takes critical issues only (a service is down); \
             anything else waits for support hours on the normal desk",
        ));
    }
    let calendar = deskops::calendar_of(&client).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_support_hours",
            format!("the client's support hours cannot be used: {e}"),
        )
    })?;
    let now = s.clock.now();
    if calendar.is_open(now).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_support_hours",
            e.to_string(),
        )
    })? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "inside_support_hours",
            "support hours are open now: open the ticket on the normal desk (POST /api/v1/tickets)",
        ));
    }
    let normal = CreateTicket {
        client_id: Some(client.id),
        site_id: req.site_id,
        subject: req.subject,
        category: req.category.unwrap_or(Category::Incident),
        priority: Some(Priority::Critical),
        body: req.body,
    };
    open_ticket(s, c, normal, Intake::OutOfHours).await
}

/// Opens a critical ticket on the out-of-hours line (client users of clients whose contract
/// includes it, or staff on their behalf). Refused with 422 `out_of_hours_not_included` or
/// `out_of_hours_critical_only`, or 409 `inside_support_hours` while support hours are open.
#[utoipa::path(post, path = "/api/v1/out-of-hours/tickets", tag = "tickets", request_body = OutOfHoursTicket,
    responses((status = 201, body = Ticket), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn open_out_of_hours(
    State(s): State<AppState>,
    c: Caller,
    ApiJson(req): ApiJson<OutOfHoursTicket>,
) -> ApiResult<Created<Ticket>> {
    let ticket = open_out_of_hours_ticket(&s, &c, req).await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TicketParams {
    /// Only this client's tickets (staff only; client users always see their own).
    pub client_id: Option<ClientId>,
    #[param(value_type = Option<String>)]
    pub state: Option<TicketState>,
    #[param(value_type = Option<String>)]
    pub priority: Option<Priority>,
    /// `first` or `second`: the support line.
    #[param(value_type = Option<String>)]
    pub line: Option<Line>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

impl TicketParams {
    /// The store query in `order`, pinned to the caller's client, authorised for reading tickets.
    fn query(&self, c: &Caller, order: TicketOrder) -> ApiResult<TicketQuery> {
        let bad = |field: &str, message: &str| {
            ApiError::field(StatusCode::BAD_REQUEST, "invalid_query", field, message)
        };
        if self
            .limit
            .is_some_and(|l| l == 0 || l > palisade_store::MAX_PAGE_SIZE)
        {
            return Err(bad("limit", "must be between 1 and 500"));
        }
        let after = match &self.cursor {
            None => None,
            Some(cur) => {
                let text = URL_SAFE_NO_PAD
                    .decode(cur)
                    .ok()
                    .and_then(|raw| String::from_utf8(raw).ok())
                    .filter(|t| match order {
                        TicketOrder::Opened => t.parse::<uuid::Uuid>().is_ok(),
                        TicketOrder::SlaDue => t.split_once(':').is_some_and(|(d, n)| {
                            d.parse::<i64>().is_ok() && n.parse::<i64>().is_ok()
                        }),
                    })
                    .ok_or_else(|| bad("cursor", "not a cursor from this API"))?;
                Some(text)
            }
        };
        let client = pinned_client(c, self.client_id)?;
        c.authorize(
            Action::Read(Resource::Ticket),
            client.map(Scope::Client).unwrap_or(Scope::Provider),
        )?;
        Ok(TicketQuery {
            client,
            state: self.state,
            priority: self.priority,
            line: self.line,
            open_only: false,
            after,
            limit: self.limit.unwrap_or(palisade_store::DEFAULT_PAGE_SIZE),
            order,
        })
    }
}

/// Tickets in the order they were opened.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", params(TicketParams),
    responses((status = 200, body = ListResponse<Ticket>)))]
async fn list_tickets(
    State(s): State<AppState>,
    c: Caller,
    ApiQuery(p): ApiQuery<TicketParams>,
) -> ApiResult<Json<ListResponse<Ticket>>> {
    let q = p.query(&c, TicketOrder::Opened)?;
    Ok(Json(s.store.list_tickets(&q).await?.into()))
}

/// One ticket of the queue with its SLA verdict.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueueItem {
    pub ticket: Ticket,
    pub sla: SlaSummary,
}

/// The queue: tickets sorted by their next SLA deadline, a page at a time.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Queue {
    /// Soonest deadline first (breached ones, whose deadline has passed, lead); tickets with no
    /// running clock last, by number.
    pub items: Vec<QueueItem>,
    /// What the queue adds up to, over every ticket its filters match, not one page.
    pub summary: QueueCounts,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A page of the queue for `p`: open tickets (new, open, waiting) unless a state is asked for,
/// in the order of the SLA stamps the store keeps on every ticket, so the whole backlog is
/// sorted by index; each ticket on the page gets its clocks replayed for the detail.
pub(crate) async fn queue(s: &AppState, c: &Caller, p: &TicketParams) -> ApiResult<Queue> {
    let mut q = p.query(c, TicketOrder::SlaDue)?;
    q.open_only = q.state.is_none();
    let now = s.clock.now();
    let page = s.store.list_tickets(&q).await?;
    let summary = s
        .store
        .ticket_queue_counts(&q, now, palisade_store::QUEUE_COUNT_LIMIT)
        .await?;
    let cfg = &s.config.desk;
    let mut clients: HashMap<ClientId, Client> = HashMap::new();
    let mut items = Vec::with_capacity(page.items.len());
    for ticket in page.items {
        if let Entry::Vacant(slot) = clients.entry(ticket.client_id) {
            slot.insert(s.store.get_client(ticket.client_id).await?);
        }
        let events = s.store.ticket_events(ticket.id).await?;
        let sla = clients
            .get(&ticket.client_id)
            .and_then(|client| deskops::evaluate(cfg, client, &events, now).ok())
            .map(|st| SlaSummary::of(&st))
            .unwrap_or_default();
        items.push(QueueItem { ticket, sla });
    }
    Ok(Queue {
        items,
        summary,
        next_cursor: page.next_after.map(|a| URL_SAFE_NO_PAD.encode(a)),
    })
}

/// The staff queue (and a client user's own open tickets): soonest SLA deadline first over
/// every matching ticket, a page at a time (`limit`, `cursor`), each with its clocks at risk and
/// breached, and the counts of the whole queue.
#[utoipa::path(get, path = "/api/v1/tickets/queue", tag = "tickets", params(TicketParams),
    responses((status = 200, body = Queue)))]
async fn ticket_queue(
    State(s): State<AppState>,
    c: Caller,
    ApiQuery(p): ApiQuery<TicketParams>,
) -> ApiResult<Json<Queue>> {
    Ok(Json(queue(&s, &c, &p).await?))
}

/// A ticket with what the caller may see of its timeline and its SLA clocks.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TicketDetail {
    pub ticket: Ticket,
    /// Oldest first. Internal notes and escalations are left out for client users.
    pub timeline: Vec<TimelineEvent>,
    /// First response, next response and resolution as of now; absent when the client's
    /// contract gives no usable calendar (see `sla_error`).
    #[schema(value_type = Option<Object>)]
    pub sla: Option<SlaStatus>,
    /// The clocks at risk (past the configured share of their target) and breached, and the
    /// next deadline.
    pub sla_summary: SlaSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_error: Option<String>,
    /// Whether the caller sees internal notes (and may write them).
    #[serde(skip)]
    pub staff_view: bool,
}

/// One ticket as the caller may see it.
pub(crate) async fn ticket_detail(
    s: &AppState,
    c: &Caller,
    id: TicketId,
) -> ApiResult<TicketDetail> {
    let ticket = s.store.get_ticket(id).await?;
    let scope = Scope::Client(ticket.client_id);
    c.authorize(Action::Read(Resource::Ticket), scope)?;
    let events = s.store.ticket_events(id).await?;
    let client = s.store.get_client(ticket.client_id).await?;
    // Internal notes never count as responses, so the clocks are the same whoever asks.
    let (sla, sla_error) = match deskops::evaluate(&s.config.desk, &client, &events, s.clock.now())
    {
        Ok(status) => (Some(status), None),
        Err(e) => {
            tracing::warn!(ticket = %id, error = %e, "SLA status unavailable.");
            (None, Some(e.to_string()))
        }
    };
    let notes = c.may(Action::Read(Resource::TicketNote), scope);
    let timeline = events
        .into_iter()
        .filter(|e| notes || e.client_visible())
        .collect();
    Ok(TicketDetail {
        ticket,
        timeline,
        sla_summary: sla.as_ref().map(SlaSummary::of).unwrap_or_default(),
        sla,
        sla_error,
        staff_view: notes,
    })
}

/// One ticket, its timeline and its SLA status.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets", params(("id" = TicketId, Path)),
    responses((status = 200, body = TicketDetail), (status = 404, body = crate::error::ErrorBody)))]
async fn get_ticket(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<TicketId>,
) -> ApiResult<Json<TicketDetail>> {
    Ok(Json(ticket_detail(&s, &c, id).await?))
}

/// A message on a ticket.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewMessage {
    body: String,
    /// `public` (default): a reply the client sees; `internal`: a note for staff only.
    visibility: Option<Visibility>,
}

impl Validate for NewMessage {
    /// Messages are free text, newlines included; the desk checks their size.
    fn validate(&self) -> Result<(), FieldError> {
        Ok(())
    }
}

/// Appends a reply or a note, retrying when another message won the race (a message does not
/// depend on the state it was written against).
pub(crate) async fn post_message(
    s: &AppState,
    c: &Caller,
    id: TicketId,
    body: String,
    visibility: Visibility,
) -> ApiResult<TimelineEvent> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let ticket = s.store.get_ticket(id).await?;
        let scope = Scope::Client(ticket.client_id);
        c.authorize(Action::Write(Resource::Ticket), scope)?;
        if visibility == Visibility::Internal {
            c.authorize(Action::Write(Resource::TicketNote), scope)?;
        }
        let kind = TimelineKind::Reply {
            visibility,
            body: body.clone(),
        };
        let (next, event) = ticket.apply(kind, actor(c), s.clock.now())?;
        match s.store.append_ticket_event(&next, &event).await {
            Err(StoreError::Conflict(_)) if attempt < MESSAGE_ATTEMPTS => continue,
            other => other?,
        };
        c.note("visibility", serde_json::json!(visibility.as_str()));
        if next.state != ticket.state {
            c.note(
                "state",
                serde_json::json!({"before": ticket.state.as_str(), "after": next.state.as_str()}),
            );
        }
        return Ok(event);
    }
}

/// Adds a public reply or an internal note. A staff reply answers the client (it stops the
/// response clocks); a client reply ends a wait on them.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/messages", tag = "tickets", params(("id" = TicketId, Path)),
    request_body = NewMessage,
    responses((status = 201, body = TimelineEvent), (status = 409, body = crate::error::ErrorBody)))]
async fn add_message(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<TicketId>,
    ApiJson(req): ApiJson<NewMessage>,
) -> ApiResult<Created<TimelineEvent>> {
    let visibility = req.visibility.unwrap_or(Visibility::Public);
    let event = post_message(&s, &c, id, req.body, visibility).await?;
    Ok((StatusCode::CREATED, Json(event)))
}

/// A state change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StateChange {
    /// `open`, `waiting-on-customer`, `resolved` or `closed`.
    state: TicketState,
    /// Why; shown to the client with the change.
    reason: Option<String>,
}

impl Validate for StateChange {
    fn validate(&self) -> Result<(), FieldError> {
        match &self.reason {
            Some(r) => validate::text("reason", r, 2000),
            None => Ok(()),
        }
    }
}

fn reason_text(reason: Option<String>) -> Option<String> {
    reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
}

/// A ticket for a workflow change: readable (404 otherwise) and handled by the caller (403).
async fn for_workflow(s: &AppState, c: &Caller, id: TicketId) -> ApiResult<Ticket> {
    let ticket = s.store.get_ticket(id).await?;
    let scope = Scope::Client(ticket.client_id);
    // A client user who can see the ticket is refused (403); one who cannot gets 404.
    c.authorize(Action::Read(Resource::Ticket), scope)?;
    c.authorize(Action::Write(Resource::TicketWorkflow), scope)?;
    Ok(ticket)
}

/// Applies a workflow change built from the ticket as it is now: the ticket before, after, and
/// the appended event.
async fn workflow_change(
    s: &AppState,
    c: &Caller,
    id: TicketId,
    change: impl FnOnce(&Ticket) -> TimelineKind,
) -> ApiResult<(Ticket, Ticket, TimelineEvent)> {
    let ticket = for_workflow(s, c, id).await?;
    let kind = change(&ticket);
    let (next, event) = ticket.apply(kind, actor(c), s.clock.now())?;
    let stored = s.store.append_ticket_event(&next, &event).await?;
    Ok((ticket, stored, event))
}

/// Moves a ticket to `to`, from the state it has now.
pub(crate) async fn move_state(
    s: &AppState,
    c: &Caller,
    id: TicketId,
    to: TicketState,
    reason: Option<String>,
) -> ApiResult<Ticket> {
    let (before, after, _) = workflow_change(s, c, id, |t| TimelineKind::StateChanged {
        from: t.state,
        to,
        reason: reason_text(reason),
    })
    .await?;
    c.note(
        "transition",
        serde_json::json!({"from": before.state.as_str(), "to": after.state.as_str()}),
    );
    Ok(after)
}

/// Moves a ticket to another state. Transitions outside the allowed table are refused with 409
/// `invalid_transition`, naming both states; a ticket changed meanwhile gives 409 `conflict`.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/state", tag = "tickets", params(("id" = TicketId, Path)),
    request_body = StateChange,
    responses((status = 200, body = Ticket), (status = 409, body = crate::error::ErrorBody)))]
async fn change_state(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<TicketId>,
    ApiJson(req): ApiJson<StateChange>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(move_state(&s, &c, id, req.state, req.reason).await?))
}

/// A priority change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PriorityChange {
    priority: Priority,
    /// Why; shown to the client with the change.
    reason: Option<String>,
}

impl Validate for PriorityChange {
    fn validate(&self) -> Result<(), FieldError> {
        match &self.reason {
            Some(r) => validate::text("reason", r, 2000),
            None => Ok(()),
        }
    }
}

/// Changes the priority of a ticket.
pub(crate) async fn set_priority(
    s: &AppState,
    c: &Caller,
    id: TicketId,
    to: Priority,
    reason: Option<String>,
) -> ApiResult<Ticket> {
    let (before, after, _) = workflow_change(s, c, id, |t| TimelineKind::PriorityChanged {
        from: t.priority,
        to,
        reason: reason_text(reason),
    })
    .await?;
    c.note(
        "priority",
        serde_json::json!({"before": before.priority, "after": after.priority}),
    );
    Ok(after)
}

/// Changes a ticket's priority. Running SLA clocks are judged by the new priority's targets from
/// the moment they started, so raising it can put a deadline in the past.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/priority", tag = "tickets", params(("id" = TicketId, Path)),
    request_body = PriorityChange,
    responses((status = 200, body = Ticket), (status = 409, body = crate::error::ErrorBody)))]
async fn change_priority(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<TicketId>,
    ApiJson(req): ApiJson<PriorityChange>,
) -> ApiResult<Json<Ticket>> {
    Ok(Json(
        set_priority(&s, &c, id, req.priority, req.reason).await?,
    ))
}

/// An escalation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Escalation {
    /// Why, for staff: escalations are internal and never shown to client users.
    reason: String,
}

impl Validate for Escalation {
    fn validate(&self) -> Result<(), FieldError> {
        validate::text("reason", &self.reason, 2000)
    }
}

/// Hands a ticket to the second line with a reason.
pub(crate) async fn escalate_ticket(
    s: &AppState,
    c: &Caller,
    id: TicketId,
    reason: String,
) -> ApiResult<TimelineEvent> {
    validate::text("reason", &reason, 2000)?;
    let (before, after, event) =
        workflow_change(s, c, id, |_| TimelineKind::Escalated { reason }).await?;
    c.note(
        "line",
        serde_json::json!({"before": before.line.as_str(), "after": after.line.as_str()}),
    );
    Ok(event)
}

/// Escalates a ticket to the second line by hand (unanswered critical tickets also escalate by
/// themselves; see `desk_auto_escalate_minutes`). The state and the SLA clocks do not change: an
/// escalated ticket is still being worked on.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/escalate", tag = "tickets", params(("id" = TicketId, Path)),
    request_body = Escalation,
    responses((status = 201, body = TimelineEvent), (status = 409, body = crate::error::ErrorBody)))]
async fn escalate(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<TicketId>,
    ApiJson(req): ApiJson<Escalation>,
) -> ApiResult<Created<TimelineEvent>> {
    let event = escalate_ticket(&s, &c, id, req.reason).await?;
    Ok((StatusCode::CREATED, Json(event)))
}

/// Time worked on a ticket.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewWork {
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    /// What was done (staff only: client users never see work logs).
    pub note: String,
}

impl Validate for NewWork {
    fn validate(&self) -> Result<(), FieldError> {
        validate::text("note", &self.note, palisade_desk::billing::MAX_NOTE_CHARS)
    }
}

/// A ticket's work, priced in and out of its client's support hours.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkList {
    pub items: Vec<PricedWork>,
    pub in_hours_seconds: i64,
    pub out_of_hours_seconds: i64,
    /// Minor units of `currency`.
    pub amount: i64,
    pub currency: String,
}

fn unusable_calendar(e: palisade_desk::DeskError) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_support_hours",
        format!("the client's support hours cannot be used: {e}"),
    )
}

/// Logs work on a ticket, split and priced.
pub(crate) async fn add_work(
    s: &AppState,
    c: &Caller,
    id: TicketId,
    req: NewWork,
) -> ApiResult<PricedWork> {
    req.validate()?;
    let ticket = for_workflow(s, c, id).await?;
    let log = WorkLog {
        id: WorkLogId::new(),
        ticket_id: ticket.id,
        client_id: ticket.client_id,
        user_id: c.user.id,
        start: req.start,
        end: req.end,
        note: req.note.trim().to_owned(),
        created_at: s.clock.now(),
    };
    log.check(s.clock.now()).map_err(|(field, reason)| {
        ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            field,
            reason,
        )
    })?;
    let client = s.store.get_client(ticket.client_id).await?;
    let priced = deskops::price_logs(&s.config.desk, &client, vec![log.clone()])
        .map_err(unusable_calendar)?;
    s.store.add_work_log(&log).await?;
    let p = priced.into_iter().next().map(|p| p.priced);
    c.note(
        "work",
        serde_json::json!({
            "work_log": log.id,
            "in_hours_seconds": p.as_ref().map(|p| p.in_hours_seconds),
            "out_of_hours_seconds": p.as_ref().map(|p| p.out_of_hours_seconds),
        }),
    );
    let priced =
        p.ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "no price"))?;
    Ok(PricedWork { log, priced })
}

/// A ticket's work logs, priced.
pub(crate) async fn work_of(s: &AppState, c: &Caller, id: TicketId) -> ApiResult<WorkList> {
    let ticket = s.store.get_ticket(id).await?;
    let scope = Scope::Client(ticket.client_id);
    c.authorize(Action::Read(Resource::Ticket), scope)?;
    c.authorize(Action::Read(Resource::TicketWorkflow), scope)?;
    let client = s.store.get_client(ticket.client_id).await?;
    let logs = s.store.ticket_work_logs(id).await?;
    let items = deskops::price_logs(&s.config.desk, &client, logs).map_err(unusable_calendar)?;
    Ok(WorkList {
        in_hours_seconds: items.iter().map(|p| p.priced.in_hours_seconds).sum(),
        out_of_hours_seconds: items.iter().map(|p| p.priced.out_of_hours_seconds).sum(),
        amount: items.iter().map(|p| p.priced.amount).sum(),
        currency: s
            .config
            .desk
            .rates
            .for_tier(client.contract.sla_tier)
            .currency
            .clone(),
        items,
    })
}

/// Logs time worked on a ticket (support staff and managers). The interval is split at the
/// client's support-hours boundary and priced at its contract tier's in-hours and out-of-hours
/// rates (`[billing.TIER]`); money is integer minor units.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/work", tag = "tickets", params(("id" = TicketId, Path)),
    request_body = NewWork,
    responses((status = 201, body = PricedWork), (status = 422, body = crate::error::ErrorBody)))]
async fn log_work(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<TicketId>,
    ApiJson(req): ApiJson<NewWork>,
) -> ApiResult<Created<PricedWork>> {
    Ok((StatusCode::CREATED, Json(add_work(&s, &c, id, req).await?)))
}

/// A ticket's work logs, priced, with totals (staff only).
#[utoipa::path(get, path = "/api/v1/tickets/{id}/work", tag = "tickets", params(("id" = TicketId, Path)),
    responses((status = 200, body = WorkList)))]
async fn list_work(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<TicketId>,
) -> ApiResult<Json<WorkList>> {
    Ok(Json(work_of(&s, &c, id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct BillingParams {
    /// `YYYY-MM`, in the client's time zone (required).
    month: Option<String>,
}

/// A client's work in a month as CSV (staff only): one row per work log (ticket, staff, start and
/// end in UTC, seconds and amounts in and out of hours) and a total row. Amounts are integer
/// minor units of the currency column. Also `palisade billing export`.
#[utoipa::path(get, path = "/api/v1/clients/{id}/billing", tag = "tickets",
    params(("id" = ClientId, Path), BillingParams),
    responses((status = 200, content_type = "text/csv", body = String)))]
async fn billing_export(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<ClientId>,
    ApiQuery(p): ApiQuery<BillingParams>,
) -> ApiResult<Response> {
    // Authorised before the query is checked, so a caller without access learns nothing; another
    // client's user is answered as for a missing client (404), the owner's refused (403).
    c.authorize(Action::Read(Resource::Ticket), Scope::Client(id))?;
    c.authorize(Action::Read(Resource::TicketWorkflow), Scope::Client(id))?;
    let month: Month = p
        .month
        .as_deref()
        .unwrap_or("")
        .parse()
        .map_err(|e: String| {
            ApiError::field(StatusCode::BAD_REQUEST, "invalid_query", "month", e)
        })?;
    let csv = deskops::billing_csv(s.store.as_ref(), &s.config.desk, id, month)
        .await
        .map_err(|e| match e {
            deskops::BillingError::Store(e) => ApiError::from(e),
            deskops::BillingError::Calendar(e) => unusable_calendar(e),
        })?;
    let file = format!("attachment; filename=\"billing-{id}-{month}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, file),
        ],
        csv,
    )
        .into_response())
}
