//! `/changes` and `/changes/stream`: the change log as CloudEvents, paging, filters, long
//! polls, expired cursors, Server-Sent Events resumed with `Last-Event-ID`.
#![allow(clippy::unwrap_used)]

use super::common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;
use threddex_store::{Batch, Store};

fn ids(page: &Value) -> Vec<String> {
    page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["type"].as_str().unwrap(),
                e["subject"].as_str().unwrap()
            )
        })
        .collect()
}

async fn add_granule(store: &dyn Store, id: &str) {
    store
        .write_batch(&Batch {
            granules: vec![granule(OTHER, id, day(3), None)],
            ..Batch::default()
        })
        .await
        .unwrap();
}

async fn pages_and_filters(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    let (status, page) = get_json(&st, "/changes").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ids(&page),
        [
            format!("org.threddex.collection.created {DAILY}"),
            format!("org.threddex.collection.created {OTHER}"),
            format!("org.threddex.granules.added {DAILY}"),
            format!("org.threddex.granules.added {OTHER}"),
        ]
    );
    assert_eq!(page["next"], "4");
    assert_eq!(page["head"], "4");
    let e = &page["changes"][3];
    assert_eq!(e["specversion"], "1.0");
    assert_eq!(e["id"], "4");
    assert_eq!(e["datacontenttype"], "application/json");
    assert_eq!(e["data"]["count"], 1);
    assert_eq!(e["data"]["granule_ids"][0], "wind_1.nc");
    assert_eq!(
        e["source"], "http://api.test/collections/test:wind/hourly",
        "links are absolute"
    );
    let items = e["data"]["links"][1]["href"].as_str().unwrap();
    assert!(
        items.starts_with("http://api.test/index?collection=test%3Awind%2Fhourly&start=2024-01-02"),
        "{items}"
    );
    // The items link answers with the granule.
    let (status, index) = get_json(&st, items.trim_start_matches("http://api.test")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(index["granules"][0]["id"], "wind_1.nc");
    let daily = &page["changes"][2]["data"];
    assert_eq!(daily["count"], DAILY_COUNT);
    assert!(daily["granule_ids"].is_null(), "too many to list");

    // Pages of 3, then the rest; the next link carries the page's parameters.
    let (_, first) = get_json(&st, "/changes?limit=3").await;
    assert_eq!(first["changes"].as_array().unwrap().len(), 3);
    assert_eq!(first["next"], "3");
    assert_eq!(
        first["links"][0]["href"],
        "http://api.test/changes?after=3&limit=3"
    );
    let (_, rest) = get_json(&st, "/changes?after=3&limit=3").await;
    assert_eq!(ids(&rest).len(), 1);
    assert_eq!(rest["next"], "4");
    // A filter: the cursor still reaches the head.
    let (_, only) = get_json(&st, &format!("/changes?collection={}", enc(OTHER))).await;
    assert_eq!(ids(&only).len(), 2);
    assert_eq!(only["next"], "4");
    // Bad parameters.
    for bad in [
        "/changes?after=-1",
        "/changes?after=x",
        "/changes?wait=3600",
        "/changes?limit=0",
        "/changes?since=1",
    ] {
        let (status, body) = get_json(&st, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    // A long poll returns as soon as a matching change commits.
    let store = fx.store.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        add_granule(store.as_ref(), "wind_2.nc").await;
    });
    let (status, polled) = get_json(&st, "/changes?after=4&wait=20").await;
    writer.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ids(&polled),
        [format!("org.threddex.granules.added {OTHER}")]
    );
    assert_eq!(polled["changes"][0]["data"]["granule_ids"][0], "wind_2.nc");
    assert_eq!(polled["next"], "5");

    // Retention removes everything: old cursors are gone, with how to start over.
    fx.store
        .prune_changes(chrono::Utc::now() + chrono::Duration::seconds(5))
        .await
        .unwrap();
    let (status, body) = get_json(&st, "/changes?after=2").await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["head"], "5");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("/collections") && msg.contains("/changes?after=5"),
        "{msg}"
    );
    let (status, body) = get_json(&st, "/changes?after=5").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Without a cursor: from the oldest entry kept (none).
    let (status, body) = get_json(&st, "/changes").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&body).len(), 0);
    assert_eq!(body["next"], "5");
}

#[tokio::test]
async fn changes_pages_and_filters_sqlite() {
    pages_and_filters(Backend::Sqlite).await;
}

#[tokio::test]
async fn changes_pages_and_filters_postgres() {
    pages_and_filters(Backend::Postgres).await;
}

/// Read SSE events (`id`, `data`) from a streaming response until `n` arrived.
async fn read_events(resp: &mut reqwest::Response, n: usize) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut buf = String::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(20), resp.chunk())
            .await
            .expect("an event within 20 s")
            .unwrap()
            .expect("the stream stays open");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut id = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if let Some(id) = id {
                out.push((id, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    out
}

#[tokio::test]
async fn stream_follows_and_resumes_with_last_event_id() {
    let fx = fixture(Backend::Sqlite).await;
    let st = state(fx.store.clone(), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(threddex_api::serve(listener, st, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/changes/stream");

    // From the start (after=0): the four fixture events, then a live one.
    let mut resp = client.get(format!("{url}?after=0")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let got = read_events(&mut resp, 4).await;
    let seqs: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(seqs, ["1", "2", "3", "4"]);
    assert_eq!(got[0].1["id"], "1");
    assert_eq!(got[0].1["type"], "org.threddex.collection.created");
    add_granule(fx.store.as_ref(), "wind_2.nc").await;
    let live = read_events(&mut resp, 1).await;
    assert_eq!(live[0].0, "5");
    assert_eq!(live[0].1["data"]["granule_ids"][0], "wind_2.nc");
    drop(resp);

    // A reconnect with Last-Event-ID gets what it missed, and only that.
    add_granule(fx.store.as_ref(), "wind_3.nc").await;
    add_granule(fx.store.as_ref(), "wind_4.nc").await;
    let mut resumed = client
        .get(format!("{url}?after=0"))
        .header("Last-Event-ID", "5")
        .send()
        .await
        .unwrap();
    let got = read_events(&mut resumed, 2).await;
    assert_eq!(
        got.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        ["6", "7"]
    );
    // A filter on another collection sees nothing of these; without a cursor: from the head.
    let filtered = client
        .get(format!("{url}?collection={}", enc(DAILY)))
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.status(), 200);
    let bad = client
        .get(&url)
        .header("Last-Event-ID", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    drop((resumed, filtered));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// `/collections?updated_since=`: only collections whose row changed since.
#[tokio::test]
async fn collections_updated_since() {
    let fx = fixture(Backend::Sqlite).await;
    let st = state(fx.store.clone(), None);
    let (status, all) = get_json(&st, "/collections?updated_since=2000-01-01").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all["collections"].as_array().unwrap().len(), 2);
    let since = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    add_granule(fx.store.as_ref(), "wind_9.nc").await;
    fx.store
        .refresh_collection_stats(&[OTHER.into()])
        .await
        .unwrap();
    let q = enc(&since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    let (status, changed) = get_json(&st, &format!("/collections?updated_since={q}")).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let ids: Vec<&str> = changed["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [OTHER]);
    let (status, _) = get_json(&st, "/collections?updated_since=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// `/index?updated_since=`: only the granules listed by a catalog whose listing changed since
/// (here a catalog read after the fixture was written, with two new granules), paged.
async fn index_updated_since(backend: Backend) {
    use threddex_store::{CatalogState, CatalogStatus};
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    let base = format!("/index?collection={}", enc(DAILY));
    let stamp = |t: chrono::DateTime<chrono::Utc>| {
        enc(&t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    };
    let since = chrono::Utc::now();
    let (status, none) = get_json(&st, &format!("{base}&updated_since={}", stamp(since))).await;
    assert_eq!(status, StatusCode::OK, "{none}");
    assert_eq!(none["granules"].as_array().unwrap().len(), 0, "{none}");
    assert!(none["next"].is_null());

    tokio::time::sleep(Duration::from_millis(5)).await;
    let src = fx.store.source_by_name("local").await.unwrap().unwrap().id;
    let cat = "http://127.0.0.1:9/thredds/catalog/sst/feb/catalog.xml";
    let now = chrono::Utc::now();
    let catalog = CatalogState {
        status: CatalogStatus::Ok,
        last_fetch: Some(now),
        last_changed: Some(now),
        ..CatalogState::pending(cat, src, None, 0)
    };
    let new = |id: &str, d: i64| {
        let mut g = granule(DAILY, id, day(1) + chrono::Duration::days(d), None);
        g.catalog_url = cat.into();
        g
    };
    fx.store
        .write_batch(&Batch {
            catalogs: vec![catalog],
            granules: vec![new("sst_20240215.nc", 45), new("sst_20240210.nc", 40)],
            ..Batch::default()
        })
        .await
        .unwrap();

    let names = |page: &Value| -> Vec<String> {
        page["granules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, changed) = get_json(&st, &format!("{base}&updated_since={}", stamp(since))).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(names(&changed), ["sst_20240210.nc", "sst_20240215.nc"]);
    // Pages of one, then a time window that holds only one of them.
    let (_, first) = get_json(
        &st,
        &format!("{base}&updated_since={}&limit=1", stamp(since)),
    )
    .await;
    assert_eq!(names(&first), ["sst_20240210.nc"]);
    let next = first["next"].as_str().expect("a next cursor");
    let (_, second) = get_json(
        &st,
        &format!(
            "{base}&updated_since={}&limit=1&cursor={}",
            stamp(since),
            enc(next)
        ),
    )
    .await;
    assert_eq!(names(&second), ["sst_20240215.nc"]);
    assert!(second["next"].is_null());
    let (_, window) = get_json(
        &st,
        &format!("{base}&updated_since={}&start=2024-02-12", stamp(since)),
    )
    .await;
    assert_eq!(names(&window), ["sst_20240215.nc"]);
    // Later than the change: nothing; the whole index without the parameter.
    let (_, later) = get_json(
        &st,
        &format!("{base}&updated_since={}", stamp(chrono::Utc::now())),
    )
    .await;
    assert!(names(&later).is_empty());
    let (_, all) = get_json(&st, &format!("{base}&limit=100")).await;
    assert_eq!(names(&all).len(), DAILY_COUNT + 2);
    let (status, _) = get_json(&st, &format!("{base}&updated_since=yesterday")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The same on the STAC item search: GET and POST /stac/search, a collection's items.
    use super::stac::{stac_get, stac_post};
    let items = |page: &Value| -> Vec<String> {
        page["features"]
            .as_array()
            .unwrap_or_else(|| panic!("{page}"))
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let search = format!(
        "/stac/search?collections={}&sortby=datetime&updated_since={}",
        enc(DAILY),
        stamp(since)
    );
    let (status, page) = stac_get(&st, &search).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(items(&page), ["sst_20240210.nc", "sst_20240215.nc"]);
    assert!(page.get("numberMatched").is_none(), "{page}");
    let (_, page) = stac_get(&st, &format!("{search}&datetime=2024-02-12T00:00:00Z/..")).await;
    assert_eq!(items(&page), ["sst_20240215.nc"]);
    let (_, page) = stac_get(
        &st,
        &format!(
            "/stac/collections/{}/items?updated_since={}",
            enc(DAILY),
            stamp(since)
        ),
    )
    .await;
    assert_eq!(items(&page), ["sst_20240210.nc", "sst_20240215.nc"]);
    let rfc =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let (status, page) = stac_post(
        &st,
        "/stac/search",
        &serde_json::json!({"collections": [DAILY], "updated_since": rfc(since), "limit": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(items(&page), ["sst_20240210.nc"]);
    let (_, page) = stac_post(
        &st,
        "/stac/search",
        &serde_json::json!({"collections": [DAILY], "updated_since": rfc(chrono::Utc::now())}),
    )
    .await;
    assert!(items(&page).is_empty(), "{page}");
    let (_, page) = stac_get(&st, &format!("/stac/search?collections={}", enc(DAILY))).await;
    assert!(page["numberMatched"].is_u64(), "{page}");
    let (status, err) = stac_get(&st, &format!("{search}x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(err.to_string().contains("updated_since"), "{err}");
}

#[tokio::test]
async fn index_updated_since_sqlite() {
    index_updated_since(Backend::Sqlite).await;
}

#[tokio::test]
async fn index_updated_since_postgres() {
    index_updated_since(Backend::Postgres).await;
}
