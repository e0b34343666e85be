//! The audit log through the API: every change is an event with its client, record, and
//! before/after with sensitive values redacted; client users see what concerns their organisation,
//! staff reads of their data included, and nothing of other clients; proofs check against the
//! published key; a change the log cannot take is answered 503 (fail closed).

mod common;

use common::*;
use palisade_core::Role;
use palisade_web::WebConfig;
use serde_json::{Value, json};

struct World {
    app: TestApp,
    admin: String,
    client_a: String,
    site_a: String,
    contact_a: String,
    user_a: String,
    user_b: String,
}

async fn world() -> World {
    let app = TestApp::start(WebConfig::default()).await;
    let admin = app.user("admin@example.com", Role::SuperAdmin, None).await;
    let admin = app.token(&admin, Role::SuperAdmin).await;
    let mk = |name: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let c: Value = app
                .post_json(
                    "/api/v1/clients",
                    &admin,
                    &client_body(name, "Europe/London"),
                )
                .await
                .json()
                .await
                .expect("client");
            c["id"].as_str().expect("id").to_owned()
        }
    };
    let client_a = mk("Client A").await;
    let client_b = mk("Client B").await;
    let site: Value = app
        .post_json(
            "/api/v1/sites",
            &admin,
            &json!({"client_id": client_a, "name": "www", "url": "https://a.example"}),
        )
        .await
        .json()
        .await
        .expect("site");
    let contact: Value = app
        .post_json(
            &format!("/api/v1/clients/{client_a}/contacts"),
            &admin,
            &json!({"name": "Ana", "email": "ana@a.example", "phone": "+44 20 7946 0001"}),
        )
        .await
        .json()
        .await
        .expect("contact");
    let ua = app
        .user(
            "a@a.example",
            Role::ClientUser,
            Some(client_a.parse().expect("id")),
        )
        .await;
    let ub = app
        .user(
            "b@b.example",
            Role::ClientUser,
            Some(client_b.parse().expect("id")),
        )
        .await;
    World {
        user_a: app.token(&ua, Role::ClientUser).await,
        user_b: app.token(&ub, Role::ClientUser).await,
        site_a: site["id"].as_str().expect("site id").to_owned(),
        contact_a: contact["id"].as_str().expect("contact id").to_owned(),
        client_a,
        admin,
        app,
    }
}

async fn events(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    app.state.audit.flush().await;
    let r = app
        .get(&format!("/api/v1/audit/events?limit=500&{query}"), token)
        .await;
    assert_eq!(r.status(), 200, "{query}");
    let v: Value = r.json().await.expect("json");
    v["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn a_change_is_an_event_with_its_client_record_and_redacted_before_and_after() {
    let w = world().await;
    let r = w
        .app
        .http
        .put(w.app.url(&format!("/api/v1/contacts/{}", w.contact_a)))
        .bearer_auth(&w.admin)
        .json(&json!({"name": "Ana B", "email": "ana.b@a.example", "phone": null}))
        .send()
        .await
        .expect("update");
    assert_eq!(r.status(), 200);
    let found = events(&w.app, &w.admin, &format!("object=contact:{}", w.contact_a)).await;
    let e = found
        .iter()
        .find(|e| e["action"] == "PUT /api/v1/contacts/{id}")
        .expect("update event");
    assert_eq!(e["kind"], "change");
    assert_eq!(e["client_id"], w.client_a);
    assert_eq!(e["data"]["details"]["before"]["name"], "Ana");
    assert_eq!(e["data"]["details"]["after"]["name"], "Ana B");
    let redactor = w.app.audit_keys.redactor.clone();
    assert_eq!(
        e["data"]["details"]["before"]["email"],
        redactor.redact("ana@a.example")
    );
    assert_eq!(
        e["data"]["details"]["after"]["email"],
        redactor.redact("ana.b@a.example")
    );
    let text = Value::Array(found.clone()).to_string();
    assert!(
        !text.contains("ana@a.example") && !text.contains("7946"),
        "no contact detail in clear: {text}"
    );
}

#[tokio::test]
async fn client_users_see_staff_access_to_their_data_and_nothing_of_others() {
    let w = world().await;
    assert_eq!(
        w.app
            .get(&format!("/api/v1/sites/{}", w.site_a), &w.admin)
            .await
            .status(),
        200
    );
    let mine = events(&w.app, &w.user_a, "").await;
    let staff_read = mine
        .iter()
        .find(|e| e["action"] == "GET /api/v1/sites/{id}")
        .expect("the staff read of client A's site is shown to client A");
    assert!(
        staff_read["actor"]
            .as_str()
            .expect("actor")
            .starts_with("user:")
    );
    assert!(mine.iter().all(|e| e["client_id"] == w.client_a));
    let theirs = events(&w.app, &w.user_b, "").await;
    assert!(
        !Value::Array(theirs).to_string().contains(&w.client_a),
        "client B sees nothing of client A"
    );
    let id = staff_read["id"].as_str().expect("id");
    assert_eq!(
        w.app
            .get(&format!("/api/v1/audit/events/{id}"), &w.user_b)
            .await
            .status(),
        404
    );
    assert_eq!(
        w.app
            .get(
                &format!("/api/v1/audit/events?client_id={}", w.client_a),
                &w.user_b
            )
            .await
            .status(),
        404
    );
    assert_eq!(
        w.app
            .get(&format!("/api/v1/audit/events/{id}"), &w.user_a)
            .await
            .status(),
        200
    );
    assert_eq!(
        w.app.get("/api/v1/audit/status", &w.user_a).await.status(),
        403
    );
}

#[tokio::test]
async fn a_sealed_event_proves_against_the_published_key() {
    let w = world().await;
    let found = events(&w.app, &w.admin, "kind=change").await;
    let id = found[0]["id"].as_str().expect("id").to_owned();
    let r = w
        .app
        .get(&format!("/api/v1/audit/events/{id}/proof"), &w.admin)
        .await;
    assert_eq!(r.status(), 409, "not sealed yet");
    palisade_auditlog::seal::seal_once(w.app.store.as_ref(), &w.app.audit_keys.signing, 1)
        .await
        .expect("seal")
        .expect("sealed");
    let pem = w
        .app
        .http
        .get(w.app.url("/api/v1/audit/public-key"))
        .send()
        .await
        .expect("key")
        .text()
        .await
        .expect("pem");
    let key = palisade_audit::VerifyingKey::from_pem(&pem).expect("public key");
    let proof: Value = w
        .app
        .get(&format!("/api/v1/audit/events/{id}/proof"), &w.user_a)
        .await
        .json()
        .await
        .expect("proof");
    let digest: palisade_audit::Digest =
        serde_json::from_value(proof["digest"].clone()).expect("digest");
    assert!(key.verify(&digest));
    let event: palisade_audit::ChainedEvent =
        serde_json::from_value(proof["event"].clone()).expect("event");
    let path: Vec<palisade_audit::Hash> =
        serde_json::from_value(proof["path"].clone()).expect("path");
    let leaf = event.event.leaf_hash();
    let index = proof["index"].as_u64().expect("index");
    assert!(palisade_audit::merkle::verify_inclusion(
        &leaf,
        index,
        digest.body.count,
        &path,
        &digest.body.root
    ));
    let status: Value = w
        .app
        .get("/api/v1/audit/status", &w.admin)
        .await
        .json()
        .await
        .expect("status");
    assert_eq!(status["last_digest"], 1);
    assert_eq!(status["key_id"], key.key_id());
}

#[tokio::test]
async fn a_change_the_log_cannot_take_is_answered_503() {
    let w = world().await;
    w.app.state.audit.flush().await;
    let db = rusqlite::Connection::open(&w.app.db_path).expect("open");
    db.execute_batch("ALTER TABLE audit_events RENAME TO audit_events_gone")
        .expect("break the log");
    let r = w
        .app
        .post_json(
            "/api/v1/sites",
            &w.admin,
            &json!({"client_id": w.client_a, "name": "shop", "url": "https://shop.a.example"}),
        )
        .await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "audit_unavailable");
}

/// Signs in through the login form and returns a cookie-keeping client.
async fn signed_in(app: &TestApp, email: &str) -> reqwest::Client {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let form = http
        .get(app.url("/login"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let at =
        form.find("name=\"csrf\" value=\"").expect("csrf field") + "name=\"csrf\" value=\"".len();
    let csrf = &form[at..at + form[at..].find('"').expect("end")];
    let r = http
        .post(app.url("/login"))
        .form(&[("csrf", csrf), ("email", email), ("password", PASSWORD)])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303, "{email} signed in");
    http
}

#[tokio::test]
async fn the_audit_page_searches_for_staff_and_shows_a_client_its_activity() {
    let app = TestApp::start(WebConfig {
        require_staff_mfa: false,
        ..WebConfig::default()
    })
    .await;
    let admin = app.user("admin@example.com", Role::SuperAdmin, None).await;
    let token = app.token(&admin, Role::SuperAdmin).await;
    let c: Value = app
        .post_json(
            "/api/v1/clients",
            &token,
            &client_body("Acme", "Europe/London"),
        )
        .await
        .json()
        .await
        .expect("client");
    let client = c["id"].as_str().expect("id").to_owned();
    app.user(
        "owner@acme.example",
        Role::ClientUser,
        Some(client.parse().expect("id")),
    )
    .await;
    app.user("ops@example.com", Role::Operations, None).await;
    assert_eq!(
        app.get(&format!("/api/v1/clients/{client}"), &token)
            .await
            .status(),
        200
    );
    app.state.audit.flush().await;

    let staff = signed_in(&app, "admin@example.com").await;
    let html = staff
        .get(app.url("/audit?kind=change"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("id=\"audit-status\""),
        "staff see sealing and shipping: {html}"
    );
    assert!(
        html.contains("POST /api/v1/clients"),
        "the creation is listed: {html}"
    );
    assert!(
        !html.contains("GET /api/v1/clients/{id}"),
        "the kind filter applies"
    );
    let bad = staff
        .get(app.url("/audit?from=yesterday"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(bad.contains("is not a date"), "{bad}");

    let owner = signed_in(&app, "owner@acme.example").await;
    let html = owner
        .get(app.url("/audit"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("<h1>Activity</h1>") && !html.contains("audit-status"));
    assert!(
        html.contains("GET /api/v1/clients/{id}"),
        "the staff read of Acme is shown to Acme: {html}"
    );
    assert!(html.contains(&format!("user:{}", admin.id)));

    let ops = signed_in(&app, "ops@example.com").await;
    let r = ops.get(app.url("/audit")).send().await.expect("page");
    assert_eq!(
        r.status(),
        403,
        "operations staff do not read the audit log"
    );
}

#[tokio::test]
async fn sign_ins_are_security_events_with_the_address_redacted() {
    let app = TestApp::start(WebConfig {
        require_staff_mfa: false,
        ..WebConfig::default()
    })
    .await;
    let admin = app.user("admin@example.com", Role::SuperAdmin, None).await;
    let token = app.token(&admin, Role::SuperAdmin).await;
    signed_in(&app, "admin@example.com").await;
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let form = http
        .get(app.url("/login"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let at = form.find("name=\"csrf\" value=\"").expect("csrf") + "name=\"csrf\" value=\"".len();
    let csrf = &form[at..at + form[at..].find('"').expect("end")];
    let r = http
        .post(app.url("/login"))
        .form(&[
            ("csrf", csrf),
            ("email", "admin@example.com"),
            ("password", "not the password at all"),
        ])
        .send()
        .await
        .expect("bad login");
    assert_eq!(r.status(), 401);
    let found = events(&app, &token, "kind=security&action=POST%20/login").await;
    assert_eq!(found.len(), 2, "{found:?}");
    let redacted = app.audit_keys.redactor.redact("admin@example.com");
    let (failed, ok) = (&found[0], &found[1]);
    assert_eq!(failed["data"]["status"], 401);
    assert_eq!(failed["data"]["details"]["email"], redacted);
    assert_eq!(
        failed["data"]["details"]["refused"],
        "wrong e-mail address or password"
    );
    assert!(failed["actor"].is_null());
    assert_eq!(ok["actor"], format!("user:{}", admin.id));
    assert!(
        !Value::Array(found.clone())
            .to_string()
            .contains("admin@example.com")
    );
}
