//! Storage measurement: bytes stored by threddex (collection rows with their ISO series records +
//! granule rows and indexes, as the database reports through `Maintenance::stats()`) against the
//! naive approach of one ISO record per granule.
//!
//! ```text
//! cargo run --release -p threddex-e2e --example storage_savings
//! # env: MODELS (default 8), RUNS (default 1460 = one year of 6-hourly runs),
//! #      STATIONS (default 10), PRODUCTS (default 4), DAYS (default 7), FILES (default 288),
//! #      POSTGRES_URL (also measure Postgres when set and reachable; `{tree}` in it is replaced
//! #      by `model_runs` / `nexrad`, each must name an empty database)
//! ```
//!
//! Naive size per granule: model runs — the ncISO-like record the simulated TDS serves for that
//! granule (what a per-granule harvester would store), fetched for every granule; NEXRAD (no ISO service) — the size of `granule_record(...)`
//! pretty-printed like ncISO output, computed for every granule.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use threddex_crawler::{CrawlConfig, Harvester, Progress, StoreSink};
use threddex_sim::{ModelSpec, NexradSpec, SimClock, SimConfig, SimServer, TreeSpec, default_time};
use threddex_store::{CollectionQuery, GranuleQuery, NewSource, Store};
use threddex_store_sqlite::SqliteStore;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cfg() -> CrawlConfig {
    CrawlConfig {
        concurrency: 8,
        rate: 100_000.0,
        per_host_in_flight: 8,
        respect_robots: false,
        backoff_base: Duration::from_millis(10),
        ..CrawlConfig::default()
    }
}

struct Figures {
    granules: u64,
    collections: u64,
    stored: u64,
    granule_bytes: u64,
    collection_bytes: u64,
    naive: u64,
}

async fn measure(name: &str, tree: TreeSpec, store: Arc<dyn Store>, pretty: bool) -> Figures {
    let sim = SimServer::start(SimConfig {
        tree,
        clock: SimClock::fixed(default_time()),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let root = sim.root_catalog_url();
    let source = store
        .ensure_source(&NewSource {
            name: name.into(),
            url: root.clone(),
            ..NewSource::default()
        })
        .await
        .expect("source");
    let h = Harvester::new(cfg()).expect("harvester");
    let report = h
        .harvest(
            &root,
            &source,
            Some(Arc::clone(&store)),
            Arc::new(StoreSink(Arc::clone(&store))),
            Arc::new(Progress::default()),
        )
        .await
        .expect("harvest");
    let stats = store.stats().await.expect("stats");
    let client = reqwest::Client::new();
    let mut naive = 0u64;
    let collections = store
        .list_collections(&CollectionQuery::default())
        .await
        .expect("collections");
    for c in &collections {
        let record = c.iso_record.clone().expect("record built");
        let mut after = None;
        loop {
            let page = store
                .list_granules(&GranuleQuery {
                    collection_id: c.info.id.clone(),
                    start: None,
                    end: None,
                    after: after.take(),
                    limit: 5000,
                })
                .await
                .expect("granules");
            let Some(last) = page.last() else { break };
            after = Some((last.start, last.granule_id.clone()));
            for g in &page {
                if let Some(iso) = threddex_records::iso_service(&c.info.services) {
                    // The ncISO record a per-granule harvester would fetch and store.
                    let url = threddex_records::iso_record_url(
                        iso,
                        g.url_path.as_deref().unwrap_or_default(),
                        &g.catalog_url,
                        &g.granule_id,
                    );
                    let resp = client.get(&url).send().await.expect("get");
                    assert!(resp.status().is_success(), "{url}");
                    naive += resp.bytes().await.expect("body").len() as u64;
                } else {
                    let gr = threddex_records::granule_record(&record, g, &c.info.services)
                        .expect("granule record");
                    let gr = if pretty {
                        threddex_records::pretty(&gr).expect("pretty")
                    } else {
                        gr
                    };
                    naive += gr.len() as u64;
                }
            }
        }
    }
    let stored = stats.collection_bytes + stats.granule_bytes;
    println!(
        "{name}: {} granules in {} collections ({} ISO fetches): stored {} B (collections+records {} B, granules {} B = {:.1} B/granule) vs naive {} B ({:.1} B/granule): saving {:.3}%",
        stats.granules,
        stats.collections,
        report.records.iso_fetches,
        stored,
        stats.collection_bytes,
        stats.granule_bytes,
        stats.granule_bytes as f64 / stats.granules.max(1) as f64,
        naive,
        naive as f64 / stats.granules.max(1) as f64,
        100.0 * (1.0 - stored as f64 / naive.max(1) as f64)
    );
    sim.shutdown().await;
    Figures {
        granules: stats.granules,
        collections: stats.collections,
        stored,
        granule_bytes: stats.granule_bytes,
        collection_bytes: stats.collection_bytes,
        naive,
    }
}

async fn sqlite(dir: &tempfile::TempDir, name: &str) -> Arc<dyn Store> {
    let path = dir.path().join(format!("{name}.db"));
    Arc::new(
        SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("sqlite"),
    )
}

#[tokio::main]
async fn main() {
    let models = TreeSpec::ModelRuns(ModelSpec {
        models: env("MODELS", 8),
        runs: env("RUNS", 1460),
    });
    let nexrad = TreeSpec::Nexrad(NexradSpec {
        products: env("PRODUCTS", 4),
        stations: env("STATIONS", 10),
        days: env("DAYS", 7),
        files_per_day: env("FILES", 288),
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut total = (0u64, 0u64);
    for (name, tree, pretty) in [("model-runs", models, false), ("nexrad", nexrad, true)] {
        let store = sqlite(&dir, name).await;
        let f = measure(&format!("sqlite {name}"), tree.clone(), store, pretty).await;
        let _ = (
            f.granules,
            f.collections,
            f.granule_bytes,
            f.collection_bytes,
        );
        total.0 += f.stored;
        total.1 += f.naive;
        if let Ok(url) = std::env::var("POSTGRES_URL") {
            // One (empty) database per tree: `{tree}` in the URL is replaced by the tree name.
            let url = url.replace("{tree}", &name.replace('-', "_"));
            match threddex_store_postgres::PostgresStore::connect(&url).await {
                Ok(pg) => {
                    let _ = measure(&format!("postgres {name}"), tree, Arc::new(pg), pretty).await;
                }
                Err(e) => println!("postgres not measured: {e}"),
            }
        }
    }
    println!(
        "sqlite both trees: stored {} B vs naive {} B: saving {:.3}%",
        total.0,
        total.1,
        100.0 * (1.0 - total.0 as f64 / total.1.max(1) as f64)
    );
}
