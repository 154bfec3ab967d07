//! The granule-listing connections (no test round trip on release): a listing that completes
//! gives its connection back; one cancelled mid-statement closes it, so the next listing
//! never reads a half-consumed answer; a connection killed on the server side costs one
//! failed listing, not a stuck pool. Postgres is required (`testdb`): these tests panic,
//! never skip.

#![allow(clippy::unwrap_used)]

use super::common;

use std::time::Duration;
use threddex_store::prelude::*;

use common::{CAT, coll, source, t};
use threddex_store::{Batch, Granule, GranuleQuery};
use threddex_store_postgres::{PostgresOptions, PostgresStore, testdb};

/// A store with one collection `c` of `n` half-minute granules, one a minute.
async fn filled(n: i64, pool_size: u32) -> (PostgresStore, testdb::DropDatabase) {
    let (url, guard) = testdb::fresh_database().await;
    let store = PostgresStore::connect_with(&url, PostgresOptions { pool_size })
        .await
        .unwrap();
    let src = source(&store).await;
    let granules = (0..n)
        .map(|i| Granule {
            collection_id: "c".into(),
            granule_id: format!("d/g{i:06}.nc"),
            name: format!("g{i:06}.nc"),
            start: Some(t(i * 60)),
            end: Some(t(i * 60 + 30)),
            url_path: Some(format!("data/d/g{i:06}.nc")),
            size: Some(i),
            modified: None,
            catalog_url: CAT.into(),
        })
        .collect();
    store
        .write_batch(&Batch {
            collections: vec![coll("c", src)],
            granules,
            ..Batch::default()
        })
        .await
        .unwrap();
    (store, guard)
}

fn window(from_min: i64, to_min: i64, limit: u32) -> GranuleQuery {
    GranuleQuery {
        collection_id: "c".into(),
        start: Some(t(from_min * 60)),
        end: Some(t(to_min * 60)),
        limit,
        after: None,
    }
}

/// The sizes (= minute numbers) a listing returned.
async fn minutes(store: &PostgresStore, q: &GranuleQuery) -> Vec<i64> {
    store
        .list_granules(q)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.size.unwrap())
        .collect()
}

#[tokio::test]
async fn completed_listings_reuse_their_connections() {
    let (store, _guard) = filled(500, 3).await;
    assert_eq!(store.idle_read_connections(), 0);
    for round in 0..20 {
        let from = round * 10;
        assert_eq!(
            minutes(&store, &window(from, from + 5, 100)).await,
            (from..from + 5).collect::<Vec<_>>()
        );
    }
    // Sequential listings share one connection.
    assert_eq!(store.idle_read_connections(), 1);

    // Concurrent ones open at most `pool_size` connections, all given back.
    let all = futures::future::join_all((0..12).map(|i| {
        let store = store.clone();
        async move { minutes(&store, &window(i, i + 3, 100)).await }
    }))
    .await;
    for (i, got) in all.into_iter().enumerate() {
        let i = i as i64;
        assert_eq!(got, vec![i, i + 1, i + 2]);
    }
    let idle = store.idle_read_connections();
    assert!((1..=3).contains(&idle), "{idle} idle connections");
    store.close().await;
    assert_eq!(store.idle_read_connections(), 0);
}

#[tokio::test]
async fn cancelled_listings_never_leave_a_connection_mid_answer() {
    // Big answers (several network reads each), cancelled after a few polls at different
    // points; every listing after that must read exactly its own rows.
    let (store, _guard) = filled(20_000, 2).await;
    let big = window(0, 20_000, 10_000);
    let mut cancelled = 0;
    for polls in 1..40 {
        let mut fut = Box::pin(store.list_granules(&big));
        let mut done = false;
        for _ in 0..polls {
            tokio::select! {
                biased;
                r = &mut fut => { r.unwrap(); done = true; break; }
                () = tokio::task::yield_now() => {}
            }
        }
        if !done {
            cancelled += 1;
        }
        drop(fut);
        let from = polls * 7;
        assert_eq!(
            minutes(&store, &window(from, from + 4, 100)).await,
            (from..from + 4).collect::<Vec<_>>(),
            "after cancelling at poll {polls}"
        );
    }
    assert!(cancelled > 0, "no listing was cancelled mid-way");
    // Timed-out listings (the API's request deadline drops futures the same way).
    for ms in [1, 2, 5] {
        let _ = tokio::time::timeout(Duration::from_millis(ms), store.list_granules(&big)).await;
        assert_eq!(minutes(&store, &window(3, 5, 10)).await, vec![3, 4]);
    }
    assert_eq!(minutes(&store, &big).await.len(), 10_000);
}

#[tokio::test]
async fn a_connection_killed_by_the_server_is_replaced() {
    let (store, _guard) = filled(100, 2).await;
    assert_eq!(minutes(&store, &window(0, 2, 10)).await, vec![0, 1]);
    assert_eq!(store.idle_read_connections(), 1);
    // Terminate every other backend of this database (the idle listing connection too).
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(store.pool())
    .await
    .unwrap();
    // The idle connection is dead: at most the first listing fails, then a new one serves.
    let first = store.list_granules(&window(0, 2, 10)).await;
    if let Ok(rows) = first {
        assert_eq!(rows.len(), 2);
    }
    assert_eq!(minutes(&store, &window(5, 8, 10)).await, vec![5, 6, 7]);
    assert_eq!(store.idle_read_connections(), 1);
}

/// The read connections plan each statement once (a generic plan, which prunes the
/// collection's partition when it runs) instead of planning every execution anew, and the
/// listings they run still answer exactly, from the first execution of a statement on a
/// connection to well past the point where Postgres would have chosen between the two.
/// No connection of the store JIT-compiles its statements (over 64 partitions their estimated
/// costs pass `jit_above_cost`, and compiling took seconds where executing took milliseconds).
/// (The read pool's own `plan_cache_mode` beside it: `read_connections_plan_once_…` below.)
#[tokio::test]
async fn store_connections_do_not_jit_compile() {
    let (store, _db) = filled(10, 1).await;
    assert_eq!(store.connection_setting("jit").await.unwrap(), "off");
    assert_eq!(store.read_connection_setting("jit").await.unwrap(), "off");
}

#[tokio::test]
async fn read_connections_plan_once_and_answer_exactly() {
    let (store, _db) = filled(600, 1).await;
    assert_eq!(
        store
            .read_connection_setting("plan_cache_mode")
            .await
            .unwrap(),
        "force_generic_plan"
    );
    for i in 0..20 {
        let from = i * 29;
        let got = minutes(&store, &window(from, from + 10, 100)).await;
        let want: Vec<i64> = (from..from + 10).collect();
        assert_eq!(got, want, "window {i}");
    }
}
