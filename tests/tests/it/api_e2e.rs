//! The search API end to end over real sockets, on SQLite and on Postgres: simulated TDS →
//! harvest → `serve()` with the real crawl refresher → refresh on demand.
//!
//! The simulated server's clock is fixed at 00:30 of the real current UTC day, with one NEXRAD
//! file per hour, so today's folder holds the 00:00 file. Advancing the clock by an hour adds
//! the 01:00 file to the live folder, after the harvest. Postgres tests use a fresh database
//! per test on `THREDDEX_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`)
//! and fail, never skip, when it is unreachable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use threddex_api::{ApiConfig, AppState, CrawlRefresher, Refresher};
use threddex_crawler::{CrawlConfig, Harvester, Progress, StoreSink, SyncOptions, Syncer};
use threddex_sim::{Fault, FaultRule, NexradSpec, SimClock, SimConfig, SimServer, TreeSpec};
use threddex_store::{CollectionQuery, NewSource, Store};
use threddex_store_postgres::PostgresStore;
use threddex_store_postgres::testdb::{DropDatabase, fresh_database};
use threddex_store_sqlite::SqliteStore;

/// Files per day in the simulated tree: one per hour, at HH:00.
const FILES_PER_DAY: usize = 24;

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A running stack: the simulated TDS, a harvested store, the API on a real socket.
struct Stack {
    sim: SimServer,
    state: AppState,
    base: String,
    client: reqwest::Client,
    /// The collection of station FTG (product N0Q).
    collection: String,
    /// The real current UTC day (the sim's "today").
    today: NaiveDate,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _db: DbGuard,
}

/// Keeps the database alive for the test (dropped with the stack).
#[allow(dead_code)]
enum DbGuard {
    Sqlite(tempfile::TempDir),
    Postgres(DropDatabase),
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap().and_utc()
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The refresher `serve` uses: re-reads a collection's live catalogs of registered sources.
fn crawl_refresher(store: Arc<dyn Store>) -> Arc<dyn Refresher> {
    let harvester = Harvester::new(crawl_config()).unwrap();
    Arc::new(CrawlRefresher::new(Syncer::new(
        harvester,
        store,
        SyncOptions::default(),
    )))
}

fn crawl_config() -> CrawlConfig {
    CrawlConfig {
        concurrency: 4,
        rate: 10_000.0,
        per_host_in_flight: 4,
        respect_robots: false,
        read_timeout: Duration::from_secs(20),
        max_retries: 1,
        backoff_base: Duration::from_millis(10),
        ..CrawlConfig::default()
    }
}

/// Settings for the tests: a short minimum interval so a request soon after the harvest may
/// refresh.
fn test_config() -> ApiConfig {
    ApiConfig {
        min_refresh_interval: Duration::from_secs(1),
        ..ApiConfig::default()
    }
}

async fn open(backend: Backend) -> (Arc<dyn Store>, DbGuard) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("api.db").display());
            let store = SqliteStore::connect(&url).await.unwrap();
            (Arc::new(store), DbGuard::Sqlite(dir))
        }
        Backend::Postgres => {
            let (url, guard) = fresh_database().await;
            let store = PostgresStore::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
            (Arc::new(store), DbGuard::Postgres(guard))
        }
    }
}

async fn start(backend: Backend, config: ApiConfig) -> Stack {
    let today = Utc::now().date_naive();
    let sim = SimServer::start(SimConfig {
        tree: TreeSpec::Nexrad(NexradSpec {
            products: 1,
            stations: 2,
            days: 2,
            files_per_day: FILES_PER_DAY,
        }),
        clock: SimClock::fixed(midnight(today) + chrono::Duration::minutes(30)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let (store, db) = open(backend).await;

    // Harvest, as `threddex harvest` does.
    let root = sim.root_catalog_url();
    let source = store
        .ensure_source(&NewSource {
            name: "sim".into(),
            url: root.clone(),
            ..NewSource::default()
        })
        .await
        .unwrap();
    let report = Harvester::new(crawl_config())
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
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    store
        .mark_source_synced(source.id, Utc::now(), true)
        .await
        .unwrap();

    let collection = store
        .list_collections(&CollectionQuery {
            text: Some("FTG".into()),
            limit: 10,
            ..CollectionQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.info.id)
        .find(|id| id.contains("N0Q") && id.contains("FTG"))
        .expect("the FTG collection is indexed");

    let state = AppState::new(store.clone(), Some(crawl_refresher(store)), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(threddex_api::serve(listener, state.clone(), async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    Stack {
        sim,
        state,
        base,
        client,
        collection,
        today,
        stop: Some(tx),
        server: Some(server),
        _db: db,
    }
}

impl Stack {
    /// Path of today's day folder catalog of the FTG station.
    fn today_catalog(&self) -> String {
        format!("/N0Q/FTG/{}/catalog.xml", ymd(self.today))
    }

    /// The ID suffix of the file at `hh`:00 today.
    fn file(&self, hh: u32) -> String {
        let d = ymd(self.today);
        format!("{d}/Level3_FTG_N0Q_{d}_{hh:02}00.nids")
    }

    /// Let the minimum refresh interval pass since the harvest read the live catalogs.
    async fn wait_min_interval(&self) {
        tokio::time::sleep(self.state.config.min_refresh_interval + Duration::from_millis(200))
            .await;
    }

    /// `/index` for today (and tomorrow): a window ending after the last sync.
    fn today_uri(&self) -> String {
        format!(
            "/index?collection={}&start={}&end={}",
            enc(&self.collection),
            rfc(midnight(self.today)),
            rfc(midnight(self.today) + chrono::Duration::days(2))
        )
    }

    async fn get(&self, uri: &str) -> (u16, Value) {
        let resp = self
            .client
            .get(format!("{}{uri}", self.base))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{uri}: {e}: {text}"));
        (status, v)
    }

    async fn wait_refresh_idle(&self) {
        let c = self.state.refresh_coordinator().unwrap();
        let until = Instant::now() + Duration::from_secs(60);
        while c.in_flight(&self.collection) {
            assert!(Instant::now() < until, "the background refresh never ended");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(20), server)
                .await
                .expect("the API stops after the shutdown signal")
                .unwrap()
                .unwrap();
        }
        self.sim.shutdown().await;
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["granules"]
        .as_array()
        .unwrap_or_else(|| panic!("no granules in {page}"))
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect()
}

fn has(page: &Value, suffix: &str) -> bool {
    ids(page).iter().any(|id| id.ends_with(suffix))
}

// ----- scenarios ------------------------------------------------------------------------------

/// A granule added to the live folder after the harvest is returned with `refreshed: true`.
async fn new_granule_is_found_by_a_refresh(backend: Backend) {
    let s = start(backend, test_config()).await;
    let (status, before) = s.get(&s.today_uri()).await;
    assert_eq!(status, 200, "{before}");
    assert!(has(&before, &s.file(0)), "{before}");
    assert!(!has(&before, &s.file(1)));
    let harvested_through = before["indexed_through"].clone();
    // The catalogs' rolling coverage (end=present, 14 days) describes the collection's
    // window, not its files.
    let (status, c) = s.get(&format!("/collections/{}", enc(&s.collection))).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["rolling_window"], "14 days", "{c}");

    s.wait_min_interval().await;
    s.sim.clock().advance(chrono::Duration::hours(1));
    s.sim.counters().reset();
    let (status, page) = s.get(&s.today_uri()).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["refreshed"], true, "{page}");
    assert_eq!(page["stale"], false, "{page}");
    assert!(has(&page, &s.file(1)), "the new granule is listed: {page}");
    assert!(has(&page, &s.file(0)));
    assert_eq!(
        s.sim.counters().matching(&s.today_catalog()),
        1,
        "today's catalog was read once"
    );
    let through: DateTime<Utc> = serde_json::from_value(page["indexed_through"].clone())
        .unwrap_or_else(|e| panic!("indexed_through: {e}: {page}"));
    if let Ok(earlier) = serde_json::from_value::<DateTime<Utc>>(harvested_through) {
        assert!(through > earlier, "{through} after {earlier}");
    }
    // The other station's catalogs were not read: only this collection is refreshed.
    assert_eq!(s.sim.counters().matching("/TLX/"), 0);
    s.stop().await;
}

/// Ten concurrent requests for the same collection cause one refresh.
async fn concurrent_requests_share_one_refresh(backend: Backend) {
    let s = start(backend, test_config()).await;
    s.wait_min_interval().await;
    s.sim.clock().advance(chrono::Duration::hours(1));
    // Keep the refresh in flight long enough for all ten requests to arrive.
    s.sim.set_faults(vec![FaultRule::always(
        s.today_catalog(),
        Fault::Delay(Duration::from_millis(500)),
    )]);
    s.sim.counters().reset();
    let uri = s.today_uri();
    let pages = futures::future::join_all((0..10).map(|_| s.get(&uri))).await;
    for (status, page) in &pages {
        assert_eq!(*status, 200, "{page}");
        assert_eq!(page["refreshed"], true, "{page}");
        assert_eq!(page["stale"], false, "{page}");
        assert!(has(page, &s.file(1)), "{page}");
    }
    assert_eq!(
        s.sim.counters().matching(&s.today_catalog()),
        1,
        "ten requests, one refresh"
    );
    s.stop().await;
}

/// A slow server: the request answers from the index at the deadline with `stale: true`; the
/// refresh finishes in the background and a later request sees the granule.
async fn slow_server_gives_a_stale_answer(backend: Backend) {
    let delay = Duration::from_secs(4);
    let s = start(
        backend,
        ApiConfig {
            refresh_deadline: Duration::from_millis(300),
            ..test_config()
        },
    )
    .await;
    s.wait_min_interval().await;
    s.sim.clock().advance(chrono::Duration::hours(1));
    s.sim.set_faults(vec![FaultRule::always(
        s.today_catalog(),
        Fault::Delay(delay),
    )]);
    let asked = Instant::now();
    let (status, page) = s.get(&s.today_uri()).await;
    let waited = asked.elapsed();
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["stale"], true, "{page}");
    assert_eq!(page["refreshed"], false, "{page}");
    assert!(!has(&page, &s.file(1)), "{page}");
    assert!(has(&page, &s.file(0)), "answered from the index: {page}");
    assert!(
        waited < delay,
        "the answer came at the deadline, not after the slow server ({waited:?})"
    );
    assert!(
        s.state
            .refresh_coordinator()
            .unwrap()
            .in_flight(&s.collection)
    );
    s.wait_refresh_idle().await;
    let last = s
        .state
        .refresh_coordinator()
        .unwrap()
        .last_attempt(&s.collection)
        .unwrap();
    assert!(last.ok, "{last:?}");
    let (status, later) = s.get(&s.today_uri()).await;
    assert_eq!(status, 200, "{later}");
    assert!(
        has(&later, &s.file(1)),
        "the background refresh wrote it: {later}"
    );
    assert_eq!(later["stale"], false, "{later}");
    s.stop().await;
}

/// A window that ended before the last sync causes no request to the server.
async fn archival_window_sends_no_request(backend: Backend) {
    let s = start(backend, test_config()).await;
    s.wait_min_interval().await;
    s.sim.clock().advance(chrono::Duration::hours(1));
    s.sim.counters().reset();
    let yesterday = s.today.pred_opt().unwrap();
    let uri = format!(
        "/index?collection={}&start={}&end={}",
        enc(&s.collection),
        rfc(midnight(yesterday)),
        rfc(midnight(s.today))
    );
    for _ in 0..3 {
        let (status, page) = s.get(&uri).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["refreshed"], false, "{page}");
        assert_eq!(page["stale"], false, "{page}");
        let got = ids(&page);
        assert_eq!(got.len(), FILES_PER_DAY, "{page}");
        assert!(got.iter().all(|id| id.contains(&ymd(yesterday))), "{got:?}");
    }
    assert_eq!(s.sim.counters().total(), 0, "no request reached the server");
    s.stop().await;
}

/// Bad input over the socket: clear 400/404 answers, and nothing sent to the server.
async fn bad_input_is_rejected(backend: Backend) {
    let s = start(backend, test_config()).await;
    s.wait_min_interval().await;
    s.sim.counters().reset();
    let c = enc(&s.collection);
    let sim_catalog = enc(&s.sim.root_catalog_url());
    let cases: Vec<(String, u16, Option<&str>)> = vec![
        ("/index".into(), 400, Some("collection")),
        ("/index?collection=no%3Asuch%2Fthing".into(), 404, None),
        (
            format!("/index?collection={c}&start=2024-13-45"),
            400,
            Some("start"),
        ),
        (
            format!("/index?collection={c}&end=yesterday"),
            400,
            Some("end"),
        ),
        (
            format!("/index?collection={c}&start=2024-01-02&end=2024-01-01"),
            400,
            Some("end"),
        ),
        (
            format!("/index?collection={c}&limit=-1"),
            400,
            Some("limit"),
        ),
        (
            format!("/index?collection={c}&limit=99999999"),
            400,
            Some("limit"),
        ),
        (
            format!("/index?collection={c}&format=xml"),
            400,
            Some("format"),
        ),
        (
            format!("/index?collection={c}&cursor=%00%01"),
            400,
            Some("cursor"),
        ),
        // A catalog URL in the request is never read: it is an unknown parameter.
        (
            format!("/index?collection={c}&catalog={sim_catalog}"),
            400,
            Some("catalog"),
        ),
        (
            format!("/index?collection={c}&url={sim_catalog}"),
            400,
            Some("url"),
        ),
        ("/collections?bbox=1,2,3".into(), 400, Some("bbox")),
        ("/collections?limit=abc".into(), 400, Some("limit")),
    ];
    for (uri, want, parameter) in cases {
        let (status, body) = s.get(&uri).await;
        assert_eq!(status, want, "{uri}: {body}");
        if let Some(p) = parameter {
            assert_eq!(body["error"]["parameter"], p, "{uri}: {body}");
        }
    }
    let resp = s
        .client
        .get(format!("{}/no/such/route", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(s.sim.counters().total(), 0, "bad requests reach no server");
    s.stop().await;
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both_backends!(
    new_granule_is_found_by_a_refresh,
    concurrent_requests_share_one_refresh,
    slow_server_gives_a_stale_answer,
    archival_window_sends_no_request,
    bad_input_is_rejected,
);
