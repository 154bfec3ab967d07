//! `GET /index`: granules of one collection overlapping a window, refreshed on demand.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use threddex_store::{AccessService, Granule, Timestamp};
use url::form_urlencoded;

use crate::AppState;
use crate::cache::CollectionInfo;
use crate::error::{ApiError, json_response};
use crate::params::Params;
use crate::query::{GranuleSearch, IndexFormat};
use crate::refresh::RefreshOutcome;
use crate::routes::{base_url, negotiate};

/// The JSON answer.
#[derive(Serialize)]
struct IndexPage<'a> {
    collection: &'a str,
    granules: Vec<GranuleOut<'a>>,
    next: Option<String>,
    refreshed: bool,
    stale: bool,
    indexed_through: Option<Timestamp>,
}

#[derive(Serialize)]
struct GranuleOut<'a> {
    id: &'a str,
    name: &'a str,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    size: Option<i64>,
    url_path: Option<&'a str>,
    catalog: &'a str,
    access: Vec<Access<'a>>,
}

#[derive(Serialize)]
struct Access<'a> {
    service: &'a str,
    #[serde(rename = "type")]
    service_type: &'a str,
    url: String,
}

/// Services through which single granules are reachable (a `Compound` service is only a
/// container of others).
fn granule_services(services: &[AccessService]) -> Vec<&AccessService> {
    services
        .iter()
        .filter(|s| !s.service_type.eq_ignore_ascii_case("compound") && !s.base.is_empty())
        .collect()
}

fn access<'a>(services: &[&'a AccessService], g: &Granule) -> Vec<Access<'a>> {
    let Some(path) = g.url_path.as_deref() else {
        return Vec::new();
    };
    services
        .iter()
        .map(|s| Access {
            service: &s.name,
            service_type: &s.service_type,
            url: s.url_for(path),
        })
        .collect()
}

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
    let services = granule_services(&info.services);
    match search.format {
        IndexFormat::Json => {
            let page = IndexPage {
                collection: id,
                granules: rows
                    .iter()
                    .map(|g| GranuleOut {
                        id: &g.granule_id,
                        name: &g.name,
                        start: g.start,
                        end: g.end,
                        size: g.size,
                        url_path: g.url_path.as_deref(),
                        catalog: &g.catalog_url,
                        access: access(&services, g),
                    })
                    .collect(),
                next,
                refreshed: outcome.refreshed,
                stale: outcome.stale,
                indexed_through: outcome.indexed_through,
            };
            Ok(json_response(StatusCode::OK, &page))
        }
        IndexFormat::Csv => Ok(csv_response(
            &state, &headers, &search, &rows, &services, next, outcome,
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
    services: &[&AccessService],
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

    #[test]
    fn compound_services_give_no_access_url() {
        let svc = |t: &str| AccessService {
            name: t.to_lowercase(),
            service_type: t.into(),
            base: "https://h/".into(),
            suffix: String::new(),
        };
        let all = [svc("Compound"), svc("OpenDAP"), svc("HTTPServer")];
        let usable = granule_services(&all);
        assert_eq!(usable.len(), 2);
        let g = Granule {
            collection_id: "c".into(),
            granule_id: "g".into(),
            name: "g".into(),
            start: None,
            end: None,
            url_path: Some("x/y.nc".into()),
            size: None,
            modified: None,
            catalog_url: "u".into(),
        };
        let a = access(&usable, &g);
        assert_eq!(a[0].url, "https://h/x/y.nc");
        let g2 = Granule {
            url_path: None,
            ..g
        };
        assert!(access(&usable, &g2).is_empty());
    }
}
