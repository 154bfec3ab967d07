//! The delivery worker: one task per active subscription, each reading the change log from
//! the subscription's stored cursor and POSTing the entries that match its filter, one
//! CloudEvent per request, in log order. The cursor moves in the store only after a 2xx (or
//! past entries the filter skips), so a process killed at any point delivers again what was
//! not acknowledged: at least once, with the event ID as the idempotency key.
//!
//! A failed attempt is retried after an exponential backoff with jitter (a 429 or 503's
//! `Retry-After` is honoured, capped by the longest backoff); 410 Gone disables the
//! subscription, and so does a run of [`WebhookConfig::max_failures`] failed attempts.
//! Every attempt is logged ([`Subscriptions::record_delivery`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use threddex_store::{
    Change, ChangeQuery, DeliveryOutcome, ErrorChain, NewDelivery, Result, Store, Subscription,
    SubscriptionProgress, SubscriptionState,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::WebhookConfig;
use super::filter::CompiledFilter;
use super::sign::{secret_key, signature};
use super::target::{parse_target, resolve_target};
use crate::cloud_event;

/// Entries read per page.
const PAGE: u32 = 100;
/// Bytes of a receiver's answer read at most (for the delivery log).
const MAX_ANSWER_BYTES: usize = 1024;
/// Longest error text logged.
const MAX_ERROR_CHARS: usize = 300;

struct Ctx {
    store: Arc<dyn Store>,
    config: WebhookConfig,
    base: String,
    head: watch::Receiver<i64>,
}

/// Start the worker: it watches the change head and the subscriptions every
/// [`WebhookConfig::poll`], and runs one task per active subscription. Abort the handle to
/// stop it (what was not acknowledged is delivered again by the next worker).
pub fn spawn(store: Arc<dyn Store>, config: WebhookConfig, base: String) -> JoinHandle<()> {
    tokio::spawn(supervise(store, config, base))
}

async fn supervise(store: Arc<dyn Store>, config: WebhookConfig, base: String) {
    let (head_tx, head_rx) = watch::channel(0i64);
    let poll = config.poll.max(Duration::from_millis(10));
    let ctx = Arc::new(Ctx {
        store,
        config,
        base,
        head: head_rx,
    });
    let mut tasks: HashMap<i64, JoinHandle<()>> = HashMap::new();
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    /// Aborts the subscription tasks when the worker itself is aborted.
    struct AbortAll<'a>(&'a mut HashMap<i64, JoinHandle<()>>);
    impl Drop for AbortAll<'_> {
        fn drop(&mut self) {
            for t in self.0.values() {
                t.abort();
            }
        }
    }
    let tasks = AbortAll(&mut tasks);
    loop {
        tick.tick().await;
        match ctx.store.change_head().await {
            Ok((head, _)) => {
                head_tx.send_if_modified(|h| {
                    let moved = *h != head;
                    *h = head;
                    moved
                });
            }
            Err(e) => {
                tracing::warn!(error = %ErrorChain(&e), "webhooks: cannot read the change head")
            }
        }
        let subs = match ctx.store.list_subscriptions().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %ErrorChain(&e), "webhooks: cannot list the subscriptions");
                continue;
            }
        };
        let active: HashMap<i64, &Subscription> = subs
            .iter()
            .filter(|s| s.state == SubscriptionState::Active)
            .map(|s| (s.id, s))
            .collect();
        tasks.0.retain(|id, task| {
            if active.contains_key(id) {
                !task.is_finished()
            } else {
                task.abort();
                false
            }
        });
        for id in active.keys() {
            if !tasks.0.contains_key(id) {
                let ctx = Arc::clone(&ctx);
                let id = *id;
                tasks.0.insert(id, tokio::spawn(run_subscription(ctx, id)));
            }
        }
    }
}

enum Step {
    Continue,
    Stop,
}

async fn run_subscription(ctx: Arc<Ctx>, id: i64) {
    loop {
        match step(&ctx, id).await {
            Ok(Step::Continue) => {}
            Ok(Step::Stop) => return,
            Err(e) => {
                tracing::warn!(subscription = id, error = %ErrorChain(&e), "webhooks: store error");
                tokio::time::sleep(ctx.config.poll.max(Duration::from_secs(1))).await;
            }
        }
    }
}

/// One page of entries after the subscription's cursor, delivered.
async fn step(ctx: &Ctx, id: i64) -> Result<Step> {
    let store = &*ctx.store;
    let Some(sub) = store.subscription(id).await? else {
        return Ok(Step::Stop);
    };
    if sub.state != SubscriptionState::Active {
        return Ok(Step::Stop);
    }
    // Only the listed collections are read when the IDs alone decide.
    let collections = if sub.filter.pattern.is_none() {
        sub.filter.collections.clone()
    } else {
        Vec::new()
    };
    let page = store
        .changes(&ChangeQuery {
            after: sub.cursor,
            collections,
            limit: PAGE,
        })
        .await?;
    let mut progress = SubscriptionProgress {
        cursor: sub.cursor,
        failures: sub.failures,
        disable: None,
    };
    if page.expired {
        progress.disable = Some(format!(
            "its cursor {} is older than the change log keeps (entries up to {} were removed): \
             resume it from a newer cursor",
            sub.cursor, page.pruned_through
        ));
        store.record_delivery(id, None, &progress).await?;
        tracing::warn!(
            subscription = id,
            "webhooks: subscription disabled: cursor past retention"
        );
        return Ok(Step::Stop);
    }
    if page.changes.is_empty() {
        if page.next > sub.cursor {
            progress.cursor = page.next;
            if !store.record_delivery(id, None, &progress).await? {
                return Ok(Step::Stop);
            }
        }
        // Wait for news, looking at the subscription again now and then (resumed with
        // another cursor, removed).
        let mut head = ctx.head.clone();
        let after = page.next.max(sub.cursor);
        let _ = tokio::time::timeout(
            ctx.config.poll.max(Duration::from_millis(10)) * 8,
            head.wait_for(|h| *h > after),
        )
        .await;
        return Ok(Step::Continue);
    }
    let filter = CompiledFilter::new(&sub.filter);
    let mut recorded = sub.cursor;
    let full = page.changes.len() == PAGE as usize;
    for change in &page.changes {
        if !filter.matches(store, change).await? {
            progress.cursor = change.seq;
            continue;
        }
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = deliver(ctx, &sub, change).await;
            let delivered = result.outcome == DeliveryOutcome::Delivered;
            if delivered {
                progress.cursor = change.seq;
                progress.failures = 0;
            } else {
                progress.failures = progress.failures.saturating_add(1);
            }
            progress.disable = match result.outcome {
                DeliveryOutcome::Gone => Some("the receiver answered 410 Gone".into()),
                DeliveryOutcome::Delivered => None,
                _ if progress.failures >= ctx.config.max_failures => Some(format!(
                    "{} failed attempts in a row (last: {})",
                    progress.failures,
                    result.error.as_deref().unwrap_or("?")
                )),
                _ => None,
            };
            let log = NewDelivery {
                event_id: change.seq,
                attempt,
                at: result.at,
                status: result.status,
                outcome: result.outcome,
                error: result.error,
                duration_ms: result.duration_ms,
            };
            if !store.record_delivery(id, Some(&log), &progress).await? {
                return Ok(Step::Stop);
            }
            recorded = progress.cursor;
            if delivered {
                break;
            }
            if let Some(reason) = &progress.disable {
                tracing::warn!(subscription = id, %reason, "webhooks: subscription disabled");
                return Ok(Step::Stop);
            }
            tokio::time::sleep(backoff(&ctx.config, attempt, result.retry_after)).await;
        }
    }
    if !full {
        progress.cursor = progress.cursor.max(page.next);
    }
    if progress.cursor > recorded && !store.record_delivery(id, None, &progress).await? {
        return Ok(Step::Stop);
    }
    Ok(Step::Continue)
}

/// The delay before attempt `attempt + 1`: `initial * 2^(attempt-1)` with jitter (between
/// half and all of it), or the receiver's `Retry-After` when longer, capped at `max_backoff`.
pub fn backoff(config: &WebhookConfig, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let exp = config
        .initial_backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(config.max_backoff);
    let half = exp / 2;
    let jittered = half + half.mul_f64(rand::rng().random::<f64>());
    jittered
        .max(retry_after.unwrap_or(Duration::ZERO))
        .min(config.max_backoff)
}

struct Attempt {
    at: chrono::DateTime<Utc>,
    status: Option<u16>,
    outcome: DeliveryOutcome,
    error: Option<String>,
    duration_ms: u64,
    retry_after: Option<Duration>,
}

fn bounded(text: String) -> String {
    if text.chars().count() <= MAX_ERROR_CHARS {
        text
    } else {
        text.chars().take(MAX_ERROR_CHARS).chain(['…']).collect()
    }
}

/// One POST of `change` to the subscription's target.
async fn deliver(ctx: &Ctx, sub: &Subscription, change: &Change) -> Attempt {
    let at = Utc::now();
    let started = Instant::now();
    let mut out = Attempt {
        at,
        status: None,
        outcome: DeliveryOutcome::Failed,
        error: None,
        duration_ms: 0,
        retry_after: None,
    };
    match post(ctx, sub, change).await {
        Ok((status, headers, answer)) => {
            out.status = Some(status);
            if (200..300).contains(&status) {
                out.outcome = DeliveryOutcome::Delivered;
            } else {
                if status == 410 {
                    out.outcome = DeliveryOutcome::Gone;
                }
                if status == 429 || status == 503 {
                    out.retry_after = retry_after(&headers);
                }
                let answer = String::from_utf8_lossy(&answer).trim().to_owned();
                out.error = Some(bounded(if answer.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {answer}")
                }));
            }
        }
        Err((outcome, e)) => {
            out.outcome = outcome;
            out.error = Some(bounded(e));
        }
    }
    out.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    out
}

type PostError = (DeliveryOutcome, String);

async fn post(
    ctx: &Ctx,
    sub: &Subscription,
    change: &Change,
) -> Result<(u16, HeaderMap, Vec<u8>), PostError> {
    let refused = |e: String| (DeliveryOutcome::Refused, e);
    let url = parse_target(&sub.target_url).map_err(|e| refused(e.to_string()))?;
    let addrs = resolve_target(&url, ctx.config.allow_private_targets)
        .await
        .map_err(|e| refused(e.to_string()))?;
    let key = secret_key(&sub.secret).ok_or_else(|| refused("unreadable secret".into()))?;
    let event = cloud_event(change, &ctx.base);
    let body = serde_json::to_vec(&event).map_err(|e| refused(e.to_string()))?;
    let timestamp = Utc::now().timestamp();
    let sig = signature(&key, &event.id, timestamp, &body);
    // Straight to the checked addresses: no proxy (it would resolve the name itself), no
    // redirects.
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ctx.config.timeout)
        .connect_timeout(ctx.config.timeout)
        .user_agent(concat!("threddex-webhooks/", env!("CARGO_PKG_VERSION")));
    if let Some(host) = url.host_str() {
        // Connect only to the addresses just checked.
        builder = builder.resolve_to_addrs(host, &addrs);
    }
    let client = builder
        .build()
        .map_err(|e| refused(format!("cannot build the HTTP client: {e}")))?;
    let failed = |e: reqwest::Error| {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "cannot connect"
        } else {
            "request failed"
        };
        (DeliveryOutcome::Failed, format!("{what}: {e}"))
    };
    let send = async {
        let mut resp = client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", sig)
            .body(body)
            .send()
            .await
            .map_err(failed)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut answer = Vec::new();
        while answer.len() < MAX_ANSWER_BYTES {
            match resp.chunk().await {
                Ok(Some(c)) => answer.extend_from_slice(&c),
                // The status counts; an answer that breaks off is not an error.
                Ok(None) | Err(_) => break,
            }
        }
        answer.truncate(MAX_ANSWER_BYTES);
        Ok((status, headers, answer))
    };
    match tokio::time::timeout(ctx.config.timeout, send).await {
        Ok(r) => r,
        Err(_) => Err((
            DeliveryOutcome::Failed,
            format!("timed out after {:?}", ctx.config.timeout),
        )),
    }
}

/// `Retry-After`: seconds, or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = when.with_timezone(&Utc) - Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after() {
        let cfg = WebhookConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            ..WebhookConfig::default()
        };
        for attempt in 1..=12u32 {
            let full = Duration::from_millis(100 * (1u64 << (attempt - 1))).min(cfg.max_backoff);
            for _ in 0..50 {
                let d = backoff(&cfg, attempt, None);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        assert_eq!(
            backoff(&cfg, 1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            backoff(&cfg, 1, Some(Duration::from_secs(3600))),
            cfg.max_backoff
        );
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "7".parse().expect("value"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().expect("value"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }
}
