//! Desk e-mail end to end, against a real SMTP server on loopback (Python's `aiosmtpd`, writing
//! a Maildir the tests read) and Palisade's own SMTP listener over a real socket: notifications
//! reach every recipient exactly once with threading headers; an outage queues and delivers when
//! the server returns; a batch of good, malformed, huge and hostile messages is taken in with each
//! refused or sanitised for a clear reason and every good one ticketed; a reply threaded by
//! References lands on the right ticket; the listener accepts a message from `lettre` and refuses
//! an oversized one with 552. Without aiosmtpd the SMTP-server tests print why and do not run; in
//! CI (`CI` set) its absence is a failure.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use palisade::config::{Config, Overrides};
use palisade::mail::notify::Notifier;
use palisade::mail::{Outcome, SmtpConfig, take_in};
use palisade_core::tenant::*;
use palisade_core::{ClientId, Role};
use palisade_desk::sla::Priority;
use palisade_desk::ticket::{Actor, Category, NewTicket, TimelineKind, Visibility};
use palisade_store::{AuditQuery, AuditStore, DeskStore, MailStore, NewUserRecord, Store};
use palisade_store_sql::SqlStore;

/// aiosmtpd on a free loopback port, delivering into a Maildir.
struct SmtpSink {
    child: Option<Child>,
    port: u16,
    maildir: PathBuf,
}

fn aiosmtpd_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl SmtpSink {
    fn start(dir: &Path) -> Option<Self> {
        if !aiosmtpd_installed() {
            if std::env::var_os("CI").is_some() {
                panic!("aiosmtpd is not installed: CI must test mail against a real SMTP server");
            }
            println!("aiosmtpd not installed (pip install aiosmtpd): SMTP delivery test not run");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let mut s = Self {
            child: None,
            port,
            maildir: dir.join("maildir"),
        };
        s.up();
        Some(s)
    }

    /// Starts the server and waits until it accepts connections.
    fn up(&mut self) {
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&self.maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start listening"
            );
            std::thread::yield_now();
        }
    }

    /// Stops the server (an outage) and waits until the port refuses connections.
    fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Every message delivered so far, parsed.
    fn messages(&self) -> Vec<mail_parser::Message<'static>> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(dir) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for e in dir {
                let raw = std::fs::read(e.expect("entry").path()).expect("read mail");
                out.push(
                    mail_parser::MessageParser::default()
                        .parse(&raw)
                        .expect("parse")
                        .into_owned(),
                );
            }
        }
        out
    }

    fn smtp_config(&self) -> SmtpConfig {
        SmtpConfig {
            url: format!("smtp://127.0.0.1:{}", self.port)
                .parse()
                .expect("url"),
            from: "desk@provider.example".into(),
            password: None,
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.down();
    }
}

fn load(dir: &Path) -> Config {
    let o = Overrides {
        data_dir: Some(dir.to_owned()),
        ..Default::default()
    };
    palisade::config::load(
        Some(&write_config(dir)),
        figment::providers::Env::prefixed("PALISADE_UNSET_IN_MAIL_TESTS_"),
        &o,
    )
    .expect("config")
}

fn write_config(dir: &Path) -> PathBuf {
    let f = dir.join("palisade.toml");
    std::fs::write(&f, "mail_domain = \"provider.example\"\n").expect("config file");
    f
}

struct Desk {
    store: SqlStore,
    acme: ClientId,
    other: ClientId,
    client_user: palisade_core::UserId,
}

fn contract() -> Contract {
    Contract {
        sla_tier: SlaTier::Standard,
        support_hours: SupportHours::office_hours("Europe/London"),
        holiday_calendar: None,
        out_of_hours: false,
    }
}

/// Two clients: Acme with two contacts and a client user, Other with one contact.
async fn desk(cfg: &Config) -> Desk {
    let store = palisade::serve::open_store(cfg).await.expect("store");
    let now = Timestamp::now();
    let mk = |name: &str| ClientInput {
        name: name.into(),
        contract: contract(),
    };
    let acme = store
        .create_client(&mk("Acme"), now)
        .await
        .expect("acme")
        .id;
    let other = store
        .create_client(&mk("Other"), now)
        .await
        .expect("other")
        .id;
    for (client, name, email) in [
        (acme, "Jane", "jane@acme.example"),
        (acme, "Raj", "raj@acme.example"),
        (other, "Olga", "olga@other.example"),
    ] {
        store
            .create_contact(
                client,
                &ContactInput {
                    name: name.into(),
                    email: email.into(),
                    phone: None,
                    title: None,
                },
                now,
            )
            .await
            .expect("contact");
    }
    let client_user = store
        .create_user(
            &NewUserRecord {
                email: "boss@acme.example".into(),
                display_name: "Boss".into(),
                role: Role::ClientUser,
                client_id: Some(acme),
                password_hash: "$argon2id$unused".into(),
            },
            now,
        )
        .await
        .expect("client user")
        .id;
    Desk {
        store,
        acme,
        other,
        client_user,
    }
}

fn header_ids(m: &mail_parser::Message<'_>, name: &str) -> Vec<String> {
    match m.header(name) {
        Some(mail_parser::HeaderValue::Text(t)) => vec![t.to_string()],
        Some(mail_parser::HeaderValue::TextList(l)) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_reach_every_recipient_once_threaded_and_replies_thread_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(sink) = SmtpSink::start(dir.path()) else {
        return;
    };
    let mut cfg = load(dir.path());
    cfg.mail.smtp = Some(sink.smtp_config());
    let d = desk(&cfg).await;
    let (audit, _worker) = palisade::audit::start(&d.store, &cfg).expect("audit");
    let store: Arc<dyn Store> = Arc::new(d.store.clone());
    let notifier = Notifier::new(store.clone(), audit.clone(), &cfg.mail, None).expect("notifier");
    let now = Timestamp::now();

    // The client user opens a ticket (not mailed: they wrote it); staff add an internal note and
    // a public reply; the system opens a proactive ticket for Other (as a patch campaign does).
    let opened = NewTicket {
        id: palisade_core::TicketId::new(),
        client_id: d.acme,
        site_id: None,
        subject: "Checkout fails".into(),
        category: Category::Incident,
        priority: Priority::High,
        body: "Payments return 500.".into(),
        created_by: Actor::Client(d.client_user),
        at: now,
    };
    let ticket = d
        .store
        .create_ticket(&opened, &opened.created_event().expect("valid"))
        .await
        .expect("ticket");
    let staff = Actor::Staff(palisade_core::UserId::new());
    let (t, note) = ticket
        .apply(
            TimelineKind::Reply {
                visibility: Visibility::Internal,
                body: "SECRET-NOTE: PSP certificate expired".into(),
            },
            staff,
            now,
        )
        .expect("note");
    d.store.append_ticket_event(&t, &note).await.expect("note");
    let (t, reply) = t
        .apply(
            TimelineKind::Reply {
                visibility: Visibility::Public,
                body: "We renewed the certificate; please try again.".into(),
            },
            staff,
            now,
        )
        .expect("reply");
    d.store
        .append_ticket_event(&t, &reply)
        .await
        .expect("reply");
    let proactive = NewTicket {
        id: palisade_core::TicketId::new(),
        client_id: d.other,
        site_id: None,
        subject: "Security update for your shop".into(),
        category: Category::Security,
        priority: Priority::High,
        body: "A vulnerability affects your site; we will patch it tonight.".into(),
        created_by: Actor::System,
        at: now,
    };
    let other_ticket = d
        .store
        .create_ticket(&proactive, &proactive.created_event().expect("valid"))
        .await
        .expect("proactive");

    // Several rounds, as a running server does: each e-mail is queued and sent once.
    for round in 0..3 {
        notifier.enqueue_pending(now).await.expect("enqueue");
        let done = notifier.deliver_due(now).await.expect("deliver");
        if round > 0 {
            assert_eq!(done.sent, 0, "round {round} sent again");
        }
    }
    let counts = d.store.outbox_counts().await.expect("counts");
    assert_eq!((counts.queued, counts.sent, counts.failed), (0, 4, 0));
    let mails = sink.messages();
    assert_eq!(mails.len(), 4, "three at Acme, one at Other");
    let mut to_acme: Vec<String> = Vec::new();
    for m in &mails {
        let to = m
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .expect("to")
            .to_owned();
        let body = m.body_text(0).expect("body").to_string();
        assert!(!body.contains("SECRET-NOTE"), "an internal note was mailed");
        let refs = header_ids(m, "References");
        if to == "olga@other.example" {
            assert_eq!(
                m.subject(),
                Some(format!("[#{}] Security update for your shop", other_ticket.number).as_str())
            );
            assert!(body.contains("we will patch it tonight"));
            assert_eq!(
                refs,
                [format!("ticket-{}@provider.example", other_ticket.id)]
            );
            continue;
        }
        to_acme.push(to);
        assert_eq!(
            m.subject(),
            Some(format!("Re: [#{}] Checkout fails", t.number).as_str())
        );
        assert!(body.contains("We renewed the certificate"));
        assert_eq!(refs, [format!("ticket-{}@provider.example", t.id)]);
        assert_eq!(header_ids(m, "In-Reply-To"), refs);
        assert!(
            m.message_id()
                .is_some_and(|id| id.ends_with("@provider.example"))
        );
    }
    to_acme.sort();
    assert_eq!(
        to_acme,
        ["boss@acme.example", "jane@acme.example", "raj@acme.example"]
    );
    let ids: std::collections::BTreeSet<_> = mails.iter().filter_map(|m| m.message_id()).collect();
    assert_eq!(ids.len(), 4, "a Message-ID per e-mail");

    // Each delivery is an audit event (recorded durably before the delivery step returns).
    let sent = d
        .store
        .search_audit(&AuditQuery {
            action: Some("mail.sent".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(sent.len(), 4);
    assert!(
        sent.iter().all(|e| !serde_json::to_string(&e.event)
            .expect("json")
            .contains("acme.example")),
        "addresses enter the log only as HMACs"
    );

    // Jane answers the notification from her mail program: threaded by References onto the
    // ticket, even with an unrelated subject.
    let jane_mail = mails
        .iter()
        .find(|m| {
            m.to().and_then(|a| a.first()).and_then(|a| a.address()) == Some("jane@acme.example")
        })
        .expect("jane's copy");
    let notification_id = jane_mail.message_id().expect("id");
    let answer = format!(
        "From: Jane <jane@acme.example>\r\nTo: desk@provider.example\r\nSubject: it works\r\n\
         Message-ID: <answer-1@acme.example>\r\nIn-Reply-To: <{notification_id}>\r\n\
         References: <ticket-{}@provider.example> <{notification_id}>\r\n\r\nThanks, it works now.\r\n",
        t.id
    );
    let limits = cfg.mail.limits;
    let (outcome, _) = take_in(store.as_ref(), &limits, answer.as_bytes(), now)
        .await
        .expect("take in");
    match outcome {
        Outcome::Accepted {
            ticket: tid, new, ..
        } => {
            assert_eq!(tid, t.id);
            assert!(!new);
        }
        other => panic!("{other:?}"),
    }
    let events = d.store.ticket_events(t.id).await.expect("events");
    let last = events.last().expect("event");
    assert!(matches!(last.actor, Actor::Contact(_)));
    assert!(
        matches!(&last.kind, TimelineKind::Reply { body, .. } if body == "Thanks, it works now.")
    );
    // The same message again is a duplicate, not a second reply.
    let (again, _) = take_in(store.as_ref(), &limits, answer.as_bytes(), now)
        .await
        .expect("again");
    assert!(
        matches!(again, Outcome::Refused(r) if r.code == palisade_mail::RefusalCode::Duplicate)
    );
    // Her reply is not mailed back to anyone; a new staff reply answers her message.
    notifier.enqueue_pending(now).await.expect("enqueue");
    assert_eq!(notifier.deliver_due(now).await.expect("deliver").sent, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_queues_the_mail_and_it_is_delivered_when_the_server_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(mut sink) = SmtpSink::start(dir.path()) else {
        return;
    };
    sink.down();
    let mut cfg = load(dir.path());
    cfg.mail.smtp = Some(sink.smtp_config());
    let d = desk(&cfg).await;
    let (audit, _worker) = palisade::audit::start(&d.store, &cfg).expect("audit");
    let notifier =
        Notifier::new(Arc::new(d.store.clone()), audit, &cfg.mail, None).expect("notifier");
    let now = Timestamp::now();
    let proactive = NewTicket {
        id: palisade_core::TicketId::new(),
        client_id: d.other,
        site_id: None,
        subject: "Maintenance tonight".into(),
        category: Category::Request,
        priority: Priority::Normal,
        body: "We patch your shop at 22:00.".into(),
        created_by: Actor::System,
        at: now,
    };
    d.store
        .create_ticket(&proactive, &proactive.created_event().expect("valid"))
        .await
        .expect("ticket");
    assert_eq!(notifier.enqueue_pending(now).await.expect("enqueue"), 1);
    let first = notifier.deliver_due(now).await.expect("deliver");
    assert_eq!(
        (first.sent, first.retrying),
        (0, 1),
        "server down: kept for a retry"
    );
    assert_eq!(
        notifier.deliver_due(now).await.expect("again").retrying,
        0,
        "not due before its backoff"
    );
    assert_eq!(d.store.outbox_counts().await.expect("counts").queued, 1);
    sink.up();
    let later = now + SignedDuration::from_mins(5);
    assert_eq!(notifier.deliver_due(later).await.expect("after").sent, 1);
    let mails = sink.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0]
            .subject()
            .map(|s| s.contains("Maintenance tonight")),
        Some(true)
    );
    let c = d.store.outbox_counts().await.expect("counts");
    assert_eq!((c.queued, c.sent), (0, 1));
}

fn eml(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text.replace('\n', "\r\n")).expect("write eml");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_is_ingested_message_by_message_with_reasons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let cfg = load(&data);
    let d = desk(&cfg).await;
    let existing = NewTicket {
        id: palisade_core::TicketId::new(),
        client_id: d.other,
        site_id: None,
        subject: "Other's ticket".into(),
        category: Category::Question,
        priority: Priority::Normal,
        body: "x".into(),
        created_by: Actor::System,
        at: Timestamp::now(),
    };
    let other_ticket = d
        .store
        .create_ticket(&existing, &existing.created_event().expect("valid"))
        .await
        .expect("ticket");
    d.store.close().await;

    let batch = dir.path().join("batch");
    std::fs::create_dir_all(&batch).expect("batch");
    eml(
        &batch,
        "01-good.eml",
        "From: Jane <jane@acme.example>\nSubject: Site slow\nMessage-ID: <good-1@acme.example>\n\nThe shop is slow since this morning.\n",
    );
    eml(
        &batch,
        "02-reply.eml",
        "From: raj@acme.example\nSubject: more\nMessage-ID: <good-2@acme.example>\nReferences: <good-1@acme.example>\n\nAlso the admin is slow.\n",
    );
    eml(&batch, "03-malformed.eml", "this is not an e-mail at all\n");
    eml(
        &batch,
        "04-huge.eml",
        &format!(
            "From: jane@acme.example\nSubject: huge\n\n{}\n",
            "x".repeat(300_000)
        ),
    );
    eml(
        &batch,
        "05-html.eml",
        "From: boss@acme.example\nSubject: HTML\nMessage-ID: <html-1@acme.example>\nContent-Type: text/html\n\n<p>Please <b>call</b> me</p><script>steal(document.cookie)</script>\n",
    );
    eml(
        &batch,
        "06-forged.eml",
        "From: jane@acme.example\nFrom: ceo@acme.example\nSubject: wire money\n\nnow\n",
    );
    eml(
        &batch,
        "07-unknown.eml",
        "From: stranger@elsewhere.example\nSubject: hello\n\nwho are you\n",
    );
    eml(
        &batch,
        "08-auto.eml",
        "From: jane@acme.example\nSubject: Out of office\nAuto-Submitted: auto-replied\n\nI am away.\n",
    );
    eml(
        &batch,
        "09-token-of-another-client.eml",
        &format!(
            "From: jane@acme.example\nSubject: Re: [#{}] Other's ticket\nMessage-ID: <probe@acme.example>\n\nlet me in\n",
            other_ticket.number
        ),
    );
    eml(
        &batch,
        "10-attachment.eml",
        &format!(
            "From: jane@acme.example\nSubject: logs\nMessage-ID: <att-1@acme.example>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nlogs attached\n--b\nContent-Type: text/plain\nContent-Disposition: attachment; filename=\"small.log\"\n\nline 1\n--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"core.dump\"\n\n{}\n--b--\n",
            "D".repeat(150_000)
        ),
    );

    let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["mail", "ingest", "--config"])
        .arg(data.join("palisade.toml"))
        .arg("--data-dir")
        .arg(&data)
        .arg(&batch)
        .env("PALISADE_MAIL_MAX_MESSAGE_BYTES", "250000")
        .env("PALISADE_MAIL_MAX_ATTACHMENT_BYTES", "100000")
        .output()
        .expect("run ingest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "something was refused\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no line for {name} in\n{stdout}"))
            .to_owned()
    };
    assert!(line("01-good").starts_with("accepted") && line("01-good").contains("(new)"));
    assert!(line("02-reply").starts_with("accepted") && line("02-reply").contains("(reply)"));
    assert!(line("03-malformed").contains("refused") && line("03-malformed").contains("malformed"));
    assert!(line("04-huge").contains("too-big"));
    assert!(line("05-html").starts_with("accepted") && line("05-html").contains("HTML converted"));
    assert!(line("06-forged").contains("multiple-from"));
    assert!(line("07-unknown").contains("unknown-sender"));
    assert!(line("08-auto").contains("auto-reply"));
    assert!(line("09-token").starts_with("accepted") && line("09-token").contains("(new)"));
    assert!(
        line("10-attachment").contains("1 attachment(s)")
            && line("10-attachment").contains("1 attachment(s) dropped")
    );
    assert!(
        stdout.contains("10 message(s): 4 new ticket(s), 1 repl(ies), 5 refused, 0 failed"),
        "{stdout}"
    );

    let store = palisade::serve::open_store(&cfg).await.expect("store");
    let acme_tickets = store
        .list_tickets(&palisade_store::TicketQuery {
            client: Some(d.acme),
            ..Default::default()
        })
        .await
        .expect("tickets")
        .items;
    assert_eq!(acme_tickets.len(), 4, "good, html, token probe, attachment");
    let slow = acme_tickets
        .iter()
        .find(|t| t.subject == "Site slow")
        .expect("good ticket");
    let events = store.ticket_events(slow.id).await.expect("events");
    assert_eq!(events.len(), 2, "the reply threaded by References");
    let html = acme_tickets
        .iter()
        .find(|t| t.subject == "HTML")
        .expect("html ticket");
    assert_eq!(html.created_by, Actor::Client(d.client_user));
    let body = match &store.ticket_events(html.id).await.expect("events")[0].kind {
        TimelineKind::Created { body, .. } => body.clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        body.contains("call") && !body.contains("<script") && !body.contains("steal("),
        "{body}"
    );
    // The other client's ticket was not touched by Acme's probe.
    assert_eq!(
        store
            .ticket_events(other_ticket.id)
            .await
            .expect("events")
            .len(),
        1
    );
    let logs = acme_tickets
        .iter()
        .find(|t| t.subject == "logs")
        .expect("logs ticket");
    let files = store
        .ticket_attachments(logs.id)
        .await
        .expect("attachments");
    assert_eq!(
        files
            .iter()
            .map(|f| f.filename.as_str())
            .collect::<Vec<_>>(),
        ["small.log"]
    );
    let body = match &store.ticket_events(logs.id).await.expect("events")[0].kind {
        TimelineKind::Created { body, .. } => body.clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        body.contains("\"core.dump\"") && body.contains("was not stored"),
        "{body}"
    );
    // Running the same batch again adds no ticket: every good message is a duplicate now.
    let again = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["mail", "ingest", "--config"])
        .arg(data.join("palisade.toml"))
        .arg("--data-dir")
        .arg(&data)
        .arg(batch.join("01-good.eml"))
        .output()
        .expect("run again");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stdout).contains("duplicate"));
    // Every outcome is in the audit log.
    let audited = store
        .search_audit(&AuditQuery {
            action: Some("mail.".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(audited.len(), 11);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_takes_mail_from_lettre_and_refuses_an_oversized_message_with_552() {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = load(dir.path());
    let d = desk(&cfg).await;
    let (audit, _worker) = palisade::audit::start(&d.store, &cfg).expect("audit");
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = socket.local_addr().expect("addr").port();
    let limits = palisade_mail::Limits {
        max_message_bytes: 20_000,
        ..cfg.mail.limits
    };
    let listener = tokio::spawn(palisade::mail::listener::serve(
        socket,
        palisade::mail::listener::Context {
            store: Arc::new(d.store.clone()),
            audit,
            limits,
            hostname: "provider.example".into(),
            allow_remote: false,
        },
    ));
    let client = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .build();
    let good = lettre::Message::builder()
        .from("Jane <jane@acme.example>".parse().expect("from"))
        .to("desk@provider.example".parse().expect("to"))
        .subject("Printer on fire")
        .body("Please send help.".to_owned())
        .expect("message");
    let response = client.send(good).await.expect("accepted");
    let text = response.message().collect::<Vec<_>>().join(" ");
    assert!(text.contains("accepted as ticket #"), "{text}");
    let tickets = d
        .store
        .list_tickets(&palisade_store::TicketQuery {
            client: Some(d.acme),
            ..Default::default()
        })
        .await
        .expect("tickets")
        .items;
    assert_eq!(
        tickets
            .iter()
            .filter(|t| t.subject == "Printer on fire")
            .count(),
        1
    );

    let unknown = lettre::Message::builder()
        .from("x@elsewhere.example".parse().expect("from"))
        .to("desk@provider.example".parse().expect("to"))
        .subject("hi")
        .body("spam".to_owned())
        .expect("message");
    let err = client.send(unknown).await.expect_err("refused");
    assert!(
        err.is_permanent() && err.to_string().contains("unknown-sender"),
        "{err}"
    );

    let big = lettre::Message::builder()
        .from("jane@acme.example".parse().expect("from"))
        .to("desk@provider.example".parse().expect("to"))
        .subject("big")
        .body("y".repeat(50_000))
        .expect("message");
    let err = client.send(big).await.expect_err("too big");
    assert_eq!(
        err.status().map(|c| c.to_string()),
        Some("552".into()),
        "{err}"
    );

    // By hand, without a SIZE parameter: the limit holds during DATA, answered after the end.
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    let mut expect = async |w: &mut tokio::net::tcp::OwnedWriteHalf, send: &[u8], code: &str| {
        if !send.is_empty() {
            w.write_all(send).await.expect("write");
        }
        loop {
            line.clear();
            r.read_line(&mut line).await.expect("read");
            assert!(line.starts_with(code), "expected {code}, got {line:?}");
            if line.as_bytes().get(3) == Some(&b' ') {
                return;
            }
        }
    };
    expect(&mut w, b"", "220").await;
    expect(&mut w, b"EHLO test.example\r\n", "250").await;
    expect(&mut w, b"MAIL FROM:<jane@acme.example>\r\n", "250").await;
    expect(&mut w, b"RCPT TO:<desk@provider.example>\r\n", "250").await;
    expect(&mut w, b"DATA\r\n", "354").await;
    w.write_all(b"From: jane@acme.example\r\nSubject: big\r\n\r\n")
        .await
        .expect("write");
    for _ in 0..500 {
        w.write_all(&[b'z'; 100]).await.expect("write");
        w.write_all(b"\r\n").await.expect("write");
    }
    expect(&mut w, b".\r\n", "552").await;
    expect(&mut w, b"QUIT\r\n", "221").await;
    listener.abort();
}

/// A patch campaign through the real API and the real notifier: each affected client's contacts
/// get exactly one e-mail when it starts and one when their sites are verified; the client that
/// runs the fixed version gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_mails_each_affected_customer_once_at_the_start_and_once_when_done() {
    use palisade_core::clock::ManualClock;
    use serde_json::{Value, json};

    let dir = tempfile::tempdir().expect("tempdir");
    let Some(sink) = SmtpSink::start(dir.path()) else {
        return;
    };
    let mut cfg = load(dir.path());
    cfg.mail.smtp = Some(sink.smtp_config());
    let d = desk(&cfg).await;
    let now = Timestamp::now();
    let calm = d
        .store
        .create_client(
            &ClientInput {
                name: "Calm".into(),
                contract: contract(),
            },
            now,
        )
        .await
        .expect("calm")
        .id;
    d.store
        .create_contact(
            calm,
            &ContactInput {
                name: "Carl".into(),
                email: "carl@calm.example".into(),
                phone: None,
                title: None,
            },
            now,
        )
        .await
        .expect("contact");
    let (audit, _worker) = palisade::audit::start(&d.store, &cfg).expect("audit");
    let store = Arc::new(d.store.clone());
    let advisories = dir.path().join("advisories");
    let matcher = palisade_web::Matcher::new(store.clone(), advisories.clone(), Default::default());
    let state = palisade_web::AppState::new(
        matcher,
        Arc::new(ManualClock::new(now)),
        palisade_web::WebConfig::default(),
        audit.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(palisade_web::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    let token = |role: Role, email: &'static str| {
        let store = store.clone();
        async move {
            let user = store
                .create_user(
                    &NewUserRecord {
                        email: email.into(),
                        display_name: email.into(),
                        role,
                        client_id: None,
                        password_hash: "$argon2id$unused".into(),
                    },
                    now,
                )
                .await
                .expect("user");
            let secret = palisade_auth::new_api_token();
            let t = palisade_core::user::ApiToken::issue(
                user.id,
                "test".into(),
                role,
                &secret,
                now,
                SignedDuration::from_hours(24),
            );
            store
                .create_token(&t, &palisade_auth::token_hash(&secret))
                .await
                .expect("token");
            secret
        }
    };
    let sec = token(Role::Security, "sec@provider.example").await;
    let ops = token(Role::Operations, "ops@provider.example").await;
    let http = reqwest::Client::new();
    let post = |path: String, token: String, body: Value| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http
                .post(format!("{base}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("request");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let lock =
        |twig: &str| json!({"packages": [{"name": "twig/twig", "version": twig}]}).to_string();
    let push = |env: palisade_core::EnvironmentId, twig: &'static str| {
        let (http, base, ops) = (http.clone(), base.clone(), ops.clone());
        async move {
            let r = http
                .post(format!(
                    "{base}/api/v1/environments/{env}/inventories?name=composer.lock"
                ))
                .bearer_auth(ops)
                .body(lock(twig))
                .send()
                .await
                .expect("push");
            assert_eq!(r.status(), 201);
        }
    };

    // Acme: staging and live vulnerable; Other: live vulnerable; Calm: the fixed version.
    let mut envs = Vec::new();
    for (client, kinds, twig) in [
        (
            d.acme,
            &[EnvironmentKind::Staging, EnvironmentKind::Live][..],
            "v3.4.0",
        ),
        (d.other, &[EnvironmentKind::Live][..], "v3.4.0"),
        (calm, &[EnvironmentKind::Live][..], "v3.4.3"),
    ] {
        let site = d
            .store
            .create_site(
                &NewSite {
                    client_id: client,
                    name: "shop".into(),
                    url: "https://shop.example".into(),
                },
                now,
            )
            .await
            .expect("site");
        for kind in kinds {
            let env = d
                .store
                .create_environment(
                    &NewEnvironment {
                        site_id: site.id,
                        kind: *kind,
                        name: kind.as_str().into(),
                        url: None,
                        position: None,
                    },
                    now,
                )
                .await
                .expect("env");
            push(env.id, twig).await;
            envs.push((client, *kind, env.id));
        }
    }
    let file = dir.path().join("twig.json");
    std::fs::write(
        &file,
        json!({"id": "GHSA-52m2-vc4m-jj33", "aliases": ["CVE-2022-39261"], "summary": "Twig path traversal",
               "database_specific": {"severity": "HIGH"},
               "affected": [{"package": {"ecosystem": "Packagist", "name": "twig/twig"},
                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "3.0.0"}, {"fixed": "3.4.3"}]}]}]})
        .to_string(),
    )
    .expect("advisory");
    let mut db = palisade_vulndb::VulnDb::open(&advisories).expect("advisory store");
    palisade_vulndb::import_path(&mut db, &file, None, &mut |_| {}).expect("import");
    state.matcher.catch_up(now).await.expect("match");

    let (status, campaign) = post(
        "/api/v1/campaigns".into(),
        sec.clone(),
        json!({"advisory": "CVE-2022-39261"}),
    )
    .await;
    assert_eq!(status, 201, "{campaign}");
    let id = campaign["id"].as_str().expect("id").to_owned();
    let (status, _) = post(
        format!("/api/v1/campaigns/{id}/start"),
        sec.clone(),
        json!({"version": 1}),
    )
    .await;
    assert_eq!(status, 200);
    let store_dyn: Arc<dyn Store> = store.clone();
    let notifier = Notifier::new(store_dyn, audit.clone(), &cfg.mail, None).expect("notifier");
    notifier.step(now).await;
    let to = |m: &mail_parser::Message<'_>| {
        m.to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .expect("recipient")
            .to_owned()
    };
    let mut first: Vec<String> = sink.messages().iter().map(to).collect();
    first.sort();
    assert_eq!(
        first,
        [
            "jane@acme.example",
            "olga@other.example",
            "raj@acme.example"
        ],
        "one e-mail per contact of each affected client; none for Calm"
    );
    assert!(
        sink.messages()
            .iter()
            .all(|m| m.subject().is_some_and(|s| s.contains("CVE-2022-39261")))
    );

    // Staging patched and tested, then live; new inventories verify every fix.
    let step = |env: palisade_core::EnvironmentId, body: Value| {
        post(
            format!("/api/v1/campaigns/{id}/environments/{env}/steps"),
            ops.clone(),
            body,
        )
    };
    let env_of = |client: ClientId, kind: EnvironmentKind| {
        envs.iter()
            .find(|(c, k, _)| *c == client && *k == kind)
            .expect("env")
            .2
    };
    let (a_staging, a_live, o_live) = (
        env_of(d.acme, EnvironmentKind::Staging),
        env_of(d.acme, EnvironmentKind::Live),
        env_of(d.other, EnvironmentKind::Live),
    );
    assert_eq!(step(a_live, json!({"action": "patched"})).await.0, 409);
    assert_eq!(step(a_staging, json!({"action": "patched"})).await.0, 200);
    let tested =
        json!({"action": "tested", "passed": true, "method": "manual", "detail": "checkout works"});
    assert_eq!(step(a_staging, tested).await.0, 200);
    assert_eq!(step(a_live, json!({"action": "patched"})).await.0, 200);
    assert_eq!(step(o_live, json!({"action": "patched"})).await.0, 200);
    for env in [a_staging, a_live, o_live] {
        push(env, "v3.4.3").await;
    }
    notifier.step(now).await;
    let all = sink.messages();
    assert_eq!(all.len(), 6, "one more e-mail per contact: the completion");
    let done: Vec<String> = all
        .iter()
        .filter(|m| m.subject().is_some_and(|s| s.contains("Resolved")))
        .filter(|m| m.body_text(0).is_some_and(|b| b.contains("is complete")))
        .map(to)
        .collect();
    assert_eq!(done.len(), 3, "{done:?}");
    assert!(!all.iter().map(to).any(|a| a == "carl@calm.example"));
}
