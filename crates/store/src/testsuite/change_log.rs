//! ChangeLog: every change of the index, recorded with the write that makes it.

use super::*;
use crate::{
    Batch, Change, ChangeKind, ChangeQuery, MAX_CHANGE_IDS, Store,
    testsuite::{NEXRAD_TEMPLATE, nexrad_granule},
};

/// Every entry after `after` (all pages), and the cursor the last page gave.
pub async fn read_all(store: &dyn Store, after: i64, collections: &[&str]) -> (Vec<Change>, i64) {
    let mut out = Vec::new();
    let mut cursor = after;
    loop {
        let page = store
            .changes(&ChangeQuery {
                after: cursor,
                collections: collections.iter().map(|c| (*c).to_owned()).collect(),
                limit: 2,
            })
            .await
            .expect("changes");
        assert!(!page.expired, "cursor {cursor} expired");
        assert!(page.next >= cursor, "the cursor never goes back");
        cursor = page.next;
        if page.changes.is_empty() {
            return (out, cursor);
        }
        out.extend(page.changes);
    }
}

fn kinds(changes: &[Change]) -> Vec<(ChangeKind, &str, u64)> {
    changes
        .iter()
        .map(|c| (c.kind, c.collection_id.as_str(), c.count))
        .collect()
}

/// Collections created and filled in, granules added (IDs, count, span), rewritten (nothing),
/// vanished from a complete listing, expired with their tree, and a source removed: one thin
/// entry per collection and kind, in order, positions increasing; a collection filter.
pub async fn test_change_log_records_writes(store: &dyn Store) {
    let (head0, _) = store.change_head().await.expect("head");
    assert_eq!(head0, 0, "a new store has an empty log");
    let cat = "http://127.0.0.1/s/catalog.xml";
    let day = "http://127.0.0.1/s/day/catalog.xml";
    let src = setup(store, "s", cat, "c").await;
    let (created, after_setup) = read_all(store, 0, &[]).await;
    assert_eq!(kinds(&created), [(ChangeKind::CollectionCreated, "c", 0)]);

    // A second collection with a rendering template (IDs not stored), granules of both.
    let mut radar = collection("radar", src, day);
    radar.template = Some(NEXRAD_TEMPLATE.into());
    radar.summary = None;
    let mut bare = collection("c", src, cat);
    bare.summary = None;
    let radar_granules: Vec<_> = (0..3).map(|i| nexrad_granule(i * 5, day)).collect();
    let batch = Batch {
        catalogs: vec![fetched(day, src, Some(cat), 1)],
        collections: vec![radar.clone(), bare],
        granules: [
            vec![
                granule("c", "c/1.nc", cat, Some(t(10))),
                Granule {
                    end: Some(t(90)),
                    ..granule("c", "c/2.nc", cat, Some(t(20)))
                },
            ],
            radar_granules.clone(),
        ]
        .concat(),
        complete_catalogs: vec![day.into()],
        ..Batch::default()
    };
    store.write_batch(&batch).await.expect("write");
    let (added, after_add) = read_all(store, after_setup, &[]).await;
    assert_eq!(
        kinds(&added),
        [
            (ChangeKind::CollectionCreated, "radar", 0),
            (ChangeKind::GranulesAdded, "c", 2),
            (ChangeKind::GranulesAdded, "radar", 3),
        ],
        "an existing collection with nothing to fill in is not changed"
    );
    assert!(added.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(added.iter().all(|c| c.seq > after_setup));
    let c = &added[1];
    assert_eq!(
        c.granule_ids.as_deref(),
        Some(&["c/1.nc".to_owned(), "c/2.nc".to_owned()][..])
    );
    assert_eq!((c.start, c.end), (Some(t(10)), Some(t(90))));
    let r = &added[2];
    let mut radar_ids: Vec<String> = radar_granules
        .iter()
        .map(|g| g.granule_id.clone())
        .collect();
    radar_ids.sort();
    assert_eq!(r.granule_ids.as_deref(), Some(&radar_ids[..]));
    assert_eq!((r.start, r.end), (Some(t(0)), Some(t(600))));
    let (head, _) = store.change_head().await.expect("head");
    assert_eq!(head, after_add, "the last page continues from the head");

    // The same batch again changes nothing: nothing is logged.
    store.write_batch(&batch).await.expect("rewrite");
    assert!(read_all(store, after_add, &[]).await.0.is_empty());

    // A description filled in is an update.
    radar.summary = Some("Radar images.".into());
    store
        .write_batch(&Batch {
            collections: vec![radar, collection("c", src, cat)],
            ..Batch::default()
        })
        .await
        .expect("fill in");
    let (updated, after_update) = read_all(store, after_add, &[]).await;
    assert_eq!(
        kinds(&updated),
        [(ChangeKind::CollectionUpdated, "radar", 0)]
    );

    // The day listing loses a rendered granule: its ID comes back in the entry.
    store
        .write_batch(&Batch {
            granules: radar_granules[..2].to_vec(),
            complete_catalogs: vec![day.into()],
            ..Batch::default()
        })
        .await
        .expect("vanish");
    let (vanished, after_vanish) = read_all(store, after_update, &[]).await;
    assert_eq!(
        kinds(&vanished),
        [(ChangeKind::GranulesRemoved, "radar", 1)]
    );
    assert_eq!(
        vanished[0].granule_ids.as_deref(),
        Some(&[radar_granules[2].granule_id.clone()][..])
    );
    assert_eq!(vanished[0].start, Some(t(600)));

    // The day folder expires with its tree.
    store
        .write_batch(&Batch {
            delete_catalog_trees: vec![day.into()],
            ..Batch::default()
        })
        .await
        .expect("expire");
    let (expired, after_expire) = read_all(store, after_vanish, &[]).await;
    assert_eq!(kinds(&expired), [(ChangeKind::GranulesRemoved, "radar", 2)]);
    assert_eq!(
        expired[0].granule_ids.as_deref(),
        Some(&radar_ids[..2]),
        "rendered IDs of a tree come back"
    );

    // Filter by collection: only radar's entries, and the cursor still reaches the head.
    let (only_radar, cursor) = read_all(store, after_setup, &["radar"]).await;
    assert!(only_radar.iter().all(|c| c.collection_id == "radar"));
    assert_eq!(only_radar.len(), 5);
    assert_eq!(cursor, after_expire);

    // The source goes: its collections are removed, with how many granules they held.
    assert!(store.remove_source("s").await.expect("remove"));
    let (removed, _) = read_all(store, after_expire, &[]).await;
    assert_eq!(
        kinds(&removed),
        [
            (ChangeKind::CollectionRemoved, "c", 2),
            (ChangeKind::CollectionRemoved, "radar", 0),
        ]
    );
}

/// A batch that fails leaves no entry; many granules make an entry without IDs.
pub async fn test_change_log_atomic_and_thin(store: &dyn Store) {
    let cat = "http://127.0.0.1/s/catalog.xml";
    setup(store, "s", cat, "c").await;
    let (head, _) = store.change_head().await.expect("head");
    let bad = Batch {
        granules: vec![
            granule("c", "ok.nc", cat, Some(t(0))),
            granule("nowhere", "x.nc", cat, Some(t(0))),
        ],
        ..Batch::default()
    };
    assert!(store.write_batch(&bad).await.is_err());
    assert_eq!(store.change_head().await.expect("head").0, head);
    assert!(read_all(store, head, &[]).await.0.is_empty());

    let n = MAX_CHANGE_IDS as i64 + 5;
    store
        .write_batch(&Batch {
            granules: (0..n)
                .map(|i| granule("c", &format!("g/{i:03}.nc"), cat, Some(t(i))))
                .collect(),
            ..Batch::default()
        })
        .await
        .expect("write");
    let (added, _) = read_all(store, head, &[]).await;
    assert_eq!(kinds(&added), [(ChangeKind::GranulesAdded, "c", n as u64)]);
    assert_eq!(added[0].granule_ids, None, "too many to list");
    assert_eq!((added[0].start, added[0].end), (Some(t(0)), Some(t(n - 1))));
    // A page never exceeds its limit.
    let page = store
        .changes(&ChangeQuery {
            after: 0,
            collections: vec![],
            limit: 1,
        })
        .await
        .expect("page");
    assert_eq!(page.changes.len(), 1);
    assert_eq!(page.next, page.changes[0].seq);
}

/// Retention: pruned entries make older cursors expire; a cursor at or above what was pruned
/// continues, and new entries follow the old positions.
pub async fn test_change_log_retention(store: &dyn Store) {
    let cat = "http://127.0.0.1/s/catalog.xml";
    setup(store, "s", cat, "c").await;
    store
        .write_batch(&Batch {
            granules: vec![granule("c", "a.nc", cat, Some(t(0)))],
            ..Batch::default()
        })
        .await
        .expect("write");
    let (head, pruned) = store.change_head().await.expect("head");
    assert_eq!((head, pruned), (2, 0));
    // Nothing is old enough.
    assert_eq!(store.prune_changes(t(0)).await.expect("prune"), 0);
    // Everything is.
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    assert_eq!(store.prune_changes(later).await.expect("prune"), 2);
    assert_eq!(store.change_head().await.expect("head"), (2, 2));
    for after in [0, 1] {
        let page = store
            .changes(&ChangeQuery {
                after,
                ..ChangeQuery::default()
            })
            .await
            .expect("page");
        assert!(page.expired, "cursor {after} is older than the log");
        assert!(page.changes.is_empty());
        assert_eq!(page.pruned_through, 2);
    }
    let page = store
        .changes(&ChangeQuery {
            after: 2,
            ..ChangeQuery::default()
        })
        .await
        .expect("page");
    assert!(!page.expired && page.changes.is_empty());
    store
        .write_batch(&Batch {
            granules: vec![granule("c", "b.nc", cat, Some(t(1)))],
            ..Batch::default()
        })
        .await
        .expect("write");
    let (next, _) = read_all(store, 2, &[]).await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].seq, 3, "positions are never reused");
}

/// Relay cursors: none until saved, saved per name, never moved back, names kept as given.
pub async fn test_relay_cursors(store: &dyn Store) {
    assert_eq!(store.relay_cursor("mqtt").await.expect("read"), None);
    store.save_relay_cursor("mqtt", 5).await.expect("save");
    assert_eq!(store.relay_cursor("mqtt").await.expect("read"), Some(5));
    store
        .save_relay_cursor("mqtt", 3)
        .await
        .expect("save lower");
    assert_eq!(
        store.relay_cursor("mqtt").await.expect("read"),
        Some(5),
        "a cursor never moves back"
    );
    store.save_relay_cursor("mqtt", 9).await.expect("save");
    let odd = "mqtt'; DROP TABLE relay_cursors; --\u{e9}";
    assert_eq!(store.relay_cursor(odd).await.expect("read"), None);
    store.save_relay_cursor(odd, 1).await.expect("save odd");
    assert_eq!(store.relay_cursor(odd).await.expect("read"), Some(1));
    assert_eq!(store.relay_cursor("mqtt").await.expect("read"), Some(9));
    assert_eq!(store.relay_cursor("MQTT").await.expect("read"), None);
}
