//! Granule rows of a batch: keys resolved, compacted (IDs and paths the collection's
//! templates render are not stored), upserted by ID hash, and complete catalogs reconciled.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::{AssertSqlSafe, PgConnection, Row};
use threddex_store::{ChangeKind, ChangeSet, Granule, StoreError, Timestamp};

use super::CHUNK;
use crate::convert::{clean, db_err, span_us};
use crate::granules::{PROBED, Stored, Templates, encode, learn_path_template, row_id};

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
pub(super) async fn granule_rows<'a>(
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
pub(super) async fn learn_path_templates(
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
    Err(StoreError::Internal(format!(
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

/// Write rows at their slots; returns `(collection_key, id_hash)` of the rows written: with
/// [`OnTaken::Skip`] exactly the rows inserted. (Which rows an upsert inserted cannot be told
/// by `xmax = 0` on the partitioned table: Postgres refuses system columns in its `RETURNING`.)
async fn write_rows(
    conn: &mut PgConnection,
    rows: &[(&GranuleRow<'_>, Stored<'_>)],
    on_taken: OnTaken,
) -> Result<Vec<(i64, i64)>, StoreError> {
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
         RETURNING collection_key::int8, id_hash"
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
        .map(|r| Ok((r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?)))
        .collect()
}

/// The distinct values of `keys`, sorted: bound beside a statement's per-row keys as
/// `collection_key = ANY(…)`, so that its plan is pruned to those collections' partitions
/// (the join on the per-row keys alone makes Postgres plan all 64).
fn distinct(keys: &[i64]) -> Vec<i64> {
    let mut d = keys.to_vec();
    d.sort_unstable();
    d.dedup();
    d
}

/// Lock the stored rows at the slots of `rows` (`FOR UPDATE`) until the transaction ends;
/// returns the `(collection_key, id_hash)` of those found.
async fn lock_rows(
    conn: &mut PgConnection,
    rows: &[(&GranuleRow<'_>, Stored<'_>)],
) -> Result<HashSet<(i64, i64)>, StoreError> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    let keys: Vec<i64> = rows.iter().map(|(r, _)| r.collection_key).collect();
    let slots: Vec<i64> = rows.iter().map(|(r, _)| r.slot).collect();
    let found = sqlx::query(
        "SELECT g.collection_key::int8, g.id_hash \
         FROM UNNEST($1::int8[], $2::int8[]) AS u(ck, h) \
         JOIN granules g ON g.collection_key = u.ck AND g.id_hash = u.h \
         WHERE g.collection_key = ANY($3::int8[]) \
         FOR UPDATE OF g",
    )
    .bind(&keys)
    .bind(&slots)
    .bind(distinct(&keys))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    found
        .iter()
        .map(|r| Ok((r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?)))
        .collect()
}

/// Upsert granules in their compact form (see [`crate::granules`]) at their hash slots.
/// Returns how many were new.
///
/// Per chunk: the home slots (`hashtextextended(ID, 0)`) are computed by Postgres; the rows
/// are inserted where their slot is free (`ON CONFLICT DO NOTHING`: a first harvest is one
/// insert); the rows whose slot is taken are looked up: the same granule is updated when
/// anything changed (unchanged rows are not written), another ID there (a hash collision,
/// never seen in practice) sends the granule to the next free slot (flag `PROBED`, ID kept).
/// Rows are written in `(collection, start)` order, so the heap follows time.
pub(super) async fn upsert_granules(
    conn: &mut PgConnection,
    rows: &mut [GranuleRow<'_>],
    templates: &HashMap<i64, Templates>,
    changes: &mut ChangeSet,
) -> Result<u64, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    rows.sort_by(|a, b| {
        (a.collection_key, a.granule.start, &a.id).cmp(&(b.collection_key, b.granule.start, &b.id))
    });
    // The batch's collections: every statement below that joins granules to the batch's rows
    // also names these keys, so its plan is pruned to their partitions (planning all 64 took
    // 2–3 ms per statement).
    let batch_keys = distinct(&rows.iter().map(|r| r.collection_key).collect::<Vec<_>>());
    // Any probed row in these collections? (Ordered by the partial index, so it is that
    // index's first entry, not a scan: an EXISTS here is planned as a sequential scan.)
    let any_probed = sqlx::query(AssertSqlSafe(format!(
        "SELECT collection_key FROM granules \
         WHERE collection_key = ANY($1::int8[]) AND flags & {PROBED} <> 0 \
         ORDER BY collection_key, granule_id LIMIT 1"
    )))
    .bind(&batch_keys)
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
            return Err(StoreError::Internal("granule hash lookup lost rows".into()));
        }
        let mut probed_at: HashMap<usize, i64> = HashMap::new();
        if any_probed {
            let found = sqlx::query(AssertSqlSafe(format!(
                "SELECT u.i, g.id_hash \
                 FROM UNNEST($1::int8[], $2::text[]) WITH ORDINALITY AS u(ck, id, i) \
                 JOIN granules g ON g.collection_key = u.ck AND g.granule_id = u.id \
                     AND g.flags & {PROBED} <> 0 \
                 WHERE g.collection_key = ANY($3::int8[])"
            )))
            .bind(&keys)
            .bind(&ids)
            .bind(distinct(&keys))
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
            for f in found {
                let i: i64 = f.try_get(0).map_err(db_err)?;
                let i = usize::try_from(i - 1).map_err(|e| StoreError::Internal(e.to_string()))?;
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
        let sample_keys: Vec<i64> = sample.iter().map(|&i| chunk[i].collection_key).collect();
        let stored_in_sample: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM UNNEST($1::int8[], $2::int8[]) AS u(ck, h) \
             JOIN granules g ON g.collection_key = u.ck AND g.id_hash = u.h \
             WHERE g.collection_key = ANY($3::int8[])",
        )
        .bind(&sample_keys)
        .bind(sample.iter().map(|&i| chunk[i].slot).collect::<Vec<_>>())
        .bind(distinct(&sample_keys))
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
                let new: HashSet<(i64, i64)> = written.into_iter().collect();
                pending.retain(|&i| {
                    let r = &chunk[i];
                    let added = new.contains(&(r.collection_key, r.slot));
                    if added {
                        record_added(changes, r);
                    }
                    !added
                });
            }
            if pending.is_empty() {
                break;
            }
            // Taken slots: the same granule (written again if changed) or another ID (a
            // collision); slots found free are inserted in the next round.
            let tk: Vec<i64> = pending.iter().map(|&i| chunk[i].collection_key).collect();
            let th: Vec<i64> = pending.iter().map(|&i| chunk[i].slot).collect();
            let found = sqlx::query(
                "SELECT u.i, g.granule_id, g.start_time, g.end_time, g.catalog_key, g.size, \
                     g.modified, g.flags, g.name, g.url_path \
                 FROM UNNEST($1::int8[], $2::int8[]) WITH ORDINALITY AS u(ck, h, i) \
                 JOIN granules g ON g.collection_key = u.ck AND g.id_hash = u.h \
                 WHERE g.collection_key = ANY($3::int8[])",
            )
            .bind(&tk)
            .bind(&th)
            .bind(distinct(&tk))
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
            let mut seen = HashSet::with_capacity(found.len());
            for f in &found {
                let i: i64 = f.try_get("i").map_err(db_err)?;
                let i = usize::try_from(i - 1)
                    .ok()
                    .and_then(|i| pending.get(i).copied())
                    .ok_or_else(|| StoreError::Internal("granule lookup out of range".into()))?;
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
        // Rows written again (changed, moved to another slot, or raced): their collections
        // changed, also when the write turns out to be an insert (then also logged as added).
        for &i in &again {
            changes.rewritten(&clean(&chunk[i].granule.collection_id));
        }
        let mut rest: Vec<(&GranuleRow<'_>, Stored<'_>)> = again
            .iter()
            .map(|&i| (&chunk[i], encode_row(templates, &chunk[i])))
            .collect();
        // The new ones first (DO NOTHING returns exactly those), then the others, locked so
        // that none can go before the update: an upsert of a row another writer deleted in
        // between would insert it unseen (no `granules.added` entry). A row gone before its
        // lock is inserted, as new, in the next round.
        for round in 0.. {
            if rest.is_empty() {
                break;
            }
            if round == 8 {
                return Err(StoreError::Internal(
                    "granule rows kept vanishing under concurrent writers".into(),
                ));
            }
            let new: HashSet<(i64, i64)> = write_rows(conn, &rest, OnTaken::Skip)
                .await?
                .into_iter()
                .collect();
            inserted += new.len() as u64;
            rest.retain(|(r, _)| {
                let added = new.contains(&(r.collection_key, r.slot));
                if added {
                    record_added(changes, r);
                }
                !added
            });
            let locked = lock_rows(conn, &rest).await?;
            let (present, gone): (Vec<_>, Vec<_>) = rest
                .into_iter()
                .partition(|(r, _)| locked.contains(&(r.collection_key, r.slot)));
            write_rows(conn, &present, OnTaken::Update).await?;
            rest = gone;
        }
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

/// A granule the batch inserted, for the change log.
fn record_added(changes: &mut ChangeSet, r: &GranuleRow<'_>) {
    changes.granule(
        ChangeKind::GranulesAdded,
        &clean(&r.granule.collection_id),
        &r.id,
        r.granule.start,
        r.granule.end,
    );
}

/// Turn the rows of a granule deletion (`DELETE … RETURNING` grouped by [`REMOVED_GROUPS`])
/// into change-log entries; returns how many granules were deleted.
pub(super) fn record_removed(
    changes: &mut ChangeSet,
    groups: &[sqlx::postgres::PgRow],
) -> Result<u64, StoreError> {
    let mut deleted = 0u64;
    for g in groups {
        let id: String = g.try_get("id").map_err(db_err)?;
        let n: i64 = g.try_get("n").map_err(db_err)?;
        let n = u64::try_from(n).unwrap_or(0);
        deleted += n;
        let kind = ChangeKind::GranulesRemoved;
        let ids: Option<Vec<Option<String>>> = g.try_get("ids").map_err(db_err)?;
        let starts: Option<Vec<Option<Timestamp>>> = g.try_get("starts").map_err(db_err)?;
        let ends: Option<Vec<Option<Timestamp>>> = g.try_get("ends").map_err(db_err)?;
        match (ids, starts, ends) {
            (Some(ids), Some(starts), Some(ends))
                if ids.len() == starts.len() && ids.len() == ends.len() =>
            {
                let t = Templates {
                    template: g.try_get("template").map_err(db_err)?,
                    path_template: g.try_get("path_template").map_err(db_err)?,
                };
                for ((stored, start), end) in ids.into_iter().zip(starts).zip(ends) {
                    let gid = row_id(&t, stored, start, end)?;
                    changes.granule(kind, &id, &gid, start, end);
                }
            }
            _ => changes.granules(
                kind,
                &id,
                n,
                g.try_get("s").map_err(db_err)?,
                g.try_get("e").map_err(db_err)?,
            ),
        }
    }
    Ok(deleted)
}

/// The select list over `d` (the deleted rows: `collection_key`, `start_time`, `end_time`,
/// `granule_id`) joined with `collections c` that [`record_removed`] reads, per group.
pub(super) const REMOVED_GROUPS: &str = "c.id, c.template, c.path_template, count(*) AS n, \
     min(d.start_time) AS s, max(COALESCE(d.end_time, d.start_time)) AS e, \
     CASE WHEN count(*) <= 20 THEN array_agg(d.granule_id) END AS ids, \
     CASE WHEN count(*) <= 20 THEN array_agg(d.start_time) END AS starts, \
     CASE WHEN count(*) <= 20 THEN array_agg(d.end_time) END AS ends";

/// `(collection key, catalog key)` of every written granule that names a catalog.
pub(super) fn link_pairs(rows: &[GranuleRow<'_>]) -> std::collections::BTreeSet<(i64, i64)> {
    rows.iter()
        .filter_map(|r| r.catalog_key.map(|c| (r.collection_key, c)))
        .collect()
}

/// Set `has_granules` on the catalogs of `rows` (before they are written, so a concurrent
/// batch completing one of these catalogs either sees the flag or waits for this one); returns
/// the keys of those that had it unset: no granule named them before this transaction.
pub(super) async fn mark_catalogs_with_granules(
    conn: &mut PgConnection,
    rows: &[GranuleRow<'_>],
) -> Result<HashSet<i64>, StoreError> {
    let keys = distinct(
        &rows
            .iter()
            .filter_map(|r| r.catalog_key)
            .collect::<Vec<_>>(),
    );
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let first: Vec<i64> = sqlx::query_scalar(
        "UPDATE catalogs c SET has_granules = true \
         FROM (SELECT key FROM catalogs WHERE key = ANY($1::int8[]) AND NOT has_granules \
               ORDER BY key FOR UPDATE) AS k \
         WHERE c.key = k.key RETURNING c.key",
    )
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(first.into_iter().collect())
}

/// Delete the granules of complete catalogs that the batch does not list. `rows` are the
/// batch's granules, already upserted (so each carries its catalog key in the table).
/// Catalogs that never held granules (`has_granules` unset), or that got their first ones in
/// this transaction (`first_granules`), hold only the batch's rows and are skipped.
/// Returns how many were deleted and the keys of the catalogs that lost granules.
pub(super) async fn reconcile(
    conn: &mut PgConnection,
    complete: &[String],
    first_granules: &HashSet<i64>,
    rows: &[GranuleRow<'_>],
    changes: &mut ChangeSet,
) -> Result<(u64, Vec<i64>), StoreError> {
    let urls: Vec<String> = complete.iter().map(|u| clean(u).into_owned()).collect();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let mut keys = key_map(
        conn,
        "SELECT url, key FROM catalogs WHERE url = ANY($1::text[]) AND has_granules",
        &urls,
    )
    .await?;
    keys.retain(|_, k| !first_granules.contains(k));
    if keys.is_empty() {
        return Ok((0, Vec::new()));
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
    let per_catalog = sqlx::query(AssertSqlSafe(format!(
        "WITH d AS ( \
             DELETE FROM granules g WHERE g.catalog_key = ANY($1::int8[]) \
             AND NOT EXISTS (SELECT 1 FROM UNNEST($2::int8[], $3::int8[]) AS k(ck, h) \
                             WHERE k.ck = g.collection_key AND k.h = g.id_hash) \
             RETURNING g.catalog_key, g.collection_key, g.start_time, g.end_time, g.granule_id \
         ) SELECT d.catalog_key, {REMOVED_GROUPS} \
         FROM d JOIN collections c ON c.key = d.collection_key \
         GROUP BY d.catalog_key, c.key"
    )))
    .bind(&catalog_keys)
    .bind(&keep_collection)
    .bind(&keep_slot)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let deleted = record_removed(changes, &per_catalog)?;
    let mut shrunk = Vec::with_capacity(per_catalog.len());
    for row in &per_catalog {
        let key: i64 = row.try_get(0).map_err(db_err)?;
        shrunk.push(key);
    }
    shrunk.sort_unstable();
    shrunk.dedup();
    Ok((deleted, shrunk))
}
