//! Staff console and client portal pages for the tenant spine and the visitor's API tokens.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use palisade_core::policy::{self, Action, Resource, Scope};
use palisade_core::tenant::*;
use palisade_core::user::ApiToken;
use palisade_core::validate::Validate;
use palisade_core::{ClientId, FieldError, Role, SiteId, SnapshotId, TokenId};
use palisade_store::{Archivable, ListQuery, MAX_PAGE_SIZE};
use serde::Deserialize;

use super::findings::FindingRow;
use super::{Posted, Shell, UiError, UiResult, Visitor, render};
use crate::AppState;
use crate::api::ListResponse;
use crate::auth::Caller;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageQuery {
    pub(crate) cursor: Option<String>,
}

fn can(c: &Caller, action: Action, scope: Scope) -> bool {
    policy::authorize(&c.principal, action, scope).is_ok()
}

/// Pages reuse the API's cursor handling so both page through records the same way.
fn list_query(
    c: &Caller,
    cursor: Option<String>,
    client: Option<ClientId>,
) -> Result<(ListQuery, Scope), UiError> {
    let params = crate::api::ListParams::for_page(cursor, client);
    Ok(params.query(c)?)
}

// ---- home ----

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    shell: Option<Shell>,
    demo: bool,
    clients: usize,
    clients_more: bool,
    sites: usize,
    sites_more: bool,
    hosts: usize,
    hosts_more: bool,
    findings_open: u64,
    findings_breached: u64,
    recent: Vec<Client>,
}

#[derive(Template)]
#[template(path = "portal.html")]
struct Portal {
    shell: Option<Shell>,
    client: Client,
    sites: Vec<(Site, Vec<Environment>)>,
    /// Their findings waiting for the provider, most urgent first.
    open: Vec<FindingRow>,
    /// Their findings already assessed or fixed.
    assessed: Vec<FindingRow>,
}

pub(crate) async fn home(State(s): State<AppState>, Visitor(c): Visitor) -> UiResult {
    if let Some(own) = c.principal.client_id {
        c.authorize(Action::Read(Resource::Client), Scope::Client(own))?;
        let client = s.store.get_client(own).await?;
        let q = ListQuery {
            client: Some(own),
            limit: MAX_PAGE_SIZE,
            ..Default::default()
        };
        let mut sites = Vec::new();
        for site in s.store.list_sites(&q).await?.items {
            let envs = s.store.site_environments(site.id, false).await?;
            sites.push((site, envs));
        }
        let (open, assessed) = super::findings::of_portal(&s, &c).await?;
        return Ok(render(&Portal {
            shell: Shell::of(&c),
            client,
            sites,
            open,
            assessed,
        }));
    }
    c.authorize(Action::Read(Resource::Client), Scope::Provider)?;
    let all = ListQuery {
        limit: MAX_PAGE_SIZE,
        ..Default::default()
    };
    let clients = s.store.list_clients(&all).await?;
    let sites = s.store.list_sites(&all).await?;
    let hosts = s.store.list_hosts(&all).await?;
    let findings = s.store.findings_summary(None, s.clock.now()).await?;
    Ok(render(&Dashboard {
        findings_open: findings.open,
        findings_breached: findings.breached,
        shell: Shell::of(&c),
        demo: s.config.demo,
        clients: clients.items.len(),
        clients_more: clients.next_after.is_some(),
        sites: sites.items.len(),
        sites_more: sites.next_after.is_some(),
        hosts: hosts.items.len(),
        hosts_more: hosts.next_after.is_some(),
        recent: clients.items.into_iter().take(20).collect(),
    }))
}

// ---- clients ----

/// The client form's fields as shown.
pub(crate) struct ClientForm {
    name: String,
    tiers: Vec<(&'static str, bool)>,
    days: Vec<(&'static str, bool)>,
    start: String,
    end: String,
    time_zone: String,
    holiday_calendar: String,
    out_of_hours: bool,
}

impl ClientForm {
    fn of(client: Option<&Client>) -> Self {
        let contract = client.map(|c| c.contract.clone()).unwrap_or(Contract {
            sla_tier: SlaTier::Standard,
            support_hours: SupportHours::office_hours("Europe/London"),
            holiday_calendar: Some("gb-eng".into()),
            out_of_hours: false,
        });
        let hours = &contract.support_hours;
        let first = hours.ranges.first();
        Self {
            name: client.map(|c| c.name.clone()).unwrap_or_default(),
            tiers: SlaTier::ALL
                .iter()
                .map(|t| (t.as_str(), *t == contract.sla_tier))
                .collect(),
            days: Day::ALL
                .iter()
                .map(|d| (d.as_str(), hours.ranges.iter().any(|r| r.day == *d)))
                .collect(),
            start: first
                .map(|r| r.start.clone())
                .unwrap_or_else(|| "09:00".into()),
            end: first
                .map(|r| r.end.clone())
                .unwrap_or_else(|| "17:30".into()),
            time_zone: hours.time_zone.clone(),
            holiday_calendar: contract.holiday_calendar.unwrap_or_default(),
            out_of_hours: contract.out_of_hours,
        }
    }
}

fn client_input(f: &super::FormData) -> Result<ClientInput, UiError> {
    let sla_tier: SlaTier = f
        .get("sla_tier")
        .parse()
        .map_err(|e: UnknownName| FieldError::new("sla_tier", e.to_string()))?;
    let mut ranges = Vec::new();
    for day in f.all("day") {
        let day: Day = day
            .parse()
            .map_err(|e: UnknownName| FieldError::new("day", e.to_string()))?;
        ranges.push(DayRange {
            day,
            start: f.get("start").trim().into(),
            end: f.get("end").trim().into(),
        });
    }
    let input = ClientInput {
        name: f.get("name").to_owned(),
        contract: Contract {
            sla_tier,
            support_hours: SupportHours {
                time_zone: f.get("time_zone").trim().to_owned(),
                ranges,
            },
            holiday_calendar: f.opt("holiday_calendar"),
            out_of_hours: f.get("out_of_hours") == "on",
        },
    };
    input.validate()?;
    Ok(input)
}

#[derive(Template)]
#[template(path = "clients.html")]
struct ClientsPage {
    shell: Option<Shell>,
    csrf: String,
    clients: Vec<Client>,
    next: Option<String>,
    can_write: bool,
    form: ClientForm,
}

pub(crate) async fn clients(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Query(p): Query<PageQuery>,
) -> UiResult {
    if let Some(own) = c.principal.client_id {
        return Ok(Redirect::to(&format!("/clients/{own}")).into_response());
    }
    let (q, scope) = list_query(&c, p.cursor, None)?;
    c.authorize(Action::Read(Resource::Client), scope)?;
    let page: ListResponse<Client> = s
        .store
        .list_clients(&ListQuery {
            include_archived: true,
            ..q
        })
        .await?
        .into();
    Ok(render(&ClientsPage {
        shell: Shell::of(&c),
        csrf: c.csrf(),
        next: page.next_cursor.clone(),
        clients: page.items,
        can_write: can(&c, Action::Write(Resource::Client), Scope::Provider),
        form: ClientForm::of(None),
    }))
}

pub(crate) async fn create_client(
    State(s): State<AppState>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    c.authorize(Action::Write(Resource::Client), Scope::Provider)?;
    let input = client_input(&form).map_err(|e| e.with_back("/clients"))?;
    let client = s.store.create_client(&input, s.clock.now()).await?;
    Ok(Redirect::to(&format!("/clients/{}", client.id)).into_response())
}

#[derive(Template)]
#[template(path = "client.html")]
struct ClientPage {
    shell: Option<Shell>,
    csrf: String,
    client: Client,
    sites: Vec<Site>,
    contacts: Vec<Contact>,
    can_write: bool,
    can_write_site: bool,
    can_write_contact: bool,
    form: ClientForm,
}

pub(crate) async fn client(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Path(id): Path<ClientId>,
) -> UiResult {
    c.authorize(Action::Read(Resource::Client), Scope::Client(id))?;
    let client = s.store.get_client(id).await?;
    let q = ListQuery {
        client: Some(id),
        limit: MAX_PAGE_SIZE,
        ..Default::default()
    };
    let sites = s.store.list_sites(&q).await?.items;
    let contacts = s.store.list_contacts(&q).await?.items;
    let scope = Scope::Client(id);
    Ok(render(&ClientPage {
        shell: Shell::of(&c),
        csrf: c.csrf(),
        form: ClientForm::of(Some(&client)),
        client,
        sites,
        contacts,
        can_write: can(&c, Action::Write(Resource::Client), scope),
        can_write_site: can(&c, Action::Write(Resource::Site), scope),
        can_write_contact: can(&c, Action::Write(Resource::Contact), scope),
    }))
}

pub(crate) async fn update_client(
    State(s): State<AppState>,
    Path(id): Path<ClientId>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    c.authorize(Action::Write(Resource::Client), Scope::Client(id))?;
    let back = format!("/clients/{id}");
    let input = client_input(&form).map_err(|e| e.with_back(back.clone()))?;
    s.store.update_client(id, &input, s.clock.now()).await?;
    Ok(Redirect::to(&back).into_response())
}

async fn set_client_archived(s: &AppState, c: &Caller, id: ClientId, archived: bool) -> UiResult {
    c.authorize(Action::Write(Resource::Client), Scope::Client(id))?;
    let now = s.clock.now();
    s.store
        .set_archived(Archivable::Client(id), archived.then_some(now), now)
        .await?;
    Ok(Redirect::to(&format!("/clients/{id}")).into_response())
}

pub(crate) async fn archive_client(
    State(s): State<AppState>,
    Path(id): Path<ClientId>,
    p: Posted,
) -> UiResult {
    set_client_archived(&s, &p.caller, id, true).await
}

pub(crate) async fn restore_client(
    State(s): State<AppState>,
    Path(id): Path<ClientId>,
    p: Posted,
) -> UiResult {
    set_client_archived(&s, &p.caller, id, false).await
}

pub(crate) async fn create_contact(
    State(s): State<AppState>,
    Path(id): Path<ClientId>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    c.authorize(Action::Write(Resource::Contact), Scope::Client(id))?;
    let back = format!("/clients/{id}");
    let input = ContactInput {
        name: form.get("name").to_owned(),
        email: form.get("email").trim().to_owned(),
        phone: form.opt("phone"),
        title: form.opt("title"),
    };
    input
        .validate()
        .map_err(|e| UiError::from(e).with_back(back.clone()))?;
    s.store.create_contact(id, &input, s.clock.now()).await?;
    Ok(Redirect::to(&back).into_response())
}

// ---- sites ----

#[derive(Template)]
#[template(path = "sites.html")]
struct SitesPage {
    shell: Option<Shell>,
    sites: Vec<(Site, String)>,
    next: Option<String>,
}

pub(crate) async fn sites(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Query(p): Query<PageQuery>,
) -> UiResult {
    let (q, scope) = list_query(&c, p.cursor, None)?;
    c.authorize(Action::Read(Resource::Site), scope)?;
    let page: ListResponse<Site> = s.store.list_sites(&q).await?.into();
    let mut names: HashMap<ClientId, String> = HashMap::new();
    let mut rows = Vec::with_capacity(page.items.len());
    for site in &page.items {
        if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(site.client_id) {
            slot.insert(s.store.get_client(site.client_id).await?.name);
        }
        rows.push((site.clone(), names[&site.client_id].clone()));
    }
    Ok(render(&SitesPage {
        shell: Shell::of(&c),
        next: page.next_cursor.clone(),
        sites: rows,
    }))
}

pub(crate) async fn create_site(
    State(s): State<AppState>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    let client_id: ClientId = form
        .get("client_id")
        .parse()
        .map_err(|_| FieldError::new("client_id", "no such client"))?;
    c.authorize(Action::Write(Resource::Site), Scope::Client(client_id))?;
    let back = format!("/clients/{client_id}");
    let input = NewSite {
        client_id,
        name: form.get("name").to_owned(),
        url: form.get("url").trim().to_owned(),
    };
    input
        .validate()
        .map_err(|e| UiError::from(e).with_back(back.clone()))?;
    let site = s.store.create_site(&input, s.clock.now()).await?;
    Ok(Redirect::to(&format!("/sites/{}", site.id)).into_response())
}

#[derive(Template)]
#[template(path = "site.html")]
struct SitePage {
    shell: Option<Shell>,
    csrf: String,
    site: Site,
    client: Client,
    /// Each environment with its newest inventory (id, when taken).
    environments: Vec<(Environment, Option<(SnapshotId, String)>)>,
    /// Its open findings, when the visitor may read findings.
    findings: Option<Vec<FindingRow>>,
    can_write: bool,
}

pub(crate) async fn site(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Path(id): Path<SiteId>,
) -> UiResult {
    let site = s.store.get_site(id).await?;
    let scope = Scope::Client(site.client_id);
    c.authorize(Action::Read(Resource::Site), scope)?;
    let client = s.store.get_client(site.client_id).await?;
    let environments = s.store.site_environments(id, false).await?;
    let environments = super::fleet::latest_snapshots(&s, &c, environments).await?;
    let findings = super::findings::of_site(&s, &c, &site).await?;
    Ok(render(&SitePage {
        shell: Shell::of(&c),
        csrf: c.csrf(),
        can_write: can(&c, Action::Write(Resource::Environment), scope),
        findings,
        site,
        client,
        environments,
    }))
}

pub(crate) async fn create_environment(
    State(s): State<AppState>,
    Path(id): Path<SiteId>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    let site = s.store.get_site(id).await?;
    c.authorize(
        Action::Write(Resource::Environment),
        Scope::Client(site.client_id),
    )?;
    let back = format!("/sites/{id}");
    let kind: EnvironmentKind = form.get("kind").parse().map_err(|e: UnknownName| {
        UiError::from(FieldError::new("kind", e.to_string())).with_back(back.clone())
    })?;
    let input = NewEnvironment {
        site_id: id,
        kind,
        name: form.get("name").to_owned(),
        url: form.opt("url"),
        position: None,
    };
    input
        .validate()
        .map_err(|e| UiError::from(e).with_back(back.clone()))?;
    s.store
        .create_environment(&input, s.clock.now())
        .await
        .map_err(|e| UiError::from(e).with_back(back.clone()))?;
    Ok(Redirect::to(&back).into_response())
}

async fn set_site_archived(s: &AppState, c: &Caller, id: SiteId, archived: bool) -> UiResult {
    let site = s.store.get_site(id).await?;
    c.authorize(Action::Write(Resource::Site), Scope::Client(site.client_id))?;
    let now = s.clock.now();
    s.store
        .set_archived(Archivable::Site(id), archived.then_some(now), now)
        .await?;
    Ok(Redirect::to(&format!("/sites/{id}")).into_response())
}

pub(crate) async fn archive_site(
    State(s): State<AppState>,
    Path(id): Path<SiteId>,
    p: Posted,
) -> UiResult {
    set_site_archived(&s, &p.caller, id, true).await
}

pub(crate) async fn restore_site(
    State(s): State<AppState>,
    Path(id): Path<SiteId>,
    p: Posted,
) -> UiResult {
    set_site_archived(&s, &p.caller, id, false).await
}

// ---- hosts ----

#[derive(Template)]
#[template(path = "hosts.html")]
struct HostsPage {
    shell: Option<Shell>,
    csrf: String,
    hosts: Vec<Host>,
    next: Option<String>,
    can_write: bool,
}

pub(crate) async fn hosts(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Query(p): Query<PageQuery>,
) -> UiResult {
    let (q, scope) = list_query(&c, p.cursor, None)?;
    c.authorize(Action::Read(Resource::Host), scope)?;
    let page: ListResponse<Host> = s.store.list_hosts(&q).await?.into();
    Ok(render(&HostsPage {
        shell: Shell::of(&c),
        csrf: c.csrf(),
        next: page.next_cursor.clone(),
        hosts: page.items,
        can_write: can(&c, Action::Write(Resource::Host), Scope::Provider),
    }))
}

pub(crate) async fn create_host(
    State(s): State<AppState>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    c.authorize(Action::Write(Resource::Host), Scope::Provider)?;
    let input = HostInput {
        client_id: None,
        name: form.get("name").trim().to_owned(),
        addresses: form.list("addresses"),
        os: form.get("os").to_owned(),
        environment_ids: vec![],
    };
    input
        .validate()
        .map_err(|e| UiError::from(e).with_back("/hosts"))?;
    s.store.create_host(&input, s.clock.now()).await?;
    Ok(Redirect::to("/hosts").into_response())
}

// ---- tokens ----

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    shell: Option<Shell>,
    csrf: String,
    tokens: Vec<ApiToken>,
    roles: Vec<&'static str>,
    new_secret: Option<String>,
}

async fn tokens_page(s: &AppState, c: &Caller, new_secret: Option<String>) -> UiResult {
    let tokens = s.store.list_tokens(c.user.id).await?;
    let roles = Role::ALL
        .into_iter()
        .filter(|r| palisade_core::user::token_role_allowed(c.principal.role, *r))
        .map(Role::as_str)
        .collect();
    Ok(render(&TokensPage {
        shell: Shell::of(c),
        csrf: c.csrf(),
        tokens,
        roles,
        new_secret,
    }))
}

pub(crate) async fn tokens(State(s): State<AppState>, Visitor(c): Visitor) -> UiResult {
    tokens_page(&s, &c, None).await
}

pub(crate) async fn create_token(
    State(s): State<AppState>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    let input = crate::api::NewToken {
        name: form.get("name").to_owned(),
        role: Some(
            form.get("role")
                .parse()
                .map_err(|_| FieldError::new("role", "choose a role from the list"))?,
        ),
        expires_in_days: Some(
            form.get("expires_in_days")
                .parse()
                .map_err(|_| FieldError::new("expires_in_days", "must be a number of days"))?,
        ),
    };
    input
        .validate()
        .map_err(|e| UiError::from(e).with_back("/tokens"))?;
    let issued = crate::api::issue_token(&s, &c, &input).await?;
    // The secret is shown in this response only; nothing stores it in the clear.
    tokens_page(&s, &c, Some(issued.secret)).await
}

pub(crate) async fn revoke_token(
    State(s): State<AppState>,
    Path(id): Path<TokenId>,
    Posted { caller: c, .. }: Posted,
) -> Result<Response, UiError> {
    let token = s.store.get_token(id).await?;
    if token.user_id != c.user.id {
        return Err(crate::ApiError::not_found().into());
    }
    s.store.revoke_token(id, s.clock.now()).await?;
    crate::auth::token_changed(&s, id);
    Ok(Redirect::to("/tokens").into_response())
}
