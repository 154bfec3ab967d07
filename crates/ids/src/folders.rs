//! Classification helpers for catalog folders and names: dated (archival) folders and live
//! views.

use crate::scan::{folder_chain, run};
use chrono::NaiveDate;

/// The date of a dated folder path: the last dated folder chain of `path`.
///
/// A dated folder chain is what the identity rules strip as one dated folder (see the crate
/// README): whole path segments `YYYYMMDD`, `YYYY-MM-DD`, `YYYYDDD` (day of year), `YYYY/MM/DD`,
/// `YYYY/MMDD` or `YYYY/DDD`, optionally followed by an hour folder `HH` (00–23) whose date
/// is the day above it. Month or year folders alone (`201802`, `2019`, `2019/08`) are not
/// dates, nor is an hour-like folder not directly below a full date. A query (`?…`) or
/// fragment (`#…`) is ignored, so a catalog URL works too. Values are validated (no month
/// 13, no DDD 367, no hour 24).
pub fn path_date(path: &str) -> Option<NaiveDate> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let b = path.as_bytes();
    let mut found: Option<NaiveDate> = None;
    // `a` is always the start of a path segment.
    let mut a = 0usize;
    while a < b.len() {
        let e = a + run(b, a);
        if e > a
            && let Some(t) = folder_chain(b, a, e)
            && let Some(p) = t.parts.first().copied().flatten()
        {
            found = Some(p.value.date());
            a = t.end;
        }
        match b.get(a..).and_then(|s| s.iter().position(|&c| c == b'/')) {
            Some(k) => a += k + 1,
            None => break,
        }
    }
    found
}

/// Whether a name or path denotes a live (moving) view rather than an archival dataset:
/// `latest`, `current`, `realtime`, `Best`, the forecast-run views of a GRIB/FMRC collection
/// (`Forecast Model Run…`, `Constant Forecast…`, `TwoD`, `Full Collection…`, `…_best.ncd`),
/// the resolver documents `latest.xml` and `latestComplete.xml`, or a `resolver` service.
///
/// Of a path only the last segment counts (a trailing `catalog.xml`/`catalog.html` is skipped and a
/// query ignored), so the granules inside a `current/` folder are not live themselves, but the
/// folder `…/current/catalog.xml` is. Input with a space is taken as a whole (a title).
/// Case-insensitive.
pub fn is_live_name(name_or_path: &str) -> bool {
    let p = name_or_path.split(['?', '#']).next().unwrap_or("");
    // A title with spaces ("Full Collection (Reference / Forecast Time)") is a name, not a path.
    let last = if p.trim().contains(' ') {
        p
    } else {
        let mut segs = p.rsplit('/').filter(|s| !s.trim().is_empty());
        let last = segs.next().unwrap_or("");
        if last.eq_ignore_ascii_case("catalog.xml") || last.eq_ignore_ascii_case("catalog.html") {
            segs.next().unwrap_or("")
        } else {
            last
        }
    };
    let l = last.trim().to_ascii_lowercase();
    const EXACT: [&str; 11] = [
        "latest",
        "current",
        "realtime",
        "real-time",
        "best",
        "twod",
        "latest.xml",
        "latestcomplete.xml",
        "resolver",
        "latest.html",
        "latestcomplete.html",
    ];
    const CONTAINS: [&str; 7] = [
        "forecast model run",
        "constant forecast",
        "full collection",
        "best time series",
        "latest collection",
        "latest reference",
        "_best.ncd",
    ];
    EXACT.contains(&l.as_str()) || CONTAINS.iter().any(|c| l.contains(c)) || l.starts_with("best ")
}
