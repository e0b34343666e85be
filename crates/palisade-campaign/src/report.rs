//! Progress and evidence. Progress is how many environments are at each step (the chart on the
//! campaign page); the report is what an auditor asks for afterwards: the timeline, coverage,
//! every exception with its reason, and the time each client waited for their fix.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use palisade_core::tenant::EnvironmentKind;
use palisade_core::{ClientId, EnvironmentId};
use serde::Serialize;

use crate::model::{Campaign, CampaignClient, CampaignEnv, CampaignEvent, EventKind, Step};

/// How many environments are at each step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Progress {
    pub total: usize,
    pub pending: usize,
    pub patched: usize,
    pub test_failed: usize,
    pub test_passed: usize,
    pub verified: usize,
    pub excluded: usize,
}

impl Progress {
    pub fn of(envs: &[CampaignEnv]) -> Progress {
        let mut p = Progress {
            total: envs.len(),
            ..Progress::default()
        };
        for e in envs {
            *p.slot(e.step) += 1;
        }
        p
    }

    fn slot(&mut self, s: Step) -> &mut usize {
        match s {
            Step::Pending => &mut self.pending,
            Step::Patched => &mut self.patched,
            Step::TestFailed => &mut self.test_failed,
            Step::TestPassed => &mut self.test_passed,
            Step::Verified => &mut self.verified,
            Step::Excluded => &mut self.excluded,
        }
    }

    /// Count per step, in process order, for charts and tables.
    pub fn steps(&self) -> [(Step, usize); 6] {
        [
            (Step::Pending, self.pending),
            (Step::Patched, self.patched),
            (Step::TestFailed, self.test_failed),
            (Step::TestPassed, self.test_passed),
            (Step::Verified, self.verified),
            (Step::Excluded, self.excluded),
        ]
    }
}

/// One client's part in the report.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ClientReport {
    pub client_id: ClientId,
    pub client_name: String,
    pub rank: u32,
    pub environments: usize,
    pub verified: usize,
    pub excluded: usize,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub done_at: Option<Timestamp>,
    /// From the campaign's start to the client's last environment settled, in hours.
    pub hours_to_patch: Option<f64>,
}

/// Something that did not follow the process, with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Exception {
    pub client_name: String,
    pub site_name: String,
    pub environment_name: String,
    /// `excluded`, `verified-without-tests` (a staging or dev environment whose fix no test
    /// confirmed) or `test-failed` (tests that failed at least once).
    pub kind: String,
    pub detail: String,
}

/// The evidence export.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CampaignReport {
    pub campaign: Campaign,
    pub progress: Progress,
    /// Share of environments settled (verified or excluded), 0 to 1.
    pub coverage: f64,
    pub clients: Vec<ClientReport>,
    pub exceptions: Vec<Exception>,
    pub timeline: Vec<CampaignEvent>,
}

impl CampaignReport {
    pub fn build(
        campaign: &Campaign,
        clients: &[CampaignClient],
        envs: &[CampaignEnv],
        timeline: &[CampaignEvent],
    ) -> CampaignReport {
        let progress = Progress::of(envs);
        let coverage = if envs.is_empty() {
            1.0
        } else {
            (progress.verified + progress.excluded) as f64 / envs.len() as f64
        };
        let mut by_client: BTreeMap<ClientId, Vec<&CampaignEnv>> = BTreeMap::new();
        for e in envs {
            by_client.entry(e.client_id).or_default().push(e);
        }
        let client_reports = clients
            .iter()
            .map(|c| {
                let list = by_client.get(&c.client_id).map_or(&[][..], Vec::as_slice);
                let hours = match (campaign.started_at, c.done_at) {
                    (Some(s), Some(d)) => Some(d.duration_since(s).as_secs_f64() / 3600.0),
                    _ => None,
                };
                ClientReport {
                    client_id: c.client_id,
                    client_name: c.client_name.clone(),
                    rank: c.rank,
                    environments: list.len(),
                    verified: list.iter().filter(|e| e.step == Step::Verified).count(),
                    excluded: list.iter().filter(|e| e.step == Step::Excluded).count(),
                    done_at: c.done_at,
                    hours_to_patch: hours,
                }
            })
            .collect();
        CampaignReport {
            campaign: campaign.clone(),
            progress,
            coverage,
            clients: client_reports,
            exceptions: exceptions(clients, envs, timeline),
            timeline: timeline.to_vec(),
        }
    }
}

fn exceptions(
    clients: &[CampaignClient],
    envs: &[CampaignEnv],
    timeline: &[CampaignEvent],
) -> Vec<Exception> {
    let names: BTreeMap<ClientId, &str> = clients
        .iter()
        .map(|c| (c.client_id, c.client_name.as_str()))
        .collect();
    let failed: BTreeSet<EnvironmentId> = timeline
        .iter()
        .filter(|e| e.kind == EventKind::Tested && e.detail["passed"] == false)
        .filter_map(|e| e.environment_id)
        .collect();
    let mut out = Vec::new();
    for e in envs {
        let mut push = |kind: &str, detail: String| {
            out.push(Exception {
                client_name: names.get(&e.client_id).copied().unwrap_or("").to_owned(),
                site_name: e.site_name.clone(),
                environment_name: e.environment_name.clone(),
                kind: kind.to_owned(),
                detail,
            });
        };
        if e.step == Step::Excluded {
            push("excluded", e.exception.clone().unwrap_or_default());
        }
        // Live is verified by its inventory; an earlier environment exists to be tested.
        if e.step == Step::Verified && !e.tests_passed && e.kind != EnvironmentKind::Live {
            push(
                "verified-without-tests",
                "an inventory showed the fixed version, but no passed tests were recorded".into(),
            );
        }
        if failed.contains(&e.environment_id) {
            push(
                "test-failed",
                "tests failed at least once; see the timeline".into(),
            );
        }
    }
    out
}
