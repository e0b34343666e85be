//! SLA clocks derived from a ticket's append-only event history. Nothing about a ticket's SLA is
//! stored: [`evaluate`] replays the events against the targets and the business calendar as of a
//! moment, so a changed calendar (a holiday added late, corrected support hours) or target gives
//! the new answer on the next evaluation, and any past state can be recomputed for an audit (the
//! recalculation bugs of desks that store due dates, zammad/zammad#534 and #5177, cannot happen).
//!
//! # The clocks
//!
//! - **First response** runs from creation to the first staff reply.
//! - **Next response** runs from a customer reply that arrives after the first response (when no
//!   next-response clock is already running) to the next staff reply; a reopened ticket starts one
//!   too, since someone is waiting for an answer. Each such run is a cycle; the status shows the
//!   latest and counts the breached ones. A customer reply before the first response starts
//!   nothing: the first-response clock already covers it, and it must not move that deadline
//!   (zammad/zammad#5177).
//! - **Resolution** runs from creation to resolution; a reopened ticket resumes it with the time
//!   it already used, and the time spent resolved does not count.
//!
//! Resolving a ticket stops every running clock (the resolution reaches the customer, so it
//! answers them). All clocks are **paused** while the ticket waits on the customer, and the
//! paused time is excluded (Request Tracker's `ExcludeTimeOnIgnoredStatuses`). A customer reply
//! ends the wait by itself: it is what the desk was waiting for, and a clock must not stay paused
//! because nobody flipped the status. A customer reply to a resolved ticket changes no clock;
//! reopening (an explicit event, by whatever rule the desk applies) does.
//!
//! # Targets and priorities
//!
//! Each priority has optional targets per clock, in business minutes (support hours of the
//! contract's calendar) or calendar minutes (round the clock: 24/7 contracts, critical issues on
//! the out-of-hours line). A clock still running is judged by the target of the ticket's current
//! priority, measured from the clock's start over its unpaused time: raising the priority
//! shortens the deadline (possibly into the past: a ticket raised to critical two hours after it
//! was opened has waited two hours), lowering it lengthens it, and lowering then raising again
//! gives back the original deadline, so priority changes cannot be used to reset a clock. A clock
//! that has stopped keeps the target in force when it stopped.
//!
//! # Deadlines, breaches and warnings
//!
//! A clock's deadline is the first instant at which its target has elapsed; `warn_at` the first at
//! which `warn_percent` of it has. A stopped clock is met if it stopped at or before the deadline;
//! a running one is breached from the deadline on. While paused, a clock has no deadline (it
//! moves with the pause) but keeps its remaining time. Events are taken in time order (events with
//! the same time in list order), and events after `now` are ignored, so evaluating "as of" a past
//! moment gives what the desk showed then.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::calendar::{BusinessCalendar, Interval};
use crate::error::DeskError;

/// The largest target: one year of minutes. Anything longer is not a service level, and keeping
/// targets short keeps every deadline search far inside its limit.
pub const MAX_TARGET_MINUTES: u32 = 366 * 24 * 60;

/// How urgent a ticket is. Critical means a service is down.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    Critical,
    High,
    Normal,
    Low,
}

/// What happened to a ticket, as far as its SLA clocks care.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EventKind {
    /// The ticket was opened. Must be the first event, exactly once.
    Created {
        priority: Priority,
    },
    /// A reply from staff that reaches the customer (not an internal note). The first one is the
    /// first response.
    StaffReply,
    /// A message from the customer.
    CustomerReply,
    /// The status became "waiting on the customer": clocks pause.
    WaitingOnCustomer,
    /// The status left "waiting on the customer" without a customer reply: clocks resume.
    Resumed,
    Resolved,
    Reopened,
    PriorityChanged {
        priority: Priority,
    },
}

/// One event of a ticket's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketEvent {
    pub at: Timestamp,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl TicketEvent {
    pub fn new(at: Timestamp, kind: EventKind) -> Self {
        Self { at, kind }
    }
}

/// Which time a target counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// Time inside the contract's support hours.
    Business,
    /// All time, round the clock.
    Calendar,
}

/// A time allowed for one clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub minutes: u32,
    pub basis: Basis,
}

impl Target {
    pub const fn business(minutes: u32) -> Self {
        Self {
            minutes,
            basis: Basis::Business,
        }
    }

    pub const fn calendar(minutes: u32) -> Self {
        Self {
            minutes,
            basis: Basis::Calendar,
        }
    }

    fn duration(self) -> SignedDuration {
        SignedDuration::from_mins(i64::from(self.minutes))
    }
}

/// The targets of one priority; a missing target means the clock is not tracked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PriorityTargets {
    pub first_response: Option<Target>,
    pub next_response: Option<Target>,
    pub resolution: Option<Target>,
}

/// Targets for every priority, and when to warn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaTargets {
    pub critical: PriorityTargets,
    pub high: PriorityTargets,
    pub normal: PriorityTargets,
    pub low: PriorityTargets,
    /// Warn when this percentage of a target has elapsed (1–100).
    pub warn_percent: u8,
}

impl Default for SlaTargets {
    /// An example policy: critical issues round the clock (30 minutes to respond, 4 hours to
    /// resolve), the rest in business time from one hour to respond on high to two business days
    /// on low. Real policies come from the contract tier.
    fn default() -> Self {
        let b = Target::business;
        let c = Target::calendar;
        let t = |first, next, resolve| PriorityTargets {
            first_response: Some(first),
            next_response: Some(next),
            resolution: Some(resolve),
        };
        Self {
            critical: t(c(30), c(60), c(4 * 60)),
            high: t(b(60), b(2 * 60), b(8 * 60)),
            normal: t(b(4 * 60), b(8 * 60), b(5 * 8 * 60)),
            low: t(b(2 * 8 * 60), b(2 * 8 * 60), b(10 * 8 * 60)),
            warn_percent: 80,
        }
    }
}

impl SlaTargets {
    pub fn for_priority(&self, priority: Priority) -> &PriorityTargets {
        match priority {
            Priority::Critical => &self.critical,
            Priority::High => &self.high,
            Priority::Normal => &self.normal,
            Priority::Low => &self.low,
        }
    }

    /// Every target is 1..=[`MAX_TARGET_MINUTES`] minutes and the warning percentage 1..=100.
    pub fn validate(&self) -> Result<(), DeskError> {
        if !(1..=100).contains(&self.warn_percent) {
            return Err(DeskError::InvalidTarget {
                field: "warn_percent".into(),
                reason: "must be between 1 and 100".into(),
            });
        }
        for (p, name) in [
            (Priority::Critical, "critical"),
            (Priority::High, "high"),
            (Priority::Normal, "normal"),
            (Priority::Low, "low"),
        ] {
            let t = self.for_priority(p);
            for (target, clock) in [
                (t.first_response, "first_response"),
                (t.next_response, "next_response"),
                (t.resolution, "resolution"),
            ] {
                if let Some(target) = target
                    && !(1..=MAX_TARGET_MINUTES).contains(&target.minutes)
                {
                    return Err(DeskError::InvalidTarget {
                        field: format!("{name}.{clock}.minutes"),
                        reason: format!("must be between 1 and {MAX_TARGET_MINUTES}"),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Where one clock stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockState {
    /// Counting, deadline ahead.
    Running,
    /// Waiting on the customer, deadline not yet passed.
    Paused,
    /// Stopped at or before its deadline.
    Met,
    /// Its deadline passed before it stopped (whether it is still running, paused or stopped).
    Breached,
}

/// One clock's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ClockStatus {
    pub state: ClockState,
    /// The target it is judged by.
    pub target: Target,
    pub started_at: Timestamp,
    /// When it stopped (a staff reply, or the resolution), if it has.
    pub stopped_at: Option<Timestamp>,
    /// Whether it is paused now.
    pub paused: bool,
    /// Unpaused time used, in the target's basis.
    pub elapsed: SignedDuration,
    /// Target minus elapsed, in the target's basis: negative when overdue.
    pub remaining: SignedDuration,
    /// When the target runs (or ran) out. `None` while paused before it ran out, and for a clock
    /// that stopped in time.
    pub deadline: Option<Timestamp>,
    /// When `warn_percent` of the target is (or was) used, on the same terms as `deadline`.
    pub warn_at: Option<Timestamp>,
    /// Still open, not breached, and past `warn_at`: time to warn before the breach.
    pub warning: bool,
}

impl ClockStatus {
    /// How far past the target the clock is (zero if it is not).
    pub fn overdue(&self) -> SignedDuration {
        (-self.remaining).max(SignedDuration::ZERO)
    }
}

/// A ticket's SLA as of one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SlaStatus {
    pub priority: Priority,
    pub waiting_on_customer: bool,
    pub resolved: bool,
    /// `None` when the priority has no such target.
    pub first_response: Option<ClockStatus>,
    /// The latest next-response cycle, if any started and the priority has the target.
    pub next_response: Option<ClockStatus>,
    /// Next-response cycles so far, and how many of them were (or are) breached.
    pub next_response_cycles: u32,
    pub next_response_breaches: u32,
    pub resolution: Option<ClockStatus>,
    /// The next moment after `now` at which this status changes by itself (a warning or a
    /// deadline of a running clock): when the escalation worker should look again.
    pub next_change: Option<Timestamp>,
}

impl SlaStatus {
    /// Whether any clock is breached now.
    pub fn breached(&self) -> bool {
        [self.first_response, self.next_response, self.resolution]
            .iter()
            .flatten()
            .any(|c| c.state == ClockState::Breached)
    }
}

/// A ticket's SLA clocks as of `now`, replayed from its events. See the module documentation for
/// the rules. Fails on invalid targets, a history without exactly one leading `created` event, or
/// a deadline beyond the calendar's search limit.
pub fn evaluate(
    events: &[TicketEvent],
    targets: &SlaTargets,
    calendar: &BusinessCalendar,
    now: Timestamp,
) -> Result<SlaStatus, DeskError> {
    targets.validate()?;
    let mut order: Vec<&TicketEvent> = events.iter().filter(|e| e.at <= now).collect();
    // Stable: events at the same instant keep their list (append) order.
    order.sort_by_key(|e| e.at);
    let Some((first, rest)) = order.split_first() else {
        return Err(DeskError::InvalidHistory(
            "no `created` event at or before now",
        ));
    };
    let EventKind::Created { priority } = first.kind else {
        return Err(DeskError::InvalidHistory(
            "the first event must be `created`",
        ));
    };
    let mut tl = Timeline::new(first.at, priority);
    for e in rest {
        tl.apply(e)?;
    }
    if let Some(from) = tl.pause_from {
        tl.pauses.push(Interval {
            start: from,
            end: now,
        });
    }

    let ctx = Ctx {
        calendar,
        pauses: &tl.pauses,
        paused_now: tl.pause_from.is_some(),
        now,
        warn_percent: targets.warn_percent,
    };
    let target = |run: &Run, pick: fn(&PriorityTargets) -> Option<Target>| {
        let p = run.stop.map_or(tl.priority(now), |s| tl.priority(s));
        pick(targets.for_priority(p))
    };
    let clock = |run: &Run, pick: fn(&PriorityTargets) -> Option<Target>| {
        target(run, pick).map(|t| ctx.status(run, t)).transpose()
    };

    let first_response = clock(&tl.first_response, |t| t.first_response)?;
    let resolution = clock(&tl.resolution, |t| t.resolution)?;
    let mut next_response = None;
    let mut breaches = 0;
    for run in &tl.cycles {
        if let Some(status) = clock(run, |t| t.next_response)? {
            if status.state == ClockState::Breached {
                breaches += 1;
            }
            next_response = Some(status);
        }
    }
    let next_change = [first_response, next_response, resolution]
        .iter()
        .flatten()
        .filter(|c| c.stopped_at.is_none() && !c.paused)
        .flat_map(|c| [c.warn_at, c.deadline])
        .flatten()
        .filter(|&t| t > now)
        .min();
    Ok(SlaStatus {
        priority: tl.priority(now),
        waiting_on_customer: tl.waiting,
        resolved: tl.resolved,
        first_response,
        next_response,
        next_response_cycles: u32::try_from(tl.cycles.len()).unwrap_or(u32::MAX),
        next_response_breaches: breaches,
        resolution,
        next_change,
    })
}

/// One run of a clock.
#[derive(Clone, Copy, Debug)]
struct Run {
    start: Timestamp,
    stop: Option<Timestamp>,
}

/// The replayed history: where each clock ran and when everything was paused.
struct Timeline {
    priorities: Vec<(Timestamp, Priority)>,
    /// Closed pauses (waiting on the customer, or resolved), in order.
    pauses: Vec<Interval>,
    pause_from: Option<Timestamp>,
    waiting: bool,
    resolved: bool,
    first_response: Run,
    cycles: Vec<Run>,
    resolution: Run,
}

impl Timeline {
    fn new(created: Timestamp, priority: Priority) -> Self {
        let run = Run {
            start: created,
            stop: None,
        };
        Self {
            priorities: vec![(created, priority)],
            pauses: Vec::new(),
            pause_from: None,
            waiting: false,
            resolved: false,
            first_response: run,
            cycles: Vec::new(),
            resolution: run,
        }
    }

    fn priority(&self, at: Timestamp) -> Priority {
        self.priorities
            .iter()
            .rev()
            .find(|(t, _)| *t <= at)
            .map_or(self.priorities[0].1, |(_, p)| *p)
    }

    fn open_cycle(&mut self) -> Option<&mut Run> {
        self.cycles.last_mut().filter(|r| r.stop.is_none())
    }

    fn start_cycle(&mut self, at: Timestamp) {
        if self.first_response.stop.is_some() && self.open_cycle().is_none() {
            self.cycles.push(Run {
                start: at,
                stop: None,
            });
        }
    }

    fn apply(&mut self, e: &TicketEvent) -> Result<(), DeskError> {
        let was_paused = self.waiting || self.resolved;
        match e.kind {
            EventKind::Created { .. } => {
                return Err(DeskError::InvalidHistory("more than one `created` event"));
            }
            EventKind::StaffReply => {
                if self.first_response.stop.is_none() {
                    self.first_response.stop = Some(e.at);
                } else if let Some(run) = self.open_cycle() {
                    run.stop = Some(e.at);
                }
            }
            EventKind::CustomerReply => {
                if !self.resolved {
                    self.waiting = false;
                    self.start_cycle(e.at);
                }
            }
            EventKind::WaitingOnCustomer => self.waiting = !self.resolved,
            EventKind::Resumed => self.waiting = false,
            EventKind::Resolved => {
                if !self.resolved {
                    self.resolved = true;
                    self.waiting = false;
                    self.first_response.stop.get_or_insert(e.at);
                    if let Some(run) = self.open_cycle() {
                        run.stop = Some(e.at);
                    }
                    self.resolution.stop = Some(e.at);
                }
            }
            EventKind::Reopened => {
                if self.resolved {
                    self.resolved = false;
                    self.resolution.stop = None;
                    self.start_cycle(e.at);
                }
            }
            EventKind::PriorityChanged { priority } => self.priorities.push((e.at, priority)),
        }
        let paused = self.waiting || self.resolved;
        match (was_paused, paused) {
            (false, true) => self.pause_from = Some(e.at),
            (true, false) => {
                if let Some(start) = self.pause_from.take() {
                    self.pauses.push(Interval { start, end: e.at });
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// What every clock is judged against.
struct Ctx<'a> {
    calendar: &'a BusinessCalendar,
    /// Every pause up to now, in order, the last possibly ending at `now`.
    pauses: &'a [Interval],
    /// Whether the ticket is paused at `now` (the last pause is still open).
    paused_now: bool,
    now: Timestamp,
    warn_percent: u8,
}

impl Ctx<'_> {
    fn measure(&self, basis: Basis, iv: Interval) -> Result<SignedDuration, DeskError> {
        match basis {
            Basis::Business => self.calendar.business_between(iv.start, iv.end),
            Basis::Calendar => Ok(iv.duration()),
        }
    }

    fn advance(
        &self,
        basis: Basis,
        from: Timestamp,
        by: SignedDuration,
    ) -> Result<Timestamp, DeskError> {
        match basis {
            Basis::Business => self.calendar.add_business(from, by),
            Basis::Calendar => from
                .checked_add(by)
                .map_err(|_| DeskError::OutOfRange(from)),
        }
    }

    /// The run's unpaused periods up to its stop or now.
    fn active(&self, run: &Run) -> Vec<Interval> {
        let end = run.stop.unwrap_or(self.now).max(run.start);
        let mut out = Vec::new();
        let mut cursor = run.start;
        for p in self.pauses {
            if p.end <= cursor {
                continue;
            }
            if p.start >= end {
                break;
            }
            if p.start > cursor {
                out.push(Interval {
                    start: cursor,
                    end: p.start,
                });
            }
            cursor = p.end;
        }
        if cursor < end {
            out.push(Interval { start: cursor, end });
        }
        out
    }

    /// The instant `budget` of the target was used up within `periods` (then `Some(Ok)`), or the
    /// time used in all of them (then `Err`, the shortfall being budget minus it).
    fn crossing(
        &self,
        basis: Basis,
        periods: &[Interval],
        budget: SignedDuration,
    ) -> Result<Result<Timestamp, SignedDuration>, DeskError> {
        let mut used = SignedDuration::ZERO;
        for &p in periods {
            let len = self.measure(basis, p)?;
            if used + len >= budget {
                return Ok(Ok(self.advance(basis, p.start, budget - used)?));
            }
            used += len;
        }
        Ok(Err(used))
    }

    fn status(&self, run: &Run, target: Target) -> Result<ClockStatus, DeskError> {
        let basis = target.basis;
        let budget = target.duration();
        let warn_budget = budget * i32::from(self.warn_percent) / 100;
        let periods = self.active(run);
        let mut elapsed = SignedDuration::ZERO;
        for &p in &periods {
            elapsed += self.measure(basis, p)?;
        }
        let stopped = run.stop.is_some();
        let paused = !stopped && self.paused_now;
        let counting = !stopped && !paused;

        // Where the target (or its warning share) runs out: within the periods so far, or, for
        // a clock still counting, ahead of now.
        let find = |share: SignedDuration| -> Result<Option<Timestamp>, DeskError> {
            match self.crossing(basis, &periods, share)? {
                Ok(at) => Ok(Some(at)),
                Err(used) if counting => Ok(Some(self.advance(basis, self.now, share - used)?)),
                Err(_) => Ok(None),
            }
        };
        let deadline = find(budget)?;
        let warn_at = find(warn_budget)?;
        let breached = match (run.stop, deadline) {
            (Some(stop), Some(d)) => d < stop,
            (None, Some(d)) => d <= self.now,
            (_, None) => false,
        };
        let state = if breached {
            ClockState::Breached
        } else if stopped {
            ClockState::Met
        } else if paused {
            ClockState::Paused
        } else {
            ClockState::Running
        };
        let deadline = if stopped && !breached { None } else { deadline };
        let warn_at = if stopped { None } else { warn_at };
        Ok(ClockStatus {
            state,
            target,
            started_at: run.start,
            stopped_at: run.stop,
            paused,
            elapsed,
            remaining: budget - elapsed,
            deadline,
            warn_at,
            warning: !stopped && !breached && warn_at.is_some_and(|w| w <= self.now),
        })
    }
}
