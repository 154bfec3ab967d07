//! Refresh on demand: single flight, deadline, decisions; and through the router with a
//! refresher that writes to the store.
#![allow(clippy::unwrap_used)]

use super::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use chrono::Utc;
use common::*;
use threddex_api::{
    ApiConfig, AppState, Freshness, RefreshCoordinator, RefreshError, RefreshReport, Refresher,
};
use threddex_store::{Batch, Store, Timestamp};

/// A refresher that counts calls, sleeps, and then succeeds or fails.
struct Counting {
    freshness: Freshness,
    sleep: Duration,
    fail: bool,
    panic: bool,
    started: AtomicUsize,
    finished: AtomicUsize,
    freshness_calls: AtomicUsize,
}

impl Counting {
    fn new(freshness: Freshness, sleep: Duration) -> Self {
        Self {
            freshness,
            sleep,
            fail: false,
            panic: false,
            started: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            freshness_calls: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Refresher for Counting {
    async fn freshness(&self, _id: &str) -> Result<Freshness, RefreshError> {
        self.freshness_calls.fetch_add(1, Ordering::SeqCst);
        Ok(self.freshness.clone())
    }

    async fn refresh(&self, _id: &str) -> Result<RefreshReport, RefreshError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.sleep).await;
        assert!(!self.panic, "refresher panicked on purpose");
        self.finished.fetch_add(1, Ordering::SeqCst);
        if self.fail {
            return Err(RefreshError::Fetch("server said 500".into()));
        }
        Ok(RefreshReport {
            catalogs_read: 1,
            granules_added: 1,
            granules_removed: 0,
            indexed_through: Some(day(30)),
        })
    }
}

fn behind() -> Freshness {
    Freshness {
        has_live_nodes: true,
        indexed_through: Some(day(10)),
        last_sync: Some(day(9)),
    }
}

fn coordinator(r: &Arc<Counting>, min_interval: Duration) -> RefreshCoordinator {
    RefreshCoordinator::new(
        r.clone(),
        Duration::from_secs(3),
        min_interval,
        Duration::from_secs(120),
    )
}

async fn wait_idle(c: &RefreshCoordinator, id: &str) {
    for _ in 0..10_000 {
        if !c.in_flight(id) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("refresh never ended");
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_share_one_refresh() {
    let r = Arc::new(Counting::new(behind(), Duration::from_millis(500)));
    let c = coordinator(&r, Duration::from_secs(60));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.ensure_fresh("c1", Some(day(20))).await })
        })
        .collect();
    for t in tasks {
        let out = t.await.unwrap();
        assert!(out.refreshed && !out.stale, "{out:?}");
        assert_eq!(out.indexed_through, Some(day(30)));
    }
    assert_eq!(r.started.load(Ordering::SeqCst), 1);
    assert!(!c.in_flight("c1"));
    // Within the minimum interval: no second refresh.
    let out = c.ensure_fresh("c1", Some(day(25))).await;
    assert_eq!(r.started.load(Ordering::SeqCst), 1);
    assert!(!out.stale);
    // Another collection gets its own refresh.
    c.ensure_fresh("c2", Some(day(25))).await;
    assert_eq!(r.started.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn slow_refresh_answers_stale_and_completes_in_background() {
    let r = Arc::new(Counting::new(behind(), Duration::from_secs(10)));
    let c = coordinator(&r, Duration::from_secs(60));
    let out = c.ensure_fresh("c1", Some(day(20))).await;
    assert!(!out.refreshed);
    assert!(out.stale);
    assert_eq!(out.indexed_through, Some(day(10)));
    assert!(c.in_flight("c1"), "the refresh keeps running");
    assert_eq!(r.finished.load(Ordering::SeqCst), 0);
    // A request arriving meanwhile joins the running refresh instead of starting one.
    let joined = c.ensure_fresh("c1", Some(day(20))).await;
    assert!(joined.stale);
    wait_idle(&c, "c1").await;
    assert_eq!(r.started.load(Ordering::SeqCst), 1);
    assert_eq!(r.finished.load(Ordering::SeqCst), 1);
    let last = c.last_attempt("c1").unwrap();
    assert!(last.ok);
    assert_eq!(last.indexed_through, Some(day(30)));
}

#[tokio::test(start_paused = true)]
async fn no_refresh_when_not_needed() {
    // The window ended before the last sync.
    let r = Arc::new(Counting::new(behind(), Duration::ZERO));
    let c = coordinator(&r, Duration::ZERO);
    let out = c.ensure_fresh("c1", Some(day(9))).await;
    assert!(!out.refreshed && !out.stale);
    // The index already covers the window.
    c.ensure_fresh("c1", Some(day(10))).await;
    assert_eq!(r.started.load(Ordering::SeqCst), 0);
    // No live nodes: never.
    let archival = Arc::new(Counting::new(
        Freshness {
            has_live_nodes: false,
            ..behind()
        },
        Duration::ZERO,
    ));
    let c = coordinator(&archival, Duration::ZERO);
    let out = c.ensure_fresh("c1", None).await;
    assert!(!out.refreshed && !out.stale);
    assert_eq!(archival.started.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn freshness_is_cached_until_a_refresh_ends() {
    let r = Arc::new(Counting::new(behind(), Duration::from_millis(10)));
    let c = coordinator(&r, Duration::ZERO).with_freshness_cache(Duration::from_secs(60));
    for _ in 0..3 {
        c.ensure_fresh("c1", Some(day(5))).await;
    }
    assert_eq!(r.freshness_calls.load(Ordering::SeqCst), 1);
    c.ensure_fresh("c2", Some(day(5))).await;
    assert_eq!(r.freshness_calls.load(Ordering::SeqCst), 2);
    let out = c.ensure_fresh("c1", Some(day(20))).await;
    assert!(out.refreshed);
    assert_eq!(r.freshness_calls.load(Ordering::SeqCst), 2);
    c.ensure_fresh("c1", Some(day(5))).await;
    assert_eq!(
        r.freshness_calls.load(Ordering::SeqCst),
        3,
        "a finished refresh drops the cached freshness"
    );
    // Without the cache, every request asks.
    let c = coordinator(&r, Duration::ZERO);
    c.ensure_fresh("c1", Some(day(5))).await;
    c.ensure_fresh("c1", Some(day(5))).await;
    assert_eq!(r.freshness_calls.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn failures_are_stale_and_throttled() {
    let mut failing = Counting::new(behind(), Duration::from_millis(10));
    failing.fail = true;
    let r = Arc::new(failing);
    let c = coordinator(&r, Duration::from_secs(60));
    let out = c.ensure_fresh("c1", Some(day(20))).await;
    assert!(!out.refreshed && out.stale);
    // Within the interval after a failure: no new attempt, still stale.
    let out = c.ensure_fresh("c1", Some(day(20))).await;
    assert!(out.stale);
    assert_eq!(r.started.load(Ordering::SeqCst), 1);
    assert!(!c.last_attempt("c1").unwrap().ok);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_refresh_does_not_wedge_the_collection() {
    let mut p = Counting::new(behind(), Duration::from_millis(10));
    p.panic = true;
    let r = Arc::new(p);
    let c = coordinator(&r, Duration::ZERO);
    let out = c.ensure_fresh("c1", Some(day(20))).await;
    assert!(out.stale && !out.refreshed);
    wait_idle(&c, "c1").await;
    assert!(!c.last_attempt("c1").unwrap().ok);
    // Min interval zero: the next request tries again.
    c.ensure_fresh("c1", Some(day(20))).await;
    assert_eq!(r.started.load(Ordering::SeqCst), 2);
}

/// A refresher that adds a new granule to the store, like a crawler re-reading a live catalog.
struct Writing {
    store: Arc<dyn Store>,
    through: std::sync::Mutex<Timestamp>,
    calls: AtomicUsize,
}

#[async_trait]
impl Refresher for Writing {
    async fn freshness(&self, _id: &str) -> Result<Freshness, RefreshError> {
        Ok(Freshness {
            has_live_nodes: true,
            indexed_through: Some(*self.through.lock().unwrap()),
            last_sync: Some(day(30)),
        })
    }

    async fn refresh(&self, id: &str) -> Result<RefreshReport, RefreshError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let n = self.calls.load(Ordering::SeqCst);
        self.store
            .write_batch(&Batch {
                granules: vec![granule(id, &format!("new_{n}.nc"), day(31), None)],
                ..Batch::default()
            })
            .await
            .map_err(RefreshError::from)?;
        let now = Utc::now();
        *self.through.lock().unwrap() = now;
        Ok(RefreshReport {
            catalogs_read: 1,
            granules_added: 1,
            granules_removed: 0,
            indexed_through: Some(now),
        })
    }
}

#[tokio::test]
async fn index_refreshes_before_answering_sqlite() {
    index_refreshes_before_answering(Backend::Sqlite).await;
}

#[tokio::test]
async fn index_refreshes_before_answering_postgres() {
    index_refreshes_before_answering(Backend::Postgres).await;
}

async fn index_refreshes_before_answering(backend: Backend) {
    let fx = fixture(backend).await;
    let store = fx.store.clone();
    let refresher = Arc::new(Writing {
        store: store.clone(),
        through: std::sync::Mutex::new(day(30) + chrono::Duration::hours(1)),
        calls: AtomicUsize::new(0),
    });
    let st = AppState::new(store, Some(refresher.clone()), ApiConfig::default());
    let c = enc(DAILY);
    // A window the index holds: no refresh.
    let (status, page) = get_json(
        &st,
        &format!("/index?collection={c}&start=2024-01-29&end=2024-01-30"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (page["refreshed"].clone(), page["stale"].clone()),
        (false.into(), false.into())
    );
    assert_eq!(page["indexed_through"], "2024-01-30T01:00:00Z");
    assert_eq!(refresher.calls.load(Ordering::SeqCst), 0);
    // A window past it: refreshed first, and the new granule is in the answer.
    let (status, page) = get_json(
        &st,
        &format!("/index?collection={c}&start=2024-01-30&end=2024-02-02"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["refreshed"], true, "{page}");
    assert_eq!(page["stale"], false);
    let ids: Vec<&str> = page["granules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sst_20240130.nc", "new_1.nc"]);
    assert_ne!(page["indexed_through"], "2024-01-30T01:00:00Z");
    assert_eq!(refresher.calls.load(Ordering::SeqCst), 1);
    // Asked again right away: the index is now fresh; no second refresh.
    let (_, page) = get_json(
        &st,
        &format!("/index?collection={c}&start=2024-01-30&end=2024-02-02"),
    )
    .await;
    assert_eq!(refresher.calls.load(Ordering::SeqCst), 1);
    assert_eq!(page["stale"], false);
    // CSV carries the status in headers.
    let (_, headers, _) = get(
        &st,
        &format!("/index?collection={c}&format=csv&end=2024-03-01"),
    )
    .await;
    assert_eq!(headers["x-stale"], "false");
    assert!(!headers["x-indexed-through"].to_str().unwrap().is_empty());
    // The metrics saw the refresh.
    let (_, _, body) = get(&st, "/metrics").await;
    let text = String::from_utf8(body).unwrap();
    let ok_line = text
        .lines()
        .find(|l| l.starts_with("threddex_refresh_total{outcome=\"ok\"}"))
        .unwrap();
    let n: f64 = ok_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 1.0, "{ok_line}");
}
