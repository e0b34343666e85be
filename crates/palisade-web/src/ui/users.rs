//! The user list for managers, super admins and auditors, and the super admin's forms: create a
//! user, disable or enable one, sign one out everywhere. The work is the API's own functions.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use palisade_core::policy::{self, Action, Resource, Scope};
use palisade_core::tenant::Client;
use palisade_core::user::{NewUser, User};
use palisade_core::validate::Validate;
use palisade_core::{ClientId, FieldError, Role, UserId};
use palisade_store::{ListQuery, MAX_PAGE_SIZE};

use super::pages::PageQuery;
use super::{Posted, Shell, UiError, UiResult, Visitor, render};
use crate::AppState;
use crate::api::ListResponse;

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    shell: Option<Shell>,
    csrf: String,
    users: Vec<(User, String)>,
    next: Option<String>,
    can_write: bool,
    roles: Vec<(&'static str, &'static str)>,
    clients: Vec<Client>,
}

pub(crate) async fn users(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Query(p): Query<PageQuery>,
) -> UiResult {
    c.authorize(Action::Read(Resource::User), Scope::Provider)?;
    let (q, _) = crate::api::ListParams::for_page(p.cursor, None).query(&c)?;
    let page: ListResponse<User> = s.store.list_users(&q).await?.into();
    let clients = s
        .store
        .list_clients(&ListQuery {
            limit: MAX_PAGE_SIZE,
            ..Default::default()
        })
        .await?
        .items;
    let name_of = |id: Option<ClientId>| {
        id.map(|id| {
            clients
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.name.clone())
                .unwrap_or_else(|| id.to_string())
        })
        .unwrap_or_default()
    };
    let users = page
        .items
        .iter()
        .map(|u| (u.clone(), name_of(u.client_id)))
        .collect();
    Ok(render(&UsersPage {
        shell: Shell::of(&c),
        csrf: c.csrf(),
        next: page.next_cursor,
        users,
        can_write: policy::authorize(&c.principal, Action::Write(Resource::User), Scope::Provider)
            .is_ok(),
        roles: Role::ALL.iter().map(|r| (r.as_str(), r.label())).collect(),
        clients,
    }))
}

pub(crate) async fn create_user(
    State(s): State<AppState>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    let bad = |e: FieldError| UiError::from(e).with_back("/users");
    let role: Role = form
        .get("role")
        .parse()
        .map_err(|_| bad(FieldError::new("role", "choose a role from the list")))?;
    let client_id = match form.opt("client_id") {
        Some(id) => Some(id.parse().map_err(|_| {
            bad(FieldError::new(
                "client_id",
                "choose a client from the list",
            ))
        })?),
        None => None,
    };
    let input = NewUser {
        email: form.get("email").trim().to_owned(),
        display_name: form.get("display_name").to_owned(),
        role,
        client_id,
        password: form.get("password").to_owned(),
    };
    input.validate().map_err(bad)?;
    crate::api::add_user(&s, &c, input)
        .await
        .map_err(|e| UiError::from(e).with_back("/users"))?;
    Ok(Redirect::to("/users").into_response())
}

pub(crate) async fn disable_user(
    State(s): State<AppState>,
    Path(id): Path<UserId>,
    p: Posted,
) -> UiResult {
    crate::api::set_disabled(&s, &p.caller, id, true)
        .await
        .map_err(|e| UiError::from(e).with_back("/users"))?;
    Ok(Redirect::to("/users").into_response())
}

pub(crate) async fn enable_user(
    State(s): State<AppState>,
    Path(id): Path<UserId>,
    p: Posted,
) -> UiResult {
    crate::api::set_disabled(&s, &p.caller, id, false).await?;
    Ok(Redirect::to("/users").into_response())
}

pub(crate) async fn revoke_sessions(
    State(s): State<AppState>,
    Path(id): Path<UserId>,
    p: Posted,
) -> UiResult {
    crate::api::revoke_sessions(&s, &p.caller, id).await?;
    Ok(Redirect::to("/users").into_response())
}
