//! Encoders: a ResNet backbone and MoCo v2's 2-layer MLP head.
//!
//! * `resnet18` — the CIFAR variant: 3×3 stride-1 stem, no max-pool, basic
//!   blocks [2, 2, 2, 2], widths 64–512 (for 28/32 px images).
//! * `resnet-narrow` — the same shape at widths 16–128 with one block per
//!   stage, sized for minutes-long runs on 2 CPU cores.
//! * `resnet50` — the ImageNet variant: 7×7 stride-2 stem and 3×3 max-pool,
//!   bottleneck blocks [3, 4, 6, 3], 2048-d output.
//!
//! The head is Linear(D, D) → ReLU → Linear(D, 128) as in MoCo v2; its output,
//! L2-normalised, is the contrastive-space embedding `z`; the backbone output
//! is the representation `h` the linear probe reads.
//!
//! [`torchvision`] names these encoders' tensors as torchvision does (export
//! and import); [`foreign`] reads PyTorch and safetensors files, finds the
//! encoder in them and infers which of the three it is.

pub mod foreign;
pub mod torchvision;

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

/// Which backbone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    Resnet18,
    ResnetNarrow,
    Resnet50,
}

impl Arch {
    /// Its name in configs and on the command line (`resnet-narrow`, …).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Resnet18 => "resnet18",
            Arch::ResnetNarrow => "resnet-narrow",
            Arch::Resnet50 => "resnet50",
        }
    }
}

/// Encoder shape, recorded in every run's config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub arch: Arch,
    /// Input channels: 1 (grey) or 3 (RGB).
    pub in_channels: usize,
    /// Contrastive embedding size (MoCo: 128).
    pub embed_dim: usize,
}

impl ModelConfig {
    fn stages(&self) -> (Vec<usize>, Vec<usize>, bool) {
        match self.arch {
            Arch::Resnet18 => (vec![64, 128, 256, 512], vec![2, 2, 2, 2], false),
            Arch::ResnetNarrow => (vec![16, 32, 64, 128], vec![1, 1, 1, 1], false),
            Arch::Resnet50 => (vec![64, 128, 256, 512], vec![3, 4, 6, 3], true),
        }
    }

    /// Residual blocks per stage (torchvision's `layer1` … `layer4`).
    pub fn blocks_per_stage(&self) -> Vec<usize> {
        self.stages().1
    }

    /// Whether the stem is ImageNet's (7×7 stride-2 convolution and 3×3
    /// max-pool) rather than the CIFAR stem (3×3 stride 1, no pool).
    pub fn imagenet_stem(&self) -> bool {
        self.arch == Arch::Resnet50
    }

    /// Size of the representation `h`.
    pub fn feature_dim(&self) -> usize {
        let (widths, _, bottleneck) = self.stages();
        widths[3] * if bottleneck { 4 } else { 1 }
    }

    pub fn init(&self, device: &Device) -> Encoder {
        let (widths, blocks, bottleneck) = self.stages();
        let imagenet_stem = self.imagenet_stem();
        let stem = if imagenet_stem {
            conv(self.in_channels, widths[0], 7, 2, 3, device)
        } else {
            conv(self.in_channels, widths[0], 3, 1, 1, device)
        };
        let mut layers = Vec::new();
        let mut in_ch = widths[0];
        for (s, (&w, &n)) in widths.iter().zip(&blocks).enumerate() {
            for b in 0..n {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                let block = Block::new(in_ch, w, stride, bottleneck, device);
                in_ch = block.out_channels;
                layers.push(block);
            }
        }
        let d = self.feature_dim();
        Encoder {
            stem,
            stem_bn: BatchNormConfig::new(widths[0]).init(device),
            pool: imagenet_stem.then(|| {
                MaxPool2dConfig::new([3, 3])
                    .with_strides([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init()
            }),
            blocks: layers,
            fc1: LinearConfig::new(d, d).init(device),
            fc2: LinearConfig::new(d, self.embed_dim).init(device),
        }
    }
}

fn conv(i: usize, o: usize, k: usize, stride: usize, pad: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([i, o], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// A residual block: basic (two 3×3) or bottleneck (1×1, 3×3, 1×1 ×4).
#[derive(Module, Debug)]
pub struct Block {
    convs: Vec<Conv2d>,
    bns: Vec<BatchNorm>,
    shortcut: Option<(Conv2d, BatchNorm)>,
    out_channels: usize,
}

impl Block {
    fn new(in_ch: usize, width: usize, stride: usize, bottleneck: bool, device: &Device) -> Block {
        let (convs, out) = if bottleneck {
            let out = width * 4;
            (
                vec![
                    conv(in_ch, width, 1, 1, 0, device),
                    conv(width, width, 3, stride, 1, device),
                    conv(width, out, 1, 1, 0, device),
                ],
                out,
            )
        } else {
            (
                vec![
                    conv(in_ch, width, 3, stride, 1, device),
                    conv(width, width, 3, 1, 1, device),
                ],
                width,
            )
        };
        let bns = convs
            .iter()
            .map(|c| BatchNormConfig::new(c.weight.dims()[0]).init(device))
            .collect();
        let shortcut = (stride != 1 || in_ch != out).then(|| {
            (
                conv(in_ch, out, 1, stride, 0, device),
                BatchNormConfig::new(out).init(device),
            )
        });
        Block {
            convs,
            bns,
            shortcut,
            out_channels: out,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = x.clone();
        let last = self.convs.len() - 1;
        for (i, (c, bn)) in self.convs.iter().zip(&self.bns).enumerate() {
            y = bn.forward(c.forward(y));
            if i < last {
                y = relu(y);
            }
        }
        let skip = match &self.shortcut {
            Some((c, bn)) => bn.forward(c.forward(x)),
            None => x,
        };
        relu(y + skip)
    }
}

/// Backbone + MLP head.
#[derive(Module, Debug)]
pub struct Encoder {
    stem: Conv2d,
    stem_bn: BatchNorm,
    pool: Option<MaxPool2d>,
    blocks: Vec<Block>,
    fc1: Linear,
    fc2: Linear,
}

impl Encoder {
    /// The representation `h` [N, D] (global average pool of the last stage).
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut y = relu(self.stem_bn.forward(self.stem.forward(x)));
        if let Some(p) = &self.pool {
            y = p.forward(y);
        }
        for b in &self.blocks {
            y = b.forward(y);
        }
        y.mean_dims(&[2, 3]).flatten(1, 3)
    }

    /// The unnormalised head output [N, embed_dim] from features `h`.
    pub fn head(&self, h: Tensor<2>) -> Tensor<2> {
        self.fc2.forward(relu(self.fc1.forward(h)))
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
