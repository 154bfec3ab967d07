//! The STAC API at `/stac`: paging (GET and POST), windows against `/index`, sorting, errors,
//! refresh on demand, on both backends.
#![allow(clippy::unwrap_used)]

use super::common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use common::*;
use serde_json::{Value, json};
use threddex_api::{
    ApiConfig, AppState, Freshness, RefreshError, RefreshReport, Refresher, router,
};
use threddex_store::{Batch, Store, Timestamp};
use tower::ServiceExt;

const HOST: &str = "http://api.test";

async fn send(st: &AppState, req: Request<Body>) -> (StatusCode, String, Value) {
    let resp = router(st.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(resp.into_body(), 64 * 1024 * 1024)
        .await
        .unwrap();
    (status, ct, serde_json::from_slice(&body).unwrap())
}

pub(crate) async fn stac_get(st: &AppState, uri: &str) -> (StatusCode, Value) {
    let uri = uri.strip_prefix(HOST).unwrap_or(uri);
    let req = Request::builder()
        .uri(uri)
        .header("host", "api.test")
        .body(Body::empty())
        .unwrap();
    let (status, _, v) = send(st, req).await;
    (status, v)
}

pub(crate) async fn stac_post(st: &AppState, uri: &str, body: &Value) -> (StatusCode, Value) {
    let req = Request::builder()
        .method("POST")
        .uri(uri)
        .header("host", "api.test")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, _, v) = send(st, req).await;
    (status, v)
}

fn next_link(page: &Value) -> Option<Value> {
    page["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "next")
        .cloned()
}

fn ids(page: &Value) -> Vec<String> {
    page["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every item of a GET search, following `next` links (and the pages seen).
async fn all_get(st: &AppState, uri: &str) -> (Vec<String>, usize) {
    let (mut out, mut pages, mut uri) = (Vec::new(), 0, uri.to_owned());
    loop {
        let (status, page) = stac_get(st, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {page}");
        pages += 1;
        out.extend(ids(&page));
        match next_link(&page) {
            Some(n) => uri = n["href"].as_str().unwrap().to_owned(),
            None => return (out, pages),
        }
        assert!(pages < 100);
    }
}

/// Every item of a POST search, following `next` links (body merged).
async fn all_post(st: &AppState, body: Value) -> (Vec<String>, usize) {
    let (mut out, mut pages, mut body) = (Vec::new(), 0, body);
    loop {
        let (status, page) = stac_post(st, "/stac/search", &body).await;
        assert_eq!(status, StatusCode::OK, "{body}: {page}");
        pages += 1;
        out.extend(ids(&page));
        let Some(n) = next_link(&page) else {
            return (out, pages);
        };
        assert_eq!(n["method"], "POST");
        assert_eq!(n["merge"], true);
        assert_eq!(n["href"], format!("{HOST}/stac/search"));
        for (k, v) in n["body"].as_object().unwrap() {
            body[k] = v.clone();
        }
        assert!(pages < 100);
    }
}

#[tokio::test]
async fn search_pages_get_and_post_sqlite() {
    search_pages_get_and_post(Backend::Sqlite).await;
}

#[tokio::test]
async fn search_pages_get_and_post_postgres() {
    search_pages_get_and_post(Backend::Postgres).await;
}

async fn search_pages_get_and_post(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    let c = enc(DAILY);
    let (got, pages) = all_get(&st, &format!("/stac/search?collections={c}&limit=5")).await;
    assert_eq!(got.len(), DAILY_COUNT);
    assert_eq!(pages, DAILY_COUNT.div_ceil(5));
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), DAILY_COUNT);
    let (posted, _) = all_post(&st, json!({"collections": [DAILY], "limit": 5})).await;
    assert_eq!(posted, got, "POST pages as GET pages");
    let (status, first) = stac_get(&st, &format!("/stac/search?collections={c}&limit=5")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["numberMatched"], DAILY_COUNT);
    assert_eq!(first["numberReturned"], 5);
    // The collection's items endpoint is the same search.
    let (items, _) = all_get(&st, &format!("/stac/collections/{c}/items?limit=7")).await;
    assert_eq!(items, got);
    // Both collections in time order: ordered, complete.
    let (status, page) = stac_get(
        &st,
        &format!(
            "/stac/search?collections={c},{}&sortby=%2Bproperties.datetime&limit=100",
            enc(OTHER)
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let times: Vec<String> = page["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["datetime"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(times.len(), DAILY_COUNT + 1);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // A window: the items /index lists for the same (closed) window.
    let window = "2024-01-03T00:00:00Z/2024-01-05T00:00:00Z";
    let (stac, _) = all_get(
        &st,
        &format!("/stac/collections/{c}/items?datetime={window}&limit=2"),
    )
    .await;
    let (_, index) = get_json(
        &st,
        &format!("/index?collection={c}&start=2024-01-03&end=2024-01-05T00:00:01Z"),
    )
    .await;
    let listed: BTreeSet<String> = index["granules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stac.iter().cloned().collect::<BTreeSet<_>>(), listed);
    assert_eq!(listed.len(), 5, "Jan 3, 4, 5, the long one and the odd one");
    let (_, counted) = stac_get(
        &st,
        &format!("/stac/collections/{c}/items?datetime={window}&limit=2"),
    )
    .await;
    assert_eq!(counted["numberMatched"], 5, "counted in the index");
    // One item by ID, with a percent-encoded collection and ID.
    let (status, item) = stac_get(
        &st,
        &format!("/stac/collections/{c}/items/{}", enc("sst_20240104.nc")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(item["id"], "sst_20240104.nc");
    assert_eq!(item["properties"]["start_datetime"], "2024-01-04T00:00:00Z");
    assert_eq!(item["properties"]["end_datetime"], "2024-01-04T23:00:00Z");
    assert_eq!(item["geometry"]["type"], "MultiPolygon", "the Pacific box");
    assert_eq!(item["assets"]["data"]["file:size"], 1000);
    // The same ID unencoded in the path (clients that do not encode).
    let (status, same) = stac_get(
        &st,
        "/stac/collections/test:sst/daily/items/sst_20240104.nc",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same, item);
}

#[tokio::test]
async fn landing_conformance_and_collections() {
    let st = state(store().await, None);
    let (status, landing) = stac_get(&st, "/stac").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(landing["type"], "Catalog");
    let rels: Vec<(&str, &str)> = landing["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["rel"].as_str().unwrap(), l["href"].as_str().unwrap()))
        .collect();
    for rel in [
        "self",
        "root",
        "data",
        "conformance",
        "search",
        "service-desc",
        "service-doc",
    ] {
        assert!(rels.iter().any(|(r, _)| *r == rel), "{rel}: {rels:?}");
    }
    let methods: BTreeSet<&str> = landing["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rel"] == "search")
        .map(|l| l["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, BTreeSet::from(["GET", "POST"]));
    let (_, conf) = stac_get(&st, "/stac/conformance").await;
    assert_eq!(conf["conformsTo"], landing["conformsTo"]);
    for c in [
        "core",
        "item-search#filter",
        "item-search#sort",
        "item-search#fields",
    ] {
        let want = format!("https://api.stacspec.org/v1.0.0/{c}");
        assert!(
            conf["conformsTo"]
                .as_array()
                .unwrap()
                .contains(&json!(want)),
            "{want}"
        );
    }
    // Collection search: free text, box, datetime, paging.
    let (_, all) = stac_get(&st, "/stac/collections").await;
    assert_eq!(all["numberMatched"], 2);
    let (_, wind) = stac_get(&st, "/stac/collections?q=wind").await;
    assert_eq!(wind["collections"][0]["id"], OTHER);
    assert_eq!(wind["numberMatched"], 1);
    let (_, boxed) = stac_get(&st, "/stac/collections?bbox=175,-5,179,5").await;
    assert_eq!(boxed["collections"][0]["id"], DAILY);
    assert_eq!(boxed["numberReturned"], 1);
    let (_, none) = stac_get(
        &st,
        "/stac/collections?datetime=2023-01-01T00:00:00Z/2023-02-01T00:00:00Z",
    )
    .await;
    assert_eq!(none["numberReturned"], 0);
    let (_, first) = stac_get(&st, "/stac/collections?limit=1").await;
    let next = next_link(&first).unwrap();
    let (_, second) = stac_get(&st, next["href"].as_str().unwrap()).await;
    assert_eq!(second["collections"].as_array().unwrap().len(), 1);
    assert_ne!(
        second["collections"][0]["id"],
        first["collections"][0]["id"]
    );
    assert!(next_link(&second).is_none());
    // One collection: real extents.
    let (status, c) = stac_get(&st, &format!("/stac/collections/{}", enc(DAILY))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        c["extent"]["spatial"]["bbox"],
        json!([[170.0, -10.0, -170.0, 10.0]])
    );
    assert_eq!(
        c["extent"]["temporal"]["interval"][0][0],
        "2023-12-25T00:00:00Z"
    );
}

#[tokio::test]
async fn errors_name_the_parameter() {
    let st = state(store().await, None);
    let c = enc(DAILY);
    for (uri, parameter) in [
        ("/stac/search?limit=0".to_owned(), "limit"),
        ("/stac/search?limit=ten".to_owned(), "limit"),
        ("/stac/search?bbox=1,2,3".to_owned(), "bbox"),
        ("/stac/search?bbox=1,20,3,10".to_owned(), "bbox"),
        ("/stac/search?datetime=soon".to_owned(), "datetime"),
        ("/stac/search?datetime=../..".to_owned(), "datetime"),
        (
            "/stac/search?sortby=-datetime,collection".to_owned(),
            "sortby",
        ),
        ("/stac/search?sortby=id,datetime".to_owned(), "sortby"),
        ("/stac/search?sortby=title".to_owned(), "sortby"),
        ("/stac/search?filter=nope%20%3D%201".to_owned(), "filter"),
        (
            "/stac/search?filter=id%20%3D%20'a'&filter-lang=sql".to_owned(),
            "filter-lang",
        ),
        ("/stac/search?filter-lang=AAA".to_owned(), "filter-lang"),
        ("/stac/search?filter-crs=EPSG:3857".to_owned(), "filter-crs"),
        (
            "/stac/search?intersects=%7B%22type%22:%22Line%22%7D".to_owned(),
            "intersects",
        ),
        ("/stac/search?token=garbage".to_owned(), "token"),
        ("/stac/search?frobnicate=1".to_owned(), "frobnicate"),
        (
            format!("/stac/collections/{c}/items?collections=x"),
            "collections",
        ),
        ("/stac/collections?limit=-1".to_owned(), "limit"),
    ] {
        let (status, body) = stac_get(&st, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["error"]["parameter"], parameter, "{uri}: {body}");
    }
    for uri in [
        "/stac/collections/nope".to_owned(),
        "/stac/collections/nope/items".to_owned(),
        format!("/stac/collections/{c}/items/nope.nc"),
    ] {
        let (status, body) = stac_get(&st, &uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
    }
    // A known collection with nothing in the window: an empty page, not a 404.
    let uri = format!("/stac/collections/{c}/items?datetime=1900-01-01T00:00:00Z");
    let (status, body) = stac_get(&st, &uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    assert_eq!(body["features"], json!([]), "{uri}: {body}");
    assert_eq!(body["numberMatched"], 0, "{uri}: {body}");
    for (body, parameter) in [
        (json!({"limit": 0}), "limit"),
        (json!({"filter-lang": "sql"}), "filter-lang"),
        (json!({"bbox": [1, 2, 3]}), "bbox"),
        (json!({"query": {}}), "body"),
        (
            json!({"filter": {"op": "=", "args": [{"property": "nope"}, 1]}}),
            "filter",
        ),
        (
            json!({"sortby": [{"field": "datetime", "direction": "desc"}, {"field": "id"}]}),
            "sortby",
        ),
        (
            json!({"sortby": [{"field": "datetime", "direction": "down"}]}),
            "sortby",
        ),
        (
            json!({"bbox": [0, 0, 1, 1], "intersects": {"type": "Point", "coordinates": [0, 0]}}),
            "intersects",
        ),
    ] {
        let (status, answer) = stac_post(&st, "/stac/search", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"]["parameter"], parameter, "{body}: {answer}");
    }
    // Too large a page is served the largest one, not refused.
    let (status, page) = stac_get(&st, &format!("/stac/search?collections={c}&limit=20000")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["numberReturned"], DAILY_COUNT);
    let (status, page) = stac_post(&st, "/stac/search", &json!({"limit": 1e9})).await;
    assert_eq!(status, StatusCode::OK, "{page}");
}

#[tokio::test]
async fn filters_in_both_encodings_and_fields() {
    let st = state(store().await, None);
    let text =
        "collection = 'test:sst/daily' AND (id LIKE 'sst_2024010%' OR id IN ('sst_long.nc'))";
    let (got_text, _) = all_get(&st, &format!("/stac/search?filter={}&limit=4", enc(text))).await;
    let filter = json!({"op": "and", "args": [
        {"op": "=", "args": [{"property": "collection"}, DAILY]},
        {"op": "or", "args": [
            {"op": "like", "args": [{"property": "id"}, "sst_2024010%"]},
            {"op": "in", "args": [{"property": "id"}, ["sst_long.nc"]]}]}]});
    let (got_json, _) = all_post(
        &st,
        json!({"filter": filter, "filter-lang": "cql2-json", "limit": 4}),
    )
    .await;
    assert_eq!(got_text, got_json);
    assert_eq!(
        got_text.len(),
        10,
        "Jan 1..9 and the long one: {got_text:?}"
    );
    let (got_get_json, _) = all_get(
        &st,
        &format!(
            "/stac/search?filter-lang=cql2-json&filter={}",
            enc(&filter.to_string())
        ),
    )
    .await;
    assert_eq!(got_get_json, got_text);
    // A polygon around the North Sea finds only the wind collection.
    let poly = json!({"type": "Polygon", "coordinates": [[[1, 51], [9, 51], [5, 59], [1, 51]]]});
    let (found, _) = all_post(&st, json!({"intersects": poly})).await;
    assert_eq!(found, ["wind_1.nc"]);
    // Fields.
    let (_, page) = stac_get(
        &st,
        &format!(
            "/stac/search?collections={}&fields=-assets,-geometry&limit=1",
            enc(OTHER)
        ),
    )
    .await;
    let f = &page["features"][0];
    assert!(
        f.get("assets").is_none() && f.get("geometry").is_none(),
        "{f}"
    );
    assert_eq!(f["id"], "wind_1.nc");
}

/// The item IDs and datetimes of a page.
fn times(page: &Value) -> Vec<(String, String)> {
    page["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["properties"]["datetime"].as_str().unwrap().to_owned(),
                f["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn sorting_both_ways_get_and_post_sqlite() {
    sorting_both_ways_get_and_post(Backend::Sqlite).await;
}

#[tokio::test]
async fn sorting_both_ways_get_and_post_postgres() {
    sorting_both_ways_get_and_post(Backend::Postgres).await;
}

/// `sortby` on datetime, id and collection, ascending and descending, paged with GET and POST.
async fn sorting_both_ways_get_and_post(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    let both = format!("{},{}", enc(DAILY), enc(OTHER));
    let (asc, _) = all_get(
        &st,
        &format!("/stac/search?collections={both}&sortby=datetime&limit=5"),
    )
    .await;
    assert_eq!(asc.len(), DAILY_COUNT + 1);
    for sortby in [
        "-datetime",
        "-properties.datetime",
        "-datetime,-collection,-id",
    ] {
        let (desc, pages) = all_get(
            &st,
            &format!("/stac/search?collections={both}&sortby={sortby}&limit=5"),
        )
        .await;
        assert_eq!(pages, (DAILY_COUNT + 1).div_ceil(5));
        let mut reversed = asc.clone();
        reversed.reverse();
        assert_eq!(desc, reversed, "{sortby}");
    }
    let (status, page) = stac_get(
        &st,
        &format!("/stac/search?collections={both}&sortby=-datetime&limit=100"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let t = times(&page);
    assert!(t.windows(2).all(|w| w[0] >= w[1]), "{t:?}");
    let (posted, _) = all_post(
        &st,
        json!({"collections": [DAILY, OTHER], "limit": 4,
               "sortby": [{"field": "properties.datetime", "direction": "desc"}]}),
    )
    .await;
    let mut reversed = asc.clone();
    reversed.reverse();
    assert_eq!(posted, reversed, "POST pages as GET pages");
    // By ID, both ways, GET and POST.
    let mut by_id = asc.clone();
    by_id.sort();
    let (got, _) = all_get(
        &st,
        &format!("/stac/search?collections={both}&sortby=id&limit=6"),
    )
    .await;
    assert_eq!(got, by_id);
    let (got, _) = all_post(
        &st,
        json!({"collections": [DAILY, OTHER], "limit": 7,
               "sortby": [{"field": "id", "direction": "desc"}]}),
    )
    .await;
    by_id.reverse();
    assert_eq!(got, by_id);
    // By collection, descending: the wind collection first, each collection latest first.
    let (got, _) = all_get(
        &st,
        &format!("/stac/search?collections={both}&sortby=-collection&limit=3"),
    )
    .await;
    assert_eq!(got.first().map(String::as_str), Some("wind_1.nc"));
    let (daily_desc, _) = all_get(
        &st,
        &format!(
            "/stac/collections/{}/items?sortby=-datetime&limit=9",
            enc(DAILY)
        ),
    )
    .await;
    assert_eq!(got[1..], daily_desc[..]);
    // One collection: exact count whatever the order.
    let (_, page) = stac_get(
        &st,
        &format!(
            "/stac/collections/{}/items?sortby=-datetime&limit=2",
            enc(DAILY)
        ),
    )
    .await;
    assert_eq!(page["numberMatched"], DAILY_COUNT);
    // Several collections: no count rather than a guess.
    let (_, page) = stac_get(&st, &format!("/stac/search?collections={both}&limit=2")).await;
    assert!(page.get("numberMatched").is_none(), "{page}");
}

#[tokio::test]
async fn filter_operators_and_free_text() {
    let st = state(store().await, None);
    let search = |filter: &str| format!("/stac/search?filter={}&limit=100", enc(filter));
    let count = |page: &Value| page["features"].as_array().unwrap().len();
    for (filter, want) in [
        // Jan 3..=5 start inside; the long one spans them; the odd one starts Jan 5.
        (
            "T_INTERSECTS(datetime, INTERVAL('2024-01-03T00:00:00Z', '2024-01-05T00:00:00Z'))",
            5,
        ),
        (
            "datetime BETWEEN TIMESTAMP('2024-01-10T00:00:00Z') AND TIMESTAMP('2024-01-12T00:00:00Z')",
            3,
        ),
        ("NOT (collection = 'test:sst/daily')", 1),
        ("id LIKE 'sst_2024011_.nc'", 10),
        ("id NOT LIKE 'sst%'", 2),
        ("id IN ('wind_1.nc', 'sst_20240101.nc', 'nothing.nc')", 2),
        (
            "S_INTERSECTS(geometry, POLYGON((170 -5, 179 -5, 179 5, 170 5, 170 -5)))",
            DAILY_COUNT,
        ),
        ("S_INTERSECTS(geometry, BBOX(-20, -20, -10, -10))", 0),
    ] {
        let (status, page) = stac_get(&st, &search(filter)).await;
        assert_eq!(status, StatusCode::OK, "{filter}: {page}");
        assert_eq!(count(&page), want, "{filter}: {:?}", ids(&page));
    }
    // Free text on items: the items of the collections the text finds.
    let (status, page) = stac_get(&st, "/stac/search?q=wind&limit=100").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&page), ["wind_1.nc"]);
    let (_, page) = stac_post(
        &st,
        "/stac/search",
        &json!({"q": "temperature", "limit": 100}),
    )
    .await;
    assert_eq!(count(&page), DAILY_COUNT);
}

/// A refresher that adds a granule, like a crawler re-reading a live catalog.
struct Adding {
    store: Arc<dyn Store>,
    through: std::sync::Mutex<Timestamp>,
    calls: AtomicUsize,
}

#[async_trait]
impl Refresher for Adding {
    async fn freshness(&self, _id: &str) -> Result<Freshness, RefreshError> {
        Ok(Freshness {
            has_live_nodes: true,
            indexed_through: Some(*self.through.lock().unwrap()),
            last_sync: Some(day(30)),
        })
    }

    async fn refresh(&self, id: &str) -> Result<RefreshReport, RefreshError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.store
            .write_batch(&Batch {
                granules: vec![granule(id, &format!("new_{n}.nc"), day(31), None)],
                ..Batch::default()
            })
            .await
            .map_err(RefreshError::from)?;
        let now = Utc::now();
        *self.through.lock().unwrap() = now;
        Ok(RefreshReport {
            catalogs_read: 1,
            granules_added: 1,
            granules_removed: 0,
            indexed_through: Some(now),
        })
    }
}

#[tokio::test]
async fn a_search_into_the_present_refreshes_first() {
    let store = store().await;
    let refresher = Arc::new(Adding {
        store: store.clone(),
        through: std::sync::Mutex::new(day(30) + chrono::Duration::hours(1)),
        calls: AtomicUsize::new(0),
    });
    let st = AppState::new(store, Some(refresher.clone()), ApiConfig::default());
    let c = enc(DAILY);
    let (status, page) = stac_get(
        &st,
        &format!("/stac/search?collections={c}&datetime=2024-01-29T00:00:00Z/2024-01-29T12:00:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["refreshed"], false);
    assert_eq!(refresher.calls.load(Ordering::SeqCst), 0);
    let (status, page) = stac_get(
        &st,
        &format!("/stac/search?collections={c}&datetime=2024-01-30T00:00:00Z/2024-02-02T00:00:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["refreshed"], true, "{page}");
    assert_eq!(page["stale"], false);
    assert_eq!(refresher.calls.load(Ordering::SeqCst), 1);
    assert!(ids(&page).contains(&"new_1.nc".to_owned()), "{page}");
    // A search over every collection names none: no refresh, no freshness fields.
    let (_, page) = stac_get(&st, "/stac/search?datetime=2024-01-30T00:00:00Z/..").await;
    assert!(page.get("refreshed").is_none());
}

/// Granules arriving between two pages: nothing is repeated or skipped of what was there, and
/// what arrives after the cursor is listed.
#[tokio::test]
async fn pages_stay_correct_while_granules_arrive() {
    let store = store().await;
    let st = state(store.clone(), None);
    let c = enc(DAILY);
    let (status, first) = stac_get(&st, &format!("/stac/collections/{c}/items?limit=10")).await;
    assert_eq!(status, StatusCode::OK);
    let seen = ids(&first);
    store
        .write_batch(&Batch {
            granules: vec![
                granule(DAILY, "early.nc", day(1) - chrono::Duration::days(30), None),
                granule(DAILY, "late.nc", day(31), None),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    let (rest, _) = all_get(&st, next_link(&first).unwrap()["href"].as_str().unwrap()).await;
    let mut all: Vec<String> = seen.iter().chain(rest.iter()).cloned().collect();
    assert!(rest.contains(&"late.nc".to_owned()));
    assert!(
        !all.contains(&"early.nc".to_owned()),
        "before the cursor: not listed"
    );
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "no item twice");
    assert_eq!(n, DAILY_COUNT + 1);
}
