//! `GET /index`: granules of one collection overlapping a window, refreshed on demand.
//!
//! Parameters → [`threddex_search::SearchCore::granules`] → the JSON or CSV encoder.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;
use crate::params::Params;
use crate::query::{GranuleSearch, IndexFormat};
use crate::routes::{base_url, negotiate};

pub(crate) mod csv;
pub(crate) mod json;

pub(crate) async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let mut search = GranuleSearch::parse(&params, state.granule_limits())?;
    if params.get("format").is_none()
        && negotiate(&headers, &["application/json", "text/csv"]) == Some(1)
    {
        search.format = IndexFormat::Csv;
    }
    let page = state.search().granules(&search.request()).await?;
    match search.format {
        IndexFormat::Json => Ok((
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json::index_json(&page),
        )
            .into_response()),
        IndexFormat::Csv => Ok(csv::response(
            &page,
            &search,
            &base_url(&state.config, &headers),
        )),
    }
}
