//! `negstudy sweep RECIPE`.

use crate::sweep::recipe::Recipe;
use crate::sweep::shard::Shard;
use crate::sweep::{self, Ended, SweepOptions};
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Sweep recipe (analyses/*.toml with [sweep], [train], [[condition]]).
    pub recipe: PathBuf,
    /// quick (CPU, minutes per run) or full (GPU).
    #[arg(long, default_value = "quick")]
    pub scale: String,
    /// Runs trained at once, each with its own 1/N share of the CPU threads (mind memory).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Run folders (checkpoints) go to RUNS/<sweep>/<run>/.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Report bundles go to REPORTS/<sweep>/.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// The ledger of finished runs, RESULTS/<sweep>/<run>.json (commit it: a
    /// run found there is not trained again).
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Stop after this many runs finish in this session (rerun to continue).
    #[arg(long)]
    pub max_runs: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Only these conditions (labels, comma-separated); the baseline is always kept.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Only these seeds (comma-separated), e.g. for a preliminary one-seed pass.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Only these values of an axis, e.g. `--axis temperature=0.07` (repeatable).
    #[arg(long = "axis", value_name = "NAME=V[,V...]")]
    pub axis: Vec<String>,
    /// Report folder name (default: the recipe's sweep name; set it when filtering).
    #[arg(long)]
    pub report_name: Option<String>,
    /// Print the runs the recipe expands to and exit.
    #[arg(long)]
    pub list: bool,
    /// Run only shard I of N (I/N, 1-based: every N-th run from the I-th), or
    /// `slurm` for the task of a Slurm job array; no report (see --collect).
    #[arg(long, value_name = "I/N|slurm")]
    pub shard: Option<String>,
    /// Train nothing: write the report from the runs finished so far (after
    /// the shards), naming those still missing.
    #[arg(long, conflicts_with_all = ["shard", "list"])]
    pub collect: bool,
}

pub fn run(a: SweepArgs) -> Result<()> {
    let mut recipe = Recipe::load(&a.recipe, &a.scale)?;
    recipe.restrict(&a.only, &a.seeds, &a.axis)?;
    if let Some(n) = &a.report_name {
        crate::atomic::check_name(n, "--report-name")?;
        recipe.report_name = n.clone();
    }
    let shard = a
        .shard
        .as_deref()
        .map(|s| Shard::parse(s, |k| std::env::var(k).ok()))
        .transpose()?;
    if let Some(s) = shard {
        let mut position = 0;
        recipe.runs.retain(|_| {
            position += 1;
            s.takes(position - 1)
        });
        if recipe.runs.is_empty() {
            bail!("--shard {s}: the recipe has fewer runs than shards, none for this one");
        }
    }
    if a.list {
        for r in &recipe.runs {
            println!("{}\t{}\tseed {}", r.id, r.condition, r.seed);
        }
        return Ok(());
    }
    let opts = SweepOptions {
        runs_root: a.runs,
        reports_root: a.reports,
        results_root: a.results,
        jobs: a.jobs,
        quiet: a.quiet,
        max_runs: a.max_runs,
        report: shard.is_none(),
    };
    if a.collect {
        let (dir, missing) = sweep::collect(&recipe, &opts, &a.recipe)?;
        eprintln!(
            "sweep '{}': report of {} of {} runs: {}/index.html{}",
            recipe.name,
            recipe.runs.len() - missing.len(),
            recipe.runs.len(),
            dir.display(),
            if missing.is_empty() {
                String::new()
            } else {
                format!("; not finished yet: {}", missing.join(", "))
            }
        );
        return Ok(());
    }
    match sweep::run(&recipe, &opts, &a.recipe)? {
        Ended::Report(dir) => eprintln!(
            "sweep '{}' complete: {}/index.html",
            recipe.name,
            dir.display()
        ),
        Ended::Finished => eprintln!(
            "sweep '{}' shard {} finished its {} runs; when every shard has, write the report with `negstudy sweep {} --collect`",
            recipe.name,
            shard.map_or(String::new(), |s| s.to_string()),
            recipe.runs.len(),
            a.recipe.display()
        ),
        Ended::Stopped => eprintln!(
            "sweep '{}' stopped early (--max-runs); rerun to continue",
            recipe.name
        ),
    }
    Ok(())
}
