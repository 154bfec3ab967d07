//! Postgres-specific tests: concurrent migrations, full-text and bbox search, bulk upserts,
//! index use, hostile values. The shared behaviour suite is in `suite.rs`; compact granule
//! rows are in `compaction.rs`.
//!
//! Postgres is required (see `common`): these tests panic, never skip, when it is unreachable.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use super::common;

use common::{CAT, coll, source, t};
use threddex_store::prelude::*;

use chrono::{DateTime, TimeDelta};
use sqlx::Row;
use threddex_store::{
    BBox, Batch, CatalogState, CatalogStatus, CollectionQuery, CollectionUpsert, Granule,
    GranuleQuery, StoreError, Timestamp,
};
use threddex_store_postgres::{MIGRATOR, PostgresStore};

fn gran(collection: &str, id: &str, start: Option<Timestamp>, end: Option<Timestamp>) -> Granule {
    Granule {
        collection_id: collection.into(),
        granule_id: id.into(),
        name: id.rsplit('/').next().unwrap().into(),
        start,
        end,
        url_path: Some(format!("data/{id}")),
        size: Some(1),
        modified: None,
        catalog_url: CAT.into(),
    }
}

async fn ids(store: &PostgresStore, q: CollectionQuery) -> Vec<String> {
    store
        .list_collections(&CollectionQuery { limit: 100, ..q })
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.info.id)
        .collect()
}

fn text(s: &str) -> CollectionQuery {
    CollectionQuery {
        text: Some(s.into()),
        ..CollectionQuery::default()
    }
}

#[tokio::test]
async fn concurrent_first_starts_all_migrate() {
    let url = common::fresh_database_url().await;
    let connects = (0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { PostgresStore::connect(&url).await })
    });
    let stores: Vec<PostgresStore> = futures_join(connects).await;
    assert_eq!(stores.len(), 4);
    let applied: i64 = sqlx::query("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(stores[0].pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, MIGRATOR.iter().count() as i64);
    for s in &stores {
        s.ping().await.unwrap();
        s.migrate().await.unwrap();
    }
    // The advisory lock is released: a plain session can take it at once.
    let free: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
        .bind(threddex_store_postgres::MIGRATION_LOCK_KEY)
        .fetch_one(stores[0].pool())
        .await
        .unwrap()
        .get(0);
    assert!(free, "migration lock still held");
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<Result<T, StoreError>>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn unreachable_server_is_an_error_not_a_panic() {
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/nothing")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    let err = PostgresStore::connect("sqlite://x.db").await.unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{err:?}");
}

/// A text matching more than 2,000 collections is searched the other way (in ID order) from
/// the second time on: both ways give the same pages.
#[tokio::test]
async fn common_search_words_give_the_same_pages_both_ways() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let src = source(&store).await;
    let collections = (0..2_100)
        .map(|i| {
            let mut c = coll(&format!("edu.x:c/{i:04}"), src);
            c.summary = Some(if i % 3 == 0 {
                "Frequent and triple.".to_string()
            } else {
                "Frequent.".to_string()
            });
            c
        })
        .collect();
    store
        .write_batch(&Batch {
            collections,
            ..Batch::default()
        })
        .await
        .unwrap();
    let pages = |text: &'static str| {
        let store = &store;
        async move {
            let mut pages = Vec::new();
            let mut after = None;
            for _ in 0..3 {
                let page: Vec<String> = store
                    .list_collection_hits(&CollectionQuery {
                        text: Some(text.into()),
                        after_id: after.clone(),
                        limit: 25,
                        ..CollectionQuery::default()
                    })
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|h| h.id)
                    .collect();
                after = page.last().cloned();
                pages.push(page);
            }
            pages
        }
    };
    let expected = |step: usize| -> Vec<Vec<String>> {
        let all: Vec<String> = (0..2_100)
            .step_by(step)
            .map(|i| format!("edu.x:c/{i:04}"))
            .collect();
        all.chunks(25).take(3).map(<[String]>::to_vec).collect()
    };
    // 700 matches: never common.
    assert_eq!(pages("triple").await, expected(3));
    assert_eq!(pages("triple").await, expected(3));
    assert_eq!(store.common_search_texts(), 0);
    // 2,100 matches: common after the first search, and the same pages in ID order.
    let first = pages("frequent").await;
    assert_eq!(first, expected(1));
    assert_eq!(store.common_search_texts(), 1);
    assert_eq!(pages("FREQUENT").await, first, "in ID order, any case");
    assert_eq!(store.common_search_texts(), 1);
    // Full rows come back the same way too.
    let full = store
        .list_collections(&CollectionQuery {
            text: Some("frequent".into()),
            limit: 3,
            ..CollectionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        full.iter().map(|c| c.info.id.as_str()).collect::<Vec<_>>(),
        ["edu.x:c/0000", "edu.x:c/0001", "edu.x:c/0002"]
    );
    assert_eq!(
        full[0].info.summary.as_deref(),
        Some("Frequent and triple.")
    );
    // A rare term beside the known common one: the common one is then tested on the rare
    // one's rows only, with the same answers (both terms, the rare one alone, and the ID).
    assert_eq!(pages("triple frequent").await, expected(3));
    assert_eq!(pages("frequent triple").await, expected(3));
    let by_id = pages("c/0042 frequent").await;
    assert_eq!(by_id[..2], [vec!["edu.x:c/0042".to_owned()], vec![]]);
    assert!(pages("nowhere frequent").await.iter().all(Vec::is_empty));
}

#[tokio::test]
async fn full_text_search_covers_summary_keywords_and_variables() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let src = source(&store).await;
    let mut sst = coll("edu.x:ocean/sst_daily", src);
    sst.title = "Daily analysis".into();
    sst.summary = Some("Foundation temperatures of the upper ocean, gap-free.".into());
    sst.keywords = vec!["Oceans > Ocean Temperature".into(), "analysed_sst".into()];
    // Words only in the metadata JSON are not part of the search document.
    sst.metadata = serde_json::json!({"documentation": [{"text": "zanzibar"}]});
    let mut wind = coll("edu.x:atmos/wind", src);
    wind.title = "Winds 100% of the time".into();
    wind.keywords = vec!["eastward_wind".into()];
    store
        .write_batch(&Batch {
            collections: vec![sst, wind, coll("edu.x:misc/a_b", src)],
            ..Batch::default()
        })
        .await
        .unwrap();

    assert_eq!(
        ids(&store, text("foundation")).await,
        ["edu.x:ocean/sst_daily"],
        "summary"
    );
    assert_eq!(
        ids(&store, text("TEMPERATURE")).await,
        ["edu.x:ocean/sst_daily"],
        "keyword"
    );
    assert_eq!(
        ids(&store, text("analysed_sst")).await,
        ["edu.x:ocean/sst_daily"],
        "variable"
    );
    assert_eq!(
        ids(&store, text("eastward_wind")).await,
        ["edu.x:atmos/wind"]
    );
    assert_eq!(
        ids(&store, text("winds")).await,
        ["edu.x:atmos/wind"],
        "title"
    );
    assert!(
        ids(&store, text("zanzibar")).await.is_empty(),
        "metadata JSON is not indexed"
    );
    // Web-search syntax: phrases, OR, negation.
    assert_eq!(
        ids(&store, text("\"upper ocean\"")).await,
        ["edu.x:ocean/sst_daily"]
    );
    assert!(ids(&store, text("\"ocean upper\"")).await.is_empty());
    assert_eq!(
        ids(&store, text("foundation or eastward_wind")).await,
        ["edu.x:atmos/wind", "edu.x:ocean/sst_daily"]
    );
    assert_eq!(ids(&store, text("ocean -gap")).await, Vec::<String>::new());
    // ID substring, with LIKE wildcards taken literally.
    assert_eq!(
        ids(&store, text("OCEAN/SST")).await,
        ["edu.x:ocean/sst_daily"]
    );
    assert_eq!(ids(&store, text("a_b")).await, ["edu.x:misc/a_b"]);
    assert!(ids(&store, text("%")).await.is_empty());
    assert!(
        ids(&store, text("_")).await.len() == 2,
        "underscore in two IDs only"
    );
    assert_eq!(
        ids(&store, text("   ")).await.len(),
        3,
        "blank text: no filter"
    );
    // Punctuation-only text has no lexemes: only the ID substring can match.
    assert!(ids(&store, text("!!")).await.is_empty());

    // The search document is an indexed generated column.
    let indexed: i64 = sqlx::query(
        "SELECT count(*) FROM pg_indexes WHERE tablename = 'collections' \
         AND indexdef LIKE '%USING gin (search)%'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap()
    .get(0);
    assert_eq!(indexed, 1);
}

#[tokio::test]
async fn bbox_search_is_antimeridian_aware() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let src = source(&store).await;
    let boxed = |id: &str, w: f64, s: f64, e: f64, n: f64| CollectionUpsert {
        bbox: Some(BBox {
            west: w,
            south: s,
            east: e,
            north: n,
        }),
        ..coll(id, src)
    };
    store
        .write_batch(&Batch {
            collections: vec![
                boxed("pacific", 170.0, -10.0, -170.0, 10.0),
                boxed("europe", -10.0, 35.0, 30.0, 70.0),
                boxed("global", -180.0, -90.0, 180.0, 90.0),
                boxed("nan", f64::NAN, 0.0, 1.0, 1.0),
                coll("nobox", src),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    let q = |w: f64, s: f64, e: f64, n: f64| CollectionQuery {
        bbox: Some(BBox {
            west: w,
            south: s,
            east: e,
            north: n,
        }),
        ..CollectionQuery::default()
    };
    assert_eq!(
        ids(&store, q(175.0, 0.0, 179.0, 5.0)).await,
        ["global", "pacific"]
    );
    assert_eq!(
        ids(&store, q(-179.0, 0.0, -175.0, 5.0)).await,
        ["global", "pacific"]
    );
    assert_eq!(
        ids(&store, q(0.0, 40.0, 10.0, 50.0)).await,
        ["europe", "global"]
    );
    // A query box crossing the antimeridian.
    assert_eq!(
        ids(&store, q(160.0, -5.0, -175.0, 5.0)).await,
        ["global", "pacific"]
    );
    // Touching edges count.
    assert_eq!(
        ids(&store, q(30.0, 70.0, 40.0, 80.0)).await,
        ["europe", "global"]
    );
    assert!(ids(&store, q(f64::NAN, 0.0, 1.0, 1.0)).await.is_empty());
    let nan = store.collection("nan").await.unwrap().unwrap();
    assert_eq!(nan.info.bbox, None, "non-finite boxes are not stored");
    let pacific = store.collection("pacific").await.unwrap().unwrap();
    assert_eq!(pacific.info.bbox.map(|b| b.west), Some(170.0));
}

#[tokio::test]
async fn bulk_upsert_of_20k_granules_in_one_batch() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let src = source(&store).await;
    let day_cat = |d: i64| format!("http://127.0.0.1/s/day{d}/catalog.xml");
    let granules: Vec<Granule> = (0..20_000i64)
        .map(|i| Granule {
            catalog_url: day_cat(i / 1000),
            ..gran(
                "big",
                &format!("d/{i:06}.nc"),
                Some(t(i * 60)),
                Some(t(i * 60 + 60)),
            )
        })
        .collect();
    let catalogs: Vec<CatalogState> = (0..20)
        .map(|d| CatalogState {
            status: CatalogStatus::Ok,
            ..CatalogState::pending(day_cat(d), src, Some(CAT.into()), 1)
        })
        .collect();
    let mut batch = Batch {
        catalogs,
        collections: vec![coll("big", src)],
        granules,
        complete_catalogs: (0..20).map(day_cat).collect(),
        delete_catalog_trees: vec![],
        catalog_views: Vec::new(),
    };
    let out = store.write_batch(&batch).await.unwrap();
    assert_eq!(
        (out.granules_inserted, out.collections_inserted),
        (20_000, 1)
    );
    assert_eq!(store.stats().await.unwrap().granules, 20_000);

    // Unchanged: nothing inserted, nothing rewritten (no new row versions).
    let xmin_before: i64 = sqlx::query("SELECT sum(xmin::text::bigint)::bigint FROM granules")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    let out = store.write_batch(&batch).await.unwrap();
    assert_eq!(out, Default::default());
    let xmin_after: i64 = sqlx::query("SELECT sum(xmin::text::bigint)::bigint FROM granules")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        xmin_before, xmin_after,
        "unchanged granules must not be rewritten"
    );

    // Changed sizes, duplicates inside the batch (the last wins), vanished granules.
    for g in batch.granules.iter_mut().take(100) {
        g.size = Some(42);
    }
    let mut dup = batch.granules[5].clone();
    dup.size = Some(7);
    batch.granules.push(dup);
    batch.granules.retain(|g| !g.granule_id.ends_with("9.nc"));
    let out = store.write_batch(&batch).await.unwrap();
    assert_eq!((out.granules_inserted, out.granules_deleted), (0, 2_000));
    let first = store
        .list_granules(&GranuleQuery {
            collection_id: "big".into(),
            start: None,
            end: None,
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(first[0].size, Some(42));
    assert_eq!(first[5].granule_id, "d/000005.nc");
    assert_eq!(first[5].size, Some(7));
    assert_eq!(first[0].catalog_url, day_cat(0));
    assert_eq!(first[0].url_path.as_deref(), Some("data/d/000000.nc"));
    assert_eq!(store.stats().await.unwrap().granules, 18_000);
}

#[tokio::test]
async fn time_lookups_are_index_range_scans() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let src = source(&store).await;
    let granules: Vec<Granule> = (0..30_000i64)
        .map(|i| {
            gran(
                "c",
                &format!("g/{i:06}.nc"),
                Some(t(i * 600)),
                Some(t(i * 600 + 600)),
            )
        })
        .collect();
    store
        .write_batch(&Batch {
            collections: vec![coll("c", src), coll("other", src)],
            granules,
            ..Batch::default()
        })
        .await
        .unwrap();
    sqlx::query("ANALYZE granules")
        .execute(store.pool())
        .await
        .unwrap();
    let day = GranuleQuery {
        collection_id: "c".into(),
        start: Some(t(86_400 * 100)),
        end: Some(t(86_400 * 101)),
        after: None,
        limit: 1000,
    };
    let plan = store.explain_list_granules(&day).await.unwrap();
    assert!(plan.contains("granules_time"), "{plan}");
    assert!(!plan.contains("Seq Scan"), "{plan}");
    assert!(!plan.contains("Sort"), "ordered by the index: {plan}");
    // The range is bounded below by start - max span, not the collection's first granule.
    let rows = store.list_granules(&day).await.unwrap();
    assert_eq!(
        rows.len(),
        145,
        "144 starting in the day plus the one ending at its start"
    );
    assert_eq!(rows[0].start, Some(t(86_400 * 100 - 600)));

    // Only a start bound: two ordered branches, still index scans.
    let since = GranuleQuery {
        end: None,
        limit: 10,
        ..day.clone()
    };
    let plan = store.explain_list_granules(&since).await.unwrap();
    assert!(
        plan.contains("granules_time") && !plan.contains("Seq Scan"),
        "{plan}"
    );
    let rows = store.list_granules(&since).await.unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[0].start, Some(t(86_400 * 100 - 600)));

    // Paging deep in the collection uses the cursor as an index bound.
    let page = GranuleQuery {
        start: None,
        end: None,
        after: Some((Some(t(600 * 20_000)), "g/020000.nc".into())),
        limit: 3,
        ..day.clone()
    };
    let plan = store.explain_list_granules(&page).await.unwrap();
    assert!(
        plan.contains("granules_time") && !plan.contains("Seq Scan"),
        "{plan}"
    );
    let rows = store.list_granules(&page).await.unwrap();
    let got: Vec<&str> = rows.iter().map(|g| g.granule_id.as_str()).collect();
    assert_eq!(got, ["g/020001.nc", "g/020002.nc", "g/020003.nc"]);
    let missing = GranuleQuery {
        collection_id: "missing".into(),
        ..day
    };
    assert!(store.list_granules(&missing).await.unwrap().is_empty());
}

#[tokio::test]
async fn long_granules_are_found_from_far_away() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let src = source(&store).await;
    let far = DateTime::from_timestamp(-62_000_000_000, 0).unwrap(); // year 5 AD
    let huge = Granule {
        end: DateTime::from_timestamp(253_000_000_000, 0), // year 9987
        ..gran("c", "climatology.nc", Some(far), None)
    };
    store
        .write_batch(&Batch {
            collections: vec![coll("c", src)],
            granules: vec![huge, gran("c", "x/now.nc", Some(t(0)), None)],
            ..Batch::default()
        })
        .await
        .unwrap();
    let window = |a: i64, b: Option<i64>| GranuleQuery {
        collection_id: "c".into(),
        start: Some(t(a)),
        end: b.map(t),
        after: None,
        limit: 0,
    };
    let names = |v: Vec<Granule>| v.into_iter().map(|g| g.granule_id).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_granules(&window(0, Some(1))).await.unwrap()),
        ["climatology.nc", "x/now.nc"]
    );
    assert_eq!(
        names(store.list_granules(&window(10, None)).await.unwrap()),
        ["climatology.nc"]
    );
    // A window start so early that start - span underflows what Postgres can store.
    let ancient = GranuleQuery {
        start: DateTime::from_timestamp(-200_000_000_000, 0),
        ..window(0, Some(1))
    };
    assert_eq!(names(store.list_granules(&ancient).await.unwrap()).len(), 2);
}

#[tokio::test]
async fn granules_with_an_end_but_no_start_match_a_start_only_window() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let src = source(&store).await;
    store
        .write_batch(&Batch {
            collections: vec![coll("c", src)],
            granules: vec![
                gran("c", "endonly", None, Some(t(500))),
                gran("c", "untimed", None, None),
                gran("c", "late", Some(t(400)), None),
                gran("c", "early", Some(t(10)), None),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    let q =
        |a: Option<i64>, b: Option<i64>, after: Option<(Option<Timestamp>, String)>| GranuleQuery {
            collection_id: "c".into(),
            start: a.map(t),
            end: b.map(t),
            after,
            limit: 0,
        };
    let names = |v: Vec<Granule>| v.into_iter().map(|g| g.granule_id).collect::<Vec<_>>();
    assert_eq!(
        names(
            store
                .list_granules(&q(Some(100), None, None))
                .await
                .unwrap()
        ),
        ["endonly", "late"]
    );
    assert_eq!(
        names(
            store
                .list_granules(&q(Some(100), None, Some((None, "endonly".into()))))
                .await
                .unwrap()
        ),
        ["late"]
    );
    assert_eq!(
        names(
            store
                .list_granules(&q(Some(100), Some(1000), None))
                .await
                .unwrap()
        ),
        ["late"]
    );
    assert_eq!(
        names(store.list_granules(&q(None, None, None)).await.unwrap()),
        ["endonly", "untimed", "early", "late"]
    );
}

#[tokio::test]
async fn nul_characters_are_replaced_not_fatal() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let src = source(&store).await;
    let mut c = coll("c", src);
    c.title = "bad\0title".into();
    c.metadata = serde_json::json!({"k": "v\0"});
    c.keywords = vec!["k\0w".into()];
    store
        .write_batch(&Batch {
            collections: vec![c],
            granules: vec![gran("c", "dir/a\0b.nc", Some(t(0)), None)],
            ..Batch::default()
        })
        .await
        .unwrap();
    let got = store.collection("c").await.unwrap().unwrap();
    assert_eq!(got.info.title, "bad\u{FFFD}title");
    assert_eq!(got.info.metadata, serde_json::json!({"k": "v\u{FFFD}"}));
    let g = store
        .list_granules(&GranuleQuery {
            collection_id: "c".into(),
            start: None,
            end: None,
            after: None,
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(g[0].granule_id, "dir/a\u{FFFD}b.nc");
    assert_eq!(g[0].name, "a\u{FFFD}b.nc");
}

#[tokio::test]
async fn schema_uses_timestamptz_and_compact_granules() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let rows = sqlx::query(
        "SELECT column_name, data_type FROM information_schema.columns \
         WHERE table_name = 'granules' ORDER BY ordinal_position",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let cols: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let ty = |name: &str| {
        cols.iter()
            .find(|(c, _)| c == name)
            .map(|(_, t)| t.as_str())
    };
    assert_eq!(ty("start_time"), Some("timestamp with time zone"));
    assert_eq!(ty("end_time"), Some("timestamp with time zone"));
    assert_eq!(
        ty("collection_key"),
        Some("integer"),
        "4 bytes, beside the flags"
    );
    assert_eq!(ty("id_hash"), Some("bigint"));
    assert_eq!(ty("flags"), Some("smallint"));
    assert_eq!(ty("catalog_key"), Some("bigint"));
    assert_eq!(ty("size"), Some("bigint"));
    assert_eq!(ty("collection_id"), None, "no repeated collection strings");
    let tz: String = sqlx::query("SELECT current_setting('TimeZone')")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert!(!tz.is_empty());
    // Round trip of a microsecond time through timestamptz.
    let src = source(&store).await;
    let at = t(5) + TimeDelta::microseconds(123_456);
    store.mark_source_synced(src, at, true).await.unwrap();
    let s = store.source_by_name("s").await.unwrap().unwrap();
    assert_eq!(s.last_sync_at, Some(at));
}

#[tokio::test]
async fn hostile_values_are_errors_not_panics() {
    let (store, _db) = common::fresh_store_with_guard().await;
    let src = source(&store).await;
    let unknown_source = store
        .write_batch(&Batch {
            catalogs: vec![CatalogState::pending(
                "http://127.0.0.1/x.xml",
                src + 99,
                None,
                0,
            )],
            ..Batch::default()
        })
        .await;
    assert!(
        matches!(unknown_source, Err(StoreError::Invalid(_))),
        "{unknown_source:?}"
    );
    let empty_url = store
        .write_batch(&Batch {
            catalogs: vec![CatalogState::pending("", src, None, 0)],
            ..Batch::default()
        })
        .await;
    assert!(
        matches!(empty_url, Err(StoreError::Invalid(_))),
        "{empty_url:?}"
    );

    // Far outside what timestamptz holds: the batch fails as a whole, nothing is written.
    let ancient = DateTime::from_timestamp(-8_000_000_000_000, 0).unwrap();
    let bad = store
        .write_batch(&Batch {
            collections: vec![coll("c", src)],
            granules: vec![gran("c", "old.nc", Some(ancient), None)],
            ..Batch::default()
        })
        .await;
    assert!(bad.is_err(), "{bad:?}");
    assert_eq!(store.collection("c").await.unwrap(), None);

    // Far future but representable: round trips.
    let future = DateTime::from_timestamp(6_000_000_000_000, 0).unwrap(); // year ~192000
    store
        .write_batch(&Batch {
            collections: vec![coll("c", src)],
            granules: vec![gran("c", "future.nc", Some(future), Some(future))],
            ..Batch::default()
        })
        .await
        .unwrap();
    let got = store
        .list_granules(&GranuleQuery {
            collection_id: "c".into(),
            start: Some(t(0)),
            end: None,
            after: None,
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].start, Some(future));
    store.ping().await.unwrap();
}

/// Migration 0007: collections stored before it get their any text (side table), and the
/// AnyText search (`anytext LIKE lower(pattern)` on the lower-cased side table) selects exactly
/// what `ILIKE` on the text selects, Unicode case, wildcards and escapes included (the text in
/// the database's default collation, as the generated column of migration 0005 was).
#[tokio::test]
async fn anytext_side_table_is_backfilled_and_matches_ilike() {
    use threddex_store::{LikePattern, RecordFilter};
    let (url, _db) = common::fresh_database().await;
    let store = PostgresStore::connect_without_migrating(&url)
        .await
        .unwrap();
    MIGRATOR.run_to(5, store.pool()).await.unwrap();
    let src: i64 = sqlx::query("INSERT INTO sources (name, url) VALUES ('s', $1) RETURNING id")
        .bind(CAT)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    for (id, title, summary, keywords) in [
        (
            "x:ÜBER/a",
            "Über Straße",
            Some("50%_off ÀÉÎ"),
            r#"["Ωmega"]"#,
        ),
        ("x:plain/b", "plain TITLE", None, r#"["k\\w"]"#),
    ] {
        sqlx::query(
            "INSERT INTO collections (id, source_id, title, summary, keywords) \
             VALUES ($1, $2, $3, $4, $5::jsonb)",
        )
        .bind(id)
        .bind(src)
        .bind(title)
        .bind(summary)
        .bind(keywords)
        .execute(store.pool())
        .await
        .unwrap();
    }
    store.migrate_now().await.unwrap();
    store
        .write_batch(&Batch {
            collections: vec![CollectionUpsert {
                title: "ÉTÉ après".into(),
                keywords: vec!["ΣΊΣΥΦΟΣ".into()],
                ..coll("x:new/c", src)
            }],
            ..Batch::default()
        })
        .await
        .unwrap();

    for pattern in [
        "%über%",
        "%ÜBER%",
        "%straße%",
        "%STRASSE%",
        "%àéî%",
        "%ÀÉÎ%",
        "%ωMEGA%",
        "%été%",
        "%σίσυφος%",
        "%50\\%\\_%",
        "%50\\%\\_x%",
        "%k\\\\\\\\w%",
        "x:_ber/%",
        "%plain title%",
        "X:%",
        "%",
        "%_b%",
    ] {
        let want: i64 = sqlx::query(
            "SELECT count(*) FROM collections c WHERE (c.id || ' ' || c.title || ' ' || \
             COALESCE(c.summary, '') || ' ' || (c.keywords::text)) COLLATE \"default\" \
             ILIKE $1",
        )
        .bind(pattern)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
        let f = RecordFilter::AnyText(LikePattern::parse(pattern, '%', '_', Some('\\')));
        let page = store.search_records(&f, &[], 0, 10).await.unwrap();
        assert_eq!(page.matched as i64, want, "{pattern}");
        assert_eq!(page.collections.len() as i64, want, "{pattern}");
        let not = RecordFilter::Not(Box::new(f));
        let page = store.search_records(&not, &[], 0, 10).await.unwrap();
        assert_eq!(page.matched as i64, 3 - want, "NOT {pattern}");
    }
    // The wide table no longer carries the text; both trigram indexes exist.
    let indexes: Vec<String> =
        sqlx::query("SELECT indexname::text FROM pg_indexes WHERE indexname LIKE '%trgm'")
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
    assert!(
        indexes.contains(&"collection_anytext_trgm".to_owned()),
        "{indexes:?}"
    );
    assert!(
        indexes.contains(&"collections_id_trgm".to_owned()),
        "{indexes:?}"
    );
    let old: i64 = sqlx::query(
        "SELECT count(*) FROM information_schema.columns \
         WHERE table_name = 'collections' AND column_name = 'anytext'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap()
    .get(0);
    assert_eq!(old, 0);
}
