//! Integration tests, one binary: each module is one area.

mod compaction;
mod id_hash;
mod suite;
