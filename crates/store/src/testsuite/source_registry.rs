//! SourceRegistry: registered sources, their settings and sync marks.

use super::*;
use crate::{Batch, ClassRule, NodeClass, Store, StoreError};
use chrono::Duration;

/// Sources: add, look up, list order, settings round trip, conflicts.
pub async fn test_sources(store: &dyn Store) {
    let mut b = new_source("b-src", "http://127.0.0.1/b/catalog.xml");
    b.authority = Some("edu.example".into());
    b.every_secs = Some(3600);
    b.select = vec!["\\.nc$".into()];
    b.skip = vec!["latest".into(), "/old/".into()];
    b.rules = vec![ClassRule {
        pattern: "/\\d{4}/".into(),
        class: NodeClass::Archival,
    }];
    let added = store.add_source(&b).await.expect("add b");
    assert_eq!(added.settings, b);
    assert_eq!(added.last_sync_at, None);
    assert_eq!(added.last_success_at, None);
    let a = store
        .add_source(&new_source("a-src", "http://127.0.0.1/a/catalog.xml"))
        .await
        .expect("add a");
    assert_ne!(a.id, added.id);

    assert_eq!(
        store.source_by_name("b-src").await.expect("by name"),
        Some(added.clone())
    );
    assert_eq!(
        store
            .source_by_url("http://127.0.0.1/b/catalog.xml")
            .await
            .expect("by url"),
        Some(added.clone())
    );
    assert_eq!(store.source_by_name("nope").await.expect("by name"), None);
    assert_eq!(
        store
            .source_by_url("http://127.0.0.1/nope")
            .await
            .expect("by url"),
        None
    );
    let names: Vec<String> = store
        .list_sources()
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.settings.name)
        .collect();
    assert_eq!(names, ["a-src", "b-src"]);

    // Duplicate name, duplicate URL.
    let dup_name = store
        .add_source(&new_source("b-src", "http://127.0.0.1/other/catalog.xml"))
        .await;
    assert!(
        matches!(dup_name, Err(StoreError::Conflict(_))),
        "{dup_name:?}"
    );
    let dup_url = store
        .add_source(&new_source("other", "http://127.0.0.1/b/catalog.xml"))
        .await;
    assert!(
        matches!(dup_url, Err(StoreError::Conflict(_))),
        "{dup_url:?}"
    );
    assert_eq!(store.list_sources().await.expect("list").len(), 2);
}

/// `ensure_source` finds by URL without changing settings, or registers.
pub async fn test_ensure_source(store: &dyn Store) {
    let mut first = new_source("one", "http://127.0.0.1/one/catalog.xml");
    first.every_secs = Some(60);
    let created = store.ensure_source(&first).await.expect("ensure creates");
    assert_eq!(created.settings, first);

    let mut changed = first.clone();
    changed.name = "renamed".into();
    changed.every_secs = Some(999);
    let found = store.ensure_source(&changed).await.expect("ensure finds");
    assert_eq!(found, created);
    assert_eq!(store.list_sources().await.expect("list").len(), 1);
    assert_eq!(
        store.source_by_name("renamed").await.expect("by name"),
        None
    );

    let other = store
        .ensure_source(&new_source("two", "http://127.0.0.1/two/catalog.xml"))
        .await
        .expect("ensure second");
    assert_ne!(other.id, created.id);
    assert_eq!(store.list_sources().await.expect("list").len(), 2);
}

/// `update_source` replaces the settings of a named source, keeping its ID, URL, times and
/// harvested data; unknown names and URL changes are refused and change nothing.
pub async fn test_update_source(store: &dyn Store) {
    let url = "http://127.0.0.1/u/catalog.xml";
    let cat = "http://127.0.0.1/u/sub/catalog.xml";
    let mut first = new_source("u", url);
    first.authority = Some("org.old".into());
    first.every_secs = Some(7200);
    first.skip = vec!["latest".into()];
    let added = store.add_source(&first).await.expect("add");
    let other = store
        .add_source(&new_source("v", "http://127.0.0.1/v/catalog.xml"))
        .await
        .expect("add other");
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(cat, added.id, None, 0)],
            collections: vec![collection("cu", added.id, cat)],
            granules: vec![granule("cu", "g/1.nc", cat, Some(t(1)))],
            ..Batch::default()
        })
        .await
        .expect("harvest");
    store
        .mark_source_synced(added.id, t(50), true)
        .await
        .expect("mark");

    let mut changed = first.clone();
    changed.authority = None;
    changed.every_secs = Some(60);
    changed.select = vec!["\\.nc$".into(), "it's \"quoted\"; --".into()];
    changed.skip = Vec::new();
    changed.rules = vec![ClassRule {
        pattern: "/latest/".into(),
        class: NodeClass::Live,
    }];
    let updated = store.update_source(&changed).await.expect("update");
    assert_eq!(updated.settings, changed);
    assert_eq!(updated.id, added.id);
    assert_eq!(updated.created_at, added.created_at);
    assert_eq!(
        (updated.last_sync_at, updated.last_success_at),
        (Some(t(50)), Some(t(50)))
    );
    assert_eq!(
        store.source_by_name("u").await.expect("get"),
        Some(updated.clone())
    );
    // Nothing harvested moved, the other source is untouched.
    assert_eq!(
        store
            .catalogs_of_source(added.id)
            .await
            .expect("cats")
            .len(),
        1
    );
    assert_eq!(
        store
            .collection("cu")
            .await
            .expect("get")
            .map(|c| c.info.source_id),
        Some(added.id)
    );
    assert_eq!(all_granules(store, "cu").await.len(), 1);
    assert_eq!(store.source_by_name("v").await.expect("get"), Some(other));
    // Updating to the same settings is fine and changes nothing.
    assert_eq!(store.update_source(&changed).await.expect("again"), updated);

    // Another URL: a conflict, nothing changed.
    let mut moved = changed.clone();
    moved.url = "http://127.0.0.1/elsewhere/catalog.xml".into();
    moved.every_secs = Some(5);
    let err = store.update_source(&moved).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
    // An unknown name: not found, nothing registered.
    let err = store
        .update_source(&new_source("nope", "http://127.0.0.1/nope/catalog.xml"))
        .await;
    assert!(matches!(err, Err(StoreError::NotFound(_))), "{err:?}");
    let err = store.update_source(&new_source(" ", url)).await;
    assert!(matches!(err, Err(StoreError::Invalid(_))), "{err:?}");
    assert_eq!(store.source_by_name("u").await.expect("get"), Some(updated));
    assert_eq!(store.list_sources().await.expect("list").len(), 2);
}

/// `mark_source_synced` records runs; failures keep the last success.
pub async fn test_mark_source_synced(store: &dyn Store) {
    let s = store
        .add_source(&new_source("s", "http://127.0.0.1/s/catalog.xml"))
        .await
        .expect("add");
    store
        .mark_source_synced(s.id, t(100), true)
        .await
        .expect("mark ok");
    let got = store
        .source_by_name("s")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (got.last_sync_at, got.last_success_at),
        (Some(t(100)), Some(t(100)))
    );

    let frac = t(200) + Duration::microseconds(123_456);
    store
        .mark_source_synced(s.id, frac, false)
        .await
        .expect("mark failed");
    let got = store
        .source_by_name("s")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (got.last_sync_at, got.last_success_at),
        (Some(frac), Some(t(100)))
    );

    assert!(
        store
            .mark_source_synced(s.id + 1000, t(1), true)
            .await
            .is_err()
    );
}

/// Removing a source removes its catalogs, collections and granules, nothing else.
pub async fn test_remove_source_cascades(store: &dyn Store) {
    let cat1 = "http://127.0.0.1/one/catalog.xml";
    let cat2 = "http://127.0.0.1/two/catalog.xml";
    let one = setup(store, "one", cat1, "c1").await;
    let two = setup(store, "two", cat2, "c2").await;
    store
        .write_batch(&Batch {
            granules: vec![
                granule("c1", "x/1.nc", cat1, Some(t(1))),
                granule("c1", "x/2.nc", cat1, Some(t(2))),
                granule("c2", "y/1.nc", cat2, Some(t(1))),
            ],
            ..Batch::default()
        })
        .await
        .expect("write");
    assert!(store.remove_source("one").await.expect("remove"));
    assert!(!store.remove_source("one").await.expect("remove again"));
    assert_eq!(store.source_by_name("one").await.expect("get"), None);
    assert!(
        store
            .catalogs_of_source(one)
            .await
            .expect("catalogs")
            .is_empty()
    );
    assert_eq!(store.catalog(cat1).await.expect("get"), None);
    assert_eq!(store.collection("c1").await.expect("get"), None);
    assert!(all_granules(store, "c1").await.is_empty());
    assert_eq!(
        store.catalogs_of_source(two).await.expect("catalogs").len(),
        1
    );
    assert_eq!(all_granules(store, "c2").await.len(), 1);
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        (
            stats.sources,
            stats.catalogs,
            stats.collections,
            stats.granules
        ),
        (1, 1, 1, 1)
    );
}
