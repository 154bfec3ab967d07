//! `GET /changes` (pages of the change log, long poll with `wait`) and `GET /changes/stream`
//! (Server-Sent Events, resumable with `Last-Event-ID`). Events are CloudEvents 1.0 JSON
//! ([`threddex_notify::event`]); cursors are log positions, as strings.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use threddex_notify::{CloudEvent, cloud_event};
use threddex_store::{ChangePage, ChangeQuery, MAX_CHANGE_PAGE};
use tokio::time::Instant;

use crate::AppState;
use crate::error::{ApiError, json_response};
use crate::feed::ChangeFeed;
use crate::params::Params;
use crate::routes::base_url;

/// Longest `wait` of a long poll, in seconds (also bounded by the request timeout).
pub const MAX_WAIT_SECS: u64 = 60;
/// Most collections one `collection` parameter may name (comma-separated).
pub const MAX_COLLECTIONS: usize = 50;
/// Entries one `/changes` page holds when no `limit` is asked.
const DEFAULT_LIMIT: u32 = 100;
/// Streams open at once per process; more are answered 503.
pub const MAX_STREAMS: usize = 10_000;

static OPEN_STREAMS: AtomicUsize = AtomicUsize::new(0);

#[derive(Serialize)]
struct ChangesPage {
    changes: Vec<CloudEvent>,
    /// Continue with `after=next`.
    next: String,
    /// The newest position of the log.
    head: String,
    links: Vec<serde_json::Value>,
}

fn cursor(params: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|v| parse_cursor(v).ok_or_else(|| ApiError::bad(name, "not a change-log cursor")))
        .transpose()
}

fn parse_cursor(v: &str) -> Option<i64> {
    if v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

fn collections(params: &Params) -> Result<Vec<String>, ApiError> {
    let Some(v) = params.get("collection") else {
        return Ok(Vec::new());
    };
    let ids: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if ids.len() > MAX_COLLECTIONS {
        return Err(ApiError::bad(
            "collection",
            format!("at most {MAX_COLLECTIONS} collections"),
        ));
    }
    if ids.iter().any(|i| i.len() > 1024) {
        return Err(ApiError::bad("collection", "collection ID too long"));
    }
    Ok(ids)
}

/// `410 Gone` for a cursor older than the log keeps, with how to start over.
fn gone(page: &ChangePage, after: i64, base: &str) -> Response {
    json_response(
        StatusCode::GONE,
        &json!({
            "error": {
                "parameter": "after",
                "message": format!(
                    "cursor {after} is older than the change log keeps (entries up to {} were \
                     removed by retention); start over: read /collections and /index, then \
                     follow /changes?after={} (the head when this answer was made)",
                    page.pruned_through, page.head
                ),
            },
            "head": page.head.to_string(),
            "links": [
                {"rel": "collections", "href": format!("{base}/collections")},
                {"rel": "index", "href": format!("{base}/index")},
                {"rel": "next", "href": format!("{base}/changes?after={}", page.head)},
            ],
        }),
    )
}

fn next_link(base: &str, next: i64, collections: &[String], limit: u32) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("after", &next.to_string());
    if !collections.is_empty() {
        q.append_pair("collection", &collections.join(","));
    }
    q.append_pair("limit", &limit.to_string());
    format!("{base}/changes?{}", q.finish())
}

/// `GET /changes?after=&collection=&limit=&wait=`.
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    params.allow_only(&["after", "collection", "limit", "wait"])?;
    let feed = state.feed();
    let collections = collections(&params)?;
    let limit = params.limit("limit", DEFAULT_LIMIT, MAX_CHANGE_PAGE)?;
    let max_wait = MAX_WAIT_SECS.min(state.config.request_timeout.as_secs().saturating_sub(2));
    let wait = match params.get("wait") {
        None => 0,
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|w| *w <= max_wait)
            .ok_or_else(|| ApiError::bad("wait", format!("seconds, 0 to {max_wait}")))?,
    };
    let base = base_url(&state.config, &headers);
    // Without a cursor: from the oldest entry kept.
    let after = match cursor(&params, "after")? {
        Some(a) => a,
        None => state.store.change_head().await?.1,
    };
    let query = ChangeQuery {
        after,
        collections: collections.clone(),
        limit,
    };
    let deadline = Instant::now() + Duration::from_secs(wait);
    let mut page = feed.page(&query).await?;
    while page.changes.is_empty() && !page.expired && Instant::now() < deadline {
        if !feed.wait_beyond(page.next.max(after), deadline).await {
            break;
        }
        page = feed
            .page(&ChangeQuery {
                after: page.next.max(after),
                ..query.clone()
            })
            .await?;
    }
    if page.expired {
        return Ok(gone(&page, after, &base));
    }
    let next = page.next.max(after);
    let body = ChangesPage {
        changes: page.changes.iter().map(|c| cloud_event(c, &base)).collect(),
        next: next.to_string(),
        head: page.head.max(next).to_string(),
        links: vec![json!({
            "rel": "next",
            "href": next_link(&base, next, &collections, limit),
        })],
    };
    let mut response = json_response(StatusCode::OK, &body);
    if let Ok(v) = HeaderValue::from_str(&next.to_string()) {
        response.headers_mut().insert("x-next-cursor", v);
    }
    Ok(response)
}

/// Counts an open stream; released on drop.
struct StreamSlot;

impl StreamSlot {
    fn take() -> Option<Self> {
        let n = OPEN_STREAMS.fetch_add(1, Ordering::SeqCst);
        if n >= MAX_STREAMS {
            OPEN_STREAMS.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Self)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        OPEN_STREAMS.fetch_sub(1, Ordering::SeqCst);
    }
}

struct StreamState {
    feed: ChangeFeed,
    query: ChangeQuery,
    base: Arc<str>,
    pending: VecDeque<Event>,
    _slot: StreamSlot,
}

/// `GET /changes/stream?after=&collection=`: every entry after the cursor (`Last-Event-ID`
/// wins over `after`; without either, from the head on) as an SSE event whose `id` is the
/// position and `data` the CloudEvent.
pub(crate) async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    params.allow_only(&["after", "collection"])?;
    let collections = collections(&params)?;
    let base = base_url(&state.config, &headers);
    let last_event = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let after = match last_event {
        Some(v) => Some(
            parse_cursor(v)
                .ok_or_else(|| ApiError::bad("Last-Event-ID", "not a change-log cursor"))?,
        ),
        None => cursor(&params, "after")?,
    };
    let feed = state.feed();
    let after = match after {
        Some(a) => a,
        None => state.store.change_head().await?.0,
    };
    let query = ChangeQuery {
        after,
        collections,
        limit: DEFAULT_LIMIT,
    };
    let first = feed.page(&query).await?;
    if first.expired {
        return Ok(gone(&first, after, &base));
    }
    let Some(slot) = StreamSlot::take() else {
        return Ok(json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"error": {"message": "too many open change streams; retry later"}}),
        ));
    };
    let st = StreamState {
        feed: feed.clone(),
        query,
        base: base.into(),
        pending: VecDeque::new(),
        _slot: slot,
    };
    let events = futures::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(e) = st.pending.pop_front() {
                return Some((Ok::<Event, Infallible>(e), st));
            }
            let page = match st.feed.page(&st.query).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %threddex_store::ErrorChain(&e), "change stream: cannot read the change log");
                    return None;
                }
            };
            if page.expired {
                return None;
            }
            for c in &page.changes {
                let ev = cloud_event(c, &st.base);
                let data = serde_json::to_string(&ev).unwrap_or_default();
                st.pending
                    .push_back(Event::default().id(c.seq.to_string()).data(data));
            }
            st.query.after = page.next.max(st.query.after);
            if st.pending.is_empty() {
                let deadline = Instant::now() + Duration::from_secs(15);
                st.feed.wait_beyond(st.query.after, deadline).await;
            }
        }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors() {
        assert_eq!(parse_cursor("0"), Some(0));
        assert_eq!(parse_cursor("42"), Some(42));
        for bad in ["-1", "1e3", "x", "99999999999999999999", " 1"] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }
}
