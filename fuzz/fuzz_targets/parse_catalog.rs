//! Fuzz target: arbitrary bytes into the catalog parser, then exercise every derived view.
//! Must never panic. Run: `cargo +nightly fuzz run parse_catalog` (from the repository root).
#![no_main]

use libfuzzer_sys::fuzz_target;
use threddex_catalog::{Limits, Url, parse_catalog_with};

fuzz_target!(|data: &[u8]| {
    let Ok(url) = Url::parse("https://tds.example.org/thredds/catalog/fuzz/catalog.xml") else {
        return;
    };
    // Small limits keep each run fast; the limits themselves are under test too.
    let limits = Limits {
        max_bytes: 1 << 20,
        max_depth: 64,
        max_elements: 100_000,
    };
    if let Ok(cat) = parse_catalog_with(data, &url, &limits) {
        let now = chrono::Utc::now();
        for leaf in cat.leaves() {
            let _ = leaf.access_services(&cat);
            let _ = leaf.time_range(now);
            let _ = leaf.size_bytes();
            let _ = leaf.modified();
        }
        for leaf in cat.leaf_refs() {
            let _ = leaf.access_services(&cat);
            let _ = leaf.effective();
        }
        let _ = cat.all_catalog_refs();
        let _ = cat.dataset_count();
    }
});
