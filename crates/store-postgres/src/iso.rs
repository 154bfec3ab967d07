//! Stored ISO 19139 records and their staleness.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sqlx::{AssertSqlSafe, PgPool, Row};
use threddex_store::{Collection, IsoRecordUpdate, StoreError};

use crate::convert::{COLLECTION_COLUMNS, clean, collection_from_row, db_err};
use crate::write::CHUNK;

/// Store records (the last one of a collection in `records` wins); returns how many named
/// an existing collection. `updated_at` moves only when the XML changes, and rows whose
/// record is unchanged are not rewritten.
pub(crate) async fn set_iso_records(
    pool: &PgPool,
    records: &[IsoRecordUpdate],
) -> Result<u64, StoreError> {
    // Dedup and sort by ID: one update per row, a consistent lock order.
    let unique: BTreeMap<String, &IsoRecordUpdate> = records
        .iter()
        .map(|r| (clean(&r.collection_id).into_owned(), r))
        .collect();
    let all: Vec<(String, &IsoRecordUpdate)> = unique.into_iter().collect();
    let mut found = 0u64;
    let mut tx = pool.begin().await.map_err(db_err)?;
    for chunk in all.chunks(CHUNK) {
        let mut ids = Vec::with_capacity(chunk.len());
        let mut xml = Vec::with_capacity(chunk.len());
        let mut start = Vec::with_capacity(chunk.len());
        let mut end = Vec::with_capacity(chunk.len());
        let mut stamp = Vec::with_capacity(chunk.len());
        let mut views = Vec::with_capacity(chunk.len());
        for (id, r) in chunk {
            ids.push(id.as_str());
            xml.push(clean(&r.xml).into_owned());
            start.push(r.start);
            end.push(r.end);
            stamp.push(r.date_stamp);
            views.push(r.views_version);
        }
        let row = sqlx::query(
            "WITH u AS ( \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], \
                     $4::timestamptz[], $5::timestamptz[], $6::int8[]) AS u(id, xml, s, e, ds, v) \
             ), upd AS ( \
                 UPDATE collections c SET iso_record = u.xml, iso_start = u.s, iso_end = u.e, \
                     iso_date_stamp = u.ds, iso_views_version = u.v, \
                     updated_at = CASE WHEN c.iso_record IS DISTINCT FROM u.xml THEN now() \
                                       ELSE c.updated_at END \
                 FROM u WHERE c.id = u.id \
                   AND (c.iso_record, c.iso_start, c.iso_end, c.iso_date_stamp, \
                        c.iso_views_version) \
                       IS DISTINCT FROM (u.xml, u.s, u.e, u.ds, u.v) \
                 RETURNING 1 \
             ) SELECT count(*) FROM collections c JOIN u ON c.id = u.id",
        )
        .bind(&ids)
        .bind(&xml)
        .bind(&start)
        .bind(&end)
        .bind(&stamp)
        .bind(&views)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let n: i64 = row.try_get(0).map_err(db_err)?;
        found += u64::try_from(n).unwrap_or(0);
    }
    tx.commit().await.map_err(db_err)?;
    Ok(found)
}

/// Collections whose record is missing, states another extent than the current one or was
/// built for other views, ordered by ID (only those of `source_id` when given; `limit` 0: no limit).
pub(crate) async fn stale_iso_records(
    pool: &PgPool,
    source_id: Option<i64>,
    limit: u32,
) -> Result<Vec<Collection>, StoreError> {
    let mut sql = format!(
        "SELECT {COLLECTION_COLUMNS} FROM collections c \
         WHERE (c.iso_record IS NULL \
                OR (c.iso_start, c.iso_end) IS DISTINCT FROM (c.start_time, c.end_time) \
                OR c.iso_views_version <> c.views_version)"
    );
    if source_id.is_some() {
        sql.push_str(" AND c.source_id = $1");
    } else {
        sql.push_str(" AND $1::int8 IS NULL");
    }
    let _ = write!(sql, " ORDER BY c.id LIMIT $2");
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(source_id)
        .bind((limit > 0).then_some(i64::from(limit)))
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    rows.iter().map(collection_from_row).collect()
}
