//! `GET /collections/{id}/timeline`: how many granules of a collection start in each hour,
//! day or month of a window, empty buckets included (gaps show as zeros).
//!
//! Served by the `/collections/{*id}` route (collection IDs contain `/`): a path whose last
//! literal segment is `timeline` asks for the timeline of the ID before it; an ID that itself
//! ends in `/timeline` is reached with that slash percent-encoded (`…%2Ftimeline`).

use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use threddex_store::{TimelineInterval, TimelineQuery, Timestamp};

use crate::AppState;
use crate::error::{ApiError, json_response};
use crate::params::Params;
use crate::query::collection_id;

/// Most buckets one answer holds (≈ 27 years by day, 13 months by hour).
pub const MAX_BUCKETS: u64 = 10_000;

/// The parameters of the timeline.
const TIMELINE_PARAMS: &[&str] = &["interval", "start", "end"];

/// The literal last segment that selects the timeline.
const SUFFIX: &str = "/timeline";

/// `/collections/{*id}`: the timeline when the path ends in a literal `/timeline`, else the
/// collection itself.
pub(crate) async fn collection_or_timeline(
    state: State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Response, ApiError> {
    if let Ok(Path(raw)) = &path
        && uri.path().ends_with(SUFFIX)
        && let Some(id) = raw.strip_suffix(SUFFIX).filter(|id| !id.is_empty())
    {
        return timeline(state, id, params).await;
    }
    super::collections::one(state, headers, path, params).await
}

/// The answer: the window actually counted (whole buckets) and one `[start, end, count]`
/// per bucket.
#[derive(Serialize)]
struct TimelineOut<'a> {
    collection: &'a str,
    interval: TimelineInterval,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    /// Granules counted (the sum of the buckets).
    total: u64,
    buckets: Vec<(Timestamp, Timestamp, u64)>,
}

async fn timeline(
    State(state): State<AppState>,
    raw_id: &str,
    params: Params,
) -> Result<Response, ApiError> {
    params.allow_only(TIMELINE_PARAMS)?;
    let id = collection_id(raw_id, "id")?;
    let interval = match params.get("interval") {
        None => TimelineInterval::Day,
        Some(s) => TimelineInterval::parse(&s.to_ascii_lowercase())
            .ok_or_else(|| ApiError::bad("interval", "must be hour, day or month"))?,
    };
    let start = params.time("start")?;
    let end = params.time("end")?;
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        return Err(ApiError::bad("end", "end must be later than start"));
    }
    let collection = state
        .store
        .collection(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("unknown collection {id:?}")))?;
    // The window: as asked, else the collection's extent; rounded out to whole buckets.
    let query = TimelineQuery {
        collection_id: id.clone(),
        interval,
        start: start.or(collection.start),
        end: end.or_else(|| collection.end.and_then(|e| interval.next(e))),
    };
    let (from, to) = query.aligned();
    let (Some(from), Some(to)) = (from, to) else {
        // No timed granule and no window: nothing to count.
        return Ok(json_response(
            StatusCode::OK,
            &TimelineOut {
                collection: &id,
                interval,
                start: None,
                end: None,
                total: 0,
                buckets: Vec::new(),
            },
        ));
    };
    let n = bucket_count(interval, from, to);
    if n > MAX_BUCKETS {
        return Err(ApiError::bad(
            if start.is_some() || end.is_some() {
                "end"
            } else {
                "interval"
            },
            format!(
                "{n} {} buckets in this window, at most {MAX_BUCKETS}: narrow start/end or \
                 use a longer interval",
                interval.as_str()
            ),
        ));
    }
    let counted = state.store.granule_timeline(&query).await?;
    let mut buckets = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    let mut counts = counted.iter().peekable();
    let mut at = from;
    while at < to {
        let Some(next) = interval.next(at) else { break };
        let mut count = 0;
        while let Some(b) = counts.next_if(|b| b.start < next) {
            if b.start >= at {
                count += b.count;
            }
        }
        buckets.push((at, next, count));
        at = next;
    }
    let out = TimelineOut {
        collection: &id,
        interval,
        start: Some(from),
        end: Some(to),
        total: buckets.iter().map(|b| b.2).sum(),
        buckets,
    };
    Ok(json_response(StatusCode::OK, &out))
}

/// How many buckets `[from, to)` holds (both on bucket boundaries).
fn bucket_count(interval: TimelineInterval, from: Timestamp, to: Timestamp) -> u64 {
    use chrono::Datelike;
    let n = match interval {
        TimelineInterval::Hour => (to - from).num_hours(),
        TimelineInterval::Day => (to - from).num_days(),
        TimelineInterval::Month => {
            i64::from(to.year() - from.year()) * 12 + i64::from(to.month())
                - i64::from(from.month())
        }
    };
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn bucket_counts() {
        let t = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
        use TimelineInterval::*;
        assert_eq!(bucket_count(Hour, t(2024, 1, 1, 0), t(2024, 1, 2, 0)), 24);
        assert_eq!(bucket_count(Day, t(2024, 2, 1, 0), t(2024, 3, 1, 0)), 29);
        assert_eq!(bucket_count(Month, t(2023, 11, 1, 0), t(2024, 2, 1, 0)), 3);
        assert_eq!(bucket_count(Month, t(2024, 1, 1, 0), t(2024, 1, 1, 0)), 0);
    }
}
