//! Test harness: a real Palisade server on 127.0.0.1:0 over a fresh SQLite database, a manual clock,
//! and helpers that create users and tokens directly in the store.

#![allow(dead_code)]

use std::sync::Arc;

use jiff::Timestamp;
use palisade_core::clock::ManualClock;
use palisade_core::user::{ApiToken, User};
use palisade_core::{ClientId, Role};
use palisade_keyring::{Keyring, LiveKeyring};
use palisade_store::{NewUserRecord, Store};
use palisade_store_sql::SqlStore;
use palisade_vulndb::VulnDb;
use palisade_web::{AppState, WebConfig};
use serde_json::Value;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub store: Arc<SqlStore>,
    pub clock: ManualClock,
    pub state: AppState,
    pub http: reqwest::Client,
    /// The advisory store folder the app's matcher reads.
    pub advisories: std::path::PathBuf,
    /// The audit log's keys (tests seal with them and verify against them).
    pub audit_keys: palisade_auditlog::AuditKeys,
    /// The SQLite file behind `store`.
    pub db_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

pub fn start_time() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().expect("timestamp")
}

impl TestApp {
    pub async fn start(config: WebConfig) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqlStore::connect(&url, Arc::new(LiveKeyring::fixed(Keyring::generate())))
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        let store = Arc::new(store);
        let clock = ManualClock::new(start_time());
        let matcher = palisade_web::Matcher::new(
            store.clone(),
            dir.path().join("advisories"),
            Default::default(),
        );
        let audit_keys = palisade_auditlog::AuditKeys::ephemeral();
        let audit = palisade_auditlog::AuditLog::start(store.clone(), &audit_keys);
        let state = AppState::new(matcher, Arc::new(clock.clone()), config, audit);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(palisade_web::serve(
            listener,
            state.clone(),
            std::future::pending(),
        ));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            base,
            store,
            clock,
            state,
            http,
            advisories: dir.path().join("advisories"),
            audit_keys,
            db_path: dir.path().join("t.db"),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A user with the shared test password.
    pub async fn user(&self, email: &str, role: Role, client: Option<ClientId>) -> User {
        let rec = NewUserRecord {
            email: email.into(),
            display_name: format!("{role} user"),
            role,
            client_id: client,
            password_hash: palisade_auth::hash_password(PASSWORD).expect("hash"),
        };
        self.store
            .create_user(&rec, self.clock.now_ts())
            .await
            .expect("create user")
    }

    /// An API token for `user`, acting as `role`.
    pub async fn token(&self, user: &User, role: Role) -> String {
        let secret = palisade_auth::new_api_token();
        let now = self.clock.now_ts();
        let t = ApiToken::issue(
            user.id,
            "test".into(),
            role,
            &secret,
            now,
            jiff::SignedDuration::from_hours(24 * 30),
        );
        self.store
            .create_token(&t, &palisade_auth::token_hash(&secret))
            .await
            .expect("token");
        secret
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }
}

pub trait NowTs {
    fn now_ts(&self) -> Timestamp;
}

impl NowTs for ManualClock {
    fn now_ts(&self) -> Timestamp {
        palisade_core::clock::Clock::now(self)
    }
}

pub fn client_body(name: &str, zone: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "contract": {
            "sla_tier": "standard",
            "support_hours": {"time_zone": zone, "ranges": [{"day": "monday", "start": "09:00", "end": "17:00"}]},
            "holiday_calendar": "gb-eng",
            "out_of_hours": false
        }
    })
}

/// A browser-like client for the HTML pages: keeps cookies, signs in through the login form.
pub struct WebSession {
    pub http: reqwest::Client,
    pub base: String,
}

/// The value of the hidden field `name` in a page.
pub fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        + marker.len();
    html[start..].split('"').next().expect("value").to_owned()
}

impl WebSession {
    /// Signs in `email` (the shared test password) through the form.
    pub async fn sign_in(app: &TestApp, email: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let s = Self {
            http,
            base: app.base.clone(),
        };
        let (_, form) = s.get("/login").await;
        let csrf = hidden_field(&form, "csrf");
        let r = s
            .post(
                "/login",
                &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(r.status(), 303, "{email} signed in");
        s
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("get");
        (r.status().as_u16(), r.text().await.expect("text"))
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .expect("post")
    }
}

/// Imports one advisory file into the app's advisory store, as `palisade advisories import`
/// would; the matcher picks it up on its next catch-up.
pub fn import(app: &TestApp, name: &str, bytes: &[u8]) {
    let file = app.advisories.parent().unwrap().join(name);
    std::fs::write(&file, bytes).unwrap();
    let mut db = VulnDb::open(&app.advisories).unwrap();
    palisade_vulndb::import_path(&mut db, &file, None, &mut |_| {}).unwrap();
}

/// Pushes a composer.lock as the environment's inventory (expects 201) and returns the answer.
pub async fn push(app: &TestApp, token: &str, env: impl std::fmt::Display, lock: &str) -> Value {
    let resp = app
        .http
        .post(app.url(&format!(
            "/api/v1/environments/{env}/inventories?name=composer.lock"
        )))
        .bearer_auth(token)
        .body(lock.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    resp.json().await.unwrap()
}

/// GET with a token: the status and the JSON body (null when there is none).
pub async fn json_get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let r = app.get(path, token).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}
