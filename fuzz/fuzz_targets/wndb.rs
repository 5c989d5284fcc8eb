//! A WordNet database `data.noun`, then depth and LCA queries.
#![no_main]
use libfuzzer_sys::fuzz_target;
use negstudy::hierarchy::Hierarchy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(h) = Hierarchy::from_wndb_str(text, "data.noun") {
        let n = h.len().min(16) as u32;
        for a in 0..n {
            let _ = h.max_depth(a);
            let _ = h.lca(a, n - 1 - a);
        }
    }
});
