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
        super::container::check(path)?;
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
        let file_len = std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        let shown = crate::input_file::shown(path);
        let mut out = Vec::new();
        let mut declared_total = 0u64;
        let mut tensors: Vec<_> = reader.into_tensors().into_iter().collect();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, t) in tensors {
            use burn::store::pytorch_reader::DType as D;
            if !keep(&key) {
                continue;
            }
            let elem = match t.dtype() {
                D::F32 => crate::store::Elem::F32,
                D::F64 => crate::store::Elem::F64,
                D::F16 => crate::store::Elem::F16,
                D::BF16 => crate::store::Elem::BF16,
                // BatchNorm's step counter is an integer in every layout.
                _ if key.ends_with("num_batches_tracked") => continue,
                other => bail!(
                    "{shown}: tensor '{key}' has element type {other:?}; negstudy reads encoder weights stored as f32, f64, f16 or bf16"
                ),
            };
            // Before a byte is read: a tensor cannot hold more values than
            // the file has bytes (a view repeating one value with stride 0,
            // or a compressed storage, can declare gigabytes in kilobytes).
            let declared = t
                .shape()
                .iter()
                .try_fold(t.dtype().size() as u64, |acc, &d| acc.checked_mul(d as u64));
            declared_total = declared_total.saturating_add(declared.unwrap_or(u64::MAX));
            if declared.is_none_or(|b| b > file_len) || declared_total > file_len {
                bail!(
                    "{shown}: tensor '{key}' declares shape {:?} of {:?} ({}), more than the file's {file_len} bytes can hold{}; negstudy reads only tensors backed by the file's own bytes",
                    t.shape(),
                    t.dtype(),
                    declared.map_or("beyond 2^64 bytes".to_string(), |b| format!("{b} bytes")),
                    if declared.is_some_and(|b| b <= file_len) { " together with the tensors before it" } else { " (a view that repeats its storage, or a compressed one)" }
                );
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
        Ok(out)
    }
}

/// A known checkpoint layout: where its encoders sit, and what the weights
/// cannot say about the network.
struct Layout {
    /// Prefix of the encoder (MoCo's query encoder), e.g.
    /// `state_dict.module.encoder_q.`.
    query: &'static str,
    /// Prefixes its momentum (key) encoder may have, tried in order.
    momentum: &'static [&'static str],
    what: &'static str,
    /// Padding of a 3×3 CIFAR stem in this layout, when it is not
    /// `kernel / 2`: solo-learn replaces the stem of its CIFAR models with
    /// `Conv2d(3, 64, kernel_size=3, stride=1, padding=2)` (`solo/methods/base.py`).
    cifar_stem_padding: Option<usize>,
}

/// The known layouts, in the order they are tried (the first whose query
/// prefix holds a `conv1.weight` is the file's).
const LAYOUTS: &[Layout] = &[
    Layout {
        query: "state_dict.module.encoder_q.",
        momentum: &["state_dict.module.encoder_k."],
        what: "MoCo v1/v2 official (.pth.tar)",
        cifar_stem_padding: None,
    },
    Layout {
        query: "module.encoder_q.",
        momentum: &["module.encoder_k."],
        what: "MoCo, DistributedDataParallel",
        cifar_stem_padding: None,
    },
    Layout {
        query: "encoder_q.",
        momentum: &["encoder_k."],
        what: "MoCo, unwrapped",
        cifar_stem_padding: None,
    },
    Layout {
        query: "state_dict.backbone.",
        momentum: &[
            "state_dict.momentum_backbone.",
            "state_dict.momentum_encoder.",
        ],
        what: "solo-learn / Lightning (.ckpt)",
        cifar_stem_padding: Some(2),
    },
    Layout {
        query: "state_dict.module.",
        momentum: &[],
        what: "a state_dict of a DistributedDataParallel model",
        cifar_stem_padding: None,
    },
    Layout {
        query: "state_dict.",
        momentum: &[],
        what: "a state_dict entry",
        cifar_stem_padding: None,
    },
    Layout {
        query: "module.",
        momentum: &[],
        what: "DistributedDataParallel",
        cifar_stem_padding: None,
    },
    Layout {
        query: "model.",
        momentum: &[],
        what: "a model entry",
        cifar_stem_padding: None,
    },
    Layout {
        query: "",
        momentum: &[],
        what: "torchvision state dict",
        cifar_stem_padding: None,
    },
];

/// Where a file's encoder sits, and what its layout says about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub prefix: String,
    /// The layout's description (and "given by --prefix" when it was).
    pub layout: String,
    /// Whether the tensors are a momentum (key) encoder's.
    pub momentum: bool,
    /// The layout's 3×3 CIFAR stem padding when it is not `kernel / 2`.
    pub cifar_stem_padding: Option<usize>,
}

/// Where the encoder sits among `names`. Without `prefix`, the file's layout
/// is the first known one holding a `conv1.weight` under its query prefix,
/// and `momentum` picks its momentum encoder (an error naming the layout if
/// it has none). A given `prefix` is used as it is; when it is a known
/// layout's query or momentum prefix, that decides which encoder it is (so
/// a dump is labelled truthfully) and the layout's stem rule applies. A
/// file that matches no layout is an error listing the first keys seen and
/// what was expected.
pub fn find_prefix(
    names: &BTreeSet<String>,
    prefix: Option<&str>,
    momentum: bool,
) -> Result<Found> {
    let holds = |p: &str| names.contains(&format!("{p}conv1.weight"));
    let found = match prefix {
        Some(p) => given_prefix(p, momentum)?,
        None => {
            let layout = LAYOUTS.iter().find(|l| holds(l.query)).with_context(|| {
                let first: Vec<&String> = names.iter().take(8).collect();
                let expected: Vec<String> =
                    LAYOUTS.iter().map(|l| format!("'{}'", l.query)).collect();
                format!(
                    "no ResNet encoder found: expected a 'conv1.weight' under one of {expected:?}; the first keys are {first:?} (give the prefix with --prefix)"
                )
            })?;
            let prefix = if momentum {
                layout.momentum.iter().copied().find(|p| holds(p)).with_context(|| {
                    format!(
                        "--encoder momentum: this file ({}) has no momentum encoder{}; its encoder is under '{}'",
                        layout.what,
                        if layout.momentum.is_empty() {
                            String::new()
                        } else {
                            format!(" (no 'conv1.weight' under {:?})", layout.momentum)
                        },
                        layout.query
                    )
                })?
            } else {
                layout.query
            };
            Found {
                prefix: prefix.to_string(),
                layout: layout.what.to_string(),
                momentum,
                cifar_stem_padding: layout.cifar_stem_padding,
            }
        }
    };
    if !holds(&found.prefix) {
        bail!("no 'conv1.weight' under the prefix '{}'", found.prefix);
    }
    Ok(found)
}

/// A `--prefix`: a known layout's query or momentum prefix says which
/// encoder it is; any other prefix is the encoder `momentum` asks for.
fn given_prefix(prefix: &str, momentum: bool) -> Result<Found> {
    let known = LAYOUTS.iter().find_map(|l| {
        if l.query == prefix && !prefix.is_empty() {
            Some((l, false))
        } else if l.momentum.contains(&prefix) {
            Some((l, true))
        } else {
            None
        }
    });
    Ok(match known {
        Some((l, false)) if momentum => bail!(
            "--encoder momentum with --prefix '{prefix}': that is the query encoder's prefix in the {} layout{}",
            l.what,
            l.momentum
                .first()
                .map_or(String::new(), |m| format!(" (its momentum encoder is under '{m}')"))
        ),
        Some((l, is_momentum)) => Found {
            prefix: prefix.to_string(),
            layout: format!("{}, given by --prefix", l.what),
            momentum: is_momentum,
            cifar_stem_padding: l.cifar_stem_padding,
        },
        None => Found {
            prefix: prefix.to_string(),
            layout: "given by --prefix".to_string(),
            momentum,
            cifar_stem_padding: None,
        },
    })
}

/// The encoder's tensors with their prefix removed, and where they were.
#[derive(Clone, Debug)]
pub struct Selected {
    pub found: Found,
    pub tensors: Vec<NamedTensor>,
}

/// The encoder's tensors out of a file's (see [`find_prefix`]), with the
/// prefix removed.
pub fn select_encoder(
    all: Vec<NamedTensor>,
    prefix: Option<&str>,
    momentum: bool,
) -> Result<Selected> {
    let names: BTreeSet<String> = all.iter().map(|t| t.name.clone()).collect();
    let found = find_prefix(&names, prefix, momentum)?;
    let tensors = all
        .into_iter()
        .filter_map(|t| {
            let name = t.name.strip_prefix(found.prefix.as_str())?.to_string();
            Some(NamedTensor { name, ..t })
        })
        .collect();
    Ok(Selected { found, tensors })
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
    /// The stem convolution's padding; `None`: the layout's rule
    /// (solo-learn's 3×3 CIFAR stem: 2), else `kernel / 2`.
    pub stem_padding: Option<usize>,
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
    // One index of the names: a lookup per block, not a scan of every
    // tensor (a file can declare hundreds of thousands of blocks).
    let index: std::collections::HashMap<&str, &[usize]> = tensors
        .iter()
        .map(|t| (t.name.as_str(), t.shape.as_slice()))
        .collect();
    let shape = |name: &str| index.get(name).map(|s| s.to_vec());
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
        stem_padding: conv1[2] / 2,
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
    /// Where the encoder was, which one it is, and the layout.
    pub found: Found,
    /// Head tensors in the file that `z` does not use (see [`HeadChoice`]).
    pub unused_head: Vec<String>,
}

/// The stem padding of a file's network: `--stem-padding`, else the
/// layout's rule for a 3×3 CIFAR stem, else `kernel / 2` (torchvision's).
fn stem_padding(shape: &ResnetShape, found: &Found, given: Option<usize>) -> usize {
    given.unwrap_or(match found.cifar_stem_padding {
        Some(p) if shape.stem == Stem::Cifar && shape.stem_kernel == 3 => p,
        _ => shape.stem_kernel / 2,
    })
}

/// Most padding `--stem-padding` accepts: more than the kernel adds only zeros.
pub const MAX_STEM_PADDING: usize = 16;

/// Reads a PyTorch or safetensors file and builds the encoder it holds
/// (every tensor of the encoder loaded, or an error listing what is
/// missing or left over; the head's and BatchNorm's tensors included — only
/// a head the options leave out is set aside, and reported).
pub fn load(path: &Path, opts: &ReadOptions, device: &Device) -> Result<Loaded> {
    if let Some(p) = opts.stem_padding.filter(|&p| p > MAX_STEM_PADDING) {
        bail!("--stem-padding {p}: expected 0 to {MAX_STEM_PADDING}");
    }
    // The names first (they locate the encoder), then the tensors under the
    // chosen prefix only, from the one opened file.
    let file = WeightsFile::open(path)?;
    let found = find_prefix(&file.names()?, opts.prefix.as_deref(), opts.momentum)
        .with_context(|| path.display().to_string())?;
    let all = file.read(|n| n.starts_with(found.prefix.as_str()))?;
    let sel = select_encoder(all, Some(&found.prefix), found.momentum)
        .with_context(|| path.display().to_string())?;
    let mut shape = infer_shape(&sel.tensors, opts.stem, opts.head)
        .with_context(|| path.display().to_string())?;
    shape.stem_padding = stem_padding(&shape, &found, opts.stem_padding);
    let is_head = |n: &str| n.starts_with("fc.");
    let (unused_head, tensors): (Vec<NamedTensor>, Vec<NamedTensor>) = sel
        .tensors
        .into_iter()
        .partition(|t| shape.head == Head::None && is_head(&t.name));
    let encoder = torchvision::import(&shape, &tensors, device)
        .with_context(|| format!("{} (encoder under '{}')", path.display(), found.prefix))?;
    Ok(Loaded {
        encoder,
        name: shape_name(&shape),
        shape,
        found,
        unused_head: unused_head.into_iter().map(|t| t.name).collect(),
    })
}
