//! Router tests against a real (in-memory) SQLite store.
#![allow(clippy::unwrap_used)]

use super::common;

use std::collections::HashSet;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;

/// Run every test of this file on both backends.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::Sqlite).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::Postgres).await;
            })*
        }
    };
}

on_both_backends!(
    paging_with_cursor_visits_every_granule_once_in_order,
    window_overlap_and_access_urls,
    csv_rows_headers_and_next_link,
    bad_input_is_a_json_400_naming_the_parameter,
    unknown_collection_is_404_and_unknown_path_too,
    hostile_inputs_never_give_500,
    collections_search_paging_and_links,
    one_collection_json_and_iso,
    collection_views_in_json_and_iso,
    health_readiness_and_metrics,
    search_filters_reach_the_store,
);

fn ids(page: &Value) -> Vec<String> {
    page["granules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn paging_with_cursor_visits_every_granule_once_in_order(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    let mut seen = Vec::new();
    let mut starts = Vec::new();
    let mut uri = format!("/index?collection={}&limit=7", enc(DAILY));
    let mut pages = 0;
    loop {
        let (status, page) = get_json(&st, &uri).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        assert!(page["granules"].as_array().unwrap().len() <= 7);
        for g in page["granules"].as_array().unwrap() {
            starts.push((
                g["start"].as_str().unwrap().to_owned(),
                g["id"].as_str().unwrap().to_owned(),
            ));
        }
        seen.extend(ids(&page));
        assert_eq!(page["refreshed"], false);
        assert_eq!(page["stale"], false);
        match page["next"].as_str() {
            Some(c) => uri = format!("/index?collection={}&limit=7&cursor={c}", enc(DAILY)),
            None => break,
        }
        assert!(pages < 20, "paging does not end");
    }
    assert_eq!(seen.len(), DAILY_COUNT);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), DAILY_COUNT);
    assert_eq!(pages, DAILY_COUNT.div_ceil(7));
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted, "ordered by (start, id)");
    assert!(!seen.contains(&"wind_1.nc".to_owned()));
}

async fn window_overlap_and_access_urls(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    let uri = format!(
        "/index?collection={}&start=2024-01-03T12:00:00Z&end=2024-01-05",
        enc(DAILY)
    );
    let (status, page) = get_json(&st, &uri).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["collection"], DAILY);
    // Dec 25..Jan 10 overlaps; Jan 3 (ends 23:00) and Jan 4 overlap; Jan 5 starts at the
    // exclusive end; Jan 2 ended before the window.
    assert_eq!(
        ids(&page),
        ["sst_long.nc", "sst_20240103.nc", "sst_20240104.nc"]
    );
    let g = &page["granules"][1];
    assert_eq!(g["start"], "2024-01-03T00:00:00Z");
    assert_eq!(g["end"], "2024-01-03T23:00:00Z");
    assert_eq!(g["size"], 1000);
    assert_eq!(g["url_path"], "sst/sst_20240103.nc");
    let access = g["access"].as_array().unwrap();
    assert_eq!(
        access.len(),
        2,
        "the compound service gives no URL: {access:?}"
    );
    assert_eq!(access[0]["type"], "OpenDAP");
    assert_eq!(
        access[0]["url"],
        "http://127.0.0.1:9/thredds/dodsC/sst/sst_20240103.nc"
    );
    assert_eq!(
        access[1]["url"],
        "http://127.0.0.1:9/thredds/fileServer/sst/sst_20240103.nc"
    );
    assert!(page["next"].is_null());
}

async fn csv_rows_headers_and_next_link(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    let uri = format!(
        "/index?collection={}&start=2024-01-04&end=2024-01-07&format=csv&limit=3",
        enc(DAILY)
    );
    let (status, headers, body) = get(&st, &uri).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "id,start,end,size,url_path,catalog,url");
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[1].starts_with("sst_long.nc,2023-12-25T00:00:00Z,2024-01-10T00:00:00Z,1000,"));
    assert!(lines[1].ends_with(",http://127.0.0.1:9/thredds/dodsC/sst/sst_long.nc"));
    // Ordered by (start, id): the odd ID sorts before sst_20240105.nc, and is quoted.
    assert!(
        lines[3].starts_with("\"odd,\"\"name\"\".nc\",2024-01-05T00:00:00Z,,1000,sst/odd.nc,"),
        "{text}"
    );
    assert_eq!(headers["x-stale"], "false");
    let cursor = headers["x-next-cursor"].to_str().unwrap().to_owned();
    let link = headers["link"].to_str().unwrap();
    assert!(
        link.starts_with("<http://api.test/index?collection=test%3Asst%2Fdaily&"),
        "{link}"
    );
    assert!(link.ends_with("rel=\"next\""));
    assert!(link.contains(&format!("cursor={cursor}")));
    // Follow the link: the rest of the window.
    let next = link
        .trim_start_matches("<http://api.test")
        .split('>')
        .next()
        .unwrap();
    let (status, headers, body) = get(&st, next).await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    let rows: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(rows[1].starts_with("sst_20240105.nc,") && rows[2].starts_with("sst_20240106.nc,"));
    assert!(!headers.contains_key("x-next-cursor"));
    // Accept: text/csv selects CSV too.
    let (_, headers, _) = get_with(
        &st,
        &format!("/index?collection={}", enc(DAILY)),
        &[("accept", "text/csv")],
    )
    .await;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
}

async fn bad_input_is_a_json_400_naming_the_parameter(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    let c = enc(DAILY);
    let other_cursor = {
        let (_, page) = get_json(&st, &format!("/index?collection={}&limit=1", enc(DAILY))).await;
        page["next"].as_str().unwrap().to_owned()
    };
    let cases: Vec<(String, &str)> = vec![
        (format!("/index?collection={c}&start=yesterday"), "start"),
        (format!("/index?collection={c}&end=2024-02-30"), "end"),
        (
            format!("/index?collection={c}&start=2024-01-05&end=2024-01-01"),
            "end",
        ),
        (
            format!("/index?collection={c}&start=2024-01-05&end=2024-01-05"),
            "end",
        ),
        (format!("/index?collection={c}&limit=10001"), "limit"),
        (format!("/index?collection={c}&limit=0"), "limit"),
        (format!("/index?collection={c}&limit=ten"), "limit"),
        (
            format!("/index?collection={c}&limit=99999999999999999999999"),
            "limit",
        ),
        (format!("/index?collection={c}&cursor=bogus"), "cursor"),
        (format!("/index?collection={c}&cursor=%00%01"), "cursor"),
        (
            format!("/index?collection={}&cursor={other_cursor}", enc(OTHER)),
            "cursor",
        ),
        (format!("/index?collection={c}&format=xml"), "format"),
        (format!("/index?collection={c}&colection=x"), "colection"),
        ("/index?start=2024-01-01".to_owned(), "collection"),
        ("/index".to_owned(), "collection"),
        (format!("/index?collection={c}&start=%zz"), "query"),
        (format!("/index?collection={c}&start=%ff%fe"), "query"),
        (format!("/index?collection={c}&limit=1&limit=2"), "limit"),
        ("/collections?bbox=0,0,10".to_owned(), "bbox"),
        ("/collections?bbox=-190,0,10,10".to_owned(), "bbox"),
        ("/collections?bbox=0,-95,10,10".to_owned(), "bbox"),
        ("/collections?bbox=0,20,10,10".to_owned(), "bbox"),
        ("/collections?bbox=a,b,c,d".to_owned(), "bbox"),
        ("/collections?start=2024-13-01".to_owned(), "start"),
        (
            "/collections?start=2024-01-02&end=2024-01-01".to_owned(),
            "end",
        ),
        ("/collections?limit=1001".to_owned(), "limit"),
        ("/collections?cursor=nope".to_owned(), "cursor"),
        (format!("/collections?cursor={other_cursor}"), "cursor"),
        ("/collections?foo=bar".to_owned(), "foo"),
        ("/collections?q=%E2%28%A1".to_owned(), "query"),
        (format!("/collections?q={}", "x".repeat(600)), "q"),
        (format!("/collections/{c}?f=pdf"), "f"),
        (format!("/collections/{c}?format=iso"), "format"),
        ("/collections/%ff%fe".to_owned(), "id"),
    ];
    for (uri, parameter) in cases {
        let (status, body) = get_json(&st, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["error"]["parameter"], parameter, "{uri}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let long = format!("/index?collection={}", "x".repeat(9000));
    let (status, body) = get_json(&st, &long).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

async fn unknown_collection_is_404_and_unknown_path_too(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    for uri in [
        "/index?collection=nope:none",
        "/collections/nope:none",
        "/collections/test:sst",
        "/no/such/endpoint",
    ] {
        let (status, body) = get_json(&st, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
        assert!(body["error"]["message"].is_string());
    }
}

async fn hostile_inputs_never_give_500(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    let nasty = [
        "/index?collection=%00",
        "/index?collection=a%0Ab",
        "/index?collection=%27%3B%20DROP%20TABLE%20granules%3B--",
        "/index?collection=x&start=0000-01-01&end=9999-12-31",
        "/index?collection=x&start=-262143-01-01",
        "/index?&&&=&==&a",
        "/index?collection=x&cursor=eyJ2IjoxLCJrIjoiZyIsImgiOjAsInMiOjkyMjMzNzIwMzY4NTQ3NzU4MDcsImlkIjoieCJ9",
        "/collections?q=%25%5F%22%27%5C",
        "/collections?q=NEAR(a%20b)%20OR%20*",
        "/collections?bbox=180,90,-180,-90",
        "/collections?bbox=1e308,0,0,0",
        "/collections/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/collections/a?f=iso",
    ];
    for uri in nasty {
        let (status, _, body) = get(&st, uri).await;
        assert!(
            status.is_success() || status.is_client_error(),
            "{uri}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
}

async fn collections_search_paging_and_links(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    let (status, page) = get_json(&st, "/collections?limit=1").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let first = &page["collections"][0];
    assert_eq!(first["id"], DAILY);
    assert_eq!(first["granules"], DAILY_COUNT as u64);
    assert_eq!(first["start"], "2023-12-25T00:00:00Z");
    assert_eq!(first["bbox"]["west"], 170.0);
    assert_eq!(
        first["index"],
        "http://api.test/index?collection=test%3Asst%2Fdaily"
    );
    let next = page["next"].as_str().unwrap();
    let (_, page2) = get_json(&st, &format!("/collections?limit=1&cursor={next}")).await;
    assert_eq!(page2["collections"][0]["id"], OTHER);
    assert!(page2["next"].is_null());
    // The search window is carried into the index link.
    let (_, page) = get_json(
        &st,
        "/collections?q=temperature&start=2024-01-02&end=2024-01-03",
    )
    .await;
    let hits = page["collections"].as_array().unwrap();
    assert!(hits.iter().any(|h| h["id"] == DAILY), "{page}");
    let link = hits[0]["index"].as_str().unwrap();
    assert!(
        link.ends_with("&start=2024-01-02T00%3A00%3A00Z&end=2024-01-03T00%3A00%3A00Z"),
        "{link}"
    );
}

async fn one_collection_json_and_iso(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    for uri in [
        "/collections/test:sst/daily".to_owned(),
        format!("/collections/{}", enc(DAILY)),
        "/collections/test:sst/daily?f=json".to_owned(),
    ] {
        let (status, c) = get_json(&st, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {c}");
        assert_eq!(c["id"], DAILY);
        assert_eq!(c["granule_count"], DAILY_COUNT as u64);
        assert_eq!(c["services"].as_array().unwrap().len(), 3);
        assert!(c["rolling_window"].is_null(), "no rolling coverage: {c}");
        assert_eq!(
            c["index"],
            "http://api.test/index?collection=test%3Asst%2Fdaily"
        );
    }
    // No stored record: the ISO record is synthesized from the catalog metadata.
    for (uri, accept) in [
        ("/collections/test:sst/daily?f=iso", "*/*"),
        ("/collections/test:sst/daily", "application/xml"),
        (
            "/collections/test:sst/daily",
            "application/json;q=0.5, text/xml",
        ),
    ] {
        let (status, headers, body) = get_with(&st, uri, &[("accept", accept)]).await;
        assert_eq!(status, StatusCode::OK, "{uri} {accept}");
        let ct = headers["content-type"].to_str().unwrap();
        assert!(ct.starts_with("application/xml"), "{ct}");
        let xml = String::from_utf8(body).unwrap();
        assert!(xml.contains("MD_Metadata"), "{xml}");
        assert!(xml.contains(DAILY), "{xml}");
        assert!(xml.contains("Sea surface temperature, daily"), "{xml}");
        assert!(xml.contains("2023-12-25"), "the real time extent: {xml}");
    }
    // JSON stays the default for browsers and `*/*`.
    let (_, headers, _) = get_with(&st, "/collections/test:sst/daily", &[("accept", "*/*")]).await;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

/// Virtual views are listed with the collection (JSON) and in its ISO record, never as
/// granules.
async fn collection_views_in_json_and_iso(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    let (_, before) = get_json(&st, "/collections/test:sst/daily").await;
    assert_eq!(before["views"], Value::Array(vec![]));
    let views = add_views(fx.store.as_ref()).await;
    let (status, c) = get_json(&st, "/collections/test:sst/daily").await;
    assert_eq!(status, StatusCode::OK, "{c}");
    let got = c["views"].as_array().unwrap();
    assert_eq!(got.len(), 2, "{c}");
    assert_eq!(got[0]["name"], "Best SST Time Series");
    assert_eq!(got[0]["kind"], "best");
    assert_eq!(got[0]["catalog_url"], SST_CATALOG);
    assert_eq!(got[0]["url_path"], "sst/Best");
    assert_eq!(got[0]["start"], "2024-01-01T00:00:00Z");
    assert_eq!(got[0]["end"], "2024-01-30T00:00:00Z");
    assert_eq!(
        got[0]["access"],
        serde_json::json!([
            {"service": "odap", "service_type": "OPENDAP",
             "url": "http://127.0.0.1:9/thredds/dodsC/sst/Best"},
            {"service": "wms", "service_type": "WMS",
             "url": "http://127.0.0.1:9/thredds/wms/sst/Best"},
        ])
    );
    assert_eq!(got[1]["kind"], "latest");
    assert_eq!(
        got[1]["access"][0]["url"],
        "http://127.0.0.1:9/thredds/catalog/sst/latest.xml"
    );
    assert_eq!(got[1]["start"], Value::Null);
    // Views are not granules.
    assert_eq!(c["granule_count"], DAILY_COUNT as u64);
    let (_, page) = get_json(&st, &format!("/index?collection={}&limit=1000", enc(DAILY))).await;
    let names: Vec<&str> = page["granules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(names.len(), DAILY_COUNT, "{page}");
    assert!(!names.iter().any(|n| views.iter().any(|v| v.name == *n)));
    // The synthesised ISO record lists them as online resources.
    let (status, _, body) = get(&st, "/collections/test:sst/daily?f=iso").await;
    assert_eq!(status, StatusCode::OK);
    let xml = String::from_utf8(body).unwrap();
    let summary = threddex_records::summary(&xml).unwrap();
    let best = summary
        .links
        .iter()
        .find(|l| l.url == "http://127.0.0.1:9/thredds/dodsC/sst/Best")
        .unwrap_or_else(|| panic!("no view link: {xml}"));
    assert_eq!(best.name.as_deref(), Some("Best SST Time Series"));
    assert_eq!(best.protocol.as_deref(), Some("OPeNDAP:OPeNDAP"));
    assert!(
        summary
            .links
            .iter()
            .any(|l| l.url == "http://127.0.0.1:9/thredds/catalog/sst/latest.xml")
    );
}

async fn health_readiness_and_metrics(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    let (status, _, body) = get(&st, "/healthz").await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, b"ok".as_slice())
    );
    let (status, body) = get_json(&st, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["backend"], fx.store.backend());
    let _ = get(&st, &format!("/index?collection={}&limit=1", enc(DAILY))).await;
    let _ = get(&st, "/collections/test:sst/daily").await;
    let (status, _, body) = get(&st, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("http_requests_total{"), "{text}");
    assert!(text.contains("route=\"/index\""), "{text}");
    assert!(text.contains("route=\"/collections/{*id}\""), "{text}");
    assert!(
        !text.contains("test:sst/daily"),
        "raw URIs must not become labels"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(
        text.contains("threddex_refresh_total{outcome=\"ok\"}"),
        "{text}"
    );
    // Close the database: not ready any more, and reads fail with a generic 503 (the
    // database cannot be reached; JSON, with Retry-After).
    fx.close().await;
    let (status, body) = get_json(&st, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unavailable");
    let (status, body) = get_json(&st, &format!("/index?collection={}", enc(DAILY))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(
        !body.to_string().contains("pool"),
        "no driver detail leaks: {body}"
    );
}

async fn search_filters_reach_the_store(backend: Backend) {
    let fx = fixture(backend).await;
    let st = state(fx.store.clone(), None);
    let found = |page: &Value| -> Vec<String> {
        page["collections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for (query, want) in [
        ("", vec![DAILY, OTHER]),
        ("q=wind", vec![OTHER]),
        ("q=temperature", vec![DAILY]),
        ("q=nothing%20like%20this", vec![]),
        // Both sides of the antimeridian find the Pacific box.
        ("bbox=175,-5,179,5", vec![DAILY]),
        ("bbox=-179,-5,-175,5", vec![DAILY]),
        ("bbox=179,-5,-179,5", vec![DAILY]),
        ("bbox=5,55,6,56", vec![OTHER]),
        ("bbox=-60,-60,-50,-50", vec![]),
        // Time overlap: OTHER has one granule on Jan 2.
        ("start=2024-01-15&end=2024-01-16", vec![DAILY]),
        ("start=2024-02-15", vec![]),
        (
            "q=wind&bbox=5,55,6,56&start=2024-01-01&end=2024-01-03",
            vec![OTHER],
        ),
    ] {
        let (status, page) = get_json(&st, &format!("/collections?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(found(&page), want, "{query}");
    }
}
