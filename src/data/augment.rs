//! MoCo v2 augmentations adapted to the resolution, and a background loader
//! that prepares the two views of each batch while the model trains.
//!
//! Per view, in order (torchvision's MoCo v2 recipe): random resized crop
//! (scale 0.2–1, aspect 3/4–4/3, bilinear), horizontal flip (p = 0.5),
//! colour jitter with p = 0.8 (brightness 0.4, contrast 0.4, and for RGB
//! saturation 0.4, hue 0.1), random grayscale (RGB only, p = 0.2), Gaussian
//! blur (p = 0.5, σ ∈ [0.1, 2], kernel ≈ 10 % of the side) only for images of
//! at least 64 px — on 28/32 px images it erases the content, which is why
//! CIFAR-scale MoCo recipes drop it — then per-channel normalisation.
//!
//! Every random choice comes from a stream keyed by (seed, epoch, image,
//! view), so batches are identical across runs, thread counts and resumes.

use super::dataset::ImageSet;
use crate::rng::{self, Purpose, Rng};
use rand::seq::SliceRandom;
use rand::Rng as _;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

/// Augmentation parameters (defaults: MoCo v2). A recipe's `augment` table
/// may give only the fields it changes.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    pub crop_scale: (f32, f32),
    pub flip: f32,
    pub jitter_p: f32,
    pub brightness: f32,
    pub contrast: f32,
    pub saturation: f32,
    pub hue: f32,
    pub grayscale_p: f32,
    pub blur_p: f32,
    /// Blur only images at least this large.
    pub blur_min_side: usize,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            crop_scale: (0.2, 1.0),
            flip: 0.5,
            jitter_p: 0.8,
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.4,
            hue: 0.1,
            grayscale_p: 0.2,
            blur_p: 0.5,
            blur_min_side: 64,
        }
    }
}

/// Per-channel normalisation.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalize {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

fn uniform(rng: &mut Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f64>() as f32
}

/// Bilinear sample of channel `ch` of an HWC f32 image at (y, x), edge-clamped.
fn bilinear(img: &[f32], h: usize, w: usize, c: usize, ch: usize, y: f32, x: f32) -> f32 {
    let y = y.clamp(0.0, (h - 1) as f32);
    let x = x.clamp(0.0, (w - 1) as f32);
    let (y0, x0) = (y.floor() as usize, x.floor() as usize);
    let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
    let (fy, fx) = (y - y0 as f32, x - x0 as f32);
    let at = |yy: usize, xx: usize| img[(yy * w + xx) * c + ch];
    (at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx) * (1.0 - fy)
        + (at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx) * fy
}

/// torchvision's RandomResizedCrop box: (top, left, height, width).
fn crop_box(rng: &mut Rng, h: usize, w: usize, scale: (f32, f32)) -> (f32, f32, f32, f32) {
    let area = (h * w) as f32;
    let (lr0, lr1) = ((3.0f32 / 4.0).ln(), (4.0f32 / 3.0).ln());
    for _ in 0..10 {
        let target = area * uniform(rng, scale.0, scale.1);
        let ratio = uniform(rng, lr0, lr1).exp();
        let cw = (target * ratio).sqrt();
        let chh = (target / ratio).sqrt();
        if cw <= w as f32 && chh <= h as f32 && cw >= 1.0 && chh >= 1.0 {
            let top = uniform(rng, 0.0, h as f32 - chh);
            let left = uniform(rng, 0.0, w as f32 - cw);
            return (top, left, chh, cw);
        }
    }
    (0.0, 0.0, h as f32, w as f32)
}

fn gray_of(px: &[f32]) -> f32 {
    0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2]
}

/// Rotates hue by `shift` (fraction of a turn) in YIQ space.
fn hue_rotate(px: &mut [f32], shift: f32) {
    let (r, g, b) = (px[0], px[1], px[2]);
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let i = 0.596 * r - 0.274 * g - 0.322 * b;
    let q = 0.211 * r - 0.523 * g + 0.312 * b;
    let (s, c) = (shift * std::f32::consts::TAU).sin_cos();
    let (i2, q2) = (i * c - q * s, i * s + q * c);
    px[0] = y + 0.956 * i2 + 0.621 * q2;
    px[1] = y - 0.272 * i2 - 0.647 * q2;
    px[2] = y - 1.106 * i2 + 1.703 * q2;
}

fn gaussian_blur(img: &mut [f32], h: usize, w: usize, c: usize, sigma: f32) {
    let radius = ((h.min(w) as f32 * 0.05).round() as usize).max(1);
    let kernel: Vec<f32> = (0..=2 * radius)
        .map(|i| (-((i as f32 - radius as f32).powi(2)) / (2.0 * sigma * sigma)).exp())
        .collect();
    let norm: f32 = kernel.iter().sum();
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0.0; src.len()];
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    let mut acc = 0.0;
                    for (t, kv) in kernel.iter().enumerate() {
                        let off = t as isize - radius as isize;
                        let (yy, xx) = if horizontal {
                            (y, (x as isize + off).clamp(0, w as isize - 1) as usize)
                        } else {
                            ((y as isize + off).clamp(0, h as isize - 1) as usize, x)
                        };
                        acc += kv * src[(yy * w + xx) * c + ch];
                    }
                    out[(y * w + x) * c + ch] = acc / norm;
                }
            }
        }
        out
    };
    let tmp = pass(img, true);
    let out = pass(&tmp, false);
    img.copy_from_slice(&out);
}

/// One augmented view of `img` (u8 HWC) written to `out` (f32 CHW, normalised).
pub fn augment(
    img: &[u8],
    (h, w, c): (usize, usize, usize),
    cfg: &AugmentConfig,
    norm: &Normalize,
    rng: &mut Rng,
    out: &mut [f32],
) {
    let src: Vec<f32> = img.iter().map(|&p| p as f32 / 255.0).collect();
    // Random resized crop back to h × w, then flip.
    let (top, left, ch_, cw) = crop_box(rng, h, w, cfg.crop_scale);
    let flip = rng.random::<f64>() < cfg.flip as f64;
    let mut v = vec![0f32; h * w * c];
    for y in 0..h {
        let sy = top + (y as f32 + 0.5) * ch_ / h as f32 - 0.5;
        for x in 0..w {
            let xo = if flip { w - 1 - x } else { x };
            let sx = left + (xo as f32 + 0.5) * cw / w as f32 - 0.5;
            for k in 0..c {
                v[(y * w + x) * c + k] = bilinear(&src, h, w, c, k, sy, sx);
            }
        }
    }
    // Colour jitter.
    if rng.random::<f64>() < cfg.jitter_p as f64 {
        let b = uniform(rng, 1.0 - cfg.brightness, 1.0 + cfg.brightness);
        v.iter_mut().for_each(|p| *p = (*p * b).clamp(0.0, 1.0));
        let cf = uniform(rng, 1.0 - cfg.contrast, 1.0 + cfg.contrast);
        let mean_gray = if c == 3 {
            v.chunks(3).map(gray_of).sum::<f32>() / (h * w) as f32
        } else {
            v.iter().sum::<f32>() / v.len() as f32
        };
        v.iter_mut()
            .for_each(|p| *p = ((*p - mean_gray) * cf + mean_gray).clamp(0.0, 1.0));
        if c == 3 {
            let sf = uniform(rng, 1.0 - cfg.saturation, 1.0 + cfg.saturation);
            let hs = uniform(rng, -cfg.hue, cfg.hue);
            for px in v.chunks_mut(3) {
                let g = gray_of(px);
                px.iter_mut()
                    .for_each(|p| *p = ((*p - g) * sf + g).clamp(0.0, 1.0));
                hue_rotate(px, hs);
                px.iter_mut().for_each(|p| *p = p.clamp(0.0, 1.0));
            }
        }
    }
    if c == 3 && rng.random::<f64>() < cfg.grayscale_p as f64 {
        for px in v.chunks_mut(3) {
            let g = gray_of(px);
            px.iter_mut().for_each(|p| *p = g);
        }
    }
    if h.min(w) >= cfg.blur_min_side && rng.random::<f64>() < cfg.blur_p as f64 {
        let sigma = uniform(rng, 0.1, 2.0);
        gaussian_blur(&mut v, h, w, c, sigma);
    }
    for k in 0..c {
        for i in 0..h * w {
            out[k * h * w + i] = (v[i * c + k] - norm.mean[k]) / norm.std[k];
        }
    }
}

/// No augmentation: normalised CHW, for evaluation and embedding.
pub fn plain(img: &[u8], h: usize, w: usize, c: usize, norm: &Normalize, out: &mut [f32]) {
    for k in 0..c {
        for i in 0..h * w {
            out[k * h * w + i] = (img[i * c + k] as f32 / 255.0 - norm.mean[k]) / norm.std[k];
        }
    }
}

/// Two augmented views of a batch, CHW-flattened, ready to become tensors.
pub struct Batch {
    pub query_view: Vec<f32>,
    pub key_view: Vec<f32>,
    pub labels: Vec<i64>,
    /// Each image's index in the training set (own-image telemetry).
    pub images: Vec<i64>,
    /// 0-based batch number within the epoch.
    pub step_in_epoch: usize,
}

/// The order of one epoch: a seeded permutation, cut into full batches.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng::stream(seed, Purpose::EpochOrder, epoch as u64));
    order
}

/// Prepares one epoch's batches on a background thread (two batches ahead),
/// augmenting images in parallel; iterate to receive them in order.
pub fn spawn_epoch(
    set: Arc<ImageSet>,
    cfg: AugmentConfig,
    norm: Normalize,
    batch: usize,
    seed: u64,
    epoch: usize,
) -> Receiver<Batch> {
    use rayon::prelude::*;
    let (tx, rx) = sync_channel(2);
    std::thread::spawn(move || {
        let order = epoch_order(set.len(), seed, epoch);
        let (h, w, c) = (set.height, set.width, set.channels);
        let size = h * w * c;
        for (step, idx) in order.chunks_exact(batch).enumerate() {
            let mut q = vec![0f32; batch * size];
            let mut k = vec![0f32; batch * size];
            q.par_chunks_mut(size)
                .zip(k.par_chunks_mut(size))
                .zip(idx.par_iter())
                .for_each(|((qo, ko), &i)| {
                    let img = set.image(i);
                    let key = ((epoch as u64) << 32) | i as u64;
                    for (purpose, out) in [(Purpose::QueryView, qo), (Purpose::KeyView, ko)] {
                        augment(
                            img,
                            (h, w, c),
                            &cfg,
                            &norm,
                            &mut rng::stream(seed, purpose, key),
                            out,
                        );
                    }
                });
            let labels = idx.iter().map(|&i| set.labels[i]).collect();
            if tx
                .send(Batch {
                    query_view: q,
                    key_view: k,
                    labels,
                    images: idx.iter().map(|&i| i as i64).collect(),
                    step_in_epoch: step,
                })
                .is_err()
            {
                return; // the trainer stopped listening
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn augment_is_deterministic_and_normalised() {
        let img: Vec<u8> = (0..28 * 28).map(|i| (i % 251) as u8).collect();
        let norm = Normalize {
            mean: vec![0.5],
            std: vec![0.25],
        };
        let cfg = AugmentConfig::default();
        let view = |stream: u64| {
            let mut out = vec![0.0; 784];
            augment(
                &img,
                (28, 28, 1),
                &cfg,
                &norm,
                &mut rng::stream(1, Purpose::General, stream),
                &mut out,
            );
            out
        };
        let (a, b) = (view(2), view(2));
        assert_eq!(a, b);
        assert!(
            a.iter().all(|v| (-2.0..=2.0).contains(v)),
            "values in [(0−.5)/.25, (1−.5)/.25]"
        );
        assert_ne!(a, view(3), "another stream gives another view");
    }

    #[test]
    fn full_crop_without_flip_or_jitter_is_the_identity() {
        let img: Vec<u8> = (0..3 * 8 * 8).map(|i| (i * 7 % 256) as u8).collect();
        let norm = Normalize {
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
        };
        let cfg = AugmentConfig {
            crop_scale: (1.0, 1.0),
            flip: 0.0,
            jitter_p: 0.0,
            grayscale_p: 0.0,
            blur_p: 0.0,
            ..AugmentConfig::default()
        };
        // Scale 1 with aspect ≠ 1 does not fit; after 10 tries the fallback is the full image.
        let mut out = vec![0.0; 192];
        let mut plain_out = vec![0.0; 192];
        for s in 0..20 {
            augment(&img, (8, 8, 3), &cfg, &norm, &mut rng::seeded(s), &mut out);
            plain(&img, 8, 8, 3, &norm, &mut plain_out);
            let diff = out
                .iter()
                .zip(&plain_out)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            // A full-size crop with aspect exactly 1 samples pixel centres: identical up to rounding.
            assert!(diff < 1e-5, "seed {s}: max diff {diff}");
        }
    }
}
