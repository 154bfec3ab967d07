//! `[notify]`: deliveries of the change log by `threddex serve`: `[notify.webhooks]` (webhook
//! deliveries, and the target checks of `threddex subscriptions add` and `POST /subscriptions`)
//! and `[notify.mqtt]` (the MQTT relay).

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};
use threddex_notify::MqttConfig;

use super::Dur;

/// `[notify]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySection {
    /// `[notify.webhooks]`.
    pub webhooks: WebhooksSection,
    /// `[notify.mqtt]`: the MQTT relay (off when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttConfig>,
}

impl NotifySection {
    /// Check the values; the errors name the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.webhooks.validate()?;
        if let Some(m) = &self.mqtt {
            m.validate().map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }
}

/// `[notify.webhooks]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksSection {
    /// Run the delivery worker inside `serve`.
    pub enabled: bool,
    /// Accept and deliver to targets on private, loopback, link-local or unspecified
    /// addresses.
    pub allow_private_targets: bool,
    /// Timeout of one delivery attempt.
    pub timeout: Dur,
    /// First retry delay (doubling per failure, with jitter).
    pub initial_backoff: Dur,
    /// Longest retry delay (also caps `Retry-After`).
    pub max_backoff: Dur,
    /// Failed attempts in a row that disable a subscription.
    pub max_failures: u32,
}

impl Default for WebhooksSection {
    fn default() -> Self {
        let d = threddex_notify::WebhookConfig::default();
        Self {
            enabled: d.enabled,
            allow_private_targets: d.allow_private_targets,
            timeout: Dur(d.timeout),
            initial_backoff: Dur(d.initial_backoff),
            max_backoff: Dur(d.max_backoff),
            max_failures: d.max_failures,
        }
    }
}

impl WebhooksSection {
    /// Check the values; errors name the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.timeout.0 < Duration::from_millis(100) || self.timeout.0 > Duration::from_secs(300)
        {
            bail!("notify.webhooks.timeout must be between 100ms and 5m");
        }
        if self.initial_backoff.0 < Duration::from_millis(10) {
            bail!("notify.webhooks.initial_backoff must be at least 10ms");
        }
        if self.max_backoff.0 < self.initial_backoff.0
            || self.max_backoff.0 > Duration::from_secs(86_400)
        {
            bail!("notify.webhooks.max_backoff must be between initial_backoff and 24h");
        }
        if self.max_failures == 0 {
            bail!("notify.webhooks.max_failures must be at least 1");
        }
        Ok(())
    }

    /// The worker's settings (it looks for news every `poll`).
    pub fn config(&self, poll: Duration) -> threddex_notify::WebhookConfig {
        threddex_notify::WebhookConfig {
            enabled: self.enabled,
            allow_private_targets: self.allow_private_targets,
            timeout: self.timeout.0,
            initial_backoff: self.initial_backoff.0,
            max_backoff: self.max_backoff.0,
            max_failures: self.max_failures,
            poll,
        }
    }
}
