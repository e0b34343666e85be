//! Patch campaign pages: the list, planning one from an advisory, and the campaign page with its
//! progress chart, clients in patching order with their tickets, and each environment's step with
//! the forms that move it (patched, tests with their result and output, exclusion with a reason).
//! Client users see the same pages limited to their own environments, without the forms.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use palisade_campaign::{
    Action as StepAction, Campaign, CampaignClient, CampaignEnv, CampaignState, Progress, Step,
    TestMethod,
};
use palisade_core::policy::{self, Action, Resource, Scope};
use palisade_core::{CampaignId, EnvironmentId, FieldError, TicketId};

use super::findings::minute;
use super::{Posted, Shell, UiError, UiResult, Visitor, render};
use crate::AppState;
use crate::auth::Caller;
use crate::campaigns::{self, Exclusion, PlanChange};

fn may(c: &Caller, action: Action, scope: Scope) -> bool {
    policy::authorize(&c.principal, action, scope).is_ok()
}

#[derive(Template)]
#[template(path = "campaigns.html")]
struct ListPage {
    shell: Option<Shell>,
    campaigns: Vec<(Campaign, String)>,
    may_plan: bool,
}

pub(crate) async fn list(State(s): State<AppState>, Visitor(c): Visitor) -> UiResult {
    let client = c.principal.client_id;
    c.authorize(
        Action::Read(Resource::Campaign),
        client.map(Scope::Client).unwrap_or(Scope::Provider),
    )?;
    let page = s.store.list_campaigns(client, None, 100).await?;
    Ok(render(&ListPage {
        shell: Shell::of(&c),
        campaigns: page
            .items
            .into_iter()
            .map(|k| {
                let at = minute(k.created_at);
                (k, at)
            })
            .collect(),
        may_plan: may(&c, Action::Write(Resource::Campaign), Scope::Provider),
    }))
}

pub(crate) async fn create(
    State(s): State<AppState>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    c.authorize(Action::Write(Resource::Campaign), Scope::Provider)?;
    // From a customer's security ticket, errors go back to the ticket.
    let source = form.opt("source_ticket");
    let back = source
        .as_deref()
        .map_or("/campaigns".to_owned(), |t| format!("/tickets/{t}"));
    let source_ticket = match source.as_deref().map(str::parse::<TicketId>) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => {
            return Err(
                UiError::from(FieldError::new("source_ticket", "not a ticket id"))
                    .with_back("/campaigns".to_owned()),
            );
        }
    };
    let campaign = campaigns::plan(
        &s,
        c.user.id,
        form.get("advisory"),
        form.opt("title"),
        source_ticket,
    )
    .await
    .map_err(|e| UiError::from(e).with_back(back))?;
    c.note("campaign", serde_json::json!(campaign.id));
    Ok(Redirect::to(&format!("/campaigns/{}", campaign.id)).into_response())
}

/// One bar of the progress chart: a step, its count, and where it is drawn.
struct Bar {
    step: &'static str,
    label: &'static str,
    count: usize,
    x: f64,
    width: f64,
}

fn bars(p: &Progress) -> Vec<Bar> {
    let total = p.total.max(1) as f64;
    let mut x = 0.0;
    p.steps()
        .into_iter()
        .map(|(step, count)| {
            let width = 600.0 * count as f64 / total;
            let bar = Bar {
                step: step.as_str(),
                label: label(step),
                count,
                x,
                width,
            };
            x += width;
            bar
        })
        .collect()
}

fn label(s: Step) -> &'static str {
    match s {
        Step::Pending => "Not patched",
        Step::Patched => "Patched, untested",
        Step::TestFailed => "Tests failed",
        Step::TestPassed => "Tests passed",
        Step::Verified => "Verified",
        Step::Excluded => "Excluded",
    }
}

struct ClientRow {
    client: CampaignClient,
    envs: Vec<CampaignEnv>,
    done: String,
}

#[derive(Template)]
#[template(path = "campaign.html")]
struct CampaignPage {
    shell: Option<Shell>,
    campaign: Campaign,
    started: String,
    progress: Progress,
    bars: Vec<Bar>,
    clients: Vec<ClientRow>,
    timeline: Vec<(String, String, String)>,
    staff: bool,
    may_plan: bool,
    may_step: bool,
    csrf: String,
}

pub(crate) async fn page(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Path(id): Path<CampaignId>,
) -> UiResult {
    let campaign = s.store.get_campaign(id).await?;
    let only = c.principal.client_id;
    let scope = only.map(Scope::Client).unwrap_or(Scope::Provider);
    c.authorize(Action::Read(Resource::Campaign), scope)?;
    let all_clients = s.store.campaign_clients(id).await?;
    if only.is_some_and(|o| !all_clients.iter().any(|cl| cl.client_id == o)) {
        return Err(UiError::from(crate::ApiError::not_found()).with_back("/campaigns"));
    }
    let envs = s.store.campaign_envs(id, only).await?;
    let progress = Progress::of(&envs);
    let clients = all_clients
        .into_iter()
        .filter(|cl| only.is_none_or(|o| o == cl.client_id))
        .map(|cl| ClientRow {
            envs: envs
                .iter()
                .filter(|e| e.client_id == cl.client_id)
                .cloned()
                .collect(),
            done: cl.done_at.map(minute).unwrap_or_default(),
            client: cl,
        })
        .collect();
    let timeline = s
        .store
        .campaign_events(id, only)
        .await?
        .into_iter()
        .rev()
        .take(200)
        .map(|e| {
            let detail = match &e.detail {
                serde_json::Value::Object(m) if m.is_empty() => String::new(),
                v => v.to_string(),
            };
            (minute(e.at), e.kind.as_str().to_owned(), detail)
        })
        .collect();
    Ok(render(&CampaignPage {
        shell: Shell::of(&c),
        started: campaign.started_at.map(minute).unwrap_or_default(),
        bars: bars(&progress),
        progress,
        clients,
        timeline,
        staff: only.is_none(),
        may_plan: may(&c, Action::Write(Resource::Campaign), Scope::Provider),
        // Steps are checked per environment's client on submit; this only hides the forms.
        may_step: only.is_none() && may(&c, Action::Write(Resource::CampaignStep), Scope::Provider),
        csrf: c.csrf(),
        campaign,
    }))
}

fn version(form: &super::FormData) -> u32 {
    form.get("version").parse().unwrap_or(0)
}

pub(crate) async fn start(
    State(s): State<AppState>,
    Path(id): Path<CampaignId>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    c.authorize(Action::Write(Resource::Campaign), Scope::Provider)?;
    let back = format!("/campaigns/{id}");
    campaigns::start(&s, c.user.id, id, version(&form))
        .await
        .map_err(|e| UiError::from(e).with_back(back.clone()))?;
    Ok(Redirect::to(&back).into_response())
}

pub(crate) async fn cancel(
    State(s): State<AppState>,
    Path(id): Path<CampaignId>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    c.authorize(Action::Write(Resource::Campaign), Scope::Provider)?;
    let back = format!("/campaigns/{id}");
    campaigns::cancel(&s, c.user.id, id, version(&form), form.get("reason"))
        .await
        .map_err(|e| UiError::from(e).with_back(back.clone()))?;
    Ok(Redirect::to(&back).into_response())
}

/// Every step form posts here, its `action` field saying which. An exclusion in a planned
/// campaign is a plan change; in an active one it is a step.
pub(crate) async fn step(
    State(s): State<AppState>,
    Path((id, env)): Path<(CampaignId, EnvironmentId)>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    let back = format!("/campaigns/{id}#env-{env}");
    let fail = |e: crate::ApiError| UiError::from(e).with_back(back.clone());
    let campaign = s.store.get_campaign(id).await?;
    let environment = s.store.get_environment(env).await?;
    if campaign.state == CampaignState::Planned {
        c.authorize(Action::Write(Resource::Campaign), Scope::Provider)?;
        let mut change = PlanChange {
            version: campaign.version,
            ..PlanChange::default()
        };
        match form.get("action") {
            "excluded" => change.exclude.push(Exclusion {
                environment_id: env,
                reason: form.get("reason").to_owned(),
            }),
            "included" => change.include.push(env),
            _ => {
                return Err(fail(crate::ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    "campaign_not_active",
                    "start the campaign before recording steps",
                )));
            }
        }
        campaigns::change_plan(&s, c.user.id, id, change)
            .await
            .map_err(fail)?;
        return Ok(Redirect::to(&back).into_response());
    }
    c.authorize(
        Action::Write(Resource::CampaignStep),
        Scope::Client(environment.client_id),
    )?;
    let action = match form.get("action") {
        "patched" => StepAction::Patched {
            note: form.opt("note"),
        },
        "tested" => StepAction::Tested {
            passed: form.get("result") == "passed",
            method: match form.get("method") {
                "command" => TestMethod::Command,
                "url" => TestMethod::Url,
                _ => TestMethod::Manual,
            },
            detail: form.get("detail").to_owned(),
            output: form.opt("output"),
        },
        "excluded" => StepAction::Exclude {
            reason: form.get("reason").to_owned(),
        },
        "included" => StepAction::Include,
        other => {
            return Err(fail(crate::ApiError::field(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "action",
                format!("unknown step {other:?}"),
            )));
        }
    };
    let action = campaigns::run_url_check(&environment, action)
        .await
        .map_err(fail)?;
    c.note("action", serde_json::json!(action.name()));
    campaigns::step(&s, Some(c.user.id), id, env, action)
        .await
        .map_err(fail)?;
    Ok(Redirect::to(&back).into_response())
}
