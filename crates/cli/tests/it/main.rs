//! Integration tests, one binary: each module is one area.

mod cli;
mod common;
mod config;
mod readme;
mod serve;
mod stac_geoparquet;
mod sync_kill;
mod traps;
