//! `CampaignStore` on both backends. Every write is one transaction of statements (`write_tx`):
//! a campaign start opens a thousand tickets in the same commit as the campaign's new state, so a
//! crash leaves either no customer told or every one, and a step stores the environment, its
//! timeline entry and the customer's message together. Compare-and-swap on `version` columns
//! refuses a change made against a row someone else changed meanwhile.

use async_trait::async_trait;
use palisade_campaign::{Campaign, CampaignClient, CampaignEnv, CampaignEvent};
use palisade_core::{CampaignId, ClientId, EnvironmentId};
use palisade_store::{
    CampaignStore, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, StepWrite, StoreError, StoreResult,
    TicketOpening, TicketUpdate,
};

use crate::SqlStore;
use crate::desk::{Stamper, ticket_insert, ticket_update};
use crate::reader::{Arg, Stmt, args};
use crate::rows::{json, micros, opt_ts, parse, row, ts};

const CAMPAIGN_COLS: &str = "id, title, advisory, aliases, summary, severity, state, \
     source_ticket, created_by, created_at, started_at, finished_at, version";
const CLIENT_COLS: &str =
    "campaign_id, client_id, client_name, rank, planned_for, ticket_id, done_at";
const ENV_COLS: &str = "campaign_id, environment_id, client_id, site_id, site_name, \
     environment_name, kind, position, step, tests_passed, packages, priority, exception, updated_at, version";
const EVENT_COLS: &str = "id, campaign_id, client_id, environment_id, at, actor, kind, detail";

row!(CampaignRow {
    id: String,
    title: String,
    advisory: String,
    aliases: String,
    summary: String,
    severity: String,
    state: String,
    source_ticket: Option<String>,
    created_by: String,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    version: i64,
});

row!(ClientRow {
    campaign_id: String,
    client_id: String,
    client_name: String,
    rank: i64,
    planned_for: Option<String>,
    ticket_id: Option<String>,
    done_at: Option<i64>,
});

row!(EnvRow {
    campaign_id: String,
    environment_id: String,
    client_id: String,
    site_id: String,
    site_name: String,
    environment_name: String,
    kind: String,
    position: i64,
    step: String,
    tests_passed: bool,
    packages: String,
    priority: i64,
    exception: Option<String>,
    updated_at: i64,
    version: i64,
});

row!(EventRow {
    id: String,
    campaign_id: String,
    client_id: Option<String>,
    environment_id: Option<String>,
    at: i64,
    actor: Option<String>,
    kind: String,
    detail: String,
});

fn version(what: &str, v: i64) -> StoreResult<u32> {
    u32::try_from(v).map_err(|e| StoreError::Corrupt(format!("{what} version {v}: {e}")))
}

fn opt_parse<T: std::str::FromStr>(what: &str, s: Option<&str>) -> StoreResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    s.map(|s| parse(what, s)).transpose()
}

impl TryFrom<CampaignRow> for Campaign {
    type Error = StoreError;
    fn try_from(r: CampaignRow) -> StoreResult<Campaign> {
        Ok(Campaign {
            id: parse("campaign id", &r.id)?,
            title: r.title,
            advisory: r.advisory,
            aliases: json("campaign aliases", &r.aliases)?,
            summary: r.summary,
            severity: r.severity,
            state: parse("campaign state", &r.state)?,
            source_ticket: opt_parse("ticket id", r.source_ticket.as_deref())?,
            created_by: parse("user id", &r.created_by)?,
            created_at: ts(r.created_at)?,
            started_at: opt_ts(r.started_at)?,
            finished_at: opt_ts(r.finished_at)?,
            version: version("campaign", r.version)?,
        })
    }
}

impl TryFrom<ClientRow> for CampaignClient {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> StoreResult<CampaignClient> {
        Ok(CampaignClient {
            campaign_id: parse("campaign id", &r.campaign_id)?,
            client_id: parse("client id", &r.client_id)?,
            client_name: r.client_name,
            rank: version("campaign client rank", r.rank)?,
            planned_for: opt_parse("planned date", r.planned_for.as_deref())?,
            ticket_id: opt_parse("ticket id", r.ticket_id.as_deref())?,
            done_at: opt_ts(r.done_at)?,
        })
    }
}

impl TryFrom<EnvRow> for CampaignEnv {
    type Error = StoreError;
    fn try_from(r: EnvRow) -> StoreResult<CampaignEnv> {
        Ok(CampaignEnv {
            campaign_id: parse("campaign id", &r.campaign_id)?,
            environment_id: parse("environment id", &r.environment_id)?,
            client_id: parse("client id", &r.client_id)?,
            site_id: parse("site id", &r.site_id)?,
            site_name: r.site_name,
            environment_name: r.environment_name,
            kind: parse("environment kind", &r.kind)?,
            position: i32::try_from(r.position)
                .map_err(|e| StoreError::Corrupt(format!("environment position: {e}")))?,
            step: parse("campaign step", &r.step)?,
            tests_passed: r.tests_passed,
            packages: json("campaign packages", &r.packages)?,
            priority: i32::try_from(r.priority)
                .map_err(|e| StoreError::Corrupt(format!("campaign priority: {e}")))?,
            exception: r.exception,
            updated_at: ts(r.updated_at)?,
            version: version("campaign environment", r.version)?,
        })
    }
}

impl TryFrom<EventRow> for CampaignEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> StoreResult<CampaignEvent> {
        Ok(CampaignEvent {
            id: parse("campaign event id", &r.id)?,
            campaign_id: parse("campaign id", &r.campaign_id)?,
            client_id: opt_parse("client id", r.client_id.as_deref())?,
            environment_id: opt_parse("environment id", r.environment_id.as_deref())?,
            at: ts(r.at)?,
            actor: opt_parse("user id", r.actor.as_deref())?,
            kind: parse("campaign event kind", &r.kind)?,
            detail: json("campaign event detail", &r.detail)?,
        })
    }
}

fn to_json<T: serde::Serialize>(what: &str, v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn conflict(what: &str) -> StoreError {
    StoreError::Conflict(format!(
        "the {what} changed since it was read; reload it and try again"
    ))
}

fn campaign_insert(c: &Campaign) -> StoreResult<Stmt> {
    Ok(Stmt::new(
        format!(
            "INSERT INTO campaigns ({CAMPAIGN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13)"
        ),
        args![
            c.id.to_string(),
            c.title.clone(),
            c.advisory.clone(),
            to_json("campaign aliases", &c.aliases)?,
            c.summary.clone(),
            c.severity.clone(),
            c.state.as_str(),
            c.source_ticket.map(|t| t.to_string()),
            c.created_by.to_string(),
            micros(c.created_at),
            c.started_at.map(micros),
            c.finished_at.map(micros),
            i64::from(c.version)
        ],
    ))
}

fn campaign_update(c: &Campaign) -> Stmt {
    Stmt::new(
        "UPDATE campaigns SET title = $1, state = $2, started_at = $3, finished_at = $4, \
         version = $5 WHERE id = $6 AND version = $7",
        args![
            c.title.clone(),
            c.state.as_str(),
            c.started_at.map(micros),
            c.finished_at.map(micros),
            i64::from(c.version),
            c.id.to_string(),
            i64::from(c.version) - 1
        ],
    )
    .or_fail(conflict("campaign"))
}

fn client_upsert(c: &CampaignClient) -> Stmt {
    Stmt::new(
        format!(
            "INSERT INTO campaign_clients ({CLIENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (campaign_id, client_id) DO UPDATE SET rank = excluded.rank, \
             planned_for = excluded.planned_for, ticket_id = excluded.ticket_id, \
             done_at = excluded.done_at"
        ),
        args![
            c.campaign_id.to_string(),
            c.client_id.to_string(),
            c.client_name.clone(),
            i64::from(c.rank),
            c.planned_for.map(|d| d.to_string()),
            c.ticket_id.map(|t| t.to_string()),
            c.done_at.map(micros)
        ],
    )
}

fn env_insert(e: &CampaignEnv) -> StoreResult<Stmt> {
    Ok(Stmt::new(
        format!(
            "INSERT INTO campaign_envs ({ENV_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15)"
        ),
        args![
            e.campaign_id.to_string(),
            e.environment_id.to_string(),
            e.client_id.to_string(),
            e.site_id.to_string(),
            e.site_name.clone(),
            e.environment_name.clone(),
            e.kind.as_str(),
            i64::from(e.position),
            e.step.as_str(),
            e.tests_passed,
            to_json("campaign packages", &e.packages)?,
            i64::from(e.priority),
            e.exception.clone(),
            micros(e.updated_at),
            i64::from(e.version)
        ],
    ))
}

fn env_update(e: &CampaignEnv) -> Stmt {
    Stmt::new(
        "UPDATE campaign_envs SET step = $1, tests_passed = $2, exception = $3, updated_at = $4, \
         version = $5 WHERE campaign_id = $6 AND environment_id = $7 AND version = $8",
        args![
            e.step.as_str(),
            e.tests_passed,
            e.exception.clone(),
            micros(e.updated_at),
            i64::from(e.version),
            e.campaign_id.to_string(),
            e.environment_id.to_string(),
            i64::from(e.version) - 1
        ],
    )
    .or_fail(conflict("campaign environment"))
}

fn event_insert(e: &CampaignEvent) -> StoreResult<Stmt> {
    Ok(Stmt::new(
        format!(
            "INSERT INTO campaign_events ({EVENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ),
        args![
            e.id.to_string(),
            e.campaign_id.to_string(),
            e.client_id.map(|c| c.to_string()),
            e.environment_id.map(|v| v.to_string()),
            micros(e.at),
            e.actor.map(|a| a.to_string()),
            e.kind.as_str(),
            to_json("campaign event detail", &e.detail)?
        ],
    ))
}

impl SqlStore {
    async fn ticket_statements(
        &self,
        openings: &[TicketOpening],
        updates: &[TicketUpdate],
        out: &mut Vec<Stmt>,
    ) -> StoreResult<()> {
        let mut stamper = Stamper::default();
        for (t, created) in openings {
            if created.seq != 1 || created.ticket_id != t.id {
                return Err(StoreError::Invalid(palisade_core::FieldError::new(
                    "seq",
                    "the created event must be the ticket's first",
                )));
            }
            let sla = stamper
                .stamp(self, t.client_id, std::slice::from_ref(created))
                .await?;
            out.push(ticket_insert(t, false, &sla));
            out.push(self.event_insert(created)?);
        }
        for (t, events) in updates {
            let appended = u32::try_from(events.len()).unwrap_or(u32::MAX);
            let sla = stamper.stamp_after(self, t, events).await?;
            out.push(ticket_update(t, appended, &sla));
            for e in events {
                out.push(self.event_insert(e)?);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl CampaignStore for SqlStore {
    async fn create_campaign(
        &self,
        c: &Campaign,
        clients: &[CampaignClient],
        envs: &[CampaignEnv],
        event: &CampaignEvent,
    ) -> StoreResult<()> {
        let mut s = vec![campaign_insert(c)?];
        s.extend(clients.iter().map(client_upsert));
        for e in envs {
            s.push(env_insert(e)?);
        }
        s.push(event_insert(event)?);
        self.write_tx(s).await
    }

    async fn get_campaign(&self, id: CampaignId) -> StoreResult<Campaign> {
        let sql = format!("SELECT {CAMPAIGN_COLS} FROM campaigns WHERE id = $1");
        let row: CampaignRow = self.read_one(&sql, args![id.to_string()]).await?;
        row.try_into()
    }

    async fn list_campaigns(
        &self,
        client: Option<ClientId>,
        after: Option<CampaignId>,
        limit: u32,
    ) -> StoreResult<Page<Campaign>> {
        let mut a: Vec<Arg> = Vec::new();
        let mut terms = Vec::new();
        if let Some(c) = client {
            a.push(Arg::from(c.to_string()));
            terms.push(format!(
                "id IN (SELECT campaign_id FROM campaign_clients WHERE client_id = ${})",
                a.len()
            ));
        }
        if let Some(after) = after {
            a.push(Arg::from(after.to_string()));
            terms.push(format!("id < ${}", a.len()));
        }
        let size = match limit {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        a.push(Arg::from(i64::from(size) + 1));
        let filter = if terms.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", terms.join(" AND "))
        };
        let sql = format!(
            "SELECT {CAMPAIGN_COLS} FROM campaigns {filter} ORDER BY id DESC LIMIT ${}",
            a.len()
        );
        let rows: Vec<CampaignRow> = self.read_all(&sql, a).await?;
        let more = rows.len() > size as usize;
        let items: Vec<Campaign> = rows
            .into_iter()
            .take(size as usize)
            .map(Campaign::try_from)
            .collect::<StoreResult<_>>()?;
        let next_after = if more {
            items.last().map(|c| c.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_after })
    }

    async fn campaign_clients(&self, id: CampaignId) -> StoreResult<Vec<CampaignClient>> {
        let sql = format!(
            "SELECT {CLIENT_COLS} FROM campaign_clients WHERE campaign_id = $1 \
             ORDER BY rank, client_id"
        );
        let rows: Vec<ClientRow> = self.read_all(&sql, args![id.to_string()]).await?;
        rows.into_iter().map(CampaignClient::try_from).collect()
    }

    async fn campaign_envs(
        &self,
        id: CampaignId,
        client: Option<ClientId>,
    ) -> StoreResult<Vec<CampaignEnv>> {
        let mut a = args![id.to_string()];
        let mut sql = format!("SELECT {ENV_COLS} FROM campaign_envs WHERE campaign_id = $1");
        if let Some(c) = client {
            a.push(Arg::from(c.to_string()));
            sql.push_str(" AND client_id = $2");
        }
        sql.push_str(" ORDER BY site_name, site_id, position, environment_id");
        let rows: Vec<EnvRow> = self.read_all(&sql, a).await?;
        rows.into_iter().map(CampaignEnv::try_from).collect()
    }

    async fn campaign_events(
        &self,
        id: CampaignId,
        client: Option<ClientId>,
    ) -> StoreResult<Vec<CampaignEvent>> {
        let mut a = args![id.to_string()];
        let mut sql = format!("SELECT {EVENT_COLS} FROM campaign_events WHERE campaign_id = $1");
        if let Some(c) = client {
            // A client sees its own entries and the campaign's start and end, not the plan (which
            // names other clients).
            a.push(Arg::from(c.to_string()));
            sql.push_str(" AND (client_id = $2 OR kind IN ('started', 'completed', 'cancelled'))");
        }
        sql.push_str(" ORDER BY id");
        let rows: Vec<EventRow> = self.read_all(&sql, a).await?;
        rows.into_iter().map(CampaignEvent::try_from).collect()
    }

    async fn save_campaign(
        &self,
        c: &Campaign,
        clients: &[CampaignClient],
        envs: &[CampaignEnv],
        openings: &[TicketOpening],
        updates: &[TicketUpdate],
        events: &[CampaignEvent],
    ) -> StoreResult<()> {
        // Tickets before the client rows that point at them.
        let mut s = vec![campaign_update(c)];
        self.ticket_statements(openings, updates, &mut s).await?;
        s.extend(clients.iter().map(client_upsert));
        s.extend(envs.iter().map(env_update));
        for e in events {
            s.push(event_insert(e)?);
        }
        let result = self.write_tx(s).await;
        if let Err(StoreError::Conflict(_)) = &result {
            self.get_campaign(c.id).await?;
        }
        result
    }

    async fn record_step(&self, w: &StepWrite) -> StoreResult<()> {
        let mut s = vec![env_update(&w.env)];
        if let Some(c) = &w.client {
            s.push(client_upsert(c));
        }
        if let Some(c) = &w.campaign {
            s.push(campaign_update(c));
        }
        let updates: Vec<TicketUpdate> = w.ticket.iter().cloned().collect();
        self.ticket_statements(&[], &updates, &mut s).await?;
        for e in &w.events {
            s.push(event_insert(e)?);
        }
        self.write_tx(s).await
    }

    async fn active_campaign_envs(&self, env: EnvironmentId) -> StoreResult<Vec<CampaignEnv>> {
        let cols = ENV_COLS
            .split(", ")
            .map(|c| format!("e.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols} FROM campaign_envs e JOIN campaigns c ON c.id = e.campaign_id \
             WHERE e.environment_id = $1 AND c.state = 'active' ORDER BY e.campaign_id"
        );
        let rows: Vec<EnvRow> = self.read_all(&sql, args![env.to_string()]).await?;
        rows.into_iter().map(CampaignEnv::try_from).collect()
    }
}
