//! GRIB feature collections: `grib/NCEP/{Model}/catalog.xml` with the `TwoD` and `Best` views,
//! a `latest.xml` resolver dataset and one catalogRef per run file
//! `{Model}_{YYYYMMDD}_{HHMM}.grib2/catalog.xml`, each listing that one file; the server keeps
//! the newest `runs` runs (one every 6 h), so old files leave the listing and their catalogs
//! answer 404.

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

/// Services of the collection catalog: the virtual views are served through these (no
/// HTTPServer: a view is not a file).
const VIRTUAL_SERVICES: &[(&str, &str, &str)] = &[
    ("OPENDAP", "OPENDAP", "/thredds/dodsC/"),
    ("CdmRemote", "CdmRemote", "/thredds/cdmremote/"),
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
    rolling: None,
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

/// Parses `{prefix}_{YYYYMMDD}_{HHMM}.grib2` back to its run time.
fn parse_file(prefix: &str, name: &str) -> Option<DateTime<Utc>> {
    let stamp = name
        .strip_prefix(prefix)?
        .strip_prefix('_')?
        .strip_suffix(".grib2")?;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%d_%H%M")
        .ok()
        .map(|t| t.and_utc())
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

    /// The runs the server keeps at `now`, newest first (one every 6 h).
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

    /// The run of a listed file, by name.
    fn listed_run(&self, m: &Model, name: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let run = parse_file(&m.file_prefix, name)?;
        self.run_times(now).any(|r| r == run).then_some(run)
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

    /// A virtual view of the collection (`TwoD`, `Best`) with its own time coverage, as TDS
    /// writes it (RAP CONUS 13km capture).
    fn view(
        o: &mut String,
        name: &str,
        id: &str,
        summary: &str,
        span: (DateTime<Utc>, DateTime<Utc>),
    ) {
        xml::open_leaf(o, name, id, id);
        let _ = writeln!(
            o,
            "      <documentation type=\"summary\">{summary}</documentation>\n      <metadata inherited=\"true\">"
        );
        Self::coverage(o, "        ", span.0, span.1);
        o.push_str("      </metadata>\n    </dataset>\n");
    }

    /// The collection catalog of one model, shaped like Unidata's GRIB feature collections
    /// (`grib/NCEP/RAP/CONUS_13km/catalog.xml` captured 2015-05-27, TDS 4.6;
    /// `grib/NCEP/GFS/Global_0p25deg_ana/catalog.xml` captured 2024-01-08, TDS 5): the
    /// inherited rolling coverage, the `TwoD` and `Best` views, the `latest.xml` resolver
    /// dataset and one catalogRef per run file, newest first.
    fn model(&self, m: &Model, now: DateTime<Utc>) -> Doc {
        let id = format!("{}/{}", self.base, m.path);
        let runs: Vec<_> = self.run_times(now).collect();
        let mut o = String::with_capacity(4096 + runs.len() * 400);
        xml::open_catalog(&mut o, Some(&m.title));
        o.push_str("  <service name=\"latest\" serviceType=\"Resolver\" base=\"\" />\n");
        xml::compound_service(&mut o, "VirtualServices", VIRTUAL_SERVICES);
        o.push_str("  <dataset name=\"");
        xml::escape_into(&mut o, &m.title);
        o.push_str("\">\n    <metadata inherited=\"true\">\n      <serviceName>VirtualServices</serviceName>\n      <authority>edu.ucar.unidata</authority>\n      <dataType>GRID</dataType>\n      <dataFormat>GRIB-2</dataFormat>\n      <documentation type=\"rights\">Freely available</documentation>\n");
        let hours = i64::try_from(self.runs).unwrap_or(0).saturating_mul(6);
        super::rolling_coverage(&mut o, "      ", &format!("{hours} hours"));
        o.push_str("    </metadata>\n");
        if let (Some(newest), Some(oldest)) = (runs.first(), runs.last()) {
            let span = (*oldest, *newest + chrono::Duration::hours(m.fhours));
            Self::view(
                &mut o,
                "Full Collection (Reference / Forecast Time) Dataset",
                &format!("{id}/TwoD"),
                "Two time dimensions: reference and forecast; full access to all GRIB records",
                span,
            );
            Self::view(
                &mut o,
                &format!("Best {} Time Series", m.title),
                &format!("{id}/Best"),
                "Single time dimension: for each forecast time, use GRIB record with smallest offset from reference time",
                span,
            );
        }
        o.push_str("    <dataset name=\"Latest Collection for ");
        xml::escape_into(&mut o, &m.title);
        o.push_str(
            "\" urlPath=\"latest.xml\">\n      <serviceName>latest</serviceName>\n    </dataset>\n",
        );
        for run in &runs {
            let name = Self::file_name(m, *run);
            let href = format!("/thredds/catalog/{id}/{name}/catalog.xml");
            xml::catalog_ref(&mut o, "    ", &href, &name, &format!("{id}/{name}"));
        }
        xml::close_top_dataset(&mut o);
        xml::close_catalog(&mut o);
        xml_doc(o, latest_run(now))
    }

    fn leaf(&self, o: &mut String, m: &Model, run: DateTime<Utc>) {
        let name = Self::file_name(m, run);
        let id = format!("{}/{}/{name}", self.base, m.path);
        xml::open_leaf(o, &name, &id, &id);
        let h = xml::hash64(self.seed, &name);
        let _ = writeln!(
            o,
            "      <dataSize units=\"Mbytes\">{}.{}</dataSize>",
            50 + h % 450,
            (h >> 20) % 10
        );
        xml::modified(o, run);
        o.push_str("      <metadata inherited=\"true\">\n        <serviceName>GridServices</serviceName>\n        <authority>edu.ucar.unidata</authority>\n        <dataType>GRID</dataType>\n        <dataFormat>GRIB-2</dataFormat>\n");
        Self::coverage(o, "        ", run, run + chrono::Duration::hours(m.fhours));
        o.push_str("      </metadata>\n    </dataset>\n");
    }

    /// The catalog of one run file (`{name}/catalog.xml`): a single dataset with its own
    /// time coverage, as the per-file catalogs of the GFS capture.
    fn file_catalog(&self, m: &Model, run: DateTime<Utc>) -> Doc {
        let mut o = String::with_capacity(2048);
        xml::open_catalog(&mut o, Some(&Self::file_name(m, run)));
        xml::compound_service(&mut o, "GridServices", SERVICES);
        self.leaf(&mut o, m, run);
        xml::close_catalog(&mut o);
        xml_doc(o, run)
    }

    /// What the `latest.xml` resolver answers: the newest file's catalog.
    fn latest(&self, m: &Model, now: DateTime<Utc>) -> Doc {
        match self.run_times(now).next() {
            Some(run) => {
                let mut d = self.file_catalog(m, run);
                d.last_modified = latest_run(now);
                d
            }
            None => {
                let mut o = String::with_capacity(512);
                xml::open_catalog(&mut o, Some(&m.title));
                xml::compound_service(&mut o, "GridServices", SERVICES);
                xml::close_catalog(&mut o);
                xml_doc(o, latest_run(now))
            }
        }
    }
}

impl Models {
    /// The ncISO-like record of a run file, by its urlPath (`{base}/{model}/{name}`), if the
    /// file is currently listed.
    fn iso(&self, url_path: &str, now: DateTime<Utc>, host: &str) -> Option<Doc> {
        let r = url_path
            .strip_prefix(self.base.as_str())?
            .strip_prefix('/')?;
        let (path, name) = r.rsplit_once('/')?;
        let m = self.idx.get(path).and_then(|&i| self.models.get(i))?;
        let run = self.listed_run(m, name, now)?;
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
        if let Some(m) = r.strip_suffix("/latest.xml").and_then(find) {
            return Some(self.latest(m, now));
        }
        let dir = r.strip_suffix("/catalog.xml")?;
        if let Some(m) = find(dir) {
            return Some(self.model(m, now));
        }
        // A run file's catalog: `{model}/{name}/catalog.xml`, while the file is listed.
        let (path, name) = dir.rsplit_once('/')?;
        let m = find(path)?;
        let run = self.listed_run(m, name, now)?;
        Some(self.file_catalog(m, run))
    }

    fn catalog_count(&self) -> u64 {
        let per_model = 1u64.saturating_add(self.runs as u64);
        1u64.saturating_add((self.models.len() as u64).saturating_mul(per_model))
    }

    fn granule_count(&self, now: DateTime<Utc>) -> u64 {
        (self.models.len() as u64).saturating_mul(self.run_times(now).count() as u64)
    }

    fn granules(&self, now: DateTime<Utc>, out: &mut Vec<super::SimGranule>) {
        for m in &self.models {
            for run in self.run_times(now) {
                let id = format!("{}/{}/{}", self.base, m.path, Self::file_name(m, run));
                out.push(super::SimGranule {
                    url_path: id.clone(),
                    id,
                    time: run,
                });
            }
        }
    }
}
