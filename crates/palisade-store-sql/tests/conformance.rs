//! The store conformance suite: the same scenarios against SQLite and PostgreSQL, so the two
//! backends cannot drift. PostgreSQL is used when `PALISADE_TEST_POSTGRES_URL` names a server (an
//! admin URL; each scenario gets its own fresh database). In CI (`CI` set) a missing server fails
//! the suite instead of skipping it.

use std::future::Future;
use std::pin::Pin;

use jiff::{SignedDuration, Timestamp};
use palisade_core::tenant::*;
use palisade_core::user::ApiToken;
use palisade_core::{ClientId, RequestId, Role, SessionId, TokenId, UserId};
use palisade_store::*;
use palisade_store_sql::SqlStore;

type Scenario = fn(SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>>;

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().expect("timestamp")
}

async fn on_every_backend(name: &str, scenario: Scenario) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("conformance.db").display());
    let store = SqlStore::connect(&url).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    scenario(store.clone()).await;
    store.close().await;
    println!("conformance[sqlite]   {name}: ok");

    match std::env::var("PALISADE_TEST_POSTGRES_URL") {
        Ok(admin_url) => {
            let db = format!("palisade_test_{}", uuid::Uuid::now_v7().simple());
            let admin = sqlx::PgPool::connect(&admin_url)
                .await
                .expect("connect to PostgreSQL admin URL");
            sqlx::query(&format!("CREATE DATABASE {db}"))
                .execute(&admin)
                .await
                .expect("create test database");
            let mut url = url::Url::parse(&admin_url).expect("PostgreSQL URL");
            url.set_path(&db);
            let store = SqlStore::connect(url.as_str())
                .await
                .expect("open postgres");
            store.migrate().await.expect("migrate postgres");
            scenario(store.clone()).await;
            store.close().await;
            sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)"))
                .execute(&admin)
                .await
                .expect("drop test database");
            println!("conformance[postgres] {name}: ok");
        }
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!(
                "PALISADE_TEST_POSTGRES_URL is not set: CI must run the conformance suite on PostgreSQL"
            )
        }
        Err(_) => {
            println!("conformance[postgres] {name}: not run (set PALISADE_TEST_POSTGRES_URL)")
        }
    }
}

fn contract(zone: &str) -> Contract {
    Contract {
        sla_tier: SlaTier::Premium,
        support_hours: SupportHours::office_hours(zone),
        holiday_calendar: Some("gb-eng".into()),
        out_of_hours: true,
    }
}

async fn client(s: &SqlStore, name: &str) -> Client {
    s.create_client(
        &ClientInput {
            name: name.into(),
            contract: contract("Europe/London"),
        },
        now(),
    )
    .await
    .expect("create client")
}

async fn site(s: &SqlStore, c: ClientId, name: &str) -> Site {
    s.create_site(
        &NewSite {
            client_id: c,
            name: name.into(),
            url: format!("https://{name}.example"),
        },
        now(),
    )
    .await
    .expect("create site")
}

fn spine(s: SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let acme = client(&s, "Acme").await;
        assert_eq!(
            s.get_client(acme.id).await.expect("get").contract,
            contract("Europe/London")
        );
        let shop = site(&s, acme.id, "shop").await;
        let mk = |kind: EnvironmentKind, name: &str| NewEnvironment {
            site_id: shop.id,
            kind,
            name: name.into(),
            url: None,
            position: None,
        };
        // Created out of order; listed in promotion order.
        let live = s
            .create_environment(&mk(EnvironmentKind::Live, "live"), now())
            .await
            .expect("live");
        let staging = s
            .create_environment(&mk(EnvironmentKind::Staging, "staging"), now())
            .await
            .expect("staging");
        assert_eq!(
            live.client_id, acme.id,
            "an environment inherits its site's client"
        );
        let order: Vec<_> = s
            .site_environments(shop.id, false)
            .await
            .expect("envs")
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(order, ["staging", "live"]);
        let dup = s
            .create_environment(&mk(EnvironmentKind::Dev, "live"), now())
            .await;
        assert!(
            matches!(dup, Err(StoreError::Invalid(ref f)) if f.field == "name"),
            "{dup:?}"
        );

        let host = s
            .create_host(
                &HostInput {
                    client_id: Some(acme.id),
                    name: "web-01".into(),
                    addresses: vec!["127.0.0.1".into()],
                    os: "Debian 12".into(),
                    environment_ids: vec![live.id, staging.id],
                },
                now(),
            )
            .await
            .expect("host");
        let mut envs = vec![live.id, staging.id];
        envs.sort();
        assert_eq!(host.environment_ids, envs);
        let listed = s
            .list_hosts(&ListQuery {
                client: Some(acme.id),
                ..Default::default()
            })
            .await
            .expect("list hosts");
        assert_eq!(listed.items.len(), 1);
        assert_eq!(
            listed.items[0].environment_ids, envs,
            "a list carries what each host serves"
        );

        // A dedicated host cannot serve another client's environment, and nothing is half-written.
        let other = client(&s, "Other").await;
        let other_site = site(&s, other.id, "other").await;
        let other_env = s
            .create_environment(
                &NewEnvironment {
                    site_id: other_site.id,
                    kind: EnvironmentKind::Live,
                    name: "live".into(),
                    url: None,
                    position: None,
                },
                now(),
            )
            .await
            .expect("other env");
        let bad = HostInput {
            environment_ids: vec![other_env.id],
            ..HostInput {
                client_id: Some(acme.id),
                name: "web-01".into(),
                addresses: vec![],
                os: "Debian 12".into(),
                environment_ids: vec![],
            }
        };
        let err = s.update_host(host.id, &bad, now()).await;
        assert!(
            matches!(err, Err(StoreError::Invalid(ref f)) if f.field == "environment_ids[0]"),
            "{err:?}"
        );
        assert_eq!(
            s.get_host(host.id).await.expect("host").environment_ids,
            envs,
            "failed update changed nothing"
        );

        // Archive hides, include_archived shows, restore brings back; nothing is deleted.
        let later = now() + SignedDuration::from_hours(1);
        s.set_archived(Archivable::Site(shop.id), Some(later), later)
            .await
            .expect("archive");
        let q = ListQuery {
            client: Some(acme.id),
            ..Default::default()
        };
        assert!(s.list_sites(&q).await.expect("list").items.is_empty());
        let all = s
            .list_sites(&ListQuery {
                include_archived: true,
                ..q.clone()
            })
            .await
            .expect("list");
        assert_eq!(all.items[0].archived_at, Some(later));
        let err = s
            .create_environment(&mk(EnvironmentKind::Dev, "dev"), now())
            .await;
        assert!(
            matches!(err, Err(StoreError::Invalid(ref f)) if f.field == "site_id"),
            "{err:?}"
        );
        s.set_archived(Archivable::Site(shop.id), None, later)
            .await
            .expect("restore");
        assert_eq!(s.list_sites(&q).await.expect("list").items.len(), 1);

        // Missing parents are named.
        let err = s
            .create_site(
                &NewSite {
                    client_id: ClientId::new(),
                    name: "x".into(),
                    url: "https://x".into(),
                },
                now(),
            )
            .await;
        assert!(
            matches!(err, Err(StoreError::Invalid(ref f)) if f.field == "client_id"),
            "{err:?}"
        );
        assert!(matches!(
            s.get_site(palisade_core::SiteId::new()).await,
            Err(StoreError::NotFound)
        ));

        // Contacts and updates.
        let contact = s
            .create_contact(
                acme.id,
                &ContactInput {
                    name: "Ana".into(),
                    email: "ana@acme.example".into(),
                    phone: None,
                    title: Some("CTO".into()),
                },
                now(),
            )
            .await
            .expect("contact");
        let updated = s
            .update_contact(
                contact.id,
                &ContactInput {
                    name: "Ana B".into(),
                    email: "ana@acme.example".into(),
                    phone: Some("+44 20".into()),
                    title: None,
                },
                later,
            )
            .await
            .expect("update");
        assert_eq!(
            (
                updated.name.as_str(),
                updated.phone.as_deref(),
                updated.updated_at
            ),
            ("Ana B", Some("+44 20"), later)
        );
    })
}

fn hostile_text_is_stored_verbatim(s: SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let nasty =
            "Robert'); DROP TABLE clients;-- <script>alert(\"x\")</script> $1 ? % _ \\ ü 🚀";
        let c = client(&s, nasty).await;
        assert_eq!(s.get_client(c.id).await.expect("get").name, nasty);
        assert_eq!(
            s.list_clients(&ListQuery::default())
                .await
                .expect("list")
                .items
                .len(),
            1
        );
    })
}

fn pagination(s: SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let a = client(&s, "A").await;
        let b = client(&s, "B").await;
        for i in 0..7 {
            site(&s, a.id, &format!("a{i}")).await;
        }
        site(&s, b.id, "b0").await;
        let mut q = ListQuery {
            client: Some(a.id),
            limit: 3,
            ..Default::default()
        };
        let mut seen = vec![];
        let mut pages = 0;
        loop {
            let p = s.list_sites(&q).await.expect("page");
            pages += 1;
            seen.extend(p.items.iter().map(|s| s.name.clone()));
            match p.next_after {
                Some(after) => q.after = Some(after),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, ["a0", "a1", "a2", "a3", "a4", "a5", "a6"]);
        assert_eq!(
            s.list_sites(&ListQuery {
                limit: 100,
                ..Default::default()
            })
            .await
            .expect("all")
            .items
            .len(),
            8
        );
        assert_eq!(
            ListQuery {
                limit: 100_000,
                ..Default::default()
            }
            .page_size(),
            MAX_PAGE_SIZE
        );
    })
}

fn accounts(s: SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let acme = client(&s, "Acme").await;
        let rec = |email: &str, role: Role, client: Option<ClientId>| NewUserRecord {
            email: email.into(),
            display_name: "Someone".into(),
            role,
            client_id: client,
            password_hash: "$argon2id$fake".into(),
        };
        let admin = s
            .create_user(&rec("Admin@Example.com", Role::SuperAdmin, None), now())
            .await
            .expect("admin");
        let dup = s
            .create_user(&rec("admin@example.COM", Role::Manager, None), now())
            .await;
        assert!(
            matches!(dup, Err(StoreError::Invalid(ref f)) if f.field == "email"),
            "{dup:?}"
        );
        // The schema itself refuses a client user without a client.
        assert!(
            s.create_user(&rec("c@example.com", Role::ClientUser, None), now())
                .await
                .is_err()
        );
        let cu = s
            .create_user(
                &rec("c@example.com", Role::ClientUser, Some(acme.id)),
                now(),
            )
            .await
            .expect("client user");
        assert_eq!(cu.client_id, Some(acme.id));

        let auth = s
            .user_auth_by_email("ADMIN@example.com")
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(auth.user.id, admin.id);
        assert!(!auth.user.mfa_enabled);
        s.set_login_state(admin.id, 3, Some(now()))
            .await
            .expect("login state");
        let auth = s.user_auth(admin.id).await.expect("auth");
        assert_eq!((auth.failed_logins, auth.locked_until), (3, Some(now())));

        s.set_totp(admin.id, Some(&[1, 2, 3, 250]), None)
            .await
            .expect("totp");
        let auth = s.user_auth(admin.id).await.expect("auth");
        assert_eq!(auth.totp_secret.as_deref(), Some(&[1u8, 2, 3, 250][..]));
        assert!(auth.user.mfa_enabled);
        assert!(s.claim_totp_step(admin.id, 100).await.expect("claim"));
        assert!(
            !s.claim_totp_step(admin.id, 100).await.expect("replay"),
            "a used step cannot be claimed again"
        );
        assert!(!s.claim_totp_step(admin.id, 99).await.expect("older"));
        assert!(s.claim_totp_step(admin.id, 101).await.expect("next"));

        let session = Session {
            id: SessionId::new(),
            user_id: admin.id,
            token_hash: "h1".into(),
            created_at: now(),
            last_seen_at: now(),
            expires_at: now() + SignedDuration::from_hours(12),
            mfa_passed: false,
        };
        s.create_session(&session).await.expect("session");
        s.touch_session(session.id, now() + SignedDuration::from_mins(5), true)
            .await
            .expect("touch");
        let got = s
            .session_by_hash("h1")
            .await
            .expect("lookup")
            .expect("found");
        assert!(got.mfa_passed);
        assert_eq!(got.last_seen_at, now() + SignedDuration::from_mins(5));
        assert_eq!(
            s.delete_user_sessions(admin.id).await.expect("revoke all"),
            1
        );
        assert!(s.session_by_hash("h1").await.expect("lookup").is_none());

        let token = ApiToken {
            id: TokenId::new(),
            user_id: admin.id,
            name: "ci".into(),
            role: Role::Auditor,
            prefix: "pal_abcd".into(),
            created_at: now(),
            expires_at: now() + SignedDuration::from_hours(24),
            last_used_at: None,
            revoked_at: None,
        };
        s.create_token(&token, "th").await.expect("token");
        assert_eq!(
            s.token_by_hash("th").await.expect("lookup"),
            Some(token.clone())
        );
        s.revoke_token(token.id, now()).await.expect("revoke");
        assert!(!s.get_token(token.id).await.expect("get").is_live(now()));
        assert_eq!(s.list_tokens(admin.id).await.expect("list").len(), 1);

        let page = s
            .list_users(&ListQuery {
                client: Some(acme.id),
                ..Default::default()
            })
            .await
            .expect("users");
        assert_eq!(
            page.items.iter().map(|u| u.id).collect::<Vec<UserId>>(),
            [cu.id]
        );
    })
}

fn request_records(s: SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let records: Vec<RequestRecord> = (0..5)
            .map(|i| RequestRecord {
                id: RequestId::new(),
                at: now() + SignedDuration::from_secs(i),
                actor: None,
                client_scope: None,
                method: "GET".into(),
                route: "/api/v1/sites".into(),
                status: 200 + i as u16,
                latency_micros: 1_000,
                bytes_in: 0,
                bytes_out: 10,
            })
            .collect();
        s.insert_request_records(&records).await.expect("insert");
        let first = s
            .list_request_records(&ListQuery {
                limit: 2,
                ..Default::default()
            })
            .await
            .expect("page");
        assert_eq!(
            first.items.iter().map(|r| r.status).collect::<Vec<_>>(),
            [204, 203],
            "newest first"
        );
        let next = s
            .list_request_records(&ListQuery {
                limit: 10,
                after: first.next_after,
                ..Default::default()
            })
            .await
            .expect("page 2");
        assert_eq!(
            next.items.iter().map(|r| r.status).collect::<Vec<_>>(),
            [202, 201, 200]
        );
    })
}

#[tokio::test]
async fn conformance_spine() {
    on_every_backend("tenant spine", spine).await;
}

#[tokio::test]
async fn conformance_hostile_text() {
    on_every_backend(
        "hostile text stored verbatim",
        hostile_text_is_stored_verbatim,
    )
    .await;
}

#[tokio::test]
async fn conformance_pagination() {
    on_every_backend("cursor pagination", pagination).await;
}

#[tokio::test]
async fn conformance_accounts() {
    on_every_backend("accounts, sessions, tokens", accounts).await;
}

#[tokio::test]
async fn conformance_request_records() {
    on_every_backend("request records", request_records).await;
}
