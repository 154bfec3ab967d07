//! `threddex-sim`: a simulated THREDDS Data Server for tests, benchmarks and demos.
//!
//! It serves InvCatalog 1.0 XML over real HTTP on 127.0.0.1: generated trees shaped like
//! thredds.ucar.edu (NEXRAD level 3, GOES ABI, model runs) computed lazily per request from a
//! [`TreeSpec`] and a [`SimClock`], and/or a directory of catalog files. Latency, fault injection
//! ([`FaultRule`]), conditional requests (ETag / Last-Modified → 304) and request [`Counters`]
//! let tests exercise a crawler end to end. See the crate README for the URL layout.

mod clock;
mod counters;
mod dir;
mod faults;
mod server;
mod subset;
mod tree;
pub mod xml;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use clock::SimClock;
pub use counters::Counters;
pub use faults::{Fault, FaultRule};
pub use server::SimServer;
pub use tree::{GoesSpec, ModelSpec, NexradSpec, TreeSpec};

/// The instant a default (fixed) [`SimClock`] shows: the last second of a UTC day, so every
/// day folder, today's included, holds all its files.
pub const DEFAULT_TIME: &str = "2024-01-08T23:59:59Z";

/// [`DEFAULT_TIME`] as a `DateTime`.
pub fn default_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_758_399, 0).unwrap_or_default()
}

/// Server configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The generated tree (default: a small NEXRAD tree; use `TreeSpec::Empty` for none).
    pub tree: TreeSpec,
    /// Added to every response.
    pub latency: Duration,
    /// Fault rules, first match wins.
    pub faults: Vec<FaultRule>,
    /// Body of `/robots.txt` (404 when `None`).
    pub robots_txt: Option<String>,
    /// Seed for per-granule sizes.
    pub seed: u64,
    /// The clock (default: fixed at [`DEFAULT_TIME`]).
    pub clock: SimClock,
    /// A directory of catalog files served by URL path, in addition to the generated tree
    /// (files win over generated documents at the same path).
    pub dir: Option<PathBuf>,
    /// Port on 127.0.0.1 (0 = ephemeral).
    pub port: u16,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            tree: TreeSpec::default(),
            latency: Duration::ZERO,
            faults: Vec::new(),
            robots_txt: None,
            seed: 0,
            clock: SimClock::default(),
            dir: None,
            port: 0,
        }
    }
}

/// Granules a tree holds at [`DEFAULT_TIME`] (every day folder full). For another clock time
/// use [`granule_count_at`] or [`SimServer::granule_count`].
pub fn granule_count(spec: &TreeSpec) -> u64 {
    granule_count_at(spec, default_time())
}

/// Granules a tree holds at `now` (distinct granule datasets: NEXRAD/GOES files and model run
/// files; the model `Best` aggregation and `latest.xml` duplicate are not granules).
pub fn granule_count_at(spec: &TreeSpec, now: DateTime<Utc>) -> u64 {
    tree::Tree::build(spec, 0).granule_count(now)
}

/// Catalogs (XML documents) reachable from the root catalog, the root included. Does not
/// depend on the clock.
pub fn catalog_count(spec: &TreeSpec) -> u64 {
    tree::Tree::build(spec, 0).catalog_count()
}
