//! [`CrawlRefresher`]: the [`Refresher`] backed by the crawler's sync engine
//! ([`threddex_crawler::Syncer`]).
//!
//! `freshness` is called on every `/index` request; it costs one indexed query
//! ([`threddex_store::CrawlState::catalogs_for_collection`]) plus a source lookup, and its answer is
//! cached per collection for a short time (`cache_ttl`, default 5 s; a refresh through this
//! adapter clears the entry).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use threddex_crawler::{CrawlError, FreshnessInfo, Syncer};

use crate::refresh::{Freshness, RefreshError, RefreshReport, Refresher};

/// Most collections kept in the freshness cache.
const CACHE_CAP: usize = 10_000;

/// A [`Refresher`] over a [`Syncer`].
pub struct CrawlRefresher {
    syncer: Syncer,
    cache_ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, FreshnessInfo)>>,
}

impl CrawlRefresher {
    /// An adapter over `syncer` with the default cache lifetime (5 s).
    pub fn new(syncer: Syncer) -> Self {
        Self::with_cache_ttl(syncer, Duration::from_secs(5))
    }

    /// An adapter whose freshness answers are cached for `ttl` (zero: no cache).
    pub fn with_cache_ttl(syncer: Syncer, ttl: Duration) -> Self {
        Self {
            syncer,
            cache_ttl: ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, id: &str) -> Option<FreshnessInfo> {
        if self.cache_ttl.is_zero() {
            return None;
        }
        let c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        c.get(id)
            .filter(|(at, _)| at.elapsed() < self.cache_ttl)
            .map(|(_, f)| *f)
    }

    fn remember(&self, id: &str, f: FreshnessInfo) {
        if self.cache_ttl.is_zero() {
            return;
        }
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if c.len() >= CACHE_CAP {
            let ttl = self.cache_ttl;
            c.retain(|_, (at, _)| at.elapsed() < ttl);
            if c.len() >= CACHE_CAP {
                c.clear();
            }
        }
        c.insert(id.to_string(), (Instant::now(), f));
    }

    fn forget(&self, id: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

fn map_err(e: CrawlError) -> RefreshError {
    match e {
        CrawlError::Store(e) => RefreshError::from(e),
        CrawlError::StartUnreadable { url, reason } => {
            RefreshError::Fetch(format!("{url}: {reason}"))
        }
        other => RefreshError::Other(other.to_string()),
    }
}

fn to_api(f: FreshnessInfo) -> Freshness {
    Freshness {
        has_live_nodes: f.has_live_nodes,
        indexed_through: f.indexed_through,
        last_sync: f.last_sync,
    }
}

#[async_trait]
impl Refresher for CrawlRefresher {
    async fn freshness(&self, collection_id: &str) -> Result<Freshness, RefreshError> {
        if let Some(f) = self.cached(collection_id) {
            return Ok(to_api(f));
        }
        let f = self
            .syncer
            .freshness(collection_id)
            .await
            .map_err(map_err)?;
        self.remember(collection_id, f);
        Ok(to_api(f))
    }

    async fn refresh(&self, collection_id: &str) -> Result<RefreshReport, RefreshError> {
        self.forget(collection_id);
        let s = self
            .syncer
            .refresh_collection(collection_id)
            .await
            .map_err(map_err)?;
        self.remember(collection_id, s.freshness);
        if s.failed > 0 && s.catalogs_read == s.failed {
            return Err(RefreshError::Fetch(format!(
                "all {} catalogs failed",
                s.failed
            )));
        }
        Ok(RefreshReport {
            catalogs_read: s.catalogs_read,
            granules_added: s.granules_added,
            granules_removed: s.granules_removed,
            indexed_through: s.freshness.indexed_through,
        })
    }
}
