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
            let dtype = store::stored_z_dtype(&file)?;
            let d = Dump::load(&file, LoadOptions { normalize })?;
            print!("{}", store::describe(&d, &file, &dtype));
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
