//! The change log (migration `0013_change_log.sql`): appended by the write transactions,
//! read in position order. SQLite has one writer at a time (`BEGIN IMMEDIATE`), so the
//! positions handed out by `change_log_head` follow commit order.

use chrono::Utc;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use threddex_store::{
    Change, ChangeKind, ChangePage, ChangeQuery, NewChange, Result, StoreError, Timestamp,
};

use crate::convert::{
    corrupt, db_err, from_json, opt_ts_from_db, opt_ts_to_db, to_json, ts_from_db, ts_to_db,
};

/// Rows per insert statement (8 columns each, under SQLite's bound-parameter limit).
const CHUNK: usize = 1000;

/// Append `entries` inside the caller's write transaction.
pub(crate) async fn append(conn: &mut SqliteConnection, entries: &[NewChange]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let n = i64::try_from(entries.len()).map_err(|e| StoreError::Internal(e.to_string()))?;
    let last: i64 =
        sqlx::query_scalar("UPDATE change_log_head SET seq = seq + ?1 WHERE one = 1 RETURNING seq")
            .bind(n)
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?;
    let at = ts_to_db(Utc::now());
    let mut seq = last - n;
    for chunk in entries.chunks(CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO change_log (seq, at, collection_id, kind, count, start_time, end_time, \
             granule_ids) ",
        );
        let mut rows = Vec::with_capacity(chunk.len());
        for e in chunk {
            seq += 1;
            let ids = e
                .granule_ids
                .as_ref()
                .map(|ids| to_json(ids, "granule IDs"))
                .transpose()?;
            rows.push((seq, e, ids));
        }
        q.push_values(rows, |mut b, (seq, e, ids)| {
            b.push_bind(seq)
                .push_bind(at)
                .push_bind(e.collection_id.clone())
                .push_bind(e.kind.as_str())
                .push_bind(i64::try_from(e.count).unwrap_or(i64::MAX))
                .push_bind(opt_ts_to_db(e.start))
                .push_bind(opt_ts_to_db(e.end))
                .push_bind(ids);
        });
        q.build().execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

/// `(head, pruned_through)`.
pub(crate) async fn head(pool: &SqlitePool) -> Result<(i64, i64)> {
    let row = sqlx::query("SELECT seq, pruned_through FROM change_log_head WHERE one = 1")
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    Ok((
        row.try_get(0).map_err(db_err)?,
        row.try_get(1).map_err(db_err)?,
    ))
}

pub(crate) async fn changes(pool: &SqlitePool, q: &ChangeQuery) -> Result<ChangePage> {
    let limit = i64::from(q.page_size());
    // One read transaction: the entries and the head from one snapshot.
    let mut tx = pool.begin().await.map_err(db_err)?;
    let mut sql: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT seq, at, collection_id, kind, count, start_time, end_time, granule_ids \
         FROM change_log WHERE seq > ",
    );
    sql.push_bind(q.after);
    if !q.collections.is_empty() {
        sql.push(" AND collection_id IN (");
        let mut list = sql.separated(", ");
        for c in &q.collections {
            list.push_bind(c.as_str());
        }
        sql.push(")");
    }
    sql.push(" ORDER BY seq LIMIT ").push_bind(limit);
    let rows = sql.build().fetch_all(&mut *tx).await.map_err(db_err)?;
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
        page.changes.push(Change {
            seq: r.try_get(0).map_err(db_err)?,
            at: ts_from_db(r.try_get(1).map_err(db_err)?)?,
            collection_id: r.try_get(2).map_err(db_err)?,
            kind: ChangeKind::parse(r.try_get::<&str, _>(3).map_err(db_err)?)
                .ok_or_else(|| corrupt("change kind"))?,
            count: u64::try_from(r.try_get::<i64, _>(4).map_err(db_err)?)
                .map_err(|_| corrupt("change count"))?,
            start: opt_ts_from_db(r.try_get(5).map_err(db_err)?)?,
            end: opt_ts_from_db(r.try_get(6).map_err(db_err)?)?,
            granule_ids: r
                .try_get::<Option<&str>, _>(7)
                .map_err(db_err)?
                .map(|s| from_json(s, "change granule IDs"))
                .transpose()?,
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

pub(crate) async fn prune(pool: &SqlitePool, before: Timestamp) -> Result<u64> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let gone: Vec<i64> = sqlx::query_scalar("DELETE FROM change_log WHERE at < ?1 RETURNING seq")
        .bind(ts_to_db(before))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
    if let Some(bound) = gone.iter().max() {
        sqlx::query(
            "UPDATE change_log_head SET pruned_through = max(pruned_through, ?1) WHERE one = 1",
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
pub(crate) async fn relay_cursor(pool: &SqlitePool, name: &str) -> Result<Option<i64>> {
    sqlx::query_scalar("SELECT seq FROM relay_cursors WHERE name = ?1")
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(db_err)
}

/// Save the relay's position; never moves it back.
pub(crate) async fn save_relay_cursor(pool: &SqlitePool, name: &str, seq: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO relay_cursors (name, seq, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at \
         WHERE excluded.seq > relay_cursors.seq",
    )
    .bind(name)
    .bind(seq)
    .bind(ts_to_db(Utc::now()))
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}
