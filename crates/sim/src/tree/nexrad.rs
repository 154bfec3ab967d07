//! NEXRAD level 3 tree: `nexrad/level3/{PRD}/{STN}/{YYYYMMDD}/Level3_{STN}_{PRD}_{YYYYMMDD}_{HHMM}.nids`.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::{Listing, Subtree, days_newest_first, static_epoch, xml_doc};
use crate::xml::{self, Doc, Meta};

/// Size of a NEXRAD level 3 tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NexradSpec {
    /// Number of products (N0Q, N0U, NCR, …, then synthetic `Z..` codes).
    pub products: usize,
    /// Number of stations per product (FTG, TLX, …, then synthetic `Q..` codes).
    pub stations: usize,
    /// Day folders per station, ending with the clock's UTC day.
    pub days: usize,
    /// Files per day, spaced evenly over the day; capped at 1440 (names have minute resolution).
    pub files_per_day: usize,
}

impl Default for NexradSpec {
    fn default() -> Self {
        Self {
            products: 2,
            stations: 3,
            days: 2,
            files_per_day: 24,
        }
    }
}

const PRODUCTS: &[&str] = &[
    "N0Q", "N0U", "NCR", "N0R", "N0S", "N0V", "NET", "NVL", "N1P", "NTP", "DAA", "DTA", "DPR",
    "HHC", "N0C", "N0K", "N0H", "N0X", "N1Q", "N1U", "NMD", "EET", "DVL", "DSP", "OHA",
];

const STATIONS: &[&str] = &[
    "FTG", "TLX", "LWX", "OKX", "AMX", "ATX", "BMX", "BOX", "BUF", "CLE", "DIX", "DTX", "EAX",
    "FWS", "GRK", "HGX", "ILN", "IND", "JAX", "LOT", "MKX", "MPX", "OAX", "PBZ", "SGF", "TBW",
    "TWX", "VNX", "ABR", "ENX",
];

/// Minutes in a day: names carry HHMM.
const UNITS: u64 = 1440;
const UNIT_NS: u64 = 60_000_000_000;

const SERVICES: &[(&str, &str, &str)] = &[
    ("OPENDAP", "OPENDAP", "/thredds/dodsC/"),
    ("HTTPServer", "HTTPServer", "/thredds/fileServer/"),
    ("CdmRemote", "CdmRemote", "/thredds/cdmremote/"),
    ("NCML", "NCML", "/thredds/ncml/"),
    ("UDDC", "UDDC", "/thredds/uddc/"),
];

fn names(real: &[&str], prefix: char, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match real.get(i) {
            Some(s) => (*s).to_owned(),
            None => super::synth_name(prefix, i - real.len(), 2),
        })
        .collect()
}

fn index(v: &[String]) -> HashMap<String, usize> {
    v.iter().enumerate().map(|(i, s)| (s.clone(), i)).collect()
}

pub(crate) struct Nexrad {
    days: usize,
    f: u64,
    seed: u64,
    base: String,
    id_prefix: String,
    products: Vec<String>,
    stations: Vec<String>,
    pidx: HashMap<String, usize>,
    sidx: HashMap<String, usize>,
}

impl Nexrad {
    pub(crate) fn new(spec: &NexradSpec, seed: u64, sfx: &str) -> Self {
        let products = names(PRODUCTS, 'Z', spec.products);
        let stations = names(STATIONS, 'Q', spec.stations);
        Self {
            days: spec.days,
            f: u64::try_from(spec.files_per_day)
                .unwrap_or(UNITS)
                .min(UNITS),
            seed,
            base: format!("nexrad/level3{sfx}"),
            id_prefix: format!("NWS/NEXRAD3{sfx}"),
            pidx: index(&products),
            sidx: index(&stations),
            products,
            stations,
        }
    }

    fn meta() -> Meta<'static> {
        Meta {
            service: "RadarServices",
            data_type: "RADIAL",
            data_format: "NEXRAD-3",
            // Unidata's NEXRAD level 3 catalogs carry this rolling coverage at every level.
            rolling: Some("14 days"),
        }
    }

    fn listing<'a>(&self, name: &'a str, id: &'a str) -> Listing<'a> {
        Listing {
            catalog_name: name,
            service: ("RadarServices", SERVICES),
            meta: Self::meta(),
            dataset_name: name,
            dataset_id: id,
        }
    }

    fn top(&self) -> Doc {
        let body = self
            .listing("NEXRAD Level III Radar", &self.id_prefix)
            .write(
                self.products.iter().map(|p| (p.clone(), p.clone())),
                self.products.len(),
            );
        xml_doc(body, static_epoch())
    }

    fn product(&self, p: &str) -> Doc {
        let id = format!("{}/{p}", self.id_prefix);
        let body = self.listing(p, &id).write(
            self.stations.iter().map(|s| (s.clone(), s.clone())),
            self.stations.len(),
        );
        xml_doc(body, static_epoch())
    }

    fn station(&self, p: &str, s: &str, now: DateTime<Utc>) -> Doc {
        let id = format!("{}/{p}/{s}", self.id_prefix);
        let body = self.listing(s, &id).write(
            days_newest_first(now, self.days).map(|d| {
                let n = super::ymd(d);
                (n.clone(), n)
            }),
            self.days,
        );
        xml_doc(body, super::day_start(now.date_naive()))
    }

    fn day(&self, p: &str, s: &str, d: NaiveDate, now: DateTime<Utc>) -> Doc {
        let day = super::ymd(d);
        let n = super::slots_for_day(d, now, self.f, UNITS, UNIT_NS);
        let id = format!("{}/{p}/{s}/{day}", self.id_prefix);
        let mut o = String::with_capacity(1536 + usize::try_from(n).unwrap_or(0) * 420);
        xml::open_catalog(&mut o, Some(&day));
        xml::compound_service(&mut o, "RadarServices", SERVICES);
        xml::open_top_dataset(&mut o, &day, Some(&id), &Self::meta());
        let mut last = super::day_start(d);
        let mut name = String::with_capacity(48);
        let mut leaf_id = String::with_capacity(96);
        let mut url = String::with_capacity(96);
        for k in (0..n).rev() {
            let minute = super::slot(k, self.f, UNITS);
            let secs = minute * 60;
            if k + 1 == n {
                last = super::day_start(d)
                    + chrono::Duration::seconds(i64::try_from(secs).unwrap_or(0));
            }
            name.clear();
            name.push_str("Level3_");
            name.push_str(s);
            name.push('_');
            name.push_str(p);
            name.push('_');
            name.push_str(&day);
            name.push('_');
            push_2(&mut name, minute / 60);
            push_2(&mut name, minute % 60);
            name.push_str(".nids");
            leaf_id.clear();
            leaf_id.push_str(&id);
            leaf_id.push('/');
            leaf_id.push_str(&name);
            url.clear();
            url.push_str(&self.base);
            url.push('/');
            url.push_str(p);
            url.push('/');
            url.push_str(s);
            url.push('/');
            url.push_str(&day);
            url.push('/');
            url.push_str(&name);
            xml::open_leaf(&mut o, &name, &leaf_id, &url);
            let h = xml::hash64(self.seed, &name);
            xml::data_size(&mut o, "Kbytes", 500 + h % 19_500);
            o.push_str("      <date type=\"modified\">");
            super::iso_in_day(&mut o, d, secs);
            o.push_str("</date>\n    </dataset>\n");
        }
        xml::close_top_dataset(&mut o);
        xml::close_catalog(&mut o);
        xml_doc(o, last)
    }
}

fn push_2(out: &mut String, v: u64) {
    let v = v % 100;
    out.push(char::from(b'0' + u8::try_from(v / 10).unwrap_or(0)));
    out.push(char::from(b'0' + u8::try_from(v % 10).unwrap_or(0)));
}

impl Subtree for Nexrad {
    fn top_href(&self) -> String {
        format!("catalog/{}/catalog.xml", self.base)
    }

    fn title(&self) -> String {
        "NEXRAD Level III Radar".to_owned()
    }

    fn id(&self) -> String {
        self.id_prefix.clone()
    }

    fn resolve(&self, rest: &str, now: DateTime<Utc>) -> Option<Doc> {
        let r = rest.strip_prefix(self.base.as_str())?.strip_prefix('/')?;
        let parts: Vec<&str> = r.split('/').collect();
        match parts.as_slice() {
            ["catalog.xml"] => Some(self.top()),
            [p, "catalog.xml"] if self.pidx.contains_key(*p) => Some(self.product(p)),
            [p, s, "catalog.xml"] if self.pidx.contains_key(*p) && self.sidx.contains_key(*s) => {
                Some(self.station(p, s, now))
            }
            [p, s, d, "catalog.xml"]
                if self.pidx.contains_key(*p) && self.sidx.contains_key(*s) =>
            {
                let day = super::parse_day(d)?;
                super::day_in_window(day, now, self.days).then(|| self.day(p, s, day, now))
            }
            _ => None,
        }
    }

    fn catalog_count(&self) -> u64 {
        let p = self.products.len() as u64;
        let ps = p.saturating_mul(self.stations.len() as u64);
        1u64.saturating_add(p)
            .saturating_add(ps)
            .saturating_add(ps.saturating_mul(self.days as u64))
    }

    fn granules(&self, now: DateTime<Utc>, out: &mut Vec<super::SimGranule>) {
        for p in &self.products {
            for s in &self.stations {
                for d in days_newest_first(now, self.days) {
                    let day = super::ymd(d);
                    let n = super::slots_for_day(d, now, self.f, UNITS, UNIT_NS);
                    for k in 0..n {
                        let minute = super::slot(k, self.f, UNITS);
                        let mut name = format!("Level3_{s}_{p}_{day}_");
                        push_2(&mut name, minute / 60);
                        push_2(&mut name, minute % 60);
                        name.push_str(".nids");
                        out.push(super::SimGranule {
                            id: format!("{}/{p}/{s}/{day}/{name}", self.id_prefix),
                            url_path: format!("{}/{p}/{s}/{day}/{name}", self.base),
                            time: super::day_start(d)
                                + chrono::Duration::minutes(i64::try_from(minute).unwrap_or(0)),
                        });
                    }
                }
            }
        }
    }

    fn granule_count(&self, now: DateTime<Utc>) -> u64 {
        let leaves = (self.products.len() as u64).saturating_mul(self.stations.len() as u64);
        leaves.saturating_mul(super::window_granules(
            now, self.days, self.f, UNITS, UNIT_NS,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_name_lists_are_unique_and_not_synthetic() {
        let p: std::collections::HashSet<_> = PRODUCTS.iter().collect();
        assert_eq!(p.len(), PRODUCTS.len());
        assert!(PRODUCTS.iter().all(|s| !s.starts_with('Z')));
        let s: std::collections::HashSet<_> = STATIONS.iter().collect();
        assert_eq!(s.len(), STATIONS.len());
        assert!(STATIONS.iter().all(|s| !s.starts_with('Q')));
        let n = names(STATIONS, 'Q', 100);
        assert_eq!(index(&n).len(), 100);
    }
}
