//! Integration tests, one binary: each module is one area.

mod change_log;
mod common;
mod compaction;
mod frontier;
mod partitions;
mod pool;
mod postgres;
mod read_pool;
mod suite;
