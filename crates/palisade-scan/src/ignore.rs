//! The ignore file: findings a team has decided to accept, each with a reason and an expiry
//! date, so no suppression lives forever unnoticed. Expired entries stop applying and are
//! reported; entries that match nothing are reported too (cargo-deny's "advisory-not-detected"),
//! because a stale suppression can hide the next advisory with the same id.
//!
//! ```toml
//! [[ignore]]
//! id = "CVE-2017-9841"            # an advisory id or any of its aliases
//! reason = "phpunit is not deployed to the web root"
//! expires = "2027-03-31"
//! package = "phpunit/phpunit"     # optional: only this package
//! path = "sites/shop"             # optional: only inventories under this path
//! ```

use jiff::civil::Date;
use palisade_vulns::located::line_of_offset;
use serde::{Deserialize, Serialize};

/// Most entries one file may hold.
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreEntry {
    pub id: String,
    pub reason: String,
    pub expires: Date,
    #[serde(default)]
    pub package: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreFile {
    #[serde(default)]
    pub ignore: Vec<IgnoreEntry>,
}

/// Why the ignore file was refused.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct IgnoreError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl IgnoreFile {
    pub fn parse(file: &str, text: &str) -> Result<IgnoreFile, IgnoreError> {
        let parsed: IgnoreFile = toml::from_str(text).map_err(|e| IgnoreError {
            file: file.to_owned(),
            line: e
                .span()
                .and_then(|s| line_of_offset(text, s.start.min(text.len()))),
            message: e.message().to_owned(),
        })?;
        if parsed.ignore.len() > MAX_ENTRIES {
            return Err(IgnoreError {
                file: file.to_owned(),
                line: None,
                message: format!("more than {MAX_ENTRIES} entries"),
            });
        }
        for (i, e) in parsed.ignore.iter().enumerate() {
            if e.reason.trim().is_empty() {
                return Err(IgnoreError {
                    file: file.to_owned(),
                    line: None,
                    message: format!("ignore[{i}].reason: a reason is required ({})", e.id),
                });
            }
        }
        Ok(parsed)
    }

    /// The first live entry that covers a finding with these ids, package and path.
    pub fn matching(
        &self,
        today: Date,
        ids: &[&str],
        package: &str,
        path: &str,
    ) -> Option<(usize, &IgnoreEntry)> {
        self.ignore.iter().enumerate().find(|(_, e)| {
            e.expires >= today
                && ids.iter().any(|id| id.eq_ignore_ascii_case(&e.id))
                && e.package
                    .as_deref()
                    .is_none_or(|p| p.eq_ignore_ascii_case(package))
                && e.path.as_deref().is_none_or(|p| path.contains(p))
        })
    }
}
