//! One entry function per CLI command; `run` dispatches. Argument types live
//! here so the library can be driven without a shell (tests do).

mod dump;
mod hierarchy;

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
    /// Build WordNet/ImageNet hierarchies and query depths and LCAs.
    #[command(subcommand)]
    Hierarchy(hierarchy::HierarchyCommand),
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Dump(c) => dump::run(c),
        Command::Hierarchy(c) => hierarchy::run(c),
    }
}
