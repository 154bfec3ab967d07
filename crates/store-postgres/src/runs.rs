//! Crawl runs: one row per harvest, sync or refresh, read by the admin endpoints.

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use threddex_store::{
    CrawlRun, CrawlRunEnd, MAX_RUNS_PER_SOURCE, NewCrawlRun, RunError, RunKind, RunStatus,
    StoreError,
};

use crate::convert::{clean, clean_opt, db_err, ser_jsonb};

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn count(row: &PgRow, col: &str) -> Result<u64, StoreError> {
    let v: i64 = row.try_get(col).map_err(db_err)?;
    Ok(u64::try_from(v).unwrap_or(0))
}

fn run_from_row(row: &PgRow) -> Result<CrawlRun, StoreError> {
    let kind: String = row.try_get("kind").map_err(db_err)?;
    let status: String = row.try_get("status").map_err(db_err)?;
    let errors: sqlx::types::Json<Vec<RunError>> = row.try_get("errors").map_err(db_err)?;
    Ok(CrawlRun {
        id: row.try_get("id").map_err(db_err)?,
        source_id: row.try_get("source_id").map_err(db_err)?,
        source: row.try_get("name").map_err(db_err)?,
        kind: RunKind::parse(&kind).ok_or_else(|| corrupt("run kind"))?,
        started_at: row.try_get("started_at").map_err(db_err)?,
        finished_at: row.try_get("finished_at").map_err(db_err)?,
        status: RunStatus::parse(&status).ok_or_else(|| corrupt("run status"))?,
        catalogs: count(row, "catalogs")?,
        granules_added: count(row, "granules_added")?,
        granules_removed: count(row, "granules_removed")?,
        failed: count(row, "failed")?,
        errors: errors.0,
        holder: row.try_get("holder").map_err(db_err)?,
    })
}

fn db_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) async fn start(pool: &PgPool, run: &NewCrawlRun) -> Result<i64, StoreError> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let row = sqlx::query(
        "INSERT INTO crawl_runs (source_id, kind, started_at, status, holder) \
         SELECT id, $2, $3, 'running', $4 FROM sources WHERE id = $1 RETURNING id",
    )
    .bind(run.source_id)
    .bind(run.kind.as_str())
    .bind(run.started_at)
    .bind(clean_opt(&run.holder))
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    let Some(row) = row else {
        return Err(StoreError::NotFound(format!("source {}", run.source_id)));
    };
    let id: i64 = row.try_get("id").map_err(db_err)?;
    sqlx::query(
        "DELETE FROM crawl_runs WHERE source_id = $1 AND id <= \
         (SELECT id FROM crawl_runs WHERE source_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
    )
    .bind(run.source_id)
    .bind(MAX_RUNS_PER_SOURCE)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(id)
}

pub(crate) async fn finish(pool: &PgPool, id: i64, end: &CrawlRunEnd) -> Result<(), StoreError> {
    if end.status == RunStatus::Running {
        return Err(StoreError::Invalid(
            "a run cannot finish with status running".into(),
        ));
    }
    let errors: Vec<RunError> = end
        .bounded_errors()
        .into_iter()
        .map(|e| RunError {
            url: clean(&e.url).into_owned(),
            error: clean(&e.error).into_owned(),
        })
        .collect();
    let res = sqlx::query(
        "UPDATE crawl_runs SET finished_at = $2, status = $3, catalogs = $4, \
         granules_added = $5, granules_removed = $6, failed = $7, errors = $8 WHERE id = $1",
    )
    .bind(id)
    .bind(end.finished_at)
    .bind(end.status.as_str())
    .bind(db_count(end.catalogs))
    .bind(db_count(end.granules_added))
    .bind(db_count(end.granules_removed))
    .bind(db_count(end.failed))
    .bind(ser_jsonb(&errors)?)
    .execute(pool)
    .await
    .map_err(db_err)?;
    if res.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("crawl run {id}")));
    }
    Ok(())
}

pub(crate) async fn list(
    pool: &PgPool,
    source: Option<&str>,
    limit: u32,
) -> Result<Vec<CrawlRun>, StoreError> {
    let limit = if limit == 0 {
        None
    } else {
        Some(i64::from(limit))
    };
    let rows = sqlx::query(
        "SELECT r.id, r.source_id, s.name, r.kind, r.started_at, r.finished_at, r.status, \
         r.catalogs, r.granules_added, r.granules_removed, r.failed, r.errors, r.holder \
         FROM crawl_runs r JOIN sources s ON s.id = r.source_id \
         WHERE $1::text IS NULL OR s.name = $1 ORDER BY r.id DESC LIMIT $2",
    )
    .bind(source.map(|s| clean(s).into_owned()))
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter().map(run_from_row).collect()
}
