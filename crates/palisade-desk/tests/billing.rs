//! Out-of-hours billing on the calendar's hard cases: work split at the support-hours boundary
//! and priced at the in-hours and out-of-hours rates across a weekend, a public holiday and both
//! DST transitions in London, New York and Sydney (southern hemisphere: clocks go back in April and
//! forward in October). Every time is fixed; nothing reads the wall clock.

use jiff::civil::Weekday;
use jiff::{SignedDuration, Timestamp, Zoned};
use palisade_core::tenant::{Contract, SlaTier, SupportHours};
use palisade_desk::billing::Month;
use palisade_desk::{BusinessCalendar, HolidayCalendar, Rates, price_work};

fn at(s: &str) -> Timestamp {
    s.parse::<Zoned>().expect("zoned time").timestamp()
}

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

/// £90 an hour in hours, £150 out of hours.
fn rates() -> Rates {
    Rates {
        currency: "GBP".into(),
        in_hours: 9_000,
        out_of_hours: 15_000,
    }
}

const WEEKDAYS: [Weekday; 5] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
];

fn nine_to_five(zone: &str) -> BusinessCalendar {
    BusinessCalendar::new(zone, WEEKDAYS.map(|d| (d, "09:00", "17:00"))).expect("calendar")
}

/// Every day 08:00–20:00, so the nights of the DST changes have a boundary on each side.
fn eight_to_eight_daily(zone: &str) -> BusinessCalendar {
    BusinessCalendar::new(
        zone,
        [
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
            Weekday::Saturday,
            Weekday::Sunday,
        ]
        .map(|d| (d, "08:00", "20:00")),
    )
    .expect("calendar")
}

/// Splits and prices, checks the parts cover the interval exactly and alternate, and returns
/// (in hours, out of hours, amount).
fn bill(
    cal: &BusinessCalendar,
    start: Timestamp,
    end: Timestamp,
) -> (SignedDuration, SignedDuration, i64) {
    let (split, priced) = price_work(cal, start, end, &rates()).expect("split");
    assert_eq!(split.parts.first().map(|p| p.start), Some(start));
    assert_eq!(split.parts.last().map(|p| p.end), Some(end));
    for w in split.parts.windows(2) {
        assert_eq!(w[0].end, w[1].start, "parts are contiguous");
        assert_ne!(w[0].in_hours, w[1].in_hours, "parts alternate");
    }
    assert_eq!(
        split.in_hours + split.out_of_hours,
        end.duration_since(start)
    );
    assert_eq!(
        priced.amount,
        priced.in_hours_amount + priced.out_of_hours_amount
    );
    assert_eq!(priced.currency, "GBP");
    (split.in_hours, split.out_of_hours, priced.amount)
}

#[test]
fn friday_evening_into_saturday_is_one_hour_in_hours_and_the_rest_out_in_three_zones() {
    for zone in ["Europe/London", "America/New_York", "Australia/Sydney"] {
        let cal = nine_to_five(zone);
        let (i, o, amount) = bill(
            &cal,
            at(&format!("2026-06-12T16:00[{zone}]")),
            at(&format!("2026-06-13T10:00[{zone}]")),
        );
        assert_eq!((i, o), (hours(1), hours(17)), "{zone}");
        assert_eq!(amount, 9_000 + 17 * 15_000, "{zone}");
    }
}

#[test]
fn a_public_holiday_is_out_of_hours_all_day() {
    // Good Friday, 3 April 2026, from the built-in England and Wales calendar.
    let contract = Contract {
        sla_tier: SlaTier::Standard,
        support_hours: {
            let mut h = SupportHours::office_hours("Europe/London");
            for r in &mut h.ranges {
                r.end = "17:00".into();
            }
            h
        },
        holiday_calendar: Some("gb-eng".into()),
        out_of_hours: true,
    };
    let cal = BusinessCalendar::from_contract(&contract, &HolidayCalendar::builtin()).expect("cal");
    let (i, o, amount) = bill(
        &cal,
        at("2026-04-02T16:30[Europe/London]"),
        at("2026-04-03T11:00[Europe/London]"),
    );
    assert_eq!((i, o), (mins(30), hours(18)));
    assert_eq!(amount, 4_500 + 18 * 15_000);

    // The same in Sydney with Australia Day (Monday 26 January 2026) as the client's holiday.
    let cal = nine_to_five("Australia/Sydney").with_holidays([jiff::civil::date(2026, 1, 26)]);
    let (i, o, amount) = bill(
        &cal,
        at("2026-01-26T09:00[Australia/Sydney]"),
        at("2026-01-27T10:00[Australia/Sydney]"),
    );
    assert_eq!((i, o), (hours(1), hours(24)));
    assert_eq!(amount, 9_000 + 24 * 15_000);
}

/// Saturday 19:00 to Sunday 09:00 local across the night the clocks change: one hour in hours on
/// each side, and a night that is an hour shorter (spring forward) or longer (fall back) than the
/// wall clock says, billed as the time that really passed.
#[test]
fn both_dst_transitions_in_three_zones_bill_the_time_that_really_passed() {
    let cases = [
        // (zone, Saturday, Sunday, out-of-hours night)
        ("Europe/London", "2026-03-28", "2026-03-29", hours(11)),
        ("Europe/London", "2026-10-24", "2026-10-25", hours(13)),
        ("America/New_York", "2026-03-07", "2026-03-08", hours(11)),
        ("America/New_York", "2026-10-31", "2026-11-01", hours(13)),
        // Southern hemisphere: daylight saving ends on 5 April and starts on 4 October 2026.
        ("Australia/Sydney", "2026-04-04", "2026-04-05", hours(13)),
        ("Australia/Sydney", "2026-10-03", "2026-10-04", hours(11)),
    ];
    for (zone, sat, sun, night) in cases {
        let cal = eight_to_eight_daily(zone);
        let start = at(&format!("{sat}T19:00[{zone}]"));
        let end = at(&format!("{sun}T09:00[{zone}]"));
        let (i, o, amount) = bill(&cal, start, end);
        assert_eq!(i, hours(2), "{zone} {sun}");
        assert_eq!(o, night, "{zone} {sun}");
        let night_hours = night.as_secs() / 3600;
        assert_eq!(amount, 2 * 9_000 + night_hours * 15_000, "{zone} {sun}");
    }
}

#[test]
fn work_inside_hours_is_all_in_hours_and_odd_seconds_round_half_up() {
    let cal = nine_to_five("America/New_York");
    let start = at("2026-03-09T10:00[America/New_York]");
    // 20 seconds at £90/h is 50p exactly; 21 seconds is 52.5p, rounded up to 53p.
    let (i, o, amount) = bill(&cal, start, start + SignedDuration::from_secs(20));
    assert_eq!(
        (i, o, amount),
        (SignedDuration::from_secs(20), SignedDuration::ZERO, 50)
    );
    let (_, _, amount) = bill(&cal, start, start + SignedDuration::from_secs(21));
    assert_eq!(amount, 53);
}

#[test]
fn a_billing_month_is_the_clients_local_month() {
    // April 2026 in Sydney starts under daylight saving (+11:00) and ends under standard time.
    let tz = jiff::tz::TimeZone::get("Australia/Sydney").expect("zone");
    let (from, to) = "2026-04"
        .parse::<Month>()
        .expect("month")
        .range(&tz)
        .expect("range");
    assert_eq!(
        from,
        "2026-03-31T13:00:00Z".parse::<Timestamp>().expect("ts")
    );
    assert_eq!(to, "2026-04-30T14:00:00Z".parse::<Timestamp>().expect("ts"));
    let tz = jiff::tz::TimeZone::get("Europe/London").expect("zone");
    let (from, to) = "2026-12"
        .parse::<Month>()
        .expect("month")
        .range(&tz)
        .expect("range");
    assert_eq!(
        from,
        "2026-12-01T00:00:00Z".parse::<Timestamp>().expect("ts")
    );
    assert_eq!(to, "2027-01-01T00:00:00Z".parse::<Timestamp>().expect("ts"));
}
