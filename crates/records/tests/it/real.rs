//! Records built from every real THREDDS catalog and every real ISO record in
//! `shared/fixtures/real/` must validate against the ISO 19139 schemas.

#![allow(clippy::unwrap_used)]

use super::common;

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use threddex_catalog::{Url, parse_catalog};
use threddex_records::{
    BBox, Extent, SeriesInput, granule_record, series_from_iso, summary, synthesize, update_extent,
};
use threddex_store::{AccessService, CollectionUpsert, Granule};

const LEAVES_PER_CATALOG: usize = 4;

fn services() -> Vec<AccessService> {
    let s = |name: &str, t: &str, base: &str, suffix: &str| AccessService {
        name: name.into(),
        service_type: t.into(),
        base: base.into(),
        suffix: suffix.into(),
    };
    vec![
        s("odap", "OPENDAP", "https://tds.example/thredds/dodsC/", ""),
        s(
            "http",
            "HTTPServer",
            "https://tds.example/thredds/fileServer/",
            "",
        ),
        s(
            "wms",
            "WMS",
            "https://tds.example/thredds/wms/",
            "?service=WMS&request=GetCapabilities",
        ),
        s("iso", "ISO", "https://tds.example/thredds/iso/", ""),
    ]
}

fn granule(collection: &str, id: &str) -> Granule {
    Granule {
        collection_id: collection.into(),
        granule_id: id.into(),
        name: format!("{id}.nc"),
        start: Some(Utc.with_ymd_and_hms(2018, 12, 23, 0, 0, 0).unwrap()),
        end: None,
        url_path: Some(format!("grib/{id}.nc")),
        size: Some(123_456_789),
        modified: None,
        catalog_url: "https://tds.example/thredds/catalog/grib/catalog.xml".into(),
    }
}

#[test]
fn synthesized_records_from_real_catalogs_validate() {
    let Some(real) = common::real_dir() else {
        return;
    };
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let stamp = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = Vec::new();
    let (mut catalogs, mut with_bbox, mut with_vars, mut with_time) = (0, 0, 0, 0);
    let (mut series_bytes, mut granule_bytes) = (0usize, 0usize);
    for (ci, path) in common::files_under(&real).into_iter().enumerate() {
        if path.extension().is_none_or(|e| e != "xml") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let rel = path
            .strip_prefix(&real)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let url = Url::parse(&format!("https://fixture.example/{rel}")).unwrap();
        let Ok(cat) = parse_catalog(&bytes, &url) else {
            continue;
        };
        let leaves = cat.leaves();
        if leaves.is_empty() {
            continue;
        }
        catalogs += 1;
        for (li, leaf) in leaves.iter().take(LEAVES_PER_CATALOG).enumerate() {
            let svcs: Vec<AccessService> = leaf
                .access_services(&cat)
                .into_iter()
                .map(|a| AccessService {
                    name: a.service_name,
                    service_type: a.service_type.as_str().to_string(),
                    base: a.base,
                    suffix: a.suffix,
                })
                .collect();
            let id = leaf
                .id()
                .map(str::to_string)
                .unwrap_or_else(|| leaf.name().to_string());
            let c = CollectionUpsert {
                id: format!("test:{id}"),
                source_id: 1,
                title: leaf.name().to_string(),
                template: None,
                catalog_url: url.to_string(),
                services: svcs.clone(),
                metadata: serde_json::to_value(&leaf.meta).unwrap(),
                ..Default::default()
            };
            let input = SeriesInput::from_collection(&c, Some("https://threddex.example/"));
            let (start, end) = leaf.time_range(now);
            let extent = Extent::new(start, end);
            with_bbox += usize::from(input.bbox.is_some());
            with_vars += usize::from(!input.variables.is_empty());
            with_time += usize::from(!extent.is_empty());
            let series = synthesize(&input, &extent, stamp);
            series_bytes += series.len();
            let sum = summary(&series).unwrap();
            assert_eq!(sum.id, c.id);
            assert_eq!(sum.hierarchy_level.as_deref(), Some("series"));
            assert_eq!(sum.extent, extent, "{rel}");
            assert_eq!(sum.modified, Some(stamp));
            files.push(common::write(
                dir.path(),
                &format!("c{ci}-l{li}-series.xml"),
                &series,
            ));
            let g = Granule {
                collection_id: c.id.clone(),
                granule_id: id.clone(),
                name: leaf.name().to_string(),
                start,
                end,
                url_path: leaf.url_path().map(str::to_string),
                size: leaf.size_bytes().and_then(|s| i64::try_from(s).ok()),
                modified: leaf.modified(),
                catalog_url: url.to_string(),
            };
            let gr = granule_record(&series, &g, &svcs).unwrap();
            granule_bytes += gr.len();
            let gs = summary(&gr).unwrap();
            assert_eq!(gs.id, id);
            assert_eq!(gs.parent_id.as_deref(), Some(c.id.as_str()));
            assert_eq!(gs.hierarchy_level.as_deref(), Some("dataset"));
            if let Some(p) = leaf.url_path() {
                for s in svcs
                    .iter()
                    .filter(|s| s.service_type.eq_ignore_ascii_case("OPENDAP"))
                {
                    assert!(
                        gs.links.iter().any(|l| l.url == s.url_for(p)),
                        "{rel}: {:?}",
                        gs.links
                    );
                }
            }
            files.push(common::write(
                dir.path(),
                &format!("c{ci}-l{li}-granule.xml"),
                &gr,
            ));
        }
    }
    let n = files.len() / 2;
    eprintln!(
        "{catalogs} catalogs, {n} collections ({with_bbox} with bbox, {with_vars} with variables, {with_time} with time); \
         mean series record {} B, mean granule record {} B",
        series_bytes / n.max(1),
        granule_bytes / n.max(1)
    );
    assert!(
        catalogs >= 30,
        "expected most real catalogs to parse, got {catalogs}"
    );
    assert!(with_bbox > 0 && with_vars > 0 && with_time > 0);
    common::validate(&files, "--gmd");
}

fn sample_input() -> SeriesInput {
    SeriesInput {
        id: "edu.ucar.unidata:grib/NCEP/GEFS/Global_1p0deg_Ensemble/members-analysis/GEFS_Global_1p0deg_Ensemble_ana_{time}.grib2".into(),
        title: "GEFS Global 1.0deg Ensemble analysis".into(),
        abstract_text: Some("Collection abstract".into()),
        services: services(),
        catalog_url: Some("https://tds.example/thredds/catalog/grib/catalog.xml".into()),
        search_url: Some("https://threddex.example/index?collection=x".into()),
        bbox: Some(BBox { west: 170.0, east: -170.0, south: -10.0, north: 10.0 }),
        data_format: Some("GRIB-2".into()),
        ..Default::default()
    }
}

#[test]
fn series_from_real_iso_records_validate() {
    let Some(real) = common::real_dir() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let extent = Extent::new(
        Some(Utc.with_ymd_and_hms(2018, 1, 1, 0, 0, 0).unwrap()),
        Some(Utc.with_ymd_and_hms(2019, 1, 1, 0, 0, 0).unwrap()),
    );
    let stamp = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    let later = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
    let input = sample_input();
    let mut files = Vec::new();
    for (i, path) in common::iso_fixtures(&real).iter().enumerate() {
        let xml = std::fs::read(path).unwrap();
        let series = series_from_iso(&xml, &input, &extent, stamp)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let s = summary(&series).unwrap();
        assert_eq!(s.id, input.id, "{}", path.display());
        assert_eq!(s.title.as_deref(), Some(input.title.as_str()));
        assert_eq!(s.hierarchy_level.as_deref(), Some("series"));
        assert_eq!(s.extent, extent, "{}", path.display());
        assert_eq!(s.modified, Some(stamp));
        let b = s.bbox.unwrap();
        assert_eq!((b.west, b.east), (170.0, -170.0), "{}", path.display());
        assert!(
            s.links
                .iter()
                .any(|l| l.protocol.as_deref() == Some("OPeNDAP:OPeNDAP"))
        );
        assert!(
            s.links
                .iter()
                .any(|l| l.function.as_deref() == Some("search"))
        );
        assert!(!series.contains("SV_ServiceIdentification"));
        // Granule URLs of the sample are gone from the distribution.
        assert!(
            !s.links.iter().any(|l| l.url.contains("20181223_0000")),
            "{:?}",
            s.links
        );
        files.push(common::write(
            dir.path(),
            &format!("iso{i}-series.xml"),
            &series,
        ));

        let newer = Extent::new(extent.start, Some(later));
        let moved = update_extent(&series, &newer, later).unwrap();
        let ms = summary(&moved).unwrap();
        assert_eq!(ms.extent, newer);
        assert_eq!(ms.modified, Some(later));
        assert_eq!(
            update_extent(&moved, &newer, stamp).unwrap(),
            moved,
            "unchanged extent keeps the record"
        );
        files.push(common::write(
            dir.path(),
            &format!("iso{i}-updated.xml"),
            &moved,
        ));

        let g = granule(&input.id, &format!("GEFS_{i}"));
        let gr = granule_record(&series, &g, &input.services).unwrap();
        let gs = summary(&gr).unwrap();
        assert_eq!(gs.id, g.granule_id);
        assert_eq!(gs.parent_id.as_deref(), Some(input.id.as_str()));
        assert_eq!(gs.extent, Extent::new(g.start, g.start));
        assert!(
            gs.links
                .iter()
                .any(|l| l.url == format!("https://tds.example/thredds/dodsC/grib/GEFS_{i}.nc"))
        );
        files.push(common::write(
            dir.path(),
            &format!("iso{i}-granule.xml"),
            &gr,
        ));
    }
    common::validate(&files, "--auto");
}

#[test]
fn ncis_record_keeps_server_content_but_reescaped() {
    let Some(real) = common::real_dir() else {
        return;
    };
    let path = &common::iso_fixtures(&real)[1];
    let xml = std::fs::read(path).unwrap();
    let series = series_from_iso(&xml, &sample_input(), &Extent::default(), Utc::now()).unwrap();
    // Content information and the server's distributor contact survive.
    assert!(
        series.contains("gmi:MI_CoverageDescription")
            || series.contains("gmd:MD_CoverageDescription")
    );
    assert!(series.contains("UCAR/UNIDATA"));
    assert!(series.contains("<gmd:MD_ScopeCode"));
    assert!(
        !series.contains("gml:TimePeriod"),
        "empty extent: no time period"
    );
    assert!(!series.contains("schemaLocation"));
}
