//! What a campaign is made of: the campaign, its clients (in patching order, each with the ticket
//! that keeps the customer informed), its environments (each at one step of the patch process)
//! and the timeline of everything that happened, which is the evidence.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::Date;
use palisade_core::tenant::EnvironmentKind;
use palisade_core::{
    CampaignEventId, CampaignId, ClientId, EnvironmentId, FindingId, SiteId, TicketId, UserId,
};
use serde::{Deserialize, Serialize};

/// Where a campaign is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CampaignState {
    /// Planned: the security team can reorder clients and exclude environments; nobody has been
    /// told anything yet.
    Planned,
    /// Started: tickets are open and environments move through the steps.
    Active,
    /// Every environment is verified or excluded, every client told.
    Completed,
    Cancelled,
}

/// Where one environment is in the patch process.
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
pub enum Step {
    /// Not patched yet.
    Pending,
    /// Patched by the team's word; its tests have not been recorded.
    Patched,
    /// Tested after the patch, and the tests failed: patch again.
    TestFailed,
    /// Tested after the patch, and the tests passed: the next environment may be patched.
    TestPassed,
    /// A later inventory shows a version that is no longer affected.
    Verified,
    /// Left out of the campaign with a reason (an exception in the report).
    Excluded,
}

/// How an environment's tests were run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TestMethod {
    /// A person checked; the detail says what.
    Manual,
    /// A test command ran; its output is attached.
    Command,
    /// A URL was checked; the response summary is attached.
    Url,
}

/// What someone (or the system) does to one environment of a campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// The fix was applied.
    Patched { note: Option<String> },
    /// Tests ran after the patch.
    Tested {
        passed: bool,
        method: TestMethod,
        /// What was run or checked (a command line, a URL, a checklist).
        detail: String,
        /// Its output, attached as evidence.
        output: Option<String>,
    },
    /// An inventory shows the fixed version (the system does this).
    Verified { note: String },
    /// Left out, with a reason.
    #[serde(rename = "excluded")]
    Exclude { reason: String },
    /// Put back after an exclusion.
    #[serde(rename = "included")]
    Include,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Patched { .. } => "patched",
            Action::Tested { .. } => "tested",
            Action::Verified { .. } => "verified",
            Action::Exclude { .. } => "excluded",
            Action::Include => "included",
        }
    }
}

/// A campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Campaign {
    pub id: CampaignId,
    pub title: String,
    /// The advisory or alias it was started from.
    pub advisory: String,
    /// Every id of the alias group, so findings under any of them count.
    pub aliases: Vec<String>,
    pub summary: String,
    /// The advisory's severity name (critical, high, …).
    pub severity: String,
    pub state: CampaignState,
    /// The customer-reported triage ticket it came from, if any: that client is told there
    /// instead of in a new ticket.
    pub source_ticket: Option<TicketId>,
    pub created_by: UserId,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    /// Changes applied so far: a plan change or start names it so two people cannot both act
    /// on the same plan.
    pub version: u32,
}

/// One client of a campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CampaignClient {
    pub campaign_id: CampaignId,
    pub client_id: ClientId,
    pub client_name: String,
    /// Patching order, 1 first: by need (priority of its worst finding) unless the team moved it.
    pub rank: u32,
    /// When the team plans to patch this client, told to the customer.
    #[schema(value_type = Option<String>, format = Date)]
    pub planned_for: Option<Date>,
    /// The ticket the customer is told in, once the campaign started.
    pub ticket_id: Option<TicketId>,
    /// When its last environment was verified or excluded and the customer was told.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub done_at: Option<Timestamp>,
}

/// One vulnerable package in an environment, and what fixes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PackageFix {
    pub finding: FindingId,
    pub package: String,
    pub ecosystem: String,
    pub installed: String,
    pub fixed: Vec<String>,
}

/// One environment of a campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CampaignEnv {
    pub campaign_id: CampaignId,
    pub environment_id: EnvironmentId,
    pub client_id: ClientId,
    pub site_id: SiteId,
    pub site_name: String,
    pub environment_name: String,
    pub kind: EnvironmentKind,
    /// Promotion order within the site (lower first), as the site defines it.
    pub position: i32,
    pub step: Step,
    /// Whether its last recorded tests passed (a new patch needs new tests).
    pub tests_passed: bool,
    pub packages: Vec<PackageFix>,
    /// The highest priority of its findings.
    pub priority: i32,
    /// Why it was excluded, while it is.
    pub exception: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// Changes applied so far (compare-and-swap on update).
    pub version: u32,
}

impl CampaignEnv {
    /// Done as far as the campaign is concerned.
    pub fn settled(&self) -> bool {
        matches!(self.step, Step::Verified | Step::Excluded)
    }

    /// Passed far enough that the next environment of its site may be patched: its tests
    /// passed (an inventory showing the fix is not a test of the site), or it was left out.
    pub fn cleared(&self) -> bool {
        self.tests_passed || self.step == Step::Excluded
    }
}

/// What an entry of a campaign's timeline records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Planned,
    PlanChanged,
    Started,
    Patched,
    Tested,
    Verified,
    Excluded,
    Included,
    /// A client's environments are all settled and the customer was told.
    ClientDone,
    Completed,
    Cancelled,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Planned => "planned",
            EventKind::PlanChanged => "plan-changed",
            EventKind::Started => "started",
            EventKind::Patched => "patched",
            EventKind::Tested => "tested",
            EventKind::Verified => "verified",
            EventKind::Excluded => "excluded",
            EventKind::Included => "included",
            EventKind::ClientDone => "client-done",
            EventKind::Completed => "completed",
            EventKind::Cancelled => "cancelled",
        }
    }

    pub const ALL: [EventKind; 11] = [
        EventKind::Planned,
        EventKind::PlanChanged,
        EventKind::Started,
        EventKind::Patched,
        EventKind::Tested,
        EventKind::Verified,
        EventKind::Excluded,
        EventKind::Included,
        EventKind::ClientDone,
        EventKind::Completed,
        EventKind::Cancelled,
    ];
}

/// One entry of a campaign's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CampaignEvent {
    pub id: CampaignEventId,
    pub campaign_id: CampaignId,
    pub client_id: Option<ClientId>,
    pub environment_id: Option<EnvironmentId>,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The staff member, or none for the system (an inventory verifying a fix).
    pub actor: Option<UserId>,
    pub kind: EventKind,
    /// What the person wrote or the system found: a reason, a test and its output.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

macro_rules! names {
    ($t:ty, $what:literal, $($v:ident = $s:literal),* $(,)?) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok(Self::$v),)*
                    _ => Err(format!(concat!("unknown ", $what, " {:?}; expected one of: "), s)
                        + &[$($s),*].join(", ")),
                }
            }
        }
    };
}

names!(
    CampaignState,
    "campaign state",
    Planned = "planned",
    Active = "active",
    Completed = "completed",
    Cancelled = "cancelled"
);
names!(
    Step,
    "step",
    Pending = "pending",
    Patched = "patched",
    TestFailed = "test-failed",
    TestPassed = "test-passed",
    Verified = "verified",
    Excluded = "excluded"
);

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Pending,
        Step::Patched,
        Step::TestFailed,
        Step::TestPassed,
        Step::Verified,
        Step::Excluded,
    ];
}

impl FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown campaign event kind {s:?}"))
    }
}
