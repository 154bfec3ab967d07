//! Catalogue search: [`RecordFilter`] → Postgres SQL with numbered, bound parameters.
//!
//! Only static fragments and `$n` placeholders make up the SQL text; every value (texts,
//! LIKE patterns, times, coordinates) is bound. `csw:AnyText` LIKE patterns are matched on the
//! narrow side table `collection_anytext` (key, lower-cased ID, title, abstract, keywords;
//! migration 0007) as `anytext LIKE lower(pattern)`, served by its `pg_trgm` GIN index: the
//! same result as `ILIKE` on the text (Postgres' ILIKE lower-cases both sides with the same
//! collation), without lower-casing every candidate, and index rechecks read small pages.
//! Other case-insensitive comparisons use `lower()`, case-insensitive LIKE is `ILIKE`,
//! case-sensitive LIKE is `LIKE` (escape character: backslash).
//!
//! A filter made only of AnyText tests (with And/Or/Not) in the default order is answered in
//! one statement over the side table alone: the matching keys are gathered once, counted, and
//! the page's keys picked from them before the page's collections are read. Any other filter
//! runs a count and a page statement over `collections`, AnyText tests being key sets
//! (`c.key IN (SELECT … FROM collection_anytext …)`).
//!
//! `Not` is two-valued: a test on a missing value (no time extent, no box) is false, so its
//! negation is true.

use std::fmt::Write as _;

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row};
use threddex_store::{
    BBox, CompareOp, LikePattern, Literal, MAX_FILTER_DEPTH, Queryable, RecordFilter, RecordPage,
    SortKey, StoreError, Timestamp,
};

use crate::convert::{COLLECTION_COLUMNS, clean, collection_from_row, db_err};

type Result<T> = std::result::Result<T, StoreError>;

enum Bind {
    Text(String),
    Float(f64),
    Ts(Timestamp),
    Int(i64),
}

#[derive(Default)]
struct Sql {
    text: String,
    binds: Vec<Bind>,
    /// AnyText tests are written against the side table row `t` (the statement reads
    /// `collection_anytext t`), not as key sets of `collections c`.
    narrow: bool,
}

impl Sql {
    fn param(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    fn text_param(&mut self, s: &str) -> String {
        self.param(Bind::Text(clean(s).into_owned()))
    }

    fn query(&self) -> Query<'_, Postgres, PgArguments> {
        let mut q = sqlx::query(AssertSqlSafe(self.text.clone()));
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.as_str()),
                Bind::Float(v) => q.bind(*v),
                Bind::Ts(v) => q.bind(*v),
                Bind::Int(v) => q.bind(*v),
            };
        }
        q
    }
}

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::Invalid(msg.into())
}

/// The column (or constant) holding a scalar property.
fn column(prop: Queryable) -> Result<&'static str> {
    Ok(match prop {
        Queryable::Identifier => "c.id",
        Queryable::Title => "c.title",
        Queryable::Abstract => "c.summary",
        Queryable::Type => "'series'::text",
        Queryable::Modified => "c.updated_at",
        Queryable::TempBegin => "c.start_time",
        Queryable::TempEnd => "c.end_time",
        Queryable::AnyText | Queryable::Subject | Queryable::BoundingBox => {
            return Err(invalid(format!("{prop:?} is not a scalar property")));
        }
    })
}

fn literal(sql: &mut Sql, prop: Queryable, v: &Literal) -> Result<String> {
    match (prop.is_time(), v) {
        (true, Literal::Time(t)) => Ok(sql.param(Bind::Ts(*t))),
        (false, Literal::Text(s)) if prop.is_text() => Ok(sql.text_param(s)),
        _ => Err(invalid(format!("{prop:?} cannot be compared with {v:?}"))),
    }
}

/// `EXISTS` over the keywords with a condition on `k.v`.
const KEYWORDS: &str = "EXISTS (SELECT 1 FROM jsonb_array_elements_text(c.keywords) AS k(v) WHERE";

fn write_filter(sql: &mut Sql, f: &RecordFilter, depth: usize) -> Result<()> {
    if depth > MAX_FILTER_DEPTH {
        return Err(invalid("filter nested too deeply"));
    }
    match f {
        RecordFilter::All => sql.text.push_str("TRUE"),
        RecordFilter::And(v) if v.is_empty() => sql.text.push_str("TRUE"),
        RecordFilter::Or(v) if v.is_empty() => sql.text.push_str("FALSE"),
        RecordFilter::And(v) | RecordFilter::Or(v) => {
            let op = if matches!(f, RecordFilter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            sql.text.push('(');
            for (i, g) in v.iter().enumerate() {
                if i > 0 {
                    sql.text.push_str(op);
                }
                write_filter(sql, g, depth + 1)?;
            }
            sql.text.push(')');
        }
        RecordFilter::Not(g) => {
            sql.text.push_str("NOT COALESCE(");
            write_filter(sql, g, depth + 1)?;
            sql.text.push_str(", FALSE)");
        }
        RecordFilter::Compare {
            prop,
            op,
            value,
            match_case,
        } => {
            let fold = !match_case && prop.is_text();
            if *prop == Queryable::Subject {
                let p = literal(sql, *prop, value)?;
                let (neg, op) = if *op == CompareOp::Ne {
                    ("NOT ", CompareOp::Eq)
                } else {
                    ("", *op)
                };
                let (l, r) = if fold {
                    ("lower(k.v)", format!("lower({p})"))
                } else {
                    ("k.v", p)
                };
                let _ = write!(sql.text, "{neg}{KEYWORDS} {l} {} {r})", op.sql());
            } else {
                let col = column(*prop)?;
                let p = literal(sql, *prop, value)?;
                if fold {
                    let _ = write!(sql.text, "lower({col}) {} lower({p})", op.sql());
                } else {
                    let _ = write!(sql.text, "{col} {} {p}", op.sql());
                }
            }
        }
        RecordFilter::Like {
            prop,
            pattern,
            match_case,
        } => write_like(sql, *prop, pattern, *match_case)?,
        RecordFilter::Between { prop, lower, upper } => {
            let lo = literal(sql, *prop, lower)?;
            let hi = literal(sql, *prop, upper)?;
            if *prop == Queryable::Subject {
                let _ = write!(sql.text, "{KEYWORDS} k.v BETWEEN {lo} AND {hi})");
            } else {
                let col = column(*prop)?;
                let _ = write!(sql.text, "({col} BETWEEN {lo} AND {hi})");
            }
        }
        RecordFilter::BBox(b) => write_bbox(sql, b),
        RecordFilter::IsNull(prop) => {
            let cond = match prop {
                Queryable::Subject => "jsonb_array_length(c.keywords) = 0",
                Queryable::BoundingBox => "c.west IS NULL",
                Queryable::AnyText
                | Queryable::Type
                | Queryable::Identifier
                | Queryable::Modified => "FALSE",
                Queryable::Title => "c.title = ''",
                Queryable::Abstract => "c.summary IS NULL",
                Queryable::TempBegin => "c.start_time IS NULL",
                Queryable::TempEnd => "c.end_time IS NULL",
            };
            sql.text.push_str(cond);
        }
    }
    Ok(())
}

fn write_like(
    sql: &mut Sql,
    prop: Queryable,
    pattern: &LikePattern,
    match_case: bool,
) -> Result<()> {
    let like = pattern.to_sql_like(Some('\\'));
    if prop == Queryable::AnyText {
        // lower(pattern) on the lower-cased text: what ILIKE computes (see the module doc).
        let p = sql.text_param(&like);
        if sql.narrow {
            let _ = write!(sql.text, "t.anytext LIKE lower({p})");
        } else {
            let _ = write!(
                sql.text,
                "c.key IN (SELECT t.key FROM collection_anytext t \
                 WHERE t.anytext LIKE lower({p}))"
            );
        }
        return Ok(());
    }
    if !prop.is_text() {
        return Err(invalid(format!("{prop:?} is not a text property")));
    }
    let op = if match_case { "LIKE" } else { "ILIKE" };
    let p = sql.text_param(&like);
    if prop == Queryable::Subject {
        let _ = write!(sql.text, "{KEYWORDS} k.v {op} {p})");
    } else {
        let col = column(prop)?;
        let _ = write!(sql.text, "{col} {op} {p}");
    }
    Ok(())
}

/// Antimeridian-aware intersection (touching edges count); records without a box never match.
fn write_bbox(sql: &mut Sql, b: &BBox) {
    if ![b.west, b.south, b.east, b.north]
        .iter()
        .all(|v| v.is_finite())
    {
        sql.text.push_str("FALSE");
        return;
    }
    let north = sql.param(Bind::Float(b.north));
    let south = sql.param(Bind::Float(b.south));
    let _ = write!(
        sql.text,
        "(c.west IS NOT NULL AND c.south <= {north} AND c.north >= {south} AND ("
    );
    for (i, (w, e)) in b.lon_intervals().into_iter().enumerate() {
        if i > 0 {
            sql.text.push_str(" OR ");
        }
        let w = sql.param(Bind::Float(w));
        let e = sql.param(Bind::Float(e));
        let _ = write!(
            sql.text,
            "(c.west <= c.east AND c.west <= {e} AND c.east >= {w}) \
             OR (c.west > c.east AND (c.west <= {e} OR c.east >= {w}))"
        );
    }
    sql.text.push_str("))");
}

fn order_by(sort: &[SortKey]) -> Result<String> {
    let mut s = String::from(" ORDER BY ");
    for k in sort.iter().take(8) {
        let col = match k.prop {
            Queryable::Subject | Queryable::AnyText | Queryable::BoundingBox => {
                return Err(invalid(format!("cannot sort on {:?}", k.prop)));
            }
            p => column(p)?,
        };
        let dir = if k.descending { "DESC" } else { "ASC" };
        let _ = write!(s, "{col} {dir} NULLS LAST, ");
    }
    // Ties (and the default order): insertion order, which needs no sort of the matches.
    s.push_str("c.key");
    Ok(s)
}

/// Whether `f` tests nothing but AnyText (at least one AnyText LIKE, combined by non-empty
/// And/Or and Not): then the side table alone answers it.
fn anytext_only(f: &RecordFilter, depth: usize) -> bool {
    if depth > MAX_FILTER_DEPTH {
        return false;
    }
    match f {
        RecordFilter::Like { prop, .. } => *prop == Queryable::AnyText,
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
    let mut sql = Sql {
        narrow: true,
        ..Sql::default()
    };
    write_filter(&mut sql, filter, 0)?;
    let cond = std::mem::take(&mut sql.text);
    if limit == 0 {
        sql.text = format!("SELECT count(*) FROM collection_anytext t WHERE {cond}");
        let matched: i64 = sql
            .query()
            .fetch_one(pool)
            .await
            .map_err(db_err)?
            .try_get(0)
            .map_err(db_err)?;
        return Ok(RecordPage {
            matched: u64::try_from(matched).unwrap_or(0),
            collections: Vec::new(),
        });
    }
    let l = sql.param(Bind::Int(i64::from(limit)));
    let o = sql.param(Bind::Int(to_i64(offset)));
    sql.text = format!(
        "WITH m AS MATERIALIZED (SELECT t.key FROM collection_anytext t WHERE {cond}), \
         p AS (SELECT m.key FROM m ORDER BY m.key LIMIT {l} OFFSET {o}) \
         SELECT n.matched, {COLLECTION_COLUMNS} \
         FROM (SELECT count(*) AS matched FROM m) n \
         LEFT JOIN (p JOIN collections c ON c.key = p.key) ON TRUE \
         ORDER BY c.key"
    );
    let rows = sql.query().fetch_all(pool).await.map_err(db_err)?;
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
    let mut cond = Sql::default();
    write_filter(&mut cond, filter, 0)?;
    let order = order_by(sort)?;
    let count_sql = Sql {
        text: format!("SELECT count(*) FROM collections c WHERE {}", cond.text),
        binds: std::mem::take(&mut cond.binds),
        narrow: false,
    };
    let matched: i64 = count_sql
        .query()
        .fetch_one(pool)
        .await
        .map_err(db_err)?
        .try_get(0)
        .map_err(db_err)?;
    let matched = u64::try_from(matched).unwrap_or(0);
    if limit == 0 || offset >= matched {
        return Ok(RecordPage {
            matched,
            collections: Vec::new(),
        });
    }
    let mut rows_sql = Sql {
        text: format!(
            "SELECT {COLLECTION_COLUMNS} FROM collections c WHERE {}{order}",
            cond.text
        ),
        binds: count_sql.binds,
        narrow: false,
    };
    let l = rows_sql.param(Bind::Int(i64::from(limit)));
    let o = rows_sql.param(Bind::Int(to_i64(offset)));
    let _ = write!(rows_sql.text, " LIMIT {l} OFFSET {o}");
    let rows = rows_sql.query().fetch_all(pool).await.map_err(db_err)?;
    let collections = rows
        .iter()
        .map(collection_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordPage {
        matched,
        collections,
    })
}
