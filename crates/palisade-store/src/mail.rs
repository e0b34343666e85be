//! The e-mail part of the storage interface: who an address belongs to (users by their login
//! address, contacts through the blind index of their sealed address), the Message-IDs that thread
//! mail onto tickets, messages taken in (ticket write, Message-ID and attachments in one
//! transaction), sealed attachments, and the outbox of notifications with its delivery state.
//!
//! The rules (what is refused, where a message goes, what is mailed to whom) are `palisade-mail`'s;
//! this trait keeps what they decided. Exactly-once enqueueing is the store's: every timeline event
//! is written pending for mail, and enqueueing its e-mails and clearing that mark happen in one
//! transaction under a unique (event, recipient) key, so however many workers run, each recipient
//! gets one outbox row per event.

use async_trait::async_trait;
use jiff::Timestamp;
use palisade_core::{AttachmentId, ClientId, OutboxId, TicketEventId, TicketId};
use palisade_desk::ticket::{NewTicket, Ticket, TimelineEvent, Visibility};
use palisade_mail::{KnownTicket, Notification, Sender};
use serde::Serialize;

use crate::StoreResult;

/// The ticket change a message taken in makes.
#[derive(Clone, Debug)]
pub enum MailTicketWrite {
    /// A new ticket and its `created` event (from `NewTicket::created_event`).
    New {
        ticket: NewTicket,
        created: TimelineEvent,
    },
    /// A reply: the ticket as it is after the event and the event (from `Ticket::apply`).
    Append {
        ticket: Ticket,
        event: TimelineEvent,
    },
}

/// A file to attach to a ticket message.
#[derive(Clone, PartialEq, Eq)]
pub struct NewAttachment {
    pub id: AttachmentId,
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for NewAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAttachment")
            .field("id", &self.id)
            .field("filename", &self.filename)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// A message taken in: the ticket write, the message's Message-ID (recorded for threading and
/// so the same message is never taken in twice) and its attachments.
#[derive(Clone, Debug)]
pub struct MailIntake {
    pub write: MailTicketWrite,
    pub message_id: Option<String>,
    pub attachments: Vec<NewAttachment>,
    pub at: Timestamp,
}

/// An attachment as listed (its bytes are fetched one at a time).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AttachmentMeta {
    pub id: AttachmentId,
    pub ticket_id: TicketId,
    /// The timeline event (message) it belongs to.
    pub event_id: TicketEventId,
    /// The message's visibility: attachments of internal notes are staff-only.
    pub visibility: Visibility,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// A timeline event not yet considered for mail, with its ticket as it is now.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingMailEvent {
    pub event: TimelineEvent,
    pub ticket: Ticket,
}

/// What to enqueue for one event: its rendered e-mails (none if the event is not mailed). The
/// event's pending mark is cleared with them.
#[derive(Clone, Debug)]
pub struct MailEnqueue {
    pub event_id: TicketEventId,
    pub ticket_id: TicketId,
    pub client_id: ClientId,
    /// The ticket's thread root Message-ID, recorded so replies to it thread.
    pub thread_root: Option<String>,
    pub mails: Vec<(OutboxId, Notification)>,
}

/// An e-mail due for delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxMail {
    pub id: OutboxId,
    pub event_id: TicketEventId,
    pub ticket_id: TicketId,
    pub client_id: ClientId,
    /// Delivery attempts so far.
    pub attempts: u32,
    pub notification: Notification,
}

/// The outbox by state, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
}

/// E-mail storage. Part of every `Store`.
#[async_trait]
pub trait MailStore: Send + Sync {
    /// Everyone `address` is, at any client: enabled client users by login address, contacts
    /// (not archived) by the blind index of their sealed address.
    async fn mail_senders(&self, address: &str) -> StoreResult<Vec<Sender>>;
    /// The tickets these Message-IDs were recorded for, in the order of `ids`.
    async fn tickets_by_message_ids(&self, ids: &[String]) -> StoreResult<Vec<KnownTicket>>;
    async fn ticket_by_number(&self, number: i64) -> StoreResult<Option<KnownTicket>>;
    /// Whether a message with this Message-ID was already taken in.
    async fn mail_seen(&self, message_id: &str) -> StoreResult<bool>;
    /// Takes a message in: the ticket write, its Message-ID and its sealed attachments in one
    /// transaction. `Conflict` if the ticket changed meanwhile or the Message-ID was taken in
    /// by someone else first.
    async fn take_in_mail(&self, intake: &MailIntake) -> StoreResult<Ticket>;
    /// Message-IDs of the mail a ticket took in, oldest first (to thread notifications).
    async fn ticket_inbound_ids(&self, ticket: TicketId) -> StoreResult<Vec<String>>;

    /// Stores attachments of one message (an event of `ticket`), sealed.
    async fn add_attachments(
        &self,
        event: &TimelineEvent,
        attachments: &[NewAttachment],
        at: Timestamp,
    ) -> StoreResult<()>;
    async fn ticket_attachments(&self, ticket: TicketId) -> StoreResult<Vec<AttachmentMeta>>;
    async fn attachment(&self, id: AttachmentId) -> StoreResult<(AttachmentMeta, Vec<u8>)>;

    /// Up to `limit` timeline events still pending for mail, oldest first.
    async fn mail_pending_events(&self, limit: u32) -> StoreResult<Vec<PendingMailEvent>>;
    /// Who a ticket's notifications go to: the client's contacts (not archived) and the person
    /// who opened it (a client user or contact), each address once, normalised.
    async fn mail_recipients(&self, ticket: &Ticket) -> StoreResult<Vec<String>>;
    /// Enqueues the e-mails of a batch of events and clears their pending marks, in one
    /// transaction. A recipient already enqueued for an event is skipped (unique key), so this
    /// is exactly-once however often it runs. Returns the rows added.
    async fn enqueue_mail(&self, batch: &[MailEnqueue], now: Timestamp) -> StoreResult<u64>;
    /// Queued e-mails whose next attempt is due, oldest first.
    async fn due_mail(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<OutboxMail>>;
    /// Takes a due e-mail for one delivery attempt: it is not due again before `lease_until`,
    /// so another worker does not send it at the same time. False if someone else took it.
    async fn claim_mail(
        &self,
        id: OutboxId,
        attempts: u32,
        lease_until: Timestamp,
    ) -> StoreResult<bool>;
    async fn mail_sent(&self, id: OutboxId, now: Timestamp) -> StoreResult<()>;
    /// Records a failed attempt: retried at `next` or, when `next` is `None`, given up (failed).
    async fn mail_attempt_failed(
        &self,
        id: OutboxId,
        attempts: u32,
        next: Option<Timestamp>,
        error: &str,
    ) -> StoreResult<()>;
    async fn outbox_counts(&self) -> StoreResult<OutboxCounts>;
}
