//! Integration tests, one binary: each module is one area.

mod binary;
mod common;
mod dataset_view;
mod dir;
mod faults;
mod iso;
mod live;
mod tree;
