//! `negstudy dump info|convert`.

use crate::store::{self, Dump, LoadOptions};
use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum DumpCommand {
    /// Print N, d, dtype, classes, label histogram summary, norm range and metadata.
    Info {
        /// The dump (.safetensors, .npz, .npy with label.npy beside it, .parquet).
        file: PathBuf,
        /// L2-normalise rows of z instead of rejecting them.
        #[arg(long)]
        normalize: bool,
    },
    /// Write a synthetic dump with Fashion-MNIST classes whose centroids follow WordNet (for trying the analyses).
    Synthetic {
        /// Output dump (.safetensors, .npz or .parquet).
        #[arg(long)]
        out: PathBuf,
        /// Rows (embeddings) to generate.
        #[arg(long, default_value_t = 4000)]
        rows: usize,
        /// Embedding dimension d.
        #[arg(long, default_value_t = 128)]
        dim: usize,
        /// Noise norm relative to a unit class centroid.
        #[arg(long, default_value_t = 1.0)]
        noise: f64,
        /// Seeds the centroids, labels and noise.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Validate a dump and rewrite it in another format (chosen by extension).
    Convert {
        input: PathBuf,
        output: PathBuf,
        /// L2-normalise rows of z instead of rejecting them.
        #[arg(long)]
        normalize: bool,
    },
}

pub fn run(cmd: DumpCommand) -> Result<()> {
    match cmd {
        DumpCommand::Info { file, normalize } => {
            // Load (and validate) first, so a broken file gets the full diagnosis.
            let d = Dump::load(&file, LoadOptions { normalize })?;
            let dtype = store::stored_z_dtype(&file)?;
            print!("{}", store::describe(&d, &file, &dtype));
        }
        DumpCommand::Synthetic {
            out,
            rows,
            dim,
            noise,
            seed,
        } => {
            let d = crate::synthetic::fashion_mnist_like(rows, dim, noise, seed)?;
            d.save(&out)?;
            eprintln!("wrote {} ({rows} rows, d = {dim})", out.display());
        }
        DumpCommand::Convert {
            input,
            output,
            normalize,
        } => {
            let d = Dump::load(&input, LoadOptions { normalize })?;
            d.save(&output)?;
            eprintln!(
                "wrote {} ({} rows, d = {})",
                output.display(),
                d.len(),
                d.dim()
            );
        }
    }
    Ok(())
}
