//! `GET /index`: granules of one collection overlapping a window, refreshed on demand.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use threddex_store::{AccessService, Granule, Timestamp};
use url::form_urlencoded;

use crate::AppState;
use crate::cache::CollectionInfo;
use crate::error::ApiError;
use crate::params::Params;
use crate::query::{GranuleSearch, IndexFormat};
use crate::refresh::RefreshOutcome;
use crate::routes::{base_url, negotiate};

mod json;

pub(crate) use json::AccessJson;

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
    let id = search.collection_id.as_str();
    let cache = &state.collection_cache;
    let info = match cache.get(id) {
        Some(info) => info,
        None => {
            let c = state
                .store
                .collection(id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("unknown collection {id:?}")))?;
            cache.put(id, CollectionInfo::from(&c))
        }
    };
    let outcome = match state.refresh_coordinator() {
        Some(c) => {
            // A window that ended before the source's last successful sync needs no refresh:
            // decide that from the (cached) sync times, without the freshness lookup.
            let synced = match search.end {
                Some(_) => {
                    state
                        .sync_times
                        .last_success(state.store.as_ref(), info.source_id)
                        .await
                }
                None => None,
            };
            match (search.end, synced) {
                (Some(end), Some(sync)) if end <= sync => c.without_refresh(id),
                _ => c.ensure_fresh(id, search.end).await,
            }
        }
        None => RefreshOutcome::default(),
    };
    // A refresh may have changed the collection's services.
    let info = if outcome.refreshed
        && let Some(c) = state.store.collection(id).await?
    {
        cache.put(id, CollectionInfo::from(&c))
    } else {
        info
    };
    let rows = state.store.list_granules(&search.store_query()).await?;
    let (rows, next) = search.page(rows);
    match search.format {
        IndexFormat::Json => {
            let body = json::index_page(id, &rows, &info.access_json, next.as_deref(), &outcome);
            Ok((
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response())
        }
        IndexFormat::Csv => Ok(csv_response(
            &state,
            &headers,
            &search,
            &rows,
            &info.services,
            next,
            outcome,
        )),
    }
}

/// Header of the CSV answer.
pub(crate) const CSV_HEADER: &str = "id,start,end,size,url_path,catalog,url";

fn csv_response(
    state: &AppState,
    headers: &HeaderMap,
    search: &GranuleSearch,
    rows: &[Granule],
    services: &[AccessService],
    next: Option<String>,
    outcome: RefreshOutcome,
) -> Response {
    let mut body = String::with_capacity(64 + rows.len() * 160);
    body.push_str(CSV_HEADER);
    body.push_str("\r\n");
    let time =
        |t: Option<Timestamp>| t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    for g in rows {
        let url = match (services.first(), g.url_path.as_deref()) {
            (Some(s), Some(p)) => s.url_for(p),
            _ => String::new(),
        };
        let fields = [
            g.granule_id.clone(),
            time(g.start).unwrap_or_default(),
            time(g.end).unwrap_or_default(),
            g.size.map(|s| s.to_string()).unwrap_or_default(),
            g.url_path.clone().unwrap_or_default(),
            g.catalog_url.clone(),
            url,
        ];
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            push_csv_field(&mut body, f);
        }
        body.push_str("\r\n");
    }
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        body,
    )
        .into_response();
    let h = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-refreshed", outcome.refreshed.to_string());
    set("x-stale", outcome.stale.to_string());
    set(
        "x-indexed-through",
        time(outcome.indexed_through).unwrap_or_default(),
    );
    if let Some(cursor) = next {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("collection", &search.collection_id);
        if let Some(s) = search.start {
            q.append_pair(
                "start",
                &s.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            );
        }
        if let Some(e) = search.end {
            q.append_pair(
                "end",
                &e.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            );
        }
        q.append_pair("limit", &search.limit.to_string());
        q.append_pair("format", "csv");
        q.append_pair("cursor", &cursor);
        let link = format!(
            "<{}/index?{}>; rel=\"next\"",
            base_url(&state.config, headers),
            q.finish()
        );
        set("link", link);
        set("x-next-cursor", cursor);
    }
    response
}

/// Append one CSV field (RFC 4180 quoting).
pub(crate) fn push_csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        let mut s = String::new();
        push_csv_field(&mut s, "plain");
        s.push(',');
        push_csv_field(&mut s, "a,b \"c\"\nd");
        assert_eq!(s, "plain,\"a,b \"\"c\"\"\nd\"");
    }
}
