//! Desk e-mail in the binary: its settings, taking one message in (shared by `palisade mail
//! ingest` and the SMTP listener), the batch command, the listener ([`listener`]) and the
//! notifier that queues and delivers outbound mail ([`notify`]).
//!
//! Taking a message in: `palisade_mail::parse` refuses what is malformed, too big, forged or
//! automatic; a Message-ID already taken in is a duplicate (so re-running an import or a relay's
//! retry never makes a second ticket); the sender is looked up (client users by login address,
//! contacts by the blind index), the referenced tickets too, and `palisade_mail::route` decides.
//! The ticket change follows the desk's rules (`Ticket::apply`), and the ticket write, the
//! Message-ID and the sealed attachments are stored in one transaction. Every outcome, accepted or
//! refused, is an audit event.

pub mod listener;
pub mod notify;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use jiff::Timestamp;
use palisade_audit::redact::Redactor;
use palisade_audit::{Event, EventKind};
use palisade_core::{AttachmentId, ClientId, TicketId};
use palisade_desk::sla::Priority;
use palisade_desk::ticket::{Category, NewTicket, TimelineKind, Visibility};
use palisade_mail::route::subject_number;
use palisade_mail::{Limits, Refusal, RefusalCode, Route};
use palisade_store::{MailIntake, MailTicketWrite, NewAttachment, Store, StoreError};
use zeroize::Zeroizing;

use crate::config::Settings;

/// Outbound SMTP settings.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The relay URL, without a password.
    pub url: url::Url,
    pub from: String,
    pub password: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &self.url.as_str())
            .field("from", &self.from)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Desk mail settings, validated.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// The SMTP listener's address; `None`: no listener.
    pub listen: Option<SocketAddr>,
    /// Domain of outbound Message-IDs (and the listener's greeting).
    pub domain: String,
    /// Outbound delivery; `None`: nothing is mailed or queued.
    pub smtp: Option<SmtpConfig>,
    pub limits: Limits,
    pub poll: Duration,
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Validates the mail keys of `s`; every error names its key.
pub fn config(s: &Settings) -> anyhow::Result<MailConfig> {
    let bad = |key: &str, why: String| anyhow::anyhow!("invalid configuration: {key} {why}");
    let listen = match s.mail_listen.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(a) => {
            let addr: SocketAddr = a.parse().map_err(|_| {
                bad(
                    "mail_listen",
                    format!("= {a:?} is not an address like 127.0.0.1:2525"),
                )
            })?;
            if !addr.ip().is_loopback() && !s.mail_listen_remote {
                return Err(bad(
                    "mail_listen",
                    format!(
                        "= {a:?} is not a loopback address; the listener has no TLS or authentication, \
                         so set mail_listen_remote = true only behind a relay you control"
                    ),
                ));
            }
            Some(addr)
        }
    };
    let smtp = match s.smtp_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => {
            let url =
                url::Url::parse(raw).map_err(|e| bad("smtp_url", format!("is not a URL: {e}")))?;
            if url.password().is_some() {
                return Err(bad(
                    "smtp_url",
                    "must not hold a password; put it in smtp_password_file".into(),
                ));
            }
            let host = url.host_str().unwrap_or("");
            if host.is_empty() {
                return Err(bad("smtp_url", "names no host".into()));
            }
            let starttls = url
                .query_pairs()
                .any(|(k, v)| k == "tls" && v == "required");
            match url.scheme() {
                "smtps" => {}
                "smtp" if starttls => {}
                "smtp" if is_loopback_host(host) => {}
                "smtp" => {
                    return Err(bad(
                        "smtp_url",
                        format!(
                            "= smtp://{host}… would send mail unencrypted; use smtps:// or \
                             ?tls=required (plain smtp:// is for loopback only)"
                        ),
                    ));
                }
                other => {
                    return Err(bad(
                        "smtp_url",
                        format!("has scheme {other:?}; use smtp:// or smtps://"),
                    ));
                }
            }
            let from = s
                .smtp_from
                .clone()
                .ok_or_else(|| bad("smtp_from", "must be set with smtp_url".into()))?;
            if !palisade_mail::valid_address(&from) {
                return Err(bad(
                    "smtp_from",
                    format!("= {from:?} is not a plain address like desk@example.com"),
                ));
            }
            let password = match &s.smtp_password_file {
                None => None,
                Some(f) => Some(Zeroizing::new(
                    std::fs::read_to_string(f)
                        .map_err(|e| {
                            bad(
                                "smtp_password_file",
                                format!("= {} cannot be read: {e}", f.display()),
                            )
                        })?
                        .trim_end_matches(['\r', '\n'])
                        .to_owned(),
                )),
            };
            Some(SmtpConfig {
                url,
                from,
                password,
            })
        }
    };
    let domain = match (&s.mail_domain, &smtp) {
        (Some(d), _) => d.trim().to_ascii_lowercase(),
        (None, Some(smtp)) => smtp
            .from
            .rsplit('@')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase(),
        (None, None) => "palisade.invalid".to_owned(),
    };
    if !palisade_mail::address::valid_domain(&domain) {
        return Err(bad(
            "mail_domain",
            format!("= {domain:?} is not a domain name"),
        ));
    }
    let limit = |key: &str, v: u64, min: u64, max: u64| -> anyhow::Result<usize> {
        if v < min || v > max {
            return Err(bad(key, format!("must be between {min} and {max}")));
        }
        Ok(usize::try_from(v).unwrap_or(usize::MAX))
    };
    let max_message = limit(
        "mail_max_message_bytes",
        s.mail_max_message_bytes,
        1024,
        64 << 20,
    )?;
    let max_attachment = limit(
        "mail_max_attachment_bytes",
        s.mail_max_attachment_bytes,
        1,
        64 << 20,
    )?;
    let max_attachments = limit("mail_max_attachments", s.mail_max_attachments, 0, 1000)?;
    let poll = limit("mail_poll_seconds", s.mail_poll_seconds, 1, 3600)?;
    Ok(MailConfig {
        listen,
        domain,
        smtp,
        limits: Limits {
            max_message_bytes: max_message,
            max_attachment_bytes: max_attachment,
            max_attachments,
            max_total_attachment_bytes: max_message,
            ..Limits::default()
        },
        poll: Duration::from_secs(poll as u64),
    })
}

/// What became of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted: a new ticket (`new`) or a reply on one.
    Accepted {
        ticket: TicketId,
        number: i64,
        client: ClientId,
        new: bool,
        attachments: usize,
        dropped: usize,
        from_html: bool,
    },
    Refused(Refusal),
}

impl Outcome {
    fn refused(code: RefusalCode, message: impl Into<String>) -> Self {
        Outcome::Refused(Refusal::new(code, message))
    }

    /// One line for people: `ticket #12 (new)`, `refused: unknown-sender: …`.
    pub fn summary(&self) -> String {
        match self {
            Outcome::Accepted {
                number,
                new,
                attachments,
                dropped,
                from_html,
                ..
            } => {
                let mut s = format!("ticket #{number} ({})", if *new { "new" } else { "reply" });
                if *attachments > 0 {
                    s.push_str(&format!(", {attachments} attachment(s)"));
                }
                if *dropped > 0 {
                    s.push_str(&format!(
                        ", {dropped} attachment(s) dropped over the limits"
                    ));
                }
                if *from_html {
                    s.push_str(", HTML converted to text");
                }
                s
            }
            Outcome::Refused(r) => format!("refused: {}: {}", r.code, r.message),
        }
    }

    /// The audit event of this outcome. The sender's address enters the log only as an HMAC.
    pub fn audit_event(
        &self,
        source: &str,
        from: Option<&str>,
        message_id: Option<&str>,
        redactor: &Redactor,
        at: Timestamp,
    ) -> Event {
        let mut data = serde_json::json!({"source": source, "message_id": message_id});
        if let Some(f) = from {
            data["email"] = serde_json::json!(f);
        }
        let event = match self {
            Outcome::Accepted {
                ticket,
                number,
                client,
                new,
                attachments,
                dropped,
                ..
            } => {
                data["ticket_number"] = serde_json::json!(number);
                data["new_ticket"] = serde_json::json!(new);
                data["attachments"] = serde_json::json!(attachments);
                data["attachments_dropped"] = serde_json::json!(dropped);
                Event::new(at.as_microsecond(), EventKind::Change, "mail.accepted")
                    .client(Some(client.to_string()))
                    .object(format!("ticket:{ticket}"))
            }
            Outcome::Refused(r) => {
                data["reason"] = serde_json::json!(r.code.as_str());
                data["detail"] = serde_json::json!(r.message);
                // Forged or unknown senders are someone trying the door.
                let kind = match r.code {
                    RefusalCode::MultipleFrom
                    | RefusalCode::ForgedHeaders
                    | RefusalCode::UnknownSender => EventKind::Security,
                    _ => EventKind::Request,
                };
                Event::new(at.as_microsecond(), kind, "mail.refused")
            }
        };
        redactor.redact_json(&mut data, palisade_web::telemetry::SENSITIVE_KEYS);
        event.actor("mail").data(&data)
    }
}

/// How often taking a reply in is retried when another change to the ticket won the race.
const ATTEMPTS: usize = 3;

/// Takes one raw message in. Refusals are outcomes; a store failure is an error (nothing was
/// written; the caller may retry).
pub async fn take_in(
    store: &dyn Store,
    limits: &Limits,
    raw: &[u8],
    now: Timestamp,
) -> Result<(Outcome, Option<palisade_mail::Inbound>), StoreError> {
    let msg = match palisade_mail::parse(raw, limits) {
        Ok(m) => m,
        Err(r) => return Ok((Outcome::Refused(r), None)),
    };
    let outcome = take_in_parsed(store, &msg, now).await?;
    Ok((outcome, Some(msg)))
}

async fn take_in_parsed(
    store: &dyn Store,
    msg: &palisade_mail::Inbound,
    now: Timestamp,
) -> Result<Outcome, StoreError> {
    let duplicate = || {
        Outcome::refused(
            RefusalCode::Duplicate,
            "this Message-ID was already taken in",
        )
    };
    if let Some(id) = &msg.message_id
        && store.mail_seen(id).await?
    {
        return Ok(duplicate());
    }
    let senders = store.mail_senders(&msg.from).await?;
    let referenced = store.tickets_by_message_ids(&msg.references).await?;
    let by_number = match subject_number(&msg.subject) {
        Some(n) => store.ticket_by_number(n).await?,
        None => None,
    };
    let route = match palisade_mail::route(msg, &senders, &referenced, by_number) {
        Ok(r) => r,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let attachments: Vec<NewAttachment> = msg
        .attachments
        .iter()
        .map(|a| NewAttachment {
            id: AttachmentId::new(),
            filename: a.filename.clone(),
            content_type: a.content_type.clone(),
            data: a.data.clone(),
        })
        .collect();
    let rejected =
        |e: palisade_desk::TicketError| Outcome::refused(RefusalCode::Rejected, e.to_string());
    for attempt in 1..=ATTEMPTS {
        let (write, new) = match route {
            Route::New { sender, follows } => {
                let body = match follows {
                    Some(old) => format!(
                        "{}\n\n[Palisade: a reply to ticket #{}, which is closed; opened as a new ticket.]",
                        msg.body, old.number
                    ),
                    None => msg.body.clone(),
                };
                let ticket = NewTicket {
                    id: TicketId::new(),
                    client_id: sender.client_id,
                    site_id: None,
                    subject: msg.subject.clone(),
                    category: Category::Request,
                    priority: Priority::Normal,
                    body,
                    created_by: sender.actor(),
                    at: now,
                };
                let created = match ticket.created_event() {
                    Ok(c) => c,
                    Err(e) => return Ok(rejected(e)),
                };
                (MailTicketWrite::New { ticket, created }, true)
            }
            Route::Reply { ticket, sender } => {
                let current = store.get_ticket(ticket.id).await?;
                let kind = TimelineKind::Reply {
                    visibility: Visibility::Public,
                    body: msg.body.clone(),
                };
                match current.apply(kind, sender.actor(), now) {
                    Ok((ticket, event)) => (MailTicketWrite::Append { ticket, event }, false),
                    Err(e) => return Ok(rejected(e)),
                }
            }
        };
        let intake = MailIntake {
            write,
            message_id: msg.message_id.clone(),
            attachments: attachments.clone(),
            at: now,
        };
        match store.take_in_mail(&intake).await {
            Ok(ticket) => {
                return Ok(Outcome::Accepted {
                    ticket: ticket.id,
                    number: ticket.number,
                    client: ticket.client_id,
                    new,
                    attachments: attachments.len(),
                    dropped: msg.dropped.len(),
                    from_html: msg.from_html,
                });
            }
            Err(StoreError::Conflict(e)) => {
                if let Some(id) = &msg.message_id
                    && store.mail_seen(id).await?
                {
                    return Ok(duplicate());
                }
                if attempt == ATTEMPTS {
                    return Err(StoreError::Conflict(e));
                }
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns on its last attempt")
}

/// One message to ingest: where it came from, for the summary.
struct Source {
    name: String,
    path: Option<PathBuf>,
}

/// The messages named on the command line: files, folders of `.eml` files, Maildirs (their
/// `new` and `cur` folders), or `-` for one message on standard input.
fn sources(paths: &[PathBuf]) -> anyhow::Result<Vec<Source>> {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(Source {
                name: "-".into(),
                path: None,
            });
            continue;
        }
        let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
        if meta.is_file() {
            out.push(Source {
                name: p.display().to_string(),
                path: Some(p.clone()),
            });
            continue;
        }
        let maildir = p.join("cur").is_dir() || p.join("new").is_dir();
        let mut files: Vec<PathBuf> = Vec::new();
        if maildir {
            for sub in ["new", "cur"] {
                let dir = p.join(sub);
                if dir.is_dir() {
                    for e in std::fs::read_dir(&dir)
                        .with_context(|| format!("cannot list {}", dir.display()))?
                    {
                        let e = e?;
                        if e.file_type()?.is_file()
                            && !e.file_name().to_string_lossy().starts_with('.')
                        {
                            files.push(e.path());
                        }
                    }
                }
            }
        } else {
            for e in walkdir::WalkDir::new(p).sort_by_file_name() {
                let e = e.with_context(|| format!("cannot list {}", p.display()))?;
                if e.file_type().is_file()
                    && e.path()
                        .extension()
                        .is_some_and(|x| x.eq_ignore_ascii_case("eml"))
                {
                    files.push(e.into_path());
                }
            }
        }
        files.sort();
        out.extend(files.into_iter().map(|f| Source {
            name: f.display().to_string(),
            path: Some(f),
        }));
    }
    Ok(out)
}

/// Reads one message, refusing one larger than the limit without reading it all.
fn read_message(src: &Source, limit: usize) -> std::io::Result<Result<Vec<u8>, Refusal>> {
    use std::io::Read;
    let mut buf = Vec::new();
    let cap = (limit as u64) + 1;
    match &src.path {
        Some(p) => std::fs::File::open(p)?.take(cap).read_to_end(&mut buf)?,
        None => std::io::stdin().lock().take(cap).read_to_end(&mut buf)?,
    };
    if buf.len() > limit {
        return Ok(Err(Refusal::new(
            RefusalCode::TooBig,
            format!("the message is larger than the {limit} byte limit"),
        )));
    }
    Ok(Ok(buf))
}

/// `palisade mail ingest`: takes every message in, one at a time, each in its own transaction,
/// so a bad message never costs a good one. Prints one line per message and a summary; exits 0
/// when everything was accepted, 1 when anything was refused, 2 when anything could not be
/// processed (unreadable, or the database failed).
pub async fn ingest(
    store: &palisade_store_sql::SqlStore,
    cfg: &crate::config::Config,
    paths: &[PathBuf],
) -> anyhow::Result<u8> {
    let sources = sources(paths)?;
    let keys = crate::audit::keys(cfg)?;
    let limits = cfg.mail.limits;
    let bar = (sources.len() > 20).then(|| {
        let bar = indicatif::ProgressBar::new(sources.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} messages {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let (mut new, mut replies, mut refused, mut failed) = (0usize, 0usize, 0usize, 0usize);
    let mut events = Vec::new();
    for src in &sources {
        let now = Timestamp::now();
        let line = match read_message(src, limits.max_message_bytes) {
            Err(e) => {
                failed += 1;
                format!("failed    {}: cannot read: {e}", src.name)
            }
            Ok(raw) => {
                let result = match raw {
                    Err(r) => Ok((Outcome::Refused(r), None)),
                    Ok(raw) => take_in(store, &limits, &raw, now).await,
                };
                match result {
                    Err(e) => {
                        failed += 1;
                        format!("failed    {}: {e}", src.name)
                    }
                    Ok((outcome, msg)) => {
                        match &outcome {
                            Outcome::Accepted { new: true, .. } => new += 1,
                            Outcome::Accepted { .. } => replies += 1,
                            Outcome::Refused(_) => refused += 1,
                        }
                        events.push(outcome.audit_event(
                            "ingest",
                            msg.as_ref().map(|m| m.from.as_str()),
                            msg.as_ref().and_then(|m| m.message_id.as_deref()),
                            &keys.redactor,
                            now,
                        ));
                        let word = if matches!(outcome, Outcome::Accepted { .. }) {
                            "accepted"
                        } else {
                            "refused "
                        };
                        format!(
                            "{word}  {}: {}",
                            src.name,
                            outcome.summary().trim_start_matches("refused: ")
                        )
                    }
                }
            }
        };
        match &bar {
            Some(b) => {
                b.println(&line);
                b.inc(1);
            }
            None => println!("{line}"),
        }
        // Audit events go in batches: one append per hundred messages.
        if events.len() >= 100 {
            palisade_store::AuditStore::append_audit(store, std::mem::take(&mut events))
                .await
                .context("recording the audit events")?;
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if !events.is_empty() {
        palisade_store::AuditStore::append_audit(store, events)
            .await
            .context("recording the audit events")?;
    }
    println!(
        "{} message(s): {new} new ticket(s), {replies} repl(ies), {refused} refused, {failed} failed",
        sources.len()
    );
    Ok(if failed > 0 {
        2
    } else if refused > 0 {
        1
    } else {
        0
    })
}

/// Whether a path names standard input.
pub fn is_stdin(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Rejects obviously wrong ingest arguments before the database is opened.
pub fn check_paths(paths: &[PathBuf]) -> anyhow::Result<()> {
    if paths.iter().filter(|p| is_stdin(p)).count() > 1 {
        bail!("`-` (standard input) may be named once");
    }
    Ok(())
}

/// Starts the server's mail work: the notifier (always; it only marks events done when SMTP is
/// not configured) and the SMTP listener when `mail_listen` is set. Prints `mail listening on
/// ADDR` once the listener is bound.
pub async fn start(
    cfg: &crate::config::Config,
    store: &palisade_store_sql::SqlStore,
    audit: &palisade_auditlog::AuditLog,
) -> anyhow::Result<(
    tokio::task::JoinHandle<()>,
    Option<tokio::task::JoinHandle<()>>,
)> {
    let shared: std::sync::Arc<dyn Store> = std::sync::Arc::new(store.clone());
    let notifier = notify::Notifier::new(
        shared.clone(),
        audit.clone(),
        &cfg.mail,
        cfg.ca_file.as_deref(),
    )?;
    let notifier = tokio::spawn(notifier.run(cfg.mail.poll));
    let listener = match cfg.mail.listen {
        None => None,
        Some(addr) => {
            let socket = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for mail on {addr} (mail_listen)"))?;
            let bound = socket.local_addr()?;
            println!("mail listening on {bound}");
            tracing::info!(%bound, "Palisade is taking desk mail over SMTP.");
            Some(tokio::spawn(listener::serve(
                socket,
                listener::Context {
                    store: shared,
                    audit: audit.clone(),
                    limits: cfg.mail.limits,
                    hostname: cfg.mail.domain.clone(),
                    allow_remote: cfg.mail.listen.is_some_and(|a| !a.ip().is_loopback()),
                },
            )))
        }
    };
    Ok((notifier, listener))
}
