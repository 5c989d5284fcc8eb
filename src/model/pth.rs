//! Writing a state dict as `torch.save` does (PyTorch's zip serialisation,
//! the format since PyTorch 1.6), so `torch.load(path, weights_only=True)`
//! returns an `OrderedDict` of tensors a model loads with `strict=True`.
//!
//! No crate writes this format without libtorch, so its few parts are
//! written here:
//!
//! * `archive/data.pkl` — a pickle (protocol 2) of
//!   `OrderedDict([(name, torch._utils._rebuild_tensor_v2(storage, 0,
//!   size, stride, False, OrderedDict())), …])`, each storage a persistent
//!   id `('storage', torch.FloatStorage | torch.LongStorage, key, 'cpu',
//!   numel)` — only globals `weights_only` loading allows;
//! * `archive/data/<key>` — each storage's bytes, little-endian, stored
//!   (not compressed) and 64-byte aligned as torch aligns them;
//! * `archive/version` (`3`) and `archive/byteorder` (`little`);
//! * `archive/negstudy_export.json` — negstudy's metadata (torch ignores
//!   records it does not ask for); its presence marks the file as ours.
//!
//! Tested by reading files back with burn-store's PyTorch reader (an
//! independent implementation of the reading side) and, by hand, with
//! PyTorch (docs/pytorch.md, "Taking an encoder to PyTorch").

use super::torchvision::{batchnorms, NamedTensor};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// The zip record that marks a `.pth` as written by `negstudy export`.
pub const MARK_RECORD: &str = "archive/negstudy_export.json";

/// One tensor's storage: its pickle class, element size and little-endian
/// bytes.
struct Storage<'a> {
    name: &'a str,
    class: &'static str,
    elem_bytes: usize,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// Pickle opcodes used (protocol 2).
mod op {
    pub const PROTO: u8 = 0x80;
    pub const GLOBAL: u8 = b'c';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const REDUCE: u8 = b'R';
    pub const MARK: u8 = b'(';
    pub const TUPLE: u8 = b't';
    pub const BINUNICODE: u8 = b'X';
    pub const BININT: u8 = b'J';
    pub const BINPERSID: u8 = b'Q';
    pub const NEWFALSE: u8 = 0x89;
    pub const SETITEMS: u8 = b'u';
    pub const STOP: u8 = b'.';
}

/// A pickle being written.
struct Pickle(Vec<u8>);

impl Pickle {
    fn global(&mut self, module: &str, name: &str) {
        self.0.push(op::GLOBAL);
        self.0
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }

    fn text(&mut self, s: &str) {
        self.0.push(op::BINUNICODE);
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn int(&mut self, v: usize) -> Result<()> {
        let v = i32::try_from(v).context("a tensor dimension beyond 2³¹")?;
        self.0.push(op::BININT);
        self.0.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn int_tuple(&mut self, values: &[usize]) -> Result<()> {
        if values.is_empty() {
            self.0.push(op::EMPTY_TUPLE);
            return Ok(());
        }
        self.0.push(op::MARK);
        for &v in values {
            self.int(v)?;
        }
        self.0.push(op::TUPLE);
        Ok(())
    }

    /// `collections.OrderedDict()`.
    fn empty_ordered_dict(&mut self) {
        self.global("collections", "OrderedDict");
        self.0.push(op::EMPTY_TUPLE);
        self.0.push(op::REDUCE);
    }

    /// `_rebuild_tensor_v2(storage key, 0, shape, contiguous stride, False,
    /// OrderedDict())`.
    fn tensor(&mut self, key: &str, s: &Storage) -> Result<()> {
        let numel: usize = s.shape.iter().product();
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.0.push(op::MARK);
        // The storage, as a persistent id the loader resolves to a record.
        self.0.push(op::MARK);
        self.text("storage");
        self.global("torch", s.class);
        self.text(key);
        self.text("cpu");
        self.int(numel)?;
        self.0.push(op::TUPLE);
        self.0.push(op::BINPERSID);
        self.int(0)?;
        self.int_tuple(&s.shape)?;
        let mut stride = vec![1usize; s.shape.len()];
        for i in (0..s.shape.len().saturating_sub(1)).rev() {
            stride[i] = stride[i + 1] * s.shape[i + 1];
        }
        self.int_tuple(&stride)?;
        self.0.push(op::NEWFALSE);
        self.empty_ordered_dict();
        self.0.push(op::TUPLE);
        self.0.push(op::REDUCE);
        Ok(())
    }
}

/// The pickle of the state dict whose storages are `storages` (keys 0, 1, …).
fn data_pkl(storages: &[Storage]) -> Result<Vec<u8>> {
    let mut p = Pickle(vec![op::PROTO, 2]);
    p.empty_ordered_dict();
    p.0.push(op::MARK);
    for (key, s) in storages.iter().enumerate() {
        p.text(s.name);
        p.tensor(&key.to_string(), s)?;
    }
    p.0.push(op::SETITEMS);
    p.0.push(op::STOP);
    Ok(p.0)
}

/// Writes `tensors` (and a `num_batches_tracked` of 0 per BatchNorm, as
/// PyTorch's state dicts hold) as a `torch.save` file; `meta` goes into
/// [`MARK_RECORD`].
pub fn save_pth(tensors: &[NamedTensor], meta: HashMap<String, String>, path: &Path) -> Result<()> {
    let counters: Vec<String> = batchnorms(tensors)
        .into_iter()
        .map(|bn| format!("{bn}.num_batches_tracked"))
        .collect();
    let mut storages: Vec<Storage> = tensors
        .iter()
        .map(|t| Storage {
            name: &t.name,
            class: "FloatStorage",
            elem_bytes: 4,
            shape: t.shape.clone(),
            bytes: crate::store::f32_bytes(&t.values),
        })
        .collect();
    storages.extend(counters.iter().map(|name| Storage {
        name,
        class: "LongStorage",
        elem_bytes: 8,
        shape: vec![],
        bytes: 0i64.to_le_bytes().to_vec(),
    }));
    storages.sort_by(|a, b| a.name.cmp(b.name));
    for s in &storages {
        if s.bytes.len() != s.shape.iter().product::<usize>() * s.elem_bytes {
            bail!(
                "tensor '{}': {} bytes for shape {:?}",
                s.name,
                s.bytes.len(),
                s.shape
            );
        }
    }
    let err = |e: zip::result::ZipError| anyhow::anyhow!("{}: {e}", path.display());
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true)
        .with_alignment(64);
    let record = |zip: &mut zip::ZipWriter<_>, name: &str, bytes: &[u8]| -> Result<()> {
        zip.start_file(name, stored).map_err(err)?;
        zip.write_all(bytes)
            .with_context(|| format!("writing {}", path.display()))
    };
    let entries = |zip: &mut zip::ZipWriter<_>| -> Result<()> {
        record(zip, "archive/data.pkl", &data_pkl(&storages)?)?;
        record(zip, "archive/byteorder", b"little")?;
        for (key, s) in storages.iter().enumerate() {
            record(zip, &format!("archive/data/{key}"), &s.bytes)?;
        }
        record(zip, "archive/version", b"3\n")?;
        record(
            zip,
            MARK_RECORD,
            serde_json::to_string_pretty(&meta)?.as_bytes(),
        )
    };
    if let Err(e) = entries(&mut zip) {
        // Dropping a `ZipWriter` finalises the archive: after a failed
        // write (a full disk) that writes again and prints its own error to
        // stderr. The temporary is abandoned anyway; its handle closes at exit.
        std::mem::forget(zip);
        return Err(e);
    }
    let mut out = zip.finish().map_err(err)?;
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Whether `path` is a zip whose [`MARK_RECORD`] is negstudy's: a JSON
/// object (at most 64 KiB) with the export mark and a `negstudy_version`.
/// An entry of that name alone is not enough: any zip can have one.
pub fn exported_by_negstudy(path: &Path) -> bool {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(mut zip) = zip::ZipArchive::new(file) else {
        return false;
    };
    let Ok(entry) = zip.by_name(MARK_RECORD) else {
        return false;
    };
    let mut text = Vec::new();
    if entry.take(64 << 10).read_to_end(&mut text).is_err() {
        return false;
    }
    let (key, value) = super::torchvision::EXPORT_MARK;
    serde_json::from_slice::<HashMap<String, String>>(&text).is_ok_and(|meta| {
        meta.get(key).map(String::as_str) == Some(value) && meta.contains_key("negstudy_version")
    })
}
