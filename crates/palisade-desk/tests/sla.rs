//! Concrete SLA scenarios: a ticket's clocks replayed from its events against a London 09:00–17:00
//! calendar with English bank holidays: deadlines and warnings, pauses while waiting on the
//! customer, next-response cycles, resolution and reopening, priority changes, calendar-minute
//! targets, recomputation after a calendar change, and malformed histories.

use jiff::civil::{Weekday, date};
use jiff::{SignedDuration, Timestamp, Zoned};
use palisade_desk::{
    BusinessCalendar, ClockState, DeskError, EventKind, HolidayCalendar, Priority, PriorityTargets,
    SlaStatus, SlaTargets, Target, TicketEvent, evaluate,
};

fn at(s: &str) -> Timestamp {
    format!("{s}[Europe/London]")
        .parse::<Zoned>()
        .expect("zoned time")
        .timestamp()
}

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

fn london() -> BusinessCalendar {
    let days = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
    ];
    let holidays = HolidayCalendar::builtin();
    BusinessCalendar::new("Europe/London", days.map(|d| (d, "09:00", "17:00")))
        .unwrap()
        .with_holidays(holidays.get("gb-eng").unwrap().iter().map(|(d, _)| d))
}

/// Normal: first response 4 business hours, next response 2, resolution 16 (two days).
fn targets() -> SlaTargets {
    let normal = PriorityTargets {
        first_response: Some(Target::business(4 * 60)),
        next_response: Some(Target::business(2 * 60)),
        resolution: Some(Target::business(16 * 60)),
    };
    SlaTargets {
        critical: PriorityTargets {
            first_response: Some(Target::calendar(30)),
            next_response: Some(Target::calendar(60)),
            resolution: Some(Target::calendar(4 * 60)),
        },
        high: PriorityTargets {
            first_response: Some(Target::business(60)),
            next_response: Some(Target::business(60)),
            resolution: Some(Target::business(8 * 60)),
        },
        normal,
        low: PriorityTargets {
            first_response: Some(Target::business(8 * 60)),
            next_response: None,
            resolution: Some(Target::business(40 * 60)),
        },
        warn_percent: 80,
    }
}

fn ev(t: &str, kind: EventKind) -> TicketEvent {
    TicketEvent::new(at(t), kind)
}

fn created(t: &str, priority: Priority) -> TicketEvent {
    ev(t, EventKind::Created { priority })
}

fn eval(events: &[TicketEvent], now: &str) -> SlaStatus {
    evaluate(events, &targets(), &london(), at(now)).unwrap()
}

#[test]
fn friday_afternoon_ticket_is_due_monday_1230_and_warns_at_80_percent() {
    let events = [created("2025-08-15T16:30", Priority::Normal)];
    let s = eval(&events, "2025-08-15T16:45");
    let fr = s.first_response.unwrap();
    assert_eq!(fr.state, ClockState::Running);
    assert_eq!(fr.deadline, Some(at("2025-08-18T12:30")));
    // 80 % of 4 h = 3 h 12 min: 30 min on Friday, 2 h 42 min on Monday.
    assert_eq!(fr.warn_at, Some(at("2025-08-18T11:42")));
    assert_eq!(fr.elapsed, mins(15));
    assert_eq!(fr.remaining, mins(225));
    assert!(!fr.warning);
    assert_eq!(s.next_change, Some(at("2025-08-18T11:42")));
    // Over the weekend nothing elapses.
    let s = eval(&events, "2025-08-17T12:00");
    assert_eq!(s.first_response.unwrap().remaining, hours(3) + mins(30));
    // Monday 11:50: warning, not yet breached.
    let fr = eval(&events, "2025-08-18T11:50").first_response.unwrap();
    assert!(fr.warning);
    assert_eq!(fr.state, ClockState::Running);
    // Monday 13:00: breached, half an hour overdue.
    let fr = eval(&events, "2025-08-18T13:00").first_response.unwrap();
    assert_eq!(fr.state, ClockState::Breached);
    assert_eq!(fr.overdue(), mins(30));
    assert!(!fr.warning);
}

#[test]
fn over_the_bank_holiday_it_is_due_tuesday_1230() {
    let events = [created("2025-08-22T16:30", Priority::Normal)];
    let s = eval(&events, "2025-08-22T16:31");
    assert_eq!(
        s.first_response.unwrap().deadline,
        Some(at("2025-08-26T12:30"))
    );
}

#[test]
fn a_staff_reply_meets_the_first_response_and_a_late_one_breaches_it() {
    let mut events = vec![
        created("2025-08-15T16:30", Priority::Normal),
        ev("2025-08-18T10:00", EventKind::StaffReply),
    ];
    let fr = eval(&events, "2025-08-18T15:00").first_response.unwrap();
    assert_eq!(fr.state, ClockState::Met);
    assert_eq!(fr.stopped_at, Some(at("2025-08-18T10:00")));
    assert_eq!(fr.elapsed, mins(90));
    assert_eq!(fr.remaining, mins(150));
    assert_eq!(fr.deadline, None);
    events[1].at = at("2025-08-18T12:30");
    assert_eq!(
        eval(&events, "2025-08-18T15:00")
            .first_response
            .unwrap()
            .state,
        ClockState::Met,
        "a reply at the deadline is in time"
    );
    events[1].at = at("2025-08-18T12:31");
    let fr = eval(&events, "2025-08-18T15:00").first_response.unwrap();
    assert_eq!(fr.state, ClockState::Breached);
    assert_eq!(fr.deadline, Some(at("2025-08-18T12:30")));
    assert_eq!(fr.overdue(), mins(1));
}

#[test]
fn waiting_on_the_customer_pauses_every_clock() {
    let events = [
        created("2026-03-23T09:00", Priority::Normal),
        ev("2026-03-23T09:30", EventKind::StaffReply),
        ev("2026-03-23T10:00", EventKind::WaitingOnCustomer),
        // The customer's answer ends the wait on its own.
        ev("2026-03-24T11:00", EventKind::CustomerReply),
    ];
    // While waiting: paused, no deadline, remaining frozen at 16 h − 1 h.
    let s = eval(&events, "2026-03-23T16:00");
    assert!(s.waiting_on_customer);
    let res = s.resolution.unwrap();
    assert_eq!(res.state, ClockState::Paused);
    assert!(res.paused);
    assert_eq!(res.deadline, None);
    assert_eq!(res.remaining, hours(15));
    assert_eq!(s.next_change, None);
    // After the customer replied: running again, 15 h from Tuesday 11:00 is Thursday 10:00.
    let s = eval(&events, "2026-03-24T11:30");
    assert!(!s.waiting_on_customer);
    let res = s.resolution.unwrap();
    assert_eq!(res.state, ClockState::Running);
    assert_eq!(res.deadline, Some(at("2026-03-26T10:00")));
    // And the customer is owed an answer within 2 business hours.
    let next = s.next_response.unwrap();
    assert_eq!(next.started_at, at("2026-03-24T11:00"));
    assert_eq!(next.deadline, Some(at("2026-03-24T13:00")));
    // An explicit resume works the same way.
    let mut resumed = events.to_vec();
    resumed[3] = ev("2026-03-24T11:00", EventKind::Resumed);
    let res = eval(&resumed, "2026-03-24T11:30").resolution.unwrap();
    assert_eq!(res.deadline, Some(at("2026-03-26T10:00")));
}

#[test]
fn a_breach_before_the_pause_stays_a_breach() {
    let events = [
        created("2026-03-23T09:00", Priority::High),
        ev("2026-03-23T11:00", EventKind::WaitingOnCustomer),
    ];
    let fr = eval(&events, "2026-03-23T12:00").first_response.unwrap();
    assert_eq!(fr.state, ClockState::Breached);
    assert!(fr.paused);
    assert_eq!(fr.deadline, Some(at("2026-03-23T10:00")));
    assert_eq!(fr.overdue(), hours(1));
}

/// zammad/zammad#5177: another clock's update must not move the first-response deadline.
#[test]
fn a_customer_reply_before_the_first_response_changes_nothing() {
    let base = [created("2026-03-23T09:00", Priority::Normal)];
    let mut chased = base.to_vec();
    chased.push(ev("2026-03-23T10:00", EventKind::CustomerReply));
    let a = eval(&base, "2026-03-23T11:00");
    let b = eval(&chased, "2026-03-23T11:00");
    assert_eq!(a.first_response, b.first_response);
    assert_eq!(b.next_response, None);
    assert_eq!(b.next_response_cycles, 0);
}

#[test]
fn next_response_cycles_are_counted_and_breaches_remembered() {
    let events = [
        created("2026-03-23T09:00", Priority::Normal),
        ev("2026-03-23T09:10", EventKind::StaffReply),
        ev("2026-03-23T10:00", EventKind::CustomerReply),
        // A second message while the first is unanswered does not restart the clock.
        ev("2026-03-23T11:00", EventKind::CustomerReply),
        ev("2026-03-23T11:30", EventKind::StaffReply),
        ev("2026-03-23T13:00", EventKind::CustomerReply),
        ev("2026-03-23T16:00", EventKind::StaffReply),
        ev("2026-03-24T09:00", EventKind::CustomerReply),
    ];
    let s = eval(&events, "2026-03-24T09:05");
    assert_eq!(s.next_response_cycles, 3);
    assert_eq!(s.next_response_breaches, 1, "13:00 → 16:00 took 3 h of 2");
    let cur = s.next_response.unwrap();
    assert_eq!(cur.state, ClockState::Running);
    assert_eq!(cur.deadline, Some(at("2026-03-24T11:00")));
}

#[test]
fn resolving_stops_the_clocks_and_reopening_resumes_resolution() {
    let events = [
        created("2026-03-23T09:00", Priority::Normal),
        ev("2026-03-23T10:00", EventKind::StaffReply),
        ev("2026-03-23T13:00", EventKind::Resolved),
        ev("2026-03-25T09:00", EventKind::Reopened),
    ];
    let s = eval(&events, "2026-03-24T12:00");
    assert!(s.resolved);
    let res = s.resolution.unwrap();
    assert_eq!(res.state, ClockState::Met);
    assert_eq!(res.elapsed, hours(4));
    assert_eq!(s.next_change, None);
    // Reopened on Wednesday 09:00: 12 h left (the resolved Tuesday does not count) → Thursday 13:00.
    let s = eval(&events, "2026-03-25T09:30");
    assert!(!s.resolved);
    let res = s.resolution.unwrap();
    assert_eq!(res.state, ClockState::Running);
    assert_eq!(res.stopped_at, None);
    assert_eq!(res.deadline, Some(at("2026-03-26T13:00")));
    // Someone is waiting for an answer after a reopen.
    assert_eq!(
        s.next_response.unwrap().deadline,
        Some(at("2026-03-25T11:00"))
    );
    // First response stays met.
    assert_eq!(s.first_response.unwrap().state, ClockState::Met);
}

#[test]
fn resolving_without_a_reply_answers_the_first_response() {
    let events = [
        created("2026-03-23T09:00", Priority::Normal),
        ev("2026-03-23T10:00", EventKind::Resolved),
        ev("2026-03-23T11:00", EventKind::CustomerReply),
    ];
    let s = eval(&events, "2026-03-23T12:00");
    let fr = s.first_response.unwrap();
    assert_eq!(fr.state, ClockState::Met);
    assert_eq!(fr.stopped_at, Some(at("2026-03-23T10:00")));
    assert_eq!(
        s.next_response, None,
        "a reply to a resolved ticket starts no clock"
    );
}

#[test]
fn raising_the_priority_shortens_running_clocks_and_lowering_back_restores_them() {
    let mut events = vec![
        created("2026-03-23T09:00", Priority::Normal),
        ev(
            "2026-03-23T09:20",
            EventKind::PriorityChanged {
                priority: Priority::High,
            },
        ),
    ];
    // High: 1 business hour from creation.
    let fr = eval(&events, "2026-03-23T09:30").first_response.unwrap();
    assert_eq!(fr.deadline, Some(at("2026-03-23T10:00")));
    // Raised after the new target ran out: breached at once, the deadline in the past.
    events[1].at = at("2026-03-23T11:00");
    let fr = eval(&events, "2026-03-23T11:00").first_response.unwrap();
    assert_eq!(fr.state, ClockState::Breached);
    assert_eq!(fr.deadline, Some(at("2026-03-23T10:00")));
    // Back to normal: the original deadline again (no reset by juggling priorities).
    events.push(ev(
        "2026-03-23T11:05",
        EventKind::PriorityChanged {
            priority: Priority::Normal,
        },
    ));
    let fr = eval(&events, "2026-03-23T11:10").first_response.unwrap();
    assert_eq!(fr.state, ClockState::Running);
    assert_eq!(fr.deadline, Some(at("2026-03-23T13:00")));
}

#[test]
fn a_stopped_clock_keeps_the_target_it_stopped_under() {
    let events = [
        created("2026-03-23T09:00", Priority::Normal),
        ev("2026-03-23T11:00", EventKind::StaffReply),
        ev(
            "2026-03-23T12:00",
            EventKind::PriorityChanged {
                priority: Priority::Critical,
            },
        ),
    ];
    let s = eval(&events, "2026-03-23T12:05");
    let fr = s.first_response.unwrap();
    assert_eq!(fr.state, ClockState::Met);
    assert_eq!(fr.target, Target::business(4 * 60));
    // The running resolution clock now has the critical target: 4 calendar hours from 09:00.
    let res = s.resolution.unwrap();
    assert_eq!(res.target, Target::calendar(4 * 60));
    assert_eq!(res.deadline, Some(at("2026-03-23T13:00")));
}

#[test]
fn critical_targets_in_calendar_minutes_run_out_of_hours() {
    // Saturday 03:00, a weekend and out of hours: due 03:30 all the same.
    let events = [created("2026-03-28T03:00", Priority::Critical)];
    let s = eval(&events, "2026-03-28T03:10");
    let fr = s.first_response.unwrap();
    assert_eq!(fr.deadline, Some(at("2026-03-28T03:30")));
    assert_eq!(fr.warn_at, Some(at("2026-03-28T03:24")));
    // Across the spring change, calendar minutes are real minutes: 00:30 GMT + 4 h = 05:30 BST.
    let events = [created("2026-03-29T00:30", Priority::Critical)];
    let res = eval(&events, "2026-03-29T00:40").resolution.unwrap();
    assert_eq!(res.deadline, Some(at("2026-03-29T05:30")));
}

#[test]
fn a_changed_calendar_gives_the_new_answer() {
    let events = [created("2025-08-22T16:30", Priority::Normal)];
    let now = at("2025-08-22T16:40");
    let without = BusinessCalendar::new(
        "Europe/London",
        [
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
        ]
        .map(|d| (d, "09:00", "17:00")),
    )
    .unwrap();
    let before = evaluate(&events, &targets(), &without, now).unwrap();
    assert_eq!(
        before.first_response.unwrap().deadline,
        Some(at("2025-08-25T12:30"))
    );
    // The bank holiday is added afterwards: the same history now gives Tuesday.
    let with = without.with_holidays([date(2025, 8, 25)]);
    let after = evaluate(&events, &targets(), &with, now).unwrap();
    assert_eq!(
        after.first_response.unwrap().deadline,
        Some(at("2025-08-26T12:30"))
    );
}

#[test]
fn events_after_now_are_ignored_and_order_is_by_time() {
    let events = [
        created("2026-03-23T09:00", Priority::Normal),
        ev("2026-03-23T15:00", EventKind::StaffReply),
    ];
    let as_of = eval(&events, "2026-03-23T12:00");
    assert_eq!(as_of.first_response.unwrap().state, ClockState::Running);
    let reversed: Vec<_> = events.iter().rev().copied().collect();
    assert_eq!(
        eval(&reversed, "2026-03-23T16:00"),
        eval(&events, "2026-03-23T16:00")
    );
}

#[test]
fn missing_targets_mean_no_clock() {
    let events = [
        created("2026-03-23T09:00", Priority::Low),
        ev("2026-03-23T09:10", EventKind::StaffReply),
        ev("2026-03-23T10:00", EventKind::CustomerReply),
    ];
    let s = eval(&events, "2026-03-23T11:00");
    assert_eq!(s.next_response, None);
    assert_eq!(s.next_response_cycles, 1);
    assert!(s.resolution.is_some());
}

#[test]
fn malformed_histories_and_targets_are_errors() {
    let cal = london();
    let now = at("2026-03-23T12:00");
    let t = targets();
    assert!(matches!(
        evaluate(&[], &t, &cal, now),
        Err(DeskError::InvalidHistory(_))
    ));
    assert!(matches!(
        evaluate(
            &[ev("2026-03-23T09:00", EventKind::StaffReply)],
            &t,
            &cal,
            now
        ),
        Err(DeskError::InvalidHistory(_))
    ));
    let twice = [
        created("2026-03-23T09:00", Priority::Normal),
        created("2026-03-23T09:01", Priority::Normal),
    ];
    assert!(matches!(
        evaluate(&twice, &t, &cal, now),
        Err(DeskError::InvalidHistory(_))
    ));
    let events = [created("2026-03-23T09:00", Priority::Normal)];
    let mut bad = t;
    bad.warn_percent = 0;
    assert!(matches!(
        evaluate(&events, &bad, &cal, now),
        Err(DeskError::InvalidTarget { .. })
    ));
    let mut bad = t;
    bad.high.resolution = Some(Target::business(0));
    assert_eq!(
        bad.validate(),
        Err(DeskError::InvalidTarget {
            field: "high.resolution.minutes".into(),
            reason: format!(
                "must be between 1 and {}",
                palisade_desk::sla::MAX_TARGET_MINUTES
            ),
        })
    );
    assert!(SlaTargets::default().validate().is_ok());
}

#[test]
fn events_and_statuses_have_a_stable_json_shape() {
    let e = TicketEvent::new(
        "2026-03-23T09:00:00Z".parse().unwrap(),
        EventKind::Created {
            priority: Priority::High,
        },
    );
    let json = serde_json::to_string(&e).unwrap();
    assert_eq!(
        json,
        r#"{"at":"2026-03-23T09:00:00Z","kind":"created","priority":"high"}"#
    );
    assert_eq!(serde_json::from_str::<TicketEvent>(&json).unwrap(), e);
    let reply: TicketEvent =
        serde_json::from_str(r#"{"at":"2026-03-23T10:00:00Z","kind":"waiting-on-customer"}"#)
            .unwrap();
    assert_eq!(reply.kind, EventKind::WaitingOnCustomer);
    let status = eval(
        &[created("2026-03-23T09:00", Priority::Normal)],
        "2026-03-23T09:30",
    );
    let v = serde_json::to_value(status).unwrap();
    assert_eq!(v["first_response"]["state"], "running");
    assert_eq!(v["first_response"]["deadline"], "2026-03-23T13:00:00Z");
}
