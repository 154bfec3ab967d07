//! STAC API 1.0 at `/stac`: the landing page, conformance, queryables, collections (with
//! collection search), items, and item search (GET and POST) with the filter (CQL2), sort,
//! fields and free-text extensions.
//!
//! Documents come from `threddex-stac`; item searches run in the search core
//! ([`threddex_search::SearchCore::items`]), refreshing named collections on demand like
//! `/index`; filters are CQL2 read by `threddex-query` into the one filter tree.

pub(crate) mod search;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use threddex_json::{push_bool, push_opt_time, push_quoted, push_u64};
use threddex_search::cursor::encode_collection;
use threddex_search::{ItemPage, ItemRequest, SearchCore};
use threddex_stac::{GEOJSON, ItemContext, ItemTemplate, JSON, Urls, collection_url, link};
use threddex_store::{
    Collection, CollectionQuery, CompareOp, Granule, ItemTest, ItemText, RecordFilter, SortKey,
    SortProperty,
};
use url::form_urlencoded;

use crate::AppState;
use crate::error::ApiError;
use crate::params::Params;
use crate::query::collection_id;
use crate::routes::base_url;

use self::search::{Fields, SearchBody, StacSearch, apply_fields};

/// The conformance classes served.
pub(crate) const CONFORMS_TO: &[&str] = &[
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#filter",
    "https://api.stacspec.org/v1.0.0/item-search#sort",
    "https://api.stacspec.org/v1.0.0/item-search#fields",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#sort",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#fields",
    "https://api.stacspec.org/v1.0.0-rc.1/item-search#free-text",
    "https://api.stacspec.org/v1.0.0-rc.1/collection-search",
    "https://api.stacspec.org/v1.0.0-rc.1/collection-search#free-text",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
];

/// Most pages read to find one item by ID (each reads at most
/// [`threddex_search::MAX_SCAN`] granules).
const MAX_LOOKUP_PAGES: usize = 200;

/// Largest `/stac/collections` page.
const MAX_COLLECTIONS_LIMIT: u32 = 1_000;

fn urls(state: &AppState, headers: &HeaderMap) -> Urls {
    Urls::new(&base_url(&state.config, headers))
}

fn respond(media_type: &'static str, value: &Value) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (StatusCode::OK, [(header::CONTENT_TYPE, media_type)], body).into_response(),
        Err(e) => ApiError::Internal(format!("serializing a STAC document: {e}")).into_response(),
    }
}

/// `GET /stac`: the landing page.
pub(crate) async fn landing(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let u = urls(&state, &headers);
    let root = &u.stac;
    let mut search_post = link("search", &format!("{root}/search"), GEOJSON);
    if let Some(o) = search_post.as_object_mut() {
        o.insert("method".into(), json!("POST"));
    }
    let mut search_get = link("search", &format!("{root}/search"), GEOJSON);
    if let Some(o) = search_get.as_object_mut() {
        o.insert("method".into(), json!("GET"));
    }
    respond(
        JSON,
        &json!({
            "type": "Catalog",
            "stac_version": threddex_stac::STAC_VERSION,
            "id": "threddex",
            "title": "threddex",
            "description": "THREDDS catalogs indexed by threddex: collections (series of files) and their granules as STAC",
            "conformsTo": CONFORMS_TO,
            "links": [
                link("self", root, JSON),
                link("root", root, JSON),
                link("data", &format!("{root}/collections"), JSON),
                link("conformance", &format!("{root}/conformance"), JSON),
                search_get,
                search_post,
                link("http://www.opengis.net/def/rel/ogc/1.0/queryables", &format!("{root}/queryables"), "application/schema+json"),
                link("service-desc", &format!("{}/openapi.json", u.api), "application/vnd.oai.openapi+json;version=3.1"),
                link("service-doc", &format!("{}/openapi.json", u.api), "application/vnd.oai.openapi+json;version=3.1"),
            ],
        }),
    )
}

/// `GET /stac/conformance`.
pub(crate) async fn conformance() -> Response {
    respond(JSON, &json!({ "conformsTo": CONFORMS_TO }))
}

/// `GET /stac/queryables`: what a filter may test.
pub(crate) async fn queryables(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let u = urls(&state, &headers);
    respond(
        "application/schema+json",
        &json!({
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": format!("{}/queryables", u.stac),
            "type": "object",
            "title": "Queryables of threddex items",
            "properties": threddex_query::cql2::queryables(),
            "additionalProperties": false,
        }),
    )
}

/// The collection-search parameters of `/stac/collections`.
const COLLECTIONS_PARAMS: &[&str] = &["q", "bbox", "datetime", "limit", "token"];

/// `GET /stac/collections`: collections, searched by `q`, `bbox` and `datetime`.
pub(crate) async fn collections(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    params.allow_only(COLLECTIONS_PARAMS)?;
    let limit = match params.get("limit") {
        None => search::DEFAULT_LIMIT,
        Some(l) => l
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1)
            .map(|n| u32::try_from(n.min(u64::from(MAX_COLLECTIONS_LIMIT))).unwrap_or(1))
            .ok_or_else(|| ApiError::bad("limit", "a whole number of at least 1"))?,
    };
    let (start, end) = match params.get("datetime") {
        None => (None, None),
        Some(d) => {
            let (s, e) = search::datetime(d)?;
            // Closed interval onto the store's half-open window.
            (s, e.map(|e| e + chrono::TimeDelta::microseconds(1)))
        }
    };
    let text = params.get("q").map(str::trim).filter(|t| !t.is_empty());
    if text.is_some_and(|t| t.chars().count() > 500) {
        return Err(ApiError::bad("q", "text too long (max 500 characters)"));
    }
    let after_id = params
        .get("token")
        .map(|t| {
            threddex_search::cursor::decode_collection(t)
                .map_err(|e| ApiError::bad("token", e.to_string()))
        })
        .transpose()?;
    let query = CollectionQuery {
        text: text.map(str::to_owned),
        bbox: params.bbox("bbox")?,
        source_id: None,
        start,
        end,
        after_id,
        limit,
        updated_since: None,
    };
    let sort = [SortKey {
        prop: SortProperty::Identifier,
        descending: false,
    }];
    let mut page = state
        .store
        .search_records(&query.filter(), &sort, 0, limit.saturating_add(1))
        .await?;
    let more = page.collections.len() > limit as usize;
    page.collections.truncate(limit as usize);
    let u = urls(&state, &headers);
    let mut docs = Vec::with_capacity(page.collections.len());
    for c in &page.collections {
        let views = state.store.collection_views(&c.info.id).await?;
        docs.push(threddex_stac::collection(c, &views, &u));
    }
    // `matched` counts from the cursor on: the first page's count is the total.
    let matched = query.after_id.is_none().then_some(page.matched);
    let self_href = href(&format!("{}/collections", u.stac), &params, None);
    let mut links = vec![
        link("self", &self_href, JSON),
        link("root", &u.stac, JSON),
        link("parent", &u.stac, JSON),
    ];
    if more && let Some(last) = page.collections.last() {
        links.push(link(
            "next",
            &href(
                &format!("{}/collections", u.stac),
                &params,
                Some(&encode_collection(&last.info.id)),
            ),
            JSON,
        ));
    }
    let mut out = json!({
        "collections": docs,
        "links": links,
        "numberReturned": page.collections.len(),
    });
    if let (Some(m), Some(o)) = (matched, out.as_object_mut()) {
        o.insert("numberMatched".into(), json!(m));
    }
    Ok(respond(JSON, &out))
}

/// `GET /stac/collections/{collectionId}[/items[/{itemId}]]`. IDs hold `/` and `:`: a client
/// may percent-encode them or not, so the rest of the path is split at its first `/items`.
pub(crate) async fn under_collection(
    state: State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Response, ApiError> {
    let Path(rest) =
        path.map_err(|_| ApiError::bad("collectionId", "not valid percent-encoded UTF-8"))?;
    if let Some(c) = rest.strip_suffix("/items") {
        return items(state, headers, collection_id(c, "collectionId")?, params).await;
    }
    if let Some((c, i)) = rest.split_once("/items/") {
        let c = collection_id(c, "collectionId")?;
        let i = item_id(i)?;
        return item(state, headers, c, i, params).await;
    }
    collection(
        state,
        headers,
        collection_id(&rest, "collectionId")?,
        params,
    )
    .await
}

/// Validate an item ID taken from a path.
fn item_id(raw: &str) -> Result<String, ApiError> {
    if raw.len() > threddex_search::MAX_ID_BYTES || raw.chars().any(char::is_control) {
        return Err(ApiError::bad(
            "itemId",
            format!(
                "item ID longer than {} bytes or with control characters",
                threddex_search::MAX_ID_BYTES
            ),
        ));
    }
    Ok(raw.to_owned())
}

/// `GET /stac/collections/{collectionId}`.
async fn collection(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: String,
    params: Params,
) -> Result<Response, ApiError> {
    params.allow_only(&[])?;
    let c = state
        .store
        .collection(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("unknown collection {id:?}")))?;
    let views = state.store.collection_views(&id).await?;
    Ok(respond(
        JSON,
        &threddex_stac::collection(&c, &views, &urls(&state, &headers)),
    ))
}

/// The URL of a GET page: `base` with the request's parameters, `token` replaced.
fn href(base: &str, params: &Params, token: Option<&str>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params.iter().filter(|(k, _)| *k != "token") {
        q.append_pair(k, v);
    }
    if let Some(t) = token {
        q.append_pair("token", t);
    }
    let q = q.finish();
    if q.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{q}")
    }
}

/// A link of an item page: `{"href", "rel", "type"}` as [`link`] gives it, or (with a
/// token) the next page of a POST search: the same request body with that token, merged.
#[derive(Clone, Copy, Debug)]
struct PageLink<'a> {
    rel: &'a str,
    href: &'a str,
    media_type: &'a str,
    post_token: Option<&'a str>,
}

impl<'a> PageLink<'a> {
    fn new(rel: &'a str, href: &'a str, media_type: &'a str) -> Self {
        Self {
            rel,
            href,
            media_type,
            post_token: None,
        }
    }

    /// The link as JSON, keys in the order `serde_json` writes a map's (as [`link`] would
    /// be written).
    fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        if let Some(t) = self.post_token {
            out.extend_from_slice(b"\"body\":{\"token\":");
            push_quoted(out, t);
            out.extend_from_slice(b"},");
        }
        out.extend_from_slice(b"\"href\":");
        push_quoted(out, self.href);
        if self.post_token.is_some() {
            out.extend_from_slice(b",\"merge\":true,\"method\":\"POST\"");
        }
        out.extend_from_slice(b",\"rel\":");
        push_quoted(out, self.rel);
        out.extend_from_slice(b",\"type\":");
        push_quoted(out, self.media_type);
        out.push(b'}');
    }
}

/// The item templates of the collections of one page (most pages have one collection; a page
/// in time order may interleave up to [`threddex_search::MAX_MERGED`]).
#[derive(Default)]
struct Templates {
    all: Vec<(Arc<Collection>, ItemTemplate)>,
    last: usize,
}

impl Templates {
    fn get(&mut self, root: &str, c: &Arc<Collection>) -> &ItemTemplate {
        let found = match self.all.get(self.last) {
            Some((k, _)) if Arc::ptr_eq(k, c) => Some(self.last),
            _ => self.all.iter().position(|(k, _)| Arc::ptr_eq(k, c)),
        };
        let i = found.unwrap_or_else(|| {
            self.all
                .push((Arc::clone(c), ItemTemplate::new(&ItemContext::of(root, c))));
            self.all.len() - 1
        });
        self.last = i;
        &self.all[i].1
    }
}

/// An item collection (a page of items) as GeoJSON, written straight into one buffer: the
/// features (each item written by its collection's [`ItemTemplate`]; through the `Value`
/// builder and [`apply_fields`] when the search asks for `fields`), `links` (`links` given,
/// then `root`, then `next`), `numberMatched` (when known), `numberReturned` and the
/// freshness of the named collections (`refreshed`, `stale`, `indexed_through`) when refresh
/// on demand was asked. Keys in the order `serde_json` writes a map's.
fn item_collection(
    page: &ItemPage,
    root: &str,
    fields: &Fields,
    links: &[PageLink<'_>],
    next: Option<PageLink<'_>>,
) -> Vec<u8> {
    let mut templates = Templates::default();
    let per_item = page
        .items
        .first()
        .map_or(0, |(c, g)| templates.get(root, c).estimate(g));
    let mut out = Vec::with_capacity(512 + per_item * page.items.len() * 9 / 8);
    out.extend_from_slice(b"{\"features\":[");
    let whole = fields.include.is_empty() && fields.exclude.is_empty();
    for (i, (c, g)) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if whole {
            templates.get(root, c).write(&mut out, g);
        } else {
            let item = apply_fields(threddex_stac::item(g, &ItemContext::of(root, c)), fields);
            // A `Value` written into a `Vec`: cannot fail.
            if serde_json::to_writer(&mut out, &item).is_err() {
                out.extend_from_slice(b"null");
            }
        }
    }
    out.push(b']');
    if let Some(f) = &page.freshness {
        out.extend_from_slice(b",\"indexed_through\":");
        push_opt_time(&mut out, f.indexed_through);
    }
    out.extend_from_slice(b",\"links\":[");
    let root_link = PageLink::new("root", root, JSON);
    for (i, l) in links
        .iter()
        .chain([&root_link])
        .chain(next.as_ref())
        .enumerate()
    {
        if i > 0 {
            out.push(b',');
        }
        l.write(&mut out);
    }
    out.push(b']');
    if let Some(m) = page.matched {
        out.extend_from_slice(b",\"numberMatched\":");
        push_u64(&mut out, m);
    }
    out.extend_from_slice(b",\"numberReturned\":");
    push_u64(&mut out, page.items.len() as u64);
    if let Some(f) = &page.freshness {
        out.extend_from_slice(b",\"refreshed\":");
        push_bool(&mut out, f.refreshed);
        out.extend_from_slice(b",\"stale\":");
        push_bool(&mut out, f.stale);
    }
    out.extend_from_slice(b",\"type\":\"FeatureCollection\"}");
    out
}

/// One item's answer.
fn item_answer(u: &Urls, c: &Collection, g: &Granule) -> Response {
    let mut body = Vec::new();
    threddex_stac::write_item(&mut body, g, &ItemContext::of(&u.stac, c));
    respond_items(body)
}

/// An item page's answer.
fn respond_items(body: Vec<u8>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, GEOJSON)], body).into_response()
}

async fn run(core: &SearchCore, request: &ItemRequest) -> Result<ItemPage, ApiError> {
    core.items(request).await.map_err(|e| match e {
        // The one search too broad for its order: time order over too many collections.
        threddex_search::SearchError::Invalid(m) => ApiError::bad("sortby", m),
        e => e.into(),
    })
}

/// `GET /stac/search`.
pub(crate) async fn search_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let s = search::from_params(&params, None)?;
    let page = run(state.search(), &s.request).await?;
    let u = urls(&state, &headers);
    let base = format!("{}/search", u.stac);
    let next = page.next.as_deref().map(|t| href(&base, &params, Some(t)));
    let self_href = href(&base, &params, None);
    Ok(respond_items(item_collection(
        &page,
        &u.stac,
        &s.fields,
        &[PageLink::new("self", &self_href, GEOJSON)],
        next.as_deref().map(|n| PageLink::new("next", n, GEOJSON)),
    )))
}

/// `POST /stac/search`: the same search from a JSON body; the next page is the same body
/// with a `token` (`merge: true`).
pub(crate) async fn search_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<SearchBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::bad("body", e.body_text()))?;
    let s: StacSearch = search::from_body(body)?;
    let page = run(state.search(), &s.request).await?;
    let u = urls(&state, &headers);
    let base = format!("{}/search", u.stac);
    let next = page.next.as_deref().map(|t| PageLink {
        post_token: Some(t),
        ..PageLink::new("next", &base, GEOJSON)
    });
    Ok(respond_items(item_collection(
        &page,
        &u.stac,
        &s.fields,
        &[PageLink::new("self", &base, GEOJSON)],
        next,
    )))
}

/// `GET /stac/collections/{collectionId}/items`.
async fn items(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: String,
    params: Params,
) -> Result<Response, ApiError> {
    let s = search::from_params(&params, Some(&id))?;
    let page = run(state.search(), &s.request).await?;
    // An unknown collection has no items: only an empty page needs to ask whether it exists.
    if page.items.is_empty() && state.store.collection(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("unknown collection {id:?}")));
    }
    let u = urls(&state, &headers);
    let collection = collection_url(&u.stac, &id);
    let base = format!("{collection}/items");
    let next = page.next.as_deref().map(|t| href(&base, &params, Some(t)));
    let self_href = href(&base, &params, None);
    Ok(respond_items(item_collection(
        &page,
        &u.stac,
        &s.fields,
        &[
            PageLink::new("self", &self_href, GEOJSON),
            PageLink::new("collection", &collection, JSON),
            PageLink::new("parent", &collection, JSON),
        ],
        next.as_deref().map(|n| PageLink::new("next", n, GEOJSON)),
    )))
}

/// `GET /stac/collections/{collectionId}/items/{itemId}`.
async fn item(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: String,
    item_id: String,
    params: Params,
) -> Result<Response, ApiError> {
    params.allow_only(&[])?;
    let Some(c) = state.store.collection(&id).await? else {
        return Err(ApiError::NotFound(format!("unknown collection {id:?}")));
    };
    let is_id = RecordFilter::Item(ItemTest::CompareText {
        prop: ItemText::Id,
        op: CompareOp::Eq,
        value: item_id.clone(),
    });
    let mut request = ItemRequest {
        collections: Some(vec![id.clone()]),
        filter: is_id.clone(),
        collection_filter: RecordFilter::All,
        limit: 1,
        after: None,
        order: threddex_search::ItemOrder::Collection,
        descending: false,
        updated_since: None,
    };
    // Most granule IDs carry their time (the collection's name template reads it back): look
    // there first, then (a time set by the catalog rather than the name) everywhere.
    if let Some((start, _)) = c
        .info
        .template
        .as_deref()
        .and_then(|t| threddex_ids::read_time(t, &item_id))
    {
        let at = ItemRequest {
            filter: RecordFilter::And(vec![
                RecordFilter::Item(ItemTest::Intersects {
                    start: Some(start),
                    end: Some(start),
                }),
                is_id,
            ]),
            ..request.clone()
        };
        let page = run(state.search(), &at).await?;
        if let Some((c, g)) = page.items.first() {
            return Ok(item_answer(&urls(&state, &headers), c, g));
        }
    }
    for _ in 0..MAX_LOOKUP_PAGES {
        let page = run(state.search(), &request).await?;
        if let Some((c, g)) = page.items.first() {
            return Ok(item_answer(&urls(&state, &headers), c, g));
        }
        match page.next.as_deref() {
            Some(t) => {
                request.after = Some(
                    threddex_search::cursor::decode_item(t)
                        .map_err(|e| ApiError::Internal(e.to_string()))?,
                );
            }
            None => break,
        }
    }
    Err(ApiError::NotFound(format!(
        "no item {item_id:?} in collection {id:?}"
    )))
}

/// The STAC routes, as (axum path, handler).
pub(crate) fn routes() -> Vec<(&'static str, axum::routing::MethodRouter<AppState>)> {
    use axum::routing::get;
    vec![
        ("/stac", get(landing)),
        ("/stac/conformance", get(conformance)),
        ("/stac/queryables", get(queryables)),
        ("/stac/collections", get(collections)),
        ("/stac/collections/{*collectionId}", get(under_collection)),
        ("/stac/search", get(search_get).post(search_post)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::Map;
    use threddex_search::RefreshOutcome;
    use threddex_store::{AccessService, BBox, CollectionUpsert};

    /// The former `Value`-based page, kept as the oracle of [`item_collection`].
    fn former_item_collection(
        page: &ItemPage,
        root: &str,
        fields: &Fields,
        mut links: Vec<Value>,
        next: Option<Value>,
    ) -> Value {
        let features: Vec<Value> = page
            .items
            .iter()
            .map(|(c, g)| apply_fields(threddex_stac::item(g, &ItemContext::of(root, c)), fields))
            .collect();
        links.push(link("root", root, JSON));
        if let Some(n) = next {
            links.push(n);
        }
        let mut out = Map::new();
        out.insert("type".into(), json!("FeatureCollection"));
        out.insert("numberReturned".into(), json!(features.len()));
        if let Some(m) = page.matched {
            out.insert("numberMatched".into(), json!(m));
        }
        out.insert("features".into(), Value::Array(features));
        out.insert("links".into(), Value::Array(links));
        if let Some(f) = &page.freshness {
            out.insert("refreshed".into(), json!(f.refreshed));
            out.insert("stale".into(), json!(f.stale));
            out.insert(
                "indexed_through".into(),
                json!(f.indexed_through.map(threddex_stac::time)),
            );
        }
        Value::Object(out)
    }

    fn collection(id: &str, bbox: Option<BBox>, services: Vec<AccessService>) -> Arc<Collection> {
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        Arc::new(Collection {
            info: CollectionUpsert {
                id: id.into(),
                source_id: 1,
                title: "t".into(),
                template: None,
                catalog_url: "http://h/thredds/catalog/catalog.xml".into(),
                services,
                metadata: json!({}),
                summary: None,
                keywords: vec![],
                bbox,
            },
            granule_count: 3,
            start: Some(t),
            end: Some(t),
            iso_record: None,
            updated_at: t,
            views_version: 0,
        })
    }

    fn granule(c: &str, i: i64) -> Granule {
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        Granule {
            collection_id: c.into(),
            granule_id: format!("dir/g \"{i}\"\u{1}é.nc"),
            name: format!("g{i}.nc"),
            start: (i % 3 != 0).then(|| t + chrono::TimeDelta::milliseconds(i * 3_600_001)),
            end: (i % 2 == 0).then(|| t + chrono::TimeDelta::hours(i + 1)),
            url_path: (i % 5 != 4).then(|| format!("dir/g{i}.nc")),
            size: (i % 4 != 1).then_some(i * 1_000_003 - 5),
            modified: None,
            catalog_url: "http://h/thredds/catalog/catalog.xml".into(),
        }
    }

    fn svc(name: &str, ty: &str, base: &str) -> AccessService {
        AccessService {
            name: name.into(),
            service_type: ty.into(),
            base: base.into(),
            suffix: String::new(),
        }
    }

    /// Pages of items of two interleaved collections, with and without `fields`, counts,
    /// freshness and next links (GET and POST): the bytes `serde_json` wrote for the former
    /// `Value` page.
    #[test]
    fn pages_as_the_value_builder_wrote_them() {
        let a = collection(
            "a:sst/daily",
            Some(BBox {
                west: -10.0,
                south: 20.0,
                east: 30.5,
                north: 40.0,
            }),
            vec![
                svc("http", "HTTPServer", "http://h/thredds/fileServer/"),
                svc("odap", "OPENDAP", "http://h/thredds/dodsC/"),
            ],
        );
        let b = collection("b \"q\"", None, vec![svc("w", "WMS", "http://h/wms/")]);
        let items: Vec<(Arc<Collection>, Granule)> = (0..9)
            .map(|i| {
                let c = if i % 3 == 1 { &b } else { &a };
                (Arc::clone(c), granule(&c.info.id, i))
            })
            .collect();
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let root = "http://api/stac";
        let fields_cases = [
            Fields::default(),
            Fields {
                include: vec!["properties.title".into(), "assets".into()],
                exclude: vec![],
            },
            Fields {
                include: vec![],
                exclude: vec!["assets".into(), "properties.datetime".into()],
            },
        ];
        for n in [0, 1, items.len()] {
            for matched in [None, Some(12_345)] {
                for freshness in [
                    None,
                    Some(RefreshOutcome::default()),
                    Some(RefreshOutcome {
                        refreshed: true,
                        stale: true,
                        indexed_through: Some(t),
                    }),
                ] {
                    for fields in &fields_cases {
                        for post in [false, true] {
                            let page = ItemPage {
                                items: items[..n].to_vec(),
                                next: Some("tok\"en".into()),
                                matched,
                                freshness,
                            };
                            let self_href = format!("{root}/search?x=\"1\"");
                            let (next, next_value) = if post {
                                (
                                    PageLink {
                                        post_token: Some("tok\"en"),
                                        ..PageLink::new("next", &self_href, GEOJSON)
                                    },
                                    json!({"rel": "next", "href": self_href, "type": GEOJSON,
                                        "method": "POST", "body": {"token": "tok\"en"},
                                        "merge": true}),
                                )
                            } else {
                                (
                                    PageLink::new(
                                        "next",
                                        "http://api/stac/search?token=t",
                                        GEOJSON,
                                    ),
                                    link("next", "http://api/stac/search?token=t", GEOJSON),
                                )
                            };
                            let links = [
                                PageLink::new("self", &self_href, GEOJSON),
                                PageLink::new("collection", "http://api/stac/collections/a", JSON),
                            ];
                            let links_value = vec![
                                link("self", &self_href, GEOJSON),
                                link("collection", "http://api/stac/collections/a", JSON),
                            ];
                            for with_next in [false, true] {
                                let ours = item_collection(
                                    &page,
                                    root,
                                    fields,
                                    &links,
                                    with_next.then_some(next),
                                );
                                let theirs = former_item_collection(
                                    &page,
                                    root,
                                    fields,
                                    links_value.clone(),
                                    with_next.then(|| next_value.clone()),
                                );
                                let parsed: Value = serde_json::from_slice(&ours).unwrap();
                                assert_eq!(parsed, theirs);
                                assert_eq!(
                                    String::from_utf8(ours).unwrap(),
                                    serde_json::to_string(&theirs).unwrap()
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
