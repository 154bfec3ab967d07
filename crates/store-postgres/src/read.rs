//! Reads: collections, granules, statistics.

use std::fmt::Write as _;

use sqlx::postgres::PgArguments;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, PgPool, Postgres, QueryBuilder, Row};
use threddex_store::sql::push_filter;
use threddex_store::{
    Collection, CollectionHit, CollectionQuery, Granule, GranuleQuery, RecordFilter, StoreError,
    StoreStats, Timestamp,
};

use crate::convert::{COLLECTION_COLUMNS, clean, collection_from_row, db_err, room_us, row_bbox};
use crate::granules::{Templates, decode, row_id};
use crate::keys::CollectionKeys;
use crate::read_pool::ReadPool;
use crate::search::Pg;

/// A bound parameter of a query assembled from optional conditions.
enum Param {
    Int(i64),
    Ts(Timestamp),
    Text(String),
    Limit(Option<i64>),
}

/// SQL text plus its parameters, numbered as they are added.
struct Sql {
    text: String,
    params: Vec<Param>,
}

impl Sql {
    fn new(text: &str) -> Self {
        Self {
            text: text.to_string(),
            params: Vec::new(),
        }
    }

    /// Add a parameter; returns its placeholder (`$n`).
    fn param(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }

    fn query(&self) -> Query<'_, Postgres, PgArguments> {
        // Only static fragments and `$n` placeholders make up the text; values are bound.
        let mut q = sqlx::query(AssertSqlSafe(self.text.clone()));
        for p in &self.params {
            q = match p {
                Param::Int(v) => q.bind(*v),
                Param::Ts(v) => q.bind(*v),
                Param::Text(v) => q.bind(v.as_str()),
                Param::Limit(v) => q.bind(*v),
            };
        }
        q
    }
}

/// `LIMIT` value: 0 means no limit (`LIMIT NULL`).
fn limit(n: u32) -> Option<i64> {
    (n > 0).then_some(i64::from(n))
}

pub(crate) async fn collection(pool: &PgPool, id: &str) -> Result<Option<Collection>, StoreError> {
    let sql = format!("SELECT {COLLECTION_COLUMNS} FROM collections c WHERE c.id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(clean(id).as_ref())
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(collection_from_row).transpose()
}

/// Collections matching a query, ordered by ID (see [`search_collections`]).
pub(crate) async fn list_collections(
    reads: &ReadPool,
    common: &CommonTexts,
    q: &CollectionQuery,
) -> Result<Vec<Collection>, StoreError> {
    let rows = search_collections(reads, common, q, COLLECTION_COLUMNS).await?;
    rows.iter().map(collection_from_row).collect()
}

/// Columns of a [`CollectionHit`], in [`hit_from_row`]'s order: none of the large ones
/// (services, metadata and keywords as JSON, the ISO record, often compressed out of line).
const HIT_COLUMNS: &str = "c.id, c.title, c.summary, c.west, c.south, c.east, c.north, \
     c.granule_count, c.start_time, c.end_time";

fn hit_from_row(row: &PgRow) -> Result<CollectionHit, StoreError> {
    Ok(CollectionHit {
        id: row.try_get(0).map_err(db_err)?,
        title: row.try_get(1).map_err(db_err)?,
        summary: row.try_get(2).map_err(db_err)?,
        bbox: row_bbox(row, [3, 4, 5, 6])?,
        granule_count: row.try_get(7).map_err(db_err)?,
        start: row.try_get(8).map_err(db_err)?,
        end: row.try_get(9).map_err(db_err)?,
    })
}

/// [`list_collections`], reading only [`HIT_COLUMNS`].
pub(crate) async fn list_collection_hits(
    reads: &ReadPool,
    common: &CommonTexts,
    q: &CollectionQuery,
) -> Result<Vec<CollectionHit>, StoreError> {
    let rows = search_collections(reads, common, q, HIT_COLUMNS).await?;
    rows.iter().map(hit_from_row).collect()
}

/// A free-text search matching more collections than this is answered in ID order (see
/// [`search_collections`]).
const COMMON_MATCHES: i64 = 2_000;

/// Most texts [`CommonTexts`] keeps a verdict for; when full it is emptied.
const COMMON_TEXTS_CAPACITY: usize = 10_000;

/// Verdicts are forgotten after this long (catalogues grow: a text may become common).
const COMMON_TEXTS_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// Whether search texts (lowercased) match over [`COMMON_MATCHES`] collections, for the
/// texts seen recently (bounded, forgotten after [`COMMON_TEXTS_TTL`]).
#[derive(Debug, Default)]
pub(crate) struct CommonTexts {
    verdicts: std::sync::Mutex<Verdicts>,
}

#[derive(Debug, Default)]
struct Verdicts {
    /// When `by_text` was last emptied (None: never filled).
    since: Option<std::time::Instant>,
    by_text: std::collections::HashMap<String, bool>,
}

impl Verdicts {
    fn expired(&self) -> bool {
        self.since.is_some_and(|t| t.elapsed() > COMMON_TEXTS_TTL)
    }
}

impl CommonTexts {
    fn lock(&self) -> std::sync::MutexGuard<'_, Verdicts> {
        self.verdicts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many texts are known to be common.
    pub(crate) fn common_count(&self) -> usize {
        self.lock()
            .by_text
            .values()
            .filter(|&&common| common)
            .count()
    }

    /// The verdict on `text` (None: not known).
    fn common(&self, text: &str) -> Option<bool> {
        let v = self.lock();
        if v.expired() {
            return None;
        }
        v.by_text.get(text).copied()
    }

    fn remember(&self, text: String, common: bool) {
        let mut v = self.lock();
        if v.since.is_none() || v.expired() || v.by_text.len() >= COMMON_TEXTS_CAPACITY {
            v.by_text.clear();
            v.since = Some(std::time::Instant::now());
        }
        v.by_text.insert(text, common);
    }
}

/// How many collections the free text alone matches, counted up to `COMMON_MATCHES + 1`.
async fn text_matches(conn: &mut PgConnection, text: &RecordFilter) -> Result<i64, StoreError> {
    let mut count = QueryBuilder::new("SELECT count(*) FROM (SELECT 1 FROM collections c WHERE ");
    push_filter(&Pg::WIDE, &mut count, text)?;
    count.push(" LIMIT ").push_bind(COMMON_MATCHES + 1);
    count.push(") AS m");
    count
        .build()
        .fetch_one(conn)
        .await
        .map_err(db_err)?
        .try_get::<i64, _>(0)
        .map_err(db_err)
}

/// The rows of a collection search ([`CollectionQuery::filter`], compiled by the shared
/// compiler), `columns` of each.
///
/// Free text is answered in one of two statement forms, both prepared once per connection
/// (no planning per request):
/// * by default, the BitmapOr of the two text indexes of each term (see
///   [`crate::search`]), then a top-`limit` sort of the matches: `ORDER BY c.id || ''` sorts
///   in the same (`C`) order but cannot be read from the ID index, so the generic plan cannot
///   become a scan in ID order that runs the tsquery and the `ILIKE` on every row until
///   `limit` hits (1.5 ms of Postgres CPU for a rare word on 1,000 collections; a generic plan
///   of that shape cut `bench/api-load.sh` searches from ~5,000 to ~1,500 requests/s, and
///   custom plans per request, ~1,950, cost their planning). Its cost grows with the number
///   of matches;
/// * texts known to match over [`COMMON_MATCHES`] collections ([`CommonTexts`]) are read in
///   ID order instead (`ORDER BY c.id`), which stops after `limit` hits: cheap exactly when
///   the words are common. The first search of a text that fills its page counts the
///   text's matches (up to `COMMON_MATCHES + 1`) to decide.
async fn search_collections(
    reads: &ReadPool,
    common: &CommonTexts,
    q: &CollectionQuery,
    columns: &str,
) -> Result<Vec<PgRow>, StoreError> {
    let text = q.text_filter();
    let text_key = (text != RecordFilter::All)
        .then(|| q.text.as_deref().map(|t| t.trim().to_lowercase()))
        .flatten();
    let verdict = text_key.as_deref().and_then(|t| common.common(t));
    let by_matches = text_key.is_some() && verdict != Some(true);
    let recheck = if by_matches {
        common_terms(&text, common)
    } else {
        Vec::new()
    };
    let mut sql = QueryBuilder::new(format!("SELECT {columns} FROM collections c WHERE "));
    push_filter(
        &Pg {
            narrow: false,
            recheck: &recheck,
        },
        &mut sql,
        &q.filter(),
    )?;
    let order = if by_matches { "c.id || ''" } else { "c.id" };
    sql.push(format!(" ORDER BY {order} LIMIT "))
        .push_bind(limit(q.limit));
    let mut conn = reads.acquire().await?;
    let rows = sql.build().fetch_all(conn.conn()).await.map_err(db_err)?;
    if verdict.is_none()
        && let Some(key) = text_key
    {
        let page_full = q.limit > 0 && rows.len() >= q.limit as usize;
        let only_text = q.bbox.is_none()
            && q.source_id.is_none()
            && q.start.is_none()
            && q.end.is_none()
            && q.after_id.is_none()
            && q.updated_since.is_none();
        let matches = if page_full || !only_text {
            text_matches(conn.conn(), &text).await?
        } else {
            // Every match of the text is on this page.
            i64::try_from(rows.len()).unwrap_or(i64::MAX)
        };
        common.remember(key, matches > COMMON_MATCHES);
    }
    conn.done();
    Ok(rows)
}

/// The terms of a several-term free text known to be common on their own (searched alone
/// before, over [`COMMON_MATCHES`] matches): tested on the rows the other terms find. When
/// every term is common the first keeps its indexes.
fn common_terms(text: &RecordFilter, common: &CommonTexts) -> Vec<String> {
    let RecordFilter::And(parts) = text else {
        return Vec::new();
    };
    let terms: Vec<&str> = parts
        .iter()
        .filter_map(|p| match p {
            RecordFilter::Words(w) => Some(w.text.as_str()),
            _ => None,
        })
        .collect();
    let mut out: Vec<String> = terms
        .iter()
        .filter(|t| common.common(t) == Some(true))
        .map(|t| (*t).to_owned())
        .collect();
    if out.len() == terms.len() && !out.is_empty() {
        out.remove(0);
    }
    out
}

/// Catalog URLs come from [`CatalogUrls`], not from a per-row sub-select (which cost about
/// half the execution time of a one-day lookup).
const GRANULE_COLUMNS: &str = "g.granule_id, g.name, g.flags, g.start_time, g.end_time, \
     g.url_path, g.size, g.modified, g.catalog_key";

/// The collection's templates, as two more columns of the listing (`InitPlan`s, evaluated
/// once per statement), to render the IDs and urlPaths that are not stored.
const TEMPLATE_COLUMNS: &str = "(SELECT c.template FROM collections c WHERE c.id = $1) AS tpl, \
     (SELECT c.path_template FROM collections c WHERE c.id = $1) AS path_tpl";

/// Most catalog URLs [`CatalogUrls`] keeps; when full it is emptied (simple and bounded).
const CATALOG_URLS_CAPACITY: usize = 200_000;

/// Catalog URLs by catalog key, shared by the store's listings. A catalog's key and URL never
/// change (the URL is the catalog's identity, keys are identity values never reused), so an
/// entry never goes stale; keys missing here are read in one query.
#[derive(Debug, Default)]
pub(crate) struct CatalogUrls {
    map: std::sync::Mutex<std::collections::HashMap<i64, std::sync::Arc<str>>>,
}

impl CatalogUrls {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<i64, std::sync::Arc<str>>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The URLs of `keys` (absent: no such catalog), reading the unknown ones.
    async fn resolve(
        &self,
        pool: &PgPool,
        keys: &[Option<i64>],
    ) -> Result<Vec<Option<std::sync::Arc<str>>>, StoreError> {
        let mut missing: Vec<i64> = {
            let map = self.lock();
            keys.iter()
                .flatten()
                .filter(|k| !map.contains_key(k))
                .copied()
                .collect()
        };
        let mut fetched = std::collections::HashMap::new();
        if !missing.is_empty() {
            missing.sort_unstable();
            missing.dedup();
            let rows = sqlx::query("SELECT key, url FROM catalogs WHERE key = ANY($1)")
                .bind(&missing)
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
            for row in rows {
                let key: i64 = row.try_get(0).map_err(db_err)?;
                let url: String = row.try_get(1).map_err(db_err)?;
                fetched.insert(key, std::sync::Arc::<str>::from(url));
            }
            let mut map = self.lock();
            if map.len() + fetched.len() > CATALOG_URLS_CAPACITY {
                map.clear();
            }
            map.extend(fetched.iter().map(|(k, v)| (*k, v.clone())));
        }
        let map = self.lock();
        Ok(keys
            .iter()
            .map(|k| k.and_then(|k| map.get(&k).or_else(|| fetched.get(&k)).cloned()))
            .collect())
    }
}

/// Which rows one listing statement covers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Everything the query asks for (one statement).
    All,
    /// A start-only window, first statement: granules with an end but no start.
    Untimed,
    /// A start-only window, second statement: granules with a start.
    Timed,
}

/// One listing statement of `q`: a single round trip (the collection's key and span bound
/// are sub-selects evaluated once, and catalog URLs are per-row key lookups).
///
/// Overlap (as in the SQLite backend): `COALESCE(end, start) >= start_bound` and
/// `start < end_bound`. The first condition is not an index range, so it is paired with the
/// equivalent-for-the-collection bound `start >= start_bound - max_span` (`max_span_us` is an
/// upper bound of the collection's granule durations, maintained by every write): the lookup
/// then scans only the index range `(collection, start)` of the window, in index order,
/// whatever the collection's size. When the subtraction would leave the range Postgres can
/// represent, the bound is `-infinity` instead.
///
/// Descending (`desc`), the index is read backwards (`start DESC NULLS LAST`) and the cursor
/// bounds the starts from above.
///
/// `key` is the collection's key (see [`crate::keys`]): bound as a value, so the statement is
/// pruned to the collection's partition before it runs.
fn granule_sql(q: &GranuleQuery, key: i64, part: Part, limit: Option<i64>, desc: bool) -> Sql {
    let mut sql = Sql::new("");
    let id = sql.param(Param::Text(clean(&q.collection_id).into_owned()));
    let k = sql.param(Param::Int(key));
    let _ = write!(
        sql.text,
        "SELECT {GRANULE_COLUMNS}, {TEMPLATE_COLUMNS} FROM granules g \
         WHERE g.collection_key = {k}"
    );
    debug_assert_eq!(id, "$1");
    match part {
        Part::Untimed => {
            sql.text.push_str(" AND g.start_time IS NULL");
            if let Some(s) = q.start {
                let s = sql.param(Param::Ts(s));
                let _ = write!(sql.text, " AND g.end_time >= {s}");
            }
        }
        Part::All | Part::Timed => {
            if part == Part::Timed {
                sql.text.push_str(" AND g.start_time IS NOT NULL");
            }
            if let Some(s) = q.start {
                let p = sql.param(Param::Ts(s));
                let room = sql.param(Param::Int(room_us(s)));
                let _ = write!(
                    sql.text,
                    " AND COALESCE(g.end_time, g.start_time) >= {p} \
                     AND g.start_time >= COALESCE((SELECT CASE WHEN c.max_span_us <= {room} \
                         THEN {p} - c.max_span_us * interval '1 microsecond' END \
                         FROM collections c WHERE c.id = {id}), '-infinity')"
                );
            }
            if let Some(e) = q.end {
                let p = sql.param(Param::Ts(e));
                let _ = write!(sql.text, " AND g.start_time < {p}");
            }
        }
    }
    // The cursor's own start group is read whole and cut by ID in `listing_part` (IDs of
    // rendered rows are not in the database).
    match (&q.after, desc) {
        (Some((Some(at), _)), false) => {
            let a = sql.param(Param::Ts(*at));
            let _ = write!(sql.text, " AND g.start_time >= {a}");
        }
        // Untimed rows come after every timed one.
        (Some((Some(at), _)), true) if part != Part::Untimed => {
            let a = sql.param(Param::Ts(*at));
            let _ = write!(sql.text, " AND g.start_time <= {a}");
        }
        (Some((None, _)), true) => sql.text.push_str(" AND g.start_time IS NULL"),
        _ => {}
    }
    let p = sql.param(Param::Limit(limit));
    let order = if desc {
        "g.start_time DESC NULLS LAST"
    } else {
        "g.start_time NULLS FIRST"
    };
    let _ = write!(sql.text, " ORDER BY {order} LIMIT {p}");
    sql
}

/// The statements answering `q`, in listing order. A start-only window also matches granules
/// with an end but no start; they sort first and are outside the index range of the timed
/// ones, so they get their own statement (run first).
///
/// Descending, untimed granules come last; when the window can hold them (no end bound) they
/// get their own statement too, so that the timed ones are one backward index range.
fn parts(q: &GranuleQuery, desc: bool) -> &'static [Part] {
    if desc {
        return match (q.end, &q.after) {
            (Some(_), _) => &[Part::All],
            (None, Some((None, _))) => &[Part::Untimed],
            (None, _) => &[Part::Timed, Part::Untimed],
        };
    }
    let untimed_possible = matches!(q.after, None | Some((None, _)));
    if q.start.is_some() && q.end.is_none() && untimed_possible {
        &[Part::Untimed, Part::Timed]
    } else {
        &[Part::All]
    }
}

/// `EXPLAIN` output of the listing statements of `q`.
pub(crate) async fn explain_granules(
    pool: &PgPool,
    keys: &CollectionKeys,
    q: &GranuleQuery,
) -> Result<String, StoreError> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    let Some(key) = keys.get(&mut conn, &q.collection_id).await? else {
        return Ok(String::new());
    };
    let mut out = String::new();
    for &part in parts(q, false) {
        let mut sql = granule_sql(q, key.key, part, limit(q.limit), false);
        sql.text.insert_str(0, "EXPLAIN ");
        for r in sql.query().fetch_all(&mut *conn).await.map_err(db_err)? {
            out.push_str(&r.try_get::<String, _>(0).map_err(db_err)?);
            out.push('\n');
        }
    }
    Ok(out)
}

/// A listed row: the granule (catalog URL still empty) and its catalog key.
struct Listed {
    granule: Granule,
    catalog_key: Option<i64>,
}

/// Positions of the listing statement's columns ([`GRANULE_COLUMNS`], then
/// [`TEMPLATE_COLUMNS`]) and their Postgres types.
mod col {
    pub(super) const GRANULE_ID: usize = 0;
    pub(super) const NAME: usize = 1;
    pub(super) const FLAGS: usize = 2;
    pub(super) const START: usize = 3;
    pub(super) const END: usize = 4;
    pub(super) const URL_PATH: usize = 5;
    pub(super) const SIZE: usize = 6;
    pub(super) const MODIFIED: usize = 7;
    pub(super) const CATALOG_KEY: usize = 8;
    pub(super) const TEMPLATE: usize = 9;
    pub(super) const PATH_TEMPLATE: usize = 10;
    /// Type names, in column order.
    pub(super) const TYPES: [&str; 11] = [
        "TEXT",
        "TEXT",
        "INT2",
        "TIMESTAMPTZ",
        "TIMESTAMPTZ",
        "TEXT",
        "INT8",
        "TIMESTAMPTZ",
        "INT8",
        "TEXT",
        "TEXT",
    ];
}

/// Listing rows are decoded from their binary values by position: sqlx's by-name `try_get`
/// looks each column name up and re-checks its type on every value, which was most of the
/// server's CPU time per `/index` request (callgrind: ~5,500 instructions per row). The
/// column types are checked once per statement instead ([`check_listing_columns`]).
fn check_listing_columns(row: &PgRow) -> Result<(), StoreError> {
    use sqlx::{Column, TypeInfo};
    let columns = row.columns();
    if columns.len() != col::TYPES.len() {
        return Err(StoreError::Internal(format!(
            "granule listing returned {} columns, expected {}",
            columns.len(),
            col::TYPES.len()
        )));
    }
    for (c, want) in columns.iter().zip(col::TYPES) {
        let got = c.type_info().name();
        if got != want {
            return Err(StoreError::Internal(format!(
                "granule listing column {} is {got}, expected {want}",
                c.name()
            )));
        }
    }
    Ok(())
}

/// The binary value of column `i` (None: SQL NULL).
fn raw(row: &PgRow, i: usize) -> Result<Option<&[u8]>, StoreError> {
    let v = row.try_get_raw(i).map_err(db_err)?;
    if sqlx::ValueRef::is_null(&v) {
        return Ok(None);
    }
    v.as_bytes().map(Some).map_err(StoreError::Database)
}

fn bad_value(i: usize) -> StoreError {
    StoreError::Corrupt(format!(
        "granule listing column {i} (malformed binary value)"
    ))
}

fn raw_text(row: &PgRow, i: usize) -> Result<Option<String>, StoreError> {
    raw(row, i)?
        .map(|b| {
            std::str::from_utf8(b)
                .map(str::to_owned)
                .map_err(|_| bad_value(i))
        })
        .transpose()
}

fn raw_i64(row: &PgRow, i: usize) -> Result<Option<i64>, StoreError> {
    raw(row, i)?
        .map(|b| {
            <[u8; 8]>::try_from(b)
                .map(i64::from_be_bytes)
                .map_err(|_| bad_value(i))
        })
        .transpose()
}

fn raw_i16(row: &PgRow, i: usize) -> Result<i16, StoreError> {
    raw(row, i)?
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map(i16::from_be_bytes)
        .ok_or_else(|| bad_value(i))
}

/// Microseconds from the Unix epoch to Postgres' (2000-01-01T00:00:00Z).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// A `timestamptz` (microseconds since 2000-01-01 UTC; `±infinity` are refused, as sqlx
/// refuses them).
fn raw_time(row: &PgRow, i: usize) -> Result<Option<Timestamp>, StoreError> {
    raw_i64(row, i)?
        .map(|us| {
            us.checked_add(PG_EPOCH_US)
                .and_then(chrono::DateTime::from_timestamp_micros)
                .ok_or_else(|| bad_value(i))
        })
        .transpose()
}

/// The collection's templates (the same in every row of a listing).
fn templates(row: &PgRow) -> Result<Templates, StoreError> {
    Ok(Templates {
        template: raw_text(row, col::TEMPLATE)?,
        path_template: raw_text(row, col::PATH_TEMPLATE)?,
    })
}

fn listed(q: &GranuleQuery, templates: &Templates, row: &PgRow) -> Result<Listed, StoreError> {
    let start = raw_time(row, col::START)?;
    let end = raw_time(row, col::END)?;
    let granule_id = row_id(templates, raw_text(row, col::GRANULE_ID)?, start, end)?;
    let (name, url_path, modified) = decode(
        templates,
        &granule_id,
        (raw_text(row, col::NAME)?, raw_text(row, col::URL_PATH)?),
        raw_i16(row, col::FLAGS)?,
        (start, end),
        raw_time(row, col::MODIFIED)?,
    )?;
    Ok(Listed {
        granule: Granule {
            collection_id: q.collection_id.clone(),
            granule_id,
            name,
            start,
            end,
            url_path,
            size: raw_i64(row, col::SIZE)?,
            modified,
            catalog_url: String::new(),
        },
        catalog_key: raw_i64(row, col::CATALOG_KEY)?,
    })
}

/// The rows of one listing statement, in listing order `(start, ID)`, after the cursor, at
/// most `wanted`.
///
/// The statement reads in index order `(collection, start)`; the order among rows of equal
/// start (rare) is made here, after rendering their IDs. So the statement reads one row more
/// than wanted (two after a cursor, whose own row comes back and is dropped): when the last
/// row read starts later than the last row kept, every start group kept is whole. Otherwise
/// (ties at the edge) it is read again with twice the limit.
async fn listing_part(
    conn: &mut PgConnection,
    q: &GranuleQuery,
    key: i64,
    part: Part,
    wanted: Option<i64>,
    desc: bool,
) -> Result<Vec<Listed>, StoreError> {
    let after = q
        .after
        .as_ref()
        .map(|(at, id)| (*at, clean(id).into_owned()));
    let mut fetch = wanted.map(|n| n.saturating_add(if after.is_some() { 2 } else { 1 }));
    loop {
        let sql = granule_sql(q, key, part, fetch, desc);
        let rows = sql.query().fetch_all(&mut *conn).await.map_err(db_err)?;
        let read = rows.len();
        if let Some(first) = rows.first() {
            check_listing_columns(first)?;
        }
        let last_start: Option<Option<Timestamp>> = match rows.last() {
            Some(r) => Some(raw_time(r, col::START)?),
            None => None,
        };
        let mut out = Vec::with_capacity(read);
        let templates = rows.first().map(templates).transpose()?.unwrap_or_default();
        for row in &rows {
            let l = listed(q, &templates, row)?;
            let past_cursor = after.as_ref().is_none_or(|(at, id)| {
                let here = (l.granule.start, l.granule.granule_id.as_str());
                if desc {
                    // An empty ID stands after its whole start group.
                    here < (*at, id.as_str()) || (id.is_empty() && l.granule.start == *at)
                } else {
                    here > (*at, id.as_str())
                }
            });
            if past_cursor {
                out.push(l);
            }
        }
        let everything = fetch.is_none_or(|f| (read as i64) < f);
        if !everything {
            // The last start group may continue past what was read.
            out.retain(|l| Some(l.granule.start) != last_start);
        }
        let enough = wanted.is_none_or(|n| out.len() as i64 >= n);
        if everything || enough {
            out.sort_by(|a, b| {
                let o = (a.granule.start, &a.granule.granule_id)
                    .cmp(&(b.granule.start, &b.granule.granule_id));
                if desc { o.reverse() } else { o }
            });
            if let Some(n) = wanted {
                out.truncate(usize::try_from(n).unwrap_or(usize::MAX));
            }
            return Ok(out);
        }
        fetch = fetch.map(|f| f.saturating_mul(2));
    }
}

/// Granules of one collection overlapping `[start, end)`, ordered by `(start, granule_id)`
/// with untimed granules first, after the keyset cursor (see [`granule_sql`] and
/// [`listing_part`]). An unknown collection has no granules.
///
/// Descending when `desc` (see [`threddex_store::GranuleIndex::list_granules_desc`]).
pub(crate) async fn list_granules(
    reads: &ReadPool,
    pool: &PgPool,
    catalog_urls: &CatalogUrls,
    keys: &CollectionKeys,
    q: &GranuleQuery,
    desc: bool,
) -> Result<Vec<Granule>, StoreError> {
    let mut conn = reads.acquire().await?;
    let rows = listing(conn.conn(), keys, q, desc).await?;
    conn.done();
    with_catalog_urls(rows, pool, catalog_urls).await
}

/// [`list_granules`] on a connection of `pool` (the primary, when search reads go to a
/// replica: a listing right after a refresh on demand, which wrote to the primary).
pub(crate) async fn list_granules_on(
    pool: &PgPool,
    catalog_urls: &CatalogUrls,
    keys: &CollectionKeys,
    q: &GranuleQuery,
) -> Result<Vec<Granule>, StoreError> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    let rows = listing(&mut conn, keys, q, false).await?;
    drop(conn);
    with_catalog_urls(rows, pool, catalog_urls).await
}

/// The rows of every part of `q`'s listing, in order, up to its limit. An empty listing from
/// a cached collection key is read again under the key looked up afresh, should it differ
/// (see [`crate::keys`]).
async fn listing(
    conn: &mut PgConnection,
    keys: &CollectionKeys,
    q: &GranuleQuery,
    desc: bool,
) -> Result<Vec<Listed>, StoreError> {
    let Some(key) = keys.get(conn, &q.collection_id).await? else {
        return Ok(Vec::new());
    };
    let rows = listing_of(conn, q, key.key, desc).await?;
    if rows.is_empty() && key.cached {
        keys.forget(&q.collection_id);
        return match keys.get(conn, &q.collection_id).await? {
            Some(fresh) if fresh.key != key.key => listing_of(conn, q, fresh.key, desc).await,
            _ => Ok(rows),
        };
    }
    Ok(rows)
}

/// [`listing`] of the collection with key `key`.
async fn listing_of(
    conn: &mut PgConnection,
    q: &GranuleQuery,
    key: i64,
    desc: bool,
) -> Result<Vec<Listed>, StoreError> {
    let mut rows: Vec<Listed> = Vec::new();
    for &part in parts(q, desc) {
        let wanted = match limit(q.limit) {
            Some(n) => {
                let left = n - rows.len() as i64;
                if left <= 0 {
                    break;
                }
                Some(left)
            }
            None => None,
        };
        rows.extend(listing_part(conn, q, key, part, wanted, desc).await?);
    }
    Ok(rows)
}

/// The granules of `rows`, their catalog URLs resolved (through the cache, else `pool`).
async fn with_catalog_urls(
    rows: Vec<Listed>,
    pool: &PgPool,
    catalog_urls: &CatalogUrls,
) -> Result<Vec<Granule>, StoreError> {
    let keys: Vec<Option<i64>> = rows.iter().map(|l| l.catalog_key).collect();
    let urls = catalog_urls.resolve(pool, &keys).await?;
    Ok(rows
        .into_iter()
        .zip(urls)
        .map(|(l, catalog_url)| Granule {
            catalog_url: catalog_url.map(|u| u.to_string()).unwrap_or_default(),
            ..l.granule
        })
        .collect())
}

/// How many granules [`list_granules`] lists for `q` without its cursor and limit: the same
/// statements, counted (an index range count; an unknown collection has none).
pub(crate) async fn count_granules(
    reads: &ReadPool,
    keys: &CollectionKeys,
    q: &GranuleQuery,
) -> Result<u64, StoreError> {
    let q = GranuleQuery {
        after: None,
        limit: 0,
        ..q.clone()
    };
    let mut conn = reads.acquire().await?;
    let mut n = 0;
    if let Some(key) = keys.get(conn.conn(), &q.collection_id).await? {
        n = count_of(conn.conn(), &q, key.key).await?;
        if n == 0 && key.cached {
            keys.forget(&q.collection_id);
            if let Some(fresh) = keys.get(conn.conn(), &q.collection_id).await?
                && fresh.key != key.key
            {
                n = count_of(conn.conn(), &q, fresh.key).await?;
            }
        }
    }
    conn.done();
    Ok(n)
}

/// [`count_granules`] of the collection with key `key`.
async fn count_of(conn: &mut PgConnection, q: &GranuleQuery, key: i64) -> Result<u64, StoreError> {
    let mut n = 0u64;
    for &part in parts(q, false) {
        let mut sql = granule_sql(q, key, part, None, false);
        sql.text = format!("SELECT count(*) FROM ({}) t", sql.text);
        let row = sql.query().fetch_one(&mut *conn).await.map_err(db_err)?;
        n += to_u64(row.try_get::<i64, _>(0).map_err(db_err)?);
    }
    Ok(n)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) async fn stats(pool: &PgPool) -> Result<StoreStats, StoreError> {
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM sources), (SELECT count(*) FROM catalogs), \
         (SELECT count(*) FROM catalogs WHERE status = 'failed'), \
         (SELECT count(*) FROM collections), (SELECT count(*) FROM granules), \
         pg_total_relation_size('collections') \
         + pg_total_relation_size('collection_anytext'), \
         (SELECT COALESCE(sum(pg_total_relation_size(relid)), 0)::int8 \
          FROM pg_partition_tree('granules'))",
    )
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    let get = |i: usize| -> Result<u64, StoreError> {
        Ok(to_u64(row.try_get::<i64, _>(i).map_err(db_err)?))
    };
    Ok(StoreStats {
        sources: get(0)?,
        catalogs: get(1)?,
        failed_catalogs: get(2)?,
        collections: get(3)?,
        granules: get(4)?,
        collection_bytes: get(5)?,
        granule_bytes: get(6)?,
    })
}
