//! Generated trees: shape, exact counts, determinism.
#![allow(clippy::unwrap_used)]

use super::common;

use common::{get, parse, t, walk};
use threddex_sim::*;

fn nexrad(products: usize, stations: usize, days: usize, fpd: usize) -> TreeSpec {
    TreeSpec::Nexrad(NexradSpec {
        products,
        stations,
        days,
        files_per_day: fpd,
    })
}

async fn check_counts(spec: TreeSpec, now: &str) -> common::Walk {
    let server = SimServer::start(SimConfig {
        tree: spec.clone(),
        clock: SimClock::fixed(t(now)),
        ..Default::default()
    })
    .await
    .unwrap();
    let w = walk(&reqwest::Client::new(), &server.root_catalog_url()).await;
    assert_eq!(w.catalogs.len() as u64, catalog_count(&spec), "catalogs");
    assert_eq!(
        w.granule_ids.len() as u64,
        granule_count_at(&spec, t(now)),
        "granules"
    );
    assert_eq!(server.granule_count(), granule_count_at(&spec, t(now)));
    // The truth the server reports is exactly what a client walking it finds.
    let listed: std::collections::HashSet<String> =
        server.listed_granules().into_iter().map(|g| g.id).collect();
    assert_eq!(listed, w.granule_ids, "listed granules");
    assert_eq!(server.counters().total(), w.catalogs.len() as u64);
    server.shutdown().await;
    w
}

#[tokio::test]
async fn nexrad_walk_matches_counts() {
    let spec = nexrad(2, 3, 3, 24);
    // At the default time every day is full.
    let w = check_counts(spec.clone(), DEFAULT_TIME).await;
    assert_eq!(w.granule_ids.len(), 2 * 3 * 3 * 24);
    assert_eq!(granule_count(&spec), 2 * 3 * 3 * 24);
    assert_eq!(catalog_count(&spec), 1 + 1 + 2 + 6 + 18);
    // Mid-day: today holds 00:00..=12:00 → 13 hourly files.
    let w = check_counts(spec.clone(), "2024-03-10T12:00:00Z").await;
    assert_eq!(w.granule_ids.len(), 2 * 3 * (2 * 24 + 13));
    let id = "NWS/NEXRAD3/N0Q/FTG/20240310/Level3_FTG_N0Q_20240310_1200.nids";
    assert!(w.granule_ids.contains(id), "{id}");
    assert!(
        !w.granule_ids
            .contains("NWS/NEXRAD3/N0Q/FTG/20240310/Level3_FTG_N0Q_20240310_1300.nids")
    );
    assert!(
        w.granule_ids
            .contains("NWS/NEXRAD3/N0U/TLX/20240308/Level3_TLX_N0U_20240308_2300.nids")
    );
    assert!(!w.granule_ids.iter().any(|i| i.contains("20240307")));
}

#[tokio::test]
async fn nexrad_uneven_and_synthetic_names() {
    // 7 files/day (uneven spacing), more products/stations than the real lists.
    let spec = nexrad(27, 31, 1, 7);
    check_counts(spec, "2024-03-10T15:00:00Z").await;
    // Very dense: 1440/day (one per minute), 2000 clamps to 1440.
    assert_eq!(granule_count(&nexrad(1, 1, 1, 2000)), 1440);
    check_counts(nexrad(1, 1, 2, 2000), "2024-03-10T00:10:30Z").await;
}

#[tokio::test]
async fn goes_walk_matches_counts_and_names() {
    let spec = TreeSpec::Goes(GoesSpec {
        sectors: 2,
        channels: 3,
        days: 2,
        files_per_day: 96,
        ..GoesSpec::default()
    });
    let w = check_counts(spec.clone(), "2019-08-31T06:00:00Z").await;
    assert_eq!(w.granule_ids.len(), 2 * 3 * (96 + 25));
    let id = "goes-east-products/CloudAndMoistureImagery/Mesoscale-1/Channel03/20190831/OR_ABI-L2-CMIPM1-M6C03_G16_s20192430600000_e20192430600277_c20192430600340.nc";
    assert!(
        w.granule_ids.contains(id),
        "{:?}",
        w.granule_ids.iter().take(3).collect::<Vec<_>>()
    );
    check_counts(spec, DEFAULT_TIME).await;
}

#[tokio::test]
async fn model_runs_walk_matches_counts() {
    let spec = TreeSpec::ModelRuns(ModelSpec {
        models: 10,
        runs: 5,
    });
    let w = check_counts(spec.clone(), "2024-01-08T13:00:00Z").await;
    assert_eq!(w.granule_ids.len(), 50);
    // Root, NCEP top, then per model its collection catalog and one catalog per run file.
    assert_eq!(catalog_count(&spec), 1 + 1 + 10 * (1 + 5));
    assert!(
        w.granule_ids
            .contains("grib/NCEP/GFS/Global_0p25deg/GFS_Global_0p25deg_20240108_1200.grib2")
    );
    assert!(
        w.granule_ids
            .contains("grib/NCEP/GFS/Global_0p25deg/GFS_Global_0p25deg_20240107_1800.grib2")
    );
    assert!(
        !w.granule_ids
            .iter()
            .any(|i| i.ends_with("20240107_0600.grib2"))
    );
    // TwoD + Best + every run file (the latest.xml resolver dataset has no ID).
    assert_eq!(w.leaf_datasets, 10 * (2 + 5));
}

/// The collection catalog follows Unidata's GRIB feature collections (RAP CONUS 13km, TDS
/// 4.6; GFS 0.25° analysis, TDS 5; both in shared/fixtures/real/siphon).
#[tokio::test]
async fn model_catalog_shape() {
    let server = SimServer::start(SimConfig {
        tree: TreeSpec::ModelRuns(ModelSpec { models: 1, runs: 3 }),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = format!(
        "{}/thredds/catalog/grib/NCEP/GFS/Global_0p25deg",
        server.base_url()
    );
    let body = get(&format!("{base}/catalog.xml"))
        .await
        .text()
        .await
        .unwrap();
    let p = parse(&body).unwrap();
    let names = [
        "GFS_Global_0p25deg_20240108_1800.grib2",
        "GFS_Global_0p25deg_20240108_1200.grib2",
        "GFS_Global_0p25deg_20240108_0600.grib2",
    ];
    let refs: Vec<String> = names
        .iter()
        .map(|n| format!("/thredds/catalog/grib/NCEP/GFS/Global_0p25deg/{n}/catalog.xml"))
        .collect();
    assert_eq!(p.refs, refs);
    let views: Vec<&str> = p.datasets.iter().map(|d| d.1.as_str()).collect();
    assert_eq!(
        views,
        [
            "grib/NCEP/GFS/Global_0p25deg/TwoD",
            "grib/NCEP/GFS/Global_0p25deg/Best"
        ]
    );
    assert!(body.contains("serviceType=\"Resolver\"") && body.contains("urlPath=\"latest.xml\""));
    assert!(body.contains("<end>present</end>") && body.contains("<duration>18 hours</duration>"));
    let latest = get(&format!("{base}/latest.xml"))
        .await
        .text()
        .await
        .unwrap();
    let lp = parse(&latest).unwrap();
    assert_eq!(lp.datasets.len(), 1);
    assert!(lp.datasets[0].0.ends_with(names[0]));
    // Each run file's own catalog: one dataset with its own absolute time coverage.
    for n in names {
        let body = get(&format!("{base}/{n}/catalog.xml"))
            .await
            .text()
            .await
            .unwrap();
        let fp = parse(&body).unwrap();
        assert_eq!(fp.datasets.len(), 1, "{n}");
        assert!(fp.datasets[0].0.ends_with(n));
        assert!(
            body.contains("<timeCoverage>") && !body.contains("present"),
            "{body}"
        );
    }
    // A run the server no longer keeps: 404.
    let gone = get(&format!(
        "{base}/GFS_Global_0p25deg_20240108_0000.grib2/catalog.xml"
    ))
    .await;
    assert_eq!(gone.status(), 404);
    server.shutdown().await;
}

/// Flat rolling listings follow Unidata's satellite `current/` folder: files of the last
/// days newest first, the oldest leaving as the clock moves.
#[tokio::test]
async fn current_listing_rolls() {
    let spec = TreeSpec::Current(CurrentSpec {
        bands: 2,
        sectors: 2,
        every_minutes: 60,
        days: 1,
    });
    let w = check_counts(spec.clone(), "2024-01-08T12:30:00Z").await;
    assert_eq!(w.granule_ids.len(), 2 * 2 * 24);
    assert_eq!(catalog_count(&spec), 1 + 1 + 2 + 4 + 4);
    assert!(w.granule_ids.contains(
        "SSEC/IDD-Satellite/VIS/EAST-CONUS_1km/current/EAST-CONUS_1km_VIS_20240108_1200.gini"
    ));
    assert!(w.granule_ids.contains(
        "SSEC/IDD-Satellite/IR/WEST-CONUS_4km/current/WEST-CONUS_4km_IR_20240107_1300.gini"
    ));
    let w = check_counts(spec, "2024-01-08T13:00:00Z").await;
    assert!(
        !w.granule_ids
            .iter()
            .any(|i| i.ends_with("20240107_1300.gini"))
    );
    assert!(
        w.granule_ids
            .iter()
            .any(|i| i.ends_with("20240108_1300.gini"))
    );
}

/// NOAA's GOES archive layout: `{YYYY}/{DDD}/{HH}/`, only hours holding files, the same
/// files as the day layout.
#[tokio::test]
async fn goes_hourly_layout() {
    let spec = |layout| {
        TreeSpec::Goes(GoesSpec {
            sectors: 1,
            channels: 2,
            days: 2,
            files_per_day: 6,
            layout,
        })
    };
    let hourly = spec(GoesLayout::YearDayHour);
    let w = check_counts(hourly.clone(), "2019-08-31T23:59:00Z").await;
    // Per channel: a year folder, 2 day-of-year folders, 6 hour folders each.
    assert_eq!(catalog_count(&hourly), 1 + 1 + 1 + 2 + 2 * (1 + 2 + 2 * 6));
    assert!(w.granule_ids.contains(
        "goes-east-products/CloudAndMoistureImagery/Mesoscale-1/Channel01/2019/243/04/OR_ABI-L2-CMIPM1-M6C01_G16_s20192430400000_e20192430400277_c20192430400340.nc"
    ));
    // The same files, named alike, as the day layout lists.
    let names = |ids: &std::collections::HashSet<String>| {
        let mut v: Vec<String> = ids
            .iter()
            .map(|i| i.rsplit('/').next().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    let daily = check_counts(spec(GoesLayout::DayFolders), "2019-08-31T23:59:00Z").await;
    assert_eq!(names(&w.granule_ids), names(&daily.granule_ids));
    // Mid-day: today's later hour folders do not exist yet.
    let server = SimServer::start(SimConfig {
        tree: hourly,
        clock: SimClock::fixed(t("2019-08-31T09:00:00Z")),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = format!(
        "{}/thredds/catalog/satellite/goes/east/products/CloudAndMoistureImagery/Mesoscale-1/Channel01",
        server.base_url()
    );
    let day = parse(
        &get(&format!("{base}/2019/243/catalog.xml"))
            .await
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        day.refs,
        ["08/catalog.xml", "04/catalog.xml", "00/catalog.xml"]
    );
    assert_eq!(
        get(&format!("{base}/2019/243/12/catalog.xml"))
            .await
            .status(),
        404
    );
    assert_eq!(
        get(&format!("{base}/2019/240/catalog.xml")).await.status(),
        404
    );
    server.shutdown().await;
}

#[tokio::test]
async fn mixed_and_empty() {
    let spec = TreeSpec::Mixed(vec![
        nexrad(1, 2, 2, 6),
        TreeSpec::Goes(GoesSpec::default()),
        TreeSpec::Mixed(vec![
            TreeSpec::ModelRuns(ModelSpec::default()),
            nexrad(2, 1, 1, 4),
        ]),
        TreeSpec::Empty,
    ]);
    let w = check_counts(spec, "2024-05-01T08:30:00Z").await;
    assert!(
        w.granule_ids
            .iter()
            .any(|i| i.starts_with("NWS/NEXRAD3-2/"))
    );
    let w = check_counts(TreeSpec::Empty, DEFAULT_TIME).await;
    assert_eq!(w.catalogs.len(), 1);
    assert_eq!(w.granule_ids.len(), 0);
}

#[tokio::test]
async fn day_catalog_shape_order_and_determinism() {
    let start = |seed| {
        SimServer::start(SimConfig {
            tree: nexrad(1, 1, 3, 4),
            seed,
            ..Default::default()
        })
    };
    let a = start(7).await.unwrap();
    let b = start(7).await.unwrap();
    let c = start(8).await.unwrap();
    let station = format!(
        "{}/thredds/catalog/nexrad/level3/N0Q/FTG/catalog.xml",
        a.base_url()
    );
    let p = parse(&get(&station).await.text().await.unwrap()).unwrap();
    assert_eq!(
        p.refs,
        [
            "20240108/catalog.xml",
            "20240107/catalog.xml",
            "20240106/catalog.xml"
        ]
    );
    let path = "/thredds/catalog/nexrad/level3/N0Q/FTG/20240107/catalog.xml";
    let body_a = get(&format!("{}{path}", a.base_url()))
        .await
        .text()
        .await
        .unwrap();
    let body_b = get(&format!("{}{path}", b.base_url()))
        .await
        .text()
        .await
        .unwrap();
    let body_c = get(&format!("{}{path}", c.base_url()))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(body_a, body_b);
    assert_ne!(body_a, body_c, "sizes depend on the seed");
    assert!(body_a.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<catalog xmlns=\"http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0\" xmlns:xlink=\"http://www.w3.org/1999/xlink\""));
    for needle in [
        "version=\"1.2\"",
        "serviceType=\"Compound\"",
        "base=\"/thredds/fileServer/\"",
        "<metadata inherited=\"true\">",
        "<serviceName>RadarServices</serviceName>",
        "<authority>edu.ucar.unidata</authority>",
        "<dataType>RADIAL</dataType>",
        "<dataFormat>NEXRAD-3</dataFormat>",
        "<dataSize units=\"Kbytes\">",
        "<date type=\"modified\">2024-01-07T18:00:00Z</date>",
        "urlPath=\"nexrad/level3/N0Q/FTG/20240107/Level3_FTG_N0Q_20240107_1800.nids\"",
    ] {
        assert!(body_a.contains(needle), "missing {needle}");
    }
    let p = parse(&body_a).unwrap();
    let times: Vec<_> = p
        .datasets
        .iter()
        .map(|d| d.0[d.0.len() - 9..d.0.len() - 5].to_owned())
        .collect();
    assert_eq!(times, ["1800", "1200", "0600", "0000"], "newest first");
    // Out-of-window day, unknown product/station: 404.
    for bad in [
        "/thredds/catalog/nexrad/level3/N0Q/FTG/20240105/catalog.xml",
        "/thredds/catalog/nexrad/level3/N0Q/FTG/20240109/catalog.xml",
        "/thredds/catalog/nexrad/level3/XXX/catalog.xml",
        "/thredds/catalog/nexrad/level3/N0Q/TLX/catalog.xml",
        "/nope",
        "/robots.txt",
    ] {
        assert_eq!(
            get(&format!("{}{bad}", a.base_url())).await.status(),
            404,
            "{bad}"
        );
    }
    for s in [a, b, c] {
        s.shutdown().await;
    }
}

#[tokio::test]
async fn html_twin_and_robots() {
    let server = SimServer::start(SimConfig {
        robots_txt: Some("User-agent: *\nDisallow: /private/\n".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let r = get(&format!(
        "{}/thredds/catalog/nexrad/level3/N0Q/catalog.html",
        server.base_url()
    ))
    .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains("href=\"catalog.xml\""));
    let r = get(&format!(
        "{}/thredds/catalog/nexrad/level3/ZZZ/catalog.html",
        server.base_url()
    ))
    .await;
    assert_eq!(r.status(), 404);
    let r = get(&format!("{}/robots.txt", server.base_url())).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Disallow: /private/"));
    let r = reqwest::Client::new()
        .post(server.root_catalog_url())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    server.shutdown().await;
}
