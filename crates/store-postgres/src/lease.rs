//! Sync leases and the collection → catalogs lookup (issue 4).
//!
//! Lease times come from the database clock (`clock_timestamp()`), so machines with skewed
//! clocks sharing one database still agree on expiry.

use std::time::Duration;

use sqlx::{AssertSqlSafe, PgPool, Row};
use threddex_store::{CatalogState, LeaseGrant, StoreError};

use crate::convert::{CATALOG_COLUMNS, catalog_from_row, clean, db_err};

fn secs(ttl: Duration) -> f64 {
    // Capped at ~100 years: `interval` arithmetic must not overflow.
    ttl.as_secs_f64().min(3.15e9)
}

pub(crate) async fn try_acquire(
    pool: &PgPool,
    source_id: i64,
    holder: &str,
    ttl: Duration,
) -> Result<LeaseGrant, StoreError> {
    // One statement: insert when free; take over (conditional DO UPDATE) when expired or our
    // own. Row-level locking makes concurrent contenders serialise on the row, and only one
    // can see it expired. `xmax = 0` tells an insert from an update.
    let row = sqlx::query(
        "INSERT INTO sync_leases (source_id, holder, acquired_at, expires_at) \
         VALUES ($1, $2, clock_timestamp(), clock_timestamp() + make_interval(secs => $3)) \
         ON CONFLICT (source_id) DO UPDATE SET holder = excluded.holder, \
         acquired_at = excluded.acquired_at, expires_at = excluded.expires_at \
         WHERE sync_leases.expires_at <= clock_timestamp() OR sync_leases.holder = excluded.holder \
         RETURNING (xmax = 0) AS inserted",
    )
    .bind(source_id)
    .bind(clean(holder).as_ref())
    .bind(secs(ttl))
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    Ok(match row {
        None => LeaseGrant::Busy,
        Some(r) => {
            let inserted: bool = r.try_get("inserted").map_err(db_err)?;
            if inserted {
                LeaseGrant::Acquired
            } else {
                LeaseGrant::TakenOver
            }
        }
    })
}

pub(crate) async fn renew(
    pool: &PgPool,
    source_id: i64,
    holder: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let res = sqlx::query(
        "UPDATE sync_leases SET expires_at = clock_timestamp() + make_interval(secs => $3) \
         WHERE source_id = $1 AND holder = $2",
    )
    .bind(source_id)
    .bind(clean(holder).as_ref())
    .bind(secs(ttl))
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(res.rows_affected() > 0)
}

pub(crate) async fn release(pool: &PgPool, source_id: i64, holder: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sync_leases WHERE source_id = $1 AND holder = $2")
        .bind(source_id)
        .bind(clean(holder).as_ref())
        .execute(pool)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn catalogs_for_collection(
    pool: &PgPool,
    collection_id: &str,
) -> Result<Vec<CatalogState>, StoreError> {
    let sql = format!(
        "SELECT {CATALOG_COLUMNS} FROM catalogs WHERE key IN \
         (SELECT DISTINCT g.catalog_key FROM granules g JOIN collections c \
          ON g.collection_key = c.key WHERE c.id = $1) ORDER BY url"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(clean(collection_id).as_ref())
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    rows.iter().map(catalog_from_row).collect()
}
