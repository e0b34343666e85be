//! Newtype identifiers. Each record kind has its own ID type so that a site ID can never be passed
//! where a client ID is expected. IDs are UUIDv7: time-ordered, so ordering by ID is ordering by
//! creation, which is what cursor pagination relies on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    )*};
}

id_type!(
    /// A client organisation (a customer of the provider).
    ClientId,
    /// A person to contact at a client.
    ContactId,
    /// A client's website.
    SiteId,
    /// One environment (dev, staging, live) of a site.
    EnvironmentId,
    /// A server that runs environments.
    HostId,
    /// A staff member or client user.
    UserId,
    /// An API token.
    TokenId,
    /// A login session.
    SessionId,
    /// One HTTP request, as recorded.
    RequestId,
    /// One inventory upload of an environment.
    SnapshotId,
    /// One vulnerability finding: an installed package version affected by an alias group.
    FindingId,
    /// One entry in a finding's history.
    FindingEventId,
    /// Time a member of staff worked on a ticket (billed in and out of hours).
    WorkLogId,
    /// One event in the tamper-evident audit log.
    AuditEventId,
    /// A support ticket.
    TicketId,
    /// One entry in a ticket's timeline (a message, a state or priority change).
    TicketEventId,
    /// A patch campaign: one advisory's fix rolled out across every affected environment.
    CampaignId,
    /// One entry in a campaign's timeline.
    CampaignEventId,
);

// The support desk's e-mail (crate `palisade-mail`), kept apart so other additions do not collide.
id_type!(
    /// A file attached to a ticket message (from an e-mail or the API).
    AttachmentId,
    /// One e-mail queued for delivery (an outbox row); also the local part of its Message-ID.
    OutboxId,
    /// One e-mail received (inbound), as recorded for threading and deduplication.
    InboundMailId,
);
