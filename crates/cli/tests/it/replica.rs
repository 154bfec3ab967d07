//! `serve --read-db`: search reads from a streaming replica. The test makes a primary cluster
//! and a replica of it (`pg_basebackup -R`, both its own clusters on free ports, see
//! `common::pg_cluster`), syncs a simulated server into the primary with `threddex sync`, and
//! serves with `--db primary --read-db replica`:
//!
//! - answers equal the primary's index once the replica has caught up;
//! - with the replica's replay paused, a second sync's new granules are on the primary but not
//!   in the answers (they come from the replica), and `indexed_through` is no later than the
//!   replica's replay point, although the primary read its catalogs after it;
//! - once replay resumes, the answers (granules and `indexed_through`) catch up with the
//!   primary by themselves.
//!
//! Needs the PostgreSQL server binaries: with `CI=true` their absence fails the test;
//! elsewhere it is skipped with a note.

use super::common;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::pg_cluster::{Cluster, in_ci, pg_bin};
use common::*;
use threddex_sim::{NexradSpec, SimClock, SimConfig, SimServer, TreeSpec};
use threddex_store::prelude::*;
use threddex_store::{CollectionQuery, GranuleQuery};
use threddex_store_postgres::PostgresStore;

const COLLECTION: &str = "edu.ucar.unidata:NWS/NEXRAD3/N0Q/FTG/Level3_FTG_N0Q.nids";

/// Granule IDs in the primary's index for the collection.
async fn primary_ids(primary: &PostgresStore) -> Vec<String> {
    primary
        .list_granules(&GranuleQuery {
            collection_id: COLLECTION.into(),
            start: None,
            end: None,
            after: None,
            limit: 0,
        })
        .await
        .expect("primary listing")
        .into_iter()
        .map(|g| g.granule_id)
        .collect()
}

/// `/index` of the collection (one page holds it all): granule IDs and `indexed_through`.
async fn served(base: &str) -> (Vec<String>, Option<DateTime<Utc>>) {
    let url = format!(
        "{base}/index?collection={}&limit=1000",
        COLLECTION.replace(':', "%3A").replace('/', "%2F")
    );
    let (status, v) = get_json(&url).await;
    assert_eq!(status, 200, "{url}: {v}");
    assert!(v["next"].is_null(), "one page: {v}");
    let ids = v["granules"]
        .as_array()
        .expect("granules")
        .iter()
        .map(|g| g["id"].as_str().expect("id").to_owned())
        .collect();
    let through = v["indexed_through"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    (ids, through)
}

/// Wait until the replica has replayed everything the primary has written so far.
async fn caught_up(primary: &PostgresStore, replica: &sqlx::PgPool) {
    let lsn: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
        .fetch_one(primary.pool())
        .await
        .expect("primary LSN");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done: bool = sqlx::query_scalar("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn")
            .bind(&lsn)
            .fetch_one(replica)
            .await
            .expect("replica LSN");
        if done {
            return;
        }
        assert!(Instant::now() < deadline, "the replica did not reach {lsn}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reads_from_a_streaming_replica_that_catches_up() {
    let Some(bin) = pg_bin() else {
        let msg = "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin \
                   (apt-get install postgresql)";
        assert!(!in_ci(), "{msg}");
        eprintln!("skipping the read replica test: {msg}");
        return;
    };
    let primary_cluster = Cluster::create(bin);
    // The schema is made on the primary (the replica is read-only) before the copy.
    let primary = PostgresStore::connect(&primary_cluster.url())
        .await
        .expect("primary");
    let replica_cluster = Cluster::replica_of(&primary_cluster);
    let replica = sqlx::PgPool::connect(&replica_cluster.url())
        .await
        .expect("replica");
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&replica)
        .await
        .expect("replica state");
    assert!(in_recovery, "the second cluster is a standby");

    let sim = SimServer::start(SimConfig {
        tree: TreeSpec::Nexrad(NexradSpec {
            products: 2,
            stations: 2,
            days: 2,
            files_per_day: 48,
        }),
        // Now: today's folders are live, so every sync reads them again.
        clock: SimClock::fixed(Utc::now()),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    // Refreshes on demand are throttled for an hour: answers come from the index as synced.
    std::fs::write(
        dir.path().join("threddex.toml"),
        format!(
            "[database]\nurl = \"{}\"\npool_size = 2\n\
             [api]\nmin_refresh_interval = \"1h\"\n\
             [crawl]\nrate = 1000.0\n\
             [sync]\nscheduler = false\n\
             [[sources]]\nname = \"sim\"\nurl = \"{}\"\nevery = \"1h\"\n",
            primary_cluster.url(),
            sim.root_catalog_url()
        ),
    )
    .expect("config");
    let out = run(dir.path(), &["sync"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let first = primary_ids(&primary).await;
    assert!(!first.is_empty(), "the first sync indexed the collection");

    let svc = Service::start(
        dir.path(),
        &[
            "serve",
            "--read-db",
            &replica_cluster.url(),
            "--no-scheduler",
        ],
    )
    .await;
    assert!(
        svc.head.iter().any(|l| l.contains("search reads from")),
        "{:?}",
        svc.head
    );
    let base = svc.base.clone();
    caught_up(&primary, &replica).await;
    let (ids, _) = served(&base).await;
    assert_eq!(ids, first, "answers equal the primary's index");
    let (status, v) = get_json(&format!("{base}/collections?limit=100")).await;
    assert_eq!(status, 200);
    let on_primary = primary
        .list_collections(&CollectionQuery {
            limit: 0,
            ..CollectionQuery::default()
        })
        .await
        .expect("collections");
    assert_eq!(
        v["collections"].as_array().map(Vec::len),
        Some(on_primary.len()),
        "{v}"
    );

    // Replay paused: the next sync reaches the primary only.
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&replica)
        .await
        .expect("pause replay");
    let paused_at = Utc::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    sim.clock().advance(chrono::Duration::hours(8));
    let out = run(dir.path(), &["sync"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let second = primary_ids(&primary).await;
    // New granules on the primary (eight hours on, the sync may also have expired a day
    // folder that left the server's two-day window, so the count may fall).
    let new_on_primary = second.iter().filter(|g| !first.contains(g)).count();
    assert!(
        new_on_primary > 0,
        "the second sync added granules on the primary ({} then {}): {}",
        first.len(),
        second.len(),
        stderr(&out)
    );
    // The primary read the collection's live catalogs again after the pause (the earliest
    // of those reads: `indexed_through` is one of them once the answers catch up).
    let read_on_primary = primary
        .catalogs_for_collection(COLLECTION)
        .await
        .expect("catalogs")
        .iter()
        .filter_map(|c| c.last_fetch)
        .filter(|t| *t > paused_at)
        .min()
        .expect("catalogs read again by the second sync");
    // Past the API's freshness cache (5 s), so the answer's freshness is read anew.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (ids, through) = served(&base).await;
    assert_eq!(ids, first, "answers come from the paused replica");
    let through = through.expect("indexed_through");
    assert!(
        through <= paused_at,
        "indexed_through {through} is no later than the replica's replay point (paused at \
         {paused_at}), although the primary read the catalogs again after it"
    );

    // Replay resumed: the answers catch up by themselves.
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&replica)
        .await
        .expect("resume replay");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (ids, through) = served(&base).await;
        if ids == second && through.is_some_and(|t| t >= read_on_primary) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the answers did not catch up: {} of {} granules, indexed_through {through:?} \
             (the primary read the catalogs at {read_on_primary})",
            ids.len(),
            second.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let log = svc.stop().await.join("\n");
    assert!(!log.contains("panicked"), "{log}");
    sim.shutdown().await;
}
