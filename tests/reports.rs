//! The committed report bundles are what the commands in reports/README.md
//! make today. Values are compared to 1e-3 relative: a different CPU's GEMM
//! kernel (FMA or not) can move a near-tied pair across a bin edge.

use std::path::Path;

mod common;
use common::{negstudy, repo};

fn assert_close(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-3 * y.abs().max(1e-12) || (x - y).abs() < 1e-300,
                "{at}: {x} vs committed {y}"
            );
        }
        (Object(x), Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{at}"
            );
            for (k, v) in x {
                assert_close(v, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

fn compare_bundles(fresh: &Path, committed: &Path) {
    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    assert_close(
        &read(&fresh.join("summary.json")),
        &read(&committed.join("summary.json")),
        "summary",
    );
    for entry in std::fs::read_dir(committed).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            fresh.join(&name).exists(),
            "{} is no longer produced",
            name.to_string_lossy()
        );
    }
    let header = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    for csv in [
        "same_class_by_bin.csv",
        "wordnet_by_bin.csv",
        "class_pairs.csv",
        "consistency_pdf.csv",
    ] {
        assert_eq!(
            header(&fresh.join(csv)),
            header(&committed.join(csv)),
            "{csv} columns"
        );
    }
}

#[test]
fn committed_bundles_are_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("synthetic.safetensors");
    let out = dir.path().join("synthetic");
    negstudy(&[
        "dump",
        "synthetic",
        "--out",
        dump.to_str().unwrap(),
        "--rows",
        "4000",
        "--dim",
        "128",
        "--seed",
        "0",
    ]);
    negstudy(&[
        "analyze",
        "all",
        "--embeddings",
        dump.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    compare_bundles(&out, &repo("reports/synthetic"));

    let demo = dir.path().join("demo-pixels");
    let runs = dir.path().join("runs");
    negstudy(&[
        "demo",
        "--pixels",
        "--out",
        demo.to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
    ]);
    compare_bundles(&demo, &repo("reports/demo-pixels"));
}

#[test]
fn trained_demo_writes_the_whole_study() {
    // One short epoch on 256 images: the same path as the main job, minutes shorter.
    let dir = tempfile::tempdir().unwrap();
    let (out, runs) = (dir.path().join("demo"), dir.path().join("runs"));
    let demo = [
        "demo",
        "--epochs",
        "1",
        "--train-limit",
        "256",
        "--out",
        out.to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
    ];
    negstudy(&demo);
    let index = std::fs::read_to_string(out.join("index.md")).unwrap();
    assert!(index.starts_with("# negstudy demo: MoCo v2"), "{index}");
    for needle in [
        "| MoCo v2 (query encoder) |",
        "| raw pixels |",
        "| random-init network",
        "training.png",
        "same_class.png",
        "wordnet.png",
        "anticorrelated.png",
        "class_pairs.png",
        "consistency.png",
    ] {
        assert!(index.contains(needle), "index.md lacks {needle}");
    }
    // The page is rendered after the demo's own section went on top.
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        page.contains("<td>MoCo v2 (query encoder)</td>")
            && page.contains("data:image/png;base64,"),
        "index.html lacks the demo's section"
    );
    for f in [
        "training.png",
        "eval.json",
        "train_log.csv",
        "summary.json",
        "manifest.json",
        "same_class_by_bin.csv",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert!(eval["baselines"]["raw_pixels"]["top1"].as_f64().is_some());
    // Both say what made them: the build's commit, the CPU, its SIMD paths, threads.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    for (name, v) in [("eval.json", &eval), ("manifest.json", &manifest)] {
        let p = &v["provenance"];
        assert!(
            p["commit"].as_str().is_some_and(|c| !c.is_empty()),
            "{name}: {p}"
        );
        assert!(
            p["cpu"].as_str().is_some() && p["simd"].as_str().is_some(),
            "{name}: {p}"
        );
        assert!(p["threads"].as_u64().is_some_and(|t| t >= 1), "{name}: {p}");
    }
    // A second run reuses the finished training run instead of retraining.
    negstudy(&demo);
    let log = std::fs::read_to_string(runs.join("demo/train_log.csv")).unwrap();
    assert_eq!(
        log.lines().count(),
        1 + 1,
        "one epoch of one step, logged once: not retrained"
    );
}
