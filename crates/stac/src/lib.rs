//! `threddex-stac`: threddex's index as [STAC 1.0](https://stacspec.org) documents, with no
//! transport (the HTTP API at `/stac` and the STAC-GeoParquet export both call these).
//!
//! * [`item`]: a granule as a STAC Item. `datetime` is the granule's start (the time read from
//!   its name or its catalog, never the file's modification time); a granule with an end
//!   also has `start_datetime` / `end_datetime`. Geometry and `bbox` are the granule's
//!   effective geospatial coverage, which THREDDS granules inherit from their collection's
//!   catalog metadata; without a declared coverage the item has `geometry: null` and no
//!   `bbox` (valid STAC), never a made-up box. One asset per access service of the
//!   collection (see [`asset_kind`]), `file:size` on the file download when the catalog gives
//!   the size, and links to `self`, `collection`, `parent` and `root`. [`ItemTemplate`] /
//!   [`write_item`] write the same item's JSON straight into a byte buffer (what item searches
//!   answer with); [`item`] builds it as a `serde_json::Value`.
//! * [`collection`]: a collection as a STAC Collection: its real spatial and temporal
//!   extents, keywords, providers (creators as producers, publishers as hosts), `license`
//!   `other` (with a `license` link to the rights text when the catalog gives one as a link),
//!   `summaries` of its variables, links to its items, its ISO 19139 record
//!   (`describedby`), its CSW record and its granule timeline, its virtual views (Best,
//!   TwoD, `latest.xml`, …) as collection-level assets, and `item_assets` describing the
//!   assets every item has.
//!
//! Every URL is absolute under the roots given in [`Urls`] / [`ItemContext`]; IDs in paths are
//! percent-encoded ([`segment`]).

#![forbid(unsafe_code)]

mod assets;
mod collection;
mod item;
mod item_json;

pub use assets::{AssetKind, asset_kind, item_asset_keys};
pub use collection::collection;
pub use item::{ItemContext, footprint, geometry, item, item_url};
pub use item_json::{ItemTemplate, write_item};

use chrono::SecondsFormat;
use serde_json::{Value, json};
use threddex_store::Timestamp;

/// The STAC version of every document.
pub const STAC_VERSION: &str = "1.0.0";

/// The file extension (`file:size`).
pub const FILE_EXTENSION: &str = "https://stac-extensions.github.io/file/v2.1.0/schema.json";

/// The item-assets extension (`item_assets` of a collection).
pub const ITEM_ASSETS_EXTENSION: &str =
    "https://stac-extensions.github.io/item-assets/v1.0.0/schema.json";

/// Media type of STAC JSON documents (Items and ItemCollections).
pub const GEOJSON: &str = "application/geo+json";

/// Media type of STAC Catalogs and Collections.
pub const JSON: &str = "application/json";

/// Where documents link to: the STAC API root and the threddex API it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Urls {
    /// The threddex API base (`https://example.org/threddex`, no trailing slash): the ISO
    /// record, CSW and timeline links point under it.
    pub api: String,
    /// The STAC root (`https://example.org/threddex/stac`, no trailing slash).
    pub stac: String,
}

impl Urls {
    /// The roots of an API served at `api` (the STAC root is `{api}/stac`).
    pub fn new(api: &str) -> Self {
        let api = api.trim_end_matches('/').to_owned();
        Self {
            stac: format!("{api}/stac"),
            api,
        }
    }

    /// The URL of a collection.
    pub fn collection(&self, id: &str) -> String {
        collection_url(&self.stac, id)
    }
}

/// The URL of a collection under the STAC root.
pub fn collection_url(root: &str, id: &str) -> String {
    format!("{root}/collections/{}", segment(id))
}

/// Percent-encodes an ID as one path segment (everything but RFC 3986 unreserved characters,
/// so `/` and `:` too).
pub fn segment(id: &str) -> String {
    threddex_records::encode_query(id)
}

/// A time as STAC writes it (RFC 3339, UTC, `Z`).
pub fn time(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A link object.
pub fn link(rel: &str, href: &str, media_type: &str) -> Value {
    json!({"rel": rel, "href": href, "type": media_type})
}

/// A link object with a title.
pub fn titled_link(rel: &str, href: &str, media_type: &str, title: &str) -> Value {
    json!({"rel": rel, "href": href, "type": media_type, "title": title})
}

#[cfg(test)]
mod tests;
