//! Signing in and out: the password step, the TOTP step, TOTP enrolment, sign-out.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use palisade_auth::totp;

use super::{FormData, Shell, read_form, render};
use crate::AppState;
use crate::auth::{self, Caller, LoginError, Via};
use crate::telemetry::ActorSlot;

/// Double-submit cookie guarding the login form itself (there is no session yet to bind to).
const LOGIN_CSRF_COOKIE: &str = "palisade_login_csrf";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    shell: Option<Shell>,
    csrf: String,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaPage {
    shell: Option<Shell>,
    csrf: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    shell: Option<Shell>,
    csrf: String,
    enabled: bool,
    required: bool,
    secret: String,
    uri: String,
    error: Option<String>,
}

fn login_cookie(state: &AppState, value: &str) -> String {
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{LOGIN_CSRF_COOKIE}={value}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    )
}

fn login_form(
    state: &AppState,
    status: StatusCode,
    email: &str,
    error: Option<String>,
) -> Response {
    let csrf = palisade_auth::new_session_token();
    let page = LoginPage {
        shell: None,
        csrf: csrf.clone(),
        email: email.to_owned(),
        error,
    };
    (
        status,
        [(header::SET_COOKIE, login_cookie(state, &csrf))],
        render(&page),
    )
        .into_response()
}

pub(crate) async fn login_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Ok(Some(c)) = auth::authenticate(&headers, &s).await
        && !c.mfa_pending
    {
        return Redirect::to("/").into_response();
    }
    login_form(&s, StatusCode::OK, "", None)
}

pub(crate) async fn login(State(s): State<AppState>, req: Request) -> Response {
    let ip = auth::client_ip(req.extensions());
    // The sign-in's audit event names the address tried (redacted) and, on success, the user.
    let trail = req
        .extensions()
        .get::<ActorSlot>()
        .cloned()
        .unwrap_or_default();
    let expected = auth::cookie(req.headers(), LOGIN_CSRF_COOKIE).map(str::to_owned);
    let form = match read_form(req, &s).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let email = form.get("email").to_owned();
    trail.note("email", serde_json::Value::String(email.clone()));
    if !expected.is_some_and(|e| palisade_auth::tokens_equal(&e, form.get("csrf"))) {
        return login_form(
            &s,
            StatusCode::FORBIDDEN,
            &email,
            Some("Your sign-in form expired; please try again.".into()),
        );
    }
    match auth::password_login(&s, ip, &email, form.get("password")).await {
        Ok(new) => {
            trail.set(new.session.user_id, None);
            (
                StatusCode::SEE_OTHER,
                [
                    (
                        header::SET_COOKIE,
                        auth::session_cookie(&s, Some(&new.secret)),
                    ),
                    (header::LOCATION, "/".to_owned()),
                ],
            )
                .into_response()
        }
        Err(e) => {
            trail.note("refused", serde_json::Value::String(e.to_string()));
            let status = match e {
                LoginError::Throttled => StatusCode::TOO_MANY_REQUESTS,
                LoginError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            };
            login_form(&s, status, &email, Some(e.to_string()))
        }
    }
}

/// Sets the cookie of a new session and sends the visitor home.
fn signed_in(state: &AppState, new: &auth::NewSession) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                auth::session_cookie(state, Some(&new.secret)),
            ),
            (header::LOCATION, "/".to_owned()),
        ],
    )
        .into_response()
}

/// The caller of a sign-in step, who may still owe MFA.
async fn pending_caller(s: &AppState, headers: &HeaderMap) -> Result<Caller, Response> {
    match auth::authenticate(headers, s).await {
        Ok(Some(
            c @ Caller {
                via: Via::Session { .. },
                ..
            },
        )) => Ok(c),
        _ => Err(Redirect::to("/login").into_response()),
    }
}

pub(crate) async fn mfa_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let c = match pending_caller(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !c.mfa_pending {
        return Redirect::to("/").into_response();
    }
    if !c.user.mfa_enabled {
        return Redirect::to("/mfa/enrol").into_response();
    }
    render(&MfaPage {
        shell: None,
        csrf: c.csrf(),
        error: None,
    })
}

pub(crate) async fn mfa(State(s): State<AppState>, req: Request) -> Response {
    let c = match pending_caller(&s, req.headers()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let form = match read_form(req, &s).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if c.check_csrf(Some(form.get("csrf"))).is_err() {
        return Redirect::to("/login").into_response();
    }
    match auth::totp_login(&s, &c, form.get("code")).await {
        Ok(new) => signed_in(&s, &new),
        Err(e) => (
            StatusCode::UNAUTHORIZED,
            render(&MfaPage {
                shell: None,
                csrf: c.csrf(),
                error: Some(e.to_string()),
            }),
        )
            .into_response(),
    }
}

fn enrol_form(s: &AppState, c: &Caller, secret: &[u8], error: Option<String>) -> EnrolPage {
    EnrolPage {
        shell: if c.mfa_pending { None } else { Shell::of(c) },
        csrf: c.csrf(),
        enabled: c.user.mfa_enabled,
        required: c.user.role.is_staff() && s.config.require_staff_mfa,
        secret: totp::secret_base32(secret),
        uri: totp::otpauth_uri(secret, "Palisade", &c.user.email),
        error,
    }
}

pub(crate) async fn enrol_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let c = match pending_caller(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if c.mfa_pending && c.user.mfa_enabled {
        return Redirect::to("/login/mfa").into_response();
    }
    render(&enrol_form(&s, &c, &totp::new_secret(), None))
}

pub(crate) async fn enrol(State(s): State<AppState>, req: Request) -> Response {
    let c = match pending_caller(&s, req.headers()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let form: FormData = match read_form(req, &s).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if c.check_csrf(Some(form.get("csrf"))).is_err() || c.user.mfa_enabled {
        return Redirect::to("/").into_response();
    }
    let Some(secret) = totp::secret_from_base32(form.get("secret")).filter(|k| k.len() >= 16)
    else {
        return Redirect::to("/mfa/enrol").into_response();
    };
    match auth::enrol_totp(&s, &c, &secret, form.get("code")).await {
        Ok(new) => signed_in(&s, &new),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&enrol_form(&s, &c, &secret, Some(e.to_string()))),
        )
            .into_response(),
    }
}

pub(crate) async fn logout(State(s): State<AppState>, req: Request) -> Response {
    let c = match pending_caller(&s, req.headers()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let form = match read_form(req, &s).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if c.check_csrf(Some(form.get("csrf"))).is_ok()
        && let Via::Session { session, .. } = &c.via
        && let Err(e) = s.store.delete_session(session.id).await
    {
        tracing::error!(error = %e, "Could not end session.");
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, auth::session_cookie(&s, None)),
            (header::LOCATION, "/login".to_owned()),
        ],
    )
        .into_response()
}
