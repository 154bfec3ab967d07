//! Constraints: OGC Filter 1.1 (XML) and CQL text → [`RecordFilter`].
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

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use threddex_records::tree::Element;
use threddex_store::{
    BBox, CompareOp, LikePart, LikePattern, Literal, Queryable, RecordFilter, Timestamp,
};

use crate::error::CswError;
use crate::ns;

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

fn prop_or_err(name: &str) -> Result<Queryable, CswError> {
    queryable(name).ok_or_else(|| {
        CswError::invalid("Constraint", format!("unknown queryable {:?}", name.trim()))
    })
}

/// Parses an ISO 8601 date or date-time (UTC when no zone is given) or a bare year.
pub fn parse_time(s: &str) -> Option<Timestamp> {
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
        && let Ok(y) = t.parse::<i32>()
    {
        return NaiveDate::from_ymd_opt(y, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| Utc.from_utc_datetime(&d));
    }
    None
}

fn literal(prop: Queryable, value: &str) -> Result<Literal, CswError> {
    if prop.is_time() {
        parse_time(value).map(Literal::Time).ok_or_else(|| {
            CswError::invalid(
                "Constraint",
                format!("{value:?} is not an ISO 8601 date or time"),
            )
        })
    } else if prop == Queryable::BoundingBox {
        Err(CswError::invalid(
            "Constraint",
            "ows:BoundingBox is only tested with BBOX",
        ))
    } else {
        Ok(Literal::Text(value.to_owned()))
    }
}

/// A keyword search on `csw:AnyText`: records containing every word of `pattern` (which has
/// no multi-character wildcard), case-insensitively.
fn anytext_words(pattern: &LikePattern) -> Result<RecordFilter, CswError> {
    let f = RecordFilter::contains_all_words(Queryable::AnyText, pattern);
    if matches!(&f, RecordFilter::And(words) if words.len() > MAX_WORDS) {
        return Err(CswError::invalid(
            "Constraint",
            format!("csw:AnyText takes at most {MAX_WORDS} words"),
        ));
    }
    Ok(f)
}

/// A comparison, with `AnyText` equality as a keyword search (every word contained).
fn compare(
    prop: Queryable,
    op: CompareOp,
    value: &str,
    match_case: bool,
) -> Result<RecordFilter, CswError> {
    if prop == Queryable::AnyText {
        let mut text = LikePattern::default();
        text.parts.push(LikePart::Text(value.to_owned()));
        return match op {
            CompareOp::Eq => anytext_words(&text),
            CompareOp::Ne => Ok(RecordFilter::Not(Box::new(anytext_words(&text)?))),
            _ => Err(CswError::invalid(
                "Constraint",
                "csw:AnyText only supports equality and LIKE",
            )),
        };
    }
    Ok(RecordFilter::Compare {
        prop,
        op,
        value: literal(prop, value)?,
        match_case,
    })
}

/// How many more store tests than one a single protocol test became (a keyword search is one
/// test per word); they count towards [`MAX_NODES`].
fn extra_tests(f: &RecordFilter) -> usize {
    match f {
        RecordFilter::Not(g) => extra_tests(g),
        RecordFilter::And(v) => v.len().saturating_sub(1),
        _ => 0,
    }
}

fn like(prop: Queryable, pattern: LikePattern, match_case: bool) -> Result<RecordFilter, CswError> {
    if !prop.is_text() {
        return Err(CswError::invalid(
            "Constraint",
            format!("LIKE needs a text property, not {prop:?}"),
        ));
    }
    if prop == Queryable::AnyText && !pattern.has_any() {
        return anytext_words(&pattern);
    }
    Ok(RecordFilter::Like {
        prop,
        pattern,
        match_case: match_case && prop != Queryable::AnyText,
    })
}

// ----- OGC Filter 1.1 --------------------------------------------------------------------------

fn child_named<'a>(e: &'a Element, local: &str) -> Option<&'a Element> {
    e.elements().find(|c| c.ns == ns::OGC && c.local == local)
}

fn attr<'a>(e: &'a Element, name: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|a| a.ns.is_empty() && a.local == name)
        .map(|a| a.value.as_str())
}

fn single_char(e: &Element, names: &[&str], default: char) -> Result<char, CswError> {
    match names.iter().find_map(|n| attr(e, n)) {
        None => Ok(default),
        Some(v) => {
            let mut chars = v.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(c),
                _ => Err(CswError::invalid(
                    "Constraint",
                    format!(
                        "{} must be one character",
                        names.first().copied().unwrap_or("")
                    ),
                )),
            }
        }
    }
}

fn match_case(e: &Element) -> bool {
    !matches!(attr(e, "matchCase"), Some(v) if v.trim().eq_ignore_ascii_case("false") || v.trim() == "0")
}

fn property_name(e: &Element) -> Result<Queryable, CswError> {
    let p = child_named(e, "PropertyName").ok_or_else(|| CswError::missing("PropertyName"))?;
    prop_or_err(&p.text())
}

fn literal_text(e: &Element) -> Result<String, CswError> {
    child_named(e, "Literal")
        .map(Element::text)
        .ok_or_else(|| CswError::invalid("Constraint", format!("{} needs a Literal", e.local)))
}

fn corners(text: &str) -> Result<(f64, f64), CswError> {
    let nums: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .map(|v| v.parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| CswError::invalid("Constraint", "BBOX corners must be numbers"))?;
    match nums.as_slice() {
        [a, b] if a.is_finite() && b.is_finite() => Ok((*a, *b)),
        _ => Err(CswError::invalid(
            "Constraint",
            "BBOX corners must be two numbers each",
        )),
    }
}

/// Whether an `srsName` has latitude/longitude axis order.
fn lat_first(srs: &str) -> bool {
    let s = srs.trim().to_ascii_lowercase();
    (s.starts_with("urn:") && s.contains("epsg") && s.ends_with(":4326"))
        || s == "http://www.opengis.net/def/crs/epsg/0/4326"
}

/// A box from its corners (degrees), checked.
pub fn make_bbox(west: f64, south: f64, east: f64, north: f64) -> Result<BBox, CswError> {
    let ok = [west, south, east, north].iter().all(|v| v.is_finite())
        && (-180.0..=180.0).contains(&west)
        && (-180.0..=180.0).contains(&east)
        && (-90.0..=90.0).contains(&south)
        && (-90.0..=90.0).contains(&north)
        && south <= north;
    if !ok {
        return Err(CswError::invalid(
            "Constraint",
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

fn bbox(e: &Element) -> Result<RecordFilter, CswError> {
    if let Some(p) = child_named(e, "PropertyName")
        && prop_or_err(&p.text())? != Queryable::BoundingBox
    {
        return Err(CswError::invalid(
            "Constraint",
            "BBOX applies to ows:BoundingBox",
        ));
    }
    let env = e
        .elements()
        .find(|c| c.ns == ns::GML && c.local == "Envelope")
        .ok_or_else(|| CswError::invalid("Constraint", "BBOX needs a gml:Envelope"))?;
    let lower = env
        .elements()
        .find(|c| c.ns == ns::GML && c.local == "lowerCorner")
        .ok_or_else(|| CswError::invalid("Constraint", "gml:Envelope needs lowerCorner"))?;
    let upper = env
        .elements()
        .find(|c| c.ns == ns::GML && c.local == "upperCorner")
        .ok_or_else(|| CswError::invalid("Constraint", "gml:Envelope needs upperCorner"))?;
    let (a1, b1) = corners(&lower.text())?;
    let (a2, b2) = corners(&upper.text())?;
    let b = if attr(env, "srsName").is_some_and(lat_first) {
        make_bbox(b1, a1, b2, a2)?
    } else {
        make_bbox(a1, b1, a2, b2)?
    };
    Ok(RecordFilter::BBox(b))
}

/// Converts an `ogc:Filter` element (or an element holding one) into a filter.
pub fn ogc_filter(root: &Element) -> Result<RecordFilter, CswError> {
    let filter = if root.ns == ns::OGC && root.local == "Filter" {
        root
    } else {
        child_named(root, "Filter")
            .ok_or_else(|| CswError::invalid("Constraint", "no ogc:Filter"))?
    };
    let mut nodes = 0;
    let mut ops = filter.elements();
    let Some(op) = ops.next() else {
        return Ok(RecordFilter::All);
    };
    if ops.next().is_some() {
        return Err(CswError::invalid(
            "Constraint",
            "ogc:Filter takes one operator (combine several with ogc:And)",
        ));
    }
    operator(op, 0, &mut nodes)
}

fn operator(e: &Element, depth: usize, nodes: &mut usize) -> Result<RecordFilter, CswError> {
    *nodes += 1;
    if depth > MAX_DEPTH || *nodes > MAX_NODES {
        return Err(CswError::invalid(
            "Constraint",
            "filter too large or too deep",
        ));
    }
    if e.ns != ns::OGC {
        return Err(CswError::invalid(
            "Constraint",
            format!("unknown filter element {:?}", e.local),
        ));
    }
    let cmp = |op| compare(property_name(e)?, op, &literal_text(e)?, match_case(e));
    let leaf = match e.local.as_str() {
        "And" | "Or" => {
            let parts = e
                .elements()
                .map(|c| operator(c, depth + 1, nodes))
                .collect::<Result<Vec<_>, _>>()?;
            if parts.len() < 2 {
                return Err(CswError::invalid(
                    "Constraint",
                    format!("ogc:{} needs at least two operands", e.local),
                ));
            }
            return Ok(if e.local == "And" {
                RecordFilter::And(parts)
            } else {
                RecordFilter::Or(parts)
            });
        }
        "Not" => {
            let mut it = e.elements();
            return match (it.next(), it.next()) {
                (Some(c), None) => Ok(RecordFilter::Not(Box::new(operator(c, depth + 1, nodes)?))),
                _ => Err(CswError::invalid("Constraint", "ogc:Not takes one operand")),
            };
        }
        "PropertyIsEqualTo" => cmp(CompareOp::Eq),
        "PropertyIsNotEqualTo" => cmp(CompareOp::Ne),
        "PropertyIsLessThan" => cmp(CompareOp::Lt),
        "PropertyIsLessThanOrEqualTo" => cmp(CompareOp::Le),
        "PropertyIsGreaterThan" => cmp(CompareOp::Gt),
        "PropertyIsGreaterThanOrEqualTo" => cmp(CompareOp::Ge),
        "PropertyIsLike" => {
            let prop = property_name(e)?;
            let wild = single_char(e, &["wildCard"], '*')?;
            let single = single_char(e, &["singleChar"], '?')?;
            let escape = single_char(e, &["escapeChar", "escape"], '\\')?;
            if wild == single || wild == escape || single == escape {
                return Err(CswError::invalid(
                    "Constraint",
                    "wildCard, singleChar and escapeChar must differ",
                ));
            }
            let pattern = LikePattern::parse(&literal_text(e)?, wild, single, Some(escape));
            like(prop, pattern, match_case(e))
        }
        "PropertyIsBetween" => {
            let prop = property_name(e)?;
            let bound = |name: &str| -> Result<Literal, CswError> {
                let b = child_named(e, name).ok_or_else(|| {
                    CswError::invalid("Constraint", format!("PropertyIsBetween needs {name}"))
                })?;
                let text = child_named(b, "Literal").map_or_else(|| b.text(), Element::text);
                literal(prop, text.trim())
            };
            if prop == Queryable::AnyText {
                return Err(CswError::invalid("Constraint", "csw:AnyText has no order"));
            }
            Ok(RecordFilter::Between {
                prop,
                lower: bound("LowerBoundary")?,
                upper: bound("UpperBoundary")?,
            })
        }
        "PropertyIsNull" => Ok(RecordFilter::IsNull(property_name(e)?)),
        "BBOX" | "Intersects" => bbox(e),
        other => Err(CswError::invalid(
            "Constraint",
            format!("filter operator ogc:{other} is not supported"),
        )),
    }?;
    // A keyword search is one test per word: they count towards the size limit.
    *nodes += extra_tests(&leaf);
    if *nodes > MAX_NODES {
        return Err(CswError::invalid("Constraint", "filter too large"));
    }
    Ok(leaf)
}

// ----- CQL ------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

fn cql_err(msg: impl Into<String>) -> CswError {
    CswError::invalid("Constraint", msg)
}

fn tokenize(s: &str) -> Result<Vec<Tok>, CswError> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if out.len() > 4 * MAX_NODES {
            return Err(cql_err("CQL text too long"));
        }
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(cql_err("unterminated string in CQL")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            v.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            v.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            '<' | '>' | '=' | '!' => {
                let next = chars.get(i + 1).copied();
                let (op, n) = match (c, next) {
                    ('<', Some('=')) => ("<=", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('<', Some('>')) | ('!', Some('=')) => ("<>", 2),
                    ('<', _) => ("<", 1),
                    ('>', _) => (">", 1),
                    ('=', _) => ("=", 1),
                    _ => return Err(cql_err("unexpected '!' in CQL")),
                };
                out.push(Tok::Op(op));
                i += n;
            }
            c if c.is_alphanumeric() || "_:.-+".contains(c) => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|ch| ch.is_alphanumeric() || "_:.-+".contains(*ch))
                {
                    i += 1;
                }
                out.push(Tok::Word(
                    chars.get(start..i).unwrap_or_default().iter().collect(),
                ));
            }
            other => return Err(cql_err(format!("unexpected character {other:?} in CQL"))),
        }
    }
    Ok(out)
}

struct Cql {
    toks: Vec<Tok>,
    pos: usize,
    nodes: usize,
}

impl Cql {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn expect(&mut self, t: &Tok) -> Result<(), CswError> {
        match self.next() {
            Some(ref got) if got == t => Ok(()),
            got => Err(cql_err(format!("expected {t:?} in CQL, found {got:?}"))),
        }
    }

    fn count(&mut self) -> Result<(), CswError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(cql_err("CQL filter too large"));
        }
        Ok(())
    }

    fn or(&mut self, depth: usize) -> Result<RecordFilter, CswError> {
        if depth > MAX_DEPTH {
            return Err(cql_err("CQL filter nested too deeply"));
        }
        let mut parts = vec![self.and(depth)?];
        while self.keyword("OR") {
            self.pos += 1;
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(RecordFilter::All)
        } else {
            RecordFilter::Or(parts)
        })
    }

    fn and(&mut self, depth: usize) -> Result<RecordFilter, CswError> {
        let mut parts = vec![self.not(depth)?];
        while self.keyword("AND") {
            self.pos += 1;
            parts.push(self.not(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(RecordFilter::All)
        } else {
            RecordFilter::And(parts)
        })
    }

    fn not(&mut self, depth: usize) -> Result<RecordFilter, CswError> {
        self.count()?;
        if self.keyword("NOT") {
            self.pos += 1;
            if depth > MAX_DEPTH {
                return Err(cql_err("CQL filter nested too deeply"));
            }
            return Ok(RecordFilter::Not(Box::new(self.not(depth + 1)?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            return self.primary(depth);
        }
        // A keyword search is one test per word: they count towards the size limit.
        let test = self.primary(depth)?;
        for _ in 0..extra_tests(&test) {
            self.count()?;
        }
        Ok(test)
    }

    fn value(&mut self) -> Result<String, CswError> {
        match self.next() {
            Some(Tok::Str(s) | Tok::Word(s)) => Ok(s),
            got => Err(cql_err(format!("expected a value in CQL, found {got:?}"))),
        }
    }

    fn number(&mut self) -> Result<f64, CswError> {
        let v = self.value()?;
        v.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| cql_err(format!("{v:?} is not a number")))
    }

    fn primary(&mut self, depth: usize) -> Result<RecordFilter, CswError> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let f = self.or(depth + 1)?;
            self.expect(&Tok::RParen)?;
            return Ok(f);
        }
        if self.keyword("BBOX") {
            self.pos += 1;
            self.expect(&Tok::LParen)?;
            let prop = self.value()?;
            if prop_or_err(&prop)? != Queryable::BoundingBox {
                return Err(cql_err("BBOX applies to ows:BoundingBox"));
            }
            let mut n = [0.0; 4];
            for v in &mut n {
                self.expect(&Tok::Comma)?;
                *v = self.number()?;
            }
            if self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
                let _crs = self.value()?;
            }
            self.expect(&Tok::RParen)?;
            let [w, s, e, nn] = n;
            return Ok(RecordFilter::BBox(make_bbox(w, s, e, nn)?));
        }
        let name = match self.next() {
            Some(Tok::Word(w)) => w,
            got => {
                return Err(cql_err(format!(
                    "expected a property name in CQL, found {got:?}"
                )));
            }
        };
        let prop = prop_or_err(&name)?;
        let negated = if self.keyword("NOT") {
            self.pos += 1;
            true
        } else {
            false
        };
        let wrap = |f: RecordFilter| {
            if negated {
                RecordFilter::Not(Box::new(f))
            } else {
                f
            }
        };
        match self.next() {
            Some(Tok::Op(op)) if !negated => {
                let op = match op {
                    "=" => CompareOp::Eq,
                    "<>" => CompareOp::Ne,
                    "<" => CompareOp::Lt,
                    "<=" => CompareOp::Le,
                    ">" => CompareOp::Gt,
                    _ => CompareOp::Ge,
                };
                let v = self.value()?;
                compare(prop, op, &v, true)
            }
            Some(Tok::Word(w))
                if w.eq_ignore_ascii_case("LIKE") || w.eq_ignore_ascii_case("ILIKE") =>
            {
                let v = self.value()?;
                let pattern = LikePattern::parse(&v, '%', '_', Some('\\'));
                Ok(wrap(like(prop, pattern, false)?))
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("BETWEEN") => {
                let lo = self.value()?;
                if !self.keyword("AND") {
                    return Err(cql_err("BETWEEN needs AND"));
                }
                self.pos += 1;
                let hi = self.value()?;
                if prop == Queryable::AnyText {
                    return Err(cql_err("csw:AnyText has no order"));
                }
                Ok(wrap(RecordFilter::Between {
                    prop,
                    lower: literal(prop, &lo)?,
                    upper: literal(prop, &hi)?,
                }))
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("IS") && !negated => {
                let not = if self.keyword("NOT") {
                    self.pos += 1;
                    true
                } else {
                    false
                };
                if !self.keyword("NULL") {
                    return Err(cql_err("expected NULL after IS"));
                }
                self.pos += 1;
                let f = RecordFilter::IsNull(prop);
                Ok(if not {
                    RecordFilter::Not(Box::new(f))
                } else {
                    f
                })
            }
            got => Err(cql_err(format!("unexpected {got:?} after {name} in CQL"))),
        }
    }
}

/// Parses CQL text (`dc:title LIKE '%sea%' AND BBOX(ows:BoundingBox, -10, -5, 10, 5)`).
pub fn cql(text: &str) -> Result<RecordFilter, CswError> {
    if text.len() > 64 * 1024 {
        return Err(cql_err("CQL text too long"));
    }
    let toks = tokenize(text)?;
    if toks.is_empty() {
        return Ok(RecordFilter::All);
    }
    let mut p = Cql {
        toks,
        pos: 0,
        nodes: 0,
    };
    let f = p.or(0)?;
    if p.pos < p.toks.len() {
        return Err(cql_err(format!(
            "unexpected {:?} in CQL",
            p.toks.get(p.pos)
        )));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use threddex_records::tree::{TreeLimits, parse};

    fn filter(xml: &str) -> Result<RecordFilter, CswError> {
        let doc = format!(
            "<ogc:Filter xmlns:ogc=\"{}\" xmlns:gml=\"{}\">{xml}</ogc:Filter>",
            ns::OGC,
            ns::GML
        );
        ogc_filter(&parse(doc.as_bytes(), &TreeLimits::default()).unwrap())
    }

    #[test]
    fn like_with_custom_wildcards() {
        let f = filter(
            "<ogc:PropertyIsLike wildCard=\"*\" singleChar=\"#\" escapeChar=\"!\" matchCase=\"false\">\
             <ogc:PropertyName>dc:title</ogc:PropertyName><ogc:Literal>*50!*#*</ogc:Literal></ogc:PropertyIsLike>",
        )
        .unwrap();
        let RecordFilter::Like {
            prop,
            pattern,
            match_case,
        } = f
        else {
            panic!("{f:?}")
        };
        assert_eq!(prop, Queryable::Title);
        assert!(!match_case);
        assert_eq!(pattern.to_sql_like(Some('\\')), "%50*_%");
    }

    fn contains(s: &str) -> RecordFilter {
        RecordFilter::Like {
            prop: Queryable::AnyText,
            pattern: LikePattern::contains(s),
            match_case: false,
        }
    }

    fn like_xml(prop: &str, literal: &str) -> String {
        // What OWSLib's fes.PropertyIsLike writes (QGIS MetaSearch's keyword search).
        format!(
            "<ogc:PropertyIsLike wildCard=\"%\" singleChar=\"_\" escapeChar=\"\\\">\
             <ogc:PropertyName>{prop}</ogc:PropertyName><ogc:Literal>{literal}</ogc:Literal></ogc:PropertyIsLike>"
        )
    }

    #[test]
    fn anytext_without_wildcards_is_a_keyword_search() {
        let kw = |prop: &str, literal: &str| filter(&like_xml(prop, literal)).unwrap();
        assert_eq!(
            kw("csw:AnyText", " Sea\ttemperature "),
            RecordFilter::And(vec![contains("Sea"), contains("temperature")])
        );
        assert_eq!(kw("apiso:AnyText", "NEXRAD"), contains("NEXRAD"));
        assert_eq!(kw("AnyText", "50\\%"), contains("50%"));
        let RecordFilter::Like { pattern, .. } = kw("csw:AnyText", "s_a") else {
            panic!("one word")
        };
        assert_eq!(pattern.to_sql_like(Some('\\')), "%s_a%");
        assert_eq!(kw("csw:AnyText", "  "), RecordFilter::All);
        // With a multi-character wildcard the pattern is matched as written.
        let RecordFilter::Like { pattern, .. } = kw("csw:AnyText", "%sea temp%") else {
            panic!("a pattern")
        };
        assert_eq!(pattern.to_sql_like(Some('\\')), "%sea temp%");
        // Other properties keep LIKE as written (no wildcard: the whole value).
        let f = kw("dc:title", "Radar");
        let RecordFilter::Like {
            prop: Queryable::Title,
            pattern,
            match_case: true,
        } = f
        else {
            panic!("{f:?}")
        };
        assert_eq!(pattern.to_sql_like(Some('\\')), "Radar");
        // Equality is the same keyword search; inequality its negation.
        let eq = |op: &str, v: &str| {
            filter(&format!(
                "<ogc:{op}><ogc:PropertyName>csw:AnyText</ogc:PropertyName>\
                 <ogc:Literal>{v}</ogc:Literal></ogc:{op}>"
            ))
            .unwrap()
        };
        assert_eq!(
            eq("PropertyIsEqualTo", "sea ice"),
            RecordFilter::And(vec![contains("sea"), contains("ice")])
        );
        assert_eq!(
            eq("PropertyIsNotEqualTo", "ice"),
            RecordFilter::Not(Box::new(contains("ice")))
        );
        // CQL alike.
        assert_eq!(
            cql("csw:AnyText LIKE 'Sea temperature'").unwrap(),
            RecordFilter::And(vec![contains("Sea"), contains("temperature")])
        );
        assert_eq!(
            cql("NOT apiso:AnyText = 'wind'").unwrap(),
            RecordFilter::Not(Box::new(contains("wind")))
        );
        assert_eq!(
            cql("csw:AnyText NOT LIKE 'a b'").unwrap(),
            RecordFilter::Not(Box::new(RecordFilter::And(vec![
                contains("a"),
                contains("b")
            ])))
        );
        // Bounded: words per search, and words count towards the filter size.
        let words = |n: usize| {
            (0..n)
                .map(|i| format!("w{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert!(
            matches!(kw("csw:AnyText", &words(MAX_WORDS)), RecordFilter::And(v) if v.len() == MAX_WORDS)
        );
        assert!(filter(&like_xml("csw:AnyText", &words(MAX_WORDS + 1))).is_err());
        assert!(cql(&format!("csw:AnyText = '{}'", words(MAX_WORDS + 1))).is_err());
        let many = |n: usize| {
            format!(
                "<ogc:Or>{}</ogc:Or>",
                (0..n)
                    .map(|_| like_xml("csw:AnyText", &words(30)))
                    .collect::<String>()
            )
        };
        assert!(filter(&many(30)).is_ok());
        assert!(filter(&many(40)).is_err(), "40 x 30 tests > {MAX_NODES}");
        let many_cql = vec![format!("csw:AnyText LIKE '{}'", words(30)); 40].join(" OR ");
        assert!(cql(&many_cql).is_err());
    }

    #[test]
    fn logic_bbox_and_times() {
        let f = filter(
            "<ogc:And><ogc:BBOX><ogc:PropertyName>ows:BoundingBox</ogc:PropertyName>\
             <gml:Envelope srsName=\"urn:ogc:def:crs:EPSG::4326\"><gml:lowerCorner>-5 -10</gml:lowerCorner>\
             <gml:upperCorner>5 10</gml:upperCorner></gml:Envelope></ogc:BBOX>\
             <ogc:Not><ogc:PropertyIsGreaterThanOrEqualTo><ogc:PropertyName>apiso:TempExtent_begin</ogc:PropertyName>\
             <ogc:Literal>2024-01-02</ogc:Literal></ogc:PropertyIsGreaterThanOrEqualTo></ogc:Not></ogc:And>",
        )
        .unwrap();
        let RecordFilter::And(parts) = f else {
            panic!("{f:?}")
        };
        assert_eq!(
            parts.first(),
            Some(&RecordFilter::BBox(BBox {
                west: -10.0,
                south: -5.0,
                east: 10.0,
                north: 5.0
            }))
        );
        let Some(RecordFilter::Not(inner)) = parts.get(1) else {
            panic!("{parts:?}")
        };
        assert!(matches!(
            **inner,
            RecordFilter::Compare {
                prop: Queryable::TempBegin,
                op: CompareOp::Ge,
                value: Literal::Time(_),
                ..
            }
        ));
    }

    #[test]
    fn filter_errors() {
        for bad in [
            "<ogc:PropertyIsEqualTo><ogc:PropertyName>dc:nope</ogc:PropertyName><ogc:Literal>x</ogc:Literal></ogc:PropertyIsEqualTo>",
            "<ogc:PropertyIsEqualTo><ogc:PropertyName>dct:modified</ogc:PropertyName><ogc:Literal>soon</ogc:Literal></ogc:PropertyIsEqualTo>",
            "<ogc:And><ogc:PropertyIsNull><ogc:PropertyName>dc:title</ogc:PropertyName></ogc:PropertyIsNull></ogc:And>",
            "<ogc:Beyond/>",
            "<ogc:BBOX><gml:Envelope><gml:lowerCorner>0 0</gml:lowerCorner><gml:upperCorner>0 x</gml:upperCorner></gml:Envelope></ogc:BBOX>",
            "<ogc:BBOX><gml:Envelope><gml:lowerCorner>0 95</gml:lowerCorner><gml:upperCorner>1 96</gml:upperCorner></gml:Envelope></ogc:BBOX>",
        ] {
            let e = filter(bad).unwrap_err();
            assert_eq!(
                e.locator.as_deref().unwrap_or("Constraint"),
                "Constraint",
                "{bad}"
            );
        }
        let deep = format!("{}{}", "<ogc:Not>".repeat(40), "</ogc:Not>".repeat(40));
        assert!(filter(&deep).is_err());
    }

    #[test]
    fn cql_grammar() {
        let f = cql("csw:AnyText LIKE '%sea%' AND (dc:title = 'It''s' OR NOT dc:subject IS NULL) \
                     AND BBOX(ows:BoundingBox, -10, -5, 10, 5) AND apiso:TempExtent_begin >= '2024-01-01T00:00:00Z' \
                     AND dct:modified BETWEEN 2020 AND 2030")
        .unwrap();
        let RecordFilter::And(parts) = f else {
            panic!("{f:?}")
        };
        assert_eq!(parts.len(), 5);
        let Some(RecordFilter::Or(or)) = parts.get(1) else {
            panic!("{parts:?}")
        };
        assert_eq!(
            or.first(),
            Some(&RecordFilter::Compare {
                prop: Queryable::Title,
                op: CompareOp::Eq,
                value: Literal::Text("It's".into()),
                match_case: true
            })
        );
        for bad in [
            "dc:title",
            "dc:title = ",
            "dc:title = 'x' AND",
            "(dc:title = 'x'",
            "dc:title ~ 'x'",
            "nope = 'x'",
            "'unterminated",
            "BBOX(ows:BoundingBox, 1, 2, 3)",
        ] {
            assert!(cql(bad).is_err(), "{bad}");
        }
        assert_eq!(cql("  ").unwrap(), RecordFilter::All);
        let deep = format!("{}dc:title = 'x'{}", "(".repeat(100), ")".repeat(100));
        assert!(cql(&deep).is_err());
    }
}
