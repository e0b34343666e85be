//! The support desk over real HTTP: a client user opens a ticket, staff write an internal note and
//! a public reply, the client sees only the reply, the first-response clock is met by the reply
//! (not by the note), waiting on the customer pauses the clocks, refused transitions name both
//! states, and another client's user cannot see or touch the ticket.

mod common;

use common::*;
use jiff::SignedDuration;
use palisade_core::Role;
use palisade_core::tenant::*;
use palisade_store::Store;
use palisade_web::WebConfig;
use serde_json::{Value, json};

async fn json_of(resp: reqwest::Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.expect("json body");
    assert_eq!(got, status, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_from_the_portal_to_the_first_response_and_a_pause() {
    let app = TestApp::start(WebConfig::default()).await;
    let now = start_time(); // Monday 10:00 in London: inside support hours.
    let client = |name: &str| ClientInput {
        name: name.into(),
        contract: Contract {
            sla_tier: SlaTier::Standard,
            support_hours: SupportHours::office_hours("Europe/London"),
            holiday_calendar: Some("gb-eng".into()),
            out_of_hours: false,
        },
    };
    let a = app.store.create_client(&client("A"), now).await.expect("a");
    let b = app.store.create_client(&client("B"), now).await.expect("b");
    let site = app
        .store
        .create_site(
            &NewSite {
                client_id: a.id,
                name: "shop".into(),
                url: "https://shop.a.example".into(),
            },
            now,
        )
        .await
        .expect("site");
    let ua = app
        .user("ann@a.example", Role::ClientUser, Some(a.id))
        .await;
    let ub = app
        .user("bob@b.example", Role::ClientUser, Some(b.id))
        .await;
    let l1 = app
        .user("lee@provider.example", Role::SupportL1, None)
        .await;
    let ops = app
        .user("oz@provider.example", Role::Operations, None)
        .await;
    let (ta, tb) = (
        app.token(&ua, Role::ClientUser).await,
        app.token(&ub, Role::ClientUser).await,
    );
    let staff = app.token(&l1, Role::SupportL1).await;
    let ops = app.token(&ops, Role::Operations).await;

    // The client user opens a ticket for their own client without naming it.
    let ticket = json_of(
        app.post_json(
            "/api/v1/tickets",
            &ta,
            &json!({"site_id": site.id, "subject": "Checkout is slow", "category": "incident",
                    "priority": "high", "body": "Payments take a minute"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(ticket["client_id"], json!(a.id));
    assert_eq!(ticket["state"], "new");
    assert_eq!(
        ticket["created_by"],
        json!({"kind": "client", "user_id": ua.id})
    );
    let id = ticket["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/tickets/{id}");

    // Staff need to name the client; another client's site is refused.
    let resp = app
        .post_json(
            "/api/v1/tickets",
            &staff,
            &json!({"subject": "x", "category": "question", "body": "y"}),
        )
        .await;
    assert_eq!(json_of(resp, 422).await["field"], "client_id");
    let resp = app
        .post_json(
            "/api/v1/tickets",
            &tb,
            &json!({"site_id": site.id, "subject": "x", "category": "question", "body": "y"}),
        )
        .await;
    assert_eq!(json_of(resp, 422).await["field"], "site_id");

    // Ten minutes later an internal note; it is not a response.
    app.clock.advance(SignedDuration::from_mins(10));
    json_of(
        app.post_json(
            &format!("{path}/messages"),
            &staff,
            &json!({"body": "Looks like the PSP timeout again", "visibility": "internal"}),
        )
        .await,
        201,
    )
    .await;
    let seen = json_of(app.get(&path, &ta).await, 200).await;
    assert_eq!(seen["timeline"].as_array().expect("timeline").len(), 1);
    assert_eq!(seen["sla"]["first_response"]["state"], "running");
    // Client users write public replies only; operations staff read but do not answer.
    let resp = app
        .post_json(
            &format!("{path}/messages"),
            &ta,
            &json!({"body": "sneaky", "visibility": "internal"}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 403);
    let resp = app
        .post_json(&format!("{path}/messages"), &ops, &json!({"body": "hi"}))
        .await;
    assert_eq!(resp.status().as_u16(), 403);

    // Twenty minutes later the public reply: the first response is met and the ticket is open.
    app.clock.advance(SignedDuration::from_mins(20));
    let reply = json_of(
        app.post_json(
            &format!("{path}/messages"),
            &staff,
            &json!({"body": "We are raising the timeout now"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(reply["visibility"], "public");
    assert_eq!(reply["seq"], 3);

    let seen = json_of(app.get(&path, &ta).await, 200).await;
    let text = seen.to_string();
    assert!(!text.contains("PSP timeout"), "the note leaked: {text}");
    let kinds: Vec<&str> = seen["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(kinds, ["created", "reply"]);
    assert_eq!(
        seen["timeline"][1]["body"],
        "We are raising the timeout now"
    );
    assert_eq!(seen["ticket"]["state"], "open");
    assert_eq!(seen["sla"]["first_response"]["state"], "met");
    let staff_view = json_of(app.get(&path, &staff).await, 200).await;
    assert_eq!(
        staff_view["timeline"].as_array().expect("timeline").len(),
        3
    );
    assert!(staff_view.to_string().contains("PSP timeout"));

    // Waiting on the customer pauses the clocks, however long they take.
    let moved = json_of(
        app.post_json(
            &format!("{path}/state"),
            &staff,
            &json!({"state": "waiting-on-customer", "reason": "Which card provider?"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(moved["state"], "waiting-on-customer");
    app.clock.advance(SignedDuration::from_hours(3));
    let seen = json_of(app.get(&path, &ta).await, 200).await;
    assert_eq!(seen["sla"]["waiting_on_customer"], true);
    assert_eq!(seen["sla"]["resolution"]["state"], "paused");
    assert_eq!(seen["sla"]["resolution"]["paused"], true);

    // Refused transitions name both states; client users do not move tickets.
    let resp = app
        .post_json(
            &format!("{path}/state"),
            &staff,
            &json!({"state": "closed"}),
        )
        .await;
    let err = json_of(resp, 409).await;
    assert_eq!(err["code"], "invalid_transition");
    let message = err["message"].as_str().expect("message");
    assert!(
        message.contains("waiting-on-customer") && message.contains("closed"),
        "{message}"
    );
    let resp = app
        .post_json(&format!("{path}/state"), &ta, &json!({"state": "open"}))
        .await;
    assert_eq!(resp.status().as_u16(), 403);

    // The customer's answer ends the wait by itself.
    json_of(
        app.post_json(&format!("{path}/messages"), &ta, &json!({"body": "Stripe"}))
            .await,
        201,
    )
    .await;
    let seen = json_of(app.get(&path, &ta).await, 200).await;
    assert_eq!(seen["ticket"]["state"], "open");
    assert_eq!(seen["sla"]["waiting_on_customer"], false);

    // Raising the priority to critical judges the running clocks by calendar minutes from the
    // start; an escalation is for staff only and changes no state.
    let raised = json_of(
        app.post_json(
            &format!("{path}/priority"),
            &staff,
            &json!({"priority": "critical", "reason": "all payments failing"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(raised["priority"], "critical");
    let resp = app
        .post_json(
            &format!("{path}/priority"),
            &staff,
            &json!({"priority": "critical"}),
        )
        .await;
    assert_eq!(json_of(resp, 422).await["field"], "priority");
    json_of(
        app.post_json(
            &format!("{path}/escalate"),
            &staff,
            &json!({"reason": "needs the payments team"}),
        )
        .await,
        201,
    )
    .await;
    let resp = app
        .post_json(&format!("{path}/escalate"), &ta, &json!({"reason": "now!"}))
        .await;
    assert_eq!(resp.status().as_u16(), 403);
    let seen = json_of(app.get(&path, &ta).await, 200).await;
    assert_eq!(seen["sla"]["priority"], "critical");
    assert_eq!(seen["ticket"]["state"], "open");
    assert!(
        !seen.to_string().contains("payments team"),
        "escalations are internal"
    );
    let last = seen["timeline"]
        .as_array()
        .expect("timeline")
        .last()
        .cloned();
    assert_eq!(last.expect("event")["type"], "priority-changed");
    let staff_view = json_of(app.get(&path, &staff).await, 200).await;
    assert!(staff_view.to_string().contains("payments team"));

    // Another client's user: the ticket does not exist for them.
    assert_eq!(app.get(&path, &tb).await.status().as_u16(), 404);
    let resp = app
        .post_json(&format!("{path}/messages"), &tb, &json!({"body": "hello?"}))
        .await;
    assert_eq!(resp.status().as_u16(), 404);
    let resp = app
        .post_json(&format!("{path}/state"), &tb, &json!({"state": "resolved"}))
        .await;
    assert_eq!(resp.status().as_u16(), 404);
    let theirs = json_of(app.get("/api/v1/tickets", &tb).await, 200).await;
    assert!(!theirs.to_string().contains(&id));
    let resp = app
        .get(&format!("/api/v1/tickets?client_id={}", a.id), &tb)
        .await;
    assert_eq!(resp.status().as_u16(), 404);

    // Lists filter by state and priority; the owner sees theirs.
    let mine = json_of(
        app.get("/api/v1/tickets?state=open&priority=critical", &ta)
            .await,
        200,
    )
    .await;
    assert_eq!(mine["items"].as_array().expect("items").len(), 1);
    let none = json_of(app.get("/api/v1/tickets?state=closed", &staff).await, 200).await;
    assert_eq!(none["items"], json!([]));
}
