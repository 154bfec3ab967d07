//! Granule timelines: counts per hour (from `granules`, clustered on time), per day and per
//! month (from `granule_days`, kept by the triggers of migration 0014).

use sqlx::{Row, SqlitePool};
use threddex_store::{
    Result, StoreError, TimelineBucket, TimelineInterval, TimelineQuery, Timestamp,
};

use crate::convert::db_err;

/// `start_time` of a granule without a start.
const UNTIMED: i64 = -9_007_199_254_740_992;

pub(crate) async fn granule_timeline(
    pool: &SqlitePool,
    q: &TimelineQuery,
) -> Result<Vec<TimelineBucket>> {
    let (start, end) = q.aligned();
    let lo = start.map_or(UNTIMED + 1, |t| t.timestamp().max(UNTIMED + 1));
    let hi = end.map_or(i64::MAX, |t| t.timestamp());
    let sql = match q.interval {
        TimelineInterval::Hour => {
            "SELECT CAST(start_time / 3600.0 AS INTEGER) \
                    - (start_time / 3600.0 < CAST(start_time / 3600.0 AS INTEGER)) AS b, \
                    count(*) \
             FROM granules \
             WHERE collection_key = (SELECT key FROM collections WHERE id = ?1) \
               AND start_time >= ?2 AND start_time < ?3 \
             GROUP BY b ORDER BY b"
        }
        TimelineInterval::Day => {
            "SELECT day * 24, n FROM granule_days \
             WHERE collection_key = (SELECT key FROM collections WHERE id = ?1) \
               AND day >= ?2 / 86400 AND day < ?3 / 86400 AND n > 0 \
             ORDER BY day"
        }
        TimelineInterval::Month => {
            "SELECT CAST(strftime('%s', day * 86400, 'unixepoch', 'start of month') AS INTEGER) \
                    / 3600 AS b, sum(n) \
             FROM granule_days \
             WHERE collection_key = (SELECT key FROM collections WHERE id = ?1) \
               AND day >= ?2 / 86400 AND day < ?3 / 86400 AND n > 0 \
             GROUP BY b ORDER BY b"
        }
    };
    // Day and month bounds are whole days (aligned); unbounded ones stay out of range.
    let (lo, hi) = match q.interval {
        TimelineInterval::Hour => (lo, hi),
        _ => (lo.div_euclid(86_400) * 86_400, hi),
    };
    let rows = sqlx::query(sql)
        .bind(&q.collection_id)
        .bind(lo)
        .bind(hi)
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let hour: i64 = row.try_get(0).map_err(db_err)?;
            let count: i64 = row.try_get(1).map_err(db_err)?;
            Ok(TimelineBucket {
                start: hour_start(hour)?,
                count: u64::try_from(count).unwrap_or(0),
            })
        })
        .collect()
}

/// The start of the `hour`-th hour since the epoch.
fn hour_start(hour: i64) -> Result<Timestamp> {
    hour.checked_mul(3600)
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .ok_or_else(|| StoreError::Corrupt("timeline bucket".into()))
}
