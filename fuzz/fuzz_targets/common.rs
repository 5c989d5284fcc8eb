//! Shared by the fuzz targets: splitting one input into several files, a
//! scratch folder per process, and reading a weights file as `embed` does.

#![allow(dead_code)]

use std::path::PathBuf;

/// Separates the files of a multi-file input (seeds are made by joining
/// valid files with it; see `fuzz/make_seeds.sh`).
pub const SPLIT: &[u8] = b"\0NEGSTUDY-SPLIT\0";

/// The `n` parts of `data` between separators (missing parts are empty).
pub fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(n);
    let mut rest = data;
    while out.len() + 1 < n {
        match rest.windows(SPLIT.len()).position(|w| w == SPLIT) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = &rest[i + SPLIT.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out.resize(n, &[]);
    out
}

/// A folder of this process's own, emptied for each input.
pub fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("negstudy-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `data` as a weights file named `name` (its extension picks the
/// reader) and reads it as `negstudy embed --checkpoint FILE` does: the
/// tensor names, then every float tensor, each holding as many values as
/// its shape says. Either that or an error — never a panic or an abort.
pub fn read_weights(name: &str, data: &[u8]) {
    let path = scratch().join(name);
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
}
