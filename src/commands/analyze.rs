//! `negstudy analyze <name>`: embeddings in, report bundle out.

use super::hierarchy::HierarchySource;
use crate::analysis::input::{self, Source};
use crate::analysis::{
    anticorrelated, class_pairs, consistency, pass, same_class, wordnet, Params,
};
use crate::hierarchy::Hierarchy;
use crate::report::analysis_report::{self, AnalysisResults, RunInfo};
use crate::report::sha256_file;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// Fig. 4a: same-class rate, hard vs easy, by difficulty.
    SameClass,
    /// Fig. 4b: WordNet LCA depth, hard vs easy, by difficulty.
    Wordnet,
    /// Fig. 5: dot-product histogram; same-class rate and LCA depth over fine bins.
    Anticorrelated,
    /// Table A3: mean dot product per class pair.
    ClassPairs,
    /// Fig. 6: per-negative hard frequency vs a shuffled baseline, KS test.
    Consistency,
    /// Everything above from one similarity pass.
    All,
}

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
    #[arg(value_enum)]
    pub which: Which,
    /// One dump: queries and negatives are disjoint random subsets of its rows.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["queries", "negatives"], required_unless_present = "queries")]
    pub embeddings: Option<PathBuf>,
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
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub hierarchy: HierarchySource,
    /// wnids, one per class index, for dumps whose metadata lacks them.
    #[arg(long, value_name = "FILE")]
    pub wnids: Option<PathBuf>,
    /// Percentile bins for the same-class and WordNet curves.
    #[arg(long, default_value_t = 20)]
    pub bins: usize,
    /// Percentile bins for the anti-correlation curves.
    #[arg(long, default_value_t = 100)]
    pub fine_bins: usize,
    /// Hard = the hardest this-many percent of each query's negatives.
    #[arg(long, default_value_t = 5.0)]
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
    /// `analyze all` with the paper's defaults on one dump.
    pub fn defaults_for(embeddings: PathBuf, out: PathBuf) -> AnalyzeArgs {
        AnalyzeArgs {
            which: Which::All,
            embeddings: Some(embeddings),
            queries: None,
            negatives: None,
            n_queries: None,
            n_negatives: None,
            seed: 0,
            hierarchy: HierarchySource {
                hierarchy: None,
                wordnet: None,
            },
            wnids: None,
            bins: 20,
            fine_bins: 100,
            hard_percent: 5.0,
            out: Some(out),
            memory_budget: 1 << 30,
            normalize: false,
        }
    }
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "analysis".into())
}

/// Runs the analysis and writes the bundle; returns the bundle's path and summary.
pub fn run(a: AnalyzeArgs) -> Result<(PathBuf, serde_json::Value)> {
    let source = match (&a.embeddings, &a.queries, &a.negatives) {
        (Some(e), None, None) => Source::Split {
            embeddings: e.clone(),
            n_queries: a.n_queries,
            n_negatives: a.n_negatives,
        },
        (None, Some(q), Some(n)) => Source::Pair {
            queries: q.clone(),
            negatives: n.clone(),
            n_queries: a.n_queries,
            n_negatives: a.n_negatives,
        },
        _ => bail!("give either --embeddings FILE or both --queries FILE and --negatives FILE"),
    };
    let params = Params {
        bins: a.bins,
        fine_bins: a.fine_bins,
        hard_percent: a.hard_percent,
        seed: a.seed,
        memory_budget: a.memory_budget,
        ..Params::default()
    };
    let hierarchy = Hierarchy::load(
        a.hierarchy.hierarchy.as_deref(),
        a.hierarchy.wordnet.as_deref(),
    )?;
    let (input, _) = input::load(&source, a.normalize, a.seed, a.wnids.as_deref(), &hierarchy)?;
    let wants = |w: Which| a.which == w || a.which == Which::All;
    if a.which == Which::Wordnet && input.lca.is_none() {
        bail!("'analyze wordnet' needs one wnid per class: the dump's metadata has none; pass --wnids FILE");
    }

    let bar = ProgressBar::new(input.queries.z.rows as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} queries ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("similarities and ranks");
    let result = pass::run(&input, &params, &|n| bar.inc(n as u64))?;
    bar.finish_and_clear();

    let mut r = AnalysisResults::default();
    if wants(Which::SameClass) {
        r.same_class = Some(same_class::analyze(&result, &params));
    }
    if wants(Which::Wordnet) {
        if result.has_lca {
            r.wordnet = Some(wordnet::analyze(&result, &params)?);
        } else {
            r.notes.push("No wnids for these classes (dump metadata or --wnids): the WordNet analysis and LCA columns are omitted.".into());
        }
    }
    if wants(Which::Anticorrelated) {
        r.anticorrelated = Some(anticorrelated::analyze(&result, &params));
    }
    if wants(Which::ClassPairs) {
        r.class_pairs = Some(class_pairs::analyze(&result, &input.classes));
    }
    if wants(Which::Consistency) {
        r.consistency = Some(consistency::analyze(&result, params.consistency_bins));
    }

    let files = source.files();
    let inputs: Vec<serde_json::Value> = files
        .iter()
        .map(|f| Ok(json!({"path": f.display().to_string(), "sha256": sha256_file(f)?})))
        .collect::<Result<_>>()?;
    let name = format!("{:?}", a.which).to_lowercase();
    let manifest = json!({
        "negstudy_version": crate::VERSION,
        "command": format!("analyze {}", a.which.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or(name)),
        "inputs": inputs,
        "queries": {"count": input.queries.z.rows, "rows": if input.queries.rows.len() <= 5000 { json!(input.queries.rows) } else { json!("more than 5000; not listed") }},
        "negatives": {"count": input.negatives.z.rows},
        "hierarchy": hierarchy.source(),
        "wnids": a.wnids.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "dump metadata".into()),
        "normalize": a.normalize,
        "seed": a.seed,
        "parameters": params,
    });
    let out = match &a.out {
        Some(o) => o.clone(),
        None => {
            let name = stem(&files[0]);
            crate::atomic::check_name(&name, "the default report name (the dump's file stem)")
                .context("give the report a folder with --out")?;
            Path::new("reports").join(name)
        }
    };
    let info = RunInfo {
        title: format!(
            "negstudy analysis of {}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(" vs ")
        ),
        n_queries: input.queries.z.rows,
        n_negatives: input.negatives.z.rows,
        manifest,
    };
    let path = analysis_report::write(&out, &r, &info, &params)?;
    Ok((path, analysis_report::summary(&r)))
}
