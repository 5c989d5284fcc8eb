//! How much a run's accuracy varies with its seed alone: the pooled
//! within-cell standard deviation over finished sweeps, where a cell is one
//! configuration (file, condition, filter, temperature, epochs) run with
//! several seeds. It is the number a study's seed count is computed from
//! (`negstudy study power`), so it is read from the committed result files
//! themselves — a sweep bundle's `results.csv` or a ledger folder of run
//! JSON files — never typed.

use crate::input_file::shown;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// One finished run: its cell and its two primary metrics (in %).
#[derive(Clone, Debug, PartialEq)]
pub struct RunScore {
    pub cell: String,
    /// The run's condition label and temperature (what a claim selects by).
    pub condition: String,
    pub temperature: f64,
    pub top1: f64,
    pub knn_top1: f64,
}

/// Columns that together name a cell in a `results.csv`, where present.
const CELL_COLUMNS: [&str; 6] = [
    "condition",
    "keep",
    "drop",
    "refill",
    "temperature",
    "epochs",
];

/// Most rows read from one file (a sweep has at most `recipe::MAX_RUNS`).
const MAX_ROWS: usize = 100_000;

/// The runs of a sweep bundle's `results.csv`.
fn read_csv(path: &Path) -> Result<Vec<RunScore>> {
    let file = crate::input_file::open(path)?;
    let mut reader = csv::Reader::from_reader(file);
    let header = reader
        .headers()
        .with_context(|| format!("{}: reading the header", shown(path)))?
        .clone();
    let column = |name: &str| header.iter().position(|h| h == name);
    let (Some(top1), Some(knn)) = (column("top1"), column("knn_top1")) else {
        bail!(
            "{}: not a sweep's results.csv (needs columns top1 and knn_top1)",
            shown(path)
        );
    };
    let cell_columns: Vec<usize> = CELL_COLUMNS.iter().filter_map(|c| column(c)).collect();
    let (condition, temperature) = (column("condition"), column("temperature"));
    let mut runs = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: row {}", shown(path), i + 2))?;
        if i >= MAX_ROWS {
            bail!("{}: more than {MAX_ROWS} rows", shown(path));
        }
        let number = |c: usize| -> Result<f64> {
            let text = record.get(c).unwrap_or("");
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .with_context(|| {
                    format!("{}: row {}: '{text}' is not a number", shown(path), i + 2)
                })
        };
        let key: Vec<&str> = cell_columns
            .iter()
            .map(|&c| record.get(c).unwrap_or(""))
            .collect();
        runs.push(RunScore {
            cell: format!("{} {}", shown(path), key.join("|")),
            condition: condition
                .and_then(|c| record.get(c))
                .unwrap_or("")
                .to_string(),
            temperature: match temperature {
                Some(c) => number(c)?,
                None => f64::NAN,
            },
            top1: number(top1)?,
            knn_top1: number(knn)?,
        });
    }
    Ok(runs)
}

/// The fields of a ledger entry (`results/<sweep>/<run>.json`) a cell needs.
#[derive(serde::Deserialize)]
struct LedgerEntry {
    condition: String,
    #[serde(default)]
    keep: Option<String>,
    #[serde(default)]
    drop: Option<String>,
    #[serde(default)]
    refill: usize,
    temperature: f64,
    epochs: usize,
    #[serde(default)]
    axes: Vec<(String, String)>,
    top1: f64,
    knn_top1: f64,
}

/// The runs of a ledger folder (every `*.json` in it).
fn read_ledger(dir: &Path) -> Result<Vec<RunScore>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", shown(dir)))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    if files.len() > MAX_ROWS {
        bail!("{}: more than {MAX_ROWS} run files", shown(dir));
    }
    files
        .iter()
        .map(|f| {
            let text = crate::input_file::read_to_string(f)?;
            let e: LedgerEntry = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a sweep's run result", shown(f)))?;
            Ok(RunScore {
                cell: format!(
                    "{} {}|{:?}|{:?}|{}|{}|{}|{:?}",
                    shown(dir),
                    e.condition,
                    e.keep,
                    e.drop,
                    e.refill,
                    e.temperature,
                    e.epochs,
                    e.axes
                ),
                condition: e.condition.clone(),
                temperature: e.temperature,
                // The ledger holds fractions; results.csv and reports, %.
                top1: e.top1 * 100.0,
                knn_top1: e.knn_top1 * 100.0,
            })
        })
        .collect()
}

/// The runs recorded at `path`: a `results.csv` or a ledger folder.
pub fn read_runs(path: &Path) -> Result<Vec<RunScore>> {
    if path.is_dir() {
        read_ledger(path)
    } else {
        read_csv(path)
    }
}

/// A pooled within-cell standard deviation.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Pooled {
    /// Cells with at least two runs (the others say nothing about seeds).
    pub cells: usize,
    /// Runs in those cells.
    pub runs: usize,
    /// Degrees of freedom: Σ (runs in a cell − 1).
    pub df: usize,
    /// sqrt(Σ (n_i − 1)·s_i² / df), s_i the cell's sample sd (ddof 1).
    pub sd: f64,
}

/// The pooled seed standard deviation of `metric` over the cells of `runs`.
pub fn pooled_sd(runs: &[RunScore], metric: impl Fn(&RunScore) -> f64) -> Option<Pooled> {
    let mut cells: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in runs {
        cells.entry(&r.cell).or_default().push(metric(r));
    }
    let (mut used, mut n, mut df, mut ss) = (0, 0, 0, 0.0);
    for values in cells.values().filter(|v| v.len() >= 2) {
        used += 1;
        n += values.len();
        df += values.len() - 1;
        ss += crate::stats::variance(values, 1) * (values.len() - 1) as f64;
    }
    (df > 0).then(|| Pooled {
        cells: used,
        runs: n,
        df,
        sd: (ss / df as f64).sqrt(),
    })
}
