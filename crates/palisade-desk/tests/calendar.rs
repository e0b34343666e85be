//! Concrete business-calendar scenarios: deadlines over weekends and bank holidays, DST change
//! days in London, Berlin and New York, ranges across skipped and repeated hours (one regression
//! test per DST trap), overnight cover, 24/7 contracts, out-of-hours splits and the error cases.

use jiff::civil::{Weekday, date};
use jiff::{SignedDuration, Timestamp, Zoned};
use palisade_core::tenant::{Contract, SlaTier, SupportHours};
use palisade_desk::{
    Boundary, BoundaryKind, BusinessCalendar, DeskError, HolidayCalendar, SEARCH_LIMIT_DAYS,
};

/// An instant from a zoned text such as `2025-08-15T16:30[Europe/London]`.
fn at(s: &str) -> Timestamp {
    s.parse::<Zoned>().expect("zoned time").timestamp()
}

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

const WEEKDAYS: [Weekday; 5] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
];
const ALL_DAYS: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];

/// Monday to Friday 09:00–17:00 in `zone`.
fn nine_to_five(zone: &str) -> BusinessCalendar {
    BusinessCalendar::new(zone, WEEKDAYS.map(|d| (d, "09:00", "17:00"))).unwrap()
}

/// Every day of the week, `start`–`end`, in `zone`.
fn daily(zone: &str, start: &str, end: &str) -> BusinessCalendar {
    BusinessCalendar::new(zone, ALL_DAYS.map(|d| (d, start, end))).unwrap()
}

fn london_contract() -> Contract {
    let mut support = SupportHours::office_hours("Europe/London");
    for r in &mut support.ranges {
        r.end = "17:00".into();
    }
    Contract {
        sla_tier: SlaTier::Standard,
        support_hours: support,
        holiday_calendar: Some("gb-eng".into()),
        out_of_hours: false,
    }
}

#[test]
fn friday_afternoon_ticket_with_four_business_hours_is_due_monday_1230() {
    let cal = nine_to_five("Europe/London");
    let start = at("2025-08-15T16:30[Europe/London]");
    let due = cal.add_business(start, hours(4)).unwrap();
    assert_eq!(due, at("2025-08-18T12:30[Europe/London]"));
    assert_eq!(cal.business_between(start, due).unwrap(), hours(4));
}

#[test]
fn over_a_bank_holiday_monday_it_is_due_tuesday_1230() {
    let cal =
        BusinessCalendar::from_contract(&london_contract(), &HolidayCalendar::builtin()).unwrap();
    // Monday 25 August 2025 is the summer bank holiday in England and Wales.
    let start = at("2025-08-22T16:30[Europe/London]");
    let due = cal.add_business(start, hours(4)).unwrap();
    assert_eq!(due, at("2025-08-26T12:30[Europe/London]"));
    assert!(cal.is_holiday(date(2025, 8, 25)));
    assert!(!cal.is_open(at("2025-08-25T10:00[Europe/London]")).unwrap());
    // Without the holiday calendar the same ticket is due on the Monday.
    let mut contract = london_contract();
    contract.holiday_calendar = None;
    let plain = BusinessCalendar::from_contract(&contract, &HolidayCalendar::builtin()).unwrap();
    assert_eq!(
        plain.add_business(start, hours(4)).unwrap(),
        at("2025-08-25T12:30[Europe/London]")
    );
}

#[test]
fn easter_in_germany_closes_good_friday_and_easter_monday() {
    let mut support = SupportHours::office_hours("Europe/Berlin");
    for r in &mut support.ranges {
        r.end = "17:00".into();
    }
    let contract = Contract {
        sla_tier: SlaTier::Basic,
        support_hours: support,
        holiday_calendar: Some("de".into()),
        out_of_hours: false,
    };
    let cal = BusinessCalendar::from_contract(&contract, &HolidayCalendar::builtin()).unwrap();
    // Thursday 2 April 2026 16:00 + 2h: Good Friday 3 April and Easter Monday 6 April are closed.
    let due = cal
        .add_business(at("2026-04-02T16:00[Europe/Berlin]"), hours(2))
        .unwrap();
    assert_eq!(due, at("2026-04-07T10:00[Europe/Berlin]"));
}

#[test]
fn support_hours_are_half_open_and_follow_the_zone() {
    let cal = nine_to_five("Europe/London");
    assert!(cal.is_open(at("2026-03-27T09:00[Europe/London]")).unwrap());
    assert!(
        cal.is_open(at("2026-03-27T16:59:59[Europe/London]"))
            .unwrap()
    );
    assert!(!cal.is_open(at("2026-03-27T17:00[Europe/London]")).unwrap());
    assert!(
        !cal.is_open(at("2026-03-27T08:59:59[Europe/London]"))
            .unwrap()
    );
    assert!(
        !cal.is_open(at("2026-03-28T12:00[Europe/London]")).unwrap(),
        "Saturday"
    );
    // The same UTC instant is in hours in London and not yet in New York.
    let ny = nine_to_five("America/New_York");
    let t = at("2026-03-27T10:00[Europe/London]");
    assert!(cal.is_open(t).unwrap());
    assert!(!ny.is_open(t).unwrap());
}

#[test]
fn next_boundary_is_the_next_opening_or_closing() {
    let cal = nine_to_five("Europe/London");
    assert_eq!(
        cal.next_boundary(at("2026-03-27T18:00[Europe/London]"))
            .unwrap(),
        Some(Boundary {
            at: at("2026-03-30T09:00[Europe/London]"),
            kind: BoundaryKind::Opens
        })
    );
    assert_eq!(
        cal.next_boundary(at("2026-03-30T09:00[Europe/London]"))
            .unwrap(),
        Some(Boundary {
            at: at("2026-03-30T17:00[Europe/London]"),
            kind: BoundaryKind::Closes
        })
    );
    // 24/7: nothing ever changes.
    let always = BusinessCalendar::always("Europe/London").unwrap();
    assert_eq!(
        always
            .next_boundary(at("2026-03-29T00:30[Europe/London]"))
            .unwrap(),
        None
    );
}

#[test]
fn overnight_cover_is_two_ranges_joined_at_midnight() {
    let cal = BusinessCalendar::new(
        "Europe/London",
        [
            (Weekday::Monday, "22:00", "24:00"),
            (Weekday::Tuesday, "00:00", "06:00"),
        ],
    )
    .unwrap();
    let mon_2300 = at("2026-03-23T23:00[Europe/London]");
    assert!(cal.is_open(mon_2300).unwrap());
    assert!(cal.is_open(at("2026-03-24T00:00[Europe/London]")).unwrap());
    assert_eq!(
        cal.next_boundary(mon_2300).unwrap(),
        Some(Boundary {
            at: at("2026-03-24T06:00[Europe/London]"),
            kind: BoundaryKind::Closes
        }),
        "midnight between two joined ranges is no boundary"
    );
    let split = cal
        .split(
            at("2026-03-23T21:00[Europe/London]"),
            at("2026-03-24T07:00[Europe/London]"),
        )
        .unwrap();
    assert_eq!(split.parts.len(), 3);
    assert_eq!(split.in_hours, hours(8));
    assert_eq!(split.out_of_hours, hours(2));
}

#[test]
fn overlapping_ranges_count_once() {
    let cal = BusinessCalendar::new(
        "UTC",
        [
            (Weekday::Monday, "09:00", "13:00"),
            (Weekday::Monday, "12:00", "17:00"),
            (Weekday::Monday, "17:00", "18:00"),
        ],
    )
    .unwrap();
    let day = cal
        .business_between(at("2026-03-23T00:00[UTC]"), at("2026-03-24T00:00[UTC]"))
        .unwrap();
    assert_eq!(day, hours(9));
}

#[test]
fn a_24_7_calendar_counts_real_time_even_on_a_23_hour_day() {
    let cal = BusinessCalendar::always("Europe/London").unwrap();
    let start = at("2026-03-29T00:00[Europe/London]");
    let end = at("2026-03-30T00:00[Europe/London]");
    assert_eq!(cal.business_between(start, end).unwrap(), hours(23));
    assert_eq!(cal.add_business(start, hours(5)).unwrap(), start + hours(5));
    assert!(cal.is_open(at("2026-12-25T03:00[Europe/London]")).unwrap());
}

#[test]
fn work_is_split_at_the_support_hours_boundary() {
    let cal = nine_to_five("Europe/London");
    // Friday 16:00 to 19:00: one hour in, two out.
    let split = cal
        .split(
            at("2026-03-27T16:00[Europe/London]"),
            at("2026-03-27T19:00[Europe/London]"),
        )
        .unwrap();
    assert_eq!(split.in_hours, hours(1));
    assert_eq!(split.out_of_hours, hours(2));
    assert_eq!(
        split.parts.iter().map(|p| p.in_hours).collect::<Vec<_>>(),
        vec![true, false]
    );
    assert_eq!(split.parts[0].end, at("2026-03-27T17:00[Europe/London]"));
    // Saturday night into Monday morning across the spring change: all out of hours until 09:00.
    let split = cal
        .split(
            at("2026-03-28T22:00[Europe/London]"),
            at("2026-03-30T10:00[Europe/London]"),
        )
        .unwrap();
    assert_eq!(
        split.out_of_hours,
        hours(34),
        "one hour fewer: the clocks went forward"
    );
    assert_eq!(split.in_hours, hours(1));
    // An empty interval has no parts; a reversed one is an error.
    let t = at("2026-03-27T16:00[Europe/London]");
    assert!(cal.split(t, t).unwrap().parts.is_empty());
    assert!(matches!(
        cal.split(t, t - hours(1)),
        Err(DeskError::InvalidInterval { .. })
    ));
}

#[test]
fn business_time_is_signed() {
    let cal = nine_to_five("Europe/London");
    let a = at("2026-03-27T10:00[Europe/London]");
    let b = at("2026-03-30T10:00[Europe/London]");
    assert_eq!(cal.business_between(a, b).unwrap(), hours(8));
    assert_eq!(cal.business_between(b, a).unwrap(), -hours(8));
    assert_eq!(cal.add_business(a, SignedDuration::ZERO).unwrap(), a);
}

// --- DST change days: 09:00–17:00 is eight business hours in every zone --------------------------

#[test]
fn a_nine_to_five_day_is_eight_hours_on_every_dst_change_day() {
    for (zone, day) in [
        ("Europe/London", "2026-03-29"),
        ("Europe/London", "2026-10-25"),
        ("Europe/Berlin", "2026-03-29"),
        ("Europe/Berlin", "2026-10-25"),
        ("America/New_York", "2026-03-08"),
        ("America/New_York", "2026-11-01"),
    ] {
        let cal = daily(zone, "09:00", "17:00");
        let start = at(&format!("{day}T00:00[{zone}]"));
        let next = start.to_zoned(cal.time_zone().clone()).tomorrow().unwrap();
        assert_eq!(
            cal.business_between(start, next.timestamp()).unwrap(),
            hours(8),
            "{zone} {day}"
        );
        let opens = at(&format!("{day}T09:00[{zone}]"));
        assert_eq!(
            cal.add_business(opens, hours(8)).unwrap(),
            at(&format!("{day}T17:00[{zone}]")),
            "{zone} {day}"
        );
    }
}

/// Trap: converting wall-clock ranges with the offset of the day they are computed from (or of
/// the ticket's creation) puts Monday's opening an hour off after a weekend change.
#[test]
fn dst_trap_deadline_over_the_spring_change_weekend_keeps_wall_clock_hours() {
    for zone in ["Europe/London", "Europe/Berlin"] {
        let cal = nine_to_five(zone);
        let due = cal
            .add_business(at(&format!("2026-03-27T16:00[{zone}]")), hours(2))
            .unwrap();
        assert_eq!(due, at(&format!("2026-03-30T10:00[{zone}]")), "{zone}");
    }
    let ny = nine_to_five("America/New_York");
    let due = ny
        .add_business(at("2026-10-30T16:00[America/New_York]"), hours(2))
        .unwrap();
    assert_eq!(due, at("2026-11-02T10:00[America/New_York]"));
}

/// Trap: a range across the change measured by wall-clock difference says 4 hours; really
/// 3 pass on the spring night and 5 on the autumn night.
#[test]
fn dst_trap_a_range_across_the_change_is_as_long_as_the_time_that_passes() {
    for (zone, spring, autumn, start, end) in [
        (
            "Europe/London",
            "2026-03-29",
            "2026-10-25",
            "00:00",
            "04:00",
        ),
        (
            "Europe/Berlin",
            "2026-03-29",
            "2026-10-25",
            "01:00",
            "05:00",
        ),
        (
            "America/New_York",
            "2026-03-08",
            "2026-11-01",
            "00:00",
            "04:00",
        ),
    ] {
        let cal = daily(zone, start, end);
        for (day, want) in [(spring, 3), (autumn, 5)] {
            let midnight = at(&format!("{day}T00:00[{zone}]"));
            let next = midnight
                .to_zoned(cal.time_zone().clone())
                .tomorrow()
                .unwrap();
            let got = cal.business_between(midnight, next.timestamp()).unwrap();
            assert_eq!(got, hours(want), "{zone} {day}");
        }
    }
}

/// Trap: jiff's (and Temporal's) default maps a time in the skipped hour forward by the gap's
/// length (01:30 → 02:30 BST), so a range "01:30–03:00" would open half an hour after the clocks
/// jumped. Here it opens at the jump, the first moment the clock shows 01:30 or later.
#[test]
fn dst_trap_a_range_starting_in_the_skipped_hour_opens_when_the_clocks_jump() {
    let cal = daily("Europe/London", "01:30", "03:00");
    let jump = at("2026-03-29T01:00[UTC]");
    assert!(cal.is_open(jump).unwrap());
    assert!(!cal.is_open(jump - SignedDuration::from_secs(1)).unwrap());
    assert_eq!(
        cal.next_boundary(jump - hours(1)).unwrap(),
        Some(Boundary {
            at: jump,
            kind: BoundaryKind::Opens
        })
    );
    let day = cal
        .business_between(jump - hours(2), jump + hours(12))
        .unwrap();
    assert_eq!(day, hours(1), "02:00 BST to 03:00 BST");
}

/// Trap: a range wholly inside the skipped hour must be empty that day, not negative and not a
/// wrap-around to the next day.
#[test]
fn dst_trap_a_range_inside_the_skipped_hour_is_empty_that_day() {
    let cal = daily("America/New_York", "02:15", "02:45");
    let midnight = at("2026-03-08T00:00[America/New_York]");
    assert_eq!(
        cal.business_between(midnight, midnight + hours(23))
            .unwrap(),
        SignedDuration::ZERO
    );
    // The day before and after have their half hour.
    assert_eq!(
        cal.business_between(midnight - hours(24), midnight)
            .unwrap(),
        mins(30)
    );
    assert_eq!(
        cal.business_between(midnight + hours(23), midnight + hours(47))
            .unwrap(),
        mins(30)
    );
}

/// Trap: a time in the repeated hour has two instants; the range end closes at the first one and
/// a start opens at the first one, so a range ending in the fold is shorter than one ending after
/// it, deterministically.
#[test]
fn dst_trap_ends_in_the_repeated_hour_take_its_first_occurrence() {
    // London 25 October 2026: 01:00–02:00 happens twice (BST, then GMT).
    let ends_in_fold = daily("Europe/London", "00:00", "01:30");
    let starts_in_fold = daily("Europe/London", "01:30", "03:00");
    let midnight = at("2026-10-25T00:00[Europe/London]");
    let day = |cal: &BusinessCalendar| {
        cal.business_between(midnight, midnight + hours(25))
            .unwrap()
    };
    assert_eq!(day(&ends_in_fold), mins(90));
    assert_eq!(
        day(&starts_in_fold),
        mins(150),
        "opens at 01:30 BST, repeated hour included"
    );
    assert!(ends_in_fold.is_open(at("2026-10-25T00:29[UTC]")).unwrap());
    assert!(
        !ends_in_fold.is_open(at("2026-10-25T01:29[UTC]")).unwrap(),
        "01:29 GMT, second pass"
    );
}

/// Trap: zones that change at midnight (Chile) have no 00:00 on the spring day; a range starting
/// at 00:00 must still open (at the jump) and a range ending at 24:00 on the day before must close
/// there.
#[test]
fn dst_trap_midnight_that_does_not_exist() {
    // America/Santiago, Sunday 6 September 2026: 00:00 -04 becomes 01:00 -03 (04:00 UTC).
    let cal = BusinessCalendar::new(
        "America/Santiago",
        [
            (Weekday::Saturday, "22:00", "24:00"),
            (Weekday::Sunday, "00:00", "02:00"),
        ],
    )
    .unwrap();
    let jump = at("2026-09-06T04:00[UTC]");
    let sat_2200 = at("2026-09-05T22:00[America/Santiago]");
    assert_eq!(sat_2200, at("2026-09-06T02:00[UTC]"));
    assert_eq!(
        cal.business_between(sat_2200, sat_2200 + hours(12))
            .unwrap(),
        hours(3),
        "22:00–24:00 (2h) then 01:00–02:00 (1h), no gap between"
    );
    assert_eq!(
        cal.next_boundary(sat_2200).unwrap(),
        Some(Boundary {
            at: jump + hours(1),
            kind: BoundaryKind::Closes
        })
    );
}

/// Trap: a zone with a half-hour DST shift (Lord Howe Island) must not be assumed to move by an
/// hour.
#[test]
fn dst_trap_half_hour_shift() {
    // Australia/Lord_Howe, Sunday 4 October 2026: 02:00 +10:30 becomes 02:30 +11.
    let cal = daily("Australia/Lord_Howe", "00:00", "04:00");
    let midnight = at("2026-10-04T00:00[Australia/Lord_Howe]");
    assert_eq!(
        cal.business_between(midnight, midnight + hours(20))
            .unwrap(),
        mins(210)
    );
}

/// Trap: a day can be skipped entirely (Samoa crossed the date line: 30 December 2011 never
/// happened in Pacific/Apia). Its ranges are empty and the days around it unaffected.
#[test]
fn dst_trap_a_skipped_day() {
    let cal = daily("Pacific/Apia", "09:00", "17:00");
    let start = at("2011-12-29T00:00[Pacific/Apia]");
    let end = at("2012-01-01T00:00[Pacific/Apia]");
    assert_eq!(end.duration_since(start), hours(48));
    assert_eq!(cal.business_between(start, end).unwrap(), hours(16));
    assert_eq!(
        cal.add_business(at("2011-12-29T16:00[Pacific/Apia]"), hours(2))
            .unwrap(),
        at("2011-12-31T10:00[Pacific/Apia]")
    );
}

// --- Errors and limits ---------------------------------------------------------------------------

#[test]
fn invalid_calendars_are_typed_errors() {
    assert_eq!(
        BusinessCalendar::new("Europe/Londn", [(Weekday::Monday, "09:00", "17:00")]).unwrap_err(),
        DeskError::UnknownZone("Europe/Londn".into())
    );
    for (start, end) in [
        ("17:00", "09:00"),
        ("09:00", "09:00"),
        ("24:00", "24:00"),
        ("9:00", "17:00"),
        ("09:00", "24:30"),
        ("09:60", "17:00"),
        ("+9:00", "17:00"),
    ] {
        assert!(
            matches!(
                BusinessCalendar::new("UTC", [(Weekday::Monday, start, end)]),
                Err(DeskError::InvalidRange { index: 0, .. })
            ),
            "{start}–{end}"
        );
    }
    assert_eq!(
        BusinessCalendar::new("UTC", []).unwrap_err(),
        DeskError::NoSupportHours
    );
    let mut contract = london_contract();
    contract.holiday_calendar = Some("gb-sct".into());
    assert_eq!(
        BusinessCalendar::from_contract(&contract, &HolidayCalendar::builtin()).unwrap_err(),
        DeskError::UnknownHolidayCalendar("gb-sct".into())
    );
}

#[test]
fn a_deadline_search_gives_up_at_the_limit_instead_of_looping() {
    // One minute a week: a year of business time needs ~10,000 years.
    let cal = BusinessCalendar::new("UTC", [(Weekday::Monday, "09:00", "09:01")]).unwrap();
    let start = at("2026-01-01T00:00[UTC]");
    assert_eq!(
        cal.add_business(start, hours(24 * 366)).unwrap_err(),
        DeskError::SearchLimit {
            from: start,
            days: SEARCH_LIMIT_DAYS
        }
    );
    // A calendar whose every day is a holiday has no boundary within the limit.
    let all_holidays = nine_to_five("UTC").with_holidays((0..SEARCH_LIMIT_DAYS + 10).map(|n| {
        date(2026, 1, 1)
            .checked_add(jiff::Span::new().days(n))
            .unwrap()
    }));
    assert_eq!(all_holidays.next_boundary(start).unwrap(), None);
    assert!(matches!(
        all_holidays.add_business(start, mins(1)),
        Err(DeskError::SearchLimit { .. })
    ));
}

#[test]
fn far_away_instants_are_errors_not_panics() {
    let cal = nine_to_five("Europe/London");
    assert!(cal.add_business(Timestamp::MAX, hours(1)).is_err());
    assert!(matches!(
        cal.next_boundary(Timestamp::MAX),
        Err(DeskError::OutOfRange(_))
    ));
    assert!(
        cal.business_between(Timestamp::MIN, Timestamp::MAX)
            .is_err()
    );
}

/// Found by the property tests: at an opening instant the business time since a start equals the
/// business time at the previous closing, so the deadline for it is that closing, not the opening.
#[test]
fn the_deadline_for_business_time_up_to_an_opening_is_the_previous_closing() {
    let cal = nine_to_five("America/New_York");
    let start = at("2026-06-15T08:45[America/New_York]");
    let opening = at("2026-06-16T09:00[America/New_York]");
    let d = cal.business_between(start, opening).unwrap();
    assert_eq!(d, hours(8));
    assert_eq!(
        cal.add_business(start, d).unwrap(),
        at("2026-06-15T17:00[America/New_York]")
    );
}
