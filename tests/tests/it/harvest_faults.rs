//! Fault handling against the simulated TDS: retries, Retry-After, permanent failures,
//! timeouts, redirects, cycles.

use super::common;

use std::time::Duration;

use common::*;
use threddex_sim::{Fault, FaultRule, TreeSpec, catalog_count};
use threddex_store::CatalogStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_503_recovers_with_retries() {
    let station = path("N0Q/FTG/catalog.xml");
    let sim = sim(
        small(),
        vec![FaultRule::times(&station, Fault::Status(503), 2)],
    )
    .await;
    let (_db, report) = harvest(cfg(), &sim.root_catalog_url()).await;
    let report = report.expect("harvest");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.retries, 2);
    assert_eq!(report.granules, 32);
    assert_eq!(sim.counters().for_path(&station), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_waits_for_retry_after() {
    let sim = sim(
        small(),
        vec![FaultRule::times(
            "/thredds/catalog.xml",
            Fault::TooMany {
                retry_after_secs: 1,
            },
            1,
        )],
    )
    .await;
    let mut c = cfg();
    c.max_depth = Some(0);
    c.backoff_base = Duration::from_millis(1); // the wait must come from Retry-After
    let (_db, report) = harvest(c, &sim.root_catalog_url()).await;
    let report = report.expect("harvest");
    assert_eq!(report.retries, 1);
    let times = sim.counters().request_times();
    assert_eq!(times.len(), 2);
    let gap = times[1].duration_since(times[0]);
    assert!(
        gap >= Duration::from_millis(950),
        "second request after {gap:?}"
    );
    assert!(gap < Duration::from_secs(5), "waited too long: {gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_retry_after_is_capped() {
    let sim = sim(
        small(),
        vec![FaultRule::times(
            "/thredds/catalog.xml",
            Fault::Unavailable {
                retry_after_secs: 3600,
            },
            1,
        )],
    )
    .await;
    let mut c = cfg();
    c.max_depth = Some(0);
    c.max_retry_after = Duration::from_millis(300);
    let (_db, report) = harvest(c, &sim.root_catalog_url()).await;
    report.expect("harvest");
    let times = sim.counters().request_times();
    assert_eq!(times.len(), 2);
    let gap = times[1].duration_since(times[0]);
    assert!(gap >= Duration::from_millis(280), "{gap:?}");
    assert!(gap < Duration::from_secs(3), "cap not applied: {gap:?}");
}

/// A permanent fault on one day catalog: recorded as failed with a reason, the rest harvested.
async fn permanent(fault: Fault, reason_has: &str, attempts: u64) {
    let day = path("N0Q/FTG/20240108/catalog.xml");
    let sim = sim(small(), vec![FaultRule::always(&day, fault.clone())]).await;
    let (db, report) = harvest(cfg(), &sim.root_catalog_url()).await;
    let report = report.expect("harvest goes on");
    let url = format!("{}{day}", sim.base_url());
    assert_eq!(report.failed.len(), 1, "{fault:?}: {:?}", report.failed);
    assert_eq!(report.failed[0].0, url);
    assert!(
        report.failed[0].1.contains(reason_has),
        "{fault:?}: reason {:?} lacks {reason_has:?}",
        report.failed[0].1
    );
    assert_eq!(report.granules, 32 - 4, "{fault:?}");
    assert_eq!(report.catalogs, catalog_count(&TreeSpec::Nexrad(small())));
    assert_eq!(sim.counters().for_path(&day), attempts, "{fault:?}");
    let st = db.store.catalog(&url).await.expect("read").expect("state");
    assert_eq!(st.status, CatalogStatus::Failed);
    assert!(st.error.as_deref().is_some_and(|e| e.contains(reason_has)));
    let stats = db.store.stats().await.expect("stats");
    assert_eq!(stats.failed_catalogs, 1);
    assert_eq!(stats.granules, 28);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_is_permanent() {
    permanent(Fault::Status(404), "404", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_xml_is_permanent() {
    permanent(Fault::Malformed, "invalid catalog", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_error_page_is_permanent() {
    permanent(Fault::HtmlErrorPage, "HTML", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_body_fails() {
    permanent(Fault::Truncated, "invalid catalog", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_500_fails_after_retries() {
    // max_retries 3 in the test config: 4 attempts.
    permanent(Fault::Status(500), "500", 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_body_times_out_after_retries() {
    let day = path("N0Q/FTG/20240108/catalog.xml");
    let sim = sim(
        small(),
        vec![FaultRule::always(
            &day,
            Fault::SlowBody {
                delay: Duration::from_millis(600),
            },
        )],
    )
    .await;
    let mut c = cfg();
    c.read_timeout = Duration::from_millis(150);
    c.max_retries = 1;
    let (_db, report) = harvest(c, &sim.root_catalog_url()).await;
    let report = report.expect("harvest");
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    let reason = &report.failed[0].1;
    assert!(
        reason.contains("timeout") || reason.contains("timed out"),
        "{reason}"
    );
    assert!(reason.contains("2 attempts"), "{reason}");
    assert_eq!(sim.counters().for_path(&day), 2);
    assert_eq!(report.granules, 28);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_chain_is_followed_and_links_resolve_against_final_url() {
    // A redirect fault inside the tree.
    let station = path("N0Q/FTG/catalog.xml");
    let sim = sim(
        small(),
        vec![FaultRule::always(&station, Fault::Redirect { hops: 3 })],
    )
    .await;
    let (_db, report) = harvest(cfg(), &sim.root_catalog_url()).await;
    let report = report.expect("harvest");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.granules, 32);
    assert_eq!(sim.counters().matching("/redirect/"), 2);

    // A start URL that redirects: its relative links must resolve against the final URL
    // (/thredds/catalog/…), not against /redirect/2/….
    let sim = common::sim(small(), vec![]).await;
    let start = format!("{}/redirect/2{}", sim.base_url(), path("N0Q/catalog.xml"));
    let (_db, report) = harvest(cfg(), &start).await;
    let report = report.expect("harvest");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.granules, 16);
    assert_eq!(
        sim.counters().matching("/redirect/"),
        2,
        "only the start's own hops"
    );
    assert_eq!(sim.counters().for_path(&path("N0Q/FTG/catalog.xml")), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_redirects_fail() {
    let station = path("N0Q/FTG/catalog.xml");
    let sim = sim(
        small(),
        vec![FaultRule::always(&station, Fault::Redirect { hops: 15 })],
    )
    .await;
    let (_db, report) = harvest(cfg(), &sim.root_catalog_url()).await;
    let report = report.expect("harvest");
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert!(
        report.failed[0].1.contains("redirect"),
        "{:?}",
        report.failed
    );
    assert_eq!(report.granules, 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycles_terminate_with_each_catalog_fetched_once() {
    let sim = sim(
        small(),
        vec![FaultRule::always("/thredds/catalog/nexrad/", Fault::Cycle)],
    )
    .await;
    let (_db, report) = harvest(cfg(), &sim.root_catalog_url()).await;
    let report = report.expect("harvest");
    let n = catalog_count(&TreeSpec::Nexrad(small()));
    assert_eq!(report.catalogs, n);
    assert_eq!(report.granules, 32);
    assert_eq!(sim.counters().total(), n);
    assert_eq!(sim.counters().distinct_paths() as u64, n);
}
