//! API for fleet vulnerability management: inventory uploads and their snapshots, findings (list
//! by priority, detail with history, triage), the dashboard numbers, who is affected by an
//! advisory (JSON or CSV), and the matcher's state. Every handler authorises against the client
//! that owns the record; client users are pinned to their own client.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use palisade_core::policy::{Action, Resource, Scope};
use palisade_core::{
    ClientId, EnvironmentId, FieldError, FindingId, HostId, SiteId, SnapshotId, Validate,
};
use palisade_fleet::{Change, Finding, FindingEvent, FindingState, Justification, Package, Triage};
use palisade_matcher::{IntakeError, MatchError, Replace, Upload};
use palisade_store::{DailyFindings, FindingQuery, FindingsSummary, SnapshotSummary};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ListResponse, pinned_client};
use crate::auth::Caller;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, ApiResult, AppState};

/// Largest inventory upload (one request, all files or one archive). A site's lockfiles are a few
/// megabytes; a tarball of a site root should leave out media.
pub const MAX_INVENTORY_BYTES: usize = 64 * 1024 * 1024;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(upload_inventory, list_inventories))
        .routes(routes!(upload_host_inventory))
        .layer(DefaultBodyLimit::max(MAX_INVENTORY_BYTES));
    OpenApiRouter::new()
        .merge(uploads)
        .routes(routes!(get_inventory))
        .routes(routes!(list_findings))
        .routes(routes!(findings_summary))
        .routes(routes!(get_finding))
        .routes(routes!(triage_finding))
        .routes(routes!(affected))
        .routes(routes!(fleet_status))
        .routes(routes!(rematch))
}

impl From<MatchError> for ApiError {
    fn from(e: MatchError) -> Self {
        match e {
            MatchError::Store(e) => e.into(),
            MatchError::Intake(e) => {
                let status = match e {
                    IntakeError::TooManyFiles => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                ApiError::new(status, "invalid_inventory", e.to_string())
            }
            MatchError::Advisories(e) => {
                tracing::error!(error = %e, "Advisory store failed.");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "advisories_unavailable",
                    "the advisory store is unavailable; try again",
                )
            }
            MatchError::Task(m) => {
                tracing::error!(error = %m, "Matching task failed.");
                ApiError::internal()
            }
        }
    }
}

async fn env_scope(s: &AppState, id: EnvironmentId) -> ApiResult<Scope> {
    Ok(Scope::Client(s.store.get_environment(id).await?.client_id))
}

// ---- inventories ----

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UploadParams {
    /// The file name, for a body that is one file (not multipart): it decides the format
    /// (`composer.lock`, `package-lock.json`, `site.tar.gz`, …).
    name: Option<String>,
    /// `covered` (default): replace only the ecosystems the upload contains, so a host's dpkg
    /// status and a CI job's lockfiles do not erase each other; `all`: replace everything.
    replace: Option<String>,
}

impl UploadParams {
    fn replace(&self) -> ApiResult<Replace> {
        match self.replace.as_deref() {
            None | Some("covered") => Ok(Replace::Covered),
            Some("all") => Ok(Replace::All),
            Some(other) => Err(ApiError::field(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "replace",
                format!("unknown value {other:?}: use covered or all"),
            )),
        }
    }
}

/// What an upload did.
#[derive(Debug, Serialize, ToSchema)]
struct IntakeResponse {
    snapshot: SnapshotSummary,
    /// The difference from the previous snapshot.
    #[schema(value_type = Vec<Object>)]
    changes: Vec<Change>,
    findings_created: usize,
    findings_changed: usize,
}

/// The uploaded files: every file part of a multipart body, or the whole body as the file named by
/// `name`.
async fn read_uploads(
    s: &AppState,
    headers: &HeaderMap,
    name: Option<String>,
    req: Request,
) -> ApiResult<Vec<Upload>> {
    // Every way of reading the body fails alike: too large, or unreadable with the reader's reason.
    let unreadable = |status: StatusCode, text: String| {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the upload is larger than the limit of {MAX_INVENTORY_BYTES} bytes"),
            )
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", text)
        }
    };
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"));
    if multipart {
        let mut form = Multipart::from_request(req, s)
            .await
            .map_err(|e| unreadable(e.status(), e.body_text()))?;
        let mut out = Vec::new();
        loop {
            let field = form
                .next_field()
                .await
                .map_err(|e| unreadable(e.status(), e.body_text()))?;
            let Some(field) = field else { break };
            let Some(file) = field.file_name().map(str::to_owned) else {
                continue;
            };
            let bytes = field
                .bytes()
                .await
                .map_err(|e| unreadable(e.status(), e.body_text()))?;
            out.push(Upload {
                name: file,
                bytes: bytes.to_vec(),
            });
        }
        return Ok(out);
    }
    let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "name",
            "name the file (?name=composer.lock) or send multipart/form-data",
        ));
    };
    let bytes = Bytes::from_request(req, s)
        .await
        .map_err(|e| unreadable(e.status(), e.body_text()))?;
    Ok(vec![Upload {
        name,
        bytes: bytes.to_vec(),
    }])
}

/// Uploads an environment's inventory: one or several files (multipart), or a tar archive of the
/// site root. Stored as a snapshot with its difference from the previous one; the changed
/// packages are matched at once.
#[utoipa::path(post, path = "/api/v1/environments/{id}/inventories", tag = "inventories",
    params(("id" = EnvironmentId, Path), UploadParams),
    request_body(content = Vec<u8>, description = "multipart/form-data with file parts, or one file's bytes with `?name=`", content_type = "multipart/form-data"),
    responses((status = 201, body = IntakeResponse), (status = 422, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody)))]
async fn upload_inventory(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<EnvironmentId>,
    ApiQuery(p): ApiQuery<UploadParams>,
    headers: HeaderMap,
    req: Request,
) -> ApiResult<(StatusCode, Json<IntakeResponse>)> {
    c.authorize(Action::Write(Resource::Inventory), env_scope(&s, id).await?)?;
    let replace = p.replace()?;
    let uploads = read_uploads(&s, &headers, p.name, req).await?;
    let outcome = s
        .matcher
        .intake(id, uploads, replace, Some(c.user.id), s.clock.now())
        .await?;
    // A fix this inventory shows moves any patch campaign of the environment forward.
    let verified = crate::campaigns::verify_after_inventory(&s, id).await?;
    if verified > 0 {
        c.note("campaigns_verified", serde_json::json!(verified));
    }
    Ok((
        StatusCode::CREATED,
        Json(IntakeResponse {
            snapshot: outcome.snapshot,
            changes: outcome.changes,
            findings_created: outcome.findings.created,
            findings_changed: outcome.findings.updated,
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HostUploadParams {
    /// The file name, for a body that is one file (not multipart).
    name: Option<String>,
}

/// Uploads a host's inventory (its dpkg status, an SBOM): every environment the host serves gets
/// a snapshot in which the upload's ecosystems are replaced and the rest kept.
#[utoipa::path(post, path = "/api/v1/hosts/{id}/inventories", tag = "inventories",
    params(("id" = HostId, Path), HostUploadParams),
    request_body(content = Vec<u8>, description = "multipart/form-data with file parts, or one file's bytes with `?name=`", content_type = "multipart/form-data"),
    responses((status = 201, body = Vec<SnapshotSummary>), (status = 422, body = crate::error::ErrorBody)))]
async fn upload_host_inventory(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<HostId>,
    ApiQuery(p): ApiQuery<HostUploadParams>,
    headers: HeaderMap,
    req: Request,
) -> ApiResult<(StatusCode, Json<Vec<SnapshotSummary>>)> {
    let host = s.store.get_host(id).await?;
    c.authorize(
        Action::Write(Resource::Inventory),
        host.client_id.map(Scope::Client).unwrap_or(Scope::Provider),
    )?;
    if host.environment_ids.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_environments",
            "the host serves no environment: link it to the environments it runs first",
        ));
    }
    let uploads = read_uploads(&s, &headers, p.name, req).await?;
    let outcomes = s
        .matcher
        .intake_host(
            &host.environment_ids,
            uploads,
            Some(c.user.id),
            s.clock.now(),
        )
        .await?;
    let mut verified = 0;
    for env in &host.environment_ids {
        verified += crate::campaigns::verify_after_inventory(&s, *env).await?;
    }
    if verified > 0 {
        c.note("campaigns_verified", serde_json::json!(verified));
    }
    Ok((
        StatusCode::CREATED,
        Json(outcomes.into_iter().map(|o| o.snapshot).collect()),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SnapshotParams {
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
    /// The last snapshot ID of the previous page.
    after: Option<SnapshotId>,
}

/// An environment's inventory snapshots, newest first.
#[utoipa::path(get, path = "/api/v1/environments/{id}/inventories", tag = "inventories",
    params(("id" = EnvironmentId, Path), SnapshotParams),
    responses((status = 200, body = ListResponse<SnapshotSummary>)))]
async fn list_inventories(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<EnvironmentId>,
    ApiQuery(p): ApiQuery<SnapshotParams>,
) -> ApiResult<Json<ListResponse<SnapshotSummary>>> {
    c.authorize(Action::Read(Resource::Inventory), env_scope(&s, id).await?)?;
    let page = s
        .store
        .list_snapshots(id, p.after, p.limit.unwrap_or(0))
        .await?;
    Ok(Json(ListResponse {
        items: page.items,
        next_cursor: page.next_after,
    }))
}

/// One snapshot with its difference from the previous one and what it holds.
#[derive(Debug, Serialize, ToSchema)]
struct SnapshotDetail {
    #[serde(flatten)]
    summary: SnapshotSummary,
    #[schema(value_type = Vec<Object>)]
    changes: Vec<Change>,
    #[schema(value_type = Vec<Object>)]
    packages: Vec<Package>,
    unevaluable: Vec<String>,
}

/// One inventory snapshot.
#[utoipa::path(get, path = "/api/v1/inventories/{id}", tag = "inventories",
    params(("id" = SnapshotId, Path)), responses((status = 200, body = SnapshotDetail)))]
async fn get_inventory(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<SnapshotId>,
) -> ApiResult<Json<SnapshotDetail>> {
    let snap = s.store.get_snapshot(id).await?;
    c.authorize(
        Action::Read(Resource::Inventory),
        Scope::Client(snap.summary.client_id),
    )?;
    Ok(Json(SnapshotDetail {
        summary: snap.summary,
        changes: snap.changes,
        packages: snap.packages,
        unevaluable: snap.unevaluable,
    }))
}

// ---- findings ----

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct FindingParams {
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    pub client_id: Option<ClientId>,
    pub site_id: Option<SiteId>,
    pub environment_id: Option<EnvironmentId>,
    /// Comma-separated states (default: the open ones, `new,affected`; `all` for every state).
    pub state: Option<String>,
    /// Only findings of this advisory's alias group (any id of the group).
    pub alias: Option<String>,
    /// Only findings listed in CISA KEV.
    pub kev: Option<bool>,
    /// Only findings past their remediation deadline.
    pub breached: Option<bool>,
}

impl FindingParams {
    /// [`FindingParams::query`] with the `alias` filter widened to the advisory's whole alias
    /// group: findings are stored under the group's canonical id, and any id must find them.
    pub(crate) async fn resolve(
        &self,
        caller: &Caller,
        s: &AppState,
    ) -> ApiResult<(FindingQuery, Scope)> {
        let (mut q, scope) = self.query(caller, s.clock.now())?;
        if let Some(alias) = &self.alias {
            q.alias_groups = s.matcher.alias_ids(alias).await?.0;
        }
        Ok((q, scope))
    }

    /// The store query and the scope to authorise it against; client users are pinned to their
    /// own client.
    pub(crate) fn query(
        &self,
        caller: &Caller,
        now: Timestamp,
    ) -> ApiResult<(FindingQuery, Scope)> {
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
        let states = match self.state.as_deref().map(str::trim) {
            None | Some("") => Vec::new(),
            Some("all") => FindingState::ALL.to_vec(),
            Some(list) => list
                .split(',')
                .map(|s| {
                    FindingState::parse(s.trim()).ok_or_else(|| {
                        ApiError::field(
                            StatusCode::BAD_REQUEST,
                            "invalid_query",
                            "state",
                            format!(
                                "unknown state {:?}: use {}",
                                s.trim(),
                                FindingState::ALL.map(|s| s.as_str()).join(", ")
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let client = pinned_client(caller, self.client_id)?;
        let q = FindingQuery {
            client,
            site: self.site_id,
            environment: self.environment_id,
            states,
            alias_groups: self.alias.iter().map(|a| a.trim().to_owned()).collect(),
            package: None,
            kev_only: self.kev.unwrap_or(false),
            due_before: self.breached.unwrap_or(false).then_some(now),
            after: self.cursor.clone(),
            limit: self.limit.unwrap_or(palisade_store::DEFAULT_PAGE_SIZE),
        };
        Ok((q, client.map(Scope::Client).unwrap_or(Scope::Provider)))
    }
}

/// Findings, most urgent first, with the reasons for their priority.
#[utoipa::path(get, path = "/api/v1/findings", tag = "findings", params(FindingParams),
    responses((status = 200, body = ListResponse<Finding>)))]
async fn list_findings(
    State(s): State<AppState>,
    c: Caller,
    ApiQuery(p): ApiQuery<FindingParams>,
) -> ApiResult<Json<ListResponse<Finding>>> {
    let (q, scope) = p.resolve(&c, &s).await?;
    c.authorize(Action::Read(Resource::Finding), scope)?;
    let page = s.store.list_findings(&q).await?;
    Ok(Json(ListResponse {
        items: page.items,
        next_cursor: page.next_after,
    }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SummaryParams {
    client_id: Option<ClientId>,
    /// Days of history for the trend (default 90, at most 730).
    days: Option<u32>,
}

/// The portfolio numbers and the trend of open findings.
#[derive(Debug, Serialize, ToSchema)]
struct SummaryResponse {
    #[serde(flatten)]
    summary: FindingsSummary,
    /// Open findings at the end of each day with changes, oldest first.
    trend: Vec<TrendPoint>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TrendPoint {
    #[schema(value_type = String, format = Date)]
    pub day: jiff::civil::Date,
    pub open: i64,
}

/// Open findings at the end of each day, from the daily opened/closed counts since the start.
pub(crate) fn trend(daily: &[DailyFindings], from: jiff::civil::Date) -> Vec<TrendPoint> {
    let mut open = 0;
    let mut out = Vec::new();
    for d in daily {
        open += d.opened - d.closed;
        if d.day >= from {
            out.push(TrendPoint { day: d.day, open });
        }
    }
    out
}

/// Dashboard numbers: open findings by priority band and client, KEV, SLA breaches, the trend.
#[utoipa::path(get, path = "/api/v1/findings/summary", tag = "findings", params(SummaryParams),
    responses((status = 200, body = SummaryResponse)))]
async fn findings_summary(
    State(s): State<AppState>,
    c: Caller,
    ApiQuery(p): ApiQuery<SummaryParams>,
) -> ApiResult<Json<SummaryResponse>> {
    let client = match c.principal.client_id {
        Some(own) if p.client_id.is_some_and(|x| x != own) => return Err(ApiError::not_found()),
        Some(own) => Some(own),
        None => p.client_id,
    };
    c.authorize(
        Action::Read(Resource::Finding),
        client.map(Scope::Client).unwrap_or(Scope::Provider),
    )?;
    let now = s.clock.now();
    let days = p.days.unwrap_or(90).clamp(1, 730);
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let from = today
        .checked_sub(jiff::Span::new().days(i64::from(days)))
        .unwrap_or(today);
    let summary = s.store.findings_summary(client, now).await?;
    // The running total needs every earlier day too.
    let daily = s
        .store
        .findings_daily(client, jiff::civil::date(1970, 1, 1))
        .await?;
    Ok(Json(SummaryResponse {
        summary,
        trend: trend(&daily, from),
    }))
}

/// A finding with its history.
#[derive(Debug, Serialize, ToSchema)]
struct FindingDetail {
    finding: Finding,
    events: Vec<FindingEvent>,
}

/// One finding and its history.
#[utoipa::path(get, path = "/api/v1/findings/{id}", tag = "findings", params(("id" = FindingId, Path)),
    responses((status = 200, body = FindingDetail), (status = 404, body = crate::error::ErrorBody)))]
async fn get_finding(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<FindingId>,
) -> ApiResult<Json<FindingDetail>> {
    let finding = s.store.get_finding(id).await?;
    c.authorize(
        Action::Read(Resource::Finding),
        Scope::Client(finding.client_id),
    )?;
    let events = s.store.finding_events(id).await?;
    Ok(Json(FindingDetail { finding, events }))
}

/// A triage decision with its reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TriageRequest {
    /// `affected`, `not-affected`, `false-positive`, `request-risk-acceptance`,
    /// `approve-risk-acceptance`, `fixed` or `reopen`.
    pub decision: String,
    /// For `not-affected`: the VEX justification (`component_not_present`,
    /// `vulnerable_code_not_present`, `vulnerable_code_not_in_execute_path`,
    /// `vulnerable_code_cannot_be_controlled_by_adversary`, `inline_mitigations_already_exist`).
    #[schema(value_type = Option<String>)]
    pub justification: Option<Justification>,
    /// For `request-risk-acceptance`: until when.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<Timestamp>,
    /// Why; required, it is the evidence.
    pub reason: String,
    /// The finding's `updated_at` as the caller saw it; a later change by someone else makes
    /// the request fail with `conflict` instead of overwriting it.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub seen_at: Option<Timestamp>,
}

impl TriageRequest {
    /// The decision, with the fields it needs.
    pub(crate) fn triage(&self) -> Result<Triage, FieldError> {
        Ok(match self.decision.as_str() {
            "affected" => Triage::Affected,
            "not-affected" => Triage::NotAffected {
                justification: self.justification.ok_or_else(|| {
                    FieldError::new(
                        "justification",
                        "required when the decision is not-affected",
                    )
                })?,
            },
            "false-positive" => Triage::FalsePositive,
            "request-risk-acceptance" => Triage::RequestRiskAcceptance {
                until: self.until.ok_or_else(|| {
                    FieldError::new("until", "required when requesting a risk acceptance")
                })?,
            },
            "approve-risk-acceptance" => Triage::ApproveRiskAcceptance,
            "fixed" => Triage::Fixed,
            "reopen" => Triage::Reopen,
            other => {
                return Err(FieldError::new(
                    "decision",
                    format!("unknown decision {other:?}"),
                ));
            }
        })
    }
}

impl Validate for TriageRequest {
    fn validate(&self) -> Result<(), FieldError> {
        self.triage()?;
        palisade_core::validate::text("reason", &self.reason, 2000)
    }
}

/// Applies a triage decision to a finding and records it in its history.
pub(crate) async fn apply_triage(
    s: &AppState,
    c: &Caller,
    id: FindingId,
    req: &TriageRequest,
) -> ApiResult<Finding> {
    let mut finding = s.store.get_finding(id).await?;
    c.authorize(
        Action::Write(Resource::Finding),
        Scope::Client(finding.client_id),
    )?;
    let seen = req.seen_at.unwrap_or(finding.updated_at);
    let now = s.clock.now();
    let event = finding
        .triage(&req.triage()?, c.user.id, &req.reason, now)
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_transition",
                e.to_string(),
            )
        })?;
    s.store.save_triage(&finding, &event, seen).await?;
    Ok(finding)
}

/// Triage: affected, not affected (with a VEX justification), false positive, risk acceptance
/// (requested by one person, approved by another), fixed, or reopen.
#[utoipa::path(post, path = "/api/v1/findings/{id}/triage", tag = "findings", params(("id" = FindingId, Path)),
    request_body = TriageRequest,
    responses((status = 200, body = Finding), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn triage_finding(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<FindingId>,
    ApiJson(req): ApiJson<TriageRequest>,
) -> ApiResult<Json<Finding>> {
    Ok(Json(apply_triage(&s, &c, id, &req).await?))
}

// ---- advisories ----

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AffectedParams {
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Who is affected by an advisory or any of its aliases: clients, sites, environments, installed
/// and fixed versions. Installations the advisory affects whose findings the matcher has not
/// written yet are listed too, with `pending: true` and no `finding`. Client users see their own
/// organisation only.
#[utoipa::path(get, path = "/api/v1/advisories/{id}/affected", tag = "advisories",
    params(("id" = String, Path, description = "Any advisory id or alias: CVE, GHSA, RUSTSEC, DSA, …"), AffectedParams),
    responses((status = 200, description = "The affected clients (JSON), or one row per affected installation (CSV)")))]
async fn affected(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<AffectedParams>,
) -> ApiResult<Response> {
    let client = c.principal.client_id;
    c.authorize(
        Action::Read(Resource::Advisory),
        client.map(Scope::Client).unwrap_or(Scope::Provider),
    )?;
    if id.trim().is_empty() || id.len() > 200 {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            "id",
            "an advisory id of 1 to 200 characters",
        ));
    }
    let report = s.matcher.affected(&id, client).await?;
    match p.format.as_deref() {
        None | Some("json") => Ok(Json(report).into_response()),
        Some("csv") => {
            let file = format!(
                "attachment; filename=\"affected-{}.csv\"",
                id.chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect::<String>()
            );
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (header::CONTENT_DISPOSITION, file),
                ],
                report.to_csv(),
            )
                .into_response())
        }
        Some(other) => Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "format",
            format!("unknown format {other:?}: use json or csv"),
        )),
    }
}

/// The matcher and advisory sync state.
#[utoipa::path(get, path = "/api/v1/fleet/status", tag = "advisories",
    responses((status = 200, description = "When advisories were last synced and matched, and the outcome")))]
async fn fleet_status(State(s): State<AppState>, c: Caller) -> ApiResult<Response> {
    c.authorize(Action::Read(Resource::Advisory), Scope::Provider)?;
    Ok(Json(s.matcher.status()).into_response())
}

/// Re-matches the whole fleet against the advisory store now (normally only changes are
/// matched, as they arrive).
#[utoipa::path(post, path = "/api/v1/fleet/rematch", tag = "advisories",
    responses((status = 200, description = "How many findings the pass created and changed")))]
async fn rematch(State(s): State<AppState>, c: Caller) -> ApiResult<Response> {
    c.authorize(Action::Write(Resource::Advisory), Scope::Provider)?;
    let counts = s.matcher.full_match(s.clock.now()).await?;
    Ok(Json(counts).into_response())
}
