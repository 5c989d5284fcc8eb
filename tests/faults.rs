//! Faults: kill -9 during training and during a bundle replacement, and a
//! full disk. After any of them, what negstudy left is either the old or
//! the new output, complete, and the next run carries on as if nothing
//! happened.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{negstudy, TINY_TRAIN};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_negstudy"));
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn kill9(child: &mut Child) {
    let _ = child.kill(); // SIGKILL on Unix
    let _ = child.wait();
}

/// Waits until `cond` holds (polling every millisecond) or `limit` passes.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

fn hidden_entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

fn losses(run: &Path) -> String {
    std::fs::read_to_string(run.join("train_log.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(",") + "\n")
        .collect()
}

/// kill -9 at several moments of a run — among them while a checkpoint is
/// being written (caught by watching for its temporary folder) — each time
/// resumed with `--resume`, gives exactly the losses of an uninterrupted
/// run, and leaves no temporary behind.
#[test]
fn kill_9_during_training_then_resume_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().to_str().unwrap();
    let args = |name: &'static str| -> Vec<&str> {
        [
            &["train", "--runs", runs, "--name", name][..],
            &TINY_TRAIN[..],
        ]
        .concat()
    };
    negstudy(&args("whole"));
    let part = dir.path().join("part");
    let mut kills = 0;
    let mut caught_in_checkpoint_write = false;
    // Kill moments, in ms after start; the 0 entry kills as soon as a
    // checkpoint's temporary folder appears.
    for (i, &ms) in [0u64, 700, 1500, 2600, 0].iter().enumerate() {
        let mut a = args("part");
        if i > 0 {
            a.push("--resume");
        }
        let mut child = bin().args(&a).spawn().unwrap();
        let hit = if ms == 0 {
            wait_for(Duration::from_secs(60), || {
                part.exists()
                    && hidden_entries(&part)
                        .iter()
                        .any(|n| n.starts_with(".checkpoint-"))
            })
        } else {
            std::thread::sleep(Duration::from_millis(ms));
            true
        };
        if child.try_wait().unwrap().is_some() {
            break; // finished before the kill
        }
        kill9(&mut child);
        kills += 1;
        caught_in_checkpoint_write |= ms == 0 && hit;
    }
    assert!(
        kills >= 2,
        "only {kills} kills landed; the run is too short for this test"
    );
    negstudy(&[&args("part")[..], &["--resume"]].concat());
    assert_eq!(losses(&dir.path().join("whole")), losses(&part));
    assert!(
        hidden_entries(&part).is_empty(),
        "temporaries left: {:?}",
        hidden_entries(&part)
    );
    eprintln!("{kills} kills, one inside a checkpoint write: {caught_in_checkpoint_write}");
}

fn bundle_is_complete(b: &Path) -> bool {
    [
        "index.md",
        "manifest.json",
        "summary.json",
        "same_class_by_bin.csv",
        "consistency.png",
    ]
    .iter()
    .all(|f| b.join(f).is_file())
}

/// kill -9 while a report bundle is being replaced: before the swap the old
/// bundle is untouched; inside the swap window (old renamed aside, new not
/// yet in) the next write finishes the swap, so the complete new bundle
/// appears. Either way no temporary is left.
#[test]
fn kill_9_during_a_bundle_replacement_leaves_old_or_new_complete() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    negstudy(&[
        "dump",
        "synthetic",
        "--out",
        d.join("e.safetensors").to_str().unwrap(),
        "--rows",
        "400",
    ]);
    let out = d.join("rep");
    let analyze = |seed: &str| -> Command {
        let mut c = bin();
        c.args(["analyze", "all", "--embeddings"])
            .arg(d.join("e.safetensors"))
            .arg("--out")
            .arg(&out)
            .args(["--seed", seed]);
        c
    };
    assert!(analyze("1").status().unwrap().success());
    let manifest_seed = || -> Option<u64> {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).ok()?).ok()?;
        v["seed"].as_u64()
    };
    assert_eq!(manifest_seed(), Some(1));

    // Killed inside the swap window.
    let mut child = analyze("2")
        .env("NEGSTUDY_FAULT_SWAP_PAUSE_MS", "60000")
        .spawn()
        .unwrap();
    let in_window = wait_for(Duration::from_secs(60), || {
        hidden_entries(d).iter().any(|n| n.starts_with(".rep.old-"))
    });
    assert!(in_window, "the swap window was never reached");
    kill9(&mut child);
    assert!(
        !out.exists(),
        "killed between the renames: the name is empty"
    );
    // The next write (here a third analysis) first finishes the swap.
    negstudy_recover(&out);
    assert!(bundle_is_complete(&out));
    assert_eq!(
        manifest_seed(),
        Some(2),
        "the complete new bundle was swapped in"
    );
    assert!(hidden_entries(d).is_empty(), "{:?}", hidden_entries(d));

    // Killed while the new bundle is still being written: the old one stays.
    let mut child = analyze("3").spawn().unwrap();
    let writing = wait_for(Duration::from_secs(60), || {
        hidden_entries(d).iter().any(|n| n.starts_with(".rep.tmp-"))
    });
    assert!(writing);
    kill9(&mut child);
    if manifest_seed() == Some(2) {
        assert!(bundle_is_complete(&out));
    }
    assert!(analyze("4").status().unwrap().success());
    assert_eq!(manifest_seed(), Some(4));
    assert!(bundle_is_complete(&out));
    assert!(hidden_entries(d).is_empty(), "{:?}", hidden_entries(d));
}

/// What any negstudy write to `path` does first.
fn negstudy_recover(path: &Path) {
    negstudy::atomic::recover(path).unwrap();
}

/// A full disk (simulated with a file-size limit, with SIGXFSZ ignored so the
/// write fails with an error instead of killing the process): negstudy
/// reports the path, exits 1, and leaves neither the output nor a temporary.
#[test]
fn a_full_disk_leaves_no_partial_file_and_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("big.safetensors");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 64; exec '{}' dump synthetic --rows 20000 --out '{}'",
            env!("CARGO_BIN_EXE_negstudy"),
            out.display()
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("big.safetensors"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists());
    assert!(
        hidden_entries(dir.path()).is_empty(),
        "{:?}",
        hidden_entries(dir.path())
    );
}

/// `export` (`.safetensors` and `.pth`) into a file-size limit with
/// SIGXFSZ left at its default — which would kill the process mid-write —
/// fails with a clear error naming the file, because negstudy ignores the
/// signal itself and sees the write fail; nothing partial stays behind.
#[test]
fn export_under_a_file_size_limit_fails_cleanly_without_help_from_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    common::train_two_steps(dir.path(), "t");
    for out in ["w.safetensors", "w.pth"] {
        let o = Command::new("sh")
            .current_dir(dir.path())
            .arg("-c")
            .arg(format!(
                "ulimit -f 64; exec '{}' export --checkpoint runs/t --out {out}",
                env!("CARGO_BIN_EXE_negstudy"),
            ))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{out}: {err}");
        assert!(err.contains(out), "{err}");
        assert!(!dir.path().join(out).exists(), "{out}");
        assert!(
            hidden_entries(dir.path()).is_empty(),
            "{:?}",
            hidden_entries(dir.path())
        );
    }
}

/// Two `train` processes with the same name: the second is refused with the
/// first one's pid while the first trains; once the first is killed, its
/// stale lock is taken over.
#[test]
fn a_second_trainer_of_the_same_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().to_str().unwrap();
    // 30 epochs: long enough to still be training when the second one asks.
    let long: Vec<&str> = TINY_TRAIN
        .iter()
        .map(|&a| if a == "3" { "30" } else { a })
        .collect();
    let args: Vec<&str> = [&["train", "--runs", runs, "--name", "r"][..], &long[..]].concat();
    let mut first = bin().args(&args).spawn().unwrap();
    let run = dir.path().join("r");
    let pid = first.id().to_string();
    let locked = wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(run.join("negstudy.lock")).is_ok_and(|t| t.trim() == pid)
    });
    assert!(locked, "the first trainer never wrote its lock");
    let second = Command::new(env!("CARGO_BIN_EXE_negstudy"))
        .args(&args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first run ended too soon for this test"
    );
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is being trained by another negstudy process") && err.contains(&pid),
        "{err}"
    );
    kill9(&mut first);
    negstudy::train::run_lock::RunLock::acquire(&run).expect("a dead process's lock is taken over");
}

/// A reader that stops early (`negstudy sweep … --list | head -1`) ends the
/// listing quietly, as it ends `cat`: no panic message on stderr.
#[test]
fn a_closed_stdout_ends_quietly() {
    let mut child = bin()
        .args(["sweep", "analyses/fig2-sufficiency.toml", "--list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close our end of the pipe before the listing is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}

/// A writer killed after swapping a checkpoint in but before removing its
/// journal leaves the journal; older checkpoints are never written again,
/// and a finished run writes none, so the trainer cleans up after dead
/// writers of every checkpoint name up to its own when it resumes and when
/// it checkpoints (what `kill_9_during_training…` once caught under load).
#[test]
fn journals_left_by_killed_checkpoint_writers_are_cleaned_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().to_str().unwrap();
    let args = [
        &["train", "--runs", runs, "--name", "r"][..],
        &TINY_TRAIN[..],
    ]
    .concat();
    negstudy(&[&args[..], &["--stop-after", "2"]].concat());
    let run = dir.path().join("r");
    // Beyond any pid_max: a process that cannot be alive.
    let dead = 4_194_305 + 18;
    let plant = |epoch: usize| {
        let name = format!("checkpoint-{epoch:04}");
        let journal = run.join(format!(".{name}.negstudy-{dead}-ab12"));
        std::fs::write(
            &journal,
            format!(r#"{{"negstudy_write":"{name}","pid":{dead},"token":"ab12"}}"#),
        )
        .unwrap();
        journal
    };
    let older = plant(1);
    let latest = plant(2);
    negstudy(&[&args[..], &["--resume"]].concat());
    assert!(
        !older.exists() && !latest.exists(),
        "{:?}",
        hidden_entries(&run)
    );
    // The run is finished: resuming it trains nothing and still cleans up.
    let last = plant(3);
    negstudy(&[&args[..], &["--resume"]].concat());
    assert!(!last.exists(), "{:?}", hidden_entries(&run));
    assert!(
        hidden_entries(&run).is_empty(),
        "{:?}",
        hidden_entries(&run)
    );
}
