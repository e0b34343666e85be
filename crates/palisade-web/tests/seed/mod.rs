//! Fleet data for the UI tests, made the way production makes it: a real OSV advisory imported
//! into the app's advisory store, then an inventory taken in through the matcher, so the findings
//! the pages show carry real priorities, reasons and deadlines.

#![allow(dead_code)]

use palisade_core::tenant::*;
use palisade_core::{ClientId, EnvironmentId, FindingId, Role, SiteId};
use palisade_store::{FindingQuery, FleetStore, Store};
use palisade_vulndb::VulnDb;

use crate::common::*;

pub const ADVISORY: &str = "GHSA-52m2-vc4m-jj33";
pub const CVE: &str = "CVE-2022-39261";
pub const TITLE: &str = "Twig may load a template outside a configured directory";

pub struct Fleet {
    pub alpha: ClientId,
    pub bravo: ClientId,
    pub site: SiteId,
    pub live: EnvironmentId,
    pub staging: EnvironmentId,
    /// Alpha's findings, most urgent (live) first.
    pub findings: Vec<FindingId>,
}

fn contract() -> Contract {
    Contract {
        sla_tier: SlaTier::Standard,
        support_hours: SupportHours::office_hours("Europe/London"),
        holiday_calendar: None,
        out_of_hours: false,
    }
}

pub fn composer_lock(twig: &str) -> Vec<u8> {
    serde_json::json!({
        "packages": [
            {"name": "twig/twig", "version": twig},
            {"name": "monolog/monolog", "version": "2.9.1"}
        ],
        "packages-dev": []
    })
    .to_string()
    .into_bytes()
}

fn import_advisory(app: &TestApp) {
    let osv = serde_json::json!({
        "id": ADVISORY,
        "modified": "2024-01-01T00:00:00Z",
        "aliases": [CVE],
        "summary": TITLE,
        "database_specific": {"severity": "HIGH"},
        "affected": [{
            "package": {"ecosystem": "Packagist", "name": "twig/twig"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "3.0.0"}, {"fixed": "3.4.3"}]}]
        }]
    });
    let file = app
        .advisories
        .parent()
        .expect("data folder")
        .join("twig.json");
    std::fs::write(&file, osv.to_string()).expect("write advisory");
    let mut db = VulnDb::open(&app.advisories).expect("advisory store");
    palisade_vulndb::import_path(&mut db, &file, None, &mut |_| {}).expect("import");
}

pub async fn take_inventory(app: &TestApp, env: EnvironmentId, twig: &str) {
    take_files(app, env, vec![("composer.lock", composer_lock(twig))]).await;
}

/// An upload of several files, as an agent on the host would send them.
pub async fn take_files(app: &TestApp, env: EnvironmentId, files: Vec<(&str, Vec<u8>)>) {
    let uploads = files
        .into_iter()
        .map(|(name, bytes)| palisade_matcher::Upload {
            name: name.into(),
            bytes,
        })
        .collect();
    app.state
        .matcher
        .intake(env, uploads, Default::default(), None, app.clock.now_ts())
        .await
        .expect("intake");
}

/// Alpha Foods runs a vulnerable Twig on its shop's live and staging environments; Bravo Books
/// has nothing. Each has a client user: `owner@alpha.example` and `owner@bravo.example`.
pub async fn fleet(app: &TestApp) -> Fleet {
    let now = app.clock.now_ts();
    let mut ids = Vec::new();
    for name in ["Alpha Foods", "Bravo Books"] {
        let c = app
            .store
            .create_client(
                &ClientInput {
                    name: name.into(),
                    contract: contract(),
                },
                now,
            )
            .await
            .expect("client");
        ids.push(c.id);
    }
    let (alpha, bravo) = (ids[0], ids[1]);
    app.user("owner@alpha.example", Role::ClientUser, Some(alpha))
        .await;
    app.user("owner@bravo.example", Role::ClientUser, Some(bravo))
        .await;
    let site = app
        .store
        .create_site(
            &NewSite {
                client_id: alpha,
                name: "shop".into(),
                url: "https://shop.alpha.example".into(),
            },
            now,
        )
        .await
        .expect("site");
    let mut envs = Vec::new();
    for (name, kind) in [
        ("live", EnvironmentKind::Live),
        ("staging", EnvironmentKind::Staging),
    ] {
        let e = app
            .store
            .create_environment(
                &NewEnvironment {
                    site_id: site.id,
                    kind,
                    name: name.into(),
                    url: None,
                    position: None,
                },
                now,
            )
            .await
            .expect("environment");
        envs.push(e.id);
    }
    import_advisory(app);
    for env in &envs {
        take_inventory(app, *env, "v3.4.0").await;
    }
    let findings = app
        .store
        .list_findings(&FindingQuery {
            client: Some(alpha),
            ..FindingQuery::default()
        })
        .await
        .expect("findings")
        .items;
    assert_eq!(findings.len(), 2, "one finding per vulnerable environment");
    Fleet {
        alpha,
        bravo,
        site: site.id,
        live: envs[0],
        staging: envs[1],
        findings: findings.iter().map(|f| f.id).collect(),
    }
}
