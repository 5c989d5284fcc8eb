//! Outputs that never harm what negstudy did not create, and are never left
//! half-written.
//!
//! * **Only our artifacts are replaced.** Every write names the [`Kind`] of
//!   artifact it makes; a path that already exists is replaced only when it
//!   is that kind of negstudy artifact (a bundle with our `manifest.json`, a
//!   dump whose metadata says negstudy wrote it, a run folder with our lock
//!   or checkpoints, …). Anything else is an error that names it.
//! * **Complete or absent.** Everything is written to a temporary sibling
//!   (`.NAME.tmp-PID`) and renamed into place. A folder cannot be renamed
//!   over a folder, so replacing one is a swap: rename the old aside
//!   (`.NAME.old-PID`), rename the new in, delete the old. A kill at any
//!   moment leaves either the old or the new output under its name, or
//!   both aside; the next write to the same path finishes or undoes such a
//!   swap ([`recover`]) and removes temporaries of dead processes.
//! * **Names stay names.** Where a name (not a path) is expected — a run,
//!   a sweep, a report — [`check_name`] rejects `.`, `..`, empty, absolute
//!   and path-separator names, so outputs stay inside `runs/` / `reports/`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// What an output is, which decides whether an existing path may be replaced.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// A report bundle: a folder whose `manifest.json` names a negstudy version.
    Bundle,
    /// An embedding dump; the function (the dump reader's) says whether its
    /// metadata shows that negstudy wrote it. Passed in so that this module,
    /// below every writer, reads no format.
    Dump(fn(&Path) -> bool),
    /// Encoder weights written by `negstudy export`; the function (the
    /// exporter's) says whether the file's metadata shows that negstudy wrote it.
    Weights(fn(&Path) -> bool),
    /// ImageNet-structure XML written by `hierarchy build`.
    HierarchyXml,
    /// A JSON report (e.g. `eval.json`) with a top-level `negstudy_version`.
    Json,
    /// A checkpoint folder: it holds our `state.json`.
    Checkpoint,
    /// A file inside a folder negstudy owns and holds locked (a run folder):
    /// replaced freely, unless a folder stands in its place.
    OwnedFile,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Bundle => "a negstudy report bundle (a folder with negstudy's manifest.json)",
            Kind::Dump(_) => "an embedding dump written by negstudy",
            Kind::Weights(_) => "encoder weights written by negstudy export",
            Kind::HierarchyXml => "a hierarchy XML written by negstudy hierarchy build",
            Kind::Json => "a JSON report written by negstudy",
            Kind::Checkpoint => "a negstudy checkpoint (a folder with negstudy's state.json)",
            Kind::OwnedFile => "a file",
        }
    }
}

/// True if `path` is a JSON object with a string `negstudy_version`.
fn json_with_version(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    // Our JSON files are small; do not read a huge foreign file to find out.
    if !meta.is_file() || meta.len() > 64 << 20 {
        return false;
    }
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("negstudy_version").is_some_and(|s| s.is_string()))
}

/// True if `path` is a negstudy artifact of `kind`.
pub fn is_ours(path: &Path, kind: Kind) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    match kind {
        Kind::Bundle => meta.is_dir() && json_with_version(&path.join("manifest.json")),
        Kind::Checkpoint => meta.is_dir() && json_with_version(&path.join("state.json")),
        Kind::Json => json_with_version(path),
        Kind::Dump(written_by_negstudy) | Kind::Weights(written_by_negstudy) => {
            meta.is_file() && written_by_negstudy(path)
        }
        Kind::HierarchyXml => {
            use std::io::Read;
            let mut head = Vec::new();
            meta.is_file()
                && std::fs::File::open(path)
                    .and_then(|f| f.take(4096).read_to_end(&mut head))
                    .is_ok()
                && String::from_utf8_lossy(&head).contains("<releaseData>negstudy ")
        }
        Kind::OwnedFile => meta.is_file(),
    }
}

/// Fails unless `path` is absent or a negstudy artifact of `kind`.
pub fn check_replaceable(path: &Path, kind: Kind) -> Result<()> {
    if std::fs::symlink_metadata(path).is_err() || is_ours(path, kind) {
        return Ok(());
    }
    bail!(
        "{} already exists and is not {}; negstudy replaces only what it made. Choose another output path, or move it away yourself",
        path.display(),
        kind.describe()
    )
}

/// Rejects names that would leave their folder: empty, `.`, `..`, absolute,
/// with a path separator or NUL, starting with `.` (hidden, and our
/// temporaries' prefix), or over 200 bytes.
pub fn check_name(name: &str, what: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("it is empty")
    } else if name == "." || name == ".." {
        Some("'.' and '..' are not names")
    } else if name.contains(['/', '\\', '\0']) || Path::new(name).is_absolute() {
        Some("a name cannot contain a path separator or be a path")
    } else if name.starts_with('.') {
        Some("a name cannot start with '.'")
    } else if name.len() > 200 {
        Some("it is longer than 200 bytes")
    } else {
        None
    };
    match problem {
        Some(p) => bail!("{what} {name:?} is not a valid name: {p}"),
        None => Ok(()),
    }
}

/// `.NAME.TAG-PID` beside `path`.
fn sibling(path: &Path, tag: &str, pid: u32) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{tag}-{pid}"))
}

/// A temporary sibling of `path` (same folder, so the rename is atomic).
pub fn temp_sibling(path: &Path) -> PathBuf {
    sibling(path, "tmp", std::process::id())
}

/// Whether a process with this pid exists (a temporary of a live process is
/// another write in progress and is left alone).
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Finishes or undoes an interrupted write to `path` and removes the
/// temporaries of dead processes. An interrupted swap is recognised by
/// `path` missing while `.NAME.old-PID` exists: the new output
/// (`.NAME.tmp-PID`, complete before the swap began) is renamed in if it is
/// there, otherwise the old one is put back.
pub fn recover(path: &Path) -> Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(());
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let mut stale: Vec<(String, u32)> = Vec::new();
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some((tag, pid)) = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(tag, pid)| Some((tag, pid.parse::<u32>().ok()?)))
        else {
            continue;
        };
        if (tag == "tmp" || tag == "old") && !alive(pid) {
            stale.push((tag.to_string(), pid));
        }
    }
    let missing = std::fs::symlink_metadata(path).is_err();
    if missing {
        if let Some(&(_, pid)) = stale.iter().find(|(t, _)| t == "old") {
            let (old, new) = (sibling(path, "old", pid), sibling(path, "tmp", pid));
            let from = if new.exists() { new } else { old };
            std::fs::rename(&from, path).with_context(|| {
                format!(
                    "finishing an interrupted replacement of {} from {}",
                    path.display(),
                    from.display()
                )
            })?;
        }
    }
    for (tag, pid) in stale {
        let p = sibling(path, &tag, pid);
        remove_any(&p).with_context(|| format!("removing stale temporary {}", p.display()))?;
    }
    Ok(())
}

/// Pause between renaming the old output aside and the new one in, for the
/// fault-injection test that kills a process in that window
/// (`NEGSTUDY_FAULT_SWAP_PAUSE_MS`; never set in normal use).
fn fault_pause() {
    if let Some(ms) = std::env::var("NEGSTUDY_FAULT_SWAP_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Moves the complete `tmp` to `path`, replacing what is there (already
/// checked to be ours): a file by one atomic rename, a folder by the swap
/// described in the module docs.
pub fn swap_in(tmp: &Path, path: &Path) -> Result<()> {
    let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    if !is_dir {
        return std::fs::rename(tmp, path)
            .with_context(|| format!("renaming into {}", path.display()));
    }
    let old = sibling(path, "old", std::process::id());
    std::fs::rename(path, &old).with_context(|| format!("moving {} aside", path.display()))?;
    fault_pause();
    if let Err(e) = std::fs::rename(tmp, path) {
        let _ = std::fs::rename(&old, path);
        return Err(e).with_context(|| format!("renaming into {}", path.display()));
    }
    remove_any(&old).with_context(|| format!("removing the replaced {}", old.display()))
}

/// Prepares a write of `path`: recovers interrupted writes, checks that an
/// existing `path` may be replaced, creates the parent folder, and returns
/// a fresh temporary sibling.
pub fn prepare(path: &Path, kind: Kind) -> Result<PathBuf> {
    if path.file_name().is_none() {
        bail!(
            "{}: not a name negstudy can write to; an output path must end in a new file or folder name, not '.' or '..'",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    recover(path)?;
    check_replaceable(path, kind)?;
    let tmp = temp_sibling(path);
    remove_any(&tmp).with_context(|| format!("clearing {}", tmp.display()))?;
    Ok(tmp)
}

/// Calls `write` with a temporary path, then moves it onto `path` (which may
/// be replaced only if it is a negstudy artifact of `kind`). On error the
/// temporary is removed and `path` is untouched.
pub fn write_with(path: &Path, kind: Kind, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = prepare(path, kind)?;
    let result = write(&tmp).and_then(|()| swap_in(&tmp, path));
    if result.is_err() {
        let _ = remove_any(&tmp);
    }
    result
}

/// Writes bytes atomically.
pub fn write_bytes(path: &Path, kind: Kind, bytes: &[u8]) -> Result<()> {
    write_with(path, kind, |tmp| {
        std::fs::write(tmp, bytes).with_context(|| format!("writing {}", tmp.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_their_folder_are_rejected() {
        for bad in [
            "", ".", "..", "../x", "a/b", "/abs", "a\\b", ".hidden", "a\0b",
        ] {
            assert!(check_name(bad, "run name").is_err(), "{bad:?}");
        }
        for good in ["demo", "hard5", "only 0-95", "t0.07_seed-1"] {
            check_name(good, "run name").unwrap();
        }
    }

    #[test]
    fn a_foreign_folder_is_not_replaced_and_ours_is() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("precious.txt"), "keep me").unwrap();
        let err = write_with(&out, Kind::Bundle, |t| Ok(std::fs::create_dir(t)?)).unwrap_err();
        assert!(
            format!("{err:#}").contains("is not a negstudy report bundle"),
            "{err:#}"
        );
        assert!(out.join("precious.txt").exists());
        std::fs::write(out.join("manifest.json"), r#"{"negstudy_version":"0"}"#).unwrap();
        write_with(&out, Kind::Bundle, |t| {
            std::fs::create_dir(t)?;
            Ok(std::fs::write(
                t.join("manifest.json"),
                r#"{"negstudy_version":"1"}"#,
            )?)
        })
        .unwrap();
        assert!(!out.join("precious.txt").exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporaries left");
    }

    #[test]
    fn an_interrupted_swap_is_finished_or_undone() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("b");
        // A dead pid: above Linux's pid_max (4 194 304).
        let dead = 4_194_305 + 17;
        // Killed between the two renames, new complete: the new one wins.
        std::fs::create_dir(sibling(&out, "old", dead)).unwrap();
        std::fs::create_dir(sibling(&out, "tmp", dead)).unwrap();
        std::fs::write(sibling(&out, "tmp", dead).join("new"), "").unwrap();
        recover(&out).unwrap();
        assert!(out.join("new").exists());
        assert!(!sibling(&out, "old", dead).exists());
        // Killed after renaming aside with no new one left: the old comes back.
        std::fs::rename(&out, sibling(&out, "old", dead)).unwrap();
        recover(&out).unwrap();
        assert!(out.join("new").exists());
        // A stale temporary of a dead process is removed; a live one's is kept.
        std::fs::create_dir(sibling(&out, "tmp", dead)).unwrap();
        std::fs::create_dir(sibling(&out, "tmp", std::process::id())).unwrap();
        recover(&out).unwrap();
        assert!(!sibling(&out, "tmp", dead).exists());
        assert!(sibling(&out, "tmp", std::process::id()).exists());
    }
}
