//! The ResNet encoder network: stem, residual blocks, global average
//! pool and head, built from a [`ResnetShape`].

use super::shape::{Head, ResnetShape, Stage, Stem};
use crate::kernels::{batch_norm_layer as batch_norm, After};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

fn conv(
    i: usize,
    o: usize,
    k: usize,
    stride: usize,
    pad: usize,
    groups: usize,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([i, o], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_groups(groups)
        .with_bias(false)
        .init(device)
}

/// A residual block: basic (two 3×3) or bottleneck (1×1, 3×3, 1×1 ×4).
#[derive(Module, Debug)]
pub struct Block {
    convs: Vec<Conv2d>,
    bns: Vec<BatchNorm>,
    shortcut: Option<(Conv2d, BatchNorm)>,
}

impl Block {
    fn new(in_ch: usize, stage: &Stage, stride: usize, bottleneck: bool, device: &Device) -> Block {
        let (width, out) = (stage.width, stage.out);
        let convs = if bottleneck {
            vec![
                conv(in_ch, width, 1, 1, 0, 1, device),
                conv(width, width, 3, stride, 1, stage.groups, device),
                conv(width, out, 1, 1, 0, 1, device),
            ]
        } else {
            vec![
                conv(in_ch, width, 3, stride, 1, 1, device),
                conv(width, out, 3, 1, 1, 1, device),
            ]
        };
        let bns = convs
            .iter()
            .map(|c| BatchNormConfig::new(c.weight.dims()[0]).init(device))
            .collect();
        let shortcut = (stride != 1 || in_ch != out).then(|| {
            (
                conv(in_ch, out, 1, stride, 0, 1, device),
                BatchNormConfig::new(out).init(device),
            )
        });
        Block {
            convs,
            bns,
            shortcut,
        }
    }

    /// `relu(bn(conv(… relu(bn(conv(x))) …)) + skip(x))`; each BatchNorm
    /// takes what follows it (`After`), so that the CPU kernels fuse it.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let skip = match &self.shortcut {
            Some((c, bn)) => batch_norm(bn, shortcut_conv(c, x.clone()), After::Nothing),
            None => x.clone(),
        };
        let last = self.convs.len() - 1;
        let mut y = x;
        for (c, bn) in self.convs[..last].iter().zip(&self.bns) {
            y = batch_norm(bn, conv_forward(c, y), After::Relu);
        }
        let y = conv_forward(&self.convs[last], y);
        batch_norm(&self.bns[last], y, After::AddRelu(skip))
    }
}

/// `c.forward(x)`, through `kernels::conv2d` (native weight gradient on
/// the CPU) when the convolution is one it covers: no bias, groups 1,
/// dilation 1, square kernel, stride and symmetric padding.
fn conv_forward(c: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [kh, kw] = c.kernel_size;
    let plain = c.bias.is_none()
        && c.groups == 1
        && c.dilation == [1, 1]
        && kh == kw
        && c.stride[0] == c.stride[1];
    match c.padding {
        PaddingConfig2d::Explicit(t, l, b, r) if plain && t == l && l == b && b == r => {
            crate::kernels::conv2d(x, c.weight.val(), c.stride[0], t)
        }
        _ => c.forward(x),
    }
}

/// A shortcut's 1×1 convolution. At stride 2 it reads every second row and
/// column only, so it is computed as those pixels (a strided slice) under a
/// 1×1 stride-1 convolution: the same products and sums, through burn
/// Flex's 1×1 fast path (a plain GEMM) rather than its general im2col path.
fn shortcut_conv(c: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, kh, kw] = c.weight.dims();
    let stride = c.stride;
    let unpadded = matches!(
        c.padding,
        PaddingConfig2d::Explicit(0, 0, 0, 0) | PaddingConfig2d::Valid
    );
    if (kh, kw) != (1, 1) || stride == [1, 1] || !unpadded {
        return conv_forward(c, x);
    }
    use burn::tensor::Slice;
    let every = |s: usize| Slice::new(0, None, s as isize);
    let picked = x.slice([
        Slice::full(),
        Slice::full(),
        every(stride[0]),
        every(stride[1]),
    ]);
    crate::kernels::conv2d(picked, c.weight.val(), 1, 0)
}

/// Backbone + head.
#[derive(Module, Debug)]
pub struct Encoder {
    stem: Conv2d,
    stem_bn: BatchNorm,
    pool: Option<MaxPool2d>,
    blocks: Vec<Block>,
    /// The MLP head's first layer (absent for a one-layer or no head).
    fc1: Option<Linear>,
    /// The head's last (or only) layer (absent: no head).
    fc2: Option<Linear>,
}

impl Encoder {
    /// A freshly initialised encoder of `shape`.
    pub fn new(shape: &ResnetShape, device: &Device) -> Encoder {
        let (stride, pool) = match shape.stem {
            Stem::Imagenet => (2, true),
            Stem::Cifar => (1, false),
        };
        let stem = conv(
            shape.in_channels,
            shape.stem_width,
            shape.stem_kernel,
            stride,
            shape.stem_padding,
            1,
            device,
        );
        let mut blocks = Vec::new();
        let mut in_ch = shape.stem_width;
        for (s, stage) in shape.stages.iter().enumerate() {
            for b in 0..stage.blocks {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                blocks.push(Block::new(in_ch, stage, stride, shape.bottleneck, device));
                in_ch = stage.out;
            }
        }
        let d = shape.feature_dim();
        let (fc1, fc2) = match shape.head {
            Head::Mlp { hidden, out } => (
                Some(LinearConfig::new(d, hidden).init(device)),
                Some(LinearConfig::new(hidden, out).init(device)),
            ),
            Head::Linear { out } => (None, Some(LinearConfig::new(d, out).init(device))),
            Head::None => (None, None),
        };
        Encoder {
            stem,
            stem_bn: BatchNormConfig::new(shape.stem_width).init(device),
            pool: pool.then(|| {
                MaxPool2dConfig::new([3, 3])
                    .with_strides([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init()
            }),
            blocks,
            fc1,
            fc2,
        }
    }

    /// The representation `h` [N, D] (global average pool of the last stage).
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut y = batch_norm(&self.stem_bn, conv_forward(&self.stem, x), After::Relu);
        if let Some(p) = &self.pool {
            y = p.forward(y);
        }
        for b in &self.blocks {
            y = b.forward(y);
        }
        y.mean_dims(&[2, 3]).flatten(1, 3)
    }

    /// The unnormalised head output [N, embed_dim] from features `h`
    /// (`h` itself for an encoder without a head).
    pub fn head(&self, h: Tensor<2>) -> Tensor<2> {
        let mut y = h;
        if let Some(fc1) = &self.fc1 {
            y = relu(fc1.forward(y));
        }
        if let Some(fc2) = &self.fc2 {
            y = fc2.forward(y);
        }
        y
    }

    /// L2-normalised contrastive embedding `z` [N, embed_dim].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        l2_normalize(self.head(self.features(x)))
    }
}

/// Rows divided by their L2 norm (floored at 1e-12, like `F.normalize`).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12);
    x / norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Arch, ModelConfig};

    #[test]
    fn a_strided_shortcut_computes_what_the_strided_convolution_computes() {
        // Outputs and both gradients (input and weight) of the sliced 1×1
        // path against burn's own stride-2 convolution, on even and odd
        // sizes; the same products are summed, so the tolerance is tight.
        let dev = crate::train::trainer::device("cpu").unwrap().autodiff();
        for (h, w) in [(8, 8), (7, 9), (1, 1)] {
            let c = conv(3, 5, 1, 2, 0, 1, &dev);
            let data: Vec<f32> = (0..2 * 3 * h * w)
                .map(|i| ((i * 7919) % 97) as f32 / 48.0 - 1.0)
                .collect();
            let run = |fast: bool| {
                let x = Tensor::<4>::from_data(TensorData::new(data.clone(), [2, 3, h, w]), &dev)
                    .require_grad();
                let y = if fast {
                    shortcut_conv(&c, x.clone())
                } else {
                    c.forward(x.clone())
                };
                let grads = (y.clone() * y.clone()).sum().backward();
                let v = |t: Tensor<4>| {
                    t.into_data()
                        .convert::<f32>()
                        .try_into_vec::<f32>()
                        .unwrap()
                };
                let gx = x.grad(&grads).unwrap();
                let gw = c.weight.val().grad(&grads).unwrap();
                (
                    v(y),
                    gx.into_data()
                        .convert::<f32>()
                        .try_into_vec::<f32>()
                        .unwrap(),
                    gw.into_data()
                        .convert::<f32>()
                        .try_into_vec::<f32>()
                        .unwrap(),
                )
            };
            let (fast, slow) = (run(true), run(false));
            let close = |a: &[f32], b: &[f32]| {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(x, y)| (x - y).abs() <= 1e-5 * (1.0 + y.abs()))
            };
            assert!(close(&fast.0, &slow.0), "output {h}×{w}");
            assert!(close(&fast.1, &slow.1), "input gradient {h}×{w}");
            assert!(close(&fast.2, &slow.2), "weight gradient {h}×{w}");
        }
    }

    #[test]
    fn torchvision_resnet50_has_the_parameter_count_torchvision_reports() {
        // torchvision.models.resnet50() has 25 557 032 parameters with its
        // 1000-way fc (2048·1000 + 1000 = 2 049 000 of them); without it,
        // 23 508 032 — a count that fails if any width, block or shortcut
        // is wrong. burn also counts BatchNorm's running mean and variance:
        // one value each per BatchNorm channel, and ResNet-50 has 26 560
        // (stem 64; stages 1–4: 3·384 + 256, 4·768 + 512, 6·1536 + 1024,
        // 3·3072 + 2048), so 53 120 more.
        const RUNNING_STATS: usize = 2 * 26_560;
        let shape = ModelConfig {
            arch: Arch::Resnet50,
            in_channels: 3,
            embed_dim: 128,
        }
        .shape();
        let headless = ResnetShape {
            head: Head::None,
            ..shape.clone()
        };
        let dev = crate::train::trainer::device("cpu").unwrap();
        assert_eq!(
            Encoder::new(&headless, &dev).num_params(),
            23_508_032 + RUNNING_STATS
        );
        let classifier = ResnetShape {
            head: Head::Linear { out: 1000 },
            ..shape
        };
        assert_eq!(
            Encoder::new(&classifier, &dev).num_params(),
            25_557_032 + RUNNING_STATS
        );
    }
}
