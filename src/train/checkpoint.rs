//! Checkpoints: `runs/<name>/checkpoint-<epoch>/` with both encoders
//! (burnpack, BatchNorm running statistics included), the optimizer's
//! momentum buffers, the queue (keys, labels, enqueue steps), the resolved
//! config and the step counters. Written to a temporary folder and renamed;
//! the previous checkpoint is removed once the new one is in place.
//! `train_log.csv` ([`super::log`]) is rewritten atomically at the same
//! time, keeping only rows of completed epochs, so an interrupted epoch
//! leaves no rows behind.

use super::config::TrainConfig;
use super::log::{self, LogRow};
use super::moco::Queue;
use super::state::State;
use crate::atomic;
use crate::model::{Encoder, ModelConfig};
use crate::store::{f32_bytes, floats_from_le, i64_bytes, ints_from_le, Elem};
use anyhow::{bail, Context, Result};
use burn::prelude::*;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::path::{Path, PathBuf};

pub const PREFIX: &str = "checkpoint-";

/// A loaded checkpoint.
pub struct Checkpoint {
    pub config: TrainConfig,
    pub query: Encoder,
    pub key: Encoder,
    pub queue: Queue,
    pub epoch: usize,
    pub step: usize,
    pub train_seconds: f64,
}

/// `state.json`: where a checkpoint stands in its run.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Counters {
    pub epoch: usize,
    pub step: usize,
    /// Wall seconds of training up to this checkpoint, over every session
    /// (0 in checkpoints written before it was recorded).
    #[serde(default)]
    train_seconds: f64,
    negstudy_version: String,
}

/// Writes the run's resolved config (`runs/<name>/config.toml`).
pub fn write_config(run_dir: &Path, config: &TrainConfig) -> Result<()> {
    let text = toml::to_string(&TrainTable {
        train: config.clone(),
    })?;
    atomic::write_bytes(
        &run_dir.join("config.toml"),
        atomic::Kind::OwnedFile,
        text.as_bytes(),
    )
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TrainTable {
    train: TrainConfig,
}

/// The complete checkpoint folders in `run_dir` with their epochs.
fn all_checkpoints(run_dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    if !run_dir.exists() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for e in std::fs::read_dir(run_dir).with_context(|| format!("reading {}", run_dir.display()))? {
        let p = e?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(n) = name
            .strip_prefix(PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
        {
            if p.join("state.json").exists() {
                found.push((n, p));
            }
        }
    }
    Ok(found)
}

/// Cleans up after killed writers of any checkpoint in `run_dir`: a
/// process killed between swapping a checkpoint in and removing that
/// write's journal leaves the journal behind, and a checkpoint older than
/// the newest (or the last of a finished run) is never written again, so
/// nothing else would. Only dead writers' journals and the temporaries
/// they name are touched (`atomic::recover_in`).
pub fn recover_interrupted(run_dir: &Path) -> Result<()> {
    crate::atomic::recover_in(run_dir, |name| name.starts_with(PREFIX))
}

/// Every complete checkpoint folder in `run_dir`, oldest first (more than
/// one when the run keeps them: `keep_every`).
pub fn kept(run_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut all = all_checkpoints(run_dir)?;
    all.sort_by_key(|c| c.0);
    Ok(all.into_iter().map(|c| c.1).collect())
}

/// The newest complete checkpoint folder in `run_dir`, if any.
pub fn latest(run_dir: &Path) -> Result<Option<PathBuf>> {
    Ok(all_checkpoints(run_dir)?
        .into_iter()
        .max_by_key(|c| c.0)
        .map(|c| c.1))
}

fn save_queue(q: &Queue, path: &Path) -> Result<()> {
    let [n, d] = q.keys.dims();
    let keys: Vec<f32> = q
        .keys
        .clone()
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let counts = |v: &[u64]| -> Vec<i64> { v.iter().map(|&c| c as i64).collect() };
    let (kb, lb, ab, ib) = (
        f32_bytes(&keys),
        i64_bytes(&q.host_labels),
        i64_bytes(&q.enqueued_at),
        i64_bytes(&q.host_images),
    );
    let (hb, sb) = (
        i64_bytes(&counts(&q.hard_count)),
        i64_bytes(&counts(&q.seen_count)),
    );
    let err = |e| anyhow::anyhow!("queue tensor: {e:?}");
    let tensors = vec![
        (
            "keys",
            TensorView::new(Dtype::F32, vec![n, d], &kb).map_err(err)?,
        ),
        (
            "labels",
            TensorView::new(Dtype::I64, vec![n], &lb).map_err(err)?,
        ),
        (
            "enqueued_at",
            TensorView::new(Dtype::I64, vec![n], &ab).map_err(err)?,
        ),
        (
            "images",
            TensorView::new(Dtype::I64, vec![n], &ib).map_err(err)?,
        ),
        (
            "hard_count",
            TensorView::new(Dtype::I64, vec![n], &hb).map_err(err)?,
        ),
        (
            "seen_count",
            TensorView::new(Dtype::I64, vec![n], &sb).map_err(err)?,
        ),
    ];
    let meta = [
        ("size".to_string(), q.size.to_string()),
        ("extra".to_string(), q.extra.to_string()),
    ]
    .into_iter()
    .collect();
    crate::store::safetensors_io::serialize_to_file(tensors, meta, path)
        .context("writing the queue")
}

fn load_queue(path: &Path, device: &Device) -> Result<Queue> {
    let bytes = crate::input_file::read(path)?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: corrupt queue: {e:?}", path.display()))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let num = |k: &str| -> Result<usize> {
        meta.get(k)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{}: missing '{k}'", path.display()))
    };
    let get = |k: &str| {
        st.tensor(k)
            .map_err(|_| anyhow::anyhow!("{}: missing '{k}'", path.display()))
    };
    let (size, extra) = (num("size")?, num("extra")?);
    let n = size
        .checked_add(extra)
        .with_context(|| format!("{}: size + extra overflows", path.display()))?;
    // Every tensor must have the dtype and shape the metadata implies.
    let check = |k: &str, dtype: Dtype, rank: usize| -> Result<Vec<usize>> {
        let t = get(k)?;
        let shape = t.shape().to_vec();
        if t.dtype() != dtype || shape.len() != rank || shape[0] != n {
            bail!(
                "{}: '{k}' is {:?} {shape:?}; expected {dtype:?} with {n} rows (size {size} + extra {extra})",
                path.display(),
                t.dtype()
            );
        }
        Ok(shape)
    };
    let d = check("keys", Dtype::F32, 2)?[1];
    check("labels", Dtype::I64, 1)?;
    check("enqueued_at", Dtype::I64, 1)?;
    // Columns added after the first checkpoints: absent in older ones.
    let optional = |name: &str| -> Result<Option<Vec<i64>>> {
        if st.tensor(name).is_err() {
            return Ok(None);
        }
        check(name, Dtype::I64, 1)?;
        Ok(Some(ints_from_le(get(name)?.data(), Elem::I64, name)?))
    };
    let images = optional("images")?;
    let count = |name: &str| -> Result<Option<Vec<u64>>> {
        optional(name)?
            .map(|v| {
                v.into_iter()
                    .map(|c| {
                        u64::try_from(c)
                            .with_context(|| format!("{}: negative {name}", path.display()))
                    })
                    .collect()
            })
            .transpose()
    };
    let (hard_count, seen_count) = (count("hard_count")?, count("seen_count")?);
    let f32s = floats_from_le(get("keys")?.data(), Elem::F32, "keys")?;
    let i64s = |name: &str| ints_from_le(get(name)?.data(), Elem::I64, name);
    if let Some(i) = f32s.iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: non-finite key at row {}, column {}",
            path.display(),
            i / d.max(1),
            i % d.max(1)
        );
    }
    // Labels become a device tensor of the backend's integer type (i32 on
    // the CPU): a value outside it would abort the conversion.
    let labels = i64s("labels")?;
    if let Some((row, v)) = labels
        .iter()
        .enumerate()
        .find(|(_, &v)| !(-1..=i64::from(i32::MAX)).contains(&v))
    {
        bail!(
            "{}: label {v} at row {row} is not a class index (−1 marks an initial random key; classes are 0 to 2³¹−1)",
            path.display()
        );
    }
    let mut queue = Queue::from_parts(f32s, labels, i64s("enqueued_at")?, size, extra, d, device);
    if let Some(images) = images {
        queue.host_images = images;
    }
    if let (Some(hard), Some(seen)) = (hard_count, seen_count) {
        queue.hard_count = hard;
        queue.seen_count = seen;
    }
    Ok(queue)
}

/// Saves the state after an epoch, with that epoch's log rows.
pub fn save(run_dir: &Path, state: &State, rows: &[LogRow]) -> Result<()> {
    let dir = run_dir.join(format!("{PREFIX}{:04}", state.epoch));
    atomic::write_with(&dir, atomic::Kind::Checkpoint, |tmp| {
        std::fs::create_dir_all(tmp)?;
        let err = |e| anyhow::anyhow!("saving module: {e:?}");
        state
            .query
            .valid()
            .save_file(tmp.join("encoder_q.bpk"))
            .map_err(err)?;
        state
            .key
            .valid()
            .save_file(tmp.join("encoder_k.bpk"))
            .map_err(err)?;
        state
            .optim
            .save(tmp.join("optimizer.bpk"))
            .map_err(|e| anyhow::anyhow!("saving optimizer: {e:?}"))?;
        save_queue(&state.queue, &tmp.join("queue.safetensors"))?;
        std::fs::write(
            tmp.join("config.toml"),
            toml::to_string(&TrainTable {
                train: state.config.clone(),
            })?,
        )?;
        let counters = Counters {
            epoch: state.epoch,
            step: state.step,
            train_seconds: state.train_seconds,
            negstudy_version: crate::VERSION.into(),
        };
        std::fs::write(
            tmp.join("state.json"),
            serde_json::to_string_pretty(&counters)?,
        )?;
        Ok(())
    })?;
    log::write(run_dir, state.epoch - 1, rows)?;
    recover_interrupted(run_dir)?;
    // Every older checkpoint goes (but those `keep_every` keeps), including
    // one a kill left behind between writing the next and removing it.
    let every = state.config.keep_every;
    for (epoch, p) in all_checkpoints(run_dir)? {
        if epoch < state.epoch && !(every > 0 && epoch.is_multiple_of(every)) {
            std::fs::remove_dir_all(&p)
                .with_context(|| format!("removing old checkpoint {}", p.display()))?;
        }
    }
    Ok(())
}

/// Reads the config a checkpoint (or run folder) was trained with.
pub fn read_config(dir: &Path) -> Result<TrainConfig> {
    let path = dir.join("config.toml");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (is this a checkpoint or run folder?)",
            path.display()
        )
    })?;
    let t: TrainTable =
        toml::from_str(&text).with_context(|| format!("{}: bad config", path.display()))?;
    Ok(t.train)
}

/// Loads one encoder from a checkpoint folder onto `device`.
pub fn load_encoder(
    dir: &Path,
    role: EncoderRole,
    model: &ModelConfig,
    device: &Device,
) -> Result<Encoder> {
    let file = role.file();
    model
        .init(device)
        .try_load_file(dir.join(file))
        .map_err(|e| anyhow::anyhow!("{}: {e:?}", dir.join(file).display()))
}

/// Which of MoCo's two encoders: the query encoder (trained by gradient)
/// or the momentum (key) encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EncoderRole {
    Query,
    Momentum,
}

impl EncoderRole {
    /// The name recorded in dumps (`encoder` metadata).
    pub fn name(self) -> &'static str {
        match self {
            EncoderRole::Query => "query",
            EncoderRole::Momentum => "momentum",
        }
    }

    /// Its file inside a checkpoint folder.
    fn file(self) -> &'static str {
        match self {
            EncoderRole::Query => "encoder_q.bpk",
            EncoderRole::Momentum => "encoder_k.bpk",
        }
    }
}

impl Checkpoint {
    pub fn load(dir: &Path, model: &ModelConfig, device: &Device) -> Result<Checkpoint> {
        let counters = read_counters(dir)?;
        let config = read_config(dir)?;
        let queue = load_queue(&dir.join("queue.safetensors"), device)?;
        // A hand-edited or mixed-up checkpoint must not resume silently.
        let folder_epoch = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|e| e.parse::<usize>().ok());
        let problems: Vec<String> = [
            (queue.size != config.queue_size).then(|| {
                format!(
                    "the queue holds {} negatives but config.toml says queue_size = {}",
                    queue.size, config.queue_size
                )
            }),
            (queue.extra != config.refill).then(|| {
                format!(
                    "the queue holds {} extra keys but config.toml says refill = {}",
                    queue.extra, config.refill
                )
            }),
            (queue.dim() != config.embed_dim).then(|| {
                format!(
                    "queue keys have {} dimensions but config.toml says embed_dim = {}",
                    queue.dim(),
                    config.embed_dim
                )
            }),
            (counters.epoch == 0 || counters.epoch > config.epochs).then(|| {
                format!(
                    "state.json says epoch {} of {}",
                    counters.epoch, config.epochs
                )
            }),
            (counters.step < counters.epoch).then(|| {
                format!(
                    "state.json says step {} after {} epochs",
                    counters.step, counters.epoch
                )
            }),
            folder_epoch.filter(|&e| e != counters.epoch).map(|e| {
                format!(
                    "the folder is epoch {e} but state.json says {}",
                    counters.epoch
                )
            }),
            (!counters.train_seconds.is_finite() || counters.train_seconds < 0.0)
                .then(|| format!("state.json says train_seconds = {}", counters.train_seconds)),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !problems.is_empty() {
            bail!(
                "{}: inconsistent checkpoint: {}",
                dir.display(),
                problems.join("; ")
            );
        }
        Ok(Checkpoint {
            query: load_encoder(dir, EncoderRole::Query, model, device)?,
            key: load_encoder(dir, EncoderRole::Momentum, model, device)?.no_grad(),
            queue,
            config,
            epoch: counters.epoch,
            step: counters.step,
            train_seconds: counters.train_seconds,
        })
    }
}

pub fn read_counters(dir: &Path) -> Result<Counters> {
    let path = dir.join("state.json");
    let text = crate::input_file::read_to_string(&path)?;
    serde_json::from_str(&text).with_context(|| format!("{}: malformed", path.display()))
}

/// Wall seconds a run had trained, over every session, when this
/// checkpoint was written: what an interrupted run has already cost, so a
/// resumed run can report its total.
pub fn trained_seconds(checkpoint_dir: &Path) -> Result<f64> {
    Ok(read_counters(checkpoint_dir)?.train_seconds)
}
