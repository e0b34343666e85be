//! Where an accepted message goes: a reply on an existing ticket, or a new ticket for the
//! sender's client. Pure: the caller looks up the sender and the referenced tickets and passes
//! them in, so every rule is tested here without a database.
//!
//! Threading trusts Message-IDs first (In-Reply-To, then References newest first), matched
//! against IDs Palisade recorded for the ticket (its notifications and the messages it took in),
//! and falls back to a `[#NUMBER]` token in the subject. Both only ever thread onto a ticket of a
//! client the sender belongs to: a customer who guesses or copies another client's ticket number
//! or Message-ID opens a ticket of their own instead of writing into someone else's.

use palisade_core::{ClientId, ContactId, TicketId, UserId};
use palisade_desk::ticket::{Actor, TicketState};

use crate::{Inbound, Refusal, RefusalCode};

/// Who an address belongs to at one client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sender {
    pub client_id: ClientId,
    pub kind: SenderKind,
}

/// A client user (who can also sign in) or a contact (who only e-mails).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenderKind {
    User(UserId),
    Contact(ContactId),
}

impl Sender {
    /// Who the message is from in the ticket's timeline.
    pub fn actor(self) -> Actor {
        match self.kind {
            SenderKind::User(u) => Actor::Client(u),
            SenderKind::Contact(c) => Actor::Contact(c),
        }
    }
}

/// A ticket the message may belong to, as the store found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownTicket {
    pub id: TicketId,
    pub number: i64,
    pub client_id: ClientId,
    pub state: TicketState,
}

/// What to do with the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A customer reply on this ticket.
    Reply { ticket: KnownTicket, sender: Sender },
    /// A new ticket for this client. `follows` is a closed ticket the message answered: closed
    /// tickets are final, so the answer opens a new one that names the old.
    New {
        sender: Sender,
        follows: Option<KnownTicket>,
    },
}

/// The ticket number in a `[#1042]` token of the subject, if there is one.
pub fn subject_number(subject: &str) -> Option<i64> {
    let mut rest = subject;
    while let Some(at) = rest.find("[#") {
        rest = &rest[at + 2..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty()
            && rest[digits.len()..].starts_with(']')
            && let Ok(n) = digits.parse::<i64>()
        {
            return Some(n);
        }
    }
    None
}

/// Decides where `msg` goes. `senders` is everyone the From address is at any client;
/// `referenced` the tickets its Message-IDs matched, in the order of `msg.references`; `by_number`
/// the ticket its subject token names, if any. A user is preferred over a contact with the same
/// address at the same client, since the user is the more specific identity.
pub fn route(
    msg: &Inbound,
    senders: &[Sender],
    referenced: &[KnownTicket],
    by_number: Option<KnownTicket>,
) -> Result<Route, Refusal> {
    if senders.is_empty() {
        return Err(Refusal::new(
            RefusalCode::UnknownSender,
            format!(
                "{} is not the address of any client's contact or user",
                msg.from
            ),
        ));
    }
    let sender_at = |client: ClientId| {
        let mut at = senders.iter().filter(|s| s.client_id == client);
        let all: Vec<Sender> = at.by_ref().copied().collect();
        all.iter()
            .find(|s| matches!(s.kind, SenderKind::User(_)))
            .or_else(|| all.first())
            .copied()
    };
    let threaded = referenced
        .iter()
        .copied()
        .chain(by_number)
        .find_map(|t| sender_at(t.client_id).map(|s| (t, s)));
    if let Some((ticket, sender)) = threaded {
        return Ok(if ticket.state == TicketState::Closed {
            Route::New {
                sender,
                follows: Some(ticket),
            }
        } else {
            Route::Reply { ticket, sender }
        });
    }
    let mut clients: Vec<ClientId> = senders.iter().map(|s| s.client_id).collect();
    clients.sort();
    clients.dedup();
    match clients.as_slice() {
        [one] => Ok(Route::New {
            sender: sender_at(*one).expect("a sender of that client"),
            follows: None,
        }),
        _ => Err(Refusal::new(
            RefusalCode::AmbiguousSender,
            format!(
                "{} belongs to {} clients and the message names no ticket of theirs; \
                 reply to a ticket e-mail, or write from an address of one client only",
                msg.from,
                clients.len()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> Inbound {
        Inbound {
            from: "jane@acme.example".into(),
            message_id: Some("m1@acme.example".into()),
            subject: "Re: [#12] Shop down".into(),
            references: vec![],
            body: "still down".into(),
            from_html: false,
            attachments: vec![],
            dropped: vec![],
            size: 10,
        }
    }

    fn ticket(client: ClientId, number: i64, state: TicketState) -> KnownTicket {
        KnownTicket {
            id: TicketId::new(),
            number,
            client_id: client,
            state,
        }
    }

    #[test]
    fn subject_tokens() {
        assert_eq!(subject_number("Re: [#1042] Shop down"), Some(1042));
        assert_eq!(subject_number("[#x] [#7]"), Some(7));
        assert_eq!(subject_number("[#12 ] nothing"), None);
        assert_eq!(subject_number("#12"), None);
    }

    #[test]
    fn threads_only_onto_the_senders_own_clients_tickets() {
        let acme = ClientId::new();
        let other = ClientId::new();
        let contact = Sender {
            client_id: acme,
            kind: SenderKind::Contact(ContactId::new()),
        };
        let user = Sender {
            client_id: acme,
            kind: SenderKind::User(UserId::new()),
        };
        let theirs = ticket(other, 12, TicketState::Open);
        let ours = ticket(acme, 13, TicketState::Open);
        // Another client's ticket, by reference or by number, is ignored: a new ticket for Acme.
        assert_eq!(
            route(&msg(), &[contact], &[theirs], Some(theirs)),
            Ok(Route::New {
                sender: contact,
                follows: None
            })
        );
        // A reference to the sender's own ticket wins over the subject, and the user is preferred.
        assert_eq!(
            route(&msg(), &[contact, user], &[theirs, ours], Some(theirs)),
            Ok(Route::Reply {
                ticket: ours,
                sender: user
            })
        );
        // The subject token is the fallback.
        assert_eq!(
            route(&msg(), &[contact], &[], Some(ours)),
            Ok(Route::Reply {
                ticket: ours,
                sender: contact
            })
        );
        // A closed ticket is answered with a new one naming it.
        let closed = ticket(acme, 14, TicketState::Closed);
        assert_eq!(
            route(&msg(), &[contact], &[closed], None),
            Ok(Route::New {
                sender: contact,
                follows: Some(closed)
            })
        );
    }

    #[test]
    fn unknown_and_ambiguous_senders_are_refused() {
        assert_eq!(
            route(&msg(), &[], &[], None).map_err(|r| r.code),
            Err(RefusalCode::UnknownSender)
        );
        let a = Sender {
            client_id: ClientId::new(),
            kind: SenderKind::Contact(ContactId::new()),
        };
        let b = Sender {
            client_id: ClientId::new(),
            kind: SenderKind::Contact(ContactId::new()),
        };
        assert_eq!(
            route(&msg(), &[a, b], &[], None).map_err(|r| r.code),
            Err(RefusalCode::AmbiguousSender)
        );
        // Naming a ticket of one of them settles it.
        let t = ticket(b.client_id, 3, TicketState::New);
        assert_eq!(
            route(&msg(), &[a, b], &[], Some(t)),
            Ok(Route::Reply {
                ticket: t,
                sender: b
            })
        );
    }
}
