//! Webhook subscriptions and their delivery logs (migration `0015_webhooks.sql`).

use chrono::Utc;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use threddex_store::{
    Delivery, DeliveryOutcome, MAX_DELIVERIES_KEPT, NewDelivery, NewSubscription, Result,
    Subscription, SubscriptionProgress, SubscriptionState, delivery_page_size,
};

use sqlx::types::Json;
use threddex_store::{StoreError, SubscriptionFilter};

use crate::convert::{clean, db_err};

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.into())
}

/// The columns a subscription is read from (a macro, so statements stay literals).
macro_rules! columns {
    () => {
        "id, target_url, secret, filter, created_at, state, disabled_reason, done_through, \
         failures, last_success_at, last_failure_at"
    };
}

fn subscription_from_row(row: &PgRow) -> Result<Subscription> {
    let filter: Json<SubscriptionFilter> = row
        .try_get("filter")
        .map_err(|_| corrupt("subscription filter"))?;
    let state: String = row.try_get("state").map_err(db_err)?;
    Ok(Subscription {
        id: row.try_get("id").map_err(db_err)?,
        target_url: row.try_get("target_url").map_err(db_err)?,
        secret: row.try_get("secret").map_err(db_err)?,
        filter: filter.0,
        created_at: row.try_get("created_at").map_err(db_err)?,
        state: SubscriptionState::parse(&state).ok_or_else(|| corrupt("subscription state"))?,
        disabled_reason: row.try_get("disabled_reason").map_err(db_err)?,
        cursor: row.try_get("done_through").map_err(db_err)?,
        failures: u32::try_from(row.try_get::<i32, _>("failures").map_err(db_err)?)
            .map_err(|_| corrupt("subscription failures"))?,
        last_success_at: row.try_get("last_success_at").map_err(db_err)?,
        last_failure_at: row.try_get("last_failure_at").map_err(db_err)?,
    })
}

pub(crate) async fn add(pool: &PgPool, new: &NewSubscription) -> Result<Subscription> {
    let row = sqlx::query(concat!(
        "INSERT INTO webhook_subscriptions (target_url, secret, filter, created_at, state, \
         done_through) VALUES ($1, $2, $3, $4, 'active', $5) RETURNING ",
        columns!(),
    ))
    .bind(clean(&new.target_url))
    .bind(clean(&new.secret))
    .bind(Json(&new.filter))
    .bind(Utc::now())
    .bind(new.cursor)
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    subscription_from_row(&row)
}

pub(crate) async fn list(pool: &PgPool) -> Result<Vec<Subscription>> {
    sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM webhook_subscriptions ORDER BY id"
    ))
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .iter()
    .map(subscription_from_row)
    .collect()
}

pub(crate) async fn get(pool: &PgPool, id: i64) -> Result<Option<Subscription>> {
    sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM webhook_subscriptions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?
    .as_ref()
    .map(subscription_from_row)
    .transpose()
}

pub(crate) async fn remove(pool: &PgPool, id: i64) -> Result<bool> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE subscription_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let n = sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
    tx.commit().await.map_err(db_err)?;
    Ok(n > 0)
}

pub(crate) async fn enable(
    pool: &PgPool,
    id: i64,
    cursor: Option<i64>,
) -> Result<Option<Subscription>> {
    sqlx::query(concat!(
        "UPDATE webhook_subscriptions SET state = 'active', disabled_reason = NULL, \
         failures = 0, done_through = coalesce($2::int8, done_through) WHERE id = $1 RETURNING ",
        columns!(),
    ))
    .bind(id)
    .bind(cursor)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?
    .as_ref()
    .map(subscription_from_row)
    .transpose()
}

pub(crate) async fn record(
    pool: &PgPool,
    id: i64,
    delivery: Option<&NewDelivery>,
    progress: &SubscriptionProgress,
) -> Result<bool> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let now = Utc::now();
    let (success, failure) = match delivery.map(|d| d.outcome) {
        Some(DeliveryOutcome::Delivered) => (Some(now), None),
        Some(_) => (None, Some(now)),
        None => (None, None),
    };
    let n = sqlx::query(
        "UPDATE webhook_subscriptions SET done_through = GREATEST(done_through, $2), failures = $3, \
         state = CASE WHEN $4::text IS NULL THEN state ELSE 'disabled' END, \
         disabled_reason = coalesce($4::text, disabled_reason), \
         last_success_at = coalesce($5::timestamptz, last_success_at), \
         last_failure_at = coalesce($6::timestamptz, last_failure_at) WHERE id = $1",
    )
    .bind(id)
    .bind(progress.cursor)
    .bind(i32::try_from(progress.failures).unwrap_or(i32::MAX))
    .bind(progress.disable.as_deref().map(clean))
    .bind(success)
    .bind(failure)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?
    .rows_affected();
    if n == 0 {
        tx.rollback().await.map_err(db_err)?;
        return Ok(false);
    }
    if let Some(d) = delivery {
        sqlx::query(
            "INSERT INTO webhook_deliveries (subscription_id, event_id, attempt, at, status, \
             outcome, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(d.event_id)
        .bind(i32::try_from(d.attempt).unwrap_or(i32::MAX))
        .bind(d.at)
        .bind(d.status.map(i32::from))
        .bind(d.outcome.as_str())
        .bind(d.error.as_deref().map(clean))
        .bind(i64::try_from(d.duration_ms).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE subscription_id = $1 AND id <= \
             (SELECT id FROM webhook_deliveries WHERE subscription_id = $1 \
              ORDER BY id DESC LIMIT 1 OFFSET $2)",
        )
        .bind(id)
        .bind(i64::from(MAX_DELIVERIES_KEPT))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(true)
}

pub(crate) async fn deliveries(
    pool: &PgPool,
    id: i64,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<Delivery>> {
    let rows = sqlx::query(
        "SELECT id, event_id, attempt, at, status, outcome, error, duration_ms \
         FROM webhook_deliveries WHERE subscription_id = $1 AND id < coalesce($2::int8, 9223372036854775807) \
         ORDER BY id DESC LIMIT $3",
    )
    .bind(id)
    .bind(before)
    .bind(i64::from(delivery_page_size(limit)))
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            let outcome: String = r.try_get("outcome").map_err(db_err)?;
            Ok(Delivery {
                id: r.try_get("id").map_err(db_err)?,
                attempt: NewDelivery {
                    event_id: r.try_get("event_id").map_err(db_err)?,
                    attempt: u32::try_from(r.try_get::<i32, _>("attempt").map_err(db_err)?)
                        .map_err(|_| corrupt("delivery attempt"))?,
                    at: r.try_get("at").map_err(db_err)?,
                    status: r
                        .try_get::<Option<i32>, _>("status")
                        .map_err(db_err)?
                        .and_then(|s| u16::try_from(s).ok()),
                    outcome: DeliveryOutcome::parse(&outcome)
                        .ok_or_else(|| corrupt("delivery outcome"))?,
                    error: r.try_get("error").map_err(db_err)?,
                    duration_ms: u64::try_from(r.try_get::<i64, _>("duration_ms").map_err(db_err)?)
                        .unwrap_or(0),
                },
            })
        })
        .collect()
}
