//! Prints record sizes for the storage comparison: the series record and one granule-level
//! record (compact and pretty-printed), synthesised and from each real ncISO record.
//! Usage: cargo run -p threddex-records --example sizes [ISO-FILE...]
use chrono::{TimeZone, Utc};
use threddex_records::{
    BBox, Extent, SeriesInput, granule_record, pretty, series_from_iso, synthesize,
};
use threddex_store::{AccessService, Granule};

fn svc(name: &str, t: &str, base: &str) -> AccessService {
    AccessService {
        name: name.into(),
        service_type: t.into(),
        base: base.into(),
        suffix: String::new(),
    }
}

fn report(label: &str, series: &str, g: &Granule, services: &[AccessService]) {
    match granule_record(series, g, services) {
        Ok(gr) => {
            let p = pretty(&gr).map(|p| p.len()).unwrap_or(0);
            let n = 200u32;
            let t0 = std::time::Instant::now();
            for _ in 0..n {
                let _ = granule_record(series, g, services);
            }
            let per = t0.elapsed() / n;
            println!(
                "{label}: series {} B, granule record {} B compact / {p} B pretty, granule_record {per:?}/call",
                series.len(),
                gr.len()
            );
        }
        Err(e) => println!("{label}: {e}"),
    }
}

fn main() {
    let t = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let services = vec![
        svc("odap", "OPENDAP", "https://thredds.ucar.edu/thredds/dodsC/"),
        svc(
            "http",
            "HTTPServer",
            "https://thredds.ucar.edu/thredds/fileServer/",
        ),
        svc("wms", "WMS", "https://thredds.ucar.edu/thredds/wms/"),
        svc(
            "ncss",
            "NetcdfSubset",
            "https://thredds.ucar.edu/thredds/ncss/grid/",
        ),
    ];
    let input = SeriesInput {
        id: "edu.ucar.unidata:grib/NCEP/GFS/Global_0p25deg_ana/GFS_Global_0p25deg_ana_{time}.grib2"
            .into(),
        title: "GFS Global 0.25 Degree Analysis".into(),
        abstract_text: Some("Global Forecast System analysis.".into()),
        services: services.clone(),
        catalog_url: Some(
            "https://thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/catalog.xml"
                .into(),
        ),
        search_url: Some("https://threddex.example/index?collection=x".into()),
        bbox: Some(BBox {
            west: -180.0,
            east: 180.0,
            south: -90.0,
            north: 90.0,
        }),
        data_format: Some("GRIB-2".into()),
        data_type: Some("Grid".into()),
        ..Default::default()
    };
    let g = Granule {
        collection_id: input.id.clone(),
        granule_id: "grib/NCEP/GFS/Global_0p25deg_ana/GFS_Global_0p25deg_ana_20240101_0000.grib2"
            .into(),
        name: "GFS_Global_0p25deg_ana_20240101_0000.grib2".into(),
        start: Some(t),
        end: None,
        url_path: Some(
            "grib/NCEP/GFS/Global_0p25deg_ana/GFS_Global_0p25deg_ana_20240101_0000.grib2".into(),
        ),
        size: Some(512_000_000),
        modified: None,
        catalog_url:
            "https://thredds.ucar.edu/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/catalog.xml"
                .into(),
    };
    let extent = Extent::new(Some(t), Some(t));
    report(
        "synthesized (minimal catalog metadata)",
        &synthesize(&input, &extent, t),
        &g,
        &services,
    );
    for path in std::env::args().skip(1) {
        let Ok(xml) = std::fs::read(&path) else {
            continue;
        };
        match series_from_iso(&xml, &input, &extent, t) {
            Ok(s) => report(
                &format!("{path} ({} B ncISO)", xml.len()),
                &s,
                &g,
                &services,
            ),
            Err(e) => println!("{path}: {e}"),
        }
    }
}
