//! Politeness measured on the server side: in-flight cap, request rate, robots.txt, and the
//! User-Agent.

use super::common;

use std::time::Duration;

use common::*;
use threddex_sim::{NexradSpec, SimConfig, TreeSpec, catalog_count};

fn medium() -> NexradSpec {
    NexradSpec {
        products: 3,
        stations: 4,
        days: 2,
        files_per_day: 2,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_per_host_never_exceeds_cap() {
    let sim = sim_with(SimConfig {
        tree: TreeSpec::Nexrad(medium()),
        latency: Duration::from_millis(20),
        ..SimConfig::default()
    })
    .await;
    let mut c = cfg();
    c.concurrency = 16;
    c.per_host_in_flight = 3;
    let (_db, report) = harvest(c, &sim.root_catalog_url()).await;
    let report = report.expect("harvest");
    assert_eq!(report.catalogs, catalog_count(&TreeSpec::Nexrad(medium())));
    let max = sim.counters().max_in_flight();
    assert!(max <= 3, "max in flight {max}");
    assert!(max >= 2, "concurrency not used at all: {max}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_rate_stays_under_limit() {
    let spec = NexradSpec {
        products: 2,
        stations: 3,
        days: 2,
        files_per_day: 1,
    };
    let sim = sim(spec.clone(), vec![]).await;
    let rate = 25.0;
    let mut c = cfg();
    c.concurrency = 16;
    c.per_host_in_flight = 4;
    c.rate = rate;
    let (_db, report) = harvest(c, &sim.root_catalog_url()).await;
    let report = report.expect("harvest");
    let n = catalog_count(&TreeSpec::Nexrad(spec));
    assert_eq!(report.catalogs, n);
    let times = sim.counters().request_times();
    assert_eq!(times.len() as u64, n);
    // Token bucket: burst of at most min(ceil(rate), in-flight cap) = 4, then `rate`/s. In any
    // window of length w, at most burst + rate * w requests (+1 for timer granularity).
    let burst = 4.0;
    for i in 0..times.len() {
        for j in i + 1..times.len() {
            let w = times[j].duration_since(times[i]).as_secs_f64();
            let count = (j - i + 1) as f64;
            assert!(
                count <= burst + rate * w + 1.0,
                "{count} requests in {w:.3} s exceeds rate {rate}/s with burst {burst}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_disallow_is_honoured_and_can_be_turned_off() {
    let robots = "User-agent: *\nDisallow: /thredds/catalog/nexrad/level3/N0U/\n".to_string();
    let sim = sim_with(SimConfig {
        tree: TreeSpec::Nexrad(small()),
        robots_txt: Some(robots),
        ..SimConfig::default()
    })
    .await;
    let root = sim.root_catalog_url();
    let mut c = cfg();
    c.respect_robots = true;
    let (_db, report) = harvest(c, &root).await;
    let report = report.expect("harvest");
    assert_eq!(sim.counters().matching("N0U"), 0);
    assert_eq!(
        sim.counters().for_path("/robots.txt"),
        1,
        "fetched once per host"
    );
    assert_eq!(report.disallowed, 1);
    assert_eq!(report.granules, 16);
    assert!(report.failed.is_empty());

    sim.counters().reset();
    let mut c = cfg();
    c.respect_robots = false;
    let (_db, report) = harvest(c, &root).await;
    let report = report.expect("harvest");
    assert_eq!(sim.counters().for_path("/robots.txt"), 0);
    assert!(sim.counters().matching("N0U") > 0);
    assert_eq!(report.granules, 32);
    assert_eq!(report.disallowed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_group_for_threddex_wins_and_missing_file_allows() {
    let robots =
        "User-agent: *\nDisallow: /\n\nUser-agent: threddex\nDisallow: /thredds/catalog/nexrad/level3/N0Q/FTG/\n"
            .to_string();
    let sim = sim_with(SimConfig {
        tree: TreeSpec::Nexrad(small()),
        robots_txt: Some(robots),
        ..SimConfig::default()
    })
    .await;
    let mut c = cfg();
    c.respect_robots = true;
    let (_db, report) = harvest(c, &sim.root_catalog_url()).await;
    let report = report.expect("harvest");
    assert_eq!(report.granules, 24);
    assert_eq!(sim.counters().matching("N0Q/FTG"), 0);

    // No robots.txt at all (404): everything allowed.
    let sim = sim_with(SimConfig {
        tree: TreeSpec::Nexrad(small()),
        ..SimConfig::default()
    })
    .await;
    let mut c = cfg();
    c.respect_robots = true;
    let (_db, report) = harvest(c, &sim.root_catalog_url()).await;
    assert_eq!(report.expect("harvest").granules, 32);
    assert_eq!(sim.counters().for_path("/robots.txt"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_disallowing_the_start_is_an_error() {
    let sim = sim_with(SimConfig {
        tree: TreeSpec::Nexrad(small()),
        robots_txt: Some("User-agent: *\nDisallow: /thredds/\n".into()),
        ..SimConfig::default()
    })
    .await;
    let mut c = cfg();
    c.respect_robots = true;
    let (_db, r) = harvest(c, &sim.root_catalog_url()).await;
    match r {
        Err(threddex_crawler::CrawlError::StartUnreadable { reason, .. }) => {
            assert!(reason.contains("robots"), "{reason}");
        }
        other => panic!("expected StartUnreadable, got {other:?}"),
    }
    assert_eq!(sim.counters().total(), 1, "only robots.txt requested");
}
