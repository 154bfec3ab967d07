//! Webhooks on Postgres with two write transactions that commit out of order (as
//! `store-postgres`'s `a_reader_never_skips_a_transaction_that_commits_late`): the receiver
//! ends with every event, in commit order.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection};
use threddex_notify::WebhookConfig;
use threddex_sim::{Reply, WebhookReceiver};
use threddex_store::{Batch, ChangeQuery, Store, SubscriptionFilter};
use threddex_store_postgres::PostgresStore;
use threddex_store_postgres::testdb::fresh_database;

use super::common::{self, DAILY, OTHER, day};

async fn waiting(admin: &mut PgConnection, locktype: &str) -> bool {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND wait_event = $1",
    )
    .bind(locktype)
    .fetch_one(admin)
    .await
    .unwrap();
    n > 0
}

#[tokio::test]
async fn a_webhook_receives_late_commits_in_commit_order() {
    let (url, _guard) = fresh_database().await;
    let pg = Arc::new(PostgresStore::connect(&url).await.unwrap());
    common::fill(pg.as_ref()).await;
    let store: Arc<dyn Store> = pg.clone();
    let rx = WebhookReceiver::start().await.unwrap();
    let sub = threddex_notify::webhook::register(
        &*store,
        &rx.url,
        SubscriptionFilter::default(),
        None,
        true,
    )
    .await
    .unwrap();
    let worker = threddex_notify::webhook::worker::spawn(
        store.clone(),
        WebhookConfig {
            allow_private_targets: true,
            initial_backoff: Duration::from_millis(20),
            poll: Duration::from_millis(10),
            ..WebhookConfig::default()
        },
        String::new(),
    );

    // A's entry of DAILY stalls at commit on advisory lock 4343, which this test holds.
    let mut admin = PgConnection::connect(&url).await.unwrap();
    admin
        .execute(
            "CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF NEW.collection_id = 'test:sst/daily' THEN \
                 PERFORM pg_advisory_xact_lock_shared(4343); \
               END IF; RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER stall AFTER INSERT ON change_log \
               DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stall();",
        )
        .await
        .unwrap();
    let mut holder = PgConnection::connect(&url).await.unwrap();
    holder
        .execute("SELECT pg_advisory_lock(4343)")
        .await
        .unwrap();
    let write = |collection: &'static str, name: &'static str| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .write_batch(&Batch {
                    granules: vec![common::granule(collection, name, day(25), None)],
                    ..Batch::default()
                })
                .await
        })
    };
    let a = write(DAILY, "late_a.nc");
    while !waiting(&mut admin, "advisory").await {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let b = write(OTHER, "early_b.nc");
    while !waiting(&mut admin, "transactionid").await {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Neither is visible: the worker, polling every 10 ms, delivers nothing meanwhile.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 0, "nothing is delivered while A is pending");
    assert!(!b.is_finished(), "B cannot commit before A");
    holder
        .execute("SELECT pg_advisory_unlock(4343)")
        .await
        .unwrap();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();

    let all: Vec<(i64, String)> = store
        .changes(&ChangeQuery {
            after: sub.cursor,
            collections: vec![],
            limit: 0,
        })
        .await
        .unwrap()
        .changes
        .into_iter()
        .map(|c| (c.seq, c.collection_id))
        .collect();
    assert_eq!(
        all.iter().map(|(_, c)| c.as_str()).collect::<Vec<_>>(),
        [DAILY, OTHER],
        "A committed first"
    );
    let want: Vec<String> = all.iter().map(|(s, _)| s.to_string()).collect();
    let ok = rx
        .wait_until(Duration::from_secs(20), |r| r.len() >= want.len())
        .await;
    assert!(ok, "both delivered");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got: Vec<(String, String)> = rx
        .received()
        .iter()
        .map(|r| {
            let e: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert!(matches!(r.reply, Reply::Status(204)));
            (r.id().to_owned(), e["subject"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        got,
        [
            (want[0].clone(), DAILY.to_owned()),
            (want[1].clone(), OTHER.to_owned())
        ],
        "every event, in commit order"
    );
    let now = store.subscription(sub.id).await.unwrap().unwrap();
    assert_eq!(now.cursor, all[1].0);
    worker.abort();
}
