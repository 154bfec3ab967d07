//! Kill-and-resume: `threddex sync` killed with SIGKILL in the middle of a crawl and started
//! again at once (its lease, recording the killed process, is taken over without waiting for
//! it to expire) ends with exactly the index an uninterrupted sync produces, on both backends.
//! A lease of a live process, or of another host, is not taken over: `sync` names its holder
//! and expiry and exits 3, `sync --wait` waits for it. Also drives `sources add|list|remove`
//! and `migrate` through the binary.

use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use threddex_sim::{NexradSpec, SimClock, SimConfig, SimServer, TreeSpec};
use threddex_store::{
    Collection, CollectionQuery, Granule, GranuleQuery, LeaseGrant, LeaseHolder, Store,
};
use threddex_store_postgres::PostgresStore;
use threddex_store_postgres::testdb::{DropDatabase, fresh_database};
use threddex_store_sqlite::SqliteStore;

const BIN: &str = env!("CARGO_BIN_EXE_threddex");

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database URL (and what to keep alive / drop).
struct Db {
    url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<DropDatabase>,
}

async fn fresh_db(backend: Backend) -> Db {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            Db {
                url: format!("sqlite://{}", dir.path().join("t.db").display()),
                _dir: Some(dir),
                _pg: None,
            }
        }
        Backend::Postgres => {
            let (url, guard) = fresh_database().await;
            Db {
                url,
                _dir: None,
                _pg: Some(guard),
            }
        }
    }
}

async fn open(url: &str) -> Arc<dyn Store> {
    if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::connect(url).await.expect("sqlite"))
    } else {
        Arc::new(PostgresStore::connect(url).await.expect("postgres"))
    }
}

async fn threddex(args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env_remove("THREDDEX_DATABASE_URL")
        .env("THREDDEX_LOG", "warn")
        .output()
        .await
        .expect("run threddex")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A lease far longer than the test: a sync after the kill that runs at once has taken the
/// killed run's lease over, not waited for it to expire.
const SYNC_FLAGS: [&str; 6] = ["--concurrency", "2", "--lease-ttl", "10m", "--rate", "1000"];

/// The whole index: collections (their derived figures, not the first-seen catalog, which
/// depends on crawl order) and every granule.
async fn index(
    store: &dyn Store,
) -> Vec<(String, String, Option<String>, i64, String, Vec<Granule>)> {
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
            c.info.title.clone(),
            c.info.template.clone(),
            c.granule_count,
            format!("{:?}..{:?}", c.start, c.end),
            granules,
        ));
    }
    out
}

async fn kill_and_resume(backend: Backend) {
    // Clock fixed at the real "now": the binary classifies with the system clock.
    let server = SimServer::start(SimConfig {
        tree: TreeSpec::Nexrad(NexradSpec {
            products: 2,
            stations: 4,
            days: 8,
            files_per_day: 48,
        }),
        clock: SimClock::fixed(chrono::Utc::now()),
        latency: Duration::from_millis(60),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let root = server.root_catalog_url();
    let killed = fresh_db(backend).await;
    let clean = fresh_db(backend).await;
    for db in [&killed, &clean] {
        let o = threddex(&["migrate", "--db", &db.url]).await;
        assert!(o.status.success(), "{}", text(&o.stderr));
        let o = threddex(&[
            "sources", "add", &root, "--name", "sim", "--every", "10m", "--db", &db.url,
        ])
        .await;
        assert!(o.status.success(), "{}", text(&o.stderr));
    }

    // The uninterrupted reference.
    let mut args = vec!["sync", "--db", clean.url.as_str()];
    args.extend(SYNC_FLAGS);
    let o = threddex(&args).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    let reference = index(&*open(&clean.url).await).await;
    let total: usize = reference.iter().map(|c| c.5.len()).sum();
    assert_eq!(total as u64, server.granule_count());

    // The killed run: SIGKILL once some granules were written, well before the end.
    let mut args = vec!["sync", "--db", killed.url.as_str()];
    args.extend(SYNC_FLAGS);
    let mut child = tokio::process::Command::new(BIN)
        .args(&args)
        .env_remove("THREDDEX_DATABASE_URL")
        .env("THREDDEX_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let store = open(&killed.url).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = store.stats().await.expect("stats").granules;
        if n > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no granules written in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        child.try_wait().expect("wait").is_none(),
        "the sync ended before it could be killed"
    );
    let killed_pid = child.id().expect("pid");
    child.kill().await.expect("kill -9");
    let partial = store.stats().await.expect("stats").granules;
    assert!(
        partial < server.granule_count(),
        "killed mid-sync: {partial} granules"
    );

    // The killed run left its lease, recording its process, for most of the 10 minutes.
    let source = store
        .source_by_name("sim")
        .await
        .expect("source")
        .expect("sim");
    match store
        .try_acquire_lease(
            source.id,
            &LeaseHolder::named("test"),
            Duration::from_secs(1),
        )
        .await
        .expect("lease")
    {
        LeaseGrant::Busy(info) => {
            assert_eq!(info.holder.pid, Some(killed_pid), "{info:?}");
            assert!(info.holder.host.is_some(), "{info:?}");
            assert!(info.expires_in() > Duration::from_secs(300), "{info:?}");
        }
        other => panic!("the killed run left no lease: {other:?}"),
    }

    // Started again at once, without --wait: the killed process is gone, so its lease is taken
    // over (no exit 3, no waiting for expiry) and the sync resumes.
    let o = threddex(&args).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("resumed an interrupted sync"),
        "{}",
        text(&o.stderr)
    );
    let resumed = index(&*store).await;
    assert_eq!(resumed.len(), reference.len());
    for (a, b) in resumed.iter().zip(&reference) {
        assert_eq!(a, b, "collection {}", a.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_resume_sqlite() {
    kill_and_resume(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_resume_postgres() {
    kill_and_resume(Backend::Postgres).await;
}

/// A lease of a live process of this host (this test) or of a process of another host is not
/// taken over: `sync` exits 3 at once naming the holder and the expiry; `--wait` gives up
/// after its bound while the holder lives, and runs once a lease of another host expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_lease_is_named_and_waited_for() {
    let server = SimServer::start(SimConfig {
        tree: TreeSpec::Nexrad(NexradSpec {
            products: 1,
            stations: 1,
            days: 2,
            files_per_day: 4,
        }),
        clock: SimClock::fixed(chrono::Utc::now()),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let db = fresh_db(Backend::Sqlite).await;
    let root = server.root_catalog_url();
    let o = threddex(&["sources", "add", &root, "--name", "sim", "--db", &db.url]).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    let store = open(&db.url).await;
    let source = store
        .source_by_name("sim")
        .await
        .expect("source")
        .expect("sim");
    let sync = |extra: &'static [&'static str]| {
        let mut args = vec!["sync", "--db", db.url.as_str(), "--rate", "1000"];
        args.extend(extra);
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            threddex(&args).await
        }
    };

    // Held by this (live) test process: not taken over, however the sync is asked.
    let me = threddex_crawler::holder::lease_holder("test-holder");
    assert_eq!(
        store
            .try_acquire_lease(source.id, &me, Duration::from_secs(600))
            .await
            .expect("lease"),
        LeaseGrant::Acquired
    );
    let o = sync(&[]).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    let pid = std::process::id();
    assert!(
        err.contains(&format!("held by pid {pid} on host ")),
        "{err}"
    );
    assert!(
        err.contains("the lease expires at ") && err.contains(" s)"),
        "{err}"
    );
    assert!(err.contains("--wait"), "{err}");
    let o = sync(&["--wait=1s", "--json"]).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("waiting for it (at most 1s)"), "{err}");
    assert!(err.contains("still running after waiting 1s"), "{err}");
    let report: serde_json::Value =
        serde_json::from_str(text(&o.stdout).trim()).expect("json report");
    assert_eq!(report["lease_busy"], true, "{report}");
    assert_eq!(report["lease"]["holder"]["pid"], pid, "{report}");
    assert_eq!(store.stats().await.expect("stats").granules, 0);
    store
        .release_lease(source.id, "test-holder")
        .await
        .expect("release");

    // Held by a process of another host that is gone (its PID does not exist here): never
    // judged from this host, so waited out until the lease expires.
    let remote = LeaseHolder {
        id: "remote".into(),
        host: Some("elsewhere.example".into()),
        pid: Some(u32::MAX - 1),
        scope: Some("another-boot/pid:[1]".into()),
        start_ticks: Some(1),
    };
    assert_eq!(
        store
            .try_acquire_lease(source.id, &remote, Duration::from_secs(3))
            .await
            .expect("lease"),
        LeaseGrant::Acquired
    );
    let o = sync(&[]).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "held by pid {} on host elsewhere.example",
            u32::MAX - 1
        )),
        "{err}"
    );
    let o = sync(&["--wait"]).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("waiting for it (at most 1h)"), "{err}");
    assert!(err.contains("resumed an interrupted sync"), "{err}");
    assert_eq!(
        store.stats().await.expect("stats").granules,
        server.granule_count()
    );
}

#[tokio::test]
async fn sources_commands() {
    let db = fresh_db(Backend::Sqlite).await;
    let url = "http://127.0.0.1:9/thredds/catalog.xml";
    let o = threddex(&[
        "sources",
        "add",
        url,
        "--name",
        "a",
        "--every",
        "2h",
        "--rule",
        "/latest/=live",
        "--rule",
        r"/\d{8}/=archival",
        "--db",
        &db.url,
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    // Bad rule and bad interval are rejected before anything is written.
    let o = threddex(&[
        "sources",
        "add",
        url,
        "--rule",
        "x=sometimes",
        "--db",
        &db.url,
    ])
    .await;
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("class must be"),
        "{}",
        text(&o.stderr)
    );
    let o = threddex(&["sources", "add", url, "--every", "5w", "--db", &db.url]).await;
    assert!(!o.status.success());
    // Taken name/URL.
    let o = threddex(&["sources", "add", url, "--name", "a", "--db", &db.url]).await;
    assert!(!o.status.success());
    let o = threddex(&["sources", "list", "--json", "--db", &db.url]).await;
    assert!(o.status.success());
    let line = text(&o.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("json");
    assert_eq!(v["name"], "a");
    assert_eq!(v["every_secs"], 7200);
    assert_eq!(v["rules"][0]["class"], "live");
    assert_eq!(v["rules"][1]["pattern"], r"/\d{8}/");
    let o = threddex(&["sources", "list", "--db", &db.url]).await;
    assert!(text(&o.stdout).contains("2h"), "{}", text(&o.stdout));
    let o = threddex(&["sources", "remove", "a", "--db", &db.url]).await;
    assert!(o.status.success());
    let o = threddex(&["sources", "remove", "a", "--db", &db.url]).await;
    assert_eq!(o.status.code(), Some(2));
    let o = threddex(&["sync", "--source", "a", "--db", &db.url]).await;
    assert_eq!(o.status.code(), Some(2));
}
