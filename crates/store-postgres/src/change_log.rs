//! The change log (migration `0013_change_log.sql`).
//!
//! Positions follow commit order: [`append`] is the last statement of a write transaction and
//! takes its positions by updating the single row of `change_log_head`. The row lock it takes
//! is held until the transaction commits, so a concurrent appender waits, then continues from
//! the committed value (READ COMMITTED re-reads the updated row): an entry never becomes
//! visible after one with a higher position. Writers serialise only between their append and
//! their commit.

use chrono::Utc;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use threddex_store::{
    Change, ChangeKind, ChangePage, ChangeQuery, NewChange, Result, StoreError, Timestamp,
};

use crate::convert::{clean, db_err};

/// Append `entries` inside the caller's write transaction (as its last statement).
pub(crate) async fn append(conn: &mut PgConnection, entries: &[NewChange]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let n = i64::try_from(entries.len()).map_err(|e| StoreError::Internal(e.to_string()))?;
    let last: i64 =
        sqlx::query_scalar("UPDATE change_log_head SET seq = seq + $1 WHERE one = 1 RETURNING seq")
            .bind(n)
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?;
    let first = last - n + 1;
    let seq: Vec<i64> = (first..=last).collect();
    let collection: Vec<String> = entries
        .iter()
        .map(|e| clean(&e.collection_id).into_owned())
        .collect();
    let kind: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    let count: Vec<i64> = entries
        .iter()
        .map(|e| i64::try_from(e.count).unwrap_or(i64::MAX))
        .collect();
    let start: Vec<Option<Timestamp>> = entries.iter().map(|e| e.start).collect();
    let end: Vec<Option<Timestamp>> = entries.iter().map(|e| e.end).collect();
    let ids: Vec<Option<Json<Vec<String>>>> = entries
        .iter()
        .map(|e| {
            e.granule_ids
                .as_ref()
                .map(|ids| Json(ids.iter().map(|i| clean(i).into_owned()).collect()))
        })
        .collect();
    sqlx::query(
        "INSERT INTO change_log (seq, at, collection_id, kind, count, start_time, end_time, \
             granule_ids) \
         SELECT u.seq, $1, u.c, u.k, u.n, u.s, u.e, u.ids \
         FROM UNNEST($2::int8[], $3::text[], $4::text[], $5::int8[], $6::timestamptz[], \
             $7::timestamptz[], $8::jsonb[]) AS u(seq, c, k, n, s, e, ids)",
    )
    .bind(Utc::now())
    .bind(&seq)
    .bind(&collection)
    .bind(&kind)
    .bind(&count)
    .bind(&start)
    .bind(&end)
    .bind(&ids)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// `(head, pruned_through)`.
pub(crate) async fn head(pool: &PgPool) -> Result<(i64, i64)> {
    let row = sqlx::query("SELECT seq, pruned_through FROM change_log_head WHERE one = 1")
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    Ok((
        row.try_get(0).map_err(db_err)?,
        row.try_get(1).map_err(db_err)?,
    ))
}

pub(crate) async fn changes(pool: &PgPool, q: &ChangeQuery) -> Result<ChangePage> {
    let limit = i64::from(q.page_size());
    let collections: Vec<String> = q
        .collections
        .iter()
        .map(|c| clean(c).into_owned())
        .collect();
    // One snapshot for the entries and the head: every entry up to the head is committed.
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .map_err(db_err)?;
    let rows = sqlx::query(
        "SELECT seq, at, collection_id, kind, count, start_time, end_time, granule_ids \
         FROM change_log WHERE seq > $1 \
           AND (cardinality($2::text[]) = 0 OR collection_id = ANY($2::text[])) \
         ORDER BY seq LIMIT $3",
    )
    .bind(q.after)
    .bind(&collections)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    let row = sqlx::query("SELECT seq, pruned_through FROM change_log_head WHERE one = 1")
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
    let head: i64 = row.try_get(0).map_err(db_err)?;
    let pruned_through: i64 = row.try_get(1).map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    let mut page = ChangePage {
        head,
        pruned_through,
        ..ChangePage::default()
    };
    if q.after < pruned_through {
        page.expired = true;
        page.next = q.after;
        return Ok(page);
    }
    for r in &rows {
        let ids: Option<Json<Vec<String>>> = r.try_get(7).map_err(db_err)?;
        page.changes.push(Change {
            seq: r.try_get(0).map_err(db_err)?,
            at: r.try_get(1).map_err(db_err)?,
            collection_id: r.try_get(2).map_err(db_err)?,
            kind: ChangeKind::parse(r.try_get::<&str, _>(3).map_err(db_err)?)
                .ok_or_else(|| StoreError::Corrupt("change kind".into()))?,
            count: u64::try_from(r.try_get::<i64, _>(4).map_err(db_err)?)
                .map_err(|_| StoreError::Corrupt("change count".into()))?,
            start: r.try_get(5).map_err(db_err)?,
            end: r.try_get(6).map_err(db_err)?,
            granule_ids: ids.map(|j| j.0),
        });
    }
    // A short page read everything up to the head: continue from there.
    page.next = if (page.changes.len() as i64) < limit {
        head.max(q.after)
    } else {
        page.changes.last().map_or(q.after, |c| c.seq)
    };
    Ok(page)
}

pub(crate) async fn prune(pool: &PgPool, before: Timestamp) -> Result<u64> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let gone: Vec<i64> = sqlx::query_scalar("DELETE FROM change_log WHERE at < $1 RETURNING seq")
        .bind(before)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
    if let Some(bound) = gone.iter().max() {
        sqlx::query(
            "UPDATE change_log_head SET pruned_through = greatest(pruned_through, $1) WHERE one = 1",
        )
        .bind(*bound)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(gone.len() as u64)
}

/// The saved position of the relay `name` (migration `0016_relay_cursors.sql`).
pub(crate) async fn relay_cursor(pool: &PgPool, name: &str) -> Result<Option<i64>> {
    sqlx::query_scalar("SELECT seq FROM relay_cursors WHERE name = $1")
        .bind(clean(name).as_ref())
        .fetch_optional(pool)
        .await
        .map_err(db_err)
}

/// Save the relay's position; never moves it back.
pub(crate) async fn save_relay_cursor(pool: &PgPool, name: &str, seq: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO relay_cursors (name, seq, updated_at) VALUES ($1, $2, now()) \
         ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at \
         WHERE excluded.seq > relay_cursors.seq",
    )
    .bind(clean(name).as_ref())
    .bind(seq)
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}
