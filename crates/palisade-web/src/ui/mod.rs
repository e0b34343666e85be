//! The server-rendered UI: a staff console and a client portal, plain HTML forms that work without
//! JavaScript. Pages use the same store, the same policy and the same authentication as the API;
//! every form that changes something carries the session's CSRF token, checked in [`Posted`].

mod audit;
mod campaigns;
mod chart;
mod edit;
mod findings;
mod fleet;
mod forms;
mod pages;
mod tickets;
mod users;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::auth::{self, Caller};
use crate::telemetry::ActorSlot;
use crate::{ApiError, AppState};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(forms::login_page).post(forms::login))
        .route("/login/mfa", get(forms::mfa_page).post(forms::mfa))
        .route("/mfa/enrol", get(forms::enrol_page).post(forms::enrol))
        .route("/logout", post(forms::logout))
        .route("/clients", get(pages::clients).post(pages::create_client))
        .route(
            "/clients/{id}",
            get(pages::client).post(pages::update_client),
        )
        .route("/clients/{id}/archive", post(pages::archive_client))
        .route("/clients/{id}/restore", post(pages::restore_client))
        .route("/clients/{id}/contacts", post(pages::create_contact))
        .route("/sites", get(pages::sites).post(pages::create_site))
        .route("/sites/{id}", get(pages::site).post(edit::update_site))
        .route("/sites/{id}/environments", post(pages::create_environment))
        .route("/sites/{id}/archive", post(pages::archive_site))
        .route("/sites/{id}/restore", post(pages::restore_site))
        .route(
            "/environments/{id}",
            get(edit::environment).post(edit::update_environment),
        )
        .route(
            "/environments/{id}/archive",
            post(edit::archive_environment),
        )
        .route("/contacts/{id}/archive", post(edit::archive_contact))
        .route("/hosts", get(pages::hosts).post(pages::create_host))
        .route("/hosts/{id}", get(edit::host).post(edit::update_host))
        .route("/hosts/{id}/archive", post(edit::archive_host))
        .route("/users", get(users::users).post(users::create_user))
        .route("/users/{id}/disable", post(users::disable_user))
        .route("/users/{id}/enable", post(users::enable_user))
        .route("/users/{id}/sessions/revoke", post(users::revoke_sessions))
        .route("/findings", get(findings::list))
        .route("/findings/dashboard", get(fleet::dashboard))
        .route("/findings/{id}", get(findings::finding))
        .route("/findings/{id}/triage", post(findings::triage))
        .route("/advisories", get(fleet::advisory))
        .route("/inventories/{id}", get(fleet::snapshot))
        .route("/audit", get(audit::page))
        .route("/campaigns", get(campaigns::list).post(campaigns::create))
        .route("/campaigns/{id}", get(campaigns::page))
        .route("/campaigns/{id}/start", post(campaigns::start))
        .route("/campaigns/{id}/cancel", post(campaigns::cancel))
        .route(
            "/campaigns/{id}/environments/{env}/steps",
            post(campaigns::step),
        )
        .route("/tickets", get(tickets::list).post(tickets::create))
        .route("/tickets/new", get(tickets::new_page))
        .route("/tickets/{id}", get(tickets::ticket))
        .route("/tickets/{id}/messages", post(tickets::reply))
        .route("/tickets/{id}/state", post(tickets::change_state))
        .route("/tickets/{id}/priority", post(tickets::change_priority))
        .route("/tickets/{id}/escalate", post(tickets::escalate))
        .route("/tickets/{id}/work", post(tickets::log_work))
        .route(
            "/out-of-hours",
            get(tickets::out_of_hours_page).post(tickets::create_out_of_hours),
        )
        .route("/tokens", get(pages::tokens).post(pages::create_token))
        .route("/tokens/{id}/revoke", post(pages::revoke_token))
        .route("/static/app.css", get(stylesheet))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.css"),
    )
}

/// What the layout needs: who is signed in and the CSRF token for the sign-out form.
pub(crate) struct Shell {
    pub name: String,
    pub role: &'static str,
    pub staff: bool,
    /// May see the user list.
    pub users: bool,
    /// May search the whole audit log.
    pub audit: bool,
    pub csrf: String,
}

impl Shell {
    fn of(c: &Caller) -> Option<Self> {
        Some(Self {
            name: c.user.display_name.clone(),
            role: c.principal.role.label(),
            staff: c.principal.role.is_staff(),
            users: palisade_core::policy::authorize(
                &c.principal,
                palisade_core::policy::Action::Read(palisade_core::policy::Resource::User),
                palisade_core::policy::Scope::Provider,
            )
            .is_ok(),
            audit: palisade_core::policy::authorize(
                &c.principal,
                palisade_core::policy::Action::Read(palisade_core::policy::Resource::AuditLog),
                palisade_core::policy::Scope::Provider,
            )
            .is_ok(),
            csrf: c.csrf(),
        })
    }
}

/// A page failure, shown as a page (not JSON) that says what went wrong.
pub(crate) struct UiError {
    status: StatusCode,
    message: String,
    back: String,
}

impl UiError {
    fn with_back(mut self, back: impl Into<String>) -> Self {
        self.back = back.into();
        self
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        let message = match e.field {
            Some(f) => format!("{f}: {}", e.message),
            None => e.message,
        };
        Self {
            status: e.status,
            message,
            back: "/".into(),
        }
    }
}

impl From<palisade_store::StoreError> for UiError {
    fn from(e: palisade_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<palisade_core::FieldError> for UiError {
    fn from(e: palisade_core::FieldError) -> Self {
        ApiError::from(e).into()
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    shell: Option<Shell>,
    title: String,
    message: String,
    back: String,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let title = match self.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            s if s.is_client_error() => "Please check what you entered",
            _ => "Something went wrong",
        };
        let page = MessagePage {
            shell: None,
            title: title.into(),
            message: self.message,
            back: self.back,
        };
        (self.status, render(&page)).into_response()
    }
}

pub(crate) type UiResult = Result<Response, UiError>;

pub(crate) fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "Template failed to render.");
            (StatusCode::INTERNAL_SERVER_ERROR, "page failed to render").into_response()
        }
    }
}

/// A signed-in page visitor who has passed MFA; anyone else is sent to the right sign-in step.
pub(crate) struct Visitor(pub Caller);

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let caller = auth::authenticate(&parts.headers, state)
            .await
            .map_err(|e| UiError::from(e).into_response())?;
        let Some(mut caller) = caller else {
            return Err(Redirect::to("/login").into_response());
        };
        if let Some(slot) = parts.extensions.get::<ActorSlot>() {
            caller = caller.with_trail(slot);
        }
        if caller.mfa_pending {
            let to = if caller.user.mfa_enabled {
                "/login/mfa"
            } else {
                "/mfa/enrol"
            };
            return Err(Redirect::to(to).into_response());
        }
        Ok(Self(caller))
    }
}

/// A submitted form's fields, in order, repeated keys kept (checkbox groups).
#[derive(Debug, Default)]
pub(crate) struct FormData(Vec<(String, String)>);

impl FormData {
    fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    pub(crate) fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name).trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// A comma-separated field as its non-empty, trimmed items.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub(crate) fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn read_form(req: Request, state: &AppState) -> Result<FormData, Response> {
    let body = Bytes::from_request(req, state).await.map_err(|e| {
        UiError {
            status: e.status(),
            message: "the form could not be read (too large?)".into(),
            back: "/".into(),
        }
        .into_response()
    })?;
    Ok(FormData::parse(&body))
}

/// A form posted by a signed-in visitor who has passed MFA, with its CSRF token checked.
pub(crate) struct Posted {
    pub caller: Caller,
    pub form: FormData,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Visitor(caller) = Visitor::from_request_parts(&mut parts, state).await?;
        let form = read_form(Request::from_parts(parts, body), state).await?;
        caller
            .check_csrf(Some(form.get("csrf")))
            .map_err(|e| UiError::from(e).into_response())?;
        Ok(Self { caller, form })
    }
}
