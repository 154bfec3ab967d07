//! Classification helpers for catalog folders and names: dated (archival) folders and live
//! views.

use crate::time::{Field, eval};
use chrono::NaiveDate;

const YMD: &[Field] = &[Field::Year, Field::Month, Field::Day];
const YD: &[Field] = &[Field::Year, Field::Doy];

fn all_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|c| c.is_ascii_digit())
}

fn date_of(s: &str, layout: &[Field]) -> Option<NaiveDate> {
    eval(s.as_bytes(), 0, s.len(), layout).map(|(t, _)| t.date())
}

/// The date of a dated folder path: the last dated segment(s) of `path`.
///
/// A dated segment is a whole path segment `YYYYMMDD`, `YYYY-MM-DD` or `YYYYDDD` (day of
/// year), or three segments `YYYY/MM/DD`, or two segments `YYYY/DDD`. Month or year folders
/// alone (`201802`, `2019`) are not dates. A query (`?…`) or fragment (`#…`) is ignored, so a
/// catalog URL works too. Values are validated (no month 13, no DDD 367).
pub fn path_date(path: &str) -> Option<NaiveDate> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').collect();
    let mut found: Option<NaiveDate> = None;
    for (i, seg) in segs.iter().enumerate() {
        let one = if all_digits(seg, 8) {
            date_of(seg, YMD)
        } else if all_digits(seg, 7) {
            date_of(seg, YD)
        } else if seg.len() == 10
            && seg.as_bytes().get(4) == Some(&b'-')
            && seg.as_bytes().get(7) == Some(&b'-')
            && seg.bytes().filter(u8::is_ascii_digit).count() == 8
        {
            date_of(seg, YMD)
        } else {
            None
        };
        if one.is_some() {
            found = one;
            continue;
        }
        // A multi-segment date ends at this segment: `YYYY/MM/DD` or `YYYY/DDD`.
        if all_digits(seg, 2)
            && i >= 2
            && let (Some(y), Some(m)) = (segs.get(i - 2), segs.get(i - 1))
            && all_digits(y, 4)
            && all_digits(m, 2)
        {
            let s = format!("{y}{m}{seg}");
            if let Some(d) = date_of(&s, YMD) {
                found = Some(d);
                continue;
            }
        }
        if all_digits(seg, 3)
            && i >= 1
            && let Some(y) = segs.get(i - 1)
            && all_digits(y, 4)
        {
            let s = format!("{y}{seg}");
            if let Some(d) = date_of(&s, YD) {
                found = Some(d);
            }
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
