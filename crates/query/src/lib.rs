//! `threddex-query`: the query languages of threddex, each read into the store's filter tree
//! ([`RecordFilter`]), which one compiler turns into SQL for every backend
//! ([`threddex_store::sql`]).
//!
//! * [`Query::Filter`]: OGC Filter 1.1 XML ([`filter`]);
//! * [`Query::Text`]: CQL text, as OGC catalogues take it ([`text`]);
//! * [`Query::Cql2Text`], [`Query::Cql2Json`]: OGC CQL2 over STAC item queryables ([`cql2`]),
//!   tests on granules included ([`threddex_store::ItemTest`]);
//! * [`free_text`]: the web-search-like free text of `/collections?q=` (parsed in the store
//!   layer, [`RecordFilter::free_text`], so the JSON collection search compiles the same tree).
//!
//! [`search_collections`] runs a filter over a [`CollectionCatalog`]. The crate knows no
//! transport and no protocol envelope: the CSW crate decodes requests and encodes records
//! around it.
//!
//! Property names are matched by local name, any prefix (`dc:title`, `apiso:Title`, `Title`),
//! case-insensitively. Literals are typed by the property: times for `dct:modified` and the
//! `apiso:TempExtent_*` properties (ISO 8601 date or date-time, UTC when no zone), text
//! otherwise. `csw:AnyText` is always matched case-insensitively. Tested without a
//! multi-character wildcard (`PropertyIsLike` whose literal has no `wildCard`, as QGIS
//! MetaSearch sends a typed keyword, `PropertyIsEqualTo`, CQL `=` or `LIKE` without `%`), it is
//! a keyword search: the text is split at whitespace and a record matches when its any text
//! contains every word (single-character wildcards and escapes keep their meaning inside a
//! word; no word at all matches every record). With a multi-character wildcard, the pattern is
//! matched as written against the whole any text. Other properties always match LIKE patterns
//! as written.
//!
//! BBOX axis order: `gml:Envelope` corners are `x y` (longitude latitude) unless the
//! `srsName` is an EPSG:4326 URN or `http://www.opengis.net/def/crs/EPSG/0/4326`, whose axis
//! order is latitude longitude. CQL `BBOX(prop, minx, miny, maxx, maxy)` is longitude first.

#![forbid(unsafe_code)]

pub mod cql2;
pub mod filter;
mod syntax;
pub mod text;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use threddex_records::tree::Element;
use threddex_store::{
    BBox, CollectionCatalog, CompareOp, LikePart, LikePattern, Literal, Queryable, RecordFilter,
    RecordPage, SortKey, StoreError, Timestamp,
};

/// Namespace URIs of the XML languages.
pub mod ns {
    /// OGC Filter 1.1.
    pub const OGC: &str = "http://www.opengis.net/ogc";
    /// GML 3.1.1 (as used by Filter 1.1).
    pub const GML: &str = "http://www.opengis.net/gml";
}

/// Why a query was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A required part is missing (its name).
    #[error("missing {0}")]
    Missing(String),
    /// The query is malformed, unsupported, or too large.
    #[error("{0}")]
    Invalid(String),
}

impl QueryError {
    /// A malformed query.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

impl From<StoreError> for QueryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(m) => Self::Invalid(m),
            other => Self::Invalid(other.to_string()),
        }
    }
}

/// A query in one of the languages read here.
#[derive(Clone, Copy, Debug)]
pub enum Query<'a> {
    /// OGC Filter 1.1 XML: an `ogc:Filter` element, or an element holding one.
    Filter(&'a Element),
    /// CQL text (`dc:title LIKE '%sea%' AND BBOX(ows:BoundingBox, -10, -5, 10, 5)`).
    Text(&'a str),
    /// OGC CQL2 text over STAC item queryables ([`cql2`]).
    Cql2Text(&'a str),
    /// OGC CQL2 JSON over STAC item queryables ([`cql2`]).
    Cql2Json(&'a serde_json::Value),
}

impl Query<'_> {
    /// The filter the query stands for.
    pub fn parse(&self) -> Result<RecordFilter, QueryError> {
        match self {
            Query::Filter(e) => filter::parse(e),
            Query::Text(t) => text::parse(t),
            Query::Cql2Text(t) => cql2::parse_text(t),
            Query::Cql2Json(v) => cql2::parse_json(v),
        }
    }
}

/// The filter of a free-text search (`/collections?q=`; syntax: [`RecordFilter::free_text`]).
pub fn free_text(q: &str) -> RecordFilter {
    RecordFilter::free_text(q)
}

/// A sort key on a named property (as [`queryable`] reads names); refused for unknown names
/// and for properties records cannot be ordered by.
pub fn sort_key(name: &str, descending: bool) -> Result<SortKey, QueryError> {
    Ok(SortKey::new(prop_or_err(name)?, descending)?)
}

/// Collections matching `filter` in `sort` order (ties in insertion order), skipping `offset`,
/// at most `limit` (0: only the count), with the number of all matches.
pub async fn search_collections(
    catalog: &dyn CollectionCatalog,
    filter: &RecordFilter,
    sort: &[SortKey],
    offset: u64,
    limit: u32,
) -> Result<RecordPage, StoreError> {
    catalog.search_records(filter, sort, offset, limit).await
}

/// Most nodes in one filter.
pub const MAX_NODES: usize = 1_000;
/// Deepest nesting of logical operators.
pub const MAX_DEPTH: usize = 32;
/// Most words in one `csw:AnyText` keyword search.
pub const MAX_WORDS: usize = 32;

/// The queryable a property name denotes (prefix ignored, case-insensitive).
pub fn queryable(name: &str) -> Option<Queryable> {
    let local = name
        .trim()
        .rsplit(':')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    Some(match local.as_str() {
        "anytext" => Queryable::AnyText,
        "title" => Queryable::Title,
        "subject" | "keywords" => Queryable::Subject,
        "abstract" | "description" => Queryable::Abstract,
        "identifier" | "fileidentifier" => Queryable::Identifier,
        "modified" | "date" | "revisiondate" => Queryable::Modified,
        "type" => Queryable::Type,
        "boundingbox" | "envelope" => Queryable::BoundingBox,
        "tempextent_begin" => Queryable::TempBegin,
        "tempextent_end" => Queryable::TempEnd,
        _ => return None,
    })
}

/// The queryables offered, as advertised (name, what it is).
pub const QUERYABLES: &[&str] = &[
    "csw:AnyText",
    "dc:title",
    "dc:subject",
    "dct:abstract",
    "dc:identifier",
    "dct:modified",
    "dc:type",
    "ows:BoundingBox",
];

/// The ISO application profile queryables offered.
pub const APISO_QUERYABLES: &[&str] = &[
    "apiso:AnyText",
    "apiso:Title",
    "apiso:Subject",
    "apiso:Abstract",
    "apiso:Identifier",
    "apiso:Modified",
    "apiso:Type",
    "apiso:BoundingBox",
    "apiso:TempExtent_begin",
    "apiso:TempExtent_end",
];

pub(crate) fn prop_or_err(name: &str) -> Result<Queryable, QueryError> {
    queryable(name)
        .ok_or_else(|| QueryError::invalid(format!("unknown queryable {:?}", name.trim())))
}

/// Parses an ISO 8601 date or date-time (UTC when no zone is given) or a bare four-digit
/// year; years outside 0000..=9999 (which RFC 3339 cannot write) are refused.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    parse_time_any(s).filter(|t| (0..=9999).contains(&chrono::Datelike::year(t)))
}

fn parse_time_any(s: &str) -> Option<Timestamp> {
    let t = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    let bare = t.trim_end_matches('Z');
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(bare, f) {
            return Some(Utc.from_utc_datetime(&d));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(bare, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|d| Utc.from_utc_datetime(&d));
    }
    if t.len() == 4
        && t.bytes().all(|b| b.is_ascii_digit())
        && let Ok(y) = t.parse::<i32>()
    {
        return NaiveDate::from_ymd_opt(y, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| Utc.from_utc_datetime(&d));
    }
    None
}

pub(crate) fn literal(prop: Queryable, value: &str) -> Result<Literal, QueryError> {
    if prop.is_time() {
        parse_time(value).map(Literal::Time).ok_or_else(|| {
            QueryError::invalid(format!("{value:?} is not an ISO 8601 date or time"))
        })
    } else if prop == Queryable::BoundingBox {
        Err(QueryError::invalid(
            "ows:BoundingBox is only tested with BBOX",
        ))
    } else {
        Ok(Literal::Text(value.to_owned()))
    }
}

/// A keyword search on `csw:AnyText`: records containing every word of `pattern` (which has
/// no multi-character wildcard), case-insensitively.
pub(crate) fn anytext_words(pattern: &LikePattern) -> Result<RecordFilter, QueryError> {
    let f = RecordFilter::contains_all_words(pattern);
    if matches!(&f, RecordFilter::And(words) if words.len() > MAX_WORDS) {
        return Err(QueryError::invalid(format!(
            "csw:AnyText takes at most {MAX_WORDS} words"
        )));
    }
    Ok(f)
}

/// A comparison, with `AnyText` equality as a keyword search (every word contained).
pub(crate) fn compare(
    prop: Queryable,
    op: CompareOp,
    value: &str,
    match_case: bool,
) -> Result<RecordFilter, QueryError> {
    if prop == Queryable::AnyText {
        let mut text = LikePattern::default();
        text.parts.push(LikePart::Text(value.to_owned()));
        return match op {
            CompareOp::Eq => anytext_words(&text),
            CompareOp::Ne => Ok(RecordFilter::Not(Box::new(anytext_words(&text)?))),
            _ => Err(QueryError::invalid(
                "csw:AnyText only supports equality and LIKE",
            )),
        };
    }
    Ok(RecordFilter::compare(
        prop,
        op,
        literal(prop, value)?,
        match_case,
    )?)
}

/// How many more store tests than one a single protocol test became (a keyword search is one
/// test per word); they count towards [`MAX_NODES`].
pub(crate) fn extra_tests(f: &RecordFilter) -> usize {
    match f {
        RecordFilter::Not(g) => extra_tests(g),
        RecordFilter::And(v) => v.len().saturating_sub(1),
        _ => 0,
    }
}

pub(crate) fn like(
    prop: Queryable,
    pattern: LikePattern,
    match_case: bool,
) -> Result<RecordFilter, QueryError> {
    if !prop.is_text() {
        return Err(QueryError::invalid(format!(
            "LIKE needs a text property, not {prop:?}"
        )));
    }
    if prop == Queryable::AnyText && !pattern.has_any() {
        return anytext_words(&pattern);
    }
    Ok(RecordFilter::like(prop, pattern, match_case)?)
}

/// A box from its corners (degrees), checked.
pub fn make_bbox(west: f64, south: f64, east: f64, north: f64) -> Result<BBox, QueryError> {
    let ok = [west, south, east, north].iter().all(|v| v.is_finite())
        && (-180.0..=180.0).contains(&west)
        && (-180.0..=180.0).contains(&east)
        && (-90.0..=90.0).contains(&south)
        && (-90.0..=90.0).contains(&north)
        && south <= north;
    if !ok {
        return Err(QueryError::invalid(
            "BBOX must be within -180..180 / -90..90 with south <= north",
        ));
    }
    Ok(BBox {
        west,
        south,
        east,
        north,
    })
}

#[cfg(test)]
mod tests;
