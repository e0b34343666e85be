//! Turns what is installed and what matched into finding changes. The matcher evaluates a
//! scope — some (environment, package) pairs, after a new inventory or a changed advisory — and
//! hands over, for each pair, the versions installed now and the alias groups affecting each. The
//! stored findings of the same pairs are compared with that, and only differences come out:
//!
//! - a match with no finding creates one (`detected`);
//! - a match with a finding refreshes its attributes (title, severity, KEV, EPSS, fixes, priority,
//!   deadline) without an event — a reworded advisory is not news — and brings back a finding that
//!   had gone inactive or was verified fixed;
//! - a finding with no match is closed with the reason the evidence gives: the version is still
//!   installed, so the advisory no longer affects it (withdrawn or corrected: inactive); another
//!   version is installed that the group does not affect (fixed, then verified by that inventory);
//!   another affected version replaced it (inactive, superseded by that version's own finding); or
//!   the package is gone (inactive).
//!
//! Findings are matched to groups by canonical id and, failing that, by any id of the group, so a
//! finding survives two alias groups merging under a new canonical id.

use std::collections::HashMap;

use jiff::Timestamp;
use palisade_core::tenant::{EnvironmentKind, SlaTier};
use palisade_core::{ClientId, EnvironmentId, FindingId, SiteId};
use palisade_vulns::PackageKey;

use crate::finding::{EventKind, Finding, FindingEvent, FindingState, Match};
use crate::priority::{Priority, PriorityInput, points, score};
use crate::sla::SlaPolicy;

/// What the rules need to know about an environment.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvFacts {
    pub id: EnvironmentId,
    pub client_id: ClientId,
    pub site_id: SiteId,
    pub kind: EnvironmentKind,
    pub tier: SlaTier,
    /// When its newest inventory was taken: evidence for or against a claimed fix.
    pub inventory_at: Option<Timestamp>,
}

/// One installed version of a package and the alias groups that affect it.
#[derive(Clone, Debug, PartialEq)]
pub struct InstalledVersion {
    pub version: String,
    pub dev: bool,
    pub matches: Vec<Match>,
}

/// One (environment, package) pair of a scope: what is installed now (empty when the package
/// was removed).
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub env: EnvFacts,
    pub key: PackageKey,
    pub installed: Vec<InstalledVersion>,
}

/// What to store: new findings, changed findings (whole rows) and the events that explain them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FindingChanges {
    pub created: Vec<Finding>,
    pub updated: Vec<Finding>,
    pub events: Vec<FindingEvent>,
}

impl FindingChanges {
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.updated.is_empty() && self.events.is_empty()
    }

    /// Appends another scope's changes.
    pub fn extend(&mut self, other: FindingChanges) {
        self.created.extend(other.created);
        self.updated.extend(other.updated);
        self.events.extend(other.events);
    }
}

fn same_group(f: &Finding, m: &Match) -> bool {
    f.alias_group == m.alias_group || m.group_ids.contains(&f.alias_group)
}

/// The priority a finding of `m` in `env` gets, as `reconcile` stores it.
pub fn priority_of(m: &Match, env: &EnvFacts, dev: bool) -> Priority {
    score(&priority_input(m, env, dev))
}

/// [`priority_of`]'s score alone, without its reasons.
pub fn points_of(m: &Match, env: &EnvFacts, dev: bool) -> i32 {
    points(&priority_input(m, env, dev))
}

fn priority_input<'a>(m: &'a Match, env: &EnvFacts, dev: bool) -> PriorityInput<'a> {
    PriorityInput {
        kev: m.kev.as_ref(),
        epss: m.epss.as_ref(),
        cvss: m.cvss,
        severity: m.severity,
        environment: env.kind,
        fix_available: !m.fixed_versions.is_empty(),
        tier: env.tier,
        dev,
        malicious: m.malicious,
    }
}

/// Sets a finding's match-derived attributes, priority and deadline.
fn apply_match(
    f: &mut Finding,
    m: &Match,
    env: &EnvFacts,
    dev: bool,
    policy: &SlaPolicy,
    now: Timestamp,
) {
    f.alias_group = m.alias_group.clone();
    f.advisories = m.advisories.clone();
    f.aliases = m.group_ids.clone();
    f.title = m.title.clone();
    f.severity = m.severity;
    f.cvss = m.cvss;
    f.kev = m.kev.clone();
    f.epss = m.epss.clone();
    f.fixed_versions = m.fixed_versions.clone();
    f.malicious = m.malicious;
    f.dev = dev;
    f.environment_kind = env.kind;
    if f.fix_available_at.is_none() && !m.fixed_versions.is_empty() {
        f.fix_available_at = Some(now);
    }
    let p = priority_of(m, env, dev);
    f.priority = p.score;
    f.reasons = p.reasons;
    f.due_at = policy.due_at(env.tier, m.severity, f.detected_at, f.fix_available_at);
}

/// Reconciles one scope. `existing` holds every stored finding (any state) of the scope's
/// (environment, package) pairs; findings of other pairs are ignored.
pub fn reconcile(
    observed: &[Observed],
    existing: Vec<Finding>,
    policy: &SlaPolicy,
    now: Timestamp,
) -> FindingChanges {
    let pairs: HashMap<(EnvironmentId, &PackageKey), usize> = observed
        .iter()
        .enumerate()
        .map(|(i, o)| ((o.env.id, &o.key), i))
        .collect();
    let mut found: Vec<Vec<Finding>> = vec![Vec::new(); observed.len()];
    for f in existing {
        if let Some(&i) = pairs.get(&(f.environment_id, &f.package)) {
            found[i].push(f);
        }
    }
    let mut out = FindingChanges::default();
    for (o, found) in observed.iter().zip(found) {
        reconcile_pair(o, found, policy, now, &mut out);
    }
    out
}

fn reconcile_pair(
    o: &Observed,
    mut found: Vec<Finding>,
    policy: &SlaPolicy,
    now: Timestamp,
    out: &mut FindingChanges,
) {
    let mut used = vec![false; found.len()];
    for inst in &o.installed {
        for m in &inst.matches {
            // The exact canonical id first, then any id of the group.
            let pick = (0..found.len())
                .filter(|&i| !used[i] && found[i].version == inst.version)
                .filter(|&i| same_group(&found[i], m))
                .min_by_key(|&i| found[i].alias_group != m.alias_group);
            let Some(i) = pick else {
                out.push_new(o, inst, m, policy, now);
                continue;
            };
            used[i] = true;
            let f = &mut found[i];
            let before = f.clone();
            apply_match(f, m, &o.env, inst.dev, policy, now);
            let from = f.state;
            let event = match from {
                FindingState::Inactive => {
                    f.state = f.state_before_inactive.take().unwrap_or(FindingState::New);
                    Some((
                        EventKind::Reactivated,
                        format!(
                            "{} affects {} {} again",
                            m.advisories.join(", "),
                            o.key.name,
                            inst.version
                        ),
                    ))
                }
                FindingState::Verified => {
                    f.state = FindingState::New;
                    f.fixed_at = None;
                    Some((
                        EventKind::Reopened,
                        format!(
                            "{} {} is installed again and still affected",
                            o.key.name, inst.version
                        ),
                    ))
                }
                FindingState::Fixed if matches!((o.env.inventory_at, f.fixed_at), (Some(inv), Some(fixed)) if inv > fixed) =>
                {
                    f.state = FindingState::Affected;
                    f.fixed_at = None;
                    Some((
                        EventKind::Reopened,
                        format!(
                            "the inventory of {} still shows {} {}",
                            o.env
                                .inventory_at
                                .map(|t| t.to_string())
                                .unwrap_or_default(),
                            o.key.name,
                            inst.version
                        ),
                    ))
                }
                _ => None,
            };
            if let Some((kind, reason)) = event {
                out.events
                    .push(FindingEvent::new(f, now, None, kind, Some(from), reason));
            }
            if *f != before {
                f.updated_at = now;
                out.updated.push(f.clone());
            }
        }
    }
    for (i, mut f) in found.into_iter().enumerate() {
        if used[i] || matches!(f.state, FindingState::Inactive | FindingState::Verified) {
            continue;
        }
        let from = f.state;
        let still_here = o.installed.iter().any(|v| v.version == f.version);
        let replacement = o
            .installed
            .iter()
            .find(|v| v.matches.iter().any(|m| same_group(&f, m)));
        let mut events = Vec::new();
        if still_here {
            events.push((
                EventKind::Inactivated,
                format!(
                    "no advisory of {} affects {} any more (withdrawn or corrected)",
                    f.alias_group, f.version
                ),
            ));
        } else if let Some(v) = replacement {
            events.push((
                EventKind::Inactivated,
                format!(
                    "superseded: {} is now at {}, which is still affected (see its own finding)",
                    o.key.name, v.version
                ),
            ));
        } else if let Some(v) = o.installed.first() {
            if from.is_open() || from == FindingState::Fixed {
                let shown = o
                    .installed
                    .iter()
                    .map(|v| v.version.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                if from != FindingState::Fixed {
                    events.push((
                        EventKind::Fixed,
                        format!("{} upgraded to {shown}", o.key.name),
                    ));
                }
                events.push((
                    EventKind::Verified,
                    format!(
                        "the inventory of {} shows {} {}, which {} does not affect",
                        o.env
                            .inventory_at
                            .map(|t| t.to_string())
                            .unwrap_or_default(),
                        o.key.name,
                        shown,
                        f.alias_group
                    ),
                ));
            } else {
                events.push((
                    EventKind::Inactivated,
                    format!("{} is no longer installed (now {})", f.version, v.version),
                ));
            }
        } else {
            events.push((
                EventKind::Inactivated,
                format!("{} was removed from the environment", o.key.name),
            ));
        }
        for (kind, reason) in events {
            let prev = f.state;
            match kind {
                EventKind::Inactivated => {
                    f.state_before_inactive = Some(prev);
                    f.state = FindingState::Inactive;
                }
                EventKind::Fixed => {
                    f.state = FindingState::Fixed;
                    f.fixed_at = Some(now);
                }
                EventKind::Verified => {
                    f.state = FindingState::Verified;
                    f.fixed_at.get_or_insert(now);
                }
                _ => {}
            }
            out.events
                .push(FindingEvent::new(&f, now, None, kind, Some(prev), reason));
        }
        f.updated_at = now;
        out.updated.push(f);
    }
}

impl FindingChanges {
    fn push_new(
        &mut self,
        o: &Observed,
        inst: &InstalledVersion,
        m: &Match,
        policy: &SlaPolicy,
        now: Timestamp,
    ) {
        let mut f = Finding {
            id: FindingId::new(),
            client_id: o.env.client_id,
            site_id: o.env.site_id,
            environment_id: o.env.id,
            environment_kind: o.env.kind,
            package: o.key.clone(),
            version: inst.version.clone(),
            dev: inst.dev,
            alias_group: String::new(),
            advisories: Vec::new(),
            aliases: Vec::new(),
            title: String::new(),
            severity: m.severity,
            cvss: None,
            kev: None,
            epss: None,
            fixed_versions: Vec::new(),
            malicious: false,
            state: FindingState::New,
            state_before_inactive: None,
            justification: None,
            risk_accepted_until: None,
            risk_request: None,
            priority: 0,
            reasons: Vec::new(),
            detected_at: now,
            fix_available_at: None,
            due_at: None,
            fixed_at: None,
            updated_at: now,
        };
        apply_match(&mut f, m, &o.env, inst.dev, policy, now);
        self.events.push(FindingEvent::new(
            &f,
            now,
            None,
            EventKind::Detected,
            None,
            format!(
                "{} affects {} {}",
                m.advisories.join(", "),
                o.key.name,
                inst.version
            ),
        ));
        self.created.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::UserId;
    use palisade_vulns::{Ecosystem, SeverityLevel};

    fn env(kind: EnvironmentKind) -> EnvFacts {
        EnvFacts {
            id: EnvironmentId::new(),
            client_id: ClientId::new(),
            site_id: SiteId::new(),
            kind,
            tier: SlaTier::Standard,
            inventory_at: Some(t("2026-01-01T00:00:00Z")),
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn key() -> PackageKey {
        PackageKey::new(Ecosystem::Packagist, "", "twig/twig")
    }

    fn m(group: &str, title: &str) -> Match {
        Match {
            alias_group: group.into(),
            group_ids: vec![group.into(), "GHSA-52m2-vc4m-jj33".into()],
            advisories: vec!["GHSA-52m2-vc4m-jj33".into()],
            title: title.into(),
            severity: SeverityLevel::High,
            cvss: Some(7.5),
            kev: None,
            epss: None,
            fixed_versions: vec!["3.4.3".into()],
            malicious: false,
        }
    }

    fn observed(e: &EnvFacts, installed: Vec<(&str, Vec<Match>)>) -> Observed {
        Observed {
            env: e.clone(),
            key: key(),
            installed: installed
                .into_iter()
                .map(|(v, matches)| InstalledVersion {
                    version: v.into(),
                    dev: false,
                    matches,
                })
                .collect(),
        }
    }

    fn run(obs: Observed, existing: Vec<Finding>, now: &str) -> FindingChanges {
        reconcile(&[obs], existing, &SlaPolicy::default(), t(now))
    }

    /// The finding a first match of 3.4.0 by `group` creates on 2026-01-02.
    fn detect(e: &EnvFacts, group: &str) -> Finding {
        run(
            observed(e, vec![("3.4.0", vec![m(group, "x")])]),
            vec![],
            "2026-01-02T00:00:00Z",
        )
        .created
        .remove(0)
    }

    fn kinds(c: &FindingChanges) -> Vec<EventKind> {
        c.events.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn a_match_creates_a_finding_once_and_rewording_is_not_news() {
        let e = env(EnvironmentKind::Live);
        let first = run(
            observed(&e, vec![("3.4.0", vec![m("CVE-2022-39261", "old title")])]),
            vec![],
            "2026-01-02T00:00:00Z",
        );
        assert_eq!(kinds(&first), vec![EventKind::Detected]);
        let f = first.created[0].clone();
        assert_eq!(f.due_at, Some(t("2026-01-09T00:00:00Z")), "high: 7 days");
        let again = run(
            observed(&e, vec![("3.4.0", vec![m("CVE-2022-39261", "old title")])]),
            vec![f.clone()],
            "2026-01-03T00:00:00Z",
        );
        assert!(again.is_empty(), "{again:?}");
        let reworded = run(
            observed(&e, vec![("3.4.0", vec![m("CVE-2022-39261", "new title")])]),
            vec![f],
            "2026-01-03T00:00:00Z",
        );
        assert!(reworded.events.is_empty() && reworded.created.is_empty());
        assert_eq!(reworded.updated[0].title, "new title");
    }

    #[test]
    fn an_upgrade_to_a_fixed_version_is_fixed_then_verified() {
        let e = env(EnvironmentKind::Staging);
        let f = detect(&e, "CVE-2022-39261");
        let c = run(
            observed(&e, vec![("3.4.3", vec![])]),
            vec![f],
            "2026-01-05T00:00:00Z",
        );
        assert_eq!(kinds(&c), vec![EventKind::Fixed, EventKind::Verified]);
        assert_eq!(c.updated[0].state, FindingState::Verified);
        assert_eq!(c.updated[0].fixed_at, Some(t("2026-01-05T00:00:00Z")));
    }

    #[test]
    fn a_claimed_fix_is_verified_or_reopened_by_newer_inventories_only() {
        let mut e = env(EnvironmentKind::Live);
        let mut f = detect(&e, "CVE-2022-39261");
        f.triage(
            &crate::Triage::Fixed,
            UserId::new(),
            "patched by hand",
            t("2026-01-03T00:00:00Z"),
        )
        .unwrap();
        // The newest inventory predates the claim: no evidence either way.
        let stale = run(
            observed(&e, vec![("3.4.0", vec![m("CVE-2022-39261", "x")])]),
            vec![f.clone()],
            "2026-01-03T01:00:00Z",
        );
        assert!(stale.events.is_empty());
        e.inventory_at = Some(t("2026-01-04T00:00:00Z"));
        let still = run(
            observed(&e, vec![("3.4.0", vec![m("CVE-2022-39261", "x")])]),
            vec![f.clone()],
            "2026-01-04T00:00:00Z",
        );
        assert_eq!(kinds(&still), vec![EventKind::Reopened]);
        assert_eq!(still.updated[0].state, FindingState::Affected);
        let done = run(
            observed(&e, vec![("3.4.3", vec![])]),
            vec![f],
            "2026-01-04T00:00:00Z",
        );
        assert_eq!(kinds(&done), vec![EventKind::Verified]);
    }

    #[test]
    fn withdrawal_inactivates_and_a_return_restores_the_triaged_state() {
        let e = env(EnvironmentKind::Live);
        let mut f = detect(&e, "CVE-2022-39261");
        f.triage(
            &crate::Triage::Affected,
            UserId::new(),
            "confirmed",
            t("2026-01-02T01:00:00Z"),
        )
        .unwrap();
        let gone = run(
            observed(&e, vec![("3.4.0", vec![])]),
            vec![f],
            "2026-01-03T00:00:00Z",
        );
        assert_eq!(kinds(&gone), vec![EventKind::Inactivated]);
        assert!(gone.events[0].reason.contains("withdrawn"));
        let inactive = gone.updated[0].clone();
        assert_eq!(inactive.state, FindingState::Inactive);
        let back = run(
            observed(&e, vec![("3.4.0", vec![m("CVE-2022-39261", "x")])]),
            vec![inactive],
            "2026-01-04T00:00:00Z",
        );
        assert_eq!(kinds(&back), vec![EventKind::Reactivated]);
        assert_eq!(back.updated[0].state, FindingState::Affected);
    }

    #[test]
    fn an_upgrade_to_another_affected_version_supersedes_and_removal_inactivates() {
        let e = env(EnvironmentKind::Live);
        let f = detect(&e, "CVE-2022-39261");
        let c = run(
            observed(&e, vec![("3.4.1", vec![m("CVE-2022-39261", "x")])]),
            vec![f.clone()],
            "2026-01-03T00:00:00Z",
        );
        assert_eq!(kinds(&c), vec![EventKind::Detected, EventKind::Inactivated]);
        assert!(c.events[1].reason.contains("superseded"));
        assert_eq!(c.created[0].version, "3.4.1");
        let removed = run(observed(&e, vec![]), vec![f], "2026-01-03T00:00:00Z");
        assert!(removed.events[0].reason.contains("removed"));
    }

    #[test]
    fn a_finding_survives_its_group_getting_a_new_canonical_id() {
        let e = env(EnvironmentKind::Live);
        let f = run(
            observed(&e, vec![("3.4.0", vec![m("GHSA-52m2-vc4m-jj33", "x")])]),
            vec![],
            "2026-01-02T00:00:00Z",
        )
        .created
        .remove(0);
        let c = run(
            observed(&e, vec![("3.4.0", vec![m("CVE-2022-39261", "x")])]),
            vec![f.clone()],
            "2026-01-03T00:00:00Z",
        );
        assert!(c.created.is_empty() && c.events.is_empty());
        assert_eq!(c.updated[0].id, f.id);
        assert_eq!(c.updated[0].alias_group, "CVE-2022-39261");
    }
}
