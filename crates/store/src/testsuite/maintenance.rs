//! Maintenance: backend name, migrations, ping and table sizes.

use super::*;
use crate::{Batch, Store};

/// `backend`, `ping` and `migrate` (twice: idempotent).
pub async fn test_backend_ping_migrate(store: &dyn Store) {
    assert!(!store.backend().is_empty());
    store.ping().await.expect("ping");
    store.migrate().await.expect("migrate");
    store.migrate().await.expect("migrate again");
    assert_eq!(store.stats().await.expect("stats").sources, 0);
}

/// Row counts and sizes.
pub async fn test_stats(store: &dyn Store) {
    let empty = store.stats().await.expect("stats");
    assert_eq!(
        (
            empty.sources,
            empty.catalogs,
            empty.collections,
            empty.granules
        ),
        (0, 0, 0, 0)
    );
    let cat = "http://127.0.0.1/s/catalog.xml";
    setup(store, "s", cat, "c").await;
    let granules = (0..300)
        .map(|i| {
            granule(
                "c",
                &format!("some/longer/path/file_{i:05}.nc"),
                cat,
                Some(t(i)),
            )
        })
        .collect();
    store
        .write_batch(&Batch {
            granules,
            ..Batch::default()
        })
        .await
        .expect("write");
    let s = store.stats().await.expect("stats");
    assert_eq!(
        (
            s.sources,
            s.catalogs,
            s.failed_catalogs,
            s.collections,
            s.granules
        ),
        (1, 1, 0, 1, 300)
    );
    assert!(s.granule_bytes > 0, "{s:?}");
    assert!(s.collection_bytes > 0, "{s:?}");
}
