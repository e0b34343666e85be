//! The fleet part of the storage interface: inventory snapshots and the installations index,
//! findings with their event history, and the small state the matcher keeps between runs.
//! The rules that decide what to store live in `palisade-fleet`; this trait only keeps it.

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;
use palisade_core::{ClientId, EnvironmentId, FindingId, SiteId, SnapshotId, UserId};
use palisade_fleet::{
    Change, EnvFacts, Finding, FindingChanges, FindingEvent, FindingState, Package,
};
use palisade_vulns::PackageKey;
use serde::{Deserialize, Serialize};

use crate::{Page, StoreResult};

/// One file an inventory upload was read from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotSource {
    pub file: String,
    pub format: String,
    pub packages: u32,
}

/// An inventory upload to store. `previous` is the snapshot `changes` was computed against: if
/// the environment has moved on since (a concurrent upload), saving fails with
/// `StoreError::Conflict` and the caller recomputes.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSnapshot {
    pub id: SnapshotId,
    pub environment_id: EnvironmentId,
    pub taken_at: Timestamp,
    pub actor: Option<UserId>,
    pub previous: Option<SnapshotId>,
    pub sources: Vec<SnapshotSource>,
    /// Everything installed, as uploaded.
    pub packages: Vec<Package>,
    pub changes: Vec<Change>,
    /// Entries that name a package but cannot be matched (unpinned requirements, purl-less
    /// components), as "file: name requirement — reason" lines.
    pub unevaluable: Vec<String>,
}

/// A stored snapshot without its package list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotSummary {
    pub id: SnapshotId,
    pub environment_id: EnvironmentId,
    pub site_id: SiteId,
    pub client_id: ClientId,
    #[schema(value_type = String, format = DateTime)]
    pub taken_at: Timestamp,
    pub actor: Option<UserId>,
    pub previous: Option<SnapshotId>,
    pub sources: Vec<SnapshotSource>,
    pub packages: u32,
    pub dev_packages: u32,
    pub added: u32,
    pub removed: u32,
    /// Upgraded, downgraded or otherwise changed versions.
    pub changed: u32,
    pub unevaluable: u32,
}

/// A stored snapshot with its difference from the previous one and what it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub summary: SnapshotSummary,
    pub changes: Vec<Change>,
    pub packages: Vec<Package>,
    pub unevaluable: Vec<String>,
}

/// One row of the installations index: a package version installed in an environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installation {
    pub environment_id: EnvironmentId,
    pub key: PackageKey,
    pub version: String,
    pub dev: bool,
}

/// The installations index for one installed version of a package: every environment that has
/// it. A popular package has tens of versions in thousands of environments, so readers decide
/// per version and only then look at environments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionInstalls {
    pub key: PackageKey,
    pub version: String,
    /// Each environment with this version, and whether it is a development dependency there.
    pub environments: Vec<(EnvironmentId, bool)>,
}

impl VersionInstalls {
    /// One installations-index row per environment, for readers that want them one by one.
    pub fn into_installations(self) -> impl Iterator<Item = Installation> {
        self.environments
            .into_iter()
            .map(move |(environment_id, dev)| Installation {
                environment_id,
                key: self.key.clone(),
                version: self.version.clone(),
                dev,
            })
    }
}

/// Filters and position of a finding list. Lists are ordered by priority (highest first), then
/// by ID.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FindingQuery {
    pub client: Option<ClientId>,
    pub site: Option<SiteId>,
    pub environment: Option<EnvironmentId>,
    /// Only these states; empty means the open ones (new, affected).
    pub states: Vec<FindingState>,
    /// Only findings whose alias group is one of these ids.
    pub alias_groups: Vec<String>,
    pub package: Option<PackageKey>,
    pub kev_only: bool,
    /// Only findings whose deadline is before this time.
    pub due_before: Option<Timestamp>,
    /// Keyset position: the `next_after` of the previous page.
    pub after: Option<String>,
    /// Page size, clamped to `MAX_PAGE_SIZE`; 0 means the default.
    pub limit: u32,
}

impl FindingQuery {
    /// The states the query selects.
    pub fn effective_states(&self) -> Vec<FindingState> {
        if self.states.is_empty() {
            vec![FindingState::New, FindingState::Affected]
        } else {
            self.states.clone()
        }
    }
}

/// Counts for one client on the portfolio dashboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClientFindings {
    pub client_id: ClientId,
    pub client_name: String,
    pub open: u64,
    pub kev: u64,
    pub breached: u64,
    /// The highest priority among its open findings.
    pub top_priority: i32,
}

/// The portfolio dashboard's numbers (open findings only unless named otherwise).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FindingsSummary {
    pub open: u64,
    pub kev: u64,
    /// Open and past their deadline at the time asked.
    pub breached: u64,
    /// Open findings per priority band (`urgent`, `high`, `medium`, `low`).
    pub by_band: Vec<(String, u64)>,
    /// Findings per state, all states.
    pub by_state: Vec<(FindingState, u64)>,
    /// Clients with open findings, most urgent first.
    pub by_client: Vec<ClientFindings>,
}

/// Findings opened and closed on one day (UTC), for the chart of open findings over time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DailyFindings {
    #[schema(value_type = String, format = Date)]
    pub day: Date,
    pub opened: i64,
    pub closed: i64,
}

/// Facts about an environment for the fleet rules, with its names for display.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvironmentFacts {
    pub facts: EnvFacts,
    pub environment_name: String,
    pub site_name: String,
    pub client_name: String,
}

/// Finding changes already turned into what the store writes (see
/// [`FleetStore::prepare_finding_changes`]); only the store that prepared them can write them.
pub struct PreparedFindings(Box<dyn std::any::Any + Send>);

impl PreparedFindings {
    pub fn new<T: std::any::Any + Send>(inner: T) -> PreparedFindings {
        PreparedFindings(Box::new(inner))
    }

    /// The store's own form, if this store prepared them.
    pub fn into_inner<T: std::any::Any>(self) -> Option<T> {
        self.0.downcast().ok().map(|b| *b)
    }
}

/// Fleet storage. Part of every `Store`.
#[async_trait]
pub trait FleetStore: Send + Sync {
    /// The environment's newest snapshot, if any.
    async fn latest_snapshot(&self, env: EnvironmentId) -> StoreResult<Option<SnapshotSummary>>;
    /// What the installations index holds for the environment now.
    async fn environment_packages(&self, env: EnvironmentId) -> StoreResult<Vec<Package>>;
    /// Stores a snapshot and applies its changes to the installations index, in one
    /// transaction. `Conflict` when `previous` is not the environment's newest snapshot; `NotFound`
    /// when the environment does not exist (archived environments accept uploads: they are kept).
    async fn save_snapshot(&self, s: &NewSnapshot) -> StoreResult<SnapshotSummary>;
    /// [`FleetStore::save_snapshot`] and [`FleetStore::apply_finding_changes`] in one
    /// transaction: an upload's snapshot and the findings it changes are stored together or not
    /// at all, with one commit on the single writer instead of two.
    async fn save_snapshot_with_findings(
        &self,
        s: &NewSnapshot,
        findings: &FindingChanges,
    ) -> StoreResult<SnapshotSummary>;
    async fn get_snapshot(&self, id: SnapshotId) -> StoreResult<Snapshot>;
    /// An environment's snapshots, newest first; `after` is a snapshot ID.
    async fn list_snapshots(
        &self,
        env: EnvironmentId,
        after: Option<SnapshotId>,
        limit: u32,
    ) -> StoreResult<Page<SnapshotSummary>>;

    /// Facts for each environment that exists, in no particular order.
    async fn environment_facts(&self, envs: &[EnvironmentId])
    -> StoreResult<Vec<EnvironmentFacts>>;
    /// Facts for every environment, in no particular order: what a copy kept in memory is
    /// filled from in one read.
    async fn all_environment_facts(&self) -> StoreResult<Vec<EnvironmentFacts>>;
    /// A number that changes whenever any client, site or environment is created, changed,
    /// archived or restored (by any process): what a copy of their facts kept in memory is
    /// checked against. Inventories and findings do not change it.
    async fn tenant_version(&self) -> StoreResult<i64>;
    /// Every installation of any of `keys` across the fleet, one entry per installed version
    /// (in no particular order).
    async fn installations_of(&self, keys: &[PackageKey]) -> StoreResult<Vec<VersionInstalls>>;
    /// Distinct installed (package, version) pairs in key order, `limit` at a time after
    /// `after`: the work list of a full re-match.
    async fn installed_versions(
        &self,
        after: Option<&(PackageKey, String)>,
        limit: u32,
    ) -> StoreResult<Vec<(PackageKey, String)>>;

    /// Every finding (any state) of the given packages, in the given environments or all.
    async fn findings_of(
        &self,
        keys: &[PackageKey],
        envs: Option<&[EnvironmentId]>,
    ) -> StoreResult<Vec<Finding>>;
    /// Those of `keys` that have a finding still in play (any state but inactive and verified):
    /// the packages a full re-match must visit even when nothing affects them any more.
    async fn finding_packages(&self, keys: &[PackageKey]) -> StoreResult<Vec<PackageKey>>;
    /// Stores new and changed findings and appends events, in one transaction, and counts
    /// findings opened and closed per day for the trend chart.
    async fn apply_finding_changes(&self, changes: &FindingChanges) -> StoreResult<()> {
        self.apply_prepared_findings(self.prepare_finding_changes(changes)?)
            .await
    }
    /// The first half of [`FleetStore::apply_finding_changes`]: the CPU work (statements, their
    /// arguments, encoded bodies), which a caller can do while an earlier write runs.
    fn prepare_finding_changes(&self, changes: &FindingChanges) -> StoreResult<PreparedFindings>;
    /// The second half: writes what [`FleetStore::prepare_finding_changes`] made, in one
    /// transaction.
    async fn apply_prepared_findings(&self, prepared: PreparedFindings) -> StoreResult<()>;
    /// Drops the secondary findings indexes that a first full match builds faster after its
    /// rows than row by row, if no finding is stored yet; true if it did. Until
    /// [`FleetStore::restore_finding_indexes`] lists and counts are slower, never wrong; the
    /// identity keys and the index by package, which matching reads, stay.
    async fn defer_finding_indexes(&self) -> StoreResult<bool>;
    /// Builds the indexes [`FleetStore::defer_finding_indexes`] dropped, if any are. The store
    /// also does so when it opens, for a process that deferred them and stopped before (or one
    /// still matching: its match then runs slower, never wrong).
    async fn restore_finding_indexes(&self) -> StoreResult<()>;
    async fn get_finding(&self, id: FindingId) -> StoreResult<Finding>;
    /// Stores a person's decision: the finding's new row and its event, in one transaction.
    /// `Conflict` if the stored finding's `updated_at` is no longer `seen_at` (someone else
    /// changed it meanwhile).
    async fn save_triage(
        &self,
        finding: &Finding,
        event: &FindingEvent,
        seen_at: Timestamp,
    ) -> StoreResult<()>;
    /// A finding's history, oldest first.
    async fn finding_events(&self, id: FindingId) -> StoreResult<Vec<FindingEvent>>;
    /// Findings by priority, highest first.
    async fn list_findings(&self, q: &FindingQuery) -> StoreResult<Page<Finding>>;
    /// Every finding the query's filters select, by priority then id, ignoring its position
    /// and page size: for answers that need all of them at once (who is affected), which paging
    /// would make read and sort the whole selection once per page. Unbounded; callers filter.
    async fn all_findings(&self, q: &FindingQuery) -> StoreResult<Vec<Finding>>;
    /// The dashboard numbers, for one client or all.
    async fn findings_summary(
        &self,
        client: Option<ClientId>,
        now: Timestamp,
    ) -> StoreResult<FindingsSummary>;
    /// Opened and closed counts per day since `from` (days without changes left out).
    async fn findings_daily(
        &self,
        client: Option<ClientId>,
        from: Date,
    ) -> StoreResult<Vec<DailyFindings>>;
    /// Risk-accepted findings whose acceptance ended at or before `now`.
    async fn expired_risk_acceptances(&self, now: Timestamp) -> StoreResult<Vec<Finding>>;

    /// A named value the matcher keeps between runs (e.g. how far it has read the advisory
    /// store's change log).
    async fn fleet_state(&self, name: &str) -> StoreResult<Option<String>>;
    async fn set_fleet_state(&self, name: &str, value: &str) -> StoreResult<()>;
}
