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
