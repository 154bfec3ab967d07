//! Integration tests, one binary: each module is one area.

mod fixtures;
mod hostile;
mod real_fixtures;
