//! `negstudy bench`: speed measurements printed as ratios against a
//! baseline measured in the same run (no timing assertions live in tests).

use crate::analysis::{pass, reference, AnalysisInput, Params, Side};
use crate::hierarchy::ClassLcaTable;
use anyhow::{bail, Result};
use clap::Subcommand;
use std::time::Instant;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Training throughput (images/s) of the real training loop, and the cost
    /// of a negative filter as a ratio against no filter, measured in the same run.
    Train {
        #[arg(long, value_enum, default_value = "resnet-narrow")]
        arch: crate::model::Arch,
        #[arg(long, default_value_t = 256)]
        batch_size: usize,
        #[arg(long, default_value_t = 4096)]
        queue_size: usize,
        /// Timed steps (after one warm-up step).
        #[arg(long, default_value_t = 8)]
        steps: usize,
        /// Filter whose selection cost is measured (empty: throughput only).
        #[arg(long, default_value = "band(99.9,100) & same_class")]
        drop: String,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
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

/// Mean images/s of a short run (the first step, which warms up, excluded).
fn throughput(config: crate::train::config::TrainConfig) -> Result<f64> {
    let dir = tempfile_dir()?;
    crate::train::trainer::train(config, &dir, false, true, None)?;
    let log = std::fs::read_to_string(dir.join(crate::train::checkpoint::LOG_FILE))?;
    let ips: Vec<f64> = log
        .lines()
        .skip(2)
        .filter_map(|l| l.rsplit(',').next()?.parse().ok())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    if ips.is_empty() {
        bail!("no timed steps");
    }
    // Harmonic mean = total images / total time over equal-sized steps.
    Ok(ips.len() as f64 / ips.iter().map(|v| 1.0 / v).sum::<f64>())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "negstudy-bench-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Train {
            arch,
            batch_size,
            queue_size,
            steps,
            drop,
            device,
        } => {
            let base = crate::train::config::TrainConfig {
                name: "bench".into(),
                arch,
                batch_size,
                queue_size,
                epochs: 1,
                log_every: 1,
                telemetry: false,
                train_limit: Some(batch_size * (steps + 1)),
                device,
                ..Default::default()
            };
            println!("training throughput, {arch:?}, batch {batch_size}, K = {queue_size}, {} threads, {steps} timed steps", rayon::current_num_threads());
            let plain = throughput(base.clone())?;
            println!("  no filter:                      {plain:.1} images/s");
            if !drop.is_empty() {
                let filtered = throughput(crate::train::config::TrainConfig {
                    drop: Some(drop.clone()),
                    ..base
                })?;
                println!("  drop '{drop}': {filtered:.1} images/s");
                println!(
                    "  selection + masking overhead: {:+.1} % of a step",
                    100.0 * (plain / filtered - 1.0)
                );
            }
        }
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
