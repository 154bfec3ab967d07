//! Sync benchmark: a first sync of a generated tree of ≥ 1M granules into an empty
//! store, then a second sync (one sync interval later), on the simulated TDS (loopback).
//!
//! ```text
//! cargo run --release -p threddex-crawler --example sync_bench -- [--db URL] \
//!     [--products 4] [--stations 10] [--days 300] [--files 84] [--at 2024-01-08T12:00:00Z] \
//!     [--advance-min 10] [--no-change] [--concurrency 8] [--pause-s 0]
//! ```
//!
//! The simulated clock starts at `--at` (mid-day by default: today's folder is half full) and
//! moves `--advance-min` minutes (one sync interval) between the two syncs.
//!
//! `--db` defaults to a SQLite file in a temporary directory; give `postgres://…/DB` (an
//! empty database) for Postgres. Prints catalogs fetched, requests, granules and wall time of
//! both syncs, and the ratios.
//!
//! `--no-change`: the second sync is a no-change re-sync. The server's clock stays where it
//! was (its listings do not change) while the syncer's moves `--advance-min` ahead, so the
//! live catalogs are due. The server sends no validators (like a TDS generating its catalogs
//! per request), so each due catalog is read in full (200, never 304, the costly case); its
//! body hash shows it unchanged and nothing is rewritten. Then the fetch floor of the same catalogs (`--concurrency` plain GETs in
//! flight, bodies read, nothing parsed) and the re-sync's time beyond it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
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
    let no_change = std::env::args().any(|a| a == "--no-change");
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
        validators: !no_change,
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
    let concurrency = num("--concurrency", 8);
    let cfg = CrawlConfig {
        concurrency,
        rate: f64::INFINITY,
        per_host_in_flight: concurrency,
        respect_robots: false,
        iso_records: false,
        ..CrawlConfig::default()
    };
    let clock = server.clock().clone();
    // How far the syncer's clock runs ahead of the server's (seconds; `--no-change`).
    let ahead = Arc::new(AtomicI64::new(0));
    let syncer = Syncer::new(
        Harvester::new(cfg)?,
        Arc::clone(&store),
        SyncOptions {
            clock: {
                let ahead = Arc::clone(&ahead);
                Arc::new(move || {
                    clock.now() + chrono::Duration::seconds(ahead.load(Ordering::Relaxed))
                })
            },
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
    // `--pause-s N`: wall-clock seconds between the syncs, as between real syncs (Postgres's
    // autovacuum analyzes the freshly loaded tables meanwhile; the planner needs it).
    tokio::time::sleep(Duration::from_secs(num("--pause-s", 0) as u64)).await;
    if no_change {
        ahead.store(advance * 60, Ordering::Relaxed);
    } else {
        server.clock().advance(chrono::Duration::minutes(advance));
    }
    let resync_at = server.clock().now() + chrono::Duration::seconds(ahead.load(Ordering::Relaxed));
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
    if no_change {
        println!(
            "re-sync: {} catalogs unchanged (not rewritten), {} collections changed, {} granules inserted, {} deleted",
            second.harvest.unchanged,
            second.harvest.changed_collections.len(),
            second.harvest.granules_inserted,
            second.harvest.granules_deleted
        );
        // The catalogs it read (last fetched at the re-sync's clock), read again plainly.
        let urls: Vec<String> = store
            .catalogs_of_source(source.id)
            .await?
            .into_iter()
            .filter(|c| c.last_fetch.is_some_and(|f| f >= resync_at))
            .map(|c| c.url)
            .collect();
        let floor = fetch_floor(&urls, concurrency).await?;
        println!(
            "fetch floor of its {} catalogs: {:.3} s (concurrency {concurrency}); re-sync beyond the floor: {:.3} s",
            urls.len(),
            floor.as_secs_f64(),
            d2.as_secs_f64() - floor.as_secs_f64()
        );
    }
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

/// Wall time of GETting every URL (bodies read, nothing parsed), `concurrency` in flight.
async fn fetch_floor(
    urls: &[String],
    concurrency: usize,
) -> Result<Duration, Box<dyn std::error::Error>> {
    use futures::StreamExt;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let t = Instant::now();
    let sizes: Vec<Result<usize, reqwest::Error>> = futures::stream::iter(urls.iter().cloned())
        .map(|u| {
            let client = client.clone();
            async move { Ok(client.get(u).send().await?.bytes().await?.len()) }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let took = t.elapsed();
    for s in sizes {
        s?;
    }
    Ok(took)
}
