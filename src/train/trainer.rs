//! The MoCo v2 training loop, written out plainly (burn's `Learner` does not
//! fit MoCo's per-step side effects: momentum update, queue, filters).
//!
//! Each step, as in the official code: momentum-update the key encoder from
//! the query encoder; encode queries; encode keys (shuffled, in sub-batches,
//! no gradient); logits and loss with the negative filter; backward and SGD
//! step on the query encoder; enqueue the keys.
//!
//! One checkpoint per epoch (written to a temporary folder, then renamed);
//! `resume` continues after the last one, and on CPU reproduces an
//! uninterrupted run's losses exactly: data order, augmentation and the
//! shuffle-BN permutation are keyed by (seed, epoch/step), and the
//! checkpoint holds both encoders (with BatchNorm running statistics), the
//! optimizer's momentum buffers and the queue.

use super::checkpoint::{self, Checkpoint};
use super::config::TrainConfig;
use super::key_thread::{KeyJob, KeyThread};
use super::log::LogRow;
use super::loss::{self, Objective};
use super::moco::{self, Filter, Queue};
pub use super::state::State;
use crate::data::augment::Batch;
use crate::data::augment::{spawn_epoch, Normalize};
use crate::data::dataset::{self, Dataset};
use crate::model::Encoder;
use crate::model::ModelConfig;
use crate::rng::{self, Purpose};
use anyhow::{bail, Result};
use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::tensor::TensorData;
use indicatif::ProgressBar;
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Instant;

/// The compute device named in a config.
pub fn device(name: &str) -> Result<Device> {
    match name {
        "cpu" | "flex" => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        #[cfg(feature = "ndarray")]
        "ndarray" => Ok(Device::ndarray()),
        other => bail!(
            "unknown or unavailable device '{other}' (this build has: cpu{}{})",
            if cfg!(feature = "cuda") { ", cuda" } else { "" },
            if cfg!(feature = "ndarray") {
                ", ndarray"
            } else {
                ""
            }
        ),
    }
}

/// Collects a module's float parameters, flattened, in visiting order.
struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        self.0.push(p.val().detach().flatten(0, D - 1));
    }
}

/// `k ← m·k + (1 − m)·q` over the parameters (MoCo's momentum update; BatchNorm
/// running statistics are buffers and are not averaged, as in the official code).
struct MomentumUpdate {
    from: Vec<Tensor<1>>,
    next: usize,
    m: f64,
}

impl ModuleMapper for MomentumUpdate {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let q = self.from[self.next].clone();
        self.next += 1;
        let m = self.m;
        p.map(|k| {
            let dims = k.dims();
            (k.detach().mul_scalar(m) + q.reshape(dims).mul_scalar(1.0 - m)).detach()
        })
    }
}

/// Momentum-updates `key` from `query` (m = 0 copies).
pub fn momentum_update(query: &Encoder, key: Encoder, m: f64) -> Encoder {
    let mut c = Collect(Vec::new());
    query.visit(&mut c);
    key.map(&mut MomentumUpdate {
        from: c.0,
        next: 0,
        m,
    })
}

/// `[B, C, H, W]` tensor from a CHW-flattened batch.
pub fn images(
    data: Vec<f32>,
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    device: &Device,
) -> Tensor<4> {
    Tensor::from_data(TensorData::new(data, [b, c, h, w]), device)
}

fn sgd(c: &TrainConfig) -> ModuleOptimizer {
    SgdConfig::new()
        .with_momentum(Some(
            MomentumConfig::new()
                .with_momentum(c.sgd_momentum)
                .with_dampening(0.0),
        ))
        .with_weight_decay(Some(WeightDecayConfig::new(c.weight_decay as f32)))
        .init()
}

/// Loads the dataset and its normalisation for a config.
pub fn data(spec: &str) -> Result<(Dataset, Normalize)> {
    let ds = dataset::load(spec)?;
    let (mean, std) = ds.channel_stats();
    Ok((ds, Normalize { mean, std }))
}

/// Trains according to `config` in `run_dir`, resuming from the last
/// checkpoint there when `resume` is set. Returns the final state.
///
/// `stop_after` ends the run after that many completed epochs (as if
/// interrupted there) without changing its configuration or schedule.
pub fn train(
    config: TrainConfig,
    run_dir: &Path,
    resume: bool,
    quiet: bool,
    stop_after: Option<usize>,
) -> Result<State> {
    config.validate()?;
    let session = Instant::now();
    let (ds, norm) = data(&config.data)?;
    let dev = device(&config.device)?;
    dev.seed(config.seed);
    let ad = dev.clone().autodiff();
    // Held until training returns: no second process trains in this folder.
    let _lock = super::run_lock::RunLock::acquire(run_dir)?;
    let mut state = open_state(
        &config,
        run_dir,
        resume,
        &config.model(ds.train.channels),
        &ad,
    )?;
    state.queue.retain = config.queue_retain;
    if state.epoch >= config.epochs {
        return Ok(state);
    }
    let carried_seconds = state.train_seconds;
    let train_set = Arc::new(match config.train_limit {
        Some(n) if n < ds.train.len() => ds.train.subset(&(0..n).collect::<Vec<_>>()),
        _ => ds.train.clone(),
    });
    let steps_per_epoch = train_set.len() / config.batch_size;
    if steps_per_epoch == 0 {
        bail!(
            "batch_size {} exceeds the {} training images",
            config.batch_size,
            train_set.len()
        );
    }
    let mut step = Step {
        filter: config.filter_at(state.epoch)?,
        objective: config.objective()?,
        keys: KeyThread::spawn()?,
        shape: (train_set.channels, train_set.height, train_set.width),
        steps_per_epoch,
        device: &ad,
    };
    let bar = progress_bar(
        quiet,
        (config.epochs * steps_per_epoch) as u64,
        state.step as u64,
    );
    let last = stop_after.map_or(config.epochs, |s| s.min(config.epochs));
    for epoch in state.epoch..last {
        bar.set_prefix(format!("epoch {}/{}", epoch + 1, config.epochs));
        // A scheduled filter's edges move each epoch (the same filter otherwise).
        step.filter = config.filter_at(epoch)?;
        let batches = spawn_epoch(
            train_set.clone(),
            config.augment.clone(),
            norm.clone(),
            config.batch_size,
            config.seed,
            epoch,
        );
        let rows;
        (state, rows) = step.epoch(state, epoch, batches, &bar)?;
        state.epoch = epoch + 1;
        state.train_seconds = carried_seconds + session.elapsed().as_secs_f64();
        checkpoint::save(run_dir, &state, &rows)?;
    }
    bar.finish_and_clear();
    Ok(state)
}

/// The run's state: its last checkpoint when resuming (which must have been
/// trained with the same config), else freshly initialised encoders and
/// queue (and the run's `config.toml`).
fn open_state(
    config: &TrainConfig,
    run_dir: &Path,
    resume: bool,
    model: &ModelConfig,
    device: &Device,
) -> Result<State> {
    match checkpoint::latest(run_dir)? {
        Some(dir) if resume => {
            let ck = Checkpoint::load(&dir, model, device)?;
            // A finished run writes no checkpoint again: clean up here after
            // writers killed at the end of a swap.
            checkpoint::recover_interrupted(run_dir)?;
            if ck.config != *config {
                bail!(
                    "{}: the checkpoint was trained with a different configuration; resume with the same recipe and overrides (saved: {})",
                    dir.display(),
                    dir.join("config.toml").display()
                );
            }
            let optim = sgd(config)
                .load(dir.join("optimizer.bpk"))
                .map_err(|e| anyhow::anyhow!("loading optimizer state: {e:?}"))?;
            Ok(State {
                config: config.clone(),
                query: ck.query,
                key: ck.key,
                optim,
                queue: ck.queue,
                epoch: ck.epoch,
                step: ck.step,
                train_seconds: ck.train_seconds,
            })
        }
        Some(dir) => bail!(
            "{} holds checkpoints ({}); pass --resume to continue or choose another --name",
            run_dir.display(),
            dir.display()
        ),
        None => {
            let query = model.init(device);
            let key = momentum_update(&query, model.init(device), 0.0).no_grad();
            let queue = Queue::new(
                config.queue_size,
                config.refill,
                config.embed_dim,
                config.seed,
                device,
            );
            checkpoint::write_config(run_dir, config)?;
            Ok(State {
                config: config.clone(),
                query,
                key,
                optim: sgd(config),
                queue,
                epoch: 0,
                step: 0,
                train_seconds: 0.0,
            })
        }
    }
}

fn progress_bar(quiet: bool, steps: u64, done: u64) -> ProgressBar {
    let template = "{prefix} [{bar:30}] {pos}/{len} steps  {msg}  eta {eta}";
    let bar = crate::progress::bar(steps, template, quiet);
    bar.set_position(done);
    bar
}

/// What one training step needs besides the state and the batch.
struct Step<'a> {
    filter: Filter,
    /// The loss with its parameters (parsed once).
    objective: Objective,
    /// Where the key encoder's forward passes run.
    keys: KeyThread,
    /// Image shape (channels, height, width).
    shape: (usize, usize, usize),
    steps_per_epoch: usize,
    device: &'a Device,
}

/// What a step reports.
struct StepOutput {
    images: usize,
    loss: f64,
    lr: f64,
    /// On logged steps only.
    telemetry: Option<moco::Telemetry>,
}

impl Step<'_> {
    /// One epoch's steps over `batches`, with telemetry every `log_every`
    /// steps (images/s measured over the steps since the last log row).
    fn epoch(
        &self,
        mut state: State,
        epoch: usize,
        batches: Receiver<Batch>,
        bar: &ProgressBar,
    ) -> Result<(State, Vec<LogRow>)> {
        let mut rows = Vec::new();
        let mut window = (Instant::now(), 0usize);
        for batch in batches {
            let out;
            (state, out) = self.run(state, batch)?;
            window.1 += out.images;
            if let Some(t) = out.telemetry {
                let ips = window.1 as f64 / window.0.elapsed().as_secs_f64().max(1e-9);
                window = (Instant::now(), 0);
                let (loss, lr) = (out.loss, out.lr);
                bar.set_message(format!("loss {loss:.4}  lr {lr:.4}  {ips:.0} img/s"));
                rows.push(LogRow {
                    epoch,
                    step: state.step,
                    loss,
                    lr,
                    negatives: t,
                    images_per_sec: ips,
                });
            }
            state.step += 1;
            bar.inc(1);
        }
        Ok((state, rows))
    }

    /// One MoCo v2 step, in the official code's order. Takes the state by
    /// value so that the encoders are updated in place (a tensor burn holds
    /// one reference to is reused rather than copied).
    fn run(&self, mut state: State, batch: Batch) -> Result<(State, StepOutput)> {
        let config = &state.config;
        let (b, (c, h, w), dev) = (batch.labels.len(), self.shape, self.device);
        let lr = config.lr_at(state.step, self.steps_per_epoch);
        // 1. Momentum update of the key encoder (before the forward passes).
        state.key = momentum_update(&state.query, state.key, config.momentum);
        // 2. Keys: the key encoder on the second view with shuffle-BN,
        // detached — started on the key thread (see `train::key_thread`)
        // so that it runs beside
        // 3. queries: the query encoder on the first view, with gradients.
        self.keys.start(KeyJob {
            key: state.key.clone(),
            view: batch.key_view,
            batch: b,
            shape: self.shape,
            splits: config.shuffle_bn_splits,
            rng: rng::stream(config.seed, Purpose::ShuffleBn, state.step as u64),
            device: dev.clone(),
        })?;
        let q = state
            .query
            .forward(images(batch.query_view, b, c, h, w, dev));
        let k = self.keys.finish()?;
        // 4. Logits [q·k⁺, q·queue] / T with the filtered negatives at −∞.
        let labels = Tensor::<1, Int>::from_data(TensorData::new(batch.labels.clone(), [b]), dev);
        let l = moco::logits(
            q,
            k.clone(),
            &state.queue,
            &self.filter,
            &labels,
            config.temperature,
        )?;
        let telemetry = match (
            state.step.is_multiple_of(config.log_every),
            config.telemetry,
        ) {
            (false, _) => None,
            (true, true) => Some(moco::telemetry(
                &l,
                &state.queue,
                &labels,
                moco::StepImages {
                    images: &batch.images,
                    step: state.step as i64,
                },
                config.temperature,
            )?),
            (true, false) => Some(moco::Telemetry::unmeasured()),
        };
        // 5. Loss.
        let loss = loss::loss(self.objective, l.logits, l.used, config.temperature);
        let loss_value = loss.clone().into_scalar::<f32>() as f64;
        if !loss_value.is_finite() {
            bail!(
                "loss became {loss_value} at step {} (lr {lr}); lower the learning rate",
                state.step
            );
        }
        // 6. Backward and SGD step of the query encoder.
        let grads = GradientsParams::from_grads(loss.backward(), &state.query);
        state.query = state.optim.step(lr, state.query, grads);
        // 7. Enqueue this batch's keys (after the step); a consistency-aware
        // queue first counts which keys this step's queries found hard.
        if state.queue.retain > 0 {
            state.queue.record_hardness(&l.negatives)?;
        }
        state
            .queue
            .enqueue(k, &batch.labels, &batch.images, state.step as i64);
        let out = StepOutput {
            images: b,
            loss: loss_value,
            lr,
            telemetry,
        };
        Ok((state, out))
    }
}
