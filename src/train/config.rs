//! Training configuration: a TOML recipe (`analyses/*.toml`, table
//! `[train]`) with command-line overrides; the resolved config is written
//! into every run folder and checkpoint so evaluation and resume read back
//! exactly what was trained.

use crate::data::augment::AugmentConfig;
use crate::difficulty::{Filter, NegativeSet};
use crate::model::{Arch, ModelConfig};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything a run needs. Defaults: MoCo v2 at small scale (docs/DESIGN.md §7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Run name: output goes to `runs/<name>/`.
    pub name: String,
    /// Dataset spec (see `negstudy train --help`).
    pub data: String,
    /// Pretrain on only the first N training images (tests, smoke runs).
    pub train_limit: Option<usize>,
    pub arch: Arch,
    pub embed_dim: usize,
    pub epochs: usize,
    pub batch_size: usize,
    /// K: negatives in the queue.
    pub queue_size: usize,
    /// E: extra older keys used to refill dropped negatives (0 = no refill).
    pub refill: usize,
    /// Softmax temperature T.
    pub temperature: f64,
    /// Key-encoder momentum m.
    pub momentum: f64,
    pub lr: f64,
    pub weight_decay: f64,
    /// SGD momentum (PyTorch convention, dampening 0).
    pub sgd_momentum: f64,
    /// Linear warm-up epochs before the cosine schedule.
    pub warmup_epochs: usize,
    /// Keep only these negatives (expression, e.g. `band(95,100)`).
    pub keep: Option<String>,
    /// Drop these negatives (expression, e.g. `band(99.9,100) & same_class`).
    pub drop: Option<String>,
    /// The key batch is shuffled and encoded in this many sub-batches, each
    /// with its own BatchNorm statistics (MoCo's shuffle-BN on one device).
    pub shuffle_bn_splits: usize,
    /// Write a train_log.csv row every this many steps.
    pub log_every: usize,
    /// Compute negative telemetry (percentile dots, same-class rates) for log rows.
    pub telemetry: bool,
    pub seed: u64,
    /// `cpu` (burn's Flex backend) or `cuda` (with the `cuda` feature).
    pub device: String,
    pub augment: AugmentConfig,
    /// The contrastive loss. Written to a config only when it is not the
    /// default, so configs from before it existed read and write unchanged.
    #[serde(skip_serializing_if = "Loss::is_default")]
    pub loss: Loss,
}

/// The contrastive loss over a step's logits `[q·k⁺, q·queue] / T`.
/// MoCo's InfoNCE is the only one today; another (e.g. DCL's decoupled or
/// HCL's hardness-weighted loss) is a new variant here and its formula in
/// `moco::loss` — the trainer does not change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Loss {
    /// Cross-entropy with the positive as the target (official MoCo).
    #[default]
    #[serde(rename = "infonce")]
    InfoNce,
}

impl Loss {
    fn is_default(&self) -> bool {
        *self == Loss::default()
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            name: "run".into(),
            data: "bundled:fashion-mnist-test".into(),
            train_limit: None,
            arch: Arch::ResnetNarrow,
            embed_dim: 128,
            epochs: 10,
            batch_size: 256,
            queue_size: 4096,
            refill: 0,
            temperature: 0.2,
            momentum: 0.99,
            lr: 0.06,
            weight_decay: 5e-4,
            sgd_momentum: 0.9,
            warmup_epochs: 0,
            keep: None,
            drop: None,
            shuffle_bn_splits: 4,
            log_every: 10,
            telemetry: true,
            seed: 0,
            device: "cpu".into(),
            augment: AugmentConfig::default(),
            loss: Loss::default(),
        }
    }
}

/// The recipe file shape: `[train]` plus whatever else a recipe holds (sweeps add tables).
#[derive(Deserialize)]
struct RecipeFile {
    train: Option<toml::Value>,
}

impl TrainConfig {
    /// Reads `[train]` from a recipe (or the whole file when it has no `[train]` table).
    pub fn from_file(path: &Path) -> Result<TrainConfig> {
        let text = crate::input_file::read_to_string(path)?;
        TrainConfig::from_toml_str(&text, path)
    }

    /// [`TrainConfig::from_file`] over the file's text; `path` names it in errors.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<TrainConfig> {
        let value: toml::Value =
            toml::from_str(text).with_context(|| format!("{}: not valid TOML", path.display()))?;
        let train = match toml::from_str::<RecipeFile>(text)
            .ok()
            .and_then(|r| r.train)
        {
            Some(t) => t,
            None => value,
        };
        train
            .try_into()
            .with_context(|| format!("{}: bad [train] table", path.display()))
    }

    pub fn model(&self, in_channels: usize) -> ModelConfig {
        ModelConfig {
            arch: self.arch,
            in_channels,
            embed_dim: self.embed_dim,
        }
    }

    /// Checks every field up front, so a bad value is reported by name with
    /// its allowed range instead of failing (or panicking) deep inside
    /// training.
    pub fn validate(&self) -> Result<()> {
        crate::atomic::check_name(&self.name, "name")?;
        self.validate_sizes()?;
        self.validate_rates()?;
        self.validate_augment()?;
        self.validate_filter()
    }

    /// Counts and sizes, and how they must fit together.
    fn validate_sizes(&self) -> Result<()> {
        int_in("epochs", self.epochs, 1, 100_000)?;
        int_in("batch_size", self.batch_size, 1, 65_536)?;
        int_in("queue_size", self.queue_size, 1, 1 << 24)?;
        int_in("refill", self.refill, 0, 1 << 24)?;
        int_in("embed_dim", self.embed_dim, 1, 65_536)?;
        int_in("log_every", self.log_every, 1, usize::MAX)?;
        int_in(
            "shuffle_bn_splits",
            self.shuffle_bn_splits,
            1,
            self.batch_size,
        )?;
        int_in("warmup_epochs", self.warmup_epochs, 0, self.epochs - 1)
            .context("warm-up must leave at least one epoch of the cosine schedule")?;
        if self.queue_size < self.batch_size {
            bail!(
                "queue_size = {} is smaller than batch_size = {}: MoCo enqueues a whole batch of keys each step, so the queue must hold at least one batch",
                self.queue_size,
                self.batch_size
            );
        }
        if !self.batch_size.is_multiple_of(self.shuffle_bn_splits) {
            bail!(
                "batch_size ({}) must be a multiple of shuffle_bn_splits ({})",
                self.batch_size,
                self.shuffle_bn_splits
            );
        }
        if self.train_limit == Some(0) {
            bail!("train_limit = 0 leaves no training images; omit it or give a positive count");
        }
        Ok(())
    }

    /// Temperature, momenta, learning rate, weight decay.
    fn validate_rates(&self) -> Result<()> {
        let t = self.temperature;
        real_in("temperature", t, t > 0.0 && t <= 100.0, "in (0, 100]")?;
        let m = self.momentum;
        real_in("momentum", m, (0.0..1.0).contains(&m), "in [0, 1)")?;
        real_in(
            "lr",
            self.lr,
            self.lr > 0.0 && self.lr <= 100.0,
            "in (0, 100]",
        )?;
        let wd = self.weight_decay;
        real_in("weight_decay", wd, (0.0..=1.0).contains(&wd), "in [0, 1]")?;
        let sm = self.sgd_momentum;
        real_in("sgd_momentum", sm, (0.0..1.0).contains(&sm), "in [0, 1)")
    }

    /// Augmentation probabilities and strengths.
    fn validate_augment(&self) -> Result<()> {
        let a = &self.augment;
        let unit =
            |field: &str, v: f32| real_in(field, v as f64, (0.0..=1.0).contains(&v), "in [0, 1]");
        unit("augment.flip", a.flip)?;
        unit("augment.jitter_p", a.jitter_p)?;
        unit("augment.grayscale_p", a.grayscale_p)?;
        unit("augment.blur_p", a.blur_p)?;
        unit("augment.brightness", a.brightness)?;
        unit("augment.contrast", a.contrast)?;
        unit("augment.saturation", a.saturation)?;
        real_in(
            "augment.hue",
            a.hue as f64,
            (0.0..=0.5).contains(&a.hue),
            "in [0, 0.5]",
        )?;
        let (lo, hi) = a.crop_scale;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi && hi <= 1.0) {
            bail!("augment.crop_scale = ({lo}, {hi}) is out of range: it must satisfy 0 < lo ≤ hi ≤ 1");
        }
        Ok(())
    }

    /// The filter parses and leaves some query some negatives.
    fn validate_filter(&self) -> Result<()> {
        let (field, e, none_left) = match (self.filter()?, &self.keep, &self.drop) {
            (Filter::Keep(set), Some(e), _) => ("keep", e, set.always_empty(self.queue_size)),
            (Filter::Drop(set), _, Some(e)) => ("drop", e, set.always_everything(self.queue_size)),
            _ => return Ok(()),
        };
        if none_left {
            bail!(
                "{field} = '{e}' leaves no negatives for any query with queue_size = {}; every query would train on its positive alone",
                self.queue_size
            );
        }
        Ok(())
    }

    /// The negative filter `keep` or `drop` describes (parsed here only).
    pub fn filter(&self) -> Result<Filter> {
        let parse = |field: &str, e: &str| {
            NegativeSet::parse(e).map_err(|err| anyhow::anyhow!("{field}: negative filter: {err}"))
        };
        Ok(match (&self.keep, &self.drop) {
            (Some(_), Some(_)) => bail!("give either keep or drop, not both"),
            (Some(k), None) => Filter::Keep(parse("keep", k)?),
            (None, Some(d)) => Filter::Drop(parse("drop", d)?),
            (None, None) => Filter::None,
        })
    }

    /// Learning rate at `step` of `steps_per_epoch · epochs`: linear warm-up,
    /// then half-cosine to 0 (MoCo v2's schedule, per step).
    pub fn lr_at(&self, step: usize, steps_per_epoch: usize) -> f64 {
        let total = (self.epochs * steps_per_epoch).max(1) as f64;
        let warm = (self.warmup_epochs * steps_per_epoch) as f64;
        let s = step as f64;
        if s < warm {
            self.lr * (s + 1.0) / warm
        } else {
            self.lr
                * 0.5
                * (1.0 + (std::f64::consts::PI * (s - warm) / (total - warm).max(1.0)).cos())
        }
    }
}

/// `field = v` must lie in `lo..=hi` (`hi = usize::MAX`: no upper bound).
fn int_in(field: &str, v: usize, lo: usize, hi: usize) -> Result<()> {
    if !(lo..=hi).contains(&v) {
        if hi == usize::MAX {
            bail!("{field} = {v} is out of range: it must be at least {lo}");
        }
        bail!("{field} = {v} is out of range: it must be in {lo}..={hi}");
    }
    Ok(())
}

/// `field = v` must be finite and `ok` (its allowed `range`, in words).
fn real_in(field: &str, v: f64, ok: bool, range: &str) -> Result<()> {
    if !v.is_finite() || !ok {
        bail!("{field} = {v} is out of range: it must be {range}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Loss, TrainConfig};
    use crate::difficulty::Filter;
    use std::path::Path;

    #[test]
    fn the_loss_is_chosen_by_config_and_the_default_is_not_written() {
        let c = TrainConfig::from_toml_str("[train]\nloss = \"infonce\"\n", Path::new("r.toml"))
            .unwrap();
        assert_eq!(c.loss, Loss::InfoNce);
        // Configs written before the field existed stay byte-identical.
        assert!(!toml::to_string(&c).unwrap().contains("loss"));
        let err = TrainConfig::from_toml_str("[train]\nloss = \"dcl\"\n", Path::new("r.toml"))
            .unwrap_err();
        assert!(format!("{err:#}").contains("r.toml"), "{err:#}");
    }

    #[test]
    fn keep_and_drop_are_one_filter() {
        let keep = TrainConfig {
            keep: Some("band(95,100)".into()),
            ..TrainConfig::default()
        };
        assert!(matches!(keep.filter().unwrap(), Filter::Keep(_)));
        let both = TrainConfig {
            drop: Some("same_class".into()),
            ..keep
        };
        let err = both.filter().unwrap_err().to_string();
        assert!(err.contains("either keep or drop"), "{err}");
        assert_eq!(TrainConfig::default().filter().unwrap(), Filter::None);
    }
}
