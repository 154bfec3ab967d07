//! Compact granule rows on Postgres: IDs, names and urlPaths that the collection's templates
//! render back are not stored; 64-bit ID hash collisions move to the next slot; rows of the
//! old schema convert. Postgres is required (see `common`): these tests panic, never skip.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use super::common;

use sqlx::Row;
use threddex_store::prelude::*;
use threddex_store::testsuite::{
    NEXRAD_PATH_TEMPLATE, NEXRAD_TEMPLATE, nexrad_granule, stored_forms,
};
use threddex_store::{Batch, CollectionUpsert, Granule, GranuleQuery, Timestamp};
use threddex_store_postgres::{MIGRATOR, PostgresStore};

use common::{CAT, coll, source, t};

fn radar_coll(src: i64) -> CollectionUpsert {
    CollectionUpsert {
        template: Some(NEXRAD_TEMPLATE.into()),
        ..coll("radar", src)
    }
}

async fn all_radar(store: &PostgresStore) -> Vec<Granule> {
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

/// (granule_id, name, url_path, modified, flags) as stored, by start.
async fn stored_rows(
    store: &PostgresStore,
) -> Vec<(
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Timestamp>,
    i16,
)> {
    sqlx::query(
        "SELECT granule_id, name, url_path, modified, flags FROM granules \
         ORDER BY start_time, granule_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
    .collect()
}

/// Migration 0006: granules that follow from the collection's templates are stored without
/// their ID, name, urlPath and modified time, and read back exactly; others are verbatim.
#[tokio::test]
async fn fitting_granules_are_stored_without_text() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let src = source(&store).await;
    let mut granules: Vec<Granule> = (0..50).map(|m| nexrad_granule(m * 5, CAT)).collect();
    // Does not fit: the ID shows another time than its start.
    let mut odd = nexrad_granule(1000, CAT);
    odd.start = Some(t(1000 * 60 + 7));
    odd.modified = Some(t(3));
    granules.push(odd);
    store
        .write_batch(&Batch {
            collections: vec![radar_coll(src)],
            granules: granules.clone(),
            ..Batch::default()
        })
        .await
        .unwrap();
    let rows = stored_rows(&store).await;
    assert_eq!(rows.len(), 51);
    for r in &rows[..50] {
        assert_eq!(r, &(None, None, None, None, 8 | 16), "{rows:?}");
    }
    let last = &rows[50];
    assert_eq!(last.0.as_deref(), Some(granules[50].granule_id.as_str()));
    assert_eq!(last.3, Some(t(3)));
    let path_template: Option<String> =
        sqlx::query_scalar("SELECT path_template FROM collections WHERE id = 'radar'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(path_template.is_some());
    let mut want = granules.clone();
    want.sort_by(|a, b| (a.start, &a.granule_id).cmp(&(b.start, &b.granule_id)));
    assert_eq!(all_radar(&store).await, want);
    // Writing them again rewrites nothing.
    let xmin = "SELECT sum(xmin::text::bigint)::bigint FROM granules";
    let before: i64 = sqlx::query_scalar(xmin)
        .fetch_one(store.pool())
        .await
        .unwrap();
    store
        .write_batch(&Batch {
            granules,
            ..Batch::default()
        })
        .await
        .unwrap();
    let after: i64 = sqlx::query_scalar(xmin)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(store.stats().await.unwrap().granules, 51);
}

/// Two IDs with the same hash in one collection: the second one takes the next slot, keeps
/// its ID, and both are found, updated and listed by their own IDs.
#[tokio::test]
async fn a_taken_hash_slot_sends_the_granule_to_the_next() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let src = source(&store).await;
    store
        .write_batch(&Batch {
            collections: vec![radar_coll(src)],
            ..Batch::default()
        })
        .await
        .unwrap();
    let g = nexrad_granule(10, CAT);
    // Another ID at g's home slot (as a 64-bit hash collision would put it).
    sqlx::query(
        "INSERT INTO granules (collection_key, id_hash, start_time, granule_id, name) \
         SELECT key, hashtextextended($1, 0), $2, 'other/id.nc', NULL FROM collections \
         WHERE id = 'radar'",
    )
    .bind(&g.granule_id)
    .bind(t(5))
    .execute(store.pool())
    .await
    .unwrap();
    for size in [1, 2] {
        store
            .write_batch(&Batch {
                granules: vec![Granule {
                    size: Some(size),
                    ..g.clone()
                }],
                ..Batch::default()
            })
            .await
            .unwrap();
    }
    let listed = all_radar(&store).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0].granule_id, "other/id.nc");
    assert_eq!(
        listed[1],
        Granule {
            size: Some(2),
            ..g.clone()
        }
    );
    let probed: (i64, Option<String>, i16) = sqlx::query_as(
        "SELECT id_hash - hashtextextended(granule_id, 0), granule_id, flags FROM granules \
         WHERE flags & 4 <> 0",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(probed.0, 1);
    assert_eq!(probed.1.as_deref(), Some(g.granule_id.as_str()));
    // The other ID leaves its slot: the granule is still found (no duplicate at home).
    sqlx::query("DELETE FROM granules WHERE granule_id = 'other/id.nc'")
        .execute(store.pool())
        .await
        .unwrap();
    store
        .write_batch(&Batch {
            granules: vec![Granule {
                size: Some(3),
                ..g.clone()
            }],
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!(
        all_radar(&store).await,
        vec![Granule { size: Some(3), ..g }]
    );
}

/// A database at the schema before migration 0006 (granules keyed by their ID text, after
/// 0007 and 0008): migrating keeps every granule exactly; rows take the compact form when
/// next written, and new ones are compact at once.
#[tokio::test]
async fn granules_of_the_old_schema_convert() {
    let (url, _db) = common::fresh_database().await;
    let store = PostgresStore::connect_without_migrating(&url)
        .await
        .unwrap();
    // 0001..0005, then 0007 to 0016 (a database migrated by the previous release; 0017
    // partitions the compact table of 0006, so it comes after 0006 in `migrate_now`).
    MIGRATOR.run_to(5, store.pool()).await.unwrap();
    for m in MIGRATOR.iter().filter(|m| m.version > 6 && m.version < 17) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(m.sql.as_str().to_owned()))
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES ($1, $2, TRUE, $3, 0)",
        )
        .bind(m.version)
        .bind(m.description.as_ref())
        .bind(m.checksum.as_ref())
        .execute(store.pool())
        .await
        .unwrap();
    }
    let has_pk_on_id: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
         WHERE table_name = 'granules' AND column_name = 'granule_id' AND is_nullable = 'NO')",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(has_pk_on_id, "old schema");
    let src: i64 =
        sqlx::query_scalar("INSERT INTO sources (name, url) VALUES ('s', $1) RETURNING id")
            .bind(CAT)
            .fetch_one(store.pool())
            .await
            .unwrap();
    let ck: i64 = sqlx::query_scalar(
        "INSERT INTO collections (id, source_id, title, template) VALUES ('radar', $1, 't', $2) \
         RETURNING key",
    )
    .bind(src)
    .bind(NEXRAD_TEMPLATE)
    .fetch_one(store.pool())
    .await
    .unwrap();
    let cat: i64 =
        sqlx::query_scalar("INSERT INTO catalogs (url, source_id) VALUES ($1, $2) RETURNING key")
            .bind(CAT)
            .bind(src)
            .fetch_one(store.pool())
            .await
            .unwrap();
    let old: Vec<Granule> = (0..20).map(|m| nexrad_granule(m * 5, CAT)).collect();
    for g in &old {
        // The old writer's form: name NULL (last segment), urlPath prefix with flag 1.
        let prefix = g
            .url_path
            .as_deref()
            .unwrap()
            .strip_suffix(&g.name)
            .unwrap();
        sqlx::query(
            "INSERT INTO granules (collection_key, catalog_key, start_time, end_time, size, \
             modified, flags, granule_id, name, url_path) VALUES ($1, $2, $3, NULL, $4, $5, 1, \
             $6, NULL, $7)",
        )
        .bind(ck)
        .bind(cat)
        .bind(g.start)
        .bind(g.size)
        .bind(g.modified)
        .bind(&g.granule_id)
        .bind(prefix)
        .execute(store.pool())
        .await
        .unwrap();
    }
    store.migrate_now().await.unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert!(versions.contains(&6), "{versions:?}");
    assert_eq!(all_radar(&store).await, old);
    assert!(stored_rows(&store).await.iter().all(|r| r.0.is_some()));
    // Written again (a re-crawl), plus new granules: all compact, all exact.
    let mut all: Vec<Granule> = (0..30).map(|m| nexrad_granule(m * 5, CAT)).collect();
    store
        .write_batch(&Batch {
            granules: all.clone(),
            complete_catalogs: vec![CAT.into()],
            ..Batch::default()
        })
        .await
        .unwrap();
    assert!(
        stored_rows(&store)
            .await
            .iter()
            .all(|r| r.0.is_none() && r.2.is_none()),
        "{:?}",
        stored_rows(&store).await
    );
    all.sort_by(|a, b| (a.start, &a.granule_id).cmp(&(b.start, &b.granule_id)));
    assert_eq!(all_radar(&store).await, all);
    assert_eq!(store.stats().await.unwrap().granules, 30);
}

/// Rows in the on-disk layout of migration 0006 (`flags`: 1 urlPath ends with the name,
/// 2 urlPath is the ID, 4 probed, 8 urlPath rendered, 16 modified is the start), written
/// with SQL, read back through the store.
#[tokio::test]
async fn rows_of_every_stored_form_read_back() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let src = source(&store).await;
    store
        .write_batch(&Batch {
            collections: vec![radar_coll(src)],
            ..Batch::default()
        })
        .await
        .unwrap();
    sqlx::query("UPDATE collections SET path_template = $1 WHERE id = 'radar'")
        .bind(NEXRAD_PATH_TEMPLATE)
        .execute(store.pool())
        .await
        .unwrap();
    type Raw = (
        i64,
        Timestamp,
        Option<Timestamp>,
        Option<i64>,
        Option<Timestamp>,
        i16,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );
    // (id_hash, start, end, size, modified, flags, granule_id, name, url_path)
    let rows: [Raw; 6] = [
        (
            1,
            t(600),
            None,
            Some(500_010),
            None,
            8 | 16,
            None,
            None,
            None,
        ),
        (
            2,
            t(1200),
            None,
            Some(1),
            Some(t(3)),
            1,
            None,
            Some("renamed.nids"),
            Some("elsewhere/"),
        ),
        (
            3,
            t(1800),
            None,
            None,
            None,
            2 | 16,
            Some("other/place/file.nc"),
            None,
            None,
        ),
        (
            4,
            t(2400),
            Some(t(2700)),
            None,
            Some(t(7)),
            0,
            Some("v/w"),
            Some("n"),
            Some("x/y"),
        ),
        (
            5,
            t(3000),
            None,
            Some(5),
            Some(t(9)),
            4 | 8,
            Some("probed/Level3.nids"),
            None,
            None,
        ),
        (
            6,
            t(3600),
            None,
            None,
            None,
            0,
            Some("no/path.nc"),
            None,
            None,
        ),
    ];
    for (hash, start, end, size, modified, flags, id, name, path) in rows {
        sqlx::query(
            "INSERT INTO granules (collection_key, id_hash, start_time, end_time, size, \
             modified, flags, granule_id, name, url_path) \
             SELECT key, $1, $2, $3, $4, $5, $6, $7, $8, $9 FROM collections WHERE id = 'radar'",
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
    assert_eq!(all_radar(&store).await, stored_forms());
}
