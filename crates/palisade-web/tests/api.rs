//! Black-box tests of the API and sign-in over real HTTP: bad input of every class, paging,
//! tokens, sessions with MFA and CSRF, lockout and throttling, request records, health and metrics,
//! HSTS.

mod common;

use common::*;
use jiff::SignedDuration;
use palisade_auth::totp;
use palisade_core::Role;
use palisade_web::WebConfig;
use serde_json::{Value, json};

async fn admin_app() -> (TestApp, String) {
    let app = TestApp::start(WebConfig::default()).await;
    let admin = app.user("admin@example.com", Role::SuperAdmin, None).await;
    let token = app.token(&admin, Role::SuperAdmin).await;
    (app, token)
}

async fn error_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json error body"))
}

/// POSTs `body` and returns the record the API created.
async fn created(app: &TestApp, t: &str, path: &str, body: &Value) -> Value {
    let r = app.post_json(path, t, body).await;
    assert_eq!(r.status(), 201, "POST {path}");
    r.json().await.expect("json")
}

/// The `name` of each item of a list page.
fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| s["name"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test]
async fn every_class_of_bad_input_gets_a_4xx_with_a_stable_code_naming_the_field() {
    let (app, t) = admin_app().await;
    let post_raw = |body: &'static str| {
        app.http
            .post(app.url("/api/v1/clients"))
            .bearer_auth(&t)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let (s, e) = error_of(post_raw("{\"name\": \"x\",").await.expect("send")).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("malformed_json")),
        "{e}"
    );
    assert!(
        e["message"].as_str().expect("message").contains("line 1"),
        "{e}"
    );

    let (s, e) = error_of(
        app.post_json(
            "/api/v1/clients",
            &t,
            &json!({"name": "x", "colour": "red", "contract": client_body("x", "UTC")["contract"]}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str(), e["field"].as_str()),
        (422, Some("unknown_field"), Some("colour")),
        "{e}"
    );

    let mut nested = client_body("x", "UTC");
    nested["contract"]["support_hours"]["colour"] = json!(1);
    let (s, e) = error_of(app.post_json("/api/v1/clients", &t, &nested).await).await;
    assert_eq!(
        (s, e["field"].as_str()),
        (422, Some("contract.support_hours.colour")),
        "{e}"
    );

    let (s, e) = error_of(
        app.post_json(
            "/api/v1/clients",
            &t,
            &json!({"name": 5, "contract": client_body("x", "UTC")["contract"]}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str(), e["field"].as_str()),
        (422, Some("invalid_field"), Some("name")),
        "{e}"
    );

    let mut wrong = client_body("x", "UTC");
    wrong["contract"]["out_of_hours"] = json!("yes");
    let (s, e) = error_of(app.post_json("/api/v1/clients", &t, &wrong).await).await;
    assert_eq!(
        (s, e["field"].as_str()),
        (422, Some("contract.out_of_hours")),
        "{e}"
    );

    let (s, e) = error_of(
        app.post_json("/api/v1/clients", &t, &client_body("x", "Europe/Lundon"))
            .await,
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str(), e["field"].as_str()),
        (
            422,
            Some("invalid_field"),
            Some("contract.support_hours.time_zone")
        ),
        "{e}"
    );
    assert!(e["message"].as_str().expect("m").contains("Europe/Lundon"));

    let huge = json!({"name": "x".repeat(palisade_web::MAX_BODY_BYTES), "contract": client_body("x", "UTC")["contract"]});
    let (s, e) = error_of(app.post_json("/api/v1/clients", &t, &huge).await).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (413, Some("body_too_large")),
        "{e}"
    );

    let long_name =
        json!({"name": "x".repeat(201), "contract": client_body("x", "UTC")["contract"]});
    let (s, e) = error_of(app.post_json("/api/v1/clients", &t, &long_name).await).await;
    assert_eq!((s, e["field"].as_str()), (422, Some("name")), "{e}");

    let resp = app
        .http
        .post(app.url("/api/v1/clients"))
        .bearer_auth(&t)
        .body("name=x")
        .send()
        .await
        .expect("send");
    let (s, e) = error_of(resp).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=lots", "limit"),
        ("cursor=zzz", "cursor"),
        ("colour=red", ""),
    ] {
        let (s, e) = error_of(app.get(&format!("/api/v1/sites?{query}"), &t).await).await;
        assert_eq!(
            (s, e["code"].as_str()),
            (400, Some("invalid_query")),
            "{query}: {e}"
        );
        if !field.is_empty() {
            assert_eq!(e["field"].as_str(), Some(field), "{query}: {e}");
        }
    }

    let (s, e) = error_of(app.get("/api/v1/sites/not-a-uuid", &t).await).await;
    assert_eq!(s, 400, "{e}");
    let (s, e) = error_of(
        app.get(&format!("/api/v1/sites/{}", uuid::Uuid::now_v7()), &t)
            .await,
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (404, Some("not_found")));
    assert!(
        e["request_id"].as_str().is_some_and(|r| !r.is_empty()),
        "errors carry the request id: {e}"
    );

    // A site for a client that does not exist names the field; nothing is stored.
    let (s, e) = error_of(
        app.post_json(
            "/api/v1/sites",
            &t,
            &json!({"client_id": uuid::Uuid::now_v7(), "name": "x", "url": "https://x.example"}),
        )
        .await,
    )
    .await;
    assert_eq!((s, e["field"].as_str()), (422, Some("client_id")), "{e}");
    let sites: Value = app
        .get("/api/v1/sites", &t)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(sites["items"].as_array().expect("items").len(), 0);
}

#[tokio::test]
async fn markup_and_sql_are_stored_verbatim_and_escaped_in_pages() {
    let app = TestApp::start(WebConfig {
        require_staff_mfa: false,
        ..WebConfig::default()
    })
    .await;
    let admin = app.user("admin@example.com", Role::SuperAdmin, None).await;
    let t = app.token(&admin, Role::SuperAdmin).await;
    let nasty = "<script>alert('x')</script> Robert'); DROP TABLE clients;--";
    let created: Value = app
        .post_json("/api/v1/clients", &t, &client_body(nasty, "Europe/London"))
        .await
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id");
    let got: Value = app
        .get(&format!("/api/v1/clients/{id}"), &t)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(got["name"], nasty);

    let browser = Browser::new(&app);
    browser.login("admin@example.com").await;
    let html = browser.page(&format!("/clients/{id}")).await;
    assert!(
        html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
        "escaped in the page"
    );
    assert!(!html.contains("<script>alert"), "never raw");
}

#[tokio::test]
async fn lists_page_with_opaque_cursors() {
    let (app, t) = admin_app().await;
    let c = created(&app, &t, "/api/v1/clients", &client_body("Acme", "UTC")).await;
    for i in 0..5 {
        created(&app, &t, "/api/v1/sites", &json!({"client_id": c["id"], "name": format!("s{i}"), "url": format!("https://s{i}.example")})).await;
    }
    let mut seen = vec![];
    let mut path = "/api/v1/sites?limit=2".to_owned();
    loop {
        let page: Value = app.get(&path, &t).await.json().await.expect("json");
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/sites?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["s0", "s1", "s2", "s3", "s4"]);
}

/// List pages are kept as rendered JSON until the next commit: whatever is written, through the
/// API or by another process on the same file, shows in the next page read.
#[tokio::test]
async fn cached_list_pages_never_outlive_a_commit() {
    let (app, t) = admin_app().await;
    let c = created(&app, &t, "/api/v1/clients", &client_body("Acme", "UTC")).await;
    let site = |name: &str| json!({"client_id": c["id"], "name": name, "url": "https://a.example"});
    let first = created(&app, &t, "/api/v1/sites", &site("first")).await;
    let list = "/api/v1/sites?limit=10";
    assert_eq!(names(&json_get(&app, list, &t).await.1), ["first"]);
    assert!(!app.state.pages.is_empty(), "the page is kept");

    // Another process writes to the same database file.
    let other = rusqlite::Connection::open(&app.db_path).expect("second connection");
    other
        .execute(
            "UPDATE sites SET name = 'renamed elsewhere' WHERE id = ?1",
            [first["id"].as_str().expect("id")],
        )
        .expect("update");
    assert_eq!(
        names(&json_get(&app, list, &t).await.1),
        ["renamed elsewhere"]
    );

    // The API's own writes.
    created(&app, &t, "/api/v1/sites", &site("second")).await;
    assert_eq!(
        names(&json_get(&app, list, &t).await.1),
        ["renamed elsewhere", "second"]
    );
    let r = app
        .http
        .post(app.url(&format!(
            "/api/v1/sites/{}/archive",
            first["id"].as_str().expect("id")
        )))
        .bearer_auth(&t)
        .send()
        .await
        .expect("archive");
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(names(&json_get(&app, list, &t).await.1), ["second"]);
}

#[tokio::test]
async fn tokens_expire_can_be_revoked_and_never_exceed_their_owner() {
    let (app, admin_token) = admin_app().await;
    let issued: Value = app
        .post_json(
            "/api/v1/tokens",
            &admin_token,
            &json!({"name": "read only", "role": "auditor", "expires_in_days": 1}),
        )
        .await
        .json()
        .await
        .expect("json");
    let ro = issued["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    assert!(ro.starts_with("pal_"));
    let listed: Value = app
        .get("/api/v1/tokens", &admin_token)
        .await
        .json()
        .await
        .expect("json");
    assert!(
        !listed.to_string().contains(&ro),
        "the secret is never listed"
    );

    // A read-only token of a super admin reads but cannot write, nor mint a stronger token.
    assert_eq!(app.get("/api/v1/clients", &ro).await.status(), 200);
    assert_eq!(
        app.post_json("/api/v1/clients", &ro, &client_body("x", "UTC"))
            .await
            .status(),
        403
    );
    let (s, e) = error_of(
        app.post_json(
            "/api/v1/tokens",
            &ro,
            &json!({"name": "escalate", "role": "super-admin"}),
        )
        .await,
    )
    .await;
    assert_eq!((s, e["field"].as_str()), (422, Some("role")));

    // Expiry is judged by the clock.
    app.clock.advance(SignedDuration::from_hours(25));
    let (s, e) = error_of(app.get("/api/v1/me", &ro).await).await;
    assert_eq!((s, e["code"].as_str()), (401, Some("invalid_token")));

    // Revocation takes effect on the next request.
    let other: Value = app
        .post_json("/api/v1/tokens", &admin_token, &json!({"name": "second"}))
        .await
        .json()
        .await
        .expect("json");
    let second = other["secret"].as_str().expect("secret").to_owned();
    assert_eq!(app.get("/api/v1/me", &second).await.status(), 200);
    let r = app
        .http
        .post(app.url(&format!(
            "/api/v1/tokens/{}/revoke",
            other["token"]["id"].as_str().expect("id")
        )))
        .bearer_auth(&admin_token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 204);
    assert_eq!(app.get("/api/v1/me", &second).await.status(), 401);

    // Garbage and missing credentials.
    assert_eq!(app.get("/api/v1/me", "pal_nope").await.status(), 401);
    let r = app
        .http
        .get(app.url("/api/v1/me"))
        .header("authorization", "Basic eDp5")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn disabling_a_user_stops_their_tokens() {
    let (app, admin_token) = admin_app().await;
    let ops = app.user("ops@example.com", Role::Operations, None).await;
    let t = app.token(&ops, Role::Operations).await;
    assert_eq!(app.get("/api/v1/me", &t).await.status(), 200);
    let r = app
        .http
        .post(app.url(&format!("/api/v1/users/{}/disable", ops.id)))
        .bearer_auth(&admin_token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 204);
    assert_eq!(app.get("/api/v1/me", &t).await.status(), 401);
}

/// A cookie-keeping client that signs in through the HTML forms.
struct Browser<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
}

fn code_now(app: &TestApp, secret_b32: &str) -> String {
    let secret = totp::secret_from_base32(secret_b32).expect("base32");
    totp::code_at_step(&secret, totp::step_of(app.clock.now_ts().as_second()))
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self { app, http }
    }

    async fn page(&self, path: &str) -> String {
        self.http
            .get(self.app.url(path))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text")
    }

    async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.app.url(path))
            .form(fields)
            .send()
            .await
            .expect("post")
    }

    async fn try_login(&self, email: &str, password: &str) -> reqwest::Response {
        let form = self.page("/login").await;
        let csrf = hidden_field(&form, "csrf");
        self.post_form(
            "/login",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }

    async fn login(&self, email: &str) {
        let r = self.try_login(email, PASSWORD).await;
        assert_eq!(r.status(), 303, "login accepted");
    }

    async fn csrf(&self) -> String {
        hidden_field(&self.page("/tokens").await, "csrf")
    }
}

#[tokio::test]
async fn staff_sign_in_needs_mfa_and_cookie_writes_need_csrf() {
    let app = TestApp::start(WebConfig::default()).await;
    app.user("mgr@example.com", Role::Manager, None).await;
    let b = Browser::new(&app);
    b.login("mgr@example.com").await;

    // Password alone is not enough for staff: the API refuses and pages send the user to enrol.
    let r = b.http.get(app.url("/api/v1/me")).send().await.expect("me");
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.expect("json")["code"],
        "mfa_required"
    );
    let r = b.http.get(app.url("/")).send().await.expect("home");
    assert_eq!(r.headers()["location"], "/mfa/enrol");

    let enrol = b.page("/mfa/enrol").await;
    let secret = hidden_field(&enrol, "secret");
    let csrf = hidden_field(&enrol, "csrf");
    let r = b
        .post_form(
            "/mfa/enrol",
            &[("csrf", &csrf), ("secret", &secret), ("code", "000000")],
        )
        .await;
    assert_eq!(r.status(), 422, "a wrong code does not enrol");
    let code = code_now(&app, &secret);
    let r = b
        .post_form(
            "/mfa/enrol",
            &[("csrf", &csrf), ("secret", &secret), ("code", &code)],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        b.http
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .expect("me")
            .status(),
        200
    );

    // Writes with the cookie need the CSRF header.
    let r = b
        .http
        .post(app.url("/api/v1/clients"))
        .json(&client_body("Acme", "UTC"))
        .send()
        .await
        .expect("post");
    assert_eq!(
        (
            r.status().as_u16(),
            r.json::<Value>().await.expect("json")["code"].clone()
        ),
        (403, json!("csrf"))
    );
    let token = b.csrf().await;
    let r = b
        .http
        .post(app.url("/api/v1/clients"))
        .header("x-csrf-token", &token)
        .json(&client_body("Acme", "UTC"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);

    // Sign out ends the server-side session: the old cookie is worthless.
    let r = b.post_form("/logout", &[("csrf", &token)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        b.http
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .expect("me")
            .status(),
        401
    );

    // Next sign-in asks for the code; the code just used cannot be replayed.
    let b2 = Browser::new(&app);
    b2.login("mgr@example.com").await;
    let r = b2.http.get(app.url("/")).send().await.expect("home");
    assert_eq!(r.headers()["location"], "/login/mfa");
    let csrf = hidden_field(&b2.page("/login/mfa").await, "csrf");
    let r = b2
        .post_form("/login/mfa", &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(r.status(), 401, "replayed code refused");
    app.clock.advance(SignedDuration::from_secs(30));
    let r = b2
        .post_form(
            "/login/mfa",
            &[("csrf", &csrf), ("code", &code_now(&app, &secret))],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        b2.http
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .expect("me")
            .status(),
        200
    );

    // Idle sessions end.
    app.clock.advance(SignedDuration::from_hours(3));
    assert_eq!(
        b2.http
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .expect("me")
            .status(),
        401
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_account_and_one_address_is_throttled() {
    let app = TestApp::start(WebConfig {
        require_staff_mfa: false,
        ..WebConfig::default()
    })
    .await;
    app.user("l1@example.com", Role::SupportL1, None).await;
    let b = Browser::new(&app);
    for _ in 0..5 {
        assert_eq!(
            b.try_login("l1@example.com", "wrong password!!")
                .await
                .status(),
            401
        );
    }
    let r = b.try_login("l1@example.com", PASSWORD).await;
    assert_eq!(r.status(), 401);
    assert!(
        r.text().await.expect("text").contains("locked"),
        "the right password does not open a locked account"
    );
    app.clock.advance(SignedDuration::from_mins(16));
    assert_eq!(
        b.try_login("l1@example.com", PASSWORD).await.status(),
        303,
        "the lock expires"
    );

    // The login form is guarded against cross-site posts.
    let b = Browser::new(&app);
    let r = b
        .post_form(
            "/login",
            &[
                ("csrf", "forged"),
                ("email", "l1@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);

    // One address gets a bounded number of attempts per minute, whatever the accounts.
    app.clock.advance(SignedDuration::from_mins(1));
    let mut statuses = vec![];
    for i in 0..22 {
        statuses.push(
            b.try_login(&format!("nobody{i}@example.com"), "whatever password")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 20);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2);
}

#[tokio::test]
async fn every_request_leaves_a_record_with_route_template_and_actor() {
    let (app, t) = admin_app().await;
    let me: Value = app.get("/api/v1/me", &t).await.json().await.expect("json");
    let missing = format!("/api/v1/sites/{}", uuid::Uuid::now_v7());
    assert_eq!(app.get(&missing, &t).await.status(), 404);
    assert_eq!(
        app.http
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .expect("anon")
            .status(),
        401
    );
    app.state.audit.flush().await;
    let records: Value = app
        .get("/api/v1/audit/events?kind=request&limit=10", &t)
        .await
        .json()
        .await
        .expect("json");
    let items = records["items"].as_array().expect("items");
    let find = |route: &str, status: u64| {
        items
            .iter()
            .find(|r| r["data"]["route"] == route && r["data"]["status"] == status)
            .cloned()
    };
    let hit = find("/api/v1/sites/{id}", 404).expect("route template recorded, not the raw path");
    assert_eq!(
        hit["actor"],
        format!("user:{}", me["user"]["id"].as_str().expect("id"))
    );
    assert_eq!(hit["data"]["method"], "GET");
    assert_eq!(hit["action"], "GET /api/v1/sites/{id}");
    assert!(hit["object"].as_str().expect("object").starts_with("site:"));
    let anon = find("/api/v1/me", 401).expect("anonymous request recorded");
    assert!(anon["actor"].is_null());
    assert!(!records.to_string().contains(&t), "secrets never recorded");
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi_are_served() {
    let (app, t) = admin_app().await;
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("h")
            .status(),
        200
    );
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("r")
            .status(),
        200
    );
    app.get("/api/v1/clients", &t).await;
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("m")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("palisade_http_requests_total{method=\"GET\",route=\"/api/v1/clients\",status=\"200\"} 1"), "{metrics}");
    let doc: Value = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("o")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    assert!(doc["paths"]["/api/v1/sites"]["get"].is_object());
    assert!(doc["components"]["schemas"]["Client"].is_object());
}

#[tokio::test]
async fn ui_forms_update_and_archive_every_spine_record_with_csrf_and_policy_checked() {
    let app = TestApp::start(WebConfig {
        require_staff_mfa: false,
        ..WebConfig::default()
    })
    .await;
    let admin = app.user("admin@example.com", Role::SuperAdmin, None).await;
    let t = app.token(&admin, Role::SuperAdmin).await;
    let client: Value = app
        .post_json("/api/v1/clients", &t, &client_body("Acme", "Europe/London"))
        .await
        .json()
        .await
        .expect("json");
    let cid = client["id"].as_str().expect("id").to_owned();
    app.user(
        "owner@acme.example",
        Role::ClientUser,
        Some(cid.parse().expect("uuid")),
    )
    .await;
    let site: Value = app
        .post_json(
            "/api/v1/sites",
            &t,
            &json!({"client_id": cid, "name": "www", "url": "https://www.acme.example"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let sid = site["id"].as_str().expect("id").to_owned();
    let env: Value = app
        .post_json(
            "/api/v1/environments",
            &t,
            &json!({"site_id": sid, "kind": "staging", "name": "staging"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let eid = env["id"].as_str().expect("id").to_owned();
    let host: Value = app.post_json("/api/v1/hosts", &t, &json!({"client_id": cid, "name": "web-1", "os": "Debian 12", "environment_ids": [eid]})).await.json().await.expect("json");
    let hid = host["id"].as_str().expect("id").to_owned();
    let contact: Value = app
        .post_json(
            &format!("/api/v1/clients/{cid}/contacts"),
            &t,
            &json!({"name": "Ana", "email": "ana@acme.example"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let ctid = contact["id"].as_str().expect("id").to_owned();

    // A client user may look but not change, whatever the form says.
    let owner = Browser::new(&app);
    owner.login("owner@acme.example").await;
    let csrf = owner.csrf().await;
    let r = owner
        .post_form(
            &format!("/sites/{sid}"),
            &[
                ("csrf", &csrf),
                ("name", "hacked"),
                ("url", "https://evil.example"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);

    let b = Browser::new(&app);
    b.login("admin@example.com").await;
    let r = b
        .post_form(
            &format!("/sites/{sid}"),
            &[("name", "no token"), ("url", "https://x.example")],
        )
        .await;
    assert_eq!(r.status(), 403, "a form without the CSRF token is refused");
    let csrf = b.csrf().await;
    let ok = |r: reqwest::Response| assert_eq!(r.status(), 303, "form accepted");
    ok(b.post_form(
        &format!("/sites/{sid}"),
        &[
            ("csrf", &csrf),
            ("name", "shop"),
            ("url", "https://shop.acme.example"),
        ],
    )
    .await);
    ok(b.post_form(
        &format!("/environments/{eid}"),
        &[
            ("csrf", &csrf),
            ("name", "pre-live"),
            ("kind", "staging"),
            ("url", ""),
            ("position", "25"),
        ],
    )
    .await);
    ok(b.post_form(
        &format!("/hosts/{hid}"),
        &[
            ("csrf", &csrf),
            ("name", "web-2"),
            ("addresses", "127.0.0.1, ::1"),
            ("os", "Debian 13"),
        ],
    )
    .await);
    let r = b
        .post_form(
            &format!("/hosts/{hid}"),
            &[
                ("csrf", &csrf),
                ("name", "web-2"),
                ("addresses", "not-an-ip"),
                ("os", "Debian 13"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text().await.expect("text").contains("addresses[0]"),
        "the page names the field"
    );

    let get = |path: String| {
        let (app, t) = (&app, &t);
        async move { app.get(&path, t).await.json::<Value>().await.expect("json") }
    };
    assert_eq!(get(format!("/api/v1/sites/{sid}")).await["name"], "shop");
    let e = get(format!("/api/v1/environments/{eid}")).await;
    assert_eq!(
        (e["name"].as_str(), e["position"].as_i64()),
        (Some("pre-live"), Some(25))
    );
    let h = get(format!("/api/v1/hosts/{hid}")).await;
    assert_eq!(h["addresses"], json!(["127.0.0.1", "::1"]));
    assert_eq!(
        h["environment_ids"],
        json!([eid]),
        "editing a host keeps what it serves"
    );

    for path in [
        format!("/environments/{eid}/archive"),
        format!("/hosts/{hid}/archive"),
        format!("/contacts/{ctid}/archive"),
    ] {
        ok(b.post_form(&path, &[("csrf", &csrf)]).await);
    }
    for path in [
        format!("/api/v1/environments/{eid}"),
        format!("/api/v1/hosts/{hid}"),
        format!("/api/v1/contacts/{ctid}"),
    ] {
        assert!(
            get(path.clone()).await["archived_at"].is_string(),
            "{path} archived, still readable"
        );
    }
    let page = b.page(&format!("/sites/{sid}")).await;
    assert!(
        !page.contains("pre-live"),
        "archived environments leave the site page"
    );
}

#[tokio::test]
async fn super_admins_manage_users_in_the_ui_and_managers_only_look() {
    let app = TestApp::start(WebConfig {
        require_staff_mfa: false,
        ..WebConfig::default()
    })
    .await;
    let admin = app.user("admin@example.com", Role::SuperAdmin, None).await;
    app.user("mgr@example.com", Role::Manager, None).await;
    let t = app.token(&admin, Role::SuperAdmin).await;
    let client: Value = app
        .post_json("/api/v1/clients", &t, &client_body("Acme", "Europe/London"))
        .await
        .json()
        .await
        .expect("json");
    let cid = client["id"].as_str().expect("id").to_owned();

    let b = Browser::new(&app);
    b.login("admin@example.com").await;
    let csrf = b.csrf().await;
    let r = b
        .post_form(
            "/users",
            &[
                ("csrf", &csrf),
                ("display_name", "Owner"),
                ("email", "owner@acme.example"),
                ("role", "client-user"),
                ("client_id", ""),
                ("password", "a long enough passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422, "a client user needs a client");
    assert!(r.text().await.expect("text").contains("client_id"));
    let r = b
        .post_form(
            "/users",
            &[
                ("csrf", &csrf),
                ("display_name", "Owner"),
                ("email", "owner@acme.example"),
                ("role", "client-user"),
                ("client_id", &cid),
                ("password", "a long enough passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let list = b.page("/users").await;
    assert!(
        list.contains("owner@acme.example") && list.contains("Acme"),
        "listed with its client"
    );

    let owner = Browser::new(&app);
    assert_eq!(
        owner
            .try_login("owner@acme.example", "a long enough passphrase")
            .await
            .status(),
        303
    );
    let users: Value = app
        .get("/api/v1/users?limit=500", &t)
        .await
        .json()
        .await
        .expect("json");
    let oid = users["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|u| u["email"] == "owner@acme.example")
        .expect("owner")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        b.post_form(&format!("/users/{oid}/disable"), &[("csrf", &csrf)])
            .await
            .status(),
        303
    );
    assert_eq!(
        owner
            .http
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .expect("me")
            .status(),
        401,
        "disabling ends their sessions"
    );
    assert_eq!(
        Browser::new(&app)
            .try_login("owner@acme.example", "a long enough passphrase")
            .await
            .status(),
        401
    );

    let m = Browser::new(&app);
    m.login("mgr@example.com").await;
    let page = m.page("/users").await;
    assert!(
        page.contains("owner@acme.example") && !page.contains("id=\"new-user\""),
        "managers see the list without the forms"
    );
    let mcsrf = m.csrf().await;
    assert_eq!(
        m.post_form(&format!("/users/{oid}/enable"), &[("csrf", &mcsrf)])
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn passing_mfa_replaces_the_session_so_a_pre_mfa_cookie_gains_nothing() {
    let app = TestApp::start(WebConfig::default()).await;
    app.user("sec@example.com", Role::Security, None).await;
    // A client without a cookie store, so the cookies can be compared by hand.
    let http = &app.http;
    let set_cookie = |r: &reqwest::Response| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("palisade_session="))
            .map(|v| v.split(';').next().expect("pair").to_owned())
    };
    let login = http
        .get(app.url("/login"))
        .send()
        .await
        .expect("login page");
    let csrf_cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let csrf = hidden_field(&login.text().await.expect("text"), "csrf");
    let r = http
        .post(app.url("/login"))
        .header("cookie", &csrf_cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "sec@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("login");
    let before = set_cookie(&r).expect("session cookie");
    let enrol = http
        .get(app.url("/mfa/enrol"))
        .header("cookie", &before)
        .send()
        .await
        .expect("enrol")
        .text()
        .await
        .expect("text");
    let (secret, csrf) = (hidden_field(&enrol, "secret"), hidden_field(&enrol, "csrf"));
    let code = code_now(&app, &secret);
    let r = http
        .post(app.url("/mfa/enrol"))
        .header("cookie", &before)
        .form(&[
            ("csrf", csrf.as_str()),
            ("secret", secret.as_str()),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .expect("enrol");
    let after = set_cookie(&r).expect("a new session cookie");
    assert_ne!(before, after);
    let me = app.url("/api/v1/me");
    let status = |cookie: String| http.get(&me).header("cookie", cookie).send();
    assert_eq!(status(after).await.expect("me").status(), 200);
    assert_eq!(
        status(before).await.expect("me").status(),
        401,
        "the pre-MFA session is gone"
    );
}

#[tokio::test]
async fn hsts_is_sent_only_when_configured_and_cookies_are_secure_then() {
    let plain = TestApp::start(WebConfig::default()).await;
    let resp = plain
        .http
        .get(plain.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert!(resp.headers().get("strict-transport-security").is_none());

    let https = TestApp::start(WebConfig {
        secure_cookies: true,
        hsts_max_age: Some(std::time::Duration::from_secs(600)),
        ..WebConfig::default()
    })
    .await;
    for path in ["/healthz", "/login", "/api/v1/no-such-route"] {
        let resp = https
            .http
            .get(https.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(
            resp.headers()["strict-transport-security"],
            "max-age=600; includeSubDomains",
            "{path}"
        );
    }
    let login = https
        .http
        .get(https.url("/login"))
        .send()
        .await
        .expect("login page");
    let cookie = login.headers()["set-cookie"].to_str().expect("ascii");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}
