//! Reads: crawl state, collections, granules, statistics.

use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row, SqlitePool};
use threddex_store::{
    BBox, CatalogState, CatalogStatus, Collection, CollectionUpsert, DueCatalogs, Granule,
    GranuleQuery, NodeClass, Result, StoreStats, Timestamp,
};

use crate::convert::{corrupt, db_err, from_json, opt_ts_from_db, ts_from_db, ts_to_db};

pub(crate) const CATALOG_COLUMNS: &str = "url, source_id, parent_url, depth, class, status, last_fetch, \
    etag, last_modified, content_hash, last_changed, granule_count, error, next_visit, expires, next_change";

pub(crate) fn catalog_from_row(row: &SqliteRow) -> Result<CatalogState> {
    let class: String = row.try_get("class").map_err(db_err)?;
    let status: String = row.try_get("status").map_err(db_err)?;
    Ok(CatalogState {
        url: row.try_get("url").map_err(db_err)?,
        source_id: row.try_get("source_id").map_err(db_err)?,
        parent_url: row.try_get("parent_url").map_err(db_err)?,
        depth: row.try_get("depth").map_err(db_err)?,
        class: NodeClass::parse(&class).ok_or_else(|| corrupt("catalog class"))?,
        status: CatalogStatus::parse(&status).ok_or_else(|| corrupt("catalog status"))?,
        last_fetch: opt_ts_from_db(row.try_get_unchecked("last_fetch").map_err(db_err)?)?,
        etag: row.try_get("etag").map_err(db_err)?,
        last_modified: row.try_get("last_modified").map_err(db_err)?,
        content_hash: row.try_get("content_hash").map_err(db_err)?,
        last_changed: opt_ts_from_db(row.try_get_unchecked("last_changed").map_err(db_err)?)?,
        granule_count: row.try_get("granule_count").map_err(db_err)?,
        error: row.try_get("error").map_err(db_err)?,
        next_visit: opt_ts_from_db(row.try_get_unchecked("next_visit").map_err(db_err)?)?,
        expires: opt_ts_from_db(row.try_get_unchecked("expires").map_err(db_err)?)?,
        next_change: opt_ts_from_db(row.try_get_unchecked("next_change").map_err(db_err)?)?,
    })
}

pub(crate) async fn catalog(pool: &SqlitePool, url: &str) -> Result<Option<CatalogState>> {
    let sql = format!("SELECT {CATALOG_COLUMNS} FROM catalogs WHERE url = ?1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(url)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(catalog_from_row).transpose()
}

pub(crate) async fn child_catalogs(pool: &SqlitePool, parent_url: &str) -> Result<Vec<String>> {
    sqlx::query_scalar("SELECT url FROM catalogs WHERE parent_url = ?1 ORDER BY url")
        .bind(parent_url)
        .fetch_all(pool)
        .await
        .map_err(db_err)
}

pub(crate) async fn due_catalogs(
    pool: &SqlitePool,
    source_id: i64,
    due_by: Timestamp,
) -> Result<DueCatalogs> {
    // Two index range reads: non-archival classes by `next_visit` (catalogs_source_next_visit),
    // and the unsettled ones (catalogs_unsettled, migration 0019).
    let sql = format!(
        "SELECT {CATALOG_COLUMNS} FROM catalogs WHERE source_id = ?1 \
           AND class IN ('live', 'daily', 'mixed') AND (next_visit IS NULL OR next_visit <= ?2) \
         UNION \
         SELECT {CATALOG_COLUMNS} FROM catalogs WHERE source_id = ?1 \
           AND status IN ('pending', 'failed') \
           AND (status = 'pending' OR class <> 'archival') \
         ORDER BY depth, url"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(source_id)
        .bind(ts_to_db(due_by))
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    let due = rows
        .iter()
        .map(catalog_from_row)
        .collect::<Result<Vec<_>>>()?;
    let (known, archival): (i64, i64) = sqlx::query_as(
        "SELECT count(*), coalesce(sum(class = 'archival' AND status <> 'pending'), 0) \
         FROM catalogs WHERE source_id = ?1",
    )
    .bind(source_id)
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    Ok(DueCatalogs {
        due,
        known: u64::try_from(known).unwrap_or(0),
        archival: u64::try_from(archival).unwrap_or(0),
    })
}

pub(crate) async fn catalogs_of_source(
    pool: &SqlitePool,
    source_id: i64,
) -> Result<Vec<CatalogState>> {
    let sql =
        format!("SELECT {CATALOG_COLUMNS} FROM catalogs WHERE source_id = ?1 ORDER BY depth, url");
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(source_id)
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    rows.iter().map(catalog_from_row).collect()
}

pub(crate) const COLLECTION_COLUMNS: &str = "id, source_id, title, template, catalog_url, services, metadata, \
    summary, keywords, west, south, east, north, granule_count, start_time, end_time, iso_record, \
    updated_at, views_version";

pub(crate) fn collection_from_row(row: &SqliteRow) -> Result<Collection> {
    let services: String = row.try_get("services").map_err(db_err)?;
    let metadata: String = row.try_get("metadata").map_err(db_err)?;
    let keywords: String = row.try_get("keywords").map_err(db_err)?;
    let bbox = match (
        row.try_get::<Option<f64>, _>("west").map_err(db_err)?,
        row.try_get::<Option<f64>, _>("south").map_err(db_err)?,
        row.try_get::<Option<f64>, _>("east").map_err(db_err)?,
        row.try_get::<Option<f64>, _>("north").map_err(db_err)?,
    ) {
        (Some(west), Some(south), Some(east), Some(north)) => Some(BBox {
            west,
            south,
            east,
            north,
        }),
        _ => None,
    };
    Ok(Collection {
        info: CollectionUpsert {
            id: row.try_get("id").map_err(db_err)?,
            source_id: row.try_get("source_id").map_err(db_err)?,
            title: row.try_get("title").map_err(db_err)?,
            template: row.try_get("template").map_err(db_err)?,
            catalog_url: row.try_get("catalog_url").map_err(db_err)?,
            services: from_json(&services, "collection services")?,
            metadata: from_json(&metadata, "collection metadata")?,
            summary: row.try_get("summary").map_err(db_err)?,
            keywords: from_json(&keywords, "collection keywords")?,
            bbox,
        },
        granule_count: row.try_get("granule_count").map_err(db_err)?,
        start: opt_ts_from_db(row.try_get_unchecked("start_time").map_err(db_err)?)?,
        end: opt_ts_from_db(row.try_get_unchecked("end_time").map_err(db_err)?)?,
        iso_record: row.try_get("iso_record").map_err(db_err)?,
        updated_at: ts_from_db(row.try_get_unchecked("updated_at").map_err(db_err)?)?,
        views_version: row.try_get("views_version").map_err(db_err)?,
    })
}

pub(crate) async fn collection(pool: &SqlitePool, id: &str) -> Result<Option<Collection>> {
    let sql = format!("SELECT {COLLECTION_COLUMNS} FROM collections WHERE id = ?1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(collection_from_row).transpose()
}

pub(crate) async fn list_granules(pool: &SqlitePool, q: &GranuleQuery) -> Result<Vec<Granule>> {
    crate::granules::list(pool, q, false).await
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) async fn stats(pool: &SqlitePool) -> Result<StoreStats> {
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM sources), (SELECT count(*) FROM catalogs), \
         (SELECT count(*) FROM catalogs WHERE status = 'failed'), \
         (SELECT count(*) FROM collections), (SELECT count(*) FROM granules)",
    )
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    let mut stats = StoreStats {
        sources: to_u64(row.try_get(0).map_err(db_err)?),
        catalogs: to_u64(row.try_get(1).map_err(db_err)?),
        failed_catalogs: to_u64(row.try_get(2).map_err(db_err)?),
        collections: to_u64(row.try_get(3).map_err(db_err)?),
        granules: to_u64(row.try_get(4).map_err(db_err)?),
        collection_bytes: 0,
        granule_bytes: 0,
    };
    // Exact sizes (tables plus their indexes) from the dbstat virtual table.
    let sizes = sqlx::query(
        "SELECT s.tbl_name, sum(d.pgsize) FROM dbstat AS d \
         JOIN sqlite_schema AS s ON s.name = d.name \
         GROUP BY s.tbl_name",
    )
    .fetch_all(pool)
    .await;
    match sizes {
        Ok(rows) => {
            for r in rows {
                let table: String = r.try_get(0).map_err(db_err)?;
                let bytes = to_u64(r.try_get(1).map_err(db_err)?);
                if table.starts_with("collections") {
                    stats.collection_bytes += bytes;
                } else if table == "granules" {
                    stats.granule_bytes += bytes;
                }
            }
        }
        Err(e) => {
            // No dbstat: attribute the used pages by row counts (a rough estimate).
            tracing::debug!("dbstat unavailable ({e}); estimating sizes from page counts");
            let used: i64 = sqlx::query_scalar(
                "SELECT (SELECT page_count FROM pragma_page_count()) \
                      - (SELECT freelist_count FROM pragma_freelist_count())",
            )
            .fetch_one(pool)
            .await
            .map_err(db_err)?;
            let page: i64 = sqlx::query_scalar("SELECT page_size FROM pragma_page_size()")
                .fetch_one(pool)
                .await
                .map_err(db_err)?;
            let total = to_u64(used.saturating_mul(page));
            let rows = (stats.granules + stats.collections).max(1);
            stats.granule_bytes = total.saturating_mul(stats.granules) / rows;
            stats.collection_bytes = total.saturating_sub(stats.granule_bytes);
        }
    }
    Ok(stats)
}
