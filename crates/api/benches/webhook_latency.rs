//! Webhook latency: from a granule appearing on the simulated TDS to the webhook receiving
//! it. Each round advances the simulated clock by one file interval (a new granule per
//! station appears in today's folder), syncs the source (the sync commits the new granules
//! and their change-log entries), and waits for the receiver on 127.0.0.1 to get the
//! event. The delivery worker is the one `threddex serve` runs, inside
//! [`threddex_api::serve`], with the default settings (it looks for new entries every 250 ms).
//!
//! `bench/webhook-latency.sh` (or `cargo bench -p threddex-api --bench webhook_latency`);
//! `ROUNDS` (default 40), `DB` (default: a SQLite file in a temporary directory; a
//! `postgres://` URL of an existing database to use Postgres).
//!
//! Printed: per round, the time from the sync's commit (the event's `time`: when the write
//! transaction appended the entry, just before it committed) to the receiver's arrival, and
//! from the clock advance (the granule "appears") to the arrival, which includes the sync;
//! then the median, 95th percentile and maximum of both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use threddex_api::{ApiConfig, AppState};
use threddex_crawler::{CrawlConfig, Harvester, Progress, SyncOptions, Syncer};
use threddex_sim::{NexradSpec, SimClock, SimConfig, SimServer, TreeSpec, WebhookReceiver};
use threddex_store::{NewSource, Store, SubscriptionFilter};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{name}: median {:.0} ms, p95 {:.0} ms, max {:.0} ms (n = {})",
        percentile(&v, 0.5).as_secs_f64() * 1e3,
        percentile(&v, 0.95).as_secs_f64() * 1e3,
        v.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        v.len()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(40);
    let start: DateTime<Utc> = "2024-01-08T00:30:00Z".parse().unwrap();
    let sim = SimServer::start(SimConfig {
        tree: TreeSpec::Nexrad(NexradSpec {
            products: 1,
            stations: 2,
            days: 3,
            files_per_day: 24,
        }),
        clock: SimClock::fixed(start),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("DB")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let store: Arc<dyn Store> = if url.starts_with("postgres") {
        Arc::new(
            threddex_store_postgres::PostgresStore::connect(&url)
                .await
                .unwrap(),
        )
    } else {
        Arc::new(
            threddex_store_sqlite::SqliteStore::connect(&url)
                .await
                .unwrap(),
        )
    };
    let source = store
        .ensure_source(&NewSource {
            name: format!("sim-{}", sim.addr().port()),
            url: sim.root_catalog_url(),
            ..NewSource::default()
        })
        .await
        .unwrap();
    let clock = sim.clock().clone();
    let syncer = Syncer::new(
        Harvester::new(CrawlConfig {
            rate: 10_000.0,
            respect_robots: false,
            ..CrawlConfig::default()
        })
        .unwrap(),
        Arc::clone(&store),
        SyncOptions {
            clock: Arc::new(move || clock.now()),
            ..SyncOptions::default()
        },
    );
    syncer
        .sync_source(&source, Arc::new(Progress::default()))
        .await
        .unwrap();

    let rx = WebhookReceiver::start().await.unwrap();
    threddex_notify::webhook::register(&*store, &rx.url, SubscriptionFilter::default(), None, true)
        .await
        .unwrap();
    let mut config = ApiConfig::default();
    config.webhooks.allow_private_targets = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let state = AppState::new(Arc::clone(&store), None, config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(threddex_api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    // Let the worker start.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut from_commit = Vec::new();
    let mut from_appear = Vec::new();
    for round in 0..rounds {
        let before = rx.count();
        let appeared = Instant::now();
        sim.clock().advance(chrono::Duration::hours(1));
        let report = syncer
            .sync_source(&source, Arc::new(Progress::default()))
            .await
            .unwrap();
        let (head, _) = store.change_head().await.unwrap();
        let head_id = head.to_string();
        let ok = rx
            .wait_until(Duration::from_secs(30), |r| {
                r.iter().skip(before).any(|x| x.id() == head_id)
            })
            .await;
        assert!(ok, "round {round}: event {head} not delivered");
        let got = rx.received();
        let hit = got.iter().find(|x| x.id() == head_id).unwrap();
        let received = hit.at;
        // The event's `time` is when its transaction appended it, just before the commit.
        let event: serde_json::Value = serde_json::from_slice(&hit.body).unwrap();
        let appended: DateTime<Utc> = event["time"].as_str().unwrap().parse().unwrap();
        let received_wall = Utc::now() - (Instant::now() - received);
        let c = (received_wall - appended).to_std().unwrap_or_default();
        let a = received.saturating_duration_since(appeared);
        println!(
            "round {round:3}: +{} granules, commit -> webhook {:4.0} ms, appear -> webhook {:4.0} ms",
            report.harvest.granules_inserted,
            c.as_secs_f64() * 1e3,
            a.as_secs_f64() * 1e3
        );
        from_commit.push(c);
        from_appear.push(a);
    }
    summary("sync commit -> webhook received", from_commit);
    summary(
        "granule appears -> webhook received (includes the sync)",
        from_appear,
    );
    let _ = stop.send(());
    let _ = server.await;
    sim.shutdown().await;
}
