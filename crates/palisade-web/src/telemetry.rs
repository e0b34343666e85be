//! Request records, request IDs, security headers, Prometheus metrics and health endpoints.
//!
//! Every request gets an ID (returned in `x-request-id` and in error bodies) and produces one
//! record: time, actor, client scope, method, route template, status, latency, bytes. Records go
//! through a bounded channel to one writer task that stores them in batches, so logging a request
//! costs the request a channel send, not a database write.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use palisade_core::{ClientId, RequestId, UserId};
use palisade_store::{RequestRecord, Store};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, oneshot};

use crate::AppState;

/// Records waiting to be written before new ones are dropped (and counted as dropped).
const RECORD_QUEUE: usize = 50_000;
/// Most records written in one transaction.
const RECORD_BATCH: usize = 1_000;
/// Longest a record waits for others to share its transaction. `Telemetry::flush` cuts it short.
const RECORD_LINGER: std::time::Duration = std::time::Duration::from_millis(200);

tokio::task_local! {
    static REQUEST_ID: RequestId;
}

/// The ID of the request being handled, if called inside one.
pub fn current_request_id() -> Option<RequestId> {
    REQUEST_ID.try_with(|id| *id).ok()
}

/// The actor of a request and the client they act for.
type Actor = (UserId, Option<ClientId>);

/// Filled in by authentication so the request record can name the actor.
#[derive(Clone, Debug, Default)]
pub(crate) struct ActorSlot(Arc<Mutex<Option<Actor>>>);

impl ActorSlot {
    pub(crate) fn set(&self, user: UserId, client: Option<ClientId>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((user, client));
    }

    fn get(&self) -> Option<Actor> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
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

enum Msg {
    Record(RequestRecord),
    Flush(oneshot::Sender<()>),
}

/// Metrics registry and the request-record writer.
#[derive(Clone)]
pub struct Telemetry {
    tx: mpsc::Sender<Msg>,
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    dropped: Counter,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Telemetry {
    /// Creates the metrics and spawns the record writer.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let mut registry = Registry::with_prefix("palisade");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let dropped = Counter::default();
        let write_failures = Counter::default();
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
        registry.register(
            "request_records_dropped",
            "Request records dropped because the queue was full",
            dropped.clone(),
        );
        registry.register(
            "request_record_write_failures",
            "Batches of request records the database refused",
            write_failures.clone(),
        );
        let (tx, rx) = mpsc::channel(RECORD_QUEUE);
        tokio::spawn(write_records(store, rx, write_failures.clone()));
        Self {
            tx,
            registry: Arc::new(registry),
            requests,
            latency,
            dropped,
        }
    }

    /// Waits until every record queued so far is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

async fn write_records(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Msg>, failures: Counter) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    let mut waiters = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let deadline = tokio::time::Instant::now() + RECORD_LINGER;
        while let Some(msg) = next.take() {
            match msg {
                Msg::Record(r) => batch.push(r),
                Msg::Flush(w) => waiters.push(w),
            }
            // Gather until the batch is full, someone waits for a flush, or the linger is over:
            // a transaction per handful of records would cost more than the requests themselves.
            if batch.len() < RECORD_BATCH && waiters.is_empty() {
                next = tokio::time::timeout_at(deadline, rx.recv())
                    .await
                    .ok()
                    .flatten();
            }
        }
        if !batch.is_empty() {
            if let Err(error) = store.insert_request_records(&batch).await {
                failures.inc();
                tracing::warn!(%error, count = batch.len(), "Could not store request records.");
            }
            batch.clear();
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

/// Middleware: request ID, security headers, metrics and the request record.
pub(crate) async fn record_request(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let id = RequestId::new();
    let started = Instant::now();
    let at = state.clock.now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".to_owned());
    let bytes_in = content_length(req.headers());
    let slot = ActorSlot::default();
    req.extensions_mut().insert(slot.clone());

    let mut resp = REQUEST_ID.scope(id, next.run(req)).await;

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

    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    let t = &state.telemetry;
    t.requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status,
        })
        .inc();
    t.latency
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(elapsed.as_secs_f64());
    let actor = slot.get();
    let record = RequestRecord {
        id,
        at,
        actor: actor.map(|a| a.0),
        client_scope: actor.and_then(|a| a.1),
        method,
        route,
        status,
        latency_micros: i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX),
        bytes_in,
        bytes_out: content_length(resp.headers()),
    };
    if t.tx.try_send(Msg::Record(record)).is_err() {
        t.dropped.inc();
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
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    s.telemetry.render(),
                )
                    .into_response()
            }),
        )
}
