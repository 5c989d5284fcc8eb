//! Embeddings in, report bundle out: one similarity pass, the requested
//! analyses over it, and the bundle (`crate::report::analysis_report`).

use crate::analysis::input::{self, Source};
use crate::analysis::plugin::DynAnalysis;
use crate::analysis::{pass, registry, Params};
use crate::hierarchy::Hierarchy;
use crate::report::analysis_report::{self, AnalysisSummary, Findings, RunInfo};
use crate::report::sha256_file;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The name of the analysis over a series of dumps (`pipeline::dynamics`).
pub const DYNAMICS: &str = "dynamics";

/// Which analyses to run: every registered one (`all`) or one by name.
#[derive(Clone, Copy)]
pub enum Which {
    All,
    One(&'static dyn DynAnalysis),
}

impl std::fmt::Debug for Which {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Which {
    /// `all` or a registered analysis's name.
    pub fn parse(name: &str) -> Result<Which> {
        if name == "all" {
            return Ok(Which::All);
        }
        match registry::find(name) {
            Some(a) => Ok(Which::One(a)),
            None => bail!(
                "unknown analysis '{name}': one of {}, all",
                registry::ANALYSES
                    .iter()
                    .map(|a| a.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Its name on the command line (`same-class`, …, `all`).
    pub fn name(&self) -> &'static str {
        match self {
            Which::All => "all",
            Which::One(a) => a.name(),
        }
    }

    /// The command line's choices, with their help: the registry, then
    /// `all`, then `dynamics` (which compares several dumps:
    /// `pipeline::dynamics`).
    pub fn choices() -> Vec<clap::builder::PossibleValue> {
        use clap::builder::PossibleValue;
        registry::ANALYSES
            .iter()
            .map(|a| PossibleValue::new(a.name()).help(a.about()))
            .chain([
                PossibleValue::new("all").help("Everything above from one similarity pass"),
                PossibleValue::new(DYNAMICS).help(
                    "Hardness over training: a series of checkpoints' dumps compared (--series A B …)",
                ),
            ])
            .collect()
    }

    /// The analyses it names, in registry order.
    fn analyses(&self) -> Vec<&'static dyn DynAnalysis> {
        match self {
            Which::All => registry::ANALYSES.to_vec(),
            Which::One(a) => vec![*a],
        }
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

/// A written bundle, the results behind it and its headline numbers.
pub struct Analyzed {
    pub bundle: PathBuf,
    pub findings: Findings,
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
    let mut findings = Findings::default();
    let mut analyses = Vec::new();
    for analysis in a.which.analyses() {
        match (analysis.unavailable(&input), a.which) {
            (None, _) => analyses.push(analysis),
            (Some(missing), Which::One(_)) => bail!(missing.error),
            (Some(missing), Which::All) => findings.notes.push(missing.note),
        }
    }

    let template = "{msg} [{bar:40}] {pos}/{len} queries ({per_sec}, eta {eta})";
    let bar = crate::progress::bar(input.queries.z.rows() as u64, template, false);
    bar.set_message("similarities and ranks");
    let totals = pass::run(&input, params, &analyses, &|n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    findings.list = totals.finish();

    let files = source.files();
    let inputs: Vec<serde_json::Value> = files
        .iter()
        .map(|f| Ok(json!({"path": f.display().to_string(), "sha256": sha256_file(f)?})))
        .collect::<Result<_>>()?;
    let manifest = json!({
        "negstudy_version": crate::VERSION,
        "provenance": crate::provenance::Provenance::current(),
        "command": format!("analyze {}", a.which.name()),
        "inputs": inputs,
        "queries": {"count": input.queries.z.rows(), "rows": if input.queries.rows.len() <= 5000 { json!(input.queries.rows) } else { json!("more than 5000; not listed") }},
        "negatives": {"count": input.negatives.z.rows()},
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
        n_queries: input.queries.z.rows(),
        n_negatives: input.negatives.z.rows(),
        manifest,
    };
    let summary = findings.summary()?;
    let bundle = analysis_report::write(&out, &findings, &summary, &info, params)?;
    Ok(Analyzed {
        bundle,
        summary,
        findings,
    })
}
