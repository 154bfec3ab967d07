//! The paper's three cases, real-world ids, and the grammar's accept/reject table.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use threddex_ids::{Derived, Deriver};

const AUTH: &str = "edu.ucar.unidata";

fn d(raw: &str) -> Derived {
    Deriver::new().derive(raw, AUTH)
}

fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn coll(raw: &str) -> String {
    d(raw).collection_id
}

fn start(raw: &str) -> Option<DateTime<Utc>> {
    d(raw).start
}

#[test]
fn paper_nexrad() {
    let r = d("NWS/NEXRAD3/PTA/YUX/20190830/Level3_YUX_PTA_20190830_1713.nids");
    assert_eq!(
        r.collection_id,
        "edu.ucar.unidata:NWS/NEXRAD3/PTA/YUX/Level3_YUX_PTA.nids"
    );
    assert_eq!(r.start, Some(t(2019, 8, 30, 17, 13, 0)));
    assert_eq!(r.end, None);
    assert_eq!(
        r.template.as_deref(),
        Some("NWS/NEXRAD3/PTA/YUX/{yyyyMMdd}/Level3_YUX_PTA_{yyyyMMdd_HHmm}.nids")
    );
}

#[test]
fn paper_gefs() {
    let r = d(
        "grib/NCEP/GEFS/Global_1p0deg_Ensemble/members-analysis/GEFS_Global_1p0deg_Ensemble_ana_20190731_0000.grib2",
    );
    assert_eq!(
        r.collection_id,
        "edu.ucar.unidata:grib/NCEP/GEFS/Global_1p0deg_Ensemble/members-analysis/GEFS_Global_1p0deg_Ensemble_ana.grib2"
    );
    assert_eq!(r.start, Some(t(2019, 7, 31, 0, 0, 0)));
}

#[test]
fn paper_goes() {
    let r = d(
        "goes-west-products/CloudAndMoistureImagery/Mesoscale-2/Channel16/20190831/OR_ABI-L2-CMIPM2-M6C16_G17_s20192430003570_e20192430003570_c20192430003570.nc",
    );
    assert_eq!(
        r.collection_id,
        "edu.ucar.unidata:goes-west-products/CloudAndMoistureImagery/Mesoscale-2/Channel16/OR_ABI-L2-CMIPM2-M6C16_G17.nc"
    );
    assert_eq!(r.start, Some(t(2019, 8, 31, 0, 3, 57)));
    assert_eq!(r.end, Some(t(2019, 8, 31, 0, 3, 57)));
}

#[test]
fn goes_end_and_tenths_and_creation_ignored() {
    let r = d("OR_ABI-L1b-RadC-M6C01_G16_s20192430001234_e20192430003579_c20192440000001.nc");
    assert_eq!(
        r.collection_id,
        "edu.ucar.unidata:OR_ABI-L1b-RadC-M6C01_G16.nc"
    );
    let s = r.start.unwrap();
    assert_eq!(
        s,
        t(2019, 8, 31, 0, 1, 23) + chrono::Duration::milliseconds(400)
    );
    let e = r.end.unwrap();
    assert_eq!(
        e,
        t(2019, 8, 31, 0, 3, 57) + chrono::Duration::milliseconds(900)
    );
    // c (2019-09-01) is not used as a time
    assert!(e < t(2019, 9, 1, 0, 0, 0));
}

#[test]
fn real_gfs_ana() {
    let r = d("grib/NCEP/GFS/Global_0p25deg_ana/GFS_Global_0p25deg_ana_20240101_0000.grib2");
    assert_eq!(
        r.collection_id,
        "edu.ucar.unidata:grib/NCEP/GFS/Global_0p25deg_ana/GFS_Global_0p25deg_ana.grib2"
    );
    assert_eq!(r.start, Some(t(2024, 1, 1, 0, 0, 0)));
    assert_eq!(
        coll("GFS_Global_0p25deg_ana_20240101_0000.grib2"),
        "edu.ucar.unidata:GFS_Global_0p25deg_ana.grib2"
    );
}

#[test]
fn real_ncei_namanl_both_folders_removed() {
    let r = Deriver::new().derive(
        "namanl/201802/20180220/namanl_218_20180220_0000_000.grb",
        "gov.noaa.ncei.www",
    );
    assert_eq!(
        r.collection_id,
        "gov.noaa.ncei.www:namanl/namanl_218_000.grb"
    );
    assert_eq!(r.start, Some(t(2018, 2, 20, 0, 0, 0)));
}

#[test]
fn real_obpg_seawifs() {
    let r = d("/opendap/hyrax/SeaWiFS/L3SMI/2001/001/S2001001.L3m_DAY_CHL_chlor_a_9km.nc");
    assert_eq!(
        r.collection_id,
        "edu.ucar.unidata:/opendap/hyrax/SeaWiFS/L3SMI/S.L3m_DAY_CHL_chlor_a_9km.nc"
    );
    assert_eq!(r.start, Some(t(2001, 1, 1, 0, 0, 0)));
    assert_eq!(r.end, None);
    // 8-day composite: start day + end day (exclusive end = the day after)
    let r = d("S20010012001008.L3m_8D_CHL_chlor_a_9km.nc");
    assert_eq!(
        r.collection_id,
        "edu.ucar.unidata:S.L3m_8D_CHL_chlor_a_9km.nc"
    );
    assert_eq!(r.start, Some(t(2001, 1, 1, 0, 0, 0)));
    assert_eq!(r.end, Some(t(2001, 1, 9, 0, 0, 0)));
    // other sensors, leap-year day 366
    assert_eq!(
        start("A2019001.L3m_DAY_SST_sst_4km.nc"),
        Some(t(2019, 1, 1, 0, 0, 0))
    );
    assert_eq!(
        start("T2000366.L3m_DAY_SST_sst_4km.nc"),
        Some(t(2000, 12, 31, 0, 0, 0))
    );
    assert_eq!(start("T2001366.L3m_DAY_SST_sst_4km.nc"), None);
    // L2 granule with time of day
    assert_eq!(
        start("A2019001123000.L2_LAC_OC.nc"),
        Some(t(2019, 1, 1, 12, 30, 0))
    );
    // only at the start of a file name
    assert_eq!(start("foo/XA2019001.nc"), None);
    assert_eq!(start("foo/x_A2019001.nc"), None);
}

#[test]
fn real_ereefs_letter_prefixed_yyyymmdd() {
    let r = d("mwq/P1A/A20020101.P1A.ANN_MIM_RMP.nc");
    assert_eq!(
        r.collection_id,
        "edu.ucar.unidata:mwq/P1A/A.P1A.ANN_MIM_RMP.nc"
    );
    assert_eq!(r.start, Some(t(2002, 1, 1, 0, 0, 0)));
}

#[test]
fn real_cmip_ranges() {
    let r = d("tas_Amon_ACCESS1-0_historical_r1i1p1_185001-200512.nc");
    assert_eq!(
        r.collection_id,
        "edu.ucar.unidata:tas_Amon_ACCESS1-0_historical_r1i1p1.nc"
    );
    assert_eq!(r.start, Some(t(1850, 1, 1, 0, 0, 0)));
    assert_eq!(r.end, Some(t(2006, 1, 1, 0, 0, 0)));
    let r = d("tas_day_MIROC5_rcp85_r1i1p1_20150101-21001231.nc");
    assert_eq!(
        r.collection_id,
        "edu.ucar.unidata:tas_day_MIROC5_rcp85_r1i1p1.nc"
    );
    assert_eq!(r.start, Some(t(2015, 1, 1, 0, 0, 0)));
    assert_eq!(r.end, Some(t(2101, 1, 1, 0, 0, 0)));
    let r = d("201501-210012.nc");
    assert_eq!(r.end, Some(t(2101, 1, 1, 0, 0, 0)));
    // 6-hourly: the end is the instant written
    let r = d("ua_6hrLev_X_185001010000-185012311800.nc");
    assert_eq!(r.collection_id, "edu.ucar.unidata:ua_6hrLev_X.nc");
    assert_eq!(r.end, Some(t(1850, 12, 31, 18, 0, 0)));
    // reversed range is not a range; both ends are still timestamps
    let r = d("x_200512-185001.nc");
    assert_eq!(r.collection_id, "edu.ucar.unidata:x.nc");
    assert_eq!(r.start, Some(t(2005, 12, 1, 0, 0, 0)));
    assert_eq!(r.end, None);
    // years out of range (CMIP3 control runs in year 2400): left alone
    assert_eq!(
        coll("cmip3_data/ta_A2_2400-2409.nc"),
        "edu.ucar.unidata:cmip3_data/ta_A2_2400-2409.nc"
    );
    // year range
    let r = d("sst_1998-2005.nc");
    assert_eq!(r.collection_id, "edu.ucar.unidata:sst.nc");
    assert_eq!(r.end, Some(t(2006, 1, 1, 0, 0, 0)));
}

#[test]
fn real_misc() {
    let r = d("fx3-gbr4/gbr4_simple_2016-06.nc");
    assert_eq!(r.collection_id, "edu.ucar.unidata:fx3-gbr4/gbr4_simple.nc");
    assert_eq!(r.start, Some(t(2016, 6, 1, 0, 0, 0)));
    let r = d("noaaport-text/tropical/atlantic/hdob/High_density_obs_20170719.txt");
    assert_eq!(
        r.collection_id,
        "edu.ucar.unidata:noaaport-text/tropical/atlantic/hdob/High_density_obs.txt"
    );
    let r =
        d("SSEC/IDD-Satellite/VIS/EAST-CONUS_1km/current/EAST-CONUS_1km_VIS_20170719_0530.gini");
    assert_eq!(
        r.collection_id,
        "edu.ucar.unidata:SSEC/IDD-Satellite/VIS/EAST-CONUS_1km/current/EAST-CONUS_1km_VIS.gini"
    );
    assert_eq!(r.start, Some(t(2017, 7, 19, 5, 30, 0)));
}

#[test]
fn live_names_are_not_timestamps() {
    for raw in [
        "latest.xml",
        "grib/NCEP/RAP/CONUS_13km/Best",
        "grib/NCEP/GFS/Global_0p25deg_ana/TP",
        "latestComplete.xml",
        "cmip3.ipsl_cm4.pdcntrl.run1.day.ta.v1",
    ] {
        let r = d(raw);
        assert_eq!(r.collection_id, format!("{AUTH}:{raw}"), "{raw}");
        assert_eq!(r.start, None);
        assert_eq!(r.template, None);
    }
}

#[test]
fn no_timestamp_is_its_own_collection() {
    for raw in [
        "Level3_YUX_PTA.nids",
        "sst_v2_0p25deg.nc",
        "GEFS_Global_1p0deg_Ensemble_ana.grib2",
        "OR_ABI-L2-CMIPM2-M6C16_G17.nc",
        "a__b",
        "x/y/z",
        "",
        "données/température_été.nc",
    ] {
        assert_eq!(coll(raw), format!("{AUTH}:{raw}"));
    }
}

#[test]
fn grammar_accepts() {
    let cases: &[(&str, DateTime<Utc>)] = &[
        ("x_20190830.nc", t(2019, 8, 30, 0, 0, 0)),
        ("x_20190830_1713.nc", t(2019, 8, 30, 17, 13, 0)),
        ("x_20190830T1713.nc", t(2019, 8, 30, 17, 13, 0)),
        ("x_20190830.1713.nc", t(2019, 8, 30, 17, 13, 0)),
        ("x_20190830_171305.nc", t(2019, 8, 30, 17, 13, 5)),
        ("x_20190830T171305Z.nc", t(2019, 8, 30, 17, 13, 5)),
        ("x_2019083017.nc", t(2019, 8, 30, 17, 0, 0)),
        ("x_201908301713.nc", t(2019, 8, 30, 17, 13, 0)),
        ("x_20190830171305.nc", t(2019, 8, 30, 17, 13, 5)),
        ("x_201908.nc", t(2019, 8, 1, 0, 0, 0)),
        ("x_2019-08-30.nc", t(2019, 8, 30, 0, 0, 0)),
        ("x_2019-08.nc", t(2019, 8, 1, 0, 0, 0)),
        ("x_2019-08-30T17:13.nc", t(2019, 8, 30, 17, 13, 0)),
        ("x_2019-08-30T17:13:05Z.nc", t(2019, 8, 30, 17, 13, 5)),
        ("x_2019243.nc", t(2019, 8, 31, 0, 0, 0)),
        ("sst_1998.nc", t(1998, 1, 1, 0, 0, 0)),
        ("data/1998/sst.nc", t(1998, 1, 1, 0, 0, 0)),
        ("data/2019/08/30/x.nc", t(2019, 8, 30, 0, 0, 0)),
        ("data/2019/243/x.nc", t(2019, 8, 31, 0, 0, 0)),
        ("x_18500101.nc", t(1850, 1, 1, 0, 0, 0)),
        ("x_23001231.nc", t(2300, 12, 31, 0, 0, 0)),
        ("x_20000229.nc", t(2000, 2, 29, 0, 0, 0)),
        ("20190830", t(2019, 8, 30, 0, 0, 0)),
    ];
    for (raw, want) in cases {
        assert_eq!(start(raw), Some(*want), "{raw}");
    }
    let r = d("x_2019-08-30T17:13:05.25Z.nc");
    assert_eq!(r.collection_id, "edu.ucar.unidata:x.nc");
    assert_eq!(
        r.start,
        Some(t(2019, 8, 30, 17, 13, 5) + chrono::Duration::milliseconds(250))
    );
}

#[test]
fn grammar_rejects() {
    for raw in [
        "x_20191330.nc",        // month 13
        "x_20190832.nc",        // day 32
        "x_20190230.nc",        // Feb 30
        "x_20190229.nc",        // not a leap year
        "x_2019083025.nc",      // hour 25
        "x_201908302400.nc",    // hour 24
        "x_201908301760.nc",    // minute 60
        "x_20190830171360.nc",  // second 60
        "x_2019367.nc",         // DDD 367
        "x_2019000.nc",         // DDD 0
        "x_2019-13-01.nc",      // month 13 (2019 alone is still a year, see below)
        "x_17991231.nc",        // before 1800
        "x_23010101.nc",        // after 2300
        "x_201913.nc",          // month 13
        "x_123456789.nc",       // 9 digits
        "x_120190830.nc",       // inside a longer run
        "x_201908301.nc",       // inside a longer run
        "Level3_YUX.nids",      // glued to letters
        "v2019.nc",             // glued
        "x_2019a.nc",           // glued
        "a20190830.nc",         // lower-case letter prefix
        "Global_0p25deg.grib2", // resolution
        "GEFS_1p0deg.grib2",    // resolution
        "M6C16_G17.nc",         // channel/mode/satellite
        "x_v2.nc",              // version
        "x_1713.nc",            // 4 digits outside the year range
        "x_1899.nc",            // bare year before 1900
        "x_2301.nc",            // bare year after 2300
        "x_0.2019.nc",          // decimal number
        "x_2019.5.nc",          // decimal number
        "KFTG20190830.ar2v",    // station glued
    ] {
        let r = d(raw);
        if raw.starts_with("x_2019-13") {
            // `2019` is a bare year; `13` stays
            assert_eq!(r.collection_id, "edu.ucar.unidata:x_13-01.nc");
            continue;
        }
        assert_eq!(r.start, None, "{raw}");
        assert_eq!(r.collection_id, format!("{AUTH}:{raw}"), "{raw}");
    }
    // GOES with an invalid day of year / hour
    assert_eq!(start("X_s20193670003570.nc"), None);
    assert_eq!(start("X_s20192432503570.nc"), None);
    // GOES needs exactly 14 digits
    assert_eq!(start("X_s2019243000357.nc"), None);
}

#[test]
fn separators_collapse() {
    assert_eq!(coll("a_20190830_b"), "edu.ucar.unidata:a_b");
    assert_eq!(coll("a_20190830_1713.nids"), "edu.ucar.unidata:a.nids");
    assert_eq!(coll("a/20190830/b"), "edu.ucar.unidata:a/b");
    assert_eq!(coll("20190830/b"), "edu.ucar.unidata:b");
    assert_eq!(coll("a/20190830"), "edu.ucar.unidata:a");
    assert_eq!(coll("a/b_20190830/c"), "edu.ucar.unidata:a/b/c");
    assert_eq!(coll("a/20190830_b.nc"), "edu.ucar.unidata:a/b.nc");
    assert_eq!(coll("a-20190830-b"), "edu.ucar.unidata:a-b");
    assert_eq!(coll("a__b_20190830"), "edu.ucar.unidata:a__b");
    assert_eq!(coll("a.20190830.nc"), "edu.ucar.unidata:a.nc");
    assert_eq!(coll("a b 2019-08-30"), "edu.ucar.unidata:a b");
}

#[test]
fn authority_prefix_not_doubled() {
    let c = "edu.ucar.unidata:NWS/NEXRAD3/PTA/YUX/Level3_YUX_PTA.nids";
    assert_eq!(coll(c), c);
    let r = d("edu.ucar.unidata:x/20190830/y_20190830_1713.nc");
    assert_eq!(r.collection_id, "edu.ucar.unidata:x/y.nc");
    // another authority's prefix is just text
    assert_eq!(coll("org.other:x"), "edu.ucar.unidata:org.other:x");
    // empty authority: no prefix
    assert_eq!(
        Deriver::new().derive("a_20190830.nc", "").collection_id,
        "a.nc"
    );
}

#[test]
fn extra_rules() {
    let der = Deriver::with_extra_rules(&[r"\d+\.\dN_\d+\.\dW".to_owned()]).unwrap();
    let a = der.derive("meso/Sector_34.0N_82.0W_20190830_1713.nc", AUTH);
    let b = der.derive("meso/Sector_36.5N_90.0W_20190830_1800.nc", AUTH);
    assert_eq!(a.collection_id, "edu.ucar.unidata:meso/Sector.nc");
    assert_eq!(a.collection_id, b.collection_id);
    assert_eq!(a.start, Some(t(2019, 8, 30, 17, 13, 0)));
    assert_eq!(
        a.template.as_deref(),
        Some("meso/Sector_{*}_{yyyyMMdd_HHmm}.nc")
    );
    // without the rule the sector identifies the series
    assert_ne!(
        d("meso/Sector_34.0N_82.0W_20190830_1713.nc").collection_id,
        d("meso/Sector_36.5N_90.0W_20190830_1713.nc").collection_id
    );
    // a rule alone (no time) still removes the token, but gives no template
    let c = der.derive("meso/Sector_34.0N_82.0W.nc", AUTH);
    assert_eq!(c.collection_id, "edu.ucar.unidata:meso/Sector.nc");
    assert_eq!(c.template, None);
    // bad rules are reported
    let err = Deriver::with_extra_rules(&["(unclosed".to_owned()]).unwrap_err();
    assert!(matches!(err, threddex_ids::IdError::BadRule { ref rule, .. } if rule == "(unclosed"));
    assert!(err.to_string().contains("(unclosed"));
    assert!(Deriver::with_extra_rules(&["a".repeat(5000)]).is_err());
}

#[test]
fn derived_serializes() {
    fn assert_ser<T: serde::Serialize>(_: &T) {}
    assert_ser(&d("x_20190830.nc"));
}

/// Dated folders over several levels are stripped like one dated folder; an hour folder
/// directly below a full date is part of it.
#[test]
fn dated_folder_chains_are_stripped() {
    let ms = chrono::Duration::milliseconds;
    let cases: &[(&str, &str, DateTime<Utc>)] = &[
        // GOES-R archive: year / day of year / hour; the file's own time (00:01:26.8) wins.
        (
            "goes16/GRB16/ABI/CONUS/Channel02/2019/243/00/OR_ABI-L1b-RadC-M6C02_G16_s20192430001268_e20192430004041_c20192430004087.nc",
            "goes16/GRB16/ABI/CONUS/Channel02/OR_ABI-L1b-RadC-M6C02_G16.nc",
            t(2019, 8, 31, 0, 1, 26) + ms(800),
        ),
        // year + MMDD
        (
            "data/2000/0101/sst_20000101.nc",
            "data/sst.nc",
            t(2000, 1, 1, 0, 0, 0),
        ),
        (
            "data/2000/1231/sst.nc",
            "data/sst.nc",
            t(2000, 12, 31, 0, 0, 0),
        ),
        // year / month / day: the cycle `_00` in the file name is not a time and stays
        (
            "model/GFS/2019/03/04/gfs_20190304_00.grb2",
            "model/GFS/gfs_00.grb2",
            t(2019, 3, 4, 0, 0, 0),
        ),
        // an hour folder below every kind of full date: the folder's hour is the start
        (
            "data/2019/08/30/12/sst.nc",
            "data/sst.nc",
            t(2019, 8, 30, 12, 0, 0),
        ),
        (
            "data/2000/0229/06/sst.nc",
            "data/sst.nc",
            t(2000, 2, 29, 6, 0, 0),
        ),
        (
            "data/2019/243/23/sst.nc",
            "data/sst.nc",
            t(2019, 8, 31, 23, 0, 0),
        ),
        (
            "data/20190830/05/sst.nc",
            "data/sst.nc",
            t(2019, 8, 30, 5, 0, 0),
        ),
        (
            "data/2019243/05/sst.nc",
            "data/sst.nc",
            t(2019, 8, 31, 5, 0, 0),
        ),
        (
            "data/2019-08-30/05/sst.nc",
            "data/sst.nc",
            t(2019, 8, 30, 5, 0, 0),
        ),
        ("2019/08/30/05/sst.nc", "sst.nc", t(2019, 8, 30, 5, 0, 0)),
        ("data/2019/08/30/05", "data", t(2019, 8, 30, 5, 0, 0)),
        // the hour folder beats a day in the file name; a minute in the file name beats it
        (
            "data/2019/243/07/x_2019243.nc",
            "data/x.nc",
            t(2019, 8, 31, 7, 0, 0),
        ),
        (
            "nexrad/FTG/2019/08/30/17/Level3_FTG_N0Q_20190830_1713.nids",
            "nexrad/FTG/Level3_FTG_N0Q.nids",
            t(2019, 8, 30, 17, 13, 0),
        ),
        // a month folder above a day folder above an hour folder
        (
            "namanl/201802/20180220/06/namanl_218_20180220_0600_003.grb2",
            "namanl/namanl_218_003.grb2",
            t(2018, 2, 20, 6, 0, 0),
        ),
        // a year folder above a compact day folder
        (
            "data/2019/20190830/12/x.nc",
            "data/x.nc",
            t(2019, 8, 30, 12, 0, 0),
        ),
    ];
    for (raw, want, start) in cases {
        let r = d(raw);
        assert_eq!(r.collection_id, format!("{AUTH}:{want}"), "{raw}");
        assert_eq!(r.start, Some(*start), "{raw}");
        // deriving from the collection id gives it back
        assert_eq!(coll(&r.collection_id), r.collection_id, "{raw}");
    }
    // The chain is one placeholder of the template, and the name renders back.
    let raw = "data/2019/243/07/x.nc";
    let r = d(raw);
    assert_eq!(r.template.as_deref(), Some("data/{yyyy/DDD/HH}/x.nc"));
    let tpl = r.template.unwrap();
    assert!(threddex_ids::renders_back(
        &tpl,
        raw,
        r.start.unwrap(),
        r.end
    ));
    assert_eq!(
        threddex_ids::read_time(&tpl, "data/2020/366/23/x.nc"),
        Some((t(2020, 12, 31, 23, 0, 0), None))
    );
    assert_eq!(threddex_ids::read_time(&tpl, "data/2019/366/23/x.nc"), None);
    assert_eq!(threddex_ids::read_time(&tpl, "data/2019/243/24/x.nc"), None);
    assert_eq!(
        d("data/2000/0101/sst.nc").template.as_deref(),
        Some("data/{yyyy/MMdd}/sst.nc")
    );
    assert_eq!(
        d("data/2019-08-30/05/sst.nc").template.as_deref(),
        Some("data/{yyyy-MM-dd/HH}/sst.nc")
    );
    // Granules of one GOES series in different day/hour folders: one collection.
    let a = d(
        "goes16/GRB16/ABI/CONUS/Channel02/2019/243/00/OR_ABI-L1b-RadC-M6C02_G16_s20192430001268_e20192430004041_c20192430004087.nc",
    );
    let b = d(
        "goes16/GRB16/ABI/CONUS/Channel02/2019/244/13/OR_ABI-L1b-RadC-M6C02_G16_s20192441356268_e20192441359041_c20192441359087.nc",
    );
    assert_eq!(a.collection_id, b.collection_id);
    assert_eq!(a.template, b.template);
    assert_eq!(b.start, Some(t(2019, 9, 1, 13, 56, 26) + ms(800)));
    assert_eq!(b.end, Some(t(2019, 9, 1, 13, 59, 4) + ms(100)));
}

/// What looks like a dated folder but is not one stays in the collection id.
#[test]
fn not_dated_folders_stay() {
    // (raw, collection, start)
    let cases: &[(&str, &str, Option<DateTime<Utc>>)] = &[
        ("runs/0001/out.nc", "runs/0001/out.nc", None),
        ("runs/v2/out.nc", "runs/v2/out.nc", None),
        ("runs/00/out.nc", "runs/00/out.nc", None), // a lone hour-like folder
        ("runs/23/00/out.nc", "runs/23/00/out.nc", None),
        ("clim/0101/x.nc", "clim/0101/x.nc", None), // MMDD not under a year folder
        ("clim/v2/0101/x.nc", "clim/v2/0101/x.nc", None),
        ("clim/1899/0101/x.nc", "clim/1899/0101/x.nc", None), // not a year folder
        // an hour-like folder below a month or year folder is not an hour
        (
            "data/2019/08/00/x.nc",
            "data/00/x.nc",
            Some(t(2019, 8, 1, 0, 0, 0)),
        ),
        (
            "data/201908/00/x.nc",
            "data/00/x.nc",
            Some(t(2019, 8, 1, 0, 0, 0)),
        ),
        (
            "data/2019/00/x.nc",
            "data/00/x.nc",
            Some(t(2019, 1, 1, 0, 0, 0)),
        ),
        // hour 24, an hour that is not a whole segment, or not two digits
        (
            "data/2019/0101/24/x.nc",
            "data/24/x.nc",
            Some(t(2019, 1, 1, 0, 0, 0)),
        ),
        (
            "data/20190101/24/x.nc",
            "data/24/x.nc",
            Some(t(2019, 1, 1, 0, 0, 0)),
        ),
        (
            "data/2019/243/00h/x.nc",
            "data/00h/x.nc",
            Some(t(2019, 8, 31, 0, 0, 0)),
        ),
        (
            "data/2019/243/7/x.nc",
            "data/7/x.nc",
            Some(t(2019, 8, 31, 0, 0, 0)),
        ),
        (
            "data/2019/243/0000/x.nc",
            "data/0000/x.nc",
            Some(t(2019, 8, 31, 0, 0, 0)),
        ),
        // a date that is not a whole folder: its hour-like neighbour is not an hour
        (
            "data/x_20190830/05/y.nc",
            "data/x/05/y.nc",
            Some(t(2019, 8, 30, 0, 0, 0)),
        ),
        // invalid month/day/day-of-year: not a date (the year folder alone is a year)
        (
            "data/2019/1301/x.nc",
            "data/1301/x.nc",
            Some(t(2019, 1, 1, 0, 0, 0)),
        ),
        (
            "data/2019/0230/x.nc",
            "data/0230/x.nc",
            Some(t(2019, 1, 1, 0, 0, 0)),
        ),
        (
            "data/2019/0000/x.nc",
            "data/0000/x.nc",
            Some(t(2019, 1, 1, 0, 0, 0)),
        ),
        (
            "data/2019/367/x.nc",
            "data/367/x.nc",
            Some(t(2019, 1, 1, 0, 0, 0)),
        ),
        (
            "data/2019/13/01/x.nc",
            "data/13/01/x.nc",
            Some(t(2019, 1, 1, 0, 0, 0)),
        ),
        // a year folder followed by another year folder
        (
            "data/1998/2005/x.nc",
            "data/x.nc",
            Some(t(2005, 1, 1, 0, 0, 0)),
        ),
    ];
    for (raw, want, start) in cases {
        let r = d(raw);
        assert_eq!(r.collection_id, format!("{AUTH}:{want}"), "{raw}");
        assert_eq!(r.start, *start, "{raw}");
    }
}
