//! Outputs that never harm what negstudy did not create, and are never left
//! half-written.
//!
//! * **Only our artifacts are replaced.** Every write names the [`Kind`] of
//!   artifact it makes; a path that already exists is replaced only when it
//!   is that kind of negstudy artifact (a bundle with our `manifest.json`, a
//!   dump whose metadata says negstudy wrote it, a run folder with our lock
//!   or checkpoints, …). Anything else is an error that names it.
//! * **Complete or absent.** Everything is written to a temporary sibling
//!   (`.NAME.tmp-PID-TOKEN`) and renamed into place. A folder cannot be
//!   renamed over a folder, so replacing one is a swap: rename the old aside
//!   (`.NAME.old-PID-TOKEN`), rename the new in, delete the old. A kill at
//!   any moment leaves either the old or the new output under its name, or
//!   both aside; the next write to the same path finishes or undoes such a
//!   swap ([`recover`]) and removes the leftovers of dead processes — only
//!   those a journal (`.NAME.negstudy-PID-TOKEN`, written before anything
//!   else) vouches for, never a file that merely has such a name. SIGINT,
//!   SIGTERM and SIGHUP remove this process's temporaries before it exits
//!   ([`remove_in_progress`], installed by `main`).
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

/// The names one write uses beside its output `NAME`, all carrying the
/// writing process's pid and a random token: the temporary
/// `.NAME.tmp-PID-TOKEN`, the place a replaced folder is moved aside to
/// `.NAME.old-PID-TOKEN`, and the journal `.NAME.negstudy-PID-TOKEN`, a
/// small JSON file written before the others that names the write. Only
/// names a journal vouches for are ever renamed or deleted by [`recover`]:
/// a user's file that merely looks like a temporary is never touched.
#[derive(Clone, Debug)]
struct WriteNames {
    tmp: PathBuf,
    old: PathBuf,
    journal: PathBuf,
}

/// The journal's contents.
#[derive(serde::Serialize, serde::Deserialize, PartialEq)]
struct Journal {
    negstudy_write: String,
    pid: u32,
    token: String,
}

const JOURNAL_TAG: &str = "negstudy";

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl WriteNames {
    fn of(path: &Path, pid: u32, token: &str) -> WriteNames {
        let name = file_name(path);
        let at = |tag: &str| path.with_file_name(format!(".{name}.{tag}-{pid}-{token}"));
        WriteNames {
            tmp: at("tmp"),
            old: at("old"),
            journal: at(JOURNAL_TAG),
        }
    }

    /// The names of a write whose temporary is `tmp`.
    fn of_tmp(tmp: &Path, path: &Path) -> Option<WriteNames> {
        let rest = file_name(tmp)
            .strip_prefix(&format!(".{}.tmp-", file_name(path)))?
            .to_string();
        let (pid, token) = rest.split_once('-')?;
        Some(WriteNames::of(path, pid.parse().ok()?, token))
    }
}

/// A fresh random token (std's per-process random hash keys, from the OS).
fn token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}

/// Temporaries of writes in progress in this process, removed on SIGINT,
/// SIGTERM or SIGHUP ([`remove_in_progress`]).
static IN_PROGRESS: std::sync::Mutex<Vec<WriteNames>> = std::sync::Mutex::new(Vec::new());

fn track(names: &WriteNames, on: bool) {
    if let Ok(mut v) = IN_PROGRESS.lock() {
        v.retain(|n| n.tmp != names.tmp);
        if on {
            v.push(names.clone());
        }
    }
}

/// Removes the temporaries (and journals) of every write this process has
/// in progress: called when the process is told to stop, so an interrupted
/// write leaves nothing behind. A folder moved aside mid-swap is left for
/// [`recover`] to put back.
pub fn remove_in_progress() {
    if let Ok(v) = IN_PROGRESS.lock() {
        for names in v.iter() {
            let _ = remove_any(&names.tmp);
            if std::fs::symlink_metadata(&names.old).is_err() {
                let _ = remove_any(&names.journal);
            }
        }
    }
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

/// The parts of a journal's name `.NAME.negstudy-PID-TOKEN`: the output's
/// NAME, the writer's pid and its token (not empty). The one parser of the
/// name [`WriteNames::of`] writes.
fn journal_name(entry: &Path) -> Option<(String, u32, String)> {
    let entry_name = file_name(entry);
    let (target, rest) = entry_name
        .strip_prefix('.')?
        .rsplit_once(&format!(".{JOURNAL_TAG}-"))?;
    let (pid, token) = rest.split_once('-')?;
    if target.is_empty() || token.is_empty() {
        return None;
    }
    Some((target.to_string(), pid.parse().ok()?, token.to_string()))
}

/// The journal at `entry` if it is one of ours for `path` (a regular file
/// of at most 4 KiB whose JSON names this output, its pid and token), with
/// its write's names.
fn journal_at(entry: &Path, path: &Path) -> Option<(Journal, WriteNames)> {
    let name = file_name(path);
    let (target, pid, token) = journal_name(entry).filter(|(t, ..)| *t == name)?;
    let meta = std::fs::symlink_metadata(entry).ok()?;
    if !meta.is_file() || meta.len() > 4096 {
        return None;
    }
    let journal: Journal = serde_json::from_slice(&std::fs::read(entry).ok()?).ok()?;
    let names = WriteNames::of(path, pid, &token);
    let expected = Journal {
        negstudy_write: target,
        pid,
        token,
    };
    (journal == expected).then_some((journal, names))
}

/// Whether `entry` is a journal name for `path`, an empty regular file,
/// and its writer is not alive.
fn is_empty_journal_of_dead_writer(entry: &Path, path: &Path) -> bool {
    journal_name(entry).is_some_and(|(target, pid, _)| {
        target == file_name(path)
            && std::fs::symlink_metadata(entry).is_ok_and(|m| m.is_file() && m.len() == 0)
            && !alive(pid)
    })
}

/// [`recover`] for every output in `dir` that a journal names and `wanted`
/// accepts (by its file name) — one scan of the folder to find them, for
/// outputs that are never written again and so never recovered on write
/// (older checkpoints of a run).
pub fn recover_in(dir: &Path, wanted: impl Fn(&str) -> bool) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let targets: std::collections::BTreeSet<String> = entries
        .flatten()
        .filter_map(|e| journal_name(&e.path()))
        .map(|(target, ..)| target)
        .filter(|t| wanted(t))
        .collect();
    for target in targets {
        recover(&dir.join(target))?;
    }
    Ok(())
}

/// Finishes or undoes interrupted writes to `path` by dead processes, as
/// their journals describe them: when `path` is missing and a write's
/// `old` exists (killed mid-swap), its complete temporary is renamed in if
/// it is there, otherwise the old output is put back; then the write's
/// leftovers and journal are removed. Nothing a journal does not name is
/// touched.
pub fn recover(path: &Path) -> Result<()> {
    let Some(parent) = path.parent() else {
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
    let mut stale: Vec<WriteNames> = Vec::new();
    for entry in entries.flatten().map(|e| e.path()) {
        if let Some((j, names)) = journal_at(&entry, path) {
            if !alive(j.pid) {
                stale.push(names);
            }
        } else if is_empty_journal_of_dead_writer(&entry, path) {
            // A writer killed between creating its journal and writing it
            // (the journal comes before anything else of that write)
            // leaves an empty file under the journal's exact name: it
            // holds nothing, so it goes.
            remove_any(&entry)
                .with_context(|| format!("removing empty journal {}", entry.display()))?;
        }
    }
    for names in stale {
        let missing = std::fs::symlink_metadata(path).is_err();
        if missing && std::fs::symlink_metadata(&names.old).is_ok() {
            let from = if names.tmp.exists() {
                &names.tmp
            } else {
                &names.old
            };
            std::fs::rename(from, path).with_context(|| {
                format!(
                    "finishing an interrupted replacement of {} from {}",
                    path.display(),
                    from.display()
                )
            })?;
        }
        for p in [&names.tmp, &names.old, &names.journal] {
            remove_any(p).with_context(|| format!("removing stale temporary {}", p.display()))?;
        }
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

/// Moves the complete `tmp` (from [`prepare`]) to `path`, replacing what is
/// there (already checked to be ours): a file by one atomic rename, a
/// folder by the swap described in the module docs; then the write's
/// journal is removed.
pub fn swap_in(tmp: &Path, path: &Path) -> Result<()> {
    let names = WriteNames::of_tmp(tmp, path)
        .with_context(|| format!("{}: not a temporary of {}", tmp.display(), path.display()))?;
    let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    if !is_dir {
        std::fs::rename(tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    } else {
        std::fs::rename(path, &names.old)
            .with_context(|| format!("moving {} aside", path.display()))?;
        fault_pause();
        if let Err(e) = std::fs::rename(tmp, path) {
            let _ = std::fs::rename(&names.old, path);
            return Err(e).with_context(|| format!("renaming into {}", path.display()));
        }
        remove_any(&names.old)
            .with_context(|| format!("removing the replaced {}", names.old.display()))?;
    }
    track(&names, false);
    let _ = remove_any(&names.journal);
    Ok(())
}

/// Abandons a write begun by [`prepare`]: removes its temporary and journal.
pub fn abandon(tmp: &Path, path: &Path) {
    if let Some(names) = WriteNames::of_tmp(tmp, path) {
        track(&names, false);
        let _ = remove_any(&names.tmp);
        let _ = remove_any(&names.journal);
    }
}

/// Prepares a write of `path`: recovers interrupted writes, checks that an
/// existing `path` may be replaced, creates the parent folder, writes the
/// write's journal, and returns its fresh temporary (not yet created).
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
    let (pid, token) = (std::process::id(), token());
    let names = WriteNames::of(path, pid, &token);
    let journal = Journal {
        negstudy_write: file_name(path),
        pid,
        token,
    };
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&names.journal)
            .with_context(|| format!("creating {}", names.journal.display()))?;
        f.write_all(&serde_json::to_vec(&journal)?)
            .with_context(|| format!("writing {}", names.journal.display()))?;
    }
    track(&names, true);
    Ok(names.tmp)
}

/// Calls `write` with a temporary path, then moves it onto `path` (which may
/// be replaced only if it is a negstudy artifact of `kind`). On error the
/// temporary is removed and `path` is untouched.
pub fn write_with(path: &Path, kind: Kind, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = prepare(path, kind)?;
    let result = write(&tmp)
        .with_context(|| format!("{}: not written", crate::input_file::shown(path)))
        .and_then(|()| swap_in(&tmp, path));
    if result.is_err() {
        abandon(&tmp, path);
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
        let journal = |names: &WriteNames, pid: u32, token: &str| {
            let j = Journal {
                negstudy_write: "b".into(),
                pid,
                token: token.into(),
            };
            std::fs::write(&names.journal, serde_json::to_vec(&j).unwrap()).unwrap();
        };
        // Killed between the two renames, new complete: the new one wins.
        let w = WriteNames::of(&out, dead, "aa");
        journal(&w, dead, "aa");
        std::fs::create_dir(&w.old).unwrap();
        std::fs::create_dir(&w.tmp).unwrap();
        std::fs::write(w.tmp.join("new"), "").unwrap();
        recover(&out).unwrap();
        assert!(out.join("new").exists());
        assert!(!w.old.exists() && !w.journal.exists());
        // Killed after renaming aside with no new one left: the old comes back.
        journal(&w, dead, "aa");
        std::fs::rename(&out, &w.old).unwrap();
        recover(&out).unwrap();
        assert!(out.join("new").exists());
        // A stale temporary of a dead process is removed; a live one's is kept.
        journal(&w, dead, "aa");
        std::fs::create_dir(&w.tmp).unwrap();
        let me = std::process::id();
        let live = WriteNames::of(&out, me, "bb");
        journal(&live, me, "bb");
        std::fs::create_dir(&live.tmp).unwrap();
        recover(&out).unwrap();
        assert!(!w.tmp.exists());
        assert!(live.tmp.exists());
    }

    /// A journal created but not yet written when its writer was killed is
    /// an empty file: removed for a dead writer, kept for a live one, and a
    /// non-empty file under that name that is not a journal is kept.
    #[test]
    fn an_empty_journal_of_a_dead_writer_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("checkpoint-0002");
        let dead = 4_194_305 + 18;
        let empty_dead = WriteNames::of(&out, dead, "ee");
        std::fs::write(&empty_dead.journal, "").unwrap();
        let me = std::process::id();
        let empty_live = WriteNames::of(&out, me, "ff");
        std::fs::write(&empty_live.journal, "").unwrap();
        let not_ours = WriteNames::of(&out, dead, "gg");
        std::fs::write(&not_ours.journal, "someone's notes").unwrap();
        recover(&out).unwrap();
        assert!(!empty_dead.journal.exists());
        assert!(empty_live.journal.exists());
        assert!(not_ours.journal.exists());
    }

    #[test]
    fn recovery_never_touches_what_no_journal_vouches_for() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("w.pth");
        let dead = 4_194_305 + 18;
        // A user's folder and file named like our temporaries, the output
        // missing: without a journal they are left exactly as they are.
        let w = WriteNames::of(&out, dead, "cc");
        std::fs::create_dir(&w.old).unwrap();
        std::fs::write(w.old.join("mine"), "user data").unwrap();
        std::fs::write(&w.tmp, "user data").unwrap();
        let legacy = dir.path().join(".w.pth.old-4000000");
        std::fs::create_dir(&legacy).unwrap();
        // A "journal" that does not name this write is not ours either.
        std::fs::write(&w.journal, r#"{"negstudy_write":"x","pid":1,"token":"cc"}"#).unwrap();
        recover(&out).unwrap();
        assert!(!out.exists());
        assert!(w.old.join("mine").exists() && w.tmp.exists() && legacy.exists());
        assert!(w.journal.exists());
        // A complete write leaves only its output.
        write_bytes(&out, Kind::OwnedFile, b"ours").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"ours");
        let ours: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("-cc") || n.contains("old-4000000") || n == "w.pth")
            .collect();
        assert_eq!(ours.len(), 5, "{ours:?}");
    }
}
