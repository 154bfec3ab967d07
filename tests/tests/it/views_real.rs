//! Virtual views of real GRIB feature collections, end to end on both backends: the captured
//! catalogs (shared/fixtures/real/siphon) are served over HTTP on 127.0.0.1, harvested and
//! synced into SQLite and Postgres, and the views (GFS TDS 5: "Full Collection Dataset" and
//! the `latest.xml` resolver; RAP TDS 4.x: TwoD, Best and `latest.xml`) must be recorded on
//! the collection whose files they aggregate, with their access URLs, never as granules, and
//! show in `/collections/{id}`, in the collection's ISO record (validated) and in CSW full
//! records. A catalog re-read without a view removes it; files arriving under a view catalog
//! link its views. Views are never fetched.
//!
//! Postgres tests use a fresh database on `THREDDEX_TEST_POSTGRES_URL` and fail, never skip,
//! when it is unreachable. The fixtures and the ISO validator are required when `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::Value;
use threddex_api::{ApiConfig, AppState};
use threddex_crawler::{CrawlConfig, Harvester, Progress, StoreSink, SyncOptions, Syncer};
use threddex_store::{
    Collection, CollectionQuery, CollectionView, GranuleQuery, NewSource, Source, Store, ViewKind,
};
use threddex_store_postgres::PostgresStore;
use threddex_store_postgres::testdb::{DropDatabase, fresh_database};
use threddex_store_sqlite::SqliteStore;

const GFS_DIR: &str = "thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana";
const GFS_PATH: &str = "/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana";
const RAP_FILE: &str = "thredds-test.unidata.ucar.edu/thredds/catalog/grib/NCEP/RAP/CONUS_13km/catalog__2015-05-27.xml";
const RAP_PATH: &str = "/thredds/catalog/grib/NCEP/RAP/CONUS_13km";

fn siphon() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/real/siphon");
    if p.is_dir() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "fixtures missing at {} (CI=true)",
        p.display()
    );
    println!("note: {} missing; test skipped", p.display());
    None
}

/// Validates ISO records with `shared/schemas/validate-iso.sh`; panics with its output when
/// one is invalid. Skips (with a note) only when the validator is absent and CI is not set.
fn validate(files: &[PathBuf]) {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/schemas/validate-iso.sh");
    if !script.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} is missing (CI=true)",
            script.display()
        );
        eprintln!("note: {} missing; validation skipped", script.display());
        return;
    }
    let out = Command::new("bash")
        .arg(&script)
        .arg("--auto")
        .args(files)
        .output()
        .expect("run validate-iso.sh");
    assert!(
        out.status.success(),
        "ISO validation failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A loopback HTTP server answering GETs from a path → body table (404 otherwise), which the
/// test can change between runs, and logging every requested path.
#[derive(Clone, Default)]
struct Files {
    bodies: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    requested: Arc<Mutex<Vec<String>>>,
}

impl Files {
    fn put(&self, path: &str, body: Vec<u8>) {
        self.bodies.lock().unwrap().insert(path.to_owned(), body);
    }

    fn requested(&self) -> Vec<String> {
        self.requested.lock().unwrap().clone()
    }
}

async fn answer(State(files): State<Files>, uri: Uri) -> Response {
    files.requested.lock().unwrap().push(uri.to_string());
    match files.bodies.lock().unwrap().get(uri.path()) {
        Some(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/xml")],
            body.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start_server(files: Files) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(answer).with_state(files);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

/// The per-file catalogs of the RAP collection were not captured: this stand-in, written by
/// the test, has the shape of the captured GFS per-file catalogs (one file dataset with its
/// ID, urlPath, services and authority).
fn rap_file_catalog(name: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<catalog xmlns="http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0" name="{name}" version="1.0.1">
  <service name="GridServices" serviceType="Compound" base="">
    <service name="opendap" serviceType="OPENDAP" base="/thredds/dodsC/" />
    <service name="HTTPServer" serviceType="HTTPServer" base="/thredds/fileServer/" />
  </service>
  <dataset name="{name}" ID="grib/NCEP/RAP/CONUS_13km/{name}" urlPath="grib/NCEP/RAP/CONUS_13km/{name}">
    <metadata inherited="true">
      <serviceName>GridServices</serviceName>
      <authority>edu.ucar.unidata</authority>
      <dataType>GRID</dataType>
    </metadata>
  </dataset>
</catalog>
"#
    )
    .into_bytes()
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Keeps the database alive for the test.
#[allow(dead_code)]
enum Guard {
    Dir(tempfile::TempDir),
    Pg(DropDatabase),
}

async fn open(backend: Backend) -> (Arc<dyn Store>, Guard) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("views.db").display());
            (
                Arc::new(SqliteStore::connect(&url).await.unwrap()),
                Guard::Dir(dir),
            )
        }
        Backend::Postgres => {
            let (url, guard) = fresh_database().await;
            let store = PostgresStore::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
            (Arc::new(store), Guard::Pg(guard))
        }
    }
}

fn crawl_config() -> CrawlConfig {
    CrawlConfig {
        concurrency: 8,
        rate: 10_000.0,
        per_host_in_flight: 8,
        respect_robots: false,
        max_retries: 0,
        backoff_base: Duration::from_millis(10),
        read_timeout: Duration::from_secs(20),
        ..CrawlConfig::default()
    }
}

/// A sync whose clock is far ahead, so every catalog that can change is due.
fn syncer(store: &Arc<dyn Store>) -> Syncer {
    let later: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
    Syncer::new(
        Harvester::new(crawl_config()).unwrap(),
        Arc::clone(store),
        SyncOptions {
            clock: Arc::new(move || later),
            ..SyncOptions::default()
        },
    )
}

async fn collections_of(store: &dyn Store, source: &Source) -> Vec<Collection> {
    store
        .list_collections(&CollectionQuery {
            source_id: Some(source.id),
            limit: 0,
            ..CollectionQuery::default()
        })
        .await
        .unwrap()
}

fn kinds(views: &[CollectionView]) -> Vec<(ViewKind, String)> {
    views
        .iter()
        .map(|v| (v.view.kind, v.view.name.clone()))
        .collect()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

struct Api {
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Api {
    async fn start(store: Arc<dyn Store>) -> Self {
        let state = AppState::new(store, None, ApiConfig::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(threddex_api::serve(listener, state, async {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            base,
            client,
            stop: Some(tx),
        }
    }

    async fn text(&self, uri: &str) -> String {
        let resp = self
            .client
            .get(format!("{}{uri}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{uri}");
        resp.text().await.unwrap()
    }

    async fn collection(&self, id: &str) -> Value {
        serde_json::from_str(&self.text(&format!("/collections/{}", enc(id))).await).unwrap()
    }

    async fn csw_full(&self, id: &str) -> String {
        self.text(&format!(
            "/csw?service=CSW&version=2.0.2&request=GetRecordById&ElementSetName=full&id={}",
            enc(id)
        ))
        .await
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The stored ISO record of a collection, validated, with the URLs of its online resources.
async fn record_links(store: &dyn Store, id: &str, dir: &Path, name: &str) -> Vec<String> {
    let c = store.collection(id).await.unwrap().unwrap();
    let xml = c.iso_record.expect("the harvest built the ISO record");
    let path = dir.join(name);
    std::fs::write(&path, &xml).unwrap();
    validate(&[path]);
    threddex_records::summary(&xml)
        .unwrap()
        .links
        .into_iter()
        .map(|l| l.url)
        .collect()
}

async fn views_of_real_grib_catalogs(backend: Backend) {
    let Some(siphon) = siphon() else { return };
    let files = Files::default();
    let gfs_dir = siphon.join(GFS_DIR);
    let gfs_body = std::fs::read(gfs_dir.join("catalog.xml")).unwrap();
    files.put(&format!("{GFS_PATH}/catalog.xml"), gfs_body.clone());
    let mut gfs_files = 0;
    for entry in std::fs::read_dir(&gfs_dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            files.put(
                &format!("{GFS_PATH}/{name}/catalog.xml"),
                std::fs::read(p.join("catalog.xml")).unwrap(),
            );
            gfs_files += 1;
        }
    }
    assert_eq!(gfs_files, 30, "captured GFS per-file catalogs");
    files.put(
        &format!("{RAP_PATH}/catalog.xml"),
        std::fs::read(siphon.join(RAP_FILE)).unwrap(),
    );
    let base = start_server(files.clone()).await;
    let gfs_url = format!("{base}{GFS_PATH}/catalog.xml");
    let rap_url = format!("{base}{RAP_PATH}/catalog.xml");

    let (store, _guard) = open(backend).await;
    let source = |name: &str, url: &str| NewSource {
        name: name.into(),
        url: url.into(),
        ..NewSource::default()
    };
    let gfs_src = store.ensure_source(&source("gfs", &gfs_url)).await.unwrap();
    let rap_src = store.ensure_source(&source("rap", &rap_url)).await.unwrap();
    let harvester = Harvester::new(crawl_config()).unwrap();
    let harvest = |src: Source, url: String| {
        let store = Arc::clone(&store);
        let harvester = harvester.clone();
        async move {
            harvester
                .harvest(
                    &url,
                    &src,
                    Some(Arc::clone(&store)),
                    Arc::new(StoreSink(store)),
                    Arc::new(Progress::default()),
                )
                .await
                .unwrap()
        }
    };

    // ----- GFS (TDS 5): a full collection dataset and a latest.xml resolver -----
    let report = harvest(gfs_src.clone(), gfs_url.clone()).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.granules, 30);
    let colls = collections_of(store.as_ref(), &gfs_src).await;
    assert_eq!(
        colls.len(),
        1,
        "views make no collection of their own: {colls:?}"
    );
    let gfs = colls[0].info.id.clone();
    assert!(gfs.ends_with("/GFS_Global_0p25deg_ana.grib2"), "{gfs}");
    assert_eq!(colls[0].granule_count, 30);
    let granules = store
        .list_granules(&GranuleQuery {
            collection_id: gfs.clone(),
            start: None,
            end: None,
            after: None,
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(granules.len(), 30);
    assert!(
        granules.iter().all(|g| g.name.ends_with(".grib2")
            && g.url_path.as_deref().is_some_and(|p| !p.ends_with("/TP"))),
        "views are not granules"
    );
    let views = store.collection_views(&gfs).await.unwrap();
    assert_eq!(
        kinds(&views),
        [
            (
                ViewKind::FullCollection,
                "Full Collection Dataset".to_owned()
            ),
            (
                ViewKind::Latest,
                "Latest Collection for GFS Quarter Degree Analysis".to_owned()
            ),
        ]
    );
    assert!(views.iter().all(|v| v.catalog_url == gfs_url));
    let tp = &views[0].view;
    let tp_odap = format!("{base}/thredds/dodsC/grib/NCEP/GFS/Global_0p25deg_ana/TP");
    let tp_wms = format!("{base}/thredds/wms/grib/NCEP/GFS/Global_0p25deg_ana/TP");
    let tp_urls: Vec<&str> = tp.access.iter().map(|a| a.url.as_str()).collect();
    assert_eq!(tp.access.len(), 9, "{tp_urls:?}");
    assert!(tp_urls.contains(&tp_odap.as_str()) && tp_urls.contains(&tp_wms.as_str()));
    assert_eq!(
        tp.url_path.as_deref(),
        Some("grib/NCEP/GFS/Global_0p25deg_ana/TP")
    );
    assert_eq!(tp.start, Some("2024-01-01T00:00:00Z".parse().unwrap()));
    assert_eq!(tp.end, Some("2024-01-08T06:00:00Z".parse().unwrap()));
    let latest_url = format!("{base}{GFS_PATH}/latest.xml");
    assert_eq!(views[1].view.access.len(), 1);
    assert_eq!(views[1].view.access[0].service_type, "Resolver");
    assert_eq!(views[1].view.access[0].url, latest_url);

    let dir = tempfile::tempdir().unwrap();
    let links = record_links(store.as_ref(), &gfs, dir.path(), "gfs.xml").await;
    assert!(links.contains(&tp_odap), "{links:?}");
    assert!(links.contains(&latest_url), "{links:?}");

    let api = Api::start(Arc::clone(&store)).await;
    let json = api.collection(&gfs).await;
    let served = json["views"].as_array().unwrap();
    assert_eq!(served.len(), 2, "{json}");
    assert_eq!(served[0]["kind"], "full_collection");
    assert_eq!(served[0]["catalog_url"], gfs_url.as_str());
    assert!(
        served[0]["access"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["service_type"] == "OPENDAP" && a["url"] == tp_odap.as_str()),
        "{json}"
    );
    assert_eq!(served[0]["start"], "2024-01-01T00:00:00Z");
    assert_eq!(served[1]["kind"], "latest");
    assert_eq!(served[1]["access"][0]["url"], latest_url.as_str());
    assert_eq!(json["granule_count"], 30);
    let iso = api.text(&format!("/collections/{}?f=iso", enc(&gfs))).await;
    assert!(
        iso.contains(&tp_odap),
        "the served ISO record lists the views"
    );
    let csw = api.csw_full(&gfs).await;
    assert!(
        csw.contains(&format!(
            "<dct:references scheme=\"OPeNDAP:OPeNDAP\">{tp_odap}</dct:references>"
        )),
        "{csw}"
    );
    assert!(csw.contains(&latest_url), "{csw}");

    // ----- RAP (TDS 4.x): TwoD, Best and latest.xml; the per-file catalogs are absent -----
    let report = harvest(rap_src.clone(), rap_url.clone()).await;
    assert!(report.failed.len() > 100, "per-file catalogs answer 404");
    assert!(report.failed.iter().all(|(_, r)| r.contains("404")));
    assert_eq!(report.granules, 0);
    let rap_views = store.catalog_views(&rap_url).await.unwrap();
    let rap_kinds: Vec<ViewKind> = rap_views.iter().map(|v| v.kind).collect();
    assert_eq!(
        rap_kinds,
        [ViewKind::TwoD, ViewKind::Best, ViewKind::Latest]
    );
    assert!(
        collections_of(store.as_ref(), &rap_src).await.is_empty(),
        "no files yet: the views belong to no collection, and are none"
    );

    // Files arrive under the RAP catalog: their collection gets its views.
    let rap_names = [
        "RR_CONUS_13km_20150426_0000.grib2",
        "RR_CONUS_13km_20150426_0100.grib2",
        "RR_CONUS_13km_20150426_0200.grib2",
    ];
    for n in rap_names {
        files.put(&format!("{RAP_PATH}/{n}/catalog.xml"), rap_file_catalog(n));
    }
    let sync = syncer(&store)
        .sync_source(&rap_src, Arc::new(Progress::default()))
        .await
        .unwrap();
    assert_eq!(sync.harvest.granules, 3, "{sync:?}");
    let colls = collections_of(store.as_ref(), &rap_src).await;
    assert_eq!(colls.len(), 1, "{colls:?}");
    let rap = colls[0].info.id.clone();
    assert!(rap.ends_with("/RR_CONUS_13km.grib2"), "{rap}");
    let views = store.collection_views(&rap).await.unwrap();
    assert_eq!(
        kinds(&views),
        [
            (
                ViewKind::TwoD,
                "Full Collection (Reference / Forecast Time) Dataset".to_owned()
            ),
            (
                ViewKind::Best,
                "Best Rapid Refresh CONUS 13km Time Series".to_owned()
            ),
            (
                ViewKind::Latest,
                "Latest Collection for Rapid Refresh CONUS 13km".to_owned()
            ),
        ]
    );
    let best_odap = format!("{base}/thredds/dodsC/grib/NCEP/RAP/CONUS_13km/Best");
    assert_eq!(views[1].view.access.len(), 8);
    assert_eq!(views[1].view.access[0].url, best_odap);
    assert_eq!(
        views[1].view.end,
        Some("2015-05-27T19:00:00Z".parse().unwrap())
    );
    assert_eq!(
        views[2].view.access[0].url,
        format!("{base}{RAP_PATH}/latest.xml")
    );
    assert!(
        store.collection_views(&gfs).await.unwrap().len() == 2,
        "GFS keeps its own"
    );
    let links = record_links(store.as_ref(), &rap, dir.path(), "rap.xml").await;
    assert!(links.contains(&best_odap), "{links:?}");
    let json = api.collection(&rap).await;
    assert_eq!(json["views"].as_array().unwrap().len(), 3, "{json}");
    assert_eq!(json["views"][1]["kind"], "best");
    assert!(api.csw_full(&rap).await.contains(&best_odap));

    // ----- The GFS catalog is re-read without its latest.xml resolver: the view goes -----
    let text = String::from_utf8(gfs_body).unwrap();
    let start = text.find("<dataset name=\"Latest Collection").unwrap();
    let end = start + text[start..].find("</dataset>").unwrap() + "</dataset>".len();
    let without = format!("{}{}", &text[..start], &text[end..]);
    files.put(&format!("{GFS_PATH}/catalog.xml"), without.into_bytes());
    let sync = syncer(&store)
        .sync_source(&gfs_src, Arc::new(Progress::default()))
        .await
        .unwrap();
    assert!(sync.success, "{sync:?}");
    let views = store.collection_views(&gfs).await.unwrap();
    assert_eq!(
        kinds(&views),
        [(
            ViewKind::FullCollection,
            "Full Collection Dataset".to_owned()
        )]
    );
    assert_eq!(store.catalog_views(&gfs_url).await.unwrap().len(), 1);
    let links = record_links(store.as_ref(), &gfs, dir.path(), "gfs-after.xml").await;
    assert!(links.contains(&tp_odap), "{links:?}");
    assert!(
        !links.contains(&latest_url),
        "the record was rebuilt: {links:?}"
    );
    let json = api.collection(&gfs).await;
    assert_eq!(json["views"].as_array().unwrap().len(), 1, "{json}");
    let csw = api.csw_full(&gfs).await;
    assert!(
        csw.contains(&tp_odap) && !csw.contains(&latest_url),
        "{csw}"
    );
    assert_eq!(store.collection_views(&rap).await.unwrap().len(), 3);

    // Views are recorded from the listing alone: none was ever requested.
    for path in files.requested() {
        assert!(
            !path.contains("latest.xml")
                && !path.ends_with("/TP")
                && !path.ends_with("/Best")
                && !path.ends_with("/TwoD")
                && !path.contains("/dodsC/"),
            "a view was fetched: {path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_of_real_grib_catalogs_sqlite() {
    views_of_real_grib_catalogs(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_of_real_grib_catalogs_postgres() {
    views_of_real_grib_catalogs(Backend::Postgres).await;
}
