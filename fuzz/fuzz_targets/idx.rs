//! IDX images + labels (raw or gzip), as Fashion-MNIST ships them.
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 2);
    if let Ok(imgs) = negstudy::data::idx::parse(p[0], p[1], "images", "labels") {
        for i in 0..imgs.n.min(4) {
            let _ = imgs.image(i);
        }
    }
});
