//! Evaluation of a trained checkpoint: the linear probe and weighted kNN on
//! its frozen features ([`evaluate`]), and an embedding dump of a dataset
//! part ([`embed`]).

use crate::data::augment::Normalize;
use crate::data::dataset::Dataset;
use crate::model::Encoder;
use crate::store::{Dump, DumpMeta, Matrix};
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
}

impl EvalRequest {
    /// The default evaluation of a run folder (no baselines).
    pub fn of(checkpoint: PathBuf) -> EvalRequest {
        EvalRequest {
            checkpoint,
            data: None,
            baselines: false,
            probe: ProbeConfig::default(),
        }
    }
}

/// Linear-probe and kNN accuracy of one feature set (fractions in [0, 1]).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Scores {
    pub top1: f64,
    pub top5: f64,
    pub knn_top1: f64,
}

/// The same evaluation of features that had no pretraining.
#[derive(Clone, Copy, Debug, Serialize)]
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

fn scores(train: &Features, test: &Features, classes: usize, probe: &ProbeConfig) -> Scores {
    let acc = eval::linear_probe(train, test, classes, probe);
    Scores {
        top1: acc.top1,
        top5: acc.top5,
        knn_top1: eval::knn(train, test, classes, KNN.k, KNN.temperature),
    }
}

/// A run folder or a checkpoint folder → the checkpoint folder.
pub fn checkpoint_dir(path: &Path) -> Result<PathBuf> {
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
    ck: PathBuf,
    cfg: TrainConfig,
    data_spec: String,
    ds: Dataset,
    norm: Normalize,
    dev: burn::prelude::Device,
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
        &req.probe,
    );
    let baselines = if req.baselines {
        let raw_pixels = scores(
            &eval::pixels(&probe_train),
            &eval::pixels(test),
            classes,
            &req.probe,
        );
        run.dev.seed(run.cfg.seed);
        let random = run.cfg.model(run.ds.train.channels).init(&run.dev).valid();
        let random_init = scores(
            &run.features(&random, &probe_train),
            &run.features(&random, test),
            classes,
            &req.probe,
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
    })
}

/// Which part of a dataset to embed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    Train,
    Test,
    All,
}

/// What to embed.
#[derive(Clone, Debug)]
pub struct EmbedRequest {
    /// A run folder (its last checkpoint), a checkpoint folder, or a PyTorch
    /// or safetensors weights file (`model::foreign`).
    pub checkpoint: PathBuf,
    /// Dataset spec; `None`: the one the run trained on (required for a file).
    pub data: Option<String>,
    pub split: Split,
    pub encoder: EncoderRole,
    /// Where the encoder sits in a weights file; `None`: detected.
    pub prefix: Option<String>,
    /// Per-channel mean and std the images are normalised with; `None`: the
    /// dataset's own (what negstudy trains with).
    pub normalize: Option<Normalize>,
}

impl EmbedRequest {
    /// The paper's dump: the query encoder on the held-out test part.
    pub fn of(checkpoint: PathBuf) -> EmbedRequest {
        EmbedRequest {
            checkpoint,
            data: None,
            split: Split::Test,
            encoder: EncoderRole::Query,
            prefix: None,
            normalize: None,
        }
    }
}

/// The images of one part of a dataset (`All`: train then test).
fn part(ds: &Dataset, split: Split) -> crate::data::dataset::ImageSet {
    match split {
        Split::Train => ds.train.clone(),
        Split::Test => ds.test.clone(),
        Split::All => {
            let mut s = ds.train.clone();
            s.pixels.extend_from_slice(&ds.test.pixels);
            s.labels.extend_from_slice(&ds.test.labels);
            s.source_index.extend_from_slice(&ds.test.source_index);
            s
        }
    }
}

/// The normalisation to use: the request's, checked against the channels,
/// else the dataset's.
fn normalization(req: &EmbedRequest, dataset: &Normalize, channels: usize) -> Result<Normalize> {
    let Some(n) = &req.normalize else {
        return Ok(dataset.clone());
    };
    if n.mean.len() != channels || n.std.len() != channels {
        anyhow::bail!(
            "--mean/--std give {} and {} values; the images have {channels} channels",
            n.mean.len(),
            n.std.len()
        );
    }
    if let Some(s) = n.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        anyhow::bail!("--std {s}: a standard deviation must be positive");
    }
    Ok(n.clone())
}

/// The dump of one encoder's embeddings (`z` and `h`) of a dataset part.
pub fn embed(req: &EmbedRequest) -> Result<Dump> {
    if req.checkpoint.is_file() {
        return embed_file(req);
    }
    let run = Opened::open(&req.checkpoint, req.data.as_deref())?;
    let enc = run.encoder(req.encoder)?;
    let ds = &run.ds;
    let set = part(ds, req.split);
    let norm = normalization(req, &run.norm, set.channels)?;
    let epoch = checkpoint::read_counters(&run.ck)?.epoch.to_string();
    dump_of(
        eval::encode(&enc, &set, &norm, &run.dev, 256),
        &set,
        ds,
        DumpMeta {
            encoder: Some(req.encoder.name().into()),
            source: Some(run.ck.display().to_string()),
            epoch: Some(epoch),
            dataset: Some(format!("{} ({:?} part)", run.data_spec, req.split).to_lowercase()),
            ..DumpMeta::default()
        },
    )
}

/// The dump of `set`'s embeddings `(h, z)`; `meta` says where they came
/// from, the dataset adds its classes and wnids.
fn dump_of(
    (h, z): (Features, Features),
    set: &crate::data::dataset::ImageSet,
    ds: &Dataset,
    meta: DumpMeta,
) -> Result<Dump> {
    Ok(Dump {
        z: Matrix::new(z.n(), z.d(), z.into_x())?,
        h: Some(Matrix::new(h.n(), h.d(), h.into_x())?),
        label: set.labels.clone(),
        index: Some(set.source_index.clone()),
        meta: DumpMeta {
            classes: ds.classes.clone(),
            wnids: ds.wnids.clone(),
            negstudy_version: Some(crate::VERSION.into()),
            ..meta
        },
    })
}

/// `embed` of a weights file negstudy did not train (PyTorch or
/// safetensors), on the CPU, with the architecture read from the weights.
fn embed_file(req: &EmbedRequest) -> Result<Dump> {
    let spec = req.data.as_deref().with_context(|| {
        format!(
            "{}: embedding a weights file needs --data (which images to embed)",
            req.checkpoint.display()
        )
    })?;
    let (ds, stats) = trainer::data(spec)?;
    let dev = device("cpu")?;
    let momentum = req.encoder == EncoderRole::Momentum;
    let loaded =
        crate::model::foreign::load(&req.checkpoint, req.prefix.as_deref(), momentum, &dev)?;
    let set = part(&ds, req.split);
    if loaded.model.in_channels != set.channels {
        anyhow::bail!(
            "{}: the encoder takes {} input channels but '{spec}' has {}",
            req.checkpoint.display(),
            loaded.model.in_channels,
            set.channels
        );
    }
    let norm = normalization(req, &stats, set.channels)?;
    dump_of(
        eval::encode(&loaded.encoder, &set, &norm, &dev, 256),
        &set,
        &ds,
        DumpMeta {
            encoder: Some(req.encoder.name().into()),
            source: Some(format!(
                "{} ({}, encoder under '{}', {})",
                req.checkpoint.display(),
                loaded.layout,
                loaded.prefix,
                loaded.model.arch.name()
            )),
            epoch: None,
            dataset: Some(format!("{spec} ({:?} part)", req.split).to_lowercase()),
            ..DumpMeta::default()
        },
    )
}
