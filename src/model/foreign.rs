//! Weights negstudy did not write: PyTorch checkpoints (`.pth`, `.pth.tar`,
//! `.pt`, `.ckpt`, read by burn-store's PyTorch reader) and safetensors
//! state dicts; where in such a file the encoder sits (its key prefix); and
//! the shape of the ResNet its tensors describe.

use super::torchvision::{self, NamedTensor};
use super::{Arch, Encoder, Head, ModelConfig, ResnetShape, Stage, Stem};
use anyhow::{bail, Context, Result};
use burn::prelude::*;
use std::collections::BTreeSet;
use std::path::Path;

/// A weights file, opened once: its tensor names are known, values are
/// read on request.
pub enum WeightsFile<'a> {
    /// burn-store's reader holds the parsed pickle; a tensor's bytes are
    /// read from the file only when asked for.
    Pytorch(burn::store::pytorch_reader::PytorchReader, &'a Path),
    /// safetensors: names from the header, values from a memory map.
    Safetensors(&'a Path),
}

impl<'a> WeightsFile<'a> {
    /// Opens `path` by its extension (`.safetensors`, else PyTorch).
    pub fn open(path: &'a Path) -> Result<WeightsFile<'a>> {
        crate::input_file::open(path)?; // a clear error for a missing file or a FIFO
        if path
            .to_string_lossy()
            .to_lowercase()
            .ends_with(".safetensors")
        {
            return Ok(WeightsFile::Safetensors(path));
        }
        let reader = burn::store::pytorch_reader::PytorchReader::new(path).map_err(|e| {
            anyhow::anyhow!(
                "{}: not a PyTorch checkpoint negstudy can read: {e}",
                path.display()
            )
        })?;
        Ok(WeightsFile::Pytorch(reader, path))
    }

    /// Every tensor's dotted name (nested dictionaries joined with `.`, e.g.
    /// `state_dict.module.encoder_q.conv1.weight`).
    pub fn names(&self) -> Result<BTreeSet<String>> {
        match self {
            WeightsFile::Pytorch(reader, _) => Ok(reader.keys().into_iter().collect()),
            WeightsFile::Safetensors(path) => {
                let mmap = crate::store::safetensors_io::map(path)?;
                let st = crate::store::safetensors_io::parse(&mmap)
                    .with_context(|| path.display().to_string())?;
                Ok(st.names().into_iter().map(str::to_string).collect())
            }
        }
    }

    /// The float tensors whose names pass `keep`, sorted by name; integer
    /// tensors (`num_batches_tracked`, `queue_ptr`) are left out, and so is
    /// every value not kept (a MoCo checkpoint also holds the other encoder
    /// and the optimizer's buffers).
    pub fn read(self, keep: impl Fn(&str) -> bool) -> Result<Vec<NamedTensor>> {
        let (reader, path) = match self {
            WeightsFile::Safetensors(path) => return torchvision::read_safetensors(path, keep),
            WeightsFile::Pytorch(reader, path) => (reader, path),
        };
        let mut out = Vec::new();
        for (key, t) in reader.into_tensors() {
            use burn::store::pytorch_reader::DType as D;
            let elem = match t.dtype() {
                D::F32 => crate::store::Elem::F32,
                D::F64 => crate::store::Elem::F64,
                D::F16 => crate::store::Elem::F16,
                D::BF16 => crate::store::Elem::BF16,
                _ => continue,
            };
            if !keep(&key) {
                continue;
            }
            let bytes = t
                .read()
                .with_context(|| format!("{}: reading tensor '{key}'", path.display()))?;
            let values = crate::store::floats_from_le(&bytes, elem, &key)?;
            out.push(NamedTensor {
                name: key,
                shape: t.shape().to_vec(),
                values,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// The known layouts: where the encoder's `conv1.weight` sits, in the order
/// they are tried (`{encoder}` is `encoder_q` or `encoder_k`).
const LAYOUTS: &[(&str, &str)] = &[
    (
        "state_dict.module.{encoder}.",
        "MoCo v1/v2 official (.pth.tar)",
    ),
    ("module.{encoder}.", "MoCo, DistributedDataParallel"),
    ("{encoder}.", "MoCo, unwrapped"),
    ("state_dict.backbone.", "solo-learn / Lightning (.ckpt)"),
    (
        "state_dict.module.",
        "a state_dict of a DistributedDataParallel model",
    ),
    ("state_dict.", "a state_dict entry"),
    ("module.", "DistributedDataParallel"),
    ("model.", "a model entry"),
    ("", "torchvision state dict"),
];

/// The encoder's tensors with their prefix removed, and what was found.
#[derive(Clone, Debug)]
pub struct Selected {
    pub prefix: String,
    pub layout: String,
    pub tensors: Vec<NamedTensor>,
}

/// Where the encoder sits among `names`: `prefix` when given, else the
/// first known layout holding a `conv1.weight`; returns the prefix and the
/// layout's description. A file that matches none is an error listing the
/// first keys seen and what was expected. `momentum` picks MoCo's key
/// encoder (`encoder_k`) over the query encoder (`encoder_q`).
pub fn find_prefix(
    names: &BTreeSet<String>,
    prefix: Option<&str>,
    momentum: bool,
) -> Result<(String, String)> {
    let encoder = if momentum { "encoder_k" } else { "encoder_q" };
    let (prefix, layout) = match prefix {
        Some(p) => (p.to_string(), "given by --prefix".to_string()),
        None => LAYOUTS
            .iter()
            .map(|(p, what)| (p.replace("{encoder}", encoder), what.to_string()))
            .find(|(p, _)| names.contains(&format!("{p}conv1.weight")))
            .with_context(|| {
                let first: Vec<&String> = names.iter().take(8).collect();
                format!(
                    "no ResNet encoder found: expected a 'conv1.weight' under one of {:?}; the first keys are {first:?} (give the prefix with --prefix)",
                    LAYOUTS
                        .iter()
                        .map(|(p, _)| format!("'{}'", p.replace("{encoder}", encoder)))
                        .collect::<Vec<_>>()
                )
            })?,
    };
    if momentum && !prefix.contains("encoder_k") && layout != "given by --prefix" {
        bail!("--encoder momentum: this file has no momentum encoder (no '{encoder}.' keys); its encoder is under '{prefix}'");
    }
    if !names.contains(&format!("{prefix}conv1.weight")) {
        bail!("no 'conv1.weight' under the prefix '{prefix}'");
    }
    Ok((prefix, layout))
}

/// The encoder's tensors out of a file's (see [`find_prefix`]), with the
/// prefix removed.
pub fn select_encoder(
    all: Vec<NamedTensor>,
    prefix: Option<&str>,
    momentum: bool,
) -> Result<Selected> {
    let names: BTreeSet<String> = all.iter().map(|t| t.name.clone()).collect();
    let (prefix, layout) = find_prefix(&names, prefix, momentum)?;
    let tensors = all
        .into_iter()
        .filter_map(|t| {
            let name = t.name.strip_prefix(prefix.as_str())?.to_string();
            Some(NamedTensor { name, ..t })
        })
        .collect();
    Ok(Selected {
        prefix,
        layout,
        tensors,
    })
}

/// Which head `z` comes from when a file has one (`--head`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum HeadChoice {
    /// MoCo v2's MLP head (`fc.0`, `fc.2`) when present; a single `fc` (a
    /// classifier's, or MoCo v1's) is left out and `z` is `h` normalised.
    #[default]
    Auto,
    /// Also a single `fc`: `z` = normalise(fc(h)).
    Fc,
    /// No head: `z` = normalise(h), whatever the file holds.
    None,
}

/// How to read a file's encoder beyond what its tensors say.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Where the encoder sits; `None`: detected ([`find_prefix`]).
    pub prefix: Option<String>,
    /// MoCo's key encoder (`encoder_k`) rather than the query encoder.
    pub momentum: bool,
    /// The stem (its max-pool has no weights); `None`: from `conv1`'s
    /// kernel (7×7 → ImageNet, 3×3 → CIFAR).
    pub stem: Option<Stem>,
    pub head: HeadChoice,
}

/// The shape of the ResNet the tensors describe (torchvision names, prefix
/// removed): input channels and stem from `conv1` (kernel 5 or more → the
/// ImageNet stem unless `stem` says otherwise), basic or bottleneck blocks
/// (`conv3` present), blocks per stage (`layer1` …), each stage's widths and
/// groups from its first block's shapes, and the head from `fc.0`/`fc.2`
/// (MLP) or `fc` (one layer, used only with [`HeadChoice::Fc`]).
pub fn infer_shape(
    tensors: &[NamedTensor],
    stem: Option<Stem>,
    head: HeadChoice,
) -> Result<ResnetShape> {
    let shape = |name: &str| {
        tensors
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.shape.clone())
    };
    let conv1 = shape("conv1.weight").context("no conv1.weight")?;
    if conv1.len() != 4 || conv1[2] != conv1[3] || conv1.contains(&0) {
        bail!("conv1.weight has shape {conv1:?}; expected [out, in, k, k]");
    }
    let bottleneck = shape("layer1.0.conv3.weight").is_some();
    let mut stages = Vec::new();
    for s in 1.. {
        let blocks = (0..)
            .take_while(|b| shape(&format!("layer{s}.{b}.conv1.weight")).is_some())
            .count();
        if blocks == 0 {
            break;
        }
        stages.push(stage(&shape, s, blocks, bottleneck)?);
    }
    if stages.is_empty() {
        bail!("no residual stages (no 'layer1.0.conv1.weight')");
    }
    let has = |name: &str| shape(name).is_some();
    let head = match (
        shape("fc.0.weight"),
        shape("fc.2.weight"),
        shape("fc.weight"),
    ) {
        _ if head == HeadChoice::None => Head::None,
        (Some(fc0), Some(fc2), _) => Head::Mlp {
            hidden: fc0[0],
            out: fc2[0],
        },
        (_, _, Some(fc)) if head == HeadChoice::Fc => Head::Linear { out: fc[0] },
        (_, _, None) if head == HeadChoice::Fc => {
            bail!("--head fc: the weights have no head ('fc.weight' or 'fc.0.weight')")
        }
        _ if has("fc.0.weight") || has("fc.2.weight") => {
            bail!("an MLP head needs both fc.0 and fc.2")
        }
        _ => Head::None,
    };
    Ok(ResnetShape {
        in_channels: conv1[1],
        stem: stem.unwrap_or(if conv1[2] >= 5 {
            Stem::Imagenet
        } else {
            Stem::Cifar
        }),
        stem_kernel: conv1[2],
        stem_width: conv1[0],
        bottleneck,
        stages,
        head,
    })
}

/// Stage `s` (1-based) from its first block's convolutions.
fn stage(
    shape: &impl Fn(&str) -> Option<Vec<usize>>,
    s: usize,
    blocks: usize,
    bottleneck: bool,
) -> Result<Stage> {
    let get = |conv: &str| {
        let name = format!("layer{s}.0.{conv}.weight");
        let dims = shape(&name).with_context(|| format!("no '{name}'"))?;
        if dims.len() != 4 || dims.contains(&0) {
            bail!("'{name}' has shape {dims:?}; expected [out, in, k, k]");
        }
        Ok(dims)
    };
    let (conv1, conv2) = (get("conv1")?, get("conv2")?);
    let width = conv1[0];
    if conv2[1] == 0 || width % conv2[1] != 0 {
        bail!("layer{s}.0.conv2.weight has shape {conv2:?}, which does not divide {width} channels into groups");
    }
    Ok(Stage {
        blocks,
        width,
        out: if bottleneck {
            get("conv3")?[0]
        } else {
            conv2[0]
        },
        groups: width / conv2[1],
    })
}

/// negstudy's name for a shape it trains (`resnet50`, …), else "ResNet-N"
/// by depth (convolutions and linear layers on the main path).
pub fn shape_name(shape: &ResnetShape) -> String {
    let named = [Arch::Resnet18, Arch::ResnetNarrow, Arch::Resnet50]
        .into_iter()
        .find(|&arch| {
            ModelConfig {
                arch,
                in_channels: shape.in_channels,
                embed_dim: shape.embed_dim(),
            }
            .shape()
                == *shape
        });
    match named {
        Some(arch) => arch.name().to_string(),
        None => {
            let per_block = if shape.bottleneck { 3 } else { 2 };
            let depth = 2 + per_block * shape.blocks_per_stage().iter().sum::<usize>();
            format!("ResNet-{depth}")
        }
    }
}

/// What [`load`] found and built.
#[derive(Debug)]
pub struct Loaded {
    pub encoder: Encoder,
    pub shape: ResnetShape,
    /// [`shape_name`] of it.
    pub name: String,
    pub prefix: String,
    pub layout: String,
    /// Head tensors in the file that `z` does not use (see [`HeadChoice`]).
    pub unused_head: Vec<String>,
}

/// Reads a PyTorch or safetensors file and builds the encoder it holds
/// (every tensor of the encoder loaded, or an error listing what is
/// missing or left over; the head's and BatchNorm's tensors included — only
/// a head the options leave out is set aside, and reported).
pub fn load(path: &Path, opts: &ReadOptions, device: &Device) -> Result<Loaded> {
    // The names first (they locate the encoder), then the tensors under the
    // chosen prefix only, from the one opened file.
    let file = WeightsFile::open(path)?;
    let (chosen, layout) = find_prefix(&file.names()?, opts.prefix.as_deref(), opts.momentum)
        .with_context(|| path.display().to_string())?;
    let all = file.read(|n| n.starts_with(chosen.as_str()))?;
    let sel = select_encoder(all, Some(&chosen), opts.momentum)
        .with_context(|| path.display().to_string())?;
    let shape = infer_shape(&sel.tensors, opts.stem, opts.head)
        .with_context(|| path.display().to_string())?;
    let is_head = |n: &str| n.starts_with("fc.");
    let (unused_head, tensors): (Vec<NamedTensor>, Vec<NamedTensor>) = sel
        .tensors
        .into_iter()
        .partition(|t| shape.head == Head::None && is_head(&t.name));
    let encoder = torchvision::import(&shape, &tensors, device)
        .with_context(|| format!("{} (encoder under '{}')", path.display(), sel.prefix))?;
    Ok(Loaded {
        encoder,
        name: shape_name(&shape),
        shape,
        prefix: sel.prefix,
        layout,
        unused_head: unused_head.into_iter().map(|t| t.name).collect(),
    })
}
