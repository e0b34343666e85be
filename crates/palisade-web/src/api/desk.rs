//! API for the support desk: opening tickets (client users from the portal or the API, staff on
//! a client's behalf), listing them, one ticket with its timeline and SLA status, messages
//! (public replies and internal notes), state and priority changes, and escalations. Client users are pinned to their own
//! client and never see internal notes; what each caller may do is decided by the policy
//! (`Resource::Ticket`, `TicketNote`, `TicketWorkflow`), the ticket rules by `palisade-desk`.
//!
//! SLA status is computed on every read from the timeline, the client's contract (support hours
//! and holiday calendar) and `palisade_desk::default_targets`, so nothing about it is stored.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use palisade_core::policy::{Action, Resource, Scope};
use palisade_core::{ClientId, FieldError, Role, SiteId, TicketId, Validate, validate};
use palisade_desk::sla::{Priority, SlaStatus};
use palisade_desk::ticket::{
    Actor, Category, NewTicket, Ticket, TicketError, TicketState, TimelineEvent, TimelineKind,
    Visibility, default_targets, sla_events,
};
use palisade_desk::{BusinessCalendar, HolidayCalendar};
use palisade_store::{StoreError, TicketQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ListResponse, pinned_client};
use crate::auth::Caller;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, ApiResult, AppState};

/// The public-holiday calendars contracts may name. Built once: it is static data.
static HOLIDAYS: LazyLock<HolidayCalendar> = LazyLock::new(HolidayCalendar::builtin);

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
fn actor(c: &Caller) -> Actor {
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
struct CreateTicket {
    /// The client it is for: required for staff; client users open tickets for their own.
    client_id: Option<ClientId>,
    /// The site concerned, if one; it must be the client's.
    site_id: Option<SiteId>,
    subject: String,
    category: Category,
    /// Default `normal`. `critical` means a service is down.
    priority: Option<Priority>,
    /// The first message.
    body: String,
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
    let client = pinned_client(&c, req.client_id)?.ok_or_else(|| {
        ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "client_id",
            "which client the ticket is for",
        )
    })?;
    c.authorize(Action::Write(Resource::Ticket), Scope::Client(client))?;
    // Exists (and is answered 404 otherwise, as any unknown record).
    s.store.get_client(client).await?;
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
            Ok(found) if found.client_id == client => {}
            Ok(_) | Err(StoreError::NotFound) => return Err(not_theirs()),
            Err(e) => return Err(e.into()),
        }
    }
    let new = NewTicket {
        id: TicketId::new(),
        client_id: client,
        site_id: req.site_id,
        subject: req.subject,
        category: req.category,
        priority: req.priority.unwrap_or(Priority::Normal),
        body: req.body,
        created_by: actor(&c),
        at: s.clock.now(),
    };
    let created = new.created_event()?;
    let ticket = s.store.create_ticket(&new, &created).await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TicketParams {
    /// Only this client's tickets (staff only; client users always see their own).
    client_id: Option<ClientId>,
    #[param(value_type = Option<String>)]
    state: Option<TicketState>,
    #[param(value_type = Option<String>)]
    priority: Option<Priority>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// Tickets in the order they were opened.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", params(TicketParams),
    responses((status = 200, body = ListResponse<Ticket>)))]
async fn list_tickets(
    State(s): State<AppState>,
    c: Caller,
    ApiQuery(p): ApiQuery<TicketParams>,
) -> ApiResult<Json<ListResponse<Ticket>>> {
    let bad = |field: &str, message: &str| {
        ApiError::field(StatusCode::BAD_REQUEST, "invalid_query", field, message)
    };
    if p.limit
        .is_some_and(|l| l == 0 || l > palisade_store::MAX_PAGE_SIZE)
    {
        return Err(bad("limit", "must be between 1 and 500"));
    }
    let after = match &p.cursor {
        None => None,
        Some(cur) => {
            let text = URL_SAFE_NO_PAD
                .decode(cur)
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .filter(|t| t.parse::<uuid::Uuid>().is_ok())
                .ok_or_else(|| bad("cursor", "not a cursor from this API"))?;
            Some(text)
        }
    };
    let client = pinned_client(&c, p.client_id)?;
    c.authorize(
        Action::Read(Resource::Ticket),
        client.map(Scope::Client).unwrap_or(Scope::Provider),
    )?;
    let q = TicketQuery {
        client,
        state: p.state,
        priority: p.priority,
        after,
        limit: p.limit.unwrap_or(palisade_store::DEFAULT_PAGE_SIZE),
    };
    Ok(Json(s.store.list_tickets(&q).await?.into()))
}

/// A ticket with what the caller may see of its timeline and its SLA clocks.
#[derive(Debug, Serialize, ToSchema)]
struct TicketDetail {
    ticket: Ticket,
    /// Oldest first. Internal notes and escalations are left out for client users.
    timeline: Vec<TimelineEvent>,
    /// First response, next response and resolution as of now; absent when the client's
    /// contract gives no usable calendar (see `sla_error`).
    #[schema(value_type = Option<Object>)]
    sla: Option<SlaStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sla_error: Option<String>,
}

/// One ticket, its timeline and its SLA status.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets", params(("id" = TicketId, Path)),
    responses((status = 200, body = TicketDetail), (status = 404, body = crate::error::ErrorBody)))]
async fn get_ticket(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<TicketId>,
) -> ApiResult<Json<TicketDetail>> {
    let ticket = s.store.get_ticket(id).await?;
    let scope = Scope::Client(ticket.client_id);
    c.authorize(Action::Read(Resource::Ticket), scope)?;
    let events = s.store.ticket_events(id).await?;
    let client = s.store.get_client(ticket.client_id).await?;
    // Internal notes never count as responses, so the clocks are the same whoever asks.
    let (sla, sla_error) = match BusinessCalendar::from_contract(&client.contract, &HOLIDAYS)
        .and_then(|cal| {
            palisade_desk::sla::evaluate(
                &sla_events(&events),
                &default_targets(),
                &cal,
                s.clock.now(),
            )
        }) {
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
    Ok(Json(TicketDetail {
        ticket,
        timeline,
        sla,
        sla_error,
    }))
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
            body: req.body.clone(),
        };
        let (next, event) = ticket.apply(kind, actor(&c), s.clock.now())?;
        match s.store.append_ticket_event(&next, &event).await {
            Err(StoreError::Conflict(_)) if attempt < MESSAGE_ATTEMPTS => continue,
            other => other?,
        }
        c.note("visibility", serde_json::json!(visibility.as_str()));
        return Ok((StatusCode::CREATED, Json(event)));
    }
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
    let ticket = s.store.get_ticket(id).await?;
    let scope = Scope::Client(ticket.client_id);
    // A client user who can see the ticket is refused (403); one who cannot gets 404.
    c.authorize(Action::Read(Resource::Ticket), scope)?;
    c.authorize(Action::Write(Resource::TicketWorkflow), scope)?;
    let reason = req
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    let kind = TimelineKind::StateChanged {
        from: ticket.state,
        to: req.state,
        reason,
    };
    c.note(
        "transition",
        serde_json::json!({"from": ticket.state.as_str(), "to": req.state.as_str()}),
    );
    let (next, event) = ticket.apply(kind, actor(&c), s.clock.now())?;
    s.store.append_ticket_event(&next, &event).await?;
    Ok(Json(next))
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
    let ticket = s.store.get_ticket(id).await?;
    let scope = Scope::Client(ticket.client_id);
    c.authorize(Action::Read(Resource::Ticket), scope)?;
    c.authorize(Action::Write(Resource::TicketWorkflow), scope)?;
    let kind = TimelineKind::PriorityChanged {
        from: ticket.priority,
        to: req.priority,
        reason: req
            .reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty()),
    };
    let (next, event) = ticket.apply(kind, actor(&c), s.clock.now())?;
    s.store.append_ticket_event(&next, &event).await?;
    Ok(Json(next))
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

/// Escalates a ticket (by hand; automatic escalation on SLA warnings is a later slice). The state
/// and the SLA clocks do not change: an escalated ticket is still being worked on.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/escalate", tag = "tickets", params(("id" = TicketId, Path)),
    request_body = Escalation,
    responses((status = 201, body = TimelineEvent), (status = 409, body = crate::error::ErrorBody)))]
async fn escalate(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<TicketId>,
    ApiJson(req): ApiJson<Escalation>,
) -> ApiResult<Created<TimelineEvent>> {
    let ticket = s.store.get_ticket(id).await?;
    let scope = Scope::Client(ticket.client_id);
    c.authorize(Action::Read(Resource::Ticket), scope)?;
    c.authorize(Action::Write(Resource::TicketWorkflow), scope)?;
    let kind = TimelineKind::Escalated { reason: req.reason };
    let (next, event) = ticket.apply(kind, actor(&c), s.clock.now())?;
    s.store.append_ticket_event(&next, &event).await?;
    Ok((StatusCode::CREATED, Json(event)))
}
