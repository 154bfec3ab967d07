//! Timeline benchmark: `GET /collections/{id}/timeline` of a collection of 1,000,000 granules
//! (NEXRAD-like, one file every 5 minutes: 9.5 years), on SQLite and on Postgres.
//!
//! ```text
//! bench/timeline.sh
//! # = cargo run --release -p threddex-e2e --example timeline
//! # env: GRANULES (default 1000000), RUNS (default 50), BACKENDS (default "sqlite postgres"),
//! #      THREDDEX_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test; a fresh
//! #      database is created beside it and dropped after)
//! ```
//!
//! Writes the granules through `CrawlState::write_batch` (20,000 per batch, so the per-day
//! counts are kept by the store's own triggers, as in a harvest), then times, after 3 warm-up
//! calls each: the store call (`GranuleIndex::granule_timeline`) by day and by month over the
//! whole extent and by hour over one week, and the HTTP endpoint by day over the whole extent
//! (real socket on 127.0.0.1, the API as `serve` runs it). Prints min / median / p95 in ms.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use threddex_api::{ApiConfig, AppState};
use threddex_store::{
    AccessService, Batch, CollectionUpsert, Granule, NewSource, Store, TimelineInterval,
    TimelineQuery,
};
use threddex_store_postgres::PostgresStore;
use threddex_store_sqlite::SqliteStore;

const ID: &str = "edu.ucar.unidata:NWS/NEXRAD3/N0Q/FTG/Level3_FTG_N0Q.nids";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2016, 1, 1, 0, 0, 0).unwrap()
}

async fn fill(store: &dyn Store, n: usize) {
    let cat = "http://127.0.0.1:9/thredds/catalog/nexrad/level3/N0Q/FTG/catalog.xml";
    let source = store
        .add_source(&NewSource {
            name: "bench".into(),
            url: "http://127.0.0.1:9/thredds/catalog.xml".into(),
            ..NewSource::default()
        })
        .await
        .unwrap();
    store
        .write_batch(&Batch {
            collections: vec![CollectionUpsert {
                id: ID.into(),
                source_id: source.id,
                title: "Level3 FTG N0Q".into(),
                template: Some(
                    "NWS/NEXRAD3/N0Q/FTG/{yyyyMMdd}/Level3_FTG_N0Q_{yyyyMMdd_HHmm}.nids".into(),
                ),
                catalog_url: cat.into(),
                services: vec![AccessService {
                    name: "odap".into(),
                    service_type: "OPENDAP".into(),
                    base: "http://127.0.0.1:9/thredds/dodsC/".into(),
                    suffix: String::new(),
                }],
                metadata: serde_json::json!({}),
                summary: None,
                keywords: vec![],
                bbox: None,
            }],
            ..Batch::default()
        })
        .await
        .unwrap();
    let t0 = Instant::now();
    let mut written = 0;
    while written < n {
        let chunk = (n - written).min(20_000);
        let granules = (written..written + chunk)
            .map(|i| {
                let t = start() + chrono::Duration::minutes(5 * i as i64);
                let day = t.format("%Y%m%d");
                let name = format!("Level3_FTG_N0Q_{}.nids", t.format("%Y%m%d_%H%M"));
                Granule {
                    collection_id: ID.into(),
                    granule_id: format!("NWS/NEXRAD3/N0Q/FTG/{day}/{name}"),
                    url_path: Some(format!("nexrad/level3/N0Q/FTG/{day}/{name}")),
                    name,
                    start: Some(t),
                    end: None,
                    size: Some(100_000),
                    modified: Some(t),
                    catalog_url: cat.into(),
                }
            })
            .collect();
        store
            .write_batch(&Batch {
                granules,
                ..Batch::default()
            })
            .await
            .unwrap();
        written += chunk;
    }
    store.refresh_collection_stats(&[ID.into()]).await.unwrap();
    eprintln!(
        "  wrote {n} granules in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let p = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    format!(
        "min {:.2} ms, median {:.2} ms, p95 {:.2} ms",
        p(0.0),
        p(0.5),
        p(0.95)
    )
}

async fn time<F, Fut>(runs: usize, mut f: F) -> String
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..3 {
        f().await;
    }
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    summary(ms)
}

async fn bench(backend: &str, store: Arc<dyn Store>, n: usize, runs: usize) {
    eprintln!("{backend}:");
    fill(store.as_ref(), n).await;
    let end = start() + chrono::Duration::minutes(5 * n as i64);
    let query = |interval, s: Option<DateTime<Utc>>, e: Option<DateTime<Utc>>| TimelineQuery {
        collection_id: ID.into(),
        interval,
        start: s,
        end: e,
    };
    let by_day = query(TimelineInterval::Day, Some(start()), Some(end));
    let buckets = store.granule_timeline(&by_day).await.unwrap();
    let total: u64 = buckets.iter().map(|b| b.count).sum();
    assert_eq!(total, n as u64, "the day buckets count every granule");
    let st = store.clone();
    let day = time(runs, || {
        let (st, q) = (st.clone(), by_day.clone());
        async move {
            st.granule_timeline(&q).await.unwrap();
        }
    })
    .await;
    println!(
        "{backend} store day   ({} buckets, {n} granules): {day}",
        buckets.len()
    );
    let by_month = query(TimelineInterval::Month, Some(start()), Some(end));
    let months = store.granule_timeline(&by_month).await.unwrap().len();
    let month = time(runs, || {
        let (st, q) = (st.clone(), by_month.clone());
        async move {
            st.granule_timeline(&q).await.unwrap();
        }
    })
    .await;
    println!("{backend} store month ({months} buckets): {month}");
    let week = start() + chrono::Duration::days(1000);
    let by_hour = query(
        TimelineInterval::Hour,
        Some(week),
        Some(week + chrono::Duration::days(7)),
    );
    let hour = time(runs, || {
        let (st, q) = (st.clone(), by_hour.clone());
        async move {
            st.granule_timeline(&q).await.unwrap();
        }
    })
    .await;
    println!("{backend} store hour  (168 buckets, one week): {hour}");

    // The endpoint over HTTP, as `serve` runs it.
    let state = AppState::new(store.clone(), None, ApiConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(threddex_api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let enc: String = url::form_urlencoded::byte_serialize(ID.as_bytes()).collect();
    let url = format!("{base}/collections/{enc}/timeline?interval=day");
    let http = time(runs, || {
        let (c, u) = (client.clone(), url.clone());
        async move {
            let r = c.get(&u).send().await.unwrap();
            assert!(r.status().is_success());
            r.bytes().await.unwrap();
        }
    })
    .await;
    println!("{backend} HTTP  day   (whole extent, zero-filled): {http}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::main]
async fn main() {
    let n = env("GRANULES", 1_000_000);
    let runs = env("RUNS", 50).max(1);
    let backends = std::env::var("BACKENDS").unwrap_or_else(|_| "sqlite postgres".into());
    for backend in backends.split_whitespace() {
        match backend {
            "sqlite" => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("timeline.db").display());
                let store: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url).await.unwrap());
                bench("sqlite", store, n, runs).await;
            }
            "postgres" => {
                let (url, _guard) = threddex_store_postgres::testdb::fresh_database().await;
                let store: Arc<dyn Store> = Arc::new(PostgresStore::connect(&url).await.unwrap());
                bench("postgres", store, n, runs).await;
            }
            other => panic!("unknown backend {other:?}: sqlite or postgres"),
        }
    }
}
