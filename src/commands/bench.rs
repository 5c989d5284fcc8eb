//! `negstudy bench`: speed measurements printed as ratios against a
//! baseline measured in the same run (no timing assertions live in tests).

use crate::analysis::{pass, reference, AnalysisInput, Params, Side};
use crate::hierarchy::ClassLcaTable;
use anyhow::{bail, Result};
use clap::Subcommand;
use std::time::Instant;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The analysis pass against a straightforward single-thread full-sort implementation.
    Analyze {
        #[arg(long, default_value_t = 2000)]
        n_queries: usize,
        #[arg(long, default_value_t = 2000)]
        n_negatives: usize,
        #[arg(long, default_value_t = 128)]
        dim: usize,
        /// Timed repetitions (the best is reported).
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Skip the baseline (for sizes where it would take too long).
        #[arg(long)]
        no_baseline: bool,
    },
}

fn best_of<T>(repeat: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let r = f()?;
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    match out {
        Some(r) => Ok((best, r)),
        None => bail!("no repetitions ran"),
    }
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Analyze {
            n_queries,
            n_negatives,
            dim,
            repeat,
            no_baseline,
        } => {
            let d = crate::synthetic::fashion_mnist_like(n_queries + n_negatives, dim, 1.0, 0)?;
            let wnids = d.meta.wnids.clone().unwrap_or_default();
            let q: Vec<usize> = (0..n_queries).collect();
            let n: Vec<usize> = (n_queries..n_queries + n_negatives).collect();
            let side = |rows: Vec<usize>| Side {
                z: d.z.select_rows(&rows),
                label: rows.iter().map(|&r| d.label[r]).collect(),
                rows,
            };
            let input = AnalysisInput {
                queries: side(q),
                negatives: side(n),
                self_negative: vec![None; n_queries],
                classes: d.meta.classes.clone(),
                lca: Some(ClassLcaTable::new(
                    crate::hierarchy::Hierarchy::bundled(),
                    &wnids,
                )?),
            };
            let params = Params::default();
            let pairs = (n_queries * n_negatives) as f64;
            println!(
                "analysis pass, {n_queries} queries × {n_negatives} negatives, d = {dim}, {} threads (best of {repeat})",
                rayon::current_num_threads()
            );
            let (ours, fast) = best_of(repeat, || pass::run(&input, &params, &|_| {}))?;
            println!(
                "  negstudy (blocked GEMM + multi-select, parallel): {ours:.3} s  ({:.3e} pairs/s)",
                pairs / ours
            );
            if !no_baseline {
                let (base, slow) = best_of(repeat, || reference::run(&input, &params))?;
                println!("  baseline (naive dot + full sort, one thread):       {base:.3} s  ({:.3e} pairs/s)", pairs / base);
                println!("  speed-up: {:.1}×", base / ours);
                let same = fast
                    .coarse
                    .iter()
                    .zip(&slow.coarse)
                    .all(|(a, b)| a.pairs == b.pairs && a.same_class == b.same_class)
                    && fast.hard_count == slow.hard_count;
                println!("  bin counts and hard counts identical to the baseline: {same}");
            }
        }
    }
    Ok(())
}
