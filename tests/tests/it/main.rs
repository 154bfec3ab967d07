//! Integration tests, one binary: each module is one area.

mod api_e2e;
mod common;
mod contracts;
mod csw_owslib;
mod harvest;
mod harvest_faults;
mod harvest_politeness;
mod harvest_real;
mod iso;
mod stac_pystac;
mod sync;
mod truth;
mod views_real;
