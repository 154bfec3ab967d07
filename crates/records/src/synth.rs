//! A series record synthesised from THREDDS catalog metadata (servers without an ISO service).

use chrono::{DateTime, Utc};

use crate::Extent;
use crate::input::{KeywordGroup, SeriesInput};
use crate::iso::{self, ROOT_NS, code, party};
use crate::writer::XmlWriter;

/// `gml:id` of the series' time period.
pub(crate) const TIME_ID: &str = "extent-time";

/// Maps a THREDDS `dataType` to `MD_SpatialRepresentationTypeCode`.
fn spatial_type(data_type: &str) -> Option<&'static str> {
    match data_type.trim().to_ascii_lowercase().as_str() {
        "grid" | "image" | "radial" | "swath" | "fmrc" | "coverage" | "curvilinear" => Some("grid"),
        "point" | "station" | "trajectory" | "profile" | "section" | "stationprofile"
        | "station_profile" | "trajectoryprofile" | "pointfeature" | "stationtimeseries" => {
            Some("textTable")
        }
        _ => None,
    }
}

fn keywords(w: &mut XmlWriter, g: &KeywordGroup) {
    let words: Vec<&String> = g.words.iter().filter(|x| !x.trim().is_empty()).collect();
    if words.is_empty() {
        return;
    }
    w.start("gmd:descriptiveKeywords", &[])
        .start("gmd:MD_Keywords", &[]);
    for k in words {
        w.string("gmd:keyword", k);
    }
    code(
        w,
        "gmd:type",
        "MD_KeywordTypeCode",
        g.kind.as_deref().unwrap_or("theme"),
    );
    if let Some(v) = g.vocabulary.as_deref().filter(|v| !v.trim().is_empty()) {
        w.start("gmd:thesaurusName", &[])
            .start("gmd:CI_Citation", &[]);
        w.string("gmd:title", v);
        w.nil("gmd:date", "unknown");
        w.end().end();
    }
    w.end().end();
}

/// Variables as keyword groups, one per vocabulary (vocabulary name when given, else the name).
pub(crate) fn variable_keywords(input: &SeriesInput) -> Vec<KeywordGroup> {
    let mut groups: Vec<KeywordGroup> = Vec::new();
    for v in &input.variables {
        let word = v
            .vocabulary_name
            .clone()
            .filter(|x| !x.trim().is_empty())
            .unwrap_or_else(|| v.name.clone());
        let vocabulary = v.vocabulary.clone();
        match groups.iter_mut().find(|g| g.vocabulary == vocabulary) {
            Some(g) => {
                if !g.words.contains(&word) {
                    g.words.push(word);
                }
            }
            None => groups.push(KeywordGroup {
                vocabulary,
                kind: Some("theme".into()),
                words: vec![word],
            }),
        }
    }
    groups
}

fn content_info(w: &mut XmlWriter, input: &SeriesInput) {
    if input.variables.is_empty() {
        return;
    }
    w.newline()
        .start("gmd:contentInfo", &[])
        .start("gmd:MD_CoverageDescription", &[]);
    w.start("gmd:attributeDescription", &[])
        .leaf("gco:RecordType", &[], "variables")
        .end();
    code(
        w,
        "gmd:contentType",
        "MD_CoverageContentTypeCode",
        "physicalMeasurement",
    );
    for v in &input.variables {
        w.start("gmd:dimension", &[])
            .start("gmd:MD_RangeDimension", &[]);
        w.start("gmd:sequenceIdentifier", &[])
            .start("gco:MemberName", &[]);
        w.start("gco:aName", &[])
            .leaf("gco:CharacterString", &[], &v.name)
            .end();
        let ty = v
            .vocabulary_name
            .as_deref()
            .filter(|x| !x.trim().is_empty())
            .unwrap_or("variable");
        w.start("gco:attributeType", &[]).start("gco:TypeName", &[]);
        w.start("gco:aName", &[])
            .leaf("gco:CharacterString", &[], ty)
            .end();
        w.end().end();
        w.end().end();
        let mut d = v.description.clone().unwrap_or_default();
        if let Some(u) = v.units.as_deref().filter(|u| !u.trim().is_empty()) {
            if !d.is_empty() {
                d.push(' ');
            }
            d.push('[');
            d.push_str(u);
            d.push(']');
        }
        if !d.is_empty() {
            w.string("gmd:descriptor", &d);
        }
        w.end().end();
    }
    w.end().end();
}

/// The `gmd:distributionInfo` of a series.
pub(crate) fn distribution(w: &mut XmlWriter, input: &SeriesInput) {
    w.newline()
        .start("gmd:distributionInfo", &[])
        .start("gmd:MD_Distribution", &[]);
    if let Some(f) = input
        .data_format
        .as_deref()
        .filter(|f| !f.trim().is_empty())
    {
        iso::distribution_format(w, f);
    }
    w.start("gmd:transferOptions", &[])
        .start("gmd:MD_DigitalTransferOptions", &[]);
    iso::series_links(w, input);
    w.end().end();
    if !input.views.is_empty() {
        // The virtual views in their own transfer options, labelled.
        w.start("gmd:transferOptions", &[])
            .start("gmd:MD_DigitalTransferOptions", &[]);
        w.string("gmd:unitsOfDistribution", iso::VIEWS_UNITS);
        iso::view_links(w, &input.views);
        w.end().end();
    }
    w.end().end();
}

/// The citation dates: the catalog's, else a revision date = `date_stamp` (the series is
/// revised whenever its granules change, which is when the record's dateStamp moves).
pub(crate) fn citation_dates(w: &mut XmlWriter, input: &SeriesInput, date_stamp: &DateTime<Utc>) {
    let mut any = false;
    for d in &input.dates {
        if iso::fmt_datetime(&d.date).is_some() {
            iso::ci_date(w, &d.date, &d.kind);
            any = true;
        }
    }
    if !any {
        iso::ci_date(w, date_stamp, "revision");
    }
}

/// Builds a `gmd:MD_Metadata` series record (`hierarchyLevel` = `series`) from catalog metadata.
/// `extent` is the real min/max of the collection's granules; `date_stamp` is when the record
/// last changed.
pub fn synthesize(input: &SeriesInput, extent: &Extent, date_stamp: DateTime<Utc>) -> String {
    let mut w = XmlWriter::new();
    w.start("gmd:MD_Metadata", ROOT_NS);
    w.newline().string("gmd:fileIdentifier", &input.id);
    w.newline().start("gmd:language", &[]);
    w.leaf(
        "gmd:LanguageCode",
        &[
            ("codeList", "http://www.loc.gov/standards/iso639-2/"),
            ("codeListValue", "eng"),
        ],
        "eng",
    );
    w.end();
    w.newline();
    code(&mut w, "gmd:characterSet", "MD_CharacterSetCode", "utf8");
    w.newline();
    code(&mut w, "gmd:hierarchyLevel", "MD_ScopeCode", "series");
    w.newline().string("gmd:hierarchyLevelName", "collection");
    w.newline();
    party(&mut w, "gmd:contact", &input.contact());
    let stamp = iso::fmt_datetime(&date_stamp).unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    w.newline()
        .start("gmd:dateStamp", &[])
        .leaf("gco:DateTime", &[], &stamp)
        .end();
    w.newline()
        .string("gmd:metadataStandardName", "ISO 19115:2003/19139");
    w.newline().string("gmd:metadataStandardVersion", "1.0");

    w.newline()
        .start("gmd:identificationInfo", &[])
        .start("gmd:MD_DataIdentification", &[]);
    w.newline()
        .start("gmd:citation", &[])
        .start("gmd:CI_Citation", &[]);
    w.string("gmd:title", &input.title);
    citation_dates(&mut w, input, &date_stamp);
    iso::identifier(&mut w, &input.id);
    for p in input
        .creators
        .iter()
        .chain(&input.publishers)
        .chain(&input.contributors)
    {
        party(&mut w, "gmd:citedResponsibleParty", p);
    }
    w.end().end();
    w.newline();
    match input
        .abstract_text
        .as_deref()
        .filter(|a| !a.trim().is_empty())
    {
        Some(a) => w.string("gmd:abstract", a),
        None => w.nil("gmd:abstract", "missing"),
    };
    if let Some(c) = input.credit.as_deref().filter(|c| !c.trim().is_empty()) {
        w.string("gmd:credit", c);
    }
    if let Some(window) = input.rolling_window.as_deref() {
        // A rolling archive: files arrive continually and leave after the window.
        w.newline()
            .start("gmd:resourceMaintenance", &[])
            .start("gmd:MD_MaintenanceInformation", &[]);
        code(
            &mut w,
            "gmd:maintenanceAndUpdateFrequency",
            "MD_MaintenanceFrequencyCode",
            "continual",
        );
        w.string(
            "gmd:maintenanceNote",
            &format!("Rolling archive: the server keeps the files of the last {window}."),
        );
        w.end().end();
    }
    for g in input.keywords.iter().chain(&variable_keywords(input)) {
        w.newline();
        keywords(&mut w, g);
    }
    if let Some(r) = input.rights.as_deref().filter(|r| !r.trim().is_empty()) {
        w.newline()
            .start("gmd:resourceConstraints", &[])
            .start("gmd:MD_LegalConstraints", &[]);
        w.string("gmd:useLimitation", r);
        w.end().end();
    }
    if let Some(t) = input.data_type.as_deref().and_then(spatial_type) {
        w.newline();
        code(
            &mut w,
            "gmd:spatialRepresentationType",
            "MD_SpatialRepresentationTypeCode",
            t,
        );
    }
    w.newline().start("gmd:language", &[]);
    w.leaf(
        "gmd:LanguageCode",
        &[
            ("codeList", "http://www.loc.gov/standards/iso639-2/"),
            ("codeListValue", "eng"),
        ],
        "eng",
    );
    w.end();
    let has_geo = input.bbox.and_then(|b| b.sanitized()).is_some();
    let has_vert = input
        .vertical
        .is_some_and(|(a, b)| a.is_finite() && b.is_finite());
    if has_geo || has_vert || !extent.is_empty() {
        w.newline()
            .start("gmd:extent", &[])
            .start("gmd:EX_Extent", &[]);
        if let Some(b) = &input.bbox {
            iso::geographic_elements(&mut w, b);
        }
        iso::temporal_element(&mut w, TIME_ID, extent);
        if let Some((lo, hi)) = input.vertical.filter(|_| has_vert) {
            w.start("gmd:verticalElement", &[])
                .start("gmd:EX_VerticalExtent", &[]);
            w.start("gmd:minimumValue", &[])
                .leaf("gco:Real", &[], &crate::writer::fmt_decimal(lo))
                .end();
            w.start("gmd:maximumValue", &[])
                .leaf("gco:Real", &[], &crate::writer::fmt_decimal(hi))
                .end();
            w.nil("gmd:verticalCRS", "unknown");
            w.end().end();
        }
        w.end().end();
    }
    w.newline().end().end();
    content_info(&mut w, input);
    distribution(&mut w, input);
    if let Some(l) = input.lineage.as_deref().filter(|l| !l.trim().is_empty()) {
        w.newline()
            .start("gmd:dataQualityInfo", &[])
            .start("gmd:DQ_DataQuality", &[]);
        w.start("gmd:scope", &[]).start("gmd:DQ_Scope", &[]);
        code(&mut w, "gmd:level", "MD_ScopeCode", "series");
        w.end().end();
        w.start("gmd:lineage", &[])
            .start("gmd:LI_Lineage", &[])
            .string("gmd:statement", l)
            .end()
            .end();
        w.end().end();
    }
    w.newline();
    let mut s = w.finish();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{BBox, Party, Variable};
    use chrono::TimeZone;

    #[test]
    fn minimal_record_has_mandatory_parts() {
        let input = SeriesInput {
            id: "a:b".into(),
            title: "T".into(),
            ..Default::default()
        };
        let stamp = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let s = synthesize(&input, &Extent::default(), stamp);
        assert!(s.contains("<gmd:fileIdentifier><gco:CharacterString>a:b</gco:CharacterString>"));
        assert!(s.contains("codeListValue=\"series\""));
        assert!(s.contains("<gmd:dateStamp><gco:DateTime>2024-01-02T03:04:05Z</gco:DateTime>"));
        assert!(s.contains("<gmd:contact>"));
        assert!(s.contains("<gmd:abstract gco:nilReason=\"missing\"/>"));
        assert!(!s.contains("gml:TimePeriod"));
    }

    #[test]
    fn full_record_contains_everything() {
        let input = SeriesInput {
            id: "x".into(),
            title: "T & <b>".into(),
            abstract_text: Some("A".into()),
            creators: vec![Party {
                name: "C".into(),
                email: Some("c@x".into()),
                role: "originator".into(),
                ..Default::default()
            }],
            variables: vec![Variable {
                name: "t".into(),
                units: Some("K".into()),
                vocabulary: Some("CF-1.0".into()),
                ..Default::default()
            }],
            bbox: Some(BBox {
                west: -10.0,
                east: 10.0,
                south: -5.0,
                north: 5.0,
            }),
            vertical: Some((0.0, 100.0)),
            data_type: Some("Grid".into()),
            data_format: Some("NetCDF".into()),
            lineage: Some("L".into()),
            ..Default::default()
        };
        let t0 = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        let s = synthesize(&input, &Extent::new(Some(t0), None), t0);
        assert!(s.contains("T &amp; &lt;b&gt;"));
        assert!(s.contains("<gml:beginPosition>2020-01-01T00:00:00Z</gml:beginPosition>"));
        assert!(s.contains("<gml:endPosition indeterminatePosition=\"unknown\"/>"));
        assert!(s.contains("gmd:MD_CoverageDescription") && s.contains("[K]"));
        assert!(
            s.contains("<gmd:electronicMailAddress><gco:CharacterString>c@x</gco:CharacterString>")
        );
        assert!(s.contains("codeListValue=\"grid\""));
        assert!(s.contains("gmd:LI_Lineage"));
        assert!(s.contains("<gco:CharacterString>NetCDF</gco:CharacterString>"));
    }
}
