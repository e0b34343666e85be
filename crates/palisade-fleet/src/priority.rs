//! How urgent a finding is, as one number that lists sort by and the reasons that add up to it,
//! so a customer can see why their live shop comes before someone's staging site. The weights
//! follow the order the security process asks for: exploited in the wild (KEV) before anything
//! else, then the likelihood of exploitation (EPSS) with the severity (CVSS), then the
//! environment (live before staging before dev), whether a fix exists, and the contract tier.
//!
//! The KEV weight is larger than every other weight together, so a KEV-listed finding always
//! ranks above one that is not; within each band the rest orders. The score is stored with the
//! finding (an indexable column, not computed at read time) and recomputed when its inputs change.

use palisade_core::tenant::{EnvironmentKind, SlaTier};
use palisade_vulns::SeverityLevel;
use serde::{Deserialize, Serialize};

use crate::finding::{EpssInfo, KevInfo};

/// One contribution to a priority.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reason {
    /// A stable machine name: `kev`, `ransomware`, `epss`, `cvss`, `environment`, `fix`, `tier`,
    /// `dev`, `malicious`.
    pub code: String,
    pub points: i32,
    /// The reason in plain words.
    pub text: String,
}

/// A score and its reasons, largest contribution first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Priority {
    pub score: i32,
    pub reasons: Vec<Reason>,
}

/// Everything the priority depends on.
#[derive(Clone, Copy, Debug)]
pub struct PriorityInput<'a> {
    pub kev: Option<&'a KevInfo>,
    pub epss: Option<&'a EpssInfo>,
    pub cvss: Option<f64>,
    pub severity: SeverityLevel,
    pub environment: EnvironmentKind,
    pub fix_available: bool,
    pub tier: SlaTier,
    pub dev: bool,
    pub malicious: bool,
}

const KEV: i32 = 600;
const RANSOMWARE: i32 = 50;
const EPSS_MAX: i32 = 150;
const CVSS_MAX: i32 = 200;

/// Even with the development-dependency deduction, larger than every other weight together
/// (EPSS + CVSS + live + fix + premium tier).
const _: () = assert!(KEV - 30 > EPSS_MAX + CVSS_MAX + 100 + 50 + 50);

/// Scores a finding.
pub fn score(input: &PriorityInput<'_>) -> Priority {
    let mut reasons = Vec::new();
    contributions(input, &mut |code, points, text| {
        reasons.push(Reason {
            code: code.to_owned(),
            points,
            text: text(),
        })
    });
    reasons.sort_by_key(|r| std::cmp::Reverse(r.points));
    Priority {
        score: reasons.iter().map(|r| r.points).sum(),
        reasons,
    }
}

/// The score alone, without writing its reasons: "who is affected" scores thousands of
/// installations whose reasons nobody reads there, and formatting them was a tenth of that answer.
pub fn points(input: &PriorityInput<'_>) -> i32 {
    let mut sum = 0;
    contributions(input, &mut |_, points, _| sum += points);
    sum
}

/// Receives each contribution: its code, its points, and what writes its reason when called.
type Add<'a> = dyn FnMut(&'static str, i32, &dyn Fn() -> String) + 'a;

/// Calls `add` for each contribution of `input`.
fn contributions(input: &PriorityInput<'_>, add: &mut Add<'_>) {
    if let Some(k) = input.kev {
        add("kev", KEV, &|| {
            format!(
                "exploited in the wild: listed in CISA KEV as {} since {}",
                k.cve, k.date_added
            )
        });
        if k.ransomware {
            add("ransomware", RANSOMWARE, &|| {
                "used in ransomware campaigns".to_owned()
            });
        }
    }
    if input.malicious {
        add("malicious", KEV, &|| {
            "a malicious package: remove it and rotate credentials".to_owned()
        });
    }
    if let Some(e) = input.epss {
        let points = (e.percentile.clamp(0.0, 1.0) * f64::from(EPSS_MAX)).round() as i32;
        add("epss", points, &|| {
            format!(
                "{:.1}% chance of exploitation within 30 days (EPSS, higher than {:.0}% of CVEs)",
                e.score * 100.0,
                e.percentile * 100.0
            )
        });
    }
    let cvss = match (input.cvss, input.severity) {
        (Some(s), _) => s,
        (None, SeverityLevel::Critical) => 9.5,
        (None, SeverityLevel::High) => 8.0,
        (None, SeverityLevel::Medium | SeverityLevel::Unknown) => 5.5,
        (None, SeverityLevel::Low) => 2.5,
        (None, _) => 0.0,
    };
    add(
        "cvss",
        (cvss.clamp(0.0, 10.0) / 10.0 * f64::from(CVSS_MAX)).round() as i32,
        &|| match (input.cvss, input.severity) {
            (Some(s), _) => format!("CVSS {s:.1}, {}", SeverityLevel::from_score(s).name()),
            (None, SeverityLevel::Unknown) => {
                "severity not published; counted as medium".to_owned()
            }
            (None, level) => format!("rated {} by its source", level.name()),
        },
    );
    let (env_points, env_text) = match input.environment {
        EnvironmentKind::Live => (100, "live environment"),
        EnvironmentKind::Staging => (40, "staging environment"),
        EnvironmentKind::Dev => (10, "development environment"),
    };
    add("environment", env_points, &|| env_text.to_owned());
    if input.fix_available {
        add("fix", 50, &|| "a fixed version is available".to_owned());
    } else {
        add("fix", 0, &|| "no fixed version yet".to_owned());
    }
    let tier_points = match input.tier {
        SlaTier::Premium => 50,
        SlaTier::Standard => 25,
        SlaTier::Basic => 0,
    };
    add("tier", tier_points, &|| {
        format!("{} contract", input.tier.as_str())
    });
    if input.dev {
        add("dev", -30, &|| {
            "development dependency (still deployed, so still counted)".to_owned()
        });
    }
}

/// A coarse band for dashboards, from the score.
pub fn band(score: i32) -> &'static str {
    match score {
        s if s >= KEV => "urgent",
        s if s >= 350 => "high",
        s if s >= 200 => "medium",
        _ => "low",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn input<'a>() -> PriorityInput<'a> {
        PriorityInput {
            kev: None,
            epss: None,
            cvss: Some(5.0),
            severity: SeverityLevel::Medium,
            environment: EnvironmentKind::Staging,
            fix_available: true,
            tier: SlaTier::Standard,
            dev: false,
            malicious: false,
        }
    }

    #[test]
    fn live_ranks_above_staging_above_dev() {
        let mut i = input();
        let scores: Vec<i32> = [
            EnvironmentKind::Live,
            EnvironmentKind::Staging,
            EnvironmentKind::Dev,
        ]
        .into_iter()
        .map(|e| {
            i.environment = e;
            score(&i).score
        })
        .collect();
        assert!(scores[0] > scores[1] && scores[1] > scores[2], "{scores:?}");
    }

    #[test]
    fn reasons_explain_the_score_and_name_the_kev_listing() {
        let kev = KevInfo {
            cve: "CVE-2021-44228".into(),
            date_added: "2021-12-10".parse().unwrap(),
            due_date: None,
            ransomware: true,
        };
        let mut i = input();
        i.kev = Some(&kev);
        let p = score(&i);
        assert_eq!(p.score, p.reasons.iter().map(|r| r.points).sum::<i32>());
        assert_eq!(p.reasons[0].code, "kev");
        assert!(p.reasons[0].text.contains("CVE-2021-44228"));
        assert!(p.reasons.iter().any(|r| r.code == "ransomware"));
        assert_eq!(band(p.score), "urgent");
    }

    fn arb_input() -> impl Strategy<Value = (Option<f64>, f64, u8, bool, u8, bool)> {
        (
            prop::option::of(0.0f64..=10.0),
            0.0f64..=1.0,
            0u8..3,
            any::<bool>(),
            0u8..3,
            any::<bool>(),
        )
    }

    proptest! {
        /// Whatever else differs, a KEV-listed finding outranks one that is not listed.
        #[test]
        fn kev_always_comes_first(a in arb_input(), b in arb_input()) {
            let kev = KevInfo { cve: "CVE-1".into(), date_added: "2024-01-01".parse().unwrap(), due_date: None, ransomware: false };
            fn build((cvss, _, env, fix, tier, dev): (Option<f64>, f64, u8, bool, u8, bool), epss: &EpssInfo) -> PriorityInput<'_> {
                let mut i = input();
                i.cvss = cvss;
                i.epss = Some(epss);
                i.environment = EnvironmentKind::ALL[env as usize];
                i.fix_available = fix;
                i.tier = SlaTier::ALL[tier as usize];
                i.dev = dev;
                i
            }
            let ea = EpssInfo { cve: "CVE-1".into(), score: a.1, percentile: a.1 };
            let eb = EpssInfo { cve: "CVE-2".into(), score: b.1, percentile: b.1 };
            let mut listed = build(a, &ea);
            listed.kev = Some(&kev);
            let unlisted = build(b, &eb);
            prop_assert!(score(&listed).score > score(&unlisted).score);
        }

        /// The score without its reasons is the same number the reasons add up to.
        #[test]
        fn points_is_the_sum_of_the_reasons(
            a in arb_input(),
            severity in 0usize..6,
            kev in any::<bool>(),
            ransomware in any::<bool>(),
            malicious in any::<bool>(),
        ) {
            let listing = KevInfo { cve: "CVE-1".into(), date_added: "2024-01-01".parse().unwrap(), due_date: None, ransomware };
            let epss = EpssInfo { cve: "CVE-1".into(), score: a.1, percentile: a.1 };
            let mut i = input();
            i.cvss = a.0;
            i.severity = [
                SeverityLevel::Unknown,
                SeverityLevel::None,
                SeverityLevel::Low,
                SeverityLevel::Medium,
                SeverityLevel::High,
                SeverityLevel::Critical,
            ][severity];
            i.epss = (a.1 > 0.5).then_some(&epss);
            i.kev = kev.then_some(&listing);
            i.environment = EnvironmentKind::ALL[a.2 as usize];
            i.fix_available = a.3;
            i.tier = SlaTier::ALL[a.4 as usize];
            i.dev = a.5;
            i.malicious = malicious;
            let full = score(&i);
            prop_assert_eq!(points(&i), full.score);
            prop_assert_eq!(full.score, full.reasons.iter().map(|r| r.points).sum::<i32>());
        }
    }
}
