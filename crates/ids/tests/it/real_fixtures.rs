//! Every dataset ID in the real captured catalogs (shared/fixtures/real): no panic, idempotent,
//! time read back through the template, and granule series collapse to one collection.

#![allow(clippy::unwrap_used)]

use chrono::{Duration, NaiveDate, Timelike};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use threddex_ids::{Deriver, path_date, read_time};

fn root() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/real");
    if p.is_dir() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "fixtures missing at {} and CI=true",
        p.display()
    );
    println!("note: {} missing, skipping", p.display());
    None
}

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            xml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "xml") {
            out.push(p);
        }
    }
}

/// Values of `ID="…"` and `urlPath="…"` attributes (good enough for these fixtures).
fn ids(text: &str) -> Vec<String> {
    let mut v = Vec::new();
    for key in [" ID=\"", " urlPath=\""] {
        let mut rest = text;
        while let Some(i) = rest.find(key) {
            rest = &rest[i + key.len()..];
            if let Some(j) = rest.find('"') {
                v.push(rest[..j].to_owned());
                rest = &rest[j..];
            }
        }
    }
    v
}

#[test]
fn real_ids() {
    let Some(root) = root() else { return };
    let mut files = Vec::new();
    xml_files(&root, &mut files);
    let der = Deriver::new();
    let mut all = BTreeSet::new();
    for f in &files {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        all.extend(ids(&text));
    }
    assert!(all.len() > 500, "only {} ids", all.len());
    let mut by_coll: BTreeMap<String, usize> = BTreeMap::new();
    let mut timed = 0;
    for raw in &all {
        let d = der.derive(raw, "edu.ucar.unidata");
        let again = der.derive(&d.collection_id, "edu.ucar.unidata");
        assert_eq!(
            again.collection_id, d.collection_id,
            "not idempotent: {raw}"
        );
        if let Some(t) = &d.template {
            timed += 1;
            assert_eq!(
                read_time(t, raw),
                Some((d.start.unwrap(), d.end)),
                "{raw} / {t}"
            );
        } else {
            assert_eq!(d.start, None);
        }
        *by_coll.entry(d.collection_id).or_default() += 1;
    }
    assert!(timed > 400, "only {timed} ids with a time");
    for (c, min) in [
        (
            "edu.ucar.unidata:grib/NCEP/GFS/Global_0p25deg_ana/GFS_Global_0p25deg_ana.grib2",
            20,
        ),
        (
            "edu.ucar.unidata:grib/NCEP/RAP/CONUS_13km/RR_CONUS_13km.grib2",
            100,
        ),
        (
            "edu.ucar.unidata:SSEC/IDD-Satellite/VIS/EAST-CONUS_1km/current/EAST-CONUS_1km_VIS.gini",
            50,
        ),
        (
            "edu.ucar.unidata:/opendap/hyrax/SeaWiFS/L3SMI/S.L3m_DAY_CHL_chlor_a_9km.nc",
            1,
        ),
        ("edu.ucar.unidata:mwq/P1A/A.P1A.ANN_MIM_RMP.nc", 10),
    ] {
        let n = by_coll.get(c).copied().unwrap_or(0);
        assert!(n >= min, "{c}: {n} < {min}");
    }
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The fixture's URL path: its name without the `source/host` prefix.
fn url_path(rel: &str) -> String {
    let rest = rel.splitn(3, '/').nth(2).unwrap();
    format!("/{rest}")
}

/// Granule ids (with a file extension) of one captured catalog, deduplicated.
fn granule_ids(root: &Path, rel: &str, ext: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(&std::fs::read(root.join(rel)).unwrap()).into_owned();
    let set: BTreeSet<String> = ids(&text)
        .into_iter()
        .filter(|i| i.ends_with(ext) && !i.contains('?'))
        .collect();
    set.into_iter().collect()
}

/// Real day folders (NCEI `namanl/YYYYMM/YYYYMMDD`, the SeaWiFS Hyrax `YYYY/DDD`): the
/// catalog's date, and the same real granules laid out in every dated folder chain (with an
/// hour folder too) or moved to another day keep their collection.
#[test]
fn real_dated_folder_chains() {
    let Some(root) = root() else { return };
    let der = Deriver::new();
    let auth = "gov.noaa.ncei.www";

    let rel = "siphon/www.ncei.noaa.gov/thredds/catalog/namanl/201802/20180220/catalog.xml";
    assert_eq!(path_date(&url_path(rel)), Some(ymd(2018, 2, 20)));
    let granules = granule_ids(&root, rel, ".grb2");
    assert!(granules.len() >= 5, "only {} granules", granules.len());
    let mut colls = BTreeSet::new();
    for g in &granules {
        let d0 = der.derive(g, auth);
        let start = d0.start.unwrap();
        assert_eq!(start.date_naive(), ymd(2018, 2, 20), "{g}");
        colls.insert(d0.collection_id.clone());
        let file = g.strip_prefix("namanl/201802/20180220/").unwrap();
        let hh = format!("{:02}", start.hour());
        for chain in [
            "2018/02/20",
            "2018/0220",
            "2018/051",
            "2018051",
            "2018-02-20",
            "20180220",
            "201802/20180220",
        ] {
            for hour in ["", hh.as_str()] {
                let folder = if hour.is_empty() {
                    chain.to_owned()
                } else {
                    format!("{chain}/{hour}")
                };
                let raw = format!("namanl/{folder}/{file}");
                let d = der.derive(&raw, auth);
                assert_eq!(d.collection_id, d0.collection_id, "{raw}");
                assert_eq!(d.start, Some(start), "{raw}");
                let tpl = d.template.unwrap();
                assert!(
                    threddex_ids::renders_back(&tpl, &raw, start, d.end),
                    "{raw}"
                );
            }
        }
        let next = g.replace("20180220", "20180221");
        let d1 = der.derive(&next, auth);
        assert_eq!(d1.collection_id, d0.collection_id, "{next}");
        assert_eq!(d1.start, Some(start + Duration::days(1)), "{next}");
    }
    // One collection per forecast hour (`_000` … `_006`), not per granule, run or day.
    assert_eq!(
        colls.into_iter().collect::<Vec<_>>(),
        ["000", "001", "002", "003", "006"].map(|h| format!("{auth}:namanl/namanl_218_{h}.grb2"))
    );

    let rel = "siphon/oceandata.sci.gsfc.nasa.gov/opendap/SeaWiFS/L3SMI/2001/001/catalog.xml";
    assert_eq!(path_date(&url_path(rel)), Some(ymd(2001, 1, 1)));
    assert_eq!(
        path_date("/opendap/hyrax/SeaWiFS/L3SMI/2001/001/"),
        Some(ymd(2001, 1, 1))
    );
    let granules = granule_ids(&root, rel, ".nc");
    assert!(granules.len() >= 10, "only {} granules", granules.len());
    let day1: Vec<&String> = granules
        .iter()
        .filter(|g| g.contains("/2001/001/S2001001."))
        .collect();
    assert!(day1.len() >= 10, "only {} day-1 granules", day1.len());
    for g in day1 {
        let d0 = der.derive(g, auth);
        assert_eq!(d0.start.unwrap().date_naive(), ymd(2001, 1, 1), "{g}");
        assert!(!d0.collection_id.contains("2001"), "{g}");
        let next = g.replace("2001/001/S2001001.", "2001/002/S2001002.");
        let d1 = der.derive(&next, auth);
        assert_eq!(d1.collection_id, d0.collection_id, "{next}");
        assert_eq!(d1.start.unwrap().date_naive(), ymd(2001, 1, 2), "{next}");
    }
}
