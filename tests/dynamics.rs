//! `analyze dynamics` on a real (tiny) run with kept checkpoints, and on
//! a series whose dumps are identical (ρ = 1, every overlap 1).

use std::path::Path;

mod common;
use common::{negstudy, train_tiny};

/// `analyze dynamics` over `source` (100 queries, 200 negatives) into
/// `out`; its summary.json.
fn dynamics(source: &[&str], out: &Path) -> serde_json::Value {
    let sampling = ["--n-queries", "100", "--n-negatives", "200"];
    let out_arg = ["--out", out.to_str().unwrap()];
    negstudy(
        &[
            &["analyze", "dynamics"],
            source,
            &sampling[..],
            &out_arg[..],
        ]
        .concat(),
    );
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn dynamics_follows_a_run_with_kept_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let run = train_tiny(&dir.path().join("runs"), "kept", &["--keep-every", "1"]);
    let kept: Vec<_> = ["checkpoint-0001", "checkpoint-0002", "checkpoint-0003"]
        .iter()
        .map(|c| run.join(c))
        .collect();
    assert!(
        kept.iter().all(|c| c.join("state.json").exists()),
        "every epoch kept"
    );
    let out = dir.path().join("dyn");
    let s = dynamics(&["--run", run.to_str().unwrap()], &out);
    let pairs = s["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[0]["from"], "checkpoint-0001");
    assert_eq!(pairs[1]["to"], "checkpoint-0003");
    for p in pairs {
        let rho = p["spearman_mean"].as_f64().unwrap();
        assert!(rho > -1.0 && rho < 1.0, "{p}");
        for h in ["1", "5"] {
            let j = p["jaccard_hardest_mean"][h].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&j), "{p}");
        }
    }
    // The four bands 0-85, 85-90, 90-95, 95-100 split the softmax mass.
    for c in s["checkpoints"].as_array().unwrap() {
        let m = &c["mass"];
        let total: f64 = ["0-85", "85-90", "90-95", "95-100"]
            .iter()
            .map(|b| m[b].as_f64().unwrap())
            .sum();
        assert!((total - 1.0).abs() < 1e-9, "{c}");
        let same = c["hard_same_class"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&same), "{c}");
    }
    for f in [
        "dynamics_pairs.csv",
        "dynamics_queries.csv",
        "dynamics_by_checkpoint.csv",
        "dynamics.png",
        "index.md",
        "index.html",
        "manifest.json",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let per_query = std::fs::read_to_string(out.join("dynamics_queries.csv")).unwrap();
    assert_eq!(per_query.lines().count(), 1 + 2 * 100);

    // The same dump twice: nothing moved.
    let dump = run.join("dumps").join("checkpoint-0002.safetensors");
    let d = dump.to_str().unwrap();
    let same = dynamics(&["--series", d, d], &dir.path().join("same"));
    let p = &same["pairs"][0];
    assert_eq!(p["spearman_mean"].as_f64().unwrap(), 1.0, "{p}");
    assert_eq!(p["jaccard_hardest_mean"]["1"].as_f64().unwrap(), 1.0, "{p}");
    assert_eq!(p["jaccard_hardest_mean"]["5"].as_f64().unwrap(), 1.0, "{p}");
}
