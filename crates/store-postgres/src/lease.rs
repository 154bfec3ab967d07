//! Sync leases (with their holders' details) and the collection → catalogs lookup.
//!
//! Lease times come from the database clock (`clock_timestamp()`), so machines with skewed
//! clocks sharing one database still agree on expiry.

use std::time::Duration;

use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgPool, Row};
use threddex_store::{CatalogState, LeaseGrant, LeaseHolder, LeaseInfo, StoreError};

use crate::convert::{CATALOG_COLUMNS, catalog_from_row, clean, clean_opt, db_err};

fn secs(ttl: Duration) -> f64 {
    // Capped at ~100 years: `interval` arithmetic must not overflow.
    ttl.as_secs_f64().min(3.15e9)
}

/// The holder columns' values: host, pid, scope, start ticks (NUL characters replaced,
/// out-of-range numbers stored as unknown).
fn holder_values(h: &LeaseHolder) -> (Option<String>, Option<i64>, Option<String>, Option<i64>) {
    (
        clean_opt(&h.host),
        h.pid.map(i64::from),
        clean_opt(&h.scope),
        h.start_ticks.and_then(|t| i64::try_from(t).ok()),
    )
}

fn info_from_row(row: &PgRow) -> Result<LeaseInfo, StoreError> {
    let pid: Option<i64> = row.try_get("holder_pid").map_err(db_err)?;
    let start: Option<i64> = row.try_get("holder_start").map_err(db_err)?;
    Ok(LeaseInfo {
        holder: LeaseHolder {
            id: row.try_get("holder").map_err(db_err)?,
            host: row.try_get("holder_host").map_err(db_err)?,
            pid: pid.and_then(|p| u32::try_from(p).ok()),
            scope: row.try_get("holder_scope").map_err(db_err)?,
            start_ticks: start.and_then(|t| u64::try_from(t).ok()),
        },
        acquired_at: row.try_get("acquired_at").map_err(db_err)?,
        expires_at: row.try_get("expires_at").map_err(db_err)?,
        now: row.try_get("now").map_err(db_err)?,
    })
}

pub(crate) async fn try_acquire(
    pool: &PgPool,
    source_id: i64,
    holder: &LeaseHolder,
    ttl: Duration,
) -> Result<LeaseGrant, StoreError> {
    let (host, pid, scope, start) = holder_values(holder);
    // The holder may release between a refused takeover and the look at who holds the lease:
    // then try again (a few times; contention that keeps changing hands answers an error).
    for _ in 0..4 {
        // One statement: insert when free; take over (conditional DO UPDATE) when expired or
        // our own. Row-level locking makes concurrent contenders serialise on the row, and
        // only one can see it expired. `xmax = 0` tells an insert from an update.
        let row = sqlx::query(
            "INSERT INTO sync_leases (source_id, holder, acquired_at, expires_at, holder_host, \
             holder_pid, holder_scope, holder_start) \
             VALUES ($1, $2, clock_timestamp(), clock_timestamp() + make_interval(secs => $3), \
             $4, $5, $6, $7) \
             ON CONFLICT (source_id) DO UPDATE SET holder = excluded.holder, \
             acquired_at = excluded.acquired_at, expires_at = excluded.expires_at, \
             holder_host = excluded.holder_host, holder_pid = excluded.holder_pid, \
             holder_scope = excluded.holder_scope, holder_start = excluded.holder_start \
             WHERE sync_leases.expires_at <= clock_timestamp() OR sync_leases.holder = excluded.holder \
             RETURNING (xmax = 0) AS inserted",
        )
        .bind(source_id)
        .bind(clean(&holder.id).as_ref())
        .bind(secs(ttl))
        .bind(&host)
        .bind(pid)
        .bind(&scope)
        .bind(start)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
        if let Some(r) = row {
            let inserted: bool = r.try_get("inserted").map_err(db_err)?;
            return Ok(if inserted {
                LeaseGrant::Acquired
            } else {
                LeaseGrant::TakenOver
            });
        }
        let current = sqlx::query(
            "SELECT holder, holder_host, holder_pid, holder_scope, holder_start, acquired_at, \
             expires_at, clock_timestamp() AS now FROM sync_leases WHERE source_id = $1",
        )
        .bind(source_id)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
        if let Some(r) = current {
            return Ok(LeaseGrant::Busy(Box::new(info_from_row(&r)?)));
        }
    }
    Err(StoreError::Conflict(format!(
        "the sync lease of source {source_id} keeps changing hands"
    )))
}

pub(crate) async fn take_over(
    pool: &PgPool,
    source_id: i64,
    from: &str,
    holder: &LeaseHolder,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let (host, pid, scope, start) = holder_values(holder);
    let res = sqlx::query(
        "UPDATE sync_leases SET holder = $3, acquired_at = clock_timestamp(), \
         expires_at = clock_timestamp() + make_interval(secs => $4), holder_host = $5, \
         holder_pid = $6, holder_scope = $7, holder_start = $8 \
         WHERE source_id = $1 AND holder = $2",
    )
    .bind(source_id)
    .bind(clean(from).as_ref())
    .bind(clean(&holder.id).as_ref())
    .bind(secs(ttl))
    .bind(&host)
    .bind(pid)
    .bind(&scope)
    .bind(start)
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(res.rows_affected() > 0)
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
