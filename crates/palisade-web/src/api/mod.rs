//! The JSON API under `/api/v1`. Routes are registered together with their OpenAPI description
//! (`utoipa_axum::routes!`), so the served document always lists exactly the routes that exist,
//! and the isolation matrix test can enumerate them from it.

mod accounts;
pub(crate) mod audit;
mod campaigns;
pub(crate) mod desk;
pub(crate) mod fleet;
mod mail;
mod spine;

pub(crate) use accounts::{NewToken, add_user, issue_token, revoke_sessions, set_disabled};

use axum::Json;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use palisade_core::ClientId;
use palisade_core::policy::Scope;
use palisade_store::{ListQuery, Page};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(
    info(title = "Palisade API", version = "1", description = "Security operations for hosting providers. \
        Authenticate with `Authorization: Bearer pal_…` (create a token under API tokens), or with the session \
        cookie plus `X-CSRF-Token` on writes. Errors are `{code, message, field?, request_id?}`; codes are stable."),
    modifiers(&Security),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("palisade_session"))),
        );
    }
}

/// Every API route with its OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(openapi_json))
        .merge(spine::routes())
        .merge(accounts::routes())
        .merge(fleet::routes())
        .merge(audit::routes())
        .merge(desk::routes())
        .merge(campaigns::routes())
        .merge(mail::routes())
}

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3.1 document")))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi())
}

/// Paging and filters shared by list endpoints.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
    /// Only this client's records (staff only; client users always see their own).
    client_id: Option<ClientId>,
    /// Include archived records.
    include_archived: Option<bool>,
}

/// The client a query is about: client users are pinned to their own (asking for another's is
/// answered like a missing record), staff get what they asked for.
pub(crate) fn pinned_client(
    caller: &Caller,
    asked: Option<ClientId>,
) -> Result<Option<ClientId>, ApiError> {
    match caller.principal.client_id {
        Some(own) if asked.is_some_and(|c| c != own) => Err(ApiError::not_found()),
        Some(own) => Ok(Some(own)),
        None => Ok(asked),
    }
}

/// One page of results.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> From<Page<T>> for ListResponse<T> {
    fn from(p: Page<T>) -> Self {
        Self {
            items: p.items,
            next_cursor: p.next_after.map(|a| URL_SAFE_NO_PAD.encode(a)),
        }
    }
}

impl ListParams {
    /// The parameters a UI page list uses.
    pub(crate) fn for_page(cursor: Option<String>, client_id: Option<ClientId>) -> Self {
        Self {
            cursor,
            client_id,
            ..Default::default()
        }
    }

    /// The store query and the scope to authorise it against. Client users are pinned to their
    /// own client whatever they ask for.
    pub(crate) fn query(&self, caller: &Caller) -> Result<(ListQuery, Scope), ApiError> {
        if self
            .limit
            .is_some_and(|l| l == 0 || l > palisade_store::MAX_PAGE_SIZE)
        {
            return Err(ApiError::field(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "limit",
                format!("must be between 1 and {}", palisade_store::MAX_PAGE_SIZE),
            ));
        }
        let after = match &self.cursor {
            None => None,
            Some(c) => {
                let bad = || {
                    ApiError::field(
                        StatusCode::BAD_REQUEST,
                        "invalid_query",
                        "cursor",
                        "not a cursor from this API",
                    )
                };
                let raw = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
                let text = String::from_utf8(raw).map_err(|_| bad())?;
                text.parse::<uuid::Uuid>().map_err(|_| bad())?;
                Some(text)
            }
        };
        let client = pinned_client(caller, self.client_id)?;
        let q = ListQuery {
            client,
            after,
            limit: self.limit.unwrap_or(palisade_store::DEFAULT_PAGE_SIZE),
            include_archived: self.include_archived.unwrap_or(false),
        };
        Ok((q, client.map(Scope::Client).unwrap_or(Scope::Provider)))
    }
}
