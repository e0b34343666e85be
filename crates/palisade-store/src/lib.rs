//! The storage interface every other crate programs against. It knows the domain types and nothing
//! about SQL drivers; `palisade-store-sql` implements it on SQLite and PostgreSQL, and its
//! conformance suite holds both to the same behaviour.
//!
//! Methods take the current time as an argument instead of reading a clock, so callers decide time
//! (and tests control it).

use async_trait::async_trait;
use jiff::Timestamp;
use palisade_core::tenant::{
    Client, ClientInput, Contact, ContactInput, Environment, EnvironmentUpdate, Host, HostInput,
    NewEnvironment, NewSite, Site, SiteUpdate,
};
use palisade_core::user::{ApiToken, User};
use palisade_core::{
    ClientId, ContactId, EnvironmentId, FieldError, HostId, Role, SessionId, SiteId, TokenId,
    UserId,
};
use serde::Serialize;

pub mod audit;
pub mod campaign;
pub mod desk;
pub mod fleet;
pub mod mail;

pub use audit::*;
pub use campaign::*;
pub use desk::*;
pub use fleet::*;
pub use mail::*;

/// Largest page a list call returns, whatever the caller asks for.
pub const MAX_PAGE_SIZE: u32 = 500;
/// Page size when the caller names none.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No record with that ID (or it is outside the caller's scope).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken, e.g. an e-mail already in use.
    #[error("{0}")]
    Conflict(String),
    /// The input refers to something that does not exist or may not be used.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Backend(String),
    /// A stored row could not be read back: a bug or tampering.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One page of a list, and where the next one starts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The ID of the last item, to pass as `after` for the next page; `None` on the last page.
    pub next_after: Option<String>,
}

/// Filters and position of a list call. Lists are ordered by ID, which is creation order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListQuery {
    /// Only records of this client.
    pub client: Option<ClientId>,
    /// Only records after this ID.
    pub after: Option<String>,
    /// Page size, clamped to [`MAX_PAGE_SIZE`].
    pub limit: u32,
    /// Also return archived records.
    pub include_archived: bool,
}

impl ListQuery {
    /// The effective page size.
    pub fn page_size(&self) -> u32 {
        match self.limit {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        }
    }
}

/// A record that can be archived (never deleted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Archivable {
    Client(ClientId),
    Contact(ContactId),
    Site(SiteId),
    Environment(EnvironmentId),
    Host(HostId),
}

/// A user as created, with the password already hashed by the caller.
#[derive(Clone, Debug)]
pub struct NewUserRecord {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub client_id: Option<ClientId>,
    pub password_hash: String,
}

/// A user with the credential state needed to sign them in.
#[derive(Clone, Debug)]
pub struct UserAuth {
    pub user: User,
    pub password_hash: String,
    pub totp_secret: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub failed_logins: i32,
    pub locked_until: Option<Timestamp>,
}

/// A server-side session. The cookie holds a secret; only its hash is stored here.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub token_hash: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    /// The second factor was checked in this session.
    pub mfa_passed: bool,
}

/// Palisade's storage. Implementations must behave identically; the conformance suite checks it.
#[async_trait]
pub trait Store:
    FleetStore + AuditStore + DeskStore + CampaignStore + MailStore + Send + Sync + std::fmt::Debug
{
    /// Checks the database answers (readiness).
    async fn ping(&self) -> StoreResult<()>;

    /// A number that differs between two calls whenever anything was committed to the database
    /// in between, by this process or another; `None` when the backend cannot tell cheaply. A
    /// caller may keep what it read under one value for as long as the value stays the same.
    fn change_counter(&self) -> Option<u64> {
        None
    }

    async fn create_client(&self, input: &ClientInput, now: Timestamp) -> StoreResult<Client>;
    async fn get_client(&self, id: ClientId) -> StoreResult<Client>;
    async fn list_clients(&self, q: &ListQuery) -> StoreResult<Page<Client>>;
    async fn update_client(
        &self,
        id: ClientId,
        input: &ClientInput,
        now: Timestamp,
    ) -> StoreResult<Client>;

    async fn create_contact(
        &self,
        client: ClientId,
        input: &ContactInput,
        now: Timestamp,
    ) -> StoreResult<Contact>;
    async fn get_contact(&self, id: ContactId) -> StoreResult<Contact>;
    async fn list_contacts(&self, q: &ListQuery) -> StoreResult<Page<Contact>>;
    async fn update_contact(
        &self,
        id: ContactId,
        input: &ContactInput,
        now: Timestamp,
    ) -> StoreResult<Contact>;

    async fn create_site(&self, input: &NewSite, now: Timestamp) -> StoreResult<Site>;
    async fn get_site(&self, id: SiteId) -> StoreResult<Site>;
    async fn list_sites(&self, q: &ListQuery) -> StoreResult<Page<Site>>;
    async fn update_site(
        &self,
        id: SiteId,
        input: &SiteUpdate,
        now: Timestamp,
    ) -> StoreResult<Site>;

    async fn create_environment(
        &self,
        input: &NewEnvironment,
        now: Timestamp,
    ) -> StoreResult<Environment>;
    async fn get_environment(&self, id: EnvironmentId) -> StoreResult<Environment>;
    /// A site's environments in promotion order (all of them, archived ones only if asked).
    async fn site_environments(
        &self,
        site: SiteId,
        include_archived: bool,
    ) -> StoreResult<Vec<Environment>>;
    async fn list_environments(&self, q: &ListQuery) -> StoreResult<Page<Environment>>;
    async fn update_environment(
        &self,
        id: EnvironmentId,
        input: &EnvironmentUpdate,
        now: Timestamp,
    ) -> StoreResult<Environment>;

    async fn create_host(&self, input: &HostInput, now: Timestamp) -> StoreResult<Host>;
    async fn get_host(&self, id: HostId) -> StoreResult<Host>;
    async fn list_hosts(&self, q: &ListQuery) -> StoreResult<Page<Host>>;
    async fn update_host(&self, id: HostId, input: &HostInput, now: Timestamp)
    -> StoreResult<Host>;

    /// Archives (`Some(time)`) or restores (`None`) a record. Nothing is ever deleted.
    async fn set_archived(
        &self,
        what: Archivable,
        at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()>;

    async fn create_user(&self, input: &NewUserRecord, now: Timestamp) -> StoreResult<User>;
    async fn get_user(&self, id: UserId) -> StoreResult<User>;
    async fn list_users(&self, q: &ListQuery) -> StoreResult<Page<User>>;
    /// Looks a user up by e-mail, case-insensitively.
    async fn user_auth_by_email(&self, email: &str) -> StoreResult<Option<UserAuth>>;
    async fn user_auth(&self, id: UserId) -> StoreResult<UserAuth>;
    async fn set_login_state(
        &self,
        id: UserId,
        failed_logins: i32,
        locked_until: Option<Timestamp>,
    ) -> StoreResult<()>;
    /// Enables MFA with `secret` (or disables it with `None`).
    async fn set_totp(
        &self,
        id: UserId,
        secret: Option<&[u8]>,
        last_step: Option<i64>,
    ) -> StoreResult<()>;
    /// Records that a TOTP step was used; false if a later or equal step was already used (a replay
    /// or a race with another node), in which case the login must fail.
    async fn claim_totp_step(&self, id: UserId, step: i64) -> StoreResult<bool>;
    async fn set_password(&self, id: UserId, password_hash: &str) -> StoreResult<()>;
    async fn set_user_disabled(&self, id: UserId, at: Option<Timestamp>) -> StoreResult<()>;

    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    async fn session_by_hash(&self, token_hash: &str) -> StoreResult<Option<Session>>;
    async fn touch_session(
        &self,
        id: SessionId,
        last_seen_at: Timestamp,
        mfa_passed: bool,
    ) -> StoreResult<()>;
    async fn delete_session(&self, id: SessionId) -> StoreResult<()>;
    /// Ends every session of a user; returns how many.
    async fn delete_user_sessions(&self, user: UserId) -> StoreResult<u64>;

    async fn create_token(&self, token: &ApiToken, token_hash: &str) -> StoreResult<()>;
    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>>;
    async fn list_tokens(&self, user: UserId) -> StoreResult<Vec<ApiToken>>;
    async fn get_token(&self, id: TokenId) -> StoreResult<ApiToken>;
    async fn revoke_token(&self, id: TokenId, now: Timestamp) -> StoreResult<()>;
    async fn touch_token(&self, id: TokenId, now: Timestamp) -> StoreResult<()>;
}
