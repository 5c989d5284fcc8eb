//! `negstudy report BUNDLE…`: (re)writes the HTML page of finished report
//! bundles from their `index.md` — for bundles made before negstudy wrote
//! one, or after their `index.md` was edited by hand.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Report bundle folders (each with negstudy's manifest.json and an index.md).
    #[arg(required = true)]
    pub bundles: Vec<PathBuf>,
}

pub fn run(a: ReportArgs) -> Result<()> {
    for bundle in &a.bundles {
        crate::report::html::rewrite(bundle)?;
        eprintln!(
            "{}",
            crate::input_file::shown(&bundle.join(crate::report::html::FILE))
        );
    }
    Ok(())
}
