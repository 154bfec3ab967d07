//! Opening a database: URL parsing, connection settings, migrations.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use threddex_store::StoreError;
use tokio::sync::Mutex;

use crate::SqliteStore;
use crate::convert::db_err;

/// The embedded schema migrations (`migrations/sqlite` of the workspace).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// Connections of a file database (WAL: readers run beside the one writer).
const FILE_POOL_SIZE: u32 = 4;

/// How long a statement waits for another process's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether a URL (without scheme) names an in-memory database.
fn is_memory(rest: &str) -> bool {
    let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
    path == ":memory:" || params.split('&').any(|p| p == "mode=memory")
}

impl SqliteStore {
    /// Open (creating it if missing) and migrate the database at `url`: `sqlite://PATH`,
    /// `sqlite:PATH` or `sqlite::memory:`. An in-memory database lives on one connection, so
    /// every query sees the same data; it disappears with the store.
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| StoreError::UnsupportedUrl(url.to_owned()))?;
        if rest.is_empty() {
            return Err(StoreError::Invalid(format!("no database path in {url:?}")));
        }
        let memory = is_memory(rest);
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Invalid(format!("database URL {url:?}: {e}")))?
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-32768");
        let (opts, pool_opts) = if memory {
            (
                opts,
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None),
            )
        } else {
            (
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal),
                SqlitePoolOptions::new().max_connections(FILE_POOL_SIZE),
            )
        };
        let pool = pool_opts.connect_with(opts).await.map_err(|e| {
            let context = if crate::convert::disk_full(&e) {
                "cannot open the SQLite database: the disk holding it is full"
            } else {
                "cannot open the SQLite database"
            };
            StoreError::connect(context, e)
        })?;
        let store = SqliteStore {
            pool,
            write_lock: Arc::new(Mutex::new(())),
        };
        store.run_migrations().await?;
        Ok(store)
    }

    /// Apply pending migrations.
    ///
    /// Two processes starting at once may both see a migration as pending; the loser's
    /// attempt fails (its transaction rolls back) and one retry then finds it applied.
    pub(crate) async fn run_migrations(&self) -> Result<(), StoreError> {
        // Up to 0006, whose copied rows get their granule ID hash (none on a fresh database)
        // before 0007 rebuilds the table; then the rest.
        self.migrate_to(Some(6)).await?;
        let at: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?;
        if at == Some(6) {
            crate::idhash::backfill(&self.pool).await?;
        }
        self.migrate_to(None).await?;
        // Rows copied by migration 0007 are rewritten in the compact form.
        crate::granules::compact_legacy(&self.pool).await
    }

    async fn migrate_to(&self, target: Option<i64>) -> Result<(), StoreError> {
        let run = || async {
            match target {
                Some(v) => MIGRATOR.run_to(v, &self.pool).await,
                None => MIGRATOR.run(&self.pool).await,
            }
        };
        if let Err(err) = run().await {
            tracing::debug!("migration attempt failed ({err}); retrying once");
            tokio::time::sleep(Duration::from_millis(250)).await;
            run()
                .await
                .map_err(|e| StoreError::connect("migration failed", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_urls_are_recognised() {
        assert!(is_memory(":memory:"));
        assert!(is_memory("x?mode=memory"));
        assert!(!is_memory("threddex.db"));
        assert!(!is_memory("/tmp/memory.db"));
    }

    #[tokio::test]
    async fn a_database_that_cannot_be_opened_is_a_connect_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("no/such/dir/x.db").display());
        let Err(err) = SqliteStore::connect(&url).await else {
            panic!("opened a database in a missing directory");
        };
        assert!(err.is_connect(), "{err:?}");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[tokio::test]
    async fn rejects_other_schemes_and_empty_paths() {
        assert!(matches!(
            SqliteStore::connect("postgres://x/y").await,
            Err(StoreError::UnsupportedUrl(_))
        ));
        assert!(matches!(
            SqliteStore::connect("sqlite://").await,
            Err(StoreError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn creates_a_missing_file_in_both_url_forms() {
        let dir = tempfile::tempdir().unwrap();
        for (i, prefix) in ["sqlite://", "sqlite:"].into_iter().enumerate() {
            let path = dir.path().join(format!("db{i}.sqlite"));
            assert!(!path.exists());
            let store = SqliteStore::connect(&format!("{prefix}{}", path.display()))
                .await
                .unwrap();
            assert!(path.exists());
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(fk, 1);
        }
    }
}
