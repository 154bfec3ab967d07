//! Row models shared by every backend.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The answer to [`crate::SyncLeases::try_acquire_lease`] and [`crate::SyncLeases::acquire_lease`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseGrant {
    /// The lease was free: the caller holds it now.
    Acquired,
    /// An unreleased lease (expired, the caller's own, or one of a holder process that no
    /// longer exists) was taken over: the caller holds it now, and the previous run may have
    /// been interrupted.
    TakenOver,
    /// Another holder has a lease that has not expired: who, and until when.
    Busy(Box<crate::LeaseInfo>),
}

impl LeaseGrant {
    /// Whether the caller holds the lease now.
    pub fn held(&self) -> bool {
        !matches!(self, Self::Busy(_))
    }
}

/// A point in time, always UTC.
pub type Timestamp = DateTime<Utc>;

/// How a catalog node behaves over time (see `docs/crawl-model.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NodeClass {
    /// Never changes again: crawled once.
    Archival,
    /// May change: re-listed on every sync and on refresh.
    #[default]
    Live,
    /// A dated folder for today or yesterday: live until it ages into archival.
    Daily,
    /// A folder holding both dated (archival) children and live content.
    Mixed,
}

impl NodeClass {
    /// The lowercase name used in the database and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Archival => "archival",
            Self::Live => "live",
            Self::Daily => "daily",
            Self::Mixed => "mixed",
        }
    }

    /// Parse the lowercase name.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "archival" => Some(Self::Archival),
            "live" => Some(Self::Live),
            "daily" => Some(Self::Daily),
            "mixed" => Some(Self::Mixed),
            _ => None,
        }
    }
}

/// The outcome of the last fetch of a catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CatalogStatus {
    /// Discovered (referenced by a parent) but not fetched yet.
    #[default]
    Pending,
    /// Fetched and parsed.
    Ok,
    /// The server said 304 Not Modified on the last visit.
    NotModified,
    /// The last fetch failed; see `error`.
    Failed,
}

impl CatalogStatus {
    /// The name used in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ok => "ok",
            Self::NotModified => "not_modified",
            Self::Failed => "failed",
        }
    }

    /// Parse the database name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "ok" => Some(Self::Ok),
            "not_modified" => Some(Self::NotModified),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A per-source override of the node classification: catalogs whose URL matches `pattern`
/// get `class`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassRule {
    /// A regular expression matched against the catalog URL.
    pub pattern: String,
    /// The class to give matching catalogs.
    pub class: NodeClass,
}

/// The settings of a source to register.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSource {
    /// Unique, human-chosen name (defaults to the host name).
    pub name: String,
    /// The start catalog URL.
    pub url: String,
    /// Naming authority used to prefix collection IDs when the catalog gives none.
    pub authority: Option<String>,
    /// Sync interval in seconds (for the scheduler).
    pub every_secs: Option<i64>,
    /// Regexes: only datasets/refs matching at least one are followed (empty: all).
    pub select: Vec<String>,
    /// Regexes: datasets/refs matching any are skipped.
    pub skip: Vec<String>,
    /// Classification overrides.
    pub rules: Vec<ClassRule>,
}

/// A registered source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Database key.
    pub id: i64,
    /// Its settings.
    #[serde(flatten)]
    pub settings: NewSource,
    /// When it was registered.
    pub created_at: Timestamp,
    /// When the last run (harvest or sync) ended.
    pub last_sync_at: Option<Timestamp>,
    /// When the last fully successful run ended.
    pub last_success_at: Option<Timestamp>,
}

/// What a sync of a source starts from, read through the catalogs' indexes
/// ([`CrawlState::due_catalogs`](crate::CrawlState::due_catalogs)).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DueCatalogs {
    /// The catalogs to re-read, by depth then URL: every pending one, and every one that is
    /// not archival and is failed or has a `next_visit` unset or not after the time asked for.
    pub due: Vec<CatalogState>,
    /// How many catalogs the source has.
    pub known: u64,
    /// How many of them are archival and were read (not pending).
    pub archival: u64,
}

/// The persisted crawl state of one catalog (a node of a source's tree).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogState {
    /// The catalog's normalised absolute URL (the key).
    pub url: String,
    /// The source it belongs to.
    pub source_id: i64,
    /// The catalog that referenced it (None for the start catalog).
    pub parent_url: Option<String>,
    /// Distance from the start catalog.
    pub depth: i32,
    /// Its classification.
    pub class: NodeClass,
    /// Outcome of the last fetch.
    pub status: CatalogStatus,
    /// When it was last fetched (or tried).
    pub last_fetch: Option<Timestamp>,
    /// `ETag` validator from the last successful fetch.
    pub etag: Option<String>,
    /// `Last-Modified` validator from the last successful fetch.
    pub last_modified: Option<String>,
    /// Hash of the last successfully parsed body (hex).
    pub content_hash: Option<String>,
    /// When the content hash last changed.
    pub last_changed: Option<Timestamp>,
    /// Granules listed directly in this catalog at the last successful fetch.
    pub granule_count: i64,
    /// Reason of the last failure.
    pub error: Option<String>,
    /// When it should be visited again (None: on every sync, or never for archival).
    pub next_visit: Option<Timestamp>,
    /// The catalog's own `expires` attribute, if any.
    pub expires: Option<Timestamp>,
    /// When its listing is expected to change next, from the cadence of the times it lists
    /// (None: unknown). Caps the adaptive revisit interval.
    pub next_change: Option<Timestamp>,
}

impl CatalogState {
    /// A freshly discovered catalog, not fetched yet.
    pub fn pending(
        url: impl Into<String>,
        source_id: i64,
        parent_url: Option<String>,
        depth: i32,
    ) -> Self {
        Self {
            url: url.into(),
            source_id,
            parent_url,
            depth,
            class: NodeClass::Live,
            status: CatalogStatus::Pending,
            last_fetch: None,
            etag: None,
            last_modified: None,
            content_hash: None,
            last_changed: None,
            granule_count: 0,
            error: None,
            next_visit: None,
            expires: None,
            next_change: None,
        }
    }
}

/// One way to reach a collection's granules: a service base plus suffix; a granule's access URL
/// is `base + url_path + suffix` (string concatenation, as the THREDDS spec says).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessService {
    /// Service name in the catalog.
    pub name: String,
    /// Service type (`OpenDAP`, `HTTPServer`, `WMS`, `ISO`, …).
    pub service_type: String,
    /// Absolute resolved base URL.
    pub base: String,
    /// Suffix appended after the urlPath.
    pub suffix: String,
}

impl AccessService {
    /// The access URL of a granule through this service.
    pub fn url_for(&self, url_path: &str) -> String {
        let mut s = String::with_capacity(self.base.len() + url_path.len() + self.suffix.len());
        s.push_str(&self.base);
        s.push_str(url_path);
        s.push_str(&self.suffix);
        s
    }
}

/// The kind of a virtual view: a dataset or catalog a THREDDS server computes from the files
/// of a feature collection (GRIB, FMRC) or resolves on request, rather than a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewKind {
    /// GRIB/FMRC "Best" time series (`…/Best`, `…_best.ncd`).
    Best,
    /// GRIB/FMRC two-dimensional time collection, "Full Collection (Reference / Forecast
    /// Time)" (`…/TwoD`, `…_fmrc.ncd`).
    TwoD,
    /// GRIB "Full Collection" dataset (TDS 5, e.g. `…/TP`).
    FullCollection,
    /// FMRC "Forecast Model Run" catalog (one dataset per model run).
    ForecastRun,
    /// FMRC "Constant Forecast Date" catalog.
    ConstantForecast,
    /// FMRC "Constant Forecast Offset" catalog.
    ConstantOffset,
    /// `latest.xml` resolver: the newest file of the collection.
    Latest,
    /// `latestComplete.xml` resolver.
    LatestComplete,
    /// Another dataset served through a `Resolver` service.
    Resolver,
}

impl ViewKind {
    /// The snake_case name used in the database and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Best => "best",
            Self::TwoD => "two_d",
            Self::FullCollection => "full_collection",
            Self::ForecastRun => "forecast_run",
            Self::ConstantForecast => "constant_forecast",
            Self::ConstantOffset => "constant_offset",
            Self::Latest => "latest",
            Self::LatestComplete => "latest_complete",
            Self::Resolver => "resolver",
        }
    }

    /// Parse the snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Best,
            Self::TwoD,
            Self::FullCollection,
            Self::ForecastRun,
            Self::ConstantForecast,
            Self::ConstantOffset,
            Self::Latest,
            Self::LatestComplete,
            Self::Resolver,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// A short human description (for record links).
    pub fn description(self) -> &'static str {
        match self {
            Self::Best => "Best time series over all files",
            Self::TwoD => "Full collection with reference and forecast time",
            Self::FullCollection => "Full collection over all files",
            Self::ForecastRun => "Forecast model runs",
            Self::ConstantForecast => "Constant forecast date views",
            Self::ConstantOffset => "Constant forecast offset views",
            Self::Latest => "Latest file",
            Self::LatestComplete => "Latest complete file",
            Self::Resolver => "Resolved dataset",
        }
    }
}

/// One way to reach a view: its URL through one service of the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewAccess {
    /// Service name in the catalog.
    pub service: String,
    /// Service type (`OPENDAP`, `WMS`, `NetcdfSubset`, `Resolver`, …).
    pub service_type: String,
    /// The view's URL through this service (base + urlPath + suffix, as for granules; a
    /// `latest.xml` view's resolver URL).
    pub url: String,
}

/// Most views kept per catalog (a catalog's further views are dropped).
pub const MAX_VIEWS_PER_CATALOG: usize = 100;

/// A virtual view listed in a catalog: not a granule, but an access point the server computes
/// from the files of the same collection (see [`ViewKind`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// Its name in the catalog.
    pub name: String,
    /// What kind of view.
    pub kind: ViewKind,
    /// The dataset (or catalogRef) ID, when given.
    #[serde(default)]
    pub id: Option<String>,
    /// The dataset's urlPath (dataset views).
    #[serde(default)]
    pub url_path: Option<String>,
    /// The absolute URL of the catalog a catalogRef view points to (FMRC run and offset
    /// views, `latest.xml` references).
    #[serde(default)]
    pub catalog_ref: Option<String>,
    /// Its access URLs, one per service (dataset views).
    #[serde(default)]
    pub access: Vec<ViewAccess>,
    /// Start of the view's own time coverage, if the catalog gives one.
    #[serde(default)]
    pub start: Option<Timestamp>,
    /// End of the view's own time coverage.
    #[serde(default)]
    pub end: Option<Timestamp>,
}

/// Every view one catalog listed when it was read: the catalog's stored views are replaced by
/// these (an empty list removes them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogViews {
    /// The catalog's normalised URL.
    pub catalog_url: String,
    /// Its views in listing order (at most [`MAX_VIEWS_PER_CATALOG`] are kept).
    pub views: Vec<View>,
}

/// A view of a collection ([`crate::CollectionCatalog::collection_views`]), with the catalog listing it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionView {
    /// The catalog that lists the view.
    pub catalog_url: String,
    /// The view.
    #[serde(flatten)]
    pub view: View,
}

/// A collection as written by the crawler (description fields; derived figures are computed by
/// the store).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CollectionUpsert {
    /// Collection ID (`authority:path/template`).
    pub id: String,
    /// Source it came from.
    pub source_id: i64,
    /// Title (from the catalog; else derived from the ID).
    pub title: String,
    /// The name template with the timestamp placeholder, for reading times back from names.
    pub template: Option<String>,
    /// The catalog where the collection was first seen.
    pub catalog_url: String,
    /// Access services of its granules.
    pub services: Vec<AccessService>,
    /// Effective catalog metadata of the first granule seen (JSON, used to build the ISO
    /// record): documentation, keywords, creators, variables, coverage, …
    pub metadata: serde_json::Value,
    /// Abstract (documentation summary), for full-text search.
    pub summary: Option<String>,
    /// Keywords and variable names, for full-text search.
    pub keywords: Vec<String>,
    /// Geographic extent (from `geospatialCoverage`), for bbox search.
    pub bbox: Option<BBox>,
}

/// A geographic bounding box in degrees, longitudes in -180..=180. `west > east` means the box
/// crosses the antimeridian.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    /// Western longitude.
    pub west: f64,
    /// Southern latitude.
    pub south: f64,
    /// Eastern longitude.
    pub east: f64,
    /// Northern latitude.
    pub north: f64,
}

impl BBox {
    /// Whether the box crosses the antimeridian.
    pub fn crosses_antimeridian(&self) -> bool {
        self.west > self.east
    }

    /// The box as one or two non-crossing `(west, east)` longitude intervals.
    pub fn lon_intervals(&self) -> Vec<(f64, f64)> {
        if self.crosses_antimeridian() {
            vec![(self.west, 180.0), (-180.0, self.east)]
        } else {
            vec![(self.west, self.east)]
        }
    }

    /// Whether two boxes intersect (antimeridian aware; touching edges count).
    pub fn intersects(&self, other: &BBox) -> bool {
        if self.south > other.north || other.south > self.north {
            return false;
        }
        self.lon_intervals().iter().any(|&(w1, e1)| {
            other
                .lon_intervals()
                .iter()
                .any(|&(w2, e2)| w1 <= e2 && w2 <= e1)
        })
    }
}

/// What a collection search lists of each hit: [`CollectionCatalog::list_collection_hits`].
///
/// [`CollectionCatalog::list_collection_hits`]: crate::CollectionCatalog::list_collection_hits
#[derive(Clone, Debug, PartialEq)]
pub struct CollectionHit {
    /// Collection ID.
    pub id: String,
    /// Title.
    pub title: String,
    /// Abstract.
    pub summary: Option<String>,
    /// Spatial extent.
    pub bbox: Option<BBox>,
    /// Number of granules.
    pub granule_count: i64,
    /// Earliest granule start.
    pub start: Option<Timestamp>,
    /// Latest granule end (or start when granules have no end).
    pub end: Option<Timestamp>,
}

impl From<&Collection> for CollectionHit {
    fn from(c: &Collection) -> Self {
        Self {
            id: c.info.id.clone(),
            title: c.info.title.clone(),
            summary: c.info.summary.clone(),
            bbox: c.info.bbox,
            granule_count: c.granule_count,
            start: c.start,
            end: c.end,
        }
    }
}

/// A collection as read back, with its derived figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    /// Description as written by the crawler.
    #[serde(flatten)]
    pub info: CollectionUpsert,
    /// Number of granules.
    pub granule_count: i64,
    /// Earliest granule start.
    pub start: Option<Timestamp>,
    /// Latest granule end (or start when granules have no end).
    pub end: Option<Timestamp>,
    /// Stored ISO 19139 record, once built.
    pub iso_record: Option<String>,
    /// When the collection row last changed.
    pub updated_at: Timestamp,
    /// Moves whenever the collection's views ([`crate::CollectionCatalog::collection_views`]) change;
    /// an ISO record built for another value is stale (see [`IsoRecordUpdate::views_version`]).
    #[serde(default, skip_serializing)]
    pub views_version: i64,
}

/// The ISO 19139 series record of a collection, to store with
/// [`IsoRecords::set_iso_records`](crate::IsoRecords::set_iso_records).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsoRecordUpdate {
    /// The collection.
    pub collection_id: String,
    /// The record (an XML document).
    pub xml: String,
    /// The temporal extent the record states: the collection's `start` / `end` as read when
    /// the record was built. While they equal the collection's current figures the record is
    /// current; otherwise [`IsoRecords::stale_iso_records`] lists the collection again.
    ///
    /// [`IsoRecords::set_iso_records`]: crate::IsoRecords::set_iso_records
    /// [`IsoRecords::stale_iso_records`]: crate::IsoRecords::stale_iso_records
    pub start: Option<Timestamp>,
    /// See `start`.
    pub end: Option<Timestamp>,
    /// The record's `dateStamp` (when its content last changed).
    pub date_stamp: Timestamp,
    /// The collection's [`Collection::views_version`] as read when the record was built (the
    /// record lists the views of that version); another value makes the record stale.
    pub views_version: i64,
}

/// One granule: a compact row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Granule {
    /// Collection ID.
    pub collection_id: String,
    /// Dataset ID (else urlPath, else name) as given by the catalog.
    pub granule_id: String,
    /// Dataset name.
    pub name: String,
    /// Start of its time extent.
    pub start: Option<Timestamp>,
    /// End of its time extent (None: instantaneous or unknown).
    pub end: Option<Timestamp>,
    /// The dataset's urlPath (access URLs = service base + urlPath + suffix).
    pub url_path: Option<String>,
    /// Size in bytes.
    pub size: Option<i64>,
    /// The dataset's `modified` date.
    pub modified: Option<Timestamp>,
    /// URL of the catalog listing it.
    pub catalog_url: String,
}

/// A unit of atomic writing.
///
/// Order of application inside the one transaction:
/// 1. `delete_catalog_trees`: each URL, every catalog whose parent chain leads to it, and their
///    granules are deleted (a dated folder vanished from its parent's listing);
/// 2. `catalogs`, `collections` and `granules` are upserted;
/// 3. for each URL in `complete_catalogs`, granules recorded with that `catalog_url` that are
///    **not** in this batch's `granules` are deleted (the batch holds the catalog's full
///    listing, so whatever is missing vanished from the server);
/// 4. the views of each catalog in `catalog_views` replace its stored views, and the links
///    between views and collections are brought up to date: a catalog's views belong to the
///    collections with a granule listed in that catalog or in a catalog it references
///    directly (its children by `parent_url`). Collections whose views changed (links
///    added or removed, or the linked views themselves changed, including with a deleted
///    subtree) get a new [`Collection::views_version`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// Catalog crawl states to upsert (by URL). A pending state (a catalog known but never
    /// read) does not replace the stored state of a catalog that was read: a listing that
    /// names a new child and the child's own read may be written by overlapping
    /// transactions, in either order.
    pub catalogs: Vec<CatalogState>,
    /// Collections to upsert (by ID). An existing collection keeps its description; only
    /// missing fields are filled in.
    pub collections: Vec<CollectionUpsert>,
    /// Granules to upsert (by collection and granule ID).
    pub granules: Vec<Granule>,
    /// Catalogs whose full granule listing is in this batch.
    pub complete_catalogs: Vec<String>,
    /// Catalog subtrees to delete with their granules (and views).
    pub delete_catalog_trees: Vec<String>,
    /// Catalogs read in this batch with the complete list of their views (each catalog must
    /// be stored or in `catalogs`).
    pub catalog_views: Vec<CatalogViews>,
}

impl Batch {
    /// Whether the batch carries nothing.
    pub fn is_empty(&self) -> bool {
        self.catalogs.is_empty()
            && self.collections.is_empty()
            && self.granules.is_empty()
            && self.complete_catalogs.is_empty()
            && self.delete_catalog_trees.is_empty()
            && self.catalog_views.is_empty()
    }
}

/// What a batch changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchOutcome {
    /// Granules that did not exist before.
    pub granules_inserted: u64,
    /// Granules deleted (vanished or expired).
    pub granules_deleted: u64,
    /// Collections that did not exist before.
    pub collections_inserted: u64,
    /// Catalogs deleted with expired trees.
    pub catalogs_deleted: u64,
    /// IDs (sorted) of the collections whose granules or row the batch changed: granules
    /// inserted, deleted or rewritten (a stored granule written with another time, size,
    /// catalog, …), collection rows inserted or filled in. Their statistics
    /// ([`CrawlState::refresh_collection_stats`](crate::CrawlState::refresh_collection_stats))
    /// may have moved; no other collection's did. Empty when the batch rewrote what was
    /// stored.
    #[serde(default)]
    pub changed_collections: Vec<String>,
}

impl BatchOutcome {
    /// Add another batch's figures to these (changed collections: the union).
    pub fn add(&mut self, other: &BatchOutcome) {
        self.granules_inserted += other.granules_inserted;
        self.granules_deleted += other.granules_deleted;
        self.collections_inserted += other.collections_inserted;
        self.catalogs_deleted += other.catalogs_deleted;
        if !other.changed_collections.is_empty() {
            self.changed_collections
                .extend(other.changed_collections.iter().cloned());
            self.changed_collections.sort_unstable();
            self.changed_collections.dedup();
        }
    }
}

/// Filter for collection listings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CollectionQuery {
    /// Free text: full-text over title, abstract (summary), keywords and variables, and a
    /// substring match on the ID.
    pub text: Option<String>,
    /// Only collections whose bbox intersects this one (antimeridian aware). Collections
    /// without a bbox do not match when this is set.
    pub bbox: Option<BBox>,
    /// Only collections of this source.
    pub source_id: Option<i64>,
    /// Only collections whose extent overlaps `[start, end)`.
    pub start: Option<Timestamp>,
    /// See `start`.
    pub end: Option<Timestamp>,
    /// Only IDs greater than this (keyset paging).
    pub after_id: Option<String>,
    /// Only collections whose row changed at or after this time (description, granule count
    /// or time extent: [`Collection::updated_at`]).
    pub updated_since: Option<Timestamp>,
    /// Maximum number of rows.
    pub limit: u32,
}

/// Filter for granule listings.
#[derive(Clone, Debug, PartialEq)]
pub struct GranuleQuery {
    /// The collection.
    pub collection_id: String,
    /// Overlap window start (inclusive); None: unbounded.
    pub start: Option<Timestamp>,
    /// Overlap window end (exclusive); None: unbounded.
    pub end: Option<Timestamp>,
    /// Keyset cursor: return rows strictly after `(start, granule_id)` in the listing order.
    /// Granules without a start sort first.
    pub after: Option<(Option<Timestamp>, String)>,
    /// Maximum number of rows.
    pub limit: u32,
}

/// Table sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    /// Registered sources.
    pub sources: u64,
    /// Known catalogs.
    pub catalogs: u64,
    /// Catalogs whose last fetch failed.
    pub failed_catalogs: u64,
    /// Collections.
    pub collections: u64,
    /// Granules.
    pub granules: u64,
    /// Bytes used by collection rows and records, as the database reports (0 if unknown).
    pub collection_bytes: u64,
    /// Bytes used by granule rows and their indexes, as the database reports (0 if unknown).
    pub granule_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(west: f64, south: f64, east: f64, north: f64) -> BBox {
        BBox {
            west,
            south,
            east,
            north,
        }
    }

    #[test]
    fn bbox_intersection_is_antimeridian_aware() {
        let pacific = b(170.0, -10.0, -170.0, 10.0);
        assert!(pacific.crosses_antimeridian());
        assert!(pacific.intersects(&b(175.0, 0.0, 179.0, 5.0)));
        assert!(pacific.intersects(&b(-179.0, 0.0, -175.0, 5.0)));
        assert!(!pacific.intersects(&b(0.0, 0.0, 10.0, 5.0)));
        assert!(!pacific.intersects(&b(175.0, 20.0, 179.0, 25.0)));
        assert!(b(-10.0, -10.0, 10.0, 10.0).intersects(&b(10.0, 10.0, 20.0, 20.0)));
    }

    #[test]
    fn access_urls_concatenate() {
        let s = AccessService {
            name: "odap".into(),
            service_type: "OpenDAP".into(),
            base: "https://h/thredds/dodsC/".into(),
            suffix: ".html".into(),
        };
        assert_eq!(s.url_for("a/b.nc"), "https://h/thredds/dodsC/a/b.nc.html");
    }

    #[test]
    fn view_kinds_round_trip() {
        for k in [
            ViewKind::Best,
            ViewKind::TwoD,
            ViewKind::FullCollection,
            ViewKind::ForecastRun,
            ViewKind::ConstantForecast,
            ViewKind::ConstantOffset,
            ViewKind::Latest,
            ViewKind::LatestComplete,
            ViewKind::Resolver,
        ] {
            assert_eq!(ViewKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).expect("serialise"),
                serde_json::Value::String(k.as_str().into())
            );
        }
        assert_eq!(ViewKind::parse("TwoD"), None);
    }

    #[test]
    fn enum_names_round_trip() {
        for c in [
            NodeClass::Archival,
            NodeClass::Live,
            NodeClass::Daily,
            NodeClass::Mixed,
        ] {
            assert_eq!(NodeClass::parse(c.as_str()), Some(c));
        }
        for s in [
            CatalogStatus::Pending,
            CatalogStatus::Ok,
            CatalogStatus::NotModified,
            CatalogStatus::Failed,
        ] {
            assert_eq!(CatalogStatus::parse(s.as_str()), Some(s));
        }
    }
}

// ----- crawl runs --------------------------------------------------------------------------

/// Most failures kept with a crawl run (the first ones, in the order they happened).
pub const MAX_RUN_ERRORS: usize = 100;

/// Longest failure reason (and URL) kept with a crawl run, in characters; longer ones are cut.
pub const MAX_RUN_ERROR_CHARS: usize = 1000;

/// Runs kept per source: starting a run deletes that source's runs older than the newest
/// this many.
pub const MAX_RUNS_PER_SOURCE: i64 = 1000;

/// What started a crawl run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// A full harvest of the source's tree (`threddex harvest`).
    Harvest,
    /// An incremental sync (`threddex sync`, the scheduler, `POST /sources/{name}/sync`).
    Sync,
    /// A refresh on demand of one collection's live catalogs (`/index`).
    Refresh,
}

impl RunKind {
    /// The lowercase name used in the database and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Harvest => "harvest",
            Self::Sync => "sync",
            Self::Refresh => "refresh",
        }
    }

    /// Parse the lowercase name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "harvest" => Some(Self::Harvest),
            "sync" => Some(Self::Sync),
            "refresh" => Some(Self::Refresh),
            _ => None,
        }
    }
}

/// How a crawl run ended (or that it has not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started and not finished (a run whose process was killed stays `running`).
    Running,
    /// Finished; every catalog read was fine.
    Ok,
    /// Finished without reading the start catalog, or stopped by an error.
    Failed,
    /// Finished, but some catalogs failed (see the run's errors).
    Partial,
}

impl RunStatus {
    /// The lowercase name used in the database and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Partial => "partial",
        }
    }

    /// Parse the lowercase name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(Self::Running),
            "ok" => Some(Self::Ok),
            "failed" => Some(Self::Failed),
            "partial" => Some(Self::Partial),
            _ => None,
        }
    }
}

/// One failure of a crawl run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunError {
    /// The URL that failed (the start catalog for a failure of the whole run).
    pub url: String,
    /// Why.
    pub error: String,
}

/// A crawl run being started ([`crate::CrawlRuns::start_run`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCrawlRun {
    /// The source crawled.
    pub source_id: i64,
    /// What kind of run.
    pub kind: RunKind,
    /// When it started.
    pub started_at: Timestamp,
    /// The process running it (the sync lease holder's ID, `host:pid:random`).
    pub holder: Option<String>,
}

/// The end of a crawl run ([`crate::CrawlRuns::finish_run`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrawlRunEnd {
    /// When it ended.
    pub finished_at: Timestamp,
    /// How it ended (not [`RunStatus::Running`]).
    pub status: RunStatus,
    /// Catalogs read (parsed, not modified or failed).
    pub catalogs: u64,
    /// Granules new in the store.
    pub granules_added: u64,
    /// Granules deleted.
    pub granules_removed: u64,
    /// Catalogs that failed (may exceed `errors.len()`).
    pub failed: u64,
    /// The first failures; the store keeps at most [`MAX_RUN_ERRORS`], each cut to
    /// [`MAX_RUN_ERROR_CHARS`].
    pub errors: Vec<RunError>,
}

/// A recorded crawl run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrawlRun {
    /// Database key (increasing: a later run has a larger ID).
    pub id: i64,
    /// The source's key.
    pub source_id: i64,
    /// The source's name.
    pub source: String,
    /// What kind of run.
    pub kind: RunKind,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended (None while running).
    pub finished_at: Option<Timestamp>,
    /// How it ended.
    pub status: RunStatus,
    /// Catalogs read.
    pub catalogs: u64,
    /// Granules new in the store.
    pub granules_added: u64,
    /// Granules deleted.
    pub granules_removed: u64,
    /// Catalogs that failed.
    pub failed: u64,
    /// The first failures (at most [`MAX_RUN_ERRORS`]).
    pub errors: Vec<RunError>,
    /// The process that ran it.
    pub holder: Option<String>,
}

impl CrawlRunEnd {
    /// The errors as stored: the first [`MAX_RUN_ERRORS`], each field cut to
    /// [`MAX_RUN_ERROR_CHARS`] characters (backends call this before writing).
    pub fn bounded_errors(&self) -> Vec<RunError> {
        let cut = |s: &str| -> String {
            match s.char_indices().nth(MAX_RUN_ERROR_CHARS) {
                Some((i, _)) => s.get(..i).unwrap_or(s).to_owned(),
                None => s.to_owned(),
            }
        };
        self.errors
            .iter()
            .take(MAX_RUN_ERRORS)
            .map(|e| RunError {
                url: cut(&e.url),
                error: cut(&e.error),
            })
            .collect()
    }
}

/// The width of the buckets of a granule timeline ([`GranuleIndex::granule_timeline`]).
///
/// [`GranuleIndex::granule_timeline`]: crate::GranuleIndex::granule_timeline
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimelineInterval {
    /// Whole UTC hours.
    Hour,
    /// Whole UTC days.
    Day,
    /// Calendar months (UTC).
    Month,
}

impl TimelineInterval {
    /// Every interval, shortest first.
    pub const ALL: [TimelineInterval; 3] = [Self::Hour, Self::Day, Self::Month];

    /// `hour`, `day` or `month`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Month => "month",
        }
    }

    /// The interval named `hour`, `day` or `month`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == s)
    }

    /// The start of the bucket that holds `t`.
    pub fn floor(self, t: Timestamp) -> Timestamp {
        use chrono::{Datelike, TimeZone};
        let secs = t.timestamp();
        let width = match self {
            Self::Hour => 3600,
            Self::Day => 86_400,
            Self::Month => {
                return Utc
                    .with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
                    .single()
                    .unwrap_or(t);
            }
        };
        DateTime::from_timestamp(secs - secs.rem_euclid(width), 0).unwrap_or(t)
    }

    /// The start of the bucket after the one that holds `t`; `None` past the last
    /// representable time.
    pub fn next(self, t: Timestamp) -> Option<Timestamp> {
        let b = self.floor(t);
        match self {
            Self::Hour => b.checked_add_signed(chrono::Duration::hours(1)),
            Self::Day => b.checked_add_signed(chrono::Duration::days(1)),
            Self::Month => b.checked_add_months(chrono::Months::new(1)),
        }
    }

    /// `t` rounded up to a bucket boundary (unchanged when it is one).
    pub fn ceil(self, t: Timestamp) -> Option<Timestamp> {
        if self.floor(t) == t {
            Some(t)
        } else {
            self.next(t)
        }
    }
}

/// A granule timeline request: the granules of one collection counted per bucket of their
/// start time.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineQuery {
    /// The collection.
    pub collection_id: String,
    /// The width of the buckets.
    pub interval: TimelineInterval,
    /// Count granules starting at or after this time, rounded down to a bucket boundary;
    /// None: unbounded.
    pub start: Option<Timestamp>,
    /// Count granules starting before this time, rounded up to a bucket boundary; None:
    /// unbounded.
    pub end: Option<Timestamp>,
}

impl TimelineQuery {
    /// The window rounded outwards to whole buckets, as backends count it: `[floor(start),
    /// ceil(end))`. An end past the last representable bucket is unbounded.
    pub fn aligned(&self) -> (Option<Timestamp>, Option<Timestamp>) {
        let start = self.start.map(|s| self.interval.floor(s));
        let end = self.end.and_then(|e| self.interval.ceil(e));
        (start, end)
    }
}

/// One non-empty bucket of a granule timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineBucket {
    /// The bucket's start (its end is the next bucket's start).
    pub start: Timestamp,
    /// Granules whose start lies in the bucket.
    pub count: u64,
}
