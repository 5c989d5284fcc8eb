//! Evaluation of a frozen representation: a linear probe (multinomial
//! logistic regression on standardised backbone features, top-1 and top-5)
//! and weighted kNN (k = 200, T = 0.1, cosine similarity; Wu et al. 2018, as
//! in MoCo's kNN monitor), both trained on the train part and scored on the
//! held-out test part.

use crate::data::augment::{plain, Normalize};
use crate::data::dataset::ImageSet;
use crate::gemm::{gemm, View};
use crate::model::Encoder;
use crate::rng::{self, Purpose};
use burn::prelude::*;
use rand::seq::SliceRandom;
use serde::Serialize;

/// Row-major features [n, d] with labels. Fields are private so that
/// `x.len() == n × d` and `y.len() == n` always hold (the probe's GEMMs
/// read `x` through raw pointers); built here from an encoder or pixels.
#[derive(Clone, Debug)]
pub struct Features {
    n: usize,
    d: usize,
    x: Vec<f32>,
    y: Vec<i64>,
}

impl Features {
    /// Rows.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Columns.
    pub fn d(&self) -> usize {
        self.d
    }

    /// The values, row-major.
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// One label per row.
    pub fn y(&self) -> &[i64] {
        &self.y
    }

    pub fn into_x(self) -> Vec<f32> {
        self.x
    }

    /// The rows at `rows`, in that order.
    pub fn rows(&self, rows: &[usize]) -> Features {
        let mut x = Vec::with_capacity(rows.len() * self.d);
        for &r in rows {
            x.extend_from_slice(&self.x[r * self.d..(r + 1) * self.d]);
        }
        Features {
            n: rows.len(),
            d: self.d,
            x,
            y: rows.iter().map(|&r| self.y[r]).collect(),
        }
    }
}

/// The labelled rows of a low-label probe: per class, `ceil(fraction · k)`
/// of its `k` rows, drawn without replacement from stream (seed, class), in
/// ascending row order. Stratified and fixed by the seed, so the probe of a
/// trained network and of its baselines see the same labelled images (the
/// semi-supervised protocol of SimCLR's 1 % / 10 % ImageNet subsets).
pub fn label_subset(y: &[i64], fraction: f64, seed: u64) -> Vec<usize> {
    let classes = y.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut rows = Vec::new();
    for c in 0..classes {
        let of_class: Vec<usize> = (0..y.len()).filter(|&i| y[i] == c as i64).collect();
        let k = ((fraction * of_class.len() as f64).ceil() as usize).min(of_class.len());
        let mut rng = rng::stream(seed, Purpose::LabelSubset, c as u64);
        rows.extend(
            rng::subset(&mut rng, of_class.len(), k)
                .into_iter()
                .map(|i| of_class[i]),
        );
    }
    rows.sort_unstable();
    rows
}

/// Backbone features (`h`) and normalised embeddings (`z`), accumulated
/// batch by batch.
#[derive(Debug, Default)]
pub struct Encoded {
    h: Vec<f32>,
    z: Vec<f32>,
    hd: usize,
    zd: usize,
}

impl Encoded {
    /// Runs the encoder (eval mode) on `n` normalised CHW images of
    /// `c × hgt × w` in `data`, and keeps their `h` and `z` rows.
    pub fn push(
        &mut self,
        enc: &Encoder,
        data: Vec<f32>,
        n: usize,
        (c, hgt, w): (usize, usize, usize),
        device: &Device,
    ) {
        let x = super::trainer::images(data, n, c, hgt, w, device);
        let feat = enc.features(x);
        let z = crate::model::l2_normalize(enc.head(feat.clone()));
        self.hd = feat.dims()[1];
        self.zd = z.dims()[1];
        let values = |t: Tensor<2>| {
            t.into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap_or_default()
        };
        self.h.extend(values(feat));
        self.z.extend(values(z));
    }

    /// `(h, z)` with one label per row pushed.
    pub fn finish(self, labels: Vec<i64>) -> (Features, Features) {
        let n = labels.len();
        (
            Features {
                n,
                d: self.hd,
                x: self.h,
                y: labels.clone(),
            },
            Features {
                n,
                d: self.zd,
                x: self.z,
                y: labels,
            },
        )
    }
}

/// Backbone features (`h`) and normalised embeddings (`z`) of every image, in order.
pub fn encode(
    enc: &Encoder,
    set: &ImageSet,
    norm: &Normalize,
    device: &Device,
    batch: usize,
) -> (Features, Features) {
    let (c, h, w) = (set.channels, set.height, set.width);
    let size = c * h * w;
    let mut out = Encoded::default();
    for start in (0..set.len()).step_by(batch) {
        let end = (start + batch).min(set.len());
        let mut data = vec![0f32; (end - start) * size];
        for (i, x) in (start..end).zip(data.chunks_mut(size)) {
            plain(set.image(i), h, w, c, norm, x);
        }
        out.push(enc, data, end - start, (c, h, w), device);
    }
    out.finish(set.labels.clone())
}

/// Raw pixels in [0, 1] as features (the "no learning" baseline).
pub fn pixels(set: &ImageSet) -> Features {
    Features {
        n: set.len(),
        d: set.image_size(),
        x: set.pixels.iter().map(|&p| p as f32 / 255.0).collect(),
        y: set.labels.clone(),
    }
}

/// Probe hyper-parameters.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeConfig {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            epochs: 60,
            batch: 256,
            lr: 0.1,
            weight_decay: 1e-4,
            seed: 0,
        }
    }
}

/// Accuracy of a classifier on the test part.
#[derive(Clone, Debug, Serialize)]
pub struct Accuracy {
    pub top1: f64,
    pub top5: f64,
}

fn standardise(train: &Features, test: &Features) -> (Vec<f32>, Vec<f32>) {
    let d = train.d;
    let mut mean = vec![0f64; d];
    let mut sq = vec![0f64; d];
    for row in train.x.chunks(d) {
        for (j, &v) in row.iter().enumerate() {
            mean[j] += v as f64;
            sq[j] += (v as f64) * (v as f64);
        }
    }
    let n = train.n.max(1) as f64;
    let scale: Vec<f32> = mean
        .iter()
        .zip(&sq)
        .map(|(m, s)| (1.0 / ((s / n - (m / n).powi(2)).max(1e-12)).sqrt()) as f32)
        .collect();
    let mean: Vec<f32> = mean.iter().map(|m| (m / n) as f32).collect();
    let apply = |f: &Features| {
        f.x.chunks(d)
            .flat_map(|row| {
                row.iter()
                    .zip(&mean)
                    .zip(&scale)
                    .map(|((v, m), s)| (v - m) * s)
            })
            .collect()
    };
    (apply(train), apply(test))
}

/// logits = X W + b for rows of X.
fn logits(x: &[f32], rows: usize, d: usize, w: &[f32], b: &[f32], c: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * c];
    for r in 0..rows {
        out[r * c..(r + 1) * c].copy_from_slice(b);
    }
    gemm(
        1.0,
        View::row_major(x, rows, d),
        View::row_major(w, d, c),
        1.0,
        &mut out,
    );
    out
}

/// Turns each row of logits `g` [rows, c] into the cross-entropy gradient
/// softmax − one-hot(label), averaged over the batch.
fn softmax_minus_onehot(g: &mut [f32], labels: &[i64], c: usize) {
    let rows = labels.len();
    for (row, &label) in g.chunks_mut(c).zip(labels) {
        let mx = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = row
            .iter_mut()
            .map(|v| {
                *v = (*v - mx).exp();
                *v
            })
            .sum();
        row.iter_mut().for_each(|v| *v /= sum * rows as f32);
        row[label as usize] -= 1.0 / rows as f32;
    }
}

/// Xᵀ G for X [rows, d] and G [rows, c], row-major: [d, c].
fn xt_times(x: &[f32], g: &[f32], rows: usize, d: usize, c: usize) -> Vec<f32> {
    let mut out = vec![0f32; d * c];
    gemm(
        1.0,
        View::transpose_of(x, rows, d),
        View::row_major(g, rows, c),
        0.0,
        &mut out,
    );
    out
}

/// Trains multinomial logistic regression (softmax cross-entropy + L2, SGD
/// with momentum 0.9 and a cosine schedule) and scores the test part.
pub fn linear_probe(
    train: &Features,
    test: &Features,
    classes: usize,
    cfg: &ProbeConfig,
) -> Accuracy {
    let (d, c) = (train.d, classes);
    let (xtr, xte) = standardise(train, test);
    let mut w = vec![0f32; d * c];
    let mut b = vec![0f32; c];
    let (mut vw, mut vb) = (vec![0f32; d * c], vec![0f32; c]);
    let steps_per_epoch = train.n.div_ceil(cfg.batch);
    let total = (cfg.epochs * steps_per_epoch) as f64;
    let mut step = 0usize;
    let mut order: Vec<usize> = (0..train.n).collect();
    for epoch in 0..cfg.epochs {
        order.shuffle(&mut rng::stream(
            cfg.seed,
            Purpose::ProbeOrder,
            epoch as u64,
        ));
        for chunk in order.chunks(cfg.batch) {
            let lr =
                (cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total).cos())) as f32;
            step += 1;
            let rows = chunk.len();
            let mut xb = Vec::with_capacity(rows * d);
            for &i in chunk {
                xb.extend_from_slice(&xtr[i * d..(i + 1) * d]);
            }
            let mut g = logits(&xb, rows, d, &w, &b, c);
            let labels: Vec<i64> = chunk.iter().map(|&i| train.y[i]).collect();
            softmax_minus_onehot(&mut g, &labels, c);
            // dW = Xᵀ G (+ wd·W below)
            let gw = xt_times(&xb, &g, rows, d, c);
            let wd = cfg.weight_decay as f32;
            for ((wi, gi), vi) in w.iter_mut().zip(&gw).zip(vw.iter_mut()) {
                *vi = 0.9 * *vi + gi + wd * *wi;
                *wi -= lr * *vi;
            }
            for j in 0..c {
                let gb: f32 = (0..rows).map(|r| g[r * c + j]).sum();
                vb[j] = 0.9 * vb[j] + gb;
                b[j] -= lr * vb[j];
            }
        }
    }
    let out = logits(&xte, test.n, d, &w, &b, c);
    accuracy(&out, &test.y, c)
}

fn accuracy(scores: &[f32], y: &[i64], c: usize) -> Accuracy {
    let (mut t1, mut t5) = (0usize, 0usize);
    for (row, &label) in scores.chunks(c).zip(y) {
        let target = row[label as usize];
        // Rank of the true class: how many classes score strictly higher.
        let above = row.iter().filter(|&&v| v > target).count();
        t1 += usize::from(above == 0);
        t5 += usize::from(above < 5);
    }
    let n = y.len().max(1) as f64;
    Accuracy {
        top1: t1 as f64 / n,
        top5: t5 as f64 / n,
    }
}

/// Weighted kNN top-1: the k most cosine-similar training features vote with
/// weight exp(sim / T).
pub fn knn(train: &Features, test: &Features, classes: usize, k: usize, t: f64) -> f64 {
    use rayon::prelude::*;
    let d = train.d;
    let unit = |f: &Features| -> Vec<f32> {
        f.x.chunks(d)
            .flat_map(|r| {
                let n = r.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                r.iter().map(move |v| v / n)
            })
            .collect()
    };
    let (tr, te) = (unit(train), unit(test));
    let k = k.min(train.n);
    let correct: usize = te
        .par_chunks(d)
        .zip(test.y.par_iter())
        .map(|(q, &label)| {
            let mut sims: Vec<(f32, usize)> = tr
                .chunks(d)
                .enumerate()
                .map(|(j, r)| (q.iter().zip(r).map(|(a, b)| a * b).sum(), j))
                .collect();
            usize::from(knn_vote(&mut sims, &train.y, classes, k, t) as i64 == label)
        })
        .sum();
    correct as f64 / test.n.max(1) as f64
}

/// The class the `k` most similar of `sims` (similarity, index into
/// `labels`) elect, each voting with weight exp(similarity / T); ties in
/// similarity go to the lower index, ties in votes to the lower class.
/// Reorders `sims`.
pub fn knn_vote(
    sims: &mut [(f32, usize)],
    labels: &[i64],
    classes: usize,
    k: usize,
    t: f64,
) -> usize {
    let k = k.min(sims.len());
    if k == 0 {
        return 0;
    }
    sims.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut votes = vec![0f64; classes];
    for &(s, j) in &sims[..k] {
        votes[labels[j] as usize] += ((s as f64) / t).exp();
    }
    votes
        .iter()
        .enumerate()
        .fold(
            (0, f64::NEG_INFINITY),
            |a, (i, &v)| if v > a.1 { (i, v) } else { a },
        )
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_separates_separable_classes() {
        // Two Gaussian-free clusters on a line: class = sign of feature 0.
        let mk = |n: usize, off: usize| {
            let x: Vec<f32> = (0..n)
                .flat_map(|i| {
                    let s = if (i + off).is_multiple_of(2) {
                        1.0
                    } else {
                        -1.0
                    };
                    [s * (1.0 + (i % 7) as f32 * 0.1), (i % 5) as f32 * 0.3]
                })
                .collect();
            Features {
                n,
                d: 2,
                x,
                y: (0..n).map(|i| ((i + off) % 2) as i64).collect(),
            }
        };
        let (tr, te) = (mk(200, 0), mk(60, 1));
        let acc = linear_probe(
            &tr,
            &te,
            2,
            &ProbeConfig {
                epochs: 20,
                ..ProbeConfig::default()
            },
        );
        assert_eq!(acc.top1, 1.0);
        assert!((knn(&tr, &te, 2, 10, 0.1) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn topk_accuracy_counts_ties_against_the_label() {
        // Row 0: label 2 scores best → top-1. Row 1: label 0 is second best → top-5 only.
        let scores = [0.1, 0.2, 0.9, 0.3, 0.8, 0.5, 0.7, 0.0, 0.0, 0.0];
        let acc = accuracy(&scores, &[2, 0], 5);
        assert_eq!((acc.top1, acc.top5), (0.5, 1.0));
    }
}
