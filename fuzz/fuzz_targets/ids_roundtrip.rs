//! Fuzz target: the identity rules. For any dataset ID, deriving is idempotent on the
//! collection ID, and rendering the derived template with the derived times gives the ID back
//! exactly when `renders_back` says so, in which case reading the time back from the ID gives
//! the derived start. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threddex_ids::{Deriver, read_time, render, renders_back};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let der = Deriver::new();
    let d = der.derive(raw, "org.example");
    assert!(d.collection_id.starts_with("org.example:"), "{raw:?}");
    let again = der.derive(&d.collection_id, "org.example");
    assert_eq!(again.collection_id, d.collection_id, "idempotent on {raw:?}");

    let bare = der.derive(raw, "");
    if let (Some(tpl), Some(start)) = (bare.template.as_deref(), bare.start) {
        let rendered = render(tpl, start, bare.end);
        let back = renders_back(tpl, raw, start, bare.end);
        assert_eq!(back, rendered.as_deref() == Some(raw), "{raw:?} {tpl:?} {rendered:?}");
        if back {
            assert_eq!(read_time(tpl, raw).map(|(s, _)| s), Some(start), "{raw:?} {tpl:?}");
        }
    }
    let _ = threddex_ids::path_date(raw);
    let _ = threddex_ids::is_live_name(raw);
    let _ = threddex_ids::authority_from_host(raw);
});
