//! negstudy's encoders under torchvision's parameter names, for moving
//! weights between negstudy and PyTorch (docs/DESIGN.md §7).
//!
//! | negstudy (burn module path)     | torchvision / MoCo v2                       |
//! |---|---|
//! | `stem`, `stem_bn`               | `conv1`, `bn1`                              |
//! | `blocks.{i}.convs.{k}`          | `layer{s}.{b}.conv{k+1}`                    |
//! | `blocks.{i}.bns.{k}`            | `layer{s}.{b}.bn{k+1}`                      |
//! | `blocks.{i}.shortcut.{0,1}`     | `layer{s}.{b}.downsample.{0,1}`             |
//! | `fc1`, `fc2`                    | `fc.0`, `fc.2` (MoCo v2's MLP head)         |
//! | `fc2` alone                     | `fc` (one linear layer)                     |
//!
//! where block `i` is block `b` of stage `s` (1-based, as torchvision
//! counts). BatchNorm's `gamma`/`beta` are `weight`/`bias` and Linear
//! weights are transposed (`[out, in]` in PyTorch), both by burn-store's
//! adapters. PyTorch's BatchNorm also holds `num_batches_tracked`, which
//! negstudy does not keep: an export writes 0 (PyTorch reads it only when a
//! BatchNorm has `momentum=None`), an import ignores it.

use super::{Encoder, Head, ResnetShape};
use anyhow::{bail, Context, Result};
use burn::prelude::*;
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter};
use std::collections::BTreeMap;

/// What the name map needs of a shape: stage and position in the stage
/// (both 0-based) of each block, in order, and whether the head's last
/// layer is `fc.2` (MLP) or `fc` (one layer).
struct Layout {
    blocks: Vec<(usize, usize)>,
    mlp: bool,
}

fn layout(shape: &ResnetShape) -> Layout {
    Layout {
        blocks: shape
            .blocks_per_stage()
            .iter()
            .enumerate()
            .flat_map(|(s, &n)| (0..n).map(move |b| (s, b)))
            .collect(),
        mlp: matches!(shape.head, Head::Mlp { .. }),
    }
}

/// The torchvision name of a burn parameter path of an [`Encoder`].
fn to_torchvision(path: &str, layout: &Layout) -> Option<String> {
    let (module, param) = path.rsplit_once('.')?;
    let parts: Vec<&str> = module.split('.').collect();
    let name = match parts.as_slice() {
        ["stem"] => "conv1".to_string(),
        ["stem_bn"] => "bn1".to_string(),
        ["fc1"] => "fc.0".to_string(),
        ["fc2"] if layout.mlp => "fc.2".to_string(),
        ["fc2"] => "fc".to_string(),
        ["blocks", i, kind, k] => {
            let (s, b) = *layout.blocks.get(i.parse::<usize>().ok()?)?;
            let k: usize = k.parse().ok()?;
            let inner = match *kind {
                "convs" => format!("conv{}", k + 1),
                "bns" => format!("bn{}", k + 1),
                "shortcut" => format!("downsample.{k}"),
                _ => return None,
            };
            format!("layer{}.{b}.{inner}", s + 1)
        }
        _ => return None,
    };
    Some(format!("{name}.{param}"))
}

/// A tensor under a torchvision name: shape and row-major f32 values.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Every parameter and BatchNorm statistic of `enc` under torchvision names,
/// sorted by name.
pub fn export(enc: &Encoder, shape: &ResnetShape) -> Result<Vec<NamedTensor>> {
    let layout = layout(shape);
    let mut out = Vec::new();
    for t in enc.collect(None, Some(Box::new(BurnToPyTorchAdapter)), true) {
        let path = t.name.clone();
        let name = to_torchvision(&path, &layout)
            .with_context(|| format!("encoder parameter '{path}' has no torchvision name"))?;
        let shape = t.shape.to_vec();
        let bytes = t
            .into_bytes()
            .map_err(|e| anyhow::anyhow!("reading '{path}': {e:?}"))?;
        let values = crate::store::floats_from_le(&bytes, crate::store::Elem::F32, &path)?;
        out.push(NamedTensor {
            name,
            shape,
            values,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The names of the BatchNorm layers among `tensors` (those with a
/// `running_mean`), each of which PyTorch expects a `num_batches_tracked` for.
pub fn batchnorms(tensors: &[NamedTensor]) -> Vec<String> {
    tensors
        .iter()
        .filter_map(|t| t.name.strip_suffix(".running_mean").map(str::to_string))
        .collect()
}

/// Most names an error lists: a hostile file can hold millions.
const LISTED_NAMES: usize = 20;

/// `["a", "b", …] and N more` for an error message.
pub fn some_names<S: AsRef<str>>(names: &[S]) -> String {
    let shown: Vec<&str> = names.iter().take(LISTED_NAMES).map(AsRef::as_ref).collect();
    match names.len().saturating_sub(LISTED_NAMES) {
        0 => format!("{shown:?}"),
        more => format!("{shown:?} and {more} more"),
    }
}

/// A fresh encoder of `shape` holding `tensors` (torchvision names).
/// Every tensor of the encoder must be given with its shape, and nothing
/// else but `num_batches_tracked`: a partial or mismatched load is an error
/// that lists what was missing or left over.
pub fn import(shape: &ResnetShape, tensors: &[NamedTensor], device: &Device) -> Result<Encoder> {
    let layout = layout(shape);
    let mut enc = Encoder::new(shape, device);
    // torchvision name → burn path, from the encoder's own parameters.
    let paths: BTreeMap<String, String> = enc
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .into_iter()
        .filter_map(|t| Some((to_torchvision(&t.name, &layout)?, t.name)))
        .collect();
    let mut pack = Vec::new();
    let mut unexpected = Vec::new();
    for t in tensors {
        if t.name.ends_with(".num_batches_tracked") {
            continue;
        }
        let Some(path) = paths.get(&t.name) else {
            unexpected.push(t.name.clone());
            continue;
        };
        pack.push(burn::store::burn_pack::Tensor::new(
            path.clone(),
            burn::tensor::DType::F32,
            t.shape.clone(),
            None,
            burn::tensor::Bytes::from_elems(t.values.clone()),
        ));
    }
    let given: std::collections::BTreeSet<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let missing: Vec<&String> = paths
        .keys()
        .filter(|n| !given.contains(n.as_str()))
        .collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        bail!(
            "the weights do not fit the encoder ({}): missing {}; unexpected {}",
            shape.describe(),
            some_names(&missing),
            some_names(&unexpected)
        );
    }
    let result = enc.apply(pack, None, Some(Box::new(PyTorchToBurnAdapter)), true);
    if !result.errors.is_empty() {
        bail!("loading the weights: {:?}", result.errors);
    }
    Ok(enc)
}

/// Writes `tensors` (and a `num_batches_tracked` of 0 per BatchNorm) as a
/// safetensors file PyTorch loads with `safetensors.torch.load_file`;
/// `meta` goes into its header (`format = pt` is added, as Hugging Face
/// files carry).
pub fn save_safetensors(
    tensors: &[NamedTensor],
    mut meta: std::collections::HashMap<String, String>,
    path: &std::path::Path,
) -> Result<()> {
    use safetensors::tensor::{Dtype, TensorView};
    let err = |e| anyhow::anyhow!("{}: {e:?}", path.display());
    let counters: Vec<(String, Vec<u8>)> = batchnorms(tensors)
        .into_iter()
        .map(|bn| {
            (
                format!("{bn}.num_batches_tracked"),
                0i64.to_le_bytes().to_vec(),
            )
        })
        .collect();
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| crate::store::f32_bytes(&t.values))
        .collect();
    let mut views = Vec::new();
    for (t, b) in tensors.iter().zip(&bytes) {
        views.push((
            t.name.as_str(),
            TensorView::new(Dtype::F32, t.shape.clone(), b).map_err(err)?,
        ));
    }
    for (name, b) in &counters {
        views.push((
            name.as_str(),
            TensorView::new(Dtype::I64, vec![], b).map_err(err)?,
        ));
    }
    meta.insert("format".into(), "pt".into());
    crate::store::safetensors_io::serialize_to_file(views, meta, path)
}

/// Reads a safetensors state dict: the float tensors whose names pass
/// `keep`, as f32 (f16, bf16 and f64 converted); integer tensors (PyTorch's
/// `num_batches_tracked`) are skipped.
pub fn read_safetensors(
    path: &std::path::Path,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<NamedTensor>> {
    use crate::store::safetensors_io::{elem_of, map, parse};
    let mmap = map(path)?;
    let st = parse(&mmap).with_context(|| path.display().to_string())?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let elem = elem_of(view.dtype(), &name).with_context(|| path.display().to_string())?;
        if !elem.is_float() || !keep(&name) {
            continue;
        }
        let values = crate::store::floats_from_le(view.data(), elem, &name)
            .with_context(|| path.display().to_string())?;
        out.push(NamedTensor {
            name,
            shape: view.shape().to_vec(),
            values,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The metadata in a safetensors file's header (read without its tensors).
pub fn metadata(path: &std::path::Path) -> Result<std::collections::HashMap<String, String>> {
    crate::store::safetensors_io::header_metadata(path)
}

/// The header entry that marks a weights file `negstudy export` wrote (a
/// dump also names a negstudy version, but is not weights).
pub const EXPORT_MARK: (&str, &str) = ("negstudy_export", "torchvision");

/// Whether `path` is a safetensors weights file `negstudy export` wrote
/// (with [`EXPORT_MARK`] in its header).
pub fn exported_by_negstudy(path: &std::path::Path) -> bool {
    metadata(path)
        .is_ok_and(|meta| meta.get(EXPORT_MARK.0).map(String::as_str) == Some(EXPORT_MARK.1))
}
