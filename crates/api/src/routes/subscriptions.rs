//! Webhook subscriptions (administrative, see [`crate::admin`]): `POST /subscriptions`,
//! `GET /subscriptions`, `GET` and `DELETE /subscriptions/{id}`,
//! `POST /subscriptions/{id}/resume` and `GET /subscriptions/{id}/deliveries`. Deliveries
//! themselves are made by [`threddex_notify::webhook::worker`], which `serve` runs.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use threddex_notify::webhook::{RegisterError, register};
use threddex_store::{
    BBox, Delivery, Subscription, SubscriptionFilter, Timestamp, delivery_page_size,
};

use crate::AppState;
use crate::admin::Admin;
use crate::error::{ApiError, json_response};
use crate::params::Params;
use crate::routes::admin::check_json;
use crate::routes::base_url;

/// The body of `POST /subscriptions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBody {
    url: String,
    #[serde(default)]
    collections: Vec<String>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    bbox: Option<[f64; 4]>,
    #[serde(default)]
    after: Option<i64>,
}

#[derive(Serialize)]
struct FilterOut<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    collections: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pattern: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    q: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bbox: Option<[f64; 4]>,
}

#[derive(Serialize)]
struct SubscriptionOut<'a> {
    id: i64,
    url: &'a str,
    filter: FilterOut<'a>,
    status: &'static str,
    disabled_reason: Option<&'a str>,
    cursor: i64,
    failures: u32,
    created_at: Timestamp,
    last_success_at: Option<Timestamp>,
    last_failure_at: Option<Timestamp>,
    /// Only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
    links: Vec<serde_json::Value>,
}

fn out<'a>(s: &'a Subscription, base: &str, with_secret: bool) -> SubscriptionOut<'a> {
    let me = format!("{base}/subscriptions/{}", s.id);
    SubscriptionOut {
        id: s.id,
        url: &s.target_url,
        filter: FilterOut {
            collections: &s.filter.collections,
            pattern: s.filter.pattern.as_deref(),
            q: s.filter.q.as_deref(),
            bbox: s.filter.bbox.map(|b| [b.west, b.south, b.east, b.north]),
        },
        status: s.state.as_str(),
        disabled_reason: s.disabled_reason.as_deref(),
        cursor: s.cursor,
        failures: s.failures,
        created_at: s.created_at,
        last_success_at: s.last_success_at,
        last_failure_at: s.last_failure_at,
        secret: with_secret.then_some(s.secret.as_str()),
        links: vec![
            serde_json::json!({"rel": "self", "href": me, "type": "application/json"}),
            serde_json::json!({"rel": "deliveries", "href": format!("{me}/deliveries"),
                               "type": "application/json"}),
        ],
    }
}

fn parse_id(id: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    let Path(id) = id.map_err(|_| ApiError::bad("id", "invalid subscription ID"))?;
    id.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| ApiError::bad("id", "a subscription ID is a positive integer"))
}

async fn find(state: &AppState, id: i64) -> Result<Subscription, ApiError> {
    state
        .store
        .subscription(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no subscription {id}")))
}

/// `POST /subscriptions`: register a subscription; the answer (201) carries its secret, the
/// only time it is shown.
pub(crate) async fn create(
    _admin: Admin,
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    params.allow_only(&[])?;
    check_json(&headers)?;
    let body: NewBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad("body", format!("invalid subscription: {e}")))?;
    let filter = SubscriptionFilter {
        collections: body.collections,
        pattern: body.pattern,
        q: body.q,
        bbox: body.bbox.map(|[west, south, east, north]| BBox {
            west,
            south,
            east,
            north,
        }),
    };
    let sub = register(
        state.store.as_ref(),
        &body.url,
        filter,
        body.after,
        state.config.webhooks.allow_private_targets,
    )
    .await
    .map_err(|e| match e {
        RegisterError::Filter(m) => ApiError::bad("body", m),
        RegisterError::Target(e) => ApiError::bad("url", e.to_string()),
        e @ RegisterError::Cursor { .. } => ApiError::bad("after", e.to_string()),
        RegisterError::Store(e) => ApiError::from(e),
    })?;
    tracing::info!(subscription = sub.id, url = %sub.target_url, "webhook subscription added");
    let base = base_url(&state.config, &headers);
    let mut r = json_response(StatusCode::CREATED, &out(&sub, &base, true));
    if let Ok(v) = HeaderValue::from_str(&format!("{base}/subscriptions/{}", sub.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// `GET /subscriptions`.
pub(crate) async fn list(
    _admin: Admin,
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    params.allow_only(&[])?;
    let subs = state.store.list_subscriptions().await?;
    let base = base_url(&state.config, &headers);
    let all: Vec<SubscriptionOut<'_>> = subs.iter().map(|s| out(s, &base, false)).collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "subscriptions": all }),
    ))
}

/// `GET /subscriptions/{id}`.
pub(crate) async fn get(
    _admin: Admin,
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    params.allow_only(&[])?;
    let sub = find(&state, parse_id(id)?).await?;
    let base = base_url(&state.config, &headers);
    Ok(json_response(StatusCode::OK, &out(&sub, &base, false)))
}

/// `DELETE /subscriptions/{id}`: 204, or 404.
pub(crate) async fn remove(
    _admin: Admin,
    State(state): State<AppState>,
    params: Params,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    params.allow_only(&[])?;
    let id = parse_id(id)?;
    if !state.store.remove_subscription(id).await? {
        return Err(ApiError::NotFound(format!("no subscription {id}")));
    }
    tracing::info!(subscription = id, "webhook subscription removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /subscriptions/{id}/resume?after=`: active again, failures forgotten, delivering
/// from its cursor (or from `after`).
pub(crate) async fn resume(
    _admin: Admin,
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    params.allow_only(&["after"])?;
    let id = parse_id(id)?;
    let after = match params.get("after") {
        None => None,
        Some(a) => {
            let (head, pruned) = state.store.change_head().await?;
            Some(
                a.parse::<i64>()
                    .ok()
                    .filter(|a| *a >= pruned && *a <= head)
                    .ok_or_else(|| {
                        ApiError::bad(
                            "after",
                            format!("a change-log position between {pruned} and {head}"),
                        )
                    })?,
            )
        }
    };
    let sub = state
        .store
        .enable_subscription(id, after)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no subscription {id}")))?;
    tracing::info!(
        subscription = id,
        cursor = sub.cursor,
        "webhook subscription resumed"
    );
    let base = base_url(&state.config, &headers);
    Ok(json_response(StatusCode::OK, &out(&sub, &base, false)))
}

#[derive(Serialize)]
struct DeliveryOut<'a> {
    id: i64,
    event_id: String,
    attempt: u32,
    at: Timestamp,
    status: Option<u16>,
    outcome: &'static str,
    error: Option<&'a str>,
    duration_ms: u64,
}

fn delivery_out(d: &Delivery) -> DeliveryOut<'_> {
    DeliveryOut {
        id: d.id,
        event_id: d.attempt.event_id.to_string(),
        attempt: d.attempt.attempt,
        at: d.attempt.at,
        status: d.attempt.status,
        outcome: d.attempt.outcome.as_str(),
        error: d.attempt.error.as_deref(),
        duration_ms: d.attempt.duration_ms,
    }
}

/// `GET /subscriptions/{id}/deliveries?limit=&before=`: the delivery log, newest first.
pub(crate) async fn deliveries(
    _admin: Admin,
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    params.allow_only(&["limit", "before"])?;
    let id = parse_id(id)?;
    let max = delivery_page_size(0);
    let limit = params.limit("limit", 50.min(max), max)?;
    let before = match params.get("before") {
        None => None,
        Some(b) => Some(
            b.parse::<i64>()
                .ok()
                .filter(|b| *b > 0)
                .ok_or_else(|| ApiError::bad("before", "a delivery ID (positive integer)"))?,
        ),
    };
    find(&state, id).await?;
    let page = state.store.deliveries(id, before, limit).await?;
    let base = base_url(&state.config, &headers);
    let next = (page.len() == limit as usize)
        .then(|| page.last())
        .flatten()
        .map(|d| {
            format!(
                "{base}/subscriptions/{id}/deliveries?limit={limit}&before={}",
                d.id
            )
        });
    let all: Vec<DeliveryOut<'_>> = page.iter().map(delivery_out).collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "deliveries": all, "next": next }),
    ))
}

/// The routes of this module, for the route table.
pub(crate) fn routes() -> Vec<(&'static str, axum::routing::MethodRouter<AppState>)> {
    use axum::routing::{get, post};
    vec![
        ("/subscriptions", get(list).post(create)),
        ("/subscriptions/{id}", get(self::get).delete(remove)),
        ("/subscriptions/{id}/resume", post(resume)),
        ("/subscriptions/{id}/deliveries", get(deliveries)),
    ]
}
