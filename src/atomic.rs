//! Writes that never leave a half-written output behind: everything goes to
//! a temporary sibling first and is renamed into place only when complete.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A temporary sibling of `path` (same folder, so the rename is atomic).
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = format!(".{name}.tmp-{}", std::process::id());
    path.with_file_name(tmp)
}

/// Calls `write` with a temporary path, then renames it onto `path`. On
/// error the temporary file or folder is removed.
pub fn write_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = temp_sibling(path);
    let result = write(&tmp).and_then(|()| {
        if path.is_dir() {
            std::fs::remove_dir_all(path)
                .with_context(|| format!("replacing {}", path.display()))?;
        }
        std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Writes bytes atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |tmp| {
        std::fs::write(tmp, bytes).with_context(|| format!("writing {}", tmp.display()))
    })
}
