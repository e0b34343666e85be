//! Outbound notifications: the notifier turns pending timeline events into outbox rows (exactly
//! once, by the store's unique key) and delivers due rows over SMTP with `lettre` (tokio, rustls
//! with certificate verification always on), with retries and backoff: at least once, since a
//! crash after the relay accepted a message and before it is marked sent sends it again on the
//! next attempt, with the same Message-ID, which lets the customer's mail system drop the
//! duplicate. Every delivery and every failed attempt is an audit event.
//!
//! Without `smtp_url` nothing is mailed: pending events are still marked done, so configuring
//! SMTP later does not mail the customer the whole history at once.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use palisade_audit::{Event, EventKind};
use palisade_auditlog::AuditLog;
use palisade_core::OutboxId;
use palisade_mail::outbound::{message_id, render, ticket_root_id};
use palisade_mail::{Notification, notification_kind};
use palisade_store::{MailEnqueue, OutboxMail, Store, StoreError};

use super::{MailConfig, SmtpConfig};

/// Pending events considered per enqueue step.
const ENQUEUE_BATCH: u32 = 200;
/// Due e-mails sent per delivery step.
const DELIVERY_BATCH: u32 = 50;
/// How long a claimed e-mail is kept from other workers while it is being sent.
const LEASE: SignedDuration = SignedDuration::from_mins(5);
/// Attempts before an e-mail is given up (about a day with the backoff below).
pub const MAX_ATTEMPTS: u32 = 12;

/// The wait before attempt `attempts + 1`: 30 s doubling, at most 4 hours.
pub fn backoff(attempts: u32) -> SignedDuration {
    let secs = 30i64.saturating_mul(1i64 << attempts.saturating_sub(1).min(20));
    SignedDuration::from_secs(secs.min(4 * 3600))
}

/// What one delivery step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    pub sent: u64,
    pub retrying: u64,
    pub failed: u64,
}

/// Queues and delivers notifications.
#[derive(Clone)]
pub struct Notifier {
    store: Arc<dyn Store>,
    audit: AuditLog,
    domain: String,
    mailer: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("domain", &self.domain)
            .field("smtp", &self.mailer.is_some())
            .finish_non_exhaustive()
    }
}

/// The SMTP transport for `smtp` (see `mail::config` for the URL forms). Certificates are
/// verified against the web PKI roots plus `ca_file`; nothing turns verification off.
pub fn transport(
    smtp: &SmtpConfig,
    domain: &str,
    ca_file: Option<&std::path::Path>,
) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    use anyhow::Context as _;
    let url = &smtp.url;
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_matches(['[', ']'])
        .to_owned();
    let tls = || -> anyhow::Result<TlsParameters> {
        let mut b = TlsParameters::builder(host.clone());
        if let Some(ca) = ca_file {
            let pem = std::fs::read(ca).with_context(|| format!("ca_file {}", ca.display()))?;
            b = b.add_root_certificate(
                Certificate::from_pem(&pem).with_context(|| format!("ca_file {}", ca.display()))?,
            );
        }
        b.build_rustls().context("smtp_url: TLS settings")
    };
    let starttls = url
        .query_pairs()
        .any(|(k, v)| k == "tls" && v == "required");
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone());
    b = match (url.scheme(), starttls) {
        ("smtps", _) => b.port(url.port().unwrap_or(465)).tls(Tls::Wrapper(tls()?)),
        (_, true) => b.port(url.port().unwrap_or(587)).tls(Tls::Required(tls()?)),
        // Plain SMTP, which the configuration allows to loopback only.
        _ => b.port(url.port().unwrap_or(25)).tls(Tls::None),
    };
    if !url.username().is_empty() {
        let password = smtp
            .password
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        b = b.credentials(Credentials::new(url.username().to_owned(), password));
    }
    Ok(b.hello_name(ClientId::Domain(domain.to_owned()))
        .timeout(Some(Duration::from_secs(30)))
        .build())
}

/// The message on the wire for a rendered notification.
pub fn message(from: &Mailbox, n: &Notification) -> Result<Message, String> {
    let to: Mailbox = n.to.parse().map_err(|e| format!("recipient: {e}"))?;
    let mut b = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(n.subject.clone())
        .message_id(Some(format!("<{}>", n.message_id)));
    if let Some(irt) = &n.in_reply_to {
        b = b.in_reply_to(format!("<{irt}>"));
    }
    if !n.references.is_empty() {
        let refs: Vec<String> = n.references.iter().map(|r| format!("<{r}>")).collect();
        b = b.references(refs.join(" "));
    }
    b.header(ContentType::TEXT_PLAIN)
        .body(n.body.clone())
        .map_err(|e| e.to_string())
}

impl Notifier {
    /// A notifier over `store`; `mail.smtp` unset means nothing is sent (see the module doc).
    pub fn new(
        store: Arc<dyn Store>,
        audit: AuditLog,
        mail: &MailConfig,
        ca_file: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        let mailer = match &mail.smtp {
            None => None,
            Some(smtp) => {
                let from: Mailbox = smtp
                    .from
                    .parse()
                    .map_err(|e| anyhow::anyhow!("invalid configuration: smtp_from: {e}"))?;
                Some((transport(smtp, &mail.domain, ca_file)?, from))
            }
        };
        Ok(Self {
            store,
            audit,
            domain: mail.domain.clone(),
            mailer,
        })
    }

    /// Queues the e-mails of every pending timeline event; returns how many were queued.
    pub async fn enqueue_pending(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut queued = 0;
        loop {
            let pending = self.store.mail_pending_events(ENQUEUE_BATCH).await?;
            if pending.is_empty() {
                return Ok(queued);
            }
            let mut batch = Vec::with_capacity(pending.len());
            for p in &pending {
                let mut item = MailEnqueue {
                    event_id: p.event.id,
                    ticket_id: p.ticket.id,
                    client_id: p.ticket.client_id,
                    thread_root: None,
                    mails: Vec::new(),
                };
                if self.mailer.is_some() && notification_kind(&p.event).is_some() {
                    let recipients = self.store.mail_recipients(&p.ticket).await?;
                    let thread = self.store.ticket_inbound_ids(p.ticket.id).await?;
                    item.thread_root = ticket_root_id(p.ticket.id, &self.domain).ok();
                    for to in recipients {
                        let id = OutboxId::new();
                        let rendered = message_id(&id, &self.domain).and_then(|mid| {
                            render(&p.ticket, &p.event, &to, mid, &thread, &self.domain)
                        });
                        match rendered {
                            Ok(n) => item.mails.push((id, n)),
                            // An address that cannot be put in a header is left out, never
                            // escaped into one.
                            Err(error) => tracing::warn!(
                                ticket = %p.ticket.id, %error,
                                "A notification recipient was skipped."
                            ),
                        }
                    }
                }
                batch.push(item);
            }
            queued += self.store.enqueue_mail(&batch, now).await?;
        }
    }

    /// Sends what is due; each e-mail is claimed first so two workers never send it at once.
    pub async fn deliver_due(&self, now: Timestamp) -> Result<Delivered, StoreError> {
        let mut done = Delivered::default();
        let Some((transport, from)) = &self.mailer else {
            return Ok(done);
        };
        for mail in self.store.due_mail(now, DELIVERY_BATCH).await? {
            if !self
                .store
                .claim_mail(mail.id, mail.attempts, now + LEASE)
                .await?
            {
                continue;
            }
            let attempts = mail.attempts + 1;
            let result = match message(from, &mail.notification) {
                Ok(m) => transport.send(m).await.map(|_| ()).map_err(|e| {
                    let permanent = e.is_permanent();
                    (e.to_string(), permanent)
                }),
                Err(e) => Err((e, true)),
            };
            match result {
                Ok(()) => {
                    self.store
                        .mail_sent(mail.id, Timestamp::now().max(now))
                        .await?;
                    done.sent += 1;
                    self.audit_delivery(&mail, attempts, None, now).await;
                }
                Err((error, permanent)) => {
                    let next =
                        (!permanent && attempts < MAX_ATTEMPTS).then(|| now + backoff(attempts));
                    match next {
                        Some(_) => done.retrying += 1,
                        None => done.failed += 1,
                    }
                    tracing::warn!(outbox = %mail.id, attempts, %error, retry = next.is_some(), "Sending a notification failed.");
                    self.store
                        .mail_attempt_failed(mail.id, attempts, next, &error)
                        .await?;
                    self.audit_delivery(&mail, attempts, Some((&error, next.is_some())), now)
                        .await;
                }
            }
        }
        Ok(done)
    }

    async fn audit_delivery(
        &self,
        mail: &OutboxMail,
        attempts: u32,
        failure: Option<(&str, bool)>,
        now: Timestamp,
    ) {
        let mut data = serde_json::json!({
            "outbox_id": mail.id.to_string(),
            "event_id": mail.event_id.to_string(),
            "message_id": mail.notification.message_id,
            "email": mail.notification.to,
            "attempts": attempts,
        });
        let action = match failure {
            None => "mail.sent",
            Some((error, retry)) => {
                data["error"] = serde_json::json!(error);
                data["will_retry"] = serde_json::json!(retry);
                "mail.delivery-failed"
            }
        };
        self.audit
            .redactor()
            .redact_json(&mut data, palisade_web::telemetry::SENSITIVE_KEYS);
        let event = Event::new(now.as_microsecond(), EventKind::System, action)
            .actor("system")
            .client(Some(mail.client_id.to_string()))
            .object(format!("ticket:{}", mail.ticket_id))
            .data(&data);
        if let Err(error) = self.audit.record(event).await {
            tracing::error!(%error, "A mail delivery could not be audited.");
        }
    }

    /// One round: queue what is pending, send what is due.
    pub async fn step(&self, now: Timestamp) {
        if let Err(error) = self.enqueue_pending(now).await {
            tracing::warn!(%error, "Queueing notifications failed; trying again next round.");
        }
        if let Err(error) = self.deliver_due(now).await {
            tracing::warn!(%error, "Delivering notifications failed; trying again next round.");
        }
    }

    /// Runs until aborted, one round every `every`.
    pub async fn run(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.step(Timestamp::now()).await;
        }
    }
}
