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
    // The newest run file (default clock 2024-01-08T23:59:59Z: latest run 18:00), listed by
    // the collection catalog and described by its own catalog.
    let id = "grib/NCEP/GFS/Global_0p25deg/GFS_Global_0p25deg_20240108_1800.grib2";
    let (status, collection) = get(&format!(
        "{base}/thredds/catalog/grib/NCEP/GFS/Global_0p25deg/catalog.xml"
    ))
    .await;
    assert_eq!(status, 200);
    assert!(collection.contains(&format!("/thredds/catalog/{id}/catalog.xml")));
    let (status, catalog) = get(&format!("{base}/thredds/catalog/{id}/catalog.xml")).await;
    assert_eq!(status, 200);
    assert!(catalog.contains("serviceType=\"ISO\"") && catalog.contains("/thredds/iso/"));
    assert!(catalog.contains(&format!("ID=\"{id}\"")));
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
        "/thredds/iso/grib/NCEP/GFS/Global_0p25deg/GFS_Global_0p25deg_20200101_0000.grib2",
        "/thredds/iso/grib/NCEP/NOPE/x.grib2",
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

/// Every tree that advertises an ISO service serves a record for each granule it lists (a
/// crawler building collection records from a sample granule never meets a 404), and none
/// for a granule it does not list.
#[tokio::test]
async fn every_tree_with_an_iso_service_serves_records() {
    let spec = TreeSpec::Mixed(vec![
        TreeSpec::Goes(GoesSpec {
            sectors: 1,
            channels: 1,
            days: 2,
            files_per_day: 3,
            ..GoesSpec::default()
        }),
        TreeSpec::ModelRuns(ModelSpec { models: 1, runs: 2 }),
        TreeSpec::Current(CurrentSpec {
            every_minutes: 360,
            ..CurrentSpec::default()
        }),
    ]);
    let server = SimServer::start(SimConfig {
        tree: spec,
        clock: SimClock::fixed(default_time()),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = server.base_url();
    let listed = server.listed_granules();
    // GOES: 2 days of 3 files; 2 model runs; 4 files of the last day every 6 h.
    assert_eq!(listed.len(), 6 + 2 + 4, "{listed:?}");
    for g in &listed {
        let (status, body) = get(&format!("{base}/thredds/iso/{}", g.url_path)).await;
        assert_eq!(status, 200, "{}", g.url_path);
        assert!(body.contains("<gmi:MI_Metadata"), "{}", g.url_path);
        let date = g.time.format("%Y-%m-%d").to_string();
        assert!(body.contains(&date), "{} lacks {date}", g.url_path);
    }
    // Unlisted files of the same trees: 404.
    for p in [
        "satellite/VIS/EAST-CONUS_1km/current/EAST-CONUS_1km_VIS_20240101_0000.gini",
        "satellite/goes/east/products/CloudAndMoistureImagery/Mesoscale-1/Channel01/20240101/x.nc",
    ] {
        assert_eq!(get(&format!("{base}/thredds/iso/{p}")).await.0, 404, "{p}");
    }
    server.shutdown().await;
}
