//! `read_time`, `path_date`, `is_live_name`, `authority_from_host`.

#![allow(clippy::unwrap_used)]

use chrono::{NaiveDate, TimeZone, Utc};
use threddex_ids::{Deriver, authority_from_host, is_live_name, path_date, read_time};

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn read_time_reads_other_granules_of_the_collection() {
    let der = Deriver::new();
    let a = der.derive(
        "NWS/NEXRAD3/PTA/YUX/20190830/Level3_YUX_PTA_20190830_1713.nids",
        "edu.ucar.unidata",
    );
    let tpl = a.template.unwrap();
    let (s, e) = read_time(
        &tpl,
        "NWS/NEXRAD3/PTA/YUX/20200101/Level3_YUX_PTA_20200101_0005.nids",
    )
    .unwrap();
    assert_eq!(s, Utc.with_ymd_and_hms(2020, 1, 1, 0, 5, 0).unwrap());
    assert_eq!(e, None);
    // other station: literal mismatch
    assert_eq!(
        read_time(
            &tpl,
            "NWS/NEXRAD3/PTA/FTG/20200101/Level3_FTG_PTA_20200101_0005.nids"
        ),
        None
    );
    // invalid time in the right place
    assert_eq!(
        read_time(
            &tpl,
            "NWS/NEXRAD3/PTA/YUX/20201301/Level3_YUX_PTA_20201301_0005.nids"
        ),
        None
    );
    assert_eq!(
        read_time(
            &tpl,
            "NWS/NEXRAD3/PTA/YUX/20200101/Level3_YUX_PTA_20200101_2505.nids"
        ),
        None
    );
}

#[test]
fn read_time_goes_and_ranges() {
    let der = Deriver::new();
    let raw = "OR_ABI-L2-CMIPM2-M6C16_G17_s20192430003570_e20192430004270_c20192430004330.nc";
    let d = der.derive(raw, "a");
    let tpl = d.template.clone().unwrap();
    assert_eq!(
        tpl,
        "OR_ABI-L2-CMIPM2-M6C16_G17_s{yyyyDDDHHmmssf}_e{yyyyDDDHHmmssf|end}_c{yyyyDDDHHmmssf|skip}.nc"
    );
    assert_eq!(read_time(&tpl, raw), Some((d.start.unwrap(), d.end)));
    let (s, e) = read_time(
        &tpl,
        "OR_ABI-L2-CMIPM2-M6C16_G17_s20200010000000_e20200010000305_c20200010000400.nc",
    )
    .unwrap();
    assert_eq!(s, Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap());
    assert_eq!(
        e,
        Some(
            Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 30).unwrap()
                + chrono::Duration::milliseconds(500)
        )
    );

    let raw = "tas_Amon_ACCESS1-0_historical_r1i1p1_185001-200512.nc";
    let d = der.derive(raw, "a");
    let tpl = d.template.unwrap();
    assert_eq!(
        tpl,
        "tas_Amon_ACCESS1-0_historical_r1i1p1_{yyyyMM}-{yyyyMM|end}.nc"
    );
    let (s, e) = read_time(
        &tpl,
        "tas_Amon_ACCESS1-0_historical_r1i1p1_200601-210012.nc",
    )
    .unwrap();
    assert_eq!(s, Utc.with_ymd_and_hms(2006, 1, 1, 0, 0, 0).unwrap());
    assert_eq!(e, Some(Utc.with_ymd_and_hms(2101, 1, 1, 0, 0, 0).unwrap()));
}

#[test]
fn read_time_wildcards_and_escapes() {
    let der = Deriver::with_extra_rules(&[r"\d+\.\dN_\d+\.\dW".to_owned()]).unwrap();
    let d = der.derive("meso/{x}_34.0N_82.0W_2019-08-30T17:13:00Z.nc", "a");
    let tpl = d.template.unwrap();
    assert_eq!(tpl, "meso/{{x}}_{*}_{yyyy-MM-ddTHH:mm:ss}Z.nc");
    let (s, _) = read_time(&tpl, "meso/{x}_1.5N_100.25W_2021-02-03T04:05:06Z.nc").unwrap();
    assert_eq!(s, Utc.with_ymd_and_hms(2021, 2, 3, 4, 5, 6).unwrap());
    assert_eq!(read_time(&tpl, "meso/{x}__2021-02-03T04:05:06Z.nc"), None);
}

#[test]
fn read_time_rejects_malformed_templates() {
    for tpl in [
        "{",
        "x}",
        "{yyyyMM|later}",
        "{qq}",
        "{}",
        "{MM}",
        "{yyyMM}",
        "{yyyy",
        "{*",
    ] {
        assert_eq!(read_time(tpl, "201908"), None, "{tpl}");
    }
    assert!(read_time("{yyyyMM}", "201908").is_some());
    assert_eq!(read_time("{yyyyMM}", "201908x"), None);
    assert_eq!(
        read_time("{yyyyMM|end}", "201908"),
        None,
        "an end alone has no start"
    );
    let long = "x".repeat(5000);
    assert_eq!(read_time(&long, &long), None);
    // pathological wildcards terminate
    let tpl = "{*}{*}{*}{*}{*}{*}{*}{*}{yyyyMMdd}";
    assert_eq!(read_time(tpl, &"a".repeat(3000)), None);
}

#[test]
fn path_date_cases() {
    assert_eq!(
        path_date("nexrad/level3/NMD/FTG/20170719/catalog.xml"),
        Some(ymd(2017, 7, 19))
    );
    assert_eq!(path_date("namanl/201802/20180220"), Some(ymd(2018, 2, 20)));
    assert_eq!(path_date("namanl/201802/"), None);
    assert_eq!(path_date("a/2019-08-30/b"), Some(ymd(2019, 8, 30)));
    assert_eq!(path_date("a/2019/08/30/"), Some(ymd(2019, 8, 30)));
    assert_eq!(
        path_date("SeaWiFS/L3SMI/2001/001/catalog.xml"),
        Some(ymd(2001, 1, 1))
    );
    assert_eq!(path_date("a/2019243"), Some(ymd(2019, 8, 31)));
    assert_eq!(path_date("a/20190830/x/20200101/y"), Some(ymd(2020, 1, 1)));
    assert_eq!(
        path_date(
            "https://thredds.ucar.edu/thredds/catalog/nexrad/20170719/catalog.xml?dataset=x/20990101"
        ),
        Some(ymd(2017, 7, 19))
    );
    for p in [
        "a/20191301",
        "a/2019/13/01",
        "a/2019367",
        "a/2019/367",
        "a/b",
        "",
        "latest.xml",
        "a/2019",
    ] {
        assert_eq!(path_date(p), None, "{p}");
    }
}

#[test]
fn path_date_of_folder_chains() {
    for (p, want) in [
        ("data/2000/0101/catalog.xml", ymd(2000, 1, 1)),
        ("data/2000/0229/catalog.xml", ymd(2000, 2, 29)),
        (
            "goes16/GRB16/ABI/CONUS/Channel02/2019/243/00/catalog.xml",
            ymd(2019, 8, 31),
        ),
        ("goes16/Channel02/2019/243/catalog.xml", ymd(2019, 8, 31)),
        ("a/2019/08/30/23/catalog.xml", ymd(2019, 8, 30)),
        ("a/2000/0101/06/catalog.xml", ymd(2000, 1, 1)),
        ("a/20190830/05/catalog.xml", ymd(2019, 8, 30)),
        ("a/2019243/05", ymd(2019, 8, 31)),
        ("a/2019-08-30/05/x/catalog.xml", ymd(2019, 8, 30)),
        // an invalid hour folder below the day: still the day's folder
        ("a/2019/243/24/catalog.xml", ymd(2019, 8, 31)),
        // a year folder above a compact day folder
        ("a/2019/20190830/catalog.xml", ymd(2019, 8, 30)),
        (
            "https://h/thredds/catalog/a/2019/243/00/catalog.xml?dataset=x/2099/001",
            ymd(2019, 8, 31),
        ),
    ] {
        assert_eq!(path_date(p), Some(want), "{p}");
    }
    for p in [
        "runs/0001/catalog.xml",
        "runs/v2/catalog.xml",
        "runs/00/catalog.xml",
        "clim/0101/catalog.xml",
        "a/2019/1301/catalog.xml",
        "a/2019/0230/catalog.xml",
        "a/2019/08/00/catalog.xml",
        "a/201908/00/catalog.xml",
        "a/1899/0101/catalog.xml",
        "a/x_20190830/05/catalog.xml",
    ] {
        assert_eq!(path_date(p), None, "{p}");
    }
}

#[test]
fn is_live_name_cases() {
    for s in [
        "latest",
        "Latest",
        "current",
        "satellite/VIS/EAST-CONUS_1km/current/catalog.xml",
        "realtime",
        "Best",
        "grib/NCEP/RAP/CONUS_13km/Best",
        "Best GFS Quarter Degree Forecast Time Series",
        "Forecast Model Run Collection (2D time coordinates)",
        "Constant Forecast Offset",
        "Constant Forecast Date",
        "TwoD",
        "Full Collection (Reference / Forecast Time) Dataset",
        "latest.xml",
        "grib/NCEP/GFS/Global_0p25deg_ana/latest.xml",
        "latestComplete.xml",
        "resolver",
        "fmrc/NCEP/GFS/Global_0p5deg/NCEP-GFS-Global_0p5deg_best.ncd",
    ] {
        assert!(is_live_name(s), "{s}");
    }
    for s in [
        "GFS_Global_0p25deg_ana_20240101_0000.grib2",
        "satellite/VIS/EAST-CONUS_1km/current/EAST-CONUS_1km_VIS_20170719_0530.gini",
        "20170719",
        "bestiary",
        "Level3_YUX_PTA.nids",
        "",
        "collection",
    ] {
        assert!(!is_live_name(s), "{s}");
    }
}

#[test]
fn authority_cases() {
    assert_eq!(authority_from_host("thredds.ucar.edu"), "edu.ucar.thredds");
    assert_eq!(authority_from_host("THREDDS.UCAR.EDU."), "edu.ucar.thredds");
    assert_eq!(
        authority_from_host("www.ncei.noaa.gov"),
        "gov.noaa.ncei.www"
    );
    assert_eq!(
        authority_from_host("thredds.ucar.edu:443"),
        "edu.ucar.thredds"
    );
    assert_eq!(
        authority_from_host("thredds.ucar.edu:8080"),
        "edu.ucar.thredds_8080"
    );
    assert_eq!(
        authority_from_host("https://user@thredds.ucar.edu:8443/thredds/catalog.xml"),
        "edu.ucar.thredds_8443"
    );
    assert_eq!(authority_from_host("127.0.0.1"), "127.0.0.1");
    assert_eq!(authority_from_host("127.0.0.1:8081"), "127.0.0.1_8081");
    assert_eq!(authority_from_host("localhost:8081"), "localhost_8081");
    assert_eq!(authority_from_host("localhost"), "localhost");
    assert_eq!(
        authority_from_host("[::1]:8080"),
        "ipv6-0-0-0-0-0-0-0-1_8080"
    );
    assert_eq!(authority_from_host("::1"), "ipv6-0-0-0-0-0-0-0-1");
    assert_eq!(authority_from_host(""), "unknown");
    for h in ["a:b:c", "ex ample.org", "é.org:80", "[zz"] {
        let a = authority_from_host(h);
        assert!(!a.contains(':') && !a.is_empty(), "{h} -> {a}");
    }
}
