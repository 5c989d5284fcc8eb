//! A .parquet embedding dump: loading (with validation) either succeeds or
//! returns an error; it never panics, aborts or hangs.
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;
use negstudy::store::{Dump, LoadOptions};

fuzz_target!(|data: &[u8]| {
    let path = common::scratch().join("dump.parquet");
    std::fs::write(&path, data).unwrap();
    for normalize in [false, true] {
        if let Ok(d) = Dump::load(&path, LoadOptions { normalize }) {
            assert_eq!(d.label.len(), d.z.rows());
        }
    }
});
