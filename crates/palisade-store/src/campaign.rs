//! The patch campaign part of the storage interface. The rules (which step may follow which,
//! what the customer is told) live in `palisade-campaign`; this trait keeps what they decided,
//! each decision with its timeline entry and the ticket messages it causes in one transaction, and
//! refuses a change made against a version that is no longer current.

use async_trait::async_trait;
use palisade_campaign::{Campaign, CampaignClient, CampaignEnv, CampaignEvent};
use palisade_core::{CampaignId, ClientId, EnvironmentId};
use palisade_desk::ticket::{NewTicket, Ticket, TimelineEvent};

use crate::{Page, StoreResult};

/// A ticket opened as part of a campaign write: the ticket and its `created` event.
pub type TicketOpening = (NewTicket, TimelineEvent);

/// Messages appended to an existing ticket as part of a campaign write: the ticket as it is after
/// them (from `Ticket::apply`) and the events, in order.
pub type TicketUpdate = (Ticket, Vec<TimelineEvent>);

/// One step of a campaign and everything it causes.
#[derive(Clone, Debug)]
pub struct StepWrite {
    /// The environment after the step; stored if the stored one is at `version - 1`.
    pub env: CampaignEnv,
    pub events: Vec<CampaignEvent>,
    /// The client row when the step finished the client (`done_at` set).
    pub client: Option<CampaignClient>,
    /// What the customer is told, when the step finished the client.
    pub ticket: Option<TicketUpdate>,
    /// The campaign when the step finished it (state completed); stored if the stored one is at
    /// `version - 1`.
    pub campaign: Option<Campaign>,
}

/// Campaign storage. Part of every `Store`.
#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Stores a planned campaign with its clients, environments and `planned` event.
    async fn create_campaign(
        &self,
        c: &Campaign,
        clients: &[CampaignClient],
        envs: &[CampaignEnv],
        event: &CampaignEvent,
    ) -> StoreResult<()>;
    async fn get_campaign(&self, id: CampaignId) -> StoreResult<Campaign>;
    /// Campaigns, newest first; with `client`, only those the client is part of.
    async fn list_campaigns(
        &self,
        client: Option<ClientId>,
        after: Option<CampaignId>,
        limit: u32,
    ) -> StoreResult<Page<Campaign>>;
    /// A campaign's clients in patching order.
    async fn campaign_clients(&self, id: CampaignId) -> StoreResult<Vec<CampaignClient>>;
    /// A campaign's environments (one client's with `client`).
    async fn campaign_envs(
        &self,
        id: CampaignId,
        client: Option<ClientId>,
    ) -> StoreResult<Vec<CampaignEnv>>;
    /// A campaign's timeline, oldest first (one client's entries and the campaign-wide ones with
    /// `client`).
    async fn campaign_events(
        &self,
        id: CampaignId,
        client: Option<ClientId>,
    ) -> StoreResult<Vec<CampaignEvent>>;
    /// Stores a changed plan (or a start, or a cancellation): the campaign if the stored one is
    /// at `c.version - 1`, the given client and environment rows, tickets opened and tickets
    /// updated, and the events, all in one transaction.
    async fn save_campaign(
        &self,
        c: &Campaign,
        clients: &[CampaignClient],
        envs: &[CampaignEnv],
        openings: &[TicketOpening],
        updates: &[TicketUpdate],
        events: &[CampaignEvent],
    ) -> StoreResult<()>;
    /// Stores one step and what it causes, in one transaction (`Conflict` if the environment,
    /// ticket or campaign changed since they were read).
    async fn record_step(&self, w: &StepWrite) -> StoreResult<()>;
    /// The environment's rows in active campaigns: what an inventory of it may verify.
    async fn active_campaign_envs(&self, env: EnvironmentId) -> StoreResult<Vec<CampaignEnv>>;
}
