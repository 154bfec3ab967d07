//! Suite: batch writes (idempotence, reconciliation, tree deletion, references).

use chrono::Duration;

use super::*;
use crate::{Batch, CatalogStatus, Granule, Store, StoreError};

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
