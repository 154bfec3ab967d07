//! GOES-16 ABI L2 Cloud and Moisture Imagery tree:
//! `satellite/goes/east/products/CloudAndMoistureImagery/Mesoscale-{n}/Channel{cc}/{YYYYMMDD}/`
//! holding `OR_ABI-L2-CMIPM{n}-M6C{cc}_G16_s{YYYYJJJHHMMSSt}_e…_c….nc`; or, with
//! [`GoesLayout::YearDayHour`], the layout of NOAA's GOES archives, one folder level per
//! year, day of year and hour: `…/Channel{cc}/{YYYY}/{DDD}/{HH}/`.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

use super::{Listing, Subtree, days_newest_first, static_epoch, xml_doc};
use crate::xml::{self, Doc, Meta};

/// Size of a GOES tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoesSpec {
    /// Sectors `Mesoscale-1` … `Mesoscale-{sectors}`.
    pub sectors: usize,
    /// Channels `Channel01` … per sector.
    pub channels: usize,
    /// Day folders per channel, ending with the clock's UTC day.
    pub days: usize,
    /// Files per day, spaced evenly (capped at 86400).
    pub files_per_day: usize,
    /// How a channel's files are foldered.
    pub layout: GoesLayout,
}

/// How a GOES channel's files are foldered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GoesLayout {
    /// One folder per day: `{YYYYMMDD}/` (Unidata's TDS).
    #[default]
    DayFolders,
    /// A year folder, a day-of-year folder and an hour folder: `{YYYY}/{DDD}/{HH}/` (NOAA's
    /// GOES archives); only hours holding files exist.
    YearDayHour,
}

impl Default for GoesSpec {
    fn default() -> Self {
        Self {
            sectors: 1,
            channels: 2,
            days: 2,
            files_per_day: 24,
            layout: GoesLayout::DayFolders,
        }
    }
}

/// Tenths of a second in a day.
const UNITS: u64 = 864_000;
const UNIT_NS: u64 = 100_000_000;
const MAX_F: u64 = 86_400;

const SERVICES: &[(&str, &str, &str)] = &[
    ("OPENDAP", "OPENDAP", "/thredds/dodsC/"),
    ("HTTPServer", "HTTPServer", "/thredds/fileServer/"),
    ("WCS", "WCS", "/thredds/wcs/"),
    ("WMS", "WMS", "/thredds/wms/"),
    ("NetcdfSubset", "NetcdfSubset", "/thredds/ncss/grid/"),
    ("CdmRemote", "CdmRemote", "/thredds/cdmremote/"),
    ("ISO", "ISO", "/thredds/iso/"),
    ("NCML", "NCML", "/thredds/ncml/"),
    ("UDDC", "UDDC", "/thredds/uddc/"),
];

pub(crate) struct Goes {
    sectors: usize,
    channels: usize,
    days: usize,
    f: u64,
    seed: u64,
    base: String,
    id_prefix: String,
    layout: GoesLayout,
}

/// Parses `{prefix}{n}` where `n` is formatted with `width` digits and is in `1..=max`.
fn parse_numbered(s: &str, prefix: &str, width: usize, max: usize) -> Option<usize> {
    let digits = s.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: usize = digits.parse().ok()?;
    (n >= 1 && n <= max && format!("{n:0width$}") == digits).then_some(n)
}

fn stamp(out: &mut String, t: DateTime<Utc>) {
    let _ = write!(
        out,
        "{:04}{:03}{:02}{:02}{:02}{}",
        t.year(),
        t.ordinal(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond().min(999_999_999) / 100_000_000
    );
}

impl Goes {
    pub(crate) fn new(spec: &GoesSpec, seed: u64, sfx: &str) -> Self {
        Self {
            sectors: spec.sectors,
            channels: spec.channels,
            days: spec.days,
            f: u64::try_from(spec.files_per_day)
                .unwrap_or(MAX_F)
                .min(MAX_F),
            seed,
            base: format!("satellite/goes/east{sfx}/products/CloudAndMoistureImagery"),
            id_prefix: format!("goes-east{sfx}-products/CloudAndMoistureImagery"),
            layout: spec.layout,
        }
    }

    fn meta() -> Meta<'static> {
        Meta {
            service: "all",
            data_type: "GRID",
            data_format: "NetCDF",
            // As Unidata's satellite catalogs (satellite/VIS/EAST-CONUS_1km/current).
            rolling: Some("7 days"),
        }
    }

    fn listing<'a>(&self, name: &'a str, id: &'a str) -> Listing<'a> {
        Listing {
            catalog_name: name,
            service: ("all", SERVICES),
            meta: Self::meta(),
            dataset_name: name,
            dataset_id: id,
        }
    }

    fn top(&self) -> Doc {
        let body = self
            .listing("CloudAndMoistureImagery", &self.id_prefix)
            .write(
                (1..=self.sectors).map(|n| {
                    let s = format!("Mesoscale-{n}");
                    (s.clone(), s)
                }),
                self.sectors,
            );
        xml_doc(body, static_epoch())
    }

    fn sector(&self, sector: &str) -> Doc {
        let id = format!("{}/{sector}", self.id_prefix);
        let body = self.listing(sector, &id).write(
            (1..=self.channels).map(|c| {
                let s = format!("Channel{c:02}");
                (s.clone(), s)
            }),
            self.channels,
        );
        xml_doc(body, static_epoch())
    }

    fn channel(&self, sector: &str, channel: &str, now: DateTime<Utc>) -> Doc {
        let id = format!("{}/{sector}/{channel}", self.id_prefix);
        let children: Vec<String> = match self.layout {
            GoesLayout::DayFolders => days_newest_first(now, self.days).map(super::ymd).collect(),
            GoesLayout::YearDayHour => {
                let mut years: Vec<String> = days_newest_first(now, self.days)
                    .map(|d| format!("{:04}", d.year()))
                    .collect();
                years.dedup();
                years
            }
        };
        let n = children.len();
        let body = self
            .listing(channel, &id)
            .write(children.into_iter().map(|c| (c.clone(), c)), n);
        xml_doc(body, super::day_start(now.date_naive()))
    }

    /// A year folder: its day-of-year folders in the window, newest first.
    fn year(&self, sector: &str, channel: &str, year: i32, now: DateTime<Utc>) -> Option<Doc> {
        let days: Vec<String> = days_newest_first(now, self.days)
            .filter(|d| d.year() == year)
            .map(|d| format!("{:03}", d.ordinal()))
            .collect();
        if days.is_empty() {
            return None;
        }
        let id = format!("{}/{sector}/{channel}/{year:04}", self.id_prefix);
        let n = days.len();
        let body = self
            .listing(&format!("{year:04}"), &id)
            .write(days.into_iter().map(|c| (c.clone(), c)), n);
        Some(xml_doc(body, super::day_start(now.date_naive())))
    }

    /// A day-of-year folder: the hour folders holding files, newest first.
    fn doy(&self, sn: usize, cn: usize, d: NaiveDate, now: DateTime<Utc>) -> Option<Doc> {
        let mut hours: Vec<u32> = self
            .files_of(sn, cn, now)
            .filter(|(fd, ..)| *fd == d)
            .map(|(_, s, ..)| s.hour())
            .collect();
        hours.sort_unstable_by(|a, b| b.cmp(a));
        hours.dedup();
        if hours.is_empty() {
            return None;
        }
        let rel = format!(
            "Mesoscale-{sn}/Channel{cn:02}/{:04}/{:03}",
            d.year(),
            d.ordinal()
        );
        let id = format!("{}/{rel}", self.id_prefix);
        let n = hours.len();
        let body = self.listing(&format!("{:03}", d.ordinal()), &id).write(
            hours.into_iter().map(|h| {
                let c = format!("{h:02}");
                (c.clone(), c)
            }),
            n,
        );
        Some(xml_doc(body, super::day_start(now.date_naive())))
    }

    /// The folder of the files of day `d` (and hour `h` in the hourly layout), relative to
    /// the channel.
    fn rel_dir(&self, d: NaiveDate, h: u32) -> String {
        match self.layout {
            GoesLayout::DayFolders => super::ymd(d),
            GoesLayout::YearDayHour => format!("{:04}/{:03}/{h:02}", d.year(), d.ordinal()),
        }
    }

    /// The files of day `d` (only those of `hour` when given), newest first.
    fn files(
        &self,
        sn: usize,
        cn: usize,
        d: NaiveDate,
        hour: Option<u32>,
        now: DateTime<Utc>,
    ) -> Option<Doc> {
        let dir = self.rel_dir(d, hour.unwrap_or(0));
        let rel = format!("Mesoscale-{sn}/Channel{cn:02}/{dir}");
        let id = format!("{}/{rel}", self.id_prefix);
        let n = super::slots_for_day(d, now, self.f, UNITS, UNIT_NS);
        let title = dir.rsplit('/').next().unwrap_or(&dir).to_owned();
        let mut o = String::with_capacity(1536 + usize::try_from(n).unwrap_or(0) * 520);
        xml::open_catalog(&mut o, Some(&title));
        xml::compound_service(&mut o, "all", SERVICES);
        xml::open_top_dataset(&mut o, &title, Some(&id), &Self::meta());
        let mut last = None;
        let mut name = String::with_capacity(96);
        for k in (0..n).rev() {
            let (s, _, c) = self.file(sn, cn, d, k, &mut name);
            if hour.is_some_and(|h| s.hour() != h) {
                continue;
            }
            if last.is_none() {
                last = Some(c.min(now.max(s)));
            }
            let leaf_id = format!("{id}/{name}");
            let url = format!("{}/{rel}/{name}", self.base);
            xml::open_leaf(&mut o, &name, &leaf_id, &url);
            let h = xml::hash64(self.seed, &name);
            xml::data_size(&mut o, "Kbytes", 10_000 + h % 390_000);
            xml::modified(&mut o, c);
            o.push_str("    </dataset>\n");
        }
        // An hour folder exists only while it holds files.
        if hour.is_some() && last.is_none() {
            return None;
        }
        xml::close_top_dataset(&mut o);
        xml::close_catalog(&mut o);
        Some(xml_doc(o, last.unwrap_or_else(|| super::day_start(d))))
    }
}

impl Goes {
    /// Slot `k` of day `d` of a channel: writes the file name into `name` and returns its
    /// start, end and creation times.
    fn file(
        &self,
        sn: usize,
        cn: usize,
        d: NaiveDate,
        k: u64,
        name: &mut String,
    ) -> (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>) {
        let tenths = super::slot(k, self.f, UNITS);
        let s = super::day_start(d)
            + chrono::Duration::milliseconds(i64::try_from(tenths * 100).unwrap_or(0));
        let e = s + chrono::Duration::milliseconds(27_700);
        let c = e + chrono::Duration::milliseconds(6_300);
        name.clear();
        let _ = write!(name, "OR_ABI-L2-CMIPM{sn}-M6C{cn:02}_G16_s");
        stamp(name, s);
        name.push_str("_e");
        stamp(name, e);
        name.push_str("_c");
        stamp(name, c);
        name.push_str(".nc");
        (s, e, c)
    }

    /// Every listed file of one channel at `now`: (day, slot start, name).
    fn files_of(
        &self,
        sn: usize,
        cn: usize,
        now: DateTime<Utc>,
    ) -> impl Iterator<Item = (NaiveDate, DateTime<Utc>, DateTime<Utc>, String)> + '_ {
        days_newest_first(now, self.days).flat_map(move |d| {
            let n = super::slots_for_day(d, now, self.f, UNITS, UNIT_NS);
            (0..n).map(move |k| {
                let mut name = String::with_capacity(96);
                let (s, e, _) = self.file(sn, cn, d, k, &mut name);
                (d, s, e, name)
            })
        })
    }

    /// The ncISO-like record of a listed file, by its urlPath
    /// (`{base}/Mesoscale-{n}/Channel{cc}/{YYYYMMDD}/{name}`).
    fn iso(&self, url_path: &str, now: DateTime<Utc>, host: &str) -> Option<Doc> {
        let r = url_path
            .strip_prefix(self.base.as_str())?
            .strip_prefix('/')?;
        let parts: Vec<&str> = r.split('/').collect();
        let (sector, channel, name) = match parts.as_slice() {
            [s, c, .., n] => (*s, *c, *n),
            _ => return None,
        };
        let sn = parse_numbered(sector, "Mesoscale-", 1, self.sectors)?;
        let cn = parse_numbered(channel, "Channel", 2, self.channels)?;
        let (_, start, end, _) = self.files_of(sn, cn, now).find(|(d, s, _, n)| {
            n == name
                && format!(
                    "Mesoscale-{sn}/Channel{cn:02}/{}/{n}",
                    self.rel_dir(*d, s.hour())
                ) == r
        })?;
        let title = format!("GOES-16 ABI Mesoscale-{sn} Channel {cn:02}");
        let g = super::ncis::IsoGranule {
            id: url_path,
            name,
            title: &title,
            start,
            end,
            host,
            bbox: (-156.0, 6.0, -81.0, 81.0),
            grid: (500, 500),
        };
        Some(Doc {
            body: super::ncis::record(&g),
            last_modified: end,
            kind: crate::xml::DocKind::Xml,
        })
    }
}

impl Subtree for Goes {
    fn iso_record(&self, url_path: &str, now: DateTime<Utc>, host: &str) -> Option<Doc> {
        self.iso(url_path, now, host)
    }

    fn granules(&self, now: DateTime<Utc>, out: &mut Vec<super::SimGranule>) {
        for sn in 1..=self.sectors {
            for cn in 1..=self.channels {
                for (d, s, _, name) in self.files_of(sn, cn, now) {
                    let rel = format!(
                        "Mesoscale-{sn}/Channel{cn:02}/{}/{name}",
                        self.rel_dir(d, s.hour())
                    );
                    out.push(super::SimGranule {
                        id: format!("{}/{rel}", self.id_prefix),
                        url_path: format!("{}/{rel}", self.base),
                        time: s,
                    });
                }
            }
        }
    }

    fn top_href(&self) -> String {
        format!("catalog/{}/catalog.xml", self.base)
    }

    fn title(&self) -> String {
        "GOES-16 Cloud and Moisture Imagery".to_owned()
    }

    fn id(&self) -> String {
        self.id_prefix.clone()
    }

    fn resolve(&self, rest: &str, now: DateTime<Utc>) -> Option<Doc> {
        let r = rest.strip_prefix(self.base.as_str())?.strip_prefix('/')?;
        let parts: Vec<&str> = r.split('/').collect();
        let sector = |s: &str| parse_numbered(s, "Mesoscale-", 1, self.sectors);
        let channel = |s: &str| parse_numbered(s, "Channel", 2, self.channels);
        match parts.as_slice() {
            ["catalog.xml"] => Some(self.top()),
            [s, "catalog.xml"] => sector(s).map(|_| self.sector(s)),
            [s, c, "catalog.xml"] => {
                sector(s)?;
                channel(c)?;
                Some(self.channel(s, c, now))
            }
            [s, c, d, "catalog.xml"] if self.layout == GoesLayout::DayFolders => {
                let sn = sector(s)?;
                let cn = channel(c)?;
                let day = super::parse_day(d)?;
                if !super::day_in_window(day, now, self.days) {
                    return None;
                }
                self.files(sn, cn, day, None, now)
            }
            [s, c, y, "catalog.xml"] => {
                sector(s)?;
                channel(c)?;
                self.year(s, c, parse_fixed(y, 4)?, now)
            }
            [s, c, y, ddd, "catalog.xml"] => {
                let sn = sector(s)?;
                let cn = channel(c)?;
                let day = self.hourly_day(y, ddd, now)?;
                self.doy(sn, cn, day, now)
            }
            [s, c, y, ddd, hh, "catalog.xml"] => {
                let sn = sector(s)?;
                let cn = channel(c)?;
                let day = self.hourly_day(y, ddd, now)?;
                let hour = u32::try_from(parse_fixed(hh, 2)?)
                    .ok()
                    .filter(|h| *h < 24)?;
                self.files(sn, cn, day, Some(hour), now)
            }
            _ => None,
        }
    }

    fn catalog_count(&self) -> u64 {
        let s = self.sectors as u64;
        let sc = s.saturating_mul(self.channels as u64);
        let per_channel = match self.layout {
            GoesLayout::DayFolders => self.days as u64,
            // Full days within one year: a year folder, the day folders and their hours.
            GoesLayout::YearDayHour => {
                let mut hours: Vec<u64> = (0..self.f)
                    .map(|k| super::slot(k, self.f, UNITS) / 36_000)
                    .collect();
                hours.dedup();
                let days = self.days as u64;
                1 + days + days.saturating_mul(hours.len() as u64)
            }
        };
        1u64.saturating_add(s)
            .saturating_add(sc)
            .saturating_add(sc.saturating_mul(per_channel))
    }

    fn granule_count(&self, now: DateTime<Utc>) -> u64 {
        (self.sectors as u64)
            .saturating_mul(self.channels as u64)
            .saturating_mul(super::window_granules(
                now, self.days, self.f, UNITS, UNIT_NS,
            ))
    }
}

impl Goes {
    /// The day of `{YYYY}/{DDD}` folders in the hourly layout, when it is in the window.
    fn hourly_day(&self, y: &str, ddd: &str, now: DateTime<Utc>) -> Option<NaiveDate> {
        if self.layout != GoesLayout::YearDayHour {
            return None;
        }
        let year = parse_fixed(y, 4)?;
        let ordinal = u32::try_from(parse_fixed(ddd, 3)?).ok()?;
        let day = NaiveDate::from_yo_opt(year, ordinal)?;
        super::day_in_window(day, now, self.days).then_some(day)
    }
}

/// Parses exactly `width` ASCII digits.
fn parse_fixed(s: &str, width: usize) -> Option<i32> {
    (s.len() == width && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parsing_is_canonical() {
        assert_eq!(parse_numbered("Channel02", "Channel", 2, 16), Some(2));
        assert_eq!(parse_numbered("Channel2", "Channel", 2, 16), None);
        assert_eq!(parse_numbered("Channel17", "Channel", 2, 16), None);
        assert_eq!(parse_numbered("Channel00", "Channel", 2, 16), None);
        assert_eq!(parse_numbered("Mesoscale-1", "Mesoscale-", 1, 2), Some(1));
        assert_eq!(parse_numbered("Mesoscale-01", "Mesoscale-", 1, 2), None);
    }

    #[test]
    fn stamp_format() {
        let t = DateTime::parse_from_rfc3339("2019-08-31T00:03:57.0Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut s = String::new();
        stamp(&mut s, t);
        assert_eq!(s, "20192430003570");
    }
}
