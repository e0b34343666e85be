//! Palisade's own SMTP listener for desk mail, off unless `mail_listen` is set, loopback-only
//! unless `mail_listen_remote` says otherwise.
//!
//! Written by hand on tokio over `palisade_mail::smtp` rather than with a crate: the maintained
//! Rust SMTP server crates either run their own thread pool outside tokio with no way to refuse a
//! message by size before its end (`mailin-embedded`) or are built on async-std and unmaintained
//! (`samotop`). What a relay needs is small (RFC 5321's EHLO, MAIL, RCPT, DATA, RSET, QUIT), and
//! the protocol lives in the pure state machine where it is tested; this file is only the socket
//! loop: bounded line reads, an idle timeout, a cap on connections, and the reply to each message
//! taken in.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use palisade_auditlog::AuditLog;
use palisade_mail::smtp::{Action, Reply, Session, SmtpConfig};
use palisade_mail::{Limits, RefusalCode};
use palisade_store::Store;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::{Outcome, take_in};

/// How long a connection may stay silent (RFC 5321 suggests minutes; a relay on the same host
/// answers in milliseconds).
const IDLE: Duration = Duration::from_secs(60);
/// Connections served at once; more are told to come back later (421).
const MAX_CONNECTIONS: usize = 32;
/// Longest command line read (RFC 5321: 512 octets); a longer one is refused.
const COMMAND_BYTES: u64 = 2048;
/// Message data is read in pieces of at most this much, so no line can take more memory than the
/// message limit allows.
const DATA_PIECE: u64 = 64 * 1024;

/// What the listener needs.
#[derive(Clone, Debug)]
pub struct Context {
    pub store: Arc<dyn Store>,
    pub audit: AuditLog,
    pub limits: Limits,
    /// The name in the greeting.
    pub hostname: String,
    /// Accept connections from other hosts than this one.
    pub allow_remote: bool,
}

/// Accepts connections until the task is aborted.
pub async fn serve(listener: TcpListener, ctx: Context) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let ctx = Arc::new(ctx);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(error) => {
                tracing::warn!(%error, "Accepting an SMTP connection failed.");
                continue;
            }
        };
        let ctx = ctx.clone();
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    connection(stream, peer, &ctx).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(async move {
                    let mut stream = stream;
                    let _ = stream
                        .write_all(&Reply::new(421, "4.3.2 too busy; try again later").to_wire())
                        .await;
                });
            }
        }
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, ctx: &Context) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    if !ctx.allow_remote && !peer.ip().is_loopback() {
        let _ = write
            .write_all(&Reply::new(554, "5.7.1 this listener serves local relays only").to_wire())
            .await;
        return;
    }
    let mut session = Session::new(SmtpConfig {
        hostname: ctx.hostname.clone(),
        max_message_bytes: ctx.limits.max_message_bytes,
        max_recipients: 100,
        max_errors: 10,
    });
    if write
        .write_all(&session.greeting().to_wire())
        .await
        .is_err()
    {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        let cap = if session.in_data() {
            DATA_PIECE
        } else {
            COMMAND_BYTES
        };
        let read =
            tokio::time::timeout(IDLE, (&mut read).take(cap).read_until(b'\n', &mut line)).await;
        match read {
            Err(_) => {
                let _ = write
                    .write_all(&Reply::new(421, "4.4.2 idle too long; closing").to_wire())
                    .await;
                return;
            }
            Ok(Err(_)) | Ok(Ok(0)) => return,
            Ok(Ok(_)) => {}
        }
        let action = if session.in_data() {
            match session.data(&line) {
                Some(a) => a,
                None => continue,
            }
        } else {
            session.command(&line)
        };
        let (reply, close) = match action {
            Action::Reply(r) | Action::StartData(r) => (r, false),
            Action::Close(r) => (r, true),
            Action::Message(envelope) => (take(ctx, &envelope.data).await, false),
        };
        if write.write_all(&reply.to_wire()).await.is_err() || close {
            return;
        }
    }
}

/// Takes one message in and answers the relay. Refusals the sender must hear about are 5xx, so
/// the relay bounces them to the sender with the reason; automatic mail and duplicates are
/// accepted and dropped (a bounce to an auto-reply is how loops start, and a duplicate is already
/// here); a database failure is 451, so the relay keeps the message and tries again.
async fn take(ctx: &Context, data: &[u8]) -> Reply {
    let now = jiff::Timestamp::now();
    let (outcome, msg) = match take_in(ctx.store.as_ref(), &ctx.limits, data, now).await {
        Ok(r) => r,
        Err(error) => {
            tracing::error!(%error, "Taking in a message from the SMTP listener failed.");
            return Reply::new(451, "4.3.0 temporary failure; try again later");
        }
    };
    let event = outcome.audit_event(
        "smtp",
        msg.as_ref().map(|m| m.from.as_str()),
        msg.as_ref().and_then(|m| m.message_id.as_deref()),
        ctx.audit.redactor(),
        now,
    );
    let audited = match &outcome {
        Outcome::Accepted { .. } => ctx.audit.record(event).await.is_ok(),
        Outcome::Refused(_) => {
            ctx.audit.record_detached(event).await;
            true
        }
    };
    if !audited {
        tracing::error!("A message was taken in but its audit event could not be recorded.");
    }
    match &outcome {
        Outcome::Accepted { number, .. } => {
            Reply::new(250, format!("2.0.0 accepted as ticket #{number}"))
        }
        Outcome::Refused(r) => {
            let text = format!("{}: {}", r.code, r.message);
            match r.code {
                RefusalCode::AutoReply | RefusalCode::Duplicate => {
                    Reply::new(250, format!("2.0.0 accepted, not ticketed ({text})"))
                }
                RefusalCode::TooBig => Reply::new(552, format!("5.3.4 {text}")),
                RefusalCode::Malformed
                | RefusalCode::HeadersTooLarge
                | RefusalCode::TooManyParts => Reply::new(554, format!("5.6.0 {text}")),
                _ => Reply::new(550, format!("5.7.1 {text}")),
            }
        }
    }
}
