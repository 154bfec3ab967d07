//! The one compiler from the filter tree ([`RecordFilter`], [`SortKey`]) to SQL, shared by
//! every backend.
//!
//! A backend implements [`Dialect`]: its column expressions, how it binds values, and the
//! few tests whose SQL differs (LIKE, the any text, free-text words, the keyword list). The
//! compiler writes the boolean structure, comparisons, boxes and orderings once, into a
//! [`sqlx::QueryBuilder`]: only static fragments and placeholders make up the SQL text, every
//! value is bound.
//!
//! `Not` is two-valued: a test on a missing value (no time extent, no box) is false, so its
//! negation is true.

use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::{
    BBox, CompareOp, LikePattern, MAX_FILTER_DEPTH, Queryable, RecordFilter, Result, SortKey,
    SortProperty, StoreError, TextProperty, TimeProperty, Timestamp, Words,
};

/// The collection columns a filter reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// The row key (insertion order).
    Key,
    /// The collection ID.
    Id,
    /// The title.
    Title,
    /// The abstract (nullable).
    Summary,
    /// The record type: a constant text expression.
    Type,
    /// Last change of the row.
    Modified,
    /// Start of the time extent (nullable).
    Start,
    /// End of the time extent (nullable).
    End,
    /// The source ID.
    Source,
    /// Western longitude of the box (all four NULL: no box).
    West,
    /// Southern latitude of the box.
    South,
    /// Eastern longitude of the box.
    East,
    /// Northern latitude of the box.
    North,
}

/// The values the compiler binds (floats, integers, texts), for every database that encodes
/// them: the backends need not spell these out.
pub trait Binds: Database {
    /// Bind a float.
    fn bind_f64(qb: &mut QueryBuilder<Self>, value: f64);
    /// Bind an integer.
    fn bind_i64(qb: &mut QueryBuilder<Self>, value: i64);
    /// Bind a text, NUL (which neither backend keeps in text) replaced by U+FFFD.
    fn bind_str(qb: &mut QueryBuilder<Self>, value: &str);
}

impl<DB: Database> Binds for DB
where
    for<'q> f64: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    fn bind_f64(qb: &mut QueryBuilder<Self>, value: f64) {
        qb.push_bind(value);
    }

    fn bind_i64(qb: &mut QueryBuilder<Self>, value: i64) {
        qb.push_bind(value);
    }

    fn bind_str(qb: &mut QueryBuilder<Self>, value: &str) {
        qb.push_bind(value.replace('\0', "\u{FFFD}"));
    }
}

/// How a backend reads the keyword list of a collection.
#[derive(Clone, Copy, Debug)]
pub struct Keywords {
    /// The start of a test on any one keyword, `EXISTS (SELECT 1 FROM … WHERE ` (closed by
    /// the compiler).
    pub exists: &'static str,
    /// The expression of that keyword inside it.
    pub value: &'static str,
    /// The condition "no keywords".
    pub empty: &'static str,
}

/// What a backend contributes to the compiler.
pub trait Dialect {
    /// The sqlx database.
    type Db: Binds;

    /// How the keyword list is read.
    const KEYWORDS: Keywords;

    /// The SQL expression of a column.
    fn column(&self, column: Column) -> &'static str;

    /// Bind a time.
    fn bind_time(&self, qb: &mut QueryBuilder<Self::Db>, value: Timestamp);

    /// `expr LIKE pattern`, case-sensitively or not.
    fn push_like(
        &self,
        qb: &mut QueryBuilder<Self::Db>,
        expr: &str,
        pattern: &LikePattern,
        match_case: bool,
    );

    /// The any text (ID, title, abstract, keywords) matches `pattern`, case-insensitively.
    fn push_anytext(&self, qb: &mut QueryBuilder<Self::Db>, pattern: &LikePattern);

    /// A free-text term (see [`Words`]).
    fn push_words(&self, qb: &mut QueryBuilder<Self::Db>, words: &Words);
}

fn text_column(prop: TextProperty) -> Column {
    match prop {
        TextProperty::Identifier => Column::Id,
        TextProperty::Title => Column::Title,
        TextProperty::Abstract => Column::Summary,
        TextProperty::Type => Column::Type,
        // Tested through `Dialect::keywords`, never as a column.
        TextProperty::Subject => Column::Title,
    }
}

fn time_column(prop: TimeProperty) -> Column {
    match prop {
        TimeProperty::Modified => Column::Modified,
        TimeProperty::TempBegin => Column::Start,
        TimeProperty::TempEnd => Column::End,
    }
}

fn sort_column(prop: SortProperty) -> Column {
    match prop {
        SortProperty::Identifier => Column::Id,
        SortProperty::Title => Column::Title,
        SortProperty::Abstract => Column::Summary,
        SortProperty::Type => Column::Type,
        SortProperty::Modified => Column::Modified,
        SortProperty::TempBegin => Column::Start,
        SortProperty::TempEnd => Column::End,
    }
}

/// The SQL operator.
fn op_sql(op: CompareOp) -> &'static str {
    op.sql()
}

/// Append `filter` as a boolean SQL expression. [`StoreError::Invalid`] when it is nested
/// deeper than [`MAX_FILTER_DEPTH`].
pub fn push_filter<D: Dialect>(
    d: &D,
    qb: &mut QueryBuilder<D::Db>,
    filter: &RecordFilter,
) -> Result<()> {
    if filter.depth() > MAX_FILTER_DEPTH {
        return Err(StoreError::Invalid("filter nested too deeply".into()));
    }
    if filter.has_item_tests() {
        return Err(StoreError::Invalid(
            "a test on item properties cannot select collections".into(),
        ));
    }
    write(d, qb, filter);
    Ok(())
}

fn write<D: Dialect>(d: &D, qb: &mut QueryBuilder<D::Db>, f: &RecordFilter) {
    match f {
        RecordFilter::All => {
            qb.push("TRUE");
        }
        RecordFilter::And(v) if v.is_empty() => {
            qb.push("TRUE");
        }
        RecordFilter::Or(v) if v.is_empty() => {
            qb.push("FALSE");
        }
        RecordFilter::And(v) | RecordFilter::Or(v) => {
            let op = if matches!(f, RecordFilter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            qb.push("(");
            for (i, g) in v.iter().enumerate() {
                if i > 0 {
                    qb.push(op);
                }
                write(d, qb, g);
            }
            qb.push(")");
        }
        RecordFilter::Not(g) => {
            qb.push("NOT COALESCE(");
            write(d, qb, g);
            qb.push(", FALSE)");
        }
        RecordFilter::CompareText {
            prop,
            op,
            value,
            match_case,
        } => compare_text(d, qb, *prop, *op, value, *match_case),
        RecordFilter::CompareTime { prop, op, value } => {
            qb.push(d.column(time_column(*prop)))
                .push(" ")
                .push(op_sql(*op))
                .push(" ");
            d.bind_time(qb, *value);
        }
        RecordFilter::Like {
            prop: TextProperty::Subject,
            pattern,
            match_case,
        } => {
            let Keywords {
                exists, value: k, ..
            } = D::KEYWORDS;
            qb.push(exists);
            d.push_like(qb, k, pattern, *match_case);
            qb.push(")");
        }
        RecordFilter::Like {
            prop,
            pattern,
            match_case,
        } => d.push_like(qb, d.column(text_column(*prop)), pattern, *match_case),
        RecordFilter::AnyText(pattern) => d.push_anytext(qb, pattern),
        RecordFilter::BetweenText { prop, lower, upper } => {
            let Keywords {
                exists, value: k, ..
            } = D::KEYWORDS;
            if *prop == TextProperty::Subject {
                qb.push(exists).push(k);
            } else {
                qb.push("(").push(d.column(text_column(*prop)));
            }
            qb.push(" BETWEEN ");
            D::Db::bind_str(qb, lower);
            qb.push(" AND ");
            D::Db::bind_str(qb, upper);
            qb.push(")");
        }
        RecordFilter::BetweenTime { prop, lower, upper } => {
            qb.push("(")
                .push(d.column(time_column(*prop)))
                .push(" BETWEEN ");
            d.bind_time(qb, *lower);
            qb.push(" AND ");
            d.bind_time(qb, *upper);
            qb.push(")");
        }
        // Refused by `push_filter` before writing.
        RecordFilter::Item(_) => {
            qb.push("FALSE");
        }
        RecordFilter::BBox(b) => bbox(d, qb, b),
        RecordFilter::IsNull(prop) => is_null(d, qb, *prop),
        RecordFilter::Words(words) => d.push_words(qb, words),
        RecordFilter::Source(id) => {
            qb.push(d.column(Column::Source)).push(" = ");
            D::Db::bind_i64(qb, *id);
        }
        RecordFilter::Overlaps { start, end } => {
            qb.push("(TRUE");
            if let Some(start) = start {
                qb.push(" AND COALESCE(")
                    .push(d.column(Column::End))
                    .push(", ")
                    .push(d.column(Column::Start))
                    .push(") >= ");
                d.bind_time(qb, *start);
            }
            if let Some(end) = end {
                qb.push(" AND ").push(d.column(Column::Start)).push(" < ");
                d.bind_time(qb, *end);
            }
            qb.push(")");
        }
    }
}

fn compare_text<D: Dialect>(
    d: &D,
    qb: &mut QueryBuilder<D::Db>,
    prop: TextProperty,
    op: CompareOp,
    value: &str,
    match_case: bool,
) {
    let (lhs, op) = if prop == TextProperty::Subject {
        // Any one keyword; `<>` is "no keyword equals".
        let Keywords {
            exists, value: k, ..
        } = D::KEYWORDS;
        let (neg, op) = if op == CompareOp::Ne {
            ("NOT ", CompareOp::Eq)
        } else {
            ("", op)
        };
        qb.push(neg).push(exists);
        (k, op)
    } else {
        (d.column(text_column(prop)), op)
    };
    if match_case {
        qb.push(lhs).push(" ").push(op_sql(op)).push(" ");
        D::Db::bind_str(qb, value);
    } else {
        qb.push("lower(")
            .push(lhs)
            .push(") ")
            .push(op_sql(op))
            .push(" lower(");
        D::Db::bind_str(qb, value);
        qb.push(")");
    }
    if prop == TextProperty::Subject {
        qb.push(")");
    }
}

fn is_null<D: Dialect>(d: &D, qb: &mut QueryBuilder<D::Db>, prop: Queryable) {
    let null = |c: Column| format!("{} IS NULL", d.column(c));
    let cond = match prop {
        Queryable::Subject => D::KEYWORDS.empty.to_owned(),
        Queryable::BoundingBox => null(Column::West),
        // Always present.
        Queryable::AnyText | Queryable::Type | Queryable::Identifier | Queryable::Modified => {
            "FALSE".to_owned()
        }
        Queryable::Title => format!("{} = ''", d.column(Column::Title)),
        Queryable::Abstract => null(Column::Summary),
        Queryable::TempBegin => null(Column::Start),
        Queryable::TempEnd => null(Column::End),
    };
    qb.push(cond);
}

/// Antimeridian-aware intersection (touching edges count); records without a box never match,
/// nor does a box with a coordinate that is not finite.
fn bbox<D: Dialect>(d: &D, qb: &mut QueryBuilder<D::Db>, b: &BBox) {
    if ![b.west, b.south, b.east, b.north]
        .iter()
        .all(|v| v.is_finite())
    {
        qb.push("FALSE");
        return;
    }
    let (west, south, east, north) = (
        d.column(Column::West),
        d.column(Column::South),
        d.column(Column::East),
        d.column(Column::North),
    );
    qb.push(format!("({west} IS NOT NULL AND {south} <= "));
    D::Db::bind_f64(qb, b.north);
    qb.push(format!(" AND {north} >= "));
    D::Db::bind_f64(qb, b.south);
    qb.push(" AND (");
    // A stored box with west > east is [west, 180] plus [-180, east].
    for (i, (w, e)) in b.lon_intervals().into_iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        qb.push(format!("({west} <= {east} AND {west} <= "));
        D::Db::bind_f64(qb, e);
        qb.push(format!(" AND {east} >= "));
        D::Db::bind_f64(qb, w);
        qb.push(format!(") OR ({west} > {east} AND ({west} <= "));
        D::Db::bind_f64(qb, e);
        qb.push(format!(" OR {east} >= "));
        D::Db::bind_f64(qb, w);
        qb.push("))");
    }
    qb.push("))");
}

/// Most sort keys honoured; further ones are ignored.
pub const MAX_SORT_KEYS: usize = 8;

/// Append ` ORDER BY` the sort keys (missing values last both ways), ties in `tie` order.
pub fn push_order_by<D: Dialect>(
    d: &D,
    qb: &mut QueryBuilder<D::Db>,
    sort: &[SortKey],
    tie: Column,
) {
    qb.push(" ORDER BY ");
    for k in sort.iter().take(MAX_SORT_KEYS) {
        let dir = if k.descending { "DESC" } else { "ASC" };
        qb.push(d.column(sort_column(k.prop)))
            .push(" ")
            .push(dir)
            .push(" NULLS LAST, ");
    }
    qb.push(d.column(tie));
}
