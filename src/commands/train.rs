//! `negstudy train`, `linear-eval` and `embed`.

use crate::pipeline::embed::{EmbedRequest, FolderOptions, Split};
use crate::pipeline::evaluate::{evaluate, EvalReport, EvalRequest};
use crate::train::checkpoint::EncoderRole;
use crate::train::config::{TrainConfig, TrainOverrides};
use crate::train::eval::ProbeConfig;
use crate::train::trainer;
use anyhow::{bail, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// `negstudy train`: a recipe, the flags that override its fields (one
/// definition each, `train::config`), and what this invocation does.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Recipe file (TOML; its [train] table), e.g. analyses/quick-cpu.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: TrainOverrides,
    /// Folder holding run folders.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Continue from the run's last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
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
        self.overrides.apply(&mut c);
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
    #[arg(long, default_value_t = ProbeConfig::default().epochs, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    pub probe_epochs: usize,
    /// Low-label probes: also fit the probe on these shares of the training
    /// labels (stratified, the same images for every feature set), e.g. 0.01,0.1.
    #[arg(long, value_delimiter = ',', value_name = "F", value_parser = label_fraction)]
    pub label_fractions: Vec<f64>,
    /// Output (default: eval.json in the run folder).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// A share of the labels, in (0, 1].
fn label_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err(format!(
            "'{s}' is not a share of the labels in (0, 1], e.g. 0.01"
        )),
    }
}

/// `negstudy linear-eval`: evaluates and writes `eval.json` (default: in
/// the run folder).
pub fn linear_eval(a: EvalArgs) -> Result<EvalReport> {
    let report = evaluate(&EvalRequest {
        checkpoint: a.checkpoint,
        data: a.data,
        baselines: a.baselines,
        probe: ProbeConfig {
            epochs: a.probe_epochs,
            ..ProbeConfig::default()
        },
        label_fractions: a.label_fractions,
    })?;
    let out = a.out.unwrap_or_else(|| report.default_path());
    report.write(&out)?;
    eprintln!("wrote {}", out.display());
    Ok(report)
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Run folder (its last checkpoint), checkpoint folder, or a PyTorch
    /// (.pth, .pth.tar, .pt, .ckpt) or safetensors weights file (see docs/pytorch.md,
    /// "Analysing a PyTorch model").
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    /// Dataset (default: the one trained on; required for a weights file).
    #[arg(long)]
    pub data: Option<String>,
    /// Where a weights file holds the encoder, e.g. `state_dict.module.encoder_q.` (default: detected).
    #[arg(long)]
    pub prefix: Option<String>,
    /// A weights file's stem (its max-pool has no weights; default: a 7×7 conv1 is ImageNet's, 3×3 CIFAR's).
    #[arg(long, value_enum)]
    pub stem: Option<crate::model::Stem>,
    /// A weights file's stem padding (the weights do not say it; default:
    /// 2 for solo-learn's 3×3 CIFAR stem, else kernel / 2 as torchvision).
    #[arg(long, value_name = "P")]
    pub stem_padding: Option<usize>,
    /// A weights file's head: auto (MoCo v2's MLP when present, else z = normalised h), fc (also a single fc layer), none.
    #[arg(long, value_enum, default_value = "auto")]
    pub head: crate::model::foreign::HeadChoice,
    /// Image folder: resize the shorter side to N (bilinear, antialiased; default 256 for ImageNet-stem models).
    #[arg(long, value_name = "N")]
    pub resize: Option<usize>,
    /// Image folder: centre crop N×N (default 224 for ImageNet-stem models).
    #[arg(long, value_name = "N")]
    pub crop: Option<usize>,
    /// Image folder: no resize and no crop, whatever the stem (images must share one size).
    #[arg(long, conflicts_with_all = ["resize", "crop"])]
    pub native_size: bool,
    /// Image folder: the first N images (sorted by name) of each class.
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub limit_per_class: Option<usize>,
    /// Per-channel mean for normalising images, e.g. 0.485,0.456,0.406 (default: the dataset's; give --std too).
    #[arg(
        long,
        value_delimiter = ',',
        requires = "std",
        allow_negative_numbers = true
    )]
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviation, e.g. 0.229,0.224,0.225 (default: the dataset's).
    #[arg(long, value_delimiter = ',', requires = "mean")]
    pub std: Option<Vec<f32>>,
    /// Which part of the dataset (default: the held-out test part, as in
    /// the paper); an image folder is embedded whole.
    #[arg(long, value_enum)]
    pub split: Option<Split>,
    /// query (the trained encoder) or momentum (the key encoder).
    #[arg(long, value_enum, default_value = "query")]
    pub encoder: EncoderRole,
    /// The embedding dump to write (z, h, label, index, classes, wnids).
    #[arg(long, value_name = "FILE.safetensors")]
    pub out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `negstudy embed`: writes the dump.
pub fn embed(a: EmbedArgs) -> Result<()> {
    let normalize = match (a.mean, a.std) {
        (Some(mean), Some(std)) => Some(crate::data::augment::Normalize { mean, std }),
        _ => None,
    };
    let is_folder = a
        .data
        .as_deref()
        .and_then(|d| d.strip_prefix("folder:"))
        .is_some_and(|dir| crate::data::image_folder::is_class_folder_layout(Path::new(dir)));
    if is_folder && a.split.is_some() {
        bail!("--split: an image folder (DIR/<class>/<image>) has no train and test parts and is embedded whole; leave --split out");
    }
    let dump = crate::pipeline::embed::embed(&EmbedRequest {
        checkpoint: a.checkpoint,
        data: a.data,
        split: a.split.unwrap_or(Split::Test),
        encoder: a.encoder,
        weights: crate::model::foreign::ReadOptions {
            prefix: a.prefix,
            momentum: false,
            stem: a.stem,
            stem_padding: a.stem_padding,
            head: a.head,
        },
        normalize,
        folder: FolderOptions {
            resize: a.resize,
            crop: a.crop,
            native_size: a.native_size,
            limit_per_class: a.limit_per_class,
        },
        quiet: a.quiet,
    })?;
    dump.save(&a.out)?;
    eprintln!(
        "wrote {} ({} rows, z d = {}, h d = {})",
        a.out.display(),
        dump.len(),
        dump.dim(),
        dump.h.as_ref().map_or(0, |h| h.cols())
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Run folder (its last checkpoint) or checkpoint folder.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// query (the trained encoder) or momentum (the key encoder).
    #[arg(long, value_enum, default_value = "query")]
    pub encoder: EncoderRole,
    /// Output weights under torchvision's names: FILE.safetensors, or
    /// FILE.pth (also .pt, .pth.tar) in torch.save's zip format (see docs/pytorch.md,
    /// "Taking an encoder to PyTorch").
    #[arg(long, value_name = "FILE.safetensors|FILE.pth")]
    pub out: PathBuf,
}

/// `negstudy export`: writes the encoder's weights for PyTorch.
pub fn export(a: ExportArgs) -> Result<()> {
    let done = crate::pipeline::export::export(&crate::pipeline::export::ExportRequest {
        checkpoint: a.checkpoint,
        encoder: a.encoder,
        out: a.out,
    })?;
    eprintln!(
        "wrote {}: {} encoder ({} input channels, {} stem, {}-d head), {} tensors, {} values, torchvision names",
        done.path.display(),
        done.model.arch.name(),
        done.model.in_channels,
        if done.model.imagenet_stem() { "ImageNet" } else { "CIFAR" },
        done.model.embed_dim,
        done.tensors,
        done.values
    );
    Ok(())
}
