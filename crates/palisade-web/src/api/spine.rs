//! API for the tenant spine: clients, contacts, sites, environments, hosts. Reads are scoped by the
//! record's client; writes go through the same policy with the `Write` action.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use palisade_core::policy::{Action, Resource, Scope};
use palisade_core::tenant::*;
use palisade_core::{ClientId, ContactId, EnvironmentId, HostId, SiteId};
use palisade_store::Archivable;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ListParams, ListResponse};
use crate::auth::Caller;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::pagecache::JsonBytes;
use crate::{ApiResult, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, update_client))
        .routes(routes!(archive_client))
        .routes(routes!(restore_client))
        .routes(routes!(list_contacts, create_contact))
        .routes(routes!(get_contact, update_contact))
        .routes(routes!(archive_contact))
        .routes(routes!(list_sites, create_site))
        .routes(routes!(get_site, update_site))
        .routes(routes!(archive_site))
        .routes(routes!(restore_site))
        .routes(routes!(site_environments))
        .routes(routes!(list_environments, create_environment))
        .routes(routes!(get_environment, update_environment))
        .routes(routes!(archive_environment))
        .routes(routes!(list_hosts, create_host))
        .routes(routes!(get_host, update_host))
        .routes(routes!(archive_host))
}

type Created<T> = (StatusCode, Json<T>);

fn host_scope(client: Option<ClientId>) -> Scope {
    client.map(Scope::Client).unwrap_or(Scope::Provider)
}

async fn archive(s: &AppState, what: Archivable, archived: bool) -> ApiResult<StatusCode> {
    let now = s.clock.now();
    s.store
        .set_archived(what, archived.then_some(now), now)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- clients ----

/// Lists clients (client users see only their own).
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", params(ListParams),
    responses((status = 200, body = ListResponse<Client>)))]
async fn list_clients(
    State(s): State<AppState>,
    c: Caller,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<Response> {
    let (mut q, scope) = p.query(&c)?;
    c.authorize(Action::Read(Resource::Client), scope)?;
    // For clients the "client" filter is the record's own ID.
    if let Some(own) = q.client.take() {
        let client = s.store.get_client(own).await?;
        let show = q.include_archived || client.archived_at.is_none();
        return Ok(Json(ListResponse {
            items: if show { vec![client] } else { vec![] },
            next_cursor: None,
        })
        .into_response());
    }
    Ok(s.list_page("clients", &q, s.store.list_clients(&q))
        .await?
        .into_response())
}

/// Creates a client with its contract.
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", request_body = ClientInput,
    responses((status = 201, body = Client), (status = 422, body = crate::error::ErrorBody)))]
async fn create_client(
    State(s): State<AppState>,
    c: Caller,
    ApiJson(input): ApiJson<ClientInput>,
) -> ApiResult<Created<Client>> {
    c.authorize(Action::Write(Resource::Client), Scope::Provider)?;
    Ok((
        StatusCode::CREATED,
        Json(s.store.create_client(&input, s.clock.now()).await?),
    ))
}

/// One client.
#[utoipa::path(get, path = "/api/v1/clients/{id}", tag = "clients", params(("id" = ClientId, Path)),
    responses((status = 200, body = Client), (status = 404, body = crate::error::ErrorBody)))]
async fn get_client(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<ClientId>,
) -> ApiResult<Json<Client>> {
    c.authorize(Action::Read(Resource::Client), Scope::Client(id))?;
    Ok(Json(s.store.get_client(id).await?))
}

/// Replaces a client's name and contract.
#[utoipa::path(put, path = "/api/v1/clients/{id}", tag = "clients", params(("id" = ClientId, Path)), request_body = ClientInput,
    responses((status = 200, body = Client)))]
async fn update_client(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<ClientId>,
    ApiJson(input): ApiJson<ClientInput>,
) -> ApiResult<Json<Client>> {
    c.authorize(Action::Write(Resource::Client), Scope::Client(id))?;
    let before = s.store.get_client(id).await?;
    let after = s.store.update_client(id, &input, s.clock.now()).await?;
    c.note("before", serde_json::to_value(&before).unwrap_or_default());
    c.note("after", serde_json::to_value(&after).unwrap_or_default());
    Ok(Json(after))
}

/// Archives a client (nothing is deleted).
#[utoipa::path(post, path = "/api/v1/clients/{id}/archive", tag = "clients", params(("id" = ClientId, Path)), responses((status = 204)))]
async fn archive_client(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<ClientId>,
) -> ApiResult<StatusCode> {
    c.authorize(Action::Write(Resource::Client), Scope::Client(id))?;
    archive(&s, Archivable::Client(id), true).await
}

/// Restores an archived client.
#[utoipa::path(post, path = "/api/v1/clients/{id}/restore", tag = "clients", params(("id" = ClientId, Path)), responses((status = 204)))]
async fn restore_client(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<ClientId>,
) -> ApiResult<StatusCode> {
    c.authorize(Action::Write(Resource::Client), Scope::Client(id))?;
    archive(&s, Archivable::Client(id), false).await
}

// ---- contacts ----

/// A client's contacts.
#[utoipa::path(get, path = "/api/v1/clients/{id}/contacts", tag = "contacts", params(("id" = ClientId, Path), ListParams),
    responses((status = 200, body = ListResponse<Contact>)))]
async fn list_contacts(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<ClientId>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<JsonBytes> {
    c.authorize(Action::Read(Resource::Contact), Scope::Client(id))?;
    let (mut q, _) = p.query(&c)?;
    q.client = Some(id);
    s.list_page("contacts", &q, s.store.list_contacts(&q)).await
}

/// Adds a contact to a client.
#[utoipa::path(post, path = "/api/v1/clients/{id}/contacts", tag = "contacts", params(("id" = ClientId, Path)), request_body = ContactInput,
    responses((status = 201, body = Contact)))]
async fn create_contact(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<ClientId>,
    ApiJson(input): ApiJson<ContactInput>,
) -> ApiResult<Created<Contact>> {
    c.authorize(Action::Write(Resource::Contact), Scope::Client(id))?;
    Ok((
        StatusCode::CREATED,
        Json(s.store.create_contact(id, &input, s.clock.now()).await?),
    ))
}

/// One contact.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts", params(("id" = ContactId, Path)), responses((status = 200, body = Contact)))]
async fn get_contact(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<ContactId>,
) -> ApiResult<Json<Contact>> {
    let contact = s.store.get_contact(id).await?;
    c.authorize(
        Action::Read(Resource::Contact),
        Scope::Client(contact.client_id),
    )?;
    Ok(Json(contact))
}

/// Replaces a contact's details.
#[utoipa::path(put, path = "/api/v1/contacts/{id}", tag = "contacts", params(("id" = ContactId, Path)), request_body = ContactInput,
    responses((status = 200, body = Contact)))]
async fn update_contact(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<ContactId>,
    ApiJson(input): ApiJson<ContactInput>,
) -> ApiResult<Json<Contact>> {
    let contact = s.store.get_contact(id).await?;
    c.authorize(
        Action::Write(Resource::Contact),
        Scope::Client(contact.client_id),
    )?;
    let after = s.store.update_contact(id, &input, s.clock.now()).await?;
    c.note("before", serde_json::to_value(&contact).unwrap_or_default());
    c.note("after", serde_json::to_value(&after).unwrap_or_default());
    Ok(Json(after))
}

/// Archives a contact.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/archive", tag = "contacts", params(("id" = ContactId, Path)), responses((status = 204)))]
async fn archive_contact(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<ContactId>,
) -> ApiResult<StatusCode> {
    let contact = s.store.get_contact(id).await?;
    c.authorize(
        Action::Write(Resource::Contact),
        Scope::Client(contact.client_id),
    )?;
    archive(&s, Archivable::Contact(id), true).await
}

// ---- sites ----

/// Lists sites, filtered by client if asked (client users see only their own).
#[utoipa::path(get, path = "/api/v1/sites", tag = "sites", params(ListParams), responses((status = 200, body = ListResponse<Site>)))]
async fn list_sites(
    State(s): State<AppState>,
    c: Caller,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<JsonBytes> {
    let (q, scope) = p.query(&c)?;
    c.authorize(Action::Read(Resource::Site), scope)?;
    s.list_page("sites", &q, s.store.list_sites(&q)).await
}

/// Creates a site for a client.
#[utoipa::path(post, path = "/api/v1/sites", tag = "sites", request_body = NewSite, responses((status = 201, body = Site)))]
async fn create_site(
    State(s): State<AppState>,
    c: Caller,
    ApiJson(input): ApiJson<NewSite>,
) -> ApiResult<Created<Site>> {
    c.authorize(
        Action::Write(Resource::Site),
        Scope::Client(input.client_id),
    )?;
    Ok((
        StatusCode::CREATED,
        Json(s.store.create_site(&input, s.clock.now()).await?),
    ))
}

/// One site.
#[utoipa::path(get, path = "/api/v1/sites/{id}", tag = "sites", params(("id" = SiteId, Path)), responses((status = 200, body = Site)))]
async fn get_site(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<SiteId>,
) -> ApiResult<Json<Site>> {
    let site = s.store.get_site(id).await?;
    c.authorize(Action::Read(Resource::Site), Scope::Client(site.client_id))?;
    Ok(Json(site))
}

/// Replaces a site's name and URL.
#[utoipa::path(put, path = "/api/v1/sites/{id}", tag = "sites", params(("id" = SiteId, Path)), request_body = SiteUpdate,
    responses((status = 200, body = Site)))]
async fn update_site(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<SiteId>,
    ApiJson(input): ApiJson<SiteUpdate>,
) -> ApiResult<Json<Site>> {
    let site = s.store.get_site(id).await?;
    c.authorize(Action::Write(Resource::Site), Scope::Client(site.client_id))?;
    Ok(Json(s.store.update_site(id, &input, s.clock.now()).await?))
}

/// Archives a site.
#[utoipa::path(post, path = "/api/v1/sites/{id}/archive", tag = "sites", params(("id" = SiteId, Path)), responses((status = 204)))]
async fn archive_site(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<SiteId>,
) -> ApiResult<StatusCode> {
    let site = s.store.get_site(id).await?;
    c.authorize(Action::Write(Resource::Site), Scope::Client(site.client_id))?;
    archive(&s, Archivable::Site(id), true).await
}

/// Restores an archived site.
#[utoipa::path(post, path = "/api/v1/sites/{id}/restore", tag = "sites", params(("id" = SiteId, Path)), responses((status = 204)))]
async fn restore_site(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<SiteId>,
) -> ApiResult<StatusCode> {
    let site = s.store.get_site(id).await?;
    c.authorize(Action::Write(Resource::Site), Scope::Client(site.client_id))?;
    archive(&s, Archivable::Site(id), false).await
}

/// A site's environments in promotion order.
#[utoipa::path(get, path = "/api/v1/sites/{id}/environments", tag = "environments", params(("id" = SiteId, Path)),
    responses((status = 200, body = Vec<Environment>)))]
async fn site_environments(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<SiteId>,
) -> ApiResult<Json<Vec<Environment>>> {
    let site = s.store.get_site(id).await?;
    c.authorize(
        Action::Read(Resource::Environment),
        Scope::Client(site.client_id),
    )?;
    Ok(Json(s.store.site_environments(id, false).await?))
}

// ---- environments ----

/// Lists environments across sites.
#[utoipa::path(get, path = "/api/v1/environments", tag = "environments", params(ListParams),
    responses((status = 200, body = ListResponse<Environment>)))]
async fn list_environments(
    State(s): State<AppState>,
    c: Caller,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<JsonBytes> {
    let (q, scope) = p.query(&c)?;
    c.authorize(Action::Read(Resource::Environment), scope)?;
    s.list_page("environments", &q, s.store.list_environments(&q))
        .await
}

/// Adds an environment to a site.
#[utoipa::path(post, path = "/api/v1/environments", tag = "environments", request_body = NewEnvironment,
    responses((status = 201, body = Environment)))]
async fn create_environment(
    State(s): State<AppState>,
    c: Caller,
    ApiJson(input): ApiJson<NewEnvironment>,
) -> ApiResult<Created<Environment>> {
    let site = match s.store.get_site(input.site_id).await {
        Ok(site) => site,
        Err(palisade_store::StoreError::NotFound) => {
            return Err(palisade_core::FieldError::new("site_id", "no such site").into());
        }
        Err(e) => return Err(e.into()),
    };
    c.authorize(
        Action::Write(Resource::Environment),
        Scope::Client(site.client_id),
    )?;
    Ok((
        StatusCode::CREATED,
        Json(s.store.create_environment(&input, s.clock.now()).await?),
    ))
}

/// One environment.
#[utoipa::path(get, path = "/api/v1/environments/{id}", tag = "environments", params(("id" = EnvironmentId, Path)),
    responses((status = 200, body = Environment)))]
async fn get_environment(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<EnvironmentId>,
) -> ApiResult<Json<Environment>> {
    let env = s.store.get_environment(id).await?;
    c.authorize(
        Action::Read(Resource::Environment),
        Scope::Client(env.client_id),
    )?;
    Ok(Json(env))
}

/// Replaces an environment's fields.
#[utoipa::path(put, path = "/api/v1/environments/{id}", tag = "environments", params(("id" = EnvironmentId, Path)),
    request_body = EnvironmentUpdate, responses((status = 200, body = Environment)))]
async fn update_environment(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<EnvironmentId>,
    ApiJson(input): ApiJson<EnvironmentUpdate>,
) -> ApiResult<Json<Environment>> {
    let env = s.store.get_environment(id).await?;
    c.authorize(
        Action::Write(Resource::Environment),
        Scope::Client(env.client_id),
    )?;
    Ok(Json(
        s.store
            .update_environment(id, &input, s.clock.now())
            .await?,
    ))
}

/// Archives an environment.
#[utoipa::path(post, path = "/api/v1/environments/{id}/archive", tag = "environments", params(("id" = EnvironmentId, Path)),
    responses((status = 204)))]
async fn archive_environment(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<EnvironmentId>,
) -> ApiResult<StatusCode> {
    let env = s.store.get_environment(id).await?;
    c.authorize(
        Action::Write(Resource::Environment),
        Scope::Client(env.client_id),
    )?;
    archive(&s, Archivable::Environment(id), true).await
}

// ---- hosts ----

/// Lists hosts (client users see only hosts dedicated to them).
#[utoipa::path(get, path = "/api/v1/hosts", tag = "hosts", params(ListParams), responses((status = 200, body = ListResponse<Host>)))]
async fn list_hosts(
    State(s): State<AppState>,
    c: Caller,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<JsonBytes> {
    let (q, scope) = p.query(&c)?;
    c.authorize(Action::Read(Resource::Host), scope)?;
    s.list_page("hosts", &q, s.store.list_hosts(&q)).await
}

/// Registers a host.
#[utoipa::path(post, path = "/api/v1/hosts", tag = "hosts", request_body = HostInput, responses((status = 201, body = Host)))]
async fn create_host(
    State(s): State<AppState>,
    c: Caller,
    ApiJson(input): ApiJson<HostInput>,
) -> ApiResult<Created<Host>> {
    c.authorize(Action::Write(Resource::Host), host_scope(input.client_id))?;
    Ok((
        StatusCode::CREATED,
        Json(s.store.create_host(&input, s.clock.now()).await?),
    ))
}

/// One host.
#[utoipa::path(get, path = "/api/v1/hosts/{id}", tag = "hosts", params(("id" = HostId, Path)), responses((status = 200, body = Host)))]
async fn get_host(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<HostId>,
) -> ApiResult<Json<Host>> {
    let host = s.store.get_host(id).await?;
    c.authorize(Action::Read(Resource::Host), host_scope(host.client_id))?;
    Ok(Json(host))
}

/// Replaces a host's fields and the environments it serves.
#[utoipa::path(put, path = "/api/v1/hosts/{id}", tag = "hosts", params(("id" = HostId, Path)), request_body = HostInput,
    responses((status = 200, body = Host)))]
async fn update_host(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<HostId>,
    ApiJson(input): ApiJson<HostInput>,
) -> ApiResult<Json<Host>> {
    let host = s.store.get_host(id).await?;
    c.authorize(Action::Write(Resource::Host), host_scope(host.client_id))?;
    c.authorize(Action::Write(Resource::Host), host_scope(input.client_id))?;
    Ok(Json(s.store.update_host(id, &input, s.clock.now()).await?))
}

/// Archives a host.
#[utoipa::path(post, path = "/api/v1/hosts/{id}/archive", tag = "hosts", params(("id" = HostId, Path)), responses((status = 204)))]
async fn archive_host(
    State(s): State<AppState>,
    c: Caller,
    ApiPath(id): ApiPath<HostId>,
) -> ApiResult<StatusCode> {
    let host = s.store.get_host(id).await?;
    c.authorize(Action::Write(Resource::Host), host_scope(host.client_id))?;
    archive(&s, Archivable::Host(id), true).await
}
