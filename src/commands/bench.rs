//! `negstudy bench`: speed measurements printed as ratios against a
//! baseline measured in the same run (no timing assertions live in tests).

use crate::analysis::consistency::Consistency;
use crate::analysis::same_class::SameClass;
use crate::analysis::{pass, reference, AnalysisInput, Params, Side};
use crate::hierarchy::ClassLcaTable;
use crate::report::analysis_report::Findings;
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use rand::Rng as _;
use std::time::Instant;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Training throughput (images/s) of the real training loop, and the cost
    /// of a negative filter as a ratio against no filter, measured in the same run.
    Train(TrainBench),
    /// The analysis pass against a straightforward single-thread full-sort implementation.
    Analyze(AnalyzeBench),
    /// negstudy's native CPU kernels against burn's generic ops, op by op,
    /// on the convolutions and BatchNorms of the two benchmarked networks.
    Kernels(KernelsBench),
}

/// `bench kernels`' settings.
#[derive(Debug, Args)]
pub struct KernelsBench {
    /// Timed repetitions of each op (the best is reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

/// `bench train`'s settings.
#[derive(Debug, Args)]
pub struct TrainBench {
    /// Backbone.
    #[arg(long, value_enum, default_value = "resnet-narrow")]
    arch: crate::model::Arch,
    /// Images per step.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// K, negatives in the queue.
    #[arg(long, default_value_t = 4096)]
    queue_size: usize,
    /// Timed steps (after the warm-up steps).
    #[arg(long, default_value_t = 8)]
    steps: usize,
    /// Untimed steps first (GPU kernels compile and autotune in the first steps).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Dataset spec; `random:3x32x32` matches PyTorch's CIFAR-shaped benchmark.
    #[arg(long, default_value = "bundled:fashion-mnist-test")]
    data: String,
    /// Filter whose selection cost is measured (empty: throughput only).
    #[arg(long, default_value = "band(99.9,100) & same_class")]
    drop: String,
    /// cpu, or cuda when built with --features cuda.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Alternating runs of each configuration (the best of each is reported).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Skip the comparison with burn's generic ops (the native kernels off).
    #[arg(long)]
    no_generic: bool,
}

/// `bench analyze`'s settings.
#[derive(Debug, Args)]
pub struct AnalyzeBench {
    /// Query rows of the synthetic dump.
    #[arg(long, default_value_t = 2000)]
    n_queries: usize,
    /// Negative rows of the synthetic dump.
    #[arg(long, default_value_t = 2000)]
    n_negatives: usize,
    /// Embedding dimension d.
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Timed repetitions (the best is reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Skip the baseline (for sizes where it would take too long).
    #[arg(long)]
    no_baseline: bool,
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

/// Mean images/s of a short run, the first `warmup` steps excluded.
fn throughput(config: crate::train::config::TrainConfig, warmup: usize) -> Result<f64> {
    let dir = tempfile_dir()?;
    crate::train::trainer::train(config, &dir, false, true, None)?;
    let log = crate::train::log::TrainLog::read(&dir)?;
    let ips: Vec<f64> = log
        .column("images_per_sec")
        .into_iter()
        .skip(warmup)
        .filter(|v| v.is_finite())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    if ips.is_empty() {
        bail!("no timed steps");
    }
    // Harmonic mean = total images / total time over equal-sized steps.
    Ok(ips.len() as f64 / ips.iter().map(|v| 1.0 / v).sum::<f64>())
}

/// Times the two selection implementations on the same random [n, m]
/// scores (best of `repeat`), checks they pick the same sets, and returns
/// the seconds of the one the trainer uses on this device.
fn selection_alone(expr: &str, n: usize, m: usize, device: &str, repeat: usize) -> Result<f64> {
    use crate::train::select;
    use burn::prelude::*;
    let dev = crate::train::trainer::device(device)?;
    let expr = crate::difficulty::NegativeSet::parse(expr).map_err(anyhow::Error::msg)?;
    let mut rng = crate::rng::seeded(0);
    let s: Vec<f32> = (0..n * m)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let scores = Tensor::<2>::from_data(TensorData::new(s, [n, m]), &dev);
    let mut labels = |len: usize| {
        let v: Vec<i64> = (0..len).map(|_| rng.random_range(0..10i64)).collect();
        Tensor::<1, Int>::from_data(TensorData::new(v, [len]), &dev)
    };
    let (query_labels, negative_labels) = (labels(n), labels(m));
    let same = Some((&query_labels, &negative_labels));
    let read = |t: Tensor<2, Bool>| -> Result<Vec<bool>> {
        t.into_data()
            .try_into_vec::<bool>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    };
    let (rows, a) = best_of(repeat, || read(select::select_rows(&expr, &scores, same)?))?;
    let (bisection, b) = best_of(repeat, || {
        read(select::select_bisection(&expr, &scores, same)?)
    })?;
    println!(
        "  selection alone on [{n}, {m}] scores: row-wise {:.1} ms, bisection {:.1} ms ({:.1}x); identical sets: {}; the trainer uses {}",
        rows * 1e3,
        bisection * 1e3,
        bisection / rows,
        a == b,
        if select::on_host(&dev) { "row-wise" } else { "bisection" }
    );
    Ok(if select::on_host(&dev) {
        rows
    } else {
        bisection
    })
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
        BenchCommand::Train(b) => b.run(),
        BenchCommand::Analyze(b) => b.run(),
        BenchCommand::Kernels(b) => b.run(),
    }
}

impl TrainBench {
    /// Images/s without and with the filter, alternating runs, best of each.
    fn run(self) -> Result<()> {
        let TrainBench {
            arch,
            batch_size,
            queue_size,
            steps,
            warmup,
            data,
            device,
            drop,
            rounds,
            no_generic,
        } = self;
        let base = crate::train::config::TrainConfig {
            name: "bench".into(),
            arch,
            batch_size,
            queue_size,
            epochs: 1,
            log_every: 1,
            telemetry: false,
            train_limit: Some(batch_size * (steps + warmup)),
            data,
            device,
            ..Default::default()
        };
        println!(
            "training throughput, {arch:?} on {}, batch {batch_size}, K = {queue_size}, device {}, {} CPU threads, {steps} timed steps after {warmup}",
            base.data,
            base.device,
            rayon::current_num_threads()
        );
        // Alternate the two configurations and keep each one's best run:
        // single short runs on a shared machine vary by several percent.
        let filtered_config = (!drop.is_empty()).then(|| crate::train::config::TrainConfig {
            drop: Some(drop.clone()),
            ..base.clone()
        });
        let (mut plain, mut filtered, mut generic) = (0f64, 0f64, 0f64);
        for _ in 0..rounds.max(1) {
            plain = plain.max(throughput(base.clone(), warmup)?);
            if let Some(c) = &filtered_config {
                filtered = filtered.max(throughput(c.clone(), warmup)?);
            }
            if !no_generic {
                crate::kernels::set_native(false);
                let ips = throughput(base.clone(), warmup);
                crate::kernels::set_native(true);
                generic = generic.max(ips?);
            }
        }
        println!("  no filter:                      {plain:.1} images/s (best of {rounds})");
        if !no_generic {
            println!(
                "  burn's generic ops instead:     {generic:.1} images/s (best of {rounds}); native kernels {:.2}x",
                plain / generic
            );
        }
        if filtered_config.is_some() {
            println!("  drop '{drop}': {filtered:.1} images/s (best of {rounds})");
            println!(
                "  selection + masking overhead: {:+.1} % of a step",
                100.0 * (plain / filtered - 1.0)
            );
            let used = selection_alone(&drop, batch_size, queue_size, &base.device, steps)?;
            let step = batch_size as f64 / plain;
            println!(
                "  the trainer's selection alone: {:.1} ms = {:.1} % of a {:.0} ms no-filter step",
                used * 1e3,
                100.0 * used / step,
                step * 1e3
            );
        }
        Ok(())
    }
}

impl KernelsBench {
    /// Every op of the two networks, native against generic, with the
    /// step-sum of each column.
    fn run(self) -> Result<()> {
        use crate::kernels::compare;
        println!(
            "native kernels vs burn's generic ops (Flex), {} CPU threads, best of {}",
            rayon::current_num_threads(),
            self.repeat
        );
        println!(
            "  {:<26} {:<30} {:>10} {:>10} {:>7} {:>10}",
            "op", "shape", "native ms", "generic ms", "ratio", "max diff"
        );
        let print = |c: &compare::OpComparison| {
            println!(
                "  {:<26} {:<30} {:>10.2} {:>10.2} {:>6.2}x {:>10.1e}",
                c.op,
                c.shape,
                c.native_ms,
                c.generic_ms,
                c.generic_ms / c.native_ms,
                c.max_rel_diff
            )
        };
        let mut rows = Vec::new();
        for (i, layer) in compare::training_layers().iter().enumerate() {
            rows.extend(compare::compare_conv(layer, self.repeat, i as u64));
        }
        for fused in [false, true] {
            for (i, shape) in compare::training_batch_norms().into_iter().enumerate() {
                rows.push(compare::compare_batch_norm(
                    shape,
                    fused,
                    self.repeat,
                    100 + i as u64,
                ));
            }
        }
        rows.iter().for_each(print);
        let (native, generic) = rows
            .iter()
            .fold((0.0, 0.0), |(n, g), c| (n + c.native_ms, g + c.generic_ms));
        println!(
            "  all ops above, once each: native {native:.1} ms, generic {generic:.1} ms ({:.2}x)",
            generic / native
        );
        Ok(())
    }
}

impl AnalyzeBench {
    /// The fast pass against the reference, and their agreement.
    fn run(self) -> Result<()> {
        let AnalyzeBench {
            n_queries,
            n_negatives,
            dim,
            repeat,
            no_baseline,
        } = self;
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
        let all = crate::analysis::registry::ANALYSES;
        let (ours, fast) = best_of(repeat, || pass::run(&input, &params, all, &|_| {}))?;
        println!(
            "  negstudy (blocked GEMM + multi-select, parallel): {ours:.3} s  ({:.3e} pairs/s)",
            pairs / ours
        );
        if !no_baseline {
            let (base, slow) = best_of(repeat, || reference::run(&input, &params, all))?;
            println!("  baseline (naive dot + full sort, one thread):       {base:.3} s  ({:.3e} pairs/s)", pairs / base);
            println!("  speed-up: {:.1}×", base / ours);
            let (fast, slow) = (Findings::from(fast), Findings::from(slow));
            // What the benchmark has always compared: the same-class bins
            // and every negative's hard count (as its hard frequency).
            let bins = |f: &Findings| f.get::<SameClass>().map(|s| s.by_bin.clone());
            let hard = |f: &Findings| f.get::<Consistency>().map(|c| c.frequency.clone());
            let same = bins(&fast) == bins(&slow) && hard(&fast) == hard(&slow);
            println!("  bin counts and hard counts identical to the baseline: {same}");
            let cells = fast.differing_cells(&slow, 1e-9);
            println!(
                "  table cells differing from the baseline's beyond 1e-9: {} of {} (GEMM and the naive loop round q·n differently, so a pair at a fine-bin edge can change bins)",
                cells.0, cells.1
            );
        }
        Ok(())
    }
}
