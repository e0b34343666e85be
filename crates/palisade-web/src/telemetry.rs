//! Request IDs, security headers, Prometheus metrics, health endpoints, and the audit event of
//! every request.
//!
//! Every request gets an ID (returned in `x-request-id` and in error bodies) and becomes one audit
//! event: who, which client's data (from every authorisation the handlers asked for), what record,
//! method, route template, status, latency and bytes, plus whatever before/after details a handler
//! noted. A request that changed something is answered only once its event is durable; if the log
//! cannot take it the caller gets 503 rather than a success the log does not show (fail closed). A
//! read is queued for the next group commit without waiting for it.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use palisade_audit::{Event, EventKind};
use palisade_core::policy::{Action, Scope};
use palisade_core::{ClientId, RequestId, UserId};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::{ApiError, AppState};

tokio::task_local! {
    static REQUEST_ID: RequestId;
}

/// The ID of the request being handled, if called inside one.
pub fn current_request_id() -> Option<RequestId> {
    REQUEST_ID.try_with(|id| *id).ok()
}

/// JSON keys whose values are redacted (keyed HMAC) before they enter the log.
pub const SENSITIVE_KEYS: &[&str] = &["email", "phone", "password", "secret", "token", "code"];

#[derive(Debug, Default)]
struct Trail {
    actor: Option<(UserId, Option<ClientId>)>,
    /// Every authorisation a handler asked for, granted or not.
    accesses: Vec<(Action, Scope, bool)>,
    /// Details a handler added (before/after of an update, the reason of a decision).
    notes: serde_json::Map<String, serde_json::Value>,
}

/// What a request did, filled in by authentication, authorisation and handlers, read by the
/// middleware to write the request's audit event.
#[derive(Clone, Debug, Default)]
pub(crate) struct ActorSlot(Arc<Mutex<Trail>>);

impl ActorSlot {
    fn with<R>(&self, f: impl FnOnce(&mut Trail) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn set(&self, user: UserId, client: Option<ClientId>) {
        self.with(|t| t.actor = Some((user, client)));
    }

    pub(crate) fn access(&self, action: Action, scope: Scope, granted: bool) {
        self.with(|t| t.accesses.push((action, scope, granted)));
    }

    pub(crate) fn note(&self, key: &str, value: serde_json::Value) {
        self.with(|t| {
            t.notes.insert(key.to_owned(), value);
        });
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// The metrics registry.
#[derive(Clone)]
pub struct Telemetry {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    audit_appended: Gauge,
    audit_commits: Gauge,
    audit_failures: Gauge,
    ship_lag: Gauge,
    ship_backlog: Gauge,
    desk: DeskGauges,
    /// The desk's outbox by state, read from the store at each scrape.
    outbox: Family<OutboxLabels, Gauge>,
}

/// The desk's gauges, refreshed by every escalation sweep (`deskops::sweep`).
#[derive(Clone, Default)]
struct DeskGauges {
    at_risk: Gauge,
    breached: Gauge,
    open: Gauge,
    auto_escalations: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxLabels {
    state: &'static str,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Telemetry {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("palisade");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let audit_appended = gauge(
            &mut registry,
            "audit_events_appended",
            "Audit events appended by this process",
        );
        let audit_commits = gauge(
            &mut registry,
            "audit_commits",
            "Group commits of audit events by this process",
        );
        let audit_failures = gauge(
            &mut registry,
            "audit_append_failures",
            "Batches of audit events the database refused",
        );
        let ship_lag = gauge(
            &mut registry,
            "audit_shipping_lag_seconds",
            "Age of the oldest audit event not yet in object storage (0 when caught up)",
        );
        let ship_backlog = gauge(
            &mut registry,
            "audit_shipping_backlog_events",
            "Audit events in the database not yet in object storage",
        );
        let desk = DeskGauges::default();
        registry.register(
            "desk_open_tickets",
            "Open support tickets at the last escalation sweep",
            desk.open.clone(),
        );
        registry.register(
            "desk_tickets_at_risk",
            "Open tickets with an SLA clock past the at-risk share of its target, not breached",
            desk.at_risk.clone(),
        );
        registry.register(
            "desk_tickets_breached",
            "Open tickets with a breached SLA clock",
            desk.breached.clone(),
        );
        registry.register(
            "desk_auto_escalations",
            "Tickets escalated to the second line by the system",
            desk.auto_escalations.clone(),
        );
        let outbox = Family::<OutboxLabels, Gauge>::default();
        registry.register(
            "mail_outbox",
            "Desk notification e-mails by state (queued, sent, failed)",
            outbox.clone(),
        );
        Self {
            desk,
            outbox,
            registry: Arc::new(registry),
            requests,
            latency,
            audit_appended,
            audit_commits,
            audit_failures,
            ship_lag,
            ship_backlog,
        }
    }

    /// Sets the outbox gauges (the `/metrics` handler reads the counts from the store).
    fn set_outbox(&self, c: palisade_store::OutboxCounts) {
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        for (state, n) in [("queued", c.queued), ("sent", c.sent), ("failed", c.failed)] {
            self.outbox
                .get_or_create(&OutboxLabels { state })
                .set(as_i64(n));
        }
    }

    fn render(&self, state: &AppState) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        let stats = state.audit.stats();
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.audit_appended
            .set(as_i64(stats.appended.load(Relaxed)));
        self.audit_commits.set(as_i64(stats.commits.load(Relaxed)));
        self.audit_failures
            .set(as_i64(stats.failures.load(Relaxed)));
        if let Some(ship) = state.audit.shipping() {
            self.ship_lag.set(ship.lag_seconds.load(Relaxed));
            self.ship_backlog
                .set(as_i64(ship.backlog_events.load(Relaxed)));
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Telemetry {
    /// Records what an escalation sweep saw.
    pub(crate) fn desk_sweep(&self, r: &crate::deskops::SweepReport) {
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        self.desk.open.set(n(r.open));
        self.desk.at_risk.set(n(r.at_risk));
        self.desk.breached.set(n(r.breached));
        self.desk
            .auto_escalations
            .inc_by(u64::try_from(r.escalated.len()).unwrap_or(0));
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

/// `"site:<id>"` for `/api/v1/sites/{id}/…` and the like: the last path parameter, named after the
/// literal segment before it, so events can be searched by the record they concern.
fn object_of(route: &str, path: &str) -> Option<String> {
    let mut found = None;
    let mut previous = "";
    for (t, p) in route.split('/').zip(path.split('/')) {
        if t.starts_with('{') && t.ends_with('}') {
            let kind = previous
                .strip_suffix("ies")
                .map(|s| format!("{s}y"))
                .or_else(|| previous.strip_suffix('s').map(str::to_owned))
                .unwrap_or_else(|| previous.to_owned());
            found = Some(format!("{kind}:{p}"));
        }
        previous = t;
    }
    found
}

fn is_security_route(route: &str) -> bool {
    ["login", "logout", "mfa", "password", "token", "users"]
        .iter()
        .any(|w| route.contains(w))
}

fn access_text((action, scope, granted): &(Action, Scope, bool)) -> String {
    let (verb, resource) = match action {
        Action::Read(r) => ("read", r),
        Action::Write(r) => ("write", r),
    };
    let whose = match scope {
        Scope::Provider => "provider".to_owned(),
        Scope::Client(c) => format!("client:{c}"),
    };
    let outcome = if *granted { "" } else { " (denied)" };
    format!("{verb} {resource:?} of {whose}{outcome}")
}

/// Middleware: request ID, security headers, metrics and the request's audit event.
pub(crate) async fn record_request(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let id = RequestId::new();
    let started = Instant::now();
    let at = state.clock.now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".to_owned());
    let bytes_in = content_length(req.headers());
    let slot = ActorSlot::default();
    req.extensions_mut().insert(slot.clone());

    let mut resp = REQUEST_ID.scope(id, next.run(req)).await;

    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    let t = &state.telemetry;
    t.requests
        .get_or_create(&RequestLabels {
            method: method.as_str().to_owned(),
            route: route.clone(),
            status,
        })
        .inc();
    t.latency
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(elapsed.as_secs_f64());

    let reads = matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let kind = if !reads && is_security_route(&route) {
        EventKind::Security
    } else if !reads && status < 400 {
        EventKind::Change
    } else {
        EventKind::Request
    };
    let trail = std::mem::take(&mut *slot.0.lock().unwrap_or_else(|e| e.into_inner()));
    let mut clients: Vec<ClientId> = Vec::new();
    for (_, scope, _) in &trail.accesses {
        if let Scope::Client(c) = scope
            && !clients.contains(c)
        {
            clients.push(*c);
        }
    }
    // The client whose data the request touched, or the actor's own. A request that touched
    // several clients' data is a provider event, and each client gets an event of its own naming
    // only what concerned it: every client sees staff access to its data, none sees another's.
    let client = match clients.as_slice() {
        [one] => Some(*one),
        [] => trail.actor.and_then(|a| a.1),
        _ => None,
    };
    let mut data = serde_json::json!({
        "method": method.as_str(),
        "route": route,
        "status": status,
        "latency_micros": u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        "bytes_in": bytes_in,
        "bytes_out": content_length(resp.headers()),
    });
    if !trail.accesses.is_empty() {
        data["access"] = trail.accesses.iter().map(access_text).collect();
    }
    if !trail.notes.is_empty() {
        let mut notes = serde_json::Value::Object(trail.notes);
        state
            .audit
            .redactor()
            .redact_json(&mut notes, SENSITIVE_KEYS);
        data["details"] = notes;
    }
    let action = format!("{} {route}", method.as_str());
    let actor = trail.actor.map(|(user, _)| format!("user:{user}"));
    let object = object_of(&route, &path);
    let event = |client: Option<ClientId>, data: &serde_json::Value| {
        let mut e = Event::new(at.as_microsecond(), kind, action.clone())
            .client(client.map(|c| c.to_string()))
            .request(Some(id.to_string()))
            .data(data);
        if let Some(a) = &actor {
            e = e.actor(a.clone());
        }
        if let Some(o) = &object {
            e = e.object(o.clone());
        }
        e
    };
    let mut events = vec![event(client, &data)];
    if clients.len() > 1 {
        for c in &clients {
            let mine: Vec<String> = trail
                .accesses
                .iter()
                .filter(|(_, scope, _)| *scope == Scope::Client(*c))
                .map(access_text)
                .collect();
            let mut d =
                serde_json::json!({"method": method.as_str(), "route": route, "status": status});
            d["access"] = mine.into();
            events.push(event(Some(*c), &d));
        }
    }
    for e in events {
        if kind == EventKind::Request {
            state.audit.record_detached(e).await;
        } else if let Err(error) = state.audit.record(e).await {
            tracing::error!(%error, request_id = %id, "A state change could not be audited; answering 503.");
            resp = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                "the change was made but could not be recorded in the audit log; check the audit log before retrying",
            )
            .into_response();
            break;
        }
    }

    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        headers.insert("x-request-id", v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    if let Some(age) = state.config.hsts_max_age
        && let Ok(v) =
            HeaderValue::from_str(&format!("max-age={}; includeSubDomains", age.as_secs()))
    {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, v);
    }

    resp
}

fn content_length(h: &axum::http::HeaderMap) -> i64 {
    h.get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `/healthz` (the process is up), `/readyz` (and its database answers), `/metrics`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(s): State<AppState>| async move {
                match s.store.ping().await {
                    Ok(()) => (StatusCode::OK, "ready"),
                    Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
                }
            }),
        )
        .route(
            "/metrics",
            get(|State(s): State<AppState>| async move {
                match s.store.outbox_counts().await {
                    Ok(c) => s.telemetry.set_outbox(c),
                    Err(error) => tracing::warn!(%error, "Outbox counts unavailable for metrics."),
                }
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    s.telemetry.render(&s),
                )
                    .into_response()
            }),
        )
}
