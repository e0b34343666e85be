//! Desk operations shared by the API, the UI, the binary's worker and `palisade billing export`:
//! the desk settings ([`DeskConfig`]: the at-risk threshold, the automatic-escalation limit, the
//! billing rates per contract tier), a ticket's SLA as a short verdict ([`SlaSummary`]: which
//! clocks are at risk, which breached, when the next one is due), the escalation sweep the server
//! runs in the background ([`sweep`]), and the monthly billing CSV ([`billing_csv`]).
//!
//! The sweep reads `AppState::clock`, so tests drive it with the manual clock and call it
//! directly; nothing here sleeps.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;

use jiff::Timestamp;
use palisade_core::tenant::{Client, SlaTier};
use palisade_core::{ClientId, TicketId, UserId};
use palisade_desk::billing::{Month, Priced, Rates, WorkLog, price_work};
use palisade_desk::sla::{ClockState, ClockStatus, SlaStatus};
use palisade_desk::ticket::{
    Actor, Ticket, TimelineEvent, TimelineKind, auto_escalation, default_targets, sla_events,
    sla_stamp,
};
use palisade_desk::{BusinessCalendar, DeskError, HolidayCalendar};
use palisade_store::{Store, StoreError, TicketQuery};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// The desk's settings (the binary fills them from `desk_*` and `[billing.*]` configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeskConfig {
    /// A running SLA clock is "at risk" once this percentage of its target is used (1–99).
    /// Default [`palisade_desk::ticket::DEFAULT_AT_RISK_PERCENT`].
    pub at_risk_percent: u8,
    /// A critical ticket with no public staff reply this long (wall-clock time) after it became
    /// critical goes to the second line by itself. Default 15 minutes: half of the 30-minute
    /// critical first-response target, so the second line still has time to answer in time.
    pub auto_escalate_after: Duration,
    /// Hourly rates per contract tier.
    pub rates: TierRates,
}

/// Hourly rates for each contract tier.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TierRates {
    pub basic: Rates,
    pub standard: Rates,
    pub premium: Rates,
}

impl Default for TierRates {
    /// Example prices in pounds: set your own (`[billing.standard]` and so on). Out of hours is
    /// charged at about 1.5 to 1.7 times the in-hours rate.
    fn default() -> Self {
        let r = |in_hours, out_of_hours| Rates {
            currency: "GBP".into(),
            in_hours,
            out_of_hours,
        };
        Self {
            basic: r(7_500, 12_500),
            standard: r(9_000, 15_000),
            premium: r(12_000, 18_000),
        }
    }
}

impl TierRates {
    pub fn for_tier(&self, tier: SlaTier) -> &Rates {
        match tier {
            SlaTier::Basic => &self.basic,
            SlaTier::Standard => &self.standard,
            SlaTier::Premium => &self.premium,
        }
    }

    /// Every tier's rates are valid; the error names `billing.TIER.FIELD`.
    pub fn validate(&self) -> Result<(), String> {
        for (tier, r) in [
            ("basic", &self.basic),
            ("standard", &self.standard),
            ("premium", &self.premium),
        ] {
            if let Err(DeskError::InvalidTarget { field, reason }) = r.validate() {
                return Err(format!("billing.{tier}.{field}: {reason}"));
            }
        }
        Ok(())
    }
}

impl Default for DeskConfig {
    fn default() -> Self {
        Self {
            at_risk_percent: palisade_desk::ticket::DEFAULT_AT_RISK_PERCENT,
            auto_escalate_after: Duration::from_secs(15 * 60),
            rates: TierRates::default(),
        }
    }
}

impl DeskConfig {
    /// Checks the settings; the error names the configuration key.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=99).contains(&self.at_risk_percent) {
            return Err("desk_at_risk_percent must be between 1 and 99".into());
        }
        let mins = self.auto_escalate_after.as_secs() / 60;
        if !(1..=24 * 60).contains(&mins) {
            return Err("desk_auto_escalate_minutes must be between 1 and 1440".into());
        }
        self.rates.validate()
    }
}

/// The client's business calendar: support hours in its zone minus its holidays.
pub(crate) fn calendar_of(client: &Client) -> Result<BusinessCalendar, DeskError> {
    BusinessCalendar::from_contract(&client.contract, HolidayCalendar::shared())
}

/// A ticket's SLA as of `now`, with the configured at-risk threshold as the warning share.
pub(crate) fn evaluate(
    cfg: &DeskConfig,
    client: &Client,
    events: &[TimelineEvent],
    now: Timestamp,
) -> Result<SlaStatus, DeskError> {
    let mut targets = default_targets();
    targets.warn_percent = cfg.at_risk_percent;
    palisade_desk::sla::evaluate(&sla_events(events), &targets, &calendar_of(client)?, now)
}

/// A ticket's SLA in one line: what the queue shows and sorts by.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct SlaSummary {
    /// `breached` if any clock is, else `at-risk` if any running clock has used the at-risk share
    /// of its target, else `ok`; `none` when nothing is tracked (resolved, or no usable calendar).
    pub status: &'static str,
    /// The clocks (`first-response`, `next-response`, `resolution`) at risk.
    pub at_risk: Vec<&'static str>,
    /// The clocks breached (running past their deadline, or stopped late).
    pub breached: Vec<&'static str>,
    /// The earliest deadline of a clock still counting (in the past when breached): the queue's
    /// order. Paused and stopped clocks have none.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_due: Option<Timestamp>,
    /// Which clock `next_due` belongs to.
    pub next_due_clock: Option<&'static str>,
}

impl SlaSummary {
    pub fn of(status: &SlaStatus) -> Self {
        let clocks: [(&'static str, Option<ClockStatus>); 3] = [
            ("first-response", status.first_response),
            ("next-response", status.next_response),
            ("resolution", status.resolution),
        ];
        let mut out = SlaSummary::default();
        for (name, clock) in clocks {
            let Some(c) = clock else { continue };
            if c.state == ClockState::Breached {
                out.breached.push(name);
            } else if c.warning {
                out.at_risk.push(name);
            }
            if c.stopped_at.is_none()
                && !c.paused
                && let Some(d) = c.deadline
                && out.next_due.is_none_or(|n| d < n)
            {
                out.next_due = Some(d);
                out.next_due_clock = Some(name);
            }
        }
        out.status = if !out.breached.is_empty() {
            "breached"
        } else if !out.at_risk.is_empty() {
            "at-risk"
        } else if out.next_due.is_some() || status.waiting_on_customer {
            "ok"
        } else {
            "none"
        };
        out
    }
}

/// What one sweep did and saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Open tickets looked at.
    pub open: usize,
    pub at_risk: usize,
    pub breached: usize,
    /// Tickets the sweep escalated to the second line.
    pub escalated: Vec<TicketId>,
    /// Tickets whose stored SLA stamp the sweep put right (taken under an older contract or
    /// at-risk share, or from before stamps existed).
    pub restamped: usize,
}

/// Most open tickets one sweep looks at: beyond this the queue is a backlog no escalation rule
/// fixes, and the sweep's cost stays bounded (documented in README, Limits).
pub const SWEEP_LIMIT: usize = 10_000;

/// Looks at every open ticket as of the app's clock: escalates critical tickets left unanswered
/// past `auto_escalate_after` (a system timeline event with the reason, and an audit event),
/// counts the at-risk and breached ones for the metrics, and repairs any SLA stamp that no longer
/// matches the ticket's timeline under its client's contract. A ticket someone changed meanwhile
/// is left for the next sweep. Returns what it did; the caller logs store failures and tries again.
pub async fn sweep(s: &AppState, cfg: &DeskConfig) -> Result<SweepReport, StoreError> {
    let now = s.clock.now();
    let after = jiff::SignedDuration::try_from(cfg.auto_escalate_after).unwrap_or_default();
    let mut report = SweepReport::default();
    let mut clients: HashMap<ClientId, Client> = HashMap::new();
    let mut cursor = None;
    loop {
        let page = s
            .store
            .list_tickets(&TicketQuery {
                open_only: true,
                after: cursor.take(),
                limit: palisade_store::MAX_PAGE_SIZE,
                ..TicketQuery::default()
            })
            .await?;
        for ticket in &page.items {
            report.open += 1;
            let events = s.store.ticket_events(ticket.id).await?;
            if let Some(reason) = auto_escalation(ticket, &events, now, after)
                && escalate_by_system(s, ticket, reason).await?
            {
                report.escalated.push(ticket.id);
            }
            if let Entry::Vacant(slot) = clients.entry(ticket.client_id) {
                slot.insert(s.store.get_client(ticket.client_id).await?);
            }
            let Some(client) = clients.get(&ticket.client_id) else {
                continue;
            };
            // One replay: the stamp's verdict at any later moment is the replay's (a property
            // test in palisade-desk holds the two equal).
            let stamp = sla_stamp(&client.contract, &events, cfg.at_risk_percent);
            match stamp.verdict(now) {
                "breached" => report.breached += 1,
                "at-risk" => report.at_risk += 1,
                _ => {}
            }
            if stamp != ticket.sla
                && s.store
                    .set_ticket_sla(ticket.id, ticket.version, &stamp)
                    .await?
            {
                report.restamped += 1;
            }
        }
        match page.next_after {
            Some(next) if report.open < SWEEP_LIMIT => cursor = Some(next),
            _ => break,
        }
    }
    if report.restamped > 0 {
        tracing::info!(
            tickets = report.restamped,
            "Put right tickets' stored SLA stamps."
        );
    }
    s.telemetry.desk_sweep(&report);
    Ok(report)
}

/// Appends the system's escalation and audits it. `false` when the ticket changed meanwhile.
async fn escalate_by_system(
    s: &AppState,
    ticket: &Ticket,
    reason: String,
) -> Result<bool, StoreError> {
    let now = s.clock.now();
    let kind = TimelineKind::Escalated {
        reason: reason.clone(),
    };
    let Ok((next, event)) = ticket.apply(kind, Actor::System, now) else {
        return Ok(false);
    };
    match s.store.append_ticket_event(&next, &event).await {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => return Ok(false),
        Err(e) => return Err(e),
    }
    tracing::info!(ticket = %ticket.id, number = ticket.number, "Escalated an unanswered critical ticket.");
    let audit = palisade_audit::Event::new(
        now.as_microsecond(),
        palisade_audit::EventKind::System,
        "ticket.auto-escalate",
    )
    .actor("system")
    .client(Some(ticket.client_id.to_string()))
    .object(format!("ticket:{}", ticket.id))
    .data(&serde_json::json!({
        "number": ticket.number,
        "line": {"before": ticket.line.as_str(), "after": next.line.as_str()},
        "reason": reason,
    }));
    if let Err(e) = s.audit.record(audit).await {
        tracing::error!(error = %e, ticket = %ticket.id, "The automatic escalation is not in the audit log.");
    }
    Ok(true)
}

/// Why a billing export failed.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The client's contract gives no usable calendar (unknown zone or holiday calendar).
    #[error("the client's support hours cannot be used: {0}")]
    Calendar(#[from] DeskError),
}

/// One priced work log, as the API and the export show it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PricedWork {
    pub log: WorkLog,
    pub priced: Priced,
}

/// Prices logs with the client's calendar and tier rates.
pub(crate) fn price_logs(
    cfg: &DeskConfig,
    client: &Client,
    logs: Vec<WorkLog>,
) -> Result<Vec<PricedWork>, DeskError> {
    let cal = calendar_of(client)?;
    let rates = cfg.rates.for_tier(client.contract.sla_tier);
    logs.into_iter()
        .map(|log| {
            let (_, priced) = price_work(&cal, log.start, log.end, rates)?;
            Ok(PricedWork { log, priced })
        })
        .collect()
}

/// The CSV header of the billing export.
pub const BILLING_COLUMNS: &str = "row,month,client,ticket,subject,out_of_hours_ticket,work_log,\
staff,start_utc,end_utc,in_hours_seconds,out_of_hours_seconds,in_hours_amount,\
out_of_hours_amount,amount,currency,note";

/// A client's work in `month` (by start, in the client's zone) as CSV: one `work` row per work
/// log and a final `total` row. Amounts are integer minor units of the currency column. Text
/// cells that a spreadsheet would run as a formula get a leading apostrophe.
pub async fn billing_csv(
    store: &dyn Store,
    cfg: &DeskConfig,
    client: ClientId,
    month: Month,
) -> Result<String, BillingError> {
    let client = store.get_client(client).await?;
    let cal = calendar_of(&client)?;
    let (from, to) = month.range(cal.time_zone())?;
    let logs = store.client_work_logs(client.id, from, to).await?;
    let priced = price_logs(cfg, &client, logs)?;
    let mut tickets: HashMap<TicketId, Ticket> = HashMap::new();
    let mut people: HashMap<UserId, String> = HashMap::new();
    let rates = cfg.rates.for_tier(client.contract.sla_tier);
    let mut out = String::from(BILLING_COLUMNS);
    out.push('\n');
    let mut totals = [0i64; 5];
    for p in &priced {
        if let Entry::Vacant(slot) = tickets.entry(p.log.ticket_id) {
            slot.insert(store.get_ticket(p.log.ticket_id).await?);
        }
        if let Entry::Vacant(slot) = people.entry(p.log.user_id) {
            slot.insert(match store.get_user(p.log.user_id).await {
                Ok(u) => u.display_name,
                Err(StoreError::NotFound) => "a former user".into(),
                Err(e) => return Err(e.into()),
            });
        }
        let ticket = &tickets[&p.log.ticket_id];
        let q = &p.priced;
        for (t, v) in totals.iter_mut().zip([
            q.in_hours_seconds,
            q.out_of_hours_seconds,
            q.in_hours_amount,
            q.out_of_hours_amount,
            q.amount,
        ]) {
            *t += v;
        }
        let cells = [
            "work".to_owned(),
            month.to_string(),
            client.name.clone(),
            ticket.number.to_string(),
            ticket.subject.clone(),
            ticket.out_of_hours.to_string(),
            p.log.id.to_string(),
            people[&p.log.user_id].clone(),
            p.log.start.to_string(),
            p.log.end.to_string(),
            q.in_hours_seconds.to_string(),
            q.out_of_hours_seconds.to_string(),
            q.in_hours_amount.to_string(),
            q.out_of_hours_amount.to_string(),
            q.amount.to_string(),
            q.currency.clone(),
            p.log.note.clone(),
        ];
        push_row(&mut out, &cells);
    }
    let [ins, outs, in_amount, out_amount, amount] = totals;
    let cells = [
        "total".to_owned(),
        month.to_string(),
        client.name.clone(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        ins.to_string(),
        outs.to_string(),
        in_amount.to_string(),
        out_amount.to_string(),
        amount.to_string(),
        rates.currency.clone(),
        String::new(),
    ];
    push_row(&mut out, &cells);
    Ok(out)
}

fn push_row(out: &mut String, cells: &[String]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&csv_cell(c));
    }
    out.push('\n');
}

/// RFC 4180 quoting, plus an apostrophe before a leading `=`, `+`, `-`, `@`, tab or carriage
/// return so a spreadsheet shows client-typed text instead of running it (CSV injection). Amounts
/// and durations are never negative, so no number is changed by it.
fn csv_cell(v: &str) -> String {
    let guarded = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
    }

    #[test]
    fn settings_are_checked_with_the_key_named() {
        DeskConfig::default()
            .validate()
            .expect("defaults are valid");
        let bad = DeskConfig {
            at_risk_percent: 100,
            ..DeskConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("desk_at_risk_percent"));
        let mut rates = TierRates::default();
        rates.premium.out_of_hours = -1;
        let bad = DeskConfig {
            rates,
            ..DeskConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .contains("billing.premium.out_of_hours")
        );
    }
}
