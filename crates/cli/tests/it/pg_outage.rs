//! PostgreSQL goes away for 30 s in the middle of a sync and of API load, then comes back.
//!
//! The database is a second cluster this test creates and owns (`initdb` / `pg_ctl` from
//! `/usr/lib/postgresql/*/bin`, on a free loopback port, as the `postgres` user when the test
//! runs as root); the shared cluster on 5432 is never touched. While it is stopped every API
//! answer that needs it is a 503 with a JSON error body and `Retry-After` (never a 500), and
//! `/readyz` is 503; once it is back the API answers again by itself, the interrupted sync has
//! ended (failed or partial, as its run says) and the next sync ends `ok` with the index
//! exactly what the server lists.
//!
//! Needs the PostgreSQL server binaries: with `CI=true` their absence fails the test;
//! elsewhere it is skipped with a note.

use super::common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::pg_cluster::{Cluster, in_ci, pg_bin};
use common::*;
use threddex_sim::{NexradSpec, SimClock, SimConfig, SimServer, TreeSpec};
use threddex_store::prelude::*;
use threddex_store::{CollectionQuery, GranuleQuery};
use threddex_store_postgres::PostgresStore;

const TOKEN: &str = "pg-outage-admin-token-3e9f0c2a";
const OUTAGE: Duration = Duration::from_secs(30);

async fn get(url: &str) -> (u16, Option<String>, String) {
    match client().get(url).bearer_auth(TOKEN).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (status, retry, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, None, e.to_string()),
    }
}

async fn post(url: &str) -> u16 {
    client()
        .post(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

async fn latest_run(base: &str) -> serde_json::Value {
    let (_, _, body) = get(&format!("{base}/runs?source=pg&limit=1")).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["runs"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_away_for_30s_mid_sync_and_mid_load() {
    let Some(bin) = pg_bin() else {
        let msg = "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin \
                   (apt-get install postgresql)";
        assert!(!in_ci(), "{msg}");
        eprintln!("skipping the PostgreSQL outage test: {msg}");
        return;
    };
    let cluster = Cluster::create(bin);

    // A tree that takes a while to sync (latency per request, two catalogs at a time).
    let sim = SimServer::start(SimConfig {
        tree: TreeSpec::Nexrad(NexradSpec {
            products: 3,
            stations: 4,
            days: 4,
            files_per_day: 24,
        }),
        clock: SimClock::fixed(chrono::Utc::now()),
        latency: Duration::from_millis(150),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("threddex.toml"),
        format!(
            "[database]\nurl = \"{}\"\npool_size = 4\n[admin]\ntoken = \"{TOKEN}\"\n\
             [crawl]\nconcurrency = 2\nrate = 500.0\nretries = 1\ntimeout = 5\n\
             [sync]\nscheduler = false\nlease_ttl = \"10s\"\n\
             [[sources]]\nname = \"pg\"\nurl = \"{}\"\nevery = \"1h\"\n",
            cluster.url(),
            sim.root_catalog_url()
        ),
    )
    .expect("config");
    let svc = Service::start(dir.path(), &["serve"]).await;
    let base = svc.base.clone();

    // The first sync of the source, cut short by the outage.
    assert_eq!(post(&format!("{base}/sources/pg/sync")).await, 202);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = latest_run(&base).await;
    assert_eq!(
        during["status"], "running",
        "the sync is under way: {during}"
    );
    cluster.stop();
    let stopped = Instant::now();
    let id = "edu.ucar.unidata%3ANWS%2FNEXRAD3%2FN0Q%2FFTG%2FLevel3_FTG_N0Q.nids";

    // While the database is away: 503 JSON (with Retry-After) or an answer from a cache, never
    // a 500; /readyz 503.
    let urls = [
        format!("{base}/collections?q=N0Q"),
        format!("{base}/index?collection={id}"),
        format!("{base}/runs"),
        format!("{base}/sources"),
    ];
    let mut unavailable = 0;
    while stopped.elapsed() < OUTAGE {
        for u in &urls {
            let (status, retry, body) = get(u).await;
            assert!(
                status == 200 || status == 503,
                "{u} answered {status} while the database was away: {body}"
            );
            if status == 503 {
                unavailable += 1;
                let v: serde_json::Value =
                    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{u}: not JSON: {body}"));
                assert!(v["error"]["message"].is_string(), "{u}: {body}");
                assert_eq!(retry.as_deref(), Some("5"), "{u}: Retry-After");
            }
        }
        let (ready, _, _) = get(&format!("{base}/readyz")).await;
        assert_eq!(ready, 503, "/readyz while the database is away");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(unavailable > 0, "no 503 while the database was away");
    cluster.start();

    // Recovers by itself.
    let back = Instant::now();
    loop {
        let (status, _, _) = get(&format!("{base}/collections?q=N0Q")).await;
        if status == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(60),
            "the API still answers {status} 60 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let recovered = back.elapsed();

    // The interrupted sync has ended one way or another (its lease expires), and the next one
    // completes: started after the outage, ok.
    let after = chrono::Utc::now();
    let deadline = Instant::now() + Duration::from_secs(180);
    let last = loop {
        assert!(Instant::now() < deadline, "no clean sync after the outage");
        let status = post(&format!("{base}/sources/pg/sync")).await;
        assert!(status == 202 || status == 409, "sync start: {status}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let run = latest_run(&base).await;
        let begun = run["started_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if begun.is_some_and(|t| t > after) && run["status"] != "running" {
            assert_eq!(run["status"], "ok", "{run}");
            break run;
        }
    };
    let log = svc.stop().await.join("\n");
    assert!(!log.contains(TOKEN), "the admin token shows in the log");
    assert!(!log.contains("panicked"), "{log}");
    eprintln!(
        "pg outage: sync before the stop {during}; {unavailable} answers 503 during {OUTAGE:?}; \
         API back {recovered:?} after the start; next sync {last}"
    );

    // Exactly what the server lists; no collection with figures from a half-written batch.
    let store = PostgresStore::connect(&cluster.url())
        .await
        .expect("postgres");
    let mut index = BTreeSet::new();
    let collections = store
        .list_collections(&CollectionQuery {
            limit: 0,
            ..CollectionQuery::default()
        })
        .await
        .expect("collections");
    for c in collections {
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
        assert_eq!(
            c.granule_count,
            i64::try_from(granules.len()).expect("count"),
            "{}",
            c.info.id
        );
        for g in granules {
            assert!(index.insert(g.granule_id.clone()), "{} twice", g.granule_id);
        }
    }
    let truth: BTreeSet<String> = sim.listed_granules().into_iter().map(|g| g.id).collect();
    assert_eq!(index.len(), truth.len(), "granules in the index vs listed");
    assert!(
        index == truth,
        "the index differs from the server's listing"
    );
    sim.shutdown().await;
}
