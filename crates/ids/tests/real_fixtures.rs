//! Every dataset ID in the real captured catalogs (shared/fixtures/real): no panic, idempotent,
//! time read back through the template, and granule series collapse to one collection.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use threddex_ids::{Deriver, read_time};

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
