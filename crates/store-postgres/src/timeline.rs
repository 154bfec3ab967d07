//! Granule timelines: counts per hour (from `granules` by its time index), per day and per
//! month (from `granule_days`, kept by the triggers of migration 0014).

use sqlx::Row;
use threddex_store::{
    Result, StoreError, TimelineBucket, TimelineInterval, TimelineQuery, Timestamp,
};

use crate::convert::db_err;
use crate::read_pool::ReadPool;

pub(crate) async fn granule_timeline(
    reads: &ReadPool,
    q: &TimelineQuery,
) -> Result<Vec<TimelineBucket>> {
    let (start, end) = q.aligned();
    let sql = match q.interval {
        TimelineInterval::Hour => {
            "SELECT date_trunc('hour', start_time, 'UTC') AS b, count(*)::int8 \
             FROM granules \
             WHERE collection_key = (SELECT key FROM collections WHERE id = $1) \
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
    let rows = sqlx::query(sql)
        .bind(&q.collection_id)
        .bind(start)
        .bind(end)
        .fetch_all(conn.conn())
        .await
        .map_err(db_err)?;
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
