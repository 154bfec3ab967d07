//! Collection searches on SQLite: the [`Dialect`] of the shared compiler
//! ([`threddex_store::sql`]) and the statements around it.
//!
//! * Free-text words are answered by the FTS5 table `collections_fts` (title, abstract,
//!   keywords; `unicode61` tokens, diacritics removed) as a prefix phrase `"w1 w2" *`; the ID
//!   part is `instr(lower(id), text)`.
//! * `csw:AnyText` LIKE patterns are answered by the trigram FTS5 table `collections_anytext`
//!   (migration 0005) when they contain no literal `%`/`_` (FTS5 only accelerates LIKE without
//!   an ESCAPE clause), else by a LIKE over the concatenated text.
//! * FTS5 folds the case of every letter, SQLite's LIKE only of ASCII letters, so
//!   case-insensitive LIKE tests spell out the case forms of other letters
//!   ([`like_any_case`]); case-sensitive LIKE is `GLOB`.

use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use threddex_store::sql::{Binds, Column, Dialect, Keywords, push_filter, push_order_by};
use threddex_store::{
    Collection, CollectionQuery, LikePart, LikePattern, RecordFilter, RecordPage, Result, SortKey,
    Timestamp, Words,
};

use crate::convert::{db_err, ts_to_db};
use crate::read::{COLLECTION_COLUMNS, collection_from_row};

/// The concatenated text `csw:AnyText` matches (as indexed by `collections_anytext`).
const ANYTEXT: &str = "(id || ' ' || title || ' ' || coalesce(summary, '') || ' ' || keywords)";

/// The SQLite dialect: bare column names of `collections`.
struct Lite;

/// SQLite's text functions stop at NUL: keep it as data (as [`Binds::bind_str`] does).
fn text(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

impl Dialect for Lite {
    type Db = Sqlite;

    const KEYWORDS: Keywords = Keywords {
        exists: "EXISTS (SELECT 1 FROM json_each(keywords) AS k WHERE ",
        value: "k.value",
        empty: "json_array_length(keywords) = 0",
    };

    fn column(&self, column: Column) -> &'static str {
        match column {
            Column::Key => "key",
            Column::Id => "id",
            Column::Title => "title",
            Column::Summary => "summary",
            Column::Type => "'series'",
            Column::Modified => "updated_at",
            Column::Start => "start_time",
            Column::End => "end_time",
            Column::Source => "source_id",
            Column::West => "west",
            Column::South => "south",
            Column::East => "east",
            Column::North => "north",
        }
    }

    fn bind_time(&self, qb: &mut QueryBuilder<Sqlite>, value: Timestamp) {
        qb.push_bind(ts_to_db(value));
    }

    fn push_like(
        &self,
        qb: &mut QueryBuilder<Sqlite>,
        expr: &str,
        pattern: &LikePattern,
        match_case: bool,
    ) {
        if match_case {
            qb.push(expr).push(" GLOB ");
            Sqlite::bind_str(qb, &pattern.to_glob());
        } else {
            like_any_case(qb, expr, pattern, true);
        }
    }

    /// Through the trigram index: every literal run of 3 or more characters becomes a phrase
    /// of an FTS5 `MATCH` (a case-insensitive substring test answered from the index);
    /// `%run%` alone is exactly that, other patterns are then checked with LIKE on the
    /// matching rows only. Patterns without such a run fall back to LIKE on every row.
    fn push_anytext(&self, qb: &mut QueryBuilder<Sqlite>, pattern: &LikePattern) {
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
                like_any_case(qb, ANYTEXT, pattern, true);
            } else {
                qb.push("key IN (SELECT rowid FROM collections_anytext WHERE ");
                like_any_case(qb, "anytext", pattern, false);
                qb.push(")");
            }
            return;
        }
        qb.push("(key IN (SELECT rowid FROM collections_anytext WHERE collections_anytext MATCH ");
        qb.push_bind(match_query(&runs));
        qb.push(")");
        let exact = matches!(
            pattern.parts.as_slice(),
            [LikePart::Any, LikePart::Text(_), LikePart::Any]
        );
        if !exact {
            qb.push(" AND ");
            like_any_case(qb, ANYTEXT, pattern, true);
        }
        qb.push(")");
    }

    fn push_words(&self, qb: &mut QueryBuilder<Sqlite>, words: &Words) {
        qb.push("(");
        if !words.words.is_empty() {
            // Words are letters and digits only: nothing in them is FTS5 syntax.
            qb.push("key IN (SELECT rowid FROM collections_fts WHERE collections_fts MATCH ");
            qb.push_bind(format!("\"{}\" *", words.words.join(" ")));
            qb.push(") OR ");
        }
        qb.push("instr(lower(id), ");
        Sqlite::bind_str(qb, &words.text);
        qb.push(") > 0)");
    }
}

/// Most case variants of one pattern in [`like_any_case`].
const MAX_CASE_VARIANTS: usize = 16;

/// A case-insensitive `expr LIKE pattern`. SQLite's LIKE folds ASCII letters only, so a
/// pattern with other cased letters (`é`, `Ü`) is tested in each combination of their cases
/// (`(expr LIKE ? OR expr LIKE ? …)`); past [`MAX_CASE_VARIANTS`] combinations, further such
/// letters match as written. `escape`: with `ESCAPE '\'` (needed when literals hold `%`/`_`).
fn like_any_case(qb: &mut QueryBuilder<Sqlite>, expr: &str, pattern: &LikePattern, escape: bool) {
    qb.push("(");
    for (i, v) in case_variants(pattern).iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        qb.push(expr).push(" LIKE ");
        if escape {
            Sqlite::bind_str(qb, &v.to_sql_like(Some('\\')));
            qb.push(" ESCAPE '\\'");
        } else {
            Sqlite::bind_str(qb, &v.to_sql_like(None));
        }
    }
    qb.push(")");
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
        .map(|r| format!("\"{}\"", text(r).replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// When the whole filter is `csw:AnyText LIKE '%run%'` (run of 3+ characters), or an `And` of
/// such tests (a keyword search of several words), the FTS5 query that answers it exactly, so
/// matches can be counted in the index alone.
fn anytext_only(filter: &RecordFilter) -> Option<String> {
    fn run(f: &RecordFilter) -> Option<&str> {
        match f {
            RecordFilter::AnyText(pattern) => match pattern.parts.as_slice() {
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

pub(crate) async fn search_records(
    pool: &SqlitePool,
    filter: &RecordFilter,
    sort: &[SortKey],
    offset: u64,
    limit: u32,
) -> Result<RecordPage> {
    // The page's keys first (the sorter then carries only keys and sort columns, never the
    // large JSON and record columns of every match), then those rows.
    let mut rows = QueryBuilder::new(format!(
        "SELECT {COLLECTION_COLUMNS} FROM collections WHERE key IN \
         (SELECT key FROM collections WHERE "
    ));
    push_filter(&Lite, &mut rows, filter)?;
    let mut count = match anytext_only(filter) {
        Some(q) => {
            let mut count = QueryBuilder::new(
                "SELECT count(*) FROM collections_anytext WHERE collections_anytext MATCH ",
            );
            count.push_bind(q);
            count
        }
        None => {
            let mut count = QueryBuilder::new("SELECT count(*) FROM collections WHERE ");
            push_filter(&Lite, &mut count, filter)?;
            count
        }
    };
    let matched: i64 = count
        .build()
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
    push_order_by(&Lite, &mut rows, sort, Column::Key);
    rows.push(" LIMIT ").push_bind(i64::from(limit));
    rows.push(" OFFSET ")
        .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
    rows.push(")");
    push_order_by(&Lite, &mut rows, sort, Column::Key);
    let rows = rows.build().fetch_all(pool).await.map_err(db_err)?;
    let collections = rows
        .iter()
        .map(collection_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordPage {
        matched,
        collections,
    })
}

/// Collections matching a query (compiled from [`CollectionQuery::filter`]), in ID order.
pub(crate) async fn list_collections(
    pool: &SqlitePool,
    q: &CollectionQuery,
) -> Result<Vec<Collection>> {
    let mut sql = QueryBuilder::new(format!(
        "SELECT {COLLECTION_COLUMNS} FROM collections WHERE "
    ));
    push_filter(&Lite, &mut sql, &q.filter())?;
    // 0: no limit.
    let limit = if q.limit == 0 { -1 } else { i64::from(q.limit) };
    sql.push(" ORDER BY id LIMIT ").push_bind(limit);
    let rows = sql.build().fetch_all(pool).await.map_err(db_err)?;
    rows.iter().map(collection_from_row).collect()
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

    #[test]
    fn words_are_a_prefix_phrase_or_an_id_substring() {
        let sql = |text: &str| {
            let mut qb = QueryBuilder::<Sqlite>::new("");
            push_filter(&Lite, &mut qb, &RecordFilter::free_text(text)).expect("compiles");
            qb.into_string()
        };
        assert_eq!(
            sql("sea-ice"),
            "(key IN (SELECT rowid FROM collections_fts WHERE collections_fts MATCH ?) \
             OR instr(lower(id), ?) > 0)"
        );
        assert_eq!(sql("%"), "(instr(lower(id), ?) > 0)");
        assert!(sql("a -b").contains(" AND NOT COALESCE((key IN"));
    }
}
