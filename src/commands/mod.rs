//! One entry function per CLI command; `run` dispatches. Argument types live
//! here so the library can be driven without a shell (tests do).

pub mod analyze;
mod bench;
mod demo;
mod dump;
pub mod hierarchy;
mod report;
mod study;
mod sweep;
pub mod train;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Study the negatives of contrastive instance discrimination (MoCo v2).
#[derive(Debug, Parser)]
#[command(name = "negstudy", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and convert embedding dumps (.safetensors, .npz, .npy, .parquet).
    #[command(subcommand)]
    Dump(dump::DumpCommand),
    /// Pretrain MoCo v2 with optional per-query negative filters (burn).
    // Boxed: its flattened training options make it far the largest variant.
    Train(Box<train::TrainArgs>),
    /// Linear probe (top-1/top-5) and weighted kNN of a checkpoint's frozen features.
    LinearEval(train::EvalArgs),
    /// Write an embedding dump (z, h, label, index) of a dataset or image folder, from a run, a checkpoint or a PyTorch / safetensors weights file.
    Embed(train::EmbedArgs),
    /// Run a recipe's grid of train → linear-eval runs and write the paper's tables and plots.
    Sweep(sweep::SweepArgs),
    /// The main job: train MoCo v2 on the bundled Fashion-MNIST split, evaluate, embed, analyse; writes reports/demo/.
    Demo(demo::DemoArgs),
    /// Analyse negatives by difficulty and write a report bundle (CSV, PNG, index.md).
    Analyze(analyze::AnalyzeArgs),
    /// Build WordNet/ImageNet hierarchies and query depths and LCAs.
    #[command(subcommand)]
    Hierarchy(hierarchy::HierarchyCommand),
    /// Write a trained encoder's weights for PyTorch under torchvision's names (.safetensors or torch.save .pth).
    Export(train::ExportArgs),
    /// Benchmarks, printed as ratios against a baseline run alongside.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// A pre-registered study: seeds from measured seed variance (power).
    #[command(subcommand)]
    Study(study::StudyCommand),
    /// Write index.html (one self-contained page) beside index.md in existing report bundles.
    Report(report::ReportArgs),
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> Result<()> {
    crate::kernels::memory::keep_freed_buffers();
    crate::kernels::configure_from_env()?;
    match cli.command {
        Command::Dump(c) => dump::run(c),
        Command::Hierarchy(c) => hierarchy::run(c),
        Command::Demo(a) => demo::run(a),
        Command::Train(a) => train::train(*a).map(|_| ()),
        Command::LinearEval(a) => {
            let report = train::linear_eval(a)?;
            print!("{}", report.to_json()?);
            Ok(())
        }
        Command::Embed(a) => train::embed(a),
        Command::Export(a) => train::export(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Bench(c) => bench::run(c),
        Command::Study(c) => study::run(c),
        Command::Report(a) => report::run(a),
        Command::Analyze(a) if a.which == crate::pipeline::analyze::DYNAMICS => {
            let done = crate::pipeline::dynamics::run(&a.dynamics_request()?)?;
            print!("{}", crate::report::json_text(&done.summary)?);
            eprintln!(
                "report written to {}/ (open index.html in a browser; index.md is the same in Markdown)",
                done.bundle.display()
            );
            Ok(())
        }
        Command::Analyze(a) => {
            let analyzed = analyze::run(a)?;
            print!("{}", crate::report::json_text(&analyzed.summary)?);
            eprintln!(
                "report written to {}/ (open index.html in a browser; index.md is the same in Markdown)",
                analyzed.bundle.display()
            );
            Ok(())
        }
    }
}
