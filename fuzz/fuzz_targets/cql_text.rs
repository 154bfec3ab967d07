//! Fuzz target: arbitrary text as a CSW CQL constraint (`threddex_query::text::parse`) and as
//! the free text of `/collections?q=` (`threddex_query::free_text`, whose words and quoted
//! phrases become LIKE patterns). Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threddex_query::Query;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = Query::Text(text).parse() {
        let _ = format!("{f:?}");
    }
    let f = threddex_query::free_text(text);
    let _ = format!("{f:?}");
    for name in text.split_whitespace().take(8) {
        let _ = threddex_query::queryable(name);
        let _ = threddex_query::sort_key(name, true);
    }
});
