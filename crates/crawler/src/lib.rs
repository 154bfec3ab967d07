//! threddex-crawler: a polite, concurrent walker of THREDDS catalog trees.
//!
//! [`Harvester::harvest`] walks `catalogRef`s from a start catalog and streams what it finds
//! (catalog states, collections, granules) to a [`BatchSink`] (normally [`StoreSink`]).
//!
//! # Behaviour
//!
//! - **Requests only catalogs**, never one request per dataset.
//! - **Politeness, per host** (`scheme://host:port`): a token bucket of `rate` requests/s
//!   (burst `min(ceil(rate), per_host_in_flight)`), at most `per_host_in_flight` requests in
//!   flight, and a shared pause when the host answers 429/503 with `Retry-After` (seconds or
//!   an HTTP date, capped at `max_retry_after`). Overall at most `concurrency` catalogs are
//!   processed at once.
//! - **Retries**: 5xx, 408, 429/503 without `Retry-After`, timeouts, resets and truncated
//!   bodies are retried up to `max_retries` times with exponential backoff and equal jitter
//!   (`backoff_base * 2^n`, capped at 30 s, uniformly in `[d/2, d]`). 4xx, malformed XML, HTML
//!   pages and oversized bodies are not retried.
//! - **Failures are recorded and the walk goes on**: a failed catalog gets state `Failed` with
//!   the reason in `error`; only an unreadable *start* catalog makes `harvest` return
//!   [`CrawlError::StartUnreadable`].
//! - **robots.txt** is fetched once per host and honoured (groups for the product token of the
//!   `user_agent`, e.g. `threddex`, else `*`; longest match, `Allow` wins ties) unless
//!   `respect_robots` is false. A missing (4xx) or unreachable robots.txt allows everything.
//!   Disallowed catalogs are not fetched and not recorded; they are counted in
//!   [`HarvestReport::disallowed`].
//! - **URLs** are normalised (fragment and default port dropped, `….html` → `….xml`) and each
//!   catalog is fetched at most once per run, which also ends `catalogRef` cycles. Relative
//!   links resolve against the URL after redirects (at most 10 redirects). References to
//!   other hosts are followed only with `follow_other_hosts`.
//! - **Virtual views are recorded, not walked** (`views.rs`): catalogRefs and datasets the
//!   parser marks as dynamic (`latest.xml` resolvers, Best / TwoD / full-collection
//!   aggregations, FMRC run and offset views) are neither followed nor stored as granules (the
//!   files behind them are listed in plain catalogs); each catalog read sends its views
//!   (name, kind, ID, urlPath or href, access URLs per service, own time coverage) with its
//!   rows, replacing the ones stored for it. The store links them to the collections whose
//!   granules the catalog or its direct children list.
//! - **Filters**: `skip` patterns apply to catalogRefs (href, title, name, ID) and to leaf
//!   datasets (ID, name, urlPath); `select` patterns apply to leaf datasets only, so every
//!   catalogRef not skipped is still walked (a folder that does not match may hold datasets
//!   that do). Skip wins; an empty `select` keeps everything. The config's patterns and the
//!   source's own patterns are combined.
//! - **Conditional requests**: the ETag / Last-Modified stored for a catalog are sent as
//!   `If-None-Match` / `If-Modified-Since`. A 304 records status `NotModified`; nothing is
//!   parsed or written for it (the previous listing stands). [`Harvester::harvest`] then
//!   visits the catalog's stored children, each with its own conditional request, so a
//!   harvest run again reaches every catalog of the tree; a sync ([`Syncer`]) picks the
//!   nodes it re-reads and does not descend below a 304.
//! - **Bounded memory**: catalogs are walked depth-first from a stack of pending references
//!   (its size is bounded by depth × fan-out, not by the size of the tree), each run keeps a
//!   16-byte key per catalog seen and the IDs of the collections emitted, and rows go through
//!   a bounded channel to one writer task that writes a batch every `batch_granules`
//!   granules (or 1000 catalogs, or 2 s), so database writes overlap with fetching. Where
//!   the store allows it (`CrawlState::concurrent_writes`: Postgres), the writer keeps
//!   several batches in flight, except that a batch waits for every earlier one when its
//!   granules name a collection an unfinished batch introduced, and a batch deleting
//!   catalog trees is written alone.
//! - **Collection stats**: after the walk, when a store is given, `harvest` calls
//!   `refresh_collection_stats` for the collections it touched.
//! - **ISO records** (`iso.rs`): then the source's collections without an ISO 19139
//!   series record get one — from the ISO record of one sample granule when their catalog has
//!   an ISO service (one polite request per collection, never per granule, never repeated),
//!   else synthesised from the catalog metadata — and records whose time extent or views
//!   changed are updated ([`Harvester::refresh_records`]; config `iso_records`, `public_url`).
//! - **Credentials** ([`auth`]): per source name in [`CrawlConfig::auth`], sent on
//!   every request of that source's runs to the origin of its start catalog only, never
//!   logged. **Crawl runs**: harvests with a store, syncs and refreshes are recorded with
//!   [`CrawlRuns::start_run`](threddex_store::CrawlRuns::start_run) / [`CrawlRuns::finish_run`](threddex_store::CrawlRuns::finish_run) (best effort: a failure only logs a warning).

//!
//! # Sync
//!
//! [`classify`] decides each node's class (archival / live / daily / mixed) and its next visit;
//! [`Syncer`] re-reads only due, pending and failed nodes of a source under its lease and
//! expires subtrees that left their parent's listing; [`Scheduler`] runs every source on its
//! interval. See `docs/crawl-model.md`.

#![forbid(unsafe_code)]

pub mod auth;
mod batch;
pub mod classify;
mod fetch;
pub mod holder;
mod host;
mod iso;
pub mod retry;
pub mod robots;
mod rounds;
mod runs;
pub mod scheduler;
mod shared_hosts;
pub mod source_input;
pub mod sync;
pub mod urls;
mod views;
mod walk;
pub mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use regex::Regex;
use serde::{Deserialize, Serialize};
use threddex_ids::Deriver;
use threddex_store::{Batch, BatchOutcome, CatalogState, ErrorChain, Source, Store};

/// A run that inserted at least this many granules brings the store's planner statistics up
/// to date before its collection statistics are counted.
const ANALYZE_AFTER_INSERTED: u64 = 100_000;

pub use auth::{SourceAuth, SourceAuthMap};
pub use batch::title_from_id;
pub use classify::{Clock, system_clock};
pub use iso::RecordsReport;
pub use scheduler::Scheduler;
pub use shared_hosts::SharedHosts;
pub use sync::{
    FreshnessInfo, RefreshSummary, SpawnedSync, StartedSync, SyncOptions, SyncReport, Syncer,
};
pub use walk::Seed;
pub use worker::{Worker, WorkerOptions, WorkerReport};

/// Per-run options of [`Harvester::crawl_with`] (classification clock and expiry).
#[derive(Clone)]
pub struct RunOptions {
    /// Where "now" comes from (system clock by default; a simulated one in tests).
    pub clock: Clock,
    /// Grace period for late files in dated folders (see [`classify::classify`]).
    pub grace: chrono::Duration,
    /// Longest adaptive revisit interval.
    pub max_interval: chrono::Duration,
    /// Stored children of each catalog (by parent URL), read once for the run: a catalog
    /// read in full deletes the stored children it no longer lists. `None`: each such
    /// catalog's stored children are asked of the store when it is read.
    pub known_children: Option<Arc<HashMap<String, Vec<String>>>>,
    /// Visit the stored children of a catalog that answers 304 Not Modified, each with its
    /// own conditional request ([`Harvester::harvest`] does: a harvest reaches the whole
    /// tree). False: a 304 ends the walk there (a sync chooses its nodes itself).
    pub descend_unchanged: bool,
    /// Visit the children found (default true). False: only the seeds are read; new children
    /// are still recorded as pending (a worker reads one claimed catalog at a time).
    pub follow_children: bool,
    /// Refresh the statistics of only the collections the run's batches changed
    /// ([`HarvestReport::changed_collections`]): a re-read listing identical to the stored one
    /// costs no recount. False (default): of every collection the run wrote granules of
    /// ([`HarvestReport::touched_collections`]), which also repairs figures a run killed
    /// before its statistics step left behind. The sync engine sets it (an interrupted sync is
    /// recognised by its lease and recounts the whole source).
    pub changed_stats_only: bool,
    /// Visit only children never stored before: every stored catalog to re-read is a seed (a
    /// sync's due catalogs, a worker's claim), so a stored child that a re-read catalog lists
    /// is neither visited nor its state read — no lookup per listed child (a station listing
    /// 300 day folders). False (default): a stored child is read, and visited when
    /// `visit_filter` accepts its state.
    pub only_new_children: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            clock: system_clock(),
            grace: classify::DEFAULT_GRACE,
            max_interval: classify::DEFAULT_MAX_INTERVAL,
            known_children: None,
            descend_unchanged: false,
            follow_children: true,
            changed_stats_only: false,
            only_new_children: false,
        }
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("grace", &self.grace)
            .field("max_interval", &self.max_interval)
            .field(
                "known_children",
                &self.known_children.as_ref().map(|k| k.len()),
            )
            .finish_non_exhaustive()
    }
}

/// The default public base URL of the service, for the search links in ISO records.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

/// The default `User-Agent`.
pub const DEFAULT_USER_AGENT: &str = "threddex/0.1 (+https://github.com/threddex/threddex)";

/// Errors of a crawl.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrawlError {
    /// The start catalog could not be read (after retries), or its URL is unusable.
    #[error("cannot read the start catalog {url}: {reason}")]
    StartUnreadable {
        /// The start URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A setting is invalid (bad regex, zero concurrency, …).
    #[error("invalid crawl configuration: {0}")]
    BadConfig(String),
    /// The store failed (reading validators or writing a batch); the crawl stops. Match on
    /// the [`StoreError`](threddex_store::StoreError) for not-found and conflicts.
    #[error("store error")]
    Store(#[from] threddex_store::StoreError),
    /// A [`BatchSink`] other than the store could not write its output.
    #[error("cannot write to {target}")]
    Output {
        /// Where the output goes (`"stdout"`).
        target: &'static str,
        /// Why it could not be written.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client error: {0}")]
    Client(String),
    /// A crawl task failed unexpectedly.
    #[error("internal crawler error: {0}")]
    Internal(String),
}

/// Crawl settings. See the crate documentation for the behaviour they control.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CrawlConfig {
    /// Catalogs processed at once (default 8).
    pub concurrency: usize,
    /// Requests per second per host (default 10; `f64::INFINITY` = unlimited).
    pub rate: f64,
    /// Requests in flight per host (default 4).
    pub per_host_in_flight: usize,
    /// Deepest catalog visited, the start being depth 0 (default: unlimited).
    pub max_depth: Option<u32>,
    /// Most catalogs fetched in one run (default: unlimited).
    pub max_catalogs: Option<u64>,
    /// Regexes selecting leaf datasets by ID, name or urlPath (empty: all).
    pub select: Vec<String>,
    /// Regexes skipping catalogRefs (href, title, name, ID) and datasets (ID, name, urlPath).
    pub skip: Vec<String>,
    /// Honour robots.txt (default true; turn off only for servers you run).
    pub respect_robots: bool,
    /// `User-Agent` header; its product token (before `/`) is the robots.txt agent name.
    pub user_agent: String,
    /// TCP/TLS connect timeout (default 10 s).
    pub connect_timeout: Duration,
    /// Timeout of each read of the response (default 30 s).
    pub read_timeout: Duration,
    /// Timeout of a whole request including the body (default 5 min).
    pub request_timeout: Duration,
    /// Largest catalog body read (default 64 MiB); larger bodies fail the catalog.
    pub max_body_bytes: usize,
    /// Retries of a transient failure (default 4, so at most 5 attempts).
    pub max_retries: u32,
    /// First backoff step (default 500 ms); doubled on each retry, capped at 30 s.
    pub backoff_base: Duration,
    /// Longest `Retry-After` honoured (default 120 s); longer values are cut to this.
    pub max_retry_after: Duration,
    /// Granules per written batch (default 2000).
    pub batch_granules: usize,
    /// Authority for collection IDs when the catalog gives none (before the source's own).
    pub authority: Option<String>,
    /// Extra collection-ID rules for the deriver (see threddex-ids).
    pub id_rules: Vec<String>,
    /// Follow catalogRefs to other hosts (default false: stay on the catalog's host).
    pub follow_other_hosts: bool,
    /// Build and re-time the ISO 19139 records of the source's collections after each run
    /// with a store (default true; see the crate docs).
    pub iso_records: bool,
    /// Public base URL of this threddex service (default `http://127.0.0.1:8080`): ISO
    /// records link to the granule search `{public_url}/index?collection=ID`. `serve` passes
    /// its own.
    pub public_url: String,
    /// Credentials by source name (see [`auth`]): sent on every request of that source's
    /// runs to the origin of its start catalog, never elsewhere. Never serialised; `Debug`
    /// redacts the secrets.
    #[serde(skip)]
    pub auth: SourceAuthMap,
}

impl Default for CrawlConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            rate: 10.0,
            per_host_in_flight: 4,
            max_depth: None,
            max_catalogs: None,
            select: Vec::new(),
            skip: Vec::new(),
            respect_robots: true,
            user_agent: DEFAULT_USER_AGENT.to_string(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(300),
            max_body_bytes: 64 * 1024 * 1024,
            max_retries: 4,
            backoff_base: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(120),
            batch_granules: 2000,
            authority: None,
            id_rules: Vec::new(),
            follow_other_hosts: false,
            iso_records: true,
            public_url: DEFAULT_PUBLIC_URL.to_string(),
            auth: SourceAuthMap::new(),
        }
    }
}

/// Live counters of a crawl, shared with whoever displays progress.
#[derive(Debug, Default)]
pub struct Progress {
    catalogs_done: AtomicU64,
    catalogs_queued: AtomicU64,
    catalogs_failed: AtomicU64,
    not_modified: AtomicU64,
    unchanged: AtomicU64,
    datasets: AtomicU64,
    granules: AtomicU64,
    granules_inserted: AtomicU64,
    collections: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
    retries: AtomicU64,
    disallowed: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressSnapshot {
    /// Catalogs finished (parsed, not modified or failed).
    pub catalogs_done: u64,
    /// Catalogs discovered and queued (including the start).
    pub catalogs_queued: u64,
    /// Catalogs that failed.
    pub catalogs_failed: u64,
    /// Catalogs answered with 304.
    pub not_modified: u64,
    /// Catalogs read in full whose body was the one their stored rows were built from (with
    /// the same rules): nothing rewritten.
    #[serde(default)]
    pub unchanged: u64,
    /// Datasets seen in parsed catalogs (any depth, leaves or not).
    pub datasets: u64,
    /// Granules produced.
    pub granules: u64,
    /// Granules the store reported as new.
    pub granules_inserted: u64,
    /// Collections emitted (first sight in the run).
    pub collections: u64,
    /// HTTP requests sent (robots.txt and retries included).
    pub requests: u64,
    /// Body bytes received.
    pub bytes: u64,
    /// Retries.
    pub retries: u64,
    /// Catalogs not fetched because robots.txt disallows them.
    pub disallowed: u64,
}

impl Progress {
    /// Read every counter.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProgressSnapshot {
            catalogs_done: g(&self.catalogs_done),
            catalogs_queued: g(&self.catalogs_queued),
            catalogs_failed: g(&self.catalogs_failed),
            not_modified: g(&self.not_modified),
            unchanged: g(&self.unchanged),
            datasets: g(&self.datasets),
            granules: g(&self.granules),
            granules_inserted: g(&self.granules_inserted),
            collections: g(&self.collections),
            requests: g(&self.requests),
            bytes: g(&self.bytes),
            retries: g(&self.retries),
            disallowed: g(&self.disallowed),
        }
    }

    fn add(a: &AtomicU64, n: u64) {
        a.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_request(&self) {
        Self::add(&self.requests, 1);
    }
    pub(crate) fn add_retry(&self) {
        Self::add(&self.retries, 1);
    }
    pub(crate) fn add_bytes(&self, n: u64) {
        Self::add(&self.bytes, n);
    }
    pub(crate) fn add_inserted(&self, n: u64) {
        Self::add(&self.granules_inserted, n);
    }
}

impl ProgressSnapshot {
    /// Counter differences `self - earlier` (saturating).
    pub fn since(&self, earlier: &ProgressSnapshot) -> ProgressSnapshot {
        ProgressSnapshot {
            catalogs_done: self.catalogs_done.saturating_sub(earlier.catalogs_done),
            catalogs_queued: self.catalogs_queued.saturating_sub(earlier.catalogs_queued),
            catalogs_failed: self.catalogs_failed.saturating_sub(earlier.catalogs_failed),
            not_modified: self.not_modified.saturating_sub(earlier.not_modified),
            unchanged: self.unchanged.saturating_sub(earlier.unchanged),
            datasets: self.datasets.saturating_sub(earlier.datasets),
            granules: self.granules.saturating_sub(earlier.granules),
            granules_inserted: self
                .granules_inserted
                .saturating_sub(earlier.granules_inserted),
            collections: self.collections.saturating_sub(earlier.collections),
            requests: self.requests.saturating_sub(earlier.requests),
            bytes: self.bytes.saturating_sub(earlier.bytes),
            retries: self.retries.saturating_sub(earlier.retries),
            disallowed: self.disallowed.saturating_sub(earlier.disallowed),
        }
    }
}

/// Where batches go.
#[async_trait]
pub trait BatchSink: Send + Sync {
    /// Write one batch (atomically, if the sink is a store).
    async fn write(&self, batch: Batch) -> Result<BatchOutcome, CrawlError>;

    /// How many writes a run may keep in flight (see
    /// [`CrawlState::concurrent_writes`](threddex_store::CrawlState::concurrent_writes)); 1 by
    /// default.
    fn concurrent_writes(&self) -> usize {
        1
    }
}

/// A sink writing to a store.
pub struct StoreSink(pub Arc<dyn Store>);

#[async_trait]
impl BatchSink for StoreSink {
    async fn write(&self, batch: Batch) -> Result<BatchOutcome, CrawlError> {
        Ok(self.0.write_batch(&batch).await?)
    }

    fn concurrent_writes(&self) -> usize {
        self.0.concurrent_writes()
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HarvestReport {
    /// Catalogs finished (parsed, not modified or failed).
    pub catalogs: u64,
    /// Failed catalogs with the reason (the first 1000).
    pub failed: Vec<(String, String)>,
    /// Number of failed catalogs (may exceed `failed.len()`).
    pub failed_count: u64,
    /// Catalogs answered with 304 Not Modified.
    pub not_modified: u64,
    /// Catalogs read in full with the body (and rules) their stored rows came from: nothing
    /// rewritten.
    #[serde(default)]
    pub unchanged: u64,
    /// Catalogs not fetched because robots.txt disallows them.
    pub disallowed: u64,
    /// Granules listed by the catalogs read (written, or kept where a catalog was unchanged).
    pub granules: u64,
    /// Granules the store reported as new.
    pub granules_inserted: u64,
    /// Granules the store deleted (vanished from complete listings).
    pub granules_deleted: u64,
    /// Catalogs the store deleted (subtrees that vanished from a re-read parent).
    #[serde(default)]
    pub catalogs_deleted: u64,
    /// Catalogs that answered 404/410 after their parent's listing (read in this run) had
    /// dropped them: removed quietly, not failures.
    #[serde(default)]
    pub gone: u64,
    /// Collections touched (emitted) in this run.
    pub collections: u64,
    /// Collections the store reported as new.
    pub collections_inserted: u64,
    /// HTTP requests sent.
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Wall time of the walk alone (fetching, parsing, writing), before the collection
    /// statistics and ISO record steps.
    #[serde(default)]
    pub walk_elapsed: Duration,
    /// IDs of the collections touched, sorted.
    pub touched_collections: Vec<String>,
    /// IDs of the collections whose granules or row the run's writes changed, sorted
    /// ([`BatchOutcome::changed_collections`]; empty for a sink that is not a store).
    #[serde(default)]
    pub changed_collections: Vec<String>,
    /// ISO records built or re-timed after the walk.
    #[serde(default)]
    pub records: RecordsReport,
    /// References left unvisited because the run's catalog budget (`max_catalogs`) was spent.
    #[serde(default)]
    pub unvisited: u64,
    /// References not followed because they lie deeper than `max_depth` below the start.
    #[serde(default)]
    pub beyond_max_depth: u64,
}

/// Report at most this many failures by URL.
pub const MAX_REPORTED_FAILURES: usize = 1000;

pub(crate) struct Inner {
    pub(crate) cfg: CrawlConfig,
    pub(crate) select: Vec<Regex>,
    pub(crate) skip: Vec<Regex>,
    pub(crate) deriver: Deriver,
    pub(crate) fetcher: fetch::Fetcher,
    pub(crate) auth: auth::AuthTable,
    /// Recorded as the holder of harvest runs (`host:pid:random`).
    pub(crate) holder: String,
}

/// The crawler. Cheap to share (`Arc` inside); per-host politeness state (rate limiters,
/// robots.txt) lives as long as the harvester, across runs.
#[derive(Clone)]
pub struct Harvester {
    inner: Arc<Inner>,
}

fn compile(patterns: &[String], what: &str) -> Result<Vec<Regex>, CrawlError> {
    patterns
        .iter()
        .map(|p| {
            regex::RegexBuilder::new(p)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| CrawlError::BadConfig(format!("bad {what} pattern {p:?}: {e}")))
        })
        .collect()
}

impl Harvester {
    /// Check the configuration, compile the patterns and build the HTTP client.
    pub fn new(cfg: CrawlConfig) -> Result<Self, CrawlError> {
        Self::build(cfg, None)
    }

    /// [`Harvester::new`] whose requests also obey per-host limits shared with the other
    /// processes of a database ([`SharedHosts`], for workers), after this process's own.
    pub fn with_shared_hosts(
        cfg: CrawlConfig,
        shared: Arc<SharedHosts>,
    ) -> Result<Self, CrawlError> {
        Self::build(cfg, Some(shared))
    }

    fn build(cfg: CrawlConfig, shared: Option<Arc<SharedHosts>>) -> Result<Self, CrawlError> {
        if cfg.concurrency == 0 {
            return Err(CrawlError::BadConfig(
                "concurrency must be at least 1".into(),
            ));
        }
        if cfg.per_host_in_flight == 0 {
            return Err(CrawlError::BadConfig(
                "per_host_in_flight must be at least 1".into(),
            ));
        }
        if cfg.rate.is_nan() || cfg.rate <= 0.0 {
            return Err(CrawlError::BadConfig(format!(
                "rate must be a positive number of requests per second, not {}",
                cfg.rate
            )));
        }
        if cfg.batch_granules == 0 {
            return Err(CrawlError::BadConfig(
                "batch_granules must be at least 1".into(),
            ));
        }
        if cfg.max_body_bytes == 0 {
            return Err(CrawlError::BadConfig(
                "max_body_bytes must be at least 1".into(),
            ));
        }
        if cfg.user_agent.trim().is_empty() {
            return Err(CrawlError::BadConfig("user_agent must not be empty".into()));
        }
        let auth = auth::AuthTable::new(&cfg.auth)?;
        let select = compile(&cfg.select, "select")?;
        let skip = compile(&cfg.skip, "skip")?;
        let deriver = if cfg.id_rules.is_empty() {
            Deriver::new()
        } else {
            Deriver::with_extra_rules(&cfg.id_rules)
                .map_err(|e| CrawlError::BadConfig(format!("bad id rule: {e}")))?
        };
        let client = reqwest::Client::builder()
            .user_agent(cfg.user_agent.clone())
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(cfg.read_timeout)
            .timeout(cfg.request_timeout)
            .redirect(reqwest::redirect::Policy::limited(10))
            .pool_max_idle_per_host(cfg.per_host_in_flight.max(cfg.concurrency))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| CrawlError::Client(e.to_string()))?;
        let robots_agent = cfg
            .user_agent
            .split(['/', ' '])
            .next()
            .unwrap_or("threddex")
            .trim()
            .to_ascii_lowercase();
        let settings = fetch::FetchSettings {
            max_body_bytes: cfg.max_body_bytes,
            max_retries: cfg.max_retries,
            backoff_base: cfg.backoff_base,
            backoff_cap: Duration::from_secs(30),
            max_retry_after: cfg.max_retry_after,
            respect_robots: cfg.respect_robots,
            robots_agent,
        };
        let hosts = host::HostPool::new(cfg.rate, cfg.per_host_in_flight);
        let fetcher = fetch::Fetcher::new(client, hosts, settings, shared);
        Ok(Self {
            inner: Arc::new(Inner {
                cfg,
                select,
                skip,
                deriver,
                fetcher,
                auth,
                holder: sync::default_holder(),
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &CrawlConfig {
        &self.inner.cfg
    }

    /// Harvest the tree under `start_url` for `source`.
    ///
    /// `state` is read for the stored validators of each catalog (conditional requests) and,
    /// at the end, asked to refresh the statistics of the touched collections; `None` is a dry
    /// run (no reads; the sink still receives every batch). Returns
    /// [`CrawlError::StartUnreadable`] when the start catalog cannot be read after retries
    /// (its failed state is still written).
    ///
    /// With a store, the run is recorded as a crawl run of kind `harvest`
    /// ([`CrawlRuns::start_run`](threddex_store::CrawlRuns::start_run)); failing to record it only logs a warning.
    pub async fn harvest(
        &self,
        start_url: &str,
        source: &Source,
        state: Option<Arc<dyn Store>>,
        sink: Arc<dyn BatchSink>,
        progress: Arc<Progress>,
    ) -> Result<HarvestReport, CrawlError> {
        let Some(store) = state.clone() else {
            return self
                .harvest_unrecorded(start_url, source, state, sink, progress)
                .await;
        };
        let run = runs::start(
            &store,
            source,
            threddex_store::RunKind::Harvest,
            &self.inner.holder,
        )
        .await;
        let result = self
            .harvest_unrecorded(start_url, source, state, sink, progress)
            .await;
        let end = match &result {
            Ok(report) => runs::end_of(report, true),
            Err(e) => runs::end_of_error(e, start_url),
        };
        runs::finish(&store, run, end).await;
        result
    }

    async fn harvest_unrecorded(
        &self,
        start_url: &str,
        source: &Source,
        state: Option<Arc<dyn Store>>,
        sink: Arc<dyn BatchSink>,
        progress: Arc<Progress>,
    ) -> Result<HarvestReport, CrawlError> {
        let url =
            urls::parse_catalog_url(start_url).map_err(|reason| CrawlError::StartUnreadable {
                url: start_url.to_string(),
                reason,
            })?;
        let key = url.to_string();
        let prior = match &state {
            Some(s) => s.catalog(&key).await?,
            None => None,
        };
        let seed = Seed {
            url: key.clone(),
            parent: None,
            depth: 0,
            prior,
        };
        let mut out = self
            .run(
                vec![seed],
                source,
                state.clone(),
                sink,
                Arc::clone(&progress),
                Arc::new(|_: &CatalogState| true),
                RunOptions {
                    descend_unchanged: true,
                    ..RunOptions::default()
                },
            )
            .await?;
        if let Some((_, reason)) = std::mem::take(&mut out.seed_failures)
            .into_iter()
            .find(|(u, _)| *u == key)
        {
            return Err(CrawlError::StartUnreadable { url: key, reason });
        }
        self.finish(out, state.as_ref(), source, &progress, false)
            .await
    }

    /// Walk from explicit seeds (for sync: re-read chosen nodes). Each seed is fetched (with
    /// its `prior` state's validators); discovered children whose stored state exists are
    /// visited only when `visit_filter` accepts that state; children never seen before are
    /// always visited. Seed failures are reported in [`HarvestReport::failed`], never as
    /// `StartUnreadable`. Collection statistics are refreshed as in [`Harvester::harvest`].
    pub async fn crawl(
        &self,
        seeds: Vec<Seed>,
        source: &Source,
        state: Option<Arc<dyn Store>>,
        sink: Arc<dyn BatchSink>,
        progress: Arc<Progress>,
        visit_filter: Arc<dyn Fn(&CatalogState) -> bool + Send + Sync>,
    ) -> Result<HarvestReport, CrawlError> {
        self.crawl_with(
            seeds,
            source,
            state,
            sink,
            progress,
            visit_filter,
            RunOptions::default(),
        )
        .await
    }

    /// [`Harvester::crawl`] with explicit [`RunOptions`] (the sync engine's entry point):
    /// the clock used for classification and `last_fetch`, the grace period, and the stored
    /// children of each catalog, so that a successfully re-read catalog that no longer lists a
    /// stored child deletes that child's subtree (a failed or 304 catalog never deletes).
    #[allow(clippy::too_many_arguments)]
    pub async fn crawl_with(
        &self,
        seeds: Vec<Seed>,
        source: &Source,
        state: Option<Arc<dyn Store>>,
        sink: Arc<dyn BatchSink>,
        progress: Arc<Progress>,
        visit_filter: Arc<dyn Fn(&CatalogState) -> bool + Send + Sync>,
        options: RunOptions,
    ) -> Result<HarvestReport, CrawlError> {
        let mut normalised = Vec::with_capacity(seeds.len());
        for mut s in seeds {
            match urls::parse_catalog_url(&s.url) {
                Ok(u) => {
                    s.url = u.to_string();
                    normalised.push(s);
                }
                Err(reason) => tracing::warn!(url = %s.url, %reason, "seed skipped"),
            }
        }
        let changed_only = options.changed_stats_only;
        let out = self
            .run(
                normalised,
                source,
                state.clone(),
                sink,
                Arc::clone(&progress),
                visit_filter,
                options,
            )
            .await?;
        self.finish(out, state.as_ref(), source, &progress, changed_only)
            .await
    }

    /// Build the missing ISO 19139 series records of the collections of `source_id` (all
    /// sources when None) and re-time those whose extent changed since their record was
    /// built (see the crate docs). `harvest` and `crawl` do this after refreshing collection
    /// statistics; call it after refreshing statistics yourself (e.g. after deletions).
    /// Does nothing when the config's `iso_records` is false.
    pub async fn refresh_records(
        &self,
        store: &Arc<dyn Store>,
        source_id: Option<i64>,
        progress: &Arc<Progress>,
    ) -> Result<RecordsReport, CrawlError> {
        if !self.inner.cfg.iso_records {
            return Ok(RecordsReport::default());
        }
        iso::refresh_records(&self.inner, store, source_id, progress).await
    }

    /// The common end of a run: refresh the statistics of the collections it touched (or,
    /// with `changed_only`, of those its writes changed), then build or re-time their ISO
    /// records, and time the whole.
    async fn finish(
        &self,
        out: walk::RunOutput,
        state: Option<&Arc<dyn Store>>,
        source: &Source,
        progress: &Arc<Progress>,
        changed_only: bool,
    ) -> Result<HarvestReport, CrawlError> {
        let mut report = out.report;
        report.walk_elapsed = out.started.elapsed();
        if let Some(s) = state
            && report.granules_inserted >= ANALYZE_AFTER_INSERTED
        {
            let t = Instant::now();
            match s.update_planner_statistics().await {
                Ok(()) => tracing::info!(
                    inserted = report.granules_inserted,
                    elapsed_ms = t.elapsed().as_millis() as u64,
                    "planner statistics updated after a large load"
                ),
                Err(e) => {
                    tracing::warn!(error = %ErrorChain(&e), "cannot update planner statistics")
                }
            }
        }
        let recount = if changed_only {
            &report.changed_collections
        } else {
            &report.touched_collections
        };
        if let Some(s) = state
            && !recount.is_empty()
        {
            s.refresh_collection_stats(recount).await?;
        }
        self.build_records(state, source, progress, &mut report)
            .await?;
        report.elapsed = out.started.elapsed();
        Ok(report)
    }

    /// The ISO record step (see `iso.rs`): after the stats refresh, build the missing records
    /// of the source's collections and re-time those whose extent changed.
    async fn build_records(
        &self,
        state: Option<&Arc<dyn Store>>,
        source: &Source,
        progress: &Arc<Progress>,
        report: &mut HarvestReport,
    ) -> Result<(), CrawlError> {
        if let Some(s) = state
            && self.inner.cfg.iso_records
        {
            report.records =
                iso::refresh_records(&self.inner, s, Some(source.id), progress).await?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        seeds: Vec<Seed>,
        source: &Source,
        state: Option<Arc<dyn Store>>,
        sink: Arc<dyn BatchSink>,
        progress: Arc<Progress>,
        filter: Arc<dyn Fn(&CatalogState) -> bool + Send + Sync>,
        options: RunOptions,
    ) -> Result<walk::RunOutput, CrawlError> {
        let rules =
            classify::ClassRules::compile(&source.settings.rules).map_err(CrawlError::BadConfig)?;
        let min = source
            .settings
            .every_secs
            .filter(|s| *s > 0)
            .map_or(classify::DEFAULT_MIN_INTERVAL, chrono::Duration::seconds);
        let policy = walk::RunPolicy {
            clock: options.clock,
            last_success: source.last_success_at,
            grace: options.grace,
            rules,
            revisit: classify::RevisitParams {
                min,
                max: options.max_interval.max(min),
            },
            known_children: options.known_children,
            descend_unchanged: options.descend_unchanged,
            follow_children: options.follow_children,
            only_new_children: options.only_new_children,
        };
        let mut select = self.inner.select.clone();
        select.extend(compile(&source.settings.select, "source select")?);
        let mut skip = self.inner.skip.clone();
        skip.extend(compile(&source.settings.skip, "source skip")?);
        let authority = self
            .inner
            .cfg
            .authority
            .clone()
            .or_else(|| source.settings.authority.clone())
            .filter(|a| !a.trim().is_empty());
        let params = walk::RunParams {
            source_id: source.id,
            authority,
            select,
            skip,
            store: state,
            filter,
            policy,
            auth: self
                .inner
                .auth
                .for_source(&source.settings.name, &source.settings.url),
        };
        walk::run(Arc::clone(&self.inner), params, seeds, sink, progress).await
    }
}

/// The IDs in a set, sorted (helper for reports).
pub(crate) fn sorted(set: &HashSet<String>) -> Vec<String> {
    let mut v: Vec<String> = set.iter().cloned().collect();
    v.sort_unstable();
    v
}
