//! Remediation deadlines. Each contract tier has a number of days per severity (by default
//! 1 / 7 / 30 / 90 for critical / high / medium / low, as most security policies write them); the
//! clock starts when the finding is detected or, when the tier says so, when a fixed version
//! becomes available (a deadline to apply a patch that does not exist helps nobody). Days are
//! calendar days of 24 hours in UTC: remediation deadlines are not support hours.

use jiff::{SignedDuration, Timestamp};
use palisade_core::tenant::SlaTier;
use palisade_vulns::SeverityLevel;
use serde::{Deserialize, Serialize};

/// When the clock starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockStart {
    #[default]
    Detection,
    /// When a fixed version is first known (or detection, if later).
    FixAvailable,
}

/// Days to remediate per severity, for one tier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaTargets {
    pub critical: u32,
    pub high: u32,
    pub medium: u32,
    pub low: u32,
    pub start: ClockStart,
}

impl Default for SlaTargets {
    fn default() -> Self {
        SlaTargets {
            critical: 1,
            high: 7,
            medium: 30,
            low: 90,
            start: ClockStart::Detection,
        }
    }
}

impl SlaTargets {
    /// Days for a severity; an unknown severity gets the medium target (not knowing how bad it is
    /// is no reason to wait longest), and "none" gets the low one.
    pub fn days(&self, severity: SeverityLevel) -> u32 {
        match severity {
            SeverityLevel::Critical => self.critical,
            SeverityLevel::High => self.high,
            SeverityLevel::Medium | SeverityLevel::Unknown => self.medium,
            SeverityLevel::Low | SeverityLevel::None => self.low,
        }
    }
}

/// Targets for every tier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaPolicy {
    pub basic: SlaTargets,
    pub standard: SlaTargets,
    pub premium: SlaTargets,
}

/// Where a finding stands against its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum SlaStatus {
    /// Closed, suppressed, or its clock has not started (no fix yet).
    None,
    OnTrack {
        due: Timestamp,
    },
    /// Less than a fifth of the allowed time left.
    DueSoon {
        due: Timestamp,
    },
    Breached {
        due: Timestamp,
    },
}

impl SlaPolicy {
    pub fn targets(&self, tier: SlaTier) -> &SlaTargets {
        match tier {
            SlaTier::Basic => &self.basic,
            SlaTier::Standard => &self.standard,
            SlaTier::Premium => &self.premium,
        }
    }

    /// The deadline, or `None` while the clock waits for a fix.
    pub fn due_at(
        &self,
        tier: SlaTier,
        severity: SeverityLevel,
        detected_at: Timestamp,
        fix_available_at: Option<Timestamp>,
    ) -> Option<Timestamp> {
        let t = self.targets(tier);
        let start = match t.start {
            ClockStart::Detection => detected_at,
            ClockStart::FixAvailable => detected_at.max(fix_available_at?),
        };
        let days = i64::from(t.days(severity));
        start
            .checked_add(SignedDuration::from_hours(24 * days))
            .ok()
    }

    /// The status of an open finding with deadline `due`, detected at `detected_at`.
    pub fn status(
        open: bool,
        detected_at: Timestamp,
        due: Option<Timestamp>,
        now: Timestamp,
    ) -> SlaStatus {
        let Some(due) = due.filter(|_| open) else {
            return SlaStatus::None;
        };
        if now >= due {
            return SlaStatus::Breached { due };
        }
        let allowed = due.duration_since(detected_at);
        let left = due.duration_since(now);
        if left.as_secs() * 5 < allowed.as_secs() {
            SlaStatus::DueSoon { due }
        } else {
            SlaStatus::OnTrack { due }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_are_1_7_30_90_days_from_detection() {
        let p = SlaPolicy::default();
        let at = t("2026-03-28T12:00:00Z");
        let due = |s| p.due_at(SlaTier::Basic, s, at, None).unwrap();
        assert_eq!(due(SeverityLevel::Critical), t("2026-03-29T12:00:00Z"));
        assert_eq!(due(SeverityLevel::High), t("2026-04-04T12:00:00Z"));
        assert_eq!(due(SeverityLevel::Medium), t("2026-04-27T12:00:00Z"));
        assert_eq!(due(SeverityLevel::Unknown), due(SeverityLevel::Medium));
        assert_eq!(due(SeverityLevel::Low), t("2026-06-26T12:00:00Z"));
    }

    #[test]
    fn a_tier_may_start_the_clock_when_a_fix_exists() {
        let mut p = SlaPolicy::default();
        p.premium.start = ClockStart::FixAvailable;
        p.premium.high = 3;
        let detected = t("2026-01-01T00:00:00Z");
        assert_eq!(
            p.due_at(SlaTier::Premium, SeverityLevel::High, detected, None),
            None
        );
        assert_eq!(
            p.due_at(
                SlaTier::Premium,
                SeverityLevel::High,
                detected,
                Some(t("2026-01-10T00:00:00Z"))
            ),
            Some(t("2026-01-13T00:00:00Z"))
        );
        // A fix known before detection starts the clock at detection.
        assert_eq!(
            p.due_at(
                SlaTier::Premium,
                SeverityLevel::High,
                detected,
                Some(t("2025-06-01T00:00:00Z"))
            ),
            Some(t("2026-01-04T00:00:00Z"))
        );
    }

    #[test]
    fn status_warns_in_the_last_fifth_and_breaches_at_the_deadline() {
        let detected = t("2026-01-01T00:00:00Z");
        let due = Some(t("2026-01-11T00:00:00Z"));
        let at = |s| SlaPolicy::status(true, detected, due, t(s));
        assert!(matches!(
            at("2026-01-05T00:00:00Z"),
            SlaStatus::OnTrack { .. }
        ));
        assert!(matches!(
            at("2026-01-09T00:00:01Z"),
            SlaStatus::DueSoon { .. }
        ));
        assert!(matches!(
            at("2026-01-11T00:00:00Z"),
            SlaStatus::Breached { .. }
        ));
        assert_eq!(
            SlaPolicy::status(false, detected, due, t("2026-02-01T00:00:00Z")),
            SlaStatus::None
        );
    }
}
