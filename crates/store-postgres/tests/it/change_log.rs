//! The change log under concurrent writers: positions follow commit order.

use std::sync::Arc;

use sqlx::{Connection, Executor, PgConnection};
use threddex_store::prelude::*;
use threddex_store::{Batch, ChangeKind, ChangeQuery, Granule};

use super::common::{self, CAT, coll, source, t};

/// Every entry after `cursor`, page by page (as a polling reader does), and the new cursor.
async fn poll(store: &dyn Store, cursor: &mut i64, seen: &mut Vec<(i64, String)>) {
    loop {
        let page = store
            .changes(&ChangeQuery {
                after: *cursor,
                collections: vec![],
                limit: 100,
            })
            .await
            .expect("changes");
        assert!(!page.expired);
        seen.extend(
            page.changes
                .iter()
                .map(|c| (c.seq, format!("{} {}", c.kind.as_str(), c.collection_id))),
        );
        *cursor = page.next;
        if page.changes.is_empty() {
            return;
        }
    }
}

fn granule(collection: &str, id: &str) -> Granule {
    Granule {
        collection_id: collection.into(),
        granule_id: id.into(),
        name: id.into(),
        url_path: None,
        start: Some(t(0)),
        end: None,
        size: None,
        modified: None,
        catalog_url: CAT.into(),
    }
}

/// Transaction A appends its entries and then stalls before its commit (a deferred trigger
/// of this test waits on an advisory lock the test holds); transaction B, which began later,
/// tries to commit meanwhile. A reader polling throughout never sees B's entry while A's is
/// pending, and ends with every entry, positions in commit order, none skipped: with a plain
/// serial, B (position 2) would be visible first and a reader at 2 would miss A's 1.
#[tokio::test]
async fn a_reader_never_skips_a_transaction_that_commits_late() {
    let (url, _guard) = common::fresh_database().await;
    let store = Arc::new(
        threddex_store_postgres::PostgresStore::connect(&url)
            .await
            .expect("connect"),
    );
    let src = source(&store).await;
    store
        .write_batch(&Batch {
            collections: vec![coll("slow", src), coll("fast", src)],
            ..Batch::default()
        })
        .await
        .expect("collections");
    let mut cursor = 0;
    let mut seen = Vec::new();
    poll(&*store, &mut cursor, &mut seen).await;
    assert_eq!(seen.len(), 2);

    // The stall: at commit, A's entry of `slow` waits for advisory lock 4242.
    let mut admin = PgConnection::connect(&url).await.expect("connect");
    admin
        .execute(
            "CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF NEW.collection_id = 'slow' THEN \
                 PERFORM pg_advisory_xact_lock_shared(4242); \
               END IF; RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER stall AFTER INSERT ON change_log \
               DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stall();",
        )
        .await
        .expect("trigger");
    let mut holder = PgConnection::connect(&url).await.expect("connect");
    holder
        .execute("SELECT pg_advisory_lock(4242)")
        .await
        .expect("lock");

    let a = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .write_batch(&Batch {
                    granules: vec![granule("slow", "a.nc")],
                    ..Batch::default()
                })
                .await
        }
    });
    // A is stalled at its commit once it waits for the advisory lock.
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
        )
        .fetch_one(&mut admin)
        .await
        .expect("locks");
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let b = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .write_batch(&Batch {
                    granules: vec![granule("fast", "b.nc")],
                    ..Batch::default()
                })
                .await
        }
    });
    // B waits for A's position lock: B is not visible, and the reader sees nothing new.
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND wait_event = 'transactionid'",
        )
        .fetch_one(&mut admin)
        .await
        .expect("locks");
        if waiting > 0 {
            break;
        }
        poll(&*store, &mut cursor, &mut seen).await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for _ in 0..5 {
        poll(&*store, &mut cursor, &mut seen).await;
    }
    assert_eq!(
        seen.len(),
        2,
        "nothing is visible while A is pending: {seen:?}"
    );
    assert!(!b.is_finished(), "B cannot commit before A");

    // A commits, then B; the reader, still at its cursor, gets both in commit order.
    holder
        .execute("SELECT pg_advisory_unlock(4242)")
        .await
        .expect("unlock");
    a.await.expect("join").expect("A");
    b.await.expect("join").expect("B");
    poll(&*store, &mut cursor, &mut seen).await;
    let tail: Vec<&str> = seen[2..].iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(tail, ["granules.added slow", "granules.added fast"]);
    let seqs: Vec<i64> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, [1, 2, 3, 4], "every position, in order, none skipped");
    let (head, _) = store.change_head().await.expect("head");
    assert_eq!((cursor, head), (4, 4));
    let all = store
        .changes(&ChangeQuery::default())
        .await
        .expect("all")
        .changes;
    assert_eq!(all.len(), 4);
    assert!(all.iter().any(|c| c.kind == ChangeKind::GranulesAdded));
}

/// A rewrite of a granule (transaction A) races its deletion by a complete listing of its
/// catalog (transaction B): A stalls between looking the row up and updating it (a trigger of
/// this test waits on an advisory lock at A's second row insert attempt), B commits its
/// deletion meanwhile if it can. Whatever the interleaving, the change log tells what the
/// index holds: the granule is listed exactly when the last entry naming it is an addition
/// (an upsert that silently re-inserted a deleted row would leave it listed after its
/// `granules.removed`).
#[tokio::test]
async fn a_rewrite_racing_a_deletion_keeps_the_log_true() {
    use threddex_store::{CatalogState, CatalogStatus, GranuleQuery};
    let (url, _guard) = common::fresh_database().await;
    let store = Arc::new(
        threddex_store_postgres::PostgresStore::connect(&url)
            .await
            .expect("connect"),
    );
    let src = source(&store).await;
    store
        .write_batch(&Batch {
            collections: vec![coll("c", src)],
            catalogs: vec![CatalogState {
                status: CatalogStatus::Ok,
                ..CatalogState::pending(CAT, src, None, 0)
            }],
            granules: vec![granule("c", "x.nc")],
            ..Batch::default()
        })
        .await
        .expect("setup");

    let mut admin = PgConnection::connect(&url).await.expect("connect");
    admin
        .execute(
            "CREATE SEQUENCE stall_hits; \
             CREATE FUNCTION stall_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF nextval('stall_hits') = 2 THEN \
                 PERFORM pg_advisory_xact_lock_shared(4243); \
               END IF; RETURN NEW; END $$; \
             CREATE TRIGGER stall_row BEFORE INSERT ON granules \
               FOR EACH ROW EXECUTE FUNCTION stall_row();",
        )
        .await
        .expect("trigger");
    let mut holder = PgConnection::connect(&url).await.expect("connect");
    holder
        .execute("SELECT pg_advisory_lock(4243)")
        .await
        .expect("lock");

    // A rewrites x (its size changed): the lookup finds it, the write stalls.
    let a = tokio::spawn({
        let store = store.clone();
        async move {
            let mut x = granule("c", "x.nc");
            x.size = Some(7);
            store
                .write_batch(&Batch {
                    granules: vec![x],
                    ..Batch::default()
                })
                .await
        }
    });
    let waits = |kind: &'static str| {
        format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND wait_event = '{kind}'"
        )
    };
    loop {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(waits("advisory")))
            .fetch_one(&mut admin)
            .await
            .expect("locks");
        if n > 0 {
            break;
        }
        assert!(!a.is_finished(), "A finished without stalling");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // B lists the catalog completely, without x: x is deleted, unless A holds it.
    let b = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .write_batch(&Batch {
                    granules: vec![granule("c", "y.nc")],
                    complete_catalogs: vec![CAT.into()],
                    ..Batch::default()
                })
                .await
        }
    });
    for _ in 0..250 {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(waits("transactionid")))
            .fetch_one(&mut admin)
            .await
            .expect("locks");
        if n > 0 || b.is_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    holder
        .execute("SELECT pg_advisory_unlock(4243)")
        .await
        .expect("unlock");
    a.await.expect("join").expect("A");
    b.await.expect("join").expect("B");

    let listed: Vec<String> = store
        .list_granules(&GranuleQuery {
            collection_id: "c".into(),
            start: None,
            end: None,
            after: None,
            limit: 100,
        })
        .await
        .expect("list")
        .into_iter()
        .map(|g| g.granule_id)
        .collect();
    assert!(listed.contains(&"y.nc".to_owned()), "{listed:?}");
    let log = store
        .changes(&ChangeQuery {
            after: 0,
            collections: vec!["c".into()],
            limit: 1000,
        })
        .await
        .expect("changes")
        .changes;
    let last_about_x = log
        .iter()
        .rfind(|c| {
            c.granule_ids
                .as_ref()
                .is_some_and(|ids| ids.iter().any(|i| i == "x.nc"))
        })
        .map(|c| c.kind);
    assert_eq!(
        listed.contains(&"x.nc".to_owned()),
        last_about_x == Some(ChangeKind::GranulesAdded),
        "listed {listed:?}, last entry naming x.nc: {last_about_x:?}, log {log:?}"
    );
}
