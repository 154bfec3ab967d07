//! Integration tests, one binary: each module is one area.

mod cli;
mod config;
mod serve;
mod sync_kill;
