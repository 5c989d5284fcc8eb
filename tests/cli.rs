//! The command line end to end: every command's --help, outputs and errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn negstudy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_negstudy"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = negstudy(args);
    assert!(
        out.status.success(),
        "negstudy {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let out = negstudy(args);
    assert!(!out.status.success(), "negstudy {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["dump", "--help"],
        vec!["dump", "info", "--help"],
        vec!["dump", "convert", "--help"],
        vec!["hierarchy", "--help"],
        vec!["hierarchy", "build", "--help"],
        vec!["hierarchy", "lca", "--help"],
        vec!["hierarchy", "info", "--help"],
        vec!["analyze", "--help"],
        vec!["demo", "--help"],
        vec!["bench", "--help"],
        vec!["bench", "analyze", "--help"],
        vec!["dump", "synthetic", "--help"],
        vec!["study", "--help"],
        vec!["study", "power", "--help"],
    ] {
        let out = ok(&args);
        assert!(out.contains("Usage:"), "{args:?}");
    }
}

#[test]
fn hierarchy_lca_prints_tsv_and_names_unknown_wnids() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = dir.path().join("pairs.txt");
    // tench–goldfish share `cyprinid` (n01439121, max_depth 15); see imagenet_pairs_nltk.tsv.
    std::fs::write(
        &pairs,
        "# comment\nn01440764 n01443537\n\nn02084071 n02084071\n",
    )
    .unwrap();
    let out = ok(&["hierarchy", "lca", "--pairs", pairs.to_str().unwrap()]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "a\tb\tlca\tlca_depth\ta_depth\tb_depth\tshortest_path"
    );
    assert_eq!(lines[1], "n01440764\tn01443537\tn01439121\t15\t16\t16\t2");
    // dog.n.01 is a hypernym of the ImageNet dog breeds, so it is bundled; a
    // synset with itself: LCA = itself, distance 0.
    assert_eq!(lines[2], "n02084071\tn02084071\tn02084071\t13\t13\t13\t0");
    assert_eq!(lines.len(), 3);
    std::fs::write(&pairs, "n01440764 n01443537\nn01440764 n09999999\n").unwrap();
    let err = fails(&["hierarchy", "lca", "--pairs", pairs.to_str().unwrap()]);
    assert!(
        err.contains("n09999999") && err.contains("pairs.txt:2"),
        "{err}"
    );
}

#[test]
fn hierarchy_build_then_lca_from_the_built_file() {
    // needs wordnet-base (installed by .ci/run)
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("wnids.txt");
    std::fs::write(&list, "n01440764\nn01443537\nn02084071\n").unwrap();
    let xml = dir.path().join("h.xml");
    ok(&[
        "hierarchy",
        "build",
        "--wordnet",
        "/usr/share/wordnet",
        "--wnids",
        list.to_str().unwrap(),
        "--out",
        xml.to_str().unwrap(),
    ]);
    let info = ok(&[
        "hierarchy",
        "info",
        "--hierarchy",
        xml.to_str().unwrap(),
        "n02084071",
    ]);
    assert!(info.contains("roots     n00001740"), "{info}");
    assert!(
        info.contains("max_depth 13"),
        "dog.n.01 max_depth is 13 in NLTK: {info}"
    );
    let pairs = dir.path().join("p.txt");
    std::fs::write(&pairs, "n01440764 n02084071\n").unwrap();
    let from_xml = ok(&[
        "hierarchy",
        "lca",
        "--hierarchy",
        xml.to_str().unwrap(),
        "--pairs",
        pairs.to_str().unwrap(),
    ]);
    let from_wn = ok(&[
        "hierarchy",
        "lca",
        "--wordnet",
        "/usr/share/wordnet",
        "--pairs",
        pairs.to_str().unwrap(),
    ]);
    assert_eq!(from_xml, from_wn);
    std::fs::write(&list, "n01440764\nn09999999\n").unwrap();
    let err = fails(&[
        "hierarchy",
        "build",
        "--wordnet",
        "/usr/share/wordnet",
        "--wnids",
        list.to_str().unwrap(),
        "--out",
        xml.to_str().unwrap(),
    ]);
    assert!(
        err.contains("n09999999") && err.contains("wnids.txt"),
        "{err}"
    );
}

#[test]
fn dump_info_and_convert() {
    let info = ok(&[
        "dump",
        "info",
        data("numpy_savez_compressed.npz").to_str().unwrap(),
    ]);
    assert!(info.contains("rows (N)    12"), "{info}");
    assert!(info.contains("z dim (d)   4"), "{info}");
    assert!(info.contains("3 listed, 3 present"), "{info}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.safetensors");
    ok(&[
        "dump",
        "convert",
        data("pyarrow_list.parquet").to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    let info = ok(&["dump", "info", out.to_str().unwrap()]);
    assert!(info.contains("stored as f32"), "{info}");
    let err = fails(&[
        "dump",
        "info",
        data("fashion_mnist_lca_nltk.tsv").to_str().unwrap(),
    ]);
    assert!(err.contains("unknown dump format"), "{err}");
}

/// Every flag of every command says what it does in `--help` (clap's
/// own `--help`/`--version` aside): a flag without help is a flag nobody
/// can use without reading the source.
#[test]
fn every_flag_has_help() {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") || arg.is_positional() {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} --{}", arg.get_long().unwrap_or(id)));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(
        &negstudy::commands::Cli::command(),
        "negstudy",
        &mut missing,
    );
    assert!(
        missing.is_empty(),
        "flags without help:\n{}",
        missing.join("\n")
    );
}
