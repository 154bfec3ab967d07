//! Integration tests, one binary: each module is one area.

mod admin;
mod api;
mod changes;
mod common;
mod csw;
mod openapi;
mod refresh;
mod serve;
mod stac;
mod timeline;
mod transcripts;
mod webhooks;
mod webhooks_order;
