//! Integration tests, one binary: each module is one area.

mod cli;
mod common;
mod config;
mod readme;
mod schemathesis;
mod serve;
mod sync_kill;
mod traps;
