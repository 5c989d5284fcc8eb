//! `negstudy demo`: the whole study in one command on the bundled
//! Fashion-MNIST split, nothing installed — train the quick MoCo v2 baseline
//! (`analyses/quick-cpu.toml`, compiled in), evaluate it against raw pixels
//! and a random network, embed the held-out images, run every analysis and
//! write `reports/demo/` with an index of every figure and table.
//!
//! `--pixels` skips training and analyses the centred raw pixels instead
//! (seconds; a no-learning reference).

use crate::analysis::consistency::Consistency;
use crate::analysis::same_class::SameClass;
use crate::analysis::wordnet::WordNet;
use crate::data::{classes, idx};
use crate::pipeline::analyze::{analyze, AnalyzeRequest};
use crate::pipeline::embed::{embed, EmbedRequest};
use crate::pipeline::evaluate::{evaluate, EvalReport, EvalRequest, Scores};
use crate::plot;
use crate::report::analysis_report::Findings;
use crate::stats::p_clause;
use crate::store::{Dump, DumpMeta, Matrix};
use crate::train::config::TrainConfig;
use crate::train::{checkpoint, trainer};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

const QUICK_RECIPE: &str = include_str!("../../analyses/quick-cpu.toml");

/// The demo trains 15 of the quick recipe's 25 epochs so the whole job stays
/// under 10 minutes on 2 cores (the probe still beats raw pixels; see docs/sweeps.md).
const DEMO_EPOCHS: usize = 15;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Report folder.
    #[arg(long, default_value = "reports/demo")]
    pub out: PathBuf,
    /// Folder for the training run (runs/<name>/).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Analyse centred raw pixels instead of training (no learning; seconds).
    #[arg(long)]
    pub pixels: bool,
    /// Pretraining epochs (the quick recipe has 25).
    #[arg(long, default_value_t = DEMO_EPOCHS)]
    pub epochs: usize,
    /// Pretrain on only the first N images (for quick checks).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Seeds training, sampling and the shuffled baseline.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Centred, L2-normalised pixel vectors of the bundled test split.
pub fn pixel_dump() -> Result<Dump> {
    let images = idx::bundled_fashion_mnist_test()?;
    let dim = images.rows * images.cols;
    let mut mean = vec![0f64; dim];
    for i in 0..images.n {
        mean.iter_mut()
            .zip(images.image(i))
            .for_each(|(m, &p)| *m += p as f64 / 255.0);
    }
    mean.iter_mut().for_each(|m| *m /= images.n as f64);
    let mut z = Vec::with_capacity(images.n * dim);
    for i in 0..images.n {
        let v: Vec<f64> = images
            .image(i)
            .iter()
            .zip(&mean)
            .map(|(&p, m)| p as f64 / 255.0 - m)
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            bail!("bundled image {i} equals the mean image; cannot normalise");
        }
        z.extend(v.iter().map(|x| (x / norm) as f32));
    }
    let (names, wnids) = classes::fashion_mnist();
    Ok(Dump {
        z: Matrix::new(images.n, dim, z)?,
        h: None,
        label: images.labels.iter().map(|&l| l as i64).collect(),
        index: Some((0..images.n as i64).collect()),
        meta: DumpMeta {
            classes: names,
            wnids: Some(wnids),
            encoder: Some("none: centred pixels".into()),
            source: Some("negstudy demo --pixels".into()),
            epoch: None,
            dataset: Some("bundled:fashion-mnist-test".into()),
            negstudy_version: Some(crate::VERSION.into()),
        },
    })
}

fn headline(findings: &Findings) {
    let nan = f64::NAN;
    let hve = |h: Option<&crate::analysis::HardVsEasy>| {
        h.map_or((nan, nan, nan), |h| (h.hard_mean, h.easy_mean, h.student.p))
    };
    let (hard, easy, p) = hve(findings.get::<SameClass>().map(|s| &s.hard_vs_easy));
    println!(
        "  same-class rate    hard {hard:.3} vs easy {easy:.3}   (t-test {})",
        p_clause(p)
    );
    let (hard, easy, p) = hve(findings.get::<WordNet>().map(|w| &w.hard_vs_easy));
    println!(
        "  WordNet LCA depth  hard {hard:.3} vs easy {easy:.3}   (t-test {})",
        p_clause(p)
    );
    let (real, shuffled, p) = findings.get::<Consistency>().map_or((nan, nan, nan), |c| {
        let s = &c.summary;
        (s.real_std, s.shuffled_std, s.ks.p)
    });
    println!(
        "  hard-frequency std real {real:.4} vs shuffled {shuffled:.4}   (KS {})",
        p_clause(p)
    );
}

/// How many queries the analyses compared (the same-class analysis's count).
fn queries(findings: &Findings) -> usize {
    findings
        .get::<SameClass>()
        .map_or(0, |s| s.hard_vs_easy.queries)
}

pub fn run(a: DemoArgs) -> Result<()> {
    let started = std::time::Instant::now();
    if a.pixels {
        return run_pixels(&a, started);
    }
    let config = demo_config(&a)?;
    let run_dir = a.runs.join(&config.name);
    let resume = reuse_or_clear(&run_dir, &config)?;
    eprintln!("negstudy demo: step 1/4 — MoCo v2 pretraining ({} epochs, {:?}, recipe analyses/quick-cpu.toml) on the bundled Fashion-MNIST split", config.epochs, config.arch);
    trainer::train(config.clone(), &run_dir, resume, false, None)?;
    eprintln!("step 2/4 — linear probe and kNN against raw pixels and a random network");
    let eval = evaluate(&EvalRequest {
        baselines: true,
        ..EvalRequest::of(run_dir.clone())
    })?;
    eval.write(&eval.default_path())?;
    eprintln!("step 3/4 — embedding the 2 000 held-out images");
    let dump = run_dir.join("test.safetensors");
    embed(&EmbedRequest::of(run_dir.clone()))?.save(&dump)?;
    eprintln!("step 4/4 — analyses");
    let mut findings = None;
    crate::atomic::write_with(&a.out, crate::atomic::Kind::Bundle, |tmp| {
        let mut request = AnalyzeRequest::defaults_for(dump.clone(), tmp.to_path_buf());
        request.params.seed = a.seed;
        findings = Some(analyze(&request)?.findings);
        add_training_section(tmp, &run_dir, &eval, &config)
    })?;
    let findings = findings.context("the analyses wrote no summary")?;
    print_results(&config, &eval, &findings)?;
    println!(
        "Report: {}/index.html  ({:.1} s)",
        a.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `demo --pixels`: the analyses of centred pixels, no training.
fn run_pixels(a: &DemoArgs, started: std::time::Instant) -> Result<()> {
    eprintln!("negstudy demo --pixels: embeddings = centred pixels of the bundled Fashion-MNIST test split");
    let dump_path = a.runs.join("demo-pixels").join("pixels.safetensors");
    pixel_dump()?.save(&dump_path)?;
    let mut request = AnalyzeRequest::defaults_for(dump_path, a.out.clone());
    request.params.seed = a.seed;
    let analyzed = analyze(&request)?;
    println!(
        "Pixel-space analysis ({n} queries × {n} negatives, hard = hardest 5 %):",
        n = queries(&analyzed.findings)
    );
    headline(&analyzed.findings);
    println!(
        "Report: {}/index.html  ({:.1} s)",
        analyzed.bundle.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The compiled-in quick recipe's `[train]`, with the demo's name, seed,
/// epochs and image limit.
fn demo_config(a: &DemoArgs) -> Result<TrainConfig> {
    let mut config: TrainConfig = toml::from_str::<toml::Table>(QUICK_RECIPE)
        .ok()
        .and_then(|t| t.get("train").cloned())
        .context("the compiled-in quick recipe has no [train] table")?
        .try_into()?;
    config.name = "demo".into();
    config.seed = a.seed;
    config.epochs = a.epochs;
    config.train_limit = a.train_limit.or(config.train_limit);
    Ok(config)
}

/// Whether to resume the demo's run folder: a run with the same config is
/// reused (resumed, or already finished); a different one is cleared.
fn reuse_or_clear(run_dir: &Path, config: &TrainConfig) -> Result<bool> {
    let Some(dir) = checkpoint::latest(run_dir)? else {
        return Ok(false);
    };
    let same = checkpoint::read_config(&dir)
        .map(|c| c == *config)
        .unwrap_or(false);
    if !same {
        let lock = crate::train::run_lock::RunLock::acquire(run_dir)?;
        crate::train::run_lock::clear(run_dir, &lock)?;
    }
    Ok(same)
}

/// The probe's top-1 against both baselines, then the analyses' headline.
fn print_results(config: &TrainConfig, eval: &EvalReport, findings: &Findings) -> Result<()> {
    let baselines = eval
        .baselines
        .as_ref()
        .context("evaluated without baselines")?;
    println!("Linear probe top-1 on the 2 000 held-out images:");
    println!(
        "  MoCo v2 ({:?}, {} epochs)  {:.2} %",
        config.arch,
        config.epochs,
        100.0 * eval.scores.top1
    );
    println!(
        "  raw pixels                 {:.2} %",
        100.0 * baselines.raw_pixels.top1
    );
    println!(
        "  random-init network        {:.2} %",
        100.0 * baselines.random_init.top1
    );
    println!(
        "Analyses of the trained embeddings ({n} queries × {n} negatives from the held-out images, hard = hardest 5 %):",
        n = queries(findings)
    );
    headline(findings);
    Ok(())
}

/// Adds the training curves, eval.json and a section on top of index.md
/// (and so of index.html).
fn add_training_section(
    bundle: &Path,
    run_dir: &Path,
    eval: &EvalReport,
    config: &TrainConfig,
) -> Result<()> {
    let log = crate::train::log::TrainLog::read(run_dir)?;
    plot::training_curves(&bundle.join("training.png"), &log)?;
    std::fs::write(bundle.join("eval.json"), eval.to_json()?)?;
    std::fs::copy(
        run_dir.join(crate::train::log::FILE),
        bundle.join("train_log.csv"),
    )?;
    let row = |name: &str, s: Option<&Scores>| {
        let f = |v: Option<f64>| format!("{:.2}", 100.0 * v.unwrap_or(f64::NAN));
        format!(
            "| {name} | {} | {} | {} |\n",
            f(s.map(|s| s.top1)),
            f(s.map(|s| s.top5)),
            f(s.map(|s| s.knn_top1))
        )
    };
    let mut section = format!(
        "# negstudy demo: MoCo v2 on Fashion-MNIST, then its negatives\n\n\
         Pretraining: {:?}, {} epochs, batch {}, queue K = {}, T = {}, m = {}, lr {} (cosine), on the bundled split's 8 000 \
         training images (`train_log.csv`, `eval.json`; recipe `analyses/quick-cpu.toml`). Evaluation on the 2 000 held-out images, \
         probe fitted on the 8 000: \n\n| features | linear top-1 % | top-5 % | kNN top-1 % |\n|---|---|---|---|\n",
        config.arch, config.epochs, config.batch_size, config.queue_size, config.temperature, config.momentum, config.lr
    );
    let baselines = eval.baselines.as_ref();
    section.push_str(&row("MoCo v2 (query encoder)", Some(&eval.scores)));
    section.push_str(&row("raw pixels", baselines.map(|b| &b.raw_pixels)));
    section.push_str(&row(
        "random-init network, same architecture",
        baselines.map(|b| &b.random_init),
    ));
    section.push_str("\n![training loss and the negatives' telemetry over steps](training.png)\n\nThe analyses below use the query encoder's embeddings of the 2 000 held-out images.\n\n");
    let index = std::fs::read_to_string(bundle.join("index.md"))?;
    let body = index
        .split_once('\n')
        .map_or(index.as_str(), |(_, rest)| rest);
    std::fs::write(bundle.join("index.md"), section + body)?;
    crate::report::html::rewrite(bundle)
}
