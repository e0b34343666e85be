//! The fleet matcher: the service that joins the advisory store, the installations index and the
//! fleet rules. It takes inventory uploads (snapshot, difference, re-evaluation of only the
//! changed packages), follows the advisory store's change log (re-evaluating only the
//! installations of packages a new or changed advisory names), runs a full re-match when the
//! advisory store was rebuilt or KEV/EPSS changed, and answers "who is affected".
//!
//! Matching evaluates each distinct (package, version) once, whatever the number of
//! environments that install it, and fans the verdicts out to installations; the reconcile rules
//! in `palisade-fleet` decide what changes. All writes of findings go through one lock, so two
//! re-evaluations of the same package never race to create the same finding.

pub mod affected;
pub mod intake;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use palisade_core::{EnvironmentId, UserId};
use palisade_fleet::reconcile::{InstalledVersion, Observed};
use palisade_fleet::{
    EnvFacts, EpssInfo, FindingChanges, KevInfo, Match, Package, SlaPolicy, diff, reconcile,
};
use palisade_scan::Evaluator;
use palisade_store::{
    Installation, NewSnapshot, PreparedFindings, SnapshotSummary, Store, StoreError,
    VersionInstalls,
};
use palisade_vulndb::{DbError, VulnDb};
use palisade_vulns::matching::Verdict;
use palisade_vulns::{AdvisoryKind, PackageKey};
use serde::Serialize;

pub use intake::{IntakeError, Upload};

/// The fleet-state key under which the change-log position is kept ("generation:sequence").
const CURSOR: &str = "advisories.cursor";
/// Distinct (package, version) pairs evaluated per step of a full re-match.
const FULL_CHUNK: u32 = 20_000;
/// Packages reconciled together in a full re-match: bounds the installations and findings held
/// at once (a popular package is installed in most environments).
const HOT_PACKAGES_PER_STEP: usize = 8;
/// Steps of a full re-match per hold of the fleet write lock. Within one hold the steps run as a
/// pipeline (see [`Matcher::pipeline_steps`]), which empties at the end of each hold; between
/// holds an upload waiting for the lock gets its turn. A hold of 16 steps lasts 0.6–2.5 s in a
/// first match of the benchmark fleet; at 4 steps per hold the pipeline emptied 20 times instead
/// of 5 (BENCHMARKS.md, fleet).
const STEPS_PER_HOLD: usize = 16;
/// Steps prepared ahead of the one being written in a full re-match.
const STEPS_AHEAD: usize = 2;

/// `t` to the whole microsecond, the precision of the store's time columns. The SQL store keeps
/// a finding's or an event's time in its body as well only when its column cannot hold it, and
/// leaving those out made a first full match a tenth faster (BENCHMARKS.md, fleet).
fn to_the_microsecond(t: Timestamp) -> Timestamp {
    Timestamp::from_microsecond(t.as_microsecond()).unwrap_or(t)
}

/// Why matching failed.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Advisories(#[from] DbError),
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error("matching task failed: {0}")]
    Task(String),
}

/// What an upload replaces in the environment's inventory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Replace {
    /// Only the ecosystems the upload contains (a dpkg status replaces the Debian packages and
    /// leaves the site's Composer and npm packages alone).
    #[default]
    Covered,
    /// Everything: packages of ecosystems absent from the upload are removed.
    All,
}

/// What one upload did.
#[derive(Clone, Debug, Serialize)]
pub struct IntakeOutcome {
    pub snapshot: SnapshotSummary,
    /// The difference from the previous snapshot.
    pub changes: Vec<palisade_fleet::Change>,
    pub findings: ChangeCounts,
}

/// How many findings a run created, changed and closed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChangeCounts {
    pub created: usize,
    pub updated: usize,
    pub events: usize,
}

impl ChangeCounts {
    fn of(c: &FindingChanges) -> ChangeCounts {
        ChangeCounts {
            created: c.created.len(),
            updated: c.updated.len(),
            events: c.events.len(),
        }
    }

    fn add(&mut self, o: ChangeCounts) {
        self.created += o.created;
        self.updated += o.updated;
        self.events += o.events;
    }
}

/// What one catch-up did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CatchUp {
    /// Everything was re-evaluated.
    pub full: bool,
    /// Packages re-evaluated from the change log (when not a full pass).
    pub packages: usize,
    pub changes: ChangeCounts,
}

/// What the matcher has done lately, for the UI.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MatcherStatus {
    pub last_catch_up: Option<Timestamp>,
    pub last_full_match: Option<Timestamp>,
    pub last_error: Option<String>,
    /// Packages re-evaluated by the last catch-up.
    pub last_packages: usize,
    pub last_changes: ChangeCounts,
    /// Advisory sync: when it last ran, what it said, when it runs next.
    pub sync_last_run: Option<Timestamp>,
    pub sync_last_result: Option<String>,
    pub sync_next_run: Option<Timestamp>,
}

/// The advisory store the matcher reads, opened when it first exists.
struct Advisories {
    dir: PathBuf,
    db: Option<VulnDb>,
}

impl Advisories {
    fn get(&mut self) -> Result<Option<&VulnDb>, DbError> {
        if self.db.is_none() {
            match VulnDb::open_existing(&self.dir) {
                Ok(db) => self.db = Some(db),
                Err(DbError::Missing(_)) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(self.db.as_ref())
    }
}

/// The fleet matcher.
#[derive(Clone)]
pub struct Matcher {
    store: Arc<dyn Store>,
    advisories: Arc<Mutex<Advisories>>,
    policy: Arc<SlaPolicy>,
    /// Held exclusively by fleet-wide writes (catch-up, full match, risk expiry) and shared by
    /// one-environment writes, which also take their environment's stripe: uploads to different
    /// environments reconcile side by side, while two writes never decide the same finding from
    /// the same stale read. One lock for all had capped intake at what one core could reconcile.
    write: Arc<tokio::sync::RwLock<()>>,
    stripes: Arc<[tokio::sync::Mutex<()>; STRIPES]>,
    status: Arc<Mutex<MatcherStatus>>,
    full_chunk: u32,
    spine: Arc<Mutex<Spine>>,
}

/// Facts by environment, shared.
fn shared(
    facts: Vec<palisade_store::EnvironmentFacts>,
) -> HashMap<EnvironmentId, Arc<palisade_store::EnvironmentFacts>> {
    facts
        .into_iter()
        .map(|f| (f.facts.id, Arc::new(f)))
        .collect()
}

/// Missing environments from which [`Matcher::spine_facts`] reads every environment instead.
const WHOLE_SPINE_AFTER: usize = 1_000;

/// Environments' facts kept in memory for [`Matcher::spine_facts`], valid while the store's
/// tenant version is `version`.
#[derive(Default)]
struct Spine {
    version: Option<i64>,
    /// Shared, so an answer about thousands of environments copies pointers, not names.
    facts: HashMap<EnvironmentId, Arc<palisade_store::EnvironmentFacts>>,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher").finish_non_exhaustive()
    }
}

/// Where a re-evaluation looks for installations.
enum Within<'a> {
    /// The installations index, fleet-wide.
    Fleet,
    /// One environment; its package list when the caller already has it.
    Environment {
        id: EnvironmentId,
        packages: Option<&'a [Package]>,
    },
}

/// Per-(package, version) matches: what the advisories say about each installed version; every
/// evaluated pair has an entry, empty when nothing affects it.
type Verdicts = HashMap<PackageKey, HashMap<String, Vec<Match>>>;

impl Matcher {
    /// A matcher over `store`, reading advisories from the store in `advisory_dir`.
    pub fn new(store: Arc<dyn Store>, advisory_dir: PathBuf, policy: SlaPolicy) -> Matcher {
        Matcher {
            store,
            advisories: Arc::new(Mutex::new(Advisories {
                dir: advisory_dir,
                db: None,
            })),
            policy: Arc::new(policy),
            write: Arc::default(),
            stripes: Arc::new(std::array::from_fn(|_| tokio::sync::Mutex::new(()))),
            status: Arc::default(),
            full_chunk: FULL_CHUNK,
            spine: Arc::default(),
        }
    }

    /// Sets how many (package, version) pairs a full re-match handles per step (tests use tiny
    /// steps to cross step boundaries).
    pub fn with_full_chunk(mut self, pairs: u32) -> Matcher {
        self.full_chunk = pairs.max(1);
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn status(&self) -> MatcherStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Records what the advisory sync did, for the UI.
    pub fn record_sync(&self, at: Timestamp, result: String, next: Option<Timestamp>) {
        if let Ok(mut s) = self.status.lock() {
            s.sync_last_run = Some(at);
            s.sync_last_result = Some(result);
            s.sync_next_run = next;
        }
    }

    /// The facts of `envs` (those that exist), from memory while no client, site or
    /// environment has changed since they were read. Their `inventory_at` may be old, so they
    /// serve listings (names, kinds, tiers), never the reconciling of stored findings. An
    /// advisory about a popular package lists thousands of environments, and reading their
    /// facts was most of that answer's time.
    pub(crate) async fn spine_facts(
        &self,
        envs: &[EnvironmentId],
    ) -> Result<Vec<Arc<palisade_store::EnvironmentFacts>>, MatchError> {
        // Read first: facts read after it are at least as new, so caching them under it is safe.
        let version = self.store.tenant_version().await?;
        let mut out = Vec::with_capacity(envs.len());
        let mut missing = Vec::new();
        {
            let mut spine = self.spine.lock().unwrap_or_else(|e| e.into_inner());
            if spine.version < Some(version) {
                spine.facts.clear();
                spine.version = Some(version);
            }
            // Newer than ours (another caller read the version after us): read everything.
            let current = spine.version == Some(version);
            for e in envs {
                match spine.facts.get(e).filter(|_| current) {
                    Some(f) => out.push(Arc::clone(f)),
                    None => missing.push(*e),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        // Many missing (a cold start, or the first answer after any change to the spine): read
        // every environment in one statement, so that the next answers miss nothing. Ten
        // thousand environments by id cost about as much as twenty thousand in one read.
        let whole = missing.len() >= WHOLE_SPINE_AFTER;
        let read = if whole {
            self.store.all_environment_facts().await?
        } else {
            self.store.environment_facts(&missing).await?
        };
        let read = shared(read);
        out.extend(missing.iter().filter_map(|e| read.get(e).cloned()));
        let mut spine = self.spine.lock().unwrap_or_else(|e| e.into_inner());
        if spine.version == Some(version) {
            spine.facts.extend(read);
        }
        Ok(out)
    }

    /// Fills the environments' facts kept in memory, so that the first "who is affected"
    /// answers after a start need not read them. The server calls it once it is up.
    pub async fn warm_spine(&self) -> Result<(), MatchError> {
        // Read first: facts read after it are at least as new.
        let version = self.store.tenant_version().await?;
        let read = self.store.all_environment_facts().await?;
        let mut spine = self.spine.lock().unwrap_or_else(|e| e.into_inner());
        if spine.version <= Some(version) {
            spine.version = Some(version);
            spine.facts = shared(read);
        }
        Ok(())
    }

    /// Runs `f` with the advisory store (or `None` before any import) on a blocking thread.
    async fn with_advisories<T: Send + 'static>(
        &self,
        f: impl FnOnce(Option<&VulnDb>) -> Result<T, MatchError> + Send + 'static,
    ) -> Result<T, MatchError> {
        let adv = self.advisories.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = adv
                .lock()
                .map_err(|_| MatchError::Task("advisory store lock poisoned".into()))?;
            let db = guard.get()?;
            f(db)
        })
        .await
        .map_err(|e| MatchError::Task(e.to_string()))?
    }

    /// Stores an upload as the environment's new snapshot and re-evaluates the packages it
    /// changed.
    pub async fn intake(
        &self,
        env: EnvironmentId,
        uploads: Vec<Upload>,
        replace: Replace,
        actor: Option<UserId>,
        now: Timestamp,
    ) -> Result<IntakeOutcome, MatchError> {
        let parsed = parse(uploads).await?;
        self.intake_parsed(env, &parsed, replace, actor, now).await
    }

    /// Stores a host's upload (its dpkg status) in every environment the host serves: each gets
    /// a snapshot in which only the ecosystems of the upload are replaced.
    pub async fn intake_host(
        &self,
        environments: &[EnvironmentId],
        uploads: Vec<Upload>,
        actor: Option<UserId>,
        now: Timestamp,
    ) -> Result<Vec<IntakeOutcome>, MatchError> {
        let parsed = parse(uploads).await?;
        let mut out = Vec::with_capacity(environments.len());
        for env in environments {
            out.push(
                self.intake_parsed(*env, &parsed, Replace::Covered, actor, now)
                    .await?,
            );
        }
        Ok(out)
    }

    async fn intake_parsed(
        &self,
        env: EnvironmentId,
        parsed: &intake::Parsed,
        replace: Replace,
        actor: Option<UserId>,
        now: Timestamp,
    ) -> Result<IntakeOutcome, MatchError> {
        let covered: BTreeSet<palisade_vulns::Ecosystem> =
            parsed.packages.iter().map(|p| p.key.ecosystem).collect();
        // Held from reading the previous snapshot to the last finding written: two uploads to one
        // environment would otherwise reconcile in the other order than they were stored, and
        // the findings would describe the older one.
        let _held = self.lock(Some(env)).await;
        // A snapshot stored meanwhile by another process makes the difference stale: recompute
        // it against what won, a bounded number of times.
        let mut attempt = 0;
        let (snapshot, changes, counts) = loop {
            attempt += 1;
            let previous = self.store.latest_snapshot(env).await?;
            let old = match &previous {
                Some(_) => self.store.environment_packages(env).await?,
                None => Vec::new(),
            };
            // What the upload does not speak for is kept: the CI job's lockfiles and the host's
            // dpkg status arrive separately and must not erase each other.
            let (replaced, kept): (Vec<Package>, Vec<Package>) = old
                .into_iter()
                .partition(|p| replace == Replace::All || covered.contains(&p.key.ecosystem));
            let changes = diff(&replaced, &parsed.packages);
            let mut packages = kept;
            packages.extend(parsed.packages.iter().cloned());
            packages.sort();
            let new = NewSnapshot {
                id: palisade_core::SnapshotId::new(),
                environment_id: env,
                taken_at: now,
                actor,
                previous: previous.map(|p| p.id),
                sources: parsed.sources.clone(),
                packages,
                changes: changes.clone(),
                unevaluable: parsed.unevaluable.clone(),
            };
            // The findings the changed packages call for, stored with the snapshot in one
            // transaction: the upload is stored whole or not at all, with one commit on the
            // single writer instead of two (the writer was busy four fifths of the time at ~460
            // uploads/s).
            let keys: BTreeSet<PackageKey> = changes.iter().map(|c| c.key.clone()).collect();
            let findings = if keys.is_empty() {
                FindingChanges::default()
            } else {
                let within = Within::Environment {
                    id: env,
                    packages: Some(&new.packages),
                };
                self.plan(
                    keys.into_iter().collect(),
                    within,
                    now,
                    Verdicts::new(),
                    None,
                )
                .await?
            };
            match self
                .store
                .save_snapshot_with_findings(&new, &findings)
                .await
            {
                Ok(s) => break (s, changes, ChangeCounts::of(&findings)),
                Err(StoreError::Conflict(_)) if attempt < 5 => continue,
                Err(e) => return Err(e.into()),
            }
        };
        Ok(IntakeOutcome {
            snapshot,
            changes,
            findings: counts,
        })
    }

    /// Re-evaluates the installations of `keys` (in one environment, or fleet-wide) and stores
    /// the finding changes.
    pub async fn match_scope(
        &self,
        keys: Vec<PackageKey>,
        env: Option<EnvironmentId>,
        now: Timestamp,
    ) -> Result<ChangeCounts, MatchError> {
        let _held = self.lock(env).await;
        let within = match env {
            Some(id) => Within::Environment { id, packages: None },
            None => Within::Fleet,
        };
        self.reconcile_keys(keys, within, now, Verdicts::new(), None)
            .await
    }

    /// The write lock for one environment's findings (`Some`) or the fleet's.
    async fn lock(&self, env: Option<EnvironmentId>) -> WriteGuard<'_> {
        match env {
            None => WriteGuard::Fleet(self.write.write().await),
            Some(id) => {
                let shared = self.write.read().await;
                let stripe = self.stripes[stripe_of(id)].lock().await;
                WriteGuard::Environment(shared, stripe)
            }
        }
    }

    /// [`Matcher::match_scope`] with verdicts already known (every evaluated pair has an entry,
    /// empty when nothing affects it) and, optionally, the stored findings of `keys` already read.
    /// The caller holds [`Matcher::lock`] for the scope.
    async fn reconcile_keys(
        &self,
        keys: Vec<PackageKey>,
        within: Within<'_>,
        now: Timestamp,
        verdicts: Verdicts,
        existing: Option<Vec<palisade_fleet::Finding>>,
    ) -> Result<ChangeCounts, MatchError> {
        let changes = self.plan(keys, within, now, verdicts, existing).await?;
        let counts = ChangeCounts::of(&changes);
        self.write_changes(changes).await?;
        Ok(counts)
    }

    /// Stores planned finding changes, in batches. The caller holds [`Matcher::lock`] for them.
    async fn write_changes(&self, changes: FindingChanges) -> Result<(), MatchError> {
        for batch in batches(changes) {
            self.store.apply_finding_changes(&batch).await?;
        }
        Ok(())
    }

    /// [`Matcher::write_changes`] for batches already prepared.
    async fn write_prepared(&self, prepared: Vec<PreparedFindings>) -> Result<(), MatchError> {
        for batch in prepared {
            self.store.apply_prepared_findings(batch).await?;
        }
        Ok(())
    }

    /// The finding changes a re-evaluation of `keys` calls for, not yet stored.
    async fn plan(
        &self,
        keys: Vec<PackageKey>,
        within: Within<'_>,
        now: Timestamp,
        mut verdicts: Verdicts,
        existing: Option<Vec<palisade_fleet::Finding>>,
    ) -> Result<FindingChanges, MatchError> {
        let envs = match &within {
            Within::Fleet => None,
            Within::Environment { id, .. } => Some(vec![*id]),
        };
        // In one environment its own package list is the cheap source: the fleet-wide index
        // would return every installation of a popular package only to discard them.
        let installs: Vec<Installation> = match within {
            Within::Environment { id: e, packages } => {
                let wanted: BTreeSet<&PackageKey> = keys.iter().collect();
                let read;
                let packages = match packages {
                    Some(known) => known,
                    None => {
                        read = self.store.environment_packages(e).await?;
                        &read
                    }
                };
                packages
                    .iter()
                    .filter(|p| wanted.contains(&p.key))
                    .map(|p| Installation {
                        environment_id: e,
                        key: p.key.clone(),
                        version: p.version.clone(),
                        dev: p.dev,
                    })
                    .collect()
            }
            Within::Fleet => self
                .store
                .installations_of(&keys)
                .await?
                .into_iter()
                .flat_map(VersionInstalls::into_installations)
                .collect(),
        };
        let existing = match existing {
            Some(found) => found,
            None => self.store.findings_of(&keys, envs.as_deref()).await?,
        };
        let mut wanted: BTreeMap<PackageKey, BTreeSet<String>> = BTreeMap::new();
        for i in &installs {
            let known = verdicts
                .get(&i.key)
                .is_some_and(|v| v.contains_key(&i.version));
            if !known {
                wanted
                    .entry(i.key.clone())
                    .or_default()
                    .insert(i.version.clone());
            }
        }
        if !wanted.is_empty() {
            for (key, versions) in self.evaluate(wanted).await? {
                verdicts.entry(key).or_default().extend(versions);
            }
        }
        let matches_of = |key: &PackageKey, version: &str| -> &[Match] {
            verdicts
                .get(key)
                .and_then(|v| v.get(version))
                .map_or(&[], Vec::as_slice)
        };
        // The pairs to reconcile: those with an affected installed version or a stored finding.
        // An (environment, package) with neither yields nothing, and on a fleet those are most
        // installations, so they are not even grouped.
        let mut pairs: BTreeMap<(EnvironmentId, &PackageKey), Vec<&Installation>> = BTreeMap::new();
        for f in &existing {
            pairs.entry((f.environment_id, &f.package)).or_default();
        }
        for i in &installs {
            if !matches_of(&i.key, &i.version).is_empty() {
                pairs.entry((i.environment_id, &i.key)).or_default();
            }
        }
        for i in &installs {
            if let Some(list) = pairs.get_mut(&(i.environment_id, &i.key)) {
                list.push(i);
            }
        }
        if pairs.is_empty() {
            return Ok(FindingChanges::default());
        }
        let env_ids: Vec<EnvironmentId> = pairs
            .keys()
            .map(|(e, _)| *e)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let facts: HashMap<EnvironmentId, EnvFacts> = self
            .store
            .environment_facts(&env_ids)
            .await?
            .into_iter()
            .map(|f| (f.facts.id, f.facts))
            .collect();
        let observed: Vec<Observed> = pairs
            .into_iter()
            .filter_map(|((env, key), list)| {
                let installed = list
                    .into_iter()
                    .map(|i| InstalledVersion {
                        matches: matches_of(&i.key, &i.version).to_vec(),
                        version: i.version.clone(),
                        dev: i.dev,
                    })
                    .collect();
                Some(Observed {
                    env: facts.get(&env)?.clone(),
                    key: key.clone(),
                    installed,
                })
            })
            .collect();
        Ok(reconcile(
            &observed,
            existing,
            &self.policy,
            to_the_microsecond(now),
        ))
    }

    /// Evaluates each (package, version) once against the advisory store.
    async fn evaluate(
        &self,
        wanted: BTreeMap<PackageKey, BTreeSet<String>>,
    ) -> Result<Verdicts, MatchError> {
        self.with_advisories(move |db| match db {
            None => Ok(Verdicts::new()),
            Some(db) => db.snapshot(|| evaluate_in(db, wanted)),
        })
        .await
    }

    /// Re-evaluates every installation in the fleet, a chunk of packages at a time. Each
    /// distinct (package, version) is evaluated first; only packages something affects, or that
    /// have findings, have their installations read and reconciled — most packages have no
    /// advisory at all, and reading their installations would be most of the work.
    pub async fn full_match(&self, now: Timestamp) -> Result<ChangeCounts, MatchError> {
        // Into an empty store (the first match after the fleet's inventories arrived) most
        // indexes are built once at the end, also when the match fails.
        let deferred = self.store.defer_finding_indexes().await?;
        let result = self.full_match_steps(now).await;
        if deferred {
            self.store.restore_finding_indexes().await?;
        }
        let total = result?;
        if let Ok(mut s) = self.status.lock() {
            s.last_full_match = Some(now);
        }
        Ok(total)
    }

    async fn full_match_steps(&self, now: Timestamp) -> Result<ChangeCounts, MatchError> {
        let mut total = ChangeCounts::default();
        let mut after: Option<(PackageKey, String)> = None;
        loop {
            let page = self
                .store
                .installed_versions(after.as_ref(), self.full_chunk)
                .await?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            let mut wanted: BTreeMap<PackageKey, BTreeSet<String>> = BTreeMap::new();
            for (key, version) in page {
                wanted.entry(key).or_default().insert(version);
            }
            let keys: Vec<PackageKey> = wanted.keys().cloned().collect();
            let mut verdicts = self.evaluate(wanted).await?;
            let mut hot: BTreeSet<PackageKey> = verdicts
                .iter()
                .filter(|(_, versions)| versions.values().any(|m| !m.is_empty()))
                .map(|(k, _)| k.clone())
                .collect();
            // Packages with findings but no affected version now (withdrawn, corrected) must be
            // visited too, to close them.
            hot.extend(self.store.finding_packages(&keys).await?);
            let hot: Vec<PackageKey> = hot.into_iter().collect();
            // A few packages at a time: a popular package is installed in most environments,
            // and its installations and findings are what fills memory.
            for held in hot.chunks(HOT_PACKAGES_PER_STEP * STEPS_PER_HOLD) {
                let _held = self.lock(None).await;
                total.add(self.pipeline_steps(held, &mut verdicts, now).await?);
            }
            after = Some(last);
        }
        Ok(total)
    }

    /// Plans, prepares and writes the findings of `packages`, a step of a few packages at a
    /// time, as a pipeline of three stages that each hand the next its work through a channel:
    /// the writer stores one step while the next is turned into statements on a blocking thread
    /// and the one after that is planned. In lockstep each step took the sum of the three; with
    /// planning and preparing in one stage, that stage was slower than the writer, which waited
    /// for it (BENCHMARKS.md, fleet). Steps read and write disjoint packages; the caller holds
    /// the fleet lock for all of them. A plan that fails still lets the steps planned before it
    /// be written; a write that fails stops the other stages.
    async fn pipeline_steps(
        &self,
        packages: &[PackageKey],
        verdicts: &mut Verdicts,
        now: Timestamp,
    ) -> Result<ChangeCounts, MatchError> {
        let (to_prepare, mut planned) = tokio::sync::mpsc::channel::<FindingChanges>(1);
        let (to_write, mut prepared) =
            tokio::sync::mpsc::channel::<Vec<PreparedFindings>>(STEPS_AHEAD);
        // Each stage owns its channel ends, so that a stage stopping on an error closes them and
        // the others stop too instead of waiting for room or work forever.
        let plan = async move {
            let mut total = ChangeCounts::default();
            for group in packages.chunks(HOT_PACKAGES_PER_STEP) {
                let known: Verdicts = group
                    .iter()
                    .filter_map(|k| verdicts.remove_entry(k))
                    .collect();
                let changes = self
                    .plan(group.to_vec(), Within::Fleet, now, known, None)
                    .await?;
                total.add(ChangeCounts::of(&changes));
                if to_prepare.send(changes).await.is_err() {
                    // A later stage stopped on an error, which it returns.
                    break;
                }
            }
            Ok::<_, MatchError>(total)
        };
        let prepare = async move {
            while let Some(changes) = planned.recv().await {
                let store = self.store.clone();
                let statements = tokio::task::spawn_blocking(move || {
                    batches(changes)
                        .iter()
                        .map(|b| store.prepare_finding_changes(b))
                        .collect::<Result<Vec<_>, _>>()
                })
                .await
                .map_err(|e| MatchError::Task(e.to_string()))??;
                if to_write.send(statements).await.is_err() {
                    break;
                }
            }
            Ok::<_, MatchError>(())
        };
        let write = async move {
            while let Some(statements) = prepared.recv().await {
                self.write_prepared(statements).await?;
            }
            Ok::<_, MatchError>(())
        };
        let (total, made, written) = tokio::join!(plan, prepare, write);
        written?;
        made?;
        total
    }

    /// Follows the advisory store's change log from where the last call stopped: re-evaluates
    /// the packages changed advisories name, or everything when the store is new or was rebuilt,
    /// or its KEV/EPSS data replaced.
    pub async fn catch_up(&self, now: Timestamp) -> Result<CatchUp, MatchError> {
        let result = self.catch_up_inner(now).await;
        if let Ok(mut s) = self.status.lock() {
            s.last_catch_up = Some(now);
            match &result {
                Ok(c) => {
                    s.last_error = None;
                    s.last_packages = c.packages;
                    s.last_changes = c.changes;
                }
                Err(e) => s.last_error = Some(e.to_string()),
            }
        }
        result
    }

    async fn catch_up_inner(&self, now: Timestamp) -> Result<CatchUp, MatchError> {
        let Some(generation) = self
            .with_advisories(|db| db.map(VulnDb::generation).transpose().map_err(Into::into))
            .await?
        else {
            return Ok(CatchUp::default());
        };
        let cursor = self.store.fleet_state(CURSOR).await?;
        let position = cursor
            .as_deref()
            .and_then(|c| c.split_once(':'))
            .filter(|(g, _)| *g == generation)
            .and_then(|(_, s)| s.parse::<i64>().ok());
        let mut done = CatchUp::default();
        let mut seq = match position {
            Some(seq) => seq,
            None => {
                // A new or rebuilt advisory store: its log says nothing about what we hold.
                done.full = true;
                self.last_seq().await?
            }
        };
        while !done.full {
            let batch = self
                .with_advisories(move |db| match db {
                    Some(db) => Ok(Some(db.changes_since(seq, 50_000)?)),
                    None => Ok(None),
                })
                .await?;
            let Some(batch) = batch.filter(|b| b.last != seq) else {
                break;
            };
            if batch.everything {
                done.full = true;
                seq = self.last_seq().await?;
                break;
            }
            done.packages += batch.keys.len();
            done.changes
                .add(self.match_scope(batch.keys, None, now).await?);
            seq = batch.last;
        }
        if done.full {
            // The position was taken first: anything logged during the pass is read next time.
            done.changes.add(self.full_match(now).await?);
        }
        self.store
            .set_fleet_state(CURSOR, &format!("{generation}:{seq}"))
            .await?;
        Ok(done)
    }

    /// The newest sequence number in the change log.
    async fn last_seq(&self) -> Result<i64, MatchError> {
        self.with_advisories(|db| Ok(db.map(VulnDb::last_change).transpose()?.unwrap_or(0)))
            .await
    }

    /// Reopens risk acceptances whose date has passed.
    pub async fn expire_risks(&self, now: Timestamp) -> Result<usize, MatchError> {
        let _held = self.lock(None).await;
        let mut changes = FindingChanges::default();
        for mut f in self.store.expired_risk_acceptances(now).await? {
            if let Some(e) = f.expire_risk(now) {
                changes.events.push(e);
                changes.updated.push(f);
            }
        }
        if !changes.is_empty() {
            self.store.apply_finding_changes(&changes).await?;
        }
        Ok(changes.updated.len())
    }
}

/// What [`Matcher::lock`] holds until dropped.
#[allow(dead_code)] // the guards are held, never read
enum WriteGuard<'a> {
    Fleet(tokio::sync::RwLockWriteGuard<'a, ()>),
    Environment(
        tokio::sync::RwLockReadGuard<'a, ()>,
        tokio::sync::MutexGuard<'a, ()>,
    ),
}

/// Environment stripes of the matcher's write lock: more than uploads that run at once on a
/// small server, so two environments rarely share one.
const STRIPES: usize = 64;

fn stripe_of(env: EnvironmentId) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    env.hash(&mut h);
    (h.finish() % STRIPES as u64) as usize
}

/// Findings written per transaction: a large first match would otherwise hold SQLite's write lock
/// for seconds and make other writers time out. A finding travels with its own events, so each
/// batch is consistent on its own.
const WRITE_BATCH: usize = 10_000;

fn batches(changes: FindingChanges) -> Vec<FindingChanges> {
    if changes.created.len() + changes.updated.len() <= WRITE_BATCH {
        return if changes.is_empty() {
            Vec::new()
        } else {
            vec![changes]
        };
    }
    let mut events: HashMap<palisade_core::FindingId, Vec<palisade_fleet::FindingEvent>> =
        HashMap::new();
    for e in changes.events {
        events.entry(e.finding_id).or_default().push(e);
    }
    let mut out = vec![FindingChanges::default()];
    let rows = changes
        .created
        .into_iter()
        .map(|f| (true, f))
        .chain(changes.updated.into_iter().map(|f| (false, f)));
    for (created, f) in rows {
        let full = out
            .last()
            .is_some_and(|b| b.created.len() + b.updated.len() >= WRITE_BATCH);
        if full {
            out.push(FindingChanges::default());
        }
        let Some(batch) = out.last_mut() else { break };
        batch
            .events
            .extend(events.remove(&f.id).unwrap_or_default());
        if created {
            batch.created.push(f);
        } else {
            batch.updated.push(f);
        }
    }
    out
}

/// Parses an upload off the async threads: a large archive takes a while.
async fn parse(uploads: Vec<Upload>) -> Result<intake::Parsed, MatchError> {
    Ok(
        tokio::task::spawn_blocking(move || intake::parse_uploads(&uploads))
            .await
            .map_err(|e| MatchError::Task(e.to_string()))??,
    )
}

/// The canonical id of an alias group: its lowest CVE id, else its lowest id.
fn canonical(ids: &BTreeSet<String>) -> String {
    ids.iter()
        .find(|i| i.starts_with("CVE-"))
        .or_else(|| ids.iter().next())
        .cloned()
        .unwrap_or_default()
}

/// Evaluates `wanted` in one snapshot of the advisory store and groups the affecting advisories
/// of each (package, version) by alias group.
fn evaluate_in(
    db: &VulnDb,
    wanted: BTreeMap<PackageKey, BTreeSet<String>>,
) -> Result<Verdicts, MatchError> {
    let mut ev = Evaluator::new(db)?;
    let list: Vec<(PackageKey, Vec<String>)> = wanted
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect();
    ev.evaluate(list.clone())?;
    let mut groups: HashMap<i64, BTreeSet<String>> = HashMap::new();
    let mut out = Verdicts::new();
    for (key, versions) in list {
        for version in versions {
            let hits: Vec<_> = ev
                .hits(&key, &version)
                .iter()
                .filter(|h| h.verdict == Verdict::Affected)
                .cloned()
                .collect();
            if hits.is_empty() {
                // Recorded as evaluated: callers tell "nothing affects it" from "not asked".
                out.entry(key.clone())
                    .or_default()
                    .insert(version, Vec::new());
                continue;
            }
            let mut by_group: BTreeMap<String, Match> = BTreeMap::new();
            for hit in hits {
                let head = ev.advisory(hit.advisory)?.clone();
                if matches!(head.kind, AdvisoryKind::Informational(_)) {
                    continue;
                }
                let (kev, epss) = ev.flags(hit.advisory)?;
                let ids = match groups.entry(hit.advisory) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        let mut ids: BTreeSet<String> =
                            db.alias_group(&head.id)?.into_iter().collect();
                        ids.insert(head.id.clone());
                        ids.extend(head.aliases.iter().cloned());
                        v.insert(ids)
                    }
                };
                let group = canonical(ids);
                let m = by_group.entry(group.clone()).or_insert_with(|| Match {
                    alias_group: group,
                    group_ids: ids.iter().cloned().collect(),
                    advisories: Vec::new(),
                    title: String::new(),
                    severity: head.severity,
                    cvss: None,
                    kev: None,
                    epss: None,
                    fixed_versions: Vec::new(),
                    malicious: false,
                });
                if !m.advisories.contains(&head.id) {
                    m.advisories.push(head.id.clone());
                }
                // The most severe record's words describe the group.
                if m.title.is_empty() || head.severity > m.severity {
                    m.title = head.summary.clone();
                }
                m.severity = m.severity.max(head.severity);
                m.cvss = match (m.cvss, head.score) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                if m.kev.is_none() {
                    m.kev = kev.map(|k| KevInfo {
                        cve: k.cve,
                        date_added: k.date_added,
                        due_date: k.due_date,
                        ransomware: k.ransomware,
                    });
                }
                if let Some(e) = epss
                    && m.epss.as_ref().is_none_or(|x| e.score > x.score)
                {
                    m.epss = Some(EpssInfo {
                        cve: e.cve,
                        score: e.score,
                        percentile: e.percentile,
                    });
                }
                for f in hit.fixed {
                    if !m.fixed_versions.contains(&f) {
                        m.fixed_versions.push(f);
                    }
                }
                m.malicious |= head.kind == AdvisoryKind::Malicious;
                for id in ids.iter() {
                    if !m.group_ids.contains(id) {
                        m.group_ids.push(id.clone());
                    }
                }
            }
            let mut matches: Vec<Match> = by_group.into_values().collect();
            for m in &mut matches {
                m.advisories.sort();
                m.group_ids.sort();
            }
            out.entry(key.clone()).or_default().insert(version, matches);
        }
    }
    Ok(out)
}
