//! Typed tree of a THREDDS client catalog (InvCatalog 1.0 / 1.2).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::geo::GeospatialCoverage;
use crate::time::TimeCoverage;
use crate::units::DataSize;

/// A parsed THREDDS catalog document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalog {
    /// The final URL the document came from (after redirects).
    pub url: Url,
    /// `catalog/@name`.
    pub name: Option<String>,
    /// `catalog/@version` (e.g. `1.0.1`, `1.2`).
    pub version: Option<String>,
    /// `catalog/@expires`, when it parses as a date.
    pub expires: Option<DateTime<Utc>>,
    /// `catalog/@base` (raw). When present and valid it is the base for relative URL resolution.
    pub base: Option<String>,
    /// Top-level services in document order (compound services keep their children nested).
    pub services: Vec<Service>,
    /// Top-level datasets (the tree is kept in [`Dataset::children`]).
    pub datasets: Vec<Dataset>,
    /// Top-level catalogRefs (refs nested in datasets live in [`Dataset::catalog_refs`]).
    pub catalog_refs: Vec<CatalogRef>,
    /// Catalog-level `property` elements.
    pub properties: Vec<Property>,
    /// Catalog-level `metadata` elements (not in the spec, but seen in the wild); the
    /// `inherited="true"` ones are inherited by every dataset.
    pub metadata: Vec<MetadataBlock>,
    /// Non-fatal problems met while parsing (e.g. a catalogRef href that does not resolve and
    /// was dropped); at most 100 are kept.
    pub warnings: Vec<String>,
    /// Name -> service index over every service of the document (first definition wins).
    #[serde(skip)]
    pub(crate) service_index: HashMap<String, Service>,
}

/// The kind of a service (`serviceType`), compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum ServiceType {
    /// `OpenDAP` / `OPENDAP` / `DODS`.
    OpenDap,
    /// `DAP4`.
    Dap4,
    /// `HTTPServer` / `HTTP` / `File`.
    HttpServer,
    /// `WMS`.
    Wms,
    /// `WCS`.
    Wcs,
    /// `NetcdfSubset` / `NCSS` / `NetcdfServer`.
    Ncss,
    /// `ISO`.
    Iso,
    /// `NCML`.
    NcML,
    /// `UDDC`.
    Uddc,
    /// `Compound`: a list of nested services.
    Compound,
    /// `Resolver` (e.g. `latest.xml`).
    Resolver,
    /// `CdmRemote`.
    CdmRemote,
    /// `CdmrFeature`.
    CdmrFeature,
    /// `JupyterNotebook`.
    JupyterNotebook,
    /// `FTP`.
    Ftp,
    /// `GridFTP`.
    GridFtp,
    /// `NetCDF` (old-style direct file access).
    NetCdf,
    /// `DQC` (dataset query capability, radarServer).
    Dqc,
    /// `QueryCapability`.
    QueryCapability,
    /// `Catalog`.
    Catalog,
    /// Anything else, kept verbatim.
    Other(String),
}

impl ServiceType {
    /// Parses a `serviceType` value, case-insensitively; unknown values become [`ServiceType::Other`].
    pub fn parse(s: &str) -> ServiceType {
        let t = s.trim();
        let l = t.to_ascii_lowercase();
        match l.as_str() {
            "opendap" | "dods" => ServiceType::OpenDap,
            "dap4" => ServiceType::Dap4,
            "httpserver" | "http" | "file" => ServiceType::HttpServer,
            "wms" => ServiceType::Wms,
            "wcs" => ServiceType::Wcs,
            "netcdfsubset" | "ncss" | "netcdfserver" => ServiceType::Ncss,
            "iso" => ServiceType::Iso,
            "ncml" => ServiceType::NcML,
            "uddc" => ServiceType::Uddc,
            "compound" => ServiceType::Compound,
            "resolver" => ServiceType::Resolver,
            "cdmremote" => ServiceType::CdmRemote,
            "cdmrfeature" => ServiceType::CdmrFeature,
            "jupyternotebook" => ServiceType::JupyterNotebook,
            "ftp" => ServiceType::Ftp,
            "gridftp" => ServiceType::GridFtp,
            "netcdf" => ServiceType::NetCdf,
            "dqc" => ServiceType::Dqc,
            "querycapability" => ServiceType::QueryCapability,
            "catalog" => ServiceType::Catalog,
            _ => ServiceType::Other(t.to_string()),
        }
    }

    /// Canonical name (as TDS writes it; `Other` returns the original text).
    pub fn as_str(&self) -> &str {
        match self {
            ServiceType::OpenDap => "OPENDAP",
            ServiceType::Dap4 => "DAP4",
            ServiceType::HttpServer => "HTTPServer",
            ServiceType::Wms => "WMS",
            ServiceType::Wcs => "WCS",
            ServiceType::Ncss => "NetcdfSubset",
            ServiceType::Iso => "ISO",
            ServiceType::NcML => "NCML",
            ServiceType::Uddc => "UDDC",
            ServiceType::Compound => "Compound",
            ServiceType::Resolver => "Resolver",
            ServiceType::CdmRemote => "CdmRemote",
            ServiceType::CdmrFeature => "CdmrFeature",
            ServiceType::JupyterNotebook => "JupyterNotebook",
            ServiceType::Ftp => "FTP",
            ServiceType::GridFtp => "GridFTP",
            ServiceType::NetCdf => "NetCDF",
            ServiceType::Dqc => "DQC",
            ServiceType::QueryCapability => "QueryCapability",
            ServiceType::Catalog => "Catalog",
            ServiceType::Other(s) => s,
        }
    }
}

impl From<ServiceType> for String {
    fn from(t: ServiceType) -> String {
        t.as_str().to_string()
    }
}

impl From<String> for ServiceType {
    fn from(s: String) -> ServiceType {
        ServiceType::parse(&s)
    }
}

impl std::fmt::Display for ServiceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `service` element.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Service {
    /// `@name` (the key datasets refer to).
    pub name: String,
    /// `@serviceType`.
    pub service_type: ServiceType,
    /// `@base` as written.
    pub base: String,
    /// `@base` resolved per RFC 3986 against the catalog URL (or `catalog/@base`). An empty
    /// base resolves to the catalog's directory (so `Resolver` + `latest.xml` works).
    pub resolved_base: String,
    /// `@suffix` (empty when absent).
    pub suffix: String,
    /// `@desc`.
    pub desc: Option<String>,
    /// Nested services (for `Compound`, at any depth).
    pub children: Vec<Service>,
    /// `property` children.
    pub properties: Vec<Property>,
}

impl Service {
    /// The non-compound services this service stands for, depth first (itself if not compound).
    pub fn flatten(&self) -> Vec<&Service> {
        let mut out = Vec::new();
        self.flatten_into(&mut out, 0);
        out
    }

    fn flatten_into<'a>(&'a self, out: &mut Vec<&'a Service>, depth: usize) {
        if self.service_type == ServiceType::Compound || !self.children.is_empty() {
            if depth > 64 {
                return;
            }
            for c in &self.children {
                c.flatten_into(out, depth + 1);
            }
        } else {
            out.push(self);
        }
    }

    /// Finds a service by name in this subtree (including itself).
    pub fn find(&self, name: &str) -> Option<&Service> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

/// Dynamic or virtual dataset kinds (views computed by the server, not files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DynamicKind {
    /// `latest.xml` resolver.
    Latest,
    /// `latestComplete.xml` resolver.
    LatestComplete,
    /// Any other dataset served through a `Resolver` service.
    Resolver,
    /// GRIB/FMRC "Best" time series.
    Best,
    /// GRIB/FMRC two-dimensional time collection ("Full Collection (Reference / Forecast Time)").
    TwoD,
    /// GRIB "Full Collection" dataset.
    FullCollection,
    /// FMRC forecast-run view: the "Forecast Model Run" catalog (one dataset per run).
    ForecastRun,
    /// FMRC constant-forecast view: the "Constant Forecast Date" catalog (one dataset per
    /// forecast time, across runs).
    ConstantForecast,
    /// FMRC constant-offset view: the "Constant Forecast Offset" catalog (one dataset per
    /// forecast hour, across runs).
    ConstantOffset,
}

impl DynamicKind {
    /// A short lowercase name (`best`, `two_d`, `full_collection`, `forecast_run`,
    /// `constant_forecast`, `constant_offset`, `latest`, `latest_complete`, `resolver`).
    pub fn as_str(self) -> &'static str {
        match self {
            DynamicKind::Latest => "latest",
            DynamicKind::LatestComplete => "latest_complete",
            DynamicKind::Resolver => "resolver",
            DynamicKind::Best => "best",
            DynamicKind::TwoD => "two_d",
            DynamicKind::FullCollection => "full_collection",
            DynamicKind::ForecastRun => "forecast_run",
            DynamicKind::ConstantForecast => "constant_forecast",
            DynamicKind::ConstantOffset => "constant_offset",
        }
    }
}

/// A `catalogRef` element.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogRef {
    /// `@xlink:href` resolved against the catalog URL.
    pub href: Url,
    /// `@xlink:href` as written.
    pub raw_href: String,
    /// `@xlink:title`.
    pub title: Option<String>,
    /// `@name`.
    pub name: Option<String>,
    /// `@ID`.
    pub id: Option<String>,
    /// Recognised dynamic/virtual view, if any.
    pub dynamic: Option<DynamicKind>,
    /// Position in the document among all catalogRefs (0-based), to restore document order.
    pub doc_order: usize,
}

/// An `access` element.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Access {
    /// `@serviceName` (when absent the dataset's effective serviceName applies).
    pub service_name: Option<String>,
    /// `@urlPath`.
    pub url_path: String,
    /// `@dataFormat`.
    pub data_format: Option<String>,
    /// `dataSize` child.
    pub data_size: Option<DataSize>,
}

/// A `dataset` element (tree node).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dataset {
    /// `@name`.
    pub name: String,
    /// `@ID`.
    pub id: Option<String>,
    /// `@urlPath`.
    pub url_path: Option<String>,
    /// `@alias` (reference to another dataset's ID).
    pub alias: Option<String>,
    /// `@collectionType`.
    pub collection_type: Option<String>,
    /// `@harvest`.
    pub harvest: Option<bool>,
    /// `@restrictAccess`.
    pub restrict_access: Option<String>,
    /// `access` children.
    pub access: Vec<Access>,
    /// Nested datasets.
    pub children: Vec<Dataset>,
    /// Nested catalogRefs.
    pub catalog_refs: Vec<CatalogRef>,
    /// Services declared inside this dataset (old-style catalogs).
    pub services: Vec<Service>,
    /// Recognised dynamic/virtual dataset, if any.
    pub dynamic: Option<DynamicKind>,
    /// The dataset's own metadata: attributes (`serviceName`, `dataType`, `dataFormat`,
    /// `authority`) and metadata elements placed directly in the dataset.
    pub own: Box<ThreddsMetadata>,
    /// The dataset's `metadata` elements.
    pub metadata: Vec<MetadataBlock>,
}

impl Dataset {
    /// The `timeCoverage` declared on this dataset element itself: among its own elements,
    /// else in its own `metadata` blocks (inherited or not), never an ancestor's.
    pub fn own_time_coverage(&self) -> Option<&crate::time::TimeCoverage> {
        self.own.time_coverage.as_deref().or_else(|| {
            self.metadata
                .iter()
                .find_map(|b| b.content.time_coverage.as_deref())
        })
    }

    /// Whether this dataset is a "granule" (has a urlPath or access element).
    pub fn is_leaf(&self) -> bool {
        self.url_path.is_some() || !self.access.is_empty()
    }

    /// Number of datasets in this subtree, itself included.
    pub fn count(&self) -> usize {
        1 + self.children.iter().map(Dataset::count).sum::<usize>()
    }
}

/// A `metadata` element.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MetadataBlock {
    /// `@inherited="true"`.
    pub inherited: bool,
    /// `@metadataType` (e.g. `THREDDS`, `DIF`).
    pub metadata_type: Option<String>,
    /// `@xlink:href` (external metadata; not fetched).
    pub href: Option<String>,
    /// `@xlink:title`.
    pub title: Option<String>,
    /// THREDDS metadata elements inside.
    pub content: ThreddsMetadata,
}

/// The THREDDS metadata group (`threddsMetadataGroup`), as found in one place.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ThreddsMetadata {
    /// `serviceName`.
    pub service_name: Option<String>,
    /// `dataType`.
    pub data_type: Option<String>,
    /// `dataFormat`.
    pub data_format: Option<String>,
    /// `authority`.
    pub authority: Option<String>,
    /// `timeCoverage` (boxed: most datasets have none).
    pub time_coverage: Option<Box<TimeCoverage>>,
    /// `geospatialCoverage` (boxed: most datasets have none).
    pub geospatial_coverage: Option<Box<GeospatialCoverage>>,
    /// `dataSize`.
    pub data_size: Option<DataSize>,
    /// `documentation`.
    pub documentation: Vec<Documentation>,
    /// `keyword`.
    pub keywords: Vec<Vocab>,
    /// `creator`.
    pub creators: Vec<Source>,
    /// `publisher`.
    pub publishers: Vec<Source>,
    /// `contributor`.
    pub contributors: Vec<Contributor>,
    /// `date`.
    pub dates: Vec<DateTyped>,
    /// `property`.
    pub properties: Vec<Property>,
    /// `project`.
    pub projects: Vec<Vocab>,
    /// `variables` (and bare `variableMap` links).
    pub variables: Vec<Variables>,
}

/// A `documentation` element (inline text and/or an xlink).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Documentation {
    /// `@type` (summary, rights, processing_level, funding, ...).
    pub doc_type: Option<String>,
    /// `@xlink:href` as written.
    pub href: Option<String>,
    /// `@xlink:title`.
    pub title: Option<String>,
    /// Inline text (trimmed), if any.
    pub text: Option<String>,
}

/// A controlled-vocabulary value (`keyword`, `project`, creator `name`, geospatial `name`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vocab {
    /// Element text (trimmed).
    pub value: String,
    /// `@vocabulary`.
    pub vocabulary: Option<String>,
}

/// `creator` / `publisher`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// `name` child.
    pub name: Vocab,
    /// `contact/@url`.
    pub contact_url: Option<String>,
    /// `contact/@email`.
    pub contact_email: Option<String>,
}

/// `contributor`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contributor {
    /// Element text.
    pub name: String,
    /// `@role`.
    pub role: Option<String>,
}

/// `date` with its `type`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DateTyped {
    /// Text as written.
    pub value: String,
    /// `@type` (created, modified, issued, valid, ...).
    pub date_type: Option<String>,
    /// `@format` (a Java SimpleDateFormat pattern; recorded, not interpreted).
    pub format: Option<String>,
    /// Parsed value, if the text is a recognisable ISO 8601 form.
    pub parsed: Option<DateTime<Utc>>,
}

/// `property` (name/value pair).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Property {
    /// `@name`.
    pub name: String,
    /// `@value`.
    pub value: String,
}

/// `variables` element (or a bare `variableMap`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Variables {
    /// `@vocabulary`.
    pub vocabulary: Option<String>,
    /// `variable` children.
    pub variables: Vec<Variable>,
    /// `variableMap/@xlink:href` (recorded, not fetched).
    pub variable_map_href: Option<String>,
    /// `variableMap/@xlink:title`.
    pub variable_map_title: Option<String>,
}

/// `variable`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    /// `@name`.
    pub name: String,
    /// `@vocabulary_name`.
    pub vocabulary_name: Option<String>,
    /// `@units`.
    pub units: Option<String>,
    /// Element text (description), if any.
    pub description: Option<String>,
}
