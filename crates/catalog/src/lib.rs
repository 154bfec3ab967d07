//! `threddex-catalog`: a pure parser for THREDDS client catalogs (InvCatalog 1.0 / 1.2), as
//! served by TDS, Hyrax and RAMADDA.
//!
//! * [`parse_catalog`] turns catalog XML into a typed tree ([`Catalog`]): services (compound
//!   services nested, bases resolved per RFC 3986 against the catalog's final URL), datasets
//!   (tree kept), catalogRefs (hrefs resolved), access elements, metadata.
//! * [`Catalog::leaves`] lists the "granules" (datasets with a urlPath or access elements)
//!   with their effective metadata (see [`inherit`] for the precedence rules), and
//!   [`Leaf::access_services`] builds their access URLs. [`Catalog::leaf_refs`] is the
//!   allocation-light variant for very large catalogs.
//! * Dynamic/virtual datasets (latest.xml, Best, TwoD, ...) are flagged with [`DynamicKind`];
//!   [`Catalog::views`] lists them (and dynamic catalogRefs) with their access URLs.
//!
//! Untrusted input is bounded by [`Limits`]; no input makes the parser panic.
//! No I/O, no async.

pub mod dynamic;
pub mod error;
pub mod geo;
pub mod inherit;
pub mod model;
pub mod parse;
pub mod time;
pub mod units;
pub mod view;

pub use dynamic::VirtualView;
pub use error::{Limits, ParseError};
pub use geo::{BBox, GeospatialCoverage, Range};
pub use inherit::{EffectiveMetadata, Leaf, ResolvedAccess};
pub use model::{
    Access, Catalog, CatalogRef, Contributor, Dataset, DateTyped, Documentation, DynamicKind,
    MetadataBlock, Property, Service, ServiceType, Source, ThreddsMetadata, Variable, Variables,
    Vocab,
};
pub use parse::{THREDDS_NS, XLINK_NS};
pub use time::{DateValue, TimeCoverage, TimeDuration};
pub use units::DataSize;
pub use url::Url;
pub use view::LeafRef;

/// Parses a catalog document fetched from `url` (its final URL, after redirects) with the
/// default [`Limits`].
///
/// ```
/// use threddex_catalog::{parse_catalog, ServiceType, Url};
/// let xml = br#"<catalog xmlns="http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0">
///   <service name="odap" serviceType="DODS" base="/thredds/dodsC/"/>
///   <dataset name="a.nc" urlPath="data/a.nc" serviceName="odap"/></catalog>"#;
/// let url = Url::parse("https://tds.example.org/thredds/catalog/data/catalog.xml").unwrap();
/// let cat = parse_catalog(xml, &url).unwrap();
/// let access = cat.leaves()[0].access_services(&cat);
/// assert_eq!(access[0].service_type, ServiceType::OpenDap);
/// assert_eq!(access[0].url, "https://tds.example.org/thredds/dodsC/data/a.nc");
/// ```
pub fn parse_catalog(xml: &[u8], url: &Url) -> Result<Catalog, ParseError> {
    parse::parse_catalog_with(xml, url, &Limits::default())
}

/// Parses a catalog document with explicit [`Limits`].
pub fn parse_catalog_with(xml: &[u8], url: &Url, limits: &Limits) -> Result<Catalog, ParseError> {
    parse::parse_catalog_with(xml, url, limits)
}
