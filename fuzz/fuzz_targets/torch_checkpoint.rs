//! A PyTorch checkpoint (`torch.save` zip, legacy or plain pickle) read as
//! `negstudy embed --checkpoint FILE.pth` reads it: the tensor names, then
//! the float tensors. Either succeeds or fails with an error.
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch().join("w.pth");
    std::fs::write(&path, data).unwrap();
    if let Ok(file) = negstudy::model::foreign::WeightsFile::open(&path) {
        if file.names().is_ok() {
            if let Ok(tensors) = file.read(|_| true) {
                for t in tensors {
                    assert_eq!(t.values.len(), t.shape.iter().product::<usize>());
                }
            }
        }
    }
});
