//! Granule identity by ID hash (migration 0006): collisions. (The backfill of rows copied by
//! 0006 is tested with the migration chain in `compaction.rs`.)
#![allow(clippy::unwrap_used)]

use chrono::DateTime;
use threddex_store::prelude::*;
use threddex_store::{
    Batch, CatalogState, CatalogStatus, CollectionUpsert, Granule, GranuleQuery, NewSource,
    Timestamp,
};
use threddex_store_sqlite::{SqliteStore, granule_id_hash};

const CAT: &str = "http://127.0.0.1/s/catalog.xml";
/// Flag bits the `flags` column stores inverted (migration 0007).
const INV: i64 = 16 | 32;

fn t(secs: i64) -> Timestamp {
    DateTime::from_timestamp(1_704_067_200 + secs, 0).unwrap()
}

fn g(id: &str, size: i64) -> Granule {
    Granule {
        collection_id: "c".into(),
        granule_id: id.into(),
        name: id.rsplit('/').next().unwrap().into(),
        start: Some(t(size)),
        end: None,
        url_path: Some(id.into()),
        size: Some(size),
        modified: None,
        catalog_url: CAT.into(),
    }
}

async fn setup() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    let src = store
        .add_source(&NewSource {
            name: "s".into(),
            url: CAT.into(),
            ..NewSource::default()
        })
        .await
        .unwrap();
    store
        .write_batch(&Batch {
            catalogs: vec![CatalogState {
                status: CatalogStatus::Ok,
                ..CatalogState::pending(CAT, src.id, None, 0)
            }],
            collections: vec![CollectionUpsert {
                id: "c".into(),
                source_id: src.id,
                catalog_url: CAT.into(),
                ..CollectionUpsert::default()
            }],
            ..Batch::default()
        })
        .await
        .unwrap();
    (store, dir)
}

async fn listed(store: &SqliteStore) -> Vec<(String, Option<i64>, Option<String>)> {
    store
        .list_granules(&GranuleQuery {
            collection_id: "c".into(),
            start: None,
            end: None,
            after: None,
            limit: 0,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.granule_id, g.size, g.url_path))
        .collect()
}

async fn slots(store: &SqliteStore) -> Vec<(String, i64, i64)> {
    sqlx::query_as("SELECT granule_id, id_hash, flags FROM granules ORDER BY granule_id")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn colliding_ids_get_distinct_slots_and_keep_them() {
    let (store, _dir) = setup().await;
    let write = |gs: Vec<Granule>, complete: bool| {
        let store = store.clone();
        async move {
            store
                .write_batch(&Batch {
                    granules: gs,
                    complete_catalogs: if complete { vec![CAT.into()] } else { vec![] },
                    ..Batch::default()
                })
                .await
                .unwrap()
        }
    };
    write(vec![g("d/a", 1)], false).await;
    // Simulate a collision: "d/a" sits (probed, as any row away from its home slot) in the
    // slot "d/b" hashes to.
    let hb = granule_id_hash("d/b");
    sqlx::query("UPDATE granules SET id_hash = ?1, flags = flags | 4 WHERE granule_id = 'd/a'")
        .bind(hb)
        .execute(store.pool())
        .await
        .unwrap();
    let out = write(vec![g("d/b", 2)], false).await;
    assert_eq!(out.granules_inserted, 1);
    assert_eq!(
        slots(&store).await,
        [
            ("d/a".into(), hb, (2 | 4) ^ INV),
            ("d/b".into(), hb.wrapping_add(1), (2 | 4) ^ INV)
        ]
    );
    // Rewriting both changes nothing; a new size updates the right row.
    let out = write(vec![g("d/a", 1), g("d/b", 3), g("d/b", 3)], false).await;
    assert_eq!(out.granules_inserted, 0);
    assert_eq!(
        listed(&store).await,
        [
            ("d/a".into(), Some(1), Some("d/a".into())),
            ("d/b".into(), Some(3), Some("d/b".into()))
        ]
    );
    // "d/a" vanishes; "d/b" keeps its probed slot (no duplicate appears).
    let out = write(vec![g("d/b", 4)], true).await;
    assert_eq!((out.granules_inserted, out.granules_deleted), (0, 1));
    assert_eq!(
        slots(&store).await,
        [("d/b".into(), hb.wrapping_add(1), (2 | 4) ^ INV)]
    );
    assert_eq!(
        listed(&store).await,
        [("d/b".into(), Some(4), Some("d/b".into()))]
    );
    // "d/a" comes back at its own home slot.
    write(vec![g("d/a", 5)], false).await;
    assert_eq!(
        slots(&store).await,
        [
            ("d/a".into(), granule_id_hash("d/a"), 2 ^ INV),
            ("d/b".into(), hb.wrapping_add(1), (2 | 4) ^ INV)
        ]
    );
}
