//! The audit log over HTTP: search (staff with audit rights see everything, a client user sees what
//! concerns their own organisation, staff access to their data included), one event with its
//! inclusion proof, the signed digests, the state of sealing and shipping, and the public key that
//! verifies it all, published without authentication at a stable URL.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use jiff::Timestamp;
use palisade_audit::{ChainedEvent, Digest, EventKind};
use palisade_core::policy::{Action, Resource, Scope};
use palisade_core::{AuditEventId, ClientId};
use palisade_store::AuditQuery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ListResponse, pinned_client};
use crate::auth::Caller;
use crate::extract::{ApiPath, ApiQuery};
use crate::{ApiError, ApiResult, AppState};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_events))
        .routes(routes!(get_event))
        .routes(routes!(event_proof))
        .routes(routes!(list_digests))
        .routes(routes!(audit_status))
        .routes(routes!(public_key))
}

/// One audit event as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEventView {
    pub seq: u64,
    pub id: AuditEventId,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub kind: EventKind,
    /// `METHOD /route/template` for requests and changes.
    pub action: String,
    pub actor: Option<String>,
    pub client_id: Option<String>,
    pub object: Option<String>,
    pub request_id: Option<String>,
    /// Details; sensitive values appear as `hmac-sha256:…`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// The chain hash (hex).
    pub hash: String,
}

impl From<ChainedEvent> for AuditEventView {
    fn from(c: ChainedEvent) -> Self {
        let e = c.event;
        Self {
            seq: c.seq,
            id: e.id,
            at: Timestamp::from_microsecond(e.at_micros).unwrap_or(Timestamp::UNIX_EPOCH),
            kind: e.kind,
            action: e.action,
            actor: e.actor,
            client_id: e.client,
            object: e.object,
            request_id: e.request_id,
            data: serde_json::from_str(&e.data).unwrap_or(serde_json::Value::String(e.data)),
            hash: c.hash.to_string(),
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// `user:<id>`.
    pub actor: Option<String>,
    pub client_id: Option<ClientId>,
    /// `<type>:<id>`, such as `site:0190…`.
    pub object: Option<String>,
    /// An action or its beginning, such as `POST /api/v1/clients`.
    pub action: Option<String>,
    /// `request`, `change`, `security` or `system`.
    pub kind: Option<String>,
    /// From this time (RFC 3339), inclusive.
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    /// Until this time (RFC 3339), exclusive.
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

impl AuditParams {
    /// The store query and the scope to authorise; client users are pinned to their own client.
    pub(crate) fn query(&self, caller: &Caller) -> ApiResult<(AuditQuery, Scope)> {
        let bad = |field: &'static str, msg: String| {
            ApiError::field(StatusCode::BAD_REQUEST, "invalid_query", field, msg)
        };
        let limit = self.limit.unwrap_or(palisade_store::DEFAULT_PAGE_SIZE);
        if limit == 0 || limit > palisade_store::MAX_PAGE_SIZE {
            return Err(bad(
                "limit",
                format!("must be between 1 and {}", palisade_store::MAX_PAGE_SIZE),
            ));
        }
        let before_seq = match &self.cursor {
            None => None,
            Some(c) => Some(
                c.parse::<u64>()
                    .map_err(|_| bad("cursor", "not a cursor this API gave out".into()))?,
            ),
        };
        let kind = match &self.kind {
            None => None,
            Some(k) => Some(k.parse::<EventKind>().map_err(|e| bad("kind", e))?),
        };
        let client = pinned_client(caller, self.client_id)?;
        let q = AuditQuery {
            actor: self.actor.clone(),
            client: client.map(|c| c.to_string()),
            object: self.object.clone(),
            action: self.action.clone(),
            kind,
            from_micros: self.from.map(Timestamp::as_microsecond),
            to_micros: self.to.map(Timestamp::as_microsecond),
            before_seq,
            limit: limit + 1,
        };
        Ok((q, client.map(Scope::Client).unwrap_or(Scope::Provider)))
    }
}

/// Audit events, newest first.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(AuditParams),
    responses((status = 200, body = ListResponse<AuditEventView>)))]
async fn search_events(
    State(s): State<AppState>,
    c: Caller,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<Json<ListResponse<AuditEventView>>> {
    let (q, scope) = p.query(&c)?;
    c.authorize(Action::Read(Resource::AuditLog), scope)?;
    let page_size = q.limit as usize - 1;
    let mut items = s.store.search_audit(&q).await?;
    let next_cursor = (items.len() > page_size).then(|| items[page_size - 1].seq.to_string());
    items.truncate(page_size);
    Ok(Json(ListResponse {
        items: items.into_iter().map(AuditEventView::from).collect(),
        next_cursor,
    }))
}

/// Reads one event and checks the caller may see it: client users only their own organisation's.
async fn visible_event(s: &AppState, c: &Caller, id: AuditEventId) -> ApiResult<ChainedEvent> {
    let event = s.store.audit_event(id).await?;
    let scope = match event.event.client.as_deref().map(str::parse::<ClientId>) {
        Some(Ok(client)) => Scope::Client(client),
        _ => Scope::Provider,
    };
    c.authorize(Action::Read(Resource::AuditLog), scope)
        .map_err(|e| {
            if c.principal.client_id.is_some() {
                ApiError::not_found()
            } else {
                e
            }
        })?;
    Ok(event)
}

/// One audit event.
#[utoipa::path(get, path = "/api/v1/audit/events/{id}", tag = "audit",
    params(("id" = AuditEventId, Path)), responses((status = 200, body = AuditEventView)))]
async fn get_event(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<AuditEventId>,
) -> ApiResult<Json<AuditEventView>> {
    Ok(Json(visible_event(&s, &c, id).await?.into()))
}

/// The proof that an event is in the log: the event, the signed digest whose range holds it, and
/// its audit path to the digest's Merkle root (RFC 6962). Check it offline with the public key.
#[derive(Debug, Serialize, ToSchema)]
struct ProofResponse {
    #[schema(value_type = Object)]
    event: serde_json::Value,
    digest: Digest,
    /// The event's position in the digest's range.
    index: u64,
    /// Sibling hashes from the leaf up (hex).
    path: Vec<String>,
}

/// The inclusion proof of one event (409 `not_sealed` until the next digest covers it).
#[utoipa::path(get, path = "/api/v1/audit/events/{id}/proof", tag = "audit",
    params(("id" = AuditEventId, Path)), responses((status = 200, body = ProofResponse)))]
async fn event_proof(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<AuditEventId>,
) -> ApiResult<Json<ProofResponse>> {
    visible_event(&s, &c, id).await?;
    let proof = palisade_auditlog::check::prove(s.store.as_ref(), id)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                e.to_string(),
            )
        })?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "not_sealed",
                "the event is not sealed yet; a digest covers it within the seal interval",
            )
        })?;
    Ok(Json(ProofResponse {
        event: serde_json::to_value(&proof.event).unwrap_or_default(),
        digest: proof.digest,
        index: proof.index,
        path: proof.path.iter().map(ToString::to_string).collect(),
    }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DigestParams {
    /// The first digest number (default 1).
    from: Option<u64>,
    /// How many, 1 to 500 (default 100).
    limit: Option<u32>,
}

/// Signed digests in order.
#[utoipa::path(get, path = "/api/v1/audit/digests", tag = "audit", params(DigestParams),
    responses((status = 200, body = Vec<Digest>)))]
async fn list_digests(
    State(s): State<AppState>,
    c: Caller,
    ApiQuery(p): ApiQuery<DigestParams>,
) -> ApiResult<Json<Vec<Digest>>> {
    c.authorize(Action::Read(Resource::AuditLog), Scope::Provider)?;
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > 500 {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "limit",
            "must be between 1 and 500",
        ));
    }
    Ok(Json(
        s.store
            .digests_from(p.from.unwrap_or(1).max(1), limit)
            .await?,
    ))
}

/// Where the log stands.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditStatus {
    /// Events in the log.
    pub events: u64,
    pub last_digest: Option<u64>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_sealed_at: Option<Timestamp>,
    /// Events after the last digest.
    pub unsealed: u64,
    /// Every event up to this one is in object storage.
    pub shipped_through: u64,
    pub shipping_backlog: u64,
    pub shipping_lag_seconds: i64,
    pub key_id: String,
}

pub(crate) async fn status(s: &AppState) -> ApiResult<AuditStatus> {
    use std::sync::atomic::Ordering::Relaxed;
    let (head, _) = s.store.audit_head().await?;
    let last = s.store.last_digest().await?;
    let shipping = s.store.shipping_state().await?;
    let sealed_through = last.as_ref().map_or(0, |d| d.body.last_seq());
    Ok(AuditStatus {
        events: head,
        last_digest: last.as_ref().map(|d| d.body.number),
        last_sealed_at: last
            .as_ref()
            .and_then(|d| Timestamp::from_microsecond(d.body.sealed_at_micros).ok()),
        unsealed: head.saturating_sub(sealed_through),
        shipped_through: shipping.shipped_seq,
        shipping_backlog: head.saturating_sub(shipping.shipped_seq),
        shipping_lag_seconds: s
            .audit
            .shipping()
            .map_or(0, |st| st.lag_seconds.load(Relaxed)),
        key_id: s.audit.public_key().key_id(),
    })
}

/// The state of sealing and shipping.
#[utoipa::path(get, path = "/api/v1/audit/status", tag = "audit",
    responses((status = 200, body = AuditStatus)))]
async fn audit_status(State(s): State<AppState>, c: Caller) -> ApiResult<Json<AuditStatus>> {
    c.authorize(Action::Read(Resource::AuditLog), Scope::Provider)?;
    Ok(Json(status(&s).await?))
}

/// The Ed25519 public key that verifies the digests (PEM), for anyone.
#[utoipa::path(get, path = "/api/v1/audit/public-key", tag = "audit",
    responses((status = 200, body = String, content_type = "application/x-pem-file")))]
async fn public_key(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        s.audit.public_key().to_pem(),
    )
}
