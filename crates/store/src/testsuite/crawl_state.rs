//! CrawlState: catalog states, atomic batches, collection statistics and the views each catalog lists.

use super::*;
use crate::{
    Batch, CatalogState, CatalogStatus, CatalogViews, Granule, IsoRecordUpdate,
    MAX_VIEWS_PER_CATALOG, NodeClass, Store, StoreError, View, ViewAccess, ViewKind,
};
use chrono::Duration;

/// Catalog state round trip, update, listing by source.
pub async fn test_catalog_state(store: &dyn Store) {
    let s = store
        .add_source(&new_source("s", "http://127.0.0.1/s/catalog.xml"))
        .await
        .expect("add");
    let root = "http://127.0.0.1/s/catalog.xml";
    let child = "http://127.0.0.1/s/2024/catalog.xml";
    let full = CatalogState {
        url: child.into(),
        source_id: s.id,
        parent_url: Some(root.into()),
        depth: 1,
        class: NodeClass::Daily,
        status: CatalogStatus::NotModified,
        last_fetch: Some(t(10) + Duration::microseconds(5)),
        etag: Some("\"abc\"".into()),
        last_modified: Some("Mon, 01 Jan 2024 00:00:00 GMT".into()),
        content_hash: Some("00ff".into()),
        last_changed: Some(t(5)),
        granule_count: 42,
        error: None,
        next_visit: Some(t(3600)),
        expires: Some(t(7200)),
        next_change: Some(t(21600)),
    };
    let root_state = CatalogState::pending(root, s.id, None, 0);
    store
        .write_batch(&Batch {
            catalogs: vec![full.clone(), root_state.clone()],
            ..Batch::default()
        })
        .await
        .expect("write");
    assert_eq!(store.catalog(child).await.expect("get"), Some(full.clone()));
    assert_eq!(
        store.catalog(root).await.expect("get"),
        Some(root_state.clone())
    );
    assert_eq!(
        store.catalog("http://127.0.0.1/none").await.expect("get"),
        None
    );
    // Children by parent.
    assert_eq!(
        store.child_catalogs(root).await.expect("children"),
        vec![child.to_string()]
    );
    assert!(store.child_catalogs(child).await.expect("none").is_empty());

    let failed = CatalogState {
        status: CatalogStatus::Failed,
        error: Some("HTTP 500".into()),
        etag: None,
        ..full.clone()
    };
    store
        .write_batch(&Batch {
            catalogs: vec![failed.clone()],
            ..Batch::default()
        })
        .await
        .expect("update");
    assert_eq!(
        store.catalog(child).await.expect("get"),
        Some(failed.clone())
    );
    let all = store.catalogs_of_source(s.id).await.expect("of source");
    assert_eq!(all.len(), 2);
    assert!(all.contains(&failed) && all.contains(&root_state));
    assert!(
        store
            .catalogs_of_source(s.id + 1)
            .await
            .expect("none")
            .is_empty()
    );
    let stats = store.stats().await.expect("stats");
    assert_eq!((stats.catalogs, stats.failed_catalogs), (2, 1));
}

/// The catalogs a sync re-reads, read through the indexes: pending ones (archival too),
/// failed non-archival ones, non-archival ones whose `next_visit` is unset or not after the
/// time asked for; never archival read ones, nor another source's.
pub async fn test_due_catalogs(store: &dyn Store) {
    let s = store
        .add_source(&new_source("s", "http://127.0.0.1/s/catalog.xml"))
        .await
        .expect("add");
    let other = store
        .add_source(&new_source("o", "http://127.0.0.1/o/catalog.xml"))
        .await
        .expect("add");
    let url = |n: &str| format!("http://127.0.0.1/s/{n}/catalog.xml");
    let state =
        |n: &str, class: NodeClass, status: CatalogStatus, next: Option<i64>| CatalogState {
            class,
            status,
            next_visit: next.map(t),
            ..CatalogState::pending(url(n), s.id, Some(url("root")), 1)
        };
    let mut root = CatalogState::pending(url("root"), s.id, None, 0);
    root.status = CatalogStatus::Ok;
    root.class = NodeClass::Live;
    root.next_visit = Some(t(50));
    let catalogs = vec![
        root.clone(),
        state("pending", NodeClass::Live, CatalogStatus::Pending, None),
        state(
            "pending-archival",
            NodeClass::Archival,
            CatalogStatus::Pending,
            None,
        ),
        state(
            "failed",
            NodeClass::Daily,
            CatalogStatus::Failed,
            Some(1_000),
        ),
        state(
            "failed-archival",
            NodeClass::Archival,
            CatalogStatus::Failed,
            None,
        ),
        state("archival", NodeClass::Archival, CatalogStatus::Ok, Some(10)),
        state(
            "archival-304",
            NodeClass::Archival,
            CatalogStatus::NotModified,
            None,
        ),
        state(
            "live-due",
            NodeClass::Live,
            CatalogStatus::NotModified,
            Some(100),
        ),
        state("daily-unset", NodeClass::Daily, CatalogStatus::Ok, None),
        state(
            "mixed-later",
            NodeClass::Mixed,
            CatalogStatus::Ok,
            Some(101),
        ),
        CatalogState::pending("http://127.0.0.1/o/x/catalog.xml", other.id, None, 0),
    ];
    store
        .write_batch(&Batch {
            catalogs: catalogs.clone(),
            ..Batch::default()
        })
        .await
        .expect("write");
    let plan = store.due_catalogs(s.id, t(100)).await.expect("due");
    let mut got: Vec<&str> = plan.due.iter().map(|c| c.url.as_str()).collect();
    got.sort_unstable();
    let mut want: Vec<String> = [
        "root",
        "pending",
        "pending-archival",
        "failed",
        "live-due",
        "daily-unset",
    ]
    .iter()
    .map(|n| url(n))
    .collect();
    want.sort_unstable();
    assert_eq!(got, want);
    // Whole states, ordered by depth then URL.
    assert_eq!(plan.due.first(), Some(&root));
    assert!(
        plan.due
            .windows(2)
            .all(|w| (w[0].depth, &w[0].url) < (w[1].depth, &w[1].url))
    );
    assert_eq!((plan.known, plan.archival), (10, 3));
    // Later, the one visit still ahead becomes due; another source's catalogs never are.
    let later = store.due_catalogs(s.id, t(101)).await.expect("due");
    assert_eq!(later.due.len(), 7);
    let none = store.due_catalogs(other.id + 1, t(100)).await.expect("due");
    assert_eq!((none.due.len(), none.known, none.archival), (0, 0, 0));
}

/// A pending state (a catalog listed by its parent, not yet read) written after the catalog's
/// own read does not replace it; it replaces another pending state.
pub async fn test_pending_state_keeps_read_state(store: &dyn Store) {
    let root = "http://127.0.0.1/s/catalog.xml";
    let child = "http://127.0.0.1/s/a/catalog.xml";
    let other = "http://127.0.0.1/s/b/catalog.xml";
    let s = setup(store, "s", root, "c").await;
    let read = CatalogState {
        etag: Some("\"e\"".into()),
        granule_count: 7,
        ..fetched(child, s, Some(root), 1)
    };
    store
        .write_batch(&Batch {
            catalogs: vec![read.clone(), CatalogState::pending(other, s, None, 0)],
            ..Batch::default()
        })
        .await
        .expect("write reads");
    // The parent's listing, written after its children's rows.
    store
        .write_batch(&Batch {
            catalogs: vec![
                CatalogState::pending(child, s, Some(root.into()), 1),
                CatalogState::pending(other, s, Some(root.into()), 1),
            ],
            ..Batch::default()
        })
        .await
        .expect("write listing");
    assert_eq!(store.catalog(child).await.expect("get"), Some(read.clone()));
    assert_eq!(
        store.catalog(other).await.expect("get"),
        Some(CatalogState::pending(other, s, Some(root.into()), 1)),
        "a pending state replaces a pending one"
    );
    // A failed read replaces a read state as before.
    let failed = CatalogState {
        status: CatalogStatus::Failed,
        error: Some("HTTP 500".into()),
        ..read.clone()
    };
    store
        .write_batch(&Batch {
            catalogs: vec![failed.clone()],
            ..Batch::default()
        })
        .await
        .expect("write failure");
    assert_eq!(store.catalog(child).await.expect("get"), Some(failed));
}

/// Derived figures are recomputed from granules; unchanged figures keep `updated_at`.
pub async fn test_refresh_collection_stats(store: &dyn Store) {
    let cat = "http://127.0.0.1/s/catalog.xml";
    setup(store, "s", cat, "c").await;
    store
        .write_batch(&Batch {
            collections: vec![collection("empty", 1, cat)],
            granules: vec![
                granule("c", "g/1.nc", cat, Some(t(100))),
                Granule {
                    end: Some(t(500)),
                    ..granule("c", "g/2.nc", cat, Some(t(200)))
                },
                granule("c", "g/3.nc", cat, Some(t(300))),
                granule("c", "g/4.nc", cat, None),
            ],
            ..Batch::default()
        })
        .await
        .expect("write");
    // Not refreshed yet.
    assert_eq!(
        store
            .collection("c")
            .await
            .expect("get")
            .expect("c")
            .granule_count,
        0
    );
    let ids = ["c".to_owned(), "empty".to_owned(), "missing".to_owned()];
    store.refresh_collection_stats(&ids).await.expect("refresh");
    let c = store.collection("c").await.expect("get").expect("c");
    assert_eq!(
        (c.granule_count, c.start, c.end),
        (4, Some(t(100)), Some(t(500)))
    );
    let e = store
        .collection("empty")
        .await
        .expect("get")
        .expect("empty");
    assert_eq!((e.granule_count, e.start, e.end), (0, None, None));

    store
        .refresh_collection_stats(&ids)
        .await
        .expect("refresh again");
    assert_eq!(
        store.collection("c").await.expect("get"),
        Some(c.clone()),
        "no change, no bump"
    );

    store
        .write_batch(&Batch {
            granules: vec![granule("c", "g/5.nc", cat, Some(t(900)))],
            ..Batch::default()
        })
        .await
        .expect("write");
    store
        .refresh_collection_stats(&ids[..1])
        .await
        .expect("refresh");
    let c2 = store.collection("c").await.expect("get").expect("c");
    assert_eq!((c2.granule_count, c2.end), (5, Some(t(900))));
    assert!(c2.updated_at >= c.updated_at);
    assert_eq!(c2.info, c.info);
}

/// Over generated histories of writes (granules timed and untimed, with and without ends, ends
/// before starts, granules re-listed with other times or in other catalogs, complete listings
/// that drop granules, deleted catalog trees), a refresh leaves each collection's count, first
/// start and last end equal to what its granule listing says.
pub async fn test_collection_stats_follow_granules(store: &dyn Store) {
    let cats: Vec<String> = (0..3)
        .map(|i| format!("http://127.0.0.1/s/{i}/catalog.xml"))
        .collect();
    let src = setup(store, "s", &cats[0], "A").await;
    store
        .write_batch(&Batch {
            catalogs: cats[1..].iter().map(|c| fetched(c, src, None, 0)).collect(),
            collections: vec![collection("B", src, &cats[0])],
            ..Batch::default()
        })
        .await
        .expect("setup");
    let colls = ["A".to_owned(), "B".to_owned()];
    // First a case made for it: the granule that starts last ends before it starts, and the
    // last end belongs to a granule that starts long before.
    store
        .write_batch(&Batch {
            granules: vec![
                Granule {
                    end: Some(t(1_000)),
                    ..granule("B", "g/early.nc", &cats[1], Some(t(0)))
                },
                Granule {
                    end: Some(t(10)),
                    ..granule("B", "g/late.nc", &cats[1], Some(t(5_000)))
                },
            ],
            ..Batch::default()
        })
        .await
        .expect("write");
    store
        .refresh_collection_stats(&colls)
        .await
        .expect("refresh");
    let b = store.collection("B").await.expect("get").expect("B");
    assert_eq!(
        (b.granule_count, b.start, b.end),
        (2, Some(t(0)), Some(t(1_000)))
    );
    // xorshift64: deterministic cases without a dependency.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        i64::try_from(state % n).expect("small")
    };
    for round in 0..60 {
        let mut batch = Batch::default();
        for cat in &cats {
            if next(10) < 3 {
                continue;
            }
            for _ in 0..next(9) {
                let coll = &colls[usize::try_from(next(2)).expect("index")];
                let id = format!("g/{}.nc", next(30));
                let start = (next(5) > 0).then(|| t(next(200_000)));
                let end = match (start, next(20)) {
                    (_, 0..=7) => None,
                    (Some(s), 8..=11) => Some(s - Duration::seconds(next(20_000) + 1)),
                    (Some(s), 12..=18) => Some(s + Duration::seconds(next(2_000))),
                    (Some(s), _) => Some(s + Duration::seconds(next(30_000))),
                    (None, _) => Some(t(next(300_000))),
                };
                batch.granules.push(Granule {
                    end,
                    ..granule(coll, &id, cat, start)
                });
            }
            if next(2) == 0 {
                batch.complete_catalogs.push(cat.clone());
            }
        }
        if next(12) == 0 {
            let gone = cats[usize::try_from(next(3)).expect("index")].clone();
            batch.granules.retain(|g| g.catalog_url != gone);
            batch.complete_catalogs.retain(|c| *c != gone);
            batch.delete_catalog_trees.push(gone);
        }
        store.write_batch(&batch).await.expect("write");
        store
            .refresh_collection_stats(&colls)
            .await
            .expect("refresh");
        for id in &colls {
            let listed = all_granules(store, id).await;
            let want = (
                i64::try_from(listed.len()).expect("count"),
                listed.iter().filter_map(|g| g.start).min(),
                listed.iter().filter_map(|g| g.end.or(g.start)).max(),
            );
            let c = store.collection(id).await.expect("get").expect("stored");
            assert_eq!(
                (c.granule_count, c.start, c.end),
                want,
                "collection {id} after round {round}"
            );
        }
    }
}

/// `catalogs_for_collection` lists exactly the catalogs holding the collection's granules.
pub async fn test_catalogs_for_collection(store: &dyn Store) {
    let s = store
        .add_source(&new_source("s", "http://127.0.0.1/s/catalog.xml"))
        .await
        .expect("add");
    let root = "http://127.0.0.1/s/catalog.xml";
    let d1 = "http://127.0.0.1/s/20240101/catalog.xml";
    let d2 = "http://127.0.0.1/s/20240102/catalog.xml";
    let other = "http://127.0.0.1/s/other/catalog.xml";
    let mut archival = fetched(d1, s.id, Some(root), 1);
    archival.class = NodeClass::Archival;
    let mut daily = fetched(d2, s.id, Some(root), 1);
    daily.class = NodeClass::Daily;
    store
        .write_batch(&Batch {
            catalogs: vec![
                fetched(root, s.id, None, 0),
                archival,
                daily,
                fetched(other, s.id, Some(root), 1),
            ],
            collections: vec![collection("c1", s.id, d1), collection("c2", s.id, other)],
            granules: vec![
                granule("c1", "a/f1.nc", d1, Some(t(0))),
                granule("c1", "a/f2.nc", d1, Some(t(60))),
                granule("c1", "a/f3.nc", d2, Some(t(86_400))),
                granule("c2", "b/f1.nc", other, Some(t(0))),
            ],
            ..Batch::default()
        })
        .await
        .expect("write");
    let cats = store.catalogs_for_collection("c1").await.expect("lookup");
    let urls: Vec<&str> = cats.iter().map(|c| c.url.as_str()).collect();
    assert_eq!(urls, vec![d1, d2]);
    assert_eq!(cats[0].class, NodeClass::Archival);
    assert_eq!(cats[1].class, NodeClass::Daily);
    let cats = store.catalogs_for_collection("c2").await.expect("lookup");
    assert_eq!(cats.len(), 1);
    assert_eq!(cats[0].url, other);
    assert!(
        store
            .catalogs_for_collection("nope")
            .await
            .expect("lookup")
            .is_empty()
    );
}

/// Writing a batch reports inserts; writing it again changes nothing.
pub async fn test_write_idempotent(store: &dyn Store) {
    let s = store
        .add_source(&new_source("s", "http://127.0.0.1/s/catalog.xml"))
        .await
        .expect("add");
    let cat = "http://127.0.0.1/s/catalog.xml";
    let granules: Vec<Granule> = (0..25)
        .map(|i| granule("c1", &format!("dir/f{i:03}.nc"), cat, Some(t(i * 60))))
        .collect();
    let batch = Batch {
        catalogs: vec![fetched(cat, s.id, None, 0)],
        collections: vec![collection("c1", s.id, cat), collection("c2", s.id, cat)],
        granules,
        complete_catalogs: vec![cat.into()],
        delete_catalog_trees: vec![],
        catalog_views: Vec::new(),
    };
    let first = store.write_batch(&batch).await.expect("first write");
    assert_eq!(first.granules_inserted, 25);
    assert_eq!(first.collections_inserted, 2);
    assert_eq!((first.granules_deleted, first.catalogs_deleted), (0, 0));
    let before = all_granules(store, "c1").await;
    let coll_before = store.collection("c1").await.expect("get");

    let second = store.write_batch(&batch).await.expect("second write");
    assert_eq!(
        second,
        Default::default(),
        "re-writing the same batch must change nothing"
    );
    assert_eq!(all_granules(store, "c1").await, before);
    assert_eq!(store.collection("c1").await.expect("get"), coll_before);
    assert_eq!(store.stats().await.expect("stats").granules, 25);

    // A partly new batch counts only the new granules.
    let mut more = batch.clone();
    more.granules
        .push(granule("c1", "dir/new.nc", cat, Some(t(-5))));
    more.granules[0].size = Some(7);
    let third = store.write_batch(&more).await.expect("third write");
    assert_eq!(third.granules_inserted, 1);
    assert_eq!(third.collections_inserted, 0);
    let after = all_granules(store, "c1").await;
    assert_eq!(after.len(), 26);
    assert_eq!(after[0].granule_id, "dir/new.nc");
    assert_eq!(after[1].size, Some(7), "an existing granule is updated");

    assert!(
        store
            .write_batch(&Batch::default())
            .await
            .expect("empty")
            .eq(&Default::default())
    );
}

/// Every granule field round trips, including absent ones and sub-second times.
pub async fn test_granule_round_trip(store: &dyn Store) {
    let cat = "http://127.0.0.1/s/catalog.xml";
    setup(store, "s", cat, "c").await;
    let plain = granule("c", "a/b/plain.nc", cat, Some(t(1)));
    let odd = Granule {
        collection_id: "c".into(),
        granule_id: "odd-id".into(),
        name: "A different name".into(),
        start: Some(t(2) + Duration::microseconds(250_001)),
        end: Some(t(3) + Duration::microseconds(999_999)),
        url_path: Some("x/y/odd.nc".into()),
        size: Some(i64::MAX),
        modified: None,
        catalog_url: cat.into(),
    };
    let bare = Granule {
        collection_id: "c".into(),
        granule_id: "dir/bare".into(),
        name: "bare".into(),
        start: None,
        end: None,
        url_path: None,
        size: None,
        modified: None,
        catalog_url: cat.into(),
    };
    let same_path = Granule {
        url_path: Some("same.nc".into()),
        ..granule("c", "p/same.nc", cat, Some(t(4)))
    };
    let batch = Batch {
        granules: vec![plain.clone(), odd.clone(), bare.clone(), same_path.clone()],
        ..Batch::default()
    };
    assert_eq!(
        store
            .write_batch(&batch)
            .await
            .expect("write")
            .granules_inserted,
        4
    );
    assert_eq!(
        all_granules(store, "c").await,
        vec![bare, plain, odd, same_path]
    );
    assert!(all_granules(store, "no-such-collection").await.is_empty());
}

/// A complete listing removes what the catalog no longer lists however its granules arrived:
/// written with the catalog's state in the same batch, in a later batch than its state, named
/// by granules of a catalog with no state, or moved in from another catalog.
pub async fn test_complete_listing_whatever_came_before(store: &dyn Store) {
    let a = "http://127.0.0.1/s/a/catalog.xml";
    let b = "http://127.0.0.1/s/b/catalog.xml";
    let c = "http://127.0.0.1/s/c/catalog.xml";
    let src = setup(store, "s", a, "x").await;
    // b: its state first, alone; its granules in a later batch, not complete.
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(b, src, None, 0)],
            ..Batch::default()
        })
        .await
        .expect("b state");
    store
        .write_batch(&Batch {
            granules: vec![
                granule("x", "b/1.nc", b, Some(t(1))),
                granule("x", "b/2.nc", b, Some(t(2))),
                // c has no state: its row comes from the granule.
                granule("x", "c/1.nc", c, Some(t(3))),
                granule("x", "c/2.nc", c, Some(t(4))),
                granule("x", "a/moving.nc", a, Some(t(5))),
            ],
            ..Batch::default()
        })
        .await
        .expect("granules");
    // The granule moves from a to b, read complete with its state.
    let out = store
        .write_batch(&Batch {
            catalogs: vec![fetched(b, src, None, 0)],
            granules: vec![
                granule("x", "b/1.nc", b, Some(t(1))),
                granule("x", "a/moving.nc", b, Some(t(5))),
            ],
            complete_catalogs: vec![b.into()],
            ..Batch::default()
        })
        .await
        .expect("b complete");
    assert_eq!(out.granules_deleted, 1, "b/2.nc");
    let out = store
        .write_batch(&Batch {
            catalogs: vec![fetched(c, src, None, 0)],
            granules: vec![granule("x", "c/2.nc", c, Some(t(4)))],
            complete_catalogs: vec![c.into()],
            ..Batch::default()
        })
        .await
        .expect("c complete");
    assert_eq!(out.granules_deleted, 1, "c/1.nc");
    // b read again, empty.
    let out = store
        .write_batch(&Batch {
            catalogs: vec![fetched(b, src, None, 0)],
            complete_catalogs: vec![b.into()],
            ..Batch::default()
        })
        .await
        .expect("b empty");
    assert_eq!(out.granules_deleted, 2, "b/1.nc and the moved one");
    let left: Vec<String> = all_granules(store, "x")
        .await
        .into_iter()
        .map(|g| g.granule_id)
        .collect();
    assert_eq!(left, vec!["c/2.nc".to_owned()]);
}

/// `complete_catalogs` deletes the vanished granules of that catalog only.
pub async fn test_complete_catalogs(store: &dyn Store) {
    let a = "http://127.0.0.1/s/a/catalog.xml";
    let b = "http://127.0.0.1/s/b/catalog.xml";
    let src = setup(store, "s", a, "c").await;
    let listing = |cat: &str, n: i64| -> Vec<Granule> {
        let dir = if cat == a { "a" } else { "b" };
        (0..n)
            .map(|i| granule("c", &format!("{dir}/{i}.nc"), cat, Some(t(i))))
            .collect()
    };
    let mut granules = listing(a, 5);
    granules.extend(listing(b, 4));
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(b, src, None, 0)],
            granules,
            complete_catalogs: vec![a.into(), b.into()],
            ..Batch::default()
        })
        .await
        .expect("write");
    assert_eq!(all_granules(store, "c").await.len(), 9);

    // Catalog a now lists only 0, 2 and a new one; b is not complete in this batch.
    let mut next = listing(a, 5);
    next.retain(|g| g.granule_id == "a/0.nc" || g.granule_id == "a/2.nc");
    next.push(granule("c", "a/new.nc", a, Some(t(50))));
    next.push(listing(b, 4).remove(3));
    let out = store
        .write_batch(&Batch {
            granules: next,
            complete_catalogs: vec![a.into()],
            ..Batch::default()
        })
        .await
        .expect("write");
    assert_eq!((out.granules_inserted, out.granules_deleted), (1, 3));
    let mut left: Vec<String> = all_granules(store, "c")
        .await
        .into_iter()
        .map(|g| g.granule_id)
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "a/0.nc", "a/2.nc", "a/new.nc", "b/0.nc", "b/1.nc", "b/2.nc", "b/3.nc"
        ]
    );

    // An empty complete listing empties the catalog.
    let out = store
        .write_batch(&Batch {
            complete_catalogs: vec![b.into()],
            ..Batch::default()
        })
        .await
        .expect("write");
    assert_eq!(out.granules_deleted, 4);
    assert_eq!(all_granules(store, "c").await.len(), 3);
}

/// Tree deletion removes a catalog, its descendants and their granules, not siblings.
pub async fn test_delete_catalog_trees(store: &dyn Store) {
    let root = "http://127.0.0.1/s/catalog.xml";
    let src = setup(store, "s", root, "c").await;
    let u = |p: &str| format!("http://127.0.0.1/s/{p}/catalog.xml");
    let (a, a1, a11, a2, b) = (u("a"), u("a/1"), u("a/1/1"), u("a/2"), u("b"));
    let catalogs = vec![
        fetched(&a, src, Some(root), 1),
        fetched(&a1, src, Some(&a), 2),
        fetched(&a11, src, Some(&a1), 3),
        fetched(&a2, src, Some(&a), 2),
        fetched(&b, src, Some(root), 1),
    ];
    let mut granules = Vec::new();
    for (i, cat) in [root, &a, &a1, &a11, &a2, &b].into_iter().enumerate() {
        for j in 0..3 {
            granules.push(granule("c", &format!("{i}/{j}.nc"), cat, Some(t(j))));
        }
    }
    store
        .write_batch(&Batch {
            catalogs,
            granules,
            ..Batch::default()
        })
        .await
        .expect("write");
    assert_eq!(all_granules(store, "c").await.len(), 18);

    let out = store
        .write_batch(&Batch {
            delete_catalog_trees: vec![a.clone()],
            ..Batch::default()
        })
        .await
        .expect("delete");
    assert_eq!((out.catalogs_deleted, out.granules_deleted), (4, 12));
    for gone in [&a, &a1, &a11, &a2] {
        assert_eq!(store.catalog(gone).await.expect("get"), None, "{gone}");
    }
    assert!(store.catalog(&b).await.expect("get").is_some());
    assert!(store.catalog(root).await.expect("get").is_some());
    let mut left: Vec<String> = all_granules(store, "c")
        .await
        .into_iter()
        .map(|g| g.granule_id)
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["0/0.nc", "0/1.nc", "0/2.nc", "5/0.nc", "5/1.nc", "5/2.nc"]
    );

    // Deleting an unknown tree is a no-op; deletion happens before upserts in one batch.
    let out = store
        .write_batch(&Batch {
            delete_catalog_trees: vec![u("zzz"), b.clone()],
            catalogs: vec![fetched(&b, src, Some(root), 1)],
            granules: vec![granule("c", "5/new.nc", &b, None)],
            ..Batch::default()
        })
        .await
        .expect("delete and re-add");
    assert_eq!(
        (
            out.catalogs_deleted,
            out.granules_deleted,
            out.granules_inserted
        ),
        (1, 3, 1)
    );
    assert!(store.catalog(&b).await.expect("get").is_some());
    assert_eq!(all_granules(store, "c").await.len(), 4);
}

/// Granules naming an unknown catalog get a pending catalog; an unknown collection rejects
/// the whole batch.
pub async fn test_unknown_references(store: &dyn Store) {
    let cat = "http://127.0.0.1/s/catalog.xml";
    let src = setup(store, "s", cat, "c").await;
    let elsewhere = "http://127.0.0.1/s/elsewhere.xml";
    store
        .write_batch(&Batch {
            granules: vec![granule("c", "x.nc", elsewhere, Some(t(0)))],
            ..Batch::default()
        })
        .await
        .expect("write");
    let pending = store
        .catalog(elsewhere)
        .await
        .expect("get")
        .expect("pending catalog created");
    assert_eq!(
        (pending.status, pending.source_id),
        (CatalogStatus::Pending, src)
    );
    assert_eq!(all_granules(store, "c").await[0].catalog_url, elsewhere);

    let new_cat = "http://127.0.0.1/s/new.xml";
    let bad = store
        .write_batch(&Batch {
            catalogs: vec![fetched(new_cat, src, None, 0)],
            granules: vec![
                granule("c", "y.nc", cat, Some(t(0))),
                granule("unknown-collection", "z.nc", cat, Some(t(0))),
            ],
            ..Batch::default()
        })
        .await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");
    assert_eq!(
        store.catalog(new_cat).await.expect("get"),
        None,
        "batch rolled back"
    );
    assert_eq!(all_granules(store, "c").await.len(), 1);
}

/// A dataset view with one OPeNDAP access URL.
pub fn view(name: &str, kind: ViewKind, path: &str) -> View {
    View {
        name: name.into(),
        kind,
        id: Some(path.into()),
        url_path: Some(path.into()),
        catalog_ref: None,
        access: vec![ViewAccess {
            service: "odap".into(),
            service_type: "OPENDAP".into(),
            url: format!("http://127.0.0.1/thredds/dodsC/{path}"),
        }],
        start: Some(t(0)),
        end: Some(t(3600)),
    }
}

fn views_of(url: &str, views: Vec<View>) -> CatalogViews {
    CatalogViews {
        catalog_url: url.into(),
        views,
    }
}

/// `(catalog, view name)` of a collection's views.
async fn names(store: &dyn Store, collection: &str) -> Vec<(String, String)> {
    store
        .collection_views(collection)
        .await
        .expect("collection views")
        .into_iter()
        .map(|v| (v.catalog_url, v.view.name))
        .collect()
}

/// Whether the ISO record of `gfs` is stale.
async fn stale(store: &dyn Store, src: i64) -> bool {
    store
        .stale_iso_records(Some(src), 0)
        .await
        .expect("stale")
        .into_iter()
        .any(|c| c.info.id == "gfs")
}

async fn version(store: &dyn Store, collection: &str) -> i64 {
    store
        .collection(collection)
        .await
        .expect("get")
        .expect("collection exists")
        .views_version
}

/// A catalog's views are replaced as a whole at each read (an empty list removes them); views
/// of a catalog that is neither stored nor in the batch are refused; views are not granules.
pub async fn test_catalog_views_replaced(store: &dyn Store) {
    let cat = "http://127.0.0.1/v/grib/catalog.xml";
    let src = setup(store, "v", cat, "c").await;
    let best = view("Best", ViewKind::Best, "grib/Best");
    let twod = view("TwoD", ViewKind::TwoD, "grib/TwoD");
    let mut latest = view("latest.xml", ViewKind::Latest, "latest.xml");
    latest.access[0].service_type = "Resolver".into();
    latest.start = None;
    latest.end = None;
    let mut runs = view("Forecast Model Run", ViewKind::ForecastRun, "");
    runs.url_path = None;
    runs.access.clear();
    runs.catalog_ref = Some("http://127.0.0.1/v/grib/runs/catalog.xml".into());
    let all = vec![twod.clone(), best.clone(), latest.clone(), runs.clone()];
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(cat, src, None, 0)],
            catalog_views: vec![views_of(cat, all.clone())],
            ..Batch::default()
        })
        .await
        .expect("write views");
    assert_eq!(store.catalog_views(cat).await.expect("views"), all);
    assert!(
        store
            .catalog_views("http://127.0.0.1/v/other/catalog.xml")
            .await
            .expect("views of an unknown catalog")
            .is_empty()
    );
    assert!(
        all_granules(store, "c").await.is_empty(),
        "views are not granules"
    );

    // Re-read with one view fewer: the missing one goes.
    store
        .write_batch(&Batch {
            catalog_views: vec![views_of(cat, vec![best.clone()])],
            ..Batch::default()
        })
        .await
        .expect("rewrite");
    assert_eq!(
        store.catalog_views(cat).await.expect("views"),
        std::slice::from_ref(&best)
    );
    // The same batch written twice changes nothing.
    for _ in 0..2 {
        store
            .write_batch(&Batch {
                catalog_views: vec![views_of(cat, vec![best.clone(), twod.clone()])],
                ..Batch::default()
            })
            .await
            .expect("idempotent");
    }
    assert_eq!(
        store.catalog_views(cat).await.expect("views"),
        [best.clone(), twod.clone()]
    );
    // No views at the next read: none stored.
    store
        .write_batch(&Batch {
            catalog_views: vec![views_of(cat, Vec::new())],
            ..Batch::default()
        })
        .await
        .expect("clear");
    assert!(store.catalog_views(cat).await.expect("views").is_empty());

    // A bounded number per catalog.
    let many: Vec<View> = (0..MAX_VIEWS_PER_CATALOG + 5)
        .map(|i| view(&format!("v{i}"), ViewKind::Resolver, &format!("r/{i}")))
        .collect();
    store
        .write_batch(&Batch {
            catalog_views: vec![views_of(cat, many.clone())],
            ..Batch::default()
        })
        .await
        .expect("many views");
    assert_eq!(
        store.catalog_views(cat).await.expect("views"),
        many[..MAX_VIEWS_PER_CATALOG]
    );

    // Unknown catalog: refused, and nothing of the batch is written.
    let err = store
        .write_batch(&Batch {
            collections: vec![collection("d", src, cat)],
            catalog_views: vec![views_of(
                "http://127.0.0.1/v/unknown/catalog.xml",
                vec![best],
            )],
            ..Batch::default()
        })
        .await
        .expect_err("views of an unknown catalog");
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert!(store.collection("d").await.expect("get").is_none());
}

/// A view catalog's views belong to the collections with a granule in it or in a catalog it
/// references directly, and stay right as granules arrive and leave; the collection's
/// `views_version` moves (and its ISO record goes stale) exactly when its views change.
pub async fn test_collection_views_follow_granules(store: &dyn Store) {
    let root = "http://127.0.0.1/g/catalog.xml";
    let src = setup(store, "g", root, "gfs").await;
    let fc = "http://127.0.0.1/g/grib/GFS/catalog.xml";
    let f1 = "http://127.0.0.1/g/grib/GFS/GFS_20240101_0000.grib2/catalog.xml";
    let f2 = "http://127.0.0.1/g/grib/GFS/GFS_20240101_0600.grib2/catalog.xml";
    let other = "http://127.0.0.1/g/nexrad/catalog.xml";
    let deep = "http://127.0.0.1/g/grib/GFS/sub/deeper/catalog.xml";
    let tp = view(
        "Full Collection Dataset",
        ViewKind::FullCollection,
        "grib/GFS/TP",
    );
    let latest = view("Latest", ViewKind::Latest, "latest.xml");

    // The collection catalog first (its files are catalogRefs, not read yet).
    store
        .write_batch(&Batch {
            catalogs: vec![
                fetched(root, src, None, 0),
                fetched(fc, src, Some(root), 1),
                CatalogState::pending(f1, src, Some(fc.into()), 2),
                CatalogState::pending(f2, src, Some(fc.into()), 2),
            ],
            collections: vec![collection("radar", src, other)],
            complete_catalogs: vec![fc.into()],
            catalog_views: vec![views_of(fc, vec![tp.clone(), latest.clone()])],
            ..Batch::default()
        })
        .await
        .expect("collection catalog");
    assert!(names(store, "gfs").await.is_empty());
    let v0 = version(store, "gfs").await;

    // A file catalog arrives: its collection gets the views of the catalog referencing it.
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(f1, src, Some(fc), 2)],
            granules: vec![granule(
                "gfs",
                "grib/GFS/GFS_20240101_0000.grib2",
                f1,
                Some(t(0)),
            )],
            complete_catalogs: vec![f1.into()],
            catalog_views: vec![views_of(f1, Vec::new())],
            ..Batch::default()
        })
        .await
        .expect("first file");
    let want = vec![
        (fc.to_owned(), tp.name.clone()),
        (fc.to_owned(), latest.name.clone()),
    ];
    assert_eq!(names(store, "gfs").await, want);
    let full = store.collection_views("gfs").await.expect("views");
    assert_eq!(full[0].view, tp);
    assert_eq!(full[1].view, latest);
    let v1 = version(store, "gfs").await;
    assert!(v1 > v0, "linking moves the version");

    // ISO record built for v1: current.
    let record = |v: i64| IsoRecordUpdate {
        collection_id: "gfs".into(),
        xml: "<r/>".into(),
        start: None,
        end: None,
        date_stamp: t(0),
        views_version: v,
    };
    store.set_iso_records(&[record(v1)]).await.expect("record");
    assert!(!stale(store, src).await);

    // A second file, the same catalog re-read with the same views, a granule elsewhere:
    // nothing changes for the collection's views.
    store
        .write_batch(&Batch {
            catalogs: vec![
                fetched(f2, src, Some(fc), 2),
                fetched(other, src, Some(root), 1),
            ],
            granules: vec![
                granule(
                    "gfs",
                    "grib/GFS/GFS_20240101_0600.grib2",
                    f2,
                    Some(t(21600)),
                ),
                granule("radar", "nexrad/KFTG_20240101_0000.ar2v", other, Some(t(0))),
            ],
            complete_catalogs: vec![f2.into(), other.into()],
            catalog_views: vec![
                views_of(f2, Vec::new()),
                views_of(other, Vec::new()),
                views_of(fc, vec![tp.clone(), latest.clone()]),
            ],
            ..Batch::default()
        })
        .await
        .expect("second file");
    assert_eq!(names(store, "gfs").await, want);
    assert_eq!(version(store, "gfs").await, v1);
    assert!(!stale(store, src).await);
    assert!(
        names(store, "radar").await.is_empty(),
        "not below the view catalog"
    );

    // The views change (the full collection's coverage grew): the record is stale.
    let mut tp2 = tp.clone();
    tp2.end = Some(t(21600));
    store
        .write_batch(&Batch {
            catalog_views: vec![views_of(fc, vec![tp2.clone(), latest.clone()])],
            ..Batch::default()
        })
        .await
        .expect("views changed");
    let v2 = version(store, "gfs").await;
    assert!(v2 > v1);
    assert!(stale(store, src).await);
    assert_eq!(
        store.collection_views("gfs").await.expect("views")[0].view,
        tp2
    );
    store.set_iso_records(&[record(v2)]).await.expect("record");
    assert!(!stale(store, src).await);

    // Granules two levels down do not count (only catalogs the view catalog references).
    store
        .write_batch(&Batch {
            catalogs: vec![
                fetched(
                    "http://127.0.0.1/g/grib/GFS/sub/catalog.xml",
                    src,
                    Some(fc),
                    2,
                ),
                fetched(
                    deep,
                    src,
                    Some("http://127.0.0.1/g/grib/GFS/sub/catalog.xml"),
                    3,
                ),
            ],
            collections: vec![collection("deep", src, deep)],
            granules: vec![granule("deep", "deep/x_20240101.nc", deep, Some(t(0)))],
            ..Batch::default()
        })
        .await
        .expect("deep");
    assert!(names(store, "deep").await.is_empty());

    // One file vanishes (its listing is empty now): the other still links the views.
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(f1, src, Some(fc), 2)],
            complete_catalogs: vec![f1.into()],
            catalog_views: vec![views_of(f1, Vec::new())],
            ..Batch::default()
        })
        .await
        .expect("file 1 empty");
    assert_eq!(names(store, "gfs").await.len(), 2);
    assert_eq!(version(store, "gfs").await, v2);
    // The last file's catalog is expired with its subtree: the collection has no views left.
    store
        .write_batch(&Batch {
            delete_catalog_trees: vec![f2.into()],
            ..Batch::default()
        })
        .await
        .expect("expire file 2");
    assert!(names(store, "gfs").await.is_empty());
    let v3 = version(store, "gfs").await;
    assert!(v3 > v2);
    assert!(stale(store, src).await);

    // A file arrives again; then the view catalog itself is expired: views go with it.
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(f1, src, Some(fc), 2)],
            granules: vec![granule(
                "gfs",
                "grib/GFS/GFS_20240102_0000.grib2",
                f1,
                Some(t(86400)),
            )],
            complete_catalogs: vec![f1.into()],
            ..Batch::default()
        })
        .await
        .expect("file again");
    assert_eq!(names(store, "gfs").await.len(), 2);
    let v4 = version(store, "gfs").await;
    assert!(v4 > v3);
    store
        .write_batch(&Batch {
            delete_catalog_trees: vec![fc.into()],
            ..Batch::default()
        })
        .await
        .expect("expire the collection catalog");
    assert!(names(store, "gfs").await.is_empty());
    assert!(store.catalog_views(fc).await.expect("views").is_empty());
    assert!(version(store, "gfs").await > v4);
}

/// Views listed next to granules in the same catalog (a `latest.xml` resolver in a plain
/// folder) belong to those granules' collections; a catalog whose views appear after its
/// files were stored links them at once; removing the views unlinks them.
pub async fn test_collection_views_same_catalog_and_late_views(store: &dyn Store) {
    let root = "http://127.0.0.1/l/catalog.xml";
    let src = setup(store, "l", root, "sat").await;
    let day = "http://127.0.0.1/l/sat/20240101/catalog.xml";
    let latest = view("latest.xml", ViewKind::Latest, "latest.xml");
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(day, src, Some(root), 1)],
            granules: vec![
                granule("sat", "sat/20240101/a_0000.nc", day, Some(t(0))),
                granule("sat", "sat/20240101/a_0100.nc", day, Some(t(3600))),
            ],
            complete_catalogs: vec![day.into()],
            catalog_views: vec![views_of(day, vec![latest.clone()])],
            ..Batch::default()
        })
        .await
        .expect("day folder");
    assert_eq!(
        names(store, "sat").await,
        [(day.to_owned(), latest.name.clone())]
    );

    // Files stored first (an older harvest), views appear at a later read of the parent.
    let fc = "http://127.0.0.1/l/model/catalog.xml";
    let file = "http://127.0.0.1/l/model/M_20240101.grib2/catalog.xml";
    store
        .write_batch(&Batch {
            catalogs: vec![
                fetched(fc, src, Some(root), 1),
                fetched(file, src, Some(fc), 2),
            ],
            collections: vec![collection("model", src, file)],
            granules: vec![granule("model", "model/M_20240101.grib2", file, Some(t(0)))],
            complete_catalogs: vec![file.into()],
            ..Batch::default()
        })
        .await
        .expect("files first");
    assert!(names(store, "model").await.is_empty());
    let before = version(store, "model").await;
    let best = view("Best", ViewKind::Best, "model/Best");
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(fc, src, Some(root), 1)],
            catalog_views: vec![views_of(fc, vec![best.clone()])],
            ..Batch::default()
        })
        .await
        .expect("views appear");
    assert_eq!(
        names(store, "model").await,
        [(fc.to_owned(), best.name.clone())]
    );
    assert!(version(store, "model").await > before);
    let linked = version(store, "model").await;

    // The catalog is read again without views: they go.
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(fc, src, Some(root), 1)],
            catalog_views: vec![views_of(fc, Vec::new())],
            ..Batch::default()
        })
        .await
        .expect("views gone");
    assert!(names(store, "model").await.is_empty());
    assert!(version(store, "model").await > linked);
    // The other collection is untouched.
    assert_eq!(names(store, "sat").await.len(), 1);

    // Removing the source removes everything.
    assert!(store.remove_source("l").await.expect("remove"));
    assert!(names(store, "sat").await.is_empty());
    assert!(store.catalog_views(day).await.expect("views").is_empty());
}

/// A batch names the collections it changed: none when it rewrites what is stored, exactly
/// the one whose listing gained, lost or rewrote a granule otherwise; refreshing only those
/// keeps every collection's figures right.
pub async fn test_changed_collections(store: &dyn Store) {
    let a = "http://127.0.0.1/s/a/catalog.xml";
    let b = "http://127.0.0.1/s/b/catalog.xml";
    let src = setup(store, "s", a, "c").await;
    let listing = |c_granules: Vec<Granule>| Batch {
        catalogs: vec![fetched(a, src, None, 0), fetched(b, src, None, 0)],
        collections: vec![collection("c", src, a), collection("d", src, b)],
        granules: c_granules
            .into_iter()
            .chain([granule("d", "h/1.nc", b, Some(t(150)))])
            .collect(),
        complete_catalogs: vec![a.into(), b.into()],
        ..Batch::default()
    };
    let g2 = Granule {
        end: Some(t(500)),
        ..granule("c", "g/2.nc", a, Some(t(200)))
    };
    let first = vec![
        granule("c", "g/1.nc", a, Some(t(100))),
        g2.clone(),
        granule("c", "g/3.nc", a, Some(t(300))),
    ];
    let o = store
        .write_batch(&listing(first.clone()))
        .await
        .expect("write");
    assert_eq!(o.changed_collections, ["c", "d"]);
    assert_eq!(o.granules_inserted, 4);
    store
        .refresh_collection_stats(&o.changed_collections)
        .await
        .expect("refresh");
    let get =
        |id: &'static str| async move { store.collection(id).await.expect("get").expect("stored") };
    let (c0, d0) = (get("c").await, get("d").await);
    assert_eq!(
        (c0.granule_count, c0.start, c0.end),
        (3, Some(t(100)), Some(t(500)))
    );

    // The same listings again: nothing changed, nothing to recount.
    let o = store
        .write_batch(&listing(first.clone()))
        .await
        .expect("again");
    assert!(o.changed_collections.is_empty(), "{o:?}");
    assert_eq!((o.granules_inserted, o.granules_deleted), (0, 0));
    store
        .refresh_collection_stats(&o.changed_collections)
        .await
        .expect("refresh nothing");
    assert_eq!((get("c").await, get("d").await), (c0.clone(), d0.clone()));

    // One granule added (g/4, the latest), one removed (g/2, the one ending last): only c.
    let second = vec![
        granule("c", "g/1.nc", a, Some(t(100))),
        granule("c", "g/3.nc", a, Some(t(300))),
        granule("c", "g/4.nc", a, Some(t(400))),
    ];
    let o = store
        .write_batch(&listing(second.clone()))
        .await
        .expect("change");
    assert_eq!(o.changed_collections, ["c"]);
    assert_eq!((o.granules_inserted, o.granules_deleted), (1, 1));
    store
        .refresh_collection_stats(&o.changed_collections)
        .await
        .expect("refresh c");
    let c1 = get("c").await;
    assert_eq!(
        (c1.granule_count, c1.start, c1.end),
        (3, Some(t(100)), Some(t(400)))
    );
    assert_eq!(get("d").await, d0, "d untouched");

    // A stored granule rewritten in place (another size, then another end time): c changed.
    let mut resized = second.clone();
    resized[1].size = Some(2000);
    let o = store
        .write_batch(&listing(resized.clone()))
        .await
        .expect("size");
    assert_eq!(o.changed_collections, ["c"]);
    assert_eq!((o.granules_inserted, o.granules_deleted), (0, 0));
    let mut longer = resized;
    longer[1].end = Some(t(900));
    let o = store.write_batch(&listing(longer)).await.expect("end");
    assert_eq!(o.changed_collections, ["c"]);
    store
        .refresh_collection_stats(&o.changed_collections)
        .await
        .expect("refresh c");
    let c2 = get("c").await;
    assert_eq!(
        (c2.granule_count, c2.start, c2.end),
        (3, Some(t(100)), Some(t(900)))
    );
    assert_eq!(get("d").await, d0, "d untouched");
}
