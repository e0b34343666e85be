//! `DeskStore` on both backends: tickets and their timelines. A ticket and its first event, or an
//! event and the ticket's new row, are written in one transaction by `write_tx`; the ticket's
//! `version` is the compare-and-swap that makes appends safe against concurrent agents. Event
//! bodies are sealed with the keyring at the row boundary (`sealed.rs`), bound to the event's ID.

use async_trait::async_trait;
use jiff::Timestamp;
use palisade_core::{ClientId, TicketId};
use palisade_desk::billing::WorkLog;
use palisade_desk::ticket::{
    NewTicket, SlaStamp, Ticket, TimelineEvent, parse_priority, priority_str, sla_stamp,
};
use palisade_store::{
    DEFAULT_PAGE_SIZE, DeskStore, MAX_PAGE_SIZE, Page, QueueCounts, Store, StoreError, StoreResult,
    TicketOrder, TicketQuery,
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
     version, created_at, updated_at, created_by, line, out_of_hours, sla_due_at, sla_warn_at, \
     sla_breached";

/// `sla_due_at` of a ticket with no counting clock (see migration 0010): sorts last.
const NO_DUE: i64 = i64::MAX;

/// The three stamp columns' values.
fn stamp_args(s: &SlaStamp) -> (i64, Option<i64>, bool) {
    (
        s.due_at.map_or(NO_DUE, micros),
        s.warn_at.map(micros),
        s.breached,
    )
}

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
    sla_due_at: i64,
    sla_warn_at: Option<i64>,
    sla_breached: bool,
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
            sla: SlaStamp {
                due_at: match r.sla_due_at {
                    NO_DUE => None,
                    d => Some(ts(d)?),
                },
                warn_at: r.sla_warn_at.map(ts).transpose()?,
                breached: r.sla_breached,
            },
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
pub(crate) fn ticket_insert(t: &NewTicket, out_of_hours: bool, sla: &SlaStamp) -> Stmt {
    let (due, warn, breached) = stamp_args(sla);
    Stmt::new(
        format!(
            "INSERT INTO tickets ({TICKET_COLS}) SELECT $1, COALESCE(MAX(number), 0) + 1, $2, $3, \
             $4, $5, $6, 'new', 1, $7, $7, $8, 'first', $9, $10, $11, $12 FROM tickets"
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
            out_of_hours,
            due,
            warn,
            breached
        ],
    )
}

/// The ticket's row after `appended` events, with the SLA stamp of its whole timeline: stored
/// only if it is still at the version they started from (`Conflict` otherwise).
pub(crate) fn ticket_update(t: &Ticket, appended: u32, sla: &SlaStamp) -> Stmt {
    let (due, warn, breached) = stamp_args(sla);
    Stmt::new(
        "UPDATE tickets SET state = $1, priority = $2, version = $3, updated_at = $4, \
         line = $5, sla_due_at = $6, sla_warn_at = $7, sla_breached = $8 \
         WHERE id = $9 AND version = $10",
        args![
            t.state.as_str(),
            priority_str(t.priority),
            i64::from(t.version),
            micros(t.updated_at),
            t.line.as_str(),
            due,
            warn,
            breached,
            t.id.to_string(),
            i64::from(t.version) - i64::from(appended)
        ],
    )
    .or_fail(stale_ticket())
}

fn stale_ticket() -> StoreError {
    StoreError::Conflict("the ticket changed since it was read; reload it and try again".into())
}

/// The store's side of the SLA stamp: the timeline replayed under the client's current contract.
/// Reading the contract and the earlier events happens before the write; the version check of
/// the write guarantees the events, and a contract changed in between is put right when
/// `update_client` re-stamps the client's open tickets or, failing that, by the desk's sweep.
#[derive(Default)]
pub(crate) struct Stamper {
    contracts: std::collections::HashMap<ClientId, palisade_core::tenant::Contract>,
}

impl Stamper {
    pub(crate) async fn stamp(
        &mut self,
        store: &SqlStore,
        client: ClientId,
        timeline: &[TimelineEvent],
    ) -> StoreResult<SlaStamp> {
        let contract = match self.contracts.entry(client) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(store.get_client(client).await?.contract)
            }
        };
        Ok(sla_stamp(contract, timeline, store.sla_warn_percent()))
    }

    /// The stamp of `ticket` once `appended` follow the events stored so far.
    pub(crate) async fn stamp_after(
        &mut self,
        store: &SqlStore,
        ticket: &Ticket,
        appended: &[TimelineEvent],
    ) -> StoreResult<SlaStamp> {
        let mut timeline = store.ticket_events(ticket.id).await?;
        timeline.extend_from_slice(appended);
        self.stamp(store, ticket.client_id, &timeline).await
    }
}

impl SqlStore {
    /// The at-risk share (percent, 1–99) tickets are stamped with from now on: the desk's
    /// setting, given once at start. Stamps taken with another share are repaired by the sweep.
    pub fn set_sla_warn_percent(&self, percent: u8) {
        self.sla_warn_percent
            .store(percent.clamp(1, 99), std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn sla_warn_percent(&self) -> u8 {
        self.sla_warn_percent
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stamps again every open ticket of `client` under its contract as stored now: after the
    /// contract (support hours, zone, holidays) changed. A ticket changed meanwhile was stamped by
    /// that change. Returns how many stamps it wrote.
    pub(crate) async fn restamp_client(&self, client: ClientId) -> StoreResult<usize> {
        let mut stamper = Stamper::default();
        let mut q = TicketQuery {
            client: Some(client),
            open_only: true,
            limit: MAX_PAGE_SIZE,
            ..TicketQuery::default()
        };
        let mut written = 0;
        loop {
            let page = self.list_tickets(&q).await?;
            for t in &page.items {
                let events = self.ticket_events(t.id).await?;
                let sla = stamper.stamp(self, client, &events).await?;
                if sla != t.sla && self.set_ticket_sla(t.id, t.version, &sla).await? {
                    written += 1;
                }
            }
            match page.next_after {
                Some(next) => q.after = Some(next),
                None => return Ok(written),
            }
        }
    }

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
        let sla = Stamper::default()
            .stamp(self, t.client_id, std::slice::from_ref(created))
            .await?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let statements = vec![
                ticket_insert(t, out_of_hours, &sla),
                self.event_insert(created)?,
            ];
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
    ) -> StoreResult<Ticket> {
        if event.seq != ticket.version || event.ticket_id != ticket.id || event.seq < 2 {
            return Err(StoreError::Invalid(palisade_core::FieldError::new(
                "seq",
                "the event must be the one that takes the ticket to its version",
            )));
        }
        let sla = Stamper::default()
            .stamp_after(self, ticket, std::slice::from_ref(event))
            .await?;
        let update = ticket_update(ticket, 1, &sla);
        let mut statements = vec![update, self.event_insert(event)?];
        statements.extend(extra);
        let result = self.write_tx(statements).await;
        if let Err(StoreError::Conflict(_)) = &result {
            // Tell a missing ticket from a lost race.
            self.get_ticket(ticket.id).await?;
        }
        result.map(|()| Ticket {
            sla,
            ..ticket.clone()
        })
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
        let mut a = Vec::new();
        let mut terms = filter(q, "", &mut a);
        if let Some(after) = &q.after {
            match q.order {
                TicketOrder::Opened => {
                    a.push(Arg::from(after.clone()));
                    terms.push(format!("id > ${}", a.len()));
                }
                TicketOrder::SlaDue => {
                    let (due, number) = due_position(after)?;
                    a.push(Arg::from(due));
                    a.push(Arg::from(number));
                    terms.push(format!(
                        "(sla_due_at, number) > (${}, ${})",
                        a.len() - 1,
                        a.len()
                    ));
                }
            }
        }
        let size = match q.limit {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        a.push(Arg::from(i64::from(size) + 1));
        let order = match q.order {
            TicketOrder::Opened => "id",
            TicketOrder::SlaDue => "sla_due_at, number",
        };
        let sql = format!(
            "SELECT {TICKET_COLS} FROM tickets {} ORDER BY {order} LIMIT ${}",
            where_clause(&terms),
            a.len()
        );
        let rows: Vec<TicketRow> = self.read_all(&sql, a).await?;
        let more = rows.len() > size as usize;
        let items: Vec<Ticket> = rows
            .into_iter()
            .take(size as usize)
            .map(Ticket::try_from)
            .collect::<StoreResult<_>>()?;
        let next_after = match items.last() {
            Some(t) if more => Some(match q.order {
                TicketOrder::Opened => t.id.to_string(),
                TicketOrder::SlaDue => format!("{}:{}", stamp_args(&t.sla).0, t.number),
            }),
            _ => None,
        };
        Ok(Page { items, next_after })
    }

    async fn ticket_queue_counts(
        &self,
        q: &TicketQuery,
        now: Timestamp,
        limit: u64,
    ) -> StoreResult<QueueCounts> {
        // SQLite numbers `$N` parameters in the order they first appear: `now` comes first.
        let mut a = vec![Arg::from(micros(now))];
        let terms = filter(q, "", &mut a);
        // The counts read the queue's own index, in its order, up to the limit.
        let sql = format!(
            "SELECT COUNT(*) AS tickets, \
             COALESCE(SUM(CASE WHEN t.sla_breached OR t.sla_due_at <= $1 THEN 1 ELSE 0 END), 0) \
               AS breached, \
             COALESCE(SUM(CASE WHEN NOT t.sla_breached AND t.sla_due_at > $1 \
               AND t.sla_warn_at <= $1 THEN 1 ELSE 0 END), 0) AS at_risk, \
             COALESCE(SUM(CASE WHEN t.line = 'second' THEN 1 ELSE 0 END), 0) AS second_line, \
             COALESCE(SUM(CASE WHEN t.out_of_hours THEN 1 ELSE 0 END), 0) AS out_of_hours \
             FROM (SELECT sla_breached, sla_due_at, sla_warn_at, line, out_of_hours FROM tickets \
               {} ORDER BY sla_due_at, number LIMIT {}) t",
            where_clause(&terms),
            limit.saturating_add(1).min(i64::MAX as u64)
        );
        let c: CountRow = self.read_one(&sql, a).await?;
        let mut a = Vec::new();
        let terms = filter(q, "t.", &mut a);
        let mut on = vec![
            "t.id = e.ticket_id".to_owned(),
            "e.kind = 'escalated'".to_owned(),
        ];
        on.extend(terms);
        // CROSS JOIN keeps the (few) escalations as SQLite's outer loop instead of every ticket
        // of the filter; PostgreSQL plans it as any inner join.
        let sql = format!(
            "SELECT COALESCE(SUM(CASE WHEN e.actor = 'system' THEN 1 ELSE 0 END), 0) AS by_system, \
             COALESCE(SUM(CASE WHEN e.actor <> 'system' THEN 1 ELSE 0 END), 0) AS by_staff \
             FROM ticket_events e CROSS JOIN tickets t {}",
            where_clause(&on)
        );
        let e: EscalationRow = self.read_one(&sql, a).await?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        let capped = n(c.tickets) > limit;
        Ok(QueueCounts {
            tickets: n(c.tickets).min(limit),
            capped,
            breached: n(c.breached),
            at_risk: n(c.at_risk),
            second_line: n(c.second_line),
            out_of_hours: n(c.out_of_hours),
            escalated_automatically: n(e.by_system),
            escalated_by_staff: n(e.by_staff),
        })
    }

    async fn set_ticket_sla(
        &self,
        ticket: TicketId,
        version: u32,
        stamp: &SlaStamp,
    ) -> StoreResult<bool> {
        let (due, warn, breached) = stamp_args(stamp);
        let update = Stmt::new(
            "UPDATE tickets SET sla_due_at = $1, sla_warn_at = $2, sla_breached = $3 \
             WHERE id = $4 AND version = $5",
            args![due, warn, breached, ticket.to_string(), i64::from(version)],
        )
        .or_fail(stale_ticket());
        match self.write_tx(vec![update]).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn append_ticket_event(
        &self,
        ticket: &Ticket,
        event: &TimelineEvent,
    ) -> StoreResult<Ticket> {
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

row!(CountRow {
    tickets: i64,
    breached: i64,
    at_risk: i64,
    second_line: i64,
    out_of_hours: i64,
});

row!(EscalationRow {
    by_system: i64,
    by_staff: i64,
});

/// The filter terms of `q` (not its position) over columns prefixed with `table`, their
/// arguments pushed onto `a`. Only the filters asked for are written, so each can use its index.
fn filter(q: &TicketQuery, table: &str, a: &mut Vec<Arg>) -> Vec<String> {
    let mut terms = Vec::new();
    let mut term = |col: &str, v: String| {
        a.push(Arg::from(v));
        terms.push(format!("{table}{col} = ${}", a.len()));
    };
    if let Some(c) = q.client {
        term("client_id", c.to_string());
    }
    if let Some(s) = q.state {
        term("state", s.as_str().to_owned());
    }
    if let Some(p) = q.priority {
        term("priority", priority_str(p).to_owned());
    }
    if let Some(l) = q.line {
        term("line", l.as_str().to_owned());
    }
    if q.open_only {
        // Written exactly as in the partial indexes' WHERE (migration 0010), so SQLite uses them.
        terms.push(format!(
            "{table}state IN ('new', 'open', 'waiting-on-customer')"
        ));
    }
    terms
}

fn where_clause(terms: &[String]) -> String {
    if terms.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", terms.join(" AND "))
    }
}

/// `DUE:NUMBER` of the queue order's `after`.
fn due_position(after: &str) -> StoreResult<(i64, i64)> {
    after
        .split_once(':')
        .and_then(|(d, n)| Some((d.parse().ok()?, n.parse().ok()?)))
        .ok_or_else(|| {
            StoreError::Invalid(palisade_core::FieldError::new(
                "after",
                "not a position in the SLA order",
            ))
        })
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
