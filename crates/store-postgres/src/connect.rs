//! Connecting and migrating.

use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use threddex_store::StoreError;
use tracing::{debug, info};

use crate::PostgresStore;
use crate::convert::{db_err, migrate_err};

/// The embedded migrations of `migrations/postgres`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The advisory lock key held while migrating (ASCII "thrddex" + 1), the same for every
/// replica of every version, so concurrent starts apply migrations one at a time.
pub const MIGRATION_LOCK_KEY: i64 = 0x7468_7264_6465_7801;

/// Connections kept by each of the two pools (general statements; granule listings) unless
/// [`PostgresOptions::pool_size`] says otherwise. More is
/// slower on small machines: at 64 concurrent `/index` requests on 2 cores, 6–8 connections
/// answered ~30 % more requests/s than 10, 16 fewer still (docs/benchmarks.md).
pub const DEFAULT_POOL_SIZE: u32 = 8;

/// The largest pool [`PostgresStore::connect_with`] accepts (Postgres itself defaults to
/// `max_connections = 100` for all clients together).
pub const MAX_POOL_SIZE: u32 = 1000;

/// How [`PostgresStore::connect_with`] connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Connections kept by each of the store's two pools (1 to [`MAX_POOL_SIZE`]; default
    /// [`DEFAULT_POOL_SIZE`]): one for general statements, one for granule listings, so a
    /// store opens at most twice this many.
    pub pool_size: u32,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: DEFAULT_POOL_SIZE,
        }
    }
}

/// How long a statement waits for a pooled connection. sqlx keeps trying to connect for this
/// long when the database is unreachable, so it is also how long an API request takes to
/// answer 503 while the database is away: short.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled connection idle longer than this is pinged (one round trip) before it is handed
/// out; busier ones are not. sqlx's default pings on every acquire, which on a loaded server
/// doubles the round trips (and process wake-ups) of a one-statement request.
const PING_IDLE_AFTER: Duration = Duration::from_secs(10);

/// The pool of general statements on the database of `options`.
async fn general_pool(options: &PgConnectOptions, size: u32) -> Result<PgPool, StoreError> {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IDLE_AFTER {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_with(options.clone())
        .await
        .map_err(|e| StoreError::connect("cannot connect to Postgres", e))
}

/// Whether `url` names a Postgres database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    scheme == "postgres" || scheme == "postgresql"
}

/// Parse a database URL into connection options.
///
/// Every connection of the store runs with `jit = off`. The store's statements are index
/// lookups, but over the 64 granule partitions their estimated costs pass `jit_above_cost`,
/// and Postgres then compiles each execution: the recount of 200 collections' statistics after
/// a 200,000-granule harvest spent 1.53 s of its 1.55 s compiling (77 ms without).
pub(crate) fn parse_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    if !is_postgres_url(url) {
        return Err(StoreError::UnsupportedUrl(url.to_string()));
    }
    PgConnectOptions::from_str(url)
        .map(|o| o.options([("jit", "off")]))
        .map_err(|e| StoreError::Invalid(format!("bad Postgres URL: {e}")))
}

impl PostgresStore {
    /// Connect to the database named by `url` (`postgres://user@host:port/db`) and apply
    /// pending migrations (under an advisory lock; see [`PostgresStore::migrate_now`]).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// [`PostgresStore::connect`] with other [`PostgresOptions`] (e.g. the pool size).
    /// [`StoreError::Invalid`] for a pool size of 0 or above [`MAX_POOL_SIZE`].
    pub async fn connect_with(url: &str, opts: PostgresOptions) -> Result<Self, StoreError> {
        let store = Self::connect_without_migrating_with(url, opts).await?;
        store.migrate_now().await?;
        Ok(store)
    }

    /// Connect without touching the schema (for `threddex migrate` dry runs and tools).
    pub async fn connect_without_migrating(url: &str) -> Result<Self, StoreError> {
        Self::connect_without_migrating_with(url, PostgresOptions::default()).await
    }

    /// [`PostgresStore::connect_without_migrating`] with other [`PostgresOptions`].
    pub async fn connect_without_migrating_with(
        url: &str,
        opts: PostgresOptions,
    ) -> Result<Self, StoreError> {
        if opts.pool_size == 0 || opts.pool_size > MAX_POOL_SIZE {
            return Err(StoreError::Invalid(format!(
                "Postgres pool size {} is not between 1 and {MAX_POOL_SIZE}",
                opts.pool_size
            )));
        }
        let options = parse_options(url)?;
        let pool = general_pool(&options, opts.pool_size).await?;
        debug!(
            host = options.get_host(),
            pool_size = opts.pool_size,
            "connected to Postgres"
        );
        let reads = crate::read_pool::ReadPool::new(
            options.clone(),
            opts.pool_size,
            ACQUIRE_TIMEOUT,
            PING_IDLE_AFTER,
        );
        Ok(Self {
            read_pool: pool.clone(),
            pool,
            options,
            catalog_urls: std::sync::Arc::default(),
            common_texts: std::sync::Arc::default(),
            collection_keys: std::sync::Arc::default(),
            reads: std::sync::Arc::new(reads),
            replica: None,
            pool_size: opts.pool_size,
            growth: std::sync::Arc::default(),
        })
    }

    /// This store with its search reads (collections, records, granule listings, counts and
    /// timelines, views, the change log) sent to `read_url`, a streaming replica of this
    /// database (`postgres://…`, connected to without migrating; it must be at the same
    /// schema, which replication ensures). Writes, leases, the crawl state and source
    /// registry stay on the primary. Answers read from the replica may lag behind the primary;
    /// [`GranuleIndex::replica_as_of`](threddex_store::GranuleIndex::replica_as_of) says how
    /// far it has replayed.
    pub async fn with_read_replica(mut self, read_url: &str) -> Result<Self, StoreError> {
        let options = parse_options(read_url)?;
        let pool = general_pool(&options, self.pool_size).await?;
        debug!(host = options.get_host(), "search reads go to a replica");
        self.reads = std::sync::Arc::new(crate::read_pool::ReadPool::new(
            options,
            self.pool_size,
            ACQUIRE_TIMEOUT,
            PING_IDLE_AFTER,
        ));
        self.catalog_urls = std::sync::Arc::default();
        self.common_texts = std::sync::Arc::default();
        self.replica = Some(std::sync::Arc::new(crate::replica::Replica::new(
            pool.clone(),
        )));
        self.read_pool = pool;
        Ok(self)
    }

    /// Apply pending migrations.
    ///
    /// One dedicated connection (not from the pool, so a failure can never leave a pooled
    /// connection holding the lock) takes `pg_advisory_lock(MIGRATION_LOCK_KEY)`, runs the
    /// migrator, unlocks and closes. Replicas starting together queue on the lock; the later
    /// ones find nothing to apply. (sqlx's migrator takes its own per-database advisory lock
    /// inside ours; session advisory locks nest, so this is safe.)
    pub async fn migrate_now(&self) -> Result<(), StoreError> {
        let mut conn = self
            .options
            .connect()
            .await
            .map_err(|e| StoreError::connect("cannot connect to Postgres", e))?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut conn)
            .await
            .map_err(db_err)?;
        // `run_direct` is what `Migrator::run` calls; called directly, the future stays `Send`
        // (`run` trips over the higher-ranked `Acquire` bound inside `async_trait`).
        let applied = MIGRATOR
            .run_direct(None, &mut conn, false)
            .await
            .map_err(migrate_err);
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut conn)
            .await
            .map_err(db_err);
        // Closing ends the session, which releases the lock even if unlocking failed.
        let _ = sqlx::Connection::close(conn).await;
        applied?;
        unlocked?;
        info!("Postgres schema is up to date");
        Ok(())
    }

    /// The connection pool (for tools and benches that need raw SQL).
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_postgres_urls() {
        assert!(is_postgres_url("postgres://u@h/db"));
        assert!(is_postgres_url("PostgreSQL://u@h/db"));
        assert!(!is_postgres_url("sqlite://x.db"));
        assert!(!is_postgres_url(""));
        assert!(matches!(
            parse_options("sqlite://x.db"),
            Err(StoreError::UnsupportedUrl(_))
        ));
    }

    #[test]
    fn migrations_are_embedded() {
        assert!(MIGRATOR.iter().any(|m| m.version == 1));
    }
}
