//! The search core of threddex, with no transport: what the HTTP API's `/index` and
//! `/collections` (and any other surface: CSV, STAC, …) answer, as domain pages that an
//! encoder turns into bytes.
//!
//! * [`SearchCore::granules`]: one page of a collection's granules overlapping a window,
//!   after refreshing the collection's live catalogs when the window needs it
//!   ([`refresh`]), with the collection's access services and a [`PageFreshness`] saying
//!   where the answer came from and how fresh it is.
//! * [`SearchCore::collections`]: one page of a collection search.
//! * [`SearchCore::items`]: one page of an item search over any number of collections
//!   (STAC), with a filter on items.
//!
//! Both take validated requests ([`GranuleRequest`], [`CollectionRequest`]) and page by opaque
//! keyset cursors ([`cursor`]). The core keeps two caches of domain data (a collection's access
//! services and source, the sources' last sync times) and, through the
//! [`RefreshCoordinator`], the collections' [`Freshness`]; never encoded bytes.

#![forbid(unsafe_code)]

mod cache;
mod collections;
pub mod cursor;
mod granules;
mod items;
pub mod refresh;

use std::sync::Arc;
use std::time::Duration;

use threddex_store::{Store, StoreError};

use crate::cache::{CollectionCache, SyncTimes};

pub use crate::cache::granule_services;
pub use crate::collections::{CollectionPage, CollectionRequest};
pub use crate::granules::{GranulePage, GranuleRequest, PageFreshness, Served};
pub use crate::items::{ItemOrder, ItemPage, ItemRequest, MAX_MERGED, MAX_REFRESHED, MAX_SCAN};
pub use crate::refresh::{
    Decision, Freshness, RefreshCoordinator, RefreshError, RefreshOutcome, RefreshReport,
    RefreshStatus, Refresher,
};

/// Longest collection or granule ID a request or cursor may carry, in bytes.
pub const MAX_ID_BYTES: usize = 1024;

/// Most collections whose access services are kept in memory.
const COLLECTION_CACHE_CAPACITY: usize = 100_000;

/// How long the sources' last successful sync times are reused.
const SYNC_TIMES_TTL: Duration = Duration::from_secs(1);

/// Settings of the search core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchConfig {
    /// How long a granule search waits for a refresh before answering from the index.
    pub refresh_deadline: Duration,
    /// A collection is refreshed at most once per this interval.
    pub min_refresh_interval: Duration,
    /// Hard limit on one background refresh.
    pub max_refresh_duration: Duration,
    /// How long a collection's access services are reused without reading the collection
    /// again (zero: read it on every search).
    pub collection_cache_ttl: Duration,
    /// How long a collection's [`Freshness`] is reused (zero: ask the [`Refresher`] on every
    /// search).
    pub freshness_cache_ttl: Duration,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            refresh_deadline: Duration::from_secs(3),
            min_refresh_interval: Duration::from_secs(60),
            max_refresh_duration: Duration::from_secs(300),
            collection_cache_ttl: Duration::from_secs(30),
            freshness_cache_ttl: Duration::from_secs(1),
        }
    }
}

/// Why a search could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The collection does not exist.
    #[error("unknown collection {0:?}")]
    UnknownCollection(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The search cannot be answered as asked (too broad for its order).
    #[error("{0}")]
    Invalid(String),
}

/// The search core: the store, refresh on demand and the caches. Cheap to clone.
#[derive(Clone)]
pub struct SearchCore {
    store: Arc<dyn Store>,
    coordinator: Option<RefreshCoordinator>,
    collections: Arc<CollectionCache>,
    sync_times: Arc<SyncTimes>,
}

impl std::fmt::Debug for SearchCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchCore")
            .field("backend", &self.store.backend())
            .field("refresh", &self.coordinator)
            .finish_non_exhaustive()
    }
}

impl SearchCore {
    /// A core over `store`; with a `refresher`, granule searches refresh on demand.
    pub fn new(
        store: Arc<dyn Store>,
        refresher: Option<Arc<dyn Refresher>>,
        config: SearchConfig,
    ) -> Self {
        let coordinator = refresher.map(|r| {
            RefreshCoordinator::new(
                r,
                config.refresh_deadline,
                config.min_refresh_interval,
                config.max_refresh_duration,
            )
            .with_freshness_cache(config.freshness_cache_ttl)
        });
        Self {
            store,
            coordinator,
            collections: Arc::new(CollectionCache::new(
                config.collection_cache_ttl,
                COLLECTION_CACHE_CAPACITY,
            )),
            sync_times: Arc::new(SyncTimes::new(SYNC_TIMES_TTL)),
        }
    }

    /// The store searched.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The refresh coordinator, if refresh on demand is enabled.
    pub fn refresh_coordinator(&self) -> Option<&RefreshCoordinator> {
        self.coordinator.as_ref()
    }
}
