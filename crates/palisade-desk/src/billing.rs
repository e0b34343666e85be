//! Work logs and what they cost: a worked interval is split at the support-hours boundary by
//! [`BusinessCalendar::split`] and each part priced at the in-hours or the out-of-hours rate of
//! the client's contract tier. Money is integer minor units (pence, cents) with an ISO 4217
//! currency code: never floating point, so a monthly export adds up to the cent.
//!
//! # Rounding
//!
//! Rates are per hour; a part of `s` seconds costs `s × rate / 3600` minor units, rounded half up
//! once per part kind (in hours, out of hours) and work log, so the amount on each CSV line is
//! exactly what its seconds cost and the month's total is the sum of its lines.
//!
//! # Months
//!
//! A work log belongs to the month (in the client's zone) in which it **started**: a call that
//! runs past midnight on the last day of the month is billed whole in the month it began, so it
//! appears on exactly one invoice.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use palisade_core::{ClientId, TicketId, UserId, WorkLogId};
use serde::{Deserialize, Serialize};

use crate::calendar::{BusinessCalendar, WorkSplit};
use crate::error::DeskError;

/// Longest work-log note, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;
/// Longest single work log: a day. Longer stretches are several logs (and probably a mistake).
pub const MAX_WORK_HOURS: i64 = 24;
/// Highest hourly rate accepted, in minor units: keeps every product far inside `i64`.
pub const MAX_RATE_MINOR: i64 = 100_000_000;

/// Hourly rates of one contract tier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    /// ISO 4217 code, three upper-case letters (`GBP`, `EUR`).
    pub currency: String,
    /// Minor units per hour inside support hours.
    pub in_hours: i64,
    /// Minor units per hour outside support hours.
    pub out_of_hours: i64,
}

impl Rates {
    /// The currency is three upper-case letters and both rates are 0..=[`MAX_RATE_MINOR`].
    pub fn validate(&self) -> Result<(), DeskError> {
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(DeskError::InvalidTarget {
                field: "currency".into(),
                reason: format!("{:?} is not an ISO 4217 code such as GBP", self.currency),
            });
        }
        for (field, v) in [
            ("in_hours", self.in_hours),
            ("out_of_hours", self.out_of_hours),
        ] {
            if !(0..=MAX_RATE_MINOR).contains(&v) {
                return Err(DeskError::InvalidTarget {
                    field: field.into(),
                    reason: format!("must be between 0 and {MAX_RATE_MINOR} minor units per hour"),
                });
            }
        }
        Ok(())
    }
}

/// Time worked on a ticket by a member of staff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkLog {
    pub id: WorkLogId,
    pub ticket_id: TicketId,
    pub client_id: ClientId,
    pub user_id: UserId,
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    pub note: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl WorkLog {
    /// The interval is 1 second to [`MAX_WORK_HOURS`], not in the future, and the note is 1 to
    /// [`MAX_NOTE_CHARS`] characters.
    pub fn check(&self, now: Timestamp) -> Result<(), (&'static str, String)> {
        if self.end <= self.start {
            return Err(("end", "must be after start".into()));
        }
        if self.end.duration_since(self.start) > SignedDuration::from_hours(MAX_WORK_HOURS) {
            return Err((
                "end",
                format!(
                    "one work log covers at most {MAX_WORK_HOURS} hours; log longer work in parts"
                ),
            ));
        }
        if self.end > now {
            return Err(("end", "work cannot be logged ahead of time".into()));
        }
        let n = self.note.trim().chars().count();
        if n == 0 || n > MAX_NOTE_CHARS {
            return Err(("note", format!("must be 1 to {MAX_NOTE_CHARS} characters")));
        }
        Ok(())
    }
}

/// A work log's time split and priced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Priced {
    /// Seconds inside support hours.
    pub in_hours_seconds: i64,
    /// Seconds outside support hours.
    pub out_of_hours_seconds: i64,
    pub in_hours_amount: i64,
    pub out_of_hours_amount: i64,
    /// The sum of both amounts, in minor units of `currency`.
    pub amount: i64,
    pub currency: String,
}

/// `seconds × rate / 3600`, rounded half up, in minor units.
fn cost(seconds: i64, rate_per_hour: i64) -> i64 {
    // Both factors are bounded (a day of seconds, MAX_RATE_MINOR), so the product fits in i128
    // with room to spare and rounds exactly.
    let num = i128::from(seconds) * i128::from(rate_per_hour);
    i64::try_from((num + 1800) / 3600).unwrap_or(i64::MAX)
}

/// Prices a split at `rates`.
pub fn price(split: &WorkSplit, rates: &Rates) -> Priced {
    let ins = split.in_hours.as_secs();
    let outs = split.out_of_hours.as_secs();
    let in_amount = cost(ins, rates.in_hours);
    let out_amount = cost(outs, rates.out_of_hours);
    Priced {
        in_hours_seconds: ins,
        out_of_hours_seconds: outs,
        in_hours_amount: in_amount,
        out_of_hours_amount: out_amount,
        amount: in_amount + out_amount,
        currency: rates.currency.clone(),
    }
}

/// Splits `[start, end)` at the calendar's support-hours boundaries and prices it.
pub fn price_work(
    calendar: &BusinessCalendar,
    start: Timestamp,
    end: Timestamp,
    rates: &Rates,
) -> Result<(WorkSplit, Priced), DeskError> {
    let split = calendar.split(start, end)?;
    let priced = price(&split, rates);
    Ok((split, priced))
}

/// A billing month: `YYYY-MM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Month {
    pub year: i16,
    pub month: i8,
}

impl std::str::FromStr for Month {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a month YYYY-MM");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i16 = y.parse().map_err(|_| bad())?;
        let month: i8 = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || !(1970..=9998).contains(&year) {
            return Err(bad());
        }
        Ok(Self { year, month })
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Month {
    /// The month's first instant and the next month's, in `zone`: the half-open range of work-log
    /// starts it bills.
    pub fn range(&self, zone: &TimeZone) -> Result<(Timestamp, Timestamp), DeskError> {
        let first = Date::new(self.year, self.month, 1)
            .map_err(|_| DeskError::InvalidHistory("month out of range"))?;
        let next = first
            .checked_add(jiff::Span::new().months(1))
            .map_err(|_| DeskError::InvalidHistory("month out of range"))?;
        let at = |d: Date| {
            d.to_zoned(zone.clone())
                .map(|z| z.timestamp())
                .map_err(|_| DeskError::InvalidHistory("month out of range"))
        };
        Ok((at(first)?, at(next)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_round_half_up_per_part_and_months_parse_strictly() {
        assert_eq!(cost(3600, 9000), 9000);
        assert_eq!(cost(1, 1800), 1, "0.5 rounds up");
        assert_eq!(cost(1, 1799), 0);
        assert_eq!(cost(0, MAX_RATE_MINOR), 0);
        assert_eq!(cost(24 * 3600, MAX_RATE_MINOR), 24 * MAX_RATE_MINOR);
        assert_eq!(
            "2026-03".parse::<Month>().map(|m| m.to_string()),
            Ok("2026-03".into())
        );
        for bad in ["2026-3", "2026-13", "26-03", "2026/03", "", "2026-00"] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
        let rates = Rates {
            currency: "gbp".into(),
            in_hours: 1,
            out_of_hours: 1,
        };
        assert!(rates.validate().is_err());
    }
}
