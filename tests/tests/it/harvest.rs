//! Harvests of the simulated TDS into SQLite: counts, identities, times, re-harvest, filters,
//! limits.

use super::common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{NaiveDateTime, TimeZone, Utc};
use common::*;
use threddex_crawler::{CrawlConfig, CrawlError, Harvester, Progress};
use threddex_sim::{NexradSpec, TreeSpec, catalog_count, granule_count};
use threddex_store::{CatalogStatus, CollectionQuery, GranuleQuery};

const PRODUCTS: [&str; 2] = ["N0Q", "N0U"];
const STATIONS: [&str; 2] = ["FTG", "TLX"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_nexrad_exact_counts_ids_and_times() {
    let spec = small();
    let tree = TreeSpec::Nexrad(spec.clone());
    let sim = sim(spec, vec![]).await;
    let root = sim.root_catalog_url();
    let (db, report) = harvest(cfg(), &root).await;
    let report = report.expect("harvest");

    let n_granules = granule_count(&tree);
    let n_catalogs = catalog_count(&tree);
    assert_eq!(n_granules, 2 * 2 * 2 * 4);
    assert_eq!(report.granules, n_granules);
    assert_eq!(report.granules_inserted, n_granules);
    assert_eq!(report.catalogs, n_catalogs);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.retries, 0);
    // Only catalogs are requested: one request per catalog, none per dataset.
    assert_eq!(sim.counters().total(), n_catalogs);
    assert_eq!(report.requests, n_catalogs);

    let stats = db.store.stats().await.expect("stats");
    assert_eq!(stats.granules, n_granules);
    assert_eq!(stats.collections, 4);
    assert_eq!(stats.catalogs, n_catalogs);
    assert_eq!(stats.failed_catalogs, 0);

    let cols = db
        .store
        .list_collections(&CollectionQuery {
            limit: 100,
            ..CollectionQuery::default()
        })
        .await
        .expect("collections");
    let ids: BTreeSet<String> = cols.iter().map(|c| c.info.id.clone()).collect();
    let mut want = BTreeSet::new();
    for p in PRODUCTS {
        for s in STATIONS {
            want.insert(format!(
                "edu.ucar.unidata:NWS/NEXRAD3/{p}/{s}/Level3_{s}_{p}.nids"
            ));
        }
    }
    assert_eq!(ids, want);
    assert_eq!(
        report.touched_collections,
        want.iter().cloned().collect::<Vec<_>>()
    );
    for c in &cols {
        assert_eq!(c.granule_count, 8, "stats refreshed for {}", c.info.id);
        assert!(!c.info.services.is_empty(), "services of {}", c.info.id);
        assert!(
            c.info.title.starts_with("Level3 "),
            "title {:?}",
            c.info.title
        );
        assert!(c.info.template.is_some());
    }

    // Granule times: read back from the names, independently of the crawler.
    let g = db
        .store
        .list_granules(&GranuleQuery {
            collection_id: "edu.ucar.unidata:NWS/NEXRAD3/N0Q/FTG/Level3_FTG_N0Q.nids".into(),
            start: None,
            end: None,
            after: None,
            limit: 100,
        })
        .await
        .expect("granules");
    assert_eq!(g.len(), 8);
    for gr in &g {
        let stamp = gr
            .name
            .strip_prefix("Level3_FTG_N0Q_")
            .and_then(|s| s.strip_suffix(".nids"))
            .expect("name shape");
        let t = NaiveDateTime::parse_from_str(stamp, "%Y%m%d_%H%M").expect("stamp");
        assert_eq!(gr.start, Some(Utc.from_utc_datetime(&t)), "{}", gr.name);
        assert!(gr.size.is_some_and(|s| s > 0));
        assert!(gr.modified.is_some());
        assert!(gr.catalog_url.ends_with("/catalog.xml"));
        assert!(gr.granule_id.starts_with("NWS/NEXRAD3/N0Q/FTG/"));
    }

    // Catalog states: depth and parent chain.
    let day = db
        .store
        .catalog(&cat_url(&sim, "N0Q/FTG/20240108/catalog.xml"))
        .await
        .expect("read")
        .expect("day catalog state");
    assert_eq!(day.status, CatalogStatus::Ok);
    assert_eq!(day.depth, 4);
    assert_eq!(day.granule_count, 4);
    assert_eq!(
        day.parent_url.as_deref(),
        Some(cat_url(&sim, "N0Q/FTG/catalog.xml").as_str())
    );
    assert!(day.etag.is_some() && day.last_modified.is_some());
    // `RULES_FINGERPRINT:BODY_SHA256`, both in hex.
    let hash = day.content_hash.as_deref().expect("content hash");
    let (fp, body) = hash.split_once(':').expect("two parts");
    assert_eq!((fp.len(), body.len()), (16, 64), "{hash}");
    assert!(hash.bytes().all(|b| b == b':' || b.is_ascii_hexdigit()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reharvest_adds_nothing_and_uses_conditional_requests() {
    let sim = sim(small(), vec![]).await;
    let root = sim.root_catalog_url();
    let (db, first) = harvest(cfg(), &root).await;
    let first = first.expect("first");
    assert_eq!(first.granules_inserted, 32);
    let before = db.store.stats().await.expect("stats");

    let second = harvest_into(cfg(), &root, &db).await.expect("second");
    assert_eq!(second.granules_inserted, 0);
    assert!(sim.counters().not_modified() > 0);
    assert!(second.not_modified > 0);
    assert_eq!(second.not_modified, sim.counters().not_modified());
    let after = db.store.stats().await.expect("stats");
    assert_eq!(before.granules, after.granules);
    assert_eq!(before.collections, after.collections);
    let st = db.store.catalog(&root).await.expect("read").expect("root");
    assert_eq!(st.status, CatalogStatus::NotModified);
    assert!(st.etag.is_some());
}

/// Every granule of the store as (collection, granule ID, start), over every collection.
async fn all_granules(db: &Db) -> BTreeSet<(String, String, Option<chrono::DateTime<Utc>>)> {
    let cols = db
        .store
        .list_collections(&CollectionQuery {
            limit: 1000,
            ..CollectionQuery::default()
        })
        .await
        .expect("collections");
    let mut out = BTreeSet::new();
    for c in cols {
        let g = db
            .store
            .list_granules(&GranuleQuery {
                collection_id: c.info.id.clone(),
                start: None,
                end: None,
                after: None,
                limit: 10_000,
            })
            .await
            .expect("granules");
        out.extend(
            g.into_iter()
                .map(|g| (c.info.id.clone(), g.granule_id, g.start)),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_body_is_not_rewritten_until_the_rules_that_read_it_change() {
    // A server without validators (catalogs generated per request, like datasetScan): every
    // re-read gets the whole body. A body equal to the one the stored rows came from is
    // recognised by its hash and nothing is rewritten; with other ID rules the same bodies
    // give other rows, and the store must then hold exactly what a fresh harvest with those
    // rules builds.
    let sim = sim_with(threddex_sim::SimConfig {
        tree: TreeSpec::Nexrad(small()),
        validators: false,
        ..threddex_sim::SimConfig::default()
    })
    .await;
    let root = sim.root_catalog_url();
    let (db, first) = harvest(cfg(), &root).await;
    let first = first.expect("first");
    assert_eq!(first.unchanged, 0);
    let stored = all_granules(&db).await;
    assert_eq!(stored.len(), 32);

    let second = harvest_into(cfg(), &root, &db).await.expect("second");
    assert_eq!(second.not_modified, 0, "the server sends no validators");
    assert_eq!(
        second.unchanged, first.catalogs,
        "every catalog read in full, none rewritten"
    );
    assert_eq!(second.granules_inserted + second.granules_deleted, 0);
    assert_eq!(all_granules(&db).await, stored);

    let mut merged = cfg();
    merged.id_rules = vec!["N0[QU]".into()];
    let third = harvest_into(merged.clone(), &root, &db)
        .await
        .expect("third");
    assert_eq!(third.unchanged, 0, "other rules: every catalog rewritten");
    let (fresh, r) = harvest(merged, &root).await;
    r.expect("fresh");
    let want = all_granules(&fresh).await;
    assert_eq!(all_granules(&db).await, want);
    let collections: BTreeSet<&str> = want.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(collections.len(), 2, "{collections:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_rules_are_not_bypassed_by_a_304() {
    // With validators, a catalog whose stored rows were built under other rules is fetched
    // without them (a 304 would keep the old rows).
    let sim = sim(small(), vec![]).await;
    let root = sim.root_catalog_url();
    let (db, first) = harvest(cfg(), &root).await;
    first.expect("first");
    let mut merged = cfg();
    merged.id_rules = vec!["N0[QU]".into()];
    let before = sim.counters().not_modified();
    let second = harvest_into(merged.clone(), &root, &db)
        .await
        .expect("second");
    assert_eq!(second.not_modified, 0);
    assert_eq!(sim.counters().not_modified(), before);
    let (fresh, r) = harvest(merged.clone(), &root).await;
    r.expect("fresh");
    assert_eq!(all_granules(&db).await, all_granules(&fresh).await);
    // Same rules again: conditional requests are back.
    let third = harvest_into(merged, &root, &db).await.expect("third");
    assert!(third.not_modified > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reharvest_without_validators_inserts_nothing() {
    // No state given (no validators): the whole tree is read and parsed again, and writing
    // it inserts nothing.
    let sim = sim(small(), vec![]).await;
    let root = sim.root_catalog_url();
    let (db, first) = harvest(cfg(), &root).await;
    first.expect("first");
    let h = Harvester::new(cfg()).expect("cfg");
    let sink = Arc::new(threddex_crawler::StoreSink(Arc::clone(&db.store)));
    let report = h
        .harvest(
            &format!("{root}#again"),
            &db.source,
            None,
            sink,
            Arc::new(Progress::default()),
        )
        .await
        .expect("second");
    assert_eq!(report.granules, 32);
    assert_eq!(report.granules_inserted, 0);
    assert_eq!(report.not_modified, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_batches_keep_catalog_listings_whole() {
    let spec = NexradSpec {
        products: 2,
        stations: 3,
        days: 2,
        files_per_day: 7,
    };
    let sim = sim(spec.clone(), vec![]).await;
    let root = sim.root_catalog_url();
    let mut c = cfg();
    c.batch_granules = 10;
    let h = Harvester::new(c).expect("cfg");
    let sink = Arc::new(Collect::default());
    let report = h
        .harvest(
            &root,
            &dummy_source(&root),
            None,
            sink.clone(),
            Arc::new(Progress::default()),
        )
        .await
        .expect("dry run");
    let batches = sink.0.lock().expect("lock");
    let total: usize = batches.iter().map(|b| b.granules.len()).sum();
    assert_eq!(total as u64, granule_count(&TreeSpec::Nexrad(spec)));
    assert_eq!(report.granules, total as u64);
    assert!(batches.len() > 3, "{} batches", batches.len());
    let mut collections = 0;
    for b in batches.iter() {
        // A batch is flushed as soon as it reaches the threshold: at most one catalog over.
        assert!(b.granules.len() < 10 + 7, "batch of {}", b.granules.len());
        // Each complete catalog's granules are all in the batch naming it complete.
        let mut per: HashMap<&str, usize> = HashMap::new();
        for g in &b.granules {
            *per.entry(g.catalog_url.as_str()).or_default() += 1;
            assert!(b.complete_catalogs.contains(&g.catalog_url));
        }
        for (_, n) in per {
            assert_eq!(n, 7);
        }
        collections += b.collections.len();
        // Every granule's collection is in this batch or an earlier one.
    }
    assert_eq!(collections, 6, "each collection upserted once");
    let mut seen = std::collections::HashSet::new();
    for b in batches.iter() {
        for c in &b.collections {
            seen.insert(c.id.clone());
        }
        for g in &b.granules {
            assert!(
                seen.contains(&g.collection_id),
                "granule before its collection"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_start_url_switches_to_xml() {
    let sim = sim(small(), vec![]).await;
    let url = cat_url(&sim, "N0Q/catalog.html");
    let (_db, report) = harvest(cfg(), &url).await;
    let report = report.expect("harvest");
    assert_eq!(report.granules, 16);
    assert_eq!(sim.counters().matching(".html"), 0);
    assert_eq!(sim.counters().for_path(&path("N0Q/catalog.xml")), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_prunes_refs_and_select_filters_leaves() {
    let sim = sim(small(), vec![]).await;
    let root = sim.root_catalog_url();
    let mut c = cfg();
    c.skip = vec!["N0U".into()];
    let (db, report) = harvest(c, &root).await;
    let report = report.expect("harvest");
    assert_eq!(report.granules, 16);
    assert_eq!(
        sim.counters().matching("N0U"),
        0,
        "skipped refs are not fetched"
    );
    let stats = db.store.stats().await.expect("stats");
    assert_eq!(stats.collections, 2);

    sim.counters().reset();
    let mut c = cfg();
    c.select = vec!["_FTG_".into()];
    let (db, report) = harvest(c, &root).await;
    let report = report.expect("harvest");
    // select applies to leaves only: every catalog is still walked.
    assert_eq!(
        sim.counters().total(),
        catalog_count(&TreeSpec::Nexrad(small()))
    );
    assert_eq!(report.granules, 16);
    let cols = db
        .store
        .list_collections(&CollectionQuery {
            limit: 100,
            ..CollectionQuery::default()
        })
        .await
        .expect("collections");
    assert!(cols.iter().all(|c| c.info.id.contains("/FTG/")), "{cols:?}");
    assert_eq!(cols.len(), 2);

    // skip wins over select.
    sim.counters().reset();
    let mut c = cfg();
    c.select = vec!["_FTG_".into()];
    c.skip = vec!["N0Q_2024010[78]_0".into()];
    let (_db, report) = harvest(c, &root).await;
    let report = report.expect("harvest");
    // files at 00:00 and 06:00 of both days are skipped for N0Q/FTG: 16 - 4.
    assert_eq!(report.granules, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_depth_and_max_catalogs() {
    let sim = sim(small(), vec![]).await;
    let root = sim.root_catalog_url();
    let mut c = cfg();
    c.max_depth = Some(3); // root, nexrad top, products, stations; no day folders
    let (_db, report) = harvest(c, &root).await;
    let report = report.expect("harvest");
    assert_eq!(report.catalogs, 1 + 1 + 2 + 4);
    assert_eq!(sim.counters().total(), 8);
    assert_eq!(report.granules, 0);

    sim.counters().reset();
    let mut c = cfg();
    c.max_catalogs = Some(5);
    let (db, report) = harvest(c, &root).await;
    let report = report.expect("harvest");
    assert_eq!(report.catalogs, 5);
    assert_eq!(sim.counters().total(), 5);
    // Discovered but unvisited catalogs are recorded as pending.
    let stats = db.store.stats().await.expect("stats");
    assert!(stats.catalogs > 5, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_start_is_an_error() {
    let sim = sim(
        small(),
        vec![threddex_sim::FaultRule::always(
            "/thredds/catalog.xml",
            threddex_sim::Fault::Status(404),
        )],
    )
    .await;
    let root = sim.root_catalog_url();
    let (db, r) = harvest(cfg(), &root).await;
    match r {
        Err(CrawlError::StartUnreadable { url, reason }) => {
            assert_eq!(url, root);
            assert!(reason.contains("404"), "{reason}");
        }
        other => panic!("expected StartUnreadable, got {other:?}"),
    }
    let st = db
        .store
        .catalog(&root)
        .await
        .expect("read")
        .expect("recorded");
    assert_eq!(st.status, CatalogStatus::Failed);

    let (_db, r) = harvest(cfg(), "ftp://127.0.0.1/x.xml").await;
    assert!(matches!(r, Err(CrawlError::StartUnreadable { .. })));
}

#[test]
fn bad_config_is_rejected_clearly() {
    let bad = |c: CrawlConfig| match Harvester::new(c) {
        Err(CrawlError::BadConfig(m)) => m,
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("accepted"),
    };
    let m = bad(CrawlConfig {
        select: vec!["(unclosed".into()],
        ..CrawlConfig::default()
    });
    assert!(m.contains("select") && m.contains("(unclosed"), "{m}");
    let m = bad(CrawlConfig {
        skip: vec!["[".into()],
        ..CrawlConfig::default()
    });
    assert!(m.contains("skip"), "{m}");
    bad(CrawlConfig {
        concurrency: 0,
        ..CrawlConfig::default()
    });
    bad(CrawlConfig {
        rate: 0.0,
        ..CrawlConfig::default()
    });
    bad(CrawlConfig {
        rate: f64::NAN,
        ..CrawlConfig::default()
    });
    assert!(Harvester::new(CrawlConfig::default()).is_ok());
    let d = CrawlConfig::default();
    assert_eq!(d.concurrency, 8);
    assert_eq!(d.rate, 10.0);
    assert!(d.respect_robots);
    assert!(d.user_agent.starts_with("threddex/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawl_from_seeds_applies_the_visit_filter() {
    let sim = sim(small(), vec![]).await;
    let root = sim.root_catalog_url();
    let (db, first) = harvest(cfg(), &root).await;
    first.expect("first");
    let h = Harvester::new(cfg()).expect("cfg");
    let run = |filter: Arc<dyn Fn(&threddex_store::CatalogState) -> bool + Send + Sync>| {
        let h = h.clone();
        let store = Arc::clone(&db.store);
        let source = db.source.clone();
        let root = root.clone();
        async move {
            let seed = threddex_crawler::Seed {
                url: root,
                parent: None,
                depth: 0,
                prior: None, // no validators: the seed is read again
            };
            h.crawl(
                vec![seed],
                &source,
                Some(Arc::clone(&store)),
                Arc::new(threddex_crawler::StoreSink(store)),
                Arc::new(Progress::default()),
                filter,
            )
            .await
            .expect("crawl")
        }
    };
    // Known children at depth >= 1 rejected: only the seed is fetched.
    sim.counters().reset();
    let report = run(Arc::new(|s: &threddex_store::CatalogState| s.depth < 1)).await;
    assert_eq!(report.catalogs, 1);
    assert_eq!(sim.counters().total(), 1);
    // Accept all: the nexrad top is visited with its validators and answers 304, which ends
    // the walk there.
    sim.counters().reset();
    let report = run(Arc::new(|_: &threddex_store::CatalogState| true)).await;
    assert_eq!(report.catalogs, 2);
    assert_eq!(report.not_modified, 1);
    assert_eq!(sim.counters().total(), 2);
    assert_eq!(report.granules_inserted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_runs_skip_dynamic_views() {
    let spec = TreeSpec::ModelRuns(threddex_sim::ModelSpec { models: 2, runs: 3 });
    let sim = common::sim_with(threddex_sim::SimConfig {
        tree: spec.clone(),
        ..threddex_sim::SimConfig::default()
    })
    .await;
    let (db, report) = harvest(cfg(), &sim.root_catalog_url()).await;
    let report = report.expect("harvest");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    // Best aggregations and latest.xml are not granules, and latest.xml is not fetched.
    assert_eq!(report.granules, granule_count(&spec));
    assert_eq!(sim.counters().matching("latest.xml"), 0);
    let stats = db.store.stats().await.expect("stats");
    assert_eq!(stats.granules, granule_count(&spec));
    assert_eq!(stats.collections, 2);
}
