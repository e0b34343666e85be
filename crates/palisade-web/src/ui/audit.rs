//! The audit log page: a search form (actor, record, action, kind, time) over the same query as
//! `GET /api/v1/audit/events`, the state of sealing and shipping for staff, and for client users
//! "Activity": everything that concerns their organisation, staff access to their data included,
//! in plain words.

use askama::Template;
use axum::extract::{Query, State};
use jiff::Timestamp;
use palisade_core::policy::{Action, Resource};

use super::{Shell, UiResult, Visitor, render};
use crate::AppState;
use crate::api::audit::{AuditEventView, AuditParams, AuditStatus, status};

/// The page's form fields; empty fields are absent filters.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct AuditForm {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    object: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    cursor: String,
}

/// One row, already worded for the page.
struct Row {
    at: String,
    who: String,
    what: String,
    object: String,
    outcome: String,
    kind: &'static str,
    id: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    shell: Option<Shell>,
    staff: bool,
    form: AuditForm,
    rows: Vec<Row>,
    /// The query string of the next page: the same filters, an older cursor.
    next: Option<String>,
    status: Option<AuditStatus>,
    error: Option<String>,
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn time(s: &str) -> Result<Option<Timestamp>, String> {
    let Some(t) = opt(s) else { return Ok(None) };
    // A date alone means its start, in UTC.
    let full = if t.len() == 10 {
        format!("{t}T00:00:00Z")
    } else {
        t.clone()
    };
    full.parse()
        .map(Some)
        .map_err(|_| format!("{t:?} is not a date (2026-12-04) or a time (2026-12-04T10:00:00Z)"))
}

fn row(e: AuditEventView) -> Row {
    let status = e.data.get("status").and_then(serde_json::Value::as_u64);
    let outcome = match status {
        Some(s) if s < 400 => "done".to_owned(),
        Some(401) => "not signed in".to_owned(),
        Some(403) => "refused".to_owned(),
        Some(404) => "not found".to_owned(),
        Some(s) => format!("failed ({s})"),
        None => String::new(),
    };
    Row {
        at: e.at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        who: e.actor.unwrap_or_else(|| "anonymous".into()),
        what: e.action,
        object: e.object.unwrap_or_default(),
        outcome,
        kind: match e.kind {
            palisade_audit::EventKind::Request => "read",
            palisade_audit::EventKind::Change => "change",
            palisade_audit::EventKind::Security => "security",
            palisade_audit::EventKind::System => "system",
        },
        id: e.id.to_string(),
    }
}

pub(crate) async fn page(
    State(s): State<AppState>,
    Visitor(c): Visitor,
    Query(form): Query<AuditForm>,
) -> UiResult {
    let staff = c.principal.role.is_staff();
    let (from, to) = match (time(&form.from), time(&form.to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => {
            return Ok(render(&AuditPage {
                shell: Shell::of(&c),
                staff,
                form,
                rows: Vec::new(),
                next: None,
                status: None,
                error: Some(e),
            }));
        }
    };
    let params = AuditParams {
        limit: Some(100),
        cursor: opt(&form.cursor),
        actor: opt(&form.actor),
        client_id: None,
        object: opt(&form.object),
        action: opt(&form.action),
        kind: opt(&form.kind),
        from,
        to,
    };
    let (q, scope) = params.query(&c)?;
    c.authorize(Action::Read(Resource::AuditLog), scope)?;
    let page_size = q.limit as usize - 1;
    let mut items = s.store.search_audit(&q).await?;
    let next = (items.len() > page_size).then(|| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("cursor", &items[page_size - 1].seq.to_string())
            .append_pair("actor", &form.actor)
            .append_pair("object", &form.object)
            .append_pair("action", &form.action)
            .append_pair("kind", &form.kind)
            .append_pair("from", &form.from)
            .append_pair("to", &form.to)
            .finish()
    });
    items.truncate(page_size);
    let status = if staff { Some(status(&s).await?) } else { None };
    Ok(render(&AuditPage {
        shell: Shell::of(&c),
        staff,
        rows: items
            .into_iter()
            .map(AuditEventView::from)
            .map(row)
            .collect(),
        next,
        status,
        form,
        error: None,
    }))
}
