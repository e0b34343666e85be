//! The matcher over a real SQLite store and advisory store: a full re-match finds exactly the
//! affected installations however its steps split a package's versions, a second pass changes
//! nothing, and an advisory change re-evaluated through the change log closes what it no longer
//! affects.

use std::sync::Arc;

use jiff::Timestamp;
use palisade_core::tenant::*;
use palisade_core::{EnvironmentId, SiteId};
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

/// A store with one client and site, and a matcher over it whose full passes take `chunk`
/// (package, version) pairs per step.
async fn fleet(dir: &std::path::Path, chunk: u32) -> (Arc<dyn Store>, Matcher, SiteId) {
    let keys = Arc::new(LiveKeyring::fixed(Keyring::generate()));
    let store = SqlStore::connect(&format!("sqlite://{}", dir.join("t.db").display()), keys)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let matcher = Matcher::new(store.clone(), dir.join("advisories"), Default::default())
        .with_full_chunk(chunk);
    let site = client_site(&store, "C").await;
    (store, matcher, site)
}

/// A client named `name` with one site.
async fn client_site(store: &Arc<dyn Store>, name: &str) -> SiteId {
    let client = store
        .create_client(
            &ClientInput {
                name: name.into(),
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
    store
        .create_site(
            &NewSite {
                client_id: client.id,
                name: "www".into(),
                url: format!("https://www.{}.example", name.to_lowercase()),
            },
            now(),
        )
        .await
        .unwrap()
        .id
}

async fn environment(store: &Arc<dyn Store>, site: SiteId, name: String) -> EnvironmentId {
    store
        .create_environment(
            &NewEnvironment {
                site_id: site,
                kind: EnvironmentKind::Live,
                name,
                url: None,
                position: None,
            },
            now(),
        )
        .await
        .unwrap()
        .id
}

/// A live environment `live-{i}` of `site` whose inventory has left-pad at `version`.
async fn with_left_pad(
    store: &Arc<dyn Store>,
    matcher: &Matcher,
    site: SiteId,
    i: usize,
    version: &str,
) -> EnvironmentId {
    let env = environment(store, site, format!("live-{i}")).await;
    matcher
        .intake(env, lockfile(version), Replace::All, None, now())
        .await
        .unwrap();
    env
}

/// A package-lock.json with left-pad at `version` and an unrelated package.
fn lockfile(version: &str) -> Vec<Upload> {
    let lock = format!(
        r#"{{"lockfileVersion":3,"packages":{{"":{{"name":"x"}},"node_modules/left-pad":{{"version":"{version}"}},"node_modules/a-unrelated":{{"version":"2.0.0"}}}}}}"#
    );
    vec![Upload {
        name: "package-lock.json".into(),
        bytes: lock.into_bytes(),
    }]
}

#[tokio::test]
async fn full_matches_are_exact_across_step_boundaries_and_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    // One pair per step: every package's versions are split across steps.
    let (store, matcher, site) = fleet(dir.path(), 1).await;
    let mut affected = Vec::new();
    for (i, version) in ["1.0.0", "1.2.9", "1.3.0", "0.9.0", "1.1.0"]
        .iter()
        .enumerate()
    {
        let env = with_left_pad(&store, &matcher, site, i, version).await;
        if ["1.0.0", "1.2.9", "1.1.0"].contains(version) {
            affected.push(env);
        }
    }
    import(dir.path(), &advisory(false));
    let first = matcher.full_match(now()).await.unwrap();
    assert_eq!(first.created, 3);
    // Into an empty store the match builds the findings indexes after its rows; all are back.
    let db = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    let indexes: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN \
             ('findings_open', 'findings_open_by_client', 'findings_by_state', \
             'findings_by_group', 'findings_by_environment', 'finding_events_by_finding')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexes, 6);
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

/// "Who is affected" does not wait for the matcher: right after an advisory is stored, the
/// installations it affects are listed as pending, with the priority their findings then get,
/// and a client sees only its own.
#[tokio::test]
async fn who_is_affected_lists_installations_before_their_findings_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let (store, matcher, site) = fleet(dir.path(), 1_000).await;
    let other_site = client_site(&store, "D").await;
    let mut want = Vec::new();
    for (i, (site, version)) in [
        (site, "1.0.0"),
        (site, "1.3.0"),
        (site, "1.1.0"),
        (other_site, "1.2.0"),
    ]
    .into_iter()
    .enumerate()
    {
        let env = with_left_pad(&store, &matcher, site, i, version).await;
        if version != "1.3.0" {
            want.push((env, version.to_owned()));
        }
    }
    want.sort();
    let listed = |r: &palisade_matcher::affected::AffectedReport| {
        let mut out: Vec<_> = r
            .clients
            .iter()
            .flat_map(|c| &c.sites)
            .flat_map(|s| &s.environments)
            .flat_map(|e| {
                e.installs
                    .iter()
                    .map(move |i| (e.id, i.installed.to_string(), i.pending, i.priority))
            })
            .collect();
        out.sort();
        out
    };
    import(dir.path(), &advisory(false));

    let before = matcher.affected("CVE-2026-0001", None).await.unwrap();
    assert_eq!(
        (before.findings, before.pending, before.environments),
        (0, 3, 3)
    );
    let before = listed(&before);
    assert_eq!(
        before
            .iter()
            .map(|(e, v, pending, _)| {
                assert!(pending);
                (*e, v.clone())
            })
            .collect::<Vec<_>>(),
        want
    );
    let theirs = matcher
        .affected(
            "GHSA-test-0001",
            Some(store.get_site(other_site).await.unwrap().client_id),
        )
        .await
        .unwrap();
    assert_eq!(
        listed(&theirs)
            .into_iter()
            .map(|(_, v, _, _)| v)
            .collect::<Vec<_>>(),
        ["1.2.0"]
    );

    matcher.catch_up(now()).await.unwrap();
    let after = matcher.affected("CVE-2026-0001", None).await.unwrap();
    assert_eq!((after.findings, after.pending), (3, 0));
    let after = listed(&after);
    assert_eq!(
        after
            .iter()
            .map(|(e, v, _, p)| (*e, v.clone(), *p))
            .collect::<Vec<_>>(),
        before
            .iter()
            .map(|(e, v, _, p)| (*e, v.clone(), *p))
            .collect::<Vec<_>>(),
        "the same installations, with the priorities the plan showed"
    );

    // Environment names are kept in memory between answers (read ahead, as the server does at
    // start), until the spine changes.
    matcher.warm_spine().await.unwrap();
    let warm = listed(&matcher.affected("CVE-2026-0001", None).await.unwrap());
    assert_eq!(warm, after, "the same answer from the facts read ahead");
    let (renamed, _) = want[0].clone();
    store
        .update_environment(
            renamed,
            &EnvironmentUpdate {
                kind: EnvironmentKind::Live,
                name: "renamed".into(),
                url: None,
                position: 0,
            },
            now(),
        )
        .await
        .unwrap();
    let names: Vec<(EnvironmentId, String)> = matcher
        .affected("CVE-2026-0001", None)
        .await
        .unwrap()
        .clients
        .iter()
        .flat_map(|c| &c.sites)
        .flat_map(|s| &s.environments)
        .map(|e| (e.id, e.name.clone()))
        .collect();
    assert!(
        names.contains(&(renamed, "renamed".to_owned())),
        "{names:?}"
    );
}

/// Uploads racing for the same environments (the matcher reconciles different environments side
/// by side): every upload succeeds, no finding is written twice, and each environment's findings
/// describe its last stored inventory, not an older one reconciled late.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_leave_findings_of_the_last_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let (store, matcher, site) = fleet(dir.path(), 100).await;
    import(dir.path(), &advisory(false));
    let mut envs = Vec::new();
    for i in 0..3 {
        envs.push(environment(&store, site, format!("live-{i}")).await);
    }
    let mut tasks = Vec::new();
    for i in 0..36 {
        let (matcher, env) = (matcher.clone(), envs[i % envs.len()]);
        // Vulnerable and fixed in turn.
        let version = if (i / envs.len()) % 2 == 0 {
            "1.0.0"
        } else {
            "1.3.0"
        };
        tasks.push(tokio::spawn(async move {
            matcher
                .intake(env, lockfile(version), Replace::All, None, now())
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for env in envs {
        let installed = store
            .environment_packages(env)
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.key.name == "left-pad")
            .unwrap()
            .version;
        let open: Vec<String> = store
            .list_findings(&FindingQuery {
                environment: Some(env),
                ..FindingQuery::default()
            })
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|f| f.version)
            .collect();
        let expected: Vec<String> = if installed == "1.0.0" {
            vec![installed]
        } else {
            Vec::new()
        };
        assert_eq!(open, expected, "open findings of {env}");
    }
}

/// The full match's writer stopping on an error ends the match with that error: the planner,
/// steps ahead of it, stops too instead of waiting for room to hand over its next step (a
/// pipeline of five steps, two of them planned ahead, would otherwise never finish). The
/// indexes dropped for the first match are back afterwards, and nothing was stored.
#[tokio::test]
async fn a_full_match_whose_writes_fail_returns_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let (store, matcher, site) = fleet(dir.path(), 10_000).await;
    // Forty affected packages: five steps of eight.
    let names: Vec<String> = (0..40).map(|i| format!("pkg-{i:02}")).collect();
    let packages: Vec<String> = names
        .iter()
        .map(|n| format!(r#""node_modules/{n}":{{"version":"1.0.0"}}"#))
        .collect();
    let lock = format!(
        r#"{{"lockfileVersion":3,"packages":{{"":{{"name":"x"}},{}}}}}"#,
        packages.join(",")
    );
    let env = environment(&store, site, "live".into()).await;
    let upload = vec![Upload {
        name: "package-lock.json".into(),
        bytes: lock.into_bytes(),
    }];
    matcher
        .intake(env, upload, Replace::All, None, now())
        .await
        .unwrap();
    let affected: Vec<serde_json::Value> = names
        .iter()
        .map(|n| {
            serde_json::json!({"package": {"ecosystem": "npm", "name": n},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "2.0.0"}]}]})
        })
        .collect();
    let advisory = serde_json::json!({
        "id": "GHSA-many-0001", "summary": "many", "modified": "2026-01-01T00:00:00Z",
        "affected": affected,
    });
    import(dir.path(), &advisory.to_string());
    let db = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER refuse_findings BEFORE INSERT ON findings \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
    )
    .unwrap();
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        matcher.full_match(now()),
    )
    .await
    .expect("the match ends");
    let e = outcome.expect_err("the writes fail").to_string();
    assert!(e.contains("refused by the test"), "{e}");
    let stored: i64 = db
        .query_row("SELECT COUNT(*) FROM findings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 0);
    let indexes: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN \
             ('findings_open', 'findings_open_by_client', 'findings_by_state', 'findings_by_group', \
             'findings_by_environment')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexes, 5);
}
