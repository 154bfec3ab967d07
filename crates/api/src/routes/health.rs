//! `/healthz`, `/readyz` and `/metrics`.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use threddex_store::ErrorChain;

use crate::error::json_response;
use crate::failures::{Failure, with_failure};

/// How long `/readyz` waits for the database.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: the process answers.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers a round trip within [`PING_TIMEOUT`].
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let backend = state.store.backend();
    match tokio::time::timeout(PING_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => json_response(
            StatusCode::OK,
            &json!({"status": "ready", "backend": backend}),
        ),
        Ok(Err(e)) => with_failure(
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"status": "unavailable", "backend": backend, "error": "database unreachable"}),
            ),
            Failure {
                what: "readiness check failed",
                detail: ErrorChain(&e).to_string(),
            },
        ),
        Err(_) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "unavailable", "backend": backend, "error": "database did not answer in time"}),
        ),
    }
}

/// Prometheus text exposition.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics_handle().render(),
    )
        .into_response()
}
