//! "Who is affected by X?": for any advisory id or alias (CVE, GHSA, RUSTSEC, DSA, …) the
//! clients, their sites and environments, the installed versions and the versions that fix them,
//! answered from the stored findings (kept current by the matcher), so the answer costs index
//! lookups, not a fleet pass. Also as CSV, one row per finding, for a spreadsheet or a ticket.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use palisade_core::tenant::EnvironmentKind;
use palisade_core::{ClientId, EnvironmentId, FindingId, SiteId};
use palisade_fleet::{Finding, FindingState};
use palisade_store::FindingQuery;
use serde::Serialize;

use crate::{MatchError, Matcher};

/// An advisory in the group asked about.
#[derive(Clone, Debug, Serialize)]
pub struct AdvisoryRef {
    pub id: String,
    pub source: String,
    pub summary: String,
    pub severity: String,
    pub withdrawn: bool,
}

/// One affected installation.
#[derive(Clone, Debug, Serialize)]
pub struct AffectedInstall {
    pub finding: FindingId,
    pub package: String,
    pub ecosystem: String,
    pub installed: String,
    pub fixed: Vec<String>,
    pub state: FindingState,
    pub priority: i32,
    pub dev: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct AffectedEnvironment {
    pub id: EnvironmentId,
    pub name: String,
    pub kind: EnvironmentKind,
    pub installs: Vec<AffectedInstall>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AffectedSite {
    pub id: SiteId,
    pub name: String,
    pub environments: Vec<AffectedEnvironment>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AffectedClient {
    pub id: ClientId,
    pub name: String,
    pub sites: Vec<AffectedSite>,
}

/// The answer.
#[derive(Clone, Debug, Serialize)]
pub struct AffectedReport {
    pub query: String,
    /// Every id of the alias group searched for.
    pub ids: Vec<String>,
    pub advisories: Vec<AdvisoryRef>,
    /// Clients with a finding of the group that is not inactive, most urgent first.
    pub clients: Vec<AffectedClient>,
    pub environments: usize,
    pub findings: usize,
}

/// The states a who-is-affected answer lists: all but inactive (which no longer applies).
fn listed_states() -> Vec<FindingState> {
    FindingState::ALL
        .into_iter()
        .filter(|s| *s != FindingState::Inactive)
        .collect()
}

impl Matcher {
    /// Every id of `id`'s alias group (itself included) and the stored advisories it names.
    pub async fn alias_ids(&self, id: &str) -> Result<(Vec<String>, Vec<AdvisoryRef>), MatchError> {
        let q = id.trim().to_owned();
        self.with_advisories(move |db| {
            let mut ids: BTreeSet<String> = BTreeSet::from([q.clone()]);
            let mut refs = Vec::new();
            if let Some(db) = db {
                ids.extend(db.alias_group(&q)?);
                for a in db.find(&q)? {
                    ids.insert(a.id.clone());
                    ids.extend(a.aliases.iter().cloned());
                    refs.push(AdvisoryRef {
                        id: a.id.clone(),
                        source: a.source.name().to_owned(),
                        summary: a.summary.clone(),
                        severity: a.severity_level().name().to_owned(),
                        withdrawn: a.is_withdrawn(),
                    });
                }
            }
            Ok((ids.into_iter().collect(), refs))
        })
        .await
    }

    /// Who is affected by `id`, optionally only within one client (for a client user).
    pub async fn affected(
        &self,
        id: &str,
        client: Option<ClientId>,
    ) -> Result<AffectedReport, MatchError> {
        let query = id.trim().to_owned();
        let (ids, advisories) = self.alias_ids(&query).await?;
        let findings: Vec<Finding> = self
            .store
            .all_findings(&FindingQuery {
                client,
                states: listed_states(),
                alias_groups: ids.clone(),
                ..FindingQuery::default()
            })
            .await?;
        let env_ids: Vec<EnvironmentId> = findings
            .iter()
            .map(|f| f.environment_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let names: HashMap<EnvironmentId, palisade_store::EnvironmentFacts> = self
            .store
            .environment_facts(&env_ids)
            .await?
            .into_iter()
            .map(|f| (f.facts.id, f))
            .collect();
        // Clients in order of their most urgent finding (findings come highest priority first).
        let mut order: Vec<ClientId> = Vec::new();
        let mut tree: BTreeMap<ClientId, BTreeMap<SiteId, BTreeMap<EnvironmentId, Vec<&Finding>>>> =
            BTreeMap::new();
        for f in &findings {
            if !order.contains(&f.client_id) {
                order.push(f.client_id);
            }
            tree.entry(f.client_id)
                .or_default()
                .entry(f.site_id)
                .or_default()
                .entry(f.environment_id)
                .or_default()
                .push(f);
        }
        let mut clients = Vec::new();
        for client_id in order {
            let Some(sites) = tree.remove(&client_id) else {
                continue;
            };
            let mut client_name = String::new();
            let mut out_sites = Vec::new();
            for (site_id, envs) in sites {
                let mut site_name = String::new();
                let mut out_envs = Vec::new();
                for (env_id, list) in envs {
                    let facts = names.get(&env_id);
                    if let Some(n) = facts {
                        client_name = n.client_name.clone();
                        site_name = n.site_name.clone();
                    }
                    out_envs.push(AffectedEnvironment {
                        id: env_id,
                        name: facts
                            .map(|n| n.environment_name.clone())
                            .unwrap_or_default(),
                        kind: list[0].environment_kind,
                        installs: list
                            .iter()
                            .map(|f| AffectedInstall {
                                finding: f.id,
                                package: f.package.name.clone(),
                                ecosystem: f.package.ecosystem.to_string(),
                                installed: f.version.clone(),
                                fixed: f.fixed_versions.clone(),
                                state: f.state,
                                priority: f.priority,
                                dev: f.dev,
                            })
                            .collect(),
                    });
                }
                // Promotion order: live first, as the security process patches it last but
                // reports it first.
                out_envs.sort_by(|a, b| b.kind.cmp(&a.kind).then(a.name.cmp(&b.name)));
                out_sites.push(AffectedSite {
                    id: site_id,
                    name: site_name,
                    environments: out_envs,
                });
            }
            out_sites.sort_by(|a, b| a.name.cmp(&b.name));
            clients.push(AffectedClient {
                id: client_id,
                name: client_name,
                sites: out_sites,
            });
        }
        Ok(AffectedReport {
            query,
            ids,
            advisories,
            environments: env_ids.len(),
            findings: findings.len(),
            clients,
        })
    }
}

/// A cell as a spreadsheet will read it: text that starts like a formula (package names and
/// versions come from uploads, which clients control) is prefixed with an apostrophe so that
/// opening the export never runs it (OWASP's CSV injection advice).
fn cell(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

impl AffectedReport {
    /// One row per affected installation.
    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let header = [
            "client",
            "site",
            "environment",
            "kind",
            "ecosystem",
            "package",
            "installed",
            "fixed",
            "state",
            "priority",
            "dev",
            "finding",
        ];
        // Writing into memory cannot fail; a failure would only drop rows, never panic.
        let _ = w.write_record(header);
        for c in &self.clients {
            for s in &c.sites {
                for e in &s.environments {
                    for i in &e.installs {
                        let fixed = i.fixed.join(" ");
                        let row = [
                            c.name.as_str(),
                            s.name.as_str(),
                            e.name.as_str(),
                            e.kind.as_str(),
                            i.ecosystem.as_str(),
                            i.package.as_str(),
                            i.installed.as_str(),
                            fixed.as_str(),
                            i.state.as_str(),
                            &i.priority.to_string(),
                            if i.dev { "yes" } else { "no" },
                            &i.finding.to_string(),
                        ];
                        let _ = w.write_record(row.iter().map(|v| cell(v).into_owned()));
                    }
                }
            }
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }
}
