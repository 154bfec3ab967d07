//! Catalogue search: [`RecordFilter`] → SQLite SQL with numbered, bound parameters.
//!
//! Only static fragments and `?n` placeholders make up the SQL text; every value (texts,
//! LIKE/GLOB patterns, times, coordinates) is bound. `csw:AnyText` LIKE patterns are answered
//! by the trigram FTS5 table `collections_anytext` (migration 0005) when they contain no
//! literal `%`/`_` (FTS5 only accelerates LIKE without an ESCAPE clause), else by a LIKE over
//! the concatenated text. FTS5 folds the case of every letter; SQLite's LIKE only of ASCII
//! letters, so case-insensitive LIKE tests spell out the case forms of other letters
//! ([`like_any_case`]).
//!
//! `Not` is two-valued: a test on a missing value (no time extent, no box) is false, so its
//! negation is true.

use std::fmt::Write as _;

use sqlx::{AssertSqlSafe, Row, SqlitePool};
use threddex_store::{
    BBox, CompareOp, LikePart, LikePattern, Literal, MAX_FILTER_DEPTH, Queryable, RecordFilter,
    RecordPage, Result, SortKey, StoreError,
};

use crate::convert::{db_err, ts_to_db};
use crate::read::{COLLECTION_COLUMNS, collection_from_row};

/// The concatenated text `csw:AnyText` matches (as indexed by `collections_anytext`).
const ANYTEXT: &str = "(id || ' ' || title || ' ' || coalesce(summary, '') || ' ' || keywords)";

#[derive(Clone)]
enum Bind {
    Text(String),
    Real(f64),
    Int(i64),
}

#[derive(Default)]
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    fn param(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("?{}", self.binds.len())
    }

    fn text_param(&mut self, s: &str) -> String {
        // SQLite's text functions stop at NUL; keep it as data like the Postgres backend.
        self.param(Bind::Text(s.replace('\0', "\u{FFFD}")))
    }

    fn query(&self) -> sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
        let mut q = sqlx::query(AssertSqlSafe(self.text.clone()));
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.as_str()),
                Bind::Real(v) => q.bind(*v),
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
        Queryable::Identifier => "id",
        Queryable::Title => "title",
        Queryable::Abstract => "summary",
        Queryable::Type => "'series'",
        Queryable::Modified => "updated_at",
        Queryable::TempBegin => "start_time",
        Queryable::TempEnd => "end_time",
        Queryable::AnyText | Queryable::Subject | Queryable::BoundingBox => {
            return Err(invalid(format!("{prop:?} is not a scalar property")));
        }
    })
}

fn literal(sql: &mut Sql, prop: Queryable, v: &Literal) -> Result<String> {
    match (prop.is_time(), v) {
        (true, Literal::Time(t)) => Ok(sql.param(Bind::Real(ts_to_db(*t)))),
        (false, Literal::Text(s)) if prop.is_text() => Ok(sql.text_param(s)),
        _ => Err(invalid(format!("{prop:?} cannot be compared with {v:?}"))),
    }
}

fn write_filter(sql: &mut Sql, f: &RecordFilter, depth: usize) -> Result<()> {
    if depth > MAX_FILTER_DEPTH {
        return Err(invalid("filter nested too deeply"));
    }
    match f {
        RecordFilter::All => sql.text.push('1'),
        RecordFilter::And(v) | RecordFilter::Or(v) if v.is_empty() => {
            sql.text.push(if matches!(f, RecordFilter::And(_)) {
                '1'
            } else {
                '0'
            });
        }
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
            sql.text.push_str("NOT coalesce(");
            write_filter(sql, g, depth + 1)?;
            sql.text.push_str(", 0)");
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
                    ("lower(k.value)", format!("lower({p})"))
                } else {
                    ("k.value", p)
                };
                let _ = write!(
                    sql.text,
                    "{neg}EXISTS (SELECT 1 FROM json_each(keywords) AS k WHERE {l} {} {r})",
                    op.sql()
                );
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
                let _ = write!(
                    sql.text,
                    "EXISTS (SELECT 1 FROM json_each(keywords) AS k WHERE k.value BETWEEN {lo} AND {hi})"
                );
            } else {
                let col = column(*prop)?;
                let _ = write!(sql.text, "({col} BETWEEN {lo} AND {hi})");
            }
        }
        RecordFilter::BBox(b) => write_bbox(sql, b),
        RecordFilter::IsNull(prop) => {
            let cond = match prop {
                Queryable::Subject => "json_array_length(keywords) = 0",
                Queryable::BoundingBox => "west IS NULL",
                Queryable::AnyText | Queryable::Type | Queryable::Identifier => "0",
                Queryable::Title => "title = ''",
                Queryable::Abstract => "summary IS NULL",
                Queryable::Modified => "0",
                Queryable::TempBegin => "start_time IS NULL",
                Queryable::TempEnd => "end_time IS NULL",
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
    if prop == Queryable::AnyText {
        write_anytext_like(sql, pattern);
        return Ok(());
    }
    if !prop.is_text() {
        return Err(invalid(format!("{prop:?} is not a text property")));
    }
    let test = |sql: &mut Sql, expr: &str| {
        if match_case {
            let p = sql.text_param(&pattern.to_glob());
            format!("{expr} GLOB {p}")
        } else {
            like_any_case(sql, expr, pattern, true)
        }
    };
    if prop == Queryable::Subject {
        let t = test(sql, "k.value");
        let _ = write!(
            sql.text,
            "EXISTS (SELECT 1 FROM json_each(keywords) AS k WHERE {t})"
        );
    } else {
        let t = test(sql, column(prop)?);
        sql.text.push_str(&t);
    }
    Ok(())
}

/// `csw:AnyText LIKE pattern` through the trigram index. Every literal run of 3 or more
/// characters becomes a phrase of an FTS5 `MATCH` (a case-insensitive substring test answered
/// from the index); `%run%` alone is exactly that, other patterns are then checked with LIKE
/// on the matching rows only. Patterns without such a run fall back to LIKE on every row.
fn write_anytext_like(sql: &mut Sql, pattern: &LikePattern) {
    let runs: Vec<&str> = pattern
        .parts
        .iter()
        .filter_map(|p| match p {
            LikePart::Text(t) if t.chars().count() >= 3 => Some(t.as_str()),
            _ => None,
        })
        .collect();
    if runs.is_empty() {
        if pattern.has_sql_wildcard_literals() {
            let t = like_any_case(sql, ANYTEXT, pattern, true);
            sql.text.push_str(&t);
        } else {
            let t = like_any_case(sql, "anytext", pattern, false);
            let _ = write!(
                sql.text,
                "key IN (SELECT rowid FROM collections_anytext WHERE {t})"
            );
        }
        return;
    }
    let query = match_query(&runs);
    let m = sql.param(Bind::Text(query));
    let _ = write!(
        sql.text,
        "(key IN (SELECT rowid FROM collections_anytext WHERE collections_anytext MATCH {m})"
    );
    let exact = matches!(
        pattern.parts.as_slice(),
        [LikePart::Any, LikePart::Text(_), LikePart::Any]
    );
    if !exact {
        let t = like_any_case(sql, ANYTEXT, pattern, true);
        let _ = write!(sql.text, " AND {t}");
    }
    sql.text.push(')');
}

/// Most case variants of one pattern in [`like_any_case`].
const MAX_CASE_VARIANTS: usize = 16;

/// A case-insensitive `expr LIKE pattern`. SQLite's LIKE folds ASCII letters only, so a
/// pattern with other cased letters (`é`, `Ü`) is tested in each combination of their cases
/// (`(expr LIKE ?1 OR expr LIKE ?2 …)`); past [`MAX_CASE_VARIANTS`] combinations, further such
/// letters match as written. `escape`: with `ESCAPE '\'` (needed when literals hold `%`/`_`).
fn like_any_case(sql: &mut Sql, expr: &str, pattern: &LikePattern, escape: bool) -> String {
    let variants = case_variants(pattern);
    let mut out = String::from("(");
    for (i, v) in variants.iter().enumerate() {
        if i > 0 {
            out.push_str(" OR ");
        }
        if escape {
            let p = sql.text_param(&v.to_sql_like(Some('\\')));
            let _ = write!(out, "{expr} LIKE {p} ESCAPE '\\'");
        } else {
            let p = sql.text_param(&v.to_sql_like(None));
            let _ = write!(out, "{expr} LIKE {p}");
        }
    }
    out.push(')');
    out
}

/// The spellings of a character that a case-insensitive match accepts beyond SQLite's ASCII
/// folding: itself, and its one-character lower and upper case.
fn case_forms(c: char) -> Vec<char> {
    let mut forms = vec![c];
    if c.is_ascii() {
        return forms;
    }
    fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
        let c = it.next()?;
        it.next().is_none().then_some(c)
    }
    let lower = single(c.to_lowercase());
    let upper = single(c.to_uppercase());
    for f in [lower, upper].into_iter().flatten() {
        if !forms.contains(&f) {
            forms.push(f);
        }
    }
    forms
}

/// `pattern` in every combination of the case forms of its non-ASCII letters (at most
/// [`MAX_CASE_VARIANTS`] patterns; letters past that stay as written).
fn case_variants(pattern: &LikePattern) -> Vec<LikePattern> {
    let mut out = vec![LikePattern::default()];
    for part in &pattern.parts {
        let LikePart::Text(t) = part else {
            for v in &mut out {
                v.parts.push(part.clone());
            }
            continue;
        };
        for c in t.chars() {
            let mut forms = case_forms(c);
            if out.len() * forms.len() > MAX_CASE_VARIANTS {
                forms.truncate(1);
            }
            out = out
                .into_iter()
                .flat_map(|v| {
                    forms.iter().map(move |f| {
                        let mut v = v.clone();
                        match v.parts.last_mut() {
                            Some(LikePart::Text(s)) => s.push(*f),
                            _ => v.parts.push(LikePart::Text(f.to_string())),
                        }
                        v
                    })
                })
                .collect();
        }
    }
    out
}

/// An FTS5 query requiring every run as a phrase (quotes doubled, NUL as U+FFFD).
fn match_query(runs: &[&str]) -> String {
    runs.iter()
        .map(|r| format!("\"{}\"", r.replace('\0', "\u{FFFD}").replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// When the whole filter is `csw:AnyText LIKE '%run%'` (run of 3+ characters), or an `And` of
/// such tests (a keyword search of several words), the FTS5 query that answers it exactly, so
/// matches can be counted in the index alone.
fn anytext_only(filter: &RecordFilter) -> Option<String> {
    fn run(f: &RecordFilter) -> Option<&str> {
        match f {
            RecordFilter::Like {
                prop: Queryable::AnyText,
                pattern,
                ..
            } => match pattern.parts.as_slice() {
                [LikePart::Any, LikePart::Text(t), LikePart::Any] if t.chars().count() >= 3 => {
                    Some(t.as_str())
                }
                _ => None,
            },
            _ => None,
        }
    }
    match filter {
        RecordFilter::And(v) if !v.is_empty() => v
            .iter()
            .map(run)
            .collect::<Option<Vec<_>>>()
            .map(|runs| match_query(&runs)),
        f => run(f).map(|t| match_query(&[t])),
    }
}

/// Antimeridian-aware intersection (touching edges count); records without a box never match.
fn write_bbox(sql: &mut Sql, b: &BBox) {
    if ![b.west, b.south, b.east, b.north]
        .iter()
        .all(|v| v.is_finite())
    {
        sql.text.push('0');
        return;
    }
    let north = sql.param(Bind::Real(b.north));
    let south = sql.param(Bind::Real(b.south));
    let _ = write!(
        sql.text,
        "(west IS NOT NULL AND south <= {north} AND north >= {south} AND ("
    );
    for (i, (w, e)) in b.lon_intervals().into_iter().enumerate() {
        if i > 0 {
            sql.text.push_str(" OR ");
        }
        let w = sql.param(Bind::Real(w));
        let e = sql.param(Bind::Real(e));
        let _ = write!(
            sql.text,
            "(west <= east AND west <= {e} AND east >= {w}) OR (west > east AND (west <= {e} OR east >= {w}))"
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
    s.push_str("key");
    Ok(s)
}

pub(crate) async fn search_records(
    pool: &SqlitePool,
    filter: &RecordFilter,
    sort: &[SortKey],
    offset: u64,
    limit: u32,
) -> Result<RecordPage> {
    let mut cond = Sql::default();
    write_filter(&mut cond, filter, 0)?;
    let order = order_by(sort)?;
    let count_sql = match anytext_only(filter) {
        Some(q) => Sql {
            text: "SELECT count(*) FROM collections_anytext WHERE collections_anytext MATCH ?1"
                .to_owned(),
            binds: vec![Bind::Text(q)],
        },
        None => Sql {
            text: format!("SELECT count(*) FROM collections WHERE {}", cond.text),
            binds: cond.binds.clone(),
        },
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
    // The page's keys first (the sorter then carries only keys and sort columns, never the
    // large JSON and record columns of every match), then those rows.
    let mut rows_sql = Sql {
        text: format!(
            "SELECT {COLLECTION_COLUMNS} FROM collections WHERE key IN \
             (SELECT key FROM collections WHERE {}{order}",
            cond.text
        ),
        binds: cond.binds,
    };
    let l = rows_sql.param(Bind::Int(i64::from(limit)));
    let o = rows_sql.param(Bind::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
    let _ = write!(rows_sql.text, " LIMIT {l} OFFSET {o}){order}");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_of(p: &[LikePattern]) -> Vec<String> {
        p.iter().map(|v| v.to_sql_like(Some('\\'))).collect()
    }

    #[test]
    fn case_variants_cover_non_ascii_letters_only() {
        let p = |s: &str| LikePattern::parse(s, '%', '_', Some('\\'));
        assert_eq!(sql_of(&case_variants(&p("%sst_x%"))), ["%sst_x%"]);
        assert_eq!(
            sql_of(&case_variants(&p("%é_Ü%"))),
            ["%é_Ü%", "%é_ü%", "%É_Ü%", "%É_ü%"]
        );
        // No case, or a case mapping of several characters: as written.
        assert_eq!(sql_of(&case_variants(&p("ß☃1"))), ["ß☃1"]);
        // Bounded.
        let many = case_variants(&p("%éééééééééé%"));
        assert_eq!(many.len(), MAX_CASE_VARIANTS);
        assert!(
            many.iter()
                .all(|v| v.to_sql_like(None).ends_with("éééééé%"))
        );
    }
}
