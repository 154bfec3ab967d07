//! Change notifications: the change log's entries as CloudEvents 1.0 ([`event`]), and their
//! delivery to webhook subscriptions ([`webhook`]).

#![forbid(unsafe_code)]

pub mod event;
pub mod webhook;

pub use event::{CloudEvent, EventData, cloud_event, event_type};
pub use webhook::WebhookConfig;
