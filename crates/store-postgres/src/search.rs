//! Collection searches on Postgres: the [`Dialect`] of the shared compiler
//! ([`threddex_store::sql`]) and the catalogue search statements around it.
//!
//! * Free-text words match the full-text document `c.search` (title, abstract, keywords;
//!   split at ASCII punctuation, migration 0012) with `to_tsquery('simple', 'w1' <-> 'w2':*)`,
//!   served by its GIN index; the ID part is `c.id ILIKE '%text%'`, served by the trigram
//!   index on the ID (migration 0007).
//! * `csw:AnyText` LIKE patterns are matched on the narrow side table `collection_anytext`
//!   (key, lower-cased ID, title, abstract, keywords; migration 0007) as
//!   `anytext LIKE lower(pattern)`, served by its `pg_trgm` GIN index: the same result as
//!   `ILIKE` on the text (Postgres' ILIKE lower-cases both sides with the same collation),
//!   without lower-casing every candidate, and index rechecks read small pages.
//! * Other case-insensitive LIKE tests are `ILIKE`, case-sensitive ones `LIKE` (escape
//!   character: backslash).
//!
//! A filter made only of AnyText tests (with And/Or/Not) in the default order is answered in
//! one statement over the side table alone: the matching keys are gathered once, counted, and
//! the page's keys picked from them before the page's collections are read. Any other filter
//! runs a count and a page statement over `collections`, AnyText tests being key sets
//! (`c.key IN (SELECT … FROM collection_anytext …)`).

use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use threddex_store::sql::{Binds, Column, Dialect, Keywords, push_filter, push_order_by};
use threddex_store::{
    Collection, LikePattern, MAX_FILTER_DEPTH, RecordFilter, RecordPage, SortKey, StoreError,
    Timestamp, Words,
};

use crate::convert::{
    COLLECTION_COLUMNS, COLLECTION_COLUMNS_WITHOUT_ISO, clean, collection_from_row, db_err,
    like_escape,
};

type Result<T> = std::result::Result<T, StoreError>;

/// The Postgres dialect: columns of `collections c`.
pub(crate) struct Pg<'a> {
    /// AnyText tests are written against the side table row `t` (the statement reads
    /// `collection_anytext t`), not as key sets of `collections c`.
    pub(crate) narrow: bool,
    /// Free-text terms (by [`Words::text`]) tested on the rows the other conditions find
    /// rather than through their own indexes: terms known to match very many collections,
    /// whose whole bitmap a `BitmapAnd` would otherwise build (10,000 matches: 5 ms, against
    /// 0.3 ms as a recheck of a rare term's rows).
    pub(crate) recheck: &'a [String],
}

impl Pg<'static> {
    /// Columns of `collections c`, every term through its indexes.
    pub(crate) const WIDE: Pg<'static> = Pg {
        narrow: false,
        recheck: &[],
    };
    /// AnyText on the side table row `t`.
    pub(crate) const NARROW: Pg<'static> = Pg {
        narrow: true,
        recheck: &[],
    };
}

/// The tsquery of a term's words: one after another, the last one a prefix. Words are
/// letters and digits only, so quoting them is enough.
fn tsquery(words: &[String]) -> String {
    let mut q = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            q.push_str(" <-> ");
        }
        q.push('\'');
        q.push_str(&w.replace('\'', "''").replace('\\', "\\\\"));
        q.push('\'');
    }
    q.push_str(":*");
    q
}

impl Dialect for Pg<'_> {
    type Db = Postgres;

    const KEYWORDS: Keywords = Keywords {
        exists: "EXISTS (SELECT 1 FROM jsonb_array_elements_text(c.keywords) AS k(v) WHERE ",
        value: "k.v",
        empty: "jsonb_array_length(c.keywords) = 0",
    };

    fn column(&self, column: Column) -> &'static str {
        match column {
            Column::Key => "c.key",
            Column::Id => "c.id",
            Column::Title => "c.title",
            Column::Summary => "c.summary",
            Column::Type => "'series'::text",
            Column::Modified => "c.updated_at",
            Column::Start => "c.start_time",
            Column::End => "c.end_time",
            Column::Source => "c.source_id",
            Column::West => "c.west",
            Column::South => "c.south",
            Column::East => "c.east",
            Column::North => "c.north",
        }
    }

    fn bind_time(&self, qb: &mut QueryBuilder<Postgres>, value: Timestamp) {
        qb.push_bind(value);
    }

    fn push_like(
        &self,
        qb: &mut QueryBuilder<Postgres>,
        expr: &str,
        pattern: &LikePattern,
        match_case: bool,
    ) {
        let op = if match_case { " LIKE " } else { " ILIKE " };
        qb.push(expr).push(op);
        Postgres::bind_str(qb, &pattern.to_sql_like(Some('\\')));
    }

    fn push_anytext(&self, qb: &mut QueryBuilder<Postgres>, pattern: &LikePattern) {
        // lower(pattern) on the lower-cased text: what ILIKE computes (see the module doc).
        if self.narrow {
            qb.push("t.anytext LIKE lower(");
        } else {
            qb.push("c.key IN (SELECT t.key FROM collection_anytext t WHERE t.anytext LIKE lower(");
        }
        Postgres::bind_str(qb, &pattern.to_sql_like(Some('\\')));
        qb.push(if self.narrow { ")" } else { "))" });
    }

    /// The sub-select makes the tsquery an InitPlan, parsed once: in a generic (prepared) plan
    /// a bare `to_tsquery($n)` is re-evaluated on every row. Both halves of the OR are indexed
    /// (GIN on `search`, trigram GIN on `id`), so a rare word is a BitmapOr of two index
    /// probes, not a scan of every row.
    fn push_words(&self, qb: &mut QueryBuilder<Postgres>, words: &Words) {
        // `(…) IS TRUE` is the same test (NULL is not a match either way) but no index
        // condition: the planner applies it as a filter.
        let recheck = self.recheck.contains(&words.text);
        if recheck {
            qb.push("(");
        }
        qb.push("(");
        if !words.words.is_empty() {
            qb.push("c.search @@ (SELECT to_tsquery('simple', ");
            qb.push_bind(tsquery(&words.words));
            qb.push(")) OR ");
        }
        qb.push("c.id ILIKE ");
        qb.push_bind(format!("%{}%", like_escape(&clean(&words.text))));
        qb.push(")");
        if recheck {
            qb.push(" IS TRUE)");
        }
    }
}

/// Whether `f` tests nothing but AnyText (at least one AnyText LIKE, combined by non-empty
/// And/Or and Not): then the side table alone answers it.
fn anytext_only(f: &RecordFilter, depth: usize) -> bool {
    if depth > MAX_FILTER_DEPTH {
        return false;
    }
    match f {
        RecordFilter::AnyText(_) => true,
        RecordFilter::And(v) | RecordFilter::Or(v) => {
            !v.is_empty() && v.iter().all(|g| anytext_only(g, depth + 1))
        }
        RecordFilter::Not(g) => anytext_only(g, depth + 1),
        _ => false,
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn count(pool: &PgPool, mut qb: QueryBuilder<Postgres>) -> Result<u64> {
    let matched: i64 = qb
        .build()
        .fetch_one(pool)
        .await
        .map_err(db_err)?
        .try_get(0)
        .map_err(db_err)?;
    Ok(u64::try_from(matched).unwrap_or(0))
}

/// An AnyText-only filter in the default order (key order), in one statement over the side
/// table: the matching keys are read once (one trigram index scan, rechecks on the narrow
/// table), counted, and the page's keys taken from them; only the page's collections are
/// read from the wide table. The count row comes back even when the page is empty.
async fn search_anytext(
    pool: &PgPool,
    filter: &RecordFilter,
    offset: u64,
    limit: u32,
) -> Result<RecordPage> {
    let narrow = Pg::NARROW;
    if limit == 0 {
        let mut qb = QueryBuilder::new("SELECT count(*) FROM collection_anytext t WHERE ");
        push_filter(&narrow, &mut qb, filter)?;
        return Ok(RecordPage {
            matched: count(pool, qb).await?,
            collections: Vec::new(),
        });
    }
    let mut qb =
        QueryBuilder::new("WITH m AS MATERIALIZED (SELECT t.key FROM collection_anytext t WHERE ");
    push_filter(&narrow, &mut qb, filter)?;
    qb.push("), p AS (SELECT m.key FROM m ORDER BY m.key LIMIT ")
        .push_bind(i64::from(limit));
    qb.push(" OFFSET ").push_bind(to_i64(offset));
    qb.push(format!(
        ") SELECT n.matched, {COLLECTION_COLUMNS} \
         FROM (SELECT count(*) AS matched FROM m) n \
         LEFT JOIN (p JOIN collections c ON c.key = p.key) ON TRUE \
         ORDER BY c.key"
    ));
    let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
    let mut matched = 0;
    let mut collections = Vec::with_capacity(rows.len());
    for row in &rows {
        matched = row.try_get::<i64, _>("matched").map_err(db_err)?;
        if row
            .try_get::<Option<String>, _>("id")
            .map_err(db_err)?
            .is_some()
        {
            collections.push(collection_from_row(row)?);
        }
    }
    Ok(RecordPage {
        matched: u64::try_from(matched).unwrap_or(0),
        collections,
    })
}

pub(crate) async fn search_records(
    pool: &PgPool,
    filter: &RecordFilter,
    sort: &[SortKey],
    offset: u64,
    limit: u32,
) -> Result<RecordPage> {
    if sort.is_empty() && anytext_only(filter, 0) {
        return search_anytext(pool, filter, offset, limit).await;
    }
    let wide = Pg::WIDE;
    let mut qb = QueryBuilder::new("SELECT count(*) FROM collections c WHERE ");
    push_filter(&wide, &mut qb, filter)?;
    let matched = count(pool, qb).await?;
    if limit == 0 || offset >= matched {
        return Ok(RecordPage {
            matched,
            collections: Vec::new(),
        });
    }
    let collections = page(pool, COLLECTION_COLUMNS, filter, sort, offset, limit).await?;
    Ok(RecordPage {
        matched,
        collections,
    })
}

/// [`CollectionCatalog::find_collections`]: one statement, no count, no ISO record.
///
/// [`CollectionCatalog::find_collections`]: threddex_store::CollectionCatalog::find_collections
pub(crate) async fn find_collections(
    pool: &PgPool,
    filter: &RecordFilter,
    sort: &[SortKey],
    limit: u32,
) -> Result<Vec<Collection>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    if sort.is_empty() && anytext_only(filter, 0) {
        let mut found = search_anytext(pool, filter, 0, limit).await?.collections;
        for c in &mut found {
            c.iso_record = None;
        }
        return Ok(found);
    }
    page(pool, COLLECTION_COLUMNS_WITHOUT_ISO, filter, sort, 0, limit).await
}

/// The collections `filter` matches in `sort` order (ties by key), `columns` of each.
async fn page(
    pool: &PgPool,
    columns: &str,
    filter: &RecordFilter,
    sort: &[SortKey],
    offset: u64,
    limit: u32,
) -> Result<Vec<Collection>> {
    let wide = Pg::WIDE;
    let mut qb = QueryBuilder::new(format!("SELECT {columns} FROM collections c WHERE "));
    push_filter(&wide, &mut qb, filter)?;
    push_order_by(&wide, &mut qb, sort, Column::Key);
    qb.push(" LIMIT ").push_bind(i64::from(limit));
    qb.push(" OFFSET ").push_bind(to_i64(offset));
    let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
    rows.iter().map(collection_from_row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_a_prefix_phrase() {
        let w = |s: &[&str]| s.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        assert_eq!(tsquery(&w(&["n0q"])), "'n0q':*");
        assert_eq!(tsquery(&w(&["upper", "ocean"])), "'upper' <-> 'ocean':*");
        let mut qb = QueryBuilder::<Postgres>::new("");
        push_filter(&Pg::WIDE, &mut qb, &RecordFilter::free_text("a OR -_")).expect("compiles");
        assert_eq!(
            qb.into_string(),
            "((c.search @@ (SELECT to_tsquery('simple', $1)) OR c.id ILIKE $2) \
             OR NOT COALESCE((c.id ILIKE $3), FALSE))"
        );
    }

    #[test]
    fn recheck_terms_are_no_index_condition() {
        let recheck = ["frequent".to_owned()];
        let mut qb = QueryBuilder::<Postgres>::new("");
        push_filter(
            &Pg {
                narrow: false,
                recheck: &recheck,
            },
            &mut qb,
            &RecordFilter::free_text("rare Frequent"),
        )
        .expect("compiles");
        assert_eq!(
            qb.into_string(),
            "((c.search @@ (SELECT to_tsquery('simple', $1)) OR c.id ILIKE $2) \
             AND ((c.search @@ (SELECT to_tsquery('simple', $3)) OR c.id ILIKE $4) IS TRUE))"
        );
    }
}
