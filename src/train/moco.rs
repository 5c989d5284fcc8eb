//! MoCo v2's queue and logits, as in the official code
//! (`logits = [q·k⁺, q·queue] / T`; keys enqueued after the step), with
//! per-query negative filters and refill (docs/DESIGN.md §2); the losses
//! over the logits are in `train::loss`.
//!
//! The queue is kept newest-first: positions 0..K are the K newest keys (the
//! negatives), K..K+E the E older "refill" keys. Each slot carries the key's
//! label (an oracle used only by filters and telemetry; −1 for the random
//! initial keys), the training-set index of its image and the step it was
//! enqueued at (both for the queue's hygiene telemetry).

use super::select;
pub use crate::difficulty::Filter;
use crate::difficulty::{Band, NegativeSet};
use crate::rng::{self, Purpose};
use anyhow::Result;
use burn::prelude::*;
use burn::tensor::TensorData;

/// The negative queue.
pub struct Queue {
    /// [K + E, d], L2-normalised rows, newest first.
    pub keys: Tensor<2>,
    /// [K + E] labels, newest first (−1: initial random key).
    pub labels: Tensor<1, Int>,
    /// Host copy of the labels (for telemetry and checkpoints).
    pub host_labels: Vec<i64>,
    /// Step at which each slot was enqueued (−1: initial).
    pub enqueued_at: Vec<i64>,
    /// Training-set index of each slot's image (−1: an initial key, or one
    /// from a checkpoint written before images were recorded).
    pub host_images: Vec<i64>,
    /// Per slot: how many queries ranked it among their hardest 5 % while
    /// it was one of the K newest, and how many ranked it at all — the
    /// paper's Fig. 6 statistic, online (kept only with `retain` > 0).
    pub hard_count: Vec<u64>,
    pub seen_count: Vec<u64>,
    /// Consistency-aware eviction: the B keys a step evicts are the least
    /// often hard among the oldest B + `retain` (0: FIFO, MoCo's queue).
    pub retain: usize,
    /// K: negatives per query.
    pub size: usize,
    /// E: extra keys for refill.
    pub extra: usize,
}

impl Queue {
    /// Dimension of the keys.
    pub fn dim(&self) -> usize {
        self.keys.dims()[1]
    }

    /// Random unit keys (MoCo initialises the queue with normalised Gaussians).
    pub fn new(size: usize, extra: usize, dim: usize, seed: u64, device: &Device) -> Queue {
        let n = size + extra;
        let mut rng = rng::stream(seed, Purpose::QueueInit, 0);
        let mut data: Vec<f32> = (0..n * dim)
            .map(|_| rng::gaussian(&mut rng) as f32)
            .collect();
        for row in data.chunks_mut(dim) {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            row.iter_mut().for_each(|v| *v /= norm);
        }
        Queue::from_parts(data, vec![-1; n], vec![-1; n], size, extra, dim, device)
    }

    pub fn from_parts(
        keys: Vec<f32>,
        labels: Vec<i64>,
        enqueued_at: Vec<i64>,
        size: usize,
        extra: usize,
        dim: usize,
        device: &Device,
    ) -> Queue {
        let n = size + extra;
        Queue {
            keys: Tensor::from_data(TensorData::new(keys, [n, dim]), device),
            labels: Tensor::from_data(TensorData::new(labels.clone(), [n]), device),
            host_labels: labels,
            enqueued_at,
            host_images: vec![-1; n],
            hard_count: vec![0; n],
            seen_count: vec![0; n],
            retain: 0,
            size,
            extra,
        }
    }

    /// Puts `keys` [B, d] (detached) of the images `images` (training-set
    /// indices) at the front, dropping the oldest B.
    /// With `retain` > 0 the evicted B are the least often hard of the
    /// oldest B + `retain` (ties: the older first), and the survivors keep
    /// their order.
    pub fn enqueue(&mut self, keys: Tensor<2>, labels: &[i64], images: &[i64], step: i64) {
        let total = self.size + self.extra;
        let b = labels.len().min(total);
        let device = self.keys.device();
        let survivors = self.survivors(b);
        let new = keys.narrow(0, 0, b).detach();
        // A queue exactly one batch long keeps nothing of the old keys
        // (burn cannot narrow or select to length 0).
        self.keys = match &survivors {
            _ if b == total => new,
            None => Tensor::cat(vec![new, self.keys.clone().narrow(0, 0, total - b)], 0),
            Some(rows) => {
                let rows: Vec<i64> = rows.iter().map(|&j| j as i64).collect();
                let index =
                    Tensor::<1, Int>::from_data(TensorData::new(rows, [total - b]), &device);
                Tensor::cat(vec![new, self.keys.clone().select(0, index)], 0)
            }
        };
        // The host columns: the new slots first, then the survivors.
        fn shift<T: Copy>(
            new: impl IntoIterator<Item = T>,
            old: &[T],
            kept: &Option<Vec<usize>>,
            keep: usize,
        ) -> Vec<T> {
            let mut out: Vec<T> = new.into_iter().collect();
            match kept {
                None => out.extend_from_slice(&old[..keep]),
                Some(rows) => out.extend(rows.iter().map(|&j| old[j])),
            }
            out
        }
        let keep = total - b;
        let host = shift(
            labels[..b].iter().copied(),
            &self.host_labels,
            &survivors,
            keep,
        );
        self.labels = Tensor::from_data(TensorData::new(host.clone(), [total]), &device);
        self.host_labels = host;
        self.enqueued_at = shift(
            std::iter::repeat_n(step, b),
            &self.enqueued_at,
            &survivors,
            keep,
        );
        self.host_images = shift(
            images[..b].iter().copied(),
            &self.host_images,
            &survivors,
            keep,
        );
        self.hard_count = shift(
            std::iter::repeat_n(0, b),
            &self.hard_count,
            &survivors,
            keep,
        );
        self.seen_count = shift(
            std::iter::repeat_n(0, b),
            &self.seen_count,
            &survivors,
            keep,
        );
    }

    /// The old slots that stay when `b` new keys arrive, in order: `None`
    /// for FIFO (the newest `total − b`), else all but the `b` least often
    /// hard among the oldest `b + retain`.
    fn survivors(&self, b: usize) -> Option<Vec<usize>> {
        if self.retain == 0 {
            return None;
        }
        let total = self.size + self.extra;
        let window = (b + self.retain).min(total);
        let mut candidates: Vec<usize> = (total - window..total).collect();
        candidates.sort_by(|&x, &y| {
            self.hard_frequency(x)
                .total_cmp(&self.hard_frequency(y))
                .then(y.cmp(&x))
        });
        let mut evicted = vec![false; total];
        candidates[..b].iter().for_each(|&j| evicted[j] = true);
        Some((0..total).filter(|&j| !evicted[j]).collect())
    }

    /// The share of the queries that ranked slot `j` that found it among
    /// their hardest 5 % (0 before any did).
    pub fn hard_frequency(&self, j: usize) -> f64 {
        match self.seen_count[j] {
            0 => 0.0,
            seen => self.hard_count[j] as f64 / seen as f64,
        }
    }

    /// Counts which of the K newest keys each query of `scores` [N, K + E]
    /// (q·queue) ranks among its hardest 5 % (the band Fig. 6 counts; one
    /// definition with the telemetry's hard band).
    pub fn record_hardness(&mut self, scores: &Tensor<2>) -> Result<()> {
        let [n, _] = scores.dims();
        let (lo, hi) = TELEMETRY_BANDS[HARD_BAND];
        let band = Band::new(lo, hi).map_err(anyhow::Error::msg)?;
        let main = scores.clone().slice([0..n, 0..self.size]);
        let hard: Vec<i64> = select::select(&NegativeSet::Band(band), &main, None)?
            .int()
            .sum_dim(0)
            .into_data()
            .convert::<i64>()
            .try_into_vec()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        for (j, h) in hard.into_iter().enumerate() {
            self.hard_count[j] += h as u64;
            self.seen_count[j] += n as u64;
        }
        Ok(())
    }
}

/// Logits and what was used, for the loss and telemetry.
pub struct Logits {
    /// [N, 1 + K + E] / T, dropped entries −∞.
    pub logits: Tensor<2>,
    /// q·queue before masking, [N, K + E] (detached).
    pub negatives: Tensor<2>,
    /// Which queue entries each query used, [N, K + E].
    pub used: Tensor<2, Bool>,
}

/// Which queue entries each query uses, from the detached scores `q·queue`
/// [N, K + E]: the filter's kept set among the K newest, and with refill
/// (E > 0) as many of the newest extra keys as the query dropped.
pub fn used_mask(
    scores: &Tensor<2>,
    queue: &Queue,
    filter: &Filter,
    query_labels: &Tensor<1, Int>,
) -> Result<Tensor<2, Bool>> {
    let [n, _] = scores.dims();
    let (size, extra) = (queue.size, queue.extra);
    let device = scores.device();
    let all = |cols: usize, value: bool| {
        Tensor::<2>::zeros([n, cols], &device).equal_elem(if value { 0.0 } else { 1.0 })
    };
    let main = scores.clone().slice([0..n, 0..size]);
    Ok(match filter.drop_set() {
        // Without a filter the refill keys stay unused.
        None if extra == 0 => all(size, true),
        None => Tensor::cat(vec![all(size, true), all(extra, false)], 1),
        Some(drop) => {
            let queue_labels = queue.labels.clone().narrow(0, 0, size);
            let dropped = select::select(&drop, &main, Some((query_labels, &queue_labels)))?;
            let kept = dropped.clone().bool_not();
            if extra == 0 {
                kept
            } else {
                // Refill: extra key j (0 = newest) is used iff j < #dropped.
                let count = dropped.int().sum_dim(1);
                let order = Tensor::<1, Int>::arange(0..extra as i64, &device)
                    .reshape([1, extra])
                    .expand([n, extra]);
                Tensor::cat(vec![kept, order.lower(count.expand([n, extra]))], 1)
            }
        }
    })
}

/// `[l_pos, l_neg with unused entries at −∞] / T` — dropped negatives are
/// absent from the softmax, not zeroed.
pub fn masked_logits(
    l_pos: Tensor<2>,
    l_neg: Tensor<2>,
    used: Tensor<2, Bool>,
    temperature: f64,
) -> Tensor<2> {
    Tensor::cat(
        vec![l_pos, l_neg.mask_fill(used.bool_not(), f32::NEG_INFINITY)],
        1,
    )
    .div_scalar(temperature)
}

/// Builds MoCo's logits for queries `q` [N, d] and positive keys `k` [N, d].
pub fn logits(
    q: Tensor<2>,
    k: Tensor<2>,
    queue: &Queue,
    filter: &Filter,
    query_labels: &Tensor<1, Int>,
    temperature: f64,
) -> Result<Logits> {
    let l_pos = (q.clone() * k).sum_dim(1);
    let l_neg = q.matmul(queue.keys.clone().transpose());
    let scores = l_neg.clone().detach();
    let used = used_mask(&scores, queue, filter, query_labels)?;
    Ok(Logits {
        logits: masked_logits(l_pos, l_neg, used.clone(), temperature),
        negatives: scores,
        used,
    })
}

/// The difficulty bands (percent of a query's K newest negatives, 0 =
/// easiest) whose composition the telemetry records: the bands of the
/// paper's Figure 2 claims (the hardest 5 %, the next two 5 % bands and
/// the easy rest) and Table 1's hardest 0.1 % (inside the hardest 5 %).
pub const TELEMETRY_BANDS: [(f64, f64); 5] = [
    (0.0, 85.0),
    (85.0, 90.0),
    (90.0, 95.0),
    (95.0, 100.0),
    (99.9, 100.0),
];

/// Where the "hard" band of `hard_same_class` / `easy_same_class`, the
/// hardest 5 %, sits in [`TELEMETRY_BANDS`].
const HARD_BAND: usize = 3;
const _: () = assert!(
    TELEMETRY_BANDS[HARD_BAND].0 == 95.0 && TELEMETRY_BANDS[HARD_BAND].1 == 100.0,
    "HARD_BAND must index the hardest 5 %"
);

/// A telemetry band's name in log columns, e.g. `90-95`, `99.9-100`.
pub fn band_name((lo, hi): (f64, f64)) -> String {
    format!("{lo}-{hi}")
}

/// What one difficulty band of the queue holds (means over queries).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct BandShare {
    /// Share of the band's negatives whose class is the query's.
    pub same_class: f64,
    /// The band's share of the negatives' softmax mass,
    /// Σ_band e^{s/T} / Σ_K e^{s/T}: the share of the gradient that pushes
    /// queries away from negatives that goes to this band.
    pub softmax_mass: f64,
}

/// Telemetry of one step's negatives (means over queries).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Telemetry {
    /// Queue dot product at the 50th, 95th and 99.9th per-query percentiles.
    pub p50: f64,
    pub p95: f64,
    pub p999: f64,
    /// Same-class rate among each query's hardest 5 % of the K newest, and among the rest.
    pub hard_same_class: f64,
    pub easy_same_class: f64,
    /// Negatives each query actually used.
    pub used_per_query: f64,
    /// Keys of the query's own image (earlier views of it) among the K
    /// newest, per query: negatives that are in fact positives.
    pub own_image_hits: f64,
    /// Steps since the K newest keys were enqueued (initial keys left
    /// out): their mean and the oldest's — how stale the negatives are.
    pub key_age_mean: f64,
    pub key_age_max: f64,
    /// Composition of each of [`TELEMETRY_BANDS`] of the K newest keys
    /// (whatever the filter keeps: it describes the queue, not the loss).
    pub bands: [BandShare; TELEMETRY_BANDS.len()],
}

impl Telemetry {
    /// A log row without telemetry (all NaN, written as empty cells).
    pub fn unmeasured() -> Telemetry {
        let nan = f64::NAN;
        Telemetry {
            p50: nan,
            p95: nan,
            p999: nan,
            hard_same_class: nan,
            easy_same_class: nan,
            used_per_query: nan,
            own_image_hits: nan,
            key_age_mean: nan,
            key_age_max: nan,
            bands: [BandShare {
                same_class: nan,
                softmax_mass: nan,
            }; TELEMETRY_BANDS.len()],
        }
    }
}

/// The queries' images and the step, for the queue's hygiene telemetry.
#[derive(Clone, Copy, Debug)]
pub struct StepImages<'a> {
    /// Training-set index of each query's image.
    pub images: &'a [i64],
    /// The current step: a key enqueued at step s is `step − s` steps old.
    pub step: i64,
}

/// Own-image hits per query and the key ages (mean, max) among the K
/// newest slots of `queue` at `at`.
pub fn hygiene(queue: &Queue, at: StepImages) -> (f64, f64, f64) {
    let newest = &queue.host_images[..queue.size];
    let hits: usize = at
        .images
        .iter()
        .map(|&image| {
            newest
                .iter()
                .filter(|&&slot| slot == image && slot >= 0)
                .count()
        })
        .sum();
    let ages: Vec<i64> = queue.enqueued_at[..queue.size]
        .iter()
        .filter(|&&s| s >= 0)
        .map(|&s| at.step - s)
        .collect();
    let (mean, max) = match ages.iter().max() {
        Some(&max) => (
            ages.iter().sum::<i64>() as f64 / ages.len() as f64,
            max as f64,
        ),
        None => (f64::NAN, f64::NAN),
    };
    (hits as f64 / at.images.len().max(1) as f64, mean, max)
}

/// The step's telemetry from its logits, the queue and the queries' labels
/// and images; `temperature` weighs the softmax mass as the loss does.
pub fn telemetry(
    l: &Logits,
    queue: &Queue,
    query_labels: &Tensor<1, Int>,
    at: StepImages,
    temperature: f64,
) -> Result<Telemetry> {
    let [n, _] = l.negatives.dims();
    let size = queue.size;
    let main = l.negatives.clone().slice([0..n, 0..size]);
    let pct = |p: f64| -> Result<f64> {
        let k = Band::new(p, 100.0)
            .map_err(anyhow::Error::msg)?
            .rank_range(size)
            .start;
        Ok(select::value_at_rank(&main, k)?.mean().into_scalar::<f32>() as f64)
    };
    let band_mask = |(lo, hi): (f64, f64)| -> Result<Tensor<2, Bool>> {
        let band = Band::new(lo, hi).map_err(anyhow::Error::msg)?;
        select::select(&NegativeSet::Band(band), &main, None)
    };
    let same = select::same_class(query_labels, &queue.labels.clone().narrow(0, 0, size));
    let rate = |mask: Tensor<2, Bool>| -> f64 {
        let total = mask.clone().int().sum().into_scalar::<i64>() as f64;
        let hits = mask.bool_and(same.clone()).int().sum().into_scalar::<i64>() as f64;
        if total > 0.0 {
            hits / total
        } else {
            f64::NAN
        }
    };
    // e^{(s − max)/T} per query: the softmax's weights over the K newest,
    // shifted by each row's maximum so that no exponent overflows.
    let scaled = main.clone().div_scalar(temperature);
    let weights = (scaled.clone() - scaled.max_dim(1)).exp();
    let row_total = weights.clone().sum_dim(1);
    let mass = |mask: Tensor<2, Bool>| -> f64 {
        let inside = weights.clone().mask_fill(mask.bool_not(), 0.0).sum_dim(1);
        (inside / row_total.clone()).mean().into_scalar::<f32>() as f64
    };
    let masks = TELEMETRY_BANDS
        .iter()
        .map(|&edges| band_mask(edges))
        .collect::<Result<Vec<_>>>()?;
    let mut bands = [BandShare::default(); TELEMETRY_BANDS.len()];
    for (share, mask) in bands.iter_mut().zip(&masks) {
        *share = BandShare {
            same_class: rate(mask.clone()),
            softmax_mass: mass(mask.clone()),
        };
    }
    let (own_image_hits, key_age_mean, key_age_max) = hygiene(queue, at);
    Ok(Telemetry {
        own_image_hits,
        key_age_mean,
        key_age_max,
        p50: pct(50.0)?,
        p95: pct(95.0)?,
        p999: pct(99.9)?,
        // The hardest 5 % is one of the telemetry bands: its rate and mask are reused.
        hard_same_class: bands[HARD_BAND].same_class,
        easy_same_class: rate(masks[HARD_BAND].clone().bool_not()),
        used_per_query: l.used.clone().int().sum().into_scalar::<i64>() as f64 / n as f64,
        bands,
    })
}
