//! Evaluation of a trained checkpoint: the linear probe and weighted kNN on
//! its frozen features ([`evaluate`]); [`Opened`] is also where
//! `pipeline::embed` starts from a run.

use crate::data::augment::Normalize;
use crate::data::dataset::Dataset;
use crate::model::Encoder;
use crate::train::checkpoint::{self, read_config, EncoderRole};
use crate::train::config::TrainConfig;
use crate::train::eval::{self, Features, ProbeConfig};
use crate::train::trainer::{self, device};
use anyhow::{Context, Result};
use burn::module::Module;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The weighted kNN every evaluation uses (InstDisc's k = 200, T = 0.1).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct KnnConfig {
    pub k: usize,
    pub temperature: f64,
}

pub const KNN: KnnConfig = KnnConfig {
    k: 200,
    temperature: 0.1,
};

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct EvalRequest {
    /// A run folder (its last checkpoint) or a checkpoint folder.
    pub checkpoint: PathBuf,
    /// Dataset spec; `None`: the one the run trained on.
    pub data: Option<String>,
    /// Also probe raw pixels and a randomly initialised network.
    pub baselines: bool,
    pub probe: ProbeConfig,
    /// Low-label probes: for each fraction, a linear probe fitted on that
    /// stratified share of the training labels (`eval::label_subset`, the
    /// same rows for the network and its baselines), e.g. 0.01 and 0.1.
    pub label_fractions: Vec<f64>,
}

impl EvalRequest {
    /// The default evaluation of a run folder (no baselines).
    pub fn of(checkpoint: PathBuf) -> EvalRequest {
        EvalRequest {
            checkpoint,
            data: None,
            baselines: false,
            probe: ProbeConfig::default(),
            label_fractions: Vec::new(),
        }
    }
}

/// Linear-probe and kNN accuracy of one feature set (fractions in [0, 1]).
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Scores {
    pub top1: f64,
    pub top5: f64,
    pub knn_top1: f64,
    /// Low-label probes' top-1, one per requested fraction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub low_label: Vec<LowLabel>,
}

/// A linear probe fitted on a share of the training labels.
#[derive(Clone, Copy, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct LowLabel {
    pub fraction: f64,
    pub top1: f64,
}

/// The same evaluation of features that had no pretraining.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Baselines {
    pub raw_pixels: Scores,
    pub random_init: Scores,
}

/// `eval.json`.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    #[serde(flatten)]
    pub scores: Scores,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baselines: Option<Baselines>,
    pub checkpoint: String,
    pub data: String,
    pub train_images: usize,
    pub test_images: usize,
    pub probe: ProbeConfig,
    pub knn: KnnConfig,
    pub negstudy_version: String,
    /// What made it (absent in reports written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::provenance::Provenance>,
}

impl EvalReport {
    /// The text of `eval.json` ([`crate::report::json_text`]).
    pub fn to_json(&self) -> Result<String> {
        crate::report::json_text(self)
    }

    /// Writes `eval.json` (default: beside the checkpoint, in the run folder).
    pub fn write(&self, out: &Path) -> Result<()> {
        crate::atomic::write_bytes(out, crate::atomic::Kind::Json, self.to_json()?.as_bytes())
    }

    /// Where `eval.json` goes by default: the run folder of the checkpoint.
    pub fn default_path(&self) -> PathBuf {
        Path::new(&self.checkpoint)
            .parent()
            .unwrap_or(Path::new("."))
            .join("eval.json")
    }
}

fn scores(train: &Features, test: &Features, classes: usize, req: &EvalRequest) -> Scores {
    let acc = eval::linear_probe(train, test, classes, &req.probe);
    let low_label = req
        .label_fractions
        .iter()
        .map(|&fraction| {
            let rows = eval::label_subset(train.y(), fraction, req.probe.seed);
            LowLabel {
                fraction,
                top1: eval::linear_probe(&train.rows(&rows), test, classes, &req.probe).top1,
            }
        })
        .collect();
    Scores {
        top1: acc.top1,
        top5: acc.top5,
        knn_top1: eval::knn(train, test, classes, KNN.k, KNN.temperature),
        low_label,
    }
}

/// A run folder or a checkpoint folder → the checkpoint folder.
pub fn checkpoint_dir(path: &Path) -> Result<PathBuf> {
    crate::input_file::check_folder(path, "a run folder or a checkpoint-N folder")?;
    if path.join("state.json").exists() {
        return Ok(path.to_path_buf());
    }
    checkpoint::latest(path)?.with_context(|| {
        format!(
            "{}: no checkpoint (expected a run folder or a checkpoint-N folder)",
            path.display()
        )
    })
}

/// What evaluation and embedding start from: a checkpoint, the config it
/// was trained with, the dataset (the trained one unless overridden, read
/// once) with its normalisation, and the device.
pub(crate) struct Opened {
    pub(crate) ck: PathBuf,
    cfg: TrainConfig,
    pub(crate) data_spec: String,
    pub(crate) ds: Dataset,
    pub(crate) norm: Normalize,
    pub(crate) dev: burn::prelude::Device,
}

impl Opened {
    pub(crate) fn open(checkpoint: &Path, data: Option<&str>) -> Result<Opened> {
        let ck = checkpoint_dir(checkpoint)?;
        let cfg = read_config(&ck)?;
        let data_spec = data.map_or_else(|| cfg.data.clone(), str::to_string);
        let (ds, norm) = trainer::data(&data_spec)?;
        let dev = device(&cfg.device)?;
        Ok(Opened {
            ck,
            cfg,
            data_spec,
            ds,
            norm,
            dev,
        })
    }

    /// The encoder's shape: the run's architecture on the dataset's channels.
    pub(crate) fn model(&self) -> crate::model::ModelConfig {
        self.cfg.model(self.ds.train.channels)
    }

    pub(crate) fn encoder(&self, which: EncoderRole) -> Result<Encoder> {
        Ok(checkpoint::load_encoder(&self.ck, which, &self.model(), &self.dev)?.valid())
    }

    fn features(&self, enc: &Encoder, set: &crate::data::dataset::ImageSet) -> Features {
        eval::encode(enc, set, &self.norm, &self.dev, 256).0
    }
}

/// Linear probe (top-1/top-5) and weighted kNN of the query encoder's frozen
/// features; the probe is fitted on the images pretraining used (all of the
/// train part unless the run had a `train_limit`), scored on the test part.
pub fn evaluate(req: &EvalRequest) -> Result<EvalReport> {
    let run = Opened::open(&req.checkpoint, req.data.as_deref())?;
    let enc = run.encoder(EncoderRole::Query)?;
    let classes = run.ds.classes.len();
    let probe_train = match run.cfg.train_limit {
        Some(n) if n < run.ds.train.len() => run.ds.train.subset(&(0..n).collect::<Vec<_>>()),
        _ => run.ds.train.clone(),
    };
    let test = &run.ds.test;
    let trained = scores(
        &run.features(&enc, &probe_train),
        &run.features(&enc, test),
        classes,
        req,
    );
    let baselines = if req.baselines {
        let raw_pixels = scores(
            &eval::pixels(&probe_train),
            &eval::pixels(test),
            classes,
            req,
        );
        run.dev.seed(run.cfg.seed);
        let random = run.cfg.model(run.ds.train.channels).init(&run.dev).valid();
        let random_init = scores(
            &run.features(&random, &probe_train),
            &run.features(&random, test),
            classes,
            req,
        );
        Some(Baselines {
            raw_pixels,
            random_init,
        })
    } else {
        None
    };
    Ok(EvalReport {
        scores: trained,
        baselines,
        checkpoint: run.ck.display().to_string(),
        data: run.data_spec.clone(),
        train_images: probe_train.len(),
        test_images: test.len(),
        probe: req.probe.clone(),
        knn: KNN,
        negstudy_version: crate::VERSION.into(),
        provenance: Some(crate::provenance::Provenance::current()),
    })
}
