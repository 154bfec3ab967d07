//! Throughput measurements against the simulated TDS (not a test: numbers are printed).
//!
//! ```text
//! cargo run --release -p threddex-crawler --example crawl_bench
//! ```
//!
//! 1. catalogs/s: 20 ms latency per response, concurrency 16, dry run (counting sink);
//! 2. granules/s: no latency, harvest into a temp-file SQLite store (`BENCH_BATCH=n` sets
//!    `batch_granules`, default 2000).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use threddex_crawler::{BatchSink, CrawlConfig, CrawlError, Harvester, Progress, StoreSink};
use threddex_sim::{NexradSpec, SimConfig, SimServer, TreeSpec, catalog_count, granule_count};
use threddex_store::{Batch, BatchOutcome, NewSource, Source, Store};
use threddex_store_sqlite::SqliteStore;

#[derive(Default)]
struct Count(AtomicU64);

#[async_trait]
impl BatchSink for Count {
    async fn write(&self, batch: Batch) -> Result<BatchOutcome, CrawlError> {
        self.0
            .fetch_add(batch.granules.len() as u64, Ordering::Relaxed);
        Ok(BatchOutcome::default())
    }
}

fn fast_cfg(concurrency: usize) -> CrawlConfig {
    CrawlConfig {
        concurrency,
        per_host_in_flight: concurrency,
        rate: f64::INFINITY,
        respect_robots: false,
        ..CrawlConfig::default()
    }
}

fn source(url: &str) -> Source {
    Source {
        id: 1,
        settings: NewSource {
            name: "bench".into(),
            url: url.into(),
            ..NewSource::default()
        },
        created_at: chrono::Utc::now(),
        last_sync_at: None,
        last_success_at: None,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. catalogs per second with 20 ms latency.
    let spec = NexradSpec {
        products: 5,
        stations: 20,
        days: 10,
        files_per_day: 2,
    };
    let tree = TreeSpec::Nexrad(spec.clone());
    let sim = SimServer::start(SimConfig {
        tree: tree.clone(),
        latency: Duration::from_millis(20),
        ..SimConfig::default()
    })
    .await?;
    let root = sim.root_catalog_url();
    let h = Harvester::new(fast_cfg(16))?;
    let sink = Arc::new(Count::default());
    let t = Instant::now();
    let r = h
        .harvest(
            &root,
            &source(&root),
            None,
            sink.clone(),
            Arc::new(Progress::default()),
        )
        .await?;
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(r.catalogs, catalog_count(&tree));
    println!(
        "latency 20 ms, concurrency 16: {} catalogs in {secs:.2} s = {:.0} catalogs/s (max in flight {})",
        r.catalogs,
        r.catalogs as f64 / secs,
        sim.counters().max_in_flight()
    );

    // 2. granules per second into SQLite, no latency.
    let spec = NexradSpec {
        products: 2,
        stations: 5,
        days: 20,
        files_per_day: 288,
    };
    let tree = TreeSpec::Nexrad(spec);
    let sim = SimServer::start(SimConfig {
        tree: tree.clone(),
        ..SimConfig::default()
    })
    .await?;
    let root = sim.root_catalog_url();
    // Parse + build only (counting sink), to separate the crawler's share from the store's.
    let h = Harvester::new(fast_cfg(8))?;
    let t = Instant::now();
    let r = h
        .harvest(
            &root,
            &source(&root),
            None,
            Arc::new(Count::default()),
            Arc::new(Progress::default()),
        )
        .await?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "no latency, dry run: {} granules in {secs:.2} s = {:.0} granules/s",
        r.granules,
        r.granules as f64 / secs
    );
    let dir = tempfile::tempdir()?;
    let db =
        SqliteStore::connect(&format!("sqlite://{}", dir.path().join("b.db").display())).await?;
    let store: Arc<dyn Store> = Arc::new(db);
    let src = store
        .ensure_source(&NewSource {
            name: "bench".into(),
            url: root.clone(),
            ..NewSource::default()
        })
        .await?;
    let mut c = fast_cfg(8);
    if let Some(n) = std::env::var("BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        c.batch_granules = n;
    }
    let h = Harvester::new(c)?;
    let t = Instant::now();
    let r = h
        .harvest(
            &root,
            &src,
            Some(Arc::clone(&store)),
            Arc::new(StoreSink(Arc::clone(&store))),
            Arc::new(Progress::default()),
        )
        .await?;
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(r.granules, granule_count(&tree));
    assert_eq!(r.granules_inserted, r.granules);
    println!(
        "no latency, SQLite: {} granules ({} catalogs) in {secs:.2} s = {:.0} granules/s",
        r.granules,
        r.catalogs,
        r.granules as f64 / secs
    );
    let t = Instant::now();
    let r2 = h
        .harvest(
            &root,
            &src,
            Some(Arc::clone(&store)),
            Arc::new(StoreSink(Arc::clone(&store))),
            Arc::new(Progress::default()),
        )
        .await?;
    println!(
        "re-harvest: {} not modified, {} inserted, {:.3} s",
        r2.not_modified,
        r2.granules_inserted,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
