//! Shared test helpers: offline ISO 19139 validation with `shared/schemas/validate-iso.sh`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `../shared` seen from this crate.
pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The real fixtures directory, or None (with a note) when absent outside CI.
pub fn real_dir() -> Option<PathBuf> {
    let d = shared().join("fixtures/real");
    if d.is_dir() {
        return Some(d);
    }
    assert!(!in_ci(), "{} is missing and CI=true", d.display());
    eprintln!("note: {} missing; skipping", d.display());
    None
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn have_xmllint() -> bool {
    Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Validates every file with one call of validate-iso.sh (`mode`: `--gmd`, `--gmi`, `--auto`).
/// Panics listing the errors when any file is invalid. Skips (returns false) only when xmllint
/// or the script is missing and CI is not set.
pub fn validate(files: &[PathBuf], mode: &str) -> bool {
    assert!(!files.is_empty(), "nothing to validate");
    let script = shared().join("schemas/validate-iso.sh");
    if !script.is_file() || !have_xmllint() {
        assert!(
            !in_ci(),
            "xmllint or {} missing and CI=true",
            script.display()
        );
        eprintln!(
            "note: xmllint or validate-iso.sh missing; NOT validating {} records",
            files.len()
        );
        return false;
    }
    let out = Command::new("bash")
        .arg(&script)
        .arg(mode)
        .args(files)
        .output()
        .expect("run validate-iso.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "validation failed:\n{stdout}\n{stderr}"
    );
    let ok = stdout.lines().filter(|l| l.ends_with(" validates")).count();
    assert_eq!(
        ok,
        files.len(),
        "not every file reported valid:\n{stdout}\n{stderr}"
    );
    true
}

/// Writes `content` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write record");
    p
}

/// Every file below `dir` (sorted).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The real ISO records (ncISO and NOAA NGDC ones).
pub fn iso_fixtures(real: &Path) -> Vec<PathBuf> {
    let mut v = vec![
        real.join("unidata-threddsIso/tds-plugin/src/test/resources/thredds/testgrid1.iso.xml"),
        real.join("csiss-thredds-crawler/thredds.ucar.edu/thredds/iso/grib/NCEP/GEFS/Global_1p0deg_Ensemble/members-analysis/GEFS_Global_1p0deg_Ensemble_ana_20181223_0000.grib2.iso.xml"),
        real.join("pycsw/tests/functionaltests/suites/apiso/data/pacioos-NS06agg.xml"),
    ];
    v.extend(files_under(
        &real.join("highsource-ogc-schemas/scripts/tests/ISO19139_2/GMI/1.0"),
    ));
    for p in &v {
        assert!(p.is_file(), "missing fixture {}", p.display());
    }
    v
}
