//! A patch campaign end to end over real HTTP: an advisory arrives and reaches two of three
//! clients; the security team plans and starts a campaign; each affected client gets exactly one
//! ticket worded for them and the unaffected one nothing; live is refused until staging has been
//! patched and passed its tests; a new inventory verifies the fix and the customer's ticket is
//! resolved with a message; exclusions and skipped tests show up as exceptions in the evidence.

mod common;

use common::*;
use palisade_core::Role;
use palisade_core::tenant::{EnvironmentKind, NewEnvironment, NewSite};
use palisade_store::Store;
use serde_json::{Value, json};

fn composer_lock(twig: &str) -> String {
    json!({"packages": [{"name": "twig/twig", "version": twig},
                        {"name": "monolog/monolog", "version": "2.9.1"}]})
    .to_string()
}

fn twig_advisory() -> Vec<u8> {
    json!({
        "id": "GHSA-52m2-vc4m-jj33",
        "modified": "2022-10-01T00:00:00Z",
        "aliases": ["CVE-2022-39261"],
        "summary": "Twig may load a template outside a configured directory",
        "database_specific": {"severity": "HIGH"},
        "affected": [{
            "package": {"ecosystem": "Packagist", "name": "twig/twig"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "3.0.0"}, {"fixed": "3.4.3"}]}]
        }]
    })
    .to_string()
    .into_bytes()
}

/// A client of the test fleet: its name, ID, and environments by kind.
type FleetClient = (
    &'static str,
    palisade_core::ClientId,
    Vec<(EnvironmentKind, String)>,
);

struct Fleet {
    clients: Vec<FleetClient>,
}

impl Fleet {
    fn env(&self, client: usize, kind: EnvironmentKind) -> &str {
        &self.clients[client]
            .2
            .iter()
            .find(|(k, _)| *k == kind)
            .expect("environment")
            .1
    }
}

async fn fleet(app: &TestApp, admin: &str, ops: &str) -> Fleet {
    let now = app.clock.now_ts();
    let mut clients = Vec::new();
    for (name, twig) in [
        ("Alpha Foods", "v3.4.0"),
        ("Bravo Books", "v3.4.0"),
        ("Charlie Cars", "v3.4.3"),
    ] {
        let c: Value = app
            .post_json(
                "/api/v1/clients",
                admin,
                &client_body(name, "Europe/London"),
            )
            .await
            .json()
            .await
            .unwrap();
        let client_id: palisade_core::ClientId = c["id"].as_str().unwrap().parse().unwrap();
        let site = app
            .store
            .create_site(
                &NewSite {
                    client_id,
                    name: format!("{name} shop"),
                    url: "https://shop.example".into(),
                },
                now,
            )
            .await
            .unwrap();
        let mut envs = Vec::new();
        for kind in [EnvironmentKind::Staging, EnvironmentKind::Live] {
            let env = app
                .store
                .create_environment(
                    &NewEnvironment {
                        site_id: site.id,
                        kind,
                        name: kind.as_str().into(),
                        url: None,
                        position: None,
                    },
                    now,
                )
                .await
                .unwrap();
            push(app, ops, env.id, &composer_lock(twig)).await;
            envs.push((kind, env.id.to_string()));
        }
        clients.push((name, client_id, envs));
    }
    Fleet { clients }
}

async fn tickets_of(app: &TestApp, token: &str, client: palisade_core::ClientId) -> Vec<Value> {
    let (status, body) = json_get(app, &format!("/api/v1/tickets?client_id={client}"), token).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn step(app: &TestApp, token: &str, campaign: &str, env: &str, body: Value) -> (u16, Value) {
    let r = app
        .post_json(
            &format!("/api/v1/campaigns/{campaign}/environments/{env}/steps"),
            token,
            &body,
        )
        .await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn env_step(app: &TestApp, token: &str, campaign: &str, env: &str) -> String {
    let (_, body) = json_get(app, &format!("/api/v1/campaigns/{campaign}"), token).await;
    body["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["environment_id"] == env)
        .map(|e| e["step"].as_str().unwrap().to_owned())
        .expect("environment in campaign")
}

#[tokio::test]
async fn a_campaign_patches_staging_then_live_and_tells_each_affected_customer_once() {
    let app = TestApp::start(Default::default()).await;
    let admin = app
        .user("admin@provider.test", Role::SuperAdmin, None)
        .await;
    let admin = app.token(&admin, Role::SuperAdmin).await;
    let sec = app.user("sec@provider.test", Role::Security, None).await;
    let sec = app.token(&sec, Role::Security).await;
    let ops = app.user("ops@provider.test", Role::Operations, None).await;
    let ops = app.token(&ops, Role::Operations).await;
    let f = fleet(&app, &admin, &ops).await;
    let (alpha, bravo, charlie) = (f.clients[0].1, f.clients[1].1, f.clients[2].1);
    let user_a = app
        .user("a@alpha.test", Role::ClientUser, Some(alpha))
        .await;
    let user_a = app.token(&user_a, Role::ClientUser).await;
    let user_c = app
        .user("c@charlie.test", Role::ClientUser, Some(charlie))
        .await;
    let user_c = app.token(&user_c, Role::ClientUser).await;

    // The advisory arrives. Until the matcher has written its findings, who is affected lists
    // the installations as pending, and a campaign, which follows findings, is refused.
    import(&app, "twig.json", &twig_advisory());
    let plan = json!({"advisory": "CVE-2022-39261"});
    let (_, report) = json_get(&app, "/api/v1/advisories/CVE-2022-39261/affected", &sec).await;
    assert_eq!(
        (report["findings"].as_u64(), report["pending"].as_u64()),
        (Some(0), Some(4))
    );
    let r = app.post_json("/api/v1/campaigns", &sec, &plan).await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "findings_pending");
    app.state
        .matcher
        .catch_up(app.clock.now_ts())
        .await
        .unwrap();

    // Planning is the security team's; operations may not.
    let r = app.post_json("/api/v1/campaigns", &ops, &plan).await;
    assert_eq!(r.status(), 403);
    let r = app.post_json("/api/v1/campaigns", &sec, &plan).await;
    assert_eq!(r.status(), 201);
    let campaign: Value = r.json().await.unwrap();
    let id = campaign["id"].as_str().unwrap().to_owned();
    assert_eq!(campaign["state"], "planned");
    assert!(
        campaign["aliases"]
            .as_array()
            .unwrap()
            .contains(&json!("GHSA-52m2-vc4m-jj33"))
    );
    let (_, detail) = json_get(&app, &format!("/api/v1/campaigns/{id}"), &sec).await;
    let names: Vec<&str> = detail["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "exactly the affected clients: {names:?}");
    assert!(!names.contains(&"Charlie Cars"));
    assert_eq!(detail["progress"]["total"], 4);
    assert_eq!(detail["progress"]["pending"], 4);

    // Nobody is told anything, and no step moves, before the start.
    assert!(tickets_of(&app, &sec, alpha).await.is_empty());
    let (status, body) = step(
        &app,
        &ops,
        &id,
        f.env(0, EnvironmentKind::Staging),
        json!({"action": "patched"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("campaign_not_active"))
    );

    // Starting against a stale version is refused; then it starts.
    let r = app
        .post_json(
            &format!("/api/v1/campaigns/{id}/start"),
            &sec,
            &json!({"version": 7}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let r = app
        .post_json(
            &format!("/api/v1/campaigns/{id}/start"),
            &sec,
            &json!({"version": 1}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = app
        .post_json(
            &format!("/api/v1/campaigns/{id}/start"),
            &sec,
            &json!({"version": 2}),
        )
        .await;
    assert_eq!(r.status(), 422, "a campaign starts once");

    // Exactly one ticket per affected client, worded for them; none for the unaffected.
    for (i, client) in [alpha, bravo].into_iter().enumerate() {
        let tickets = tickets_of(&app, &sec, client).await;
        assert_eq!(tickets.len(), 1, "{tickets:?}");
        let t = &tickets[0];
        assert_eq!(t["category"], "security");
        assert_eq!(t["priority"], "high");
        assert!(t["subject"].as_str().unwrap().contains("CVE-2022-39261"));
        let (_, td) = json_get(
            &app,
            &format!("/api/v1/tickets/{}", t["id"].as_str().unwrap()),
            &sec,
        )
        .await;
        let opening = td["timeline"][0]["body"].as_str().unwrap();
        assert!(
            opening.contains(&format!("{} shop", f.clients[i].0)),
            "{opening}"
        );
        assert!(
            opening.contains("twig/twig v3.4.0 installed, fixed in 3.4.3"),
            "{opening}"
        );
        // The provider spoke first: no first response is owed on a proactive ticket.
        assert_eq!(td["sla"]["first_response"]["state"], "met", "{}", td["sla"]);
    }
    assert!(tickets_of(&app, &sec, charlie).await.is_empty());

    // Alpha: live is refused before staging is patched and tested, and accepted after.
    let (a_staging, a_live) = (
        f.env(0, EnvironmentKind::Staging),
        f.env(0, EnvironmentKind::Live),
    );
    let (status, body) = step(&app, &ops, &id, a_live, json!({"action": "patched"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("promotion_blocked")),
        "{body}"
    );
    let (status, _) = step(
        &app,
        &ops,
        &id,
        a_staging,
        json!({"action": "patched", "note": "composer update twig/twig"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = step(&app, &ops, &id, a_live, json!({"action": "patched"})).await;
    assert_eq!(
        status, 409,
        "patched but untested staging still holds live back"
    );
    let tested = json!({"action": "tested", "passed": true, "method": "command",
                        "detail": "vendor/bin/phpunit", "output": "OK (42 tests, 97 assertions)"});
    let (status, body) = step(&app, &ops, &id, a_staging, tested.clone()).await;
    assert_eq!((status, body["step"].as_str()), (200, Some("test-passed")));
    let (status, _) = step(&app, &ops, &id, a_live, json!({"action": "patched"})).await;
    assert_eq!(status, 200);
    // Nobody records a verification by hand: that is the inventory's word.
    let (status, _) = step(
        &app,
        &sec,
        &id,
        a_live,
        json!({"action": "verified", "note": "trust me"}),
    )
    .await;
    assert_eq!(status, 422);

    // A client user reads their own part only; the unaffected client sees no campaign at all.
    let (status, mine) = json_get(&app, &format!("/api/v1/campaigns/{id}"), &user_a).await;
    assert_eq!(status, 200);
    assert_eq!(mine["clients"].as_array().unwrap().len(), 1);
    assert_eq!(mine["environments"].as_array().unwrap().len(), 2);
    let (status, _) = json_get(&app, &format!("/api/v1/campaigns/{id}"), &user_c).await;
    assert_eq!(status, 404);
    let (_, list) = json_get(&app, "/api/v1/campaigns", &user_c).await;
    assert!(list["items"].as_array().unwrap().is_empty());
    // And may not record steps.
    let (status, _) = step(&app, &user_a, &id, a_live, tested.clone()).await;
    assert_eq!(status, 403);

    // New inventories with the fixed version verify both environments; the customer is told.
    push(&app, &ops, a_staging, &composer_lock("v3.4.3")).await;
    assert_eq!(env_step(&app, &sec, &id, a_staging).await, "verified");
    let t = &tickets_of(&app, &sec, alpha).await[0];
    assert_ne!(t["state"], "resolved", "live is not verified yet");
    push(&app, &ops, a_live, &composer_lock("v3.4.3")).await;
    assert_eq!(env_step(&app, &sec, &id, a_live).await, "verified");
    let t = &tickets_of(&app, &user_a, alpha).await[0];
    assert_eq!(t["state"], "resolved");
    let (_, td) = json_get(
        &app,
        &format!("/api/v1/tickets/{}", t["id"].as_str().unwrap()),
        &user_a,
    )
    .await;
    // Resolved with the completion message: one event, so one e-mail.
    let last = td["timeline"].as_array().unwrap().last().unwrap();
    assert_eq!(last["type"], "state-changed", "{last}");
    assert_eq!(last["to"], "resolved");
    assert!(
        last["reason"].as_str().unwrap().contains("is complete"),
        "{last}"
    );

    // Bravo: staging is being rebuilt (excluded with a reason), live patched without tests and
    // then verified: the campaign completes with both as exceptions in the evidence.
    let (b_staging, b_live) = (
        f.env(1, EnvironmentKind::Staging),
        f.env(1, EnvironmentKind::Live),
    );
    let (status, _) = step(
        &app,
        &sec,
        &id,
        b_staging,
        json!({"action": "excluded", "reason": ""}),
    )
    .await;
    assert_eq!(status, 422, "an exclusion needs its reason");
    let (status, _) = step(
        &app,
        &sec,
        &id,
        b_staging,
        json!({"action": "excluded", "reason": "staging is being rebuilt"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = step(&app, &ops, &id, b_live, json!({"action": "patched"})).await;
    assert_eq!(status, 200);
    push(&app, &ops, b_live, &composer_lock("v3.4.3")).await;
    let (_, detail) = json_get(&app, &format!("/api/v1/campaigns/{id}"), &sec).await;
    assert_eq!(detail["campaign"]["state"], "completed");
    assert_eq!(detail["progress"]["verified"], 3);
    assert_eq!(detail["progress"]["excluded"], 1);

    let (status, report) = json_get(&app, &format!("/api/v1/campaigns/{id}/report"), &sec).await;
    assert_eq!(status, 200);
    assert_eq!(report["coverage"], 1.0);
    let kinds: Vec<(&str, &str)> = report["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["client_name"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(kinds.contains(&("Bravo Books", "excluded")), "{kinds:?}");
    assert!(
        !kinds.iter().any(|(c, _)| *c == "Alpha Foods"),
        "Alpha followed the process: {kinds:?}"
    );
    let timeline: Vec<&str> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(timeline.first(), Some(&"planned"));
    assert_eq!(timeline.last(), Some(&"completed"));
    assert_eq!(timeline.iter().filter(|k| **k == "client-done").count(), 2);
    let csv = app
        .get(&format!("/api/v1/campaigns/{id}/report?format=csv"), &sec)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        csv.lines().count(),
        5,
        "a header and one row per environment:\n{csv}"
    );
    assert!(csv.contains("staging is being rebuilt"));
    // Client users get no evidence export (it names other clients).
    let r = app
        .get(&format!("/api/v1/campaigns/{id}/report"), &user_a)
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_customer_report_becomes_a_campaign_told_in_the_customers_own_ticket() {
    let app = TestApp::start(Default::default()).await;
    let admin = app
        .user("admin@provider.test", Role::SuperAdmin, None)
        .await;
    let admin = app.token(&admin, Role::SuperAdmin).await;
    let ops = app.user("ops@provider.test", Role::Operations, None).await;
    let ops = app.token(&ops, Role::Operations).await;
    let f = fleet(&app, &admin, &ops).await;
    let alpha = f.clients[0].1;
    let user_a = app
        .user("a@alpha.test", Role::ClientUser, Some(alpha))
        .await;
    let user_a = app.token(&user_a, Role::ClientUser).await;
    let r = app
        .post_json(
            "/api/v1/tickets",
            &user_a,
            &json!({"subject": "Is our shop affected by the Twig template bug?",
                    "category": "security", "body": "We read about CVE-2022-39261."}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let reported: Value = r.json().await.unwrap();

    import(&app, "twig.json", &twig_advisory());
    app.state
        .matcher
        .catch_up(app.clock.now_ts())
        .await
        .unwrap();
    let r = app
        .post_json(
            "/api/v1/campaigns",
            &admin,
            &json!({"advisory": "GHSA-52m2-vc4m-jj33", "source_ticket": reported["id"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post_json(
            &format!("/api/v1/campaigns/{id}/start"),
            &admin,
            &json!({"version": 1}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // The reporter is answered in their own ticket; the other affected client gets a new one.
    let mine = tickets_of(&app, &admin, alpha).await;
    assert_eq!(mine.len(), 1, "no second ticket for the reporter");
    let (_, td) = json_get(
        &app,
        &format!("/api/v1/tickets/{}", reported["id"].as_str().unwrap()),
        &user_a,
    )
    .await;
    let reply = &td["timeline"].as_array().unwrap()[1];
    assert_eq!(reply["type"], "reply");
    assert!(reply["body"].as_str().unwrap().contains("Alpha Foods shop"));
    assert_eq!(tickets_of(&app, &admin, f.clients[1].1).await.len(), 1);
}

#[tokio::test]
async fn a_url_check_gets_the_environments_address_and_attaches_the_answer() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    // The patched staging site on loopback: broken at first, healthy after a second patch.
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = healthy.clone();
    let site = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let ok = flag.load(Ordering::SeqCst);
            async move {
                if ok {
                    (axum::http::StatusCode::OK, "shop OK")
                } else {
                    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "fatal error")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health = format!("http://{}/health", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, site).await });

    let app = TestApp::start(Default::default()).await;
    let admin = app
        .user("admin@provider.test", Role::SuperAdmin, None)
        .await;
    let admin = app.token(&admin, Role::SuperAdmin).await;
    let ops = app.user("ops@provider.test", Role::Operations, None).await;
    let ops = app.token(&ops, Role::Operations).await;
    let f = fleet(&app, &admin, &ops).await;
    let staging: palisade_core::EnvironmentId = f.env(0, EnvironmentKind::Staging).parse().unwrap();
    let live = f.env(0, EnvironmentKind::Live).to_owned();
    app.store
        .update_environment(
            staging,
            &palisade_core::tenant::EnvironmentUpdate {
                kind: EnvironmentKind::Staging,
                name: "staging".into(),
                url: Some(health.clone()),
                position: 0,
            },
            app.clock.now_ts(),
        )
        .await
        .unwrap();
    import(&app, "twig.json", &twig_advisory());
    app.state
        .matcher
        .catch_up(app.clock.now_ts())
        .await
        .unwrap();
    let r = app
        .post_json(
            "/api/v1/campaigns",
            &admin,
            &json!({"advisory": "CVE-2022-39261"}),
        )
        .await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post_json(
        &format!("/api/v1/campaigns/{id}/start"),
        &admin,
        &json!({"version": 1}),
    )
    .await;
    let staging = staging.to_string();
    let check = json!({"action": "tested", "passed": true, "method": "url", "detail": "-"});
    assert_eq!(
        step(&app, &ops, &id, &staging, json!({"action": "patched"}))
            .await
            .0,
        200
    );
    // The server's own check wins over what the caller claimed: a 500 fails the tests.
    let (status, body) = step(&app, &ops, &id, &staging, check.clone()).await;
    assert_eq!(
        (status, body["step"].as_str()),
        (200, Some("test-failed")),
        "{body}"
    );
    assert_eq!(
        step(&app, &ops, &id, &live, json!({"action": "patched"}))
            .await
            .0,
        409
    );
    healthy.store(true, Ordering::SeqCst);
    assert_eq!(
        step(&app, &ops, &id, &staging, json!({"action": "patched"}))
            .await
            .0,
        200
    );
    let (status, body) = step(&app, &ops, &id, &staging, check).await;
    assert_eq!(
        (status, body["step"].as_str()),
        (200, Some("test-passed")),
        "{body}"
    );
    assert_eq!(
        step(&app, &ops, &id, &live, json!({"action": "patched"}))
            .await
            .0,
        200
    );
    // The answer is attached to the timeline as evidence.
    let (_, detail) = json_get(&app, &format!("/api/v1/campaigns/{id}"), &admin).await;
    let outputs: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "tested")
        .map(|e| e["detail"]["output"].as_str().unwrap())
        .collect();
    assert!(
        outputs[0].starts_with("HTTP 500") && outputs[0].contains("fatal error"),
        "{outputs:?}"
    );
    assert!(
        outputs[1].starts_with("HTTP 200") && outputs[1].contains("shop OK"),
        "{outputs:?}"
    );
    // Live has no URL: a URL check is refused rather than guessed.
    let (status, body) = step(
        &app,
        &ops,
        &id,
        &live,
        json!({"action": "tested", "passed": true, "method": "url", "detail": "-"}),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("method")),
        "{body}"
    );
}

/// The same path from the pages: staff see "Plan a patch campaign" on a customer's security
/// ticket (the customer does not), an unknown advisory sends them back to the ticket with the
/// reason, and a known one plans the campaign with the ticket as its source.
#[tokio::test]
async fn a_security_ticket_page_plans_a_campaign_from_the_report() {
    let app = TestApp::start(palisade_web::WebConfig {
        require_staff_mfa: false,
        ..Default::default()
    })
    .await;
    let admin_user = app
        .user("admin@provider.test", Role::SuperAdmin, None)
        .await;
    let admin = app.token(&admin_user, Role::SuperAdmin).await;
    let ops = app.user("ops@provider.test", Role::Operations, None).await;
    let ops = app.token(&ops, Role::Operations).await;
    app.user("l1@provider.test", Role::SupportL1, None).await;
    let f = fleet(&app, &admin, &ops).await;
    let alpha = f.clients[0].1;
    app.user("a@alpha.test", Role::ClientUser, Some(alpha))
        .await;
    import(&app, "twig.json", &twig_advisory());
    app.state
        .matcher
        .catch_up(app.clock.now_ts())
        .await
        .unwrap();

    let customer = WebSession::sign_in(&app, "a@alpha.test").await;
    let (_, form) = customer.get("/tickets/new").await;
    let r = customer
        .post(
            "/tickets",
            &[
                ("csrf", &hidden_field(&form, "csrf")),
                ("subject", "Is our shop affected by the Twig bug?"),
                ("category", "security"),
                ("priority", "normal"),
                ("body", "We read about CVE-2022-39261."),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let ticket = r.headers()["location"].to_str().unwrap().to_owned();
    let (_, theirs) = customer.get(&ticket).await;
    assert!(
        !theirs.contains("plan-from-ticket"),
        "customers plan nothing"
    );

    let first_line = WebSession::sign_in(&app, "l1@provider.test").await;
    let (_, l1_view) = first_line.get(&ticket).await;
    assert!(
        !l1_view.contains("plan-from-ticket"),
        "campaigns are the security team's"
    );

    let staff = WebSession::sign_in(&app, "admin@provider.test").await;
    let (_, page) = staff.get(&ticket).await;
    assert!(page.contains("plan-from-ticket"), "{page}");
    let csrf = hidden_field(&page, "csrf");
    let source = hidden_field(&page, "source_ticket");
    let r = staff
        .post(
            "/campaigns",
            &[
                ("csrf", &csrf),
                ("source_ticket", &source),
                ("advisory", "GHSA-0000-0000-0000"),
            ],
        )
        .await;
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains(&ticket),
        "the error leads back to the ticket: {body}"
    );
    let r = staff
        .post(
            "/campaigns",
            &[
                ("csrf", &csrf),
                ("source_ticket", &source),
                ("advisory", "CVE-2022-39261"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let campaign = r.headers()["location"].to_str().unwrap().to_owned();
    let (_, k) = json_get(&app, &format!("/api/v1{campaign}"), &admin).await;
    assert_eq!(
        k["campaign"]["source_ticket"].as_str(),
        Some(source.as_str()),
        "{k}"
    );
    assert_eq!(k["campaign"]["state"], "planned");
}
