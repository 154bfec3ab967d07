//! Ingest and lookup figures of the Postgres backend.
//!
//! `cargo bench -p threddex-store-postgres --bench ingest` (Postgres from
//! `THREDDEX_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`; env
//! `TEMPLATE=1`: the collection has a name template, so IDs and urlPaths are not stored).
//!
//! 1. writes `THREDDEX_BENCH_GRANULES` (default 1 000 000) granules of one collection, 10-minute
//!    intervals listed in daily catalogs, in batches of 5 000 through `CrawlState::write_batch`
//!    into a fresh database, and prints granules/s;
//! 2. re-writes the first 100 batches unchanged (a re-crawl) and prints granules/s;
//! 3. times 1 000 one-day `list_granules` lookups at random days of that collection and
//!    prints p50 / p99 / max latency.

use std::time::{Duration, Instant};
use threddex_store::prelude::*;

use chrono::{DateTime, TimeDelta};
use threddex_store::{
    Batch, CatalogState, CatalogStatus, CollectionUpsert, Granule, GranuleQuery, NewSource,
    Timestamp,
};

#[path = "../tests/it/common/mod.rs"]
mod common;

const BATCH: usize = 5_000;
const STEP_SECS: i64 = 600;
const LOOKUPS: usize = 1_000;

fn epoch() -> Timestamp {
    DateTime::from_timestamp(946_684_800, 0).expect("valid time") // 2000-01-01
}

fn day_url(day: i64) -> String {
    let d = epoch() + TimeDelta::days(day);
    format!(
        "http://127.0.0.1/thredds/catalog/sat/{}/catalog.xml",
        d.format("%Y/%m/%d")
    )
}

/// Batch `b` of the ingest: granules `b*BATCH ..` plus the daily catalogs they are listed in.
fn batch(b: usize, total: usize, source_id: i64) -> Batch {
    let first = b * BATCH;
    let last = ((b + 1) * BATCH).min(total);
    let per_day = 86_400 / STEP_SECS;
    let mut granules = Vec::with_capacity(last - first);
    let mut days = Vec::new();
    for i in first..last {
        let i = i as i64;
        let day = i / per_day;
        if days.last() != Some(&day) {
            days.push(day);
        }
        let start = epoch() + TimeDelta::seconds(i * STEP_SECS);
        let stamp = start.format("%Y%m%dT%H%M%S");
        let name = format!("swath_{stamp}.nc");
        let dir = start.format("%Y/%m/%d");
        granules.push(Granule {
            collection_id: "bench:sat/swath".into(),
            granule_id: format!("sat/{dir}/{name}"),
            url_path: Some(format!("sat/{dir}/{name}")),
            name,
            start: Some(start),
            end: Some(start + TimeDelta::seconds(STEP_SECS)),
            size: Some(1_234_567 + i),
            modified: Some(start + TimeDelta::hours(3)),
            catalog_url: day_url(day),
        });
    }
    let catalogs = days
        .iter()
        .map(|&d| CatalogState {
            status: CatalogStatus::Ok,
            last_fetch: Some(epoch()),
            ..CatalogState::pending(day_url(d), source_id, None, 3)
        })
        .collect();
    Batch {
        catalogs,
        collections: if b == 0 {
            vec![CollectionUpsert {
                id: "bench:sat/swath".into(),
                source_id,
                title: "Bench swaths".into(),
                // TEMPLATE=1: the collection has the name template the crawler would derive,
                // so IDs and urlPaths are rendered, not stored (migration 0006).
                template: Some(if std::env::var_os("TEMPLATE").is_some_and(|v| v != "0") {
                    threddex_ids::Deriver::new()
                        .derive("sat/2000/01/01/swath_20000101T000000.nc", "")
                        .template
                        .expect("a template")
                } else {
                    "swath_{time}.nc".into()
                }),
                catalog_url: day_url(0),
                services: vec![],
                metadata: serde_json::json!({"keywords": [{"value": "bench"}]}),
                summary: Some("Ten-minute swaths for the ingest benchmark.".into()),
                keywords: vec!["bench".into()],
                bbox: None,
            }]
        } else {
            vec![]
        },
        granules,
        complete_catalogs: vec![],
        delete_catalog_trees: vec![],
        catalog_views: Vec::new(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total: usize = std::env::var("THREDDEX_BENCH_GRANULES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let url = common::fresh_database_url().await;
    println!("database: {url}");
    // Dropped at the end unless THREDDEX_BENCH_KEEP is set (for poking at the data).
    let _db = std::env::var_os("THREDDEX_BENCH_KEEP")
        .is_none()
        .then(|| common::DropDatabase(url.rsplit('/').next().unwrap_or_default().to_owned()));
    let store = threddex_store_postgres::PostgresStore::connect(&url)
        .await
        .expect("connect");
    let source = store
        .add_source(&NewSource {
            name: "bench".into(),
            url: "http://127.0.0.1/thredds/catalog.xml".into(),
            ..NewSource::default()
        })
        .await
        .expect("source");

    // 1. ingest (batch construction is excluded from the timing).
    let batches = total.div_ceil(BATCH);
    let mut busy = Duration::ZERO;
    let mut inserted = 0u64;
    for b in 0..batches {
        let batch = batch(b, total, source.id);
        let t0 = Instant::now();
        inserted += store
            .write_batch(&batch)
            .await
            .expect("write")
            .granules_inserted;
        busy += t0.elapsed();
    }
    assert_eq!(inserted, total as u64);
    println!(
        "ingest: {total} granules in {batches} batches of {BATCH}: {:.2} s, {:.0} granules/s",
        busy.as_secs_f64(),
        total as f64 / busy.as_secs_f64()
    );

    // 2. unchanged re-write (a re-crawl of already known listings).
    let again = batches.min(100);
    let mut busy = Duration::ZERO;
    let mut n = 0usize;
    for b in 0..again {
        let batch = batch(b, total, source.id);
        n += batch.granules.len();
        let t0 = Instant::now();
        let out = store.write_batch(&batch).await.expect("rewrite");
        busy += t0.elapsed();
        assert_eq!(out.granules_inserted, 0);
    }
    println!(
        "unchanged re-write: {n} granules: {:.2} s, {:.0} granules/s",
        busy.as_secs_f64(),
        n as f64 / busy.as_secs_f64()
    );

    store
        .refresh_collection_stats(&["bench:sat/swath".to_owned()])
        .await
        .expect("refresh");
    sqlx::query("VACUUM ANALYZE granules")
        .execute(store.pool())
        .await
        .expect("analyze");
    let stats = store.stats().await.expect("stats");
    println!(
        "size: granules table + indexes {:.1} MiB ({:.0} bytes/granule)",
        stats.granule_bytes as f64 / 1_048_576.0,
        stats.granule_bytes as f64 / stats.granules.max(1) as f64
    );

    // 3. one-day lookups at pseudo-random days.
    let days = (total as i64 * STEP_SECS / 86_400).max(1);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut times = Vec::with_capacity(LOOKUPS);
    let mut rows = 0usize;
    for _ in 0..LOOKUPS {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let day = (state % days as u64) as i64;
        let start = epoch() + TimeDelta::days(day);
        let q = GranuleQuery {
            collection_id: "bench:sat/swath".into(),
            start: Some(start),
            end: Some(start + TimeDelta::days(1)),
            after: None,
            limit: 1_000,
        };
        let t0 = Instant::now();
        let found = store.list_granules(&q).await.expect("lookup");
        times.push(t0.elapsed());
        rows += found.len();
    }
    times.sort();
    let plan_q = GranuleQuery {
        collection_id: "bench:sat/swath".into(),
        start: Some(epoch() + TimeDelta::days(days / 2)),
        end: Some(epoch() + TimeDelta::days(days / 2 + 1)),
        after: None,
        limit: 1_000,
    };
    println!(
        "plan:\n{}",
        store.explain_list_granules(&plan_q).await.expect("explain")
    );
    println!(
        "one-day list_granules in a {total}-granule collection ({LOOKUPS} lookups, {:.0} rows \
         each): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        rows as f64 / LOOKUPS as f64,
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
    store.close().await;
}
