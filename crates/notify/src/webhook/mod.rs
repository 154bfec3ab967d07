//! Webhooks: subscriptions' deliveries of the change log, following the Standard Webhooks
//! convention (signatures in [`sign`], target checks in [`target`], the filter in
//! [`filter`], the delivery worker in [`worker`]).

pub mod filter;
pub mod sign;
pub mod target;
pub mod worker;

use std::time::Duration;

/// Settings of webhook deliveries (`[notify.webhooks]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Run the delivery worker inside `serve`.
    pub enabled: bool,
    /// Deliver to (and accept subscriptions of) targets on private, loopback, link-local or
    /// unspecified addresses.
    pub allow_private_targets: bool,
    /// Whole-attempt timeout (connect, send, answer).
    pub timeout: Duration,
    /// First retry delay; doubles per failed attempt (with jitter), up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest retry delay (also caps a receiver's `Retry-After`).
    pub max_backoff: Duration,
    /// Failed attempts in a row after which a subscription is disabled.
    pub max_failures: u32,
    /// How often the worker looks for new entries and changed subscriptions.
    pub poll: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_private_targets: false,
            timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3600),
            max_failures: 50,
            poll: Duration::from_millis(250),
        }
    }
}

/// Why a subscription cannot be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The filter is unusable (the message says why).
    #[error("filter: {0}")]
    Filter(String),
    /// The target URL is refused.
    #[error("url: {0}")]
    Target(#[from] target::TargetError),
    /// The starting cursor is not in the log.
    #[error("after: a change-log position between {pruned} and {head}")]
    Cursor {
        /// Entries up to here were removed by retention.
        pruned: i64,
        /// The newest position.
        head: i64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] threddex_store::StoreError),
}

/// Check and register a subscription (what `POST /subscriptions` and `threddex subscriptions
/// add` do): the filter's sizes, the target's form and addresses, a starting cursor within
/// the log (default: its head, so only changes from now on are delivered), a new secret.
pub async fn register(
    store: &dyn threddex_store::Store,
    target_url: &str,
    filter: threddex_store::SubscriptionFilter,
    after: Option<i64>,
    allow_private_targets: bool,
) -> Result<threddex_store::Subscription, RegisterError> {
    filter::check_filter(&filter).map_err(RegisterError::Filter)?;
    let target = target::check_target(target_url, allow_private_targets).await?;
    let (head, pruned) = store.change_head().await?;
    let cursor = match after {
        None => head,
        Some(a) if a >= pruned && a <= head => a,
        Some(_) => return Err(RegisterError::Cursor { pruned, head }),
    };
    Ok(store
        .add_subscription(&threddex_store::NewSubscription {
            target_url: target.to_string(),
            secret: sign::generate_secret(),
            filter,
            cursor,
        })
        .await?)
}
