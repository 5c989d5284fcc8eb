//! A TOML training config (validated) and the same text as a sweep recipe.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = negstudy::train::config::TrainConfig::from_toml_str(text, Path::new("c.toml")) {
        let _ = c.validate();
    }
    for scale in ["quick", "full"] {
        let _ = negstudy::sweep::recipe::Recipe::parse(text, Path::new("r.toml"), scale);
    }
});
