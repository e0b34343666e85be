//! Pages and forms that change one existing record: a site's name and URL, an environment (with
//! its own page), a host (with its own page), and archiving contacts, environments and hosts.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use palisade_core::policy::{self, Action, Resource, Scope};
use palisade_core::tenant::*;
use palisade_core::validate::Validate;
use palisade_core::{ContactId, EnvironmentId, FieldError, HostId, SiteId};
use palisade_store::Archivable;

use super::{Posted, Shell, UiError, UiResult, Visitor, render};
use crate::AppState;
use crate::auth::Caller;

fn host_scope(host: &Host) -> Scope {
    host.client_id.map(Scope::Client).unwrap_or(Scope::Provider)
}

async fn archive(s: &AppState, what: Archivable, back: String) -> UiResult {
    let now = s.clock.now();
    s.store.set_archived(what, Some(now), now).await?;
    Ok(Redirect::to(&back).into_response())
}

pub(crate) async fn update_site(
    State(s): State<AppState>,
    Path(id): Path<SiteId>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    let site = s.store.get_site(id).await?;
    c.authorize(Action::Write(Resource::Site), Scope::Client(site.client_id))?;
    let back = format!("/sites/{id}");
    let input = SiteUpdate {
        name: form.get("name").to_owned(),
        url: form.get("url").trim().to_owned(),
    };
    input
        .validate()
        .map_err(|e| UiError::from(e).with_back(back.clone()))?;
    s.store.update_site(id, &input, s.clock.now()).await?;
    Ok(Redirect::to(&back).into_response())
}

pub(crate) async fn archive_contact(
    State(s): State<AppState>,
    Path(id): Path<ContactId>,
    Posted { caller: c, .. }: Posted,
) -> UiResult {
    let contact = s.store.get_contact(id).await?;
    c.authorize(
        Action::Write(Resource::Contact),
        Scope::Client(contact.client_id),
    )?;
    archive(
        &s,
        Archivable::Contact(id),
        format!("/clients/{}", contact.client_id),
    )
    .await
}

#[derive(Template)]
#[template(path = "environment.html")]
struct EnvironmentPage {
    shell: Option<Shell>,
    csrf: String,
    env: Environment,
    site: Site,
    kinds: Vec<(&'static str, bool)>,
    /// Its newest inventories, when the visitor may read them.
    snapshots: Option<Vec<super::fleet::SnapshotRow>>,
    can_write: bool,
}

pub(crate) async fn environment(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Path(id): Path<EnvironmentId>,
) -> UiResult {
    let env = s.store.get_environment(id).await?;
    let scope = Scope::Client(env.client_id);
    c.authorize(Action::Read(Resource::Environment), scope)?;
    let site = s.store.get_site(env.site_id).await?;
    let snapshots = super::fleet::env_snapshots(&s, &c, &env).await?;
    Ok(render(&EnvironmentPage {
        shell: Shell::of(&c),
        snapshots,
        csrf: c.csrf(),
        kinds: EnvironmentKind::ALL
            .iter()
            .map(|k| (k.as_str(), *k == env.kind))
            .collect(),
        can_write: policy::authorize(&c.principal, Action::Write(Resource::Environment), scope)
            .is_ok(),
        env,
        site,
    }))
}

pub(crate) async fn update_environment(
    State(s): State<AppState>,
    Path(id): Path<EnvironmentId>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    let env = s.store.get_environment(id).await?;
    c.authorize(
        Action::Write(Resource::Environment),
        Scope::Client(env.client_id),
    )?;
    let back = format!("/environments/{id}");
    let bad = |e: FieldError| UiError::from(e).with_back(back.clone());
    let kind: EnvironmentKind =
        form.get("kind")
            .parse()
            .map_err(|e: palisade_core::tenant::UnknownName| {
                bad(FieldError::new("kind", e.to_string()))
            })?;
    let position = form
        .get("position")
        .trim()
        .parse()
        .map_err(|_| bad(FieldError::new("position", "must be a whole number")))?;
    let input = EnvironmentUpdate {
        kind,
        name: form.get("name").to_owned(),
        url: form.opt("url"),
        position,
    };
    input.validate().map_err(bad)?;
    s.store
        .update_environment(id, &input, s.clock.now())
        .await
        .map_err(|e| UiError::from(e).with_back(back.clone()))?;
    Ok(Redirect::to(&back).into_response())
}

pub(crate) async fn archive_environment(
    State(s): State<AppState>,
    Path(id): Path<EnvironmentId>,
    Posted { caller: c, .. }: Posted,
) -> UiResult {
    let env = s.store.get_environment(id).await?;
    c.authorize(
        Action::Write(Resource::Environment),
        Scope::Client(env.client_id),
    )?;
    archive(
        &s,
        Archivable::Environment(id),
        format!("/sites/{}", env.site_id),
    )
    .await
}

#[derive(Template)]
#[template(path = "host.html")]
struct HostPage {
    shell: Option<Shell>,
    csrf: String,
    host: Host,
    can_write: bool,
}

async fn visible_host(
    s: &AppState,
    c: &Caller,
    id: HostId,
    action: Action,
) -> Result<Host, UiError> {
    let host = s.store.get_host(id).await?;
    c.authorize(action, host_scope(&host))?;
    Ok(host)
}

pub(crate) async fn host(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Path(id): Path<HostId>,
) -> UiResult {
    let host = visible_host(&s, &c, id, Action::Read(Resource::Host)).await?;
    Ok(render(&HostPage {
        shell: Shell::of(&c),
        csrf: c.csrf(),
        can_write: policy::authorize(
            &c.principal,
            Action::Write(Resource::Host),
            host_scope(&host),
        )
        .is_ok(),
        host,
    }))
}

pub(crate) async fn update_host(
    State(s): State<AppState>,
    Path(id): Path<HostId>,
    Posted { caller: c, form }: Posted,
) -> UiResult {
    let host = visible_host(&s, &c, id, Action::Write(Resource::Host)).await?;
    let back = format!("/hosts/{id}");
    // The form edits what a person changes by hand; ownership and served environments are kept.
    let input = HostInput {
        client_id: host.client_id,
        name: form.get("name").trim().to_owned(),
        addresses: form.list("addresses"),
        os: form.get("os").to_owned(),
        environment_ids: host.environment_ids,
    };
    input
        .validate()
        .map_err(|e| UiError::from(e).with_back(back.clone()))?;
    s.store
        .update_host(id, &input, s.clock.now())
        .await
        .map_err(|e| UiError::from(e).with_back(back.clone()))?;
    Ok(Redirect::to(&back).into_response())
}

pub(crate) async fn archive_host(
    State(s): State<AppState>,
    Path(id): Path<HostId>,
    Posted { caller: c, .. }: Posted,
) -> UiResult {
    visible_host(&s, &c, id, Action::Write(Resource::Host)).await?;
    archive(&s, Archivable::Host(id), "/hosts".into()).await
}
