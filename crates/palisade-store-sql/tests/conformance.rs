//! The store conformance suite: the same scenarios against SQLite and PostgreSQL, so the two
//! backends cannot drift. PostgreSQL is used when `PALISADE_TEST_POSTGRES_URL` names a server (an
//! admin URL; each scenario gets its own fresh database). In CI (`CI` set) a missing server fails
//! the suite instead of skipping it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jiff::civil::{Date, date};
use jiff::{SignedDuration, Timestamp};
use palisade_core::tenant::*;
use palisade_core::user::ApiToken;
use palisade_core::{
    ClientId, ContactId, EnvironmentId, FindingId, Role, SessionId, SnapshotId, TokenId, UserId,
};
use palisade_fleet::priority::band;
use palisade_fleet::{
    EventKind, Finding, FindingChanges, FindingEvent, FindingState, KevInfo, Package, Triage, diff,
};
use palisade_keyring::{Keyring, LiveKeyring};
use palisade_store::*;
use palisade_store_sql::{KeyUsage, SqlStore};
use palisade_vulns::{Ecosystem, PackageKey, SeverityLevel};

type Scenario = fn(SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>>;
type RawScenario = fn(SqlStore, Raw) -> Pin<Box<dyn Future<Output = ()> + Send>>;

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().expect("timestamp")
}

/// A fresh keyring for a scenario's store, as the binary would create on first start.
fn new_keys() -> Arc<LiveKeyring> {
    Arc::new(LiveKeyring::fixed(Keyring::generate()))
}

/// The scenario's database seen without the store: what is really in the columns.
#[derive(Clone)]
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn open(url: &str) -> Self {
        if url.starts_with("sqlite:") {
            Raw::Sqlite(sqlx::SqlitePool::connect(url).await.expect("raw sqlite"))
        } else {
            Raw::Postgres(sqlx::PgPool::connect(url).await.expect("raw postgres"))
        }
    }

    /// The first column of every row of `sql`, bound to `args` as text.
    async fn text(&self, sql: &str, args: &[&str]) -> Vec<Option<String>> {
        match self {
            Raw::Sqlite(p) => {
                let mut q = sqlx::query_scalar::<_, Option<String>>(sql);
                for a in args {
                    q = q.bind(*a);
                }
                q.fetch_all(p).await
            }
            Raw::Postgres(p) => {
                let mut q = sqlx::query_scalar::<_, Option<String>>(sql);
                for a in args {
                    q = q.bind(*a);
                }
                q.fetch_all(p).await
            }
        }
        .expect("raw read")
    }

    async fn one(&self, sql: &str, args: &[&str]) -> String {
        self.text(sql, args)
            .await
            .into_iter()
            .next()
            .flatten()
            .expect("one value")
    }

    async fn exec(&self, sql: &str, args: &[&str]) {
        match self {
            Raw::Sqlite(p) => {
                let mut q = sqlx::query(sql);
                for a in args {
                    q = q.bind(*a);
                }
                q.execute(p).await.map(|_| ())
            }
            Raw::Postgres(p) => {
                let mut q = sqlx::query(sql);
                for a in args {
                    q = q.bind(*a);
                }
                q.execute(p).await.map(|_| ())
            }
        }
        .expect("raw write")
    }

    async fn close(&self) {
        match self {
            Raw::Sqlite(p) => p.close().await,
            Raw::Postgres(p) => p.close().await,
        }
    }
}

async fn on_every_backend(name: &str, scenario: Scenario) {
    on_every_backend_raw(name, scenario, None).await
}

/// Runs `scenario` on SQLite, then on PostgreSQL when a server is named; `raw` scenarios also get
/// their own connection to the database.
async fn on_every_backend_raw(name: &str, scenario: Scenario, raw: Option<RawScenario>) {
    on_every_backend_at(name, scenario, raw, None).await
}

/// Migrates the store up to `until` (all the way if `None`), then runs `scenario` on every
/// backend as [`on_every_backend_raw`] does.
async fn on_every_backend_at(
    name: &str,
    scenario: Scenario,
    raw: Option<RawScenario>,
    until: Option<i64>,
) {
    let migrate = move |store: SqlStore| async move {
        match until {
            Some(last) => store.migrate_until(last).await,
            None => store.migrate().await,
        }
    };
    let run = move |store: SqlStore, url: String| async move {
        match raw {
            Some(raw_scenario) => {
                let raw = Raw::open(&url).await;
                raw_scenario(store, raw.clone()).await;
                raw.close().await;
            }
            None => scenario(store).await,
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("conformance.db").display());
    let store = SqlStore::connect(&url, new_keys())
        .await
        .expect("open sqlite");
    migrate(store.clone()).await.expect("migrate sqlite");
    run(store.clone(), url).await;
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
            let store = SqlStore::connect(url.as_str(), new_keys())
                .await
                .expect("open postgres");
            migrate(store.clone()).await.expect("migrate postgres");
            run(store.clone(), url.to_string()).await;
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

        // Every query shape (with and without a client, a cursor, archived rows) pages the same
        // way: each has its own SQL text.
        let a3 = s
            .list_sites(&ListQuery {
                client: Some(a.id),
                limit: 100,
                ..Default::default()
            })
            .await
            .expect("a's sites")
            .items[3]
            .id;
        s.set_archived(Archivable::Site(a3), Some(now()), now())
            .await
            .expect("archive a3");
        let walk = |include_archived: bool| {
            let s = s.clone();
            async move {
                let mut q = ListQuery {
                    limit: 2,
                    include_archived,
                    ..Default::default()
                };
                let mut names = vec![];
                loop {
                    let p = s.list_sites(&q).await.expect("page");
                    assert!(p.items.len() <= 2);
                    names.extend(p.items.iter().map(|s| s.name.clone()));
                    match p.next_after {
                        Some(after) => q.after = Some(after),
                        None => break names,
                    }
                }
            }
        };
        let mut all = walk(true).await;
        let live = walk(false).await;
        assert_eq!(all.len(), 8, "{all:?}");
        assert!(!live.contains(&"a3".to_owned()), "{live:?}");
        all.retain(|n| n != "a3");
        assert_eq!(live, all, "archived rows are skipped, nothing else");
        s.set_archived(Archivable::Site(a3), None, now())
            .await
            .expect("restore a3");
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

fn at_mins(mins: i64) -> Timestamp {
    now() + SignedDuration::from_mins(mins)
}

fn at_days(days: i64) -> Timestamp {
    now() + SignedDuration::from_hours(24 * days)
}

/// The UTC day of `now()`.
fn day0() -> Date {
    date(2026, 11, 23)
}

async fn environment(s: &SqlStore, site: &Site, kind: EnvironmentKind, name: &str) -> Environment {
    s.create_environment(
        &NewEnvironment {
            site_id: site.id,
            kind,
            name: name.into(),
            url: None,
            position: None,
        },
        now(),
    )
    .await
    .expect("create environment")
}

fn pkg(ecosystem: Ecosystem, qualifier: &str, name: &str, version: &str, dev: bool) -> Package {
    Package {
        key: PackageKey::new(ecosystem, qualifier, name),
        version: version.into(),
        dev,
    }
}

fn sorted(mut v: Vec<Package>) -> Vec<Package> {
    v.sort();
    v
}

/// An upload of `new` whose changes are computed against `old`, as the inventory service does.
fn upload(
    env: EnvironmentId,
    previous: Option<SnapshotId>,
    old: &[Package],
    new: &[Package],
    taken_at: Timestamp,
) -> NewSnapshot {
    NewSnapshot {
        id: SnapshotId::new(),
        environment_id: env,
        taken_at,
        actor: Some(UserId::new()),
        previous,
        sources: vec![SnapshotSource {
            file: "composer.lock".into(),
            format: "composer".into(),
            packages: new.len() as u32,
        }],
        packages: new.to_vec(),
        changes: diff(old, new),
        unevaluable: vec![],
    }
}

fn fleet_snapshots(s: SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let acme = client(&s, "Acme").await;
        let shop = site(&s, acme.id, "shop").await;
        let live = environment(&s, &shop, EnvironmentKind::Live, "live").await;
        let staging = environment(&s, &shop, EnvironmentKind::Staging, "staging").await;
        let twig = |v: &str| pkg(Ecosystem::Packagist, "", "twig/twig", v, false);
        let twig_key = twig("").key;
        assert_eq!(s.latest_snapshot(live.id).await.expect("latest"), None);

        let v1 = vec![
            twig("3.4.0"),
            pkg(Ecosystem::Packagist, "", "phpunit/phpunit", "9.5.0", true),
            pkg(
                Ecosystem::Debian,
                "bookworm",
                "openssl",
                "3.0.11-1~deb12u1",
                false,
            ),
        ];
        let mut first = upload(live.id, None, &[], &v1, at_mins(0));
        first.unevaluable = vec!["requirements.txt: django>=4 — not pinned".into()];
        let sum1 = s.save_snapshot(&first).await.expect("first upload");
        assert_eq!(
            (
                sum1.packages,
                sum1.dev_packages,
                sum1.added,
                sum1.removed,
                sum1.changed
            ),
            (3, 1, 3, 0, 0)
        );
        assert_eq!(
            (sum1.site_id, sum1.client_id, sum1.unevaluable),
            (shop.id, acme.id, 1)
        );
        assert_eq!(sum1.sources, first.sources);
        assert_eq!(
            s.latest_snapshot(live.id).await.expect("latest"),
            Some(sum1.clone())
        );
        assert_eq!(
            sorted(s.environment_packages(live.id).await.expect("index")),
            sorted(v1.clone())
        );

        // An upgrade, a removal, an addition and a dev flag turning off.
        let v2 = vec![
            twig("3.4.3"),
            pkg(Ecosystem::Packagist, "", "phpunit/phpunit", "9.5.0", false),
            pkg(Ecosystem::Npm, "", "@babel/core", "7.22.0", true),
        ];
        let second = upload(live.id, Some(first.id), &v1, &v2, at_mins(1));
        let sum2 = s.save_snapshot(&second).await.expect("second upload");
        assert_eq!((sum2.added, sum2.removed, sum2.changed), (1, 1, 1));
        assert_eq!(sum2.previous, Some(first.id));
        assert_eq!(
            sorted(s.environment_packages(live.id).await.expect("index")),
            sorted(v2.clone()),
            "the installations index follows the changes"
        );

        // Staging has two versions, one of them also live's and a development dependency here.
        let dev_twig = Package {
            dev: true,
            ..twig("3.4.3")
        };
        let on_staging = upload(
            staging.id,
            None,
            &[],
            &[twig("3.4.0"), dev_twig],
            at_mins(1),
        );
        s.save_snapshot(&on_staging).await.expect("staging upload");
        let mut found = s
            .installations_of(&[
                twig_key.clone(),
                twig_key.clone(),
                PackageKey::new(Ecosystem::PyPi, "", "absent"),
            ])
            .await
            .expect("installations");
        found.sort_by(|a, b| a.version.cmp(&b.version));
        for g in &mut found {
            g.environments.sort();
        }
        let mut both = vec![(live.id, false), (staging.id, true)];
        both.sort();
        assert_eq!(
            found,
            [
                VersionInstalls {
                    key: twig_key.clone(),
                    version: "3.4.0".into(),
                    environments: vec![(staging.id, false)],
                },
                VersionInstalls {
                    key: twig_key.clone(),
                    version: "3.4.3".into(),
                    environments: both,
                },
            ],
            "one entry per installed version, with every environment that has it"
        );
        let openssl = s
            .installations_of(&[PackageKey::new(Ecosystem::Debian, "bookworm", "openssl")])
            .await
            .expect("installations");
        assert!(
            openssl.is_empty(),
            "removed packages leave the index: {openssl:?}"
        );

        // An upload computed against an older snapshot, or against none, is refused whole.
        let stale = upload(live.id, Some(first.id), &v1, &[twig("4.0.0")], at_mins(2));
        let err = s.save_snapshot(&stale).await;
        assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
        let blind = upload(live.id, None, &[], &[twig("4.0.0")], at_mins(2));
        let err = s.save_snapshot(&blind).await;
        assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
        assert!(matches!(
            s.get_snapshot(stale.id).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(
            s.latest_snapshot(live.id).await.expect("latest"),
            Some(sum2.clone())
        );
        assert_eq!(
            sorted(s.environment_packages(live.id).await.expect("index")),
            sorted(v2.clone()),
            "a refused upload changes nothing"
        );
        // The findings an upload brings are stored with its snapshot or not at all.
        let flagged = new_finding(&live, &twig("4.0.0").key, "SNAP-1", FindingState::New, 300);
        let with = FindingChanges {
            created: vec![flagged.clone()],
            updated: vec![],
            events: vec![],
        };
        let err = s.save_snapshot_with_findings(&stale, &with).await;
        assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
        assert!(
            matches!(s.get_finding(flagged.id).await, Err(StoreError::NotFound)),
            "a refused upload stores none of its findings"
        );
        let ghost = upload(EnvironmentId::new(), None, &[], &v1, at_mins(2));
        let err = s.save_snapshot(&ghost).await;
        assert!(matches!(err, Err(StoreError::NotFound)), "{err:?}");

        // Unchanged re-uploads read back the whole list.
        let third = upload(live.id, Some(second.id), &v2, &v2, at_mins(3));
        assert!(third.changes.is_empty());
        s.save_snapshot_with_findings(&third, &with)
            .await
            .expect("third upload");
        assert_eq!(
            s.get_finding(flagged.id).await.expect("stored with it"),
            flagged
        );
        let fourth = upload(live.id, Some(third.id), &v2, &v2, at_mins(4));
        let sum4 = s.save_snapshot(&fourth).await.expect("fourth upload");
        assert_eq!(
            (sum4.packages, sum4.added, sum4.removed, sum4.changed),
            (3, 0, 0, 0)
        );
        let got = s.get_snapshot(fourth.id).await.expect("fourth");
        assert_eq!(got.summary, sum4);
        assert_eq!(got.packages, v2);
        assert!(got.changes.is_empty());
        let got = s.get_snapshot(first.id).await.expect("first");
        assert_eq!(
            (got.packages, got.changes, got.unevaluable),
            (v1.clone(), first.changes.clone(), first.unevaluable.clone())
        );
        assert_eq!(
            s.get_snapshot(second.id).await.expect("second").changes,
            second.changes
        );

        // Newest first, paged by ID.
        let page = s.list_snapshots(live.id, None, 3).await.expect("page 1");
        assert_eq!(
            page.items.iter().map(|x| x.id).collect::<Vec<_>>(),
            [fourth.id, third.id, second.id]
        );
        let after: SnapshotId = page.next_after.expect("more").parse().expect("snapshot id");
        let page = s
            .list_snapshots(live.id, Some(after), 3)
            .await
            .expect("page 2");
        assert_eq!(
            page.items.iter().map(|x| x.id).collect::<Vec<_>>(),
            [first.id]
        );
        assert_eq!(page.next_after, None);

        let dev = environment(&s, &shop, EnvironmentKind::Dev, "dev").await;
        let mut facts = s
            .environment_facts(&[live.id, staging.id, dev.id, EnvironmentId::new(), live.id])
            .await
            .expect("facts");
        facts.sort_by(|a, b| a.environment_name.cmp(&b.environment_name));
        let summary: Vec<_> = facts
            .iter()
            .map(|f| {
                (
                    f.environment_name.as_str(),
                    f.facts.id,
                    f.facts.kind,
                    f.facts.tier,
                    f.facts.inventory_at,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("dev", dev.id, EnvironmentKind::Dev, SlaTier::Premium, None),
                (
                    "live",
                    live.id,
                    EnvironmentKind::Live,
                    SlaTier::Premium,
                    Some(at_mins(4))
                ),
                (
                    "staging",
                    staging.id,
                    EnvironmentKind::Staging,
                    SlaTier::Premium,
                    Some(at_mins(1))
                ),
            ]
        );
        assert!(facts.iter().all(|f| f.facts.client_id == acme.id
            && f.facts.site_id == shop.id
            && f.site_name == "shop"
            && f.client_name == "Acme"));
        let mut all = s
            .all_environment_facts()
            .await
            .expect("every environment's facts");
        all.sort_by(|a, b| a.environment_name.cmp(&b.environment_name));
        assert_eq!(all, facts, "all three environments, the same facts");

        // The tenant version moves with every change to the spine, and with nothing else.
        let mut version = s.tenant_version().await.expect("version");
        s.update_environment(
            dev.id,
            &EnvironmentUpdate {
                kind: EnvironmentKind::Dev,
                name: "dev-2".into(),
                url: None,
                position: 0,
            },
            at_mins(9),
        )
        .await
        .expect("rename");
        moved(&s, &mut version, "renaming an environment").await;
        s.update_site(
            shop.id,
            &SiteUpdate {
                name: "shop-2".into(),
                url: "https://shop.example".into(),
            },
            at_mins(9),
        )
        .await
        .expect("rename site");
        moved(&s, &mut version, "renaming a site").await;
        s.set_archived(Archivable::Site(shop.id), Some(at_mins(9)), at_mins(9))
            .await
            .expect("archive");
        moved(&s, &mut version, "archiving a site").await;
        s.set_archived(Archivable::Site(shop.id), None, at_mins(9))
            .await
            .expect("restore");
        moved(&s, &mut version, "restoring a site").await;
        let other = client(&s, "Other").await;
        moved(&s, &mut version, "a new client").await;
        site(&s, other.id, "www").await;
        moved(&s, &mut version, "a new site").await;
        s.save_snapshot(&upload(dev.id, None, &[], &[], at_mins(10)))
            .await
            .expect("inventory");
        assert_eq!(
            s.tenant_version().await.expect("version"),
            version,
            "an inventory leaves the spine as it was"
        );
    })
}

/// Asserts that the tenant version moved since `version`, and remembers where it is now.
async fn moved(s: &SqlStore, version: &mut i64, what: &str) {
    let now = s.tenant_version().await.expect("version");
    assert_ne!(now, *version, "{what} moves the tenant version");
    *version = now;
}

fn fleet_installed_versions(s: SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let acme = client(&s, "Acme").await;
        let shop = site(&s, acme.id, "shop").await;
        let a = environment(&s, &shop, EnvironmentKind::Live, "a").await;
        let b = environment(&s, &shop, EnvironmentKind::Staging, "b").await;
        let in_a = vec![
            pkg(Ecosystem::Npm, "", "lodash", "4.17.20", false),
            pkg(Ecosystem::Npm, "", "lodash", "4.17.21", false),
            pkg(Ecosystem::Npm, "", "@babel/core", "7.0.0", true),
            pkg(
                Ecosystem::Debian,
                "bookworm",
                "openssl",
                "3.0.11-1~deb12u1",
                false,
            ),
        ];
        let in_b = vec![
            pkg(Ecosystem::Npm, "", "lodash", "4.17.21", false),
            pkg(
                Ecosystem::Debian,
                "bullseye",
                "openssl",
                "1.1.1w-0+deb11u1",
                false,
            ),
            pkg(Ecosystem::PyPi, "", "Django", "4.2.0", false),
            pkg(Ecosystem::CratesIo, "", "serde", "1.0.0", false),
            pkg(
                Ecosystem::Packagist,
                "https://packages.drupal.org/8",
                "drupal/core",
                "10.1.0",
                false,
            ),
        ];
        for (env, list) in [(a.id, &in_a), (b.id, &in_b)] {
            s.save_snapshot(&upload(env, None, &[], list, now()))
                .await
                .expect("upload");
        }
        // Key order is the stored columns' byte order: ecosystem (OSV name), qualifier, name, version.
        let mut expected: Vec<(String, String, String, String)> = in_a
            .iter()
            .chain(&in_b)
            .map(|p| {
                (
                    p.key.ecosystem.osv_name().to_owned(),
                    p.key.qualifier.clone(),
                    p.key.name.clone(),
                    p.version.clone(),
                )
            })
            .collect();
        expected.sort();
        expected.dedup();
        assert_eq!(expected.len(), 8, "lodash 4.17.21 is listed once");

        let mut seen = Vec::new();
        let mut after: Option<(PackageKey, String)> = None;
        let mut pages = 0;
        loop {
            let page = s.installed_versions(after.as_ref(), 3).await.expect("page");
            pages += 1;
            assert!(page.len() <= 3);
            let Some(last) = page.last().cloned() else {
                break;
            };
            seen.extend(page);
            after = Some(last);
        }
        assert_eq!(pages, 4, "pages of 3, 3 and 2, then an empty one");
        let seen: Vec<(String, String, String, String)> = seen
            .into_iter()
            .map(|(k, v)| (k.ecosystem.osv_name().to_owned(), k.qualifier, k.name, v))
            .collect();
        assert_eq!(seen, expected);
        let drupal = s
            .installations_of(&[PackageKey::new(
                Ecosystem::Packagist,
                "https://packages.drupal.org/8",
                "drupal/core",
            )])
            .await
            .expect("installations");
        assert_eq!(
            drupal
                .iter()
                .flat_map(|g| g
                    .environments
                    .iter()
                    .map(|(e, _)| (*e, g.key.qualifier.as_str())))
                .collect::<Vec<_>>(),
            [(b.id, "https://packages.drupal.org/8")],
            "a qualifier with slashes survives the round trip"
        );
    })
}

fn new_finding(
    env: &Environment,
    key: &PackageKey,
    group: &str,
    state: FindingState,
    priority: i32,
) -> Finding {
    Finding {
        id: FindingId::new(),
        client_id: env.client_id,
        site_id: env.site_id,
        environment_id: env.id,
        environment_kind: env.kind,
        package: key.clone(),
        version: "1.0.0".into(),
        dev: false,
        alias_group: group.into(),
        advisories: vec![format!("GHSA-{group}")],
        aliases: vec![group.into()],
        title: format!("{group} in {}", key.name),
        severity: SeverityLevel::High,
        cvss: Some(7.5),
        kev: None,
        epss: None,
        fixed_versions: vec!["1.0.1".into()],
        malicious: false,
        state,
        state_before_inactive: None,
        justification: None,
        risk_accepted_until: None,
        risk_request: None,
        priority,
        reasons: vec![],
        detected_at: now(),
        fix_available_at: Some(now()),
        due_at: None,
        fixed_at: None,
        updated_at: now(),
    }
}

fn detected(f: &Finding) -> FindingEvent {
    FindingEvent::new(f, f.detected_at, None, EventKind::Detected, None, "matched")
}

fn daily(rows: &[(Date, i64, i64)]) -> Vec<DailyFindings> {
    rows.iter()
        .map(|&(day, opened, closed)| DailyFindings {
            day,
            opened,
            closed,
        })
        .collect()
}

fn fleet_findings_lifecycle(s: SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let acme = client(&s, "Acme").await;
        let beta = client(&s, "Beta").await;
        let shop = site(&s, acme.id, "shop").await;
        let blog = site(&s, beta.id, "blog").await;
        let acme_live = environment(&s, &shop, EnvironmentKind::Live, "live").await;
        let acme_staging = environment(&s, &shop, EnvironmentKind::Staging, "staging").await;
        let beta_live = environment(&s, &blog, EnvironmentKind::Live, "live").await;
        let twig = PackageKey::new(Ecosystem::Packagist, "", "twig/twig");
        let guzzle = PackageKey::new(Ecosystem::Packagist, "", "guzzlehttp/guzzle");

        let f1 = new_finding(&acme_live, &twig, "CVE-2022-39261", FindingState::New, 400);
        let f2 = new_finding(
            &acme_staging,
            &twig,
            "CVE-2022-39261",
            FindingState::New,
            300,
        );
        let mut f3 = new_finding(
            &beta_live,
            &guzzle,
            "CVE-2022-31090",
            FindingState::Affected,
            650,
        );
        f3.kev = Some(KevInfo {
            cve: "CVE-2022-31090".into(),
            date_added: date(2026, 1, 2),
            due_date: Some(date(2026, 1, 23)),
            ransomware: false,
        });
        f3.due_at = Some(at_days(7));
        let f4 = new_finding(
            &beta_live,
            &guzzle,
            "CVE-2022-31091",
            FindingState::Inactive,
            100,
        );
        let created = vec![f1.clone(), f2.clone(), f3.clone(), f4.clone()];
        let events: Vec<FindingEvent> = created.iter().map(detected).collect();
        s.apply_finding_changes(&FindingChanges {
            created,
            updated: vec![],
            events: events.clone(),
        })
        .await
        .expect("apply created");
        for f in [&f1, &f2, &f3, &f4] {
            assert_eq!(&s.get_finding(f.id).await.expect("get"), f);
        }
        assert_eq!(
            s.finding_events(f1.id).await.expect("events"),
            [events[0].clone()]
        );
        assert!(matches!(
            s.get_finding(FindingId::new()).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(
            s.findings_daily(None, day0()).await.expect("daily"),
            daily(&[(day0(), 3, 0)]),
            "findings created open count as opened; one created inactive does not"
        );

        // A day later: f1 fixed, f2 re-scored (no event), f4 active again.
        let later = at_days(1);
        let mut g1 = f1.clone();
        g1.state = FindingState::Fixed;
        g1.fixed_at = Some(later);
        g1.updated_at = later;
        let e1 = FindingEvent::new(
            &g1,
            later,
            None,
            EventKind::Fixed,
            Some(FindingState::New),
            "3.4.3 installed",
        );
        let mut g2_first = f2.clone();
        g2_first.priority = 310;
        let mut g2 = f2.clone();
        g2.priority = 350;
        g2.updated_at = later;
        let mut g4 = f4.clone();
        g4.state = FindingState::New;
        g4.updated_at = later;
        let e4 = FindingEvent::new(
            &g4,
            later,
            None,
            EventKind::Reactivated,
            Some(FindingState::Inactive),
            "the advisory affects 1.0.0 again",
        );
        s.apply_finding_changes(&FindingChanges {
            created: vec![],
            updated: vec![g1.clone(), g2_first, g2.clone(), g4.clone()],
            events: vec![e1.clone(), e4.clone()],
        })
        .await
        .expect("apply updates");
        assert_eq!(s.get_finding(f1.id).await.expect("g1"), g1);
        assert_eq!(
            s.get_finding(f2.id).await.expect("g2"),
            g2,
            "the last version of a finding wins"
        );
        assert_eq!(s.get_finding(f4.id).await.expect("g4"), g4);
        assert_eq!(
            s.finding_events(f1.id).await.expect("events"),
            [events[0].clone(), e1.clone()],
            "history oldest first"
        );
        let day1 = date(2026, 11, 24);
        assert_eq!(
            s.findings_daily(None, day0()).await.expect("daily"),
            daily(&[(day0(), 3, 0), (day1, 1, 1)])
        );
        assert_eq!(
            s.findings_daily(Some(acme.id), day0())
                .await
                .expect("daily"),
            daily(&[(day0(), 2, 0), (day1, 0, 1)])
        );
        assert_eq!(
            s.findings_daily(Some(beta.id), day1).await.expect("daily"),
            daily(&[(day1, 1, 0)])
        );

        // A finding's identity is unique: a second one for the same thing is refused whole.
        let mut twin = new_finding(&acme_live, &twig, "CVE-2022-39261", FindingState::New, 1);
        twin.detected_at = later;
        let err = s
            .apply_finding_changes(&FindingChanges {
                created: vec![twin.clone()],
                updated: vec![],
                events: vec![detected(&twin)],
            })
            .await;
        assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
        assert!(matches!(
            s.get_finding(twin.id).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(
            s.findings_daily(None, day1).await.expect("daily"),
            daily(&[(day1, 1, 1)]),
            "a refused batch counts nothing"
        );

        let mut of_twig = s
            .findings_of(std::slice::from_ref(&twig), None)
            .await
            .expect("findings of");
        of_twig.sort_by_key(|f| f.id);
        assert_eq!(of_twig, [g1.clone(), g2.clone()]);
        let of_beta = s
            .findings_of(&[twig.clone(), guzzle.clone()], Some(&[beta_live.id]))
            .await
            .expect("findings of");
        assert_eq!(
            of_beta.iter().map(|f| f.id).collect::<Vec<_>>(),
            [f3.id, f4.id]
        );
        assert!(
            s.findings_of(std::slice::from_ref(&twig), Some(&[]))
                .await
                .expect("none")
                .is_empty()
        );
        let nothing = PackageKey::new(Ecosystem::Npm, "", "left-pad");
        assert_eq!(
            s.finding_packages(&[nothing, guzzle.clone(), twig.clone()])
                .await
                .expect("finding packages"),
            {
                let mut both = vec![twig.clone(), guzzle.clone()];
                both.sort();
                both
            },
            "only packages with findings in play"
        );

        // Triage: a stale view is refused, a fresh one is stored with its event.
        let (alice, bob) = (UserId::new(), UserId::new());
        let mut t2 = g2.clone();
        let ev = t2
            .triage(
                &Triage::Affected,
                alice,
                "reachable from the shop's templates",
                at_days(2),
            )
            .expect("triage");
        let err = s.save_triage(&t2, &ev, f2.updated_at).await;
        assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
        assert_eq!(s.get_finding(f2.id).await.expect("unchanged"), g2);
        s.save_triage(&t2, &ev, g2.updated_at)
            .await
            .expect("triage saved");
        assert_eq!(s.get_finding(f2.id).await.expect("triaged"), t2);
        assert_eq!(
            s.finding_events(f2.id).await.expect("events"),
            [events[1].clone(), ev.clone()]
        );
        let err = s.save_triage(&t2, &ev, g2.updated_at).await;
        assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
        let mut ghost = new_finding(&acme_live, &guzzle, "CVE-X", FindingState::New, 1);
        let gev = ghost
            .triage(&Triage::Affected, alice, "x", at_days(2))
            .expect("triage");
        let err = s.save_triage(&ghost, &gev, now()).await;
        assert!(matches!(err, Err(StoreError::NotFound)), "{err:?}");

        // Closing by triage counts as closed that day.
        let mut t3 = f3.clone();
        let ev3 = t3
            .triage(
                &Triage::NotAffected {
                    justification: palisade_fleet::Justification::VulnerableCodeNotInExecutePath,
                },
                bob,
                "the client never sends requests through guzzle",
                at_days(2),
            )
            .expect("triage");
        s.save_triage(&t3, &ev3, f3.updated_at)
            .await
            .expect("triage saved");
        assert_eq!(
            s.findings_daily(Some(beta.id), date(2026, 11, 25))
                .await
                .expect("daily"),
            daily(&[(date(2026, 11, 25), 0, 1)])
        );

        // A risk acceptance, approved by a second person, expires at its date.
        let until = at_days(30);
        let seen = t2.updated_at;
        let req = t2
            .triage(
                &Triage::RequestRiskAcceptance { until },
                alice,
                "vendor patch next month",
                at_days(3),
            )
            .expect("request");
        s.save_triage(&t2, &req, seen).await.expect("request saved");
        let seen = t2.updated_at;
        let ok = t2
            .triage(&Triage::ApproveRiskAcceptance, bob, "agreed", at_days(4))
            .expect("approve");
        s.save_triage(&t2, &ok, seen).await.expect("approval saved");
        assert_eq!(
            s.get_finding(f2.id).await.expect("accepted").state,
            FindingState::RiskAccepted
        );
        assert!(
            s.expired_risk_acceptances(until - SignedDuration::from_secs(1))
                .await
                .expect("none yet")
                .is_empty()
        );
        assert_eq!(
            s.expired_risk_acceptances(until).await.expect("expired"),
            [t2.clone()]
        );
        assert_eq!(
            s.findings_daily(Some(acme.id), date(2026, 11, 27))
                .await
                .expect("daily"),
            daily(&[(date(2026, 11, 27), 0, 1)]),
            "an approved acceptance closes the finding"
        );

        assert_eq!(s.fleet_state("advisory-log").await.expect("state"), None);
        s.set_fleet_state("advisory-log", "41").await.expect("set");
        s.set_fleet_state("advisory-log", "42")
            .await
            .expect("set again");
        s.set_fleet_state("other", "x").await.expect("set other");
        assert_eq!(
            s.fleet_state("advisory-log")
                .await
                .expect("state")
                .as_deref(),
            Some("42")
        );
    })
}

fn fleet_finding_lists(s: SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let acme = client(&s, "Acme").await;
        let beta = client(&s, "Beta").await;
        let shop = site(&s, acme.id, "shop").await;
        let portal = site(&s, acme.id, "portal").await;
        let blog = site(&s, beta.id, "blog").await;
        let acme_live = environment(&s, &shop, EnvironmentKind::Live, "live").await;
        let portal_dev = environment(&s, &portal, EnvironmentKind::Dev, "dev").await;
        let beta_live = environment(&s, &blog, EnvironmentKind::Live, "live").await;
        let twig = PackageKey::new(Ecosystem::Packagist, "", "twig/twig");
        let lodash = PackageKey::new(Ecosystem::Npm, "", "lodash");

        let mut all = Vec::new();
        // Seven at one priority, so pages must split ties without losing or repeating any.
        for i in 0..7 {
            all.push(new_finding(
                &acme_live,
                &twig,
                &format!("TIE-{i}"),
                FindingState::New,
                300,
            ));
        }
        for i in 0..2 {
            let mut f = new_finding(
                &acme_live,
                &lodash,
                &format!("KEV-{i}"),
                FindingState::Affected,
                650,
            );
            f.kev = Some(KevInfo {
                cve: format!("CVE-2021-{i}"),
                date_added: date(2026, 1, 2),
                due_date: None,
                ransomware: true,
            });
            all.push(f);
        }
        all[0].due_at = Some(now() - SignedDuration::from_hours(1));
        all[7].due_at = Some(now());
        all[8].due_at = Some(now() + SignedDuration::from_hours(1));
        for i in 0..3 {
            all.push(new_finding(
                &portal_dev,
                &lodash,
                &format!("DEV-{i}"),
                FindingState::New,
                210,
            ));
        }
        all.push(new_finding(
            &beta_live,
            &twig,
            "B-1",
            FindingState::Affected,
            400,
        ));
        all.push(new_finding(
            &beta_live,
            &twig,
            "B-2",
            FindingState::New,
            400,
        ));
        all.push(new_finding(
            &beta_live,
            &twig,
            "B-3",
            FindingState::New,
            100,
        ));
        all.push(new_finding(
            &beta_live,
            &twig,
            "B-FIXED",
            FindingState::Fixed,
            999,
        ));
        let mut accepted = new_finding(
            &beta_live,
            &lodash,
            "B-RISK",
            FindingState::RiskAccepted,
            500,
        );
        accepted.risk_accepted_until = Some(at_days(10));
        all.push(accepted);
        s.apply_finding_changes(&FindingChanges {
            created: all.clone(),
            updated: vec![],
            events: vec![],
        })
        .await
        .expect("apply");

        let rank = |mut v: Vec<Finding>| {
            v.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
            v.into_iter().map(|f| f.id).collect::<Vec<_>>()
        };
        let expect = |pred: &dyn Fn(&Finding) -> bool| {
            rank(all.iter().filter(|f| pred(f)).cloned().collect())
        };
        // Walks every page, and checks that reading the whole selection at once agrees.
        let walk = |q: FindingQuery| {
            let s = s.clone();
            async move {
                let whole: Vec<_> = s
                    .all_findings(&q)
                    .await
                    .expect("all")
                    .iter()
                    .map(|f| f.id)
                    .collect();
                let mut q = q;
                let mut ids = Vec::new();
                let mut pages = 0;
                loop {
                    let p = s.list_findings(&q).await.expect("page");
                    pages += 1;
                    ids.extend(p.items.iter().map(|f| f.id));
                    match p.next_after {
                        Some(a) => q.after = Some(a),
                        None => break,
                    }
                }
                assert_eq!(whole, ids, "all_findings and the pages of {q:?}");
                (ids, pages)
            }
        };

        let open = expect(&|f| f.state.is_open());
        assert_eq!(open.len(), 15);
        let (ids, pages) = walk(FindingQuery {
            limit: 3,
            ..Default::default()
        })
        .await;
        assert_eq!(ids, open, "every open finding once, by priority then id");
        assert_eq!(pages, 5);
        let first = s
            .list_findings(&FindingQuery {
                limit: 4,
                ..Default::default()
            })
            .await
            .expect("first page");
        assert_eq!(
            first.items.iter().map(|f| f.priority).collect::<Vec<_>>(),
            [650, 650, 400, 400]
        );
        let (ids, _) = walk(FindingQuery::default()).await;
        assert_eq!(ids, open, "limit 0 is the default page size");

        let (ids, _) = walk(FindingQuery {
            client: Some(acme.id),
            limit: 2,
            ..Default::default()
        })
        .await;
        assert_eq!(
            ids,
            expect(&|f| f.state.is_open() && f.client_id == acme.id)
        );
        let (ids, _) = walk(FindingQuery {
            site: Some(portal.id),
            ..Default::default()
        })
        .await;
        assert_eq!(ids, expect(&|f| f.site_id == portal.id));
        let (ids, _) = walk(FindingQuery {
            environment: Some(beta_live.id),
            ..Default::default()
        })
        .await;
        assert_eq!(
            ids,
            expect(&|f| f.state.is_open() && f.environment_id == beta_live.id)
        );
        let (ids, _) = walk(FindingQuery {
            alias_groups: vec!["TIE-1".into(), "TIE-3".into(), "B-FIXED".into()],
            ..Default::default()
        })
        .await;
        assert_eq!(
            ids,
            expect(&|f| ["TIE-1", "TIE-3"].contains(&f.alias_group.as_str()))
        );
        let (ids, _) = walk(FindingQuery {
            package: Some(lodash.clone()),
            ..Default::default()
        })
        .await;
        assert_eq!(ids, expect(&|f| f.state.is_open() && f.package == lodash));
        let (ids, _) = walk(FindingQuery {
            kev_only: true,
            ..Default::default()
        })
        .await;
        assert_eq!(ids, expect(&|f| f.kev.is_some()));
        let (ids, _) = walk(FindingQuery {
            states: vec![FindingState::Fixed, FindingState::RiskAccepted],
            ..Default::default()
        })
        .await;
        assert_eq!(ids, expect(&|f| !f.state.is_open()));
        let (ids, _) = walk(FindingQuery {
            states: vec![FindingState::Affected],
            client: Some(beta.id),
            ..Default::default()
        })
        .await;
        assert_eq!(
            ids,
            expect(&|f| f.state == FindingState::Affected && f.client_id == beta.id)
        );
        let (ids, _) = walk(FindingQuery {
            due_before: Some(now() + SignedDuration::from_mins(1)),
            ..Default::default()
        })
        .await;
        assert_eq!(
            ids,
            [all[7].id, all[0].id],
            "deadline before the time given"
        );

        for bad in [
            "garbage",
            "300:not-an-id",
            "high:0190b5c4-0000-7000-8000-000000000000",
        ] {
            let err = s
                .list_findings(&FindingQuery {
                    after: Some(bad.into()),
                    ..Default::default()
                })
                .await;
            assert!(
                matches!(err, Err(StoreError::Invalid(ref f)) if f.field == "after"),
                "{bad}: {err:?}"
            );
        }

        let summary = s.findings_summary(None, now()).await.expect("summary");
        assert_eq!((summary.open, summary.kev, summary.breached), (15, 2, 2));
        let mut bands: Vec<(String, u64)> = ["urgent", "high", "medium", "low"]
            .into_iter()
            .map(|b| (b.to_owned(), 0))
            .collect();
        for f in all.iter().filter(|f| f.state.is_open()) {
            if let Some((_, n)) = bands.iter_mut().find(|(b, _)| b == band(f.priority)) {
                *n += 1;
            }
        }
        assert_eq!(summary.by_band, bands);
        assert_eq!(
            summary.by_band,
            [
                ("urgent".into(), 2),
                ("high".into(), 2),
                ("medium".into(), 10),
                ("low".into(), 1)
            ]
        );
        let state_count = |st: FindingState| {
            summary
                .by_state
                .iter()
                .find(|(s, _)| *s == st)
                .map(|(_, n)| *n)
        };
        assert_eq!(summary.by_state.len(), FindingState::ALL.len());
        assert_eq!(state_count(FindingState::New), Some(12));
        assert_eq!(state_count(FindingState::Affected), Some(3));
        assert_eq!(state_count(FindingState::Fixed), Some(1));
        assert_eq!(state_count(FindingState::RiskAccepted), Some(1));
        assert_eq!(state_count(FindingState::Verified), Some(0));
        assert_eq!(
            summary.by_client,
            [
                ClientFindings {
                    client_id: acme.id,
                    client_name: "Acme".into(),
                    open: 12,
                    kev: 2,
                    breached: 2,
                    top_priority: 650,
                },
                ClientFindings {
                    client_id: beta.id,
                    client_name: "Beta".into(),
                    open: 3,
                    kev: 0,
                    breached: 0,
                    top_priority: 400,
                },
            ]
        );
        let beta_only = s
            .findings_summary(Some(beta.id), now())
            .await
            .expect("summary");
        assert_eq!(
            (beta_only.open, beta_only.kev, beta_only.breached),
            (3, 0, 0)
        );
        assert_eq!(beta_only.by_client.len(), 1);
        assert_eq!(
            beta_only.by_state.iter().map(|(_, n)| n).sum::<u64>(),
            5,
            "every state of the client's findings"
        );
        assert_eq!(
            s.expired_risk_acceptances(at_days(10))
                .await
                .expect("expired")
                .len(),
            1
        );
    })
}

/// Batches larger than one multi-row statement: every chunk lands, in one transaction.
fn fleet_large_batches(s: SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let acme = client(&s, "Acme").await;
        let shop = site(&s, acme.id, "shop").await;
        let live = environment(&s, &shop, EnvironmentKind::Live, "live").await;
        let many: Vec<Package> = (0..1_201)
            .map(|i| {
                pkg(
                    Ecosystem::Npm,
                    "",
                    &format!("pkg-{i:04}"),
                    "1.0.0",
                    i % 2 == 0,
                )
            })
            .collect();
        let first = upload(live.id, None, &[], &many, at_mins(0));
        s.save_snapshot(&first).await.expect("big upload");
        assert_eq!(
            s.environment_packages(live.id).await.expect("index").len(),
            1_201
        );
        let upgraded: Vec<Package> = many
            .iter()
            .map(|p| Package {
                version: "1.0.1".into(),
                ..p.clone()
            })
            .collect();
        let second = upload(live.id, Some(first.id), &many, &upgraded, at_mins(1));
        s.save_snapshot(&second).await.expect("big upgrade");
        assert_eq!(
            sorted(s.environment_packages(live.id).await.expect("index")),
            sorted(upgraded.clone())
        );
        let third = upload(live.id, Some(second.id), &upgraded, &[], at_mins(2));
        let sum = s.save_snapshot(&third).await.expect("everything removed");
        assert_eq!((sum.packages, sum.removed), (0, 1_201));
        assert!(
            s.environment_packages(live.id)
                .await
                .expect("index")
                .is_empty()
        );

        let created: Vec<Finding> = (0..1_201)
            .map(|i| {
                let key = PackageKey::new(Ecosystem::Npm, "", &format!("pkg-{i:04}"));
                new_finding(&live, &key, "CVE-2024-0001", FindingState::New, i % 7)
            })
            .collect();
        let events: Vec<FindingEvent> = created.iter().map(detected).collect();
        s.apply_finding_changes(&FindingChanges {
            created: created.clone(),
            updated: vec![],
            events,
        })
        .await
        .expect("big batch");
        let closed: Vec<Finding> = created
            .iter()
            .map(|f| Finding {
                state: FindingState::Fixed,
                updated_at: at_days(1),
                ..f.clone()
            })
            .collect();
        let events: Vec<FindingEvent> = closed
            .iter()
            .map(|f| {
                FindingEvent::new(
                    f,
                    at_days(1),
                    None,
                    EventKind::Fixed,
                    Some(FindingState::New),
                    "upgraded",
                )
            })
            .collect();
        s.apply_finding_changes(&FindingChanges {
            created: vec![],
            updated: closed.clone(),
            events,
        })
        .await
        .expect("big update");
        let summary = s.findings_summary(None, now()).await.expect("summary");
        assert_eq!(summary.open, 0);
        assert_eq!(
            summary
                .by_state
                .iter()
                .find(|(st, _)| *st == FindingState::Fixed),
            Some(&(FindingState::Fixed, 1_201))
        );
        assert_eq!(
            s.findings_daily(None, day0()).await.expect("daily"),
            daily(&[(day0(), 1_201, 0), (date(2026, 11, 24), 0, 1_201)])
        );
        let last = closed.last().expect("findings");
        assert_eq!(&s.get_finding(last.id).await.expect("last"), last);
        assert_eq!(s.finding_events(last.id).await.expect("events").len(), 2);
    })
}

fn audit_event(i: u64, client: Option<&str>) -> palisade_audit::Event {
    palisade_audit::Event {
        id: palisade_core::AuditEventId::new(),
        at_micros: 1_700_000_000_000_000 + i as i64,
        kind: if i.is_multiple_of(2) {
            palisade_audit::EventKind::Change
        } else {
            palisade_audit::EventKind::Request
        },
        action: if i.is_multiple_of(2) {
            "client.update".into()
        } else {
            "http.request".into()
        },
        actor: Some(format!("user:{}", i % 3)),
        client: client.map(str::to_owned),
        object: Some(format!("site:{}", i % 5)),
        request_id: Some(format!("req-{i}")),
        data: format!("{{\"i\":{i},\"text\":\"' OR 1=1; -- \\u0000\"}}"),
    }
}

fn audit_log(s: SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        use palisade_audit::{DigestBody, Hash, SigningKey, Verifier};
        assert_eq!(s.audit_head().await.expect("head"), (0, Hash::GENESIS));
        assert!(s.append_audit(Vec::new()).await.expect("empty").is_empty());

        let first = s
            .append_audit((1..=3).map(|i| audit_event(i, Some("client-a"))).collect())
            .await
            .expect("append");
        assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(first[0].prev, Hash::GENESIS);

        // Appenders racing each other queue on the head: one unbroken chain, no sequence number twice.
        let mut tasks = Vec::new();
        for t in 0..6u64 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                for b in 0..5u64 {
                    let client = if t % 2 == 0 { Some("client-b") } else { None };
                    s.append_audit(
                        (0..7)
                            .map(|i| audit_event(100 + t * 100 + b * 10 + i, client))
                            .collect(),
                    )
                    .await
                    .expect("concurrent append");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let head = s.audit_head().await.expect("head");
        assert_eq!(head.0, 3 + 6 * 5 * 7);
        let mut all = Vec::new();
        let mut from = 1;
        loop {
            let page = s.audit_events_from(from, 50).await.expect("read");
            let Some(last) = page.last() else { break };
            from = last.seq + 1;
            all.extend(page);
        }
        assert_eq!(all.len() as u64, head.0);
        assert_eq!(all.last().map(|e| e.hash), Some(head.1));
        let mut v = Verifier::new(&[], Vec::new(), i64::MAX);
        all.iter().for_each(|e| v.push(e));
        let report = v.finish();
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!(report.unsealed, head.0);
        assert_eq!(
            all[0].event, first[0].event,
            "stored verbatim, hostile text included"
        );

        let one = s.audit_event(all[10].event.id).await.expect("by id");
        assert_eq!(one, all[10]);

        // Search: newest first, each filter, and paging by sequence number.
        let q = |f: fn(&mut AuditQuery)| {
            let mut q = AuditQuery {
                limit: 1000,
                ..AuditQuery::default()
            };
            f(&mut q);
            q
        };
        let by_client = s
            .search_audit(&q(|q| q.client = Some("client-b".into())))
            .await
            .expect("search");
        assert_eq!(by_client.len(), 3 * 5 * 7);
        assert!(by_client.windows(2).all(|w| w[0].seq > w[1].seq));
        let expect = |pred: &dyn Fn(&palisade_audit::ChainedEvent) -> bool| {
            all.iter().filter(|e| pred(e)).count()
        };
        assert_eq!(
            s.search_audit(&q(|q| q.actor = Some("user:1".into())))
                .await
                .expect("actor")
                .len(),
            expect(&|e| e.event.actor.as_deref() == Some("user:1"))
        );
        assert_eq!(
            s.search_audit(&q(|q| q.object = Some("site:2".into())))
                .await
                .expect("object")
                .len(),
            expect(&|e| e.event.object.as_deref() == Some("site:2"))
        );
        assert_eq!(
            s.search_audit(&q(|q| q.action = Some("client.".into())))
                .await
                .expect("prefix")
                .len(),
            expect(&|e| e.event.action == "client.update")
        );
        assert_eq!(
            s.search_audit(&q(|q| q.action = Some("client".into())))
                .await
                .expect("a prefix without the dot")
                .len(),
            expect(&|e| e.event.action == "client.update")
        );
        assert!(
            s.search_audit(&q(|q| q.action = Some("%".into())))
                .await
                .expect("literal")
                .is_empty()
        );
        assert_eq!(
            s.search_audit(&q(|q| q.kind = Some(palisade_audit::EventKind::Request)))
                .await
                .expect("kind")
                .len(),
            expect(&|e| e.event.kind == palisade_audit::EventKind::Request)
        );
        let t0 = 1_700_000_000_000_000;
        assert_eq!(
            s.search_audit(&q(|q| {
                q.from_micros = Some(1_700_000_000_000_000 + 200);
                q.to_micros = Some(1_700_000_000_000_000 + 300);
            }))
            .await
            .expect("time")
            .len(),
            expect(&|e| (t0 + 200..t0 + 300).contains(&e.event.at_micros))
        );
        let page1 = s
            .search_audit(&AuditQuery {
                limit: 10,
                ..AuditQuery::default()
            })
            .await
            .expect("page 1");
        let page2 = s
            .search_audit(&AuditQuery {
                limit: 10,
                before_seq: page1.last().map(|e| e.seq),
                ..AuditQuery::default()
            })
            .await
            .expect("page 2");
        assert_eq!(page1[0].seq, head.0);
        assert_eq!(page2[0].seq, page1[9].seq - 1);

        // Digests: stored, conflicting numbers refused, found by range.
        assert_eq!(s.last_digest().await.expect("none"), None);
        let key = SigningKey::generate();
        let d1 = key.sign(DigestBody {
            number: 1,
            first_seq: 1,
            count: 3,
            root: Hash([1; 32]),
            chain_head: first[2].hash,
            previous: Hash::GENESIS,
            sealed_at_micros: t0,
            key_id: key.verifying_key().key_id(),
        });
        s.insert_digest(&d1).await.expect("digest 1");
        assert!(matches!(
            s.insert_digest(&d1).await,
            Err(StoreError::Conflict(_))
        ));
        let d2 = key.sign(DigestBody {
            number: 2,
            first_seq: 4,
            count: 0,
            root: Hash([2; 32]),
            chain_head: first[2].hash,
            previous: d1.fingerprint(),
            sealed_at_micros: t0 + 1,
            key_id: key.verifying_key().key_id(),
        });
        s.insert_digest(&d2).await.expect("digest 2");
        assert_eq!(s.last_digest().await.expect("last"), Some(d2.clone()));
        assert_eq!(
            s.digests_from(1, 10).await.expect("from"),
            vec![d1.clone(), d2]
        );
        assert_eq!(s.digest_covering(3).await.expect("covering"), Some(d1));
        assert_eq!(s.digest_covering(4).await.expect("not covered"), None);

        // Shipping state moves by compare-and-swap.
        let st = s.shipping_state().await.expect("state");
        assert_eq!(st, ShippingState::default());
        let planned = ShippingState {
            planned_seq: 40,
            ..st
        };
        s.set_shipping_state(st, planned).await.expect("plan");
        assert!(matches!(
            s.set_shipping_state(st, planned).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(s.shipping_state().await.expect("state"), planned);
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
async fn conformance_fleet_snapshots() {
    on_every_backend("inventory snapshots and installations", fleet_snapshots).await;
}

#[tokio::test]
async fn conformance_fleet_installed_versions() {
    on_every_backend("installed versions in key order", fleet_installed_versions).await;
}

#[tokio::test]
async fn conformance_fleet_findings_lifecycle() {
    on_every_backend(
        "findings, events, triage, daily counts",
        fleet_findings_lifecycle,
    )
    .await;
}

#[tokio::test]
async fn conformance_fleet_finding_lists() {
    on_every_backend("finding lists, paging and summary", fleet_finding_lists).await;
}

/// The findings and events indexes present, by name.
async fn finding_indexes(raw: &Raw) -> Vec<String> {
    let sql = match raw {
        Raw::Sqlite(_) => {
            "SELECT name FROM sqlite_master WHERE type = 'index' \
             AND tbl_name IN ('findings', 'finding_events') AND sql IS NOT NULL ORDER BY name"
        }
        Raw::Postgres(_) => {
            "SELECT indexname::text FROM pg_indexes WHERE tablename IN ('findings', 'finding_events') \
             AND indexname NOT LIKE '%key' ORDER BY indexname"
        }
    };
    raw.text(sql, &[]).await.into_iter().flatten().collect()
}

fn fleet_deferred_indexes(s: SqlStore, raw: Raw) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let all = finding_indexes(&raw).await;
        assert!(all.contains(&"findings_open".to_owned()), "{all:?}");
        assert!(
            s.defer_finding_indexes().await.unwrap(),
            "an empty store defers"
        );
        let left = finding_indexes(&raw).await;
        // Matching reads by the identity key; the events' index by finding takes its rows in
        // key order.
        assert_eq!(
            left,
            vec!["finding_events_by_finding".to_owned()],
            "the events' index stays"
        );
        assert!(
            !s.defer_finding_indexes().await.unwrap(),
            "already deferred"
        );

        // Written and read while deferred, as a first match does.
        let acme = client(&s, "Acme").await;
        let shop = site(&s, acme.id, "shop").await;
        let live = environment(&s, &shop, EnvironmentKind::Live, "live").await;
        let key = PackageKey::new(Ecosystem::Npm, "", "lodash");
        let f = new_finding(&live, &key, "CVE-2024-1", FindingState::New, 300);
        s.apply_finding_changes(&FindingChanges {
            created: vec![f.clone()],
            updated: vec![],
            events: vec![detected(&f)],
        })
        .await
        .unwrap();
        let open = s.list_findings(&FindingQuery::default()).await.unwrap();
        assert_eq!(open.items, vec![f.clone()]);

        // The process stops before it rebuilds them: the next start does.
        s.migrate().await.unwrap();
        assert_eq!(finding_indexes(&raw).await, all);
        s.restore_finding_indexes().await.unwrap();
        assert_eq!(
            finding_indexes(&raw).await,
            all,
            "a second rebuild changes nothing"
        );
        assert!(
            !s.defer_finding_indexes().await.unwrap(),
            "a store with findings keeps its indexes"
        );
        assert_eq!(finding_indexes(&raw).await, all);

        // A finding stored before migration 0014 (the whole finding as its body, no detail) reads
        // back as it was, events too.
        let mut old = new_finding(&live, &key, "CVE-2024-2", FindingState::Affected, 200);
        old.version = "0.9.0".into();
        let body = serde_json::to_string(&old).unwrap();
        raw.exec(
            "INSERT INTO findings (id, client_id, site_id, environment_id, ecosystem, qualifier, \
             name, version, alias_group, state, is_open, priority, kev, detected_at, updated_at, body) \
             VALUES ($1, $2, $3, $4, 'npm', '', 'lodash', '0.9.0', 'CVE-2024-2', 'affected', TRUE, \
             200, FALSE, 0, 0, $5)",
            &[
                &old.id.to_string(),
                &old.client_id.to_string(),
                &old.site_id.to_string(),
                &old.environment_id.to_string(),
                &body,
            ],
        )
        .await;
        let e = detected(&old);
        raw.exec(
            "INSERT INTO finding_events (id, finding_id, client_id, at, kind, body) \
             VALUES ($1, $2, $3, 0, 'detected', $4)",
            &[
                &e.id.to_string(),
                &old.id.to_string(),
                &old.client_id.to_string(),
                &serde_json::to_string(&e).unwrap(),
            ],
        )
        .await;
        assert_eq!(s.get_finding(old.id).await.unwrap(), old);
        assert_eq!(s.finding_events(old.id).await.unwrap(), vec![e]);
        let both = s
            .findings_of(std::slice::from_ref(&key), None)
            .await
            .unwrap();
        assert_eq!(both.len(), 2);
        assert!(both.contains(&old) && both.contains(&f));
    })
}

#[tokio::test]
async fn conformance_fleet_deferred_indexes() {
    on_every_backend_raw(
        "findings indexes deferred and rebuilt; findings stored before details",
        |_| Box::pin(async {}),
        Some(fleet_deferred_indexes),
    )
    .await;
}

#[tokio::test]
async fn conformance_fleet_large_batches() {
    on_every_backend("batches larger than one statement", fleet_large_batches).await;
}

/// Search over a log of several thousand events (the bucketed indexes of migration 0006 hold
/// 1,024 sequence numbers per bucket): each filter, alone and combined, page after page, gives
/// exactly what filtering every event gives. And the leaves read for verification are the events'.
fn audit_search_across_buckets(s: SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        use palisade_audit::Leaf;
        let mut all = Vec::new();
        for b in 0..10u64 {
            let events = (0..700u64)
                .map(|i| {
                    let n = b * 700 + i;
                    let mut e = audit_event(
                        n,
                        (n % 4 != 0).then_some(["c-0", "c-1", "c-2"][(n % 3) as usize]),
                    );
                    e.actor = Some(format!("user:{}", n % 7));
                    // One rare object, in a few old events only.
                    e.object = Some(if n % 2_000 == 17 {
                        "site:rare".into()
                    } else {
                        format!("site:{}", n % 50)
                    });
                    e
                })
                .collect();
            all.extend(s.append_audit(events).await.expect("append"));
        }
        assert_eq!(all.len(), 7_000);
        let cases: Vec<(&str, AuditQuery)> = vec![
            (
                "client",
                AuditQuery {
                    client: Some("c-1".into()),
                    ..AuditQuery::default()
                },
            ),
            (
                "actor",
                AuditQuery {
                    actor: Some("user:3".into()),
                    ..AuditQuery::default()
                },
            ),
            (
                "rare object",
                AuditQuery {
                    object: Some("site:rare".into()),
                    ..AuditQuery::default()
                },
            ),
            (
                "absent object",
                AuditQuery {
                    object: Some("site:none".into()),
                    ..AuditQuery::default()
                },
            ),
            (
                "client and actor",
                AuditQuery {
                    client: Some("c-2".into()),
                    actor: Some("user:5".into()),
                    ..AuditQuery::default()
                },
            ),
            (
                "client, action and time",
                AuditQuery {
                    client: Some("c-0".into()),
                    action: Some("client.".into()),
                    from_micros: Some(1_700_000_000_000_000 + 1_000),
                    to_micros: Some(1_700_000_000_000_000 + 6_000),
                    ..AuditQuery::default()
                },
            ),
        ];
        for (name, q) in cases {
            let expected: Vec<u64> = all
                .iter()
                .rev()
                .filter(|c| {
                    let e = &c.event;
                    q.client
                        .as_ref()
                        .is_none_or(|v| e.client.as_ref() == Some(v))
                        && q.actor.as_ref().is_none_or(|v| e.actor.as_ref() == Some(v))
                        && q.object
                            .as_ref()
                            .is_none_or(|v| e.object.as_ref() == Some(v))
                        && q.action
                            .as_ref()
                            .is_none_or(|v| e.action.starts_with(v.as_str()))
                        && q.from_micros.is_none_or(|t| e.at_micros >= t)
                        && q.to_micros.is_none_or(|t| e.at_micros < t)
                })
                .map(|c| c.seq)
                .collect();
            // Pages of 97, each after the last one's smallest sequence number.
            let mut got = Vec::new();
            let mut before = None;
            loop {
                let page = s
                    .search_audit(&AuditQuery {
                        limit: 97,
                        before_seq: before,
                        ..q.clone()
                    })
                    .await
                    .expect("search");
                got.extend(page.iter().map(|c| c.seq));
                let Some(last) = page.last() else { break };
                before = Some(last.seq);
                if page.len() < 97 {
                    break;
                }
            }
            assert_eq!(got, expected, "{name}");
        }
        assert_eq!(
            s.search_audit(&AuditQuery {
                object: Some("site:rare".into()),
                limit: 10,
                ..AuditQuery::default()
            })
            .await
            .expect("rare")
            .iter()
            .map(|c| c.seq)
            .collect::<Vec<_>>(),
            [6018, 4018, 2018, 18],
        );

        let leaves = s.audit_leaves_from(6_990, 100).await.expect("leaves");
        let expected: Vec<Leaf> = all[6_989..].iter().map(Leaf::of).collect();
        assert_eq!(leaves, expected);
        assert!(leaves.iter().all(Leaf::intact));
    })
}

#[tokio::test]
async fn conformance_audit_search_across_buckets() {
    on_every_backend(
        "audit search across index buckets",
        audit_search_across_buckets,
    )
    .await;
}

#[tokio::test]
async fn conformance_audit_log() {
    on_every_backend("audit log: chain, concurrency, search, digests", audit_log).await;
}

/// Patch campaigns: a start that opens tickets in the same transaction as the campaign's new
/// state (and writes nothing when it loses a race), steps with their compare-and-swap, the
/// client's ticket resolved with the step that finishes it, and the per-client views.
fn campaigns(s: SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    use palisade_campaign::{
        Campaign, CampaignClient, CampaignEnv, CampaignEvent, CampaignState, EventKind as CK,
        PackageFix, Step,
    };
    use palisade_core::{CampaignEventId, CampaignId, TicketId};
    use palisade_desk::sla::Priority;
    use palisade_desk::ticket::{
        Actor, Category, NewTicket, TicketState, TimelineKind, Visibility,
    };
    Box::pin(async move {
        let acme = client(&s, "Acme").await;
        let other = client(&s, "Other").await;
        let shop = site(&s, acme.id, "shop").await;
        let live = environment(&s, &shop, EnvironmentKind::Live, "live").await;
        let staging = environment(&s, &shop, EnvironmentKind::Staging, "staging").await;
        let id = CampaignId::new();
        let by = UserId::new();
        let mut c = Campaign {
            id,
            title: "Patch CVE-2022-39261".into(),
            advisory: "CVE-2022-39261".into(),
            aliases: vec!["CVE-2022-39261".into(), "GHSA-52m2-vc4m-jj33".into()],
            summary: "Twig 'quoted' <b>path</b> traversal".into(),
            severity: "high".into(),
            state: CampaignState::Planned,
            source_ticket: None,
            created_by: by,
            created_at: now(),
            started_at: None,
            finished_at: None,
            version: 1,
        };
        let mut cl = CampaignClient {
            campaign_id: id,
            client_id: acme.id,
            client_name: acme.name.clone(),
            rank: 1,
            planned_for: Some(date(2026, 12, 1)),
            ticket_id: None,
            done_at: None,
        };
        let env = |e: &Environment, position: i32| CampaignEnv {
            campaign_id: id,
            environment_id: e.id,
            client_id: acme.id,
            site_id: shop.id,
            site_name: shop.name.clone(),
            environment_name: e.name.clone(),
            kind: e.kind,
            position,
            step: Step::Pending,
            tests_passed: false,
            packages: vec![PackageFix {
                finding: FindingId::new(),
                package: "twig/twig".into(),
                ecosystem: "Packagist".into(),
                installed: "v3.4.0".into(),
                fixed: vec!["3.4.3".into()],
            }],
            priority: 61,
            exception: None,
            updated_at: now(),
            version: 1,
        };
        let envs = vec![env(&live, 20), env(&staging, 10)];
        let ev = |kind: CK, client: Option<ClientId>, env: Option<EnvironmentId>| CampaignEvent {
            id: CampaignEventId::new(),
            campaign_id: id,
            client_id: client,
            environment_id: env,
            at: now(),
            actor: Some(by),
            kind,
            detail: serde_json::json!({"why": "conformance"}),
        };
        s.create_campaign(&c, &[cl.clone()], &envs, &ev(CK::Planned, None, None))
            .await
            .expect("create");
        assert_eq!(s.get_campaign(id).await.expect("get"), c);
        assert_eq!(
            s.campaign_clients(id).await.expect("clients"),
            vec![cl.clone()]
        );
        let stored = s.campaign_envs(id, None).await.expect("envs");
        assert_eq!(
            stored
                .iter()
                .map(|e| e.environment_name.as_str())
                .collect::<Vec<_>>(),
            ["staging", "live"],
            "in promotion order"
        );
        assert_eq!(stored[0], envs[1]);
        assert_eq!(
            s.list_campaigns(None, None, 0).await.expect("list").items,
            vec![c.clone()]
        );
        assert!(
            s.list_campaigns(Some(other.id), None, 0)
                .await
                .expect("list")
                .items
                .is_empty()
        );
        assert!(
            s.active_campaign_envs(live.id)
                .await
                .expect("active")
                .is_empty(),
            "planned"
        );

        // The start opens the ticket with the campaign's new state; a stale one writes nothing.
        let ticket = NewTicket {
            id: TicketId::new(),
            client_id: acme.id,
            site_id: Some(shop.id),
            subject: "Security update for your sites".into(),
            category: Category::Security,
            priority: Priority::High,
            body: "We will patch staging first.".into(),
            created_by: Actor::Staff(by),
            at: now(),
        };
        let created = ticket.created_event().expect("created");
        let mut started = c.clone();
        started.state = CampaignState::Active;
        started.started_at = Some(now());
        started.version = 2;
        cl.ticket_id = Some(ticket.id);
        let mut stale = started.clone();
        stale.version = 3;
        let r = s
            .save_campaign(
                &stale,
                &[cl.clone()],
                &[],
                &[(ticket.clone(), created.clone())],
                &[],
                &[ev(CK::Started, None, None)],
            )
            .await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
        let q = TicketQuery {
            client: Some(acme.id),
            ..TicketQuery::default()
        };
        assert!(
            s.list_tickets(&q).await.expect("tickets").items.is_empty(),
            "nothing written"
        );
        assert_eq!(s.campaign_events(id, None).await.expect("events").len(), 1);
        s.save_campaign(
            &started,
            &[cl.clone()],
            &[],
            &[(ticket.clone(), created)],
            &[],
            &[ev(CK::Started, None, None)],
        )
        .await
        .expect("start");
        c = started;
        assert_eq!(s.get_campaign(id).await.expect("get"), c);
        assert_eq!(
            s.campaign_clients(id).await.expect("clients")[0].ticket_id,
            Some(ticket.id)
        );
        let opened = s.get_ticket(ticket.id).await.expect("ticket");
        assert_eq!(opened.category, Category::Security);
        assert_eq!(
            s.active_campaign_envs(live.id).await.expect("active").len(),
            1
        );

        // A step against a stale environment version is refused.
        let mut step = s.campaign_envs(id, None).await.expect("envs")[0].clone();
        step.step = Step::Patched;
        step.version = 5;
        let write = |env: CampaignEnv| StepWrite {
            env: env.clone(),
            events: vec![ev(CK::Patched, Some(acme.id), Some(env.environment_id))],
            client: None,
            ticket: None,
            campaign: None,
        };
        assert!(matches!(
            s.record_step(&write(step.clone())).await,
            Err(StoreError::Conflict(_))
        ));
        step.version = 2;
        s.record_step(&write(step.clone())).await.expect("step");
        assert_eq!(
            s.campaign_envs(id, None).await.expect("envs")[0].step,
            Step::Patched
        );

        // The step that finishes the client resolves its ticket and completes the campaign.
        let mut last = s.campaign_envs(id, None).await.expect("envs")[1].clone();
        last.step = Step::Excluded;
        last.exception = Some("decommissioned on the 'first' <of> the month".into());
        last.version += 1;
        let (t1, reply) = opened
            .apply(
                TimelineKind::Reply {
                    visibility: Visibility::Public,
                    body: "All done.".into(),
                },
                Actor::System,
                now(),
            )
            .expect("reply");
        let (t2, resolved) = t1
            .apply(
                TimelineKind::StateChanged {
                    from: t1.state,
                    to: TicketState::Resolved,
                    reason: None,
                },
                Actor::System,
                now(),
            )
            .expect("resolve");
        let mut done = cl.clone();
        done.done_at = Some(now());
        let mut completed = c.clone();
        completed.state = CampaignState::Completed;
        completed.finished_at = Some(now());
        completed.version = 3;
        s.record_step(&StepWrite {
            env: last.clone(),
            events: vec![
                ev(CK::Excluded, Some(acme.id), Some(last.environment_id)),
                ev(CK::ClientDone, Some(acme.id), None),
                ev(CK::Completed, None, None),
            ],
            client: Some(done.clone()),
            ticket: Some((t2.clone(), vec![reply, resolved])),
            campaign: Some(completed.clone()),
        })
        .await
        .expect("finish");
        assert_eq!(
            s.get_ticket(ticket.id).await.expect("ticket").state,
            TicketState::Resolved
        );
        assert_eq!(s.ticket_events(ticket.id).await.expect("timeline").len(), 3);
        assert_eq!(s.get_campaign(id).await.expect("get"), completed);
        assert_eq!(s.campaign_clients(id).await.expect("clients"), vec![done]);
        assert_eq!(s.campaign_envs(id, None).await.expect("envs")[1], last);
        assert!(
            s.active_campaign_envs(live.id)
                .await
                .expect("active")
                .is_empty(),
            "completed"
        );

        // Another client sees the campaign's start and end only, never its plan or steps.
        let theirs: Vec<CK> = s
            .campaign_events(id, Some(other.id))
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(theirs, [CK::Started, CK::Completed]);
        assert_eq!(
            s.campaign_events(id, Some(acme.id))
                .await
                .expect("events")
                .len(),
            5
        );
        assert!(
            s.campaign_envs(id, Some(other.id))
                .await
                .expect("envs")
                .is_empty()
        );
    })
}

#[tokio::test]
async fn conformance_campaigns() {
    on_every_backend("patch campaigns", campaigns).await;
}

/// Encryption at rest and key rotation: sealed columns hold no plaintext; data written under key 1
/// reads after key 2 is added and after the re-encryption pass; rows from before encryption
/// ("version 0") are sealed by the pass; a value moved to another record does not open.
fn encryption_at_rest(s: SqlStore, raw: Raw) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let acme = client(&s, "Acme").await;
        let ana_input = ContactInput {
            name: "Ana".into(),
            email: "ana@acme.example".into(),
            phone: Some("+44 20 7946 0001".into()),
            title: Some("CTO".into()),
        };
        let ana = s
            .create_contact(acme.id, &ana_input, now())
            .await
            .expect("contact under key 1");
        let ana_id = ana.id.to_string();
        let stored_email = raw
            .one("SELECT email FROM contacts WHERE id = $1", &[&ana_id])
            .await;
        let stored_phone = raw
            .one("SELECT phone FROM contacts WHERE id = $1", &[&ana_id])
            .await;
        assert!(stored_email.starts_with("pz1:1:"), "{stored_email}");
        assert!(stored_phone.starts_with("pz1:1:"), "{stored_phone}");
        assert!(!stored_email.contains("ana") && !stored_phone.contains("7946"));
        assert_eq!(
            raw.one("SELECT title FROM contacts WHERE id = $1", &[&ana_id])
                .await,
            "CTO",
            "only sensitive columns are sealed"
        );

        let totp: &[u8] = b"12345678901234567890";
        let user = s
            .create_user(
                &NewUserRecord {
                    email: "sec@example.com".into(),
                    display_name: "Sec".into(),
                    role: Role::Security,
                    client_id: None,
                    password_hash: "$argon2id$stub".into(),
                },
                now(),
            )
            .await
            .expect("user");
        s.set_totp(user.id, Some(totp), None).await.expect("totp");
        let user_id = user.id.to_string();
        let stored_totp = raw
            .one("SELECT totp_secret FROM users WHERE id = $1", &[&user_id])
            .await;
        assert!(stored_totp.starts_with("pz1:1:"), "{stored_totp}");
        assert!(!stored_totp.contains(&hex_of(totp)));

        // A contact from before encryption at rest: plaintext, key version 0 (the migration's default).
        let legacy_id = ContactId::new().to_string();
        raw.exec(
            "INSERT INTO contacts (id, client_id, name, email, phone, title, archived_at, created_at, updated_at) \
             VALUES ($1, $2, 'Old', 'old@acme.example', NULL, NULL, NULL, 0, 0)",
            &[&legacy_id, &acme.id.to_string()],
        )
        .await;
        let legacy_id: ContactId = legacy_id.parse().expect("id");
        assert_eq!(
            s.get_contact(legacy_id).await.expect("plaintext row").email,
            "old@acme.example"
        );

        // Rotation: key 2 is added. Everything under key 1 still reads, before any re-encryption.
        let v1 = s.keyring().current();
        s.keyring().replace(v1.rotated());
        assert_eq!(s.get_contact(ana.id).await.expect("after rotation"), ana);
        assert_eq!(
            s.user_auth(user.id)
                .await
                .expect("user")
                .totp_secret
                .as_deref(),
            Some(totp)
        );
        let listed = s
            .list_contacts(&ListQuery {
                client: Some(acme.id),
                ..Default::default()
            })
            .await
            .expect("list");
        assert_eq!(listed.items.len(), 2);
        // New writes are sealed with the new key.
        let bo = s
            .create_contact(
                acme.id,
                &ContactInput {
                    name: "Bo".into(),
                    email: "bo@acme.example".into(),
                    phone: None,
                    title: None,
                },
                now(),
            )
            .await
            .expect("contact under key 2");
        let bo_id = bo.id.to_string();
        assert!(
            raw.one("SELECT email FROM contacts WHERE id = $1", &[&bo_id])
                .await
                .starts_with("pz1:2:")
        );
        let usage = s.key_usage().await.expect("usage");
        let of = |table: &str, version: u32| {
            usage
                .iter()
                .find(|u| u.table == table && u.version == version)
                .map(|u| (u.records, u.values))
        };
        assert_eq!(of("contacts", 0), Some((1, 1)), "{usage:?}");
        assert_eq!(of("contacts", 1), Some((1, 2)), "{usage:?}");
        assert_eq!(of("contacts", 2), Some((1, 1)), "{usage:?}");
        assert_eq!(of("users", 1), Some((1, 1)), "{usage:?}");

        // The re-encryption pass moves every row to key 2, the plaintext one included.
        let mut reported = 0;
        let done = s
            .reencrypt(&mut |_, n| reported += n)
            .await
            .expect("re-encrypt");
        assert_eq!((done.records, done.version, reported), (3, 2, 3));
        let usage = s.key_usage().await.expect("usage");
        assert!(usage.iter().all(|u: &KeyUsage| u.version == 2), "{usage:?}");
        for (sql, id) in [
            ("SELECT email FROM contacts WHERE id = $1", &ana_id),
            ("SELECT phone FROM contacts WHERE id = $1", &ana_id),
            ("SELECT totp_secret FROM users WHERE id = $1", &user_id),
        ] {
            let v = raw.one(sql, &[id]).await;
            assert!(v.starts_with("pz1:2:"), "{sql}: {v}");
        }
        let legacy_stored = raw
            .one(
                "SELECT email FROM contacts WHERE id = $1",
                &[&legacy_id.to_string()],
            )
            .await;
        assert!(legacy_stored.starts_with("pz1:2:") && !legacy_stored.contains("old@"));
        assert_ne!(
            raw.one("SELECT email FROM contacts WHERE id = $1", &[&ana_id])
                .await,
            stored_email
        );
        // …and everything still reads the same.
        assert_eq!(s.get_contact(ana.id).await.expect("after pass"), ana);
        assert_eq!(s.get_contact(bo.id).await.expect("after pass"), bo);
        assert_eq!(
            s.get_contact(legacy_id).await.expect("legacy").email,
            "old@acme.example"
        );
        let auth = s.user_auth(user.id).await.expect("user");
        assert_eq!(auth.totp_secret.as_deref(), Some(totp));
        assert!(auth.user.mfa_enabled);
        assert_eq!(
            s.reencrypt(&mut |_, _| {}).await.expect("again").records,
            0,
            "a second pass finds nothing to do"
        );

        s.probe_keys()
            .await
            .expect("the keyring opens what the database holds");
        let v2 = s.keyring().current();
        // Another installation's keyring, with the same version numbers: noticed by the probe.
        s.keyring().replace(Keyring::generate().rotated());
        let err = s.probe_keys().await.expect_err("wrong keys");
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("key version 2")),
            "{err}"
        );
        // A node that only has key 1 is told which key it lacks.
        s.keyring().replace((*v1).clone());
        let err = s.get_contact(ana.id).await.expect_err("key 2 missing");
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("key version 2")),
            "{err}"
        );
        s.keyring().replace((*v2).clone());

        // A sealed value copied into another record does not open there.
        let ana_email = raw
            .one("SELECT email FROM contacts WHERE id = $1", &[&ana_id])
            .await;
        raw.exec(
            "UPDATE contacts SET email = $1 WHERE id = $2",
            &[&ana_email, &bo_id],
        )
        .await;
        let err = s.get_contact(bo.id).await.expect_err("moved value");
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("contacts.email")),
            "{err}"
        );
    })
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn conformance_encryption_at_rest() {
    on_every_backend_raw(
        "encryption at rest and key rotation",
        |_| Box::pin(async {}),
        Some(encryption_at_rest),
    )
    .await;
}

/// The desk: ticket numbers, filters, the optimistic append, the timeline in order, and message
/// bodies sealed in the database.
fn desk(s: SqlStore, raw: Raw) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    use palisade_core::TicketId;
    use palisade_desk::sla::Priority;
    use palisade_desk::ticket::{
        Actor, Category, NewTicket, Ticket, TicketState, TimelineKind, Visibility,
    };
    Box::pin(async move {
        let mk = |name: &str| ClientInput {
            name: name.into(),
            contract: contract("Europe/London"),
        };
        let acme = s.create_client(&mk("Acme"), now()).await.expect("acme");
        let other = s.create_client(&mk("Other"), now()).await.expect("other");
        let site = s
            .create_site(
                &NewSite {
                    client_id: acme.id,
                    name: "shop".into(),
                    url: "https://shop.acme.example".into(),
                },
                now(),
            )
            .await
            .expect("site");
        let client_user = UserId::new();
        let open = |client: ClientId, priority: Priority, body: &str| NewTicket {
            id: TicketId::new(),
            client_id: client,
            site_id: (client == acme.id).then_some(site.id),
            subject: "  Checkout fails  ".into(),
            category: Category::Incident,
            priority,
            body: body.into(),
            created_by: Actor::Client(client_user),
            at: now(),
        };
        let first = open(acme.id, Priority::Critical, "Card payments return 500");
        let t1 = s
            .create_ticket(&first, &first.created_event().expect("valid"))
            .await
            .expect("create");
        assert_eq!(
            (t1.number, t1.state, t1.version, t1.subject.as_str()),
            (1, TicketState::New, 1, "Checkout fails")
        );
        assert_eq!(t1.site_id, Some(site.id));
        assert_eq!(t1.created_by, Actor::Client(client_user));
        let second = open(other.id, Priority::Low, "A question");
        let t2 = s
            .create_ticket(&second, &second.created_event().expect("valid"))
            .await
            .expect("create");
        assert_eq!(t2.number, 2, "numbers run across the provider");
        assert_eq!(s.get_ticket(t1.id).await.expect("get"), t1);
        assert!(matches!(
            s.get_ticket(TicketId::new()).await,
            Err(StoreError::NotFound)
        ));

        // Staff note, then a reply that opens the ticket.
        let staff = Actor::Staff(UserId::new());
        let (t1b, note) = t1
            .apply(
                TimelineKind::Reply {
                    visibility: Visibility::Internal,
                    body: "PSP certificate expired?".into(),
                },
                staff,
                now(),
            )
            .expect("note");
        s.append_ticket_event(&t1b, &note).await.expect("append");
        // A second agent working from the same read loses.
        let (stale, late) = t1
            .apply(
                TimelineKind::Reply {
                    visibility: Visibility::Public,
                    body: "late".into(),
                },
                staff,
                now(),
            )
            .expect("reply");
        assert!(matches!(
            s.append_ticket_event(&stale, &late).await,
            Err(StoreError::Conflict(_))
        ));
        let (t1c, reply) = t1b
            .apply(
                TimelineKind::Reply {
                    visibility: Visibility::Public,
                    body: "We are on it".into(),
                },
                staff,
                now(),
            )
            .expect("reply");
        s.append_ticket_event(&t1c, &reply).await.expect("append");
        let stored = s.get_ticket(t1.id).await.expect("get");
        assert_eq!((stored.state, stored.version), (TicketState::Open, 3));
        // The SLA stamp is the store's to compute; everything else is what `apply` said.
        assert_eq!(
            stored,
            Ticket {
                sla: stored.sla,
                ..t1c.clone()
            }
        );
        assert_eq!(
            stored.sla.due_at,
            Some(now() + SignedDuration::from_hours(4)),
            "resolution"
        );

        let events = s.ticket_events(t1.id).await.expect("events");
        assert_eq!(events.len(), 3);
        assert_eq!(events[1], note);
        assert_eq!(events[2], reply);
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);

        // A missing ticket is not a conflict.
        let mut ghost = t1c.clone();
        ghost.id = TicketId::new();
        let (ghost, ev) = ghost
            .apply(TimelineKind::Escalated { reason: "x".into() }, staff, now())
            .expect("apply");
        assert!(matches!(
            s.append_ticket_event(&ghost, &ev).await,
            Err(StoreError::NotFound)
        ));

        // Filters and pages.
        let q = |client, state, priority| TicketQuery {
            client,
            state,
            priority,
            ..Default::default()
        };
        let ids = |p: Page<palisade_desk::ticket::Ticket>| {
            p.items.into_iter().map(|t| t.id).collect::<Vec<_>>()
        };
        assert_eq!(
            ids(s.list_tickets(&q(None, None, None)).await.expect("all")),
            [t1.id, t2.id]
        );
        assert_eq!(
            ids(s
                .list_tickets(&q(Some(other.id), None, None))
                .await
                .expect("client")),
            [t2.id]
        );
        assert_eq!(
            ids(s
                .list_tickets(&q(None, Some(TicketState::Open), None))
                .await
                .expect("state")),
            [t1.id]
        );
        assert_eq!(
            ids(s
                .list_tickets(&q(None, None, Some(Priority::Low)))
                .await
                .expect("priority")),
            [t2.id]
        );
        let page = s
            .list_tickets(&TicketQuery {
                limit: 1,
                ..Default::default()
            })
            .await
            .expect("page");
        assert_eq!(page.items.len(), 1);
        let rest = s
            .list_tickets(&TicketQuery {
                limit: 1,
                after: page.next_after.clone(),
                ..Default::default()
            })
            .await
            .expect("page 2");
        assert_eq!(ids(rest.clone()), [t2.id]);
        assert_eq!(rest.next_after, None);

        // Message bodies are sealed in the database; kind and visibility are not.
        for e in &events {
            let id = e.id.to_string();
            let body = raw
                .one("SELECT body FROM ticket_events WHERE id = $1", &[&id])
                .await;
            assert!(body.starts_with("pz1:"), "{body}");
            assert!(!body.contains("PSP") && !body.contains("Card") && !body.contains("on it"));
        }
        assert_eq!(
            raw.one(
                "SELECT visibility FROM ticket_events WHERE id = $1",
                &[&note.id.to_string()]
            )
            .await,
            "internal"
        );
        // Tickets opened at once get distinct numbers (PostgreSQL retries the loser), and of two
        // replies appended at once against the same version exactly one wins.
        let mut opening = Vec::new();
        for _ in 0..6 {
            let s = s.clone();
            let t = open(other.id, Priority::Normal, "at once");
            opening.push(tokio::spawn(async move {
                s.create_ticket(&t, &t.created_event().expect("valid"))
                    .await
                    .expect("concurrent create")
                    .number
            }));
        }
        let mut numbers = Vec::new();
        for h in opening {
            numbers.push(h.await.expect("task"));
        }
        numbers.sort_unstable();
        assert_eq!(numbers, [3, 4, 5, 6, 7, 8]);
        let current = s.get_ticket(t2.id).await.expect("t2");
        let mut racing = Vec::new();
        for n in 0..2 {
            let s = s.clone();
            let (next, ev) = current
                .apply(
                    TimelineKind::Reply {
                        visibility: Visibility::Public,
                        body: format!("racer {n}"),
                    },
                    staff,
                    now(),
                )
                .expect("reply");
            racing.push(tokio::spawn(async move {
                s.append_ticket_event(&next, &ev).await
            }));
        }
        let mut outcomes = Vec::new();
        for h in racing {
            outcomes.push(h.await.expect("task"));
        }
        assert_eq!(
            outcomes.iter().filter(|r| r.is_ok()).count(),
            1,
            "{outcomes:?}"
        );
        assert!(
            outcomes
                .iter()
                .any(|r| matches!(r, Err(StoreError::Conflict(_)))),
            "{outcomes:?}"
        );
        assert_eq!(s.ticket_events(t2.id).await.expect("t2 events").len(), 2);

        // The re-encryption pass moves ticket bodies to a new key, and they still read the same.
        s.keyring().replace(s.keyring().current().rotated());
        let done = s.reencrypt(&mut |_, _| {}).await.expect("re-encrypt");
        assert_eq!(
            (done.records, done.version),
            (11, 2),
            "every ticket event: 3 + 2 + 6 opened at once"
        );
        assert_eq!(s.ticket_events(t1.id).await.expect("after pass"), events);
        let body = raw
            .one(
                "SELECT body FROM ticket_events WHERE id = $1",
                &[&reply.id.to_string()],
            )
            .await;
        assert!(body.starts_with("pz1:2:"), "{body}");

        // A sealed body moved to another event does not open there.
        let note_body = raw
            .one(
                "SELECT body FROM ticket_events WHERE id = $1",
                &[&note.id.to_string()],
            )
            .await;
        raw.exec(
            "UPDATE ticket_events SET body = $1 WHERE id = $2",
            &[&note_body, &reply.id.to_string()],
        )
        .await;
        assert!(matches!(
            s.ticket_events(t1.id).await,
            Err(StoreError::Corrupt(m)) if m.contains("ticket_events.body")
        ));
    })
}

#[tokio::test]
async fn conformance_desk() {
    on_every_backend_raw("support desk tickets", |_| Box::pin(async {}), Some(desk)).await;
}

/// Desk operations: the out-of-hours flag, the line an escalation moves a ticket to (and the
/// queue filters on both), and work logs by ticket and by a client's billing month.
fn desk_ops(s: SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    use palisade_core::{TicketId, WorkLogId};
    use palisade_desk::billing::WorkLog;
    use palisade_desk::sla::Priority;
    use palisade_desk::ticket::{Actor, Category, Line, NewTicket, TicketState, TimelineKind};
    Box::pin(async move {
        let acme = client(&s, "Acme").await;
        let other = client(&s, "Other").await;
        let staff = s
            .create_user(
                &NewUserRecord {
                    email: "l1@provider.example".into(),
                    display_name: "L1".into(),
                    role: Role::SupportL1,
                    client_id: None,
                    password_hash: "x".into(),
                },
                now(),
            )
            .await
            .expect("user");
        let open = |client: ClientId, priority: Priority| NewTicket {
            id: TicketId::new(),
            client_id: client,
            site_id: None,
            subject: "Down".into(),
            category: Category::Incident,
            priority,
            body: "all of it".into(),
            created_by: Actor::System,
            at: now(),
        };
        let night = open(acme.id, Priority::Critical);
        let t1 = s
            .create_ticket_flagged(&night, &night.created_event().expect("valid"), true)
            .await
            .expect("out of hours");
        assert!(t1.out_of_hours);
        assert_eq!(t1.line, Line::First);
        let day = open(other.id, Priority::Normal);
        let t2 = s
            .create_ticket(&day, &day.created_event().expect("valid"))
            .await
            .expect("normal");
        assert!(!t2.out_of_hours);

        let (t1b, ev) = t1
            .apply(
                TimelineKind::Escalated {
                    reason: "needs second line".into(),
                },
                Actor::System,
                now(),
            )
            .expect("escalate");
        s.append_ticket_event(&t1b, &ev).await.expect("append");
        assert_eq!(s.get_ticket(t1.id).await.expect("get").line, Line::Second);
        let ids = |q: TicketQuery| {
            let s = s.clone();
            async move {
                s.list_tickets(&q)
                    .await
                    .expect("list")
                    .items
                    .into_iter()
                    .map(|t| t.id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            ids(TicketQuery {
                line: Some(Line::Second),
                ..Default::default()
            })
            .await,
            [t1.id]
        );
        assert_eq!(
            ids(TicketQuery {
                line: Some(Line::First),
                ..Default::default()
            })
            .await,
            [t2.id]
        );
        let (t2b, ev) = t2
            .apply(
                TimelineKind::StateChanged {
                    from: TicketState::New,
                    to: TicketState::Resolved,
                    reason: None,
                },
                Actor::Staff(staff.id),
                now(),
            )
            .expect("resolve");
        s.append_ticket_event(&t2b, &ev).await.expect("append");
        assert_eq!(
            ids(TicketQuery {
                open_only: true,
                ..Default::default()
            })
            .await,
            [t1.id]
        );

        // Work logs: by ticket in start order; by client and the half-open month of starts.
        let log = |start: Timestamp, mins: i64, ticket: TicketId, client: ClientId| WorkLog {
            id: WorkLogId::new(),
            ticket_id: ticket,
            client_id: client,
            user_id: staff.id,
            start,
            end: start + SignedDuration::from_mins(mins),
            note: "  restarted php-fpm  ".into(),
            created_at: now(),
        };
        let march: Timestamp = "2026-03-01T00:00:00Z".parse().expect("ts");
        let april: Timestamp = "2026-04-01T00:00:00Z".parse().expect("ts");
        let late = log(april - SignedDuration::from_mins(30), 60, t1.id, acme.id);
        let early = log(march, 15, t1.id, acme.id);
        let next_month = log(april, 10, t1.id, acme.id);
        let others = log(march, 10, t2.id, other.id);
        for w in [&late, &early, &next_month, &others] {
            s.add_work_log(w).await.expect("add");
        }
        let got = s.ticket_work_logs(t1.id).await.expect("by ticket");
        assert_eq!(
            got.iter().map(|w| w.id).collect::<Vec<_>>(),
            [early.id, late.id, next_month.id]
        );
        assert_eq!(got[0].note, "restarted php-fpm");
        assert_eq!(got[0].end, early.end);
        let month = s
            .client_work_logs(acme.id, march, april)
            .await
            .expect("by month");
        assert_eq!(
            month.iter().map(|w| w.id).collect::<Vec<_>>(),
            [early.id, late.id],
            "a log belongs to the month it started in; other clients' are not there"
        );
    })
}

#[tokio::test]
async fn conformance_desk_ops() {
    on_every_backend("desk operations", desk_ops).await;
}

/// The queue: every ticket write stamps the SLA (earliest counting deadline, at-risk instant,
/// breach) from the timeline under the client's contract; the queue order pages by it, the counts
/// cover every matching ticket, a contract change re-stamps the client's open tickets, and a
/// repair with a stale version is refused.
fn desk_queue(s: SqlStore) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    use palisade_core::TicketId;
    use palisade_desk::sla::Priority;
    use palisade_desk::ticket::{
        Actor, Category, NewTicket, Ticket, TicketState, TimelineKind, Visibility, sla_stamp,
    };
    Box::pin(async move {
        // Monday 12:00 in London (UTC in November); office hours 09:00–17:30 on weekdays.
        let t0 = now();
        let mins = |m: i64| t0 + SignedDuration::from_mins(m);
        let acme = client(&s, "Acme").await;
        let other = client(&s, "Other").await;
        let staff = s
            .create_user(
                &NewUserRecord {
                    email: "l2@provider.example".into(),
                    display_name: "L2".into(),
                    role: Role::SupportL2,
                    client_id: None,
                    password_hash: "x".into(),
                },
                now(),
            )
            .await
            .expect("user");
        let open = |client: ClientId, priority: Priority| {
            let s = s.clone();
            async move {
                let t = NewTicket {
                    id: TicketId::new(),
                    client_id: client,
                    site_id: None,
                    subject: format!("{priority:?}"),
                    category: Category::Incident,
                    priority,
                    body: "help".into(),
                    created_by: Actor::System,
                    at: t0,
                };
                s.create_ticket(&t, &t.created_event().expect("valid"))
                    .await
                    .expect("open")
            }
        };
        let change = |t: Ticket, kind: TimelineKind, actor: Actor, at: Timestamp| {
            let s = s.clone();
            async move {
                let (next, ev) = t.apply(kind, actor, at).expect("apply");
                s.append_ticket_event(&next, &ev).await.expect("append");
                s.get_ticket(next.id).await.expect("get")
            }
        };
        let critical = open(acme.id, Priority::Critical).await;
        let high = open(acme.id, Priority::High).await;
        let normal = open(acme.id, Priority::Normal).await;
        let low = open(other.id, Priority::Low).await;
        let waiting = open(acme.id, Priority::Normal).await;
        // Critical answers in 30 calendar minutes; high in 2 business hours; normal in 8 (5.5
        // on Monday, 2.5 on Tuesday); low in 24 (to Thursday 10:30).
        assert_eq!(critical.sla.due_at, Some(mins(30)));
        assert_eq!(high.sla.due_at, Some(mins(120)));
        let tuesday: Timestamp = "2026-11-24T11:30:00Z".parse().expect("ts");
        assert_eq!(normal.sla.due_at, Some(tuesday));
        assert_eq!(
            low.sla.due_at,
            Some("2026-11-26T10:30:00Z".parse().expect("ts"))
        );
        assert_eq!(high.sla.warn_at, Some(mins(90)), "75 % of two hours");
        assert!(!critical.sla.breached);

        let staff_reply = |body: &str| TimelineKind::Reply {
            visibility: Visibility::Public,
            body: body.into(),
        };
        // Waiting on the customer: no clock counts, so it sorts last.
        let waiting = change(
            waiting,
            staff_reply("which page?"),
            Actor::Staff(staff.id),
            mins(5),
        )
        .await;
        let waiting = change(
            waiting,
            TimelineKind::StateChanged {
                from: TicketState::Open,
                to: TicketState::WaitingOnCustomer,
                reason: None,
            },
            Actor::Staff(staff.id),
            mins(6),
        )
        .await;
        assert_eq!(waiting.sla.due_at, None);
        // Answered 40 minutes in: the first response was late for good; resolution (4 h) counts.
        let critical = change(
            critical,
            staff_reply("on it"),
            Actor::Staff(staff.id),
            mins(40),
        )
        .await;
        assert!(critical.sla.breached);
        assert_eq!(critical.sla.due_at, Some(mins(240)));
        let high = change(
            high,
            TimelineKind::Escalated {
                reason: "unanswered".into(),
            },
            Actor::System,
            mins(50),
        )
        .await;
        let normal = change(
            normal,
            TimelineKind::Escalated {
                reason: "needs root".into(),
            },
            Actor::Staff(staff.id),
            mins(55),
        )
        .await;

        let queue = TicketQuery {
            open_only: true,
            order: TicketOrder::SlaDue,
            ..Default::default()
        };
        let page = s.list_tickets(&queue).await.expect("queue");
        let order: Vec<TicketId> = page.items.iter().map(|t| t.id).collect();
        assert_eq!(order, [high.id, critical.id, normal.id, low.id, waiting.id]);
        // Two at a time, the same order.
        let mut paged = Vec::new();
        let mut q = TicketQuery {
            limit: 2,
            ..queue.clone()
        };
        loop {
            let p = s.list_tickets(&q).await.expect("page");
            paged.extend(p.items.iter().map(|t| t.id));
            match p.next_after {
                Some(a) => q.after = Some(a),
                None => break,
            }
        }
        assert_eq!(paged, order);
        let mine = TicketQuery {
            client: Some(other.id),
            ..queue.clone()
        };
        let p = s.list_tickets(&mine).await.expect("client queue");
        assert_eq!(p.items.iter().map(|t| t.id).collect::<Vec<_>>(), [low.id]);
        assert!(matches!(
            s.list_tickets(&TicketQuery {
                after: Some("soon".into()),
                ..queue.clone()
            })
            .await,
            Err(StoreError::Invalid(_))
        ));

        // At 13:45 the critical ticket is breached (late first answer), the high one at risk.
        let counts = s
            .ticket_queue_counts(&queue, mins(105), 100)
            .await
            .expect("counts");
        assert_eq!(
            counts,
            QueueCounts {
                tickets: 5,
                capped: false,
                breached: 1,
                at_risk: 1,
                second_line: 2,
                out_of_hours: 0,
                escalated_automatically: 1,
                escalated_by_staff: 1,
            }
        );
        // At 14:00 the high one's deadline has passed too.
        let later = s
            .ticket_queue_counts(&queue, mins(120), 100)
            .await
            .expect("counts");
        assert_eq!((later.breached, later.at_risk), (2, 0));
        // Capped at two: the two soonest (high, critical: both breached) are counted, and it says so.
        let two = s
            .ticket_queue_counts(&queue, mins(120), 2)
            .await
            .expect("counts");
        assert_eq!((two.tickets, two.capped, two.breached), (2, true, 2));
        assert!(!later.capped);
        let theirs = s
            .ticket_queue_counts(&mine, mins(120), 100)
            .await
            .expect("counts");
        assert_eq!(
            (theirs.tickets, theirs.breached, theirs.second_line),
            (1, 0, 0)
        );

        // Acme moves to Sydney office hours: its open tickets' business-hour deadlines move.
        let sydney = contract("Australia/Sydney");
        s.update_client(
            acme.id,
            &ClientInput {
                name: "Acme".into(),
                contract: sydney.clone(),
            },
            now(),
        )
        .await
        .expect("update");
        let moved = s.get_ticket(normal.id).await.expect("get");
        let events = s.ticket_events(normal.id).await.expect("events");
        assert_ne!(moved.sla.due_at, normal.sla.due_at);
        assert_eq!(moved.sla, sla_stamp(&sydney, &events, 75));
        assert_eq!(
            s.get_ticket(low.id).await.expect("get").sla,
            low.sla,
            "another client's"
        );

        // A repair against a version that moved on is refused and changes nothing.
        let bogus = palisade_desk::ticket::SlaStamp::default();
        assert!(
            !s.set_ticket_sla(moved.id, moved.version - 1, &bogus)
                .await
                .expect("stale")
        );
        assert_eq!(s.get_ticket(moved.id).await.expect("get").sla, moved.sla);
        assert!(
            s.set_ticket_sla(moved.id, moved.version, &bogus)
                .await
                .expect("current")
        );
        assert_eq!(s.get_ticket(moved.id).await.expect("get").sla, bogus);
    })
}

#[tokio::test]
async fn conformance_desk_queue() {
    on_every_backend("desk queue", desk_queue).await;
}

/// E-mail: finding senders through the blind index (with the start-up backfill and a rebuild
/// after a key change), taking messages in with their Message-ID and sealed attachments, the
/// exactly-once outbox and its delivery states, and re-encryption of the new sealed columns.
fn mail(s: SqlStore, raw: Raw) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    use palisade_core::{AttachmentId, OutboxId, TicketId};
    use palisade_desk::sla::Priority;
    use palisade_desk::ticket::{Actor, Category, NewTicket, TimelineKind, Visibility};
    use palisade_mail::{BlindIndex, Notification, SenderKind};
    Box::pin(async move {
        let acme = client(&s, "Acme").await;
        let other = client(&s, "Other").await;
        let contact = |name: &str, email: &str| ContactInput {
            name: name.into(),
            email: email.into(),
            phone: None,
            title: None,
        };
        // Written before the store has the key: no index until the backfill.
        let early = s
            .create_contact(acme.id, &contact("Jane", "Jane@Acme.example"), now())
            .await
            .expect("contact");
        assert!(matches!(
            s.mail_senders("jane@acme.example").await,
            Err(StoreError::Backend(_))
        ));
        s.set_blind_index(BlindIndex::derive(&[1u8; 32]));
        assert_eq!(s.backfill_blind_index().await.expect("backfill"), 1);
        assert_eq!(
            s.backfill_blind_index().await.expect("again"),
            0,
            "nothing left"
        );
        let shared = s
            .create_contact(
                other.id,
                &contact("Jane at Other", "jane@acme.example"),
                now(),
            )
            .await
            .expect("contact at another client");
        let user = s
            .create_user(
                &NewUserRecord {
                    email: "Boss@Acme.example".into(),
                    display_name: "Boss".into(),
                    role: Role::ClientUser,
                    client_id: Some(acme.id),
                    password_hash: "$argon2id$fake".into(),
                },
                now(),
            )
            .await
            .expect("user");
        let senders = s
            .mail_senders(" JANE@acme.example ")
            .await
            .expect("senders");
        assert_eq!(senders.len(), 2, "{senders:?}");
        assert!(
            senders
                .iter()
                .any(|x| x.client_id == acme.id && x.kind == SenderKind::Contact(early.id))
        );
        assert!(
            senders
                .iter()
                .any(|x| x.client_id == other.id && x.kind == SenderKind::Contact(shared.id))
        );
        let boss = s.mail_senders("boss@acme.example").await.expect("user");
        assert_eq!(boss.len(), 1);
        assert_eq!(boss[0].kind, SenderKind::User(user.id));
        assert!(
            s.mail_senders("nobody@acme.example")
                .await
                .expect("none")
                .is_empty()
        );
        let bidx = raw
            .one(
                "SELECT email_bidx FROM contacts WHERE id = $1",
                &[&early.id.to_string()],
            )
            .await;
        assert!(!bidx.contains("acme") && bidx.len() == 64, "{bidx}");
        s.set_archived(Archivable::Contact(shared.id), Some(now()), now())
            .await
            .expect("archive");
        assert_eq!(
            s.mail_senders("jane@acme.example")
                .await
                .expect("senders")
                .len(),
            1
        );
        // An updated address moves the index with it.
        s.update_contact(early.id, &contact("Jane", "jane.new@acme.example"), now())
            .await
            .expect("update");
        assert!(
            s.mail_senders("jane@acme.example")
                .await
                .expect("old")
                .is_empty()
        );
        assert_eq!(
            s.mail_senders("jane.new@acme.example")
                .await
                .expect("new")
                .len(),
            1
        );

        // A message taken in: ticket, Message-ID and a sealed attachment in one transaction.
        let new = NewTicket {
            id: TicketId::new(),
            client_id: acme.id,
            site_id: None,
            subject: "Checkout fails".into(),
            category: Category::Request,
            priority: Priority::Normal,
            body: "It fails.".into(),
            created_by: Actor::Contact(early.id),
            at: now(),
        };
        let created = new.created_event().expect("valid");
        let attachment = NewAttachment {
            id: AttachmentId::new(),
            filename: "secret-report.pdf".into(),
            content_type: "application/pdf".into(),
            data: b"%PDF-1.4 confidential".to_vec(),
        };
        let intake = MailIntake {
            write: MailTicketWrite::New {
                ticket: new.clone(),
                created: created.clone(),
            },
            message_id: Some("m1@acme.example".into()),
            attachments: vec![attachment.clone()],
            at: now(),
        };
        let ticket = s.take_in_mail(&intake).await.expect("taken in");
        assert_eq!(ticket.created_by, Actor::Contact(early.id));
        assert!(s.mail_seen("m1@acme.example").await.expect("seen"));
        assert!(!s.mail_seen("m2@acme.example").await.expect("not seen"));
        // The same message again is refused and changes nothing.
        let mut again = intake.clone();
        if let MailTicketWrite::New { ticket, created } = &mut again.write {
            ticket.id = TicketId::new();
            *created = ticket.created_event().expect("valid");
        }
        assert!(matches!(
            s.take_in_mail(&again).await,
            Err(StoreError::Conflict(_))
        ));
        let known = s
            .tickets_by_message_ids(&["unknown@x.example".into(), "m1@acme.example".into()])
            .await
            .expect("lookup");
        assert_eq!(known.iter().map(|k| k.id).collect::<Vec<_>>(), [ticket.id]);
        assert_eq!(
            s.ticket_by_number(ticket.number)
                .await
                .expect("number")
                .map(|k| k.id),
            Some(ticket.id)
        );
        let listed = s.ticket_attachments(ticket.id).await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (
                listed[0].filename.as_str(),
                listed[0].size,
                listed[0].visibility
            ),
            ("secret-report.pdf", 21, Visibility::Public)
        );
        let (meta, bytes) = s.attachment(attachment.id).await.expect("get");
        assert_eq!((meta, bytes), (listed[0].clone(), attachment.data.clone()));
        for column in ["data", "filename"] {
            let stored = raw
                .one(
                    &format!("SELECT {column} FROM ticket_attachments WHERE id = $1"),
                    &[&attachment.id.to_string()],
                )
                .await;
            assert!(
                stored.starts_with("pz1:") && !stored.contains("secret"),
                "{stored}"
            );
        }
        assert!(matches!(
            s.attachment(AttachmentId::new()).await,
            Err(StoreError::NotFound)
        ));

        // A reply taken in, threaded onto the ticket.
        let (next, reply) = ticket
            .apply(
                TimelineKind::Reply {
                    visibility: Visibility::Public,
                    body: "More detail.".into(),
                },
                Actor::Contact(early.id),
                now(),
            )
            .expect("reply");
        s.take_in_mail(&MailIntake {
            write: MailTicketWrite::Append {
                ticket: next.clone(),
                event: reply,
            },
            message_id: Some("m2@acme.example".into()),
            attachments: vec![],
            at: now() + SignedDuration::from_secs(1),
        })
        .await
        .expect("reply taken in");
        assert_eq!(
            s.ticket_inbound_ids(ticket.id).await.expect("ids"),
            ["m1@acme.example", "m2@acme.example"]
        );

        // Every event is pending for mail until enqueued; a staff reply is then enqueued once
        // per recipient however often the enqueue runs.
        let (next, staff_reply) = next
            .apply(
                TimelineKind::Reply {
                    visibility: Visibility::Public,
                    body: "Fixed.".into(),
                },
                Actor::Staff(UserId::new()),
                now(),
            )
            .expect("staff reply");
        s.append_ticket_event(&next, &staff_reply)
            .await
            .expect("append");
        let pending = s.mail_pending_events(10).await.expect("pending");
        assert_eq!(pending.len(), 3);
        assert_eq!(pending[2].event, staff_reply);
        assert_eq!(pending[2].ticket.id, next.id);
        assert_eq!(pending[2].ticket.version, next.version);
        let recipients = s.mail_recipients(&next).await.expect("recipients");
        assert_eq!(recipients, ["jane.new@acme.example"]);
        let mut by_user = next.clone();
        by_user.created_by = Actor::Client(user.id);
        assert_eq!(
            s.mail_recipients(&by_user).await.expect("recipients"),
            ["boss@acme.example", "jane.new@acme.example"]
        );
        let mail = |to: &str| {
            let id = OutboxId::new();
            (
                id,
                Notification {
                    to: to.into(),
                    subject: format!("Re: [#{}] Checkout fails", next.number),
                    body: "Fixed.".into(),
                    message_id: format!("{id}@desk.example"),
                    in_reply_to: Some("m2@acme.example".into()),
                    references: vec!["m1@acme.example".into(), "m2@acme.example".into()],
                },
            )
        };
        let batch = |mails: Vec<(OutboxId, Notification)>| {
            let mut b: Vec<MailEnqueue> = pending[..2]
                .iter()
                .map(|p| MailEnqueue {
                    event_id: p.event.id,
                    ticket_id: p.ticket.id,
                    client_id: p.ticket.client_id,
                    thread_root: None,
                    mails: Vec::new(),
                })
                .collect();
            b.push(MailEnqueue {
                event_id: staff_reply.id,
                ticket_id: next.id,
                client_id: next.client_id,
                thread_root: Some(format!("ticket-{}@desk.example", next.id)),
                mails,
            });
            b
        };
        s.enqueue_mail(
            &batch(vec![
                mail("boss@acme.example"),
                mail("jane.new@acme.example"),
            ]),
            now(),
        )
        .await
        .expect("enqueue");
        // A second worker that rendered the same event again adds nothing.
        s.enqueue_mail(
            &batch(vec![
                mail("Boss@acme.example"),
                mail("jane.new@acme.example"),
            ]),
            now(),
        )
        .await
        .expect("enqueue again");
        assert!(s.mail_pending_events(10).await.expect("pending").is_empty());
        assert_eq!(
            s.outbox_counts().await.expect("counts"),
            OutboxCounts {
                queued: 2,
                sent: 0,
                failed: 0
            }
        );
        let root = format!("ticket-{}@desk.example", next.id);
        assert_eq!(
            s.tickets_by_message_ids(&[root]).await.expect("root").len(),
            1,
            "replies to the thread root thread"
        );

        // Delivery: claimed once, retried, sent or given up.
        let due = s.due_mail(now(), 10).await.expect("due");
        assert_eq!(due.len(), 2);
        assert_eq!(due[0].notification.body, "Fixed.");
        let lease = now() + SignedDuration::from_secs(60);
        assert!(s.claim_mail(due[0].id, 0, lease).await.expect("claim"));
        assert!(
            !s.claim_mail(due[0].id, 0, lease)
                .await
                .expect("claimed already")
        );
        assert_eq!(s.due_mail(now(), 10).await.expect("due").len(), 1, "leased");
        s.mail_attempt_failed(due[0].id, 1, Some(now()), "connection refused")
            .await
            .expect("retry");
        let again = s.due_mail(now(), 10).await.expect("due");
        assert_eq!(again.len(), 2);
        let retried = again.iter().find(|m| m.id == due[0].id).expect("retried");
        assert_eq!(retried.attempts, 1);
        assert!(s.claim_mail(due[0].id, 1, lease).await.expect("claim"));
        s.mail_sent(due[0].id, now()).await.expect("sent");
        assert!(s.claim_mail(due[1].id, 0, lease).await.expect("claim"));
        s.mail_attempt_failed(due[1].id, 1, None, "550 no such user")
            .await
            .expect("give up");
        assert_eq!(
            s.outbox_counts().await.expect("counts"),
            OutboxCounts {
                queued: 0,
                sent: 1,
                failed: 1
            }
        );
        let payload = raw
            .one(
                "SELECT payload FROM mail_outbox WHERE id = $1",
                &[&due[0].id.to_string()],
            )
            .await;
        assert!(
            payload.starts_with("pz1:") && !payload.contains("acme"),
            "{payload}"
        );

        // Re-encryption reaches attachments and the outbox.
        s.keyring().replace(s.keyring().current().rotated());
        s.reencrypt(&mut |_, _| {}).await.expect("re-encrypt");
        let (_, bytes) = s.attachment(attachment.id).await.expect("after pass");
        assert_eq!(bytes, attachment.data);
        let data = raw
            .one(
                "SELECT data FROM ticket_attachments WHERE id = $1",
                &[&attachment.id.to_string()],
            )
            .await;
        assert!(data.starts_with("pz1:2:"), "{data}");
        assert!(
            s.key_usage()
                .await
                .expect("usage")
                .iter()
                .filter(|u| u.table == "ticket_attachments" || u.table == "mail_outbox")
                .all(|u| u.version == 2)
        );

        // A new blind index key: the stored fingerprint differs, so the index is rebuilt.
        let fresh = s.clone();
        let before = raw
            .one(
                "SELECT email_bidx FROM contacts WHERE id = $1",
                &[&early.id.to_string()],
            )
            .await;
        drop(fresh);
        raw.exec(
            "UPDATE mail_index_state SET fingerprint = 'stale' WHERE id = 1",
            &[],
        )
        .await;
        assert_eq!(
            s.backfill_blind_index().await.expect("rebuild"),
            2,
            "every contact"
        );
        let after = raw
            .one(
                "SELECT email_bidx FROM contacts WHERE id = $1",
                &[&early.id.to_string()],
            )
            .await;
        assert_eq!(before, after, "same key, same index");
    })
}

#[tokio::test]
async fn conformance_mail() {
    on_every_backend_raw("support desk e-mail", |_| Box::pin(async {}), Some(mail)).await;
}

/// Findings and events stored before migration 0015 (identity key led by the environment) are
/// all there after it, found by environment and by package, and the new key still refuses a
/// second finding with the same identity.
fn fleet_identity_key_migration(s: SqlStore, raw: Raw) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let acme = client(&s, "Acme").await;
        let shop = site(&s, acme.id, "shop").await;
        let live = environment(&s, &shop, EnvironmentKind::Live, "live").await;
        let staging = environment(&s, &shop, EnvironmentKind::Staging, "staging").await;
        let key = PackageKey::new(Ecosystem::Npm, "", "lodash");
        let on_live = new_finding(&live, &key, "CVE-2024-1", FindingState::New, 300);
        let on_staging = new_finding(&staging, &key, "CVE-2024-1", FindingState::New, 200);
        let events = vec![detected(&on_live), detected(&on_staging)];
        s.apply_finding_changes(&FindingChanges {
            created: vec![on_live.clone(), on_staging.clone()],
            updated: vec![],
            events: events.clone(),
        })
        .await
        .unwrap();

        s.migrate().await.unwrap();
        let indexes = finding_indexes(&raw).await;
        assert!(
            indexes.contains(&"findings_by_environment".to_owned())
                && !indexes.contains(&"findings_by_package".to_owned()),
            "{indexes:?}"
        );
        assert_eq!(s.get_finding(on_live.id).await.unwrap(), on_live);
        assert_eq!(
            s.finding_events(on_staging.id).await.unwrap(),
            vec![events[1].clone()]
        );
        let in_live = s
            .list_findings(&FindingQuery {
                environment: Some(live.id),
                ..FindingQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(in_live.items, vec![on_live.clone()]);
        let of_package = s
            .list_findings(&FindingQuery {
                package: Some(key.clone()),
                ..FindingQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(of_package.items, vec![on_live.clone(), on_staging.clone()]);

        let mut twin = new_finding(&live, &key, "CVE-2024-1", FindingState::New, 100);
        twin.version = on_live.version.clone();
        let refused = s
            .apply_finding_changes(&FindingChanges {
                created: vec![twin.clone()],
                updated: vec![],
                events: vec![detected(&twin)],
            })
            .await;
        assert!(refused.is_err(), "a second finding with the same identity");
        assert!(s.get_finding(twin.id).await.is_err());
    })
}

#[tokio::test]
async fn conformance_fleet_identity_key_migration() {
    on_every_backend_at(
        "findings kept across the identity key's change (migration 0015)",
        |_| Box::pin(async {}),
        Some(fleet_identity_key_migration),
        Some(14),
    )
    .await;
}
