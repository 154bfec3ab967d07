//! Flat rolling listings shaped like Unidata's satellite `current/` folders
//! (`satellite/VIS/EAST-CONUS_1km/current/catalog.xml`, captured 2017-07-19, in
//! `shared/fixtures/real/siphon`): one catalog per sector and band listing the files of the
//! last `days` days, newest first, named `{sector}_{band}_{YYYYMMDD}_{HHMM}.gini`, under the
//! inherited rolling coverage `end=present, duration=7 days`. Files older than the window
//! leave the listing one by one as the clock moves.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::{Subtree, static_epoch, xml_doc};
use crate::xml::{self, Doc, Meta};

/// Size of a rolling-listing tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentSpec {
    /// Bands (`VIS`, `IR`, `WV`, …, then `B{nn}`).
    pub bands: usize,
    /// Sectors per band (`EAST-CONUS_1km`, `WEST-CONUS_4km`, …, then `SECTOR-{n}`).
    pub sectors: usize,
    /// Minutes between files (at least 1).
    pub every_minutes: u32,
    /// Days of files kept in the listing.
    pub days: u32,
}

impl Default for CurrentSpec {
    fn default() -> Self {
        Self {
            bands: 1,
            sectors: 1,
            every_minutes: 15,
            days: 1,
        }
    }
}

const BANDS: &[&str] = &["VIS", "IR", "WV"];
const SECTORS: &[&str] = &["EAST-CONUS_1km", "WEST-CONUS_4km", "SUPER-NATIONAL_8km"];

/// The services of the captured `current/` catalog.
const SERVICES: &[(&str, &str, &str)] = &[
    ("ncdods", "OPENDAP", "/thredds/dodsC/"),
    ("wcs", "WCS", "/thredds/wcs/"),
    ("wms", "WMS", "/thredds/wms/"),
    ("ncss", "NetcdfSubset", "/thredds/ncss/"),
    ("HTTPServer", "HTTPServer", "/thredds/fileServer/"),
    ("ncml", "NCML", "/thredds/ncml/"),
    ("uddc", "UDDC", "/thredds/uddc/"),
    ("iso", "ISO", "/thredds/iso/"),
    ("cdmremote", "CdmRemote", "/thredds/cdmremote/"),
];

const META: Meta<'static> = Meta {
    service: "all",
    data_type: "GRID",
    data_format: "GINI",
    rolling: Some("7 days"),
};

pub(crate) struct Current {
    bands: Vec<String>,
    sectors: Vec<String>,
    every: i64,
    days: i64,
    seed: u64,
    base: String,
    id_prefix: String,
}

fn names(real: &[&str], n: usize, synth: impl Fn(usize) -> String) -> Vec<String> {
    (0..n)
        .map(|i| match real.get(i) {
            Some(s) => (*s).to_owned(),
            None => synth(i),
        })
        .collect()
}

impl Current {
    pub(crate) fn new(spec: &CurrentSpec, seed: u64, sfx: &str) -> Self {
        Self {
            bands: names(BANDS, spec.bands, |i| format!("B{i:02}")),
            sectors: names(SECTORS, spec.sectors, |i| format!("SECTOR-{i}")),
            every: i64::from(spec.every_minutes.max(1)) * 60,
            days: i64::from(spec.days),
            seed,
            base: format!("satellite{sfx}"),
            id_prefix: format!("SSEC/IDD-Satellite{sfx}"),
        }
    }

    /// The file times listed at `now`, newest first: every `every` seconds (aligned to the
    /// epoch) in `(now - days, now]`.
    fn times(&self, now: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + use<> {
        let every = self.every;
        let newest = now.timestamp().div_euclid(every) * every;
        let oldest = now
            .timestamp()
            .saturating_sub(self.days.saturating_mul(86_400));
        // Files strictly newer than the window's start.
        let n = if newest <= oldest {
            0
        } else {
            (newest - oldest + every - 1) / every
        };
        (0..n).filter_map(move |k| DateTime::from_timestamp(newest - k * every, 0))
    }

    fn file_name(sector: &str, band: &str, t: DateTime<Utc>) -> String {
        format!("{sector}_{band}_{}.gini", t.format("%Y%m%d_%H%M"))
    }

    fn listing(&self, title: &str, children: &[String]) -> Doc {
        let mut o = String::with_capacity(1536 + children.len() * 200);
        xml::open_catalog(&mut o, Some(title));
        xml::compound_service(&mut o, "all", SERVICES);
        xml::open_top_dataset(&mut o, title, None, &META);
        for c in children {
            xml::catalog_ref(&mut o, "    ", &format!("{c}/catalog.xml"), c, c);
        }
        xml::close_top_dataset(&mut o);
        xml::close_catalog(&mut o);
        xml_doc(o, static_epoch())
    }

    fn current(&self, band: &str, sector: &str, now: DateTime<Utc>) -> Doc {
        let rel = format!("{band}/{sector}/current");
        let id = format!("{}/{rel}", self.id_prefix);
        let times: Vec<_> = self.times(now).collect();
        let mut o = String::with_capacity(2048 + times.len() * 420);
        o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<catalog xmlns=\"http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" version=\"1.0.1\">\n");
        xml::compound_service(&mut o, "all", SERVICES);
        xml::open_top_dataset(&mut o, "current", Some(&id), &META);
        for t in &times {
            let name = Self::file_name(sector, band, *t);
            let leaf_id = format!("{id}/{name}");
            let url = format!("{}/{rel}/{name}", self.base);
            xml::open_leaf(&mut o, &name, &leaf_id, &url);
            let h = xml::hash64(self.seed, &name);
            let _ = writeln!(
                o,
                "      <dataSize units=\"Mbytes\">{}.{:03}</dataSize>",
                2 + h % 17,
                (h >> 12) % 1000
            );
            xml::modified(&mut o, *t + chrono::Duration::minutes(8));
            o.push_str("    </dataset>\n");
        }
        xml::close_top_dataset(&mut o);
        xml::close_catalog(&mut o);
        let last = times.first().copied().unwrap_or_else(static_epoch);
        xml_doc(o, last)
    }

    fn lookup<'a>(&self, list: &'a [String], s: &str) -> Option<&'a str> {
        list.iter().find(|x| x.as_str() == s).map(String::as_str)
    }

    /// The ncISO-like record of a listed file, by urlPath
    /// (`{base}/{band}/{sector}/current/{name}`).
    fn iso(&self, url_path: &str, now: DateTime<Utc>, host: &str) -> Option<Doc> {
        let r = url_path
            .strip_prefix(self.base.as_str())?
            .strip_prefix('/')?;
        let parts: Vec<&str> = r.split('/').collect();
        let [band, sector, "current", name] = parts.as_slice() else {
            return None;
        };
        let band = self.lookup(&self.bands, band)?;
        let sector = self.lookup(&self.sectors, sector)?;
        let t = self
            .times(now)
            .find(|t| Self::file_name(sector, band, *t) == *name)?;
        let title = format!("{sector} {band} satellite imagery");
        let g = super::ncis::IsoGranule {
            id: url_path,
            name,
            title: &title,
            start: t,
            end: t,
            host,
            bbox: (-133.46445, -91.45075, 12.19303, 61.26147),
            grid: (1100, 1100),
        };
        Some(Doc {
            body: super::ncis::record(&g),
            last_modified: t,
            kind: crate::xml::DocKind::Xml,
        })
    }
}

impl Subtree for Current {
    fn top_href(&self) -> String {
        format!("catalog/{}/catalog.xml", self.base)
    }

    fn title(&self) -> String {
        "Satellite Data".to_owned()
    }

    fn id(&self) -> String {
        self.id_prefix.clone()
    }

    fn resolve(&self, rest: &str, now: DateTime<Utc>) -> Option<Doc> {
        let r = rest.strip_prefix(self.base.as_str())?.strip_prefix('/')?;
        let parts: Vec<&str> = r.split('/').collect();
        match parts.as_slice() {
            ["catalog.xml"] => Some(self.listing("Satellite Data", &self.bands)),
            [b, "catalog.xml"] => {
                let b = self.lookup(&self.bands, b)?;
                Some(self.listing(b, &self.sectors))
            }
            [b, s, "catalog.xml"] => {
                self.lookup(&self.bands, b)?;
                let s = self.lookup(&self.sectors, s)?;
                Some(self.listing(s, &["current".to_owned()]))
            }
            [b, s, "current", "catalog.xml"] => {
                let b = self.lookup(&self.bands, b)?;
                let s = self.lookup(&self.sectors, s)?;
                Some(self.current(b, s, now))
            }
            _ => None,
        }
    }

    fn catalog_count(&self) -> u64 {
        let b = self.bands.len() as u64;
        let bs = b.saturating_mul(self.sectors.len() as u64);
        1u64.saturating_add(b).saturating_add(bs).saturating_add(bs)
    }

    fn granule_count(&self, now: DateTime<Utc>) -> u64 {
        (self.bands.len() as u64)
            .saturating_mul(self.sectors.len() as u64)
            .saturating_mul(self.times(now).count() as u64)
    }

    fn iso_record(&self, url_path: &str, now: DateTime<Utc>, host: &str) -> Option<Doc> {
        self.iso(url_path, now, host)
    }

    fn granules(&self, now: DateTime<Utc>, out: &mut Vec<super::SimGranule>) {
        for b in &self.bands {
            for s in &self.sectors {
                let rel = format!("{b}/{s}/current");
                for t in self.times(now) {
                    let name = Self::file_name(s, b, t);
                    out.push(super::SimGranule {
                        id: format!("{}/{rel}/{name}", self.id_prefix),
                        url_path: format!("{}/{rel}/{name}", self.base),
                        time: t,
                    });
                }
            }
        }
    }
}
