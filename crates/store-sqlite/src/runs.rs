//! Crawl runs: one row per harvest, sync or refresh, read by the admin endpoints.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use threddex_store::{
    CrawlRun, CrawlRunEnd, MAX_RUNS_PER_SOURCE, NewCrawlRun, Result, RunKind, RunStatus, StoreError,
};

use crate::convert::{corrupt, db_err, from_json, opt_ts_from_db, to_json, ts_from_db, ts_to_db};

fn count(row: &SqliteRow, col: &str) -> Result<u64> {
    let v: i64 = row.try_get(col).map_err(db_err)?;
    Ok(u64::try_from(v).unwrap_or(0))
}

fn run_from_row(row: &SqliteRow) -> Result<CrawlRun> {
    let kind: String = row.try_get("kind").map_err(db_err)?;
    let status: String = row.try_get("status").map_err(db_err)?;
    let errors: String = row.try_get("errors_json").map_err(db_err)?;
    Ok(CrawlRun {
        id: row.try_get("id").map_err(db_err)?,
        source_id: row.try_get("source_id").map_err(db_err)?,
        source: row.try_get("name").map_err(db_err)?,
        kind: RunKind::parse(&kind).ok_or_else(|| corrupt("run kind"))?,
        started_at: ts_from_db(row.try_get_unchecked("started_at").map_err(db_err)?)?,
        finished_at: opt_ts_from_db(row.try_get_unchecked("finished_at").map_err(db_err)?)?,
        status: RunStatus::parse(&status).ok_or_else(|| corrupt("run status"))?,
        catalogs: count(row, "catalogs")?,
        granules_added: count(row, "granules_added")?,
        granules_removed: count(row, "granules_removed")?,
        failed: count(row, "failed")?,
        errors: from_json(&errors, "run errors")?,
        holder: row.try_get("holder").map_err(db_err)?,
    })
}

fn db_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) async fn start(pool: &SqlitePool, run: &NewCrawlRun) -> Result<i64> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let row = sqlx::query(
        "INSERT INTO crawl_runs (source_id, kind, started_at, status, holder) \
         SELECT id, ?2, ?3, 'running', ?4 FROM sources WHERE id = ?1 RETURNING id",
    )
    .bind(run.source_id)
    .bind(run.kind.as_str())
    .bind(ts_to_db(run.started_at))
    .bind(&run.holder)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    let Some(row) = row else {
        return Err(StoreError::NotFound(format!("source {}", run.source_id)));
    };
    let id: i64 = row.try_get("id").map_err(db_err)?;
    sqlx::query(
        "DELETE FROM crawl_runs WHERE source_id = ?1 AND id <= \
         (SELECT id FROM crawl_runs WHERE source_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    )
    .bind(run.source_id)
    .bind(MAX_RUNS_PER_SOURCE)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(id)
}

pub(crate) async fn finish(pool: &SqlitePool, id: i64, end: &CrawlRunEnd) -> Result<()> {
    if end.status == RunStatus::Running {
        return Err(StoreError::Invalid(
            "a run cannot finish with status running".into(),
        ));
    }
    let res = sqlx::query(
        "UPDATE crawl_runs SET finished_at = ?2, status = ?3, catalogs = ?4, \
         granules_added = ?5, granules_removed = ?6, failed = ?7, errors_json = ?8 WHERE id = ?1",
    )
    .bind(id)
    .bind(ts_to_db(end.finished_at))
    .bind(end.status.as_str())
    .bind(db_count(end.catalogs))
    .bind(db_count(end.granules_added))
    .bind(db_count(end.granules_removed))
    .bind(db_count(end.failed))
    .bind(to_json(&end.bounded_errors(), "run errors")?)
    .execute(pool)
    .await
    .map_err(db_err)?;
    if res.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("crawl run {id}")));
    }
    Ok(())
}

pub(crate) async fn list(
    pool: &SqlitePool,
    source: Option<&str>,
    limit: u32,
) -> Result<Vec<CrawlRun>> {
    // SQLite: a negative LIMIT means none.
    let limit = if limit == 0 { -1 } else { i64::from(limit) };
    let rows = sqlx::query(
        "SELECT r.id, r.source_id, s.name, r.kind, r.started_at, r.finished_at, r.status, \
         r.catalogs, r.granules_added, r.granules_removed, r.failed, r.errors_json, r.holder \
         FROM crawl_runs r JOIN sources s ON s.id = r.source_id \
         WHERE ?1 IS NULL OR s.name = ?1 ORDER BY r.id DESC LIMIT ?2",
    )
    .bind(source)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter().map(run_from_row).collect()
}
