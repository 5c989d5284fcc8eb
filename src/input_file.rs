//! Opening the files a user names, safely: only regular files are read
//! (a FIFO would block forever, a device could stream without end), and
//! every error names the file.

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::path::Path;

/// Fails unless `path` is (or links to) a regular file.
pub fn check_regular(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.is_dir() {
        bail!("{}: is a folder, expected a file", path.display());
    }
    if !meta.is_file() {
        bail!(
            "{}: not a regular file (a pipe, socket or device); negstudy reads only regular files",
            path.display()
        );
    }
    Ok(())
}

/// Opens a regular file for reading.
pub fn open(path: &Path) -> Result<File> {
    check_regular(path)?;
    File::open(path).with_context(|| format!("opening {}", path.display()))
}

/// Reads a regular file whole.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    check_regular(path)?;
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Reads a regular UTF-8 text file whole.
pub fn read_to_string(path: &Path) -> Result<String> {
    check_regular(path)?;
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
