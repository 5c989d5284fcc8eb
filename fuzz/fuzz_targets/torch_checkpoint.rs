//! A PyTorch checkpoint (`torch.save` zip, legacy tar or plain pickle)
//! read as `negstudy embed --checkpoint FILE.pth` reads it.
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::read_weights("w.pth", data));
