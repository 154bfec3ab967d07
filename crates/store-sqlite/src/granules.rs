//! Granule rows (migration 0007): clustered on `(collection_key, start_time, id_hash)`; the
//! ID, urlPath and `modified` time are not stored when they follow from the granule's time and
//! the collection's templates (see `migrations/sqlite/0007_granule_compaction.sql`).
//!
//! Where a granule lives, by its ID `X` in collection `C`:
//! - **rendered** (`id_hash = 0`, `granule_id` NULL): only at `(C, s, 0)` where `s` is the start
//!   read back from `X` with `C`'s template, and only when the template renders `X` exactly
//!   from the row's start and end ([`threddex_ids::renders_back`]); at most one row per
//!   `(C, start)` takes slot 0;
//! - **stored** (`granule_id` = `X`): at `(C, start, h)` with `h` the hash of `X` (its home
//!   slot), or a later free slot after a collision (flag `PROBED`, found by ID through the
//!   partial index `granules_probed`); `h` is unique per collection (`granules_id_hash`).
//!
//! A write finds each granule's current row (if any) by these rules, picks the row it should
//! have now (a changed start moves it), deletes the old row when the key differs and upserts.
//! Reads render whatever is not stored; output is always exactly what was written.

// Batch-local maps keyed by granule IDs and catalog URLs: foldhash (randomly seeded per
// process) instead of SipHash; each map holds at most one batch's rows.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row, SqliteConnection, SqlitePool};
use threddex_store::{ChangeKind, ChangeSet, Granule, GranuleQuery, Result, StoreError, Timestamp};

use threddex_store::granule_codec::{self as codec, Fields};

use crate::convert::{
    CODEC, LAYOUT, LEGACY, NO_START, corrupt, db_err, opt_ts_from_db, opt_ts_to_db, start_from_key,
    start_key, ts_from_db, ts_to_db,
};
use crate::idhash::{MAX_PROBES, PROBED, granule_id_hash};

/// Rows per multi-row granule statement (11 columns: within SQLite's bind limit).
pub(crate) const GRANULE_CHUNK: usize = 1_000;
/// Values per `IN (…)` list of a lookup.
const LOOKUP_CHUNK: usize = 500;

/// A collection as its granule rows need it.
#[derive(Clone, Debug)]
pub(crate) struct Coll {
    /// The collection ID.
    pub id: String,
    /// Database key.
    pub key: i64,
    /// Its source (pending catalogs created for its granules get it).
    pub source: i64,
    /// The ID template (`collections.template`).
    pub template: Option<String>,
    /// The urlPath template (`collections.path_template`).
    pub path_template: Option<String>,
}

impl Coll {
    /// Its templates, for the granule codec.
    fn templates(&self) -> codec::Templates<'_> {
        codec::Templates::of(&self.template, &self.path_template)
    }

    /// Whether the ID of a granule with this start and end need not be stored.
    fn elides_id(&self, id: &str, start: Option<Timestamp>, end: Option<Timestamp>) -> bool {
        CODEC.id_renders_back(&self.templates(), id, start, end)
    }

    /// The start of the only row that could hold `id` in rendered form.
    fn start_of_id(&self, id: &str) -> Option<Timestamp> {
        threddex_ids::read_time(self.template.as_deref()?, id).map(|(s, _)| s)
    }

    /// The ID of a row: stored, or rendered.
    pub(crate) fn row_id(
        &self,
        stored: Option<String>,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> Result<String> {
        CODEC.row_id(&self.templates(), stored, start, end)
    }
}

/// A time as it reads back from the database (microseconds).
fn as_stored(t: Option<Timestamp>) -> Result<Option<Timestamp>> {
    t.map(|t| ts_from_db(ts_to_db(t))).transpose()
}

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

fn values_clause(rows: usize, cols: usize) -> String {
    let one = in_list(cols);
    let mut s = String::with_capacity(rows * (one.len() + 1));
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push_str(&one);
    }
    s
}

/// The primary key of a row: `(collection_key, start_time, id_hash)`; the start as the bits
/// of its stored value (exact: values read back are the values written).
type Pk = (i64, u64, i64);

fn pk(key: i64, start: f64, hash: i64) -> Pk {
    (key, start.to_bits(), hash)
}

/// One granule to write, in its stored form.
struct Planned<'a> {
    g: &'a Granule,
    coll: &'a Coll,
    start: f64,
    slot: i64,
    flags: i64,
    id: Option<&'a str>,
    name: Option<&'a str>,
    url_path: Option<&'a str>,
    end: Option<f64>,
    modified: Option<f64>,
    /// Its current row, when that has another key.
    moved_from: Option<Pk>,
    /// Whether it is new.
    new: bool,
}

/// What the database holds now for the IDs of a chunk.
#[derive(Default)]
struct Occupants {
    /// Slot 0 rows: `(key, start bits)` → ID.
    rendered: HashMap<(i64, u64), String>,
    /// Hashed rows: `(key, slot)` → (ID, start).
    hashed: HashMap<(i64, i64), (String, f64)>,
    /// Rows away from their home slot: key → ID → (slot, start).
    probed: HashMap<i64, HashMap<String, (i64, f64)>>,
}

async fn occupants(
    conn: &mut SqliteConnection,
    rows: &[(&Coll, &Granule)],
    colls: &HashMap<i64, &Coll>,
) -> Result<Occupants> {
    let mut occ = Occupants::default();
    // Per collection: rendered-slot starts, home slots, IDs.
    type Lookups<'a> = (Vec<f64>, Vec<i64>, Vec<&'a str>);
    let mut by_key: HashMap<i64, Lookups<'_>> = HashMap::new();
    for (c, g) in rows {
        let e = by_key.entry(c.key).or_default();
        if let Some(s) = c.start_of_id(&g.granule_id) {
            e.0.push(ts_to_db(s));
        }
        e.1.push(home_slot(&g.granule_id));
        e.2.push(g.granule_id.as_str());
    }
    let any_probed: i64 =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM granules WHERE flags & 4 <> 0)")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?;
    for (key, (starts, hashes, ids)) in &by_key {
        let coll = colls.get(key).copied();
        for chunk in starts.chunks(LOOKUP_CHUNK) {
            let sql = format!(
                "SELECT start_time, end_time, granule_id FROM granules \
                 WHERE collection_key = ? AND id_hash = 0 AND start_time IN {}",
                in_list(chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(*key);
            for s in chunk {
                q = q.bind(*s);
            }
            for row in q.fetch_all(&mut *conn).await.map_err(db_err)? {
                let s: f64 = row.try_get_unchecked(0).map_err(db_err)?;
                let e: Option<f64> = row.try_get_unchecked(1).map_err(db_err)?;
                let stored: Option<String> = row.try_get(2).map_err(db_err)?;
                let Some(coll) = coll else { continue };
                let id = coll.row_id(stored, start_from_key(s)?, opt_ts_from_db(e)?)?;
                occ.rendered.insert((*key, s.to_bits()), id);
            }
        }
        for chunk in hashes.chunks(LOOKUP_CHUNK) {
            let sql = format!(
                "SELECT id_hash, granule_id, start_time FROM granules INDEXED BY granules_id_hash \
                 WHERE collection_key = ? AND id_hash <> 0 AND id_hash IN {}",
                in_list(chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(*key);
            for h in chunk {
                q = q.bind(*h);
            }
            for row in q.fetch_all(&mut *conn).await.map_err(db_err)? {
                let h: i64 = row.try_get(0).map_err(db_err)?;
                let id: Option<String> = row.try_get(1).map_err(db_err)?;
                let s: f64 = row.try_get_unchecked(2).map_err(db_err)?;
                occ.hashed
                    .insert((*key, h), (id.ok_or_else(|| corrupt("granule ID"))?, s));
            }
        }
        if any_probed != 0 {
            for chunk in ids.chunks(LOOKUP_CHUNK) {
                let sql = format!(
                    "SELECT granule_id, id_hash, start_time FROM granules INDEXED BY granules_probed \
                     WHERE flags & 4 <> 0 AND collection_key = ? AND granule_id IN {}",
                    in_list(chunk.len())
                );
                let mut q = sqlx::query(AssertSqlSafe(sql)).bind(*key);
                for id in chunk {
                    q = q.bind(*id);
                }
                for row in q.fetch_all(&mut *conn).await.map_err(db_err)? {
                    let id: String = row.try_get(0).map_err(db_err)?;
                    let h: i64 = row.try_get(1).map_err(db_err)?;
                    let s: f64 = row.try_get_unchecked(2).map_err(db_err)?;
                    occ.probed.entry(*key).or_default().insert(id, (h, s));
                }
            }
        }
    }
    Ok(occ)
}

/// The home slot of a stored ID: its hash, never 0 (slot 0 is for rendered IDs).
fn home_slot(id: &str) -> i64 {
    match granule_id_hash(id) {
        0 => 1,
        h => h,
    }
}

async fn holder_of(conn: &mut SqliteConnection, key: i64, slot: i64) -> Result<Option<String>> {
    let id: Option<Option<String>> = sqlx::query_scalar(
        "SELECT granule_id FROM granules INDEXED BY granules_id_hash \
         WHERE collection_key = ?1 AND id_hash <> 0 AND id_hash = ?2",
    )
    .bind(key)
    .bind(slot)
    .fetch_optional(conn)
    .await
    .map_err(db_err)?;
    Ok(id.flatten())
}

/// Decide the row of every granule (see the module documentation).
async fn plan<'a>(
    conn: &mut SqliteConnection,
    rows: &[(&'a Coll, &'a Granule)],
) -> Result<Vec<Planned<'a>>> {
    let colls: HashMap<i64, &Coll> = rows.iter().map(|(c, _)| (c.key, *c)).collect();
    let occ = occupants(conn, rows, &colls).await?;
    let mut claimed_rendered: HashMap<(i64, u64), &str> = HashMap::new();
    let mut claimed_hashed: HashMap<(i64, i64), &str> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for &(c, g) in rows {
        let id = g.granule_id.as_str();
        let start = as_stored(g.start)?;
        let end = as_stored(g.end)?;
        let start_db = start_key(start);
        // Where it is now.
        let probed = occ.probed.get(&c.key).and_then(|ids| ids.get(id));
        let current: Option<Pk> = if let Some(&(h, s)) = probed {
            Some(pk(c.key, s, h))
        } else if let Some((_, s)) = occ
            .hashed
            .get(&(c.key, home_slot(id)))
            .filter(|(other, _)| other == id)
        {
            Some(pk(c.key, *s, home_slot(id)))
        } else {
            c.start_of_id(id).and_then(|s| {
                let s = ts_to_db(s);
                occ.rendered
                    .get(&(c.key, s.to_bits()))
                    .filter(|other| *other == id)
                    .map(|_| pk(c.key, s, 0))
            })
        };
        // Where it goes.
        let mut slot = None;
        if c.elides_id(id, start, end) {
            let k = (c.key, start_db.to_bits());
            let free = occ.rendered.get(&k).is_none_or(|other| other == id)
                && claimed_rendered.get(&k).is_none_or(|other| *other == id);
            if free {
                claimed_rendered.insert(k, id);
                slot = Some(0);
            }
        }
        let slot = match slot {
            Some(s) => s,
            None => match current {
                // A stored row keeps its slot (also one away from home).
                Some((_, _, h)) if h != 0 => {
                    claimed_hashed.insert((c.key, h), id);
                    h
                }
                _ => {
                    let h = free_slot(conn, &occ, &claimed_hashed, c.key, id).await?;
                    claimed_hashed.insert((c.key, h), id);
                    h
                }
            },
        };
        let target = pk(c.key, start_db, slot);
        let (flags, stored_id, name, url_path, modified) = encode(c, g, slot);
        out.push(Planned {
            g,
            coll: c,
            start: start_db,
            slot,
            flags,
            id: stored_id,
            name,
            url_path,
            end: opt_ts_to_db(end),
            modified,
            moved_from: current.filter(|k| *k != target),
            new: current.is_none(),
        });
    }
    Ok(out)
}

/// The first slot from `id`'s home on that no other ID holds (in the database or this batch).
async fn free_slot(
    conn: &mut SqliteConnection,
    occ: &Occupants,
    claimed: &HashMap<(i64, i64), &str>,
    key: i64,
    id: &str,
) -> Result<i64> {
    let home = home_slot(id);
    let mut slot = home;
    for _ in 0..MAX_PROBES {
        if slot != 0 {
            let taken_here = claimed.get(&(key, slot)).is_some_and(|o| *o != id);
            let holder = if taken_here {
                None
            } else if slot == home {
                occ.hashed.get(&(key, slot)).map(|(o, _)| o.clone())
            } else {
                holder_of(conn, key, slot).await?
            };
            if !taken_here && holder.is_none_or(|o| o == id) {
                return Ok(slot);
            }
        }
        slot = slot.wrapping_add(1);
    }
    Err(StoreError::Internal(format!(
        "no free hash slot for granule {id:?} after {MAX_PROBES} probes"
    )))
}

/// The stored form at `slot`: `(flags column, granule_id, name, url_path, modified)`.
#[allow(clippy::type_complexity)]
fn encode<'a>(
    c: &Coll,
    g: &'a Granule,
    slot: i64,
) -> (
    i64,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<f64>,
) {
    let id = g.granule_id.as_str();
    let e = CODEC.encode(
        &c.templates(),
        &Fields {
            id,
            name: &g.name,
            url_path: g.url_path.as_deref(),
            start: g.start,
            end: g.end,
            modified: g.modified,
        },
        slot == 0,
    );
    let mut flags = LAYOUT.encode(e.flags);
    if slot != 0 && slot != home_slot(id) {
        flags |= PROBED;
    }
    (flags, e.id, e.name, e.url_path, opt_ts_to_db(e.modified))
}

/// Upsert granules (already resolved to their collections; the last of several entries for
/// one ID wins). Returns how many did not exist.
pub(crate) async fn upsert(
    conn: &mut SqliteConnection,
    rows: &[(&Coll, &Granule)],
    catalogs: &HashMap<String, i64>,
    changes: &mut ChangeSet,
) -> Result<u64> {
    // The last entry per (collection, ID), in order.
    let mut last: HashMap<(i64, &str), usize> = HashMap::with_capacity(rows.len());
    for (i, (c, g)) in rows.iter().enumerate() {
        last.insert((c.key, g.granule_id.as_str()), i);
    }
    let rows: Vec<(&Coll, &Granule)> = rows
        .iter()
        .enumerate()
        .filter(|(i, (c, g))| last.get(&(c.key, g.granule_id.as_str())) == Some(i))
        .map(|(_, r)| *r)
        .collect();
    let mut inserted = 0u64;
    for chunk in rows.chunks(GRANULE_CHUNK) {
        let planned = plan(conn, chunk).await?;
        let mut planned = planned;
        // In key order: appended rows fill b-tree pages instead of splitting them.
        planned.sort_by(|a, b| {
            (a.coll.key, a.start, a.slot)
                .partial_cmp(&(b.coll.key, b.start, b.slot))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let moved: Vec<Pk> = planned.iter().filter_map(|p| p.moved_from).collect();
        delete_keys(conn, &moved).await?;
        let mut new = 0u64;
        for p in &planned {
            if p.new {
                new += 1;
                changes.granule(
                    ChangeKind::GranulesAdded,
                    &p.coll.id,
                    &p.g.granule_id,
                    p.g.start,
                    p.g.end,
                );
            } else if p.moved_from.is_some() {
                // Another start time (or slot): written anew under its new key.
                changes.rewritten(&p.coll.id);
            }
        }
        inserted += new;
        let stored = planned.iter().any(|p| !p.new);
        let written = write_rows(conn, &planned, catalogs, stored).await?;
        if stored {
            // Rows written per collection = inserted (new and moved) + updated in place (the
            // upsert writes a stored row only when a column differs): more than inserted, a
            // stored granule of that collection was rewritten.
            let mut expected: HashMap<i64, usize> = HashMap::new();
            for p in planned.iter().filter(|p| p.new || p.moved_from.is_some()) {
                *expected.entry(p.coll.key).or_default() += 1;
            }
            let mut got: HashMap<i64, usize> = HashMap::new();
            for key in written {
                *got.entry(key).or_default() += 1;
            }
            for p in &planned {
                let key = p.coll.key;
                if got.get(&key).copied().unwrap_or(0) > expected.get(&key).copied().unwrap_or(0) {
                    changes.rewritten(&p.coll.id);
                }
            }
        }
    }
    Ok(inserted)
}

/// Upsert the planned rows (a stored row whose columns all match is not written); with
/// `returning`, the collection key of each row inserted or updated.
async fn write_rows(
    conn: &mut SqliteConnection,
    rows: &[Planned<'_>],
    catalogs: &HashMap<String, i64>,
    returning: bool,
) -> Result<Vec<i64>> {
    const COLS: usize = 11;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "INSERT INTO granules (collection_key, start_time, id_hash, flags, catalog_key, size, \
         end_time, modified, granule_id, name, url_path) VALUES {} \
         ON CONFLICT (collection_key, start_time, id_hash) DO UPDATE SET flags = excluded.flags, \
         catalog_key = excluded.catalog_key, size = excluded.size, end_time = excluded.end_time, \
         modified = excluded.modified, granule_id = excluded.granule_id, name = excluded.name, \
         url_path = excluded.url_path \
         WHERE flags IS NOT excluded.flags OR catalog_key IS NOT excluded.catalog_key \
            OR size IS NOT excluded.size OR end_time IS NOT excluded.end_time \
            OR modified IS NOT excluded.modified OR granule_id IS NOT excluded.granule_id \
            OR name IS NOT excluded.name OR url_path IS NOT excluded.url_path{}",
        values_clause(rows.len(), COLS),
        if returning {
            " RETURNING collection_key"
        } else {
            ""
        }
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    // A catalog's granules come together: look its key up once per run of them.
    let mut catalog: Option<(&str, Option<i64>)> = None;
    for p in rows {
        let url = p.g.catalog_url.as_str();
        let catalog_key = match catalog {
            Some((u, k)) if u == url => k,
            _ => {
                let k = catalogs.get(url).copied();
                catalog = Some((url, k));
                k
            }
        };
        q = q
            .bind(p.coll.key)
            .bind(p.start)
            .bind(p.slot)
            .bind(p.flags)
            .bind(catalog_key)
            .bind(p.g.size)
            .bind(p.end)
            .bind(p.modified)
            .bind(p.id.map(str::to_owned))
            .bind(p.name.map(str::to_owned))
            .bind(p.url_path.map(str::to_owned));
    }
    if !returning {
        q.execute(conn).await.map_err(db_err)?;
        return Ok(Vec::new());
    }
    q.fetch_all(conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| r.try_get::<i64, _>(0).map_err(db_err))
        .collect()
}

/// Delete rows by primary key (one statement per row: a row-value `IN` list would not use
/// the primary key). Returns how many were deleted.
pub(crate) async fn delete_keys(conn: &mut SqliteConnection, keys: &[Pk]) -> Result<u64> {
    let mut deleted = 0;
    for (key, start, hash) in keys {
        deleted += sqlx::query(
            "DELETE FROM granules WHERE collection_key = ?1 AND start_time = ?2 AND id_hash = ?3",
        )
        .bind(*key)
        .bind(f64::from_bits(*start))
        .bind(*hash)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?
        .rows_affected();
    }
    Ok(deleted)
}

/// Collections by key, with their templates.
pub(crate) async fn colls_by_key(
    conn: &mut SqliteConnection,
    keys: &[i64],
) -> Result<HashMap<i64, Coll>> {
    let mut out = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(LOOKUP_CHUNK) {
        let sql = format!(
            "SELECT id, key, source_id, template, path_template FROM collections WHERE key IN {}",
            in_list(chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for k in chunk {
            q = q.bind(*k);
        }
        for row in q.fetch_all(&mut *conn).await.map_err(db_err)? {
            let c = coll_from_row(&row)?;
            out.insert(c.key, c);
        }
    }
    Ok(out)
}

pub(crate) fn coll_from_row(row: &SqliteRow) -> Result<Coll> {
    Ok(Coll {
        id: row.try_get("id").map_err(db_err)?,
        key: row.try_get("key").map_err(db_err)?,
        source: row.try_get("source_id").map_err(db_err)?,
        template: row.try_get("template").map_err(db_err)?,
        path_template: row.try_get("path_template").map_err(db_err)?,
    })
}

/// Give collections without a urlPath template one, from the first of their granules whose
/// urlPath (not the ID itself) the template derived from it renders back exactly.
pub(crate) async fn learn_path_templates(
    conn: &mut SqliteConnection,
    colls: &mut HashMap<String, Coll>,
    granules: &[Granule],
) -> Result<()> {
    let mut tried: HashSet<&str> = HashSet::new();
    for g in granules {
        let Some(c) = colls.get_mut(&g.collection_id) else {
            continue;
        };
        if c.path_template.is_some() || c.template.is_none() {
            continue;
        }
        let (Some(p), Some(_)) = (g.url_path.as_deref(), as_stored(g.start)?) else {
            continue;
        };
        if p == g.granule_id || !tried.insert(g.collection_id.as_str()) {
            continue;
        }
        as_stored(g.end)?;
        let Some(t) = CODEC.path_template_from(&g.granule_id, p, g.start, g.end) else {
            continue;
        };
        sqlx::query(
            "UPDATE collections SET path_template = ?2 WHERE key = ?1 AND path_template IS NULL",
        )
        .bind(c.key)
        .bind(&t)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        c.path_template = Some(t);
    }
    Ok(())
}

/// A granule row as read.
struct Read {
    start: f64,
    id: String,
    granule: Granule,
}

const READ_COLUMNS: &str = "g.start_time, g.end_time, g.granule_id, g.name, g.flags, \
    g.url_path, g.size, g.modified, c.url AS catalog_url";

fn read_row(coll: &Coll, collection_id: &str, row: &SqliteRow) -> Result<Read> {
    let start_db: f64 = row.try_get_unchecked("start_time").map_err(db_err)?;
    let start = start_from_key(start_db)?;
    let end = opt_ts_from_db(row.try_get_unchecked("end_time").map_err(db_err)?)?;
    let flags = LAYOUT.decode(row.try_get::<i64, _>("flags").map_err(db_err)?);
    let id = coll.row_id(row.try_get("granule_id").map_err(db_err)?, start, end)?;
    let (name, url_path, modified) = CODEC.decode_with_id(
        &coll.templates(),
        &id,
        codec::Stored {
            flags,
            id: None,
            name: row.try_get("name").map_err(db_err)?,
            url_path: row.try_get("url_path").map_err(db_err)?,
            start,
            end,
            modified: opt_ts_from_db(row.try_get_unchecked("modified").map_err(db_err)?)?,
        },
    )?;
    Ok(Read {
        start: start_db,
        id: id.clone(),
        granule: Granule {
            collection_id: collection_id.to_owned(),
            granule_id: id,
            name,
            start,
            end,
            url_path,
            size: row.try_get("size").map_err(db_err)?,
            modified,
            catalog_url: row
                .try_get::<Option<String>, _>("catalog_url")
                .map_err(db_err)?
                .unwrap_or_default(),
        },
    })
}

/// The listing statement of `q` without order and limit: its collection's granules in the
/// window. Parameters: `?1` collection key, `?2` window start, `?3` window end, `?6`
/// [`NO_START`]. Only the conditions in use are written, so the planner sees plain range
/// constraints on (collection_key, start_time). In the queries of one start (`group`, `= ?4`),
/// `+` keeps the window's range off the index, so the equality is used.
fn window_sql(q: &GranuleQuery, group: bool) -> String {
    let col = if group {
        "+g.start_time"
    } else {
        "g.start_time"
    };
    let mut sql = format!(
        "SELECT {READ_COLUMNS} FROM granules g LEFT JOIN catalogs c ON c.key = g.catalog_key \
         WHERE g.collection_key = ?1"
    );
    if q.start.is_some() {
        // The first condition is implied by the second (no granule spans more than
        // max_span) but is an index range on (collection_key, start_time).
        sql.push_str(&format!(
            " AND {col} >= ?2 - (SELECT max_span FROM collections WHERE key = ?1) \
             AND coalesce(g.end_time, g.start_time) >= ?2"
        ));
    }
    if q.end.is_some() {
        sql.push_str(&format!(" AND {col} > ?6 AND {col} < ?3"));
    }
    sql
}

/// How many granules [`list`] gives for `q` without its cursor and limit (the same
/// conditions, counted in the index).
pub(crate) async fn count(pool: &SqlitePool, q: &GranuleQuery) -> Result<u64> {
    let key: Option<i64> = sqlx::query_scalar("SELECT key FROM collections WHERE id = ?1")
        .bind(&q.collection_id)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    let Some(key) = key else {
        return Ok(0);
    };
    let sql = format!("SELECT count(*) FROM ({})", window_sql(q, false));
    let n: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(key)
        .bind(opt_ts_to_db(q.start))
        .bind(opt_ts_to_db(q.end))
        .bind(None::<f64>)
        .bind(None::<i64>)
        .bind(NO_START)
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Granules of a collection overlapping the query window, ordered by `(start, ID)` (descending
/// when `desc`), after the cursor.
///
/// The table is ordered by `(start, id_hash)`, and a rendered ID is not in the database, so
/// the order among granules of equal start is made here: the page is read in table order,
/// then the group of the cursor's start (rows past the cursor's ID) and the group of the
/// page's last start are read whole (up to the limit; at most one row of a group has a
/// rendered ID), sorted and cut. A cursor with an empty ID stands before its whole start
/// group (see [`threddex_store::GranuleIndex::list_granules_desc`]).
pub(crate) async fn list(pool: &SqlitePool, q: &GranuleQuery, desc: bool) -> Result<Vec<Granule>> {
    let row = sqlx::query(
        "SELECT id, key, source_id, template, path_template FROM collections WHERE id = ?1",
    )
    .bind(&q.collection_id)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    let Some(row) = row else {
        return Ok(Vec::new());
    };
    let coll = coll_from_row(&row)?;
    let base = |group: bool| window_sql(q, group);
    let limit = usize::try_from(q.limit).unwrap_or(usize::MAX);
    let sql_limit = if q.limit == 0 { -1 } else { i64::from(q.limit) };
    let run = |extra: &str, order: &str, lim: i64, at: Option<f64>, after_id: Option<&str>| {
        let sql = format!(
            "{}{extra} ORDER BY {order} LIMIT ?5",
            base(extra.contains("= ?4"))
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(coll.key)
            .bind(opt_ts_to_db(q.start))
            .bind(opt_ts_to_db(q.end))
            .bind(at)
            .bind(lim)
            .bind(NO_START)
            .bind(after_id.map(str::to_owned))
    };
    // Past the cursor: ascending, a greater (start, ID); descending, a smaller one.
    let past = |a: &str, b: &str| if desc { a < b } else { a > b };
    let (cmp, dir) = if desc { ("<", "DESC") } else { (">", "") };
    // A group in listing order by ID, its rendered row (NULL) first: of a group, the first n
    // rows in listing order are among the first n + 1 read so.
    let by_id = if desc {
        "g.granule_id IS NULL DESC, g.granule_id DESC"
    } else {
        "g.granule_id"
    };
    let mut out: Vec<Read> = Vec::new();
    let after = q.after.as_ref().map(|(s, id)| (start_key(*s), id.as_str()));
    // Descending from an empty ID, the cursor's group is whole: no partial group to read.
    let whole_group = desc && after.is_some_and(|(_, id)| id.is_empty());
    if let (Some((s, after_id)), false) = (after, whole_group) {
        // The rest of the cursor's group: rows of equal start with a stored ID past the
        // cursor's, and the (at most one) row with a rendered ID.
        let rows = run(
            &format!(" AND g.start_time = ?4 AND (g.granule_id IS NULL OR g.granule_id {cmp} ?7)"),
            by_id,
            sql_limit.saturating_add(1),
            Some(s),
            Some(after_id),
        )
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
        for r in &rows {
            let r = read_row(&coll, &q.collection_id, r)?;
            if past(r.id.as_str(), after_id) {
                out.push(r);
            }
        }
    }
    let page_cond = match (after, whole_group) {
        (None, _) => String::new(),
        (Some(_), true) => " AND g.start_time <= ?4".to_owned(),
        (Some(_), false) => format!(" AND g.start_time {cmp} ?4"),
    };
    let page = run(
        &page_cond,
        &format!("g.start_time {dir}, g.id_hash {dir}"),
        sql_limit,
        after.map(|(s, _)| s),
        None,
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let full = q.limit != 0 && page.len() >= limit;
    let mut last_start = None;
    for r in &page {
        let r = read_row(&coll, &q.collection_id, r)?;
        last_start = Some(r.start);
        out.push(r);
    }
    if let (true, Some(l)) = (full, last_start) {
        // Complete the last group (its rows are ordered by ID, not by hash).
        out.retain(|r| r.start.to_bits() != l.to_bits());
        let rows = run(
            " AND g.start_time = ?4",
            by_id,
            sql_limit.saturating_add(1),
            Some(l),
            None,
        )
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
        for r in &rows {
            let r = read_row(&coll, &q.collection_id, r)?;
            // The group may also be the cursor's: keep only what is past the cursor.
            let kept = match after {
                Some((s, id)) if s.to_bits() == l.to_bits() && !whole_group => {
                    past(r.id.as_str(), id)
                }
                _ => true,
            };
            if kept {
                out.push(r);
            }
        }
    }
    out.sort_by(|a, b| {
        let o = a.start.total_cmp(&b.start).then_with(|| a.id.cmp(&b.id));
        if desc { o.reverse() } else { o }
    });
    if q.limit != 0 {
        out.truncate(limit);
    }
    Ok(out.into_iter().map(|r| r.granule).collect())
}

/// Step 3 of a batch: granules recorded under a complete catalog that the batch does not
/// list. `listed` holds `(collection key, granule ID)` of the batch's granules of that
/// catalog.
pub(crate) async fn delete_unlisted(
    conn: &mut SqliteConnection,
    catalog_key: i64,
    listed: &HashSet<(i64, &str)>,
    colls: &mut HashMap<i64, Coll>,
    changes: &mut ChangeSet,
) -> Result<u64> {
    let rows = sqlx::query(
        "SELECT collection_key, start_time, id_hash, end_time, granule_id FROM granules \
         WHERE catalog_key = ?1",
    )
    .bind(catalog_key)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let unknown: Vec<i64> = rows
        .iter()
        .filter_map(|r| r.try_get::<i64, _>(0).ok())
        .filter(|k| !colls.contains_key(k))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if !unknown.is_empty() {
        colls.extend(colls_by_key(conn, &unknown).await?);
    }
    let mut vanished = Vec::new();
    for row in &rows {
        let key: i64 = row.try_get(0).map_err(db_err)?;
        let s: f64 = row.try_get_unchecked(1).map_err(db_err)?;
        let h: i64 = row.try_get(2).map_err(db_err)?;
        let stored: Option<String> = row.try_get(4).map_err(db_err)?;
        let coll = colls
            .get(&key)
            .ok_or_else(|| corrupt("granule collection"))?;
        let start = start_from_key(s)?;
        let end = opt_ts_from_db(row.try_get_unchecked(3).map_err(db_err)?)?;
        let id = match stored {
            Some(id) => id,
            None => coll.row_id(None, start, end)?,
        };
        if !listed.contains(&(key, id.as_str())) {
            changes.granule(ChangeKind::GranulesRemoved, &coll.id, &id, start, end);
            vanished.push(pk(key, s, h));
        }
    }
    delete_keys(conn, &vanished).await
}

/// Rewrite rows copied by migration 0007 (flag `LEGACY`) in the compact form, a chunk per
/// transaction. Nothing to do (one index probe) once done.
pub(crate) async fn compact_legacy(pool: &SqlitePool) -> Result<()> {
    loop {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        // The condition of the partial index granules_legacy.
        let sql = format!(
            "SELECT g.collection_key, g.start_time, g.id_hash, co.id AS collection_id, \
             g.end_time, g.granule_id, g.name, g.flags, g.url_path, g.size, g.modified, \
             c.url AS catalog_url, g.catalog_key \
             FROM granules g JOIN collections co ON co.key = g.collection_key \
             LEFT JOIN catalogs c ON c.key = g.catalog_key \
             WHERE g.flags & {LEGACY} <> 0 LIMIT 2000"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        if rows.is_empty() {
            tx.commit().await.map_err(db_err)?;
            return Ok(());
        }
        let keys: Vec<i64> = rows
            .iter()
            .filter_map(|r| r.try_get::<i64, _>(0).ok())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let by_key = colls_by_key(&mut tx, &keys).await?;
        let mut old = Vec::with_capacity(rows.len());
        let mut granules = Vec::with_capacity(rows.len());
        let mut catalogs: HashMap<String, i64> = HashMap::new();
        let mut colls: HashMap<String, Coll> = HashMap::new();
        for row in &rows {
            let key: i64 = row.try_get(0).map_err(db_err)?;
            let s: f64 = row.try_get_unchecked(1).map_err(db_err)?;
            let h: i64 = row.try_get(2).map_err(db_err)?;
            let collection_id: String = row.try_get("collection_id").map_err(db_err)?;
            let coll = by_key
                .get(&key)
                .ok_or_else(|| corrupt("granule collection"))?;
            let r = read_row(coll, &collection_id, row)?;
            if let Some(k) = row
                .try_get::<Option<i64>, _>("catalog_key")
                .map_err(db_err)?
            {
                catalogs.insert(r.granule.catalog_url.clone(), k);
            }
            colls.entry(collection_id).or_insert_with(|| coll.clone());
            old.push(pk(key, s, h));
            granules.push(r.granule);
        }
        delete_keys(&mut tx, &old).await?;
        learn_path_templates(&mut tx, &mut colls, &granules).await?;
        let pairs: Vec<(&Coll, &Granule)> = granules
            .iter()
            .filter_map(|g| colls.get(&g.collection_id).map(|c| (c, g)))
            .collect();
        // A rewrite of the same granules: nothing for the change log.
        upsert(&mut tx, &pairs, &catalogs, &mut ChangeSet::default()).await?;
        tx.commit().await.map_err(db_err)?;
    }
}
