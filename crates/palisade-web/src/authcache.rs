//! A short-lived cache of API-token lookups. An API client sends its token on every request; without
//! the cache each request would cost two database reads before any work. Entries live at most
//! [`TTL`]; revoking a token or disabling a user on this node drops the affected entries at once,
//! and other nodes sharing the database see the change within the TTL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use palisade_core::user::{ApiToken, User};
use palisade_core::{TokenId, UserId};

/// How long a cached lookup is trusted.
pub const TTL: Duration = Duration::from_secs(5);
/// Most tokens cached; beyond that the cache is emptied and refills from the database.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    entries: Mutex<HashMap<String, (Instant, ApiToken, User)>>,
}

impl TokenCache {
    pub(crate) fn get(&self, hash: &str) -> Option<(ApiToken, User)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|(at, _, _)| at.elapsed() < TTL)
            .map(|(_, t, u)| (t.clone(), u.clone()))
    }

    pub(crate) fn put(&self, hash: String, token: ApiToken, user: User) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(hash, (Instant::now(), token, user));
    }

    pub(crate) fn forget_token(&self, id: TokenId) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, (_, t, _)| t.id != id);
    }

    pub(crate) fn forget_user(&self, id: UserId) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, (_, _, u)| u.id != id);
    }
}
