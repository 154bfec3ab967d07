//! Granule timelines: counts per hour (from `granules` by its time index), per day and per
//! month (from `granule_days`, kept by the triggers of migration 0014).

use sqlx::Row;
use threddex_store::{
    Result, StoreError, TimelineBucket, TimelineInterval, TimelineQuery, Timestamp,
};

use crate::convert::db_err;
use crate::keys::CollectionKeys;

/// The rows of the timeline statement `sql` (`$4`, the collection's key, only with `key`).
async fn buckets(
    conn: &mut sqlx::PgConnection,
    sql: &'static str,
    q: &TimelineQuery,
    key: Option<i64>,
) -> Result<Vec<sqlx::postgres::PgRow>> {
    let (start, end) = q.aligned();
    let mut query = sqlx::query(sql)
        .bind(&q.collection_id)
        .bind(start)
        .bind(end);
    if let Some(k) = key {
        query = query.bind(k);
    }
    query.fetch_all(conn).await.map_err(db_err)
}
use crate::read_pool::ReadPool;

pub(crate) async fn granule_timeline(
    reads: &ReadPool,
    keys: &CollectionKeys,
    q: &TimelineQuery,
) -> Result<Vec<TimelineBucket>> {
    let sql = match q.interval {
        TimelineInterval::Hour => {
            "SELECT date_trunc('hour', start_time, 'UTC') AS b, count(*)::int8 \
             FROM granules \
             WHERE collection_key = $4 \
               AND start_time IS NOT NULL \
               AND ($2::timestamptz IS NULL OR start_time >= $2) \
               AND ($3::timestamptz IS NULL OR start_time < $3) \
             GROUP BY b ORDER BY b"
        }
        TimelineInterval::Day => {
            "SELECT day::timestamp AT TIME ZONE 'UTC', n FROM granule_days \
             WHERE collection_key = (SELECT key FROM collections WHERE id = $1) \
               AND ($2::timestamptz IS NULL OR day >= ($2 AT TIME ZONE 'UTC')::date) \
               AND ($3::timestamptz IS NULL OR day < ($3 AT TIME ZONE 'UTC')::date) \
               AND n > 0 \
             ORDER BY day"
        }
        TimelineInterval::Month => {
            "SELECT date_trunc('month', day)::timestamp AT TIME ZONE 'UTC' AS b, sum(n)::int8 \
             FROM granule_days \
             WHERE collection_key = (SELECT key FROM collections WHERE id = $1) \
               AND ($2::timestamptz IS NULL OR day >= ($2 AT TIME ZONE 'UTC')::date) \
               AND ($3::timestamptz IS NULL OR day < ($3 AT TIME ZONE 'UTC')::date) \
               AND n > 0 \
             GROUP BY b ORDER BY b"
        }
    };
    let mut conn = reads.acquire().await?;
    // Hour counts read `granules`: its partition is named by the key (see `crate::keys`); a
    // stale cached key counts nothing, so an empty answer looks the key up again.
    let mut key = None;
    if q.interval == TimelineInterval::Hour {
        match keys.get(conn.conn(), &q.collection_id).await? {
            Some(k) => key = Some(k),
            None => {
                conn.done();
                return Ok(Vec::new());
            }
        }
    }
    let mut rows = buckets(conn.conn(), sql, q, key.map(|k| k.key)).await?;
    if let Some(k) = key
        && rows.is_empty()
        && k.cached
    {
        keys.forget(&q.collection_id);
        if let Some(fresh) = keys.get(conn.conn(), &q.collection_id).await?
            && fresh.key != k.key
        {
            rows = buckets(conn.conn(), sql, q, Some(fresh.key)).await?;
        }
    }
    conn.done();
    rows.iter()
        .map(|row| {
            let start: Timestamp = row.try_get(0).map_err(db_err)?;
            let count: i64 = row.try_get(1).map_err(db_err)?;
            if count < 0 {
                return Err(StoreError::Corrupt("timeline count".into()));
            }
            Ok(TimelineBucket {
                start,
                count: u64::try_from(count).unwrap_or(0),
            })
        })
        .collect()
}
