//! The support desk part of the storage interface: tickets and their append-only timelines. The
//! rules (which transitions are allowed, what a reply does to the state, the SLA clocks) live in
//! `palisade-desk`; this trait keeps what they decided, and refuses a change made against a
//! version of the ticket that is no longer current.

use async_trait::async_trait;
use palisade_core::{ClientId, TicketId};
use palisade_desk::sla::Priority;
use palisade_desk::ticket::{NewTicket, Ticket, TicketState, TimelineEvent};

use crate::{Page, StoreResult};

/// Filters and position of a ticket list, ordered by ID (creation order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TicketQuery {
    pub client: Option<ClientId>,
    pub state: Option<TicketState>,
    pub priority: Option<Priority>,
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
    async fn create_ticket(&self, t: &NewTicket, created: &TimelineEvent) -> StoreResult<Ticket>;
    async fn get_ticket(&self, id: TicketId) -> StoreResult<Ticket>;
    async fn list_tickets(&self, q: &TicketQuery) -> StoreResult<Page<Ticket>>;
    /// Appends `event` and stores `ticket` as it is after it (both from `Ticket::apply`), in one
    /// transaction, if the stored ticket is still at `ticket.version - 1`: `Conflict` if someone
    /// else appended meanwhile, `NotFound` if there is no such ticket.
    async fn append_ticket_event(&self, ticket: &Ticket, event: &TimelineEvent) -> StoreResult<()>;
    /// The whole timeline, in `seq` order, internal notes included: hiding them from client
    /// users is the web edge's job, decided by the policy.
    async fn ticket_events(&self, id: TicketId) -> StoreResult<Vec<TimelineEvent>>;
}
