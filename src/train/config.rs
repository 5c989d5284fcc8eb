//! Training configuration: a TOML recipe (`analyses/*.toml`, table
//! `[train]`) with command-line overrides; the resolved config is written
//! into every run folder and checkpoint so evaluation and resume read back
//! exactly what was trained.

use super::loss::Objective;
use crate::data::augment::AugmentConfig;
use crate::difficulty::{Filter, NegativeSet};
use crate::model::{Arch, ModelConfig};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

crate::train_options! {
    /// Run name (output in <runs>/<name>/).
    name: String = "run".into(), flag;
    /// Dataset spec (see `negstudy train --help`).
    #[arg(help = format!("Dataset: {}", crate::data::dataset::SPECS))]
    data: String = "bundled:fashion-mnist-test".into(), flag;
    /// Pretrain on only the first N training images (tests, smoke runs).
    train_limit: Option<usize> = None, flag Some(usize);
    /// Backbone.
    #[arg(value_enum)]
    arch: Arch = Arch::ResnetNarrow, flag;
    /// Dimension of the MLP head's output (the contrastive space).
    embed_dim: usize = 128;
    /// Pretraining epochs (the cosine schedule spans them all).
    epochs: usize = 10, flag;
    /// Images per step (each gives a query and a key view).
    batch_size: usize = 256, flag;
    /// K, the number of negatives in the queue.
    queue_size: usize = 4096, flag;
    /// E extra older keys that refill dropped negatives (queue of K + E; 0 = no refill).
    refill: usize = 0, flag;
    /// Softmax temperature T.
    temperature: f64 = 0.2, flag;
    /// Key-encoder momentum m.
    momentum: f64 = 0.99, flag;
    /// Base learning rate (SGD; cosine schedule over the epochs).
    lr: f64 = 0.06, flag;
    /// SGD weight decay (L2 on the query encoder's weights).
    weight_decay: f64 = 5e-4, flag;
    /// SGD momentum (PyTorch's convention: dampening 0).
    sgd_momentum: f64 = 0.9;
    /// Epochs of linear learning-rate warm-up before the cosine schedule.
    warmup_epochs: usize = 0, flag;
    /// Keep only these negatives, e.g. 'band(95,100)' (replaces a recipe's drop).
    #[arg(conflicts_with = "drop")]
    keep: Option<String> = None, flag Some(String) clears drop;
    /// Drop these negatives, e.g. 'band(99.9,100) & same_class' (replaces a recipe's keep).
    drop: Option<String> = None, flag Some(String) clears keep;
    /// Also keep the checkpoint after every epoch that is a multiple of this
    /// (for `analyze dynamics`); 0 = only the latest.
    #[serde(skip_serializing_if = "is_zero")]
    keep_every: usize = 0, flag;
    /// Consistency-aware queue (the paper's §4 hypothesis): each step's B
    /// evicted keys are the least often hard (in queries' hardest 5 %) of
    /// the oldest B + this many; 0 = FIFO, MoCo's queue.
    #[serde(skip_serializing_if = "is_zero")]
    queue_retain: usize = 0, flag;
    /// Anneal keep's or drop's band edges epoch by epoch, from theirs at the
    /// first epoch to this expression's at the last (same shape; e.g. Ring:
    /// --keep 'band(0,90)' --schedule-to 'band(90,99)').
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule_to: Option<String> = None, flag Some(String);
    /// How the edges move: linear, cosine (slow, fast, slow) or step (at once, at schedule_at).
    #[arg(value_enum)]
    #[serde(skip_serializing_if = "ScheduleShape::is_default")]
    schedule_shape: ScheduleShape = ScheduleShape::default(), flag;
    /// For a step schedule: the first epoch (counted from 0) that uses schedule_to.
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule_at: Option<usize> = None, flag Some(usize);
    /// Shuffle-BN: the key batch is split into this many groups, each
    /// normalised on its own, in a shuffled order (MoCo's stand-in for per-GPU BatchNorm).
    shuffle_bn_splits: usize = 4, flag;
    /// Steps between rows of train_log.csv (loss and the negatives' telemetry).
    log_every: usize = 10, flag;
    /// Compute the negatives' telemetry (percentile dots, same-class rates,
    /// softmax mass per band) for the log rows.
    telemetry: bool = true;
    /// Seeds augmentations, epoch order, shuffle-BN, the initial queue and the weights.
    seed: u64 = 0, flag;
    /// cpu (burn Flex) or cuda (built with --features cuda).
    device: String = "cpu".into(), flag;
    /// The two views' augmentations (MoCo v2's, with per-field ranges).
    augment: AugmentConfig = AugmentConfig::default();
    /// The contrastive loss: infonce (MoCo), dcl (debiased; needs --tau-plus)
    /// or hcl (hard negatives; needs --tau-plus and --beta).
    #[arg(value_enum)]
    #[serde(skip_serializing_if = "Loss::is_default")]
    loss: Loss = Loss::default(), flag;
    /// τ⁺ of dcl and hcl: the share of a query's negatives assumed to be
    /// of its class (the papers' 0.1), in [0, 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    tau_plus: Option<f64> = None, flag Some(f64);
    /// β of hcl: how strongly it weights hard negatives (0 = dcl; the paper's 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    beta: Option<f64> = None, flag Some(f64);
}

/// The contrastive loss over a step's logits `[q·k⁺, q·queue] / T`, by
/// name; its parameters are the fields `tau_plus` and `beta`, and
/// [`TrainConfig::objective`] joins them into the `train::loss::Objective`
/// the trainer applies. Another loss is a variant here and in `Objective`,
/// and its formula in `train::loss` — the trainer does not change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Loss {
    /// Cross-entropy with the positive as the target (official MoCo).
    #[default]
    #[serde(rename = "infonce")]
    #[value(name = "infonce")]
    InfoNce,
    /// Debiased contrastive loss (Chuang et al. 2020).
    #[serde(rename = "dcl")]
    Dcl,
    /// Hard-negative contrastive loss (Robinson et al. 2021).
    #[serde(rename = "hcl")]
    Hcl,
}

impl Loss {
    fn is_default(&self) -> bool {
        *self == Loss::default()
    }
}

/// How a scheduled filter's band edges move over the epochs: the fraction
/// of the way from keep/drop to `schedule_to` at each epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleShape {
    /// epoch / (epochs − 1).
    #[default]
    Linear,
    /// (1 − cos(π · epoch / (epochs − 1))) / 2.
    Cosine,
    /// 0 before `schedule_at`, 1 from it on.
    Step,
}

impl ScheduleShape {
    fn is_default(&self) -> bool {
        *self == ScheduleShape::default()
    }

    /// The fraction at `epoch` of `epochs` (`at`: a step's epoch).
    pub fn fraction(self, epoch: usize, epochs: usize, at: usize) -> f64 {
        let linear = if epochs > 1 {
            epoch as f64 / (epochs - 1) as f64
        } else {
            0.0
        };
        match self {
            ScheduleShape::Linear => linear,
            ScheduleShape::Cosine => (1.0 - (std::f64::consts::PI * linear).cos()) / 2.0,
            ScheduleShape::Step => f64::from(u8::from(epoch >= at)),
        }
    }
}

fn is_zero(v: &usize) -> bool {
    *v == 0
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
        self.validate_filter()?;
        self.objective().map(|_| ())
    }

    /// The loss with its parameters; each parameter must be given exactly
    /// when the loss uses it (no hidden default: the config records it).
    pub fn objective(&self) -> Result<Objective> {
        let needs = |field: &str, value: Option<f64>, help: &str| -> Result<f64> {
            value.with_context(|| format!("loss = {:?} needs {field} ({help})", self.loss))
        };
        let tau_plus = |value: Option<f64>| -> Result<f64> {
            let p = needs(
                "tau_plus",
                value,
                "the class prior τ⁺ in [0, 1); the papers use 0.1",
            )?;
            real_in("tau_plus", p, (0.0..1.0).contains(&p), "in [0, 1)")?;
            Ok(p)
        };
        let unused = |field: &str, value: Option<f64>| -> Result<()> {
            match value {
                Some(v) => bail!(
                    "{field} = {v} is given but loss = {:?} does not use it",
                    self.loss
                ),
                None => Ok(()),
            }
        };
        Ok(match self.loss {
            Loss::InfoNce => {
                unused("tau_plus", self.tau_plus)?;
                unused("beta", self.beta)?;
                Objective::InfoNce
            }
            Loss::Dcl => {
                unused("beta", self.beta)?;
                Objective::Dcl {
                    tau_plus: tau_plus(self.tau_plus)?,
                }
            }
            Loss::Hcl => {
                let beta = needs(
                    "beta",
                    self.beta,
                    "the hardness concentration β ≥ 0; the paper uses 1",
                )?;
                real_in("beta", beta, (0.0..=100.0).contains(&beta), "in [0, 100]")?;
                Objective::Hcl {
                    tau_plus: tau_plus(self.tau_plus)?,
                    beta,
                }
            }
        })
    }

    /// Counts and sizes, and how they must fit together.
    fn validate_sizes(&self) -> Result<()> {
        int_in("epochs", self.epochs, 1, 100_000)?;
        int_in("batch_size", self.batch_size, 1, 65_536)?;
        int_in("queue_size", self.queue_size, 1, 1 << 24)?;
        int_in("refill", self.refill, 0, 1 << 24)?;
        int_in(
            "queue_retain",
            self.queue_retain,
            0,
            (self.queue_size + self.refill).saturating_sub(self.batch_size),
        )
        .context(
            "queue_retain counts old keys beyond a batch: at most queue_size + refill − batch_size",
        )?;
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

    /// The filter parses and leaves some query some negatives — at every
    /// epoch, when it is scheduled.
    fn validate_filter(&self) -> Result<()> {
        self.validate_schedule()?;
        let epochs = if self.schedule_to.is_some() {
            self.epochs
        } else {
            1
        };
        for epoch in 0..epochs {
            let (field, set, none_left) = match self.filter_at(epoch)? {
                Filter::Keep(set) => ("keep", set.to_string(), set.always_empty(self.queue_size)),
                Filter::Drop(set) => (
                    "drop",
                    set.to_string(),
                    set.always_everything(self.queue_size),
                ),
                Filter::None => return Ok(()),
            };
            if none_left {
                let when = match self.schedule_to {
                    Some(_) => format!(" (at epoch {epoch} of the schedule)"),
                    None => String::new(),
                };
                bail!(
                    "{field} = '{set}'{when} leaves no negatives for any query with queue_size = {}; every query would train on its positive alone",
                    self.queue_size
                );
            }
        }
        Ok(())
    }

    /// schedule_at exactly for a step schedule, within the epochs; a
    /// schedule only for a filter.
    fn validate_schedule(&self) -> Result<()> {
        let Some(to) = &self.schedule_to else {
            if self.schedule_at.is_some() || !self.schedule_shape.is_default() {
                bail!("schedule_shape and schedule_at need schedule_to (the expression the filter moves to)");
            }
            return Ok(());
        };
        if self.keep.is_none() && self.drop.is_none() {
            bail!("schedule_to = '{to}' needs keep or drop: a schedule moves their band edges");
        }
        match (self.schedule_shape, self.schedule_at) {
            (ScheduleShape::Step, None) => {
                bail!("schedule_shape = step needs schedule_at (the first epoch of schedule_to)")
            }
            (ScheduleShape::Step, Some(at)) => int_in("schedule_at", at, 1, self.epochs - 1),
            (_, Some(_)) => bail!("schedule_at is for schedule_shape = step only"),
            (_, None) => Ok(()),
        }
    }

    /// The filter at `epoch`: keep/drop, with its band edges moved towards
    /// `schedule_to` when there is a schedule.
    pub fn filter_at(&self, epoch: usize) -> Result<Filter> {
        let filter = self.filter()?;
        let Some(to) = &self.schedule_to else {
            return Ok(filter);
        };
        let to = NegativeSet::parse(to)
            .map_err(|err| anyhow::anyhow!("schedule_to: negative filter: {err}"))?;
        let f = self
            .schedule_shape
            .fraction(epoch, self.epochs, self.schedule_at.unwrap_or(0));
        let towards = |from: &NegativeSet| {
            from.towards(&to, f)
                .map_err(|e| anyhow::anyhow!("schedule_to: {e}"))
        };
        Ok(match &filter {
            Filter::Keep(set) => Filter::Keep(towards(set)?),
            Filter::Drop(set) => Filter::Drop(towards(set)?),
            Filter::None => filter,
        })
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
    use super::{Loss, Objective, TrainConfig, TrainOverrides};
    use crate::difficulty::Filter;
    use std::path::Path;

    #[test]
    fn the_loss_is_chosen_by_config_and_the_default_is_not_written() {
        let c = TrainConfig::from_toml_str("[train]\nloss = \"infonce\"\n", Path::new("r.toml"))
            .unwrap();
        assert_eq!(c.loss, Loss::InfoNce);
        // Configs written before the field existed stay byte-identical.
        assert!(!toml::to_string(&c).unwrap().contains("loss"));
        let err = TrainConfig::from_toml_str("[train]\nloss = \"focal\"\n", Path::new("r.toml"))
            .unwrap_err();
        assert!(format!("{err:#}").contains("r.toml"), "{err:#}");
    }

    #[test]
    fn a_loss_takes_exactly_its_parameters_and_the_config_records_them() {
        let parse = |text: &str| TrainConfig::from_toml_str(text, Path::new("r.toml")).unwrap();
        let dcl = parse("[train]\nloss = \"dcl\"\n");
        let err = format!("{:#}", dcl.validate().unwrap_err());
        assert!(err.contains("needs tau_plus"), "{err}");
        let dcl = parse("[train]\nloss = \"dcl\"\ntau_plus = 0.1\n");
        assert_eq!(dcl.objective().unwrap(), Objective::Dcl { tau_plus: 0.1 });
        let written = toml::to_string(&dcl).unwrap();
        assert!(
            written.contains("loss = \"dcl\"") && written.contains("tau_plus = 0.1"),
            "{written}"
        );
        assert!(!written.contains("beta"), "{written}");
        let hcl = parse("[train]\nloss = \"hcl\"\ntau_plus = 0.1\nbeta = 6.0\n");
        assert_eq!(
            hcl.objective().unwrap(),
            Objective::Hcl {
                tau_plus: 0.1,
                beta: 6.0
            }
        );
        for (text, says) in [
            ("loss = \"hcl\"\ntau_plus = 0.1\n", "needs beta"),
            (
                "loss = \"dcl\"\ntau_plus = 0.1\nbeta = 1.0\n",
                "does not use it",
            ),
            ("tau_plus = 0.1\n", "does not use it"),
            (
                "loss = \"dcl\"\ntau_plus = 1.0\n",
                "tau_plus = 1 is out of range",
            ),
            (
                "loss = \"hcl\"\ntau_plus = 0.1\nbeta = -1.0\n",
                "beta = -1 is out of range",
            ),
        ] {
            let err = format!(
                "{:#}",
                parse(&format!("[train]\n{text}")).validate().unwrap_err()
            );
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn a_schedule_is_checked_at_every_epoch_and_needs_its_parts() {
        let parse = |text: &str| {
            TrainConfig::from_toml_str(
                &format!("[train]\nepochs = 5\nqueue_size = 4096\n{text}"),
                Path::new("r.toml"),
            )
            .unwrap()
        };
        let ok = parse(
            "keep = \"band(0,90)\"\nschedule_to = \"band(90,99)\"\nschedule_shape = \"cosine\"\n",
        );
        ok.validate().unwrap();
        assert_eq!(ok.filter_at(0).unwrap(), ok.filter().unwrap());
        assert_eq!(
            ok.filter_at(2).unwrap().drop_set().unwrap().to_string(),
            "!band(45,94.5)"
        );
        let step = parse("keep = \"band(0,90)\"\nschedule_to = \"band(90,99)\"\nschedule_shape = \"step\"\nschedule_at = 3\n");
        step.validate().unwrap();
        assert_eq!(step.filter_at(2).unwrap(), step.filter().unwrap());
        assert_eq!(
            step.filter_at(3).unwrap().drop_set().unwrap().to_string(),
            "!band(90,99)"
        );
        for (text, says) in [
            ("schedule_to = \"band(90,99)\"\n", "needs keep or drop"),
            (
                "keep = \"band(0,90)\"\nschedule_shape = \"cosine\"\n",
                "need schedule_to",
            ),
            (
                "keep = \"band(0,90)\"\nschedule_to = \"band(90,99)\"\nschedule_shape = \"step\"\n",
                "needs schedule_at",
            ),
            (
                "keep = \"band(0,90)\"\nschedule_to = \"band(90,99)\"\nschedule_at = 2\n",
                "step only",
            ),
            (
                "keep = \"band(0,90)\"\nschedule_to = \"band(90,99) | same_class\"\n",
                "differ in shape",
            ),
            // The last epoch's band holds no rank of 4096: caught before training.
            (
                "keep = \"band(0,90)\"\nschedule_to = \"band(99.99,99.999)\"\n",
                "at epoch 4 of the schedule",
            ),
        ] {
            let err = format!("{:#}", parse(text).validate().unwrap_err());
            assert!(err.contains(says), "{text}: {err}");
        }
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

    /// A flag replaces exactly its field; no flag leaves the recipe as it
    /// is; `--keep` unsets a recipe's `drop` and the reverse.
    #[test]
    fn overrides_replace_only_the_fields_given() {
        let recipe = TrainConfig {
            epochs: 25,
            drop: Some("same_class".into()),
            ..TrainConfig::default()
        };
        let mut c = recipe.clone();
        TrainOverrides::default().apply(&mut c);
        assert_eq!(c, recipe);

        let o = TrainOverrides {
            epochs: Some(3),
            train_limit: Some(256),
            keep: Some("band(95,100)".into()),
            ..TrainOverrides::default()
        };
        let mut c = recipe.clone();
        o.apply(&mut c);
        let expected = TrainConfig {
            epochs: 3,
            train_limit: Some(256),
            keep: Some("band(95,100)".into()),
            drop: None,
            ..recipe.clone()
        };
        assert_eq!(c, expected);

        let mut c = expected;
        TrainOverrides {
            drop: Some("band(99.9,100)".into()),
            ..TrainOverrides::default()
        }
        .apply(&mut c);
        assert_eq!((c.keep, c.drop.as_deref()), (None, Some("band(99.9,100)")));
    }
}
