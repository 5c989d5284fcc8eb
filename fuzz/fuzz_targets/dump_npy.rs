//! A .npy dump folder: `z.npy` and `label.npy` (two parts of the input).
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;
use negstudy::store::{Dump, LoadOptions};

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 2);
    let dir = common::scratch();
    std::fs::write(dir.join("z.npy"), p[0]).unwrap();
    std::fs::write(dir.join("label.npy"), p[1]).unwrap();
    let _ = Dump::load(&dir.join("z.npy"), LoadOptions { normalize: true });
});
