//! Helpers shared by the integration tests.

use std::process::Command;

/// Runs the `negstudy` binary, fails the test with its stderr unless it
/// succeeds, and returns its stdout.
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
