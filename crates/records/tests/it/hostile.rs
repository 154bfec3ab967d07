//! Hostile input: harvested text with markup, control characters, CDATA terminators and
//! non-ASCII must come out escaped, schema-valid and round-trip through `summary`.

#![allow(clippy::unwrap_used)]

use super::common;

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use threddex_records::writer::clean;
use threddex_records::{
    BBox, Extent, KeywordGroup, Link, Party, SeriesInput, Variable, granule_record,
    series_from_iso, summary, synthesize,
};
use threddex_store::{AccessService, CollectionView, Granule, View, ViewAccess, ViewKind};

const NASTY: &[&str] = &[
    ":bad%zz##[x]%",
    "1x:[::1]/a b#c#d",
    "<script>alert('x')</script>",
    "a & b && c;&amp;",
    "]]> end of CDATA ]]>",
    "ctl\u{0}\u{1}\u{7}\u{8}\u{b}\u{c}\u{e}\u{1f}chars",
    "tab\tnew\nline\r\ncr\r",
    "\"quotes\" and 'apostrophes'",
    "non-ASCII: ÆØÅ 日本語 🌊 \u{200b}\u{fffe}\u{ffff}",
    "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>&e;",
    "</gco:CharacterString></gmd:title><gmd:evil/>",
    "   ",
    "",
    "\u{7f}\u{80}\u{9f}",
];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/records")
}

fn nasty_input(t: &str, i: usize) -> SeriesInput {
    let party = |role: &str| Party {
        name: t.into(),
        email: Some(t.into()),
        url: Some(t.into()),
        role: role.into(),
        position: Some(t.into()),
    };
    SeriesInput {
        id: format!("hostile:{i}/{t}"),
        title: t.into(),
        abstract_text: Some(t.into()),
        rights: Some(t.into()),
        credit: Some(t.into()),
        lineage: Some(t.into()),
        creators: vec![party("originator")],
        publishers: vec![party("publisher")],
        contributors: vec![party("author")],
        keywords: vec![KeywordGroup {
            vocabulary: Some(t.into()),
            kind: None,
            words: vec![t.into(), format!("{t}2")],
        }],
        variables: vec![Variable {
            name: t.into(),
            units: Some(t.into()),
            description: Some(t.into()),
            vocabulary_name: Some(t.into()),
            vocabulary: Some(t.into()),
        }],
        bbox: Some(BBox {
            west: 179.0,
            east: -179.0,
            south: f64::NAN,
            north: 1.0,
        }),
        vertical: Some((f64::NEG_INFINITY, 3.0)),
        data_type: Some(t.into()),
        data_format: Some(t.into()),
        services: vec![AccessService {
            name: t.into(),
            service_type: t.into(),
            base: format!("https://tds.example/{i}/{t}/"),
            suffix: String::new(),
        }],
        catalog_url: Some(format!("{t}catalog.xml")),
        search_url: Some(format!(
            "https://threddex.example/index?collection=hostile%3A{i}"
        )),
        authority: Some(t.into()),
        dates: vec![],
        links: vec![Link {
            url: "https://example.org/doc".into(),
            title: Some(t.into()),
        }],
        views: vec![CollectionView {
            catalog_url: format!("{t}catalog.xml"),
            view: View {
                name: t.into(),
                kind: ViewKind::Best,
                id: Some(t.into()),
                url_path: Some(t.into()),
                catalog_ref: Some(format!("https://tds.example/{i}/{t}/runs/catalog.xml")),
                access: vec![ViewAccess {
                    service: t.into(),
                    service_type: t.into(),
                    url: format!("https://tds.example/{i}/{t}/Best"),
                }],
                start: None,
                end: None,
            },
        }],
        rolling_window: Some(t.into()),
    }
}

fn expected(t: &str) -> Option<String> {
    Some(clean(t).trim().to_string()).filter(|s| !s.is_empty())
}

#[test]
fn hostile_text_is_escaped_valid_and_round_trips() {
    let stamp = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
    let extent = Extent::new(Some(stamp), Some(stamp));
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let ncis =
        common::real_dir().map(|real| std::fs::read(&common::iso_fixtures(&real)[1]).unwrap());
    for (i, t) in NASTY.iter().enumerate() {
        let input = nasty_input(t, i);
        let s = synthesize(&input, &extent, stamp);
        assert!(!s.contains("<script>") && !s.contains("<gmd:evil") && !s.contains("<!DOCTYPE"));
        let sum = summary(&s).unwrap();
        assert_eq!(sum.title, expected(t), "{t:?}");
        assert_eq!(sum.abstract_text, expected(t));
        assert_eq!(sum.id, clean(&input.id).trim());
        let want_kw: Vec<String> = [t.to_string(), format!("{t}2")]
            .iter()
            .filter_map(|k| expected(k))
            .collect();
        assert!(
            want_kw.iter().all(|k| sum.keywords.contains(k)),
            "{:?} vs {:?}",
            sum.keywords,
            want_kw
        );
        files.push(common::write(dir.path(), &format!("h{i}-series.xml"), &s));
        let g = Granule {
            collection_id: input.id.clone(),
            granule_id: t.to_string(),
            name: t.to_string(),
            start: Some(stamp),
            end: None,
            url_path: Some(format!("p/{i}.nc")),
            size: Some(-5),
            modified: None,
            catalog_url: "https://tds.example/catalog.xml".into(),
        };
        let gr = granule_record(&s, &g, &input.services).unwrap();
        assert_eq!(
            summary(&gr).unwrap().title,
            expected(t).or_else(|| expected(&g.granule_id))
        );
        files.push(common::write(dir.path(), &format!("h{i}-granule.xml"), &gr));
        if let Some(n) = &ncis {
            let r = series_from_iso(n, &input, &extent, stamp).unwrap();
            assert_eq!(summary(&r).unwrap().title, expected(t));
            files.push(common::write(dir.path(), &format!("h{i}-ncis.xml"), &r));
        }
    }
    common::validate(&files, "--auto");
}

#[test]
fn hostile_iso_record_becomes_valid_series() {
    let xml = std::fs::read(fixtures_dir().join("hostile-ncis.xml")).unwrap();
    let input = nasty_input("Collection <title> & co", 99);
    let stamp = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
    let out = series_from_iso(&xml, &input, &Extent::default(), stamp).unwrap();
    for bad in [
        "<script",
        "evil",
        "DOCTYPE",
        "some-pi",
        "granule-20181223",
        "schemaLocation",
        "1e3",
        "not-a-date",
        "\u{1}",
    ] {
        assert!(!out.contains(bad), "{bad} leaked:\n{out}");
    }
    assert!(
        out.contains("Abstract with &lt;b&gt;markup&lt;/b&gt; &amp; ]]&gt; and \"quotes\""),
        "{out}"
    );
    let s = summary(&out).unwrap();
    assert_eq!(s.id, input.id);
    assert_eq!(s.parent_id, None);
    assert_eq!(s.hierarchy_level.as_deref(), Some("series"));
    assert!(s.keywords.contains(&"kw & <tag>".to_string()));
    assert_eq!(s.extent, Extent::default());
    let dir = tempfile::tempdir().unwrap();
    let f = common::write(dir.path(), "hostile-series.xml", &out);
    common::validate(&[f], "--auto");
}

#[test]
fn refuses_what_it_cannot_read() {
    let input = nasty_input("x", 0);
    let now = Utc::now();
    let e = Extent::default();
    for bad in [
        &b""[..],
        b"not xml",
        b"<html><body>error</body></html>",
        b"<gmd:MD_Metadata xmlns:gmd=\"http://www.isotc211.org/2005/gmd\">",
        b"<gmd:MD_Metadata xmlns:gmd=\"http://www.isotc211.org/2005/gmd\"/>",
        b"<!DOCTYPE a [<!ENTITY x \"y\">]><gmd:MD_Metadata xmlns:gmd=\"http://www.isotc211.org/2005/gmd\">&x;</gmd:MD_Metadata>",
        b"\xff\xfe<a/>",
    ] {
        assert!(series_from_iso(bad, &input, &e, now).is_err(), "{:?}", String::from_utf8_lossy(bad));
    }
    let deep = format!(
        "<gmd:MD_Metadata xmlns:gmd=\"http://www.isotc211.org/2005/gmd\">{}{}</gmd:MD_Metadata>",
        "<gmd:x>".repeat(10_000),
        "</gmd:x>".repeat(10_000)
    );
    assert!(series_from_iso(deep.as_bytes(), &input, &e, now).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn synthesized_text_round_trips(title in any::<String>(), abs in any::<String>(), kw in proptest::collection::vec(any::<String>(), 0..4)) {
        let input = SeriesInput {
            id: "p:1".into(),
            title: title.clone(),
            abstract_text: Some(abs.clone()),
            keywords: vec![KeywordGroup { vocabulary: None, kind: None, words: kw.clone() }],
            ..Default::default()
        };
        let s = synthesize(&input, &Extent::default(), Utc::now());
        let sum = summary(&s).unwrap();
        prop_assert_eq!(sum.title, expected(&title));
        prop_assert_eq!(sum.abstract_text, expected(&abs));
        let want: Vec<String> = kw.iter().filter_map(|k| expected(k)).collect();
        let mut dedup = Vec::new();
        for k in want { if !dedup.contains(&k) { dedup.push(k); } }
        for k in &dedup { prop_assert!(sum.keywords.contains(k)); }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let input = SeriesInput { id: "x".into(), title: "t".into(), ..Default::default() };
        if let Ok(out) = series_from_iso(&bytes, &input, &Extent::default(), Utc::now()) {
            prop_assert!(summary(&out).is_ok());
        }
        let _ = summary(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_record_never_panics(cut in 0usize..6253, insert in "[<>&;/a-z:\"' =]{0,12}") {
        let path = fixtures_dir().join("hostile-ncis.xml");
        let mut xml = std::fs::read(path).unwrap();
        let at = cut.min(xml.len());
        xml.splice(at..at, insert.bytes());
        let input = SeriesInput { id: "x".into(), title: "t".into(), ..Default::default() };
        if let Ok(out) = series_from_iso(&xml, &input, &Extent::default(), Utc::now()) {
            let s = summary(&out).unwrap();
            prop_assert_eq!(s.id, "x");
        }
    }
}
