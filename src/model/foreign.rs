//! Weights negstudy did not write: PyTorch checkpoints (`.pth`, `.pth.tar`,
//! `.pt`, `.ckpt`, read by burn-store's PyTorch reader) and safetensors
//! state dicts; where in such a file the encoder sits (its key prefix); and
//! which of negstudy's encoders its tensors describe.

use super::torchvision::{self, NamedTensor};
use super::{Arch, Encoder, ModelConfig};
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

/// Which of negstudy's encoders the tensors describe, from their names and
/// shapes: the stem's kernel (3×3: CIFAR stem, 7×7: ImageNet stem with
/// max-pool), basic or bottleneck blocks (`conv3` present), blocks per stage,
/// widths, input channels, and MoCo v2's MLP head (`fc.0`, `fc.2`).
pub fn infer_model(tensors: &[NamedTensor]) -> Result<ModelConfig> {
    let shape = |name: &str| {
        tensors
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.shape.clone())
    };
    let conv1 = shape("conv1.weight").context("no conv1.weight")?;
    if conv1.len() != 4 {
        bail!("conv1.weight has shape {conv1:?}; expected [out, in, k, k]");
    }
    let (in_channels, kernel) = (conv1[1], conv1[2]);
    let bottleneck = shape("layer1.0.conv3.weight").is_some();
    let blocks: Vec<usize> = (1..=4)
        .map(|s| {
            (0..)
                .take_while(|b| shape(&format!("layer{s}.{b}.conv1.weight")).is_some())
                .count()
        })
        .collect();
    let widths: Vec<usize> = (1..=4)
        .map(|s| shape(&format!("layer{s}.0.conv1.weight")).map_or(0, |w| w[0]))
        .collect();
    let head = (shape("fc.0.weight"), shape("fc.2.weight"));
    let (Some(fc0), Some(fc2)) = head else {
        bail!(
            "no MoCo v2 MLP head (fc.0, fc.2): negstudy builds encoders with that head; \
             classifier heads (a single fc) and headless backbones are not supported yet"
        );
    };
    let described = format!(
        "{} blocks {blocks:?}, widths {widths:?}, {kernel}×{kernel} stem, {in_channels} input channels, head {fc0:?} → {fc2:?}",
        if bottleneck { "bottleneck" } else { "basic" }
    );
    let arch = [Arch::Resnet18, Arch::ResnetNarrow, Arch::Resnet50]
        .into_iter()
        .find(|&arch| {
            let cfg = ModelConfig {
                arch,
                in_channels,
                embed_dim: fc2[0],
            };
            let stage_widths = cfg.stages().0;
            cfg.blocks_per_stage() == blocks
                && cfg.stages().2 == bottleneck
                && stage_widths == widths
                && (kernel == 7) == cfg.imagenet_stem()
        })
        .with_context(|| {
            format!(
                "the weights describe a ResNet negstudy cannot build yet ({described}); \
                 negstudy builds resnet18 (CIFAR stem, basic [2,2,2,2], widths 64–512), \
                 resnet-narrow (CIFAR stem, basic [1,1,1,1], widths 16–128) and resnet50 \
                 (ImageNet stem, bottleneck [3,4,6,3], widths 64–512)"
            )
        })?;
    Ok(ModelConfig {
        arch,
        in_channels,
        embed_dim: fc2[0],
    })
}

/// What [`load`] found and built.
#[derive(Debug)]
pub struct Loaded {
    pub encoder: Encoder,
    pub model: ModelConfig,
    pub prefix: String,
    pub layout: String,
}

/// Reads a PyTorch or safetensors file and builds the encoder it holds
/// (every tensor of the encoder loaded, or an error listing what is
/// missing or left over; the head's and BatchNorm's tensors included).
pub fn load(path: &Path, prefix: Option<&str>, momentum: bool, device: &Device) -> Result<Loaded> {
    // The names first (they locate the encoder), then the tensors under the
    // chosen prefix only, from the one opened file.
    let file = WeightsFile::open(path)?;
    let (chosen, layout) = find_prefix(&file.names()?, prefix, momentum)
        .with_context(|| path.display().to_string())?;
    let all = file.read(|n| n.starts_with(chosen.as_str()))?;
    let sel =
        select_encoder(all, Some(&chosen), momentum).with_context(|| path.display().to_string())?;
    let model = infer_model(&sel.tensors).with_context(|| path.display().to_string())?;
    let encoder = torchvision::import(&model, &sel.tensors, device)
        .with_context(|| format!("{} (encoder under '{}')", path.display(), sel.prefix))?;
    Ok(Loaded {
        encoder,
        model,
        prefix: sel.prefix,
        layout,
    })
}
