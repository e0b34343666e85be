//! Issue 6's ticket-list figure: with TICKETS tickets stored (default 1,000,000; 2 % of them
//! open, the rest closed) across 1,000 clients on the SQLite default, the latency over HTTP
//! (p50/p95) of a client's open tickets (`GET /api/v1/tickets?state=new` as a client user) and of
//! the queue with SLA due times (`GET /api/v1/tickets/queue`, 50 a page, sorted over every open
//! ticket, with the counts of the whole queue): its first page, ten pages on from a cursor, one
//! client's queue as staff and as the client's user, and the closed tickets (980,000) in the same
//! order. Goal p95 ≤ 200 ms.
//!
//! Closed tickets are written straight into the database (they have no timeline here: no page
//! reads a closed ticket's events); open ones go through the store with their opening event, so
//! they carry the SLA stamp the store writes, and one in a hundred is escalated by the system.
//!
//! Usage: `desk_list_bench [TICKETS]`

use std::sync::Arc;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use palisade_core::tenant::*;
use palisade_core::{Role, TicketId, UserId};
use palisade_desk::sla::Priority;
use palisade_desk::ticket::{Actor, Category, NewTicket};
use palisade_store::{DeskStore, NewUserRecord, Store};

const CLIENTS: usize = 1000;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let total: usize = std::env::args()
        .nth(1)
        .map_or(Ok(1_000_000), |a| a.parse())?;
    let open_count = total / 50;
    let dir = tempfile::tempdir()?;
    let o = palisade::config::Overrides {
        data_dir: Some(dir.path().to_owned()),
        ..Default::default()
    };
    let cfg = palisade::config::load(
        None,
        figment::providers::Env::prefixed("PALISADE_BENCH_UNSET_"),
        &o,
    )?;
    let store = palisade::serve::open_store(&cfg).await?;
    let (audit, _worker) = palisade::audit::start(&store, &cfg)?;
    let store = Arc::new(store);
    let now = Timestamp::now();
    let setup = Instant::now();
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let c = store
            .create_client(
                &ClientInput {
                    name: format!("Client {i:04}"),
                    contract: Contract {
                        sla_tier: SlaTier::Standard,
                        support_hours: SupportHours::office_hours("Europe/London"),
                        holiday_calendar: None,
                        out_of_hours: false,
                    },
                },
                now,
            )
            .await?;
        clients.push(c.id);
    }
    // Closed history, written in large transactions.
    {
        let db = dir.path().join("palisade.db");
        let mut conn = rusqlite::Connection::open(&db)?;
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare(
                "INSERT INTO tickets (id, number, client_id, site_id, subject, category, priority, \
                 state, version, created_at, updated_at, created_by, line, out_of_hours) \
                 VALUES (?1, ?2, ?3, NULL, 'Old question', 'question', 'normal', 'closed', 3, ?4, \
                 ?4, 'system', 'first', 0)",
            )?;
            let start = now.as_microsecond() - 365 * 86_400_000_000;
            for n in 0..(total - open_count) {
                let at = start + n as i64 * 1000;
                st.execute(rusqlite::params![
                    TicketId::new().to_string(),
                    n as i64 + 1,
                    clients[n % CLIENTS].to_string(),
                    at
                ])?;
            }
        }
        tx.commit()?;
    }
    let mut opened = 0;
    for n in 0..open_count {
        let t = NewTicket {
            id: TicketId::new(),
            client_id: clients[n % CLIENTS],
            site_id: None,
            subject: format!("Open issue {n}"),
            category: Category::Incident,
            priority: [
                Priority::Critical,
                Priority::High,
                Priority::Normal,
                Priority::Low,
            ][n % 4],
            body: "The shop is slow.".into(),
            created_by: Actor::System,
            at: now - SignedDuration::from_mins((n % 5000) as i64),
        };
        let ticket = store.create_ticket(&t, &t.created_event()?).await?;
        if n % 100 == 0 {
            let (next, ev) = ticket.apply(
                palisade_desk::ticket::TimelineKind::Escalated {
                    reason: "unanswered".into(),
                },
                Actor::System,
                t.at,
            )?;
            store.append_ticket_event(&next, &ev).await?;
        }
        opened += 1;
    }
    println!(
        "setup: {total} tickets ({opened} open) across {CLIENTS} clients in {:.0} s",
        setup.elapsed().as_secs_f64()
    );

    let matcher = palisade_web::Matcher::new(
        store.clone(),
        dir.path().join("advisories"),
        Default::default(),
    );
    let state = palisade_web::AppState::new(
        matcher,
        Arc::new(palisade_core::clock::SystemClock),
        palisade_web::WebConfig::default(),
        audit,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(palisade_web::serve(listener, state, std::future::pending()));
    let token = |role: Role, client: Option<palisade_core::ClientId>, email: String| {
        let store = store.clone();
        async move {
            let user = store
                .create_user(
                    &NewUserRecord {
                        email,
                        display_name: "bench".into(),
                        role,
                        client_id: client,
                        password_hash: "$argon2id$unused".into(),
                    },
                    now,
                )
                .await?;
            let secret = palisade_auth::new_api_token();
            let t = palisade_core::user::ApiToken::issue(
                user.id,
                "bench".into(),
                role,
                &secret,
                now,
                SignedDuration::from_hours(1),
            );
            store
                .create_token(&t, &palisade_auth::token_hash(&secret))
                .await?;
            anyhow::Ok::<(String, UserId)>((secret, user.id))
        }
    };
    let (staff, _) = token(Role::SupportL1, None, "l1@provider.example".into()).await?;
    let mut client_tokens = Vec::new();
    for (i, c) in clients.iter().enumerate().take(50) {
        client_tokens.push(
            token(Role::ClientUser, Some(*c), format!("u{i}@client.example"))
                .await?
                .0,
        );
    }
    let http = reqwest::Client::new();
    let mut client_ms = Vec::new();
    for i in 0..400 {
        let t = Instant::now();
        let r = http
            .get(format!("{base}/api/v1/tickets?state=new"))
            .bearer_auth(&client_tokens[i % client_tokens.len()])
            .send()
            .await?;
        anyhow::ensure!(r.status() == 200, "client list: {}", r.status());
        let body: serde_json::Value = r.json().await?;
        anyhow::ensure!(
            !body["items"].as_array().is_none_or(Vec::is_empty),
            "no open tickets"
        );
        client_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let get = |path: String, token: String| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let t = Instant::now();
            let r = http.get(url).bearer_auth(token).send().await?;
            anyhow::ensure!(r.status() == 200, "{}", r.status());
            let body: serde_json::Value = r.json().await?;
            anyhow::Ok((t.elapsed().as_secs_f64() * 1000.0, body))
        }
    };
    let report = |name: &str, v: &mut Vec<f64>| {
        println!(
            "{name}: p50 {:.1} ms, p95 {:.1} ms (n={})",
            pct(v, 0.5),
            pct(v, 0.95),
            v.len()
        );
    };
    report("client's open tickets", &mut client_ms);

    // The first page, checked: the whole open backlog is counted, and the page is in order.
    let (_, first) = get("/api/v1/tickets/queue".into(), staff.clone()).await?;
    anyhow::ensure!(
        first["summary"]["tickets"] == open_count as u64,
        "the queue counts every open ticket: {}",
        first["summary"]
    );
    let dues: Vec<&str> = first["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["ticket"]["sla"]["due_at"].as_str())
                .collect()
        })
        .unwrap_or_default();
    anyhow::ensure!(
        dues.len() == 50 && dues.windows(2).all(|w| w[0] <= w[1]),
        "page order"
    );
    let mut v = Vec::new();
    for _ in 0..30 {
        v.push(get("/api/v1/tickets/queue".into(), staff.clone()).await?.0);
    }
    report("staff queue, first page", &mut v);
    // Ten pages in, from the cursor the tenth page gives.
    let mut cursor = String::new();
    for _ in 0..10 {
        let path = format!("/api/v1/tickets/queue?cursor={cursor}");
        let (_, page) = get(
            if cursor.is_empty() {
                "/api/v1/tickets/queue".into()
            } else {
                path
            },
            staff.clone(),
        )
        .await?;
        cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
    }
    let mut v = Vec::new();
    for _ in 0..30 {
        v.push(
            get(
                format!("/api/v1/tickets/queue?cursor={cursor}"),
                staff.clone(),
            )
            .await?
            .0,
        );
    }
    report("staff queue, page 11 by cursor", &mut v);
    let mut v = Vec::new();
    for c in clients.iter().take(30) {
        v.push(
            get(
                format!("/api/v1/tickets/queue?client_id={c}"),
                staff.clone(),
            )
            .await?
            .0,
        );
    }
    report("staff queue of one client", &mut v);
    let mut v = Vec::new();
    for t in client_tokens.iter().take(30) {
        v.push(get("/api/v1/tickets/queue".into(), t.clone()).await?.0);
    }
    report("a client user's queue", &mut v);
    let mut v = Vec::new();
    for _ in 0..10 {
        v.push(
            get("/api/v1/tickets/queue?state=closed".into(), staff.clone())
                .await?
                .0,
        );
    }
    report("staff queue of closed tickets", &mut v);
    Ok(())
}
