//! The matcher over a real SQLite store and advisory store: a full re-match finds exactly the
//! affected installations however its steps split a package's versions, a second pass changes
//! nothing, and an advisory change re-evaluated through the change log closes what it no longer
//! affects.

use std::sync::Arc;

use jiff::Timestamp;
use palisade_core::tenant::*;
use palisade_keyring::{Keyring, LiveKeyring};
use palisade_matcher::{Matcher, Replace, Upload};
use palisade_store::{FindingQuery, Store};
use palisade_store_sql::SqlStore;
use palisade_vulndb::VulnDb;

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn advisory(withdrawn: bool) -> String {
    let mut v = serde_json::json!({
        "id": "GHSA-test-0001", "aliases": ["CVE-2026-0001"], "summary": "test",
        "modified": if withdrawn { "2026-02-01T00:00:00Z" } else { "2026-01-01T00:00:00Z" },
        "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"fixed": "1.3.0"}]}]}]
    });
    if withdrawn {
        v["withdrawn"] = serde_json::json!("2026-02-01T00:00:00Z");
    }
    v.to_string()
}

fn import(dir: &std::path::Path, text: &str) {
    let file = dir.join("advisory.json");
    std::fs::write(&file, text).unwrap();
    let mut db = VulnDb::open(&dir.join("advisories")).unwrap();
    palisade_vulndb::import_path(&mut db, &file, None, &mut |_| {}).unwrap();
}

#[tokio::test]
async fn full_matches_are_exact_across_step_boundaries_and_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(LiveKeyring::fixed(Keyring::generate()));
    let store = SqlStore::connect(
        &format!("sqlite://{}", dir.path().join("t.db").display()),
        keys,
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    // One pair per step: every package's versions are split across steps.
    let matcher = Matcher::new(
        store.clone(),
        dir.path().join("advisories"),
        Default::default(),
    )
    .with_full_chunk(1);
    let client = store
        .create_client(
            &ClientInput {
                name: "C".into(),
                contract: Contract {
                    sla_tier: SlaTier::Standard,
                    support_hours: SupportHours::office_hours("Europe/London"),
                    holiday_calendar: None,
                    out_of_hours: false,
                },
            },
            now(),
        )
        .await
        .unwrap();
    let site = store
        .create_site(
            &NewSite {
                client_id: client.id,
                name: "www".into(),
                url: "https://www.c.example".into(),
            },
            now(),
        )
        .await
        .unwrap();
    let mut affected = Vec::new();
    for (i, version) in ["1.0.0", "1.2.9", "1.3.0", "0.9.0", "1.1.0"]
        .iter()
        .enumerate()
    {
        let env = store
            .create_environment(
                &NewEnvironment {
                    site_id: site.id,
                    kind: EnvironmentKind::Live,
                    name: format!("live-{i}"),
                    url: None,
                    position: None,
                },
                now(),
            )
            .await
            .unwrap();
        let lock = format!(
            r#"{{"lockfileVersion":3,"packages":{{"":{{"name":"x"}},"node_modules/left-pad":{{"version":"{version}"}},"node_modules/a-unrelated":{{"version":"2.0.0"}}}}}}"#
        );
        matcher
            .intake(
                env.id,
                vec![Upload {
                    name: "package-lock.json".into(),
                    bytes: lock.into_bytes(),
                }],
                Replace::All,
                None,
                now(),
            )
            .await
            .unwrap();
        if ["1.0.0", "1.2.9", "1.1.0"].contains(version) {
            affected.push(env.id);
        }
    }
    import(dir.path(), &advisory(false));
    let first = matcher.full_match(now()).await.unwrap();
    assert_eq!(first.created, 3);
    let mut found: Vec<_> = store
        .list_findings(&FindingQuery::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|f| f.environment_id)
        .collect();
    found.sort();
    affected.sort();
    assert_eq!(found, affected);
    let again = matcher.full_match(now()).await.unwrap();
    assert_eq!((again.created, again.updated, again.events), (0, 0, 0));

    // The record is withdrawn: the change log names its package, and only it is re-evaluated.
    matcher.catch_up(now()).await.unwrap();
    import(dir.path(), &advisory(true));
    let done = matcher.catch_up(now()).await.unwrap();
    assert_eq!((done.full, done.packages), (false, 1));
    assert_eq!(done.changes.events, 3);
    assert!(
        store
            .list_findings(&FindingQuery::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
