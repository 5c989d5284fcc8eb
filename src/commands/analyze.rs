//! `negstudy analyze <name>`: embeddings in, report bundle out.

use super::hierarchy::HierarchySource;
use crate::analysis::input::Source;
use crate::analysis::Params;
use crate::pipeline::analyze::{analyze, AnalyzeRequest, Analyzed, Which};
use crate::pipeline::dynamics::DynamicsRequest;
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

/// Parses sizes such as `1GiB`, `512MiB`, `64KiB` or plain bytes.
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (num, mult) = [
        ("GiB", 1usize << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(suf, m)| s.strip_suffix(suf).map(|n| (n.trim(), *m)))
    .unwrap_or((s, 1));
    let v: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 1GiB, 512MiB, 1048576)"))?;
    if v.is_nan() || v <= 0.0 {
        return Err(format!("size must be positive, got '{s}'"));
    }
    Ok((v * mult as f64) as usize)
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Which analysis to run.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(Which::choices()))]
    pub which: String,
    /// One dump: queries and negatives are disjoint random subsets of its rows.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["queries", "negatives", "series", "run"], required_unless_present_any = ["queries", "series", "run"])]
    pub embeddings: Option<PathBuf>,
    /// For `dynamics`: dumps of the same images by successive checkpoints,
    /// in training order (the same rows are sampled from each).
    #[arg(long, value_name = "FILE", num_args = 2.., conflicts_with_all = ["queries", "negatives", "run"])]
    pub series: Vec<PathBuf>,
    /// For `dynamics`: a run folder whose kept checkpoints (`train
    /// --keep-every N`) are embedded — the query encoder on the test part,
    /// into RUN/dumps/ — and compared in order.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["queries", "negatives"])]
    pub run: Option<PathBuf>,
    /// For `dynamics`: the temperature of each band's softmax mass.
    #[arg(long, default_value_t = 0.2)]
    pub temperature: f64,
    /// Query embeddings (e.g. from the query encoder); all rows unless --n-queries.
    #[arg(long, value_name = "FILE", requires = "negatives")]
    pub queries: Option<PathBuf>,
    /// Negative embeddings (e.g. from the momentum encoder); all rows unless --n-negatives.
    /// When it names the same file as --queries, a query's own row is excluded from its negatives.
    #[arg(long, value_name = "FILE", requires = "queries")]
    pub negatives: Option<PathBuf>,
    /// Number of queries (default with --embeddings: 2000, the paper's setting, or half the rows of a smaller dump).
    #[arg(long)]
    pub n_queries: Option<usize>,
    /// Number of negatives (default with --embeddings: 2000, or half the rows of a smaller dump).
    #[arg(long)]
    pub n_negatives: Option<usize>,
    /// Seeds the sampling of queries and negatives and the shuffled baseline.
    #[arg(long, default_value_t = Params::default().seed)]
    pub seed: u64,
    #[command(flatten)]
    pub hierarchy: HierarchySource,
    /// wnids, one per class index, for dumps whose metadata lacks them.
    #[arg(long, value_name = "FILE")]
    pub wnids: Option<PathBuf>,
    /// Percentile bins for the same-class and WordNet curves.
    #[arg(long, default_value_t = Params::default().bins)]
    pub bins: usize,
    /// Percentile bins for the anti-correlation curves.
    #[arg(long, default_value_t = Params::default().fine_bins)]
    pub fine_bins: usize,
    /// Hard = the hardest this-many percent of each query's negatives.
    #[arg(long, default_value_t = Params::default().hard_percent)]
    pub hard_percent: f64,
    /// Report folder (default: reports/<dump stem>/); replaced if it exists.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Most similarity-matrix memory held at once.
    #[arg(long, default_value = "1GiB", value_parser = parse_bytes)]
    pub memory_budget: usize,
    /// L2-normalise embedding rows instead of rejecting rows that are not unit-norm.
    #[arg(long)]
    pub normalize: bool,
}

impl AnalyzeArgs {
    /// The dynamics request these arguments describe (`analyze dynamics`).
    pub fn dynamics_request(&self) -> Result<DynamicsRequest> {
        let series = match &self.run {
            Some(run) => crate::pipeline::dynamics::embed_kept(run)?,
            None => self.series.clone(),
        };
        if series.is_empty() {
            bail!("analyze dynamics compares dumps: give --series A B … (in training order) or --run RUN");
        }
        let out = match &self.out {
            Some(o) => o.clone(),
            None => std::path::Path::new("reports").join("dynamics"),
        };
        Ok(DynamicsRequest {
            series,
            n_queries: self.n_queries,
            n_negatives: self.n_negatives,
            seed: self.seed,
            normalize: self.normalize,
            temperature: self.temperature,
            out,
        })
    }

    /// The library request these arguments describe.
    pub fn request(&self) -> Result<AnalyzeRequest> {
        if !self.series.is_empty() || self.run.is_some() {
            bail!("--series and --run are for `analyze dynamics`");
        }
        let source = match (&self.embeddings, &self.queries, &self.negatives) {
            (Some(e), None, None) => Source::Split {
                embeddings: e.clone(),
                n_queries: self.n_queries,
                n_negatives: self.n_negatives,
            },
            (None, Some(q), Some(n)) => Source::Pair {
                queries: q.clone(),
                negatives: n.clone(),
                n_queries: self.n_queries,
                n_negatives: self.n_negatives,
            },
            _ => bail!("give either --embeddings FILE or both --queries FILE and --negatives FILE"),
        };
        Ok(AnalyzeRequest {
            which: Which::parse(&self.which)?,
            source,
            params: Params {
                bins: self.bins,
                fine_bins: self.fine_bins,
                hard_percent: self.hard_percent,
                seed: self.seed,
                memory_budget: self.memory_budget,
                ..Params::default()
            },
            hierarchy: self.hierarchy.hierarchy.clone(),
            wordnet: self.hierarchy.wordnet.clone(),
            wnids: self.wnids.clone(),
            normalize: self.normalize,
            out: self.out.clone(),
        })
    }
}

/// `negstudy analyze`: runs the request these arguments describe.
pub fn run(a: AnalyzeArgs) -> Result<Analyzed> {
    analyze(&a.request()?)
}
