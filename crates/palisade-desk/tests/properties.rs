//! Property tests over generated calendars (zones with hour, half-hour and midnight DST changes,
//! random weekly ranges including `24:00` ends, random holidays) and instants clustered around
//! DST changes: deadlines invert business time, business time is additive and monotone, splits
//! cover their interval exactly, boundaries really flip the state, and for SLA histories a pause
//! never brings a deadline forward, a breach never heals, and event order in the list is
//! irrelevant.

use jiff::civil::{Date, Weekday};
use jiff::{SignedDuration, Span, Timestamp};
use palisade_desk::{
    BoundaryKind, BusinessCalendar, ClockState, ClockStatus, EventKind, Priority, SlaStatus,
    SlaTargets, TicketEvent, evaluate,
};
use proptest::prelude::*;

const ZONES: &[&str] = &[
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "UTC",
];

/// Instants (UTC) of DST changes in 2026 for the zones above, and ordinary days.
const ANCHORS: &[&str] = &[
    "2026-03-08T07:00:00Z",
    "2026-03-29T01:00:00Z",
    "2026-04-05T03:00:00Z",
    "2026-04-04T15:00:00Z",
    "2026-09-06T04:00:00Z",
    "2026-10-03T15:30:00Z",
    "2026-10-25T01:00:00Z",
    "2026-11-01T06:00:00Z",
    "2026-06-17T12:00:00Z",
    "2026-12-24T12:00:00Z",
];

const DAYS: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];

fn hhmm(quarters: u16) -> String {
    format!("{:02}:{:02}", quarters / 4, (quarters % 4) * 15)
}

#[derive(Clone, Debug)]
struct CalSpec {
    zone: &'static str,
    ranges: Vec<(usize, u16, u16)>,
    holiday_offsets: Vec<i32>,
}

impl CalSpec {
    fn build(&self, anchor: Timestamp) -> BusinessCalendar {
        let ranges: Vec<(Weekday, String, String)> = self
            .ranges
            .iter()
            .map(|&(d, s, e)| (DAYS[d], hhmm(s), hhmm(e)))
            .collect();
        let cal = BusinessCalendar::new(
            self.zone,
            ranges.iter().map(|(d, s, e)| (*d, s.as_str(), e.as_str())),
        )
        .expect("generated calendar");
        let base: Date = cal.time_zone().to_datetime(anchor).date();
        let holidays: Vec<Date> = self
            .holiday_offsets
            .iter()
            .map(|&n| base.checked_add(Span::new().days(n)).unwrap())
            .collect();
        cal.with_holidays(holidays)
    }
}

fn cal_spec() -> impl Strategy<Value = CalSpec> {
    // Starts at midnight and ends at 24:00 are drawn often, so that ranges join across midnight.
    let start = prop_oneof![1 => Just(0u16), 3 => 0u16..96];
    let range = (0usize..7, start).prop_flat_map(|(d, s)| {
        (
            Just(d),
            Just(s),
            prop_oneof![1 => Just(96u16), 3 => (s + 1)..=96],
        )
    });
    (
        proptest::sample::select(ZONES),
        proptest::collection::vec(range, 1..10),
        proptest::collection::vec(-3i32..10, 0..4),
    )
        .prop_map(|(zone, ranges, holiday_offsets)| CalSpec {
            zone,
            ranges,
            holiday_offsets,
        })
}

fn anchor() -> impl Strategy<Value = Timestamp> {
    proptest::sample::select(ANCHORS).prop_map(|s| s.parse::<Timestamp>().unwrap())
}

/// An offset from the anchor: whole minutes mostly, sometimes with seconds, within ±4 days.
fn offset() -> impl Strategy<Value = SignedDuration> {
    prop_oneof![
        (-5760i64..5760).prop_map(SignedDuration::from_mins),
        (-345_600i64..345_600).prop_map(SignedDuration::from_secs),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The deadline for the business time between `s` and `t` is `t` itself when support hours
    /// are open just before `t` (an opening instant is not: the same business time was reached
    /// at the previous closing, which is the earliest such instant).
    #[test]
    fn deadline_inverts_business_time(spec in cal_spec(), a in anchor(), x in offset(), y in offset()) {
        let cal = spec.build(a);
        let (s, t) = (a + x.min(y), a + x.max(y));
        let d = cal.business_between(s, t).unwrap();
        let open_before = cal.is_open(t - SignedDuration::from_nanos(1)).unwrap();
        if open_before && d > SignedDuration::ZERO {
            prop_assert_eq!(cal.add_business(s, d).unwrap(), t);
        }
        // And the other way round, always: the deadline of d has exactly d behind it.
        let due = cal.add_business(s, d).unwrap();
        prop_assert_eq!(cal.business_between(s, due).unwrap(), d);
        prop_assert!(due <= t);
    }

    /// Business time is additive, never more than real time, and deadlines are monotone.
    #[test]
    fn business_time_is_additive_and_monotone(
        spec in cal_spec(), a in anchor(), x in offset(), y in offset(), z in offset(),
        d1 in 0i64..3000, d2 in 0i64..3000,
    ) {
        let cal = spec.build(a);
        let mut v = [a + x, a + y, a + z];
        v.sort();
        let [p, q, r] = v;
        let pq = cal.business_between(p, q).unwrap();
        let qr = cal.business_between(q, r).unwrap();
        prop_assert_eq!(cal.business_between(p, r).unwrap(), pq + qr);
        prop_assert!(pq >= SignedDuration::ZERO && pq <= q.duration_since(p));
        let (lo, hi) = (d1.min(d2), d1.max(d2));
        let t_lo = cal.add_business(p, SignedDuration::from_mins(lo)).unwrap();
        let t_hi = cal.add_business(p, SignedDuration::from_mins(hi)).unwrap();
        prop_assert!(t_lo <= t_hi);
        prop_assert!(t_hi.duration_since(p) >= SignedDuration::from_mins(hi));
    }

    /// A split covers the interval exactly with alternating parts whose state is right, and its
    /// in-hours total is the business time.
    #[test]
    fn split_parts_sum_to_the_whole(spec in cal_spec(), a in anchor(), x in offset(), y in offset()) {
        let cal = spec.build(a);
        let (s, e) = (a + x.min(y), a + x.max(y));
        let split = cal.split(s, e).unwrap();
        prop_assert_eq!(split.in_hours + split.out_of_hours, e.duration_since(s));
        prop_assert_eq!(split.in_hours, cal.business_between(s, e).unwrap());
        let mut cursor = s;
        let mut last: Option<bool> = None;
        for part in &split.parts {
            prop_assert_eq!(part.start, cursor);
            prop_assert!(part.end > part.start);
            prop_assert_ne!(Some(part.in_hours), last);
            let mid = part.start + part.end.duration_since(part.start) / 2;
            prop_assert_eq!(cal.is_open(part.start).unwrap(), part.in_hours);
            prop_assert_eq!(cal.is_open(mid).unwrap(), part.in_hours);
            last = Some(part.in_hours);
            cursor = part.end;
        }
        if !split.parts.is_empty() {
            prop_assert_eq!(cursor, e);
        }
    }

    /// The next boundary flips the state, and nothing flips before it.
    #[test]
    fn next_boundary_flips_the_state(spec in cal_spec(), a in anchor(), x in offset()) {
        let cal = spec.build(a);
        let t = a + x;
        let open = cal.is_open(t).unwrap();
        if let Some(b) = cal.next_boundary(t).unwrap() {
            prop_assert!(b.at > t);
            prop_assert_eq!(b.kind, if open { BoundaryKind::Closes } else { BoundaryKind::Opens });
            prop_assert_eq!(cal.is_open(b.at).unwrap(), !open);
            let mid = t + b.at.duration_since(t) / 2;
            prop_assert_eq!(cal.is_open(mid).unwrap(), open);
            let before = b.at - SignedDuration::from_nanos(1);
            prop_assert_eq!(cal.is_open(before).unwrap(), open);
            // Business time up to the boundary is all or nothing.
            let d = cal.business_between(t, b.at).unwrap();
            prop_assert_eq!(d, if open { b.at.duration_since(t) } else { SignedDuration::ZERO });
        }
    }

    /// Round the clock, business time is real time.
    #[test]
    fn always_open_is_real_time(z in proptest::sample::select(ZONES), a in anchor(), x in offset(), y in offset()) {
        let cal = BusinessCalendar::always(z).unwrap();
        let (s, e) = (a + x.min(y), a + x.max(y));
        prop_assert_eq!(cal.business_between(s, e).unwrap(), e.duration_since(s));
        prop_assert!(cal.is_open(s).unwrap());
    }
}

// --- SLA histories ---------------------------------------------------------------------------------

fn kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        3 => Just(EventKind::StaffReply),
        3 => Just(EventKind::CustomerReply),
        1 => Just(EventKind::Resolved),
        1 => Just(EventKind::Reopened),
        1 => proptest::sample::select(vec![Priority::Critical, Priority::High, Priority::Normal, Priority::Low])
            .prop_map(|priority| EventKind::PriorityChanged { priority }),
    ]
}

/// A history without waiting events: created at the anchor, then events at increasing minutes.
fn history() -> impl Strategy<Value = (Timestamp, Vec<TicketEvent>)> {
    (
        anchor(),
        proptest::sample::select(vec![
            Priority::Critical,
            Priority::High,
            Priority::Normal,
            Priority::Low,
        ]),
        proptest::collection::vec((1i64..600, kind()), 0..12),
    )
        .prop_map(|(a, priority, steps)| {
            let mut t = a;
            let mut events = vec![TicketEvent::new(t, EventKind::Created { priority })];
            for (gap, kind) in steps {
                t += SignedDuration::from_mins(gap);
                events.push(TicketEvent::new(t, kind));
            }
            (a, events)
        })
}

fn office(zone: &'static str) -> BusinessCalendar {
    BusinessCalendar::new(zone, DAYS[..5].iter().map(|&d| (d, "09:00", "17:30"))).unwrap()
}

fn clocks(s: &SlaStatus) -> [Option<ClockStatus>; 3] {
    [s.first_response, s.next_response, s.resolution]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Waiting on the customer for a while never makes any deadline earlier, never adds elapsed
    /// time, and never turns a clock that was not breached into a breached one.
    #[test]
    fn a_pause_never_shortens_a_deadline(
        z in proptest::sample::select(ZONES),
        (a, events) in history(),
        p in 0i64..4000, len in 1i64..3000, late in 0i64..6000,
    ) {
        let cal = office(z);
        let targets = SlaTargets::default();
        let now = events.last().unwrap().at + SignedDuration::from_mins(late);
        let pause_start = a + SignedDuration::from_mins(p);
        let mut paused = events.clone();
        paused.push(TicketEvent::new(pause_start, EventKind::WaitingOnCustomer));
        paused.push(TicketEvent::new(pause_start + SignedDuration::from_mins(len), EventKind::Resumed));
        let plain = evaluate(&events, &targets, &cal, now).unwrap();
        let with = evaluate(&paused, &targets, &cal, now).unwrap();
        prop_assert_eq!(plain.next_response_cycles, with.next_response_cycles);
        prop_assert!(with.next_response_breaches <= plain.next_response_breaches);
        for (c0, c1) in clocks(&plain).into_iter().zip(clocks(&with)) {
            let (Some(c0), Some(c1)) = (c0, c1) else {
                prop_assert_eq!(c0.is_none(), c1.is_none());
                continue;
            };
            prop_assert!(c1.elapsed <= c0.elapsed);
            if let (Some(d0), Some(d1)) = (c0.deadline, c1.deadline) {
                prop_assert!(d1 >= d0, "{:?} < {:?}", d1, d0);
            }
            if c0.state != ClockState::Breached {
                prop_assert_ne!(c1.state, ClockState::Breached);
            }
        }
    }

    /// A breached first-response or resolution clock stays breached as time goes on, and elapsed
    /// time never goes backwards.
    #[test]
    fn breaches_never_heal(
        z in proptest::sample::select(ZONES),
        (_a, events) in history(),
        t1 in 0i64..8000, dt in 0i64..8000,
    ) {
        let cal = office(z);
        let targets = SlaTargets::default();
        let start = events[0].at;
        let n1 = start + SignedDuration::from_mins(t1);
        let n2 = n1 + SignedDuration::from_mins(dt);
        let s1 = evaluate(&events, &targets, &cal, n1).unwrap();
        let s2 = evaluate(&events, &targets, &cal, n2).unwrap();
        for (c1, c2) in [(s1.first_response, s2.first_response), (s1.resolution, s2.resolution)] {
            let (Some(c1), Some(c2)) = (c1, c2) else { continue };
            if c1.state == ClockState::Breached && c1.target == c2.target {
                prop_assert_eq!(c2.state, ClockState::Breached);
            }
            if c1.target.basis == c2.target.basis {
                prop_assert!(c2.elapsed >= c1.elapsed);
            }
        }
        // Lowering the priority lengthens a running clock by design, and a cycle that stops keeps
        // the target in force when it stopped, so a priority change between the two moments may
        // turn a breached cycle into a met one even if the priority is back where it was (found
        // by this property: lowered, replied, raised again). Without a change, none heals.
        let changed_between = events.iter().any(|e| {
            matches!(e.kind, EventKind::PriorityChanged { .. }) && e.at > n1 && e.at <= n2
        });
        prop_assert!(s2.next_response_breaches >= s1.next_response_breaches || changed_between);
    }

    /// The status depends on the events, not on the order they are listed in (times distinct).
    #[test]
    fn list_order_is_irrelevant(
        (_a, events) in history(),
        seed in any::<u64>(),
    ) {
        let cal = office("Europe/London");
        let targets = SlaTargets::default();
        let now = events.last().unwrap().at + SignedDuration::from_hours(1);
        let mut shuffled = events.clone();
        // A small deterministic shuffle (Fisher–Yates over a linear congruential sequence).
        let mut state = seed;
        for i in (1..shuffled.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let j = usize::try_from(state >> 33).unwrap() % (i + 1);
            shuffled.swap(i, j);
        }
        prop_assert_eq!(
            evaluate(&events, &targets, &cal, now).unwrap(),
            evaluate(&shuffled, &targets, &cal, now).unwrap()
        );
    }
}

// --- stamps ----------------------------------------------------------------------------------------

fn kind_with_waits() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        4 => kind(),
        1 => Just(EventKind::WaitingOnCustomer),
        1 => Just(EventKind::Resumed),
    ]
}

/// The queue's verdict from a full replay as of `now`: what the ticket's page shows.
fn replayed_verdict(s: &SlaStatus) -> (&'static str, Option<Timestamp>) {
    let due = clocks(s)
        .into_iter()
        .flatten()
        .filter(|c| c.stopped_at.is_none() && !c.paused)
        .filter_map(|c| c.deadline)
        .min();
    let verdict = if s.breached() {
        "breached"
    } else if clocks(s).into_iter().flatten().any(|c| c.warning) {
        "at-risk"
    } else if due.is_some() {
        "ok"
    } else {
        "none"
    };
    (verdict, due)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// A stamp taken at a ticket's last event gives, at any later moment, the verdict and the
    /// next deadline a full replay at that moment gives: the queue may sort and count by it.
    #[test]
    fn a_stamp_agrees_with_a_replay_at_any_later_time(
        z in proptest::sample::select(ZONES),
        a in anchor(),
        priority in proptest::sample::select(vec![Priority::Critical, Priority::High, Priority::Normal, Priority::Low]),
        steps in proptest::collection::vec((1i64..600, kind_with_waits()), 0..12),
        warn in 1u8..=99,
        late in proptest::collection::vec(0i64..20_000, 1..6),
    ) {
        let cal = office(z);
        let targets = SlaTargets { warn_percent: warn, ..palisade_desk::default_targets() };
        let mut t = a;
        let mut events = vec![TicketEvent::new(t, EventKind::Created { priority })];
        for (gap, kind) in steps {
            t += SignedDuration::from_mins(gap);
            events.push(TicketEvent::new(t, kind));
        }
        let stamp = palisade_desk::SlaStamp::of(&evaluate(&events, &targets, &cal, t).unwrap());
        for m in late {
            let now = t + SignedDuration::from_mins(m);
            let (verdict, due) = replayed_verdict(&evaluate(&events, &targets, &cal, now).unwrap());
            prop_assert_eq!(stamp.verdict(now), verdict, "at {}", now);
            prop_assert_eq!(stamp.due_at, due, "at {}", now);
        }
    }
}
