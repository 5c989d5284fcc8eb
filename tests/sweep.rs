//! Sweeps: expansion of a recipe, stop-and-continue without redoing
//! finished runs (also after a real SIGINT), and the aggregated report.

use negstudy::stats::MeanStd;
use negstudy::sweep::aggregate::{band_panels, Group};
use negstudy::sweep::recipe::Recipe;
use negstudy::sweep::RunResult;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn recipe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny-sweep.toml")
}

/// The ledger of finished runs beside `runs`.
fn ledger(runs: &Path) -> PathBuf {
    runs.with_file_name("results")
}

/// `negstudy sweep` on the tiny recipe with these folders (the ledger
/// beside the runs).
fn sweep_command(runs: &Path, reports: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_negstudy"));
    c.args([
        "sweep",
        recipe().to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
        "--reports",
        reports.to_str().unwrap(),
        "--results",
        ledger(runs).to_str().unwrap(),
        "--quiet",
    ]);
    c
}

fn sweep(runs: &Path, reports: &Path, extra: &[&str]) -> std::process::Output {
    sweep_command(runs, reports).args(extra).output().unwrap()
}

fn results(runs: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(runs.join("tiny"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    std::fs::read_to_string(e.path().join("result.json"))
                        .ok()
                        .map(|t| (e.file_name().to_string_lossy().into_owned(), t))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn recipe_expands_conditions_axes_and_seeds() {
    let r = Recipe::load(&recipe(), "quick").unwrap();
    assert_eq!(r.runs.len(), 2 * 2 * 2);
    assert_eq!(r.runs[0].id, "baseline-t0.1-s0");
    assert_eq!(r.runs[7].id, "only-hardest-25-t0.2-s1");
    assert_eq!(r.runs[7].config.keep.as_deref(), Some("band(75,100)"));
    assert_eq!(r.runs[7].config.temperature, 0.2);
    assert_eq!(r.runs[7].config.epochs, 2, "[scale.quick] applies");
    let e = format!("{:#}", Recipe::load(&recipe(), "full").unwrap_err());
    assert!(e.contains("no [scale.full]"), "{e}");
}

#[test]
fn subsets_keep_the_full_recipes_run_ids() {
    let full = Recipe::load(&recipe(), "quick").unwrap();
    let mut r = Recipe::load(&recipe(), "quick").unwrap();
    // `0.20` is the recipe's 0.2 written differently: values compare as numbers.
    r.restrict(
        &["only hardest 25%".into()],
        &[1],
        &["temperature=0.20".into()],
    )
    .unwrap();
    let ids: Vec<&str> = r.runs.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(ids, ["baseline-t0.2-s1", "only-hardest-25-t0.2-s1"]);
    // The report's manifest and index.md name the filters.
    assert_eq!(
        r.subset,
        [
            "--only 'only hardest 25%'",
            "--seeds 1",
            "--axis temperature=0.20"
        ]
    );
    for run in &r.runs {
        let same = full.runs.iter().find(|f| f.id == run.id).unwrap();
        assert_eq!(same.config, run.config);
    }
    let bad = |axis: &str| {
        let mut r = Recipe::load(&recipe(), "quick").unwrap();
        format!("{:#}", r.restrict(&[], &[], &[axis.into()]).unwrap_err())
    };
    assert!(bad("temperature=0.3").contains("no value '0.3' (values: 0.1, 0.2)"));
    assert!(bad("lr=0.1").contains("no axis 'lr' (axes: temperature)"));
    assert!(bad("temperature").contains("expected NAME=VALUE"));
}

#[test]
fn stopped_sweeps_continue_without_redoing_finished_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (runs, reports) = (dir.path().join("runs"), dir.path().join("reports"));
    // Stop after three runs.
    let o = sweep(&runs, &reports, &["--max-runs", "3"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = results(&runs);
    assert_eq!(first.len(), 3);
    assert!(
        !reports.join("tiny").exists(),
        "no report before every run finished"
    );

    // A real Ctrl-C: interrupt while the fourth run or a later one trains.
    let mut child = sweep_command(&runs, &reports).spawn().unwrap();
    let t = Instant::now();
    while results(&runs).len() < 4 && t.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let interrupted = results(&runs);
    assert!(
        interrupted.len() >= 4,
        "the first session's runs survive the interrupt"
    );
    for r in &first {
        assert!(interrupted.contains(r), "finished run {} unchanged", r.0);
    }

    // Rerun two at a time (one thread pool per run): finishes everything,
    // leaves finished runs untouched.
    let o = sweep(&runs, &reports, &["--jobs", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all = results(&runs);
    assert_eq!(all.len(), 8);
    for r in &interrupted {
        assert!(all.contains(r), "finished run {} was not redone", r.0);
    }

    // The report: results.csv (one row per run), summary with Welch tests, plots, index.
    let out = reports.join("tiny");
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 8);
    assert!(csv.starts_with("run,condition,keep,drop,refill,temperature,seed,top1,top5,knn_top1,same_class_pct_0-85,mass_pct_0-85,"), "{csv}");
    assert!(
        csv.contains(",mass_pct_99.9-100,epochs,wall_seconds,"),
        "{csv}"
    );
    // The queue's disjoint bands carry all of the softmax mass between them.
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    for row in reader.records() {
        let row = row.unwrap();
        let cell = |name: &str| -> f64 {
            let i = header.iter().position(|h| h == name).unwrap();
            row[i].parse().unwrap()
        };
        let line = row.iter().collect::<Vec<_>>().join(",");
        let mass: f64 = ["0-85", "85-90", "90-95", "95-100"]
            .iter()
            .map(|b| cell(&format!("mass_pct_{b}")))
            .sum();
        assert!(
            (mass - 100.0).abs() < 0.01,
            "masses sum to {mass} %: {line}"
        );
    }
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert_eq!(
        summary.lines().count(),
        1 + 4,
        "2 conditions × 2 temperatures"
    );
    let hard = summary
        .lines()
        .find(|l| l.starts_with("only hardest 25%,temperature=0.1"))
        .unwrap();
    let cells: Vec<&str> = hard.split(',').collect();
    assert!(
        cells[13].parse::<f64>().is_ok(),
        "Welch p for a non-baseline condition: {hard}"
    );
    let base = summary
        .lines()
        .find(|l| l.starts_with("baseline,temperature=0.1"))
        .unwrap();
    assert_eq!(
        base.split(',').nth(13),
        Some(""),
        "no test of the baseline against itself"
    );
    for f in [
        "accuracy.png",
        "temperature.png",
        "index.md",
        "manifest.json",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let index = std::fs::read_to_string(out.join("index.md")).unwrap();
    assert!(
        index.contains("| only hardest 25% | temperature=0.2 |"),
        "{index}"
    );
    assert!(!index.contains("A subset"), "{index}");

    // A subset of finished runs is reported without training, and its
    // report names the filters.
    let o = sweep(
        &runs,
        &reports,
        &["--axis", "temperature=0.2", "--report-name", "tiny-t0.2"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(results(&runs), all, "nothing retrained");
    let sub = reports.join("tiny-t0.2");
    let csv = std::fs::read_to_string(sub.join("results.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 4,
        "2 conditions × 2 seeds at T = 0.2"
    );
    let index = std::fs::read_to_string(sub.join("index.md")).unwrap();
    assert!(
        index.contains("A subset of the recipe: `--axis temperature=0.2`"),
        "{index}"
    );
    assert!(
        !sub.join("temperature.png").exists(),
        "no change-vs-temperature plot for a single temperature"
    );
    let manifest = std::fs::read_to_string(sub.join("manifest.json")).unwrap();
    assert!(manifest.contains("--axis temperature=0.2"), "{manifest}");

    // Figure 2's band panels need a single axis point: the subset at one
    // temperature has them (its keep = band(75,100) condition), the full
    // report (two temperatures) does not.
    assert!(sub.join("bands.png").exists());
    assert!(index.contains("(bands.png)"), "{index}");
    assert!(!out.join("bands.png").exists());

    // The ledger alone (what a clone has: results/, no run folders)
    // finishes the sweep without training, with the same rows; every row
    // says what made it.
    let csv_before = std::fs::read_to_string(out.join("results.csv")).unwrap();
    std::fs::remove_dir_all(&runs).unwrap();
    assert_eq!(
        std::fs::read_dir(ledger(&runs).join("tiny"))
            .unwrap()
            .count(),
        8
    );
    let o = sweep(&runs, &reports, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!runs.join("tiny").exists(), "nothing trained");
    let csv_after = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv_after, csv_before);
    let header: Vec<&str> = csv_after.lines().next().unwrap().split(',').collect();
    for col in ["commit", "cpu", "simd", "threads"] {
        let i = header.iter().position(|h| *h == col).unwrap();
        for row in csv_after.lines().skip(1) {
            assert!(!row.split(',').nth(i).unwrap().is_empty(), "{col}: {row}");
        }
    }
}

/// A run result for `band_panels`: only the condition and filter matter.
fn result(condition: &str, keep: Option<&str>, drop: Option<&str>) -> RunResult {
    RunResult {
        id: condition.replace(' ', "-"),
        condition: condition.into(),
        axes: Vec::new(),
        seed: 0,
        keep: keep.map(Into::into),
        drop: drop.map(Into::into),
        refill: 0,
        temperature: 0.2,
        epochs: 1,
        top1: 0.8,
        top5: 0.9,
        knn_top1: 0.7,
        low_label: Vec::new(),
        baselines: None,
        queue_bands: Vec::new(),
        provenance: None,
        wall_seconds: 1.0,
    }
}

fn group(condition: &str, axes: &[(&str, &str)], top1: f64) -> Group {
    Group {
        condition: condition.into(),
        axes: axes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        runs: 3,
        top1: MeanStd {
            mean: top1,
            std: 0.5,
        },
        top5: MeanStd {
            mean: 99.0,
            std: 0.1,
        },
        knn: MeanStd {
            mean: 70.0,
            std: 1.0,
        },
        delta_top1: 0.0,
        delta_top5: 0.0,
        welch_top1: None,
        welch_top5: None,
        delta_knn: 0.0,
        welch_knn: None,
        ci_top1: None,
        ci_knn: None,
        pixels: None,
    }
}

#[test]
fn band_panels_sort_conditions_into_figure_2s_panels() {
    let results = [
        result("baseline", None, None),
        result("only 95-100", Some("band(95,100)"), None),
        result("all except 90-95", None, Some("band(90,95)")),
        result("only 0-95", Some("band(0,95)"), None),
        // A band crossed with a class filter is not a band condition.
        result(
            "hardest same class",
            None,
            Some("band(99.9,100) & same_class"),
        ),
    ];
    let groups: Vec<Group> = [
        ("baseline", 82.0),
        ("only 95-100", 81.5),
        ("all except 90-95", 82.5),
        ("only 0-95", 80.0),
        ("hardest same class", 83.0),
    ]
    .iter()
    .map(|&(c, t)| group(c, &[], t))
    .collect();
    let p = band_panels(Some("baseline"), &groups, &results).unwrap();
    assert_eq!(
        p.baseline,
        MeanStd {
            mean: 82.0,
            std: 0.5
        }
    );
    let only: Vec<(f64, f64, f64)> = p
        .only
        .iter()
        .map(|b| (b.band.lo(), b.band.hi(), b.top1.mean))
        .collect();
    assert_eq!(
        only,
        [(95.0, 100.0, 81.5), (0.0, 95.0, 80.0)],
        "recipe order"
    );
    assert_eq!(p.all_except.len(), 1);
    assert_eq!(
        (p.all_except[0].band.lo(), p.all_except[0].band.hi()),
        (90.0, 95.0)
    );

    // No baseline, or two temperatures mixed in one panel: no figure.
    assert!(band_panels(None, &groups, &results).is_none());
    let mixed = [
        group("baseline", &[("temperature", "0.1")], 82.0),
        group("only 95-100", &[("temperature", "0.1")], 81.0),
        group("baseline", &[("temperature", "0.2")], 82.0),
        group("only 95-100", &[("temperature", "0.2")], 81.0),
    ];
    assert!(band_panels(Some("baseline"), &mixed, &results).is_none());
    // No band condition at all.
    assert!(band_panels(Some("baseline"), &groups[..1], &results[..1]).is_none());
}

/// Shards of a sweep, run as separate processes (as Slurm array tasks
/// would), train disjoint runs that together are the whole recipe; the
/// shard writes no report, `--collect` names what is missing before the
/// last shard and reports every run after it.
#[test]
fn shards_train_disjoint_runs_and_collect_reports_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let (runs, reports) = (dir.path().join("runs"), dir.path().join("reports"));
    let ledger_files = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(ledger(&runs).join("tiny"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let seeds = ["--seeds", "0"];
    let list = sweep(
        &runs,
        &reports,
        &[&seeds[..], &["--shard", "2/3", "--list"]].concat(),
    );
    let listed = String::from_utf8_lossy(&list.stdout).lines().count();
    assert_eq!(
        listed, 1,
        "4 runs of seed 0 in 3 shards: the second has run 2 only"
    );
    // Shard 1 of 2 by the Slurm array's variables, then --collect.
    let o = sweep_command(&runs, &reports)
        .args(seeds)
        .args(["--shard", "slurm"])
        .env("SLURM_ARRAY_TASK_ID", "0")
        .env("SLURM_ARRAY_TASK_MIN", "0")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--collect"));
    let first = ledger_files();
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(!reports.join("tiny").exists(), "a shard writes no report");
    let o = sweep(&runs, &reports, &[&seeds[..], &["--collect"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        said.contains("2 of 4 runs") && said.contains("not finished yet"),
        "{said}"
    );
    // Shard 2 of 2: the other two runs, none of the first shard's again.
    let o = sweep(&runs, &reports, &[&seeds[..], &["--shard", "2/2"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all = ledger_files();
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(first.iter().all(|f| all.contains(f)));
    let o = sweep(&runs, &reports, &[&seeds[..], &["--collect"]].concat());
    let said = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        said.contains("4 of 4 runs") && !said.contains("not finished"),
        "{said}"
    );
    let csv = std::fs::read_to_string(reports.join("tiny").join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4);
}

/// Every sweep recipe in `analyses/` expands and validates: each of its
/// runs is a training config `train` would accept (`sweep --list`).
#[test]
fn every_committed_recipe_lists_its_runs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("analyses");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if path.extension().is_none_or(|e| e != "toml") || !text.contains("[sweep]") {
            continue;
        }
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_negstudy"))
            .args(["sweep", path.to_str().unwrap(), "--list"])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 8, "{checked} recipes");
}
