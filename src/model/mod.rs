//! Encoders: a ResNet backbone and MoCo v2's 2-layer MLP head.
//!
//! negstudy trains three named architectures (`Arch`):
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
//! Each is a [`ResnetShape`] (`shape`), the general description the network
//! (`resnet`) is built from; a PyTorch file may hold any such shape, with a
//! one-layer head or none. [`torchvision`] names the tensors as torchvision
//! does, [`foreign`] reads PyTorch and safetensors files (finds the encoder,
//! infers its shape), [`pth`] writes `torch.save`'s format.

pub mod container;
pub mod foreign;
pub mod pth;
pub mod resnet;
pub mod shape;
pub mod torchvision;

pub use resnet::{l2_normalize, Encoder};
pub use shape::{Head, ResnetShape, Stage, Stem};

use burn::prelude::*;
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
    /// The shape of the named architecture, with MoCo v2's MLP head.
    pub fn shape(&self) -> ResnetShape {
        let (widths, blocks, bottleneck) = match self.arch {
            Arch::Resnet18 => ([64, 128, 256, 512], [2, 2, 2, 2], false),
            Arch::ResnetNarrow => ([16, 32, 64, 128], [1, 1, 1, 1], false),
            Arch::Resnet50 => ([64, 128, 256, 512], [3, 4, 6, 3], true),
        };
        let expansion = if bottleneck { 4 } else { 1 };
        let stages: Vec<Stage> = widths
            .iter()
            .zip(blocks)
            .map(|(&width, blocks)| Stage {
                blocks,
                width,
                out: width * expansion,
                groups: 1,
            })
            .collect();
        let d = widths[3] * expansion;
        let imagenet = self.arch == Arch::Resnet50;
        ResnetShape {
            in_channels: self.in_channels,
            stem: if imagenet {
                Stem::Imagenet
            } else {
                Stem::Cifar
            },
            stem_kernel: if imagenet { 7 } else { 3 },
            stem_padding: if imagenet { 3 } else { 1 },
            stem_width: widths[0],
            bottleneck,
            stages,
            head: Head::Mlp {
                hidden: d,
                out: self.embed_dim,
            },
        }
    }

    /// Whether the stem is ImageNet's (7×7 stride-2 convolution and 3×3
    /// max-pool) rather than the CIFAR stem (3×3 stride 1, no pool).
    pub fn imagenet_stem(&self) -> bool {
        self.shape().stem == Stem::Imagenet
    }

    /// Size of the representation `h`.
    pub fn feature_dim(&self) -> usize {
        self.shape().feature_dim()
    }

    pub fn init(&self, device: &Device) -> Encoder {
        Encoder::new(&self.shape(), device)
    }
}
