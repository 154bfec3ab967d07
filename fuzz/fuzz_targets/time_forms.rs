//! Fuzz target: the time and duration forms people type: the API's `start`/`end`/`bbox`/`limit`
//! (`threddex_api::params`), CSW/CQL times (`threddex_query::parse_time`) and sync intervals
//! (`threddex_crawler::source_input::parse_every`, which must read back what `every_text`
//! writes). Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threddex_api::params;
use threddex_crawler::source_input::{every_text, parse_every};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = params::parse_time(text) {
        // What the API accepts, it can print and read again as the same instant.
        let again = params::parse_time(&t.to_rfc3339()).expect("an RFC 3339 time reads back");
        assert_eq!(again, t, "{text:?}");
    }
    let _ = params::parse_bbox(text);
    let _ = params::parse_limit(text, 1000);
    if let Some(t) = threddex_query::parse_time(text) {
        assert_eq!(threddex_query::parse_time(&t.to_rfc3339()), Some(t), "{text:?}");
    }
    if let Ok(secs) = parse_every(text) {
        assert!(secs > 0);
        assert_eq!(parse_every(&every_text(Some(secs))).ok(), Some(secs), "{text:?}");
    }
});
