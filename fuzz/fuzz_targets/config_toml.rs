//! Fuzz target: arbitrary text as `threddex.toml` (`threddex::config::load_from`, no
//! environment). A file that loads prints (`config show`, secrets redacted) as TOML that loads
//! again and prints the same. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threddex::config::load_from;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(loaded) = load_from(Some((text, "fuzz.toml".to_owned())), Vec::new()) else {
        return;
    };
    let shown = loaded.config.to_toml().expect("a loaded configuration prints");
    let again = load_from(Some((&shown, "shown.toml".to_owned())), Vec::new())
        .unwrap_or_else(|e| panic!("the printed configuration loads again: {e:#}\n{shown}"));
    let shown_again = again.config.to_toml().expect("prints again");
    assert_eq!(shown, shown_again);
});
