//! The claims table of reports/README.md is what the committed result
//! files say: regenerated here, it must equal the committed section, and a
//! section with one number changed is caught.

use std::process::Command;

mod common;
use common::negstudy;

#[test]
fn the_committed_claims_table_is_the_generated_one() {
    let out = negstudy(&["study", "claims", "--check"]);
    assert!(out.contains("matches"), "{out}");
}

#[test]
fn an_edited_number_in_the_claims_table_is_caught() {
    let readme = std::fs::read_to_string("reports/README.md").unwrap();
    let begin = readme.find("<!-- claims: begin").expect("claims markers");
    // Change the first decimal number inside the generated section.
    let section = &readme[begin..];
    let at = begin
        + section
            .find(|c: char| c.is_ascii_digit())
            .expect("a number in the section");
    let mut edited = readme.clone();
    let digit = readme.as_bytes()[at];
    let other = if digit == b'9' {
        '0'
    } else {
        (digit + 1) as char
    };
    edited.replace_range(at..at + 1, &other.to_string());
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("README.md");
    std::fs::write(&copy, &edited).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_negstudy"))
        .args(["study", "claims", "--check", "--readme"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!o.status.success(), "an edited table passed the check");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("differs"), "{err}");
    // Writing restores the generated section, and nothing outside it changes.
    negstudy(&["study", "claims", "--readme", copy.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), readme);
}

#[test]
fn a_document_without_markers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("notes.md");
    std::fs::write(&copy, "# notes\n\nnothing generated here\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_negstudy"))
        .args(["study", "claims", "--readme"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no claims markers"));
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        "# notes\n\nnothing generated here\n"
    );
}
