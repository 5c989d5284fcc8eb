//! Each native kernel against burn's generic op on the same random inputs:
//! the time of both (best of a few runs) and the largest difference. Used
//! by `negstudy bench kernels` (times) and tests/kernels.rs (differences).
//!
//! Both sides run on the Flex backend's primitives directly, so the times
//! are the ops alone, without the autodiff graph around them.

use super::{BatchNormGrads, BatchNormKernels, ConvKernels};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ActivationOps, FloatTensorOps, ModuleOps};
use burn::backend::Flex;
use burn::tensor::ops::ConvOptions;
use burn::tensor::TensorData;
use rand::{Rng, SeedableRng};
use std::time::Instant;

/// A convolution layer: input [batch, in, size, size], kernel × kernel.
#[derive(Clone, Copy, Debug)]
pub struct ConvLayer {
    pub batch: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub size: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl ConvLayer {
    /// `batch` images of `in_channels` × `size` × `size` through a
    /// `kernel` × `kernel` convolution to `out_channels`.
    pub const fn new(
        batch: usize,
        in_channels: usize,
        out_channels: usize,
        size: usize,
        [kernel, stride, padding]: [usize; 3],
    ) -> ConvLayer {
        ConvLayer {
            batch,
            in_channels,
            out_channels,
            size,
            kernel,
            stride,
            padding,
        }
    }

    fn output_size(&self) -> usize {
        (self.size + 2 * self.padding - self.kernel) / self.stride + 1
    }

    pub fn describe(&self) -> String {
        format!(
            "{}×{}→{} {}×{} s{} p{} at {}×{}",
            self.batch,
            self.in_channels,
            self.out_channels,
            self.kernel,
            self.kernel,
            self.stride,
            self.padding,
            self.size,
            self.size
        )
    }
}

/// The distinct convolutions of a step of the narrow ResNet on 28×28
/// (batch 256) and of ResNet-18 with the CIFAR stem on 32×32 (batch 64;
/// its 1×1 shortcuts run as stride-1 convolutions of a strided slice).
pub fn training_layers() -> Vec<ConvLayer> {
    let l = |batch, i, o, size, k, s, p| ConvLayer::new(batch, i, o, size, [k, s, p]);
    vec![
        l(256, 1, 16, 28, 3, 1, 1),
        l(256, 16, 16, 28, 3, 1, 1),
        l(256, 16, 32, 28, 3, 2, 1),
        l(256, 32, 32, 14, 3, 1, 1),
        l(256, 16, 32, 14, 1, 1, 0),
        l(64, 3, 64, 32, 3, 1, 1),
        l(64, 64, 64, 32, 3, 1, 1),
        l(64, 128, 128, 16, 3, 1, 1),
        l(64, 256, 256, 8, 3, 1, 1),
        l(64, 512, 512, 4, 3, 1, 1),
    ]
}

/// One op's native and generic timings and their largest difference,
/// relative to the generic result's largest magnitude.
#[derive(Clone, Debug)]
pub struct OpComparison {
    pub op: &'static str,
    pub shape: String,
    pub native_ms: f64,
    pub generic_ms: f64,
    pub max_rel_diff: f64,
}

fn random(shape: &[usize], rng: &mut rand_chacha::ChaCha8Rng) -> FlexTensor {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
    FlexTensor::from_data(TensorData::new(values, shape.to_vec()))
}

fn values(t: FlexTensor) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap_or_default()
}

/// Largest |a − b| relative to the largest |b| (infinite when the lengths
/// differ). The measure of every "agrees with the reference" check: the
/// kernels against burn's ops, imported models against PyTorch's outputs.
pub fn max_rel_diff(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
    let diff = a
        .iter()
        .zip(b)
        .fold(0f64, |m, (x, y)| m.max((*x as f64 - *y as f64).abs()));
    diff / scale.max(f64::MIN_POSITIVE)
}

/// Best wall time of `repeat` runs of `f` after an untimed one (first-touch
/// page faults, thread start-up), in ms, and its last result.
fn timed<T>(repeat: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    drop(f());
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        last = Some(f());
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    (best, last.expect("at least one run"))
}

/// The convolution's forward, input gradient and weight gradient, native
/// vs generic.
pub fn compare_conv(layer: &ConvLayer, repeat: usize, seed: u64) -> Vec<OpComparison> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let c = layer;
    let o = c.output_size();
    let x = random(&[c.batch, c.in_channels, c.size, c.size], &mut rng);
    let w = random(
        &[c.out_channels, c.in_channels, c.kernel, c.kernel],
        &mut rng,
    );
    let g = random(&[c.batch, c.out_channels, o, o], &mut rng);
    let options = ConvOptions::new([c.stride; 2], [c.padding; 2], [1, 1], 1);
    let shape = c.describe();
    let (forward_native_ms, forward_native) = timed(repeat, || {
        Flex::conv2d_plain(x.clone(), w.clone(), c.stride, c.padding)
    });
    let (forward_generic_ms, forward_generic) = timed(repeat, || {
        Flex::conv2d(x.clone(), w.clone(), None, options.clone())
    });
    let (x_grad_native_ms, x_grad_native) = timed(repeat, || {
        Flex::conv2d_plain_input_grad(x.clone(), w.clone(), g.clone(), c.stride, c.padding)
    });
    let (x_grad_generic_ms, x_grad_generic) = timed(repeat, || {
        Flex::conv2d_x_backward(x.clone(), w.clone(), g.clone(), options.clone())
    });
    let (w_grad_native_ms, w_grad_native) = timed(repeat, || {
        Flex::conv2d_plain_weight_grad(x.clone(), w.clone(), g.clone(), c.stride, c.padding)
    });
    let (w_grad_generic_ms, w_grad_generic) = timed(repeat, || {
        Flex::conv2d_weight_backward(x.clone(), w.clone(), g.clone(), options.clone())
    });
    let row = |op, native_ms, generic_ms, native: FlexTensor, generic: FlexTensor| OpComparison {
        op,
        shape: shape.clone(),
        native_ms,
        generic_ms,
        max_rel_diff: max_rel_diff(&values(native), &values(generic)),
    };
    vec![
        row(
            "conv forward",
            forward_native_ms,
            forward_generic_ms,
            forward_native,
            forward_generic,
        ),
        row(
            "conv input grad",
            x_grad_native_ms,
            x_grad_generic_ms,
            x_grad_native,
            x_grad_generic,
        ),
        row(
            "conv weight grad",
            w_grad_native_ms,
            w_grad_generic_ms,
            w_grad_native,
            w_grad_generic,
        ),
    ]
}

/// BatchNorm forward + backward over [batch, channels, size, size] — alone,
/// or (`fused`) as a residual block ends, `relu(BN(x) + r)`, against burn's
/// BatchNorm, add and ReLU and their backwards; the difference is the
/// largest of the output's and the x, γ, β (and residual) gradients'.
pub fn compare_batch_norm(
    shape: [usize; 4],
    fused: bool,
    repeat: usize,
    seed: u64,
) -> OpComparison {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x = random(&shape, &mut rng);
    let g = random(&shape, &mut rng);
    let r = random(&shape, &mut rng);
    let gamma = random(&[shape[1]], &mut rng);
    let beta = random(&[shape[1]], &mut rng);
    let eps = 1e-5;
    let (native_ms, native) = timed(repeat, || {
        let (out, mean, var) = if fused {
            Flex::batch_norm_add_relu_train_plain(
                x.clone(),
                gamma.clone(),
                beta.clone(),
                r.clone(),
                eps,
            )
        } else {
            Flex::batch_norm_train_plain(x.clone(), gamma.clone(), beta.clone(), eps, false)
        };
        let (dx, dg, db, dr) = Flex::batch_norm_train_plain_backward(
            x.clone(),
            gamma.clone(),
            mean,
            var,
            eps,
            g.clone(),
            fused.then(|| out.clone()),
            fused,
        );
        [out, dx, dg, db, dr.unwrap_or_else(|| g.clone())].map(values)
    });
    let (generic_ms, generic) = timed(repeat, || {
        let bn = Flex::batch_norm_train(x.clone(), gamma.clone(), beta.clone(), eps);
        let (out, grad) = if fused {
            let out = Flex::relu(Flex::float_add(bn.output, r.clone()));
            let grad = Flex::relu_backward(out.clone(), g.clone());
            (out, grad)
        } else {
            (bn.output, g.clone())
        };
        let b = Flex::batch_norm_train_backward(
            x.clone(),
            gamma.clone(),
            bn.mean,
            bn.variance,
            eps,
            grad.clone(),
        );
        [out, b.x_grad, b.gamma_grad, b.beta_grad, grad].map(values)
    });
    let max_rel_diff = native
        .iter()
        .zip(&generic)
        .map(|(a, b)| max_rel_diff(a, b))
        .fold(0f64, f64::max);
    OpComparison {
        op: if fused {
            "bn+add+relu fwd+bwd"
        } else {
            "batch norm fwd+bwd"
        },
        shape: format!("{}×{}×{}×{}", shape[0], shape[1], shape[2], shape[3]),
        native_ms,
        generic_ms,
        max_rel_diff,
    }
}

/// The activations BatchNorm normalises in the same two networks.
pub fn training_batch_norms() -> Vec<[usize; 4]> {
    vec![
        [256, 16, 28, 28],
        [256, 32, 14, 14],
        [64, 64, 32, 32],
        [64, 128, 16, 16],
        [64, 256, 8, 8],
        [64, 512, 4, 4],
    ]
}
