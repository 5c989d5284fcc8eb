//! README promises exactly two set-up commands; CI must run the second one
//! verbatim. This keeps README, .ci/run and the CLI honest with each other.

fn read(p: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).unwrap()
}

/// The lines of README's "Set-up" block (between the ```sh fences).
fn setup_commands() -> Vec<String> {
    let readme = read("README.md");
    let start = readme
        .find("## Set-up")
        .expect("README has a '## Set-up' section");
    let block = &readme[start..];
    let open = block.find("```sh\n").expect("a ```sh block") + 6;
    let close = block[open..].find("```").unwrap() + open;
    block[open..close]
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn readme_has_exactly_two_setup_commands() {
    let cmds = setup_commands();
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert!(
        cmds[0].contains("cargo run --release -- "),
        "first runs the main job: {}",
        cmds[0]
    );
    assert!(
        cmds[1].contains("cargo test --release"),
        "second runs the tests: {}",
        cmds[1]
    );
}

#[test]
fn ci_runs_readme_test_command_verbatim() {
    let test_cmd = &setup_commands()[1];
    assert!(
        read(".ci/run").lines().any(|l| l == test_cmd),
        ".ci/run must contain: {test_cmd}"
    );
}

#[test]
fn main_job_names_a_real_subcommand() {
    let main_cmd = &setup_commands()[0];
    let sub = main_cmd
        .split("-- ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_negstudy"))
        .args([sub, "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "negstudy {sub} --help failed");
}
