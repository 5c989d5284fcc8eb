//! `negstudy sweep`: one recipe → many train → linear-eval (→ embed +
//! analyze) runs → the paper's tables, t-tests and plots.
//!
//! Runs live in `runs/<sweep>/<run-id>/`. A run is finished when its
//! `result.json` exists (written last, atomically); a rerun skips finished
//! runs and resumes interrupted ones from their last checkpoint, so a sweep
//! stopped with Ctrl-C continues where it was.

pub mod aggregate;
pub mod recipe;

use crate::commands::train::{embed, linear_eval, EmbedArgs, EvalArgs, Split};
use crate::train::{checkpoint, trainer};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use recipe::{Recipe, RunSpec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What a finished run reports.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunResult {
    pub id: String,
    pub condition: String,
    pub axes: Vec<(String, String)>,
    pub seed: u64,
    pub keep: Option<String>,
    pub drop: Option<String>,
    pub refill: usize,
    pub temperature: f64,
    pub epochs: usize,
    pub top1: f64,
    pub top5: f64,
    pub knn_top1: f64,
    /// Wall seconds of this run: training in earlier sessions up to their
    /// last checkpoint (from the checkpoint, so a Ctrl-C'd session counts
    /// too) plus the finishing session's training and evaluation.
    pub wall_seconds: f64,
}

/// Where a sweep reads and writes.
pub struct SweepOptions {
    pub runs_root: PathBuf,
    pub reports_root: PathBuf,
    pub jobs: usize,
    pub quiet: bool,
    /// Stop after this many runs have finished in this session (for tests and time-slicing).
    pub max_runs: Option<usize>,
}

const RESULT: &str = "result.json";

/// Trains and evaluates one run unless it already finished.
fn run_one(recipe: &Recipe, spec: &RunSpec, opts: &SweepOptions) -> Result<RunResult> {
    let dir = opts.runs_root.join(&recipe.name).join(&spec.id);
    if let Ok(text) = std::fs::read_to_string(dir.join(RESULT)) {
        return serde_json::from_str(&text)
            .with_context(|| format!("{}: corrupt {RESULT}", dir.display()));
    }
    let started = std::time::Instant::now();
    // Earlier sessions' training up to their last checkpoint (the rest of
    // an interrupted epoch is redone here).
    let latest = checkpoint::latest(&dir)?;
    let earlier_seconds = match &latest {
        Some(ck) => checkpoint::trained_seconds(ck)?,
        None => 0.0,
    };
    let resume = latest.is_some();
    trainer::train(spec.config.clone(), &dir, resume, true, None)
        .with_context(|| format!("run {}", spec.id))?;
    let eval = linear_eval(EvalArgs {
        checkpoint: dir.clone(),
        data: None,
        baselines: false,
        probe_epochs: 60,
        out: None,
    })?;
    if recipe.embed_analyze {
        let dump = dir.join("test.safetensors");
        embed(EmbedArgs {
            checkpoint: dir.clone(),
            data: None,
            split: Split::Test,
            encoder: "query".into(),
            out: dump.clone(),
        })?;
        let out = opts
            .reports_root
            .join(&recipe.report_name)
            .join("runs")
            .join(&spec.id);
        crate::commands::analyze::run(crate::commands::analyze::AnalyzeArgs::defaults_for(
            dump, out,
        ))?;
    }
    let f = |k: &str| eval[k].as_f64().unwrap_or(f64::NAN);
    let c = &spec.config;
    let result = RunResult {
        id: spec.id.clone(),
        condition: spec.condition.clone(),
        axes: spec.axes.clone(),
        seed: spec.seed,
        keep: c.keep.clone(),
        drop: c.drop.clone(),
        refill: c.refill,
        temperature: c.temperature,
        epochs: c.epochs,
        top1: f("top1"),
        top5: f("top5"),
        knn_top1: f("knn_top1"),
        wall_seconds: earlier_seconds + started.elapsed().as_secs_f64(),
    };
    crate::atomic::write_bytes(
        &dir.join(RESULT),
        crate::atomic::Kind::OwnedFile,
        serde_json::to_string_pretty(&result)?.as_bytes(),
    )?;
    Ok(result)
}

/// One thread pool per concurrent run, splitting the CPU threads between
/// them (`None`: a single run uses the global pool). Two runs on one thread
/// each train ~1.6x more images per second on 2 cores than one run on two
/// threads, because a narrow network's per-layer parallel work is too small
/// to keep both threads busy; sharing one pool between runs would
/// interleave their tasks instead.
fn job_pools(jobs: usize) -> Result<Vec<Option<rayon::ThreadPool>>> {
    if jobs == 1 {
        return Ok(vec![None]);
    }
    let threads = (rayon::current_num_threads() / jobs).max(1);
    (0..jobs)
        .map(|j| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(move |i| format!("sweep-job{j}-{i}"))
                .build()
                .map(Some)
                .context("building a sweep job's thread pool")
        })
        .collect()
}

/// Runs the sweep (`jobs` runs at once) and writes `reports/<sweep>/`.
/// Returns the report folder, or None when `max_runs` stopped it early.
pub fn run(recipe: &Recipe, opts: &SweepOptions, recipe_path: &Path) -> Result<Option<PathBuf>> {
    let bar = if opts.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(recipe.runs.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "sweep {prefix} [{bar:30}] {pos}/{len} runs  {msg}  eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(recipe.name.clone());
    let next = AtomicUsize::new(0);
    let finished_here = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<RunResult>>> = Mutex::new(vec![None; recipe.runs.len()]);
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let jobs = opts.jobs.max(1);
    let pools = job_pools(jobs)?;
    std::thread::scope(|scope| {
        for pool in &pools {
            let next = &next;
            let finished_here = &finished_here;
            let results = &results;
            let first_error = &first_error;
            let bar = &bar;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(spec) = recipe.runs.get(i) else {
                    break;
                };
                if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                    break;
                }
                let done_before = opts
                    .runs_root
                    .join(&recipe.name)
                    .join(&spec.id)
                    .join(RESULT)
                    .exists();
                if !done_before
                    && opts
                        .max_runs
                        .is_some_and(|m| finished_here.load(Ordering::SeqCst) >= m)
                {
                    break;
                }
                bar.set_message(spec.id.clone());
                let outcome = match pool {
                    Some(pool) => pool.install(|| run_one(recipe, spec, opts)),
                    None => run_one(recipe, spec, opts),
                };
                match outcome {
                    Ok(r) => {
                        if !done_before {
                            finished_here.fetch_add(1, Ordering::SeqCst);
                        }
                        if let Ok(mut v) = results.lock() {
                            v[i] = Some(r);
                        }
                    }
                    Err(e) => {
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                    }
                }
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let results: Vec<RunResult> = results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a sweep worker panicked"))?
        .into_iter()
        .flatten()
        .collect();
    if results.len() < recipe.runs.len() {
        return Ok(None);
    }
    aggregate::write_report(
        recipe,
        &results,
        &opts.reports_root.join(&recipe.report_name),
        recipe_path,
    )
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::job_pools;

    #[test]
    fn concurrent_runs_split_the_cpu_threads() {
        assert!(job_pools(1).unwrap()[0].is_none(), "one run: global pool");
        let per_job = (rayon::current_num_threads() / 2).max(1);
        let pools = job_pools(2).unwrap();
        assert_eq!(pools.len(), 2);
        for pool in pools {
            let threads = pool.unwrap().install(rayon::current_num_threads);
            assert_eq!(threads, per_job);
        }
    }
}
