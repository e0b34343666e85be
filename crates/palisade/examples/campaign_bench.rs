//! Issue 6's campaign figure: starting a patch campaign for an advisory that affects ENVS
//! environments across CLIENTS clients, on the SQLite default, timed from the start request to
//! every ticket opened and every e-mail queued in the outbox (delivery is not part of it).
//!
//! The fleet is built through the store and the matcher (each environment's inventory matched
//! as an upload would be), the campaign planned and started through the HTTP API, and the
//! e-mails queued by the notifier, as `palisade serve` does.
//!
//! Usage: `campaign_bench [CLIENTS] [ENVS_PER_CLIENT]` (default 1,000 × 5)

use std::sync::Arc;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use palisade_core::Role;
use palisade_core::clock::ManualClock;
use palisade_core::tenant::*;
use palisade_store::{MailStore, NewUserRecord, Store};
use serde_json::json;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let clients: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let per_client: usize = args.next().map_or(Ok(5), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let o = palisade::config::Overrides {
        data_dir: Some(dir.path().to_owned()),
        ..Default::default()
    };
    let conf = dir.path().join("palisade.toml");
    std::fs::write(
        &conf,
        "mail_domain = \"provider.example\"\nsmtp_url = \"smtp://127.0.0.1:2525\"\nsmtp_from = \"desk@provider.example\"\n",
    )?;
    let cfg = palisade::config::load(
        Some(&conf),
        figment::providers::Env::prefixed("PALISADE_BENCH_UNSET_"),
        &o,
    )?;
    let store = palisade::serve::open_store(&cfg).await?;
    let (audit, _worker) = palisade::audit::start(&store, &cfg)?;
    let store = Arc::new(store);
    let advisories = dir.path().join("advisories");
    let matcher = palisade_web::Matcher::new(store.clone(), advisories.clone(), Default::default());
    let now = Timestamp::now();

    let setup = Instant::now();
    let contract = Contract {
        sla_tier: SlaTier::Standard,
        support_hours: SupportHours::office_hours("Europe/London"),
        holiday_calendar: None,
        out_of_hours: false,
    };
    let lock = json!({"packages": [{"name": "twig/twig", "version": "v3.4.0"},
                                   {"name": "monolog/monolog", "version": "2.9.1"}]})
    .to_string();
    let kinds = [EnvironmentKind::Staging, EnvironmentKind::Live];
    for i in 0..clients {
        let client = store
            .create_client(
                &ClientInput {
                    name: format!("Client {i:04}"),
                    contract: contract.clone(),
                },
                now,
            )
            .await?;
        store
            .create_contact(
                client.id,
                &ContactInput {
                    name: "Owner".into(),
                    email: format!("owner{i}@client.example"),
                    phone: None,
                    title: None,
                },
                now,
            )
            .await?;
        let mut site = None;
        for e in 0..per_client {
            if e % 2 == 0 {
                site = Some(
                    store
                        .create_site(
                            &NewSite {
                                client_id: client.id,
                                name: format!("site-{e}"),
                                url: format!("https://s{e}.client{i}.example"),
                            },
                            now,
                        )
                        .await?,
                );
            }
            let site = site.as_ref().expect("site");
            let env = store
                .create_environment(
                    &NewEnvironment {
                        site_id: site.id,
                        kind: kinds[e % 2],
                        name: kinds[e % 2].as_str().into(),
                        url: None,
                        position: None,
                    },
                    now,
                )
                .await?;
            matcher
                .intake(
                    env.id,
                    vec![palisade_web::Upload {
                        name: "composer.lock".into(),
                        bytes: lock.clone().into_bytes(),
                    }],
                    Default::default(),
                    None,
                    now,
                )
                .await?;
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
    )?;
    let mut db = palisade_vulndb::VulnDb::open(&advisories)?;
    palisade_vulndb::import_path(&mut db, &file, None, &mut |_| {})?;
    drop(db);
    let caught = matcher.catch_up(now).await?;
    println!(
        "setup: {clients} clients, {} environments, {} findings in {:.1} s",
        clients * per_client,
        caught.changes.created,
        setup.elapsed().as_secs_f64()
    );

    let state = palisade_web::AppState::new(
        matcher,
        Arc::new(ManualClock::new(now)),
        palisade_web::WebConfig::default(),
        audit.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(palisade_web::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    let user = store
        .create_user(
            &NewUserRecord {
                email: "sec@provider.example".into(),
                display_name: "Security".into(),
                role: Role::Security,
                client_id: None,
                password_hash: "$argon2id$unused".into(),
            },
            now,
        )
        .await?;
    let secret = palisade_auth::new_api_token();
    let token = palisade_core::user::ApiToken::issue(
        user.id,
        "bench".into(),
        Role::Security,
        &secret,
        now,
        SignedDuration::from_hours(1),
    );
    store
        .create_token(&token, &palisade_auth::token_hash(&secret))
        .await?;
    let http = reqwest::Client::new();

    let t = Instant::now();
    let r = http
        .post(format!("{base}/api/v1/campaigns"))
        .bearer_auth(&secret)
        .json(&json!({"advisory": "CVE-2022-39261"}))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 201, "plan: {}", r.text().await?);
    let id = r.json::<serde_json::Value>().await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let plan = t.elapsed();

    let store_dyn: Arc<dyn Store> = store.clone();
    let notifier = palisade::mail::notify::Notifier::new(store_dyn, audit, &cfg.mail, None)?;
    let t = Instant::now();
    let r = http
        .post(format!("{base}/api/v1/campaigns/{id}/start"))
        .bearer_auth(&secret)
        .json(&json!({"version": 1}))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "start: {}", r.text().await?);
    let started = t.elapsed();
    let queued = notifier.enqueue_pending(now).await?;
    let total = t.elapsed();
    let counts = store.outbox_counts().await?;
    println!(
        "plan: {:.2} s; start (every ticket): {:.2} s; e-mails queued: {queued} ({:?}); start to every e-mail queued: {:.2} s (goal 5 s)",
        plan.as_secs_f64(),
        started.as_secs_f64(),
        counts,
        total.as_secs_f64()
    );
    Ok(())
}
