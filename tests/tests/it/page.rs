//! The search page in a real browser: a simulated TDS (with one day folder missing, so the
//! timeline has a gap) harvested into SQLite, the API with its refresher on 127.0.0.1, and
//! `tests/browser/page.mjs` driving Debian's headless Chromium through Playwright
//! (`playwright-core`, installed by `.ci/run` into `tests/browser/node_modules`): search as
//! you type, a box drawn on the map, a time range, a collection, its timeline counts checked
//! against `/index`, the granule list, CSV, one access link followed, keyboard navigation.
//!
//! Needs `node`, `/usr/bin/chromium` (or `THREDDEX_CHROMIUM`) and the npm install; without
//! them the test is skipped, except under `CI=true` where it fails. With
//! `THREDDEX_SCREENSHOTS=DIR` it also saves the screenshots shown in the README
//! (`docs/screenshots`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use threddex_api::{ApiConfig, AppState, CrawlRefresher};
use threddex_crawler::{CrawlConfig, Harvester, Progress, StoreSink, SyncOptions, Syncer};
use threddex_sim::{
    Fault, FaultRule, ModelSpec, NexradSpec, SimClock, SimConfig, SimServer, TreeSpec,
};
use threddex_store::{AccessService, BBox, Batch, CollectionUpsert, Granule, NewSource, Store};
use threddex_store_sqlite::SqliteStore;

/// What the browser test needs, or why it cannot run.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    let chromium = std::env::var_os("THREDDEX_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if !chromium.exists() {
        return Err(format!(
            "{} is missing (apt-get install chromium)",
            chromium.display()
        ));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("node is missing".into());
    }
    if !dir.join("node_modules/playwright-core").exists() {
        return Err(format!(
            "playwright-core is not installed (cd {} && npm ci)",
            dir.display()
        ));
    }
    Ok((dir, chromium))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_page_in_chromium() {
    let (dir, chromium) = match tools() {
        Ok(t) => t,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("the browser test cannot run under CI: {why}")
        }
        Err(why) => {
            eprintln!("skipping the browser test: {why}");
            return;
        }
    };

    // A day folder of station FTG that always fails: a gap in its collections' timelines.
    let today = Utc::now().date_naive();
    let missing = (today - chrono::Duration::days(1)).format("%Y%m%d");
    let sim = SimServer::start(SimConfig {
        tree: TreeSpec::Mixed(vec![
            TreeSpec::Nexrad(NexradSpec {
                products: 2,
                stations: 3,
                days: 4,
                files_per_day: 24,
            }),
            TreeSpec::ModelRuns(ModelSpec { models: 1, runs: 8 }),
        ]),
        clock: SimClock::fixed(today.and_hms_opt(12, 30, 0).unwrap().and_utc()),
        faults: vec![FaultRule::always(
            format!("/N0Q/FTG/{missing}/catalog.xml"),
            Fault::Status(404),
        )],
        ..SimConfig::default()
    })
    .await
    .unwrap();

    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db.path().join("page.db").display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url).await.unwrap());
    let root = sim.root_catalog_url();
    let source = store
        .ensure_source(&NewSource {
            name: "sim".into(),
            url: root.clone(),
            ..NewSource::default()
        })
        .await
        .unwrap();
    let crawl = CrawlConfig {
        concurrency: 4,
        rate: 10_000.0,
        respect_robots: false,
        max_retries: 0,
        read_timeout: Duration::from_secs(20),
        ..CrawlConfig::default()
    };
    let report = Harvester::new(crawl.clone())
        .unwrap()
        .harvest(
            &root,
            &source,
            Some(store.clone()),
            Arc::new(StoreSink(store.clone())),
            Arc::new(Progress::default()),
        )
        .await
        .unwrap();
    assert_eq!(report.failed.len(), 1, "only the missing day fails");
    store
        .mark_source_synced(source.id, Utc::now(), false)
        .await
        .unwrap();
    add_hostile(store.as_ref(), source.id, &root).await;

    let refresher = Arc::new(CrawlRefresher::new(Syncer::new(
        Harvester::new(crawl).unwrap(),
        store.clone(),
        SyncOptions::default(),
    )));
    let state = AppState::new(store.clone(), Some(refresher), ApiConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(threddex_api::serve(listener, state, async {
        let _ = stopped.await;
    }));

    let shots = std::env::var("THREDDEX_SCREENSHOTS").unwrap_or_default();
    let mut cmd = Command::new("node");
    cmd.arg("page.mjs")
        .current_dir(&dir)
        .env("BASE", &base)
        .env("SIM", sim.base_url())
        .env("QUERY", "FTG")
        .env("HOSTILE_TITLE", HOSTILE_TITLE)
        .env("HOSTILE_SUMMARY", HOSTILE_SUMMARY)
        .env("CHROMIUM", &chromium)
        .env("SHOTS", &shots);
    let out = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::task::spawn_blocking(move || cmd.output()),
    )
    .await
    .expect("the browser script finishes within 4 minutes")
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "page.mjs failed:\n{stderr}\n{stdout}");
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no report ({e}): {stdout}"));

    // The followed access link reached the simulated server.
    let followed = report["followed"].as_str().unwrap();
    let path = followed
        .strip_prefix(&sim.base_url())
        .unwrap_or_else(|| panic!("{followed} is not on the simulated server"));
    assert!(
        sim.counters().for_path(path) >= 1,
        "{path} was not requested"
    );
    assert!(report["buckets_checked"].as_u64().unwrap() >= 3);
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for must in [
        "typed query shows what /collections?q= finds",
        "Tab reaches a result link",
        "Enter zooms into the bucket",
        "every access link points at the simulated server",
        "markup from the index is shown as text",
        "a javascript: access URL is not a link",
        "virtual views listed with their access links",
    ] {
        assert!(steps.contains(&must), "{must} not checked: {steps:?}");
    }

    // The commands the page offers reproduce its views.
    let commands = |view: &str| -> Vec<String> {
        report["commands"][view]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    };
    let id = report["collection"].as_str().unwrap().to_owned();
    let granules = report["granules"].as_u64().unwrap();
    let (search, collection) = (commands("search"), commands("collection"));
    assert!(search[0].starts_with(&format!("curl '{base}/collections?q=FTG")));
    assert!(collection[0].starts_with(&format!("curl '{base}/index?collection=")));
    if let Some(py) = python() {
        let run = |code: String| {
            let py = py.clone();
            async move {
                let out = tokio::task::spawn_blocking(move || {
                    Command::new(py).arg("-c").arg(&code).output()
                })
                .await
                .unwrap()
                .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).into_owned()
            }
        };
        // OWSLib over CSW finds the collection the page found.
        let out = run(search[1].clone()).await;
        assert!(out.lines().any(|l| l.starts_with(&id)), "{out}");
        // requests pages through /index: one line per granule of the collection.
        let out = run(collection[3].clone()).await;
        assert_eq!(out.lines().count() as u64, granules, "{out}");
        assert!(out.lines().all(|l| l.contains(&sim.base_url())), "{out}");
        // OWSLib fetches the collection's record.
        let out = run(collection[4].clone()).await;
        assert!(out.starts_with(&id), "{out}");
    }

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// Markup in the text of a collection, as an untrusted catalog may carry it: the page must
/// show it as text.
const HOSTILE_TITLE: &str = "Hostile <img src=x onerror=\"document.title='pwned'\"> title";
const HOSTILE_SUMMARY: &str = "<script>document.title='pwned'</script><b>bold</b> & more";

/// A collection whose title, summary, keywords, service name and granule name hold markup,
/// and whose only access service is a `javascript:` URL.
async fn add_hostile(store: &dyn Store, source_id: i64, catalog: &str) {
    let id = "evil:<b>x</b>/\"quoted\"&amp;";
    store
        .write_batch(&Batch {
            collections: vec![CollectionUpsert {
                id: id.into(),
                source_id,
                title: HOSTILE_TITLE.into(),
                template: None,
                catalog_url: catalog.into(),
                services: vec![AccessService {
                    name: "<i>svc</i>".into(),
                    service_type: "HTTPServer".into(),
                    base: "javascript:alert(1)//".into(),
                    suffix: String::new(),
                }],
                metadata: serde_json::json!({"variables": ["<u>var</u>"]}),
                summary: Some(HOSTILE_SUMMARY.into()),
                keywords: vec!["<b>kw</b>".into()],
                bbox: Some(BBox {
                    west: 150.0,
                    south: -40.0,
                    east: 170.0,
                    north: -30.0,
                }),
            }],
            granules: vec![Granule {
                collection_id: id.into(),
                granule_id: "evil/1.nc".into(),
                name: "<svg onload=alert(1)>.nc".into(),
                url_path: Some("x.nc".into()),
                start: Some(Utc::now() - chrono::Duration::hours(3)),
                end: None,
                size: Some(1),
                modified: None,
                catalog_url: catalog.into(),
            }],
            ..Batch::default()
        })
        .await
        .unwrap();
    store.refresh_collection_stats(&[id.into()]).await.unwrap();
}

/// The Python of `.ci/run` (`$THREDDEX_PYTHON`, else `.venv/bin/python` at the repository
/// root), with OWSLib and requests.
fn py_path() -> PathBuf {
    std::env::var_os("THREDDEX_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
        PathBuf::from,
    )
}

/// [`py_path`] when it has OWSLib and requests; None (the commands are not run) elsewhere
/// than under `CI=true`, where its absence fails the test.
fn python() -> Option<PathBuf> {
    let py = py_path();
    let ok = Command::new(&py)
        .args(["-c", "import owslib, requests"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    let msg = format!("no Python with OWSLib and requests at {}", py.display());
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("not running the page's Python commands: {msg}");
    None
}
