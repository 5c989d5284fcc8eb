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

/// What a path names, for deciding whether to read it and for saying why
/// not: the words a user needs ("a pipe (FIFO)", "a symbolic link loop").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Folder,
    Missing,
    /// Anything else, in words: a pipe, a device, a dangling link, …
    Other(&'static str),
}

impl Kind {
    /// The kind in words, as in "`path`: is a pipe (FIFO)".
    pub fn words(self) -> &'static str {
        match self {
            Kind::File => "a file",
            Kind::Folder => "a folder",
            Kind::Missing => "not there",
            Kind::Other(words) => words,
        }
    }
}

/// What `path` names, following symbolic links.
pub fn kind(path: &Path) -> Kind {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(path) {
        Ok(meta) => {
            let t = meta.file_type();
            if t.is_dir() {
                Kind::Folder
            } else if t.is_file() {
                Kind::File
            } else if t.is_fifo() {
                Kind::Other("a pipe (FIFO)")
            } else if t.is_char_device() {
                Kind::Other("a character device")
            } else if t.is_block_device() {
                Kind::Other("a block device")
            } else if t.is_socket() {
                Kind::Other("a socket")
            } else {
                Kind::Other("neither a file nor a folder")
            }
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Kind::Other("a symbolic link loop"),
        Err(_) if std::fs::symlink_metadata(path).is_ok() => {
            Kind::Other("a dangling symbolic link")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Kind::Missing,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Kind::Other("not readable (permission denied)")
        }
        Err(_) => Kind::Other("unreadable"),
    }
}

/// Fails unless `path` is (or links to) a regular file.
pub fn check_regular(path: &Path) -> Result<()> {
    match kind(path) {
        Kind::File => Ok(()),
        Kind::Missing => bail!("{}: no such file", shown(path)),
        Kind::Folder => bail!("{}: is a folder, expected a file", shown(path)),
        other => bail!(
            "{}: is {}; negstudy reads only regular files",
            shown(path),
            other.words()
        ),
    }
}

/// Fails unless `path` is (or links to) a folder; `expected` says what
/// folder the command wanted (e.g. "a run folder or a checkpoint-N folder").
pub fn check_folder(path: &Path, expected: &str) -> Result<()> {
    match kind(path) {
        Kind::Folder => Ok(()),
        Kind::Missing => bail!(
            "{}: no such file or folder; expected {expected}",
            shown(path)
        ),
        other => bail!("{}: is {}; expected {expected}", shown(path), other.words()),
    }
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
