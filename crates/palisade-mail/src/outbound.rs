//! Outbound notifications: which timeline events the customer is told about by e-mail, and the
//! message each recipient gets.
//!
//! The rule is general, not per feature: every client-visible event written by staff or by the
//! system that opens a ticket, answers it or resolves it is mailed, whoever wrote it through
//! whichever path (the API, the UI, a patch campaign, a background job). Internal notes and
//! escalations are never mailed, and neither is anything the customer wrote themselves.
//!
//! Every value that reaches a header is checked here, before it is handed to the mailer: the
//! recipient must pass [`valid_address`], the subject is one line without control characters, and
//! Message-IDs are built from UUIDs and a validated domain. A line break can therefore never reach
//! a header, whatever a ticket's subject or a contact's address holds.

use palisade_core::TicketId;
use palisade_desk::ticket::{
    AuthorKind, MAX_SUBJECT_CHARS, Ticket, TicketState, TimelineEvent, TimelineKind, Visibility,
};
use serde::{Deserialize, Serialize};

use crate::address::{valid_address, valid_domain};
use crate::inbound::one_line;

/// Most Message-IDs put in References: the ticket's root, then the newest others.
const MAX_REFERENCES: usize = 10;

/// Why a timeline event is mailed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotificationKind {
    /// Staff or the system opened a ticket for the client (a proactive ticket).
    Opened,
    /// A public reply from staff or the system.
    Reply,
    /// The ticket was resolved.
    Resolved,
}

/// Whether `event` is mailed to the customer, and as what.
pub fn notification_kind(event: &TimelineEvent) -> Option<NotificationKind> {
    if !event.client_visible() || event.actor.kind() == AuthorKind::Client {
        return None;
    }
    match &event.kind {
        TimelineKind::Created { .. } => Some(NotificationKind::Opened),
        TimelineKind::Reply {
            visibility: Visibility::Public,
            ..
        } => Some(NotificationKind::Reply),
        TimelineKind::StateChanged {
            to: TicketState::Resolved,
            ..
        } => Some(NotificationKind::Resolved),
        _ => None,
    }
}

/// A rendered e-mail for one recipient. Message-IDs are without angle brackets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
}

/// Why a notification could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("{0:?} is not an address Palisade sends to")]
    Recipient(String),
    #[error("mail_domain {0:?} is not a domain name")]
    Domain(String),
    #[error("the event is not one that is mailed")]
    NotMailed,
}

/// The Message-ID of an outbox row: its UUID at the mail domain.
pub fn message_id(local: &impl std::fmt::Display, domain: &str) -> Result<String, OutboundError> {
    if !valid_domain(domain) {
        return Err(OutboundError::Domain(domain.to_owned()));
    }
    Ok(format!("{local}@{domain}"))
}

/// The thread root every notification of a ticket references, so that a customer's reply to any
/// of them carries an ID Palisade knows even if their client keeps only the first.
pub fn ticket_root_id(ticket: TicketId, domain: &str) -> Result<String, OutboundError> {
    message_id(&format!("ticket-{ticket}"), domain)
}

fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 998
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '<' && c != '>')
}

/// Renders the e-mail `to` gets for `event` on `ticket`. `thread` holds Message-IDs already in the
/// conversation (messages the customer sent, oldest first); the newest is answered (In-Reply-To)
/// and all are referenced after the ticket's root, so the customer's mail program threads the
/// notification with what they wrote.
pub fn render(
    ticket: &Ticket,
    event: &TimelineEvent,
    to: &str,
    message_id: String,
    thread: &[String],
    domain: &str,
) -> Result<Notification, OutboundError> {
    let kind = notification_kind(event).ok_or(OutboundError::NotMailed)?;
    if !valid_address(to) {
        return Err(OutboundError::Recipient(to.to_owned()));
    }
    let root = ticket_root_id(ticket.id, domain)?;
    let mut references = vec![root];
    let known: Vec<&String> = thread.iter().filter(|id| is_id(id)).collect();
    let skip = known.len().saturating_sub(MAX_REFERENCES - 1);
    for id in known.into_iter().skip(skip) {
        if !references.contains(id) {
            references.push(id.clone());
        }
    }
    let in_reply_to = references.last().cloned();
    let subject = one_line(&ticket.subject, MAX_SUBJECT_CHARS);
    let n = ticket.number;
    let footer = format!(
        "\n\n-- \nTicket #{n}: {subject}\nReply to this e-mail to add to the ticket (keep [#{n}] in the subject)."
    );
    let (subject, text) = match (&event.kind, kind) {
        (TimelineKind::Created { body, .. }, _) => (format!("[#{n}] {subject}"), body.clone()),
        (TimelineKind::Reply { body, .. }, _) => (format!("Re: [#{n}] {subject}"), body.clone()),
        (TimelineKind::StateChanged { reason, .. }, NotificationKind::Resolved) => (
            format!("[#{n}] Resolved: {subject}"),
            match reason {
                Some(r) => format!("Ticket #{n} has been resolved.\n\n{r}"),
                None => format!("Ticket #{n} has been resolved."),
            },
        ),
        _ => return Err(OutboundError::NotMailed),
    };
    Ok(Notification {
        to: to.to_owned(),
        subject: one_line(&subject, 250),
        body: format!("{text}{footer}"),
        message_id,
        in_reply_to,
        references,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::{ClientId, TicketEventId, UserId};
    use palisade_desk::sla::Priority;
    use palisade_desk::ticket::{Actor, Category};

    fn ticket(subject: &str) -> Ticket {
        let at = "2026-12-01T10:00:00Z".parse().expect("time");
        Ticket {
            id: TicketId::new(),
            number: 42,
            client_id: ClientId::new(),
            site_id: None,
            subject: subject.into(),
            category: Category::Incident,
            priority: Priority::High,
            state: TicketState::Open,
            created_at: at,
            updated_at: at,
            created_by: Actor::System,
            version: 2,
            line: palisade_desk::ticket::Line::First,
            out_of_hours: false,
            sla: Default::default(),
        }
    }

    fn event(t: &Ticket, actor: Actor, kind: TimelineKind) -> TimelineEvent {
        TimelineEvent {
            id: TicketEventId::new(),
            ticket_id: t.id,
            seq: 2,
            at: t.created_at,
            actor,
            kind,
        }
    }

    fn reply(visibility: Visibility) -> TimelineKind {
        TimelineKind::Reply {
            visibility,
            body: "We patched it.".into(),
        }
    }

    #[test]
    fn only_staff_and_system_client_visible_events_are_mailed() {
        let t = ticket("Shop down");
        let staff = Actor::Staff(UserId::new());
        assert_eq!(
            notification_kind(&event(&t, staff, reply(Visibility::Public))),
            Some(NotificationKind::Reply)
        );
        assert_eq!(
            notification_kind(&event(&t, staff, reply(Visibility::Internal))),
            None
        );
        assert_eq!(
            notification_kind(&event(
                &t,
                Actor::Client(UserId::new()),
                reply(Visibility::Public)
            )),
            None
        );
        assert_eq!(
            notification_kind(&event(
                &t,
                Actor::System,
                TimelineKind::Created {
                    priority: Priority::High,
                    body: "A vulnerability affects your site.".into()
                }
            )),
            Some(NotificationKind::Opened)
        );
        assert_eq!(
            notification_kind(&event(
                &t,
                staff,
                TimelineKind::Escalated { reason: "x".into() }
            )),
            None
        );
        let resolved = TimelineKind::StateChanged {
            from: TicketState::Open,
            to: TicketState::Resolved,
            reason: Some("Patched on live.".into()),
        };
        assert_eq!(
            notification_kind(&event(&t, staff, resolved)),
            Some(NotificationKind::Resolved)
        );
        let waiting = TimelineKind::StateChanged {
            from: TicketState::Open,
            to: TicketState::WaitingOnCustomer,
            reason: None,
        };
        assert_eq!(notification_kind(&event(&t, staff, waiting)), None);
    }

    #[test]
    fn notifications_thread_and_carry_the_ticket_number() {
        let t = ticket("Shop down");
        let e = event(&t, Actor::Staff(UserId::new()), reply(Visibility::Public));
        let n = render(
            &t,
            &e,
            "jane@acme.example",
            "abc@desk.example.net".into(),
            &["first@acme.example".into(), "second@acme.example".into()],
            "desk.example.net",
        )
        .expect("render");
        assert_eq!(n.subject, "Re: [#42] Shop down");
        assert_eq!(
            n.references,
            [
                format!("ticket-{}@desk.example.net", t.id),
                "first@acme.example".into(),
                "second@acme.example".into()
            ]
        );
        assert_eq!(n.in_reply_to.as_deref(), Some("second@acme.example"));
        assert!(n.body.starts_with("We patched it."));
        assert!(n.body.contains("[#42]"));
    }

    #[test]
    fn nothing_reaches_a_header_with_a_line_break() {
        let t = ticket("Shop down\r\nBcc: victim@elsewhere.example");
        let e = event(&t, Actor::Staff(UserId::new()), reply(Visibility::Public));
        let n = render(
            &t,
            &e,
            "jane@acme.example",
            "a@d.example".into(),
            &[],
            "d.example",
        )
        .expect("render");
        assert!(
            !n.subject.contains('\r') && !n.subject.contains('\n'),
            "{:?}",
            n.subject
        );
        assert!(matches!(
            render(
                &t,
                &e,
                "jane@acme.example\r\nBcc: x@evil.example",
                "a@d.example".into(),
                &[],
                "d.example"
            ),
            Err(OutboundError::Recipient(_))
        ));
        assert!(matches!(
            render(
                &t,
                &e,
                "jane@acme.example",
                "a@d".into(),
                &["x\r\ny".into()],
                "bad domain\r\n"
            ),
            Err(OutboundError::Domain(_))
        ));
        let n = render(
            &t,
            &e,
            "jane@acme.example",
            "a@d.example".into(),
            &["x y".into()],
            "d.example",
        )
        .expect("render");
        assert_eq!(
            n.references.len(),
            1,
            "a thread ID with a space is left out"
        );
    }
}
