//! The ISO service of the model-run tree (`/thredds/iso/{urlPath}`): ncISO-like records per
//! granule, deterministic, counted; the NEXRAD tree has no ISO service.
#![allow(clippy::unwrap_used)]

use threddex_sim::*;

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn model_runs_serve_ncis_records() {
    let server = SimServer::start(SimConfig {
        tree: TreeSpec::ModelRuns(ModelSpec { models: 2, runs: 3 }),
        clock: SimClock::fixed(default_time()),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = server.base_url();
    let files = format!("{base}/thredds/catalog/grib/NCEP/GFS/Global_0p25deg/files/catalog.xml");
    let (status, catalog) = get(&files).await;
    assert_eq!(status, 200);
    assert!(catalog.contains("serviceType=\"ISO\"") && catalog.contains("/thredds/iso/"));
    // The newest run file (default clock 2024-01-08T23:59:59Z: latest run 18:00).
    let id = "grib/NCEP/GFS/Global_0p25deg/files/GFS_Global_0p25deg_20240108_1800.grib2";
    assert!(catalog.contains(id));
    let path = format!("/thredds/iso/{id}?catalog=x&dataset={id}");
    let (status, a) = get(&format!("{base}{path}")).await;
    assert_eq!(status, 200);
    let (_, b) = get(&format!("{base}{path}")).await;
    assert_eq!(a, b, "deterministic");
    assert_eq!(server.counters().for_path(&path), 2);
    assert!(a.starts_with("<?xml") && a.contains("<gmi:MI_Metadata"));
    assert!(a.len() > 20_000 && a.len() < 100_000, "{} bytes", a.len());
    assert!(a.contains(&format!("<gco:CharacterString>{id}</gco:CharacterString>")));
    assert!(a.contains("2024-01-08T18:00:00Z") && a.contains("2024-01-24T18:00:00Z"));
    assert!(
        a.contains(&format!("{base}/thredds/dodsC/{id}")),
        "links use the Host"
    );
    // Well-formed XML.
    let mut reader = quick_xml::Reader::from_str(&a);
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Eof => break,
            _ => continue,
        }
    }
    // A run that is not listed, another tree's path, or a bad path: 404.
    for p in [
        "/thredds/iso/grib/NCEP/GFS/Global_0p25deg/files/GFS_Global_0p25deg_20200101_0000.grib2",
        "/thredds/iso/grib/NCEP/NOPE/files/x.grib2",
        "/thredds/iso/",
    ] {
        assert_eq!(get(&format!("{base}{p}")).await.0, 404, "{p}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn nexrad_has_no_iso_service() {
    let server = SimServer::start(SimConfig::default()).await.unwrap();
    let base = server.base_url();
    let (_, top) = get(&format!("{base}/thredds/catalog/nexrad/level3/catalog.xml")).await;
    assert!(!top.contains("serviceType=\"ISO\""), "{top}");
    let (status, _) = get(&format!(
        "{base}/thredds/iso/nexrad/level3/N0Q/FTG/20240108/Level3_FTG_N0Q_20240108_0000.nids"
    ))
    .await;
    assert_eq!(status, 404);
    server.shutdown().await;
}
