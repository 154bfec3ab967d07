//! The HTTP API of threddex.
//!
//! Endpoints (all `GET`; described in `/openapi.json`):
//!
//! | path | what |
//! |---|---|
//! | `/collections` | search collections: `q` (full text), `bbox`, `start`, `end`, `limit`, `cursor` |
//! | `/collections/{id}` | one collection as JSON, or its ISO 19139 record (`Accept: application/xml` or `?f=iso`) |
//! | `/index` | granules of a collection overlapping `[start, end)`, refreshed on demand: `collection`, `start`, `end`, `limit`, `cursor`, `format=json\|csv` |
//! | `/changes` | the change log as CloudEvents, after a cursor: `after`, `collection`, `limit`, `wait` (long poll); `410 Gone` for a cursor older than retention |
//! | `/changes/stream` | the same as Server-Sent Events, resumable with `Last-Event-ID` |
//! | `/healthz` | liveness (`ok`) |
//! | `/readyz` | readiness: the database answers |
//! | `/metrics` | Prometheus text format |
//! | `/openapi.json` | the OpenAPI 3.1 description |
//! | `/stac/…` | STAC API 1.0: landing page, conformance, queryables, collections (collection search), items, item search (`GET` and `POST /stac/search`) |
//!
//! Administrative endpoints (need `Authorization: Bearer <token>`, see [`admin`]; disabled,
//! answering 403, when [`ApiConfig::admin_token`] is None):
//!
//! | method and path | what |
//! |---|---|
//! | `GET /sources` | the registered sources with their schedule, last sync and status |
//! | `POST /sources` | register a source (JSON body; 201, 409 when the name or URL is taken) |
//! | `POST /sources/{name}/sync` | start a sync in the background (202 with the run ID; 409 while one runs) |
//! | `GET /runs` | crawl runs, newest first, with their first errors: `source`, `limit` |
//! | `POST /subscriptions` | register a webhook subscription (201 with its secret, shown once) |
//! | `GET /subscriptions`, `GET`/`DELETE /subscriptions/{id}` | list, show, remove subscriptions |
//! | `POST /subscriptions/{id}/resume` | deliver again from the stored cursor (or `after`) |
//! | `GET /subscriptions/{id}/deliveries` | the delivery log, newest first: `limit`, `before` |
//!
//! Bad input is a 400 with `{"error": {"parameter": …, "message": …}}`, an unknown collection
//! a 404; store failures are 500 with a generic body. For CSV answers of `/index`, the next
//! page is given in the `X-Next-Cursor` header and as a `Link: <…>; rel="next"` header, and
//! the refresh status in `X-Refreshed`, `X-Stale` and `X-Indexed-Through`.
//!
//! Unknown query parameters are rejected (400), so typos do not silently widen a search. Times
//! are RFC 3339 or `YYYY-MM-DD` (UTC); `start`/`end` are optional on both searches.
//!
//! `/index` answers carry `refreshed` (a refresh completed for this answer), `stale` (a due
//! refresh failed or missed the deadline; it goes on in the background) and `indexed_through`
//! (when the live catalogs were last read; null without a [`Refresher`]). See [`refresh`].
//!
//! The searches themselves (caches, refresh decision, listing, paging) are the transport-free
//! [`threddex_search::SearchCore`]; the handlers here parse parameters, call it, and encode its
//! pages (JSON and CSV encoders of `/index` in [`encode`]).
//!
//! Build an [`AppState`] with [`AppState::new`], then [`router`] (for tests or embedding) or
//! [`serve`] (listener + graceful shutdown + metrics upkeep). Call [`install_metrics`] early in
//! `main` so counters recorded before the server starts (crawler, scheduler) are kept.

#![forbid(unsafe_code)]

pub mod admin;
pub mod crawl_refresher;
pub mod crawl_sync;
pub mod error;
mod failures;
pub mod feed;
mod metrics;
pub mod params;
pub mod query;
mod routes;

pub use threddex_search::refresh;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, get, post, put};
use metrics_exporter_prometheus::PrometheusHandle;
use threddex_search::{SearchConfig, SearchCore};
use threddex_store::Store;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use crate::admin::{AdminToken, SyncStartError, SyncStarted, SyncStarter};
pub use crate::crawl_refresher::CrawlRefresher;
pub use crate::crawl_sync::CrawlSyncStarter;
pub use crate::error::ApiError;
pub use crate::metrics::install_metrics;
pub use crate::params::Params;
pub use crate::query::{CollectionSearch, GranuleSearch, IndexFormat, PageLimits};
pub use crate::refresh::{
    Freshness, RefreshCoordinator, RefreshError, RefreshOutcome, RefreshReport, Refresher,
};

/// Settings of the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    /// Public base URL for absolute links (e.g. `https://example.org/threddex`); when None,
    /// links are built from the request's `Host` header (or left relative).
    pub public_url: Option<String>,
    /// How long an `/index` request waits for a refresh before answering from the index.
    pub refresh_deadline: Duration,
    /// A collection is refreshed at most once per this interval.
    pub min_refresh_interval: Duration,
    /// Hard limit on one background refresh.
    pub max_refresh_duration: Duration,
    /// Largest `/index` page.
    pub max_limit: u32,
    /// `/index` page size when none is asked.
    pub default_limit: u32,
    /// Largest `/collections` page.
    pub max_collections_limit: u32,
    /// `/collections` page size when none is asked.
    pub default_collections_limit: u32,
    /// Whole-request timeout (answers 503 past it).
    pub request_timeout: Duration,
    /// How long `/index` may reuse a collection's access services without reading the
    /// collection again (zero: read it on every request).
    pub collection_cache_ttl: Duration,
    /// How long the refresh coordinator may reuse a collection's [`Freshness`] (zero: ask the
    /// [`Refresher`] on every `/index` request).
    pub freshness_cache_ttl: Duration,
    /// Bearer token of the administrative endpoints (`/sources`, `/runs`); None disables them
    /// (they answer 403). Redacted in `Debug`.
    pub admin_token: Option<AdminToken>,
    /// How often the change feed looks for new change-log entries (`/changes`,
    /// `/changes/stream`).
    pub change_poll: Duration,
    /// How long change-log entries are kept ([`serve`] prunes older ones hourly).
    pub change_retention: Duration,
    /// Webhook deliveries ([`serve`] runs the worker when enabled) and target checks.
    pub webhooks: threddex_notify::WebhookConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            refresh_deadline: Duration::from_secs(3),
            min_refresh_interval: Duration::from_secs(60),
            max_refresh_duration: Duration::from_secs(300),
            max_limit: 10_000,
            default_limit: 1_000,
            max_collections_limit: 1_000,
            default_collections_limit: 100,
            request_timeout: Duration::from_secs(30),
            collection_cache_ttl: Duration::from_secs(30),
            freshness_cache_ttl: Duration::from_secs(1),
            admin_token: None,
            change_poll: Duration::from_millis(250),
            change_retention: Duration::from_secs(
                u64::from(threddex_store::DEFAULT_CHANGE_RETENTION_DAYS) * 86_400,
            ),
            webhooks: threddex_notify::WebhookConfig::default(),
        }
    }
}

impl ApiConfig {
    /// The settings of the search core behind `/index` and `/collections`.
    pub fn search_config(&self) -> SearchConfig {
        SearchConfig {
            refresh_deadline: self.refresh_deadline,
            min_refresh_interval: self.min_refresh_interval,
            max_refresh_duration: self.max_refresh_duration,
            collection_cache_ttl: self.collection_cache_ttl,
            freshness_cache_ttl: self.freshness_cache_ttl,
        }
    }
}

/// Everything the handlers share, behind one `Arc`: cloning it (which axum's `State`
/// extractor does for every request) is one reference count. Its fields are those of
/// [`SharedState`] (`state.store`, `state.config`).
#[derive(Clone)]
pub struct AppState {
    shared: Arc<SharedState>,
}

/// What an [`AppState`] holds.
#[derive(Clone)]
pub struct SharedState {
    /// The index.
    pub store: Arc<dyn Store>,
    /// Settings.
    pub config: ApiConfig,
    refresher: Option<Arc<dyn Refresher>>,
    search: SearchCore,
    metrics: PrometheusHandle,
    sync_starter: Option<Arc<dyn SyncStarter>>,
    feed: feed::ChangeFeed,
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.shared
    }
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("backend", &self.store.backend())
            .field("config", &self.config)
            .field("search", &self.search)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared.fmt(f)
    }
}

impl AppState {
    /// State over `store`; with a `refresher`, `/index` refreshes on demand. Installs the
    /// metrics recorder (see [`install_metrics`]).
    pub fn new(
        store: Arc<dyn Store>,
        refresher: Option<Arc<dyn Refresher>>,
        config: ApiConfig,
    ) -> Self {
        let search = SearchCore::new(
            Arc::clone(&store),
            refresher.clone(),
            config.search_config(),
        );
        let feed = feed::ChangeFeed::new(Arc::clone(&store), config.change_poll);
        Self {
            shared: Arc::new(SharedState {
                store,
                config,
                refresher,
                search,
                metrics: install_metrics(),
                sync_starter: None,
                feed,
            }),
        }
    }

    /// Let `POST /sources/{name}/sync` start syncs through `starter` (e.g. a
    /// [`CrawlSyncStarter`]); without one that endpoint answers 501.
    pub fn with_sync_starter(mut self, starter: Option<Arc<dyn SyncStarter>>) -> Self {
        Arc::make_mut(&mut self.shared).sync_starter = starter;
        self
    }

    /// The sync starter, if syncs can be started over HTTP.
    pub fn sync_starter(&self) -> Option<&Arc<dyn SyncStarter>> {
        self.sync_starter.as_ref()
    }

    /// The change feed behind `/changes` and `/changes/stream`.
    pub fn feed(&self) -> &feed::ChangeFeed {
        &self.feed
    }

    /// The refresher, if refresh on demand is enabled.
    pub fn refresher(&self) -> Option<&Arc<dyn Refresher>> {
        self.refresher.as_ref()
    }

    /// The refresh coordinator, if refresh on demand is enabled.
    pub fn refresh_coordinator(&self) -> Option<&RefreshCoordinator> {
        self.search.refresh_coordinator()
    }

    /// The search core behind `/index` and `/collections`.
    pub fn search(&self) -> &SearchCore {
        &self.search
    }

    /// The Prometheus handle rendering `/metrics`.
    pub fn metrics_handle(&self) -> &PrometheusHandle {
        &self.metrics
    }

    pub(crate) fn granule_limits(&self) -> PageLimits {
        PageLimits {
            default: self.config.default_limit,
            max: self.config.max_limit,
        }
    }

    pub(crate) fn collection_limits(&self) -> PageLimits {
        PageLimits {
            default: self.config.default_collections_limit,
            max: self.config.max_collections_limit,
        }
    }
}

/// The routes, as (axum path, handler): the single list both [`router`] and
/// [`route_paths`] read.
fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    let mut routes = vec![
        ("/", get(routes::page::index)),
        ("/ui/{file}", get(routes::page::asset)),
        ("/collections", get(routes::collections::list)),
        (
            "/collections/{*id}",
            get(routes::timeline::collection_or_timeline),
        ),
        ("/index", get(routes::index::index)),
        ("/changes", get(routes::changes::list)),
        ("/changes/stream", get(routes::changes::stream)),
        ("/healthz", get(routes::health::healthz)),
        ("/readyz", get(routes::health::readyz)),
        ("/metrics", get(routes::health::metrics)),
        ("/openapi.json", get(routes::openapi::openapi)),
        ("/csw", get(routes::csw::get).post(routes::csw::post)),
        (
            "/sources",
            get(routes::admin::list_sources).post(routes::admin::add_source),
        ),
        ("/sources/{name}", put(routes::admin::update_source)),
        ("/sources/{name}/sync", post(routes::admin::start_sync)),
        ("/runs", get(routes::admin::list_runs)),
    ];
    routes.extend(routes::subscriptions::routes());
    routes.extend(routes::stac::routes());
    routes
}

/// Paths served by a wildcard route above rather than a route of their own: collection IDs
/// contain `/`, so `/collections/{id}/timeline` is answered by `/collections/{*id}`.
const SUFFIX_PATHS: &[&str] = &["/collections/{id}/timeline"];

/// The route templates the router serves (axum syntax, e.g. `/collections/{*id}`), plus the
/// paths a wildcard route answers (`/collections/{id}/timeline`).
pub fn route_paths() -> Vec<&'static str> {
    routes()
        .into_iter()
        .map(|(p, _)| p)
        .chain(SUFFIX_PATHS.iter().copied())
        .collect()
}

/// Largest request body of every route but `/csw` (larger ones are answered `413`, with a
/// JSON error body like every other error).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The API as an axum router.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (path, handler) in routes() {
        // `/csw` takes XML request bodies and caps them itself (answering with an
        // `ows:ExceptionReport`); every other route takes at most 16 KiB.
        let handler = if path == "/csw" {
            handler
        } else {
            handler
                .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
                .layer(axum::middleware::map_response(
                    error::body_too_large_as_json,
                ))
        };
        router = router.route(path, handler);
    }
    router
        .route_layer(axum::middleware::from_fn(crate::metrics::track))
        .fallback(routes::fallback)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            state.config.request_timeout,
        ))
        .layer(axum::middleware::from_fn(crate::failures::log_failures))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serve the API on `listener` until `shutdown` completes, then finish in-flight requests and
/// return.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle = state.metrics.clone();
    let upkeep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
    state.feed.start();
    let retention = spawn_change_retention(Arc::clone(&state.store), state.config.change_retention);
    let webhooks = state.config.webhooks.enabled.then(|| {
        let base = state.config.public_url.as_deref().unwrap_or("");
        threddex_notify::webhook::worker::spawn(
            Arc::clone(&state.store),
            state.config.webhooks.clone(),
            base.trim_end_matches('/').to_owned(),
        )
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "API listening");
    }
    let result = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    upkeep.abort();
    retention.abort();
    if let Some(w) = webhooks {
        w.abort();
    }
    result
}

/// Prune change-log entries older than `retention`, now and hourly.
fn spawn_change_retention(
    store: Arc<dyn Store>,
    retention: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let Ok(keep) = chrono::Duration::from_std(retention) else {
                return;
            };
            let before = chrono::Utc::now() - keep;
            match store.prune_changes(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "change log: entries past retention removed"),
                Err(e) => {
                    tracing::warn!(error = %threddex_store::ErrorChain(&e), "change log: pruning failed")
                }
            }
        }
    })
}

/// The encoders of `/index` pages (usable without a server, e.g. in benchmarks).
pub mod encode {
    pub use crate::routes::index::csv::index_csv;
    pub use crate::routes::index::json::index_json;
}

/// The OpenAPI 3.1 document served at `/openapi.json`.
pub fn openapi_json() -> &'static str {
    routes::openapi::OPENAPI_JSON
}
