//! OGC Filter 1.1 (XML) → [`RecordFilter`]: comparisons, `PropertyIsLike` (with the filter's
//! own wildcard, single-character and escape characters), `PropertyIsBetween`,
//! `PropertyIsNull`, `BBOX` / `Intersects` on a `gml:Envelope`, and `And` / `Or` / `Not`,
//! bounded in size ([`MAX_NODES`]) and depth ([`MAX_DEPTH`]).

use threddex_records::tree::Element;
use threddex_store::{CompareOp, LikePattern, Literal, Queryable, RecordFilter};

use crate::{
    MAX_DEPTH, MAX_NODES, QueryError, compare, extra_tests, like, literal, make_bbox, ns,
    prop_or_err,
};

fn child_named<'a>(e: &'a Element, local: &str) -> Option<&'a Element> {
    e.elements().find(|c| c.ns == ns::OGC && c.local == local)
}

fn attr<'a>(e: &'a Element, name: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|a| a.ns.is_empty() && a.local == name)
        .map(|a| a.value.as_str())
}

fn single_char(e: &Element, names: &[&str], default: char) -> Result<char, QueryError> {
    match names.iter().find_map(|n| attr(e, n)) {
        None => Ok(default),
        Some(v) => {
            let mut chars = v.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(c),
                _ => Err(QueryError::invalid(format!(
                    "{} must be one character",
                    names.first().copied().unwrap_or("")
                ))),
            }
        }
    }
}

fn match_case(e: &Element) -> bool {
    !matches!(attr(e, "matchCase"), Some(v) if v.trim().eq_ignore_ascii_case("false") || v.trim() == "0")
}

fn property_name(e: &Element) -> Result<Queryable, QueryError> {
    let p =
        child_named(e, "PropertyName").ok_or_else(|| QueryError::Missing("PropertyName".into()))?;
    prop_or_err(&p.text())
}

fn literal_text(e: &Element) -> Result<String, QueryError> {
    child_named(e, "Literal")
        .map(Element::text)
        .ok_or_else(|| QueryError::invalid(format!("{} needs a Literal", e.local)))
}

fn corners(text: &str) -> Result<(f64, f64), QueryError> {
    let nums: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .map(|v| v.parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| QueryError::invalid("BBOX corners must be numbers"))?;
    match nums.as_slice() {
        [a, b] if a.is_finite() && b.is_finite() => Ok((*a, *b)),
        _ => Err(QueryError::invalid("BBOX corners must be two numbers each")),
    }
}

/// Whether an `srsName` has latitude/longitude axis order.
fn lat_first(srs: &str) -> bool {
    let s = srs.trim().to_ascii_lowercase();
    (s.starts_with("urn:") && s.contains("epsg") && s.ends_with(":4326"))
        || s == "http://www.opengis.net/def/crs/epsg/0/4326"
}

fn bbox(e: &Element) -> Result<RecordFilter, QueryError> {
    if let Some(p) = child_named(e, "PropertyName")
        && prop_or_err(&p.text())? != Queryable::BoundingBox
    {
        return Err(QueryError::invalid("BBOX applies to ows:BoundingBox"));
    }
    let env = e
        .elements()
        .find(|c| c.ns == ns::GML && c.local == "Envelope")
        .ok_or_else(|| QueryError::invalid("BBOX needs a gml:Envelope"))?;
    let lower = env
        .elements()
        .find(|c| c.ns == ns::GML && c.local == "lowerCorner")
        .ok_or_else(|| QueryError::invalid("gml:Envelope needs lowerCorner"))?;
    let upper = env
        .elements()
        .find(|c| c.ns == ns::GML && c.local == "upperCorner")
        .ok_or_else(|| QueryError::invalid("gml:Envelope needs upperCorner"))?;
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
pub fn parse(root: &Element) -> Result<RecordFilter, QueryError> {
    let filter = if root.ns == ns::OGC && root.local == "Filter" {
        root
    } else {
        child_named(root, "Filter").ok_or_else(|| QueryError::invalid("no ogc:Filter"))?
    };
    let mut nodes = 0;
    let mut ops = filter.elements();
    let Some(op) = ops.next() else {
        return Ok(RecordFilter::All);
    };
    if ops.next().is_some() {
        return Err(QueryError::invalid(
            "ogc:Filter takes one operator (combine several with ogc:And)",
        ));
    }
    operator(op, 0, &mut nodes)
}

fn operator(e: &Element, depth: usize, nodes: &mut usize) -> Result<RecordFilter, QueryError> {
    *nodes += 1;
    if depth > MAX_DEPTH || *nodes > MAX_NODES {
        return Err(QueryError::invalid("filter too large or too deep"));
    }
    if e.ns != ns::OGC {
        return Err(QueryError::invalid(format!(
            "unknown filter element {:?}",
            e.local
        )));
    }
    let cmp = |op| compare(property_name(e)?, op, &literal_text(e)?, match_case(e));
    let leaf = match e.local.as_str() {
        "And" | "Or" => {
            let parts = e
                .elements()
                .map(|c| operator(c, depth + 1, nodes))
                .collect::<Result<Vec<_>, _>>()?;
            if parts.len() < 2 {
                return Err(QueryError::invalid(format!(
                    "ogc:{} needs at least two operands",
                    e.local
                )));
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
                _ => Err(QueryError::invalid("ogc:Not takes one operand")),
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
                return Err(QueryError::invalid(
                    "wildCard, singleChar and escapeChar must differ",
                ));
            }
            let pattern = LikePattern::parse(&literal_text(e)?, wild, single, Some(escape));
            like(prop, pattern, match_case(e))
        }
        "PropertyIsBetween" => {
            let prop = property_name(e)?;
            let bound = |name: &str| -> Result<Literal, QueryError> {
                let b = child_named(e, name).ok_or_else(|| {
                    QueryError::invalid(format!("PropertyIsBetween needs {name}"))
                })?;
                let text = child_named(b, "Literal").map_or_else(|| b.text(), Element::text);
                literal(prop, text.trim())
            };
            if prop == Queryable::AnyText {
                return Err(QueryError::invalid("csw:AnyText has no order"));
            }
            Ok(RecordFilter::between(
                prop,
                bound("LowerBoundary")?,
                bound("UpperBoundary")?,
            )?)
        }
        "PropertyIsNull" => Ok(RecordFilter::IsNull(property_name(e)?)),
        "BBOX" | "Intersects" => bbox(e),
        other => Err(QueryError::invalid(format!(
            "filter operator ogc:{other} is not supported"
        ))),
    }?;
    // A keyword search is one test per word: they count towards the size limit.
    *nodes += extra_tests(&leaf);
    if *nodes > MAX_NODES {
        return Err(QueryError::invalid("filter too large"));
    }
    Ok(leaf)
}
