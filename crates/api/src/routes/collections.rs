//! `GET /collections` (search) and `GET /collections/{id}` (one collection, JSON or ISO).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use threddex_records::{Extent, SeriesInput, synthesize};
use threddex_store::{BBox, Collection, CollectionView, Timestamp};
use url::form_urlencoded;

use crate::AppState;
use crate::error::{ApiError, json_response};
use crate::params::Params;
use crate::query::{CollectionSearch, collection_id};
use crate::routes::{base_url, negotiate};

#[derive(Serialize)]
struct CollectionsPage<'a> {
    collections: Vec<Hit<'a>>,
    next: Option<String>,
}

#[derive(Serialize)]
struct Hit<'a> {
    id: &'a str,
    title: &'a str,
    summary: Option<&'a str>,
    granules: i64,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    bbox: Option<BBox>,
    index: String,
}

/// The `/index` link of a collection, with the search window when one was given.
fn index_link(base: &str, id: &str, start: Option<Timestamp>, end: Option<Timestamp>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("collection", id);
    let fmt = |t: Timestamp| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    if let Some(s) = start {
        q.append_pair("start", &fmt(s));
    }
    if let Some(e) = end {
        q.append_pair("end", &fmt(e));
    }
    format!("{base}/index?{}", q.finish())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let search = CollectionSearch::parse(&params, state.collection_limits())?;
    let found = state.search().collections(&search.request()).await?;
    let base = base_url(&state.config, &headers);
    let page = CollectionsPage {
        collections: found
            .collections
            .iter()
            .map(|c| Hit {
                id: &c.id,
                title: &c.title,
                summary: c.summary.as_deref(),
                granules: c.granule_count,
                start: c.start,
                end: c.end,
                bbox: c.bbox,
                index: index_link(&base, &c.id, search.start, search.end),
            })
            .collect(),
        next: found.next,
    };
    Ok(json_response(StatusCode::OK, &page))
}

/// One collection as JSON: the stored description plus derived figures, its virtual views
/// (not granules: Best / full collection aggregations, FMRC runs, `latest.xml` resolvers, each
/// with its access URLs) and its `/index` link.
#[derive(Serialize)]
struct CollectionOut<'a> {
    #[serde(flatten)]
    collection: &'a Collection,
    views: &'a [CollectionView],
    /// How long the server keeps the files (`14 days`), when its catalog declares a
    /// rolling coverage ending at `present`.
    rolling_window: Option<String>,
    index: String,
}

/// The `f` values of `/collections/{id}`.
const ONE_PARAMS: &[&str] = &["f"];

pub(crate) async fn one(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Response, ApiError> {
    let Path(raw) =
        path.map_err(|_| ApiError::bad("id", "collection ID is not valid percent-encoded UTF-8"))?;
    params.allow_only(ONE_PARAMS)?;
    let id = collection_id(&raw, "id")?;
    let iso = match params.get("f").map(str::to_ascii_lowercase).as_deref() {
        Some("iso" | "xml") => true,
        Some("json") => false,
        Some(_) => return Err(ApiError::bad("f", "must be json or iso")),
        None => matches!(
            negotiate(
                &headers,
                &[
                    "application/json",
                    "application/xml",
                    "text/xml",
                    "application/vnd.iso.19139+xml"
                ]
            ),
            Some(1..)
        ),
    };
    let collection = state
        .store
        .collection(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("unknown collection {id:?}")))?;
    let base = base_url(&state.config, &headers);
    if iso && collection.iso_record.is_some() {
        return Ok(iso_response(&collection, &[], &base));
    }
    let views = state.store.collection_views(&id).await?;
    if iso {
        return Ok(iso_response(&collection, &views, &base));
    }
    let out = CollectionOut {
        index: index_link(&base, &id, None, None),
        collection: &collection,
        views: &views,
        rolling_window: threddex_records::rolling_window(&collection.info.metadata),
    };
    Ok(json_response(StatusCode::OK, &out))
}

/// The ISO 19139 record: the stored one when the crawler built it, else synthesized from
/// the collection's catalog metadata, its views and its real time extent.
fn iso_response(collection: &Collection, views: &[CollectionView], base: &str) -> Response {
    let xml = match &collection.iso_record {
        Some(xml) => xml.clone(),
        None => {
            let search_base = (!base.is_empty()).then_some(base);
            let mut input = SeriesInput::from_collection(&collection.info, search_base);
            input.views = views.to_vec();
            let extent = Extent::new(collection.start, collection.end);
            synthesize(&input, &extent, collection.updated_at)
        }
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        xml,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn index_links_encode_ids() {
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            index_link("http://h", "a:b/c d&e", Some(t), None),
            "http://h/index?collection=a%3Ab%2Fc+d%26e&start=2024-01-01T00%3A00%3A00Z"
        );
    }
}
