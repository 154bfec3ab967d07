//! Tests over the hand-written fixtures in fixtures/catalog.

#![allow(clippy::unwrap_used)] // tests and benches may unwrap

use chrono::{TimeZone, Utc};
use threddex_catalog::*;

fn load(name: &str, url: &str) -> Catalog {
    let path = format!(
        "{}/../../fixtures/catalog/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let xml = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse_catalog(&xml, &Url::parse(url).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn leaf<'a>(leaves: &'a [Leaf<'a>], name: &str) -> &'a Leaf<'a> {
    leaves
        .iter()
        .find(|l| l.name() == name)
        .unwrap_or_else(|| panic!("no leaf {name}"))
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

#[test]
fn inheritance_precedence() {
    let cat = load(
        "inherit.xml",
        "https://example.org/thredds/catalog/test/catalog.xml",
    );
    assert_eq!(cat.name.as_deref(), Some("Inherit test"));
    assert_eq!(cat.version.as_deref(), Some("1.2"));
    assert_eq!(cat.dataset_count(), 6);
    let leaves = cat.leaves();
    let names: Vec<&str> = leaves.iter().map(|l| l.name()).collect();
    assert_eq!(names, ["leaf-a.nc", "leaf-b.nc", "leaf-c.nc"]);

    let a = leaf(&leaves, "leaf-a.nc");
    assert_eq!(a.meta.service_name.as_deref(), Some("odap"));
    // Middle's own authority attribute beats Middle's inherited metadata and Top's.
    assert_eq!(a.meta.authority.as_deref(), Some("edu.mid.attr"));
    assert_eq!(a.meta.data_type.as_deref(), Some("GRID"));
    assert_eq!(a.meta.data_format.as_deref(), Some("GRIB-2"));
    // Nearest inherited timeCoverage wins: start + 10 days.
    assert_eq!(
        a.time_range(Utc::now()),
        (
            Some(utc(2005, 1, 1, 0, 0, 0)),
            Some(utc(2005, 1, 11, 0, 0, 0))
        )
    );
    // Lists accumulate nearest first; non-inherited metadata and direct elements of ancestors do not.
    let docs: Vec<&str> = a
        .meta
        .documentation
        .iter()
        .filter_map(|d| d.text.as_deref())
        .collect();
    assert_eq!(docs, ["mid summary", "top summary"]);
    let kws: Vec<&str> = a.meta.keywords.iter().map(|k| k.value.as_str()).collect();
    assert_eq!(kws, ["mid-kw", "top-kw"]);
    let props: Vec<&str> = a.meta.properties.iter().map(|p| p.value.as_str()).collect();
    assert_eq!(props, ["mid", "top"]);
    assert_eq!(a.size_bytes(), Some(12_500));
    assert_eq!(a.modified(), Some(utc(2024, 3, 1, 12, 0, 0)));
    let urls: Vec<String> = a.access_services(&cat).into_iter().map(|r| r.url).collect();
    assert_eq!(urls, ["https://example.org/thredds/dodsC/mid/leaf-a.nc"]);

    let b = leaf(&leaves, "leaf-b.nc");
    assert_eq!(b.meta.service_name.as_deref(), Some("http"));
    assert_eq!(b.meta.authority.as_deref(), Some("edu.leaf-b.own"));
    assert_eq!(b.meta.data_type.as_deref(), Some("POINT"));
    let tc = b.meta.time_coverage.as_ref().unwrap();
    assert!(tc.is_relative());
    assert_eq!(tc.end, Some(DateValue::Present));
    let now = utc(2026, 11, 21, 8, 0, 0);
    assert_eq!(
        b.time_range(now),
        (Some(utc(2026, 11, 21, 7, 45, 0)), Some(now))
    );
    let acc = b.access_services(&cat);
    assert_eq!(acc.len(), 1);
    assert_eq!(acc[0].service_type, ServiceType::HttpServer);
    assert_eq!(
        acc[0].url,
        "https://example.org/thredds/fileServer/mid/leaf-b.nc"
    );
    assert_eq!(b.size_bytes(), None);

    let c = leaf(&leaves, "leaf-c.nc");
    assert_eq!(c.meta.authority.as_deref(), Some("edu.top"));
    assert_eq!(c.time_range(now).0, Some(utc(2000, 1, 1, 0, 0, 0)));
    let docs: Vec<&str> = c
        .meta
        .documentation
        .iter()
        .filter_map(|d| d.text.as_deref())
        .collect();
    assert_eq!(docs, ["top summary"]);
    assert_eq!(
        c.access_services(&cat)[0].url,
        "https://example.org/thredds/dodsC/sib/leaf-c.nc"
    );
}

#[test]
fn services_compound_and_resolution() {
    let cat = load(
        "services.xml",
        "https://tds.example.org/thredds/catalog/a/b/catalog.xml",
    );
    assert_eq!(cat.expires, Some(utc(2030, 1, 1, 0, 0, 0)));
    assert_eq!(cat.services.len(), 3);
    let all = cat.service("all").unwrap();
    assert_eq!(all.service_type, ServiceType::Compound);
    let flat: Vec<&str> = all.flatten().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(flat, ["dods", "wms", "html", "remote"]);
    let dods = cat.service("dods").unwrap();
    assert_eq!(dods.service_type, ServiceType::OpenDap);
    assert_eq!(
        cat.service("remote").unwrap().service_type,
        ServiceType::OpenDap
    );
    assert_eq!(dods.resolved_base, "https://tds.example.org/thredds/dodsC/");
    assert_eq!(
        cat.service("wms").unwrap().resolved_base,
        "https://tds.example.org/thredds/catalog/wms/"
    );
    assert_eq!(cat.service("wms").unwrap().base, "../../wms/");
    assert_eq!(
        cat.service("latest").unwrap().resolved_base,
        "https://tds.example.org/thredds/catalog/a/b/"
    );
    assert_eq!(
        cat.service("rel").unwrap().resolved_base,
        "https://tds.example.org/thredds/catalog/a/b/files/"
    );
    assert_eq!(cat.service("html").unwrap().suffix, "/dataset.html");
    assert!(cat.service("nope").is_none());
    // Service declared inside a dataset is found too.
    assert_eq!(
        cat.service("agg").unwrap().resolved_base,
        "http://agg.example.org/dodsC/"
    );

    let leaves = cat.leaves();
    assert_eq!(leaves.len(), 5);
    let a = leaf(&leaves, "a.nc");
    let urls: Vec<String> = a.access_services(&cat).into_iter().map(|r| r.url).collect();
    assert_eq!(
        urls,
        [
            "https://tds.example.org/thredds/dodsC/coll/a.nc",
            "https://tds.example.org/thredds/catalog/wms/coll/a.nc",
            "https://tds.example.org/thredds/ncss/grid/coll/a.nc/dataset.html",
            "http://other.example.org/dap/coll/a.nc",
        ]
    );
    let latest = leaf(&leaves, "Latest Collection");
    assert_eq!(latest.dataset.dynamic, Some(DynamicKind::Latest));
    let l = latest.access_services(&cat);
    assert_eq!(l[0].service_type, ServiceType::Resolver);
    assert_eq!(
        l[0].url,
        "https://tds.example.org/thredds/catalog/a/b/latest.xml"
    );
    let b = leaf(&leaves, "b.nc");
    assert_eq!(
        b.access_services(&cat)[0].url,
        "https://tds.example.org/thredds/catalog/a/b/files/coll/b.nc"
    );
    let c = leaf(&leaves, "c.nc");
    let cu: Vec<String> = c.access_services(&cat).into_iter().map(|r| r.url).collect();
    assert_eq!(
        cu,
        [
            "https://tds.example.org/thredds/dodsC/alt/c.nc",
            "https://tds.example.org/thredds/catalog/a/b/files/c.nc"
        ]
    );
    assert_eq!(c.size_bytes(), Some(1_500_000));
    assert_eq!(c.dataset.access.len(), 3);
    let local = leaf(&leaves, "local-service");
    assert_eq!(
        local.access_services(&cat)[0].url,
        "http://agg.example.org/dodsC/x.nc"
    );

    let refs = cat.all_catalog_refs();
    assert_eq!(refs.len(), 3);
    assert_eq!(
        refs[0].href.as_str(),
        "https://tds.example.org/thredds/catalog/a/b/sub/catalog.xml"
    );
    assert_eq!(refs[0].raw_href, "sub/catalog.xml");
    assert_eq!(refs[0].title.as_deref(), Some("Sub"));
    assert_eq!(refs[0].name.as_deref(), Some("subname"));
    assert_eq!(refs[0].id.as_deref(), Some("sub"));
    assert_eq!(
        refs[1].href.as_str(),
        "https://tds.example.org/thredds/catalog/abs/catalog.xml"
    );
    assert_eq!(
        refs[2].href.as_str(),
        "https://elsewhere.example.org/thredds/catalog.xml"
    );
}

#[test]
fn service_type_is_case_insensitive() {
    for s in ["DODS", "dods", "OpenDAP", "OPENDAP", "OPeNDAP", " opendap "] {
        assert_eq!(ServiceType::parse(s), ServiceType::OpenDap, "{s}");
    }
    assert_eq!(ServiceType::parse("HTTP"), ServiceType::HttpServer);
    assert_eq!(ServiceType::parse("NetcdfServer"), ServiceType::Ncss);
    assert_eq!(
        ServiceType::parse("Weird"),
        ServiceType::Other("Weird".into())
    );
    assert_eq!(ServiceType::OpenDap.as_str(), "OPENDAP");
    let json = serde_json::to_string(&ServiceType::Wms).unwrap();
    assert_eq!(json, "\"WMS\"");
    assert_eq!(
        serde_json::from_str::<ServiceType>("\"dods\"").unwrap(),
        ServiceType::OpenDap
    );
}

#[test]
fn catalog_base_attribute_overrides_url() {
    let xml = br#"<catalog xmlns="http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0"
        xmlns:xlink="http://www.w3.org/1999/xlink" base="http://mirror.example.org/x/y/catalog.xml">
        <service name="s" serviceType="HTTPServer" base="files/"/>
        <dataset name="d" urlPath="d.nc" serviceName="s"/>
        <catalogRef xlink:href="../z/catalog.xml" xlink:title="z"/>
      </catalog>"#;
    let cat = parse_catalog(
        xml,
        &Url::parse("https://real.example.org/cat.xml").unwrap(),
    )
    .unwrap();
    assert_eq!(cat.url.as_str(), "https://real.example.org/cat.xml");
    assert_eq!(
        cat.service("s").unwrap().resolved_base,
        "http://mirror.example.org/x/y/files/"
    );
    assert_eq!(
        cat.catalog_refs[0].href.as_str(),
        "http://mirror.example.org/x/z/catalog.xml"
    );
}

#[test]
fn coverage_units_and_people() {
    let cat = load("coverage.xml", "http://localhost/thredds/catalog.xml");
    let leaves = cat.leaves();
    let p = leaf(&leaves, "pacific.nc");
    assert_eq!(p.size_bytes(), Some(4_562_000_000));
    assert_eq!(p.modified(), Some(utc(2005, 5, 12, 0, 52, 56)));
    let created = &p.meta.dates[0];
    assert_eq!(created.date_type.as_deref(), Some("created"));
    assert_eq!(created.parsed, Some(utc(2001, 5, 1, 0, 0, 0)));
    assert_eq!(
        p.meta.dates[1].format.as_deref(),
        Some("yyyy-MM-dd HH:mm:ss")
    );
    let d0 = &p.meta.documentation[0];
    assert_eq!(d0.doc_type.as_deref(), Some("summary"));
    assert_eq!(
        d0.text.as_deref(),
        Some("Pacific & friends <test> AB &custom;")
    );
    let d1 = &p.meta.documentation[1];
    assert_eq!(d1.href.as_deref(), Some("http://example.org/doc.html"));
    assert_eq!(d1.title.as_deref(), Some("Docs"));
    assert_eq!(d1.text, None);
    assert_eq!(p.meta.keywords[0].value, "EARTH SCIENCE > Oceans");
    assert_eq!(p.meta.keywords[0].vocabulary.as_deref(), Some("GCMD"));
    assert_eq!(p.meta.projects[0].value, "TEST-PROJ");
    assert_eq!(p.meta.creators[0].name.value, "DOC/NOAA");
    assert_eq!(p.meta.creators[0].name.vocabulary.as_deref(), Some("DIF"));
    assert_eq!(p.meta.creators[0].contact_email.as_deref(), Some("a@b.c"));
    assert_eq!(p.meta.publishers[0].name.value, "UCAR/UNIDATA");
    assert_eq!(p.meta.contributors[0].name, "Jane Doe");
    assert_eq!(p.meta.contributors[0].role.as_deref(), Some("PI"));
    assert_eq!(
        p.meta.properties[0],
        Property {
            name: "p1".into(),
            value: "v1".into()
        }
    );

    let g = p.meta.geospatial_coverage.as_ref().unwrap();
    assert_eq!(g.zpositive.as_deref(), Some("down"));
    let bb = g.bbox.unwrap();
    assert_eq!(
        (bb.west, bb.east, bb.south, bb.north),
        (140.0, -120.0, -10.0, 10.0)
    );
    assert!(bb.crosses_antimeridian);
    assert_eq!(g.east_west.as_ref().unwrap().resolution, Some(0.5));
    let ud = g.up_down.as_ref().unwrap();
    assert_eq!(
        (ud.start, ud.size, ud.units.as_deref()),
        (Some(0.0), Some(500.0), Some("m"))
    );
    assert_eq!(g.names[0].value, "pacific");

    let tc = p.meta.time_coverage.as_ref().unwrap();
    assert_eq!(tc.resolution.as_ref().unwrap().seconds, 21_600.0);
    assert_eq!(
        p.time_range(Utc::now()),
        (
            Some(utc(1999, 11, 16, 12, 0, 0)),
            Some(utc(2000, 2, 16, 12, 0, 0))
        )
    );

    let v = &p.meta.variables[0];
    assert_eq!(v.vocabulary.as_deref(), Some("CF-1.0"));
    assert_eq!(v.variables.len(), 2);
    assert_eq!(v.variables[0].name, "sst");
    assert_eq!(
        v.variables[0].vocabulary_name.as_deref(),
        Some("sea_surface_temperature")
    );
    assert_eq!(v.variables[0].units.as_deref(), Some("K"));
    assert_eq!(
        v.variables[0].description.as_deref(),
        Some("Sea surface temp")
    );
    assert_eq!(
        v.variable_map_href.as_deref(),
        Some("/thredds/metadata/vm.xml")
    );

    let r = leaf(&leaves, "radar");
    let now = utc(2026, 1, 15, 0, 0, 0);
    assert_eq!(
        r.time_range(now),
        (Some(utc(2026, 1, 1, 0, 0, 0)), Some(now))
    );
    let bb = r.meta.geospatial_coverage.as_ref().unwrap().bbox.unwrap();
    assert_eq!(
        (bb.west, bb.east, bb.crosses_antimeridian),
        (-135.0, -65.0, false)
    );
    assert_eq!(r.size_bytes(), Some(165));

    let gl = leaf(&leaves, "global");
    let bb = gl.meta.geospatial_coverage.as_ref().unwrap().bbox.unwrap();
    assert_eq!(
        (bb.west, bb.east, bb.south, bb.north),
        (-180.0, 180.0, -90.0, 90.0)
    );
    assert_eq!(
        gl.time_range(now),
        (
            Some(utc(2024, 1, 1, 0, 0, 0)),
            Some(utc(2024, 1, 8, 6, 0, 0))
        )
    );
}

#[test]
fn dynamic_datasets_flagged() {
    let cat = load(
        "dynamic.xml",
        "https://thredds.example.org/thredds/catalog/grib/GFS/catalog.xml",
    );
    let leaves = cat.leaves();
    let kind = |n: &str| leaf(&leaves, n).dataset.dynamic;
    assert_eq!(
        kind("Full Collection (Reference / Forecast Time) Dataset"),
        Some(DynamicKind::TwoD)
    );
    assert_eq!(
        kind("Best GFS Quarter Degree Forecast Time Series"),
        Some(DynamicKind::Best)
    );
    assert_eq!(
        kind("Full Collection Dataset"),
        Some(DynamicKind::FullCollection)
    );
    assert_eq!(
        kind("Latest Collection for GFS Quarter Degree Forecast"),
        Some(DynamicKind::Latest)
    );
    assert_eq!(kind("Something resolved"), Some(DynamicKind::Resolver));
    assert_eq!(kind("GFS_Global_0p25deg_20240101_0000.grib2"), None);
    let latest = leaf(&leaves, "Latest Collection for GFS Quarter Degree Forecast");
    assert_eq!(latest.meta.service_name.as_deref(), Some("Resolver"));
    assert_eq!(
        latest.access_services(&cat)[0].url,
        "https://thredds.example.org/thredds/catalog/grib/GFS/latest.xml"
    );
    let refs = cat.all_catalog_refs();
    let kinds: Vec<Option<DynamicKind>> = refs.iter().map(|r| r.dynamic).collect();
    assert_eq!(
        kinds,
        [
            Some(DynamicKind::ForecastRun),
            Some(DynamicKind::ConstantOffset),
            Some(DynamicKind::LatestComplete),
            None
        ]
    );
}

#[test]
fn views_list_dynamic_datasets_and_refs_with_access() {
    let cat = load(
        "dynamic.xml",
        "https://thredds.example.org/thredds/catalog/grib/GFS/catalog.xml",
    );
    let views = cat.views();
    let summary: Vec<(DynamicKind, &str)> =
        views.iter().map(|v| (v.kind, v.name.as_str())).collect();
    assert_eq!(
        summary,
        [
            (
                DynamicKind::TwoD,
                "Full Collection (Reference / Forecast Time) Dataset"
            ),
            (
                DynamicKind::Best,
                "Best GFS Quarter Degree Forecast Time Series"
            ),
            (DynamicKind::FullCollection, "Full Collection Dataset"),
            (
                DynamicKind::Latest,
                "Latest Collection for GFS Quarter Degree Forecast"
            ),
            (DynamicKind::Resolver, "Something resolved"),
            (DynamicKind::ForecastRun, "Forecast Model Run"),
            (DynamicKind::ConstantOffset, "Constant Forecast Offset"),
            (DynamicKind::LatestComplete, "latest complete"),
        ]
    );
    // Dataset views: access resolved like a granule's (compound service flattened).
    let best = &views[1];
    assert_eq!(best.id.as_deref(), Some("grib/GFS/Best"));
    assert_eq!(best.url_path.as_deref(), Some("grib/GFS/Best"));
    assert_eq!(best.catalog_ref, None);
    let urls: Vec<(&str, &str)> = best
        .access
        .iter()
        .map(|a| (a.service_type.as_str(), a.url.as_str()))
        .collect();
    assert_eq!(
        urls,
        [(
            "OPENDAP",
            "https://thredds.example.org/thredds/dodsC/grib/GFS/Best"
        )]
    );
    // The latest view's access is its resolver URL.
    assert_eq!(views[3].access.len(), 1);
    assert_eq!(views[3].access[0].service_type.as_str(), "Resolver");
    assert_eq!(
        views[3].access[0].url,
        "https://thredds.example.org/thredds/catalog/grib/GFS/latest.xml"
    );
    // catalogRef views: the resolved href, no service access.
    let runs = &views[5];
    assert!(runs.access.is_empty() && runs.url_path.is_none());
    assert_eq!(
        runs.catalog_ref.as_ref().map(|u| u.as_str()),
        Some("https://thredds.example.org/thredds/catalog/grib/GFS/runs/catalog.xml")
    );
    // The plain file and the plain "Files" reference are not views.
    assert!(
        views
            .iter()
            .all(|v| !v.name.contains("20240101") && v.name != "Files")
    );
}

#[test]
fn plain_catalogs_have_no_views() {
    let cat = load(
        "inherit.xml",
        "https://thredds.example.org/thredds/catalog/x/catalog.xml",
    );
    assert!(cat.views().is_empty());
}

#[test]
fn namespaces_matched_by_uri_not_prefix() {
    let cat = load(
        "prefixed.xml",
        "https://oceandata.example.org/opendap/hyrax/data/catalog.xml",
    );
    assert_eq!(
        cat.dataset_count(),
        2,
        "foreign-namespace <dataset> must be ignored"
    );
    let leaves = cat.leaves();
    assert_eq!(leaves.len(), 1);
    let f = &leaves[0];
    assert_eq!(f.size_bytes(), Some(6_038_934));
    assert_eq!(f.modified(), Some(utc(2017, 3, 14, 12, 25, 25)));
    assert_eq!(
        f.access_services(&cat)[0].url,
        "https://oceandata.example.org/opendap/hyrax/data/f.nc"
    );
    let r = &cat.all_catalog_refs()[0];
    assert_eq!(r.raw_href, "sub/catalog.xml");
    assert_eq!(
        r.href.as_str(),
        "https://oceandata.example.org/opendap/hyrax/data/sub/catalog.xml"
    );
}

#[test]
fn catalog_in_other_namespace_is_rejected_unbound_is_accepted() {
    let url = Url::parse("http://localhost/c.xml").unwrap();
    let wrong = br#"<catalog xmlns="http://example.org/other"><dataset name="x"/></catalog>"#;
    match parse_catalog(wrong, &url) {
        Err(ParseError::NotACatalog { root }) => {
            assert!(root.contains("http://example.org/other"), "{root}")
        }
        other => panic!("{other:?}"),
    }
    let unbound = br#"<catalog name="n"><service name="s" serviceType="HTTP" base="/f/"/>
        <dataset name="x" urlPath="x.nc" serviceName="s"/></catalog>"#;
    let cat = parse_catalog(unbound, &url).unwrap();
    assert_eq!(
        cat.leaves()[0].access_services(&cat)[0].url,
        "http://localhost/f/x.nc"
    );
}

#[test]
fn catalog_serializes_to_json() {
    let cat = load(
        "services.xml",
        "https://tds.example.org/thredds/catalog/a/b/catalog.xml",
    );
    let v = serde_json::to_value(&cat).unwrap();
    assert_eq!(v["services"][0]["service_type"], "Compound");
    assert_eq!(
        v["catalog_refs"][0]["href"],
        "https://tds.example.org/thredds/catalog/a/b/sub/catalog.xml"
    );
    let back: Catalog = serde_json::from_value(v).unwrap();
    // The name index is rebuilt lazily by the fallback search.
    assert_eq!(
        back.service("dods").unwrap().resolved_base,
        "https://tds.example.org/thredds/dodsC/"
    );
}

#[test]
fn leaf_refs_match_leaves() {
    for (f, u) in [
        (
            "inherit.xml",
            "https://example.org/thredds/catalog/test/catalog.xml",
        ),
        (
            "services.xml",
            "https://tds.example.org/thredds/catalog/a/b/catalog.xml",
        ),
        ("coverage.xml", "http://localhost/thredds/catalog.xml"),
        (
            "dynamic.xml",
            "https://thredds.example.org/thredds/catalog/grib/GFS/catalog.xml",
        ),
    ] {
        let cat = load(f, u);
        let owned = cat.leaves();
        let refs = cat.leaf_refs();
        assert_eq!(owned.len(), refs.len());
        let now = utc(2026, 1, 1, 0, 0, 0);
        for (o, r) in owned.iter().zip(&refs) {
            assert_eq!(o.meta, r.effective(), "{f}: {}", o.name());
            assert_eq!(o.access_services(&cat), r.access_services(&cat));
            assert_eq!(o.time_range(now), r.time_range(now));
            assert_eq!(o.size_bytes(), r.size_bytes());
            assert_eq!(o.modified(), r.modified());
            assert_eq!(o.meta.data_type.as_deref(), r.data_type());
            assert_eq!(o.meta.data_format.as_deref(), r.data_format());
            assert_eq!(o.meta.geospatial_coverage.as_ref(), r.geospatial_coverage());
            assert_eq!(r.to_leaf().meta, o.meta);
        }
    }
}

#[test]
fn resolver_defined_after_use_is_flagged() {
    let xml = br#"<catalog xmlns="http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0">
        <dataset name="first" urlPath="a/b" serviceName="late"/>
        <dataset name="plain" urlPath="c.nc" serviceName="files"/>
        <dataset name="holder">
          <service name="late" serviceType="resolver" base=""/>
          <service name="files" serviceType="HTTPServer" base="/f/"/>
        </dataset>
      </catalog>"#;
    let cat = parse_catalog(xml, &Url::parse("http://localhost/x/catalog.xml").unwrap()).unwrap();
    let leaves = cat.leaves();
    assert_eq!(
        leaf(&leaves, "first").dataset.dynamic,
        Some(DynamicKind::Resolver)
    );
    assert_eq!(leaf(&leaves, "plain").dataset.dynamic, None);
    assert_eq!(
        leaf(&leaves, "first").access_services(&cat)[0].url,
        "http://localhost/x/a/b"
    );
}

#[test]
fn ramadda_style_catalog() {
    let cat = load(
        "ramadda_style.xml",
        "https://ramadda.example.org/repository/entry/show?entryid=a1b2c3&output=thredds.catalog",
    );
    let r = &cat.all_catalog_refs()[0];
    assert_eq!(
        r.href.as_str(),
        "https://ramadda.example.org/repository/entry/show?entryid=d4e5&output=thredds.catalog"
    );
    let leaves = cat.leaves();
    let l = leaf(&leaves, "run1.nc");
    let urls: Vec<String> = l.access_services(&cat).into_iter().map(|a| a.url).collect();
    assert_eq!(
        urls,
        [
            "https://ramadda.example.org/repository/entry/get/run1.nc?entryid=f6a7b8",
            "https://ramadda.example.org/repository/opendap/run1.nc?entryid=f6a7b8/entry.das",
        ]
    );
    assert_eq!(l.size_bytes(), Some(1_048_576));
    // -190..-150 is 170E..210E: normalised to 170..-150, crossing the antimeridian.
    let bb = l.meta.geospatial_coverage.as_ref().unwrap().bbox.unwrap();
    assert_eq!(
        (bb.west, bb.east, bb.crosses_antimeridian),
        (170.0, -150.0, true)
    );
    assert_eq!(
        l.time_range(Utc::now()),
        (
            Some(utc(2019, 5, 1, 0, 0, 0)),
            Some(utc(2019, 5, 31, 18, 0, 0))
        )
    );
    let json = serde_json::to_value(&cat.leaf_refs()[0]).unwrap();
    assert_eq!(json["meta"]["service_name"], "self");
    assert_eq!(json["dataset"]["name"], "run1.nc");
}

#[test]
fn documentation_mixed_content_keeps_text() {
    let xml = br#"<catalog xmlns="http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0"
        xmlns:h="http://www.w3.org/1999/xhtml">
        <dataset name="d" urlPath="d.nc"><documentation type="summary">A <b>bold</b> and <h:i>it<h:br/></h:i>.</documentation>
        <documentation>second</documentation></dataset></catalog>"#;
    let cat = parse_catalog(xml, &Url::parse("http://localhost/c.xml").unwrap()).unwrap();
    let leaves = cat.leaves();
    let docs: Vec<&str> = leaves[0]
        .meta
        .documentation
        .iter()
        .filter_map(|d| d.text.as_deref())
        .collect();
    assert_eq!(docs, ["A bold and it.", "second"]);
}
