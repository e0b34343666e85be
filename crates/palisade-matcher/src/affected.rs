//! "Who is affected by X?": for any advisory id or alias (CVE, GHSA, RUSTSEC, DSA, …) the
//! clients, their sites and environments, the installed versions and the versions that fix them.
//! Also as CSV, one row per installation, for a spreadsheet or a ticket.
//!
//! The answer is the stored findings of the alias group (with their triage) plus the
//! installations the group affects *now* that have no finding yet: the installations index is
//! read for the group's packages and their versions evaluated, as the matcher would. So the
//! answer is complete the moment an advisory is in the store, not only once the matcher has
//! written its findings (a popular package's thousands of findings take a few hundred
//! milliseconds to write, and a first full match minutes). Installations without a finding are
//! marked `pending`; their priority is the one their finding will get.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use palisade_core::tenant::EnvironmentKind;
use palisade_core::{ClientId, EnvironmentId, FindingId, SiteId};
use palisade_fleet::reconcile::points_of;
use palisade_fleet::{Finding, FindingState, Match};
use palisade_store::{EnvironmentFacts, FindingQuery, VersionInstalls};
use palisade_vulns::PackageKey;
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
    /// The stored finding; `None` while the installation is `pending`.
    pub finding: Option<FindingId>,
    /// Affected now, and its finding not written yet (the matcher writes it next).
    pub pending: bool,
    /// Shared text: thousands of rows of one answer name the same package and versions.
    pub package: Arc<str>,
    pub ecosystem: Arc<str>,
    pub installed: Arc<str>,
    pub fixed: Arc<[String]>,
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
    /// Clients with a finding of the group that is not inactive, or an installation the group
    /// affects now, most urgent first.
    pub clients: Vec<AffectedClient>,
    pub environments: usize,
    /// Stored findings listed.
    pub findings: usize,
    /// Affected installations listed whose findings are not written yet.
    pub pending: usize,
}

/// One listed installation and where it is.
struct Row {
    client: ClientId,
    site: SiteId,
    environment: EnvironmentId,
    kind: EnvironmentKind,
    install: AffectedInstall,
}

impl Row {
    fn recorded(f: &Finding) -> Row {
        Row {
            client: f.client_id,
            site: f.site_id,
            environment: f.environment_id,
            kind: f.environment_kind,
            install: AffectedInstall {
                finding: Some(f.id),
                pending: false,
                package: f.package.name.as_str().into(),
                ecosystem: f.package.ecosystem.to_string().into(),
                installed: f.version.as_str().into(),
                fixed: f.fixed_versions.as_slice().into(),
                state: f.state,
                priority: f.priority,
                dev: f.dev,
            },
        }
    }
}

/// An installed version the asked-about group affects, with the text its rows share.
struct Version<'a> {
    installs: &'a VersionInstalls,
    package: Arc<str>,
    ecosystem: Arc<str>,
    installed: Arc<str>,
    /// The group's matches for this version, with their fixed versions.
    matches: Vec<(&'a Match, Arc<[String]>)>,
}

/// A site's listed installations by environment.
type ByEnvironment = BTreeMap<EnvironmentId, (EnvironmentKind, Vec<AffectedInstall>)>;

/// An alias group as the advisory store knows it.
struct Group {
    /// Every id of the group, sorted.
    ids: Vec<String>,
    advisories: Vec<AdvisoryRef>,
    /// The packages its advisories that are not withdrawn name.
    packages: Vec<PackageKey>,
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
        let g = self.group(id).await?;
        Ok((g.ids, g.advisories))
    }

    async fn group(&self, id: &str) -> Result<Group, MatchError> {
        let q = id.trim().to_owned();
        self.with_advisories(move |db| {
            let mut ids: BTreeSet<String> = BTreeSet::from([q.clone()]);
            let mut refs = Vec::new();
            let mut packages = BTreeSet::new();
            if let Some(db) = db {
                ids.extend(db.alias_group(&q)?);
                // Each id of the group may have records of its own (a GHSA and a RUSTSEC record
                // both aliasing one CVE); `find` answers by id or by alias.
                let mut seen = HashSet::new();
                for one in ids.clone() {
                    for a in db.find(&one)? {
                        if !seen.insert(a.id.clone()) {
                            continue;
                        }
                        ids.insert(a.id.clone());
                        ids.extend(a.aliases.iter().cloned());
                        if !a.is_withdrawn() {
                            packages.extend(a.affected.iter().map(|x| x.package.clone()));
                        }
                        refs.push(AdvisoryRef {
                            id: a.id.clone(),
                            source: a.source.name().to_owned(),
                            summary: a.summary.clone(),
                            severity: a.severity_level().name().to_owned(),
                            withdrawn: a.is_withdrawn(),
                        });
                    }
                }
            }
            Ok(Group {
                ids: ids.into_iter().collect(),
                advisories: refs,
                packages: packages.into_iter().collect(),
            })
        })
        .await
    }

    /// The group's findings the matcher has not written yet: installations of its packages that
    /// it affects now and that have no listed finding in `recorded`, one row per (installation,
    /// alias group) as `reconcile` would create them, with the priority they will get. Within
    /// `client` only, if given.
    async fn unrecorded(
        &self,
        group: &Group,
        recorded: &[Finding],
        client: Option<ClientId>,
    ) -> Result<(Vec<Row>, HashMap<EnvironmentId, Arc<EnvironmentFacts>>), MatchError> {
        if group.packages.is_empty() {
            return Ok(Default::default());
        }
        let installs = self.store.installations_of(&group.packages).await?;
        let mut wanted: BTreeMap<PackageKey, BTreeSet<String>> = BTreeMap::new();
        for g in &installs {
            wanted
                .entry(g.key.clone())
                .or_default()
                .insert(g.version.clone());
        }
        let verdicts = self.evaluate(wanted).await?;
        let in_group = |m: &&Match| {
            m.group_ids
                .iter()
                .any(|g| group.ids.binary_search(g).is_ok())
        };
        let known: HashSet<(EnvironmentId, &PackageKey, &str)> = recorded
            .iter()
            .map(|f| (f.environment_id, &f.package, f.version.as_str()))
            .collect();
        // Decided once per installed version, then spread over its environments, with the text
        // its rows share.
        let versions: Vec<Version<'_>> = installs
            .iter()
            .filter_map(|g| {
                let matches: Vec<(&Match, Arc<[String]>)> = verdicts
                    .get(&g.key)
                    .and_then(|v| v.get(&g.version))
                    .into_iter()
                    .flatten()
                    .filter(in_group)
                    .map(|m| (m, m.fixed_versions.as_slice().into()))
                    .collect();
                (!matches.is_empty()).then(|| Version {
                    installs: g,
                    package: g.key.name.as_str().into(),
                    ecosystem: g.key.ecosystem.to_string().into(),
                    installed: g.version.as_str().into(),
                    matches,
                })
            })
            .collect();
        let affected: Vec<(&Version<'_>, EnvironmentId, bool)> = versions
            .iter()
            .flat_map(|v| {
                let g = v.installs;
                g.environments
                    .iter()
                    .filter(|(env, _)| !known.contains(&(*env, &g.key, g.version.as_str())))
                    .map(move |&(env, dev)| (v, env, dev))
            })
            .collect();
        if affected.is_empty() {
            return Ok(Default::default());
        }
        let envs: Vec<EnvironmentId> = affected
            .iter()
            .map(|(_, env, _)| *env)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let facts: HashMap<EnvironmentId, Arc<EnvironmentFacts>> = self
            .spine_facts(&envs)
            .await?
            .into_iter()
            .filter(|f| client.is_none_or(|c| f.facts.client_id == c))
            .map(|f| (f.facts.id, f))
            .collect();
        let mut rows = Vec::new();
        for (v, env, dev) in affected {
            let Some(env) = facts.get(&env) else {
                continue;
            };
            for (m, fixed) in &v.matches {
                rows.push(Row {
                    client: env.facts.client_id,
                    site: env.facts.site_id,
                    environment: env.facts.id,
                    kind: env.facts.kind,
                    install: AffectedInstall {
                        finding: None,
                        pending: true,
                        package: v.package.clone(),
                        ecosystem: v.ecosystem.clone(),
                        installed: v.installed.clone(),
                        fixed: fixed.clone(),
                        state: FindingState::New,
                        priority: points_of(m, &env.facts, dev),
                        dev,
                    },
                });
            }
        }
        Ok((rows, facts))
    }

    /// Who is affected by `id`, optionally only within one client (for a client user).
    pub async fn affected(
        &self,
        id: &str,
        client: Option<ClientId>,
    ) -> Result<AffectedReport, MatchError> {
        let query = id.trim().to_owned();
        let group = self.group(&query).await?;
        let findings: Vec<Finding> = self
            .store
            .all_findings(&FindingQuery {
                client,
                states: listed_states(),
                alias_groups: group.ids.clone(),
                ..FindingQuery::default()
            })
            .await?;
        let (planned, planned_facts) = self.unrecorded(&group, &findings, client).await?;
        let recorded_envs: Vec<EnvironmentId> = findings
            .iter()
            .map(|f| f.environment_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut names: HashMap<EnvironmentId, Arc<EnvironmentFacts>> = self
            .spine_facts(&recorded_envs)
            .await?
            .into_iter()
            .map(|f| (f.facts.id, f))
            .collect();
        names.extend(planned_facts);
        let pending = planned.len();
        // Stored findings, then planned ones, highest priority first (a stable sort keeps the
        // store's order among equals).
        let mut all: Vec<Row> = findings.iter().map(Row::recorded).collect();
        all.extend(planned);
        all.sort_by_key(|r| std::cmp::Reverse(r.install.priority));
        // Clients in order of their most urgent installation.
        let mut order: Vec<ClientId> = Vec::new();
        let mut seen: HashSet<ClientId> = HashSet::new();
        let mut envs: HashSet<EnvironmentId> = HashSet::new();
        let mut tree: BTreeMap<ClientId, BTreeMap<SiteId, ByEnvironment>> = BTreeMap::new();
        for r in all {
            if seen.insert(r.client) {
                order.push(r.client);
            }
            envs.insert(r.environment);
            tree.entry(r.client)
                .or_default()
                .entry(r.site)
                .or_default()
                .entry(r.environment)
                .or_insert_with(|| (r.kind, Vec::new()))
                .1
                .push(r.install);
        }
        let environments = envs.len();
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
                for (env_id, (kind, installs)) in envs {
                    let facts = names.get(&env_id);
                    if let Some(n) = facts
                        && site_name.is_empty()
                    {
                        site_name = n.site_name.clone();
                        if client_name.is_empty() {
                            client_name = n.client_name.clone();
                        }
                    }
                    out_envs.push(AffectedEnvironment {
                        id: env_id,
                        name: facts
                            .map(|n| n.environment_name.clone())
                            .unwrap_or_default(),
                        kind,
                        installs,
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
            ids: group.ids,
            advisories: group.advisories,
            environments,
            findings: findings.len(),
            pending,
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
                            &i.ecosystem,
                            &i.package,
                            &i.installed,
                            fixed.as_str(),
                            if i.pending {
                                "pending"
                            } else {
                                i.state.as_str()
                            },
                            &i.priority.to_string(),
                            if i.dev { "yes" } else { "no" },
                            &i.finding.map(|f| f.to_string()).unwrap_or_default(),
                        ];
                        let _ = w.write_record(row.iter().map(|v| cell(v).into_owned()));
                    }
                }
            }
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }
}
