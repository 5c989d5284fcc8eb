//! A pairs file for `hierarchy lca` against the bundled hierarchy.
#![no_main]
use libfuzzer_sys::fuzz_target;
use negstudy::hierarchy::Hierarchy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut out = Vec::new();
    let _ = negstudy::commands::hierarchy::lca_table_of(
        Hierarchy::bundled(),
        text,
        "pairs.txt",
        &mut out,
    );
});
