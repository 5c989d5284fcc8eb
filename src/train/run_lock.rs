//! One trainer per run folder: an advisory lock (`negstudy.lock`, holding
//! the pid) taken for as long as a process trains in the folder.
//!
//! The lock is the operating system's file lock (`flock`), so it dies with
//! its process: a lock file left by a killed run is simply taken over, with
//! no pid guessing. The file itself stays as the mark that negstudy made the
//! folder, which is what lets a later run, `--resume` or the demo reuse or
//! clear it; a folder negstudy did not make is never trained into.

use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside a run folder.
pub const LOCK_FILE: &str = "negstudy.lock";

/// Held while training; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Locks `dir` (created if missing) for this process. Fails if `dir` is
    /// not a negstudy run folder (something else is in it) or another live
    /// process holds the lock.
    pub fn acquire(dir: &Path) -> Result<RunLock> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        if !is_run_folder(dir)? {
            bail!(
                "{} exists and is not a negstudy run folder (no {LOCK_FILE} or checkpoint); negstudy trains only in folders it made. Choose another --name or --runs",
                dir.display()
            );
        }
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                bail!(
                    "{} is being trained by another negstudy process (pid {}, lock {}); wait for it to finish or choose another --name",
                    dir.display(),
                    pid.trim(),
                    path.display()
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(RunLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A folder negstudy may train in: empty, or marked by our lock file, or
/// holding one of our checkpoints (run folders from before the lock file).
pub fn is_run_folder(dir: &Path) -> Result<bool> {
    let mut empty = true;
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        empty = false;
        let name = e.file_name();
        if name == LOCK_FILE {
            return Ok(true);
        }
        if name
            .to_string_lossy()
            .starts_with(super::checkpoint::PREFIX)
            && crate::atomic::is_ours(&e.path(), crate::atomic::Kind::Checkpoint)
        {
            return Ok(true);
        }
    }
    Ok(empty)
}

/// Removes everything a run wrote in `dir` (checkpoints, log, results),
/// keeping the lock file that `lock` holds, so the folder can be trained
/// afresh.
pub fn clear(dir: &Path, lock: &RunLock) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p == lock.path() {
            continue;
        }
        let r = if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.with_context(|| format!("clearing {}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_and_a_released_one_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("r");
        let first = RunLock::acquire(&run).unwrap();
        let err = RunLock::acquire(&run).unwrap_err().to_string();
        assert!(
            err.contains("being trained by another negstudy process"),
            "{err}"
        );
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        RunLock::acquire(&run).unwrap();
    }

    #[test]
    fn a_foreign_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let err = RunLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is not a negstudy run folder"), "{err}");
        assert!(!dir.path().join(LOCK_FILE).exists());
    }
}
