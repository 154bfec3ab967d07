//! Postgres backend of the threddex store (production deployments).
//!
//! Open with [`PostgresStore::connect`] (`postgres://user[:password]@host[:port]/database` or
//! `postgresql://…`), which applies [`MIGRATOR`] under a Postgres advisory lock, so several
//! replicas can start at once. Every operation of [`threddex_store::Store`] is implemented with
//! the same observable behaviour as the SQLite backend (both run the shared behaviour suite of
//! `threddex_store::testsuite`):
//!
//! - times are `timestamptz` (UTC, microsecond precision);
//! - a batch is one transaction; catalogs, collections and granules are upserted in bulk
//!   (`INSERT … SELECT … FROM UNNEST($1::text[], …) ON CONFLICT … DO UPDATE`), a few
//!   statements per 10 000 rows, never row by row; unchanged granules are not rewritten;
//! - a granule naming a collection that is neither stored nor in its batch is rejected with
//!   `StoreError::Invalid` (the batch is rolled back); a granule naming an unknown catalog URL
//!   gets a pending catalog row (source of its collection);
//! - granule rows are compact (migration 0006, `src/granules.rs`): keyed by
//!   `(collection_key, id_hash)` (`hashtextextended(ID, 0)`, collisions take the next slot);
//!   ID, name, urlPath and `modified` are not stored when the collection's templates render
//!   them exactly (never lossy: anything else is stored verbatim);
//! - granule time overlap with `[start, end)` is `start_time < end AND
//!   COALESCE(end_time, start_time) >= start`, served by the index
//!   `(collection_key, start_time)`; listings are ordered by `(start, ID)` (ties sorted after
//!   rendering); untimed granules sort first;
//! - collection searches: the shared compiler's SQL (`threddex_store::sql`) with this crate's
//!   dialect (`search.rs`); a free-text term matches the `search` tsvector (title, summary,
//!   keywords and variable names split at ASCII punctuation; `to_tsquery('simple', …)` as a
//!   prefix phrase, GIN index) or is a case-insensitive substring of the ID;
//! - NUL characters (which Postgres refuses in text) are stored as U+FFFD;
//! - a `limit` of 0 means no limit.

#![forbid(unsafe_code)]

mod change_log;
mod connect;
mod convert;
mod frontier;
mod granules;
mod iso;
mod keys;
mod lease;
mod planner_stats;
mod read;
mod read_pool;
mod replica;
mod runs;
mod search;
mod sources;
mod subscriptions;
mod timeline;
mod views;
mod write;

#[cfg(feature = "testdb")]
pub mod testdb;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use threddex_store::{
    Batch, BatchOutcome, CatalogState, ChangeLog, ChangePage, ChangeQuery, Collection,
    CollectionCatalog, CollectionHit, CollectionQuery, CollectionView, CrawlRun, CrawlRunEnd,
    CrawlRuns, CrawlState, DueCatalogs, Granule, GranuleIndex, GranuleQuery, IsoRecordUpdate,
    IsoRecords, Maintenance, NewCrawlRun, NewSource, Result, Source, SourceRegistry, StoreStats,
    SyncLeases, TimelineBucket, TimelineQuery, Timestamp, View,
};

pub use connect::{
    DEFAULT_POOL_SIZE, MAX_POOL_SIZE, MIGRATION_LOCK_KEY, MIGRATOR, PostgresOptions,
    is_postgres_url,
};

use crate::convert::db_err;

/// A threddex store in a Postgres database.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// Kept to open the dedicated migration connection.
    options: PgConnectOptions,
    /// Catalog URLs of granule listings, by catalog key.
    catalog_urls: std::sync::Arc<read::CatalogUrls>,
    /// Search texts that match many collections (their searches read in ID order).
    common_texts: std::sync::Arc<read::CommonTexts>,
    /// Connections of the hot read statements (granule listings, collection searches), see
    /// [`read_pool`].
    reads: std::sync::Arc<read_pool::ReadPool>,
    /// Collection keys by ID, for the granule statements (see [`keys`]).
    collection_keys: std::sync::Arc<keys::CollectionKeys>,
    /// Where the other search reads go: `pool`, or the replica's pool.
    read_pool: PgPool,
    /// The streaming replica search reads go to, if any
    /// ([`PostgresStore::with_read_replica`]).
    replica: Option<std::sync::Arc<replica::Replica>>,
    /// Connections per pool (for the replica's pools).
    pool_size: u32,
    /// Background `ANALYZE` as the granule table grows (see [`planner_stats`]).
    growth: std::sync::Arc<planner_stats::GrowthAnalyze>,
}

impl PostgresStore {
    /// How many times this store has analyzed the granule table as it grew (see
    /// `planner_stats`; diagnostics and tests).
    pub fn growth_analyses(&self) -> u64 {
        self.growth.runs()
    }

    /// The `EXPLAIN` plans of the statements [`GranuleIndex::list_granules`] runs for `query`
    /// (diagnostics: shows that lookups are index range scans in index order).
    pub async fn explain_list_granules(&self, query: &GranuleQuery) -> Result<String> {
        read::explain_granules(&self.pool, &self.collection_keys, query).await
    }

    /// A setting (`current_setting(name)`) as the connections of the hot read statements
    /// see it (diagnostics: they plan their statements once, see `read_pool`).
    pub async fn read_connection_setting(&self, name: &str) -> Result<String> {
        let mut conn = self.reads.acquire().await?;
        let value: String = sqlx::query_scalar("SELECT current_setting($1)")
            .bind(name)
            .fetch_one(conn.conn())
            .await
            .map_err(db_err)?;
        conn.done();
        Ok(value)
    }

    /// A setting (`current_setting(name)`) as the connections of the general pool (writes,
    /// the crawl state, statistics) see it (diagnostics).
    pub async fn connection_setting(&self, name: &str) -> Result<String> {
        sqlx::query_scalar("SELECT current_setting($1)")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    /// Close every pooled connection.
    pub async fn close(&self) {
        self.reads.close().await;
        self.pool.close().await;
        self.read_pool.close().await;
    }

    /// Idle connections of the granule-listing pool (diagnostics and tests: a listing that
    /// completes gives its connection back, a cancelled one closes it).
    pub fn idle_read_connections(&self) -> usize {
        self.reads.idle_count()
    }

    /// How many search texts this store found to match many collections (diagnostics and
    /// tests: their searches are read in ID order, see [`CollectionCatalog::list_collections`]).
    pub fn common_search_texts(&self) -> usize {
        self.common_texts.common_count()
    }
}

#[async_trait]
impl Maintenance for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<()> {
        self.migrate_now().await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn stats(&self) -> Result<StoreStats> {
        read::stats(&self.pool).await
    }

    async fn update_planner_statistics(&self) -> Result<()> {
        // The partitioned granule table is analyzed with its partitions.
        sqlx::query("ANALYZE granules, catalogs, collections")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl SourceRegistry for PostgresStore {
    async fn add_source(&self, source: &NewSource) -> Result<Source> {
        sources::add_source(&self.pool, source).await
    }

    async fn ensure_source(&self, source: &NewSource) -> Result<Source> {
        sources::ensure_source(&self.pool, source).await
    }

    async fn update_source(&self, source: &NewSource) -> Result<Source> {
        sources::update_source(&self.pool, source).await
    }

    async fn source_by_name(&self, name: &str) -> Result<Option<Source>> {
        sources::source_by_name(&self.pool, name).await
    }

    async fn source_by_url(&self, url: &str) -> Result<Option<Source>> {
        sources::source_by_url(&self.pool, url).await
    }

    async fn list_sources(&self) -> Result<Vec<Source>> {
        sources::list_sources(&self.pool).await
    }

    async fn remove_source(&self, name: &str) -> Result<bool> {
        sources::remove_source(&self.pool, name).await
    }

    async fn mark_source_synced(&self, source_id: i64, at: Timestamp, success: bool) -> Result<()> {
        sources::mark_source_synced(&self.pool, source_id, at, success).await
    }
}

#[async_trait]
impl CrawlState for PostgresStore {
    async fn catalog(&self, url: &str) -> Result<Option<CatalogState>> {
        sources::catalog(&self.pool, url).await
    }

    async fn catalogs_of_source(&self, source_id: i64) -> Result<Vec<CatalogState>> {
        sources::catalogs_of_source(&self.pool, source_id).await
    }

    async fn due_catalogs(&self, source_id: i64, due_by: Timestamp) -> Result<DueCatalogs> {
        sources::due_catalogs(&self.pool, source_id, due_by).await
    }

    async fn child_catalogs(&self, parent_url: &str) -> Result<Vec<String>> {
        sources::child_catalogs(&self.pool, parent_url).await
    }

    async fn write_batch(&self, batch: &Batch) -> Result<BatchOutcome> {
        let out = write::write_batch(&self.pool, batch).await?;
        self.growth.record(&self.pool, out.granules_inserted);
        Ok(out)
    }

    fn concurrent_writes(&self) -> usize {
        write::CONCURRENT_WRITES
    }

    async fn refresh_collection_stats(&self, collection_ids: &[String]) -> Result<()> {
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
impl SyncLeases for PostgresStore {
    async fn try_acquire_lease(
        &self,
        source_id: i64,
        holder: &threddex_store::LeaseHolder,
        ttl: std::time::Duration,
    ) -> Result<threddex_store::LeaseGrant> {
        lease::try_acquire(&self.pool, source_id, holder, ttl).await
    }

    async fn take_over_lease(
        &self,
        source_id: i64,
        from: &str,
        holder: &threddex_store::LeaseHolder,
        ttl: std::time::Duration,
    ) -> Result<bool> {
        lease::take_over(&self.pool, source_id, from, holder, ttl).await
    }

    async fn renew_lease(
        &self,
        source_id: i64,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool> {
        lease::renew(&self.pool, source_id, holder, ttl).await
    }

    async fn release_lease(&self, source_id: i64, holder: &str) -> Result<()> {
        lease::release(&self.pool, source_id, holder).await
    }
}

#[async_trait]
impl CollectionCatalog for PostgresStore {
    async fn list_collections(&self, query: &CollectionQuery) -> Result<Vec<Collection>> {
        read::list_collections(&self.reads, &self.common_texts, query).await
    }

    async fn list_collection_hits(&self, query: &CollectionQuery) -> Result<Vec<CollectionHit>> {
        read::list_collection_hits(&self.reads, &self.common_texts, query).await
    }

    async fn collection(&self, id: &str) -> Result<Option<Collection>> {
        read::collection(&self.read_pool, id).await
    }

    async fn search_records(
        &self,
        filter: &threddex_store::RecordFilter,
        sort: &[threddex_store::SortKey],
        offset: u64,
        limit: u32,
    ) -> Result<threddex_store::RecordPage> {
        search::search_records(&self.read_pool, filter, sort, offset, limit).await
    }

    async fn find_collections(
        &self,
        filter: &threddex_store::RecordFilter,
        sort: &[threddex_store::SortKey],
        limit: u32,
    ) -> Result<Vec<Collection>> {
        search::find_collections(&self.read_pool, filter, sort, limit).await
    }

    async fn collection_views(&self, collection_id: &str) -> Result<Vec<CollectionView>> {
        views::collection_views(&self.read_pool, collection_id).await
    }
}

#[async_trait]
impl GranuleIndex for PostgresStore {
    async fn list_granules(&self, query: &GranuleQuery) -> Result<Vec<Granule>> {
        read::list_granules(
            &self.reads,
            &self.read_pool,
            &self.catalog_urls,
            &self.collection_keys,
            query,
            false,
        )
        .await
    }

    async fn list_granules_desc(&self, query: &GranuleQuery) -> Result<Vec<Granule>> {
        read::list_granules(
            &self.reads,
            &self.read_pool,
            &self.catalog_urls,
            &self.collection_keys,
            query,
            true,
        )
        .await
    }

    async fn list_granules_from_primary(&self, query: &GranuleQuery) -> Result<Vec<Granule>> {
        if self.replica.is_none() {
            return self.list_granules(query).await;
        }
        read::list_granules_on(&self.pool, &self.catalog_urls, &self.collection_keys, query).await
    }

    async fn replica_as_of(&self) -> Result<Option<Timestamp>> {
        match &self.replica {
            Some(r) => r.as_of().await,
            None => Ok(None),
        }
    }

    async fn granule_timeline(&self, query: &TimelineQuery) -> Result<Vec<TimelineBucket>> {
        timeline::granule_timeline(&self.reads, &self.collection_keys, query).await
    }

    async fn count_granules(&self, query: &GranuleQuery) -> Result<Option<u64>> {
        read::count_granules(&self.reads, &self.collection_keys, query)
            .await
            .map(Some)
    }
}

#[async_trait]
impl IsoRecords for PostgresStore {
    async fn set_iso_records(&self, records: &[IsoRecordUpdate]) -> Result<u64> {
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
impl CrawlRuns for PostgresStore {
    async fn start_run(&self, run: &NewCrawlRun) -> Result<i64> {
        runs::start(&self.pool, run).await
    }

    async fn finish_run(&self, run_id: i64, end: &CrawlRunEnd) -> Result<()> {
        runs::finish(&self.pool, run_id, end).await
    }

    async fn list_runs(&self, source: Option<&str>, limit: u32) -> Result<Vec<CrawlRun>> {
        runs::list(&self.pool, source, limit).await
    }
}

#[async_trait]
impl ChangeLog for PostgresStore {
    async fn changes(&self, query: &ChangeQuery) -> Result<ChangePage> {
        change_log::changes(&self.read_pool, query).await
    }

    async fn change_head(&self) -> Result<(i64, i64)> {
        change_log::head(&self.read_pool).await
    }

    async fn prune_changes(&self, before: Timestamp) -> Result<u64> {
        change_log::prune(&self.pool, before).await
    }

    async fn relay_cursor(&self, name: &str) -> Result<Option<i64>> {
        change_log::relay_cursor(&self.pool, name).await
    }

    async fn save_relay_cursor(&self, name: &str, seq: i64) -> Result<()> {
        change_log::save_relay_cursor(&self.pool, name, seq).await
    }
}

#[async_trait]
impl threddex_store::Subscriptions for PostgresStore {
    async fn add_subscription(
        &self,
        new: &threddex_store::NewSubscription,
    ) -> Result<threddex_store::Subscription> {
        subscriptions::add(&self.pool, new).await
    }

    async fn list_subscriptions(&self) -> Result<Vec<threddex_store::Subscription>> {
        subscriptions::list(&self.pool).await
    }

    async fn subscription(&self, id: i64) -> Result<Option<threddex_store::Subscription>> {
        subscriptions::get(&self.pool, id).await
    }

    async fn remove_subscription(&self, id: i64) -> Result<bool> {
        subscriptions::remove(&self.pool, id).await
    }

    async fn enable_subscription(
        &self,
        id: i64,
        cursor: Option<i64>,
    ) -> Result<Option<threddex_store::Subscription>> {
        subscriptions::enable(&self.pool, id, cursor).await
    }

    async fn record_delivery(
        &self,
        id: i64,
        delivery: Option<&threddex_store::NewDelivery>,
        progress: &threddex_store::SubscriptionProgress,
    ) -> Result<bool> {
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

#[async_trait]
impl threddex_store::Frontier for PostgresStore {
    async fn open_round(
        &self,
        round: &threddex_store::NewRound,
        queue: &[String],
        new: &[CatalogState],
    ) -> Result<bool> {
        frontier::open_round(&self.pool, round, queue, new).await
    }

    async fn open_rounds(&self) -> Result<Vec<threddex_store::RoundInfo>> {
        frontier::open_rounds(&self.pool).await
    }

    async fn claim_catalogs(
        &self,
        holder: &str,
        ttl: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<threddex_store::Claim>> {
        frontier::claim_catalogs(&self.pool, holder, ttl, limit).await
    }

    async fn renew_claims(
        &self,
        holder: &str,
        urls: &[String],
        ttl: std::time::Duration,
    ) -> Result<u64> {
        frontier::renew_claims(&self.pool, holder, urls, ttl).await
    }

    async fn write_claimed(
        &self,
        token: &threddex_store::ClaimToken,
        batch: Batch,
    ) -> Result<threddex_store::FencedWrite> {
        let out = frontier::write_claimed(&self.pool, token, batch).await?;
        if let threddex_store::FencedWrite::Written(o) = &out {
            self.growth.record(&self.pool, o.granules_inserted);
        }
        Ok(out)
    }

    async fn complete_claim(&self, token: &threddex_store::ClaimToken) -> Result<bool> {
        frontier::complete_claim(&self.pool, token).await
    }

    async fn release_claims(&self, holder: &str) -> Result<u64> {
        frontier::release_claims(&self.pool, holder).await
    }

    async fn add_round_counts(
        &self,
        source_id: i64,
        counts: &threddex_store::RoundCounts,
    ) -> Result<()> {
        frontier::add_round_counts(&self.pool, source_id, counts).await
    }

    async fn close_round(
        &self,
        source_id: i64,
        lease_holder: &str,
        at: Timestamp,
    ) -> Result<Option<threddex_store::RoundInfo>> {
        frontier::close_round(&self.pool, source_id, lease_holder, at).await
    }
}

#[async_trait]
impl threddex_store::HostLimits for PostgresStore {
    async fn take_host_slot(
        &self,
        host: &str,
        in_flight: u32,
        rate: f64,
        burst: u32,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<(i32, std::time::Duration)>> {
        frontier::take_host_slot(&self.pool, host, in_flight, rate, burst, holder, ttl).await
    }

    async fn release_host_slot(&self, host: &str, slot: i32, holder: &str) -> Result<()> {
        frontier::release_host_slot(&self.pool, host, slot, holder).await
    }
}
