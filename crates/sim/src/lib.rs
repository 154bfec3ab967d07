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
pub mod webhook_receiver;
pub mod xml;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use clock::SimClock;
pub use counters::{Counters, LoggedRequest};
pub use faults::{Fault, FaultRule};
pub use server::SimServer;
pub use tree::{CurrentSpec, GoesLayout, GoesSpec, ModelSpec, NexradSpec, SimGranule, TreeSpec};
pub use webhook_receiver::{Received, Reply, WebhookReceiver};

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
    /// Require credentials: every request (robots.txt included) without this exact header
    /// gets a 401 with `WWW-Authenticate: Basic realm="threddex-sim"` (counted in
    /// [`Counters::unauthorized`]).
    pub require_auth: Option<RequiredHeader>,
    /// Send `ETag` and `Last-Modified` and answer a matching conditional request with 304
    /// (default). `false` serves like a TDS that generates its catalogs on each request
    /// (datasetScan): no validators, every read gets the full body.
    pub validators: bool,
}

/// A header every request must carry ([`SimConfig::require_auth`]).
#[derive(Clone, PartialEq, Eq)]
pub struct RequiredHeader {
    /// Header name (`authorization`, `cookie`, …), case-insensitive.
    pub name: String,
    /// The exact value expected.
    pub value: String,
}

impl RequiredHeader {
    /// `Authorization: Bearer TOKEN`.
    pub fn bearer(token: &str) -> Self {
        Self {
            name: "authorization".into(),
            value: format!("Bearer {token}"),
        }
    }

    /// `Cookie: COOKIE`.
    pub fn cookie(cookie: &str) -> Self {
        Self {
            name: "cookie".into(),
            value: cookie.into(),
        }
    }

    /// `Authorization: Basic base64(user:password)` (computed here, independently of the
    /// crawler).
    pub fn basic(user: &str, password: &str) -> Self {
        Self {
            name: "authorization".into(),
            value: format!(
                "Basic {}",
                base64_encode(format!("{user}:{password}").as_bytes())
            ),
        }
    }
}

impl std::fmt::Debug for RequiredHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequiredHeader")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Standard base64 with padding (RFC 4648).
fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                let idx = usize::try_from((n >> shift) & 63).unwrap_or(0);
                out.push(char::from(ALPHABET[idx]));
            } else {
                out.push('=');
            }
        }
    }
    out
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
            require_auth: None,
            validators: true,
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

/// The granules a tree lists at `now`: dataset ID, urlPath and the time each file was made
/// for. This is the ground truth a crawler's index of the server must equal.
pub fn granules_at(spec: &TreeSpec, now: DateTime<Utc>) -> Vec<SimGranule> {
    tree::Tree::build(spec, 0).granules(now)
}

/// Catalogs (XML documents) reachable from the root catalog, the root included. Does not
/// depend on the clock.
pub fn catalog_count(spec: &TreeSpec) -> u64 {
    tree::Tree::build(spec, 0).catalog_count()
}
