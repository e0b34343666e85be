//! The patch process as a customer is promised it: live waits for staging's passed tests, tests
//! only after a patch, exclusions need a reason, and the report names every exception.

use jiff::Timestamp;
use palisade_campaign::{
    Action, Campaign, CampaignClient, CampaignEnv, CampaignError, CampaignEvent, CampaignReport,
    CampaignState, EventKind, PackageFix, Progress, Step, TestMethod, apply, client_done, notice,
};
use palisade_core::tenant::EnvironmentKind;
use palisade_core::{
    CampaignEventId, CampaignId, ClientId, EnvironmentId, FindingId, SiteId, UserId,
};

fn env(site: SiteId, client: ClientId, kind: EnvironmentKind, position: i32) -> CampaignEnv {
    CampaignEnv {
        campaign_id: CampaignId::new(),
        environment_id: EnvironmentId::new(),
        client_id: client,
        site_id: site,
        site_name: "shop.example".into(),
        environment_name: kind.as_str().to_owned(),
        kind,
        position,
        step: Step::Pending,
        tests_passed: false,
        packages: vec![PackageFix {
            finding: FindingId::new(),
            package: "guzzlehttp/guzzle".into(),
            ecosystem: "Packagist".into(),
            installed: "7.4.1".into(),
            fixed: vec!["7.4.5".into()],
        }],
        priority: 50,
        exception: None,
        updated_at: Timestamp::UNIX_EPOCH,
        version: 1,
    }
}

fn tested(passed: bool) -> Action {
    Action::Tested {
        passed,
        method: TestMethod::Command,
        detail: "phpunit".into(),
        output: Some("OK (12 tests)".into()),
    }
}

fn patched() -> Action {
    Action::Patched { note: None }
}

const ACTIVE: CampaignState = CampaignState::Active;

#[test]
fn live_is_refused_until_staging_has_passed_its_tests() {
    let (site, client) = (SiteId::new(), ClientId::new());
    let mut staging = env(site, client, EnvironmentKind::Staging, 1);
    let live = env(site, client, EnvironmentKind::Live, 2);
    let all = |s: &CampaignEnv| vec![s.clone(), live.clone()];

    let err = apply(ACTIVE, &live, &all(&staging), &patched()).unwrap_err();
    assert!(
        matches!(&err, CampaignError::PromotionBlocked { waiting_on, .. } if waiting_on.contains("staging")),
        "{err}"
    );
    staging.step = apply(ACTIVE, &staging, &all(&staging), &patched()).unwrap();
    assert_eq!(staging.step, Step::Patched);
    // Patched but untested still blocks live; a failed test too.
    assert!(apply(ACTIVE, &live, &all(&staging), &patched()).is_err());
    staging.step = apply(ACTIVE, &staging, &all(&staging), &tested(false)).unwrap();
    assert_eq!(staging.step, Step::TestFailed);
    assert!(apply(ACTIVE, &live, &all(&staging), &patched()).is_err());
    // An inventory showing the fix on staging is not a test of it: live still waits.
    let mut verified = staging.clone();
    verified.step = Step::Verified;
    assert!(apply(ACTIVE, &live, &[verified.clone(), live.clone()], &patched()).is_err());
    assert_eq!(
        apply(ACTIVE, &verified, &[], &tested(true)).unwrap(),
        Step::Verified,
        "tests recorded after the verification keep it verified"
    );
    // Patch again, pass, and live may go.
    staging.step = apply(ACTIVE, &staging, &all(&staging), &patched()).unwrap();
    staging.step = apply(ACTIVE, &staging, &all(&staging), &tested(true)).unwrap();
    staging.tests_passed = true;
    assert_eq!(
        apply(ACTIVE, &live, &all(&staging), &patched()).unwrap(),
        Step::Patched
    );
}

/// `advance` keeps what the steps mean on the environment itself: passed tests clear it for the
/// next environment, a new patch needs new tests, an exclusion keeps its reason.
#[test]
fn advancing_an_environment_keeps_its_tests_and_its_reason() {
    let (site, client) = (SiteId::new(), ClientId::new());
    let staging = env(site, client, EnvironmentKind::Staging, 1);
    let live = env(site, client, EnvironmentKind::Live, 2);
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let go = |e: &CampaignEnv, other: &CampaignEnv, a: &Action| {
        palisade_campaign::advance(ACTIVE, e, &[e.clone(), other.clone()], a, now).unwrap()
    };
    let (patched_once, kind) = go(&staging, &live, &patched());
    assert_eq!(
        (kind, patched_once.version, patched_once.updated_at),
        (EventKind::Patched, staging.version + 1, now)
    );
    let (passed, kind) = go(&patched_once, &live, &tested(true));
    assert_eq!(
        (kind, passed.step, passed.tests_passed),
        (EventKind::Tested, Step::TestPassed, true)
    );
    assert!(apply(ACTIVE, &live, &[passed.clone(), live.clone()], &patched()).is_ok());
    let (failed, _) = go(&passed, &live, &tested(false));
    let (again, _) = go(&failed, &live, &patched());
    assert!(!again.tests_passed, "a new patch needs new tests");
    assert!(apply(ACTIVE, &live, &[again.clone(), live.clone()], &patched()).is_err());
    let (out, kind) = go(
        &live,
        &again,
        &Action::Exclude {
            reason: "  hosted elsewhere ".into(),
        },
    );
    assert_eq!(
        (kind, out.exception.as_deref()),
        (EventKind::Excluded, Some("hosted elsewhere"))
    );
    let (back, kind) = go(&out, &again, &Action::Include);
    assert_eq!(
        (kind, back.step, back.exception),
        (EventKind::Included, Step::Pending, None)
    );
}

#[test]
fn promotion_order_is_per_site_and_follows_position() {
    let client = ClientId::new();
    let (a, b) = (SiteId::new(), SiteId::new());
    let staging_a = env(a, client, EnvironmentKind::Staging, 1);
    let live_b = env(b, client, EnvironmentKind::Live, 1);
    // Site b has no staging in the campaign: another site's staging does not hold it back.
    assert_eq!(
        apply(
            ACTIVE,
            &live_b,
            &[staging_a.clone(), live_b.clone()],
            &patched()
        )
        .unwrap(),
        Step::Patched
    );
    // Dev before staging when the site orders them so.
    let dev_a = env(a, client, EnvironmentKind::Dev, 0);
    assert!(matches!(
        apply(
            ACTIVE,
            &staging_a,
            &[dev_a.clone(), staging_a.clone()],
            &patched()
        ),
        Err(CampaignError::PromotionBlocked { .. })
    ));
    // An excluded staging (with its reason) no longer holds live back.
    let mut staging = env(a, client, EnvironmentKind::Staging, 1);
    let live = env(a, client, EnvironmentKind::Live, 2);
    staging.step = apply(
        ACTIVE,
        &staging,
        &[],
        &Action::Exclude {
            reason: "staging is being rebuilt".into(),
        },
    )
    .unwrap();
    assert_eq!(
        apply(ACTIVE, &live, &[staging, live.clone()], &patched()).unwrap(),
        Step::Patched
    );
}

#[test]
fn steps_follow_the_process() {
    let e = env(SiteId::new(), ClientId::new(), EnvironmentKind::Staging, 1);
    // Tests before a patch are refused.
    assert!(matches!(
        apply(ACTIVE, &e, &[], &tested(true)),
        Err(CampaignError::WrongStep { .. })
    ));
    // Nothing moves unless the campaign runs.
    assert_eq!(
        apply(CampaignState::Planned, &e, &[], &patched()),
        Err(CampaignError::NotActive(CampaignState::Planned))
    );
    // Exclusion needs a reason; an excluded environment only comes back by inclusion.
    assert!(matches!(
        apply(ACTIVE, &e, &[], &Action::Exclude { reason: " ".into() }),
        Err(CampaignError::Invalid {
            field: "reason",
            ..
        })
    ));
    let mut x = e.clone();
    x.step = Step::Excluded;
    assert!(apply(ACTIVE, &x, &[], &patched()).is_err());
    assert_eq!(
        apply(ACTIVE, &x, &[], &Action::Include).unwrap(),
        Step::Pending
    );
    // Test output has a documented limit.
    let mut p = e.clone();
    p.step = Step::Patched;
    let huge = Action::Tested {
        passed: true,
        method: TestMethod::Command,
        detail: "make test".into(),
        output: Some("x".repeat(palisade_campaign::rules::MAX_OUTPUT_BYTES + 1)),
    };
    assert!(matches!(
        apply(ACTIVE, &p, &[], &huge),
        Err(CampaignError::Invalid {
            field: "output",
            ..
        })
    ));
    // An inventory verifies whatever was recorded, once.
    let v = Action::Verified {
        note: "inventory".into(),
    };
    assert_eq!(apply(ACTIVE, &e, &[], &v).unwrap(), Step::Verified);
    let mut done = e;
    done.step = Step::Verified;
    assert!(apply(ACTIVE, &done, &[], &v).is_err());
}

#[test]
fn a_client_is_done_when_every_environment_is_settled() {
    let (site, client) = (SiteId::new(), ClientId::new());
    let mut a = env(site, client, EnvironmentKind::Staging, 1);
    let mut b = env(site, client, EnvironmentKind::Live, 2);
    assert!(!client_done(&[a.clone(), b.clone()]));
    a.step = Step::Verified;
    b.step = Step::TestPassed;
    assert!(!client_done(&[a.clone(), b.clone()]));
    b.step = Step::Excluded;
    assert!(client_done(&[a, b]));
    assert!(!client_done(&[]));
}

fn campaign() -> Campaign {
    Campaign {
        id: CampaignId::new(),
        title: "CVE-2022-31090".into(),
        advisory: "CVE-2022-31090".into(),
        aliases: vec!["CVE-2022-31090".into(), "GHSA-25mq-v84q-4j7r".into()],
        summary: "Guzzle leaks credentials on redirect".into(),
        severity: "high".into(),
        state: CampaignState::Active,
        source_ticket: None,
        created_by: UserId::new(),
        created_at: Timestamp::UNIX_EPOCH,
        started_at: Some(Timestamp::UNIX_EPOCH),
        finished_at: None,
        version: 2,
    }
}

#[test]
fn the_notice_names_the_sites_versions_and_what_the_customer_does() {
    let (site, client) = (SiteId::new(), ClientId::new());
    let envs = [
        env(site, client, EnvironmentKind::Live, 2),
        env(site, client, EnvironmentKind::Staging, 1),
    ];
    let (subject, body) = notice::opening(&campaign(), "Acme Bakery", &envs, None);
    assert!(subject.contains("CVE-2022-31090") && subject.contains("guzzlehttp/guzzle"));
    assert!(body.contains("shop.example"), "{body}");
    assert!(body.contains("7.4.1 installed, fixed in 7.4.5"), "{body}");
    assert!(body.contains("What you need to do: nothing"), "{body}");
    // Staging is listed before live: the order the work is done in.
    assert!(body.find("staging (staging)").unwrap() < body.find("live (live)").unwrap());
}

#[test]
fn the_report_counts_progress_and_names_every_exception() {
    let c = campaign();
    let (site, client) = (SiteId::new(), ClientId::new());
    let mut staging = env(site, client, EnvironmentKind::Staging, 1);
    let mut live = env(site, client, EnvironmentKind::Live, 2);
    let mut other = env(SiteId::new(), client, EnvironmentKind::Live, 1);
    staging.step = Step::Verified;
    staging.tests_passed = true;
    live.step = Step::Verified;
    other.step = Step::Excluded;
    other.exception = Some("site is being decommissioned".into());
    let event = |envid: EnvironmentId, kind: EventKind, detail: serde_json::Value| CampaignEvent {
        id: CampaignEventId::new(),
        campaign_id: c.id,
        client_id: Some(client),
        environment_id: Some(envid),
        at: Timestamp::UNIX_EPOCH,
        actor: None,
        kind,
        detail,
    };
    let timeline = vec![
        event(
            staging.environment_id,
            EventKind::Tested,
            serde_json::json!({"passed": false}),
        ),
        event(
            staging.environment_id,
            EventKind::Tested,
            serde_json::json!({"passed": true}),
        ),
    ];
    let clients = [CampaignClient {
        campaign_id: c.id,
        client_id: client,
        client_name: "Acme Bakery".into(),
        rank: 1,
        planned_for: None,
        ticket_id: None,
        done_at: Some(Timestamp::from_second(7200).unwrap()),
    }];
    let envs = [staging, live, other];
    let r = CampaignReport::build(&c, &clients, &envs, &timeline);
    assert_eq!(
        r.progress,
        Progress {
            total: 3,
            verified: 2,
            excluded: 1,
            ..Progress::default()
        }
    );
    assert!((r.coverage - 1.0).abs() < f64::EPSILON);
    assert_eq!(r.clients[0].hours_to_patch, Some(2.0));
    let kinds: Vec<&str> = r.exceptions.iter().map(|e| e.kind.as_str()).collect();
    // Staging failed once before it passed; live needs no tests of its own (its inventory is
    // the proof); the third was excluded.
    assert_eq!(kinds, ["test-failed", "excluded"]);
    assert_eq!(r.exceptions[1].detail, "site is being decommissioned");
    // A staging environment an inventory verified without any passed tests is an exception.
    let mut untested = envs.clone();
    untested[0].tests_passed = false;
    let r = CampaignReport::build(&c, &clients, &untested, &timeline);
    assert!(
        r.exceptions
            .iter()
            .any(|e| e.kind == "verified-without-tests")
    );
}
