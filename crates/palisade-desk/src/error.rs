//! The one error type of the crate. Every way a calendar, a target set or a ticket history can be
//! unusable has its own variant, so the web edge can map each to a field-named message instead of
//! a generic failure.

use jiff::Timestamp;

/// Why a calendar could not be built, a target set is invalid, a history cannot be evaluated, or a
/// computation gave up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeskError {
    /// The zone is not in the time zone database.
    #[error("{0:?} is not an IANA time zone name (for example Europe/London)")]
    UnknownZone(String),
    /// A support-hours range is not `HH:MM`–`HH:MM` with the end after the start.
    #[error("support hours range {index}: {reason}")]
    InvalidRange { index: usize, reason: String },
    /// The weekly pattern has no support hours at all, so no business-time deadline could ever be
    /// reached. A contract without business hours uses calendar-minute targets instead.
    #[error("the support hours contain no time at all")]
    NoSupportHours,
    /// The contract names a holiday calendar that is not known.
    #[error("no holiday calendar named {0:?}")]
    UnknownHolidayCalendar(String),
    /// A holiday calendar name is empty or not `[a-z0-9-]`.
    #[error("{0:?} is not a holiday calendar name (lower-case letters, digits and '-')")]
    InvalidHolidayCalendarName(String),
    /// An SLA target is zero, too large, or the warning percentage is out of range.
    #[error("SLA target {field}: {reason}")]
    InvalidTarget { field: String, reason: String },
    /// An interval ends before it starts.
    #[error("the interval ends ({end}) before it starts ({start})")]
    InvalidInterval { start: Timestamp, end: Timestamp },
    /// The search for a deadline (or for the business time to reach one) passed the limit without
    /// finding enough business time. See [`crate::calendar::SEARCH_LIMIT_DAYS`].
    #[error("no deadline within {days} days of {from}: too few support hours for the target")]
    SearchLimit { from: Timestamp, days: i32 },
    /// A time outside what the calendar arithmetic supports (jiff's range, years -9999..=9999).
    #[error("{0} is outside the supported range of dates")]
    OutOfRange(Timestamp),
    /// The ticket history does not start with exactly one `created` event.
    #[error("ticket history: {0}")]
    InvalidHistory(&'static str),
}
