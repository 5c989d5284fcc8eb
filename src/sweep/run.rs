//! One run of a sweep: train (resuming an interrupted one), evaluate, and
//! with `embed_analyze` embed and analyse; its `result.json` marks it done.

use super::recipe::{Recipe, RunSpec};
use crate::pipeline::analyze::{analyze, AnalyzeRequest};
use crate::pipeline::embed::{embed, EmbedRequest};
use crate::pipeline::evaluate::{evaluate, Baselines, EvalRequest, LowLabel};
use crate::provenance::Provenance;
use crate::train::log::TrainLog;
use crate::train::moco::{band_name, TELEMETRY_BANDS};
use crate::train::{checkpoint, trainer};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
    /// Low-label probes' top-1 (`[sweep] label_fractions`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub low_label: Vec<LowLabel>,
    /// Raw pixels and a random network, evaluated alike (`[sweep] baselines`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baselines: Option<Baselines>,
    /// What each difficulty band of the queue held over the last epoch
    /// (the mechanism behind a filter's effect; absent in results written
    /// before it was recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue_bands: Vec<QueueBand>,
    /// What made it (absent in results written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Wall seconds of this run: training in earlier sessions up to their
    /// last checkpoint (from the checkpoint, so a Ctrl-C'd session counts
    /// too) plus the finishing session's training and evaluation.
    pub wall_seconds: f64,
}

/// One telemetry band's composition, averaged over the rows of the last
/// epoch of `train_log.csv` (fractions in [0, 1]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct QueueBand {
    /// `lo-hi` in percent of difficulty, e.g. `99.9-100`.
    pub band: String,
    pub same_class: f64,
    pub softmax_mass: f64,
}

/// The last epoch's mean composition of each telemetry band, from a run's
/// training log (empty if the log has no band columns or no measured row).
pub fn queue_bands(log: &TrainLog) -> Vec<QueueBand> {
    let epochs = log.column("epoch");
    let Some(last) = epochs
        .iter()
        .copied()
        .filter(|e| e.is_finite())
        .reduce(f64::max)
    else {
        return Vec::new();
    };
    let mean_in_last = |name: &str| -> f64 {
        let (sum, n) = log
            .column(name)
            .into_iter()
            .zip(&epochs)
            .filter(|(v, e)| **e == last && v.is_finite())
            .fold((0.0, 0usize), |(s, n), (v, _)| (s + v, n + 1));
        if n == 0 {
            f64::NAN
        } else {
            sum / n as f64
        }
    };
    TELEMETRY_BANDS
        .iter()
        .map(|&b| {
            let band = band_name(b);
            QueueBand {
                same_class: mean_in_last(&format!("same_class_{band}")),
                softmax_mass: mean_in_last(&format!("mass_{band}")),
                band,
            }
        })
        .filter(|q| q.same_class.is_finite() || q.softmax_mass.is_finite())
        .collect()
}

pub const RESULT: &str = "result.json";

/// Where a sweep keeps its runs, reports and result ledger.
#[derive(Clone, Copy, Debug)]
pub struct Roots<'a> {
    /// Run folders (checkpoints; not committed): `<runs>/<sweep>/<run>/`.
    pub runs: &'a Path,
    pub reports: &'a Path,
    /// The ledger of finished runs, one small file each, meant to be
    /// committed: `<results>/<sweep>/<run>.json`. A run found here is not
    /// trained again, so a sweep continues in a later session or on another
    /// machine from a clone, without the run folders.
    pub results: &'a Path,
}

impl Roots<'_> {
    /// The ledger file of one run.
    pub fn ledger(&self, recipe: &Recipe, spec: &RunSpec) -> PathBuf {
        self.results
            .join(&recipe.name)
            .join(format!("{}.json", spec.id))
    }

    /// The result of a finished run, from the ledger or its run folder.
    pub fn finished(&self, recipe: &Recipe, spec: &RunSpec) -> Result<Option<RunResult>> {
        let in_run = self.runs.join(&recipe.name).join(&spec.id).join(RESULT);
        for path in [self.ledger(recipe, spec), in_run] {
            if path.is_file() {
                let text = crate::input_file::read_to_string(&path)?;
                return serde_json::from_str(&text)
                    .map(Some)
                    .with_context(|| format!("{}: corrupt run result", path.display()));
            }
        }
        Ok(None)
    }
}

/// Trains and evaluates one run unless it already finished.
pub fn run_one(recipe: &Recipe, spec: &RunSpec, roots: Roots) -> Result<RunResult> {
    if let Some(done) = roots.finished(recipe, spec)? {
        return Ok(done);
    }
    let (runs_root, reports_root) = (roots.runs, roots.reports);
    let dir = runs_root.join(&recipe.name).join(&spec.id);
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
    let eval = evaluate(&EvalRequest {
        baselines: recipe.baselines,
        label_fractions: recipe.label_fractions.clone(),
        ..EvalRequest::of(dir.clone())
    })?;
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
        low_label: eval.scores.low_label.clone(),
        baselines: eval.baselines.clone(),
        queue_bands: queue_bands(&TrainLog::read(&dir)?),
        provenance: Some(Provenance::current()),
        wall_seconds: earlier_seconds + started.elapsed().as_secs_f64(),
    };
    let text = crate::report::json_text(&result)?;
    let ledger = roots.ledger(recipe, spec);
    if let Some(parent) = ledger.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    crate::atomic::write_bytes(&ledger, crate::atomic::Kind::OwnedFile, text.as_bytes())?;
    crate::atomic::write_bytes(
        &dir.join(RESULT),
        crate::atomic::Kind::OwnedFile,
        text.as_bytes(),
    )?;
    Ok(result)
}
