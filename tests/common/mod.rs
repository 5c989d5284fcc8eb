//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the `negstudy` binary, fails the test with its stderr unless it
/// succeeds, and returns its stdout.
#[allow(dead_code)]
pub fn negstudy(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_negstudy"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "negstudy {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// `negstudy train` flags for a tiny run (256 bundled images, batch 32,
/// K = 64, 3 epochs of 8 steps, a log row per step): seconds on a CPU.
#[allow(dead_code)]
pub const TINY_TRAIN: [&str; 15] = [
    "--data",
    "bundled:fashion-mnist-test",
    "--train-limit",
    "256",
    "--batch-size",
    "32",
    "--queue-size",
    "64",
    "--epochs",
    "3",
    "--log-every",
    "1",
    "--shuffle-bn-splits",
    "2",
    "--quiet",
];

/// Trains the tiny run [`TINY_TRAIN`] with `extra` flags as `runs/<name>`
/// and returns its folder.
#[allow(dead_code)]
pub fn train_tiny(runs: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let runs_arg = runs.to_str().unwrap();
    negstudy(
        &[
            &["train", "--runs", runs_arg, "--name", name],
            &TINY_TRAIN[..],
            extra,
        ]
        .concat(),
    );
    runs.join(name)
}

/// A column of a run's `train_log.csv`, by name (empty cells as NaN).
#[allow(dead_code)]
pub fn log_column(run: &Path, name: &str) -> Vec<f64> {
    let log = std::fs::read_to_string(run.join("train_log.csv")).unwrap();
    let mut lines = log.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == name)
        .unwrap_or_else(|| panic!("no column {name} in {}", run.display()));
    lines
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap_or(f64::NAN))
        .collect()
}

/// Runs `negstudy` in `dir` and returns what it did (success not required).
#[allow(dead_code)]
pub fn negstudy_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_negstudy"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Trains `runs/<name>` in `dir`: one epoch (two steps) of `resnet-narrow`
/// on 128 bundled images, for tests that need a checkpoint, not learning.
#[allow(dead_code)]
pub fn train_two_steps(dir: &std::path::Path, name: &str) {
    let o = negstudy_in(
        dir,
        &[
            "train",
            "--name",
            name,
            "--arch",
            "resnet-narrow",
            "--epochs",
            "1",
            "--batch-size",
            "64",
            "--queue-size",
            "128",
            "--train-limit",
            "128",
            "--quiet",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A path in the repository.
#[allow(dead_code)]
pub fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// The files git tracks that match `pathspec` (e.g. `reports/*/manifest.json`,
/// or `.` for all), relative to the repository.
#[allow(dead_code)]
pub fn tracked_files(pathspec: &str) -> Vec<String> {
    let out = Command::new("git")
        .args(["ls-files", "-z", "--", pathspec])
        .current_dir(repo(""))
        .output()
        .expect("git ls-files");
    assert!(out.status.success(), "git ls-files failed");
    out.stdout
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect()
}
