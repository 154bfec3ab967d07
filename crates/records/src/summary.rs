//! What a catalogue view (CSW Dublin Core) needs from a record.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::input::BBox;
use crate::ncis::{main_ident_index, parse_record};
use crate::tree::{Element, GCO, GMD, GML, GMX, Node, TreeLimits};
use crate::{Extent, RecordError};

/// A party named in the citation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordParty {
    /// Organisation (else individual) name.
    pub name: String,
    /// `CI_RoleCode` value.
    pub role: String,
}

/// An online resource of the distribution.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordLink {
    /// URL.
    pub url: String,
    /// Protocol (e.g. `OPeNDAP:OPeNDAP`).
    pub protocol: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// `CI_OnLineFunctionCode`.
    pub function: Option<String>,
}

/// The fields of a record a Dublin Core view shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordSummary {
    /// `fileIdentifier` (dc:identifier).
    pub id: String,
    /// `parentIdentifier`.
    pub parent_id: Option<String>,
    /// `hierarchyLevel` (dc:type: `series`, `dataset`, …).
    pub hierarchy_level: Option<String>,
    /// Citation title (dc:title).
    pub title: Option<String>,
    /// Abstract (dct:abstract).
    pub abstract_text: Option<String>,
    /// Every keyword (dc:subject).
    pub keywords: Vec<String>,
    /// Horizontal extent (`west > east` when crossing the antimeridian), union of the boxes.
    pub bbox: Option<BBox>,
    /// Temporal extent.
    pub extent: Extent,
    /// Distribution format names (dc:format).
    pub formats: Vec<String>,
    /// `dateStamp` (dct:modified).
    pub modified: Option<DateTime<Utc>>,
    /// Cited parties (dc:creator / dc:publisher / dc:contributor by role).
    pub parties: Vec<RecordParty>,
    /// Use limitations and other constraints (dc:rights).
    pub rights: Vec<String>,
    /// Online resources (dct:references).
    pub links: Vec<RecordLink>,
}

/// Parses an ISO 8601 date or date-time (zone optional, UTC assumed), or a bare year.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let t = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t.trim_end_matches('Z'), f) {
            return Some(Utc.from_utc_datetime(&d));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t.trim_end_matches('Z'), "%Y-%m-%d") {
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

/// Text of a `gco:CharacterString` (or `gmx:Anchor`) property, trimmed; None when nil/empty.
fn prop_text(e: &Element) -> Option<String> {
    let inner = e
        .child(GCO, "CharacterString")
        .or_else(|| e.child(GMX, "Anchor"))?;
    Some(inner.text().trim().to_string()).filter(|s| !s.is_empty())
}

fn decimal(e: &Element, local: &str) -> Option<f64> {
    let p = e.child(GMD, local)?;
    let v = p.child(GCO, "Decimal")?.text();
    v.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

fn code_value(e: &Element) -> Option<String> {
    let c = e.first_element()?;
    c.attr("", "codeListValue")
        .map(str::to_string)
        .or_else(|| Some(c.text().trim().to_string()))
        .filter(|s| !s.is_empty())
}

/// Merges the boxes: a pair split at the antimeridian becomes one box with `west > east`.
fn union(boxes: &[BBox]) -> Option<BBox> {
    let first = boxes.first()?;
    if let [a, b] = boxes
        && a.east == 180.0
        && b.west == -180.0
        && a.west > -180.0
        && b.east < 180.0
    {
        return Some(BBox {
            west: a.west,
            east: b.east,
            south: a.south.min(b.south),
            north: a.north.max(b.north),
        });
    }
    Some(boxes.iter().skip(1).fold(*first, |u, b| BBox {
        west: u.west.min(b.west),
        east: u.east.max(b.east),
        south: u.south.min(b.south),
        north: u.north.max(b.north),
    }))
}

fn time_pos(p: Option<&Element>) -> Option<DateTime<Utc>> {
    parse_time(&p?.text())
}

/// Reads a record (as written by this crate, or any ISO 19139 / 19115-2 record).
pub fn summary(xml: &str) -> Result<RecordSummary, RecordError> {
    let root = parse_record(xml.as_bytes(), &TreeLimits::default())?;
    let mut s = RecordSummary {
        id: root
            .child(GMD, "fileIdentifier")
            .and_then(prop_text)
            .unwrap_or_default(),
        parent_id: root.child(GMD, "parentIdentifier").and_then(prop_text),
        hierarchy_level: root.child(GMD, "hierarchyLevel").and_then(code_value),
        modified: root
            .child(GMD, "dateStamp")
            .and_then(|d| d.child(GCO, "DateTime").or_else(|| d.child(GCO, "Date")))
            .and_then(|d| parse_time(&d.text())),
        ..Default::default()
    };
    let ident = main_ident_index(&root)
        .and_then(|i| match root.children.get(i) {
            Some(Node::Element(e)) => e.first_element(),
            _ => None,
        })
        .or_else(|| {
            root.child(GMD, "identificationInfo")
                .and_then(Element::first_element)
        });
    if let Some(ident) = ident {
        let cit = ident.path(&[(GMD, "citation"), (GMD, "CI_Citation")]);
        s.title = cit.and_then(|c| c.child(GMD, "title")).and_then(prop_text);
        s.abstract_text = ident.child(GMD, "abstract").and_then(prop_text);
        if let Some(c) = cit {
            for p in c.elements().filter(|e| e.is(GMD, "citedResponsibleParty")) {
                let Some(rp) = p.child(GMD, "CI_ResponsibleParty") else {
                    continue;
                };
                let name = rp
                    .child(GMD, "organisationName")
                    .and_then(prop_text)
                    .or_else(|| rp.child(GMD, "individualName").and_then(prop_text));
                if let Some(name) = name {
                    let role = rp
                        .child(GMD, "role")
                        .and_then(code_value)
                        .unwrap_or_default();
                    s.parties.push(RecordParty { name, role });
                }
            }
        }
        let mut boxes = Vec::new();
        let mut first_time: Option<Extent> = None;
        ident.walk(&mut |e| {
            if e.is(GMD, "keyword") {
                if let Some(k) = prop_text(e) {
                    s.keywords.push(k);
                }
            } else if e.is(GMD, "useLimitation") || e.is(GMD, "otherConstraints") {
                if let Some(r) = prop_text(e) {
                    s.rights.push(r);
                }
            } else if e.is(GMD, "EX_GeographicBoundingBox") {
                if let (Some(west), Some(east), Some(south), Some(north)) = (
                    decimal(e, "westBoundLongitude"),
                    decimal(e, "eastBoundLongitude"),
                    decimal(e, "southBoundLatitude"),
                    decimal(e, "northBoundLatitude"),
                ) {
                    boxes.push(BBox {
                        west,
                        east,
                        south,
                        north,
                    });
                }
            } else if e.is(GML, "TimePeriod") && first_time.is_none() {
                let begin = time_pos(e.child(GML, "beginPosition")).or_else(|| {
                    time_pos(e.path(&[(GML, "begin"), (GML, "TimeInstant"), (GML, "timePosition")]))
                });
                let end = time_pos(e.child(GML, "endPosition")).or_else(|| {
                    time_pos(e.path(&[(GML, "end"), (GML, "TimeInstant"), (GML, "timePosition")]))
                });
                first_time = Some(Extent::new(begin, end));
            } else if e.is(GML, "TimeInstant") && first_time.is_none() {
                let t = time_pos(e.child(GML, "timePosition"));
                first_time = Some(Extent::new(t, t));
            }
        });
        s.bbox = union(&boxes);
        s.extent = first_time.unwrap_or_default();
    }
    for di in root.elements().filter(|e| e.is(GMD, "distributionInfo")) {
        di.walk(&mut |e| {
            if e.is(GMD, "MD_Format") {
                if let Some(n) = e.child(GMD, "name").and_then(prop_text)
                    && !s.formats.contains(&n)
                {
                    s.formats.push(n);
                }
            } else if e.is(GMD, "CI_OnlineResource") {
                let url = e
                    .path(&[(GMD, "linkage"), (GMD, "URL")])
                    .map(|u| u.text().trim().to_string());
                if let Some(url) = url.filter(|u| !u.is_empty()) {
                    s.links.push(RecordLink {
                        url,
                        protocol: e.child(GMD, "protocol").and_then(prop_text),
                        name: e.child(GMD, "name").and_then(prop_text),
                        function: e.child(GMD, "function").and_then(code_value),
                    });
                }
            }
        });
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_times() {
        assert!(parse_time("2018-12-23T00:00:00Z").is_some());
        assert!(parse_time("2018-12-23T00:00:00").is_some());
        assert!(parse_time("2018-12-23").is_some());
        assert!(parse_time("2018").is_some());
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn merges_antimeridian_pair() {
        let b = union(&[
            BBox {
                west: 170.0,
                east: 180.0,
                south: -1.0,
                north: 1.0,
            },
            BBox {
                west: -180.0,
                east: -170.0,
                south: -1.0,
                north: 1.0,
            },
        ])
        .unwrap();
        assert_eq!((b.west, b.east), (170.0, -170.0));
    }

    #[test]
    fn refuses_non_iso() {
        assert!(matches!(summary("<a/>"), Err(RecordError::NotIso { .. })));
    }
}
