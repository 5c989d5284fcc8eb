//! `negstudy train`, `linear-eval` and `embed`.

use crate::data::dataset;
use crate::model::Arch;
use crate::store::{Dump, DumpMeta, Matrix};
use crate::train::checkpoint::{self, read_config};
use crate::train::config::TrainConfig;
use crate::train::eval::{self, Features, ProbeConfig};
use crate::train::trainer::{self, device};
use anyhow::{bail, Context, Result};
use burn::module::Module;
use clap::Args;
use serde_json::json;
use std::path::{Path, PathBuf};

/// `negstudy train`: every field of the recipe can be overridden here.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Recipe file (TOML; its [train] table), e.g. analyses/quick-cpu.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run name (output in <runs>/<name>/).
    #[arg(long)]
    pub name: Option<String>,
    /// Dataset: bundled:fashion-mnist-test | fashion-mnist[:DIR] | cifar10:DIR | cifar100:DIR | folder:DIR.
    #[arg(long)]
    pub data: Option<String>,
    /// Backbone.
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,
    /// Pretraining epochs (the cosine schedule spans them all).
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// K, the number of negatives in the queue.
    #[arg(long)]
    pub queue_size: Option<usize>,
    /// E extra keys to refill dropped negatives (queue of K + E).
    #[arg(long)]
    pub refill: Option<usize>,
    /// Softmax temperature T.
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Key-encoder momentum m.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Base learning rate (SGD, momentum 0.9).
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub weight_decay: Option<f64>,
    #[arg(long)]
    pub warmup_epochs: Option<usize>,
    /// Keep only these negatives, e.g. 'band(95,100)'.
    #[arg(long, conflicts_with = "drop")]
    pub keep: Option<String>,
    /// Drop these negatives, e.g. 'band(99.9,100) & same_class'.
    #[arg(long)]
    pub drop: Option<String>,
    #[arg(long)]
    pub shuffle_bn_splits: Option<usize>,
    #[arg(long)]
    pub log_every: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// cpu (burn Flex) or cuda (built with --features cuda).
    #[arg(long)]
    pub device: Option<String>,
    /// Folder holding run folders.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Continue from the run's last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Pretrain on only the first N training images.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Stop after this many completed epochs (resume later with --resume).
    #[arg(long, value_name = "EPOCHS")]
    pub stop_after: Option<usize>,
}

impl TrainArgs {
    /// The recipe with this command line's overrides applied.
    pub fn resolve(&self) -> Result<TrainConfig> {
        let mut c = match &self.config {
            Some(p) => TrainConfig::from_file(p)?,
            None => TrainConfig::default(),
        };
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = &self.$f { c.$f = v.clone(); } )* };
        }
        set!(
            name,
            data,
            arch,
            epochs,
            batch_size,
            queue_size,
            refill,
            temperature,
            momentum,
            lr,
            weight_decay,
            warmup_epochs,
            shuffle_bn_splits,
            log_every,
            seed,
            device
        );
        if self.train_limit.is_some() {
            c.train_limit = self.train_limit;
        }
        if let Some(k) = &self.keep {
            c.keep = Some(k.clone());
            c.drop = None;
        }
        if let Some(d) = &self.drop {
            c.drop = Some(d.clone());
            c.keep = None;
        }
        c.validate()?;
        Ok(c)
    }
}

pub fn train(a: TrainArgs) -> Result<PathBuf> {
    let config = a.resolve()?;
    let dir = a.runs.join(&config.name);
    let started = std::time::Instant::now();
    let state = trainer::train(config, &dir, a.resume, a.quiet, a.stop_after)?;
    eprintln!(
        "trained {} epochs ({} steps) in {:.1} s; checkpoints and train_log.csv in {}",
        state.epoch,
        state.step,
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(dir)
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

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Run folder (its last checkpoint) or checkpoint folder.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// Dataset to evaluate on (default: the one trained on); its train part fits the probe.
    #[arg(long)]
    pub data: Option<String>,
    /// Also probe raw pixels and a randomly initialised network of the same architecture.
    #[arg(long)]
    pub baselines: bool,
    /// Epochs of the linear probe (1–10 000).
    #[arg(long, default_value_t = 60, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    pub probe_epochs: usize,
    /// Output (default: eval.json in the run folder).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Probe and kNN of one feature set.
fn scores(
    train: &Features,
    test: &Features,
    classes: usize,
    probe: &ProbeConfig,
) -> serde_json::Value {
    let acc = eval::linear_probe(train, test, classes, probe);
    json!({"top1": acc.top1, "top5": acc.top5, "knn_top1": eval::knn(train, test, classes, 200, 0.1)})
}

/// What `linear-eval` and `embed` start from: a checkpoint, the config it
/// was trained with, the dataset (the trained one unless overridden, read
/// once) with its normalisation, and the device.
struct Evaluation {
    ck: PathBuf,
    cfg: TrainConfig,
    data_spec: String,
    ds: dataset::Dataset,
    norm: crate::data::augment::Normalize,
    dev: burn::prelude::Device,
}

impl Evaluation {
    fn open(checkpoint: &Path, data: Option<&str>) -> Result<Evaluation> {
        let ck = checkpoint_dir(checkpoint)?;
        let cfg = read_config(&ck)?;
        let data_spec = data.map_or_else(|| cfg.data.clone(), str::to_string);
        let (ds, norm) = trainer::data(&data_spec)?;
        let dev = device(&cfg.device)?;
        Ok(Evaluation {
            ck,
            cfg,
            data_spec,
            ds,
            norm,
            dev,
        })
    }

    fn encoder(&self, which: &str) -> Result<crate::model::Encoder> {
        Ok(checkpoint::load_encoder(
            &self.ck,
            which,
            &self.cfg.model(self.ds.train.channels),
            &self.dev,
        )?
        .valid())
    }
}

pub fn linear_eval(a: EvalArgs) -> Result<serde_json::Value> {
    let ev = Evaluation::open(&a.checkpoint, a.data.as_deref())?;
    let enc = ev.encoder("query")?;
    let Evaluation {
        ck,
        cfg,
        data_spec,
        ds,
        norm,
        dev,
    } = ev;
    let model = cfg.model(ds.train.channels);
    let probe = ProbeConfig {
        epochs: a.probe_epochs,
        ..ProbeConfig::default()
    };
    let classes = ds.classes.len();
    // The probe is fitted on the images pretraining used (all of the train part unless train_limit).
    let probe_train = match cfg.train_limit {
        Some(n) if n < ds.train.len() => ds.train.subset(&(0..n).collect::<Vec<_>>()),
        _ => ds.train.clone(),
    };
    let (htr, _) = eval::encode(&enc, &probe_train, &norm, &dev, 256);
    let (hte, _) = eval::encode(&enc, &ds.test, &norm, &dev, 256);
    let mut result = scores(&htr, &hte, classes, &probe);
    if a.baselines {
        let raw = scores(
            &eval::pixels(&probe_train),
            &eval::pixels(&ds.test),
            classes,
            &probe,
        );
        dev.seed(cfg.seed);
        let random = model.init(&dev).valid();
        let (rtr, _) = eval::encode(&random, &probe_train, &norm, &dev, 256);
        let (rte, _) = eval::encode(&random, &ds.test, &norm, &dev, 256);
        result["baselines"] =
            json!({"raw_pixels": raw, "random_init": scores(&rtr, &rte, classes, &probe)});
    }
    result["checkpoint"] = json!(ck.display().to_string());
    result["data"] = json!(data_spec);
    result["train_images"] = json!(probe_train.len());
    result["test_images"] = json!(ds.test.len());
    result["probe"] = json!(probe);
    result["knn"] = json!({"k": 200, "temperature": 0.1});
    result["negstudy_version"] = json!(crate::VERSION);
    let out = a
        .out
        .unwrap_or_else(|| ck.parent().unwrap_or(Path::new(".")).join("eval.json"));
    crate::atomic::write_bytes(
        &out,
        crate::atomic::Kind::Json,
        (serde_json::to_string_pretty(&result)? + "\n").as_bytes(),
    )?;
    eprintln!("wrote {}", out.display());
    Ok(result)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    Train,
    Test,
    All,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Run folder (its last checkpoint) or checkpoint folder.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// Dataset (default: the one trained on).
    #[arg(long)]
    pub data: Option<String>,
    /// Which part of the dataset (default: the held-out test part, as in the paper).
    #[arg(long, value_enum, default_value = "test")]
    pub split: Split,
    /// query (the trained encoder) or momentum (the key encoder).
    #[arg(long, default_value = "query")]
    pub encoder: String,
    #[arg(long, value_name = "FILE.safetensors")]
    pub out: PathBuf,
}

pub fn embed(a: EmbedArgs) -> Result<()> {
    if !matches!(a.encoder.as_str(), "query" | "momentum") {
        bail!("--encoder must be query or momentum, got '{}'", a.encoder);
    }
    let ev = Evaluation::open(&a.checkpoint, a.data.as_deref())?;
    let enc = ev.encoder(&a.encoder)?;
    let Evaluation {
        ck,
        data_spec,
        ds,
        norm,
        dev,
        ..
    } = ev;
    let set = match a.split {
        Split::Train => ds.train.clone(),
        Split::Test => ds.test.clone(),
        Split::All => {
            let mut s = ds.train.clone();
            s.pixels.extend_from_slice(&ds.test.pixels);
            s.labels.extend_from_slice(&ds.test.labels);
            s.source_index.extend_from_slice(&ds.test.source_index);
            s
        }
    };
    let (h, z) = eval::encode(&enc, &set, &norm, &dev, 256);
    let epoch = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(
        ck.join("state.json"),
    )?)?["epoch"]
        .to_string();
    let dump = Dump {
        z: Matrix::new(z.n, z.d, z.x)?,
        h: Some(Matrix::new(h.n, h.d, h.x)?),
        label: set.labels.clone(),
        index: Some(set.source_index.clone()),
        meta: DumpMeta {
            classes: ds.classes.clone(),
            wnids: ds.wnids.clone(),
            encoder: Some(a.encoder.clone()),
            source: Some(ck.display().to_string()),
            epoch: Some(epoch),
            dataset: Some(format!("{data_spec} ({:?} part)", a.split).to_lowercase()),
            negstudy_version: Some(crate::VERSION.into()),
        },
    };
    dump.save(&a.out)?;
    eprintln!(
        "wrote {} ({} rows, z d = {}, h d = {})",
        a.out.display(),
        dump.len(),
        dump.dim(),
        h.d
    );
    Ok(())
}
