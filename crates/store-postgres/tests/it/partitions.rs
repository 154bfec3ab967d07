//! The partitioned granule table (migration 0017): a database filled at the schema before it
//! converts in place with every row, listing and day count kept; afterwards granules spread
//! over the 64 hash partitions by collection, a one-collection lookup touches one partition,
//! and the day counts stay exact through writes and deletions. Postgres is required (see
//! `common`): these tests panic, never skip.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use super::common;

use std::collections::BTreeSet;

use threddex_store::prelude::*;
use threddex_store::testsuite::{NEXRAD_TEMPLATE, nexrad_granule};
use threddex_store::{
    Batch, CollectionUpsert, Granule, GranuleQuery, TimelineBucket, TimelineInterval, TimelineQuery,
};
use threddex_store_postgres::{MIGRATOR, PostgresStore};

use common::{coll, source};

const COLLECTIONS: usize = 40;

fn cid(i: usize) -> String {
    format!("c{i:02}")
}

fn cat(i: usize) -> String {
    format!("http://127.0.0.1/s/{}.xml", cid(i))
}

/// Collection `i`: even ones have the NEXRAD template (IDs not stored), odd ones none.
fn collection(i: usize, src: i64) -> CollectionUpsert {
    CollectionUpsert {
        template: i.is_multiple_of(2).then(|| NEXRAD_TEMPLATE.into()),
        catalog_url: cat(i),
        ..coll(&cid(i), src)
    }
}

/// `n` five-minute granules of collection `i` from minute `from`.
fn granules(i: usize, from: i64, n: i64) -> Vec<Granule> {
    (0..n)
        .map(|k| Granule {
            collection_id: cid(i),
            ..nexrad_granule(from + k * 5 + i as i64, &cat(i))
        })
        .collect()
}

async fn listing(store: &PostgresStore, i: usize) -> Vec<Granule> {
    store
        .list_granules(&GranuleQuery {
            collection_id: cid(i),
            start: None,
            end: None,
            after: None,
            limit: 0,
        })
        .await
        .unwrap()
}

async fn timeline(store: &PostgresStore, i: usize) -> Vec<TimelineBucket> {
    store
        .granule_timeline(&TimelineQuery {
            collection_id: cid(i),
            interval: TimelineInterval::Day,
            start: None,
            end: None,
        })
        .await
        .unwrap()
}

/// Every stored row, as text, in key order.
async fn raw_rows(store: &PostgresStore) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT row_to_json(g)::text FROM (SELECT collection_key, id_hash, start_time, \
         catalog_key, end_time, size, modified, flags, granule_id, name, url_path \
         FROM granules ORDER BY collection_key, id_hash) g",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

/// `granule_days` as stored and as counted from `granules` now (they must agree).
async fn day_counts(store: &PostgresStore) -> (Vec<String>, Vec<String>) {
    let kept = sqlx::query_scalar(
        "SELECT format('%s %s %s', collection_key, day, n) FROM granule_days \
         ORDER BY collection_key, day",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let counted = sqlx::query_scalar(
        "SELECT format('%s %s %s', k, d, count(*)) FROM (SELECT collection_key AS k, \
         (start_time AT TIME ZONE 'UTC')::date AS d FROM granules \
         WHERE start_time IS NOT NULL) g GROUP BY k, d ORDER BY k, d",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    (kept, counted)
}

#[tokio::test]
async fn an_unpartitioned_database_converts_in_place() {
    let (url, _db) = common::fresh_database().await;
    let store = PostgresStore::connect_without_migrating(&url)
        .await
        .unwrap();
    // Every migration before 0017: a database of the previous release.
    MIGRATOR.run_to(16, store.pool()).await.unwrap();
    let kind: String =
        sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE relname = 'granules'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(kind, "r", "a plain table before 0017");
    // The batches below are written by this release's code, which keeps `catalogs.has_granules`
    // (0021): the column is there while they are written and dropped before migrating, so the
    // migration starts from what the previous release left.
    sqlx::query("ALTER TABLE catalogs ADD COLUMN has_granules boolean NOT NULL DEFAULT true")
        .execute(store.pool())
        .await
        .unwrap();

    let src = source(&store).await;
    let mut batch = Batch {
        collections: (0..COLLECTIONS).map(|i| collection(i, src)).collect(),
        ..Batch::default()
    };
    for i in 0..COLLECTIONS {
        // Three days of granules, a few collections without any.
        if i % 7 != 3 {
            batch.granules.extend(granules(i, 0, 900));
        }
    }
    store.write_batch(&batch).await.unwrap();
    // An untimed granule (sorts first, not counted by day).
    store
        .write_batch(&Batch {
            granules: vec![Granule {
                start: None,
                modified: None,
                ..granules(1, 0, 1).remove(0)
            }],
            ..Batch::default()
        })
        .await
        .unwrap();

    let before_rows = raw_rows(&store).await;
    assert_eq!(before_rows.len(), 34 * 900);
    let mut before_listings = Vec::new();
    let mut before_timelines = Vec::new();
    for i in 0..COLLECTIONS {
        before_listings.push(listing(&store, i).await);
        before_timelines.push(timeline(&store, i).await);
    }
    let (before_days, counted) = day_counts(&store).await;
    assert_eq!(before_days, counted);
    let before_head = store.change_head().await.unwrap();

    sqlx::query("ALTER TABLE catalogs DROP COLUMN has_granules")
        .execute(store.pool())
        .await
        .unwrap();
    store.migrate_now().await.unwrap();

    let partitions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'granules'::regclass",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(partitions, 64);
    let strategy: String = sqlx::query_scalar(
        "SELECT partstrat::text FROM pg_partitioned_table \
         WHERE partrelid = 'granules'::regclass",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(strategy, "h");
    assert_eq!(
        raw_rows(&store).await,
        before_rows,
        "every row kept as it was"
    );
    for i in 0..COLLECTIONS {
        assert_eq!(listing(&store, i).await, before_listings[i], "{}", cid(i));
        assert_eq!(timeline(&store, i).await, before_timelines[i], "{}", cid(i));
    }
    assert_eq!(day_counts(&store).await.0, before_days);
    assert_eq!(store.change_head().await.unwrap(), before_head);

    // A collection's rows are all in one partition; the collections spread over several.
    let placement: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT collection_key, count(DISTINCT tableoid)::int8 FROM granules GROUP BY 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert!(
        placement.iter().all(|(_, parts)| *parts == 1),
        "{placement:?}"
    );
    let used: i64 = sqlx::query_scalar("SELECT count(DISTINCT tableoid) FROM granules")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(used >= 16, "34 collections in only {used} partitions");

    // Writes after the conversion: a re-crawl of collection 0 that drops its first day (a
    // complete catalog) and adds a fourth; new granules elsewhere; a source of day counts.
    let mut recrawl = granules(0, 24 * 60, 900);
    recrawl.retain(|g| g.start.is_some());
    let out = store
        .write_batch(&Batch {
            granules: recrawl.clone(),
            complete_catalogs: vec![cat(0)],
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!(out.granules_inserted, 288);
    assert_eq!(out.granules_deleted, 288);
    store
        .write_batch(&Batch {
            granules: granules(3, 0, 100),
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!(listing(&store, 0).await, recrawl);
    assert_eq!(listing(&store, 3).await.len(), 100);
    let (kept, counted) = day_counts(&store).await;
    assert_eq!(
        kept, counted,
        "day counts follow writes on the partitioned table"
    );
    assert_eq!(
        timeline(&store, 0)
            .await
            .iter()
            .map(|b| b.count)
            .sum::<u64>(),
        900
    );

    // A granule cannot change collection (that would bypass the day-count triggers).
    let moved = sqlx::query("UPDATE granules SET collection_key = collection_key + 1")
        .execute(store.pool())
        .await;
    assert!(
        moved.is_err(),
        "moving granules between collections is refused"
    );
    assert_eq!(day_counts(&store).await.0, kept);
}

/// Every collection with `per` granules (none: the collections only), in one batch.
async fn fill(store: &PostgresStore, per: i64) {
    let src = source(store).await;
    let mut batch = Batch {
        collections: (0..COLLECTIONS).map(|i| collection(i, src)).collect(),
        ..Batch::default()
    };
    for i in 0..COLLECTIONS {
        batch.granules.extend(granules(i, 0, per));
    }
    store.write_batch(&batch).await.unwrap();
}

/// The plan of a one-collection window lookup names exactly one partition's index.
#[tokio::test]
async fn a_collection_lookup_scans_one_partition() {
    let (store, _db) = common::fresh_store_with_guard().await;
    fill(&store, 300).await;
    sqlx::query("ANALYZE granules")
        .execute(store.pool())
        .await
        .unwrap();
    for i in [0, 7, 21, 39] {
        let query = GranuleQuery {
            collection_id: cid(i),
            start: Some(common::t(3_600)),
            end: Some(common::t(7_200)),
            after: None,
            limit: 100,
        };
        let plan = store.explain_list_granules(&query).await.unwrap();
        let scanned: BTreeSet<&str> = plan
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("granules_time_"))
            .collect();
        assert_eq!(scanned.len(), 1, "one partition: {plan}");
        assert!(!plan.contains("Seq Scan"), "{plan}");
        assert_eq!(store.list_granules(&query).await.unwrap().len(), 12);
    }
}

/// After a load, `update_planner_statistics` leaves every granule partition, and the tables
/// beside it, with row estimates equal to what they hold (a partition never analyzed
/// estimates -1 rows: unknown).
#[tokio::test]
async fn planner_statistics_follow_a_load() {
    let (store, _db) = common::fresh_store_with_guard().await;
    fill(&store, 3).await;
    // Estimates and true counts of the granule partitions that hold rows, and of the
    // collections table.
    let estimates = || async {
        sqlx::query_as::<_, (String, f32, i64)>(
            "SELECT c.relname::text, c.reltuples, \
                    (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I', \
                     c.relname), false, true, '')))[1]::text::bigint \
             FROM pg_class c \
             WHERE c.relname = 'collections' \
                OR c.oid IN (SELECT relid FROM pg_partition_tree('granules') WHERE isleaf) \
             ORDER BY 1",
        )
        .fetch_all(store.pool())
        .await
        .unwrap()
    };
    let before = estimates().await;
    assert!(
        before.iter().any(|(_, est, n)| *n > 0 && *est < 0.0),
        "a fresh partition with rows has no estimate yet: {before:?}"
    );
    store.update_planner_statistics().await.unwrap();
    let after = estimates().await;
    assert_eq!(after.len(), before.len());
    for (name, est, n) in &after {
        assert_eq!(*est as i64, *n, "{name}: estimate {est}, rows {n}");
    }
    assert_eq!(
        after.iter().map(|(_, _, n)| n).sum::<i64>(),
        3 * COLLECTIONS as i64 + COLLECTIONS as i64
    );
}

/// A store that inserted as many granules as the statistics count (at least 50,000) analyzes
/// the granule table in the background; smaller loads leave it to autovacuum.
#[tokio::test]
async fn a_growing_granule_table_is_analyzed() {
    let (store, _db) = common::fresh_store_with_guard().await;
    fill(&store, 0).await;
    // 40 collections × 1,300 granules = 52,000, written in batches of one collection.
    for i in 0..COLLECTIONS {
        store
            .write_batch(&Batch {
                granules: granules(i, 0, 1_300),
                ..Batch::default()
            })
            .await
            .unwrap();
        if i < 38 {
            // 38 × 1,300 = 49,400 < 50,000 after this batch: nothing yet.
            assert_eq!(
                store.growth_analyses(),
                0,
                "after {} granules",
                (i + 1) * 1_300
            );
        }
    }
    let mut waited = 0;
    while store.growth_analyses() == 0 && waited < 300 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(store.growth_analyses(), 1);
    let counted: f64 = sqlx::query_scalar(
        "SELECT sum(greatest(reltuples, 0))::float8 FROM pg_class \
         WHERE oid IN (SELECT relid FROM pg_partition_tree('granules') WHERE isleaf)",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(
        counted >= 50_000.0,
        "the statistics count {counted} granules"
    );
}
