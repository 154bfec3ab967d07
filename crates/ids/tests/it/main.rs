//! Integration tests, one binary: each module is one area.

mod derive_cases;
mod helpers;
mod props;
mod real_fixtures;
