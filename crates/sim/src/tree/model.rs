//! Model-run tree: `grib/NCEP/{Model}/catalog.xml` with a `Best` dataset, a `latest.xml`
//! catalogRef and `files/catalog.xml` listing run files `{Model}_{YYYYMMDD}_{HHMM}.grib2`.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::{Subtree, static_epoch, xml_doc};
use crate::xml::{self, Doc, Meta};

/// Size of a model-run tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// Number of models (GFS/Global_0p25deg, NAM/CONUS_12km, …, then `SIM/Model_NNN`).
    pub models: usize,
    /// Runs per model, one every 6 h going back from the clock (latest run = now floored to 6 h).
    pub runs: usize,
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self { models: 2, runs: 4 }
    }
}

/// (path under grib/NCEP, forecast hours)
const MODELS: &[(&str, i64)] = &[
    ("GFS/Global_0p25deg", 384),
    ("NAM/CONUS_12km", 84),
    ("HRRR/CONUS_2p5km", 18),
    ("RAP/CONUS_13km", 21),
    ("GFS/Global_0p5deg", 384),
    ("GEFS/Global_1p0deg_Ensemble", 384),
    ("NDFD/NWS_CONUS_2p5km", 168),
    ("WW3/Global", 180),
];

const SERVICES: &[(&str, &str, &str)] = &[
    ("OPENDAP", "OPENDAP", "/thredds/dodsC/"),
    ("CdmRemote", "CdmRemote", "/thredds/cdmremote/"),
    ("HTTPServer", "HTTPServer", "/thredds/fileServer/"),
    ("NetcdfSubset", "NetcdfSubset", "/thredds/ncss/grid/"),
    ("WMS", "WMS", "/thredds/wms/"),
    ("WCS", "WCS", "/thredds/wcs/"),
    ("ISO", "ISO", "/thredds/iso/"),
    ("NCML", "NCML", "/thredds/ncml/"),
    ("UDDC", "UDDC", "/thredds/uddc/"),
];

const META: Meta<'static> = Meta {
    service: "GridServices",
    data_type: "GRID",
    data_format: "GRIB-2",
};

struct Model {
    path: String,
    file_prefix: String,
    title: String,
    fhours: i64,
}

pub(crate) struct Models {
    runs: usize,
    seed: u64,
    base: String,
    models: Vec<Model>,
    idx: HashMap<String, usize>,
}

const SIX_HOURS: i64 = 6 * 3600;

fn latest_run(now: DateTime<Utc>) -> DateTime<Utc> {
    let t = now.timestamp().div_euclid(SIX_HOURS) * SIX_HOURS;
    DateTime::from_timestamp(t, 0).unwrap_or(now)
}

impl Models {
    pub(crate) fn new(spec: &ModelSpec, seed: u64, sfx: &str) -> Self {
        let models: Vec<Model> = (0..spec.models)
            .map(|i| {
                let (path, fh) = match MODELS.get(i) {
                    Some((p, f)) => ((*p).to_owned(), *f),
                    None => (format!("SIM/Model_{:03}", i - MODELS.len()), 120),
                };
                Model {
                    file_prefix: path.replace('/', "_"),
                    title: path.replace(['/', '_'], " "),
                    path,
                    fhours: fh,
                }
            })
            .collect();
        let idx = models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.path.clone(), i))
            .collect();
        Self {
            runs: spec.runs,
            seed,
            base: format!("grib/NCEP{sfx}"),
            models,
            idx,
        }
    }

    fn run_times(&self, now: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> {
        let latest = latest_run(now);
        (0..self.runs).filter_map(move |r| {
            let back = i64::try_from(r).ok()?.checked_mul(SIX_HOURS)?;
            latest.checked_sub_signed(chrono::Duration::seconds(back))
        })
    }

    fn file_name(m: &Model, run: DateTime<Utc>) -> String {
        format!("{}_{}.grib2", m.file_prefix, run.format("%Y%m%d_%H%M"))
    }

    fn top(&self) -> Doc {
        let mut o = String::with_capacity(1536 + self.models.len() * 200);
        xml::open_catalog(&mut o, Some("NCEP Model Data"));
        xml::compound_service(&mut o, "GridServices", SERVICES);
        xml::open_top_dataset(&mut o, "NCEP Model Data", Some(&self.base), &META);
        for m in &self.models {
            let href = format!("{}/catalog.xml", m.path);
            let id = format!("{}/{}", self.base, m.path);
            xml::catalog_ref(&mut o, "    ", &href, &m.title, &id);
        }
        xml::close_top_dataset(&mut o);
        xml::close_catalog(&mut o);
        xml_doc(o, static_epoch())
    }

    fn coverage(out: &mut String, indent: &str, start: DateTime<Utc>, end: DateTime<Utc>) {
        let _ = write!(out, "{indent}<timeCoverage>\n{indent}  <start>");
        xml::iso(out, start);
        let _ = write!(out, "</start>\n{indent}  <end>");
        xml::iso(out, end);
        let _ = writeln!(out, "</end>\n{indent}</timeCoverage>");
    }

    fn model(&self, m: &Model, now: DateTime<Utc>) -> Doc {
        let id = format!("{}/{}", self.base, m.path);
        let mut o = String::with_capacity(3072);
        xml::open_catalog(&mut o, Some(&m.title));
        xml::compound_service(&mut o, "GridServices", SERVICES);
        xml::open_top_dataset(&mut o, &m.title, Some(&id), &META);
        let runs: Vec<_> = self.run_times(now).collect();
        if let (Some(newest), Some(oldest)) = (runs.first(), runs.last()) {
            let best = format!("{id}/Best");
            xml::open_leaf(
                &mut o,
                &format!("Best {} Time Series", m.title),
                &best,
                &best,
            );
            o.push_str("      <documentation type=\"summary\">Best Time Series, merging all runs</documentation>\n");
            Self::coverage(
                &mut o,
                "      ",
                *oldest,
                *newest + chrono::Duration::hours(m.fhours),
            );
            o.push_str("    </dataset>\n");
        }
        xml::catalog_ref(
            &mut o,
            "    ",
            "latest.xml",
            &format!("Latest Collection for {}", m.title),
            &format!("{id}/latest.xml"),
        );
        xml::catalog_ref(
            &mut o,
            "    ",
            "files/catalog.xml",
            "files",
            &format!("{id}/files"),
        );
        xml::close_top_dataset(&mut o);
        xml::close_catalog(&mut o);
        xml_doc(o, latest_run(now))
    }

    fn leaf(&self, o: &mut String, m: &Model, run: DateTime<Utc>, with_meta: bool) {
        let name = Self::file_name(m, run);
        let id = format!("{}/{}/files/{name}", self.base, m.path);
        let indent = if with_meta { "  " } else { "    " };
        o.push_str(indent);
        o.push_str("<dataset name=\"");
        xml::escape_into(o, &name);
        o.push_str("\" ID=\"");
        xml::escape_into(o, &id);
        o.push_str("\" urlPath=\"");
        xml::escape_into(o, &id);
        o.push_str("\">\n");
        let h = xml::hash64(self.seed, &name);
        let _ = writeln!(
            o,
            "{indent}  <dataSize units=\"Mbytes\">{}.{}</dataSize>",
            50 + h % 450,
            (h >> 20) % 10
        );
        let _ = write!(o, "{indent}  <date type=\"modified\">");
        xml::iso(o, run);
        o.push_str("</date>\n");
        if with_meta {
            let _ = writeln!(
                o,
                "{indent}  <metadata inherited=\"true\">\n{indent}    <serviceName>GridServices</serviceName>\n{indent}    <authority>edu.ucar.unidata</authority>\n{indent}    <dataType>GRID</dataType>\n{indent}    <dataFormat>GRIB-2</dataFormat>\n{indent}  </metadata>"
            );
        }
        Self::coverage(
            o,
            &format!("{indent}  "),
            run,
            run + chrono::Duration::hours(m.fhours),
        );
        o.push_str(indent);
        o.push_str("</dataset>\n");
    }

    fn files(&self, m: &Model, now: DateTime<Utc>) -> Doc {
        let id = format!("{}/{}/files", self.base, m.path);
        let mut o = String::with_capacity(1536 + self.runs * 500);
        xml::open_catalog(&mut o, Some(&format!("{} files", m.title)));
        xml::compound_service(&mut o, "GridServices", SERVICES);
        xml::open_top_dataset(&mut o, "files", Some(&id), &META);
        for run in self.run_times(now) {
            self.leaf(&mut o, m, run, false);
        }
        xml::close_top_dataset(&mut o);
        xml::close_catalog(&mut o);
        xml_doc(o, latest_run(now))
    }

    fn latest(&self, m: &Model, now: DateTime<Utc>) -> Doc {
        let mut o = String::with_capacity(2048);
        match self.run_times(now).next() {
            Some(run) => {
                xml::open_catalog(&mut o, Some(&Self::file_name(m, run)));
                xml::compound_service(&mut o, "GridServices", SERVICES);
                self.leaf(&mut o, m, run, true);
            }
            None => {
                xml::open_catalog(&mut o, Some(&m.title));
                xml::compound_service(&mut o, "GridServices", SERVICES);
            }
        }
        xml::close_catalog(&mut o);
        xml_doc(o, latest_run(now))
    }
}

impl Models {
    /// The ncISO-like record of a run file, by its urlPath (`{base}/{model}/files/{name}`), if
    /// the file is currently listed.
    fn iso(&self, url_path: &str, now: DateTime<Utc>, host: &str) -> Option<Doc> {
        let r = url_path
            .strip_prefix(self.base.as_str())?
            .strip_prefix('/')?;
        let (path, name) = r.split_once("/files/")?;
        let m = self.idx.get(path).and_then(|&i| self.models.get(i))?;
        let run = self
            .run_times(now)
            .find(|&run| Self::file_name(m, run) == name)?;
        let global = m.path.contains("Global");
        let g = super::ncis::IsoGranule {
            id: url_path,
            name,
            title: &m.title,
            start: run,
            end: run + chrono::Duration::hours(m.fhours),
            host,
            bbox: if global {
                (-180.0, 180.0, -90.0, 90.0)
            } else {
                (-134.1, -60.9, 21.1, 52.6)
            },
            grid: if global { (1440, 721) } else { (1799, 1059) },
        };
        Some(Doc {
            body: super::ncis::record(&g),
            last_modified: run,
            kind: crate::xml::DocKind::Xml,
        })
    }
}

impl Subtree for Models {
    fn iso_record(&self, url_path: &str, now: DateTime<Utc>, host: &str) -> Option<Doc> {
        self.iso(url_path, now, host)
    }

    fn top_href(&self) -> String {
        format!("catalog/{}/catalog.xml", self.base)
    }

    fn title(&self) -> String {
        "NCEP Model Data".to_owned()
    }

    fn id(&self) -> String {
        self.base.clone()
    }

    fn resolve(&self, rest: &str, now: DateTime<Utc>) -> Option<Doc> {
        let r = rest.strip_prefix(self.base.as_str())?.strip_prefix('/')?;
        if r == "catalog.xml" {
            return Some(self.top());
        }
        let find = |p: &str| self.idx.get(p).and_then(|&i| self.models.get(i));
        if let Some(m) = r.strip_suffix("/files/catalog.xml").and_then(find) {
            return Some(self.files(m, now));
        }
        if let Some(m) = r.strip_suffix("/latest.xml").and_then(find) {
            return Some(self.latest(m, now));
        }
        if let Some(m) = r.strip_suffix("/catalog.xml").and_then(find) {
            return Some(self.model(m, now));
        }
        None
    }

    fn catalog_count(&self) -> u64 {
        1u64.saturating_add((self.models.len() as u64).saturating_mul(3))
    }

    fn granule_count(&self, now: DateTime<Utc>) -> u64 {
        (self.models.len() as u64).saturating_mul(self.run_times(now).count() as u64)
    }
}
