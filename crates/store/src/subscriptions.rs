//! Webhook subscriptions: who is told of which change-log entries, how far each has been
//! told (its cursor), and a bounded log of delivery attempts.
//!
//! A subscription reads the same [`crate::ChangeLog`] as every other reader; its cursor is a
//! log position and moves only once the receiver has acknowledged the entry at that position
//! (or the entry did not match the subscription's filter).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{BBox, Result, Timestamp};

/// Delivery attempts kept per subscription (older ones are removed as new ones are logged).
pub const MAX_DELIVERIES_KEPT: u32 = 1000;

/// Most delivery attempts one [`Subscriptions::deliveries`] call returns.
pub const MAX_DELIVERY_PAGE: u32 = 200;

/// Which entries a subscription receives. Every test that is set must hold (empty: all).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionFilter {
    /// Only these collections (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collections: Vec<String>,
    /// Only collections whose ID matches this glob (`*` any run of characters, `?` one,
    /// `\` escapes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Only collections the free-text search `q` finds (as `/collections?q=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Only collections whose extent intersects this box.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<BBox>,
}

/// Whether a subscription is delivering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionState {
    /// Entries are delivered.
    Active,
    /// Stopped (the receiver answered 410, failed too long, or the cursor fell behind
    /// retention); [`Subscriptions::enable_subscription`] resumes from the cursor.
    Disabled,
}

impl SubscriptionState {
    /// `active` or `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    /// Parse [`SubscriptionState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// A subscription to register.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSubscription {
    /// Where deliveries are POSTed (checked by the caller).
    pub target_url: String,
    /// The signing secret (`whsec_<base64>`).
    pub secret: String,
    /// Which entries.
    pub filter: SubscriptionFilter,
    /// Entries after this log position are delivered.
    pub cursor: i64,
}

/// A registered subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    /// Its ID.
    pub id: i64,
    /// Where deliveries are POSTed.
    pub target_url: String,
    /// The signing secret (never shown after creation).
    pub secret: String,
    /// Which entries.
    pub filter: SubscriptionFilter,
    /// When it was registered.
    pub created_at: Timestamp,
    /// Delivering or not.
    pub state: SubscriptionState,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Every entry up to this position was delivered (or did not match).
    pub cursor: i64,
    /// Failed attempts since the last success.
    pub failures: u32,
    /// The last acknowledged delivery.
    pub last_success_at: Option<Timestamp>,
    /// The last failed attempt.
    pub last_failure_at: Option<Timestamp>,
}

/// How one delivery attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// Any other answer, a timeout or a connection failure (retried).
    Failed,
    /// The receiver answered 410 Gone: the subscription is disabled.
    Gone,
    /// The target was refused (e.g. it resolves to a private address).
    Refused,
}

impl DeliveryOutcome {
    /// `delivered`, `failed`, `gone` or `refused`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Gone => "gone",
            Self::Refused => "refused",
        }
    }

    /// Parse [`DeliveryOutcome::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Delivered, Self::Failed, Self::Gone, Self::Refused]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// One delivery attempt, to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    /// The event (log position) delivered.
    pub event_id: i64,
    /// 1 for the first attempt of this event, then 2, 3, …
    pub attempt: u32,
    /// When the attempt started.
    pub at: Timestamp,
    /// The HTTP status answered, if any.
    pub status: Option<u16>,
    /// How it ended.
    pub outcome: DeliveryOutcome,
    /// What went wrong (bounded text).
    pub error: Option<String>,
    /// How long the attempt took.
    pub duration_ms: u64,
}

/// A logged delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Its ID (increasing).
    pub id: i64,
    /// The attempt.
    pub attempt: NewDelivery,
}

/// Where a subscription stands after an attempt (or after skipping entries).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionProgress {
    /// The cursor: entries up to here are done (the store never moves it back).
    pub cursor: i64,
    /// Failed attempts since the last success.
    pub failures: u32,
    /// Disable the subscription, for this reason.
    pub disable: Option<String>,
}

/// The webhook subscriptions and their delivery logs.
#[async_trait]
pub trait Subscriptions: Send + Sync {
    /// Register a subscription (active).
    async fn add_subscription(&self, new: &NewSubscription) -> Result<Subscription>;

    /// Every subscription, by ID.
    async fn list_subscriptions(&self) -> Result<Vec<Subscription>>;

    /// One subscription.
    async fn subscription(&self, id: i64) -> Result<Option<Subscription>>;

    /// Remove a subscription and its delivery log; whether it existed.
    async fn remove_subscription(&self, id: i64) -> Result<bool>;

    /// Make a subscription active again with no failures counted, from its cursor (or from
    /// `cursor` when given). None when there is no such subscription.
    async fn enable_subscription(
        &self,
        id: i64,
        cursor: Option<i64>,
    ) -> Result<Option<Subscription>>;

    /// Log an attempt (when given) and record the progress, in one transaction; the
    /// delivery log keeps the newest [`MAX_DELIVERIES_KEPT`] attempts. The cursor only
    /// moves forward; failures are set; `disable` disables. False when the subscription
    /// no longer exists.
    async fn record_delivery(
        &self,
        id: i64,
        delivery: Option<&NewDelivery>,
        progress: &SubscriptionProgress,
    ) -> Result<bool>;

    /// Logged attempts of a subscription, newest first, with IDs below `before` when given,
    /// at most `limit` (bounded to `1..=MAX_DELIVERY_PAGE`).
    async fn deliveries(&self, id: i64, before: Option<i64>, limit: u32) -> Result<Vec<Delivery>>;
}

/// `limit` bounded to `1..=MAX_DELIVERY_PAGE` (0: the largest).
pub fn delivery_page_size(limit: u32) -> u32 {
    if limit == 0 {
        MAX_DELIVERY_PAGE
    } else {
        limit.min(MAX_DELIVERY_PAGE)
    }
}
