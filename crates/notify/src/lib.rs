//! Change notifications: the change log's entries as CloudEvents 1.0 ([`event`]), as WMO WIS2
//! notification messages ([`wis2`]) and the MQTT relay that publishes those ([`mqtt`]).

#![forbid(unsafe_code)]

pub mod event;
pub mod mqtt;
pub mod wis2;

pub use event::{CloudEvent, EventData, cloud_event, event_type};
pub use mqtt::{MqttConfig, MqttRelay};
