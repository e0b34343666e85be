//! `DeskStore` on both backends: tickets and their timelines. A ticket and its first event, or an
//! event and the ticket's new row, are written in one transaction by `write_tx`; the ticket's
//! `version` is the compare-and-swap that makes appends safe against concurrent agents. Event
//! bodies are sealed with the keyring at the row boundary (`sealed.rs`), bound to the event's ID.

use async_trait::async_trait;
use jiff::Timestamp;
use palisade_core::{ClientId, TicketId};
use palisade_desk::billing::WorkLog;
use palisade_desk::ticket::{NewTicket, Ticket, TimelineEvent, parse_priority, priority_str};
use palisade_store::{
    DEFAULT_PAGE_SIZE, DeskStore, MAX_PAGE_SIZE, Page, StoreError, StoreResult, TicketQuery,
};

use crate::SqlStore;
use crate::reader::{Arg, Stmt, args};
use crate::rows::{json, micros, parse, row, ts};
use crate::sealed::{open_text, seal};

/// How often opening a ticket is retried after losing the race for a number: each round at
/// least one of the racers wins, so this bounds how many tickets may be opened at the same instant
/// before one is refused with `Conflict`.
const NUMBER_ATTEMPTS: usize = 16;

const TICKET_COLS: &str = "id, number, client_id, site_id, subject, category, priority, state, \
     version, created_at, updated_at, created_by, line, out_of_hours";

row!(TicketRow {
    id: String,
    number: i64,
    client_id: String,
    site_id: Option<String>,
    subject: String,
    category: String,
    priority: String,
    state: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
    created_by: String,
    line: String,
    out_of_hours: bool,
});

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

impl TryFrom<TicketRow> for Ticket {
    type Error = StoreError;
    fn try_from(r: TicketRow) -> Result<Self, StoreError> {
        Ok(Ticket {
            id: parse("ticket id", &r.id)?,
            number: r.number,
            client_id: parse("client id", &r.client_id)?,
            site_id: r
                .site_id
                .as_deref()
                .map(|s| parse("site id", s))
                .transpose()?,
            subject: r.subject,
            category: r
                .category
                .parse()
                .map_err(|e| corrupt("ticket category", e))?,
            priority: parse_priority(&r.priority).map_err(|e| corrupt("ticket priority", e))?,
            state: r.state.parse().map_err(|e| corrupt("ticket state", e))?,
            version: u32::try_from(r.version).map_err(|e| corrupt("ticket version", e))?,
            created_at: ts(r.created_at)?,
            updated_at: ts(r.updated_at)?,
            created_by: r
                .created_by
                .parse()
                .map_err(|e| corrupt("ticket creator", e))?,
            line: r.line.parse().map_err(|e| corrupt("ticket line", e))?,
            out_of_hours: r.out_of_hours,
        })
    }
}

row!(TicketEventRow {
    id: String,
    ticket_id: String,
    seq: i64,
    at: i64,
    actor: String,
    body: String,
    key_version: i64,
});

/// What the sealed body holds: the event's kind with its content.
type Body = palisade_desk::ticket::TimelineKind;

impl SqlStore {
    pub(crate) fn event_row(&self, r: TicketEventRow) -> StoreResult<TimelineEvent> {
        let body = open_text(
            &self.keys,
            "ticket_events",
            "body",
            &r.id,
            r.key_version,
            &r.body,
        )?;
        let kind: Body = json("ticket event body", &body)?;
        Ok(TimelineEvent {
            id: parse("ticket event id", &r.id)?,
            ticket_id: parse("ticket id", &r.ticket_id)?,
            seq: u32::try_from(r.seq).map_err(|e| corrupt("ticket event seq", e))?,
            at: ts(r.at)?,
            actor: r
                .actor
                .parse()
                .map_err(|e| corrupt("ticket event actor", e))?,
            kind,
        })
    }

    /// The insert of one event, its body sealed under the newest key.
    pub(crate) fn event_insert(&self, e: &TimelineEvent) -> StoreResult<Stmt> {
        let id = e.id.to_string();
        let body =
            serde_json::to_string(&e.kind).map_err(|err| corrupt("ticket event body", err))?;
        let ring = self.keys.current();
        let sealed = seal(&ring, "ticket_events", "body", &id, body.as_bytes());
        Ok(Stmt::new(
            "INSERT INTO ticket_events (id, ticket_id, seq, at, actor, kind, visibility, body, \
             key_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            args![
                id,
                e.ticket_id.to_string(),
                i64::from(e.seq),
                micros(e.at),
                e.actor.to_string(),
                e.kind.name(),
                e.kind.visibility().as_str(),
                sealed,
                i64::from(ring.newest())
            ],
        ))
    }
}

/// The row of a ticket being opened, numbered after the highest so far: SQLite's write lock
/// serialises this; on PostgreSQL two concurrent openings can pick the same number, and the
/// loser's unique violation (a `Conflict`) is retried by the caller.
pub(crate) fn ticket_insert(t: &NewTicket, out_of_hours: bool) -> Stmt {
    Stmt::new(
        format!(
            "INSERT INTO tickets ({TICKET_COLS}) SELECT $1, COALESCE(MAX(number), 0) + 1, $2, $3, \
             $4, $5, $6, 'new', 1, $7, $7, $8, 'first', $9 FROM tickets"
        ),
        args![
            t.id.to_string(),
            t.client_id.to_string(),
            t.site_id.map(|s| s.to_string()),
            t.subject.trim(),
            t.category.as_str(),
            priority_str(t.priority),
            micros(t.at),
            t.created_by.to_string(),
            out_of_hours
        ],
    )
}

/// The ticket's row after `appended` events: stored only if it is still at the version they
/// started from (`Conflict` otherwise).
pub(crate) fn ticket_update(t: &Ticket, appended: u32) -> Stmt {
    Stmt::new(
        "UPDATE tickets SET state = $1, priority = $2, version = $3, updated_at = $4, \
         line = $5 WHERE id = $6 AND version = $7",
        args![
            t.state.as_str(),
            priority_str(t.priority),
            i64::from(t.version),
            micros(t.updated_at),
            t.line.as_str(),
            t.id.to_string(),
            i64::from(t.version) - i64::from(appended)
        ],
    )
    .or_fail(StoreError::Conflict(
        "the ticket changed since it was read; reload it and try again".into(),
    ))
}

impl SqlStore {
    /// `create_ticket_flagged` with more statements in the same transaction (`extra` builds them
    /// afresh for each attempt): what the e-mail intake writes beside the ticket.
    pub(crate) async fn create_ticket_with(
        &self,
        t: &NewTicket,
        created: &TimelineEvent,
        out_of_hours: bool,
        extra: &(dyn Fn() -> StoreResult<Vec<Stmt>> + Send + Sync),
    ) -> StoreResult<Ticket> {
        if created.seq != 1 || created.ticket_id != t.id {
            return Err(StoreError::Invalid(palisade_core::FieldError::new(
                "seq",
                "the created event must be the ticket's first",
            )));
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            let statements = vec![ticket_insert(t, out_of_hours), self.event_insert(created)?];
            let statements = statements.into_iter().chain(extra()?).collect();
            match self.write_tx(statements).await {
                Err(StoreError::Conflict(_)) if attempts < NUMBER_ATTEMPTS => continue,
                other => other?,
            }
            return self.get_ticket(t.id).await;
        }
    }

    /// `append_ticket_event` with more statements in the same transaction.
    pub(crate) async fn append_ticket_event_with(
        &self,
        ticket: &Ticket,
        event: &TimelineEvent,
        extra: Vec<Stmt>,
    ) -> StoreResult<()> {
        if event.seq != ticket.version || event.ticket_id != ticket.id || event.seq < 2 {
            return Err(StoreError::Invalid(palisade_core::FieldError::new(
                "seq",
                "the event must be the one that takes the ticket to its version",
            )));
        }
        let update = ticket_update(ticket, 1);
        let mut statements = vec![update, self.event_insert(event)?];
        statements.extend(extra);
        let result = self.write_tx(statements).await;
        if let Err(StoreError::Conflict(_)) = &result {
            // Tell a missing ticket from a lost race.
            self.get_ticket(ticket.id).await?;
        }
        result
    }
}

#[async_trait]
impl DeskStore for SqlStore {
    async fn create_ticket_flagged(
        &self,
        t: &NewTicket,
        created: &TimelineEvent,
        out_of_hours: bool,
    ) -> StoreResult<Ticket> {
        self.create_ticket_with(t, created, out_of_hours, &|| Ok(Vec::new()))
            .await
    }

    async fn get_ticket(&self, id: TicketId) -> StoreResult<Ticket> {
        let sql = format!("SELECT {TICKET_COLS} FROM tickets WHERE id = $1");
        let row: TicketRow = self.read_one(&sql, args![id.to_string()]).await?;
        row.try_into()
    }

    async fn list_tickets(&self, q: &TicketQuery) -> StoreResult<Page<Ticket>> {
        // Only the filters asked for are written, so each can use its index.
        let mut a: Vec<Arg> = Vec::new();
        let mut terms = Vec::new();
        let mut term = |col: &str, v: String, a: &mut Vec<Arg>| {
            a.push(Arg::from(v));
            terms.push(format!("{col} ${}", a.len()));
        };
        if let Some(c) = q.client {
            term("client_id =", c.to_string(), &mut a);
        }
        if let Some(s) = q.state {
            term("state =", s.as_str().to_owned(), &mut a);
        }
        if let Some(p) = q.priority {
            term("priority =", priority_str(p).to_owned(), &mut a);
        }
        if let Some(l) = q.line {
            term("line =", l.as_str().to_owned(), &mut a);
        }
        if let Some(after) = &q.after {
            term("id >", after.clone(), &mut a);
        }
        let size = match q.limit {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        a.push(Arg::from(i64::from(size) + 1));
        let limit = format!("${}", a.len());
        if q.open_only {
            terms.push("state IN ('new', 'open', 'waiting-on-customer')".to_owned());
        }
        let filter = if terms.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", terms.join(" AND "))
        };
        let sql = format!("SELECT {TICKET_COLS} FROM tickets {filter} ORDER BY id LIMIT {limit}");
        let rows: Vec<TicketRow> = self.read_all(&sql, a).await?;
        let more = rows.len() > size as usize;
        let items: Vec<Ticket> = rows
            .into_iter()
            .take(size as usize)
            .map(Ticket::try_from)
            .collect::<StoreResult<_>>()?;
        let next_after = if more {
            items.last().map(|t| t.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_after })
    }

    async fn append_ticket_event(&self, ticket: &Ticket, event: &TimelineEvent) -> StoreResult<()> {
        self.append_ticket_event_with(ticket, event, Vec::new())
            .await
    }

    async fn ticket_events(&self, id: TicketId) -> StoreResult<Vec<TimelineEvent>> {
        let rows: Vec<TicketEventRow> = self
            .read_all(
                "SELECT id, ticket_id, seq, at, actor, body, key_version FROM ticket_events \
                 WHERE ticket_id = $1 ORDER BY seq",
                args![id.to_string()],
            )
            .await?;
        rows.into_iter().map(|r| self.event_row(r)).collect()
    }

    async fn add_work_log(&self, w: &WorkLog) -> StoreResult<()> {
        self.write_tx(vec![Stmt::new(
            "INSERT INTO work_logs (id, ticket_id, client_id, user_id, started_at, ended_at, \
             note, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            args![
                w.id.to_string(),
                w.ticket_id.to_string(),
                w.client_id.to_string(),
                w.user_id.to_string(),
                micros(w.start),
                micros(w.end),
                w.note.trim(),
                micros(w.created_at)
            ],
        )])
        .await
    }

    async fn ticket_work_logs(&self, ticket: TicketId) -> StoreResult<Vec<WorkLog>> {
        let sql = format!(
            "SELECT {WORK_COLS} FROM work_logs WHERE ticket_id = $1 ORDER BY started_at, id"
        );
        let rows: Vec<WorkRow> = self.read_all(&sql, args![ticket.to_string()]).await?;
        rows.into_iter().map(WorkLog::try_from).collect()
    }

    async fn client_work_logs(
        &self,
        client: ClientId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<WorkLog>> {
        let sql = format!(
            "SELECT {WORK_COLS} FROM work_logs WHERE client_id = $1 AND started_at >= $2 \
             AND started_at < $3 ORDER BY started_at, id"
        );
        let rows: Vec<WorkRow> = self
            .read_all(&sql, args![client.to_string(), micros(from), micros(to)])
            .await?;
        rows.into_iter().map(WorkLog::try_from).collect()
    }
}

const WORK_COLS: &str = "id, ticket_id, client_id, user_id, started_at, ended_at, note, created_at";

row!(WorkRow {
    id: String,
    ticket_id: String,
    client_id: String,
    user_id: String,
    started_at: i64,
    ended_at: i64,
    note: String,
    created_at: i64,
});

impl TryFrom<WorkRow> for WorkLog {
    type Error = StoreError;
    fn try_from(r: WorkRow) -> Result<Self, StoreError> {
        Ok(WorkLog {
            id: parse("work log id", &r.id)?,
            ticket_id: parse("ticket id", &r.ticket_id)?,
            client_id: parse("client id", &r.client_id)?,
            user_id: parse("user id", &r.user_id)?,
            start: ts(r.started_at)?,
            end: ts(r.ended_at)?,
            note: r.note,
            created_at: ts(r.created_at)?,
        })
    }
}
