//! Parsers for the feeds Palisade imports, into the `palisade-vulns` model: advisory sources
//! (OSV records, the RustSec advisory-db folder, the FriendsOfPHP security-advisories folder, the
//! Debian security tracker's JSON) and prioritisation feeds (CISA KEV, EPSS).
//!
//! Pure code: every parser takes the bytes of one file and the name to show in errors; walking
//! folders, opening zip archives and downloading are the caller's job. Ranges are turned into
//! intervals here, once, in the affected ecosystem's version scheme, so the matcher never re-reads
//! a source's syntax. A bound that does not parse is not an error for the record: the entry keeps
//! a `problem` and the matcher answers "cannot evaluate" for it. Errors name the file, the line
//! and the field, and no input makes a parser panic.

mod cargo_req;
mod detect;
mod error;
mod util;

pub mod debian;
pub mod epss;
pub mod friendsofphp;
pub mod kev;
pub mod osv;
pub mod rustsec;

pub use detect::{FeedFormat, detect};
pub use epss::EpssFile;
pub use error::FeedError;
pub use osv::OsvStats;

/// The largest single-record file (one OSV JSON, one RustSec Markdown, one FriendsOfPHP YAML).
/// Real records are a few kilobytes; anything this big is corrupt or hostile.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// The largest whole-feed file (the Debian tracker JSON, about 70 MB in 2025; KEV; EPSS).
pub const MAX_FEED_BYTES: usize = 512 * 1024 * 1024;
