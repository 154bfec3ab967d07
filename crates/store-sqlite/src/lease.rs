//! Sync leases and the collection → catalogs lookup (issue 4).

use std::time::Duration;

use chrono::Utc;
use sqlx::{AssertSqlSafe, SqlitePool};
use threddex_store::{CatalogState, LeaseGrant, Result, Timestamp};

use crate::convert::{db_err, ts_to_db};
use crate::read::{CATALOG_COLUMNS, catalog_from_row};

fn until(now: Timestamp, ttl: Duration) -> Timestamp {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    now.checked_add_signed(ttl)
        .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC)
}

pub(crate) async fn try_acquire(
    pool: &SqlitePool,
    source_id: i64,
    holder: &str,
    ttl: Duration,
) -> Result<LeaseGrant> {
    let now = Utc::now();
    let exp = until(now, ttl);
    // One statement: insert when free, take over when expired or our own; the WHERE of the
    // upsert makes the takeover conditional, and SQLite runs it atomically.
    let existed: Option<(String,)> =
        sqlx::query_as("SELECT holder FROM sync_leases WHERE source_id = ?1")
            .bind(source_id)
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
    let res = sqlx::query(
        "INSERT INTO sync_leases (source_id, holder, acquired_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (source_id) DO UPDATE SET holder = excluded.holder, \
         acquired_at = excluded.acquired_at, expires_at = excluded.expires_at \
         WHERE sync_leases.expires_at <= ?3 OR sync_leases.holder = ?2",
    )
    .bind(source_id)
    .bind(holder)
    .bind(ts_to_db(now))
    .bind(ts_to_db(exp))
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(if res.rows_affected() == 0 {
        LeaseGrant::Busy
    } else if existed.is_some() {
        LeaseGrant::TakenOver
    } else {
        LeaseGrant::Acquired
    })
}

pub(crate) async fn renew(
    pool: &SqlitePool,
    source_id: i64,
    holder: &str,
    ttl: Duration,
) -> Result<bool> {
    let exp = until(Utc::now(), ttl);
    let res =
        sqlx::query("UPDATE sync_leases SET expires_at = ?3 WHERE source_id = ?1 AND holder = ?2")
            .bind(source_id)
            .bind(holder)
            .bind(ts_to_db(exp))
            .execute(pool)
            .await
            .map_err(db_err)?;
    Ok(res.rows_affected() > 0)
}

pub(crate) async fn release(pool: &SqlitePool, source_id: i64, holder: &str) -> Result<()> {
    sqlx::query("DELETE FROM sync_leases WHERE source_id = ?1 AND holder = ?2")
        .bind(source_id)
        .bind(holder)
        .execute(pool)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn catalogs_for_collection(
    pool: &SqlitePool,
    collection_id: &str,
) -> Result<Vec<CatalogState>> {
    let sql = format!(
        "SELECT {CATALOG_COLUMNS} FROM catalogs WHERE key IN \
         (SELECT DISTINCT g.catalog_key FROM granules g JOIN collections c \
          ON g.collection_key = c.key WHERE c.id = ?1) ORDER BY url"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(collection_id)
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    rows.iter().map(catalog_from_row).collect()
}
