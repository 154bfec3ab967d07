//! The shared crawl frontier (`Frontier`) and the per-host limits shared between processes
//! (`HostLimits`), migration 0018: claims with `FOR UPDATE SKIP LOCKED`, expiry and takeover,
//! the fence that refuses a stale claim holder's write, children queued in the round, rounds
//! that close only when nothing is queued, host slots and the shared token bucket.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use threddex_store::prelude::*;
use threddex_store::testsuite::{all_granules, collection, fetched, granule, t};
use threddex_store::{
    Batch, CatalogState, CatalogStatus, FencedWrite, Frontier, HostLimits, LeaseGrant, LeaseHolder,
    NewRound, RoundCounts,
};
use threddex_store_postgres::PostgresStore;

use super::common::{self, CAT};

const ROUND: &str = "round:test";

/// A source at [`CAT`] with an open round holding its lease; the source's ID.
async fn open_round(store: &PostgresStore, queue: &[String], new: &[CatalogState]) -> i64 {
    let id = common::source(store).await;
    let grant = store
        .try_acquire_lease(id, &LeaseHolder::named(ROUND), Duration::from_secs(60))
        .await
        .expect("store");
    assert_eq!(grant, LeaseGrant::Acquired);
    let round = NewRound {
        source_id: id,
        lease_holder: ROUND.into(),
        run_id: None,
    };
    assert!(store.open_round(&round, queue, new).await.expect("store"));
    // A second round of the same source is refused.
    assert!(!store.open_round(&round, &[], &[]).await.expect("store"));
    id
}

/// The root's read: its state, a collection and two granules, and one new child.
fn read_of_root(source: i64, marker: &str) -> Batch {
    let child = format!("{}/child/catalog.xml", CAT.trim_end_matches("/catalog.xml"));
    Batch {
        catalogs: vec![
            CatalogState {
                content_hash: Some(marker.into()),
                ..fetched(CAT, source, None, 0)
            },
            CatalogState::pending(child, source, Some(CAT.into()), 1),
        ],
        collections: vec![collection("a:c", source, CAT)],
        granules: vec![
            granule("a:c", &format!("{marker}/g1"), CAT, Some(t(0))),
            granule("a:c", &format!("{marker}/g2"), CAT, Some(t(60))),
        ],
        complete_catalogs: vec![CAT.into()],
        ..Batch::default()
    }
}

#[tokio::test]
async fn a_stale_claim_holder_cannot_write_after_takeover() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let root = CatalogState::pending(CAT, 0, None, 0);
    let source = {
        // The pending start catalog needs the source's ID: register first, then open.
        let id = open_round(&store, &[], &[]).await;
        let root = CatalogState {
            source_id: id,
            ..root
        };
        // Queue it through a fresh round (the first one is closed at once: nothing queued).
        let closed = store.close_round(id, ROUND, t(0)).await.expect("store");
        assert!(closed.is_some(), "an empty round closes");
        let round = NewRound {
            source_id: id,
            lease_holder: ROUND.into(),
            run_id: None,
        };
        assert!(store.open_round(&round, &[], &[root]).await.expect("store"));
        id
    };

    // A claims the start catalog for a short time; B cannot claim it meanwhile.
    let a = store
        .claim_catalogs("A", Duration::from_millis(800), 10)
        .await
        .expect("store");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].state.url, CAT);
    assert_eq!(a[0].state.status, CatalogStatus::Pending);
    assert!(
        store
            .claim_catalogs("B", Duration::from_secs(30), 10)
            .await
            .expect("store")
            .is_empty(),
        "a held claim is not handed out twice"
    );
    // A's claim expires without renewal; B takes it over with a higher fence.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let b = store
        .claim_catalogs("B", Duration::from_secs(30), 10)
        .await
        .expect("store");
    assert_eq!(b.len(), 1);
    assert!(b[0].token.fence > a[0].token.fence, "{b:?} vs {a:?}");

    // B writes first; A's late write is refused and changes nothing.
    let w = store
        .write_claimed(&b[0].token, read_of_root(source, "new"))
        .await
        .expect("store");
    assert!(
        matches!(w, FencedWrite::Written(ref o) if o.granules_inserted == 2),
        "{w:?}"
    );
    let late = store
        .write_claimed(&a[0].token, read_of_root(source, "old"))
        .await
        .expect("store");
    assert_eq!(late, FencedWrite::Stale);
    let stored = store.catalog(CAT).await.expect("store").expect("store");
    assert_eq!(stored.content_hash.as_deref(), Some("new"));
    let ids: Vec<String> = all_granules(&store, "a:c")
        .await
        .into_iter()
        .map(|g| g.granule_id)
        .collect();
    assert_eq!(ids, ["new/g1", "new/g2"]);
    // Renewing does not revive A's claim either, and A cannot end B's.
    store
        .renew_claims("A", &[CAT.to_owned()], Duration::from_secs(30))
        .await
        .expect("store");
    assert!(!store.complete_claim(&a[0].token).await.expect("store"));
    assert_eq!(
        store
            .write_claimed(&a[0].token, read_of_root(source, "old"))
            .await
            .expect("store"),
        FencedWrite::Stale
    );

    // The child the read found is queued in the round; the round stays open until both the
    // root's claim and the child's have ended.
    assert!(
        store
            .close_round(source, ROUND, t(100))
            .await
            .expect("store")
            .is_none(),
        "the round closed while catalogs were queued"
    );
    assert!(store.complete_claim(&b[0].token).await.expect("store"));
    let c = store
        .claim_catalogs("C", Duration::from_secs(30), 10)
        .await
        .expect("store");
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].state.depth, 1);
    assert_eq!(c[0].state.status, CatalogStatus::Pending);
    // The child's read, written under C's claim.
    let child_state = CatalogState {
        content_hash: Some("child".into()),
        ..fetched(&c[0].state.url, source, Some(CAT), 1)
    };
    let w = store
        .write_claimed(
            &c[0].token,
            Batch {
                catalogs: vec![child_state],
                ..Batch::default()
            },
        )
        .await
        .expect("store");
    assert!(matches!(w, FencedWrite::Written(_)));
    assert!(store.complete_claim(&c[0].token).await.expect("store"));
    store
        .add_round_counts(
            source,
            &RoundCounts {
                catalogs: 2,
                granules: 2,
                ..RoundCounts::default()
            },
        )
        .await
        .expect("store");
    let closed = store
        .close_round(source, ROUND, t(200))
        .await
        .expect("store")
        .expect("the round closes once nothing is queued");
    assert_eq!(closed.counts.catalogs, 2);
    assert_eq!(closed.counts.granules, 2);
    let s = store
        .source_by_name("s")
        .await
        .expect("store")
        .expect("store");
    assert_eq!(s.last_sync_at, Some(t(200)));
    assert!(store.open_rounds().await.expect("store").is_empty());
    // No round: nothing is handed out even when queued.
    assert!(
        store
            .claim_catalogs("D", Duration::from_secs(30), 10)
            .await
            .expect("store")
            .is_empty()
    );
}

#[tokio::test]
async fn concurrent_claimants_never_share_a_catalog() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let id = common::source(&store).await;
    let urls: Vec<String> = (0..60)
        .map(|i| format!("http://127.0.0.1/s/{i}/catalog.xml"))
        .collect();
    let pending: Vec<CatalogState> = urls
        .iter()
        .map(|u| CatalogState::pending(u.clone(), id, Some(CAT.into()), 1))
        .collect();
    store
        .try_acquire_lease(id, &LeaseHolder::named(ROUND), Duration::from_secs(60))
        .await
        .expect("store");
    let round = NewRound {
        source_id: id,
        lease_holder: ROUND.into(),
        run_id: None,
    };
    assert!(
        store
            .open_round(&round, &[], &pending)
            .await
            .expect("store")
    );
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let c = store
                    .claim_catalogs(&format!("w{w}"), Duration::from_secs(30), 3)
                    .await
                    .expect("store");
                if c.is_empty() {
                    break;
                }
                for claim in c {
                    assert!(store.complete_claim(&claim.token).await.expect("store"));
                    got.push(claim.state.url);
                }
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("store"));
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 60, "every queued catalog claimed exactly once");
    assert_eq!(distinct.len(), 60);
    // Without its lease, a round's catalogs are not handed out.
    let more: Vec<CatalogState> = vec![CatalogState::pending(
        "http://127.0.0.1/s/more/catalog.xml",
        id,
        Some(CAT.into()),
        1,
    )];
    store.close_round(id, ROUND, t(0)).await.expect("store");
    assert!(store.open_round(&round, &[], &more).await.expect("store"));
    store.release_lease(id, ROUND).await.expect("store");
    assert!(
        store
            .claim_catalogs("w", Duration::from_secs(30), 10)
            .await
            .expect("store")
            .is_empty()
    );
}

#[tokio::test]
async fn host_slots_and_the_shared_rate_hold_across_holders() {
    let store = common::fresh_store().await;
    let ttl = Duration::from_secs(30);
    let h = "http://127.0.0.1:1";
    let unlimited = f64::INFINITY;
    let s1 = store
        .take_host_slot(h, 2, unlimited, 1, "p1", ttl)
        .await
        .expect("store")
        .expect("first slot");
    let s2 = store
        .take_host_slot(h, 2, unlimited, 1, "p2", ttl)
        .await
        .expect("store")
        .expect("second slot");
    assert_ne!(s1.0, s2.0);
    assert!(
        store
            .take_host_slot(h, 2, unlimited, 1, "p3", ttl)
            .await
            .expect("store")
            .is_none(),
        "a third request in flight with a limit of 2"
    );
    // Another host is independent; a slot given back is free again.
    assert!(
        store
            .take_host_slot("http://127.0.0.1:2", 2, unlimited, 1, "p3", ttl)
            .await
            .expect("store")
            .is_some()
    );
    store.release_host_slot(h, s1.0, "p1").await.expect("store");
    assert!(
        store
            .take_host_slot(h, 2, unlimited, 1, "p3", ttl)
            .await
            .expect("store")
            .is_some()
    );
    // A killed holder's slots expire (short TTL, not renewed).
    let h2 = "http://127.0.0.1:3";
    store
        .take_host_slot(h2, 1, unlimited, 1, "dead", Duration::from_millis(300))
        .await
        .expect("store")
        .expect("slot");
    assert!(
        store
            .take_host_slot(h2, 1, unlimited, 1, "alive", ttl)
            .await
            .expect("store")
            .is_none()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        store
            .take_host_slot(h2, 1, unlimited, 1, "alive", ttl)
            .await
            .expect("store")
            .is_some()
    );

    // The rate: 20 requests/s with bursts of 2, reserved by three holders in turn: the k-th
    // request may go at (k - 2) / 20 s at the earliest, whoever asks.
    let h3 = "http://127.0.0.1:4";
    let start = Instant::now();
    let mut latest = Duration::ZERO;
    for k in 0..12u32 {
        let holder = format!("p{}", k % 3);
        let (slot, wait) = store
            .take_host_slot(h3, 100, 20.0, 2, &holder, ttl)
            .await
            .expect("store")
            .expect("slot");
        let due = start.elapsed() + wait;
        let earliest = Duration::from_millis(50) * k.saturating_sub(1);
        assert!(
            due + Duration::from_millis(5) >= earliest,
            "request {k} allowed at {due:?}, before {earliest:?}"
        );
        latest = latest.max(due);
        store
            .release_host_slot(h3, slot, &holder)
            .await
            .expect("store");
    }
    assert!(latest >= Duration::from_millis(450), "{latest:?}");
}

/// A day folder's read: its state (with the validators a later read sends) and `n` granules
/// of collection `a:c`, 60 s apart from `first`.
fn read_of_day(source: i64, url: &str, first: i64, n: i64) -> Batch {
    Batch {
        catalogs: vec![CatalogState {
            etag: Some(format!("\"{url}\"")),
            content_hash: Some(url.into()),
            ..fetched(url, source, Some(CAT), 1)
        }],
        collections: vec![collection("a:c", source, url)],
        granules: (0..n)
            .map(|i| {
                let at = first + 60 * i;
                granule("a:c", &format!("{url}/g{at}"), url, Some(t(at)))
            })
            .collect(),
        complete_catalogs: vec![url.into()],
        ..Batch::default()
    }
}

/// The sequence that lost a day folder of a collection when a worker was killed (issue 19):
/// worker A claims a day folder, writes its granules under the claim and dies before its
/// completion recomputes the collection's statistics (granule count, time extent). The claim
/// expires and B takes it over; B's conditional request is answered 304 (A stored the
/// validators), so B writes the catalog's state alone and its completion recomputes nothing.
/// The granules are stored but the collection does not count them. A claim given back at
/// shutdown after its write (the read was under way when the worker stopped) is the same case.
/// The takeover recomputes the statistics of the catalog's collections.
#[tokio::test]
async fn a_takeover_counts_what_the_previous_holder_wrote() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let id = common::source(&store).await;
    let day = |d: u32| {
        format!(
            "{}/day{d}/catalog.xml",
            CAT.trim_end_matches("/catalog.xml")
        )
    };
    let days: Vec<CatalogState> = (1..=2)
        .map(|d| CatalogState::pending(day(d), id, Some(CAT.into()), 1))
        .collect();
    store
        .try_acquire_lease(id, &LeaseHolder::named(ROUND), Duration::from_secs(60))
        .await
        .expect("store");
    let round = NewRound {
        source_id: id,
        lease_holder: ROUND.into(),
        run_id: None,
    };
    assert!(store.open_round(&round, &[], &days).await.expect("store"));

    // A (killed) holds one day folder; its claim has expired (a TTL of zero stands for "killed
    // with -9 one TTL ago"). A2 (shut down) holds the other one and gives it back.
    let a2 = store
        .claim_catalogs("A2", Duration::from_secs(30), 1)
        .await
        .expect("store");
    let a = store
        .claim_catalogs("A", Duration::ZERO, 1)
        .await
        .expect("store");
    assert_eq!((a.len(), a2.len()), (1, 1), "{a:?} {a2:?}");
    for (claim, first) in [(&a[0], 0), (&a2[0], 86_400)] {
        let w = store
            .write_claimed(&claim.token, read_of_day(id, &claim.state.url, first, 3))
            .await
            .expect("store");
        assert!(
            matches!(&w, FencedWrite::Written(o) if o.granules_inserted == 3),
            "{w:?}"
        );
    }
    // Neither completes (no statistics recomputed); A2 gives its claim back.
    store.release_claims("A2").await.expect("store");

    // B takes both over and reads each with A's validators: 304, the state alone is written.
    let b = store
        .claim_catalogs("B", Duration::from_secs(30), 10)
        .await
        .expect("store");
    assert_eq!(b.len(), 2, "{b:?}");
    for claim in &b {
        assert_eq!(claim.state.status, CatalogStatus::Ok);
        assert!(claim.state.etag.is_some());
        let unchanged = CatalogState {
            status: CatalogStatus::NotModified,
            ..claim.state.clone()
        };
        let w = store
            .write_claimed(
                &claim.token,
                Batch {
                    catalogs: vec![unchanged],
                    ..Batch::default()
                },
            )
            .await
            .expect("store");
        assert!(
            matches!(&w, FencedWrite::Written(o) if o.granules_inserted == 0),
            "{w:?}"
        );
        assert!(store.complete_claim(&claim.token).await.expect("store"));
    }
    // A's claim is over: its late write is refused.
    assert_eq!(
        store
            .write_claimed(&a[0].token, read_of_day(id, &a[0].state.url, 0, 5))
            .await
            .expect("store"),
        FencedWrite::Stale
    );

    // The round ends; the collection counts the six granules both days hold.
    assert_eq!(all_granules(&store, "a:c").await.len(), 6);
    let closed = store
        .close_round(id, ROUND, t(100))
        .await
        .expect("store")
        .expect("nothing queued");
    assert!(!closed.deletions);
    let c = store
        .collection("a:c")
        .await
        .expect("store")
        .expect("collection");
    assert_eq!(c.granule_count, 6);
    assert_eq!((c.start, c.end), (Some(t(0)), Some(t(86_400 + 120))));
}

/// Statistics are recomputed by every worker for the collections its claims touched, all at
/// once: a recomputation that has to wait for a row another transaction holds (a writer
/// upserting the collection, another recomputation) must not, once it goes on, write figures
/// older than the ones written meanwhile. Here a recomputation of `a:a` and `a:c` waits for
/// `a:a`; meanwhile granules of `a:c` are written and `a:c` recomputed (the writer's own
/// completion). When the first one goes on, `a:c` must still count them: one statement would
/// compute the figures from the snapshot of its start, before the write, and overwrite the
/// newer ones (a day folder of a collection not counted after a run of several workers).
#[tokio::test]
async fn a_refresh_that_waited_does_not_write_older_figures() {
    use sqlx::{Connection, Executor, PgConnection};

    let (url, _db) = common::fresh_database().await;
    let store = Arc::new(PostgresStore::connect(&url).await.expect("connect"));
    let id = common::source(&store).await;
    let other = format!("{}/other/catalog.xml", CAT.trim_end_matches("/catalog.xml"));
    store
        .write_batch(&Batch {
            collections: vec![collection("a:a", id, CAT), collection("a:c", id, CAT)],
            granules: vec![
                granule("a:a", "a/1", CAT, Some(t(0))),
                granule("a:c", "c/1", CAT, Some(t(0))),
            ],
            ..Batch::default()
        })
        .await
        .expect("store");
    let both = ["a:a".to_owned(), "a:c".to_owned()];
    store.refresh_collection_stats(&both).await.expect("store");
    // A granule of each not counted yet (written, its claim not completed yet): the figures
    // of both are to change.
    store
        .write_batch(&Batch {
            granules: vec![
                granule("a:a", "a/2", CAT, Some(t(30))),
                granule("a:c", "c/2", CAT, Some(t(30))),
            ],
            ..Batch::default()
        })
        .await
        .expect("store");

    // A transaction holds `a:a` (say a writer upserting it).
    let mut holder = PgConnection::connect(&url).await.expect("connect");
    holder.execute("BEGIN").await.expect("begin");
    holder
        .execute("SELECT 1 FROM collections WHERE id = 'a:a' FOR UPDATE")
        .await
        .expect("lock");
    let mut admin = PgConnection::connect(&url).await.expect("connect");
    async fn waiting(admin: &mut PgConnection) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'",
        )
        .fetch_one(admin)
        .await
        .expect("locks")
    }
    // The recomputation of both waits for it.
    let first = tokio::spawn({
        let store = Arc::clone(&store);
        let both = both.clone();
        async move { store.refresh_collection_stats(&both).await }
    });
    while waiting(&mut admin).await == 0 {
        assert!(!first.is_finished(), "the recomputation did not wait");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Meanwhile: two granules of `a:c` from another catalog, and `a:c` recomputed (it must
    // not wait for the first recomputation, which holds nothing while it waits).
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(&other, id, Some(CAT), 1)],
            granules: vec![
                granule("a:c", "c/3", &other, Some(t(60))),
                granule("a:c", "c/4", &other, Some(t(120))),
            ],
            ..Batch::default()
        })
        .await
        .expect("store");
    let second = tokio::spawn({
        let store = Arc::clone(&store);
        async move { store.refresh_collection_stats(&["a:c".to_owned()]).await }
    });
    while !second.is_finished() {
        if waiting(&mut admin).await > 1 {
            holder.execute("ROLLBACK").await.expect("rollback");
            panic!("the recomputation of a:c waited for the first one, which held a:c");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    second.await.expect("task").expect("store");
    let c = store.collection("a:c").await.expect("store").expect("a:c");
    assert_eq!((c.granule_count, c.end), (4, Some(t(120))));

    // The holder ends; the first recomputation goes on.
    holder.execute("COMMIT").await.expect("commit");
    first.await.expect("task").expect("store");
    let c = store.collection("a:c").await.expect("store").expect("a:c");
    assert_eq!(
        (c.granule_count, c.start, c.end),
        (4, Some(t(0)), Some(t(120)))
    );
    let a = store.collection("a:a").await.expect("store").expect("a:a");
    assert_eq!(a.granule_count, 2);
}
