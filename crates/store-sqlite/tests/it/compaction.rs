//! Compact granule rows (migration 0007): what is stored, and the conversion of databases
//! written by earlier versions.
#![allow(clippy::unwrap_used)]

use std::str::FromStr;
use threddex_store::prelude::*;

use chrono::DateTime;
use sqlx::sqlite::SqliteConnectOptions;
use threddex_store::{
    Batch, CatalogState, CatalogStatus, CollectionUpsert, Granule, GranuleQuery, NewSource,
    Timestamp,
};
use threddex_store_sqlite::{MIGRATOR, SqliteStore};

const CAT: &str = "http://127.0.0.1/s/20240101/catalog.xml";
const TEMPLATE: &str = "NWS/N0Q/FTG/{yyyyMMdd}/Level3_FTG_N0Q_{yyyyMMdd_HHmm}.nids";

fn t(secs: i64) -> Timestamp {
    DateTime::from_timestamp(1_704_067_200 + secs, 0).unwrap()
}

fn nexrad(minute: i64) -> Granule {
    let start = t(minute * 60);
    let name = format!("Level3_FTG_N0Q_{}.nids", start.format("%Y%m%d_%H%M"));
    Granule {
        collection_id: "radar".into(),
        granule_id: format!("NWS/N0Q/FTG/20240101/{name}"),
        url_path: Some(format!("nexrad/N0Q/FTG/20240101/{name}")),
        name,
        start: Some(start),
        end: None,
        size: Some(1000 + minute),
        modified: Some(start),
        catalog_url: CAT.into(),
    }
}

async fn all(store: &SqliteStore) -> Vec<Granule> {
    store
        .list_granules(&GranuleQuery {
            collection_id: "radar".into(),
            start: None,
            end: None,
            after: None,
            limit: 0,
        })
        .await
        .unwrap()
}

/// `(stored IDs, stored urlPaths, stored modified times, rows)`.
async fn stored_strings(store: &SqliteStore) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "SELECT count(granule_id), count(url_path), count(modified), count(*) FROM granules",
    )
    .fetch_one(store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn rendered_fields_are_not_stored() {
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
    let mut granules: Vec<Granule> = (0..100).map(nexrad).collect();
    let mut verbatim = nexrad(200);
    verbatim.granule_id = verbatim.granule_id.replace("/20240101/", "/20240102/");
    verbatim.url_path = Some("other/place.nids".into());
    verbatim.modified = Some(t(5));
    granules.push(verbatim);
    store
        .write_batch(&Batch {
            catalogs: vec![CatalogState {
                status: CatalogStatus::Ok,
                ..CatalogState::pending(CAT, src.id, None, 0)
            }],
            collections: vec![CollectionUpsert {
                id: "radar".into(),
                source_id: src.id,
                template: Some(TEMPLATE.into()),
                catalog_url: CAT.into(),
                ..CollectionUpsert::default()
            }],
            granules: granules.clone(),
            ..Batch::default()
        })
        .await
        .unwrap();
    // Only the granule that does not fit keeps its strings and its modified time.
    assert_eq!(stored_strings(&store).await, (1, 1, 1, 101));
    let path_template: Option<String> =
        sqlx::query_scalar("SELECT path_template FROM collections WHERE id = 'radar'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(
        path_template.as_deref(),
        Some("nexrad/N0Q/FTG/{yyyyMMdd}/Level3_FTG_N0Q_{yyyyMMdd_HHmm}.nids")
    );
    assert_eq!(all(&store).await, granules);
}

/// A database written by the version before migration 0006 (schema 0005, granules keyed by
/// their ID text) is converted on open: 0006 copies and hashes, 0007 copies, and the rows are
/// rewritten compactly; everything reads back as written.
#[tokio::test]
async fn old_databases_are_converted() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    {
        let opts = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
        MIGRATOR.run_to(5, &pool).await.unwrap();
        for sql in [
            "INSERT INTO sources (id, name, url, created_at) VALUES (1, 's', 'http://127.0.0.1/s', 0)",
            "INSERT INTO catalogs (key, url, source_id) VALUES (1, 'http://127.0.0.1/s/20240101/catalog.xml', 1)",
            "INSERT INTO collections (key, id, source_id, template, updated_at) \
             VALUES (1, 'radar', 1, 'NWS/N0Q/FTG/{yyyyMMdd}/Level3_FTG_N0Q_{yyyyMMdd_HHmm}.nids', 0)",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        // Rows as the 0005 store wrote them: name NULL (last segment), urlPath as given.
        for m in 0..30i64 {
            let g = nexrad(m);
            sqlx::query(
                "INSERT INTO granules (collection_key, granule_id, name, flags, start_time, \
                 url_path, size, modified, catalog_key) VALUES (1, ?1, NULL, 0, ?2, ?3, ?4, ?2, 1)",
            )
            .bind(&g.granule_id)
            .bind(g.start.unwrap().timestamp())
            .bind(&g.url_path)
            .bind(g.size)
            .execute(&pool)
            .await
            .unwrap();
        }
        sqlx::query(
            "INSERT INTO granules (collection_key, granule_id, name, flags, start_time, catalog_key) \
             VALUES (1, 'no-time.nc', NULL, 0, NULL, 1)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let store = SqliteStore::connect(&url).await.unwrap();
    let legacy: i64 = sqlx::query_scalar("SELECT count(*) FROM granules WHERE flags & 8 <> 0")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(legacy, 0, "every copied row is rewritten");
    let mut want: Vec<Granule> = (0..30).map(nexrad).collect();
    want.insert(
        0,
        Granule {
            collection_id: "radar".into(),
            granule_id: "no-time.nc".into(),
            name: "no-time.nc".into(),
            start: None,
            end: None,
            url_path: None,
            size: None,
            modified: None,
            catalog_url: CAT.into(),
        },
    );
    assert_eq!(all(&store).await, want);
    assert_eq!(stored_strings(&store).await, (1, 0, 0, 31));
    // Upserts by ID find the converted rows: nothing is new, nothing doubles.
    let out = store
        .write_batch(&Batch {
            granules: want.clone(),
            complete_catalogs: vec![CAT.into()],
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!((out.granules_inserted, out.granules_deleted), (0, 0));
    assert_eq!(all(&store).await, want);
    // Opening again does nothing more.
    drop(store);
    let store = SqliteStore::connect(&url).await.unwrap();
    assert_eq!(all(&store).await, want);
}

/// Rows in the on-disk layout of migration 0007, written with SQL, read back through the
/// store. `flags` holds bit 1 (urlPath ends with the name), 2 (urlPath is the ID), 4
/// (probed), 16 (urlPath rendered) and 32 (modified is the start), the last two inverted;
/// `id_hash` 0 is the rendered-ID slot; times are unix seconds.
#[tokio::test]
async fn rows_of_every_stored_form_read_back() {
    use threddex_store::testsuite::{NEXRAD_PATH_TEMPLATE, NEXRAD_TEMPLATE, stored_forms, t as at};
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
            collections: vec![CollectionUpsert {
                id: "radar".into(),
                source_id: src.id,
                template: Some(NEXRAD_TEMPLATE.into()),
                catalog_url: CAT.into(),
                ..CollectionUpsert::default()
            }],
            ..Batch::default()
        })
        .await
        .unwrap();
    sqlx::query("UPDATE collections SET path_template = ?1 WHERE id = 'radar'")
        .bind(NEXRAD_PATH_TEMPLATE)
        .execute(store.pool())
        .await
        .unwrap();
    let secs = |s: i64| at(s).timestamp();
    type Raw = (
        i64,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        i64,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );
    // (id_hash, start, end, size, modified, flags, granule_id, name, url_path)
    let rows: [Raw; 6] = [
        (0, secs(600), None, Some(500_010), None, 0, None, None, None),
        (
            0,
            secs(1200),
            None,
            Some(1),
            Some(secs(3)),
            1 | 48,
            None,
            Some("renamed.nids"),
            Some("elsewhere/"),
        ),
        (
            11,
            secs(1800),
            None,
            None,
            None,
            2 | 16,
            Some("other/place/file.nc"),
            None,
            None,
        ),
        (
            12,
            secs(2400),
            Some(secs(2700)),
            None,
            Some(secs(7)),
            48,
            Some("v/w"),
            Some("n"),
            Some("x/y"),
        ),
        (
            13,
            secs(3000),
            None,
            Some(5),
            Some(secs(9)),
            4 | 32,
            Some("probed/Level3.nids"),
            None,
            None,
        ),
        (
            14,
            secs(3600),
            None,
            None,
            None,
            48,
            Some("no/path.nc"),
            None,
            None,
        ),
    ];
    for (hash, start, end, size, modified, flags, id, name, path) in rows {
        sqlx::query(
            "INSERT INTO granules (collection_key, id_hash, start_time, end_time, size, \
             modified, flags, granule_id, name, url_path) \
             SELECT key, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM collections WHERE id = 'radar'",
        )
        .bind(hash)
        .bind(start)
        .bind(end)
        .bind(size)
        .bind(modified)
        .bind(flags)
        .bind(id)
        .bind(name)
        .bind(path)
        .execute(store.pool())
        .await
        .unwrap();
    }
    assert_eq!(all(&store).await, stored_forms());
}
