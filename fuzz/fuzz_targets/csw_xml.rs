//! Fuzz target: arbitrary bytes as a CSW POST body (`threddex_csw::request::from_xml`), the
//! decoder the `/csw` endpoint runs: bounded XML, DOCTYPE refused, constraints read through
//! threddex-query. Must never panic; a decoded GetRecords stays within its limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threddex_csw::{Limits, Request, request};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(req) = request::from_xml(data, &limits) {
        match req {
            Request::GetRecords(g) => {
                assert!(g.max_records <= limits.max_records, "{}", g.max_records);
                let _ = format!("{:?}", g.filter);
            }
            Request::GetRecordById { ids, .. } => assert!(ids.len() <= limits.max_ids),
            _ => {}
        }
    }
});
