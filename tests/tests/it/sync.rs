//! Incremental sync against the simulated TDS in live mode, on both backends: a fresh
//! SQLite temp file and a fresh Postgres database per test (Postgres must be reachable: these
//! tests fail, never skip, without it).

use super::common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{cat_url, cfg, path};
use threddex_crawler::{Harvester, Progress, SyncOptions, SyncReport, Syncer};
use threddex_sim::{Fault, FaultRule, NexradSpec, SimClock, SimConfig, SimServer, TreeSpec};
use threddex_store::{
    Batch, CatalogState, CatalogStatus, Collection, CollectionQuery, Granule, GranuleQuery,
    NewSource, NodeClass, Source, Store,
};
use threddex_store_postgres::testdb::{DropDatabase, fresh_store_with_guard};
use threddex_store_sqlite::SqliteStore;

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Keeps the test's database alive; drops it at the end.
enum Guard {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Pg(#[allow(dead_code)] DropDatabase),
}

async fn fresh_store(backend: Backend) -> (Arc<dyn Store>, Guard) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", dir.path().join("t.db").display());
            let s = SqliteStore::connect(&url).await.expect("sqlite");
            (Arc::new(s), Guard::Dir(dir))
        }
        Backend::Postgres => {
            let (s, guard) = fresh_store_with_guard().await;
            (Arc::new(s), Guard::Pg(guard))
        }
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("time").to_utc()
}

struct World {
    server: SimServer,
    store: Arc<dyn Store>,
    source: Source,
    _guard: Guard,
}

impl World {
    async fn new(backend: Backend, spec: NexradSpec, latency: Duration) -> Self {
        let server = SimServer::start(SimConfig {
            tree: TreeSpec::Nexrad(spec),
            clock: SimClock::fixed(at("2024-01-08T12:00:00Z")),
            latency,
            ..SimConfig::default()
        })
        .await
        .expect("sim");
        let (store, guard) = fresh_store(backend).await;
        let source = store
            .ensure_source(&NewSource {
                name: "sim".into(),
                url: server.root_catalog_url(),
                ..NewSource::default()
            })
            .await
            .expect("source");
        Self {
            server,
            store,
            source,
            _guard: guard,
        }
    }

    fn syncer(&self, holder: &str) -> Syncer {
        let clock = self.server.clock().clone();
        Syncer::new(
            Harvester::new(cfg()).expect("harvester"),
            Arc::clone(&self.store),
            SyncOptions {
                holder: holder.into(),
                clock: Arc::new(move || clock.now()),
                lease_ttl: Duration::from_secs(30),
                ..SyncOptions::default()
            },
        )
    }

    async fn sync(&self) -> SyncReport {
        self.syncer("test")
            .sync_source(&self.source, Arc::new(Progress::default()))
            .await
            .expect("sync")
    }

    async fn granules(&self) -> u64 {
        self.store.stats().await.expect("stats").granules
    }

    /// Sum of the collections' granule counts (what the stats refresh computed).
    async fn collection_counts(&self) -> i64 {
        self.store
            .list_collections(&CollectionQuery {
                limit: 0,
                ..CollectionQuery::default()
            })
            .await
            .expect("collections")
            .iter()
            .map(|c| c.granule_count)
            .sum()
    }
}

fn spec() -> NexradSpec {
    NexradSpec {
        products: 1,
        stations: 2,
        days: 4,
        files_per_day: 24,
    }
}

macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await;
            }
        }
    };
}

both!(archival_folders_are_not_refetched);
async fn archival_folders_are_not_refetched(backend: Backend) {
    let w = World::new(backend, spec(), Duration::ZERO).await;
    let first = w.sync().await;
    assert!(first.success && !first.lease_busy);
    assert_eq!(w.granules().await, w.server.granule_count());
    // Classes as stored: 01-05 and 01-06 archival (before 01-08 06:00 UTC), 01-07 and 01-08
    // daily, the stations mixed (they list day folders).
    let class = |rest: &str| {
        let store = Arc::clone(&w.store);
        let url = cat_url(&w.server, rest);
        async move {
            store
                .catalog(&url)
                .await
                .expect("catalog")
                .unwrap_or_else(|| panic!("{url} stored"))
                .class
        }
    };
    assert_eq!(
        class("N0Q/FTG/20240105/catalog.xml").await,
        NodeClass::Archival
    );
    assert_eq!(
        class("N0Q/FTG/20240106/catalog.xml").await,
        NodeClass::Archival
    );
    assert_eq!(
        class("N0Q/FTG/20240107/catalog.xml").await,
        NodeClass::Daily
    );
    assert_eq!(
        class("N0Q/FTG/20240108/catalog.xml").await,
        NodeClass::Daily
    );
    assert_eq!(class("N0Q/FTG/catalog.xml").await, NodeClass::Mixed);
    assert_eq!(class("N0Q/catalog.xml").await, NodeClass::Live);

    w.server.counters().reset();
    w.server.clock().advance(chrono::Duration::minutes(30));
    let second = w.sync().await;
    assert!(second.success);
    assert_eq!(second.archival, 4);
    let c = w.server.counters();
    for day in ["20240105", "20240106"] {
        for stn in ["FTG", "TLX"] {
            assert_eq!(
                c.for_path(&path(&format!("N0Q/{stn}/{day}/catalog.xml"))),
                0,
                "archival {stn}/{day} re-fetched"
            );
        }
    }
    // Live ones were re-read: today's folders and the stations.
    assert_eq!(c.for_path(&path("N0Q/FTG/20240108/catalog.xml")), 1);
    assert_eq!(c.for_path(&path("N0Q/TLX/catalog.xml")), 1);
    // The adaptive product listing was due again (30 min > its 10 min interval); the requests
    // are far fewer than the first sync's either way.
    assert_eq!(c.for_path(&path("N0Q/catalog.xml")), 1);
    assert!(second.harvest.requests < first.harvest.requests);
    assert_eq!(w.granules().await, w.server.granule_count());
}

/// A sync whose clock runs `later` ahead of the server's (the server's listings stay as they
/// are: a re-sync that finds nothing new).
async fn sync_later(w: &World, later: chrono::Duration) -> SyncReport {
    let clock = w.server.clock().clone();
    Syncer::new(
        Harvester::new(cfg()).expect("harvester"),
        Arc::clone(&w.store),
        SyncOptions {
            holder: "later".into(),
            clock: Arc::new(move || clock.now() + later),
            lease_ttl: Duration::from_secs(30),
            ..SyncOptions::default()
        },
    )
    .sync_source(&w.source, Arc::new(Progress::default()))
    .await
    .expect("sync")
}

/// Forget the validators of every stored catalog: the next read of each is a full one.
/// Forget the stored validators (as if the server sent none: every re-read is a full
/// listing) and, with `hashes`, the content hashes too (nothing then vouches that the stored
/// rows are what a listing gives, so a re-read writes the listing again).
async fn drop_validators(w: &World, hashes: bool) {
    let cats: Vec<CatalogState> = w
        .store
        .catalogs_of_source(w.source.id)
        .await
        .expect("catalogs")
        .into_iter()
        .map(|c| CatalogState {
            etag: None,
            last_modified: None,
            content_hash: if hashes { None } else { c.content_hash.clone() },
            ..c
        })
        .collect();
    w.store
        .write_batch(&Batch {
            catalogs: cats,
            ..Batch::default()
        })
        .await
        .expect("drop validators");
}

async fn all_collections(store: &Arc<dyn Store>) -> Vec<Collection> {
    store
        .list_collections(&CollectionQuery {
            limit: 0,
            ..CollectionQuery::default()
        })
        .await
        .expect("collections")
}

both!(a_no_change_resync_recounts_nothing);
async fn a_no_change_resync_recounts_nothing(backend: Backend) {
    let w = World::new(backend, spec(), Duration::ZERO).await;
    assert!(w.sync().await.success);
    let before = all_collections(&w.store).await;
    assert_eq!(before.len(), 2);
    // A server without validators: every re-read is a full listing (no 304), recognised as
    // the one the stored rows came from.
    drop_validators(&w, false).await;

    let today = cat_url(&w.server, "N0Q/FTG/20240108/catalog.xml");
    w.server.counters().reset();
    let r = sync_later(&w, chrono::Duration::hours(2)).await;
    assert!(r.success);
    assert_eq!(
        w.server
            .counters()
            .for_path(&path("N0Q/FTG/20240108/catalog.xml")),
        1
    );
    assert_eq!(r.harvest.not_modified, 0);
    assert!(r.harvest.granules > 0, "listings re-read in full: {r:?}");
    assert_eq!(
        r.harvest.unchanged, r.harvest.catalogs,
        "and none rewritten: {r:?}"
    );
    assert_eq!(
        (r.harvest.granules_inserted, r.harvest.granules_deleted),
        (0, 0)
    );
    assert!(
        r.harvest.changed_collections.is_empty(),
        "{:?}",
        r.harvest.changed_collections
    );
    assert_eq!(
        all_collections(&w.store).await,
        before,
        "no recount, no updated_at bump"
    );

    // The store loses today's FTG granules and holds one the server never listed (at 23:00,
    // after all real ones); the next re-read adds the real ones back and removes that one:
    // only FTG changes, and its figures are the server's again.
    let ftg = before
        .iter()
        .find(|c| c.info.id.contains("FTG"))
        .expect("FTG collection")
        .clone();
    let fake = Granule {
        collection_id: ftg.info.id.clone(),
        granule_id: "nexrad/level3/N0Q/FTG/20240108/not_on_the_server.nids".into(),
        name: "not_on_the_server.nids".into(),
        url_path: Some("nexrad/level3/N0Q/FTG/20240108/not_on_the_server.nids".into()),
        start: Some(at("2024-01-08T23:00:00Z")),
        end: None,
        size: Some(1),
        modified: None,
        catalog_url: today.clone(),
    };
    let o = w
        .store
        .write_batch(&Batch {
            granules: vec![fake],
            complete_catalogs: vec![today.clone()],
            ..Batch::default()
        })
        .await
        .expect("tamper");
    assert_eq!(o.changed_collections, std::slice::from_ref(&ftg.info.id));
    let removed = o.granules_deleted;
    assert!(removed > 0);
    w.store
        .refresh_collection_stats(&o.changed_collections)
        .await
        .expect("refresh");
    let tampered = w
        .store
        .collection(&ftg.info.id)
        .await
        .expect("get")
        .expect("FTG");
    assert_eq!(tampered.end, Some(at("2024-01-08T23:00:00Z")));
    assert_eq!(
        tampered.granule_count,
        ftg.granule_count - i64::try_from(removed).expect("n") + 1
    );

    // The tampering went behind the crawler's back, so the hashes no longer vouch for the
    // rows: without them the re-read writes the listings again and repairs the store.
    drop_validators(&w, true).await;
    let r = sync_later(&w, chrono::Duration::hours(4)).await;
    assert!(r.success);
    assert_eq!(
        r.harvest.changed_collections,
        std::slice::from_ref(&ftg.info.id)
    );
    assert_eq!(
        (r.harvest.granules_inserted, r.harvest.granules_deleted),
        (removed, 1)
    );
    let after = all_collections(&w.store).await;
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a.info.id, b.info.id);
        if a.info.id == ftg.info.id {
            assert_eq!(
                (a.granule_count, a.start, a.end),
                (b.granule_count, b.start, b.end),
                "FTG's figures are the server's again"
            );
        } else {
            assert_eq!(a, b, "the other collection untouched");
        }
    }
}

both!(new_granules_in_todays_folder_appear);
async fn new_granules_in_todays_folder_appear(backend: Backend) {
    let w = World::new(backend, spec(), Duration::ZERO).await;
    w.sync().await;
    let before = w.granules().await;
    assert_eq!(before, w.server.granule_count());
    w.server.clock().advance(chrono::Duration::hours(3));
    let expected = w.server.granule_count();
    assert!(expected > before, "the sim adds files to today's folder");
    let r = w.sync().await;
    assert!(r.success);
    assert_eq!(w.granules().await, expected);
    assert_eq!(r.harvest.granules_inserted, expected - before);
    assert_eq!(
        w.collection_counts().await,
        i64::try_from(expected).expect("n")
    );
    // The newest granule (14:00 UTC) is listed.
    let coll = w
        .store
        .list_collections(&CollectionQuery {
            limit: 0,
            ..CollectionQuery::default()
        })
        .await
        .expect("collections")
        .into_iter()
        .find(|c| c.info.id.contains("FTG"))
        .expect("FTG collection");
    let newest = w
        .store
        .list_granules(&GranuleQuery {
            collection_id: coll.info.id.clone(),
            start: Some(at("2024-01-08T14:00:00Z")),
            end: Some(at("2024-01-08T15:00:00Z")),
            after: None,
            limit: 10,
        })
        .await
        .expect("granules");
    assert_eq!(newest.len(), 1, "{newest:?}");
}

both!(an_expired_day_folder_disappears);
async fn an_expired_day_folder_disappears(backend: Backend) {
    let w = World::new(backend, spec(), Duration::ZERO).await;
    w.sync().await;
    let old = cat_url(&w.server, "N0Q/FTG/20240105/catalog.xml");
    assert!(w.store.catalog(&old).await.expect("get").is_some());
    w.server.clock().advance(chrono::Duration::days(1));
    let r = w.sync().await;
    assert!(r.success);
    assert_eq!(r.expired_trees, 2, "one day folder per station");
    assert!(w.store.catalog(&old).await.expect("get").is_none());
    // The new day was discovered, the old one's granules are gone, the totals match the server.
    let new = cat_url(&w.server, "N0Q/FTG/20240109/catalog.xml");
    assert!(w.store.catalog(&new).await.expect("get").is_some());
    assert_eq!(w.granules().await, w.server.granule_count());
    assert_eq!(
        w.collection_counts().await,
        i64::try_from(w.server.granule_count()).expect("n")
    );
    for c in w
        .store
        .list_collections(&CollectionQuery {
            limit: 0,
            ..CollectionQuery::default()
        })
        .await
        .expect("collections")
    {
        assert!(
            c.start.is_some_and(|s| s >= at("2024-01-06T00:00:00Z")),
            "{} still starts at {:?}",
            c.info.id,
            c.start
        );
    }
}

both!(a_failed_catalog_keeps_its_old_granules);
async fn a_failed_catalog_keeps_its_old_granules(backend: Backend) {
    let w = World::new(backend, spec(), Duration::ZERO).await;
    w.sync().await;
    let total = w.granules().await;
    let today = cat_url(&w.server, "N0Q/TLX/20240108/catalog.xml");
    let today_count = w
        .store
        .catalog(&today)
        .await
        .expect("get")
        .expect("stored")
        .granule_count;
    assert!(today_count > 0);
    // A day later: FTG's station listing fails (so its expired day must stay) and TLX's
    // today folder (now yesterday's) fails (so its granules must stay).
    w.server.set_faults(vec![
        FaultRule::always("/N0Q/FTG/catalog.xml", Fault::Status(500)),
        FaultRule::always("/N0Q/TLX/20240108/catalog.xml", Fault::Malformed),
    ]);
    w.server.clock().advance(chrono::Duration::days(1));
    let r = w.sync().await;
    assert!(r.harvest.failed_count >= 2, "{:?}", r.harvest.failed);
    let ftg_old = cat_url(&w.server, "N0Q/FTG/20240105/catalog.xml");
    let ftg_state = w.store.catalog(&ftg_old).await.expect("get");
    assert!(ftg_state.is_some(), "a failed parent deletes nothing");
    let tlx_old = cat_url(&w.server, "N0Q/TLX/20240105/catalog.xml");
    assert!(
        w.store.catalog(&tlx_old).await.expect("get").is_none(),
        "TLX's listing was read: its expired day goes"
    );
    let t = w.store.catalog(&today).await.expect("get").expect("stored");
    assert_eq!(t.status, CatalogStatus::Failed);
    assert_eq!(t.granule_count, today_count, "old count kept");
    let ftg_station = w
        .store
        .catalog(&cat_url(&w.server, "N0Q/FTG/catalog.xml"))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(ftg_station.status, CatalogStatus::Failed);
    // Granules: everything from before except TLX's expired day, plus what could be read.
    assert!(w.granules().await >= total - 24, "old granules kept");
    // Both failed catalogs are retried by the next sync once the server recovers.
    w.server.set_faults(vec![]);
    let r = w.sync().await;
    assert!(r.success);
    assert_eq!(w.granules().await, w.server.granule_count());
    assert!(w.store.catalog(&ftg_old).await.expect("get").is_none());
}

both!(two_concurrent_syncs_do_not_both_run);
async fn two_concurrent_syncs_do_not_both_run(backend: Backend) {
    let w = World::new(backend, spec(), Duration::from_millis(30)).await;
    let a = w.syncer("holder-a");
    let b = w.syncer("holder-b");
    let (ra, rb) = tokio::join!(
        a.sync_source(&w.source, Arc::new(Progress::default())),
        b.sync_source(&w.source, Arc::new(Progress::default())),
    );
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    assert!(
        ra.lease_busy != rb.lease_busy,
        "exactly one runs: a busy={} b busy={}",
        ra.lease_busy,
        rb.lease_busy
    );
    let ran = if ra.lease_busy { &rb } else { &ra };
    let busy = if ra.lease_busy { &ra } else { &rb };
    assert_eq!(busy.harvest.requests, 0);
    assert!(ran.harvest.catalogs > 0);
    // Each catalog was fetched exactly once (no second crawl ran alongside).
    let c = w.server.counters();
    assert_eq!(c.for_path(&path("N0Q/FTG/20240105/catalog.xml")), 1);
    assert_eq!(c.matching("/thredds/catalog"), ran.harvest.catalogs);
    assert_eq!(
        c.distinct_paths() as u64,
        c.total(),
        "no path requested twice"
    );
    // The lease was released: a later sync runs.
    let r = w.sync().await;
    assert!(!r.lease_busy);
}

both!(refresh_on_demand_reads_live_catalogs);
async fn refresh_on_demand_reads_live_catalogs(backend: Backend) {
    use threddex_api::Refresher;
    let w = World::new(backend, spec(), Duration::ZERO).await;
    w.sync().await;
    let synced_at = w.server.clock().now();
    let coll = w
        .store
        .list_collections(&CollectionQuery {
            limit: 0,
            ..CollectionQuery::default()
        })
        .await
        .expect("collections")
        .into_iter()
        .find(|c| c.info.id.contains("FTG"))
        .expect("FTG collection")
        .info
        .id;
    let refresher = threddex_api::CrawlRefresher::with_cache_ttl(w.syncer("api"), Duration::ZERO);
    let f = refresher.freshness(&coll).await.expect("freshness");
    assert!(f.has_live_nodes);
    assert_eq!(f.indexed_through, Some(synced_at));
    assert_eq!(f.last_sync, Some(synced_at));
    assert!(
        refresher
            .freshness("no:such")
            .await
            .expect("f")
            .indexed_through
            .is_none()
    );

    w.server.clock().advance(chrono::Duration::hours(2));
    w.server.counters().reset();
    let before = w.granules().await;
    let r = refresher.refresh(&coll).await.expect("refresh");
    let now = w.server.clock().now();
    assert_eq!(r.indexed_through, Some(now));
    assert_eq!(r.granules_added, 2, "two new files in FTG's today folder");
    assert_eq!(w.granules().await, before + 2);
    // Only FTG's live catalogs and their live parent were read, never an archival one nor
    // the other station.
    let c = w.server.counters();
    assert_eq!(c.matching("/TLX/"), 0);
    assert_eq!(c.matching("/20240105/") + c.matching("/20240106/"), 0);
    assert_eq!(c.for_path(&path("N0Q/FTG/catalog.xml")), 1);
    assert_eq!(c.for_path(&path("N0Q/FTG/20240108/catalog.xml")), 1);
    // A sync moves indexed_through too.
    w.server.clock().advance(chrono::Duration::minutes(30));
    w.sync().await;
    let f = refresher.freshness(&coll).await.expect("freshness");
    assert_eq!(f.indexed_through, Some(w.server.clock().now()));
}

both!(the_scheduler_runs_each_source_on_its_interval);
async fn the_scheduler_runs_each_source_on_its_interval(backend: Backend) {
    use std::sync::Mutex;
    use threddex_crawler::Scheduler;
    let w = World::new(backend, spec(), Duration::ZERO).await;
    // A second source (a subtree of the same server) registered while the scheduler runs.
    let reports: Arc<Mutex<Vec<(String, bool)>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    let scheduler = Scheduler::from_syncer(w.syncer("scheduler"))
        .with_tick(Duration::from_millis(50))
        .with_default_every(chrono::Duration::minutes(10))
        .on_report(Arc::new(move |r: &SyncReport| {
            sink.lock()
                .expect("lock")
                .push((r.source.clone(), r.lease_busy));
        }));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(scheduler.run(async {
        let _ = rx.await;
    }));
    let wait_for = |n: usize| {
        let reports = Arc::clone(&reports);
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while reports.lock().expect("lock").len() < n {
                assert!(std::time::Instant::now() < deadline, "scheduler too slow");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for(1).await;
    w.store
        .add_source(&NewSource {
            name: "tlx".into(),
            url: cat_url(&w.server, "N0Q/TLX/catalog.xml"),
            every_secs: Some(60),
            ..NewSource::default()
        })
        .await
        .expect("add");
    wait_for(2).await;
    // Nothing is due on the (frozen) clock: no more syncs.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(reports.lock().expect("lock").len(), 2);
    // 61 s later only the 1-minute source is due; 10 minutes later both are.
    w.server.clock().advance(chrono::Duration::seconds(61));
    wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(reports.lock().expect("lock")[2].0, "tlx");
    assert_eq!(reports.lock().expect("lock").len(), 3);
    w.server.clock().advance(chrono::Duration::minutes(10));
    wait_for(5).await;
    tx.send(()).expect("shutdown");
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .expect("run returns when asked")
        .expect("join");
    let r = reports.lock().expect("lock").clone();
    let mut names: Vec<&str> = r.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, vec!["sim", "sim", "tlx", "tlx", "tlx"]);
    assert!(r.iter().all(|(_, busy)| !busy));
}
