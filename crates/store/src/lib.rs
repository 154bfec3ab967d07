//! The storage contract of threddex.
//!
//! Every backend (SQLite, the embedded default; Postgres in production) implements [`Store`].
//! Nothing above this crate writes SQL: the crawler, the CLI and the API only see these types.
//!
//! Conventions:
//! - all times are UTC ([`Timestamp`]);
//! - a [`Batch`] is written atomically (one transaction), so a crawl killed at any point leaves
//!   either the whole batch or none of it;
//! - writes are upserts keyed by natural keys (catalog URL, collection ID, `(collection, granule
//!   ID)`), so writing the same batch twice changes nothing.

#![forbid(unsafe_code)]

mod model;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use model::*;

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
    /// A driver or I/O failure.
    #[error("database error: {0}")]
    Backend(String),
}

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The storage operations threddex needs. Implementations must be cheap to clone behind an
/// `Arc` and safe to share between tasks.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short backend name (`"sqlite"`, `"postgres"`), for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// Apply pending migrations. Idempotent; safe when several processes start at once.
    async fn migrate(&self) -> Result<()>;

    /// Cheap round trip to the database (for readiness checks).
    async fn ping(&self) -> Result<()>;

    // ----- sources -------------------------------------------------------------------------

    /// Register a source. [`StoreError::Conflict`] when the name or URL is taken.
    async fn add_source(&self, source: &NewSource) -> Result<Source>;

    /// The source with this exact start URL, registering it (with `source`'s settings) when
    /// there is none. Never changes the settings of an existing source.
    async fn ensure_source(&self, source: &NewSource) -> Result<Source>;

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

    // ----- crawl state ---------------------------------------------------------------------

    /// The persisted state of one catalog.
    async fn catalog(&self, url: &str) -> Result<Option<CatalogState>>;

    /// The persisted state of every catalog of a source (for planning a sync).
    async fn catalogs_of_source(&self, source_id: i64) -> Result<Vec<CatalogState>>;

    // ----- writes --------------------------------------------------------------------------

    /// Write a batch atomically: upsert its catalogs, collections and granules, then apply its
    /// deletions. See [`Batch`].
    async fn write_batch(&self, batch: &Batch) -> Result<BatchOutcome>;

    /// Recompute the derived figures of collections (granule count, time extent) from their
    /// granules. Called after harvests and syncs for the collections they touched.
    async fn refresh_collection_stats(&self, collection_ids: &[String]) -> Result<()>;

    // ----- reads ---------------------------------------------------------------------------

    /// Collections matching a query, ordered by ID.
    async fn list_collections(&self, query: &CollectionQuery) -> Result<Vec<Collection>>;

    /// One collection by ID.
    async fn collection(&self, id: &str) -> Result<Option<Collection>>;

    /// Granules of one collection whose time overlaps `[start, end)`, ordered by
    /// `(start, granule_id)`, after the cursor if one is given.
    async fn list_granules(&self, query: &GranuleQuery) -> Result<Vec<Granule>>;

    /// Row counts and sizes, for summaries and the storage measurements.
    async fn stats(&self) -> Result<StoreStats>;
}
