//! The desk's pages over real HTTP with signed-in sessions: the out-of-hours form (refused inside
//! support hours and for contracts without the line, accepted at night and flagged), the staff
//! queue with its filters and badges, the work-log form read in the client's time zone, and forms
//! without the CSRF token refused.

mod common;

use common::*;
use jiff::SignedDuration;
use palisade_core::Role;
use palisade_core::tenant::*;
use palisade_store::{DeskStore, Store};
use palisade_web::WebConfig;

async fn client(app: &TestApp, name: &str, out_of_hours: bool) -> Client {
    app.store
        .create_client(
            &ClientInput {
                name: name.into(),
                contract: Contract {
                    sla_tier: SlaTier::Standard,
                    support_hours: SupportHours::office_hours("Europe/London"),
                    holiday_calendar: Some("gb-eng".into()),
                    out_of_hours,
                },
            },
            start_time(),
        )
        .await
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_hours_form_queue_filters_and_work_log_form() {
    let app = TestApp::start(WebConfig {
        require_staff_mfa: false,
        ..WebConfig::default()
    })
    .await;
    let owls = client(&app, "Night Owls", true).await;
    let larks = client(&app, "Day Larks", false).await;
    app.user("owl@owls.example", Role::ClientUser, Some(owls.id))
        .await;
    app.user("lark@larks.example", Role::ClientUser, Some(larks.id))
        .await;
    app.user("l2@provider.example", Role::SupportL2, None).await;
    let owl = WebSession::sign_in(&app, "owl@owls.example").await;
    let lark = WebSession::sign_in(&app, "lark@larks.example").await;

    // The portal offers the line to a client who has it; inside support hours it is refused.
    let (status, list) = owl.get("/tickets").await;
    assert_eq!(status, 200);
    assert!(list.contains("id=\"out-of-hours-link\""), "{list}");
    assert!(!lark.get("/tickets").await.1.contains("out-of-hours-link"));
    let (_, form) = owl.get("/out-of-hours").await;
    let csrf = hidden_field(&form, "csrf");
    let raise = [
        ("csrf", csrf.as_str()),
        ("subject", "Shop down"),
        ("body", "502 everywhere"),
    ];
    let r = owl.post("/out-of-hours", &raise).await;
    assert_eq!(r.status().as_u16(), 409);
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("support hours are open now")
    );

    // Monday 20:00 London: accepted and flagged; a contract without the line is told so.
    // (Ten hours later the sessions have been idle too long: everyone signs in again.)
    app.clock.advance(SignedDuration::from_hours(10));
    let owl = WebSession::sign_in(&app, "owl@owls.example").await;
    let lark = WebSession::sign_in(&app, "lark@larks.example").await;
    let staff = WebSession::sign_in(&app, "l2@provider.example").await;
    let (_, form) = owl.get("/out-of-hours").await;
    let csrf = hidden_field(&form, "csrf");
    let raise = [
        ("csrf", csrf.as_str()),
        ("subject", "Shop down"),
        ("body", "502 everywhere"),
    ];
    let r = owl.post("/out-of-hours", &raise).await;
    assert_eq!(r.status().as_u16(), 303);
    let at = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let (_, page) = owl.get(&at).await;
    assert!(
        page.contains("id=\"ooh-tag\"") && page.contains("critical"),
        "{page}"
    );
    let (_, form) = lark.get("/out-of-hours").await;
    assert!(form.contains("does not include the out-of-hours line"));
    let csrf = hidden_field(&form, "csrf");
    let r = lark
        .post(
            "/out-of-hours",
            &[("csrf", &csrf), ("subject", "x"), ("body", "y")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    // Without the CSRF token nothing happens.
    let r = owl
        .post("/out-of-hours", &[("subject", "x"), ("body", "y")])
        .await;
    assert_eq!(r.status().as_u16(), 403);

    // Staff: the queue shows it with its client and line, and filters by line and client.
    let (_, queue) = staff.get("/tickets").await;
    assert!(
        queue.contains("Shop down")
            && queue.contains("Night Owls")
            && queue.contains("out of hours")
    );
    let (_, second) = staff.get("/tickets?line=second").await;
    assert!(!second.contains("Shop down"));
    let (_, theirs) = staff.get(&format!("/tickets?client_id={}", larks.id)).await;
    assert!(!theirs.contains("Shop down"));
    let (status, _) = staff.get("/tickets?state=sideways").await;
    assert_eq!(status, 422);

    // 40 minutes on: the critical clock (30 minutes) is breached and the queue says so.
    app.clock.advance(SignedDuration::from_mins(40));
    let (_, queue) = staff.get("/tickets").await;
    assert!(queue.contains("badge-breached"), "{queue}");

    // Work logged on the form is read in the client's zone (London, GMT in November):
    // 17:00–18:00 is half an hour in hours and half an hour out.
    let (_, page) = staff.get(&at).await;
    let csrf = hidden_field(&page, "csrf");
    let r = staff
        .post(
            &format!("{at}/work"),
            &[
                ("csrf", csrf.as_str()),
                ("start", "2026-11-23T17:00"),
                ("end", "2026-11-23T18:00"),
                ("note", "failed over the database"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = staff.get(&at).await;
    assert!(
        page.contains("0h30 in hours, 0h30 out of hours: 120.00 GBP"),
        "{page}"
    );
    let id = at
        .rsplit('/')
        .next()
        .expect("id")
        .parse()
        .expect("ticket id");
    let logs = app.store.ticket_work_logs(id).await.expect("logs");
    assert_eq!(logs[0].start, "2026-11-23T17:00:00Z".parse().expect("ts"));
    // The client's page of the same ticket has no work log and no handling forms.
    let (_, theirs) = owl.get(&at).await;
    assert!(!theirs.contains("id=\"work\"") && !theirs.contains("id=\"state-form\""));
}
