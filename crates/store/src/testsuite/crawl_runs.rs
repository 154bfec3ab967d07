//! CrawlRuns: the record of harvest and sync runs.

use super::*;
use crate::{
    CrawlRunEnd, MAX_RUN_ERROR_CHARS, MAX_RUN_ERRORS, NewCrawlRun, RunError, RunKind, RunStatus,
    Store, StoreError,
};

fn start(source_id: i64, kind: RunKind, secs: i64) -> NewCrawlRun {
    NewCrawlRun {
        source_id,
        kind,
        started_at: t(secs),
        holder: Some("host:1:abcd".into()),
    }
}

fn end(status: RunStatus, secs: i64, errors: Vec<RunError>) -> CrawlRunEnd {
    CrawlRunEnd {
        finished_at: t(secs),
        status,
        catalogs: 12,
        granules_added: 340,
        granules_removed: 5,
        failed: errors.len() as u64,
        errors,
    }
}

/// Start, finish and list runs: round trip of every field, newest first, by source, limit,
/// unknown sources and runs.
pub async fn test_crawl_runs(store: &dyn Store) {
    let a = store
        .add_source(&new_source("a", "http://127.0.0.1/a/catalog.xml"))
        .await
        .expect("add a");
    let b = store
        .add_source(&new_source("b", "http://127.0.0.1/b/catalog.xml"))
        .await
        .expect("add b");
    assert!(store.list_runs(None, 10).await.expect("list").is_empty());

    let r1 = store
        .start_run(&start(a.id, RunKind::Harvest, 0))
        .await
        .expect("start 1");
    let running = store.list_runs(Some("a"), 10).await.expect("list");
    assert_eq!(running.len(), 1);
    let run = &running[0];
    assert_eq!(run.id, r1);
    assert_eq!(run.source_id, a.id);
    assert_eq!(run.source, "a");
    assert_eq!(run.kind, RunKind::Harvest);
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.started_at, t(0));
    assert_eq!(run.finished_at, None);
    assert_eq!(run.holder.as_deref(), Some("host:1:abcd"));
    assert_eq!(
        (
            run.catalogs,
            run.granules_added,
            run.granules_removed,
            run.failed
        ),
        (0, 0, 0, 0)
    );
    assert!(run.errors.is_empty());

    let errors = vec![
        RunError {
            url: "http://127.0.0.1/a/x/catalog.xml".into(),
            error: "HTTP 500 Internal Server Error (gave up after 5 attempts)".into(),
        },
        RunError {
            url: "http://127.0.0.1/a/y/catalog.xml".into(),
            error: "invalid catalog: 'quoted' <xml> & \u{e9}t\u{e9}".into(),
        },
    ];
    store
        .finish_run(r1, &end(RunStatus::Partial, 30, errors.clone()))
        .await
        .expect("finish 1");
    let r2 = store
        .start_run(&start(b.id, RunKind::Sync, 40))
        .await
        .expect("start 2");
    let r3 = store
        .start_run(&NewCrawlRun {
            holder: None,
            ..start(a.id, RunKind::Refresh, 50)
        })
        .await
        .expect("start 3");
    assert!(r1 < r2 && r2 < r3, "IDs increase: {r1} {r2} {r3}");
    store
        .finish_run(r3, &end(RunStatus::Ok, 51, Vec::new()))
        .await
        .expect("finish 3");

    let all = store.list_runs(None, 0).await.expect("list all");
    let ids: Vec<i64> = all.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![r3, r2, r1], "newest first");
    assert_eq!(all[1].source, "b");
    assert_eq!(all[1].status, RunStatus::Running);
    assert_eq!(all[0].holder, None);
    assert_eq!(all[0].kind, RunKind::Refresh);
    let first = &all[2];
    assert_eq!(first.status, RunStatus::Partial);
    assert_eq!(first.finished_at, Some(t(30)));
    assert_eq!(first.catalogs, 12);
    assert_eq!(first.granules_added, 340);
    assert_eq!(first.granules_removed, 5);
    assert_eq!(first.failed, 2);
    assert_eq!(first.errors, errors);

    let of_a: Vec<i64> = store
        .list_runs(Some("a"), 0)
        .await
        .expect("list a")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(of_a, vec![r3, r1]);
    assert_eq!(
        store.list_runs(Some("a"), 1).await.expect("limit")[0].id,
        r3
    );
    assert_eq!(store.list_runs(None, 2).await.expect("limit").len(), 2);
    assert!(
        store
            .list_runs(Some("nope"), 10)
            .await
            .expect("unknown source")
            .is_empty()
    );

    // Unknown source / run; `running` is not an end.
    assert!(matches!(
        store
            .start_run(&start(a.id + b.id + 100, RunKind::Sync, 0))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .finish_run(r3 + 100, &end(RunStatus::Ok, 0, Vec::new()))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .finish_run(r2, &end(RunStatus::Running, 0, Vec::new()))
            .await,
        Err(StoreError::Invalid(_))
    ));

    // Runs go with their source.
    assert!(store.remove_source("a").await.expect("remove"));
    let left: Vec<i64> = store
        .list_runs(None, 0)
        .await
        .expect("list")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, vec![r2]);
    assert!(matches!(
        store
            .finish_run(r1, &end(RunStatus::Ok, 0, Vec::new()))
            .await,
        Err(StoreError::NotFound(_))
    ));
}

/// Errors are bounded: the first [`MAX_RUN_ERRORS`], each cut to [`MAX_RUN_ERROR_CHARS`];
/// the failed count is kept as given.
pub async fn test_crawl_run_errors_bounded(store: &dyn Store) {
    let a = store
        .add_source(&new_source("a", "http://127.0.0.1/a/catalog.xml"))
        .await
        .expect("add a");
    let id = store
        .start_run(&start(a.id, RunKind::Sync, 0))
        .await
        .expect("start");
    let long = "\u{e9}".repeat(MAX_RUN_ERROR_CHARS + 50);
    let errors: Vec<RunError> = (0..MAX_RUN_ERRORS + 20)
        .map(|i| RunError {
            url: format!("http://127.0.0.1/a/{i}/catalog.xml"),
            error: if i == 0 {
                long.clone()
            } else {
                format!("HTTP 404 ({i})")
            },
        })
        .collect();
    let mut e = end(RunStatus::Partial, 10, errors);
    e.failed = 5000;
    store.finish_run(id, &e).await.expect("finish");
    let run = store
        .list_runs(Some("a"), 1)
        .await
        .expect("list")
        .pop()
        .expect("one run");
    assert_eq!(run.failed, 5000);
    assert_eq!(run.errors.len(), MAX_RUN_ERRORS);
    assert_eq!(run.errors[0].error.chars().count(), MAX_RUN_ERROR_CHARS);
    assert_eq!(run.errors[1].error, "HTTP 404 (1)");
    assert_eq!(
        run.errors[MAX_RUN_ERRORS - 1].url,
        format!("http://127.0.0.1/a/{}/catalog.xml", MAX_RUN_ERRORS - 1)
    );
}
