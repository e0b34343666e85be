//! Patch campaigns, as pure rules: one advisory (or alias group) fixed across every affected
//! environment of every affected client, in the order the security process demands.
//!
//! A campaign is planned from the fleet's "who is affected" answer ([`model`]), started (which
//! opens one ticket per client, worded for the customer by [`notice`]), then moved forward one
//! environment at a time by [`rules`]: patch, record the tests and their result, and only then
//! the next environment of the site in promotion order, so live is refused while staging has
//! not passed. An inventory that shows the fixed version verifies an environment. [`report`]
//! counts progress and assembles the evidence (timeline, coverage, exceptions, time to patch).
//!
//! Nothing here reads a clock, a database or the network: the service passes `now` and the
//! stored rows, and stores what these functions decide.

pub mod model;
pub mod notice;
pub mod report;
pub mod rules;

pub use model::{
    Action, Campaign, CampaignClient, CampaignEnv, CampaignEvent, CampaignState, EventKind,
    PackageFix, Step, TestMethod,
};
pub use report::{CampaignReport, ClientReport, Exception, Progress};
pub use rules::{CampaignError, advance, apply, client_done};
