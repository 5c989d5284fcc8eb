//! Embeddings in, report bundle out: one similarity pass, the requested
//! analyses over it, and the bundle (`crate::report::analysis_report`).

use crate::analysis::input::{self, Source};
use crate::analysis::{
    anticorrelated, class_pairs, consistency, pass, same_class, wordnet, Params,
};
use crate::hierarchy::Hierarchy;
use crate::report::analysis_report::{self, AnalysisResults, AnalysisSummary, RunInfo};
use crate::report::sha256_file;
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Which analysis to run.
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

impl Which {
    /// Its name on the command line (`same-class`, …, `all`).
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_else(|| format!("{self:?}").to_lowercase())
    }
}

/// What to analyse and where the bundle goes.
#[derive(Clone, Debug)]
pub struct AnalyzeRequest {
    pub which: Which,
    pub source: Source,
    pub params: Params,
    /// ImageNet-structure XML (`--hierarchy`); with neither this nor
    /// `wordnet`, the bundled hierarchy.
    pub hierarchy: Option<PathBuf>,
    /// A WordNet database folder (`--wordnet`).
    pub wordnet: Option<PathBuf>,
    /// One wnid per class, for dumps whose metadata has none.
    pub wnids: Option<PathBuf>,
    /// L2-normalise rows instead of rejecting rows that are not unit-norm.
    pub normalize: bool,
    /// The bundle folder; `None`: `reports/<dump stem>/`.
    pub out: Option<PathBuf>,
}

impl AnalyzeRequest {
    /// `analyze all` with the paper's defaults on one dump.
    pub fn defaults_for(embeddings: PathBuf, out: PathBuf) -> AnalyzeRequest {
        AnalyzeRequest {
            which: Which::All,
            source: Source::Split {
                embeddings,
                n_queries: None,
                n_negatives: None,
            },
            params: Params::default(),
            hierarchy: None,
            wordnet: None,
            wnids: None,
            normalize: false,
            out: Some(out),
        }
    }
}

/// A written bundle and its headline numbers.
pub struct Analyzed {
    pub bundle: PathBuf,
    pub summary: AnalysisSummary,
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "analysis".into())
}

/// Runs the analyses and writes the bundle.
pub fn analyze(a: &AnalyzeRequest) -> Result<Analyzed> {
    let source = &a.source;
    let params = &a.params;
    let hierarchy = Hierarchy::load(a.hierarchy.as_deref(), a.wordnet.as_deref())?;
    let (input, _) = input::load(
        source,
        a.normalize,
        params.seed,
        a.wnids.as_deref(),
        &hierarchy,
    )?;
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
    let result = pass::run(&input, params, &|n| bar.inc(n as u64))?;
    bar.finish_and_clear();

    let mut r = AnalysisResults::default();
    if wants(Which::SameClass) {
        r.same_class = Some(same_class::analyze(&result, params));
    }
    if wants(Which::Wordnet) {
        if result.has_lca {
            r.wordnet = Some(wordnet::analyze(&result, params)?);
        } else {
            r.notes.push("No wnids for these classes (dump metadata or --wnids): the WordNet analysis and LCA columns are omitted.".into());
        }
    }
    if wants(Which::Anticorrelated) {
        r.anticorrelated = Some(anticorrelated::analyze(&result, params));
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
    let manifest = json!({
        "negstudy_version": crate::VERSION,
        "command": format!("analyze {}", a.which.name()),
        "inputs": inputs,
        "queries": {"count": input.queries.z.rows, "rows": if input.queries.rows.len() <= 5000 { json!(input.queries.rows) } else { json!("more than 5000; not listed") }},
        "negatives": {"count": input.negatives.z.rows},
        "hierarchy": hierarchy.source(),
        "wnids": a.wnids.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "dump metadata".into()),
        "normalize": a.normalize,
        "seed": params.seed,
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
    let bundle = analysis_report::write(&out, &r, &info, params)?;
    Ok(Analyzed {
        bundle,
        summary: analysis_report::summary(&r),
    })
}
