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
//!   `throttled`, `freshness_error`) and `threddex_refresh_duration_seconds` (histogram).
//!
//! `route` is the matched route template (`/collections/{*id}`), never the raw URI.

use std::sync::OnceLock;
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

/// Middleware recording request count and latency under the matched route.
pub(crate) async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let started = Instant::now();
    let response = next.run(req).await;
    record(route, method, response.status().as_u16(), started);
    response
}

/// The method as a label: the standard ones by name, anything else as `other` (so clients
/// cannot create label values at will).
pub(crate) fn method_label(method: &axum::http::Method) -> String {
    use axum::http::Method;
    let known = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::PATCH,
    ];
    if known.contains(method) {
        method.as_str().to_owned()
    } else {
        "other".to_owned()
    }
}

/// Record one request.
pub(crate) fn record(route: String, method: String, status: u16, started: Instant) {
    metrics::histogram!(
        "http_request_duration_seconds",
        "route" => route.clone(),
        "method" => method.clone()
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "http_requests_total",
        "route" => route,
        "method" => method,
        "status" => status.to_string()
    )
    .increment(1);
}
