//! ImageNet `structure_released.xml`-format hierarchy, then depth and LCA
//! queries over what it parsed.
#![no_main]
use libfuzzer_sys::fuzz_target;
use negstudy::hierarchy::Hierarchy;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(h) = Hierarchy::from_xml_str(&text, "fuzz.xml") {
        let n = h.len().min(16) as u32;
        for a in 0..n {
            let _ = h.max_depth(a);
            let _ = h.min_depth(a);
            let _ = h.lca(a, n - 1 - a);
        }
    }
});
