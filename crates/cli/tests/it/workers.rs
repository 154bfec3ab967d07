//! Crawling with several processes (issue 19): three `threddex worker` processes share the
//! first harvest of a source through the Postgres frontier, one is killed with SIGKILL halfway,
//! and the other two finish it. The index equals the one a single `threddex sync` builds; the
//! simulated server's request log (who asked for what, and when) shows that no catalog was
//! fetched twice within a claim (a catalog the killed worker held is fetched again only after
//! its claim expired) and that the requests of all workers together never exceeded the
//! configured per-host rate and in-flight limits.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use threddex_sim::{LoggedRequest, NexradSpec, SimClock, SimConfig, SimServer, TreeSpec};
use threddex_store::{Collection, CollectionQuery, Granule, GranuleQuery, Store};
use threddex_store_postgres::PostgresStore;
use threddex_store_postgres::testdb::fresh_database;

const BIN: &str = env!("CARGO_BIN_EXE_threddex");

/// The per-host limits every worker is given (shared through the database).
const RATE: f64 = 20.0;
const PER_HOST: usize = 4;
/// The bucket's burst, as the crawler computes it: min(ceil(rate), per_host).
const BURST: usize = 4;
/// The claim TTL; claims are renewed every third of it.
const CLAIM_TTL: Duration = Duration::from_secs(6);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn threddex(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env_remove("THREDDEX_DATABASE_URL")
        .env("THREDDEX_LOG", "warn")
        .output()
        .await
        .expect("run threddex")
}

/// The whole index: every collection's derived figures and granules.
async fn index(store: &dyn Store) -> Vec<(String, i64, String, Vec<Granule>)> {
    let colls: Vec<Collection> = store
        .list_collections(&CollectionQuery {
            limit: 0,
            ..CollectionQuery::default()
        })
        .await
        .expect("collections");
    let mut out = Vec::new();
    for c in colls {
        let granules = store
            .list_granules(&GranuleQuery {
                collection_id: c.info.id.clone(),
                start: None,
                end: None,
                after: None,
                limit: 0,
            })
            .await
            .expect("granules");
        out.push((
            c.info.id.clone(),
            c.granule_count,
            format!("{:?}..{:?}", c.start, c.end),
            granules,
        ));
    }
    out
}

/// The most requests in any window of `w` (sliding, starting at each request).
fn max_in_window(times: &[Instant], w: Duration) -> usize {
    let mut best = 0;
    let mut j = 0;
    for i in 0..times.len() {
        while j < times.len() && times[j] < times[i] + w {
            j += 1;
        }
        best = best.max(j - i);
    }
    best
}

fn worker_of(r: &LoggedRequest) -> String {
    r.user_agent
        .split_once("(w")
        .and_then(|(_, rest)| rest.split(')').next())
        .map(|n| format!("w{n}"))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_a_harvest_and_survive_a_kill() {
    // 1 + 3 + 18 + 180 = 202 catalogs, 8,640 granules; 20 ms per response.
    let server = SimServer::start(SimConfig {
        tree: TreeSpec::Nexrad(NexradSpec {
            products: 3,
            stations: 6,
            days: 10,
            files_per_day: 48,
        }),
        clock: SimClock::fixed(chrono::Utc::now()),
        latency: Duration::from_millis(20),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let root = server.root_catalog_url();
    let catalogs = server.catalog_count();
    let (single_url, _single) = fresh_database().await;
    let (shared_url, _shared) = fresh_database().await;
    for url in [&single_url, &shared_url] {
        let o = threddex(&[
            "sources", "add", &root, "--name", "sim", "--every", "10m", "--db", url,
        ])
        .await;
        assert!(o.status.success(), "{}", text(&o.stderr));
    }

    // The reference: one process.
    let o = threddex(&[
        "sync",
        "--db",
        &single_url,
        "--rate",
        "1000",
        "--concurrency",
        "8",
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    let reference = index(&PostgresStore::connect(&single_url).await.expect("pg")).await;
    let total: usize = reference.iter().map(|c| c.3.len()).sum();
    assert_eq!(total as u64, server.granule_count());
    server.counters().reset();

    // Three workers on the shared database, each identified by its User-Agent.
    let claim_ttl = format!("{}s", CLAIM_TTL.as_secs());
    let rate = RATE.to_string();
    let per_host = PER_HOST.to_string();
    let mut children = Vec::new();
    for w in 0..3 {
        let child = tokio::process::Command::new(BIN)
            .args([
                "worker",
                "--db",
                &shared_url,
                "--once",
                "--claim-ttl",
                &claim_ttl,
                "--rate",
                &rate,
                "--per-host",
                &per_host,
                "--concurrency",
                "4",
            ])
            .env_remove("THREDDEX_DATABASE_URL")
            .env("THREDDEX_LOG", "warn")
            .env(
                "THREDDEX__CRAWL__USER_AGENT",
                format!("threddex/0.1 (w{w})"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn worker");
        children.push(child);
    }

    // Kill worker 0 with SIGKILL once half the catalogs were asked for.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let asked = server
            .counters()
            .log()
            .iter()
            .filter(|r| r.path.ends_with(".xml"))
            .count() as u64;
        if asked >= catalogs / 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the workers did not get halfway");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut killed = children.remove(0);
    assert!(
        killed.try_wait().expect("wait").is_none(),
        "worker 0 ended before it could be killed"
    );
    killed.kill().await.expect("kill -9");
    let killed_at = Instant::now();

    for mut child in children {
        let status = tokio::time::timeout(Duration::from_secs(180), child.wait())
            .await
            .expect("a worker did not finish")
            .expect("wait");
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use tokio::io::AsyncReadExt;
            let _ = e.read_to_string(&mut err).await;
        }
        assert!(status.success(), "worker failed: {err}");
    }

    // The index equals the single process's.
    let store: Arc<dyn Store> = Arc::new(PostgresStore::connect(&shared_url).await.expect("pg"));
    let built = index(&*store).await;
    assert_eq!(built.len(), reference.len());
    for (a, b) in built.iter().zip(&reference) {
        assert_eq!(a, b, "collection {}", a.0);
    }
    let source = store
        .source_by_name("sim")
        .await
        .expect("source")
        .expect("sim");
    assert!(source.last_success_at.is_some(), "the round was not closed");

    // Who fetched what: every worker took part; a catalog is fetched twice only when the
    // killed worker had it, and then again only after that claim expired (renewed every
    // third of the TTL up to the kill, so not before two thirds of a TTL after it).
    let log = server.counters().log();
    let mut by_path: HashMap<&str, Vec<&LoggedRequest>> = HashMap::new();
    for r in log.iter().filter(|r| r.path.ends_with(".xml")) {
        by_path.entry(r.path.as_str()).or_default().push(r);
    }
    assert_eq!(
        by_path.len() as u64,
        catalogs,
        "every catalog was asked for"
    );
    let mut per_worker: HashMap<String, usize> = HashMap::new();
    let mut refetched = 0;
    for (path, reqs) in &by_path {
        for r in reqs {
            *per_worker.entry(worker_of(r)).or_default() += 1;
        }
        if reqs.len() == 1 {
            continue;
        }
        assert_eq!(reqs.len(), 2, "{path} fetched {} times", reqs.len());
        assert_eq!(
            worker_of(reqs[0]),
            "w0",
            "{path}: two fetches, the first not by the killed worker"
        );
        assert_ne!(worker_of(reqs[1]), "w0");
        let earliest = killed_at + CLAIM_TTL * 2 / 3 - Duration::from_millis(100);
        assert!(
            reqs[1].at >= earliest,
            "{path} fetched again {:?} after the kill, within the killed worker's claim",
            reqs[1].at.saturating_duration_since(killed_at)
        );
        refetched += 1;
    }
    for w in ["w0", "w1", "w2"] {
        assert!(
            per_worker.get(w).copied().unwrap_or(0) > 0,
            "{w} fetched nothing: {per_worker:?}"
        );
    }
    // The killed worker held at most its 4 catalogs in flight and the read ones waiting to be
    // completed (at most 16).
    assert!(
        refetched <= 20,
        "more refetches than the killed worker could hold: {refetched}"
    );

    // Politeness across the processes: in flight, and the rate over sliding windows: at most
    // the burst plus `rate × window` requests, as the configured token bucket allows.
    assert!(
        server.counters().max_in_flight() <= PER_HOST as u64,
        "{} requests in flight at once",
        server.counters().max_in_flight()
    );
    let times: Vec<Instant> = log.iter().map(|r| r.at).collect();
    for w in [
        Duration::from_secs(1),
        Duration::from_secs(2),
        Duration::from_secs(5),
    ] {
        let seen = max_in_window(&times, w);
        let limit = BURST + (RATE * w.as_secs_f64()).floor() as usize;
        assert!(
            seen <= limit,
            "{seen} requests within {w:?}, above the limit {limit} ({RATE}/s, burst {BURST})"
        );
    }
    // And the limit binds: the three workers were held to it, not far below.
    let busiest = max_in_window(&times, Duration::from_secs(2));
    eprintln!(
        "catalogs per worker {per_worker:?}, fetched again after the kill {refetched}, busiest          1 s {} / 2 s {busiest} requests, max in flight {}",
        max_in_window(&times, Duration::from_secs(1)),
        server.counters().max_in_flight()
    );
    assert!(
        busiest as f64 >= RATE * 2.0 * 0.6,
        "{busiest} requests in the busiest 2 s"
    );
}

/// Two sync engines of two processes (say two API replicas) sharing one Postgres refresh the
/// same collection at the same moment: with the limits shared through the database the
/// collection's live catalogs are read once (the second refresh waits for the first and
/// answers from its result); without (per-process crawlers) they are read twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refresh_of_a_collection_at_a_time_across_processes() {
    use threddex_crawler::{CrawlConfig, Harvester, SharedHosts, SyncOptions, Syncer};
    use threddex_store::HostLimits;

    let server = SimServer::start(SimConfig {
        tree: TreeSpec::Nexrad(NexradSpec {
            products: 1,
            stations: 1,
            days: 3,
            files_per_day: 4,
        }),
        clock: SimClock::fixed(chrono::Utc::now()),
        latency: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let (url, _db) = fresh_database().await;
    let root = server.root_catalog_url();
    let o = threddex(&["sources", "add", &root, "--name", "sim", "--db", &url]).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = threddex(&["sync", "--db", &url, "--rate", "1000"]).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    let pg = Arc::new(PostgresStore::connect(&url).await.expect("pg"));
    let store: Arc<dyn Store> = pg.clone();
    let id = store
        .list_collections(&CollectionQuery {
            limit: 0,
            ..CollectionQuery::default()
        })
        .await
        .expect("collections")
        .remove(0)
        .info
        .id;
    let cfg = CrawlConfig {
        respect_robots: false,
        rate: 1000.0,
        ..CrawlConfig::default()
    };
    let engine = |holder: &str, shared: bool| {
        let harvester = if shared {
            let limits: Arc<dyn HostLimits> = pg.clone();
            let hosts = SharedHosts::new(limits, holder, Duration::from_secs(30), 1000.0, 8);
            Harvester::with_shared_hosts(cfg.clone(), Arc::new(hosts)).expect("harvester")
        } else {
            Harvester::new(cfg.clone()).expect("harvester")
        };
        Syncer::new(harvester, Arc::clone(&store), SyncOptions::default())
    };
    for shared in [false, true] {
        let (a, b) = (engine("replica-a", shared), engine("replica-b", shared));
        server.counters().reset();
        let (ra, rb) = tokio::join!(a.refresh_collection(&id), b.refresh_collection(&id));
        let (ra, rb) = (ra.expect("refresh a"), rb.expect("refresh b"));
        assert!(ra.freshness.has_live_nodes && rb.freshness.has_live_nodes);
        let read = ra.catalogs_read.max(rb.catalogs_read);
        assert!(read > 0, "{ra:?} {rb:?}");
        let requests = server.counters().matching("catalog.xml");
        if shared {
            assert_eq!(
                ra.catalogs_read.min(rb.catalogs_read),
                0,
                "both refreshes read: {ra:?} {rb:?}"
            );
            assert_eq!(requests, read, "the live catalogs were read more than once");
            assert_eq!(ra.freshness.indexed_through, rb.freshness.indexed_through);
        } else {
            assert_eq!(requests, 2 * read, "per-process refreshes both read");
        }
    }
}
