//! Recording crawl runs in the store: a row when a harvest, sync or refresh of a
//! source starts and its figures and first errors when it ends. Recording is best effort: a
//! store failure here is logged as a warning and never fails the crawl.

use std::sync::Arc;

use chrono::Utc;
use threddex_store::{
    CrawlRunEnd, ErrorChain, MAX_RUN_ERRORS, NewCrawlRun, RunError, RunKind, RunStatus, Source,
    Store,
};

use crate::{CrawlError, HarvestReport};

/// Record the start of a run; None when that failed (logged).
pub(crate) async fn start(
    store: &Arc<dyn Store>,
    source: &Source,
    kind: RunKind,
    holder: &str,
) -> Option<i64> {
    let run = NewCrawlRun {
        source_id: source.id,
        kind,
        started_at: Utc::now(),
        holder: Some(holder.to_owned()),
    };
    match store.start_run(&run).await {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::warn!(source = %source.settings.name, kind = kind.as_str(), error = %ErrorChain(&e), "cannot record the crawl run");
            None
        }
    }
}

/// Record the end of a run started with [`start`] (in the store only when its start was
/// recorded; in the process's metrics always: `threddex_crawl_runs_total{status}` and
/// `threddex_crawl_catalog_failures_total`).
pub(crate) async fn finish(store: &Arc<dyn Store>, id: Option<i64>, end: CrawlRunEnd) {
    metrics::counter!("threddex_crawl_runs_total", "status" => end.status.as_str()).increment(1);
    metrics::counter!("threddex_crawl_catalog_failures_total").increment(end.failed);
    let Some(id) = id else { return };
    if let Err(e) = store.finish_run(id, &end).await {
        tracing::warn!(run = id, error = %ErrorChain(&e), "cannot record the end of the crawl run");
    }
}

/// The end of a run whose walk produced `report`: `ok`, or `partial` when catalogs failed,
/// or `failed` when `success` is false.
pub(crate) fn end_of(report: &HarvestReport, success: bool) -> CrawlRunEnd {
    let status = if !success {
        RunStatus::Failed
    } else if report.failed_count > 0 {
        RunStatus::Partial
    } else {
        RunStatus::Ok
    };
    CrawlRunEnd {
        finished_at: Utc::now(),
        status,
        catalogs: report.catalogs,
        granules_added: report.granules_inserted,
        granules_removed: report.granules_deleted,
        failed: report.failed_count,
        errors: report
            .failed
            .iter()
            .take(MAX_RUN_ERRORS)
            .map(|(url, error)| RunError {
                url: url.clone(),
                error: error.clone(),
            })
            .collect(),
    }
}

/// The end of a run stopped by `err` (for `url`, the source's start catalog unless the
/// error names another).
pub(crate) fn end_of_error(err: &CrawlError, url: &str) -> CrawlRunEnd {
    let (url, error) = match err {
        CrawlError::StartUnreadable { url, reason } => (url.clone(), reason.clone()),
        other => (url.to_owned(), other.to_string()),
    };
    CrawlRunEnd {
        finished_at: Utc::now(),
        status: RunStatus::Failed,
        catalogs: 0,
        granules_added: 0,
        granules_removed: 0,
        failed: 1,
        errors: vec![RunError { url, error }],
    }
}
