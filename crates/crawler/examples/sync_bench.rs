//! Sync benchmark: a first sync of a generated tree of ≥ 1M granules into an empty
//! store, then a second sync (one sync interval later), on the simulated TDS (loopback).
//!
//! ```text
//! cargo run --release -p threddex-crawler --example sync_bench -- [--db URL] \
//!     [--products 4] [--stations 10] [--days 300] [--files 84] [--at 2024-01-08T12:00:00Z] \
//!     [--advance-min 10]
//! ```
//!
//! The simulated clock starts at `--at` (mid-day by default: today's folder is half full) and
//! moves `--advance-min` minutes (one sync interval) between the two syncs.
//!
//! `--db` defaults to a SQLite file in a temporary directory; give `postgres://…/DB` (an
//! empty database) for Postgres. Prints catalogs fetched, requests, granules and wall time of
//! both syncs, and the ratios.

use std::sync::Arc;
use std::time::{Duration, Instant};

use threddex_crawler::{CrawlConfig, Harvester, Progress, SyncOptions, Syncer};
use threddex_sim::{NexradSpec, SimClock, SimConfig, SimServer, TreeSpec};
use threddex_store::{NewSource, Store};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num(name: &str, default: usize) -> usize {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec = NexradSpec {
        products: num("--products", 4),
        stations: num("--stations", 10),
        days: num("--days", 300),
        files_per_day: num("--files", 84),
    };
    let tree = TreeSpec::Nexrad(spec.clone());
    let server = SimServer::start(SimConfig {
        tree: tree.clone(),
        clock: SimClock::fixed(
            arg("--at")
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map_or_else(
                    || chrono::DateTime::from_timestamp(1_704_715_200, 0).unwrap_or_default(),
                    |t| t.to_utc(),
                ),
        ),
        ..SimConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let db = arg("--db")
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let store: Arc<dyn Store> = if db.starts_with("postgres") {
        Arc::new(threddex_store_postgres::PostgresStore::connect(&db).await?)
    } else {
        Arc::new(threddex_store_sqlite::SqliteStore::connect(&db).await?)
    };
    println!(
        "tree: {spec:?}: {} catalogs, {} granules; backend {}",
        server.catalog_count(),
        server.granule_count(),
        store.backend()
    );
    let source = store
        .ensure_source(&NewSource {
            name: "bench".into(),
            url: server.root_catalog_url(),
            ..NewSource::default()
        })
        .await?;
    let cfg = CrawlConfig {
        concurrency: 8,
        rate: f64::INFINITY,
        per_host_in_flight: 8,
        respect_robots: false,
        iso_records: false,
        ..CrawlConfig::default()
    };
    let clock = server.clock().clone();
    let syncer = Syncer::new(
        Harvester::new(cfg)?,
        Arc::clone(&store),
        SyncOptions {
            clock: Arc::new(move || clock.now()),
            ..SyncOptions::default()
        },
    );

    let t = Instant::now();
    let first = syncer
        .sync_source(&source, Arc::new(Progress::default()))
        .await?;
    let d1 = t.elapsed();
    println!(
        "first sync:  {:>6} catalogs fetched, {:>6} requests, {:>8} granules ({} new), {:.2} s ({:.0} granules/s)",
        first.harvest.catalogs,
        first.harvest.requests,
        first.harvest.granules,
        first.harvest.granules_inserted,
        d1.as_secs_f64(),
        first.harvest.granules as f64 / d1.as_secs_f64().max(1e-9)
    );

    // One sync interval later (10 minutes on the simulated clock by default).
    let advance = i64::try_from(num("--advance-min", 10)).unwrap_or(10);
    server.clock().advance(chrono::Duration::minutes(advance));
    let t = Instant::now();
    let second = syncer
        .sync_source(&source, Arc::new(Progress::default()))
        .await?;
    let d2 = t.elapsed();
    println!(
        "second sync: {:>6} catalogs fetched ({} not modified), {:>6} requests, {:>8} granules ({} new), {:.3} s (plan {:.3} s, walk {:.3} s, collection stats {:.3} s); {} archival catalogs skipped",
        second.harvest.catalogs,
        second.harvest.not_modified,
        second.harvest.requests,
        second.harvest.granules,
        second.harvest.granules_inserted,
        d2.as_secs_f64(),
        second.plan_elapsed.as_secs_f64(),
        second.harvest.walk_elapsed.as_secs_f64(),
        second
            .harvest
            .elapsed
            .saturating_sub(second.harvest.walk_elapsed)
            .as_secs_f64(),
        second.archival
    );
    let known = second.known_catalogs.max(1) as f64;
    println!(
        "second/first: {:.2}% of the catalogs fetched; {:.1}x faster",
        100.0 * second.harvest.catalogs as f64 / known,
        d1.as_secs_f64() / d2.as_secs_f64().max(1e-9)
    );
    let stats = store.stats().await?;
    println!(
        "store: {} catalogs, {} granules (server: {})",
        stats.catalogs,
        stats.granules,
        server.granule_count()
    );
    drop(server);
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
