//! Training-mode BatchNorm over `[N, C, rest…]`, forward and backward, each
//! in two passes over the activation, parallel over channels (statistics)
//! and over `(n, c)` planes (the elementwise pass).
//!
//! Forward: pass 1 sums `x − s` and `(x − s)²` per channel in f64, with `s`
//! the channel's first value (a shift that keeps the one-pass variance free
//! of cancellation), giving the mean and the biased variance burn's
//! `batch_norm_train` returns; pass 2 writes `y = (x − mean)·a + β` with
//! `a = γ/√(var + ε)`.
//!
//! Backward (x̂ = (x − mean)/σ, M = N·∏rest): pass 1 sums `dy` (= dβ) and
//! `dy·(x − mean)` (= σ·dγ) per channel in f64; pass 2 writes
//! `dx = γ/σ · (dy − Σdy/M − x̂·dγ/M)` into the output gradient's buffer,
//! which the autodiff graph hands over and no longer needs.
//!
//! Memory traffic: forward reads x twice and writes y once; backward reads
//! x and dy twice and writes dx once, in place. burn's generic ops compose
//! about ten elementwise operations each way, with axis-swap copies and a
//! fresh buffer per operation, mostly on one thread.

use rayon::prelude::*;

/// `[N, C, rest…]` as N images of C planes of `plane` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planes {
    pub batch: usize,
    pub channels: usize,
    pub plane: usize,
}

impl Planes {
    fn len(&self) -> usize {
        self.batch * self.channels * self.plane
    }

    /// Values per channel (M).
    fn per_channel(&self) -> usize {
        self.batch * self.plane
    }

    /// Channel `c`'s values, plane by plane.
    fn channel<'a>(&self, x: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
        let (stride, plane) = (self.channels * self.plane, self.plane);
        (0..self.batch).map(move |n| &x[n * stride + c * plane..][..plane])
    }

    /// Planes per rayon task in the elementwise pass (at least ~16 KB).
    fn min_planes(&self) -> usize {
        (4096 / self.plane.max(1)).max(1)
    }
}

/// Output, per-channel mean and biased variance.
pub struct Forward {
    pub output: Vec<f32>,
    pub mean: Vec<f32>,
    pub variance: Vec<f32>,
}

/// Gradients of γ and β (the input's is written in place).
pub struct ParamGrads {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

/// Calls `f(channel, out_plane, x_plane)` for every (n, c) plane, in
/// parallel (the elementwise pass of both directions).
fn each_plane(
    out: &mut [f32],
    x: &[f32],
    p: &Planes,
    f: impl Fn(usize, &mut [f32], &[f32]) + Sync,
) {
    out.par_chunks_mut(p.plane.max(1))
        .zip(x.par_chunks(p.plane.max(1)))
        .with_min_len(p.min_planes())
        .enumerate()
        .for_each(|(i, (o, xs))| f(i % p.channels, o, xs));
}

/// Applies `out = (x − centre[c])·scale[c] + shift[c]` (centring first: no
/// cancellation when |mean| ≫ σ).
fn affine(x: &[f32], out: &mut [f32], p: &Planes, centre: &[f32], scale: &[f32], shift: &[f32]) {
    each_plane(out, x, p, |c, o, xs| {
        let (m, a, b) = (centre[c], scale[c], shift[c]);
        for (o, &v) in o.iter_mut().zip(xs) {
            *o = (v - m) * a + b;
        }
    });
}

/// Mean and biased variance of each channel.
pub fn statistics(x: &[f32], p: &Planes) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(x.len(), p.len(), "batch_norm: input of the wrong size");
    let m = p.per_channel() as f64;
    let (mean, variance) = (0..p.channels)
        .into_par_iter()
        .map(|c| {
            let shift = p
                .channel(x, c)
                .next()
                .and_then(|s| s.first())
                .copied()
                .unwrap_or(0.0);
            let (mut sum, mut squares) = (0f64, 0f64);
            for plane in p.channel(x, c) {
                let (mut s, mut q) = (0f32, 0f32);
                for &v in plane {
                    let d = v - shift;
                    s += d;
                    q += d * d;
                }
                sum += s as f64;
                squares += q as f64;
            }
            let centred = sum / m;
            let variance = (squares / m - centred * centred).max(0.0);
            ((shift as f64 + centred) as f32, variance as f32)
        })
        .unzip();
    (mean, variance)
}

/// Training-mode forward: batch statistics, then the normalised output.
pub fn forward(x: &[f32], gamma: &[f32], beta: &[f32], p: &Planes, epsilon: f64) -> Forward {
    let (mean, variance) = statistics(x, p);
    let scale: Vec<f32> = (0..p.channels)
        .map(|c| (gamma[c] as f64 / (variance[c] as f64 + epsilon).sqrt()) as f32)
        .collect();
    let mut output = vec![0f32; p.len()];
    affine(x, &mut output, p, &mean, &scale, beta);
    Forward {
        output,
        mean,
        variance,
    }
}

/// Training-mode backward: turns `grad` (dy) into dx in place and returns
/// dγ and dβ. `mean` and `variance` are what [`forward`] returned.
pub fn backward_in_place(
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    variance: &[f32],
    epsilon: f64,
    grad: &mut [f32],
    p: &Planes,
) -> ParamGrads {
    assert!(
        x.len() == p.len() && grad.len() == p.len(),
        "batch_norm: gradient of the wrong size"
    );
    let m = p.per_channel() as f64;
    let inv_std: Vec<f64> = variance
        .iter()
        .map(|&v| 1.0 / (v as f64 + epsilon).sqrt())
        .collect();
    let grad_ro: &[f32] = grad;
    let (beta_grad, centred_dot): (Vec<f64>, Vec<f64>) = (0..p.channels)
        .into_par_iter()
        .map(|c| {
            let mu = mean[c];
            let (mut sum, mut dot) = (0f64, 0f64);
            for (xs, gs) in p.channel(x, c).zip(p.channel(grad_ro, c)) {
                let (mut s, mut d) = (0f32, 0f32);
                for (&v, &g) in xs.iter().zip(gs) {
                    s += g;
                    d += g * (v - mu);
                }
                sum += s as f64;
                dot += d as f64;
            }
            (sum, dot)
        })
        .unzip();
    let gamma_grad: Vec<f64> = (0..p.channels)
        .map(|c| centred_dot[c] * inv_std[c])
        .collect();
    // dx = k·dy − k·x̂·dγ/M − k·Σdy/M, with x̂ = (x − mean)·inv_std:
    // per channel dx = k·dy + u·(x − mean) + w.
    let mut k = vec![0f32; p.channels];
    let mut u = vec![0f32; p.channels];
    let mut w = vec![0f32; p.channels];
    for c in 0..p.channels {
        let kc = gamma[c] as f64 * inv_std[c];
        let uc = -kc * inv_std[c] * gamma_grad[c] / m;
        k[c] = kc as f32;
        u[c] = uc as f32;
        w[c] = (-kc * beta_grad[c] / m) as f32;
    }
    each_plane(grad, x, p, |c, gs, xs| {
        let (kc, uc, wc, mu) = (k[c], u[c], w[c], mean[c]);
        for (g, &v) in gs.iter_mut().zip(xs) {
            *g = kc * *g + uc * (v - mu) + wc;
        }
    });
    ParamGrads {
        gamma: gamma_grad.into_iter().map(|v| v as f32).collect(),
        beta: beta_grad.into_iter().map(|v| v as f32).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Forward and backward by their definitions, in f64, two-pass.
    #[allow(clippy::type_complexity)]
    fn reference(
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        dy: &[f32],
        p: &Planes,
        eps: f64,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let idx = |n: usize, c: usize, i: usize| (n * p.channels + c) * p.plane + i;
        let m = p.per_channel() as f64;
        let (mut y, mut dx) = (vec![0f64; x.len()], vec![0f64; x.len()]);
        let (mut means, mut vars, mut dg, mut db) = (vec![], vec![], vec![], vec![]);
        for c in 0..p.channels {
            let all = || (0..p.batch).flat_map(move |n| (0..p.plane).map(move |i| idx(n, c, i)));
            let mean = all().map(|j| x[j] as f64).sum::<f64>() / m;
            let var = all().map(|j| (x[j] as f64 - mean).powi(2)).sum::<f64>() / m;
            let s = (var + eps).sqrt();
            let xhat = |j: usize| (x[j] as f64 - mean) / s;
            let sum_dy = all().map(|j| dy[j] as f64).sum::<f64>();
            let sum_dy_xhat = all().map(|j| dy[j] as f64 * xhat(j)).sum::<f64>();
            for j in all() {
                y[j] = xhat(j) * gamma[c] as f64 + beta[c] as f64;
                dx[j] =
                    gamma[c] as f64 / s * (dy[j] as f64 - sum_dy / m - xhat(j) * sum_dy_xhat / m);
            }
            means.push(mean);
            vars.push(var);
            dg.push(sum_dy_xhat);
            db.push(sum_dy);
        }
        (y, means, vars, dx, dg, db)
    }

    fn close(ours: &[f32], theirs: &[f64], what: &str) {
        let scale = theirs.iter().fold(1e-3f64, |a, b| a.max(b.abs()));
        for (a, b) in ours.iter().zip(theirs) {
            assert!((*a as f64 - b).abs() <= 1e-5 * scale, "{what}: {a} vs {b}");
        }
    }

    #[test]
    fn forward_and_backward_match_the_definition() {
        for &(batch, channels, plane) in &[(1, 1, 1), (1, 3, 7), (5, 4, 9), (16, 2, 1), (3, 5, 784)]
        {
            let p = Planes {
                batch,
                channels,
                plane,
            };
            // An offset of 100 checks that the shifted one-pass variance does
            // not cancel.
            let x: Vec<f32> = (0..p.len())
                .map(|i| ((i * 7919) % 101) as f32 / 25.0 + 100.0)
                .collect();
            let dy: Vec<f32> = (0..p.len())
                .map(|i| ((i * 104729) % 89) as f32 / 44.0 - 1.0)
                .collect();
            let gamma: Vec<f32> = (0..channels).map(|c| 0.5 + c as f32 * 0.25).collect();
            let beta: Vec<f32> = (0..channels).map(|c| c as f32 * 0.1 - 0.2).collect();
            let (y, mean, var, dx, dg, db) = reference(&x, &gamma, &beta, &dy, &p, 1e-5);
            let f = forward(&x, &gamma, &beta, &p, 1e-5);
            close(&f.output, &y, "output");
            close(&f.mean, &mean, "mean");
            close(&f.variance, &var, "variance");
            let mut g = dy.clone();
            let grads = backward_in_place(&x, &gamma, &f.mean, &f.variance, 1e-5, &mut g, &p);
            close(&g, &dx, "dx");
            close(&grads.gamma, &dg, "dgamma");
            close(&grads.beta, &db, "dbeta");
        }
    }
}
