//! ISO 19139 records of collections: saving them and finding stale ones.

use chrono::Utc;
use sqlx::{AssertSqlSafe, SqlitePool};
use threddex_store::{Collection, IsoRecordUpdate, Result};

use crate::convert::{db_err, opt_ts_to_db, ts_to_db};
use crate::read::{COLLECTION_COLUMNS, collection_from_row};

/// One transaction; `updated_at` moves only for records whose XML changes.
pub(crate) async fn set_iso_records(pool: &SqlitePool, records: &[IsoRecordUpdate]) -> Result<u64> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let now = ts_to_db(Utc::now());
    let mut found = 0;
    for r in records {
        let done = sqlx::query(
            "UPDATE collections SET \
             updated_at = CASE WHEN iso_record IS ?2 THEN updated_at ELSE ?6 END, \
             iso_record = ?2, iso_start = ?3, iso_end = ?4, iso_date_stamp = ?5, \
             iso_views_version = ?7 \
             WHERE id = ?1",
        )
        .bind(&r.collection_id)
        .bind(&r.xml)
        .bind(opt_ts_to_db(r.start))
        .bind(opt_ts_to_db(r.end))
        .bind(ts_to_db(r.date_stamp))
        .bind(now)
        .bind(r.views_version)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        found += done.rows_affected();
    }
    tx.commit().await.map_err(db_err)?;
    Ok(found)
}

pub(crate) async fn stale_iso_records(
    pool: &SqlitePool,
    source_id: Option<i64>,
    limit: u32,
) -> Result<Vec<Collection>> {
    let sql = format!(
        "SELECT {COLLECTION_COLUMNS} FROM collections \
         WHERE (iso_record IS NULL OR iso_start IS NOT start_time OR iso_end IS NOT end_time \
                OR iso_views_version <> views_version) \
           AND (?1 IS NULL OR source_id = ?1) \
         ORDER BY id LIMIT ?2"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(source_id)
        .bind(if limit == 0 { -1 } else { i64::from(limit) })
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    rows.iter().map(collection_from_row).collect()
}
