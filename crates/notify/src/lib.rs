//! Change notifications: the change log's entries as CloudEvents 1.0 ([`event`]).

#![forbid(unsafe_code)]

pub mod event;

pub use event::{CloudEvent, EventData, cloud_event, event_type};
