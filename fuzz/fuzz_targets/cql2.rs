//! Fuzz target: arbitrary bytes as a CQL2 filter of the STAC API (`threddex_query::cql2`), in
//! both encodings: as text (`filter-lang=cql2-text`) and, when they are JSON, as CQL2 JSON.
//! Must never panic. A text filter that parses must read the same through its JSON encoding
//! written out and read back, since the API's next links carry filters in that form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use threddex_query::cql2;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(json) = cql2::text_to_json(text) {
            let direct = cql2::parse_json(&json);
            let written = json.to_string();
            let reread: Value = match serde_json::from_str(&written) {
                Ok(v) => v,
                Err(e) => panic!("the JSON encoding of {text:?} does not read back: {e}"),
            };
            let again = cql2::parse_json(&reread);
            assert_eq!(
                direct.is_ok(),
                again.is_ok(),
                "{text:?} parses differently once its JSON encoding is written out"
            );
        }
    }
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        if let Ok(f) = cql2::parse_json(&v) {
            let _ = format!("{f:?}");
        }
    }
});
