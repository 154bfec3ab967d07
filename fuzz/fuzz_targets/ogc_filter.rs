//! Fuzz target: arbitrary bytes as an OGC Filter 1.1 document: the bounded XML tree
//! (`threddex_records::tree::parse`) then `threddex_query::filter::parse` on the root and on
//! every element below it (a constraint may hold the filter at any depth). Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threddex_query::Query;
use threddex_records::tree::{self, Element, TreeLimits};

fn walk(e: &Element, budget: &mut usize) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    if let Ok(f) = Query::Filter(e).parse() {
        let _ = format!("{f:?}");
    }
    for c in e.elements() {
        walk(c, budget);
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = TreeLimits {
        max_bytes: 256 * 1024,
        max_depth: 64,
        max_elements: 10_000,
    };
    if let Ok(root) = tree::parse(data, &limits) {
        let mut budget = 64;
        walk(&root, &mut budget);
    }
});
