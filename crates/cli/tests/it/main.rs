//! Integration tests, one binary: each module is one area.

mod cli;
mod common;
mod config;
mod disk_full;
mod pg_outage;
mod readme;
mod replica;
mod schemathesis;
mod serve;
mod serve_mqtt;
mod soak;
mod stac_geoparquet;
mod sync_kill;
mod traps;
mod webhooks_kill;
mod workers;
