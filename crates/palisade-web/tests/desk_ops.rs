//! Desk operations over real HTTP with the manual clock: the out-of-hours line (only for contracts
//! that include it, only critical issues, only outside support hours), work logs split and priced
//! in and out of hours, the monthly billing CSV, the queue in order of the next SLA deadline with
//! "at risk" and "breached" verdicts, and critical tickets escalating by themselves when the sweep
//! runs (a system event in the timeline, an audit event, the metrics). No sleeps: time moves only
//! when the test advances the clock, and the sweep is called directly.

mod common;

use common::*;
use jiff::SignedDuration;
use palisade_core::Role;
use palisade_core::tenant::*;
use palisade_store::{DeskStore, Store};
use palisade_web::WebConfig;
use palisade_web::deskops::{DeskConfig, sweep};
use serde_json::{Value, json};

async fn json_of(resp: reqwest::Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn contract(out_of_hours: bool) -> Contract {
    Contract {
        sla_tier: SlaTier::Standard,
        // Monday to Friday 09:00–17:30 in London.
        support_hours: SupportHours::office_hours("Europe/London"),
        holiday_calendar: Some("gb-eng".into()),
        out_of_hours,
    }
}

async fn client(app: &TestApp, name: &str, out_of_hours: bool) -> Client {
    app.store
        .create_client(
            &ClientInput {
                name: name.into(),
                contract: contract(out_of_hours),
            },
            start_time(),
        )
        .await
        .expect("client")
}

/// A running app with the client Acme (office hours in London, no out-of-hours line) and API
/// tokens for Acme's user, a first-line agent and a super-admin.
async fn acme_desk() -> (TestApp, Client, String, String, String) {
    let app = TestApp::start(WebConfig::default()).await;
    let acme = client(&app, "Acme", false).await;
    let user = app
        .user("ann@acme.example", Role::ClientUser, Some(acme.id))
        .await;
    let l1 = app.user("l1@provider.example", Role::SupportL1, None).await;
    let root = app
        .user("root@provider.example", Role::SuperAdmin, None)
        .await;
    let ann = app.token(&user, Role::ClientUser).await;
    let staff = app.token(&l1, Role::SupportL1).await;
    let admin = app.token(&root, Role::SuperAdmin).await;
    (app, acme, ann, staff, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_out_of_hours_line_work_logs_and_the_monthly_billing_export() {
    let app = TestApp::start(WebConfig::default()).await;
    // start_time() is Monday 23 November 2026, 10:00 in London: inside support hours.
    let owls = client(&app, "Night Owls, Ltd", true).await;
    let larks = client(&app, "Day Larks", false).await;
    let owl = app
        .user("owl@owls.example", Role::ClientUser, Some(owls.id))
        .await;
    let lark = app
        .user("lark@larks.example", Role::ClientUser, Some(larks.id))
        .await;
    let l1 = app.user("l1@provider.example", Role::SupportL1, None).await;
    let owl = app.token(&owl, Role::ClientUser).await;
    let lark = app.token(&lark, Role::ClientUser).await;
    let staff = app.token(&l1, Role::SupportL1).await;
    let ooh = "/api/v1/out-of-hours/tickets";
    let issue = json!({"subject": "Shop down", "body": "502 everywhere"});

    // Inside support hours the line sends the client to the normal desk.
    let err = json_of(app.post_json(ooh, &owl, &issue).await, 409).await;
    assert_eq!(err["code"], "inside_support_hours");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("/api/v1/tickets"))
    );

    // Monday 20:00: out of hours. Only critical issues, only with the line in the contract.
    app.clock.advance(SignedDuration::from_hours(10));
    let err = json_of(
        app.post_json(
            ooh,
            &owl,
            &json!({"subject": "Slow", "body": "a bit", "priority": "high"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(err["code"], "out_of_hours_critical_only");
    let err = json_of(app.post_json(ooh, &lark, &issue).await, 422).await;
    assert_eq!(err["code"], "out_of_hours_not_included");
    let ticket = json_of(app.post_json(ooh, &owl, &issue).await, 201).await;
    assert_eq!(ticket["priority"], "critical");
    assert_eq!(ticket["out_of_hours"], true);
    assert_eq!(ticket["category"], "incident");
    assert_eq!(ticket["client_id"], json!(owls.id));
    // Staff open one on a client's behalf; the normal desk's tickets are not flagged.
    let by_staff = json_of(
        app.post_json(
            ooh,
            &staff,
            &json!({"client_id": owls.id, "subject": "Mail down", "body": "phoned in"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(by_staff["out_of_hours"], true);
    let normal = json_of(
        app.post_json(
            "/api/v1/tickets",
            &owl,
            &json!({"subject": "Question", "category": "question", "body": "?"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(normal["out_of_hours"], false);

    // Work from 16:30 to 18:00 (GMT): one hour before the 17:30 close, half an hour after, at the
    // standard tier's £90 and £150 an hour.
    let id = ticket["id"].as_str().expect("id").to_owned();
    let work = format!("/api/v1/tickets/{id}/work");
    let logged = json_of(
        app.post_json(
            &work,
            &staff,
            &json!({"start": "2026-11-23T16:30:00Z", "end": "2026-11-23T18:00:00Z",
                    "note": "=restarted php-fpm, cleared the cache"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(logged["priced"]["in_hours_seconds"], 3600);
    assert_eq!(logged["priced"]["out_of_hours_seconds"], 1800);
    assert_eq!(logged["priced"]["amount"], 9_000 + 7_500);
    assert_eq!(logged["priced"]["currency"], "GBP");
    // A log in December is not November's.
    app.clock.advance(SignedDuration::from_hours(24 * 8));
    json_of(
        app.post_json(
            &work,
            &staff,
            &json!({"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T10:30:00Z", "note": "follow-up"}),
        )
        .await,
        201,
    )
    .await;
    // Refused: ends in the future, ends before it starts, or written by the client.
    let resp = app
        .post_json(
            &work,
            &staff,
            &json!({"start": "2026-12-01T08:00:00Z", "end": "2027-01-01T08:30:00Z", "note": "x"}),
        )
        .await;
    assert_eq!(json_of(resp, 422).await["field"], "end");
    let resp = app
        .post_json(
            &work,
            &staff,
            &json!({"start": "2026-12-01T08:00:00Z", "end": "2026-12-01T07:00:00Z", "note": "x"}),
        )
        .await;
    assert_eq!(json_of(resp, 422).await["field"], "end");
    assert_eq!(
        app.post_json(
            &work,
            &owl,
            &json!({"start": "2026-11-23T16:30:00Z", "end": "2026-11-23T17:00:00Z", "note": "x"}),
        )
        .await
        .status()
        .as_u16(),
        403
    );
    assert_eq!(app.get(&work, &owl).await.status().as_u16(), 403);
    let list = json_of(app.get(&work, &staff).await, 200).await;
    assert_eq!(list["items"].as_array().expect("items").len(), 2);
    assert_eq!(list["amount"], 16_500 + 4_500);

    // November's bill: the header, one work row, the total; the note's formula is defused.
    let bill = format!("/api/v1/clients/{}/billing?month=2026-11", owls.id);
    let resp = app.get(&bill, &staff).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/csv")
    );
    let csv = resp.text().await.expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert_eq!(lines[0], palisade_web::deskops::BILLING_COLUMNS);
    assert!(
        lines[1].starts_with("work,2026-11,\"Night Owls, Ltd\","),
        "{csv}"
    );
    assert!(
        lines[1].contains(",3600,1800,9000,7500,16500,GBP,"),
        "{csv}"
    );
    assert!(
        lines[1].contains("\"'=restarted php-fpm, cleared the cache\""),
        "{csv}"
    );
    assert!(
        lines[1].contains(",l1 user,") || lines[1].contains("support-l1"),
        "{csv}"
    );
    assert!(
        lines[2].starts_with("total,2026-11,")
            && lines[2].ends_with(",3600,1800,9000,7500,16500,GBP,"),
        "{csv}"
    );
    // December has the other log; another client's month is empty but still totals.
    let december = app
        .get(
            &format!("/api/v1/clients/{}/billing?month=2026-12", owls.id),
            &staff,
        )
        .await
        .text()
        .await
        .expect("csv");
    assert!(
        december
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains(",4500,GBP,")),
        "{december}"
    );
    let empty = app
        .get(
            &format!("/api/v1/clients/{}/billing?month=2026-11", larks.id),
            &staff,
        )
        .await
        .text()
        .await
        .expect("csv");
    assert_eq!(empty.lines().count(), 2, "{empty}");
    let resp = app
        .get(
            &format!("/api/v1/clients/{}/billing?month=2026-13", owls.id),
            &staff,
        )
        .await;
    assert_eq!(json_of(resp, 400).await["field"], "month");
    assert_eq!(app.get(&bill, &owl).await.status().as_u16(), 403);
    assert_eq!(app.get(&bill, &lark).await.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_sorts_by_next_deadline_and_unanswered_critical_tickets_escalate_by_themselves() {
    let (app, acme, ann, staff, admin) = acme_desk().await;
    let open = |subject: &'static str, priority: &'static str| {
        let app = &app;
        let ann = ann.clone();
        async move {
            let t = json_of(
                app.post_json(
                    "/api/v1/tickets",
                    &ann,
                    &json!({"subject": subject, "category": "incident", "priority": priority, "body": "help"}),
                )
                .await,
                201,
            )
            .await;
            t["id"].as_str().expect("id").to_owned()
        }
    };
    // Monday 10:00 London. Normal: first response in 8 business hours (Tuesday 09:30); high: 2
    // business hours (12:00); critical: 30 calendar minutes (10:30).
    let normal = open("Normal", "normal").await;
    let high = open("High", "high").await;
    let critical = open("Critical", "critical").await;
    let answered = open("Answered critical", "critical").await;
    app.clock.advance(SignedDuration::from_mins(5));
    json_of(
        app.post_json(
            &format!("/api/v1/tickets/{answered}/messages"),
            &staff,
            &json!({"body": "On it"}),
        )
        .await,
        201,
    )
    .await;
    let order = |q: &Value| -> Vec<String> {
        q["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["ticket"]["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let q = json_of(app.get("/api/v1/tickets/queue", &staff).await, 200).await;
    // The answered one's next clock is its 4-hour resolution (14:00).
    assert_eq!(
        order(&q),
        [
            critical.clone(),
            high.clone(),
            answered.clone(),
            normal.clone()
        ]
    );
    assert_eq!(q["items"][0]["sla"]["status"], "ok");
    assert_eq!(q["items"][0]["sla"]["next_due"], "2026-11-23T10:30:00Z");
    assert_eq!(q["items"][0]["sla"]["next_due_clock"], "first-response");

    // 10:23: the critical ticket has used 23 of its 30 minutes, past the 75% threshold.
    app.clock.advance(SignedDuration::from_mins(18));
    let q = json_of(app.get("/api/v1/tickets/queue", &staff).await, 200).await;
    assert_eq!(q["items"][0]["sla"]["status"], "at-risk");
    assert_eq!(q["items"][0]["sla"]["at_risk"], json!(["first-response"]));
    assert_eq!(
        q["items"][1]["sla"]["status"], "ok",
        "high has used 23 of 120"
    );
    assert_eq!(q["summary"]["at_risk"], 1);
    // A stricter threshold is configuration, not code.
    let report = sweep(&app.state, &DeskConfig::default())
        .await
        .expect("sweep");
    assert_eq!((report.open, report.at_risk, report.breached), (4, 1, 0));
    assert_eq!(
        report.escalated.len(),
        1,
        "23 minutes unanswered is past the 15-minute limit"
    );

    // The escalation is the system's, with its reason, in the timeline staff see; the client
    // sees none of it; the ticket is with the second line now; the next sweep does nothing.
    let seen = json_of(
        app.get(&format!("/api/v1/tickets/{critical}"), &staff)
            .await,
        200,
    )
    .await;
    let last = seen["timeline"]
        .as_array()
        .expect("timeline")
        .last()
        .cloned()
        .expect("event");
    assert_eq!(last["type"], "escalated");
    assert_eq!(last["actor"], json!({"kind": "system"}));
    assert!(
        last["reason"]
            .as_str()
            .is_some_and(|r| r.contains("without a first response"))
    );
    assert_eq!(seen["ticket"]["line"], "second");
    let theirs = json_of(
        app.get(&format!("/api/v1/tickets/{critical}"), &ann).await,
        200,
    )
    .await;
    assert!(!theirs.to_string().contains("escalated"), "{theirs}");
    let again = sweep(&app.state, &DeskConfig::default())
        .await
        .expect("sweep");
    assert!(again.escalated.is_empty());
    let q = json_of(
        app.get("/api/v1/tickets/queue?line=second", &staff).await,
        200,
    )
    .await;
    assert_eq!(order(&q), vec![critical.clone()]);
    assert_eq!(q["summary"]["escalated_automatically"], 1);

    // 10:31: breached. It leads the queue, the ticket says which clock, the metrics count it.
    app.clock.advance(SignedDuration::from_mins(8));
    let q = json_of(app.get("/api/v1/tickets/queue", &staff).await, 200).await;
    assert_eq!(order(&q)[0], critical);
    assert_eq!(q["items"][0]["sla"]["status"], "breached");
    let one = json_of(
        app.get(&format!("/api/v1/tickets/{critical}"), &staff)
            .await,
        200,
    )
    .await;
    assert_eq!(one["sla_summary"]["breached"], json!(["first-response"]));
    sweep(&app.state, &DeskConfig::default())
        .await
        .expect("sweep");
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("palisade_desk_tickets_breached 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("palisade_desk_open_tickets 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("palisade_desk_auto_escalations_total 1"),
        "{metrics}"
    );

    // The answered critical ticket never escalated; the client user's queue is theirs only.
    let answered_now = json_of(
        app.get(&format!("/api/v1/tickets/{answered}"), &staff)
            .await,
        200,
    )
    .await;
    assert_eq!(answered_now["ticket"]["line"], "first");
    let mine = json_of(app.get("/api/v1/tickets/queue", &ann).await, 200).await;
    assert_eq!(mine["items"].as_array().expect("items").len(), 4);

    // The automatic escalation is in the audit log, for the client and the ticket.
    app.state.audit.flush().await;
    let events = json_of(
        app.get("/api/v1/audit/events?action=ticket.auto-escalate", &admin)
            .await,
        200,
    )
    .await;
    let items = events["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{events}");
    assert_eq!(items[0]["client_id"], json!(acme.id.to_string()));
    assert_eq!(items[0]["object"], format!("ticket:{critical}"));
}

/// The queue is sorted over every open ticket, not a window of them: paged with `cursor`, each
/// ticket comes once, deadlines never go backwards, and the counts cover the whole queue. The
/// order follows a change of the client's support hours at once, and the sweep puts right a stamp
/// that went stale behind the store's back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_pages_over_every_open_ticket_and_follows_contract_changes() {
    let (app, acme, ann, staff, admin) = acme_desk().await;
    // Opened over an hour and a half from Monday 10:00, newest first by priority, so neither the
    // order of opening nor the order of priority is the order of deadlines.
    let mut opened = Vec::new();
    for (i, priority) in ["low", "normal", "high", "critical", "normal", "high", "low"]
        .into_iter()
        .enumerate()
    {
        let t = json_of(
            app.post_json(
                "/api/v1/tickets",
                &ann,
                &json!({"subject": format!("Ticket {i}"), "category": "incident",
                        "priority": priority, "body": "help"}),
            )
            .await,
            201,
        )
        .await;
        opened.push(t["id"].as_str().expect("id").to_owned());
        app.clock.advance(SignedDuration::from_mins(15));
    }
    let pages = |token: String| {
        let app = &app;
        async move {
            let mut items: Vec<Value> = Vec::new();
            let mut path = "/api/v1/tickets/queue?limit=3".to_owned();
            let mut summary;
            loop {
                let q = json_of(app.get(&path, &token).await, 200).await;
                items.extend(q["items"].as_array().expect("items").iter().cloned());
                summary = q["summary"].clone();
                match q["next_cursor"].as_str() {
                    Some(c) => path = format!("/api/v1/tickets/queue?limit=3&cursor={c}"),
                    None => break,
                }
            }
            (items, summary)
        }
    };
    let dues = |items: &[Value]| -> Vec<String> {
        items
            .iter()
            .map(|i| i["sla"]["next_due"].as_str().unwrap_or("none").to_owned())
            .collect()
    };
    let ids = |items: &[Value]| -> Vec<String> {
        items
            .iter()
            .map(|i| i["ticket"]["id"].as_str().expect("id").to_owned())
            .collect()
    };
    // 12:05.
    app.clock.advance(SignedDuration::from_mins(20));
    let (items, summary) = pages(staff.clone()).await;
    assert_eq!(items.len(), 7, "three pages, every ticket once");
    let mut seen = ids(&items);
    seen.sort();
    let mut want = opened.clone();
    want.sort();
    assert_eq!(seen, want);
    let d = dues(&items);
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");
    assert_eq!(summary["tickets"], 7);
    // The critical ticket (opened 10:45, 30 minutes) is breached; the high one opened at 10:30
    // (due 12:30) has used more than 75 % of its two hours: at risk.
    assert_eq!(summary["breached"], 1);
    assert_eq!(summary["at_risk"], 1);
    assert_eq!(items[0]["ticket"]["id"], opened[3]);
    assert_eq!(items[0]["sla"]["status"], "breached");
    let (theirs, _) = pages(ann.clone()).await;
    assert_eq!(
        ids(&theirs),
        ids(&items),
        "the client user's queue is the same tickets"
    );
    let bad = app
        .get("/api/v1/tickets/queue?cursor=bm90LWEtY3Vyc29y", &staff)
        .await;
    assert_eq!(bad.status().as_u16(), 400);

    // Acme's support hours move to Sydney: a normal ticket's business-hour deadline moves, and
    // the queue says what the ticket's own page (replayed from its timeline) says.
    let normal = &opened[1];
    let before = json_of(
        app.get(&format!("/api/v1/tickets/{normal}"), &staff).await,
        200,
    )
    .await;
    let mut input = json!({"name": "Acme", "contract": contract(false)});
    input["contract"]["support_hours"] =
        serde_json::to_value(SupportHours::office_hours("Australia/Sydney")).expect("json");
    let put = app
        .http
        .put(app.url(&format!("/api/v1/clients/{}", acme.id)))
        .bearer_auth(&admin)
        .json(&input)
        .send()
        .await
        .expect("put");
    assert_eq!(
        put.status().as_u16(),
        200,
        "{}",
        put.text().await.unwrap_or_default()
    );
    let after = json_of(
        app.get(&format!("/api/v1/tickets/{normal}"), &staff).await,
        200,
    )
    .await;
    assert_ne!(
        after["sla_summary"]["next_due"],
        before["sla_summary"]["next_due"]
    );
    assert_eq!(
        after["ticket"]["sla"]["due_at"],
        after["sla_summary"]["next_due"]
    );
    let (items, _) = pages(staff.clone()).await;
    let d = dues(&items);
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");

    // A stamp gone stale behind the store's back (here: wiped) sends the ticket to the end of
    // the queue until the sweep puts it right. (The second: the first, a critical ticket, is
    // escalated by the same sweep, which stamps it by itself.)
    let stale = app
        .store
        .get_ticket(
            items[1]["ticket"]["id"]
                .as_str()
                .expect("id")
                .parse()
                .expect("ticket id"),
        )
        .await
        .expect("ticket");
    assert!(
        app.store
            .set_ticket_sla(stale.id, stale.version, &Default::default())
            .await
            .expect("wipe")
    );
    let (wiped, _) = pages(staff.clone()).await;
    assert_eq!(ids(&wiped).last(), Some(&stale.id.to_string()));
    let report = sweep(&app.state, &DeskConfig::default())
        .await
        .expect("sweep");
    assert_eq!(report.restamped, 1);
    let (mended, _) = pages(staff.clone()).await;
    assert_eq!(ids(&mended), ids(&items));

    // A change answers with the ticket as stored, its stamp taken after the change (critical:
    // 30 calendar minutes from the opening, long past), not the one from before.
    let raised = json_of(
        app.post_json(
            &format!("/api/v1/tickets/{normal}/priority"),
            &staff,
            &json!({"priority": "critical"}),
        )
        .await,
        200,
    )
    .await;
    let stored = json_of(
        app.get(&format!("/api/v1/tickets/{normal}"), &staff).await,
        200,
    )
    .await;
    assert_ne!(raised["sla"], after["ticket"]["sla"]);
    assert_eq!(raised["sla"], stored["ticket"]["sla"]);
    assert_eq!(raised["sla"]["breached"], true);
}
