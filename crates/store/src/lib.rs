//! The storage contract of threddex.
//!
//! The contract is split by capability, one trait each: [`Maintenance`], [`SourceRegistry`],
//! [`CrawlState`], [`SyncLeases`], [`CollectionCatalog`], [`GranuleIndex`], [`IsoRecords`] and
//! [`CrawlRuns`], [`ChangeLog`] and [`Subscriptions`]. [`Store`] is all of them; every backend (SQLite, the embedded default;
//! Postgres in production) implements each, and so is a `Store`. Code that needs one
//! capability takes that trait (an `Arc<dyn Store>` upcasts to `Arc<dyn GranuleIndex>`); a new
//! kind of data is one more trait beside these. Call store methods on an
//! `Arc<dyn Store>` with `use threddex_store::prelude::*;` in scope.
//!
//! Nothing above this crate writes SQL: the crawler, the CLI and the API only see these types.
//!
//! Conventions:
//! - all times are UTC ([`Timestamp`]);
//! - a [`Batch`] is written atomically (one transaction), so a crawl killed at any point leaves
//!   either the whole batch or none of it;
//! - writes are upserts keyed by natural keys (catalog URL, collection ID, `(collection, granule
//!   ID)`), so writing the same batch twice changes nothing.

#![forbid(unsafe_code)]

mod change_log;
mod filter;
mod freetext;
mod frontier;
pub mod granule_codec;
mod item_filter;
mod lease;
mod model;
pub mod sql;
mod subscriptions;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use change_log::*;
pub use filter::*;
pub use freetext::MAX_TERMS;
pub use frontier::*;
pub use item_filter::*;
pub use lease::*;
pub use model::*;
pub use subscriptions::*;

use async_trait::async_trait;

/// Errors a store reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A uniqueness rule was violated (e.g. a source name that is taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller passed something the store cannot accept.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The database URL names a scheme no backend handles.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// The database cannot be reached or opened, or its schema cannot be brought up to date.
    #[error("{context}")]
    Connect {
        /// What was being done (`"connecting to Postgres"`, `"migrating"`, …).
        context: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// A database operation failed.
    #[error("database error")]
    Database(#[source] BoxError),
    /// A stored value this version cannot read back.
    #[error("unreadable stored {0}")]
    Corrupt(String),
    /// The backend found its own data in a state it does not allow (a row that vanished
    /// between two statements, no free hash slot, …).
    #[error("database error: {0}")]
    Internal(String),
}

/// The error of a driver (or of the system under it), kept as the source of a [`StoreError`]
/// so callers can inspect it (`downcast_ref::<sqlx::Error>()` in a backend).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl StoreError {
    /// A [`StoreError::Connect`] with what was being done and the driver's error.
    pub fn connect(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Connect {
            context: context.into(),
            source: source.into(),
        }
    }

    /// Whether the database could not be reached, opened or migrated.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect { .. })
    }
}

/// An error and its sources on one line, `outer: inner: …`, leaving out a source whose text
/// its effect already ends with (for logs and messages that take one string).
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut last = self.0.to_string();
        f.write_str(&last)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            // Database drivers often end their own message with their cause's: say it once.
            let text = e.to_string();
            if !last.ends_with(&text) {
                write!(f, ": {text}")?;
                last = text;
            }
            next = e.source();
        }
        Ok(())
    }
}

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Backend identity and upkeep: migrations, a health ping and table sizes.
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// Short backend name (`"sqlite"`, `"postgres"`), for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// Apply pending migrations. Idempotent; safe when several processes start at once.
    async fn migrate(&self) -> Result<()>;

    /// Cheap round trip to the database (for readiness checks).
    async fn ping(&self) -> Result<()>;

    /// Row counts and sizes, for summaries and the storage measurements.
    async fn stats(&self) -> Result<StoreStats>;

    /// Bring the query planner's statistics up to date after a large load (a first harvest
    /// into empty tables would otherwise be planned as empty until the database's own
    /// background analysis runs). Default: nothing to do.
    async fn update_planner_statistics(&self) -> Result<()> {
        Ok(())
    }
}

/// The registered sources: what to crawl, with their settings and sync times.
#[async_trait]
pub trait SourceRegistry: Send + Sync {
    /// Register a source. [`StoreError::Conflict`] when the name or URL is taken.
    async fn add_source(&self, source: &NewSource) -> Result<Source>;

    /// The source with this exact start URL, registering it (with `source`'s settings) when
    /// there is none. Never changes the settings of an existing source.
    async fn ensure_source(&self, source: &NewSource) -> Result<Source>;

    /// Replace the settings (`authority`, `every_secs`, `select`, `skip`, `rules`) of the
    /// source named `source.name` and return it. Its ID, URL, registration and sync times and
    /// everything harvested from it stay as they are. [`StoreError::NotFound`] when no source
    /// has that name; [`StoreError::Conflict`] when it has another URL (a source's URL is
    /// never changed: remove it and add it again).
    async fn update_source(&self, source: &NewSource) -> Result<Source>;

    /// Look a source up by name.
    async fn source_by_name(&self, name: &str) -> Result<Option<Source>>;

    /// Look a source up by its start URL.
    async fn source_by_url(&self, url: &str) -> Result<Option<Source>>;

    /// All sources, ordered by name.
    async fn list_sources(&self) -> Result<Vec<Source>>;

    /// Remove a source and everything harvested from it. Returns whether it existed.
    async fn remove_source(&self, name: &str) -> Result<bool>;

    /// Record the end of a sync/harvest run of a source.
    async fn mark_source_synced(&self, source_id: i64, at: Timestamp, success: bool) -> Result<()>;
}

/// The crawl's memory: catalog states, atomic batches of rows, collection statistics and the virtual views each catalog lists.
#[async_trait]
pub trait CrawlState: Send + Sync {
    /// The persisted state of one catalog.
    async fn catalog(&self, url: &str) -> Result<Option<CatalogState>>;

    /// The persisted state of every catalog of a source (for planning a sync).
    async fn catalogs_of_source(&self, source_id: i64) -> Result<Vec<CatalogState>>;

    /// The catalogs of a source a sync re-reads when it runs at `due_by` (see
    /// [`DueCatalogs`]), read through the `next_visit` index and the index of unsettled
    /// (pending, failed) catalogs: a source of many archival catalogs costs what is due, not
    /// a read of every row.
    async fn due_catalogs(&self, source_id: i64, due_by: Timestamp) -> Result<DueCatalogs>;

    /// The URLs of the stored catalogs whose parent is `parent_url`, ordered by URL (the
    /// children a re-read listing is compared with).
    async fn child_catalogs(&self, parent_url: &str) -> Result<Vec<String>>;

    /// Write a batch atomically: upsert its catalogs, collections and granules, then apply its
    /// deletions. See [`Batch`].
    async fn write_batch(&self, batch: &Batch) -> Result<BatchOutcome>;

    /// How many [`write_batch`](Self::write_batch) calls of one crawl run may be in flight at
    /// once. 1 (the default): one after the other, for stores whose writes cannot overlap
    /// (SQLite has one writer). A crawl run never overlaps a batch with one that introduced a
    /// collection its granules name, or with one that deletes catalog trees.
    fn concurrent_writes(&self) -> usize {
        1
    }

    /// Recompute the derived figures of collections (granule count, time extent) from their
    /// granules. Called after harvests and syncs for the collections their batches changed
    /// ([`BatchOutcome::changed_collections`]); only rows whose figures move are written.
    /// Concurrent recomputations of a collection (several processes) never leave figures older
    /// than the last one's start: whatever was written before it started is counted.
    async fn refresh_collection_stats(&self, collection_ids: &[String]) -> Result<()>;

    /// The catalogs that hold at least one granule of this collection, ordered by URL.
    async fn catalogs_for_collection(&self, collection_id: &str) -> Result<Vec<CatalogState>>;

    /// The views a catalog listed at its last successful read, in listing order (empty when
    /// it listed none or is unknown).
    async fn catalog_views(&self, catalog_url: &str) -> Result<Vec<View>>;
}

/// One sync per source across processes: leases that name their holder.
#[async_trait]
pub trait SyncLeases: Send + Sync {
    /// Try to take the sync lease of a source for `holder` until now + `ttl`, recording the
    /// holder's details. A lease held by another holder that has not expired makes this return
    /// [`LeaseGrant::Busy`] with that holder's details and expiry; an expired lease (or one
    /// with this holder's ID) is taken over ([`LeaseGrant::TakenOver`]: the previous run did
    /// not release it, so it may have been interrupted).
    async fn try_acquire_lease(
        &self,
        source_id: i64,
        holder: &LeaseHolder,
        ttl: std::time::Duration,
    ) -> Result<LeaseGrant>;

    /// Take over the lease of a source from the holder with ID `from` (whatever its expiry),
    /// for `holder` until now + `ttl`. False when `from` does not hold it (any more): released,
    /// or taken by someone else meanwhile. Used for holders known to be gone.
    async fn take_over_lease(
        &self,
        source_id: i64,
        from: &str,
        holder: &LeaseHolder,
        ttl: std::time::Duration,
    ) -> Result<bool>;

    /// [`SyncLeases::try_acquire_lease`], and when the lease is busy with a holder that `liveness`
    /// judges gone (a process of the caller's own host that no longer exists), take it over at
    /// once ([`LeaseGrant::TakenOver`]) instead of waiting for it to expire.
    async fn acquire_lease(
        &self,
        source_id: i64,
        holder: &LeaseHolder,
        ttl: std::time::Duration,
        liveness: &dyn HolderLiveness,
    ) -> Result<LeaseGrant> {
        // The lease may change hands between the look and the takeover (another contender
        // took it over first, or the holder released it): look again, a few times.
        for _ in 0..3 {
            match self.try_acquire_lease(source_id, holder, ttl).await? {
                LeaseGrant::Busy(info) if liveness.is_gone(&info.holder) => {
                    if self
                        .take_over_lease(source_id, &info.holder.id, holder, ttl)
                        .await?
                    {
                        return Ok(LeaseGrant::TakenOver);
                    }
                }
                grant => return Ok(grant),
            }
        }
        self.try_acquire_lease(source_id, holder, ttl).await
    }

    /// Extend a lease this holder holds to now + `ttl`. False when the lease is no longer
    /// this holder's (it expired and someone else took it, or it was released). `holder` is
    /// the holder's ID ([`LeaseHolder::id`]).
    async fn renew_lease(
        &self,
        source_id: i64,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool>;

    /// Release a lease this holder (by ID) holds (nothing happens when it holds none).
    async fn release_lease(&self, source_id: i64, holder: &str) -> Result<()>;
}

/// Step 1 of the search: collections by text, box and time, catalogue queries (CSW), one collection and its views.
#[async_trait]
pub trait CollectionCatalog: Send + Sync {
    /// Collections matching a query, ordered by ID.
    async fn list_collections(&self, query: &CollectionQuery) -> Result<Vec<Collection>>;

    /// The same search as [`CollectionCatalog::list_collections`], listing only what a hit shows
    /// ([`CollectionHit`]): a backend can then leave the large columns (services, metadata,
    /// ISO record) unread.
    async fn list_collection_hits(&self, query: &CollectionQuery) -> Result<Vec<CollectionHit>> {
        Ok(self
            .list_collections(query)
            .await?
            .iter()
            .map(CollectionHit::from)
            .collect())
    }

    /// One collection by ID.
    async fn collection(&self, id: &str) -> Result<Option<Collection>>;

    /// The virtual views of a collection: the views of every catalog that lists one of its
    /// granules or references (directly) a catalog that does, ordered by catalog URL, then in
    /// listing order. Kept up to date by [`CrawlState::write_batch`] as files arrive and leave.
    async fn collection_views(&self, collection_id: &str) -> Result<Vec<CollectionView>>;

    /// Collections matching a [`RecordFilter`] (see [`Queryable`] for the columns), ordered by
    /// `sort`, ties (and everything without `sort`) in insertion order (stable, so paging with
    /// `offset` visits each match once), skipping `offset` and returning at most `limit` (0: none, only the
    /// count), with the number of all matches. Translated into SQL with bound parameters.
    /// [`StoreError::Invalid`] for a filter nested deeper than [`MAX_FILTER_DEPTH`] or a
    /// sort key that cannot be sorted on.
    async fn search_records(
        &self,
        filter: &RecordFilter,
        sort: &[SortKey],
        offset: u64,
        limit: u32,
    ) -> Result<RecordPage>;

    /// The first `limit` collections of [`CollectionCatalog::search_records`] without the
    /// count of all matches and without their ISO records (`iso_record` is `None`): what an
    /// item search needs of its collections. A backend can then skip the count and leave the
    /// record unread.
    async fn find_collections(
        &self,
        filter: &RecordFilter,
        sort: &[SortKey],
        limit: u32,
    ) -> Result<Vec<Collection>> {
        let mut found = self
            .search_records(filter, sort, 0, limit)
            .await?
            .collections;
        for c in &mut found {
            c.iso_record = None;
        }
        Ok(found)
    }
}

/// Step 2 of the search: a collection's granules in a time window, in time order.
#[async_trait]
pub trait GranuleIndex: Send + Sync {
    /// Granules of one collection whose time overlaps `[start, end)`, ordered by
    /// `(start, granule_id)`, after the cursor if one is given.
    async fn list_granules(&self, query: &GranuleQuery) -> Result<Vec<Granule>>;

    /// The granules [`GranuleIndex::list_granules`] lists for `query`, in the reverse order:
    /// by `(start, granule_id)` descending, granules without a start last. The cursor is a
    /// position in this order: rows strictly before `(start, granule_id)` in ascending order
    /// are listed, where an empty granule ID stands for the end of its start group (every
    /// granule of that start, and the earlier ones, are listed), as it stands for the start of
    /// the group in ascending order.
    async fn list_granules_desc(&self, query: &GranuleQuery) -> Result<Vec<Granule>>;

    /// The granules of one collection counted per bucket of their start time, over the
    /// window [`TimelineQuery::aligned`] (whole buckets): the non-empty buckets in time
    /// order. Granules without a start are not counted; an unknown collection has no
    /// buckets. Day and month counts come from per-day counts the backend keeps with the
    /// granules (a handful of rows per day, whatever the number of granules), hour counts
    /// from the granules themselves.
    async fn granule_timeline(&self, query: &TimelineQuery) -> Result<Vec<TimelineBucket>>;

    /// How many granules [`GranuleIndex::list_granules`] lists for `query` without its cursor
    /// and limit, counted in the index without reading the rows; None when the backend cannot
    /// count cheaply.
    async fn count_granules(&self, query: &GranuleQuery) -> Result<Option<u64>> {
        let _ = query;
        Ok(None)
    }

    /// [`GranuleIndex::list_granules`] read from where writes go, for an answer that must
    /// include what was just written (a listing right after a refresh on demand). The same as
    /// `list_granules` unless searches read from a replica.
    async fn list_granules_from_primary(&self, query: &GranuleQuery) -> Result<Vec<Granule>> {
        self.list_granules(query).await
    }

    /// When searches read from a streaming replica: the time on the primary up to which the
    /// replica has replayed every committed write (reads may miss writes committed later).
    /// None when reads come from the database that is written (they miss nothing).
    async fn replica_as_of(&self) -> Result<Option<Timestamp>> {
        Ok(None)
    }
}

/// The ISO 19139 series records of collections.
#[async_trait]
pub trait IsoRecords: Send + Sync {
    /// Store the ISO 19139 series records of collections (see [`IsoRecordUpdate`]). Each
    /// record replaces the collection's previous one; `updated_at` moves only when the XML
    /// changes. Records of collections that do not exist (e.g. removed meanwhile) are skipped.
    /// Returns how many collections were found.
    async fn set_iso_records(&self, records: &[IsoRecordUpdate]) -> Result<u64>;

    /// Collections whose ISO record is missing, or was built for another time extent than
    /// the collection's current one (as last computed by
    /// [`CrawlState::refresh_collection_stats`]) or for other views (another
    /// [`Collection::views_version`]), ordered by ID; only those of `source_id` when given.
    /// A `limit` of 0 means no limit.
    async fn stale_iso_records(
        &self,
        source_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Collection>>;
}

/// The record of harvests, syncs and refreshes.
#[async_trait]
pub trait CrawlRuns: Send + Sync {
    /// Record the start of a crawl run (status [`RunStatus::Running`]); returns its ID. Also
    /// deletes the source's runs older than its newest [`MAX_RUNS_PER_SOURCE`].
    /// [`StoreError::NotFound`] when the source does not exist.
    async fn start_run(&self, run: &NewCrawlRun) -> Result<i64>;

    /// Record the end of a run: its status, figures and first errors (bounded as
    /// [`CrawlRunEnd::bounded_errors`] says). [`StoreError::NotFound`] when there is no
    /// such run (e.g. its source was removed meanwhile); [`StoreError::Invalid`] for a
    /// `running` status.
    async fn finish_run(&self, run_id: i64, end: &CrawlRunEnd) -> Result<()>;

    /// The newest runs first (by ID), of the source with this name when given, at most
    /// `limit` (0: no limit). Runs are removed with their source.
    async fn list_runs(&self, source: Option<&str>, limit: u32) -> Result<Vec<CrawlRun>>;
}

/// Everything threddex needs of a store: every capability above. Implemented by every type
/// that has them all (the backends); code that needs less takes the capability it uses
/// (`&dyn GranuleIndex`, …; an `Arc<dyn Store>` upcasts to any of them).
///
/// Implementations must be cheap to clone behind an `Arc` and safe to share between tasks.
pub trait Store:
    Maintenance
    + SourceRegistry
    + CrawlState
    + SyncLeases
    + CollectionCatalog
    + GranuleIndex
    + IsoRecords
    + CrawlRuns
    + ChangeLog
    + Subscriptions
    + 'static
{
}

impl<
    T: Maintenance
        + SourceRegistry
        + CrawlState
        + SyncLeases
        + CollectionCatalog
        + GranuleIndex
        + IsoRecords
        + CrawlRuns
        + ChangeLog
        + Subscriptions
        + 'static
        + ?Sized,
> Store for T
{
}

/// The capability traits, for calling store methods on an `Arc<dyn Store>`:
/// `use threddex_store::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ChangeLog as _, CollectionCatalog as _, CrawlRuns as _, CrawlState as _, GranuleIndex as _,
        IsoRecords as _, Maintenance as _, SourceRegistry as _, Store, Subscriptions as _,
        SyncLeases as _,
    };
}
