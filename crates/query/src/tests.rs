//! Unit tests of the OGC Filter and CQL readers.

use threddex_records::tree::{TreeLimits, parse};
use threddex_store::{BBox, CompareOp, LikePattern, RecordFilter, TextProperty, TimeProperty};

use crate::{MAX_NODES, MAX_WORDS, QueryError, ns};

fn cql(text: &str) -> Result<RecordFilter, QueryError> {
    crate::text::parse(text)
}

fn filter(xml: &str) -> Result<RecordFilter, QueryError> {
    let doc = format!(
        "<ogc:Filter xmlns:ogc=\"{}\" xmlns:gml=\"{}\">{xml}</ogc:Filter>",
        ns::OGC,
        ns::GML
    );
    crate::filter::parse(&parse(doc.as_bytes(), &TreeLimits::default()).unwrap())
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
    assert_eq!(prop, TextProperty::Title);
    assert!(!match_case);
    assert_eq!(pattern.to_sql_like(Some('\\')), "%50*_%");
}

fn contains(s: &str) -> RecordFilter {
    RecordFilter::AnyText(LikePattern::contains(s))
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
    let RecordFilter::AnyText(pattern) = kw("csw:AnyText", "s_a") else {
        panic!("one word")
    };
    assert_eq!(pattern.to_sql_like(Some('\\')), "%s_a%");
    assert_eq!(kw("csw:AnyText", "  "), RecordFilter::All);
    // With a multi-character wildcard the pattern is matched as written.
    let RecordFilter::AnyText(pattern) = kw("csw:AnyText", "%sea temp%") else {
        panic!("a pattern")
    };
    assert_eq!(pattern.to_sql_like(Some('\\')), "%sea temp%");
    // Other properties keep LIKE as written (no wildcard: the whole value).
    let f = kw("dc:title", "Radar");
    let RecordFilter::Like {
        prop: TextProperty::Title,
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
        RecordFilter::CompareTime {
            prop: TimeProperty::TempBegin,
            op: CompareOp::Ge,
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
        assert!(matches!(e, QueryError::Invalid(_)), "{bad}: {e:?}");
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
        Some(&RecordFilter::CompareText {
            prop: TextProperty::Title,
            op: CompareOp::Eq,
            value: "It's".into(),
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

/// Found by the `time_forms` fuzz target: `-054` read as the bare year -54, a time RFC 3339
/// cannot write back. Only four digits make a bare year, and every accepted time lies in
/// 0000..=9999, so it prints as RFC 3339 and reads back the same.
#[test]
fn times_are_bare_years_of_four_digits_within_rfc3339() {
    for bad in [
        "  -054",
        "-054",
        "+054",
        "-0054-01-01",
        "-0001-01-01T00:00:00Z",
        "12345",
    ] {
        assert_eq!(crate::parse_time(bad), None, "{bad:?}");
    }
    for good in [
        "0054",
        "2019",
        "0000-01-01",
        "9999-12-31T23:59:59Z",
        "2019-08-30T17:13",
    ] {
        let t = crate::parse_time(good).unwrap_or_else(|| panic!("{good:?}"));
        assert_eq!(crate::parse_time(&t.to_rfc3339()), Some(t), "{good:?}");
    }
}
