//! SQLite backend of the threddex store: the embedded default.
//!
//! Open with [`SqliteStore::connect`] (`sqlite://PATH`, `sqlite:PATH` or `sqlite::memory:`),
//! which creates the file when missing and applies [`MIGRATOR`]. Every operation of
//! [`threddex_store::Store`] is implemented; details the trait leaves to backends:
//!
//! - times are kept at microsecond precision (like Postgres), as unix seconds;
//! - a granule naming a collection that is neither stored nor in its batch is rejected with
//!   `StoreError::Invalid` (and the whole batch is rolled back); a granule naming an unknown
//!   catalog URL gets a pending catalog row (source of its collection, no parent, depth 0);
//! - granule time overlap with `[start, end)` is `start_time < end AND
//!   coalesce(end_time, start_time) >= start`; granules without a start time only match when
//!   the query gives no window;
//! - collection searches: the shared compiler's SQL (`threddex_store::sql`) with this crate's
//!   dialect (`search.rs`); a free-text term is a prefix phrase of the FTS5 index over title,
//!   summary and keywords, or the term as a substring of the ID; the bbox filter is
//!   antimeridian aware and skips collections without a bbox;
//! - a `limit` of 0 means no limit.
//!
//! Schema and measurements: `migrations/sqlite/0001_init.sql` and this crate's README.

#![forbid(unsafe_code)]

mod change_log;
mod connect;
mod convert;
mod granules;
mod idhash;
mod iso;
mod lease;
mod read;
mod runs;
mod search;
mod sources;
mod subscriptions;
mod timeline;
mod views;
mod write;

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::SqlitePool;
use threddex_store::{
    Batch, BatchOutcome, CatalogState, ChangeLog, ChangePage, ChangeQuery, Collection,
    CollectionCatalog, CollectionQuery, CollectionView, CrawlRun, CrawlRunEnd, CrawlRuns,
    CrawlState, DueCatalogs, Granule, GranuleIndex, GranuleQuery, IsoRecordUpdate, IsoRecords,
    Maintenance, NewCrawlRun, NewSource, Result, Source, SourceRegistry, StoreStats, SyncLeases,
    TimelineBucket, TimelineQuery, Timestamp, View,
};
use tokio::sync::Mutex;

pub use connect::MIGRATOR;
pub use idhash::granule_id_hash;

/// A threddex store in one SQLite database file (or in memory).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Serialises this process's write transactions (SQLite has one writer at a time; waiting
    /// here is cheaper than spinning on `SQLITE_BUSY`).
    write_lock: Arc<Mutex<()>>,
}

impl SqliteStore {
    /// The connection pool, for tools and tests that need raw access.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Close every connection (an in-memory database is lost).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Maintenance for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        self.run_migrations().await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(convert::db_err)?;
        Ok(())
    }

    async fn stats(&self) -> Result<StoreStats> {
        read::stats(&self.pool).await
    }
}

#[async_trait]
impl SourceRegistry for SqliteStore {
    async fn add_source(&self, source: &NewSource) -> Result<Source> {
        let _guard = self.write_lock.lock().await;
        sources::add(&self.pool, source).await
    }

    async fn ensure_source(&self, source: &NewSource) -> Result<Source> {
        let _guard = self.write_lock.lock().await;
        sources::ensure(&self.pool, source).await
    }

    async fn update_source(&self, source: &NewSource) -> Result<Source> {
        let _guard = self.write_lock.lock().await;
        sources::update(&self.pool, source).await
    }

    async fn source_by_name(&self, name: &str) -> Result<Option<Source>> {
        sources::by_name(&self.pool, name).await
    }

    async fn source_by_url(&self, url: &str) -> Result<Option<Source>> {
        sources::by_url(&self.pool, url).await
    }

    async fn list_sources(&self) -> Result<Vec<Source>> {
        sources::list(&self.pool).await
    }

    async fn remove_source(&self, name: &str) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        sources::remove(&self.pool, name).await
    }

    async fn mark_source_synced(&self, source_id: i64, at: Timestamp, success: bool) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        sources::mark_synced(&self.pool, source_id, at, success).await
    }
}

#[async_trait]
impl CrawlState for SqliteStore {
    async fn catalog(&self, url: &str) -> Result<Option<CatalogState>> {
        read::catalog(&self.pool, url).await
    }

    async fn catalogs_of_source(&self, source_id: i64) -> Result<Vec<CatalogState>> {
        read::catalogs_of_source(&self.pool, source_id).await
    }

    async fn due_catalogs(&self, source_id: i64, due_by: Timestamp) -> Result<DueCatalogs> {
        read::due_catalogs(&self.pool, source_id, due_by).await
    }

    async fn child_catalogs(&self, parent_url: &str) -> Result<Vec<String>> {
        read::child_catalogs(&self.pool, parent_url).await
    }

    async fn write_batch(&self, batch: &Batch) -> Result<BatchOutcome> {
        if batch.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let _guard = self.write_lock.lock().await;
        write::write_batch(&self.pool, batch).await
    }

    async fn refresh_collection_stats(&self, collection_ids: &[String]) -> Result<()> {
        if collection_ids.is_empty() {
            return Ok(());
        }
        let _guard = self.write_lock.lock().await;
        write::refresh_collection_stats(&self.pool, collection_ids).await
    }

    async fn catalogs_for_collection(&self, collection_id: &str) -> Result<Vec<CatalogState>> {
        lease::catalogs_for_collection(&self.pool, collection_id).await
    }

    async fn catalog_views(&self, catalog_url: &str) -> Result<Vec<View>> {
        views::catalog_views(&self.pool, catalog_url).await
    }
}

#[async_trait]
impl SyncLeases for SqliteStore {
    async fn try_acquire_lease(
        &self,
        source_id: i64,
        holder: &threddex_store::LeaseHolder,
        ttl: std::time::Duration,
    ) -> Result<threddex_store::LeaseGrant> {
        let _guard = self.write_lock.lock().await;
        lease::try_acquire(&self.pool, source_id, holder, ttl).await
    }

    async fn take_over_lease(
        &self,
        source_id: i64,
        from: &str,
        holder: &threddex_store::LeaseHolder,
        ttl: std::time::Duration,
    ) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        lease::take_over(&self.pool, source_id, from, holder, ttl).await
    }

    async fn renew_lease(
        &self,
        source_id: i64,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        lease::renew(&self.pool, source_id, holder, ttl).await
    }

    async fn release_lease(&self, source_id: i64, holder: &str) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        lease::release(&self.pool, source_id, holder).await
    }
}

#[async_trait]
impl CollectionCatalog for SqliteStore {
    async fn list_collections(&self, query: &CollectionQuery) -> Result<Vec<Collection>> {
        search::list_collections(&self.pool, query).await
    }

    async fn collection(&self, id: &str) -> Result<Option<Collection>> {
        read::collection(&self.pool, id).await
    }

    async fn search_records(
        &self,
        filter: &threddex_store::RecordFilter,
        sort: &[threddex_store::SortKey],
        offset: u64,
        limit: u32,
    ) -> Result<threddex_store::RecordPage> {
        search::search_records(&self.pool, filter, sort, offset, limit).await
    }

    async fn collection_views(&self, collection_id: &str) -> Result<Vec<CollectionView>> {
        views::collection_views(&self.pool, collection_id).await
    }
}

#[async_trait]
impl GranuleIndex for SqliteStore {
    async fn list_granules(&self, query: &GranuleQuery) -> Result<Vec<Granule>> {
        read::list_granules(&self.pool, query).await
    }

    async fn list_granules_desc(&self, query: &GranuleQuery) -> Result<Vec<Granule>> {
        granules::list(&self.pool, query, true).await
    }

    async fn granule_timeline(&self, query: &TimelineQuery) -> Result<Vec<TimelineBucket>> {
        timeline::granule_timeline(&self.pool, query).await
    }

    async fn count_granules(&self, query: &GranuleQuery) -> Result<Option<u64>> {
        crate::granules::count(&self.pool, query).await.map(Some)
    }
}

#[async_trait]
impl IsoRecords for SqliteStore {
    async fn set_iso_records(&self, records: &[IsoRecordUpdate]) -> Result<u64> {
        if records.is_empty() {
            return Ok(0);
        }
        let _guard = self.write_lock.lock().await;
        iso::set_iso_records(&self.pool, records).await
    }

    async fn stale_iso_records(
        &self,
        source_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Collection>> {
        iso::stale_iso_records(&self.pool, source_id, limit).await
    }
}

#[async_trait]
impl CrawlRuns for SqliteStore {
    async fn start_run(&self, run: &NewCrawlRun) -> Result<i64> {
        let _guard = self.write_lock.lock().await;
        runs::start(&self.pool, run).await
    }

    async fn finish_run(&self, run_id: i64, end: &CrawlRunEnd) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        runs::finish(&self.pool, run_id, end).await
    }

    async fn list_runs(&self, source: Option<&str>, limit: u32) -> Result<Vec<CrawlRun>> {
        runs::list(&self.pool, source, limit).await
    }
}

#[async_trait]
impl ChangeLog for SqliteStore {
    async fn changes(&self, query: &ChangeQuery) -> Result<ChangePage> {
        change_log::changes(&self.pool, query).await
    }

    async fn change_head(&self) -> Result<(i64, i64)> {
        change_log::head(&self.pool).await
    }

    async fn prune_changes(&self, before: Timestamp) -> Result<u64> {
        let _guard = self.write_lock.lock().await;
        change_log::prune(&self.pool, before).await
    }

    async fn relay_cursor(&self, name: &str) -> Result<Option<i64>> {
        change_log::relay_cursor(&self.pool, name).await
    }

    async fn save_relay_cursor(&self, name: &str, seq: i64) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        change_log::save_relay_cursor(&self.pool, name, seq).await
    }
}

#[async_trait]
impl threddex_store::Subscriptions for SqliteStore {
    async fn add_subscription(
        &self,
        new: &threddex_store::NewSubscription,
    ) -> Result<threddex_store::Subscription> {
        let _guard = self.write_lock.lock().await;
        subscriptions::add(&self.pool, new).await
    }

    async fn list_subscriptions(&self) -> Result<Vec<threddex_store::Subscription>> {
        subscriptions::list(&self.pool).await
    }

    async fn subscription(&self, id: i64) -> Result<Option<threddex_store::Subscription>> {
        subscriptions::get(&self.pool, id).await
    }

    async fn remove_subscription(&self, id: i64) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        subscriptions::remove(&self.pool, id).await
    }

    async fn enable_subscription(
        &self,
        id: i64,
        cursor: Option<i64>,
    ) -> Result<Option<threddex_store::Subscription>> {
        let _guard = self.write_lock.lock().await;
        subscriptions::enable(&self.pool, id, cursor).await
    }

    async fn record_delivery(
        &self,
        id: i64,
        delivery: Option<&threddex_store::NewDelivery>,
        progress: &threddex_store::SubscriptionProgress,
    ) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        subscriptions::record(&self.pool, id, delivery, progress).await
    }

    async fn deliveries(
        &self,
        id: i64,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<threddex_store::Delivery>> {
        subscriptions::deliveries(&self.pool, id, before, limit).await
    }
}
