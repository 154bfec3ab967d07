//! `threddex serve` killed with SIGKILL in the middle of webhook deliveries, then started
//! again: the receiver ends with every event (duplicates allowed, with the same IDs and
//! bodies), first seen in log order.

use std::collections::BTreeMap;
use std::time::Duration;

use threddex_sim::{Reply, WebhookReceiver};
use threddex_store::prelude::*;
use threddex_store::{
    Batch, CatalogState, CatalogStatus, ChangeQuery, CollectionUpsert, Granule, NewSource,
};
use threddex_store_sqlite::SqliteStore;

use super::common::{self, Service};

const CAT: &str = "http://127.0.0.1:9/thredds/catalog/k/catalog.xml";
const EVENTS: usize = 150;

fn granule(i: usize) -> Granule {
    Granule {
        collection_id: "kill:coll".into(),
        granule_id: format!("g{i:04}.nc"),
        name: format!("g{i:04}.nc"),
        url_path: None,
        start: chrono::DateTime::from_timestamp(1_700_000_000 + i as i64 * 60, 0),
        end: None,
        size: None,
        modified: None,
        catalog_url: CAT.into(),
    }
}

#[tokio::test]
async fn serve_killed_mid_delivery_delivers_everything_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("threddex.db");
    std::fs::write(
        dir.path().join("threddex.toml"),
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[sync]\nscheduler = false\n\
             [changes]\npoll = \"20ms\"\n\
             [notify.webhooks]\nallow_private_targets = true\ninitial_backoff = \"50ms\"\n\
             timeout = \"3s\"\n",
            db.display()
        ),
    )
    .expect("config");
    let rx = WebhookReceiver::start().await.expect("receiver");
    // Each acknowledgement takes a while: deliveries are under way when the kill comes.
    rx.set_default(Reply::Slow(Duration::from_millis(15)));

    let out = common::run(dir.path(), &["subscriptions", "add", &rx.url]).await;
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = common::stdout(&out);
    assert!(text.contains("secret whsec_"), "{text}");
    let listed = common::run(dir.path(), &["subscriptions", "list"]).await;
    assert!(
        common::stdout(&listed).contains("active"),
        "{}",
        common::stdout(&listed)
    );

    let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("open");
    let src = store
        .add_source(&NewSource {
            name: "k".into(),
            url: "http://127.0.0.1:9/thredds/catalog.xml".into(),
            ..NewSource::default()
        })
        .await
        .expect("source");
    store
        .write_batch(&Batch {
            catalogs: vec![CatalogState {
                status: CatalogStatus::Ok,
                ..CatalogState::pending(CAT, src.id, None, 0)
            }],
            collections: vec![CollectionUpsert {
                id: "kill:coll".into(),
                source_id: src.id,
                title: "Kill".into(),
                template: None,
                catalog_url: CAT.into(),
                services: vec![],
                metadata: serde_json::json!({}),
                summary: None,
                keywords: vec![],
                bbox: None,
            }],
            ..Batch::default()
        })
        .await
        .expect("collection");
    for i in 0..EVENTS {
        store
            .write_batch(&Batch {
                granules: vec![granule(i)],
                ..Batch::default()
            })
            .await
            .expect("granule");
    }
    let want: Vec<String> = store
        .changes(&ChangeQuery::default())
        .await
        .expect("changes")
        .changes
        .iter()
        .map(|c| c.seq.to_string())
        .collect();
    assert_eq!(want.len(), EVENTS + 1, "the collection and each granule");

    let serve = Service::start(dir.path(), &["serve"]).await;
    assert!(
        rx.wait_until(Duration::from_secs(60), |r| r.len() >= 40)
            .await,
        "deliveries started"
    );
    serve.kill9().await;
    let at_kill = rx.count();
    assert!(at_kill < want.len(), "killed in the middle ({at_kill})");

    let serve = Service::start(dir.path(), &["serve"]).await;
    let done = rx
        .wait_until(Duration::from_secs(120), |r| {
            let seen: std::collections::HashSet<&str> = r.iter().map(|x| x.id()).collect();
            want.iter().all(|w| seen.contains(w.as_str()))
        })
        .await;
    let got = rx.received();
    assert!(
        done,
        "every event after the restart; got {} requests",
        got.len()
    );
    // Same ID, same event; first seen in log order; nothing that is not in the log.
    let mut bodies: BTreeMap<&str, &[u8]> = BTreeMap::new();
    let mut first_seen = Vec::new();
    for r in &got {
        match bodies.get(r.id()) {
            Some(b) => assert_eq!(*b, &r.body[..], "a duplicate of {} differs", r.id()),
            None => {
                bodies.insert(r.id(), &r.body[..]);
                first_seen.push(r.id().to_owned());
            }
        }
    }
    assert_eq!(first_seen, want);
    eprintln!(
        "{} requests for {} events ({} before the kill)",
        got.len(),
        want.len(),
        at_kill
    );
    serve.stop().await;
}

/// `threddex subscriptions add|list|resume|deliveries|remove` on the database; a private
/// target needs `notify.webhooks.allow_private_targets`.
#[tokio::test]
async fn subscriptions_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::run(
        dir.path(),
        &["subscriptions", "add", "http://127.0.0.1:9/hook"],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("allow_private_targets"),
        "{}",
        common::stderr(&out)
    );
    std::fs::write(
        dir.path().join("threddex.toml"),
        "[notify.webhooks]\nallow_private_targets = true\n",
    )
    .expect("config");
    let out = common::run(
        dir.path(),
        &[
            "subscriptions",
            "add",
            "http://127.0.0.1:9/hook",
            "--collection",
            "a/b",
            "--bbox",
            "0,0,10,10",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stdout(&out).starts_with("subscription 1 -> http://127.0.0.1:9/hook"));
    let out = common::run(dir.path(), &["subscriptions", "list", "--json"]).await;
    let v: serde_json::Value =
        serde_json::from_str(common::stdout(&out).trim()).expect("one JSON line");
    assert_eq!(v["filter"]["collections"][0], "a/b");
    assert_eq!(v["status"], "active");
    assert!(v.get("secret").is_none());
    let out = common::run(
        dir.path(),
        &["subscriptions", "resume", "1", "--after", "5"],
    )
    .await;
    assert!(!out.status.success(), "no position 5 in an empty log");
    let out = common::run(dir.path(), &["subscriptions", "resume", "1"]).await;
    assert!(common::stdout(&out).contains("active from cursor 0"));
    let out = common::run(dir.path(), &["subscriptions", "deliveries", "1"]).await;
    assert!(out.status.success() && common::stdout(&out).is_empty());
    let out = common::run(dir.path(), &["subscriptions", "remove", "1"]).await;
    assert!(out.status.success());
    let out = common::run(dir.path(), &["subscriptions", "remove", "1"]).await;
    assert!(!out.status.success());
    assert!(common::stderr(&out).contains("no subscription 1"));
}
