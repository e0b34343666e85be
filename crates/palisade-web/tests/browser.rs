//! End to end in a real browser: Chromium driven through chromedriver (WebDriver). A staff member
//! signs in with a password, enrols TOTP and passes it, creates a client, a site and two
//! environments and sees them listed; then a client user of another client signs in and cannot see
//! any of it.
//!
//! A second test triages a vulnerability finding through the form: the dashboard shows it and
//! its chart, the decision appears in the finding's history, and another client's user is told
//! the finding does not exist.
//!
//! A third goes through a support ticket: a client user opens it in the portal, staff write an
//! internal note, a public reply, a state change and an escalation, and the client sees the reply
//! but never the note or the escalation, and answers.
//!
//! Needs `chromedriver` and `chromium` on the PATH (Debian: chromium, chromium-driver). Without
//! them the test reports that it did not run, except in CI (`CI` set), where it fails.

mod common;
mod seed;

use std::process::Stdio;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use palisade_auth::totp;
use palisade_core::Role;
use palisade_core::tenant::*;
use palisade_store::Store;
use palisade_web::WebConfig;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts chromedriver on a free port; readiness is its own "started successfully" line.
async fn start_chromedriver() -> Option<(Child, u16)> {
    let spawned = Command::new("chromedriver")
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) if std::env::var_os("CI").is_some() => panic!("chromedriver is required in CI: {e}"),
        Err(e) => {
            println!(
                "browser test not run: chromedriver unavailable ({e}); install chromium and chromium-driver"
            );
            return None;
        }
    };
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    while let Some(line) = lines.next_line().await.expect("read chromedriver output") {
        if let Some(port) = line.split("started successfully on port ").nth(1) {
            let port = port.trim_end_matches('.').parse().expect("port number");
            // Keep draining its output so it never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Some((child, port));
        }
    }
    panic!("chromedriver exited before it was ready");
}

async fn browser(port: u16) -> Client {
    let mut caps = serde_json::Map::new();
    let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let mut opts = serde_json::json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1000"]
    });
    if let Some(b) = binary {
        opts["binary"] = serde_json::json!(b);
    }
    caps.insert("goog:chromeOptions".into(), opts);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("start a browser session")
}

async fn fill(b: &Client, id: &str, text: &str) {
    let el = b
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("field #{id}: {e}"));
    el.clear().await.expect("clear");
    el.send_keys(text).await.expect("type");
}

/// Clicks a button that submits a form and waits until the browser has left the old page: the
/// old document's root element going stale is the readiness signal.
async fn click(b: &Client, id: &str) {
    let old_root = b.find(Locator::Css("html")).await.expect("page root");
    b.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("button #{id}: {e}"))
        .click()
        .await
        .expect("click");
    for _ in 0..10_000 {
        match old_root.tag_name().await {
            // Chromium reports a node of a replaced document either as stale or, mid-navigation,
            // as not belonging to the document: both mean the old page is gone.
            Err(e)
                if e.is_stale_element_reference()
                    || e.to_string().contains("does not belong to the document") =>
            {
                return;
            }
            Err(e) => panic!("waiting for navigation after #{id}: {e}"),
            Ok(_) => {}
        }
    }
    panic!("clicking #{id} did not navigate");
}

async fn text_of(b: &Client, id: &str) -> String {
    b.wait()
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("element #{id}: {e}"))
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_with_mfa_build_the_spine_in_a_browser_and_another_client_sees_none_of_it() {
    let Some((_driver, port)) = start_chromedriver().await else {
        return;
    };
    let app = TestApp::start(WebConfig::default()).await;
    app.user("ops-admin@example.com", Role::SuperAdmin, None)
        .await;
    let other = app
        .store
        .create_client(
            &ClientInput {
                name: "Other Org".into(),
                contract: Contract {
                    sla_tier: SlaTier::Basic,
                    support_hours: SupportHours::office_hours("Europe/Berlin"),
                    holiday_calendar: None,
                    out_of_hours: false,
                },
            },
            start_time(),
        )
        .await
        .expect("other client");
    app.user("someone@other.example", Role::ClientUser, Some(other.id))
        .await;

    let b = browser(port).await;
    let result = async {
        b.goto(&app.url("/")).await.expect("open");
        fill(&b, "email", "ops-admin@example.com").await;
        fill(&b, "password", PASSWORD).await;
        click(&b, "sign-in").await;

        // First sign-in of a staff member: enrol TOTP before anything else.
        let secret = text_of(&b, "totp-secret").await;
        let key = totp::secret_from_base32(&secret).expect("base32 secret on the page");
        let code = totp::code_at_step(&key, totp::step_of(app.clock.now_ts().as_second()));
        fill(&b, "code", &code).await;
        click(&b, "enrol").await;
        assert!(text_of(&b, "who").await.contains("super-admin user"));

        b.goto(&app.url("/clients")).await.expect("clients");
        fill(&b, "name", "Browser Bakery <Ltd>").await;
        fill(&b, "time_zone", "Europe/London").await;
        click(&b, "create-client").await;
        assert_eq!(text_of(&b, "client-name").await, "Browser Bakery <Ltd>");
        let client_url = b.current_url().await.expect("url").to_string();

        fill(&b, "site-name", "shop").await;
        fill(&b, "site-url", "https://shop.browser-bakery.example").await;
        click(&b, "create-site").await;
        assert_eq!(text_of(&b, "site-name").await, "shop");
        let site_url = b.current_url().await.expect("url").to_string();

        for (name, kind) in [("live", "live"), ("staging", "staging")] {
            fill(&b, "env-name", name).await;
            b.find(Locator::Id("env-kind"))
                .await
                .expect("kind")
                .select_by_value(kind)
                .await
                .expect("select");
            click(&b, "create-environment").await;
        }
        let envs = text_of(&b, "environments").await;
        let (staging, live) = (
            envs.find("staging").expect("staging listed"),
            envs.rfind("live").expect("live listed"),
        );
        assert!(staging < live, "listed in promotion order: {envs}");

        b.goto(&app.url("/clients")).await.expect("clients");
        assert!(
            text_of(&b, "clients")
                .await
                .contains("Browser Bakery <Ltd>")
        );
        b.goto(&app.url("/sites")).await.expect("sites");
        assert!(text_of(&b, "sites").await.contains("shop"));
        click(&b, "logout").await;

        // A client user of another client: their portal, and nothing of the new client.
        b.wait()
            .for_element(Locator::Id("email"))
            .await
            .expect("login page");
        fill(&b, "email", "someone@other.example").await;
        fill(&b, "password", PASSWORD).await;
        click(&b, "sign-in").await;
        assert_eq!(text_of(&b, "client-name").await, "Other Org");
        for url in [&client_url, &site_url] {
            b.goto(url).await.expect("open foreign page");
            let msg = text_of(&b, "message").await;
            assert!(msg.contains("no such record"), "{url}: {msg}");
            assert!(!b.source().await.expect("source").contains("Browser Bakery"));
        }
        b.goto(&app.url("/sites")).await.expect("sites");
        assert!(!text_of(&b, "sites").await.contains("shop"));
    }
    .await;
    b.close().await.expect("close browser");
    result
}

/// A patch campaign in the browser: planned from the advisory page, started, live refused until
/// staging is patched and tested, verified by new inventories; the affected customer follows it
/// read-only and the unaffected one cannot open it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_runs_a_patch_campaign_in_the_browser_and_the_customer_follows_it() {
    let Some((_driver, port)) = start_chromedriver().await else {
        return;
    };
    let app = TestApp::start(WebConfig {
        require_staff_mfa: false,
        ..WebConfig::default()
    })
    .await;
    app.user("sec@provider.test", Role::Security, None).await;
    let ops = app.user("ops@provider.test", Role::Operations, None).await;
    let ops = app.token(&ops, Role::Operations).await;
    let fleet = seed::fleet(&app).await;
    let (staging, live) = (fleet.staging.to_string(), fleet.live.to_string());

    let b = browser(port).await;
    let result = async {
        sign_in(&b, &app, "sec@provider.test").await;
        b.goto(&app.url(&format!("/advisories?id={}", seed::CVE)))
            .await
            .expect("advisory page");
        click(&b, "plan-campaign-button").await;
        assert_eq!(text_of(&b, "campaign-state").await, "planned");
        assert_eq!(text_of(&b, "count-pending").await, "2");
        let campaign_url = b.current_url().await.expect("url").to_string();
        click(&b, "start-campaign").await;
        assert_eq!(text_of(&b, "campaign-state").await, "active");
        b.find(Locator::Css("a.campaign-ticket"))
            .await
            .expect("the customer's ticket is linked");

        // Live first is refused, with the reason on the page.
        click(&b, &format!("patch-{live}")).await;
        let refused = text_of(&b, "message").await;
        assert!(refused.contains("staging"), "{refused}");
        b.goto(&campaign_url).await.expect("campaign");
        click(&b, &format!("patch-{staging}")).await;
        assert_eq!(text_of(&b, &format!("step-{staging}")).await, "patched");
        b.find(Locator::Id(&format!("tests-{staging}")))
            .await
            .expect("tests summary")
            .click()
            .await
            .expect("open the tests form");
        choose(&b, &format!("method-{staging}"), "command").await;
        fill(&b, &format!("detail-{staging}"), "vendor/bin/phpunit").await;
        fill(&b, &format!("output-{staging}"), "OK (42 tests)").await;
        click(&b, &format!("test-{staging}")).await;
        assert_eq!(text_of(&b, &format!("step-{staging}")).await, "test-passed");
        click(&b, &format!("patch-{live}")).await;
        assert_eq!(text_of(&b, &format!("step-{live}")).await, "patched");

        // New inventories show the fixed version: the campaign completes.
        for env in [&staging, &live] {
            push(
                &app,
                &ops,
                env,
                &String::from_utf8(seed::composer_lock("v3.4.3")).expect("utf-8"),
            )
            .await;
        }
        b.goto(&campaign_url).await.expect("campaign");
        assert_eq!(text_of(&b, "campaign-state").await, "completed");
        assert_eq!(text_of(&b, "count-verified").await, "2");
        assert!(text_of(&b, "timeline").await.contains("client-done"));
        click(&b, "logout").await;

        // The customer follows their part, without the staff forms.
        b.wait()
            .for_element(Locator::Id("email"))
            .await
            .expect("login page");
        fill(&b, "email", "owner@alpha.example").await;
        fill(&b, "password", PASSWORD).await;
        click(&b, "sign-in").await;
        b.goto(&campaign_url).await.expect("campaign as customer");
        assert_eq!(text_of(&b, "campaign-state").await, "completed");
        let html = b.source().await.expect("source");
        assert!(!html.contains("Mark patched") && !html.contains("start-campaign"));
        click(&b, "logout").await;
        b.wait()
            .for_element(Locator::Id("email"))
            .await
            .expect("login page");
        fill(&b, "email", "owner@bravo.example").await;
        fill(&b, "password", PASSWORD).await;
        click(&b, "sign-in").await;
        b.goto(&campaign_url).await.expect("foreign campaign");
        assert!(text_of(&b, "message").await.contains("no such record"));
    }
    .await;
    b.close().await.expect("close browser");
    result
}

async fn sign_in(b: &Client, app: &TestApp, email: &str) {
    b.goto(&app.url("/login")).await.expect("login page");
    fill(b, "email", email).await;
    fill(b, "password", PASSWORD).await;
    click(b, "sign-in").await;
}

async fn choose(b: &Client, id: &str, value: &str) {
    b.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("select #{id}: {e}"))
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("choose {value} in #{id}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_triages_a_finding_in_the_browser_and_another_client_cannot_open_it() {
    let Some((_driver, port)) = start_chromedriver().await else {
        return;
    };
    // TOTP enrolment in a browser is the first test's subject; here staff sign in with a password.
    let app = TestApp::start(WebConfig {
        require_staff_mfa: false,
        ..WebConfig::default()
    })
    .await;
    app.user("sec@provider.test", Role::Security, None).await;
    let fleet = seed::fleet(&app).await;
    let finding_url = app.url(&format!("/findings/{}", fleet.findings[0]));

    let b = browser(port).await;
    let result = async {
        sign_in(&b, &app, "sec@provider.test").await;
        b.goto(&app.url("/findings/dashboard"))
            .await
            .expect("dashboard");
        let open = text_of(&b, "open-count").await;
        assert_eq!(
            open.split_whitespace().collect::<Vec<_>>().join(" "),
            "2 open findings"
        );
        let line = b
            .find(Locator::Css("#trend svg polyline"))
            .await
            .expect("the chart of open findings");
        assert!(
            !line
                .attr("points")
                .await
                .expect("points")
                .unwrap_or_default()
                .is_empty()
        );

        b.goto(&finding_url).await.expect("finding");
        assert_eq!(text_of(&b, "finding-title").await, seed::TITLE);
        assert!(text_of(&b, "reasons").await.contains("live environment"));
        choose(&b, "decision", "not-affected").await;
        choose(
            &b,
            "justification-input",
            "vulnerable_code_not_in_execute_path",
        )
        .await;
        fill(&b, "reason", "the shop never renders user templates").await;
        click(&b, "save-triage").await;
        assert!(text_of(&b, "finding-state").await.contains("not-affected"));
        let history = text_of(&b, "history").await;
        assert!(history.contains("triaged"), "{history}");
        assert!(
            history.contains("the shop never renders user templates"),
            "{history}"
        );
        click(&b, "logout").await;

        b.wait()
            .for_element(Locator::Id("email"))
            .await
            .expect("login page");
        fill(&b, "email", "owner@bravo.example").await;
        fill(&b, "password", PASSWORD).await;
        click(&b, "sign-in").await;
        assert_eq!(text_of(&b, "client-name").await, "Bravo Books");
        b.goto(&finding_url).await.expect("open a foreign finding");
        assert!(text_of(&b, "message").await.contains("no such record"));
        assert!(!b.source().await.expect("source").contains(seed::TITLE));
    }
    .await;
    b.close().await.expect("close browser");
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_conversation_between_a_client_and_staff_keeps_internal_notes_internal() {
    let Some((_driver, port)) = start_chromedriver().await else {
        return;
    };
    let app = TestApp::start(WebConfig {
        require_staff_mfa: false,
        ..WebConfig::default()
    })
    .await;
    let hotel = app
        .store
        .create_client(
            &ClientInput {
                name: "Harbour Hotels".into(),
                contract: Contract {
                    sla_tier: SlaTier::Premium,
                    support_hours: SupportHours::office_hours("Europe/London"),
                    holiday_calendar: Some("gb-eng".into()),
                    out_of_hours: true,
                },
            },
            start_time(),
        )
        .await
        .expect("client");
    let site = app
        .store
        .create_site(
            &NewSite {
                client_id: hotel.id,
                name: "bookings".into(),
                url: "https://bookings.harbour.example".into(),
            },
            start_time(),
        )
        .await
        .expect("site");
    app.user("guest@harbour.example", Role::ClientUser, Some(hotel.id))
        .await;
    app.user("desk@provider.test", Role::SupportL1, None).await;
    const NOTE: &str = "Their PHP pool is misconfigured again, do not tell them yet";
    const REASON: &str = "needs a database engineer";

    let b = browser(port).await;
    let result = async {
        // The client opens a ticket from the portal.
        sign_in(&b, &app, "guest@harbour.example").await;
        b.find(Locator::Id("nav-tickets"))
            .await
            .expect("Tickets in the portal navigation");
        b.goto(&app.url("/tickets/new")).await.expect("new ticket");
        choose(&b, "site_id", &site.id.to_string()).await;
        choose(&b, "category", "incident").await;
        choose(&b, "priority", "high").await;
        fill(&b, "subject", "Booking form times out").await;
        fill(&b, "body", "Guests cannot book since 09:00").await;
        click(&b, "open-ticket").await;
        assert!(
            text_of(&b, "ticket-title")
                .await
                .contains("Booking form times out")
        );
        assert_eq!(text_of(&b, "ticket-state").await, "new");
        let ticket_url = b.current_url().await.expect("url").to_string();
        click(&b, "logout").await;

        // Staff find it in the queue and answer: a note, a reply, a state change, an escalation.
        b.wait()
            .for_element(Locator::Id("email"))
            .await
            .expect("login");
        sign_in(&b, &app, "desk@provider.test").await;
        b.goto(&app.url("/tickets")).await.expect("queue");
        let queue = text_of(&b, "tickets").await;
        assert!(
            queue.contains("Booking form times out") && queue.contains("Harbour Hotels"),
            "{queue}"
        );
        b.goto(&ticket_url).await.expect("ticket");
        fill(&b, "reply-body", NOTE).await;
        b.find(Locator::Id("vis-internal"))
            .await
            .expect("note radio")
            .click()
            .await
            .expect("choose note");
        click(&b, "send-reply").await;
        let timeline = text_of(&b, "timeline").await;
        assert!(
            timeline.contains("Internal note") && timeline.contains(NOTE),
            "{timeline}"
        );
        assert_eq!(
            text_of(&b, "ticket-state").await,
            "new",
            "a note is not an answer"
        );
        fill(&b, "reply-body", "We are looking at the booking form now.").await;
        click(&b, "send-reply").await;
        assert_eq!(text_of(&b, "ticket-state").await, "open");
        choose(&b, "new-state", "waiting-on-customer").await;
        fill(&b, "state-reason", "Which browser do the guests use?").await;
        click(&b, "change-state").await;
        assert_eq!(text_of(&b, "ticket-state").await, "waiting-on-customer");
        fill(&b, "escalate-reason", REASON).await;
        click(&b, "escalate").await;
        assert_eq!(text_of(&b, "ticket-line").await, "2nd line");
        assert!(text_of(&b, "timeline").await.contains(REASON));
        click(&b, "logout").await;

        // The client sees the reply and the state change, never the note or the escalation.
        b.wait()
            .for_element(Locator::Id("email"))
            .await
            .expect("login");
        sign_in(&b, &app, "guest@harbour.example").await;
        b.goto(&ticket_url).await.expect("ticket");
        let timeline = text_of(&b, "timeline").await;
        assert!(
            timeline.contains("We are looking at the booking form now."),
            "{timeline}"
        );
        assert!(
            timeline.contains("Which browser do the guests use?"),
            "{timeline}"
        );
        let source = b.source().await.expect("source");
        assert!(
            !source.contains(NOTE),
            "the internal note reached the client"
        );
        assert!(
            !source.contains(REASON),
            "the escalation reached the client"
        );
        assert!(!source.contains("Internal note"));
        assert!(
            b.find(Locator::Id("vis-internal")).await.is_err(),
            "no note option for clients"
        );
        fill(&b, "reply-body", "Safari on iPhones").await;
        click(&b, "send-reply").await;
        assert_eq!(
            text_of(&b, "ticket-state").await,
            "open",
            "the answer ends the wait"
        );
        b.goto(&app.url("/tickets")).await.expect("their list");
        assert!(
            text_of(&b, "tickets")
                .await
                .contains("Booking form times out")
        );
    }
    .await;
    b.close().await.expect("close browser");
    result
}
