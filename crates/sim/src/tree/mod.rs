//! Generated catalog trees shaped like thredds.ucar.edu, computed lazily per request.

mod current;
mod goes;
mod model;
mod ncis;
mod nexrad;

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

pub use current::CurrentSpec;
pub use goes::{GoesLayout, GoesSpec};
pub use model::ModelSpec;
pub use nexrad::NexradSpec;

use crate::xml::{self, Doc, DocKind};

/// The shape of a generated tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeSpec {
    /// NEXRAD level 3: `nexrad/level3/{PRD}/{STN}/{YYYYMMDD}/Level3_{STN}_{PRD}_{YYYYMMDD}_{HHMM}.nids`.
    Nexrad(NexradSpec),
    /// GOES-16 ABI L2 CMI: `satellite/goes/east/products/CloudAndMoistureImagery/Mesoscale-{n}/Channel{cc}/{YYYYMMDD}/OR_ABI-….nc`.
    Goes(GoesSpec),
    /// GRIB feature collections: `grib/NCEP/{Model}/catalog.xml` with the `TwoD` and `Best`
    /// views, a `latest.xml` resolver and one catalogRef per run file
    /// (`{Model}_{YYYYMMDD}_{HHMM}.grib2/catalog.xml`), as Unidata's TDS serves them.
    ModelRuns(ModelSpec),
    /// Flat rolling listings: `satellite/{band}/{sector}/current/catalog.xml` holding the last
    /// days of `{sector}_{band}_{YYYYMMDD}_{HHMM}.gini`, as Unidata's satellite `current/`.
    Current(CurrentSpec),
    /// Several trees under one root (nested `Mixed` are flattened; a second tree of the same
    /// kind is mounted under a suffixed path, e.g. `nexrad/level3-2`, with IDs `NWS/NEXRAD3-2/…`).
    Mixed(Vec<TreeSpec>),
    /// Only the root catalog, with no references.
    Empty,
}

impl Default for TreeSpec {
    fn default() -> Self {
        TreeSpec::Nexrad(NexradSpec::default())
    }
}

/// Last-Modified of catalogs whose content never changes.
pub(crate) fn static_epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(946_684_800, 0).unwrap_or_default()
}

/// One mounted subtree under `/thredds/catalog/`.
pub(crate) trait Subtree: Send + Sync {
    /// Href of its top catalog relative to `/thredds/catalog.xml`.
    fn top_href(&self) -> String;
    /// Title shown in the root catalog.
    fn title(&self) -> String;
    /// ID of the reference in the root catalog.
    fn id(&self) -> String;
    /// The document at `rest` (the path after `/thredds/catalog/`), if this subtree has it.
    fn resolve(&self, rest: &str, now: DateTime<Utc>) -> Option<Doc>;
    /// Catalogs in the subtree (the root catalog not included).
    fn catalog_count(&self) -> u64;
    /// Distinct granules in the subtree at `now`.
    fn granule_count(&self, now: DateTime<Utc>) -> u64;
    /// The ISO record (ncISO-like) of the granule at `url_path`, when the subtree offers an
    /// ISO service (`/thredds/iso/{urlPath}`); `host` is `scheme://host:port` for links.
    fn iso_record(&self, _url_path: &str, _now: DateTime<Utc>, _host: &str) -> Option<Doc> {
        None
    }
    /// Appends the granules the subtree lists at `now`: the truth a crawler's index must equal.
    fn granules(&self, now: DateTime<Utc>, out: &mut Vec<SimGranule>);
}

/// A granule as the simulated server lists it: what an index of the server must hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SimGranule {
    /// The dataset's `ID` attribute.
    pub id: String,
    /// The dataset's `urlPath`.
    pub url_path: String,
    /// The time the file's name carries (the instant it was generated for).
    pub time: DateTime<Utc>,
}

/// The inherited rolling coverage Unidata's live catalogs carry
/// (`<timeCoverage><end>present</end><duration>…</duration></timeCoverage>`): it describes
/// the window the server keeps, not any one file.
pub(crate) fn rolling_coverage(out: &mut String, indent: &str, duration: &str) {
    out.push_str(indent);
    out.push_str("<timeCoverage>\n");
    out.push_str(indent);
    out.push_str("  <end>present</end>\n");
    out.push_str(indent);
    out.push_str("  <duration>");
    xml::escape_into(out, duration);
    out.push_str("</duration>\n");
    out.push_str(indent);
    out.push_str("</timeCoverage>\n");
}

/// The generated tree a server serves.
pub(crate) struct Tree {
    mounts: Vec<Box<dyn Subtree>>,
}

fn flatten<'a>(spec: &'a TreeSpec, out: &mut Vec<&'a TreeSpec>) {
    match spec {
        TreeSpec::Mixed(v) => v.iter().for_each(|s| flatten(s, out)),
        TreeSpec::Empty => {}
        other => out.push(other),
    }
}

fn suffix(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("-{}", n + 1)
    }
}

impl Tree {
    pub(crate) fn build(spec: &TreeSpec, seed: u64) -> Tree {
        let mut leaves = Vec::new();
        flatten(spec, &mut leaves);
        let (mut n_nex, mut n_goes, mut n_model, mut n_current) = (0usize, 0usize, 0usize, 0usize);
        let mut mounts: Vec<Box<dyn Subtree>> = Vec::new();
        for leaf in leaves {
            match leaf {
                TreeSpec::Nexrad(s) => {
                    mounts.push(Box::new(nexrad::Nexrad::new(s, seed, &suffix(n_nex))));
                    n_nex += 1;
                }
                TreeSpec::Goes(s) => {
                    mounts.push(Box::new(goes::Goes::new(s, seed, &suffix(n_goes))));
                    n_goes += 1;
                }
                TreeSpec::ModelRuns(s) => {
                    mounts.push(Box::new(model::Models::new(s, seed, &suffix(n_model))));
                    n_model += 1;
                }
                TreeSpec::Current(s) => {
                    mounts.push(Box::new(current::Current::new(s, seed, &suffix(n_current))));
                    n_current += 1;
                }
                TreeSpec::Mixed(_) | TreeSpec::Empty => {}
            }
        }
        Tree { mounts }
    }

    /// The document at URL path `path` (no query), if the generated tree has it.
    pub(crate) fn resolve(&self, path: &str, now: DateTime<Utc>) -> Option<Doc> {
        if path == "/thredds/catalog.xml" {
            return Some(self.root());
        }
        let rest = path.strip_prefix("/thredds/catalog/")?;
        self.mounts.iter().find_map(|m| m.resolve(rest, now))
    }

    /// The ISO record at URL path `path` (`/thredds/iso/{urlPath}`, query ignored), if a
    /// subtree with an ISO service has that granule.
    pub(crate) fn iso_record(&self, path: &str, now: DateTime<Utc>, host: &str) -> Option<Doc> {
        let url_path = path.strip_prefix("/thredds/iso/")?;
        self.mounts
            .iter()
            .find_map(|m| m.iso_record(url_path, now, host))
    }

    fn root(&self) -> Doc {
        let mut o = String::with_capacity(1024 + 256 * self.mounts.len());
        xml::open_catalog(&mut o, Some("Simulated THREDDS Data Server"));
        o.push_str("  <dataset name=\"Realtime data from IDD\" ID=\"sim-root\">\n");
        for m in &self.mounts {
            xml::catalog_ref(&mut o, "    ", &m.top_href(), &m.title(), &m.id());
        }
        o.push_str("  </dataset>\n");
        xml::close_catalog(&mut o);
        Doc {
            body: o,
            last_modified: static_epoch(),
            kind: DocKind::Xml,
        }
    }

    pub(crate) fn catalog_count(&self) -> u64 {
        1 + self.mounts.iter().map(|m| m.catalog_count()).sum::<u64>()
    }

    pub(crate) fn granule_count(&self, now: DateTime<Utc>) -> u64 {
        self.mounts.iter().map(|m| m.granule_count(now)).sum()
    }

    /// Every granule the tree lists at `now`.
    pub(crate) fn granules(&self, now: DateTime<Utc>) -> Vec<SimGranule> {
        let mut out = Vec::new();
        for m in &self.mounts {
            m.granules(now, &mut out);
        }
        out
    }
}

// ---- day folders and evenly spaced slots --------------------------------------------------

/// The day folders of a `days`-day window ending today, newest first.
pub(crate) fn days_newest_first(
    now: DateTime<Utc>,
    days: usize,
) -> impl Iterator<Item = NaiveDate> {
    let today = now.date_naive();
    (0..days).filter_map(move |i| {
        today.checked_sub_days(chrono::Days::new(u64::try_from(i).unwrap_or(u64::MAX)))
    })
}

/// Parses `YYYYMMDD`.
pub(crate) fn parse_day(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y%m%d").ok()
}

/// Whether `d` is one of the window's day folders.
pub(crate) fn day_in_window(d: NaiveDate, now: DateTime<Utc>, days: usize) -> bool {
    let today = now.date_naive();
    if days == 0 || d > today {
        return false;
    }
    let back = (today - d).num_days();
    usize::try_from(back).is_ok_and(|b| b < days)
}

/// Slot `k` of `f` evenly spaced slots in a day of `units` units (`k * units / f`).
pub(crate) fn slot(k: u64, f: u64, units: u64) -> u64 {
    k.saturating_mul(units).checked_div(f).unwrap_or(0)
}

/// How many of `f` slots in a day of `units` units are at or before unit `elapsed`.
pub(crate) fn visible_slots(f: u64, units: u64, elapsed: u64) -> u64 {
    if f == 0 || units == 0 {
        return 0;
    }
    // slot(k) <= elapsed  <=>  k * units < (elapsed + 1) * f
    let n = (elapsed.saturating_add(1))
        .saturating_mul(f)
        .saturating_add(units - 1)
        / units;
    n.min(f)
}

/// Number of slots listed for day `d` at `now` (all of them for past days).
pub(crate) fn slots_for_day(
    d: NaiveDate,
    now: DateTime<Utc>,
    f: u64,
    units: u64,
    unit_ns: u64,
) -> u64 {
    let today = now.date_naive();
    if d < today {
        f
    } else if d == today {
        let ns = u64::from(now.num_seconds_from_midnight()) * 1_000_000_000
            + u64::from(now.nanosecond().min(999_999_999));
        visible_slots(f, units, ns / unit_ns.max(1))
    } else {
        0
    }
}

/// Granules in a window of `days` day folders holding `f` slots each, at `now`.
pub(crate) fn window_granules(
    now: DateTime<Utc>,
    days: usize,
    f: u64,
    units: u64,
    unit_ns: u64,
) -> u64 {
    days_newest_first(now, days)
        .map(|d| slots_for_day(d, now, f, units, unit_ns))
        .sum()
}

/// Midnight UTC of `d`.
pub(crate) fn day_start(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// `YYYYMMDD`.
pub(crate) fn ymd(d: NaiveDate) -> String {
    format!("{:04}{:02}{:02}", d.year(), d.month(), d.day())
}

/// Writes `YYYY-MM-DDTHH:MM:SSZ` for `d` plus `secs` seconds (secs < 86400).
pub(crate) fn iso_in_day(out: &mut String, d: NaiveDate, secs: u64) {
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        d.year(),
        d.month(),
        d.day(),
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
}

/// Base-36 name: `prefix` followed by at least `width` digits of `n`.
pub(crate) fn synth_name(prefix: char, mut n: usize, width: usize) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut digits = Vec::new();
    while n > 0 || digits.len() < width {
        digits.push(char::from(DIGITS.get(n % 36).copied().unwrap_or(b'0')));
        n /= 36;
    }
    let mut s = String::with_capacity(digits.len() + 1);
    s.push(prefix);
    s.extend(digits.iter().rev());
    s
}

/// Catalog listing `children` as catalogRefs `{child}/catalog.xml`, under a top dataset.
pub(crate) struct Listing<'a> {
    pub catalog_name: &'a str,
    pub service: (&'a str, &'a [(&'a str, &'a str, &'a str)]),
    pub meta: xml::Meta<'a>,
    pub dataset_name: &'a str,
    pub dataset_id: &'a str,
}

impl Listing<'_> {
    pub(crate) fn write(
        &self,
        children: impl Iterator<Item = (String, String)>,
        n_hint: usize,
    ) -> String {
        let mut o = String::with_capacity(1536 + n_hint * 200);
        xml::open_catalog(&mut o, Some(self.catalog_name));
        xml::compound_service(&mut o, self.service.0, self.service.1);
        xml::open_top_dataset(&mut o, self.dataset_name, Some(self.dataset_id), &self.meta);
        for (child, title) in children {
            let href = format!("{child}/catalog.xml");
            let id = format!("{}/{child}", self.dataset_id);
            xml::catalog_ref(&mut o, "    ", &href, &title, &id);
        }
        xml::close_top_dataset(&mut o);
        xml::close_catalog(&mut o);
        o
    }
}

/// Wrap an XML body.
pub(crate) fn xml_doc(body: String, last_modified: DateTime<Utc>) -> Doc {
    Doc {
        body,
        last_modified,
        kind: DocKind::Xml,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_slots_matches_brute_force() {
        for &(f, units) in &[
            (1u64, 1440u64),
            (24, 1440),
            (7, 1440),
            (1440, 1440),
            (288, 864_000),
            (1000, 864_000),
        ] {
            for elapsed in [0, 1, 59, 60, 61, 719, 720, 1439, 5000, 863_999] {
                let brute = (0..f).filter(|&k| slot(k, f, units) <= elapsed).count() as u64;
                assert_eq!(
                    visible_slots(f, units, elapsed),
                    brute,
                    "f={f} units={units} e={elapsed}"
                );
            }
        }
    }

    #[test]
    fn day_window() {
        let now = DateTime::parse_from_rfc3339("2024-01-08T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let days: Vec<_> = days_newest_first(now, 3).map(ymd).collect();
        assert_eq!(days, ["20240108", "20240107", "20240106"]);
        assert!(day_in_window(parse_day("20240106").unwrap(), now, 3));
        assert!(!day_in_window(parse_day("20240105").unwrap(), now, 3));
        assert!(!day_in_window(parse_day("20240109").unwrap(), now, 3));
        assert!(parse_day("2024010").is_none());
        assert!(parse_day("2024013x").is_none());
    }

    #[test]
    fn synth_names_are_distinct() {
        let a: std::collections::HashSet<_> = (0..5000).map(|i| synth_name('Q', i, 2)).collect();
        assert_eq!(a.len(), 5000);
        assert_eq!(synth_name('Z', 0, 2), "Z00");
    }
}
