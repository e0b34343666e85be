//! Severity: CVSS vectors (v2, v3.x, v4.0) parsed and scored with the RustSec `cvss` crate, and
//! the qualitative levels sources state when they give no vector.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A severity statement as the source gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityVector {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4` (OSV's names) or another label.
    pub kind: String,
    pub vector: String,
}

impl SeverityVector {
    pub fn new(kind: impl Into<String>, vector: impl Into<String>) -> SeverityVector {
        SeverityVector {
            kind: kind.into(),
            vector: vector.into(),
        }
    }

    /// The base score, when the vector parses (v3.0, v3.1 and v4.0; v2 vectors carry no prefix
    /// and are scored too).
    pub fn score(&self) -> Option<f64> {
        let v = self.vector.trim();
        if v.starts_with("CVSS:4.0/") {
            return cvss::v4::Vector::from_str(v)
                .ok()
                .map(|x| x.score().value());
        }
        if v.starts_with("CVSS:3.") {
            return cvss::v3::Vector::from_str(v)
                .ok()
                .map(|x| x.score().value());
        }
        if self.kind.eq_ignore_ascii_case("CVSS_V2") {
            return cvss::v2::Vector::from_str(v)
                .ok()
                .map(|x| x.score().value());
        }
        None
    }
}

/// Qualitative severity, ordered.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum SeverityLevel {
    #[default]
    Unknown,
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl SeverityLevel {
    /// CVSS v3/v4 qualitative rating scale.
    pub fn from_score(score: f64) -> SeverityLevel {
        match score {
            s if s >= 9.0 => SeverityLevel::Critical,
            s if s >= 7.0 => SeverityLevel::High,
            s if s >= 4.0 => SeverityLevel::Medium,
            s if s > 0.0 => SeverityLevel::Low,
            _ => SeverityLevel::None,
        }
    }

    /// GHSA (`LOW`, `MODERATE`, `HIGH`, `CRITICAL`), Debian urgency and plain words.
    pub fn from_text(s: &str) -> SeverityLevel {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" => SeverityLevel::Critical,
            "high" | "important" => SeverityLevel::High,
            "moderate" | "medium" => SeverityLevel::Medium,
            "low" | "unimportant" | "negligible" => SeverityLevel::Low,
            "none" => SeverityLevel::None,
            _ => SeverityLevel::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SeverityLevel::Unknown => "unknown",
            SeverityLevel::None => "none",
            SeverityLevel::Low => "low",
            SeverityLevel::Medium => "medium",
            SeverityLevel::High => "high",
            SeverityLevel::Critical => "critical",
        }
    }
}

impl FromStr for SeverityLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match SeverityLevel::from_text(s) {
            SeverityLevel::Unknown if !s.eq_ignore_ascii_case("unknown") => Err(format!(
                "unknown severity {s:?}: expected low, medium, high or critical"
            )),
            level => Ok(level),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss_v31_and_v4_vectors_are_scored() {
        let v3 = SeverityVector::new("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
        assert_eq!(v3.score(), Some(9.8));
        let v4 = SeverityVector::new(
            "CVSS_V4",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        );
        assert_eq!(v4.score(), Some(9.3));
        assert_eq!(SeverityVector::new("CVSS_V3", "garbage").score(), None);
    }

    #[test]
    fn levels_follow_the_cvss_rating_scale() {
        assert_eq!(SeverityLevel::from_score(9.8), SeverityLevel::Critical);
        assert_eq!(SeverityLevel::from_score(7.0), SeverityLevel::High);
        assert_eq!(SeverityLevel::from_score(5.3), SeverityLevel::Medium);
        assert_eq!(SeverityLevel::from_text("MODERATE"), SeverityLevel::Medium);
    }
}
