//! Sync leases (with their holders' details) and the collection → catalogs lookup.

use std::time::Duration;

use chrono::Utc;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row, SqlitePool};
use threddex_store::{CatalogState, LeaseGrant, LeaseHolder, LeaseInfo, Result, Timestamp};

use crate::convert::{db_err, ts_from_db, ts_to_db};
use crate::read::{CATALOG_COLUMNS, catalog_from_row};

fn until(now: Timestamp, ttl: Duration) -> Timestamp {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    now.checked_add_signed(ttl)
        .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC)
}

/// The holder columns' values: host, pid, scope, start ticks (out-of-range numbers are
/// stored as unknown).
fn holder_values(h: &LeaseHolder) -> (Option<&str>, Option<i64>, Option<&str>, Option<i64>) {
    (
        h.host.as_deref(),
        h.pid.map(i64::from),
        h.scope.as_deref(),
        h.start_ticks.and_then(|t| i64::try_from(t).ok()),
    )
}

fn info_from_row(row: &SqliteRow, now: Timestamp) -> Result<LeaseInfo> {
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
        acquired_at: ts_from_db(row.try_get_unchecked("acquired_at").map_err(db_err)?)?,
        expires_at: ts_from_db(row.try_get_unchecked("expires_at").map_err(db_err)?)?,
        now,
    })
}

pub(crate) async fn try_acquire(
    pool: &SqlitePool,
    source_id: i64,
    holder: &LeaseHolder,
    ttl: Duration,
) -> Result<LeaseGrant> {
    // Look and write in one immediate transaction: SQLite's single writer makes the decision
    // atomic across processes sharing the file.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let now = Utc::now();
    let current = sqlx::query(
        "SELECT holder, holder_host, holder_pid, holder_scope, holder_start, acquired_at, \
         expires_at FROM sync_leases WHERE source_id = ?1",
    )
    .bind(source_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?
    .map(|row| info_from_row(&row, now))
    .transpose()?;
    let grant = match current {
        Some(info) if info.expires_at > now && info.holder.id != holder.id => {
            tx.rollback().await.map_err(db_err)?;
            return Ok(LeaseGrant::Busy(Box::new(info)));
        }
        Some(_) => LeaseGrant::TakenOver,
        None => LeaseGrant::Acquired,
    };
    let (host, pid, scope, start) = holder_values(holder);
    sqlx::query(
        "INSERT INTO sync_leases (source_id, holder, acquired_at, expires_at, holder_host, \
         holder_pid, holder_scope, holder_start) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (source_id) DO UPDATE SET holder = excluded.holder, \
         acquired_at = excluded.acquired_at, expires_at = excluded.expires_at, \
         holder_host = excluded.holder_host, holder_pid = excluded.holder_pid, \
         holder_scope = excluded.holder_scope, holder_start = excluded.holder_start",
    )
    .bind(source_id)
    .bind(&holder.id)
    .bind(ts_to_db(now))
    .bind(ts_to_db(until(now, ttl)))
    .bind(host)
    .bind(pid)
    .bind(scope)
    .bind(start)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(grant)
}

pub(crate) async fn take_over(
    pool: &SqlitePool,
    source_id: i64,
    from: &str,
    holder: &LeaseHolder,
    ttl: Duration,
) -> Result<bool> {
    let now = Utc::now();
    let (host, pid, scope, start) = holder_values(holder);
    let res = sqlx::query(
        "UPDATE sync_leases SET holder = ?3, acquired_at = ?4, expires_at = ?5, \
         holder_host = ?6, holder_pid = ?7, holder_scope = ?8, holder_start = ?9 \
         WHERE source_id = ?1 AND holder = ?2",
    )
    .bind(source_id)
    .bind(from)
    .bind(&holder.id)
    .bind(ts_to_db(now))
    .bind(ts_to_db(until(now, ttl)))
    .bind(host)
    .bind(pid)
    .bind(scope)
    .bind(start)
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(res.rows_affected() > 0)
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
