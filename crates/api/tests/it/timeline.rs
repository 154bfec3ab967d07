//! `GET /collections/{id}/timeline` and the search page's files.
#![allow(clippy::unwrap_used)]

use super::common;

use axum::http::{StatusCode, header};
use common::*;
use serde_json::Value;

fn buckets(v: &Value) -> Vec<(String, String, u64)> {
    v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b[0].as_str().unwrap().to_owned(),
                b[1].as_str().unwrap().to_owned(),
                b[2].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn daily_timeline_over_the_extent_shows_gaps_as_zeros() {
    let st = state(store().await, None);
    // The raw ID (with '/' and ':') and the percent-encoded one answer the same.
    for path in [
        format!("/collections/{DAILY}/timeline"),
        format!("/collections/{}/timeline", enc(DAILY)),
    ] {
        let (status, v) = get_json(&st, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {v}");
        assert_eq!(v["collection"], DAILY);
        assert_eq!(v["interval"], "day");
        // The long granule starts on Dec 25; the last one ends Jan 30 23:00.
        assert_eq!(v["start"], "2023-12-25T00:00:00Z");
        assert_eq!(v["end"], "2024-01-31T00:00:00Z");
        assert_eq!(v["total"], DAILY_COUNT);
        let b = buckets(&v);
        assert_eq!(b.len(), 37);
        assert_eq!(
            b[0],
            (
                "2023-12-25T00:00:00Z".into(),
                "2023-12-26T00:00:00Z".into(),
                1
            )
        );
        assert!(b[1..7].iter().all(|x| x.2 == 0), "Dec 26..31 are gaps");
        assert_eq!(b[7].0, "2024-01-01T00:00:00Z");
        assert_eq!(
            b[11],
            (
                "2024-01-05T00:00:00Z".into(),
                "2024-01-06T00:00:00Z".into(),
                2
            )
        );
        assert!(b.windows(2).all(|w| w[0].1 == w[1].0), "contiguous buckets");
    }
}

#[tokio::test]
async fn windows_are_rounded_out_and_intervals_differ() {
    let st = state(store().await, None);
    let id = enc(DAILY);
    let (status, v) = get_json(
        &st,
        &format!(
            "/collections/{id}/timeline?interval=month&start=2023-12-30&end=2024-01-02T06:00:00Z"
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        buckets(&v),
        [
            (
                "2023-12-01T00:00:00Z".into(),
                "2024-01-01T00:00:00Z".into(),
                1
            ),
            (
                "2024-01-01T00:00:00Z".into(),
                "2024-02-01T00:00:00Z".into(),
                31
            ),
        ]
    );
    let (_, v) = get_json(
        &st,
        &format!("/collections/{id}/timeline?interval=hour&start=2024-01-05T00:30:00Z&end=2024-01-05T02:00:00Z"),
    )
    .await;
    assert_eq!(
        buckets(&v),
        [
            (
                "2024-01-05T00:00:00Z".into(),
                "2024-01-05T01:00:00Z".into(),
                2
            ),
            (
                "2024-01-05T01:00:00Z".into(),
                "2024-01-05T02:00:00Z".into(),
                0
            ),
        ]
    );
    // A window past the data: all zeros.
    let (_, v) = get_json(
        &st,
        &format!("/collections/{id}/timeline?start=2025-01-01&end=2025-01-04"),
    )
    .await;
    assert_eq!(v["total"], 0);
    assert_eq!(buckets(&v).len(), 3);
}

#[tokio::test]
async fn bad_requests_name_the_parameter() {
    let st = state(store().await, None);
    let id = enc(DAILY);
    for (query, parameter) in [
        ("interval=week", "interval"),
        ("start=2024-01-02&end=2024-01-01", "end"),
        ("start=yesterday", "start"),
        ("interval=hour&start=2000-01-01&end=2024-01-01", "end"),
        ("limit=3", "limit"),
    ] {
        let (status, v) = get_json(&st, &format!("/collections/{id}/timeline?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {v}");
        assert_eq!(v["error"]["parameter"], parameter, "{query}: {v}");
    }
    let (status, _) = get_json(&st, "/collections/nope:x/timeline").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Without a window, hours over 37 days are fine (888 buckets).
    let (status, v) = get_json(&st, &format!("/collections/{id}/timeline?interval=hour")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(buckets(&v).len(), 37 * 24);
    // The collection itself is still served at its own path.
    let (status, v) = get_json(&st, &format!("/collections/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["id"], DAILY);
}

#[tokio::test]
async fn page_and_assets_have_types_cache_headers_and_a_csp() {
    let st = state(store().await, None);
    for (path, media) in [
        ("/", "text/html; charset=utf-8"),
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/style.css", "text/css; charset=utf-8"),
        ("/ui/world.json", "application/json"),
    ] {
        let (status, h, body) = get(&st, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(h[header::CONTENT_TYPE], media, "{path}");
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .starts_with("default-src 'none'"),
            "{path}"
        );
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(h.contains_key(header::CACHE_CONTROL), "{path}");
        assert!(!body.is_empty());
        let tag = h[header::ETAG].to_str().unwrap().to_owned();
        let (status, _, body) = get_with(&st, path, &[("if-none-match", &tag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(body.is_empty());
    }
    let (status, _, _) = get(&st, "/ui/../Cargo.toml").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&st, "/ui/nope.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The world outline is an array of closed rings of longitude/latitude pairs.
    let (_, _, body) = get(&st, "/ui/world.json").await;
    let world: Value = serde_json::from_slice(&body).unwrap();
    let rings = world["rings"].as_array().unwrap();
    assert!(rings.len() > 100);
    assert!(rings.iter().all(|r| r.as_array().unwrap().len() % 2 == 0));
}
