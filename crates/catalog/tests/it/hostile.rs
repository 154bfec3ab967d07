//! Hostile and broken input: limits, HTML pages, malformed XML, DTDs, random bytes.

#![allow(clippy::unwrap_used)] // tests and benches may unwrap

use proptest::prelude::*;
use threddex_catalog::*;

const NS: &str = "http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0";

fn url() -> Url {
    Url::parse("https://tds.example.org/thredds/catalog/x/catalog.xml").unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../fixtures/catalog/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn size_cap() {
    let xml = format!(
        r#"<catalog xmlns="{NS}"><dataset name="{}"/></catalog>"#,
        "x".repeat(500)
    );
    let limits = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    let err = parse_catalog_with(xml.as_bytes(), &url(), &limits).unwrap_err();
    assert_eq!(
        err,
        ParseError::TooLarge {
            size: xml.len(),
            max: 100
        }
    );
    assert!(parse_catalog(xml.as_bytes(), &url()).is_ok());
}

#[test]
fn depth_cap() {
    let n = 100;
    let xml = format!(
        r#"<catalog xmlns="{NS}">{}{}</catalog>"#,
        r#"<dataset name="d">"#.repeat(n),
        "</dataset>".repeat(n)
    );
    match parse_catalog(xml.as_bytes(), &url()) {
        Err(ParseError::TooDeep { max, .. }) => assert_eq!(max, 64),
        other => panic!("{other:?}"),
    }
    // Depth inside unknown elements counts too.
    let xml = format!(
        r#"<catalog xmlns="{NS}">{}</catalog>"#,
        "<x>".repeat(10_000)
    );
    assert!(matches!(
        parse_catalog(xml.as_bytes(), &url()),
        Err(ParseError::TooDeep { .. })
    ));
    // A generous limit accepts the nesting.
    let limits = Limits {
        max_depth: 200,
        ..Limits::default()
    };
    let xml = format!(
        r#"<catalog xmlns="{NS}">{}<dataset name="leaf" urlPath="l.nc"/>{}</catalog>"#,
        r#"<dataset name="d">"#.repeat(n),
        "</dataset>".repeat(n)
    );
    let cat = parse_catalog_with(xml.as_bytes(), &url(), &limits).unwrap();
    assert_eq!(cat.dataset_count(), n + 1);
    assert_eq!(cat.leaves().len(), 1);
}

#[test]
fn element_cap() {
    let xml = format!(
        r#"<catalog xmlns="{NS}">{}</catalog>"#,
        r#"<dataset name="d"/>"#.repeat(50)
    );
    let limits = Limits {
        max_elements: 10,
        ..Limits::default()
    };
    assert_eq!(
        parse_catalog_with(xml.as_bytes(), &url(), &limits).unwrap_err(),
        ParseError::TooManyElements { max: 10 }
    );
    assert_eq!(
        parse_catalog(xml.as_bytes(), &url())
            .unwrap()
            .dataset_count(),
        50
    );
}

#[test]
fn html_error_page() {
    let err = parse_catalog(&fixture("error_page.html"), &url()).unwrap_err();
    assert_eq!(err, ParseError::Html);
    assert!(err.to_string().contains("HTML"));
    for page in [
        "<html><body>oops</body></html>",
        "<HTML><BODY>Proxy error<br></BODY></HTML>",
        "\n\n<!doctype html><p>unclosed",
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"><HTML></HTML>",
        r#"<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>"#,
    ] {
        assert_eq!(
            parse_catalog(page.as_bytes(), &url()).unwrap_err(),
            ParseError::Html,
            "{page}"
        );
    }
}

#[test]
fn malformed_xml_reports_line_and_column() {
    match parse_catalog(&fixture("malformed.xml"), &url()) {
        Err(ParseError::Xml {
            line,
            column,
            message,
        }) => {
            assert_eq!(line, 4, "{message}");
            assert!(column >= 1);
            assert!(!message.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // Truncated document.
    let xml = format!("<catalog xmlns=\"{NS}\">\n<dataset name=\"a\">\n<dataset name=\"b\"");
    match parse_catalog(xml.as_bytes(), &url()) {
        Err(ParseError::Xml { line, .. }) => assert_eq!(line, 3),
        other => panic!("{other:?}"),
    }
    // Broken attribute syntax inside a THREDDS element.
    let xml =
        format!("<catalog xmlns=\"{NS}\">\n\n<dataset name=\"a\" urlPath>\n</dataset></catalog>");
    match parse_catalog(xml.as_bytes(), &url()) {
        Err(ParseError::Xml { line, .. }) => assert_eq!(line, 3),
        other => panic!("{other:?}"),
    }
    let xml = format!("<catalog xmlns=\"{NS}\">\n<dataset name=\"a\">");
    assert!(matches!(
        parse_catalog(xml.as_bytes(), &url()),
        Err(ParseError::Xml { .. })
    ));
}

#[test]
fn dtd_entities_are_not_expanded() {
    let cat = parse_catalog(&fixture("entities.xml"), &url()).unwrap();
    let leaves = cat.leaves();
    let docs: Vec<&str> = leaves[0]
        .meta
        .documentation
        .iter()
        .filter_map(|d| d.text.as_deref())
        .collect();
    assert_eq!(docs, ["&lol9;", "&xxe;"]);
    // The attribute with an undeclared entity is kept as written, not expanded.
    assert_eq!(cat.name.as_deref(), Some("&lol9;"));
}

#[test]
fn doctype_with_multibyte_text_does_not_panic() {
    for d in [
        "<!DOCTYPE htm\u{e9}>",
        "<!DOCTYPE a\u{20ac}b>",
        "<!DOCTYPE x\u{1F600}>",
    ] {
        let xml = format!("{d}<catalog xmlns=\"{NS}\"/>");
        assert!(parse_catalog(xml.as_bytes(), &url()).is_ok(), "{d}");
    }
}

#[test]
fn not_a_catalog() {
    assert_eq!(parse_catalog(b"", &url()).unwrap_err(), ParseError::Empty);
    assert_eq!(
        parse_catalog(b"  \n ", &url()).unwrap_err(),
        ParseError::Empty
    );
    match parse_catalog(
        br#"<gmi:MI_Metadata xmlns:gmi="http://www.isotc211.org/2005/gmi"/>"#,
        &url(),
    ) {
        Err(ParseError::NotACatalog { root }) => assert!(root.contains("MI_Metadata"), "{root}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_catalog(b"just text", &url()),
        Err(ParseError::NotACatalog { .. })
    ));
    assert!(matches!(
        parse_catalog(b"{\"json\": true}", &url()),
        Err(ParseError::NotACatalog { .. })
    ));
}

#[test]
fn encodings() {
    // ISO-8859-1 declared, not valid UTF-8.
    let mut xml =
        format!(r#"<?xml version="1.0" encoding="ISO-8859-1"?><catalog xmlns="{NS}" name="caf"#)
            .into_bytes();
    xml.push(0xE9);
    xml.extend_from_slice(b"\"/>");
    assert_eq!(
        parse_catalog(&xml, &url()).unwrap().name.as_deref(),
        Some("caf\u{e9}")
    );
    // UTF-8 with BOM.
    let mut xml = b"\xEF\xBB\xBF".to_vec();
    xml.extend_from_slice(format!(r#"<catalog xmlns="{NS}" name="bom"/>"#).as_bytes());
    assert_eq!(
        parse_catalog(&xml, &url()).unwrap().name.as_deref(),
        Some("bom")
    );
    // Invalid UTF-8 without declaration: replaced, no panic.
    let mut xml = format!(r#"<catalog xmlns="{NS}" name="x"#).into_bytes();
    xml.extend_from_slice(b"\xFF\xFE\"/>");
    assert!(parse_catalog(&xml, &url()).is_ok());
}

#[test]
fn unknown_and_config_elements_are_skipped() {
    let xml = format!(
        r#"<catalog xmlns="{NS}" xmlns:ncml="http://www.unidata.ucar.edu/namespaces/netcdf/ncml-2.2">
        <datasetRoot path="x" location="/data"/>
        <service name="s" serviceType="HTTPServer" base="/f/"><property name="a" value="b"/><junk/></service>
        <datasetScan name="scan" path="p" location="/data"><filter><include wildcard="*.nc"/></filter></datasetScan>
        <featureCollection name="fc" featureType="GRIB2" path="fc"><collection spec="/x/.*grib2$"/></featureCollection>
        <dataset name="d" urlPath="d.nc" serviceName="s"><ncml:netcdf><ncml:dataset name="nope"/></ncml:netcdf>
          <unknownThing><dataset name="hidden"/></unknownThing></dataset>
      </catalog>"#
    );
    let cat = parse_catalog(xml.as_bytes(), &url()).unwrap();
    assert_eq!(cat.dataset_count(), 1);
    assert_eq!(cat.service("s").unwrap().properties.len(), 1);
    assert_eq!(
        cat.leaves()[0].access_services(&cat)[0].url,
        "https://tds.example.org/f/d.nc"
    );
}

fn exercise(xml: &[u8]) {
    if let Ok(cat) = parse_catalog(xml, &url()) {
        let now = chrono::Utc::now();
        for l in cat.leaves() {
            let _ = l.access_services(&cat);
            let _ = l.time_range(now);
            let _ = l.size_bytes();
            let _ = l.modified();
        }
        let _ = cat.all_catalog_refs();
        for v in cat.views() {
            let _ = v.time_coverage.map(|tc| tc.range(now));
        }
        let _ = serde_json::to_string(&cat);
    }
}

const SEED: &str = include_str!("../../../../fixtures/catalog/coverage.xml");

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_xmlish_text_never_panics(s in "[<>/=\"' a-zA-Z:&;#!\\[\\]?-]{0,400}") {
        let doc = format!("<catalog xmlns=\"{NS}\">{s}</catalog>");
        exercise(doc.as_bytes());
        exercise(s.as_bytes());
    }

    #[test]
    fn mutated_catalog_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..12),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut b = SEED.as_bytes().to_vec();
        for (idx, byte, op) in edits {
            if b.is_empty() { break; }
            let i = idx.index(b.len());
            match op {
                0 => b[i] = byte,
                1 => b.insert(i, byte),
                _ => { b.remove(i); }
            }
        }
        exercise(&b);
        let c = cut.index(b.len() + 1);
        exercise(&b[..c]);
    }

    #[test]
    fn weird_values_never_panic(v in "\\PC{0,40}") {
        let doc = format!(
            r#"<catalog xmlns="{NS}" xmlns:xlink="http://www.w3.org/1999/xlink" expires="{v}">
            <service name="s" serviceType="{v}" base="{v}" suffix="{v}"/>
            <dataset name="d" urlPath="{v}" serviceName="s"><dataSize units="{v}">{v}</dataSize>
            <date type="modified">{v}</date>
            <timeCoverage><start>{v}</start><end>{v}</end><duration>{v}</duration></timeCoverage>
            <geospatialCoverage><northsouth><start>{v}</start><size>{v}</size></northsouth>
            <eastwest><start>{v}</start><size>{v}</size></eastwest></geospatialCoverage></dataset>
            <catalogRef xlink:href="{v}" xlink:title="{v}"/></catalog>"#
        );
        exercise(doc.as_bytes());
    }
}
