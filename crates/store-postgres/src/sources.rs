//! Sources and crawl-state reads.

use sqlx::{AssertSqlSafe, PgPool, Row};
use threddex_store::{CatalogState, DueCatalogs, NewSource, Source, StoreError, Timestamp};

use crate::convert::{
    CATALOG_COLUMNS, SOURCE_COLUMNS, catalog_from_row, clean, clean_opt, db_err, ser_jsonb,
    source_from_row,
};

fn validate(source: &NewSource) -> Result<(), StoreError> {
    if source.name.trim().is_empty() {
        return Err(StoreError::Invalid("a source needs a name".into()));
    }
    if source.url.trim().is_empty() {
        return Err(StoreError::Invalid("a source needs a URL".into()));
    }
    Ok(())
}

/// `INSERT` of a source; `on_conflict` is appended before `RETURNING`.
async fn insert(
    pool: &PgPool,
    source: &NewSource,
    on_conflict: &'static str,
) -> Result<Option<Source>, StoreError> {
    validate(source)?;
    let sql = format!(
        "INSERT INTO sources (name, url, authority, every_secs, select_json, skip_json, \
         rules_json, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, now()) {on_conflict} \
         RETURNING {SOURCE_COLUMNS}"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(clean(&source.name).as_ref())
        .bind(clean(&source.url).as_ref())
        .bind(clean_opt(&source.authority))
        .bind(source.every_secs)
        .bind(ser_jsonb(&source.select)?)
        .bind(ser_jsonb(&source.skip)?)
        .bind(ser_jsonb(&source.rules)?)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(source_from_row).transpose()
}

pub(crate) async fn add_source(pool: &PgPool, source: &NewSource) -> Result<Source, StoreError> {
    match insert(pool, source, "").await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(StoreError::Internal("INSERT returned no row".into())),
        Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
            "a source named {:?} or with URL {:?} exists",
            source.name, source.url
        ))),
        Err(e) => Err(e),
    }
}

pub(crate) async fn ensure_source(pool: &PgPool, source: &NewSource) -> Result<Source, StoreError> {
    if let Some(existing) = source_by_url(pool, &source.url).await? {
        return Ok(existing);
    }
    // Another process may register the same URL between the lookup and the insert: the
    // insert then does nothing and the row is read back.
    match insert(pool, source, "ON CONFLICT (url) DO NOTHING").await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => source_by_url(pool, &source.url)
            .await?
            .ok_or_else(|| StoreError::Internal("source vanished while registering".into())),
        Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
            "a source named {:?} exists with another URL",
            source.name
        ))),
        Err(e) => Err(e),
    }
}

pub(crate) async fn update_source(pool: &PgPool, source: &NewSource) -> Result<Source, StoreError> {
    validate(source)?;
    // One statement: the settings change only when both the name and the URL match, so a
    // concurrent rename or removal cannot be overwritten.
    let sql = format!(
        "UPDATE sources SET authority = $3, every_secs = $4, select_json = $5, skip_json = $6, \
         rules_json = $7 WHERE name = $1 AND url = $2 RETURNING {SOURCE_COLUMNS}"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(clean(&source.name).as_ref())
        .bind(clean(&source.url).as_ref())
        .bind(clean_opt(&source.authority))
        .bind(source.every_secs)
        .bind(ser_jsonb(&source.select)?)
        .bind(ser_jsonb(&source.skip)?)
        .bind(ser_jsonb(&source.rules)?)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    if let Some(row) = row {
        return source_from_row(&row);
    }
    match source_by_name(pool, &source.name).await? {
        None => Err(StoreError::NotFound(format!(
            "no source named {:?}",
            source.name
        ))),
        Some(existing) => Err(StoreError::Conflict(format!(
            "source {:?} has URL {:?}, not {:?}; a source's URL cannot be changed",
            source.name, existing.settings.url, source.url
        ))),
    }
}

async fn source_where(
    pool: &PgPool,
    condition: &'static str,
    value: &str,
) -> Result<Option<Source>, StoreError> {
    let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE {condition} = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(source_from_row).transpose()
}

pub(crate) async fn source_by_name(
    pool: &PgPool,
    name: &str,
) -> Result<Option<Source>, StoreError> {
    source_where(pool, "name", &clean(name)).await
}

pub(crate) async fn source_by_url(pool: &PgPool, url: &str) -> Result<Option<Source>, StoreError> {
    source_where(pool, "url", &clean(url)).await
}

pub(crate) async fn list_sources(pool: &PgPool) -> Result<Vec<Source>, StoreError> {
    let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources ORDER BY name");
    let rows = sqlx::query(AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    rows.iter().map(source_from_row).collect()
}

pub(crate) async fn remove_source(pool: &PgPool, name: &str) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let id: Option<i64> = sqlx::query("SELECT id FROM sources WHERE name = $1 FOR UPDATE")
        .bind(clean(name).as_ref())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(db_err)?;
    let Some(id) = id else {
        return Ok(false);
    };
    // The collections that go, with their granules, for the change log.
    let gone = sqlx::query(
        "SELECT c.id, (SELECT count(*) FROM granules g WHERE g.collection_key = c.key) \
         FROM collections c WHERE c.source_id = $1",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    let mut changes = threddex_store::ChangeSet::default();
    for r in &gone {
        let id: String = r.try_get(0).map_err(db_err)?;
        let n: i64 = r.try_get(1).map_err(db_err)?;
        changes.collection_removed(&id, u64::try_from(n).unwrap_or(0));
    }
    // Granules carry no foreign keys (see the migration): delete those of the source's
    // collections and catalogs first; catalogs and collections then go with the source
    // (ON DELETE CASCADE).
    for sql in [
        "DELETE FROM granules WHERE collection_key IN \
         (SELECT key FROM collections WHERE source_id = $1)",
        "DELETE FROM granules WHERE catalog_key IN \
         (SELECT key FROM catalogs WHERE source_id = $1)",
        "DELETE FROM sources WHERE id = $1",
    ] {
        sqlx::query(sql)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    crate::change_log::append(&mut tx, &changes.into_entries()).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(true)
}

pub(crate) async fn mark_source_synced(
    pool: &PgPool,
    source_id: i64,
    at: Timestamp,
    success: bool,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE sources SET last_sync_at = $2, \
         last_success_at = CASE WHEN $3 THEN $2 ELSE last_success_at END WHERE id = $1",
    )
    .bind(source_id)
    .bind(at)
    .bind(success)
    .execute(pool)
    .await
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("source {source_id}")));
    }
    Ok(())
}

pub(crate) async fn catalog(pool: &PgPool, url: &str) -> Result<Option<CatalogState>, StoreError> {
    let sql = format!("SELECT {CATALOG_COLUMNS} FROM catalogs WHERE url = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(clean(url).as_ref())
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(catalog_from_row).transpose()
}

pub(crate) async fn child_catalogs(
    pool: &PgPool,
    parent_url: &str,
) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar("SELECT url FROM catalogs WHERE parent_url = $1 ORDER BY url")
        .bind(clean(parent_url))
        .fetch_all(pool)
        .await
        .map_err(db_err)
}

pub(crate) async fn due_catalogs(
    pool: &PgPool,
    source_id: i64,
    due_by: Timestamp,
) -> Result<DueCatalogs, StoreError> {
    // Two index range reads: non-archival classes by `next_visit` (catalogs_source_next_visit),
    // and the unsettled ones (catalogs_unsettled, migration 0019).
    let sql = format!(
        "SELECT {CATALOG_COLUMNS} FROM catalogs WHERE source_id = $1 \
           AND class IN ('live', 'daily', 'mixed') AND (next_visit IS NULL OR next_visit <= $2) \
         UNION \
         SELECT {CATALOG_COLUMNS} FROM catalogs WHERE source_id = $1 \
           AND status IN ('pending', 'failed') \
           AND (status = 'pending' OR class <> 'archival') \
         ORDER BY depth, url"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(source_id)
        .bind(due_by)
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    let due = rows
        .iter()
        .map(catalog_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let (known, archival): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE class = 'archival' AND status <> 'pending') \
         FROM catalogs WHERE source_id = $1",
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
    pool: &PgPool,
    source_id: i64,
) -> Result<Vec<CatalogState>, StoreError> {
    let sql =
        format!("SELECT {CATALOG_COLUMNS} FROM catalogs WHERE source_id = $1 ORDER BY depth, url");
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(source_id)
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    rows.iter().map(catalog_from_row).collect()
}
