//! The support desk part of the storage interface: tickets and their append-only timelines. The
//! rules (which transitions are allowed, what a reply does to the state, the SLA clocks) live in
//! `palisade-desk`; this trait keeps what they decided, and refuses a change made against a
//! version of the ticket that is no longer current.

use async_trait::async_trait;
use jiff::Timestamp;
use palisade_core::{ClientId, TicketId};
use palisade_desk::billing::WorkLog;
use palisade_desk::sla::Priority;
use palisade_desk::ticket::{Line, NewTicket, SlaStamp, Ticket, TicketState, TimelineEvent};

use crate::{Page, StoreResult};

/// The order of a ticket list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TicketOrder {
    /// By ID: the order tickets were opened. `after` is a ticket ID.
    #[default]
    Opened,
    /// The queue's order: soonest SLA deadline of a counting clock first (breached ones, whose
    /// deadline has passed, lead), tickets with no counting clock last, ties by number. `after`
    /// is `DUE:NUMBER` as `next_after` gives it (DUE in microseconds).
    SlaDue,
}

/// Most tickets the desk's queue counts (the first in queue order): counting is a scan of the
/// queue's index, and beyond this a filter of resolved or closed tickets would cost more than the
/// page. See README, Limits.
pub const QUEUE_COUNT_LIMIT: u64 = 100_000;

/// What a queue adds up to, over every ticket its filters match (not just one page), up to a
/// limit (the first tickets in queue order; escalations are always all counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct QueueCounts {
    pub tickets: u64,
    /// More tickets matched than the counts looked at (the desk's limit is 100,000).
    pub capped: bool,
    /// Breached as of `now`: a clock stopped late, or a counting clock past its deadline.
    pub breached: u64,
    /// Not breached, with a clock past its at-risk share as of `now`.
    pub at_risk: u64,
    pub second_line: u64,
    pub out_of_hours: u64,
    /// Escalations in these tickets' timelines by the system, and by staff.
    pub escalated_automatically: u64,
    pub escalated_by_staff: u64,
}

/// Filters and position of a ticket list.
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
    pub order: TicketOrder,
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
    /// A page of tickets in `q.order`; an `after` in the wrong form for the order is `Invalid`.
    async fn list_tickets(&self, q: &TicketQuery) -> StoreResult<Page<Ticket>>;
    /// The counts of the tickets `q`'s filters match (position and size ignored), as of `now`:
    /// of the first `limit` in queue order (`capped` when more matched); escalations of all.
    async fn ticket_queue_counts(
        &self,
        q: &TicketQuery,
        now: Timestamp,
        limit: u64,
    ) -> StoreResult<QueueCounts>;
    /// Replaces the ticket's SLA stamp if it is still at `version` (`false` when it moved on:
    /// its next write stamps it afresh). For repairing stamps taken under an older contract or
    /// at-risk share; every ticket write stamps the ticket by itself.
    async fn set_ticket_sla(
        &self,
        ticket: TicketId,
        version: u32,
        stamp: &SlaStamp,
    ) -> StoreResult<bool>;
    /// Appends `event` and stores `ticket` as it is after it (both from `Ticket::apply`), in one
    /// transaction, if the stored ticket is still at `ticket.version - 1`: `Conflict` if someone
    /// else appended meanwhile, `NotFound` if there is no such ticket. Returns the ticket as
    /// stored, with the SLA stamp the store gave it (`Ticket::apply` carries the old one over).
    async fn append_ticket_event(
        &self,
        ticket: &Ticket,
        event: &TimelineEvent,
    ) -> StoreResult<Ticket>;
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
