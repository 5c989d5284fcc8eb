//! The key encoder's forward passes on one long-lived thread, beside the
//! query encoder's forward pass on the training thread.
//!
//! MoCo's two forward passes in a step are independent: the query encoder
//! reads the first view, the key encoder (already momentum-updated) the
//! second, and neither reads what the other writes. Run one after the
//! other, each leaves cores idle between its parallel kernels; run side by
//! side, they fill them.
//!
//! Why one thread for the whole run rather than one per step: burn's
//! BatchNorm keeps its running statistics in a `RunningState`, which files
//! an update under the updating thread's id and merges the entries of all
//! threads (by averaging) when a thread updates twice. Always updating from
//! the same thread reproduces exactly what updating from the training
//! thread did, so losses, checkpoints and resumes are unchanged (a fresh
//! thread per step would average stale statistics in).

use crate::model::Encoder;
use crate::rng::Rng;
use anyhow::{bail, Result};
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::seq::SliceRandom;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// One step's key computation.
pub struct KeyJob {
    /// The key encoder (a shallow clone: its BatchNorm statistics are
    /// shared with the training thread's copy).
    pub key: Encoder,
    /// The second view, CHW-flattened.
    pub view: Vec<f32>,
    pub batch: usize,
    /// (channels, height, width).
    pub shape: (usize, usize, usize),
    /// Shuffle-BN sub-batches.
    pub splits: usize,
    /// The shuffle's random stream.
    pub rng: Rng,
    pub device: Device,
}

/// The thread and its two channels (one job in flight at a time).
pub struct KeyThread {
    jobs: Option<SyncSender<KeyJob>>,
    keys: Receiver<Tensor<2>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl KeyThread {
    pub fn spawn() -> Result<KeyThread> {
        let (jobs, inbox) = sync_channel::<KeyJob>(1);
        let (outbox, keys) = sync_channel::<Tensor<2>>(1);
        let handle = std::thread::Builder::new()
            .name("key-encoder".into())
            .spawn(move || {
                for job in inbox {
                    let k = shuffled_keys(job);
                    if outbox.send(k).is_err() {
                        return;
                    }
                }
            })?;
        Ok(KeyThread {
            jobs: Some(jobs),
            keys,
            handle: Some(handle),
        })
    }

    /// Starts a step's keys.
    pub fn start(&self, job: KeyJob) -> Result<()> {
        match &self.jobs {
            Some(jobs) if jobs.send(job).is_ok() => Ok(()),
            _ => bail!("the key encoder's thread has stopped"),
        }
    }

    /// The keys of the job started last.
    pub fn finish(&self) -> Result<Tensor<2>> {
        self.keys
            .recv()
            .map_err(|_| anyhow::anyhow!("the key encoder's thread stopped (it panicked)"))
    }
}

impl Drop for KeyThread {
    fn drop(&mut self) {
        self.jobs = None; // closes the channel: the thread's loop ends
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Keys for a batch: shuffled, encoded in `splits` sub-batches (each with its
/// own BatchNorm statistics), un-shuffled, detached.
fn shuffled_keys(job: KeyJob) -> Tensor<2> {
    let KeyJob {
        key,
        view,
        batch: b,
        shape: (c, h, w),
        splits,
        mut rng,
        device,
    } = job;
    let device = &device;
    let size = c * h * w;
    let mut perm: Vec<usize> = (0..b).collect();
    perm.shuffle(&mut rng);
    let mut shuffled = Vec::with_capacity(view.len());
    for &i in &perm {
        shuffled.extend_from_slice(&view[i * size..(i + 1) * size]);
    }
    let chunk = b / splits;
    let parts: Vec<Tensor<2>> = shuffled
        .chunks(chunk * size)
        .map(|part| {
            let n = part.len() / size;
            key.forward(Tensor::from_data(
                TensorData::new(part.to_vec(), [n, c, h, w]),
                device,
            ))
        })
        .collect();
    let k = Tensor::cat(parts, 0);
    let mut inverse = vec![0i64; b];
    for (pos, &i) in perm.iter().enumerate() {
        inverse[i] = pos as i64;
    }
    k.select(
        0,
        Tensor::<1, Int>::from_data(TensorData::new(inverse, [b]), device),
    )
    .detach()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Arch, ModelConfig};
    use crate::train::trainer::{device, momentum_update};

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn keys_and_batchnorm_statistics_equal_those_of_the_calling_thread() {
        // Two copies of one key encoder; three steps each, one on this
        // thread, one through the key thread: keys and the BatchNorm
        // running statistics the updates leave must be bit-identical (a
        // fresh thread per step fails this: burn averages per-thread
        // updates of a RunningState).
        let dev = device("cpu").unwrap().autodiff();
        let cfg = ModelConfig {
            arch: Arch::ResnetNarrow,
            in_channels: 1,
            embed_dim: 16,
        };
        let here = cfg.init(&dev).no_grad();
        let there = momentum_update(&here, cfg.init(&dev), 0.0).no_grad();
        let keys = KeyThread::spawn().unwrap();
        let job = |key: &Encoder, step: u64| KeyJob {
            key: key.clone(),
            view: (0..8 * 64)
                .map(|i| ((i * 37 + step as usize) % 101) as f32 / 50.0 - 1.0)
                .collect(),
            batch: 8,
            shape: (1, 8, 8),
            splits: 2,
            rng: crate::rng::stream(3, crate::rng::Purpose::ShuffleBn, step),
            device: dev.clone(),
        };
        for step in 0..3 {
            let k_here = shuffled_keys(job(&here, step));
            keys.start(job(&there, step)).unwrap();
            let k_there = keys.finish().unwrap();
            assert_eq!(values(k_here), values(k_there), "step {step}");
        }
        let shape = cfg.shape();
        let a = crate::model::torchvision::export(&here.valid(), &shape).unwrap();
        let b = crate::model::torchvision::export(&there.valid(), &shape).unwrap();
        assert_eq!(a, b);
        assert!(a
            .iter()
            .any(|t| t.name.ends_with("running_mean") && t.values.iter().any(|&v| v != 0.0)));
    }
}
