//! The demo's vulnerability story: a handful of advisories about packages PHP and JavaScript
//! sites really use (OSV records written for the demo, with their real identifiers and fixed
//! versions), a KEV listing and EPSS scores for them, and inventories for every demo environment
//! pushed over six weeks of simulated time: vulnerable versions at first, staging patched before
//! live, one advisory arriving later. The dashboard then has open findings, fixed and verified
//! ones, SLA breaches, a KEV-listed finding and a trend to draw.

use std::path::Path;

use anyhow::Context;
use jiff::{SignedDuration, Timestamp};
use palisade_core::EnvironmentId;
use palisade_core::tenant::EnvironmentKind;
use palisade_matcher::{Matcher, Upload};
use palisade_store::{ListQuery, Store};
use serde_json::json;

/// An OSV record for the demo.
fn osv(
    id: &str,
    alias: &str,
    summary: &str,
    severity: &str,
    ecosystem: &str,
    package: &str,
    ranges: &[(&str, &str)],
) -> serde_json::Value {
    let events: Vec<serde_json::Value> = ranges
        .iter()
        .map(|(from, fixed)| {
            json!({"type": "ECOSYSTEM", "events": [{"introduced": from}, {"fixed": fixed}]})
        })
        .collect();
    json!({
        "id": id,
        "modified": "2024-06-01T00:00:00Z",
        "aliases": if alias.is_empty() { vec![] } else { vec![alias] },
        "summary": summary,
        "database_specific": {"severity": severity},
        "affected": [{"package": {"ecosystem": ecosystem, "name": package}, "ranges": events}]
    })
}

/// The advisories known from the start, and the one that arrives a week before "now".
fn advisories() -> (Vec<serde_json::Value>, serde_json::Value) {
    let early = vec![
        osv(
            "GHSA-52m2-vc4m-jj33",
            "CVE-2022-39261",
            "Twig can load templates from outside the configured directories",
            "HIGH",
            "Packagist",
            "twig/twig",
            &[("0", "1.44.7"), ("2.0.0", "2.15.3"), ("3.0.0", "3.4.3")],
        ),
        osv(
            "GHSA-25mq-v84q-4j7r",
            "CVE-2022-31090",
            "Guzzle sends authorization settings to another host after a redirect",
            "HIGH",
            "Packagist",
            "guzzlehttp/guzzle",
            &[("0", "6.5.8"), ("7.0.0", "7.4.5")],
        ),
        osv(
            "GHSA-h7vf-5wrv-9fhv",
            "CVE-2022-24894",
            "Symfony's HTTP cache may store and replay cookies of another user",
            "MODERATE",
            "Packagist",
            "symfony/http-kernel",
            &[
                ("2.0.0", "4.4.50"),
                ("5.0.0", "5.4.20"),
                ("6.0.0", "6.0.20"),
            ],
        ),
        osv(
            "CVE-2021-3129",
            "",
            "Ignition lets an attacker run code when Laravel's debug mode is on",
            "CRITICAL",
            "Packagist",
            "facade/ignition",
            &[("0", "2.5.2")],
        ),
    ];
    let late = osv(
        "GHSA-35jh-r3h4-6jhm",
        "CVE-2021-23337",
        "lodash's template function can be made to run commands",
        "HIGH",
        "npm",
        "lodash",
        &[("0", "4.17.21")],
    );
    (early, late)
}

fn composer_lock(twig: &str, guzzle: &str, kernel: &str, ignition: Option<&str>) -> String {
    let mut packages = vec![
        json!({"name": "twig/twig", "version": twig}),
        json!({"name": "guzzlehttp/guzzle", "version": guzzle}),
        json!({"name": "symfony/http-kernel", "version": kernel}),
        json!({"name": "monolog/monolog", "version": "2.9.1"}),
        json!({"name": "psr/log", "version": "1.1.4"}),
    ];
    if let Some(v) = ignition {
        packages.push(json!({"name": "facade/ignition", "version": v}));
    }
    json!({"packages": packages, "packages-dev": [{"name": "phpunit/phpunit", "version": "9.6.13"}]})
        .to_string()
}

fn package_lock(lodash: &str) -> String {
    json!({"name": "site", "lockfileVersion": 3, "packages": {
        "": {"name": "site"},
        "node_modules/lodash": {"version": lodash},
        "node_modules/axios": {"version": "1.6.8"}
    }})
    .to_string()
}

/// The files an environment reports at a stage of the story (0: six weeks ago, 1: after the
/// staging round of patches, 2: after live followed).
fn inventory(i: usize, kind: EnvironmentKind, stage: u8) -> Vec<Upload> {
    let patched = match kind {
        EnvironmentKind::Staging | EnvironmentKind::Dev => stage >= 1 && i.is_multiple_of(2),
        EnvironmentKind::Live => stage >= 2 && i.is_multiple_of(4),
    };
    let (twig, guzzle) = if patched {
        ("v3.4.3", "7.5.0")
    } else {
        ("v3.4.1", "7.4.2")
    };
    let kernel = if i.is_multiple_of(3) {
        "v5.4.19"
    } else {
        "v5.4.21"
    };
    let ignition = (i % 7 == 3).then_some(if patched { "2.5.2" } else { "2.5.1" });
    let mut files = vec![Upload {
        name: "composer.lock".into(),
        bytes: composer_lock(twig, guzzle, kernel, ignition).into_bytes(),
    }];
    if i % 2 == 1 {
        files.push(Upload {
            name: "package-lock.json".into(),
            bytes: package_lock(if i % 5 == 1 { "4.17.21" } else { "4.17.20" }).into_bytes(),
        });
    }
    files
}

fn import(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let feeds = dir.join("demo-feeds");
    std::fs::create_dir_all(&feeds)?;
    let file = feeds.join(name);
    std::fs::write(&file, text)?;
    let mut db = palisade_vulndb::VulnDb::open(dir)?;
    palisade_vulndb::import_path(&mut db, &file, None, &mut |_| {})
        .with_context(|| format!("importing demo advisories {name}"))?;
    db.refresh_scan_index()?;
    Ok(())
}

/// Seeds the story into a freshly seeded demo. `now` is the end of the story.
pub async fn seed(
    store: std::sync::Arc<dyn Store>,
    advisory_dir: &Path,
    now: Timestamp,
) -> anyhow::Result<usize> {
    let (early, late) = advisories();
    import(
        advisory_dir,
        "demo-advisories.json",
        &serde_json::to_string(&early)?,
    )?;
    import(
        advisory_dir,
        "known_exploited_vulnerabilities.json",
        &json!({"title": "CISA Catalog of Known Exploited Vulnerabilities (demo excerpt)",
            "catalogVersion": "demo", "count": 1, "vulnerabilities": [{
                "cveID": "CVE-2021-3129", "vendorProject": "Laravel", "product": "Ignition",
                "vulnerabilityName": "Laravel Ignition File Upload Vulnerability",
                "dateAdded": "2021-11-18", "shortDescription": "Remote code execution in debug mode.",
                "requiredAction": "Apply updates per vendor instructions.", "dueDate": "2021-12-02",
                "knownRansomwareCampaignUse": "Unknown"}]})
        .to_string(),
    )?;
    import(
        advisory_dir,
        "epss_scores-demo.csv",
        "#model_version:demo,score_date:2026-11-01T00:00:00+0000\ncve,epss,percentile\n\
         CVE-2021-3129,0.97400,0.99950\nCVE-2022-31090,0.00230,0.61000\n\
         CVE-2022-39261,0.00410,0.73000\nCVE-2022-24894,0.00120,0.45000\n\
         CVE-2021-23337,0.01100,0.84000\n",
    )?;
    let matcher = Matcher::new(store.clone(), advisory_dir.to_owned(), Default::default());
    let mut envs: Vec<(EnvironmentId, EnvironmentKind)> = Vec::new();
    let mut q = ListQuery {
        limit: palisade_store::MAX_PAGE_SIZE,
        ..ListQuery::default()
    };
    loop {
        let page = store.list_environments(&q).await?;
        envs.extend(page.items.iter().map(|e| (e.id, e.kind)));
        match page.next_after {
            Some(n) => q.after = Some(n),
            None => break,
        }
    }
    let at = |days: i64| now - SignedDuration::from_hours(24 * days);
    matcher.catch_up(at(45)).await?;
    for stage in 0..3u8 {
        let when = at([45, 20, 4][usize::from(stage)]);
        if stage == 2 {
            import(advisory_dir, "demo-late-advisory.json", &late.to_string())?;
            matcher.catch_up(at(7)).await?;
        }
        for (i, (env, kind)) in envs.iter().enumerate() {
            matcher
                .intake(
                    *env,
                    inventory(i, *kind, stage),
                    Default::default(),
                    None,
                    when,
                )
                .await
                .context("pushing a demo inventory")?;
        }
    }
    Ok(envs.len())
}
