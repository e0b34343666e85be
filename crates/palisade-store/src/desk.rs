//! The support desk part of the storage interface: tickets and their append-only timelines. The
//! rules (which transitions are allowed, what a reply does to the state, the SLA clocks) live in
//! `palisade-desk`; this trait keeps what they decided, and refuses a change made against a
//! version of the ticket that is no longer current.

use async_trait::async_trait;
use jiff::Timestamp;
use palisade_core::{ClientId, TicketId};
use palisade_desk::billing::WorkLog;
use palisade_desk::sla::Priority;
use palisade_desk::ticket::{Line, NewTicket, Ticket, TicketState, TimelineEvent};

use crate::{Page, StoreResult};

/// Filters and position of a ticket list, ordered by ID (creation order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TicketQuery {
    pub client: Option<ClientId>,
    pub state: Option<TicketState>,
    pub priority: Option<Priority>,
    /// Only tickets with this support line.
    pub line: Option<Line>,
    /// Only tickets still being handled (new, open or waiting on the customer).
    pub open_only: bool,
    /// Keyset position: the `next_after` of the previous page (a ticket ID).
    pub after: Option<String>,
    /// Page size, clamped to `MAX_PAGE_SIZE`; 0 means the default.
    pub limit: u32,
}

/// Desk storage. Part of every `Store`.
#[async_trait]
pub trait DeskStore: Send + Sync {
    /// Stores a new ticket (state `new`, version 1) and its `created` event in one transaction,
    /// giving it the next ticket number. The caller has checked the input
    /// (`NewTicket::created_event`) and that the site belongs to the client.
    async fn create_ticket(&self, t: &NewTicket, created: &TimelineEvent) -> StoreResult<Ticket> {
        self.create_ticket_flagged(t, created, false).await
    }
    /// As `create_ticket`, marking the ticket as opened on the out-of-hours line.
    async fn create_ticket_flagged(
        &self,
        t: &NewTicket,
        created: &TimelineEvent,
        out_of_hours: bool,
    ) -> StoreResult<Ticket>;
    async fn get_ticket(&self, id: TicketId) -> StoreResult<Ticket>;
    async fn list_tickets(&self, q: &TicketQuery) -> StoreResult<Page<Ticket>>;
    /// Appends `event` and stores `ticket` as it is after it (both from `Ticket::apply`), in one
    /// transaction, if the stored ticket is still at `ticket.version - 1`: `Conflict` if someone
    /// else appended meanwhile, `NotFound` if there is no such ticket.
    async fn append_ticket_event(&self, ticket: &Ticket, event: &TimelineEvent) -> StoreResult<()>;
    /// The whole timeline, in `seq` order, internal notes included: hiding them from client
    /// users is the web edge's job, decided by the policy.
    async fn ticket_events(&self, id: TicketId) -> StoreResult<Vec<TimelineEvent>>;
    /// Stores a work log. The caller has checked it (`WorkLog::check`) and that its ticket and
    /// client match.
    async fn add_work_log(&self, w: &WorkLog) -> StoreResult<()>;
    /// A ticket's work logs, oldest start first.
    async fn ticket_work_logs(&self, ticket: TicketId) -> StoreResult<Vec<WorkLog>>;
    /// A client's work logs that started in `[from, to)`, oldest start first: a billing month.
    async fn client_work_logs(
        &self,
        client: ClientId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<WorkLog>>;
}
