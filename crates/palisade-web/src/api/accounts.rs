//! API for accounts: the caller's own identity, users (super admins manage them), API tokens (each
//! user manages their own), forced sign-out, and the request records.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::SignedDuration;
use palisade_core::policy::{Action, Resource, Scope};
use palisade_core::user::{ApiToken, NewUser, User};
use palisade_core::validate::{self, FieldError, Validate};
use palisade_core::{Role, TokenId, UserId};
use palisade_store::NewUserRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ListParams, ListResponse};
use crate::auth::{Caller, Via};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, ApiResult, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(revoke_user_sessions))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// Who the caller is and how they authenticated.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: User,
    /// The role in force (a token's role may be narrower than the user's).
    pub role: Role,
    /// `session` or `token`.
    pub via: &'static str,
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
async fn me(c: Caller) -> Json<Me> {
    let via = match c.via {
        Via::Session { .. } => "session",
        Via::Token(_) => "token",
    };
    Json(Me {
        role: c.principal.role,
        user: c.user,
        via,
    })
}

/// Lists users.
#[utoipa::path(get, path = "/api/v1/users", tag = "accounts", params(ListParams), responses((status = 200, body = ListResponse<User>)))]
async fn list_users(
    State(s): State<AppState>,
    c: Caller,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<User>>> {
    c.authorize(Action::Read(Resource::User), Scope::Provider)?;
    let (q, _) = p.query(&c)?;
    Ok(Json(s.store.list_users(&q).await?.into()))
}

/// Creates a user (staff, or a client user of one client).
#[utoipa::path(post, path = "/api/v1/users", tag = "accounts", request_body = NewUser, responses((status = 201, body = User)))]
async fn create_user(
    State(s): State<AppState>,
    c: Caller,
    ApiJson(input): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    Ok((StatusCode::CREATED, Json(add_user(&s, &c, input).await?)))
}

/// Creates a user; shared by the API and the UI. The input is already validated.
pub(crate) async fn add_user(s: &AppState, c: &Caller, input: NewUser) -> ApiResult<User> {
    c.authorize(Action::Write(Resource::User), Scope::Provider)?;
    let password_hash = palisade_auth::hash_password(&input.password).map_err(|e| {
        tracing::error!(error = %e, "Password hashing failed.");
        ApiError::internal()
    })?;
    let rec = NewUserRecord {
        email: input.email,
        display_name: input.display_name,
        role: input.role,
        client_id: input.client_id,
        password_hash,
    };
    let user = s.store.create_user(&rec, s.clock.now()).await?;
    tracing::info!(user = %user.id, role = %user.role, by = %c.user.id, "User created.");
    Ok(user)
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "accounts", params(("id" = UserId, Path)), responses((status = 200, body = User)))]
async fn get_user(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> ApiResult<Json<User>> {
    c.authorize(Action::Read(Resource::User), Scope::Provider)?;
    Ok(Json(s.store.get_user(id).await?))
}

pub(crate) async fn set_disabled(
    s: &AppState,
    c: &Caller,
    id: UserId,
    disabled: bool,
) -> ApiResult<StatusCode> {
    c.authorize(Action::Write(Resource::User), Scope::Provider)?;
    if id == c.user.id && disabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "self_disable",
            "you cannot disable your own account",
        ));
    }
    s.store
        .set_user_disabled(id, disabled.then(|| s.clock.now()))
        .await?;
    crate::auth::user_changed(s, id);
    if disabled {
        s.store.delete_user_sessions(id).await?;
    }
    tracing::info!(user = %id, disabled, by = %c.user.id, "User access changed.");
    Ok(StatusCode::NO_CONTENT)
}

/// Disables a user and ends their sessions; their tokens stop working.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "accounts", params(("id" = UserId, Path)), responses((status = 204)))]
async fn disable_user(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> ApiResult<StatusCode> {
    set_disabled(&s, &c, id, true).await
}

/// Re-enables a disabled user.
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "accounts", params(("id" = UserId, Path)), responses((status = 204)))]
async fn enable_user(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> ApiResult<StatusCode> {
    set_disabled(&s, &c, id, false).await
}

/// How many sessions were ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub sessions: u64,
}

/// Ends every session of a user (a super admin for anyone, anyone for themselves).
#[utoipa::path(post, path = "/api/v1/users/{id}/sessions/revoke", tag = "accounts", params(("id" = UserId, Path)),
    responses((status = 200, body = Revoked)))]
async fn revoke_user_sessions(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> ApiResult<Json<Revoked>> {
    Ok(Json(Revoked {
        sessions: revoke_sessions(&s, &c, id).await?,
    }))
}

/// Ends a user's sessions; shared by the API and the UI.
pub(crate) async fn revoke_sessions(s: &AppState, c: &Caller, id: UserId) -> ApiResult<u64> {
    if id != c.user.id {
        c.authorize(Action::Write(Resource::User), Scope::Provider)?;
    }
    let sessions = s.store.delete_user_sessions(id).await?;
    tracing::info!(user = %id, sessions, by = %c.user.id, "Sessions revoked.");
    Ok(sessions)
}

/// Fields of a new API token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for ("CI deploys").
    pub name: String,
    /// The role the token acts with: your own (default) or, for staff, `auditor` for read-only.
    #[serde(default)]
    pub role: Option<Role>,
    /// Lifetime in days, 1 to 365 (default 90).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

impl Validate for NewToken {
    fn validate(&self) -> Result<(), FieldError> {
        validate::name("name", &self.name)?;
        if self
            .expires_in_days
            .is_some_and(|d| !(1..=365).contains(&d))
        {
            return Err(FieldError::new(
                "expires_in_days",
                "must be between 1 and 365",
            ));
        }
        Ok(())
    }
}

/// A new token: the secret is shown this once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedToken {
    pub token: ApiToken,
    /// The bearer secret, `pal_…`. Store it now: Palisade keeps only its hash.
    pub secret: String,
}

/// The caller's API tokens.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "accounts", responses((status = 200, body = Vec<ApiToken>)))]
async fn list_tokens(State(s): State<AppState>, c: Caller) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(s.store.list_tokens(c.user.id).await?))
}

/// Issues the caller a token, no stronger than the caller's current role.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "accounts", request_body = NewToken, responses((status = 201, body = IssuedToken)))]
async fn create_token(
    State(s): State<AppState>,
    c: Caller,
    ApiJson(input): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let issued = issue_token(&s, &c, &input).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Shared by the API and the UI.
pub(crate) async fn issue_token(
    s: &AppState,
    c: &Caller,
    input: &NewToken,
) -> ApiResult<IssuedToken> {
    let role = input.role.unwrap_or(c.principal.role);
    // Judged against the role in force, so a read-only token cannot mint a stronger one.
    if !palisade_core::user::token_role_allowed(c.principal.role, role) {
        return Err(FieldError::new(
            "role",
            format!(
                "a token of yours may act as {} or, for staff, auditor",
                c.principal.role
            ),
        )
        .into());
    }
    let now = s.clock.now();
    let lifetime = match input.expires_in_days {
        Some(d) => SignedDuration::from_hours(24 * i64::from(d)),
        None => SignedDuration::try_from(s.config.token_lifetime)
            .unwrap_or(SignedDuration::from_hours(24 * 90)),
    };
    let secret = palisade_auth::new_api_token();
    let token = ApiToken::issue(c.user.id, input.name.clone(), role, &secret, now, lifetime);
    s.store
        .create_token(&token, &palisade_auth::token_hash(&secret))
        .await?;
    tracing::info!(token = %token.id, user = %c.user.id, role = %role, "API token issued.");
    Ok(IssuedToken { token, secret })
}

/// Revokes one of the caller's tokens (a super admin may revoke anyone's).
#[utoipa::path(post, path = "/api/v1/tokens/{id}/revoke", tag = "accounts", params(("id" = TokenId, Path)), responses((status = 204)))]
async fn revoke_token(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<TokenId>,
) -> ApiResult<StatusCode> {
    let token = s.store.get_token(id).await?;
    if token.user_id != c.user.id {
        c.authorize(Action::Write(Resource::User), Scope::Provider)
            .map_err(|_| ApiError::not_found())?;
    }
    s.store.revoke_token(id, s.clock.now()).await?;
    crate::auth::token_changed(&s, id);
    tracing::info!(token = %id, by = %c.user.id, "API token revoked.");
    Ok(StatusCode::NO_CONTENT)
}
