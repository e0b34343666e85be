//! Fleet vulnerability management end to end, over real HTTP: inventories pushed through the API,
//! an advisory imported into the advisory store, the matcher following the store's change log.
//! Two clients share a vulnerable version in their live and staging environments, a third runs
//! the fixed one: findings appear for exactly the affected environments of exactly those clients,
//! a rewording changes nothing, a fixed inventory marks a finding fixed then verified, withdrawal
//! makes the rest inactive with their history intact, and client users see only their own.

mod common;

use common::*;
use palisade_core::Role;
use palisade_core::tenant::{EnvironmentKind, NewEnvironment, NewSite};
use palisade_store::Store;
use serde_json::{Value, json};

fn composer_lock(twig: &str) -> String {
    json!({
        "packages": [
            {"name": "twig/twig", "version": twig},
            {"name": "monolog/monolog", "version": "2.9.1"}
        ],
        "packages-dev": [{"name": "phpunit/phpunit", "version": "9.6.0"}]
    })
    .to_string()
}

fn twig_advisory(summary: &str, modified: &str, withdrawn: bool) -> Vec<u8> {
    let mut v = json!({
        "id": "GHSA-52m2-vc4m-jj33",
        "modified": modified,
        "aliases": ["CVE-2022-39261"],
        "summary": summary,
        "database_specific": {"severity": "HIGH"},
        "affected": [{
            "package": {"ecosystem": "Packagist", "name": "twig/twig"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.44.7"}]},
                       {"type": "ECOSYSTEM", "events": [{"introduced": "2.0.0"}, {"fixed": "2.15.3"}]},
                       {"type": "ECOSYSTEM", "events": [{"introduced": "3.0.0"}, {"fixed": "3.4.3"}]}]
        }]
    });
    if withdrawn {
        v["withdrawn"] = json!(modified);
    }
    v.to_string().into_bytes()
}

fn unrelated_advisory() -> Vec<u8> {
    json!({
        "id": "GHSA-unrelated-0001",
        "modified": "2024-01-01T00:00:00Z",
        "summary": "A package nobody here uses",
        "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"},
                      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}]
    })
    .to_string()
    .into_bytes()
}

async fn findings(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = json_get(app, &format!("/api/v1/findings?{query}"), token).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn events(app: &TestApp, token: &str, id: &str) -> Vec<String> {
    let (_, body) = json_get(app, &format!("/api/v1/findings/{id}"), token).await;
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_advisory_reaches_exactly_the_affected_environments_and_follows_their_fixes() {
    let app = TestApp::start(Default::default()).await;
    let sec = app.user("sec@provider.test", Role::Security, None).await;
    let sec = app.token(&sec, Role::Security).await;
    let ops = app.user("ops@provider.test", Role::Operations, None).await;
    let ops = app.token(&ops, Role::Operations).await;
    let now = app.clock.now_ts();

    // Three clients; A and B run the vulnerable Twig on live and staging, C the fixed one.
    let mut envs = Vec::new();
    let mut clients = Vec::new();
    for (name, twig) in [
        ("Alpha Foods", "v3.4.0"),
        ("Bravo Books", "v3.4.0"),
        ("Charlie Cars", "v3.4.3"),
    ] {
        let c = app
            .post_json(
                "/api/v1/clients",
                &sec_admin(&app).await,
                &client_body(name, "Europe/London"),
            )
            .await;
        let client: Value = c.json().await.unwrap();
        let client_id: palisade_core::ClientId = client["id"].as_str().unwrap().parse().unwrap();
        clients.push(client_id);
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
            let pushed = push(&app, &ops, env.id, &composer_lock(twig)).await;
            assert_eq!(pushed["snapshot"]["packages"], 3);
            assert_eq!(pushed["snapshot"]["dev_packages"], 1, "dev kept, flagged");
            envs.push((name, kind, env.id));
        }
    }
    let user_a = app
        .user("a@alpha.test", Role::ClientUser, Some(clients[0]))
        .await;
    let user_a = app.token(&user_a, Role::ClientUser).await;

    // An advisory store whose first contents match nothing; the first catch-up is a full pass.
    import(&app, "unrelated.json", &unrelated_advisory());
    let first = app.state.matcher.catch_up(now).await.unwrap();
    assert!(first.full);
    assert!(findings(&app, &sec, "").await.is_empty());

    // The Twig advisory arrives: only its package is re-evaluated, fleet-wide.
    import(
        &app,
        "twig.json",
        &twig_advisory(
            "Twig may load a template outside a configured directory",
            "2022-10-01T00:00:00Z",
            false,
        ),
    );
    // Before the matcher writes anything, who is affected already names the four
    // installations (pending), and a client user only their own two.
    let pending = |r: &Value| {
        let mut out = Vec::new();
        for c in r["clients"].as_array().unwrap() {
            for s in c["sites"].as_array().unwrap() {
                for e in s["environments"].as_array().unwrap() {
                    for i in e["installs"].as_array().unwrap() {
                        assert_eq!((&i["pending"], &i["finding"]), (&json!(true), &Value::Null));
                        out.push(e["id"].as_str().unwrap().to_owned());
                    }
                }
            }
        }
        out.sort();
        out
    };
    let (_, early) = json_get(&app, "/api/v1/advisories/CVE-2022-39261/affected", &sec).await;
    assert_eq!(
        (early["findings"].as_u64(), early["pending"].as_u64()),
        (Some(0), Some(4))
    );
    let (_, early_a) = json_get(&app, "/api/v1/advisories/CVE-2022-39261/affected", &user_a).await;
    let mut own_a: Vec<String> = envs
        .iter()
        .filter(|(name, _, _)| *name == "Alpha Foods")
        .map(|(_, _, id)| id.to_string())
        .collect();
    own_a.sort();
    assert_eq!(pending(&early_a), own_a);
    let early = pending(&early);

    let done = app.state.matcher.catch_up(now).await.unwrap();
    assert!(!done.full);
    assert_eq!(done.packages, 1);
    assert_eq!(done.changes.created, 4);
    let open = findings(&app, &sec, "").await;
    let mut hit: Vec<String> = open
        .iter()
        .map(|f| f["environment_id"].as_str().unwrap().to_owned())
        .collect();
    hit.sort();
    let mut want: Vec<String> = envs
        .iter()
        .filter(|(name, _, _)| *name != "Charlie Cars")
        .map(|(_, _, id)| id.to_string())
        .collect();
    want.sort();
    assert_eq!(hit, want, "exactly the affected environments");
    assert_eq!(early, want, "listed before their findings were written");
    // Live before staging, and the reasons say why.
    assert_eq!(open[0]["environment_kind"], "live");
    assert_eq!(open[3]["environment_kind"], "staging");
    let reasons: Vec<&str> = open[0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"environment") && reasons.contains(&"fix"),
        "{reasons:?}"
    );
    assert_eq!(
        open[0]["fixed_versions"],
        json!(["1.44.7", "2.15.3", "3.4.3"])
    );

    // Who is affected, by the CVE alias: two clients, two environments each; CSV one row each.
    let (status, report) = json_get(&app, "/api/v1/advisories/CVE-2022-39261/affected", &sec).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = report["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Alpha Foods") && names.contains(&"Bravo Books"));
    let csv = app
        .get(
            "/api/v1/advisories/GHSA-52m2-vc4m-jj33/affected?format=csv",
            &sec,
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    // Any id of the group filters the list, not only the canonical one.
    assert_eq!(
        findings(&app, &sec, "alias=GHSA-52m2-vc4m-jj33")
            .await
            .len(),
        4
    );
    assert!(findings(&app, &sec, "alias=CVE-2000-0001").await.is_empty());

    // A client user sees their own organisation only, through every door.
    let theirs = findings(&app, &user_a, "").await;
    assert_eq!(theirs.len(), 2);
    assert!(
        theirs
            .iter()
            .all(|f| f["client_id"] == clients[0].to_string())
    );
    let bravo = open
        .iter()
        .find(|f| f["client_id"] == clients[1].to_string())
        .unwrap();
    let (status, _) = json_get(
        &app,
        &format!("/api/v1/findings/{}", bravo["id"].as_str().unwrap()),
        &user_a,
    )
    .await;
    assert_eq!(status, 404);
    let (_, report) = json_get(&app, "/api/v1/advisories/CVE-2022-39261/affected", &user_a).await;
    assert_eq!(report["clients"].as_array().unwrap().len(), 1);
    let triage = json!({"decision": "affected", "reason": "mine to decide"});
    let r = app
        .post_json(
            &format!(
                "/api/v1/findings/{}/triage",
                theirs[0]["id"].as_str().unwrap()
            ),
            &user_a,
            &triage,
        )
        .await;
    assert_eq!(r.status(), 403, "client users do not triage");

    // A rewording is not news: no finding, no event.
    let alpha_live = open
        .iter()
        .find(|f| f["client_id"] == clients[0].to_string() && f["environment_kind"] == "live")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = events(&app, &sec, &alpha_live).await;
    import(
        &app,
        "twig.json",
        &twig_advisory(
            "Twig: template loading outside the configured paths",
            "2022-11-01T00:00:00Z",
            false,
        ),
    );
    let reworded = app.state.matcher.catch_up(now).await.unwrap();
    assert_eq!((reworded.changes.created, reworded.changes.events), (0, 0));
    assert_eq!(events(&app, &sec, &alpha_live).await, before);
    let (_, detail) = json_get(&app, &format!("/api/v1/findings/{alpha_live}"), &sec).await;
    assert!(
        detail["finding"]["title"]
            .as_str()
            .unwrap()
            .starts_with("Twig: template")
    );

    // Alpha's live site is upgraded: fixed, then verified by that inventory.
    let alpha_live_env = envs[1].2;
    app.clock.advance(jiff::SignedDuration::from_hours(1));
    let later = app.clock.now_ts();
    let pushed = push(&app, &ops, alpha_live_env, &composer_lock("v3.4.3")).await;
    assert_eq!(pushed["changes"][0]["kind"], "upgraded");
    assert_eq!(
        events(&app, &sec, &alpha_live).await,
        vec!["detected", "fixed", "verified"]
    );

    // Withdrawal: the rest become inactive, history intact; the verified one stays verified.
    import(
        &app,
        "twig.json",
        &twig_advisory("withdrawn", "2022-12-01T00:00:00Z", true),
    );
    app.state.matcher.catch_up(later).await.unwrap();
    assert!(findings(&app, &sec, "").await.is_empty());
    let all = findings(&app, &sec, "state=all").await;
    assert_eq!(all.len(), 4);
    for f in &all {
        let id = f["id"].as_str().unwrap();
        if id == alpha_live {
            assert_eq!(f["state"], "verified");
        } else {
            assert_eq!(f["state"], "inactive");
            assert_eq!(
                events(&app, &sec, id).await,
                vec!["detected", "inactivated"]
            );
        }
    }
}

/// A token of a manager, who may create clients.
async fn sec_admin(app: &TestApp) -> String {
    let email = format!("admin-{}@provider.test", uuid::Uuid::now_v7().simple());
    let u = app.user(&email, Role::SuperAdmin, None).await;
    app.token(&u, Role::SuperAdmin).await
}

const DPKG_STATUS: &str = "Package: base-files\nStatus: install ok installed\nVersion: 12.4+deb12u5\nArchitecture: amd64\n\n\
Package: libssl3\nStatus: install ok installed\nSource: openssl\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\n";

#[tokio::test]
async fn a_hosts_dpkg_status_and_a_sites_lockfiles_do_not_erase_each_other() {
    let app = TestApp::start(Default::default()).await;
    let ops = app.user("ops@provider.test", Role::Operations, None).await;
    let ops = app.token(&ops, Role::Operations).await;
    let admin = sec_admin(&app).await;
    let now = app.clock.now_ts();
    let client: Value = app
        .post_json(
            "/api/v1/clients",
            &admin,
            &client_body("Delta Dairy", "Europe/London"),
        )
        .await
        .json()
        .await
        .unwrap();
    let client_id: palisade_core::ClientId = client["id"].as_str().unwrap().parse().unwrap();
    let site = app
        .store
        .create_site(
            &NewSite {
                client_id,
                name: "www".into(),
                url: "https://www.delta.example".into(),
            },
            now,
        )
        .await
        .unwrap();
    let env = app
        .store
        .create_environment(
            &NewEnvironment {
                site_id: site.id,
                kind: EnvironmentKind::Live,
                name: "live".into(),
                url: None,
                position: None,
            },
            now,
        )
        .await
        .unwrap();
    let host = app
        .store
        .create_host(
            &palisade_core::tenant::HostInput {
                client_id: Some(client_id),
                name: "web-1".into(),
                addresses: vec![],
                os: "Debian 12".into(),
                environment_ids: vec![env.id],
            },
            now,
        )
        .await
        .unwrap();
    let packages = |snapshot: &Value| snapshot["packages"].as_u64().unwrap();

    let site_push = push(&app, &ops, env.id, &composer_lock("v3.4.0")).await;
    assert_eq!(packages(&site_push["snapshot"]), 3);
    let host_push = app
        .http
        .post(app.url(&format!(
            "/api/v1/hosts/{}/inventories?name=dpkg-status",
            host.id
        )))
        .bearer_auth(&ops)
        .body(DPKG_STATUS)
        .send()
        .await
        .unwrap();
    assert_eq!(host_push.status(), 201);
    let snaps: Value = host_push.json().await.unwrap();
    assert_eq!(
        packages(&snaps[0]),
        5,
        "Debian packages added, Composer kept: {snaps}"
    );
    assert_eq!(snaps[0]["removed"], 0);

    // The site's next lockfile leaves the host's packages alone...
    let again = push(&app, &ops, env.id, &composer_lock("v3.4.3")).await;
    assert_eq!(packages(&again["snapshot"]), 5);
    assert_eq!(again["snapshot"]["changed"], 1);

    // ...unless the upload says it replaces everything.
    let npm = r#"{"lockfileVersion":3,"packages":{"":{"name":"x"},"node_modules/lodash":{"version":"4.17.21"}}}"#;
    let all = app
        .http
        .post(app.url(&format!(
            "/api/v1/environments/{}/inventories?name=package-lock.json&replace=all",
            env.id
        )))
        .bearer_auth(&ops)
        .body(npm)
        .send()
        .await
        .unwrap();
    let all: Value = all.json().await.unwrap();
    assert_eq!(packages(&all["snapshot"]), 1, "{all}");
    assert_eq!(all["snapshot"]["removed"], 5);

    let bad = app
        .http
        .post(app.url(&format!(
            "/api/v1/environments/{}/inventories?name=composer.lock&replace=some",
            env.id
        )))
        .bearer_auth(&ops)
        .body(composer_lock("v3.4.3"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["field"], "replace");
}
