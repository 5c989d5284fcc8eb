//! Training-mode BatchNorm over `[N, C, rest…]`, forward and backward, each
//! in two passes over the activation, parallel over channels (statistics)
//! and over `(n, c)` planes (the elementwise pass), with what follows it in
//! a ResNet — a ReLU, or a residual sum and a ReLU — in the same pass.
//!
//! Forward: pass 1 sums `x − s` and `(x − s)²` per channel, with `s` the
//! channel's first value (a shift that keeps the one-pass variance free of
//! cancellation), in 16 f32 lanes per plane (so the loop vectorises) and
//! f64 across planes, giving the mean and the biased variance burn's
//! `batch_norm_train` returns; pass 2 writes `y = (x − mean)·a + β` with
//! `a = γ/√(var + ε)`, then `y + r` and `max(·, 0)` if asked ([`Then`]) —
//! the same f32 operations, in the same order, as burn's add and ReLU
//! after the normalisation, so fusing changes no bit.
//!
//! Backward (x̂ = (x − mean)/σ, M = N·∏rest): the output gradient is first
//! masked where the fused ReLU's output is not positive (burn's
//! `relu_backward`); pass 1 sums it (= dβ) and its product with `x − mean`
//! (= σ·dγ) per channel; pass 2 writes `dx = γ/σ · (dy − Σdy/M − x̂·dγ/M)`
//! into the output gradient's buffer, which the autodiff graph hands over
//! and no longer needs, and the masked gradient into the residual's.
//!
//! Memory traffic: forward reads x twice (and r once) and writes y once;
//! backward reads x and dy (and the output, with a ReLU) twice and writes dx
//! once, in place. burn's generic ops compose about ten elementwise
//! operations each way, with axis-swap copies and a fresh buffer per
//! operation, mostly on one thread; its ReLU and add are two more passes
//! each way.

use multiversion::multiversion;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// `[N, C, rest…]` as N images of C planes of `plane` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planes {
    pub batch: usize,
    pub channels: usize,
    pub plane: usize,
}

impl Planes {
    pub(crate) fn len(&self) -> usize {
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

/// What the forward pass applies after the normalisation.
#[derive(Clone, Copy, Debug)]
pub enum Then<'a> {
    /// Nothing: `y`.
    Nothing,
    /// `max(y, 0)`.
    Relu,
    /// `max(y + r, 0)` (a residual block's end), `r` shaped like `x`.
    AddRelu(&'a [f32]),
}

/// burn's ReLU: zero where `v ≤ 0` (a NaN passes through).
#[inline(always)]
fn relu(v: f32) -> f32 {
    keep_if_positive(v, v)
}

/// Calls `f(plane_index, out_plane, extra_plane)` for every (n, c) plane,
/// in parallel (the elementwise pass of both directions); `extra` is a
/// second output shaped like `out`, if any.
fn each_plane(
    out: &mut [f32],
    extra: Option<&mut [f32]>,
    p: &Planes,
    f: impl Fn(usize, &mut [f32], Option<&mut [f32]>) + Sync,
) {
    let plane = p.plane.max(1);
    match extra {
        None => out
            .par_chunks_mut(plane)
            .with_min_len(p.min_planes())
            .enumerate()
            .for_each(|(i, o)| f(i, o, None)),
        Some(extra) => out
            .par_chunks_mut(plane)
            .zip(extra.par_chunks_mut(plane))
            .with_min_len(p.min_planes())
            .enumerate()
            .for_each(|(i, (o, e))| f(i, o, Some(e))),
    }
}

/// Partial sums per plane: this many independent f32 accumulators, so that
/// the loop vectorises (one running sum is a serial chain the compiler may
/// not reorder); planes are totalled in f64. The lane a value goes to
/// depends only on its position, so results do not depend on the CPU.
const LANES: usize = 16;

type Lanes = [f32; LANES];

/// `last` filled with `pad`, then the values of `rest` (a plane's tail):
/// the tail goes through the same vector code, padded with values that add
/// exactly zero.
fn padded(rest: &[f32], pad: f32) -> Lanes {
    let mut last = [pad; LANES];
    last[..rest.len()].copy_from_slice(rest);
    last
}

// The accumulation steps below do one array operation a loop, inlined into
// their callers: the form LLVM's vectoriser takes (a combined loop, or an
// iterator chain, stays scalar).

#[inline(always)]
fn add_shifted(s: &mut Lanes, q: &mut Lanes, xc: &Lanes, shift: f32) {
    let mut v = [0f32; LANES];
    for l in 0..LANES {
        v[l] = xc[l] - shift;
    }
    for l in 0..LANES {
        s[l] += v[l];
    }
    for l in 0..LANES {
        q[l] += v[l] * v[l];
    }
}

#[inline(always)]
fn add_gradient(s: &mut Lanes, d: &mut Lanes, xc: &Lanes, g: &Lanes, mean: f32) {
    for l in 0..LANES {
        s[l] += g[l];
    }
    for l in 0..LANES {
        d[l] += g[l] * (xc[l] - mean);
    }
}

/// `g` zeroed where `y ≤ 0` (burn's `relu_backward`; a NaN passes), as a
/// bit mask: written as a branch, the comparison stays scalar.
#[inline(always)]
fn masked(gc: &Lanes, yc: &Lanes) -> Lanes {
    let mut g = [0f32; LANES];
    for l in 0..LANES {
        g[l] = keep_if_positive(gc[l], yc[l]);
    }
    g
}

/// `g` where `y > 0` or `y` is NaN, else 0 (all bits of `g`, or none).
#[inline(always)]
fn keep_if_positive(g: f32, y: f32) -> f32 {
    let keep = u32::from(y <= 0.0).wrapping_sub(1);
    f32::from_bits(g.to_bits() & keep)
}

/// (Σ (v − shift), Σ (v − shift)²) over `xs`.
#[multiversion(targets("x86_64+avx2"))]
fn shifted_sums(xs: &[f32], shift: f32) -> (f64, f64) {
    let (mut s, mut q) = ([0f32; LANES], [0f32; LANES]);
    let (whole, rest) = xs.as_chunks::<LANES>();
    for xc in whole {
        add_shifted(&mut s, &mut q, xc, shift);
    }
    add_shifted(&mut s, &mut q, &padded(rest, shift), shift);
    (lane_total(&s), lane_total(&q))
}

/// (Σ g, Σ g·(v − mean)) over a plane, with `g` the output gradient masked
/// by the ReLU output `ys` where given.
fn gradient_sums(xs: &[f32], gs: &[f32], ys: Option<&[f32]>, mean: f32) -> (f64, f64) {
    match ys {
        None => gradient_sums_plain(xs, gs, mean),
        Some(ys) => gradient_sums_masked(xs, gs, ys, mean),
    }
}

#[multiversion(targets("x86_64+avx2"))]
fn gradient_sums_plain(xs: &[f32], gs: &[f32], mean: f32) -> (f64, f64) {
    let (mut s, mut d) = ([0f32; LANES], [0f32; LANES]);
    let ((xw, xr), (gw, gr)) = (xs.as_chunks::<LANES>(), gs.as_chunks::<LANES>());
    for (xc, gc) in xw.iter().zip(gw) {
        add_gradient(&mut s, &mut d, xc, gc, mean);
    }
    add_gradient(&mut s, &mut d, &padded(xr, mean), &padded(gr, 0.0), mean);
    (lane_total(&s), lane_total(&d))
}

#[multiversion(targets("x86_64+avx2"))]
fn gradient_sums_masked(xs: &[f32], gs: &[f32], ys: &[f32], mean: f32) -> (f64, f64) {
    let (mut s, mut d) = ([0f32; LANES], [0f32; LANES]);
    let (xw, xr) = xs.as_chunks::<LANES>();
    let (gw, gr) = gs.as_chunks::<LANES>();
    let (yw, yr) = ys.as_chunks::<LANES>();
    for ((xc, gc), yc) in xw.iter().zip(gw).zip(yw) {
        add_gradient(&mut s, &mut d, xc, &masked(gc, yc), mean);
    }
    let g = masked(&padded(gr, 0.0), &padded(yr, 0.0));
    add_gradient(&mut s, &mut d, &padded(xr, mean), &g, mean);
    (lane_total(&s), lane_total(&d))
}

fn lane_total(lanes: &[f32; LANES]) -> f64 {
    lanes.iter().map(|&v| v as f64).sum()
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
                let (s, q) = shifted_sums(plane, shift);
                sum += s;
                squares += q;
            }
            let centred = sum / m;
            let variance = (squares / m - centred * centred).max(0.0);
            ((shift as f64 + centred) as f32, variance as f32)
        })
        .unzip();
    (mean, variance)
}

/// `out = relu?((x − mean)·scale + shift (+ r))` over one plane (centring
/// first: no cancellation when |mean| ≫ σ).
#[multiversion(targets("x86_64+avx2"))]
fn normalise_plane(xs: &[f32], out: &mut [MaybeUninit<f32>], [m, a, b]: [f32; 3], then: Then) {
    // Every value of `out` is written (the caller's buffer is not
    // initialised before).
    assert_eq!(xs.len(), out.len());
    match then {
        Then::Nothing => {
            for (o, &v) in out.iter_mut().zip(xs) {
                o.write((v - m) * a + b);
            }
        }
        Then::Relu => {
            for (o, &v) in out.iter_mut().zip(xs) {
                o.write(relu((v - m) * a + b));
            }
        }
        Then::AddRelu(rs) => {
            assert_eq!(rs.len(), out.len());
            for ((o, &v), &r) in out.iter_mut().zip(xs).zip(rs) {
                o.write(relu((v - m) * a + b + r));
            }
        }
    }
}

/// Training-mode forward: batch statistics, then the normalised output and
/// what follows it.
pub fn forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    p: &Planes,
    epsilon: f64,
    then: Then,
) -> Forward {
    let (mean, variance) = statistics(x, p);
    if let Then::AddRelu(r) = then {
        assert_eq!(r.len(), p.len(), "batch_norm: residual of the wrong size");
    }
    let scale: Vec<f32> = (0..p.channels)
        .map(|c| (gamma[c] as f64 / (variance[c] as f64 + epsilon).sqrt()) as f32)
        .collect();
    let mut output = Vec::with_capacity(p.len());
    let plane = p.plane;
    output.spare_capacity_mut()[..p.len()]
        .par_chunks_mut(plane.max(1))
        .with_min_len(p.min_planes())
        .enumerate()
        .for_each(|(i, o)| {
            let c = i % p.channels;
            let xs = &x[i * plane..(i + 1) * plane];
            // This plane's part of the residual.
            let then = match then {
                Then::AddRelu(r) => Then::AddRelu(&r[i * plane..(i + 1) * plane]),
                other => other,
            };
            normalise_plane(xs, o, [mean[c], scale[c], beta[c]], then);
        });
    // SAFETY: the planes cover all p.len() values and `normalise_plane`
    // wrote each (it checks its plane's length).
    unsafe { output.set_len(p.len()) };
    Forward {
        output,
        mean,
        variance,
    }
}

/// One plane of the backward's second pass: the output gradient `gs` masked
/// where the ReLU output `ys` is not positive, copied to the residual's
/// gradient `rs`, then turned into `dx = k·g + u·(x − mean) + w` in place.
#[multiversion(targets("x86_64+avx2"))]
fn backward_plane(
    xs: &[f32],
    ys: Option<&[f32]>,
    gs: &mut [f32],
    rs: Option<&mut [f32]>,
    [k, u, w, mean]: [f32; 4],
) {
    if let Some(ys) = ys {
        for (g, &y) in gs.iter_mut().zip(ys) {
            *g = keep_if_positive(*g, y);
        }
    }
    if let Some(rs) = rs {
        rs.copy_from_slice(gs);
    }
    for (g, &v) in gs.iter_mut().zip(xs) {
        *g = k * *g + u * (v - mean) + w;
    }
}

/// What the backward pass needs of what [`forward`] fused.
#[derive(Debug, Default)]
pub struct Fused<'a> {
    /// The forward's output, when it ended in a ReLU (its mask).
    pub relu_output: Option<&'a [f32]>,
    /// Where the residual's gradient goes (the masked output gradient),
    /// when the forward added one.
    pub residual_grad: Option<&'a mut [f32]>,
}

/// Training-mode backward: turns `grad` (dy) into dx in place and returns
/// dγ and dβ. `mean` and `variance` are what [`forward`] returned; `fused`
/// says what it applied after the normalisation.
#[allow(clippy::too_many_arguments)]
pub fn backward_in_place(
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    variance: &[f32],
    epsilon: f64,
    grad: &mut [f32],
    p: &Planes,
    fused: Fused,
) -> ParamGrads {
    let Fused {
        relu_output,
        residual_grad,
    } = fused;
    assert!(
        x.len() == p.len()
            && grad.len() == p.len()
            && relu_output.is_none_or(|y| y.len() == p.len())
            && residual_grad.as_ref().is_none_or(|r| r.len() == p.len()),
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
            let (mut sum, mut dot) = (0f64, 0f64);
            for (n, (xs, gs)) in p.channel(x, c).zip(p.channel(grad_ro, c)).enumerate() {
                let ys = relu_output.map(|y| &y[(n * p.channels + c) * p.plane..][..p.plane]);
                let (s, d) = gradient_sums(xs, gs, ys, mean[c]);
                sum += s;
                dot += d;
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
    let plane = p.plane;
    each_plane(grad, residual_grad, p, |i, gs, rs| {
        let c = i % p.channels;
        let xs = &x[i * plane..(i + 1) * plane];
        let ys = relu_output.map(|y| &y[i * plane..(i + 1) * plane]);
        backward_plane(xs, ys, gs, rs, [k[c], u[c], w[c], mean[c]]);
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

    fn inputs(p: &Planes) -> [Vec<f32>; 5] {
        // An offset of 100 checks that the shifted one-pass variance does
        // not cancel.
        let x: Vec<f32> = (0..p.len())
            .map(|i| ((i * 7919) % 101) as f32 / 25.0 + 100.0)
            .collect();
        let dy: Vec<f32> = (0..p.len())
            .map(|i| ((i * 104729) % 89) as f32 / 44.0 - 1.0)
            .collect();
        let r: Vec<f32> = (0..p.len())
            .map(|i| ((i * 31) % 17) as f32 / 8.0 - 1.0)
            .collect();
        let gamma: Vec<f32> = (0..p.channels).map(|c| 0.5 + c as f32 * 0.25).collect();
        let beta: Vec<f32> = (0..p.channels).map(|c| c as f32 * 0.1 - 0.2).collect();
        [x, dy, r, gamma, beta]
    }

    const SHAPES: [(usize, usize, usize); 6] = [
        (1, 1, 1),
        (1, 3, 7),
        (5, 4, 9),
        (16, 2, 1),
        (3, 5, 784),
        (2, 3, 37),
    ];

    #[test]
    fn forward_and_backward_match_the_definition() {
        for (batch, channels, plane) in SHAPES {
            let p = Planes {
                batch,
                channels,
                plane,
            };
            let [x, dy, _, gamma, beta] = inputs(&p);
            let (y, mean, var, dx, dg, db) = reference(&x, &gamma, &beta, &dy, &p, 1e-5);
            let f = forward(&x, &gamma, &beta, &p, 1e-5, Then::Nothing);
            close(&f.output, &y, "output");
            close(&f.mean, &mean, "mean");
            close(&f.variance, &var, "variance");
            let mut g = dy.clone();
            let grads = backward_in_place(
                &x,
                &gamma,
                &f.mean,
                &f.variance,
                1e-5,
                &mut g,
                &p,
                Fused::default(),
            );
            close(&g, &dx, "dx");
            close(&grads.gamma, &dg, "dgamma");
            close(&grads.beta, &db, "dbeta");
        }
    }

    /// `max(BN(x) + r, 0)` and `max(BN(x), 0)`: the output by definition;
    /// the gradients are the plain BatchNorm's of the output gradient
    /// zeroed where the output is 0 (the ReLU's derivative), and the
    /// residual's gradient is that zeroed output gradient itself.
    #[test]
    fn fused_relu_and_residual_match_the_definition() {
        for (batch, channels, plane) in SHAPES {
            let p = Planes {
                batch,
                channels,
                plane,
            };
            let [x, dy, r, gamma, beta] = inputs(&p);
            for with_residual in [false, true] {
                let (y, ..) = reference(&x, &gamma, &beta, &dy, &p, 1e-5);
                let add = |j: usize| if with_residual { r[j] as f64 } else { 0.0 };
                let out: Vec<f64> = (0..y.len()).map(|j| (y[j] + add(j)).max(0.0)).collect();
                let then = if with_residual {
                    Then::AddRelu(&r)
                } else {
                    Then::Relu
                };
                let f = forward(&x, &gamma, &beta, &p, 1e-5, then);
                close(&f.output, &out, "fused output");
                // Mask from our output (a value within rounding of 0 could
                // fall either side of it in the f64 reference).
                let masked: Vec<f32> = dy
                    .iter()
                    .zip(&f.output)
                    .map(|(&g, &o)| if o > 0.0 { g } else { 0.0 })
                    .collect();
                if p.len() > 8 {
                    // Both sides of the mask are exercised.
                    assert!(masked.contains(&0.0) && masked.iter().any(|&g| g != 0.0));
                }
                let (_, _, _, dx, dg, db) = reference(&x, &gamma, &beta, &masked, &p, 1e-5);
                let mut g = dy.clone();
                let mut rg = vec![f32::NAN; dy.len()];
                let fused = Fused {
                    relu_output: Some(&f.output),
                    residual_grad: with_residual.then_some(&mut rg[..]),
                };
                let grads =
                    backward_in_place(&x, &gamma, &f.mean, &f.variance, 1e-5, &mut g, &p, fused);
                close(&g, &dx, "fused dx");
                close(&grads.gamma, &dg, "fused dgamma");
                close(&grads.beta, &db, "fused dbeta");
                if with_residual {
                    assert_eq!(rg, masked, "residual gradient");
                }
            }
        }
    }
}
