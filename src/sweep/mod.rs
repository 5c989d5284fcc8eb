//! `negstudy sweep`: one recipe → many train → linear-eval (→ embed +
//! analyze) runs → the paper's tables, t-tests and plots.
//!
//! Runs live in `runs/<sweep>/<run-id>/`. A run is finished when its
//! result is in the ledger `results/<sweep>/<run-id>.json` (or its
//! `result.json` in the run folder; both written last, atomically); a rerun
//! skips finished runs and resumes interrupted ones from their last
//! checkpoint, so a sweep stopped with Ctrl-C continues where it was, and a
//! committed ledger lets a later session or another machine continue it.

pub mod aggregate;
pub mod figures;
pub mod recipe;
pub mod report;
pub mod run;
pub mod seed_variance;
pub mod shard;

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use recipe::Recipe;
pub use run::RunResult;
use run::{run_one, Roots};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Where a sweep reads and writes.
pub struct SweepOptions {
    pub runs_root: PathBuf,
    pub reports_root: PathBuf,
    /// The ledger of finished runs (`run::Roots::results`).
    pub results_root: PathBuf,
    pub jobs: usize,
    pub quiet: bool,
    /// Stop after this many runs have finished in this session (for tests and time-slicing).
    pub max_runs: Option<usize>,
    /// Train only, no report: a shard's report would show a fraction of the
    /// runs, and concurrent shards would replace each other's.
    pub report: bool,
}

/// How a sweep session ended.
#[derive(Debug)]
pub enum Ended {
    /// Every run finished and the report was written here.
    Report(PathBuf),
    /// Every run finished; no report was asked for (a shard).
    Finished,
    /// `max_runs` stopped it before every run finished.
    Stopped,
}

impl SweepOptions {
    fn roots(&self) -> Roots<'_> {
        Roots {
            runs: &self.runs_root,
            reports: &self.reports_root,
            results: &self.results_root,
        }
    }
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

/// The sweep's shared work list: workers take the next run, record its
/// result, and stop at the first error or when `max_runs` new runs finished.
struct WorkList<'a> {
    recipe: &'a Recipe,
    opts: &'a SweepOptions,
    bar: ProgressBar,
    next: AtomicUsize,
    finished_here: AtomicUsize,
    results: Mutex<Vec<Option<RunResult>>>,
    first_error: Mutex<Option<anyhow::Error>>,
}

impl WorkList<'_> {
    /// One worker: runs on `pool` (its share of the CPU threads; `None`:
    /// the global pool) until the list is done or stopped.
    fn work(&self, pool: Option<&rayon::ThreadPool>) {
        let (recipe, opts) = (self.recipe, self.opts);
        loop {
            let i = self.next.fetch_add(1, Ordering::SeqCst);
            let Some(spec) = recipe.runs.get(i) else {
                break;
            };
            if self.first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                break;
            }
            let roots = opts.roots();
            let done_before = match roots.finished(recipe, spec) {
                Ok(done) => done.is_some(),
                Err(e) => {
                    if let Ok(mut slot) = self.first_error.lock() {
                        slot.get_or_insert(e);
                    }
                    break;
                }
            };
            if !done_before
                && opts
                    .max_runs
                    .is_some_and(|m| self.finished_here.load(Ordering::SeqCst) >= m)
            {
                break;
            }
            self.bar.set_message(spec.id.clone());
            let one = || run_one(recipe, spec, roots);
            let outcome = match pool {
                Some(pool) => pool.install(one),
                None => one(),
            };
            match outcome {
                Ok(r) => {
                    if !done_before {
                        self.finished_here.fetch_add(1, Ordering::SeqCst);
                    }
                    if let Ok(mut v) = self.results.lock() {
                        v[i] = Some(r);
                    }
                }
                Err(e) => {
                    if let Ok(mut slot) = self.first_error.lock() {
                        slot.get_or_insert(e);
                    }
                }
            }
            self.bar.inc(1);
        }
    }

    /// Every run's result in recipe order, `None` if some did not run, or
    /// the first error.
    fn into_results(self) -> Result<Option<Vec<RunResult>>> {
        self.bar.finish_and_clear();
        if let Some(e) = self.first_error.into_inner().ok().flatten() {
            return Err(e);
        }
        let results: Vec<RunResult> = self
            .results
            .into_inner()
            .map_err(|_| anyhow::anyhow!("a sweep worker panicked"))?
            .into_iter()
            .flatten()
            .collect();
        Ok((results.len() == self.recipe.runs.len()).then_some(results))
    }
}

fn progress_bar(recipe: &Recipe, quiet: bool) -> ProgressBar {
    let template = "sweep {prefix} [{bar:30}] {pos}/{len} runs  {msg}  eta {eta}";
    let bar = crate::progress::bar(recipe.runs.len() as u64, template, quiet);
    bar.set_prefix(recipe.name.clone());
    bar
}

/// Runs the sweep (`jobs` runs at once) and, unless told not to, writes
/// `reports/<sweep>/`.
pub fn run(recipe: &Recipe, opts: &SweepOptions, recipe_path: &Path) -> Result<Ended> {
    let work = WorkList {
        recipe,
        opts,
        bar: progress_bar(recipe, opts.quiet),
        next: AtomicUsize::new(0),
        finished_here: AtomicUsize::new(0),
        results: Mutex::new(vec![None; recipe.runs.len()]),
        first_error: Mutex::new(None),
    };
    let pools = job_pools(opts.jobs.max(1))?;
    std::thread::scope(|scope| {
        for pool in &pools {
            let work = &work;
            scope.spawn(move || work.work(pool.as_ref()));
        }
    });
    let Some(results) = work.into_results()? else {
        return Ok(Ended::Stopped);
    };
    if !opts.report {
        return Ok(Ended::Finished);
    }
    write_report(recipe, opts, &results, recipe_path).map(Ended::Report)
}

/// `REPORTS/<report name>/` from `results`.
fn write_report(
    recipe: &Recipe,
    opts: &SweepOptions,
    results: &[RunResult],
    recipe_path: &Path,
) -> Result<PathBuf> {
    report::write_report(
        recipe,
        results,
        &opts.reports_root.join(&recipe.report_name),
        recipe_path,
    )
}

/// The report from the runs finished so far (the ledger or run folders),
/// training nothing: how the shards of a sweep are brought together.
/// Returns the report folder and the ids of the runs still missing.
pub fn collect(
    recipe: &Recipe,
    opts: &SweepOptions,
    recipe_path: &Path,
) -> Result<(PathBuf, Vec<String>)> {
    let (mut results, mut missing) = (Vec::new(), Vec::new());
    for spec in &recipe.runs {
        match opts.roots().finished(recipe, spec)? {
            Some(r) => results.push(r),
            None => missing.push(spec.id.clone()),
        }
    }
    if results.is_empty() {
        anyhow::bail!(
            "sweep '{}': no finished runs in {} to collect",
            recipe.name,
            opts.results_root.join(&recipe.name).display()
        );
    }
    Ok((write_report(recipe, opts, &results, recipe_path)?, missing))
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
