//! Tickets as pure data: the states a ticket moves through and the one table of allowed
//! transitions, who may say what (public replies versus internal notes), the append-only timeline
//! a ticket is made of, and how that timeline becomes the SLA engine's events ([`sla_events`]), so
//! [`crate::sla::evaluate`] answers "is the first response met?" from the stored history alone.
//!
//! Escalation is an event, not a state: an escalated ticket is still open or waiting, and its SLA
//! clocks must keep running as such. It moves the ticket to the second line ([`Line`]), which the
//! row keeps so queues can filter by line; when the system escalates by itself is
//! [`auto_escalation`]'s rule.
//!
//! The default targets per priority live here, in [`default_targets`], and nowhere else.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use palisade_core::{ClientId, ContactId, SiteId, TicketEventId, TicketId, UserId};
use serde::{Deserialize, Serialize};

use crate::sla::{self, EventKind, Priority, PriorityTargets, SlaTargets, Target};

/// Longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Longest message, in bytes: a long log excerpt fits, a pasted database dump does not.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The share of a target (percent) after which a running clock is "at risk", unless the desk is
/// configured otherwise: a quarter of the time is left to act, which for the shortest target (30
/// minutes to answer a critical ticket) is still seven minutes.
pub const DEFAULT_AT_RISK_PERCENT: u8 = 75;

/// The desk's default SLA targets. Critical means a service is down: it is answered round the
/// clock, so its targets are calendar minutes; every other priority counts the contract's support
/// hours only (high: 2 business hours to respond, normal: 8, low: 24).
pub fn default_targets() -> SlaTargets {
    let b = Target::business;
    let c = Target::calendar;
    let t = |first, next, resolve| PriorityTargets {
        first_response: Some(first),
        next_response: Some(next),
        resolution: Some(resolve),
    };
    SlaTargets {
        critical: t(c(30), c(60), c(4 * 60)),
        high: t(b(2 * 60), b(2 * 60), b(2 * 8 * 60)),
        normal: t(b(8 * 60), b(8 * 60), b(5 * 8 * 60)),
        low: t(b(24 * 60), b(24 * 60), b(10 * 8 * 60)),
        warn_percent: 80,
    }
}

/// Where a ticket stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TicketState {
    /// Opened, nobody from the desk has answered yet.
    New,
    /// Being worked on.
    Open,
    /// The desk needs something from the customer; SLA clocks pause.
    WaitingOnCustomer,
    /// The desk considers it solved; the customer may still object (reopen).
    Resolved,
    /// Finished for good. A new problem is a new ticket.
    Closed,
}

impl TicketState {
    pub const ALL: [TicketState; 5] = [
        TicketState::New,
        TicketState::Open,
        TicketState::WaitingOnCustomer,
        TicketState::Resolved,
        TicketState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::New => "new",
            TicketState::Open => "open",
            TicketState::WaitingOnCustomer => "waiting-on-customer",
            TicketState::Resolved => "resolved",
            TicketState::Closed => "closed",
        }
    }

    /// The one table of allowed transitions. A ticket is never closed unresolved (closing
    /// without a resolution would stop no SLA clock and hide a breach), and a closed ticket
    /// stays closed so that its SLA record is final.
    pub fn can_become(self, to: TicketState) -> bool {
        use TicketState::*;
        matches!(
            (self, to),
            (New, Open | WaitingOnCustomer | Resolved)
                | (Open, WaitingOnCustomer | Resolved)
                | (WaitingOnCustomer, Open | Resolved)
                | (Resolved, Open | Closed)
        )
    }
}

impl fmt::Display for TicketState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TicketState {
    type Err = TicketError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TicketState::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| TicketError::Invalid {
                field: "state",
                reason: format!(
                    "unknown state {s:?}; expected new, open, waiting-on-customer, resolved or closed"
                ),
            })
    }
}

/// What a ticket is about, for routing and reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Something is broken or down.
    Incident,
    /// Please do something (a change, an account, a restore).
    Request,
    Question,
    /// A suspected compromise or vulnerability.
    Security,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Incident => "incident",
            Category::Request => "request",
            Category::Question => "question",
            Category::Security => "security",
        }
    }
}

impl FromStr for Category {
    type Err = TicketError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Category::Incident,
            Category::Request,
            Category::Question,
            Category::Security,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| TicketError::Invalid {
            field: "category",
            reason: format!("unknown category {s:?}"),
        })
    }
}

/// The text name of a priority, as stored.
pub fn priority_str(p: Priority) -> &'static str {
    match p {
        Priority::Critical => "critical",
        Priority::High => "high",
        Priority::Normal => "normal",
        Priority::Low => "low",
    }
}

/// A priority from its text name.
pub fn parse_priority(s: &str) -> Result<Priority, TicketError> {
    [
        Priority::Critical,
        Priority::High,
        Priority::Normal,
        Priority::Low,
    ]
    .into_iter()
    .find(|p| priority_str(*p) == s)
    .ok_or_else(|| TicketError::Invalid {
        field: "priority",
        reason: format!("unknown priority {s:?}; expected critical, high, normal or low"),
    })
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthorKind {
    Staff,
    Client,
    /// The server itself (monitoring, automatic acknowledgements).
    System,
}

/// Who did something to a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", content = "user_id", rename_all = "kebab-case")]
pub enum Actor {
    Staff(UserId),
    Client(UserId),
    System,
    /// A client's contact who is not a user, writing by e-mail (the e-mail intake). They speak
    /// for the client exactly as a client user does; `user_id` then holds the contact's ID.
    Contact(ContactId),
}

impl Actor {
    pub fn kind(self) -> AuthorKind {
        match self {
            Actor::Staff(_) => AuthorKind::Staff,
            Actor::Client(_) | Actor::Contact(_) => AuthorKind::Client,
            Actor::System => AuthorKind::System,
        }
    }

    pub fn user(self) -> Option<UserId> {
        match self {
            Actor::Staff(u) | Actor::Client(u) => Some(u),
            Actor::System | Actor::Contact(_) => None,
        }
    }
}

/// `staff:UUID`, `client:UUID`, `contact:UUID` or `system`: the stored form.
impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Staff(u) => write!(f, "staff:{u}"),
            Actor::Client(u) => write!(f, "client:{u}"),
            Actor::Contact(c) => write!(f, "contact:{c}"),
            Actor::System => f.write_str("system"),
        }
    }
}

impl FromStr for Actor {
    type Err = TicketError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || TicketError::Invalid {
            field: "actor",
            reason: format!("{s:?} is not staff:ID, client:ID, contact:ID or system"),
        };
        if s == "system" {
            return Ok(Actor::System);
        }
        let (kind, id) = s.split_once(':').ok_or_else(bad)?;
        if kind == "contact" {
            return Ok(Actor::Contact(id.parse().map_err(|_| bad())?));
        }
        let id: UserId = id.parse().map_err(|_| bad())?;
        match kind {
            "staff" => Ok(Actor::Staff(id)),
            "client" => Ok(Actor::Client(id)),
            _ => Err(bad()),
        }
    }
}

/// Who may read a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Visibility {
    /// A reply: the customer sees it, and a staff one answers them.
    Public,
    /// A note for staff: never shown to client users, never a response.
    Internal,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
        }
    }
}

/// What happened, with its content. Messages are customer data (the store seals them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum TimelineKind {
    /// The ticket was opened with its first message.
    Created { priority: Priority, body: String },
    Reply {
        visibility: Visibility,
        body: String,
    },
    StateChanged {
        from: TicketState,
        to: TicketState,
        reason: Option<String>,
    },
    PriorityChanged {
        from: Priority,
        to: Priority,
        reason: Option<String>,
    },
    /// Handed up (to second line, a manager); the reason is for staff.
    Escalated { reason: String },
}

impl TimelineKind {
    /// The stored `kind` column.
    pub fn name(&self) -> &'static str {
        match self {
            TimelineKind::Created { .. } => "created",
            TimelineKind::Reply { .. } => "reply",
            TimelineKind::StateChanged { .. } => "state-changed",
            TimelineKind::PriorityChanged { .. } => "priority-changed",
            TimelineKind::Escalated { .. } => "escalated",
        }
    }

    /// Internal notes and escalations are staff business; everything else the customer sees.
    pub fn visibility(&self) -> Visibility {
        match self {
            TimelineKind::Reply { visibility, .. } => *visibility,
            TimelineKind::Escalated { .. } => Visibility::Internal,
            _ => Visibility::Public,
        }
    }
}

/// One entry of a ticket's timeline. `seq` counts from 1 (the `created` event) without gaps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineEvent {
    pub id: TicketEventId,
    pub ticket_id: TicketId,
    pub seq: u32,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: Actor,
    #[serde(flatten)]
    pub kind: TimelineKind,
}

impl TimelineEvent {
    /// Whether a client user may see it.
    pub fn client_visible(&self) -> bool {
        self.kind.visibility() == Visibility::Public
    }
}

/// Which support line handles a ticket: every ticket starts with the first line, and an
/// escalation hands it to the second. There is no way back down: a ticket that needed the second
/// line once is reported as escalated for good.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Line {
    #[default]
    First,
    Second,
}

impl Line {
    pub fn as_str(self) -> &'static str {
        match self {
            Line::First => "first",
            Line::Second => "second",
        }
    }
}

impl FromStr for Line {
    type Err = TicketError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "first" => Ok(Line::First),
            "second" => Ok(Line::Second),
            _ => Err(TicketError::Invalid {
                field: "line",
                reason: format!("unknown line {s:?}; expected first or second"),
            }),
        }
    }
}

/// A ticket as the desk lists it. Its history is the timeline; these fields are what the
/// timeline adds up to, kept on the row so lists can filter without replaying.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: TicketId,
    /// Human-friendly number, unique across the provider (`#1042`).
    pub number: i64,
    pub client_id: ClientId,
    pub site_id: Option<SiteId>,
    pub subject: String,
    pub category: Category,
    pub priority: Priority,
    pub state: TicketState,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub created_by: Actor,
    /// How many timeline events it has: the version a change must name to be applied
    /// (optimistic concurrency, so two agents answering at once do not both change the state).
    pub version: u32,
    /// First line until escalated.
    #[serde(default)]
    pub line: Line,
    /// Opened on the out-of-hours line (critical, outside the client's support hours): its work
    /// is billed at the out-of-hours rate where it falls outside support hours.
    #[serde(default)]
    pub out_of_hours: bool,
    /// The SLA as of the ticket's last event, kept on the row by the store on every write so the
    /// queue can sort and count open tickets without replaying each timeline. [`Ticket::apply`]
    /// carries it over unchanged: only the store, which has the contract, stamps it afresh.
    #[serde(default)]
    pub sla: SlaStamp,
}

/// What a ticket's SLA clocks say as of its last event, in the three values a queue needs.
///
/// Nothing in it goes stale as time passes without events: a counting clock's deadline and
/// at-risk instant are fixed until the next event, a paused or stopped clock has neither, and a
/// breach is never undone. So `verdict(now)` equals a full replay at any later `now`, as long as
/// the stamp was taken with the current contract and at-risk share (the store re-stamps a
/// client's open tickets when its contract changes; the desk's sweep repairs any it finds stale).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaStamp {
    /// The earliest deadline among the clocks still counting (in the past once breached); none
    /// while no clock counts (waiting on the customer, resolved, or no usable calendar).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
    /// When the first clock not yet stopped reaches (or reached) the at-risk share of its target.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub warn_at: Option<Timestamp>,
    /// A clock was already breached at the last event (for good: a late answer stays late).
    pub breached: bool,
}

impl SlaStamp {
    /// The stamp of an SLA status taken at the ticket's last event.
    pub fn of(status: &sla::SlaStatus) -> Self {
        let live = [
            status.first_response,
            status.next_response,
            status.resolution,
        ]
        .into_iter()
        .flatten()
        .filter(|c| c.stopped_at.is_none());
        let mut stamp = Self {
            breached: status.breached(),
            ..Self::default()
        };
        for c in live {
            // A paused clock has no deadline, but one that passed its at-risk share before the
            // pause stays at risk through it.
            if !c.paused {
                stamp.due_at = min_some(stamp.due_at, c.deadline);
            }
            stamp.warn_at = min_some(stamp.warn_at, c.warn_at);
        }
        stamp
    }

    /// `breached`, `at-risk`, `ok` (a clock is counting) or `none`, as of `now`.
    pub fn verdict(&self, now: Timestamp) -> &'static str {
        if self.breached || self.due_at.is_some_and(|d| d <= now) {
            "breached"
        } else if self.warn_at.is_some_and(|w| w <= now) {
            "at-risk"
        } else if self.due_at.is_some() {
            "ok"
        } else {
            "none"
        }
    }
}

fn min_some(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The stamp of a timeline under `contract`, with `warn_percent` as the at-risk share: the
/// default targets replayed as of the last event. A contract with no usable calendar, or a
/// history the SLA engine refuses, stamps nothing (the ticket then sorts last, as on its page).
pub fn sla_stamp(
    contract: &palisade_core::tenant::Contract,
    timeline: &[TimelineEvent],
    warn_percent: u8,
) -> SlaStamp {
    let Some(last) = timeline.iter().map(|e| e.at).max() else {
        return SlaStamp::default();
    };
    let mut targets = default_targets();
    targets.warn_percent = warn_percent;
    crate::calendar::BusinessCalendar::from_contract(contract, crate::HolidayCalendar::shared())
        .and_then(|cal| sla::evaluate(&sla_events(timeline), &targets, &cal, last))
        .map(|status| SlaStamp::of(&status))
        .unwrap_or_default()
}

/// A ticket to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTicket {
    pub id: TicketId,
    pub client_id: ClientId,
    pub site_id: Option<SiteId>,
    pub subject: String,
    pub category: Category,
    pub priority: Priority,
    /// The opening message.
    pub body: String,
    pub created_by: Actor,
    pub at: Timestamp,
}

impl NewTicket {
    /// Checks the fields and gives the opening event, `seq` 1.
    pub fn created_event(&self) -> Result<TimelineEvent, TicketError> {
        let subject = self.subject.trim();
        if subject.is_empty() || subject.chars().count() > MAX_SUBJECT_CHARS {
            return Err(TicketError::Invalid {
                field: "subject",
                reason: format!("must be 1 to {MAX_SUBJECT_CHARS} characters"),
            });
        }
        check_body(&self.body)?;
        Ok(TimelineEvent {
            id: TicketEventId::new(),
            ticket_id: self.id,
            seq: 1,
            at: self.at,
            actor: self.created_by,
            kind: TimelineKind::Created {
                priority: self.priority,
                body: self.body.clone(),
            },
        })
    }
}

fn check_body(body: &str) -> Result<(), TicketError> {
    if body.trim().is_empty() || body.len() > MAX_BODY_BYTES {
        return Err(TicketError::Invalid {
            field: "body",
            reason: format!("must be 1 to {MAX_BODY_BYTES} bytes of text"),
        });
    }
    Ok(())
}

/// Why a change to a ticket was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// The transition table does not allow it.
    #[error("a ticket cannot go from {from} to {to}")]
    InvalidTransition { from: TicketState, to: TicketState },
    /// Closed tickets are final.
    #[error("the ticket is closed; open a new one")]
    Closed,
    /// Client users only write public replies.
    #[error("client users cannot write internal notes")]
    InternalNoteByClient,
    /// The change names a state or priority the ticket no longer has (someone changed it).
    #[error("the ticket's {field} is no longer {expected}")]
    Stale {
        field: &'static str,
        expected: String,
    },
    /// A field is missing, too long or unknown.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl Ticket {
    /// The ticket after `kind` happened, and the event to append (`seq` = version + 1). The rules
    /// that move a state by themselves: the first public staff reply takes a new ticket to open,
    /// and a customer's reply ends a wait on them (it is what was waited for).
    pub fn apply(
        &self,
        kind: TimelineKind,
        actor: Actor,
        at: Timestamp,
    ) -> Result<(Ticket, TimelineEvent), TicketError> {
        if self.state == TicketState::Closed {
            return Err(TicketError::Closed);
        }
        let mut next = self.clone();
        match &kind {
            TimelineKind::Created { .. } => {
                return Err(TicketError::Invalid {
                    field: "type",
                    reason: "a ticket is created only once".into(),
                });
            }
            TimelineKind::Reply { visibility, body } => {
                check_body(body)?;
                match (actor.kind(), visibility) {
                    (AuthorKind::Client, Visibility::Internal) => {
                        return Err(TicketError::InternalNoteByClient);
                    }
                    (AuthorKind::Staff, Visibility::Public) if self.state == TicketState::New => {
                        next.state = TicketState::Open;
                    }
                    (AuthorKind::Client, Visibility::Public)
                        if self.state == TicketState::WaitingOnCustomer =>
                    {
                        next.state = TicketState::Open;
                    }
                    _ => {}
                }
            }
            TimelineKind::StateChanged { from, to, .. } => {
                if *from != self.state {
                    return Err(TicketError::Stale {
                        field: "state",
                        expected: from.to_string(),
                    });
                }
                if !from.can_become(*to) {
                    return Err(TicketError::InvalidTransition {
                        from: *from,
                        to: *to,
                    });
                }
                next.state = *to;
            }
            TimelineKind::PriorityChanged { from, to, .. } => {
                if *from != self.priority {
                    return Err(TicketError::Stale {
                        field: "priority",
                        expected: priority_str(*from).to_owned(),
                    });
                }
                if from == to {
                    return Err(TicketError::Invalid {
                        field: "priority",
                        reason: "is already that".into(),
                    });
                }
                next.priority = *to;
            }
            TimelineKind::Escalated { reason } => {
                if reason.trim().is_empty() {
                    return Err(TicketError::Invalid {
                        field: "reason",
                        reason: "an escalation needs a reason".into(),
                    });
                }
                next.line = Line::Second;
            }
        }
        next.version = self.version + 1;
        next.updated_at = at;
        let event = TimelineEvent {
            id: TicketEventId::new(),
            ticket_id: self.id,
            seq: next.version,
            at,
            actor,
            kind,
        };
        Ok((next, event))
    }
}

/// The SLA engine's view of a timeline. Only public replies count as responses: an internal note
/// answers nobody. A system message (an automatic acknowledgement) is not a response either, or
/// every ticket would meet its first-response target the moment it was opened. Moving from new
/// to open, and closing a resolved ticket, change no clock. A ticket staff open for a customer
/// (a patch campaign's notice) starts with the provider having spoken: no first response is owed.
pub fn sla_events(timeline: &[TimelineEvent]) -> Vec<sla::TicketEvent> {
    let mut out = Vec::with_capacity(timeline.len() + 1);
    for e in timeline {
        if let (TimelineKind::Created { priority, .. }, AuthorKind::Staff) =
            (&e.kind, e.actor.kind())
        {
            out.push(sla::TicketEvent::new(
                e.at,
                EventKind::Created {
                    priority: *priority,
                },
            ));
            out.push(sla::TicketEvent::new(e.at, EventKind::StaffReply));
            continue;
        }
        out.extend(sla_event(e));
    }
    out
}

fn sla_event(e: &TimelineEvent) -> Option<sla::TicketEvent> {
    let kind = match &e.kind {
        TimelineKind::Created { priority, .. } => EventKind::Created {
            priority: *priority,
        },
        TimelineKind::Reply {
            visibility: Visibility::Public,
            ..
        } => match e.actor.kind() {
            AuthorKind::Staff => EventKind::StaffReply,
            AuthorKind::Client => EventKind::CustomerReply,
            AuthorKind::System => return None,
        },
        TimelineKind::Reply { .. } | TimelineKind::Escalated { .. } => return None,
        TimelineKind::StateChanged { from, to, .. } => match (from, to) {
            (_, TicketState::WaitingOnCustomer) => EventKind::WaitingOnCustomer,
            (_, TicketState::Resolved) => EventKind::Resolved,
            (TicketState::Resolved, TicketState::Open) => EventKind::Reopened,
            (TicketState::WaitingOnCustomer, TicketState::Open) => EventKind::Resumed,
            _ => return None,
        },
        TimelineKind::PriorityChanged { to, .. } => EventKind::PriorityChanged { priority: *to },
    };
    Some(sla::TicketEvent::new(e.at, kind))
}

/// Why the system escalates `ticket` by itself as of `now`, or `None`. The rule: a critical ticket
/// that is still with the first line, not resolved or closed, and has had no public staff reply
/// for `after` of wall-clock time since it became critical (opened as critical, or raised to it)
/// goes to the second line. Wall-clock time, not business time: critical issues are answered
/// round the clock (their SLA targets are calendar minutes), so a ticket opened at 02:00 must not
/// wait for the office to open before someone senior looks at it. An internal note is not an
/// answer, and neither is a system message.
pub fn auto_escalation(
    ticket: &Ticket,
    timeline: &[TimelineEvent],
    now: Timestamp,
    after: jiff::SignedDuration,
) -> Option<String> {
    if ticket.priority != Priority::Critical
        || ticket.line != Line::First
        || matches!(ticket.state, TicketState::Resolved | TicketState::Closed)
    {
        return None;
    }
    let answered = timeline.iter().any(|e| {
        e.actor.kind() == AuthorKind::Staff
            && matches!(
                e.kind,
                TimelineKind::Reply {
                    visibility: Visibility::Public,
                    ..
                }
            )
    });
    if answered {
        return None;
    }
    // The latest moment it became critical: creation or the last raise to critical.
    let since = timeline
        .iter()
        .filter_map(|e| match &e.kind {
            TimelineKind::Created {
                priority: Priority::Critical,
                ..
            }
            | TimelineKind::PriorityChanged {
                to: Priority::Critical,
                ..
            } => Some(e.at),
            _ => None,
        })
        .max()?;
    let waited = now.duration_since(since);
    if waited < after {
        return None;
    }
    Some(format!(
        "automatic: critical ticket without a first response from staff for {} minutes \
         (limit {} minutes)",
        waited.as_secs() / 60,
        after.as_secs() / 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::BusinessCalendar;
    use crate::sla::{ClockState, evaluate};

    fn t(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn opened(priority: Priority, at: &str) -> (Ticket, Vec<TimelineEvent>) {
        let client = UserId::new();
        let new = NewTicket {
            id: TicketId::new(),
            client_id: ClientId::new(),
            site_id: None,
            subject: "Shop is down".into(),
            category: Category::Incident,
            priority,
            body: "502 on every page".into(),
            created_by: Actor::Client(client),
            at: t(at),
        };
        let created = new.created_event().expect("valid");
        let ticket = Ticket {
            id: new.id,
            number: 1,
            client_id: new.client_id,
            site_id: None,
            subject: new.subject.clone(),
            category: new.category,
            priority,
            state: TicketState::New,
            created_at: new.at,
            updated_at: new.at,
            created_by: new.created_by,
            version: 1,
            line: Line::First,
            out_of_hours: false,
            sla: SlaStamp::default(),
        };
        (ticket, vec![created])
    }

    fn step(
        ticket: &mut Ticket,
        log: &mut Vec<TimelineEvent>,
        kind: TimelineKind,
        actor: Actor,
        at: &str,
    ) {
        let (next, event) = ticket.apply(kind, actor, t(at)).expect("allowed");
        assert_eq!(event.seq, next.version);
        *ticket = next;
        log.push(event);
    }

    fn reply(visibility: Visibility, body: &str) -> TimelineKind {
        TimelineKind::Reply {
            visibility,
            body: body.into(),
        }
    }

    #[test]
    fn the_transition_table_is_explicit_and_closed_is_final() {
        use TicketState::*;
        let allowed: Vec<(TicketState, TicketState)> = TicketState::ALL
            .into_iter()
            .flat_map(|a| TicketState::ALL.into_iter().map(move |b| (a, b)))
            .filter(|(a, b)| a.can_become(*b))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (New, Open),
                (New, WaitingOnCustomer),
                (New, Resolved),
                (Open, WaitingOnCustomer),
                (Open, Resolved),
                (WaitingOnCustomer, Open),
                (WaitingOnCustomer, Resolved),
                (Resolved, Open),
                (Resolved, Closed),
            ]
        );
        for s in TicketState::ALL {
            assert_eq!(s.as_str().parse::<TicketState>(), Ok(s));
        }
    }

    #[test]
    fn a_refused_transition_names_from_and_to() {
        let (ticket, _) = opened(Priority::Normal, "2026-03-02T09:00:00Z");
        let err = ticket
            .apply(
                TimelineKind::StateChanged {
                    from: TicketState::New,
                    to: TicketState::Closed,
                    reason: None,
                },
                Actor::Staff(UserId::new()),
                t("2026-03-02T09:05:00Z"),
            )
            .expect_err("new cannot close");
        assert_eq!(
            err,
            TicketError::InvalidTransition {
                from: TicketState::New,
                to: TicketState::Closed
            }
        );
        assert_eq!(err.to_string(), "a ticket cannot go from new to closed");
    }

    #[test]
    fn clients_cannot_write_internal_notes_and_stale_changes_are_refused() {
        let (ticket, _) = opened(Priority::Normal, "2026-03-02T09:00:00Z");
        let client = Actor::Client(UserId::new());
        assert_eq!(
            ticket
                .apply(
                    reply(Visibility::Internal, "psst"),
                    client,
                    ticket.created_at
                )
                .map(|_| ()),
            Err(TicketError::InternalNoteByClient)
        );
        let stale = ticket.apply(
            TimelineKind::StateChanged {
                from: TicketState::Open,
                to: TicketState::Resolved,
                reason: None,
            },
            Actor::Staff(UserId::new()),
            ticket.created_at,
        );
        assert!(matches!(
            stale,
            Err(TicketError::Stale { field: "state", .. })
        ));
        assert!(matches!(
            ticket.apply(reply(Visibility::Public, "  "), client, ticket.created_at),
            Err(TicketError::Invalid { field: "body", .. })
        ));
    }

    #[test]
    fn replies_move_states_by_themselves() {
        let (mut ticket, mut log) = opened(Priority::Normal, "2026-03-02T09:00:00Z");
        let staff = Actor::Staff(UserId::new());
        let client = Actor::Client(UserId::new());
        step(
            &mut ticket,
            &mut log,
            reply(Visibility::Internal, "looking"),
            staff,
            "2026-03-02T09:01:00Z",
        );
        assert_eq!(ticket.state, TicketState::New, "a note is not an answer");
        step(
            &mut ticket,
            &mut log,
            reply(Visibility::Public, "on it"),
            staff,
            "2026-03-02T09:02:00Z",
        );
        assert_eq!(ticket.state, TicketState::Open);
        step(
            &mut ticket,
            &mut log,
            TimelineKind::StateChanged {
                from: TicketState::Open,
                to: TicketState::WaitingOnCustomer,
                reason: Some("need the URL".into()),
            },
            staff,
            "2026-03-02T09:03:00Z",
        );
        step(
            &mut ticket,
            &mut log,
            reply(Visibility::Public, "here"),
            client,
            "2026-03-02T10:00:00Z",
        );
        assert_eq!(ticket.state, TicketState::Open);
        assert_eq!(ticket.version, 5);
        let seqs: Vec<u32> = log.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        let visible: Vec<u32> = log
            .iter()
            .filter(|e| e.client_visible())
            .map(|e| e.seq)
            .collect();
        assert_eq!(visible, [1, 3, 4, 5], "the internal note is hidden");
    }

    #[test]
    fn internal_notes_and_system_messages_never_meet_the_first_response() {
        let (mut ticket, mut log) = opened(Priority::High, "2026-03-02T09:00:00Z");
        step(
            &mut ticket,
            &mut log,
            reply(Visibility::Internal, "note"),
            Actor::Staff(UserId::new()),
            "2026-03-02T09:10:00Z",
        );
        step(
            &mut ticket,
            &mut log,
            reply(Visibility::Public, "We got it"),
            Actor::System,
            "2026-03-02T09:11:00Z",
        );
        let cal = BusinessCalendar::always("UTC").expect("calendar");
        let status = evaluate(
            &sla_events(&log),
            &default_targets(),
            &cal,
            t("2026-03-02T09:30:00Z"),
        )
        .expect("evaluate");
        let first = status.first_response.expect("tracked");
        assert_eq!(first.state, ClockState::Running);
        assert_eq!(first.stopped_at, None);

        step(
            &mut ticket,
            &mut log,
            reply(Visibility::Public, "Fixed the pool"),
            Actor::Staff(UserId::new()),
            "2026-03-02T09:40:00Z",
        );
        let status = evaluate(
            &sla_events(&log),
            &default_targets(),
            &cal,
            t("2026-03-02T09:45:00Z"),
        )
        .expect("evaluate");
        let first = status.first_response.expect("tracked");
        assert_eq!(first.state, ClockState::Met);
        assert_eq!(first.stopped_at, Some(t("2026-03-02T09:40:00Z")));
    }

    #[test]
    fn waiting_on_the_customer_pauses_and_state_changes_map_to_clock_events() {
        let (mut ticket, mut log) = opened(Priority::Normal, "2026-03-02T09:00:00Z");
        let staff = Actor::Staff(UserId::new());
        step(
            &mut ticket,
            &mut log,
            reply(Visibility::Public, "which page?"),
            staff,
            "2026-03-02T09:05:00Z",
        );
        step(
            &mut ticket,
            &mut log,
            TimelineKind::StateChanged {
                from: TicketState::Open,
                to: TicketState::WaitingOnCustomer,
                reason: None,
            },
            staff,
            "2026-03-02T09:06:00Z",
        );
        let cal = BusinessCalendar::always("UTC").expect("calendar");
        let status = evaluate(
            &sla_events(&log),
            &default_targets(),
            &cal,
            t("2026-03-02T12:00:00Z"),
        )
        .expect("evaluate");
        assert!(status.waiting_on_customer);
        let resolution = status.resolution.expect("tracked");
        assert_eq!(resolution.state, ClockState::Paused);
        assert_eq!(resolution.elapsed, jiff::SignedDuration::from_mins(6));

        let kinds: Vec<EventKind> = sla_events(&log).into_iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::Created {
                    priority: Priority::Normal
                },
                EventKind::StaffReply,
                EventKind::WaitingOnCustomer
            ]
        );
    }

    #[test]
    fn actors_round_trip_through_their_stored_form_and_the_targets_are_valid() {
        for a in [
            Actor::Staff(UserId::new()),
            Actor::Client(UserId::new()),
            Actor::System,
        ] {
            assert_eq!(a.to_string().parse::<Actor>(), Ok(a));
        }
        assert!("robot:1".parse::<Actor>().is_err());
        default_targets().validate().expect("valid targets");
        assert_eq!(
            default_targets().critical.first_response,
            Some(Target::calendar(30))
        );
    }
    #[test]
    fn unanswered_critical_tickets_escalate_once_after_the_limit_and_notes_do_not_count() {
        let after = jiff::SignedDuration::from_mins(15);
        let (mut ticket, mut log) = opened(Priority::Critical, "2026-03-28T02:00:00Z");
        let staff = Actor::Staff(UserId::new());
        step(
            &mut ticket,
            &mut log,
            reply(Visibility::Internal, "paging someone"),
            staff,
            "2026-03-28T02:05:00Z",
        );
        assert_eq!(
            auto_escalation(&ticket, &log, t("2026-03-28T02:14:59Z"), after),
            None
        );
        let reason = auto_escalation(&ticket, &log, t("2026-03-28T02:15:00Z"), after)
            .expect("escalates at the limit");
        assert!(reason.contains("15 minutes"), "{reason}");
        step(
            &mut ticket,
            &mut log,
            TimelineKind::Escalated { reason },
            Actor::System,
            "2026-03-28T02:15:00Z",
        );
        assert_eq!(ticket.line, Line::Second);
        assert_eq!(
            auto_escalation(&ticket, &log, t("2026-03-28T03:00:00Z"), after),
            None,
            "already with the second line"
        );

        // A public staff reply in time, or a lower priority, keeps a ticket where it is; a ticket
        // raised to critical is measured from the raise.
        let (mut answered, mut log) = opened(Priority::Critical, "2026-03-28T02:00:00Z");
        step(
            &mut answered,
            &mut log,
            reply(Visibility::Public, "on it"),
            staff,
            "2026-03-28T02:10:00Z",
        );
        assert_eq!(
            auto_escalation(&answered, &log, t("2026-03-28T05:00:00Z"), after),
            None
        );
        let (mut raised, mut log) = opened(Priority::High, "2026-03-28T02:00:00Z");
        assert_eq!(
            auto_escalation(&raised, &log, t("2026-03-28T05:00:00Z"), after),
            None
        );
        step(
            &mut raised,
            &mut log,
            TimelineKind::PriorityChanged {
                from: Priority::High,
                to: Priority::Critical,
                reason: None,
            },
            staff,
            "2026-03-28T04:50:00Z",
        );
        assert_eq!(
            auto_escalation(&raised, &log, t("2026-03-28T05:00:00Z"), after),
            None
        );
        assert!(auto_escalation(&raised, &log, t("2026-03-28T05:05:00Z"), after).is_some());
    }
}
