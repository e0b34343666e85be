//! The verdict for one installed version against one advisory's entry for its package, by the
//! OSV evaluation rules: affected when the version lies in any interval or equals an enumerated
//! version. Anything that cannot be compared gets the third verdict, "cannot evaluate", which the
//! scanner shows and counts instead of guessing either way.

use palisade_versions::{Scheme, Version, VersionErrorKind};
use serde::Serialize;

use crate::advisory::{Advisory, AdvisoryKind, Affected};
use crate::interval::{ParsedInterval, contains_sorted, parse_interval, union};

/// The outcome of comparing an installed version with an advisory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "kebab-case")]
pub enum Verdict {
    Affected,
    NotAffected,
    CannotEvaluate(String),
}

/// An `Affected` entry with its bounds parsed and intervals merged, ready for many comparisons.
#[derive(Clone, Debug)]
pub struct CompiledAffected {
    scheme: Scheme,
    intervals: Vec<ParsedInterval>,
    versions: Vec<Version>,
    raw_versions: Vec<String>,
    problem: Option<String>,
}

impl CompiledAffected {
    /// Compiles `affected` for an advisory of `kind`. Malicious-package records that enumerate
    /// versions match those versions exactly: their ranges often say "every version" while the
    /// enumeration says which releases carried the payload.
    pub fn compile(affected: &Affected, kind: &AdvisoryKind) -> CompiledAffected {
        let scheme = affected.package.ecosystem.scheme();
        let mut problem = affected.problem.clone();
        let exact_only = *kind == AdvisoryKind::Malicious && !affected.versions.is_empty();
        let intervals = if exact_only {
            Vec::new()
        } else {
            match affected
                .intervals
                .iter()
                .map(|i| parse_interval(scheme, i))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(list) => union(list),
                Err(e) => {
                    problem.get_or_insert(e);
                    Vec::new()
                }
            }
        };
        let versions = affected
            .versions
            .iter()
            .filter_map(|v| scheme.parse(v).ok())
            .collect();
        CompiledAffected {
            scheme,
            intervals,
            versions,
            raw_versions: affected.versions.clone(),
            problem,
        }
    }

    /// The verdict for `installed`.
    pub fn evaluate(&self, installed: &str) -> Verdict {
        if self.raw_versions.iter().any(|v| v == installed) {
            return Verdict::Affected;
        }
        let v = match self.scheme.parse(installed) {
            Ok(v) => v,
            Err(e) => {
                let why = match e.kind {
                    VersionErrorKind::NotComparable => {
                        format!("{installed:?} is a branch, not a release: compare its commit")
                    }
                    VersionErrorKind::Invalid => e.to_string(),
                };
                return Verdict::CannotEvaluate(why);
            }
        };
        if self.versions.contains(&v) || contains_sorted(&self.intervals, &v) {
            return Verdict::Affected;
        }
        match &self.problem {
            Some(p) => Verdict::CannotEvaluate(format!("advisory range: {p}")),
            None => Verdict::NotAffected,
        }
    }
}

/// Evaluates every entry of `advisory` for `key`'s package at `installed`: affected if any entry
/// says so; otherwise "cannot evaluate" if any entry could not decide. Withdrawn advisories affect
/// nothing.
pub fn evaluate_advisory(
    advisory: &Advisory,
    package: &crate::PackageKey,
    installed: &str,
) -> Verdict {
    if advisory.is_withdrawn() {
        return Verdict::NotAffected;
    }
    let mut verdict = Verdict::NotAffected;
    for a in advisory.affected.iter().filter(|a| &a.package == package) {
        match CompiledAffected::compile(a, &advisory.kind).evaluate(installed) {
            Verdict::Affected => return Verdict::Affected,
            Verdict::CannotEvaluate(why) => verdict = Verdict::CannotEvaluate(why),
            Verdict::NotAffected => {}
        }
    }
    verdict
}
