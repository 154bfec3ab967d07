//! `/csw`: the OGC CSW 2.0.2 endpoint (KVP over GET, XML over POST). A thin adapter: the
//! protocol lives in `threddex-csw`; this module only moves bytes and sets the status.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use threddex_csw::{Csw, CswConfig, CswError, CswResponse};

use crate::AppState;
use crate::failures::LoggedAlready;
use crate::routes::base_url;

/// Most query pairs read from a GET request.
const MAX_PAIRS: usize = 64;
/// Longest query string accepted.
const MAX_QUERY: usize = 64 * 1024;

fn service(state: &AppState) -> Csw {
    Csw::new(Arc::clone(&state.store), CswConfig::default())
}

fn xml(r: CswResponse) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        r.body,
    )
        .into_response();
    // The CSW core logs its server failures itself, with their detail.
    response.extensions_mut().insert(LoggedAlready);
    response
}

fn error(e: &CswError) -> Response {
    xml(CswResponse {
        status: e.status,
        body: e.to_xml(),
    })
}

/// `GET /csw?service=CSW&request=…`.
pub(crate) async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    if query.len() > MAX_QUERY {
        return error(&CswError::bad_request("query string too long"));
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .take(MAX_PAIRS)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let base = base_url(&state.config, &headers);
    xml(service(&state).get(&pairs, &base).await)
}

/// `POST /csw` with an XML request body (size-capped before parsing).
pub(crate) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let csw = service(&state);
    let limit = csw.limits().max_body;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return error(&CswError::too_large(limit));
    }
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return error(&CswError::too_large(limit)),
    };
    let base = base_url(&state.config, &headers);
    xml(csw.post(&bytes, &base).await)
}
