//! The fleet vulnerability pages over real HTTP with a signed-in session, as a person uses them:
//! the staff dashboard and findings list with their filters and paging, a finding's page with
//! triage (mistakes, a concurrent change and a two-person risk acceptance answered on the page),
//! who is affected by an advisory with its CSV, inventories on site and environment pages, and
//! the client portal in plain words, with another client's findings answered as not found.

mod common;
mod seed;

use common::*;
use jiff::SignedDuration;
use palisade_core::Role;
use palisade_store::FleetStore;
use palisade_web::WebConfig;
use seed::{ADVISORY, CVE, TITLE};

/// A cookie-keeping client that signs in through the HTML form.
struct Session<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
}

/// The markup of the element with `id`, up to its matching closing tag.
fn part<'h>(html: &'h str, id: &str) -> &'h str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let start = html[..at].rfind('<').expect("opening tag");
    let name: String = html[start + 1..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let (open, close) = (format!("<{name}"), format!("</{name}>"));
    let mut depth = 0;
    let mut i = start;
    while i < html.len() {
        let rest = &html[i..];
        if rest.starts_with(&close) {
            depth -= 1;
            if depth == 0 {
                return &html[start..i + close.len()];
            }
            i += close.len();
        } else if rest.starts_with(&open)
            && rest[open.len()..].starts_with(|c: char| c == '>' || c.is_whitespace())
        {
            depth += 1;
            i += open.len();
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    &html[start..]
}

impl<'a> Session<'a> {
    async fn new(app: &'a TestApp, email: &str) -> Session<'a> {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let s = Session { app, http };
        let form = s.page("/login").await.1;
        let r = s
            .post(
                "/login",
                &[
                    ("csrf", hidden_field(&form, "csrf").as_str()),
                    ("email", email),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(r.status(), 303, "{email} signed in");
        s
    }

    async fn page(&self, path: &str) -> (u16, String) {
        let r = self.http.get(self.app.url(path)).send().await.expect("get");
        (r.status().as_u16(), r.text().await.expect("text"))
    }

    async fn ok(&self, path: &str) -> String {
        let (status, html) = self.page(path).await;
        assert_eq!(status, 200, "{path}: {html}");
        html
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.app.url(path))
            .form(fields)
            .send()
            .await
            .expect("post")
    }

    /// Posts the triage form of a finding as it is on the page now, with `fields` filled in.
    async fn triage(&self, id: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let page = self.ok(&format!("/findings/{id}")).await;
        let csrf = hidden_field(&page, "csrf");
        let seen = hidden_field(&page, "seen_at");
        let mut all = vec![("csrf", csrf.as_str()), ("seen_at", seen.as_str())];
        all.extend_from_slice(fields);
        let r = self.post(&format!("/findings/{id}/triage"), &all).await;
        let status = r.status().as_u16();
        if status == 303 {
            return (303, self.ok(&format!("/findings/{id}")).await);
        }
        (status, r.text().await.expect("text"))
    }
}

async fn app() -> TestApp {
    TestApp::start(WebConfig {
        require_staff_mfa: false,
        ..WebConfig::default()
    })
    .await
}

#[tokio::test]
async fn staff_see_the_portfolio_and_filter_and_page_the_findings() {
    let app = app().await;
    app.user("sec@provider.test", Role::Security, None).await;
    let fleet = seed::fleet(&app).await;
    let sec = Session::new(&app, "sec@provider.test").await;

    let home = sec.ok("/").await;
    assert!(
        part(&home, "findings-card").contains("<strong>2</strong> open findings"),
        "the staff home links the vulnerabilities: {home}"
    );
    assert!(home.contains("href=\"/findings/dashboard\""));

    let dash = sec.ok("/findings/dashboard").await;
    assert!(part(&dash, "open-count").contains("<strong>2</strong>"));
    assert!(part(&dash, "kev-count").contains("<strong>0</strong>"));
    assert!(part(&dash, "breached-count").contains("<strong>0</strong>"));
    let chart = part(&dash, "trend");
    assert!(
        chart.contains("<svg") && chart.contains("<polyline"),
        "{chart}"
    );
    assert!(chart.contains("2 open today"), "{chart}");
    let clients = part(&dash, "by-client");
    assert!(clients.contains("Alpha Foods"), "{clients}");
    assert!(clients.contains(&format!("/findings?client_id={}", fleet.alpha)));
    assert!(
        !clients.contains("Bravo Books"),
        "no open findings, not listed"
    );
    assert!(part(&dash, "matcher-status").contains("Advisory sync"));

    // The list: live before staging, each with its reasons, versions, advisory and deadline.
    let list = sec.ok("/findings").await;
    let rows = part(&list, "findings");
    let (live, staging) = (
        rows.find(&format!("/environments/{}\"", fleet.live))
            .expect("live listed"),
        rows.find(&format!("/environments/{}\"", fleet.staging))
            .expect("staging listed"),
    );
    assert!(live < staging, "most urgent first: {rows}");
    for text in [
        TITLE,
        "live environment",
        "a fixed version is available",
        "rated high by its source",
        "twig/twig",
        "v3.4.0",
        "3.4.3",
        CVE,
        ADVISORY,
        "Alpha Foods",
        "due 2026-11-30",
    ] {
        assert!(rows.contains(text), "{text} in {rows}");
    }

    // Filters.
    let none = |html: &str| part(html, "findings").contains("No findings.");
    assert!(none(
        &sec.ok(&format!("/findings?client_id={}", fleet.bravo))
            .await
    ));
    assert!(!none(
        &sec.ok(&format!("/findings?client_id={}", fleet.alpha))
            .await
    ));
    assert!(!none(&sec.ok(&format!("/findings?alias={CVE}")).await));
    assert!(none(&sec.ok("/findings?alias=CVE-1999-0001").await));
    assert!(none(&sec.ok("/findings?kev=on").await));
    assert!(none(&sec.ok("/findings?breached=on").await));
    assert!(none(&sec.ok("/findings?state=verified").await));
    assert!(!none(&sec.ok("/findings?state=all&client_id=").await));
    let (status, bad) = sec.page("/findings?state=nonsense").await;
    assert_eq!(status, 400);
    assert!(bad.contains("unknown state"), "{bad}");

    // Keyset paging keeps the filters.
    let first = sec
        .ok(&format!("/findings?limit=1&client_id={}", fleet.alpha))
        .await;
    assert!(part(&first, "findings").contains(&fleet.live.to_string()));
    let next = hidden_href(&first, "next-page");
    assert!(
        next.contains(&format!("client_id={}", fleet.alpha)),
        "{next}"
    );
    let second = sec.ok(&next.replace("&amp;", "&")).await;
    assert!(part(&second, "findings").contains(&fleet.staging.to_string()));
    assert!(
        !second.contains("id=\"next-page\""),
        "the last page has no next link"
    );

    // A week later the deadline has passed: highlighted in the list and counted on the dashboard.
    app.clock.advance(SignedDuration::from_hours(24 * 8));
    let sec = Session::new(&app, "sec@provider.test").await;
    let breached = sec.ok("/findings?breached=on").await;
    assert!(
        part(&breached, "findings").contains("sla-breached\">breached: was due 2026-11-30"),
        "{breached}"
    );
    let dash = sec.ok("/findings/dashboard").await;
    assert!(part(&dash, "breached-count").contains("<strong>2</strong>"));
}

/// The `href` of the link with `id`.
fn hidden_href(html: &str, id: &str) -> String {
    let tag_start = html[..html.find(&format!("id=\"{id}\"")).expect("link")]
        .rfind("<a ")
        .expect("anchor");
    let tag = &html[tag_start..];
    tag.split("href=\"")
        .nth(1)
        .expect("href")
        .split('"')
        .next()
        .expect("value")
        .to_owned()
}

#[tokio::test]
async fn triage_on_the_finding_page_explains_mistakes_conflicts_and_needs_two_people_for_risk() {
    let app = app().await;
    app.user("sec@provider.test", Role::Security, None).await;
    app.user("mgr@provider.test", Role::Manager, None).await;
    app.user("ops@provider.test", Role::Operations, None).await;
    let fleet = seed::fleet(&app).await;
    let (live, staging) = (fleet.findings[0].to_string(), fleet.findings[1].to_string());
    let sec = Session::new(&app, "sec@provider.test").await;

    let page = sec.ok(&format!("/findings/{live}")).await;
    assert!(page.contains(TITLE));
    assert!(part(&page, "reasons").contains("live environment"));
    assert!(part(&page, "fixed").contains("3.4.3"));
    let history = part(&page, "history");
    assert!(
        history.contains("detected") && history.contains("Palisade"),
        "{history}"
    );
    assert!(page.contains("id=\"triage\""), "security may triage");
    assert!(
        !page.contains("value=\"approve-risk-acceptance\""),
        "nothing to approve yet"
    );
    let stale = hidden_field(&page, "seen_at");
    // Decisions take a person a while; the clock moves on between loading a form and sending it.
    app.clock.advance(SignedDuration::from_secs(60));

    // A mistake comes back on the page with what was typed.
    let (status, page) = sec
        .triage(
            &live,
            &[
                ("decision", "not-affected"),
                ("reason", "templates are fixed"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        part(&page, "triage-error").contains("justification: "),
        "{page}"
    );
    assert!(page.contains(">templates are fixed</textarea>"));

    let (status, page) = sec
        .triage(
            &live,
            &[
                ("decision", "not-affected"),
                ("justification", "vulnerable_code_not_in_execute_path"),
                ("reason", "the shop never renders user templates"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert!(part(&page, "finding-state").contains("not-affected"));
    assert!(part(&page, "justification").contains("the vulnerable code is never run"));
    let history = part(&page, "history");
    assert!(history.contains("triaged"), "{history}");
    assert!(
        history.contains("security user"),
        "the person is named: {history}"
    );
    assert!(history.contains("the shop never renders user templates"));

    // The form someone loaded before that decision is refused, with an explanation.
    let csrf = hidden_field(&page, "csrf");
    let r = sec
        .post(
            &format!("/findings/{live}/triage"),
            &[
                ("csrf", csrf.as_str()),
                ("seen_at", stale.as_str()),
                ("decision", "affected"),
                ("reason", "looked exploitable to me"),
            ],
        )
        .await;
    assert_eq!(r.status(), 409);
    let page = r.text().await.expect("text");
    assert!(part(&page, "triage-error").contains("Someone else changed this finding"));
    assert!(
        part(&page, "finding-state").contains("not-affected"),
        "nothing overwritten"
    );

    let (status, page) = sec
        .triage(&live, &[("decision", "fixed"), ("reason", "patched")])
        .await;
    assert_eq!(status, 422);
    assert!(
        part(&page, "triage-error")
            .contains("a finding that is not-affected cannot be marked fixed"),
        "{page}"
    );

    // Risk acceptance: asked by one person, approved by another.
    let (status, page) = sec
        .triage(
            &staging,
            &[
                ("decision", "request-risk-acceptance"),
                ("until", "2027-01-31"),
                (
                    "reason",
                    "staging is behind a VPN until the January release",
                ),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert!(part(&page, "pending-risk").contains("2027-01-31"));
    assert!(page.contains("value=\"approve-risk-acceptance\""));
    let (status, page) = sec
        .triage(
            &staging,
            &[("decision", "approve-risk-acceptance"), ("reason", "ok")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(part(&page, "triage-error").contains("someone other than its requester"));
    let mgr = Session::new(&app, "mgr@provider.test").await;
    let (status, page) = mgr
        .triage(
            &staging,
            &[
                ("decision", "approve-risk-acceptance"),
                ("reason", "agreed"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert!(part(&page, "finding-state").contains("risk-accepted"));
    assert!(part(&page, "history").contains("risk-approved"));

    // Operations may look but not decide.
    let ops = Session::new(&app, "ops@provider.test").await;
    let page = ops.ok(&format!("/findings/{live}")).await;
    assert!(!page.contains("id=\"triage\""));
    let r = ops
        .post(
            &format!("/findings/{live}/triage"),
            &[
                ("csrf", hidden_field(&page, "csrf").as_str()),
                ("decision", "reopen"),
                ("reason", "x"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);

    let dash = sec.ok("/findings/dashboard").await;
    assert!(part(&dash, "open-count").contains("<strong>0</strong>"));
}

#[tokio::test]
async fn advisory_site_environment_and_inventory_pages_show_who_runs_what() {
    let app = app().await;
    app.user("sec@provider.test", Role::Security, None).await;
    let fleet = seed::fleet(&app).await;
    let sec = Session::new(&app, "sec@provider.test").await;

    let adv = sec.ok(&format!("/advisories?id={ADVISORY}")).await;
    let advisories = part(&adv, "advisories");
    assert!(
        advisories.contains(ADVISORY) && advisories.contains(TITLE),
        "{advisories}"
    );
    assert!(advisories.contains("high"));
    let affected = part(&adv, "affected");
    for text in ["Alpha Foods", "shop", "live", "staging", "v3.4.0", "3.4.3"] {
        assert!(affected.contains(text), "{text} in {affected}");
    }
    let csv = hidden_href(&adv, "download-csv");
    let r = sec.http.get(app.url(&csv)).send().await.expect("csv");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.expect("csv text");
    assert_eq!(
        csv.lines().count(),
        3,
        "a header and one row per finding: {csv}"
    );
    assert!(csv.contains("Alpha Foods,shop,live"));
    let by_alias = sec.ok(&format!("/advisories?id={CVE}")).await;
    assert!(
        part(&by_alias, "affected").contains("Alpha Foods"),
        "found by its alias"
    );
    let nothing = sec.ok("/advisories?id=CVE-1999-0001").await;
    assert!(part(&nothing, "affected").contains("Nothing installed is affected"));
    // A second advisory, not yet matched: its installations are listed, marked pending.
    import(
        &app,
        "twig-2.json",
        serde_json::json!({
            "id": "GHSA-twig-0002", "modified": "2024-02-01T00:00:00Z", "summary": "Another Twig flaw",
            "affected": [{"package": {"ecosystem": "Packagist", "name": "twig/twig"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "3.0.0"}, {"fixed": "3.4.3"}]}]}]
        })
        .to_string()
        .as_bytes(),
    );
    let fresh = sec.ok("/advisories?id=GHSA-twig-0002").await;
    assert!(
        part(&fresh, "affected-heading").contains("0 finding(s), 2 being recorded"),
        "{fresh}"
    );
    assert_eq!(part(&fresh, "affected").matches(">pending<").count(), 2);
    assert!(
        fresh.contains("id=\"plan-waits\"") && !fresh.contains("id=\"plan-from-advisory\""),
        "no campaign from installations without findings"
    );

    let site = sec.ok(&format!("/sites/{}", fleet.site)).await;
    let findings = part(&site, "site-findings");
    assert!(
        findings.contains(TITLE) && findings.contains("staging"),
        "{findings}"
    );
    let first = app
        .store
        .latest_snapshot(fleet.live)
        .await
        .expect("latest")
        .expect("a snapshot");
    assert!(part(&site, "environments").contains(&format!("/inventories/{}", first.id)));

    // A second upload: Twig patched, and a requirements file with an unpinned entry.
    seed::take_files(
        &app,
        fleet.live,
        vec![
            ("composer.lock", seed::composer_lock("v3.4.3")),
            ("requirements.txt", b"requests>=2.0\n".to_vec()),
        ],
    )
    .await;
    let second = app
        .store
        .latest_snapshot(fleet.live)
        .await
        .expect("latest")
        .expect("a snapshot");
    let env = sec.ok(&format!("/environments/{}", fleet.live)).await;
    let snaps = part(&env, "snapshots");
    assert!(
        snaps.contains(&format!("/inventories/{}", first.id))
            && snaps.contains(&format!("/inventories/{}", second.id)),
        "{snaps}"
    );
    let snap = sec.ok(&format!("/inventories/{}", second.id)).await;
    let changes = part(&snap, "changes");
    assert!(changes.contains("upgraded"), "{changes}");
    assert!(
        changes.contains("twig/twig") && changes.contains("v3.4.0") && changes.contains("v3.4.3")
    );
    assert!(
        snap.contains(&format!("href=\"/inventories/{}\"", first.id)),
        "links the previous one"
    );
    assert!(part(&snap, "unevaluable").contains("requests"), "{snap}");
    let site = sec.ok(&format!("/sites/{}", fleet.site)).await;
    assert!(
        !part(&site, "site-findings").contains(&format!("/environments/{}\"", fleet.live)),
        "the patched environment has no open finding left"
    );
}

#[tokio::test]
async fn client_users_read_their_own_vulnerabilities_in_plain_words_and_nothing_else() {
    let app = app().await;
    app.user("sec@provider.test", Role::Security, None).await;
    let fleet = seed::fleet(&app).await;
    let live = fleet.findings[0].to_string();

    let owner = Session::new(&app, "owner@alpha.example").await;
    let portal = owner.ok("/").await;
    // Regression: the section once landed inside the page's <title> as well.
    assert_eq!(portal.matches("id=\"vulns-open\"").count(), 1, "{portal}");
    let title = portal
        .split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next());
    assert!(
        title.is_some_and(|t| !t.contains("Vulnerabilities")),
        "{title:?}"
    );
    let open = part(&portal, "vulns-open");
    for text in [
        TITLE,
        "shop, live",
        "twig/twig",
        "found, being assessed",
        "live environment",
        "to be fixed by 2026-11-30",
    ] {
        assert!(open.contains(text), "{text} in {open}");
    }
    let (status, _) = owner.page("/findings/dashboard").await;
    assert_eq!(status, 303, "the portal is a client's dashboard");

    let sec = Session::new(&app, "sec@provider.test").await;
    sec.triage(
        &live,
        &[
            ("decision", "not-affected"),
            ("justification", "vulnerable_code_not_in_execute_path"),
            ("reason", "the shop never renders user templates"),
        ],
    )
    .await;
    let portal = owner.ok("/").await;
    assert!(
        part(&portal, "vulns-assessed").contains(
            "assessed: your site is not affected</span>: the vulnerable code is never run"
        ),
        "{portal}"
    );
    let page = owner.ok(&format!("/findings/{live}")).await;
    assert!(!page.contains("id=\"triage\""), "clients do not triage");
    let history = part(&page, "history");
    assert!(
        history.contains("your provider") && !history.contains("security user"),
        "{history}"
    );

    // Another client sees none of it, and a finding's address answers as if it did not exist.
    let other = Session::new(&app, "owner@bravo.example").await;
    let portal = other.ok("/").await;
    assert!(part(&portal, "vulns-open").contains("Nothing is waiting to be fixed"));
    assert!(!portal.contains(TITLE));
    for path in [
        format!("/findings/{live}"),
        format!("/findings?client_id={}", fleet.alpha),
    ] {
        let (status, html) = other.page(&path).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            html.contains("no such record") && !html.contains(TITLE),
            "{path}: {html}"
        );
    }
    let csrf = hidden_field(&portal, "csrf");
    let r = other
        .post(
            &format!("/findings/{live}/triage"),
            &[
                ("csrf", csrf.as_str()),
                ("decision", "reopen"),
                ("reason", "x"),
            ],
        )
        .await;
    assert_eq!(r.status(), 404);
    let list = other.ok("/findings?state=all").await;
    assert!(part(&list, "findings").contains("No findings."));
    let adv = other.ok(&format!("/advisories?id={CVE}")).await;
    assert!(!adv.contains("Alpha") && !adv.contains("shop"), "{adv}");
    let snap = app
        .store
        .latest_snapshot(fleet.live)
        .await
        .expect("latest")
        .expect("a snapshot");
    let (status, _) = other.page(&format!("/inventories/{}", snap.id)).await;
    assert_eq!(status, 404);
    let (status, _) = owner.page(&format!("/inventories/{}", snap.id)).await;
    assert_eq!(status, 200, "the owner reads its own inventory");
}
