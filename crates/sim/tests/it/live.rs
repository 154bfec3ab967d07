//! Conditional requests, counters and live mode (clock advance).
#![allow(clippy::unwrap_used)]

use super::common;

use std::time::Duration;

use common::{get, parse, t, walk};
use threddex_sim::*;

#[tokio::test]
async fn conditional_requests_give_304() {
    let s = SimServer::start(SimConfig::default()).await.unwrap();
    let url = format!(
        "{}/thredds/catalog/nexrad/level3/N0Q/FTG/20240108/catalog.xml",
        s.base_url()
    );
    let c = reqwest::Client::new();
    let r = c.get(&url).send().await.unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let lm = r.headers()["last-modified"].to_str().unwrap().to_owned();
    assert_eq!(
        lm, "Mon, 08 Jan 2024 23:00:00 GMT",
        "newest granule of the day"
    );
    let body = r.text().await.unwrap();

    let r = c
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    let r = c
        .get(&url)
        .header("If-None-Match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(&url)
        .header("If-Modified-Since", &lm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = c
        .get(&url)
        .header("If-Modified-Since", "Mon, 08 Jan 2024 22:59:59 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.counters().not_modified(), 2);

    // Same body from a second request: same ETag.
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(r.text().await.unwrap(), body);
    s.shutdown().await;
}

#[tokio::test]
async fn clock_advance_adds_granules_and_expires_days() {
    let spec = TreeSpec::Nexrad(NexradSpec {
        products: 1,
        stations: 2,
        days: 2,
        files_per_day: 24,
    });
    let start = t("2024-03-10T10:30:00Z");
    let s = SimServer::start(SimConfig {
        tree: spec.clone(),
        clock: SimClock::fixed(start),
        ..Default::default()
    })
    .await
    .unwrap();
    let c = reqwest::Client::new();
    let today = format!(
        "{}/thredds/catalog/nexrad/level3/N0Q/FTG/20240310/catalog.xml",
        s.base_url()
    );
    let r = c.get(&today).send().await.unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let p = parse(&r.text().await.unwrap()).unwrap();
    assert_eq!(p.datasets.len(), 11, "00:00..=10:00");
    assert_eq!(s.granule_count(), 2 * (24 + 11));

    s.clock().advance(chrono::Duration::minutes(30));
    let r = c
        .get(&today)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "today changed");
    let p = parse(&r.text().await.unwrap()).unwrap();
    assert_eq!(p.datasets.len(), 12);
    assert!(
        p.datasets[0]
            .0
            .ends_with("Level3_FTG_N0Q_20240310_1100.nids"),
        "newest first"
    );
    assert_eq!(s.granule_count(), 2 * (24 + 12));

    let w = walk(&c, &s.root_catalog_url()).await;
    assert_eq!(w.granule_ids.len() as u64, s.granule_count());

    // Next day: a new folder appears, 20240309 expires.
    s.clock().set(t("2024-03-11T00:00:00Z"));
    let station = format!(
        "{}/thredds/catalog/nexrad/level3/N0Q/FTG/catalog.xml",
        s.base_url()
    );
    let p = parse(&get(&station).await.text().await.unwrap()).unwrap();
    assert_eq!(p.refs, ["20240311/catalog.xml", "20240310/catalog.xml"]);
    let old = format!(
        "{}/thredds/catalog/nexrad/level3/N0Q/FTG/20240309/catalog.xml",
        s.base_url()
    );
    assert_eq!(get(&old).await.status(), 404);
    let w = walk(&c, &s.root_catalog_url()).await;
    assert_eq!(w.granule_ids.len(), 2 * (24 + 1));
    assert_eq!(
        w.granule_ids.len() as u64,
        granule_count_at(&spec, s.clock().now())
    );
    s.shutdown().await;
}

#[tokio::test]
async fn system_clock_is_live() {
    let clock = SimClock::system();
    let a = clock.now();
    clock.advance(chrono::Duration::hours(2));
    let b = clock.now();
    assert!(b - a >= chrono::Duration::hours(2));
    assert!(!clock.is_fixed());
    let f = SimClock::fixed(t("2024-01-01T00:00:00Z"));
    let g = f.clone();
    g.advance(chrono::Duration::seconds(5));
    assert_eq!(f.now(), t("2024-01-01T00:00:05Z"), "clones share time");
}

#[tokio::test]
async fn counters_track_paths_concurrency_and_reset() {
    let s = SimServer::start(SimConfig {
        latency: Duration::from_millis(150),
        ..Default::default()
    })
    .await
    .unwrap();
    let c = reqwest::Client::new();
    let url = s.root_catalog_url();
    let futs = (0..6).map(|_| c.get(&url).send());
    for r in futures::future::join_all(futs).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    assert_eq!(s.counters().total(), 6);
    assert_eq!(s.counters().for_path("/thredds/catalog.xml"), 6);
    assert!(
        s.counters().max_in_flight() >= 2,
        "{}",
        s.counters().max_in_flight()
    );
    assert!(s.counters().max_in_flight() <= 6);
    assert_eq!(s.counters().request_times().len(), 6);
    let _ = c.get(format!("{url}?x=1")).send().await.unwrap();
    assert_eq!(s.counters().for_path("/thredds/catalog.xml?x=1"), 1);
    assert_eq!(s.counters().matching("catalog.xml"), 7);
    s.counters().reset();
    assert_eq!(s.counters().total(), 0);
    assert_eq!(s.counters().matching("catalog"), 0);
    assert!(s.counters().request_times().is_empty());
    s.shutdown().await;
}
