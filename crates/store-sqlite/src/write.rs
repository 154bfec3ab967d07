//! Atomic batch writes and derived collection figures.

// Batch-local maps keyed by granule IDs and catalog URLs: foldhash (randomly seeded per
// process) instead of SipHash; each map holds at most one batch's rows.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use chrono::Utc;
use sqlx::{AssertSqlSafe, Row, SqliteConnection, SqlitePool};
use threddex_store::{
    Batch, BatchOutcome, CatalogState, ChangeKind, ChangeSet, CollectionUpsert, Granule, Result,
    StoreError,
};

use crate::convert::{
    NO_START, db_err, opt_ts_from_db, opt_ts_to_db, start_from_key, to_json, ts_to_db,
};
use crate::granules::Coll;
use crate::views::ViewChanges;

/// SQLite's maximum number of bound parameters per statement.
const MAX_BINDS: usize = 32_766;
/// Rows per multi-row catalog / collection statement.
const SMALL_CHUNK: usize = 500;

/// `(?, ?, …)` repeated `rows` times, each with `cols` placeholders.
fn values_clause(rows: usize, cols: usize) -> String {
    let mut one = String::with_capacity(cols * 3 + 2);
    one.push('(');
    for c in 0..cols {
        if c > 0 {
            one.push(',');
        }
        one.push('?');
    }
    one.push(')');
    let mut s = String::with_capacity(rows * (one.len() + 1));
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push_str(&one);
    }
    s
}

/// `(?, ?, …)` with `n` placeholders, for `IN` lists.
fn in_list(n: usize) -> String {
    let mut s = String::with_capacity(n * 2 + 2);
    s.push('(');
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('?');
    }
    s.push(')');
    s
}

pub(crate) async fn write_batch(pool: &SqlitePool, batch: &Batch) -> Result<BatchOutcome> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let outcome = apply(&mut tx, batch).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(outcome)
}

async fn apply(conn: &mut SqliteConnection, batch: &Batch) -> Result<BatchOutcome> {
    let mut out = BatchOutcome::default();
    let mut views = ViewChanges::default();
    let mut changes = ChangeSet::default();
    for url in &batch.delete_catalog_trees {
        delete_tree(conn, url, &mut out, &mut views, &mut changes).await?;
    }
    for chunk in batch.catalogs.chunks(SMALL_CHUNK) {
        upsert_catalogs(conn, chunk).await?;
    }
    if !batch.collections.is_empty() {
        let before = max_key(conn, "SELECT coalesce(max(key), 0) FROM collections").await?;
        let now = ts_to_db(Utc::now());
        for chunk in batch.collections.chunks(SMALL_CHUNK) {
            for (id, key) in upsert_collections(conn, chunk, now).await? {
                let kind = if key > before {
                    ChangeKind::CollectionCreated
                } else {
                    ChangeKind::CollectionUpdated
                };
                changes.collection(kind, &id);
            }
        }
        out.collections_inserted = count_after(
            conn,
            "SELECT count(*) FROM collections WHERE key > ?1",
            before,
        )
        .await?;
    }
    let mut colls: HashMap<String, Coll> = HashMap::new();
    // Complete catalogs that held no granule row before this batch: afterwards every row
    // under them is one the batch wrote (and listed), so none can have vanished.
    let mut unstocked: HashSet<i64> = HashSet::new();
    let mut catalog_keys: HashMap<String, i64> = HashMap::new();
    if !batch.granules.is_empty() {
        colls = resolve_collections(conn, &batch.granules).await?;
        catalog_keys = resolve_catalogs(conn, &batch.granules, &colls).await?;
        unstocked = without_granules(conn, &batch.complete_catalogs, &catalog_keys).await?;
        crate::granules::learn_path_templates(conn, &mut colls, &batch.granules).await?;
        let mut rows = Vec::with_capacity(batch.granules.len());
        for g in &batch.granules {
            let c = colls.get(&g.collection_id).ok_or_else(|| {
                StoreError::Invalid(format!("unknown collection {:?}", g.collection_id))
            })?;
            rows.push((c, g));
        }
        out.granules_inserted =
            crate::granules::upsert(conn, &rows, &catalog_keys, &mut changes).await?;
        widen_max_span(conn, &batch.granules, &colls).await?;
        views.written = batch
            .granules
            .iter()
            .filter_map(|g| {
                let coll = colls.get(&g.collection_id)?.key;
                let cat = catalog_keys.get(&g.catalog_url)?;
                Some((coll, *cat))
            })
            .collect();
    }
    if !batch.complete_catalogs.is_empty() {
        let mut by_key: HashMap<i64, Coll> = colls.values().map(|c| (c.key, c.clone())).collect();
        for url in &batch.complete_catalogs {
            if catalog_keys.get(url).is_some_and(|k| unstocked.contains(k)) {
                continue;
            }
            let n = delete_vanished(conn, url, batch, &colls, &mut by_key, &mut changes).await?;
            if n > 0 {
                views.shrunk.push(url.clone());
            }
            out.granules_deleted += n;
        }
    }
    crate::views::apply(conn, batch, views).await?;
    out.changed_collections = changes.collections();
    crate::change_log::append(conn, &changes.into_entries()).await?;
    Ok(out)
}

async fn max_key(conn: &mut SqliteConnection, sql: &'static str) -> Result<i64> {
    sqlx::query_scalar(sql)
        .fetch_one(conn)
        .await
        .map_err(db_err)
}

async fn count_after(conn: &mut SqliteConnection, sql: &'static str, key: i64) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(sql)
        .bind(key)
        .fetch_one(conn)
        .await
        .map_err(db_err)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Step 1: a catalog, every catalog whose parent chain leads to it, and their granules (their
/// views go with the catalogs).
async fn delete_tree(
    conn: &mut SqliteConnection,
    url: &str,
    out: &mut BatchOutcome,
    views: &mut ViewChanges,
    changes: &mut ChangeSet,
) -> Result<()> {
    const TREE: &str = "WITH RECURSIVE tree(url) AS (SELECT ?1 UNION \
                        SELECT c.url FROM catalogs c JOIN tree t ON c.parent_url = t.url) ";
    crate::views::before_tree_delete(conn, TREE, url, views).await?;
    // What goes, for the change log.
    let gone = sqlx::query(AssertSqlSafe(format!(
        "{TREE}SELECT collection_key, start_time, end_time, granule_id FROM granules \
         WHERE catalog_key IN (SELECT key FROM catalogs WHERE url IN (SELECT url FROM tree)) \
         ORDER BY collection_key"
    )))
    .bind(url)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let keys: Vec<i64> = gone
        .iter()
        .filter_map(|r| r.try_get::<i64, _>(0).ok())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let colls = crate::granules::colls_by_key(conn, &keys).await?;
    for r in &gone {
        let key: i64 = r.try_get(0).map_err(db_err)?;
        let Some(c) = colls.get(&key) else { continue };
        let start = start_from_key(r.try_get_unchecked(1).map_err(db_err)?)?;
        let end = opt_ts_from_db(r.try_get_unchecked(2).map_err(db_err)?)?;
        let kind = ChangeKind::GranulesRemoved;
        let id = if changes.wants_id(kind, &c.id) {
            c.row_id(r.try_get(3).map_err(db_err)?, start, end)?
        } else {
            String::new()
        };
        changes.granule(kind, &c.id, &id, start, end);
    }
    let granules = sqlx::query(AssertSqlSafe(format!(
        "{TREE}DELETE FROM granules WHERE catalog_key IN \
         (SELECT key FROM catalogs WHERE url IN (SELECT url FROM tree))"
    )))
    .bind(url)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    let catalogs = sqlx::query(AssertSqlSafe(format!(
        "{TREE}DELETE FROM catalogs WHERE url IN (SELECT url FROM tree)"
    )))
    .bind(url)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    out.granules_deleted += granules.rows_affected();
    out.catalogs_deleted += catalogs.rows_affected();
    Ok(())
}

async fn upsert_catalogs(conn: &mut SqliteConnection, rows: &[CatalogState]) -> Result<()> {
    const COLS: usize = 16;
    let sql = format!(
        "INSERT INTO catalogs (url, source_id, parent_url, depth, class, status, last_fetch, etag, \
         last_modified, content_hash, last_changed, granule_count, error, next_visit, expires, \
         next_change) \
         VALUES {} ON CONFLICT (url) DO UPDATE SET source_id = excluded.source_id, \
         parent_url = excluded.parent_url, depth = excluded.depth, class = excluded.class, \
         status = excluded.status, last_fetch = excluded.last_fetch, etag = excluded.etag, \
         last_modified = excluded.last_modified, content_hash = excluded.content_hash, \
         last_changed = excluded.last_changed, granule_count = excluded.granule_count, \
         error = excluded.error, next_visit = excluded.next_visit, expires = excluded.expires, \
         next_change = excluded.next_change \
         WHERE excluded.status <> 'pending' OR catalogs.status = 'pending'",
        values_clause(rows.len(), COLS)
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for c in rows {
        if c.url.is_empty() {
            return Err(StoreError::Invalid("catalog with an empty URL".into()));
        }
        q = q
            .bind(&c.url)
            .bind(c.source_id)
            .bind(&c.parent_url)
            .bind(c.depth)
            .bind(c.class.as_str())
            .bind(c.status.as_str())
            .bind(opt_ts_to_db(c.last_fetch))
            .bind(&c.etag)
            .bind(&c.last_modified)
            .bind(&c.content_hash)
            .bind(opt_ts_to_db(c.last_changed))
            .bind(c.granule_count)
            .bind(&c.error)
            .bind(opt_ts_to_db(c.next_visit))
            .bind(opt_ts_to_db(c.expires))
            .bind(opt_ts_to_db(c.next_change));
    }
    q.execute(conn).await.map_err(db_err)?;
    Ok(())
}

/// Collections: an existing row keeps its description; only missing fields (no template,
/// summary or bbox, empty title, catalog URL, services or keywords, null/empty metadata) are
/// filled in, and `updated_at` only moves when one is.
/// Returns `(ID, key)` of the collections inserted or changed.
async fn upsert_collections(
    conn: &mut SqliteConnection,
    rows: &[CollectionUpsert],
    now: f64,
) -> Result<Vec<(String, i64)>> {
    const COLS: usize = 14;
    let sql = format!(
        "INSERT INTO collections (id, source_id, title, template, catalog_url, services, metadata, \
         summary, keywords, west, south, east, north, updated_at) VALUES {} \
         ON CONFLICT (id) DO UPDATE SET \
         title = CASE WHEN title = '' THEN excluded.title ELSE title END, \
         template = coalesce(template, excluded.template), \
         catalog_url = CASE WHEN catalog_url = '' THEN excluded.catalog_url ELSE catalog_url END, \
         services = CASE WHEN services = '[]' THEN excluded.services ELSE services END, \
         metadata = CASE WHEN metadata IN ('null', '{{}}') THEN excluded.metadata ELSE metadata END, \
         summary = coalesce(summary, excluded.summary), \
         keywords = CASE WHEN keywords = '[]' THEN excluded.keywords ELSE keywords END, \
         west = CASE WHEN west IS NULL THEN excluded.west ELSE west END, \
         south = CASE WHEN west IS NULL THEN excluded.south ELSE south END, \
         east = CASE WHEN west IS NULL THEN excluded.east ELSE east END, \
         north = CASE WHEN west IS NULL THEN excluded.north ELSE north END, \
         updated_at = excluded.updated_at \
         WHERE (title = '' AND excluded.title <> '') \
            OR (template IS NULL AND excluded.template IS NOT NULL) \
            OR (catalog_url = '' AND excluded.catalog_url <> '') \
            OR (services = '[]' AND excluded.services <> '[]') \
            OR (metadata IN ('null', '{{}}') AND excluded.metadata NOT IN ('null', '{{}}')) \
            OR (summary IS NULL AND excluded.summary IS NOT NULL) \
            OR (keywords = '[]' AND excluded.keywords <> '[]') \
            OR (west IS NULL AND excluded.west IS NOT NULL) \
         RETURNING id, key",
        values_clause(rows.len(), COLS)
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for c in rows {
        if c.id.is_empty() {
            return Err(StoreError::Invalid("collection with an empty ID".into()));
        }
        if let Some(b) = &c.bbox {
            let finite = [b.west, b.south, b.east, b.north]
                .iter()
                .all(|v| v.is_finite());
            if !finite || b.south > b.north {
                return Err(StoreError::Invalid(format!(
                    "collection {:?}: bad bbox {b:?}",
                    c.id
                )));
            }
        }
        q = q
            .bind(&c.id)
            .bind(c.source_id)
            .bind(&c.title)
            .bind(&c.template)
            .bind(&c.catalog_url)
            .bind(to_json(&c.services, "services")?)
            .bind(to_json(&c.metadata, "metadata")?)
            .bind(&c.summary)
            .bind(to_json(&c.keywords, "keywords")?)
            .bind(c.bbox.map(|b| b.west))
            .bind(c.bbox.map(|b| b.south))
            .bind(c.bbox.map(|b| b.east))
            .bind(c.bbox.map(|b| b.north))
            .bind(now);
    }
    let rows = q.fetch_all(conn).await.map_err(db_err)?;
    rows.iter()
        .map(|r| Ok((r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?)))
        .collect()
}

/// Every collection the granules name (key, source, templates); unknown ones are an error.
async fn resolve_collections(
    conn: &mut SqliteConnection,
    granules: &[Granule],
) -> Result<HashMap<String, Coll>> {
    let ids: Vec<&str> = granules
        .iter()
        .map(|g| g.collection_id.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut colls = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_BINDS) {
        let sql = format!(
            "SELECT id, key, source_id, template, path_template FROM collections WHERE id IN {}",
            in_list(chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&mut *conn).await.map_err(db_err)? {
            let id: String = row.try_get(0).map_err(db_err)?;
            colls.insert(id, crate::granules::coll_from_row(&row)?);
        }
    }
    if let Some(missing) = ids.iter().find(|id| !colls.contains_key(**id)) {
        return Err(StoreError::Invalid(format!(
            "granules name collection {missing:?}, which is neither stored nor in the batch"
        )));
    }
    Ok(colls)
}

/// Catalog keys of every catalog the granules name; unknown catalogs get a pending row.
async fn resolve_catalogs(
    conn: &mut SqliteConnection,
    granules: &[Granule],
    collections: &HashMap<String, Coll>,
) -> Result<HashMap<String, i64>> {
    let mut wanted: HashMap<&str, i64> = HashMap::new();
    for g in granules {
        if g.catalog_url.is_empty() {
            continue;
        }
        let source = collections.get(&g.collection_id).map_or(0, |c| c.source);
        wanted.entry(g.catalog_url.as_str()).or_insert(source);
    }
    let urls: Vec<&str> = wanted.keys().copied().collect();
    let mut keys = fetch_catalog_keys(conn, &urls).await?;
    let missing: Vec<(&str, i64)> = wanted
        .iter()
        .filter(|(u, _)| !keys.contains_key(**u))
        .map(|(u, s)| (*u, *s))
        .collect();
    if !missing.is_empty() {
        for chunk in missing.chunks(SMALL_CHUNK) {
            let sql = format!(
                "INSERT INTO catalogs (url, source_id) VALUES {} ON CONFLICT (url) DO NOTHING",
                values_clause(chunk.len(), 2)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (url, source) in chunk {
                q = q.bind(*url).bind(*source);
            }
            q.execute(&mut *conn).await.map_err(db_err)?;
        }
        let urls: Vec<&str> = missing.iter().map(|(u, _)| *u).collect();
        keys.extend(fetch_catalog_keys(conn, &urls).await?);
    }
    Ok(keys)
}

async fn fetch_catalog_keys(
    conn: &mut SqliteConnection,
    urls: &[&str],
) -> Result<HashMap<String, i64>> {
    let mut keys = HashMap::with_capacity(urls.len());
    for chunk in urls.chunks(MAX_BINDS) {
        let sql = format!(
            "SELECT url, key FROM catalogs WHERE url IN {}",
            in_list(chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for url in chunk {
            q = q.bind(*url);
        }
        for row in q.fetch_all(&mut *conn).await.map_err(db_err)? {
            keys.insert(
                row.try_get(0).map_err(db_err)?,
                row.try_get(1).map_err(db_err)?,
            );
        }
    }
    Ok(keys)
}

/// Keys (from `keys`) of the catalogs in `complete` that hold no granule row now (an index
/// probe each on `granules_catalog`).
async fn without_granules(
    conn: &mut SqliteConnection,
    complete: &[String],
    keys: &HashMap<String, i64>,
) -> Result<HashSet<i64>> {
    let wanted: Vec<i64> = complete
        .iter()
        .filter_map(|u| keys.get(u).copied())
        .collect();
    let mut empty = HashSet::with_capacity(wanted.len());
    for chunk in wanted.chunks(MAX_BINDS) {
        let sql = format!(
            "SELECT key FROM catalogs WHERE key IN {} \
             AND NOT EXISTS (SELECT 1 FROM granules g WHERE g.catalog_key = catalogs.key)",
            in_list(chunk.len())
        );
        let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
        for k in chunk {
            q = q.bind(*k);
        }
        empty.extend(q.fetch_all(&mut *conn).await.map_err(db_err)?);
    }
    Ok(empty)
}

/// Keep each collection's `max_span` an upper bound of its granules' durations.
async fn widen_max_span(
    conn: &mut SqliteConnection,
    granules: &[Granule],
    collections: &HashMap<String, Coll>,
) -> Result<()> {
    let mut spans: HashMap<i64, f64> = HashMap::new();
    for g in granules {
        if let (Some(s), Some(e), Some(key)) = (
            g.start,
            g.end,
            collections.get(&g.collection_id).map(|c| c.key),
        ) {
            let span = ts_to_db(e) - ts_to_db(s);
            let entry = spans.entry(key).or_insert(0.0);
            if span > *entry {
                *entry = span;
            }
        }
    }
    for (key, span) in spans {
        sqlx::query("UPDATE collections SET max_span = ?2 WHERE key = ?1 AND max_span < ?2")
            .bind(key)
            .bind(span)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// Step 3: granules recorded under a complete catalog that this batch does not list.
async fn delete_vanished(
    conn: &mut SqliteConnection,
    url: &str,
    batch: &Batch,
    collections: &HashMap<String, Coll>,
    by_key: &mut HashMap<i64, Coll>,
    changes: &mut ChangeSet,
) -> Result<u64> {
    let key: Option<i64> = sqlx::query_scalar("SELECT key FROM catalogs WHERE url = ?1")
        .bind(url)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    let Some(key) = key else { return Ok(0) };
    let listed: HashSet<(i64, &str)> = batch
        .granules
        .iter()
        .filter(|g| g.catalog_url == url)
        .filter_map(|g| {
            collections
                .get(&g.collection_id)
                .map(|c| (c.key, g.granule_id.as_str()))
        })
        .collect();
    crate::granules::delete_unlisted(conn, key, &listed, by_key, changes).await
}

pub(crate) async fn refresh_collection_stats(pool: &SqlitePool, ids: &[String]) -> Result<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let now = ts_to_db(Utc::now());
    let mut seen = HashSet::new();
    // Nothing counts the collection's granules: the timed ones are the sum of its
    // `granule_days` rows (kept by triggers), the untimed ones (start = NO_START) an index
    // range, the first and last start the ends of the primary key's start range, and the
    // last end is found among the granules starting within `max_span` (an upper bound of
    // end - start, widened by every write) of the last start; only if none of those ends
    // reaches the last start (ends before starts) are all the timed granules read.
    for id in ids.iter().filter(|id| seen.insert(id.as_str())) {
        sqlx::query(
            "WITH c AS (SELECT key, max_span FROM collections WHERE id = ?1), \
             b AS (SELECT \
                 (SELECT coalesce(sum(d.n), 0) FROM granule_days d, c \
                  WHERE d.collection_key = c.key) AS timed, \
                 (SELECT count(*) FROM granules g, c \
                  WHERE g.collection_key = c.key AND g.start_time = ?3) AS untimed, \
                 (SELECT max(g.end_time) FROM granules g, c \
                  WHERE g.collection_key = c.key AND g.start_time = ?3) AS untimed_end, \
                 (SELECT g.start_time FROM granules g, c \
                  WHERE g.collection_key = c.key AND g.start_time > ?3 \
                  ORDER BY g.start_time LIMIT 1) AS first, \
                 (SELECT g.start_time FROM granules g, c \
                  WHERE g.collection_key = c.key AND g.start_time > ?3 \
                  ORDER BY g.start_time DESC LIMIT 1) AS last), \
             w AS (SELECT (SELECT max(coalesce(g.end_time, g.start_time)) FROM granules g \
                  WHERE g.collection_key = c.key AND g.start_time > ?3 \
                    AND g.start_time >= b.last - c.max_span) AS e FROM b, c), \
             t AS (SELECT CASE WHEN w.e >= b.last THEN w.e ELSE \
                 (SELECT max(coalesce(g.end_time, g.start_time)) FROM granules g, c \
                  WHERE g.collection_key = c.key AND g.start_time > ?3) END AS e FROM w, b), \
             a AS (SELECT b.timed + b.untimed AS n, b.first AS s, \
                 CASE WHEN b.untimed_end IS NULL THEN t.e WHEN t.e IS NULL THEN b.untimed_end \
                      ELSE max(t.e, b.untimed_end) END AS e FROM b, t) \
             UPDATE collections SET granule_count = a.n, start_time = a.s, end_time = a.e, \
                 updated_at = ?2 \
             FROM a WHERE collections.id = ?1 AND (collections.granule_count IS NOT a.n \
                OR collections.start_time IS NOT a.s OR collections.end_time IS NOT a.e)",
        )
        .bind(id)
        .bind(now)
        .bind(NO_START)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_lists() {
        assert_eq!(values_clause(2, 3), "(?,?,?),(?,?,?)");
        assert_eq!(in_list(3), "(?,?,?)");
        const { assert!(crate::granules::GRANULE_CHUNK * 11 <= MAX_BINDS) };
        const { assert!(SMALL_CHUNK * 15 <= MAX_BINDS) };
    }
}
