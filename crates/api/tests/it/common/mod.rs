//! Shared fixture: an in-memory SQLite store with two collections.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use chrono::{DateTime, Duration, TimeZone, Utc};
use threddex_api::{ApiConfig, AppState, Refresher, router};
use threddex_store::{
    AccessService, BBox, Batch, CatalogViews, CollectionUpsert, Granule, NewSource, Store, View,
    ViewAccess, ViewKind,
};
use threddex_store_postgres::PostgresStore;
use threddex_store_postgres::testdb::{DropDatabase, fresh_database};
use threddex_store_sqlite::SqliteStore;
use tower::ServiceExt;

/// The collection with daily granules (its ID has '/' and ':').
pub const DAILY: &str = "test:sst/daily";
/// A second, small collection.
pub const OTHER: &str = "test:wind/hourly";
/// Daily granules in `DAILY` (Jan 1..=30, 2024) plus the long one and the odd one.
pub const DAILY_COUNT: usize = 32;

pub fn day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, d, 0, 0, 0).unwrap()
}

pub fn services() -> Vec<AccessService> {
    vec![
        AccessService {
            name: "all".into(),
            service_type: "Compound".into(),
            base: String::new(),
            suffix: String::new(),
        },
        AccessService {
            name: "odap".into(),
            service_type: "OpenDAP".into(),
            base: "http://127.0.0.1:9/thredds/dodsC/".into(),
            suffix: String::new(),
        },
        AccessService {
            name: "http".into(),
            service_type: "HTTPServer".into(),
            base: "http://127.0.0.1:9/thredds/fileServer/".into(),
            suffix: String::new(),
        },
    ]
}

pub fn granule(
    collection: &str,
    id: &str,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
) -> Granule {
    Granule {
        collection_id: collection.into(),
        granule_id: id.into(),
        name: id.rsplit('/').next().unwrap().into(),
        start: Some(start),
        end,
        url_path: Some(format!("sst/{id}")),
        size: Some(1000),
        modified: None,
        catalog_url: "http://127.0.0.1:9/thredds/catalog/sst/catalog.xml".into(),
    }
}

/// The store backends the suite runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// In-memory SQLite.
    Sqlite,
    /// A fresh database on the Postgres named by `THREDDEX_TEST_POSTGRES_URL` (default
    /// `postgres://postgres@127.0.0.1:5432/test`); required, never skipped.
    Postgres,
}

/// A filled store of one backend; a Postgres database is dropped with it.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    sqlite: Option<Arc<SqliteStore>>,
    postgres: Option<Arc<PostgresStore>>,
    _guard: Option<DropDatabase>,
}

impl Fixture {
    /// Close the store's connections (to simulate an unreachable database).
    pub async fn close(&self) {
        if let Some(s) = &self.sqlite {
            s.close().await;
        }
        if let Some(p) = &self.postgres {
            p.close().await;
        }
    }
}

/// A filled store of `backend`.
pub async fn fixture(backend: Backend) -> Fixture {
    match backend {
        Backend::Sqlite => {
            let s = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
            fill(s.as_ref()).await;
            Fixture {
                store: s.clone(),
                sqlite: Some(s),
                postgres: None,
                _guard: None,
            }
        }
        Backend::Postgres => {
            let (url, guard) = fresh_database().await;
            let p = Arc::new(
                PostgresStore::connect(&url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot open {url}: {e}")),
            );
            fill(p.as_ref()).await;
            Fixture {
                store: p.clone(),
                sqlite: None,
                postgres: Some(p),
                _guard: Some(guard),
            }
        }
    }
}

/// An in-memory SQLite store holding the fixture collections.
pub async fn store() -> Arc<dyn Store> {
    fixture(Backend::Sqlite).await.store
}

/// Write the fixture collections and granules.
pub async fn fill(store: &dyn Store) {
    let source = store
        .add_source(&NewSource {
            name: "local".into(),
            url: "http://127.0.0.1:9/thredds/catalog.xml".into(),
            ..NewSource::default()
        })
        .await
        .unwrap();
    let collection = |id: &str, title: &str, bbox: BBox| CollectionUpsert {
        id: id.into(),
        source_id: source.id,
        title: title.into(),
        template: None,
        catalog_url: "http://127.0.0.1:9/thredds/catalog/sst/catalog.xml".into(),
        services: services(),
        metadata: serde_json::json!({}),
        summary: Some(format!("{title} summary")),
        keywords: vec!["ocean".into()],
        bbox: Some(bbox),
    };
    let pacific = BBox {
        west: 170.0,
        south: -10.0,
        east: -170.0,
        north: 10.0,
    };
    let north_sea = BBox {
        west: 0.0,
        south: 50.0,
        east: 10.0,
        north: 60.0,
    };
    let mut granules: Vec<Granule> = (1..=30)
        .map(|d| {
            granule(
                DAILY,
                &format!("sst_202401{d:02}.nc"),
                day(d),
                Some(day(d) + Duration::hours(23)),
            )
        })
        .collect();
    // A long granule spanning Dec 25 .. Jan 10.
    granules.push(granule(
        DAILY,
        "sst_long.nc",
        day(1) - Duration::days(7),
        Some(day(10)),
    ));
    // A granule whose ID needs CSV quoting, sharing a start time with another one.
    let mut odd = granule(DAILY, "odd,\"name\".nc", day(5), None);
    odd.url_path = Some("sst/odd.nc".into());
    granules.push(odd);
    granules.push(granule(OTHER, "wind_1.nc", day(2), None));
    store
        .write_batch(&Batch {
            collections: vec![
                collection(DAILY, "Sea surface temperature, daily", pacific),
                collection(OTHER, "Wind, hourly", north_sea),
            ],
            granules,
            ..Batch::default()
        })
        .await
        .unwrap();
    store
        .refresh_collection_stats(&[DAILY.into(), OTHER.into()])
        .await
        .unwrap();
}

/// The catalog listing every fixture granule.
pub const SST_CATALOG: &str = "http://127.0.0.1:9/thredds/catalog/sst/catalog.xml";

/// Record two virtual views (a Best time series and a `latest.xml` resolver) in the catalog
/// of the fixture granules: both fixture collections get them.
pub async fn add_views(store: &dyn Store) -> Vec<View> {
    let views = vec![
        View {
            name: "Best SST Time Series".into(),
            kind: ViewKind::Best,
            id: Some("sst/Best".into()),
            url_path: Some("sst/Best".into()),
            catalog_ref: None,
            access: vec![
                ViewAccess {
                    service: "odap".into(),
                    service_type: "OPENDAP".into(),
                    url: "http://127.0.0.1:9/thredds/dodsC/sst/Best".into(),
                },
                ViewAccess {
                    service: "wms".into(),
                    service_type: "WMS".into(),
                    url: "http://127.0.0.1:9/thredds/wms/sst/Best".into(),
                },
            ],
            start: Some(day(1)),
            end: Some(day(30)),
        },
        View {
            name: "Latest Collection for SST".into(),
            kind: ViewKind::Latest,
            id: Some("latest.xml".into()),
            url_path: Some("latest.xml".into()),
            catalog_ref: None,
            access: vec![ViewAccess {
                service: "latest".into(),
                service_type: "Resolver".into(),
                url: "http://127.0.0.1:9/thredds/catalog/sst/latest.xml".into(),
            }],
            start: None,
            end: None,
        },
    ];
    store
        .write_batch(&Batch {
            catalog_views: vec![CatalogViews {
                catalog_url: SST_CATALOG.into(),
                views: views.clone(),
            }],
            ..Batch::default()
        })
        .await
        .unwrap();
    views
}

pub fn state(store: Arc<dyn Store>, refresher: Option<Arc<dyn Refresher>>) -> AppState {
    AppState::new(store, refresher, ApiConfig::default())
}

/// GET `uri` (already encoded) through the router.
pub async fn get(state: &AppState, uri: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    get_with(state, uri, &[]).await
}

pub async fn get_with(
    state: &AppState,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::builder().uri(uri).header("host", "api.test");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp: Response<Body> = router(state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 16 * 1024 * 1024)
        .await
        .unwrap()
        .to_vec();
    (status, headers, body)
}

/// GET `uri` and only its status (for answers whose body never ends, such as streams).
pub async fn get_status(state: &AppState, uri: &str) -> StatusCode {
    let req = Request::builder().uri(uri).header("host", "api.test");
    router(state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
}

pub async fn get_json(state: &AppState, uri: &str) -> (StatusCode, serde_json::Value) {
    let (status, headers, body) = get(state, uri).await;
    let ct = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "{uri}: content type {ct:?}"
    );
    (status, serde_json::from_slice(&body).unwrap())
}

/// Percent-encode a query value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
