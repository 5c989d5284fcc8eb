//! The shape of a ResNet encoder, general enough for the ResNets
//! researchers hold (torchvision's resnet18 … resnet152, wide and ResNeXt
//! variants, CIFAR variants, narrowed ones): stem, stages, block type and
//! head. negstudy's named architectures (`Arch`) are three such shapes; a
//! PyTorch file's shape is read from its tensors (`model::foreign`).

use serde::{Deserialize, Serialize};

/// The layers before the first stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Stem {
    /// ImageNet's: the convolution at stride 2, then a 3×3 stride-2 max-pool.
    Imagenet,
    /// CIFAR's: the convolution at stride 1, no pool.
    Cifar,
}

impl Stem {
    pub fn name(self) -> &'static str {
        match self {
            Stem::Imagenet => "imagenet",
            Stem::Cifar => "cifar",
        }
    }
}

/// What follows the pooled backbone output `h`; `z` is its output,
/// L2-normalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Head {
    /// MoCo v2's Linear(D, hidden) → ReLU → Linear(hidden, out)
    /// (torchvision names `fc.0`, `fc.2`).
    Mlp { hidden: usize, out: usize },
    /// One Linear(D, out) (`fc`: MoCo v1's head, or a classifier's).
    Linear { out: usize },
    /// None: `z` is `h` normalised.
    None,
}

/// One stage (torchvision's `layer1` … `layer4`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    pub blocks: usize,
    /// Channels inside a block (a bottleneck's 3×3 convolution).
    pub width: usize,
    /// Channels a block puts out (basic: `width`; bottleneck: usually 4×).
    pub out: usize,
    /// Groups of the 3×3 convolution (ResNeXt; 1 otherwise).
    pub groups: usize,
}

/// A ResNet encoder's full shape. Stage `s > 0` starts with a stride-2 block
/// (on the 3×3 convolution, as torchvision ≥ 0.2 and MoCo do); a block whose
/// stride or channel count changes has a 1×1 convolution + BatchNorm
/// shortcut (`downsample`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResnetShape {
    pub in_channels: usize,
    pub stem: Stem,
    /// The stem convolution's kernel.
    pub stem_kernel: usize,
    /// The stem convolution's zero padding: `kernel / 2` for torchvision's
    /// stems and negstudy's; 2 for solo-learn's 3×3 CIFAR stem
    /// (`Conv2d(3, 64, 3, stride=1, padding=2)`). The weights do not say it:
    /// a file's layout does (`model::foreign`), or `--stem-padding`.
    pub stem_padding: usize,
    pub stem_width: usize,
    pub bottleneck: bool,
    pub stages: Vec<Stage>,
    pub head: Head,
}

impl ResnetShape {
    /// Size of the representation `h`.
    pub fn feature_dim(&self) -> usize {
        self.stages.last().map_or(self.stem_width, |s| s.out)
    }

    /// Size of `z`.
    pub fn embed_dim(&self) -> usize {
        match self.head {
            Head::Mlp { out, .. } | Head::Linear { out } => out,
            Head::None => self.feature_dim(),
        }
    }

    /// Residual blocks per stage.
    pub fn blocks_per_stage(&self) -> Vec<usize> {
        self.stages.iter().map(|s| s.blocks).collect()
    }

    /// One line for people: "bottleneck [3, 4, 6, 3], widths …".
    pub fn describe(&self) -> String {
        let widths: Vec<usize> = self.stages.iter().map(|s| s.width).collect();
        let groups = self.stages.first().map_or(1, |s| s.groups);
        format!(
            "{} blocks {:?}, widths {widths:?}{}, {k}×{k} {} stem (padding {}, {} wide), {} input channels, head {}",
            if self.bottleneck { "bottleneck" } else { "basic" },
            self.blocks_per_stage(),
            if groups > 1 { format!(", {groups} groups") } else { String::new() },
            self.stem.name(),
            self.stem_padding,
            self.stem_width,
            self.in_channels,
            match self.head {
                Head::Mlp { hidden, out } => format!("MLP {} → {hidden} → {out}", self.feature_dim()),
                Head::Linear { out } => format!("linear {} → {out}", self.feature_dim()),
                Head::None => "none (z = normalised h)".to_string(),
            },
            k = self.stem_kernel,
        )
    }
}
