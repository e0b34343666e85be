//! The rules of fleet vulnerability management, as pure code: what changed between two
//! inventories of an environment ([`inventory`]), what a finding is and how its state may change
//! ([`finding`]), how urgent it is and why ([`priority`]), when it must be fixed by ([`sla`]), and
//! how a fresh set of matches turns into new findings, closed findings and history events
//! ([`reconcile`]).
//!
//! Nothing here reads a clock, a database or a file: the matcher service gathers the facts and
//! stores the outcome, so every rule is tested with plain values.

pub mod finding;
pub mod inventory;
pub mod priority;
pub mod reconcile;
pub mod sla;

pub use finding::{
    EpssInfo, EventKind, Finding, FindingEvent, FindingState, Justification, KevInfo, Match,
    RiskRequest, TransitionError, Triage,
};
pub use inventory::{Change, ChangeKind, Package, diff};
pub use priority::{Priority, Reason};
pub use reconcile::{EnvFacts, FindingChanges, InstalledVersion, Observed, reconcile};
pub use sla::{SlaPolicy, SlaStatus, SlaTargets};
