//! List pages kept as rendered JSON until the next database commit. Dashboards and API clients
//! ask for the same first pages again and again; reading and serialising fifty rows is most of
//! such a request's cost (BENCHMARKS.md, API list throughput). A page is served from here only
//! while the store's change counter still has the value it was read under, so a cached page is
//! never older than the last commit: there is no expiry to tune and nothing to invalidate by hand.
//! Stores that cannot tell cheaply (PostgreSQL) give no counter, and nothing is cached for them.
//!
//! Authorisation runs before the cache is asked: the key is the store query the caller's scope
//! produced, and two callers with the same query are entitled to the same page.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use palisade_core::ClientId;
use palisade_store::{ListQuery, Page, StoreResult};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::ListResponse;
use crate::error::{ApiError, ApiResult};

/// Most bytes of JSON held. When a new body would pass it, every page keeps only its newest body,
/// and if that is still too much the cache starts over; a body over a quarter of it is not kept.
pub const MAX_CACHED_BYTES: usize = 8 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    list: &'static str,
    client: Option<ClientId>,
    after: Option<String>,
    size: u32,
    include_archived: bool,
}

/// Bodies of one page under the last few counter values. A store may hand out values from
/// several sources that are only comparable with themselves (SQLite reads them through several
/// connections), so one page can be current under more than one value at once.
const VERSIONS_PER_PAGE: usize = 4;

#[derive(Debug, Default)]
struct Pages {
    by_key: HashMap<Key, Vec<(u64, Bytes)>>,
    bytes: usize,
}

#[derive(Debug, Default)]
pub struct PageCache {
    pages: Mutex<Pages>,
}

/// A JSON body rendered earlier.
pub struct JsonBytes(Bytes);

impl IntoResponse for JsonBytes {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

impl Pages {
    fn held(&self) -> usize {
        self.by_key.values().flatten().map(|(_, b)| b.len()).sum()
    }
}

impl PageCache {
    /// The page `list` of `q`: from the cache if nothing was committed since it was read,
    /// otherwise from `read`.
    pub async fn page<T, F>(
        &self,
        counter: Option<u64>,
        list: &'static str,
        q: &ListQuery,
        read: F,
    ) -> ApiResult<JsonBytes>
    where
        T: Serialize + ToSchema,
        F: Future<Output = StoreResult<Page<T>>>,
    {
        let key = Key {
            list,
            client: q.client,
            after: q.after.clone(),
            size: q.page_size(),
            include_archived: q.include_archived,
        };
        if let Some(now) = counter
            && let Some(body) = self.lock().by_key.get(&key).and_then(|versions| {
                versions
                    .iter()
                    .find_map(|(at, body)| (*at == now).then(|| body.clone()))
            })
        {
            return Ok(JsonBytes(body));
        }
        // The counter was read before the page: a commit in between leaves the page under the
        // older value, and the next request reads again.
        let page: ListResponse<T> = read.await?.into();
        let body = Bytes::from(serde_json::to_vec(&page).map_err(|e| {
            tracing::error!(error = %e, list, "a page could not be serialised");
            ApiError::internal()
        })?);
        if let Some(at) = counter {
            self.keep(key, at, body.clone());
        }
        Ok(JsonBytes(body))
    }

    fn keep(&self, key: Key, at: u64, body: Bytes) {
        if body.len() > MAX_CACHED_BYTES / 4 {
            return;
        }
        let mut pages = self.lock();
        if pages.bytes + body.len() > MAX_CACHED_BYTES {
            // Each page's newest body first, then nothing: the cache fills again in a request
            // per page.
            for versions in pages.by_key.values_mut() {
                versions.drain(..versions.len().saturating_sub(1));
            }
            pages.bytes = pages.held();
            if pages.bytes + body.len() > MAX_CACHED_BYTES {
                pages.by_key.clear();
                pages.bytes = 0;
            }
        }
        pages.bytes += body.len();
        let versions = pages.by_key.entry(key).or_default();
        let dropped = if versions.len() == VERSIONS_PER_PAGE {
            versions.remove(0).1.len()
        } else {
            0
        };
        versions.push((at, body));
        pages.bytes -= dropped;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pages> {
        self.pages.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Page bodies held, for tests.
    pub fn len(&self) -> usize {
        self.lock().by_key.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(names: &[&str]) -> StoreResult<Page<String>> {
        Ok(Page {
            items: names.iter().map(|n| (*n).to_owned()).collect(),
            next_after: None,
        })
    }

    async fn body(
        cache: &PageCache,
        counter: Option<u64>,
        q: &ListQuery,
        names: &[&str],
    ) -> String {
        let JsonBytes(b) = cache
            .page(counter, "things", q, async { page(names) })
            .await
            .expect("page");
        String::from_utf8(b.to_vec()).expect("utf-8")
    }

    #[tokio::test]
    async fn a_page_is_reused_only_while_the_counter_stands_still() {
        let cache = PageCache::default();
        let q = ListQuery::default();
        assert_eq!(
            body(&cache, Some(7), &q, &["a"]).await,
            r#"{"items":["a"]}"#
        );
        // Same counter: the store is not asked again (its answer here would differ).
        assert_eq!(
            body(&cache, Some(7), &q, &["b"]).await,
            r#"{"items":["a"]}"#
        );
        // Another query is another page.
        let other = ListQuery {
            limit: 3,
            ..Default::default()
        };
        assert_eq!(
            body(&cache, Some(7), &other, &["c"]).await,
            r#"{"items":["c"]}"#
        );
        // A commit moved the counter.
        assert_eq!(
            body(&cache, Some(8), &q, &["b"]).await,
            r#"{"items":["b"]}"#
        );
        // Values from another source of the store's counter are kept side by side.
        assert_eq!(
            body(&cache, Some(7), &q, &["x"]).await,
            r#"{"items":["a"]}"#
        );
        assert_eq!(
            body(&cache, Some(8), &q, &["x"]).await,
            r#"{"items":["b"]}"#
        );
        // No counter, no caching.
        let none = PageCache::default();
        assert_eq!(body(&none, None, &q, &["a"]).await, r#"{"items":["a"]}"#);
        assert_eq!(body(&none, None, &q, &["b"]).await, r#"{"items":["b"]}"#);
        assert!(none.is_empty());
    }

    #[test]
    fn held_bytes_stay_under_the_limit() {
        let cache = PageCache::default();
        let big = Bytes::from(vec![b' '; MAX_CACHED_BYTES / 8]);
        for i in 0..40u32 {
            let key = Key {
                list: "things",
                client: None,
                after: Some(i.to_string()),
                size: 50,
                include_archived: false,
            };
            for version in 0..(u64::from(i) % 6) {
                cache.keep(key.clone(), version, big.clone());
                let pages = cache.lock();
                assert!(pages.bytes <= MAX_CACHED_BYTES, "{}", pages.bytes);
                assert_eq!(pages.bytes, pages.held());
            }
        }
    }
}
