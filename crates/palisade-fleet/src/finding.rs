//! What a finding is and how its state may change. A finding's identity is (environment, package
//! key, installed version, alias group) and nothing else: an advisory's title, severity or score
//! are attributes that may change without making a "new" finding (the trap DefectDojo's
//! title-and-description hashes fell into). Its state changes only through the transitions here,
//! and every change is a [`FindingEvent`] with an actor and a reason; nothing is deleted.

use jiff::Timestamp;
use palisade_core::tenant::EnvironmentKind;
use palisade_core::{ClientId, EnvironmentId, FindingEventId, FindingId, SiteId, UserId};
use palisade_vulns::{PackageKey, SeverityLevel};
use serde::{Deserialize, Serialize};

use crate::priority::Reason;

/// Where a finding is in its life.
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
pub enum FindingState {
    /// Detected, not yet looked at.
    New,
    /// Triaged: the environment is affected and must be patched.
    Affected,
    /// Triaged: not affected, with a VEX justification.
    NotAffected,
    /// Triaged: the match itself is wrong.
    FalsePositive,
    /// Triaged: the risk is accepted until a date, after which the finding reopens.
    RiskAccepted,
    /// Patched, by the team's word or a new inventory; waits for an inventory to confirm.
    Fixed,
    /// An inventory taken after the fix shows a version that is not affected.
    Verified,
    /// The advisory was withdrawn or corrected, or the package is gone; kept with its history.
    Inactive,
}

impl FindingState {
    pub const ALL: [FindingState; 8] = [
        FindingState::New,
        FindingState::Affected,
        FindingState::NotAffected,
        FindingState::FalsePositive,
        FindingState::RiskAccepted,
        FindingState::Fixed,
        FindingState::Verified,
        FindingState::Inactive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingState::New => "new",
            FindingState::Affected => "affected",
            FindingState::NotAffected => "not-affected",
            FindingState::FalsePositive => "false-positive",
            FindingState::RiskAccepted => "risk-accepted",
            FindingState::Fixed => "fixed",
            FindingState::Verified => "verified",
            FindingState::Inactive => "inactive",
        }
    }

    pub fn parse(s: &str) -> Option<FindingState> {
        FindingState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Waiting for the provider to act: counted in dashboards and SLA clocks.
    pub fn is_open(self) -> bool {
        matches!(self, FindingState::New | FindingState::Affected)
    }

    /// Words a customer understands.
    pub fn plain(self) -> &'static str {
        match self {
            FindingState::New => "found, being assessed",
            FindingState::Affected => "confirmed, patch planned",
            FindingState::NotAffected => "assessed: your site is not affected",
            FindingState::FalsePositive => "assessed: not a real match",
            FindingState::RiskAccepted => "risk accepted for now",
            FindingState::Fixed => "patched, awaiting confirmation",
            FindingState::Verified => "patched and confirmed",
            FindingState::Inactive => "no longer applies",
        }
    }
}

/// Why an environment is not affected, in the five justifications of CISA's VEX minimum
/// requirements (also OpenVEX's and CSAF's), so the statement can be exported as VEX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Justification {
    ComponentNotPresent,
    VulnerableCodeNotPresent,
    VulnerableCodeNotInExecutePath,
    VulnerableCodeCannotBeControlledByAdversary,
    InlineMitigationsAlreadyExist,
}

impl Justification {
    pub const ALL: [Justification; 5] = [
        Justification::ComponentNotPresent,
        Justification::VulnerableCodeNotPresent,
        Justification::VulnerableCodeNotInExecutePath,
        Justification::VulnerableCodeCannotBeControlledByAdversary,
        Justification::InlineMitigationsAlreadyExist,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Justification::ComponentNotPresent => "component_not_present",
            Justification::VulnerableCodeNotPresent => "vulnerable_code_not_present",
            Justification::VulnerableCodeNotInExecutePath => "vulnerable_code_not_in_execute_path",
            Justification::VulnerableCodeCannotBeControlledByAdversary => {
                "vulnerable_code_cannot_be_controlled_by_adversary"
            }
            Justification::InlineMitigationsAlreadyExist => "inline_mitigations_already_exist",
        }
    }

    pub fn parse(s: &str) -> Option<Justification> {
        Justification::ALL.into_iter().find(|j| j.as_str() == s)
    }

    pub fn plain(self) -> &'static str {
        match self {
            Justification::ComponentNotPresent => "the vulnerable component is not present",
            Justification::VulnerableCodeNotPresent => "the vulnerable code is not present",
            Justification::VulnerableCodeNotInExecutePath => "the vulnerable code is never run",
            Justification::VulnerableCodeCannotBeControlledByAdversary => {
                "an attacker cannot reach the vulnerable code"
            }
            Justification::InlineMitigationsAlreadyExist => "existing protections block the attack",
        }
    }
}

/// A CISA KEV listing as a finding shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KevInfo {
    pub cve: String,
    #[schema(value_type = String, format = Date)]
    pub date_added: jiff::civil::Date,
    #[schema(value_type = Option<String>, format = Date)]
    pub due_date: Option<jiff::civil::Date>,
    pub ransomware: bool,
}

/// EPSS as a finding shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EpssInfo {
    pub cve: String,
    pub score: f64,
    pub percentile: f64,
}

/// What the advisories of one alias group say about one installed (package, version): the
/// attributes of a finding, recomputed on every match.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// The group's canonical id (its lowest CVE id, else its lowest id).
    pub alias_group: String,
    /// Every id in the group, so a finding recorded under an earlier canonical id is found again
    /// when groups merge.
    pub group_ids: Vec<String>,
    /// The advisories that matched, by id.
    pub advisories: Vec<String>,
    pub title: String,
    pub severity: SeverityLevel,
    pub cvss: Option<f64>,
    pub kev: Option<KevInfo>,
    pub epss: Option<EpssInfo>,
    pub fixed_versions: Vec<String>,
    /// A malicious-package record rather than a vulnerability.
    pub malicious: bool,
}

/// A risk acceptance asked for and not yet approved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RiskRequest {
    pub by: UserId,
    #[schema(value_type = String, format = DateTime)]
    pub until: Timestamp,
    pub reason: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// One finding, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Finding {
    pub id: FindingId,
    pub client_id: ClientId,
    pub site_id: SiteId,
    pub environment_id: EnvironmentId,
    pub environment_kind: EnvironmentKind,
    #[schema(value_type = String)]
    pub package: PackageKey,
    pub version: String,
    pub dev: bool,
    pub alias_group: String,
    pub advisories: Vec<String>,
    pub aliases: Vec<String>,
    pub title: String,
    #[schema(value_type = String)]
    pub severity: SeverityLevel,
    pub cvss: Option<f64>,
    pub kev: Option<KevInfo>,
    pub epss: Option<EpssInfo>,
    pub fixed_versions: Vec<String>,
    pub malicious: bool,
    pub state: FindingState,
    /// The state to return to when an inactive finding becomes active again.
    pub state_before_inactive: Option<FindingState>,
    pub justification: Option<Justification>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub risk_accepted_until: Option<Timestamp>,
    pub risk_request: Option<RiskRequest>,
    /// Higher is more urgent; lists sort by it.
    pub priority: i32,
    pub reasons: Vec<Reason>,
    #[schema(value_type = String, format = DateTime)]
    pub detected_at: Timestamp,
    /// When a fixed version was first known.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub fix_available_at: Option<Timestamp>,
    /// The remediation deadline, while the finding is open.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub fixed_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// What happened to a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Detected,
    Triaged,
    RiskRequested,
    RiskApproved,
    RiskExpired,
    Fixed,
    Verified,
    Reopened,
    Inactivated,
    Reactivated,
}

impl EventKind {
    pub const ALL: [EventKind; 10] = [
        EventKind::Detected,
        EventKind::Triaged,
        EventKind::RiskRequested,
        EventKind::RiskApproved,
        EventKind::RiskExpired,
        EventKind::Fixed,
        EventKind::Verified,
        EventKind::Reopened,
        EventKind::Inactivated,
        EventKind::Reactivated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Detected => "detected",
            EventKind::Triaged => "triaged",
            EventKind::RiskRequested => "risk-requested",
            EventKind::RiskApproved => "risk-approved",
            EventKind::RiskExpired => "risk-expired",
            EventKind::Fixed => "fixed",
            EventKind::Verified => "verified",
            EventKind::Reopened => "reopened",
            EventKind::Inactivated => "inactivated",
            EventKind::Reactivated => "reactivated",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Events a customer or the security team is told about; the rest is bookkeeping.
    pub fn notifies(self) -> bool {
        matches!(
            self,
            EventKind::Detected
                | EventKind::Reopened
                | EventKind::Reactivated
                | EventKind::RiskExpired
        )
    }
}

/// One entry of a finding's history. `actor` is `None` for Palisade itself (a match, an
/// inventory, an expiry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FindingEvent {
    pub id: FindingEventId,
    pub finding_id: FindingId,
    pub client_id: ClientId,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: Option<UserId>,
    pub kind: EventKind,
    pub from: Option<FindingState>,
    pub to: FindingState,
    pub reason: String,
}

impl FindingEvent {
    pub fn new(
        f: &Finding,
        at: Timestamp,
        actor: Option<UserId>,
        kind: EventKind,
        from: Option<FindingState>,
        reason: impl Into<String>,
    ) -> FindingEvent {
        FindingEvent {
            id: FindingEventId::new(),
            finding_id: f.id,
            client_id: f.client_id,
            at,
            actor,
            kind,
            from,
            to: f.state,
            reason: reason.into(),
        }
    }
}

/// A decision a person takes on a finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "decision", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Triage {
    /// Confirmed: the environment is affected.
    Affected,
    /// Not affected, with its VEX justification.
    NotAffected {
        justification: Justification,
    },
    FalsePositive,
    /// Asks for the risk to be accepted until a date; someone else must approve it.
    RequestRiskAcceptance {
        #[schema(value_type = String, format = DateTime)]
        until: Timestamp,
    },
    /// Approves the pending request (separation of duties: not by its requester).
    ApproveRiskAcceptance,
    /// The patch is applied; the next inventory will confirm it.
    Fixed,
    /// Back to the triage queue.
    Reopen,
}

/// Why a decision was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("a finding that is {from} cannot be {what}")]
    NotAllowed {
        from: &'static str,
        what: &'static str,
    },
    #[error("a reason is required")]
    ReasonRequired,
    #[error("there is no pending risk acceptance to approve")]
    NoPendingRequest,
    #[error("a risk acceptance must be approved by someone other than its requester")]
    SameApprover,
    #[error("the acceptance date must be in the future")]
    UntilInPast,
}

impl Finding {
    /// Applies a person's decision, returning the event that records it. `reason` is required:
    /// a triage without one is not evidence of anything.
    pub fn triage(
        &mut self,
        t: &Triage,
        actor: UserId,
        reason: &str,
        now: Timestamp,
    ) -> Result<FindingEvent, TransitionError> {
        use FindingState::*;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(TransitionError::ReasonRequired);
        }
        let from = self.state;
        let refuse = |what| TransitionError::NotAllowed {
            from: from.as_str(),
            what,
        };
        let triageable = matches!(
            from,
            New | Affected | NotAffected | FalsePositive | RiskAccepted
        );
        let (to, kind) = match t {
            Triage::Affected if triageable => (Affected, EventKind::Triaged),
            Triage::NotAffected { .. } if triageable => (NotAffected, EventKind::Triaged),
            Triage::FalsePositive if triageable => (FalsePositive, EventKind::Triaged),
            Triage::RequestRiskAcceptance { until } if triageable => {
                if *until <= now {
                    return Err(TransitionError::UntilInPast);
                }
                self.risk_request = Some(RiskRequest {
                    by: actor,
                    until: *until,
                    reason: reason.to_owned(),
                    at: now,
                });
                self.updated_at = now;
                return Ok(FindingEvent::new(
                    self,
                    now,
                    Some(actor),
                    EventKind::RiskRequested,
                    Some(from),
                    format!("{reason} (until {until})"),
                ));
            }
            Triage::ApproveRiskAcceptance if triageable => {
                let Some(req) = &self.risk_request else {
                    return Err(TransitionError::NoPendingRequest);
                };
                if req.by == actor {
                    return Err(TransitionError::SameApprover);
                }
                if req.until <= now {
                    return Err(TransitionError::UntilInPast);
                }
                self.risk_accepted_until = Some(req.until);
                (RiskAccepted, EventKind::RiskApproved)
            }
            Triage::Fixed if matches!(from, New | Affected) => (Fixed, EventKind::Fixed),
            Triage::Reopen
                if matches!(from, NotAffected | FalsePositive | RiskAccepted | Fixed) =>
            {
                (New, EventKind::Reopened)
            }
            Triage::Affected
            | Triage::NotAffected { .. }
            | Triage::FalsePositive
            | Triage::RequestRiskAcceptance { .. }
            | Triage::ApproveRiskAcceptance => return Err(refuse("triaged")),
            Triage::Fixed => return Err(refuse("marked fixed")),
            Triage::Reopen => return Err(refuse("reopened")),
        };
        self.state = to;
        self.justification = match t {
            Triage::NotAffected { justification } => Some(*justification),
            _ => None,
        };
        if to != RiskAccepted {
            self.risk_accepted_until = None;
        }
        self.risk_request = None;
        self.fixed_at = (to == Fixed).then_some(now);
        self.updated_at = now;
        let reason = match t {
            Triage::NotAffected { justification } => {
                format!("{reason} (justification: {})", justification.as_str())
            }
            _ => reason.to_owned(),
        };
        Ok(FindingEvent::new(
            self,
            now,
            Some(actor),
            kind,
            Some(from),
            reason,
        ))
    }

    /// Reopens a risk acceptance whose date has passed; `None` when it has not.
    pub fn expire_risk(&mut self, now: Timestamp) -> Option<FindingEvent> {
        let until = self.risk_accepted_until?;
        if self.state != FindingState::RiskAccepted || until > now {
            return None;
        }
        self.state = FindingState::New;
        self.risk_accepted_until = None;
        self.updated_at = now;
        Some(FindingEvent::new(
            self,
            now,
            None,
            EventKind::RiskExpired,
            Some(FindingState::RiskAccepted),
            format!("the risk acceptance ended on {until}"),
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use palisade_vulns::Ecosystem;

    pub(crate) fn sample(state: FindingState) -> Finding {
        Finding {
            id: FindingId::new(),
            client_id: ClientId::new(),
            site_id: SiteId::new(),
            environment_id: EnvironmentId::new(),
            environment_kind: EnvironmentKind::Live,
            package: PackageKey::new(Ecosystem::Packagist, "", "twig/twig"),
            version: "3.4.0".into(),
            dev: false,
            alias_group: "CVE-2022-39261".into(),
            advisories: vec!["GHSA-52m2-vc4m-jj33".into()],
            aliases: vec!["CVE-2022-39261".into()],
            title: "Twig may load a template outside a configured directory".into(),
            severity: SeverityLevel::High,
            cvss: Some(7.5),
            kev: None,
            epss: None,
            fixed_versions: vec!["3.4.3".into()],
            malicious: false,
            state,
            state_before_inactive: None,
            justification: None,
            risk_accepted_until: None,
            risk_request: None,
            priority: 0,
            reasons: Vec::new(),
            detected_at: Timestamp::UNIX_EPOCH,
            fix_available_at: None,
            due_at: None,
            fixed_at: None,
            updated_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn triage_records_who_why_and_the_justification() {
        let mut f = sample(FindingState::New);
        let who = UserId::new();
        let e = f
            .triage(
                &Triage::NotAffected {
                    justification: Justification::VulnerableCodeNotInExecutePath,
                },
                who,
                "the site never renders user templates",
                t("2026-01-01T00:00:00Z"),
            )
            .unwrap();
        assert_eq!(f.state, FindingState::NotAffected);
        assert_eq!(
            f.justification,
            Some(Justification::VulnerableCodeNotInExecutePath)
        );
        assert_eq!(e.actor, Some(who));
        assert_eq!(e.from, Some(FindingState::New));
        assert_eq!(e.to, FindingState::NotAffected);
        assert!(e.reason.contains("vulnerable_code_not_in_execute_path"));
    }

    #[test]
    fn a_reason_is_required() {
        let mut f = sample(FindingState::New);
        assert_eq!(
            f.triage(
                &Triage::Affected,
                UserId::new(),
                "  ",
                Timestamp::UNIX_EPOCH
            ),
            Err(TransitionError::ReasonRequired)
        );
        assert_eq!(f.state, FindingState::New);
    }

    #[test]
    fn risk_acceptance_needs_a_second_person_and_reopens_when_it_ends() {
        let mut f = sample(FindingState::Affected);
        let (alice, bob) = (UserId::new(), UserId::new());
        let now = t("2026-01-01T00:00:00Z");
        let until = t("2026-02-01T00:00:00Z");
        let e = f
            .triage(
                &Triage::RequestRiskAcceptance { until },
                alice,
                "vendor patch due next month",
                now,
            )
            .unwrap();
        assert_eq!(e.kind, EventKind::RiskRequested);
        assert_eq!(
            f.state,
            FindingState::Affected,
            "a request alone changes nothing"
        );
        assert_eq!(
            f.triage(&Triage::ApproveRiskAcceptance, alice, "ok", now),
            Err(TransitionError::SameApprover)
        );
        f.triage(&Triage::ApproveRiskAcceptance, bob, "agreed", now)
            .unwrap();
        assert_eq!(f.state, FindingState::RiskAccepted);
        assert_eq!(f.risk_accepted_until, Some(until));
        assert!(f.expire_risk(t("2026-01-31T23:59:59Z")).is_none());
        let e = f.expire_risk(until).unwrap();
        assert_eq!((e.kind, e.to), (EventKind::RiskExpired, FindingState::New));
        assert!(f.state.is_open());
    }

    #[test]
    fn closed_findings_refuse_triage() {
        for state in [FindingState::Verified, FindingState::Inactive] {
            let mut f = sample(state);
            assert!(
                f.triage(&Triage::Affected, UserId::new(), "x", Timestamp::UNIX_EPOCH)
                    .is_err()
            );
            assert!(
                f.triage(&Triage::Reopen, UserId::new(), "x", Timestamp::UNIX_EPOCH)
                    .is_err()
            );
        }
        let mut f = sample(FindingState::New);
        assert!(
            f.triage(&Triage::Reopen, UserId::new(), "x", Timestamp::UNIX_EPOCH)
                .is_err()
        );
    }

    #[test]
    fn marking_fixed_stamps_the_time_and_reopen_clears_it() {
        let mut f = sample(FindingState::Affected);
        let now = t("2026-03-01T10:00:00Z");
        f.triage(
            &Triage::Fixed,
            UserId::new(),
            "composer update twig/twig",
            now,
        )
        .unwrap();
        assert_eq!((f.state, f.fixed_at), (FindingState::Fixed, Some(now)));
        f.triage(&Triage::Reopen, UserId::new(), "rolled back", now)
            .unwrap();
        assert_eq!((f.state, f.fixed_at), (FindingState::New, None));
    }

    #[test]
    fn names_round_trip() {
        for s in FindingState::ALL {
            assert_eq!(FindingState::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        for j in Justification::ALL {
            assert_eq!(Justification::parse(j.as_str()), Some(j));
        }
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
    }
}
