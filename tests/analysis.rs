//! The analyses: a hand-built case with every CSV and summary value derived
//! by hand, the fast pass against the straightforward reference, the
//! analyses' bands against `difficulty::Selector` (what the trainer uses),
//! the CLI end to end, and bad inputs.

use negstudy::analysis::consistency::ConsistencyAnalysis;
use negstudy::analysis::{pass, reference, registry, AnalysisInput, Params, Side};
use negstudy::difficulty::{NegativeSet, Selector};
use negstudy::hierarchy::{ClassLcaTable, Hierarchy};
use negstudy::rng::{seeded, Rng};
use negstudy::store::{Dump, DumpMeta, Matrix};
use rand::Rng as _;
use std::path::Path;
use std::process::Command;

/// The hand-built case. Negatives on the unit circle, labels [0, 0, 1, 1]:
/// n0 = (1,0), n1 = (0,1), n2 = (−1,0), n3 = (0,−1).
/// Queries: q0 = (1,0) class 0, q1 = (0,−1) class 1, q2 = (1,0) class 1.
/// Classes: 0 = T-shirt/top (jersey, n03595614, max_depth 10), 1 = Trouser
/// (n04489008, max_depth 9); their LCA is garment (depth 8), so the class
/// LCA table is [[10, 8], [8, 9]] (fashion_mnist_lca_nltk.tsv).
///
/// Ranks (ascending score, ties → lower index easier), M = 4:
///   q0 scores [1, 0, −1, 0] → n2, n1, n3, n0   (hard = n0, same class)
///   q1 scores [0, −1, 0, 1] → n1, n0, n2, n3   (hard = n3, same class)
///   q2 scores [1, 0, −1, 0] → n2, n1, n3, n0   (hard = n0, other class)
/// With 4 bins (one rank each) and hard = 25 %:
///   bin 0: q0→n2 ✗, q1→n1 ✗, q2→n2 ✓  same-class 1/3, LCA (8+8+9)/3 = 25/3
///   bin 1: q0→n1 ✓, q1→n0 ✗, q2→n1 ✗  1/3, (10+8+8)/3 = 26/3
///   bin 2: q0→n3 ✗, q1→n2 ✓, q2→n3 ✓  2/3, (8+9+9)/3 = 26/3
///   bin 3: q0→n0 ✓, q1→n3 ✓, q2→n0 ✗  2/3, (10+9+8)/3 = 9
const CLASSES: [&str; 2] = ["T-shirt/top", "Trouser"];
const WNIDS: [&str; 2] = ["n03595614", "n04489008"];

fn hand_dump() -> Dump {
    // Rows 0..3 are the queries, rows 3..7 the negatives.
    let z = vec![1., 0., 0., -1., 1., 0., 1., 0., 0., 1., -1., 0., 0., -1.];
    Dump {
        z: Matrix::new(7, 2, z).unwrap(),
        h: None,
        label: vec![0, 1, 1, 0, 0, 1, 1],
        index: None,
        meta: DumpMeta {
            classes: CLASSES.iter().map(|s| s.to_string()).collect(),
            wnids: Some(WNIDS.iter().map(|s| s.to_string()).collect()),
            ..DumpMeta::default()
        },
    }
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-12 * b.abs().max(1.0),
        "{what}: {a} vs {b}"
    );
}

fn csv(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn num(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: '{s}'"))
}

fn negstudy(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_negstudy"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn hand_built_case_every_table_and_summary_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = hand_dump();
    // Queries and negatives as separate files, like query vs momentum encoders.
    let split = |rows: std::ops::Range<usize>| {
        let idx: Vec<usize> = rows.collect();
        Dump {
            z: d.z.select_rows(&idx),
            label: idx.iter().map(|&i| d.label[i]).collect(),
            h: None,
            index: None,
            meta: d.meta.clone(),
        }
    };
    let (qf, nf) = (
        dir.path().join("q.safetensors"),
        dir.path().join("n.safetensors"),
    );
    split(0..3).save(&qf).unwrap();
    split(3..7).save(&nf).unwrap();
    let out = dir.path().join("report");
    let o = negstudy(&[
        "analyze",
        "all",
        "--queries",
        qf.to_str().unwrap(),
        "--negatives",
        nf.to_str().unwrap(),
        "--bins",
        "4",
        "--fine-bins",
        "4",
        "--hard-percent",
        "25",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let t = csv(&out.join("same_class_by_bin.csv"));
    assert_eq!(t[0], ["bin", "lo", "hi", "same_class_rate", "pairs"]);
    let rates = [1. / 3., 1. / 3., 2. / 3., 2. / 3.];
    for b in 0..4 {
        assert_eq!(num(&t[b + 1][0]), b as f64);
        close(num(&t[b + 1][1]), 25.0 * b as f64, "lo");
        close(num(&t[b + 1][2]), 25.0 * (b + 1) as f64, "hi");
        close(num(&t[b + 1][3]), rates[b], "same-class rate");
        assert_eq!(t[b + 1][4], "3");
    }
    let t = csv(&out.join("wordnet_by_bin.csv"));
    assert_eq!(t[0], ["bin", "lo", "hi", "mean_lca_depth", "pairs"]);
    for (b, want) in [25. / 3., 26. / 3., 26. / 3., 9.].iter().enumerate() {
        close(num(&t[b + 1][3]), *want, "LCA depth");
    }
    // Fine bins: mean dot −1, 0, 0, 1 (bin 0 is the three q·n = −1 pairs).
    let t = csv(&out.join("anticorrelated_by_bin.csv"));
    assert_eq!(
        t[0],
        [
            "bin",
            "lo",
            "hi",
            "mean_dot",
            "same_class_rate",
            "mean_lca_depth",
            "pairs"
        ]
    );
    for (b, dot) in [-1., 0., 0., 1.].iter().enumerate() {
        close(num(&t[b + 1][3]), *dot, "mean dot");
        close(num(&t[b + 1][4]), rates[b], "fine same-class");
    }
    // 100 bins over [−1, 1]: three −1s in bin 0, six 0s in bin 50, three 1s clamp into bin 99.
    let t = csv(&out.join("dot_histogram.csv"));
    assert_eq!(t[0], ["lo", "hi", "count"]);
    assert_eq!(t.len(), 101);
    let counts: Vec<&str> = t[1..].iter().map(|r| r[2].as_str()).collect();
    assert_eq!((counts[0], counts[50], counts[99]), ("3", "6", "3"));
    assert_eq!(counts.iter().map(|c| num(c)).sum::<f64>(), 12.0);
    // Class pairs: (0,0) q0→n0,n1: (1+0)/2; (0,1) q0→n2,n3: (−1+0)/2;
    // (1,0) q1,q2→n0,n1: (0−1+1+0)/4; (1,1) q1,q2→n2,n3: (0+1−1+0)/4.
    let t = csv(&out.join("class_pairs.csv"));
    assert_eq!(
        t[0],
        [
            "query_class",
            "negative_class",
            "query_name",
            "negative_name",
            "mean_dot",
            "pairs"
        ]
    );
    let rows: Vec<(String, String, f64, String)> = t[1..]
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), num(&r[4]), r[5].clone()))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("0".into(), "1".into(), -0.5, "2".into()),
            ("1".into(), "0".into(), 0.0, "4".into()),
            ("1".into(), "1".into(), 0.0, "4".into()),
            ("0".into(), "0".into(), 0.5, "2".into()),
        ]
    );
    assert_eq!(
        (t[1][2].as_str(), t[1][3].as_str()),
        ("T-shirt/top", "Trouser")
    );
    // Hard counts n0: q0, q2; n3: q1 → frequencies 2/3, 0, 0, 1/3.
    let t = csv(&out.join("hard_frequency.csv"));
    assert_eq!(t[0], ["negative", "hard_frequency"]);
    for (j, f) in [2. / 3., 0., 0., 1. / 3.].iter().enumerate() {
        assert_eq!(t[j + 1][0], j.to_string());
        close(num(&t[j + 1][1]), *f, "hard frequency");
    }
    let t = csv(&out.join("consistency_pdf.csv"));
    assert_eq!(t[0], ["lo", "hi", "real_density", "shuffled_density"]);
    let width = num(&t[1][1]) - num(&t[1][0]);
    for col in [2, 3] {
        let mass: f64 = t[1..].iter().map(|r| num(&r[col]) * width).sum();
        close(mass, 1.0, "density integrates to 1");
    }

    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    // Same class per query: hard [1, 1, 0], easy [1/3, 1/3, 2/3].
    let sc = &s["same_class"];
    close(f(&sc["hard_mean"]), 2. / 3., "hard mean");
    close(f(&sc["easy_mean"]), 4. / 9., "easy mean");
    // t = (2/3 − 4/9)/sqrt(pooled·(2/3)) = 2/√10; Welch df = 200/82;
    // p: scipy.stats.ttest_ind([1,1,0],[1/3,1/3,2/3]) → 0.5614380442505258,
    //    equal_var=False → 0.5813147638521414.
    close(f(&sc["student"]["t"]), 2.0 / 10f64.sqrt(), "student t");
    close(f(&sc["student"]["df"]), 4.0, "student df");
    assert!((f(&sc["student"]["p"]) - 0.5614380442505258).abs() < 1e-10);
    close(f(&sc["welch"]["df"]), 200.0 / 82.0, "welch df");
    assert!((f(&sc["welch"]["p"]) - 0.5813147638521414).abs() < 1e-10);
    // WordNet per query: hard [10, 9, 8], easy [26/3, 25/3, 26/3]; t = 4/√28,
    // Welch df = 1568/730; scipy.stats.ttest_ind([10,9,8],[26/3,25/3,26/3]) p = 0.49176700102216864,
    // equal_var=False p = 0.523832776250488.
    let wn = &s["wordnet"];
    close(f(&wn["hard_mean"]), 9.0, "hard LCA");
    close(f(&wn["easy_mean"]), 77.0 / 9.0, "easy LCA");
    close(f(&wn["student"]["t"]), 4.0 / 28f64.sqrt(), "wordnet t");
    assert!((f(&wn["student"]["p"]) - 0.49176700102216864).abs() < 1e-10);
    close(f(&wn["welch"]["df"]), 1568.0 / 730.0, "wordnet welch df");
    assert!((f(&wn["welch"]["p"]) - 0.523832776250488).abs() < 1e-10);
    // Anti-correlated (q·n < −0.3): the three −1 pairs of 12; one same-class
    // (q2→n2); LCA 25/3. The rest: 5 of 9 same-class, LCA (104 − 25)/9, mean dot 3/9.
    let an = &s["anticorrelated"];
    close(f(&an["threshold"]), -0.3, "threshold");
    close(f(&an["fraction"]), 0.25, "fraction");
    close(
        f(&an["anticorrelated"]["same_class_rate"]),
        1. / 3.,
        "anti same",
    );
    close(
        f(&an["anticorrelated"]["mean_lca_depth"]),
        25. / 3.,
        "anti LCA",
    );
    close(f(&an["anticorrelated"]["mean_dot"]), -1.0, "anti dot");
    close(f(&an["rest"]["same_class_rate"]), 5. / 9., "rest same");
    close(f(&an["rest"]["mean_lca_depth"]), 79. / 9., "rest LCA");
    close(f(&an["rest"]["mean_dot"]), 1. / 3., "rest dot");
    // Consistency: population std of [2/3, 0, 0, 1/3] = √11/12.
    let co = &s["consistency"];
    close(f(&co["real_std"]), 11f64.sqrt() / 12.0, "real std");
    close(f(&co["max_frequency"]), 2. / 3., "max frequency");
    assert_eq!(co["max_negative"], 0);
    assert!(co["ks"]["p"].as_f64().is_some() && co["ks"]["method"] == "exact");
    assert_eq!(
        s["class_pairs"]["most_anticorrelated"]["query_class"],
        "T-shirt/top"
    );

    // Index and manifest.
    let index = std::fs::read_to_string(out.join("index.md")).unwrap();
    for f in [
        "same_class.png",
        "wordnet.png",
        "anticorrelated.png",
        "class_pairs.png",
        "consistency.png",
    ] {
        assert!(index.contains(f), "index.md links {f}");
        let bytes = std::fs::read(out.join(f)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{f} is a PNG");
    }
    for c in [
        "same_class_by_bin.csv",
        "wordnet_by_bin.csv",
        "anticorrelated_by_bin.csv",
        "dot_histogram.csv",
        "hard_frequency.csv",
        "consistency_pdf.csv",
        "class_pairs.csv",
    ] {
        assert!(index.contains(c), "index.md names {c}");
    }
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["inputs"].as_array().unwrap().len(), 2);
    assert_eq!(
        m["inputs"][0]["sha256"],
        negstudy::report::sha256_file(&qf).unwrap()
    );
    assert_eq!(m["parameters"]["hard_percent"], 25.0);
    assert_eq!(m["seed"], 0);
    assert_eq!(m["negstudy_version"], negstudy::VERSION);
}

/// Random embeddings with dyadic coordinates: every dot product and every
/// sum of them is exact in f32/f64, so GEMM and naive loops agree bit for
/// bit and ties are frequent.
fn dyadic_side(rows: usize, d: usize, classes: i64, rng: &mut Rng) -> Side {
    let z: Vec<f32> = (0..rows * d)
        .map(|_| (rng.random_range(0..9) as f32 - 4.0) / 4.0)
        .collect();
    Side {
        z: Matrix::new(rows, d, z).unwrap(),
        label: (0..rows)
            .map(|_| rng.random_range(0..classes as u64) as i64)
            .collect(),
        rows: (0..rows).collect(),
    }
}

fn fmnist_lca() -> ClassLcaTable {
    let (_, wnids) = negstudy::data::classes::fashion_mnist();
    ClassLcaTable::new(Hierarchy::bundled(), &wnids).unwrap()
}

#[test]
fn fast_pass_equals_reference_with_ties_and_self_exclusion() {
    let mut rng = seeded(42);
    for (nq, nn, d) in [(37, 53, 3), (64, 200, 8), (5, 41, 2)] {
        let queries = dyadic_side(nq, d, 10, &mut rng);
        let negatives = dyadic_side(nn, d, 10, &mut rng);
        for self_exclusion in [false, true] {
            let self_negative: Vec<Option<u32>> = (0..nq)
                .map(|i| (self_exclusion && i % 3 == 0).then_some((i * 7 % nn) as u32))
                .collect();
            let input = AnalysisInput {
                queries: queries.clone(),
                negatives: negatives.clone(),
                self_negative,
                classes: (0..10).map(|c| c.to_string()).collect(),
                lca: Some(fmnist_lca()),
            };
            for (bins, fine, hard) in [(20, 100, 5.0), (7, 13, 12.5)] {
                let params = Params {
                    bins,
                    fine_bins: fine,
                    hard_percent: hard,
                    memory_budget: 4 * nn * 5,
                    ..Params::default()
                };
                // Every registered analysis's totals, compared exactly.
                let all = registry::ANALYSES;
                let fast = pass::run(&input, &params, all, &|_| {}).unwrap();
                let slow = reference::run(&input, &params, all).unwrap();
                let difference = fast.first_difference(&slow);
                assert!(
                    difference.is_none(),
                    "nq={nq} nn={nn} d={d} self_exclusion={self_exclusion} bins={bins}: {difference:?}"
                );
            }
        }
    }
}

#[test]
fn analysis_hard_set_equals_the_selector_the_trainer_uses() {
    let mut rng = seeded(7);
    let negatives = dyadic_side(300, 4, 10, &mut rng);
    let queries = dyadic_side(25, 4, 10, &mut rng);
    for hard in [5.0, 0.1 * 1000.0 / 300.0, 37.5] {
        let params = Params {
            hard_percent: hard,
            ..Params::default()
        };
        let expr =
            NegativeSet::parse(&format!("band({},100)", 100.0 - hard)).unwrap_or_else(|_| {
                NegativeSet::Band(negstudy::difficulty::Band::new(100.0 - hard, 100.0).unwrap())
            });
        let selector = Selector::new(expr);
        for qi in 0..queries.z.rows() {
            let one = Side {
                z: queries.z.select_rows(&[qi]),
                label: vec![queries.label[qi]],
                rows: vec![qi],
            };
            let input = AnalysisInput {
                queries: one,
                negatives: negatives.clone(),
                self_negative: vec![None],
                classes: (0..10).map(|c| c.to_string()).collect(),
                lca: None,
            };
            let r = pass::run_one(&input, &params, &ConsistencyAnalysis).unwrap();
            let scores: Vec<f32> = (0..300)
                .map(|j| {
                    queries
                        .z
                        .row(qi)
                        .iter()
                        .zip(negatives.z.row(j))
                        .map(|(a, b)| a * b)
                        .sum()
                })
                .collect();
            let selected = selector
                .select(&scores, None, None, &mut Vec::new())
                .unwrap();
            // One query: a negative's hard frequency is 1 exactly when it is hard.
            let from_analysis: Vec<bool> = r.frequency.iter().map(|&f| f == 1.0).collect();
            assert_eq!(from_analysis, selected, "query {qi}, hard {hard} %");
        }
    }
}

#[test]
fn split_mode_and_same_file_mode_run_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("syn.npz");
    let o = negstudy(&[
        "dump",
        "synthetic",
        "--out",
        dump.to_str().unwrap(),
        "--rows",
        "600",
        "--dim",
        "16",
    ]);
    assert!(o.status.success());
    let out = dir.path().join("r1");
    let o = negstudy(&[
        "analyze",
        "all",
        "--embeddings",
        dump.to_str().unwrap(),
        "--n-queries",
        "200",
        "--n-negatives",
        "300",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["same_class"]["queries"], 200);
    // Synthetic classes are separable: hard negatives share the class far more often.
    assert!(
        s["same_class"]["hard_mean"].as_f64().unwrap()
            > s["same_class"]["easy_mean"].as_f64().unwrap()
    );
    let rows = csv(&out.join("hard_frequency.csv")).len() - 1;
    assert_eq!(rows, 300);
    // Same file as queries and negatives: each query skips its own row (M = 599).
    let out2 = dir.path().join("r2");
    let o = negstudy(&[
        "analyze",
        "same-class",
        "--queries",
        dump.to_str().unwrap(),
        "--negatives",
        dump.to_str().unwrap(),
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = csv(&out2.join("same_class_by_bin.csv"));
    let pairs: f64 = t[1..].iter().map(|r| num(&r[4])).sum();
    assert_eq!(pairs, 600.0 * 599.0);
    assert!(
        !out2.join("wordnet.png").exists(),
        "only the requested analysis is written"
    );
    // Running again replaces the bundle; no temporary folder is left behind.
    let o = negstudy(&[
        "analyze",
        "same-class",
        "--queries",
        dump.to_str().unwrap(),
        "--negatives",
        dump.to_str().unwrap(),
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Runs negstudy expecting failure with every needle in its error message.
fn rejects(args: &[&str], needles: &[&str]) {
    let o = negstudy(args);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "negstudy {args:?} should fail");
    for n in needles {
        assert!(
            e.contains(n),
            "error for {args:?} should mention '{n}': {e}"
        );
    }
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let (nownids, d1, d2, empty) = (
        p("nownids.safetensors"),
        p("d1.safetensors"),
        p("d2.safetensors"),
        p("empty.safetensors"),
    );
    let out = p("r");
    // A dump without wnids, WordNet analysis requested.
    let mut d = hand_dump();
    d.meta.wnids = None;
    d.save(Path::new(&nownids)).unwrap();
    let pair = |which: &'static str, q: &str, n: &str| -> Vec<String> {
        [
            "analyze",
            which,
            "--queries",
            q,
            "--negatives",
            n,
            "--hard-percent",
            "25",
            "--out",
            &out,
        ]
        .map(String::from)
        .to_vec()
    };
    rejects(
        &strs(&pair("wordnet", &nownids, &nownids)),
        &["wnid", "--wnids"],
    );
    // ... while `all` runs without wnids, saying so in index.md.
    let o = negstudy(&strs(&pair("all", &nownids, &nownids)));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read_to_string(dir.path().join("r/index.md"))
        .unwrap()
        .contains("No wnids"));
    // Mismatched d.
    let mut other = hand_dump();
    other.z = Matrix::new(7, 1, vec![1.0; 7]).unwrap();
    other.save(Path::new(&d1)).unwrap();
    hand_dump().save(Path::new(&d2)).unwrap();
    rejects(&strs(&pair("all", &d2, &d1)), &["d = 2", "d = 1"]);
    // More queries + negatives than rows.
    rejects(
        &[
            "analyze",
            "all",
            "--embeddings",
            &d2,
            "--n-queries",
            "2000",
            "--n-negatives",
            "2000",
            "--out",
            &out,
        ],
        &["2000 queries + 2000 negatives", "7 rows"],
    );
    // Too few negatives to split: with 6 candidates the hardest 99.9 % starts
    // at rank floor(0.1·6/100) = 0, leaving no easy negatives.
    rejects(
        &[
            "analyze",
            "all",
            "--queries",
            &d2,
            "--negatives",
            &d2,
            "--hard-percent",
            "99.9",
            "--out",
            &out,
        ],
        &["6 negatives per query"],
    );
    // Empty dump.
    let e = Dump {
        z: Matrix::new(0, 2, vec![]).unwrap(),
        h: None,
        label: vec![],
        index: None,
        meta: DumpMeta::default(),
    };
    e.save(Path::new(&empty)).unwrap();
    rejects(
        &["analyze", "all", "--embeddings", &empty, "--out", &out],
        &["empty", "empty.safetensors"],
    );
    // Unknown wnid in --wnids.
    std::fs::write(dir.path().join("w.txt"), "n03595614\nn09999999\n").unwrap();
    rejects(
        &[
            "analyze",
            "all",
            "--embeddings",
            &d2,
            "--n-queries",
            "3",
            "--n-negatives",
            "4",
            "--wnids",
            &p("w.txt"),
            "--hard-percent",
            "25",
            "--out",
            &out,
        ],
        &["n09999999"],
    );
}
