//! `[notify]`: deliveries of the change log by `threddex serve`.

use serde::{Deserialize, Serialize};
use threddex_notify::MqttConfig;

/// `[notify]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySection {
    /// `[notify.mqtt]`: the MQTT relay (off when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttConfig>,
}

impl NotifySection {
    /// Check the values; the errors name the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(m) = &self.mqtt {
            m.validate().map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }
}
