//! Encoder weights in safetensors (torchvision names, or a negstudy
//! export) read as `negstudy embed --checkpoint FILE.safetensors` reads them.
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::read_weights("w.safetensors", data));
