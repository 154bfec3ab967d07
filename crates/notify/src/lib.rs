//! Change notifications: the change log's entries as CloudEvents 1.0 ([`event`]), their
//! delivery to webhook subscriptions ([`webhook`]), and as WMO WIS2 notification messages
//! ([`wis2`]) published by the MQTT relay ([`mqtt`]).

#![forbid(unsafe_code)]

pub mod event;
pub mod mqtt;
pub mod webhook;
pub mod wis2;

pub use event::{CloudEvent, EventData, cloud_event, event_type};
pub use mqtt::{MqttConfig, MqttRelay};
pub use webhook::WebhookConfig;
