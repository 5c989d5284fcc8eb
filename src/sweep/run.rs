//! One run of a sweep: train (resuming an interrupted one), evaluate, and
//! with `embed_analyze` embed and analyse; its `result.json` marks it done.

use super::recipe::{Recipe, RunSpec};
use crate::pipeline::analyze::{analyze, AnalyzeRequest};
use crate::pipeline::embed::{embed, EmbedRequest};
use crate::pipeline::evaluate::{evaluate, EvalRequest};
use crate::train::{checkpoint, trainer};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What a finished run reports.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunResult {
    pub id: String,
    pub condition: String,
    pub axes: Vec<(String, String)>,
    pub seed: u64,
    pub keep: Option<String>,
    pub drop: Option<String>,
    pub refill: usize,
    pub temperature: f64,
    pub epochs: usize,
    pub top1: f64,
    pub top5: f64,
    pub knn_top1: f64,
    /// Wall seconds of this run: training in earlier sessions up to their
    /// last checkpoint (from the checkpoint, so a Ctrl-C'd session counts
    /// too) plus the finishing session's training and evaluation.
    pub wall_seconds: f64,
}

pub const RESULT: &str = "result.json";

/// Trains and evaluates one run unless it already finished.
pub fn run_one(
    recipe: &Recipe,
    spec: &RunSpec,
    runs_root: &Path,
    reports_root: &Path,
) -> Result<RunResult> {
    let dir = runs_root.join(&recipe.name).join(&spec.id);
    if let Ok(text) = std::fs::read_to_string(dir.join(RESULT)) {
        return serde_json::from_str(&text)
            .with_context(|| format!("{}: corrupt {RESULT}", dir.display()));
    }
    let started = std::time::Instant::now();
    // Earlier sessions' training up to their last checkpoint (the rest of
    // an interrupted epoch is redone here).
    let latest = checkpoint::latest(&dir)?;
    let earlier_seconds = match &latest {
        Some(ck) => checkpoint::trained_seconds(ck)?,
        None => 0.0,
    };
    let resume = latest.is_some();
    trainer::train(spec.config.clone(), &dir, resume, true, None)
        .with_context(|| format!("run {}", spec.id))?;
    let eval = evaluate(&EvalRequest::of(dir.clone()))?;
    eval.write(&eval.default_path())?;
    if recipe.embed_analyze {
        let dump = dir.join("test.safetensors");
        embed(&EmbedRequest::of(dir.clone()))?.save(&dump)?;
        let out = reports_root
            .join(&recipe.report_name)
            .join("runs")
            .join(&spec.id);
        analyze(&AnalyzeRequest::defaults_for(dump, out))?;
    }
    let c = &spec.config;
    let result = RunResult {
        id: spec.id.clone(),
        condition: spec.condition.clone(),
        axes: spec.axes.clone(),
        seed: spec.seed,
        keep: c.keep.clone(),
        drop: c.drop.clone(),
        refill: c.refill,
        temperature: c.temperature,
        epochs: c.epochs,
        top1: eval.scores.top1,
        top5: eval.scores.top5,
        knn_top1: eval.scores.knn_top1,
        wall_seconds: earlier_seconds + started.elapsed().as_secs_f64(),
    };
    crate::atomic::write_bytes(
        &dir.join(RESULT),
        crate::atomic::Kind::OwnedFile,
        serde_json::to_string_pretty(&result)?.as_bytes(),
    )?;
    Ok(result)
}
