//! Prints the series record built from an ISO file given as argument (development aid).
use chrono::{TimeZone, Utc};
use threddex_records::{BBox, Extent, SeriesInput, series_from_iso};
use threddex_store::AccessService;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: demo FILE.iso.xml");
        std::process::exit(2);
    };
    let xml = std::fs::read(&path).unwrap_or_default();
    let input = SeriesInput {
        id: "demo:collection".into(),
        title: "Demo collection".into(),
        services: vec![AccessService {
            name: "odap".into(),
            service_type: "OPENDAP".into(),
            base: "https://tds.example/dodsC/".into(),
            suffix: String::new(),
        }],
        catalog_url: Some("https://tds.example/catalog.xml".into()),
        bbox: Some(BBox {
            west: -10.0,
            east: 10.0,
            south: -5.0,
            north: 5.0,
        }),
        ..Default::default()
    };
    let stamp = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    match series_from_iso(&xml, &input, &Extent::new(Some(stamp), Some(stamp)), stamp) {
        Ok(s) => print!("{s}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
