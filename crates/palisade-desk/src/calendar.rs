//! The business calendar: when a client gets in-hours support, as instants. A calendar is a weekly
//! pattern of wall-clock ranges in an IANA zone minus public holidays; from it come whether an
//! instant is in hours, the business time between two instants, the instant at which a business
//! duration has elapsed (deadlines), the next opening or closing, and the split of a worked
//! interval into in-hours and out-of-hours parts (out-of-hours billing).
//!
//! # Time, DST and the rules for ambiguous wall-clock times
//!
//! Business time is real elapsed time inside support hours, never a difference of wall-clock
//! readings. A 09:00–17:00 range is 8 hours on a DST change day in London, Berlin or New York,
//! because those zones change at night; a range that spans the change itself is as long as the
//! time that really passes: 00:00–04:00 is 3 hours on a spring-forward night and 5 hours on a
//! fall-back night.
//!
//! Each end of a range is the **first instant at which the zone's wall clock shows that time or
//! later**:
//!
//! - a time in a skipped hour (spring forward: 01:30 in London on the last Sunday of March) is the
//!   instant the clocks jump (01:00 UTC, when the clock goes from 00:59:59 GMT to 02:00 BST). A
//!   range wholly inside the gap (01:15–01:45) is empty that day;
//! - a time in a repeated hour (fall back: 01:30 in London on the last Sunday of October) is its
//!   first occurrence (01:30 BST, 00:30 UTC). A range ending at 01:30 closes the first time the
//!   clock shows 01:30; a range starting at 01:30 opens then and includes the repeated hour.
//!
//! The rule is monotone (a later wall-clock time never maps to an earlier instant), so a day's
//! ranges stay ordered and disjoint, and it is what a clock on the wall does: "we open at 09:00"
//! means the first moment the clock reads 09:00. It differs from jiff's default ("compatible")
//! disambiguation for gaps, which would map 01:30 to 02:30 BST, an instant the range's author
//! never wrote.
//!
//! # Ranges across midnight, 24/7 and holidays
//!
//! [`SupportHours`] requires each range to end after it starts on the same day, so overnight
//! cover is two ranges (Monday 22:00–24:00 and Tuesday 00:00–06:00); an end of `24:00` means the
//! next midnight, and ranges that touch or overlap are merged, so that cover is one continuous
//! stretch with no boundary at midnight. (`palisade-core` validation still rejects `24:00`; until
//! it accepts it, a calendar built here directly can use it.) A 24/7 contract is
//! [`BusinessCalendar::always`]: every day 00:00–24:00, no holidays. A holiday removes its whole
//! local date, including the part of an overnight range that falls on it.
//!
//! # Limits
//!
//! Searches forward (deadlines, the next boundary) look at most [`SEARCH_LIMIT_DAYS`] local days
//! ahead and then fail with [`DeskError::SearchLimit`] or report no boundary, rather than loop on a
//! calendar with no hours left. A calendar with no hours at all is refused when it is built.
//! Costs are linear in the number of local days covered (a few time-zone conversions per range
//! per day).

use std::collections::{BTreeSet, VecDeque};

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Span, Timestamp};
use palisade_core::tenant::{Contract, SupportHours};
use serde::Serialize;

use crate::error::DeskError;
use crate::holidays::HolidayCalendar;

/// How many local days a forward search covers before giving up: about ten years, far beyond any
/// SLA target, short enough that a hopeless search costs milliseconds.
pub const SEARCH_LIMIT_DAYS: i32 = 3660;

/// Minutes in a day; a range end of `24:00` is this many minutes.
const DAY_MINUTES: u16 = 24 * 60;

/// Extra local days scanned past the date of an end instant. Intervals are found by local date,
/// and a fold across midnight can make an instant's local date precede the day whose first
/// interval covers it; three days is more than any real offset change.
const MARGIN_DAYS: i32 = 3;

/// A half-open interval `[start, end)` of instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Interval {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Interval {
    pub fn duration(&self) -> SignedDuration {
        self.end.duration_since(self.start)
    }
}

/// Whether support hours begin or end at a boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoundaryKind {
    Opens,
    Closes,
}

/// The next change between in hours and out of hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Boundary {
    pub at: Timestamp,
    pub kind: BoundaryKind,
}

/// One piece of a worked interval, wholly in or wholly out of support hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct WorkPart {
    pub start: Timestamp,
    pub end: Timestamp,
    pub in_hours: bool,
}

/// A worked interval split at the support-hours boundaries: consecutive parts alternating between
/// in and out of hours, covering the interval exactly, with their totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkSplit {
    pub parts: Vec<WorkPart>,
    pub in_hours: SignedDuration,
    pub out_of_hours: SignedDuration,
}

/// Support hours as instants: a weekly pattern in a zone, minus holidays. Built once per contract
/// and holiday data, then queried as often as needed.
#[derive(Clone, Debug)]
pub struct BusinessCalendar {
    zone_name: String,
    tz: TimeZone,
    /// Per weekday (Monday first), sorted disjoint `[start, end)` minute ranges, end ≤ 24:00.
    week: [Vec<(u16, u16)>; 7],
    holidays: BTreeSet<Date>,
}

impl BusinessCalendar {
    /// A calendar from `(weekday, "HH:MM", "HH:MM")` ranges in `zone`. An end of `"24:00"` is the
    /// next midnight. Overlapping or touching ranges of one day are merged.
    pub fn new<'a>(
        zone: &str,
        ranges: impl IntoIterator<Item = (Weekday, &'a str, &'a str)>,
    ) -> Result<Self, DeskError> {
        let tz = TimeZone::get(zone).map_err(|_| DeskError::UnknownZone(zone.to_owned()))?;
        let mut week: [Vec<(u16, u16)>; 7] = Default::default();
        for (index, (day, start, end)) in ranges.into_iter().enumerate() {
            let bad = |reason: &str| DeskError::InvalidRange {
                index,
                reason: reason.to_owned(),
            };
            let s = parse_hhmm(start, false).ok_or_else(|| bad("start must be HH:MM"))?;
            let e = parse_hhmm(end, true)
                .ok_or_else(|| bad("end must be HH:MM (or 24:00 for midnight)"))?;
            if e <= s {
                return Err(bad(
                    "end must be after start (split a range across midnight in two)",
                ));
            }
            week[usize::from(day.to_monday_zero_offset().unsigned_abs())].push((s, e));
        }
        for day in &mut week {
            *day = merge_minutes(std::mem::take(day));
        }
        if week.iter().all(Vec::is_empty) {
            return Err(DeskError::NoSupportHours);
        }
        Ok(Self {
            zone_name: zone.to_owned(),
            tz,
            week,
            holidays: BTreeSet::new(),
        })
    }

    /// Round the clock, every day, with no holidays: for 24/7 contracts.
    pub fn always(zone: &str) -> Result<Self, DeskError> {
        Self::new(
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
            .map(|d| (d, "00:00", "24:00")),
        )
    }

    /// A contract's support hours, without holidays.
    pub fn from_support_hours(hours: &SupportHours) -> Result<Self, DeskError> {
        Self::new(
            &hours.time_zone,
            hours
                .ranges
                .iter()
                .map(|r| (r.day.weekday(), r.start.as_str(), r.end.as_str())),
        )
    }

    /// A contract's support hours minus the holidays of the calendar it names. A name with no
    /// calendar behind it is an error, not "no holidays": a silent miss would count bank holidays
    /// as working days.
    pub fn from_contract(
        contract: &Contract,
        holidays: &HolidayCalendar,
    ) -> Result<Self, DeskError> {
        let cal = Self::from_support_hours(&contract.support_hours)?;
        match &contract.holiday_calendar {
            None => Ok(cal),
            Some(name) => {
                let set = holidays
                    .get(name)
                    .ok_or_else(|| DeskError::UnknownHolidayCalendar(name.clone()))?;
                Ok(cal.with_holidays(set.iter().map(|(d, _)| d)))
            }
        }
    }

    /// Adds local dates on which there are no support hours.
    pub fn with_holidays(mut self, dates: impl IntoIterator<Item = Date>) -> Self {
        self.holidays.extend(dates);
        self
    }

    /// The IANA zone name.
    pub fn zone(&self) -> &str {
        &self.zone_name
    }

    /// The zone.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// Whether `date` is one of the calendar's holidays.
    pub fn is_holiday(&self, date: Date) -> bool {
        self.holidays.contains(&date)
    }

    /// Whether `at` is inside support hours (ranges are half-open: the closing instant is out).
    pub fn is_open(&self, at: Timestamp) -> Result<bool, DeskError> {
        let horizon = self.local_date(at).add_days(MARGIN_DAYS, at)?;
        match self.intervals(at, horizon, false)?.next().transpose()? {
            Some((iv, _)) => Ok(iv.start <= at),
            None => Ok(false),
        }
    }

    /// Business time from `start` to `end`: the time in support hours between them, negative if
    /// `end` is before `start`.
    pub fn business_between(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<SignedDuration, DeskError> {
        if end < start {
            return Ok(-self.business_between(end, start)?);
        }
        let horizon = self.local_date(end).add_days(MARGIN_DAYS, end)?;
        let mut total = SignedDuration::ZERO;
        for iv in self.intervals(start, horizon, false)? {
            let (iv, _) = iv?;
            if iv.start >= end {
                break;
            }
            total += iv.end.min(end).duration_since(iv.start.max(start));
        }
        Ok(total)
    }

    /// The earliest instant at which `duration` of business time has elapsed since `start`: the
    /// deadline of a business-time target. A zero or negative duration gives `start`. Fails with
    /// [`DeskError::SearchLimit`] if the time is not found within [`SEARCH_LIMIT_DAYS`].
    ///
    /// For any `t` after `start` with support hours open just before it (inside hours but not at an
    /// opening, or at a closing), `add_business(start, business_between(start, t)) == t`; for any
    /// other `t` it is the end of the last open stretch before `t`.
    pub fn add_business(
        &self,
        start: Timestamp,
        duration: SignedDuration,
    ) -> Result<Timestamp, DeskError> {
        if duration <= SignedDuration::ZERO {
            return Ok(start);
        }
        let horizon = self.local_date(start).add_days(SEARCH_LIMIT_DAYS, start)?;
        let mut left = duration;
        for iv in self.intervals(start, horizon, false)? {
            let (iv, _) = iv?;
            let from = iv.start.max(start);
            let len = iv.end.duration_since(from);
            if len >= left {
                return from
                    .checked_add(left)
                    .map_err(|_| DeskError::OutOfRange(from));
            }
            left -= len;
        }
        Err(DeskError::SearchLimit {
            from: start,
            days: SEARCH_LIMIT_DAYS,
        })
    }

    /// The first instant after `at` at which support hours open or close, or `None` if nothing
    /// changes within [`SEARCH_LIMIT_DAYS`] (a 24/7 calendar has no boundaries). A midnight
    /// joining two ranges is not a boundary.
    pub fn next_boundary(&self, at: Timestamp) -> Result<Option<Boundary>, DeskError> {
        let horizon = self.local_date(at).add_days(SEARCH_LIMIT_DAYS, at)?;
        let Some(first) = self.intervals(at, horizon, true)?.next().transpose()? else {
            return Ok(None);
        };
        let (iv, truncated) = first;
        if iv.start > at {
            Ok(Some(Boundary {
                at: iv.start,
                kind: BoundaryKind::Opens,
            }))
        } else if truncated {
            Ok(None)
        } else {
            Ok(Some(Boundary {
                at: iv.end,
                kind: BoundaryKind::Closes,
            }))
        }
    }

    /// Splits `[start, end)` into alternating in-hours and out-of-hours parts, for billing work
    /// out of hours at another rate. Parts are merged across midnights that do not close support.
    pub fn split(&self, start: Timestamp, end: Timestamp) -> Result<WorkSplit, DeskError> {
        if end < start {
            return Err(DeskError::InvalidInterval { start, end });
        }
        let mut split = WorkSplit {
            parts: Vec::new(),
            in_hours: SignedDuration::ZERO,
            out_of_hours: SignedDuration::ZERO,
        };
        let push = |split: &mut WorkSplit, s: Timestamp, e: Timestamp, in_hours: bool| {
            if s >= e {
                return;
            }
            if in_hours {
                split.in_hours += e.duration_since(s);
            } else {
                split.out_of_hours += e.duration_since(s);
            }
            split.parts.push(WorkPart {
                start: s,
                end: e,
                in_hours,
            });
        };
        let horizon = self.local_date(end).add_days(MARGIN_DAYS, end)?;
        let mut cursor = start;
        for iv in self.intervals(start, horizon, true)? {
            let (iv, _) = iv?;
            if iv.start >= end {
                break;
            }
            let s = iv.start.max(start);
            let e = iv.end.min(end);
            push(&mut split, cursor, s, false);
            push(&mut split, s, e, true);
            cursor = e;
        }
        push(&mut split, cursor, end, false);
        Ok(split)
    }

    /// Open intervals that end after `from`, in order, for local dates from `from`'s up to (not
    /// including) `horizon`. With `merge`, touching intervals are joined and each comes with
    /// whether it was cut short by the horizon; without, they are as the days give them.
    fn intervals(
        &self,
        from: Timestamp,
        horizon: Date,
        merge: bool,
    ) -> Result<Intervals<'_>, DeskError> {
        // Intervals of earlier local dates end by the first instant of `from`'s date (a range
        // ends at 24:00 at the latest), which is at or before `from`: none of them can matter.
        Ok(Intervals {
            cal: self,
            from,
            day: self.local_date(from),
            horizon,
            merge,
            raw: VecDeque::new(),
        })
    }

    fn local_date(&self, at: Timestamp) -> Date {
        self.tz.to_datetime(at).date()
    }

    /// The first instant at which the wall clock shows `minute` (0..=1440) of `day` or later.
    fn first_instant(&self, day: Date, minute: u16) -> Result<Timestamp, DeskError> {
        let overflow = |_| DeskError::OutOfRange(Timestamp::MAX);
        let (day, minute) = if minute >= DAY_MINUTES {
            (day.tomorrow().map_err(overflow)?, 0)
        } else {
            (day, minute)
        };
        // Both fit: minute < 1440.
        let hour = i8::try_from(minute / 60).unwrap_or(0);
        let min = i8::try_from(minute % 60).unwrap_or(0);
        let dt = DateTime::from_parts(day, jiff::civil::time(hour, min, 0, 0));
        let ts = match self.tz.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt),
            // The first occurrence is the one under the offset in force before the fold.
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt),
            // Read under the later offset, `dt` is an instant before the jump (the clock then
            // shows a time before the gap); the jump itself is the next transition.
            AmbiguousOffset::Gap { after, .. } => {
                let just_before = after.to_timestamp(dt).map_err(overflow)?;
                return self
                    .tz
                    .following(just_before)
                    .next()
                    .map(|t| t.timestamp())
                    .ok_or(DeskError::OutOfRange(just_before));
            }
        };
        ts.map_err(overflow)
    }

    /// The raw open intervals of one local date, in order (empty on a holiday).
    fn day_intervals(&self, day: Date, out: &mut VecDeque<Interval>) -> Result<(), DeskError> {
        if self.holidays.contains(&day) {
            return Ok(());
        }
        let ranges = &self.week[usize::from(day.weekday().to_monday_zero_offset().unsigned_abs())];
        for &(s, e) in ranges {
            let start = self.first_instant(day, s)?;
            let end = self.first_instant(day, e)?;
            // Empty when the whole range falls in a skipped hour.
            if start < end {
                out.push_back(Interval { start, end });
            }
        }
        Ok(())
    }
}

/// Lazily walks the open intervals day by day (see [`BusinessCalendar::intervals`]).
struct Intervals<'a> {
    cal: &'a BusinessCalendar,
    from: Timestamp,
    day: Date,
    horizon: Date,
    merge: bool,
    raw: VecDeque<Interval>,
}

impl Intervals<'_> {
    /// Generates days until a raw interval ending after `from` is buffered; false at the horizon.
    fn fill(&mut self) -> Result<bool, DeskError> {
        loop {
            while let Some(front) = self.raw.front() {
                if front.end > self.from {
                    return Ok(true);
                }
                self.raw.pop_front();
            }
            if self.day >= self.horizon {
                return Ok(false);
            }
            self.cal.day_intervals(self.day, &mut self.raw)?;
            self.day = self
                .day
                .tomorrow()
                .map_err(|_| DeskError::OutOfRange(self.from))?;
        }
    }

    fn next_merged(&mut self) -> Result<Option<(Interval, bool)>, DeskError> {
        if !self.fill()? {
            return Ok(None);
        }
        let Some(mut cur) = self.raw.pop_front() else {
            return Ok(None);
        };
        if !self.merge {
            return Ok(Some((cur, false)));
        }
        loop {
            if !self.fill()? {
                // Nothing more before the horizon: the interval may go on beyond it.
                return Ok(Some((cur, true)));
            }
            match self.raw.front() {
                Some(next) if next.start <= cur.end => {
                    cur.end = cur.end.max(next.end);
                    self.raw.pop_front();
                }
                _ => return Ok(Some((cur, false))),
            }
        }
    }
}

impl Iterator for Intervals<'_> {
    type Item = Result<(Interval, bool), DeskError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_merged().transpose()
    }
}

trait AddDays: Sized {
    fn add_days(self, days: i32, context: Timestamp) -> Result<Self, DeskError>;
}

impl AddDays for Date {
    fn add_days(self, days: i32, context: Timestamp) -> Result<Self, DeskError> {
        self.checked_add(Span::new().days(days))
            .map_err(|_| DeskError::OutOfRange(context))
    }
}

/// `HH:MM` to minutes since midnight; `24:00` only where `allow_midnight_end`.
fn parse_hhmm(s: &str, allow_midnight_end: bool) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    match (h, m) {
        (24, 0) if allow_midnight_end => Some(DAY_MINUTES),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// Sorts and joins overlapping or touching minute ranges.
fn merge_minutes(mut ranges: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    ranges.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}
