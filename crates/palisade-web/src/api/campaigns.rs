//! API for patch campaigns: plan one from an advisory or alias (or from a customer's confirmed
//! report, whose ticket then carries the campaign), adjust the plan, start it (one ticket per
//! affected client, in one transaction), record each environment's steps (live refused until
//! staging passed), and export the evidence. Client users read their own part only: their
//! environments and the campaign's start and end, never the other clients in it.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use palisade_campaign::{
    Action as Step, Campaign, CampaignClient, CampaignEnv, CampaignEvent, CampaignReport, Progress,
};
use palisade_core::policy::{Action, Resource, Scope};
use palisade_core::{CampaignId, ClientId, EnvironmentId, FieldError, TicketId, Validate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ListParams, ListResponse};
use crate::auth::Caller;
use crate::campaigns::{self, PlanChange};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, ApiResult, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_campaign, list_campaigns))
        .routes(routes!(get_campaign))
        .routes(routes!(change_plan))
        .routes(routes!(start_campaign))
        .routes(routes!(cancel_campaign))
        .routes(routes!(record_step))
        .routes(routes!(campaign_report))
}

/// A campaign to plan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewCampaign {
    /// Any id of the advisory's alias group (CVE, GHSA, OSV, DSA, …).
    advisory: String,
    title: Option<String>,
    /// A customer's report that this campaign confirms: that client is told in this ticket.
    source_ticket: Option<TicketId>,
}

impl Validate for NewCampaign {
    fn validate(&self) -> Result<(), FieldError> {
        palisade_core::validate::text("advisory", &self.advisory, 200)?;
        match &self.title {
            Some(t) => palisade_core::validate::text("title", t, 200),
            None => Ok(()),
        }
    }
}

/// Plans a campaign over every environment with an open finding of the advisory, clients in
/// order of need. Nobody is told anything until it starts.
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "campaigns", request_body = NewCampaign,
    responses((status = 201, body = Campaign), (status = 422, body = crate::error::ErrorBody)))]
async fn create_campaign(
    State(s): State<AppState>,
    c: Caller,
    ApiJson(req): ApiJson<NewCampaign>,
) -> ApiResult<(StatusCode, Json<Campaign>)> {
    c.authorize(Action::Write(Resource::Campaign), Scope::Provider)?;
    let campaign =
        campaigns::plan(&s, c.user.id, &req.advisory, req.title, req.source_ticket).await?;
    c.note("campaign", serde_json::json!(campaign.id));
    c.note("advisory", serde_json::json!(campaign.advisory));
    Ok((StatusCode::CREATED, Json(campaign)))
}

/// Campaigns, newest first.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns", params(ListParams),
    responses((status = 200, body = ListResponse<Campaign>)))]
async fn list_campaigns(
    State(s): State<AppState>,
    c: Caller,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<Json<ListResponse<Campaign>>> {
    let (q, scope) = p.query(&c)?;
    c.authorize(Action::Read(Resource::Campaign), scope)?;
    // The cursor was checked to be a UUID, which every campaign ID is.
    let after = q.after.and_then(|a| a.parse::<CampaignId>().ok());
    Ok(Json(
        s.store
            .list_campaigns(q.client, after, q.limit)
            .await?
            .into(),
    ))
}

/// A campaign as the caller may see it.
#[derive(Debug, Serialize, ToSchema)]
struct CampaignDetail {
    campaign: Campaign,
    /// Environments at each step (the caller's own only, for a client user).
    progress: Progress,
    /// In patching order; a client user sees only their own line.
    clients: Vec<CampaignClient>,
    environments: Vec<CampaignEnv>,
    timeline: Vec<CampaignEvent>,
}

/// The client a client user is limited to, after checking they may read the campaign at all.
async fn reader_scope(s: &AppState, c: &Caller, id: CampaignId) -> ApiResult<Option<ClientId>> {
    match c.principal.client_id {
        Some(own) => {
            c.authorize(Action::Read(Resource::Campaign), Scope::Client(own))?;
            let part = s
                .store
                .campaign_clients(id)
                .await?
                .iter()
                .any(|cl| cl.client_id == own);
            if !part {
                return Err(ApiError::not_found());
            }
            Ok(Some(own))
        }
        None => {
            c.authorize(Action::Read(Resource::Campaign), Scope::Provider)?;
            Ok(None)
        }
    }
}

/// One campaign: plan, progress, environments and timeline.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "campaigns", params(("id" = CampaignId, Path)),
    responses((status = 200, body = CampaignDetail), (status = 404, body = crate::error::ErrorBody)))]
async fn get_campaign(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<CampaignId>,
) -> ApiResult<Json<CampaignDetail>> {
    let campaign = s.store.get_campaign(id).await?;
    let only = reader_scope(&s, &c, id).await?;
    let clients = s
        .store
        .campaign_clients(id)
        .await?
        .into_iter()
        .filter(|cl| only.is_none_or(|o| o == cl.client_id))
        .collect();
    let environments = s.store.campaign_envs(id, only).await?;
    Ok(Json(CampaignDetail {
        campaign,
        progress: Progress::of(&environments),
        clients,
        timeline: s.store.campaign_events(id, only).await?,
        environments,
    }))
}

impl Validate for PlanChange {
    fn validate(&self) -> Result<(), FieldError> {
        match &self.title {
            Some(t) => palisade_core::validate::text("title", t, 200),
            None => Ok(()),
        }
    }
}

/// Changes a planned campaign: the title, clients' order and planned dates, environments left
/// out (each with a reason) or put back.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/plan", tag = "campaigns", params(("id" = CampaignId, Path)),
    request_body = PlanChange,
    responses((status = 200, body = Campaign), (status = 409, body = crate::error::ErrorBody)))]
async fn change_plan(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<CampaignId>,
    ApiJson(req): ApiJson<PlanChange>,
) -> ApiResult<Json<Campaign>> {
    c.authorize(Action::Write(Resource::Campaign), Scope::Provider)?;
    Ok(Json(campaigns::change_plan(&s, c.user.id, id, req).await?))
}

/// The version a start or cancellation is made against, and a cancellation's reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Transition {
    version: u32,
    reason: Option<String>,
}

impl Validate for Transition {
    fn validate(&self) -> Result<(), FieldError> {
        Ok(())
    }
}

/// Starts a planned campaign: each client with something to patch gets one ticket, worded for
/// them, opened in the same transaction (and so one e-mail, sent by the desk's notifier).
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/start", tag = "campaigns", params(("id" = CampaignId, Path)),
    request_body = Transition,
    responses((status = 200, body = Campaign), (status = 409, body = crate::error::ErrorBody)))]
async fn start_campaign(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<CampaignId>,
    ApiJson(req): ApiJson<Transition>,
) -> ApiResult<Json<Campaign>> {
    c.authorize(Action::Write(Resource::Campaign), Scope::Provider)?;
    let campaign = campaigns::start(&s, c.user.id, id, req.version).await?;
    c.note("campaign", serde_json::json!(id));
    Ok(Json(campaign))
}

/// Cancels a planned or active campaign, with a reason.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/cancel", tag = "campaigns", params(("id" = CampaignId, Path)),
    request_body = Transition,
    responses((status = 200, body = Campaign), (status = 409, body = crate::error::ErrorBody)))]
async fn cancel_campaign(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<CampaignId>,
    ApiJson(req): ApiJson<Transition>,
) -> ApiResult<Json<Campaign>> {
    c.authorize(Action::Write(Resource::Campaign), Scope::Provider)?;
    let reason = req.reason.unwrap_or_default();
    c.note("reason", serde_json::json!(reason));
    Ok(Json(
        campaigns::cancel(&s, c.user.id, id, req.version, &reason).await?,
    ))
}

/// A step: `{"action": "patched", "note": …}`, `{"action": "tested", "passed": true,
/// "method": "command", "detail": "phpunit", "output": "…"}`, `{"action": "excluded", "reason":
/// …}` or `{"action": "included"}`. The rules check the sizes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(transparent)]
struct StepRequest(Step);

impl Validate for StepRequest {
    fn validate(&self) -> Result<(), FieldError> {
        Ok(())
    }
}

/// Records a step on one environment: `patched`, `tested` (with the result, what was run and its
/// output; `"method": "url"` without an output makes the server GET the environment's URL and
/// attach the answer, passed when it is a 2xx), `excluded` (with a reason) or `included`. Patching an environment before the earlier
/// ones of its site passed their tests is refused with 409 `promotion_blocked`. Verification is
/// the system's, from a later inventory.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/environments/{environment_id}/steps", tag = "campaigns",
    params(("id" = CampaignId, Path), ("environment_id" = EnvironmentId, Path)),
    request_body = StepRequest,
    responses((status = 200, body = CampaignEnv), (status = 409, body = crate::error::ErrorBody)))]
async fn record_step(
    State(s): State<AppState>,
    c: Caller,
    ApiPath((id, env)): ApiPath<(CampaignId, EnvironmentId)>,
    ApiJson(StepRequest(req)): ApiJson<StepRequest>,
) -> ApiResult<Json<CampaignEnv>> {
    let e = s.store.get_environment(env).await?;
    c.authorize(
        Action::Write(Resource::CampaignStep),
        Scope::Client(e.client_id),
    )?;
    if matches!(req, Step::Verified { .. }) {
        return Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "action",
            "verification comes from an inventory of the environment, not from a person",
        ));
    }
    let req = campaigns::run_url_check(&e, req).await?;
    c.note("action", serde_json::json!(req.name()));
    Ok(Json(
        campaigns::step(&s, Some(c.user.id), id, env, req).await?,
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReportParams {
    /// `json` (default) or `csv` (one row per environment).
    format: Option<String>,
}

/// The campaign's evidence: timeline, coverage, exceptions and time to patch per client, as JSON
/// or CSV.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/report", tag = "campaigns",
    params(("id" = CampaignId, Path), ReportParams),
    responses((status = 200, body = CampaignReport), (status = 404, body = crate::error::ErrorBody)))]
async fn campaign_report(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<CampaignId>,
    ApiQuery(p): ApiQuery<ReportParams>,
) -> ApiResult<Response> {
    c.authorize(Action::Read(Resource::Campaign), Scope::Provider)?;
    let campaign = s.store.get_campaign(id).await?;
    let clients = s.store.campaign_clients(id).await?;
    let envs = s.store.campaign_envs(id, None).await?;
    let timeline = s.store.campaign_events(id, None).await?;
    let report = CampaignReport::build(&campaign, &clients, &envs, &timeline);
    match p.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(report).into_response()),
        "csv" => {
            let body = report_csv(&clients, &envs).map_err(|_| ApiError::internal())?;
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"campaign-{id}.csv\""),
                    ),
                ],
                body,
            )
                .into_response())
        }
        _ => Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "format",
            "json or csv",
        )),
    }
}

fn report_csv(clients: &[CampaignClient], envs: &[CampaignEnv]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "rank",
        "client",
        "site",
        "environment",
        "kind",
        "step",
        "packages",
        "exception",
        "updated_at",
        "client_done_at",
    ])?;
    for cl in clients {
        for e in envs.iter().filter(|e| e.client_id == cl.client_id) {
            let packages = e
                .packages
                .iter()
                .map(|p| format!("{} {} -> {}", p.package, p.installed, p.fixed.join("|")))
                .collect::<Vec<_>>()
                .join("; ");
            w.write_record([
                cl.rank.to_string(),
                cl.client_name.clone(),
                e.site_name.clone(),
                e.environment_name.clone(),
                e.kind.as_str().to_owned(),
                e.step.as_str().to_owned(),
                packages,
                e.exception.clone().unwrap_or_default(),
                e.updated_at.to_string(),
                cl.done_at.map(|t| t.to_string()).unwrap_or_default(),
            ])?;
        }
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
