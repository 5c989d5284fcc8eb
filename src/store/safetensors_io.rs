//! `.safetensors` dumps, read through a memory map.

use super::{
    f32_bytes, floats_from_le, i64_bytes, ints_from_le, Dump, DumpMeta, Elem, Matrix, RawDump,
};
use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;

pub(crate) fn elem_of(dtype: Dtype, name: &str) -> Result<Elem> {
    Ok(match dtype {
        Dtype::F16 => Elem::F16,
        Dtype::BF16 => Elem::BF16,
        Dtype::F32 => Elem::F32,
        Dtype::F64 => Elem::F64,
        Dtype::I8 => Elem::I8,
        Dtype::U8 => Elem::U8,
        Dtype::I16 => Elem::I16,
        Dtype::U16 => Elem::U16,
        Dtype::I32 => Elem::I32,
        Dtype::U32 => Elem::U32,
        Dtype::I64 => Elem::I64,
        Dtype::U64 => Elem::U64,
        other => bail!("tensor '{name}' has unsupported dtype {other:?}"),
    })
}

pub(crate) fn map(path: &Path) -> Result<memmap2::Mmap> {
    let file = crate::input_file::open(path)?;
    // SAFETY: the map is read-only and lives only while we copy out of it; a
    // concurrent writer could change bytes under us, which validation then
    // catches as a corrupt file rather than undefined behaviour in safe code
    // that holds no references past this function.
    unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("memory-mapping {}", path.display()))
}

pub(crate) fn parse(bytes: &[u8]) -> Result<SafeTensors<'_>> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| anyhow::anyhow!("not a valid safetensors file (truncated or corrupt?): {e:?}"))
}

fn matrix(view: &TensorView, name: &str) -> Result<Matrix> {
    let shape = view.shape();
    if shape.len() != 2 {
        bail!("tensor '{name}' has shape {shape:?}; expected 2 dimensions [N, d]");
    }
    let data = floats_from_le(view.data(), elem_of(view.dtype(), name)?, name)?;
    Matrix::new(shape[0], shape[1], data)
}

fn vector(view: &TensorView, name: &str) -> Result<Vec<i64>> {
    let shape = view.shape();
    if shape.len() != 1 {
        bail!("tensor '{name}' has shape {shape:?}; expected 1 dimension [N]");
    }
    ints_from_le(view.data(), elem_of(view.dtype(), name)?, name)
}

pub(super) fn read(path: &Path) -> Result<RawDump> {
    let mmap = map(path)?;
    let st = parse(&mmap)?;
    let (_, header) =
        SafeTensors::read_metadata(&mmap).map_err(|e| anyhow::anyhow!("bad header: {e:?}"))?;
    let meta_map = header.metadata().clone().unwrap_or_default();
    let get = |name: &str| st.tensor(name).ok();
    let meta = DumpMeta::from_string_map(|k| meta_map.get(k).cloned())?;
    Ok(RawDump {
        z: get("z").map(|v| matrix(&v, "z")).transpose()?,
        h: get("h").map(|v| matrix(&v, "h")).transpose()?,
        label: get("label").map(|v| vector(&v, "label")).transpose()?,
        index: get("index").map(|v| vector(&v, "index")).transpose()?,
        meta,
    })
}

pub(super) fn z_dtype(path: &Path) -> Result<String> {
    let mmap = map(path)?;
    let st = parse(&mmap)?;
    let z = st
        .tensor("z")
        .map_err(|_| anyhow::anyhow!("{}: missing tensor 'z'", path.display()))?;
    Ok(format!("{:?}", z.dtype()).to_lowercase())
}

pub(super) fn write(d: &Dump, path: &Path) -> Result<()> {
    let z = f32_bytes(&d.z.data);
    let label = i64_bytes(&d.label);
    let h = d.h.as_ref().map(|h| f32_bytes(&h.data));
    let index = d.index.as_ref().map(|i| i64_bytes(i));
    let err = |e| anyhow::anyhow!("building tensor: {e:?}");
    let mut tensors: Vec<(&str, TensorView)> = vec![
        (
            "z",
            TensorView::new(Dtype::F32, vec![d.z.rows, d.z.cols], &z).map_err(err)?,
        ),
        (
            "label",
            TensorView::new(Dtype::I64, vec![d.label.len()], &label).map_err(err)?,
        ),
    ];
    if let (Some(hm), Some(hb)) = (&d.h, &h) {
        tensors.push((
            "h",
            TensorView::new(Dtype::F32, vec![hm.rows, hm.cols], hb).map_err(err)?,
        ));
    }
    if let (Some(iv), Some(ib)) = (&d.index, &index) {
        tensors.push((
            "index",
            TensorView::new(Dtype::I64, vec![iv.len()], ib).map_err(err)?,
        ));
    }
    let meta: HashMap<String, String> = d.meta.for_writing().to_string_map()?.into_iter().collect();
    serialize_to_file(tensors, meta, path)
}

/// A safetensors file written at `path` (the caller's temporary, from
/// `atomic`). Serialised in memory and written here rather than with
/// `safetensors::serialize_to_file`, which goes through a hidden temporary
/// of its own (`.tmpXXXXXX`, mode 0600) that an interrupted process leaves
/// behind at full size; the file gets the user's umask like any other.
pub(crate) fn serialize_to_file(
    tensors: Vec<(&str, TensorView)>,
    meta: HashMap<String, String>,
    path: &Path,
) -> Result<()> {
    let bytes = safetensors::serialize(tensors, Some(meta))
        .map_err(|e| anyhow::anyhow!("{}: {e:?}", path.display()))?;
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    sort_header(path).with_context(|| format!("rewriting the header of {}", path.display()))
}

/// The JSON header of a safetensors file (its 8-byte length, then that many
/// bytes), read without the tensor data; a length beyond the file is an error.
fn read_header(f: &mut std::fs::File) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)?;
    let n = u64::from_le_bytes(len);
    let size = f.metadata()?.len();
    if n > size.saturating_sub(8) {
        bail!("header length {n} exceeds the file ({size} bytes)");
    }
    let mut header = vec![0u8; usize::try_from(n)?];
    f.read_exact(&mut header)?;
    Ok(header)
}

/// The `__metadata__` of a safetensors file, from its header alone.
pub(crate) fn header_metadata(path: &Path) -> Result<HashMap<String, String>> {
    let mut f = crate::input_file::open(path)?;
    let header = read_header(&mut f).with_context(|| path.display().to_string())?;
    let value: serde_json::Value = serde_json::from_slice(&header)
        .with_context(|| format!("{}: header is not JSON", path.display()))?;
    Ok(value
        .get("__metadata__")
        .and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default())
}

/// Rewrites a safetensors file's JSON header with its keys sorted, in place.
/// The crate writes the metadata map in `HashMap` order, which differs from
/// process to process, so the same dump had a different sha256 each time
/// (and so did the manifests that record it). The sorted header has the
/// same members, hence the same length; the tensor data does not move.
fn sort_header(path: &Path) -> Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut header = read_header(&mut f)?;
    let n = header.len();
    // serde_json's maps are sorted (BTreeMap), recursively.
    let value: serde_json::Value = serde_json::from_slice(&header)?;
    let sorted = serde_json::to_vec(&value)?;
    if sorted.len() > n {
        anyhow::bail!(
            "sorted header is longer than the original ({} > {n} bytes)",
            sorted.len()
        );
    }
    header[..sorted.len()].copy_from_slice(&sorted);
    header[sorted.len()..].fill(b' ');
    f.seek(SeekFrom::Start(8))?;
    f.write_all(&header)?;
    Ok(())
}
