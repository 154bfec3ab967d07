//! Every THREDDS catalog under ../shared/fixtures/real must parse; a golden summary per
//! file is compared with tests/golden/<relative path>.json (UPDATE_GOLDEN=1 rewrites them).
//!
//! Which files are catalogs is decided independently of the parser, by the root element:
//! local name `catalog` in the InvCatalog namespace. Everything else (ISO, NcML, bare
//! `metadata` documents) must be rejected by the parser with `NotACatalog`.
//!
//! Catalog URL mapping rule (the URL the document is deemed to come from):
//! * `siphon/<host>/<path>`: `https://<host>/<path>`, where a host dir `name_port` becomes
//!   `name:port` (and then `http://`, since those are local servers), a `__YYYY-MM-DD` capture
//!   date before `.xml` is removed, and a query stored as `<path>__<query>.xml` becomes
//!   `<path>?<query>` (`%26` -> `&`, the appended `.xml` dropped);
//! * anything else: `http://localhost/<relative path>`.

#![allow(clippy::unwrap_used)] // tests and benches may unwrap

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use serde_json::{Value, json};
use threddex_catalog::*;

/// Number of THREDDS catalogs in the shared set (PROVENANCE.md: 44 TDS + 3 radarServer +
/// 1 Hyrax + 4 derived + 11 hand-written + 12 server-side config).
const EXPECTED_CATALOGS: usize = 75;

fn real_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/real"
    ))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Root element check, independent of the crate's parser.
fn is_thredds_catalog(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let mut r = NsReader::from_str(&text);
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let (ns, local) = r.resolver().resolve_element(e.name());
                return local.into_inner() == "catalog"
                    && matches!(ns, ResolveResult::Bound(n) if n.0 == THREDDS_NS);
            }
            Ok(Event::Eof) | Err(_) => return false,
            _ => {}
        }
    }
}

fn catalog_url(rel: &str) -> Url {
    if let Some(rest) = rel.strip_prefix("siphon/") {
        let (host, path) = rest.split_once('/').unwrap();
        let (scheme, host) = match host.split_once('_') {
            Some((h, port)) => ("http", format!("{h}:{port}")),
            None => ("https", host.to_string()),
        };
        let mut path = path.to_string();
        // capture date: name__YYYY-MM-DD.xml
        if let Some(i) = path.rfind("__")
            && path.len() == i + 2 + 10 + 4
            && path.ends_with(".xml")
            && path.as_bytes()[i + 6] == b'-'
        {
            path = format!("{}.xml", &path[..i]);
        }
        // query: path__query.xml
        if let Some((p, q)) = path.split_once("__") {
            let q = q.strip_suffix(".xml").unwrap_or(q).replace("%26", "&");
            path = format!("{p}?{q}");
        }
        Url::parse(&format!("{scheme}://{host}/{path}")).unwrap()
    } else {
        Url::parse(&format!("http://localhost/{rel}")).unwrap()
    }
}

fn services_summary(s: &Service, depth: usize, out: &mut Vec<String>) {
    out.push(format!(
        "{}{} ({}) {:?} -> {}{}",
        "  ".repeat(depth),
        s.name,
        s.service_type.as_str(),
        s.base,
        s.resolved_base,
        if s.suffix.is_empty() {
            String::new()
        } else {
            format!(" suffix {:?}", s.suffix)
        }
    ));
    for c in &s.children {
        services_summary(c, depth + 1, out);
    }
}

fn summary(cat: &Catalog) -> Value {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut services = Vec::new();
    for s in &cat.services {
        services_summary(s, 0, &mut services);
    }
    let refs = cat.all_catalog_refs();
    let leaves = cat.leaves();
    let mut access = Vec::new();
    for l in leaves.iter().take(2) {
        for a in l.access_services(cat).into_iter().take(4) {
            access.push(format!("{} {}", a.service_type, a.url));
        }
    }
    let mut dynamic = Vec::new();
    for l in &leaves {
        if let Some(k) = l.dataset.dynamic {
            dynamic.push(format!("dataset {:?}: {k:?}", l.dataset.name));
        }
    }
    for r in &refs {
        if let Some(k) = r.dynamic {
            dynamic.push(format!(
                "catalogRef {:?}: {k:?}",
                r.title.as_deref().unwrap_or("")
            ));
        }
    }
    dynamic.truncate(12);
    let spot = leaves
        .iter()
        .find(|l| l.dataset.dynamic.is_none())
        .or(leaves.first())
        .map(|l| {
            let (s, e) = l.time_range(now);
            json!({
                "name": l.name(),
                "id": l.id(),
                "url_path": l.url_path(),
                "dynamic": l.dataset.dynamic.map(|k| format!("{k:?}")),
                "service_name": l.meta.service_name,
                "authority": l.meta.authority,
                "data_type": l.meta.data_type,
                "data_format": l.meta.data_format,
                "size_bytes": l.size_bytes(),
                "modified": l.modified().map(|d| d.to_rfc3339()),
                "time_coverage_relative": l.meta.time_coverage.as_ref().map(|t| t.is_relative()),
                "time_range_at_2026_01_01": [s.map(|d| d.to_rfc3339()), e.map(|d| d.to_rfc3339())],
                "bbox": l.meta.geospatial_coverage.as_ref().and_then(|g| g.bbox),
                "documentation": l.meta.documentation.len(),
                "properties": l.meta.properties.len(),
                "variables": l.meta.variables.iter().map(|v| v.variables.len()).sum::<usize>(),
            })
        });
    // First dataset (leaf or not) with an effective timeCoverage, so leafless catalogs
    // (collections, hand-written tests) also pin an inherited value.
    let first_tc = cat.effective_all().into_iter().find_map(|(d, m)| {
        m.time_coverage.as_ref().map(|tc| {
            let (s, e) = tc.range(now);
            json!({
                "dataset": d.name,
                "relative": tc.is_relative(),
                "raw": tc,
                "range_at_2026_01_01": [s.map(|d| d.to_rfc3339()), e.map(|d| d.to_rfc3339())],
            })
        })
    });
    json!({
        "url": cat.url.as_str(),
        "first_time_coverage": first_tc,
        "name": cat.name,
        "version": cat.version,
        "expires": cat.expires.map(|d| d.to_rfc3339()),
        "datasets": cat.dataset_count(),
        "catalog_refs": refs.len(),
        "leaves": leaves.len(),
        "services": services,
        "first_catalog_refs": refs.iter().take(3).map(|r| r.href.as_str()).collect::<Vec<_>>(),
        "first_access_urls": access,
        "dynamic": dynamic,
        "spot": spot,
        "warnings": cat.warnings,
    })
}

#[test]
fn real_catalogs_parse_and_match_golden() {
    let dir = real_dir();
    if !dir.is_dir() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "fixtures missing at {} under CI",
            dir.display()
        );
        eprintln!(
            "NOTE: {} missing; skipping real-fixture test",
            dir.display()
        );
        return;
    }
    let update = std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1");
    let golden_dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"));
    let mut files = Vec::new();
    walk(&dir, &mut files);
    let mut catalogs = 0;
    let mut failures = Vec::new();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for path in &files {
        let rel = path
            .strip_prefix(&dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if !rel.ends_with(".xml") {
            continue;
        }
        let bytes = std::fs::read(path).unwrap();
        let url = catalog_url(&rel);
        if !is_thredds_catalog(&bytes) {
            *kinds.entry("not a catalog").or_default() += 1;
            match parse_catalog(&bytes, &url) {
                Err(ParseError::NotACatalog { .. }) => {}
                other => failures.push(format!(
                    "{rel}: non-catalog not rejected: {:?}",
                    other.map(|c| c.name)
                )),
            }
            continue;
        }
        catalogs += 1;
        let cat = match parse_catalog(&bytes, &url) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{rel}: {e}"));
                continue;
            }
        };
        *kinds.entry("catalog").or_default() += 1;
        // The borrowed leaf view agrees with the owned one.
        let owned = cat.leaves();
        let refs = cat.leaf_refs();
        assert_eq!(owned.len(), refs.len(), "{rel}");
        for (o, r) in owned.iter().zip(&refs) {
            assert_eq!(o.meta, r.effective(), "{rel}: {}", o.name());
            assert_eq!(o.access_services(&cat), r.access_services(&cat), "{rel}");
            assert_eq!(o.size_bytes(), r.size_bytes(), "{rel}");
            assert_eq!(o.modified(), r.modified(), "{rel}");
            assert_eq!(o.meta.service_name.as_deref(), r.service_name(), "{rel}");
            assert_eq!(o.meta.authority.as_deref(), r.authority(), "{rel}");
            assert_eq!(o.meta.time_coverage.as_ref(), r.time_coverage(), "{rel}");
        }
        let got = summary(&cat);
        let gpath = golden_dir.join(format!("{rel}.json"));
        let pretty = serde_json::to_string_pretty(&got).unwrap() + "\n";
        if update {
            std::fs::create_dir_all(gpath.parent().unwrap()).unwrap();
            std::fs::write(&gpath, &pretty).unwrap();
            continue;
        }
        match std::fs::read_to_string(&gpath) {
            Ok(want) => {
                let want: Value = serde_json::from_str(&want).unwrap();
                if want != got {
                    failures.push(format!(
                        "{rel}: golden mismatch\n--- want\n{want:#}\n--- got\n{pretty}"
                    ));
                }
            }
            Err(_) => failures.push(format!(
                "{rel}: no golden file {} (run with UPDATE_GOLDEN=1)",
                gpath.display()
            )),
        }
    }
    eprintln!("real fixtures: {kinds:?}");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        catalogs, EXPECTED_CATALOGS,
        "number of THREDDS catalogs found among the real fixtures"
    );
}

#[test]
fn url_mapping_rule() {
    assert_eq!(
        catalog_url("siphon/thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/latest__2024-01-08.xml")
            .as_str(),
        "https://thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/latest.xml"
    );
    assert_eq!(
        catalog_url("siphon/localhost_8081/thredds/catalog/catalog__2018-07-09.xml").as_str(),
        "http://localhost:8081/thredds/catalog/catalog.xml"
    );
    assert_eq!(
        catalog_url("siphon/thredds.ucar.edu/thredds/radarServer/nexrad/level2/IDD__time=2015-06-15T12%3A00%3A00%26stn=KFTG.xml")
            .as_str(),
        "https://thredds.ucar.edu/thredds/radarServer/nexrad/level2/IDD?time=2015-06-15T12%3A00%3A00&stn=KFTG"
    );
    assert_eq!(
        catalog_url("unidata-thredds/cdm/src/test/data/thredds/catalog/test1.xml").as_str(),
        "http://localhost/unidata-thredds/cdm/src/test/data/thredds/catalog/test1.xml"
    );
}

#[test]
fn real_gfs_catalog_spot_checks() {
    let dir = real_dir();
    let rel =
        "siphon/thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/catalog.xml";
    let Ok(bytes) = std::fs::read(dir.join(rel)) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "fixture missing under CI"
        );
        eprintln!("NOTE: real fixtures missing; skipping");
        return;
    };
    let cat = parse_catalog(&bytes, &catalog_url(rel)).unwrap();
    let leaves = cat.leaves();
    let full = leaves
        .iter()
        .find(|l| l.name() == "Full Collection Dataset")
        .unwrap();
    assert_eq!(full.dataset.dynamic, Some(DynamicKind::FullCollection));
    assert_eq!(full.meta.authority.as_deref(), Some("edu.ucar.unidata"));
    assert_eq!(full.meta.data_format.as_deref(), Some("GRIB-2"));
    let urls: Vec<String> = full
        .access_services(&cat)
        .into_iter()
        .map(|a| a.url)
        .collect();
    assert_eq!(
        urls[0],
        "https://thredds.ucar.edu/thredds/dodsC/grib/NCEP/GFS/Global_0p25deg_ana/TP"
    );
    assert_eq!(urls.len(), 9);
    let bb = full
        .meta
        .geospatial_coverage
        .as_ref()
        .unwrap()
        .bbox
        .unwrap();
    assert_eq!(
        (bb.west, bb.east, bb.crosses_antimeridian),
        (-180.0, 180.0, false)
    );
    let latest = leaves
        .iter()
        .find(|l| l.url_path() == Some("latest.xml"))
        .unwrap();
    assert_eq!(latest.dataset.dynamic, Some(DynamicKind::Latest));
    assert!(cat.all_catalog_refs().len() > 20);
}

/// The virtual views of the real GRIB collection catalogs (TDS 5 GFS, TDS 4.x RAP); served
/// navigation catalogs and server-side configuration catalogs offer none.
#[test]
fn real_grib_catalog_views() {
    let dir = real_dir();
    let load = |rel: &str| -> Option<Catalog> {
        match std::fs::read(dir.join(rel)) {
            Ok(bytes) => Some(parse_catalog(&bytes, &catalog_url(rel)).unwrap()),
            Err(_) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "fixture {rel} missing under CI"
                );
                eprintln!("NOTE: real fixture {rel} missing; skipping");
                None
            }
        }
    };
    let Some(gfs) = load(
        "siphon/thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/catalog.xml",
    ) else {
        return;
    };
    let views = gfs.views();
    let kinds: Vec<(DynamicKind, &str)> = views.iter().map(|v| (v.kind, v.name.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (DynamicKind::FullCollection, "Full Collection Dataset"),
            (
                DynamicKind::Latest,
                "Latest Collection for GFS Quarter Degree Analysis"
            ),
        ]
    );
    let tp = &views[0];
    assert_eq!(
        tp.url_path.as_deref(),
        Some("grib/NCEP/GFS/Global_0p25deg_ana/TP")
    );
    assert_eq!(tp.access.len(), 9);
    assert!(tp.access.iter().any(|a| a.service_type == ServiceType::Wms
        && a.url == "https://thredds.ucar.edu/thredds/wms/grib/NCEP/GFS/Global_0p25deg_ana/TP"));
    let tc = tp.time_coverage.as_ref().unwrap();
    assert_eq!(
        tc.range(Utc::now()),
        (
            Some(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()),
            Some(Utc.with_ymd_and_hms(2024, 1, 8, 6, 0, 0).unwrap())
        )
    );
    let latest = &views[1];
    assert_eq!(latest.time_coverage, None);
    assert_eq!(
        latest
            .access
            .iter()
            .map(|a| (a.service_type.as_str(), a.url.as_str()))
            .collect::<Vec<_>>(),
        [(
            "Resolver",
            "https://thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/latest.xml"
        )]
    );

    let Some(rap) = load(
        "siphon/thredds-test.unidata.ucar.edu/thredds/catalog/grib/NCEP/RAP/CONUS_13km/catalog__2015-05-27.xml",
    ) else {
        return;
    };
    let views = rap.views();
    let kinds: Vec<DynamicKind> = views.iter().map(|v| v.kind).collect();
    assert_eq!(
        kinds,
        [DynamicKind::TwoD, DynamicKind::Best, DynamicKind::Latest]
    );
    let best = &views[1];
    assert_eq!(best.name, "Best Rapid Refresh CONUS 13km Time Series");
    assert_eq!(best.id.as_deref(), Some("grib/NCEP/RAP/CONUS_13km/Best"));
    assert_eq!(best.access.len(), 8);
    assert_eq!(
        best.access[0].url,
        "https://thredds-test.unidata.ucar.edu/thredds/dodsC/grib/NCEP/RAP/CONUS_13km/Best"
    );
    // Its own coverage, not the collection's inherited "present minus 45 days".
    assert_eq!(
        best.time_coverage.as_ref().unwrap().range(Utc::now()).1,
        Some(Utc.with_ymd_and_hms(2015, 5, 27, 19, 0, 0).unwrap())
    );
    assert_eq!(views[2].time_coverage, None);
    assert_eq!(
        views[2].access[0].url,
        "https://thredds-test.unidata.ucar.edu/thredds/catalog/grib/NCEP/RAP/CONUS_13km/latest.xml"
    );

    for rel in [
        "siphon/thredds.ucar.edu/thredds/idd/forecastModels.xml",
        "siphon/thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/GFS_Global_0p25deg_ana_20240101_0000.grib2/catalog.xml",
        // Server-side configuration (featureCollection elements are what a TDS reads, not
        // what it serves): nothing in them is a served view.
        "unidata-thredds/tds/src/test/content/thredds/catalogFmrc.xml",
        "unidata-thredds/tds/src/test/content/thredds/catalogGrib.xml",
        "unidata-thredds/tds/src/test/content/thredds/catalogs5/catalogGrib5.xml",
    ] {
        let Some(cat) = load(rel) else { return };
        assert!(cat.views().is_empty(), "{rel}: {:?}", cat.views());
    }
}
