//! `threddex-records`: ISO 19139 records for threddex collections and granules (pure, no I/O).
//!
//! Each collection is described once by a *series* record (`gmd:hierarchyLevel` = `series`,
//! `gmd:fileIdentifier` = the collection ID), while granules stay compact database rows; a
//! granule-level record is derived on demand.
//!
//! * [`synthesize`] builds the series record from the effective THREDDS catalog metadata
//!   ([`SeriesInput::from_collection`]), for servers without an ISO service.
//! * [`series_from_iso`] turns the ncISO record of one sample granule (`serviceType="ISO"`) into
//!   the series record: the document is parsed into a bounded element tree and re-serialised
//!   with escaping (nothing from the server is passed through as raw text), with the
//!   granule-specific identifier, title, extents and links replaced by the collection's.
//! * [`update_extent`] re-times a stored record when syncs add or expire granules;
//!   [`update_series`] also brings its distribution up to date (e.g. when the collection's
//!   virtual views change).
//! * Virtual views ([`SeriesInput::views`]: GRIB/FMRC Best, TwoD / full collection, FMRC run
//!   catalogs, `latest.xml` resolvers) are distribution online resources in their own
//!   `gmd:MD_DigitalTransferOptions` (labelled by `gmd:unitsOfDistribution`): one per access
//!   URL, named after the view.
//! * [`granule_record`] derives the record of one granule (identifier, time, access links).
//! * [`summary`] reads back what a CSW Dublin Core view needs.
//! * [`iso_service`] / [`iso_record_url`] tell the crawler whether and where to fetch the one
//!   sample ncISO record of a new collection; [`pretty`] re-indents a record for export.
//!
//! Records derived from server documents go through a schema-driven clean-up (`sanitize.rs`,
//! with content models generated from the stored ISO 19139 / 19115-2 XSDs by
//! `tools/gen_schema_table.py`): children are put in schema order, what the schemas do not
//! allow is dropped, missing mandatory properties become `gco:nilReason="missing"`, invalid
//! basic values, URIs and IDs are repaired. Only GML content (time periods, points) is kept
//! as the server wrote it, except the temporal extent, which is always rewritten.
//!
//! Antimeridian: a box with `west > east` crosses 180°. It is written as **two**
//! `gmd:EX_GeographicBoundingBox` elements (`west..180` and `-180..east`), which every ISO
//! consumer understands; [`summary`] merges such a pair back into one box with `west > east`.
//!
//! Every record this crate writes validates against the ISO 19139 schemas (see the tests, which
//! run `shared/schemas/validate-iso.sh`).

mod granule;
mod input;
mod iso;
mod ncis;
mod sanitize;
#[rustfmt::skip]
mod schema_table;
mod summary;
mod synth;
pub mod tree;
pub mod writer;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use granule::granule_record;
pub use input::{
    BBox, CitationDate, KeywordGroup, Link, Party, SeriesInput, Variable, contributor_role,
    encode_query, rolling_window,
};
pub use iso::{Protocol, VIEWS_UNITS, iso_record_url, iso_service, protocol_for};
pub use ncis::{series_from_iso, series_from_iso_with, update_extent, update_series};
pub use sanitize::embed_ids;
pub use summary::{RecordLink, RecordParty, RecordSummary, summary};
pub use synth::synthesize;
pub use tree::TreeLimits;

/// Re-indents a record (two spaces per level) for people to read; the content is unchanged.
/// Records are stored compact; this is for export and for size comparisons with
/// pretty-printed per-granule records such as ncISO output.
pub fn pretty(xml: &str) -> Result<String, RecordError> {
    let mut root = tree::parse(xml.as_bytes(), &TreeLimits::default())?;
    tree::strip_indentation(&mut root);
    Ok(tree::serialize_pretty(&root))
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// Not well-formed XML (or a construct refused: undeclared entity or prefix, bad name).
    #[error("XML error at byte {position}: {message}")]
    Xml {
        /// Byte offset (approximate).
        position: usize,
        /// What went wrong.
        message: String,
    },
    /// The document exceeds the size limit.
    #[error("document too large: {size} bytes (limit {max})")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Nesting deeper than the limit.
    #[error("document nested deeper than {max} elements")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// More elements than the limit.
    #[error("document has more than {max} elements")]
    TooManyElements {
        /// The limit.
        max: usize,
    },
    /// The root element is not `gmd:MD_Metadata` / `gmi:MI_Metadata`.
    #[error("not an ISO 19139 record (root element {root})")]
    NotIso {
        /// The root element as `{namespace}local`.
        root: String,
    },
    /// A required part is absent (e.g. no `MD_DataIdentification`).
    #[error("ISO record lacks {0}")]
    Missing(&'static str),
}

/// The time extent of a collection: the real min/max of its granules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    /// Earliest granule start.
    pub start: Option<DateTime<Utc>>,
    /// Latest granule end (or start when granules have no end).
    pub end: Option<DateTime<Utc>>,
}

impl Extent {
    /// An extent from its bounds.
    pub fn new(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Self {
        Self { start, end }
    }

    /// Whether neither bound is known.
    pub fn is_empty(&self) -> bool {
        self.start.is_none() && self.end.is_none()
    }
}
