//! `MailStore` on both backends, and the blind index of contacts' addresses.
//!
//! Contacts' addresses are sealed, so each contact row also carries `email_bidx`, the keyed blind
//! index of its address (`palisade_mail::BlindIndex`), written with the address by
//! `create_contact`/`update_contact` once the binary has handed the store its key
//! ([`SqlStore::set_blind_index`]). [`SqlStore::backfill_blind_index`] fills it for rows written
//! before (or without) the key and rebuilds it when the key changed, which the stored fingerprint
//! shows.
//!
//! Attachments and outbox e-mails are sealed like message bodies, bound to their row.

use async_trait::async_trait;
use jiff::Timestamp;
use palisade_core::{AttachmentId, OutboxId, TicketId};
use palisade_desk::ticket::{Actor, Ticket, TimelineEvent};
use palisade_mail::{BlindIndex, KnownTicket, Notification, Sender, SenderKind, normalise_address};
use palisade_store::{
    AttachmentMeta, DeskStore, MailEnqueue, MailIntake, MailStore, MailTicketWrite, NewAttachment,
    OutboxCounts, OutboxMail, PendingMailEvent, StoreError, StoreResult,
};

use crate::SqlStore;
use crate::desk::TicketEventRow;
use crate::reader::{Arg, Stmt, args};
use crate::rows::{json, micros, parse, row, ts};
use crate::sealed::{Legacy, open, open_text, seal};

/// Rows per step of the blind index backfill.
const BACKFILL_BATCH: i64 = 500;
/// Most Message-IDs looked up for one message.
const MAX_LOOKUP_IDS: usize = 100;

row!(SenderRow {
    id: String,
    client_id: String,
});

row!(KnownRow {
    message_id: String,
    id: String,
    number: i64,
    client_id: String,
    state: String,
});

row!(MessageIdRow { message_id: String });

row!(AttachmentRow {
    id: String,
    ticket_id: String,
    event_id: String,
    visibility: String,
    content_type: String,
    size: i64,
    filename: String,
    key_version: i64,
    created_at: i64,
});

row!(DataRow {
    data: String,
    key_version: i64,
});

row!(EmailRow {
    id: String,
    email: String,
    key_version: i64,
});

row!(OutboxRow {
    id: String,
    event_id: String,
    ticket_id: String,
    client_id: String,
    attempts: i64,
    payload: String,
    key_version: i64,
});

row!(CountRow {
    state: String,
    n: i64
});

row!(FingerprintRow {
    fingerprint: String
});

const ATTACHMENT_COLS: &str = "id, ticket_id, event_id, visibility, content_type, size, filename, \
     key_version, created_at";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn no_key() -> StoreError {
    StoreError::Backend("the blind index key is not configured (set_blind_index)".into())
}

impl TryFrom<KnownRow> for KnownTicket {
    type Error = StoreError;
    fn try_from(r: KnownRow) -> Result<Self, StoreError> {
        Ok(KnownTicket {
            id: parse("ticket id", &r.id)?,
            number: r.number,
            client_id: parse("client id", &r.client_id)?,
            state: r.state.parse().map_err(|e| corrupt("ticket state", e))?,
        })
    }
}

impl SqlStore {
    /// Gives the store the blind index key (derived from a secret kept outside the database).
    /// Contacts written from now on carry their index; earlier ones get it from
    /// [`SqlStore::backfill_blind_index`]. A second call is ignored: the key is fixed for the
    /// life of the process.
    pub fn set_blind_index(&self, index: BlindIndex) {
        let _ = self.blind.set(index);
    }

    /// The blind index of an address, if the key is configured.
    pub(crate) fn email_bidx(&self, email: &str) -> Option<String> {
        self.blind.get().map(|b| b.of(email))
    }

    /// Writes the blind index of every contact that lacks one, or of every contact when the key
    /// changed since the index was built; returns how many rows it wrote. Resumable and safe
    /// beside live writes: a row changed meanwhile is skipped (its write set its own index).
    pub async fn backfill_blind_index(&self) -> StoreResult<u64> {
        let blind = self.blind.get().ok_or_else(no_key)?;
        let fingerprint = blind.fingerprint();
        let stored: Option<FingerprintRow> = self
            .read_opt(
                "SELECT fingerprint FROM mail_index_state WHERE id = 1",
                Vec::new(),
            )
            .await?;
        let rebuild = stored.is_some_and(|s| s.fingerprint != fingerprint);
        let mut done = 0u64;
        let mut after: Option<String> = None;
        loop {
            let rows: Vec<EmailRow> = self
                .read_all(
                    "SELECT id, email, key_version FROM contacts \
                     WHERE ($1 OR email_bidx IS NULL) AND ($2 IS NULL OR id > $2) \
                     ORDER BY id LIMIT $3",
                    args![rebuild, &after, BACKFILL_BATCH],
                )
                .await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.id.clone());
            let mut statements = Vec::with_capacity(rows.len());
            for r in rows {
                let email = open_text(
                    &self.keys,
                    "contacts",
                    "email",
                    &r.id,
                    r.key_version,
                    &r.email,
                )?;
                statements.push(Stmt::new(
                    "UPDATE contacts SET email_bidx = $1 WHERE id = $2 AND key_version = $3 \
                     AND email = $4",
                    args![blind.of(&email), r.id, r.key_version, r.email],
                ));
            }
            done += statements.len() as u64;
            self.write_tx(statements).await?;
        }
        self.write_tx(vec![Stmt::new(
            "INSERT INTO mail_index_state (id, fingerprint) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET fingerprint = $1",
            args![fingerprint],
        )])
        .await?;
        Ok(done)
    }

    fn message_id_insert(
        message_id: &str,
        ticket: TicketId,
        direction: &str,
        at: Timestamp,
    ) -> Stmt {
        Stmt::new(
            "INSERT INTO mail_messages (message_id, ticket_id, direction, at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (message_id) DO NOTHING",
            args![message_id, ticket.to_string(), direction, micros(at)],
        )
    }

    /// The insert of one attachment, its name and bytes sealed under the newest key.
    fn attachment_insert(&self, event: &TimelineEvent, a: &NewAttachment, at: Timestamp) -> Stmt {
        let id = a.id.to_string();
        let ring = self.keys.current();
        Stmt::new(
            format!(
                "INSERT INTO ticket_attachments ({ATTACHMENT_COLS}, data) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            args![
                id.clone(),
                event.ticket_id.to_string(),
                event.id.to_string(),
                event.kind.visibility().as_str(),
                a.content_type.as_str(),
                i64::try_from(a.data.len()).unwrap_or(i64::MAX),
                seal(
                    &ring,
                    "ticket_attachments",
                    "filename",
                    &id,
                    a.filename.as_bytes()
                ),
                i64::from(ring.newest()),
                micros(at),
                seal(&ring, "ticket_attachments", "data", &id, &a.data)
            ],
        )
    }

    fn attachment_meta(&self, r: AttachmentRow) -> StoreResult<AttachmentMeta> {
        let filename = open_text(
            &self.keys,
            "ticket_attachments",
            "filename",
            &r.id,
            r.key_version,
            &r.filename,
        )?;
        Ok(AttachmentMeta {
            id: parse("attachment id", &r.id)?,
            ticket_id: parse("ticket id", &r.ticket_id)?,
            event_id: parse("ticket event id", &r.event_id)?,
            visibility: match r.visibility.as_str() {
                "public" => palisade_desk::ticket::Visibility::Public,
                "internal" => palisade_desk::ticket::Visibility::Internal,
                other => return Err(corrupt("attachment visibility", other)),
            },
            filename,
            content_type: r.content_type,
            size: u64::try_from(r.size).unwrap_or(0),
            created_at: ts(r.created_at)?,
        })
    }
}

#[async_trait]
impl MailStore for SqlStore {
    async fn mail_senders(&self, address: &str) -> StoreResult<Vec<Sender>> {
        let address = normalise_address(address);
        let mut out = Vec::new();
        let users: Vec<SenderRow> = self
            .read_all(
                "SELECT id, client_id FROM users WHERE email_key = $1 AND client_id IS NOT NULL \
                 AND disabled_at IS NULL ORDER BY id",
                args![address.clone()],
            )
            .await?;
        for u in users {
            out.push(Sender {
                client_id: parse("client id", &u.client_id)?,
                kind: SenderKind::User(parse("user id", &u.id)?),
            });
        }
        let bidx = self.email_bidx(&address).ok_or_else(no_key)?;
        let contacts: Vec<SenderRow> = self
            .read_all(
                "SELECT c.id, c.client_id FROM contacts c JOIN clients k ON k.id = c.client_id \
                 WHERE c.email_bidx = $1 AND c.archived_at IS NULL AND k.archived_at IS NULL \
                 ORDER BY c.id",
                args![bidx],
            )
            .await?;
        for c in contacts {
            out.push(Sender {
                client_id: parse("client id", &c.client_id)?,
                kind: SenderKind::Contact(parse("contact id", &c.id)?),
            });
        }
        Ok(out)
    }

    async fn tickets_by_message_ids(&self, ids: &[String]) -> StoreResult<Vec<KnownTicket>> {
        let ids: Vec<&String> = ids.iter().take(MAX_LOOKUP_IDS).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT m.message_id, t.id, t.number, t.client_id, t.state FROM mail_messages m \
             JOIN tickets t ON t.id = m.ticket_id WHERE m.message_id IN ({})",
            marks.join(", ")
        );
        let rows: Vec<KnownRow> = self
            .read_all(&sql, ids.iter().map(|i| Arg::from(i.as_str())).collect())
            .await?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(r) = rows.iter().find(|r| &r.message_id == id) {
                let t = KnownTicket::try_from(KnownRow {
                    message_id: r.message_id.clone(),
                    id: r.id.clone(),
                    number: r.number,
                    client_id: r.client_id.clone(),
                    state: r.state.clone(),
                })?;
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        Ok(out)
    }

    async fn ticket_by_number(&self, number: i64) -> StoreResult<Option<KnownTicket>> {
        let row: Option<KnownRow> = self
            .read_opt(
                "SELECT '' AS message_id, id, number, client_id, state FROM tickets WHERE number = $1",
                args![number],
            )
            .await?;
        row.map(KnownTicket::try_from).transpose()
    }

    async fn mail_seen(&self, message_id: &str) -> StoreResult<bool> {
        let row: Option<MessageIdRow> = self
            .read_opt(
                "SELECT message_id FROM mail_messages WHERE message_id = $1",
                args![message_id],
            )
            .await?;
        Ok(row.is_some())
    }

    async fn take_in_mail(&self, intake: &MailIntake) -> StoreResult<Ticket> {
        let (ticket_id, event) = match &intake.write {
            MailTicketWrite::New { ticket, created } => (ticket.id, created),
            MailTicketWrite::Append { ticket, event } => (ticket.id, event),
        };
        let extra = || -> StoreResult<Vec<Stmt>> {
            let mut statements = Vec::new();
            if let Some(id) = &intake.message_id {
                // Not `DO NOTHING`: a message someone else took in first must fail this one.
                statements.push(Stmt::new(
                    "INSERT INTO mail_messages (message_id, ticket_id, direction, at) \
                     VALUES ($1, $2, 'in', $3)",
                    args![id.as_str(), ticket_id.to_string(), micros(intake.at)],
                ));
            }
            for a in &intake.attachments {
                statements.push(self.attachment_insert(event, a, intake.at));
            }
            Ok(statements)
        };
        match &intake.write {
            MailTicketWrite::New { ticket, created } => {
                self.create_ticket_with(ticket, created, false, &extra)
                    .await
            }
            MailTicketWrite::Append { ticket, event } => {
                self.append_ticket_event_with(ticket, event, extra()?).await
            }
        }
    }

    async fn ticket_inbound_ids(&self, ticket: TicketId) -> StoreResult<Vec<String>> {
        let rows: Vec<MessageIdRow> = self
            .read_all(
                "SELECT message_id FROM mail_messages WHERE ticket_id = $1 AND direction = 'in' \
                 ORDER BY at, message_id",
                args![ticket.to_string()],
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.message_id).collect())
    }

    async fn add_attachments(
        &self,
        event: &TimelineEvent,
        attachments: &[NewAttachment],
        at: Timestamp,
    ) -> StoreResult<()> {
        let statements = attachments
            .iter()
            .map(|a| self.attachment_insert(event, a, at))
            .collect();
        self.write_tx(statements).await
    }

    async fn ticket_attachments(&self, ticket: TicketId) -> StoreResult<Vec<AttachmentMeta>> {
        let rows: Vec<AttachmentRow> = self
            .read_all(
                &format!(
                    "SELECT {ATTACHMENT_COLS} FROM ticket_attachments WHERE ticket_id = $1 ORDER BY id"
                ),
                args![ticket.to_string()],
            )
            .await?;
        rows.into_iter().map(|r| self.attachment_meta(r)).collect()
    }

    async fn attachment(&self, id: AttachmentId) -> StoreResult<(AttachmentMeta, Vec<u8>)> {
        let meta: AttachmentRow = self
            .read_one(
                &format!("SELECT {ATTACHMENT_COLS} FROM ticket_attachments WHERE id = $1"),
                args![id.to_string()],
            )
            .await?;
        let data: DataRow = self
            .read_one(
                "SELECT data, key_version FROM ticket_attachments WHERE id = $1",
                args![id.to_string()],
            )
            .await?;
        let bytes = open(
            &self.keys,
            ("ticket_attachments", "data", Legacy::Text),
            &id.to_string(),
            data.key_version,
            &data.data,
        )?;
        Ok((self.attachment_meta(meta)?, bytes))
    }

    async fn mail_pending_events(&self, limit: u32) -> StoreResult<Vec<PendingMailEvent>> {
        let rows: Vec<TicketEventRow> = self
            .read_all(
                "SELECT id, ticket_id, seq, at, actor, body, key_version FROM ticket_events \
                 WHERE mail_pending ORDER BY id LIMIT $1",
                args![i64::from(limit.max(1))],
            )
            .await?;
        let mut out: Vec<PendingMailEvent> = Vec::with_capacity(rows.len());
        for r in rows {
            let event = self.event_row(r)?;
            let ticket = match out.iter().find(|p| p.ticket.id == event.ticket_id) {
                Some(p) => p.ticket.clone(),
                None => self.get_ticket(event.ticket_id).await?,
            };
            out.push(PendingMailEvent { event, ticket });
        }
        Ok(out)
    }

    async fn mail_recipients(&self, ticket: &Ticket) -> StoreResult<Vec<String>> {
        let rows: Vec<EmailRow> = self
            .read_all(
                "SELECT id, email, key_version FROM contacts WHERE client_id = $1 \
                 AND archived_at IS NULL ORDER BY id",
                args![ticket.client_id.to_string()],
            )
            .await?;
        let mut out: Vec<String> = Vec::new();
        let mut add = |address: &str| {
            let a = normalise_address(address);
            if !a.is_empty() && !out.contains(&a) {
                out.push(a);
            }
        };
        if let Actor::Client(user) = ticket.created_by {
            let rows: Vec<MessageIdRow> = self
                .read_all(
                    "SELECT email AS message_id FROM users WHERE id = $1 AND disabled_at IS NULL",
                    args![user.to_string()],
                )
                .await?;
            for r in rows {
                add(&r.message_id);
            }
        }
        for r in rows {
            add(&open_text(
                &self.keys,
                "contacts",
                "email",
                &r.id,
                r.key_version,
                &r.email,
            )?);
        }
        Ok(out)
    }

    async fn enqueue_mail(&self, batch: &[MailEnqueue], now: Timestamp) -> StoreResult<u64> {
        let blind = self.blind.get().ok_or_else(no_key)?;
        let ring = self.keys.current();
        let mut statements = Vec::new();
        let mut offered = 0u64;
        for item in batch {
            if let Some(root) = &item.thread_root {
                statements.push(Self::message_id_insert(root, item.ticket_id, "root", now));
            }
            for (id, mail) in &item.mails {
                let row = id.to_string();
                let payload = serde_json::to_string(mail).map_err(|e| corrupt("outbox mail", e))?;
                statements.push(Stmt::new(
                    "INSERT INTO mail_outbox (id, event_id, ticket_id, client_id, recipient_key, \
                     payload, key_version, state, attempts, next_attempt_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 0, $8, $8) \
                     ON CONFLICT (event_id, recipient_key) DO NOTHING",
                    args![
                        row.clone(),
                        item.event_id.to_string(),
                        item.ticket_id.to_string(),
                        item.client_id.to_string(),
                        blind.of(&mail.to),
                        seal(&ring, "mail_outbox", "payload", &row, payload.as_bytes()),
                        i64::from(ring.newest()),
                        micros(now)
                    ],
                ));
                statements.push(Self::message_id_insert(
                    &mail.message_id,
                    item.ticket_id,
                    "out",
                    now,
                ));
                offered += 1;
            }
            statements.push(Stmt::new(
                "UPDATE ticket_events SET mail_pending = FALSE WHERE id = $1",
                args![item.event_id.to_string()],
            ));
        }
        self.write_tx(statements).await?;
        Ok(offered)
    }

    async fn due_mail(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<OutboxMail>> {
        let rows: Vec<OutboxRow> = self
            .read_all(
                "SELECT id, event_id, ticket_id, client_id, attempts, payload, key_version \
                 FROM mail_outbox WHERE state = 'queued' AND next_attempt_at <= $1 \
                 ORDER BY next_attempt_at, id LIMIT $2",
                args![micros(now), i64::from(limit.max(1))],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                let payload = open_text(
                    &self.keys,
                    "mail_outbox",
                    "payload",
                    &r.id,
                    r.key_version,
                    &r.payload,
                )?;
                let notification: Notification = json("outbox mail", &payload)?;
                Ok(OutboxMail {
                    id: parse("outbox id", &r.id)?,
                    event_id: parse("ticket event id", &r.event_id)?,
                    ticket_id: parse("ticket id", &r.ticket_id)?,
                    client_id: parse("client id", &r.client_id)?,
                    attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
                    notification,
                })
            })
            .collect()
    }

    async fn claim_mail(
        &self,
        id: OutboxId,
        attempts: u32,
        lease_until: Timestamp,
    ) -> StoreResult<bool> {
        let claim = Stmt::new(
            "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $1 \
             WHERE id = $2 AND state = 'queued' AND attempts = $3",
            args![micros(lease_until), id.to_string(), i64::from(attempts)],
        )
        .or_fail(StoreError::Conflict("taken by another worker".into()));
        match self.write_tx(vec![claim]).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn mail_sent(&self, id: OutboxId, now: Timestamp) -> StoreResult<()> {
        self.write_tx(vec![Stmt::new(
            "UPDATE mail_outbox SET state = 'sent', sent_at = $1, last_error = NULL WHERE id = $2",
            args![micros(now), id.to_string()],
        )])
        .await
    }

    async fn mail_attempt_failed(
        &self,
        id: OutboxId,
        attempts: u32,
        next: Option<Timestamp>,
        error: &str,
    ) -> StoreResult<()> {
        let error: String = error.chars().take(1000).collect();
        let stmt = match next {
            Some(at) => Stmt::new(
                "UPDATE mail_outbox SET next_attempt_at = $1, last_error = $2 \
                 WHERE id = $3 AND attempts = $4",
                args![micros(at), error, id.to_string(), i64::from(attempts)],
            ),
            None => Stmt::new(
                "UPDATE mail_outbox SET state = 'failed', last_error = $1 \
                 WHERE id = $2 AND attempts = $3",
                args![error, id.to_string(), i64::from(attempts)],
            ),
        };
        self.write_tx(vec![stmt]).await
    }

    async fn outbox_counts(&self) -> StoreResult<OutboxCounts> {
        let rows: Vec<CountRow> = self
            .read_all(
                "SELECT state, COUNT(*) AS n FROM mail_outbox GROUP BY state",
                Vec::new(),
            )
            .await?;
        let mut c = OutboxCounts::default();
        for r in rows {
            let n = u64::try_from(r.n).unwrap_or(0);
            match r.state.as_str() {
                "queued" => c.queued = n,
                "sent" => c.sent = n,
                "failed" => c.failed = n,
                other => return Err(corrupt("outbox state", other)),
            }
        }
        Ok(c)
    }
}
