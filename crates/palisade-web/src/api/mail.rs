//! Ticket attachments over the API: the files of a ticket's messages (most arrive by e-mail),
//! listed and downloaded under the same authorisation as the ticket, plus adding a file to a
//! message. Attachments of internal notes are staff business (`Resource::TicketNote`): a client
//! user neither lists nor fetches them. Downloads are always `application/octet-stream` with
//! `Content-Disposition: attachment`, whatever type the sender declared, so an HTML or SVG file
//! from an e-mail is never rendered (and never runs script) in Palisade's origin.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use palisade_core::policy::{Action, Resource, Scope};
use palisade_core::{AttachmentId, Role, TicketEventId, TicketId};
use palisade_desk::ticket::{Actor, Visibility};
use palisade_store::{AttachmentMeta, NewAttachment, StoreError};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::extract::{ApiPath, ApiQuery};
use crate::{ApiError, ApiResult, AppState};

/// Largest file added through the API: the request body limit.
const MAX_UPLOAD_BYTES: usize = crate::MAX_BODY_BYTES;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_attachments))
        .routes(routes!(get_attachment))
        .routes(routes!(add_attachment))
}

/// The ticket's scope, after checking the caller may read it (404 otherwise).
async fn ticket_scope(s: &AppState, c: &Caller, id: TicketId) -> ApiResult<Scope> {
    let ticket = s.store.get_ticket(id).await?;
    let scope = Scope::Client(ticket.client_id);
    c.authorize(Action::Read(Resource::Ticket), scope)?;
    Ok(scope)
}

/// The files of a ticket's messages, oldest first. Client users do not see those of internal
/// notes.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/attachments", tag = "tickets",
    params(("id" = TicketId, Path)),
    responses((status = 200, body = Vec<AttachmentMeta>), (status = 404, body = crate::error::ErrorBody)))]
async fn list_attachments(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<TicketId>,
) -> ApiResult<Json<Vec<AttachmentMeta>>> {
    let scope = ticket_scope(&s, &c, id).await?;
    let notes = c.may(Action::Read(Resource::TicketNote), scope);
    let all = s.store.ticket_attachments(id).await?;
    Ok(Json(
        all.into_iter()
            .filter(|a| notes || a.visibility == Visibility::Public)
            .collect(),
    ))
}

/// `filename*=UTF-8''…`: the name percent-encoded, so no quote or line break can end the header.
fn disposition(filename: &str) -> String {
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename*=UTF-8''{encoded}")
}

/// One attachment's bytes, as a download.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/attachments/{aid}", tag = "tickets",
    params(("id" = TicketId, Path), ("aid" = AttachmentId, Path)),
    responses((status = 200, description = "the file", content_type = "application/octet-stream"),
        (status = 404, body = crate::error::ErrorBody)))]
async fn get_attachment(
    State(s): State<AppState>,
    c: Caller,
    ApiPath((id, aid)): ApiPath<(TicketId, AttachmentId)>,
) -> ApiResult<Response> {
    let scope = ticket_scope(&s, &c, id).await?;
    let (meta, bytes) = s.store.attachment(aid).await?;
    // Another ticket's attachment reads like a missing one.
    if meta.ticket_id != id {
        return Err(ApiError::not_found());
    }
    if meta.visibility == Visibility::Internal {
        c.authorize(Action::Read(Resource::TicketNote), scope)?;
    }
    c.note("attachment", serde_json::json!(aid.to_string()));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition(&meta.filename)),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UploadParams {
    /// The file's name.
    name: String,
    /// Its type (default `application/octet-stream`).
    content_type: Option<String>,
}

/// Adds a file (the raw request body, at most 1 MiB) to a message of the ticket. Client users may
/// add files only to messages they wrote; a file on an internal note needs the right to write
/// notes.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/messages/{event_id}/attachments", tag = "tickets",
    params(("id" = TicketId, Path), ("event_id" = TicketEventId, Path), UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = AttachmentMeta), (status = 404, body = crate::error::ErrorBody)))]
async fn add_attachment(
    State(s): State<AppState>,
    c: Caller,
    ApiPath((id, event_id)): ApiPath<(TicketId, TicketEventId)>,
    ApiQuery(p): ApiQuery<UploadParams>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<AttachmentMeta>)> {
    let scope = ticket_scope(&s, &c, id).await?;
    c.authorize(Action::Write(Resource::Ticket), scope)?;
    let events = s.store.ticket_events(id).await?;
    let notes = c.may(Action::Read(Resource::TicketNote), scope);
    let Some(event) = events
        .into_iter()
        .find(|e| e.id == event_id && (notes || e.client_visible()))
    else {
        return Err(ApiError::not_found());
    };
    if event.kind.visibility() == Visibility::Internal {
        c.authorize(Action::Write(Resource::TicketNote), scope)?;
    }
    if c.principal.role == Role::ClientUser && event.actor != Actor::Client(c.user.id) {
        return Err(ApiError::forbidden());
    }
    let invalid = |field: &str, msg: &str| {
        ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            field,
            msg,
        )
    };
    let name = p.name.trim();
    if name.is_empty()
        || name.chars().count() > 200
        || name
            .chars()
            .any(|ch| ch.is_control() || ch == '/' || ch == '\\')
    {
        return Err(invalid(
            "name",
            "a file name of 1 to 200 characters without slashes or control characters",
        ));
    }
    let content_type = p
        .content_type
        .unwrap_or_else(|| "application/octet-stream".into());
    if content_type.len() > 100 || !content_type.chars().all(|ch| ch.is_ascii_graphic()) {
        return Err(invalid(
            "content_type",
            "a media type such as application/pdf",
        ));
    }
    if body.is_empty() || body.len() > MAX_UPLOAD_BYTES {
        return Err(invalid("body", "the file must be 1 byte to 1 MiB"));
    }
    let new = NewAttachment {
        id: AttachmentId::new(),
        filename: name.to_owned(),
        content_type,
        data: body.to_vec(),
    };
    s.store
        .add_attachments(&event, std::slice::from_ref(&new), s.clock.now())
        .await?;
    let stored = s
        .store
        .ticket_attachments(id)
        .await?
        .into_iter()
        .find(|a| a.id == new.id)
        .ok_or(ApiError::from(StoreError::NotFound))?;
    c.note("attachment", serde_json::json!(new.id.to_string()));
    Ok((StatusCode::CREATED, Json(stored)))
}
