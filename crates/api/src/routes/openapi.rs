//! `/openapi.json`: the static OpenAPI document (kept in step with the router by tests).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The OpenAPI 3.1 description of every endpoint.
pub(crate) const OPENAPI_JSON: &str = include_str!("../../openapi.json");

pub(crate) async fn openapi() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON,
    )
        .into_response()
}
