//! Source registration.

use chrono::Utc;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use threddex_store::{NewSource, Result, Source, StoreError, Timestamp};

use crate::convert::{db_err, from_json, opt_ts_from_db, to_json, ts_from_db, ts_to_db};

const COLUMNS: &str = "id, name, url, authority, every_secs, select_json, skip_json, rules_json, \
                       created_at, last_sync_at, last_success_at";

fn source_from_row(row: &SqliteRow) -> Result<Source> {
    let select: String = row.try_get("select_json").map_err(db_err)?;
    let skip: String = row.try_get("skip_json").map_err(db_err)?;
    let rules: String = row.try_get("rules_json").map_err(db_err)?;
    Ok(Source {
        id: row.try_get("id").map_err(db_err)?,
        settings: NewSource {
            name: row.try_get("name").map_err(db_err)?,
            url: row.try_get("url").map_err(db_err)?,
            authority: row.try_get("authority").map_err(db_err)?,
            every_secs: row.try_get("every_secs").map_err(db_err)?,
            select: from_json(&select, "source select")?,
            skip: from_json(&skip, "source skip")?,
            rules: from_json(&rules, "source rules")?,
        },
        created_at: ts_from_db(row.try_get_unchecked("created_at").map_err(db_err)?)?,
        last_sync_at: opt_ts_from_db(row.try_get_unchecked("last_sync_at").map_err(db_err)?)?,
        last_success_at: opt_ts_from_db(row.try_get_unchecked("last_success_at").map_err(db_err)?)?,
    })
}

async fn one(pool: &SqlitePool, by_url: bool, value: &str) -> Result<Option<Source>> {
    let key = if by_url { "url" } else { "name" };
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM sources WHERE {key} = ?1"));
    let row = sqlx::query(sql)
        .bind(value)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(source_from_row).transpose()
}

fn validate(source: &NewSource) -> Result<()> {
    if source.name.trim().is_empty() {
        return Err(StoreError::Invalid("source name is empty".into()));
    }
    if source.url.trim().is_empty() {
        return Err(StoreError::Invalid("source URL is empty".into()));
    }
    Ok(())
}

/// Insert; with `ignore_taken_url`, a taken URL means "no row inserted" instead of a conflict.
async fn insert(pool: &SqlitePool, source: &NewSource, ignore_taken_url: bool) -> Result<bool> {
    validate(source)?;
    let sql = if ignore_taken_url {
        "INSERT INTO sources (name, url, authority, every_secs, select_json, skip_json, rules_json, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (url) DO NOTHING"
    } else {
        "INSERT INTO sources (name, url, authority, every_secs, select_json, skip_json, rules_json, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    };
    let now: Timestamp = Utc::now();
    let res = sqlx::query(sql)
        .bind(&source.name)
        .bind(&source.url)
        .bind(&source.authority)
        .bind(source.every_secs)
        .bind(to_json(&source.select, "select")?)
        .bind(to_json(&source.skip, "skip")?)
        .bind(to_json(&source.rules, "rules")?)
        .bind(ts_to_db(now))
        .execute(pool)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "a source named {:?} or with URL {:?} exists",
                source.name, source.url
            )),
            other => other,
        })?;
    Ok(res.rows_affected() > 0)
}

pub(crate) async fn add(pool: &SqlitePool, source: &NewSource) -> Result<Source> {
    insert(pool, source, false).await?;
    by_url(pool, &source.url)
        .await?
        .ok_or_else(|| StoreError::Internal("inserted source not found".into()))
}

pub(crate) async fn ensure(pool: &SqlitePool, source: &NewSource) -> Result<Source> {
    if let Some(s) = by_url(pool, &source.url).await? {
        return Ok(s);
    }
    insert(pool, source, true).await?;
    by_url(pool, &source.url)
        .await?
        .ok_or_else(|| StoreError::Internal("inserted source not found".into()))
}

pub(crate) async fn update(pool: &SqlitePool, source: &NewSource) -> Result<Source> {
    validate(source)?;
    // The settings change only when both the name and the URL match.
    let sql = sqlx::AssertSqlSafe(format!(
        "UPDATE sources SET authority = ?3, every_secs = ?4, select_json = ?5, skip_json = ?6, \
         rules_json = ?7 WHERE name = ?1 AND url = ?2 RETURNING {COLUMNS}"
    ));
    let row = sqlx::query(sql)
        .bind(&source.name)
        .bind(&source.url)
        .bind(&source.authority)
        .bind(source.every_secs)
        .bind(to_json(&source.select, "select")?)
        .bind(to_json(&source.skip, "skip")?)
        .bind(to_json(&source.rules, "rules")?)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    if let Some(row) = row {
        return source_from_row(&row);
    }
    match by_name(pool, &source.name).await? {
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

pub(crate) async fn by_name(pool: &SqlitePool, name: &str) -> Result<Option<Source>> {
    one(pool, false, name).await
}

pub(crate) async fn by_url(pool: &SqlitePool, url: &str) -> Result<Option<Source>> {
    one(pool, true, url).await
}

pub(crate) async fn list(pool: &SqlitePool) -> Result<Vec<Source>> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM sources ORDER BY name"));
    let rows = sqlx::query(sql).fetch_all(pool).await.map_err(db_err)?;
    rows.iter().map(source_from_row).collect()
}

pub(crate) async fn remove(pool: &SqlitePool, name: &str) -> Result<bool> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    // The collections that go, with their granules, for the change log.
    let gone = sqlx::query(
        "SELECT c.id, (SELECT count(*) FROM granules g WHERE g.collection_key = c.key) \
         FROM collections c JOIN sources s ON s.id = c.source_id WHERE s.name = ?1",
    )
    .bind(name)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    // Foreign keys cascade to catalogs, collections and (through both) granules.
    let res = sqlx::query("DELETE FROM sources WHERE name = ?1")
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let mut changes = threddex_store::ChangeSet::default();
    for r in &gone {
        let id: String = r.try_get(0).map_err(db_err)?;
        let n: i64 = r.try_get(1).map_err(db_err)?;
        changes.collection_removed(&id, u64::try_from(n).unwrap_or(0));
    }
    crate::change_log::append(&mut tx, &changes.into_entries()).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(res.rows_affected() > 0)
}

pub(crate) async fn mark_synced(
    pool: &SqlitePool,
    source_id: i64,
    at: Timestamp,
    success: bool,
) -> Result<()> {
    let res = sqlx::query(
        "UPDATE sources SET last_sync_at = ?2, \
         last_success_at = CASE WHEN ?3 THEN ?2 ELSE last_success_at END WHERE id = ?1",
    )
    .bind(source_id)
    .bind(ts_to_db(at))
    .bind(success)
    .execute(pool)
    .await
    .map_err(db_err)?;
    if res.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("source {source_id}")));
    }
    Ok(())
}
