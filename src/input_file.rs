//! Opening the files a user names, safely: only regular files are read
//! (a FIFO would block forever, a device could stream without end), and
//! every error names the file.

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::path::Path;

/// A path as printed for people: control characters (a newline that
/// would forge a line of output, an escape sequence that would drive the
/// terminal) written as Rust escapes, invalid UTF-8 as U+FFFD.
pub fn shown(path: &Path) -> String {
    path.to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Fails unless `path` is (or links to) a regular file.
pub fn check_regular(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", shown(path)))?;
    if meta.is_dir() {
        bail!("{}: is a folder, expected a file", shown(path));
    }
    if !meta.is_file() {
        bail!(
            "{}: not a regular file (a pipe, socket or device); negstudy reads only regular files",
            shown(path)
        );
    }
    Ok(())
}

/// Opens a regular file for reading.
pub fn open(path: &Path) -> Result<File> {
    check_regular(path)?;
    File::open(path).with_context(|| format!("opening {}", shown(path)))
}

/// Reads a regular file whole.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    check_regular(path)?;
    std::fs::read(path).with_context(|| format!("reading {}", shown(path)))
}

/// Reads a regular UTF-8 text file whole.
pub fn read_to_string(path: &Path) -> Result<String> {
    check_regular(path)?;
    std::fs::read_to_string(path).with_context(|| format!("reading {}", shown(path)))
}

#[cfg(test)]
mod tests {
    use super::shown;
    use std::path::Path;

    #[test]
    fn control_characters_are_escaped_when_shown() {
        assert_eq!(shown(Path::new("a\nwrote b")), "a\\nwrote b");
        assert_eq!(shown(Path::new("x\u{1b}[2Jy")), "x\\u{1b}[2Jy");
        assert_eq!(shown(Path::new("ünï code.png")), "ünï code.png");
    }
}
