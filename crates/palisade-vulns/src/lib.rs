//! The vulnerability engine's model, shared by the advisory parsers, the inventory parsers, the
//! advisory store and the scanner: package keys per ecosystem, advisories whose ranges are parsed
//! once into intervals, alias groups, severity, and the OSV evaluation rules. Pure code, no I/O.

pub mod advisory;
pub mod aliases;
pub mod bytes;
pub mod ecosystem;
pub mod interval;
pub mod located;
pub mod matching;
pub mod severity;

pub use advisory::{Advisory, AdvisoryKind, Affected, DebianState, EpssScore, KevEntry, Source};
pub use ecosystem::{Ecosystem, PackageKey};
pub use interval::{Bound, Event, Interval};
pub use located::LocatedError;
pub use matching::{CompiledAffected, Verdict, evaluate_advisory};
pub use severity::{SeverityLevel, SeverityVector};
