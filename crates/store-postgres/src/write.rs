//! Batch writes: one transaction, bulk upserts through `UNNEST` arrays.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};
use threddex_store::{
    Batch, BatchOutcome, CatalogState, CollectionUpsert, Granule, StoreError, Timestamp,
};

use crate::compact::{PROBED, Stored, Templates, encode, learn_path_template, row_id};
use crate::convert::{clean, clean_opt, db_err, ser_jsonb, span_us, to_jsonb, usable_bbox};

/// Rows per bulk statement (bounds the size of one statement's parameters).
pub(crate) const CHUNK: usize = 10_000;

/// Write a batch atomically (see [`Batch`] for the order of application).
pub(crate) async fn write_batch(pool: &PgPool, batch: &Batch) -> Result<BatchOutcome, StoreError> {
    let mut out = BatchOutcome::default();
    if batch.is_empty() {
        return Ok(out);
    }
    let mut tx = pool.begin().await.map_err(db_err)?;

    // 1. expired catalog trees and their granules.
    if !batch.delete_catalog_trees.is_empty() {
        let (granules, catalogs) = delete_trees(&mut tx, &batch.delete_catalog_trees).await?;
        out.granules_deleted += granules;
        out.catalogs_deleted += catalogs;
    }

    // 2. upserts: catalogs, collections, then granules (which refer to both).
    upsert_catalogs(&mut tx, &batch.catalogs).await?;
    out.collections_inserted += upsert_collections(&mut tx, &batch.collections).await?;
    let (mut rows, mut templates) = granule_rows(&mut tx, &batch.granules).await?;
    learn_path_templates(&mut tx, &rows, &mut templates).await?;
    out.granules_inserted += upsert_granules(&mut tx, &mut rows, &templates).await?;

    // 3. complete listings: whatever the batch does not list vanished from the server.
    if !batch.complete_catalogs.is_empty() {
        out.granules_deleted += reconcile(&mut tx, &batch.complete_catalogs, &rows).await?;
    }

    tx.commit().await.map_err(db_err)?;
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
async fn delete_trees(conn: &mut PgConnection, urls: &[String]) -> Result<(u64, u64), StoreError> {
    let keys = tree_keys(conn, urls).await?;
    if keys.is_empty() {
        return Ok((0, 0));
    }
    let granules = sqlx::query("DELETE FROM granules WHERE catalog_key = ANY($1::int8[])")
        .bind(&keys)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?
        .rows_affected();
    let catalogs = sqlx::query("DELETE FROM catalogs WHERE key = ANY($1::int8[])")
        .bind(&keys)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?
        .rows_affected();
    Ok((granules, catalogs))
}

/// Upsert catalog states by URL (the last state of a URL in the batch wins).
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
        }
        sqlx::query(
            "INSERT INTO catalogs (url, source_id, parent_url, depth, class, status, last_fetch, \
                 etag, last_modified, content_hash, last_changed, granule_count, error, \
                 next_visit, expires) \
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int4[], $5::text[], \
                 $6::text[], $7::timestamptz[], $8::text[], $9::text[], $10::text[], \
                 $11::timestamptz[], $12::int8[], $13::text[], $14::timestamptz[], \
                 $15::timestamptz[]) \
             ON CONFLICT (url) DO UPDATE SET source_id = EXCLUDED.source_id, \
                 parent_url = EXCLUDED.parent_url, depth = EXCLUDED.depth, \
                 class = EXCLUDED.class, status = EXCLUDED.status, \
                 last_fetch = EXCLUDED.last_fetch, etag = EXCLUDED.etag, \
                 last_modified = EXCLUDED.last_modified, content_hash = EXCLUDED.content_hash, \
                 last_changed = EXCLUDED.last_changed, granule_count = EXCLUDED.granule_count, \
                 error = EXCLUDED.error, next_visit = EXCLUDED.next_visit, \
                 expires = EXCLUDED.expires",
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
        let row = sqlx::query(
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
                 RETURNING (xmax = 0) AS inserted \
             ) SELECT count(*) FILTER (WHERE inserted) FROM up",
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
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
        inserted += count(&row)?;
    }
    Ok(inserted)
}

/// A granule ready to be written: keys resolved.
pub(crate) struct GranuleRow<'a> {
    collection_key: i64,
    catalog_key: Option<i64>,
    /// The granule ID as stored (NUL-free).
    id: Cow<'a, str>,
    granule: &'a Granule,
    /// Its hash slot (`id_hash`), set by [`upsert_granules`].
    slot: i64,
    /// Whether the slot is not its home slot (a collision).
    probed: bool,
}

/// Resolve the collection and catalog keys of the batch's granules, dedup them by
/// `(collection, granule ID)` (the last occurrence wins, as with sequential upserts) and sort
/// them by that key (a consistent lock order across concurrent writers).
///
/// An unknown collection is an error; an unknown (non-empty) catalog URL gets a pending
/// catalog row of the collection's source.
async fn granule_rows<'a>(
    conn: &mut PgConnection,
    granules: &'a [Granule],
) -> Result<(Vec<GranuleRow<'a>>, HashMap<i64, Templates>), StoreError> {
    if granules.is_empty() {
        return Ok((Vec::new(), HashMap::new()));
    }
    let mut collection_ids: Vec<String> = granules
        .iter()
        .map(|g| clean(&g.collection_id).into_owned())
        .collect();
    collection_ids.sort_unstable();
    collection_ids.dedup();
    let rows = sqlx::query(
        "SELECT id, key, source_id, template, path_template FROM collections \
         WHERE id = ANY($1::text[])",
    )
    .bind(&collection_ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut collections: HashMap<String, (i64, i64)> = HashMap::with_capacity(rows.len());
    let mut templates: HashMap<i64, Templates> = HashMap::with_capacity(rows.len());
    for r in &rows {
        let id: String = r.try_get(0).map_err(db_err)?;
        let key: i64 = r.try_get(1).map_err(db_err)?;
        collections.insert(id, (key, r.try_get(2).map_err(db_err)?));
        templates.insert(
            key,
            Templates {
                template: r.try_get(3).map_err(db_err)?,
                path_template: r.try_get(4).map_err(db_err)?,
            },
        );
    }
    if let Some(missing) = collection_ids
        .iter()
        .find(|id| !collections.contains_key(*id))
    {
        return Err(StoreError::Invalid(format!(
            "granules name collection {missing:?}, which is neither stored nor in the batch"
        )));
    }

    // Catalog URL -> source of the first granule naming it (for pending rows).
    let mut wanted: BTreeMap<Cow<'a, str>, i64> = BTreeMap::new();
    for g in granules {
        if g.catalog_url.is_empty() {
            continue;
        }
        let source = collections
            .get(clean(&g.collection_id).as_ref())
            .map_or(0, |&(_, s)| s);
        wanted.entry(clean(&g.catalog_url)).or_insert(source);
    }
    let urls: Vec<&str> = wanted.keys().map(AsRef::as_ref).collect();
    let mut catalogs = key_map(
        conn,
        "SELECT url, key FROM catalogs WHERE url = ANY($1::text[])",
        &urls,
    )
    .await?;
    let (missing_urls, missing_sources): (Vec<&str>, Vec<i64>) = wanted
        .iter()
        .filter(|(u, _)| !catalogs.contains_key(u.as_ref()))
        .map(|(u, s)| (u.as_ref(), *s))
        .unzip();
    if !missing_urls.is_empty() {
        sqlx::query(
            "INSERT INTO catalogs (url, source_id) \
             SELECT * FROM UNNEST($1::text[], $2::int8[]) ON CONFLICT (url) DO NOTHING",
        )
        .bind(&missing_urls)
        .bind(&missing_sources)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        catalogs.extend(
            key_map(
                conn,
                "SELECT url, key FROM catalogs WHERE url = ANY($1::text[])",
                &missing_urls,
            )
            .await?,
        );
    }

    let mut unique: BTreeMap<(i64, Cow<'a, str>), GranuleRow<'a>> = BTreeMap::new();
    for g in granules {
        let Some(&(collection_key, _)) = collections.get(clean(&g.collection_id).as_ref()) else {
            return Err(StoreError::Invalid(format!(
                "unknown collection {:?}",
                g.collection_id
            )));
        };
        let catalog_key = catalogs.get(clean(&g.catalog_url).as_ref()).copied();
        let id = clean(&g.granule_id);
        unique.insert(
            (collection_key, id.clone()),
            GranuleRow {
                collection_key,
                catalog_key,
                id,
                granule: g,
                slot: 0,
                probed: false,
            },
        );
    }
    Ok((unique.into_values().collect(), templates))
}

/// Most slots tried after a granule's home hash slot is taken by another ID.
const MAX_PROBES: i64 = 64;

/// Give collections without a urlPath template one (see [`learn_path_template`]): the first
/// granule of the batch whose urlPath yields one. A template, once set, never changes.
async fn learn_path_templates(
    conn: &mut PgConnection,
    rows: &[GranuleRow<'_>],
    templates: &mut HashMap<i64, Templates>,
) -> Result<(), StoreError> {
    let mut tried: HashSet<i64> = HashSet::new();
    for r in rows {
        let Some(t) = templates.get_mut(&r.collection_key) else {
            continue;
        };
        if t.path_template.is_some() {
            continue;
        }
        let Some(path) = r.granule.url_path.as_deref().map(clean) else {
            continue;
        };
        let Some(learnt) = learn_path_template(r.granule, &path, &r.id) else {
            continue;
        };
        if !tried.insert(r.collection_key) {
            continue;
        }
        // Another writer may have set one meanwhile: keep (and use) that one.
        let kept: Option<String> = sqlx::query_scalar(
            "UPDATE collections SET path_template = COALESCE(path_template, $2) \
             WHERE key = $1 RETURNING path_template",
        )
        .bind(r.collection_key)
        .bind(&learnt)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .flatten();
        t.path_template = kept;
    }
    Ok(())
}

/// The ID held by a row at some slot: stored, or rendered.
fn occupant_id(
    templates: &HashMap<i64, Templates>,
    collection_key: i64,
    row: &sqlx::postgres::PgRow,
) -> Result<String, StoreError> {
    row_id(
        templates.get(&collection_key).unwrap_or(&NO_TEMPLATES),
        row.try_get("granule_id").map_err(db_err)?,
        row.try_get("start_time").map_err(db_err)?,
        row.try_get("end_time").map_err(db_err)?,
    )
}

const NO_TEMPLATES: Templates = Templates {
    template: None,
    path_template: None,
};

/// The first free slot after `home` for granule `r` (its home slot holds another ID), or
/// the slot after it that already holds it.
async fn probe(
    conn: &mut PgConnection,
    templates: &HashMap<i64, Templates>,
    r: &GranuleRow<'_>,
    home: i64,
    claimed: &HashMap<(i64, i64), usize>,
) -> Result<i64, StoreError> {
    let mut slot = home;
    for _ in 0..MAX_PROBES {
        slot = slot.wrapping_add(1);
        if claimed.contains_key(&(r.collection_key, slot)) {
            continue;
        }
        let row = sqlx::query(
            "SELECT granule_id, start_time, end_time FROM granules \
             WHERE collection_key = $1 AND id_hash = $2",
        )
        .bind(r.collection_key)
        .bind(slot)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
        match row {
            None => return Ok(slot),
            Some(row) if occupant_id(templates, r.collection_key, &row)? == r.id.as_ref() => {
                return Ok(slot);
            }
            Some(_) => {}
        }
    }
    Err(StoreError::Backend(format!(
        "no free hash slot for granule {:?} after {MAX_PROBES} probes",
        r.id
    )))
}

/// `name -> key` for the given names, by a two-column query taking a `text[]`.
async fn key_map(
    conn: &mut PgConnection,
    sql: &'static str,
    names: &[&str],
) -> Result<HashMap<String, i64>, StoreError> {
    let rows = sqlx::query(sql)
        .bind(names)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>(0).map_err(db_err)?,
                r.try_get::<i64, _>(1).map_err(db_err)?,
            ))
        })
        .collect()
}

/// The stored form of a row at its slot.
fn encode_row<'r>(templates: &HashMap<i64, Templates>, r: &'r GranuleRow<'_>) -> Stored<'r> {
    let g = r.granule;
    let path = g.url_path.as_deref().map(clean);
    encode(
        templates.get(&r.collection_key).unwrap_or(&NO_TEMPLATES),
        &r.id,
        &clean(&g.name),
        path.as_deref(),
        g,
        r.probed,
    )
}

/// Whether the stored row (columns of [`lookup`]) is exactly `(r, enc)`.
fn unchanged(
    row: &sqlx::postgres::PgRow,
    r: &GranuleRow<'_>,
    enc: &Stored<'_>,
) -> Result<bool, StoreError> {
    let g = r.granule;
    Ok(row
        .try_get::<Option<Timestamp>, _>("start_time")
        .map_err(db_err)?
        == g.start
        && row
            .try_get::<Option<i64>, _>("catalog_key")
            .map_err(db_err)?
            == r.catalog_key
        && row
            .try_get::<Option<Timestamp>, _>("end_time")
            .map_err(db_err)?
            == g.end
        && row.try_get::<Option<i64>, _>("size").map_err(db_err)? == g.size
        && row
            .try_get::<Option<Timestamp>, _>("modified")
            .map_err(db_err)?
            == enc.modified
        && row.try_get::<i16, _>("flags").map_err(db_err)? == enc.flags
        && row
            .try_get::<Option<&str>, _>("granule_id")
            .map_err(db_err)?
            == enc.granule_id
        && row.try_get::<Option<&str>, _>("name").map_err(db_err)? == enc.name.as_deref()
        && row.try_get::<Option<&str>, _>("url_path").map_err(db_err)? == enc.url_path.as_deref())
}

/// How a statement of [`write_rows`] treats a slot that is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnTaken {
    /// Leave it (the row is looked at afterwards).
    Skip,
    /// Update it (it holds this granule), unless nothing changes.
    Update,
}

/// Write rows at their slots; returns `(collection_key, id_hash, inserted)` of the rows
/// written.
async fn write_rows(
    conn: &mut PgConnection,
    rows: &[(&GranuleRow<'_>, Stored<'_>)],
    on_taken: OnTaken,
) -> Result<Vec<(i64, i64, bool)>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let n = rows.len();
    let mut collection_key = Vec::with_capacity(n);
    let mut id_hash = Vec::with_capacity(n);
    let mut start = Vec::with_capacity(n);
    let mut catalog_key = Vec::with_capacity(n);
    let mut end = Vec::with_capacity(n);
    let mut size = Vec::with_capacity(n);
    let mut modified = Vec::with_capacity(n);
    let mut flags = Vec::with_capacity(n);
    let mut granule_id = Vec::with_capacity(n);
    let mut name = Vec::with_capacity(n);
    let mut url_path = Vec::with_capacity(n);
    for (r, enc) in rows {
        let g = r.granule;
        collection_key.push(r.collection_key);
        id_hash.push(r.slot);
        start.push(g.start);
        catalog_key.push(r.catalog_key);
        end.push(g.end);
        size.push(g.size);
        modified.push(enc.modified);
        flags.push(enc.flags);
        granule_id.push(enc.granule_id);
        name.push(enc.name.as_deref());
        url_path.push(enc.url_path.as_deref());
    }
    let conflict = match on_taken {
        OnTaken::Skip => "DO NOTHING",
        OnTaken::Update => {
            "DO UPDATE SET \
                 start_time = EXCLUDED.start_time, catalog_key = EXCLUDED.catalog_key, \
                 end_time = EXCLUDED.end_time, size = EXCLUDED.size, \
                 modified = EXCLUDED.modified, flags = EXCLUDED.flags, \
                 granule_id = EXCLUDED.granule_id, name = EXCLUDED.name, \
                 url_path = EXCLUDED.url_path \
             WHERE (granules.start_time, granules.catalog_key, granules.end_time, \
                    granules.size, granules.modified, granules.flags, granules.granule_id, \
                    granules.name, granules.url_path) \
                 IS DISTINCT FROM (EXCLUDED.start_time, EXCLUDED.catalog_key, \
                    EXCLUDED.end_time, EXCLUDED.size, EXCLUDED.modified, EXCLUDED.flags, \
                    EXCLUDED.granule_id, EXCLUDED.name, EXCLUDED.url_path)"
        }
    };
    let sql = format!(
        "INSERT INTO granules (collection_key, id_hash, start_time, catalog_key, end_time, \
             size, modified, flags, granule_id, name, url_path) \
         SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::timestamptz[], $4::int8[], \
             $5::timestamptz[], $6::int8[], $7::timestamptz[], $8::int2[], $9::text[], \
             $10::text[], $11::text[]) \
         ON CONFLICT (collection_key, id_hash) {conflict} \
         RETURNING collection_key::int8, id_hash, (xmax = 0)"
    );
    let written = sqlx::query(AssertSqlSafe(sql))
        .bind(&collection_key)
        .bind(&id_hash)
        .bind(&start)
        .bind(&catalog_key)
        .bind(&end)
        .bind(&size)
        .bind(&modified)
        .bind(&flags)
        .bind(&granule_id)
        .bind(&name)
        .bind(&url_path)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
    written
        .iter()
        .map(|r| {
            Ok((
                r.try_get(0).map_err(db_err)?,
                r.try_get(1).map_err(db_err)?,
                r.try_get(2).map_err(db_err)?,
            ))
        })
        .collect()
}

/// Upsert granules in their compact form (see [`crate::compact`]) at their hash slots.
/// Returns how many were new.
///
/// Per chunk: the home slots (`hashtextextended(ID, 0)`) are computed by Postgres; the rows
/// are inserted where their slot is free (`ON CONFLICT DO NOTHING`: a first harvest is one
/// insert); the rows whose slot is taken are looked up: the same granule is updated when
/// anything changed (unchanged rows are not written), another ID there (a hash collision,
/// never seen in practice) sends the granule to the next free slot (flag `PROBED`, ID kept).
/// Rows are written in `(collection, start)` order, so the heap follows time.
async fn upsert_granules(
    conn: &mut PgConnection,
    rows: &mut [GranuleRow<'_>],
    templates: &HashMap<i64, Templates>,
) -> Result<u64, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    rows.sort_by(|a, b| {
        (a.collection_key, a.granule.start, &a.id).cmp(&(b.collection_key, b.granule.start, &b.id))
    });
    // Any probed row at all? (Ordered by the partial index, so it is that index's first
    // entry, not a scan of the table: an EXISTS here is planned as a sequential scan.)
    let any_probed = sqlx::query(AssertSqlSafe(format!(
        "SELECT collection_key FROM granules WHERE flags & {PROBED} <> 0 \
         ORDER BY collection_key, granule_id LIMIT 1"
    )))
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?
    .is_some();
    let mut inserted = 0u64;
    let mut spans: HashMap<i64, i64> = HashMap::new();
    // Slots taken by the batch: (collection, slot) -> row.
    let mut claimed: HashMap<(i64, i64), usize> = HashMap::with_capacity(rows.len());
    for (c, chunk) in rows.chunks_mut(CHUNK).enumerate() {
        let keys: Vec<i64> = chunk.iter().map(|r| r.collection_key).collect();
        let ids: Vec<&str> = chunk.iter().map(|r| r.id.as_ref()).collect();
        let homes: Vec<i64> = sqlx::query_scalar(
            "SELECT hashtextextended(u.id, 0) FROM UNNEST($1::text[]) WITH ORDINALITY AS u(id, i) \
             ORDER BY u.i",
        )
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        if homes.len() != chunk.len() {
            return Err(StoreError::Backend("granule hash lookup lost rows".into()));
        }
        let mut probed_at: HashMap<usize, i64> = HashMap::new();
        if any_probed {
            let found = sqlx::query(AssertSqlSafe(format!(
                "SELECT u.i, g.id_hash \
                 FROM UNNEST($1::int8[], $2::text[]) WITH ORDINALITY AS u(ck, id, i) \
                 JOIN granules g ON g.collection_key = u.ck AND g.granule_id = u.id \
                     AND g.flags & {PROBED} <> 0"
            )))
            .bind(&keys)
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
            for f in found {
                let i: i64 = f.try_get(0).map_err(db_err)?;
                let i = usize::try_from(i - 1).map_err(|e| StoreError::Backend(e.to_string()))?;
                probed_at.insert(i, f.try_get(1).map_err(db_err)?);
            }
        }
        // Rows whose home slot another row of the batch took: probed after the others.
        let mut deferred = Vec::new();
        for (i, r) in chunk.iter_mut().enumerate() {
            let (slot, probed) = match probed_at.get(&i) {
                Some(&s) => (s, true),
                None => (homes[i], false),
            };
            r.slot = slot;
            r.probed = probed;
            match claimed.entry((r.collection_key, slot)) {
                std::collections::hash_map::Entry::Occupied(_) => deferred.push(i),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(c * CHUNK + i);
                }
            }
            let span = span_us(r.granule.start, r.granule.end);
            if span > 0 {
                let e = spans.entry(r.collection_key).or_insert(0);
                *e = (*e).max(span);
            }
        }
        // Rows already stored (a re-crawl) are looked up first, new ones (a first harvest)
        // inserted first: a sample of the chunk decides.
        let sample: Vec<usize> = (0..chunk.len())
            .filter(|i| !deferred.contains(i))
            .take(8)
            .collect();
        let stored_in_sample: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM UNNEST($1::int8[], $2::int8[]) AS u(ck, h)              JOIN granules g ON g.collection_key = u.ck AND g.id_hash = u.h",
        )
        .bind(sample.iter().map(|&i| chunk[i].collection_key).collect::<Vec<_>>())
        .bind(sample.iter().map(|&i| chunk[i].slot).collect::<Vec<_>>())
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
        let mut insert_first = stored_in_sample * 2 <= sample.len() as i64;
        let mut pending: Vec<usize> = (0..chunk.len()).filter(|i| !deferred.contains(i)).collect();
        let mut again: Vec<usize> = Vec::new();
        let mut moved: Vec<usize> = deferred;
        for _ in 0..3 {
            if insert_first {
                let rows: Vec<(&GranuleRow<'_>, Stored<'_>)> = pending
                    .iter()
                    .map(|&i| (&chunk[i], encode_row(templates, &chunk[i])))
                    .collect();
                let written = write_rows(conn, &rows, OnTaken::Skip).await?;
                inserted += written.len() as u64;
                let new: HashSet<(i64, i64)> = written.iter().map(|&(k, h, _)| (k, h)).collect();
                pending.retain(|&i| !new.contains(&(chunk[i].collection_key, chunk[i].slot)));
            }
            if pending.is_empty() {
                break;
            }
            // Taken slots: the same granule (written again if changed) or another ID (a
            // collision); slots found free are inserted in the next round.
            let tk: Vec<i64> = pending.iter().map(|&i| chunk[i].collection_key).collect();
            let th: Vec<i64> = pending.iter().map(|&i| chunk[i].slot).collect();
            let found = sqlx::query(
                "SELECT u.i, g.granule_id, g.start_time, g.end_time, g.catalog_key, g.size,                      g.modified, g.flags, g.name, g.url_path                  FROM UNNEST($1::int8[], $2::int8[]) WITH ORDINALITY AS u(ck, h, i)                  JOIN granules g ON g.collection_key = u.ck AND g.id_hash = u.h",
            )
            .bind(&tk)
            .bind(&th)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
            let mut seen = HashSet::with_capacity(found.len());
            for f in &found {
                let i: i64 = f.try_get("i").map_err(db_err)?;
                let i = usize::try_from(i - 1)
                    .ok()
                    .and_then(|i| pending.get(i).copied())
                    .ok_or_else(|| StoreError::Backend("granule lookup out of range".into()))?;
                seen.insert(i);
                let r = &chunk[i];
                if occupant_id(templates, r.collection_key, f)? == r.id.as_ref() {
                    if !unchanged(f, r, &encode_row(templates, r))? {
                        again.push(i);
                    }
                } else {
                    moved.push(i);
                }
            }
            pending.retain(|i| !seen.contains(i));
            insert_first = true;
        }
        // Still neither inserted nor found (concurrent writers): written by upsert.
        again.extend(pending);
        for &i in &moved {
            let home = chunk[i].slot;
            let slot = probe(conn, templates, &chunk[i], home, &claimed).await?;
            claimed.insert((chunk[i].collection_key, slot), c * CHUNK + i);
            chunk[i].slot = slot;
            chunk[i].probed = true;
            again.push(i);
        }
        again.sort_unstable();
        let rest: Vec<(&GranuleRow<'_>, Stored<'_>)> = again
            .iter()
            .map(|&i| (&chunk[i], encode_row(templates, &chunk[i])))
            .collect();
        let written = write_rows(conn, &rest, OnTaken::Update).await?;
        inserted += written.iter().filter(|w| w.2).count() as u64;
    }
    if !spans.is_empty() {
        // Keep each collection's span bound (see `max_span_us` in the schema) an upper bound.
        let (keys, values): (Vec<i64>, Vec<i64>) = spans.into_iter().unzip();
        sqlx::query(
            "UPDATE collections c SET max_span_us = u.span \
             FROM UNNEST($1::int8[], $2::int8[]) AS u(key, span) \
             WHERE c.key = u.key AND c.max_span_us < u.span",
        )
        .bind(&keys)
        .bind(&values)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    Ok(inserted)
}

/// Delete the granules of complete catalogs that the batch does not list. `rows` are the
/// batch's granules, already upserted (so each carries its catalog key in the table).
async fn reconcile(
    conn: &mut PgConnection,
    complete: &[String],
    rows: &[GranuleRow<'_>],
) -> Result<u64, StoreError> {
    let urls: Vec<String> = complete.iter().map(|u| clean(u).into_owned()).collect();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let keys = key_map(
        conn,
        "SELECT url, key FROM catalogs WHERE url = ANY($1::text[])",
        &urls,
    )
    .await?;
    if keys.is_empty() {
        return Ok(0);
    }
    let catalog_keys: Vec<i64> = keys.values().copied().collect();
    let complete_keys: HashSet<i64> = catalog_keys.iter().copied().collect();
    // Only the batch's granules of these catalogs can be spared: after the upsert, a row with
    // one of these catalog keys that is in the batch was listed under that catalog.
    let mut keep_collection = Vec::new();
    let mut keep_slot = Vec::new();
    for r in rows {
        if r.catalog_key.is_some_and(|k| complete_keys.contains(&k)) {
            keep_collection.push(r.collection_key);
            keep_slot.push(r.slot);
        }
    }
    let deleted = sqlx::query(
        "DELETE FROM granules g WHERE g.catalog_key = ANY($1::int8[]) \
         AND NOT EXISTS (SELECT 1 FROM UNNEST($2::int8[], $3::int8[]) AS k(ck, h) \
                         WHERE k.ck = g.collection_key AND k.h = g.id_hash)",
    )
    .bind(&catalog_keys)
    .bind(&keep_collection)
    .bind(&keep_slot)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?
    .rows_affected();
    Ok(deleted)
}

fn count(row: &sqlx::postgres::PgRow) -> Result<u64, StoreError> {
    let n: i64 = row.try_get(0).map_err(db_err)?;
    Ok(u64::try_from(n).unwrap_or(0))
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
        // Only rows whose figures change are written (and get a new `updated_at`).
        sqlx::query(
            "UPDATE collections c SET granule_count = a.n, start_time = a.s, end_time = a.e, \
                 updated_at = now() \
             FROM collections c2 CROSS JOIN LATERAL ( \
                 SELECT count(*) AS n, min(g.start_time) AS s, \
                        max(COALESCE(g.end_time, g.start_time)) AS e \
                 FROM granules g WHERE g.collection_key = c2.key) AS a \
             WHERE c2.id = ANY($1::text[]) AND c.key = c2.key \
               AND (c.granule_count, c.start_time, c.end_time) IS DISTINCT FROM (a.n, a.s, a.e)",
        )
        .bind(chunk)
        .execute(pool)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
