//! Authentication: who is calling, from an API token (`Authorization: Bearer pal_…`) or a session
//! cookie, and the login steps (password with throttling and lockout, then TOTP).
//!
//! Secrets (passwords, cookies, tokens, TOTP codes) are never logged and only their hashes are
//! stored. Cookie-authenticated requests that change state must carry the session's CSRF token.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use jiff::{SignedDuration, Timestamp};
use palisade_auth::totp;
use palisade_core::policy::{self, Action, Principal, Scope};
use palisade_core::user::User;
use palisade_core::{SessionId, TokenId};
use palisade_store::{Session, StoreError, UserAuth};

use crate::telemetry::ActorSlot;
use crate::{ApiError, AppState};

/// Header that carries the CSRF token on cookie-authenticated API calls.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How stale `last_seen_at` / `last_used_at` may get before a request writes it again. Writing on
/// every request would turn every read into a database write.
const TOUCH_EVERY: SignedDuration = SignedDuration::from_secs(60);

/// The session cookie's name: `__Host-` prefixed when cookies are secure, so a subdomain cannot
/// plant one.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-palisade_session"
    } else {
        "palisade_session"
    }
}

/// How the caller proved who they are.
#[derive(Clone, Debug)]
pub enum Via {
    Session { session: Session, secret: String },
    Token(TokenId),
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: User,
    pub principal: Principal,
    pub via: Via,
    /// The second factor is still owed (only for sessions).
    pub mfa_pending: bool,
    /// Where this request's audit event collects what was authorised and noted.
    pub(crate) trail: Option<ActorSlot>,
}

impl Caller {
    /// The single gate every handler passes through. Each decision also goes into the request's
    /// audit event, so the log says whose data a request touched (or tried to).
    pub fn authorize(&self, action: Action, scope: Scope) -> Result<(), ApiError> {
        let decision = policy::authorize(&self.principal, action, scope);
        if let Some(trail) = &self.trail {
            trail.access(action, scope, decision.is_ok());
        }
        decision.map_err(ApiError::from)
    }

    /// Whether the policy allows `action`, without recording it: for deciding what to *show*
    /// (internal notes in a timeline), where a "no" is not a refused request and must not read
    /// like one in the audit log.
    pub fn may(&self, action: Action, scope: Scope) -> bool {
        policy::authorize(&self.principal, action, scope).is_ok()
    }

    /// Adds a detail to the request's audit event: the before and after of an update, the reason of
    /// a decision. Sensitive keys are redacted before the event is written.
    pub fn note(&self, key: &str, value: serde_json::Value) {
        if let Some(trail) = &self.trail {
            trail.note(key, value);
        }
    }

    /// Attaches the request's audit trail (done by the extractors).
    pub(crate) fn with_trail(mut self, slot: &ActorSlot) -> Self {
        slot.set(self.user.id, self.user.client_id);
        self.trail = Some(slot.clone());
        self
    }

    /// The CSRF token of this caller's session (empty for token callers, who need none).
    pub fn csrf(&self) -> String {
        match &self.via {
            Via::Session { secret, .. } => palisade_auth::csrf_token(secret),
            Via::Token(_) => String::new(),
        }
    }

    /// Checks a submitted CSRF token against the session's.
    pub fn check_csrf(&self, submitted: Option<&str>) -> Result<(), ApiError> {
        match &self.via {
            Via::Token(_) => Ok(()),
            Via::Session { secret, .. } => match submitted {
                Some(s) if palisade_auth::tokens_equal(s, &palisade_auth::csrf_token(secret)) => {
                    Ok(())
                }
                _ => Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "missing or wrong CSRF token; reload the page",
                )),
            },
        }
    }
}

/// The value of one cookie of the request.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Resolves the caller of a request, if any. Expired sessions are removed on sight.
pub async fn authenticate(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<Caller>, ApiError> {
    let now = state.clock.now();
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let secret = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "expected `Authorization: Bearer pal_…`",
                )
            })?;
        let hash = palisade_auth::token_hash(secret.trim());
        let (token, user) = match state.tokens.get(&hash) {
            Some(hit) => hit,
            None => {
                let Some(token) = state.store.token_by_hash(&hash).await? else {
                    return Err(ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "invalid_token",
                        "unknown API token",
                    ));
                };
                let user = state.store.get_user(token.user_id).await?;
                state.tokens.put(hash, token.clone(), user.clone());
                (token, user)
            }
        };
        if !token.is_live(now) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "this API token is revoked or expired",
            ));
        }
        if user.disabled_at.is_some() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the token's owner is disabled",
            ));
        }
        if token
            .last_used_at
            .is_none_or(|t| now.duration_since(t) > TOUCH_EVERY)
        {
            state.store.touch_token(token.id, now).await?;
            // The cached copy still has the old time; drop it so the next request does not write again.
            state.tokens.forget_token(token.id);
        }
        let principal = Principal {
            user_id: user.id,
            role: token.role,
            client_id: user.client_id,
        };
        return Ok(Some(Caller {
            user,
            principal,
            via: Via::Token(token.id),
            mfa_pending: false,
            trail: None,
        }));
    }

    let Some(secret) = cookie(headers, session_cookie_name(state.config.secure_cookies)) else {
        return Ok(None);
    };
    let Some(session) = state
        .store
        .session_by_hash(&palisade_auth::token_hash(secret))
        .await?
    else {
        return Ok(None);
    };
    let idle = SignedDuration::try_from(state.config.session_idle).unwrap_or(SignedDuration::MAX);
    if now >= session.expires_at || now.duration_since(session.last_seen_at) > idle {
        state.store.delete_session(session.id).await?;
        return Ok(None);
    }
    let user = match state.store.get_user(session.user_id).await {
        Ok(u) if u.disabled_at.is_none() => u,
        Ok(_) | Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if now.duration_since(session.last_seen_at) > TOUCH_EVERY {
        state
            .store
            .touch_session(session.id, now, session.mfa_passed)
            .await?;
    }
    let mfa_owed = user.mfa_enabled || (user.role.is_staff() && state.config.require_staff_mfa);
    let principal = Principal {
        user_id: user.id,
        role: user.role,
        client_id: user.client_id,
    };
    let mfa_pending = mfa_owed && !session.mfa_passed;
    Ok(Some(Caller {
        user,
        principal,
        via: Via::Session {
            session,
            secret: secret.to_owned(),
        },
        mfa_pending,
        trail: None,
    }))
}

/// API extractor: an authenticated caller who has passed MFA, with CSRF checked for cookie callers
/// that change state.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let mut caller = authenticate(&parts.headers, state)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        if let Some(slot) = parts.extensions.get::<ActorSlot>() {
            caller = caller.with_trail(slot);
        }
        if caller.mfa_pending {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "mfa_required",
                "finish signing in with your second factor",
            ));
        }
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            caller.check_csrf(parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()))?;
        }
        Ok(caller)
    }
}

/// The client address, for throttling.
pub(crate) fn client_ip(parts_ext: &axum::http::Extensions) -> IpAddr {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// Why a login step failed. The messages deliberately do not say whether the account exists.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoginError {
    #[error("wrong e-mail address or password")]
    BadCredentials,
    #[error("too many failed attempts: this account is locked for a while")]
    Locked,
    #[error("too many attempts from your address; wait a minute")]
    Throttled,
    #[error("wrong or already used code")]
    BadCode,
    #[error("the service is unavailable; try again")]
    Unavailable,
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "Store failed during login.");
        LoginError::Unavailable
    }
}

/// A new session and the cookie secret that opens it.
pub struct NewSession {
    pub secret: String,
    pub session: Session,
}

async fn record_failure(
    state: &AppState,
    auth: &UserAuth,
    now: Timestamp,
) -> Result<(), LoginError> {
    let failed = auth.failed_logins.saturating_add(1);
    let locked_until = (failed >= state.config.lockout_threshold).then(|| {
        now + SignedDuration::try_from(state.config.lockout_duration)
            .unwrap_or(SignedDuration::from_mins(15))
    });
    state
        .store
        .set_login_state(
            auth.user.id,
            if locked_until.is_some() { 0 } else { failed },
            locked_until,
        )
        .await?;
    if locked_until.is_some() {
        tracing::warn!(user = %auth.user.id, "Account locked after repeated failed logins.");
    }
    Ok(())
}

/// Step one: e-mail and password. On success a session is created (a fresh secret every time, so a
/// planted cookie is never promoted); it still owes MFA when the user has or needs it.
pub async fn password_login(
    state: &AppState,
    ip: IpAddr,
    email: &str,
    password: &str,
) -> Result<NewSession, LoginError> {
    let now = state.clock.now();
    if !state.login_limiter.allow(ip, now) {
        return Err(LoginError::Throttled);
    }
    let auth = state.store.user_auth_by_email(email.trim()).await?;
    // Always run one Argon2 verification, so timing does not reveal whether the account exists.
    let ok =
        palisade_auth::verify_password(password, auth.as_ref().map(|a| a.password_hash.as_str()));
    let Some(auth) = auth else {
        return Err(LoginError::BadCredentials);
    };
    if auth.locked_until.is_some_and(|t| now < t) {
        return Err(LoginError::Locked);
    }
    if !ok || auth.user.disabled_at.is_some() {
        record_failure(state, &auth, now).await?;
        tracing::info!(user = %auth.user.id, "Failed login.");
        return Err(LoginError::BadCredentials);
    }
    if auth.failed_logins != 0 || auth.locked_until.is_some() {
        state.store.set_login_state(auth.user.id, 0, None).await?;
    }
    let secret = palisade_auth::new_session_token();
    let absolute = SignedDuration::try_from(state.config.session_absolute)
        .unwrap_or(SignedDuration::from_hours(12));
    let session = Session {
        id: SessionId::new(),
        user_id: auth.user.id,
        token_hash: palisade_auth::token_hash(&secret),
        created_at: now,
        last_seen_at: now,
        expires_at: now + absolute,
        mfa_passed: false,
    };
    state.store.create_session(&session).await?;
    tracing::info!(user = %auth.user.id, session = %session.id, "Signed in with password.");
    Ok(NewSession { secret, session })
}

/// Replaces a session that just passed MFA with a new one (new secret, same absolute expiry): a
/// secret seen before the second factor is never the one that carries its privileges.
async fn elevate(state: &AppState, old: &Session) -> Result<NewSession, LoginError> {
    let secret = palisade_auth::new_session_token();
    let session = Session {
        id: SessionId::new(),
        token_hash: palisade_auth::token_hash(&secret),
        last_seen_at: state.clock.now(),
        mfa_passed: true,
        ..old.clone()
    };
    state.store.create_session(&session).await?;
    state.store.delete_session(old.id).await?;
    Ok(NewSession { secret, session })
}

/// Step two: a TOTP code for a session that owes it. Wrong codes count towards the lockout, and a
/// code is accepted only once. Success replaces the session (see [`elevate`]).
pub async fn totp_login(
    state: &AppState,
    caller: &Caller,
    code: &str,
) -> Result<NewSession, LoginError> {
    let now = state.clock.now();
    let Via::Session { session, .. } = &caller.via else {
        return Err(LoginError::BadCode);
    };
    let auth = state.store.user_auth(caller.user.id).await?;
    if auth.locked_until.is_some_and(|t| now < t) {
        return Err(LoginError::Locked);
    }
    let Some(secret) = &auth.totp_secret else {
        return Err(LoginError::BadCode);
    };
    let matched = totp::verify(secret, code, now.as_second(), auth.totp_last_step);
    match matched {
        Some(step) if state.store.claim_totp_step(auth.user.id, step).await? => {
            state.store.set_login_state(auth.user.id, 0, None).await?;
            tracing::info!(user = %auth.user.id, "Second factor accepted.");
            elevate(state, session).await
        }
        _ => {
            record_failure(state, &auth, now).await?;
            Err(LoginError::BadCode)
        }
    }
}

/// Enrols TOTP for the caller once they prove their app has the secret; the session is replaced by
/// one that has passed MFA.
pub async fn enrol_totp(
    state: &AppState,
    caller: &Caller,
    secret: &[u8],
    code: &str,
) -> Result<NewSession, LoginError> {
    let now = state.clock.now();
    let Via::Session { session, .. } = &caller.via else {
        return Err(LoginError::BadCode);
    };
    let step = totp::verify(secret, code, now.as_second(), None).ok_or(LoginError::BadCode)?;
    state
        .store
        .set_totp(caller.user.id, Some(secret), Some(step))
        .await?;
    tracing::info!(user = %caller.user.id, "TOTP enrolled.");
    elevate(state, session).await
}

/// The `Set-Cookie` value for a session secret (or, with `None`, one that clears it).
pub fn session_cookie(state: &AppState, secret: Option<&str>) -> String {
    let name = session_cookie_name(state.config.secure_cookies);
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    match secret {
        Some(s) => format!(
            "{name}={s}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            state.config.session_absolute.as_secs()
        ),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

/// Drops cached lookups of a token after it changed (revoked).
pub(crate) fn token_changed(state: &AppState, id: palisade_core::TokenId) {
    state.tokens.forget_token(id);
}

/// Drops cached lookups of a user's tokens after the user changed (disabled, enabled).
pub(crate) fn user_changed(state: &AppState, id: palisade_core::UserId) {
    state.tokens.forget_user(id);
}
