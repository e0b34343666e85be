//! The support desk's rules, as pure code: business calendars ([`calendar`]: support hours in an
//! IANA zone minus public holidays, across DST changes), the public-holiday data
//! ([`holidays`]), SLA clocks derived from a ticket's event history ([`sla`]), and tickets
//! themselves: states, their allowed transitions and the timeline ([`ticket`]), and work logs priced
//! in and out of support hours ([`billing`]).
//!
//! Nothing here reads a clock, a database or a file: the desk service passes the events, the
//! contract's calendar and `now`, and stores only the events. Every status is recomputed from
//! them, so a corrected calendar or target changes the answer everywhere at once.

pub mod billing;
pub mod calendar;
pub mod error;
pub mod holidays;
pub mod sla;
pub mod ticket;

pub use billing::{Month, Priced, Rates, WorkLog, price, price_work};
pub use calendar::{
    Boundary, BoundaryKind, BusinessCalendar, Interval, SEARCH_LIMIT_DAYS, WorkPart, WorkSplit,
};
pub use error::DeskError;
pub use holidays::{HolidayCalendar, HolidaySet};
pub use sla::{
    Basis, ClockState, ClockStatus, EventKind, Priority, PriorityTargets, SlaStatus, SlaTargets,
    Target, TicketEvent, evaluate,
};
pub use ticket::{
    Actor, AuthorKind, Category, Line, NewTicket, SlaStamp, Ticket, TicketError, TicketState,
    TimelineEvent, TimelineKind, Visibility, auto_escalation, default_targets, sla_events,
    sla_stamp,
};
