//! Palisade's HTTP edge, and the only crate that knows HTTP: the versioned JSON API under `/api/v1`
//! (with its OpenAPI document generated from the handlers), the server-rendered UI for staff and
//! client users, authentication (sessions, API tokens, MFA, CSRF, login throttling), request
//! records and Prometheus metrics.
//!
//! Handlers never decide access themselves: they name an action and the record's scope and call
//! [`palisade_core::policy::authorize`] through [`auth::Caller::authorize`].

pub mod api;
pub mod auth;
mod authcache;
mod campaigns;
pub mod deskops;
pub mod error;
mod extract;
pub mod pagecache;
mod ratelimit;
pub mod telemetry;
mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use palisade_core::clock::Clock;
use palisade_store::Store;
use utoipa::openapi::OpenApi;

pub use error::{ApiError, ApiResult};

/// Largest request body accepted anywhere, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Settings of the web edge, validated by the binary before it builds the router.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Mark cookies `Secure` (and use the `__Host-` prefix). On whenever Palisade is reached over
    /// HTTPS, directly or through a proxy.
    pub secure_cookies: bool,
    /// Send `Strict-Transport-Security: max-age=…; includeSubDomains` on every response. Only for
    /// a server that browsers reach over HTTPS alone: once a browser has seen the header it
    /// refuses plain HTTP to the host for this long. `None` sends no header.
    pub hsts_max_age: Option<Duration>,
    /// Staff must pass TOTP before anything else. On by default; only the demo turns it off.
    pub require_staff_mfa: bool,
    /// A session ends after this long, however active.
    pub session_absolute: Duration,
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// Failed logins in a row before an account is locked.
    pub lockout_threshold: i32,
    /// How long a locked account stays locked.
    pub lockout_duration: Duration,
    /// Login attempts allowed per client address per minute.
    pub login_attempts_per_minute: u32,
    /// Default lifetime of a new API token.
    pub token_lifetime: Duration,
    /// Running with demo data: pages say so.
    pub demo: bool,
    /// The support desk's thresholds and billing rates.
    pub desk: deskops::DeskConfig,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            hsts_max_age: None,
            require_staff_mfa: true,
            session_absolute: Duration::from_secs(12 * 3600),
            session_idle: Duration::from_secs(2 * 3600),
            lockout_threshold: 5,
            lockout_duration: Duration::from_secs(15 * 60),
            login_attempts_per_minute: 20,
            token_lifetime: Duration::from_secs(90 * 24 * 3600),
            demo: false,
            desk: deskops::DeskConfig::default(),
        }
    }
}

pub use palisade_matcher::{Matcher, Upload};

/// Everything a request handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Inventory intake, matching and who-is-affected, over the same store.
    pub matcher: palisade_matcher::Matcher,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<WebConfig>,
    pub telemetry: telemetry::Telemetry,
    /// The audit log every request and state change is recorded in.
    pub audit: palisade_auditlog::AuditLog,
    login_limiter: Arc<ratelimit::RateLimiter>,
    tokens: Arc<authcache::TokenCache>,
    /// Rendered list pages, valid until the next commit.
    pub pages: Arc<pagecache::PageCache>,
}

impl AppState {
    /// Builds the state around a running audit log.
    pub fn new(
        matcher: palisade_matcher::Matcher,
        clock: Arc<dyn Clock>,
        config: WebConfig,
        audit: palisade_auditlog::AuditLog,
    ) -> Self {
        let store = matcher.store().clone();
        let telemetry = telemetry::Telemetry::new();
        let limiter = ratelimit::RateLimiter::new(config.login_attempts_per_minute);
        Self {
            store,
            matcher,
            clock,
            config: Arc::new(config),
            telemetry,
            audit,
            login_limiter: Arc::new(limiter),
            tokens: Arc::default(),
            pages: Arc::default(),
        }
    }

    /// The list page `list` of `q` through the page cache. The store's change counter is read
    /// here, before `read` runs: a commit in between leaves the page under the older value.
    pub(crate) async fn list_page<T, F>(
        &self,
        list: &'static str,
        q: &palisade_store::ListQuery,
        read: F,
    ) -> ApiResult<pagecache::JsonBytes>
    where
        T: serde::Serialize + utoipa::ToSchema,
        F: Future<Output = palisade_store::StoreResult<palisade_store::Page<T>>>,
    {
        self.pages
            .page(self.store.change_counter(), list, q, read)
            .await
    }
}

/// The whole application: API, UI, health, metrics, with request records and limits applied.
pub fn app(state: AppState) -> Router {
    let (api, _) = api::router().split_for_parts();
    Router::new()
        .merge(api)
        .merge(ui::router())
        .merge(telemetry::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            telemetry::record_request,
        ))
        .with_state(state)
}

/// Unknown paths: a JSON error under `/api/`, a plain page elsewhere.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "no_route",
            format!("no API route {}", uri.path()),
        )
        .into_response()
    } else {
        (
            axum::http::StatusCode::NOT_FOUND,
            axum::response::Html(
                "<!doctype html><title>Not found</title><p>Not found. <a href=\"/\">Home</a></p>",
            ),
        )
            .into_response()
    }
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// The OpenAPI document of the API, as served at `/api/v1/openapi.json`.
pub fn openapi() -> OpenApi {
    api::router().into_openapi()
}

/// What [`serve`] accepts connections from: a `TcpListener`, or any listener of already-secured
/// streams (the binary's TLS listener), as long as it names each peer by its socket address.
pub use axum::serve::Listener;

/// Serves the application on `listener` until `shutdown` completes, then waits for in-flight
/// requests. Client addresses are passed to handlers for login throttling.
pub async fn serve<L>(
    listener: L,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: Listener<Addr = std::net::SocketAddr>,
{
    use axum::serve::ListenerExt;
    let app = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    // axum gives `ConnectInfo<SocketAddr>` to `TcpListener` and to any listener wrapped by
    // `tap_io`, but not to other listeners; the no-op tap is what lets a TLS listener pass the
    // peer address on to the login throttle.
    let listener = listener.tap_io(|_| {});
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
