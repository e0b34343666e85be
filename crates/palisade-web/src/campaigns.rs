//! The patch campaign service, shared by the API, the UI and the inventory intake: it loads what
//! the rules in `palisade-campaign` need, applies them, and stores the outcome with the ticket
//! messages it causes in one transaction. Who may call what is decided by the callers (policy
//! `Campaign`, `CampaignStep`); this module assumes it was checked.

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::civil::Date;
use palisade_campaign::{
    Action, Campaign, CampaignClient, CampaignEnv, CampaignError, CampaignEvent, CampaignState,
    EventKind, PackageFix, Step, notice,
};
use palisade_core::{CampaignEventId, CampaignId, ClientId, EnvironmentId, TicketId, UserId};
use palisade_desk::sla::Priority;
use palisade_desk::ticket::{
    Actor, Category, NewTicket, Ticket, TicketState, TimelineKind, Visibility,
};
use palisade_fleet::FindingState;
use palisade_store::{StepWrite, StoreError, TicketOpening, TicketUpdate};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::{ApiError, ApiResult, AppState};

impl From<CampaignError> for ApiError {
    fn from(e: CampaignError) -> Self {
        let message = e.to_string();
        match e {
            CampaignError::NotActive(_) => {
                ApiError::new(StatusCode::CONFLICT, "campaign_not_active", message)
            }
            CampaignError::PromotionBlocked { .. } => {
                ApiError::new(StatusCode::CONFLICT, "promotion_blocked", message)
            }
            CampaignError::WrongStep { .. } => {
                ApiError::new(StatusCode::CONFLICT, "wrong_step", message)
            }
            CampaignError::Invalid { field, reason } => ApiError::field(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                field,
                reason,
            ),
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::field(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        field,
        message,
    )
}

fn event(
    c: &Campaign,
    client: Option<ClientId>,
    env: Option<EnvironmentId>,
    at: Timestamp,
    actor: Option<UserId>,
    kind: EventKind,
    detail: serde_json::Value,
) -> CampaignEvent {
    CampaignEvent {
        id: CampaignEventId::new(),
        campaign_id: c.id,
        client_id: client,
        environment_id: env,
        at,
        actor,
        kind,
        detail,
    }
}

/// Plans a campaign for `advisory` (any id of its alias group) over every environment with an
/// open finding of the group, clients ordered by their most urgent finding.
pub(crate) async fn plan(
    s: &AppState,
    by: UserId,
    advisory: &str,
    title: Option<String>,
    source_ticket: Option<TicketId>,
) -> ApiResult<Campaign> {
    let advisory = advisory.trim();
    if advisory.is_empty() || advisory.len() > 200 {
        return Err(invalid(
            "advisory",
            "an advisory id or alias, 1 to 200 bytes",
        ));
    }
    if let Some(t) = source_ticket {
        let ticket = s.store.get_ticket(t).await.map_err(|e| match e {
            StoreError::NotFound => invalid("source_ticket", "no such ticket"),
            other => other.into(),
        })?;
        if ticket.state == TicketState::Closed {
            return Err(invalid("source_ticket", "the ticket is closed"));
        }
    }
    let report = s.matcher.affected(advisory, None).await?;
    // A campaign tracks findings to their verification; an installation whose finding the
    // matcher has not written yet would fall out of it unnoticed.
    if report.pending > 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "findings_pending",
            format!(
                "{} affected installations are still being recorded as findings; plan the campaign after the matcher's next pass",
                report.pending
            ),
        ));
    }
    let now = s.clock.now();
    let id = CampaignId::new();
    let mut clients = Vec::new();
    let mut envs = Vec::new();
    // The site's own promotion order, read once per site.
    let mut positions: HashMap<EnvironmentId, i32> = HashMap::new();
    for client in &report.clients {
        let mut any = false;
        for site in &client.sites {
            if !site
                .environments
                .iter()
                .any(|e| positions.contains_key(&e.id))
            {
                for e in s.store.site_environments(site.id, true).await? {
                    positions.insert(e.id, e.position);
                }
            }
            for e in &site.environments {
                let open: Vec<_> = e
                    .installs
                    .iter()
                    .filter(|i| i.state.is_open())
                    .filter_map(|i| Some((i.finding?, i)))
                    .collect();
                if open.is_empty() {
                    continue;
                }
                any = true;
                envs.push(CampaignEnv {
                    campaign_id: id,
                    environment_id: e.id,
                    client_id: client.id,
                    site_id: site.id,
                    site_name: site.name.clone(),
                    environment_name: e.name.clone(),
                    kind: e.kind,
                    position: positions.get(&e.id).copied().unwrap_or(0),
                    step: Step::Pending,
                    tests_passed: false,
                    packages: open
                        .iter()
                        .map(|&(finding, i)| PackageFix {
                            finding,
                            package: i.package.to_string(),
                            ecosystem: i.ecosystem.to_string(),
                            installed: i.installed.to_string(),
                            fixed: i.fixed.to_vec(),
                        })
                        .collect(),
                    priority: open.iter().map(|(_, i)| i.priority).max().unwrap_or(0),
                    exception: None,
                    updated_at: now,
                    version: 1,
                });
            }
        }
        if any {
            clients.push(CampaignClient {
                campaign_id: id,
                client_id: client.id,
                client_name: client.name.clone(),
                rank: u32::try_from(clients.len() + 1).unwrap_or(u32::MAX),
                planned_for: None,
                ticket_id: None,
                done_at: None,
            });
        }
    }
    if envs.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "nothing_to_patch",
            format!("no environment has an open finding of {advisory}"),
        ));
    }
    let first = report.advisories.first();
    let campaign = Campaign {
        id,
        title: title
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| format!("Patch {advisory}")),
        advisory: advisory.to_owned(),
        aliases: report.ids.clone(),
        summary: first.map(|a| a.summary.clone()).unwrap_or_default(),
        severity: first
            .map(|a| a.severity.clone())
            .unwrap_or_else(|| "unknown".into()),
        state: CampaignState::Planned,
        source_ticket,
        created_by: by,
        created_at: now,
        started_at: None,
        finished_at: None,
        version: 1,
    };
    let planned = event(
        &campaign,
        None,
        None,
        now,
        Some(by),
        EventKind::Planned,
        serde_json::json!({
            "clients": clients.len(),
            "environments": envs.len(),
            "aliases": campaign.aliases,
        }),
    );
    s.store
        .create_campaign(&campaign, &clients, &envs, &planned)
        .await?;
    Ok(campaign)
}

/// One client's line of a plan change.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientPlan {
    pub client_id: ClientId,
    /// New position in the patching order (1 first); the others move down.
    pub rank: Option<u32>,
    /// When the client will be patched, told to the customer.
    #[schema(value_type = Option<String>, format = Date)]
    pub planned_for: Option<Date>,
}

/// An environment left out of the plan.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Exclusion {
    pub environment_id: EnvironmentId,
    pub reason: String,
}

/// Changes to a planned campaign.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanChange {
    /// The campaign's `version` the change was made against.
    pub version: u32,
    pub title: Option<String>,
    #[serde(default)]
    pub clients: Vec<ClientPlan>,
    #[serde(default)]
    pub exclude: Vec<Exclusion>,
    /// Environments to put back.
    #[serde(default)]
    pub include: Vec<EnvironmentId>,
}

/// Applies a plan change to a planned campaign.
pub(crate) async fn change_plan(
    s: &AppState,
    by: UserId,
    id: CampaignId,
    change: PlanChange,
) -> ApiResult<Campaign> {
    let mut c = s.store.get_campaign(id).await?;
    planned(&c, "change")?;
    stale(&c, change.version)?;
    let now = s.clock.now();
    let mut clients = s.store.campaign_clients(id).await?;
    for p in &change.clients {
        let Some(pos) = clients.iter().position(|c| c.client_id == p.client_id) else {
            return Err(invalid(
                "clients",
                format!("{} is not in the campaign", p.client_id),
            ));
        };
        if let Some(d) = p.planned_for {
            clients[pos].planned_for = Some(d);
        }
        if let Some(rank) = p.rank {
            let moved = clients.remove(pos);
            let to = (rank.max(1) as usize - 1).min(clients.len());
            clients.insert(to, moved);
        }
    }
    for (i, cl) in clients.iter_mut().enumerate() {
        cl.rank = u32::try_from(i + 1).unwrap_or(u32::MAX);
    }
    let mut envs = s.store.campaign_envs(id, None).await?;
    let mut changed = Vec::new();
    for x in &change.exclude {
        let reason = x.reason.trim();
        if reason.is_empty() || reason.len() > palisade_campaign::rules::MAX_TEXT_BYTES {
            return Err(invalid("exclude.reason", "a reason of 1 to 4096 bytes"));
        }
        let e = find_env(&mut envs, x.environment_id)?;
        e.step = Step::Excluded;
        e.exception = Some(reason.to_owned());
        changed.push(e.environment_id);
    }
    for env in &change.include {
        let e = find_env(&mut envs, *env)?;
        e.step = Step::Pending;
        e.exception = None;
        changed.push(e.environment_id);
    }
    changed.sort();
    changed.dedup();
    let mut changed_envs = Vec::new();
    for e in envs
        .iter_mut()
        .filter(|e| changed.contains(&e.environment_id))
    {
        e.version += 1;
        e.updated_at = now;
        changed_envs.push(e.clone());
    }
    if let Some(t) = change
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        c.title = t.chars().take(200).collect();
    }
    c.version += 1;
    let ev = event(
        &c,
        None,
        None,
        now,
        Some(by),
        EventKind::PlanChanged,
        serde_json::json!({
            "order": clients.iter().map(|c| c.client_name.as_str()).collect::<Vec<_>>(),
            "excluded": change.exclude.iter().map(|x| serde_json::json!({
                "environment_id": x.environment_id, "reason": x.reason.trim()})).collect::<Vec<_>>(),
            "included": change.include,
        }),
    );
    s.store
        .save_campaign(&c, &clients, &changed_envs, &[], &[], &[ev])
        .await?;
    Ok(c)
}

fn find_env(envs: &mut [CampaignEnv], id: EnvironmentId) -> ApiResult<&mut CampaignEnv> {
    envs.iter_mut()
        .find(|e| e.environment_id == id)
        .ok_or_else(|| invalid("environment_id", format!("{id} is not in the campaign")))
}

/// Refuses to `verb` a campaign that is no longer planned, saying what state it is in.
fn planned(c: &Campaign, verb: &str) -> ApiResult<()> {
    if c.state == CampaignState::Planned {
        return Ok(());
    }
    Err(CampaignError::Invalid {
        field: "state",
        reason: format!("the campaign is {}; only a planned one can {verb}", c.state),
    }
    .into())
}

fn stale(c: &Campaign, version: u32) -> ApiResult<()> {
    if c.version != version {
        return Err(ApiError::field(
            StatusCode::CONFLICT,
            "conflict",
            "version",
            format!(
                "the campaign is at version {}, not {version}; reload it and try again",
                c.version
            ),
        ));
    }
    Ok(())
}

/// The desk priority of a campaign's ticket: the advisory's severity, as the customer would
/// weigh it.
fn ticket_priority(severity: &str) -> Priority {
    match severity {
        "critical" => Priority::Critical,
        "high" => Priority::High,
        "low" | "none" => Priority::Low,
        _ => Priority::Normal,
    }
}

/// Starts a planned campaign: one ticket per client with an environment left to patch, worded
/// for the customer (the reporting client of a customer-reported vulnerability is told in their
/// own ticket instead), all opened in the same transaction as the campaign's new state.
pub(crate) async fn start(
    s: &AppState,
    by: UserId,
    id: CampaignId,
    version: u32,
) -> ApiResult<Campaign> {
    let mut c = s.store.get_campaign(id).await?;
    planned(&c, "start")?;
    stale(&c, version)?;
    let now = s.clock.now();
    c.state = CampaignState::Active;
    c.started_at = Some(now);
    c.version += 1;
    let mut clients = s.store.campaign_clients(id).await?;
    let mut by_client: BTreeMap<ClientId, Vec<CampaignEnv>> = BTreeMap::new();
    for e in s.store.campaign_envs(id, None).await? {
        by_client.entry(e.client_id).or_default().push(e);
    }
    let source = match c.source_ticket {
        Some(t) => Some(s.store.get_ticket(t).await?),
        None => None,
    };
    let mut openings: Vec<TicketOpening> = Vec::new();
    let mut updates: Vec<TicketUpdate> = Vec::new();
    let events = vec![event(
        &c,
        None,
        None,
        now,
        Some(by),
        EventKind::Started,
        serde_json::json!({}),
    )];
    for cl in &mut clients {
        let envs = by_client.remove(&cl.client_id).unwrap_or_default();
        let live: Vec<CampaignEnv> = envs.into_iter().filter(|e| !e.settled()).collect();
        if live.is_empty() {
            // Everything of this client was excluded in planning: nothing to tell.
            cl.done_at = Some(now);
            continue;
        }
        let (subject, body) = notice::opening(&c, &cl.client_name, &live, cl.planned_for);
        // The ticket names a site when the client's part concerns exactly one.
        let site = Some(live[0].site_id).filter(|first| live.iter().all(|e| e.site_id == *first));
        match &source {
            Some(t) if t.client_id == cl.client_id => {
                let (next, ev) = t.apply(
                    TimelineKind::Reply {
                        visibility: Visibility::Public,
                        body,
                    },
                    Actor::Staff(by),
                    now,
                )?;
                cl.ticket_id = Some(t.id);
                updates.push((next, vec![ev]));
            }
            _ => {
                let new = NewTicket {
                    id: TicketId::new(),
                    client_id: cl.client_id,
                    site_id: site,
                    subject,
                    category: Category::Security,
                    priority: ticket_priority(&c.severity),
                    body,
                    created_by: Actor::Staff(by),
                    at: now,
                };
                let created = new.created_event()?;
                cl.ticket_id = Some(new.id);
                openings.push((new, created));
            }
        }
    }
    s.store
        .save_campaign(&c, &clients, &[], &openings, &updates, &events)
        .await?;
    Ok(c)
}

/// Cancels a planned or active campaign, with a reason. Open tickets stay with the desk.
pub(crate) async fn cancel(
    s: &AppState,
    by: UserId,
    id: CampaignId,
    version: u32,
    reason: &str,
) -> ApiResult<Campaign> {
    let mut c = s.store.get_campaign(id).await?;
    if !matches!(c.state, CampaignState::Planned | CampaignState::Active) {
        return Err(CampaignError::Invalid {
            field: "state",
            reason: format!("the campaign is already {}", c.state),
        }
        .into());
    }
    stale(&c, version)?;
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > palisade_campaign::rules::MAX_TEXT_BYTES {
        return Err(invalid("reason", "a reason of 1 to 4096 bytes"));
    }
    let now = s.clock.now();
    c.state = CampaignState::Cancelled;
    c.finished_at = Some(now);
    c.version += 1;
    let ev = event(
        &c,
        None,
        None,
        now,
        Some(by),
        EventKind::Cancelled,
        serde_json::json!({ "reason": reason }),
    );
    s.store.save_campaign(&c, &[], &[], &[], &[], &[ev]).await?;
    Ok(c)
}

/// Records one step on one environment, and whatever it completes: the client's part (its ticket
/// told and resolved) and the campaign.
pub(crate) async fn step(
    s: &AppState,
    by: Option<UserId>,
    id: CampaignId,
    env: EnvironmentId,
    action: Action,
) -> ApiResult<CampaignEnv> {
    let c = s.store.get_campaign(id).await?;
    // Only the environment's client's part is read: its promotion order is all the rules need.
    let client = s.store.get_environment(env).await?.client_id;
    let envs = s.store.campaign_envs(id, Some(client)).await?;
    let current = envs
        .iter()
        .find(|e| e.environment_id == env)
        .ok_or_else(ApiError::not_found)?;
    let now = s.clock.now();
    let (next, kind) = palisade_campaign::advance(c.state, current, &envs, &action, now)?;
    let detail = serde_json::to_value(&action).unwrap_or_default();
    let mut events = vec![event(&c, Some(client), Some(env), now, by, kind, detail)];
    let after: Vec<CampaignEnv> = envs
        .iter()
        .map(|e| {
            if e.environment_id == env {
                next.clone()
            } else {
                e.clone()
            }
        })
        .collect();
    let mut write = StepWrite {
        env: next.clone(),
        events: Vec::new(),
        client: None,
        ticket: None,
        campaign: None,
    };
    if palisade_campaign::client_done(&after) {
        let mut clients = s.store.campaign_clients(id).await?;
        if let Some(cl) = clients.iter_mut().find(|cl| cl.client_id == client) {
            cl.done_at = Some(now);
            if let Some(t) = cl.ticket_id {
                write.ticket = Some(resolve_ticket(s, t, &c, &after, by, now).await?);
            }
            write.client = Some(cl.clone());
            events.push(event(
                &c,
                Some(client),
                None,
                now,
                by,
                EventKind::ClientDone,
                serde_json::json!({ "ticket": cl.ticket_id }),
            ));
        }
        if clients.iter().all(|cl| cl.done_at.is_some()) {
            let mut done = c.clone();
            done.state = CampaignState::Completed;
            done.finished_at = Some(now);
            done.version += 1;
            events.push(event(
                &done,
                None,
                None,
                now,
                by,
                EventKind::Completed,
                serde_json::json!({}),
            ));
            write.campaign = Some(done);
        }
    }
    write.events = events;
    s.store.record_step(&write).await?;
    Ok(next)
}

/// The customer's ticket after the campaign is done for them: resolved with the completion
/// message as its reason (one event, so one e-mail), or, when someone already resolved or
/// closed it, the message as a reply.
async fn resolve_ticket(
    s: &AppState,
    id: TicketId,
    c: &Campaign,
    envs: &[CampaignEnv],
    by: Option<UserId>,
    now: Timestamp,
) -> ApiResult<TicketUpdate> {
    let ticket: Ticket = s.store.get_ticket(id).await?;
    let actor = by.map_or(Actor::System, Actor::Staff);
    let message = notice::completion(c, envs);
    let kind = if ticket.state.can_become(TicketState::Resolved) {
        TimelineKind::StateChanged {
            from: ticket.state,
            to: TicketState::Resolved,
            reason: Some(message),
        }
    } else {
        TimelineKind::Reply {
            visibility: Visibility::Public,
            body: message,
        }
    };
    let (t, event) = ticket.apply(kind, actor, now)?;
    Ok((t, vec![event]))
}

/// After an inventory of `env` was matched: every active campaign whose fix it shows (no finding
/// of the campaign still open there) gets the environment verified. Returns how many.
pub(crate) async fn verify_after_inventory(s: &AppState, env: EnvironmentId) -> ApiResult<usize> {
    let mut verified = 0;
    for ce in s.store.active_campaign_envs(env).await? {
        if ce.settled() {
            continue;
        }
        let mut fixed = true;
        for p in &ce.packages {
            let f = s.store.get_finding(p.finding).await?;
            if !matches!(f.state, FindingState::Verified | FindingState::Inactive) {
                fixed = false;
                break;
            }
        }
        if !fixed {
            continue;
        }
        let note = ce
            .packages
            .iter()
            .map(|p| format!("{} {} no longer installed", p.package, p.installed))
            .collect::<Vec<_>>()
            .join("; ");
        match step(s, None, ce.campaign_id, env, Action::Verified { note }).await {
            Ok(_) => verified += 1,
            // Another request verified it meanwhile: nothing left to do.
            Err(e) if e.status == StatusCode::CONFLICT => {}
            Err(e) => return Err(e),
        }
    }
    Ok(verified)
}

/// A URL check with nothing attached is run here, against the environment's own address (never
/// an address the caller names, so the server cannot be pointed elsewhere); other steps pass
/// through.
pub(crate) async fn run_url_check(
    env: &palisade_core::tenant::Environment,
    action: Action,
) -> ApiResult<Action> {
    match action {
        Action::Tested {
            method: palisade_campaign::TestMethod::Url,
            output: None,
            ..
        } => {
            let url = env.url.as_deref().ok_or_else(|| {
                ApiError::field(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    "method",
                    "the environment has no URL to check; record the result by hand",
                )
            })?;
            Ok(url_check(url).await)
        }
        other => Ok(other),
    }
}

/// How long a URL check may take, and how much of the answer is attached.
const URL_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
const URL_CHECK_CHARS: usize = 4096;

/// A URL check of a patched environment: GET its address (certificates verified, a few
/// redirects followed) and attach the status and the start of the body; passed on a 2xx.
async fn url_check(url: &str) -> Action {
    let client = reqwest::Client::builder()
        .timeout(URL_CHECK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build();
    let (passed, output) = match client {
        Ok(c) => match c.get(url).send().await {
            Ok(resp) => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                let start: String = body.chars().take(URL_CHECK_CHARS).collect();
                (status.is_success(), format!("HTTP {status}\n\n{start}"))
            }
            Err(e) => (false, format!("no answer: {e}")),
        },
        Err(e) => (false, format!("no HTTP client: {e}")),
    };
    Action::Tested {
        passed,
        method: palisade_campaign::TestMethod::Url,
        detail: format!("GET {url}"),
        output: Some(output),
    }
}
