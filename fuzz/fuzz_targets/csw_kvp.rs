//! Fuzz target: arbitrary bytes as the query string of `GET /csw`: the API's query decoding
//! (`threddex_api::params::Params::parse`: percent-decoding, size and count limits, duplicates)
//! then the CSW KVP decoder (`threddex_csw::request::from_kvp`, constraints in CQL text or
//! Filter XML). Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threddex_api::params::Params;
use threddex_csw::{Limits, Request, request};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(params) = Params::parse(Some(query)) else {
        return;
    };
    let pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let limits = Limits::default();
    if let Ok(Request::GetRecords(g)) = request::from_kvp(&pairs, &limits) {
        assert!(g.max_records <= limits.max_records, "{}", g.max_records);
        let _ = format!("{:?}", g.filter);
    }
});
