//! Integration tests, one binary: each module is one area.

mod common;
mod golden;
mod hostile;
mod real;
