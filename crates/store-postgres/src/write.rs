//! Batch writes: one transaction, bulk upserts through `UNNEST` arrays.

use std::collections::BTreeMap;

use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use threddex_store::{
    Batch, BatchOutcome, CatalogState, ChangeKind, ChangeSet, CollectionUpsert, StoreError,
};

use crate::convert::{clean, clean_opt, db_err, ser_jsonb, to_jsonb, usable_bbox};

mod granules;

use granules::{
    REMOVED_GROUPS, granule_rows, learn_path_templates, link_pairs, mark_catalogs_with_granules,
    reconcile, record_removed, upsert_granules,
};

use crate::views::ViewChanges;

/// Rows per bulk statement (bounds the size of one statement's parameters).
pub(crate) const CHUNK: usize = 10_000;

/// Batch writes one crawl run keeps in flight (`CrawlState::concurrent_writes`): while one
/// transaction waits on a round trip or its commit, another uses the CPU. Two: the database
/// and the crawler share the machine, and each batch holds a pooled connection.
pub(crate) const CONCURRENT_WRITES: usize = 2;

/// Attempts of a batch that Postgres aborted as a deadlock or serialization failure
/// (concurrent writers: the runs of several workers, or the batches a run keeps in flight).
const WRITE_ATTEMPTS: u32 = 5;

/// Write a batch atomically (see [`Batch`] for the order of application). A transaction that
/// Postgres aborted to break a deadlock is written again, whole.
pub(crate) async fn write_batch(pool: &PgPool, batch: &Batch) -> Result<BatchOutcome, StoreError> {
    if batch.is_empty() {
        return Ok(BatchOutcome::default());
    }
    let mut attempt = 1;
    loop {
        match write_once(pool, batch).await {
            Err(e) if attempt < WRITE_ATTEMPTS && crate::convert::concurrency_abort(&e) => {
                tracing::debug!(attempt, error = %e, "batch aborted by a concurrent writer; writing it again");
                tokio::time::sleep(std::time::Duration::from_millis(5 << attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn write_once(pool: &PgPool, batch: &Batch) -> Result<BatchOutcome, StoreError> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let out = write_in(&mut tx, batch).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(out)
}

/// Write a batch inside the caller's transaction (see [`write_batch`]).
pub(crate) async fn write_in(
    tx: &mut PgConnection,
    batch: &Batch,
) -> Result<BatchOutcome, StoreError> {
    let mut out = BatchOutcome::default();
    if batch.is_empty() {
        return Ok(out);
    }
    // Plan this transaction's statements for their parameters. A connection caches a generic
    // plan after a few executions; one made while the tables were small (a first harvest)
    // scans every granule partition once they have grown: the probe of eight rows below took
    // 18 ms per batch that way, 1.5 ms + 2 ms of planning with custom plans.
    // And no bitmap scans: every lookup here is by a B-tree key, but while `collections` has
    // no statistics (a first harvest) the planner took its trigram index for the lookup of
    // the batch's collection IDs (a GIN index answers only with a bitmap scan): 3–5 ms per
    // batch instead of 0.2.
    sqlx::query(
        "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), \
                set_config('enable_bitmapscan', 'off', true)",
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let mut views = ViewChanges::default();
    let mut changes = ChangeSet::default();

    // 1. expired catalog trees and their granules (their views go with the catalogs).
    if !batch.delete_catalog_trees.is_empty() {
        let (granules, catalogs) = delete_trees(
            &mut *tx,
            &batch.delete_catalog_trees,
            &mut views,
            &mut changes,
        )
        .await?;
        out.granules_deleted += granules;
        out.catalogs_deleted += catalogs;
    }

    // 2. upserts: catalogs, collections, then granules (which refer to both).
    upsert_catalogs(&mut *tx, &batch.catalogs).await?;
    out.collections_inserted +=
        upsert_collections(&mut *tx, &batch.collections, &mut changes).await?;
    let (mut rows, mut templates) = granule_rows(&mut *tx, &batch.granules).await?;
    let first_granules = mark_catalogs_with_granules(&mut *tx, &rows).await?;
    learn_path_templates(&mut *tx, &rows, &mut templates).await?;
    out.granules_inserted += upsert_granules(&mut *tx, &mut rows, &templates, &mut changes).await?;
    views.written = link_pairs(&rows);

    // 3. complete listings: whatever the batch does not list vanished from the server.
    if !batch.complete_catalogs.is_empty() {
        let (deleted, shrunk) = reconcile(
            &mut *tx,
            &batch.complete_catalogs,
            &first_granules,
            &rows,
            &mut changes,
        )
        .await?;
        out.granules_deleted += deleted;
        views.shrunk = shrunk;
    }

    // 4. views of the catalogs read, and their links to collections.
    crate::views::apply(&mut *tx, batch, views).await?;

    // 5. the change log, last: its position lock is held only from here to the commit.
    out.changed_collections = changes.collections();
    crate::change_log::append(&mut *tx, &changes.into_entries()).await?;
    Ok(out)
}

/// Keys of every catalog under (and including) `urls`, following `parent_url` links.
async fn tree_keys(conn: &mut PgConnection, urls: &[String]) -> Result<Vec<i64>, StoreError> {
    let urls: Vec<String> = urls.iter().map(|u| clean(u).into_owned()).collect();
    // UNION (not UNION ALL) makes the walk terminate even on a cyclic parent chain.
    let rows = sqlx::query(
        "WITH RECURSIVE tree(url) AS ( \
             SELECT unnest($1::text[]) COLLATE \"C\" \
             UNION \
             SELECT c.url FROM catalogs c JOIN tree t ON c.parent_url = t.url \
         ) SELECT key FROM catalogs WHERE url IN (SELECT url FROM tree)",
    )
    .bind(&urls)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| r.try_get::<i64, _>(0).map_err(db_err))
        .collect()
}

/// Delete catalog subtrees with their granules: `(granules, catalogs)` deleted.
async fn delete_trees(
    conn: &mut PgConnection,
    urls: &[String],
    views: &mut ViewChanges,
    changes: &mut ChangeSet,
) -> Result<(u64, u64), StoreError> {
    let keys = tree_keys(conn, urls).await?;
    if keys.is_empty() {
        return Ok((0, 0));
    }
    crate::views::before_tree_delete(conn, urls, &keys, views).await?;
    let groups = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH d AS (DELETE FROM granules WHERE catalog_key = ANY($1::int8[]) \
             RETURNING collection_key, start_time, end_time, granule_id) \
         SELECT {REMOVED_GROUPS} FROM d JOIN collections c ON c.key = d.collection_key \
         GROUP BY c.key"
    )))
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let granules = record_removed(changes, &groups)?;
    let catalogs = sqlx::query("DELETE FROM catalogs WHERE key = ANY($1::int8[])")
        .bind(&keys)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?
        .rows_affected();
    Ok((granules, catalogs))
}

/// Upsert catalog states by URL (the last state of a URL in the batch wins; a pending state
/// does not replace a read one).
async fn upsert_catalogs(
    conn: &mut PgConnection,
    catalogs: &[CatalogState],
) -> Result<(), StoreError> {
    // Dedup (last wins) and sort by URL: a consistent lock order across writers.
    let unique: BTreeMap<&str, &CatalogState> =
        catalogs.iter().map(|c| (c.url.as_str(), c)).collect();
    let all: Vec<&CatalogState> = unique.into_values().collect();
    for chunk in all.chunks(CHUNK) {
        let mut url = Vec::with_capacity(chunk.len());
        let mut source_id = Vec::with_capacity(chunk.len());
        let mut parent_url = Vec::with_capacity(chunk.len());
        let mut depth = Vec::with_capacity(chunk.len());
        let mut class = Vec::with_capacity(chunk.len());
        let mut status = Vec::with_capacity(chunk.len());
        let mut last_fetch = Vec::with_capacity(chunk.len());
        let mut etag = Vec::with_capacity(chunk.len());
        let mut last_modified = Vec::with_capacity(chunk.len());
        let mut content_hash = Vec::with_capacity(chunk.len());
        let mut last_changed = Vec::with_capacity(chunk.len());
        let mut granule_count = Vec::with_capacity(chunk.len());
        let mut error = Vec::with_capacity(chunk.len());
        let mut next_visit = Vec::with_capacity(chunk.len());
        let mut expires = Vec::with_capacity(chunk.len());
        let mut next_change = Vec::with_capacity(chunk.len());
        for c in chunk {
            if c.url.is_empty() {
                return Err(StoreError::Invalid("catalog with an empty URL".into()));
            }
            url.push(clean(&c.url).into_owned());
            source_id.push(c.source_id);
            parent_url.push(clean_opt(&c.parent_url));
            depth.push(c.depth);
            class.push(c.class.as_str());
            status.push(c.status.as_str());
            last_fetch.push(c.last_fetch);
            etag.push(clean_opt(&c.etag));
            last_modified.push(clean_opt(&c.last_modified));
            content_hash.push(clean_opt(&c.content_hash));
            last_changed.push(c.last_changed);
            granule_count.push(c.granule_count);
            error.push(clean_opt(&c.error));
            next_visit.push(c.next_visit);
            expires.push(c.expires);
            next_change.push(c.next_change);
        }
        sqlx::query(
            "INSERT INTO catalogs (url, source_id, parent_url, depth, class, status, last_fetch, \
                 etag, last_modified, content_hash, last_changed, granule_count, error, \
                 next_visit, expires, next_change, has_granules) \
             SELECT *, false FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int4[], $5::text[], \
                 $6::text[], $7::timestamptz[], $8::text[], $9::text[], $10::text[], \
                 $11::timestamptz[], $12::int8[], $13::text[], $14::timestamptz[], \
                 $15::timestamptz[], $16::timestamptz[]) \
             ON CONFLICT (url) DO UPDATE SET source_id = EXCLUDED.source_id, \
                 parent_url = EXCLUDED.parent_url, depth = EXCLUDED.depth, \
                 class = EXCLUDED.class, status = EXCLUDED.status, \
                 last_fetch = EXCLUDED.last_fetch, etag = EXCLUDED.etag, \
                 last_modified = EXCLUDED.last_modified, content_hash = EXCLUDED.content_hash, \
                 last_changed = EXCLUDED.last_changed, granule_count = EXCLUDED.granule_count, \
                 error = EXCLUDED.error, next_visit = EXCLUDED.next_visit, \
                 expires = EXCLUDED.expires, next_change = EXCLUDED.next_change \
             WHERE EXCLUDED.status <> 'pending' OR catalogs.status = 'pending'",
        )
        .bind(&url)
        .bind(&source_id)
        .bind(&parent_url)
        .bind(&depth)
        .bind(&class)
        .bind(&status)
        .bind(&last_fetch)
        .bind(&etag)
        .bind(&last_modified)
        .bind(&content_hash)
        .bind(&last_changed)
        .bind(&granule_count)
        .bind(&error)
        .bind(&next_visit)
        .bind(&expires)
        .bind(&next_change)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

/// Merge repeated collections of one batch the way sequential upserts would: the first
/// occurrence is the description, later ones only fill in what it lacks.
fn merge_collections(collections: &[CollectionUpsert]) -> Vec<CollectionUpsert> {
    let mut merged: BTreeMap<&str, CollectionUpsert> = BTreeMap::new();
    for c in collections {
        match merged.get_mut(c.id.as_str()) {
            None => {
                merged.insert(c.id.as_str(), c.clone());
            }
            Some(m) => {
                if m.title.is_empty() {
                    m.title.clone_from(&c.title);
                }
                if m.template.is_none() {
                    m.template.clone_from(&c.template);
                }
                if m.catalog_url.is_empty() {
                    m.catalog_url.clone_from(&c.catalog_url);
                }
                if m.services.is_empty() {
                    m.services.clone_from(&c.services);
                }
                if metadata_missing(&m.metadata) {
                    m.metadata.clone_from(&c.metadata);
                }
                if m.summary.is_none() {
                    m.summary.clone_from(&c.summary);
                }
                if m.keywords.is_empty() {
                    m.keywords.clone_from(&c.keywords);
                }
                if usable_bbox(m.bbox).is_none() {
                    m.bbox = c.bbox;
                }
            }
        }
    }
    merged.into_values().collect()
}

/// Whether a collection's metadata counts as missing (null or an empty object).
fn metadata_missing(v: &serde_json::Value) -> bool {
    v.is_null() || v.as_object().is_some_and(serde_json::Map::is_empty)
}

/// Upsert collections; an existing collection keeps its description and only gets missing
/// fields filled in. Returns how many were new.
async fn upsert_collections(
    conn: &mut PgConnection,
    collections: &[CollectionUpsert],
    changes: &mut ChangeSet,
) -> Result<u64, StoreError> {
    let all = merge_collections(collections);
    let mut inserted = 0u64;
    for chunk in all.chunks(CHUNK) {
        let mut id = Vec::with_capacity(chunk.len());
        let mut source_id = Vec::with_capacity(chunk.len());
        let mut title = Vec::with_capacity(chunk.len());
        let mut template = Vec::with_capacity(chunk.len());
        let mut catalog_url = Vec::with_capacity(chunk.len());
        let mut services: Vec<Json<serde_json::Value>> = Vec::with_capacity(chunk.len());
        let mut metadata = Vec::with_capacity(chunk.len());
        let mut summary = Vec::with_capacity(chunk.len());
        let mut keywords = Vec::with_capacity(chunk.len());
        let mut corners: [Vec<Option<f64>>; 4] = Default::default();
        for c in chunk {
            if c.id.is_empty() {
                return Err(StoreError::Invalid("a collection needs an ID".into()));
            }
            id.push(clean(&c.id).into_owned());
            source_id.push(c.source_id);
            title.push(clean(&c.title).into_owned());
            template.push(clean_opt(&c.template));
            catalog_url.push(clean(&c.catalog_url).into_owned());
            services.push(ser_jsonb(&c.services)?);
            metadata.push(to_jsonb(&c.metadata));
            summary.push(clean_opt(&c.summary));
            keywords.push(ser_jsonb(&c.keywords)?);
            let b = usable_bbox(c.bbox);
            for (i, v) in [
                b.map(|b| b.west),
                b.map(|b| b.south),
                b.map(|b| b.east),
                b.map(|b| b.north),
            ]
            .into_iter()
            .enumerate()
            {
                corners[i].push(v);
            }
        }
        let rows = sqlx::query(
            "WITH up AS ( \
                 INSERT INTO collections (id, source_id, title, template, catalog_url, services, \
                     metadata, summary, keywords, west, south, east, north, updated_at) \
                 SELECT u.*, now() FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], \
                     $5::text[], $6::jsonb[], $7::jsonb[], $8::text[], $9::jsonb[], \
                     $10::float8[], $11::float8[], $12::float8[], $13::float8[]) AS u \
                 ON CONFLICT (id) DO UPDATE SET \
                     title = CASE WHEN collections.title = '' THEN EXCLUDED.title \
                                  ELSE collections.title END, \
                     template = COALESCE(collections.template, EXCLUDED.template), \
                     catalog_url = CASE WHEN collections.catalog_url = '' \
                                  THEN EXCLUDED.catalog_url ELSE collections.catalog_url END, \
                     services = CASE WHEN collections.services = '[]' \
                                  THEN EXCLUDED.services ELSE collections.services END, \
                     metadata = CASE WHEN collections.metadata IN ('null', '{}') \
                                  THEN EXCLUDED.metadata ELSE collections.metadata END, \
                     summary = COALESCE(collections.summary, EXCLUDED.summary), \
                     keywords = CASE WHEN collections.keywords = '[]' \
                                  THEN EXCLUDED.keywords ELSE collections.keywords END, \
                     west = COALESCE(collections.west, EXCLUDED.west), \
                     south = CASE WHEN collections.west IS NULL THEN EXCLUDED.south \
                                  ELSE collections.south END, \
                     east = CASE WHEN collections.west IS NULL THEN EXCLUDED.east \
                                  ELSE collections.east END, \
                     north = CASE WHEN collections.west IS NULL THEN EXCLUDED.north \
                                  ELSE collections.north END, \
                     updated_at = now() \
                 WHERE (collections.title = '' AND EXCLUDED.title <> '') \
                    OR (collections.template IS NULL AND EXCLUDED.template IS NOT NULL) \
                    OR (collections.catalog_url = '' AND EXCLUDED.catalog_url <> '') \
                    OR (collections.services = '[]' AND EXCLUDED.services <> '[]') \
                    OR (collections.metadata IN ('null', '{}') \
                        AND EXCLUDED.metadata NOT IN ('null', '{}')) \
                    OR (collections.summary IS NULL AND EXCLUDED.summary IS NOT NULL) \
                    OR (collections.keywords = '[]' AND EXCLUDED.keywords <> '[]') \
                    OR (collections.west IS NULL AND EXCLUDED.west IS NOT NULL) \
                 RETURNING id, (xmax = 0) AS inserted \
             ) SELECT id, inserted FROM up",
        )
        .bind(&id)
        .bind(&source_id)
        .bind(&title)
        .bind(&template)
        .bind(&catalog_url)
        .bind(&services)
        .bind(&metadata)
        .bind(&summary)
        .bind(&keywords)
        .bind(&corners[0])
        .bind(&corners[1])
        .bind(&corners[2])
        .bind(&corners[3])
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        for r in &rows {
            let id: String = r.try_get(0).map_err(db_err)?;
            let new: bool = r.try_get(1).map_err(db_err)?;
            if new {
                inserted += 1;
                changes.collection(ChangeKind::CollectionCreated, &id);
            } else {
                changes.collection(ChangeKind::CollectionUpdated, &id);
            }
        }
    }
    Ok(inserted)
}

/// Recompute granule count and time extent of the given collections.
pub(crate) async fn refresh_collection_stats(
    pool: &PgPool,
    collection_ids: &[String],
) -> Result<(), StoreError> {
    if collection_ids.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<String> = collection_ids
        .iter()
        .map(|i| clean(i).into_owned())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    for chunk in ids.chunks(CHUNK) {
        let mut tx = pool.begin().await.map_err(db_err)?;
        refresh_locked(&mut tx, chunk).await?;
        tx.commit().await.map_err(db_err)?;
    }
    Ok(())
}

/// Recompute granule count and time extent of every collection with granules listed by the
/// catalogs `catalog_keys`, inside the caller's transaction.
pub(crate) async fn refresh_stats_of_catalogs(
    conn: &mut PgConnection,
    catalog_keys: &[i64],
) -> Result<(), StoreError> {
    if catalog_keys.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM collections WHERE key IN \
             (SELECT DISTINCT collection_key FROM granules WHERE catalog_key = ANY($1::int8[]))",
    )
    .bind(catalog_keys)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    refresh_locked(conn, &ids).await
}

/// Recompute the statistics of the collections `ids`, inside the caller's transaction. The
/// rows are locked first (in ID order, as writers upsert them) and the figures computed by a
/// second statement, whose snapshot is taken once every row is held: a refresh that had to
/// wait for another can never write figures older than the ones that other wrote (one
/// statement would compute them from the snapshot of its start, before the wait, and write
/// them over the newer ones). Every write of granules is followed by a refresh that starts
/// after its commit, so the last refresh of a collection counts them all.
async fn refresh_locked(conn: &mut PgConnection, ids: &[String]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT key FROM collections WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE")
        .bind(ids)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    // Only rows whose figures change are written (and get a new `updated_at`). Nothing
    // counts the collection's granules: the timed ones are the sum of its `granule_days` rows
    // (kept by triggers in the writing transactions), the untimed ones an index range, the
    // first and last start the ends of the `(collection_key, start_time)` index, and the
    // latest end is found among the granules starting within `max_span_us` (an upper bound of
    // end - start) of the last start (≤ 317 years back, never below 4317 BC); only if none of
    // those ends reaches the last start (ends before starts) are all the timed granules read.
    sqlx::query(
        "UPDATE collections c SET granule_count = a.n, start_time = a.s, end_time = a.e, \
             updated_at = now() \
         FROM collections c2 \
         CROSS JOIN LATERAL ( \
             SELECT (SELECT COALESCE(sum(d.n), 0)::int8 FROM granule_days d \
                     WHERE d.collection_key = c2.key) AS timed, \
                    (SELECT g.start_time FROM granules g \
                     WHERE g.collection_key = c2.key AND g.start_time IS NOT NULL \
                     ORDER BY g.start_time NULLS FIRST LIMIT 1) AS first, \
                    (SELECT g.start_time FROM granules g \
                     WHERE g.collection_key = c2.key AND g.start_time IS NOT NULL \
                     ORDER BY g.start_time DESC NULLS LAST LIMIT 1) AS last) AS b \
         CROSS JOIN LATERAL ( \
             SELECT count(*) AS n, max(g.end_time) AS e FROM granules g \
             WHERE g.collection_key = c2.key AND g.start_time IS NULL) AS u \
         CROSS JOIN LATERAL ( \
             SELECT max(COALESCE(g.end_time, g.start_time)) AS e FROM granules g \
             WHERE g.collection_key = c2.key AND g.start_time >= \
                 CASE WHEN c2.max_span_us <= 10000000000000000 \
                           AND b.last >= timestamptz '4000-01-01 00:00:00+00 BC' \
                      THEN b.last - c2.max_span_us * interval '1 microsecond' \
                      ELSE '-infinity' END) AS w \
         CROSS JOIN LATERAL ( \
             SELECT b.timed + u.n AS n, b.first AS s, \
                    GREATEST(u.e, CASE WHEN w.e >= b.last THEN w.e ELSE \
                        (SELECT max(COALESCE(g.end_time, g.start_time)) FROM granules g \
                         WHERE g.collection_key = c2.key AND g.start_time IS NOT NULL) \
                    END) AS e) AS a \
         WHERE c2.id = ANY($1::text[]) AND c.key = c2.key \
           AND (c.granule_count, c.start_time, c.end_time) IS DISTINCT FROM (a.n, a.s, a.e)",
    )
    .bind(ids)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One statement of a transaction that already holds a row lock, returning its error (the
    /// transaction is rolled back either way, releasing its locks).
    #[cfg(feature = "testdb")]
    async fn lock_second(
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        k: i32,
    ) -> Option<sqlx::Error> {
        let r = sqlx::query("UPDATE t SET k = k WHERE k = $1")
            .bind(k)
            .execute(&mut *tx)
            .await;
        let _ = tx.rollback().await;
        r.err()
    }

    /// A real deadlock between two transactions is an error that `write_batch` writes again;
    /// other errors are not.
    #[cfg(feature = "testdb")]
    #[tokio::test]
    async fn deadlocks_are_written_again() {
        let (url, _db) = crate::testdb::fresh_database().await;
        let pool = PgPool::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (k int PRIMARY KEY)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (1), (2)")
            .execute(&pool)
            .await
            .unwrap();
        let mut a = pool.begin().await.unwrap();
        let mut b = pool.begin().await.unwrap();
        for (tx, k) in [(&mut a, 1), (&mut b, 2)] {
            sqlx::query("UPDATE t SET k = k WHERE k = $1")
                .bind(k)
                .execute(&mut **tx)
                .await
                .unwrap();
        }
        // Each now waits for the other's row: Postgres aborts one of them.
        let (ea, eb) = tokio::join!(
            tokio::spawn(lock_second(a, 2)),
            tokio::spawn(lock_second(b, 1))
        );
        let errors: Vec<StoreError> = [ea.unwrap(), eb.unwrap()]
            .into_iter()
            .flatten()
            .map(db_err)
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(crate::convert::concurrency_abort(&errors[0]), "{errors:?}");
        assert!(!crate::convert::concurrency_abort(&StoreError::Invalid(
            "bad".into()
        )));
        let other = sqlx::query("SELECT * FROM no_such_table")
            .execute(&pool)
            .await
            .unwrap_err();
        assert!(!crate::convert::concurrency_abort(&db_err(other)));
    }

    #[test]
    fn repeated_collections_merge_like_sequential_upserts() {
        let first = CollectionUpsert {
            id: "a:b".into(),
            title: "First".into(),
            ..Default::default()
        };
        let second = CollectionUpsert {
            id: "a:b".into(),
            title: "Second".into(),
            template: Some("b_{t}".into()),
            metadata: serde_json::json!({"k": 1}),
            ..Default::default()
        };
        let merged = merge_collections(&[first, second]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].title, "First");
        assert_eq!(merged[0].template.as_deref(), Some("b_{t}"));
        assert_eq!(merged[0].metadata, serde_json::json!({"k": 1}));
    }
}
