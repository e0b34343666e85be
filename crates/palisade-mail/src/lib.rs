//! The support desk's e-mail, as pure code: bytes in, decisions out. Nothing here opens a socket,
//! a file or a database; the binary feeds messages in (`palisade mail ingest`, the SMTP listener)
//! and delivers what [`outbound`] renders, and the store keeps what was decided.
//!
//! - [`limits`]: every size and count an inbound message must stay within, in one place.
//! - [`inbound`]: parsing an RFC 5322 message (with `mail-parser`) into what the desk needs, or a
//!   [`Refusal`] with a machine-readable reason and a human message: malformed, too big, forged or
//!   ambiguous headers, auto-replies and bounces (never ticketed, to avoid mail loops). HTML is
//!   turned into plain text, so no markup or script is ever stored.
//! - [`route`]: which ticket a message belongs to (threaded by Message-ID, then by a `[#NUMBER]`
//!   subject token from the ticket's own client), or a new ticket for the sender's client.
//! - [`outbound`]: which timeline events are mailed to the customer, to whom, and the message
//!   (subject with `[#NUMBER]`, stable Message-ID, In-Reply-To/References) with every header
//!   value checked so nothing can be injected.
//! - [`address`]: address normalisation, validation and the keyed blind index that lets the store
//!   find a contact by a sealed e-mail address.
//! - [`smtp`]: the RFC 5321 receiver's state machine (commands, replies, DATA with the size limit
//!   enforced as it arrives), driven by the binary's listener.

pub mod address;
pub mod inbound;
pub mod limits;
pub mod outbound;
pub mod route;
pub mod smtp;

pub use address::{BlindIndex, normalise_address, valid_address};
pub use inbound::{Attachment, Dropped, Inbound, parse};
pub use limits::Limits;
pub use outbound::{Notification, NotificationKind, notification_kind};
pub use route::{KnownTicket, Route, Sender, SenderKind, route};

use serde::Serialize;

/// Why a message was not turned into a ticket message: a stable code for machines (logs, exit
/// summaries, SMTP replies) and a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Refusal {
    pub code: RefusalCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: RefusalCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The machine-readable reason of a [`Refusal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalCode {
    /// Not a parseable RFC 5322 message (no header section, binary garbage, broken structure).
    Malformed,
    /// Larger than the message size limit.
    TooBig,
    /// More header fields, or a longer header field, than the limits allow.
    HeadersTooLarge,
    /// More MIME parts than the limit (a message built to exhaust the parser).
    TooManyParts,
    /// No usable From address.
    NoSender,
    /// Several From header fields, or several addresses in one: who wrote it is ambiguous.
    MultipleFrom,
    /// A header that must appear once appears several times, or holds line breaks or control
    /// characters: the message was built to confuse, so it is not believed.
    ForgedHeaders,
    /// An automatic message (Auto-Submitted, Precedence: bulk/junk/list, an empty Return-Path,
    /// a delivery report): answering it could start a mail loop.
    AutoReply,
    /// The From address belongs to no client's contact or user.
    UnknownSender,
    /// The address belongs to several clients and nothing in the message says which is meant.
    AmbiguousSender,
    /// The same Message-ID was already taken in (a re-run of an import, a retried delivery).
    Duplicate,
    /// The desk refused the message (for example a ticket that can take no more messages).
    Rejected,
}

impl RefusalCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::Malformed => "malformed",
            RefusalCode::TooBig => "too-big",
            RefusalCode::HeadersTooLarge => "headers-too-large",
            RefusalCode::TooManyParts => "too-many-parts",
            RefusalCode::NoSender => "no-sender",
            RefusalCode::MultipleFrom => "multiple-from",
            RefusalCode::ForgedHeaders => "forged-headers",
            RefusalCode::AutoReply => "auto-reply",
            RefusalCode::UnknownSender => "unknown-sender",
            RefusalCode::AmbiguousSender => "ambiguous-sender",
            RefusalCode::Duplicate => "duplicate",
            RefusalCode::Rejected => "rejected",
        }
    }
}

impl std::fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
