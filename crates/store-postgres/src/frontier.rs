//! The shared crawl frontier (`threddex_store::Frontier`) and the per-host politeness shared
//! by every process of the database (`threddex_store::HostLimits`): migration
//! `0018_crawl_frontier.sql`. Every time is the database clock's (`clock_timestamp()`), so
//! machines with skewed clocks agree on claim expiry and request times.
//!
//! `claim_expires` is cleared only when a claim completes: a queued catalog that still has
//! one had a claim that expired or was given back, and its next claim is a takeover.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgPool, Row};
use threddex_store::{
    Batch, CatalogState, Claim, ClaimToken, FencedWrite, NewRound, RoundCounts, RoundInfo,
    StoreError, Timestamp,
};

use crate::convert::{CATALOG_COLUMNS, catalog_from_row, clean, clean_opt, db_err};

fn secs(d: Duration) -> f64 {
    // Capped at ~100 years: `interval` arithmetic must not overflow.
    d.as_secs_f64().min(3.15e9)
}

fn count(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn ucount(row: &PgRow, col: &str) -> Result<u64, StoreError> {
    let v: i64 = row.try_get(col).map_err(db_err)?;
    Ok(u64::try_from(v).unwrap_or(0))
}

const ROUND_COLUMNS: &str = "source_id, lease_holder, run_id, opened_at, catalogs, failed, \
     not_modified, granules, granules_inserted, granules_deleted, catalogs_deleted, requests, \
     deletions";

fn round_from_row(row: &PgRow) -> Result<RoundInfo, StoreError> {
    Ok(RoundInfo {
        source_id: row.try_get("source_id").map_err(db_err)?,
        lease_holder: row.try_get("lease_holder").map_err(db_err)?,
        run_id: row.try_get("run_id").map_err(db_err)?,
        opened_at: row.try_get("opened_at").map_err(db_err)?,
        counts: RoundCounts {
            catalogs: ucount(row, "catalogs")?,
            failed: ucount(row, "failed")?,
            not_modified: ucount(row, "not_modified")?,
            granules: ucount(row, "granules")?,
            granules_inserted: ucount(row, "granules_inserted")?,
            granules_deleted: ucount(row, "granules_deleted")?,
            catalogs_deleted: ucount(row, "catalogs_deleted")?,
            requests: ucount(row, "requests")?,
        },
        deletions: row.try_get("deletions").map_err(db_err)?,
    })
}

/// Insert pending catalogs that are not stored yet and queue them (stored ones are queued,
/// never overwritten). Sorted by URL: one lock order across writers.
async fn insert_queued(
    conn: &mut sqlx::PgConnection,
    catalogs: &[&CatalogState],
) -> Result<(), StoreError> {
    if catalogs.is_empty() {
        return Ok(());
    }
    let unique: BTreeMap<&str, &CatalogState> =
        catalogs.iter().map(|c| (c.url.as_str(), *c)).collect();
    let mut url = Vec::with_capacity(unique.len());
    let mut source_id = Vec::with_capacity(unique.len());
    let mut parent_url = Vec::with_capacity(unique.len());
    let mut depth = Vec::with_capacity(unique.len());
    for c in unique.values() {
        if c.url.is_empty() {
            return Err(StoreError::Invalid("catalog with an empty URL".into()));
        }
        url.push(clean(&c.url).into_owned());
        source_id.push(c.source_id);
        parent_url.push(clean_opt(&c.parent_url));
        depth.push(c.depth);
    }
    sqlx::query(
        "INSERT INTO catalogs (url, source_id, parent_url, depth, status, queued_at) \
         SELECT u.url, u.source_id, u.parent_url, u.depth, 'pending', clock_timestamp() \
         FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int4[]) \
             AS u(url, source_id, parent_url, depth) \
         ON CONFLICT (url) DO NOTHING",
    )
    .bind(&url)
    .bind(&source_id)
    .bind(&parent_url)
    .bind(&depth)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn open_round(
    pool: &PgPool,
    round: &NewRound,
    queue: &[String],
    new: &[CatalogState],
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let opened = sqlx::query(
        "INSERT INTO crawl_rounds (source_id, lease_holder, run_id) VALUES ($1, $2, $3) \
         ON CONFLICT (source_id) DO NOTHING RETURNING source_id",
    )
    .bind(round.source_id)
    .bind(clean(&round.lease_holder).as_ref())
    .bind(round.run_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    if opened.is_none() {
        return Ok(false);
    }
    let urls: Vec<String> = queue.iter().map(|u| clean(u).into_owned()).collect();
    sqlx::query(
        "UPDATE catalogs SET queued_at = clock_timestamp() \
         WHERE source_id = $1 AND url = ANY($2::text[])",
    )
    .bind(round.source_id)
    .bind(&urls)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let fresh: Vec<&CatalogState> = new.iter().collect();
    insert_queued(&mut tx, &fresh).await?;
    let stored: Vec<String> = new.iter().map(|c| clean(&c.url).into_owned()).collect();
    sqlx::query(
        "UPDATE catalogs SET queued_at = COALESCE(queued_at, clock_timestamp()) \
         WHERE source_id = $1 AND url = ANY($2::text[])",
    )
    .bind(round.source_id)
    .bind(&stored)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(true)
}

pub(crate) async fn open_rounds(pool: &PgPool) -> Result<Vec<RoundInfo>, StoreError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {ROUND_COLUMNS} FROM crawl_rounds ORDER BY source_id"
    )))
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter().map(round_from_row).collect()
}

pub(crate) async fn claim_catalogs(
    pool: &PgPool,
    holder: &str,
    ttl: Duration,
    limit: u32,
) -> Result<Vec<Claim>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let columns: String = CATALOG_COLUMNS
        .split(',')
        .map(|c| format!("c.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    // One short statement: pick (skipping rows other claimants have locked), then claim.
    // Shallowest first; within a depth spread over the frontier (a hash of the key, see
    // migration 0020) so that the claims in flight write to different collections.
    // Only catalogs of rounds that hold their source's sync lease are handed out. A catalog
    // whose previous claim did not complete (it expired, or was given back) is *taken over*:
    // `claim_expires` is cleared only by a completion.
    let mut tx = pool.begin().await.map_err(db_err)?;
    let rows = sqlx::query(AssertSqlSafe(format!(
        "WITH picked AS ( \
             SELECT c.key, c.claim_expires IS NOT NULL AS taken_over FROM catalogs c \
             JOIN crawl_rounds r ON r.source_id = c.source_id \
             JOIN sync_leases l ON l.source_id = r.source_id AND l.holder = r.lease_holder \
                 AND l.expires_at > clock_timestamp() \
             WHERE c.queued_at IS NOT NULL \
               AND (c.claim_expires IS NULL OR c.claim_expires <= clock_timestamp()) \
             ORDER BY c.depth, hashint8(c.key) \
             LIMIT $3 \
             FOR UPDATE OF c SKIP LOCKED \
         ) \
         UPDATE catalogs c SET claimed_by = $1, fence = c.fence + 1, \
             claim_expires = clock_timestamp() + make_interval(secs => $2) \
         FROM picked WHERE c.key = picked.key \
         RETURNING {columns}, c.key, c.fence, c.claim_expires, picked.taken_over"
    )))
    .bind(clean(holder).as_ref())
    .bind(secs(ttl))
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    // The previous holder may have written its read without recomputing the statistics of
    // the collections it touched (that comes with completion), and the new holder's read may
    // write no granules (a 304): recompute them now. The fence just moved under the row
    // lock, so every write of the previous holder is committed already or will be refused.
    let mut taken_over = Vec::new();
    for r in &rows {
        if r.try_get::<bool, _>("taken_over").map_err(db_err)? {
            taken_over.push(r.try_get::<i64, _>("key").map_err(db_err)?);
        }
    }
    crate::write::refresh_stats_of_catalogs(&mut tx, &taken_over).await?;
    tx.commit().await.map_err(db_err)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let state = catalog_from_row(r)?;
        out.push(Claim {
            token: ClaimToken {
                url: state.url.clone(),
                holder: holder.to_owned(),
                fence: r.try_get("fence").map_err(db_err)?,
            },
            expires_at: r.try_get("claim_expires").map_err(db_err)?,
            state,
        });
    }
    // Shallowest first, as picked.
    out.sort_by_key(|c| c.state.depth);
    Ok(out)
}

pub(crate) async fn renew_claims(
    pool: &PgPool,
    holder: &str,
    urls: &[String],
    ttl: Duration,
) -> Result<u64, StoreError> {
    let holder = clean(holder);
    let urls: Vec<String> = urls.iter().map(|u| clean(u).into_owned()).collect();
    let n = sqlx::query(
        "UPDATE catalogs SET claim_expires = clock_timestamp() + make_interval(secs => $2) \
         WHERE claimed_by = $1 AND url = ANY($3::text[]) AND queued_at IS NOT NULL",
    )
    .bind(holder.as_ref())
    .bind(secs(ttl))
    .bind(&urls)
    .execute(pool)
    .await
    .map_err(db_err)?
    .rows_affected();
    sqlx::query(
        "UPDATE host_slots SET expires_at = clock_timestamp() + make_interval(secs => $2) \
         WHERE holder = $1",
    )
    .bind(holder.as_ref())
    .bind(secs(ttl))
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(n)
}

pub(crate) async fn write_claimed(
    pool: &PgPool,
    token: &ClaimToken,
    mut batch: Batch,
) -> Result<FencedWrite, StoreError> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    // The fence check and the write share the transaction and the row lock: a takeover
    // (which increments the fence under the same lock) is either before (stale) or after.
    let current =
        sqlx::query("SELECT fence, claimed_by, source_id FROM catalogs WHERE url = $1 FOR UPDATE")
            .bind(clean(&token.url).as_ref())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
    let Some(row) = current else {
        return Ok(FencedWrite::Stale);
    };
    let fence: i64 = row.try_get("fence").map_err(db_err)?;
    let by: Option<String> = row.try_get("claimed_by").map_err(db_err)?;
    let source_id: i64 = row.try_get("source_id").map_err(db_err)?;
    if fence != token.fence || by.as_deref() != Some(clean(&token.holder).as_ref()) {
        return Ok(FencedWrite::Stale);
    }
    // The claimed catalog's own state is upserted; the other states are children found by
    // this read: queued when new, left alone when stored (another read may have stored them).
    let (own, children): (Vec<CatalogState>, Vec<CatalogState>) =
        std::mem::take(&mut batch.catalogs)
            .into_iter()
            .partition(|c| c.url == token.url);
    let children: Vec<&CatalogState> = children.iter().collect();
    insert_queued(&mut tx, &children).await?;
    batch.catalogs = own;
    let out = crate::write::write_in(&mut tx, &batch).await?;
    if out.granules_deleted > 0 || out.catalogs_deleted > 0 {
        sqlx::query("UPDATE crawl_rounds SET deletions = true WHERE source_id = $1")
            .bind(source_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(FencedWrite::Written(out))
}

pub(crate) async fn complete_claim(pool: &PgPool, token: &ClaimToken) -> Result<bool, StoreError> {
    let n = sqlx::query(
        "UPDATE catalogs SET queued_at = NULL, claimed_by = NULL, claim_expires = NULL \
         WHERE url = $1 AND fence = $2 AND claimed_by = $3",
    )
    .bind(clean(&token.url).as_ref())
    .bind(token.fence)
    .bind(clean(&token.holder).as_ref())
    .execute(pool)
    .await
    .map_err(db_err)?
    .rows_affected();
    Ok(n > 0)
}

pub(crate) async fn release_claims(pool: &PgPool, holder: &str) -> Result<u64, StoreError> {
    let holder = clean(holder);
    let n = sqlx::query(
        // Expired at once rather than cleared: the next claim is a takeover (see
        // `claim_catalogs`), as a read under way may have been written before it stopped.
        "UPDATE catalogs SET claimed_by = NULL, claim_expires = clock_timestamp() \
         WHERE claimed_by = $1",
    )
    .bind(holder.as_ref())
    .execute(pool)
    .await
    .map_err(db_err)?
    .rows_affected();
    sqlx::query("DELETE FROM host_slots WHERE holder = $1")
        .bind(holder.as_ref())
        .execute(pool)
        .await
        .map_err(db_err)?;
    Ok(n)
}

pub(crate) async fn add_round_counts(
    pool: &PgPool,
    source_id: i64,
    c: &RoundCounts,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE crawl_rounds SET catalogs = catalogs + $2, failed = failed + $3, \
         not_modified = not_modified + $4, granules = granules + $5, \
         granules_inserted = granules_inserted + $6, granules_deleted = granules_deleted + $7, \
         catalogs_deleted = catalogs_deleted + $8, requests = requests + $9 \
         WHERE source_id = $1",
    )
    .bind(source_id)
    .bind(count(c.catalogs))
    .bind(count(c.failed))
    .bind(count(c.not_modified))
    .bind(count(c.granules))
    .bind(count(c.granules_inserted))
    .bind(count(c.granules_deleted))
    .bind(count(c.catalogs_deleted))
    .bind(count(c.requests))
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn close_round(
    pool: &PgPool,
    source_id: i64,
    lease_holder: &str,
    at: Timestamp,
) -> Result<Option<RoundInfo>, StoreError> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let row = sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM crawl_rounds WHERE source_id = $1 AND lease_holder = $2 \
           AND NOT EXISTS (SELECT 1 FROM catalogs \
                           WHERE source_id = $1 AND queued_at IS NOT NULL) \
         RETURNING {ROUND_COLUMNS}"
    )))
    .bind(source_id)
    .bind(clean(lease_holder).as_ref())
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    let Some(row) = row else {
        return Ok(None);
    };
    // The source is synced as of now in the same transaction, so no worker opens a new round
    // of it before the closing one has finished the old.
    sqlx::query("UPDATE sources SET last_sync_at = $2 WHERE id = $1")
        .bind(source_id)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let info = round_from_row(&row)?;
    tx.commit().await.map_err(db_err)?;
    Ok(Some(info))
}

pub(crate) async fn take_host_slot(
    pool: &PgPool,
    host: &str,
    in_flight: u32,
    rate: f64,
    burst: u32,
    holder: &str,
    ttl: Duration,
) -> Result<Option<(i32, Duration)>, StoreError> {
    let host = clean(host);
    let slots = i32::try_from(in_flight.max(1)).unwrap_or(i32::MAX);
    // A free (or expired) slot, picked at random among the free ones; two takers of the same
    // slot serialise on its row and the second finds it taken (no row returned).
    let slot = sqlx::query(
        "WITH free AS ( \
             SELECT s FROM generate_series(0, $2 - 1) AS s \
             WHERE NOT EXISTS (SELECT 1 FROM host_slots h WHERE h.host = $1 AND h.slot = s \
                               AND h.expires_at > clock_timestamp()) \
             ORDER BY random() LIMIT 1) \
         INSERT INTO host_slots (host, slot, holder, expires_at) \
         SELECT $1, s, $3, clock_timestamp() + make_interval(secs => $4) FROM free \
         ON CONFLICT (host, slot) DO UPDATE SET holder = EXCLUDED.holder, \
             expires_at = EXCLUDED.expires_at \
         WHERE host_slots.expires_at <= clock_timestamp() \
         RETURNING slot",
    )
    .bind(host.as_ref())
    .bind(slots)
    .bind(clean(holder).as_ref())
    .bind(secs(ttl))
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    let Some(slot) = slot else {
        return Ok(None);
    };
    let slot: i32 = slot.try_get("slot").map_err(db_err)?;
    if !rate.is_finite() || rate <= 0.0 {
        return Ok(Some((slot, Duration::ZERO)));
    }
    // GCRA: the new theoretical arrival time is max(tat, now) + 1/rate; the request may go
    // `burst` intervals before it.
    let interval = 1.0 / rate;
    let window = interval * f64::from(burst.max(1));
    let wait = sqlx::query(
        "INSERT INTO host_rate AS r (host, tat) \
         VALUES ($1, clock_timestamp() + make_interval(secs => $2)) \
         ON CONFLICT (host) DO UPDATE SET \
             tat = GREATEST(r.tat, clock_timestamp()) + make_interval(secs => $2) \
         RETURNING GREATEST(0, EXTRACT(EPOCH FROM (r.tat - make_interval(secs => $3) \
             - clock_timestamp())))::float8 AS wait",
    )
    .bind(host.as_ref())
    .bind(interval)
    .bind(window)
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    let wait: f64 = wait.try_get("wait").map_err(db_err)?;
    let wait = if wait.is_finite() && wait > 0.0 {
        Duration::from_secs_f64(wait.min(3600.0))
    } else {
        Duration::ZERO
    };
    Ok(Some((slot, wait)))
}

pub(crate) async fn release_host_slot(
    pool: &PgPool,
    host: &str,
    slot: i32,
    holder: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM host_slots WHERE host = $1 AND slot = $2 AND holder = $3")
        .bind(clean(host).as_ref())
        .bind(slot)
        .bind(clean(holder).as_ref())
        .execute(pool)
        .await
        .map_err(db_err)?;
    Ok(())
}
