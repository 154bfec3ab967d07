//! Rounds of the shared frontier: a harvest or sync of one source spread over the workers.
//!
//! A round is opened by the first worker that finds the source due: it takes the source's
//! sync lease (under a holder ID of the round, not of a process: every worker renews it while
//! the round is open), records a crawl run, and queues what a single-process sync would read
//! (due, pending and failed catalogs, never archival ones; the start catalog when it was never
//! stored). It is closed by the worker that finds nothing of the source queued any more: that
//! worker removes orphans and recomputes every statistic when the round deleted anything (as a
//! sync does), builds or re-times the ISO records, marks the source synced, records the end of
//! the run and releases the lease.

use std::collections::HashSet;
use std::sync::Arc;

use threddex_store::{
    Batch, CatalogState, CatalogStatus, ErrorChain, LeaseGrant, LeaseHolder, NewRound, RoundInfo,
    RunKind, Source,
};

use crate::classify::is_due;
use crate::worker::Worker;
use crate::{CrawlError, HarvestReport, MAX_REPORTED_FAILURES, Progress, urls};

fn lease_ttl(w: &Worker) -> std::time::Duration {
    w.sync.lease_ttl.max(std::time::Duration::from_millis(100))
}

/// Open a round of `source` when its lease can be taken; false when another sync or round
/// holds it, or another worker opened the round first.
pub(crate) async fn open(w: &Worker, source: &Source) -> Result<bool, CrawlError> {
    let store = &w.store;
    let holder = format!("round:{}:{:08x}", source.id, rand::random::<u32>());
    let grant = store
        .acquire_lease(
            source.id,
            &LeaseHolder::named(holder.clone()),
            lease_ttl(w),
            &*w.sync.liveness,
        )
        .await?;
    if let LeaseGrant::Busy(info) = grant {
        tracing::debug!(source = %source.settings.name, lease = %info, "source busy; no round opened");
        return Ok(false);
    }
    let root = urls::parse_catalog_url(&source.settings.url)
        .map_err(|reason| CrawlError::StartUnreadable {
            url: source.settings.url.clone(),
            reason,
        })?
        .to_string();
    let now = (w.sync.clock)();
    let known = store.catalogs_of_source(source.id).await?;
    let root_known = known.iter().any(|c| c.url == root);
    let queue: Vec<String> = known
        .iter()
        .filter(|c| is_due(c, now))
        .map(|c| c.url.clone())
        .collect();
    drop(known);
    let new = if root_known {
        Vec::new()
    } else {
        vec![CatalogState::pending(root, source.id, None, 0)]
    };
    let run_id = crate::runs::start(store, source, RunKind::Sync, &holder).await;
    let round = NewRound {
        source_id: source.id,
        lease_holder: holder.clone(),
        run_id,
    };
    if w.frontier.open_round(&round, &queue, &new).await? {
        tracing::info!(source = %source.settings.name, queued = queue.len() + new.len(), "round opened");
        return Ok(true);
    }
    // A round left by workers that all stopped is open already: it continues under its own
    // lease holder.
    let err = CrawlError::Internal("a round of this source is open already".into());
    crate::runs::finish(
        store,
        run_id,
        crate::runs::end_of_error(&err, &source.settings.url),
    )
    .await;
    store.release_lease(source.id, &holder).await?;
    Ok(false)
}

/// Renew the round's lease (or take it back when it expired while no worker ran); a lease
/// another sync took meanwhile is left alone, and the round's catalogs are not claimed until
/// that sync ends.
pub(crate) async fn keep_lease(w: &Worker, round: &RoundInfo) {
    let me = LeaseHolder::named(round.lease_holder.clone());
    match w
        .store
        .try_acquire_lease(round.source_id, &me, lease_ttl(w))
        .await
    {
        Ok(LeaseGrant::Busy(info)) => {
            tracing::info!(source = round.source_id, lease = %info, "another sync holds the lease of an open round; it waits");
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(source = round.source_id, error = %ErrorChain(&e), "cannot renew a round's lease")
        }
    }
}

/// Close the round when nothing of its source is queued, and finish it; false when it goes
/// on (or another worker closed it).
pub(crate) async fn close(
    w: &Worker,
    source: &Source,
    round: &RoundInfo,
) -> Result<bool, CrawlError> {
    let at = (w.sync.clock)();
    let Some(info) = w
        .frontier
        .close_round(source.id, &round.lease_holder, at)
        .await?
    else {
        return Ok(false);
    };
    let store = &w.store;
    let root = urls::parse_catalog_url(&source.settings.url)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| source.settings.url.clone());
    let mut report = HarvestReport {
        catalogs: info.counts.catalogs,
        failed_count: info.counts.failed,
        not_modified: info.counts.not_modified,
        granules: info.counts.granules,
        granules_inserted: info.counts.granules_inserted,
        granules_deleted: info.counts.granules_deleted,
        catalogs_deleted: info.counts.catalogs_deleted,
        requests: info.counts.requests,
        ..HarvestReport::default()
    };
    let result = finish(w, source, &info, &root, &mut report).await;
    let success = match &result {
        Ok(ok) => *ok,
        Err(_) => false,
    };
    let mark = store.mark_source_synced(source.id, at, success).await;
    let end = match &result {
        Ok(_) => crate::runs::end_of(&report, success),
        Err(e) => crate::runs::end_of_error(e, &source.settings.url),
    };
    crate::runs::finish(store, info.run_id, end).await;
    let release = store.release_lease(source.id, &info.lease_holder).await;
    tracing::info!(
        source = %source.settings.name,
        catalogs = report.catalogs,
        failed = report.failed_count,
        inserted = report.granules_inserted,
        deleted = report.granules_deleted,
        success,
        "round closed"
    );
    result?;
    mark?;
    release?;
    Ok(true)
}

/// The end of a round: orphans and statistics after deletions, ISO records, failures; whether
/// the start catalog was read.
async fn finish(
    w: &Worker,
    source: &Source,
    info: &RoundInfo,
    root: &str,
    report: &mut HarvestReport,
) -> Result<bool, CrawlError> {
    let store = &w.store;
    if info.deletions || info.counts.failed > 0 {
        let after = store.catalogs_of_source(source.id).await?;
        let urls: HashSet<&str> = after.iter().map(|c| c.url.as_str()).collect();
        let orphans: Vec<String> = after
            .iter()
            .filter(|c| c.parent_url.as_deref().is_some_and(|p| !urls.contains(p)))
            .map(|c| c.url.clone())
            .collect();
        report.failed = after
            .iter()
            .filter(|c| c.status == CatalogStatus::Failed)
            .take(MAX_REPORTED_FAILURES)
            .map(|c| (c.url.clone(), c.error.clone().unwrap_or_default()))
            .collect();
        drop(after);
        if !orphans.is_empty() {
            let o = store
                .write_batch(&Batch {
                    delete_catalog_trees: orphans,
                    ..Batch::default()
                })
                .await?;
            report.granules_deleted += o.granules_deleted;
            report.catalogs_deleted += o.catalogs_deleted;
        }
    }
    if info.deletions {
        let syncer = w.syncer();
        let ids = syncer.collection_ids_of(source.id).await?;
        for chunk in ids.chunks(500) {
            store.refresh_collection_stats(chunk).await?;
        }
    }
    report.records = w
        .harvester
        .refresh_records(store, Some(source.id), &Arc::new(Progress::default()))
        .await?;
    let root_ok = store
        .catalog(root)
        .await?
        .is_some_and(|c| c.status != CatalogStatus::Failed && c.status != CatalogStatus::Pending);
    Ok(root_ok)
}
