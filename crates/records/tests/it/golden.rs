//! Golden records (fixed date stamp, deterministic). Regenerate with `UPDATE_GOLDEN=1`.

#![allow(clippy::unwrap_used)]

use super::common;

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use threddex_records::{
    BBox, CitationDate, Extent, KeywordGroup, Link, Party, SeriesInput, VIEWS_UNITS, Variable,
    granule_record, rolling_window, series_from_iso, summary, synthesize, update_extent,
    update_series,
};
use threddex_store::{AccessService, CollectionView, Granule, View, ViewAccess, ViewKind};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn check(name: &str, actual: &str) -> PathBuf {
    let path = golden_dir().join(name);
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(
        actual, want,
        "{name} differs from the golden file (UPDATE_GOLDEN=1 to accept)"
    );
    path
}

fn svc(name: &str, t: &str, base: &str, suffix: &str) -> AccessService {
    AccessService {
        name: name.into(),
        service_type: t.into(),
        base: base.into(),
        suffix: suffix.into(),
    }
}

pub fn gfs_input() -> SeriesInput {
    let d = |y, m, dd| Utc.with_ymd_and_hms(y, m, dd, 0, 0, 0).unwrap();
    SeriesInput {
        id: "edu.ucar.unidata:grib/NCEP/GFS/Global_0p25deg_ana/GFS_Global_0p25deg_ana_{yyyyMMdd_HHmm}.grib2".into(),
        title: "GFS Global 0.25 Degree Analysis".into(),
        abstract_text: Some("Global Forecast System analysis on a 0.25 degree grid.".into()),
        rights: Some("Freely available".into()),
        credit: None,
        lineage: Some("Read using CDM IOSP GribCollection v3".into()),
        creators: vec![Party {
            name: "DOC/NOAA/NWS/NCEP".into(),
            email: None,
            url: Some("http://www.ncep.noaa.gov/".into()),
            role: "originator".into(),
            position: None,
        }],
        publishers: vec![Party {
            name: "UCAR/UNIDATA".into(),
            email: Some("support@unidata.ucar.edu".into()),
            url: Some("https://www.unidata.ucar.edu/".into()),
            role: "publisher".into(),
            position: None,
        }],
        contributors: vec![],
        keywords: vec![
            KeywordGroup { vocabulary: Some("GCMD Science Keywords".into()), kind: None, words: vec!["Atmosphere > Atmospheric Temperature".into()] },
            KeywordGroup { vocabulary: None, kind: Some("project".into()), words: vec!["NOMADS".into()] },
        ],
        variables: vec![
            Variable { name: "Temperature_isobaric".into(), units: Some("K".into()), description: Some("Temperature @ Isobaric surface".into()), vocabulary_name: Some("air_temperature".into()), vocabulary: Some("GRIB-2".into()) },
            Variable { name: "Relative_humidity_isobaric".into(), units: Some("%".into()), description: None, vocabulary_name: None, vocabulary: Some("GRIB-2".into()) },
        ],
        bbox: Some(BBox { west: -180.0, east: 180.0, south: -90.0, north: 90.0 }),
        vertical: None,
        data_type: Some("Grid".into()),
        data_format: Some("GRIB-2".into()),
        services: vec![
            svc("odap", "OPENDAP", "https://thredds.ucar.edu/thredds/dodsC/", ""),
            svc("http", "HTTPServer", "https://thredds.ucar.edu/thredds/fileServer/", ""),
            svc("ncss", "NetcdfSubset", "https://thredds.ucar.edu/thredds/ncss/grid/", "/dataset.html"),
            svc("wms", "WMS", "https://thredds.ucar.edu/thredds/wms/", ""),
            svc("iso", "ISO", "https://thredds.ucar.edu/thredds/iso/", ""),
        ],
        catalog_url: Some("https://thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/catalog.xml".into()),
        search_url: Some("https://threddex.example/index?collection=edu.ucar.unidata%3Agrib%2FNCEP%2FGFS%2FGlobal_0p25deg_ana".into()),
        authority: Some("edu.ucar.unidata".into()),
        dates: vec![CitationDate { kind: "creation".into(), date: d(2015, 1, 1) }],
        links: vec![Link { url: "https://www.nco.ncep.noaa.gov/pmb/products/gfs/".into(), title: Some("GFS products".into()) }],
        views: vec![],
        rolling_window: None,
    }
}

/// The virtual views of the real GFS analysis catalog: its full collection dataset and the
/// latest.xml resolver.
fn gfs_views() -> Vec<CollectionView> {
    let cat =
        "https://thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/catalog.xml";
    let tp = "grib/NCEP/GFS/Global_0p25deg_ana/TP";
    let access = |service: &str, t: &str, base: &str| ViewAccess {
        service: service.into(),
        service_type: t.into(),
        url: format!("https://thredds.ucar.edu/thredds/{base}/{tp}"),
    };
    vec![
        CollectionView {
            catalog_url: cat.into(),
            view: View {
                name: "Full Collection Dataset".into(),
                kind: ViewKind::FullCollection,
                id: Some(tp.into()),
                url_path: Some(tp.into()),
                catalog_ref: None,
                access: vec![
                    access("OPENDAP", "OPENDAP", "dodsC"),
                    access("NetcdfSubset", "NetcdfSubset", "ncss/grid"),
                    access("WMS", "WMS", "wms"),
                ],
                start: Some(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()),
                end: Some(Utc.with_ymd_and_hms(2024, 1, 8, 6, 0, 0).unwrap()),
            },
        },
        CollectionView {
            catalog_url: cat.into(),
            view: View {
                name: "Latest Collection for GFS Quarter Degree Analysis".into(),
                kind: ViewKind::Latest,
                id: Some("latest.xml".into()),
                url_path: Some("latest.xml".into()),
                catalog_ref: None,
                access: vec![ViewAccess {
                    service: "Resolver".into(),
                    service_type: "Resolver".into(),
                    url: "https://thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/latest.xml".into(),
                }],
                start: None,
                end: None,
            },
        },
        CollectionView {
            catalog_url: cat.into(),
            view: View {
                name: "Forecast Model Run".into(),
                kind: ViewKind::ForecastRun,
                id: None,
                url_path: None,
                catalog_ref: Some("https://thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/runs/catalog.xml".into()),
                access: vec![],
                start: None,
                end: None,
            },
        },
    ]
}

fn granule() -> Granule {
    Granule {
        collection_id: gfs_input().id,
        granule_id: "grib/NCEP/GFS/Global_0p25deg_ana/GFS_Global_0p25deg_ana_20240101_0000.grib2"
            .into(),
        name: "GFS_Global_0p25deg_ana_20240101_0000.grib2".into(),
        start: Some(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()),
        end: None,
        url_path: Some(
            "grib/NCEP/GFS/Global_0p25deg_ana/GFS_Global_0p25deg_ana_20240101_0000.grib2".into(),
        ),
        size: Some(512_345_678),
        modified: None,
        catalog_url:
            "https://thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/catalog.xml"
                .into(),
    }
}

fn stamp() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fn extent() -> Extent {
    Extent::new(
        Some(Utc.with_ymd_and_hms(2023, 12, 1, 0, 0, 0).unwrap()),
        Some(Utc.with_ymd_and_hms(2024, 1, 8, 18, 0, 0).unwrap()),
    )
}

#[test]
fn golden_synthesized_series_and_granule() {
    let input = gfs_input();
    let series = synthesize(&input, &extent(), stamp());
    let g = granule();
    let gr = granule_record(&series, &g, &input.services).unwrap();
    let later = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
    let moved = update_extent(&series, &Extent::new(extent().start, Some(later)), later).unwrap();
    let pretty = threddex_records::pretty(&gr).unwrap();
    assert_eq!(summary(&pretty).unwrap(), summary(&gr).unwrap());
    assert!(
        pretty.contains("\n      <gmd:CI_Citation>")
            || pretty.contains("\n    <gmd:MD_DataIdentification>"),
        "{pretty}"
    );
    let files = vec![
        check("series-synth.xml", &series),
        check("granule-synth.xml", &gr),
        check("series-synth-updated.xml", &moved),
        check("granule-synth-pretty.xml", &pretty),
    ];
    let gs = summary(&gr).unwrap();
    assert!(gs.links.iter().any(|l| l.url
        == "https://thredds.ucar.edu/thredds/ncss/grid/grib/NCEP/GFS/Global_0p25deg_ana/GFS_Global_0p25deg_ana_20240101_0000.grib2/dataset.html"));
    assert!(gs.links.iter().any(|l| l.url.ends_with("catalog.xml?dataset=grib%2FNCEP%2FGFS%2FGlobal_0p25deg_ana%2FGFS_Global_0p25deg_ana_20240101_0000.grib2")));
    assert!(
        !gs.links
            .iter()
            .any(|l| l.function.as_deref() == Some("search")),
        "granule records link the granule, not the search"
    );
    eprintln!(
        "series {} bytes, granule record {} bytes",
        series.len(),
        gr.len()
    );
    assert!(
        gr.len() > 2_000 && gr.len() < 20_000,
        "granule record size {}",
        gr.len()
    );
    common::validate(&files, "--gmd");
}

#[test]
fn golden_series_from_ncis() {
    let Some(real) = common::real_dir() else {
        return;
    };
    let xml = std::fs::read(&common::iso_fixtures(&real)[1]).unwrap();
    let input = gfs_input();
    let series = series_from_iso(&xml, &input, &extent(), stamp()).unwrap();
    let gr = granule_record(&series, &granule(), &input.services).unwrap();
    let files = vec![
        check("series-ncis-gefs.xml", &series),
        check("granule-ncis-gefs.xml", &gr),
    ];
    common::validate(&files, "--gmi");
}

/// Virtual views are distribution online resources (linkage, protocol, name, description)
/// in their own transfer options; records built with them validate, and stored records are
/// brought up to date when the views change (and only then).
#[test]
fn golden_series_with_views() {
    let plain = gfs_input();
    let mut input = gfs_input();
    input.views = gfs_views();
    let series = synthesize(&input, &extent(), stamp());
    let s = summary(&series).unwrap();
    let link = |url: &str| s.links.iter().find(|l| l.url == url).cloned();
    let tp = link("https://thredds.ucar.edu/thredds/dodsC/grib/NCEP/GFS/Global_0p25deg_ana/TP")
        .expect("full collection OPeNDAP link");
    assert_eq!(tp.protocol.as_deref(), Some("OPeNDAP:OPeNDAP"));
    assert_eq!(tp.name.as_deref(), Some("Full Collection Dataset"));
    assert_eq!(tp.function.as_deref(), Some("download"));
    assert_eq!(
        link("https://thredds.ucar.edu/thredds/wms/grib/NCEP/GFS/Global_0p25deg_ana/TP")
            .and_then(|l| l.protocol),
        Some("OGC:WMS".into())
    );
    let latest = link(
        "https://thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/latest.xml",
    )
    .expect("resolver link");
    assert_eq!(
        latest.name.as_deref(),
        Some("Latest Collection for GFS Quarter Degree Analysis")
    );
    assert!(link(
        "https://thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/runs/catalog.xml"
    )
    .is_some());
    assert!(series.contains(VIEWS_UNITS));
    assert!(series.contains("Full collection over all files (virtual dataset): OPeNDAP access"));

    // A record built without views gets them (dateStamp moves); the same update again
    // changes nothing; without views they go again.
    let old = synthesize(&plain, &extent(), stamp());
    let later = Utc.with_ymd_and_hms(2026, 1, 3, 0, 0, 0).unwrap();
    let updated = update_series(&old, &input, &extent(), later).unwrap();
    assert_ne!(updated, old);
    let us = summary(&updated).unwrap();
    assert_eq!(us.modified, Some(later));
    assert_eq!(
        us.links.iter().map(|l| &l.url).collect::<Vec<_>>(),
        s.links.iter().map(|l| &l.url).collect::<Vec<_>>()
    );
    let even_later = Utc.with_ymd_and_hms(2026, 1, 4, 0, 0, 0).unwrap();
    assert_eq!(
        update_series(&updated, &input, &extent(), even_later).unwrap(),
        updated
    );
    assert_eq!(
        update_series(&series, &input, &extent(), even_later).unwrap(),
        series,
        "a synthesised record is already up to date"
    );
    let removed = update_series(&updated, &plain, &extent(), even_later).unwrap();
    assert!(!removed.contains(VIEWS_UNITS));
    assert!(!removed.contains("/TP"));
    assert_eq!(summary(&removed).unwrap().modified, Some(even_later));
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![
        check("series-synth-views.xml", &series),
        common::write(dir.path(), "updated.xml", &updated),
        common::write(dir.path(), "removed.xml", &removed),
    ];
    common::validate(&files, "--gmd");

    // From an ncISO record: the views are there, the server's distributor is kept, and the
    // update is idempotent.
    let Some(real) = common::real_dir() else {
        return;
    };
    let xml = std::fs::read(&common::iso_fixtures(&real)[1]).unwrap();
    let from_iso = series_from_iso(&xml, &input, &extent(), stamp()).unwrap();
    assert!(from_iso.contains(VIEWS_UNITS));
    assert_eq!(
        update_series(&from_iso, &input, &extent(), later).unwrap(),
        from_iso
    );
    let without = series_from_iso(&xml, &plain, &extent(), stamp()).unwrap();
    let with = update_series(&without, &input, &extent(), later).unwrap();
    assert!(with.contains(VIEWS_UNITS));
    assert_eq!(
        with.matches("<gmd:distributor>").count(),
        without.matches("<gmd:distributor>").count()
    );
    files = vec![
        common::write(dir.path(), "ncis.xml", &from_iso),
        common::write(dir.path(), "ncis-updated.xml", &with),
    ];
    common::validate(&files, "--gmi");
}

#[test]
fn schema_table_matches_the_stored_schemas() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schemas = common::shared().join("schemas/iso19139");
    let out = std::process::Command::new("python3")
        .arg(root.join("tools/gen_schema_table.py"))
        .arg(&schemas)
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        assert!(
            !common::in_ci(),
            "python3 or {} missing and CI=true",
            schemas.display()
        );
        eprintln!("note: python3 or schemas missing; not checking src/schema_table.rs");
        return;
    };
    let generated = String::from_utf8(out.stdout).unwrap();
    let committed = std::fs::read_to_string(root.join("src/schema_table.rs")).unwrap();
    assert!(
        generated.trim_end() == committed.trim_end(),
        "src/schema_table.rs is stale: regenerate with tools/gen_schema_table.py"
    );
}

/// A collection whose catalog declares a rolling coverage (Unidata's `end=present,
/// duration=7 days`) says so in its record: continual maintenance and how long files stay.
/// The window is read from the metadata exactly as the crawler stores it (the serialised
/// effective metadata of a real catalog's first file).
#[test]
fn rolling_archives_say_how_long_files_stay() {
    let Some(real) = common::real_dir() else {
        return;
    };
    let path = real.join(
        "siphon/thredds.ucar.edu/thredds/catalog/satellite/VIS/EAST-CONUS_1km/current/catalog.xml",
    );
    let body = std::fs::read(&path).unwrap();
    let url = threddex_catalog::Url::parse(
        "https://thredds.ucar.edu/thredds/catalog/satellite/VIS/EAST-CONUS_1km/current/catalog.xml",
    )
    .unwrap();
    let cat = threddex_catalog::parse_catalog(&body, &url).unwrap();
    let leaves = cat.leaves();
    let meta = serde_json::to_value(&leaves[0].meta).unwrap();
    assert_eq!(rolling_window(&meta).as_deref(), Some("7 days"));
    // Absolute or missing coverages are no window.
    let absolute = serde_json::json!({"time_coverage": {"start": {"absolute": "2024-01-01T00:00:00Z"}, "end": "present", "duration": {"raw": "1 day", "months": 0, "seconds": 86400.0}}});
    assert_eq!(rolling_window(&absolute), None);
    assert_eq!(rolling_window(&serde_json::json!({})), None);

    let mut input = gfs_input();
    input.rolling_window = rolling_window(&meta);
    let series = synthesize(&input, &extent(), stamp());
    assert!(series.contains("codeListValue=\"continual\""), "{series}");
    assert!(series.contains("Rolling archive: the server keeps the files of the last 7 days."));
    assert!(!synthesize(&gfs_input(), &extent(), stamp()).contains("gmd:resourceMaintenance"));
    let dir = tempfile::tempdir().unwrap();
    common::validate(
        &[common::write(dir.path(), "rolling.xml", &series)],
        "--gmd",
    );
}
