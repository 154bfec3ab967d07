//! Prometheus metrics: the process-wide recorder, the request middleware and `/metrics`.
//!
//! Everything in threddex records through the `metrics` facade; [`install_metrics`] installs
//! the Prometheus recorder once per process, so counters the crawler records (crawl and
//! per-host fetch counters) appear on `/metrics` without further wiring.
//!
//! Names recorded here:
//! - `http_requests_total{route,method,status}` (counter);
//! - `http_request_duration_seconds{route,method}` (histogram);
//! - `threddex_refresh_total{outcome}` (counter; `ok`, `error`, `deadline`, `joined`,
//!   `throttled`, `freshness_error`) and `threddex_refresh_duration_seconds` (histogram);
//! - `threddex_admin_denied_total` (counter): admin requests refused for a missing or wrong
//!   token (401);
//! - `threddex_admin_syncs_started_total` (counter): syncs started with
//!   `POST /sources/{name}/sync`.
//!
//! `route` is the matched route template (`/collections/{*id}`), never the raw URI.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the Prometheus recorder as the process's global `metrics` recorder (once; later
/// calls return the same handle). If another recorder was installed first, the returned handle
/// belongs to a recorder that sees nothing, and a warning is logged.
pub fn install_metrics() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = match builder.set_buckets_for_metric(
                Matcher::Suffix("_duration_seconds".into()),
                LATENCY_BUCKETS,
            ) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "histogram buckets rejected; using summaries");
                    PrometheusBuilder::new()
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if let Err(e) = metrics::set_global_recorder(recorder) {
                tracing::warn!(error = %e, "a metrics recorder was already installed");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        "http_requests_total",
        "HTTP requests by route, method and status"
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by route"
    );
    metrics::describe_counter!(
        "threddex_refresh_total",
        "Refresh-on-demand events by outcome"
    );
    metrics::describe_histogram!(
        "threddex_refresh_duration_seconds",
        metrics::Unit::Seconds,
        "Duration of refreshes on demand"
    );
    metrics::describe_counter!(
        "threddex_admin_denied_total",
        "Admin requests refused for a missing or wrong bearer token"
    );
    metrics::describe_counter!(
        "threddex_admin_syncs_started_total",
        "Syncs started over the admin API"
    );
    metrics::describe_counter!(
        "threddex_crawl_runs_total",
        "Finished crawl runs (harvests, syncs, refreshes) by status: ok, partial, failed"
    );
    metrics::describe_counter!(
        "threddex_crawl_catalog_failures_total",
        "Catalogs that failed in finished crawl runs"
    );
    for status in ["ok", "partial", "failed"] {
        metrics::counter!("threddex_crawl_runs_total", "status" => status).increment(0);
    }
    metrics::counter!("threddex_crawl_catalog_failures_total").increment(0);
    metrics::counter!("threddex_admin_denied_total").increment(0);
    metrics::counter!("threddex_admin_syncs_started_total").increment(0);
    for outcome in [
        "ok",
        "error",
        "deadline",
        "joined",
        "throttled",
        "freshness_error",
    ] {
        metrics::counter!("threddex_refresh_total", "outcome" => outcome).increment(0);
    }
}

/// An admin request refused for its token.
pub(crate) fn admin_denied() {
    metrics::counter!("threddex_admin_denied_total").increment(1);
}

/// A sync started over the admin API.
pub(crate) fn sync_started() {
    metrics::counter!("threddex_admin_syncs_started_total").increment(1);
}

/// Middleware recording request count and latency under the matched route.
pub(crate) async fn track(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = method_str(req.method());
    let started = Instant::now();
    let response = next.run(req).await;
    record_str(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        method,
        response.status().as_u16(),
        started,
    );
    response
}

/// The method as a label: the standard ones by name, anything else as `other` (so clients
/// cannot create label values at will).
pub(crate) fn method_label(method: &axum::http::Method) -> String {
    method_str(method).to_owned()
}

fn method_str(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Record one request.
pub(crate) fn record(route: String, method: String, status: u16, started: Instant) {
    record_str(&route, &method, status, started);
}

/// The metric handles of one (route, method, status), registered once: building a labelled
/// key and looking it up in the recorder on every request costs several allocations.
#[derive(Clone)]
struct Handles {
    duration: metrics::Histogram,
    requests: metrics::Counter,
}

/// Handles by route, then (method, status). Bounded: routes are the router's templates plus
/// `unmatched`, methods are the labels of [`method_str`] and statuses are HTTP status codes;
/// should it ever grow past [`MAX_HANDLES`] it is emptied (handles are only a shortcut).
type HandleMap = HashMap<String, Vec<(&'static str, u16, Handles)>>;

static HANDLES: OnceLock<Mutex<HandleMap>> = OnceLock::new();

/// Most (route, method, status) handle sets kept.
const MAX_HANDLES: usize = 4096;

fn handles(route: &str, method: &str, status: u16) -> Handles {
    let map = HANDLES.get_or_init(Mutex::default);
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(h) = map.get(route).and_then(|v| {
        v.iter()
            .find(|(m, s, _)| *m == method && *s == status)
            .map(|(_, _, h)| h.clone())
    }) {
        return h;
    }
    let method = match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        _ => "other",
    };
    let h = Handles {
        duration: metrics::histogram!(
            "http_request_duration_seconds",
            "route" => route.to_owned(),
            "method" => method
        ),
        requests: metrics::counter!(
            "http_requests_total",
            "route" => route.to_owned(),
            "method" => method,
            "status" => status.to_string()
        ),
    };
    if map.values().map(Vec::len).sum::<usize>() >= MAX_HANDLES {
        map.clear();
    }
    map.entry(route.to_owned())
        .or_default()
        .push((method, status, h.clone()));
    h
}

fn record_str(route: &str, method: &str, status: u16, started: Instant) {
    let h = handles(route, method, status);
    h.duration.record(started.elapsed().as_secs_f64());
    h.requests.increment(1);
}
