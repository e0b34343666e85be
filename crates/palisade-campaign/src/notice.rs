//! What the customer reads: the opening notice of a campaign's ticket and the message that tells
//! them it is done. Written for a site owner, not a security analyst: what the problem is, which
//! of their sites, when, and what (usually nothing) they need to do.

use std::collections::BTreeMap;
use std::fmt::Write;

use jiff::civil::Date;

use crate::model::{Campaign, CampaignEnv, Step};

/// The longest subject a ticket takes (the desk's limit).
const SUBJECT_CHARS: usize = 200;

/// Subject and body of the ticket that opens a campaign for one client.
pub fn opening(
    c: &Campaign,
    client_name: &str,
    envs: &[CampaignEnv],
    planned_for: Option<Date>,
) -> (String, String) {
    let packages = package_names(envs);
    let subject: String = format!(
        "Security update for your sites: {} ({})",
        c.advisory,
        packages.join(", ")
    )
    .chars()
    .take(SUBJECT_CHARS)
    .collect();
    let mut b = String::new();
    let _ = writeln!(b, "Hello {client_name},\n");
    let _ = writeln!(
        b,
        "A security vulnerability has been published that affects software on your sites: {} \
         ({} severity).",
        c.advisory, c.severity
    );
    if !c.summary.trim().is_empty() {
        let _ = writeln!(b, "\nWhat it is: {}", c.summary.trim());
    }
    let _ = writeln!(b, "\nWhere:");
    for (site, list) in by_site(envs) {
        let _ = writeln!(b, "- {site}");
        for e in list {
            for p in &e.packages {
                let fix = if p.fixed.is_empty() {
                    "no fixed version published yet".to_owned()
                } else {
                    format!("fixed in {}", p.fixed.join(" / "))
                };
                let _ = writeln!(
                    b,
                    "  - {} ({}): {} {} installed, {fix}",
                    e.environment_name,
                    e.kind.as_str(),
                    p.package,
                    p.installed
                );
            }
        }
    }
    let when = match planned_for {
        Some(d) => format!("on {d}"),
        None => "as soon as possible".to_owned(),
    };
    let _ = writeln!(
        b,
        "\nWhen: we will apply the update {when}. We patch your staging environment first and \
         test it; your live site is updated only after staging has passed."
    );
    let _ = writeln!(
        b,
        "\nWhat you need to do: nothing. If you have a change freeze, want to test staging \
         yourself, or see anything unusual, reply to this ticket."
    );
    (subject, b)
}

/// The message that closes a client's part of a campaign.
pub fn completion(c: &Campaign, envs: &[CampaignEnv]) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "The security update for {} is complete. Each environment below now runs a version \
         that is no longer affected, confirmed by a fresh inventory of the site:\n",
        c.advisory
    );
    for (site, list) in by_site(envs) {
        let _ = writeln!(b, "- {site}");
        for e in list {
            let status = match e.step {
                Step::Verified => "updated and verified".to_owned(),
                Step::Excluded => format!(
                    "not updated: {}",
                    e.exception.as_deref().unwrap_or("excluded")
                ),
                other => other.to_string(),
            };
            let _ = writeln!(
                b,
                "  - {} ({}): {status}",
                e.environment_name,
                e.kind.as_str()
            );
        }
    }
    let _ = writeln!(
        b,
        "\nNo action is needed from you. Reply to this ticket if you notice anything unusual."
    );
    b
}

fn by_site(envs: &[CampaignEnv]) -> BTreeMap<&str, Vec<&CampaignEnv>> {
    let mut m: BTreeMap<&str, Vec<&CampaignEnv>> = BTreeMap::new();
    for e in envs {
        m.entry(e.site_name.as_str()).or_default().push(e);
    }
    for list in m.values_mut() {
        list.sort_by_key(|e| (e.position, e.kind));
    }
    m
}

fn package_names(envs: &[CampaignEnv]) -> Vec<String> {
    let mut names: Vec<String> = envs
        .iter()
        .flat_map(|e| e.packages.iter().map(|p| p.package.clone()))
        .collect();
    names.sort();
    names.dedup();
    names
}
