//! Shared helpers: a simulated TDS, a temp-file SQLite store, a fast test config.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use threddex_crawler::{
    BatchSink, CrawlConfig, CrawlError, HarvestReport, Harvester, Progress, StoreSink,
};
use threddex_sim::{FaultRule, NexradSpec, SimConfig, SimServer, TreeSpec};
use threddex_store::{Batch, BatchOutcome, NewSource, Source, Store};
use threddex_store_sqlite::SqliteStore;

pub fn small() -> NexradSpec {
    NexradSpec {
        products: 2,
        stations: 2,
        days: 2,
        files_per_day: 4,
    }
}

pub async fn sim(spec: NexradSpec, faults: Vec<FaultRule>) -> SimServer {
    sim_with(SimConfig {
        tree: TreeSpec::Nexrad(spec),
        faults,
        ..SimConfig::default()
    })
    .await
}

pub async fn sim_with(cfg: SimConfig) -> SimServer {
    SimServer::start(cfg).await.expect("sim starts")
}

/// A config for tests: robots off (the sim serves none unless asked), fast retries, no
/// rate limit to speak of.
pub fn cfg() -> CrawlConfig {
    CrawlConfig {
        concurrency: 8,
        rate: 10_000.0,
        per_host_in_flight: 8,
        respect_robots: false,
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(20),
        backoff_base: Duration::from_millis(10),
        max_retries: 3,
        ..CrawlConfig::default()
    }
}

pub struct Db {
    pub _dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub source: Source,
}

pub async fn db(url: &str) -> Db {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("sqlite");
    let store: Arc<dyn Store> = Arc::new(store);
    let source = store
        .ensure_source(&NewSource {
            name: "sim".into(),
            url: url.into(),
            ..NewSource::default()
        })
        .await
        .expect("source");
    Db {
        _dir: dir,
        store,
        source,
    }
}

pub async fn harvest_into(
    cfg: CrawlConfig,
    url: &str,
    db: &Db,
) -> Result<HarvestReport, CrawlError> {
    let h = Harvester::new(cfg)?;
    h.harvest(
        url,
        &db.source,
        Some(Arc::clone(&db.store)),
        Arc::new(StoreSink(Arc::clone(&db.store))),
        Arc::new(Progress::default()),
    )
    .await
}

/// Harvest `url` into a fresh store.
pub async fn harvest(cfg: CrawlConfig, url: &str) -> (Db, Result<HarvestReport, CrawlError>) {
    let d = db(url).await;
    let r = harvest_into(cfg, url, &d).await;
    (d, r)
}

/// A sink that keeps every batch (dry runs).
#[derive(Default)]
pub struct Collect(pub Mutex<Vec<Batch>>);

#[async_trait]
impl BatchSink for Collect {
    async fn write(&self, batch: Batch) -> Result<BatchOutcome, CrawlError> {
        let n = batch.granules.len() as u64;
        self.0.lock().expect("lock").push(batch);
        Ok(BatchOutcome {
            granules_inserted: n,
            ..BatchOutcome::default()
        })
    }
}

pub fn dummy_source(url: &str) -> Source {
    Source {
        id: 1,
        settings: NewSource {
            name: "dry".into(),
            url: url.into(),
            ..NewSource::default()
        },
        created_at: chrono::Utc::now(),
        last_sync_at: None,
        last_success_at: None,
    }
}

pub fn cat_url(sim: &SimServer, rest: &str) -> String {
    format!("{}/thredds/catalog/nexrad/level3/{rest}", sim.base_url())
}

pub fn path(rest: &str) -> String {
    format!("/thredds/catalog/nexrad/level3/{rest}")
}

/// The real catalogs captured from thredds.ucar.edu (`../shared/fixtures/real/siphon`). Missing
/// fixtures skip the test locally and fail it under `CI=true`.
pub fn real_fixtures() -> Option<std::path::PathBuf> {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/real/siphon");
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("fixtures missing at {} (CI=true)", p.display());
    }
    println!("note: {} missing; test skipped", p.display());
    None
}

/// The catalog files below `dir`, sorted (capture side files, named with `__`, left out).
pub fn xml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<std::path::PathBuf> =
        rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            xml_files(&p, out);
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".xml") && !n.contains("__"))
        {
            out.push(p);
        }
    }
}
