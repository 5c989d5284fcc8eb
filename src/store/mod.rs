//! Embedding dumps (docs/DESIGN.md §3): the hand-off between a trained encoder —
//! ours or any PyTorch pipeline's — and the analyses.
//!
//! Formats, chosen by extension:
//! * `.safetensors` — the native format: tensors `z` f32 [N,d], optional `h`
//!   f32 [N,D], `label` i64 [N], optional `index` i64 [N]; string metadata
//!   `classes`/`wnids` (JSON lists), `encoder`, `source`, `epoch`, `dataset`,
//!   `negstudy_version`. Read memory-mapped.
//! * `.npz` — arrays `z`, `label`, optional `h`, `index`, and optional string
//!   arrays `classes`, `wnids` (as `np.savez` writes them).
//! * `.npy` — the file is `z`; `label.npy` (required), `h.npy` and
//!   `index.npy` are read from the same folder. Read memory-mapped.
//! * `.parquet` — a list/array column `z`, an integer column `label`,
//!   optional list column `h` and integer column `index`.
//!
//! Every load validates: matching lengths, finite values, unit-norm `z` rows
//! (or normalises them when asked), labels inside the class list.

mod numpy;
mod parquet;
pub(crate) mod safetensors_io;

use crate::atomic;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How far a row's L2 norm may stray from 1 before it counts as not normalised
/// (f16 storage alone costs ~1e-3 relative).
pub const UNIT_NORM_TOLERANCE: f32 = 2e-3;

/// A row-major f32 matrix. Its fields are private so that `data.len() ==
/// rows × cols` always holds: the similarity GEMM reads it through raw
/// pointers on the strength of that.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Matrix {
    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The values, row-major (`rows × cols` of them).
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The values, mutable in place (the shape cannot change).
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Matrix> {
        if rows.checked_mul(cols) != Some(data.len()) {
            bail!("{} values do not fill a {rows}×{cols} matrix", data.len());
        }
        Ok(Matrix { rows, cols, data })
    }

    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Rows `idx` in that order.
    pub fn select_rows(&self, idx: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(idx.len() * self.cols);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Matrix {
            rows: idx.len(),
            cols: self.cols,
            data,
        }
    }
}

/// String metadata carried with a dump.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DumpMeta {
    /// Class names, one per label value.
    pub classes: Vec<String>,
    /// WordNet ids, one per class, when known.
    pub wnids: Option<Vec<String>>,
    /// `query` or `momentum`.
    pub encoder: Option<String>,
    pub source: Option<String>,
    pub epoch: Option<String>,
    pub dataset: Option<String>,
    pub negstudy_version: Option<String>,
}

impl DumpMeta {
    /// The single-string fields with their file keys.
    pub fn text_fields(&self) -> [(&'static str, &Option<String>); 5] {
        [
            ("encoder", &self.encoder),
            ("source", &self.source),
            ("epoch", &self.epoch),
            ("dataset", &self.dataset),
            ("negstudy_version", &self.negstudy_version),
        ]
    }

    pub(crate) fn text_fields_mut(&mut self) -> [(&'static str, &mut Option<String>); 5] {
        [
            ("encoder", &mut self.encoder),
            ("source", &mut self.source),
            ("epoch", &mut self.epoch),
            ("dataset", &mut self.dataset),
            ("negstudy_version", &mut self.negstudy_version),
        ]
    }

    /// The metadata a file written now carries: `negstudy_version` names the
    /// negstudy that wrote the file (it marks the file as ours, so a later
    /// write may replace it), whatever the source file said.
    pub(crate) fn for_writing(&self) -> DumpMeta {
        DumpMeta {
            negstudy_version: Some(crate::VERSION.into()),
            ..self.clone()
        }
    }

    /// The string map safetensors headers and parquet key-value metadata
    /// carry: `classes` and `wnids` as JSON lists, the rest verbatim.
    pub(crate) fn to_string_map(&self) -> Result<Vec<(String, String)>> {
        let mut kv = vec![("classes".to_string(), serde_json::to_string(&self.classes)?)];
        if let Some(w) = &self.wnids {
            kv.push(("wnids".to_string(), serde_json::to_string(w)?));
        }
        for (k, v) in self.text_fields() {
            if let Some(v) = v {
                kv.push((k.to_string(), v.clone()));
            }
        }
        Ok(kv)
    }

    /// The inverse of [`DumpMeta::to_string_map`].
    pub(crate) fn from_string_map(get: impl Fn(&str) -> Option<String>) -> Result<DumpMeta> {
        let list = |k: &str| -> Result<Option<Vec<String>>> {
            get(k)
                .map(|s| {
                    serde_json::from_str(&s)
                        .with_context(|| format!("metadata '{k}' is not a JSON list of strings"))
                })
                .transpose()
        };
        let mut meta = DumpMeta {
            classes: list("classes")?.unwrap_or_default(),
            wnids: list("wnids")?,
            ..DumpMeta::default()
        };
        for (k, slot) in meta.text_fields_mut() {
            *slot = get(k);
        }
        Ok(meta)
    }
}

/// An embedding dump in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Dump {
    /// Contrastive-space embeddings, L2-normalised rows.
    pub z: Matrix,
    /// Backbone representations, optional.
    pub h: Option<Matrix>,
    pub label: Vec<i64>,
    /// Dataset index of each row, optional.
    pub index: Option<Vec<i64>>,
    pub meta: DumpMeta,
}

/// Options for reading a dump.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// L2-normalise `z` rows instead of rejecting rows that are not unit-norm.
    pub normalize: bool,
}

/// The tensors as read from a file, before validation.
pub(crate) struct RawDump {
    pub z: Option<Matrix>,
    pub h: Option<Matrix>,
    pub label: Option<Vec<i64>>,
    pub index: Option<Vec<i64>>,
    pub meta: DumpMeta,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Safetensors,
    Npz,
    Npy,
    Parquet,
}

fn format_of(path: &Path) -> Result<Format> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    Ok(match ext.as_str() {
        "safetensors" => Format::Safetensors,
        "npz" => Format::Npz,
        "npy" => Format::Npy,
        "parquet" => Format::Parquet,
        _ => bail!(
            "{}: unknown dump format '.{ext}' (expected .safetensors, .npz, .npy or .parquet)",
            path.display()
        ),
    })
}

/// Most classes a dump without a class list may imply (its labels name
/// classes 0..=max label): ImageNet-21k has 21 841.
pub const MAX_UNLISTED_CLASSES: i64 = 100_000;

/// Whether `path` is a dump that negstudy wrote (its metadata carries
/// `negstudy_version`), so that a new dump may replace it.
pub fn written_by_negstudy(path: &Path) -> bool {
    let raw = match format_of(path) {
        Ok(Format::Safetensors) => safetensors_io::read(path),
        Ok(Format::Npz) => numpy::read_npz(path),
        Ok(Format::Parquet) => parquet::read(path),
        Ok(Format::Npy) | Err(_) => return false,
    };
    // A dump holds `z` and `label`; negstudy's other safetensors files
    // (an export's weights, a checkpoint's queue) carry its version too and
    // must not pass for one.
    raw.is_ok_and(|r| r.meta.negstudy_version.is_some() && r.z.is_some() && r.label.is_some())
}

impl Dump {
    /// Reads and validates a dump of any supported format.
    pub fn load(path: &Path, opts: LoadOptions) -> Result<Dump> {
        let raw = match format_of(path)? {
            Format::Safetensors => safetensors_io::read(path),
            Format::Npz => numpy::read_npz(path),
            Format::Npy => numpy::read_npy_folder(path),
            Format::Parquet => parquet::read(path),
        }
        .with_context(|| format!("reading dump {}", path.display()))?;
        Dump::from_raw(raw, opts).with_context(|| format!("invalid dump {}", path.display()))
    }

    /// Writes the dump (format by extension) to a temporary file and renames
    /// it into place.
    pub fn save(&self, path: &Path) -> Result<()> {
        let format = format_of(path)?;
        atomic::write_with(
            path,
            atomic::Kind::Dump(written_by_negstudy),
            |tmp| match format {
                Format::Safetensors => safetensors_io::write(self, tmp),
                Format::Npz => numpy::write_npz(self, tmp),
                Format::Npy => bail!("writing .npy folders is not supported; use .npz"),
                Format::Parquet => parquet::write(self, tmp),
            },
        )
        .with_context(|| format!("writing dump {}", path.display()))
    }

    /// Checks a freshly read dump and fills derived metadata.
    fn from_raw(raw: RawDump, opts: LoadOptions) -> Result<Dump> {
        let mut z = raw
            .z
            .context("missing tensor 'z' (the contrastive-space embeddings)")?;
        let label = raw
            .label
            .context("missing tensor 'label' (one class index per row)")?;
        let n = z.rows;
        if n == 0 || z.cols == 0 {
            bail!("the dump is empty: z has shape [{}, {}]", z.rows, z.cols);
        }
        if label.len() != n {
            bail!(
                "length mismatch: z has {n} rows but label has {} entries",
                label.len()
            );
        }
        if let Some(h) = &raw.h {
            if h.rows != n {
                bail!("length mismatch: z has {n} rows but h has {}", h.rows);
            }
            check_finite(h, "h")?;
        }
        if let Some(idx) = &raw.index {
            if idx.len() != n {
                bail!(
                    "length mismatch: z has {n} rows but index has {} entries",
                    idx.len()
                );
            }
        }
        check_finite(&z, "z")?;
        normalise_rows(&mut z, opts.normalize)?;

        let mut meta = raw.meta;
        if let Some((row, &l)) = label.iter().enumerate().find(|(_, &l)| l < 0) {
            bail!("label {l} at row {row} is negative");
        }
        let max_label = label.iter().copied().max().unwrap_or(0);
        if meta.classes.is_empty() && max_label >= MAX_UNLISTED_CLASSES {
            let row = label.iter().position(|&l| l == max_label).unwrap_or(0);
            bail!(
                "label {max_label} at row {row}: without a class list the classes are 0..=max label, and negstudy allows at most {MAX_UNLISTED_CLASSES} of them; give the dump a `classes` list"
            );
        }
        if meta.classes.is_empty() {
            // No class list: name classes by their index.
            meta.classes = (0..=max_label).map(|c| c.to_string()).collect();
        } else if let Some((row, &l)) = label
            .iter()
            .enumerate()
            .find(|(_, &l)| l as usize >= meta.classes.len())
        {
            bail!(
                "label {l} at row {row} is outside the class list ({} classes: 0..{})",
                meta.classes.len(),
                meta.classes.len() - 1
            );
        }
        if let Some(w) = &meta.wnids {
            if w.len() != meta.classes.len() {
                bail!(
                    "metadata lists {} wnids for {} classes",
                    w.len(),
                    meta.classes.len()
                );
            }
        }
        Ok(Dump {
            z,
            h: raw.h,
            label,
            index: raw.index,
            meta,
        })
    }

    pub fn len(&self) -> usize {
        self.z.rows
    }

    pub fn is_empty(&self) -> bool {
        self.z.rows == 0
    }

    pub fn dim(&self) -> usize {
        self.z.cols
    }

    pub fn num_classes(&self) -> usize {
        self.meta.classes.len()
    }
}

fn check_finite(m: &Matrix, name: &str) -> Result<()> {
    if let Some(pos) = m.data.iter().position(|v| !v.is_finite()) {
        bail!(
            "non-finite value {} in '{name}' at row {}, column {}",
            m.data[pos],
            pos / m.cols,
            pos % m.cols
        );
    }
    Ok(())
}

/// Rejects rows whose norm is not 1 — or rescales them when `normalize`.
fn normalise_rows(z: &mut Matrix, normalize: bool) -> Result<()> {
    let cols = z.cols;
    for (i, row) in z.data.chunks_mut(cols).enumerate() {
        let norm = row
            .iter()
            .map(|v| (*v as f64) * (*v as f64))
            .sum::<f64>()
            .sqrt() as f32;
        if (norm - 1.0).abs() <= UNIT_NORM_TOLERANCE {
            continue;
        }
        if !normalize {
            bail!(
                "row {i} of 'z' has L2 norm {norm} (expected 1 ± {UNIT_NORM_TOLERANCE}); \
                 pass --normalize to L2-normalise the rows"
            );
        }
        if norm == 0.0 {
            bail!("row {i} of 'z' is all zeros and cannot be normalised");
        }
        row.iter_mut().for_each(|v| *v /= norm);
    }
    Ok(())
}

/// Element types a dump's tensors may be stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Elem {
    F16,
    BF16,
    F32,
    F64,
    I8,
    U8,
    I16,
    I32,
    I64,
    U16,
    U32,
    U64,
}

impl Elem {
    pub(crate) fn size(self) -> usize {
        match self {
            Elem::I8 | Elem::U8 => 1,
            Elem::F16 | Elem::BF16 | Elem::I16 | Elem::U16 => 2,
            Elem::F32 | Elem::I32 | Elem::U32 => 4,
            Elem::F64 | Elem::I64 | Elem::U64 => 8,
        }
    }

    pub(crate) fn is_float(self) -> bool {
        matches!(self, Elem::F16 | Elem::BF16 | Elem::F32 | Elem::F64)
    }
}

fn f16_to_f32(bits: u16) -> f32 {
    let sign = ((bits >> 15) as u32) << 31;
    let exp = ((bits >> 10) & 0x1f) as u32;
    let mant = (bits & 0x3ff) as u32;
    let magnitude = match exp {
        0 => (mant as f32) * 2f32.powi(-24), // subnormal (or zero)
        0x1f => return f32::from_bits(sign | 0x7f80_0000 | (mant << 13)),
        _ => return f32::from_bits(sign | ((exp + 112) << 23) | (mant << 13)),
    };
    if sign != 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// Little-endian bytes of f32 values (safetensors' layout): the one writer
/// of raw tensor bytes, beside the readers below.
pub(crate) fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Little-endian bytes of i64 values.
pub(crate) fn i64_bytes(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Little-endian element bytes → f32 (floats only).
pub(crate) fn floats_from_le(bytes: &[u8], elem: Elem, what: &str) -> Result<Vec<f32>> {
    if !elem.is_float() {
        bail!("'{what}' has integer type {elem:?}; expected a floating-point tensor");
    }
    let sz = elem.size();
    if !bytes.len().is_multiple_of(sz) {
        bail!(
            "'{what}' holds {} bytes, not a whole number of {elem:?} values",
            bytes.len()
        );
    }
    Ok(bytes
        .chunks_exact(sz)
        .map(|c| match elem {
            Elem::F32 => f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
            Elem::F64 => {
                f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
            }
            Elem::F16 => f16_to_f32(u16::from_le_bytes([c[0], c[1]])),
            _ => f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16), // bf16
        })
        .collect())
}

/// Little-endian element bytes → i64 (integers only).
pub(crate) fn ints_from_le(bytes: &[u8], elem: Elem, what: &str) -> Result<Vec<i64>> {
    if elem.is_float() {
        bail!("'{what}' has floating-point type {elem:?}; expected integers");
    }
    let sz = elem.size();
    if !bytes.len().is_multiple_of(sz) {
        bail!(
            "'{what}' holds {} bytes, not a whole number of {elem:?} values",
            bytes.len()
        );
    }
    let mut out = Vec::with_capacity(bytes.len() / sz);
    for c in bytes.chunks_exact(sz) {
        let mut b8 = [0u8; 8];
        b8[..sz].copy_from_slice(c);
        let v = match elem {
            Elem::I8 => c[0] as i8 as i64,
            Elem::U8 => c[0] as i64,
            Elem::I16 => i16::from_le_bytes([c[0], c[1]]) as i64,
            Elem::U16 => u16::from_le_bytes([c[0], c[1]]) as i64,
            Elem::I32 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
            Elem::U32 => u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
            Elem::I64 => i64::from_le_bytes(b8),
            _ => {
                let v = u64::from_le_bytes(b8);
                i64::try_from(v)
                    .with_context(|| format!("'{what}' value {v} does not fit in i64"))?
            }
        };
        out.push(v);
    }
    Ok(out)
}

/// A human summary of a dump for `negstudy dump info`.
pub fn describe(d: &Dump, path: &Path, stored_dtype: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "file        {}", path.display());
    let _ = writeln!(s, "rows (N)    {}", d.len());
    let _ = writeln!(s, "z dim (d)   {}  (stored as {stored_dtype})", d.dim());
    match &d.h {
        Some(h) => {
            let _ = writeln!(s, "h dim (D)   {}", h.cols);
        }
        None => {
            let _ = writeln!(s, "h           absent");
        }
    }
    let _ = writeln!(
        s,
        "index       {}",
        if d.index.is_some() {
            "present"
        } else {
            "absent"
        }
    );
    let mut counts = vec![0usize; d.num_classes()];
    for &l in &d.label {
        counts[l as usize] += 1;
    }
    let present = counts.iter().filter(|&&c| c > 0).count();
    let (min_c, max_c) = (
        counts.iter().copied().filter(|&c| c > 0).min().unwrap_or(0),
        counts.iter().copied().max().unwrap_or(0),
    );
    let _ = writeln!(
        s,
        "classes     {} listed, {present} present; rows per present class min {min_c}, max {max_c}, mean {:.1}",
        d.num_classes(),
        d.len() as f64 / present.max(1) as f64
    );
    let mut top: Vec<(usize, usize)> = counts
        .iter()
        .copied()
        .enumerate()
        .filter(|x| x.1 > 0)
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let shown: Vec<String> = top
        .iter()
        .take(5)
        .map(|(c, n)| format!("{} ({n})", d.meta.classes[*c]))
        .collect();
    let _ = writeln!(s, "largest     {}", shown.join(", "));
    let norms: Vec<f32> = (0..d.len())
        .map(|i| d.z.row(i).iter().map(|v| v * v).sum::<f32>().sqrt())
        .collect();
    let (lo, hi) = norms
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let _ = writeln!(s, "z row norms {lo:.6} .. {hi:.6}");
    let _ = writeln!(
        s,
        "wnids       {}",
        if d.meta.wnids.is_some() {
            "present"
        } else {
            "absent"
        }
    );
    for (k, v) in d.meta.text_fields() {
        let _ = writeln!(
            s,
            "{:<11} {}",
            k.trim_start_matches("negstudy_"),
            v.as_deref().unwrap_or("-")
        );
    }
    s
}

/// The element type `z` is stored in, read from the file's header only.
pub fn stored_z_dtype(path: &Path) -> Result<String> {
    match format_of(path)? {
        Format::Safetensors => safetensors_io::z_dtype(path)
            .with_context(|| format!("reading dump {}", path.display())),
        Format::Npz | Format::Npy | Format::Parquet => Ok("f32 after conversion".to_string()),
    }
}
